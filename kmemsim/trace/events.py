"""Kernel: include/trace/events/kmem.h, compaction.h, vmscan.h (v3.13): the tracepoints.

Each 3.13 event kmemsim fires has an ``EV_*`` number, a row in :data:`EVENTS` (its system,
whether the kernel fires it with interrupts off, the record columns its TP_fast_assign fills,
and its TP_printk as a format string, rendered by kmemsim.trace.trace_output), and a kernel
function named as the kernel's ``trace_<event>()`` that the allocator calls at the kernel's
place.  A tracepoint that is off costs one bit test (``mem.cfg[CFG_TRACE_MASK]``, what
``set_event`` switches); one that is on writes a row of ``mem.trace_buf``, the ring buffer
(kernel/trace/ring_buffer.c, overwrite mode: the oldest row goes when it is full), in compiled
and Python mode alike.  Python turns rows into text afterwards, as the kernel's trace file does
when it is read.

A row is ``(event, timestamp ns, cpu, pid, f0 .. f5)``.  Simplifications: the timestamp is the
trace clock of :func:`trace_clock_local`; ``call_site`` of the slab events is 0 (kmemsim has no
return addresses).
"""

from __future__ import annotations

from kmemsim.jit import kernel
from kmemsim.mm.mmzone import CFG_CPU, CFG_CURRENT, CFG_HZ, CFG_JIFFIES, CFG_TRACE_CLOCK, \
    CFG_TRACE_MASK, CFG_TRACE_WRITTEN, OW_PID

__all__ = [
    "EVENTS", "EVENT_NAMES", "EVENT_IDS", "TRACE_FIELDS", "TRACE_EVENT_NS", "events_matching",
    "trace_clock_local", "trace_buffer_write",
    "trace_mm_page_alloc", "trace_mm_page_free", "trace_mm_page_free_batched",
    "trace_mm_page_alloc_zone_locked", "trace_mm_page_pcpu_drain", "trace_mm_page_alloc_extfrag",
    "trace_kmalloc", "trace_kmem_cache_alloc", "trace_kmalloc_node",
    "trace_kmem_cache_alloc_node", "trace_kfree", "trace_kmem_cache_free",
    "trace_mm_compaction_isolate_migratepages", "trace_mm_compaction_isolate_freepages",
    "trace_mm_compaction_migratepages", "trace_mm_vmscan_kswapd_sleep",
    "trace_mm_vmscan_kswapd_wake", "trace_mm_vmscan_wakeup_kswapd",
    "trace_mm_vmscan_direct_reclaim_begin", "trace_mm_vmscan_direct_reclaim_end",
    "trace_mm_vmscan_lru_isolate", "trace_mm_vmscan_writepage",
    "trace_mm_vmscan_lru_shrink_inactive",
]

# Columns of a row of mem.trace_buf
TR_EVENT = 0
TR_TS = 1
TR_CPU = 2
TR_PID = 3
TR_F0 = 4
TRACE_FIELDS = 10
# the trace clock's step between two records within one jiffy (see trace_clock_local)
TRACE_EVENT_NS = 1000

# (name, system, irqs off when fired, record columns f0.., TP_printk in kmemsim's format
# language: {column} prints %d/%lu; {column:KIND} prints through trace_output's KIND)
EVENTS = (
    ("mm_page_alloc", "kmem", False, ("page", "order", "gfp_flags", "migratetype"),
     "page={page:page} pfn={page:pfn} order={order} migratetype={migratetype} "
     "gfp_flags={gfp_flags:gfp}"),
    ("mm_page_free", "kmem", False, ("page", "order"),
     "page={page:page} pfn={page:pfn} order={order}"),
    ("mm_page_free_batched", "kmem", False, ("page", "cold"),
     "page={page:page} pfn={page:pfn} order=0 cold={cold}"),
    ("mm_page_alloc_zone_locked", "kmem", True, ("page", "order", "migratetype"),
     "page={page:page} pfn={page:pfn} order={order} migratetype={migratetype} "
     "percpu_refill={order:is_zero}"),
    ("mm_page_pcpu_drain", "kmem", True, ("page", "order", "migratetype"),
     "page={page:page} pfn={page:pfn} order={order} migratetype={migratetype}"),
    ("mm_page_alloc_extfrag", "kmem", True,
     ("page", "alloc_order", "fallback_order", "alloc_migratetype", "fallback_migratetype",
      "change_ownership"),
     "page={page:page} pfn={page:pfn} alloc_order={alloc_order} fallback_order={fallback_order} "
     "pageblock_order={page:pageblock_order} alloc_migratetype={alloc_migratetype} "
     "fallback_migratetype={fallback_migratetype} fragmenting={fallback_order:fragmenting} "
     "change_ownership={change_ownership}"),
    ("kmalloc", "kmem", False, ("call_site", "ptr", "bytes_req", "bytes_alloc", "gfp_flags"),
     "call_site={call_site:x} ptr={ptr:ptr} bytes_req={bytes_req} bytes_alloc={bytes_alloc} "
     "gfp_flags={gfp_flags:gfp}"),
    ("kmem_cache_alloc", "kmem", False, ("call_site", "ptr", "bytes_req", "bytes_alloc",
                                         "gfp_flags"),
     "call_site={call_site:x} ptr={ptr:ptr} bytes_req={bytes_req} bytes_alloc={bytes_alloc} "
     "gfp_flags={gfp_flags:gfp}"),
    ("kmalloc_node", "kmem", False, ("call_site", "ptr", "bytes_req", "bytes_alloc", "gfp_flags",
                                     "node"),
     "call_site={call_site:x} ptr={ptr:ptr} bytes_req={bytes_req} bytes_alloc={bytes_alloc} "
     "gfp_flags={gfp_flags:gfp} node={node}"),
    ("kmem_cache_alloc_node", "kmem", False, ("call_site", "ptr", "bytes_req", "bytes_alloc",
                                              "gfp_flags", "node"),
     "call_site={call_site:x} ptr={ptr:ptr} bytes_req={bytes_req} bytes_alloc={bytes_alloc} "
     "gfp_flags={gfp_flags:gfp} node={node}"),
    ("kfree", "kmem", False, ("call_site", "ptr"), "call_site={call_site:x} ptr={ptr:ptr}"),
    ("kmem_cache_free", "kmem", False, ("call_site", "ptr"),
     "call_site={call_site:x} ptr={ptr:ptr}"),
    ("mm_compaction_isolate_migratepages", "compaction", False, ("nr_scanned", "nr_taken"),
     "nr_scanned={nr_scanned} nr_taken={nr_taken}"),
    ("mm_compaction_isolate_freepages", "compaction", True, ("nr_scanned", "nr_taken"),
     "nr_scanned={nr_scanned} nr_taken={nr_taken}"),
    ("mm_compaction_migratepages", "compaction", False, ("nr_migrated", "nr_failed"),
     "nr_migrated={nr_migrated} nr_failed={nr_failed}"),
    ("mm_vmscan_kswapd_sleep", "vmscan", False, ("nid",), "nid={nid}"),
    ("mm_vmscan_kswapd_wake", "vmscan", False, ("nid", "order"), "nid={nid} order={order}"),
    ("mm_vmscan_wakeup_kswapd", "vmscan", False, ("nid", "zid", "order"),
     "nid={nid} zid={zid} order={order}"),
    ("mm_vmscan_direct_reclaim_begin", "vmscan", False, ("order", "may_writepage", "gfp_flags"),
     "order={order} may_writepage={may_writepage} gfp_flags={gfp_flags:gfp}"),
    ("mm_vmscan_direct_reclaim_end", "vmscan", False, ("nr_reclaimed",),
     "nr_reclaimed={nr_reclaimed}"),
    ("mm_vmscan_lru_isolate", "vmscan", True, ("order", "nr_requested", "nr_scanned", "nr_taken",
                                               "isolate_mode", "file"),
     "isolate_mode={isolate_mode} order={order} nr_requested={nr_requested} "
     "nr_scanned={nr_scanned} nr_taken={nr_taken} file={file}"),
    ("mm_vmscan_writepage", "vmscan", False, ("page", "reclaim_flags"),
     "page={page:page} pfn={page:pfn} flags={reclaim_flags:reclaim_flags}"),
    ("mm_vmscan_lru_shrink_inactive", "vmscan", False, ("nid", "zid", "nr_scanned",
                                                        "nr_reclaimed", "priority",
                                                        "reclaim_flags"),
     "nid={nid} zid={zid} nr_scanned={nr_scanned} nr_reclaimed={nr_reclaimed} "
     "priority={priority} flags={reclaim_flags:reclaim_flags}"),
)
EVENT_NAMES = tuple(e[0] for e in EVENTS)
EVENT_IDS = {name: i for i, name in enumerate(EVENT_NAMES)}

EV_MM_PAGE_ALLOC = 0
EV_MM_PAGE_FREE = 1
EV_MM_PAGE_FREE_BATCHED = 2
EV_MM_PAGE_ALLOC_ZONE_LOCKED = 3
EV_MM_PAGE_PCPU_DRAIN = 4
EV_MM_PAGE_ALLOC_EXTFRAG = 5
EV_KMALLOC = 6
EV_KMEM_CACHE_ALLOC = 7
EV_KMALLOC_NODE = 8
EV_KMEM_CACHE_ALLOC_NODE = 9
EV_KFREE = 10
EV_KMEM_CACHE_FREE = 11
EV_MM_COMPACTION_ISOLATE_MIGRATEPAGES = 12
EV_MM_COMPACTION_ISOLATE_FREEPAGES = 13
EV_MM_COMPACTION_MIGRATEPAGES = 14
EV_MM_VMSCAN_KSWAPD_SLEEP = 15
EV_MM_VMSCAN_KSWAPD_WAKE = 16
EV_MM_VMSCAN_WAKEUP_KSWAPD = 17
EV_MM_VMSCAN_DIRECT_RECLAIM_BEGIN = 18
EV_MM_VMSCAN_DIRECT_RECLAIM_END = 19
EV_MM_VMSCAN_LRU_ISOLATE = 20
EV_MM_VMSCAN_WRITEPAGE = 21
EV_MM_VMSCAN_LRU_SHRINK_INACTIVE = 22
assert all(EVENT_IDS[k[3:].lower()] == v for k, v in dict(globals()).items() if k.startswith("EV_"))


def events_matching(spec: str) -> list[int]:
    """The events a ``set_event``-style list names: ``kmem:*,compaction:*``,
    ``kmem:mm_page_alloc``, ``mm_page_free``, ``*:*`` or ``all``.  Raises KmemsimError for a
    name that matches nothing, listing the systems."""
    from fnmatch import fnmatchcase

    from kmemsim.errors import KmemsimError
    chosen: list[int] = []
    for word in (w.strip() for w in spec.split(",")):
        if not word:
            continue
        system, _, name = word.rpartition(":") if ":" in word else ("*", "", word)
        if word == "all":
            system, name = "*", "*"
        hits = [i for i, e in enumerate(EVENTS)
                if fnmatchcase(e[1], system or "*") and fnmatchcase(e[0], name or "*")]
        if not hits:
            raise KmemsimError(f"no trace event matches {word!r}: use system:event with systems "
                               "kmem, compaction, vmscan (e.g. kmem:*, kmem:mm_page_alloc)")
        chosen += [i for i in hits if i not in chosen]
    return sorted(chosen)


# ---- the ring buffer -----------------------------------------------------------------------
@kernel
def trace_clock_local(mem):
    """Kernel: kernel/trace/trace_clock.c trace_clock_local(), kmemsim's stand-in: simulated
    time has no nanoseconds, so the clock is the later of the jiffies clock and the previous
    record plus TRACE_EVENT_NS (monotonic, one microsecond between records of one jiffy)."""
    now = mem.cfg[CFG_JIFFIES] * (1000000000 // mem.cfg[CFG_HZ])
    ts = mem.cfg[CFG_TRACE_CLOCK] + TRACE_EVENT_NS
    if ts < now:
        ts = now
    mem.cfg[CFG_TRACE_CLOCK] = ts
    return ts


@kernel
def trace_buffer_write(mem, event, f0, f1, f2, f3, f4, f5):
    """kmemsim's own stand-in for kernel/trace/ring_buffer.c's reserve and commit: one row of
    mem.trace_buf in overwrite mode (the row written ``rows`` records ago goes)."""
    buf = mem.trace_buf
    n = mem.cfg[CFG_TRACE_WRITTEN]
    row = n % buf.shape[0]
    buf[row, TR_EVENT] = event
    buf[row, TR_TS] = trace_clock_local(mem)
    buf[row, TR_CPU] = mem.cfg[CFG_CPU]
    buf[row, TR_PID] = mem.owners[mem.cfg[CFG_CURRENT], OW_PID]
    buf[row, TR_F0] = f0
    buf[row, TR_F0 + 1] = f1
    buf[row, TR_F0 + 2] = f2
    buf[row, TR_F0 + 3] = f3
    buf[row, TR_F0 + 4] = f4
    buf[row, TR_F0 + 5] = f5
    mem.cfg[CFG_TRACE_WRITTEN] = n + 1


@kernel
def trace_event_enabled(mem, event):
    """kmemsim's own: is tracepoint ``event`` on (the kernel patches a static key instead)."""
    return (mem.cfg[CFG_TRACE_MASK] >> event) & 1 != 0


# ---- include/trace/events/kmem.h -----------------------------------------------------------
@kernel
def trace_mm_page_alloc(mem, page, order, gfp_flags, migratetype):
    """Kernel: include/trace/events/kmem.h trace_mm_page_alloc() (page -1: NULL, a failed allocation)."""
    if trace_event_enabled(mem, EV_MM_PAGE_ALLOC):
        trace_buffer_write(mem, EV_MM_PAGE_ALLOC, page, order, gfp_flags, migratetype, 0, 0)


@kernel
def trace_mm_page_free(mem, page, order):
    """Kernel: include/trace/events/kmem.h trace_mm_page_free()."""
    if trace_event_enabled(mem, EV_MM_PAGE_FREE):
        trace_buffer_write(mem, EV_MM_PAGE_FREE, page, order, 0, 0, 0, 0)


@kernel
def trace_mm_page_free_batched(mem, page, cold):
    """Kernel: include/trace/events/kmem.h trace_mm_page_free_batched()."""
    if trace_event_enabled(mem, EV_MM_PAGE_FREE_BATCHED):
        trace_buffer_write(mem, EV_MM_PAGE_FREE_BATCHED, page, cold, 0, 0, 0, 0)


@kernel
def trace_mm_page_alloc_zone_locked(mem, page, order, migratetype):
    """Kernel: include/trace/events/kmem.h trace_mm_page_alloc_zone_locked()."""
    if trace_event_enabled(mem, EV_MM_PAGE_ALLOC_ZONE_LOCKED):
        trace_buffer_write(mem, EV_MM_PAGE_ALLOC_ZONE_LOCKED, page, order, migratetype, 0, 0, 0)


@kernel
def trace_mm_page_pcpu_drain(mem, page, order, migratetype):
    """Kernel: include/trace/events/kmem.h trace_mm_page_pcpu_drain()."""
    if trace_event_enabled(mem, EV_MM_PAGE_PCPU_DRAIN):
        trace_buffer_write(mem, EV_MM_PAGE_PCPU_DRAIN, page, order, migratetype, 0, 0, 0)


@kernel
def trace_mm_page_alloc_extfrag(mem, page, alloc_order, fallback_order, alloc_migratetype,
                                fallback_migratetype, new_migratetype):
    """Kernel: include/trace/events/kmem.h trace_mm_page_alloc_extfrag(); change_ownership is new == alloc migratetype."""
    if trace_event_enabled(mem, EV_MM_PAGE_ALLOC_EXTFRAG):
        trace_buffer_write(mem, EV_MM_PAGE_ALLOC_EXTFRAG, page, alloc_order, fallback_order,
                           alloc_migratetype, fallback_migratetype,
                           1 if new_migratetype == alloc_migratetype else 0)


@kernel
def trace_kmalloc(mem, ptr, bytes_req, bytes_alloc, gfp_flags):
    """Kernel: include/trace/events/kmem.h trace_kmalloc() (ptr: the object's physical address, -1 NULL, 0x10 ZERO_SIZE)."""
    if trace_event_enabled(mem, EV_KMALLOC):
        trace_buffer_write(mem, EV_KMALLOC, 0, ptr, bytes_req, bytes_alloc, gfp_flags, 0)


@kernel
def trace_kmem_cache_alloc(mem, ptr, bytes_req, bytes_alloc, gfp_flags):
    """Kernel: include/trace/events/kmem.h trace_kmem_cache_alloc()."""
    if trace_event_enabled(mem, EV_KMEM_CACHE_ALLOC):
        trace_buffer_write(mem, EV_KMEM_CACHE_ALLOC, 0, ptr, bytes_req, bytes_alloc, gfp_flags, 0)


@kernel
def trace_kmalloc_node(mem, ptr, bytes_req, bytes_alloc, gfp_flags, node):
    """Kernel: include/trace/events/kmem.h trace_kmalloc_node()."""
    if trace_event_enabled(mem, EV_KMALLOC_NODE):
        trace_buffer_write(mem, EV_KMALLOC_NODE, 0, ptr, bytes_req, bytes_alloc, gfp_flags, node)


@kernel
def trace_kmem_cache_alloc_node(mem, ptr, bytes_req, bytes_alloc, gfp_flags, node):
    """Kernel: include/trace/events/kmem.h trace_kmem_cache_alloc_node()."""
    if trace_event_enabled(mem, EV_KMEM_CACHE_ALLOC_NODE):
        trace_buffer_write(mem, EV_KMEM_CACHE_ALLOC_NODE, 0, ptr, bytes_req, bytes_alloc,
                           gfp_flags, node)


@kernel
def trace_kfree(mem, ptr):
    """Kernel: include/trace/events/kmem.h trace_kfree()."""
    if trace_event_enabled(mem, EV_KFREE):
        trace_buffer_write(mem, EV_KFREE, 0, ptr, 0, 0, 0, 0)


@kernel
def trace_kmem_cache_free(mem, ptr):
    """Kernel: include/trace/events/kmem.h trace_kmem_cache_free()."""
    if trace_event_enabled(mem, EV_KMEM_CACHE_FREE):
        trace_buffer_write(mem, EV_KMEM_CACHE_FREE, 0, ptr, 0, 0, 0, 0)


# ---- include/trace/events/compaction.h -----------------------------------------------------
@kernel
def trace_mm_compaction_isolate_migratepages(mem, nr_scanned, nr_taken):
    """Kernel: include/trace/events/compaction.h trace_mm_compaction_isolate_migratepages()."""
    if trace_event_enabled(mem, EV_MM_COMPACTION_ISOLATE_MIGRATEPAGES):
        trace_buffer_write(mem, EV_MM_COMPACTION_ISOLATE_MIGRATEPAGES, nr_scanned, nr_taken,
                           0, 0, 0, 0)


@kernel
def trace_mm_compaction_isolate_freepages(mem, nr_scanned, nr_taken):
    """Kernel: include/trace/events/compaction.h trace_mm_compaction_isolate_freepages()."""
    if trace_event_enabled(mem, EV_MM_COMPACTION_ISOLATE_FREEPAGES):
        trace_buffer_write(mem, EV_MM_COMPACTION_ISOLATE_FREEPAGES, nr_scanned, nr_taken,
                           0, 0, 0, 0)


@kernel
def trace_mm_compaction_migratepages(mem, nr_migrated, nr_failed):
    """Kernel: include/trace/events/compaction.h trace_mm_compaction_migratepages()."""
    if trace_event_enabled(mem, EV_MM_COMPACTION_MIGRATEPAGES):
        trace_buffer_write(mem, EV_MM_COMPACTION_MIGRATEPAGES, nr_migrated, nr_failed,
                           0, 0, 0, 0)


# ---- include/trace/events/vmscan.h ---------------------------------------------------------
@kernel
def trace_mm_vmscan_kswapd_sleep(mem, nid):
    """Kernel: include/trace/events/vmscan.h trace_mm_vmscan_kswapd_sleep()."""
    if trace_event_enabled(mem, EV_MM_VMSCAN_KSWAPD_SLEEP):
        trace_buffer_write(mem, EV_MM_VMSCAN_KSWAPD_SLEEP, nid, 0, 0, 0, 0, 0)


@kernel
def trace_mm_vmscan_kswapd_wake(mem, nid, order):
    """Kernel: include/trace/events/vmscan.h trace_mm_vmscan_kswapd_wake()."""
    if trace_event_enabled(mem, EV_MM_VMSCAN_KSWAPD_WAKE):
        trace_buffer_write(mem, EV_MM_VMSCAN_KSWAPD_WAKE, nid, order, 0, 0, 0, 0)


@kernel
def trace_mm_vmscan_wakeup_kswapd(mem, nid, zid, order):
    """Kernel: include/trace/events/vmscan.h trace_mm_vmscan_wakeup_kswapd()."""
    if trace_event_enabled(mem, EV_MM_VMSCAN_WAKEUP_KSWAPD):
        trace_buffer_write(mem, EV_MM_VMSCAN_WAKEUP_KSWAPD, nid, zid, order, 0, 0, 0)


@kernel
def trace_mm_vmscan_direct_reclaim_begin(mem, order, may_writepage, gfp_flags):
    """Kernel: include/trace/events/vmscan.h trace_mm_vmscan_direct_reclaim_begin()."""
    if trace_event_enabled(mem, EV_MM_VMSCAN_DIRECT_RECLAIM_BEGIN):
        trace_buffer_write(mem, EV_MM_VMSCAN_DIRECT_RECLAIM_BEGIN, order, may_writepage,
                           gfp_flags, 0, 0, 0)


@kernel
def trace_mm_vmscan_direct_reclaim_end(mem, nr_reclaimed):
    """Kernel: include/trace/events/vmscan.h trace_mm_vmscan_direct_reclaim_end()."""
    if trace_event_enabled(mem, EV_MM_VMSCAN_DIRECT_RECLAIM_END):
        trace_buffer_write(mem, EV_MM_VMSCAN_DIRECT_RECLAIM_END, nr_reclaimed, 0, 0, 0, 0, 0)


@kernel
def trace_mm_vmscan_lru_isolate(mem, order, nr_requested, nr_scanned, nr_taken, isolate_mode,
                                file):
    """Kernel: include/trace/events/vmscan.h trace_mm_vmscan_lru_isolate()."""
    if trace_event_enabled(mem, EV_MM_VMSCAN_LRU_ISOLATE):
        trace_buffer_write(mem, EV_MM_VMSCAN_LRU_ISOLATE, order, nr_requested, nr_scanned,
                           nr_taken, isolate_mode, file)


@kernel
def trace_mm_vmscan_writepage(mem, page, reclaim_flags):
    """Kernel: include/trace/events/vmscan.h trace_mm_vmscan_writepage()."""
    if trace_event_enabled(mem, EV_MM_VMSCAN_WRITEPAGE):
        trace_buffer_write(mem, EV_MM_VMSCAN_WRITEPAGE, page, reclaim_flags, 0, 0, 0, 0)


@kernel
def trace_mm_vmscan_lru_shrink_inactive(mem, nid, zid, nr_scanned, nr_reclaimed, priority,
                                        reclaim_flags):
    """Kernel: include/trace/events/vmscan.h trace_mm_vmscan_lru_shrink_inactive()."""
    if trace_event_enabled(mem, EV_MM_VMSCAN_LRU_SHRINK_INACTIVE):
        trace_buffer_write(mem, EV_MM_VMSCAN_LRU_SHRINK_INACTIVE, nid, zid, nr_scanned,
                           nr_reclaimed, priority, reclaim_flags)
