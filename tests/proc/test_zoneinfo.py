"""/proc/zoneinfo: gold files, its values against the allocator's arrays, and the real 3.13.11
files (real-3.13/1G and 4G/zoneinfo): the same layout line for line, and the same pagesets,
thresholds, watermarks, reserves and zone spans."""

import functools
import re

import pytest

import kmemsim
from conftest import real_file
from kmemsim.mm.mmzone import NR_FREE_PAGES, ZONE_STAT_ITEMS
from test_reports import CASES, check_gold

NUMA_NAMES = ("numa_hit", "numa_miss", "numa_foreign", "numa_interleave", "numa_local",
              "numa_other")


@functools.lru_cache(maxsize=None)
def booted(case: str):
    """The machines of test_reports.CASES, booted once for the three test files of zoneinfo,
    vmstat and meminfo.  Tests must not change them: those that do boot their own."""
    return kmemsim.boot(**CASES[case])


def parse_zoneinfo(text: str) -> dict:
    """{(nid, zone name): fields} of a zoneinfo text: the scalar lines by name, the counters
    in ``stats``, ``protection`` as a list, ``pagesets`` as one dict per CPU."""
    zones, z = {}, None
    for line in text.splitlines():
        m = re.match(r"Node (\d+), zone +(\S+)$", line)
        if m:
            z = zones[(int(m[1]), m[2])] = {"stats": {}, "pagesets": []}
            continue
        if line.startswith("  pages free"):
            z["free"] = int(line.split()[-1])
        elif m := re.match(r" {8}(min|low|high|scanned|spanned|present|managed) +(\d+)$", line):
            z[m[1]] = int(m[2])
        elif m := re.match(r" {4}(\w+) +(\d+)$", line):
            z["stats"][m[1]] = int(m[2])
        elif m := re.match(r" {8}protection: \((.*)\)$", line):
            z["protection"] = [int(x) for x in m[1].split(", ")]
        elif m := re.match(r" {4}cpu: (\d+)$", line):
            z["pagesets"].append({"cpu": int(m[1])})
        elif m := re.match(r" {14}(count|high|batch): +(\d+)$", line):
            z["pagesets"][-1][m[1]] = int(m[2])
        elif m := re.match(r"  vm stats threshold: (\d+)$", line):
            z["pagesets"][-1]["threshold"] = int(m[1])
        elif m := re.match(r"  (all_unreclaimable|start_pfn|inactive_ratio): +(\d+)$", line):
            z[m[1]] = int(m[2])
        elif line != "  pagesets":
            raise AssertionError(f"unexpected zoneinfo line {line!r}")
    return zones


# ---- gold files --------------------------------------------------------------------------------

@pytest.mark.parametrize("case", list(CASES))
def test_gold(case):
    check_gold(f"{case}.zoneinfo", booted(case).show("zoneinfo"))


# ---- the values are the allocator's --------------------------------------------------------------

@pytest.mark.parametrize("case", list(CASES))
def test_values_are_the_zone_arrays(case):
    k = booted(case)
    mem, machine = k.mem, k.machine
    zones = parse_zoneinfo(k.show("zoneinfo"))
    expected = [(n.nid, name) for n in machine.nodes for j, name in enumerate(machine.zone_types)
                if mem.present_pages[n.nid * machine.max_nr_zones + j]]
    assert list(zones) == expected                       # populated zones, nodes in order
    for (nid, name), z in zones.items():
        zone = k.zone_id(nid, name)
        assert z["free"] == z["stats"]["nr_free_pages"] == mem.vm_stat[zone, NR_FREE_PAGES]
        assert [z["min"], z["low"], z["high"]] == list(mem.watermark[zone])
        assert z["managed"] == mem.managed_pages[zone]
        assert z["present"] == mem.present_pages[zone]
        assert z["spanned"] == mem.spanned_pages[zone]
        assert z["start_pfn"] == mem.zone_start_pfn[zone]
        assert z["protection"] == list(mem.lowmem_reserve[zone])
        assert len(z["protection"]) == machine.max_nr_zones
        assert [p["cpu"] for p in z["pagesets"]] == list(range(machine.cpus))
        for p in z["pagesets"]:
            assert [p["count"], p["high"], p["batch"]] == list(mem.pcp[p["cpu"], zone])
            assert p["threshold"] == mem.stat_threshold[p["cpu"], zone]
        names = list(z["stats"])
        assert all(n in names for n in NUMA_NAMES) == machine.numa
        assert not any(n in names for n in NUMA_NAMES) or machine.numa
        assert names == [n for n in ZONE_STAT_ITEMS if machine.numa or n not in NUMA_NAMES]
        assert z["all_unreclaimable"] == 1                # no LRU page on a fresh machine


def test_counters_leave_out_the_per_cpu_deltas_and_never_go_below_zero():
    """zone_page_state(): the zone value, not the snapshot with every CPU's pending delta."""
    k = kmemsim.boot("numa")
    zone = k.zone_id(0, "DMA32")
    item = ZONE_STAT_ITEMS.index("nr_mapped")
    k.mem.vm_stat[zone, item] = 40
    k.mem.vm_stat_diff[:, zone, item] = [5, 7]
    k.mem.vm_stat[zone, ZONE_STAT_ITEMS.index("nr_shmem")] = -3
    k.mem.vm_stat_diff[:, zone, NR_FREE_PAGES] = [-9, 4]
    z = parse_zoneinfo(k.show("zoneinfo"))[(0, "DMA32")]
    assert z["stats"]["nr_mapped"] == 40
    assert z["stats"]["nr_shmem"] == 0
    assert z["free"] == z["stats"]["nr_free_pages"] == k.mem.vm_stat[zone, NR_FREE_PAGES]


def test_all_unreclaimable_follows_zone_reclaimable():
    """!zone_reclaimable(): pages_scanned >= 6 x the file LRU pages (no swap, so anonymous
    pages do not count)."""
    k = kmemsim.boot("tiny")
    zone = k.zone_id(0, "Normal")
    show = lambda: parse_zoneinfo(k.show("zoneinfo"))[(0, "Normal")]    # noqa: E731
    assert show()["all_unreclaimable"] == 1                # 0 scanned, 0 reclaimable
    k.mem.vm_stat[zone, ZONE_STAT_ITEMS.index("nr_active_anon")] = 100
    assert show()["all_unreclaimable"] == 1                # anon pages need swap
    k.mem.vm_stat[zone, ZONE_STAT_ITEMS.index("nr_inactive_file")] = 10
    k.mem.vm_stat[zone, ZONE_STAT_ITEMS.index("nr_active_file")] = 5
    k.mem.pages_scanned[zone] = 89
    assert show()["all_unreclaimable"] == 0
    assert show()["scanned"] == 89
    k.mem.pages_scanned[zone] = 90
    assert show()["all_unreclaimable"] == 1


def test_pagesets_follow_allocations():
    k = kmemsim.boot("x86_64", mem="1G")
    before = parse_zoneinfo(k.show("zoneinfo"))[(0, "DMA32")]["pagesets"][0]["count"]
    a = k.alloc(0, "GFP_KERNEL")
    assert a.zone == "DMA32"
    after = parse_zoneinfo(k.show("zoneinfo"))[(0, "DMA32")]["pagesets"][0]["count"]
    assert after == int(k.mem.pcp[0, k.zone_id(0, "DMA32"), 0])
    # one page off this CPU's list, or a batch of 31 taken first when the Unmovable list was
    # empty (boot's frees left Movable pages there)
    assert after in (before - 1, before + 31 - 1)


def test_stat_item_names_are_padded_to_12():
    text = booted("tiny").show("zoneinfo")
    assert "\n    nr_mlock     0\n" in text
    assert "\n    nr_vmscan_immediate_reclaim 0\n" in text
    assert text.startswith("Node 0, zone   Normal\n  pages free     ")
    assert text.endswith("\n  inactive_ratio:    1\n")


# ---- against the real 3.13.11 files ----------------------------------------------------------------

def numberless(text: str) -> list[str]:
    """The layout with every number replaced by N."""
    return [re.sub(r"\d+", "N", line) for line in text.splitlines()]


@pytest.mark.parametrize("size", ["1G", "4G"])
def test_layout_matches_real_313(size):
    real = real_file(size, "zoneinfo")
    ours = booted(f"x86_64-{size}").show("zoneinfo")
    assert numberless(ours) == numberless(real)
    assert ours.endswith("\n") and not ours.endswith("\n\n")


@pytest.mark.parametrize("size", ["1G", "4G"])
def test_zone_setup_matches_real_313(size):
    """Pagesets (DMA high 0 batch 1, the others 186/31), the vm stats thresholds, zone spans
    and inactive_ratio equal; watermarks and protection within 2 pages (the real kernel
    computed them before boot freed the initrd and init memory); all_unreclaimable is 1 in
    both (no file page has been scanned or cached yet)."""
    real = parse_zoneinfo(real_file(size, "zoneinfo"))
    ours = parse_zoneinfo(booted(f"x86_64-{size}").show("zoneinfo"))
    assert list(ours) == list(real)
    for key, r in real.items():
        o = ours[key]
        strip = lambda ps: [(p["cpu"], p["high"], p["batch"], p["threshold"]) for p in ps]  # noqa
        assert strip(o["pagesets"]) == strip(r["pagesets"]), key
        for field in ("start_pfn", "spanned", "present", "inactive_ratio", "all_unreclaimable",
                      "scanned"):
            assert o[field] == r[field], (key, field)
        for field in ("min", "low", "high"):
            assert abs(o[field] - r[field]) <= 2, (key, field, o[field], r[field])
        assert len(o["protection"]) == len(r["protection"])
        assert all(abs(a - b) <= 2 for a, b in zip(o["protection"], r["protection"])), key
        assert list(o["stats"]) == list(r["stats"])
    dma = ours[(0, "DMA")]["pagesets"][0]
    assert (dma["high"], dma["batch"]) == (0, 1)


def test_real_1g_thresholds():
    real = parse_zoneinfo(real_file("1G", "zoneinfo"))
    ours = parse_zoneinfo(booted("x86_64-1G").show("zoneinfo"))
    for z in (ours, real):
        assert [z[(0, n)]["pagesets"][0]["threshold"] for n in ("DMA", "DMA32")] == [2, 8]
        assert [z[(0, n)]["pagesets"][0]["high"] for n in ("DMA", "DMA32")] == [0, 186]
        assert [z[(0, n)]["pagesets"][0]["batch"] for n in ("DMA", "DMA32")] == [1, 31]


def test_reports_are_registered(capsys):
    """``show zoneinfo`` in a script and ``kmemsim boot --show zoneinfo,vmstat,meminfo``."""
    from kmemsim.cli import main
    from kmemsim.kernel import report_names
    from kmemsim.script import run_script
    assert {"zoneinfo", "vmstat", "meminfo"} <= set(report_names())
    k = kmemsim.boot("tiny")
    assert run_script(k, "show zoneinfo\nshow vmstat\nshow meminfo\n") == \
        k.show("zoneinfo") + k.show("vmstat") + k.show("meminfo")
    assert main(["boot", "--machine", "tiny", "--show", "zoneinfo,vmstat,meminfo",
                 "--no-dmesg"]) == 0
    out = capsys.readouterr().out
    for text in (k.show("zoneinfo"), k.show("vmstat"), k.show("meminfo")):
        assert text in out
