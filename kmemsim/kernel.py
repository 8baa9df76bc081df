"""A booted machine: the object :func:`kmemsim.boot` returns.

The command line is a thin layer over this class: every script operation is a method
(:meth:`Kernel.alloc`, :meth:`Kernel.free`, :meth:`Kernel.show`, :meth:`Kernel.check`) and every
report is a string the CLI prints unchanged.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable

import numpy as np

from kmemsim import jit
from kmemsim.errors import KmemsimError
from kmemsim.machine import Machine
from kmemsim.mm import gfp as gfpmod
from kmemsim.mm.mmzone import CFG_CPU, CFG_GFP_ALLOWED_MASK, MAX_ORDER, Mem, migratetype_names

__all__ = ["Kernel", "Allocation", "SlabObject", "BOOT_STAGES", "boot", "report_names"]


def report_names() -> list[str]:
    """What ``show`` prints: the /proc files, and the vm sysctls."""
    from kmemsim.proc import REPORTS
    return list(REPORTS) + ["sysctl"]


@dataclass(frozen=True)
class Allocation:
    """A block handed out by :meth:`Kernel.alloc`."""

    id: str
    pfn: int
    order: int
    zone: str
    migratetype: str
    gfp_mask: int

    def __str__(self) -> str:
        return (f"{self.id} pfn={self.pfn} order={self.order} zone={self.zone} "
                f"migratetype={self.migratetype}")


@dataclass(frozen=True)
class SlabObject:
    """An object handed out by :meth:`Kernel.kmalloc` or :meth:`Kernel.kmem_cache_alloc`:
    its kernel virtual address, the cache it came from ("-" for kmalloc_large pages), the
    size asked for, and the page frame of its slab."""

    id: str
    addr: int
    cache: str
    size: int
    pfn: int
    phys: int = -1                    # the address kmemsim's compiled paths use

    def __str__(self) -> str:
        if self.addr == 0x10:
            return f"{self.id} addr=ZERO_SIZE_PTR cache=- size=0"
        return f"{self.id} addr={self.addr:#x} cache={self.cache} size={self.size} pfn={self.pfn}"


class Kernel:
    """Linux 3.13's physical memory allocator running on a simulated :class:`Machine`."""

    def __init__(self, machine: Machine, mode: str | None = None):
        from kmemsim.mm.page_alloc_init import alloc_mem
        self.machine = machine
        self.mode = jit.check_mode(mode or jit.default_mode())
        self.fn = jit.functions(self.mode)
        self.mem: Mem = alloc_mem(machine)
        self.dmesg: list[str] = []
        self.min_free_kbytes = 1024
        self.user_min_free_kbytes = 0
        self.percpu_pagelist_fraction = 0
        self.sysctl_drop_caches = 0
        from kmemsim.mm.page_alloc_init import default_lowmem_reserve_ratio
        self.lowmem_reserve_ratio = default_lowmem_reserve_ratio(machine)
        self.totalreserve_pages = 0
        self.policy_zone = 0
        self.zonelist_order = "Zone"
        self.totalram_pages = 0
        self.stages_done: list[str] = []
        self.live: dict[str, Allocation] = {}
        self.freed: set[str] = set()
        self._next_id = 0
        self.owner_ids: dict[str, int] = {}        # task and file names -> rows of mem.owners
        self.oom_reaped: list[str] = []             # tasks the OOM killer killed, in order
        from kmemsim.mm.slab_common import SlabState
        from kmemsim.mm.slub import SLUB_ARCH
        self.slab = SlabState(SLUB_ARCH[machine.arch], machine.cpus, len(machine.nodes),
                              "DMA" in machine.zone_types)
        self.objects: dict[str, SlabObject] = {}    # kmalloc / kmem_cache_alloc ids
        self.freed_objects: set[str] = set()
        from kmemsim.trace.trace_output import DEFAULT_COMM
        self.comms: dict[int, str] = {0: DEFAULT_COMM}  # pid -> task name (saved_cmdlines)
        self.tracer = None                          # kmemsim.trace.tracer.Tracer, when tracing
        self.trace_held = None                      # blocks replays hold (kmemsim.trace.replay)

    # ---- boot --------------------------------------------------------------------------------
    def printk(self, line: str) -> None:
        self.dmesg.append(line)

    def run_stage(self, name: str) -> None:
        dict(BOOT_STAGES)[name](self)
        self.stages_done.append(name)

    # ---- zones -------------------------------------------------------------------------------
    def zone_name(self, zone: int) -> str:
        return self.machine.zone_types[zone % self.machine.max_nr_zones]

    def zone_id(self, nid: int, name: str) -> int:
        return nid * self.machine.max_nr_zones + self.machine.zone_types.index(name)

    def preferred_zone(self, gfp_mask: int, nid: int = 0) -> int:
        """The highest populated zone of node ``nid`` that gfp_zone(gfp_mask) allows, or -1."""
        high = int(gfpmod.gfp_zone(self.mem, gfp_mask))
        if high < 0:
            raise KmemsimError(f"GFP mask {gfpmod.format_gfp(gfp_mask)} combines zone modifiers "
                               "that gfp_zone() rejects (GFP_ZONE_BAD)")
        for j in range(high, -1, -1):
            zone = nid * self.machine.max_nr_zones + j
            if self.mem.present_pages[zone]:
                return zone
        return -1

    # ---- operations --------------------------------------------------------------------------
    def _set_cpu(self, cpu: int) -> None:
        if not isinstance(cpu, (int, np.integer)) or not 0 <= cpu < self.machine.cpus:
            raise KmemsimError(f"cpu {cpu!r} does not exist: use 0..{self.machine.cpus - 1}")
        self.mem.cfg[CFG_CPU] = cpu

    def _check_request(self, order, gfp, id) -> tuple[int, str]:
        gfp_mask = gfpmod.parse_gfp(gfp) if isinstance(gfp, str) else int(gfp)
        if not isinstance(order, (int, np.integer)) or not 0 <= order < MAX_ORDER:
            raise KmemsimError(f"order {order!r} is impossible: use 0..{MAX_ORDER - 1}")
        if id is None:
            id = f"a{self._next_id}"
            self._next_id += 1
        if id in self.live or id in self.objects:
            raise KmemsimError(f"id {id!r} is still allocated: free it first or use a new id")
        if int(gfpmod.gfp_zone(self.mem, gfp_mask)) < 0:
            raise KmemsimError(f"GFP mask {gfpmod.format_gfp(gfp_mask)} combines zone modifiers "
                               "that gfp_zone() rejects (GFP_ZONE_BAD)")
        return gfp_mask, id

    def _check_node(self, node) -> None:
        if node is not None and not 0 <= node < len(self.machine.nodes):
            raise KmemsimError(f"node {node} does not exist: use 0..{len(self.machine.nodes) - 1}")

    def _record(self, id, pfn, order, gfp_mask) -> Allocation:
        names = migratetype_names(self.machine.cma, self.machine.memory_isolation)
        migratetype = int(gfpmod.allocflags_to_migratetype(self.mem, gfp_mask))
        zone = int(self.fn.page_zone_id(self.mem, pfn))
        a = Allocation(id, pfn, order, self.zone_name(zone), names[migratetype], gfp_mask)
        self.live[id] = a
        self.freed.discard(id)
        return a

    def _take(self, what) -> Allocation:
        id = what.id if isinstance(what, Allocation) else str(what)
        a = self.live.get(id)
        if a is None:
            if id in self.freed:
                raise KmemsimError(f"double free of {id!r}: it was already freed")
            if id in self.objects:
                raise KmemsimError(f"{id!r} is a slab object: use 'kfree {id}'")
            raise KmemsimError(f"free of unknown id {id!r}: no allocation has that id")
        return a

    def _forget(self, a: Allocation) -> None:
        del self.live[a.id]
        self.freed.add(a.id)

    def alloc(self, order: int, gfp: int | str = "GFP_KERNEL", id: str | None = None,
              cpu: int = 0, node: int | None = None, task: str | None = None) -> Allocation | None:
        """Allocate a 2^order block on CPU ``cpu`` the way 3.13 does (alloc_pages_node ->
        __alloc_pages_nodemask -> get_page_from_freelist -> buffered_rmqueue, and the slow
        path when that fails); ``node`` defaults to the CPU's node; ``task`` names the
        allocating task (its PF_MEMALLOC and TIF_MEMDIE matter to the slow path), by default
        an ordinary process.  None when the allocation fails."""
        gfp_mask, id = self._check_request(order, gfp, id)
        self._check_node(node)
        self._set_cpu(cpu)
        with self._running(task):
            pfn = int(self.fn.alloc_pages_node(self.mem, -1 if node is None else node,
                                               gfp_mask, order))
        self._schedule()
        return None if pfn < 0 else self._record(id, pfn, order, gfp_mask)

    def free(self, what: str | Allocation, cpu: int = 0, after: int | None = None) -> None:
        """Return a block (by id or Allocation) on CPU ``cpu`` (__free_pages: order 0 to the
        CPU's list, higher orders to the buddy lists).  ``after=N``: another task frees it N
        jiffies from now (kmemsim.sim.sched runs it when simulated time gets there)."""
        a = self._take(what)
        self._set_cpu(cpu)
        if after is not None:
            from kmemsim.mm.mmzone import CFG_JIFFIES
            free_rows = np.flatnonzero(self.mem.timers[:, 0] < 0)
            if self._pages(after) < 0 or len(free_rows) == 0:
                raise KmemsimError(f"free {a.id} after={after}: at most "
                                   f"{len(self.mem.timers)} deferred frees may wait at once")
            row = int(free_rows[0])
            self.mem.timers[row] = (int(self.mem.cfg[CFG_JIFFIES]) + after, a.pfn, a.order)
        else:
            getattr(self.fn, "__free_pages")(self.mem, a.pfn, a.order)
        self._forget(a)
        self._schedule()

    @contextmanager
    def _running(self, task: str | None, op: str = "alloc"):
        """Make ``task`` the running task (mem.cfg[CFG_CURRENT]) for the duration of
        operation ``op``; afterwards the kernel log it wrote is rendered into ``dmesg`` and
        tasks the OOM killer chose are reaped (kmemsim.mm.show_mem, kmemsim.mm.oom_kill)."""
        from kmemsim.mm.mmzone import CFG_CURRENT, CFG_KLOG_NEXT, OWNER_TASK
        row = 0 if task is None else self._owner(task, OWNER_TASK)
        before = int(self.mem.cfg[CFG_CURRENT])
        seq = int(self.mem.cfg[CFG_KLOG_NEXT])
        self.mem.cfg[CFG_CURRENT] = row
        try:
            yield row
        finally:
            self._log_and_reap(seq, op)
            self.mem.cfg[CFG_CURRENT] = before

    def _log_and_reap(self, seq: int, op: str) -> None:
        from kmemsim.mm.oom_kill import reap_oom_victims
        from kmemsim.mm.show_mem import op_callers, render_klog
        from kmemsim.mm.mmzone import CFG_KLOG_NEXT
        if int(self.mem.cfg[CFG_KLOG_NEXT]) != seq:
            self.dmesg += render_klog(self, seq, callers=op_callers(self, op))
        self.oom_reaped += reap_oom_victims(self)

    def _schedule(self) -> None:
        """The operation is over: the scheduler runs the runnable kernel threads
        (kmemsim.sim.sched); the trace buffer is read."""
        self.fn.schedule_kthreads(self.mem)
        if self.tracer is not None:
            self.tracer.drain()

    # ---- tracing (kmemsim.trace) -------------------------------------------------------------
    def trace_start(self, events: str = "kmem:*,compaction:*,vmscan:*", rows: int | None = None):
        """Switch on the tracepoints ``events`` names (``kmem:*``, ``kmem:mm_page_alloc``,
        comma separated, as /sys/kernel/debug/tracing/set_event takes them); returns the
        :class:`~kmemsim.trace.tracer.Tracer` (``.text()``, ``.records()``, ``.counts()``)."""
        from kmemsim.trace.tracer import DEFAULT_ROWS, Tracer
        if self.tracer is not None:
            self.tracer.stop()
        self.tracer = Tracer(self, events, DEFAULT_ROWS if rows is None else rows)
        return self.tracer

    def trace_stop(self):
        """Switch every tracepoint off; returns the Tracer with what it recorded."""
        from kmemsim.errors import KmemsimError
        if self.tracer is None:
            raise KmemsimError("tracing is not on: start it with trace_start()")
        t, self.tracer = self.tracer, None
        t.stop()
        return t

    def buddy_alloc(self, order: int, gfp: int | str = "GFP_KERNEL", id: str | None = None,
                    node: int = 0) -> Allocation | None:
        """The buddy core alone: a block straight from __rmqueue on the highest populated
        zone of ``node`` that gfp_zone() allows, no watermark, no per-CPU list (see
        kmemsim.sim.buddy_core).  For experiments on the buddy core and its tests."""
        gfp_mask, id = self._check_request(order, gfp, id)
        self._check_node(node)
        zone = self.preferred_zone(gfp_mask, node)
        if zone < 0:
            return None
        migratetype = int(gfpmod.allocflags_to_migratetype(self.mem, gfp_mask))
        pfn = int(self.fn.rmqueue_zone_locked(self.mem, zone, order, migratetype, gfp_mask))
        return None if pfn < 0 else self._record(id, pfn, order, gfp_mask)

    def buddy_free(self, what: str | Allocation) -> None:
        """The buddy core alone: __free_pages_ok, whatever the order."""
        a = self._take(what)
        getattr(self.fn, "__free_pages_ok")(self.mem, a.pfn, a.order)
        self._forget(a)

    def drain(self, cpu: int | None = None) -> None:
        """Give the pages on per-CPU lists back to the buddy lists: one CPU (drain_pages) or
        all of them (drain_all_pages)."""
        if cpu is None:
            self.fn.drain_all_pages(self.mem)
        else:
            self._set_cpu(cpu)
            self.fn.drain_pages(self.mem, cpu)

    # ---- who owns memory: tasks and files (kmemsim.sim.owners) ---------------------------------
    def _new_owner(self, name: str, kind: int, flags: int = 0) -> int:
        if not name or any(c.isspace() for c in name):
            raise KmemsimError(f"name {name!r} must be one word")
        if name in self.owner_ids:
            raise KmemsimError(f"{name!r} already exists: pick another name")
        row = int(self.fn.owner_alloc(self.mem, kind, flags))
        if row < 0:
            raise KmemsimError(f"no room for {name!r}: the machine's max_owners "
                               f"({self.machine.max_owners}) are all in use")
        self.owner_ids[name] = row
        from kmemsim.mm.mmzone import OW_PID, OWNER_FILE
        if kind != OWNER_FILE:
            self.comms[int(self.mem.owners[row, OW_PID])] = name
        return row

    def _owner(self, name: str, kind: int) -> int:
        from kmemsim.mm.mmzone import OW_KIND, OWNER_FILE
        row = self.owner_ids.get(name)
        what = "file" if kind == OWNER_FILE else "task"
        if row is None:
            raise KmemsimError(f"unknown {what} {name!r}: create it first with "
                               f"'{what} {name}'")
        if int(self.mem.owners[row, OW_KIND]) != kind:
            raise KmemsimError(f"{name!r} is not a {what}")
        return row

    def task(self, name: str, memalloc: bool = False, oom_score_adj: int = 0) -> int:
        """Create a simulated task (it owns anonymous memory); ``memalloc`` gives it
        PF_MEMALLOC (a task that is itself freeing memory); ``oom_score_adj`` is its
        /proc/PID/oom_score_adj (-1000: never killed).  Returns its pid."""
        from kmemsim.mm.mmzone import OW_OOM_SCORE_ADJ, OW_PID, OWNER_TASK
        if not isinstance(oom_score_adj, (int, np.integer)) or not -1000 <= oom_score_adj <= 1000:
            raise KmemsimError(f"oom_score_adj {oom_score_adj!r}: use -1000..1000")
        row = self._new_owner(name, OWNER_TASK, PF_MEMALLOC if memalloc else 0)
        self.mem.owners[row, OW_OOM_SCORE_ADJ] = oom_score_adj
        return int(self.mem.owners[row, OW_PID])

    def file(self, name: str, tmpfs: bool = False) -> None:
        """Create a file whose pages will be page cache (a tmpfs file's are swap-backed)."""
        from kmemsim.mm.mmzone import OWNER_FILE
        self._new_owner(name, OWNER_FILE, 1 if tmpfs else 0)

    def _pages(self, n) -> int:
        if not isinstance(n, (int, np.integer)) or n < 0:
            raise KmemsimError(f"page count {n!r} must be a whole number >= 0")
        return int(n)

    def fault(self, task: str, n: int, cpu: int = 0) -> int:
        """``n`` anonymous write faults of ``task`` (do_anonymous_page); how many got a page."""
        from kmemsim.mm.mmzone import OWNER_TASK
        row, n = self._owner(task, OWNER_TASK), self._pages(n)
        self._set_cpu(cpu)
        with self._running(task, "fault"):
            n = int(self.fn.fault_pages(self.mem, row, n))
        self._schedule()
        return n

    def read(self, file: str, n: int, cpu: int = 0, write: bool = False,
             task: str | None = None) -> int:
        """``n`` new pages of ``file`` read into the page cache (or written: dirty) by
        ``task`` (default: an ordinary process); how many got a page."""
        from kmemsim.mm.mmzone import OWNER_FILE
        from kmemsim.sim.owners import OW_SHMEM
        row, n = self._owner(file, OWNER_FILE), self._pages(n)
        self._set_cpu(cpu)
        op = ("write_shmem" if self.mem.owners[row, OW_SHMEM] else "write") if write else "read"
        with self._running(task, op):
            n = int(self.fn.read_file_pages(self.mem, row, n, 1 if write else 0))
        self._schedule()
        return n

    def write(self, file: str, n: int, cpu: int = 0, task: str | None = None) -> int:
        """``n`` new dirty pages of ``file`` written by ``task``; how many got a page."""
        return self.read(file, n, cpu, write=True, task=task)

    def touch(self, name: str, n: int, cpu: int = 0) -> int:
        """mark_page_accessed on the ``n`` oldest pages of a task or file."""
        from kmemsim.mm.mmzone import OW_KIND
        row = self.owner_ids.get(name)
        if row is None:
            raise KmemsimError(f"unknown task or file {name!r}")
        self._set_cpu(cpu)
        n = int(self.fn.touch_pages(self.mem, row, self._pages(n)))
        self._schedule()
        return n

    def munmap(self, task: str, n: int, cpu: int = 0) -> int:
        """Unmap the ``n`` newest pages of ``task``; how many it had."""
        from kmemsim.mm.mmzone import OWNER_TASK
        row, n = self._owner(task, OWNER_TASK), self._pages(n)
        self._set_cpu(cpu)
        n = int(self.fn.zap_task_pages(self.mem, row, n))
        self._schedule()
        return n

    def truncate(self, file: str, cpu: int = 0, delete: bool = False) -> int:
        """Drop every page of ``file`` from the page cache (and the file, with delete)."""
        from kmemsim.mm.mmzone import OWNER_FILE
        row = self._owner(file, OWNER_FILE)
        self._set_cpu(cpu)
        n = int(self.fn.truncate_inode_pages(self.mem, row))
        self._schedule()
        if delete:
            self.fn.owner_release(self.mem, row)
            del self.owner_ids[file]
        return n

    def exit(self, task: str, cpu: int = 0) -> int:
        """The task exits: all its memory is released; returns how many pages."""
        from kmemsim.mm.mmzone import OWNER_TASK
        row = self._owner(task, OWNER_TASK)
        self._set_cpu(cpu)
        n = int(self.fn.exit_mmap(self.mem, row))
        self._schedule()
        self.fn.owner_release(self.mem, row)
        del self.owner_ids[task]
        return n

    def tick(self, n: int = 1) -> int:
        """Advance simulated time by ``n`` jiffies (the device writes, deferred frees fire,
        kernel threads run: kmemsim.sim.sched.advance_time); returns jiffies."""
        from kmemsim.mm.mmzone import CFG_JIFFIES
        self.fn.advance_time(self.mem, self._pages(n))
        return int(self.mem.cfg[CFG_JIFFIES])

    def show(self, name: str) -> str:
        """The text of a /proc file (buddyinfo, pagetypeinfo, ...) or of ``sysctl``."""
        from kmemsim.proc import REPORTS
        from kmemsim.sysctl import sysctl_show
        report = REPORTS.get(name) or (sysctl_show if name == "sysctl" else None)
        if report is None:
            raise KmemsimError(f"unknown file {name!r}: use one of {', '.join(report_names())}")
        return report(self)

    def sysctl(self, assignment: str) -> None:
        """Write a vm sysctl, ``"vm.min_free_kbytes=2048"``, recomputing what 3.13 does."""
        from kmemsim.sysctl import sysctl_write
        sysctl_write(self, assignment)

    def check(self) -> None:
        """Run every validator; raises ValidationError naming what broke."""
        from kmemsim.validate import validate_all
        validate_all(self)

    # ---- the slab allocator (kmemsim.mm.slub, kmemsim.mm.slab_common) -------------------------
    def _slab_ready(self) -> None:
        from kmemsim.mm.slub import SCFG_SLAB_STATE, UP
        if not self.machine.slab:
            raise KmemsimError("this machine boots without the slab allocator (--no-slab, or "
                               "slab = false in its file): kmalloc and kmem_cache_* need it")
        if int(self.mem.slub_cfg[SCFG_SLAB_STATE]) < UP:
            raise KmemsimError("the slab allocator is not up yet: boot past kmem_cache_init")
        self._slab_room()

    def _slab_room(self) -> None:
        """Keep POOL_HEADROOM free-pointer slots ahead of the next operation (a slab's free
        pointers live in mem.slab_objnext, which compiled code cannot grow)."""
        from kmemsim.mm.slub import POOL_HEADROOM, SCFG_POOL_TOP
        pool = self.mem.slab_objnext
        if int(self.mem.slub_cfg[SCFG_POOL_TOP]) + POOL_HEADROOM > len(pool):
            bigger = np.full(2 * len(pool), -1, dtype=pool.dtype)
            bigger[:len(pool)] = pool
            self.mem = self.mem._replace(slab_objnext=bigger)

    def slab_address(self, phys: int) -> int:
        """The kernel virtual address of a physical one (lowmem: PAGE_OFFSET + phys -
        PHYS_OFFSET)."""
        return self.slab.arch["page_offset"] + phys - self.machine.phys_offset

    def _new_object_id(self, id: str | None) -> str:
        if id is None:
            id = f"o{self._next_id}"
            self._next_id += 1
        if not id or any(c.isspace() for c in id):
            raise KmemsimError(f"id {id!r} must be one word")
        if id in self.objects or id in self.live:
            raise KmemsimError(f"id {id!r} is still allocated: free it first or use a new id")
        return id

    def _record_object(self, id, phys, cache, size) -> SlabObject | None:
        from kmemsim.mm.slub import OBJ_NULL, OBJ_ZERO_SIZE
        if phys == OBJ_NULL:
            return None
        if phys == OBJ_ZERO_SIZE:
            o = SlabObject(id, 0x10, "-", 0, -1, phys)
        else:
            o = SlabObject(id, self.slab_address(phys), cache, size, phys >> 12, phys)
        self.objects[id] = o
        self.freed_objects.discard(id)
        return o

    def kmem_cache_create(self, name: str, size: int, align: int = 0,
                          flags: int | str = 0) -> str:
        """Create a slab cache (3.13 may merge it into an existing one: the name then is an
        alias); returns the name of the cache that serves it."""
        from kmemsim.mm.slab_common import cache_name, kmem_cache_create
        self._slab_ready()
        if isinstance(flags, str):
            flags = parse_slab_flags(flags)
        for what, v in (("size", size), ("align", align)):
            if not isinstance(v, (int, np.integer)):
                raise KmemsimError(f"{what}={v!r} must be a whole number")
        with self._running(None):
            s = kmem_cache_create(self, name, int(size), int(align), int(flags))
        self._schedule()
        return cache_name(self, s)

    def kmem_cache_alloc(self, cache: str, gfp: int | str = "GFP_KERNEL", id: str | None = None,
                         cpu: int = 0, node: int | None = None) -> SlabObject | None:
        """An object of ``cache`` (slab_alloc_node: the CPU's freelist, else __slab_alloc);
        None when memory ran out."""
        from kmemsim.mm.slab_common import cache_name
        from kmemsim.mm.slub import KC_OBJECT_SIZE
        self._slab_ready()
        s = self.slab.lookup(cache)
        gfp_mask = self._slab_gfp(gfp)
        id = self._new_object_id(id)
        self._check_node(node)
        self._set_cpu(cpu)
        with self._running(None):
            if node is None:                            # kmem_cache_alloc / _node: traced
                phys = int(self.fn.kmem_cache_alloc(self.mem, s, gfp_mask))
            else:
                phys = int(self.fn.kmem_cache_alloc_node(self.mem, s, gfp_mask, node))
        self._schedule()
        return self._record_object(id, phys, cache_name(self, s),
                                   int(self.mem.kmem_cache[s, KC_OBJECT_SIZE]))

    def kmalloc(self, size: int, gfp: int | str = "GFP_KERNEL", id: str | None = None,
                cpu: int = 0, node: int | None = None) -> SlabObject | None:
        """kmalloc(size, gfp): from the kmalloc cache of that size (dma-kmalloc-* with
        GFP_DMA), or whole pages above 8192 bytes (kmalloc_large); None when memory ran out."""
        from kmemsim.mm.slab_common import cache_name
        from kmemsim.mm.slub import KMALLOC_MAX_CACHE_SIZE, KMALLOC_MAX_SIZE
        self._slab_ready()
        if not isinstance(size, (int, np.integer)) or not 0 <= size <= KMALLOC_MAX_SIZE // 2:
            raise KmemsimError(f"kmalloc size {size!r} is impossible: use 0.."
                               f"{KMALLOC_MAX_SIZE // 2} (MAX_ORDER - 1 pages)")
        gfp_mask = self._slab_gfp(gfp)
        id = self._new_object_id(id)
        self._check_node(node)
        self._set_cpu(cpu)
        with self._running(None):
            if node is None:                            # kmalloc / kmalloc_node: traced
                phys = int(getattr(self.fn, "__kmalloc")(self.mem, int(size), gfp_mask))
            else:
                phys = int(getattr(self.fn, "__kmalloc_node")(self.mem, int(size), gfp_mask, node))
        self._schedule()
        if size > KMALLOC_MAX_CACHE_SIZE:
            cache = "-"
        elif size == 0:
            cache = "-"
        else:
            cache = cache_name(self, int(self.fn.kmalloc_slab(self.mem, int(size), gfp_mask)))
        return self._record_object(id, phys, cache, int(size))

    def _slab_gfp(self, gfp) -> int:
        gfp_mask = gfpmod.parse_gfp(gfp) if isinstance(gfp, str) else int(gfp)
        if gfp_mask & gfpmod.GFP_SLAB_BUG_MASK:
            raise KmemsimError(f"GFP mask {gfpmod.format_gfp(gfp_mask)} has bits slab refuses "
                               "(GFP_SLAB_BUG_MASK: __GFP_DMA32, __GFP_HIGHMEM): drop them")
        return gfp_mask

    def _take_object(self, what) -> SlabObject:
        id = what.id if isinstance(what, SlabObject) else str(what)
        o = self.objects.get(id)
        if o is None:
            if id in self.freed_objects:
                raise KmemsimError(f"double free of {id!r}: it was already freed")
            if id in self.live:
                raise KmemsimError(f"{id!r} is a page allocation: use 'free {id}'")
            raise KmemsimError(f"free of unknown id {id!r}: no object has that id")
        return o

    def kfree(self, what: str | SlabObject, cpu: int = 0) -> None:
        """kfree(): the object goes back to its slab (slab_free), or its pages to the page
        allocator."""
        o = self._take_object(what)
        self._set_cpu(cpu)
        self.fn.kfree(self.mem, o.phys)
        del self.objects[o.id]
        self.freed_objects.add(o.id)
        self._schedule()

    def kmem_cache_free(self, what: str | SlabObject, cache: str | None = None,
                        cpu: int = 0) -> None:
        """kmem_cache_free(cache, object); ``cache`` defaults to the object's own (naming
        another is an error here, memory corruption in the kernel)."""
        o = self._take_object(what)
        if o.cache == "-":
            raise KmemsimError(f"{o.id!r} is not a slab object: use 'kfree {o.id}'")
        s = self.slab.lookup(cache or o.cache)
        if int(self.mem.slab_cache[self.fn.virt_to_head_page(self.mem, o.phys)]) != s:
            raise KmemsimError(f"{o.id!r} belongs to cache {o.cache}, not {cache}")
        self._set_cpu(cpu)
        self.fn.kmem_cache_free(self.mem, s, o.phys)
        del self.objects[o.id]
        self.freed_objects.add(o.id)
        self._schedule()

    def kmem_cache_shrink(self, cache: str) -> None:
        """kmem_cache_shrink(): flush the CPUs' slabs, sort the partial lists, free the
        empty slabs."""
        self._slab_ready()
        s = self.slab.lookup(cache)
        with self._running(None):
            self.fn.kmem_cache_shrink(self.mem, s)
        self._schedule()

    def kmem_cache_destroy(self, cache: str) -> bool:
        """kmem_cache_destroy(): True when the cache is gone (False: other names still
        use it, or it still holds objects and 3.13 keeps it, with a log line)."""
        from kmemsim.mm.slab_common import kmem_cache_destroy
        self._slab_ready()
        gone = kmem_cache_destroy(self, cache)
        self._schedule()
        return gone

    def replay_buddy_events(self, events: np.ndarray, zone: int | None = None,
                            gfp: int | str = "GFP_HIGHUSER_MOVABLE") -> dict:
        """Replay a benchmark event array (benchmarks/README.md) in one compiled call."""
        gfp_mask = gfpmod.parse_gfp(gfp) if isinstance(gfp, str) else int(gfp)
        if zone is None:
            zone = self.preferred_zone(gfp_mask)
        migratetype = int(gfpmod.allocflags_to_migratetype(self.mem, gfp_mask))
        pfn_of_id = np.full(events.shape[0], -1, dtype=np.int32)
        checksum, failures = self.fn.replay_buddy_events(self.mem, zone, migratetype, gfp_mask,
                                                          events, pfn_of_id)
        return {"checksum": int(checksum), "failures": int(failures),
                "nr_free": [int(x) for x in self.mem.nr_free[zone]],
                "free_pages": int(self.mem.vm_stat[zone, 0])}


def _stage_free_area_init(k: Kernel) -> None:
    from kmemsim.mm.page_alloc_init import free_area_init_nodes
    free_area_init_nodes(k)


def _stage_build_all_zonelists(k: Kernel) -> None:
    from kmemsim.mm.page_alloc_init import build_all_zonelists
    build_all_zonelists(k)


def _stage_mem_init(k: Kernel) -> None:
    from kmemsim.mm.page_alloc_init import mem_init
    mem_init(k)


def _freeing_stage(stage: str) -> Callable[[Kernel], None]:
    def run(k: Kernel) -> None:
        from kmemsim.mm.page_alloc_init import free_reserved_area
        free_reserved_area(k, stage)
    run.__doc__ = f"Give back the reservations the machine frees in {stage}()."
    return run


def _stage_kmem_cache_init(k: Kernel) -> None:
    """mm/slub.c kmem_cache_init(), unless the machine says ``slab = False``."""
    from kmemsim.mm.slab_common import kmem_cache_init
    if not k.machine.slab:
        return
    k._slab_room()
    kmem_cache_init(k)


def _stage_setup_per_cpu_pageset(k: Kernel) -> None:
    from kmemsim.mm.page_alloc_init import setup_per_cpu_pageset
    setup_per_cpu_pageset(k)


def _stage_kernel_init_freeable(k: Kernel) -> None:
    """init/main.c kernel_init_freeable(): the scheduler is up, blocking allocations are
    allowed: gfp_allowed_mask = __GFP_BITS_MASK."""
    k.mem.cfg[CFG_GFP_ALLOWED_MASK] = gfpmod.__GFP_BITS_MASK


def _stage_cma(k: Kernel) -> None:
    from kmemsim.mm.page_alloc_init import cma_init_reserved_areas
    cma_init_reserved_areas(k)


def _stage_init_per_zone_wmark_min(k: Kernel) -> None:
    from kmemsim.mm.page_alloc_init import init_per_zone_wmark_min
    init_per_zone_wmark_min(k)


def _stage_set_recommended_min_free_kbytes(k: Kernel) -> None:
    from kmemsim.mm.page_alloc_init import set_recommended_min_free_kbytes
    set_recommended_min_free_kbytes(k)


# start_kernel()'s order (init/main.c, v3.13), the stages this model has so far.  Later issues
# insert theirs by name: kmem_cache_init after mem_init, setup_per_cpu_pageset after it.
def _stage_kswapd_init(k: Kernel) -> None:
    """mm/vmscan.c kswapd_init() -> kswapd_run(nid): a kswapd thread per node, asleep, with
    PF_MEMALLOC | PF_SWAPWRITE | PF_KSWAPD."""
    from kmemsim.mm.mmzone import OWNER_KTHREAD, PGDAT_KSWAPD_TASK
    for node in k.machine.nodes:
        row = k._new_owner(f"kswapd{node.nid}", OWNER_KTHREAD, PF_MEMALLOC | PF_SWAPWRITE | PF_KSWAPD)
        k.mem.pgdat_misc[node.nid, PGDAT_KSWAPD_TASK] = row


from kmemsim.mm.mmzone import PF_KSWAPD, PF_MEMALLOC, PF_SWAPWRITE  # noqa: E402  (task flags)


def parse_slab_flags(text: str) -> int:
    """``SLAB_HWCACHE_ALIGN|SLAB_RECLAIM_ACCOUNT`` or a number; a KmemsimError otherwise."""
    from kmemsim.mm.slub import SLAB_FLAG_NAMES
    value = 0
    for part in text.split("|"):
        part = part.strip()
        if part in SLAB_FLAG_NAMES:
            value |= SLAB_FLAG_NAMES[part]
            continue
        try:
            value |= int(part, 0)
        except ValueError:
            raise KmemsimError(f"unknown slab flag {part!r}: use "
                               f"{'|'.join(SLAB_FLAG_NAMES)} or a number") from None
    return value


BOOT_STAGES: list[tuple[str, Callable[[Kernel], None]]] = [
    ("free_area_init_nodes", _stage_free_area_init),       # setup_arch → paging_init
    ("build_all_zonelists", _stage_build_all_zonelists),
    ("mem_init", _stage_mem_init),                          # mm_init: free_all_bootmem
    ("kmem_cache_init", _stage_kmem_cache_init),            # mm_init: SLUB bootstrap
    ("setup_per_cpu_pageset", _stage_setup_per_cpu_pageset),
    ("check_bugs", _freeing_stage("check_bugs")),           # x86: SMP alternatives freed
    ("kernel_init_freeable", _stage_kernel_init_freeable),  # gfp_allowed_mask: all bits
    ("cma_init_reserved_areas", _stage_cma),                # core_initcall: CMA pageblocks
    ("populate_rootfs", _freeing_stage("populate_rootfs")), # rootfs_initcall: initrd freed
    ("init_per_zone_wmark_min", _stage_init_per_zone_wmark_min),   # module_init
    ("kswapd_init", _stage_kswapd_init),                    # module_init, after page_alloc.o's
    ("set_recommended_min_free_kbytes", _stage_set_recommended_min_free_kbytes),  # late_initcall
    ("free_initmem", _freeing_stage("free_initmem")),       # kernel_init: init sections freed
    ("mark_rodata_ro", _freeing_stage("mark_rodata_ro")),   # and the alignment gaps
]


def boot(machine: Machine | str = "x86_64", *, mem: str | None = None, cpus: int | None = None,
         nodes: int | None = None, cma: str | None = None, swap: str | None = None,
         mode: str | None = None, stop_after: str | None = None,
         slab: bool | None = None) -> Kernel:
    """Boot a machine (a preset name, a TOML path or a :class:`Machine`) the way 3.13 does.

    ``stop_after`` ends the boot after the named stage (see :data:`BOOT_STAGES`);
    ``slab=False`` skips kmem_cache_init (the page allocator alone: nothing is allocated at
    boot, and the slab operations are refused)."""
    if not isinstance(machine, Machine):
        from kmemsim.presets import get_machine
        machine = get_machine(machine, mem=mem, cpus=cpus, nodes=nodes, cma=cma, swap=swap)
    if slab is not None:
        import dataclasses
        machine = dataclasses.replace(machine, slab=bool(slab))
    names = [name for name, _ in BOOT_STAGES]
    if stop_after is not None and stop_after not in names:
        raise KmemsimError(f"unknown boot stage {stop_after!r}: use one of {', '.join(names)}")
    k = Kernel(machine, mode)
    for name in names:
        k.run_stage(name)
        if name == stop_after:
            break
    return k
