"""Independent, slow, plain-Python model of the same buddy core as buddy_ref.c.

It exists only to cross-check buddy_ref.c (and later kmemsim) on small
workloads.  It deliberately uses different data structures: each free list is
a Python list whose element 0 is the list head, and free block heads live in
a dict pfn -> order.  Only the MOVABLE lists are modelled, which is all this
workload ever touches (the fallback and RESERVE lists stay empty).

    python benchmarks/buddy_check.py EVENTS.npy [zone_pages]

prints the same JSON keys as buddy_ref (minus timing and memory).
"""
from __future__ import annotations

import json
import sys

import numpy as np

MAX_ORDER = 11


def replay(ev: np.ndarray, zone_pages: int) -> dict:
    free_head = {}                                  # pfn -> order of a free block head
    lists = [[] for _ in range(MAX_ORDER)]          # lists[o][0] is the head entry
    free_pages = 0

    def is_free(pfn: int, order: int) -> bool:
        return 0 <= pfn < zone_pages and free_head.get(pfn) == order

    def free(pfn: int, order: int) -> None:
        last_buddy = None
        while order < MAX_ORDER - 1:
            b = pfn ^ (1 << order)
            last_buddy = b
            if not is_free(b, order):
                break
            lists[order].remove(b)
            del free_head[b]
            pfn &= b
            order += 1
        free_head[pfn] = order
        tail = False
        if order < MAX_ORDER - 2 and last_buddy is not None:
            parent = pfn & ~((1 << (order + 1)) - 1)
            tail = is_free(parent ^ (1 << (order + 1)), order + 1)
        if tail:
            lists[order].append(pfn)
        else:
            lists[order].insert(0, pfn)

    def alloc(order: int) -> int:
        for cur in range(order, MAX_ORDER):
            if lists[cur]:
                pfn = lists[cur].pop(0)
                del free_head[pfn]
                while cur > order:                   # split, upper halves to heads
                    cur -= 1
                    half = pfn + (1 << cur)
                    lists[cur].insert(0, half)
                    free_head[half] = cur
                return pfn
        return -1

    for p in range(0, zone_pages, 1 << (MAX_ORDER - 1)):
        free(p, MAX_ORDER - 1)
        free_pages += 1 << (MAX_ORDER - 1)

    kinds = ev[:, 0].tolist()
    args = ev[:, 1].tolist()
    pfn_of_id = [-1] * len(kinds)
    checksum = 0
    failures = 0
    for i, (k, a) in enumerate(zip(kinds, args)):
        if k == 0:
            pfn = alloc(a)
            pfn_of_id[i] = pfn
            if pfn >= 0:
                checksum = (checksum + pfn * 31 + a) & 0xFFFFFFFFFFFFFFFF
                free_pages -= 1 << a
            else:
                failures += 1
        else:
            pfn = pfn_of_id[a]
            if pfn >= 0:
                o = args[a]
                free(pfn, o)
                free_pages += 1 << o
    return {"events": len(kinds), "zone_pages": zone_pages, "checksum": checksum,
            "failures": failures, "nr_free": [len(x) for x in lists],
            "free_pages": free_pages}


if __name__ == "__main__":
    ev = np.load(sys.argv[1])
    zp = int(sys.argv[2], 0) if len(sys.argv) > 2 else 1 << 20
    print(json.dumps(replay(ev, zp)))
