"""bootmem: the bitmap boot allocator that sits between memblock and the buddy allocator.

Kernel: mm/bootmem.c (v3.13), used instead of mm/nobootmem.c when CONFIG_NO_BOOTMEM is off
(32-bit ARM in 3.13, among others).

Two halves:

* at boot (mem_init), :func:`free_all_bootmem` hands every page the bitmap marks free to the
  buddy allocator, word by word, then the bitmap's own pages;
* for machine presets, :class:`BootmemData` with :func:`init_bootmem_node`,
  :func:`free_bootmem`, :func:`reserve_bootmem` and :func:`alloc_bootmem` replay the early
  allocations of a boot to find *where* each one lands (bottom-up, with the allocator's hint and
  its packing of small allocations into a partly used page).  kmemsim works in pfns elsewhere;
  here offsets are bytes from the node's first pfn, as the kernel's are.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kmemsim.errors import KmemsimError
from kmemsim.machine import Range
from kmemsim.mm.mmzone import CFG_HIGHMEM_IDX, PAGE_SHIFT, PAGE_SIZE

__all__ = ["bits_per_long", "bootmem_bootmap_pages", "free_all_bootmem",
           "free_all_bootmem_core", "BootmemData", "init_bootmem_node", "free_bootmem",
           "reserve_bootmem", "alloc_bootmem", "bootmem_reserved_ranges"]


def bits_per_long(machine) -> int:
    """BITS_PER_LONG of the machine's architecture (32-bit ARM: 32; the others are 64-bit)."""
    return 32 if machine.arch == "arm" else 64


def bootmem_bootmap_pages(pages: int, long_bytes: int = 4) -> int:
    """Kernel: mm/bootmem.c bootmem_bootmap_pages(): pages of bitmap for ``pages`` pages (one
    bit each, rounded up to whole longs, then to whole pages)."""
    nbytes = -(-pages // 8)
    nbytes = -(-nbytes // long_bytes) * long_bytes
    return -(-nbytes // PAGE_SIZE)


# ---- handing memory to the buddy allocator ---------------------------------------------------

def _max_low_pfn(k) -> int:
    """max_low_pfn: where ZONE_HIGHMEM starts (the end of memory without highmem)."""
    if int(k.mem.cfg[CFG_HIGHMEM_IDX]) < 0:
        return k.machine.max_pfn
    starts = [n.zones["HighMem"].start for n in k.machine.nodes
              if "HighMem" in n.zones and n.zones["HighMem"].pages]
    return min(starts) if starts else k.machine.max_pfn


def _free_words(node, node_min: int, node_low: int, bitmap: Range | None, bpl: int) -> list[int]:
    """The node's bitmap as the walk sees it, inverted: one int per long, bit i set when page
    node_min + word * bpl + i is free (in memory, not reserved, not the bitmap itself).
    Pages past node_low count as reserved, as the kernel's 0xff-filled tail does; one spare
    all-reserved word follows, for the walk's look-ahead."""
    n = node_low - node_min
    nwords = -(-n // bpl) + 1
    free = np.zeros(nwords * bpl, dtype=bool)

    def mark(r: Range, value: bool) -> None:
        s, e = max(r.start, node_min), min(r.end, node_low)
        if s < e:
            free[s - node_min:e - node_min] = value

    for r in node.memory:
        mark(r, True)
    for r in node.reserved:
        mark(r, False)
    if bitmap is not None:
        mark(bitmap, False)
    packed = np.packbits(free, bitorder="little")
    dtype = np.dtype("<u4") if bpl == 32 else np.dtype("<u8")
    return [int(w) for w in packed.view(dtype)]


def free_all_bootmem_core(k, node, node_min: int, node_low: int, bitmap: Range | None,
                          free_bitmap: bool = True) -> int:
    """Kernel: mm/bootmem.c free_all_bootmem_core(): walk the node's bitmap from node_min_pfn
    to node_low_pfn one long at a time.  A word whose first pfn is BITS_PER_LONG-aligned and
    whose pages are all free goes to the buddy allocator as one order-ilog2(BITS_PER_LONG) block;
    otherwise each free page up to the next aligned pfn is freed at order 0, ascending.  Then the
    bitmap's own pages are freed at order 0.  Returns the pages freed.

    Words are counted from node_min_pfn, alignment from pfn 0.  When the two differ the kernel
    stitches two bitmap words together, but only while a whole long of pages remains: the free
    pages of a last, partial stretch that lie in the next bitmap word are never freed.  kmemsim
    keeps that (it cannot happen when node_min_pfn is BITS_PER_LONG-aligned)."""
    bpl = bits_per_long(k.machine)
    full = (1 << bpl) - 1
    order = bpl.bit_length() - 1                    # ilog2(BITS_PER_LONG)
    words = _free_words(node, node_min, node_low, bitmap, bpl)
    free_block = getattr(k.fn, "__free_pages_bootmem")
    mem = k.mem
    count = 0
    start, end = node_min, node_low
    while start < end:
        idx = start - node_min
        shift = idx & (bpl - 1)
        vec = words[idx // bpl]                      # bit 0 is page ``start``
        if shift:
            vec >>= shift
            if end - start >= bpl:
                vec |= (words[idx // bpl + 1] << (bpl - shift)) & full
        if start % bpl == 0 and vec == full:
            free_block(mem, start, order)
            count += bpl
            start += bpl
        else:
            cur = start
            start = (start + bpl) // bpl * bpl          # ALIGN(start + 1, BITS_PER_LONG)
            while vec and cur != start:
                if vec & 1:
                    free_block(mem, cur, 0)
                    count += 1
                vec >>= 1
                cur += 1
    if bitmap is not None and free_bitmap:
        for pfn in range(bitmap.start, bitmap.end):
            free_block(mem, pfn, 0)
        count += bitmap.pages
    return count


def free_all_bootmem(k) -> int:
    """Kernel: mm/bootmem.c free_all_bootmem(): zero every zone's managed pages
    (reset_all_zones_managed_pages), free each bootmem node's lowmem with
    free_all_bootmem_core(), add the total to totalram_pages and return it.

    A node's bootmem covers its memory from its first pfn up to max_low_pfn (the start of
    ZONE_HIGHMEM), as init_bootmem_node() was given it; highmem goes to the buddy allocator
    later, through the architecture (free_highpages).  The machine's single bootmem_bitmap is
    never free during a walk and is given back after the walk of the node that spans it."""
    mem, machine = k.mem, k.machine
    mem.managed_pages[:] = 0
    max_low_pfn = _max_low_pfn(k)
    total = 0
    # bdata_list is kept in order of node_min_pfn (link_bootmem)
    for node in sorted(machine.nodes, key=lambda n: n.start_pfn):
        node_min, node_low = node.start_pfn, min(node.end_pfn, max_low_pfn)
        if node_low <= node_min:
            continue
        bitmap = machine.bootmem_bitmap
        mine = bitmap is not None and node.start_pfn <= bitmap.start < node.end_pfn
        total += free_all_bootmem_core(k, node, node_min, node_low, bitmap, mine)
    k.totalram_pages += total
    return total


# ---- the allocator, for working out where early allocations land ----------------------------

@dataclass
class BootmemData:
    """bootmem_data_t of one node: its bitmap (True = reserved), the search hint and the end of
    the last allocation.  ``owners`` (kmemsim's, for reports) names what each allocated page
    holds, page index -> names of the allocations in it."""

    node_min_pfn: int
    node_low_pfn: int
    map: np.ndarray
    hint_idx: int = 0
    last_end_off: int = 0
    owners: dict[int, list[str]] = field(default_factory=dict)


def init_bootmem_node(start_pfn: int, end_pfn: int) -> BootmemData:
    """Kernel: mm/bootmem.c init_bootmem_core(): every page starts reserved."""
    return BootmemData(start_pfn, end_pfn, np.ones(end_pfn - start_pfn, dtype=bool))


def _mark(bdata: BootmemData, start: int, end: int, reserve: bool) -> None:
    """Kernel: mm/bootmem.c mark_bootmem_node() with __free()/__reserve() (one node)."""
    if start < bdata.node_min_pfn or end > bdata.node_low_pfn:
        raise KmemsimError(f"bootmem: pfns [{start:#x}, {end:#x}) are outside the node's "
                           f"[{bdata.node_min_pfn:#x}, {bdata.node_low_pfn:#x})")
    sidx, eidx = start - bdata.node_min_pfn, end - bdata.node_min_pfn
    if reserve:
        bdata.map[sidx:eidx] = True          # a silent double reserve is allowed
        return
    # __free lowers the hint even when the range is empty (a sub-page free)
    bdata.hint_idx = min(bdata.hint_idx, sidx)
    if sidx < eidx:
        if not bdata.map[sidx:eidx].all():
            raise KmemsimError(f"bootmem: double free in pfns [{start:#x}, {end:#x})")
        bdata.map[sidx:eidx] = False
        for idx in range(sidx, eidx):
            bdata.owners.pop(idx, None)


def free_bootmem(bdata: BootmemData, addr: int, size: int) -> None:
    """Kernel: mm/bootmem.c free_bootmem(): give back the whole pages inside
    [addr, addr + size) (byte addresses)."""
    _mark(bdata, -(-addr // PAGE_SIZE), (addr + size) // PAGE_SIZE, False)


def reserve_bootmem(bdata: BootmemData, addr: int, size: int) -> None:
    """Kernel: mm/bootmem.c reserve_bootmem(): reserve every page [addr, addr + size) touches."""
    _mark(bdata, addr // PAGE_SIZE, -(-(addr + size) // PAGE_SIZE), True)


def _align(x: int, a: int) -> int:
    return -(-x // a) * a


def _alloc_bootmem_bdata(bdata: BootmemData, size: int, align: int, goal: int,
                         name: str) -> int:
    """Kernel: mm/bootmem.c alloc_bootmem_bdata(): the first free run from the goal (or the
    hint), aligned; a small allocation continues in the partly used page of the previous one.
    Returns the byte address, or -1."""
    base = bdata.node_min_pfn
    lo, hi = bdata.node_min_pfn, bdata.node_low_pfn
    goal_pfn = goal >> PAGE_SHIFT
    step = max(align >> PAGE_SHIFT, 1)
    start = _align(goal_pfn, step) if goal_pfn and lo < goal_pfn < hi else _align(lo, step)
    sidx, midx = start - base, hi - base
    fallback = 0

    def align_idx(idx: int) -> int:
        return _align(base + idx, step) - base

    if bdata.hint_idx > sidx:
        fallback = sidx + 1
        sidx = align_idx(bdata.hint_idx)
    bitmap = bdata.map
    while True:
        free = np.flatnonzero(~bitmap[sidx:midx]) if sidx < midx else ()
        sidx = sidx + int(free[0]) if len(free) else midx
        sidx = align_idx(sidx)
        eidx = sidx + -(-size // PAGE_SIZE)
        if sidx >= midx or eidx > midx:
            if fallback:
                sidx, fallback = align_idx(fallback - 1), 0
                continue
            return -1
        busy = np.flatnonzero(bitmap[sidx:eidx])
        if len(busy):
            i = sidx + int(busy[0])
            sidx = align_idx(i)
            if sidx == i:
                sidx += step
            continue
        last = bdata.last_end_off
        if last % PAGE_SIZE and last // PAGE_SIZE + 1 == sidx:
            start_off = _align((base << PAGE_SHIFT) + last, align) - (base << PAGE_SHIFT)
        else:
            start_off = sidx << PAGE_SHIFT
        merge = start_off // PAGE_SIZE < sidx
        end_off = start_off + size
        bdata.last_end_off = end_off
        bdata.hint_idx = -(-end_off // PAGE_SIZE)
        first, stop = start_off // PAGE_SIZE + merge, -(-end_off // PAGE_SIZE)
        if bitmap[first:stop].any():
            raise KmemsimError(f"bootmem: {name} would overlap a reservation")
        bitmap[first:stop] = True
        for idx in range(start_off // PAGE_SIZE, stop):
            bdata.owners.setdefault(idx, []).append(name)
        return (base << PAGE_SHIFT) + start_off


def alloc_bootmem(bdata: BootmemData, size: int, align: int, name: str, goal: int = 0) -> int:
    """Kernel: mm/bootmem.c ___alloc_bootmem() / ___alloc_bootmem_node() on a single node: try
    from ``goal`` (a byte address), then, if that fails, from the start of the node.  Returns
    the byte address; a machine too small for its early allocations is refused, as the kernel
    panics ("bootmem alloc of N bytes failed")."""
    if size <= 0:
        raise KmemsimError(f"bootmem: {name}: size {size} must be positive")
    addr = _alloc_bootmem_bdata(bdata, size, align, goal, name)
    if addr < 0 and goal:
        addr = _alloc_bootmem_bdata(bdata, size, align, 0, name)
    if addr < 0:
        raise KmemsimError(f"bootmem alloc of {size} bytes failed ({name}): the machine is "
                           "too small for its early allocations")
    return addr


def bootmem_reserved_ranges(bdata: BootmemData) -> list[Range]:
    """The pages bootmem allocations still hold, as named pfn ranges: consecutive pages holding
    the same allocations form one range, named after them (each name once, joined with
    " + ")."""
    out: list[Range] = []
    for idx in sorted(bdata.owners):
        if not bdata.map[idx]:
            continue
        pfn, name = bdata.node_min_pfn + idx, " + ".join(dict.fromkeys(bdata.owners[idx]))
        if out and out[-1].end == pfn and out[-1].name == name:
            out[-1] = Range(out[-1].start, pfn + 1, name)
        else:
            out.append(Range(pfn, pfn + 1, name))
    return out
