"""Random alloc/free sequences on booted machines, checked after every step.

Hypothesis draws a list of operations (allocate a block of a random order with a random GFP
mask, or free a random live block).  After every step all validators run (Kernel.check) and the
step itself is checked against what the 3.13 buddy core must do:

* an allocation fails exactly when its zone has no free block of the requested order or larger
  (Kernel.buddy_alloc is __rmqueue on one zone: own list, fallbacks, MIGRATE_RESERVE, and
  without CMA/isolation these cover every free list);
* a block comes from the zone gfp_zone() picks, is aligned to its order, overlaps no live block
  and no reserved page, and is filed under the migratetype the GFP mask asks for;
* it is exactly the block __rmqueue must take, read off the free lists before the call
  (__rmqueue_smallest, else the largest block in fallbacks[] order, else MIGRATE_RESERVE);
  expand() leaves the upper halves at the heads of the right lists; try_to_steal_freepages()
  retypes exactly the pageblocks it should and moves their free blocks;
* a freed block merges with exactly the buddies that are free and lands at the head (or, when
  its parent's buddy is free, the tail) of its pageblock's migratetype list;
* NR_FREE_PAGES drops / rises by exactly 2^order.

At the end everything is freed and /proc/buddyinfo must equal the boot-time buddyinfo exactly:
every freed block merges back, whatever owner its pageblock has by then (merging ignores the
migratetype).  pagetypeinfo may differ: stolen pageblocks keep their new owner.
"""

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context

import kmemsim
from conftest import without_slab
from kmemsim.mm.gfp import parse_gfp
from kmemsim.mm.mmzone import (CFG_MIGRATE_CMA, CFG_MOBILITY_DISABLED, CFG_PAGEBLOCK_ORDER,
                               MAX_ORDER, MIGRATE_RECLAIMABLE, MIGRATE_RESERVE, NR_FREE_PAGES,
                               free_list, migratetype_names)
from kmemsim.mm.page_alloc import get_pageblock_migratetype, set_pageblock_migratetype
from kmemsim.mm.page_flags import PG_BUDDY_MASK, PG_RESERVED_MASK, ZONEID_PGSHIFT
from kmemsim.validate import free_blocks

GFPS = {
    "GFP_KERNEL": "Unmovable",
    "GFP_HIGHUSER_MOVABLE": "Movable",
    "GFP_KERNEL|__GFP_RECLAIMABLE": "Reclaimable",     # GFP_TEMPORARY
    "GFP_ATOMIC": "Unmovable",
    "GFP_KERNEL|__GFP_DMA": "Unmovable",
    "GFP_NOWAIT": "Unmovable",
}
GFP_NAMES = sorted(GFPS)

# Which zone each mask must be served from (the highest populated zone gfp_zone() allows).
MACHINES = {
    "tiny": ({}, {g: "Normal" for g in GFPS}),
    "x86_64-64M": ({"mem": "64M"}, {g: ("DMA" if "DMA" in g else "DMA32") for g in GFPS}),
}

# Orders skewed towards small blocks (many live blocks at once) and towards large ones (zones
# run out, fallbacks split whole pageblocks), with the whole range 0..10 drawn often.
orders = st.one_of(st.integers(0, 3), st.integers(0, MAX_ORDER - 1), st.integers(8, MAX_ORDER - 1))
alloc_op = st.tuples(st.just("alloc"), orders, st.sampled_from(GFP_NAMES))
free_op = st.tuples(st.just("free"), st.integers(0, 1 << 16))
op = st.one_of(alloc_op, alloc_op, free_op)      # two allocations to a free: zones fill up
# Hypothesis keeps lists near their minimum size; the x86_64 zones hold ~4k (DMA) and ~9.5k
# (DMA32) free pages, so it needs long sequences before a zone runs out.
MIN_OPS = {"tiny": 30, "x86_64-64M": 150}



def free_pages_now(k, zone):
    """NR_FREE_PAGES with every CPU's pending delta (zone_page_state_snapshot, unclamped)."""
    return (int(k.mem.vm_stat[zone, NR_FREE_PAGES])
            + int(k.mem.vm_stat_diff[:, zone, NR_FREE_PAGES].astype("int64").sum()))

def ops(machine):
    return st.lists(op, min_size=MIN_OPS[machine], max_size=MIN_OPS[machine] + 250)


def note(what: str) -> None:
    """A hypothesis event (see --hypothesis-show-statistics), when run under hypothesis."""
    if currently_in_test_context():
        event(what)


def boot(machine: str, mode: str):
    kw, _ = MACHINES[machine]
    return kmemsim.boot(machine.split("-")[0], mode=mode, **kw)


def zone_of(k, name: str) -> int:
    return k.zone_id(0, name)


# ---- the oracle: what 3.13's __rmqueue and __free_one_page must do, read off the state --------

def first_entry(mem, zone, order, mt):
    head = int(free_list(mem, zone, order, mt))
    entry = int(mem.lru_next[head])
    return None if entry == head else entry


def free_pages_in_pageblock(mem, zone, page):
    """What move_freepages_block() would move (and count): the free blocks whose heads lie in
    the pageblock of ``page``, from its start (or from ``page`` when that start is outside the
    zone); 0 when the pageblock runs past the zone's end."""
    nr = 1 << int(mem.cfg[CFG_PAGEBLOCK_ORDER])
    start, zone_start = page & ~(nr - 1), int(mem.zone_start_pfn[zone])
    zone_end = zone_start + int(mem.spanned_pages[zone])
    if start + nr - 1 >= zone_end:
        return 0, []
    first = page if start < zone_start else start
    heads = [int(p) for p in np.flatnonzero(mem.flags[first:start + nr] & PG_BUDDY_MASK) + first]
    return sum(1 << int(mem.private[h]) for h in heads), heads


def predict_rmqueue(mem, zone, order, mt):
    """(pfn, order of the block split, the list's migratetype, where the remainder goes,
    {pageblock pfn: new migratetype}, heads moved to ``mt``) of __rmqueue, or None."""
    for cur in range(order, MAX_ORDER):                        # __rmqueue_smallest
        page = first_entry(mem, zone, cur, mt)
        if page is not None:
            return page, cur, mt, mt, {}, []
    for cur in range(MAX_ORDER - 1, order - 1, -1):            # __rmqueue_fallback
        for fallback in mem.fallbacks[mt].tolist():
            if fallback == MIGRATE_RESERVE:
                break
            page = first_entry(mem, zone, cur, fallback)
            if page is None:
                continue
            pb_order = int(mem.cfg[CFG_PAGEBLOCK_ORDER])      # try_to_steal_freepages
            disabled = int(mem.cfg[CFG_MOBILITY_DISABLED]) != 0
            if fallback == int(mem.cfg[CFG_MIGRATE_CMA]):
                return page, cur, fallback, fallback, {}, []
            if cur >= pb_order:
                retyped = {page + (i << pb_order): mt for i in range(1 << (cur - pb_order))}
                return page, cur, fallback, mt, retyped, []
            if cur >= pb_order // 2 or mt == MIGRATE_RECLAIMABLE or disabled:
                pages, heads = free_pages_in_pageblock(mem, zone, page)
                if pages >= 1 << (pb_order - 1) or disabled:
                    return page, cur, fallback, mt, {page: mt}, heads
                return page, cur, fallback, fallback, {}, heads
            return page, cur, fallback, fallback, {}, []
    for cur in range(order, MAX_ORDER):                        # retry_reserve
        page = first_entry(mem, zone, cur, MIGRATE_RESERVE)
        if page is not None:
            return page, cur, MIGRATE_RESERVE, MIGRATE_RESERVE, {}, []
    return None


def check_alloc(k, zone, order, mt, predicted, pageblocks_before, a):
    """The block __rmqueue took, how expand() queued the rest, what was stolen."""
    mem = k.mem
    page, cur, _, rest, retyped, moved = predicted
    assert a.pfn == page
    blocks = free_blocks(k, zone)
    for j in range(order, cur):          # expand(): the upper halves, each at its list's head
        half = page + (1 << j)
        assert blocks[half] == (j, rest)
        assert int(mem.lru_prev[half]) == int(free_list(mem, zone, j, rest))
    for head in moved:                   # move_freepages_block() pulled the pageblock's blocks
        if head != page:
            assert blocks[head][1] == mt
    expected = mem._replace(pageblock_flags=pageblocks_before.copy())
    for pfn, new in retyped.items():
        set_pageblock_migratetype(expected, pfn, new)
    assert np.array_equal(expected.pageblock_flags, mem.pageblock_flags)


def predict_free(mem, zone, page, order):
    """(head, order, at the tail?) of the block __free_one_page() builds and queues."""
    page_zone = int(mem.flags[page]) >> ZONEID_PGSHIFT

    def is_buddy(pfn, o):
        return (0 <= pfn < mem.flags.shape[0] and int(mem.flags[pfn]) >> ZONEID_PGSHIFT == page_zone
                and mem.flags[pfn] & PG_BUDDY_MASK and int(mem.private[pfn]) == o)

    while order < MAX_ORDER - 1 and is_buddy(page ^ (1 << order), order):
        page &= ~(1 << order)
        order += 1
    parent = page & ~(1 << order)
    tail = order < MAX_ORDER - 2 and is_buddy(parent ^ (1 << (order + 1)), order + 1)
    return page, order, tail


def check_free(k, zone, migratetype, predicted):
    mem = k.mem
    head, order, tail = predicted
    assert free_blocks(k, zone)[head] == (order, migratetype)
    list_head = int(free_list(mem, zone, order, migratetype))
    if tail:
        assert int(mem.lru_next[head]) == list_head
    else:
        assert int(mem.lru_prev[head]) == list_head


def run_ops(machine: str, mode: str, sequence) -> None:
    k = boot(machine, mode)
    _, zone_for = MACHINES[machine]
    names = migratetype_names(k.machine.cma, k.machine.memory_isolation)
    k.check()
    boot_buddyinfo = k.show("buddyinfo")
    boot_pagetypeinfo = k.show("pagetypeinfo")
    boot_free = [free_pages_now(k, z) for z in range(k.mem.vm_stat.shape[0])]
    owner = np.full(k.mem.flags.shape[0], -1, dtype=np.int64)   # 1: the pfn is in a live block
    live = []
    for step in sequence:
        if step[0] == "alloc":
            _, order, gfp = step
            zone = zone_of(k, zone_for[gfp])
            assert k.preferred_zone(parse_gfp(gfp)) == zone
            mt = names.index(GFPS[gfp])
            free_before = free_pages_now(k, zone)
            can = int(k.mem.nr_free[zone, order:].sum()) > 0
            predicted = predict_rmqueue(k.mem, zone, order, mt)
            pageblocks_before = k.mem.pageblock_flags.copy()
            a = k.buddy_alloc(order, gfp)
            if a is None:
                note("an allocation failed")
                assert not can, f"order-{order} {gfp} failed with a free block of that order"
                assert predicted is None
                assert free_pages_now(k, zone) == free_before
                assert np.array_equal(k.mem.pageblock_flags, pageblocks_before)
            else:
                assert can and predicted is not None
                if predicted[2] != mt:
                    note(f"fell back to {names[predicted[2]]}")
                if predicted[4]:
                    note("a pageblock was stolen")
                assert (a.order, a.zone, a.migratetype) == (order, zone_for[gfp], GFPS[gfp])
                check_alloc(k, zone, order, mt, predicted, pageblocks_before, a)
                assert a.pfn % (1 << order) == 0
                start = int(k.mem.zone_start_pfn[zone])
                assert start <= a.pfn and a.pfn + (1 << order) <= start + int(
                    k.mem.spanned_pages[zone])
                span = slice(a.pfn, a.pfn + (1 << order))
                assert (owner[span] == -1).all(), "block overlaps a live block"
                assert not (k.mem.flags[span] & PG_RESERVED_MASK).any()
                assert int(k.mem.count[a.pfn]) == 1
                assert free_pages_now(k, zone) == free_before - (1 << order)
                owner[span] = 1
                live.append(a)
        elif live:
            a = live.pop(step[1] % len(live))
            zone = zone_of(k, a.zone)
            free_before = free_pages_now(k, zone)
            predicted = predict_free(k.mem, zone, a.pfn, a.order)
            migratetype = int(get_pageblock_migratetype(k.mem, a.pfn))
            k.buddy_free(a)
            check_free(k, zone, migratetype, predicted)
            owner[a.pfn:a.pfn + (1 << a.order)] = -1
            assert free_pages_now(k, zone) == free_before + (1 << a.order)
        k.check()
    for a in live:
        k.buddy_free(a)
        k.check()
    assert k.live == {}
    if k.show("pagetypeinfo") != boot_pagetypeinfo:
        note("a pageblock changed owner")
    assert k.show("buddyinfo") == boot_buddyinfo
    assert [free_pages_now(k, z) for z in range(k.mem.vm_stat.shape[0])] == boot_free


@pytest.mark.parametrize("machine", sorted(MACHINES))
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_ops_python(machine, data):
    run_ops(machine, "python", data.draw(ops(machine), label="operations"))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sequence=ops("tiny"))
def test_random_ops_compiled(sequence):
    run_ops("tiny", "compiled", sequence)


def test_fill_tiny_until_order0_fails():
    """Order-0 GFP_KERNEL requests drain every free list, MIGRATE_RESERVE included: the
    allocations hand out exactly the pages free at boot, each once, and NR_FREE_PAGES ends at 0."""
    k = kmemsim.boot(without_slab("tiny"))
    zone = k.zone_id(0, "Normal")
    boot_buddyinfo = k.show("buddyinfo")
    boot_free = free_pages_now(k, zone)
    assert boot_free == 1984          # 2048 pages minus the 64-page kernel image
    pfns = []
    while True:
        a = k.buddy_alloc(0, "GFP_KERNEL")
        if a is None:
            break
        pfns.append(a.pfn)
        if len(pfns) % 256 == 0:
            k.check()
    k.check()
    assert len(pfns) == boot_free
    assert len(set(pfns)) == boot_free
    assert set(pfns) == set(range(0, 256)) | set(range(320, 2048))
    # MIGRATE_RESERVE is the last resort: the order-8 block at pfn 0 on the Reserve list (it
    # covers the two reserve pageblocks and two Movable ones) goes last, page by page upwards;
    # everything before comes from stealing the Movable blocks, the order-10 one first.
    assert pfns[:3] == [1024, 1025, 1026]
    assert sorted(pfns[:-256]) == list(range(320, 2048))
    assert pfns[-256:] == list(range(256))
    assert free_pages_now(k, zone) == 0
    assert k.mem.nr_free[zone].tolist() == [0] * MAX_ORDER
    # and nothing of any order or type is left
    for gfp in GFPS:
        assert k.buddy_alloc(0, gfp) is None
    for a in list(k.live.values()):
        k.buddy_free(a)
    k.check()
    assert k.show("buddyinfo") == boot_buddyinfo
    assert free_pages_now(k, zone) == boot_free
