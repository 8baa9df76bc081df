"""Zone counters with per-CPU deltas, and the VM event counters.

Kernel: mm/vmstat.c, include/linux/vmstat.h, include/linux/vm_event_item.h (v3.13).

Every zone counter has a zone-wide value (``mem.vm_stat``) and, per CPU, a small signed delta
(``mem.vm_stat_diff``, an s8 as in ``struct per_cpu_pageset``).  An update goes to the current
CPU's delta and is folded into the zone value only when the delta passes the CPU's
``stat_threshold`` for the zone, so zone_page_state() lags as the kernel's does.  The global
counters of the kernel are always the sum of the zone values, so kmemsim derives them.

Every second of simulated time each CPU's vmstat_update() folds all its deltas into the zone
values (refresh_cpu_vm_stats).  Its delayed work is first queued at boot with
__round_jiffies_relative(HZ, cpu) and then every round_jiffies_relative(HZ): whole seconds
skewed by 3 jiffies per CPU, so CPU ``c`` folds at every jiffy ``t`` with ``(t + 3c) % HZ == 0``
from the first such time (kmemsim's jiffies start at 0 at boot).  Time passes only in
kmemsim.mm.backing_dev.bdi_writeout, which stops at each of these times.  The NUMA half of
refresh_cpu_vm_stats (draining a remote zone's per-CPU list after 3 idle seconds) is not
modelled.

The "current CPU" (smp_processor_id()) is ``mem.cfg[CFG_CPU]``: the driver of an operation
sets it, as the scheduler would by running the caller there.

Event counters (``mem.vm_events``) are per CPU and summed when read (all_vm_events); their
numbering depends on the configured zones, so the indexes compiled code needs (PGFREE, the first
PGALLOC_*) are kept in ``mem.cfg``.
"""

from __future__ import annotations

import numpy as np

from kmemsim.jit import kernel
from kmemsim.mm.gfp import __GFP_OTHER_NODE
from kmemsim.mm.mmzone import CFG_CPU, CFG_EV_PGALLOC, CFG_EV_PGFREE, CFG_HZ, CFG_JIFFIES, \
    CFG_MAX_NR_ZONES, CFG_NR_CPUS, NR_FREE_CMA_PAGES, NR_FREE_PAGES, ZONE_STAT_ITEMS, is_migrate_cma

__all__ = [
    "vm_event_names", "zone_page_state_add", "__mod_zone_page_state", "__inc_zone_state",
    "__dec_zone_state", "zone_page_state", "zone_page_state_snapshot",
    "__mod_zone_freepage_state", "__count_vm_event", "__count_vm_events",
    "__count_zone_vm_events", "zone_statistics", "calculate_normal_threshold",
    "calculate_pressure_threshold", "refresh_zone_stat_thresholds", "all_vm_events",
    "global_page_state", "vm_event_index", "count_vm_event", "count_vm_events",
    "count_zone_vm_events", "round_jiffies_common", "vmstat_work_expiry", "refresh_cpu_vm_stats",
    "vmstat_update", "next_vmstat_work", "EVENT_KEYS", "NR_EV", "NUMA_HIT", "NUMA_MISS", "NUMA_FOREIGN", "NUMA_LOCAL", "NUMA_OTHER",
]

NUMA_HIT = ZONE_STAT_ITEMS.index("numa_hit")
NUMA_MISS = ZONE_STAT_ITEMS.index("numa_miss")
NUMA_FOREIGN = ZONE_STAT_ITEMS.index("numa_foreign")
NUMA_LOCAL = ZONE_STAT_ITEMS.index("numa_local")
NUMA_OTHER = ZONE_STAT_ITEMS.index("numa_other")


def _for_zones(prefix: str, zone_types) -> list[str]:
    """TEXTS_FOR_ZONES(): one name per configured zone type, in zone order."""
    suffix = {"DMA": "_dma", "DMA32": "_dma32", "Normal": "_normal", "HighMem": "_high",
              "Movable": "_movable"}
    return [prefix + suffix[z] for z in zone_types]


def vm_event_names(machine) -> list[str]:
    """enum vm_event_item of a configuration, as vmstat_text[] names it (3.13).  kmemsim's
    machines all have VM_EVENT_COUNTERS, MIGRATION, COMPACTION and SMP; NUMA, HUGETLB_PAGE
    (pageblock order below MAX_ORDER - 1 on x86) and THP follow the machine."""
    z = machine.zone_types
    names = ["pgpgin", "pgpgout", "pswpin", "pswpout", *_for_zones("pgalloc", z),
             "pgfree", "pgactivate", "pgdeactivate", "pgfault", "pgmajfault",
             *_for_zones("pgrefill", z), *_for_zones("pgsteal_kswapd", z),
             *_for_zones("pgsteal_direct", z), *_for_zones("pgscan_kswapd", z),
             *_for_zones("pgscan_direct", z), "pgscan_direct_throttle"]
    if machine.numa:
        names.append("zone_reclaim_failed")
    names += ["pginodesteal", "slabs_scanned", "kswapd_inodesteal",
              "kswapd_low_wmark_hit_quickly", "kswapd_high_wmark_hit_quickly", "pageoutrun",
              "allocstall", "pgrotated", "pgmigrate_success", "pgmigrate_fail",
              "compact_migrate_scanned", "compact_free_scanned", "compact_isolated",
              "compact_stall", "compact_fail", "compact_success"]
    if machine.hugetlb:
        names += ["htlb_buddy_alloc_success", "htlb_buddy_alloc_fail"]
    names += ["unevictable_pgs_culled", "unevictable_pgs_scanned", "unevictable_pgs_rescued",
              "unevictable_pgs_mlocked", "unevictable_pgs_munlocked",
              "unevictable_pgs_cleared", "unevictable_pgs_stranded"]
    if machine.thp:
        names += ["thp_fault_alloc", "thp_fault_fallback", "thp_collapse_alloc",
                  "thp_collapse_alloc_failed", "thp_split", "thp_zero_page_alloc",
                  "thp_zero_page_alloc_failed"]
    names += ["nr_tlb_remote_flush", "nr_tlb_remote_flush_received", "nr_tlb_local_flush_all",
              "nr_tlb_local_flush_one"]
    return names


# kmemsim's fixed numbers for the events compiled code counts (a machine's own numbering
# depends on its zones and options: Mem.vm_event_index maps one to the other, -1 when absent).
# A zone family (pgrefill, pgsteal_*, pgscan_*) is named by its entry for the first zone.
EVENT_KEYS = (
    "pgpgin", "pgpgout", "pswpin", "pswpout", "pgactivate", "pgdeactivate", "pgfault",
    "pgmajfault", "pgrefill", "pgsteal_kswapd", "pgsteal_direct", "pgscan_kswapd",
    "pgscan_direct", "pgscan_direct_throttle", "zone_reclaim_failed", "slabs_scanned",
    "kswapd_low_wmark_hit_quickly", "kswapd_high_wmark_hit_quickly", "pageoutrun", "allocstall",
    "pgrotated", "pgmigrate_success", "pgmigrate_fail", "compact_migrate_scanned",
    "compact_free_scanned", "compact_isolated", "compact_stall", "compact_fail",
    "compact_success",
)
_ZONE_FAMILIES = {"pgrefill", "pgsteal_kswapd", "pgsteal_direct", "pgscan_kswapd", "pgscan_direct"}
for _i, _name in enumerate(EVENT_KEYS):
    globals()["EV_" + _name.upper()] = _i
NR_EV = len(EVENT_KEYS)


def vm_event_index(names: list[str]) -> np.ndarray:
    """Mem.vm_event_index for a machine whose events are ``names`` (vm_event_names)."""
    index = np.full(NR_EV, -1, dtype=np.int64)
    for i, key in enumerate(EVENT_KEYS):
        if key in _ZONE_FAMILIES:
            index[i] = next(j for j, n in enumerate(names) if n.startswith(key + "_")
                            and n[len(key) + 1:] in ("dma", "dma32", "normal", "high", "movable"))
        elif key in names:
            index[i] = names.index(key)
    return index


@kernel
def count_vm_event(mem, ev):
    """Kernel: include/linux/vmstat.h count_vm_event() for kmemsim's event number ``ev``
    (EV_*); nothing when the machine's configuration lacks the event."""
    i = mem.vm_event_index[ev]
    if i >= 0:
        mem.vm_events[mem.cfg[CFG_CPU], i] += 1


@kernel
def count_vm_events(mem, ev, delta):
    """Kernel: include/linux/vmstat.h count_vm_events() (EV_* numbering)."""
    i = mem.vm_event_index[ev]
    if i >= 0:
        mem.vm_events[mem.cfg[CFG_CPU], i] += delta


@kernel
def count_zone_vm_events(mem, ev, zone, delta):
    """Kernel: include/linux/vmstat.h __count_zone_vm_events() for a zone family given by its
    EV_* number (the machine's entry for ``zone``'s type)."""
    i = mem.vm_event_index[ev]
    if i >= 0:
        mem.vm_events[mem.cfg[CFG_CPU], i + zone % mem.cfg[CFG_MAX_NR_ZONES]] += delta


# ---- zone counters ---------------------------------------------------------------------------

@kernel
def zone_page_state_add(mem, x, zone, item):
    """Kernel: include/linux/vmstat.h zone_page_state_add(): fold into the zone (and, in the
    kernel, the global) counter."""
    mem.vm_stat[zone, item] += x


@kernel
def __mod_zone_page_state(mem, zone, item, delta):
    """Kernel: mm/vmstat.c __mod_zone_page_state(): add to this CPU's delta; fold the whole
    delta when it passes the threshold."""
    cpu = mem.cfg[CFG_CPU]
    x = delta + np.int64(mem.vm_stat_diff[cpu, zone, item])
    t = np.int64(mem.stat_threshold[cpu, zone])
    if x > t or x < -t:
        zone_page_state_add(mem, x, zone, item)
        x = 0
    mem.vm_stat_diff[cpu, zone, item] = x


@kernel
def __inc_zone_state(mem, zone, item):
    """Kernel: mm/vmstat.c __inc_zone_state(): past the threshold, fold with an overstep of
    half the threshold, leaving the delta at minus that."""
    cpu = mem.cfg[CFG_CPU]
    v = np.int64(mem.vm_stat_diff[cpu, zone, item]) + 1
    t = np.int64(mem.stat_threshold[cpu, zone])
    if v > t:
        overstep = t >> 1
        zone_page_state_add(mem, v + overstep, zone, item)
        v = -overstep
    mem.vm_stat_diff[cpu, zone, item] = v


@kernel
def __dec_zone_state(mem, zone, item):
    """Kernel: mm/vmstat.c __dec_zone_state()."""
    cpu = mem.cfg[CFG_CPU]
    v = np.int64(mem.vm_stat_diff[cpu, zone, item]) - 1
    t = np.int64(mem.stat_threshold[cpu, zone])
    if v < -t:
        overstep = t >> 1
        zone_page_state_add(mem, v - overstep, zone, item)
        v = overstep
    mem.vm_stat_diff[cpu, zone, item] = v


@kernel
def zone_page_state(mem, zone, item):
    """Kernel: include/linux/vmstat.h zone_page_state(): the zone value, never below 0 (the
    per-CPU deltas can make it transiently negative under SMP)."""
    x = mem.vm_stat[zone, item]
    if x < 0:
        return np.int64(0)
    return x


@kernel
def zone_page_state_snapshot(mem, zone, item):
    """Kernel: include/linux/vmstat.h zone_page_state_snapshot(): the zone value plus every
    online CPU's delta, never below 0."""
    x = mem.vm_stat[zone, item]
    for cpu in range(mem.vm_stat_diff.shape[0]):
        x += mem.vm_stat_diff[cpu, zone, item]
    if x < 0:
        return np.int64(0)
    return x


# ---- the periodic fold ---------------------------------------------------------------------------

@kernel
def _round_to_second(hz, j, cpu, force_up):
    """round_jiffies_common()'s arithmetic without its "in the future" check."""
    skewed = j + cpu * 3
    rem = skewed % hz
    if rem < hz // 4 and not force_up:
        skewed -= rem
    else:
        skewed += hz - rem
    return skewed - cpu * 3


@kernel
def round_jiffies_common(mem, j, cpu, force_up):
    """Kernel: kernel/timer.c round_jiffies_common(): round the absolute time ``j`` to a
    whole second (down if within a quarter second past one, unless ``force_up``), skewed by
    3 jiffies per CPU; ``j`` itself if the result is not in the future."""
    rounded = _round_to_second(mem.cfg[CFG_HZ], j, cpu, force_up)
    if rounded > mem.cfg[CFG_JIFFIES]:
        return rounded
    return j


@kernel
def vmstat_work_expiry(mem, cpu, after):
    """kmemsim's: the first time after jiffy ``after`` at which ``cpu``'s vmstat_update runs:
    queued at boot (jiffies 0) for __round_jiffies_relative(HZ, cpu), then every HZ
    (mm/vmstat.c start_cpu_timer and vmstat_update)."""
    hz = mem.cfg[CFG_HZ]
    first = _round_to_second(hz, hz, cpu, False)
    if after < first:
        return first
    return after + hz - (after - first) % hz


@kernel
def next_vmstat_work(mem):
    """kmemsim's: the earliest time after now at which some CPU's vmstat_update runs."""
    now = mem.cfg[CFG_JIFFIES]
    best = vmstat_work_expiry(mem, 0, now)
    for cpu in range(1, mem.cfg[CFG_NR_CPUS]):
        t = vmstat_work_expiry(mem, cpu, now)
        if t < best:
            best = t
    return best


@kernel
def refresh_cpu_vm_stats(mem, cpu):
    """Kernel: mm/vmstat.c refresh_cpu_vm_stats() on ``cpu``: every delta of every populated
    zone folded into the zone value (and so into the global one)."""
    for zone in range(mem.vm_stat_diff.shape[1]):
        if not mem.present_pages[zone]:
            continue
        for item in range(mem.vm_stat_diff.shape[2]):
            v = np.int64(mem.vm_stat_diff[cpu, zone, item])
            if v != 0:
                mem.vm_stat_diff[cpu, zone, item] = 0
                zone_page_state_add(mem, v, zone, item)


@kernel
def vmstat_update(mem):
    """Kernel: mm/vmstat.c vmstat_update(), for every CPU whose work is due at this jiffy
    (the time has just been reached).  Returns how many CPUs folded."""
    now = mem.cfg[CFG_JIFFIES]
    ran = 0
    for cpu in range(mem.cfg[CFG_NR_CPUS]):
        if vmstat_work_expiry(mem, cpu, now - 1) == now:
            refresh_cpu_vm_stats(mem, cpu)
            ran += 1
    return ran


@kernel
def __mod_zone_freepage_state(mem, zone, nr_pages, migratetype):
    """Kernel: include/linux/vmstat.h __mod_zone_freepage_state()."""
    __mod_zone_page_state(mem, zone, NR_FREE_PAGES, nr_pages)
    if is_migrate_cma(mem, migratetype):
        __mod_zone_page_state(mem, zone, NR_FREE_CMA_PAGES, nr_pages)


# ---- events ----------------------------------------------------------------------------------

@kernel
def __count_vm_events(mem, item, delta):
    """Kernel: include/linux/vmstat.h __count_vm_events() (this CPU's counter)."""
    mem.vm_events[mem.cfg[CFG_CPU], item] += delta


@kernel
def __count_vm_event(mem, item):
    """Kernel: include/linux/vmstat.h __count_vm_event()."""
    mem.vm_events[mem.cfg[CFG_CPU], item] += 1


@kernel
def __count_zone_vm_events(mem, item, zone, delta):
    """Kernel: include/linux/vmstat.h __count_zone_vm_events(): ``item`` is the first of a
    per-zone family (PGALLOC_*), offset by the zone's index."""
    __count_vm_events(mem, item + zone % mem.cfg[CFG_MAX_NR_ZONES], delta)


@kernel
def zone_statistics(mem, preferred_zone, z, flags):
    """Kernel: mm/vmstat.c zone_statistics() (CONFIG_NUMA): hit or miss/foreign by node, and
    local or other against the running CPU's node (or the preferred one for
    __GFP_OTHER_NODE)."""
    nz = mem.cfg[CFG_MAX_NR_ZONES]
    if z // nz == preferred_zone // nz:
        __inc_zone_state(mem, z, NUMA_HIT)
    else:
        __inc_zone_state(mem, z, NUMA_MISS)
        __inc_zone_state(mem, preferred_zone, NUMA_FOREIGN)
    if flags & __GFP_OTHER_NODE:
        local_node = preferred_zone // nz
    else:
        local_node = mem.cpu_to_node[mem.cfg[CFG_CPU]]
    if z // nz == local_node:
        __inc_zone_state(mem, z, NUMA_LOCAL)
    else:
        __inc_zone_state(mem, z, NUMA_OTHER)


# ---- thresholds (boot time, Python) ------------------------------------------------------------

def _fls(x: int) -> int:
    return int(x).bit_length()


def calculate_normal_threshold(k, zone: int) -> int:
    """Kernel: mm/vmstat.c calculate_normal_threshold(): 2 x fls(online CPUs) x (1 + fls(zone
    memory in 128 MiB units)), at most 125."""
    mem = int(k.mem.managed_pages[zone]) >> (27 - 12)
    return min(125, 2 * _fls(k.machine.cpus) * (1 + _fls(mem)))


def calculate_pressure_threshold(k, zone: int) -> int:
    """Kernel: mm/vmstat.c calculate_pressure_threshold() (used while kswapd is awake)."""
    from kmemsim.mm.mmzone import WMARK_LOW, WMARK_MIN
    w = k.mem.watermark[zone]
    threshold = max(1, int(w[WMARK_LOW] - w[WMARK_MIN]) // k.machine.cpus)
    return min(125, threshold)


def refresh_zone_stat_thresholds(k) -> None:
    """Kernel: mm/vmstat.c refresh_zone_stat_thresholds(): every CPU's threshold for every
    populated zone, and the zone's percpu_drift_mark when the deltas could hide a watermark
    breach."""
    from kmemsim.mm.mmzone import WMARK_HIGH, WMARK_LOW, WMARK_MIN
    mem = k.mem
    for zone in range(mem.managed_pages.shape[0]):
        if not mem.present_pages[zone]:
            continue
        threshold = calculate_normal_threshold(k, zone)
        mem.stat_threshold[:, zone] = threshold
        tolerate_drift = int(mem.watermark[zone, WMARK_LOW] - mem.watermark[zone, WMARK_MIN])
        max_drift = k.machine.cpus * threshold
        if max_drift > tolerate_drift:
            mem.percpu_drift_mark[zone] = int(mem.watermark[zone, WMARK_HIGH]) + max_drift


def all_vm_events(k) -> np.ndarray:
    """Kernel: mm/vmstat.c all_vm_events(): every event summed over the CPUs."""
    return k.mem.vm_events.sum(axis=0)


def global_page_state(k, item: int) -> int:
    """Kernel: include/linux/vmstat.h global_page_state(): the sum of the zone values (the
    kernel's global counter is updated together with them), never below 0."""
    return max(0, int(k.mem.vm_stat[:, item].sum()))
