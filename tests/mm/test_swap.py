"""mm/swap.c: per-CPU pagevecs, LRU lists, mark_page_accessed, release (both modes)."""

import pytest

import kmemsim
from kmemsim.mm.mmzone import (LRU_ACTIVE_ANON, LRU_ACTIVE_FILE, LRU_INACTIVE_FILE, OWNER_FILE,
                               OWNER_TASK, PVEC_LRU_ADD, ZONE_STAT_ITEMS, lru_list_head)
from kmemsim.mm.page_flags import PG_active, PG_lru, PG_referenced


@pytest.fixture
def k(mode):
    return kmemsim.boot("tiny", mode=mode)


def lru_pages(k, zone, lru):
    head = int(lru_list_head(k.mem, zone, lru))
    out, p = [], int(k.mem.lru_next[head])
    while p != head:
        out.append(p)
        p = int(k.mem.lru_next[p])
    return out


def stat(k, zone, name):
    i = ZONE_STAT_ITEMS.index(name)
    return int(k.mem.vm_stat[zone, i]) + int(k.mem.vm_stat_diff[:, zone, i].sum())


def test_fourteen_pages_wait_in_the_pagevec_until_the_fifteenth(k):
    """3.13's __lru_cache_add drains a full pagevec before adding: 14 pages stay cached."""
    task = int(k.fn.owner_alloc(k.mem, OWNER_TASK, 0))
    pages = [int(k.fn.do_anonymous_page(k.mem, task)) for _ in range(14)]
    zone = int(k.fn.page_zone_id(k.mem, pages[0]))
    assert int(k.mem.pagevecs[0, PVEC_LRU_ADD, 0]) == 14
    assert lru_pages(k, zone, LRU_ACTIVE_ANON) == []
    assert all(int(k.mem.count[p]) == 2 for p in pages)          # mapping + pagevec
    pages.append(int(k.fn.do_anonymous_page(k.mem, task)))
    assert int(k.mem.pagevecs[0, PVEC_LRU_ADD, 0]) == 1
    # the 14 went onto the active anon list, each at the head: newest first
    assert lru_pages(k, zone, LRU_ACTIVE_ANON) == pages[13::-1]
    assert all(int(k.mem.count[p]) == 1 for p in pages[:14])
    assert stat(k, zone, "nr_active_anon") == 14 and stat(k, zone, "nr_anon_pages") == 15
    k.check()


def test_mark_page_accessed_walks_referenced_then_active(k):
    f = int(k.fn.owner_alloc(k.mem, OWNER_FILE, 0))
    page = int(k.fn.file_read_page(k.mem, f))       # read marks it accessed once
    zone = int(k.fn.page_zone_id(k.mem, page))
    flags = lambda: int(k.mem.flags[page])          # noqa: E731
    assert flags() >> PG_referenced & 1 and not flags() >> PG_lru & 1
    k.fn.mark_page_accessed(k.mem, page)            # still in the pagevec: marked active there
    assert flags() >> PG_active & 1 and not flags() >> PG_referenced & 1
    k.fn.lru_add_drain(k.mem)
    assert lru_pages(k, zone, LRU_ACTIVE_FILE) == [page]
    assert int(k.mem.count[page]) == 1                  # the page cache's reference only
    k.fn.mark_page_accessed(k.mem, page)            # active, unreferenced -> referenced
    assert flags() >> PG_referenced & 1
    k.check()


def test_activation_of_a_page_on_the_lru_goes_through_activate_page_pvecs(k):
    f = int(k.fn.owner_alloc(k.mem, OWNER_FILE, 0))
    page = int(k.fn.file_read_page(k.mem, f))
    zone = int(k.fn.page_zone_id(k.mem, page))
    k.fn.lru_add_drain(k.mem)
    assert lru_pages(k, zone, LRU_INACTIVE_FILE) == [page]
    before = k.show("vmstat")
    k.fn.mark_page_accessed(k.mem, page)            # referenced + on the LRU: activate_page
    assert lru_pages(k, zone, LRU_INACTIVE_FILE) == [page]      # queued, not moved yet
    k.fn.lru_add_drain(k.mem)
    assert lru_pages(k, zone, LRU_ACTIVE_FILE) == [page]
    assert "pgactivate 0" in before and "pgactivate 1" in k.show("vmstat")
    k.check()


def test_truncate_and_exit_give_everything_back(k):
    boot_buddyinfo = k.show("buddyinfo")
    k.task("sh")
    k.file("log")
    k.file("shm", tmpfs=True)
    assert (k.fault("sh", 300), k.read("log", 200), k.write("log", 50),
            k.write("shm", 70)) == (300, 200, 50, 70)
    zone = int(k.fn.page_zone_id(k.mem, int(k.mem.rmap_next[k.mem.cfg[25] + k.owner_ids["sh"]])))
    assert stat(k, zone, "nr_file_pages") == 320 and stat(k, zone, "nr_shmem") == 70
    assert stat(k, zone, "nr_dirty") == 50 and stat(k, zone, "nr_anon_pages") == 300
    k.check()
    assert k.munmap("sh", 100) == 100
    k.check()
    assert (k.truncate("log"), k.truncate("shm"), k.exit("sh")) == (250, 70, 200)
    k.check()
    for name in ("nr_file_pages", "nr_shmem", "nr_dirty", "nr_anon_pages", "nr_active_anon",
                 "nr_inactive_anon", "nr_active_file", "nr_inactive_file"):
        assert stat(k, zone, name) == 0, name
    k.drain()
    assert k.show("buddyinfo") == boot_buddyinfo
