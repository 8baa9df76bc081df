"""memblock: the early boot allocator that owns memory until the buddy allocator takes over.

Kernel: mm/memblock.c (v3.13).  kmemsim works in pfns (whole pages) where the kernel works in
bytes: every range a machine description gives is page-aligned.  Allocation is top-down (the
3.13 default: memblock.bottom_up is false), so early allocations collect at the end of memory,
node-local when a node is asked for.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from kmemsim.errors import KmemsimError
from kmemsim.machine import Range

__all__ = ["Memblock", "memblock_add", "memblock_reserve", "memblock_free",
           "memblock_find_in_range_node", "memblock_alloc_range", "for_each_free_mem_range"]


@dataclass
class Memblock:
    """struct memblock: the memory and reserved region lists, each kept sorted."""

    memory: list[tuple[Range, int]] = field(default_factory=list)   # (range, nid)
    reserved: list[Range] = field(default_factory=list)


def _merge(ranges: list[Range]) -> list[Range]:
    out: list[Range] = []
    for r in sorted(ranges, key=lambda r: (r.start, r.end)):
        out.append(r)
    return out


def memblock_add(mb: Memblock, start: int, end: int, nid: int = 0) -> None:
    """Kernel: mm/memblock.c memblock_add_node()."""
    mb.memory.append((Range(start, end), nid))
    mb.memory.sort(key=lambda item: item[0].start)


def memblock_reserve(mb: Memblock, start: int, end: int, name: str, freed_by: str = "",
                     va: int = 0) -> None:
    """Kernel: mm/memblock.c memblock_reserve().  The name (and when boot gives the range
    back, see :class:`kmemsim.machine.Range`) are kmemsim's, for reports."""
    if end > start:
        mb.reserved = _merge(mb.reserved + [Range(start, end, name, freed_by, va)])


def memblock_free(mb: Memblock, start: int, end: int) -> None:
    """Kernel: mm/memblock.c memblock_free(): give [start, end) back (cuts reservations)."""
    out = []
    for r in mb.reserved:
        if r.end <= start or r.start >= end:
            out.append(r)
            continue
        if r.start < start:
            out.append(Range(r.start, start, r.name, r.freed_by, r.va))
        if r.end > end:
            out.append(Range(end, r.end, r.name, r.freed_by, r.va))
    mb.reserved = _merge(out)


def for_each_free_mem_range(mb: Memblock, nid: int = -1):
    """Kernel: include/linux/memblock.h for_each_free_mem_range(): memory minus reserved,
    ascending, as (start, end, nid)."""
    for mem, mnid in mb.memory:
        if nid >= 0 and mnid != nid:
            continue
        pos = mem.start
        for r in mb.reserved:
            if r.end <= pos or r.start >= mem.end:
                continue
            if r.start > pos:
                yield pos, r.start, mnid
            pos = max(pos, r.end)
        if pos < mem.end:
            yield pos, mem.end, mnid


def memblock_find_in_range_node(mb: Memblock, size: int, align: int, start: int, end: int,
                                nid: int = -1) -> int:
    """Kernel: mm/memblock.c memblock_find_in_range_node(), top-down: the highest aligned
    free range of ``size`` pages inside [start, end), or -1."""
    free = [(s, e) for s, e, _ in for_each_free_mem_range(mb, nid)]
    for s, e in reversed(free):
        s, e = max(s, start), min(e, end)
        if e - s < size:
            continue
        cand = (e - size) // align * align
        if cand >= s:
            return cand
    return -1


def memblock_alloc_range(mb: Memblock, size: int, align: int, start: int, end: int,
                         name: str, nid: int = -1) -> Range:
    """Find and reserve (memblock_alloc_base / memblock_alloc_nid in the kernel)."""
    base = memblock_find_in_range_node(mb, size, align, start, end, nid)
    if base < 0:
        raise KmemsimError(f"memblock: no room for {name} ({size} pages): the machine is too "
                           "small for its early allocations")
    memblock_reserve(mb, base, base + size, name)
    return Range(base, base + size, name)
