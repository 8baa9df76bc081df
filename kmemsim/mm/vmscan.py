"""Page reclaim: taking pages off the LRU lists, and putting them back.

Kernel: mm/vmscan.c (v3.13).  (Reclaim proper, kswapd and direct reclaim follow in this
module as the slow-path issue proceeds; see docs/slowpath.md.)

Pages isolated from the LRU travel on lists whose heads the kernel keeps on its stack; kmemsim
keeps them as sentinel heads in lru_next/lru_prev (mmzone.scratch_list, LH_*).
"""

import numpy as np

from kmemsim.jit import kernel, late
from kmemsim.trace.events import trace_mm_page_free_batched, trace_mm_vmscan_direct_reclaim_begin, \
    trace_mm_vmscan_direct_reclaim_end, trace_mm_vmscan_kswapd_sleep, trace_mm_vmscan_kswapd_wake, \
    trace_mm_vmscan_lru_isolate, trace_mm_vmscan_lru_shrink_inactive, trace_mm_vmscan_wakeup_kswapd, \
    trace_mm_vmscan_writepage
from kmemsim.mm.mmzone import PF_KSWAPD  # task flags
from kmemsim.lib.list import INIT_LIST_HEAD, list_add, list_del, list_empty, list_first_entry, \
    list_last_entry, list_move, list_splice
from kmemsim.mm.backing_dev import BLK_RW_ASYNC, bdi_congested, congestion_wait, \
    set_page_writeback, wait_iff_congested
from kmemsim.mm.gfp import GFP_IOFS, GFP_KERNEL, __GFP_FS, __GFP_IO, __GFP_REPEAT
from kmemsim.mm.mm_inline import NR_LRU_BASE, add_page_to_lru_list, del_page_from_lru_list, \
    page_is_file_cache, page_lru
from kmemsim.mm.mmzone import CFG_COMPACTION, CFG_CURRENT, CFG_HZ, CFG_LAPTOP_MODE, \
    CFG_MAX_NR_ZONES, CFG_MAX_OWNERS, CFG_NR_SWAP_PAGES, CFG_OOM_KILLER_DISABLED, \
    CFG_SWAPPINESS, CFG_TOTAL_SWAP_PAGES, CFG_JIFFIES, KSWAPD_NAPPING, KSWAPD_RUNNABLE, \
    KSWAPD_SLEEPING, PGDAT_CLASSZONE_IDX, PGDAT_KSWAPD_BALANCED_CLASSZONE, \
    PGDAT_KSWAPD_BALANCED_ORDER, PGDAT_KSWAPD_MAX_ORDER, PGDAT_KSWAPD_SLEEP_UNTIL, \
    PGDAT_KSWAPD_STATE, PGDAT_KSWAPD_WOKEN, SC_KSWAPD, LH_FREE, LH_ACTIVE, LH_HOLD, LH_INACTIVE, \
    LH_PAGE_LIST, LH_RET, LH_SPARE, LRU_ACTIVE, LRU_ACTIVE_ANON, LRU_ACTIVE_FILE, LRU_BASE, \
    LRU_FILE, LRU_INACTIVE_ANON, LRU_INACTIVE_FILE, LRU_UNEVICTABLE, NR_FREE_PAGES, \
    NR_LRU_LISTS, NR_SC, OW_DIRTY, OW_FLAGS, OW_KIND, OW_SWAP, OWNER_FILE, OWNER_TASK, \
    PAGE_ALLOC_COSTLY_ORDER, SC_DIRECT, SC_GFP_MASK, SC_MAY_SWAP, SC_MAY_UNMAP, \
    SC_MAY_WRITEPAGE, SC_NR, SC_NR_RECLAIMED, SC_NR_SCANNED, SC_NR_TO_RECLAIM, SC_ORDER, \
    SC_PRIORITY, SC_TARGETS, WMARK_HIGH, WMARK_LOW, ZM_FLAGS, ZM_RECENT_ROTATED_ANON, \
    ZM_RECENT_SCANNED_ANON, ZM_RECENT_ROTATED_FILE, ZM_RECENT_SCANNED_FILE, ZONE_CONGESTED, ZONE_STAT_ITEMS, ZONE_TAIL_LRU_DIRTY, \
    ZONE_WRITEBACK, lru_list_head, owner_head, page_zone_id, scratch_list
from kmemsim.mm.page_alloc import put_page_testzero
from kmemsim.mm.page_alloc_fastpath import next_zones_zonelist, zone_watermark_ok, \
    zone_watermark_ok_safe
from kmemsim.mm.page_alloc_pcp import free_hot_cold_page
from kmemsim.mm.page_flags import ClearPageActive, ClearPageDirty, ClearPageLRU, \
    ClearPageSwapCache, ClearPageUnevictable, PageDirty, PageLRU, PageReclaim, PageSwapBacked, \
    PageSwapCache, PageUnevictable, PageWriteback, SetPageActive, SetPageDirty, SetPageLRU, \
    SetPageReclaim, SetPageSwapCache, TestClearPageReferenced, __ClearPageActive, __ClearPageLRU
from kmemsim.mm.swap import get_page, lru_add_drain, lru_cache_add, put_page
from kmemsim.mm.vmstat import EV_ALLOCSTALL, EV_PGACTIVATE, EV_PGDEACTIVATE, EV_PGPGOUT, \
    EV_PGREFILL, EV_PGSCAN_DIRECT, EV_PGSCAN_KSWAPD, EV_PGSTEAL_DIRECT, EV_PGSTEAL_KSWAPD, \
    EV_PSWPOUT, EV_PAGEOUTRUN, EV_KSWAPD_HIGH_WMARK_HIT_QUICKLY, EV_KSWAPD_LOW_WMARK_HIT_QUICKLY, \
    __dec_zone_state, __inc_zone_state, __mod_zone_page_state, count_vm_event, \
    count_vm_events, count_zone_vm_events, zone_page_state
from kmemsim.sim.owners import __delete_from_page_cache, owner_del_page, page_remove_rmap

__all__ = ["ISOLATE_CLEAN", "ISOLATE_UNMAPPED", "ISOLATE_ASYNC_MIGRATE", "ISOLATE_UNEVICTABLE",
           "EINVAL", "EBUSY", "page_mapped", "__isolate_lru_page", "isolate_lru_pages",
           "isolate_lru_page", "putback_lru_page"]

SWAP_CLUSTER_MAX = 32
DEF_PRIORITY = 12
KSWAPD_ZONE_BALANCE_GAP_RATIO = 100
# enum page_references
PAGEREF_RECLAIM = 0
PAGEREF_RECLAIM_CLEAN = 1
PAGEREF_KEEP = 2
PAGEREF_ACTIVATE = 3
# pageout() results (enum pageout_t)
PAGE_KEEP = 0
PAGE_ACTIVATE = 1
PAGE_SUCCESS = 2
# include/trace/events/gfpflags.h reclaim flags of the vmscan tracepoints
RECLAIM_WB_ANON = 0x0001
RECLAIM_WB_FILE = 0x0002
RECLAIM_WB_ASYNC = 0x0008
PAGE_CLEAN = 3
SWAP_SUCCESS = 0
# enum scan_balance
SCAN_EQUAL = 0
SCAN_FRACT = 1
SCAN_ANON = 2
SCAN_FILE = 3
# what shrink_page_list does with a page (its labels)
_TRY = 0
_KEEP = 1
_ACTIVATE = 2

NR_ACTIVE_ANON = ZONE_STAT_ITEMS.index("nr_active_anon")
NR_INACTIVE_ANON = ZONE_STAT_ITEMS.index("nr_inactive_anon")
NR_ACTIVE_FILE = ZONE_STAT_ITEMS.index("nr_active_file")
NR_INACTIVE_FILE = ZONE_STAT_ITEMS.index("nr_inactive_file")
NR_ISOLATED_ANON = ZONE_STAT_ITEMS.index("nr_isolated_anon")
NR_ISOLATED_FILE = ZONE_STAT_ITEMS.index("nr_isolated_file")
NR_FILE_PAGES = ZONE_STAT_ITEMS.index("nr_file_pages")
NR_FILE_DIRTY = ZONE_STAT_ITEMS.index("nr_dirty")
NR_SHMEM = ZONE_STAT_ITEMS.index("nr_shmem")
NR_VMSCAN_IMMEDIATE = ZONE_STAT_ITEMS.index("nr_vmscan_immediate_reclaim")

late(globals(), "kmemsim.mm.compaction", "COMPACT_CONTINUE", "COMPACT_PARTIAL", "COMPACT_SKIPPED",
     "compaction_deferred", "compaction_suitable", "reset_isolation_suitable", "compact_pgdat")

# isolate_mode_t (include/linux/mmzone.h)
ISOLATE_CLEAN = 0x1
ISOLATE_UNMAPPED = 0x2
ISOLATE_ASYNC_MIGRATE = 0x4
ISOLATE_UNEVICTABLE = 0x8
EINVAL = 22
EBUSY = 16


@kernel
def page_mapped(mem, page):
    """Kernel: include/linux/mm.h page_mapped(): in kmemsim an anonymous page is mapped by
    its task while it has an owner; page cache is never mapped (kmemsim.sim.owners)."""
    if mem.mapping[page] != 0 and PageSwapBacked(mem, page):
        return mem.owners[mem.mapping[page], OW_KIND] == OWNER_TASK
    return False


@kernel
def __isolate_lru_page(mem, page, mode):
    """Kernel: mm/vmscan.c __isolate_lru_page(): 0 when the page may be taken off its LRU
    (it gets a reference and loses PG_lru), -EINVAL when it is not on one (or unevictable
    without ISOLATE_UNEVICTABLE), -EBUSY when ``mode`` excludes it."""
    if not PageLRU(mem, page):
        return -EINVAL
    if PageUnevictable(mem, page) and (mode & ISOLATE_UNEVICTABLE) == 0:
        return -EINVAL
    if mode & (ISOLATE_CLEAN | ISOLATE_ASYNC_MIGRATE):
        if PageWriteback(mem, page):
            return -EBUSY
        if PageDirty(mem, page) and (mode & ISOLATE_CLEAN):
            return -EBUSY
        # a dirty page whose mapping cannot migrate it: every kmemsim mapping can
    if (mode & ISOLATE_UNMAPPED) and page_mapped(mem, page):
        return -EBUSY
    if mem.count[page] > 0:                     # get_page_unless_zero
        get_page(mem, page)
        ClearPageLRU(mem, page)
        return 0
    return -EBUSY


@kernel
def isolate_lru_pages(mem, nr_to_scan, zone, dst, mode, lru):
    """Kernel: mm/vmscan.c isolate_lru_pages(): take up to ``nr_to_scan`` pages from the
    tail of ``zone``'s list ``lru`` onto the list ``dst``; busy pages go back to the head.
    Returns (nr_taken, nr_scanned).  As in the kernel, the caller moves the zone counters."""
    src = lru_list_head(mem, zone, lru)
    nr_taken = 0
    scan = 0
    while scan < nr_to_scan and not list_empty(mem, src):
        page = np.int64(list_last_entry(mem, src))
        if __isolate_lru_page(mem, page, mode) == 0:
            list_move(mem, page, dst)
            nr_taken += 1
        else:
            list_move(mem, page, src)
        scan += 1
    return nr_taken, scan


@kernel
def isolate_lru_page(mem, page):
    """Kernel: mm/vmscan.c isolate_lru_page(): take one page off its LRU list, with a
    reference; 0, or -EBUSY when it was not on one."""
    if PageLRU(mem, page):
        lru = page_lru(mem, page)
        get_page(mem, page)
        ClearPageLRU(mem, page)
        del_page_from_lru_list(mem, page, page_zone_id(mem, page), lru)
        return 0
    return -EBUSY


@kernel
def putback_lru_page(mem, page):
    """Kernel: mm/vmscan.c putback_lru_page(): an isolated page goes back through this CPU's
    lru_add pagevec (every kmemsim page is evictable), and the isolation's reference is
    dropped."""
    ClearPageUnevictable(mem, page)
    lru_cache_add(mem, page)
    put_page(mem, page)



# ---- reclaim -------------------------------------------------------------------------------
# A scan_control is a row of mem.scan_control (SC_DIRECT or SC_KSWAPD), ``sc`` below.

@kernel
def current_is_kswapd(mem):
    """Kernel: include/linux/swap.h current_is_kswapd(): PF_KSWAPD on the running task."""
    return (mem.owners[mem.cfg[CFG_CURRENT], OW_FLAGS] & PF_KSWAPD) != 0


@kernel
def zone_reclaimable_pages(mem, zone):
    """Kernel: mm/vmscan.c zone_reclaimable_pages(): the file LRU pages, and the anonymous
    ones when there is swap space left."""
    nr = zone_page_state(mem, zone, NR_ACTIVE_FILE) + zone_page_state(mem, zone, NR_INACTIVE_FILE)
    if mem.cfg[CFG_NR_SWAP_PAGES] > 0:
        nr += zone_page_state(mem, zone, NR_ACTIVE_ANON) + \
            zone_page_state(mem, zone, NR_INACTIVE_ANON)
    return nr


@kernel
def zone_reclaimable(mem, zone):
    """Kernel: mm/vmscan.c zone_reclaimable(): fewer pages scanned since the last free than
    six times what could be reclaimed."""
    return mem.pages_scanned[zone] < zone_reclaimable_pages(mem, zone) * 6


@kernel
def inactive_anon_is_low(mem, zone):
    """Kernel: mm/vmscan.c inactive_anon_is_low() (no memory cgroups): only with swap."""
    if mem.cfg[CFG_TOTAL_SWAP_PAGES] == 0:
        return False
    return zone_page_state(mem, zone, NR_INACTIVE_ANON) * mem.inactive_ratio[zone] < \
        zone_page_state(mem, zone, NR_ACTIVE_ANON)


@kernel
def inactive_file_is_low(mem, zone):
    """Kernel: mm/vmscan.c inactive_file_is_low()."""
    return zone_page_state(mem, zone, NR_ACTIVE_FILE) > zone_page_state(mem, zone, NR_INACTIVE_FILE)


@kernel
def inactive_list_is_low(mem, zone, lru):
    """Kernel: mm/vmscan.c inactive_list_is_low()."""
    if lru == LRU_ACTIVE_FILE or lru == LRU_INACTIVE_FILE:
        return inactive_file_is_low(mem, zone)
    return inactive_anon_is_low(mem, zone)


@kernel
def page_check_references(mem, page):
    """Kernel: mm/vmscan.c page_check_references().  kmemsim has no page-table young bits:
    a mapped (anonymous) page's PG_referenced stands for them (touching a task's pages marks
    them accessed), and for a page cache page PG_referenced is referenced_page."""
    if page_mapped(mem, page):
        if TestClearPageReferenced(mem, page):
            return PAGEREF_ACTIVATE             # referenced ptes of a swap-backed page
        return PAGEREF_RECLAIM
    if TestClearPageReferenced(mem, page) and not PageSwapBacked(mem, page):
        return PAGEREF_RECLAIM_CLEAN
    return PAGEREF_RECLAIM


@kernel
def add_to_swap(mem, page):
    """Kernel: mm/swap_state.c add_to_swap(): a swap slot (get_swap_page) and the swap
    cache (its reference, NR_FILE_PAGES), the page marked dirty so it is written out.
    False when no slot is free."""
    if mem.cfg[CFG_NR_SWAP_PAGES] <= 0:
        return False
    mem.cfg[CFG_NR_SWAP_PAGES] -= 1
    SetPageSwapCache(mem, page)
    get_page(mem, page)
    __inc_zone_state(mem, page_zone_id(mem, page), NR_FILE_PAGES)
    SetPageDirty(mem, page)
    return True


@kernel
def try_to_unmap(mem, page):
    """Kernel: mm/rmap.c try_to_unmap() of an anonymous page in the swap cache: the task's
    pte becomes a swap entry (MM_SWAPENTS), the mapping's reference goes."""
    task = mem.mapping[page]
    page_remove_rmap(mem, page)
    mem.owners[task, OW_SWAP] += 1
    mem.count[page] -= 1
    return SWAP_SUCCESS


@kernel
def shmem_writepage(mem, page):
    """Kernel: mm/shmem.c shmem_writepage(): a tmpfs page moves from its file to the swap
    cache and is written; without a free swap slot it is redirtied and stays active."""
    if mem.cfg[CFG_NR_SWAP_PAGES] <= 0:
        return PAGE_ACTIVATE
    file = mem.mapping[page]
    zone = page_zone_id(mem, page)
    __dec_zone_state(mem, zone, NR_SHMEM)
    owner_del_page(mem, page)
    mem.owners[file, OW_SWAP] += 1
    mem.cfg[CFG_NR_SWAP_PAGES] -= 1
    SetPageSwapCache(mem, page)             # the page cache's reference becomes the swap cache's
    ClearPageDirty(mem, page)
    set_page_writeback(mem, page)
    count_vm_event(mem, EV_PSWPOUT)
    return PAGE_SUCCESS


@kernel
def pageout(mem, page):
    """Kernel: mm/vmscan.c pageout(): clear the dirty bit for I/O and start writing the page
    (PG_reclaim set, so its end rotates it for reclaim).  Returns PAGE_SUCCESS, or what
    shmem_writepage says."""
    SetPageReclaim(mem, page)
    if not PageSwapCache(mem, page) and PageSwapBacked(mem, page):
        res = shmem_writepage(mem, page)
        if res == PAGE_SUCCESS:
            trace_mm_vmscan_writepage(mem, page, RECLAIM_WB_ANON | RECLAIM_WB_ASYNC)
        return res
    ClearPageDirty(mem, page)
    zone = page_zone_id(mem, page)
    if PageSwapCache(mem, page):
        count_vm_event(mem, EV_PSWPOUT)
    else:
        __dec_zone_state(mem, zone, NR_FILE_DIRTY)
        mem.owners[mem.mapping[page], OW_DIRTY] -= 1
    set_page_writeback(mem, page)
    count_vm_event(mem, EV_PGPGOUT)
    trace_mm_vmscan_writepage(mem, page, (RECLAIM_WB_ANON if PageSwapCache(mem, page)
                                          else RECLAIM_WB_FILE) | RECLAIM_WB_ASYNC)
    return PAGE_SUCCESS


@kernel
def __remove_mapping(mem, page):
    """Kernel: mm/vmscan.c __remove_mapping(): a clean page held only by its cache and the
    isolation leaves the swap cache or its file; its count drops to zero.  False when
    someone else holds it."""
    if mem.count[page] != 2 or PageDirty(mem, page):
        return False
    if PageSwapCache(mem, page):
        ClearPageSwapCache(mem, page)
        __dec_zone_state(mem, page_zone_id(mem, page), NR_FILE_PAGES)
    else:
        __delete_from_page_cache(mem, page)
    mem.count[page] = 0
    return True


@kernel
def shrink_page_list(mem, sc, zone, page_list):
    """Kernel: mm/vmscan.c shrink_page_list(): try to free each isolated page of
    ``page_list``; what cannot be freed comes back on the list (activated or kept).
    Returns (nr_reclaimed, nr_dirty, nr_unqueued_dirty, nr_congested, nr_writeback,
    nr_immediate)."""
    ret_pages = scratch_list(mem, LH_RET)
    free_pages = scratch_list(mem, LH_FREE)
    INIT_LIST_HEAD(mem, ret_pages)
    INIT_LIST_HEAD(mem, free_pages)
    pgactivate = 0
    nr_reclaimed = 0
    nr_dirty = 0
    nr_unqueued_dirty = 0
    nr_congested = 0
    nr_writeback = 0
    nr_immediate = 0
    kswapd = current_is_kswapd(mem)
    gfp = mem.scan_control[sc, SC_GFP_MASK]
    while not list_empty(mem, page_list):
        page = np.int64(list_last_entry(mem, page_list))
        list_del(mem, page)
        mem.scan_control[sc, SC_NR_SCANNED] += 1
        action = _KEEP
        mapped = page_mapped(mem, page)
        if mem.scan_control[sc, SC_MAY_UNMAP] == 0 and mapped:
            action = _KEEP
        else:
            if mapped or PageSwapCache(mem, page):
                mem.scan_control[sc, SC_NR_SCANNED] += 1
            may_enter_fs = (gfp & __GFP_FS) != 0 or \
                (PageSwapCache(mem, page) and (gfp & __GFP_IO) != 0)
            dirty = PageDirty(mem, page)
            writeback = PageWriteback(mem, page)
            if dirty or writeback:
                nr_dirty += 1
            if dirty and not writeback:
                nr_unqueued_dirty += 1
            if bdi_congested(mem, BLK_RW_ASYNC) or (writeback and PageReclaim(mem, page)):
                nr_congested += 1
            action = _TRY
            if writeback:
                if kswapd and PageReclaim(mem, page) and \
                        (mem.zone_misc[zone, ZM_FLAGS] >> ZONE_WRITEBACK) & 1:
                    nr_immediate += 1
                else:
                    SetPageReclaim(mem, page)
                    nr_writeback += 1
                action = _KEEP
            references = PAGEREF_RECLAIM
            if action == _TRY:
                references = page_check_references(mem, page)
                if references == PAGEREF_ACTIVATE:
                    action = _ACTIVATE
            if action == _TRY and mapped and not PageSwapCache(mem, page):
                if (gfp & __GFP_IO) == 0:
                    action = _KEEP
                elif not add_to_swap(mem, page):
                    action = _ACTIVATE
                else:
                    may_enter_fs = True
            if action == _TRY and page_mapped(mem, page):
                try_to_unmap(mem, page)
            if action == _TRY and PageDirty(mem, page):
                if page_is_file_cache(mem, page) and \
                        (not kswapd or (mem.zone_misc[zone, ZM_FLAGS] >> ZONE_TAIL_LRU_DIRTY) & 1 == 0):
                    __inc_zone_state(mem, zone, NR_VMSCAN_IMMEDIATE)
                    SetPageReclaim(mem, page)
                    action = _KEEP
                elif references == PAGEREF_RECLAIM_CLEAN or not may_enter_fs \
                        or mem.scan_control[sc, SC_MAY_WRITEPAGE] == 0:
                    action = _KEEP
                else:
                    r = pageout(mem, page)
                    if r == PAGE_ACTIVATE:
                        action = _ACTIVATE
                    else:
                        action = _KEEP              # under writeback now
            if action == _TRY:
                if __remove_mapping(mem, page):
                    nr_reclaimed += 1
                    list_add(mem, page, free_pages)
                    continue
                action = _KEEP
        if action == _ACTIVATE:
            SetPageActive(mem, page)
            pgactivate += 1
        list_add(mem, page, ret_pages)
    # free_hot_cold_page_list(&free_pages, 1)
    while not list_empty(mem, free_pages):
        page = np.int64(list_first_entry(mem, free_pages))
        list_del(mem, page)
        trace_mm_page_free_batched(mem, page, 1)
        free_hot_cold_page(mem, page, 1)
    list_splice(mem, ret_pages, page_list)
    count_vm_events(mem, EV_PGACTIVATE, pgactivate)
    return nr_reclaimed, nr_dirty, nr_unqueued_dirty, nr_congested, nr_writeback, nr_immediate


@kernel
def putback_inactive_pages(mem, zone, page_list):
    """Kernel: mm/vmscan.c putback_inactive_pages(): the survivors back onto their LRU
    lists; one whose last reference was the isolation's stays on ``page_list`` to be freed."""
    to_free = scratch_list(mem, LH_SPARE)
    INIT_LIST_HEAD(mem, to_free)
    while not list_empty(mem, page_list):
        page = np.int64(list_last_entry(mem, page_list))
        list_del(mem, page)
        SetPageLRU(mem, page)
        lru = page_lru(mem, page)
        add_page_to_lru_list(mem, page, zone, lru)
        if lru == LRU_ACTIVE_ANON or lru == LRU_ACTIVE_FILE:
            mem.zone_misc[zone, ZM_RECENT_ROTATED_ANON + (lru >> 1)] += 1
        if put_page_testzero(mem, page):
            __ClearPageLRU(mem, page)
            __ClearPageActive(mem, page)
            del_page_from_lru_list(mem, page, zone, lru)
            list_add(mem, page, to_free)
    list_splice(mem, to_free, page_list)


@kernel
def too_many_isolated(mem, zone, file, sc):
    """Kernel: mm/vmscan.c too_many_isolated()."""
    if current_is_kswapd(mem):
        return False
    if file:
        inactive = zone_page_state(mem, zone, NR_INACTIVE_FILE)
        isolated = zone_page_state(mem, zone, NR_ISOLATED_FILE)
    else:
        inactive = zone_page_state(mem, zone, NR_INACTIVE_ANON)
        isolated = zone_page_state(mem, zone, NR_ISOLATED_ANON)
    if (mem.scan_control[sc, SC_GFP_MASK] & GFP_IOFS) == GFP_IOFS:
        inactive >>= 3
    return isolated > inactive


@kernel
def trace_shrink_flags(file):
    """Kernel: include/trace/events/gfpflags.h trace_shrink_flags(): reclaim is always async."""
    return (RECLAIM_WB_FILE if file else RECLAIM_WB_ANON) | RECLAIM_WB_ASYNC


@kernel
def shrink_inactive_list(mem, nr_to_scan, zone, sc, lru):
    """Kernel: mm/vmscan.c shrink_inactive_list(): isolate up to ``nr_to_scan`` pages from
    the tail of an inactive list, try to free them, put the rest back, and throttle on
    dirty and congested pages as 3.13 does.  Returns the pages reclaimed."""
    file = 0
    if lru == LRU_INACTIVE_FILE:
        file = 1
    while too_many_isolated(mem, zone, file, sc):
        congestion_wait(mem, BLK_RW_ASYNC, mem.cfg[CFG_HZ] // 10)
    lru_add_drain(mem)
    mode = 0
    if mem.scan_control[sc, SC_MAY_UNMAP] == 0:
        mode |= ISOLATE_UNMAPPED
    if mem.scan_control[sc, SC_MAY_WRITEPAGE] == 0:
        mode |= ISOLATE_CLEAN
    page_list = scratch_list(mem, LH_PAGE_LIST)
    INIT_LIST_HEAD(mem, page_list)
    nr_taken, nr_scanned = isolate_lru_pages(mem, nr_to_scan, zone, page_list, mode, lru)
    trace_mm_vmscan_lru_isolate(mem, mem.scan_control[sc, SC_ORDER], nr_to_scan, nr_scanned,
                                nr_taken, mode, file)
    __mod_zone_page_state(mem, zone, NR_LRU_BASE + lru, -nr_taken)
    __mod_zone_page_state(mem, zone, NR_ISOLATED_ANON + file, nr_taken)
    kswapd = current_is_kswapd(mem)
    mem.pages_scanned[zone] += nr_scanned
    if kswapd:
        count_zone_vm_events(mem, EV_PGSCAN_KSWAPD, zone, nr_scanned)
    else:
        count_zone_vm_events(mem, EV_PGSCAN_DIRECT, zone, nr_scanned)
    if nr_taken == 0:
        return 0
    nr_reclaimed, nr_dirty, nr_unqueued_dirty, nr_congested, nr_writeback, nr_immediate = \
        shrink_page_list(mem, sc, zone, page_list)
    mem.zone_misc[zone, ZM_RECENT_SCANNED_ANON + file] += nr_taken
    if kswapd:
        count_zone_vm_events(mem, EV_PGSTEAL_KSWAPD, zone, nr_reclaimed)
    else:
        count_zone_vm_events(mem, EV_PGSTEAL_DIRECT, zone, nr_reclaimed)
    putback_inactive_pages(mem, zone, page_list)
    __mod_zone_page_state(mem, zone, NR_ISOLATED_ANON + file, -nr_taken)
    while not list_empty(mem, page_list):           # free_hot_cold_page_list(&page_list, 1)
        page = np.int64(list_first_entry(mem, page_list))
        list_del(mem, page)
        trace_mm_page_free_batched(mem, page, 1)
        free_hot_cold_page(mem, page, 1)
    if nr_writeback and nr_writeback == nr_taken:
        mem.zone_misc[zone, ZM_FLAGS] |= 1 << ZONE_WRITEBACK
    if nr_dirty and nr_dirty == nr_congested:
        mem.zone_misc[zone, ZM_FLAGS] |= 1 << ZONE_CONGESTED
    if nr_unqueued_dirty == nr_taken:
        mem.zone_misc[zone, ZM_FLAGS] |= 1 << ZONE_TAIL_LRU_DIRTY
    if nr_unqueued_dirty == nr_taken or nr_immediate:
        congestion_wait(mem, BLK_RW_ASYNC, mem.cfg[CFG_HZ] // 10)
    if not kswapd:
        wait_iff_congested(mem, zone, BLK_RW_ASYNC, mem.cfg[CFG_HZ] // 10)
    nz = mem.cfg[CFG_MAX_NR_ZONES]
    trace_mm_vmscan_lru_shrink_inactive(mem, zone // nz, zone % nz, nr_scanned, nr_reclaimed,
                                        mem.scan_control[sc, SC_PRIORITY],
                                        trace_shrink_flags(file))
    return nr_reclaimed


@kernel
def move_active_pages_to_lru(mem, zone, list_head, pages_to_free, lru):
    """Kernel: mm/vmscan.c move_active_pages_to_lru()."""
    pgmoved = 0
    while not list_empty(mem, list_head):
        page = np.int64(list_last_entry(mem, list_head))
        SetPageLRU(mem, page)
        list_move(mem, page, lru_list_head(mem, zone, lru))
        pgmoved += 1
        if put_page_testzero(mem, page):
            __ClearPageLRU(mem, page)
            __ClearPageActive(mem, page)
            del_page_from_lru_list(mem, page, zone, lru)
            list_add(mem, page, pages_to_free)
    __mod_zone_page_state(mem, zone, NR_LRU_BASE + lru, pgmoved)
    if lru != LRU_ACTIVE_ANON and lru != LRU_ACTIVE_FILE:
        count_vm_events(mem, EV_PGDEACTIVATE, pgmoved)


@kernel
def shrink_active_list(mem, nr_to_scan, zone, sc, lru):
    """Kernel: mm/vmscan.c shrink_active_list(): move pages from the tail of an active list
    to the inactive one; referenced mapped pages count as rotated (an executable file page
    would stay active: kmemsim has none)."""
    lru_add_drain(mem)
    file = 0
    if lru == LRU_ACTIVE_FILE:
        file = 1
    mode = 0
    if mem.scan_control[sc, SC_MAY_UNMAP] == 0:
        mode |= ISOLATE_UNMAPPED
    if mem.scan_control[sc, SC_MAY_WRITEPAGE] == 0:
        mode |= ISOLATE_CLEAN
    l_hold = scratch_list(mem, LH_HOLD)
    l_active = scratch_list(mem, LH_ACTIVE)
    l_inactive = scratch_list(mem, LH_INACTIVE)
    INIT_LIST_HEAD(mem, l_hold)
    INIT_LIST_HEAD(mem, l_active)
    INIT_LIST_HEAD(mem, l_inactive)
    nr_taken, nr_scanned = isolate_lru_pages(mem, nr_to_scan, zone, l_hold, mode, lru)
    trace_mm_vmscan_lru_isolate(mem, mem.scan_control[sc, SC_ORDER], nr_to_scan, nr_scanned,
                                nr_taken, mode, file)
    mem.pages_scanned[zone] += nr_scanned
    mem.zone_misc[zone, ZM_RECENT_SCANNED_ANON + file] += nr_taken
    count_zone_vm_events(mem, EV_PGREFILL, zone, nr_scanned)
    __mod_zone_page_state(mem, zone, NR_LRU_BASE + lru, -nr_taken)
    __mod_zone_page_state(mem, zone, NR_ISOLATED_ANON + file, nr_taken)
    nr_rotated = 0
    while not list_empty(mem, l_hold):
        page = np.int64(list_last_entry(mem, l_hold))
        list_del(mem, page)
        if page_mapped(mem, page) and TestClearPageReferenced(mem, page):
            nr_rotated += 1
        ClearPageActive(mem, page)
        list_add(mem, page, l_inactive)
    mem.zone_misc[zone, ZM_RECENT_ROTATED_ANON + file] += nr_rotated
    move_active_pages_to_lru(mem, zone, l_active, l_hold, lru)
    move_active_pages_to_lru(mem, zone, l_inactive, l_hold, lru - LRU_ACTIVE)
    __mod_zone_page_state(mem, zone, NR_ISOLATED_ANON + file, -nr_taken)
    while not list_empty(mem, l_hold):
        page = np.int64(list_first_entry(mem, l_hold))
        list_del(mem, page)
        trace_mm_page_free_batched(mem, page, 1)
        free_hot_cold_page(mem, page, 1)


@kernel
def shrink_list(mem, lru, nr_to_scan, zone, sc):
    """Kernel: mm/vmscan.c shrink_list()."""
    if lru == LRU_ACTIVE_ANON or lru == LRU_ACTIVE_FILE:
        if inactive_list_is_low(mem, zone, lru):
            shrink_active_list(mem, nr_to_scan, zone, sc, lru)
        return 0
    return shrink_inactive_list(mem, nr_to_scan, zone, sc, lru)


@kernel
def get_scan_count(mem, zone, sc):
    """Kernel: mm/vmscan.c get_scan_count(): how many pages of each evictable list to scan
    at this priority (into scan_control's nr[]): file only without swap, anon only when file
    plus free pages are below the high watermark, file only while the inactive file list is
    large enough, else in proportion to swappiness and the recent rotation ratios."""
    force_scan = current_is_kswapd(mem) and not zone_reclaimable(mem, zone)
    priority = mem.scan_control[sc, SC_PRIORITY]
    swappiness = mem.cfg[CFG_SWAPPINESS]
    balance = SCAN_FRACT
    fraction_anon = np.int64(0)
    fraction_file = np.int64(0)
    denominator = np.int64(1)
    if mem.scan_control[sc, SC_MAY_SWAP] == 0 or mem.cfg[CFG_NR_SWAP_PAGES] <= 0:
        balance = SCAN_FILE
    elif priority == 0 and swappiness:
        balance = SCAN_EQUAL
    else:
        anon = zone_page_state(mem, zone, NR_ACTIVE_ANON) + zone_page_state(mem, zone, NR_INACTIVE_ANON)
        file = zone_page_state(mem, zone, NR_ACTIVE_FILE) + zone_page_state(mem, zone, NR_INACTIVE_FILE)
        free = zone_page_state(mem, zone, NR_FREE_PAGES)
        if file + free <= mem.watermark[zone, WMARK_HIGH]:
            balance = SCAN_ANON
        elif not inactive_file_is_low(mem, zone):
            balance = SCAN_FILE
        else:
            anon_prio = swappiness
            file_prio = 200 - anon_prio
            if mem.zone_misc[zone, ZM_RECENT_SCANNED_ANON] > anon // 4:
                mem.zone_misc[zone, ZM_RECENT_SCANNED_ANON] //= 2
                mem.zone_misc[zone, ZM_RECENT_ROTATED_ANON] //= 2
            if mem.zone_misc[zone, ZM_RECENT_SCANNED_FILE] > file // 4:
                mem.zone_misc[zone, ZM_RECENT_SCANNED_FILE] //= 2
                mem.zone_misc[zone, ZM_RECENT_ROTATED_FILE] //= 2
            fraction_anon = anon_prio * (mem.zone_misc[zone, ZM_RECENT_SCANNED_ANON] + 1) // \
                (mem.zone_misc[zone, ZM_RECENT_ROTATED_ANON] + 1)
            fraction_file = file_prio * (mem.zone_misc[zone, ZM_RECENT_SCANNED_FILE] + 1) // \
                (mem.zone_misc[zone, ZM_RECENT_ROTATED_FILE] + 1)
            denominator = fraction_anon + fraction_file + 1
    for lru in range(LRU_UNEVICTABLE):
        file = lru >> 1
        size = zone_page_state(mem, zone, NR_LRU_BASE + lru)
        scan = size >> priority
        if scan == 0 and force_scan:
            scan = min(size, SWAP_CLUSTER_MAX)
        if balance == SCAN_FRACT:
            if file:
                scan = scan * fraction_file // denominator
            else:
                scan = scan * fraction_anon // denominator
        elif balance == SCAN_FILE:
            if file == 0:
                scan = 0
        elif balance == SCAN_ANON:
            if file == 1:
                scan = 0
        mem.scan_control[sc, SC_NR + lru] = scan


@kernel
def shrink_lruvec(mem, zone, sc):
    """Kernel: mm/vmscan.c shrink_lruvec(): scan the lists in SWAP_CLUSTER_MAX bites until
    get_scan_count's targets are done; direct reclaim stops once it has reclaimed enough,
    kswapd scales the other type's remaining scan to keep the proportions; finally age the
    active anon list when the inactive one is low."""
    get_scan_count(mem, zone, sc)
    for lru in range(NR_LRU_LISTS):
        mem.scan_control[sc, SC_TARGETS + lru] = mem.scan_control[sc, SC_NR + lru]
    nr_reclaimed = 0
    nr_to_reclaim = mem.scan_control[sc, SC_NR_TO_RECLAIM]
    scan_adjusted = False
    kswapd = current_is_kswapd(mem)
    while mem.scan_control[sc, SC_NR + LRU_INACTIVE_ANON] or \
            mem.scan_control[sc, SC_NR + LRU_ACTIVE_FILE] or \
            mem.scan_control[sc, SC_NR + LRU_INACTIVE_FILE]:
        for lru in range(LRU_UNEVICTABLE):
            n = mem.scan_control[sc, SC_NR + lru]
            if n:
                nr_to_scan = min(n, SWAP_CLUSTER_MAX)
                mem.scan_control[sc, SC_NR + lru] = n - nr_to_scan
                nr_reclaimed += shrink_list(mem, lru, nr_to_scan, zone, sc)
        if nr_reclaimed < nr_to_reclaim or scan_adjusted:
            continue
        if not kswapd:
            break
        nr_file = mem.scan_control[sc, SC_NR + LRU_INACTIVE_FILE] + \
            mem.scan_control[sc, SC_NR + LRU_ACTIVE_FILE]
        nr_anon = mem.scan_control[sc, SC_NR + LRU_INACTIVE_ANON] + \
            mem.scan_control[sc, SC_NR + LRU_ACTIVE_ANON]
        if nr_file > nr_anon:
            target = mem.scan_control[sc, SC_TARGETS + LRU_INACTIVE_ANON] + \
                mem.scan_control[sc, SC_TARGETS + LRU_ACTIVE_ANON] + 1
            lru = LRU_BASE
            percentage = nr_anon * 100 // target
        else:
            target = mem.scan_control[sc, SC_TARGETS + LRU_INACTIVE_FILE] + \
                mem.scan_control[sc, SC_TARGETS + LRU_ACTIVE_FILE] + 1
            lru = LRU_FILE
            percentage = nr_file * 100 // target
        mem.scan_control[sc, SC_NR + lru] = 0
        mem.scan_control[sc, SC_NR + lru + LRU_ACTIVE] = 0
        if lru == LRU_FILE:
            lru = LRU_BASE
        else:
            lru = LRU_FILE
        for other in range(lru, lru + 2):
            t = mem.scan_control[sc, SC_TARGETS + other]
            scanned = t - mem.scan_control[sc, SC_NR + other]
            n = t * (100 - percentage) // 100
            n -= min(n, scanned)
            mem.scan_control[sc, SC_NR + other] = n
        scan_adjusted = True
    mem.scan_control[sc, SC_NR_RECLAIMED] += nr_reclaimed
    if inactive_anon_is_low(mem, zone):
        shrink_active_list(mem, SWAP_CLUSTER_MAX, zone, sc, LRU_ACTIVE_ANON)


@kernel
def in_reclaim_compaction(mem, sc):
    """Kernel: mm/vmscan.c in_reclaim_compaction()."""
    order = mem.scan_control[sc, SC_ORDER]
    if mem.cfg[CFG_COMPACTION] == 0 or order == 0:
        return False
    return order > PAGE_ALLOC_COSTLY_ORDER or mem.scan_control[sc, SC_PRIORITY] < DEF_PRIORITY - 2


@kernel
def should_continue_reclaim(mem, zone, nr_reclaimed, nr_scanned, sc):
    """Kernel: mm/vmscan.c should_continue_reclaim(): for reclaim/compaction, go on until
    2 << order pages are free for compaction to work with."""
    if not in_reclaim_compaction(mem, sc):
        return False
    if mem.scan_control[sc, SC_GFP_MASK] & __GFP_REPEAT:
        if nr_reclaimed == 0 and nr_scanned == 0:
            return False
    elif nr_reclaimed == 0:
        return False
    order = mem.scan_control[sc, SC_ORDER]
    pages_for_compaction = 2 << order
    inactive = zone_page_state(mem, zone, NR_INACTIVE_FILE)
    if mem.cfg[CFG_NR_SWAP_PAGES] > 0:
        inactive += zone_page_state(mem, zone, NR_INACTIVE_ANON)
    if mem.scan_control[sc, SC_NR_RECLAIMED] < pages_for_compaction and \
            inactive > pages_for_compaction:
        return True
    r = compaction_suitable(mem, zone, order)
    if r == COMPACT_PARTIAL or r == COMPACT_CONTINUE:
        return False
    return True


@kernel
def shrink_zone(mem, zone, sc):
    """Kernel: mm/vmscan.c shrink_zone() (no memory cgroups: one lruvec)."""
    while True:
        nr_reclaimed = mem.scan_control[sc, SC_NR_RECLAIMED]
        nr_scanned = mem.scan_control[sc, SC_NR_SCANNED]
        shrink_lruvec(mem, zone, sc)
        if not should_continue_reclaim(mem, zone, mem.scan_control[sc, SC_NR_RECLAIMED] - nr_reclaimed,
                                       mem.scan_control[sc, SC_NR_SCANNED] - nr_scanned, sc):
            break


@kernel
def compaction_ready(mem, zone, sc):
    """Kernel: mm/vmscan.c compaction_ready(): for order > 3, skip reclaiming a zone where
    compaction could already work (deferred or not)."""
    order = mem.scan_control[sc, SC_ORDER]
    managed = mem.managed_pages[zone]
    balance_gap = min(mem.watermark[zone, WMARK_LOW],
                      (managed + KSWAPD_ZONE_BALANCE_GAP_RATIO - 1) // KSWAPD_ZONE_BALANCE_GAP_RATIO)
    watermark = mem.watermark[zone, WMARK_HIGH] + balance_gap + (2 << order)
    ok = zone_watermark_ok_safe(mem, zone, 0, watermark, 0, 0)
    if compaction_deferred(mem, zone, order):
        return ok
    if compaction_suitable(mem, zone, order) == COMPACT_SKIPPED:
        return False
    return ok


@kernel
def shrink_zones(mem, zonelist, high_zoneidx, nodemask, sc):
    """Kernel: mm/vmscan.c shrink_zones(): every populated zone of the zonelist the mask
    allows; below DEF_PRIORITY skip zones not worth it; for costly orders skip (and report
    aborted) zones where compaction is ready.  Returns aborted_reclaim."""
    aborted = False
    i = 0
    while True:
        zone, i = next_zones_zonelist(mem, zonelist, i, high_zoneidx, nodemask)
        if zone < 0:
            break
        if mem.present_pages[zone] == 0:
            continue
        if mem.scan_control[sc, SC_PRIORITY] != DEF_PRIORITY and not zone_reclaimable(mem, zone):
            continue
        if mem.cfg[CFG_COMPACTION] and mem.scan_control[sc, SC_ORDER] > PAGE_ALLOC_COSTLY_ORDER:
            if compaction_ready(mem, zone, sc):
                aborted = True
                continue
        shrink_zone(mem, zone, sc)
    return aborted


@kernel
def all_unreclaimable(mem, zonelist, high_zoneidx, nodemask):
    """Kernel: mm/vmscan.c all_unreclaimable()."""
    i = 0
    while True:
        zone, i = next_zones_zonelist(mem, zonelist, i, high_zoneidx, nodemask)
        if zone < 0:
            break
        if mem.present_pages[zone] and zone_reclaimable(mem, zone):
            return False
    return True


@kernel
def wakeup_flusher_threads(mem, nr_pages):
    """Kernel: fs/fs-writeback.c wakeup_flusher_threads(): the flusher writes dirty page
    cache.  kmemsim's flusher starts writeback at once on up to ``nr_pages`` (0: all) dirty
    file pages, oldest file first (a simplification: docs/slowpath.md)."""
    started = 0
    for owner in range(1, mem.cfg[CFG_MAX_OWNERS]):
        if mem.owners[owner, OW_KIND] != OWNER_FILE or mem.owners[owner, OW_DIRTY] == 0:
            continue
        head = owner_head(mem, owner)
        page = np.int64(mem.rmap_next[head])
        while page != head:
            if PageDirty(mem, page) and not PageWriteback(mem, page) and \
                    not PageSwapBacked(mem, page):
                ClearPageDirty(mem, page)
                __dec_zone_state(mem, page_zone_id(mem, page), NR_FILE_DIRTY)
                mem.owners[owner, OW_DIRTY] -= 1
                set_page_writeback(mem, page)
                count_vm_event(mem, EV_PGPGOUT)
                started += 1
                if nr_pages and started >= nr_pages:
                    return started
            page = np.int64(mem.rmap_next[page])
    return started


@kernel
def do_try_to_free_pages(mem, zonelist, high_zoneidx, nodemask, sc):
    """Kernel: mm/vmscan.c do_try_to_free_pages(): shrink the zones at falling priority until
    SWAP_CLUSTER_MAX pages are reclaimed; wake the flushers when scanning finds mostly dirty
    pages.  Returns pages reclaimed, or 1 when there is hope (aborted for compaction, or a
    zone still reclaimable), else 0 (the caller may OOM)."""
    count_vm_event(mem, EV_ALLOCSTALL)
    total_scanned = 0
    aborted = False
    while True:
        mem.scan_control[sc, SC_NR_SCANNED] = 0
        aborted = shrink_zones(mem, zonelist, high_zoneidx, nodemask, sc)
        # shrink_slab(): no shrinkers until the SLUB issue
        total_scanned += mem.scan_control[sc, SC_NR_SCANNED]
        if mem.scan_control[sc, SC_NR_RECLAIMED] >= mem.scan_control[sc, SC_NR_TO_RECLAIM]:
            break
        if mem.scan_control[sc, SC_PRIORITY] < DEF_PRIORITY - 2:
            mem.scan_control[sc, SC_MAY_WRITEPAGE] = 1
        nr = mem.scan_control[sc, SC_NR_TO_RECLAIM]
        if total_scanned > nr + nr // 2:
            if mem.cfg[CFG_LAPTOP_MODE]:
                wakeup_flusher_threads(mem, 0)
            else:
                wakeup_flusher_threads(mem, total_scanned)
            mem.scan_control[sc, SC_MAY_WRITEPAGE] = 1
        mem.scan_control[sc, SC_PRIORITY] -= 1
        if mem.scan_control[sc, SC_PRIORITY] < 0 or aborted:
            break
    if mem.scan_control[sc, SC_NR_RECLAIMED]:
        return mem.scan_control[sc, SC_NR_RECLAIMED]
    if mem.cfg[CFG_OOM_KILLER_DISABLED]:
        return 0
    if aborted:
        return 1
    if not all_unreclaimable(mem, zonelist, high_zoneidx, nodemask):
        return 1
    return 0


@kernel
def try_to_free_pages(mem, zonelist, order, gfp_mask, high_zoneidx, nodemask):
    """Kernel: mm/vmscan.c try_to_free_pages(): direct reclaim of SWAP_CLUSTER_MAX pages
    for an allocation (throttle_direct_reclaim: the pfmemalloc reserve check is not modelled,
    docs/slowpath.md)."""
    sc = SC_DIRECT
    for f in range(NR_SC):
        mem.scan_control[sc, f] = 0
    mem.scan_control[sc, SC_GFP_MASK] = gfp_mask
    mem.scan_control[sc, SC_MAY_WRITEPAGE] = 1 - mem.cfg[CFG_LAPTOP_MODE]
    mem.scan_control[sc, SC_NR_TO_RECLAIM] = SWAP_CLUSTER_MAX
    mem.scan_control[sc, SC_MAY_UNMAP] = 1
    mem.scan_control[sc, SC_MAY_SWAP] = 1
    mem.scan_control[sc, SC_ORDER] = order
    mem.scan_control[sc, SC_PRIORITY] = DEF_PRIORITY
    trace_mm_vmscan_direct_reclaim_begin(mem, order, mem.scan_control[sc, SC_MAY_WRITEPAGE],
                                         gfp_mask)
    nr_reclaimed = do_try_to_free_pages(mem, zonelist, high_zoneidx, nodemask, sc)
    trace_mm_vmscan_direct_reclaim_end(mem, nr_reclaimed)
    return nr_reclaimed


# ---- kswapd ------------------------------------------------------------------------------

@kernel
def zone_balanced(mem, zone, order, balance_gap, classzone_idx):
    """Kernel: mm/vmscan.c zone_balanced(): above the high watermark (plus a gap) for the
    order, and for order > 0 with compaction not hopeless."""
    if not zone_watermark_ok_safe(mem, zone, order, mem.watermark[zone, WMARK_HIGH] + balance_gap,
                                  classzone_idx, 0):
        return False
    if mem.cfg[CFG_COMPACTION] and order and compaction_suitable(mem, zone, order) == COMPACT_SKIPPED:
        return False
    return True


@kernel
def pgdat_balanced(mem, nid, order, classzone_idx):
    """Kernel: mm/vmscan.c pgdat_balanced(): every zone up to classzone_idx balanced for
    order 0; for higher orders a quarter of the managed pages in balanced zones suffices.
    Zones not worth reclaiming count as balanced."""
    nz = mem.cfg[CFG_MAX_NR_ZONES]
    managed = 0
    balanced = 0
    for i in range(classzone_idx + 1):
        zone = nid * nz + i
        if mem.present_pages[zone] == 0:
            continue
        managed += mem.managed_pages[zone]
        if not zone_reclaimable(mem, zone):
            balanced += mem.managed_pages[zone]
            continue
        if zone_balanced(mem, zone, order, 0, i):
            balanced += mem.managed_pages[zone]
        elif order == 0:
            return False
    if order:
        return balanced >= (managed >> 2)
    return True


@kernel
def wakeup_kswapd(mem, zone, order, classzone_idx):
    """Kernel: mm/vmscan.c wakeup_kswapd(): record the largest order asked for and wake the
    node's kswapd if it waits (asleep, or napping in kswapd_try_to_sleep) and the zone is not
    balanced."""
    if mem.present_pages[zone] == 0:
        return
    nid = zone // mem.cfg[CFG_MAX_NR_ZONES]
    if mem.pgdat_misc[nid, PGDAT_KSWAPD_MAX_ORDER] < order:
        mem.pgdat_misc[nid, PGDAT_KSWAPD_MAX_ORDER] = order
        if classzone_idx < mem.pgdat_misc[nid, PGDAT_CLASSZONE_IDX]:
            mem.pgdat_misc[nid, PGDAT_CLASSZONE_IDX] = classzone_idx
    if mem.pgdat_misc[nid, PGDAT_KSWAPD_STATE] == KSWAPD_RUNNABLE:
        return                                  # not on its wait queue
    if zone_balanced(mem, zone, order, 0, 0):
        return
    trace_mm_vmscan_wakeup_kswapd(mem, nid, zone % mem.cfg[CFG_MAX_NR_ZONES], order)
    if mem.pgdat_misc[nid, PGDAT_KSWAPD_STATE] == KSWAPD_NAPPING:
        # the HZ/10 nap of kswapd_try_to_sleep ends early (schedule_timeout returns the time
        # left): the node cannot count as balanced, and it counts a low-watermark hit
        count_vm_event(mem, EV_KSWAPD_LOW_WMARK_HIT_QUICKLY)
    mem.pgdat_misc[nid, PGDAT_KSWAPD_STATE] = KSWAPD_RUNNABLE
    mem.pgdat_misc[nid, PGDAT_KSWAPD_WOKEN] = 1


@kernel
def age_active_anon(mem, zone, sc):
    """Kernel: mm/vmscan.c age_active_anon()."""
    if mem.cfg[CFG_TOTAL_SWAP_PAGES] == 0:
        return
    if inactive_anon_is_low(mem, zone):
        shrink_active_list(mem, SWAP_CLUSTER_MAX, zone, sc, LRU_ACTIVE_ANON)


@kernel
def kswapd_shrink_zone(mem, zone, classzone_idx, sc):
    """Kernel: mm/vmscan.c kswapd_shrink_zone(): reclaim the zone towards its high
    watermark plus the balance gap unless it is there already; True when the pass scanned
    what it meant to (so the priority need not rise).  Returns (done, nr_attempted)."""
    mem.scan_control[sc, SC_NR_TO_RECLAIM] = max(SWAP_CLUSTER_MAX, mem.watermark[zone, WMARK_HIGH])
    order = mem.scan_control[sc, SC_ORDER]
    testorder = order
    if mem.cfg[CFG_COMPACTION] and order and compaction_suitable(mem, zone, order) != COMPACT_SKIPPED:
        testorder = 0
    managed = mem.managed_pages[zone]
    balance_gap = min(mem.watermark[zone, WMARK_LOW],
                      (managed + KSWAPD_ZONE_BALANCE_GAP_RATIO - 1) // KSWAPD_ZONE_BALANCE_GAP_RATIO)
    if zone_balanced(mem, zone, testorder, balance_gap, classzone_idx):
        return True, 0
    shrink_zone(mem, zone, sc)
    # shrink_slab(): no shrinkers until the SLUB issue
    nr_attempted = mem.scan_control[sc, SC_NR_TO_RECLAIM]
    mem.zone_misc[zone, ZM_FLAGS] &= ~(1 << ZONE_WRITEBACK)
    if zone_reclaimable(mem, zone) and zone_balanced(mem, zone, testorder, 0, classzone_idx):
        mem.zone_misc[zone, ZM_FLAGS] &= ~((1 << ZONE_CONGESTED) | (1 << ZONE_TAIL_LRU_DIRTY))
    return mem.scan_control[sc, SC_NR_SCANNED] >= mem.scan_control[sc, SC_NR_TO_RECLAIM], nr_attempted


@kernel
def balance_pgdat(mem, nid, order, classzone_idx):
    """Kernel: mm/vmscan.c balance_pgdat(): kswapd's reclaim of a node until its zones up to
    ``classzone_idx`` are balanced for ``order`` (or priority runs out).  Returns (the order
    it ended at, end_zone)."""
    sc = SC_KSWAPD
    for f in range(NR_SC):
        mem.scan_control[sc, f] = 0
    mem.scan_control[sc, SC_GFP_MASK] = GFP_KERNEL
    mem.scan_control[sc, SC_PRIORITY] = DEF_PRIORITY
    mem.scan_control[sc, SC_MAY_UNMAP] = 1
    mem.scan_control[sc, SC_MAY_SWAP] = 1
    mem.scan_control[sc, SC_MAY_WRITEPAGE] = 1 - mem.cfg[CFG_LAPTOP_MODE]
    mem.scan_control[sc, SC_ORDER] = order
    count_vm_event(mem, EV_PAGEOUTRUN)
    nz = mem.cfg[CFG_MAX_NR_ZONES]
    end_zone = 0
    while True:
        nr_attempted = 0
        raise_priority = True
        needs_compaction = order > 0
        mem.scan_control[sc, SC_NR_RECLAIMED] = 0
        found = False
        for i in range(nz - 1, -1, -1):
            zone = nid * nz + i
            if mem.present_pages[zone] == 0:
                continue
            if mem.scan_control[sc, SC_PRIORITY] != DEF_PRIORITY and not zone_reclaimable(mem, zone):
                continue
            age_active_anon(mem, zone, sc)
            if not zone_balanced(mem, zone, order, 0, 0):
                end_zone = i
                found = True
                break
            mem.zone_misc[zone, ZM_FLAGS] &= ~((1 << ZONE_CONGESTED) | (1 << ZONE_TAIL_LRU_DIRTY))
        if not found:
            break
        for i in range(end_zone + 1):
            zone = nid * nz + i
            if mem.present_pages[zone] == 0:
                continue
            if needs_compaction and zone_watermark_ok(mem, zone, order, mem.watermark[zone, WMARK_LOW],
                                                      classzone_idx, 0):
                needs_compaction = False
        if mem.scan_control[sc, SC_PRIORITY] < DEF_PRIORITY - 2:
            mem.scan_control[sc, SC_MAY_WRITEPAGE] = 1
        for i in range(end_zone + 1):
            zone = nid * nz + i
            if mem.present_pages[zone] == 0:
                continue
            if mem.scan_control[sc, SC_PRIORITY] != DEF_PRIORITY and not zone_reclaimable(mem, zone):
                continue
            mem.scan_control[sc, SC_NR_SCANNED] = 0
            done, attempted = kswapd_shrink_zone(mem, zone, end_zone, sc)
            nr_attempted += attempted
            if done:
                raise_priority = False
        if order and mem.scan_control[sc, SC_NR_RECLAIMED] >= (2 << order):
            order = 0
            mem.scan_control[sc, SC_ORDER] = 0
        if needs_compaction and mem.scan_control[sc, SC_NR_RECLAIMED] > nr_attempted:
            compact_pgdat(mem, nid, order)
        if raise_priority or mem.scan_control[sc, SC_NR_RECLAIMED] == 0:
            mem.scan_control[sc, SC_PRIORITY] -= 1
        if mem.scan_control[sc, SC_PRIORITY] < 1 or pgdat_balanced(mem, nid, order, classzone_idx):
            break
    return order, end_zone


@kernel
def kswapd_run(mem, nid):
    """Kernel: mm/vmscan.c kswapd(), one turn of its loop, run by kmemsim's scheduler when
    the thread is runnable (kmemsim.sim.sched): take the request recorded by wakeup_kswapd,
    balance_pgdat, then kswapd_try_to_sleep: a node left balanced puts kswapd on its short
    HZ/10 nap (the scheduler finishes the nap later, and it then sleeps until woken);
    otherwise it counts a "hit quickly" and stays runnable."""
    nz = mem.cfg[CFG_MAX_NR_ZONES]
    order = mem.pgdat_misc[nid, PGDAT_KSWAPD_MAX_ORDER]
    classzone_idx = mem.pgdat_misc[nid, PGDAT_CLASSZONE_IDX]
    mem.pgdat_misc[nid, PGDAT_KSWAPD_MAX_ORDER] = 0
    mem.pgdat_misc[nid, PGDAT_CLASSZONE_IDX] = nz - 1
    mem.pgdat_misc[nid, PGDAT_KSWAPD_WOKEN] = 0
    trace_mm_vmscan_kswapd_wake(mem, nid, order)
    balanced_order, balanced_classzone = balance_pgdat(mem, nid, order, classzone_idx)
    mem.pgdat_misc[nid, PGDAT_KSWAPD_BALANCED_ORDER] = balanced_order
    mem.pgdat_misc[nid, PGDAT_KSWAPD_BALANCED_CLASSZONE] = balanced_classzone
    if pgdat_balanced(mem, nid, balanced_order, balanced_classzone):
        mem.pgdat_misc[nid, PGDAT_KSWAPD_STATE] = KSWAPD_NAPPING
        mem.pgdat_misc[nid, PGDAT_KSWAPD_SLEEP_UNTIL] = mem.cfg[CFG_JIFFIES] + mem.cfg[CFG_HZ] // 10
    else:
        count_vm_event(mem, EV_KSWAPD_HIGH_WMARK_HIT_QUICKLY)


@kernel
def kswapd_nap_over(mem, nid):
    """Kernel: mm/vmscan.c kswapd_try_to_sleep(), after the HZ/10 nap: still balanced and
    not woken meanwhile, kswapd resets the compaction skip hints and sleeps until woken;
    woken early it counts KSWAPD_LOW_WMARK_HIT_QUICKLY and runs again."""
    order = mem.pgdat_misc[nid, PGDAT_KSWAPD_BALANCED_ORDER]
    classzone_idx = mem.pgdat_misc[nid, PGDAT_KSWAPD_BALANCED_CLASSZONE]
    if mem.pgdat_misc[nid, PGDAT_KSWAPD_WOKEN] == 0 and pgdat_balanced(mem, nid, order, classzone_idx):
        trace_mm_vmscan_kswapd_sleep(mem, nid)
        reset_isolation_suitable(mem, nid)
        mem.pgdat_misc[nid, PGDAT_KSWAPD_STATE] = KSWAPD_SLEEPING
    else:
        count_vm_event(mem, EV_KSWAPD_LOW_WMARK_HIT_QUICKLY)
        mem.pgdat_misc[nid, PGDAT_KSWAPD_STATE] = KSWAPD_RUNNABLE
