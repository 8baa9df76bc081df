"""Which LRU list a page belongs on, and putting it there.

Kernel: include/linux/mm_inline.h (v3.13).  One lruvec per zone (no memory cgroups): its five
list heads are sentinel entries of lru_next/lru_prev (mmzone.lru_list_head), and the list
lengths are the zone counters NR_INACTIVE_ANON .. NR_UNEVICTABLE (NR_LRU_BASE + lru).
"""

from kmemsim.jit import kernel
from kmemsim.lib.list import list_add, list_del
from kmemsim.mm.mmzone import LRU_ACTIVE, LRU_INACTIVE_ANON, LRU_INACTIVE_FILE, \
    LRU_UNEVICTABLE, lru_list_head
from kmemsim.mm.page_flags import PageActive, PageSwapBacked, PageUnevictable, \
    __ClearPageActive, __ClearPageUnevictable
from kmemsim.mm.vmstat import __mod_zone_page_state

__all__ = ["NR_LRU_BASE", "page_is_file_cache", "add_page_to_lru_list",
           "del_page_from_lru_list", "page_lru_base_type", "page_off_lru", "page_lru"]

NR_LRU_BASE = 2                   # zone_stat_item NR_INACTIVE_ANON


@kernel
def page_is_file_cache(mem, page):
    """Kernel: include/linux/mm_inline.h page_is_file_cache(): 1 unless swap-backed."""
    if PageSwapBacked(mem, page):
        return 0
    return 1


@kernel
def add_page_to_lru_list(mem, page, zone, lru):
    """Kernel: include/linux/mm_inline.h add_page_to_lru_list(): at the head of the list."""
    list_add(mem, page, lru_list_head(mem, zone, lru))
    __mod_zone_page_state(mem, zone, NR_LRU_BASE + lru, 1)


@kernel
def del_page_from_lru_list(mem, page, zone, lru):
    """Kernel: include/linux/mm_inline.h del_page_from_lru_list()."""
    list_del(mem, page)
    __mod_zone_page_state(mem, zone, NR_LRU_BASE + lru, -1)


@kernel
def page_lru_base_type(mem, page):
    """Kernel: include/linux/mm_inline.h page_lru_base_type()."""
    if page_is_file_cache(mem, page):
        return LRU_INACTIVE_FILE
    return LRU_INACTIVE_ANON


@kernel
def page_off_lru(mem, page):
    """Kernel: include/linux/mm_inline.h page_off_lru(): the page's list, clearing the
    Active and Unevictable bits on the way."""
    if PageUnevictable(mem, page):
        __ClearPageUnevictable(mem, page)
        return LRU_UNEVICTABLE
    lru = page_lru_base_type(mem, page)
    if PageActive(mem, page):
        __ClearPageActive(mem, page)
        lru += LRU_ACTIVE
    return lru


@kernel
def page_lru(mem, page):
    """Kernel: include/linux/mm_inline.h page_lru(): the list a page belongs on."""
    if PageUnevictable(mem, page):
        return LRU_UNEVICTABLE
    lru = page_lru_base_type(mem, page)
    if PageActive(mem, page):
        lru += LRU_ACTIVE
    return lru

