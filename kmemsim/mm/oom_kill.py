"""The OOM killer: when reclaim has nothing left, pick the task whose death frees the most
memory, report, and kill it.

Kernel: mm/oom_kill.c, include/linux/oom.h (v3.13); the victim's exit from kernel/exit.c.

Tasks are the rows of ``mem.owners`` of kind OWNER_TASK (and OWNER_KTHREAD, never chosen);
the task list is walked by row, as 3.13 walks init_task's list in creation order.  What
kmemsim's tasks are, against 3.13's (docs/oom.md has the whole design):

* A task has one thread and no children: the "sacrifice child" step of oom_kill_process()
  finds none; no two tasks share an mm.
* Row 0, the default task context, stands for init (is_global_init: never killed); kernel
  threads (OWNER_KTHREAD, or PF_KTHREAD) are never killed.
* A task is root (CAP_SYS_ADMIN: the 3% bonus of oom_badness, uid 0 in the task table) when
  its flags carry PF_SUPERPRIV; kmemsim's tasks are ordinary users (uid 1000) otherwise.
* get_mm_rss() is the task's anonymous pages (OW_RSS: kmemsim's tasks map no file pages, so
  file-rss is 0), nr_ptes is OW_NR_PTES, swapents OW_SWAP, total_vm OW_TOTAL_VM.
* SIGKILL is only ever sent by the OOM killer, together with TIF_MEMDIE, so a pending fatal
  signal is TIF_MEMDIE.  A victim other than the running task exits at once (do_exit: its
  memory is freed), as if it had run during the killer's schedule_timeout_killable(1); the
  running task, when chosen, keeps running with TIF_MEMDIE (the reserves are open to it) and
  exits when its operation ends (:func:`reap_oom_victims`).  A task whose exit has run is a
  zombie (PF_EXITPIDONE: task->exit_state) until reaped.
* No memory cgroups (the memcg arguments are dropped), no cpusets, default mempolicies; no
  OOM notifiers, no oom_task_origin (swapoff, KSM); panic_on_oom is 0 and
  oom_kill_allocating_task 0, oom_dump_tasks 1 (sysctls kmemsim does not expose yet).
"""

from __future__ import annotations

import numpy as np

from kmemsim.jit import kernel
from kmemsim.mm.mmzone import PF_EXITING, PF_EXITPIDONE, PF_SUPERPRIV, PF_KTHREAD, TIF_MEMDIE_BIT  # task flags
from kmemsim.mm.gfp import GFP_KERNEL, __GFP_THISNODE, gfp_zone
from kmemsim.mm.mmzone import CFG_CPU, CFG_CURRENT, CFG_MAX_NR_ZONES, CFG_MAX_OWNERS, \
    CFG_NUMA, CFG_TOTAL_SWAP_PAGES, OW_FLAGS, OW_KIND, OW_NR_PTES, \
    OW_OOM_SCORE_ADJ, OW_PID, OW_RSS, OW_SWAP, OW_TIF, OW_TOTAL_VM, OWNER_KTHREAD, \
    OWNER_TASK, ZM_FLAGS, ZONE_OOM_LOCKED
from kmemsim.mm.page_alloc_fastpath import _zonelist_zone, node_zonelist
from kmemsim.mm.show_mem import KLOG_DUMP_TASKS, KLOG_OOM_INVOKED, KLOG_OOM_KILL, \
    KLOG_OOM_KILLED, KLOG_PANIC, RB_NR_TASKS, RB_OOM_PATH, RB_TASKS_SEQ, RB_ZONES, RS_OOM, \
    SHOW_MEM_FILTER_NODES, TB_ADJ, TB_NR_PTES, TB_PID, TB_ROW, TB_RSS, TB_STRIDE, \
    TB_SWAPENTS, TB_TOTAL_VM, TB_UID, TRACE_BY_CHECK_PANIC_ON_OOM, TRACE_BY_OOM_KILL_PROCESS, \
    TRACE_BY_OUT_OF_MEMORY, TRACE_PATH_ALLOC, TRACE_PATH_PAGEFAULT, ZB_PCP, ___ratelimit, \
    log_store, show_mem
from kmemsim.sim.owners import exit_mmap, owner_release

__all__ = [
    "OOM_SCORE_ADJ_MIN", "OOM_SCORE_ADJ_MAX", "PF_EXITING", "PF_EXITPIDONE", "PF_SUPERPRIV",
    "PF_KTHREAD", "TIF_MEMDIE_BIT", "CONSTRAINT_NONE", "CONSTRAINT_CPUSET",
    "CONSTRAINT_MEMORY_POLICY", "OOM_SCAN_OK", "OOM_SCAN_CONTINUE", "OOM_SCAN_ABORT",
    "OOM_SCAN_SELECT", "OOM_SCAN_ABORTED", "fatal_signal_pending", "get_mm_rss",
    "find_lock_task_mm", "oom_unkillable_task", "oom_badness", "constrained_alloc",
    "oom_scan_process_thread", "select_bad_process", "dump_tasks", "dump_header", "do_exit",
    "release_task", "oom_kill_process", "check_panic_on_oom", "zone_is_oom_locked",
    "try_set_zonelist_oom", "clear_zonelist_oom", "out_of_memory", "pagefault_out_of_memory",
    "reap_oom_victims",
]

OOM_SCORE_ADJ_MIN = -1000         # include/uapi/linux/oom.h
OOM_SCORE_ADJ_MAX = 1000
# task->flags (include/linux/sched.h)
ROOT_UID = 0
USER_UID = 1000                   # kmemsim's ordinary tasks
# enum oom_constraint, enum oom_scan_t (include/linux/oom.h)
CONSTRAINT_NONE = 0
CONSTRAINT_CPUSET = 1
CONSTRAINT_MEMORY_POLICY = 2
CONSTRAINT_MEMCG = 3
OOM_SCAN_OK = 0
OOM_SCAN_CONTINUE = 1
OOM_SCAN_ABORT = 2
OOM_SCAN_SELECT = 3
OOM_SCAN_ABORTED = -2             # select_bad_process's (struct task_struct *)-1UL; none is -1
# oom_kill_process's message
OOM_MSG_OUT_OF_MEMORY = 0
OOM_MSG_ALLOCATING_TASK = 1
# sysctls (kernel/sysctl.c vm table), fixed at their defaults
SYSCTL_PANIC_ON_OOM = 0
SYSCTL_OOM_KILL_ALLOCATING_TASK = 0
SYSCTL_OOM_DUMP_TASKS = 1
PANIC_NO_KILLABLE = 0
PANIC_ON_OOM_COMPULSORY = 1
PANIC_ON_OOM_SYSTEM_WIDE = 2


# ---- tasks -----------------------------------------------------------------------------------

@kernel
def fatal_signal_pending(mem, p):
    """Kernel: include/linux/sched.h fatal_signal_pending(): SIGKILL is pending.  kmemsim
    sends SIGKILL only with TIF_MEMDIE (oom_kill_process), so that is what it tests."""
    return (mem.owners[p, OW_TIF] & TIF_MEMDIE_BIT) != 0


@kernel
def get_mm_rss(mem, p):
    """Kernel: include/linux/mm.h get_mm_rss(): MM_FILEPAGES + MM_ANONPAGES; kmemsim's tasks
    have anonymous pages only."""
    return mem.owners[p, OW_RSS]


@kernel
def find_lock_task_mm(mem, p):
    """Kernel: mm/oom_kill.c find_lock_task_mm(): ``p`` if it still has its mm (it is a task
    whose exit has not run), else -1 (NULL).  One thread per task, nothing to lock."""
    if mem.owners[p, OW_KIND] != OWNER_TASK:
        return np.int64(-1)
    if mem.owners[p, OW_FLAGS] & PF_EXITPIDONE:
        return np.int64(-1)
    return np.int64(p)


@kernel
def oom_unkillable_task(mem, p, nodemask):
    """Kernel: mm/oom_kill.c oom_unkillable_task(): init (row 0) and kernel threads.  Every
    task's memory intersects any nodemask (no cpusets, default mempolicies:
    has_intersects_mems_allowed is true); no memcg."""
    if p == 0:
        return True
    if mem.owners[p, OW_KIND] == OWNER_KTHREAD:
        return True
    if mem.owners[p, OW_FLAGS] & PF_KTHREAD:
        return True
    return False


@kernel
def oom_badness(mem, p, nodemask, totalpages):
    """Kernel: mm/oom_kill.c oom_badness(): rss + page tables + swap entries, less 3% for
    root, plus oom_score_adj in thousandths of ``totalpages``; at least 1 for a killable
    task, 0 for an unkillable one or one with OOM_SCORE_ADJ_MIN."""
    if oom_unkillable_task(mem, p, nodemask):
        return np.int64(0)
    p = find_lock_task_mm(mem, p)
    if p < 0:
        return np.int64(0)
    adj = mem.owners[p, OW_OOM_SCORE_ADJ]
    if adj == OOM_SCORE_ADJ_MIN:
        return np.int64(0)
    points = get_mm_rss(mem, p) + mem.owners[p, OW_NR_PTES] + mem.owners[p, OW_SWAP]
    if mem.owners[p, OW_FLAGS] & PF_SUPERPRIV:          # has_capability_noaudit(CAP_SYS_ADMIN)
        points -= (points * 3) // 100
    adj *= totalpages // 1000
    points += adj
    if points > 0:
        return points
    return np.int64(1)


@kernel
def constrained_alloc(mem, zonelist, gfp_mask, nodemask):
    """Kernel: mm/oom_kill.c constrained_alloc(): (constraint, totalpages).  All memory
    (totalram_pages + total_swap_pages) and CONSTRAINT_NONE, except on NUMA for a nodemask
    that leaves out a node with memory (a mempolicy): CONSTRAINT_MEMORY_POLICY over the swap
    and the spanned pages of the nodes in the mask.  kmemsim has no cpusets, so never
    CONSTRAINT_CPUSET.  A nodemask is a bit mask of nodes, -1 for none (NULL)."""
    totalram = np.int64(0)
    for zone in range(mem.managed_pages.shape[0]):
        totalram += mem.managed_pages[zone]
    totalpages = totalram + mem.cfg[CFG_TOTAL_SWAP_PAGES]
    if mem.cfg[CFG_NUMA] == 0:
        return CONSTRAINT_NONE, totalpages
    if zonelist < 0:
        return CONSTRAINT_NONE, totalpages
    if gfp_mask & __GFP_THISNODE:
        return CONSTRAINT_NONE, totalpages
    if nodemask >= 0:
        nz = mem.cfg[CFG_MAX_NR_ZONES]
        with_memory = np.int64(0)
        for zone in range(mem.present_pages.shape[0]):
            if mem.present_pages[zone] != 0:
                with_memory |= np.int64(1) << (zone // nz)
        if (with_memory & ~nodemask) != 0:                # !nodes_subset(N_MEMORY, *nodemask)
            totalpages = mem.cfg[CFG_TOTAL_SWAP_PAGES]
            for zone in range(mem.spanned_pages.shape[0]):
                if (nodemask >> (zone // nz)) & 1:
                    totalpages += mem.spanned_pages[zone]    # node_spanned_pages(nid)
            return CONSTRAINT_MEMORY_POLICY, totalpages
    return CONSTRAINT_NONE, totalpages


@kernel
def oom_scan_process_thread(mem, task, totalpages, nodemask, force_kill):
    """Kernel: mm/oom_kill.c oom_scan_process_thread(): skip zombies and unkillable tasks;
    a task already dying with TIF_MEMDIE, or one exiting, aborts the scan unless
    ``force_kill`` (the kernel waits for it rather than kill another)."""
    if mem.owners[task, OW_FLAGS] & PF_EXITPIDONE:      # task->exit_state
        return OOM_SCAN_CONTINUE
    if oom_unkillable_task(mem, task, nodemask):
        return OOM_SCAN_CONTINUE
    if mem.owners[task, OW_TIF] & TIF_MEMDIE_BIT:
        if not force_kill:
            return OOM_SCAN_ABORT
    if find_lock_task_mm(mem, task) < 0:                  # !task->mm
        return OOM_SCAN_CONTINUE
    if (mem.owners[task, OW_FLAGS] & PF_EXITING) and not force_kill:
        return OOM_SCAN_ABORT
    return OOM_SCAN_OK


@kernel
def select_bad_process(mem, totalpages, nodemask, force_kill):
    """Kernel: mm/oom_kill.c select_bad_process(): the task with the highest oom_badness
    (the first of equals, in task-list order: by row).  Returns (task, points) with points
    = its badness * 1000 / totalpages; task -1 when none is killable, OOM_SCAN_ABORTED when
    a dying task makes the kernel wait."""
    chosen = np.int64(-1)
    chosen_points = np.int64(0)
    for p in range(mem.cfg[CFG_MAX_OWNERS]):
        kind = mem.owners[p, OW_KIND]
        if kind != OWNER_TASK and kind != OWNER_KTHREAD:
            continue
        scan = oom_scan_process_thread(mem, p, totalpages, nodemask, force_kill)
        if scan == OOM_SCAN_CONTINUE:
            continue
        if scan == OOM_SCAN_ABORT:
            return OOM_SCAN_ABORTED, np.int64(0)
        points = oom_badness(mem, p, nodemask, totalpages)
        if points > chosen_points:
            chosen = np.int64(p)
            chosen_points = points
    return chosen, chosen_points * 1000 // totalpages


# ---- the report ------------------------------------------------------------------------------

@kernel
def dump_tasks(mem, nodemask):
    """Kernel: mm/oom_kill.c dump_tasks(): the table of every killable task that still has
    its memory (pid, uid, tgid, total_vm, rss, nr_ptes, swapents, oom_score_adj), as rows of
    the report snapshot.  Returns the record's number."""
    seq = log_store(mem, KLOG_DUMP_TASKS, nodemask, 0, 0, 0, 0, 0)
    base = RB_ZONES + mem.managed_pages.shape[0] * (ZB_PCP + 4 * mem.pcp.shape[0])
    n = 0
    for p in range(mem.cfg[CFG_MAX_OWNERS]):
        if mem.owners[p, OW_KIND] != OWNER_TASK and mem.owners[p, OW_KIND] != OWNER_KTHREAD:
            continue
        if oom_unkillable_task(mem, p, nodemask):
            continue
        task = find_lock_task_mm(mem, p)
        if task < 0:
            continue
        row = base + n * TB_STRIDE
        mem.report_buf[row + TB_ROW] = task
        mem.report_buf[row + TB_PID] = mem.owners[task, OW_PID]
        if mem.owners[task, OW_FLAGS] & PF_SUPERPRIV:
            mem.report_buf[row + TB_UID] = ROOT_UID
        else:
            mem.report_buf[row + TB_UID] = USER_UID
        mem.report_buf[row + TB_TOTAL_VM] = mem.owners[task, OW_TOTAL_VM]
        mem.report_buf[row + TB_RSS] = get_mm_rss(mem, task)
        mem.report_buf[row + TB_NR_PTES] = mem.owners[task, OW_NR_PTES]
        mem.report_buf[row + TB_SWAPENTS] = mem.owners[task, OW_SWAP]
        mem.report_buf[row + TB_ADJ] = mem.owners[task, OW_OOM_SCORE_ADJ]
        n += 1
    mem.report_buf[RB_NR_TASKS] = n
    mem.report_buf[RB_TASKS_SEQ] = seq + 1
    return seq


@kernel
def dump_header(mem, p, gfp_mask, order, nodemask, caller):
    """Kernel: mm/oom_kill.c dump_header(): "invoked oom-killer" with the running task's
    oom_score_adj, its cpuset line and stack (one record: compiled code cannot unwind its
    stack, so ``caller`` (TRACE_BY_*) and the path out_of_memory was entered by name the
    frames), then show_mem() and dump_tasks()."""
    current = mem.cfg[CFG_CURRENT]
    trace = mem.cfg[CFG_CPU] * 256 + mem.report_buf[RB_OOM_PATH] * 16 + caller
    log_store(mem, KLOG_OOM_INVOKED, current, mem.owners[current, OW_PID], gfp_mask, order,
              mem.owners[current, OW_OOM_SCORE_ADJ], trace)
    show_mem(mem, SHOW_MEM_FILTER_NODES)
    if SYSCTL_OOM_DUMP_TASKS:
        dump_tasks(mem, nodemask)


# ---- the kill --------------------------------------------------------------------------------

@kernel
def do_exit(mem, tsk):
    """Kernel: kernel/exit.c do_exit(), what kmemsim has of it: PF_EXITING (exit_signals),
    the mm released (exit_mm, mmput: exit_mmap frees the pages and swap entries, the page
    tables go), and the end (exit_notify: a zombie; PF_EXITPIDONE).  Returns the pages
    unmapped."""
    mem.owners[tsk, OW_FLAGS] |= PF_EXITING
    n = exit_mmap(mem, tsk)
    mem.owners[tsk, OW_TOTAL_VM] = 0
    mem.owners[tsk, OW_NR_PTES] = 0
    mem.owners[tsk, OW_FLAGS] |= PF_EXITPIDONE
    return n


@kernel
def release_task(mem, p):
    """Kernel: kernel/exit.c release_task(): the zombie is reaped and its row given back
    (any page it got while dying, on the reserves, is freed with it)."""
    exit_mmap(mem, p)
    owner_release(mem, p)


@kernel
def oom_kill_process(mem, p, gfp_mask, order, points, totalpages, nodemask, message):
    """Kernel: mm/oom_kill.c oom_kill_process(): a task already exiting only gets TIF_MEMDIE;
    otherwise the report (dump_header, ratelimited by oom_rs: 10 per 5 s), "Kill process",
    "Killed process" with its sizes, then TIF_MEMDIE and SIGKILL.  kmemsim's tasks have no
    children to sacrifice and share no mm.  A victim other than the running task exits now
    (do_exit); the running task exits when its operation ends.  ``message`` is
    OOM_MSG_*."""
    if mem.owners[p, OW_FLAGS] & PF_EXITING:
        mem.owners[p, OW_TIF] |= TIF_MEMDIE_BIT
        return
    if ___ratelimit(mem, RS_OOM, RS_OOM):
        dump_header(mem, p, gfp_mask, order, nodemask, TRACE_BY_OOM_KILL_PROCESS)
    log_store(mem, KLOG_OOM_KILL, message, p, mem.owners[p, OW_PID], points, 0, 0)
    victim = find_lock_task_mm(mem, p)
    if victim < 0:
        return
    log_store(mem, KLOG_OOM_KILLED, victim, mem.owners[victim, OW_PID],
              mem.owners[victim, OW_TOTAL_VM], mem.owners[victim, OW_RSS], 0, 0)
    mem.owners[victim, OW_TIF] |= TIF_MEMDIE_BIT          # set_tsk_thread_flag, SIGKILL
    if victim != mem.cfg[CFG_CURRENT]:
        do_exit(mem, victim)


@kernel
def check_panic_on_oom(mem, constraint, gfp_mask, order, nodemask):
    """Kernel: mm/oom_kill.c check_panic_on_oom(): nothing with panic_on_oom 0 (kmemsim's
    setting); otherwise the report and the panic record (kmemsim cannot halt: it goes on)."""
    if SYSCTL_PANIC_ON_OOM == 0:
        return
    if SYSCTL_PANIC_ON_OOM != 2 and constraint != CONSTRAINT_NONE:
        return
    dump_header(mem, -1, gfp_mask, order, nodemask, TRACE_BY_CHECK_PANIC_ON_OOM)
    reason = PANIC_ON_OOM_SYSTEM_WIDE
    if SYSCTL_PANIC_ON_OOM == 2:
        reason = PANIC_ON_OOM_COMPULSORY
    current = mem.cfg[CFG_CURRENT]
    log_store(mem, KLOG_PANIC, reason, current, mem.owners[current, OW_PID],
              mem.cfg[CFG_CPU] * 256 + mem.report_buf[RB_OOM_PATH] * 16
              + TRACE_BY_CHECK_PANIC_ON_OOM, 0, 0)


# ---- the zonelist lock -----------------------------------------------------------------------

@kernel
def zone_is_oom_locked(mem, zone):
    """Kernel: include/linux/mmzone.h zone_is_oom_locked()."""
    return ((mem.zone_misc[zone, ZM_FLAGS] >> ZONE_OOM_LOCKED) & 1) != 0


@kernel
def try_set_zonelist_oom(mem, zonelist, gfp_mask):
    """Kernel: mm/oom_kill.c try_set_zonelist_oom(): False if a zone of the list (up to
    gfp_zone(gfp_mask)) is already OOM-locked, else lock them all (ZONE_OOM_LOCKED)."""
    high = gfp_zone(mem, gfp_mask)
    i = 0
    while _zonelist_zone(mem, zonelist, i) >= 0:
        zone = _zonelist_zone(mem, zonelist, i)
        i += 1
        if zone % mem.cfg[CFG_MAX_NR_ZONES] <= high and zone_is_oom_locked(mem, zone):
            return False
    i = 0
    while _zonelist_zone(mem, zonelist, i) >= 0:
        zone = _zonelist_zone(mem, zonelist, i)
        i += 1
        if zone % mem.cfg[CFG_MAX_NR_ZONES] <= high:
            mem.zone_misc[zone, ZM_FLAGS] |= np.int64(1) << ZONE_OOM_LOCKED
    return True


@kernel
def clear_zonelist_oom(mem, zonelist, gfp_mask):
    """Kernel: mm/oom_kill.c clear_zonelist_oom(): unlock the list's zones."""
    high = gfp_zone(mem, gfp_mask)
    i = 0
    while _zonelist_zone(mem, zonelist, i) >= 0:
        zone = _zonelist_zone(mem, zonelist, i)
        i += 1
        if zone % mem.cfg[CFG_MAX_NR_ZONES] <= high:
            mem.zone_misc[zone, ZM_FLAGS] &= ~(np.int64(1) << ZONE_OOM_LOCKED)


# ---- entry points ----------------------------------------------------------------------------

@kernel
def out_of_memory(mem, zonelist, gfp_mask, order, nodemask, force_kill):
    """Kernel: mm/oom_kill.c out_of_memory(): a running task that is already dying gets
    TIF_MEMDIE and nothing else happens; otherwise the constraint, panic_on_oom, and the
    kill of select_bad_process's choice (no killable task: the report and a panic record,
    and kmemsim goes on).  ``zonelist`` -1 is the page-fault path's NULL; ``nodemask`` -1
    none.  The kernel's is void; kmemsim's returns 1 when a task was killed or given
    TIF_MEMDIE (worth retrying the allocation), 0 otherwise.  The kernel then sleeps a
    jiffy for the victim to exit; kmemsim's victim has exited already."""
    current = mem.cfg[CFG_CURRENT]
    if fatal_signal_pending(mem, current) or (mem.owners[current, OW_FLAGS] & PF_EXITING):
        mem.owners[current, OW_TIF] |= TIF_MEMDIE_BIT
        return 1
    if zonelist >= 0:
        mem.report_buf[RB_OOM_PATH] = TRACE_PATH_ALLOC
    else:
        mem.report_buf[RB_OOM_PATH] = TRACE_PATH_PAGEFAULT
    constraint, totalpages = constrained_alloc(mem, zonelist, gfp_mask, nodemask)
    mpol_mask = np.int64(-1)
    if constraint == CONSTRAINT_MEMORY_POLICY:
        mpol_mask = np.int64(nodemask)
    check_panic_on_oom(mem, constraint, gfp_mask, order, mpol_mask)
    if SYSCTL_OOM_KILL_ALLOCATING_TASK and find_lock_task_mm(mem, current) >= 0 and \
            not oom_unkillable_task(mem, current, nodemask) and \
            mem.owners[current, OW_OOM_SCORE_ADJ] != OOM_SCORE_ADJ_MIN:
        oom_kill_process(mem, current, gfp_mask, order, 0, totalpages, nodemask,
                         OOM_MSG_ALLOCATING_TASK)
        return 1
    p, points = select_bad_process(mem, totalpages, mpol_mask, force_kill)
    if p == -1:
        dump_header(mem, -1, gfp_mask, order, mpol_mask, TRACE_BY_OUT_OF_MEMORY)
        log_store(mem, KLOG_PANIC, PANIC_NO_KILLABLE, current, mem.owners[current, OW_PID],
                  mem.cfg[CFG_CPU] * 256 + mem.report_buf[RB_OOM_PATH] * 16
                  + TRACE_BY_OUT_OF_MEMORY, 0, 0)
        return 0
    if p == OOM_SCAN_ABORTED:
        return 0
    oom_kill_process(mem, p, gfp_mask, order, points, totalpages, nodemask,
                     OOM_MSG_OUT_OF_MEMORY)
    return 1


@kernel
def pagefault_out_of_memory(mem):
    """Kernel: mm/oom_kill.c pagefault_out_of_memory(): a fault that got VM_FAULT_OOM kills
    a task unless another OOM kill holds the first node's GFP_KERNEL zonelist (no memcg OOM
    to synchronize with).  Returns what out_of_memory returned, 0 when locked out."""
    zonelist = node_zonelist(mem, 0, GFP_KERNEL)
    if not try_set_zonelist_oom(mem, zonelist, GFP_KERNEL):
        return 0
    ret = out_of_memory(mem, -1, 0, 0, -1, False)
    clear_zonelist_oom(mem, zonelist, GFP_KERNEL)
    return ret


# ---- the driver's side (plain Python) ----------------------------------------------------------

def reap_oom_victims(k) -> list[str]:
    """After an operation (the running task returns to user space): a task the OOM killer
    chose while it was running dies now (do_exit), and every dead task is reaped
    (release_task): its row is given back and its name forgotten.  Returns the names, in
    row order.  Render the kernel log first: the report names the victims."""
    mem = k.mem
    reaped = []
    for name, row in sorted(k.owner_ids.items(), key=lambda item: item[1]):
        if int(mem.owners[row, OW_KIND]) != OWNER_TASK:
            continue
        if int(mem.owners[row, OW_TIF]) & TIF_MEMDIE_BIT and \
                not int(mem.owners[row, OW_FLAGS]) & PF_EXITPIDONE:
            k.fn.do_exit(mem, row)
        if int(mem.owners[row, OW_FLAGS]) & PF_EXITPIDONE:
            k.fn.release_task(mem, row)
            del k.owner_ids[name]
            reaped.append(name)
    return reaped
