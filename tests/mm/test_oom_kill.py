"""kmemsim.mm.oom_kill: 3.13's badness score, the choice of the victim, the kill and what it
frees, the zonelist lock, and the report, against the real 3.13.11 OOM report of a 128 MiB
qemu PC (real-3.13/trace-128M-pressure/tracestats/dmesg_after)."""

import re
import sys
from pathlib import Path

import pytest

import kmemsim
from kmemsim.mm.gfp import GFP_HIGHUSER_MOVABLE, GFP_KERNEL
from kmemsim.mm.mmzone import CFG_CURRENT, CFG_HZ, CFG_KLOG_NEXT, CFG_MAX_NR_ZONES, \
    CFG_TOTAL_SWAP_PAGES, NR_FREE_PAGES, OW_FLAGS, OW_KIND, OW_NR_PTES, OW_OOM_SCORE_ADJ, \
    OW_PID, OW_RSS, OW_SWAP, OW_TIF, OWNER_FREE, OWNER_KTHREAD, WMARK_LOW, ZM_FLAGS, \
    ZONE_OOM_LOCKED, ZONE_STAT_ITEMS
from kmemsim.mm.oom_kill import CONSTRAINT_MEMORY_POLICY, CONSTRAINT_NONE, \
    OOM_SCAN_ABORTED, PF_EXITPIDONE, PF_KTHREAD, PF_SUPERPRIV, TIF_MEMDIE_BIT, \
    reap_oom_victims
from kmemsim.mm.show_mem import op_callers, render_klog

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "proc"))
from conftest import real_file  # noqa: E402
from test_reports import check_gold  # noqa: E402

NR_ANON_PAGES = ZONE_STAT_ITEMS.index("nr_anon_pages")
NR_FILE_PAGES = ZONE_STAT_ITEMS.index("nr_file_pages")


def boot128(mode="python"):
    return kmemsim.boot("x86_64", mem="128M", mode=mode)


def totalpages(k):
    """constrained_alloc's totalpages without a constraint: totalram_pages + swap."""
    return int(k.mem.managed_pages.sum()) + int(k.mem.cfg[CFG_TOTAL_SWAP_PAGES])


def oom(k, gfp_mask=GFP_HIGHUSER_MOVABLE, order=0, nodemask=-1, force_kill=False):
    """out_of_memory() as __alloc_pages_may_oom calls it (node 0's zonelist for the mask,
    holding the zonelist lock); returns (its result, the rendered lines)."""
    start = int(k.mem.cfg[CFG_KLOG_NEXT])
    zonelist = int(k.fn.node_zonelist(k.mem, 0, gfp_mask))
    assert k.fn.try_set_zonelist_oom(k.mem, zonelist, gfp_mask)
    ret = int(k.fn.out_of_memory(k.mem, zonelist, gfp_mask, order, nodemask, force_kill))
    k.fn.clear_zonelist_oom(k.mem, zonelist, gfp_mask)
    return ret, render_klog(k, start, op_callers(k, "write_shmem"))


def global_free(k):
    """Free pages exactly: the zone counters with every CPU's pending delta."""
    mem = k.mem
    return int(mem.vm_stat[:, NR_FREE_PAGES].sum() + mem.vm_stat_diff[:, :, NR_FREE_PAGES].sum())


def buddy_pages(k):
    """Free pages as /proc/buddyinfo counts them: the blocks of every order."""
    return sum(int(n) << order for row in k.mem.nr_free for order, n in enumerate(row))


# ---- oom_badness ---------------------------------------------------------------------------------

def test_oom_badness_numbers(mode):
    """rss + nr_ptes + swapents; root loses 3%; oom_score_adj counts totalpages/1000 pages
    per unit; an eligible task scores at least 1; OOM_SCORE_ADJ_MIN makes it 0."""
    k = boot128(mode)
    mem = k.mem
    tp = totalpages(k)
    assert tp == k.totalram_pages == 29780
    assert tuple(int(x) for x in k.fn.constrained_alloc(mem, 0, GFP_HIGHUSER_MOVABLE, -1)) \
        == (CONSTRAINT_NONE, tp)
    k.task("a")
    a = k.owner_ids["a"]
    k.fault("a", 1000)                            # page tables: one per 512 pages mapped
    mem.owners[a, OW_SWAP] = 50
    assert (int(mem.owners[a, OW_RSS]), int(mem.owners[a, OW_NR_PTES])) == (1000, 2)
    badness = lambda: int(k.fn.oom_badness(mem, a, -1, tp))          # noqa: E731
    assert badness() == 1000 + 2 + 50
    mem.owners[a, OW_FLAGS] |= PF_SUPERPRIV
    assert badness() == 1052 - 1052 * 3 // 100 == 1021
    mem.owners[a, OW_OOM_SCORE_ADJ] = 100
    assert badness() == 1021 + 100 * (tp // 1000) == 3921
    mem.owners[a, OW_OOM_SCORE_ADJ] = -500
    assert badness() == 1                         # 1021 - 14500 < 0: still eligible
    mem.owners[a, OW_OOM_SCORE_ADJ] = -1000
    assert badness() == 0
    assert int(k.fn.oom_badness(mem, 0, -1, tp)) == 0            # row 0: init
    mem.owners[a, OW_SWAP] = 0
    mem.owners[a, OW_OOM_SCORE_ADJ] = 0
    k.fn.do_exit(mem, a)
    assert badness() == 0                         # a zombie has no mm
    k.check()


def new_kthread(k, swap=0):
    """A kernel thread (OWNER_KTHREAD, PF_KTHREAD), made to look big with swap entries."""
    row = int(k.fn.owner_alloc(k.mem, OWNER_KTHREAD, PF_KTHREAD))
    k.mem.owners[row, OW_SWAP] = swap
    return row


def test_victim_choice(mode):
    """The highest badness wins, the first of equals by row; OOM_SCORE_ADJ_MIN and kernel
    threads are never chosen; the score printed is badness * 1000 / totalpages; a task
    already dying with TIF_MEMDIE makes the scan give up unless force_kill."""
    k = boot128(mode)
    mem = k.mem
    tp = totalpages(k)
    kthread = new_kthread(k, swap=100000)
    for name, pages in (("a", 300), ("b", 900), ("c", 600), ("d", 300)):
        k.task(name)
        k.fault(name, pages)
    a, b, c, d = (k.owner_ids[n] for n in "abcd")
    mem.owners[b, OW_OOM_SCORE_ADJ] = -1000
    assert int(k.fn.oom_badness(mem, kthread, -1, tp)) == 0
    chosen, points = (int(x) for x in k.fn.select_bad_process(mem, tp, -1, False))
    assert (chosen, points) == (c, 602 * 1000 // tp) == (c, 20)
    mem.owners[c, OW_OOM_SCORE_ADJ] = -1000
    chosen, points = (int(x) for x in k.fn.select_bad_process(mem, tp, -1, False))
    assert (chosen, points) == (a, 301 * 1000 // tp) == (a, 10)      # a and d tie: a first
    mem.owners[d, OW_TIF] |= TIF_MEMDIE_BIT
    assert int(k.fn.select_bad_process(mem, tp, -1, False)[0]) == OOM_SCAN_ABORTED
    assert int(k.fn.select_bad_process(mem, tp, -1, True)[0]) == a
    mem.owners[kthread, OW_SWAP] = 0
    k.check()


def test_constrained_alloc_on_numa(mode):
    """On NUMA a nodemask leaving out a node with memory is a mempolicy constraint: the
    total becomes swap + the spanned pages of the mask's nodes."""
    k = kmemsim.boot("numa", mode=mode)
    mem = k.mem
    nz = int(mem.cfg[CFG_MAX_NR_ZONES])
    node0 = sum(int(mem.spanned_pages[z]) for z in range(nz))
    got = tuple(int(x) for x in k.fn.constrained_alloc(mem, 0, GFP_HIGHUSER_MOVABLE, 0b01))
    assert got == (CONSTRAINT_MEMORY_POLICY, node0)
    got = tuple(int(x) for x in k.fn.constrained_alloc(mem, 0, GFP_HIGHUSER_MOVABLE, 0b11))
    assert got == (CONSTRAINT_NONE, totalpages(k))
    got = tuple(int(x) for x in k.fn.constrained_alloc(mem, -1, GFP_HIGHUSER_MOVABLE, 0b01))
    assert got == (CONSTRAINT_NONE, totalpages(k))             # no zonelist: page fault


# ---- the kill ----------------------------------------------------------------------------------

def test_kill_frees_the_victims_memory(mode):
    """The victim (not the running task) exits at once: every one of its pages goes back
    (exactly its rss, once the per-CPU lists are drained), its anonymous counter falls by
    as much, and it stays a zombie until reaped."""
    k = boot128(mode)
    mem = k.mem
    tp = totalpages(k)
    for name, pages in (("small", 500), ("big", 3000)):
        k.task(name)
        k.fault(name, pages)
    big = k.owner_ids["big"]
    pid = int(mem.owners[big, OW_PID])
    k.drain()
    free_before = global_free(k)
    anon = lambda: int(mem.vm_stat[:, NR_ANON_PAGES].sum()                # noqa: E731
                       + mem.vm_stat_diff[:, :, NR_ANON_PAGES].sum())
    anon_before = anon()
    ret, lines = oom(k)
    assert ret == 1
    assert lines[-2:] == [
        f"Out of memory: Kill process {pid} (big) score {3006 * 1000 // tp} or sacrifice child",
        f"Killed process {pid} (big) total-vm:12000kB, anon-rss:12000kB, file-rss:0kB"]
    assert int(mem.owners[big, OW_RSS]) == 0
    assert int(mem.owners[big, OW_FLAGS]) & PF_EXITPIDONE
    assert int(mem.owners[big, OW_TIF]) & TIF_MEMDIE_BIT
    k.drain()
    assert global_free(k) - free_before == 3000
    assert buddy_pages(k) == global_free(k)
    assert anon_before - anon() == 3000
    k.check()
    assert reap_oom_victims(k) == ["big"]
    assert "big" not in k.owner_ids and int(mem.owners[big, OW_KIND]) == OWNER_FREE
    assert global_free(k) - free_before == 3000
    k.check()
    ret, lines = oom(k)                           # the next OOM takes the next biggest
    assert ret == 1 and lines[-1].startswith(f"Killed process {pid - 1} (small)")


def test_the_running_task_dies_after_its_operation(mode):
    """Chosen while running, a task keeps its memory and TIF_MEMDIE (the reserves are open
    to it); a second OOM in the same operation sees the dying task and kills nobody
    (fatal_signal_pending when it is the one allocating, the aborted scan otherwise);
    reap_oom_victims then runs its exit."""
    k = boot128(mode)
    mem = k.mem
    k.task("dd")
    k.fault("dd", 800)
    dd = k.owner_ids["dd"]
    mem.cfg[CFG_CURRENT] = dd
    ret, lines = oom(k)
    assert ret == 1 and lines[0] == "dd invoked oom-killer: gfp_mask=0x200da, order=0, " \
                                    "oom_score_adj=0"
    assert int(mem.owners[dd, OW_RSS]) == 800 and int(mem.owners[dd, OW_TIF]) & TIF_MEMDIE_BIT
    assert oom(k) == (1, [])                     # current is dying: TIF_MEMDIE, no report
    mem.cfg[CFG_CURRENT] = 0
    assert oom(k) == (0, [])                     # wait for the victim: no second kill
    k.drain()
    free_before = global_free(k)
    assert reap_oom_victims(k) == ["dd"]
    k.drain()
    assert global_free(k) - free_before == 800
    assert buddy_pages(k) == global_free(k)
    k.check()


def test_no_killable_task(mode):
    """Only page cache and kernel threads: the report, an empty task table and 3.13's panic
    message; kmemsim goes on and the allocation fails."""
    k = boot128(mode)
    new_kthread(k)
    k.file("f", tmpfs=True)
    k.write("f", 2000)
    ret, lines = oom(k)
    assert ret == 0
    i = lines.index("[ pid ]   uid  tgid total_vm      rss nr_ptes swapents oom_score_adj "
                    "name")
    assert lines[i + 1:i + 5] == [
        "Kernel panic - not syncing: Out of memory and no killable processes...", "",
        "CPU: 0 PID: 0 Comm: kmemsim Not tainted 3.13.11 #1",
        "Hardware name: QEMU Standard PC (i440FX + PIIX, 1996), BIOS 1.16.2-debian-1.16.2-1 "
        "04/01/2014"]
    assert lines[i + 5:i + 9] == ["Call Trace:", " dump_stack", " panic", " out_of_memory"]
    assert lines[5:8] == [" dump_stack", " dump_header.constprop.0", " out_of_memory"]
    k.check()


def test_zonelist_oom_lock(mode):
    """try_set_zonelist_oom locks the zones a mask may use (ZONE_OOM_LOCKED), fails while
    any is locked; pagefault_out_of_memory does nothing while another OOM kill holds it."""
    k = boot128(mode)
    mem = k.mem
    k.task("a")
    k.fault("a", 100)
    zl = int(k.fn.node_zonelist(mem, 0, GFP_KERNEL))
    locked = lambda: [int(mem.zone_misc[z, ZM_FLAGS] >> ZONE_OOM_LOCKED) & 1     # noqa: E731
                      for z in range(4)]
    assert k.fn.try_set_zonelist_oom(mem, zl, GFP_KERNEL)
    assert locked() == [1, 1, 0, 0]               # DMA, DMA32 (Normal is empty on 128M)
    assert not k.fn.try_set_zonelist_oom(mem, zl, GFP_KERNEL)
    assert int(k.fn.pagefault_out_of_memory(mem)) == 0
    assert int(mem.cfg[CFG_KLOG_NEXT]) == 0
    k.fn.clear_zonelist_oom(mem, zl, GFP_KERNEL)
    assert locked() == [0, 0, 0, 0]
    assert int(k.fn.pagefault_out_of_memory(mem)) == 1
    assert locked() == [0, 0, 0, 0]
    lines = render_klog(k, 0, ("fault_pages",))
    assert lines[0] == "kmemsim invoked oom-killer: gfp_mask=0x0, order=0, oom_score_adj=0"
    assert lines[5:11] == [" dump_stack", " dump_header.constprop.0", " oom_kill_process",
                           " out_of_memory", " pagefault_out_of_memory", " fault_pages"]
    assert lines[-1].endswith("(a) total-vm:400kB, anon-rss:400kB, file-rss:0kB")


def test_oom_rs_ratelimit():
    """oom_rs: ten reports per 5 s; the eleventh kill only says "Kill" and "Killed"; after
    the interval the next report starts with the suppressed count."""
    k = kmemsim.boot("tiny")
    for i in range(12):
        k.task(f"t{i}")
        k.fault(f"t{i}", 10 + i)
    headers = []
    for _ in range(11):
        ret, lines = oom(k)
        headers.append(sum("invoked oom-killer" in l for l in lines))
        assert ret == 1 and lines[-1].startswith("Killed process")
        reap_oom_victims(k)
    assert headers == [1] * 10 + [0]
    k.tick(5 * int(k.mem.cfg[CFG_HZ]) + 1)
    ret, lines = oom(k)
    assert lines[:2] == ["oom_kill_process: 1 callbacks suppressed",
                         "kmemsim invoked oom-killer: gfp_mask=0x200da, order=0, "
                         "oom_score_adj=0"]
    assert lines[-1].startswith("Killed process") and "(t0)" in lines[-1]
    k.check()


# ---- the report, against the real one ----------------------------------------------------------

def pressure_workload(k, anon_pages=225):
    """The shape of the real run: dd maps a little anonymous memory (the real dd had 225
    anonymous pages), then fills a tmpfs file; the fill stops once free memory is down to
    the zones' low watermarks (plus DMA's reserve against DMA32 allocations), so that every
    allocation was served by the fast path or the slow path's first attempt.  Then dd
    invokes the OOM killer as __alloc_pages_may_oom would for its next tmpfs page."""
    mem = k.mem
    k.task("dd")
    dd = k.owner_ids["dd"]
    mem.cfg[CFG_CURRENT] = dd
    assert int(k.fn.fault_pages(mem, dd, anon_pages)) == anon_pages
    k.file("f", tmpfs=True)
    f = k.owner_ids["f"]
    goal = int(mem.watermark[:, WMARK_LOW].sum()) + int(mem.lowmem_reserve[0, 1]) + 32
    while global_free(k) > goal:
        n = max(1, (global_free(k) - goal) // 2)
        assert int(k.fn.read_file_pages(mem, f, n, 1)) == n
    return oom(k)


@pytest.fixture(scope="module")
def report():
    k = boot128()
    ret, lines = pressure_workload(k)
    assert ret == 1
    return k, lines


def test_oom_report_gold(report):
    """The whole report of the pressure workload on x86_64 128M, as tests/proc/gold."""
    k, lines = report
    check_gold("x86_64-128M.oom_report", "".join(l + "\n" for l in lines))


def skeleton(lines):
    """Lines with the numbers blanked, the migratetype letters of the free-area lines left
    out (they follow the counts) and runs of spaces inside a line made one."""
    out = []
    for line in lines:
        line = re.sub(r"\([UEMRCI]+\) ", "", line)
        line = re.sub(r"\d+", "N", line)
        out.append(re.sub(r"(?<=\S) +", " ", line))
    return out


def real_oom_report():
    """The real report's lines, from "invoked oom-killer" to "Killed process", without the
    timestamps."""
    text = real_file("trace-128M-pressure", "tracestats", "dmesg_after")
    lines = [re.sub(r"^\[[ \d.]+\] ", "", l) for l in text.splitlines()]
    first = next(i for i, l in enumerate(lines) if "invoked oom-killer" in l)
    last = next(i for i, l in enumerate(lines) if l.startswith("Killed process"))
    return lines[first:last + 1]


def split_trace(lines):
    """(lines without the stack dump's frames and raw stack words, the frames)."""
    start = lines.index("Call Trace:") + 1
    end = lines.index("Mem-Info:")
    return lines[:start] + lines[end:], lines[start:end]


def test_oom_report_laid_out_like_real_313(report):
    """Line for line the real 3.13.11 report, numbers aside, except what kmemsim cannot
    know: the three lines of raw stack words (kmemsim has no kernel stack: left out), the
    frames' addresses and offsets, and the unreliable "?" frames (stale words on the real
    stack); the frames themselves are the real ones, function for function."""
    k, ours = report
    real = real_oom_report()
    stack_words = [l for l in real if re.fullmatch(r" ([0-9a-f]{16} ?){4}", l)]
    assert len(stack_words) == 3
    real = [l for l in real if l not in stack_words]
    real_rest, real_frames = split_trace(real)
    our_rest, our_frames = split_trace(ours)
    assert skeleton(our_rest) == skeleton(real_rest)
    assert real_frames[:5] == [" [<ffffffff815870d8>] dump_stack+0x45/0x56",
                               " [<ffffffff810e3b40>] dump_header.constprop.0+0x70/0xb0",
                               " [<ffffffff810e3fe4>] oom_kill_process+0x204/0x250",
                               " [<ffffffff8104af79>] ? has_capability_noaudit+0x19/0x20",
                               " [<ffffffff810e448b>] out_of_memory+0x29b/0x450"]
    reliable = [re.fullmatch(r" \[<[0-9a-f]{16}>\] ([\w.]+)\+0x[0-9a-f]+/0x[0-9a-f]+", f)
                for f in real_frames]
    assert len([m for m in reliable if m]) == 16
    assert our_frames == [" " + m.group(1) for m in reliable if m]


def test_oom_report_numbers(report):
    """The numbers of the report are the machine's: dd's row of the task table, the kill
    line's score and sizes, show_mem's page counts."""
    k, lines = report
    mem = k.mem
    dd = k.owner_ids["dd"]
    pid = int(mem.owners[dd, OW_PID])
    tp = totalpages(k)
    assert f"[{pid:5d}]  1000 {pid:5d}      225      225       1        0             0 dd" \
        in lines
    assert lines[-2:] == [
        f"Out of memory: Kill process {pid} (dd) score {226 * 1000 // tp} or sacrifice child",
        f"Killed process {pid} (dd) total-vm:900kB, anon-rss:900kB, file-rss:0kB"]
    assert ["32638 pages RAM", "0 pages HighMem/MovableOnly", "2837 pages reserved"] == \
        lines[lines.index("Total swap = 0kB") + 1:][:3]
    file_pages = int(mem.vm_stat[:, NR_FILE_PAGES].sum())          # without CPU deltas
    assert f"{file_pages} total pagecache pages" in lines
    shmem = int(mem.owners[k.owner_ids["f"], OW_RSS])
    assert abs(file_pages - shmem) <= int(mem.stat_threshold.max())


def test_arm_report_gold():
    """arndale (32-bit ARM): no cpuset line, no DMI name, ARM's unwinder lines and its own
    show_mem; a task faulting on a fresh machine, killed by a direct call."""
    k = kmemsim.boot("arndale")
    k.task("hog")
    k.fault("hog", 2000)
    ret, lines = oom(k)
    assert ret == 1
    assert lines[2:6] == ["(unwind_backtrace) from (show_stack)",
                          "(show_stack) from (dump_stack)", "(dump_stack) from (dump_header)",
                          "(dump_header) from (oom_kill_process)"]
    check_gold("arndale.oom_report", "".join(l + "\n" for l in lines))
