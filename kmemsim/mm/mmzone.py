"""Zones, free areas, migratetypes: the allocator's state as flat typed arrays.

Kernel: include/linux/mmzone.h, mm/mmzone.c (v3.13).

The kernel keeps one ``struct page`` (64 bytes on x86-64) per page frame and one ``struct zone``
per zone.  kmemsim keeps the same fields as a *struct of arrays*, indexed by pfn for pages and by
zone id (``nid * MAX_NR_ZONES + zone_idx``, the kernel's ``page_zone_id``) for zones, all held in
one :class:`Mem` named tuple that every kernel function takes first.  16 bytes per page:

=============  =======  ==========================================================================
array          type     kernel field
=============  =======  ==========================================================================
``flags``      uint32   ``page->flags``: PG_* bits, and the zone id in the top byte
                        (set_page_links); see :mod:`kmemsim.mm.page_flags`
``private``    uint8    ``page_private(page)``: the order of a free block's head page
``index``      int8     ``page->index`` as the *freepage migratetype* (set_freepage_migratetype)
``count``      int16    ``page->_count`` (the kernel's is an atomic_t; 32767 is plenty here)
``lru_next``   int32    ``page->lru.next``
``lru_prev``   int32    ``page->lru.prev``
=============  =======  ==========================================================================

Compiled-code note: a kernel function never *returns* ``a and b`` / ``a or b`` built from
``mem`` fields; numba then keeps every array of ``mem`` alive across the branch and pays ~200 ns
in reference counting per call.  Such functions use ``if`` statements instead.

List heads (``free_area[order].free_list[migratetype]`` of every zone, and later the per-CPU and
LRU lists) are sentinel entries of ``lru_next``/``lru_prev`` placed after the last pfn, so a list
is circular and doubly linked exactly like a ``struct list_head``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from kmemsim.jit import kernel

__all__ = [
    "PAGE_SHIFT", "PAGE_SIZE", "MAX_ORDER", "MAX_ORDER_NR_PAGES", "PAGE_ALLOC_COSTLY_ORDER",
    "MIGRATE_UNMOVABLE", "MIGRATE_RECLAIMABLE", "MIGRATE_MOVABLE", "MIGRATE_PCPTYPES",
    "MIGRATE_RESERVE", "MIGRATE_TYPES_MAX", "ZONE_NAMES", "ZONE_STAT_ITEMS", "NUMA_STAT_ITEMS",
    "Mem", "free_list", "pcp_list", "lru_list_head", "owner_head", "scratch_list", "zone_end_pfn", "zone_spans_pfn", "pfn_valid", "pfn_valid_within",
    "page_zone_id", "page_zonenum", "page_to_nid", "populated_zone",
    "is_migrate_cma", "is_migrate_isolate", "migratetype_names", "migrate_types",
]

PAGE_SHIFT = 12
PAGE_SIZE = 1 << PAGE_SHIFT
MAX_ORDER = 11
MAX_ORDER_NR_PAGES = 1 << (MAX_ORDER - 1)
PAGE_ALLOC_COSTLY_ORDER = 3
SECTION_SIZE_BITS = 27            # x86-64 SPARSEMEM: 128 MiB sections
PAGES_PER_SECTION = 1 << (SECTION_SIZE_BITS - PAGE_SHIFT)

# enum migratetype (the first four never change; CMA and ISOLATE follow when configured)
MIGRATE_UNMOVABLE = 0
MIGRATE_RECLAIMABLE = 1
MIGRATE_MOVABLE = 2
MIGRATE_PCPTYPES = 3
MIGRATE_RESERVE = MIGRATE_PCPTYPES
MIGRATE_TYPES_MAX = 6             # with both CONFIG_CMA and CONFIG_MEMORY_ISOLATION

# Names printed by /proc for each zone type (mm/page_alloc.c zone_names[])
ZONE_NAMES = ("DMA", "DMA32", "Normal", "HighMem", "Movable")

# enum zone_stat_item (3.13).  The six NUMA items exist only with CONFIG_NUMA; kmemsim always
# keeps their slots so that item numbers are constants, and the printers skip them without NUMA.
ZONE_STAT_ITEMS = (
    "nr_free_pages", "nr_alloc_batch", "nr_inactive_anon", "nr_active_anon", "nr_inactive_file",
    "nr_active_file", "nr_unevictable", "nr_mlock", "nr_anon_pages", "nr_mapped",
    "nr_file_pages", "nr_dirty", "nr_writeback", "nr_slab_reclaimable", "nr_slab_unreclaimable",
    "nr_page_table_pages", "nr_kernel_stack", "nr_unstable", "nr_bounce", "nr_vmscan_write",
    "nr_vmscan_immediate_reclaim", "nr_writeback_temp", "nr_isolated_anon", "nr_isolated_file",
    "nr_shmem", "nr_dirtied", "nr_written", "numa_hit", "numa_miss", "numa_foreign",
    "numa_interleave", "numa_local", "numa_other", "nr_anon_transparent_hugepages",
    "nr_free_cma",
)
NUMA_STAT_ITEMS = frozenset(range(27, 33))
NR_VM_ZONE_STAT_ITEMS = len(ZONE_STAT_ITEMS)
NR_FREE_PAGES = 0
NR_ALLOC_BATCH = 1
NR_FREE_CMA_PAGES = 34

# enum zone_watermarks
WMARK_MIN = 0
WMARK_LOW = 1
WMARK_HIGH = 2

# Slots of Mem.cfg: machine configuration read by compiled code.
CFG_NR_PFNS = 0            # length of the page arrays (a multiple of MAX_ORDER_NR_PAGES)
CFG_PAGEBLOCK_ORDER = 1
CFG_MIGRATE_TYPES = 2      # MIGRATE_TYPES of this configuration (4, 5 or 6)
CFG_MIGRATE_CMA = 3        # its number, or -1 without CONFIG_CMA
CFG_MIGRATE_ISOLATE = 4    # its number, or -1 without CONFIG_MEMORY_ISOLATION
CFG_MOBILITY_DISABLED = 5  # page_group_by_mobility_disabled
CFG_MAX_NR_ZONES = 6
CFG_NR_NODES = 7
CFG_FREE_LIST_BASE = 8     # index of the first free-list head in lru_next/lru_prev
CFG_SPARSEMEM = 9          # 1: pageblock bits per section (global); 0: per zone (FLATMEM)
CFG_HIGHMEM_IDX = 10       # zone index of ZONE_HIGHMEM, or -1
CFG_MOVABLE_IDX = 11       # zone index of ZONE_MOVABLE
CFG_NORMAL_IDX = 12        # zone index of ZONE_NORMAL
CFG_CPU = 13               # the current CPU (smp_processor_id()), set by the caller's driver
CFG_NR_CPUS = 14           # online CPUs (nr_cpu_ids)
CFG_PCP_LIST_BASE = 15     # index of the first per-CPU list head in lru_next/lru_prev
CFG_EV_PGALLOC = 16        # vm event number of PGALLOC_<first zone>
CFG_EV_PGFREE = 17         # vm event number of PGFREE
CFG_NUMA = 18              # CONFIG_NUMA
CFG_GFP_ALLOWED_MASK = 19  # gfp_allowed_mask (GFP_BOOT_MASK until boot enables interrupts)
CFG_JIFFIES = 20           # simulated time (advances with the slow-path issue's clock)
CFG_HZ = 21
CFG_ZONE_RECLAIM_MODE = 22
CFG_SLOWPATH_NEEDED = 23   # allocations the slow path gave up on where reclaim would come next
CFG_LRU_LIST_BASE = 24     # index of the first LRU list head in lru_next/lru_prev
CFG_RMAP_HEAD_BASE = 25    # index of owner 0's page-list head in rmap_next/rmap_prev
CFG_MAX_OWNERS = 26        # rows of Mem.owners (owner 0 is the default task context)
CFG_CURRENT = 27           # the running task (a row of Mem.owners); 0: an ordinary process
CFG_TOTAL_SWAP_PAGES = 28  # total_swap_pages
CFG_NR_SWAP_PAGES = 29     # nr_swap_pages: free swap slots
CFG_EXTFRAG_THRESHOLD = 30 # vm.extfrag_threshold
CFG_BDI_CONGESTED = 31     # bit BLK_RW_ASYNC / BLK_RW_SYNC: the backing device is congested
CFG_NR_WRITEBACK = 32      # pages under writeback on the (one) backing device
CFG_CONGESTION_ON = 33     # writeback pages at which the device becomes congested
CFG_CONGESTION_OFF = 34    # ... and below which it is no longer
CFG_OOM_KILLER_DISABLED = 35
CFG_LAPTOP_MODE = 36
CFG_COMPACTION = 37        # CONFIG_COMPACTION (1 on every kmemsim machine; 0 to try without)
CFG_NEXT_PID = 38
CFG_SCRATCH_LIST_BASE = 39 # index of the first on-stack list head (LH_*) in lru_next/lru_prev
CFG_KLOG_NEXT = 40         # records written to Mem.klog so far (the next goes to this % KLOG_SIZE)
CFG_REPORT_SEQ = 41        # which klog record Mem.report_buf's snapshot belongs to (-1: none)
CFG_WB_HEAD = 42           # writeback queue (Mem.wb_ring): pages started so far
CFG_WB_TAIL = 43           # ... and completed so far
CFG_WB_RATE = 44           # pages the backing device writes per jiffy
CFG_WB_CREDIT = 45         # jiffies of device time not yet used for writing
CFG_SWAPPINESS = 46        # vm.swappiness
CFG_FLUSHER_PENDING = 47   # pages the flusher threads were asked to write
CFG_TRACE_MASK = 48        # enabled tracepoints: bit EV_* of kmemsim.trace.events (set_event)
CFG_TRACE_WRITTEN = 49     # records written to Mem.trace_buf so far (the next goes to this % rows)
CFG_TRACE_CLOCK = 50       # the trace clock, ns: the last record's timestamp
NR_CFG = 51

# Mem.scan_control[row, :]: struct scan_control (mm/vmscan.c), one row for direct reclaim and
# one for kswapd, which may run while a direct reclaimer sleeps.
SC_DIRECT = 0
SC_KSWAPD = 1
SC_NR_SCANNED = 0
SC_NR_RECLAIMED = 1
SC_NR_TO_RECLAIM = 2
SC_GFP_MASK = 3
SC_MAY_WRITEPAGE = 4
SC_MAY_UNMAP = 5
SC_MAY_SWAP = 6
SC_ORDER = 7
SC_PRIORITY = 8
SC_NR = 9                         # nr[NR_LRU_LISTS] of shrink_lruvec
SC_TARGETS = 14                   # targets[NR_LRU_LISTS]
NR_SC = 19

# Mem.klog: what compiled code would printk, as numbers (Python renders the text afterwards:
# kmemsim.mm.show_mem).  Each row: (KLOG_* type, jiffies, six fields the type defines).
KLOG_SIZE = 256
KLOG_FIELDS = 8

# enum lru_list
LRU_INACTIVE_ANON = 0
LRU_ACTIVE_ANON = 1
LRU_INACTIVE_FILE = 2
LRU_ACTIVE_FILE = 3
LRU_UNEVICTABLE = 4
NR_LRU_LISTS = 5
LRU_BASE = 0
LRU_ACTIVE = 1
LRU_FILE = 2
LRU_NAMES = ("inactive_anon", "active_anon", "inactive_file", "active_file", "unevictable")

# Slots of Mem.zone_misc[zone, :]: the struct zone fields of reclaim and compaction.
ZM_COMPACT_CACHED_MIGRATE_PFN = 0
ZM_COMPACT_CACHED_FREE_PFN = 1
ZM_COMPACT_CONSIDERED = 2
ZM_COMPACT_DEFER_SHIFT = 3
ZM_COMPACT_ORDER_FAILED = 4
ZM_COMPACT_BLOCKSKIP_FLUSH = 5
ZM_FLAGS = 6                      # enum zone_flags bits
ZM_RECENT_ROTATED_ANON = 7        # zone->lruvec.reclaim_stat.recent_rotated[0]
ZM_RECENT_ROTATED_FILE = 8
ZM_RECENT_SCANNED_ANON = 9
ZM_RECENT_SCANNED_FILE = 10
ZM_INACTIVE_RATIO = 11            # unused slot kept free (inactive_ratio has its own array)
NR_ZONE_MISC = 12

# enum zone_flags (bit numbers in zone_misc[zone, ZM_FLAGS])
ZONE_RECLAIM_LOCKED = 0
ZONE_OOM_LOCKED = 1
ZONE_CONGESTED = 2
ZONE_TAIL_LRU_DIRTY = 3
ZONE_WRITEBACK = 4

# Slots of Mem.pgdat_misc[nid, :]: pg_data_t's kswapd fields and kswapd's own loop state.
PGDAT_KSWAPD_MAX_ORDER = 0
PGDAT_CLASSZONE_IDX = 1
PGDAT_KSWAPD_STATE = 2            # KSWAPD_* below
PGDAT_KSWAPD_ORDER = 3            # kswapd()'s local variables, kept across its sleeps
PGDAT_KSWAPD_CLASSZONE = 4
PGDAT_KSWAPD_BALANCED_ORDER = 5
PGDAT_KSWAPD_BALANCED_CLASSZONE = 6
PGDAT_KSWAPD_SLEEP_UNTIL = 7      # jiffies a short (HZ/10) sleep ends
PGDAT_KSWAPD_WOKEN = 8            # woken since it last took a request (ends a nap early)
PGDAT_KSWAPD_TASK = 9             # kswapd's row of Mem.owners
NR_PGDAT_MISC = 10
KSWAPD_SLEEPING = 0               # on its wait queue until woken
KSWAPD_RUNNABLE = 1               # woken (wakeup_kswapd), runs when the scheduler lets it
KSWAPD_NAPPING = 2                # the short sleep of kswapd_try_to_sleep()

# List heads the kernel keeps on the stack (LIST_HEAD(page_list) ...), as sentinel entries of
# lru_next/lru_prev after the LRU heads: pages isolated from the LRU travel on them via
# page->lru exactly as in the kernel.  One set is enough: kmemsim runs one reclaimer at a time.
LH_PAGE_LIST = 0                  # shrink_inactive_list's page_list
LH_HOLD = 1                       # shrink_active_list's l_hold
LH_ACTIVE = 2                     # shrink_active_list's l_active
LH_INACTIVE = 3                   # shrink_active_list's l_inactive
LH_RET = 4                        # shrink_page_list's ret_pages
LH_FREE = 5                       # shrink_page_list's free_pages
LH_MIGRATEPAGES = 6               # compact_control.migratepages
LH_SPARE = 7
# 8, 9, 10: kmem_cache_shrink()'s lists (kmemsim.mm.slub LH_SLAB_*)
NR_SCRATCH_LISTS = 11

# Per-CPU pagevecs (mm/swap.c): Mem.pagevecs[cpu, which, 0] is nr, [1:] the pages.
PAGEVEC_SIZE = 14
PVEC_LRU_ADD = 0
PVEC_LRU_ROTATE = 1
PVEC_LRU_DEACTIVATE = 2
PVEC_ACTIVATE = 3
PVEC_ONSTACK = 4                  # a caller's struct pagevec on its stack (invalidate_mapping_pages)
NR_PAGEVECS = 5

# Columns of Mem.owners[owner, :]: what a page can belong to.  Row 0 is the default task
# context (an ordinary process that owns nothing); kmemsim.sim.owners fills the rest.
OW_KIND = 0                       # OWNER_* below
OW_PID = 1
OW_FLAGS = 2                      # task->flags (PF_*) of a task
OW_TIF = 3                        # thread flags: TIF_MEMDIE
OW_OOM_SCORE_ADJ = 4
OW_RSS = 5                        # resident pages (MM_ANONPAGES of a task, nrpages of a file)
OW_SWAP = 6                       # swap entries (MM_SWAPENTS)
OW_DIRTY = 7                      # dirty page-cache pages of a file
OW_NR_PTES = 8                    # page-table pages charged to the task
OW_TOTAL_VM = 9                   # pages mapped (for the OOM report)
NR_OWNER_FIELDS = 10
# task->flags (include/linux/sched.h, v3.13) kept in owners[task, OW_FLAGS], and kmemsim's two
PF_EXITING = 0x00000004
PF_EXITPIDONE = 0x00000008        # do_exit() has run to its end: kmemsim's exit_state
PF_SUPERPRIV = 0x00000100         # kmemsim: the task has CAP_SYS_ADMIN (is root)
PF_MEMALLOC = 0x00000800
PF_KSWAPD = 0x00040000
PF_KTHREAD = 0x00200000
PF_SWAPWRITE = 0x00800000
TIF_MEMDIE_BIT = 1                # owners[task, OW_TIF]: the thread flag TIF_MEMDIE
OWNER_FREE = 0
OWNER_TASK = 1                    # a task: its pages are anonymous memory
OWNER_FILE = 2                    # a file: its pages are page cache
OWNER_KTHREAD = 3                 # a kernel thread (kswapd): owns no pages

# struct per_cpu_pages fields in Mem.pcp[cpu, zone, :]
PCP_COUNT = 0
PCP_HIGH = 1
PCP_BATCH = 2


class Mem(NamedTuple):
    """All allocator state of one machine (the pages of every node and all of its zones)."""

    cfg: np.ndarray               # int64[NR_CFG]
    # struct page, pfn-indexed
    flags: np.ndarray             # uint32[nr_pfns]
    private: np.ndarray           # uint8[nr_pfns]
    index: np.ndarray             # int8[nr_pfns]
    count: np.ndarray             # int16[nr_pfns]
    lru_next: np.ndarray          # int32[nr_pfns + nr_heads]
    lru_prev: np.ndarray          # int32[nr_pfns + nr_heads]
    # pageblock bits: 3 migratetype bits and PB_migrate_skip, one byte per pageblock
    pageblock_flags: np.ndarray   # uint8[...]
    # struct zone, indexed by zone id
    zone_start_pfn: np.ndarray    # int64[nr_zone_ids]
    spanned_pages: np.ndarray     # int64[nr_zone_ids]
    present_pages: np.ndarray     # int64[nr_zone_ids]
    managed_pages: np.ndarray     # int64[nr_zone_ids]
    zone_pb_start: np.ndarray     # int64: first pfn covered by the zone's pageblock bitmap
    zone_pb_base: np.ndarray      # int64: index of that pfn's pageblock in pageblock_flags
    watermark: np.ndarray         # int64[nr_zone_ids, 3]
    nr_free: np.ndarray           # int64[nr_zone_ids, MAX_ORDER]: free_area[order].nr_free
    vm_stat: np.ndarray           # int64[nr_zone_ids, NR_VM_ZONE_STAT_ITEMS]
    # policy tables
    fallbacks: np.ndarray         # int8[MIGRATE_TYPES_MAX, 4]
    gfp_zone_table: np.ndarray    # int8[16]: GFP_ZONE_TABLE, -1 for the invalid combinations
    # more of struct zone
    lowmem_reserve: np.ndarray    # int64[nr_zone_ids, MAX_NR_ZONES]
    pages_scanned: np.ndarray     # int64[nr_zone_ids]
    percpu_drift_mark: np.ndarray # int64[nr_zone_ids]
    # struct per_cpu_pageset, per CPU and zone
    pcp: np.ndarray               # int64[nr_cpus, nr_zone_ids, 3]: count, high, batch
    stat_threshold: np.ndarray    # int8[nr_cpus, nr_zone_ids]
    vm_stat_diff: np.ndarray      # int8[nr_cpus, nr_zone_ids, NR_VM_ZONE_STAT_ITEMS]
    vm_events: np.ndarray         # int64[nr_cpus, NR_VM_EVENT_ITEMS]
    cpu_to_node: np.ndarray       # int64[nr_cpus]
    # node_zonelists[nid][ZONELIST_FALLBACK / ZONELIST_NOFALLBACK]: zone ids, -1 ends each
    zonelists: np.ndarray         # int64[nr_nodes, 2, nr_zone_ids + 1]
    zlc_fullzones: np.ndarray     # int8[nr_nodes, nr_zone_ids + 1]: zonelist cache of zonelist 0
    zlc_last_full_zap: np.ndarray # int64[nr_nodes]
    reclaim_nodes: np.ndarray     # int8[nr_nodes, nr_nodes]: pgdat->reclaim_nodes
    inactive_ratio: np.ndarray    # int64[nr_zone_ids]
    # the slow path's state (kmemsim.mm.vmscan, compaction, swap, oom_kill)
    vm_event_index: np.ndarray    # int64[NR_EV]: this machine's number of each EV_* event, or -1
    zone_misc: np.ndarray         # int64[nr_zone_ids, NR_ZONE_MISC]
    pgdat_misc: np.ndarray        # int64[nr_nodes, NR_PGDAT_MISC]
    pagevecs: np.ndarray          # int32[nr_cpus, NR_PAGEVECS, 1 + PAGEVEC_SIZE]
    # who owns a page: page->mapping as an owner row (0: nobody), and each owner's pages on a
    # list of its own (heads after the pfns), standing for its page tables or page cache
    mapping: np.ndarray           # int32[nr_pfns]
    rmap_next: np.ndarray         # int32[nr_pfns + max_owners]
    rmap_prev: np.ndarray         # int32[nr_pfns + max_owners]
    owners: np.ndarray            # int64[max_owners, NR_OWNER_FIELDS]
    # compaction's struct compact_control and its isolated free pages (mm/compaction.py)
    compact_cc: np.ndarray        # int64[NR_CC]
    compact_freepages: np.ndarray # int64[FREEPAGES_MAX]
    # the kernel log as numbers, and one snapshot of the state a report prints (the OOM
    # report's show_free_areas and task table), taken when the report is logged
    scan_control: np.ndarray      # int64[2, NR_SC]
    wb_ring: np.ndarray           # int32[nr_pfns]: pages under writeback, oldest first
    timers: np.ndarray            # int64[NR_TIMERS, 3]: deferred frees (kmemsim.sim.sched)
    klog: np.ndarray              # int64[KLOG_SIZE, KLOG_FIELDS]
    report_buf: np.ndarray        # int64[report_buf_size(...)]
    # SLUB (kmemsim.mm.slub explains each): caches, their per-CPU and per-node structures,
    # the slab fields of struct page, and the free pointers kept inside free objects
    slub_cfg: np.ndarray          # int64[NR_SCFG]
    kmem_cache: np.ndarray        # int64[MAX_KMEM_CACHES, NR_KC]
    kmem_cache_cpu: np.ndarray    # int64[nr_cpus, MAX_KMEM_CACHES, NR_KCC]
    kmem_cache_node: np.ndarray   # int64[MAX_KMEM_CACHES * nr_nodes, NR_KN]
    slub_stat: np.ndarray         # int64[MAX_KMEM_CACHES, NR_SLUB_STAT_ITEMS]
    kmalloc_caches: np.ndarray    # int64[2, KMALLOC_SHIFT_HIGH + 1]: kmalloc, dma-kmalloc rows
    size_index: np.ndarray        # int8[24]
    slab_cache: np.ndarray        # int16[nr_pfns]: page->slab_cache (only while PG_slab)
    slab_freelist: np.ndarray     # int16[nr_pfns]: page->freelist, an object index (-1: NULL)
    slab_inuse: np.ndarray        # int16[nr_pfns]: page->inuse
    slab_objects: np.ndarray      # int16[nr_pfns]: page->objects
    slab_frozen: np.ndarray       # int8[nr_pfns]: page->frozen
    slab_objbase: np.ndarray      # int32[nr_pfns]: the slab's segment of slab_objnext
    slab_objnext: np.ndarray      # int32[pool]: free pointers (grown by kmemsim.kernel)
    # the trace ring buffer (kmemsim.trace.events): one row per record, overwritten oldest first;
    # one row while tracing is off, sized by kmemsim.trace.tracer when it is switched on
    trace_buf: np.ndarray         # int64[rows, TRACE_FIELDS]


def report_buf_size(nr_zone_ids: int, max_owners: int, nr_cpus: int) -> int:
    """Length of Mem.report_buf: room for a header, each zone's counters, free-area counts
    per order and migratetype, watermarks, reserves and per-CPU counts, and a row per owner."""
    per_zone = NR_VM_ZONE_STAT_ITEMS + MAX_ORDER * (1 + MIGRATE_TYPES_MAX) + 32 + 4 * nr_cpus
    return 1024 + nr_zone_ids * per_zone + max_owners * 16


def migrate_types(cma: bool, isolation: bool) -> tuple[int, int, int]:
    """(MIGRATE_TYPES, MIGRATE_CMA, MIGRATE_ISOLATE) of a configuration; -1 when absent."""
    n = MIGRATE_PCPTYPES + 1
    mt_cma = mt_isolate = -1
    if cma:
        mt_cma, n = n, n + 1
    if isolation:
        mt_isolate, n = n, n + 1
    return n, mt_cma, mt_isolate


def migratetype_names(cma: bool, isolation: bool) -> tuple[str, ...]:
    """migratetype_names[] of mm/vmstat.c for a configuration."""
    names = ["Unmovable", "Reclaimable", "Movable", "Reserve"]
    if cma:
        names.append("CMA")
    if isolation:
        names.append("Isolate")
    return tuple(names)


def fallbacks_table(cma: bool, isolation: bool) -> np.ndarray:
    """fallbacks[][] of mm/page_alloc.c (3.13) as an array; rows end with MIGRATE_RESERVE."""
    _, mt_cma, mt_isolate = migrate_types(cma, isolation)
    rows = {
        MIGRATE_UNMOVABLE: (MIGRATE_RECLAIMABLE, MIGRATE_MOVABLE, MIGRATE_RESERVE),
        MIGRATE_RECLAIMABLE: (MIGRATE_UNMOVABLE, MIGRATE_MOVABLE, MIGRATE_RESERVE),
        MIGRATE_MOVABLE: ((mt_cma,) if cma else ()) + (MIGRATE_RECLAIMABLE, MIGRATE_UNMOVABLE,
                                                        MIGRATE_RESERVE),
        MIGRATE_RESERVE: (MIGRATE_RESERVE,),
    }
    if cma:
        rows[mt_cma] = (MIGRATE_RESERVE,)
    if isolation:
        rows[mt_isolate] = (MIGRATE_RESERVE,)
    table = np.full((MIGRATE_TYPES_MAX, 4), MIGRATE_RESERVE, dtype=np.int8)
    for mt, row in rows.items():
        table[mt, : len(row)] = row
    return table


# ---- accessors, named as the kernel's helpers --------------------------------------------------

@kernel
def pcp_list(mem, cpu, zone, migratetype):
    """Index of the list head ``per_cpu_ptr(zone->pageset, cpu)->pcp.lists[migratetype]``."""
    return (mem.cfg[CFG_PCP_LIST_BASE]
            + (cpu * mem.managed_pages.shape[0] + zone) * MIGRATE_PCPTYPES + migratetype)


@kernel
def lru_list_head(mem, zone, lru):
    """Index of the list head ``zone->lruvec.lists[lru]``."""
    return mem.cfg[CFG_LRU_LIST_BASE] + zone * NR_LRU_LISTS + lru


@kernel
def scratch_list(mem, which):
    """Index of the on-stack list head ``which`` (LH_*)."""
    return mem.cfg[CFG_SCRATCH_LIST_BASE] + which


@kernel
def owner_head(mem, owner):
    """Index of the head of ``owner``'s page list in rmap_next/rmap_prev."""
    return mem.cfg[CFG_RMAP_HEAD_BASE] + owner


@kernel
def free_list(mem, zone, order, migratetype):
    """Index of the list head ``zone->free_area[order].free_list[migratetype]``."""
    return (mem.cfg[CFG_FREE_LIST_BASE]
            + (zone * MAX_ORDER + order) * mem.cfg[CFG_MIGRATE_TYPES] + migratetype)


@kernel
def zone_end_pfn(mem, zone):
    """Kernel: include/linux/mmzone.h zone_end_pfn()."""
    return mem.zone_start_pfn[zone] + mem.spanned_pages[zone]


@kernel
def zone_spans_pfn(mem, zone, pfn):
    """Kernel: include/linux/mmzone.h zone_spans_pfn()."""
    if pfn < mem.zone_start_pfn[zone]:
        return False
    return pfn < zone_end_pfn(mem, zone)


@kernel
def populated_zone(mem, zone):
    """Kernel: include/linux/mmzone.h populated_zone(): the zone has present pages."""
    return mem.present_pages[zone] != 0


@kernel
def pfn_valid(mem, pfn):
    """Whether a ``struct page`` exists for ``pfn``.

    Kernel: include/linux/mmzone.h pfn_valid() (SPARSEMEM: the pfn's section is present) or the
    architecture's pfn_valid() (ARM: the pfn is memblock memory).  Decided at boot per machine and
    kept as the simulator-only flag PG_valid.
    """
    if pfn < 0 or pfn >= mem.cfg[CFG_NR_PFNS]:
        return False
    return (mem.flags[pfn] & PG_VALID_MASK) != 0


@kernel
def pfn_valid_within(mem, pfn):
    """Kernel: include/linux/mmzone.h pfn_valid_within(): always true without
    CONFIG_HOLES_IN_ZONE, which none of kmemsim's machines has."""
    return True


@kernel
def page_zone_id(mem, page):
    """Kernel: include/linux/mm.h page_zone_id(): node and zone bits of page->flags."""
    return np.int64(mem.flags[page] >> ZONEID_PGSHIFT)


@kernel
def page_zonenum(mem, page):
    """Kernel: include/linux/mm.h page_zonenum()."""
    return page_zone_id(mem, page) % mem.cfg[CFG_MAX_NR_ZONES]


@kernel
def page_to_nid(mem, page):
    """Kernel: include/linux/mm.h page_to_nid()."""
    return page_zone_id(mem, page) // mem.cfg[CFG_MAX_NR_ZONES]


@kernel
def is_migrate_cma(mem, migratetype):
    """Kernel: include/linux/mmzone.h is_migrate_cma()."""
    if mem.cfg[CFG_MIGRATE_CMA] < 0:
        return False
    return migratetype == mem.cfg[CFG_MIGRATE_CMA]


@kernel
def is_migrate_isolate(mem, migratetype):
    """Kernel: include/linux/page-isolation.h is_migrate_isolate()."""
    if mem.cfg[CFG_MIGRATE_ISOLATE] < 0:
        return False
    return migratetype == mem.cfg[CFG_MIGRATE_ISOLATE]


from kmemsim.mm.page_flags import PG_VALID_MASK, ZONEID_PGSHIFT  # noqa: E402
