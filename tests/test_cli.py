"""The kmemsim command: kmemsim.cli.main(argv) returns the exit status; output is exact, and
every mistake is one ``kmemsim: error:`` line on stderr, never a traceback."""

import io
import subprocess
import sys
from pathlib import Path

import pytest

from kmemsim.cli import main
from kmemsim.kernel import report_names
from kmemsim.machine import load_toml
from kmemsim.presets import get_machine

ROOT = Path(__file__).resolve().parents[1]

# after boot: the SLUB bootstrap's 3 slab pages (1024-1026) split the order-10 block
TINY_BUDDYINFO = ("Node 0, zone   Normal      1      0      1      1      1      1      2      2"
                  "      2      2      0 \n")


@pytest.fixture(autouse=True)
def python_mode(monkeypatch):
    """The default mode (python), whatever KMEMSIM_MODE the caller's shell has."""
    monkeypatch.delenv("KMEMSIM_MODE", raising=False)


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    assert "Traceback" not in out and "Traceback" not in err
    return code, out, err


def error(capsys, *argv, code=1) -> str:
    """Run a command that must fail; return its one error line (without the prefix)."""
    got, out, err = run(capsys, *argv)
    assert got == code
    assert out == ""
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith("kmemsim: error: ")
    return err[len("kmemsim: error: "):-1]


# ---- boot ------------------------------------------------------------------------------------

def test_boot_tiny(capsys):
    code, out, err = run(capsys, "boot", "--machine", "tiny")
    assert (code, err) == (0, "")
    lines = out.splitlines(keepends=True)
    assert lines[0] == "# tiny: made-up 8 MiB machine: one Normal zone, pageblock order 6\n"
    assert "Built 1 zonelists in Zone order, mobility grouping on.  Total pages: 2016\n" in lines
    assert "# /proc/buddyinfo\n" in lines
    assert lines[lines.index("# /proc/buddyinfo\n") + 1] == TINY_BUDDYINFO
    assert "# /proc/pagetypeinfo\n" in lines
    # dmesg first, then buddyinfo, then pagetypeinfo, one blank line between them
    assert out.index("Total pages: 2016") < out.index("\n\n# /proc/buddyinfo\n") \
        < out.index("\n\n# /proc/pagetypeinfo\n")


def test_boot_x86_64_1g_buddyinfo_only(capsys):
    code, out, err = run(capsys, "boot", "--machine", "x86_64", "--mem", "1G",
                         "--show", "buddyinfo", "--no-dmesg")
    assert (code, err) == (0, "")
    assert out == (
        "# /proc/buddyinfo\n"
        "Node 0, zone      DMA      1      0      0      1      2      1      1      0      1"
        "      1      3 \n"
        "Node 0, zone    DMA32      4      5      5      4      5      4      6      5      3"
        "      1    243 \n")


def test_boot_show_none_no_dmesg_prints_nothing(capsys):
    assert run(capsys, "boot", "-m", "tiny", "--show", "none", "--no-dmesg") == (0, "", "")


def test_boot_a_machine_file(capsys):
    code, out, err = run(capsys, "boot", "--machine", str(ROOT / "examples" / "tiny.toml"),
                         "--show", "buddyinfo", "--no-dmesg")
    assert (code, err) == (0, "")
    assert out == ("# /proc/buddyinfo\n"
                   "Node 0, zone   Normal      1      0      1      1      1      1      1"
                   "      1      2      2      2 \n")


# ---- machines --------------------------------------------------------------------------------

def test_machines_lists_one_line_per_preset(capsys):
    code, out, err = run(capsys, "machines")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert [line.split()[0] for line in lines] == ["x86_64", "arndale", "numa", "tiny"]
    assert lines[3] == ("tiny     8 MiB made-up machine, one Normal zone, pageblock order 6: "
                        "small enough to print whole")


@pytest.mark.parametrize("name,mem", [("tiny", None), ("x86_64", "4G")])
def test_machines_dump_loads_back(capsys, tmp_path, name, mem):
    argv = ["machines", "--dump", name] + (["--mem", mem] if mem else [])
    code, out, err = run(capsys, *argv)
    assert (code, err) == (0, "")
    path = tmp_path / f"{name}.toml"
    path.write_text(out)
    assert load_toml(path) == get_machine(name, mem=mem)


def test_machines_dump_tiny_text(capsys):
    code, out, _ = run(capsys, "machines", "--dump", "tiny")
    assert code == 0
    assert out.startswith('# kmemsim machine description (see docs/machines.md)\nname = "tiny"\n')
    assert '  { type = "Normal", start = "0x0", end = "0x800000" },\n' in out
    assert '  { start = "0x100000", end = "0x140000", name = "kernel" },\n' in out


# ---- gfp -------------------------------------------------------------------------------------

def test_gfp_decodes_a_mask(capsys):
    assert run(capsys, "gfp", "0x201200") == (
        0, "0x201200 (GFP_NOWARN|GFP_NORETRY|GFP_NOTRACK)  trace spelling: "
           "GFP_NOWARN|GFP_NORETRY|GFP_NOTRACK\n", "")


def test_gfp_list(capsys):
    code, out, err = run(capsys, "gfp", "--list")
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert "     0xd0  GFP_KERNEL" in lines
    assert "    0x200  __GFP_NOWARN" in lines
    values = [int(line.split()[0], 16) for line in lines]
    assert values == sorted(values)


# ---- run -------------------------------------------------------------------------------------

def test_run_a_script(capsys, tmp_path):
    script = tmp_path / "s.txt"
    script.write_text("# steal, then give back\nalloc a 0 GFP_KERNEL\n\nalloc m 9 "
                      "GFP_HIGHUSER_MOVABLE\nfree a\nfree m\nshow buddyinfo\ncheck\n")
    assert run(capsys, "run", str(script), "--machine", "tiny", "--check") == (
        0, "a pfn=1027 order=0 zone=Normal migratetype=Unmovable\n"
           "m pfn=512 order=9 zone=Normal migratetype=Movable\n" + TINY_BUDDYINFO, "")


def test_run_from_stdin(capsys, monkeypatch):
    monkeypatch.setattr(sys, "stdin", io.StringIO("alloc a 0 GFP_KERNEL\nfree a\nfree a\n"))
    code, out, err = run(capsys, "run", "-", "-m", "tiny")
    assert code == 1
    assert out == "a pfn=1027 order=0 zone=Normal migratetype=Unmovable\n"
    assert err == "kmemsim: error: <stdin>:3: double free of 'a': it was already freed\n"


# ---- errors: exit 1 for a KmemsimError, 2 for a malformed command line ------------------------

def test_unknown_machine(capsys):
    assert error(capsys, "boot", "--machine", "nosuch") == (
        "unknown machine 'nosuch': use one of x86_64, arndale, numa, tiny or a TOML file "
        "(see 'kmemsim machines')")


def test_unknown_show_file(capsys):
    assert error(capsys, "boot", "--machine", "tiny", "--show", "buddyinfo,slabinfos") == \
        f"--show slabinfos: unknown file: use one of {', '.join(report_names())}"


def test_unknown_option(capsys):
    message = error(capsys, "boot", "--bogus", code=2)
    assert message.startswith("No such option '--bogus'")
    assert message.endswith("(see 'kmemsim boot --help')")


def test_unknown_command(capsys):
    assert error(capsys, "nosuch", code=2) == "No such command 'nosuch'. (see 'kmemsim --help')"


def test_bad_option_value(capsys):
    assert error(capsys, "boot", "--cpus", "x", code=2) == (
        "Invalid value for '--cpus': 'x' is not a valid integer. (see 'kmemsim boot --help')")


@pytest.mark.parametrize("machine", ["x86_64", "tiny"])
def test_bad_mem(capsys, machine):
    assert error(capsys, "boot", "--machine", machine, "--mem", "3X") == (
        "--mem: cannot read '3X': write bytes (4096), hex (0x1000) or a size with a unit "
        "(16M, 4G)")


def test_mem_too_small_for_x86_64(capsys):
    assert error(capsys, "boot", "--mem", "16M") == \
        "--mem 16M: the x86_64 preset needs a whole number of MiB, at least 32M"


def test_unreadable_script(capsys, tmp_path):
    missing = tmp_path / "nope.txt"
    assert error(capsys, "run", str(missing), "--machine", "tiny") == \
        f"{missing}: cannot read the script: No such file or directory"


def test_malformed_script_line(capsys, tmp_path):
    script = tmp_path / "bad.txt"
    script.write_text("alloc a 0 GFP_KERNEL\n# fine so far\nalloc b zero GFP_KERNEL\n")
    # the whole script is parsed first: nothing runs, nothing is printed on stdout
    assert error(capsys, "run", str(script), "--machine", "tiny") == \
        f"{script}:3: order 'zero' is not a number: use 0..10"


def test_order_11(capsys, tmp_path):
    script = tmp_path / "o.txt"
    script.write_text("alloc a 11 GFP_KERNEL\n")
    assert error(capsys, "run", str(script), "--machine", "tiny") == \
        f"{script}:1: order 11 is impossible: use 0..10"


def test_double_free(capsys, tmp_path):
    script = tmp_path / "df.txt"
    script.write_text("alloc a 0 GFP_KERNEL\nfree a\n\nfree a\n")
    code, out, err = run(capsys, "run", str(script), "--machine", "tiny")
    assert code == 1
    assert out == "a pfn=1027 order=0 zone=Normal migratetype=Unmovable\n"
    assert err == f"kmemsim: error: {script}:4: double free of 'a': it was already freed\n"


def test_free_of_unknown_id(capsys, tmp_path):
    script = tmp_path / "u.txt"
    script.write_text("free zz\n")
    assert error(capsys, "run", str(script), "--machine", "tiny") == \
        f"{script}:1: free of unknown id 'zz': no allocation has that id"


def test_unknown_gfp_flag(capsys):
    message = error(capsys, "gfp", "GFP_KERNEL|__GFP_BOGUS")
    assert message.startswith("unknown GFP flag '__GFP_BOGUS' in 'GFP_KERNEL|__GFP_BOGUS'")
    assert message.endswith("(see 'kmemsim gfp --list')")


def test_unknown_gfp_flag_in_a_script(capsys, tmp_path):
    script = tmp_path / "g.txt"
    script.write_text("alloc a 0 GFP_BOGUS\n")
    message = error(capsys, "run", str(script), "-m", "tiny")
    assert message.startswith(f"{script}:1: unknown GFP flag 'GFP_BOGUS'")


def test_gfp_without_a_mask(capsys):
    assert error(capsys, "gfp") == "gfp: give a mask (GFP_KERNEL, 0xd0, ...) or --list"


def test_bad_machine_file(capsys, tmp_path):
    path = tmp_path / "m.toml"
    path.write_text('arch = "sparc"\n')
    assert error(capsys, "boot", "--machine", str(path)) == \
        f"{path}: unknown arch 'sparc': use one of x86_64, arm, generic"


def test_mem_with_a_machine_file(capsys):
    path = str(ROOT / "examples" / "tiny.toml")
    assert error(capsys, "boot", "--machine", path, "--mem", "1G") == \
        f"{path}: --mem, --nodes and --cma apply to presets only; edit the file"


# ---- the module entry point ------------------------------------------------------------------

def test_python_dash_m_version():
    proc = subprocess.run([sys.executable, "-m", "kmemsim", "--version"], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert (proc.returncode, proc.stdout, proc.stderr) == (0, "kmemsim, version 0.1.0\n", "")


def test_no_slab_boots_without_kmem_cache_init(capsys):
    code, out, err = run(capsys, "boot", "-m", "tiny", "--no-slab", "--show", "buddyinfo",
                         "--no-dmesg")
    assert (code, err) == (0, "")
    # nothing allocated at boot: [1024, 2048) is still one order-10 block
    assert out == ("# /proc/buddyinfo\nNode 0, zone   Normal      0      0      0      0      0"
                   "      0      1      1      1      1      1 \n")


def test_no_slab_refuses_slab_operations(capsys, tmp_path):
    script = tmp_path / "k.txt"
    script.write_text("kmalloc a 8 GFP_KERNEL\n")
    assert error(capsys, "run", str(script), "-m", "tiny", "--no-slab") == (
        f"{script}:1: this machine boots without the slab allocator (--no-slab, or slab = false "
        "in its file): kmalloc and kmem_cache_* need it")
