"""Page migration (mm/migrate.c, v3.13) one page at a time, in both modes.

Each test boots the tiny machine, gives a task or a file a few pages, isolates some of them
as compaction would (off the LRU onto cc->migratepages, counted in NR_ISOLATED_*), hands
migration its target pages the way the free scanner does (isolate_freepages_block into
``mem.compact_freepages``; compaction_alloc pops the last one isolated first), and calls
migrate_pages().  Expected values follow from the rules of 3.13 written next to them.

Fresh tiny machine: the first movable pages come from the order-6 block at pfn 320, in
ascending order (__rmqueue_smallest splits the lowest block and expand() keeps the upper
halves), so after four faults the task owns 320..323 and 324..327 is a free order-2 block.
The per-CPU lists of tiny are empty (high 0, batch 1): a freed page reaches the buddy lists
at once.
"""

import pytest

import kmemsim
from kmemsim.mm.compaction import CC_FREEPAGES_LEN, CC_ZONE
from kmemsim.mm.migrate import EAGAIN, ENOMEM, MIGRATE_ASYNC, MIGRATE_SYNC, \
    MIGRATE_SYNC_LIGHT, MR_COMPACTION
from kmemsim.mm.mmzone import LH_MIGRATEPAGES, OW_DIRTY, OW_RSS, PVEC_LRU_ADD, \
    ZONE_STAT_ITEMS
from kmemsim.mm.page_flags import FLAG_NAMES, PG_valid
from kmemsim.mm.vmstat import EV_PGMIGRATE_FAIL, EV_PGMIGRATE_SUCCESS

ZONE = 0
ITEM = {name: i for i, name in enumerate(ZONE_STAT_ITEMS)}


# ---- helpers ----------------------------------------------------------------------------------

def flags(k, page):
    """The page's PG_* flags by name (PG_valid left out)."""
    f = int(k.mem.flags[page])
    return {n for b, n in FLAG_NAMES.items() if f >> b & 1 and b != PG_valid}


def stat(k, name):
    """A zone counter with every CPU's delta (zone_page_state_snapshot)."""
    return int(k.fn.zone_page_state_snapshot(k.mem, ZONE, ITEM[name]))


def event(k, ev):
    return int(k.mem.vm_events[:, k.mem.vm_event_index[ev]].sum())


def owner_pages(k, name):
    """The owner's page list, oldest first."""
    owner = k.owner_ids[name]
    head = int(k.fn.owner_head(k.mem, owner))
    pages, p = [], int(k.mem.rmap_next[head])
    while p != head:
        pages.append(p)
        p = int(k.mem.rmap_next[p])
    return pages


def lru_add_pvec(k):
    n = int(k.mem.pagevecs[0, PVEC_LRU_ADD, 0])
    return [int(p) for p in k.mem.pagevecs[0, PVEC_LRU_ADD, 1:1 + n]]


def migratelist(k):
    head = int(k.fn.scratch_list(k.mem, LH_MIGRATEPAGES))
    pages, p = [], int(k.mem.lru_next[head])
    while p != head:
        pages.append(p)
        p = int(k.mem.lru_next[p])
    return pages


def isolate(k, *pages):
    """Take ``pages`` off their LRU lists onto cc->migratepages (list_add: the last one ends
    up first) and count them as isolated, as isolate_migratepages_range() does."""
    head = k.fn.scratch_list(k.mem, LH_MIGRATEPAGES)
    k.fn.INIT_LIST_HEAD(k.mem, head)
    cc = k.mem.compact_cc
    cc[:] = 0
    cc[CC_ZONE] = ZONE
    for page in pages:
        assert k.fn.isolate_lru_page(k.mem, page) == 0
        k.fn.list_add(k.mem, page, head)
    k.fn.acct_isolated(k.mem, ZONE, True, cc)
    return head


def targets(k, start, end):
    """The free block(s) of [start, end) become migration targets, as the free scanner
    isolates them (split into order-0 pages, pushed in ascending order)."""
    cc = k.mem.compact_cc
    return int(k.fn.isolate_freepages_block(k.mem, cc, start, end, k.mem.compact_freepages,
                                            True))


def release_targets(k):
    """compact_zone's ``out:``: the isolated free pages not used go back."""
    return int(k.fn.release_freepages(k.mem, k.mem.compact_cc, k.mem.compact_freepages))


def migrate(k, head, mode=MIGRATE_SYNC_LIGHT):
    return int(k.fn.migrate_pages(k.mem, head, mode, MR_COMPACTION))


@pytest.fixture
def task4(mode):
    """Task t owns 320..323 (active, on the LRU after the pagevec drain); 320 and 321 have
    been touched (mark_page_accessed: referenced)."""
    k = kmemsim.boot("tiny", mode=mode)
    k.task("t")
    assert k.fault("t", 4) == 4
    k.fn.lru_add_drain(k.mem)
    k.touch("t", 2)
    k.check()
    assert owner_pages(k, "t") == [320, 321, 322, 323]
    return k


# ---- anonymous pages ---------------------------------------------------------------------------

def test_an_anonymous_page_moves_with_its_identity(task4):
    k = task4
    anon_before = stat(k, "nr_anon_pages")
    head = isolate(k, 321)
    assert stat(k, "nr_isolated_anon") == 1 and k.mem.count[321] == 2   # mapping + isolation
    assert targets(k, 324, 328) == 4                # 324..327; compaction_alloc takes 327 first
    assert migrate(k, head) == 0
    # 327 took 321's place in the task's page list (its page table), with its flags:
    # referenced is copied, active moves, swapbacked comes with the mapping
    assert owner_pages(k, "t") == [320, 327, 322, 323]
    assert k.mem.mapping[327] == k.owner_ids["t"] and k.mem.mapping[321] == 0
    assert flags(k, 327) == {"referenced", "active", "swapbacked"}
    assert flags(k, 321) == {"referenced", "swapbacked"}
    # references: 327 = split_free_page 1 + the new mapping 1 + the pagevec 1 - putback 1;
    # 321 = isolation 1 + pagevec 1 - putback 1 (try_to_unmap dropped the mapping's)
    assert (k.mem.count[327], k.mem.count[321]) == (2, 1)
    # unmap_and_move: putback_lru_page(old), then putback_lru_page(new), both via lru_add
    assert lru_add_pvec(k) == [321, 327]
    assert stat(k, "nr_isolated_anon") == 0 and stat(k, "nr_anon_pages") == anon_before
    assert (event(k, EV_PGMIGRATE_SUCCESS), event(k, EV_PGMIGRATE_FAIL)) == (1, 0)
    assert k.mem.compact_cc[CC_FREEPAGES_LEN] == 3
    assert release_targets(k) == 3
    k.check()
    free = stat(k, "nr_free_pages")
    k.fn.lru_add_drain(k.mem)          # the drain frees 321 and puts 327 on the active list
    k.check()
    assert stat(k, "nr_free_pages") == free + 1
    assert k.mem.count[327] == 1 and flags(k, 327) == {"referenced", "active", "swapbacked", "lru"}
    assert k.fn.PageBuddy(k.mem, 321)


def test_a_page_with_another_reference_is_retried_ten_times(task4):
    """migrate_page_move_mapping wants exactly the isolation's reference on an unmapped
    anonymous page: with one more, every pass answers -EAGAIN, remaps the page, and uses up a
    new page (putback_lru_page frees it at the next drain).  After 10 passes migrate_pages
    returns the 1 page still to retry, left on the list and counted in neither event."""
    k = task4
    k.fn.get_page(k.mem, 322)                       # someone else holds 322
    head = isolate(k, 322)
    assert targets(k, 336, 352) == 16               # the free order-4 block at 336
    assert migrate(k, head) == 1
    assert migratelist(k) == [322]
    assert owner_pages(k, "t") == [320, 321, 322, 323] and k.mem.count[322] == 3
    assert k.mem.compact_cc[CC_FREEPAGES_LEN] == 16 - 10
    assert lru_add_pvec(k) == [351, 350, 349, 348, 347, 346, 345, 344, 343, 342]
    assert (event(k, EV_PGMIGRATE_SUCCESS), event(k, EV_PGMIGRATE_FAIL)) == (0, 0)
    assert stat(k, "nr_isolated_anon") == 1 and stat(k, "nr_anon_pages") == 4
    k.fn.putback_movable_pages(k.mem, head)         # what compact_zone does with the rest
    k.fn.put_page(k.mem, 322)
    assert release_targets(k) == 6
    assert stat(k, "nr_isolated_anon") == 0
    k.check()
    k.fn.lru_add_drain(k.mem)
    k.check()
    assert k.fn.PageBuddy(k.mem, 336) and k.mem.private[336] == 4     # all 16 free again


def test_no_target_page_is_enomem(task4):
    """compaction_alloc finds its list empty and the free scanner has nowhere to look
    (cc->free_pfn 0 is below the migrate scanner's block): -ENOMEM, nothing counted, the
    page stays on the list for the caller's putback."""
    k = task4
    head = isolate(k, 320)
    assert migrate(k, head) == -ENOMEM
    assert migratelist(k) == [320] and lru_add_pvec(k) == []
    assert (event(k, EV_PGMIGRATE_SUCCESS), event(k, EV_PGMIGRATE_FAIL)) == (0, 0)
    k.fn.putback_lru_pages(k.mem, head)
    k.check()
    assert stat(k, "nr_isolated_anon") == 0 and lru_add_pvec(k) == [320]


def test_a_page_freed_under_migration_counts_as_migrated(task4):
    """The task unmaps 323 while it is isolated: only the isolation's reference is left
    (page_count 1), so unmap_and_move is done at once (rc 0, PGMIGRATE_SUCCESS) and both the
    page and the unused new page go to the pagevec, to be freed at the drain."""
    k = task4
    head = isolate(k, 323)
    assert k.munmap("t", 1) == 1 and k.mem.count[323] == 1
    assert targets(k, 324, 328) == 4
    assert migrate(k, head) == 0
    assert lru_add_pvec(k) == [323, 327] and event(k, EV_PGMIGRATE_SUCCESS) == 1
    assert release_targets(k) == 3
    k.check()
    k.fn.lru_add_drain(k.mem)
    k.check()
    assert owner_pages(k, "t") == [320, 321, 322]
    assert k.fn.PageBuddy(k.mem, 323) and k.fn.PageBuddy(k.mem, 324)


@pytest.mark.parametrize("migrate_mode, passes, rc", [
    (MIGRATE_ASYNC, 1, 1),          # -EBUSY at once: a permanent failure
    (MIGRATE_SYNC_LIGHT, 1, 1),     # sync compaction does not wait for writeback either
    (MIGRATE_SYNC, 4, 1),           # -EAGAIN while !force (passes 0-2), then -EBUSY: kmemsim
])                                  # does not wait_on_page_writeback() in the middle
def test_a_page_under_writeback_fails(task4, migrate_mode, passes, rc):
    k = task4
    head = isolate(k, 320)
    k.fn.SetPageWriteback(k.mem, 320)
    assert targets(k, 336, 352) == 16
    assert migrate(k, head, migrate_mode) == rc
    # the failed page left the list at once (unmap_and_move's putback), uncounted
    assert migratelist(k) == [] and stat(k, "nr_isolated_anon") == 0
    assert (event(k, EV_PGMIGRATE_SUCCESS), event(k, EV_PGMIGRATE_FAIL)) == (0, 1)
    assert k.mem.compact_cc[CC_FREEPAGES_LEN] == 16 - passes   # a new page per attempt
    assert owner_pages(k, "t") == [320, 321, 322, 323] and "active" in flags(k, 320)
    k.fn.ClearPageWriteback(k.mem, 320)
    release_targets(k)
    k.fn.lru_add_drain(k.mem)
    k.check()


# ---- page cache --------------------------------------------------------------------------------

def test_a_dirty_file_page_moves_and_counts_as_dirtied_again(mode):
    """A written page: dirty and accounted (NR_FILE_DIRTY, NR_DIRTIED).  Migration moves the
    page cache reference and slot (migrate_page_move_mapping: NR_FILE_PAGES -1 +1) and the
    dirty state: clear_page_dirty_for_io (NR_FILE_DIRTY -1) then __set_page_dirty_nobuffers
    on the new page (NR_FILE_DIRTY +1 and, as 3.13 counts it, NR_DIRTIED +1)."""
    k = kmemsim.boot("tiny", mode=mode)
    k.file("f")
    assert k.write("f", 2) == 2
    k.fn.lru_add_drain(k.mem)
    assert owner_pages(k, "f") == [320, 321]
    assert (stat(k, "nr_dirty"), stat(k, "nr_dirtied")) == (2, 2)
    head = isolate(k, 320)
    assert stat(k, "nr_isolated_file") == 1 and k.mem.count[320] == 2   # cache + isolation
    assert targets(k, 324, 328) == 4
    assert migrate(k, head) == 0
    assert owner_pages(k, "f") == [327, 321]
    assert flags(k, 327) == {"dirty", "referenced"} and flags(k, 320) == {"referenced"}
    assert (stat(k, "nr_dirty"), stat(k, "nr_dirtied"), stat(k, "nr_file_pages")) == (2, 3, 2)
    assert k.mem.owners[k.owner_ids["f"], OW_DIRTY] == 2
    assert k.mem.owners[k.owner_ids["f"], OW_RSS] == 2
    release_targets(k)
    k.check()
    k.fn.lru_add_drain(k.mem)
    k.check()
    assert k.mem.count[327] == 1 and flags(k, 327) == {"dirty", "referenced", "lru"}


def test_a_tmpfs_page_keeps_nr_shmem_and_is_dirty_without_accounting(mode):
    k = kmemsim.boot("tiny", mode=mode)
    k.file("shm", tmpfs=True)
    assert k.write("shm", 1) == 1
    k.fn.lru_add_drain(k.mem)
    head = isolate(k, 320)
    assert stat(k, "nr_isolated_anon") == 1        # swap-backed: counted as anon
    assert targets(k, 336, 352) == 16
    assert migrate(k, head) == 0
    assert owner_pages(k, "shm") == [351]
    assert flags(k, 351) == {"dirty", "referenced", "swapbacked"}
    assert (stat(k, "nr_shmem"), stat(k, "nr_file_pages"), stat(k, "nr_dirty")) == (1, 1, 0)
    release_targets(k)
    k.fn.lru_add_drain(k.mem)
    k.check()


def test_putback_lru_pages_returns_every_page(mode):
    """putback_lru_pages: off the list, NR_ISOLATED_ANON / _FILE back down, through the
    pagevec onto the LRU lists page_lru() names."""
    k = kmemsim.boot("tiny", mode=mode)
    k.task("t")
    k.file("f")
    k.fault("t", 1)
    k.read("f", 1)
    k.fn.lru_add_drain(k.mem)
    head = isolate(k, 320, 321)
    assert migratelist(k) == [321, 320]
    assert (stat(k, "nr_isolated_anon"), stat(k, "nr_isolated_file")) == (1, 1)
    k.fn.putback_lru_pages(k.mem, head)
    assert migratelist(k) == [] and lru_add_pvec(k) == [321, 320]
    assert (stat(k, "nr_isolated_anon"), stat(k, "nr_isolated_file")) == (0, 0)
    k.fn.lru_add_drain(k.mem)
    k.check()
    assert (stat(k, "nr_active_anon"), stat(k, "nr_inactive_file")) == (1, 1)


def test_constants_are_the_kernels():
    assert (MIGRATE_ASYNC, MIGRATE_SYNC_LIGHT, MIGRATE_SYNC, MR_COMPACTION) == (0, 1, 2, 0)
    assert (EAGAIN, ENOMEM) == (11, 12)


def test_a_freed_page_comes_back_without_its_old_flags(mode):
    """Migration copies what a page's flags say (a swap-backed page's dirty bit is not
    accounted, its NR_SHMEM moves), so it needs pages whose flags are true.  A page a task
    freed must come back from the allocator without PG_swapbacked: here it becomes page cache
    of an ordinary file (free_pages_check clears PAGE_FLAGS_CHECK_AT_PREP)."""
    k = kmemsim.boot("tiny", mode=mode)
    k.task("t")
    k.file("f")
    k.fault("t", 1)
    k.munmap("t", 1)
    k.write("f", 1)
    assert owner_pages(k, "f") == [320]
    assert "swapbacked" not in flags(k, 320)
