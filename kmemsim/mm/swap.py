"""The LRU caching of pages: per-CPU pagevecs, activation, rotation, release.

Kernel: mm/swap.c, include/linux/pagevec.h (v3.13).

Each CPU has four pagevecs of PAGEVEC_SIZE (14) pages (``Mem.pagevecs[cpu, which]``, slot 0
holding the count): lru_add_pvec (pages on their way onto an LRU list), lru_rotate_pvecs (to
the inactive tail), lru_deactivate_pvecs and activate_page_pvecs.  A page in a pagevec holds a
reference (page_cache_get).  3.13's __lru_cache_add drains a *full* pagevec before adding, so
14 pages stay cached until the 15th arrives.  The kernel passes pagevec_lru_move_fn a function;
kmemsim passes which pagevec it is, and the move that belongs to it.
"""

import numpy as np

from kmemsim.jit import kernel
from kmemsim.trace.events import trace_mm_page_free_batched
from kmemsim.lib.list import list_move_tail
from kmemsim.mm.mm_inline import add_page_to_lru_list, del_page_from_lru_list, \
    page_is_file_cache, page_lru, page_lru_base_type, page_off_lru
from kmemsim.mm.mmzone import CFG_CPU, CFG_NR_CPUS, LRU_ACTIVE, PAGEVEC_SIZE, PVEC_ACTIVATE, \
    PVEC_LRU_ADD, PVEC_LRU_DEACTIVATE, PVEC_LRU_ROTATE, ZM_RECENT_ROTATED_ANON, \
    ZM_RECENT_SCANNED_ANON, lru_list_head, page_zone_id
from kmemsim.mm.page_alloc import __free_pages_ok, compound_order, put_page_testzero
from kmemsim.mm.page_alloc_pcp import free_hot_cold_page
from kmemsim.mm.page_flags import ClearPageActive, ClearPageReferenced, PageActive, \
    PageCompound, PageDirty, PageLRU, PageLocked, PageReferenced, PageUnevictable, \
    PageWriteback, SetPageActive, SetPageLRU, SetPageReclaim, SetPageReferenced, __ClearPageLRU
from kmemsim.mm.vmstat import EV_PGACTIVATE, EV_PGDEACTIVATE, EV_PGROTATED, count_vm_event, \
    count_vm_events

__all__ = [
    "get_page", "pagevec_count", "pagevec_add", "update_page_reclaim_stat", "__activate_page",
    "activate_page", "activate_page_drain", "__lru_cache_activate_page", "mark_page_accessed",
    "__lru_cache_add", "lru_cache_add", "__pagevec_lru_add_fn", "__pagevec_lru_add",
    "pagevec_lru_move_fn", "pagevec_move_tail", "rotate_reclaimable_page", "lru_deactivate_fn",
    "deactivate_page", "lru_add_drain_cpu", "lru_add_drain", "lru_add_drain_all",
    "release_pages", "__page_cache_release", "put_page",
]


@kernel
def get_page(mem, page):
    """Kernel: include/linux/mm.h get_page() (page_cache_get): one more reference."""
    mem.count[page] += 1


@kernel
def pagevec_count(mem, cpu, which):
    """Kernel: include/linux/pagevec.h pagevec_count()."""
    return np.int64(mem.pagevecs[cpu, which, 0])


@kernel
def pagevec_add(mem, cpu, which, page):
    """Kernel: include/linux/pagevec.h pagevec_add(): append; the space left afterwards."""
    nr = mem.pagevecs[cpu, which, 0]
    mem.pagevecs[cpu, which, 1 + nr] = page
    mem.pagevecs[cpu, which, 0] = nr + 1
    return PAGEVEC_SIZE - (nr + 1)


@kernel
def update_page_reclaim_stat(mem, zone, file, rotated):
    """Kernel: mm/swap.c update_page_reclaim_stat(): recent_scanned/rotated of the lruvec."""
    mem.zone_misc[zone, ZM_RECENT_SCANNED_ANON + file] += 1
    if rotated:
        mem.zone_misc[zone, ZM_RECENT_ROTATED_ANON + file] += 1


@kernel
def __activate_page(mem, page, zone):
    """Kernel: mm/swap.c __activate_page(): an inactive page on an LRU moves to the active
    list (PGACTIVATE)."""
    if PageLRU(mem, page) and not PageActive(mem, page) and not PageUnevictable(mem, page):
        file = page_is_file_cache(mem, page)
        lru = page_lru_base_type(mem, page)
        del_page_from_lru_list(mem, page, zone, lru)
        SetPageActive(mem, page)
        add_page_to_lru_list(mem, page, zone, lru + LRU_ACTIVE)
        count_vm_event(mem, EV_PGACTIVATE)
        update_page_reclaim_stat(mem, zone, file, 1)


@kernel
def _queue_on_pagevec(mem, which, page):
    """The common step of activate_page and deactivate_page: take a reference, add the page
    to this CPU's pagevec ``which``, and apply that pagevec's move when it is full."""
    cpu = mem.cfg[CFG_CPU]
    get_page(mem, page)
    if pagevec_add(mem, cpu, which, page) == 0:
        pagevec_lru_move_fn(mem, cpu, which)


@kernel
def activate_page(mem, page):
    """Kernel: mm/swap.c activate_page() (SMP): queue on this CPU's activate_page_pvecs."""
    if PageLRU(mem, page) and not PageActive(mem, page) and not PageUnevictable(mem, page):
        _queue_on_pagevec(mem, PVEC_ACTIVATE, page)


@kernel
def activate_page_drain(mem, cpu):
    """Kernel: mm/swap.c activate_page_drain()."""
    if pagevec_count(mem, cpu, PVEC_ACTIVATE):
        pagevec_lru_move_fn(mem, cpu, PVEC_ACTIVATE)


@kernel
def __lru_cache_activate_page(mem, page):
    """Kernel: mm/swap.c __lru_cache_activate_page(): a page still in this CPU's
    lru_add_pvec is marked active, so it goes onto the active list when drained."""
    cpu = mem.cfg[CFG_CPU]
    for i in range(mem.pagevecs[cpu, PVEC_LRU_ADD, 0] - 1, -1, -1):
        if mem.pagevecs[cpu, PVEC_LRU_ADD, 1 + i] == page:
            SetPageActive(mem, page)
            break


@kernel
def mark_page_accessed(mem, page):
    """Kernel: mm/swap.c mark_page_accessed(): inactive,unreferenced -> referenced;
    inactive,referenced -> active; active,unreferenced -> referenced."""
    if not PageActive(mem, page) and not PageUnevictable(mem, page) \
            and PageReferenced(mem, page):
        if PageLRU(mem, page):
            activate_page(mem, page)
        else:
            __lru_cache_activate_page(mem, page)
        ClearPageReferenced(mem, page)
    elif not PageReferenced(mem, page):
        SetPageReferenced(mem, page)


@kernel
def __lru_cache_add(mem, page):
    """Kernel: mm/swap.c __lru_cache_add(): take a reference and queue the page on this
    CPU's lru_add_pvec, draining it first when it is full."""
    cpu = mem.cfg[CFG_CPU]
    get_page(mem, page)
    if pagevec_count(mem, cpu, PVEC_LRU_ADD) == PAGEVEC_SIZE:
        __pagevec_lru_add(mem, cpu)
    pagevec_add(mem, cpu, PVEC_LRU_ADD, page)


@kernel
def lru_cache_add(mem, page):
    """Kernel: mm/swap.c lru_cache_add()."""
    __lru_cache_add(mem, page)


@kernel
def __pagevec_lru_add_fn(mem, page, zone):
    """Kernel: mm/swap.c __pagevec_lru_add_fn(): onto the list page_lru() names."""
    file = page_is_file_cache(mem, page)
    active = 0
    if PageActive(mem, page):
        active = 1
    lru = page_lru(mem, page)
    SetPageLRU(mem, page)
    add_page_to_lru_list(mem, page, zone, lru)
    update_page_reclaim_stat(mem, zone, file, active)


@kernel
def __pagevec_lru_add(mem, cpu):
    """Kernel: mm/swap.c __pagevec_lru_add()."""
    pagevec_lru_move_fn(mem, cpu, PVEC_LRU_ADD)


@kernel
def pagevec_move_tail_fn(mem, page, zone):
    """Kernel: mm/swap.c pagevec_move_tail_fn(): an inactive page to its list's tail; 1 if
    it moved."""
    if PageLRU(mem, page) and not PageActive(mem, page) and not PageUnevictable(mem, page):
        list_move_tail(mem, page, lru_list_head(mem, zone, page_lru_base_type(mem, page)))
        return 1
    return 0


@kernel
def lru_deactivate_fn(mem, page, zone):
    """Kernel: mm/swap.c lru_deactivate_fn(): an unmapped page goes to the inactive list:
    its head with PG_reclaim when dirty or under writeback, else its tail (PGROTATED)."""
    if not PageLRU(mem, page) or PageUnevictable(mem, page):
        return
    if mem.mapping[page] != 0 and not page_is_file_cache(mem, page):
        return                      # page_mapped(): anonymous pages are mapped by their task
    active = PageActive(mem, page)
    file = page_is_file_cache(mem, page)
    lru = page_lru_base_type(mem, page)
    if active:
        del_page_from_lru_list(mem, page, zone, lru + LRU_ACTIVE)
    else:
        del_page_from_lru_list(mem, page, zone, lru)
    ClearPageActive(mem, page)
    ClearPageReferenced(mem, page)
    add_page_to_lru_list(mem, page, zone, lru)
    if PageWriteback(mem, page) or PageDirty(mem, page):
        SetPageReclaim(mem, page)
    else:
        list_move_tail(mem, page, lru_list_head(mem, zone, lru))
        count_vm_event(mem, EV_PGROTATED)
    if active:
        count_vm_event(mem, EV_PGDEACTIVATE)
    update_page_reclaim_stat(mem, zone, file, 0)


@kernel
def pagevec_lru_move_fn(mem, cpu, which):
    """Kernel: mm/swap.c pagevec_lru_move_fn(): apply pagevec ``which``'s move to each of
    its pages (PVEC_LRU_ADD: __pagevec_lru_add_fn, PVEC_LRU_ROTATE: pagevec_move_tail_fn,
    PVEC_LRU_DEACTIVATE: lru_deactivate_fn, PVEC_ACTIVATE: __activate_page), then drop the
    pagevec's references (release_pages) and empty it.  Returns how many pages rotated."""
    moved = 0
    nr = mem.pagevecs[cpu, which, 0]
    for i in range(nr):
        page = np.int64(mem.pagevecs[cpu, which, 1 + i])
        zone = page_zone_id(mem, page)
        if which == PVEC_LRU_ADD:
            __pagevec_lru_add_fn(mem, page, zone)
        elif which == PVEC_LRU_ROTATE:
            moved += pagevec_move_tail_fn(mem, page, zone)
        elif which == PVEC_LRU_DEACTIVATE:
            lru_deactivate_fn(mem, page, zone)
        else:
            __activate_page(mem, page, zone)
    release_pages(mem, cpu, which, nr, 0)
    mem.pagevecs[cpu, which, 0] = 0
    return moved


@kernel
def pagevec_move_tail(mem, cpu):
    """Kernel: mm/swap.c pagevec_move_tail()."""
    count_vm_events(mem, EV_PGROTATED, pagevec_lru_move_fn(mem, cpu, PVEC_LRU_ROTATE))


@kernel
def rotate_reclaimable_page(mem, page):
    """Kernel: mm/swap.c rotate_reclaimable_page(): writeback ended on a page reclaim wants:
    queue it for the inactive tail."""
    if not PageLocked(mem, page) and not PageDirty(mem, page) and not PageActive(mem, page) \
            and not PageUnevictable(mem, page) and PageLRU(mem, page):
        cpu = mem.cfg[CFG_CPU]
        get_page(mem, page)
        if pagevec_add(mem, cpu, PVEC_LRU_ROTATE, page) == 0:
            pagevec_move_tail(mem, cpu)


@kernel
def deactivate_page(mem, page):
    """Kernel: mm/swap.c deactivate_page(): queue on lru_deactivate_pvecs."""
    if PageUnevictable(mem, page):
        return
    if mem.count[page] > 0:                     # get_page_unless_zero
        _queue_on_pagevec(mem, PVEC_LRU_DEACTIVATE, page)


@kernel
def lru_add_drain_cpu(mem, cpu):
    """Kernel: mm/swap.c lru_add_drain_cpu(): flush the four pagevecs of ``cpu``."""
    if pagevec_count(mem, cpu, PVEC_LRU_ADD):
        __pagevec_lru_add(mem, cpu)
    if pagevec_count(mem, cpu, PVEC_LRU_ROTATE):
        pagevec_move_tail(mem, cpu)
    if pagevec_count(mem, cpu, PVEC_LRU_DEACTIVATE):
        pagevec_lru_move_fn(mem, cpu, PVEC_LRU_DEACTIVATE)
    activate_page_drain(mem, cpu)


@kernel
def lru_add_drain(mem):
    """Kernel: mm/swap.c lru_add_drain(): this CPU's pagevecs."""
    lru_add_drain_cpu(mem, mem.cfg[CFG_CPU])


@kernel
def lru_add_drain_all(mem):
    """Kernel: mm/swap.c lru_add_drain_all(): every CPU with a non-empty pagevec drains its
    own (the kernel schedules the work on that CPU; kmemsim runs it there in CPU order)."""
    me = mem.cfg[CFG_CPU]
    for cpu in range(mem.cfg[CFG_NR_CPUS]):
        if pagevec_count(mem, cpu, PVEC_LRU_ADD) or pagevec_count(mem, cpu, PVEC_LRU_ROTATE) \
                or pagevec_count(mem, cpu, PVEC_LRU_DEACTIVATE) \
                or pagevec_count(mem, cpu, PVEC_ACTIVATE):
            mem.cfg[CFG_CPU] = cpu
            lru_add_drain_cpu(mem, cpu)
    mem.cfg[CFG_CPU] = me


@kernel
def release_pages(mem, cpu, which, nr, cold):
    """Kernel: mm/swap.c release_pages(): drop one reference on each of the first ``nr``
    pages of pagevec ``which`` of ``cpu``; a page left with none leaves its LRU list and is
    freed (free_hot_cold_page_list, which takes them in the reverse order of the list the
    kernel builds with list_add)."""
    for i in range(nr):
        page = np.int64(mem.pagevecs[cpu, which, 1 + i])
        if PageCompound(mem, page):
            put_page(mem, page)
            mem.pagevecs[cpu, which, 1 + i] = -1
            continue
        if not put_page_testzero(mem, page):
            mem.pagevecs[cpu, which, 1 + i] = -1
            continue
        if PageLRU(mem, page):
            zone = page_zone_id(mem, page)
            __ClearPageLRU(mem, page)
            del_page_from_lru_list(mem, page, zone, page_off_lru(mem, page))
        ClearPageActive(mem, page)
    for i in range(nr - 1, -1, -1):
        page = np.int64(mem.pagevecs[cpu, which, 1 + i])
        if page >= 0:
            trace_mm_page_free_batched(mem, page, cold)
            free_hot_cold_page(mem, page, cold)


@kernel
def __page_cache_release(mem, page):
    """Kernel: mm/swap.c __page_cache_release(): off the LRU before the page is freed."""
    if PageLRU(mem, page):
        zone = page_zone_id(mem, page)
        __ClearPageLRU(mem, page)
        del_page_from_lru_list(mem, page, zone, page_off_lru(mem, page))


@kernel
def put_page(mem, page):
    """Kernel: mm/swap.c put_page(): drop a reference; at the last one the page leaves its
    LRU list and is freed (a single page to this CPU's list, a compound one through its
    destructor, free_compound_page)."""
    if PageCompound(mem, page):
        if put_page_testzero(mem, page):
            __page_cache_release(mem, page)
            __free_pages_ok(mem, page, compound_order(mem, page))
    elif put_page_testzero(mem, page):
        __page_cache_release(mem, page)
        free_hot_cold_page(mem, page, 0)
