"""Pageblock flags: three migratetype bits and the compaction skip bit per pageblock.

Kernel: include/linux/pageblock-flags.h, mm/page_alloc.c get_pageblock_flags_group() and
set_pageblock_flags_group() (v3.13).

kmemsim keeps one byte per pageblock (bits 0-2 PB_migrate, bit 3 PB_migrate_skip).  Where the
bits live follows the memory model: with SPARSEMEM the kernel keeps them per memory section, so a
pageblock has one entry whatever zone it meets (kmemsim: one array indexed by pfn >>
pageblock_order); with FLATMEM each zone has its own bitmap starting at its start pfn rounded down
to a pageblock (kmemsim: ``zone_pb_base`` / ``zone_pb_start`` per zone).
"""

from kmemsim.jit import kernel
from kmemsim.mm.mmzone import CFG_PAGEBLOCK_ORDER
from kmemsim.mm.mmzone import page_zone_id

__all__ = ["PB_migrate", "PB_migrate_end", "PB_migrate_skip", "NR_PAGEBLOCK_BITS",
           "pfn_to_bitidx", "get_pageblock_flags_group", "set_pageblock_flags_group",
           "get_pageblock_skip", "set_pageblock_skip", "clear_pageblock_skip",
           "pageblock_nr_pages", "pageblock_order"]

PB_migrate = 0
PB_migrate_end = PB_migrate + 3 - 1
PB_migrate_skip = 3
NR_PAGEBLOCK_BITS = 4


@kernel
def pageblock_order(mem):
    """pageblock_order of this machine (a variable, as with HUGETLB_PAGE_SIZE_VARIABLE)."""
    return mem.cfg[CFG_PAGEBLOCK_ORDER]


@kernel
def pageblock_nr_pages(mem):
    """Kernel: include/linux/pageblock-flags.h pageblock_nr_pages."""
    return 1 << mem.cfg[CFG_PAGEBLOCK_ORDER]


@kernel
def pfn_to_bitidx(mem, zone, pfn):
    """Index of the pageblock byte for ``pfn`` (the kernel's bit index / NR_PAGEBLOCK_BITS).

    Kernel: mm/page_alloc.c pfn_to_bitidx()."""
    return mem.zone_pb_base[zone] + ((pfn - mem.zone_pb_start[zone]) >> mem.cfg[CFG_PAGEBLOCK_ORDER])


@kernel
def get_pageblock_flags_group(mem, page, start_bitidx, end_bitidx):
    """Kernel: mm/page_alloc.c get_pageblock_flags_group()."""
    byte = mem.pageblock_flags[pfn_to_bitidx(mem, page_zone_id(mem, page), page)]
    width = end_bitidx - start_bitidx + 1
    return (np_int(byte) >> start_bitidx) & ((1 << width) - 1)


@kernel
def set_pageblock_flags_group(mem, page, flags, start_bitidx, end_bitidx):
    """Kernel: mm/page_alloc.c set_pageblock_flags_group()."""
    idx = pfn_to_bitidx(mem, page_zone_id(mem, page), page)
    width = end_bitidx - start_bitidx + 1
    mask = ((1 << width) - 1) << start_bitidx
    byte = np_int(mem.pageblock_flags[idx])
    mem.pageblock_flags[idx] = (byte & (0xFF ^ mask)) | ((flags << start_bitidx) & mask)


@kernel
def get_pageblock_skip(mem, page):
    """Kernel: include/linux/pageblock-flags.h get_pageblock_skip()."""
    return get_pageblock_flags_group(mem, page, PB_migrate_skip, PB_migrate_skip) != 0


@kernel
def set_pageblock_skip(mem, page):
    """Kernel: include/linux/pageblock-flags.h set_pageblock_skip()."""
    set_pageblock_flags_group(mem, page, 1, PB_migrate_skip, PB_migrate_skip)


@kernel
def clear_pageblock_skip(mem, page):
    """Kernel: include/linux/pageblock-flags.h clear_pageblock_skip()."""
    set_pageblock_flags_group(mem, page, 0, PB_migrate_skip, PB_migrate_skip)


from numpy import int64 as np_int  # noqa: E402
