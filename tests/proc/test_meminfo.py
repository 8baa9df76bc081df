"""/proc/meminfo: gold files, 3.13's lines and widths against the real 3.13.11 files, and the
computed lines against the allocator's state."""

import re

import pytest

import kmemsim
from conftest import real_file
from kmemsim.mm.mmzone import NR_FREE_PAGES, ZONE_STAT_ITEMS
from test_reports import CASES, check_gold
from test_zoneinfo import booted

LINE = re.compile(r"([A-Za-z_()0-9]+):( +)(\d+)( kB)?$")


def parse(text: str) -> dict[str, int]:
    out = {}
    for line in text.splitlines():
        m = LINE.match(line)
        assert m, f"not a meminfo line: {line!r}"
        assert m[1] not in out
        out[m[1]] = int(m[3])
    return out


def shape(text: str) -> list[tuple[str, int, str]]:
    """Each line's name, length and unit: the layout, numbers aside."""
    return [(LINE.match(line)[1], len(line), LINE.match(line)[4] or "")
            for line in text.splitlines()]


@pytest.mark.parametrize("case", list(CASES))
def test_gold(case):
    check_gold(f"{case}.meminfo", booted(case).show("meminfo"))


@pytest.mark.parametrize("size", ["1G", "4G"])
def test_lines_match_real_313(size):
    """The same names in the same order, the same units and the same line lengths (numbers
    right-aligned in 8 columns, VmallocTotal's 11 digits overflowing them): the real file's
    layout.  No MemAvailable: it arrived in 3.14."""
    real = real_file(size, "meminfo")
    ours = booted(f"x86_64-{size}").show("meminfo")
    assert shape(ours) == shape(real)
    assert "MemAvailable" not in ours


@pytest.mark.parametrize("size", ["1G", "4G"])
def test_values_match_real_313(size):
    """What does not depend on userspace having run equals the real file: no swap, the
    vmalloc area, huge pages, the direct mapping; MemTotal is within the few pages the
    presets' reservations differ by, and CommitLimit is half of it in both."""
    real = parse(real_file(size, "meminfo"))
    ours = parse(booted(f"x86_64-{size}").show("meminfo"))
    for name in ("Buffers", "SwapCached", "SwapTotal", "SwapFree", "VmallocTotal",
                 "HugePages_Total", "HugePages_Free", "HugePages_Rsvd", "HugePages_Surp",
                 "Hugepagesize", "DirectMap4k", "DirectMap2M", "AnonHugePages", "PageTables",
                 "Bounce", "WritebackTmp", "NFS_Unstable", "Dirty", "Writeback"):
        assert ours[name] == real[name], name
    assert abs(ours["MemTotal"] - real["MemTotal"]) <= 8 * 4
    for m in (ours, real):
        assert m["CommitLimit"] == m["MemTotal"] // 2 // 4 * 4
    assert ours["VmallocUsed"] == 0 and ours["VmallocChunk"] == ours["VmallocTotal"]


@pytest.mark.parametrize("case", list(CASES))
def test_computed_lines(case):
    k = booted(case)
    m = parse(k.show("meminfo"))
    assert m["MemTotal"] == k.totalram_pages * 4
    assert m["MemFree"] == k.mem.vm_stat[:, NR_FREE_PAGES].sum() * 4
    assert m["CommitLimit"] == k.totalram_pages * 50 // 100 * 4
    assert m["Committed_AS"] == 0
    highmem = k.machine.arch == "arm"
    assert ("HighTotal" in m) == ("LowFree" in m) == highmem
    assert ("DirectMap4k" in m) == ("DirectMap2M" in m) == (k.machine.arch == "x86_64")
    assert ("Hugepagesize" in m) == k.machine.hugetlb
    assert ("AnonHugePages" in m) == k.machine.thp
    if highmem:
        high = k.zone_id(0, "HighMem")
        assert m["HighTotal"] == k.mem.managed_pages[high] * 4
        assert m["HighFree"] == k.mem.vm_stat[high, NR_FREE_PAGES] * 4
        assert m["LowTotal"] + m["HighTotal"] == m["MemTotal"]
        assert m["LowFree"] + m["HighFree"] == m["MemFree"]
    # a fresh machine has no page cache, LRU, stacks or page tables; its slab is the SLUB
    # bootstrap's unreclaimable pages
    for name in ("Cached", "Active", "Inactive", "KernelStack", "Shmem", "Mapped"):
        assert m[name] == 0
    slab = sum(int(k.mem.vm_stat[:, i].sum()) + int(k.mem.vm_stat_diff[:, :, i].astype("int64").sum())
               for i in (13, 14))
    assert m["Slab"] == m["SUnreclaim"] == slab * 4 > 0 and m["SReclaimable"] == 0


def test_arndale_vmalloc_area():
    """32-bit ARM: lowmem ends at 0xef800000 (physical 0x4f800000), the 8 MiB guard rounds
    VMALLOC_START up to 0xf0000000, VMALLOC_END is 0xff000000: 240 MiB."""
    m = parse(booted("arndale").show("meminfo"))
    assert m["VmallocTotal"] == m["VmallocChunk"] == 240 << 10


def test_lines_follow_the_counters():
    k = kmemsim.boot("x86_64", mem="1G")
    zone = k.zone_id(0, "DMA32")
    values = {"nr_file_pages": 485, "nr_shmem": 485, "nr_inactive_anon": 336,
              "nr_active_anon": 176, "nr_active_file": 3, "nr_inactive_file": 2,
              "nr_slab_reclaimable": 495, "nr_slab_unreclaimable": 743, "nr_kernel_stack": 39,
              "nr_anon_pages": 27, "nr_mapped": 117, "nr_anon_transparent_hugepages": 1,
              "nr_page_table_pages": 5, "nr_mlock": 4, "nr_unevictable": 4}
    for name, value in values.items():
        k.mem.vm_stat[zone, ZONE_STAT_ITEMS.index(name)] = value
    m = parse(k.show("meminfo"))
    assert m["Cached"] == m["Shmem"] == 1940
    assert (m["Active(anon)"], m["Inactive(anon)"]) == (704, 1344)
    assert (m["Active(file)"], m["Inactive(file)"]) == (12, 8)
    assert (m["Active"], m["Inactive"]) == (716, 1352)
    assert (m["Slab"], m["SReclaimable"], m["SUnreclaim"]) == (4952, 1980, 2972)
    assert m["KernelStack"] == 312                      # 39 stacks of 8 KiB
    assert (m["AnonPages"], m["Mapped"]) == (108, 468)
    assert m["AnonHugePages"] == 2048
    assert (m["PageTables"], m["Mlocked"], m["Unevictable"]) == (20, 16, 16)
