"""Page reclaim: taking pages off the LRU lists, and putting them back.

Kernel: mm/vmscan.c (v3.13).  (Reclaim proper, kswapd and direct reclaim follow in this
module as the slow-path issue proceeds; see docs/slowpath.md.)

Pages isolated from the LRU travel on lists whose heads the kernel keeps on its stack; kmemsim
keeps them as sentinel heads in lru_next/lru_prev (mmzone.scratch_list, LH_*).
"""

import numpy as np

from kmemsim.jit import kernel
from kmemsim.lib.list import list_empty, list_last_entry, list_move
from kmemsim.mm.mm_inline import del_page_from_lru_list, page_lru
from kmemsim.mm.mmzone import OW_KIND, OWNER_TASK, lru_list_head, page_zone_id
from kmemsim.mm.page_flags import ClearPageLRU, ClearPageUnevictable, PageDirty, PageLRU, \
    PageSwapBacked, PageUnevictable, PageWriteback
from kmemsim.mm.swap import get_page, lru_cache_add, put_page

__all__ = ["ISOLATE_CLEAN", "ISOLATE_UNMAPPED", "ISOLATE_ASYNC_MIGRATE", "ISOLATE_UNEVICTABLE",
           "EINVAL", "EBUSY", "page_mapped", "__isolate_lru_page", "isolate_lru_pages",
           "isolate_lru_page", "putback_lru_page"]

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

