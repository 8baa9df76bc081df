"""What the kernel prints about memory: show_mem(), show_free_areas(), warn_alloc_failed(), and
the kernel log that carries them, as numbers, from compiled code to text.

Kernel: mm/page_alloc.c show_free_areas(), show_migration_types(), warn_alloc_failed(),
lib/show_mem.c show_mem(), arch/arm/mm/init.c show_mem(), mm/swap_state.c
show_swap_cache_info(), mm/hugetlb.c hugetlb_show_meminfo(), lib/ratelimit.c ___ratelimit(),
kernel/printk/printk.c log_store() and dump_stack_print_info() (v3.13).

Compiled code cannot print, so kmemsim's printk has two halves (docs/oom.md):

* Kernel functions (both modes) store *records* in ``mem.klog`` (log_store): a KLOG_* type,
  jiffies and six numbers, one record per group of printk lines.  ``mem.cfg[CFG_KLOG_NEXT]``
  counts records; record ``seq`` lives in row ``seq % KLOG_SIZE``, so the newest 256 survive.
  What a record cannot hold in six numbers (the zones of show_free_areas, the task table of
  dump_tasks) goes into one *snapshot*, ``mem.report_buf`` (layout: the RB_* / ZB_* / TB_*
  constants below), tagged with the number of the record it belongs to.
* Python (:func:`render_klog`) turns records into the kernel's text, line for line, with the
  names of tasks from ``k.owner_ids``.  A record whose snapshot was replaced by a later one
  (two reports within one operation) says so in one line instead of its table.

Simplifications, each named where it happens: no cpusets (SHOW_MEM_FILTER_NODES never hides
a node), no memory hotplug, no huge pages reserved, no swap-cache statistics beyond the page
count, and the call traces print the chain of kmemsim functions without addresses.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from kmemsim.jit import kernel
from kmemsim.mm.mmzone import PF_MEMALLOC, PF_EXITING, TIF_MEMDIE_BIT  # task flags
from kmemsim.mm.gfp import __GFP_NOMEMALLOC, __GFP_NOWARN, __GFP_WAIT
from kmemsim.mm.mmzone import CFG_CPU, CFG_CURRENT, CFG_HIGHMEM_IDX, CFG_HZ, CFG_JIFFIES, \
    CFG_KLOG_NEXT, CFG_MAX_NR_ZONES, CFG_MIGRATE_TYPES, CFG_NR_PFNS, CFG_NR_SWAP_PAGES, \
    CFG_REPORT_SEQ, CFG_TOTAL_SWAP_PAGES, KLOG_FIELDS, KLOG_SIZE, MAX_ORDER, \
    MIGRATE_TYPES_MAX, NR_VM_ZONE_STAT_ITEMS, OW_FLAGS, OW_PID, OW_TIF, \
    PCP_BATCH, PCP_COUNT, PCP_HIGH, ZONE_STAT_ITEMS, free_list
from kmemsim.mm.page_flags import PG_RESERVED_MASK, PG_VALID_MASK, PG_slab, PG_swapcache

__all__ = [
    "KLOG_OOM_INVOKED", "KLOG_MEM_INFO", "KLOG_SHOW_FREE_AREAS", "KLOG_SHOW_MEM_PAGES",
    "KLOG_SHOW_MEM_ARM", "KLOG_DUMP_TASKS", "KLOG_OOM_KILL", "KLOG_OOM_KILLED", "KLOG_PANIC",
    "KLOG_ALLOC_FAIL", "KLOG_RATELIMIT", "SHOW_MEM_FILTER_NODES", "SHOW_MEM_FILTER_PAGE_COUNT",
    "log_store", "___ratelimit", "total_swapcache_pages", "show_free_areas", "show_mem",
    "warn_alloc_failed", "render_klog", "show_free_areas_text", "OP_CALLERS", "op_callers",
]

# ---- record types of Mem.klog: (type, jiffies, f0..f5) -----------------------------------------
KLOG_OOM_INVOKED = 1      # dump_header: current, pid, gfp_mask, order, oom_score_adj, trace
KLOG_MEM_INFO = 2         # show_mem's first line: filter
KLOG_SHOW_FREE_AREAS = 3  # show_free_areas: filter (the zones are in the snapshot)
KLOG_SHOW_MEM_PAGES = 4   # lib/show_mem.c: pages RAM, HighMem/MovableOnly, reserved
KLOG_SHOW_MEM_ARM = 5     # arch/arm/mm/init.c: RAM, free, reserved, slab, shared, swap cached
KLOG_DUMP_TASKS = 6       # dump_tasks: nodemask (the rows are in the snapshot)
KLOG_OOM_KILL = 7         # "Kill process": message, victim, pid, points
KLOG_OOM_KILLED = 8       # "Killed process": victim, pid, total_vm, anon rss, file rss
KLOG_PANIC = 9            # panic(): reason, current, pid, trace
KLOG_ALLOC_FAIL = 10      # warn_alloc_failed: current, pid, order, gfp_mask, cpu, filter
KLOG_RATELIMIT = 11       # ___ratelimit's "callbacks suppressed": which state, missed

SHOW_MEM_FILTER_NODES = 0x0001        # include/linux/mm.h
SHOW_MEM_FILTER_PAGE_COUNT = 0x0002

# The trace field of KLOG_OOM_INVOKED and KLOG_PANIC: cpu * 256 + path * 16 + caller.
TRACE_PATH_ALLOC = 0      # out_of_memory called by the allocator (__alloc_pages_may_oom)
TRACE_PATH_PAGEFAULT = 1  # ... by pagefault_out_of_memory (no zonelist)
TRACE_BY_OOM_KILL_PROCESS = 0   # who called dump_header / panic
TRACE_BY_OUT_OF_MEMORY = 1
TRACE_BY_CHECK_PANIC_ON_OOM = 2

# Ratelimit states (static DEFINE_RATELIMIT_STATE of the kernel) and what they print as.
RS_NOPAGE = 0             # mm/page_alloc.c nopage_rs, used by warn_alloc_failed
RS_OOM = 1                # mm/oom_kill.c oom_rs, used by oom_kill_process
RS_FUNC = ("warn_alloc_failed", "oom_kill_process")
DEFAULT_RATELIMIT_INTERVAL_HZ = 5     # include/linux/ratelimit.h: 5 * HZ
DEFAULT_RATELIMIT_BURST = 10

# ---- Mem.report_buf layout ---------------------------------------------------------------------
# Slots 0..15 are kmemsim's persistent state for these functions (not part of a snapshot).
RB_RS = 0                 # ratelimit state s: RB_RS + 4 * s + (RS_BEGIN, RS_PRINTED, RS_MISSED)
RS_BEGIN = 0              # begin + 1 (0: not begun)
RS_PRINTED = 1
RS_MISSED = 2
RB_OOM_PATH = 8           # TRACE_PATH_* of the out_of_memory() call under way
# The snapshot's header.  Its free-area part belongs to record mem.cfg[CFG_REPORT_SEQ].
RB_NR_ZONES = 16
RB_NR_CPUS = 17
RB_TOTAL_SWAP = 18        # total_swap_pages
RB_NR_SWAP = 19           # get_nr_swap_pages()
RB_SWAPCACHE = 20         # total_swapcache_pages()
RB_TASKS_SEQ = 24         # 1 + the record the task table belongs to (0: none)
RB_NR_TASKS = 25
RB_ZONES = 1024           # the zone blocks, one per zone id, ZB_STRIDE(nr_cpus) apart
# A zone block
ZB_VM_STAT = 0                                    # vm_stat[item], every item
ZB_NR_FREE = NR_VM_ZONE_STAT_ITEMS                # free_area[order].nr_free
ZB_LIST_LEN = ZB_NR_FREE + MAX_ORDER              # blocks on free_list[mt] of each order
ZB_MISC = ZB_LIST_LEN + MAX_ORDER * MIGRATE_TYPES_MAX
ZB_WMARK = ZB_MISC                                # min, low, high
ZB_PRESENT = ZB_MISC + 3
ZB_MANAGED = ZB_MISC + 4
ZB_PAGES_SCANNED = ZB_MISC + 5
ZB_LOWMEM_RESERVE = ZB_MISC + 6                   # lowmem_reserve[MAX_NR_ZONES], up to 5
ZB_PCP = ZB_MISC + 32                             # per CPU: count, high, batch (4 slots)
# A task row of dump_tasks (16 slots each, after the zone blocks)
TB_ROW, TB_PID, TB_UID, TB_TOTAL_VM, TB_RSS, TB_NR_PTES, TB_SWAPENTS, TB_ADJ = range(8)
TB_STRIDE = 16


def zb_stride(nr_cpus: int) -> int:
    """Slots of one zone block (mmzone.report_buf_size's per-zone term)."""
    return ZB_PCP + 4 * nr_cpus


_ITEM = ZONE_STAT_ITEMS.index
NR_FREE_PAGES = _ITEM("nr_free_pages")
NR_INACTIVE_ANON = _ITEM("nr_inactive_anon")
NR_ACTIVE_ANON = _ITEM("nr_active_anon")
NR_INACTIVE_FILE = _ITEM("nr_inactive_file")
NR_ACTIVE_FILE = _ITEM("nr_active_file")


# ---- the log ---------------------------------------------------------------------------------

@kernel
def log_store(mem, type, f0, f1, f2, f3, f4, f5):
    """Kernel: kernel/printk/printk.c log_store(): one record into the log ring, here a
    KLOG_* type, the time (jiffies) and six numbers.  Returns the record's sequence number."""
    seq = mem.cfg[CFG_KLOG_NEXT]
    row = seq % KLOG_SIZE
    mem.klog[row, 0] = type
    mem.klog[row, 1] = mem.cfg[CFG_JIFFIES]
    mem.klog[row, 2] = f0
    mem.klog[row, 3] = f1
    mem.klog[row, 4] = f2
    mem.klog[row, 5] = f3
    mem.klog[row, 6] = f4
    mem.klog[row, 7] = f5
    mem.cfg[CFG_KLOG_NEXT] = seq + 1
    return seq


@kernel
def ___ratelimit(mem, rs, func):
    """Kernel: lib/ratelimit.c ___ratelimit(): at most DEFAULT_RATELIMIT_BURST (10) calls per
    DEFAULT_RATELIMIT_INTERVAL (5 * HZ jiffies) of state ``rs`` (RS_*) go ahead; when a new
    interval starts after suppressions, a "callbacks suppressed" record is logged first.
    Time is kmemsim's jiffies.  They start at 0, not at 3.13's INITIAL_JIFFIES, so the
    state keeps begin + 1 (0 still meaning "no interval yet").  True: go ahead."""
    base = RB_RS + 4 * rs
    if mem.report_buf[base + RS_BEGIN] == 0:
        mem.report_buf[base + RS_BEGIN] = mem.cfg[CFG_JIFFIES] + 1
    if mem.report_buf[base + RS_BEGIN] - 1 + DEFAULT_RATELIMIT_INTERVAL_HZ * mem.cfg[CFG_HZ] \
            < mem.cfg[CFG_JIFFIES]:
        if mem.report_buf[base + RS_MISSED]:
            log_store(mem, KLOG_RATELIMIT, func, mem.report_buf[base + RS_MISSED], 0, 0, 0, 0)
        mem.report_buf[base + RS_BEGIN] = 0
        mem.report_buf[base + RS_PRINTED] = 0
        mem.report_buf[base + RS_MISSED] = 0
    if mem.report_buf[base + RS_PRINTED] < DEFAULT_RATELIMIT_BURST:
        mem.report_buf[base + RS_PRINTED] += 1
        return True
    mem.report_buf[base + RS_MISSED] += 1
    return False


# ---- show_mem / show_free_areas: the snapshot --------------------------------------------------

def _total_swapcache_pages_loop(mem):
    n = 0
    for pfn in range(mem.cfg[CFG_NR_PFNS]):
        if (mem.flags[pfn] >> PG_swapcache) & 1:
            n += 1
    return n


@kernel(compiled=_total_swapcache_pages_loop)
def total_swapcache_pages(mem):
    """Kernel: mm/swap_state.c total_swapcache_pages(): the pages in the swap cache.  kmemsim
    keeps no count of them, so it counts the PG_swapcache pages (a walk over the pfns)."""
    return np.int64(np.count_nonzero((mem.flags >> PG_swapcache) & 1))


@kernel
def show_free_areas(mem, filter):
    """Kernel: mm/page_alloc.c show_free_areas(): what it prints, taken as a snapshot into
    mem.report_buf for the record it logs (mem.cfg[CFG_REPORT_SEQ]): every zone's counters,
    watermarks, page counts, reserves and per-CPU lists, and of each free area the block
    count and the length of each migratetype's list (the kernel only asks whether a list is
    empty); the swap totals of show_swap_cache_info().  No cpusets in kmemsim, so
    SHOW_MEM_FILTER_NODES hides no node.  Returns the record's number."""
    seq = log_store(mem, KLOG_SHOW_FREE_AREAS, filter, 0, 0, 0, 0, 0)
    buf = mem.report_buf
    nz = mem.managed_pages.shape[0]
    ncpus = mem.pcp.shape[0]
    stride = ZB_PCP + 4 * ncpus
    buf[RB_NR_ZONES] = nz
    buf[RB_NR_CPUS] = ncpus
    buf[RB_TOTAL_SWAP] = mem.cfg[CFG_TOTAL_SWAP_PAGES]
    buf[RB_NR_SWAP] = mem.cfg[CFG_NR_SWAP_PAGES]
    buf[RB_SWAPCACHE] = total_swapcache_pages(mem)
    for zone in range(nz):
        zb = RB_ZONES + zone * stride
        for i in range(stride):
            buf[zb + i] = 0
        for item in range(NR_VM_ZONE_STAT_ITEMS):
            buf[zb + ZB_VM_STAT + item] = mem.vm_stat[zone, item]
        for w in range(3):
            buf[zb + ZB_WMARK + w] = mem.watermark[zone, w]
        buf[zb + ZB_PRESENT] = mem.present_pages[zone]
        buf[zb + ZB_MANAGED] = mem.managed_pages[zone]
        buf[zb + ZB_PAGES_SCANNED] = mem.pages_scanned[zone]
        for j in range(mem.cfg[CFG_MAX_NR_ZONES]):
            buf[zb + ZB_LOWMEM_RESERVE + j] = mem.lowmem_reserve[zone, j]
        for cpu in range(ncpus):
            buf[zb + ZB_PCP + 4 * cpu + 0] = mem.pcp[cpu, zone, PCP_COUNT]
            buf[zb + ZB_PCP + 4 * cpu + 1] = mem.pcp[cpu, zone, PCP_HIGH]
            buf[zb + ZB_PCP + 4 * cpu + 2] = mem.pcp[cpu, zone, PCP_BATCH]
        if mem.present_pages[zone] == 0:
            continue
        for order in range(MAX_ORDER):
            buf[zb + ZB_NR_FREE + order] = mem.nr_free[zone, order]
            for mt in range(mem.cfg[CFG_MIGRATE_TYPES]):
                head = free_list(mem, zone, order, mt)
                n = 0
                entry = np.int64(mem.lru_next[head])
                while entry != head:
                    n += 1
                    entry = np.int64(mem.lru_next[entry])
                buf[zb + ZB_LIST_LEN + order * MIGRATE_TYPES_MAX + mt] = n
    mem.cfg[CFG_REPORT_SEQ] = seq
    return seq


@kernel
def show_mem(mem, filter):
    """Kernel: lib/show_mem.c show_mem() and arch/arm/mm/init.c show_mem(): "Mem-Info:",
    show_free_areas(), then (unless SHOW_MEM_FILTER_PAGE_COUNT) the page counts.  Both
    architectures' counts are logged (the renderer prints the machine's): lib/show_mem.c's
    present pages, highmem pages and reserved pages (3.13 assigns, not adds, the reserved
    count: it is the last populated zone's); on 32-bit ARM, kmemsim's only CONFIG_HIGHMEM
    architecture, also the walk over the memory banks (every valid pfn) counting reserved,
    swap-cache, slab, free (no reference) and shared (references beyond the first) pages."""
    log_store(mem, KLOG_MEM_INFO, filter, 0, 0, 0, 0, 0)
    show_free_areas(mem, filter)
    if filter & SHOW_MEM_FILTER_PAGE_COUNT:
        return
    total = 0
    reserved = 0
    highmem = 0
    for zone in range(mem.managed_pages.shape[0]):
        if mem.present_pages[zone] == 0:
            continue
        total += mem.present_pages[zone]
        reserved = mem.present_pages[zone] - mem.managed_pages[zone]
        if zone % mem.cfg[CFG_MAX_NR_ZONES] == mem.cfg[CFG_HIGHMEM_IDX]:
            highmem += mem.present_pages[zone]
    log_store(mem, KLOG_SHOW_MEM_PAGES, total, highmem, reserved, 0, 0, 0)
    if mem.cfg[CFG_HIGHMEM_IDX] < 0:
        return
    total = 0
    free = 0
    reserved = 0
    slab = 0
    shared = 0
    cached = 0
    for pfn in range(mem.cfg[CFG_NR_PFNS]):
        flags = mem.flags[pfn]
        if (flags & PG_VALID_MASK) == 0:
            continue
        total += 1
        if flags & PG_RESERVED_MASK:
            reserved += 1
        elif (flags >> PG_swapcache) & 1:
            cached += 1
        elif (flags >> PG_slab) & 1:
            slab += 1
        elif mem.count[pfn] == 0:
            free += 1
        else:
            shared += np.int64(mem.count[pfn]) - 1
    log_store(mem, KLOG_SHOW_MEM_ARM, total, free, reserved, slab, shared, cached)


@kernel
def warn_alloc_failed(mem, gfp_mask, order):
    """Kernel: mm/page_alloc.c warn_alloc_failed(): unless __GFP_NOWARN or the nopage_rs
    ratelimit (10 reports per 5 s of jiffies) says no, log "page allocation failure" with a
    stack dump and show_mem(), whose page counts are left out for an allocation that cannot
    sleep.  The kernel's optional message (fmt) is NULL from the slow path, kmemsim's only
    caller, so it is left out.  Returns the record's number, or -1 when silent."""
    if gfp_mask & __GFP_NOWARN:
        return np.int64(-1)
    if not ___ratelimit(mem, RS_NOPAGE, RS_NOPAGE):
        return np.int64(-1)
    filter = SHOW_MEM_FILTER_NODES
    if (gfp_mask & __GFP_WAIT) == 0:
        filter |= SHOW_MEM_FILTER_PAGE_COUNT
    current = mem.cfg[CFG_CURRENT]
    if (gfp_mask & __GFP_NOMEMALLOC) == 0:
        if (mem.owners[current, OW_TIF] & TIF_MEMDIE_BIT) != 0 or \
                (mem.owners[current, OW_FLAGS] & (PF_MEMALLOC | PF_EXITING)) != 0:
            filter &= ~SHOW_MEM_FILTER_NODES
    if (gfp_mask & __GFP_WAIT) == 0:
        filter &= ~SHOW_MEM_FILTER_NODES
    seq = log_store(mem, KLOG_ALLOC_FAIL, current, mem.owners[current, OW_PID], order,
                    gfp_mask, mem.cfg[CFG_CPU], filter)
    show_mem(mem, filter)
    return seq


# ---- rendering (plain Python) ------------------------------------------------------------------

UTS_RELEASE = "3.13.11"
UTS_VERSION = "#1"                # the build number of kmemsim's "image"
THREAD_SIZE = 8192                # x86_64 and ARM in 3.13 (THREAD_SIZE_ORDER 1)
DEFAULT_COMM = "kmemsim"          # owner row 0, the default task context
TASK_COMM_LEN = 16
# dump_stack_set_arch_desc() of each architecture: x86 from DMI (kmemsim's x86_64 machines
# are the qemu PCs of the reference runs); 3.13's ARM and kmemsim's generic machine set none.
HARDWARE_NAME = {"x86_64": "QEMU Standard PC (i440FX + PIIX, 1996), "
                           "BIOS 1.16.2-debian-1.16.2-1 04/01/2014"}
OOM_MESSAGES = ("Out of memory", "Out of memory (oom_kill_allocating_task)")
PANIC_MESSAGES = ("Out of memory and no killable processes...",
                  "Out of memory: compulsory panic_on_oom is enabled",
                  "Out of memory: system-wide panic_on_oom is enabled")
# The frames of a 3.13 build's stack dump above __alloc_pages_nodemask (or above
# pagefault_out_of_memory) for each Kernel operation, innermost first, per architecture: what
# the driver of an operation passes as render_klog(callers=).  gcc inlines the static helpers
# (do_anonymous_page into handle_mm_fault, alloc_pages and alloc_pages_node into their callers;
# without NUMA also alloc_pages_vma, __page_cache_alloc and shmem_alloc_page), and the stack
# dump leaves them out.  The x86_64 tmpfs write is the real 3.13.11 128 MiB OOM report's
# chain (its unreliable "?" frames left out); kmemsim's files have no filesystem, so a regular
# file's write shows no FS_write_begin between grab_cache_page_write_begin and
# generic_perform_write.  ``alloc`` (kmemsim's own operation) calls __alloc_pages_nodemask.
_SYSCALL_WRITE = ("generic_perform_write", "__generic_file_aio_write", "generic_file_aio_write",
                  "do_sync_write", "vfs_write", "SyS_write")
_SYSCALL_READ = ("generic_file_aio_read", "do_sync_read", "vfs_read", "SyS_read")
OP_CALLERS = {
    "x86_64": {
        "alloc": (),
        "fault": ("alloc_pages_vma", "handle_mm_fault", "__do_page_fault", "do_page_fault",
                  "page_fault"),
        "read": ("alloc_pages_current", "__page_cache_alloc", *_SYSCALL_READ,
                 "system_call_fastpath"),
        "write": ("alloc_pages_current", "__page_cache_alloc", "grab_cache_page_write_begin",
                  *_SYSCALL_WRITE, "system_call_fastpath"),
        "write_shmem": ("alloc_pages_vma", "shmem_alloc_page", "shmem_getpage_gfp",
                        "shmem_write_begin", *_SYSCALL_WRITE, "system_call_fastpath"),
    },
    "arm": {
        "alloc": (),
        "fault": ("handle_mm_fault", "do_page_fault", "do_DataAbort", "__dabt_usr"),
        "read": (*_SYSCALL_READ, "ret_fast_syscall"),
        "write": ("grab_cache_page_write_begin", *_SYSCALL_WRITE, "ret_fast_syscall"),
        "write_shmem": ("shmem_getpage_gfp", "shmem_write_begin", *_SYSCALL_WRITE,
                        "ret_fast_syscall"),
    },
}
OP_CALLERS["generic"] = OP_CALLERS["x86_64"]
# the clone gcc made of dump_header on x86_64 (its symbol in the real report)
DUMP_HEADER_SYMBOL = {"x86_64": "dump_header.constprop.0"}


def op_callers(k, op: str) -> tuple:
    """The frames above __alloc_pages_nodemask of Kernel operation ``op`` on ``k``'s machine."""
    return OP_CALLERS[k.machine.arch].get(op, ())


# __alloc_pages_slowpath and __alloc_pages_may_oom are static and inlined into
# __alloc_pages_nodemask: the stack dump shows only the latter.
_PATH_FRAMES = {TRACE_PATH_ALLOC: ("__alloc_pages_nodemask",),
                TRACE_PATH_PAGEFAULT: ("pagefault_out_of_memory",)}
_CALLER_FRAMES = {TRACE_BY_OOM_KILL_PROCESS: ("oom_kill_process", "out_of_memory"),
                  TRACE_BY_OUT_OF_MEMORY: ("out_of_memory",),
                  TRACE_BY_CHECK_PANIC_ON_OOM: ("check_panic_on_oom", "out_of_memory")}


def K(pages: int) -> int:
    """Pages to kB (the kernel's K() macro)."""
    return int(pages) << 2


def _comm(k, row: int) -> str:
    """task->comm of owner ``row``: its name (15 characters at most, TASK_COMM_LEN)."""
    if row == 0:
        return DEFAULT_COMM
    names = [name for name, r in k.owner_ids.items() if r == row]
    name = names[-1] if names else f"task{row}"
    return name[:TASK_COMM_LEN - 1]


def _nodelist(nids: list[int]) -> str:
    """nodelist_scnprintf(): "0", "0-1", "0,2-3"."""
    out, i = [], 0
    while i < len(nids):
        j = i
        while j + 1 < len(nids) and nids[j + 1] == nids[j] + 1:
            j += 1
        out.append(str(nids[i]) if i == j else f"{nids[i]}-{nids[j]}")
        i = j + 1
    return ",".join(out)


def dump_stack_lines(k, cpu: int, row: int, pid: int, frames: Sequence[str]) -> list[str]:
    """Kernel: lib/dump_stack.c dump_stack(), kernel/printk/printk.c dump_stack_print_info()
    and the architecture's show_stack().  The raw stack words and the frames' addresses and
    offsets are kmemsim's to lack: x86 prints "Call Trace:" and one " name" per frame, ARM
    (unwind_backtrace) one "(name) from (caller)" per frame."""
    lines = [f"CPU: {cpu} PID: {pid} Comm: {_comm(k, row)} Not tainted {UTS_RELEASE} "
             f"{UTS_VERSION}"]
    hw = HARDWARE_NAME.get(k.machine.arch)
    if hw:
        lines.append(f"Hardware name: {hw}")
    if k.machine.arch == "arm":
        chain = ["unwind_backtrace", "show_stack", *frames]
        lines += [f"({a}) from ({b})" for a, b in zip(chain, chain[1:])]
    else:
        lines.append("Call Trace:")
        lines += [f" {name}" for name in frames]
    return lines


def show_migration_types(k, types: int) -> str:
    """Kernel: mm/page_alloc.c show_migration_types(): the letters of the non-empty lists."""
    letters = "UEMR" + ("C" if k.machine.cma else "") + \
        ("I" if k.machine.memory_isolation else "")
    return "(" + "".join(c for i, c in enumerate(letters) if types & (1 << i)) + ") "


class _Snapshot:
    """Read access to a report_buf snapshot."""

    def __init__(self, buf: np.ndarray):
        self.buf = buf
        self.nz = int(buf[RB_NR_ZONES])
        self.ncpus = int(buf[RB_NR_CPUS])
        self.stride = zb_stride(self.ncpus)

    def zone(self, zone: int, slot: int) -> int:
        return int(self.buf[RB_ZONES + zone * self.stride + slot])

    def zone_page_state(self, zone: int, item: int) -> int:
        return max(0, self.zone(zone, ZB_VM_STAT + item))

    def global_page_state(self, item: int) -> int:
        return max(0, sum(self.zone(z, ZB_VM_STAT + item) for z in range(self.nz)))

    def zone_reclaimable(self, zone: int) -> bool:
        """mm/vmscan.c zone_reclaimable() on the snapshot: fewer pages scanned than six
        times the file LRU pages (and the anonymous ones while swap space is left)."""
        zps = self.zone_page_state
        nr = zps(zone, NR_ACTIVE_FILE) + zps(zone, NR_INACTIVE_FILE)
        if int(self.buf[RB_NR_SWAP]) > 0:
            nr += zps(zone, NR_ACTIVE_ANON) + zps(zone, NR_INACTIVE_ANON)
        return self.zone(zone, ZB_PAGES_SCANNED) < nr * 6

    def tasks(self) -> list[list[int]]:
        base = RB_ZONES + self.nz * self.stride
        return [[int(x) for x in self.buf[base + i * TB_STRIDE: base + i * TB_STRIDE + 8]]
                for i in range(int(self.buf[RB_NR_TASKS]))]


def _populated_zones(snap: _Snapshot):
    for zone in range(snap.nz):
        if snap.zone(zone, ZB_PRESENT):
            yield zone


def _show_node(k, zone: int) -> str:
    """show_node(): "Node N " with CONFIG_NUMA."""
    return f"Node {zone // k.machine.max_nr_zones} " if k.machine.numa else ""


def show_free_areas_lines(k, snap: _Snapshot) -> list[str]:
    """The text of mm/page_alloc.c show_free_areas() (and of what it calls:
    hugetlb_show_meminfo, show_swap_cache_info) from a snapshot."""
    item = lambda name: snap.global_page_state(_ITEM(name))          # noqa: E731
    lines = []
    for zone in _populated_zones(snap):
        lines.append(f"{_show_node(k, zone)}{k.zone_name(zone)} per-cpu:")
        for cpu in range(snap.ncpus):
            count, high, batch = (snap.zone(zone, ZB_PCP + 4 * cpu + i) for i in range(3))
            lines.append(f"CPU {cpu:4d}: hi:{high:5d}, btch:{batch:4d} usd:{count:4d}")
    lines += [
        f"active_anon:{item('nr_active_anon')} inactive_anon:{item('nr_inactive_anon')} "
        f"isolated_anon:{item('nr_isolated_anon')}",
        f" active_file:{item('nr_active_file')} inactive_file:{item('nr_inactive_file')} "
        f"isolated_file:{item('nr_isolated_file')}",
        f" unevictable:{item('nr_unevictable')} dirty:{item('nr_dirty')} "
        f"writeback:{item('nr_writeback')} unstable:{item('nr_unstable')}",
        f" free:{item('nr_free_pages')} slab_reclaimable:{item('nr_slab_reclaimable')} "
        f"slab_unreclaimable:{item('nr_slab_unreclaimable')}",
        f" mapped:{item('nr_mapped')} shmem:{item('nr_shmem')} "
        f"pagetables:{item('nr_page_table_pages')} bounce:{item('nr_bounce')}",
        f" free_cma:{item('nr_free_cma')}",
    ]
    for zone in _populated_zones(snap):
        zps = lambda name: snap.zone_page_state(zone, _ITEM(name))    # noqa: E731
        fields = [
            ("free", K(zps("nr_free_pages"))),
            ("min", K(snap.zone(zone, ZB_WMARK))),
            ("low", K(snap.zone(zone, ZB_WMARK + 1))),
            ("high", K(snap.zone(zone, ZB_WMARK + 2))),
            ("active_anon", K(zps("nr_active_anon"))),
            ("inactive_anon", K(zps("nr_inactive_anon"))),
            ("active_file", K(zps("nr_active_file"))),
            ("inactive_file", K(zps("nr_inactive_file"))),
            ("unevictable", K(zps("nr_unevictable"))),
            ("isolated(anon)", K(zps("nr_isolated_anon"))),
            ("isolated(file)", K(zps("nr_isolated_file"))),
            ("present", K(snap.zone(zone, ZB_PRESENT))),
            ("managed", K(snap.zone(zone, ZB_MANAGED))),
            ("mlocked", K(zps("nr_mlock"))),
            ("dirty", K(zps("nr_dirty"))),
            ("writeback", K(zps("nr_writeback"))),
            ("mapped", K(zps("nr_mapped"))),
            ("shmem", K(zps("nr_shmem"))),
            ("slab_reclaimable", K(zps("nr_slab_reclaimable"))),
            ("slab_unreclaimable", K(zps("nr_slab_unreclaimable"))),
            ("kernel_stack", zps("nr_kernel_stack") * THREAD_SIZE // 1024),
            ("pagetables", K(zps("nr_page_table_pages"))),
            ("unstable", K(zps("nr_unstable"))),
            ("bounce", K(zps("nr_bounce"))),
            ("free_cma", K(zps("nr_free_cma"))),
            ("writeback_tmp", K(zps("nr_writeback_temp"))),
        ]
        text = " ".join(f"{name}:{value}kB" for name, value in fields)
        unreclaimable = "no" if snap.zone_reclaimable(zone) else "yes"
        lines.append(f"{_show_node(k, zone)}{k.zone_name(zone)} {text} "
                     f"pages_scanned:{snap.zone(zone, ZB_PAGES_SCANNED)} "
                     f"all_unreclaimable? {unreclaimable}")
        reserve = "".join(f" {snap.zone(zone, ZB_LOWMEM_RESERVE + j)}"
                          for j in range(k.machine.max_nr_zones))
        lines.append(f"lowmem_reserve[]:{reserve}")
    for zone in _populated_zones(snap):
        text, total = f"{_show_node(k, zone)}{k.zone_name(zone)}: ", 0
        for order in range(MAX_ORDER):
            nr = snap.zone(zone, ZB_NR_FREE + order)
            total += nr << order
            text += f"{nr}*{4 << order}kB "
            if nr:
                types = sum(1 << mt for mt in range(MIGRATE_TYPES_MAX)
                            if snap.zone(zone, ZB_LIST_LEN + order * MIGRATE_TYPES_MAX + mt))
                text += show_migration_types(k, types)
        lines.append(text + f"= {K(total)}kB")
    if k.machine.hugetlb:                    # hugetlb_show_meminfo(): nothing reserved
        for node in k.machine.nodes:
            lines.append(f"Node {node.nid} hugepages_total=0 hugepages_free=0 "
                         f"hugepages_surp=0 hugepages_size={4 << k.machine.pageblock_order}kB")
    lines.append(f"{item('nr_file_pages')} total pagecache pages")
    lines += [f"{int(snap.buf[RB_SWAPCACHE])} pages in swap cache",     # show_swap_cache_info
              "Swap cache stats: add 0, delete 0, find 0/0",
              f"Free swap  = {K(int(snap.buf[RB_NR_SWAP]))}kB",
              f"Total swap = {K(int(snap.buf[RB_TOTAL_SWAP]))}kB"]
    return lines


def dump_tasks_lines(k, snap: _Snapshot) -> list[str]:
    """mm/oom_kill.c dump_tasks()'s table from the snapshot."""
    lines = ["[ pid ]   uid  tgid total_vm      rss nr_ptes swapents oom_score_adj name"]
    for row, pid, uid, total_vm, rss, nr_ptes, swapents, adj in snap.tasks():
        lines.append(f"[{pid:5d}] {uid:5d} {pid:5d} {total_vm:8d} {rss:8d} {nr_ptes:7d} "
                     f"{swapents:8d}         {adj:5d} {_comm(k, row)}")
    return lines


def _trace(trace: int, callers: Sequence[str], first: Sequence[str]) -> tuple[int, list]:
    cpu, path, by = trace >> 8, (trace >> 4) & 0xF, trace & 0xF
    frames = [*first, *_CALLER_FRAMES[by], *_PATH_FRAMES[path], *callers]
    return cpu, frames


# One renderer per record type: (k, mem, seq, fields, callers) -> lines.

def _oom_invoked(k, mem, seq, f, callers):
    """mm/oom_kill.c dump_header()'s own lines and cpuset_print_task_mems_allowed()."""
    row, pid, gfp_mask, order, adj, trace = f
    comm = _comm(k, row)
    lines = [f"{comm} invoked oom-killer: gfp_mask=0x{gfp_mask:x}, order={order}, "
             f"oom_score_adj={adj}"]
    if k.machine.arch != "arm":          # CONFIG_CPUSETS (x86_64_defconfig; not exynos)
        lines.append(f"{comm} cpuset=/ mems_allowed="
                     f"{_nodelist([n.nid for n in k.machine.nodes])}")
    header = DUMP_HEADER_SYMBOL.get(k.machine.arch, "dump_header")
    cpu, frames = _trace(trace, callers, ("dump_stack", header))
    return lines + dump_stack_lines(k, cpu, row, pid, frames)


def _panic(k, mem, seq, f, callers):
    """kernel/panic.c panic(): the message (its own newline, then printk's) and the stack."""
    reason, row, pid, trace = f[:4]
    cpu, frames = _trace(trace, callers, ("dump_stack", "panic"))
    return [f"Kernel panic - not syncing: {PANIC_MESSAGES[reason]}", ""] + \
        dump_stack_lines(k, cpu, row, pid, frames)


def _alloc_fail(k, mem, seq, f, callers):
    row, pid, order, gfp_mask, cpu, _ = f
    frames = ["dump_stack", "warn_alloc_failed", "__alloc_pages_nodemask", *callers]
    return [f"{_comm(k, row)}: page allocation failure: order:{order}, "
            f"mode:0x{gfp_mask:x}"] + dump_stack_lines(k, cpu, row, pid, frames)


def _mem_info(k, mem, seq, f, callers):
    return ["Mem-info:" if k.machine.arch == "arm" else "Mem-Info:"]


def _free_areas(k, mem, seq, f, callers):
    if int(mem.cfg[CFG_REPORT_SEQ]) != seq:
        return [f"kmemsim: show_free_areas of record {seq} not kept (a later report took "
                "the snapshot)"]
    return show_free_areas_lines(k, _Snapshot(mem.report_buf))


def _show_mem_pages(k, mem, seq, f, callers):
    if k.machine.arch == "arm":
        return []
    return [f"{f[0]} pages RAM", f"{f[1]} pages HighMem/MovableOnly", f"{f[2]} pages reserved"]


def _show_mem_arm(k, mem, seq, f, callers):
    if k.machine.arch != "arm":
        return []
    return [f"{f[0]} pages of RAM", f"{f[1]} free pages", f"{f[2]} reserved pages",
            f"{f[3]} slab pages", f"{f[4]} pages shared", f"{f[5]} pages swap cached"]


def _dump_tasks(k, mem, seq, f, callers):
    if int(mem.report_buf[RB_TASKS_SEQ]) != seq + 1:
        return [f"kmemsim: task table of record {seq} not kept (a later report took the "
                "snapshot)"]
    return dump_tasks_lines(k, _Snapshot(mem.report_buf))


def _oom_kill(k, mem, seq, f, callers):
    message, row, pid, points = f[:4]
    return [f"{OOM_MESSAGES[message]}: Kill process {pid} ({_comm(k, row)}) score {points} "
            "or sacrifice child"]


def _oom_killed(k, mem, seq, f, callers):
    row, pid, total_vm, anon, file = f[:5]
    return [f"Killed process {pid} ({_comm(k, row)}) total-vm:{K(total_vm)}kB, "
            f"anon-rss:{K(anon)}kB, file-rss:{K(file)}kB"]


def _ratelimit(k, mem, seq, f, callers):
    return [f"{RS_FUNC[f[0]]}: {f[1]} callbacks suppressed"]


RENDERERS = {
    KLOG_OOM_INVOKED: _oom_invoked, KLOG_MEM_INFO: _mem_info, KLOG_SHOW_FREE_AREAS: _free_areas,
    KLOG_SHOW_MEM_PAGES: _show_mem_pages, KLOG_SHOW_MEM_ARM: _show_mem_arm,
    KLOG_DUMP_TASKS: _dump_tasks, KLOG_OOM_KILL: _oom_kill, KLOG_OOM_KILLED: _oom_killed,
    KLOG_PANIC: _panic, KLOG_ALLOC_FAIL: _alloc_fail, KLOG_RATELIMIT: _ratelimit,
}


def _render_record(k, mem, seq: int, callers: Sequence[str]) -> list[str]:
    rec = [int(x) for x in mem.klog[seq % KLOG_SIZE]]
    render = RENDERERS.get(rec[0])
    if render is None:
        return [f"kmemsim: unknown kernel log record type {rec[0]} (record {seq})"]
    return render(k, mem, seq, rec[2:], callers)


def render_klog(k, start_seq: int, callers: Sequence[str] = ()) -> list[str]:
    """The text lines of kernel log records ``start_seq`` onwards (those still in the ring:
    older ones are gone, as in 3.13's printk, without a word).  ``callers`` are the frames
    above __alloc_pages_nodemask / pagefault_out_of_memory of the operation that ran
    (OP_CALLERS), for the call traces."""
    return _render(k, k.mem, start_seq, callers)


def _render(k, mem, start_seq: int, callers: Sequence[str]) -> list[str]:
    end = int(mem.cfg[CFG_KLOG_NEXT])
    lines: list[str] = []
    for seq in range(max(int(start_seq), end - KLOG_SIZE, 0), end):
        lines += _render_record(k, mem, seq, callers)
    return lines


def show_free_areas_text(k) -> str:
    """show_free_areas() of the live state, as text (one line each, newline-terminated).
    Runs on a private copy of the log and snapshot, so the machine's are untouched."""
    mem = k.mem._replace(cfg=k.mem.cfg.copy(), klog=np.zeros_like(k.mem.klog),
                         report_buf=np.zeros_like(k.mem.report_buf))
    seq = int(k.fn.show_free_areas(mem, 0))
    return "".join(line + "\n" for line in _render(k, mem, seq, ()))


assert KLOG_FIELDS == 8, "records are (type, jiffies, six fields)"
