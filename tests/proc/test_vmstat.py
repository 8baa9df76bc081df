"""/proc/vmstat: gold files, the names against the real 3.13.11 file, the global counters, the
events, and the dirty thresholds (whose formula, fed the real files' own numbers, gives the
real thresholds)."""

import pytest

import kmemsim
from conftest import real_file
from kmemsim.mm.mmzone import NR_FREE_PAGES, ZONE_STAT_ITEMS
from kmemsim.mm.page_alloc_init import calculate_totalreserve_pages
from kmemsim.mm.vmstat import vm_event_names
from kmemsim.proc.vmstat import global_dirty_limits, zone_dirty_balance_reserve
from test_reports import CASES, check_gold
from test_zoneinfo import booted, parse_zoneinfo


def parse(text: str) -> dict[str, int]:
    pairs = [line.split(" ") for line in text.splitlines()]
    assert all(len(p) == 2 for p in pairs)
    return {name: int(value) for name, value in pairs}


@pytest.mark.parametrize("case", list(CASES))
def test_gold(case):
    check_gold(f"{case}.vmstat", booted(case).show("vmstat"))


@pytest.mark.parametrize("size", ["1G", "4G"])
def test_names_match_real_313(size):
    real = [line.split(" ")[0] for line in real_file(size, "vmstat").splitlines()]
    ours = [line.split(" ")[0] for line in booted(f"x86_64-{size}").show("vmstat").splitlines()]
    assert ours == real


@pytest.mark.parametrize("case", list(CASES))
def test_layout(case):
    k = booted(case)
    text = k.show("vmstat")
    v = parse(text)
    names = list(v)
    items = [n for n in ZONE_STAT_ITEMS if k.machine.numa or not n.startswith("numa_")]
    assert names == items + ["nr_dirty_threshold", "nr_dirty_background_threshold"] \
        + vm_event_names(k.machine)
    assert ("numa_hit" in v) == k.machine.numa
    assert ("pgalloc_high" in v) == (k.machine.arch == "arm")


@pytest.mark.parametrize("case", list(CASES))
def test_zone_counters_are_the_sums_of_the_zones(case):
    k = booted(case)
    v = parse(k.show("vmstat"))
    zones = parse_zoneinfo(k.show("zoneinfo"))
    for name in ZONE_STAT_ITEMS:
        if name in v:
            assert v[name] == sum(z["stats"][name] for z in zones.values())
    assert v["nr_free_pages"] == k.mem.vm_stat[:, NR_FREE_PAGES].sum()
    assert v["pgfree"] == k.mem.vm_events[:, vm_event_names(k.machine).index("pgfree")].sum()


def test_counters_never_go_below_zero_and_ignore_per_cpu_deltas():
    k = kmemsim.boot("numa")
    item = ZONE_STAT_ITEMS.index("nr_mapped")
    a, b = k.zone_id(0, "DMA32"), k.zone_id(1, "DMA32")
    k.mem.vm_stat[a, item], k.mem.vm_stat[b, item] = 10, -3
    k.mem.vm_stat_diff[0, a, item] = 6
    assert parse(k.show("vmstat"))["nr_mapped"] == 7
    k.mem.vm_stat[a, item] = 2
    assert parse(k.show("vmstat"))["nr_mapped"] == 0


def test_events_are_summed_over_cpus_and_pgpg_halved():
    k = kmemsim.boot("numa")                        # two CPUs
    names = vm_event_names(k.machine)
    ev = k.mem.vm_events
    ev[:, names.index("pgpgin")] = [7, 4]            # sectors
    ev[:, names.index("pgpgout")] = [1, 0]
    ev[:, names.index("compact_stall")] = [2, 3]
    v = parse(k.show("vmstat"))
    assert (v["pgpgin"], v["pgpgout"], v["compact_stall"]) == (5, 0, 5)


def test_allocations_show_in_pgalloc():
    k = kmemsim.boot("x86_64", mem="1G")
    before = parse(k.show("vmstat"))
    k.alloc(3, "GFP_KERNEL")
    after = parse(k.show("vmstat"))
    assert after["pgalloc_dma32"] - before["pgalloc_dma32"] == 8
    assert after["pgalloc_dma"] == before["pgalloc_dma"]


# ---- dirty thresholds ----------------------------------------------------------------------------

def dirtyable(k) -> int:
    """global_dirtyable_memory() written out for a machine without HighMem."""
    free = int(k.mem.vm_stat[:, NR_FREE_PAGES].sum())
    file = sum(int(k.mem.vm_stat[:, ZONE_STAT_ITEMS.index(n)].sum())
               for n in ("nr_inactive_file", "nr_active_file"))
    return free - min(free, k.totalreserve_pages) + file + 1


@pytest.mark.parametrize("case", ["tiny", "x86_64-1G", "x86_64-4G", "numa-2G"])
def test_thresholds_are_20_and_10_percent_of_dirtyable_memory(case):
    k = booted(case)
    v = parse(k.show("vmstat"))
    x = dirtyable(k)
    assert (v["nr_dirty_threshold"], v["nr_dirty_background_threshold"]) == \
        (20 * x // 100, 10 * x // 100)


def test_dirty_balance_reserve_is_totalreserve_pages():
    for case in CASES:
        k = booted(case)
        assert sum(zone_dirty_balance_reserve(k, z) for z in range(k.mem.managed_pages.size)) \
            == k.totalreserve_pages


def test_highmem_is_not_dirtyable():
    """arndale: HighMem's free pages (less its own reserve) leave the dirtyable memory unless
    vm.highmem_is_dirtyable."""
    k = booted("arndale")
    high = k.zone_id(0, "HighMem")
    v = parse(k.show("vmstat"))
    high_dirtyable = int(k.mem.vm_stat[high, NR_FREE_PAGES]) - zone_dirty_balance_reserve(k, high)
    x = dirtyable(k) - high_dirtyable
    assert high_dirtyable > 300000
    assert v["nr_dirty_threshold"] == 20 * x // 100
    assert v["nr_dirty_background_threshold"] == 10 * x // 100
    k.vm_highmem_is_dirtyable = 1                   # a Kernel attribute overrides the default
    try:
        assert global_dirty_limits(k) == (10 * dirtyable(k) // 100, 20 * dirtyable(k) // 100)
    finally:
        del k.vm_highmem_is_dirtyable


@pytest.mark.parametrize("size", ["1G", "4G"])
def test_thresholds_from_the_real_files_numbers(size):
    """3.13's formula, fed the real zoneinfo's free pages, file LRU pages, watermarks,
    reserves and managed pages, gives the real vmstat's thresholds (1G: 47031/23515; 4G:
    195810/97905, where DMA's reserve 3940 + 99 is capped at its 3977 managed pages)."""
    real = parse_zoneinfo(real_file(size, "zoneinfo"))
    real_v = parse(real_file(size, "vmstat"))
    k = kmemsim.boot("x86_64", mem=size)
    for (nid, name), z in real.items():
        zone = k.zone_id(nid, name)
        k.mem.watermark[zone] = [z["min"], z["low"], z["high"]]
        k.mem.lowmem_reserve[zone] = z["protection"]
        k.mem.managed_pages[zone] = z["managed"]
        for item in ("nr_free_pages", "nr_inactive_file", "nr_active_file"):
            k.mem.vm_stat[zone, ZONE_STAT_ITEMS.index(item)] = z["stats"][item]
    calculate_totalreserve_pages(k)
    v = parse(k.show("vmstat"))
    assert v["nr_free_pages"] == real_v["nr_free_pages"]
    assert v["nr_dirty_threshold"] == real_v["nr_dirty_threshold"]
    assert v["nr_dirty_background_threshold"] == real_v["nr_dirty_background_threshold"]
