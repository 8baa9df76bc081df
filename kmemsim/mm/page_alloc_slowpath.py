"""The slow path of the page allocator, step for step.

Kernel: mm/page_alloc.c __alloc_pages_slowpath(), prepare_slowpath(), gfp_to_alloc_flags(),
__alloc_pages_high_priority(), __alloc_pages_direct_compact(), __alloc_pages_direct_reclaim(),
should_alloc_retry(), __alloc_pages_may_oom() (v3.13); facts sheet §6.3.

The order of the steps is the kernel's: wake kswapd and refill the fair batches
(prepare_slowpath), retry at the min watermark, ignore the watermarks for PF_MEMALLOC and
TIF_MEMDIE tasks (with the __GFP_NOFAIL loop), give up if the caller cannot sleep or is itself
reclaiming, direct compaction (async first), direct reclaim, the OOM killer when reclaim made no
progress, should_alloc_retry's loop around wait_iff_congested(HZ/50), and a last synchronous
compaction.  The running task is ``mem.cfg[CFG_CURRENT]`` (its PF_* flags and TIF_MEMDIE in
Mem.owners).  Where this module waits, kmemsim's scheduler runs (kmemsim.sim.sched).
"""

import numpy as np

from kmemsim.jit import kernel, late
from kmemsim.mm.mmzone import PF_MEMALLOC, TIF_MEMDIE_BIT  # task flags
from kmemsim.mm.backing_dev import BLK_RW_ASYNC, bdi_writeout, wait_iff_congested
from kmemsim.mm.gfp import CTX_PF_MEMALLOC, CTX_TIF_MEMDIE, __GFP_FS, __GFP_HARDWALL, __GFP_NOFAIL, \
    __GFP_THISNODE, \
    __GFP_NORETRY, __GFP_NO_KSWAPD, __GFP_REPEAT, __GFP_WAIT, __gfp_to_alloc_flags
from kmemsim.mm.mmzone import CFG_CPU, CFG_CURRENT, CFG_EV_PGFREE, CFG_HZ, CFG_JIFFIES, CFG_MAX_NR_ZONES, \
    CFG_MIGRATE_CMA, CFG_MOBILITY_DISABLED, CFG_NORMAL_IDX, CFG_OOM_KILLER_DISABLED, \
    CFG_SLOWPATH_NEEDED, MAX_ORDER, NR_ALLOC_BATCH, OW_FLAGS, OW_TIF, PAGE_ALLOC_COSTLY_ORDER, \
    WMARK_HIGH, WMARK_LOW, ZM_COMPACT_BLOCKSKIP_FLUSH, ZM_COMPACT_CONSIDERED, \
    ZM_COMPACT_DEFER_SHIFT, ZM_COMPACT_ORDER_FAILED
from kmemsim.mm.page_alloc_fastpath import ALLOC_CPUSET, ALLOC_NO_WATERMARKS, ALLOC_WMARK_HIGH, \
    get_page_from_freelist, next_zones_zonelist, node_zonelist, zone_local
from kmemsim.mm.page_alloc_pcp import drain_all_pages, drain_pages, gfp_thisnode_allocation
from kmemsim.mm.vmstat import EV_COMPACT_FAIL, EV_COMPACT_SUCCESS, __mod_zone_page_state, \
    count_vm_event, zone_page_state

late(globals(), "kmemsim.mm.vmscan", "try_to_free_pages", "wakeup_kswapd")
late(globals(), "kmemsim.sim.sched", "schedule_kthreads")
late(globals(), "kmemsim.mm.oom_kill", "out_of_memory", "try_set_zonelist_oom", "clear_zonelist_oom")
late(globals(), "kmemsim.mm.show_mem", "warn_alloc_failed")
late(globals(), "kmemsim.mm.compaction", "COMPACT_SKIPPED", "compaction_deferred",
     "defer_compaction", "try_to_compact_pages")

__all__ = ["PF_MEMALLOC", "TIF_MEMDIE_BIT", "gfp_to_alloc_flags", "prepare_slowpath",
           "__alloc_pages_high_priority", "__alloc_pages_direct_compact",
           "__alloc_pages_direct_reclaim", "should_alloc_retry", "__alloc_pages_may_oom",
           "__alloc_pages_slowpath", "slowpath_wait"]

NOFAIL_GIVE_UP_SECONDS = 60       # kmemsim's guard: a NOFAIL wait with nothing left to happen


@kernel
def gfp_to_alloc_flags(mem, gfp_mask, migratetype):
    """Kernel: mm/page_alloc.c gfp_to_alloc_flags() for the running task (its PF_MEMALLOC
    and TIF_MEMDIE; kmemsim's tasks are not real-time and never in interrupt context): the
    rules are kmemsim.mm.gfp.__gfp_to_alloc_flags."""
    task = mem.cfg[CFG_CURRENT]
    context = 0
    if mem.owners[task, OW_FLAGS] & PF_MEMALLOC:
        context |= CTX_PF_MEMALLOC
    if mem.owners[task, OW_TIF] & TIF_MEMDIE_BIT:
        context |= CTX_TIF_MEMDIE
    return __gfp_to_alloc_flags(gfp_mask, context, mem.cfg[CFG_MIGRATE_CMA] >= 0,
                                mem.cfg[CFG_MOBILITY_DISABLED] != 0)


@kernel
def prepare_slowpath(mem, gfp_mask, order, zonelist, high_zoneidx, preferred_zone):
    """Kernel: mm/page_alloc.c prepare_slowpath(): wake kswapd for every zone of the list
    (unless __GFP_NO_KSWAPD), and refill the fair batch (high - low) of the zones local to
    the preferred one."""
    classzone_idx = preferred_zone % mem.cfg[CFG_MAX_NR_ZONES]
    i = 0
    while True:
        zone, i = next_zones_zonelist(mem, zonelist, i, high_zoneidx, -1)
        if zone < 0:
            break
        if (gfp_mask & __GFP_NO_KSWAPD) == 0:
            wakeup_kswapd(mem, zone, order, classzone_idx)
        if not zone_local(mem, preferred_zone, zone):
            continue
        __mod_zone_page_state(mem, zone, NR_ALLOC_BATCH,
                              mem.watermark[zone, WMARK_HIGH] - mem.watermark[zone, WMARK_LOW]
                              - zone_page_state(mem, zone, NR_ALLOC_BATCH))


@kernel
def _pgfree_total(mem):
    """The pgfree event summed over the CPUs: it moves whenever a page is freed."""
    total = 0
    for cpu in range(mem.vm_events.shape[0]):
        total += mem.vm_events[cpu, mem.cfg[CFG_EV_PGFREE]]
    return total


@kernel
def slowpath_wait(mem, zone, timeout):
    """wait_iff_congested(zone, BLK_RW_ASYNC, timeout) as the allocating task sees it in
    kmemsim: it sleeps if the device and zone are congested, else it yields; either way the
    scheduler runs (kmemsim.sim.sched).  If the yield ran nothing that freed a page (no
    thread was runnable, or kswapd took its turn in vain), the CPU idles until the timeout:
    kmemsim has no CPU time, and on a real machine time passes while the loop retries (the
    per-CPU counter deltas are folded meanwhile, which is what lets a stale
    zone_reclaimable() give up and the OOM killer run).  Returns the jiffies that passed."""
    start = mem.cfg[CFG_JIFFIES]
    freed = _pgfree_total(mem)
    slept = wait_iff_congested(mem, zone, BLK_RW_ASYNC, timeout)
    turns = schedule_kthreads(mem)
    if slept == 0 and (turns == 0 or _pgfree_total(mem) == freed):
        bdi_writeout(mem, timeout)          # idle: only time can change anything
        schedule_kthreads(mem)
    return mem.cfg[CFG_JIFFIES] - start


@kernel
def __alloc_pages_high_priority(mem, gfp_mask, order, zonelist, high_zoneidx, nodemask,
                                preferred_zone, migratetype):
    """Kernel: mm/page_alloc.c __alloc_pages_high_priority(): ignore the watermarks; with
    __GFP_NOFAIL keep trying, waiting in wait_iff_congested(HZ/50) between attempts (kmemsim
    gives up after NOFAIL_GIVE_UP_SECONDS of simulated time in which nothing could change)."""
    start = mem.cfg[CFG_JIFFIES]
    while True:
        page = get_page_from_freelist(mem, gfp_mask, nodemask, order, zonelist, high_zoneidx,
                                      ALLOC_NO_WATERMARKS, preferred_zone, migratetype)
        if page >= 0 or (gfp_mask & __GFP_NOFAIL) == 0:
            return page
        if mem.cfg[CFG_JIFFIES] - start > NOFAIL_GIVE_UP_SECONDS * mem.cfg[CFG_HZ]:
            mem.cfg[CFG_SLOWPATH_NEEDED] += 1
            return np.int64(-1)
        slowpath_wait(mem, preferred_zone, mem.cfg[CFG_HZ] // 50)


@kernel
def __alloc_pages_direct_compact(mem, gfp_mask, order, zonelist, high_zoneidx, nodemask,
                                 alloc_flags, preferred_zone, migratetype, sync_migration):
    """Kernel: mm/page_alloc.c __alloc_pages_direct_compact().  Returns (page,
    deferred_compaction, contended_compaction).  Order 0 never compacts."""
    if order == 0:
        return np.int64(-1), False, False
    return _direct_compact(mem, gfp_mask, order, zonelist, high_zoneidx, nodemask, alloc_flags,
                           preferred_zone, migratetype, sync_migration)


@kernel
def __alloc_pages_direct_reclaim(mem, gfp_mask, order, zonelist, high_zoneidx, nodemask,
                                 alloc_flags, preferred_zone, migratetype):
    """Kernel: mm/page_alloc.c __alloc_pages_direct_reclaim(): reclaim as a PF_MEMALLOC task
    (__perform_reclaim), then try the freelists; if that fails, drain every CPU's lists once
    and try again.  Returns (page, did_some_progress)."""
    task = mem.cfg[CFG_CURRENT]
    old_flags = mem.owners[task, OW_FLAGS]
    mem.owners[task, OW_FLAGS] = old_flags | PF_MEMALLOC
    progress = try_to_free_pages(mem, zonelist, order, gfp_mask, high_zoneidx, nodemask)
    mem.owners[task, OW_FLAGS] = old_flags
    if progress == 0:
        return np.int64(-1), progress
    drained = False
    while True:
        page = get_page_from_freelist(mem, gfp_mask, nodemask, order, zonelist, high_zoneidx,
                                      alloc_flags & ~ALLOC_NO_WATERMARKS, preferred_zone,
                                      migratetype)
        if page >= 0 or drained:
            return page, progress
        drain_all_pages(mem)
        drained = True


@kernel
def should_alloc_retry(mem, gfp_mask, order, did_some_progress, pages_reclaimed):
    """Kernel: mm/page_alloc.c should_alloc_retry(): never with __GFP_NORETRY, always with
    __GFP_NOFAIL, always for orders up to PAGE_ALLOC_COSTLY_ORDER, and with __GFP_REPEAT
    until 2^order pages were reclaimed (suspended storage is not modelled)."""
    if gfp_mask & __GFP_NORETRY:
        return False
    if gfp_mask & __GFP_NOFAIL:
        return True
    if order <= PAGE_ALLOC_COSTLY_ORDER:
        return True
    if (gfp_mask & __GFP_REPEAT) and pages_reclaimed < (1 << order):
        return True
    return False


@kernel
def __alloc_pages_may_oom(mem, gfp_mask, order, zonelist, high_zoneidx, nodemask,
                          preferred_zone, migratetype):
    """Kernel: mm/page_alloc.c __alloc_pages_may_oom(): under the zonelist OOM lock (else
    sleep a jiffy and return), a last try at the high watermark (a parallel kill may have
    freed memory), then, unless the request is too costly, for a low zone, or
    __GFP_THISNODE, the OOM killer.  Returns (page, worth restarting): kmemsim restarts only
    when out_of_memory killed a task or marked the running one; when nothing could be killed
    the kernel would have panicked, and kmemsim fails the allocation instead."""
    if not try_set_zonelist_oom(mem, zonelist, gfp_mask):
        bdi_writeout(mem, 1)                # schedule_timeout_uninterruptible(1)
        schedule_kthreads(mem)
        return np.int64(-1), True
    page = get_page_from_freelist(mem, gfp_mask | __GFP_HARDWALL, nodemask, order, zonelist,
                                  high_zoneidx, ALLOC_WMARK_HIGH | ALLOC_CPUSET,
                                  preferred_zone, migratetype)
    if page >= 0:
        clear_zonelist_oom(mem, zonelist, gfp_mask)
        return page, False
    killed = 0
    skip = False
    if (gfp_mask & __GFP_NOFAIL) == 0:
        if order > PAGE_ALLOC_COSTLY_ORDER or high_zoneidx < mem.cfg[CFG_NORMAL_IDX] \
                or (gfp_mask & __GFP_THISNODE) != 0:
            skip = True
    if not skip:
        killed = out_of_memory(mem, zonelist, gfp_mask, order, nodemask, False)
    clear_zonelist_oom(mem, zonelist, gfp_mask)
    if skip:
        return np.int64(-1), True
    if killed == 0:
        mem.cfg[CFG_SLOWPATH_NEEDED] += 1
    return np.int64(-1), killed != 0


@kernel
def __alloc_pages_slowpath(mem, gfp_mask, order, zonelist, high_zoneidx, nodemask,
                           preferred_zone, migratetype):
    """Kernel: mm/page_alloc.c __alloc_pages_slowpath() (see the module docstring).  The
    pfn, or -1 at ``nopage``, where warn_alloc_failed() reports the failure."""
    if order >= MAX_ORDER:
        return np.int64(-1)                 # WARN_ON_ONCE unless __GFP_NOWARN
    page = _slowpath(mem, gfp_mask, order, zonelist, high_zoneidx, nodemask, preferred_zone,
                     migratetype)
    if page < 0:
        warn_alloc_failed(mem, gfp_mask, order)
    return page


@kernel
def _slowpath(mem, gfp_mask, order, zonelist, high_zoneidx, nodemask, preferred_zone,
              migratetype):
    """The steps of __alloc_pages_slowpath from the GFP_THISNODE check to got_pg/nopage."""
    wait = (gfp_mask & __GFP_WAIT) != 0
    if gfp_thisnode_allocation(mem, gfp_mask):
        return np.int64(-1)
    task = mem.cfg[CFG_CURRENT]
    sync_migration = False
    pages_reclaimed = 0
    while True:                                             # restart:
        prepare_slowpath(mem, gfp_mask, order, zonelist, high_zoneidx, preferred_zone)
        alloc_flags = gfp_to_alloc_flags(mem, gfp_mask, migratetype)
        restart = False
        while True:                                         # rebalance:
            page = get_page_from_freelist(mem, gfp_mask, nodemask, order, zonelist,
                                          high_zoneidx, alloc_flags & ~ALLOC_NO_WATERMARKS,
                                          preferred_zone, migratetype)
            if page >= 0:
                return page
            if alloc_flags & ALLOC_NO_WATERMARKS:
                local = node_zonelist(mem, mem.cpu_to_node[mem.cfg[CFG_CPU]], gfp_mask)
                page = __alloc_pages_high_priority(mem, gfp_mask, order, local, high_zoneidx,
                                                   nodemask, preferred_zone, migratetype)
                if page >= 0:
                    return page
            if not wait:
                return np.int64(-1)
            if mem.owners[task, OW_FLAGS] & PF_MEMALLOC:
                return np.int64(-1)
            if (mem.owners[task, OW_TIF] & TIF_MEMDIE_BIT) and (gfp_mask & __GFP_NOFAIL) == 0:
                return np.int64(-1)
            page, deferred, contended = __alloc_pages_direct_compact(
                mem, gfp_mask, order, zonelist, high_zoneidx, nodemask, alloc_flags,
                preferred_zone, migratetype, sync_migration)
            if page >= 0:
                return page
            sync_migration = True
            if (deferred or contended) and (gfp_mask & __GFP_NO_KSWAPD):
                return np.int64(-1)
            page, progress = __alloc_pages_direct_reclaim(
                mem, gfp_mask, order, zonelist, high_zoneidx, nodemask, alloc_flags,
                preferred_zone, migratetype)
            if page >= 0:
                return page
            if progress == 0:
                if (gfp_mask & __GFP_FS) != 0 and (gfp_mask & __GFP_NORETRY) == 0:
                    if mem.cfg[CFG_OOM_KILLER_DISABLED]:
                        return np.int64(-1)
                    page, again = __alloc_pages_may_oom(mem, gfp_mask, order, zonelist,
                                                        high_zoneidx, nodemask,
                                                        preferred_zone, migratetype)
                    if page >= 0:
                        return page
                    if not again:
                        return np.int64(-1)
                    if (gfp_mask & __GFP_NOFAIL) == 0:
                        if order > PAGE_ALLOC_COSTLY_ORDER:
                            return np.int64(-1)
                        if high_zoneidx < mem.cfg[CFG_NORMAL_IDX]:
                            return np.int64(-1)
                    restart = True
                    break
            pages_reclaimed += progress
            if should_alloc_retry(mem, gfp_mask, order, progress, pages_reclaimed):
                slowpath_wait(mem, preferred_zone, mem.cfg[CFG_HZ] // 50)
                continue
            page, deferred, contended = __alloc_pages_direct_compact(
                mem, gfp_mask, order, zonelist, high_zoneidx, nodemask, alloc_flags,
                preferred_zone, migratetype, sync_migration)
            return page                                     # got_pg or nopage
        if not restart:
            return np.int64(-1)


@kernel
def _direct_compact(mem, gfp_mask, order, zonelist, high_zoneidx, nodemask, alloc_flags,
                    preferred_zone, migratetype, sync_migration):
    """The body of __alloc_pages_direct_compact for order > 0: unless compaction is
    deferred for the preferred zone, compact as a PF_MEMALLOC task (try_to_compact_pages);
    if anything was tried, drain this CPU's lists (migration freed pages there) and try the
    freelists; success resets the deferral (COMPACTSUCCESS), failure counts COMPACTFAIL and,
    when synchronous, defers."""
    if compaction_deferred(mem, preferred_zone, order):
        return np.int64(-1), True, False
    task = mem.cfg[CFG_CURRENT]
    old_flags = mem.owners[task, OW_FLAGS]
    mem.owners[task, OW_FLAGS] = old_flags | PF_MEMALLOC
    progress, contended = try_to_compact_pages(mem, zonelist, order, gfp_mask, nodemask,
                                               sync_migration)
    mem.owners[task, OW_FLAGS] = old_flags
    if progress != COMPACT_SKIPPED:
        drain_pages(mem, mem.cfg[CFG_CPU])
        page = get_page_from_freelist(mem, gfp_mask, nodemask, order, zonelist, high_zoneidx,
                                      alloc_flags & ~ALLOC_NO_WATERMARKS, preferred_zone,
                                      migratetype)
        if page >= 0:
            mem.zone_misc[preferred_zone, ZM_COMPACT_BLOCKSKIP_FLUSH] = 0
            mem.zone_misc[preferred_zone, ZM_COMPACT_CONSIDERED] = 0
            mem.zone_misc[preferred_zone, ZM_COMPACT_DEFER_SHIFT] = 0
            if order >= mem.zone_misc[preferred_zone, ZM_COMPACT_ORDER_FAILED]:
                mem.zone_misc[preferred_zone, ZM_COMPACT_ORDER_FAILED] = order + 1
            count_vm_event(mem, EV_COMPACT_SUCCESS)
            return page, False, contended
        count_vm_event(mem, EV_COMPACT_FAIL)
        if sync_migration:
            defer_compaction(mem, preferred_zone, order)
    return np.int64(-1), False, contended
