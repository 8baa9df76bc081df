"""The fast trace reader (kmemsim.trace.scan) against the line-by-line one (ftrace.py): the
same events, fields, problems and marks, on the small test trace and all four real traces;
current kernels' gfp names in 3.13's terms."""

from pathlib import Path

import numpy as np
import pytest

from conftest import REAL
from kmemsim.errors import KmemsimError
from kmemsim.trace import replay as rp
from kmemsim.trace.ftrace import gfp_from_trace, parse_file, parse_lines
from kmemsim.trace.scan import MISSING, scan_bytes, scan_file

DATA = Path(__file__).parent / "data"
KEYS = ("pfn", "order", "migratetype", "gfp_flags", "percpu_refill", "cold", "alloc_order",
        "fallback_order", "alloc_migratetype", "fallback_migratetype", "change_ownership",
        "fragmenting")


def same_events(slow, fast):
    assert len(slow.events) == len(fast.events)
    for a, b in zip(slow.events, fast.events):
        assert (a.line, a.comm, a.pid, a.cpu, a.event) == (b.line, b.comm, b.pid, b.cpu, b.event)
        assert abs(a.timestamp - b.timestamp) < 1e-9
        if a.event != "tracing_mark_write":
            assert {k: a.fields.get(k) for k in KEYS} == {k: b.fields.get(k) for k in KEYS}, a.line
    assert [line for line, _, _ in slow.problems] == [line for line, _, _ in fast.problems]
    assert slow.dialect == fast.dialect


def test_the_small_trace_as_ftrace_reads_it():
    fast = scan_file(DATA / "small-3.13.txt")
    slow = parse_file(DATA / "small-3.13.txt")
    same_events(slow, fast.parsed())
    assert fast.problems == [12] and fast.marks == [(11, "MARK snap boot begin")]
    assert fast.counts() == slow.counts()
    with pytest.raises(KmemsimError, match=r"small-3.13.txt:12: not an ftrace event line: "):
        scan_file(DATA / "small-3.13.txt", strict=True)


def test_current_kernel_lines_and_trace_cmd_lines():
    text = (
        "# tracer: nop\n"
        "            init-1       [000] .....     4.913456: mm_page_alloc: page=(____ptrval____) "
        "pfn=0x6138 order=1 migratetype=1 gfp_flags=GFP_KERNEL_ACCOUNT|__GFP_ZERO\n"
        "this line is garbage\n"
        "            init-1       [000] d..1.     4.913500: mm_page_pcpu_drain: "
        "page=(____ptrval____) pfn=0x7384 order=0 migratetype=2\n"
        "              dd-4321  [001]  1234.567890: mm_page_free: "
        "page=0xffffea0001234500 pfn=298260 order=0\n"
        "     kworker/0:1-12    (   12) [000] ....   5.000001: mm_page_alloc: page=(null) "
        "pfn=0 order=3 migratetype=0 gfp_flags=GFP_ATOMIC\n").encode()
    s = scan_bytes(text, "t.txt")
    assert s.dialect == "current" and s.problems == [3]
    assert s.cols["pfn"].tolist() == [0x6138, 0x7384, 298260, 0]
    assert s.cols["null_page"].tolist() == [MISSING, MISSING, MISSING, 1]
    assert s.cols["migratetype"].tolist() == [2, 1, MISSING, 0]       # renumbered to 3.13's
    assert [s.comms[c] for c in s.comm] == ["init", "init", "dd", "kworker/0:1"]
    assert s.cols["cpu"].tolist() == [0, 0, 1, 0] and s.cols["pid"].tolist() == [1, 1, 4321, 12]
    assert s.cols["ts_ns"].tolist() == [4913456000, 4913500000, 1234567890000, 5000001000]
    assert s.gfp_text == ["GFP_KERNEL_ACCOUNT|__GFP_ZERO", None, None, "GFP_ATOMIC"]
    same_events(parse_lines(text.decode().splitlines(keepends=True)), s.parsed())
    with pytest.raises(KmemsimError, match=r"^t.txt:3: not an ftrace event line: "
                                           r"'this line is garbage'"):
        scan_bytes(text, "t.txt", strict=True)


@pytest.mark.parametrize("text,mask", [
    ("GFP_KERNEL_ACCOUNT|__GFP_ZERO", 0x1080D0),        # GFP_KERNEL|__GFP_ZERO|__GFP_KMEMCG
    ("GFP_HIGHUSER_MOVABLE|__GFP_COMP", 0x240DA),
    ("none", 0),
    ("GFP_NOWAIT|__GFP_NOWARN", 0x200),
    ("__GFP_DIRECT_RECLAIM|__GFP_KSWAPD_RECLAIM|__GFP_RETRY_MAYFAIL", 0x410),
    ("GFP_KERNEL|GFP_ZERO|GFP_NOTRACK", 0x2080D0),      # a 3.13 spelling, as it is
    ("GFP_TRANSHUGE", 0x4342DA),                        # 6.1's: no __GFP_NORETRY
])
def test_current_gfp_names_in_313_terms(text, mask):
    assert gfp_from_trace(text) == mask


def test_an_unknown_gfp_name_is_an_error():
    with pytest.raises(KmemsimError, match=r"^x:3: unknown GFP flag '__GFP_BOGUS'"):
        gfp_from_trace("GFP_KERNEL|__GFP_BOGUS", "x:3")


@pytest.mark.parametrize("name", ["real-3.13/trace-1G-from-boot.txt.xz",
                                  "real-3.13/trace-128M-pressure.txt.xz",
                                  "real-6.1/trace-1G.txt.xz",
                                  "real-6.1/trace-128M-pressure.txt.xz"])
def test_the_real_traces_read_the_same_both_ways(name):
    path = REAL.parent / name
    if not path.exists():
        pytest.skip(f"{path} is not there (../shared/reference beside the repository)")
    fast = scan_file(path)
    slow = parse_file(path)
    same_events(slow, fast.parsed())
    assert fast.counts() == slow.counts()
    a, b = rp.build_ops(fast, name), rp.build_ops(slow, name)
    assert np.array_equal(a.ops, b.ops) and a.marks == b.marks
    assert (a.skipped_frees, a.fallbacks, a.trace_counts) == (b.skipped_frees, b.fallbacks,
                                                              b.trace_counts)
