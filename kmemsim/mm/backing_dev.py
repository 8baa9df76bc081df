"""Congestion of the backing device, and the waits that depend on it.

Kernel: mm/backing-dev.c (congestion_wait, wait_iff_congested, set/clear_bdi_congested),
block/blk-core.c (queue_congestion_on_threshold / off_threshold) (v3.13).

A kmemsim machine has one backing device (the swap device and every file live on it).  The
kernel calls a request queue congested when its allocated requests pass
``queue_congestion_on_threshold()`` and uncongested below ``queue_congestion_off_threshold()``; with
the default nr_requests of 128 those are 113 and 103.  kmemsim counts one request per page
under writeback (a simplification named in docs/slowpath.md).
"""

import numpy as np

from kmemsim.jit import kernel
from kmemsim.mm.mmzone import CFG_BDI_CONGESTED, CFG_CONGESTION_OFF, CFG_CONGESTION_ON, \
    CFG_JIFFIES, CFG_NR_WRITEBACK, CFG_WB_HEAD, CFG_WB_RATE, CFG_WB_TAIL, ZM_FLAGS, \
    ZONE_CONGESTED, ZONE_STAT_ITEMS, page_zone_id
from kmemsim.mm.page_flags import PG_reclaim, PG_writeback
from kmemsim.mm.vmstat import __dec_zone_state, __inc_zone_state, next_vmstat_work, vmstat_update

NR_WRITEBACK = ZONE_STAT_ITEMS.index("nr_writeback")
NR_WRITTEN = ZONE_STAT_ITEMS.index("nr_written")

__all__ = ["BLK_RW_ASYNC", "BLK_RW_SYNC", "CONGESTION_ON", "CONGESTION_OFF", "bdi_congested",
           "update_congestion", "WRITEBACK_PAGES_PER_SECOND", "set_page_writeback",
           "end_page_writeback", "bdi_writeout", "wait_on_page_writeback", "congestion_wait",
           "wait_iff_congested"]

BLK_RW_ASYNC = 0
BLK_RW_SYNC = 1
NR_REQUESTS = 128                 # BLKDEV_MAX_RQ
# queue_congestion_on_threshold(): nr_requests - nr_requests/8 + 1
CONGESTION_ON = NR_REQUESTS - NR_REQUESTS // 8 + 1
# queue_congestion_off_threshold(): nr_requests - nr_requests/8 - nr_requests/16 - 1
CONGESTION_OFF = NR_REQUESTS - NR_REQUESTS // 8 - NR_REQUESTS // 16 - 1


@kernel
def bdi_congested(mem, sync):
    """Kernel: include/linux/backing-dev.h bdi_congested(): whether the device's queue is
    congested in direction ``sync`` (BLK_RW_ASYNC for writes, as bdi_write_congested asks)."""
    return (mem.cfg[CFG_BDI_CONGESTED] >> sync) & 1


@kernel
def update_congestion(mem):
    """kmemsim's stand-in for block/blk-core.c's freed_request() / get_request(): the queue turns congested
    for writes when the pages under writeback reach the on threshold and clears below the
    off threshold (clear_bdi_congested wakes the congestion waiters)."""
    n = mem.cfg[CFG_NR_WRITEBACK]
    if n >= mem.cfg[CFG_CONGESTION_ON]:
        mem.cfg[CFG_BDI_CONGESTED] |= 1 << BLK_RW_ASYNC
    elif n < mem.cfg[CFG_CONGESTION_OFF]:
        mem.cfg[CFG_BDI_CONGESTED] &= ~(1 << BLK_RW_ASYNC)


# ---- writeback on the one device, and the waits for it ----------------------------------------
# The device writes CFG_WB_RATE pages per jiffy (WRITEBACK_PAGES_PER_SECOND / HZ, rounded up),
# oldest first (Mem.wb_ring is a FIFO of the pfns under writeback).
WRITEBACK_PAGES_PER_SECOND = 25600          # 100 MiB/s of 4 KiB pages


@kernel
def set_page_writeback(mem, page):
    """Kernel: include/linux/page-flags.h set_page_writeback(): the page goes to the device
    (PG_writeback, NR_WRITEBACK, the queue); the device may turn congested."""
    mem.flags[page] |= np.uint32(1 << PG_writeback)
    __inc_zone_state(mem, page_zone_id(mem, page), NR_WRITEBACK)
    n = mem.wb_ring.shape[0]
    mem.wb_ring[mem.cfg[CFG_WB_HEAD] % n] = page
    mem.cfg[CFG_WB_HEAD] += 1
    mem.cfg[CFG_NR_WRITEBACK] += 1
    update_congestion(mem)


@kernel
def end_page_writeback(mem, page):
    """Kernel: mm/filemap.c end_page_writeback(): the write finished; a page reclaim asked
    for (PG_reclaim) is rotated to its inactive list's tail (rotate_reclaimable_page)."""
    if mem.flags[page] & np.uint32(1 << PG_reclaim):
        mem.flags[page] &= np.uint32(0xFFFFFFFF ^ (1 << PG_reclaim))
        rotate_reclaimable_page(mem, page)
    mem.flags[page] &= np.uint32(0xFFFFFFFF ^ (1 << PG_writeback))
    zone = page_zone_id(mem, page)
    __dec_zone_state(mem, zone, NR_WRITEBACK)
    __inc_zone_state(mem, zone, NR_WRITTEN)
    mem.cfg[CFG_NR_WRITEBACK] -= 1
    update_congestion(mem)


@kernel
def _device_writes(mem, jiffies):
    """The device completes up to CFG_WB_RATE pages per jiffy, oldest first."""
    done = 0
    n = mem.wb_ring.shape[0]
    budget = jiffies * mem.cfg[CFG_WB_RATE]
    while done < budget and mem.cfg[CFG_WB_TAIL] < mem.cfg[CFG_WB_HEAD]:
        page = np.int64(mem.wb_ring[mem.cfg[CFG_WB_TAIL] % n])
        mem.cfg[CFG_WB_TAIL] += 1
        end_page_writeback(mem, page)
        done += 1
    return done


@kernel
def bdi_writeout(mem, jiffies):
    """kmemsim's device and clock: ``jiffies`` of simulated time pass; the device completes
    up to CFG_WB_RATE pages per jiffy, oldest first, and jiffies advances, stopping at each
    time a CPU's vmstat_update is due to run it (kmemsim.mm.vmstat).  Returns the pages
    completed."""
    done = 0
    while jiffies > 0:
        step = next_vmstat_work(mem) - mem.cfg[CFG_JIFFIES]
        if step > jiffies:
            step = jiffies
        done += _device_writes(mem, step)
        mem.cfg[CFG_JIFFIES] += step
        jiffies -= step
        vmstat_update(mem)
    return done


@kernel
def wait_on_page_writeback(mem, page):
    """Kernel: include/linux/pagemap.h wait_on_page_writeback(): sleep, a jiffy at a time,
    until the device has written ``page``.  Returns the jiffies slept."""
    slept = 0
    while mem.flags[page] & np.uint32(1 << PG_writeback):
        bdi_writeout(mem, 1)
        slept += 1
    return slept


@kernel
def _jiffies_until_uncongested(mem):
    """Jiffies of writing until the queue drops below its off threshold."""
    excess = mem.cfg[CFG_NR_WRITEBACK] - mem.cfg[CFG_CONGESTION_OFF] + 1
    if excess <= 0:
        return 0
    rate = mem.cfg[CFG_WB_RATE]
    return (excess + rate - 1) // rate


@kernel
def congestion_wait(mem, sync, timeout):
    """Kernel: mm/backing-dev.c congestion_wait(): sleep up to ``timeout`` jiffies; a
    congested queue that clears wakes the sleeper early (clear_bdi_congested), an
    uncongested one never does.  No other task runs meanwhile in kmemsim (the deterministic
    scheduler runs kernel threads only at the allocator's own waits: kmemsim.sim.sched).
    Returns the jiffies slept."""
    t = timeout
    if bdi_congested(mem, sync):
        w = _jiffies_until_uncongested(mem)
        if w < t:
            t = w
    bdi_writeout(mem, t)
    return t


@kernel
def wait_iff_congested(mem, zone, sync, timeout):
    """Kernel: mm/backing-dev.c wait_iff_congested(): sleep only if the device is congested
    and reclaim found ``zone`` congested (ZONE_CONGESTED); otherwise just yield (0 jiffies)."""
    if not bdi_congested(mem, sync) or (mem.zone_misc[zone, ZM_FLAGS] >> ZONE_CONGESTED) & 1 == 0:
        return 0
    return congestion_wait(mem, sync, timeout)


from kmemsim.mm.swap import rotate_reclaimable_page  # noqa: E402  (swap.py does not import this)
