"""The slow path, as far as it goes without reclaim: reset the fair batches, retry at the min
watermark, dip into the reserves when allowed.

Kernel: mm/page_alloc.c __alloc_pages_slowpath(), prepare_slowpath(), gfp_to_alloc_flags(),
__alloc_pages_high_priority() (v3.13).

The fast path fails often in 3.13 for a reason that has nothing to do with low memory: the fair
zone policy skips a zone whose NR_ALLOC_BATCH is used up, and only the slow path's
prepare_slowpath() refills the batches.  So kmemsim runs the slow path's first steps now:
``restart`` (prepare_slowpath, gfp_to_alloc_flags) and ``rebalance``'s min-watermark attempt,
then the ALLOC_NO_WATERMARKS attempt.  What follows in the kernel (waking kswapd, direct
compaction, direct reclaim, the OOM killer, the retry loop) is the slow-path issue's; until then
kmemsim stops at ``nopage`` and counts it in ``mem.cfg[CFG_SLOWPATH_NEEDED]``.

The calling task is an ordinary process: not real-time, not PF_MEMALLOC, not TIF_MEMDIE, not
in interrupt context.
"""

import numpy as np

from kmemsim.jit import kernel
from kmemsim.mm.gfp import __GFP_HIGH, __GFP_MEMALLOC, __GFP_NOMEMALLOC, __GFP_WAIT
from kmemsim.mm.mmzone import CFG_CPU, CFG_MAX_NR_ZONES, CFG_MIGRATE_CMA, CFG_SLOWPATH_NEEDED, MAX_ORDER, \
    MIGRATE_MOVABLE, NR_ALLOC_BATCH, WMARK_HIGH, WMARK_LOW
from kmemsim.mm.page_alloc_fastpath import ALLOC_CMA, ALLOC_CPUSET, ALLOC_HARDER, \
    ALLOC_NO_WATERMARKS, ALLOC_WMARK_MIN, _zonelist_zone, get_page_from_freelist, \
    node_zonelist, zone_local
from kmemsim.mm.page_alloc_pcp import gfp_thisnode_allocation
from kmemsim.mm.vmstat import __mod_zone_page_state, zone_page_state

__all__ = ["gfp_to_alloc_flags", "prepare_slowpath", "__alloc_pages_high_priority",
           "__alloc_pages_slowpath"]



@kernel
def gfp_to_alloc_flags(mem, gfp_mask, migratetype):
    """Kernel: mm/page_alloc.c gfp_to_alloc_flags() for an ordinary process: MIN|CPUSET,
    __GFP_HIGH as ALLOC_HIGH, ALLOC_HARDER and no cpuset for a caller that cannot sleep
    (unless __GFP_NOMEMALLOC), ALLOC_NO_WATERMARKS for __GFP_MEMALLOC, ALLOC_CMA for movable
    requests with CONFIG_CMA.  (The kernel recomputes the migratetype; the caller's is the
    same.)"""
    alloc_flags = ALLOC_WMARK_MIN | ALLOC_CPUSET
    alloc_flags |= gfp_mask & __GFP_HIGH
    if (gfp_mask & __GFP_WAIT) == 0:
        if (gfp_mask & __GFP_NOMEMALLOC) == 0:
            alloc_flags |= ALLOC_HARDER
        alloc_flags &= ~ALLOC_CPUSET
    if (gfp_mask & __GFP_NOMEMALLOC) == 0:
        if gfp_mask & __GFP_MEMALLOC:
            alloc_flags |= ALLOC_NO_WATERMARKS
    if mem.cfg[CFG_MIGRATE_CMA] >= 0 and migratetype == MIGRATE_MOVABLE:
        alloc_flags |= ALLOC_CMA
    return alloc_flags


@kernel
def prepare_slowpath(mem, gfp_mask, order, zonelist, high_zoneidx, preferred_zone):
    """Kernel: mm/page_alloc.c prepare_slowpath(): wake kswapd for every zone of the list
    (the slow-path issue's), and refill the fair batch (high - low) of the zones local to
    the preferred one."""
    i = 0
    while True:
        zone = _zonelist_zone(mem, zonelist, i)
        i += 1
        if zone < 0:
            break
        if zone % mem.cfg[CFG_MAX_NR_ZONES] > high_zoneidx:
            continue
        # if not (gfp_mask & __GFP_NO_KSWAPD): wakeup_kswapd(zone, order, ...): next issue
        if not zone_local(mem, preferred_zone, zone):
            continue
        __mod_zone_page_state(mem, zone, NR_ALLOC_BATCH,
                              mem.watermark[zone, WMARK_HIGH] - mem.watermark[zone, WMARK_LOW]
                              - zone_page_state(mem, zone, NR_ALLOC_BATCH))


@kernel
def __alloc_pages_high_priority(mem, gfp_mask, order, zonelist, high_zoneidx, nodemask,
                                preferred_zone, migratetype):
    """Kernel: mm/page_alloc.c __alloc_pages_high_priority(): ignore the watermarks.  The
    kernel loops for __GFP_NOFAIL, sleeping in wait_iff_congested(); without simulated time
    kmemsim tries once."""
    return get_page_from_freelist(mem, gfp_mask, nodemask, order, zonelist, high_zoneidx,
                                  ALLOC_NO_WATERMARKS, preferred_zone, migratetype)


@kernel
def __alloc_pages_slowpath(mem, gfp_mask, order, zonelist, high_zoneidx, nodemask,
                           preferred_zone, migratetype):
    """Kernel: mm/page_alloc.c __alloc_pages_slowpath(), up to the first attempts (see the
    module docstring).  -1 at ``nopage``."""
    if order >= MAX_ORDER:
        return np.int64(-1)
    if gfp_thisnode_allocation(mem, gfp_mask):
        return np.int64(-1)
    # restart:
    prepare_slowpath(mem, gfp_mask, order, zonelist, high_zoneidx, preferred_zone)
    alloc_flags = gfp_to_alloc_flags(mem, gfp_mask, migratetype)
    # (first_zones_zonelist() without a cpuset gives the same preferred zone here)
    # rebalance:
    page = get_page_from_freelist(mem, gfp_mask, nodemask, order, zonelist, high_zoneidx,
                                  alloc_flags & ~ALLOC_NO_WATERMARKS, preferred_zone,
                                  migratetype)
    if page >= 0:
        return page
    if alloc_flags & ALLOC_NO_WATERMARKS:
        zonelist = node_zonelist(mem, mem.cpu_to_node[mem.cfg[CFG_CPU]], gfp_mask)
        page = __alloc_pages_high_priority(mem, gfp_mask, order, zonelist, high_zoneidx,
                                           nodemask, preferred_zone, migratetype)
        if page >= 0:
            return page
    # not __GFP_WAIT: nopage.  Otherwise direct compaction, direct reclaim, the OOM killer
    # and should_alloc_retry come next: the slow-path issue.
    mem.cfg[CFG_SLOWPATH_NEEDED] += 1
    return np.int64(-1)
