"""The allocation step used until the fast path lands: straight from __rmqueue.

Not a kernel function.  Until the fast-path issue routes ``alloc`` through
__alloc_pages_nodemask, kmemsim takes a block from __rmqueue on one zone (the highest populated
zone gfp_zone allows) and accounts it as buffered_rmqueue does for an order > 0 request taken
under the zone lock (mm/page_alloc.c, v3.13): NR_FREE_PAGES drops by the block's size, and
prep_new_page gives it its reference.  No watermark is checked, no per-CPU list is used.
"""

from kmemsim.jit import kernel
from kmemsim.mm.page_alloc import __rmqueue, get_pageblock_migratetype, prep_new_page
from kmemsim.mm.vmstat import __mod_zone_freepage_state

__all__ = ["rmqueue_interim"]


@kernel
def rmqueue_interim(mem, zone, order, migratetype, gfp_flags):
    """Take a 2^order block of ``migratetype`` from ``zone``; its pfn, or -1."""
    page = __rmqueue(mem, zone, order, migratetype)
    if page < 0:
        return -1
    __mod_zone_freepage_state(mem, zone, -(1 << order), get_pageblock_migratetype(mem, page))
    prep_new_page(mem, page, order, gfp_flags)
    return page
