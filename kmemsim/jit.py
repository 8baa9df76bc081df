"""Two modes, one source: every kernel function runs as plain Python or compiled by numba.

Kernel functions are ordinary module-level Python functions marked with :func:`kernel`.  In
*python* mode they are called as they are: a learner can step through them, and
``kmemsim explain`` can trace them.  In *compiled* mode the same code objects are handed to
``numba.njit``: each function is re-created over a copy of its module's globals in which every
other kernel function is replaced by its compiled twin, so compiled code only ever calls
compiled code.  Called from Python, a compiled function gets the Mem as one pointer
(:mod:`kmemsim.memstruct`) rather than a tuple numba would flatten into ~250 arguments.  Both
modes work on the very same numpy arrays (:class:`kmemsim.mm.mmzone.Mem`), so a machine can even
be switched from one mode to the other between two operations.

The mode is chosen per booted machine (``kmemsim.boot(..., mode=...)``, ``--mode`` on the
command line); the default is ``KMEMSIM_MODE`` from the environment, else ``python`` (instant start;
choose ``compiled`` for long runs: the first compile takes ~15 s, later runs load it from cache).
Compiled code is cached on disk (``numba cache=True``) in a directory named after a hash of
kmemsim's own sources, so a changed source never meets a stale cache.
"""

from __future__ import annotations

import hashlib
import importlib
import os
import types
from pathlib import Path

__all__ = ["kernel", "late", "MODES", "default_mode", "functions", "check_mode"]

MODES = ("compiled", "python")

# Every module that defines kernel functions; imported before a namespace is built.
KERNEL_MODULES = (
    "kmemsim.lib.list",
    "kmemsim.trace.events",
    "kmemsim.mm.page_flags",
    "kmemsim.mm.mmzone",
    "kmemsim.mm.pageblock_flags",
    "kmemsim.mm.gfp",
    "kmemsim.mm.vmstat",
    "kmemsim.mm.backing_dev",
    "kmemsim.mm.page_alloc",
    "kmemsim.mm.page_alloc_pcp",
    "kmemsim.mm.page_alloc_fastpath",
    "kmemsim.mm.page_alloc_slowpath",
    "kmemsim.mm.slub",
    "kmemsim.mm.compaction",
    "kmemsim.mm.mm_inline",
    "kmemsim.mm.swap",
    "kmemsim.mm.vmscan",
    "kmemsim.mm.migrate",
    "kmemsim.mm.oom_kill",
    "kmemsim.mm.show_mem",
    "kmemsim.sim.owners",
    "kmemsim.mm.truncate",
    "kmemsim.fs.drop_caches",
    "kmemsim.sim.sched",
    "kmemsim.sim.buddy_core",
    "kmemsim.sim.batch",
    "kmemsim.sim.replay",
)

_registry: dict[str, types.FunctionType] = {}
_compiled_source: dict[str, types.FunctionType] = {}    # name -> loop form for numba
_CACHE = os.environ.get("KMEMSIM_NUMBA_CACHE", "1") == "1"
# No reference counting: compiled kernel code never allocates, and sees the state through
# descriptors that own nothing (kmemsim.memstruct).
_JIT_OPTIONS = {"inline": os.environ.get("KMEMSIM_INLINE", "never"), "_nrt": False}
_namespaces: dict[str, types.SimpleNamespace] = {}


def kernel(fn: types.FunctionType | None = None, *, compiled: types.FunctionType | None = None):
    """Mark ``fn`` as a kernel function: runnable as Python and compilable by numba.

    ``compiled=`` gives, for the rare function that touches a whole range of pages at once
    (__free_pages_bootmem), the plain loop numba compiles instead of the numpy slices that keep
    Python mode fast; both must have the same effect (the differential tests check it)."""
    def register(f):
        key = f"{f.__module__}.{f.__name__}"
        _registry[key] = f
        if compiled is not None:
            _compiled_source[key] = compiled
        return f
    return register if fn is None else register(fn)


_late: list[tuple[dict, str, tuple[str, ...]]] = []


def late(module_globals: dict, module: str, *names: str) -> None:
    """``from module import names`` into ``module_globals``, done once every kernel module is
    imported (:func:`import_all`).  Kernel modules that call each other both ways (the
    allocator's slow path, reclaim and compaction, as in mm/) use it for one direction, so
    no import cycle can meet a half-initialised module.  Kernel functions look their
    callees up when they run (Python) or are compiled, both after that."""
    _late.append((module_globals, module, names))


def import_all() -> None:
    """Import every kernel module, then bind the names their :func:`late` calls asked for."""
    for name in KERNEL_MODULES:
        importlib.import_module(name)
    while _late:
        module_globals, module, names = _late.pop()
        mod = importlib.import_module(module)
        for n in names:
            module_globals[n] = getattr(mod, n)


def default_mode() -> str:
    mode = os.environ.get("KMEMSIM_MODE", "python")
    return check_mode(mode)


def check_mode(mode: str) -> str:
    if mode not in MODES:
        from kmemsim.errors import KmemsimError

        raise KmemsimError(f"unknown mode {mode!r}: use one of {', '.join(MODES)}")
    return mode


def _import_all() -> None:
    import_all()


def _source_hash() -> str:
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def _cache_dir() -> str:
    base = os.environ.get("KMEMSIM_CACHE_DIR")
    if not base:
        xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
        base = os.path.join(xdg, "kmemsim")
    return os.path.join(base, "numba-" + _source_hash())


def _namespace(pairs) -> types.SimpleNamespace:
    """The namespace of kernel functions: ``pairs`` is (registered function, what to call).
    A name that two kernel files both define as static functions (too_many_isolated is in
    mm/compaction.c and mm/vmscan.c) is not a plain attribute: it raises, naming the
    modules; ``ns.modules["vmscan"].too_many_isolated`` reaches each one."""
    from kmemsim.errors import KmemsimError

    by_module: dict[str, dict] = {}
    owners: dict[str, list[str]] = {}
    for fn, call in pairs:
        short = fn.__module__.rsplit(".", 1)[-1]
        by_module.setdefault(short, {})[fn.__name__] = call
        owners.setdefault(fn.__name__, []).append(short)
    flat = {}
    for name, mods in owners.items():
        if len(mods) == 1:
            flat[name] = by_module[mods[0]][name]
            continue

        def ambiguous(*args, _name=name, _mods=tuple(mods)):
            raise KmemsimError(f"{_name} is a function of {' and '.join(_mods)}: call "
                               + " or ".join(f'fn.modules["{m}"].{_name}' for m in _mods))
        ambiguous.__name__ = name
        flat[name] = ambiguous
    return types.SimpleNamespace(modules={m: types.SimpleNamespace(**fns)
                                          for m, fns in by_module.items()}, **flat)


def _build_python() -> types.SimpleNamespace:
    return _namespace((fn, fn) for fn in _registry.values())


def _build_compiled() -> types.SimpleNamespace:
    import numba

    numba.config.CACHE_DIR = _cache_dir()
    module_globals: dict[str, dict] = {}
    twins: dict[int, object] = {}
    for key, fn in _registry.items():
        g = module_globals.get(fn.__module__)
        if g is None:
            g = module_globals[fn.__module__] = dict(importlib.import_module(fn.__module__).__dict__)
        src = _compiled_source.get(key, fn)
        clone = types.FunctionType(src.__code__, g, fn.__name__, src.__defaults__, src.__closure__)
        clone.__qualname__ = fn.__qualname__
        clone.__module__ = fn.__module__
        clone.__doc__ = fn.__doc__
        twins[id(fn)] = numba.njit(cache=_CACHE, **_JIT_OPTIONS)(clone)
    for g in module_globals.values():
        for name, value in list(g.items()):
            if isinstance(value, types.FunctionType) and id(value) in twins:
                g[name] = twins[id(value)]
    from kmemsim.memstruct import as_struct
    from kmemsim.mm.mmzone import Mem

    def boundary(dispatcher):
        """Called from Python: a Mem becomes its MemHandle on the way in."""
        def call(*args):
            if args and type(args[0]) is Mem:
                args = (as_struct(args[0]),) + args[1:]
            return dispatcher(*args)
        call.__name__ = dispatcher.__name__
        call.__doc__ = dispatcher.__doc__
        call.dispatcher = dispatcher
        return call
    return _namespace((fn, boundary(twins[id(fn)])) for fn in _registry.values())


def functions(mode: str) -> types.SimpleNamespace:
    """The kernel functions of ``mode`` as attributes (``functions('python').__rmqueue``)."""
    check_mode(mode)
    ns = _namespaces.get(mode)
    if ns is None:
        _import_all()
        ns = _build_python() if mode == "python" else _build_compiled()
        _namespaces[mode] = ns
    return ns
