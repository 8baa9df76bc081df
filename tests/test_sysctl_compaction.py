"""vm.compact_memory and vm.extfrag_threshold (mm/compaction.c sysctl_compaction_handler,
sysctl_extfrag_handler, v3.13) through Kernel.sysctl, scripts and the command line, and the
examples of docs/compaction.md, which must print what the page says."""

import contextlib
import io
import os
from pathlib import Path

import pytest

import kmemsim
from kmemsim.cli import main
from kmemsim.errors import KmemsimError
from kmemsim.mm.mmzone import CFG_COMPACTION, CFG_EXTFRAG_THRESHOLD
from kmemsim.script import run_script
from kmemsim.sysctl import sysctl_read
from conftest import code_blocks

DOC = (Path(__file__).resolve().parents[1] / "docs" / "compaction.md").read_text()
TINY_BOARD = ("Node 0, zone   Normal    864      0      0      0      0      0      0      0"
              "      1      0      0 \n")
TINY_COMPACTED = ("Node 0, zone   Normal     32      0      0      0      0      0      1      2"
                  "      1      1      0 \n")


def blocks(lang):
    """The fenced code blocks of docs/compaction.md whose info string is ``lang``."""
    return code_blocks(DOC, lang)


def tiny_board(mode):
    """Tasks a and b take turns faulting 864 pages each on tiny; b exits: 864 single free
    pages (docs/compaction.md explains the layout)."""
    k = kmemsim.boot("tiny", mode=mode, slab=False)
    k.task("a")
    k.task("b")
    for _ in range(864):
        k.fault("a", 1)
        k.fault("b", 1)
    k.exit("b")
    assert k.show("buddyinfo") == TINY_BOARD
    return k


# ---- vm.extfrag_threshold -----------------------------------------------------------------------

def test_show_sysctl_has_extfrag_threshold_but_not_the_write_only_compact_memory():
    k = kmemsim.boot("tiny")
    assert k.show("sysctl") == ("vm.drop_caches = 0\n"
                                "vm.extfrag_threshold = 500\n"
                                "vm.lowmem_reserve_ratio = 32\n"
                                "vm.min_free_kbytes = 356\n"
                                "vm.percpu_pagelist_fraction = 0\n"
                                "vm.zone_reclaim_mode = 0\n")


@pytest.mark.parametrize("text, value", [("0", 0), ("1000", 1000), ("0x1f4", 500), ("42", 42)])
def test_extfrag_threshold_is_what_compaction_suitable_reads(text, value):
    k = kmemsim.boot("tiny")
    k.sysctl(f"vm.extfrag_threshold={text}")
    assert k.mem.cfg[CFG_EXTFRAG_THRESHOLD] == value
    assert sysctl_read(k, "vm.extfrag_threshold") == str(value)
    assert f"vm.extfrag_threshold = {value}\n" in k.show("sysctl")


@pytest.mark.parametrize("text", ["1001", "-1", "many", ""])
def test_extfrag_threshold_out_of_range_is_one_clear_error(text):
    k = kmemsim.boot("tiny")
    k.sysctl("extfrag_threshold=300")
    with pytest.raises(KmemsimError) as e:
        k.sysctl(f"vm.extfrag_threshold={text}")
    assert str(e.value) == (f"sysctl vm.extfrag_threshold={text}: Invalid argument: use a "
                            f"number from 0 to 1000 (3.13 would ignore this write without an "
                            f"error and keep 300)")
    assert k.mem.cfg[CFG_EXTFRAG_THRESHOLD] == 300


def test_the_script_error_names_the_line():
    k = kmemsim.boot("tiny")
    with pytest.raises(KmemsimError, match=r"^script:2: sysctl vm.extfrag_threshold=2000: "
                                           r"Invalid argument: use a number from 0 to 1000"):
        "".join(run_script(k, "show sysctl\nsysctl vm.extfrag_threshold=2000\n"))


# ---- vm.compact_memory --------------------------------------------------------------------------

def test_compact_memory_is_write_only():
    k = kmemsim.boot("tiny")
    with pytest.raises(KmemsimError) as e:
        sysctl_read(k, "vm.compact_memory")
    assert str(e.value) == ("sysctl vm.compact_memory: permission denied: the file is "
                            "write-only (write vm.compact_memory=1)")


def test_compact_memory_compacts_every_zone(mode):
    """On tiny the first write moves nothing (the zone starts at pfn 0, where a zeroed
    struct zone caches both scanners); after kswapd's reset_isolation_suitable the same write
    compacts the zone: the numbers of docs/compaction.md.  Any value does: the handler does
    not read it."""
    k = tiny_board(mode)
    k.sysctl("vm.compact_memory=1")
    k.check()
    assert k.show("buddyinfo") == TINY_BOARD
    k.fn.reset_isolation_suitable(k.mem, 0)
    k.sysctl("vm.compact_memory=anything")
    k.check()
    assert k.show("buddyinfo") == TINY_COMPACTED
    vmstat = dict(line.split() for line in k.show("vmstat").splitlines())
    assert [int(vmstat[n]) for n in ("pgmigrate_success", "compact_migrate_scanned",
                                     "compact_free_scanned", "compact_isolated",
                                     "compact_stall")] == [416, 1215, 1600, 864, 0]


def test_without_config_compaction_the_sysctls_do_not_exist(mode):
    k = tiny_board(mode)
    k.mem.cfg[CFG_COMPACTION] = 0
    for assignment in ("vm.compact_memory=1", "vm.extfrag_threshold=100"):
        with pytest.raises(KmemsimError, match=r"^unknown sysctl 'vm\.\w+' \(this kernel runs "
                                               r"without CONFIG_COMPACTION\): kmemsim models "
                                               r"vm\.drop_caches, vm\.lowmem_reserve_ratio, "):
            k.sysctl(assignment)
    assert "extfrag_threshold" not in k.show("sysctl")
    assert k.show("buddyinfo") == TINY_BOARD
    k.check()


# ---- docs/compaction.md ------------------------------------------------------------------------

def test_the_python_example_prints_what_the_page_says():
    code, = [b for b in blocks("python") if "kmemsim.boot" in b]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "docs/compaction.md", "exec"), {})
    assert out.getvalue() == blocks("text")[0]


def test_the_script_example_runs_alike_in_both_modes(mode, tmp_path):
    """The page's script generator, run with run_script on x86_64 64M: the output the page
    shows (compiled mode must give the same pages)."""
    generator, = [b for b in blocks("python") if "frag.txt" in b]
    cwd = os.getcwd()
    try:
        os.chdir(tmp_path)
        exec(compile(generator, "docs/compaction.md", "exec"), {})
    finally:
        os.chdir(cwd)
    script = (tmp_path / "frag.txt").read_text()
    k = kmemsim.boot("x86_64", mem="64M", mode=mode)
    assert "".join(run_script(k, script)) == blocks("text")[1]
    k.check()


def test_the_command_line_prints_what_the_page_says(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("KMEMSIM_MODE", raising=False)
    generator, = [b for b in blocks("python") if "frag.txt" in b]
    monkeypatch.chdir(tmp_path)
    exec(compile(generator, "docs/compaction.md", "exec"), {})
    assert "`kmemsim run frag.txt --machine x86_64 --mem 64M` prints:" in DOC
    assert main(["run", "frag.txt", "--machine", "x86_64", "--mem", "64M"]) == 0
    out, err = capsys.readouterr()
    assert (out, err) == (blocks("text")[1], "")
