"""/sys/kernel/debug/extfrag/extfrag_index and unusable_index: gold files, the real 3.13.11
files' layout and values, and C's arithmetic in the printer."""

import re

import pytest

import kmemsim
from conftest import boot_scenario, real_file
from test_reports import check_gold

B = 0x20000
CASES = {
    "tiny": dict(machine="tiny"),
    "x86_64-1G": dict(machine="x86_64", mem="1G"),
    "x86_64-4G": dict(machine="x86_64", mem="4G"),
}
REPORTS = ("extfrag_index", "unusable_index")


@pytest.fixture(scope="module")
def booted():
    return {name: kmemsim.boot(**kw) for name, kw in CASES.items()}


@pytest.mark.parametrize("case", list(CASES))
@pytest.mark.parametrize("report", REPORTS)
def test_gold(booted, case, report):
    check_gold(f"{case}.{report}", booted[case].show(report))


def skeleton(text: str) -> list[str]:
    """A file's layout with the indexes blanked out."""
    return [re.sub(r"(?<= )-?\d+\.-?\d+(?= )", "N", line) for line in text.splitlines()]


@pytest.mark.parametrize("size", ["1G", "4G"])
@pytest.mark.parametrize("report", REPORTS)
def test_layout_matches_real_313(booted, size, report):
    real = real_file(size, report)
    ours = booted[f"x86_64-{size}"].show(report)
    assert skeleton(ours) == skeleton(real)
    assert skeleton(ours)[0] == "Node 0, zone      DMA " + "N " * 11


@pytest.mark.parametrize("report", REPORTS)
def test_layout_matches_real_313_under_pressure(report):
    """The 128 MiB machine after the OOM kill (trace-128M-pressure/): the same layout, with
    every index a fraction."""
    real = real_file("trace-128M-pressure", report)
    k = kmemsim.boot("x86_64", mem="128M")
    assert skeleton(k.show(report)) == skeleton(real)


@pytest.mark.parametrize("size", ["1G", "4G"])
def test_values_match_real_313(booted, size):
    """extfrag_index is -1.000 everywhere, as in the real files: every zone has free blocks
    of order 10, so no request would fail.  unusable_index: the DMA line is the real one to
    the digit (the model's DMA free lists differ from the real buddyinfo only by one free
    order-0 page, which no index shows at three decimals).  The DMA32 and Normal lines
    differ: the real kernel had run init and its userspace, which left small free blocks
    behind that the model, stopped at the end of boot, does not have."""
    k = booted[f"x86_64-{size}"]
    assert k.show("extfrag_index") == real_file(size, "extfrag_index")
    ours = k.show("unusable_index").splitlines()
    real = real_file(size, "unusable_index").splitlines()
    assert ours[0] == real[0] == ("Node 0, zone      DMA 0.000 0.000 0.000 0.000 0.002 0.010 "
                                  "0.018 0.034 0.034 0.098 0.227 ")
    assert ours[1:] != real[1:]


def test_unusable_index_from_buddyinfo(booted):
    """Each unusable_index value is the share of free pages in blocks below the order,
    computed here from /proc/buddyinfo's counts."""
    k = booted["x86_64-4G"]
    for line, counts in zip(k.show("unusable_index").splitlines(),
                            k.show("buddyinfo").splitlines()):
        nr_free = [int(n) for n in counts.split()[4:]]
        free = sum(n << o for o, n in enumerate(nr_free))
        expected = [(sum(n << o for o, n in enumerate(nr_free[:order])) * 1000 // free)
                    for order in range(11)]
        assert line.split()[4:] == [f"{v // 1000}.{v % 1000:03d}" for v in expected]


def test_one_free_page_prints_c_arithmetic(mode):
    """One free order-0 page: at order o >= 1 the kernel's index is 1000 - (1000 + 1000/2^o),
    negative, and ``%d.%03d`` of (index / 1000, index % 1000) prints it as C does."""
    k = boot_scenario([(B, B + 1)], mode)
    assert k.show("extfrag_index") == ("Node 0, zone   Normal -1.000 0.-500 0.-250 0.-125 0.-62 "
                                       "0.-31 0.-15 0.-07 0.-03 0.-01 0.000 \n")
    assert k.show("unusable_index") == "Node 0, zone   Normal 0.000" + " 1.000" * 10 + " \n"


def test_no_free_memory(mode):
    k = boot_scenario([], mode)
    assert k.show("extfrag_index") == "Node 0, zone   Normal" + " 0.000" * 11 + " \n"
    assert k.show("unusable_index") == "Node 0, zone   Normal" + " 1.000" * 11 + " \n"


def test_cli_shows_both_files(capsys, monkeypatch):
    from kmemsim.cli import main
    monkeypatch.delenv("KMEMSIM_MODE", raising=False)
    assert main(["boot", "--machine", "tiny", "--show", "extfrag_index,unusable_index"]) == 0
    out = capsys.readouterr().out
    # the SLUB bootstrap split the only order-10 block: an order-10 request would fail for
    # fragmentation (0.775), every smaller one would succeed (-1)
    assert ("Node 0, zone   Normal -1.000 -1.000 -1.000 -1.000 -1.000 -1.000 -1.000 -1.000 "
            "-1.000 -1.000 0.775 \n") in out
    assert ("Node 0, zone   Normal 0.000 0.000 0.000 0.002 0.006 0.014 0.030 0.095 0.224 0.483 "
            "1.000 \n") in out
