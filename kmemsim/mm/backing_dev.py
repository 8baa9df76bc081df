"""Congestion of the backing device, and the waits that depend on it.

Kernel: mm/backing-dev.c (congestion_wait, wait_iff_congested, set/clear_bdi_congested),
block/blk-core.c (queue_congestion_on_threshold / off_threshold) (v3.13).

A kmemsim machine has one backing device (the swap device and every file live on it).  The
kernel calls a request queue congested when its allocated requests pass
``queue_congestion_on_threshold()`` and uncongested below ``queue_congestion_off_threshold()``; with
the default nr_requests of 128 those are 113 and 103.  kmemsim counts one request per page
under writeback (a simplification named in docs/slowpath.md).
"""

from kmemsim.jit import kernel
from kmemsim.mm.mmzone import CFG_BDI_CONGESTED, CFG_CONGESTION_OFF, CFG_CONGESTION_ON, \
    CFG_NR_WRITEBACK

__all__ = ["BLK_RW_ASYNC", "BLK_RW_SYNC", "CONGESTION_ON", "CONGESTION_OFF", "bdi_congested",
           "update_congestion"]

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
