"""The /proc (and debugfs) files kmemsim prints, one module per file, each named after the
kernel's show function."""

def walk_zones_in_node(k):
    """Kernel: mm/vmstat.c walk_zones_in_node() over every online node: (nid, zone id, zone
    name) of each populated zone, nodes in order, zones in index order."""
    mem, machine = k.mem, k.machine
    for node in machine.nodes:
        for j, name in enumerate(machine.zone_types):
            zone = node.nid * machine.max_nr_zones + j
            if mem.present_pages[zone]:
                yield node.nid, zone, name


from kmemsim.proc.buddyinfo import frag_show  # noqa: E402
from kmemsim.proc.extfrag import extfrag_show, unusable_show
from kmemsim.proc.meminfo import meminfo_show
from kmemsim.proc.pagetypeinfo import pagetypeinfo_show
from kmemsim.proc.slabinfo import slabinfo_show
from kmemsim.proc.vmstat import vmstat_show
from kmemsim.proc.zoneinfo import zoneinfo_show

__all__ = ["REPORTS", "walk_zones_in_node"]

# file name -> function of a booted Kernel returning the file's text
REPORTS = {
    "buddyinfo": frag_show,
    "pagetypeinfo": pagetypeinfo_show,
    "zoneinfo": zoneinfo_show,
    "vmstat": vmstat_show,
    "meminfo": meminfo_show,
    "extfrag_index": extfrag_show,
    "unusable_index": unusable_show,
    "slabinfo": slabinfo_show,
}
