"""/proc/zoneinfo.

Kernel: mm/vmstat.c zoneinfo_show() and zoneinfo_show_print(), mm/vmscan.c zone_reclaimable()
and zone_reclaimable_pages() (v3.13): for every online node and each of its populated zones,
the free pages and watermarks, the page counts, every zone counter, the lowmem reserves, every
online CPU's pageset, and the reclaim state.

Every value is the kernel's: "pages free" and the counters are zone_page_state() (the zone
value clamped at 0, without the CPUs' pending deltas, so they lag as the kernel's do); the
NUMA counters exist only with CONFIG_NUMA.  "all_unreclaimable" is !zone_reclaimable(): the
pages scanned since the last free against six times the zone's reclaimable pages (its file LRU
pages; anonymous pages count only with swap, which kmemsim's machines lack).
"""

from kmemsim.mm.mmzone import NR_FREE_PAGES, NUMA_STAT_ITEMS, PCP_BATCH, PCP_COUNT, PCP_HIGH, \
    WMARK_HIGH, WMARK_LOW, WMARK_MIN, ZONE_STAT_ITEMS
from kmemsim.mm.vmstat import zone_page_state

__all__ = ["zoneinfo_show", "zone_stat_items", "zone_reclaimable_pages", "zone_reclaimable"]

NR_INACTIVE_ANON = ZONE_STAT_ITEMS.index("nr_inactive_anon")
NR_ACTIVE_ANON = ZONE_STAT_ITEMS.index("nr_active_anon")
NR_INACTIVE_FILE = ZONE_STAT_ITEMS.index("nr_inactive_file")
NR_ACTIVE_FILE = ZONE_STAT_ITEMS.index("nr_active_file")

NR_SWAP_PAGES = 0       # get_nr_swap_pages(): no swap device on any kmemsim machine


def zone_stat_items(machine) -> list[int]:
    """The zone counters that exist on ``machine`` (enum zone_stat_item: the NUMA ones only
    with CONFIG_NUMA), in enum order."""
    return [i for i in range(len(ZONE_STAT_ITEMS)) if machine.numa or i not in NUMA_STAT_ITEMS]


def zone_reclaimable_pages(mem, zone: int) -> int:
    """Kernel: mm/vmscan.c zone_reclaimable_pages(): the file LRU pages, and the anonymous LRU
    pages when there is swap to put them in."""
    nr = int(zone_page_state(mem, zone, NR_ACTIVE_FILE)) \
        + int(zone_page_state(mem, zone, NR_INACTIVE_FILE))
    if NR_SWAP_PAGES > 0:
        nr += int(zone_page_state(mem, zone, NR_ACTIVE_ANON)) \
            + int(zone_page_state(mem, zone, NR_INACTIVE_ANON))
    return nr


def zone_reclaimable(mem, zone: int) -> bool:
    """Kernel: mm/vmscan.c zone_reclaimable(): fewer pages scanned than six times the
    reclaimable ones.  With no LRU page yet (a fresh machine) 0 < 0 is false, so a fresh
    zone is "all unreclaimable", as the real kernel's zoneinfo shows right after boot."""
    return int(mem.pages_scanned[zone]) < zone_reclaimable_pages(mem, zone) * 6


def zoneinfo_show_print(k, nid: int, zone: int, name: str) -> str:
    """Kernel: mm/vmstat.c zoneinfo_show_print(): one zone's block, from "Node N, zone NAME"
    to its final newline."""
    mem, machine = k.mem, k.machine
    out = [f"Node {nid}, zone {name:>8}",
           f"\n  pages free     {int(zone_page_state(mem, zone, NR_FREE_PAGES))}",
           f"\n        min      {int(mem.watermark[zone, WMARK_MIN])}",
           f"\n        low      {int(mem.watermark[zone, WMARK_LOW])}",
           f"\n        high     {int(mem.watermark[zone, WMARK_HIGH])}",
           f"\n        scanned  {int(mem.pages_scanned[zone])}",
           f"\n        spanned  {int(mem.spanned_pages[zone])}",
           f"\n        present  {int(mem.present_pages[zone])}",
           f"\n        managed  {int(mem.managed_pages[zone])}"]
    for item in zone_stat_items(machine):
        out.append(f"\n    {ZONE_STAT_ITEMS[item]:<12} {int(zone_page_state(mem, zone, item))}")
    protection = ", ".join(str(int(mem.lowmem_reserve[zone, j]))
                           for j in range(machine.max_nr_zones))
    out.append(f"\n        protection: ({protection})")
    out.append("\n  pagesets")
    for cpu in range(machine.cpus):                     # for_each_online_cpu
        pcp = mem.pcp[cpu, zone]
        out.append(f"\n    cpu: {cpu}"
                   f"\n              count: {int(pcp[PCP_COUNT])}"
                   f"\n              high:  {int(pcp[PCP_HIGH])}"
                   f"\n              batch: {int(pcp[PCP_BATCH])}")
        out.append(f"\n  vm stats threshold: {int(mem.stat_threshold[cpu, zone])}")   # SMP
    out.append(f"\n  all_unreclaimable: {int(not zone_reclaimable(mem, zone))}"
               f"\n  start_pfn:         {int(mem.zone_start_pfn[zone])}"
               f"\n  inactive_ratio:    {int(mem.inactive_ratio[zone])}")
    out.append("\n")
    return "".join(out)


def zoneinfo_show(k) -> str:
    """Kernel: mm/vmstat.c zoneinfo_show(): the text of /proc/zoneinfo, every online node's
    populated zones (walk_zones_in_node), nodes in order."""
    from kmemsim.proc import walk_zones_in_node
    return "".join(zoneinfo_show_print(k, nid, zone, name)
                   for nid, zone, name in walk_zones_in_node(k))
