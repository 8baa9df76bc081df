"""Tracepoints inside kmemsim (kmemsim.trace.events, tracer, trace_output): the ring buffer in
both modes, event selection, the 3.13 trace text, and the round trip through the parser."""

from pathlib import Path

import numpy as np
import pytest

import conftest
import kmemsim
from kmemsim.errors import KmemsimError
from kmemsim.script import run_script
from kmemsim.trace.events import EVENT_NAMES, events_matching
from kmemsim.trace.ftrace import parse_lines

DATA = Path(__file__).parent / "data"

PRESSURE = """\
task sh
file log
read log 1600
fault sh 400
alloc big 3 GFP_KERNEL
kmalloc p 100 GFP_KERNEL
kmalloc q 9000 GFP_KERNEL
kmem_cache_create thing size=600
kmem_cache_alloc t thing GFP_KERNEL
kmem_cache_free t
kfree p
kfree q
free big
munmap sh 200
"""


def check_gold(name: str, text: str) -> None:
    """Compare with tests/trace/data/NAME (conftest.check_gold)."""
    conftest.check_gold(DATA / name, text)


def vm_events(k) -> dict[str, int]:
    return {name: int(v) for name, v in (line.split() for line in k.show("vmstat").splitlines())}


def pressure_run(mode, events="kmem:*,compaction:*,vmscan:*"):
    """The tiny machine filled with page cache and anonymous memory (kswapd reclaims), slab
    objects, then a whole-memory compaction (twice: the first finds the cached scanners at
    the zone's start, docs/compaction.md)."""
    k = kmemsim.boot("tiny", mode=mode)
    before = vm_events(k)
    t = k.trace_start(events)
    run_script(k, PRESSURE)
    k.sysctl("vm.compact_memory=1")
    k.fn.reset_isolation_suitable(k.mem, 0)
    k.sysctl("vm.compact_memory=1")
    return k, t, before


def test_round_trip_counts_equal_the_kernels_own_counters(mode):
    """A run's trace, written as text and parsed back, counts what /proc/vmstat counted:
    pages allocated (pgalloc_*), pages freed (pgfree), pages scanned and isolated by
    compaction, pages migrated, pages reclaimed; and the trace text is the same in both
    modes (the compiled ring buffer writes the very rows Python mode writes)."""
    k, t, before = pressure_run(mode)
    after = vm_events(k)
    delta = {n: after[n] - before.get(n, 0) for n in after}
    parsed = parse_lines(t.text().splitlines(keepends=True))
    assert parsed.problems == []
    by = {}
    for e in parsed.events:
        by.setdefault(e.event, []).append(e.fields)

    def total(event, field, weight=None):
        return sum((1 << f["order"]) if weight else f[field] for f in by.get(event, []))
    assert total("mm_page_alloc", None, weight=True) == sum(
        v for n, v in delta.items() if n.startswith("pgalloc_"))
    assert total("mm_page_free", None, weight=True) == delta["pgfree"]
    assert total("mm_compaction_isolate_migratepages", "nr_scanned") == \
        delta["compact_migrate_scanned"] > 0
    assert total("mm_compaction_isolate_freepages", "nr_scanned") == delta["compact_free_scanned"]
    assert total("mm_compaction_migratepages", "nr_migrated") == delta["pgmigrate_success"] > 0
    assert total("mm_vmscan_lru_shrink_inactive", "nr_reclaimed") == \
        delta["pgsteal_kswapd_normal"] + delta["pgsteal_direct_normal"] > 0
    assert len(by.get("mm_vmscan_direct_reclaim_begin", [])) == delta["allocstall"]
    # every page event's pfn is a real page of the machine
    for name in ("mm_page_alloc", "mm_page_free", "mm_page_pcpu_drain"):
        assert all(0 <= f["pfn"] < int(k.mem.cfg[0]) for f in by[name])
    # the records in the buffer are what the counters say
    assert sum(t.counts().values()) == len(parsed.events) == t.written
    assert t.text() == pressure_run("python")[1].text() if mode == "compiled" else True


def test_trace_text_gold():
    """Every format of the run (page events, slab events, compaction, vmscan) against a gold
    file: the events that are not one-per-page, so the file stays small."""
    k, t, _ = pressure_run("python", "kmem:mm_page_alloc_extfrag,kmem:mm_page_free_batched,"
                           "kmem:kmalloc,kmem:kfree,kmem:kmem_cache_*,compaction:*,vmscan:*")
    text = t.text()
    check_gold("pressure-tiny.trace", text)
    lines = text.splitlines()
    assert lines[2] == f"# entries-in-buffer/entries-written: {t.written}/{t.written}   #P:1"
    assert any(": kmalloc: call_site=0 ptr=ffff88" in l and "bytes_req=100 bytes_alloc=128 "
               "gfp_flags=GFP_KERNEL" in l for l in lines)
    # kmalloc(9000) is above KMALLOC_MAX_CACHE_SIZE: a compound order-2 page, 16384 bytes
    assert any("bytes_req=9000 bytes_alloc=16384 gfp_flags=GFP_KERNEL" in l for l in lines)
    assert any("kmem_cache_alloc: " in l and "bytes_req=600 bytes_alloc=600" in l for l in lines)
    assert {l.split()[4] for l in lines if not l.startswith("#")} >= {
        "mm_page_alloc_extfrag:", "mm_page_free_batched:", "kmalloc:", "kfree:",
        "kmem_cache_alloc:", "kmem_cache_free:", "mm_compaction_isolate_migratepages:",
        "mm_compaction_isolate_freepages:", "mm_compaction_migratepages:",
        "mm_vmscan_wakeup_kswapd:", "mm_vmscan_kswapd_wake:", "mm_vmscan_lru_isolate:",
        "mm_vmscan_lru_shrink_inactive:"}


def test_line_layout_matches_the_real_313_trace():
    """The columns of a 3.13.11 trace line: %16s-%-5d [%03d] flags %5lu.%06lu: event: ...;
    page= is the vmemmap address of the struct page (64 bytes each) on x86_64; the events
    taken under zone->lock show interrupts off (d...)."""
    k = kmemsim.boot("x86_64", mem="1G")
    t = k.trace_start("kmem:mm_page_alloc,kmem:mm_page_alloc_zone_locked")
    k.alloc(1, "GFP_KERNEL|__GFP_ZERO|__GFP_NOTRACK")
    lines = [l for l in t.text().splitlines() if not l.startswith("#")]
    assert len(lines) == 2
    zl, al = lines
    pfn = int(al.split("pfn=")[1].split()[0])
    assert al == (f"         kmemsim-0     [000] ....     0.000002: mm_page_alloc: "
                  f"page={0xffffea0000000000 + 64 * pfn:016x} pfn={pfn} order=1 migratetype=0 "
                  "gfp_flags=GFP_KERNEL|GFP_ZERO|GFP_NOTRACK")
    assert zl.startswith("         kmemsim-0     [000] d...     0.000001: "
                         "mm_page_alloc_zone_locked: ")
    assert zl.endswith(f"pfn={pfn} order=1 migratetype=0 percpu_refill=0")
    # a real 3.13.11 line, for comparison of the layout
    real = ("            init-1     [000] ....     0.378911: mm_page_alloc: page=ffffea0000f70b00 "
            "pfn=252972 order=1 migratetype=1 gfp_flags=GFP_TEMPORARY|GFP_NOWARN|GFP_NORETRY|"
            "GFP_COMP|GFP_NOTRACK")
    assert [len(x) for x in real.split("[")[0].split("-")[0:1]] == \
        [len(x) for x in al.split("[")[0].split("-")[0:1]]
    assert real.index("[000]") == al.index("[000]") and real.index(": mm_") == al.index(": mm_")


def test_tasks_and_kswapd_are_named_and_cpus_recorded():
    k = kmemsim.boot("x86_64", mem="1G", cpus=2)
    pid = k.task("dd")
    t = k.trace_start("kmem:mm_page_alloc")
    k.fault("dd", 1, cpu=1)
    k.alloc(0, "GFP_KERNEL", cpu=0)
    lines = [l for l in t.text().splitlines() if not l.startswith("#")]
    assert lines[0].startswith(f"{'dd':>16}-{pid:<5} [001] ")
    assert lines[1].startswith(f"{'kmemsim':>16}-0     [000] ")
    assert t.text().splitlines()[2].endswith("#P:2")


def test_event_selection_and_stop():
    k = kmemsim.boot("tiny")
    t = k.trace_start("kmem:mm_page_free")
    a = k.alloc(0)
    k.free(a)
    assert t.counts() == {"mm_page_free": 1}
    stopped = k.trace_stop()
    k.free(k.alloc(0))
    assert stopped.written == 1 and k.tracer is None
    assert events_matching("compaction:*") == [EVENT_NAMES.index(n) for n in (
        "mm_compaction_isolate_migratepages", "mm_compaction_isolate_freepages",
        "mm_compaction_migratepages")]
    assert events_matching("mm_page_alloc,kmem:mm_page_alloc") == [0]
    assert len(events_matching("all")) == len(EVENT_NAMES)
    for bad in ("kmem:nothing", "sched:*"):
        with pytest.raises(KmemsimError, match=r"^no trace event matches .*: use system:event"):
            events_matching(bad)
    with pytest.raises(KmemsimError, match="tracing is not on"):
        k.trace_stop()


def test_overrun_is_counted_not_hidden():
    """A buffer smaller than one operation's records keeps the newest rows; the header says
    how many were written (entries-in-buffer/entries-written), as the kernel's does."""
    k = kmemsim.boot("tiny")
    t = k.trace_start("kmem:mm_page_alloc_zone_locked", rows=4)
    k.alloc(4, "GFP_KERNEL")                            # one record, read after the op
    k.fn.alloc_free_pairs(k.mem, 10, 0xd0)              # 10 refills, no read in between
    t.drain()
    assert t.overrun == 10 - 4 and t.written == 11
    assert t.text().splitlines()[2] == "# entries-in-buffer/entries-written: 5/11   #P:1"
    recs = t.records()
    assert np.all(np.diff(recs[:, 1]) > 0)                # oldest first, the newest kept


def test_cli_run_writes_the_trace(tmp_path, capsys):
    from kmemsim.cli import main
    script = tmp_path / "s.txt"
    script.write_text("alloc a 0 GFP_KERNEL\nfree a\n")
    out = tmp_path / "t.txt"
    assert main(["run", str(script), "--machine", "tiny", "--trace", str(out),
                 "--events", "kmem:mm_page_alloc,kmem:mm_page_free"]) == 0
    body = [l for l in out.read_text().splitlines() if not l.startswith("#")]
    assert [l.split()[4] for l in body] == ["mm_page_alloc:", "mm_page_free:"]
    assert main(["run", str(script), "--machine", "tiny", "--trace", str(out),
                 "--events", "kmem:bogus"]) == 1
    assert capsys.readouterr().err == ("kmemsim: error: no trace event matches 'kmem:bogus': "
                                       "use system:event with systems kmem, compaction, vmscan "
                                       "(e.g. kmem:*, kmem:mm_page_alloc)\n")
