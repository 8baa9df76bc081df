"""/proc/buddyinfo and /proc/pagetypeinfo: gold files, and the real 3.13.11 files' layout."""

import re
from pathlib import Path

import pytest

import kmemsim
import conftest
from conftest import real_file

GOLD = Path(__file__).parent / "gold"
CASES = {
    "tiny": dict(machine="tiny"),
    "x86_64-1G": dict(machine="x86_64", mem="1G"),
    "x86_64-4G": dict(machine="x86_64", mem="4G"),
    "numa-2G": dict(machine="numa"),
    "arndale": dict(machine="arndale"),
}


def check_gold(name: str, text: str) -> None:
    """Compare with tests/proc/gold/NAME (conftest.check_gold)."""
    conftest.check_gold(GOLD / name, text)


@pytest.fixture(scope="module")
def booted():
    return {name: kmemsim.boot(**kw) for name, kw in CASES.items()}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("report", ["buddyinfo", "pagetypeinfo"])
def test_gold(booted, case, report):
    check_gold(f"{case}.{report}", booted[case].show(report))


def skeleton(text: str) -> list[str]:
    """A file's layout with the numbers of the counts blanked out."""
    return [re.sub(r"(?<=\s)\d+(?=\s)", "N", line + " ") for line in text.splitlines()]


@pytest.mark.parametrize("size", ["1G", "4G"])
@pytest.mark.parametrize("report", ["buddyinfo", "pagetypeinfo"])
def test_layout_matches_real_313(booted, size, report):
    real = real_file(size, report)
    ours = booted[f"x86_64-{size}"].show(report)
    assert skeleton(ours) == skeleton(real)


@pytest.mark.parametrize("size", ["1G", "4G"])
def test_pageblock_counts_match_real_313(booted, size):
    """The 'Number of blocks type' table: DMA's first block stays Unmovable (the zone starts
    at pfn 1), one Reserve block in DMA, two in DMA32 and Normal, as the real kernel shows.
    Unmovable and Reclaimable blocks of DMA32 and Normal differ: the real kernel had run
    userspace when it printed the file."""
    real = real_file(size, "pagetypeinfo").splitlines()
    ours = booted[f"x86_64-{size}"].show("pagetypeinfo").splitlines()
    table = lambda lines: {l.split()[3]: [int(x) for x in l.split()[4:]]
                           for l in lines if l.startswith("Node 0, zone")}
    real_t, our_t = table(real), table(ours)
    assert our_t["DMA"] == real_t["DMA"] == [1, 0, 6, 1]
    for zone in our_t:
        assert our_t[zone][3] == real_t[zone][3]                     # reserve blocks
        assert sum(our_t[zone]) == sum(real_t[zone])                 # all blocks counted
