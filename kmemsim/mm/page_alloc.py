"""The buddy allocator's core: free areas, splitting, merging, migratetype fallback.

Kernel: mm/page_alloc.c (v3.13).  Every function takes the machine state ``mem``
(:class:`kmemsim.mm.mmzone.Mem`) first; after it come the kernel's own arguments, where a
``struct page *`` is a pfn and a ``struct zone *`` is a zone id.  The kernel's ``area`` argument
(a pointer to ``zone->free_area[order]``) is implied by the order and not passed.

Locking (zone->lock, irq save/restore) has no counterpart: kmemsim runs one operation at a time.
"""

import numpy as np

from kmemsim.jit import kernel
from kmemsim.trace.events import trace_mm_page_alloc_extfrag, trace_mm_page_alloc_zone_locked, \
    trace_mm_page_free
from kmemsim.lib.list import list_add, list_add_tail, list_del, list_empty, list_first_entry, \
    list_move
from kmemsim.mm.mmzone import CFG_EV_PGFREE, CFG_MAX_NR_ZONES, CFG_MIGRATE_CMA, \
    CFG_MOBILITY_DISABLED, CFG_PAGEBLOCK_ORDER, \
    MAX_ORDER, MIGRATE_MOVABLE, MIGRATE_PCPTYPES, MIGRATE_RECLAIMABLE, MIGRATE_RESERVE, \
    MIGRATE_UNMOVABLE, NR_FREE_CMA_PAGES, NR_FREE_PAGES, WMARK_MIN, free_list, \
    is_migrate_cma, is_migrate_isolate, page_to_nid, page_zone_id, pfn_valid, \
    pfn_valid_within, zone_end_pfn, zone_spans_pfn
from kmemsim.mm.page_flags import PageBuddy, PageCompound, PageReserved, __ClearPageBuddy, \
    __SetPageBuddy
from kmemsim.mm.gfp import __GFP_COMP
from kmemsim.mm.vmstat import __count_vm_events, __mod_zone_freepage_state, __mod_zone_page_state
from kmemsim.mm.pageblock_flags import PB_migrate, PB_migrate_end, get_pageblock_flags_group, \
    set_pageblock_flags_group

__all__ = [
    "set_page_order", "rmv_page_order", "page_order", "__find_buddy_index", "page_is_buddy",
    "__free_one_page", "free_one_page", "__free_pages_ok", "__free_pages", "__free_pages_bootmem",
    "expand", "__rmqueue_smallest", "move_freepages", "move_freepages_block",
    "change_pageblock_range", "try_to_steal_freepages", "__rmqueue_fallback", "__rmqueue",
    "get_pageblock_migratetype", "set_pageblock_migratetype", "get_freepage_migratetype",
    "set_freepage_migratetype",
    "prep_new_page", "put_page_testzero", "pageblock_is_reserved", "setup_zone_migrate_reserve",
    "__free_reserved_page", "free_reserved_page", "init_cma_reserved_pageblock",
    "compound_order", "prep_compound_page", "destroy_compound_page", "free_pages_prepare",
    "split_page",
]


# ---- small helpers of include/linux/mm.h, mmzone.h, vmstat.h ----------------------------------

@kernel
def set_page_order(mem, page, order):
    """Kernel: mm/page_alloc.c set_page_order(): record the order and mark PageBuddy."""
    mem.private[page] = order
    __SetPageBuddy(mem, page)


@kernel
def rmv_page_order(mem, page):
    """Kernel: mm/page_alloc.c rmv_page_order()."""
    __ClearPageBuddy(mem, page)
    mem.private[page] = 0


@kernel
def page_order(mem, page):
    """Kernel: mm/internal.h page_order(): page_private of a PageBuddy page (as int64, so that
    ``1 << order`` cannot overflow a uint8 in Python mode)."""
    return np.int64(mem.private[page])


@kernel
def get_pageblock_migratetype(mem, page):
    """Kernel: include/linux/mmzone.h get_pageblock_migratetype()."""
    return get_pageblock_flags_group(mem, page, PB_migrate, PB_migrate_end)


@kernel
def set_pageblock_migratetype(mem, page, migratetype):
    """Kernel: mm/page_alloc.c set_pageblock_migratetype(): with mobility grouping disabled
    every per-cpu type is recorded as MIGRATE_UNMOVABLE."""
    if mem.cfg[CFG_MOBILITY_DISABLED] != 0 and migratetype < MIGRATE_PCPTYPES:
        migratetype = MIGRATE_UNMOVABLE
    set_pageblock_flags_group(mem, page, migratetype, PB_migrate, PB_migrate_end)


@kernel
def get_freepage_migratetype(mem, page):
    """Kernel: include/linux/mm.h get_freepage_migratetype() (page->index)."""
    return np.int64(mem.index[page])


@kernel
def set_freepage_migratetype(mem, page, migratetype):
    """Kernel: include/linux/mm.h set_freepage_migratetype() (page->index)."""
    mem.index[page] = migratetype


# ---- freeing ---------------------------------------------------------------------------------

@kernel
def __find_buddy_index(page_idx, order):
    """Kernel: mm/page_alloc.c __find_buddy_index(): the buddy differs in bit ``order``."""
    return page_idx ^ (1 << order)


@kernel
def page_is_buddy(mem, page, buddy, order):
    """Kernel: mm/page_alloc.c page_is_buddy(): ``buddy`` is a free block of exactly ``order``
    in the same zone (debug guard pages do not exist here: no CONFIG_DEBUG_PAGEALLOC)."""
    if not pfn_valid_within(mem, buddy):
        return False
    if page_zone_id(mem, page) != page_zone_id(mem, buddy):
        return False
    if not PageBuddy(mem, buddy):
        return False
    return page_order(mem, buddy) == order


@kernel
def compound_order(mem, page):
    """Kernel: include/linux/mm.h compound_order(): kept in page[1].lru.prev."""
    if (mem.flags[page] & PG_HEAD_MASK) == 0:
        return np.int64(0)
    return np.int64(mem.lru_prev[page + 1])


@kernel
def prep_compound_page(mem, page, order):
    """Kernel: mm/page_alloc.c prep_compound_page(): PG_head on the first page, the order in
    page[1].lru.prev, PG_tail and a zero count on the others (their first_page pointer is
    implied: kmemsim finds the head by walking back to PG_head)."""
    mem.lru_prev[page + 1] = order
    mem.flags[page] |= PG_HEAD_MASK
    for p in range(page + 1, page + (1 << order)):
        mem.count[p] = 0
        mem.flags[p] |= PG_TAIL_MASK


@kernel
def destroy_compound_page(mem, page, order):
    """Kernel: mm/page_alloc.c destroy_compound_page(): undo prep_compound_page; returns the
    number of inconsistencies (bad_page() in the kernel)."""
    bad = 0
    if compound_order(mem, page) != order:
        bad += 1
    mem.flags[page] &= FLAGS_NOT_HEAD
    for p in range(page + 1, page + (1 << order)):
        if (mem.flags[p] & PG_TAIL_MASK) == 0:
            bad += 1
        mem.flags[p] &= FLAGS_NOT_TAIL
    mem.lru_prev[page + 1] = -1
    return bad


@kernel
def __free_one_page(mem, page, zone, order, migratetype):
    """Kernel: mm/page_alloc.c __free_one_page(): merge with free buddies, then queue.

    The merged block goes to the head of free_list[migratetype], or to the tail when the buddy
    of the next order up is free (it is likely to merge further soon).  The caller accounts
    NR_FREE_PAGES."""
    if PageCompound(mem, page):
        if destroy_compound_page(mem, page, order):
            return
    page_idx = page & ((1 << MAX_ORDER) - 1)
    buddy_idx = 0
    buddy = page
    while order < MAX_ORDER - 1:
        buddy_idx = __find_buddy_index(page_idx, order)
        buddy = page + (buddy_idx - page_idx)
        if not page_is_buddy(mem, page, buddy, order):
            break
        list_del(mem, buddy)
        mem.nr_free[zone, order] -= 1
        rmv_page_order(mem, buddy)
        combined_idx = buddy_idx & page_idx
        page = page + (combined_idx - page_idx)
        page_idx = combined_idx
        order += 1
    set_page_order(mem, page, order)

    if order < MAX_ORDER - 2 and pfn_valid_within(mem, buddy):
        combined_idx = buddy_idx & page_idx
        higher_page = page + (combined_idx - page_idx)
        buddy_idx = __find_buddy_index(combined_idx, order + 1)
        higher_buddy = higher_page + (buddy_idx - combined_idx)
        if page_is_buddy(mem, higher_page, higher_buddy, order + 1):
            list_add_tail(mem, page, free_list(mem, zone, order, migratetype))
            mem.nr_free[zone, order] += 1
            return
    list_add(mem, page, free_list(mem, zone, order, migratetype))
    mem.nr_free[zone, order] += 1


@kernel
def free_one_page(mem, zone, page, order, migratetype):
    """Kernel: mm/page_alloc.c free_one_page(): __free_one_page plus the free-page counters;
    freeing resets the zone's reclaim scan count (zone->pages_scanned)."""
    mem.pages_scanned[zone] = 0
    __free_one_page(mem, page, zone, order, migratetype)
    if not is_migrate_isolate(mem, migratetype):
        __mod_zone_freepage_state(mem, zone, 1 << order, migratetype)


@kernel
def free_pages_prepare(mem, page, order):
    """Kernel: mm/page_alloc.c free_pages_prepare() and free_pages_check(): every page of
    the block loses its PG_* bits (PAGE_FLAGS_CHECK_AT_PREP, which takes PG_head and PG_tail
    too, so __free_one_page() finds no compound page to destroy).

    kmemsim keeps the kernel's bad_page() checks in its validators.  Always true."""
    trace_mm_page_free(mem, page, order)
    for p in range(page, page + (np.int64(1) << order)):
        mem.flags[p] &= FLAGS_NOT_PREP
    return True


@kernel
def __free_pages_ok(mem, page, order):
    """Kernel: mm/page_alloc.c __free_pages_ok(): free a block straight to the buddy lists,
    filed under its pageblock's migratetype."""
    if not free_pages_prepare(mem, page, order):
        return
    __count_vm_events(mem, mem.cfg[CFG_EV_PGFREE], 1 << order)
    migratetype = get_pageblock_migratetype(mem, page)
    set_freepage_migratetype(mem, page, migratetype)
    free_one_page(mem, page_zone_id(mem, page), page, order, migratetype)


@kernel
def put_page_testzero(mem, page):
    """Kernel: include/linux/mm.h put_page_testzero(): drop a reference; true at zero."""
    mem.count[page] -= 1
    return mem.count[page] == 0


@kernel
def __free_pages(mem, page, order):
    """Kernel: mm/page_alloc.c __free_pages(): at the last reference, order 0 goes to this
    CPU's list (free_hot_cold_page, hot), higher orders to the buddy lists."""
    if put_page_testzero(mem, page):
        if order == 0:
            free_hot_cold_page(mem, page, 0)
        else:
            __free_pages_ok(mem, page, order)


def _free_pages_bootmem_loop(mem, page, order):
    """The form of __free_pages_bootmem that numba compiles: a loop instead of slices."""
    nr_pages = 1 << order
    for p in range(page, page + nr_pages):
        mem.flags[p] &= FLAGS_NOT_RESERVED
        mem.count[p] = 0
    mem.managed_pages[page_zone_id(mem, page)] += nr_pages
    mem.count[page] = 1
    __free_pages(mem, page, order)


@kernel(compiled=_free_pages_bootmem_loop)
def __free_pages_bootmem(mem, page, order):
    """Kernel: mm/page_alloc.c __free_pages_bootmem(): hand a boot-reserved block to the
    buddy allocator and count it in the zone's managed pages."""
    nr_pages = 1 << order
    mem.flags[page:page + nr_pages] &= FLAGS_NOT_RESERVED
    mem.count[page:page + nr_pages] = 0
    mem.managed_pages[page_zone_id(mem, page)] += nr_pages
    mem.count[page] = 1
    __free_pages(mem, page, order)


# ---- allocating ------------------------------------------------------------------------------

@kernel
def expand(mem, zone, page, low, high, migratetype):
    """Kernel: mm/page_alloc.c expand(): split a 2^high block down to 2^low.

    Each round halves the block and puts the *upper* half at the head of the next lower
    order's free list; the caller keeps the lowest-addressed 2^low pages."""
    size = 1 << high
    while high > low:
        high -= 1
        size >>= 1
        list_add(mem, page + size, free_list(mem, zone, high, migratetype))
        mem.nr_free[zone, high] += 1
        set_page_order(mem, page + size, high)


@kernel
def __rmqueue_smallest(mem, zone, order, migratetype):
    """Kernel: mm/page_alloc.c __rmqueue_smallest(): the first block of the smallest order
    >= ``order`` on free_list[migratetype], split down.  -1 if there is none."""
    for current_order in range(order, MAX_ORDER):
        head = free_list(mem, zone, current_order, migratetype)
        if list_empty(mem, head):
            continue
        page = list_first_entry(mem, head)
        list_del(mem, page)
        rmv_page_order(mem, page)
        mem.nr_free[zone, current_order] -= 1
        expand(mem, zone, page, order, current_order, migratetype)
        return page
    return -1


@kernel
def move_freepages(mem, zone, start_page, end_page, migratetype):
    """Kernel: mm/page_alloc.c move_freepages(): move every free block in [start, end] to
    free_list[migratetype] of its order; returns the number of pages moved."""
    pages_moved = 0
    page = start_page
    while page <= end_page:
        if not pfn_valid_within(mem, page) or not PageBuddy(mem, page):
            page += 1
            continue
        order = page_order(mem, page)
        list_move(mem, page, free_list(mem, zone, order, migratetype))
        set_freepage_migratetype(mem, page, migratetype)
        page += 1 << order
        pages_moved += 1 << order
    return pages_moved


@kernel
def move_freepages_block(mem, zone, page, migratetype):
    """Kernel: mm/page_alloc.c move_freepages_block(): move_freepages over the pageblock of
    ``page``, clipped at the zone's start; nothing if the block runs past the zone's end."""
    nr = 1 << mem.cfg[CFG_PAGEBLOCK_ORDER]
    start_pfn = page & ~(nr - 1)
    end_pfn = start_pfn + nr - 1
    start_page = start_pfn
    if not zone_spans_pfn(mem, zone, start_pfn):
        start_page = page
    if not zone_spans_pfn(mem, zone, end_pfn):
        return 0
    return move_freepages(mem, zone, start_page, end_pfn, migratetype)


@kernel
def change_pageblock_range(mem, pageblock_page, start_order, migratetype):
    """Kernel: mm/page_alloc.c change_pageblock_range(): retype every pageblock of a block
    of order >= pageblock_order."""
    nr_pageblocks = 1 << (start_order - mem.cfg[CFG_PAGEBLOCK_ORDER])
    while nr_pageblocks > 0:
        set_pageblock_migratetype(mem, pageblock_page, migratetype)
        pageblock_page += 1 << mem.cfg[CFG_PAGEBLOCK_ORDER]
        nr_pageblocks -= 1


@kernel
def try_to_steal_freepages(mem, zone, page, start_type, fallback_type):
    """Kernel: mm/page_alloc.c try_to_steal_freepages() (3.13).

    Decides where the rest of a block borrowed from ``fallback_type`` goes.  A block of a whole
    pageblock or more changes owner outright; a block of at least half a pageblock's order (or
    any block, for a RECLAIMABLE request or with mobility grouping off) pulls every free page of
    its pageblock to ``start_type``, and the pageblock changes owner when that is at least half
    of it.  Returns the migratetype whose lists receive the split remainder."""
    pageblock_order = mem.cfg[CFG_PAGEBLOCK_ORDER]
    current_order = page_order(mem, page)
    if is_migrate_cma(mem, fallback_type):
        return fallback_type
    if current_order >= pageblock_order:
        change_pageblock_range(mem, page, current_order, start_type)
        return start_type
    mobility_disabled = mem.cfg[CFG_MOBILITY_DISABLED] != 0
    if (current_order >= pageblock_order // 2 or start_type == MIGRATE_RECLAIMABLE
            or mobility_disabled):
        pages = move_freepages_block(mem, zone, page, start_type)
        if pages >= (1 << (pageblock_order - 1)) or mobility_disabled:
            set_pageblock_migratetype(mem, page, start_type)
            return start_type
    return fallback_type


@kernel
def __rmqueue_fallback(mem, zone, order, start_migratetype):
    """Kernel: mm/page_alloc.c __rmqueue_fallback(): borrow the *largest* free block of
    another migratetype, trying them in fallbacks[] order (MIGRATE_RESERVE ends the row)."""
    for current_order in range(MAX_ORDER - 1, order - 1, -1):
        for i in range(4):
            migratetype = mem.fallbacks[start_migratetype, i]
            if migratetype == MIGRATE_RESERVE:
                break
            head = free_list(mem, zone, current_order, migratetype)
            if list_empty(mem, head):
                continue
            page = list_first_entry(mem, head)
            mem.nr_free[zone, current_order] -= 1
            new_type = try_to_steal_freepages(mem, zone, page, start_migratetype, migratetype)
            list_del(mem, page)
            rmv_page_order(mem, page)
            expand(mem, zone, page, order, current_order, new_type)
            trace_mm_page_alloc_extfrag(mem, page, order, current_order, start_migratetype,
                                        migratetype, new_type)
            return page
    return -1


@kernel
def __rmqueue(mem, zone, order, migratetype):
    """Kernel: mm/page_alloc.c __rmqueue(): own list, then fallback, then MIGRATE_RESERVE.
    Returns the pfn, or -1."""
    page = __rmqueue_smallest(mem, zone, order, migratetype)
    if page < 0:
        if migratetype != MIGRATE_RESERVE:
            page = __rmqueue_fallback(mem, zone, order, migratetype)
            if page < 0:
                # retry_reserve: the kernel jumps back with migratetype = MIGRATE_RESERVE
                migratetype = MIGRATE_RESERVE
                page = __rmqueue_smallest(mem, zone, order, migratetype)
    trace_mm_page_alloc_zone_locked(mem, page, order, migratetype)
    return page


@kernel
def split_page(mem, page, order):
    """Kernel: mm/page_alloc.c split_page(): a non-compound block becomes 2^order pages
    that are each freed on their own."""
    for p in range(page + 1, page + (1 << order)):
        mem.count[p] = 1


@kernel
def prep_new_page(mem, page, order, gfp_flags):
    """Kernel: mm/page_alloc.c prep_new_page(): the block's head gets its reference, and a
    compound page is formed for __GFP_COMP.

    check_new_page()'s sanity checks live in the validators; __GFP_ZERO has nothing to
    zero in a simulator."""
    mem.private[page] = 0
    mem.count[page] = 1
    if order > 0 and (gfp_flags & __GFP_COMP) != 0:
        prep_compound_page(mem, page, order)
    return 0


from kmemsim.mm.page_flags import FLAGS_ALL, PG_RESERVED_MASK  # noqa: E402
from kmemsim.mm.page_flags import PAGE_FLAGS_CHECK_AT_PREP, PG_HEAD_MASK, PG_TAIL_MASK  # noqa: E402

from kmemsim.mm.page_alloc_pcp import free_hot_cold_page  # noqa: E402  (it imports this module)

FLAGS_NOT_HEAD = np.uint32(FLAGS_ALL ^ PG_HEAD_MASK)
FLAGS_NOT_TAIL = np.uint32(FLAGS_ALL ^ PG_TAIL_MASK)
FLAGS_NOT_PREP = np.uint32(FLAGS_ALL ^ PAGE_FLAGS_CHECK_AT_PREP)

FLAGS_NOT_RESERVED = np.uint32(FLAGS_ALL ^ PG_RESERVED_MASK)


# ---- MIGRATE_RESERVE blocks -------------------------------------------------------------------

@kernel
def pageblock_is_reserved(mem, start_pfn, end_pfn):
    """Kernel: mm/page_alloc.c pageblock_is_reserved(): any page of the range never freed."""
    for pfn in range(start_pfn, end_pfn):
        if not pfn_valid_within(mem, pfn) or PageReserved(mem, pfn):
            return True
    return False


@kernel
def setup_zone_migrate_reserve(mem, zone):
    """Kernel: mm/page_alloc.c setup_zone_migrate_reserve(): keep up to two pageblocks of
    the zone (as many as its min watermark covers) MIGRATE_RESERVE, choosing the lowest
    MOVABLE blocks that hold no reserved page, and give any surplus back to MOVABLE."""
    nr = 1 << mem.cfg[CFG_PAGEBLOCK_ORDER]
    start_pfn = mem.zone_start_pfn[zone]
    end_pfn = zone_end_pfn(mem, zone)
    start_pfn = (start_pfn + nr - 1) // nr * nr
    reserve = ((mem.watermark[zone, WMARK_MIN] + nr - 1) // nr * nr) >> mem.cfg[CFG_PAGEBLOCK_ORDER]
    reserve = min(2, reserve)
    for pfn in range(start_pfn, end_pfn, nr):
        if not pfn_valid(mem, pfn):
            continue
        if page_to_nid(mem, pfn) != zone // mem.cfg[CFG_MAX_NR_ZONES]:
            continue
        block_migratetype = get_pageblock_migratetype(mem, pfn)
        if reserve > 0:
            block_end_pfn = min(pfn + nr, end_pfn)
            if pageblock_is_reserved(mem, pfn, block_end_pfn):
                continue
            if block_migratetype == MIGRATE_RESERVE:
                reserve -= 1
                continue
            if block_migratetype == MIGRATE_MOVABLE:
                set_pageblock_migratetype(mem, pfn, MIGRATE_RESERVE)
                move_freepages_block(mem, zone, pfn, MIGRATE_RESERVE)
                reserve -= 1
                continue
        if block_migratetype == MIGRATE_RESERVE:
            set_pageblock_migratetype(mem, pfn, MIGRATE_MOVABLE)
            move_freepages_block(mem, zone, pfn, MIGRATE_MOVABLE)


@kernel
def __free_reserved_page(mem, page):
    """Kernel: include/linux/mm.h __free_reserved_page(): a boot-reserved page joins the
    buddy allocator (ClearPageReserved, init_page_count, __free_page)."""
    mem.flags[page] &= FLAGS_NOT_RESERVED
    mem.count[page] = 1
    __free_pages(mem, page, 0)


@kernel
def free_reserved_page(mem, page):
    """Kernel: include/linux/mm.h free_reserved_page(), with adjust_managed_page_count(+1)
    for the zone (totalram_pages is counted by the caller)."""
    __free_reserved_page(mem, page)
    mem.managed_pages[page_zone_id(mem, page)] += 1


def _init_cma_reserved_pageblock_loop(mem, page):
    """The form of init_cma_reserved_pageblock that numba compiles: a loop, not slices."""
    nr = 1 << mem.cfg[CFG_PAGEBLOCK_ORDER]
    for p in range(page, page + nr):
        mem.flags[p] &= FLAGS_NOT_RESERVED
        mem.count[p] = 0
    mem.count[page] = 1
    set_pageblock_migratetype(mem, page, mem.cfg[CFG_MIGRATE_CMA])
    __free_pages(mem, page, mem.cfg[CFG_PAGEBLOCK_ORDER])
    mem.managed_pages[page_zone_id(mem, page)] += nr


@kernel(compiled=_init_cma_reserved_pageblock_loop)
def init_cma_reserved_pageblock(mem, page):
    """Kernel: mm/page_alloc.c init_cma_reserved_pageblock(): a reserved pageblock of a CMA
    area becomes a free MIGRATE_CMA pageblock (CONFIG_CMA)."""
    nr = 1 << mem.cfg[CFG_PAGEBLOCK_ORDER]
    mem.flags[page:page + nr] &= FLAGS_NOT_RESERVED
    mem.count[page:page + nr] = 0
    mem.count[page] = 1
    set_pageblock_migratetype(mem, page, mem.cfg[CFG_MIGRATE_CMA])
    __free_pages(mem, page, mem.cfg[CFG_PAGEBLOCK_ORDER])
    mem.managed_pages[page_zone_id(mem, page)] += nr
