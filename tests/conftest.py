"""Shared fixtures: both execution modes, small machines built for one scenario."""

import os
from pathlib import Path

import pytest

import kmemsim
from kmemsim.machine import Machine, Node, Range

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
REAL = SHARED / "reference" / "real-3.13"


@pytest.fixture(params=["python", "compiled"])
def mode(request):
    """Run a test once with the plain-Python kernel functions and once compiled."""
    return request.param


def scenario_machine(free: list[tuple[int, int]], *, zone=(0x20000, 0x22000),
                     pageblock_order=10, arch="arm") -> Machine:
    """One node, one zone [start, end) whose only free memory is the ``free`` pfn ranges
    (everything else is reserved), for setting up an exact buddy-allocator situation."""
    start, end = zone
    reserved, pos = [], start
    for s, e in sorted(free):
        if s > pos:
            reserved.append(Range(pos, s, "scenario"))
        pos = e
    if pos < end:
        reserved.append(Range(pos, end, "scenario"))
    zones = {"Normal": Range(start, end), "Movable": Range(0, 0)}
    if arch == "arm":
        zones = {"Normal": Range(start, end), "HighMem": Range(0, 0), "Movable": Range(0, 0)}
    return Machine(name="scenario", description="test scenario", arch=arch,
                   nodes=[Node(0, zones, [Range(start, end)], reserved)],
                   pageblock_order=pageblock_order, memory_model="flatmem").validate()


def boot_scenario(free, mode, **kw):
    """Boot a scenario machine up to mem_init (no watermarks, so no reserve blocks)."""
    return kmemsim.boot(scenario_machine(free, **kw), mode=mode, stop_after="mem_init")


def real_file(*parts) -> str:
    path = REAL.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"{path} is not there (../shared/reference beside the repository)")
    return path.read_text()


def code_blocks(text: str, lang: str) -> list[str]:
    """The fenced code blocks of a Markdown ``text`` whose info string is ``lang``."""
    found, current, body = [], None, []
    for line in text.splitlines():
        if line.startswith("```"):
            if current is None:
                current, body = line[3:].strip(), []
            else:
                if current == lang:
                    found.append("\n".join(body) + "\n")
                current = None
        elif current is not None:
            body.append(line)
    return found


def without_slab(name, **kw):
    """Preset ``name`` with ``slab = false``: boot skips kmem_cache_init, so nothing is
    allocated at boot.  For tests whose hand-worked numbers are about the page allocator
    alone (tests/mm/test_slub.py covers the bootstrap)."""
    import dataclasses

    from kmemsim.presets import get_machine
    return dataclasses.replace(get_machine(name, **kw), slab=False)


def check_gold(path: Path, text: str) -> None:
    """Compare ``text`` with the gold file ``path``; a mismatch is written beside it as
    NAME.actual for review.  KMEMSIM_UPDATE_GOLD=1 rewrites the gold file instead."""
    if os.environ.get("KMEMSIM_UPDATE_GOLD") == "1":
        path.write_text(text)
    expected = path.read_text()
    if text != expected:
        path.with_name(path.name + ".actual").write_text(text)
    assert text == expected, f"{path.name} differs from its gold file (see {path.name}.actual)"
