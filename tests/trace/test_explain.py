"""kmemsim explain: the two walks of the study notes, checked against gold files and by their
values (gfp masks, alloc_flags, zones, migratetypes, the order __rmqueue_fallback really takes),
the free-list changes, markdown, Korean, and the errors.

KMEMSIM_UPDATE_GOLD=1 rewrites the gold files instead of comparing."""

import os
import re
from pathlib import Path

import pytest

import kmemsim.trace.explain as explain_mod
from kmemsim.cli import main
from kmemsim.errors import KmemsimError
from kmemsim.trace.explain import explain, explain_boot, format_gfp_source, render

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parent / "data"
SEED000 = "examples/seed000.txt"
SEED000_FUNCTIONS = "__alloc_pages_high_priority,__alloc_pages_direct_compact"
# seed 002's chain, in the order the notes walk it
CHAIN_002 = ["kmem_cache_init", "create_boot_cache", "__kmem_cache_create", "kmem_cache_open",
             "init_kmem_cache_nodes", "early_kmem_cache_node_alloc", "new_slab", "allocate_slab",
             "alloc_slab_page", "alloc_pages_exact_node", "__alloc_pages",
             "__alloc_pages_nodemask", "get_page_from_freelist", "zone_watermark_ok",
             "buffered_rmqueue", "rmqueue_bulk", "__rmqueue", "__rmqueue_smallest",
             "__rmqueue_fallback", "try_to_steal_freepages", "expand"]
CHAIN_000 = ["__alloc_pages_direct_compact", "try_to_compact_pages", "compact_zone_order",
             "compact_zone", "compaction_suitable", "migrate_prep_local", "lru_add_drain",
             "lru_add_drain_cpu"]


def gold(name: str, text: str) -> None:
    path = DATA / name
    if os.environ.get("KMEMSIM_UPDATE_GOLD") == "1":
        path.write_text(text)
    assert text == path.read_text()


@pytest.fixture(scope="module")
def seed002():
    """The boot of the arndale board, kmem_cache_init's subtree recorded (mem_init runs
    untraced: nothing it can call matches)."""
    return explain_boot("arndale", patterns="kmem_cache_init*")


@pytest.fixture(scope="module")
def seed000_text():
    return (ROOT / SEED000).read_text()


def first_line(text: str, name: str) -> str:
    """The first call line of ``name`` (its indentation removed)."""
    for line in text.splitlines():
        if line.lstrip().startswith(name + "("):
            return line.strip()
    raise AssertionError(f"no call of {name}")


def test_seed_002_gold(seed002):
    exp, k = seed002
    gold("explain-seed002-arndale.txt", render(exp, k, header="arndale: boot"))


def test_seed_002_markdown_gold(seed002):
    exp, k = seed002
    text = render(exp, k, "markdown", header="arndale: boot")
    gold("explain-seed002-arndale.md", text)
    assert text.startswith("## arndale: boot\n\n### `boot stage kmem_cache_init`\n\n"
                           "- `kmem_cache_init()`\n  - `create_boot_cache(s=0, ")


def test_seed_002_the_chain_and_the_values_of_the_notes(seed002):
    exp, k = seed002
    text = render(exp, k)
    assert [g.title for g in exp.groups] == ["boot stage kmem_cache_init"]
    # the notes' chain, one level deeper each step (zone_watermark_ok is a sibling of
    # buffered_rmqueue under get_page_from_freelist, __rmqueue_fallback of __rmqueue_smallest)
    lines = text.splitlines()
    at = [next(i for i, line in enumerate(lines) if line.lstrip().startswith(n + "("))
          for n in CHAIN_002]
    assert at == sorted(at)
    indent = {n: len(lines[i]) - len(lines[i].lstrip()) for n, i in zip(CHAIN_002, at)}
    assert [indent[n] // 2 for n in CHAIN_002] == [
        0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 13, 14, 15, 16, 16, 17, 17]
    assert first_line(text, "create_boot_cache") == (
        'create_boot_cache(s=0, name="kmem_cache_node", size=44, '
        'flags=0x2000 (SLAB_HWCACHE_ALIGN))')
    assert first_line(text, "new_slab").startswith(
        "new_slab(s=0 (kmem_cache_node), flags=0x0 (GFP_NOWAIT), node=0)")
    assert first_line(text, "alloc_slab_page").startswith(
        "alloc_slab_page(flags=0x1200 (GFP_NOWAIT|__GFP_NOWARN|__GFP_NORETRY), node=0, "
        "oo=0x40 (order 0, 64 objects))")
    assert first_line(text, "__alloc_pages_nodemask").startswith(
        "__alloc_pages_nodemask(gfp_mask=0x201200 (GFP_NOWAIT|__GFP_NOWARN|__GFP_NORETRY|"
        "__GFP_NOTRACK), order=0, zonelist=0, nodemask=NULL)")
    assert first_line(text, "get_page_from_freelist").startswith(
        "get_page_from_freelist(gfp_mask=0x221200 (GFP_NOWAIT|__GFP_NOWARN|__GFP_NORETRY|"
        "__GFP_HARDWALL|__GFP_NOTRACK), nodemask=NULL, order=0, zonelist=0, "
        "high_zoneidx=ZONE_NORMAL (0), alloc_flags=0x41 (ALLOC_WMARK_LOW|ALLOC_CPUSET), "
        "preferred_zone=Normal (0), migratetype=MIGRATE_UNMOVABLE (0)) = pfn 0x4f000 (323584)")
    assert first_line(text, "zone_watermark_ok") == (
        "zone_watermark_ok(z=Normal (0), order=0, mark=0, classzone_idx=ZONE_NORMAL (0), "
        "alloc_flags=0x41 (ALLOC_WMARK_LOW|ALLOC_CPUSET)) = true")
    assert "rmqueue_bulk(zone=Normal (0), order=0, count=1, head=Normal pcp[cpu 0]" \
           ".lists[MIGRATE_UNMOVABLE]" in text
    assert first_line(text, "__rmqueue_smallest").endswith(") = NULL")
    # the notes assumed order 5 ("가정"): the arndale board has only MOVABLE order-10 blocks
    assert first_line(text, "try_to_steal_freepages") == (
        "try_to_steal_freepages(zone=Normal (0), page=pfn 0x4f000 (323584), "
        "start_type=MIGRATE_UNMOVABLE (0), fallback_type=MIGRATE_MOVABLE (2)) = "
        "MIGRATE_UNMOVABLE (0)")
    assert first_line(text, "expand") == (
        "expand(zone=Normal (0), page=pfn 0x4f000 (323584), low=0, high=10, "
        "migratetype=MIGRATE_UNMOVABLE (0))")
    # the free lists: the order-10 block leaves its MOVABLE list, expand puts its halves on
    # the UNMOVABLE lists (order 9 first), the page goes to the CPU's list and out
    changes = [line.strip() for line in text.splitlines()[at[-3]:at[-1] + 16]
               if "↳" in line]
    assert changes[0] == ("↳ pfn 0x4f000 order 10: Normal free_area[10].free_list"
                          "[MIGRATE_MOVABLE] → (off the lists)")
    assert changes[1:11] == [f"↳ pfn {0x4f000 + (1 << o):#x} order {o} → Normal free_area[{o}]"
                             f".free_list[MIGRATE_UNMOVABLE]" for o in range(10)]     # in pfn order
    assert changes[11:13] == [
        "↳ pfn 0x4f000 order 0 → Normal pcp[cpu 0].lists[MIGRATE_UNMOVABLE]",
        "↳ pfn 0x4f000 order 0: Normal pcp[cpu 0].lists[MIGRATE_UNMOVABLE] → (off the lists)"]
    assert "… 8 more calls to create_kmalloc_cache" in text
    assert len(text.splitlines()) < 300


def test_stages_nothing_can_match_run_untraced_with_the_same_result(monkeypatch):
    """The shortcut of explain_boot (a stage that cannot reach a selected function is not
    traced) changes nothing: the same text with every stage traced."""
    fast = render(*explain_boot("tiny", patterns="kmem_cache_init*,__free_one_page"))
    monkeypatch.setattr(explain_mod, "_may_reach", lambda stage, patterns: True)
    slow = render(*explain_boot("tiny", patterns="kmem_cache_init*,__free_one_page"))
    assert fast == slow
    assert "== boot stage mem_init\n__free_one_page(" in fast


def test_seed_000_gold_through_the_cli(capsys, monkeypatch):
    monkeypatch.chdir(ROOT)
    monkeypatch.delenv("KMEMSIM_MODE", raising=False)
    assert main(["explain", SEED000, "--machine", "tiny", "--repeat", "3",
                 "--functions", SEED000_FUNCTIONS]) == 0
    out = capsys.readouterr().out
    gold("explain-seed000-tiny.txt", out)
    assert out.startswith("# tiny: examples/seed000.txt\n\n== examples/seed000.txt:62: "
                          "alloc x 2 GFP_KERNEL|__GFP_NOFAIL task=kd\n"
                          "prints: x pfn=1028 order=2 zone=Normal migratetype=Unmovable\n"
                          "__alloc_pages_high_priority(gfp_mask=0x8d0 (GFP_KERNEL|"
                          "__GFP_NOFAIL), order=2, ")


def test_seed_000_walks_the_slow_path_of_the_notes(seed000_text):
    text = explain(SEED000, seed000_text, machine="tiny", functions=SEED000_FUNCTIONS,
                   repeat=3)
    x, y = text.split("\n\n== ")[1:]
    # PF_MEMALLOC: no watermarks; __GFP_NOFAIL: wait and retry until the deferred free
    assert "get_page_from_freelist(gfp_mask=0x8d0 (GFP_KERNEL|__GFP_NOFAIL), nodemask=NULL, " \
           "order=2, zonelist=0, high_zoneidx=ZONE_NORMAL (0), alloc_flags=0x4 " \
           "(ALLOC_WMARK_MIN|ALLOC_NO_WATERMARKS)" in x
    assert x.count("\n  wait_iff_congested(zone=Normal (0), sync=0, timeout=2) = 0") == 2
    assert "    run_timers()  # kmemsim: deferred frees whose time has come\n" \
           "      __free_pages(page=pfn 0x404 (1028), order=2)" in x
    # an ordinary task compacts: the chain of the notes, one level deeper each step
    lines = y.splitlines()
    at = [next(i for i, line in enumerate(lines) if line.lstrip().startswith(n + "("))
          for n in CHAIN_000]
    assert at == sorted(at)
    assert [len(lines[i]) - len(lines[i].lstrip()) for i in at] == [0, 2, 4, 6, 8, 8, 10, 12]
    assert first_line(y, "compaction_suitable") == \
        "compaction_suitable(zone=Normal (0), order=2) = COMPACT_CONTINUE (1)"
    assert "fragmentation_index(zone=Normal (0), order=2) = 650" in y
    assert first_line(y, "compact_zone") == (
        "compact_zone(zone=Normal (0), cc=compact_control(order=2, migratetype="
        "MIGRATE_UNMOVABLE, sync=false, zone=Normal (0))) = COMPACT_COMPLETE (3)")
    assert first_line(y, "lru_add_drain_cpu") == "lru_add_drain_cpu(cpu=0)"


def test_seed_000_in_korean(seed000_text):
    text = explain(SEED000, seed000_text, machine="tiny", functions=SEED000_FUNCTIONS,
                   lang="ko")
    gold("explain-seed000-tiny.ko.txt", text)
    assert "출력: x pfn=1028 order=2 zone=Normal migratetype=Unmovable" in text
    assert "  … get_page_from_freelist 호출 2번 더 (생략)" in text
    assert "schedule_kthreads()  # kmemsim: 다른 태스크 차례 (kswapd, 지연된 해제)" in text
    # kernel names and values are never translated
    english = explain(SEED000, seed000_text, machine="tiny", functions=SEED000_FUNCTIONS)
    calls = re.compile(r"^\s*[\w]+\(.*$", re.M)
    assert calls.findall(text.replace("다른 태스크 차례 (kswapd, 지연된 해제)",
                                      "the other tasks' turn (kswapd, deferred frees)")) == \
        calls.findall(english)


def test_depth_and_markdown_free_list_lines():
    script = "alloc a 3 GFP_KERNEL\nfree a\n"
    text = explain("s.txt", script, machine="tiny", functions="__rmqueue", depth=0)
    assert text == ("# tiny: s.txt\n\n== s.txt:1: alloc a 3 GFP_KERNEL\n"
                    "prints: a pfn=1032 order=3 zone=Normal migratetype=Unmovable\n"
                    "__rmqueue(zone=Normal (0), order=3, migratetype=MIGRATE_UNMOVABLE (0)) = "
                    "pfn 0x408 (1032)\n"
                    "  … 1 call below (--depth)\n"
                    "  ↳ pfn 0x408 order 3: free_area[3].free_list[MIGRATE_UNMOVABLE] → "
                    "(off the lists)\n")
    md = explain("s.txt", script, machine="tiny", functions="__free_one_page", fmt="markdown")
    assert md == ("## tiny: s.txt\n\n### `s.txt:2: free a`\n\n"
                  "- `__free_one_page(page=pfn 0x408 (1032), zone=Normal (0), order=3, "
                  "migratetype=MIGRATE_UNMOVABLE (0))`\n"
                  "  - pfn 0x408 order 3 → free_area[3].free_list[MIGRATE_UNMOVABLE]\n")


def test_gfp_in_the_source_spelling():
    assert format_gfp_source(0x201200) == "GFP_NOWAIT|__GFP_NOWARN|__GFP_NORETRY|__GFP_NOTRACK"
    assert format_gfp_source(0xd0) == "GFP_KERNEL"
    assert format_gfp_source(0x40d0) == "GFP_KERNEL|__GFP_COMP"
    assert format_gfp_source(0x200da) == "GFP_HIGHUSER_MOVABLE"
    assert format_gfp_source(0) == "GFP_NOWAIT"


@pytest.mark.parametrize("argv,message", [
    (["--machine", "nope", SEED000],
     "unknown machine 'nope': use one of x86_64, arndale, numa, tiny or a TOML file "
     "(see 'kmemsim machines')"),
    (["--machine", "tiny", "--functions", "nosuch*", SEED000],
     "--functions nosuch*: no kernel function matches it (see docs/kernel-map.md for their "
     "names)"),
    (["--machine", "tiny"], "explain: give a SCRIPT (or - for stdin), or --boot"),
    (["--boot", SEED000], "--boot explains the boot stages: give no SCRIPT with it"),
    (["--boot", "--mode", "compiled"],
     "explain traces kernel functions as Python: --mode compiled cannot be traced"),
    (["--boot", "--depth", "-1"], "--depth -1: give 0 or more (0: the selected calls alone)"),
    (["nothing.txt"], "nothing.txt: cannot read the script: No such file or directory"),
])
def test_errors_are_one_line(capsys, monkeypatch, argv, message):
    monkeypatch.chdir(ROOT)
    assert main(["explain", *argv]) == 1
    captured = capsys.readouterr()
    assert (captured.out, captured.err) == ("", f"kmemsim: error: {message}\n")


def test_a_bad_script_line_stops_before_the_boot(capsys, monkeypatch):
    import io
    monkeypatch.setattr("sys.stdin", io.StringIO("alloc a 0 GFP_KERNEL\nfrob\n"))
    assert main(["explain", "-", "--machine", "tiny"]) == 1
    assert capsys.readouterr().err.startswith(
        "kmemsim: error: <stdin>:2: unknown operation 'frob': use one of alloc, ")


def test_library_errors():
    with pytest.raises(KmemsimError, match="unknown format 'html'"):
        explain(SEED000, "check\n", machine="tiny", fmt="html")
    with pytest.raises(KmemsimError, match="unknown language 'fr'"):
        explain(SEED000, "check\n", machine="tiny", lang="fr")
    from kmemsim.trace.explain import explain_script

    class Compiled:
        mode = "compiled"
    with pytest.raises(KmemsimError, match="explain traces kernel functions as Python"):
        explain_script(Compiled(), "check\n")
