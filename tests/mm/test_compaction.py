"""Compaction without migration (mm/compaction.c, the fragmentation index of mm/vmstat.c,
split_free_page of mm/page_alloc.c), step by step, in both modes.

Each test boots a scenario machine whose only free memory is what the test names
(conftest.scenario_machine) and calls the kernel functions themselves.  Expected numbers are
worked out here from the free block counts with the formulas of 3.13, independently of kmemsim.
"""

import pytest

from conftest import boot_scenario
from kmemsim.mm.compaction import (CC_FINISHED_UPDATE_FREE, CC_FREE_PFN, CC_FREEPAGES_LEN,
                                   CC_IGNORE_SKIP_HINT, CC_MIGRATE_PFN, CC_MIGRATETYPE,
                                   CC_NR_FREEPAGES, CC_NR_MIGRATEPAGES, CC_ORDER,
                                   COMPACT_COMPLETE, COMPACT_CONTINUE,
                                   COMPACT_PARTIAL, COMPACT_SKIPPED, PF_KSWAPD, compact_control)
from kmemsim.mm.mmzone import (CFG_CURRENT, CFG_EXTFRAG_THRESHOLD, MIGRATE_MOVABLE,
                               MIGRATE_RECLAIMABLE, MIGRATE_RESERVE, MIGRATE_UNMOVABLE,
                               NR_FREE_PAGES, OW_FLAGS, ZM_COMPACT_BLOCKSKIP_FLUSH,
                               ZM_COMPACT_CACHED_FREE_PFN, ZM_COMPACT_CACHED_MIGRATE_PFN,
                               ZM_COMPACT_CONSIDERED, ZM_COMPACT_DEFER_SHIFT,
                               ZM_COMPACT_ORDER_FAILED)
from kmemsim.mm.vmstat import EV_COMPACT_FREE_SCANNED, EV_COMPACT_ISOLATED

B = 0x20000        # the first pfn of the scenario zone
ZONE = 0           # zone id: node 0, ZONE_NORMAL (index 0 on 32-bit ARM)
PB = 16            # pages per pageblock in the small scenarios (pageblock_order 4)


def small_zone(free, mode):
    """A 256-page zone [B, B + 256) of sixteen 16-page pageblocks, free only at ``free``."""
    return boot_scenario(free, mode, zone=(B, B + 256), pageblock_order=4)


def fn(k, name):
    return getattr(k.fn, name)


def set_low_wmark(k, low):
    k.mem.watermark[ZONE] = (low * 4 // 5, low, low * 6 // 5)


# ---- the formulas of mm/vmstat.c, written out ---------------------------------------------------

def contig_info(counts, order):
    """fill_contig_page_info over a list of nr_free counts."""
    free_pages = sum(n << o for o, n in enumerate(counts))
    total = sum(counts)
    suitable = sum(n << (o - order) for o, n in enumerate(counts) if o >= order)
    return free_pages, total, suitable


def expected_fragindex(counts, order):
    free_pages, total, suitable = contig_info(counts, order)
    if total == 0:
        return 0
    if suitable:
        return -1000
    return 1000 - (1000 + free_pages * 1000 // (1 << order)) // total


def expected_unusable(counts, order):
    free_pages, total, suitable = contig_info(counts, order)
    if free_pages == 0:
        return 1000
    return (free_pages - (suitable << order)) * 1000 // free_pages


def counts(k):
    return [int(n) for n in k.mem.nr_free[ZONE]]


# Free memory of the scenarios below (pageblock order 10, the default scenario zone)
SINGLES = [(B + 2 * i, B + 2 * i + 1) for i in range(24)]          # 24 order-0 blocks
QUADS = [(B + 8 * i, B + 8 * i + 4) for i in range(8)]              # 8 order-2 blocks
EIGHT_AND_SINGLES = [(B + 0x100, B + 0x108)] + SINGLES[:20]         # order 3 + 20 order 0
BIG = [(B + 0x100, B + 0x140)]                                      # one order-6 block
TIGHT = [(B + 0x100, B + 0x110)] + SINGLES[:4]                      # order 4 + 4 order 0


@pytest.mark.parametrize("free, nr_free", [
    (SINGLES, [24] + [0] * 10),
    (QUADS, [0, 0, 8] + [0] * 8),
    (EIGHT_AND_SINGLES, [20, 0, 0, 1] + [0] * 7),
    (BIG, [0] * 6 + [1] + [0] * 4),
])
def test_fragmentation_and_unusable_index_follow_the_formulas(mode, free, nr_free):
    k = boot_scenario(free, mode)
    assert counts(k) == nr_free
    for order in range(11):
        info = fn(k, "fill_contig_page_info")(k.mem, ZONE, order)
        assert tuple(int(x) for x in info) == contig_info(nr_free, order)
        assert fn(k, "fragmentation_index")(k.mem, ZONE, order) == \
            expected_fragindex(nr_free, order)
        assert fn(k, "unusable_free_index")(order, info) == expected_unusable(nr_free, order)


def test_fragmentation_index_values(mode):
    """The numbers the formulas give for the scenarios: 24 single pages at order 3 score 834
    (fragmentation), eight 4-page blocks 375 (lack of memory), a free block of the order
    -1000, an empty zone 0, and one block smaller than the request goes negative (the
    kernel's unsigned arithmetic: 1000 - (1000 + 500) / 1)."""
    def index(free, order):
        k = boot_scenario(free, mode)
        return fn(k, "fragmentation_index")(k.mem, ZONE, order)

    assert index(SINGLES, 3) == 1000 - (1000 + 24 * 1000 // 8) // 24 == 834
    assert index(QUADS, 3) == 1000 - (1000 + 32 * 1000 // 8) // 8 == 375
    assert index(BIG, 3) == -1000
    assert index([], 3) == 0
    assert [int(index([(B, B + 1)], order)) for order in range(11)] == \
        [-1000, -500, -250, -125, -62, -31, -15, -7, -3, -1, 0]


@pytest.mark.parametrize("free, order, low, expected", [
    (SINGLES, 3, 3, COMPACT_CONTINUE),           # 24 > 3 + 16; index 834 > 500
    (QUADS, 3, 3, COMPACT_SKIPPED),              # 32 > 19; index 375 <= 500: lack of memory
    (EIGHT_AND_SINGLES, 3, 3, COMPACT_CONTINUE), # -1000, but the order-3 watermark fails
    (BIG, 3, 3, COMPACT_PARTIAL),                # -1000 and the order-3 watermark holds
    (TIGHT, 3, 4, COMPACT_SKIPPED),              # 20 free pages, not above 4 + 16
    (TIGHT, 3, 3, COMPACT_CONTINUE),             # 20 > 3 + 16, but 20 - 7 is not
    (QUADS, -1, 100, COMPACT_CONTINUE),          # /proc/sys/vm/compact_memory
])
def test_compaction_suitable(mode, free, order, low, expected):
    k = boot_scenario(free, mode)
    set_low_wmark(k, low)
    if order >= 0:
        # the two watermark checks worked out by hand, so the cases mean what they say
        free_pages = int(k.mem.vm_stat[ZONE, NR_FREE_PAGES])
        fi = expected_fragindex(counts(k), order)
        mark = low + (2 << order)
        if free_pages <= mark:
            assert expected == COMPACT_SKIPPED
        elif 0 <= fi <= 500:
            assert expected == COMPACT_SKIPPED
        elif fi == -1000:
            left = free_pages - ((1 << order) - 1)
            ok, m = left > mark, mark
            for o in range(order):
                left -= counts(k)[o] << o
                m >>= 1
                ok = ok and left > m
            assert expected == (COMPACT_PARTIAL if ok else COMPACT_CONTINUE)
        else:
            assert expected == COMPACT_CONTINUE
    assert fn(k, "compaction_suitable")(k.mem, ZONE, order) == expected


def test_compaction_suitable_follows_extfrag_threshold(mode):
    """vm.extfrag_threshold is the upper bound of the 'lack of memory' range: 834 skips at a
    threshold of 834 and continues at 833."""
    k = boot_scenario(SINGLES, mode)
    set_low_wmark(k, 3)
    k.mem.cfg[CFG_EXTFRAG_THRESHOLD] = 834
    assert fn(k, "compaction_suitable")(k.mem, ZONE, 3) == COMPACT_SKIPPED
    k.mem.cfg[CFG_EXTFRAG_THRESHOLD] = 833
    assert fn(k, "compaction_suitable")(k.mem, ZONE, 3) == COMPACT_CONTINUE


# ---- deferral ----------------------------------------------------------------------------------

def misc(k, slot):
    return int(k.mem.zone_misc[ZONE, slot])


def test_deferral_doubles_up_to_64_attempts(mode):
    """After the n-th failure, 2^n - 1 attempts are skipped (n at most 6); the attempt after
    them runs, and from the longest deferral on compaction_restarting says so."""
    k = boot_scenario([], mode)
    defer, deferred, restarting = (fn(k, n) for n in (
        "defer_compaction", "compaction_deferred", "compaction_restarting"))
    for n in range(1, 8):
        defer(k.mem, ZONE, 4)
        shift = min(n, 6)
        assert misc(k, ZM_COMPACT_DEFER_SHIFT) == shift
        assert misc(k, ZM_COMPACT_CONSIDERED) == 0
        assert not restarting(k.mem, ZONE, 4)
        skipped = 0
        while deferred(k.mem, ZONE, 4):
            skipped += 1
            assert misc(k, ZM_COMPACT_CONSIDERED) == skipped
        assert skipped == (1 << shift) - 1
        assert misc(k, ZM_COMPACT_CONSIDERED) == 1 << shift
        assert not deferred(k.mem, ZONE, 4)                    # capped, still not deferred
        assert misc(k, ZM_COMPACT_CONSIDERED) == 1 << shift
        assert bool(restarting(k.mem, ZONE, 4)) == (shift == 6)
    # compact_order_failed started at 0: every order is at or above it
    assert misc(k, ZM_COMPACT_ORDER_FAILED) == 0


def test_deferral_applies_from_the_failed_order_up(mode):
    k = boot_scenario([], mode)
    k.mem.zone_misc[ZONE, ZM_COMPACT_ORDER_FAILED] = 9        # a success at order 8 (3.13)
    fn(k, "defer_compaction")(k.mem, ZONE, 4)
    assert misc(k, ZM_COMPACT_ORDER_FAILED) == 4
    fn(k, "defer_compaction")(k.mem, ZONE, 6)                 # a higher order keeps 4
    assert misc(k, ZM_COMPACT_ORDER_FAILED) == 4
    assert misc(k, ZM_COMPACT_DEFER_SHIFT) == 2
    assert not fn(k, "compaction_deferred")(k.mem, ZONE, 3)   # below: never deferred ...
    assert misc(k, ZM_COMPACT_CONSIDERED) == 0                # ... and not counted
    assert fn(k, "compaction_deferred")(k.mem, ZONE, 4)
    assert misc(k, ZM_COMPACT_CONSIDERED) == 1


# ---- split_free_page ---------------------------------------------------------------------------

def test_split_free_page_obeys_the_low_watermark(mode):
    """An order-3 block is taken only if 24 free pages stay above low + 8 at order 0."""
    k = small_zone([(B + 8, B + 16), (B + 32, B + 48)], mode)
    assert counts(k)[3:5] == [1, 1] and int(k.mem.vm_stat[ZONE, NR_FREE_PAGES]) == 24
    set_low_wmark(k, 16)                                      # 24 > 16 + 8 fails
    before = (k.mem.nr_free.copy(), k.mem.count.copy(), k.mem.flags.copy())
    assert fn(k, "split_free_page")(k.mem, B + 8) == 0
    assert (k.mem.nr_free == before[0]).all() and (k.mem.count == before[1]).all()
    assert (k.mem.flags == before[2]).all()
    set_low_wmark(k, 15)                                      # 24 > 15 + 8
    assert fn(k, "split_free_page")(k.mem, B + 8) == 8
    assert counts(k)[3:5] == [0, 1]
    assert int(k.mem.vm_stat[ZONE, NR_FREE_PAGES]) == 16
    for pfn in range(B + 8, B + 16):
        assert not fn(k, "PageBuddy")(k.mem, pfn) and k.mem.count[pfn] == 1
    assert k.mem.private[B + 8] == 0


def test_split_free_page_makes_large_blocks_movable(mode):
    """3.13 retypes the pageblock of an isolated block of order >= pageblock_order - 1 (3
    here) to MOVABLE; a smaller block leaves it, and a RESERVE block is retyped too.  (The
    free order-7 block at B + 128 keeps the zone above the watermark.)"""
    k = small_zone([(B, B + 8), (B + 16, B + 20), (B + 32, B + 64), (B + 128, B + 256)], mode)
    mt = lambda pfn: int(fn(k, "get_pageblock_migratetype")(k.mem, pfn))
    for pfn, t in ((B, MIGRATE_UNMOVABLE), (B + 16, MIGRATE_UNMOVABLE),
                   (B + 32, MIGRATE_RESERVE), (B + 48, MIGRATE_RECLAIMABLE)):
        fn(k, "set_pageblock_migratetype")(k.mem, pfn, t)
    assert fn(k, "split_free_page")(k.mem, B) == 8
    assert fn(k, "split_free_page")(k.mem, B + 16) == 4
    assert fn(k, "split_free_page")(k.mem, B + 32) == 32       # order 5: two pageblocks
    assert [mt(B), mt(B + 16), mt(B + 32), mt(B + 48)] == \
        [MIGRATE_MOVABLE, MIGRATE_UNMOVABLE, MIGRATE_MOVABLE, MIGRATE_MOVABLE]


# ---- the free scanner --------------------------------------------------------------------------

# Pageblocks of the small zone, from the top (the free scanner's order):
#   15 [B+240, B+256)  MOVABLE, nothing free                -> skip bit, cached free pfn
#   14 [B+224, B+240)  UNMOVABLE, 8 pages free              -> not a target
#   13 [B+208, B+224)  MOVABLE, free B+208..B+211, B+215    -> 5 pages
#   12 [B+192, B+208)  MOVABLE, nothing free                -> skip bit only
#   11 [B+176, B+192)  skip bit already set, 4 pages free   -> passed over
#   10 [B+160, B+176)  RESERVE, 8 pages free                -> not a target
#    9 [B+144, B+160)  MOVABLE, free B+152..B+159           -> 8 pages: 13 >= 8, stop
SCAN_FREE = [(B + 224, B + 232), (B + 208, B + 212), (B + 215, B + 216), (B + 176, B + 180),
             (B + 160, B + 168), (B + 152, B + 160)]


def scan_zone(mode):
    k = small_zone(SCAN_FREE, mode)
    fn(k, "set_pageblock_migratetype")(k.mem, B + 224, MIGRATE_UNMOVABLE)
    fn(k, "set_pageblock_migratetype")(k.mem, B + 160, MIGRATE_RESERVE)
    fn(k, "set_pageblock_skip")(k.mem, B + 176)
    # compact_zone()'s start: the scanners at the zone's ends, cached there too
    k.mem.zone_misc[ZONE, ZM_COMPACT_CACHED_MIGRATE_PFN] = B
    k.mem.zone_misc[ZONE, ZM_COMPACT_CACHED_FREE_PFN] = B + 256
    cc, freepages = compact_control(ZONE, 3, MIGRATE_MOVABLE)
    cc[CC_MIGRATE_PFN], cc[CC_FREE_PFN] = B, B + 256
    cc[CC_NR_MIGRATEPAGES] = 8
    return k, cc, freepages


def events(k, ev):
    return int(k.mem.vm_events[:, k.mem.vm_event_index[ev]].sum())


def skipped_blocks(k):
    return [i for i in range(16) if fn(k, "get_pageblock_skip")(k.mem, B + PB * i)]


def test_isolate_freepages_scans_down_from_the_zone_end(mode):
    k, cc, freepages = scan_zone(mode)
    free_before = int(k.mem.vm_stat[ZONE, NR_FREE_PAGES])
    fn(k, "isolate_freepages")(k.mem, ZONE, cc, freepages)
    n = int(cc[CC_FREEPAGES_LEN])
    # the list in push order: B+208's block page by page, B+215, then B+152's block
    assert freepages[:n].tolist() == [*range(B + 208, B + 212), B + 215, *range(B + 152, B + 160)]
    assert cc[CC_NR_FREEPAGES] == 13
    assert cc[CC_FREE_PFN] == B + 208                  # the highest block that gave pages
    assert cc[CC_FINISHED_UPDATE_FREE] == 1
    # skip bits: block 11 (set before), 12 and 15 (scanned, nothing); the cached free pfn
    # moved only for block 15, before this run had isolated anything
    assert skipped_blocks(k) == [11, 12, 15]
    assert misc(k, ZM_COMPACT_CACHED_FREE_PFN) == B + 240
    assert misc(k, ZM_COMPACT_CACHED_MIGRATE_PFN) == B
    # blocks 14, 11, 10 keep their free pages
    assert counts(k) == [0, 0, 1, 2, 0, 0, 0, 0, 0, 0, 0]
    assert int(k.mem.vm_stat[ZONE, NR_FREE_PAGES]) == free_before - 13
    for pfn in freepages[:n]:
        assert k.mem.count[pfn] == 1 and not fn(k, "PageBuddy")(k.mem, pfn)
    # pfns looked at: 16 (block 15) + 13 (block 13: 3 pfns inside the order-2 block are
    # jumped) + 16 (block 12) + 9 (block 9: 8 busy pfns and the order-3 block)
    assert events(k, EV_COMPACT_FREE_SCANNED) == 16 + 13 + 16 + 9
    assert events(k, EV_COMPACT_ISOLATED) == 13


def test_compaction_alloc_pops_the_last_isolated_page(mode):
    k, cc, freepages = scan_zone(mode)
    alloc = fn(k, "compaction_alloc")
    taken = [alloc(k.mem, 0, cc, freepages) for _ in range(2)]
    assert taken == [B + 159, B + 158]                        # isolates, then takes the head
    assert cc[CC_NR_FREEPAGES] == 11 and cc[CC_FREEPAGES_LEN] == 11
    free_before = int(k.mem.vm_stat[ZONE, NR_FREE_PAGES])
    assert fn(k, "release_freepages")(k.mem, cc, freepages) == 11
    assert cc[CC_FREEPAGES_LEN] == 0
    assert cc[CC_NR_FREEPAGES] == 11                          # compact_zone subtracts it
    assert int(k.mem.vm_stat[ZONE, NR_FREE_PAGES]) == free_before + 11
    for page in taken:                          # migration would have used them; free them
        fn(k, "__free_pages")(k.mem, page, 0)
    k.check()


def test_compaction_alloc_returns_null_when_the_scanners_meet(mode):
    k, cc, freepages = scan_zone(mode)
    cc[CC_MIGRATE_PFN] = B + 224             # low_pfn B+240: block 15 alone lies above it
    assert fn(k, "compaction_alloc")(k.mem, 0, cc, freepages) == -1
    assert cc[CC_FREE_PFN] == B + 240                         # min(low_pfn, free_pfn)
    assert skipped_blocks(k) == [11]                          # B+256 is past the zone
    assert events(k, EV_COMPACT_FREE_SCANNED) == 0


def test_ignore_skip_hint_scans_skipped_blocks_and_sets_no_bits(mode):
    k, cc, freepages = scan_zone(mode)
    cc[CC_IGNORE_SKIP_HINT] = 1
    cc[CC_NR_MIGRATEPAGES] = 6
    fn(k, "isolate_freepages")(k.mem, ZONE, cc, freepages)
    n = int(cc[CC_FREEPAGES_LEN])
    assert freepages[:n].tolist() == [*range(B + 208, B + 212), B + 215, *range(B + 176, B + 180)]
    assert skipped_blocks(k) == [11]
    assert misc(k, ZM_COMPACT_CACHED_FREE_PFN) == B + 256


def test_isolate_freepages_block_strict(mode):
    """Strict (CMA) isolation gives up at the first page that is not free and reports 0,
    keeping what it split (its caller releases it)."""
    k = small_zone([(B, B + 4), (B + 8, B + 16), (B + 128, B + 256)], mode)
    cc, freepages = compact_control(ZONE, 3, MIGRATE_MOVABLE)
    block = fn(k, "isolate_freepages_block")
    assert block(k.mem, cc, B, B + 16, freepages, True) == 0
    assert freepages[:int(cc[CC_FREEPAGES_LEN])].tolist() == [B, B + 1, B + 2, B + 3]
    assert block(k.mem, cc, B + 8, B + 16, freepages, True) == 8
    assert skipped_blocks(k) == []


# ---- skip hints, compact_finished ------------------------------------------------------------

def test_update_pageblock_skip_for_the_migrate_scanner(mode):
    k = small_zone([], mode)
    cc, _ = compact_control(ZONE, 3, MIGRATE_MOVABLE)
    update = fn(k, "update_pageblock_skip")
    k.mem.zone_misc[ZONE, ZM_COMPACT_CACHED_MIGRATE_PFN] = B
    update(k.mem, cc, B + 32, 0, True)
    assert misc(k, ZM_COMPACT_CACHED_MIGRATE_PFN) == B + 32 and skipped_blocks(k) == [2]
    update(k.mem, cc, B + 16, 0, True)                        # never moves back
    assert misc(k, ZM_COMPACT_CACHED_MIGRATE_PFN) == B + 32
    update(k.mem, cc, B + 64, 3, True)                        # pages isolated: nothing
    update(k.mem, cc, -1, 0, True)                            # no valid page: nothing
    assert skipped_blocks(k) == [1, 2]
    cc[CC_IGNORE_SKIP_HINT] = 1
    update(k.mem, cc, B + 96, 0, True)
    assert skipped_blocks(k) == [1, 2] and misc(k, ZM_COMPACT_CACHED_MIGRATE_PFN) == B + 32


def test_reset_isolation_suitable_only_after_a_full_run(mode):
    k = small_zone([], mode)
    for i in (1, 5, 15):
        fn(k, "set_pageblock_skip")(k.mem, B + PB * i)
    k.mem.zone_misc[ZONE, ZM_COMPACT_CACHED_FREE_PFN] = B + 100
    fn(k, "reset_isolation_suitable")(k.mem, 0)               # no flush requested
    assert skipped_blocks(k) == [1, 5, 15]
    k.mem.zone_misc[ZONE, ZM_COMPACT_BLOCKSKIP_FLUSH] = 1
    fn(k, "reset_isolation_suitable")(k.mem, 0)
    assert skipped_blocks(k) == []
    assert misc(k, ZM_COMPACT_CACHED_MIGRATE_PFN) == B
    assert misc(k, ZM_COMPACT_CACHED_FREE_PFN) == B + 256
    assert misc(k, ZM_COMPACT_BLOCKSKIP_FLUSH) == 0


def test_compact_finished(mode):
    # free: a MOVABLE order-3 block, and an order-4 and an order-6 block on UNMOVABLE lists
    k = small_zone([(B + 8, B + 16), (B + 32, B + 48), (B + 64, B + 128)], mode)
    for pfn in (B + 32, B + 64):
        fn(k, "move_freepages_block")(k.mem, ZONE, pfn, MIGRATE_UNMOVABLE)
    finished = fn(k, "compact_finished")
    cc, _ = compact_control(ZONE, 3, MIGRATE_MOVABLE)
    cc[CC_MIGRATE_PFN], cc[CC_FREE_PFN] = B, B + 256
    assert finished(k.mem, ZONE, cc) == COMPACT_PARTIAL       # order 3 on the MOVABLE list
    cc[CC_ORDER] = 4
    assert finished(k.mem, ZONE, cc) == COMPACT_PARTIAL       # >= pageblock order: any list
    cc[CC_ORDER], cc[CC_MIGRATETYPE] = 3, MIGRATE_RECLAIMABLE
    assert finished(k.mem, ZONE, cc) == COMPACT_CONTINUE      # nothing on RECLAIMABLE lists
    cc[CC_MIGRATETYPE] = MIGRATE_MOVABLE
    set_low_wmark(k, 73)                                      # 88 - 7 > 73 + 8 fails
    assert finished(k.mem, ZONE, cc) == COMPACT_CONTINUE
    set_low_wmark(k, 72)
    assert finished(k.mem, ZONE, cc) == COMPACT_PARTIAL
    cc[CC_ORDER] = -1
    assert finished(k.mem, ZONE, cc) == COMPACT_CONTINUE
    assert misc(k, ZM_COMPACT_BLOCKSKIP_FLUSH) == 0
    cc[CC_FREE_PFN] = B                                       # the scanners met
    assert finished(k.mem, ZONE, cc) == COMPACT_COMPLETE
    assert misc(k, ZM_COMPACT_BLOCKSKIP_FLUSH) == 1


def test_compact_finished_in_kswapd_leaves_the_flush_to_direct_compaction(mode):
    k = small_zone([], mode)
    task = int(k.mem.cfg[CFG_CURRENT])
    k.mem.owners[task, OW_FLAGS] |= PF_KSWAPD
    cc, _ = compact_control(ZONE, 3, MIGRATE_MOVABLE)
    cc[CC_MIGRATE_PFN] = cc[CC_FREE_PFN] = B + 128
    assert fn(k, "compact_finished")(k.mem, ZONE, cc) == COMPACT_COMPLETE
    assert misc(k, ZM_COMPACT_BLOCKSKIP_FLUSH) == 0


# ==== the migrate side: compact_zone() with page migration ======================================
#
# Checkerboards: two tasks fault one page each in turn, then one of them exits, so every other
# page of the zone is free and no free block is bigger than one page.

from kmemsim.mm.gfp import GFP_HIGHUSER_MOVABLE  # noqa: E402
from kmemsim.mm.mmzone import CFG_COMPACTION, OW_RSS, PVEC_LRU_ADD  # noqa: E402
from kmemsim.mm.vmstat import EV_COMPACT_MIGRATE_SCANNED, EV_COMPACT_STALL, \
    EV_PGMIGRATE_FAIL, EV_PGMIGRATE_SUCCESS  # noqa: E402


def checkerboard(k, pairs):
    """Tasks a and b fault ``pairs`` pages each, alternately; b exits.  Returns a's pages."""
    k.task("a")
    k.task("b")
    for _ in range(pairs):
        assert k.fault("a", 1) == 1
        assert k.fault("b", 1) == 1
    k.exit("b")
    k.check()
    return owner_list(k, "a")


def owner_list(k, name):
    owner = k.owner_ids[name]
    head = int(fn(k, "owner_head")(k.mem, owner))
    pages, p = [], int(k.mem.rmap_next[head])
    while p != head:
        pages.append(p)
        p = int(k.mem.rmap_next[p])
    return pages


def compaction_events(k):
    return (events(k, EV_COMPACT_MIGRATE_SCANNED), events(k, EV_COMPACT_FREE_SCANNED),
            events(k, EV_COMPACT_ISOLATED), events(k, EV_PGMIGRATE_SUCCESS),
            events(k, EV_PGMIGRATE_FAIL), events(k, EV_COMPACT_STALL))


def lru_add_pvec(k):
    n = int(k.mem.pagevecs[0, PVEC_LRU_ADD, 0])
    return [int(p) for p in k.mem.pagevecs[0, PVEC_LRU_ADD, 1:1 + n]]


def tiny_skipped_blocks(k):
    return [i for i in range(32) if fn(k, "get_pageblock_skip")(k.mem, 64 * i)]


@pytest.fixture
def tiny_board(mode):
    """The tiny machine (one zone, pfns 0..2047, pageblocks of 64 pages): free at boot are
    the RESERVE order-8 block at 0 and 320..2047 (256..319 is the kernel).  Movable pages come
    in ascending pfn order, so a owns the even pfns 320..2046 and the odd ones are free."""
    import kmemsim
    k = kmemsim.boot("tiny", mode=mode, slab=False)        # no slab page in 1024..1026
    pages = checkerboard(k, 864)
    assert pages == list(range(320, 2048, 2))
    assert counts(k) == [864, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0]
    return k


def test_compact_node_on_a_zone_at_pfn_0_first_does_nothing(tiny_board):
    """A 3.13 quirk: the zone's cached scanner positions start at 0 (a zeroed struct zone),
    and 0 lies inside a zone that starts at pfn 0, so compact_zone() takes free_pfn =
    migrate_pfn = 0: the scanners have met, COMPLETE at once, and compact_blockskip_flush asks
    kswapd to reset the zone when it next goes to sleep (reset_isolation_suitable)."""
    k = tiny_board
    fn(k, "compact_node")(k.mem, 0)
    k.check()
    assert compaction_events(k) == (0, 0, 0, 0, 0, 0)
    assert misc(k, ZM_COMPACT_CACHED_MIGRATE_PFN) == misc(k, ZM_COMPACT_CACHED_FREE_PFN) == 0
    assert misc(k, ZM_COMPACT_BLOCKSKIP_FLUSH) == 1
    fn(k, "reset_isolation_suitable")(k.mem, 0)              # kswapd goes to sleep
    assert (misc(k, ZM_COMPACT_CACHED_MIGRATE_PFN), misc(k, ZM_COMPACT_CACHED_FREE_PFN),
            misc(k, ZM_COMPACT_BLOCKSKIP_FLUSH)) == (0, 2048, 0)


def test_compact_node_moves_pages_from_the_start_to_the_end(tiny_board):
    """compact_node(0): order -1, synchronous.  The migrate scanner starts at pfn 0: blocks
    0-4 (the free RESERVE block and the kernel) have no LRU page (5 x 64 pfns scanned, each
    gets its skip bit and the cached migrate pfn follows: 256).  Block j of a (j = 0, 1, ...,
    pfns 320 + 64j ..) gives its 32 pages, the cluster maximum, so isolation stops at its last
    page (63 pfns scanned) and a one-pfn pass finishes the block later.  The free scanner
    starts at 2048 (past the last pfn: not scanned) and takes block 1984 - 64j's 32 free
    pages; from the second round on it first rescans the block it emptied (64 + 12 x 128).
    Within a round the list's first page (the last isolated, 320 + 64j + 62) gets the free
    list's first (the last isolated, 1984 - 64j + 63): page 320 + 64j + 2i moves to
    1984 - 64j + 2i + 1.  Round 12 fills block 1216; in round 13 block 1152 is isolated
    (63 pfns) but the free scanner may not go below 1215 + 64: compaction_alloc has nothing,
    migrate_pages says -ENOMEM, the 32 pages go back, and compact_zone ends PARTIAL."""
    k = tiny_board
    fn(k, "__reset_isolation_suitable")(k.mem, 0)    # the scanners at the zone's ends
    fn(k, "compact_node")(k.mem, 0)
    k.check()
    migrate_scanned = 5 * 64 + 13 * (63 + 1) + 63
    free_scanned = 64 + 12 * 128
    isolated = 13 * 32 + 32 + 13 * 32            # migrate side, the last block, free side
    assert compaction_events(k) == (migrate_scanned, free_scanned, isolated, 13 * 32, 0, 0)
    assert (migrate_scanned, free_scanned, isolated) == (1215, 1600, 864)

    def moved(p):
        if p >= 1152:
            return p
        j, i = (p - 320) // 64, (p - 320) % 64 // 2
        return 1984 - 64 * j + 2 * i + 1
    assert owner_list(k, "a") == [moved(p) for p in range(320, 2048, 2)]
    assert k.mem.owners[k.owner_ids["a"], OW_RSS] == 864
    # 320..1151 free: orders 6 (320), 7 (384), 9 (512), 7 (1024); the odd pfns of block
    # 1152 stay single; the RESERVE block at 0 was never touched
    assert counts(k) == [32, 0, 0, 0, 0, 0, 1, 2, 1, 1, 0]
    cc = k.mem.compact_cc
    assert (cc[CC_MIGRATE_PFN], cc[CC_FREE_PFN], cc[CC_FREEPAGES_LEN]) == (1215, 1216, 0)
    assert (misc(k, ZM_COMPACT_CACHED_MIGRATE_PFN), misc(k, ZM_COMPACT_CACHED_FREE_PFN)) == \
        (256, 2048)
    # skip bits: blocks 0-4, a's emptied blocks 5-17 (their one-pfn pass isolated nothing),
    # and the free blocks 20-31 rescanned empty; not 18 (1152) nor 19 (1216)
    assert tiny_skipped_blocks(k) == [*range(0, 18), *range(20, 32)]
    # 13 x 64 + 32 putbacks through the lru_add pagevec, drained every 14: the last 10 are
    # the put-back pages 1170, 1168 .. 1152 (still a's); every migrated page is free
    assert lru_add_pvec(k) == list(range(1170, 1151, -2))


def test_try_to_compact_pages_stops_when_the_order_is_free(mode):
    """Direct compaction of an order-3 request, asynchronous, on a 256-page zone of 16-page
    pageblocks without watermarks (booted to mem_init).  Round 1 moves block 0's 8 pages
    B+14, B+12 .. B to B+255, B+253 .. B+241 (the top block's free pages).  The old pages
    pass through the lru_add pagevec: the 15th add drains the first 14, so B+2 .. B+14 are
    free but B still waits.  Free then: 113 single pages and orders 1 (B+2), 2 (B+4), 3 (B+8),
    127 pages; __zone_watermark_ok(order 3, mark 0 + 8): 127 - 7 = 120 > 8, less the singles
    7 > 4, less order 1 5 > 2, less order 2 1 <= 1 fails, so compact_finished says CONTINUE.
    Round 2 moves block 1 (B+16 .. B+30) to block 14; now the order-3 watermark holds and an
    order-3 block is on the MOVABLE list: PARTIAL, and try_to_compact_pages stops (one zone)."""
    k = small_zone([(B, B + 256)], mode)
    pages = checkerboard(k, 128)
    assert pages == list(range(B, B + 256, 2))
    zonelist = fn(k, "node_zonelist")(k.mem, 0, GFP_HIGHUSER_MOVABLE)
    rc, contended = fn(k, "try_to_compact_pages")(k.mem, zonelist, 3, GFP_HIGHUSER_MOVABLE,
                                                  -1, False)
    assert (rc, bool(contended)) == (COMPACT_PARTIAL, False)
    k.check()
    # migrate: 2 blocks; free: block 15, then 15 again (empty) and 14; isolated 16 + 16
    assert compaction_events(k) == (32, 16 + 32, 32, 16, 0, 1)
    moved = {B + 2 * i: B + 241 + 2 * i for i in range(8)}
    moved.update({B + 16 + 2 * i: B + 225 + 2 * i for i in range(8)})
    assert owner_list(k, "a") == [moved.get(p, p) for p in pages]
    assert (misc(k, ZM_COMPACT_CACHED_MIGRATE_PFN), misc(k, ZM_COMPACT_CACHED_FREE_PFN)) == \
        (B, B + 256)
    # 32 adds: drained at the 15th and the 29th; left: the last two migrations of round 2
    assert lru_add_pvec(k) == [B + 18, B + 227, B + 16, B + 225]
    assert counts(k)[:4] == [98, 0, 1, 1]


@pytest.mark.parametrize("sync, migrated, failed, isolated, nr_free", [
    # async: __isolate_lru_page(ISOLATE_ASYNC_MIGRATE) refuses the page under writeback, so
    # round 1 moves 7 pages; their 14 pagevec adds fill it without a drain, nothing is freed
    # and round 2 is needed: 7 + 8 migrated, 15 + 16 pages isolated (one free page left over
    # from round 1 is used first in round 2, one of round 2 goes back at the end)
    (False, 15, 0, 31, [99, 2, 2, 2]),
    # sync: the page is isolated, and migrate_pages fails it (MIGRATE_SYNC_LIGHT: -EBUSY) and
    # puts it back at once; round 2 finds one page freed in block 15 (the failed attempt's
    # new page) and 8 in block 14: 16 + 17 isolated
    (True, 15, 1, 33, [100, 1, 2, 2]),
])
def test_a_page_under_writeback_stays(mode, sync, migrated, failed, isolated, nr_free):
    k = small_zone([(B, B + 256)], mode)
    checkerboard(k, 128)
    fn(k, "SetPageWriteback")(k.mem, B + 4)
    zonelist = fn(k, "node_zonelist")(k.mem, 0, GFP_HIGHUSER_MOVABLE)
    rc, _ = fn(k, "try_to_compact_pages")(k.mem, zonelist, 3, GFP_HIGHUSER_MOVABLE, -1, sync)
    assert rc == COMPACT_PARTIAL
    assert compaction_events(k) == (32, 48, isolated, migrated, failed, 1)
    assert B + 4 in owner_list(k, "a")
    assert counts(k)[:4] == nr_free
    fn(k, "ClearPageWriteback")(k.mem, B + 4)
    k.check()


def test_kswapd_compact_pgdat_compacts_until_the_free_scanner_is_stuck(mode):
    """compact_pgdat(order 3) as kswapd: asynchronous, and its compact_control's migratetype
    is 0 (UNMOVABLE), so compact_finished never finds its order free on that list and goes on
    (order 3 < pageblock order 4).  Blocks 0-6 move to blocks 15-9; block 7 is isolated, but
    the free scanner may not go below 128 + 16: -ENOMEM, put back.  Then __compact_pgdat:
    the order-3 watermark holds, so compact_order_failed becomes 4; the scanners did not meet
    and kswapd would not have set compact_blockskip_flush anyway."""
    k = small_zone([(B, B + 256)], mode)
    checkerboard(k, 128)
    k.task("kswapd")
    k.mem.owners[k.owner_ids["kswapd"], OW_FLAGS] |= PF_KSWAPD
    k.mem.cfg[CFG_CURRENT] = k.owner_ids["kswapd"]
    fn(k, "compact_pgdat")(k.mem, 0, 3)
    k.mem.cfg[CFG_CURRENT] = 0
    k.check()
    assert compaction_events(k) == (8 * 16, 16 + 6 * 32, 7 * 8 + 8 * 8, 7 * 8, 0, 0)
    assert misc(k, ZM_COMPACT_ORDER_FAILED) == 4 and misc(k, ZM_COMPACT_CONSIDERED) == 1
    assert misc(k, ZM_COMPACT_BLOCKSKIP_FLUSH) == 0
    # free: B..B+111 (orders 6, 5, 4) and the odd pfns of blocks 7 and 8
    assert counts(k)[:7] == [16, 0, 0, 0, 1, 1, 1]
    assert skipped_blocks(k) == list(range(10, 16))


def test_compact_pgdat_at_order_0_and_without_compaction_does_nothing(mode):
    k = small_zone([(B, B + 256)], mode)
    checkerboard(k, 128)
    fn(k, "compact_pgdat")(k.mem, 0, 0)
    assert compaction_events(k) == (0, 0, 0, 0, 0, 0)


def test_without_config_compaction_nothing_compacts(tiny_board):
    """cfg CFG_COMPACTION = 0: include/linux/compaction.h's stubs.  try_to_compact_pages
    answers COMPACT_CONTINUE without a stall, compaction_suitable SKIPPED, compaction is
    always deferred, and compact_node / compact_nodes / compact_pgdat change nothing."""
    import numpy as np
    k = tiny_board
    fn(k, "__reset_isolation_suitable")(k.mem, 0)
    k.mem.cfg[CFG_COMPACTION] = 0
    before = [a.copy() for a in k.mem]
    zonelist = fn(k, "node_zonelist")(k.mem, 0, GFP_HIGHUSER_MOVABLE)
    rc, _ = fn(k, "try_to_compact_pages")(k.mem, zonelist, 3, GFP_HIGHUSER_MOVABLE, -1, True)
    assert rc == COMPACT_CONTINUE
    fn(k, "compact_nodes")(k.mem)
    fn(k, "compact_node")(k.mem, 0)
    fn(k, "compact_pgdat")(k.mem, 0, 3)
    fn(k, "reset_isolation_suitable")(k.mem, 0)
    fn(k, "defer_compaction")(k.mem, ZONE, 3)
    assert fn(k, "compaction_suitable")(k.mem, ZONE, 3) == COMPACT_SKIPPED
    assert fn(k, "compaction_deferred")(k.mem, ZONE, 3)
    assert all(np.array_equal(a, b) for a, b in zip(before, k.mem))
    k.check()


# ---- random workloads, then compaction ----------------------------------------------------------

from hypothesis import given, settings, strategies as st  # noqa: E402

from kmemsim.mm.mmzone import OW_DIRTY, ZONE_STAT_ITEMS  # noqa: E402

WORKLOAD = st.lists(st.tuples(st.sampled_from(["fault", "read", "write", "touch", "munmap",
                                               "truncate"]),
                              st.sampled_from(["t1", "t2", "t3", "f1", "f2"]),
                              st.integers(1, 60)), max_size=60)
COMPACTION = st.one_of(st.just(("node", -1, True)),
                       st.tuples(st.just("direct"), st.integers(1, 10), st.booleans()))


def unowned_in_pagevecs(k):
    """Pages only a pagevec holds: migrated pages (and unused new ones) on their way out."""
    mem = k.mem
    held = set()
    for cpu in range(mem.pagevecs.shape[0]):
        for which in range(mem.pagevecs.shape[1]):
            n = int(mem.pagevecs[cpu, which, 0])
            held.update(int(p) for p in mem.pagevecs[cpu, which, 1:1 + n] if mem.mapping[p] == 0)
    return len(held)


def footprint(k):
    """What compaction must not change: each owner's page count and dirty pages, the page
    counters of anonymous memory, page cache, tmpfs and dirty pages, and the free pages
    counted with those still held on their way out (see the test)."""
    from kmemsim.mm.page_flags import PageDirty
    mem = k.mem
    owners = {name: (len(owner_list(k, name)), int(mem.owners[row, OW_RSS]),
                     int(mem.owners[row, OW_DIRTY]),
                     sum(bool(PageDirty(mem, p)) for p in owner_list(k, name)))
              for name, row in k.owner_ids.items()}
    stats = {item: int(fn(k, "zone_page_state_snapshot")(mem, ZONE, ZONE_STAT_ITEMS.index(item)))
             for item in ("nr_anon_pages", "nr_file_pages", "nr_shmem", "nr_dirty",
                          "nr_isolated_anon", "nr_isolated_file")}
    free = (int(fn(k, "zone_page_state_snapshot")(mem, ZONE, NR_FREE_PAGES))
            + int(mem.pcp[:, ZONE, 0].sum()) + unowned_in_pagevecs(k))
    return owners, stats, free


@pytest.mark.parametrize("mode", ["python", "compiled"])
@settings(max_examples=20, deadline=None)
@given(ops=WORKLOAD, how=COMPACTION)
def test_compaction_after_random_workloads_keeps_the_invariants(mode, ops, how):
    """Compaction only moves pages: the validators hold, every owner keeps its pages (and its
    dirty ones), the zone counters of what pages hold stay, nothing stays isolated.  The free
    pages change only by the pages in flight: a free page isolated as a target leaves the
    free count, the migrated page it replaces (or the target itself after a failure) comes
    back when its pagevec is drained, the targets left over come back at the end; so free +
    per-CPU + pages held only by a pagevec is the same before and after."""
    import kmemsim
    k = kmemsim.boot("tiny", mode=mode)
    for name in ("t1", "t2", "t3"):
        k.task(name)
    k.file("f1")
    k.file("f2", tmpfs=True)
    for op, who, n in ops:
        is_task = who.startswith("t")
        if op in ("fault", "munmap") and is_task:
            getattr(k, op)(who, n)
        elif op in ("read", "write") and not is_task:
            getattr(k, op)(who, n)
        elif op == "truncate" and not is_task:
            k.truncate(who)
        elif op == "touch":
            k.touch(who, n)
    k.check()
    # free_pages_check cleared the bits of every freed page: no page of an ordinary file is
    # swap-backed (migration would treat its dirty state as tmpfs's)
    assert not any(fn(k, "PageSwapBacked")(k.mem, p) for p in owner_list(k, "f1"))
    fn(k, "__reset_isolation_suitable")(k.mem, 0)     # kswapd's reset: the zone starts at 0
    before = footprint(k)
    if how[0] == "node":
        fn(k, "compact_node")(k.mem, 0)
    else:
        zonelist = fn(k, "node_zonelist")(k.mem, 0, GFP_HIGHUSER_MOVABLE)
        fn(k, "try_to_compact_pages")(k.mem, zonelist, how[1], GFP_HIGHUSER_MOVABLE, -1, how[2])
    k.check()
    assert footprint(k) == before
    fn(k, "lru_add_drain")(k.mem)
    k.check()
