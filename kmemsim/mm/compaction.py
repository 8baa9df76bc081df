"""Memory compaction: move movable pages to the end of a zone so that free pages gather at its
start into high-order blocks.

Kernel: mm/compaction.c, include/linux/compaction.h (v3.13), with the fragmentation index of
mm/vmstat.c and split_free_page() / __isolate_free_page() of mm/page_alloc.c that only
compaction (and CMA) use.  Page migration itself is kmemsim.mm.migrate.

Two scanners walk the zone a pageblock at a time: the migrate scanner upwards from the zone's
start isolates in-use LRU pages (isolate_migratepages -> isolate_migratepages_range, up to
COMPACT_CLUSTER_MAX = 32 at a time), the free scanner downwards from its end isolates free
pages (isolate_freepages -> isolate_freepages_block -> split_free_page), and migrate_pages()
moves the first onto the second, taking new pages through compaction_alloc().  compact_zone()
loops until compact_finished() says the scanners met (COMPLETE) or a suitable block is free
(PARTIAL).  Its callers: try_to_compact_pages() (direct compaction in the allocation slow
path), compact_pgdat() (kswapd) and compact_nodes() (writing /proc/sys/vm/compact_memory).
Where each scanner stopped is remembered per zone (compact_cached_migrate_pfn / _free_pfn),
and pageblocks that gave nothing get a skip bit, until __reset_isolation_suitable().

``struct compact_control`` is a small int64 array ``cc`` with one slot per field (CC_* below),
filled by :func:`compact_control` as compact_zone_order() fills the kernel's struct.  Its list
of isolated free pages (``cc->freepages``) is a second int64 array ``freepages`` of pfns used as
a stack: ``freepages[:cc[CC_FREEPAGES_LEN]]``, the last entry being the list's first
(list_add puts a page at the head, and compaction_alloc takes the head).  Its list of pages to
migrate (``cc->migratepages``) is the list head ``scratch_list(mem, LH_MIGRATEPAGES)`` through
``page->lru``, as in the kernel.  Booleans are 0 or 1, ``cc[CC_ZONE]`` is a zone id,
``cc[CC_ORDER]`` is -1 for /proc/sys/vm/compact_memory.  A page argument that may be NULL in
the kernel is -1 here.  Compiled code cannot allocate, so compact_zone_order() and
__compact_pgdat() use the preallocated ``mem.compact_cc`` and ``mem.compact_freepages``, where
migration's allocator (compaction_alloc) finds them.

``mem.cfg[CFG_COMPACTION]`` = 0 runs the kernel as built without CONFIG_COMPACTION: the
include/linux/compaction.h stubs (try_to_compact_pages() says COMPACT_CONTINUE,
compaction_suitable() COMPACT_SKIPPED, compaction is always deferred, compact_pgdat() and
reset_isolation_suitable() do nothing) and no vm.compact_memory or vm.extfrag_threshold.

Not modelled: locks, lock contention and need_resched() (kmemsim runs one operation at a time,
so compact_checklock_irqsave() always holds the lock and cc->contended stays 0), map_pages()
(no kernel page tables), fatal signals
(fatal_signal_pending() is false until kmemsim's tasks can be killed), balloon pages and
transparent huge pages on the LRU (kmemsim has neither), and the wait of a synchronous
compactor while too many pages are isolated (see too_many_isolated()).
"""

import numpy as np

from kmemsim.jit import kernel
from kmemsim.mm.mmzone import PF_KSWAPD  # task flags
from kmemsim.lib.list import INIT_LIST_HEAD, list_add, list_del, list_empty
from kmemsim.mm.gfp import __GFP_FS, __GFP_IO, allocflags_to_migratetype, gfp_zone
from kmemsim.mm.mm_inline import del_page_from_lru_list, page_is_file_cache, page_lru
from kmemsim.mm.mmzone import CFG_COMPACTION, CFG_CURRENT, CFG_EXTFRAG_THRESHOLD, \
    CFG_MAX_NR_ZONES, CFG_MIGRATE_CMA, CFG_NR_NODES, CFG_PAGEBLOCK_ORDER, LH_MIGRATEPAGES, \
    MAX_ORDER, MAX_ORDER_NR_PAGES, MIGRATE_MOVABLE, MIGRATE_RESERVE, \
    OW_FLAGS, WMARK_LOW, ZM_COMPACT_BLOCKSKIP_FLUSH, ZM_COMPACT_CACHED_FREE_PFN, \
    ZM_COMPACT_CACHED_MIGRATE_PFN, ZM_COMPACT_CONSIDERED, ZM_COMPACT_DEFER_SHIFT, \
    ZM_COMPACT_ORDER_FAILED, ZONE_STAT_ITEMS, free_list, is_migrate_cma, is_migrate_isolate, \
    page_zone_id, pfn_valid, pfn_valid_within, populated_zone, scratch_list, zone_end_pfn
from kmemsim.mm.page_alloc import __free_pages, compound_order, get_pageblock_migratetype, \
    page_order, rmv_page_order, set_pageblock_migratetype, split_page
from kmemsim.mm.page_alloc_fastpath import ALLOC_CMA, _zone_allowed, _zonelist_zone, \
    zone_watermark_ok
from kmemsim.mm.page_flags import PageBuddy, PageLRU, PG_head
from kmemsim.mm.pageblock_flags import clear_pageblock_skip, get_pageblock_skip, \
    set_pageblock_skip
from kmemsim.mm.swap import lru_add_drain_all
from kmemsim.mm.vmscan import ISOLATE_ASYNC_MIGRATE, ISOLATE_UNEVICTABLE, __isolate_lru_page
from kmemsim.trace.events import trace_mm_compaction_isolate_freepages, \
    trace_mm_compaction_isolate_migratepages, trace_mm_compaction_migratepages
from kmemsim.mm.vmstat import EV_COMPACT_FREE_SCANNED, EV_COMPACT_ISOLATED, \
    EV_COMPACT_MIGRATE_SCANNED, EV_COMPACT_STALL, __mod_zone_freepage_state, \
    __mod_zone_page_state, count_vm_event, count_vm_events, zone_page_state

__all__ = [
    "COMPACT_SKIPPED", "COMPACT_CONTINUE", "COMPACT_PARTIAL", "COMPACT_COMPLETE",
    "COMPACT_MAX_DEFER_SHIFT", "COMPACT_CLUSTER_MAX", "PF_KSWAPD", "CC_NR_FREEPAGES",
    "CC_NR_MIGRATEPAGES", "CC_FREE_PFN", "CC_MIGRATE_PFN", "CC_SYNC", "CC_IGNORE_SKIP_HINT",
    "CC_FINISHED_UPDATE_FREE", "CC_FINISHED_UPDATE_MIGRATE", "CC_ORDER", "CC_MIGRATETYPE",
    "CC_ZONE", "CC_CONTENDED", "CC_FREEPAGES_LEN", "NR_CC", "FREEPAGES_MAX", "compact_control",
    "fill_contig_page_info", "__fragmentation_index", "fragmentation_index",
    "unusable_free_index", "defer_compaction", "compaction_deferred", "compaction_restarting",
    "count_compact_event", "count_compact_events", "release_freepages",
    "migrate_async_suitable", "isolation_suitable", "__reset_isolation_suitable",
    "reset_isolation_suitable", "update_pageblock_skip", "suitable_migration_target",
    "__isolate_free_page", "split_free_page", "isolate_freepages_block", "isolate_freepages",
    "compaction_alloc", "compact_finished", "compaction_suitable", "ISOLATE_ABORT",
    "ISOLATE_NONE", "ISOLATE_SUCCESS", "acct_isolated", "too_many_isolated",
    "isolate_migratepages_range", "update_nr_listpages", "isolate_migratepages",
    "compact_zone", "compact_zone_order", "try_to_compact_pages", "__compact_pgdat",
    "compact_pgdat", "compact_node", "compact_nodes",
]

# Return values of compaction (include/linux/compaction.h)
COMPACT_SKIPPED = 0        # not possible now, or reclaim would serve better
COMPACT_CONTINUE = 1       # go on to the next pageblock
COMPACT_PARTIAL = 2        # a suitable page is (or would be) free
COMPACT_COMPLETE = 3       # the scanners met: the whole zone was compacted
COMPACT_MAX_DEFER_SHIFT = 6
COMPACT_CLUSTER_MAX = 32   # SWAP_CLUSTER_MAX: pages migrated per round

# isolate_migrate_t: what isolate_migratepages() found
ISOLATE_ABORT = 0          # stop compacting now
ISOLATE_NONE = 1           # nothing isolated, scan on
ISOLATE_SUCCESS = 2        # pages isolated (possibly none): migrate them

NR_INACTIVE_ANON = ZONE_STAT_ITEMS.index("nr_inactive_anon")
NR_ACTIVE_ANON = ZONE_STAT_ITEMS.index("nr_active_anon")
NR_INACTIVE_FILE = ZONE_STAT_ITEMS.index("nr_inactive_file")
NR_ACTIVE_FILE = ZONE_STAT_ITEMS.index("nr_active_file")
NR_ISOLATED_ANON = ZONE_STAT_ITEMS.index("nr_isolated_anon")
NR_ISOLATED_FILE = ZONE_STAT_ITEMS.index("nr_isolated_file")
PG_HEAD_MASK = 1 << PG_head

# struct compact_control, one int64 slot per field (mm/internal.h)
CC_NR_FREEPAGES = 0             # isolated free pages, as counted by the scanner
CC_NR_MIGRATEPAGES = 1          # pages to migrate
CC_FREE_PFN = 2                 # where the free scanner continues (downwards)
CC_MIGRATE_PFN = 3              # where the migrate scanner continues (upwards)
CC_SYNC = 4                     # synchronous migration
CC_IGNORE_SKIP_HINT = 5         # scan pageblocks even when their skip bit is set
CC_FINISHED_UPDATE_FREE = 6     # the zone's cached free pfn is no longer updated
CC_FINISHED_UPDATE_MIGRATE = 7  # ... nor its cached migrate pfn
CC_ORDER = 8                    # order the direct compactor needs; -1: compact everything
CC_MIGRATETYPE = 9              # migratetype of that request
CC_ZONE = 10                    # zone id
CC_CONTENDED = 11               # a lock was contended (never, in kmemsim)
CC_FREEPAGES_LEN = 12           # entries of the cc->freepages list (the freepages array)
NR_CC = 13

# Room the freepages array needs: the free scanner stops after the pageblock that brings it
# past nr_migratepages (at most COMPACT_CLUSTER_MAX), and one pageblock yields at most a
# MAX_ORDER block.
FREEPAGES_MAX = COMPACT_CLUSTER_MAX + MAX_ORDER_NR_PAGES


def compact_control(zone: int, order: int, migratetype: int, sync: bool = False):
    """A new ``(cc, freepages)`` pair set up as compact_zone_order() (mm/compaction.c) sets up
    its struct: no pages isolated, both lists empty, the scanners' positions still unset."""
    cc = np.zeros(NR_CC, dtype=np.int64)
    cc[CC_ZONE] = zone
    cc[CC_ORDER] = order
    cc[CC_MIGRATETYPE] = migratetype
    cc[CC_SYNC] = int(sync)
    return cc, np.full(FREEPAGES_MAX, -1, dtype=np.int64)


# ---- mm/vmstat.c: how fragmented is a zone? ---------------------------------------------------

@kernel
def fill_contig_page_info(mem, zone, suitable_order):
    """Kernel: mm/vmstat.c fill_contig_page_info(): from the zone's free block counts, the
    free pages, the free blocks, and how many blocks of 2^suitable_order the larger ones hold.
    Returns the three fields of ``struct contig_page_info`` as a tuple
    (free_pages, free_blocks_total, free_blocks_suitable)."""
    free_pages = np.int64(0)
    free_blocks_total = np.int64(0)
    free_blocks_suitable = np.int64(0)
    for order in range(MAX_ORDER):
        blocks = mem.nr_free[zone, order]
        free_blocks_total += blocks
        free_pages += blocks << order
        if order >= suitable_order:
            free_blocks_suitable += blocks << (order - suitable_order)
    return free_pages, free_blocks_total, free_blocks_suitable


@kernel
def __fragmentation_index(order, info):
    """Kernel: mm/vmstat.c __fragmentation_index(): for a request of 2^order that would fail,
    towards 0 when the zone lacks free memory and towards 1000 when its free memory is in
    blocks too small; -1000 when a suitable block is free, 0 when nothing is.

    The kernel's unsigned division, so one block smaller than the request gives a negative
    index (one order-0 block at order 1: -500)."""
    free_pages, free_blocks_total, free_blocks_suitable = info
    requested = np.int64(1) << order
    if free_blocks_total == 0:
        return np.int64(0)
    if free_blocks_suitable != 0:
        return np.int64(-1000)
    return 1000 - (1000 + free_pages * 1000 // requested) // free_blocks_total


@kernel
def fragmentation_index(mem, zone, order):
    """Kernel: mm/vmstat.c fragmentation_index()."""
    return __fragmentation_index(order, fill_contig_page_info(mem, zone, order))


@kernel
def unusable_free_index(order, info):
    """Kernel: mm/vmstat.c unusable_free_index(): the share (x1000) of the free pages that lie
    in blocks smaller than 2^order; 1000 when nothing is free."""
    free_pages, free_blocks_total, free_blocks_suitable = info
    if free_pages == 0:
        return np.int64(1000)
    return (free_pages - (free_blocks_suitable << order)) * 1000 // free_pages


# ---- include/linux/compaction.h: deferral -----------------------------------------------------

@kernel
def defer_compaction(mem, zone, order):
    """Kernel: include/linux/compaction.h defer_compaction(): compaction failed at ``order``;
    skip the next 2^compact_defer_shift attempts (the shift grows to at most 6) at this order
    or above.  Without CONFIG_COMPACTION (cfg CFG_COMPACTION 0): nothing."""
    if mem.cfg[CFG_COMPACTION] == 0:
        return
    mem.zone_misc[zone, ZM_COMPACT_CONSIDERED] = 0
    mem.zone_misc[zone, ZM_COMPACT_DEFER_SHIFT] += 1
    if order < mem.zone_misc[zone, ZM_COMPACT_ORDER_FAILED]:
        mem.zone_misc[zone, ZM_COMPACT_ORDER_FAILED] = order
    if mem.zone_misc[zone, ZM_COMPACT_DEFER_SHIFT] > COMPACT_MAX_DEFER_SHIFT:
        mem.zone_misc[zone, ZM_COMPACT_DEFER_SHIFT] = COMPACT_MAX_DEFER_SHIFT


@kernel
def compaction_deferred(mem, zone, order):
    """Kernel: include/linux/compaction.h compaction_deferred(): true while this attempt is
    one of those to skip (each call counts one attempt, up to the limit).  Without
    CONFIG_COMPACTION: always."""
    if mem.cfg[CFG_COMPACTION] == 0:
        return True
    defer_limit = np.int64(1) << mem.zone_misc[zone, ZM_COMPACT_DEFER_SHIFT]
    if order < mem.zone_misc[zone, ZM_COMPACT_ORDER_FAILED]:
        return False
    mem.zone_misc[zone, ZM_COMPACT_CONSIDERED] += 1
    if mem.zone_misc[zone, ZM_COMPACT_CONSIDERED] > defer_limit:
        mem.zone_misc[zone, ZM_COMPACT_CONSIDERED] = defer_limit
    return mem.zone_misc[zone, ZM_COMPACT_CONSIDERED] < defer_limit


@kernel
def compaction_restarting(mem, zone, order):
    """Kernel: include/linux/compaction.h compaction_restarting(): the longest deferral has
    run out, so the next compaction starts afresh (its skip hints are cleared)."""
    if order < mem.zone_misc[zone, ZM_COMPACT_ORDER_FAILED]:
        return False
    if mem.zone_misc[zone, ZM_COMPACT_DEFER_SHIFT] != COMPACT_MAX_DEFER_SHIFT:
        return False
    return mem.zone_misc[zone, ZM_COMPACT_CONSIDERED] >= (
        np.int64(1) << mem.zone_misc[zone, ZM_COMPACT_DEFER_SHIFT])


# ---- mm/compaction.c: helpers -----------------------------------------------------------------

@kernel
def count_compact_event(mem, ev):
    """Kernel: mm/compaction.c count_compact_event() (``ev`` is kmemsim's EV_* number)."""
    count_vm_event(mem, ev)


@kernel
def count_compact_events(mem, ev, delta):
    """Kernel: mm/compaction.c count_compact_events()."""
    count_vm_events(mem, ev, delta)


@kernel
def release_freepages(mem, cc, freepages):
    """Kernel: mm/compaction.c release_freepages(): give every page left on cc->freepages
    back (__free_page, from the list's head); returns how many.  cc->nr_freepages is the
    caller's to adjust, as in compact_zone()."""
    count = 0
    while cc[CC_FREEPAGES_LEN] > 0:
        cc[CC_FREEPAGES_LEN] -= 1
        page = freepages[cc[CC_FREEPAGES_LEN]]
        __free_pages(mem, page, 0)
        count += 1
    return count


@kernel
def migrate_async_suitable(mem, migratetype):
    """Kernel: mm/compaction.c migrate_async_suitable(): MOVABLE or CMA."""
    if is_migrate_cma(mem, migratetype):
        return True
    return migratetype == MIGRATE_MOVABLE


@kernel
def isolation_suitable(mem, cc, page):
    """Kernel: mm/compaction.c isolation_suitable(): scan the pageblock unless its skip bit
    is set (and the skip hints are not ignored)."""
    if cc[CC_IGNORE_SKIP_HINT] != 0:
        return True
    return not get_pageblock_skip(mem, page)


# ---- skip hints and cached scanner positions ---------------------------------------------------

@kernel
def __reset_isolation_suitable(mem, zone):
    """Kernel: mm/compaction.c __reset_isolation_suitable(): both scanners start again from
    the zone's ends, and every pageblock of the zone loses its skip bit."""
    start_pfn = mem.zone_start_pfn[zone]
    end_pfn = zone_end_pfn(mem, zone)
    mem.zone_misc[zone, ZM_COMPACT_CACHED_MIGRATE_PFN] = start_pfn
    mem.zone_misc[zone, ZM_COMPACT_CACHED_FREE_PFN] = end_pfn
    mem.zone_misc[zone, ZM_COMPACT_BLOCKSKIP_FLUSH] = 0
    for pfn in range(start_pfn, end_pfn, np.int64(1) << mem.cfg[CFG_PAGEBLOCK_ORDER]):
        if not pfn_valid(mem, pfn):
            continue
        if page_zone_id(mem, pfn) != zone:
            continue
        clear_pageblock_skip(mem, pfn)


@kernel
def reset_isolation_suitable(mem, nid):
    """Kernel: mm/compaction.c reset_isolation_suitable(): for kswapd going to sleep on node
    ``nid``: reset the zones where a full compaction has finished since the last reset.
    Without CONFIG_COMPACTION: nothing."""
    if mem.cfg[CFG_COMPACTION] == 0:
        return
    nz = mem.cfg[CFG_MAX_NR_ZONES]
    for zone in range(nid * nz, nid * nz + nz):
        if not populated_zone(mem, zone):
            continue
        if mem.zone_misc[zone, ZM_COMPACT_BLOCKSKIP_FLUSH] != 0:
            __reset_isolation_suitable(mem, zone)


@kernel
def update_pageblock_skip(mem, cc, page, nr_isolated, migrate_scanner):
    """Kernel: mm/compaction.c update_pageblock_skip(): a pageblock that gave nothing gets its
    skip bit, and the zone's cached position of that scanner moves past it while this run has
    not isolated anything yet.  ``page`` is the block's first valid page, or -1."""
    zone = cc[CC_ZONE]
    if cc[CC_IGNORE_SKIP_HINT] != 0:
        return
    if page < 0:
        return
    if nr_isolated != 0:
        return
    set_pageblock_skip(mem, page)
    if migrate_scanner:
        if (cc[CC_FINISHED_UPDATE_MIGRATE] == 0
                and page > mem.zone_misc[zone, ZM_COMPACT_CACHED_MIGRATE_PFN]):
            mem.zone_misc[zone, ZM_COMPACT_CACHED_MIGRATE_PFN] = page
    else:
        if (cc[CC_FINISHED_UPDATE_FREE] == 0
                and page < mem.zone_misc[zone, ZM_COMPACT_CACHED_FREE_PFN]):
            mem.zone_misc[zone, ZM_COMPACT_CACHED_FREE_PFN] = page


# ---- the free scanner -------------------------------------------------------------------------

@kernel
def suitable_migration_target(mem, page):
    """Kernel: mm/compaction.c suitable_migration_target(): free pages may be taken from a
    MOVABLE or CMA pageblock, or from a free block of a whole pageblock or more; never from
    a RESERVE or ISOLATE pageblock."""
    migratetype = get_pageblock_migratetype(mem, page)
    if migratetype == MIGRATE_RESERVE:
        return False
    if is_migrate_isolate(mem, migratetype):
        return False
    if PageBuddy(mem, page) and page_order(mem, page) >= mem.cfg[CFG_PAGEBLOCK_ORDER]:
        return True
    return migrate_async_suitable(mem, migratetype)


@kernel
def __isolate_free_page(mem, page, order):
    """Kernel: mm/page_alloc.c __isolate_free_page() (v3.13): take the free block ``page``
    off its free list as if it were allocated, unless that would bring the zone below its low
    watermark plus the block (an ISOLATE pageblock is exempt and not counted).  A block of at
    least half a pageblock makes its pageblocks MOVABLE (CMA and ISOLATE ones stay).  Returns
    the block's pages, or 0."""
    zone = page_zone_id(mem, page)
    mt = get_pageblock_migratetype(mem, page)
    if not is_migrate_isolate(mem, mt):
        watermark = mem.watermark[zone, WMARK_LOW] + (np.int64(1) << order)
        if not zone_watermark_ok(mem, zone, 0, watermark, 0, 0):
            return np.int64(0)
        __mod_zone_freepage_state(mem, zone, -(np.int64(1) << order), mt)
    list_del(mem, page)
    mem.nr_free[zone, order] -= 1
    rmv_page_order(mem, page)
    pageblock_order = mem.cfg[CFG_PAGEBLOCK_ORDER]
    if order >= pageblock_order - 1:
        endpage = page + (np.int64(1) << order) - 1
        while page < endpage:
            mt = get_pageblock_migratetype(mem, page)
            if not is_migrate_isolate(mem, mt) and not is_migrate_cma(mem, mt):
                set_pageblock_migratetype(mem, page, MIGRATE_MOVABLE)
            page += np.int64(1) << pageblock_order
    return np.int64(1) << order


@kernel
def split_free_page(mem, page):
    """Kernel: mm/page_alloc.c split_free_page() (v3.13): isolate the free block ``page``
    (__isolate_free_page) and make it 2^order pages of one reference each; returns their
    number, or 0 when the watermark check refused."""
    order = page_order(mem, page)
    nr_pages = __isolate_free_page(mem, page, order)
    if nr_pages == 0:
        return np.int64(0)
    mem.count[page] = 1                    # set_page_refcounted()
    split_page(mem, page, order)
    return nr_pages


@kernel
def isolate_freepages_block(mem, cc, blockpfn, end_pfn, freepages, strict):
    """Kernel: mm/compaction.c isolate_freepages_block(): split every free block of
    [blockpfn, end_pfn) into order-0 pages on cc->freepages; returns how many.  Stops at a
    block that is no longer a suitable target; ``strict`` (CMA) stops at the first page that
    is not free and then returns 0.  A fully scanned pageblock that gave nothing gets its
    skip bit (update_pageblock_skip).

    kmemsim-only guard: a block that would overflow the freepages array (FREEPAGES_MAX,
    which the kernel's callers never exceed) ends the scan as a lost lock would."""
    nr_scanned = 0
    total_isolated = np.int64(0)
    valid_page = np.int64(-1)
    while blockpfn < end_pfn:
        nr_scanned += 1
        if pfn_valid_within(mem, blockpfn):
            if valid_page < 0:
                valid_page = blockpfn
            if PageBuddy(mem, blockpfn):
                # the kernel takes zone->lock here and rechecks PageBuddy under it
                if not strict and not suitable_migration_target(mem, blockpfn):
                    break
                if cc[CC_FREEPAGES_LEN] + (np.int64(1) << page_order(mem, blockpfn)) > \
                        freepages.shape[0]:
                    break
                isolated = split_free_page(mem, blockpfn)
                total_isolated += isolated
                for i in range(isolated):
                    freepages[cc[CC_FREEPAGES_LEN]] = blockpfn + i
                    cc[CC_FREEPAGES_LEN] += 1
                if isolated != 0:
                    blockpfn += isolated
                    continue
        # isolate_fail
        if strict:
            break
        blockpfn += 1
    trace_mm_compaction_isolate_freepages(mem, nr_scanned, total_isolated)
    if strict and blockpfn < end_pfn:
        total_isolated = 0
    if blockpfn == end_pfn:
        update_pageblock_skip(mem, cc, valid_page, total_isolated, False)
    count_compact_events(mem, EV_COMPACT_FREE_SCANNED, nr_scanned)
    if total_isolated != 0:
        count_compact_events(mem, EV_COMPACT_ISOLATED, total_isolated)
    return total_isolated


@kernel
def isolate_freepages(mem, zone, cc, freepages):
    """Kernel: mm/compaction.c isolate_freepages(): walk pageblocks down from cc->free_pfn,
    stopping one pageblock above the migrate scanner, isolating free pages from each suitable
    block until there are more than cc->nr_migratepages.  cc->free_pfn becomes the highest
    block that gave pages (so the next call looks there again: migration may have freed pages
    in it), or, if none did, the lower of the limit and the start."""
    pageblock_nr_pages = np.int64(1) << mem.cfg[CFG_PAGEBLOCK_ORDER]
    nr_freepages = cc[CC_NR_FREEPAGES]
    low_pfn = cc[CC_MIGRATE_PFN] + pageblock_nr_pages
    high_pfn = min(low_pfn, cc[CC_FREE_PFN])
    z_end_pfn = zone_end_pfn(mem, zone)
    for pfn in range(cc[CC_FREE_PFN], low_pfn, -pageblock_nr_pages):
        if cc[CC_NR_MIGRATEPAGES] <= nr_freepages:
            break
        if not pfn_valid(mem, pfn):
            continue
        if page_zone_id(mem, pfn) != zone:
            continue
        if not suitable_migration_target(mem, pfn):
            continue
        if not isolation_suitable(mem, cc, pfn):
            continue
        # within this pageblock only (pfn need not be aligned)
        end_pfn = min((pfn + pageblock_nr_pages) & ~(pageblock_nr_pages - 1), z_end_pfn)
        isolated = isolate_freepages_block(mem, cc, pfn, end_pfn, freepages, False)
        nr_freepages += isolated
        if isolated != 0:
            cc[CC_FINISHED_UPDATE_FREE] = 1
            high_pfn = max(high_pfn, pfn)
    cc[CC_FREE_PFN] = high_pfn
    cc[CC_NR_FREEPAGES] = nr_freepages


@kernel
def compaction_alloc(mem, migratepage, cc, freepages):
    """Kernel: mm/compaction.c compaction_alloc(): migration's page allocator: the first page
    of cc->freepages, isolating more when the list is empty; -1 (NULL) when none are left."""
    if cc[CC_FREEPAGES_LEN] == 0:
        isolate_freepages(mem, cc[CC_ZONE], cc, freepages)
        if cc[CC_FREEPAGES_LEN] == 0:
            return np.int64(-1)
    cc[CC_FREEPAGES_LEN] -= 1
    freepage = freepages[cc[CC_FREEPAGES_LEN]]
    cc[CC_NR_FREEPAGES] -= 1
    return freepage


# ---- when to stop, whether to start ------------------------------------------------------------

@kernel
def compact_finished(mem, zone, cc):
    """Kernel: mm/compaction.c compact_finished(): COMPLETE when the scanners have met (and,
    unless kswapd is compacting, kswapd is asked to clear the skip hints when it sleeps);
    PARTIAL when the request's order is above the low watermark and a block of its
    migratetype (or any block, for an order of a pageblock or more) is free; else CONTINUE.

    fatal_signal_pending(current) is always false here (see the module's notes);
    current_is_kswapd() reads PF_KSWAPD in the flags of the running task's owner row."""
    if cc[CC_FREE_PFN] <= cc[CC_MIGRATE_PFN]:
        if (mem.owners[mem.cfg[CFG_CURRENT], OW_FLAGS] & PF_KSWAPD) == 0:
            mem.zone_misc[zone, ZM_COMPACT_BLOCKSKIP_FLUSH] = 1
        return COMPACT_COMPLETE
    cc_order = cc[CC_ORDER]
    if cc_order == -1:
        return COMPACT_CONTINUE
    watermark = mem.watermark[zone, WMARK_LOW] + (np.int64(1) << cc_order)
    if not zone_watermark_ok(mem, zone, cc_order, watermark, 0, 0):
        return COMPACT_CONTINUE
    for order in range(cc_order, MAX_ORDER):
        if not list_empty(mem, free_list(mem, zone, order, cc[CC_MIGRATETYPE])):
            return COMPACT_PARTIAL
        if cc_order >= mem.cfg[CFG_PAGEBLOCK_ORDER] and mem.nr_free[zone, order] != 0:
            return COMPACT_PARTIAL
    return COMPACT_CONTINUE


@kernel
def compaction_suitable(mem, zone, order):
    """Kernel: mm/compaction.c compaction_suitable(): SKIPPED when the zone is below its low
    watermark plus twice the request at order 0 (migration needs room for copies) or when a
    failure would come from lack of memory (fragmentation index 0..vm.extfrag_threshold);
    PARTIAL when a suitable block is free and the order-``order`` watermark holds; CONTINUE
    otherwise.  Order -1 (/proc/sys/vm/compact_memory) always continues.  Without
    CONFIG_COMPACTION: SKIPPED."""
    if mem.cfg[CFG_COMPACTION] == 0:
        return COMPACT_SKIPPED
    if order == -1:
        return COMPACT_CONTINUE
    watermark = mem.watermark[zone, WMARK_LOW] + (np.int64(2) << order)
    if not zone_watermark_ok(mem, zone, 0, watermark, 0, 0):
        return COMPACT_SKIPPED
    fragindex = fragmentation_index(mem, zone, order)
    if fragindex >= 0 and fragindex <= mem.cfg[CFG_EXTFRAG_THRESHOLD]:
        return COMPACT_SKIPPED
    if fragindex == -1000 and zone_watermark_ok(mem, zone, order, watermark, 0, 0):
        return COMPACT_PARTIAL
    return COMPACT_CONTINUE



# ---- the migrate scanner ------------------------------------------------------------------------

@kernel
def acct_isolated(mem, zone, locked, cc):
    """Kernel: mm/compaction.c acct_isolated(): count the pages on cc->migratepages as
    isolated, anonymous or file (NR_ISOLATED_ANON / NR_ISOLATED_FILE).  ``locked`` chooses
    the kernel's irq-unsafe or -safe update, the same arithmetic here."""
    head = scratch_list(mem, LH_MIGRATEPAGES)
    nr_anon = 0
    nr_file = 0
    page = mem.lru_next[head]
    while page != head:
        if page_is_file_cache(mem, page):
            nr_file += 1
        else:
            nr_anon += 1
        page = mem.lru_next[page]
    __mod_zone_page_state(mem, zone, NR_ISOLATED_ANON, nr_anon)
    __mod_zone_page_state(mem, zone, NR_ISOLATED_FILE, nr_file)


@kernel
def too_many_isolated(mem, zone):
    """Kernel: mm/compaction.c too_many_isolated(): more pages isolated than half of the
    zone's LRU pages (zone counters without the per-CPU deltas).  Compaction's own version;
    reclaim has another (kmemsim.mm.vmscan)."""
    inactive = zone_page_state(mem, zone, NR_INACTIVE_FILE) + \
        zone_page_state(mem, zone, NR_INACTIVE_ANON)
    active = zone_page_state(mem, zone, NR_ACTIVE_FILE) + \
        zone_page_state(mem, zone, NR_ACTIVE_ANON)
    isolated = zone_page_state(mem, zone, NR_ISOLATED_FILE) + \
        zone_page_state(mem, zone, NR_ISOLATED_ANON)
    return isolated > (inactive + active) // 2


@kernel
def isolate_migratepages_range(mem, zone, cc, low_pfn, end_pfn, unevictable):
    """Kernel: mm/compaction.c isolate_migratepages_range(): take the LRU pages of
    [low_pfn, end_pfn) off their lists onto cc->migratepages, at most up to
    COMPACT_CLUSTER_MAX on that list.  Free pages, pages off the LRU and pageblocks whose
    skip bit is set are passed over; asynchronous compaction also passes over pageblocks that
    are neither MOVABLE nor CMA (except, as in 3.13, the one of pfn 0 .. pageblock_nr_pages:
    its number equals the initial last_pageblock_nr) and pages __isolate_lru_page() refuses
    in ISOLATE_ASYNC_MIGRATE mode (dirty or under writeback).  Returns the first pfn not
    scanned, or 0 when asynchronous compaction finds too many pages isolated.

    A synchronous compactor waits in congestion_wait() until fewer pages are isolated.  kmemsim
    runs nothing else meanwhile, so the excess can only be per-CPU counter drift (which the
    kernel's vmstat_update would fold within a second): it goes on as if the wait had ended."""
    pageblock_order = mem.cfg[CFG_PAGEBLOCK_ORDER]
    pageblock_nr_pages = np.int64(1) << pageblock_order
    last_pageblock_nr = np.int64(0)
    nr_scanned = 0
    nr_isolated = 0
    migratelist = scratch_list(mem, LH_MIGRATEPAGES)
    mode = 0
    locked = False
    valid_page = np.int64(-1)
    if too_many_isolated(mem, zone):
        if cc[CC_SYNC] == 0:
            return np.int64(0)
        # congestion_wait(BLK_RW_ASYNC, HZ/10), then fatal_signal_pending(): see above
    while low_pfn < end_pfn:
        if (low_pfn & (MAX_ORDER_NR_PAGES - 1)) == 0 and not pfn_valid(mem, low_pfn):
            low_pfn += MAX_ORDER_NR_PAGES                 # a hole of MAX_ORDER_NR_PAGES
            continue
        if not pfn_valid_within(mem, low_pfn):
            low_pfn += 1
            continue
        nr_scanned += 1
        if page_zone_id(mem, low_pfn) != zone:
            low_pfn += 1
            continue
        if valid_page < 0:
            valid_page = low_pfn
        pageblock_nr = low_pfn >> pageblock_order
        next_pageblock = False
        if not isolation_suitable(mem, cc, low_pfn):
            next_pageblock = True
        elif PageBuddy(mem, low_pfn):
            low_pfn += 1
            continue
        elif cc[CC_SYNC] == 0 and last_pageblock_nr != pageblock_nr and \
                not migrate_async_suitable(mem, get_pageblock_migratetype(mem, low_pfn)):
            cc[CC_FINISHED_UPDATE_MIGRATE] = 1
            next_pageblock = True
        elif not PageLRU(mem, low_pfn):
            low_pfn += 1                                  # (balloon pages: none in kmemsim)
            continue
        elif (mem.flags[low_pfn] & PG_HEAD_MASK) != 0 and not locked:
            next_pageblock = True                         # PageTransHuge without the lock
        if next_pageblock:
            low_pfn = ((low_pfn + pageblock_nr_pages) & ~(pageblock_nr_pages - 1))
            last_pageblock_nr = pageblock_nr
            continue
        if (mem.flags[low_pfn] & PG_HEAD_MASK) != 0:       # a THP under the lock: pass it
            low_pfn += np.int64(1) << compound_order(mem, low_pfn)
            continue
        locked = True                                     # compact_checklock_irqsave()
        if cc[CC_SYNC] == 0:
            mode |= ISOLATE_ASYNC_MIGRATE
        if unevictable:
            mode |= ISOLATE_UNEVICTABLE
        if __isolate_lru_page(mem, low_pfn, mode) != 0:
            low_pfn += 1
            continue
        cc[CC_FINISHED_UPDATE_MIGRATE] = 1
        del_page_from_lru_list(mem, low_pfn, zone, page_lru(mem, low_pfn))
        list_add(mem, low_pfn, migratelist)
        cc[CC_NR_MIGRATEPAGES] += 1
        nr_isolated += 1
        low_pfn += 1
        if cc[CC_NR_MIGRATEPAGES] == COMPACT_CLUSTER_MAX:
            break                                         # check_compact_cluster
    acct_isolated(mem, zone, locked, cc)
    if low_pfn == end_pfn:
        update_pageblock_skip(mem, cc, valid_page, nr_isolated, True)
    trace_mm_compaction_isolate_migratepages(mem, nr_scanned, nr_isolated)
    count_compact_events(mem, EV_COMPACT_MIGRATE_SCANNED, nr_scanned)
    if nr_isolated != 0:
        count_compact_events(mem, EV_COMPACT_ISOLATED, nr_isolated)
    return low_pfn


@kernel
def update_nr_listpages(mem, cc):
    """Kernel: mm/compaction.c update_nr_listpages(): after migration, count what is left on
    cc->migratepages and cc->freepages."""
    head = scratch_list(mem, LH_MIGRATEPAGES)
    nr_migratepages = 0
    page = mem.lru_next[head]
    while page != head:
        nr_migratepages += 1
        page = mem.lru_next[page]
    cc[CC_NR_MIGRATEPAGES] = nr_migratepages
    cc[CC_NR_FREEPAGES] = cc[CC_FREEPAGES_LEN]


@kernel
def isolate_migratepages(mem, zone, cc):
    """Kernel: mm/compaction.c isolate_migratepages(): isolate from the pageblock at the
    migrate scanner (from cc->migrate_pfn to the block's end).  NONE, moving the scanner to
    the block's end, when that would cross the free scanner or the pfn is in a hole; ABORT
    when isolation gave up; else SUCCESS, even with nothing isolated, the scanner moved to
    where isolation stopped."""
    pageblock_nr_pages = np.int64(1) << mem.cfg[CFG_PAGEBLOCK_ORDER]
    low_pfn = max(cc[CC_MIGRATE_PFN], mem.zone_start_pfn[zone])
    end_pfn = (low_pfn + pageblock_nr_pages) & ~(pageblock_nr_pages - 1)  # ALIGN(low_pfn + 1)
    if end_pfn > cc[CC_FREE_PFN] or not pfn_valid(mem, low_pfn):
        cc[CC_MIGRATE_PFN] = end_pfn
        return ISOLATE_NONE
    low_pfn = isolate_migratepages_range(mem, zone, cc, low_pfn, end_pfn, False)
    if low_pfn == 0 or cc[CC_CONTENDED] != 0:
        return ISOLATE_ABORT
    cc[CC_MIGRATE_PFN] = low_pfn
    return ISOLATE_SUCCESS


# ---- compacting a zone --------------------------------------------------------------------------

@kernel
def compact_zone(mem, zone, cc):
    """Kernel: mm/compaction.c compact_zone(): unless compaction_suitable() says SKIPPED or
    PARTIAL, start both scanners where the zone's cache says (the zone's first pfn, and its
    end rounded down to a pageblock, when the cached values lie outside the zone), clear the
    skip hints if compaction is restarting after the longest deferral (not in kswapd), drain
    this CPU's pagevecs, and isolate and migrate until compact_finished() stops: ABORT and
    -ENOMEM end with PARTIAL; pages that did not migrate go back to the LRU.  The free pages
    still isolated are given back.  ``cc`` is ``mem.compact_cc`` (its free pages are
    ``mem.compact_freepages``: migrate_pages' allocator, compaction_alloc, reads them there)."""
    ret = compaction_suitable(mem, zone, cc[CC_ORDER])
    if ret == COMPACT_PARTIAL or ret == COMPACT_SKIPPED:
        return ret
    start_pfn = mem.zone_start_pfn[zone]
    end_pfn = zone_end_pfn(mem, zone)
    pageblock_nr_pages = np.int64(1) << mem.cfg[CFG_PAGEBLOCK_ORDER]
    migratelist = scratch_list(mem, LH_MIGRATEPAGES)
    cc[CC_MIGRATE_PFN] = mem.zone_misc[zone, ZM_COMPACT_CACHED_MIGRATE_PFN]
    cc[CC_FREE_PFN] = mem.zone_misc[zone, ZM_COMPACT_CACHED_FREE_PFN]
    if cc[CC_FREE_PFN] < start_pfn or cc[CC_FREE_PFN] > end_pfn:
        cc[CC_FREE_PFN] = end_pfn & ~(pageblock_nr_pages - 1)
        mem.zone_misc[zone, ZM_COMPACT_CACHED_FREE_PFN] = cc[CC_FREE_PFN]
    if cc[CC_MIGRATE_PFN] < start_pfn or cc[CC_MIGRATE_PFN] > end_pfn:
        cc[CC_MIGRATE_PFN] = start_pfn
        mem.zone_misc[zone, ZM_COMPACT_CACHED_MIGRATE_PFN] = cc[CC_MIGRATE_PFN]
    if compaction_restarting(mem, zone, cc[CC_ORDER]) and \
            (mem.owners[mem.cfg[CFG_CURRENT], OW_FLAGS] & PF_KSWAPD) == 0:
        __reset_isolation_suitable(mem, zone)
    migrate_prep_local(mem)
    while True:
        ret = compact_finished(mem, zone, cc)
        if ret != COMPACT_CONTINUE:
            break
        isolated = isolate_migratepages(mem, zone, cc)
        if isolated == ISOLATE_ABORT:
            ret = COMPACT_PARTIAL
            putback_movable_pages(mem, migratelist)
            cc[CC_NR_MIGRATEPAGES] = 0
            break                                                      # goto out
        if isolated == ISOLATE_NONE:
            continue
        nr_migrate = cc[CC_NR_MIGRATEPAGES]
        if cc[CC_SYNC] != 0:
            err = migrate_pages(mem, migratelist, MIGRATE_SYNC_LIGHT, MR_COMPACTION)
        else:
            err = migrate_pages(mem, migratelist, MIGRATE_ASYNC, MR_COMPACTION)
        update_nr_listpages(mem, cc)
        nr_remaining = cc[CC_NR_MIGRATEPAGES]
        trace_mm_compaction_migratepages(mem, nr_migrate - nr_remaining, nr_remaining)
        if err != 0:
            putback_movable_pages(mem, migratelist)
            cc[CC_NR_MIGRATEPAGES] = 0
            if err == -ENOMEM:
                ret = COMPACT_PARTIAL
                break                                                  # goto out
    # out:
    cc[CC_NR_FREEPAGES] -= release_freepages(mem, cc, mem.compact_freepages)
    return ret


@kernel
def compact_zone_order(mem, zone, order, gfp_mask, sync):
    """Kernel: mm/compaction.c compact_zone_order(): a fresh compact_control for one zone
    (``mem.compact_cc``: the request's order and migratetype, sync or not, both lists empty)
    and compact_zone().  Returns (status, contended)."""
    cc = mem.compact_cc
    for i in range(NR_CC):
        cc[i] = 0
    cc[CC_ORDER] = order
    cc[CC_MIGRATETYPE] = allocflags_to_migratetype(mem, gfp_mask)
    cc[CC_ZONE] = zone
    if sync:
        cc[CC_SYNC] = 1
    INIT_LIST_HEAD(mem, scratch_list(mem, LH_MIGRATEPAGES))
    ret = compact_zone(mem, zone, cc)
    return ret, cc[CC_CONTENDED] != 0


@kernel
def try_to_compact_pages(mem, zonelist, order, gfp_mask, nodemask, sync):
    """Kernel: mm/compaction.c try_to_compact_pages(): direct compaction for an allocation of
    ``order``: SKIPPED at order 0 or without __GFP_FS and __GFP_IO; otherwise one
    COMPACTSTALL, then every zone of the zonelist the request may use (gfp_zone, nodemask: -1
    for none) is compacted until one meets its low watermark at ``order``.  Returns (the
    highest status of the zones, contended).  Deferral is the caller's to check (3.13
    checks the preferred zone only, in __alloc_pages_direct_compact).  Without
    CONFIG_COMPACTION: (COMPACT_CONTINUE, False), the stub's answer."""
    contended = False
    if mem.cfg[CFG_COMPACTION] == 0:
        return COMPACT_CONTINUE, contended
    high_zoneidx = gfp_zone(mem, gfp_mask)
    rc = COMPACT_SKIPPED
    alloc_flags = 0
    if order == 0 or (gfp_mask & __GFP_FS) == 0 or (gfp_mask & __GFP_IO) == 0:
        return rc, contended
    count_compact_event(mem, EV_COMPACT_STALL)
    if mem.cfg[CFG_MIGRATE_CMA] >= 0 and \
            allocflags_to_migratetype(mem, gfp_mask) == MIGRATE_MOVABLE:
        alloc_flags |= ALLOC_CMA
    i = 0
    while True:                                   # for_each_zone_zonelist_nodemask
        zone = _zonelist_zone(mem, zonelist, i)
        i += 1
        if zone < 0:
            break
        if not _zone_allowed(mem, zone, high_zoneidx, nodemask):
            continue
        status, contended = compact_zone_order(mem, zone, order, gfp_mask, sync)
        rc = max(status, rc)
        if zone_watermark_ok(mem, zone, order, mem.watermark[zone, WMARK_LOW], 0, alloc_flags):
            break
    return rc, contended


# ---- kswapd and /proc/sys/vm/compact_memory -----------------------------------------------------

@kernel
def __compact_pgdat(mem, nid, cc):
    """Kernel: mm/compaction.c __compact_pgdat(): compact every populated zone of node
    ``nid`` with ``cc`` (``mem.compact_cc``: its lists emptied, its other fields carried from
    zone to zone as in the kernel), unless compaction is deferred at cc's order; for an order
    above 0, a zone now above its low watermark at that order raises its
    compact_order_failed past it, and one still below is deferred when compaction was
    synchronous."""
    nz = mem.cfg[CFG_MAX_NR_ZONES]
    order = cc[CC_ORDER]
    for zone in range(nid * nz, nid * nz + nz):
        if not populated_zone(mem, zone):
            continue
        cc[CC_NR_FREEPAGES] = 0
        cc[CC_NR_MIGRATEPAGES] = 0
        cc[CC_ZONE] = zone
        cc[CC_FREEPAGES_LEN] = 0                                 # INIT_LIST_HEAD(&cc->freepages)
        INIT_LIST_HEAD(mem, scratch_list(mem, LH_MIGRATEPAGES))
        if order == -1 or not compaction_deferred(mem, zone, order):
            compact_zone(mem, zone, cc)
        if order > 0:
            ok = zone_watermark_ok(mem, zone, order, mem.watermark[zone, WMARK_LOW], 0, 0)
            if ok and order >= mem.zone_misc[zone, ZM_COMPACT_ORDER_FAILED]:
                mem.zone_misc[zone, ZM_COMPACT_ORDER_FAILED] = order + 1
            elif not ok and cc[CC_SYNC] != 0:
                defer_compaction(mem, zone, order)


@kernel
def compact_pgdat(mem, nid, order):
    """Kernel: mm/compaction.c compact_pgdat(): kswapd's compaction of its node at ``order``
    (asynchronous; nothing at order 0).  Its compact_control's migratetype is 0
    (MIGRATE_UNMOVABLE), as the kernel's initializer leaves it.  Without
    CONFIG_COMPACTION: nothing."""
    if mem.cfg[CFG_COMPACTION] == 0 or order == 0:
        return
    cc = mem.compact_cc
    for i in range(NR_CC):
        cc[i] = 0
    cc[CC_ORDER] = order
    __compact_pgdat(mem, nid, cc)


@kernel
def compact_node(mem, nid):
    """Kernel: mm/compaction.c compact_node(): compact every zone of node ``nid``
    completely (order -1, synchronous)."""
    if mem.cfg[CFG_COMPACTION] == 0:
        return
    cc = mem.compact_cc
    for i in range(NR_CC):
        cc[i] = 0
    cc[CC_ORDER] = -1
    cc[CC_SYNC] = 1
    __compact_pgdat(mem, nid, cc)


@kernel
def compact_nodes(mem):
    """Kernel: mm/compaction.c compact_nodes(): every CPU's pagevecs to the LRU
    (lru_add_drain_all), then compact_node() for every node, as writing
    /proc/sys/vm/compact_memory does (sysctl_compaction_handler, kmemsim.sysctl)."""
    if mem.cfg[CFG_COMPACTION] == 0:
        return
    lru_add_drain_all(mem)
    for nid in range(mem.cfg[CFG_NR_NODES]):
        compact_node(mem, nid)


from kmemsim.mm.migrate import ENOMEM, MIGRATE_ASYNC, MIGRATE_SYNC_LIGHT, MR_COMPACTION, \
    migrate_pages, migrate_prep_local, putback_movable_pages  # noqa: E402  (migration calls back)
