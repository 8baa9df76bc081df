"""/proc/buddyinfo.

Kernel: mm/vmstat.c frag_show() and frag_show_print() (v3.13): for every online node and each
of its populated zones, the number of free blocks of each order.
"""

from kmemsim.mm.mmzone import MAX_ORDER

__all__ = ["frag_show"]


def frag_show(k) -> str:
    """The text of /proc/buddyinfo."""
    mem, machine = k.mem, k.machine
    out = []
    for node in machine.nodes:
        for j, name in enumerate(machine.zone_types):
            zone = node.nid * machine.max_nr_zones + j
            if not mem.present_pages[zone]:
                continue
            out.append(f"Node {node.nid}, zone {name:>8} ")
            out.extend(f"{int(mem.nr_free[zone, order]):6d} " for order in range(MAX_ORDER))
            out.append("\n")
    return "".join(out)
