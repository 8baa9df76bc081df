"""kmemsim scripts (kmemsim.script): parsing, exact output of allocations on booted machines,
and the promise that a bad line changes nothing."""

import re
from pathlib import Path

import numpy as np
import pytest

import kmemsim
from kmemsim.kernel import report_names
from kmemsim.errors import KmemsimError
from kmemsim.script import Op, parse_script, run_script


def without_slab(name, **kw):
    """A preset with ``slab = false``: the hand-worked buddy derivations below start from a
    boot that allocated nothing (kmem_cache_init skipped; tests/mm/test_slub.py and
    docs/slub.md cover what it takes)."""
    import dataclasses

    from kmemsim.presets import get_machine
    return dataclasses.replace(get_machine(name, **kw), slab=False)


def boot_tiny():
    return kmemsim.boot(without_slab("tiny"), mode="python")


def boot_1g():
    return kmemsim.boot(without_slab("x86_64", mem="1G"), mode="python")


def state(k):
    """Everything a script can change: every array of the allocator and the id bookkeeping."""
    return ({name: getattr(k.mem, name).copy() for name in k.mem._fields},
            dict(k.live), set(k.freed))


def assert_same_state(k, ref):
    arrays, live, freed = state(k)
    ref_arrays, ref_live, ref_freed = ref
    for name, arr in arrays.items():
        assert np.array_equal(arr, ref_arrays[name]), name
    assert (live, freed) == (ref_live, ref_freed)


# ---- parsing ---------------------------------------------------------------------------------

def test_parse_ignores_comments_and_blank_lines():
    ops = parse_script("# a comment\n\n   \nalloc a 0 GFP_KERNEL   # trailing comment\n"
                       "\t# indented comment\nfree a\nshow buddyinfo\ncheck\n")
    assert ops == [Op(4, "alloc", ("a", 0, 0xD0)), Op(6, "free", ("a",)),
                   Op(7, "show", ("buddyinfo",)), Op(8, "check", ())]


def test_parse_reads_gfp_expressions_and_hex_orders():
    ops = parse_script("alloc a 0x3 GFP_KERNEL|__GFP_COMP\nalloc b 9 0x201200\n")
    assert ops == [Op(1, "alloc", ("a", 3, 0xD0 | 0x4000)), Op(2, "alloc", ("b", 9, 0x201200))]
    assert parse_script("alloc c 0 GFP_KERNEL cpu=1 node=0\n") == \
        [Op(1, "alloc", ("c", 0, 0xD0), {"cpu": 1, "node": 0})]


@pytest.mark.parametrize("line,message", [
    ("alloc b 11 GFP_KERNEL", "order 11 is impossible: use 0..10"),
    ("alloc b -1 GFP_KERNEL", "order -1 is impossible: use 0..10"),
    ("alloc b zero GFP_KERNEL", "order 'zero' is not a number: use 0..10"),
    ("alloc b 0", "alloc takes 3 arguments: alloc ID ORDER GFP [cpu=N] [node=N] [task=NAME]"),
    ("alloc b 0 GFP_KERNEL cpu=x", "cpu='x' is not a number"),
    ("free", "free takes 1 argument: free ID [cpu=N] [after=N]"),
    ("drain now", "drain takes 0 arguments: drain [cpu=N]"),
    ("sysctl min_free_kbytes", "sysctl takes NAME=VALUE, e.g. vm.min_free_kbytes=2048"),
    ("check now", "check takes 0 arguments: check"),
    ("show slabinfos", f"unknown file 'slabinfos': use one of {', '.join(report_names())}"),
    ("frob a", "unknown operation 'frob': use one of alloc, free, drain, sysctl, show, check, "
              "task, file, tmpfs, fault, read, write, touch, munmap, truncate, kill, tick, "
              "kmem_cache_create, kmem_cache_alloc, kmalloc, kfree, kmem_cache_free, "
              "kmem_cache_shrink, kmem_cache_destroy"),
])
def test_parse_errors_name_the_line(line, message):
    with pytest.raises(KmemsimError) as e:
        parse_script(f"# first line\nalloc a 0 GFP_KERNEL\n{line}\n", "t.txt")
    assert str(e.value) == f"t.txt:3: {message}"


def test_parse_error_for_an_unknown_gfp_flag_names_the_line():
    with pytest.raises(KmemsimError) as e:
        parse_script("alloc a 0 GFP_KERNEL|__GFP_BOGUS\n", "t.txt")
    assert str(e.value).startswith("t.txt:1: unknown GFP flag '__GFP_BOGUS'")
    assert "\n" not in str(e.value)


def test_a_parse_error_leaves_the_kernel_untouched():
    k = boot_tiny()
    before_info, before = k.show("buddyinfo"), state(k)
    with pytest.raises(KmemsimError) as e:
        run_script(k, "alloc a 0 GFP_KERNEL\nalloc b 3 GFP_KERNEL\nalloc c 11 GFP_KERNEL\n")
    assert str(e.value) == "script:3: order 11 is impossible: use 0..10"
    assert k.show("buddyinfo") == before_info
    assert_same_state(k, before)


# ---- exact output on tiny --------------------------------------------------------------------

TINY_FREE = ("Node 0, zone   Normal      0      0      0      0      0      0      1      1"
             "      1      1      1 \n")


def test_tiny_allocs_exact():
    # tiny after boot: 2048 pages, "kernel" reserved at pfns [256, 320); free blocks are
    # [0, 256) order 8 (its first two pageblocks are MIGRATE_RESERVE), [320, 384) order 6,
    # [384, 512) order 7, [512, 1024) order 9, [1024, 2048) order 10 - all on Movable lists but
    # the order-8 one (Reserve): buddyinfo 0 0 0 0 0 0 1 1 1 1 1.
    #
    # a: UNMOVABLE order 0.  __rmqueue_smallest finds no Unmovable block, so __rmqueue_fallback
    # walks current_order from MAX_ORDER-1 down and takes the first fallback type with a block:
    # at order 10, Reclaimable is empty, Movable has pfn 1024 - the LARGEST movable block is
    # stolen.  Order 10 >= pageblock_order (6), so try_to_steal_freepages claims all 16
    # pageblocks of it for Unmovable and expand() puts the halves 1536(9), 1280(8), 1152(7),
    # 1088(6), 1056(5), 1040(4), 1032(3), 1028(2), 1026(1), 1025(0) on Unmovable lists: a=1024.
    # b: UNMOVABLE order 0 now comes straight from the Unmovable order-0 list: 1025.
    # c: UNMOVABLE order 3: the Unmovable order-3 block 1032.
    # m: MOVABLE order 9: __rmqueue_smallest(Movable) finds the order-9 block 512.
    k = boot_tiny()
    assert k.show("buddyinfo") == TINY_FREE
    out = run_script(k, "alloc a 0 GFP_KERNEL\nalloc b 0 GFP_KERNEL\n"
                        "alloc c 3 GFP_KERNEL|__GFP_COMP\nalloc m 9 GFP_HIGHUSER_MOVABLE\n"
                        "show buddyinfo\ncheck\n")
    assert out == (
        "a pfn=1024 order=0 zone=Normal migratetype=Unmovable\n"
        "b pfn=1025 order=0 zone=Normal migratetype=Unmovable\n"
        "c pfn=1032 order=3 zone=Normal migratetype=Unmovable\n"
        "m pfn=512 order=9 zone=Normal migratetype=Movable\n"
        # left: order 1 1026, 2 1028, 4 1040, 5 1056, 6 320 1088, 7 384 1152, 8 0 1280, 9 1536
        "Node 0, zone   Normal      0      1      1      0      1      1      2      2"
        "      2      1      0 \n")
    # freeing everything merges back to the boot layout
    assert run_script(k, "free a\nfree b\nfree c\nfree m\ncheck\nshow buddyinfo\n") == TINY_FREE


def test_show_pagetypeinfo_after_a_steal():
    # the steal above, seen per migratetype: 16 of the 32 pageblocks are now Unmovable
    k = boot_tiny()
    out = run_script(k, "alloc a 0 GFP_KERNEL\nshow pagetypeinfo\n")
    assert out == (
        "a pfn=1024 order=0 zone=Normal migratetype=Unmovable\n"
        "Page block order: 6\n"
        "Pages per block:  64\n"
        "\n"
        "Free pages count per migrate type at order       0      1      2      3      4      5"
        "      6      7      8      9     10 \n"
        "Node    0, zone   Normal, type    Unmovable      1      1      1      1      1      1"
        "      1      1      1      1      0 \n"
        "Node    0, zone   Normal, type  Reclaimable      0      0      0      0      0      0"
        "      0      0      0      0      0 \n"
        "Node    0, zone   Normal, type      Movable      0      0      0      0      0      0"
        "      1      1      0      1      0 \n"
        "Node    0, zone   Normal, type      Reserve      0      0      0      0      0      0"
        "      0      0      1      0      0 \n"
        "\n"
        "Number of blocks type     Unmovable  Reclaimable      Movable      Reserve \n"
        "Node 0, zone   Normal           16            0           14            2 \n")


# ---- exact output on x86_64 1G ---------------------------------------------------------------

def test_x86_64_1g_allocs_exact():
    # After boot every DMA32 block is on a Movable list (243 of order 10) or Reserve.  The
    # head of the Movable order-10 list is the block freed last at boot, the highest: 256000.
    # a: UNMOVABLE order 0 goes through CPU 0's per-CPU list: it is empty, so rmqueue_bulk
    #    takes a batch of 31 pages; the first __rmqueue falls back and steals that order-10
    #    block (2 pageblocks change to Unmovable), the next 30 come from its split halves, so
    #    the list holds 256000..256030 in order: a = 256000, b = 256001.
    # c: order 3 skips the per-CPU lists: the smallest Unmovable block of order >= 3 left is
    #    the order-5 block 256032.
    # m: MOVABLE order 9: no Movable order-9 block, so the next order-10 block, 254976, is
    #    split; its upper half 255488 stays free on the Movable order-9 list.
    # d: GFP_DMA takes ZONE_DMA, whose Unmovable order-0 list holds pfn 152.
    # r: RECLAIMABLE order 0 falls back (Unmovable first, but it has no order-10 block) and
    #    steals the Movable order-10 block 253952.
    # big: UNMOVABLE order 10: none on Unmovable lists, so it steals the next Movable one.
    k = boot_1g()
    out = run_script(k, "alloc a 0 GFP_KERNEL\nalloc b 0 GFP_KERNEL\n"
                        "alloc c 3 GFP_KERNEL|__GFP_COMP\nalloc m 9 GFP_HIGHUSER_MOVABLE\n"
                        "alloc d 0 GFP_DMA\nalloc r 0 GFP_KERNEL|__GFP_RECLAIMABLE\n"
                        "alloc big 10 GFP_KERNEL\ncheck\n")
    assert out == ("a pfn=256000 order=0 zone=DMA32 migratetype=Unmovable\n"
                   "b pfn=256001 order=0 zone=DMA32 migratetype=Unmovable\n"
                   "c pfn=256032 order=3 zone=DMA32 migratetype=Unmovable\n"
                   "m pfn=254976 order=9 zone=DMA32 migratetype=Movable\n"
                   "d pfn=152 order=0 zone=DMA migratetype=Unmovable\n"
                   "r pfn=253952 order=0 zone=DMA32 migratetype=Reclaimable\n"
                   "big pfn=252928 order=10 zone=DMA32 migratetype=Unmovable\n")
    blocks = k.show("pagetypeinfo").splitlines()[-1]
    assert blocks == "Node 0, zone    DMA32            4            2          496            2 "


def test_a_failed_allocation_prints_failed():
    # tiny has one order-10 block; the second order-10 request finds nothing at all
    k = boot_tiny()
    assert run_script(k, "alloc x 10 GFP_HIGHUSER_MOVABLE\nalloc y 10 GFP_HIGHUSER_MOVABLE\n") \
        == "x pfn=1024 order=10 zone=Normal migratetype=Movable\ny failed\n"


def test_run_script_writes_as_it_goes():
    k = boot_tiny()
    chunks = []
    out = run_script(k, "alloc a 0 GFP_KERNEL\nshow buddyinfo\n", write=chunks.append)
    assert chunks == ["a pfn=1024 order=0 zone=Normal migratetype=Unmovable\n",
                      # order 6: 320 1088, 7: 384 1152, 8: 0 1280, 9: 512 1536
                      "Node 0, zone   Normal      1      1      1      1      1      1      2"
                      "      2      2      2      0 \n"]
    assert out == "".join(chunks)


# ---- run-time errors: the line number, and the state before that line ------------------------

PREFIX = "alloc a 0 GFP_KERNEL\n# comment\n\nalloc b 3 GFP_KERNEL|__GFP_COMP\nfree a\n"


@pytest.mark.parametrize("boot", [boot_tiny, boot_1g], ids=["tiny", "x86_64-1G"])
@pytest.mark.parametrize("line,message", [
    ("free a", "script:6: double free of 'a': it was already freed"),
    ("free zz", "script:6: free of unknown id 'zz': no allocation has that id"),
    ("alloc b 0 GFP_KERNEL", "script:6: id 'b' is still allocated: free it first or use a new id"),
    ("alloc x 0 GFP_DMA|GFP_HIGHMEM", "script:6: GFP mask 0x3 (__GFP_DMA|__GFP_HIGHMEM) combines "
                                       "zone modifiers that gfp_zone() rejects (GFP_ZONE_BAD)"),
])
def test_run_time_error_reports_its_line_and_keeps_the_state_before_it(boot, line, message):
    k, ref = boot(), boot()
    run_script(ref, PREFIX)
    with pytest.raises(KmemsimError) as e:
        run_script(k, PREFIX + line + "\nalloc never 0 GFP_KERNEL\n")
    assert str(e.value) == message
    assert k.show("buddyinfo") == ref.show("buddyinfo")
    assert k.show("pagetypeinfo") == ref.show("pagetypeinfo")
    assert_same_state(k, state(ref))
    assert "never" not in k.live
    k.check()


# ---- check -----------------------------------------------------------------------------------

def test_check_prints_nothing_when_the_state_holds():
    k = boot_tiny()
    assert run_script(k, "check\nalloc a 2 GFP_KERNEL\ncheck\nfree a\ncheck\n") == \
        "a pfn=1024 order=2 zone=Normal migratetype=Unmovable\n"


def test_check_reports_a_broken_state_with_its_line():
    k = boot_tiny()
    k.mem.nr_free[0, 3] += 1           # a counter the free lists do not back
    with pytest.raises(KmemsimError) as e:
        run_script(k, "# nothing yet\n\ncheck\n")
    assert str(e.value) == "script:3: Normal free_area[3].nr_free is 1 but its lists hold 0 blocks"


def test_check_flag_runs_the_validators_after_every_operation():
    k = boot_tiny()
    k.mem.nr_free[0, 3] += 1
    # without check=True the alloc runs and nothing notices
    assert run_script(k, "alloc a 0 GFP_KERNEL\n") == \
        "a pfn=1024 order=0 zone=Normal migratetype=Unmovable\n"
    with pytest.raises(KmemsimError) as e:
        run_script(k, "\nalloc b 0 GFP_KERNEL\n", check=True)
    # a's split put a real order-3 block (1032) on a list: 2 counted, 1 there
    assert str(e.value) == "script:2: Normal free_area[3].nr_free is 2 but its lists hold 1 blocks"


# ---- the example of docs/scripts.md ----------------------------------------------------------

def test_the_docs_example_prints_what_the_docs_say():
    doc = (Path(__file__).resolve().parents[1] / "docs" / "scripts.md").read_text()
    example = doc.split("\n## Example\n", 1)[1]
    script, output = re.findall(r"```text\n(.*?)```", example, re.S)[:2]
    k = kmemsim.boot("tiny", mode="python")          # as `kmemsim run --machine tiny` boots
    assert run_script(k, script, check=True) == output
