"""/proc/pagetypeinfo.

Kernel: mm/vmstat.c pagetypeinfo_show(), pagetypeinfo_showfree_print() and
pagetypeinfo_showblockcount_print() (v3.13): per node with memory, the pageblock size, the free
blocks on every free list (counted by walking it), and the number of pageblocks of each type.
"""

from kmemsim.mm.mmzone import MAX_ORDER, free_list, migratetype_names

__all__ = ["pagetypeinfo_show"]


def _list_length(mem, head: int) -> int:
    n, entry = 0, int(mem.lru_next[head])
    while entry != head:
        n += 1
        entry = int(mem.lru_next[entry])
    return n


def pagetypeinfo_showblockcount(k, zone: int) -> list[int]:
    """Pageblocks of each migratetype, stepping from the zone's start pfn."""
    from kmemsim.mm.mmzone import pfn_valid, page_zone_id
    from kmemsim.mm.page_alloc import get_pageblock_migratetype
    mem, machine = k.mem, k.machine
    names = migratetype_names(machine.cma, machine.memory_isolation)
    count = [0] * len(names)
    start = int(mem.zone_start_pfn[zone])
    end = start + int(mem.spanned_pages[zone])
    for pfn in range(start, end, 1 << machine.pageblock_order):
        if not pfn_valid(mem, pfn):
            continue
        if machine.arch == "arm" and page_zone_id(mem, pfn) != zone:   # memmap_valid_within()
            continue
        mtype = int(get_pageblock_migratetype(mem, pfn))
        if mtype < len(names):
            count[mtype] += 1
    return count


def pagetypeinfo_show(k) -> str:
    """The text of /proc/pagetypeinfo."""
    mem, machine = k.mem, k.machine
    names = migratetype_names(machine.cma, machine.memory_isolation)
    out = []
    for node in machine.nodes:
        from kmemsim.proc import walk_zones_in_node
        zones = [(zone, name) for nid, zone, name in walk_zones_in_node(k) if nid == node.nid]
        if not zones:
            continue
        out.append(f"Page block order: {machine.pageblock_order}\n")
        out.append(f"Pages per block:  {1 << machine.pageblock_order}\n\n")
        out.append(f"{'Free pages count per migrate type at order':<43} ")
        out.extend(f"{order:6d} " for order in range(MAX_ORDER))
        out.append("\n")
        for zone, name in zones:
            for mtype, mname in enumerate(names):
                out.append(f"Node {node.nid:4d}, zone {name:>8}, type {mname:>12} ")
                out.extend(f"{_list_length(mem, int(free_list(mem, zone, order, mtype))):6d} "
                           for order in range(MAX_ORDER))
                out.append("\n")
        out.append(f"\n{'Number of blocks type ':<23}")
        out.extend(f"{mname:>12} " for mname in names)
        out.append("\n")
        for zone, name in zones:
            out.append(f"Node {node.nid}, zone {name:>8} ")
            out.extend(f"{c:12d} " for c in pagetypeinfo_showblockcount(k, zone))
            out.append("\n")
    return "".join(out)
