"""Reading long kmem traces fast: one compiled pass over the file's bytes into columns.

Not kernel code.  :mod:`kmemsim.trace.ftrace` reads a trace line by line into TraceEvent
objects (every event, every field, ~80,000 lines a second); replaying millions of events
wants the page events as arrays.  :func:`scan_bytes` is a numba-compiled loop over the bytes
that finds, on each line, ``comm-pid [cpu] [flags] seconds: event: fields`` (ftrace's
``trace`` file of 3.x and current kernels, and ``trace-cmd report``) and the fields the
replay needs (pfn, decimal or hexadecimal, order, migratetype, percpu_refill, cold,
alloc_order, fallback_order, alloc/fallback_migratetype, change_ownership, fragmenting, and
the gfp_flags text).  Names (events, comms, gfp masks) are hashed in the loop and resolved
once per distinct name in Python.  The result, :class:`ScannedTrace`, has the same meaning as
a ParsedTrace (3.13's migratetype numbering, problems by line number, marks) and
:meth:`ScannedTrace.parsed` turns it into one, so everything that reads ParsedTrace reads it.
"""

from __future__ import annotations

import lzma
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from kmemsim.errors import KmemsimError

__all__ = ["ScannedTrace", "scan_bytes", "scan_file", "COLUMNS"]

# the numeric fields the scanner reads, in column order after line, ts_ns, cpu, pid
FIELDS = ("pfn", "order", "migratetype", "percpu_refill", "cold", "alloc_order",
          "fallback_order", "alloc_migratetype", "fallback_migratetype", "change_ownership",
          "fragmenting")
COLUMNS = ("line", "ts_ns", "cpu", "pid") + FIELDS + ("null_page",)
_NCOL = len(COLUMNS)
C_LINE, C_TS, C_CPU, C_PID = 0, 1, 2, 3
C_PFN = 4
C_NULL = 4 + len(FIELDS)        # 1: page=(null), a failed allocation
MISSING = -1 << 62              # a field the line does not have

_compiled = None


def _scanner():
    """The compiled scanning loop (numba, cached beside kmemsim's kernel functions; without
    reference counting, as kmemsim's kernel functions: it allocates nothing, and counting the
    byte array's references on every helper call cost a third of the time)."""
    global _compiled
    if _compiled is not None:
        return _compiled
    import numba

    from kmemsim import jit
    numba.config.CACHE_DIR = jit._cache_dir()

    @numba.njit(cache=True, nogil=True, _nrt=False)
    def fnv(b, start, end):
        h = np.uint64(14695981039346656037)
        for j in range(start, end):
            h = (h ^ np.uint64(b[j])) * np.uint64(1099511628211)
        return np.int64(h & np.uint64(0x7FFFFFFFFFFFFFFF))

    @numba.njit(cache=True, nogil=True, _nrt=False)
    def number(b, j, end):
        """(value, next index, ok) of a decimal or 0x hexadecimal number at b[j]."""
        neg = False
        if j < end and b[j] == 45:                          # '-'
            neg = True
            j += 1
        v = np.int64(0)
        start = j
        if j + 1 < end and b[j] == 48 and b[j + 1] == 120:  # '0x'
            j += 2
            start = j
            while j < end:
                c = b[j]
                if 48 <= c <= 57:
                    v = v * 16 + (c - 48)
                elif 97 <= c <= 102:
                    v = v * 16 + (c - 87)
                elif 65 <= c <= 70:
                    v = v * 16 + (c - 55)
                else:
                    break
                j += 1
            return (-v if neg else v), j, j > start, True
        while j < end and 48 <= b[j] <= 57:
            v = v * 10 + (b[j] - 48)
            j += 1
        return (-v if neg else v), j, j > start, False

    @numba.njit(cache=True, nogil=True, _nrt=False)
    def scan(b, names, name_len, out, ev_hash, ev_at, comm_hash, comm_at, gfp_hash, gfp_at,
             problem):
        """Fill one row per event line; returns (rows, problems, hex pfn seen)."""
        n = b.shape[0]
        rows = 0
        nprob = 0
        hexseen = False
        pos = 0
        line = 0
        while pos < n:
            line += 1
            end = pos
            while end < n and b[end] != 10:
                end += 1
            j = pos
            while j < end and b[j] == 32:
                j += 1
            start = pos
            pos = end + 1
            if j >= end or b[j] == 35:                      # empty or '#'
                continue
            if end - j >= 5 and b[j] == 99 and b[j + 1] == 112 and b[j + 2] == 117 and \
                    b[j + 3] == 115 and b[j + 4] == 61:     # 'cpus=' (trace-cmd)
                continue
            # the CPU field "[ddd]"
            k = j
            br = -1
            while k < end:
                if b[k] == 91:
                    m = k + 1
                    while m < end and 48 <= b[m] <= 57:
                        m += 1
                    if m > k + 1 and m < end and b[m] == 93:
                        br = k
                        break
                k += 1
            ok = br > j
            if ok:
                cpu, after, _, _ = number(b, br + 1, end)
                # pid: digits before "[", after a '-', maybe a "(tgid)" between
                m = br - 1
                while m > j and b[m] == 32:
                    m -= 1
                if b[m] == 41:                              # ')': skip "(  tgid)"
                    while m > j and b[m] != 40:
                        m -= 1
                    m -= 1
                    while m > j and b[m] == 32:
                        m -= 1
                dig = m
                while dig > j and 48 <= b[dig] <= 57:
                    dig -= 1
                ok = dig < m and b[dig] == 45
            if ok:
                pid, _, _, _ = number(b, dig + 1, m + 1)
                comm_start = j
                comm_end = dig
                k = after + 1
                while k < end and b[k] == 32:
                    k += 1
                # flags (optional) then "seconds.micro:"
                t = k
                while t < end and b[t] != 32 and b[t] != 58:
                    t += 1
                if t < end and b[t] == 32:                  # a flags column
                    k = t
                    while k < end and b[k] == 32:
                        k += 1
                secs, k, got, _ = number(b, k, end)
                ok = got and k < end and b[k] == 46
            if ok:
                k += 1
                f0 = k
                frac, k, got, _ = number(b, k, end)
                digits = k - f0
                ok = got and k < end and b[k] == 58
            if ok:
                scale = 1
                for _ in range(9 - digits):
                    scale *= 10
                ts = secs * 1000000000 + frac * scale
                k += 1
                while k < end and b[k] == 32:
                    k += 1
                e0 = k
                while k < end and b[k] != 58:
                    k += 1
                ok = k < end and k > e0
            if not ok:
                problem[nprob] = line
                nprob += 1
                continue
            e1 = k
            ev = fnv(b, e0, e1)
            for c in range(out.shape[1]):
                out[rows, c] = MISSING
            out[rows, C_LINE] = line
            out[rows, C_TS] = ts
            out[rows, C_CPU] = cpu
            out[rows, C_PID] = pid
            ev_hash[rows] = ev
            ev_at[rows] = (e0 << 20) | (e1 - e0)
            comm_hash[rows] = fnv(b, comm_start, comm_end)
            comm_at[rows] = (comm_start << 20) | (comm_end - comm_start)
            gfp_hash[rows] = -1
            gfp_at[rows] = 0
            k = e1 + 1
            while k < end:                                  # name=value fields
                while k < end and b[k] == 32:
                    k += 1
                n0 = k
                while k < end and b[k] != 61 and b[k] != 32:
                    k += 1
                if k >= end or b[k] != 61:
                    continue
                nl = k - n0
                k += 1
                v0 = k
                while k < end and b[k] != 32:
                    k += 1
                if nl == 4 and b[n0] == 112 and b[n0 + 1] == 97 and v0 + 1 < k and \
                        b[v0] == 40 and b[v0 + 1] == 110:   # page=(null)
                    out[rows, C_NULL] = 1
                    continue
                if nl == 9 and b[n0] == 103 and b[n0 + 1] == 102 and b[n0 + 2] == 112:
                    gfp_hash[rows] = fnv(b, v0, k)          # gfp_flags
                    gfp_at[rows] = (v0 << 20) | (k - v0)
                    continue
                for f in range(names.shape[0]):
                    if name_len[f] != nl:
                        continue
                    same = True
                    for q in range(nl):
                        if names[f, q] != b[n0 + q]:
                            same = False
                            break
                    if same:
                        if v0 < k and b[v0] == 40:          # "(null)"
                            out[rows, C_PFN + f] = -1
                        else:
                            v, _, got, hx = number(b, v0, k)
                            if got:
                                out[rows, C_PFN + f] = v
                                if hx and f == 0:
                                    hexseen = True
                        break
            rows += 1
        return rows, nprob, hexseen

    _compiled = scan
    return scan


@dataclass
class ScannedTrace:
    """A trace as columns: ``cols[name]`` for each of COLUMNS (MISSING where a line lacks the
    field), ``event`` (names[event[i]]), ``comm`` (comms[comm[i]]), ``gfp_text`` per row
    (None without gfp_flags), problems (line numbers), marks (line, text), dialect."""

    cols: dict
    event: np.ndarray
    names: list
    comm: np.ndarray
    comms: list
    gfp_text: list
    problems: list
    marks: list
    dialect: str
    lines: int = 0
    extra: dict = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.event)

    def counts(self) -> dict:
        found = np.bincount(self.event, minlength=len(self.names))
        return {name: int(found[i]) for i, name in enumerate(self.names) if found[i]}

    def parsed(self, raw: bytes | None = None):
        """The same trace as a kmemsim.trace.ftrace ParsedTrace (page events' fields)."""
        from kmemsim.trace.ftrace import ParsedTrace, TraceEvent
        events = []
        marks = dict(self.marks)
        for i in range(len(self)):
            name = self.names[self.event[i]]
            line = int(self.cols["line"][i])
            fields = {c: int(self.cols[c][i]) for c in FIELDS if self.cols[c][i] != MISSING}
            if self.gfp_text[i] is not None:
                fields["gfp_flags"] = self.gfp_text[i]
            if self.cols["null_page"][i] == 1:
                fields["page"] = "(null)"
            events.append(TraceEvent(line, self.comms[self.comm[i]], int(self.cols["pid"][i]),
                                     int(self.cols["cpu"][i]), self.cols["ts_ns"][i] / 1e9,
                                     name, {} if name == "tracing_mark_write" else fields,
                                     marks.get(line, "")))
        return ParsedTrace(events, [(ln, "not an ftrace event line", "")
                                    for ln in self.problems], self.dialect)


def scan_bytes(data: bytes, where: str = "trace", strict: bool = False) -> ScannedTrace:
    """Scan ftrace text (bytes) into columns."""
    from kmemsim.trace.ftrace import MIGRATETYPE_FROM_CURRENT
    b = np.frombuffer(data, dtype=np.uint8)
    nlines = data.count(b"\n") + 1
    names = np.zeros((len(FIELDS), 24), dtype=np.uint8)
    name_len = np.zeros(len(FIELDS), dtype=np.int64)
    for i, f in enumerate(FIELDS):
        names[i, :len(f)] = np.frombuffer(f.encode(), dtype=np.uint8)
        name_len[i] = len(f)
    out = np.empty((nlines, _NCOL), dtype=np.int64)
    ev_hash = np.empty(nlines, dtype=np.int64)
    ev_at = np.empty(nlines, dtype=np.int64)
    comm_hash = np.empty(nlines, dtype=np.int64)
    comm_at = np.empty(nlines, dtype=np.int64)
    gfp_hash = np.empty(nlines, dtype=np.int64)
    gfp_at = np.empty(nlines, dtype=np.int64)
    problem = np.empty(nlines, dtype=np.int64)
    rows, nprob, hexseen = _scanner()(b, names, name_len, out, ev_hash, ev_at, comm_hash,
                                      comm_at, gfp_hash, gfp_at, problem)
    newlines = None

    def line_text(line: int) -> str:
        nonlocal newlines
        if newlines is None:
            newlines = np.flatnonzero(b == 10)
        start = 0 if line == 1 else int(newlines[line - 2]) + 1
        stop = int(newlines[line - 1]) if line - 1 < len(newlines) else len(data)
        return data[start:stop].decode(errors="replace")
    if strict and nprob:
        line = int(problem[0])
        text = line_text(line).strip()
        raise KmemsimError(f"{where}:{line}: not an ftrace event line: {text[:80]!r} "
                           "(drop --strict to skip such lines)")
    out, ev_hash = out[:rows], ev_hash[:rows]

    def resolve(hashes, at):
        uniq, first, inverse = np.unique(hashes, return_index=True, return_inverse=True)
        texts = []
        for h, i in zip(uniq, first):
            start, length = int(at[i]) >> 20, int(at[i]) & ((1 << 20) - 1)
            texts.append(data[start:start + length].decode(errors="replace").strip())
        return inverse.astype(np.int32), texts, uniq
    event, names_l, _ = resolve(ev_hash, ev_at[:rows])
    comm, comms, _ = resolve(comm_hash[:rows], comm_at[:rows])
    g_inverse, g_texts, g_uniq = resolve(gfp_hash[:rows], gfp_at[:rows])
    gfp_text = [None if g_uniq[g] == -1 else g_texts[g] for g in g_inverse]
    cols = {name: out[:, i] for i, name in enumerate(COLUMNS)}
    dialect = "current" if hexseen else "3.x"
    if hexseen:
        for c in ("migratetype", "alloc_migratetype", "fallback_migratetype"):
            col = cols[c]
            keep = col != MISSING
            col[keep] = np.vectorize(lambda v: MIGRATETYPE_FROM_CURRENT.get(int(v), int(v)),
                                     otypes=[np.int64])(col[keep]) if keep.any() else col[keep]
    marks = []
    if "tracing_mark_write" in names_l:
        w = names_l.index("tracing_mark_write")
        for i in np.flatnonzero(event == w):
            line = int(cols["line"][i])
            text = line_text(line)
            marks.append((line, text.split("tracing_mark_write:", 1)[1].strip()))
    return ScannedTrace(cols, event, names_l, comm, comms, gfp_text,
                        [int(x) for x in problem[:nprob]], marks, dialect, nlines)


def scan_file(path: str, strict: bool = False) -> ScannedTrace:
    """Scan a trace file (plain text, or .xz)."""
    p = Path(path)
    try:
        data = lzma.open(p).read() if p.suffix == ".xz" else p.read_bytes()
    except (OSError, lzma.LZMAError) as e:
        raise KmemsimError(f"{path}: cannot read the trace: {getattr(e, 'strerror', None) or e}") \
            from None
    return scan_bytes(data, str(path), strict)
