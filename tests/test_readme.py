"""The README's commands and Python example work as written."""

import contextlib
import io
import re
from pathlib import Path

import kmemsim
from conftest import code_blocks

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()


def blocks(lang):
    """The fenced code blocks of the README whose info string is ``lang``."""
    return code_blocks(README, lang)


def test_readme_opens_with_the_two_commands():
    first = blocks("sh")[0].splitlines()
    assert first[0].startswith("pip install . && kmemsim boot")
    assert first[1].startswith("pip install -e '.[test]' && python -m pytest")
    ci = (Path(__file__).resolve().parents[1] / ".ci" / "run").read_text()
    assert "pip install -q -e '.[test]' && python -m pytest -q" in ci


def test_python_example_runs_and_prints_what_it_says():
    code = blocks("python")[0]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(code, "README.md", "exec"), {})
    lines = out.getvalue().splitlines()
    promised = re.search(r"print\(a\)\s+# (.*)", code).group(1)
    assert lines[0] == promised
    k = kmemsim.boot("x86_64", mem="1G")            # the same steps by hand
    k.free(k.alloc(0, "GFP_KERNEL"))
    assert "\n".join(lines[1:]) + "\n" == k.show("buddyinfo")


def test_script_example_in_readme_parses():
    from kmemsim.script import parse_script
    script = [b for b in blocks("") if b.startswith("alloc")][0]
    ops = parse_script(script)
    assert [op.name for op in ops] == ["alloc", "alloc", "free", "show", "check"]


def test_slab_example_in_readme_runs():
    import kmemsim
    from kmemsim.script import run_script
    script = [b for b in blocks("") if b.startswith("kmalloc")][0]
    out = run_script(kmemsim.boot("x86_64", mem="1G"), script)
    first = out.splitlines()[0]
    assert first.startswith("p addr=0xffff8800") and " cache=kmalloc-128 size=100 " in first
    assert "inode_like: size=640 objperslab=12 pagesperslab=2" in out     # one CPU: order 1
    assert "slabinfo - version: 2.1" in out
