"""The buddy core of mm/page_alloc.c, step by step, in both modes.

Each test boots a scenario machine whose only free memory is what the test names (see
conftest.scenario_machine), then calls the kernel functions themselves.
"""

import pytest

from conftest import boot_scenario
from kmemsim.mm.mmzone import (MIGRATE_MOVABLE, MIGRATE_RECLAIMABLE, MIGRATE_RESERVE,
                               MIGRATE_UNMOVABLE, free_list)

B = 0x20000        # the first pfn of the scenario zone (the seed's assumed 0x20000)
ZONE = 0           # zone id: node 0, ZONE_NORMAL (index 0 on 32-bit ARM)


def lists(k, zone=ZONE):
    """{(order, migratetype): [pfns from head to tail]} of the non-empty free lists."""
    out = {}
    for order in range(11):
        for mt in range(int(k.mem.cfg[2])):
            head = int(free_list(k.mem, zone, order, mt))
            entries, e = [], int(k.mem.lru_next[head])
            while e != head:
                entries.append(e)
                e = int(k.mem.lru_next[e])
            if entries:
                out[(order, mt)] = entries
    return out


def pb_mt(k, pfn):
    return int(k.fn.get_pageblock_migratetype(k.mem, pfn))


def test_boot_frees_ascending_last_block_first(mode):
    k = boot_scenario([(B, B + 0x800)], mode)
    # __free_pages_memory frees order-10 blocks in ascending pfn order, each to the list head
    assert lists(k) == {(10, MIGRATE_MOVABLE): [B + 0x400, B]}
    assert k.mem.nr_free[ZONE].tolist() == [0] * 10 + [2]
    assert int(k.mem.vm_stat[ZONE, 0]) == 0x800


def test_expand_gives_the_lowest_pages_and_queues_upper_halves(mode):
    """Splitting an order-5 block for an order-0 request leaves one block on each of the
    order 4, 3, 2, 1 and 0 lists, each the upper (rear) half of what was split; the caller
    keeps the lowest page.  (The seed 000 notes that a textbook has this backwards.)"""
    k = boot_scenario([(B, B + 32)], mode)
    assert lists(k) == {(5, MIGRATE_MOVABLE): [B]}
    page = getattr(k.fn, "__rmqueue")(k.mem, ZONE, 0, MIGRATE_MOVABLE)
    assert page == B
    assert lists(k) == {(4, MIGRATE_MOVABLE): [B + 16], (3, MIGRATE_MOVABLE): [B + 8],
                        (2, MIGRATE_MOVABLE): [B + 4], (1, MIGRATE_MOVABLE): [B + 2],
                        (0, MIGRATE_MOVABLE): [B + 1]}
    assert k.mem.nr_free[ZONE].tolist() == [1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0]
    for pfn, order in ((B + 16, 4), (B + 8, 3), (B + 4, 2), (B + 2, 1), (B + 1, 0)):
        assert k.fn.PageBuddy(k.mem, pfn) and k.fn.page_order(k.mem, pfn) == order
    assert not k.fn.PageBuddy(k.mem, B)


def test_seed_002_unmovable_request_steals_from_a_small_movable_block(mode):
    """Seed 002: an UNMOVABLE order-0 request when the only free memory is a MOVABLE
    order-5 block inside a pageblock of order 10 (1024 pages)."""
    k = boot_scenario([(B, B + 32)], mode)
    rmqueue = getattr(k.fn, "__rmqueue")
    # move_freepages_block reports the free pages of the pageblock [0x20000, 0x203ff]: the
    # order-5 block alone, 32 pages (the seed guessed 1024 and wrote the end as 0x20CFF).
    k2 = boot_scenario([(B, B + 32)], mode)
    assert k2.fn.move_freepages_block(k2.mem, ZONE, B, MIGRATE_UNMOVABLE) == 32
    page = rmqueue(k.mem, ZONE, 0, MIGRATE_UNMOVABLE)
    assert page == B
    # 32 < 1 << (10 - 1): the pageblock does not change owner, and try_to_steal_freepages
    # returns the fallback type, so the split remainder goes back to the MOVABLE lists
    assert pb_mt(k, B) == MIGRATE_MOVABLE
    assert lists(k) == {(4, MIGRATE_MOVABLE): [B + 16], (3, MIGRATE_MOVABLE): [B + 8],
                        (2, MIGRATE_MOVABLE): [B + 4], (1, MIGRATE_MOVABLE): [B + 2],
                        (0, MIGRATE_MOVABLE): [B + 1]}
    # the stolen block itself was moved to the UNMOVABLE list on the way (its freepage
    # migratetype says so) before expand() split it
    assert k.fn.get_freepage_migratetype(k.mem, B) == MIGRATE_UNMOVABLE


def test_steal_claims_the_pageblock_when_half_of_it_is_free(mode):
    k = boot_scenario([(B, B + 512)], mode)            # an order-9 block: half the pageblock
    page = getattr(k.fn, "__rmqueue")(k.mem, ZONE, 0, MIGRATE_UNMOVABLE)
    assert page == B
    assert pb_mt(k, B) == MIGRATE_UNMOVABLE             # 512 >= 1 << 9: claimed
    got = lists(k)
    assert set(mt for _, mt in got) == {MIGRATE_UNMOVABLE}
    assert got[(8, MIGRATE_UNMOVABLE)] == [B + 256] and got[(0, MIGRATE_UNMOVABLE)] == [B + 1]


def test_small_block_is_not_moved_for_an_unmovable_request(mode):
    # order 4 < pageblock_order / 2 = 5: nothing is moved, nothing claimed
    k = boot_scenario([(B, B + 16)], mode)
    page = getattr(k.fn, "__rmqueue")(k.mem, ZONE, 0, MIGRATE_UNMOVABLE)
    assert page == B
    assert k.fn.get_freepage_migratetype(k.mem, B) != MIGRATE_UNMOVABLE
    assert pb_mt(k, B) == MIGRATE_MOVABLE
    assert lists(k)[(3, MIGRATE_MOVABLE)] == [B + 8]


def test_reclaimable_request_always_pulls_the_block(mode):
    # any order for a RECLAIMABLE request: move_freepages_block runs (16 < 512: no claim)
    k = boot_scenario([(B, B + 16), (B + 64, B + 72)], mode)
    page = getattr(k.fn, "__rmqueue")(k.mem, ZONE, 0, MIGRATE_RECLAIMABLE)
    assert page == B                                    # the largest block is taken first
    assert pb_mt(k, B) == MIGRATE_MOVABLE
    got = lists(k)
    # the other free block of the pageblock was pulled to RECLAIMABLE too
    assert got[(3, MIGRATE_RECLAIMABLE)] == [B + 64]
    assert got[(3, MIGRATE_MOVABLE)] == [B + 8]         # the remainder: fallback type


def test_whole_pageblocks_change_owner(mode):
    # pageblock order 9: an order-10 block spans two pageblocks; both change owner
    k = boot_scenario([(B, B + 1024)], mode, pageblock_order=9)
    page = getattr(k.fn, "__rmqueue")(k.mem, ZONE, 0, MIGRATE_UNMOVABLE)
    assert page == B
    assert pb_mt(k, B) == MIGRATE_UNMOVABLE and pb_mt(k, B + 512) == MIGRATE_UNMOVABLE
    assert lists(k)[(9, MIGRATE_UNMOVABLE)] == [B + 512]


def test_reserve_is_the_last_resort(mode):
    k = boot_scenario([(B, B + 1024)], mode)
    k.fn.set_pageblock_migratetype(k.mem, B, MIGRATE_RESERVE)
    assert k.fn.move_freepages_block(k.mem, ZONE, B, MIGRATE_RESERVE) == 1024
    assert lists(k) == {(10, MIGRATE_RESERVE): [B]}
    page = getattr(k.fn, "__rmqueue")(k.mem, ZONE, 1, MIGRATE_UNMOVABLE)
    assert page == B
    got = lists(k)
    assert got[(9, MIGRATE_RESERVE)] == [B + 512] and got[(1, MIGRATE_RESERVE)] == [B + 2]
    assert pb_mt(k, B) == MIGRATE_RESERVE               # RESERVE blocks are never stolen


def test_rmqueue_fails_when_nothing_is_free(mode):
    k = boot_scenario([(B, B + 1)], mode)
    rmqueue = getattr(k.fn, "__rmqueue")
    assert rmqueue(k.mem, ZONE, 1, MIGRATE_MOVABLE) == -1
    assert rmqueue(k.mem, ZONE, 0, MIGRATE_MOVABLE) == B
    assert rmqueue(k.mem, ZONE, 0, MIGRATE_MOVABLE) == -1


def test_free_merges_buddies_and_uses_the_tail_when_the_parent_buddy_is_free(mode):
    k = boot_scenario([(B, B + 8), (B + 16, B + 17)], mode)
    rmqueue = getattr(k.fn, "__rmqueue")
    free_one_page = k.fn.free_one_page
    assert lists(k) == {(3, MIGRATE_MOVABLE): [B], (0, MIGRATE_MOVABLE): [B + 16]}
    assert [rmqueue(k.mem, ZONE, 0, MIGRATE_MOVABLE) for _ in range(3)] == [B + 16, B, B + 1]
    free_one_page(k.mem, ZONE, B + 16, 0, MIGRATE_MOVABLE)   # its buddy is reserved: head
    assert lists(k)[(0, MIGRATE_MOVABLE)] == [B + 16]
    # B's buddy B+1 is allocated, but the buddy of their order-1 parent (B+2) is free:
    # B is likely to merge soon, so __free_one_page queues it at the tail
    free_one_page(k.mem, ZONE, B, 0, MIGRATE_MOVABLE)
    assert lists(k)[(0, MIGRATE_MOVABLE)] == [B + 16, B]
    free_one_page(k.mem, ZONE, B + 1, 0, MIGRATE_MOVABLE)    # merges all the way to order 3
    assert lists(k) == {(3, MIGRATE_MOVABLE): [B], (0, MIGRATE_MOVABLE): [B + 16]}
    # __rmqueue leaves NR_FREE_PAGES to its caller (buffered_rmqueue) while free_one_page
    # accounts the pages it frees: 9 at boot, +3 here
    assert int(k.mem.vm_stat[ZONE, 0]) == 12


def test_move_freepages_block_stays_inside_the_zone(mode):
    # the zone starts 0x100 pages into a pageblock: start from the page itself
    k = boot_scenario([(B + 0x100, B + 0x140), (B + 0x500, B + 0x540)], mode,
                      zone=(B + 0x100, B + 0x2000))
    move = k.fn.move_freepages_block
    assert move(k.mem, 0, B + 0x100, MIGRATE_UNMOVABLE) == 0x40
    # a pageblock that runs past the zone's end moves nothing
    k2 = boot_scenario([(B + 0x500, B + 0x540)], mode, zone=(B, B + 0x600))
    assert k2.fn.move_freepages_block(k2.mem, 0, B + 0x500, MIGRATE_UNMOVABLE) == 0


def test_mobility_grouping_off_on_a_small_machine(mode):
    # 2048 pages: fewer than pageblock_nr_pages * MIGRATE_TYPES = 4096, so grouping is off
    k = boot_scenario([(B, B + 64)], mode, zone=(B, B + 2048))
    assert k.mem.cfg[5] == 1
    assert any("mobility grouping off" in line for line in k.dmesg)
    k.fn.set_pageblock_migratetype(k.mem, B, MIGRATE_MOVABLE)
    assert pb_mt(k, B) == MIGRATE_UNMOVABLE                # every pcp type reads UNMOVABLE
    from kmemsim.mm.gfp import GFP_HIGHUSER_MOVABLE
    assert k.fn.allocflags_to_migratetype(k.mem, GFP_HIGHUSER_MOVABLE) == MIGRATE_UNMOVABLE


@pytest.mark.parametrize("order", [0, 3, 10])
def test_alloc_and_free_restore_counters(mode, order):
    """Through the whole path at boot time (boot pageset: high 0, batch 1, stat thresholds 0):
    the free counters come back, the fair-policy batch keeps the allocation."""
    k = boot_scenario([(B, B + 0x800)], mode)
    before = k.mem.nr_free.copy(), k.mem.vm_stat.copy()
    a = k.alloc(order, "GFP_HIGHUSER_MOVABLE")
    assert a.pfn == B + 0x400 and a.order == order      # the head of the order-10 list
    assert int(k.mem.vm_stat[ZONE, 0]) == 0x800 - (1 << order)
    assert int(k.mem.vm_stat[ZONE, 1]) == int(before[1][ZONE, 1]) - (1 << order)
    k.check()
    k.free(a)
    k.check()
    assert (k.mem.nr_free == before[0]).all()
    assert int(k.mem.vm_stat[ZONE, 0]) == int(before[1][ZONE, 0])
