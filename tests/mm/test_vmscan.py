"""Reclaim and kswapd (mm/vmscan.c), the slow path around them (mm/page_alloc.c), writeback
and swap, on the tiny machine (one Normal zone of 1984 managed pages; watermarks min 89,
low 111, high 133), in both modes."""

import pytest

import kmemsim
from conftest import without_slab
from kmemsim.mm.mmzone import (CFG_JIFFIES, CFG_NR_SWAP_PAGES, KSWAPD_NAPPING, KSWAPD_SLEEPING,
                               OW_SWAP, PGDAT_KSWAPD_STATE, WMARK_HIGH, WMARK_LOW, WMARK_MIN,
                               ZONE_STAT_ITEMS)
from kmemsim.mm.vmstat import vm_event_names


def stat(k, name):
    i = ZONE_STAT_ITEMS.index(name)
    return int(k.mem.vm_stat[:, i].sum() + k.mem.vm_stat_diff[:, :, i].sum())


def event(k, name):
    return int(k.mem.vm_events[:, vm_event_names(k.machine).index(name)].sum())


ZONE = 0                                    # tiny's Normal zone


@pytest.fixture
def k(mode):
    k = kmemsim.boot(without_slab("tiny"), mode=mode)     # 1984 free pages, none used
    assert list(k.mem.watermark[ZONE]) == [89, 111, 133]
    assert int(k.mem.managed_pages[ZONE]) == 1984
    return k


def test_clean_page_cache_makes_room_for_anonymous_memory(k):
    """1800 clean cache pages leave 184 free; 1500 faults all succeed because reclaim
    drops cache pages, and every page that left the cache was reclaimed by someone: kswapd,
    woken at the low watermark and given its turn between faults, keeps ahead of the task,
    which never stalls in direct reclaim."""
    k.file("f")
    assert k.read("f", 1800) == 1800
    assert stat(k, "nr_free_pages") == 184 and event(k, "allocstall") == 0
    k.task("t")
    assert k.fault("t", 1500) == 1500
    k.check()
    gone = 1800 - stat(k, "nr_file_pages")
    assert gone > 0
    assert event(k, "pgsteal_direct_normal") + event(k, "pgsteal_kswapd_normal") == gone
    assert event(k, "pgsteal_kswapd_normal") == gone and event(k, "allocstall") == 0
    assert stat(k, "nr_anon_pages") == 1500
    assert event(k, "pswpout") == 0


def test_without_swap_the_oom_killer_kills_the_hog(k):
    """No swap, nothing reclaimable: reclaim makes no progress and the OOM killer picks the
    only task, the faulting one; marked TIF_MEMDIE it takes one more page from the reserves
    below min, stops, dies on its way out, and every page comes back."""
    k.task("hog")
    got = k.fault("hog", 5000)
    assert got == 1984 - 89 + 1 + 1                  # down to min, then one past it
    assert k.oom_reaped == ["hog"] and "hog" not in k.owner_ids
    rss, ptes = 1896, -(-1896 // 512)                # at the kill: rss and page tables
    score = (rss + ptes) * 1000 // 1984              # oom_badness scaled to totalpages
    assert f"Out of memory: Kill process 2 (hog) score {score} or sacrifice child" in k.dmesg
    assert event(k, "pswpout") == 0
    k.drain()
    assert stat(k, "nr_free_pages") == 1984 and stat(k, "nr_anon_pages") == 0
    k.check()


def test_kswapd_wakes_below_low_and_balances_above_high(k):
    k.file("f")
    k.read("f", 1800)
    assert k.mem.pgdat_misc[0, PGDAT_KSWAPD_STATE] == KSWAPD_SLEEPING
    k.task("t")
    n = 0
    while stat(k, "nr_free_pages") > 111 - 1:       # one fault at a time, down past low
        k.fault("t", 1)
        n += 1
        if event(k, "pageoutrun"):
            break
    assert event(k, "pageoutrun") == 1               # woken once, ran once
    # kswapd reclaimed until the zone was above high + the balance gap (min(low, 1%))
    assert stat(k, "nr_free_pages") >= 133 + min(111, -(-1984 // 100))
    assert event(k, "pgsteal_kswapd_normal") > 0 and event(k, "allocstall") == 0
    assert k.mem.pgdat_misc[0, PGDAT_KSWAPD_STATE] == KSWAPD_NAPPING
    k.tick(k.machine.hz // 10)                       # the nap ends balanced: sleep
    assert k.mem.pgdat_misc[0, PGDAT_KSWAPD_STATE] == KSWAPD_SLEEPING
    k.check()


def test_dirty_pages_are_written_before_they_can_go(k):
    """Reclaim does not free dirty file pages: direct reclaim wakes the flusher, kswapd may
    write some itself; the device writes them as simulated time passes, and only written
    (clean) pages are reclaimed.  Every page is dirty, under writeback or written."""
    k.file("log")
    assert k.write("log", 1700) == 1700
    assert stat(k, "nr_dirty") == 1700
    k.task("t")
    got = k.fault("t", 1000)
    k.check()
    assert got == 1000
    assert event(k, "pgpgout") > 0 and stat(k, "nr_written") > 0
    assert int(k.mem.cfg[CFG_JIFFIES]) > 0           # reclaim waited for the device
    assert stat(k, "nr_dirty") + stat(k, "nr_writeback") + stat(k, "nr_written") == 1700


def test_swap_takes_anonymous_pages_and_exit_gives_the_slots_back(mode):
    k = kmemsim.boot("tiny", mode=mode, swap="8M")
    assert int(k.mem.cfg[CFG_NR_SWAP_PAGES]) == 2048
    k.task("a")
    k.task("b")
    assert k.fault("a", 1200) == 1200
    assert k.fault("b", 1000) == 1000             # more than fits: some of a's pages swap
    k.check()
    out = event(k, "pswpout")
    row_a, row_b = k.owner_ids["a"], k.owner_ids["b"]
    swapped = int(k.mem.owners[row_a, OW_SWAP] + k.mem.owners[row_b, OW_SWAP])
    assert out == swapped > 0
    assert int(k.mem.cfg[CFG_NR_SWAP_PAGES]) == 2048 - swapped
    assert "SwapTotal:          8192 kB" in k.show("meminfo")
    k.exit("a")
    k.exit("b")
    assert int(k.mem.cfg[CFG_NR_SWAP_PAGES]) == 2048
    k.check()


def test_seed_000_memalloc_task_dips_below_min(k):
    """Seed 000: a PF_MEMALLOC task's order-0 allocation on a zone at its min watermark
    succeeds through ALLOC_NO_WATERMARKS (__alloc_pages_high_priority)."""
    k.task("hog", oom_score_adj=-1000)              # the OOM killer may not take it
    k.fault("hog", 5000)
    free = stat(k, "nr_free_pages")
    assert free <= 89 + 1
    assert k.alloc(0, "GFP_KERNEL", "plain") is None
    k.task("rescuer", memalloc=True, oom_score_adj=-1000)
    a = k.alloc(0, "GFP_KERNEL", "r", task="rescuer")
    assert a is not None and stat(k, "nr_free_pages") < 89
    k.check()


def test_seed_000_nofail_waits_for_another_task(k):
    """With nothing left even below min, a __GFP_NOFAIL allocation by a PF_MEMALLOC task
    loops through wait_iff_congested(HZ/50) until another task's free lands; simulated time
    advances by those timeouts."""
    k.task("hog", oom_score_adj=-1000)
    k.fault("hog", 5000)
    k.task("rescuer", memalloc=True, oom_score_adj=-1000)
    n = 0
    while k.alloc(0, "GFP_ATOMIC", f"x{n}", task="rescuer") is not None:
        n += 1
    k.drain()
    assert stat(k, "nr_free_pages") == 0 or k.alloc(0, "GFP_ATOMIC", "y", task="rescuer") is None
    k.free("x0", after=7)                       # another task frees a page 7 jiffies from now
    t0 = int(k.mem.cfg[CFG_JIFFIES])
    a = k.alloc(0, "GFP_KERNEL|__GFP_NOFAIL", "nofail", task="rescuer")
    assert a is not None
    waited = int(k.mem.cfg[CFG_JIFFIES]) - t0
    step = k.machine.hz // 50
    assert waited == -(-7 // step) * step         # whole HZ/50 waits until the free
    k.check()


from hypothesis import given, settings, strategies as st  # noqa: E402

PRESSURE_OPS = st.lists(st.tuples(
    st.sampled_from(["fault", "read", "write", "touch", "munmap", "truncate", "tick", "alloc",
                     "free"]),
    st.integers(0, 1), st.one_of(st.integers(0, 60), st.sampled_from([400, 900, 1500]))),
    min_size=4, max_size=14)


@settings(max_examples=40, deadline=None)
@given(PRESSURE_OPS, st.booleans())
def test_random_workloads_under_pressure_keep_the_invariants(ops, swap):
    """Random faults, reads, writes, unmaps, truncates, kernel allocations and time on the
    tiny machine, with and without swap (so with reclaim, swap-out and OOM kills): the
    validators (free lists, per-CPU lists, counters, LRU lists, owners, page accounting)
    hold after every step, and releasing everything gives every page back."""
    k = kmemsim.boot("tiny", swap="4M" if swap else None)
    boot_free = stat(k, "nr_free_pages")
    k.task("t1")
    k.task("t2")
    k.file("f1")
    k.file("shm", tmpfs=True)
    live = []
    for op, which, n in ops:
        task, file = ("t1", "t2")[which], ("f1", "shm")[which]
        if op in ("fault", "munmap"):
            if task in k.owner_ids:                 # not killed by the OOM killer
                getattr(k, op)(task, n)
        elif op == "truncate":
            k.truncate(file)
        elif op in ("read", "write"):
            getattr(k, op)(file, n)
        elif op == "touch" and (task, file)[n % 2] in k.owner_ids:
            k.touch((task, file)[n % 2], n)
        elif op == "tick":
            k.tick(n % 50)
        elif op == "alloc":
            a = k.alloc(n % 4, "GFP_KERNEL")
            if a is not None:
                live.append(a)
        elif op == "free" and live:
            k.free(live.pop(n % len(live)))
        k.check()
    for a in live:
        k.free(a)
    for task in ("t1", "t2"):
        if task in k.owner_ids:
            k.exit(task)
    k.truncate("f1")
    k.truncate("shm")
    k.tick(1000)                                  # let every write finish
    for cpu in range(k.machine.cpus):
        k.fn.lru_add_drain_cpu(k.mem, cpu)
    # pages still in the swap cache (unmapped, written) go at the next reclaims: take them now
    for _ in range(200):
        if not k.fn.try_to_free_pages(k.mem, 0, 0, 0xd0, 2, -1):
            break
    k.drain()
    k.check()
    assert stat(k, "nr_free_pages") == boot_free
    assert int(k.mem.cfg[CFG_NR_SWAP_PAGES]) == (1024 if swap else 0)


def test_a_stale_counter_cannot_keep_reclaim_going_forever():
    """Found by the random workloads above: tmpfs fills the machine (no swap), the last file
    pages go, and the zone's NR_INACTIVE_FILE still says 2 while this CPU's delta says -2.
    zone_reclaimable() believes the 2, so direct reclaim reports progress without freeing
    anything, and kswapd, never balanced, is always runnable.  Time passes while the
    allocator retries (kmemsim: a yield that frees nothing idles to the timeout), CPU 0's
    vmstat_update folds the delta at jiffy 100, reclaim gives up and the OOM killer kills
    the faulting task."""
    k = kmemsim.boot(without_slab("tiny"))
    k.task("t1")
    k.file("f1")
    k.file("shm", tmpfs=True)
    assert k.alloc(2, "GFP_KERNEL") is not None
    assert k.write("shm", 1500) == 1500
    k.fault("t1", 42)
    k.truncate("f1")
    k.touch("shm", 47)
    k.read("f1", 6)
    assert int(k.mem.cfg[CFG_JIFFIES]) == 0
    assert k.fault("t1", 900) == 352
    assert k.oom_reaped == ["t1"] and int(k.mem.cfg[CFG_JIFFIES]) == 100
    k.check()
