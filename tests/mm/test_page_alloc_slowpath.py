"""The slow path's high-order story (mm/page_alloc.c __alloc_pages_direct_compact and
__alloc_pages_direct_reclaim): an order-3 GFP_KERNEL allocation on a machine whose free
memory is all single pages between clean page-cache pages, in both modes.

The machine is built with kmemsim's own operations: two files read a page at a time in
turn until each zone is 64 pages above its low watermark (so kswapd never wakes), the
blocks of order 3 and more still free taken by the buddy core (kernel memory), then one file
truncated: its pages come back as holes between the other file's pages.
"""

import kmemsim
from conftest import without_slab
from kmemsim.mm.mmzone import (CFG_COMPACTION, WMARK_LOW, ZM_COMPACT_BLOCKSKIP_FLUSH,
                               ZM_COMPACT_CACHED_FREE_PFN, ZONE_STAT_ITEMS)
from kmemsim.mm.vmstat import vm_event_names

NR_FREE_PAGES = ZONE_STAT_ITEMS.index("nr_free_pages")
EVENTS = ("compact_stall", "compact_success", "compact_fail", "compact_migrate_scanned",
          "pgmigrate_success", "allocstall", "pgsteal_direct_dma32", "pgsteal_kswapd_dma32",
          "pgsteal_direct_normal", "pageoutrun")


def events(k):
    names = vm_event_names(k.machine)
    return {e: int(k.mem.vm_events[:, names.index(e)].sum()) for e in EVENTS if e in names}


def moved(k, before):
    return {e: v - before[e] for e, v in events(k).items() if v != before[e]}


def zone_free(k, zone):
    return int(k.fn.zone_page_state_snapshot(k.mem, zone, NR_FREE_PAGES))


def fragment_with_clean_cache(k, zones_gfp):
    """Fill with two interleaved files, pin what is left of order 3 and more, truncate one
    file; returns how many pages the truncate freed."""
    k.file("a")
    k.file("b")
    zones = [z for z, _ in zones_gfp]
    while all(zone_free(k, z) > k.mem.watermark[z, WMARK_LOW] + 64 for z in zones):
        k.read("a", 1)
        k.read("b", 1)
    pins = 0
    for zone, gfp in zones_gfp:
        for order in range(10, 2, -1):
            while k.mem.nr_free[zone, order]:
                assert k.buddy_alloc(order, gfp, id=f"pin{pins}") is not None
                pins += 1
    assert not k.mem.nr_free[:, 3:].any()
    return k.truncate("b")


def test_direct_compaction_makes_the_block(mode):
    """3.13 compacts before it reclaims: one stall, and compaction runs until the order-3
    watermark holds (compact_finished), migrating 6107 clean pages; no page is reclaimed
    directly.  kswapd, woken by the slow path, ran once."""
    k = kmemsim.boot(without_slab("x86_64", mem="128M"), mode=mode)
    assert fragment_with_clean_cache(k, [(0, "GFP_DMA"), (1, "GFP_KERNEL")]) == 14595
    assert k.show("buddyinfo") == (
        "Node 0, zone      DMA   1882     16      0      0      0      0      0      0      0      0      0 \n"
        "Node 0, zone    DMA32  12644      1      0      1      0      0      0      0      0      0      0 \n")
    before = events(k)
    a = k.alloc(3, "GFP_KERNEL", id="big")
    assert (a.pfn, a.zone) == (18432, "DMA32")
    assert moved(k, before) == {"compact_stall": 1, "compact_success": 1,
                                "compact_migrate_scanned": 14978, "pgmigrate_success": 6107,
                                "pageoutrun": 1}
    k.check()


def test_without_compaction_reclaim_makes_the_block(mode):
    """Without CONFIG_COMPACTION the same request stalls in direct reclaim twice; freeing the
    oldest cache pages joins them with the holes around them."""
    k = kmemsim.boot(without_slab("x86_64", mem="128M"), mode=mode)
    k.mem.cfg[CFG_COMPACTION] = 0
    assert fragment_with_clean_cache(k, [(0, "GFP_DMA"), (1, "GFP_KERNEL")]) == 14595
    before = events(k)
    a = k.alloc(3, "GFP_KERNEL", id="big")
    assert (a.pfn, a.zone) == (31264, "DMA32")
    assert moved(k, before) == {"allocstall": 2, "pgsteal_direct_dma32": 90,
                                "pgsteal_kswapd_dma32": 45, "pageoutrun": 1}
    k.check()


def test_a_zone_at_pfn_0_skips_its_first_compaction(mode):
    """3.13 takes a zone's cached free-scanner pfn as valid when it lies inside the zone, and
    a zero-filled struct zone says 0: on a zone that starts at pfn 0 (tiny's) the first
    compaction finds the scanners met, scans nothing and only asks for a reset
    (compact_blockskip_flush).  The request is met by direct reclaim; kswapd puts the
    scanners at the zone's ends when it goes to sleep."""
    k = kmemsim.boot(without_slab("tiny"), mode=mode)
    assert fragment_with_clean_cache(k, [(0, "GFP_KERNEL")]) == 905
    before = events(k)
    assert k.alloc(3, "GFP_KERNEL", id="big").pfn == 320
    assert moved(k, before) == {"compact_stall": 1, "compact_fail": 1, "allocstall": 1,
                                "pgsteal_direct_normal": 38, "pageoutrun": 1}
    assert k.mem.zone_misc[0, ZM_COMPACT_BLOCKSKIP_FLUSH] == 1
    assert k.mem.zone_misc[0, ZM_COMPACT_CACHED_FREE_PFN] == 0
    k.tick(100)
    assert k.mem.zone_misc[0, ZM_COMPACT_BLOCKSKIP_FLUSH] == 0
    assert k.mem.zone_misc[0, ZM_COMPACT_CACHED_FREE_PFN] == 2048
    k.check()
