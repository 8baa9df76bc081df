"""The allocation fast path: watermarks, the zonelist scan, the entry points.

Kernel: mm/page_alloc.c (v3.13): __zone_watermark_ok, zone_watermark_ok,
zone_watermark_ok_safe, the zonelist cache (zlc_*), get_page_from_freelist,
__alloc_pages_nodemask, and the wrappers of include/linux/gfp.h (alloc_pages_node,
alloc_pages_exact_node) and mm/page_alloc.c (__get_free_pages, free_pages, split_page,
alloc_pages_exact, free_pages_exact).

A ``struct zonelist *`` is ``nid * 2 + i`` for ``NODE_DATA(nid)->node_zonelists[i]`` (0: the
fallback list over all nodes, 1: this node only, for __GFP_THISNODE); its zones are
``mem.zonelists[nid, i]``, ended by -1.  A ``nodemask_t *`` is a bitmask of node ids, -1 for
NULL.  Pages are pfns; functions that return an address in the kernel return the pfn here.

Not modelled: cpusets (every zone is allowed), fault injection, memcg charges, zone_reclaim
(zone_reclaim_mode stays 0 unless a machine's node distances exceed RECLAIM_DISTANCE, and then
zone_reclaim answers NOSCAN until the reclaim issue).
"""

import numpy as np

from kmemsim.jit import kernel
from kmemsim.trace.events import trace_mm_page_alloc
from kmemsim.mm.gfp import __GFP_HARDWALL, __GFP_THISNODE, allocflags_to_migratetype, gfp_zone
from kmemsim.mm.mmzone import CFG_CPU, CFG_GFP_ALLOWED_MASK, CFG_HZ, CFG_JIFFIES, \
    CFG_MAX_NR_ZONES, CFG_MIGRATE_CMA, CFG_NUMA, CFG_NR_NODES, \
    CFG_ZONE_RECLAIM_MODE, MIGRATE_MOVABLE, NR_ALLOC_BATCH, NR_FREE_CMA_PAGES, NR_FREE_PAGES
from kmemsim.mm.page_alloc import __free_pages, split_page
from kmemsim.mm.page_alloc_pcp import buffered_rmqueue, gfp_thisnode_allocation
from kmemsim.mm.vmstat import zone_page_state, zone_page_state_snapshot

__all__ = [
    "ALLOC_WMARK_MIN", "ALLOC_WMARK_LOW", "ALLOC_WMARK_HIGH", "ALLOC_NO_WATERMARKS",
    "ALLOC_WMARK_MASK", "ALLOC_HARDER", "ALLOC_HIGH", "ALLOC_CPUSET", "ALLOC_CMA",
    "__zone_watermark_ok", "zone_watermark_ok", "zone_watermark_ok_safe", "zone_local",
    "get_page_from_freelist", "__alloc_pages_nodemask", "__alloc_pages", "node_zonelist",
    "first_zones_zonelist", "alloc_pages_node", "alloc_pages_exact_node", "alloc_pages",
    "__get_free_pages", "free_pages", "alloc_pages_exact", "free_pages_exact", "get_order",
]

ALLOC_WMARK_MIN = 0
ALLOC_WMARK_LOW = 1
ALLOC_WMARK_HIGH = 2
ALLOC_NO_WATERMARKS = 0x04
ALLOC_WMARK_MASK = ALLOC_NO_WATERMARKS - 1
ALLOC_HARDER = 0x10
ALLOC_HIGH = 0x20
ALLOC_CPUSET = 0x40
ALLOC_CMA = 0x80



# ---- watermarks ------------------------------------------------------------------------------

@kernel
def __zone_watermark_ok(mem, z, order, mark, classzone_idx, alloc_flags, free_pages):
    """Kernel: mm/page_alloc.c __zone_watermark_ok(): enough free pages above ``mark`` plus
    the lowmem reserve against ``classzone_idx`` (halved for ALLOC_HIGH, a further quarter off
    for ALLOC_HARDER), and at each lower order enough left in larger blocks (the mark halving
    per order)."""
    min = np.int64(mark)
    lowmem_reserve = mem.lowmem_reserve[z, classzone_idx]
    free_cma = np.int64(0)
    free_pages -= (1 << order) - 1
    if alloc_flags & ALLOC_HIGH:
        min -= min // 2
    if alloc_flags & ALLOC_HARDER:
        min -= min // 4
    if mem.cfg[CFG_MIGRATE_CMA] >= 0 and not (alloc_flags & ALLOC_CMA):
        free_cma = zone_page_state(mem, z, NR_FREE_CMA_PAGES)
    if free_pages - free_cma <= min + lowmem_reserve:
        return False
    for o in range(order):
        free_pages -= mem.nr_free[z, o] << o
        min >>= 1
        if free_pages <= min:
            return False
    return True


@kernel
def zone_watermark_ok(mem, z, order, mark, classzone_idx, alloc_flags):
    """Kernel: mm/page_alloc.c zone_watermark_ok(): against the zone's (lagging) counter."""
    return __zone_watermark_ok(mem, z, order, mark, classzone_idx, alloc_flags,
                               zone_page_state(mem, z, NR_FREE_PAGES))


@kernel
def zone_watermark_ok_safe(mem, z, order, mark, classzone_idx, alloc_flags):
    """Kernel: mm/page_alloc.c zone_watermark_ok_safe(): below percpu_drift_mark, count the
    per-CPU deltas too."""
    free_pages = zone_page_state(mem, z, NR_FREE_PAGES)
    if mem.percpu_drift_mark[z] != 0 and free_pages < mem.percpu_drift_mark[z]:
        free_pages = zone_page_state_snapshot(mem, z, NR_FREE_PAGES)
    return __zone_watermark_ok(mem, z, order, mark, classzone_idx, alloc_flags, free_pages)


# ---- zonelists -------------------------------------------------------------------------------

@kernel
def node_zonelist(mem, nid, flags):
    """Kernel: include/linux/gfp.h node_zonelist() with gfp_zonelist(): the THISNODE list
    for __GFP_THISNODE on NUMA, else the fallback list."""
    if mem.cfg[CFG_NUMA] != 0 and (flags & __GFP_THISNODE) != 0:
        return nid * 2 + 1
    return nid * 2


@kernel
def _zonelist_zone(mem, zonelist, i):
    return mem.zonelists[zonelist // 2, zonelist % 2, i]


@kernel
def _zone_allowed(mem, zone, high_zoneidx, nodemask):
    if zone % mem.cfg[CFG_MAX_NR_ZONES] > high_zoneidx:
        return False
    if nodemask < 0:
        return True
    return (nodemask >> (zone // mem.cfg[CFG_MAX_NR_ZONES])) & 1 != 0


@kernel
def next_zones_zonelist(mem, zonelist, i, high_zoneidx, nodemask):
    """Kernel: mm/mmzone.c next_zones_zonelist(): from position ``i`` of the zonelist, the
    next zone at or below ``high_zoneidx`` in ``nodemask``.  Returns (zone or -1, the
    position after it): for_each_zone_zonelist_nodemask() is a loop over it."""
    while True:
        zone = _zonelist_zone(mem, zonelist, i)
        i += 1
        if zone < 0 or _zone_allowed(mem, zone, high_zoneidx, nodemask):
            return zone, i


@kernel
def first_zones_zonelist(mem, zonelist, high_zoneidx, nodemask):
    """Kernel: include/linux/mmzone.h first_zones_zonelist(): the first zone of the list at
    or below ``high_zoneidx`` in ``nodemask``; -1 if none."""
    i = 0
    while True:
        zone = _zonelist_zone(mem, zonelist, i)
        if zone < 0:
            return np.int64(-1)
        if _zone_allowed(mem, zone, high_zoneidx, nodemask):
            return zone
        i += 1


@kernel
def zone_local(mem, local_zone, zone):
    """Kernel: mm/page_alloc.c zone_local(): the same node."""
    nz = mem.cfg[CFG_MAX_NR_ZONES]
    return local_zone // nz == zone // nz


@kernel
def zone_allows_reclaim(mem, local_zone, zone):
    """Kernel: mm/page_alloc.c zone_allows_reclaim(): within RECLAIM_DISTANCE."""
    nz = mem.cfg[CFG_MAX_NR_ZONES]
    return mem.reclaim_nodes[zone // nz, local_zone // nz] != 0


@kernel
def zlc_setup(mem, zonelist, alloc_flags):
    """Kernel: mm/page_alloc.c zlc_setup(): forget the full marks once a second has passed.
    Only the fallback zonelist has a cache.  (No cpusets: every node with memory allowed.)"""
    if zonelist % 2 != 0:
        return False
    nid = zonelist // 2
    if mem.cfg[CFG_JIFFIES] - (mem.zlc_last_full_zap[nid] + mem.cfg[CFG_HZ]) > 0:
        mem.zlc_fullzones[nid, :] = 0
        mem.zlc_last_full_zap[nid] = mem.cfg[CFG_JIFFIES]
    return True


@kernel
def zlc_zone_worth_trying(mem, zonelist, i):
    """Kernel: mm/page_alloc.c zlc_zone_worth_trying(): not marked full."""
    if zonelist % 2 != 0:
        return True
    return mem.zlc_fullzones[zonelist // 2, i] == 0


@kernel
def zlc_mark_zone_full(mem, zonelist, i):
    """Kernel: mm/page_alloc.c zlc_mark_zone_full()."""
    if zonelist % 2 == 0:
        mem.zlc_fullzones[zonelist // 2, i] = 1


@kernel
def zone_reclaim(mem, zone, gfp_mask, order):
    """Kernel: mm/vmscan.c zone_reclaim(): ZONE_RECLAIM_NOSCAN (-2) until the reclaim issue."""
    return -2


# ---- the fast path ---------------------------------------------------------------------------

@kernel
def get_page_from_freelist(mem, gfp_mask, nodemask, order, zonelist, high_zoneidx,
                           alloc_flags, preferred_zone, migratetype):
    """Kernel: mm/page_alloc.c get_page_from_freelist(): the first zone of the zonelist that
    passes its watermark (and, on the fast path, the fair-policy batch and locality rules)
    and has a block to give.  -1 when none does."""
    nz = mem.cfg[CFG_MAX_NR_ZONES]
    classzone_idx = preferred_zone % nz
    zlc_active = False
    did_zlc_setup = False
    page = np.int64(-1)
    while True:                                            # zonelist_scan:
        i = -1
        while True:
            i += 1
            zone = _zonelist_zone(mem, zonelist, i)
            if zone < 0:
                break
            if not _zone_allowed(mem, zone, high_zoneidx, nodemask):
                continue
            if mem.cfg[CFG_NUMA] != 0 and zlc_active and not zlc_zone_worth_trying(mem, zonelist, i):
                continue
            if (alloc_flags & ALLOC_NO_WATERMARKS) == 0:
                if (alloc_flags & ALLOC_WMARK_LOW) != 0 and not gfp_thisnode_allocation(mem, gfp_mask):
                    if zone_page_state(mem, zone, NR_ALLOC_BATCH) <= 0:
                        continue
                    if not zone_local(mem, preferred_zone, zone):
                        continue
                # __GFP_WRITE's zone_dirty_ok() needs the dirty limits of the reclaim issue
                mark = mem.watermark[zone, alloc_flags & ALLOC_WMARK_MASK]
                if not zone_watermark_ok(mem, zone, order, mark, classzone_idx, alloc_flags):
                    if mem.cfg[CFG_NUMA] != 0 and not did_zlc_setup and mem.cfg[CFG_NR_NODES] > 1:
                        zlc_active = zlc_setup(mem, zonelist, alloc_flags)
                        did_zlc_setup = True
                    if mem.cfg[CFG_ZONE_RECLAIM_MODE] == 0 or not zone_allows_reclaim(mem, preferred_zone, zone):
                        if mem.cfg[CFG_NUMA] != 0:                     # this_zone_full:
                            zlc_mark_zone_full(mem, zonelist, i)
                        continue
                    if mem.cfg[CFG_NUMA] != 0 and zlc_active and not zlc_zone_worth_trying(mem, zonelist, i):
                        continue
                    ret = zone_reclaim(mem, zone, gfp_mask, order)
                    if ret == -2 or ret == -1:                          # NOSCAN, FULL
                        continue
                    if not zone_watermark_ok(mem, zone, order, mark, classzone_idx, alloc_flags):
                        if (alloc_flags & ALLOC_WMARK_MASK) == ALLOC_WMARK_MIN or ret == 0:
                            if mem.cfg[CFG_NUMA] != 0:
                                zlc_mark_zone_full(mem, zonelist, i)
                        continue
            # try_this_zone:
            page = buffered_rmqueue(mem, preferred_zone, zone, order, gfp_mask, migratetype)
            if page >= 0:
                break
            if mem.cfg[CFG_NUMA] != 0:                                 # this_zone_full:
                zlc_mark_zone_full(mem, zonelist, i)
        if mem.cfg[CFG_NUMA] != 0 and page < 0 and zlc_active:
            zlc_active = False                                          # second scan without zlc
            continue
        return page


@kernel
def __alloc_pages_nodemask(mem, gfp_mask, order, zonelist, nodemask):
    """Kernel: mm/page_alloc.c __alloc_pages_nodemask(): the first pass with
    ALLOC_WMARK_LOW|ALLOC_CPUSET (and ALLOC_CMA for movable requests with CONFIG_CMA), on the
    preferred zone's terms, with __GFP_HARDWALL added; then the slow path (as far as
    kmemsim has it, see kmemsim.mm.page_alloc_slowpath).  -1 when both fail."""
    high_zoneidx = gfp_zone(mem, gfp_mask)
    migratetype = allocflags_to_migratetype(mem, gfp_mask)
    alloc_flags = ALLOC_WMARK_LOW | ALLOC_CPUSET
    gfp_mask &= mem.cfg[CFG_GFP_ALLOWED_MASK]
    if _zonelist_zone(mem, zonelist, 0) < 0:
        return np.int64(-1)
    preferred_zone = first_zones_zonelist(mem, zonelist, high_zoneidx, nodemask)
    if preferred_zone < 0:
        return np.int64(-1)
    if mem.cfg[CFG_MIGRATE_CMA] >= 0 and migratetype == MIGRATE_MOVABLE:
        alloc_flags |= ALLOC_CMA
    page = get_page_from_freelist(mem, gfp_mask | __GFP_HARDWALL, nodemask, order, zonelist,
                                  high_zoneidx, alloc_flags, preferred_zone, migratetype)
    if page < 0:
        # memalloc_noio_flags(): no task of kmemsim's runs in a no-IO section
        page = __alloc_pages_slowpath(mem, gfp_mask, order, zonelist, high_zoneidx, nodemask,
                                      preferred_zone, migratetype)
    trace_mm_page_alloc(mem, page, order, gfp_mask, migratetype)
    return page


@kernel
def __alloc_pages(mem, gfp_mask, order, zonelist):
    """Kernel: include/linux/gfp.h __alloc_pages(): no nodemask."""
    return __alloc_pages_nodemask(mem, gfp_mask, order, zonelist, -1)


@kernel
def alloc_pages_node(mem, nid, gfp_mask, order):
    """Kernel: include/linux/gfp.h alloc_pages_node(): a negative node means this CPU's."""
    if nid < 0:
        nid = mem.cpu_to_node[mem.cfg[CFG_CPU]]
    return __alloc_pages(mem, gfp_mask, order, node_zonelist(mem, nid, gfp_mask))


@kernel
def alloc_pages_exact_node(mem, nid, gfp_mask, order):
    """Kernel: include/linux/gfp.h alloc_pages_exact_node()."""
    return __alloc_pages(mem, gfp_mask, order, node_zonelist(mem, nid, gfp_mask))


@kernel
def alloc_pages(mem, gfp_mask, order):
    """Kernel: include/linux/gfp.h alloc_pages() (non-NUMA) / mm/mempolicy.c
    alloc_pages_current() with the default local policy (NUMA): this CPU's node's zonelist."""
    return alloc_pages_node(mem, -1, gfp_mask, order)


@kernel
def __get_free_pages(mem, gfp_mask, order):
    """Kernel: mm/page_alloc.c __get_free_pages(): alloc_pages; the pfn stands for the
    address page_address() would give."""
    return alloc_pages(mem, gfp_mask, order)


@kernel
def free_pages(mem, addr, order):
    """Kernel: mm/page_alloc.c free_pages(): ``addr`` is the pfn; 0 is ignored as the
    kernel ignores a NULL address."""
    if addr != 0:
        __free_pages(mem, addr, order)


@kernel
def get_order(size):
    """Kernel: include/asm-generic/getorder.h get_order(): the order of pages holding
    ``size`` bytes."""
    size = (size - 1) >> 12
    order = 0
    while size > 0:
        size >>= 1
        order += 1
    return order


@kernel
def make_alloc_exact(mem, addr, order, size):
    """Kernel: mm/page_alloc.c make_alloc_exact(): split the block and free the pages past
    ``size``."""
    if addr >= 0:
        used = addr + ((size + 4095) >> 12)
        split_page(mem, addr, order)
        for p in range(used, addr + (1 << order)):
            free_pages(mem, p, 0)
    return addr


@kernel
def alloc_pages_exact(mem, size, gfp_mask):
    """Kernel: mm/page_alloc.c alloc_pages_exact()."""
    order = get_order(size)
    addr = __get_free_pages(mem, gfp_mask, order)
    return make_alloc_exact(mem, addr, order, size)


@kernel
def free_pages_exact(mem, addr, size):
    """Kernel: mm/page_alloc.c free_pages_exact(): free each page of the range."""
    end = addr + ((size + 4095) >> 12)
    while addr < end:
        free_pages(mem, addr, 0)
        addr += 1


from kmemsim.mm.page_alloc_slowpath import __alloc_pages_slowpath  # noqa: E402  (imports us)
