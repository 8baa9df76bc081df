"""kmemsim scripts: a text file, one operation per line.

Operations (``#`` starts a comment, blank lines are ignored)::

    alloc ID ORDER GFP [cpu=N] [node=N] [task=NAME]
                           allocate 2^ORDER pages on CPU N (default 0) from node N (default: the
                           CPU's) as task NAME (default: an ordinary process); prints
                           "ID pfn=P order=O zone=Z migratetype=M" or "ID failed".
                           GFP: GFP_KERNEL, GFP_KERNEL|__GFP_COMP, 0x201200 ...
    free ID [cpu=N] [after=N]
                           free what alloc ID got (prints nothing); after=N: another task frees
                           it N jiffies from now
    drain [cpu=N]          give per-CPU pages back to the buddy lists (all CPUs by default)
    sysctl NAME=VALUE      write a vm sysctl (vm.min_free_kbytes=2048 ...)
    show FILE              print a /proc file: buddyinfo, pagetypeinfo, ..., or sysctl
    check                  run the validators (prints nothing when all hold)
    task NAME [memalloc] [oom_score_adj=N]
                           create a task (it will own anonymous memory); memalloc: PF_MEMALLOC
    file NAME / tmpfs NAME create a file (page cache) / a tmpfs file (swap-backed page cache)
    fault TASK N [cpu=N]   N anonymous write faults of TASK
    read FILE N [cpu=N] [task=NAME]   N new pages of FILE read into the page cache (clean)
    write FILE N [cpu=N] [task=NAME]  N new pages of FILE written (dirty)
    touch NAME N [cpu=N]   mark the N oldest pages of a task or file accessed
    munmap TASK N [cpu=N]  unmap the N newest pages of TASK
    truncate FILE [cpu=N]  drop every page of FILE from the page cache
    kill TASK [cpu=N]      the task exits and its memory is released
    tick N                 advance simulated time by N jiffies
    fault, read and write print "NAME: K of N pages" when an allocation failed after K.

  The slab allocator (docs/slub.md):

    kmem_cache_create NAME size=N [align=N] [flags=SLAB_HWCACHE_ALIGN|...]
                           create a cache; prints "NAME: size=S objperslab=O pagesperslab=P",
                           or "NAME: alias of CACHE" when 3.13 merges it into an existing cache
    kmem_cache_alloc ID CACHE GFP [cpu=N] [node=N]
    kmalloc ID SIZE GFP [cpu=N] [node=N]
                           an object; prints "ID addr=0xffff8800... cache=C size=S pfn=P"
                           (the kernel virtual address, the cache, the size asked for, the
                           slab's page frame), "ID addr=ZERO_SIZE_PTR ..." for kmalloc 0, or
                           "ID failed"
    kfree ID [cpu=N] / kmem_cache_free ID [cpu=N]
                           free an object (prints nothing)
    kmem_cache_shrink CACHE / kmem_cache_destroy CACHE

The whole script is parsed before anything runs, so a malformed line changes nothing; an
operation that fails at run time (a double free) stops the script with its line number and
leaves the state as it was before that operation.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterator

from kmemsim.errors import KmemsimError
from kmemsim.mm.gfp import parse_gfp
from kmemsim.mm.mmzone import MAX_ORDER

__all__ = ["Op", "parse_script", "run_script", "OPERATIONS"]

OPERATIONS = {
    "alloc": "alloc ID ORDER GFP [cpu=N] [node=N] [task=NAME]",
    "free": "free ID [cpu=N] [after=N]",
    "drain": "drain [cpu=N]",
    "sysctl": "sysctl NAME=VALUE",
    "show": "show FILE",
    "check": "check",
    "task": "task NAME [memalloc] [oom_score_adj=N]",
    "file": "file NAME",
    "tmpfs": "tmpfs NAME",
    "fault": "fault TASK N [cpu=N]",
    "read": "read FILE N [cpu=N] [task=NAME]",
    "write": "write FILE N [cpu=N] [task=NAME]",
    "touch": "touch NAME N [cpu=N]",
    "munmap": "munmap TASK N [cpu=N]",
    "truncate": "truncate FILE [cpu=N]",
    "kill": "kill TASK [cpu=N]",
    "tick": "tick N",
    "kmem_cache_create": "kmem_cache_create NAME size=N [align=N] [flags=FLAGS]",
    "kmem_cache_alloc": "kmem_cache_alloc ID CACHE GFP [cpu=N] [node=N]",
    "kmalloc": "kmalloc ID SIZE GFP [cpu=N] [node=N]",
    "kfree": "kfree ID [cpu=N]",
    "kmem_cache_free": "kmem_cache_free ID [cpu=N]",
    "kmem_cache_shrink": "kmem_cache_shrink CACHE",
    "kmem_cache_destroy": "kmem_cache_destroy CACHE",
}
# the optional NAME=N arguments each operation takes
KEYWORDS = {"task": ("oom_score_adj",), "alloc": ("cpu", "node", "task"), "free": ("cpu", "after"), "drain": ("cpu",),
            "read": ("cpu", "task"), "write": ("cpu", "task"),
            "kmem_cache_create": ("size", "align", "flags"),
            "kmem_cache_alloc": ("cpu", "node"), "kmalloc": ("cpu", "node"),
            "kfree": ("cpu",), "kmem_cache_free": ("cpu",),
            **{op: ("cpu",) for op in ("fault", "touch", "munmap", "truncate", "kill")}}
# keywords whose value is a name, not a number
_NAMED = {"task", "flags"}
# operations that call the Kernel method of this name with their arguments, printing nothing
_METHODS = {"touch": "touch", "munmap": "munmap", "truncate": "truncate", "kill": "exit",
            "tick": "tick", "kfree": "kfree", "kmem_cache_free": "kmem_cache_free",
            "kmem_cache_shrink": "kmem_cache_shrink", "kmem_cache_destroy": "kmem_cache_destroy"}
# operations whose last argument is a page (or jiffy) count
_COUNTED = {"fault", "read", "write", "touch", "munmap", "tick"}


@dataclass(frozen=True)
class Op:
    line: int
    name: str
    args: tuple
    kw: dict = field(default_factory=dict)


def _parse_line(lineno: int, text: str, where: str) -> Op | None:
    body = text.split("#", 1)[0].strip()
    if not body:
        return None
    words = body.split()
    name, args = words[0], words[1:]
    here = f"{where}:{lineno}"
    if name not in OPERATIONS:
        raise KmemsimError(f"{here}: unknown operation {name!r}: use one of "
                           f"{', '.join(OPERATIONS)}")
    usage = OPERATIONS[name]
    allowed = KEYWORDS.get(name, ())
    kw = {}
    while allowed and args and "=" in args[-1] and args[-1].split("=", 1)[0] in allowed:
        key, value = args.pop().split("=", 1)
        if key in kw:
            raise KmemsimError(f"{here}: {key}= given twice")
        if key in _NAMED:
            kw[key] = value
            continue
        try:
            kw[key] = int(value, 0)
        except ValueError:
            raise KmemsimError(f"{here}: {key}={value!r} is not a number") from None
    expected = len([w for w in usage.split()[1:]
                    if not w.startswith("[") and w.split("=", 1)[0] not in allowed])
    if name == "task" and len(args) == 2:
        if args[1] != "memalloc":
            raise KmemsimError(f"{here}: task takes a name and optionally 'memalloc': {usage}")
        return Op(lineno, name, tuple(args), kw)
    if len(args) != expected:
        raise KmemsimError(f"{here}: {name} takes {expected} argument"
                           f"{'s' if expected != 1 else ''}: {usage}")
    if name in ("kmalloc", "kmem_cache_alloc"):
        ident, what, gfp_text = args
        if name == "kmalloc":
            try:
                what = int(what, 0)
            except ValueError:
                raise KmemsimError(f"{here}: size {what!r} is not a number: {usage}") from None
        try:
            gfp = parse_gfp(gfp_text)
        except KmemsimError as e:
            raise KmemsimError(f"{here}: {e}") from None
        return Op(lineno, name, (ident, what, gfp), kw)
    if name == "kmem_cache_create":
        if "size" not in kw:
            raise KmemsimError(f"{here}: kmem_cache_create needs size=N: {usage}")
        if "flags" in kw:
            from kmemsim.kernel import parse_slab_flags
            try:
                kw["flags"] = parse_slab_flags(kw["flags"])
            except KmemsimError as e:
                raise KmemsimError(f"{here}: {e}") from None
    if name == "alloc":
        ident, order_text, gfp_text = args
        try:
            order = int(order_text, 0)
        except ValueError:
            raise KmemsimError(f"{here}: order {order_text!r} is not a number: "
                               f"use 0..{MAX_ORDER - 1}") from None
        if not 0 <= order < MAX_ORDER:
            raise KmemsimError(f"{here}: order {order} is impossible: use 0..{MAX_ORDER - 1}")
        try:
            gfp = parse_gfp(gfp_text)
        except KmemsimError as e:
            raise KmemsimError(f"{here}: {e}") from None
        return Op(lineno, name, (ident, order, gfp), kw)
    if name in _COUNTED:
        try:
            n = int(args[-1], 0)
        except ValueError:
            n = -1
        if n < 0:
            raise KmemsimError(f"{here}: {args[-1]!r} is not a count: {usage}")
        return Op(lineno, name, tuple(args[:-1]) + (n,), kw)
    if name == "show":
        from kmemsim.kernel import report_names
        if args[0] not in report_names():
            raise KmemsimError(f"{here}: unknown file {args[0]!r}: use one of "
                               f"{', '.join(report_names())}")
    if name == "sysctl" and "=" not in args[0]:
        raise KmemsimError(f"{here}: sysctl takes NAME=VALUE, e.g. vm.min_free_kbytes=2048")
    return Op(lineno, name, tuple(args), kw)


def parse_script(text: str, where: str = "script") -> list[Op]:
    """All operations of a script, or a KmemsimError naming the first bad line."""
    ops = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        op = _parse_line(lineno, line, where)
        if op is not None:
            ops.append(op)
    return ops


def run_ops(k, ops: list[Op], check: bool = False, where: str = "script",
            dmesg: bool = False) -> Iterator[str]:
    """Run parsed operations on a booted kernel, yielding what each prints (and, with
    ``dmesg``, the kernel log lines each operation wrote: OOM reports, allocation
    failures)."""
    for op in ops:
        logged = len(k.dmesg)
        try:
            if op.name == "alloc":
                ident, order, gfp = op.args
                a = k.alloc(order, gfp, id=ident, **op.kw)
                yield str(a) + "\n" if a is not None else f"{ident} failed\n"
            elif op.name == "free":
                k.free(op.args[0], **op.kw)
            elif op.name == "drain":
                k.drain(op.kw.get("cpu"))
            elif op.name == "sysctl":
                k.sysctl(op.args[0])
            elif op.name == "show":
                yield k.show(op.args[0])
            elif op.name == "check":
                k.check()
            elif op.name in ("task", "file", "tmpfs"):
                if op.name == "task":
                    k.task(op.args[0], memalloc=len(op.args) == 2, **op.kw)
                else:
                    k.file(op.args[0], tmpfs=op.name == "tmpfs")
            elif op.name in ("fault", "read", "write"):
                name, n = op.args
                got = getattr(k, op.name)(name, n, **op.kw)
                if got < n:
                    yield f"{name}: {got} of {n} pages\n"
            elif op.name in _METHODS:
                getattr(k, _METHODS[op.name])(*op.args, **op.kw)
            elif op.name == "kmem_cache_create":
                yield _create_line(k, op.args[0], k.kmem_cache_create(op.args[0], **op.kw))
            elif op.name in ("kmalloc", "kmem_cache_alloc"):
                ident, what, gfp = op.args
                if op.name == "kmalloc":
                    o = k.kmalloc(what, gfp, id=ident, **op.kw)
                else:
                    o = k.kmem_cache_alloc(what, gfp, id=ident, **op.kw)
                yield str(o) + "\n" if o is not None else f"{ident} failed\n"
            if k.tracer is not None:
                k.tracer.drain()
            if check:
                k.check()
            if dmesg and len(k.dmesg) > logged:
                yield "".join(line + "\n" for line in k.dmesg[logged:])
        except KmemsimError as e:
            raise KmemsimError(f"{where}:{op.line}: {e}") from None


def _create_line(k, name: str, serving: str) -> str:
    from kmemsim.mm.slub import KC_OO, KC_SIZE, oo_objects, oo_order
    if serving != name:
        return f"{name}: alias of {serving}\n"
    kc = k.mem.kmem_cache[k.slab.lookup(name)]
    return (f"{name}: size={int(kc[KC_SIZE])} objperslab={int(oo_objects(kc[KC_OO]))} "
            f"pagesperslab={1 << int(oo_order(kc[KC_OO]))}\n")


def run_script(k, text: str, check: bool = False, where: str = "script",
               write: Callable[[str], object] | None = None) -> str:
    """Parse then run a script; returns (and optionally writes as it goes) its output."""
    ops = parse_script(text, where)
    out = []
    for chunk in run_ops(k, ops, check=check, where=where):
        out.append(chunk)
        if write is not None:
            write(chunk)
    return "".join(out)
