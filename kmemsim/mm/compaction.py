"""Memory compaction: when to compact, deferral, skip hints, and the free page scanner.

Kernel: mm/compaction.c, include/linux/compaction.h (v3.13), with the fragmentation index of
mm/vmstat.c and split_free_page() / __isolate_free_page() of mm/page_alloc.c that only
compaction (and CMA) use.

This module holds the half of compaction that needs neither the LRU lists nor page migration:
the fragmentation and unusable-free-space indexes, compaction_suitable(), the deferral
counters, the pageblock skip hints, compact_finished(), and the free scanner that isolates free
pages as migration targets (isolate_freepages -> isolate_freepages_block -> split_free_page)
with compaction_alloc() handing them out one by one.  The migrate scanner and compact_zone()
come with migration.

``struct compact_control`` is a small int64 array ``cc`` with one slot per field (CC_* below),
filled by :func:`compact_control` as compact_zone_order() fills the kernel's struct.  Its list
of isolated free pages (``cc->freepages``) is a second int64 array ``freepages`` of pfns used as
a stack: ``freepages[:cc[CC_FREEPAGES_LEN]]``, the last entry being the list's first
(list_add puts a page at the head, and compaction_alloc takes the head).  Booleans are 0 or 1,
``cc[CC_ZONE]`` is a zone id, ``cc[CC_ORDER]`` is -1 for /proc/sys/vm/compact_memory.  A page
argument that may be NULL in the kernel is -1 here.

Not modelled: locks, lock contention and need_resched() (kmemsim runs one operation at a time,
so compact_checklock_irqsave() always holds the lock and cc->contended stays 0), map_pages()
(no kernel page tables), the compaction tracepoints (tracing issue), and fatal signals
(fatal_signal_pending() is false until kmemsim's tasks can be killed).
"""

import numpy as np

from kmemsim.jit import kernel
from kmemsim.lib.list import list_del, list_empty
from kmemsim.mm.mmzone import CFG_CURRENT, CFG_EXTFRAG_THRESHOLD, CFG_MAX_NR_ZONES, \
    CFG_PAGEBLOCK_ORDER, MAX_ORDER, MAX_ORDER_NR_PAGES, MIGRATE_MOVABLE, MIGRATE_RESERVE, \
    OW_FLAGS, WMARK_LOW, ZM_COMPACT_BLOCKSKIP_FLUSH, ZM_COMPACT_CACHED_FREE_PFN, \
    ZM_COMPACT_CACHED_MIGRATE_PFN, ZM_COMPACT_CONSIDERED, ZM_COMPACT_DEFER_SHIFT, \
    ZM_COMPACT_ORDER_FAILED, free_list, is_migrate_cma, is_migrate_isolate, page_zone_id, \
    pfn_valid, pfn_valid_within, populated_zone, zone_end_pfn
from kmemsim.mm.page_alloc import __free_pages, get_pageblock_migratetype, page_order, \
    rmv_page_order, set_pageblock_migratetype, split_page
from kmemsim.mm.page_alloc_fastpath import zone_watermark_ok
from kmemsim.mm.page_flags import PageBuddy
from kmemsim.mm.pageblock_flags import clear_pageblock_skip, get_pageblock_skip, \
    set_pageblock_skip
from kmemsim.mm.vmstat import EV_COMPACT_FREE_SCANNED, EV_COMPACT_ISOLATED, \
    __mod_zone_freepage_state, count_vm_event, count_vm_events

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
    "compaction_alloc", "compact_finished", "compaction_suitable",
]

# Return values of compaction (include/linux/compaction.h)
COMPACT_SKIPPED = 0        # not possible now, or reclaim would serve better
COMPACT_CONTINUE = 1       # go on to the next pageblock
COMPACT_PARTIAL = 2        # a suitable page is (or would be) free
COMPACT_COMPLETE = 3       # the scanners met: the whole zone was compacted
COMPACT_MAX_DEFER_SHIFT = 6
COMPACT_CLUSTER_MAX = 32   # SWAP_CLUSTER_MAX: pages migrated per round
PF_KSWAPD = 0x00040000     # include/linux/sched.h: the task is kswapd (task->flags)

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
    or above."""
    mem.zone_misc[zone, ZM_COMPACT_CONSIDERED] = 0
    mem.zone_misc[zone, ZM_COMPACT_DEFER_SHIFT] += 1
    if order < mem.zone_misc[zone, ZM_COMPACT_ORDER_FAILED]:
        mem.zone_misc[zone, ZM_COMPACT_ORDER_FAILED] = order
    if mem.zone_misc[zone, ZM_COMPACT_DEFER_SHIFT] > COMPACT_MAX_DEFER_SHIFT:
        mem.zone_misc[zone, ZM_COMPACT_DEFER_SHIFT] = COMPACT_MAX_DEFER_SHIFT


@kernel
def compaction_deferred(mem, zone, order):
    """Kernel: include/linux/compaction.h compaction_deferred(): true while this attempt is
    one of those to skip (each call counts one attempt, up to the limit)."""
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
    ``nid``: reset the zones where a full compaction has finished since the last reset."""
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
    otherwise.  Order -1 (/proc/sys/vm/compact_memory) always continues."""
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

