"""kmemsim's deterministic scheduler: when the kernel threads run, and how time passes.

Not a kernel file.  A 3.13 kernel runs kswapd (one per node) concurrently with the tasks that
allocate; kmemsim runs it at fixed points instead, so every run is reproducible:

* when an allocating task sleeps or yields in the slow path (wait_iff_congested,
  congestion_wait, the NOFAIL loop: kmemsim.mm.page_alloc_slowpath calls
  :func:`schedule_kthreads`),
* after every operation of a script or of the Kernel API (the task returns to user space and
  the scheduler picks the runnable kernel threads),
* between the pages of a many-page operation (:func:`cond_resched`): each page faulted is a
  return to user space, and the read and write loops of mm/filemap.c call cond_resched() per
  page, so a woken kswapd runs while a task faults, reads or writes on,
* when simulated time advances (``tick``).

A runnable kswapd gets one turn of its loop (kmemsim.mm.vmscan.kswapd_run) per scheduling
point, on the first CPU of its node, as the running task.  Reclaim's own waits inside a turn
let the device write (time passes) but run no other thread.  Deferred frees (a page another
task will free at a given jiffy: ``free ID after=N``) run when time reaches them.
"""

from kmemsim.jit import kernel
from kmemsim.mm.backing_dev import bdi_writeout
from kmemsim.mm.mmzone import CFG_CPU, CFG_CURRENT, CFG_JIFFIES, CFG_NR_CPUS, CFG_NR_NODES, \
    KSWAPD_NAPPING, KSWAPD_RUNNABLE, PGDAT_KSWAPD_SLEEP_UNTIL, PGDAT_KSWAPD_STATE, \
    PGDAT_KSWAPD_TASK
from kmemsim.mm.page_alloc import __free_pages
from kmemsim.mm.vmscan import kswapd_nap_over, kswapd_run

__all__ = ["schedule_kthreads", "cond_resched", "run_timers", "advance_time", "NR_TIMERS"]

NR_TIMERS = 64                    # rows of Mem.timers: (expires, pfn, order), expires -1 = free


@kernel
def run_timers(mem):
    """Deferred frees whose time has come, in the order they were queued."""
    ran = 0
    for i in range(mem.timers.shape[0]):
        if mem.timers[i, 0] >= 0 and mem.timers[i, 0] <= mem.cfg[CFG_JIFFIES]:
            page = mem.timers[i, 1]
            order = mem.timers[i, 2]
            mem.timers[i, 0] = -1
            __free_pages(mem, page, order)
            ran += 1
    return ran


@kernel
def _nap_over(mem, nid):
    """Whether node ``nid``'s kswapd has napped its HZ/10 out."""
    return mem.cfg[CFG_JIFFIES] >= mem.pgdat_misc[nid, PGDAT_KSWAPD_SLEEP_UNTIL]


@kernel
def schedule_kthreads(mem):
    """Give every runnable kswapd one turn (and end naps that are over); the running task
    and CPU are restored afterwards.  Returns how many turns ran."""
    me = mem.cfg[CFG_CURRENT]
    cpu = mem.cfg[CFG_CPU]
    turns = 0
    run_timers(mem)
    for nid in range(mem.cfg[CFG_NR_NODES]):
        state = mem.pgdat_misc[nid, PGDAT_KSWAPD_STATE]
        if state == KSWAPD_NAPPING and _nap_over(mem, nid):
            mem.cfg[CFG_CURRENT] = mem.pgdat_misc[nid, PGDAT_KSWAPD_TASK]
            kswapd_nap_over(mem, nid)
            state = mem.pgdat_misc[nid, PGDAT_KSWAPD_STATE]
        if state == KSWAPD_RUNNABLE:
            mem.cfg[CFG_CURRENT] = mem.pgdat_misc[nid, PGDAT_KSWAPD_TASK]
            mem.cfg[CFG_CPU] = _first_cpu_of_node(mem, nid)
            kswapd_run(mem, nid)
            turns += 1
    mem.cfg[CFG_CURRENT] = me
    mem.cfg[CFG_CPU] = cpu
    return turns


@kernel
def cond_resched(mem):
    """Kernel: kernel/sched/core.c cond_resched() (and the return to user space after a
    fault): if a kswapd is runnable, or its nap is over, the scheduler gives it its turn
    (schedule_kthreads); otherwise nothing happens.  True if it ran."""
    for nid in range(mem.cfg[CFG_NR_NODES]):
        state = mem.pgdat_misc[nid, PGDAT_KSWAPD_STATE]
        if state == KSWAPD_RUNNABLE or (state == KSWAPD_NAPPING and _nap_over(mem, nid)):
            schedule_kthreads(mem)
            return True
    return False


@kernel
def _first_cpu_of_node(mem, nid):
    for cpu in range(mem.cfg[CFG_NR_CPUS]):
        if mem.cpu_to_node[cpu] == nid:
            return cpu
    return 0


@kernel
def advance_time(mem, jiffies):
    """``jiffies`` pass: the device writes, deferred frees fire, kernel threads run once."""
    bdi_writeout(mem, jiffies)
    return schedule_kthreads(mem)
