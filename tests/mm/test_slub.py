"""SLUB (mm/slub.c, mm/slab_common.c): the seed 002 bootstrap, cache geometry, the object
paths, kmalloc, cache merging, and the slab validators under random use."""

import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import kmemsim
from conftest import real_file
from kmemsim.errors import KmemsimError, ValidationError
from kmemsim.mm.gfp import GFP_KERNEL, __GFP_COMP
from kmemsim.mm.mmzone import (MIGRATE_MOVABLE, MIGRATE_RECLAIMABLE, MIGRATE_UNMOVABLE, PCP_BATCH,
                               PCP_HIGH, free_list)
from kmemsim.mm.page_flags import PG_HEAD_MASK, PG_slab
from kmemsim.mm.slub import (KC_CPU_SLAB, KC_OO, KC_SIZE, KCC_FREELIST, KCC_PAGE, KCC_PARTIAL,
                             KN_NR_PARTIAL, NR_SLAB_RECLAIMABLE, NR_SLAB_UNRECLAIMABLE,
                             SLUB_STAT_ITEMS, oo_objects, oo_order)


def stats(k, cache):
    s = k.slab.lookup(cache)
    return dict(zip(SLUB_STAT_ITEMS, (int(x) for x in k.mem.slub_stat[s])))


def cpu_state(k, cache, cpu=0):
    s = k.slab.lookup(cache)
    return k.mem.kmem_cache_cpu[cpu, int(k.mem.kmem_cache[s, KC_CPU_SLAB])]


def node_partial(k, cache, node=0):
    s = k.slab.lookup(cache)
    return int(k.mem.kmem_cache_node[int(k.fn.get_node(k.mem, s, node)), KN_NR_PARTIAL])


# ---- seed 002: kmem_cache_init -> ... -> __alloc_pages_nodemask on the arndale board --------
def test_seed_002_bootstrap_chain_on_arndale():
    """The study notes' chain with its values: early_kmem_cache_node_alloc's slab page is
    order 0; allocate_slab passes 0x1200, alloc_slab_page adds __GFP_NOTRACK (0x201200);
    get_page_from_freelist gets 0x221200 and alloc_flags 0x41 on ZONE_NORMAL (0), migratetype
    UNMOVABLE, watermark mark 0 (not set up yet), the boot pageset (batch 1, high 0).  Every
    pageblock is MOVABLE, so __rmqueue_fallback takes MAX_ORDER-1 = 10 (the notes assumed 5):
    a whole pageblock (pageblock_order 10), which becomes UNMOVABLE; expand leaves one block
    of each order 0..9 on the UNMOVABLE lists after rmqueue_bulk took the page."""
    k = kmemsim.boot("arndale", mode="python", stop_after="mem_init")
    mem = k.mem
    assert (int(mem.pcp[0, 0, PCP_BATCH]), int(mem.pcp[0, 0, PCP_HIGH])) == (1, 0)
    assert int(mem.watermark[0, 1]) == 0
    order10_head = int(mem.lru_next[int(free_list(mem, 0, 10, MIGRATE_MOVABLE))])
    chain = ["kmem_cache_init", "create_boot_cache", "__kmem_cache_create", "kmem_cache_open",
             "init_kmem_cache_nodes", "early_kmem_cache_node_alloc", "new_slab",
             "allocate_slab", "alloc_slab_page", "alloc_pages_exact_node", "__alloc_pages",
             "__alloc_pages_nodemask", "get_page_from_freelist", "zone_watermark_ok",
             "buffered_rmqueue", "rmqueue_bulk", "__rmqueue_smallest", "__rmqueue_fallback",
             "try_to_steal_freepages", "expand"]
    calls = []
    lists_after = {}

    def profiler(frame, event, arg):
        if event == "call" and frame.f_code.co_name in chain:
            calls.append((frame.f_code.co_name, dict(frame.f_locals)))
        elif event == "return" and frame.f_code.co_name in chain:
            calls.append(("return " + frame.f_code.co_name, arg))
            if frame.f_code.co_name == "early_kmem_cache_node_alloc":
                for order in range(11):
                    for mt in (MIGRATE_UNMOVABLE, MIGRATE_MOVABLE):
                        head = int(free_list(mem, 0, order, mt))
                        entry = int(mem.lru_next[head])
                        lists_after[order, mt] = (entry, int(mem.lru_next[entry]), head)
    sys.setprofile(profiler)
    try:
        k.run_stage("kmem_cache_init")
    finally:
        sys.setprofile(None)
    # the first descent, in order
    names = [c[0] for c in calls]
    first = {}
    for name, args in calls:
        first.setdefault(name, args)
    positions = [names.index(n) for n in chain]
    assert positions == sorted(positions)
    assert first["create_boot_cache"]["name"] == "kmem_cache_node"
    assert first["create_boot_cache"]["flags"] == 0x2000                  # SLAB_HWCACHE_ALIGN
    assert first["early_kmem_cache_node_alloc"]["node"] == 0
    assert int(first["new_slab"]["flags"]) == 0                           # GFP_NOWAIT
    assert int(first["alloc_slab_page"]["flags"]) == 0x1200
    assert int(oo_order(first["alloc_slab_page"]["oo"])) == 0
    assert int(first["alloc_pages_exact_node"]["gfp_mask"]) == 0x201200
    n = first["__alloc_pages_nodemask"]
    assert (int(n["gfp_mask"]), int(n["order"]), n["nodemask"]) == (0x201200, 0, -1)
    g = first["get_page_from_freelist"]
    assert (int(g["gfp_mask"]), int(g["high_zoneidx"]), g["alloc_flags"], int(g["preferred_zone"]),
            g["migratetype"]) == (0x221200, 0, 0x41, 0, MIGRATE_UNMOVABLE)
    w = first["zone_watermark_ok"]
    assert (int(w["z"]), int(w["mark"]), w["alloc_flags"]) == (0, 0, 0x41)
    assert int(first["rmqueue_bulk"]["count"]) == 1                       # boot pageset batch
    assert first["return __rmqueue_smallest"] == -1
    steal = first["try_to_steal_freepages"]
    assert int(steal["page"]) == order10_head and int(steal["fallback_type"]) == MIGRATE_MOVABLE
    assert first["return try_to_steal_freepages"] == MIGRATE_UNMOVABLE   # the block changes owner
    e = first["expand"]
    assert (int(e["low"]), int(e["high"]), e["migratetype"]) == (0, 10, MIGRATE_UNMOVABLE)
    slab = int(first["return early_kmem_cache_node_alloc"])
    assert slab == order10_head
    assert int(k.fn.get_pageblock_migratetype(mem, slab)) == MIGRATE_UNMOVABLE
    # right after the first slab page: that block's halves, one block of each order 0..9,
    # are the UNMOVABLE lists' only entries; one order-10 MOVABLE block fewer
    for order in range(10):
        first_entry, second, head = lists_after[order, MIGRATE_UNMOVABLE]
        assert (first_entry, second) == (slab + (1 << order), head)     # the only entry
    assert lists_after[10, MIGRATE_MOVABLE][0] != order10_head


def test_arndale_boot_caches():
    """32-bit ARM: KMALLOC_MIN_SIZE 64, so kmalloc-64 ... 8192 with 192 and no 96; no ZONE_DMA,
    so no dma-kmalloc-*; two CPUs: slub_min_objects 12 (kmalloc-512 .. 2048 hold 16)."""
    k = kmemsim.boot("arndale", mode="python", stop_after="kmem_cache_init")
    names = [k.slab.names[s] for s in k.slab.slab_caches]
    assert names == ["kmalloc-8192", "kmalloc-4096", "kmalloc-2048", "kmalloc-1024",
                     "kmalloc-512", "kmalloc-256", "kmalloc-192", "kmalloc-128", "kmalloc-64",
                     "kmem_cache_node", "kmem_cache"]
    assert k.dmesg[-1] == "SLUB: HWalign=64, Order=0-3, MinObjects=0, CPUs=2, Nodes=1"
    assert k.dmesg[-2].startswith("Memory: ")
    for size in (1, 8, 33, 64):
        assert k.kmalloc(size, "GFP_KERNEL").cache == "kmalloc-64"
    assert k.kmalloc(65, "GFP_KERNEL").cache == "kmalloc-128"      # 96 is not used
    assert k.kmalloc(129, "GFP_KERNEL").cache == "kmalloc-192"
    assert k.slab_address(0x20000 << 12) == 0xc0000000             # PHYS_OFFSET 0x20000000


# ---- geometry -------------------------------------------------------------------------------
def independent_geometry(object_size, cpus, pointer=8, line=64, minalign=8, hw=True):
    """calculate_alignment + calculate_sizes + calculate_order, restated for the test."""
    align = minalign
    if hw:
        r = line
        while object_size <= r // 2:
            r //= 2
        align = max(align, r)
    size = -(-object_size // pointer) * pointer
    size = -(-size // align) * align
    min_objects = min(4 * (cpus.bit_length() + 1), (4096 << 3) // size)
    while min_objects > 1:
        for fract in (16, 8, 4):
            for order in range(max(0, (min_objects * size - 1).bit_length() - 12), 4):
                slab = 4096 << order
                if slab >= min_objects * size and slab % size <= slab // fract:
                    return size, slab // size, 1 << order
        min_objects -= 1
    raise AssertionError("no order")


# what the real 3.13.11 printed on one CPU (../shared/reference/real-3.13/1G/slabinfo):
# name -> (objsize, objperslab, pagesperslab)
REAL_X86_ONE_CPU = {
    "kmalloc-8192": (8192, 4, 8), "kmalloc-4096": (4096, 8, 8), "kmalloc-2048": (2048, 8, 4),
    "kmalloc-1024": (1024, 8, 2), "kmalloc-512": (512, 8, 1), "kmalloc-256": (256, 16, 1),
    "kmalloc-192": (192, 21, 1), "kmalloc-128": (128, 32, 1), "kmalloc-96": (96, 42, 1),
    "kmalloc-64": (64, 64, 1), "kmalloc-32": (32, 128, 1), "kmalloc-16": (16, 256, 1),
    "kmalloc-8": (8, 512, 1), "kmem_cache_node": (64, 64, 1), "kmem_cache": (256, 16, 1),
}


def geometry(k):
    kc = k.mem.kmem_cache
    return {k.slab.names[s]: (int(kc[s, KC_SIZE]), int(oo_objects(kc[s, KC_OO])),
                              1 << int(oo_order(kc[s, KC_OO]))) for s in k.slab.slab_caches}


@pytest.mark.parametrize("cpus", [1, 2, 4])
def test_x86_64_kmalloc_geometry(cpus):
    k = kmemsim.boot("x86_64", mem="1G", cpus=cpus, mode="python", stop_after="kmem_cache_init")
    got = geometry(k)
    sizes = [8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192]
    for size in sizes:
        want = independent_geometry(size, cpus, hw=False)
        assert got[f"kmalloc-{size}"] == want
        assert got[f"dma-kmalloc-{size}"] == want
    assert got["kmem_cache"] == independent_geometry(200, cpus)
    assert got["kmem_cache_node"] == independent_geometry(64, cpus)
    if cpus == 1:
        assert {n: got[n] for n in REAL_X86_ONE_CPU} == REAL_X86_ONE_CPU
    if cpus == 2:   # slub_min_objects 12: the 512..2048 caches double (facts sheet)
        assert [got[f"kmalloc-{n}"][1] for n in (512, 1024, 2048)] == [16, 16, 16]


def test_x86_64_geometry_equals_the_real_slabinfo():
    real = real_file("1G", "slabinfo")
    k = kmemsim.boot("x86_64", mem="1G", mode="python", stop_after="kmem_cache_init")
    got = geometry(k)
    rows = {}
    for line in real.splitlines()[2:]:
        f = line.split()
        rows[f[0]] = (int(f[3]), int(f[4]), int(f[5]))
    assert {n: rows[n] for n in got} == got
    order = [line.split()[0] for line in real.splitlines()[2:] if line.split()[0] in got]
    assert order == [k.slab.names[s] for s in k.slab.slab_caches]


def test_arndale_geometry():
    k = kmemsim.boot("arndale", mode="python", stop_after="kmem_cache_init")
    got = geometry(k)
    for size in (64, 128, 192, 256, 512, 1024, 2048, 4096, 8192):
        assert got[f"kmalloc-{size}"] == independent_geometry(size, 2, pointer=4, minalign=64,
                                                              hw=False)
    assert got["kmalloc-512"] == (512, 16, 2)
    assert got["kmem_cache"] == (128, 32, 1) == independent_geometry(116, 2, pointer=4)
    assert got["kmem_cache_node"] == (64, 64, 1)


@pytest.mark.parametrize("machine", ["x86_64", "arndale"])
def test_kmalloc_size_classes(machine):
    """Every size 1..8192 goes to the smallest kmalloc cache that holds it; above that,
    whole pages (kmalloc_large)."""
    k = kmemsim.boot(machine, mode="python", stop_after="kmem_cache_init")
    caches = sorted(int(n.split("-")[1]) for n in geometry(k) if n.startswith("kmalloc-"))
    for size in range(1, 8193):
        s = int(k.fn.kmalloc_slab(k.mem, size, GFP_KERNEL))
        assert k.slab.names[s] == f"kmalloc-{min(c for c in caches if c >= size)}"
    o = k.kmalloc(8193, "GFP_KERNEL", "big")
    assert o.cache == "-" and o.pfn >= 0
    assert int(k.mem.flags[o.pfn]) & PG_HEAD_MASK and int(k.mem.lru_prev[o.pfn + 1]) == 2
    assert int(k.fn.ksize(k.mem, o.phys)) == 4 * 4096
    free = int(k.mem.vm_stat[:, 0].sum())
    k.kfree("big")
    k.drain()
    assert int(k.mem.vm_stat[:, 0].sum()) + int(k.mem.vm_stat_diff[:, :, 0].sum()) >= free + 4
    assert str(k.kmalloc(0, "GFP_KERNEL", "z")) == "z addr=ZERO_SIZE_PTR cache=- size=0"
    k.kfree("z")
    k.check()


def test_gfp_dma_uses_dma_kmalloc():
    k = kmemsim.boot("x86_64", mem="1G", mode="python")
    o = k.kmalloc(100, "GFP_KERNEL|GFP_DMA", "d")
    assert o.cache == "dma-kmalloc-128"
    assert k.zone_name(int(k.fn.page_zone_id(k.mem, o.pfn))) == "DMA"
    k.check()


# ---- the object paths -------------------------------------------------------------------------
@pytest.fixture
def k1(mode):
    return kmemsim.boot("x86_64", mem="1G", mode=mode)


def test_fast_path_and_addresses(k1):
    """The first kmalloc-64 of a fresh machine takes a new slab (ALLOC_SLAB); the next 63 are
    fast-path hits in address order; a free on the same CPU pushes onto the cpu freelist and
    the next allocation gets that object back."""
    k = k1
    a = k.kmalloc(64, "GFP_KERNEL", "a")
    assert stats(k, "kmalloc-64")["alloc_slab"] == 1
    objs = [k.kmalloc(64, "GFP_KERNEL", f"o{i}") for i in range(63)]
    assert [o.addr - a.addr for o in objs] == [64 * (i + 1) for i in range(63)]
    assert a.addr == 0xffff880000000000 + (a.pfn << 12)
    assert stats(k, "kmalloc-64")["alloc_fastpath"] == 63
    k.kfree("o10")
    assert stats(k, "kmalloc-64")["free_fastpath"] == 1
    again = k.kmalloc(64, "GFP_KERNEL", "again")
    assert again.addr == objs[10].addr
    assert int(k.mem.flags[a.pfn]) >> PG_slab & 1
    k.check()


def test_cpu_partial_and_node_partial(k1):
    """A full slab that gets an object back is frozen onto the CPU's partial list
    (CPU_PARTIAL_FREE); when the cpu slab runs dry the partial one is used
    (CPU_PARTIAL_ALLOC); flushing puts slabs with free objects on the node partial list, and
    the next allocation takes them back from there (ALLOC_FROM_PARTIAL)."""
    k = k1
    ids = [k.kmalloc(1024, "GFP_KERNEL", f"x{i}").id for i in range(24)]   # 3 slabs of 8
    first_slab = k.objects["x0"].pfn
    k.kfree("x0")                                   # its slab is full and not the cpu slab
    st_ = stats(k, "kmalloc-1024")
    assert st_["free_slowpath"] == 1 and st_["cpu_partial_free"] == 1
    assert int(cpu_state(k, "kmalloc-1024")[KCC_PARTIAL]) == first_slab
    k.kmalloc(1024, "GFP_KERNEL", "y")              # cpu slab is full: the partial one
    assert stats(k, "kmalloc-1024")["cpu_partial_alloc"] == 1
    assert k.objects["y"].addr == k.slab_address(first_slab << 12)
    k.kfree("x9")
    k.kfree("x17")
    k.kmem_cache_shrink("kmalloc-1024")             # flush_all, then sort
    assert int(cpu_state(k, "kmalloc-1024")[KCC_PAGE]) == -1
    assert node_partial(k, "kmalloc-1024") == 2
    k.kmalloc(1024, "GFP_KERNEL", "z")
    assert stats(k, "kmalloc-1024")["alloc_from_partial"] == 1
    k.check()


def test_empty_slabs_freed_beyond_min_partial(k1):
    """kmalloc-4096 (min_partial 6): empty slabs stay on the node partial list up to
    min_partial, beyond that they go back to the page allocator (FREE_SLAB), and
    NR_SLAB_UNRECLAIMABLE follows."""
    k = k1
    zone = 1
    ids = [k.kmalloc(4096, "GFP_KERNEL", f"p{i}").id for i in range(8 * 12)]   # 12 slabs
    slab_pages = int(k.mem.vm_stat[zone, NR_SLAB_UNRECLAIMABLE] +
                     k.mem.vm_stat_diff[:, zone, NR_SLAB_UNRECLAIMABLE].sum())
    for i in ids:
        k.kfree(i)
    s = k.slab.lookup("kmalloc-4096")
    assert int(k.mem.kmem_cache[s, 2]) == 6                  # min_partial = ilog2(4096)/2
    # Worked by hand from put_cpu_partial / unfreeze_partials (cpu_partial 2): slabs 1-3 go
    # on the cpu partial list as their first object is freed; slab 4's first free finds
    # pobjects 3 > 2 and unfreezes 3, 2, 1 onto the node list (1..3 partial); slab 7's does
    # the same with 6, 5, 4 (4..6); slab 10's: 9 joins (nr_partial 6 is not > 6: 7), 8 and 7
    # are freed (FREE_SLAB).  Slabs 10 and 11 stay on the cpu partial list, 12 is the cpu slab.
    freed = stats(k, "kmalloc-4096")["free_slab"]
    left = int(k.mem.kmem_cache_node[int(k.fn.get_node(k.mem, s, 0)), 1])
    assert (freed, left, node_partial(k, "kmalloc-4096")) == (2, 10, 7)
    k.kmem_cache_shrink("kmalloc-4096")                      # frees every empty slab
    after = int(k.mem.vm_stat[zone, NR_SLAB_UNRECLAIMABLE] +
                k.mem.vm_stat_diff[:, zone, NR_SLAB_UNRECLAIMABLE].sum())
    # every slab went back; the shrink's own slabs_by_inuse array took a kmalloc-128 slab
    assert after == slab_pages - 12 * 8 + 1
    assert "kmalloc-4096           0      0   4096    8    8" in k.show("slabinfo")
    k.check()


def test_reclaim_account_cache_uses_reclaimable_pages(k1):
    k = k1
    assert k.kmem_cache_create("dentry_like", 192, 0,
                               "SLAB_RECLAIM_ACCOUNT|SLAB_HWCACHE_ALIGN") == "dentry_like"
    o = k.kmem_cache_alloc("dentry_like", "GFP_KERNEL", "d")
    assert int(k.fn.get_pageblock_migratetype(k.mem, o.pfn)) == MIGRATE_RECLAIMABLE
    zone = int(k.fn.page_zone_id(k.mem, o.pfn))
    assert int(k.mem.vm_stat[zone, NR_SLAB_RECLAIMABLE] +
               k.mem.vm_stat_diff[:, zone, NR_SLAB_RECLAIMABLE].sum()) == 1
    k.kmem_cache_free("d")
    k.check()


# ---- kmem_cache_create, merging, destroy -------------------------------------------------------
def test_merge_and_destroy():
    k = kmemsim.boot("x86_64", mem="1G", mode="python")
    assert k.kmem_cache_create("foo", 100, 0, "SLAB_HWCACHE_ALIGN") == "kmalloc-128"
    assert k.kmem_cache_create("bar", 124) == "kmalloc-128"     # 120 would leave a word
    assert k.kmem_cache_create("baz", 100, 0, "SLAB_POISON") == "baz"     # never merged
    assert k.kmem_cache_create("rec", 128, 0, "SLAB_RECLAIM_ACCOUNT") == "rec"
    assert k.slab.names[k.slab.slab_caches[0]] == "rec"
    o = k.kmem_cache_alloc("foo", "GFP_KERNEL", "f")
    assert o.cache == "kmalloc-128"
    assert k.kmem_cache_destroy("foo") is False                          # kmalloc-128 stays
    k.kmem_cache_alloc("baz", "GFP_KERNEL", "b")
    assert k.kmem_cache_destroy("baz") is False
    assert k.dmesg[-1] == "kmem_cache_destroy baz: Slab cache still has objects"
    k.kmem_cache_free("b")
    assert k.kmem_cache_destroy("baz") is True
    assert "baz" not in k.show("slabinfo")
    with pytest.raises(KmemsimError, match="unknown cache 'baz'"):
        k.kmem_cache_alloc("baz", "GFP_KERNEL")
    k.check()


def test_errors_are_one_line_and_change_nothing():
    k = kmemsim.boot("x86_64", mem="1G", mode="python")
    before = k.show("slabinfo")
    for call, msg in [
        (lambda: k.kmalloc(1 << 23, "GFP_KERNEL"), "impossible"),
        (lambda: k.kmalloc(64, "GFP_KERNEL|__GFP_HIGHMEM"), "GFP_SLAB_BUG_MASK"),
        (lambda: k.kmem_cache_alloc("nope", "GFP_KERNEL"), "unknown cache"),
        (lambda: k.kfree("nothing"), "unknown id"),
        (lambda: k.kmem_cache_create("x", 4), "integrity check failed"),
        (lambda: k.kmem_cache_create("kmalloc-64", 64), "already exists"),
        (lambda: k.kmem_cache_create("y", 64, 0, "SLAB_BOGUS"), "unknown slab flag"),
        (lambda: k.kmem_cache_destroy("kmem_cache"), "boot cache"),
    ]:
        with pytest.raises(KmemsimError, match=msg):
            call()
    assert k.show("slabinfo") == before
    k.kmalloc(64, "GFP_KERNEL", "a")
    k.kfree("a")
    with pytest.raises(KmemsimError, match="double free of 'a'"):
        k.kfree("a")
    k.alloc(0, "GFP_KERNEL", "pg")
    with pytest.raises(KmemsimError, match="page allocation"):
        k.kfree("pg")
    k.kmalloc(8, "GFP_KERNEL", "obj")
    with pytest.raises(KmemsimError, match="is a slab object: use 'kfree obj'"):
        k.free("obj")
    with pytest.raises(KmemsimError, match="id 'obj' is still allocated"):
        k.alloc(0, "GFP_KERNEL", "obj")
    k.check()


# ---- random use: the validators hold after every step --------------------------------------------
SIZES = st.sampled_from([1, 8, 24, 64, 100, 192, 256, 700, 1024, 2000, 4096, 5000, 8192, 9000])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.tuples(st.sampled_from(["alloc", "free", "shrink"]), SIZES,
                          st.integers(0, 1), st.integers(0, 10 ** 6)), min_size=1, max_size=120))
def test_random_kmalloc_kfree_keep_slab_state_valid(ops):
    k = kmemsim.boot("tiny", mem="16M", cpus=2, mode="python")
    live = []
    for i, (what, size, cpu, pick) in enumerate(ops):
        if what == "free" and live:
            k.kfree(live.pop(pick % len(live)), cpu=cpu)
        elif what == "shrink":
            k.kmem_cache_shrink(f"kmalloc-{min(c for c in (8, 16, 32, 64, 96, 128, 192, 256, 512, 1024, 2048, 4096, 8192) if c >= size)}"
                                if size <= 8192 else "kmalloc-8192")
        else:
            o = k.kmalloc(size, "GFP_KERNEL", f"o{i}", cpu=cpu)
            if o is not None:
                live.append(o.id)
        k.check()
    for ident in live:
        k.kfree(ident)
    k.check()


def test_validator_catches_a_corrupt_freelist():
    k = kmemsim.boot("x86_64", mem="1G", mode="python")
    o = k.kmalloc(64, "GFP_KERNEL", "a")
    k.kmalloc(64, "GFP_KERNEL", "b")
    k.kfree("b")
    g = cpu_state(k, "kmalloc-64")
    base = int(k.mem.slab_objbase[o.pfn])
    k.mem.slab_objnext[base + int(g[KCC_FREELIST])] = int(g[KCC_FREELIST])   # a cycle
    with pytest.raises(ValidationError, match="freelist is broken"):
        k.check()


def test_both_modes_give_the_same_objects_and_state():
    """The same random kmalloc/kfree/kmem_cache_* sequence in python and compiled mode: the
    same address for every object and, at the end, the same Mem array by array."""
    from test_differential import assert_same_mem
    rng = np.random.default_rng(7)
    sizes = [8, 40, 64, 96, 130, 500, 1024, 3000, 8192, 12000]
    script = []
    live = []
    for i in range(1500):
        r = rng.random()
        if live and r < 0.45:
            script.append(("kfree", live.pop(int(rng.integers(len(live)))), int(rng.integers(2))))
        elif r < 0.47:
            script.append(("shrink", f"kmalloc-{[64, 128, 1024][int(rng.integers(3))]}", 0))
        else:
            script.append(("kmalloc", f"o{i}", int(sizes[int(rng.integers(len(sizes)))]),
                           int(rng.integers(2))))
            live.append(f"o{i}")
    results = []
    for mode in ("python", "compiled"):
        k = kmemsim.boot("x86_64", mem="256M", cpus=2, mode=mode)
        addrs = []
        for op in script:
            if op[0] == "kfree":
                k.kfree(op[1], cpu=op[2])
            elif op[0] == "shrink":
                k.kmem_cache_shrink(op[1])
            else:
                addrs.append(k.kmalloc(op[2], "GFP_KERNEL", op[1], cpu=op[3]).addr)
        k.check()
        results.append((addrs, k))
    assert results[0][0] == results[1][0]
    assert_same_mem(results[0][1].mem, results[1][1].mem, "after the slab sequence")


def test_the_docs_example_prints_what_the_page_says():
    from pathlib import Path

    from kmemsim.script import run_script
    doc = (Path(__file__).resolve().parents[2] / "docs" / "slub.md").read_text()
    script = doc.split("<<'EOF'\n", 1)[1].split("\nEOF\n", 1)[0] + "\n"
    out = run_script(kmemsim.boot("x86_64", mem="1G"), script).splitlines()
    assert out[:3] == ["inode_like: size=640 objperslab=12 pagesperslab=2",
                       "i0 addr=0xffff88003e400000 cache=inode_like size=600 pfn=254976",
                       "a addr=0xffff88003e805000 cache=kmalloc-64 size=64 pfn=256005"]
    for line in out[:3]:
        assert f"`{line}`" in " ".join(doc.split())
    assert out[3] == "slabinfo - version: 2.1"
