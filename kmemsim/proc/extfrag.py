"""/sys/kernel/debug/extfrag/extfrag_index and /sys/kernel/debug/extfrag/unusable_index.

Kernel: mm/vmstat.c extfrag_show(), extfrag_show_print(), unusable_show() and
unusable_show_print() (v3.13, CONFIG_DEBUG_FS and CONFIG_COMPACTION): for every populated zone,
one index per order, x1000, printed as ``index / 1000`` and ``index % 1000`` with C's truncating
division (so -1000 prints as ``-1.000`` and -500 as ``0.-500``).  unusable_index leaves out
memoryless nodes, which have no populated zone anyway.
"""

from kmemsim.mm.compaction import __fragmentation_index, fill_contig_page_info, \
    unusable_free_index
from kmemsim.mm.mmzone import MAX_ORDER

__all__ = ["extfrag_show", "extfrag_show_print", "unusable_show", "unusable_show_print"]


def _index_text(index: int) -> str:
    """``"%d.%03d "`` of (index / 1000, index % 1000) in C's arithmetic."""
    quotient = abs(index) // 1000 * (-1 if index < 0 else 1)
    return f"{quotient}.{index - quotient * 1000:03d} "


def extfrag_show_print(k, nid: int, zone: int, name: str) -> str:
    """One zone's line of extfrag_index: __fragmentation_index at each order."""
    out = [f"Node {nid}, zone {name:>8} "]
    for order in range(MAX_ORDER):
        info = fill_contig_page_info(k.mem, zone, order)
        out.append(_index_text(int(__fragmentation_index(order, info))))
    return "".join(out) + "\n"


def unusable_show_print(k, nid: int, zone: int, name: str) -> str:
    """One zone's line of unusable_index: unusable_free_index at each order."""
    out = [f"Node {nid}, zone {name:>8} "]
    for order in range(MAX_ORDER):
        info = fill_contig_page_info(k.mem, zone, order)
        out.append(_index_text(int(unusable_free_index(order, info))))
    return "".join(out) + "\n"


def extfrag_show(k) -> str:
    """The text of /sys/kernel/debug/extfrag/extfrag_index."""
    from kmemsim.proc import walk_zones_in_node
    return "".join(extfrag_show_print(k, nid, zone, name)
                   for nid, zone, name in walk_zones_in_node(k))


def unusable_show(k) -> str:
    """The text of /sys/kernel/debug/extfrag/unusable_index."""
    from kmemsim.proc import walk_zones_in_node
    return "".join(unusable_show_print(k, nid, zone, name)
                   for nid, zone, name in walk_zones_in_node(k))
