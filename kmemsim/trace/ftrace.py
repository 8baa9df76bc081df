"""Reading ftrace text: /sys/kernel/debug/tracing/trace of 3.x and current kernels, and
``trace-cmd report`` output.

Each event line is ``comm-pid [cpu] flags timestamp: event: fields`` (trace-cmd report may
leave out the flags).  Fields are ``name=value`` pairs as the kmem events print them
(include/trace/events/kmem.h); ``tracing_mark_write:`` lines carry free text (MARK ...).

Dialects are told apart per line and normalised to 3.13's meaning, so that one trace model
serves both: a hexadecimal ``pfn=0x...`` (current kernels) becomes a number, and a current
kernel's migratetype numbering (0 Unmovable, 1 Movable, 2 Reclaimable) is renumbered to 3.13's
(0 Unmovable, 1 Reclaimable, 2 Movable).  ``page=(____ptrval____)`` (hashed pointers) is kept
as text.  Lines that are neither comments nor events are counted with their line numbers;
they are skipped unless ``strict``, which stops at the first with one error line.
"""

from __future__ import annotations

import lzma
import re
from dataclasses import dataclass, field
from pathlib import Path

from kmemsim.errors import KmemsimError

__all__ = ["TraceEvent", "ParsedTrace", "parse_lines", "parse_file", "MIGRATETYPE_FROM_CURRENT",
           "GFP_FROM_CURRENT", "gfp_from_trace"]

# a current kernel's migratetype number -> 3.13's (include/linux/mmzone.h, both versions)
MIGRATETYPE_FROM_CURRENT = {0: 0, 1: 2, 2: 1, 3: 3}

# A current kernel's gfp names (6.1's show_gfp_flags, include/trace/events/mmflags.h) that 3.13
# does not have, or has with another meaning, as the 3.13 flags that ask the page allocator the
# same thing: reclaim that may sleep is __GFP_WAIT; waking kswapd is 3.13's default (its opposite,
# __GFP_NO_KSWAPD, marks the THP masks); accounting to a memory cgroup is __GFP_KMEMCG. Names
# with no 3.13 counterpart that changes the allocator's choices (KASAN, lockdep, memory tags,
# __GFP_ATOMIC, which 3.13 expresses by the lack of __GFP_WAIT) map to no bits. Every other
# name is read as 3.13's own (GFP_KERNEL, __GFP_COMP, __GFP_ZERO, GFP_HIGHUSER_MOVABLE ...).
GFP_FROM_CURRENT = {
    "none": "GFP_NOWAIT",
    "GFP_KERNEL_ACCOUNT": "GFP_KERNEL|__GFP_KMEMCG",
    "__GFP_ACCOUNT": "__GFP_KMEMCG",
    "GFP_TRANSHUGE": "GFP_HIGHUSER_MOVABLE|__GFP_COMP|__GFP_NOMEMALLOC|__GFP_NOWARN|"
                     "__GFP_NO_KSWAPD",         # 6.1's has no __GFP_NORETRY, 3.13's has
    "GFP_TRANSHUGE_LIGHT": "__GFP_HARDWALL|__GFP_HIGHMEM|__GFP_MOVABLE|__GFP_IO|__GFP_FS|"
                           "__GFP_COMP|__GFP_NOMEMALLOC|__GFP_NOWARN|__GFP_NO_KSWAPD",
    "GFP_DMA": "__GFP_DMA",
    "GFP_DMA32": "__GFP_DMA32",
    "__GFP_RECLAIM": "__GFP_WAIT",
    "__GFP_DIRECT_RECLAIM": "__GFP_WAIT",
    "__GFP_KSWAPD_RECLAIM": "GFP_NOWAIT",
    "__GFP_RETRY_MAYFAIL": "__GFP_REPEAT",
    "__GFP_ATOMIC": "GFP_NOWAIT",
    "__GFP_NOLOCKDEP": "GFP_NOWAIT",
    "__GFP_ZEROTAGS": "GFP_NOWAIT",
    "__GFP_SKIP_ZERO": "GFP_NOWAIT",
    "__GFP_SKIP_KASAN_POISON": "GFP_NOWAIT",
    "__GFP_SKIP_KASAN_UNPOISON": "GFP_NOWAIT",
    "__GFP_SKIP_KASAN": "GFP_NOWAIT",
}


def gfp_from_trace(text: str, where: str = "trace") -> int:
    """The 3.13 mask a trace's ``gfp_flags=`` means: 3.13's spellings as they are, a current
    kernel's names through GFP_FROM_CURRENT.  A name neither knows (or a hexadecimal rest,
    bits without a name) raises KmemsimError naming ``where``."""
    from kmemsim.mm.gfp import parse_gfp
    parts = [GFP_FROM_CURRENT.get(name.strip(), name.strip()) for name in text.split("|")]
    try:
        return parse_gfp("|".join(parts))
    except KmemsimError as e:
        raise KmemsimError(f"{where}: {e}") from None

_LINE = re.compile(r"^\s*(?P<comm>.+?)-(?P<pid>\d+)\s+(?:\(\s*[-\d]+\)\s+)?\[(?P<cpu>\d+)\]\s+"
                   r"(?:(?P<flags>[.\w]{4,5})\s+)?(?P<ts>\d+\.\d+):\s+(?P<event>\w+):\s?(?P<rest>.*)$")
_FIELD = re.compile(r"(\w+)=(\S+)")
_INT_FIELDS = {"order", "migratetype", "percpu_refill", "cold", "alloc_order", "fallback_order",
               "pageblock_order", "alloc_migratetype", "fallback_migratetype", "fragmenting",
               "change_ownership", "nid", "zid", "nr_scanned", "nr_taken", "nr_migrated",
               "nr_failed", "nr_reclaimed", "nr_requested", "priority", "isolate_mode", "file",
               "may_writepage", "bytes_req", "bytes_alloc", "node"}


@dataclass(frozen=True)
class TraceEvent:
    """One event line: who (comm, pid), where (cpu), when (seconds), what (event, fields)."""

    line: int
    comm: str
    pid: int
    cpu: int
    timestamp: float
    event: str
    fields: dict = field(default_factory=dict)
    text: str = ""                     # the free text of tracing_mark_write


@dataclass
class ParsedTrace:
    events: list
    problems: list                     # (line number, reason, the line)
    dialect: str = "3.x"               # "3.x", or "current" once a hex pfn is seen

    def counts(self) -> dict:
        out: dict[str, int] = {}
        for e in self.events:
            out[e.event] = out.get(e.event, 0) + 1
        return out


def _fields(rest: str, current: bool) -> tuple[dict, bool]:
    values: dict = {}
    for name, value in _FIELD.findall(rest):
        if name == "pfn":
            if value.startswith("0x"):
                current = True
                values[name] = int(value, 16)
            else:
                values[name] = int(value)
        elif name in _INT_FIELDS:
            values[name] = int(value)
        else:
            values[name] = value
    return values, current


def parse_lines(lines, where: str = "trace", strict: bool = False) -> ParsedTrace:
    """Parse ftrace text lines (an iterable of str)."""
    events, problems = [], []
    current = False
    for lineno, raw in enumerate(lines, start=1):
        text = raw.rstrip("\n")
        if not text.strip() or text.lstrip().startswith("#") or text.startswith("cpus="):
            continue
        m = _LINE.match(text)
        problem = None
        if m is None:
            problem = "not an ftrace event line"
        else:
            rest = m.group("rest")
            if m.group("event") == "tracing_mark_write":
                events.append(TraceEvent(lineno, m.group("comm").strip(), int(m.group("pid")),
                                         int(m.group("cpu")), float(m.group("ts")),
                                         m.group("event"), {}, rest))
                continue
            try:
                values, current = _fields(rest, current)
            except ValueError:
                problem = "a field's value is not a number"
            else:
                if m.group("event").startswith("mm_page") and "pfn" not in values:
                    problem = "a page event without pfn="
                else:
                    events.append(TraceEvent(lineno, m.group("comm").strip(),
                                             int(m.group("pid")), int(m.group("cpu")),
                                             float(m.group("ts")), m.group("event"), values))
        if problem is not None:
            if strict:
                raise KmemsimError(f"{where}:{lineno}: {problem}: {text.strip()[:80]!r} "
                                   "(drop --strict to skip such lines)")
            problems.append((lineno, problem, text))
    if current:
        for e in events:
            for key in ("migratetype", "alloc_migratetype", "fallback_migratetype"):
                if key in e.fields:
                    e.fields[key] = MIGRATETYPE_FROM_CURRENT.get(e.fields[key], e.fields[key])
    return ParsedTrace(events, problems, "current" if current else "3.x")


def parse_file(path: str, strict: bool = False) -> ParsedTrace:
    """Parse a trace file (plain text, or .xz)."""
    p = Path(path)
    try:
        opener = lzma.open if p.suffix == ".xz" else open
        with opener(p, "rt", errors="replace") as f:
            return parse_lines(f, str(path), strict)
    except (OSError, lzma.LZMAError) as e:
        raise KmemsimError(f"{path}: cannot read the trace: {getattr(e, 'strerror', None) or e}") from None
