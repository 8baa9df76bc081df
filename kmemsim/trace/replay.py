"""``kmemsim replay``: a real kernel's page trace re-issued through the model, side by side.

Not kernel code.  A trace (kmemsim.trace.ftrace) becomes rows of operations
(kmemsim.sim.replay OP_* columns): each mm_page_alloc an allocation (order, gfp mask,
migratetype, CPU), each mm_page_free a free (an mm_page_free_batched just before it for the
same page says it went through free_hot_cold_page_list, hot or cold), and, for ``follow``, the
zone_locked, extfrag and pcpu_drain events too.  A free is matched to the allocation that
covers its pfn; a free of a page allocated before the trace began is counted and skipped.
The rows run in compiled chunks (progress between chunks) while the model's own tracepoints
record what it did, so the summary compares like with like: events, orders, migratetypes,
zones, refills, drains, fallbacks, in the trace and in the model.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import numpy as np

from kmemsim.errors import KmemsimError
from kmemsim.sim.replay import (GHOST_MISSES, K_ALLOC, K_ALLOC_FAILED, K_DRAIN, K_EXTFRAG,
                                K_FREE, K_ZONE_LOCKED, M_DRAINS, M_FREES, M_FREES_ADOPTED,
                                M_FREES_SKIPPED, M_GHOSTS, M_RETYPED, NR_M, NR_OP_COLS,
                                NR_PATHS, NR_S, OP_ARG, OP_CPU, OP_GFP, OP_KIND, OP_MT, OP_OFF,
                                OP_ORDER, OP_PFN, OP_SLOT, PATH_FALLBACK, PATH_HIGH, PATH_PCP,
                                PATH_REFILL, PATH_REFILL_PAGE, S_EVENTS, S_MATCH,
                                S_NO_PREDICTION, S_NOT_FREE)

__all__ = ["TraceOps", "build_ops", "replay", "follow", "render_replay", "render_follow"]

CHUNK = 1 << 14
PAGE_EVENTS = {"mm_page_alloc": K_ALLOC, "mm_page_free": K_FREE,
               "mm_page_alloc_zone_locked": K_ZONE_LOCKED, "mm_page_alloc_extfrag": K_EXTFRAG,
               "mm_page_pcpu_drain": K_DRAIN}
PATH_NAMES = {PATH_PCP: "per-CPU list hit", PATH_REFILL: "rmqueue_bulk refill",
              PATH_HIGH: "higher order (__rmqueue)", PATH_FALLBACK: "fallback (extfrag)"}


@dataclass
class TraceOps:
    """A trace as operation rows, with what the trace itself says about them."""

    ops: np.ndarray                 # int64[n, NR_OP_COLS]
    dialect: str
    problems: int
    skipped_frees: int              # frees of pages allocated before the trace began
    trace_counts: dict = field(default_factory=dict)   # event name -> count
    fallbacks: tuple = (0, 0, 0)    # extfrag events, fragmenting, changed owner
    marks: list = field(default_factory=list)    # (row, text) of each trace_marker line


def _gfp_of(text, lineno: int, where: str) -> int:
    from kmemsim.trace.ftrace import gfp_from_trace
    return gfp_from_trace(text, f"{where}:{lineno}")


def _records_of_parsed(parsed):
    """(event, line, cpu, pfn, order, migratetype, gfp text, percpu_refill, cold, alloc_order,
    alloc_migratetype, fragmenting, change_ownership, page is NULL, mark text) per event."""
    for e in parsed.events:
        f = e.fields
        yield (e.event, e.line, e.cpu, f.get("pfn", -1), f.get("order", 0),
               f.get("migratetype", 0), f.get("gfp_flags"), f.get("percpu_refill", 0),
               f.get("cold", 0), f.get("alloc_order", 0), f.get("alloc_migratetype", 0),
               f.get("fragmenting", 0), f.get("change_ownership", 0), f.get("page") == "(null)",
               e.text)


def _records_of_scanned(t):
    """The same records from a kmemsim.trace.scan ScannedTrace (its columns, no objects)."""
    from kmemsim.trace.scan import MISSING
    c = t.cols

    def col(name, default):
        v = c[name]
        return np.where(v == MISSING, default, v).tolist()
    names = [t.names[e] for e in t.event.tolist()]
    marks = dict(t.marks)
    lines = c["line"].tolist()
    pfn = col("pfn", -1)
    null = (c["null_page"] == 1).tolist()
    return zip(names, lines, c["cpu"].tolist(), pfn, col("order", 0), col("migratetype", 0),
               t.gfp_text, col("percpu_refill", 0), col("cold", 0), col("alloc_order", 0),
               col("alloc_migratetype", 0), col("fragmenting", 0), col("change_ownership", 0),
               null, [marks.get(line, "") for line in lines])


def build_ops(trace, where: str = "trace") -> TraceOps:
    """Rows of operations from a ParsedTrace (kmemsim.trace.ftrace) or a ScannedTrace
    (kmemsim.trace.scan, the fast reader)."""
    from kmemsim.trace.scan import ScannedTrace
    scanned = isinstance(trace, ScannedTrace)
    records = _records_of_scanned(trace) if scanned else _records_of_parsed(trace)
    rows = []
    live: dict[int, tuple[int, int]] = {}      # pfn -> (row of its allocation, block start)
    batched: dict[int, int] = {}               # pfn -> cold, of an mm_page_free_batched
    last_free: dict[int, int] = {}             # pfn -> its latest free row (current kernels
                                               # trace the batched event after the free)
    skipped = 0
    counts: dict[str, int] = {}
    frag = [0, 0, 0]
    gfp_cache: dict[str, int] = {}
    marks = []
    current = trace.dialect == "current"       # 3.13 traces the batched event before the free
    for (event, line, cpu, pfn, order, mt, gfp, refill, cold, alloc_order, alloc_mt, fragmenting,
         owner, null, text) in records:
        counts[event] = counts.get(event, 0) + 1
        if event == "tracing_mark_write":
            marks.append((len(rows), text.strip()))
            continue
        if event == "mm_page_free_batched":
            row = last_free.pop(pfn, None) if current else None
            if row is not None and rows[row][OP_ARG] == 0:
                rows[row][OP_ARG] = 1 + cold
            else:
                batched[pfn] = cold
            continue
        kind = PAGE_EVENTS.get(event)
        if kind is None:
            continue
        row = [kind, cpu, pfn, order, 0, mt, -1, 0, 0]
        if kind == K_ALLOC:
            g = gfp or "GFP_NOWAIT"
            if g not in gfp_cache:
                gfp_cache[g] = _gfp_of(g, line, where)
            row[OP_GFP] = gfp_cache[g]
            if null or pfn < 0:
                row[OP_KIND] = K_ALLOC_FAILED
            else:
                here = len(rows)
                for p in range(pfn, pfn + (1 << order)):
                    live[p] = (here, pfn)
        elif kind == K_FREE:
            hit = live.get(pfn)
            if hit is None:
                skipped += 1
            else:
                row[OP_SLOT], row[OP_OFF] = hit[0], pfn - hit[1]
                for p in range(pfn, pfn + (1 << order)):
                    live.pop(p, None)
            if order == 0 and pfn in batched:
                row[OP_ARG] = 1 + batched.pop(pfn)
            elif order == 0:
                last_free[pfn] = len(rows)
        elif kind == K_ZONE_LOCKED:
            row[OP_ARG] = refill
        elif kind == K_EXTFRAG:
            frag[0] += 1
            frag[1] += fragmenting
            frag[2] += owner
            row[OP_ORDER] = alloc_order
            row[OP_MT] = alloc_mt
        rows.append(row)
    ops = np.array(rows, dtype=np.int64).reshape(-1, NR_OP_COLS)
    _fill_from_allocations(ops)
    return TraceOps(ops, trace.dialect, len(trace.problems), skipped, counts, tuple(frag),
                    marks)


def _fill_from_allocations(ops: np.ndarray) -> None:
    """A zone_locked event prints neither the gfp mask (a refill's list order depends on
    __GFP_COLD) nor the migratetype asked for (it prints MIGRATE_RESERVE when __rmqueue fell
    back to the reserve): give each zone_locked row the mask (OP_GFP) and migratetype
    (OP_OFF) of the allocation it served, the next mm_page_alloc on its CPU."""
    following: dict[int, tuple[int, int]] = {}
    for i in range(len(ops) - 1, -1, -1):
        kind, cpu = int(ops[i, OP_KIND]), int(ops[i, OP_CPU])
        if kind in (K_ALLOC, K_ALLOC_FAILED):
            following[cpu] = int(ops[i, OP_GFP]), int(ops[i, OP_MT])
        elif kind == K_ZONE_LOCKED:
            ops[i, OP_GFP], ops[i, OP_OFF] = following.get(cpu, (0, int(ops[i, OP_MT])))


def _check_machine(k, t: TraceOps) -> None:
    from kmemsim.mm.mmzone import CFG_NR_PFNS
    ops = t.ops
    if len(ops) == 0:
        raise KmemsimError("the trace has no page events (mm_page_alloc, mm_page_free ...): "
                           "record it with the kmem events enabled")
    top_cpu = int(ops[:, OP_CPU].max())
    if top_cpu >= k.machine.cpus:
        raise KmemsimError(f"the trace ran on CPU {top_cpu} but the machine has "
                           f"{k.machine.cpus}: use --cpus {top_cpu + 1}")
    top = int(ops[:, OP_PFN].max())
    if top >= int(k.mem.cfg[CFG_NR_PFNS]):
        raise KmemsimError(f"the trace has pfn {top}, beyond this machine's memory: use the "
                           "machine and --mem the trace was recorded on")


def _zone_names(k, pfns: np.ndarray) -> list[str]:
    return [k.zone_name(int(k.fn.page_zone_id(k.mem, int(p)))) for p in pfns]


def _progress(done: int, total: int, what: str, show: bool) -> None:
    if show:
        print(f"\r{what}: {done}/{total} events ({100 * done // max(total, 1)}%)",
              end="" if done < total else "\n", file=sys.stderr, flush=True)


def _run_chunks(k, total: int, step, what: str, progress: bool | None):
    show = sys.stderr.isatty() if progress is None else progress
    for first in range(0, total, CHUNK):
        last = min(total, first + CHUNK)
        step(first, last)
        if k.tracer is not None:
            k.tracer.drain()
        _progress(last, total, what, show and total > CHUNK)


def _held(k) -> np.ndarray:
    """The Kernel's record of the blocks replays hold (the validators count them):
    ``k.trace_held[pfn]`` is a held block's order, -1 elsewhere."""
    from kmemsim.mm.mmzone import CFG_NR_PFNS
    if k.trace_held is None:
        k.trace_held = np.full(int(k.mem.cfg[CFG_NR_PFNS]), -1, dtype=np.int64)
    return k.trace_held


def replay(k, t: TraceOps, progress: bool | None = None) -> dict:
    """Re-issue the trace's allocations and frees through the model (kmemsim.sim.replay
    replay_ops); returns the model's side of the summary."""
    _check_machine(k, t)
    tracer = k.trace_start("kmem:mm_page_*", rows=1 << 20)
    res = np.full(len(t.ops), -1, dtype=np.int64)
    failures = [0, 0]

    owned = _held(k)

    def step(first, last):
        f, u = k.fn.replay_ops(k.mem, t.ops, first, last, res, owned)
        failures[0] += int(f)
        failures[1] += int(u)
    _run_chunks(k, len(t.ops), step, "replay", progress)
    k.trace_stop()
    return {"res": res, "failures": failures[0], "unheld": failures[1], "tracer": tracer}


def follow(k, t: TraceOps, progress: bool | None = None) -> dict:
    """Keep the model in step with the trace (kmemsim.sim.replay follow_ops); returns the
    per-path statistics."""
    from kmemsim.mm.mmzone import CFG_NR_PFNS
    _check_machine(k, t)
    tracer = k.trace_start("kmem:mm_page_*", rows=1 << 20)
    n = int(k.mem.cfg[CFG_NR_PFNS])
    state = np.zeros((k.machine.cpus, 6), dtype=np.int64)
    state[:, 2] = -1
    stats = np.zeros((NR_PATHS, NR_S), dtype=np.int64)
    misc = np.zeros(NR_M, dtype=np.int64)
    owned = _held(k)
    alias = np.full(n, -1, dtype=np.int64)
    pred = np.full((len(t.ops), 2), -1, dtype=np.int64)

    missed = np.zeros(n, dtype=np.int64)

    def step(first, last):
        k.fn.follow_ops(k.mem, t.ops, first, last, state, stats, misc, owned, alias, pred,
                        missed)
    _run_chunks(k, len(t.ops), step, "follow", progress)
    k.trace_stop()
    return {"stats": stats, "misc": misc, "tracer": tracer, "pred": pred}


# ---- the summaries -------------------------------------------------------------------------
def _model_counts(tracer) -> dict:
    from kmemsim.trace.events import EVENT_IDS, TR_F0
    recs = tracer.records()
    ev = recs[:, 0]
    zl = recs[ev == EVENT_IDS["mm_page_alloc_zone_locked"]]
    ef = recs[ev == EVENT_IDS["mm_page_alloc_extfrag"]]
    return {"refills": int(np.sum(zl[:, TR_F0 + 1] == 0)),
            "drains": int(np.sum(ev == EVENT_IDS["mm_page_pcpu_drain"])),
            "fallbacks": len(ef),
            "fragmenting": int(np.sum(ef[:, TR_F0 + 2] < tracer.k.machine.pageblock_order)),
            "owner": int(np.sum(ef[:, TR_F0 + 5])),
            "batched": int(np.sum(ev == EVENT_IDS["mm_page_free_batched"])),
            "frees": int(np.sum(ev == EVENT_IDS["mm_page_free"]))}


def _row(label: str, a, b) -> str:
    return f"  {label:<34}{a!s:>12}{b!s:>12}\n"


def render_replay(k, t: TraceOps, r: dict, name: str) -> str:
    from kmemsim.mm.mmzone import migratetype_names
    ops, res = t.ops, r["res"]
    allocs = ops[:, OP_KIND] == K_ALLOC
    failed_in_trace = ops[:, OP_KIND] == K_ALLOC_FAILED
    got = allocs & (res >= 0)
    m = _model_counts(r["tracer"])
    tc = t.trace_counts
    out = [f"{name}: {len(ops)} page events ({t.dialect} format), {t.problems} unreadable "
           f"line{'' if t.problems == 1 else 's'}; replayed on {k.machine.name} "
           f"({k.mode})\n\n", f"  {'':<34}{'trace':>12}{'kmemsim':>12}\n"]
    out.append(_row("allocations", int(allocs.sum() + failed_in_trace.sum()),
                    int(allocs.sum() + failed_in_trace.sum())))
    out.append(_row("  failed", int(failed_in_trace.sum()), int(r["failures"])))
    out.append(_row("pages allocated", int((1 << ops[allocs, OP_ORDER]).sum()),
                    int((1 << ops[got, OP_ORDER]).sum())))
    out.append(_row("frees", tc.get("mm_page_free", 0), m["frees"]))
    out.append(_row("  of pages from before the trace", t.skipped_frees, "skipped"))
    slots = ops[(ops[:, OP_KIND] == K_FREE) & (ops[:, OP_SLOT] >= 0), OP_SLOT]
    lost = int(np.sum(res[slots] == -1))
    if lost:
        out.append(_row("  of allocations the model failed", "", lost))
    if r["unheld"]:
        out.append(_row("  of pages the model no longer held", "", r["unheld"]))
    out.append(_row("  in batches (free_batched)", tc.get("mm_page_free_batched", 0),
                    m["batched"]))
    orders = ops[allocs, OP_ORDER]
    for o in sorted(set(orders.tolist())):
        out.append(_row(f"order {o}", int((orders == o).sum()),
                        int((ops[got, OP_ORDER] == o).sum())))
    names = migratetype_names(k.machine.cma, k.machine.memory_isolation)
    mts = ops[allocs, OP_MT]
    for mt in sorted(set(mts.tolist())):
        out.append(_row(f"migratetype {names[mt] if mt < len(names) else mt}",
                        int((mts == mt).sum()), int((ops[got, OP_MT] == mt).sum())))
    tz = _zone_names(k, ops[allocs, OP_PFN])
    mz = _zone_names(k, res[got])
    for z in dict.fromkeys(tz + mz):
        out.append(_row(f"zone {z}", tz.count(z), mz.count(z)))
    out.append(_row("per-CPU list refills (pages)",
                    int(((ops[:, OP_KIND] == K_ZONE_LOCKED) & (ops[:, OP_ARG] == 1)).sum()),
                    m["refills"]))
    out.append(_row("per-CPU list drains (pages)", tc.get("mm_page_pcpu_drain", 0),
                    m["drains"]))
    out.append(_row("fallbacks (extfrag)", t.fallbacks[0], m["fallbacks"]))
    out.append(_row("  fragmenting", t.fallbacks[1], m["fragmenting"]))
    out.append(_row("  changed the pageblock's owner", t.fallbacks[2], m["owner"]))
    out.append("\n# /proc/buddyinfo of the model after the replay\n")
    out.append(k.show("buddyinfo"))
    return "".join(out)


def _by_phase(t: TraceOps, pred: np.ndarray) -> list[str]:
    """Agreement of the allocations between consecutive trace_marker lines."""
    ops = t.ops
    is_alloc = ops[:, OP_KIND] == K_ALLOC
    same = is_alloc & (pred[:, 0] == ops[:, OP_PFN])
    bounds = [(0, "(trace start)")] + list(t.marks) + [(len(ops), "")]
    out = []
    for (start, label), (end, _) in zip(bounds, bounds[1:]):
        n, hit = int(is_alloc[start:end].sum()), int(same[start:end].sum())
        if n:
            out.append(f"  {label[:44]:<46}{n:>8}{hit:>8}{100 * hit / n:>7.1f}%\n")
    return out


def render_follow(k, t: TraceOps, r: dict, name: str) -> str:
    stats, misc = r["stats"], r["misc"]
    out = [f"{name}: {len(t.ops)} page events ({t.dialect} format), {t.problems} unreadable "
           f"line{'' if t.problems == 1 else 's'}; followed on {k.machine.name} ({k.mode})\n\n",
           "The model predicts each block before it takes the kernel's:\n\n",
           f"  {'path':<28}{'allocations':>12}{'same pfn':>10}{'share':>8}"
           f"{'not free':>10}{'no block':>10}\n"]

    def line(label, row):
        n, hit = int(row[S_EVENTS]), int(row[S_MATCH])
        share = f"{100 * hit / n:.1f}%" if n else "-"
        return (f"  {label:<28}{n:>12}{hit:>10}{share:>8}{int(row[S_NOT_FREE]):>10}"
                f"{int(row[S_NO_PREDICTION]):>10}\n")
    for p in (PATH_PCP, PATH_REFILL, PATH_HIGH, PATH_FALLBACK):
        out.append(line(PATH_NAMES[p], stats[p]))
    out.append(line("all allocations", stats[:PATH_REFILL_PAGE].sum(axis=0)))
    out.append(line("pages a refill listed", stats[PATH_REFILL_PAGE]))
    if t.marks:
        out.append("\nBetween the trace's marks (allocations, same pfn):\n\n")
        out.extend(_by_phase(t, r["pred"]))
    m = _model_counts(r["tracer"])
    out.append("\n")
    out.append(f"  frees applied {int(misc[M_FREES])} ({int(misc[M_FREES_ADOPTED])} of pages "
               f"allocated before the trace, taken over), skipped {int(misc[M_FREES_SKIPPED])} "
               f"(pages the model itself holds)\n")
    out.append(f"  per-CPU drains: trace {int(misc[M_DRAINS])}, model {m['drains']}\n")
    out.append(f"  pageblocks whose migratetype the model took from the trace: "
               f"{int(misc[M_RETYPED])}\n")
    out.append(f"  blocks the model judged allocated in the kernel (offered {GHOST_MISSES} times "
               f"in a row, never taken): {int(misc[M_GHOSTS])}\n")
    out.append(f"  fallbacks (extfrag): trace {t.fallbacks[0]} (fragmenting {t.fallbacks[1]}, "
               f"changed owner {t.fallbacks[2]}), model's own __rmqueue {m['fallbacks']} "
               f"(fragmenting {m['fragmenting']}, changed owner {m['owner']})\n")
    tz = _zone_names(k, t.ops[t.ops[:, OP_KIND] == K_ALLOC, OP_PFN])
    split = ", ".join(f"{z} {tz.count(z)} ({100 * tz.count(z) / len(tz):.1f}%)"
                      for z in dict.fromkeys(tz)) if tz else "-"
    out.append(f"  zone split of the kernel's allocations: {split}\n")
    out.append("\n# /proc/buddyinfo of the model after following\n")
    out.append(k.show("buddyinfo"))
    return "".join(out)
