"""/proc/buddyinfo.

Kernel: mm/vmstat.c frag_show() and frag_show_print() (v3.13): for every online node and each
of its populated zones, the number of free blocks of each order.
"""

from kmemsim.mm.mmzone import MAX_ORDER

__all__ = ["frag_show"]


def frag_show(k) -> str:
    """The text of /proc/buddyinfo."""
    from kmemsim.proc import walk_zones_in_node
    out = []
    for nid, zone, name in walk_zones_in_node(k):
        out.append(f"Node {nid}, zone {name:>8} ")
        out.extend(f"{int(k.mem.nr_free[zone, order]):6d} " for order in range(MAX_ORDER))
        out.append("\n")
    return "".join(out)
