"""Kernel: kernel/trace/trace.c print_trace_header() / print_func_help_header_irq() and
kernel/trace/trace_output.c (v3.13): the text of /sys/kernel/debug/tracing/trace.

Rows of the ring buffer (kmemsim.trace.events) become the lines a 3.13 kernel prints:
``%16s-%-5d [%03d] FLAGS %5lu.%06lu: event: fields``, the header above them, gfp masks spelled
by show_gfp_flags, ``page=`` as the address of the struct page (x86_64's vmemmap, 64-byte
struct page), pointers as %p prints them (zero-padded, ``(null)`` for NULL).

Not modelled: the irq-flag column's need-resched, hardirq/softirq and preempt-depth characters
(always ``.``); an event the kernel fires with interrupts off (under zone->lock) shows ``d``.
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field

import numpy as np

from kmemsim.mm.gfp import show_gfp_flags
from kmemsim.trace.events import EVENTS, TR_CPU, TR_EVENT, TR_F0, TR_PID, TR_TS

__all__ = ["TraceContext", "print_trace_header", "print_trace_line", "trace_text",
           "TRACE_ARCH", "show_reclaim_flags", "DEFAULT_COMM"]

# struct page addresses and pointer width per architecture: x86_64's vmemmap (what the real
# 3.13.11 trace shows); 32-bit ARM's mem_map lives in lowmem at an address kmemsim cannot know,
# so it is an assumed one (docs/tracing.md)
TRACE_ARCH = {
    "x86_64": dict(memmap=0xffffea0000000000, struct_page=64, pointer_digits=16),
    "generic": dict(memmap=0xffffea0000000000, struct_page=64, pointer_digits=16),
    "arm": dict(memmap=0xee000000, struct_page=32, pointer_digits=8),
}
DEFAULT_COMM = "kmemsim"       # owners row 0: the default task context, pid 0

_RECLAIM_FLAGS = ((0x0001, "RECLAIM_WB_ANON"), (0x0002, "RECLAIM_WB_FILE"),
                  (0x0010, "RECLAIM_WB_MIXED"), (0x0004, "RECLAIM_WB_SYNC"),
                  (0x0008, "RECLAIM_WB_ASYNC"))


def show_reclaim_flags(flags: int) -> str:
    """Kernel: include/trace/events/gfpflags.h show_reclaim_flags()."""
    if not flags:
        return "RECLAIM_WB_NONE"
    names = []
    for bit, name in _RECLAIM_FLAGS:
        if flags & bit:
            names.append(name)
            flags &= ~bit
    if flags:
        names.append(f"{flags:#x}")
    return "|".join(names)


@dataclass
class TraceContext:
    """What turning rows into text needs to know about the machine and its tasks."""

    arch: str
    pageblock_order: int
    page_offset: int
    phys_offset: int
    comms: dict[int, str] = field(default_factory=dict)

    @classmethod
    def of(cls, k) -> "TraceContext":
        return cls(k.machine.arch, k.machine.pageblock_order, k.slab.arch["page_offset"],
                   k.machine.phys_offset, dict(k.comms))


class _Formatter(string.Formatter):
    """TP_printk's conversions, keyed by the format's KIND (events.EVENTS)."""

    def __init__(self, ctx: TraceContext):
        self.ctx = ctx
        self.arch = TRACE_ARCH[ctx.arch]
        self.ptr_width = self.arch["pointer_digits"]

    def _pointer(self, value: int) -> str:
        return f"{value & ((1 << (4 * self.ptr_width)) - 1):0{self.ptr_width}x}"

    def format_field(self, value, spec):
        value = int(value)
        if not spec:
            return str(value)
        if spec == "page":
            if value < 0:
                return "(null)"
            a = self.arch
            first = self.ctx.phys_offset >> 12
            return self._pointer(a["memmap"] + (value - first) * a["struct_page"])
        if spec == "pfn":
            return str(max(value, 0))
        if spec == "gfp":
            return show_gfp_flags(value)
        if spec == "ptr":
            if value == -1:
                return "(null)"
            if value == -16:
                return self._pointer(0x10)                        # ZERO_SIZE_PTR
            return self._pointer(self.ctx.page_offset + value - self.ctx.phys_offset)
        if spec == "x":
            return f"{value:x}"
        if spec == "is_zero":
            return str(int(value == 0))
        if spec == "fragmenting":
            return str(int(value < self.ctx.pageblock_order))
        if spec == "pageblock_order":
            return str(self.ctx.pageblock_order)
        if spec == "reclaim_flags":
            return show_reclaim_flags(value)
        raise ValueError(f"unknown trace format kind {spec!r}")


def print_trace_header(entries: int, written: int, nr_cpus: int) -> str:
    """The header of the trace file (tracer nop, the irq-info columns)."""
    return ("# tracer: nop\n"
            "#\n"
            f"# entries-in-buffer/entries-written: {entries}/{written}   #P:{nr_cpus}\n"
            "#\n"
            "#                              _-----=> irqs-off\n"
            "#                             / _----=> need-resched\n"
            "#                            | / _---=> hardirq/softirq\n"
            "#                            || / _--=> preempt-depth\n"
            "#                            ||| /     delay\n"
            "#           TASK-PID   CPU#  ||||    TIMESTAMP  FUNCTION\n"
            "#              | |       |   ||||       |         |\n")


def print_trace_line(fmt: _Formatter, row) -> str:
    """One record as its line of the trace file."""
    name, _system, irqs_off, columns, tp_printk = EVENTS[int(row[TR_EVENT])]
    values = {c: int(row[TR_F0 + i]) for i, c in enumerate(columns)}
    pid = int(row[TR_PID])
    comm = fmt.ctx.comms.get(pid, "<...>")
    usecs = int(row[TR_TS]) // 1000
    return (f"{comm:>16}-{pid:<5} [{int(row[TR_CPU]):03d}] {'d' if irqs_off else '.'}... "
            f"{usecs // 1000000:5d}.{usecs % 1000000:06d}: {name}: "
            f"{fmt.vformat(tp_printk, (), values)}\n")


def trace_text(ctx: TraceContext, records: np.ndarray, written: int, nr_cpus: int) -> str:
    """The whole trace file: header, then every record kept."""
    fmt = _Formatter(ctx)
    return print_trace_header(len(records), written, nr_cpus) + "".join(
        print_trace_line(fmt, row) for row in records)
