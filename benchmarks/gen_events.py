"""Workload generator for the buddy-allocator replay benchmark.

The workload is the one measured in docs/guide performance.md: a single zone,
allocations of mixed orders with the fill held between 50 % and 70 % of the
zone, frees of a random live block.

Event encoding (numpy int32 array of shape (n, 2)):

    row i = (0, order)  allocate a block of 2**order pages; its id is i
    row i = (1, j)      free the block allocated by row j (j < i, still live)

The generator accounts the fill by orders only, i.e. it assumes every
allocation succeeds.  A replayer whose allocation j failed must skip the
matching free row (1, j).

Run as a script to write the events to a .npy file (or, with --raw, to a
headerless little-endian int32 file of n*2 values).
"""
from __future__ import annotations

import argparse
import sys

import numpy as np

EV_ALLOC = 0
EV_FREE = 1

LOW_FILL = 0.50
HIGH_FILL = 0.70


def _draw_orders(rng: np.random.Generator, n: int) -> np.ndarray:
    """Order for each potential allocation: 80 % order 0, 10 % uniform 1..3,
    10 % uniform 4..9."""
    cls = rng.random(n)
    small = rng.integers(1, 4, size=n)     # 1, 2, 3
    large = rng.integers(4, 10, size=n)    # 4 .. 9
    return np.where(cls < 0.8, 0, np.where(cls < 0.9, small, large)).astype(np.int64)


def generate(n_events: int = 2_000_000, zone_pages: int = 1 << 20,
             seed: int = 1) -> np.ndarray:
    """Return an (n_events, 2) int32 event array; deterministic in seed."""
    rng = np.random.default_rng(seed)
    orders = _draw_orders(rng, n_events).tolist()
    coin = rng.random(n_events).tolist()      # alloc-or-free choice in the band
    pick = rng.random(n_events).tolist()      # which live block to free

    low = LOW_FILL * zone_pages
    high = HIGH_FILL * zone_pages

    kind = [0] * n_events
    arg = [0] * n_events
    live: list[int] = []                      # ids of live allocations (unordered)
    size_of = {}                              # id -> pages
    fill = 0

    for i in range(n_events):
        order = orders[i]
        size = 1 << order
        if not live:
            do_free = False
        elif fill + size > high:              # allocating would exceed 70 %
            do_free = True
        elif fill < low:                      # below 50 %: allocate
            do_free = False
        else:
            do_free = coin[i] < 0.5
        if do_free:
            k = int(pick[i] * len(live))
            j = live[k]
            live[k] = live[-1]                # swap-remove
            live.pop()
            fill -= size_of.pop(j)
            kind[i] = EV_FREE
            arg[i] = j
        else:
            live.append(i)
            size_of[i] = size
            fill += size
            kind[i] = EV_ALLOC
            arg[i] = order

    ev = np.empty((n_events, 2), dtype=np.int32)
    ev[:, 0] = kind
    ev[:, 1] = arg
    return ev


def write_events(ev: np.ndarray, path: str, raw: bool = False) -> None:
    ev = np.ascontiguousarray(ev, dtype="<i4")
    if raw:
        ev.tofile(path)
    else:
        np.save(path, ev, allow_pickle=False)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("output", help="output file (.npy, or raw int32 with --raw)")
    p.add_argument("--events", type=int, default=2_000_000)
    p.add_argument("--zone-pages", type=int, default=1 << 20)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--raw", action="store_true",
                   help="write headerless little-endian int32 pairs instead of .npy")
    a = p.parse_args(argv)
    ev = generate(a.events, a.zone_pages, a.seed)
    write_events(ev, a.output, a.raw)
    n_alloc = int((ev[:, 0] == EV_ALLOC).sum())
    print(f"wrote {len(ev)} events ({n_alloc} allocs, {len(ev) - n_alloc} frees) "
          f"to {a.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
