"""Kernel: kernel/trace/trace.c and trace_events.c (v3.13), kmemsim's share of them: switch
tracepoints on and off (``set_event``), size the ring buffer, and read it out.

Not a kernel function: Python around the compiled ring buffer of kmemsim.trace.events.  A
:class:`Tracer` belongs to a booted Kernel (``k.trace_start(...)``).  It reads the rows written
since its last read after every operation (``Kernel._schedule``) and whenever asked, so a
buffer overwritten before it was read (more records in one operation than the buffer has rows)
is counted, as the kernel counts overruns, never silently lost.
"""

from __future__ import annotations

import numpy as np

from kmemsim.mm.mmzone import CFG_TRACE_MASK, CFG_TRACE_WRITTEN
from kmemsim.trace.events import EVENTS, TR_EVENT, TRACE_FIELDS, events_matching

__all__ = ["Tracer", "DEFAULT_ROWS", "ALL_EVENTS"]

DEFAULT_ROWS = 1 << 16          # 5 MiB of rows, read after every operation
ALL_EVENTS = "kmem:*,compaction:*,vmscan:*"


class Tracer:
    """The tracepoints chosen by ``events`` (see events_matching) recording into a ring
    buffer of ``rows`` rows of kernel ``k``."""

    def __init__(self, k, events: str = ALL_EVENTS, rows: int = DEFAULT_ROWS):
        from kmemsim.errors import KmemsimError
        if rows < 1:
            raise KmemsimError(f"trace buffer of {rows} rows: use at least 1")
        self.k = k
        self.events = events_matching(events)
        k.mem = k.mem._replace(trace_buf=np.zeros((rows, TRACE_FIELDS), dtype=np.int64))
        self.start = self.read = int(k.mem.cfg[CFG_TRACE_WRITTEN])
        self.overrun = 0
        self._chunks: list[np.ndarray] = []
        k.mem.cfg[CFG_TRACE_MASK] = sum(1 << e for e in self.events)

    @property
    def written(self) -> int:
        """Records the tracepoints wrote since tracing started (entries-written)."""
        return int(self.k.mem.cfg[CFG_TRACE_WRITTEN]) - self.start

    def drain(self) -> None:
        """Copy the rows written since the last read out of the ring buffer."""
        buf = self.k.mem.trace_buf
        rows = len(buf)
        written = int(self.k.mem.cfg[CFG_TRACE_WRITTEN])
        new = written - self.read
        if new <= 0:
            return
        if new > rows:
            self.overrun += new - rows
            new = rows
        first = (written - new) % rows
        if first + new <= rows:
            self._chunks.append(buf[first:first + new].copy())
        else:
            self._chunks.append(np.concatenate([buf[first:], buf[:first + new - rows]]))
        self.read = written

    def stop(self) -> None:
        """Switch every tracepoint off (the records read so far stay)."""
        self.drain()
        self.k.mem.cfg[CFG_TRACE_MASK] = 0

    def records(self) -> np.ndarray:
        """Every record read so far, oldest first: int64[n, TRACE_FIELDS]."""
        self.drain()
        if len(self._chunks) > 1:
            self._chunks = [np.concatenate(self._chunks)]
        return self._chunks[0] if self._chunks else np.zeros((0, TRACE_FIELDS), np.int64)

    def counts(self) -> dict[str, int]:
        """How many records of each event were read: {event name: n} for every enabled one."""
        ev = self.records()[:, TR_EVENT]
        found = np.bincount(ev, minlength=len(EVENTS)) if len(ev) else np.zeros(len(EVENTS), int)
        return {EVENTS[e][0]: int(found[e]) for e in self.events}

    def text(self) -> str:
        """What /sys/kernel/debug/tracing/trace would show now."""
        from kmemsim.trace.trace_output import TraceContext, trace_text
        recs = self.records()
        return trace_text(TraceContext.of(self.k), recs, len(recs) + self.overrun,
                          self.k.machine.cpus)
