"""The 3.13 fast path: per-CPU lists, watermarks, the zonelist scan, the seed's values."""

import sys

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kmemsim
from conftest import without_slab
from kmemsim.mm.mmzone import (MIGRATE_MOVABLE, MIGRATE_UNMOVABLE, NR_ALLOC_BATCH, NR_FREE_PAGES,
                               PCP_BATCH, PCP_COUNT, PCP_HIGH, free_list, pcp_list)
from kmemsim.mm.page_alloc_init import zone_batchsize


def trace_calls(k, names, action):
    """Run ``action`` in python mode, recording the arguments of the kernel functions in
    ``names`` as they are called (what a learner reads off a hand-written call trace)."""
    calls = []

    def profiler(frame, event, arg):
        if event == "call" and frame.f_code.co_name in names:
            calls.append((frame.f_code.co_name, dict(frame.f_locals)))
    sys.setprofile(profiler)
    try:
        action()
    finally:
        sys.setprofile(None)
    return calls


def test_seed_002_values_on_arndale():
    """Seed 002: new_slab's order-0 page for kmem_cache_node: __alloc_pages_nodemask gets
    0x201200 (GFP_NOWAIT|__GFP_NOWARN|__GFP_NORETRY|__GFP_NOTRACK), get_page_from_freelist
    0x221200 (with __GFP_HARDWALL) and alloc_flags 0x41 (ALLOC_WMARK_LOW|ALLOC_CPUSET) on
    ZONE_NORMAL (index 0), migratetype 0, and zone_watermark_ok(zone 0, order 0, ...)."""
    k = kmemsim.boot("arndale", mode="python")
    calls = trace_calls(k, {"__alloc_pages_nodemask", "get_page_from_freelist",
                            "zone_watermark_ok", "buffered_rmqueue"},
                        lambda: k.alloc(0, 0x201200, node=0))
    first = {name: args for name, args in reversed(calls)}
    assert first["__alloc_pages_nodemask"]["gfp_mask"] == 0x201200
    assert first["__alloc_pages_nodemask"]["order"] == 0
    g = first["get_page_from_freelist"]
    assert (g["gfp_mask"], g["order"], g["high_zoneidx"], g["alloc_flags"],
            g["preferred_zone"], g["migratetype"]) == (0x221200, 0, 0, 0x41, 0, MIGRATE_UNMOVABLE)
    w = first["zone_watermark_ok"]
    assert (w["z"], w["order"], w["classzone_idx"], w["alloc_flags"]) == (0, 0, 0, 0x41)
    assert w["mark"] == int(k.mem.watermark[0, 1])          # the low watermark
    b = first["buffered_rmqueue"]
    assert (b["preferred_zone"], b["zone"], b["gfp_flags"], b["migratetype"]) == \
        (0, 0, 0x221200, MIGRATE_UNMOVABLE)


@pytest.mark.parametrize("managed,batch", [(3977, 0), (4096, 0), (8192, 1), (28192, 7),
                                           (131072, 31), (251587, 31), (4 << 20, 31)])
def test_zone_batchsize_worked_values(managed, batch):
    # batch = managed/1024 capped at 128, /4, at least 1, then rounddown_pow_of_two(b+b/2)-1
    b = min(managed // 1024, 128) // 4 or 1
    expected = (1 << ((b + b // 2).bit_length() - 1)) - 1
    assert zone_batchsize(managed) == expected == batch


def test_pcp_high_and_batch_after_boot():
    k = kmemsim.boot("x86_64", mem="1G", cpus=2)
    for cpu in range(2):
        assert k.mem.pcp[cpu, 0, PCP_HIGH] == 0 and k.mem.pcp[cpu, 0, PCP_BATCH] == 1   # DMA
        assert k.mem.pcp[cpu, 1, PCP_HIGH] == 186 and k.mem.pcp[cpu, 1, PCP_BATCH] == 31
    k.sysctl("vm.percpu_pagelist_fraction=100")
    high = int(k.mem.managed_pages[1]) // 100
    assert k.mem.pcp[1, 1, PCP_HIGH] == high and k.mem.pcp[1, 1, PCP_BATCH] == 96  # PAGE_SHIFT*8


def _late_freed(k, zone):
    """Pages of ``zone`` boot gives back after module_init (free_initmem, mark_rodata_ro)."""
    start, end = int(k.mem.zone_start_pfn[zone]), int(k.mem.zone_start_pfn[zone] +
                                                       k.mem.spanned_pages[zone])
    return sum(max(0, min(r.end, end) - max(r.start, start))
               for n in k.machine.nodes for r in n.reserved
               if r.freed_by in ("free_initmem", "mark_rodata_ro"))


@pytest.mark.parametrize("size", ["1G", "4G"])
def test_watermarks_and_lowmem_reserve_computed_independently(size):
    """min_free_kbytes, watermarks and lowmem_reserve from 3.13's formulas, on the managed
    counts of module_init time (before the init sections were freed)."""
    k = kmemsim.boot("x86_64", mem=size)
    zones = [z for z in range(4) if k.mem.present_pages[z]]
    managed = {z: int(k.mem.managed_pages[z]) - _late_freed(k, z) for z in range(4)}
    nr_zones = len(zones)
    lowmem_kb = sum(max(0, managed[z] - 0) for z in zones) * 4   # watermarks 0 at module_init
    recommended = min(512 * nr_zones * 11, lowmem_kb // 4 // 20) * 4
    assert k.min_free_kbytes == max(min(max(int(lowmem_kb * 16) ** 0.5 // 1, 128), 65536),
                                    recommended) == {"1G": 45056, "4G": 67584}[size]
    pages_min = k.min_free_kbytes // 4
    lowmem = sum(managed[z] for z in range(4))
    for z in range(4):
        tmp = pages_min * managed[z] // lowmem
        assert k.mem.watermark[z].tolist() == [tmp, tmp + tmp // 4, tmp + tmp // 2]
    ratio = [256, 256, 32]
    for j in range(4):
        acc = managed[j]
        for idx in range(j - 1, -1, -1):
            assert int(k.mem.lowmem_reserve[idx, j]) == acc // ratio[idx]
            acc += managed[idx]
    if size == "1G":
        assert k.mem.lowmem_reserve[0].tolist() == [0, 981, 981, 981]    # real: (0, 981, 981, 981)


def test_first_order0_gfp_kernel_allocation():
    """On a fresh 1 GiB machine CPU 0's Unmovable list of DMA32 is empty: rmqueue_bulk asks
    __rmqueue for a batch of 31; the first falls back and steals the head of the Movable
    order-10 list (a whole pageblock or more: it changes owner, and the remainder goes to the
    Unmovable lists), the next 30 are its split pieces in ascending order.  The allocation
    takes the list's head: the stolen block's first page."""
    k = kmemsim.boot(without_slab("x86_64", mem="1G"))   # before any slab page
    mem, zone = k.mem, 1
    head10 = int(mem.lru_next[int(free_list(mem, zone, 10, MIGRATE_MOVABLE))])
    count_before = int(mem.pcp[0, zone, PCP_COUNT])
    free_before = int(mem.vm_stat[zone, NR_FREE_PAGES] + mem.vm_stat_diff[:, zone, NR_FREE_PAGES].sum())
    a = k.alloc(0, "GFP_KERNEL")
    assert a.pfn == head10 and a.zone == "DMA32"
    assert int(mem.pcp[0, zone, PCP_COUNT]) == count_before + 31 - 1
    lst, e, got = int(pcp_list(mem, 0, zone, MIGRATE_UNMOVABLE)), None, []
    e = int(mem.lru_next[lst])
    while e != lst:
        got.append(e)
        e = int(mem.lru_next[e])
    assert got == list(range(head10 + 1, head10 + 31))
    free_after = int(mem.vm_stat[zone, NR_FREE_PAGES] + mem.vm_stat_diff[:, zone, NR_FREE_PAGES].sum())
    assert free_after == free_before - 31
    # what is left of the stolen block: one free block per order on the Unmovable lists
    for order in range(5, 10):
        assert int(mem.lru_next[int(free_list(mem, zone, order, MIGRATE_UNMOVABLE))]) == \
            head10 + (1 << order)
    assert k.fn.get_pageblock_migratetype(mem, head10) == MIGRATE_UNMOVABLE
    k.check()


def test_watermark_boundary_and_the_reserves_high_and_harder_may_use():
    """tiny (8 MiB, min_free_kbytes 356: min 89, low 111, high 133).  The fast path wants the
    low watermark; the slow path's retry the min one: order-0 movable allocations go on while
    the free count stays above min, then fail.  GFP_ATOMIC (ALLOC_HIGH: min/2, ALLOC_HARDER:
    a further quarter off) goes on to 34; __GFP_MEMALLOC ignores the watermarks."""
    k = kmemsim.boot("tiny")
    mem = k.mem
    assert k.min_free_kbytes == 356 and mem.watermark[0].tolist() == [89, 111, 133]

    def free_now():
        return int(mem.vm_stat[0, NR_FREE_PAGES])         # what zone_watermark_ok reads
    while True:
        before = free_now()
        if k.alloc(0, "GFP_HIGHUSER_MOVABLE") is None:
            break
    assert before <= 89 < before + 3                       # failed at the min watermark
    atomic_min = 89 - 89 // 2
    atomic_min -= atomic_min // 4
    assert atomic_min == 34
    while True:
        before = free_now()
        if k.alloc(0, "GFP_ATOMIC") is None:
            break
    assert before <= atomic_min < before + 3
    assert k.alloc(0, "GFP_KERNEL|__GFP_MEMALLOC") is not None
    k.check()


def test_fair_batch_runs_out_and_the_slow_path_refills_it():
    k = kmemsim.boot("x86_64", mem="1G")
    mem = k.mem
    low_high = int(mem.watermark[1, 2] - mem.watermark[1, 1])
    assert int(mem.vm_stat[1, NR_ALLOC_BATCH]) + int(mem.vm_stat_diff[:, 1, NR_ALLOC_BATCH].sum()) == low_high
    for _ in range(low_high // 512 + 2):
        assert k.alloc(9, "GFP_HIGHUSER_MOVABLE") is not None
    assert int(mem.cfg[23]) == 0                           # never gave up
    k.check()


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["alloc", "alloc", "free", "drain"]),
                          st.integers(0, 4), st.integers(0, 1),
                          st.sampled_from(["GFP_KERNEL", "GFP_HIGHUSER_MOVABLE",
                                           "GFP_TEMPORARY", "GFP_ATOMIC"])),
                min_size=1, max_size=60))
def test_random_operations_on_two_cpus(ops):
    k = kmemsim.boot("x86_64", mem="64M", cpus=2)
    k.drain()
    boot = k.show("buddyinfo")
    live = []
    for kind, order, cpu, gfp in ops:
        if kind == "alloc":
            a = k.alloc(order * (order < 3), gfp, cpu=cpu)
            if a is not None:
                live.append(a)
        elif kind == "free" and live:
            k.free(live.pop(order % len(live)), cpu=cpu)
        elif kind == "drain":
            k.drain(cpu if order % 2 else None)
        k.check()
    for a in live:
        k.free(a)
    k.drain()
    k.check()
    assert k.show("buddyinfo") == boot


def test_compound_page_is_formed_and_destroyed(mode):
    k = kmemsim.boot("tiny", mode=mode)
    from kmemsim.mm.page_flags import PG_HEAD_MASK, PG_TAIL_MASK
    a = k.alloc(3, "GFP_KERNEL|__GFP_COMP")
    head = a.pfn
    assert k.mem.flags[head] & PG_HEAD_MASK and k.fn.compound_order(k.mem, head) == 3
    assert all(k.mem.flags[p] & PG_TAIL_MASK for p in range(head + 1, head + 8))
    assert all(k.mem.count[p] == 0 for p in range(head + 1, head + 8))
    k.free(a)
    assert not any(k.mem.flags[p] & (PG_HEAD_MASK | PG_TAIL_MASK) for p in range(head, head + 8))
    k.check()


def test_alloc_pages_exact_keeps_what_is_asked_and_frees_the_rest(mode):
    """alloc_pages_exact(5 pages): an order-3 block, split_page, the 3 pages past the fifth
    freed one by one (to the per-CPU list: on 1 GiB its high of 186 is far); free_pages_exact
    gives the five back."""
    k = kmemsim.boot("x86_64", mem="1G", mode=mode)
    mem, zone = k.mem, 1
    count = int(mem.pcp[0, zone, PCP_COUNT])
    addr = int(k.fn.alloc_pages_exact(mem, 5 * 4096, 0xD0))
    assert addr >= 0 and addr % 8 == 0
    assert [int(mem.count[p]) for p in range(addr, addr + 5)] == [1] * 5
    assert int(mem.pcp[0, zone, PCP_COUNT]) == count + 3
    k.fn.free_pages_exact(mem, addr, 5 * 4096)
    assert int(mem.pcp[0, zone, PCP_COUNT]) == count + 8
    assert k.fn.get_order(5 * 4096) == 3 and k.fn.get_order(4096) == 0 and k.fn.get_order(4097) == 1


def snapshot(k, zone, name):
    from kmemsim.mm.mmzone import ZONE_STAT_ITEMS
    i = ZONE_STAT_ITEMS.index(name)
    return int(k.mem.vm_stat[zone, i]) + int(k.mem.vm_stat_diff[:, zone, i].sum())


def test_numa_counters_follow_zone_statistics():
    """numa: CPU 1 sits on node 1.  An allocation there from node 0's zonelist lands on node
    0 (its preferred node): numa_hit, but numa_other (not the running CPU's node); from its own
    node: numa_hit and numa_local."""
    k = kmemsim.boot("numa")
    z0, z1 = k.zone_id(0, "DMA32"), k.zone_id(1, "DMA32")
    before = {(z, n): snapshot(k, z, n) for z in (z0, z1)
              for n in ("numa_hit", "numa_miss", "numa_local", "numa_other")}
    a = k.alloc(0, "GFP_KERNEL", cpu=1, node=0)
    b = k.alloc(0, "GFP_KERNEL", cpu=1)
    assert (a.zone, b.zone) == ("DMA32", "DMA32")
    assert int(k.fn.page_to_nid(k.mem, a.pfn)) == 0 and int(k.fn.page_to_nid(k.mem, b.pfn)) == 1
    delta = {key: snapshot(k, *key) - v for key, v in before.items()}
    assert delta[(z0, "numa_hit")] == 1 and delta[(z0, "numa_other")] == 1
    assert delta[(z1, "numa_hit")] == 1 and delta[(z1, "numa_local")] == 1
    assert delta[(z0, "numa_miss")] == delta[(z1, "numa_miss")] == 0
