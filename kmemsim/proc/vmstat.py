"""/proc/vmstat.

Kernel: mm/vmstat.c vmstat_start() and vmstat_show(), mm/page-writeback.c
global_dirty_limits(), global_dirtyable_memory(), highmem_dirtyable_memory() and
zone_dirtyable_memory(), mm/page_alloc.c calculate_totalreserve_pages() (v3.13).

One ``name value`` line per entry of vmstat_text[]: every zone counter (global_page_state():
the sum of the zone values, clamped at 0; the NUMA counters only with CONFIG_NUMA), the two
writeback thresholds, then every vm event summed over the CPUs (all_vm_events()), pgpgin and
pgpgout halved (sectors to KiB).

The thresholds follow 3.13's rules with the default sysctls (vm.dirty_ratio 20,
vm.dirty_background_ratio 10, no dirty_bytes, vm.highmem_is_dirtyable 0) over the "dirtyable"
memory: the free pages less dirty_balance_reserve (= totalreserve_pages: every zone's high
watermark plus its largest lowmem reserve), plus the file LRU pages, less what of that is in
HighMem zones, plus 1.  The reading task is an ordinary one (no PF_LESS_THROTTLE, not
real-time), so neither threshold is raised by a quarter.
"""

from kmemsim.mm.mmzone import NR_FREE_PAGES, PAGE_SIZE, WMARK_HIGH, ZONE_STAT_ITEMS
from kmemsim.mm.vmstat import all_vm_events, global_page_state, vm_event_names, \
    zone_page_state
from kmemsim.proc.zoneinfo import NR_ACTIVE_FILE, NR_INACTIVE_FILE, zone_stat_items

__all__ = ["vmstat_show", "vmstat_text", "global_dirty_limits", "global_dirtyable_memory",
           "zone_dirty_balance_reserve"]

# the vm sysctls global_dirty_limits() reads, at their 3.13 defaults (kmemsim has no sysctl
# for them yet; a Kernel attribute of the same name overrides the default)
VM_DIRTY_RATIO = 20
DIRTY_BACKGROUND_RATIO = 10
VM_DIRTY_BYTES = 0
DIRTY_BACKGROUND_BYTES = 0
VM_HIGHMEM_IS_DIRTYABLE = 0


def _sysctl(k, name: str, default: int) -> int:
    return int(getattr(k, name, default))


def vmstat_text(machine) -> list[str]:
    """vmstat_text[] of a configuration: the zone counters, the writeback thresholds, the vm
    events."""
    return ([ZONE_STAT_ITEMS[i] for i in zone_stat_items(machine)]
            + ["nr_dirty_threshold", "nr_dirty_background_threshold"]
            + vm_event_names(machine))


def zone_dirty_balance_reserve(k, zone: int) -> int:
    """zone->dirty_balance_reserve as calculate_totalreserve_pages() sets it: the zone's
    largest lowmem reserve against itself and higher zones plus its high watermark, at most
    its managed pages."""
    mem, nz = k.mem, k.machine.max_nr_zones
    i = zone % nz
    reserve = max([int(mem.lowmem_reserve[zone, j]) for j in range(i, nz)] + [0])
    return min(reserve + int(mem.watermark[zone, WMARK_HIGH]), int(mem.managed_pages[zone]))


def zone_dirtyable_memory(k, zone: int) -> int:
    """Kernel: mm/page-writeback.c zone_dirtyable_memory()."""
    mem = k.mem
    nr_pages = int(zone_page_state(mem, zone, NR_FREE_PAGES))
    nr_pages -= min(nr_pages, zone_dirty_balance_reserve(k, zone))
    nr_pages += int(zone_page_state(mem, zone, NR_INACTIVE_FILE))
    nr_pages += int(zone_page_state(mem, zone, NR_ACTIVE_FILE))
    return nr_pages


def highmem_dirtyable_memory(k, total: int) -> int:
    """Kernel: mm/page-writeback.c highmem_dirtyable_memory(): the dirtyable pages of every
    node's HighMem zone (0 without CONFIG_HIGHMEM), at most ``total``."""
    machine = k.machine
    if "HighMem" not in machine.zone_types:
        return 0
    j = machine.zone_types.index("HighMem")
    x = 0
    for node in machine.nodes:                          # for_each_node_state(N_HIGH_MEMORY)
        zone = node.nid * machine.max_nr_zones + j
        if k.mem.present_pages[zone]:
            x += zone_dirtyable_memory(k, zone)
    return min(max(x, 0), total)


def global_dirtyable_memory(k) -> int:
    """Kernel: mm/page-writeback.c global_dirtyable_memory(): free pages less
    dirty_balance_reserve, plus the file LRU pages, less HighMem's share unless
    vm.highmem_is_dirtyable, plus 1 (never 0)."""
    x = global_page_state(k, NR_FREE_PAGES)
    x -= min(x, int(k.totalreserve_pages))              # dirty_balance_reserve
    x += global_page_state(k, NR_INACTIVE_FILE)
    x += global_page_state(k, NR_ACTIVE_FILE)
    if not _sysctl(k, "vm_highmem_is_dirtyable", VM_HIGHMEM_IS_DIRTYABLE):
        x -= highmem_dirtyable_memory(k, x)
    return x + 1


def global_dirty_limits(k) -> tuple[int, int]:
    """Kernel: mm/page-writeback.c global_dirty_limits(): (background, dirty) thresholds in
    pages."""
    dirty_bytes = _sysctl(k, "vm_dirty_bytes", VM_DIRTY_BYTES)
    background_bytes = _sysctl(k, "dirty_background_bytes", DIRTY_BACKGROUND_BYTES)
    available = global_dirtyable_memory(k) if not dirty_bytes or not background_bytes else 0
    if dirty_bytes:
        dirty = -(-dirty_bytes // PAGE_SIZE)
    else:
        dirty = _sysctl(k, "vm_dirty_ratio", VM_DIRTY_RATIO) * available // 100
    if background_bytes:
        background = -(-background_bytes // PAGE_SIZE)
    else:
        background = _sysctl(k, "dirty_background_ratio", DIRTY_BACKGROUND_RATIO) \
            * available // 100
    if background >= dirty:
        background = dirty // 2
    return background, dirty


def vmstat_show(k) -> str:
    """Kernel: mm/vmstat.c vmstat_show() (with vmstat_start()): the text of /proc/vmstat."""
    machine = k.machine
    values = [global_page_state(k, i) for i in zone_stat_items(machine)]
    background, dirty = global_dirty_limits(k)
    values += [dirty, background]
    events = [int(x) for x in all_vm_events(k)]
    names = vm_event_names(machine)
    if len(events) != len(names):
        raise RuntimeError(f"mem.vm_events has {len(events)} columns but vm_event_names() "
                           f"names {len(names)} events")
    events[names.index("pgpgin")] //= 2                 # sectors -> kbytes
    events[names.index("pgpgout")] //= 2
    values += events
    return "".join(f"{name} {value}\n" for name, value in zip(vmstat_text(machine), values))
