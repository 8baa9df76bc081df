"""kmemsim.mm.show_mem: the kernel log as numbers (log_store, the ring), show_free_areas and
show_mem as snapshot and text, warn_alloc_failed with __GFP_NOWARN and its ratelimit."""

import sys
from pathlib import Path

import numpy as np
import pytest

import kmemsim
from kmemsim.mm.gfp import GFP_ATOMIC, GFP_KERNEL, __GFP_NOWARN
from kmemsim.mm.mmzone import CFG_HZ, CFG_KLOG_NEXT, CFG_REPORT_SEQ, KLOG_SIZE, MAX_ORDER, \
    NR_FREE_PAGES, ZONE_STAT_ITEMS, WMARK_HIGH, WMARK_LOW, WMARK_MIN, free_list, migratetype_names
from kmemsim.mm.show_mem import KLOG_ALLOC_FAIL, KLOG_MEM_INFO, KLOG_RATELIMIT, \
    KLOG_SHOW_FREE_AREAS, KLOG_SHOW_MEM_ARM, KLOG_SHOW_MEM_PAGES, op_callers, render_klog, \
    show_free_areas_text

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "proc"))
from test_reports import check_gold  # noqa: E402

NR_ACTIVE_ANON = ZONE_STAT_ITEMS.index("nr_active_anon")
NR_INACTIVE_ANON = ZONE_STAT_ITEMS.index("nr_inactive_anon")
CASES = {
    "tiny": dict(machine="tiny"),
    "x86_64-1G": dict(machine="x86_64", mem="1G"),
    "numa-2G": dict(machine="numa"),
    "arndale": dict(machine="arndale"),
}


def records(k, start=0):
    """(type, f0..f5) of the records from ``start`` on."""
    end = int(k.mem.cfg[CFG_KLOG_NEXT])
    return [tuple(int(x) for x in np.delete(k.mem.klog[s % KLOG_SIZE], 1))
            for s in range(start, end)]


@pytest.mark.parametrize("case", list(CASES))
def test_show_free_areas_gold(case):
    """The live show_free_areas() text of each freshly booted machine (tests/proc/gold)."""
    check_gold(f"{case}.show_free_areas", show_free_areas_text(kmemsim.boot(**CASES[case])))


def test_show_free_areas_follows_the_free_lists(mode):
    """Every number of the text comes from the state: per zone the free pages (kB), the
    watermarks, present and managed, and per order nr_free with the letters of exactly the
    non-empty lists; the global line's free count is the sum of the zones'."""
    k = kmemsim.boot("x86_64", mem="128M", mode=mode)
    k.task("a")
    k.fault("a", 3000)
    text = show_free_areas_text(k)
    lines = text.splitlines()
    mem = k.mem
    names = migratetype_names(False, False)
    letters = {"Unmovable": "U", "Reclaimable": "E", "Movable": "M", "Reserve": "R"}
    total_free = 0
    for zone, name in ((0, "DMA"), (1, "DMA32")):
        free = int(mem.vm_stat[zone, NR_FREE_PAGES])
        total_free += free
        w = mem.watermark[zone]
        line = next(l for l in lines if l.startswith(f"Node 0 {name} free:"))
        assert line.startswith(f"Node 0 {name} free:{free * 4}kB min:{w[WMARK_MIN] * 4}kB "
                               f"low:{w[WMARK_LOW] * 4}kB high:{w[WMARK_HIGH] * 4}kB ")
        assert f" present:{mem.present_pages[zone] * 4}kB managed:" \
               f"{mem.managed_pages[zone] * 4}kB " in line
        expected = f"Node 0 {name}: "
        for order in range(MAX_ORDER):
            nr = int(mem.nr_free[zone, order])
            expected += f"{nr}*{4 << order}kB "
            if nr:
                kinds = [mt for mt in range(len(names))
                         if mem.lru_next[free_list(mem, zone, order, mt)]
                         != free_list(mem, zone, order, mt)]
                expected += "(" + "".join(letters[names[mt]] for mt in kinds) + ") "
        expected += f"= {sum(int(mem.nr_free[zone, o]) << o for o in range(MAX_ORDER)) * 4}kB"
        assert expected in lines
    g = lambda item: max(0, int(mem.vm_stat[:, item].sum()))             # noqa: E731
    assert f" free:{total_free} slab_reclaimable:{g(13)} slab_unreclaimable:{g(14)}" in lines
    assert f"active_anon:{g(NR_ACTIVE_ANON)} inactive_anon:{g(NR_INACTIVE_ANON)} " \
           f"isolated_anon:0" in lines
    assert g(NR_ACTIVE_ANON) + g(NR_INACTIVE_ANON) > 2900
    assert int(mem.cfg[CFG_KLOG_NEXT]) == 0 and int(mem.cfg[CFG_REPORT_SEQ]) == -1


def test_warn_alloc_failed_text(mode):
    """3.13's page allocation failure report: the line, the stack, show_mem with the page
    counts (an allocation that may sleep); lib/show_mem.c's reserved count is the last
    populated zone's (DMA32: present 28640 - managed 25803), not the sum."""
    k = kmemsim.boot("x86_64", mem="128M", mode=mode)
    seq = int(k.fn.warn_alloc_failed(k.mem, GFP_KERNEL, 3))
    assert seq == 0
    assert [r[0] for r in records(k)] == [KLOG_ALLOC_FAIL, KLOG_MEM_INFO,
                                          KLOG_SHOW_FREE_AREAS, KLOG_SHOW_MEM_PAGES]
    lines = render_klog(k, 0, op_callers(k, "alloc"))
    assert lines[:9] == [
        "kmemsim: page allocation failure: order:3, mode:0xd0",
        "CPU: 0 PID: 0 Comm: kmemsim Not tainted 3.13.11 #1",
        "Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 "
        "04/01/2014",
        "Call Trace:",
        " dump_stack",
        " warn_alloc_failed",
        " __alloc_pages_nodemask",
        "Mem-Info:",
        "Node 0 DMA per-cpu:",
    ]
    assert lines[-3:] == ["32638 pages RAM", "0 pages HighMem/MovableOnly",
                          "2837 pages reserved"]
    assert lines[8:-3] == show_free_areas_text(k).splitlines()


def test_nowarn_and_atomic(mode):
    """__GFP_NOWARN: no record at all; an allocation that cannot sleep (GFP_ATOMIC) leaves
    out show_mem's page counts (SHOW_MEM_FILTER_PAGE_COUNT)."""
    k = kmemsim.boot("tiny", mode=mode)
    assert int(k.fn.warn_alloc_failed(k.mem, GFP_KERNEL | __GFP_NOWARN, 0)) == -1
    assert int(k.mem.cfg[CFG_KLOG_NEXT]) == 0
    k.fn.warn_alloc_failed(k.mem, GFP_ATOMIC, 1)
    assert [r[0] for r in records(k)] == [KLOG_ALLOC_FAIL, KLOG_MEM_INFO,
                                          KLOG_SHOW_FREE_AREAS]
    lines = render_klog(k, 0)
    assert lines[0] == "kmemsim: page allocation failure: order:1, mode:0x20"
    assert "Hardware name" not in lines[2]                 # the generic machine has no DMI
    assert lines[-1] == "Total swap = 0kB" and not any("pages RAM" in l for l in lines)


def test_ratelimit(mode):
    """nopage_rs: ten reports per five seconds of jiffies; the next one after the interval
    first says how many were suppressed."""
    k = kmemsim.boot("tiny", mode=mode)
    got = [int(k.fn.warn_alloc_failed(k.mem, GFP_ATOMIC, 0)) for _ in range(12)]
    assert [g >= 0 for g in got] == [True] * 10 + [False] * 2
    k.tick(5 * int(k.mem.cfg[CFG_HZ]) + 1)
    start = int(k.mem.cfg[CFG_KLOG_NEXT])
    assert int(k.fn.warn_alloc_failed(k.mem, GFP_ATOMIC, 0)) == start + 1
    assert records(k, start)[0] == (KLOG_RATELIMIT, 0, 2, 0, 0, 0, 0)
    assert render_klog(k, start)[:2] == ["warn_alloc_failed: 2 callbacks suppressed",
                                         "kmemsim: page allocation failure: order:0, "
                                         "mode:0x20"]


def test_klog_ring_wraps(mode):
    """Record n lives in row n % 256; rendering from an overwritten record starts at the
    oldest one still there, without a word (as 3.13's printk drops what the ring lost)."""
    k = kmemsim.boot("tiny", mode=mode)
    for i in range(300):
        assert int(k.fn.log_store(k.mem, KLOG_RATELIMIT, 0, i, 0, 0, 0, 0)) == i
    assert int(k.mem.cfg[CFG_KLOG_NEXT]) == 300
    assert int(k.mem.klog[299 % KLOG_SIZE, 3]) == 299
    lines = render_klog(k, 0)
    assert len(lines) == 256
    assert lines[0] == "warn_alloc_failed: 44 callbacks suppressed"
    assert lines[-1] == "warn_alloc_failed: 299 callbacks suppressed"
    assert render_klog(k, 295) == [f"warn_alloc_failed: {i} callbacks suppressed"
                                   for i in range(295, 300)]
    assert render_klog(k, 300) == []


def test_a_later_report_takes_the_snapshot():
    """One snapshot: the first of two reports keeps its lines but not its zone tables."""
    k = kmemsim.boot("tiny")
    k.fn.warn_alloc_failed(k.mem, GFP_ATOMIC, 0)
    k.fn.warn_alloc_failed(k.mem, GFP_ATOMIC, 1)
    assert int(k.mem.cfg[CFG_REPORT_SEQ]) == 5
    lines = render_klog(k, 0)
    assert "kmemsim: show_free_areas of record 2 not kept (a later report took the " \
           "snapshot)" in lines
    assert lines.count("Mem-Info:") == 2 and lines.count("Total swap = 0kB") == 1


def test_arm_show_mem_counts():
    """arndale prints ARM's own show_mem(): "Mem-info:" and the page walk over its bank."""
    k = kmemsim.boot("arndale")
    k.fn.show_mem(k.mem, 0)
    recs = records(k)
    assert [r[0] for r in recs] == [KLOG_MEM_INFO, KLOG_SHOW_FREE_AREAS, KLOG_SHOW_MEM_PAGES,
                                    KLOG_SHOW_MEM_ARM]
    total, free, reserved, slab, shared, cached = recs[3][1:]
    mem = k.mem
    assert total == sum(int(mem.present_pages[z]) for z in range(mem.present_pages.shape[0]))
    assert reserved == total - int(mem.managed_pages.sum())
    # the SLUB bootstrap's pages: kmem_cache_node, kmem_cache, kmalloc-64 (the names)
    assert (slab, shared, cached) == (3, 0, 0)
    on_pcp = int(mem.pcp[:, :, 0].sum())
    in_buddy = sum(int(mem.nr_free[z, o]) << o for z in range(mem.nr_free.shape[0])
                   for o in range(MAX_ORDER))
    assert free == in_buddy + on_pcp
    lines = render_klog(k, 0)
    assert lines[0] == "Mem-info:"
    assert lines[-6:] == [f"{total} pages of RAM", f"{free} free pages",
                          f"{reserved} reserved pages", "3 slab pages", "0 pages shared",
                          "0 pages swap cached"]
    assert not any("pages RAM" in l for l in lines)


def test_both_modes_write_the_same_numbers():
    """The records and the snapshot are identical in Python and compiled mode."""
    out = []
    for mode in ("python", "compiled"):
        k = kmemsim.boot("x86_64", mem="128M", mode=mode)
        k.task("a")
        k.fault("a", 700)
        k.fn.warn_alloc_failed(k.mem, GFP_KERNEL, 2)
        out.append((k.mem.klog.copy(), k.mem.report_buf.copy(), render_klog(k, 0)))
    assert np.array_equal(out[0][0], out[1][0])
    assert np.array_equal(out[0][1], out[1][1])
    assert out[0][2] == out[1][2]
