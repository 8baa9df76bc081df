"""fs/drop_caches.c and mm/truncate.c invalidate_mapping_pages: vm.drop_caches."""

import pytest

import kmemsim
from kmemsim.errors import KmemsimError
from kmemsim.mm.mmzone import ZONE_STAT_ITEMS
from kmemsim.script import run_script
from kmemsim.sysctl import sysctl_read

NR_FILE_PAGES = ZONE_STAT_ITEMS.index("nr_file_pages")
NR_FREE_PAGES = ZONE_STAT_ITEMS.index("nr_free_pages")


def _file_pages(k):
    return sum(int(k.fn.zone_page_state_snapshot(k.mem, z, NR_FILE_PAGES))
               for z in range(k.mem.vm_stat.shape[0]))


def _free_and_pcp(k):
    """Pages in the buddy lists plus pages on the per-CPU lists."""
    return sum(int(k.fn.zone_page_state_snapshot(k.mem, z, NR_FREE_PAGES))
               for z in range(k.mem.vm_stat.shape[0])) + int(k.mem.pcp[:, :, 0].sum())


def test_clean_pages_go_dirty_and_tmpfs_pages_stay(mode):
    k = kmemsim.boot("tiny", mode=mode)
    k.file("clean")
    k.file("dirty")
    k.file("shm", tmpfs=True)
    assert k.read("clean", 40) == 40
    assert k.write("dirty", 10) == 10
    assert k.write("shm", 20) == 20
    k.drain()                                   # nothing on the per-CPU LRU pagevecs
    for cpu in range(k.machine.cpus):
        k.fn.lru_add_drain_cpu(k.mem, cpu)
    before_free = _free_and_pcp(k)
    assert _file_pages(k) == 70
    k.sysctl("vm.drop_caches=1")
    assert _file_pages(k) == 30                 # the 10 dirty pages and the 20 tmpfs pages
    assert _free_and_pcp(k) == before_free + 40
    assert sysctl_read(k, "vm.drop_caches") == "1"
    k.check()


def test_pages_still_on_the_lru_add_pagevec_survive_the_first_drop(mode):
    """The lookup finds 5 pages still held by this CPU's lru_add pagevec (count 3, not 2):
    they stay, and are deactivated; the pagevec_release drains them onto the LRU, so a
    second drop takes them."""
    k = kmemsim.boot("tiny", mode=mode)
    k.file("f")
    assert k.read("f", 5) == 5
    assert int(k.mem.pagevecs[0, 0, 0]) == 5
    assert int(k.fn.drop_pagecache_sb(k.mem)) == 0
    assert _file_pages(k) == 5
    assert int(k.fn.drop_pagecache_sb(k.mem)) == 5
    assert _file_pages(k) == 0
    k.check()


def test_bad_values_are_one_line_errors():
    k = kmemsim.boot("tiny")
    for bad in ("0", "4", "x"):
        with pytest.raises(KmemsimError, match=r"vm.drop_caches="):
            k.sysctl(f"vm.drop_caches={bad}")
    assert sysctl_read(k, "vm.drop_caches") == "0"
    out = "".join(run_script(k, "file f\nread f 30\nsysctl vm.drop_caches=3\nshow sysctl\n"))
    assert "vm.drop_caches = 3\n" in out
    k.check()
