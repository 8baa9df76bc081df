"""Per-CPU page lists: order-0 pages cached per CPU and zone, refilled and drained in batches.

Kernel: mm/page_alloc.c (v3.13): free_hot_cold_page, free_hot_cold_page_list,
free_pcppages_bulk, rmqueue_bulk, buffered_rmqueue, drain_pages, drain_local_pages,
drain_all_pages.  A ``struct per_cpu_pages *pcp`` argument is the CPU whose pageset of the zone
it is (``mem.pcp[cpu, zone]`` holds count, high and batch; the three lists are list heads, see
mmzone.pcp_list).  "This CPU" is ``mem.cfg[CFG_CPU]``.
"""

import numpy as np

from kmemsim.jit import kernel
from kmemsim.trace.events import trace_mm_page_free_batched, trace_mm_page_pcpu_drain
from kmemsim.lib.list import list_add, list_add_tail, list_del, list_empty, list_first_entry, \
    list_last_entry
from kmemsim.mm.mmzone import CFG_CPU, CFG_EV_PGALLOC, CFG_EV_PGFREE, CFG_MIGRATE_CMA, CFG_NUMA, \
    MIGRATE_MOVABLE, \
    MIGRATE_PCPTYPES, NR_ALLOC_BATCH, NR_FREE_CMA_PAGES, NR_FREE_PAGES, PCP_BATCH, PCP_COUNT, \
    PCP_HIGH, is_migrate_cma, is_migrate_isolate, page_zone_id, pcp_list
from kmemsim.mm.gfp import GFP_THISNODE_NUMA, __GFP_COLD
from kmemsim.mm.page_alloc import __free_one_page, __rmqueue, free_one_page, \
    free_pages_prepare, get_freepage_migratetype, get_pageblock_migratetype, prep_new_page, \
    set_freepage_migratetype
from kmemsim.mm.vmstat import __count_vm_event, __count_zone_vm_events, \
    __mod_zone_freepage_state, __mod_zone_page_state, zone_statistics

__all__ = ["free_hot_cold_page", "free_hot_cold_page_list",
           "free_pcppages_bulk", "rmqueue_bulk", "buffered_rmqueue", "drain_pages",
           "drain_local_pages", "drain_all_pages", "gfp_thisnode_allocation"]



@kernel
def free_pcppages_bulk(mem, zone, count, cpu):
    """Kernel: mm/page_alloc.c free_pcppages_bulk(): hand ``count`` pages of a CPU's lists
    back to the buddy allocator, round robin over the lists starting after the last one
    used, taking a longer run from a list each time an empty one is passed; the oldest
    (tail) pages go first.  The caller lowers pcp->count."""
    migratetype = 0
    batch_free = 0
    to_free = count
    mem.pages_scanned[zone] = 0
    while to_free > 0:
        while True:
            batch_free += 1
            migratetype += 1
            if migratetype == MIGRATE_PCPTYPES:
                migratetype = 0
            head = pcp_list(mem, cpu, zone, migratetype)
            if not list_empty(mem, head):
                break
        if batch_free == MIGRATE_PCPTYPES:
            batch_free = to_free
        while True:
            page = list_last_entry(mem, head)
            list_del(mem, page)
            mt = get_freepage_migratetype(mem, page)
            __free_one_page(mem, page, zone, 0, mt)
            trace_mm_page_pcpu_drain(mem, page, 0, mt)
            if not is_migrate_isolate(mem, get_pageblock_migratetype(mem, page)):
                __mod_zone_page_state(mem, zone, NR_FREE_PAGES, 1)
                if is_migrate_cma(mem, mt):
                    __mod_zone_page_state(mem, zone, NR_FREE_CMA_PAGES, 1)
            to_free -= 1
            batch_free -= 1
            if to_free == 0 or batch_free == 0 or list_empty(mem, head):
                break


@kernel
def free_hot_cold_page(mem, page, cold):
    """Kernel: mm/page_alloc.c free_hot_cold_page(): an order-0 page goes to this CPU's list
    of its pageblock's type (RESERVE and CMA pages to the MOVABLE list, ISOLATE pages straight
    to the buddy lists), at the head when hot, the tail when cold; a full list (count >= high)
    gives a batch back."""
    zone = page_zone_id(mem, page)
    if not free_pages_prepare(mem, page, 0):
        return
    migratetype = get_pageblock_migratetype(mem, page)
    set_freepage_migratetype(mem, page, migratetype)
    __count_vm_event(mem, mem.cfg[CFG_EV_PGFREE])
    if migratetype >= MIGRATE_PCPTYPES:
        if is_migrate_isolate(mem, migratetype):
            free_one_page(mem, zone, page, 0, migratetype)
            return
        migratetype = MIGRATE_MOVABLE
    cpu = mem.cfg[CFG_CPU]
    head = pcp_list(mem, cpu, zone, migratetype)
    if cold:
        list_add_tail(mem, page, head)
    else:
        list_add(mem, page, head)
    mem.pcp[cpu, zone, PCP_COUNT] += 1
    if mem.pcp[cpu, zone, PCP_COUNT] >= mem.pcp[cpu, zone, PCP_HIGH]:
        batch = mem.pcp[cpu, zone, PCP_BATCH]
        free_pcppages_bulk(mem, zone, batch, cpu)
        mem.pcp[cpu, zone, PCP_COUNT] -= batch


@kernel
def free_hot_cold_page_list(mem, pages, nr_pages, cold):
    """Kernel: mm/page_alloc.c free_hot_cold_page_list(): free a list of order-0 pages (here
    the first ``nr_pages`` pfns of the array ``pages``)."""
    for i in range(nr_pages):
        trace_mm_page_free_batched(mem, pages[i], cold)
        free_hot_cold_page(mem, pages[i], cold)


@kernel
def rmqueue_bulk(mem, zone, order, count, head, migratetype, cold):
    """Kernel: mm/page_alloc.c rmqueue_bulk(): take up to ``count`` blocks with __rmqueue
    onto the list ``head``, each after the previous one (hot) or before it (cold), so the
    list hands them out in the order __rmqueue produced them.  Returns how many."""
    cursor = head
    i = 0
    while i < count:
        page = __rmqueue(mem, zone, order, migratetype)
        if page < 0:
            break
        if cold == 0:
            list_add(mem, page, cursor)
        else:
            list_add_tail(mem, page, cursor)
        mt = migratetype
        if mem.cfg[CFG_MIGRATE_CMA] >= 0:   # IS_ENABLED(CONFIG_CMA): CMA and ISOLATE keep their type
            mt = get_pageblock_migratetype(mem, page)
            if not is_migrate_cma(mem, mt) and not is_migrate_isolate(mem, mt):
                mt = migratetype
        set_freepage_migratetype(mem, page, mt)
        cursor = page
        if is_migrate_cma(mem, mt):
            __mod_zone_page_state(mem, zone, NR_FREE_CMA_PAGES, -(1 << order))
        i += 1
    __mod_zone_page_state(mem, zone, NR_FREE_PAGES, -(i << order))
    return i


@kernel
def gfp_thisnode_allocation(mem, gfp_mask):
    """Kernel: mm/page_alloc.c gfp_thisnode_allocation(): all of GFP_THISNODE (NUMA only)."""
    if mem.cfg[CFG_NUMA] == 0:
        return False
    return (gfp_mask & GFP_THISNODE_NUMA) == GFP_THISNODE_NUMA


@kernel
def buffered_rmqueue(mem, preferred_zone, zone, order, gfp_flags, migratetype):
    """Kernel: mm/page_alloc.c buffered_rmqueue(): order 0 from this CPU's list (refilled
    with a batch when empty), higher orders from __rmqueue under the zone lock; then the
    fair-policy batch, PGALLOC, the NUMA counters and prep_new_page.  -1 on failure."""
    cold = (gfp_flags & __GFP_COLD) != 0
    if order == 0:
        cpu = mem.cfg[CFG_CPU]
        head = pcp_list(mem, cpu, zone, migratetype)
        if list_empty(mem, head):
            mem.pcp[cpu, zone, PCP_COUNT] += rmqueue_bulk(mem, zone, 0,
                                                          mem.pcp[cpu, zone, PCP_BATCH],
                                                          head, migratetype, cold)
            if list_empty(mem, head):
                return -1
        if cold:
            page = list_last_entry(mem, head)
        else:
            page = list_first_entry(mem, head)
        list_del(mem, page)
        mem.pcp[cpu, zone, PCP_COUNT] -= 1
    else:
        page = __rmqueue(mem, zone, order, migratetype)
        if page < 0:
            return -1
        __mod_zone_freepage_state(mem, zone, -(1 << order), get_pageblock_migratetype(mem, page))
    if not gfp_thisnode_allocation(mem, gfp_flags):
        __mod_zone_page_state(mem, zone, NR_ALLOC_BATCH, -(1 << order))
    __count_zone_vm_events(mem, mem.cfg[CFG_EV_PGALLOC], zone, 1 << order)
    if mem.cfg[CFG_NUMA] != 0:
        zone_statistics(mem, preferred_zone, zone, gfp_flags)
    prep_new_page(mem, page, order, gfp_flags)
    return page


@kernel
def drain_pages(mem, cpu):
    """Kernel: mm/page_alloc.c drain_pages(): give back everything on a CPU's lists."""
    for zone in range(mem.managed_pages.shape[0]):
        if mem.present_pages[zone] == 0:
            continue
        count = mem.pcp[cpu, zone, PCP_COUNT]
        if count:
            free_pcppages_bulk(mem, zone, count, cpu)
            mem.pcp[cpu, zone, PCP_COUNT] = 0


@kernel
def drain_local_pages(mem):
    """Kernel: mm/page_alloc.c drain_local_pages(): drain this CPU."""
    drain_pages(mem, mem.cfg[CFG_CPU])


@kernel
def drain_all_pages(mem):
    """Kernel: mm/page_alloc.c drain_all_pages(): every CPU with pages on a list drains its
    own (the IPI runs drain_local_pages there)."""
    this_cpu = mem.cfg[CFG_CPU]
    for cpu in range(mem.pcp.shape[0]):
        has_pcps = False
        for zone in range(mem.managed_pages.shape[0]):
            if mem.present_pages[zone] != 0 and mem.pcp[cpu, zone, PCP_COUNT] != 0:
                has_pcps = True
                break
        if has_pcps:
            mem.cfg[CFG_CPU] = cpu
            drain_local_pages(mem)
    mem.cfg[CFG_CPU] = this_cpu
