"""The buddy core alone: a block straight from __rmqueue, no watermark, no per-CPU list.

Not a kernel function: the allocation step of the buddy-core benchmark and its replay
(kmemsim/sim/batch.py), which measure __rmqueue and __free_one_page against a C reference of the
same algorithm.  It accounts a block as buffered_rmqueue does for an order > 0 request taken
under the zone lock (mm/page_alloc.c, v3.13): NR_FREE_PAGES drops by the block's size, and
prep_new_page gives it its reference.
"""

from kmemsim.jit import kernel
from kmemsim.mm.page_alloc import __rmqueue, get_pageblock_migratetype, prep_new_page
from kmemsim.mm.vmstat import __mod_zone_freepage_state

__all__ = ["rmqueue_zone_locked"]


@kernel
def rmqueue_zone_locked(mem, zone, order, migratetype, gfp_flags):
    """Take a 2^order block of ``migratetype`` from ``zone``; its pfn, or -1."""
    page = __rmqueue(mem, zone, order, migratetype)
    if page < 0:
        return -1
    __mod_zone_freepage_state(mem, zone, -(1 << order), get_pageblock_migratetype(mem, page))
    prep_new_page(mem, page, order, gfp_flags)
    return page
