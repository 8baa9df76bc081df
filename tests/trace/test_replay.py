"""Replay of kernel traces through the model (kmemsim.trace.replay, kmemsim.sim.replay):
kmemsim's own traces come back exactly; the real 3.13.11 trace is followed with the
agreement per path the docs quote; the 6.1 traces replay with their summary; bad input."""

from pathlib import Path

import numpy as np
import pytest

import conftest
import kmemsim
from conftest import REAL
from kmemsim.errors import KmemsimError
from kmemsim.script import run_script
from kmemsim.sim.replay import K_ALLOC, OP_KIND, OP_PFN, PATH_HIGH, PATH_PCP, PATH_REFILL, \
    PATH_REFILL_PAGE, S_EVENTS, S_MATCH
from kmemsim.trace import replay as rp
from kmemsim.trace.ftrace import parse_file, parse_lines

DATA = Path(__file__).parent / "data"
REAL61 = REAL.parent / "real-6.1"

WORKLOAD = """\
task sh
file log
read log 300
fault sh 200
alloc a 0 GFP_KERNEL
alloc b 3 GFP_KERNEL|__GFP_COMP
alloc c 2 GFP_KERNEL
alloc d 5 GFP_HIGHUSER_MOVABLE
alloc e 0 GFP_KERNEL|__GFP_COLD
free c
free a
munmap sh 120
truncate log
free d
alloc f 9 GFP_KERNEL
fault sh 50
free e
free b
"""


def check_gold(name: str, text: str) -> None:
    """Compare with tests/trace/data/NAME (conftest.check_gold)."""
    conftest.check_gold(DATA / name, text)


def own_trace(mode="python"):
    k = kmemsim.boot("x86_64", mem="128M", mode=mode)
    t = k.trace_start("kmem:*")
    run_script(k, WORKLOAD)
    return t.text()


def test_kmemsims_own_trace_replays_to_the_same_pfns(mode):
    """The same machine, booted afresh, given its own trace's requests, makes the same
    choices: every allocation gets the pfn the trace names, and following agrees 100%."""
    text = own_trace(mode=mode)
    ops = rp.build_ops(parse_lines(text.splitlines(keepends=True)))
    k = kmemsim.boot("x86_64", mem="128M", mode=mode)
    r = rp.replay(k, ops, progress=False)
    allocs = ops.ops[:, OP_KIND] == K_ALLOC
    assert allocs.sum() > 300
    assert np.array_equal(r["res"][allocs], ops.ops[allocs, OP_PFN])
    assert r["failures"] == 0 and r["unheld"] == 0 and ops.skipped_frees == 0
    k.check()
    k2 = kmemsim.boot("x86_64", mem="128M", mode=mode)
    f = rp.follow(k2, ops, progress=False)
    stats = f["stats"]
    assert np.array_equal(stats[:, S_EVENTS], stats[:, S_MATCH])
    assert stats[PATH_PCP, S_EVENTS] > 0 and stats[PATH_REFILL, S_EVENTS] > 0
    assert stats[PATH_HIGH, S_EVENTS] >= 4
    k2.check()
    assert k2.show("buddyinfo") == k.show("buddyinfo")


def test_replay_summary_of_own_trace():
    text = own_trace()
    ops = rp.build_ops(parse_lines(text.splitlines(keepends=True)))
    k = kmemsim.boot("x86_64", mem="128M")
    out = rp.render_replay(k, ops, rp.replay(k, ops, progress=False), "own.trace")
    check_gold("replay-own-128M.txt", out)
    rows = {l[:36].strip(): l[36:].split() for l in out.splitlines()[2:] if l.startswith("  ")}
    for label in ("allocations", "pages allocated", "frees", "per-CPU list refills (pages)",
                  "per-CPU list drains (pages)", "fallbacks (extfrag)"):
        assert rows[label][0] == rows[label][1], label


def real_trace(path: Path) -> rp.TraceOps:
    if not path.exists():
        pytest.skip(f"{path} is not there (../shared/reference beside the repository)")
    return rp.build_ops(parse_file(path))


@pytest.fixture(scope="module")
def real_follow():
    ops = real_trace(REAL / "trace-1G-from-boot.txt.xz")
    k = kmemsim.boot("x86_64", mem="1G")
    return k, ops, rp.follow(k, ops, progress=False)


def test_follow_the_real_313_kernel(real_follow):
    """The fidelity number (docs/fidelity.md): on the real 3.13.11 boot and workload trace the
    model chooses the kernel's own block for 9 allocations in 10, and for 99% between the
    boot's and the workload's phases once its state has caught up with the kernel's."""
    k, ops, r = real_follow
    out = rp.render_follow(k, ops, r, "trace-1G-from-boot.txt.xz")
    check_gold("follow-real-313-1G.txt", out)
    stats = r["stats"]
    allocs = stats[:PATH_REFILL_PAGE].sum(axis=0)
    assert allocs[S_EVENTS] == 32708
    assert allocs[S_MATCH] / allocs[S_EVENTS] > 0.9
    assert stats[PATH_PCP, S_MATCH] / stats[PATH_PCP, S_EVENTS] > 0.9
    k.check()


def test_follow_the_real_313_kernel_under_pressure():
    """The 128 MiB trace (kswapd, DMA taking a fifth of the allocations, 151 stolen
    pageblocks): following keeps the model consistent (validators) and agrees as the docs say."""
    ops = real_trace(REAL / "trace-128M-pressure.txt.xz")
    k = kmemsim.boot("x86_64", mem="128M")
    r = rp.follow(k, ops, progress=False)
    check_gold("follow-real-313-128M.txt", rp.render_follow(k, ops, r, "trace-128M-pressure.txt.xz"))
    allocs = r["stats"][:PATH_REFILL_PAGE].sum(axis=0)
    assert allocs[S_EVENTS] == 26639 and allocs[S_MATCH] / allocs[S_EVENTS] > 0.85
    k.check()


def test_replay_the_real_313_trace():
    ops = real_trace(REAL / "trace-1G-from-boot.txt.xz")
    k = kmemsim.boot("x86_64", mem="1G")
    r = rp.replay(k, ops, progress=False)
    out = rp.render_replay(k, ops, r, "trace-1G-from-boot.txt.xz")
    check_gold("replay-real-313-1G.txt", out)
    assert ops.skipped_frees == 666 and r["failures"] == 0
    k.check()


@pytest.mark.parametrize("name,mem", [("trace-1G.txt.xz", "1G"),
                                      ("trace-128M-pressure.txt.xz", "128M")])
def test_replay_the_real_61_traces(name, mem):
    ops = real_trace(REAL61 / name)
    assert ops.dialect == "current"
    k = kmemsim.boot("x86_64", mem=mem)
    r = rp.replay(k, ops, progress=False)
    check_gold(f"replay-real-61-{mem}.txt", rp.render_replay(k, ops, r, name))
    k.check()


def test_bad_traces_are_one_clear_error(tmp_path):
    k = kmemsim.boot("tiny")
    empty = rp.build_ops(parse_lines(["# tracer: nop\n"]))
    with pytest.raises(KmemsimError, match="the trace has no page events"):
        rp.replay(k, empty)
    line = ("  sh-2 [003] .... 1.000000: mm_page_alloc: page=ffffea0000000040 pfn=1 order=0 "
            "migratetype=0 gfp_flags=GFP_KERNEL\n")
    with pytest.raises(KmemsimError, match=r"ran on CPU 3 but the machine has 1: use --cpus 4"):
        rp.replay(k, rp.build_ops(parse_lines([line])))
    far = line.replace("[003]", "[000]").replace("pfn=1 ", "pfn=99999999 ")
    with pytest.raises(KmemsimError, match=r"pfn 99999999, beyond this machine's memory"):
        rp.replay(k, rp.build_ops(parse_lines([far])))
    bad_gfp = line.replace("[003]", "[000]").replace("GFP_KERNEL", "GFP_BOGUS")
    with pytest.raises(KmemsimError, match=r"^trace:1: .*GFP_BOGUS"):
        rp.build_ops(parse_lines([bad_gfp]))
    k.check()


def test_cli_replay(tmp_path, capsys):
    from kmemsim.cli import main
    trace = tmp_path / "t.txt"
    trace.write_text(own_trace())
    assert main(["replay", str(trace), "--mem", "128M", "--follow", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert "  all allocations" in out and "100.0%" in out
    assert main(["replay", str(tmp_path / "missing.txt"), "--machine", "tiny"]) == 1
    assert "missing.txt" in capsys.readouterr().err


def test_docs_quote_the_gold_files():
    """docs/tracing.md's replay and follow tables are the gold files' lines."""
    from conftest import code_blocks
    docs = (Path(__file__).resolve().parents[2] / "docs" / "tracing.md").read_text()
    blocks = code_blocks(docs, "")
    for marker, gold in (("per-CPU list hit", "follow-real-313-1G.txt"),
                         ("of pages from before the trace", "replay-real-313-1G.txt")):
        block = next(b for b in blocks if marker in b)
        lines = (DATA / gold).read_text().splitlines()
        for line in block.splitlines():
            if line.strip() and line.strip() != "...":
                assert line in lines, f"docs/tracing.md: {line!r} is not in {gold}"
