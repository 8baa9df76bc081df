"""``kmemsim explain``: the call tree of kernel functions, with decoded values, for learners.

kmemsim's own (the kernel has no such tool; the nearest are the function_graph tracer of
kernel/trace/trace_functions_graph.c and the study group's hand-written walks in
/work/shared/seeds/).  A script (or the boot) runs in Python mode under ``sys.settrace``: every
call of a kernel-named function (the ones docs/kernel-map.md lists, registered with
``@kernel`` or plain boot-time Python) becomes a node with its arguments, decoded by name
(:data:`ARG_KINDS`, :data:`FUNC_ARG_KINDS`), and its return value (:data:`RETURN_KINDS`).
kmemsim's own glue (``_slowpath``, ``slowpath_wait``, ``schedule_kthreads`` ...) is transparent:
the kernel functions it calls hang under the nearest kernel caller.  Free-list changes are
found by comparing snapshots of every ``free_area[order].free_list[mt]`` and per-CPU list at
each recorded call and return; each change is shown under the innermost recorded call that
made it, between that call's children, in the order things happened.

Readability defaults, all documented in docs/explain.md: helpers (list.h operations, page flag
tests, pfn and pageblock accessors: :data:`HELPERS`) are not shown; under one caller only the
first ``repeat`` calls of each function are expanded, the rest are counted ("… 9 more calls
to expand"); ``depth`` limits nesting below the selected roots.
"""

from __future__ import annotations

import fnmatch
import inspect
import sys
import types
from dataclasses import dataclass, field

import numpy as np

from kmemsim.errors import KmemsimError

__all__ = ["Call", "Counted", "Group", "Explanation", "Tracer", "Decoder", "FreeLists",
           "ARG_KINDS", "MODULE_ARG_KINDS", "FUNC_ARG_KINDS", "RETURN_KINDS", "HELPERS",
           "SHOWN_OWN", "WORDS", "kernel_functions", "explain_script",
           "explain_boot", "explain", "render", "format_gfp_source", "list_name"]

FORMATS = ("text", "markdown")
LANGS = ("en", "ko")
DEFAULT_REPEAT = 1
MAX_CHANGE_LINES = 12       # free-list changes shown per step before "… N more"

# ---- what is a kernel function -------------------------------------------------------------------

# Modules whose functions are never shown: tracepoints and the trace buffer (kmemsim.trace.*)
_SKIP_MODULE_PREFIXES = ("kmemsim.trace.",)

# Helpers hidden unless asked for (helpers=True, --helpers): list.h, page-flags.h, and the
# one-line accessors a reader of the C source steps over.  Their work (a list_del, a
# set_page_order) still shows as free-list changes of the caller.
HELPERS = frozenset("""
    INIT_LIST_HEAD __list_add list_add list_add_tail list_del list_empty list_first_entry
    list_last_entry list_move list_move_tail list_splice
    page_zone_id page_zonenum page_to_nid pfn_valid pfn_valid_within pfn_to_bitidx
    zone_end_pfn zone_spans_pfn populated_zone is_migrate_cma is_migrate_isolate
    get_pageblock_flags_group set_pageblock_flags_group get_pageblock_migratetype
    get_freepage_migratetype set_freepage_migratetype page_order set_page_order rmv_page_order
    __find_buddy_index page_is_buddy bad_range page_count put_page_testzero
    zone_page_state zone_page_state_add zone_page_state_snapshot __count_vm_events
    __count_vm_event count_vm_event count_vm_events __count_zone_vm_events
    __inc_zone_state __dec_zone_state __inc_zone_page_state __dec_zone_page_state
    oo_order oo_objects order_objects get_freepointer set_freepointer stat node_match
    get_node compound_head compound_order virt_to_head_page
""".split())


def _is_helper(fn) -> bool:
    mod = fn.__module__
    return (fn.__name__ in HELPERS or mod == "kmemsim.lib.list"
            or mod == "kmemsim.mm.page_flags")


# kmemsim's own functions that are shown all the same, with a note: where the simulated
# scheduler gives other tasks their turn, so that what kswapd or a deferred free does is not
# read as the caller's work.  Shown only when something kernel-named ran inside them.
SHOWN_OWN = ("schedule_kthreads", "run_timers")

_kernel_cache: dict | None = None
_own_cache: dict | None = None


def _own_functions() -> dict:
    """{code object: function} of :data:`SHOWN_OWN`."""
    global _own_cache
    if _own_cache is None:
        from kmemsim import jit
        kernel_functions()
        _own_cache = {fn.__code__: fn for fn in jit._registry.values()
                      if fn.__name__ in SHOWN_OWN}
    return _own_cache


def kernel_functions() -> dict:
    """{code object: function} of every kernel-named function: the registered ``@kernel``
    functions except kmemsim's own (kmemsim.tools.kernel_map.KMEMSIM_OWN) and the
    tracepoints, and the boot / report functions docs/kernel-map.md lists."""
    global _kernel_cache
    if _kernel_cache is None:
        import importlib

        from kmemsim import jit
        from kmemsim.tools.kernel_map import KMEMSIM_OWN, entries
        jit.import_all()
        fns = [fn for fn in jit._registry.values() if fn.__name__ not in KMEMSIM_OWN]
        for _, _, where, _ in entries():
            modname, name = where.rsplit(".", 1)
            fns.append(getattr(importlib.import_module(modname), name))
        table = {}
        for fn in fns:
            code = fn.__code__
            if fn.__module__.startswith(_SKIP_MODULE_PREFIXES) or \
                    code.co_flags & inspect.CO_GENERATOR:
                continue            # generators re-enter on every item: not one call each
            table[code] = fn
        _kernel_cache = table
    return _kernel_cache


# ---- decoding values -----------------------------------------------------------------------------

# Argument name -> how to show its value.  Kinds: hide, gfp, alloc_flags, zone (a zone id),
# zone_idx (a zone index), migratetype, page (a pfn), nodemask, slab_flags, cache (a kmem_cache
# row), oo, cc (a compact_control), zone_stat, compact (COMPACT_*), plain.
ARG_KINDS = {
    "mem": "hide", "k": "hide",
    "gfp_mask": "gfp", "gfp_flags": "gfp", "gfpflags": "gfp", "gfp": "gfp",
    "alloc_flags": "alloc_flags",
    "zone": "zone", "z": "zone", "preferred_zone": "zone", "local_zone": "zone",
    "high_zoneidx": "zone_idx", "classzone_idx": "zone_idx", "zone_idx": "zone_idx",
    "migratetype": "migratetype", "start_migratetype": "migratetype",
    "fallback_type": "migratetype", "start_type": "migratetype", "mt": "migratetype",
    "page": "page", "start_page": "page", "end_page": "page", "pageblock_page": "page",
    "newpage": "page", "buddy": "page", "migratepage": "page", "pfn": "page",
    "start_pfn": "page", "end_pfn": "page", "low_pfn": "page", "blockpfn": "page",
    "nodemask": "nodemask", "cc": "cc", "oo": "oo", "flags": "gfp", "lru": "lru",
}

_ZONE_STAT_FUNCS = ("__mod_zone_page_state", "zone_page_state_add", "__inc_zone_state",
                    "__dec_zone_state", "zone_page_state", "zone_page_state_snapshot",
                    "global_page_state")
_VM_EVENT_FUNCS = ("count_vm_event", "count_vm_events", "count_compact_event",
                   "count_compact_events")

# (module, argument) -> kind: the slab code's ``s`` is a kmem_cache (a row of mem.kmem_cache),
# and in mm/slab_common.c ``flags`` are SLAB_* flags, not a GFP mask.
MODULE_ARG_KINDS = {
    ("slab_common", "s"): "cache", ("slub", "s"): "cache",
    ("slab_common", "flags"): "slab_flags",
    ("slub", "x"): "addr",
}

# (function, argument) -> kind, where the argument's name means something else in just that
# function; checked first.
FUNC_ARG_KINDS = {
    **{(f, "item"): "zone_stat" for f in _ZONE_STAT_FUNCS},
    **{(f, "ev"): "vm_event" for f in _VM_EVENT_FUNCS},
    ("set_pageblock_flags_group", "flags"): "migratetype",
    ("rmqueue_bulk", "head"): "list_head",
    ("oo_order", "x"): "oo", ("oo_objects", "x"): "oo",
}

_PAGE_FUNCS = ("__rmqueue_smallest", "__rmqueue_fallback", "__rmqueue", "buffered_rmqueue",
               "get_page_from_freelist", "__alloc_pages_nodemask", "__alloc_pages",
               "alloc_pages_node", "alloc_pages_exact_node", "alloc_pages", "alloc_slab_page",
               "allocate_slab", "new_slab", "__alloc_pages_slowpath",
               "__alloc_pages_high_priority", "early_kmem_cache_node_alloc", "compaction_alloc")
# Function -> kind of its return value (a tuple of kinds for functions returning several).
RETURN_KINDS = {
    **{f: "page" for f in _PAGE_FUNCS},
    "__alloc_pages_direct_compact": ("page", "plain", "plain"),
    "__alloc_pages_direct_reclaim": ("page", "plain"),
    "__alloc_pages_may_oom": ("page", "plain"),
    "try_to_steal_freepages": "migratetype", "allocflags_to_migratetype": "migratetype",
    "get_pageblock_migratetype": "migratetype", "get_freepage_migratetype": "migratetype",
    "gfp_to_alloc_flags": "alloc_flags", "__gfp_to_alloc_flags": "alloc_flags",
    "gfp_zone": "zone_idx",
    **{f: "addr" for f in ("kmem_cache_alloc", "kmem_cache_alloc_node", "slab_alloc_node",
                           "__slab_alloc", "__kmalloc", "__kmalloc_node", "kmalloc_large_node")},
    "__do_kmalloc_node": ("addr", "plain"),
    "oo_make": "oo",
    "compaction_suitable": "compact", "compact_zone": "compact", "compact_finished": "compact",
    "try_to_compact_pages": ("compact", "plain"), "compact_zone_order": ("compact", "plain"),
}

_COMPACT_NAMES = ("COMPACT_SKIPPED", "COMPACT_CONTINUE", "COMPACT_PARTIAL", "COMPACT_COMPLETE")

# The kernel's composite masks, largest first: a mask is spelled as the first that fits, then
# its remaining __GFP_* bits, the way the C source writes masks (GFP_NOWAIT when none fits).
_GFP_SOURCE_COMPOSITES = ("GFP_TRANSHUGE", "GFP_HIGHUSER_MOVABLE", "GFP_HIGHUSER", "GFP_USER",
                          "GFP_TEMPORARY", "GFP_KERNEL", "GFP_NOFS", "GFP_NOIO", "GFP_ATOMIC")


def format_gfp_source(value: int) -> str:
    """A GFP mask as the C source spells it: ``GFP_NOWAIT|__GFP_NOWARN|__GFP_NORETRY|
    __GFP_NOTRACK`` for 0x201200, ``GFP_KERNEL|__GFP_COMP`` for 0x40d0 (the trace spelling is
    kmemsim.mm.gfp.format_gfp's)."""
    from kmemsim.mm import gfp
    value = int(value) & 0xFFFFFFFF
    names, rest = ["GFP_NOWAIT"], value
    for name in _GFP_SOURCE_COMPOSITES:
        mask = gfp.GFP_NAMES[name]
        if value & mask == mask:
            names, rest = [name], value & ~mask
            break
    for bit, suffix in enumerate(gfp.GFP_BIT_NAMES):
        if rest & (1 << bit):
            names.append("__GFP_" + suffix)
            rest &= ~(1 << bit)
    if rest:
        names.append(f"{rest:#x}")
    return "|".join(names)


class Decoder:
    """Turns argument and return values into text, knowing the booted machine."""

    def __init__(self, k):
        from kmemsim.mm.mmzone import CFG_MIGRATE_CMA, CFG_MIGRATE_ISOLATE, migratetype_names
        self.k = k
        cma = int(k.mem.cfg[CFG_MIGRATE_CMA]) >= 0
        isolate = int(k.mem.cfg[CFG_MIGRATE_ISOLATE]) >= 0
        self.mt_names = tuple("MIGRATE_" + n.upper() for n in migratetype_names(cma, isolate))
        self.multi_node = len(k.machine.nodes) > 1
        lists = FreeLists(k)
        self.heads = dict(zip(lists.heads.tolist(), lists.where))

    def arg(self, fn, name: str, value) -> str | None:
        kind = (FUNC_ARG_KINDS.get((fn.__name__, name))
                or MODULE_ARG_KINDS.get((fn.__module__.rsplit(".", 1)[-1], name))
                or ARG_KINDS.get(name, "plain"))
        if kind == "hide" or self._is_state(value):
            return None
        return self.value(kind, value)

    def ret(self, func: str, value) -> str | None:
        if value is None:
            return None
        kind = RETURN_KINDS.get(func, "plain")
        if isinstance(value, tuple):
            kinds = kind if isinstance(kind, tuple) else ("plain",) * len(value)
            return "(" + ", ".join(self.value(kd, v) for kd, v in zip(kinds, value)) + ")"
        return self.value(kind if isinstance(kind, str) else "plain", value)

    def _is_state(self, value) -> bool:
        from kmemsim.kernel import Kernel
        from kmemsim.mm.mmzone import Mem
        return isinstance(value, (Mem, Kernel))

    def value(self, kind: str, v) -> str:
        if isinstance(v, (bool, np.bool_)):
            return "true" if v else "false"
        if isinstance(v, np.ndarray):
            return self._cc(v) if kind == "cc" else f"array[{v.size}]"
        if isinstance(v, str):
            return f'"{v}"'
        if isinstance(v, tuple):
            return "(" + ", ".join(self.value("plain", x) for x in v) + ")"
        if not isinstance(v, (int, np.integer)):
            return type(v).__name__ if v is not None else "NULL"
        v = int(v)
        decode = getattr(self, "_" + kind, None)
        return decode(v) if decode is not None else str(v)

    def _gfp(self, v):
        return f"{v:#x} ({format_gfp_source(v)})"

    def _alloc_flags(self, v):
        from kmemsim.mm.gfp import format_alloc_flags
        return f"{v:#x} ({format_alloc_flags(v)})"

    def zone_text(self, zone: int) -> str:
        name = self.k.zone_name(zone)
        if self.multi_node:
            return f"node {zone // self.k.machine.max_nr_zones} {name}"
        return name

    def _zone(self, v):
        return "NULL" if v < 0 else f"{self.zone_text(v)} ({v})"

    def _zone_idx(self, v):
        types_ = self.k.machine.zone_types
        return f"ZONE_{types_[v].upper()} ({v})" if 0 <= v < len(types_) else str(v)

    def mt_text(self, v: int) -> str:
        return self.mt_names[v] if 0 <= v < len(self.mt_names) else str(v)

    def _migratetype(self, v):
        return f"{self.mt_text(v)} ({v})" if 0 <= v < len(self.mt_names) else str(v)

    def _page(self, v):
        return "NULL" if v < 0 else f"pfn {v:#x} ({v})"

    def _nodemask(self, v):
        return "NULL" if v < 0 else str(v)

    def _slab_flags(self, v):
        from kmemsim.mm.slub import SLAB_FLAG_NAMES
        if v == 0:
            return "0"
        names = [n for n, bit in SLAB_FLAG_NAMES.items() if bit and v & bit == bit]
        return f"{v:#x} ({'|'.join(names)})" if names else f"{v:#x}"

    def _cache(self, v):
        name = self.k.slab.names.get(v) if v >= 0 else None
        return f"{v} ({name})" if name else str(v)

    def _oo(self, v):
        from kmemsim.mm.slub import OO_MASK, OO_SHIFT
        return f"{v:#x} (order {v >> OO_SHIFT}, {v & OO_MASK} objects)"

    def _zone_stat(self, v):
        from kmemsim.mm.mmzone import ZONE_STAT_ITEMS
        return f"{ZONE_STAT_ITEMS[v].upper()} ({v})" if 0 <= v < len(ZONE_STAT_ITEMS) else str(v)

    def _compact(self, v):
        return f"{_COMPACT_NAMES[v]} ({v})" if 0 <= v < len(_COMPACT_NAMES) else str(v)

    def _addr(self, v):
        return f"{v:#x}"

    def _vm_event(self, v):
        """kmemsim's EV_* number, by the machine's name for it (/proc/vmstat's)."""
        from kmemsim.mm.vmstat import vm_event_names
        index = self.k.mem.vm_event_index
        if not 0 <= v < len(index) or index[v] < 0:
            return str(v)
        return f"{vm_event_names(self.k.machine)[int(index[v])].upper()} ({v})"

    def _lru(self, v):
        from kmemsim.mm.mmzone import LRU_NAMES
        return f"LRU_{LRU_NAMES[v].upper()} ({v})" if 0 <= v < len(LRU_NAMES) else str(v)

    def _list_head(self, v):
        where = self.heads.get(v)
        if where is None:
            return str(v)
        return list_name(self, where, True)

    def _cc(self, cc):
        from kmemsim.mm.compaction import CC_MIGRATETYPE, CC_ORDER, CC_SYNC, CC_ZONE
        return (f"compact_control(order={int(cc[CC_ORDER])}, "
                f"migratetype={self.mt_text(int(cc[CC_MIGRATETYPE]))}, "
                f"sync={'true' if cc[CC_SYNC] else 'false'}, "
                f"zone={self._zone(int(cc[CC_ZONE]))})")


# ---- free-list snapshots -------------------------------------------------------------------------

class FreeLists:
    """Where every free block is: {pfn: (zone, order, migratetype, cpu)} with cpu -1 for the
    buddy lists (``free_area[order].free_list[mt]``) and the CPU for a per-CPU list (order 0).
    Snapshots are memoised on a cheap fingerprint of the list heads and counters, so a call
    that changed nothing costs a few numpy reads."""

    def __init__(self, k):
        from kmemsim.mm.mmzone import (CFG_FREE_LIST_BASE, CFG_MIGRATE_TYPES,
                                       CFG_PCP_LIST_BASE, MAX_ORDER, MIGRATE_PCPTYPES)
        mem = self.mem = k.mem
        self.nr_pfns = len(mem.flags)
        nzones = mem.managed_pages.shape[0]
        ntypes = int(mem.cfg[CFG_MIGRATE_TYPES])
        heads, where = [], []
        base = int(mem.cfg[CFG_FREE_LIST_BASE])
        for zone in range(nzones):
            for order in range(MAX_ORDER):
                for mt in range(ntypes):
                    heads.append(base + (zone * MAX_ORDER + order) * ntypes + mt)
                    where.append((zone, order, mt, -1))
        base = int(mem.cfg[CFG_PCP_LIST_BASE])
        for cpu in range(mem.pcp.shape[0]):
            for zone in range(nzones):
                for mt in range(MIGRATE_PCPTYPES):
                    heads.append(base + (cpu * nzones + zone) * MIGRATE_PCPTYPES + mt)
                    where.append((zone, 0, mt, cpu))
        self.heads = np.array(heads, dtype=np.int64)
        self.where = where
        self._memo: tuple[bytes, dict] | None = None

    def snapshot(self) -> dict:
        mem = self.mem
        key = b"".join((mem.lru_next[self.heads].tobytes(), mem.lru_prev[self.heads].tobytes(),
                        mem.nr_free.tobytes(), mem.pcp[:, :, 0].tobytes()))
        if self._memo is not None and self._memo[0] == key:
            return self._memo[1]
        lru_next = mem.lru_next
        snap = {}
        for head, where in zip(self.heads.tolist(), self.where):
            entry = int(lru_next[head])
            steps = 0
            while entry != head and 0 <= entry < self.nr_pfns and steps < self.nr_pfns:
                if entry in snap:                   # not yet a list (before boot sets it up)
                    break
                snap[entry] = where
                entry = int(lru_next[entry])
                steps += 1
        self._memo = (key, snap)
        return snap


def _diff(before: dict, after: dict) -> list[tuple]:
    """[(pfn, where before or None, where after or None)] in pfn order."""
    if before is after:
        return []
    out = []
    for pfn in sorted(before.keys() | after.keys()):
        a, b = before.get(pfn), after.get(pfn)
        if a != b:
            out.append((pfn, a, b))
    return out


# ---- the recorded tree ---------------------------------------------------------------------------

@dataclass
class Call:
    """One recorded call: its name, decoded arguments and return value, and what happened
    inside it in order (``items``: Call, a list of free-list changes, or a Counted line)."""
    name: str
    args: list[tuple[str, str]]
    depth: int
    own: bool = False                              # one of SHOWN_OWN
    ret: str | None = None
    items: list = field(default_factory=list)
    seen: dict = field(default_factory=dict)        # name -> calls so far under this one
    counted: dict = field(default_factory=dict)     # name -> the Counted line of the skipped
    deeper: "Counted | None" = None
    last: dict | None = None                        # free-list snapshot at the last boundary
    frame: object = None                            # the running frame, until it returns


@dataclass
class Counted:
    """'… N more calls to F' (or '… N calls below', for --depth)."""
    name: str | None
    n: int = 0


@dataclass
class Group:
    """One script operation (or boot stage) and the trees recorded while it ran."""
    title: str
    output: str = ""
    calls: list = field(default_factory=list)


@dataclass
class Explanation:
    machine: str
    groups: list
    zone_names: bool                               # more than one zone: lists name their zone


class Tracer:
    """Records the kernel calls of whatever runs between :meth:`start` and :meth:`stop`."""

    def __init__(self, k, patterns=None, depth=None, repeat=DEFAULT_REPEAT, helpers=False):
        self.k = k
        self.patterns = patterns
        self.depth = depth
        self.repeat = repeat
        self.helpers = helpers
        self.kernel = kernel_functions()
        self.own = _own_functions()
        self.decoder = Decoder(k)
        self.lists = FreeLists(k)
        self.group: Group | None = None
        self.stack: list[Call] = []
        self.suppressed = None                     # the frame whose subtree is not recorded
        self._match_cache: dict = {}

    # -- selection
    def _is_root(self, name: str) -> bool:
        if self.patterns is None:
            return True
        hit = self._match_cache.get(name)
        if hit is None:
            hit = self._match_cache[name] = any(fnmatch.fnmatchcase(name, p)
                                                for p in self.patterns)
        return hit

    # -- sys.settrace hooks
    def _global(self, frame, event, arg):
        if self.suppressed is not None:
            return None
        fn = self.kernel.get(frame.f_code)
        own = False
        if fn is None:
            fn = self.own.get(frame.f_code)
            if fn is None:
                return None
            own = True
        name = fn.__name__
        parent = self.stack[-1] if self.stack else None
        if parent is None:
            if not self._is_root(name) or (own and self.patterns is not None):
                return None
            return self._record(frame, fn, None, own)
        if not self.helpers and not own and _is_helper(fn):
            return self._suppress(frame)
        if self.depth is not None and parent.depth >= self.depth:
            if parent.deeper is None:
                parent.deeper = Counted(None)
                parent.items.append(parent.deeper)
            parent.deeper.n += 1
            return self._suppress(frame)
        n = parent.seen.get(name, 0)
        parent.seen[name] = n + 1
        if n >= self.repeat:
            line = parent.counted.get(name)
            if line is None:
                line = parent.counted[name] = Counted(name)
                parent.items.append(line)
            line.n += 1
            return self._suppress(frame)
        return self._record(frame, fn, parent, own)

    def _suppress(self, frame):
        self.suppressed = frame
        frame.f_trace_lines = False
        return self._local_suppressed

    def _local_suppressed(self, frame, event, arg):
        if event == "return" and frame is self.suppressed:
            self.suppressed = None
        return self._local_suppressed

    def _record(self, frame, fn, parent, own=False):
        name = fn.__name__
        args = []
        for pname, value in frame.f_locals.items():
            text = self.decoder.arg(fn, pname, value)
            if text is not None:
                args.append((pname, text))
        call = Call(name, args, 0 if parent is None else parent.depth + 1, own)
        now = self.lists.snapshot()
        if parent is None:
            self.group.calls.append(call)
        else:
            self._changes(parent, now)
            parent.items.append(call)
        call.last = now
        call.frame = frame
        self.stack.append(call)
        frame.f_trace_lines = False
        return self._local

    def _changes(self, call: Call, now: dict) -> None:
        moved = _diff(call.last, now)
        if moved:
            if call.items and isinstance(call.items[-1], list):
                call.items[-1].extend(moved)
            else:
                call.items.append(moved)
        call.last = now

    def _local(self, frame, event, arg):
        if event != "return":
            return self._local
        while self.stack:
            call = self.stack.pop()
            if call.frame is frame:
                break
        else:
            return None
        call.frame = None
        call.ret = None if call.own else self.decoder.ret(call.name, arg)
        now = self.lists.snapshot()
        self._changes(call, now)
        call.last = None
        parent = self.stack[-1] if self.stack else None
        if parent is not None:
            parent.last = now
        if call.own and not call.items:             # nothing ran: not worth a line
            siblings = parent.items if parent is not None else self.group.calls
            if siblings and siblings[-1] is call:
                siblings.pop()
                if parent is not None:
                    parent.seen[call.name] -= 1
        return None

    def start(self, title: str) -> Group:
        self.group = Group(title)
        self.stack = []
        self.suppressed = None
        sys.settrace(self._global)
        return self.group

    def stop(self) -> None:
        sys.settrace(None)


# ---- driving scripts and the boot ----------------------------------------------------------------

def _check_options(patterns, depth, repeat, fmt, lang):
    if fmt not in FORMATS:
        raise KmemsimError(f"unknown format {fmt!r}: use one of {', '.join(FORMATS)}")
    if lang not in LANGS:
        raise KmemsimError(f"unknown language {lang!r}: use one of {', '.join(LANGS)}")
    if depth is not None and depth < 0:
        raise KmemsimError(f"--depth {depth}: give 0 or more (0: the selected calls alone)")
    if repeat < 1:
        raise KmemsimError(f"--repeat {repeat}: give 1 or more")
    if patterns is None:
        return None
    parts = [p.strip() for p in patterns.split(",") if p.strip()]
    if not parts:
        raise KmemsimError("--functions: give one or more names or patterns, comma separated")
    names = {fn.__name__ for fn in kernel_functions().values()}
    for p in parts:
        if not fnmatch.filter(names, p):
            raise KmemsimError(f"--functions {p}: no kernel function matches it "
                               "(see docs/kernel-map.md for their names)")
    return parts


def explain_script(k, text: str, where: str = "script", patterns: str | None = None,
                   depth: int | None = None, repeat: int = DEFAULT_REPEAT,
                   helpers: bool = False) -> Explanation:
    """Run a script (kmemsim.script) on the booted Python-mode kernel ``k``, recording the
    calls of every operation (or of the subtrees rooted at calls matching ``patterns``)."""
    from kmemsim.script import parse_script, run_ops
    _require_python(k)
    parts = _check_options(patterns, depth, repeat, "text", "en")
    ops = parse_script(text, where)
    tracer = Tracer(k, parts, depth, repeat, helpers)
    lines = text.splitlines()
    groups = []
    for op in ops:
        group = tracer.start(f"{where}:{op.line}: {lines[op.line - 1].split('#', 1)[0].strip()}")
        try:
            group.output = "".join(run_ops(k, [op], where=where))
        finally:
            tracer.stop()
        groups.append(group)
    return Explanation(k.machine.name, groups, _many_zones(k))


def explain_boot(machine, mem=None, cpus=None, nodes=None, cma=None, swap=None, slab=None,
                 patterns: str | None = None, depth: int | None = None,
                 repeat: int = DEFAULT_REPEAT, helpers: bool = False) -> tuple:
    """Boot ``machine`` stage by stage (kmemsim.kernel.BOOT_STAGES), recording each stage's
    calls.  With ``patterns``, a stage from which no matching function can be reached (by the
    names its code mentions, transitively) runs untraced: mem_init frees every page one block
    at a time, and tracing it only to find nothing would take most of a minute.  Returns
    (Explanation, the booted Kernel)."""
    import dataclasses

    from kmemsim.kernel import BOOT_STAGES, Kernel
    from kmemsim.machine import Machine
    from kmemsim.presets import get_machine
    parts = _check_options(patterns, depth, repeat, "text", "en")
    if not isinstance(machine, Machine):
        machine = get_machine(machine, mem=mem, cpus=cpus, nodes=nodes, cma=cma, swap=swap)
    if slab is not None:
        machine = dataclasses.replace(machine, slab=bool(slab))
    k = Kernel(machine, "python")
    tracer = Tracer(k, parts, depth, repeat, helpers)
    groups = []
    for name, stage in BOOT_STAGES:
        if parts is not None and not _may_reach(stage, parts):
            k.run_stage(name)
            continue
        tracer.lists = FreeLists(k)
        group = tracer.start(f"boot stage {name}")
        try:
            k.run_stage(name)
        finally:
            tracer.stop()
        groups.append(group)
    return Explanation(machine.name, groups, _many_zones(k)), k


def _require_python(k) -> None:
    if k.mode != "python":
        raise KmemsimError("explain traces kernel functions as Python: boot with "
                           "mode='python' (--mode python)")


def _many_zones(k) -> bool:
    return int(np.count_nonzero(k.mem.present_pages)) > 1


_name_index: dict | None = None


def _names_to_code() -> dict:
    """{name: [code objects]} of every function and method defined in kmemsim's modules."""
    global _name_index
    if _name_index is None:
        index: dict[str, list] = {}

        def add(obj):
            if isinstance(obj, types.FunctionType):
                index.setdefault(obj.__name__, []).append(obj.__code__)
        for modname, mod in list(sys.modules.items()):
            if not modname.startswith("kmemsim") or mod is None:
                continue
            for value in list(vars(mod).values()):
                add(value)
                if isinstance(value, type) and value.__module__ == modname:
                    for attr in vars(value).values():
                        add(getattr(attr, "__func__", attr))
        _name_index = index
    return _name_index


def _may_reach(stage, patterns) -> bool:
    """Could ``stage`` call a function matching ``patterns``?  Over-approximated from the
    names every reachable code object mentions (globals, attributes, imports)."""
    index = _names_to_code()
    kernel_names = {fn.__name__ for fn in kernel_functions().values()}
    seen, todo = set(), [stage.__code__]
    while todo:
        code = todo.pop()
        if code in seen:
            continue
        seen.add(code)
        names = list(code.co_names)
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                todo.append(const)
            elif isinstance(const, str) and const.isidentifier():
                names.append(const)                 # getattr(k.fn, "__free_pages")
        for name in names:
            if name.startswith("_") and "__" in name[1:]:
                names.append(name[name.index("__", 1):])    # _Kernel__x: mangled in a class
        for name in names:
            if name in kernel_names and any(fnmatch.fnmatchcase(name, p) for p in patterns):
                return True
            todo.extend(index.get(name, ()))
    return False


# ---- output --------------------------------------------------------------------------------------

# The explanatory words; kernel names, values and list names stay as they are.
WORDS = {
    "en": {
        "more": "… {n} more call{s} to {name}",
        "deeper": "… {n} call{s} below (--depth)",
        "off": "(off the lists)",
        "prints": "prints",
        "changes_more": "… {n} more free-list change{s}",
        "nothing": "(no kernel call matched)",
        "lists": "free lists",
        "schedule_kthreads": "kmemsim: the other tasks' turn (kswapd, deferred frees)",
        "run_timers": "kmemsim: deferred frees whose time has come",
    },
    "ko": {
        "more": "… {name} 호출 {n}번 더 (생략)",
        "deeper": "… 아래 호출 {n}번 (--depth로 생략)",
        "off": "(리스트에서 빠짐)",
        "prints": "출력",
        "changes_more": "… free list 변화 {n}개 더",
        "nothing": "(해당하는 커널 함수 호출 없음)",
        "lists": "free list",
        "schedule_kthreads": "kmemsim: 다른 태스크 차례 (kswapd, 지연된 해제)",
        "run_timers": "kmemsim: 시간이 된 지연 해제",
    },
}


def _word(lang, key, **kw) -> str:
    kw.setdefault("s", "" if kw.get("n") == 1 else "s")
    return WORDS[lang][key].format(**kw)


def list_name(decoder: Decoder, where, zone_names: bool) -> str:
    """``free_area[3].free_list[MIGRATE_MOVABLE]`` or ``pcp[cpu 0].lists[MIGRATE_MOVABLE]``,
    after the zone's name when the machine has more than one zone."""
    zone, order, mt, cpu = where
    prefix = decoder.zone_text(zone) + " " if zone_names else ""
    if cpu >= 0:
        return f"{prefix}pcp[cpu {cpu}].lists[{decoder.mt_text(mt)}]"
    return f"{prefix}free_area[{order}].free_list[{decoder.mt_text(mt)}]"


def _change_lines(decoder, changes, zone_names, lang) -> list[str]:
    out = []
    for pfn, before, after in changes[:MAX_CHANGE_LINES]:
        order = (after or before)[1]
        src = list_name(decoder, before, zone_names) if before else None
        dst = list_name(decoder, after, zone_names) if after else _word(lang, "off")
        out.append(f"pfn {pfn:#x} order {order}: {src} → {dst}" if src else
                   f"pfn {pfn:#x} order {order} → {dst}")
    if len(changes) > MAX_CHANGE_LINES:
        out.append(_word(lang, "changes_more", n=len(changes) - MAX_CHANGE_LINES))
    return out


def _call_text(call: Call, lang: str) -> str:
    text = f"{call.name}({', '.join(f'{n}={v}' for n, v in call.args)})"
    if call.own:
        return f"{text}  # {_word(lang, call.name)}"
    return text if call.ret is None else f"{text} = {call.ret}"


def render(exp: Explanation, k, fmt: str = "text", lang: str = "en",
           header: str | None = None) -> str:
    """The explanation as indented text or as a markdown nested list."""
    _check_options(None, None, 1, fmt, lang)
    decoder = Decoder(k)
    out = []
    if header:
        out.append(("# " if fmt == "text" else "## ") + header)
    for group in exp.groups:
        if not group.calls:                         # nothing selected ran in it
            continue
        out.append("")
        out.append(f"== {group.title}" if fmt == "text" else f"### `{group.title}`")
        if group.output:
            for line in group.output.rstrip("\n").split("\n"):
                out.append(f"{_word(lang, 'prints')}: {line}" if fmt == "text" else
                           f"{_word(lang, 'prints')}: `{line}`  ")
        if fmt == "markdown" and group.calls:
            out.append("")
        for call in group.calls:
            _render_call(out, call, 0, decoder, exp.zone_names, fmt, lang)
    if not any(g.calls for g in exp.groups):
        out.append(_word(lang, "nothing"))
    return "\n".join(out).lstrip("\n") + "\n"


def _line(out, level, text, fmt, code=False):
    if fmt == "text":
        out.append("  " * level + text)
    else:
        out.append("  " * level + ("- `" + text.replace("`", "'") + "`" if code else "- " + text))


def _render_call(out, call, level, decoder, zone_names, fmt, lang):
    _line(out, level, _call_text(call, lang), fmt, code=True)
    for item in call.items:
        if isinstance(item, Call):
            _render_call(out, item, level + 1, decoder, zone_names, fmt, lang)
        elif isinstance(item, Counted):
            text = (_word(lang, "more", n=item.n, name=item.name) if item.name else
                    _word(lang, "deeper", n=item.n))
            _line(out, level + 1, text, fmt)
        else:
            for text in _change_lines(decoder, item, zone_names, lang):
                _line(out, level + 1, "↳ " + text if fmt == "text" else text, fmt)


def explain(script: str | None = None, text: str | None = None, boot: bool = False,
            machine: str = "x86_64", mem: str | None = None, cpus: int | None = None,
            nodes: int | None = None, cma: str | None = None, swap: str | None = None,
            slab: bool | None = None, functions: str | None = None, depth: int | None = None,
            repeat: int = DEFAULT_REPEAT, helpers: bool = False, fmt: str = "text",
            lang: str = "en") -> str:
    """What ``kmemsim explain`` prints: the boot (``boot=True``) or a script (``text``, read
    from the file ``script`` when not given) explained, as ``fmt`` in ``lang``."""
    _check_options(functions, depth, repeat, fmt, lang)
    if boot:
        if script is not None or text is not None:
            raise KmemsimError("--boot explains the boot stages: give no SCRIPT with it")
        exp, k = explain_boot(machine, mem=mem, cpus=cpus, nodes=nodes, cma=cma, swap=swap,
                              slab=slab, patterns=functions, depth=depth, repeat=repeat,
                              helpers=helpers)
        return render(exp, k, fmt, lang, header=f"{exp.machine}: boot")
    if script is None and text is None:
        raise KmemsimError("explain: give a SCRIPT (or - for stdin), or --boot")
    where = script or "script"
    if text is None:
        try:
            text = open(script).read()
        except OSError as e:
            raise KmemsimError(f"{script}: cannot read the script: {e.strerror}") from None
    from kmemsim.kernel import boot as boot_machine
    from kmemsim.script import parse_script
    parse_script(text, where)                      # a bad line stops us before the boot
    k = boot_machine(machine, mem=mem, cpus=cpus, nodes=nodes, cma=cma, swap=swap,
                     mode="python", slab=slab)
    exp = explain_script(k, text, where, functions, depth, repeat, helpers)
    return render(exp, k, fmt, lang, header=f"{exp.machine}: {where}")
