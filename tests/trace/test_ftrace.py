"""Reading ftrace text (3.13 and current kernels) and kmemsim trace-report."""

import os
from pathlib import Path

import pytest

from conftest import REAL
from kmemsim.errors import KmemsimError
from kmemsim.trace.ftrace import parse_file, parse_lines
from kmemsim.trace.report import render, summarise

DATA = Path(__file__).parent / "data"


def test_a_313_trace_line_by_line():
    t = parse_file(DATA / "small-3.13.txt")
    assert t.dialect == "3.x"
    assert [(line, why) for line, why, _ in t.problems] == [(12, "not an ftrace event line")]
    first = t.events[0]
    assert (first.line, first.comm, first.pid, first.cpu, first.timestamp, first.event) == \
        (7, "init", 1, 0, 0.378333, "mm_page_alloc_zone_locked")
    assert first.fields == {"page": "ffffea0000f70b00", "pfn": 252972, "order": 0,
                            "migratetype": 0, "percpu_refill": 1}
    mark = [e for e in t.events if e.event == "tracing_mark_write"]
    assert [m.text for m in mark] == ["MARK snap boot begin"]
    assert t.counts() == {"mm_page_alloc_zone_locked": 1, "mm_page_alloc": 2,
                          "mm_page_alloc_extfrag": 1, "tracing_mark_write": 1,
                          "mm_page_pcpu_drain": 1, "mm_page_free_batched": 1, "mm_page_free": 1}


def test_strict_stops_at_the_first_unreadable_line():
    with pytest.raises(KmemsimError, match=r"small-3.13.txt:12: not an ftrace event line"):
        parse_file(DATA / "small-3.13.txt", strict=True)


def test_current_kernel_lines_are_normalised():
    """6.1: hexadecimal pfns, hashed page pointers, a five-character flags column, newer gfp
    names, and migratetypes 1 (Movable) and 2 (Reclaimable) swapped against 3.13."""
    lines = [
        "            init-1       [000] .....     4.913456: mm_page_alloc: page=(____ptrval____) "
        "pfn=0x6138 order=1 migratetype=1 gfp_flags=GFP_KERNEL_ACCOUNT|__GFP_ZERO",
        "            init-1       [000] d..1.     4.913500: mm_page_pcpu_drain: "
        "page=(____ptrval____) pfn=0x7384 order=0 migratetype=2",
    ]
    t = parse_lines(lines)
    assert t.dialect == "current" and not t.problems
    assert [e.fields["pfn"] for e in t.events] == [0x6138, 0x7384]
    assert [e.fields["migratetype"] for e in t.events] == [2, 1]       # Movable, Reclaimable
    assert t.events[0].fields["gfp_flags"] == "GFP_KERNEL_ACCOUNT|__GFP_ZERO"


def test_trace_cmd_report_lines():
    t = parse_lines(["              dd-4321  [001]  1234.567890: mm_page_free: "
                     "page=0xffffea0001234500 pfn=298260 order=0"])
    assert not t.problems
    e = t.events[0]
    assert (e.comm, e.pid, e.cpu, e.event, e.fields["pfn"]) == ("dd", 4321, 1, "mm_page_free",
                                                                298260)


def test_report_gold():
    t = parse_file(DATA / "small-3.13.txt")
    assert summarise(t) == {
        "init-1": {"allocs": 1, "pages_allocd": 1, "frees": 0, "batched": 1, "pcp_refills": 1,
                   "pcp_drains": 1, "fallbacks": 0, "fragmenting": 0, "owner_changed": 0},
        "<...>-6": {"allocs": 1, "pages_allocd": 2, "frees": 0, "batched": 0, "pcp_refills": 0,
                    "pcp_drains": 0, "fallbacks": 1, "fragmenting": 0, "owner_changed": 1},
        "dd-90": {"allocs": 0, "pages_allocd": 0, "frees": 1, "batched": 0, "pcp_refills": 0,
                  "pcp_drains": 0, "fallbacks": 0, "fragmenting": 0, "owner_changed": 0}}
    text = render(t, "small-3.13.txt")
    path = DATA / "small-3.13.report"
    if os.environ.get("KMEMSIM_UPDATE_GOLD") == "1":
        path.write_text(text)
    assert text == path.read_text()


def test_the_cli(capsys):
    from kmemsim.cli import main
    assert main(["trace-report", str(DATA / "small-3.13.txt")]) == 0
    assert capsys.readouterr().out.startswith(f"{DATA / 'small-3.13.txt'}: 8 events (3.x format)")
    assert main(["trace-report", str(DATA / "small-3.13.txt"), "--strict"]) == 1
    assert capsys.readouterr().err.count("\n") == 1
    assert main(["trace-report", str(DATA / "nothing.txt")]) == 1
    assert "cannot read the trace" in capsys.readouterr().err


@pytest.mark.parametrize("name,events,counts", [
    ("real-3.13/trace-1G-from-boot.txt.xz", 126882,
     {"mm_page_alloc": 32708, "mm_page_free": 31890, "mm_page_free_batched": 25094,
      "mm_page_alloc_zone_locked": 19496, "mm_page_pcpu_drain": 17679,
      "tracing_mark_write": 13, "mm_page_alloc_extfrag": 2}),
    ("real-6.1/trace-1G.txt.xz", 84684,
     {"mm_page_alloc": 18533, "mm_page_free": 18511, "mm_page_free_batched": 18336,
      "mm_page_alloc_zone_locked": 14678, "mm_page_pcpu_drain": 14626}),
])
def test_the_real_traces_read_whole(name, events, counts):
    path = REAL.parent / name
    if not path.exists():
        pytest.skip(f"{path} is not there (../shared/reference beside the repository)")
    t = parse_file(path)
    assert (len(t.events), t.problems, t.counts()) == (events, [], counts)
