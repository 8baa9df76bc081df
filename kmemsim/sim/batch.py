"""Compiled loops over many events: one call from Python, the whole loop in compiled code.

Not kernel functions: drivers that feed the kernel functions, so that replaying millions of
events never crosses between Python and compiled code per event (see docs/performance.md).
"""

import numpy as np

from kmemsim.jit import kernel
from kmemsim.mm.page_alloc import __free_pages, __free_pages_ok
from kmemsim.mm.page_alloc_fastpath import alloc_pages
from kmemsim.mm.slub import __kmalloc, kfree
from kmemsim.sim.buddy_core import rmqueue_zone_locked

__all__ = ["replay_buddy_events", "alloc_free_pairs", "replay_events", "kmalloc_kfree_pairs"]

CHECKSUM_MASK = np.uint64(0xFFFFFFFFFFFFFFFF)


@kernel
def replay_buddy_events(mem, zone, migratetype, gfp_flags, events, pfn_of_id):
    """Replay ``events`` (int32[n, 2]; (0, order) allocates, (1, j) frees what row j
    allocated) through the buddy core of one zone (rmqueue_zone_locked, __free_pages_ok); fills ``pfn_of_id`` (-1 for a failed allocation) and returns
    (checksum, failures) with checksum = sum of pfn * 31 + order over the successful
    allocations, wrapping at 2^64 (benchmarks/README.md)."""
    checksum = np.uint64(0)
    failures = 0
    for i in range(events.shape[0]):
        kind = events[i, 0]
        if kind == 0:
            order = events[i, 1]
            page = rmqueue_zone_locked(mem, zone, order, migratetype, gfp_flags)
            pfn_of_id[i] = page
            if page < 0:
                failures += 1
            else:
                checksum += np.uint64(page) * np.uint64(31) + np.uint64(order)
        else:
            j = events[i, 1]
            page = pfn_of_id[j]
            if page >= 0:
                __free_pages_ok(mem, page, events[j, 1])
                pfn_of_id[j] = -1
    return checksum, failures


@kernel
def alloc_free_pairs(mem, n, gfp_mask):
    """``n`` order-0 allocations each freed at once, through alloc_pages and __free_pages
    (per-CPU list hits after the first refill).  Returns how many allocations failed."""
    failures = 0
    for i in range(n):
        page = alloc_pages(mem, gfp_mask, 0)
        if page < 0:
            failures += 1
        else:
            __free_pages(mem, page, 0)
    return failures


@kernel
def replay_events(mem, gfp_mask, events, pfn_of_id):
    """Like replay_buddy_events, through the whole allocator: alloc_pages (watermarks,
    per-CPU lists, fallback across zones) and __free_pages."""
    checksum = np.uint64(0)
    failures = 0
    for i in range(events.shape[0]):
        if events[i, 0] == 0:
            order = events[i, 1]
            page = alloc_pages(mem, gfp_mask, order)
            pfn_of_id[i] = page
            if page < 0:
                failures += 1
            else:
                checksum += np.uint64(page) * np.uint64(31) + np.uint64(order)
        else:
            j = events[i, 1]
            page = pfn_of_id[j]
            if page >= 0:
                __free_pages(mem, page, events[j, 1])
                pfn_of_id[j] = -1
    return checksum, failures


@kernel
def kmalloc_kfree_pairs(mem, n, size, gfp_mask):
    """``n`` kmalloc(size) each kfree'd at once on this CPU (slab fast-path hits after the
    first slab).  Returns the sum of the addresses (so the work cannot be skipped) and how
    many allocations failed.  One new slab at most: Python's pool headroom covers it."""
    total = np.int64(0)
    failures = 0
    for i in range(n):
        x = __kmalloc(mem, size, gfp_mask)
        if x < 0:
            failures += 1
        else:
            total += x
            kfree(mem, x)
    return total, failures
