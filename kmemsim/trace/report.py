"""``kmemsim trace-report``: a kmem trace summarised per process, in the spirit of the kernel's
Documentation/trace/postprocess/trace-pagealloc-postprocess.pl.

Per process (``comm-pid``; ``<...>`` when ftrace did not record the name): page allocations
(mm_page_alloc) and the pages they took, frees (mm_page_free), frees in batches
(mm_page_free_batched), per-CPU list refills (mm_page_alloc_zone_locked with percpu_refill=1)
and drains (mm_page_pcpu_drain), fallbacks into another migratetype's pageblock
(mm_page_alloc_extfrag), the fragmenting ones (fragmenting=1) and those that changed the
pageblock's owner (change_ownership=1).  Then the event counts, the trace_marker lines, and
the lines that could not be read.
"""

from __future__ import annotations

from kmemsim.trace.ftrace import ParsedTrace

__all__ = ["summarise", "render"]

COLUMNS = ("allocs", "pages_allocd", "frees", "batched", "pcp_refills", "pcp_drains",
           "fallbacks", "fragmenting", "owner_changed")


def summarise(trace: ParsedTrace) -> dict:
    """{process: {column: count}}, in order of first appearance."""
    per: dict[str, dict[str, int]] = {}
    for e in trace.events:
        if e.event == "tracing_mark_write":
            continue
        row = per.setdefault(f"{e.comm}-{e.pid}", dict.fromkeys(COLUMNS, 0))
        f = e.fields
        if e.event == "mm_page_alloc":
            row["allocs"] += 1
            row["pages_allocd"] += 1 << f.get("order", 0)
        elif e.event == "mm_page_free":
            row["frees"] += 1
        elif e.event == "mm_page_free_batched":
            row["batched"] += 1
        elif e.event == "mm_page_alloc_zone_locked" and f.get("percpu_refill"):
            row["pcp_refills"] += 1
        elif e.event == "mm_page_pcpu_drain":
            row["pcp_drains"] += 1
        elif e.event == "mm_page_alloc_extfrag":
            row["fallbacks"] += 1
            row["fragmenting"] += f.get("fragmenting", 0)
            row["owner_changed"] += f.get("change_ownership", 0)
    return per


def render(trace: ParsedTrace, name: str = "trace") -> str:
    per = summarise(trace)
    width = max([len("process")] + [len(p) for p in per])
    head = "  ".join(f"{c:>13}" for c in COLUMNS)
    out = [f"{name}: {len(trace.events)} events ({trace.dialect} format), "
           f"{len(trace.problems)} unreadable line{'' if len(trace.problems) == 1 else 's'}\n",
           "\n",
           f"{'process':<{width}}  {head}\n"]
    total = dict.fromkeys(COLUMNS, 0)
    for proc, row in per.items():
        out.append(f"{proc:<{width}}  " + "  ".join(f"{row[c]:>13}" for c in COLUMNS) + "\n")
        for c in COLUMNS:
            total[c] += row[c]
    out.append(f"{'total':<{width}}  " + "  ".join(f"{total[c]:>13}" for c in COLUMNS) + "\n")
    out.append("\nevents\n")
    for event, n in sorted(trace.counts().items(), key=lambda kv: (-kv[1], kv[0])):
        out.append(f"  {event:<28} {n:>9}\n")
    marks = [e for e in trace.events if e.event == "tracing_mark_write"]
    if marks:
        out.append("\nmarks\n")
        out.extend(f"  {e.timestamp:>12.6f}  {e.text}\n" for e in marks)
    if trace.problems:
        shown = ", ".join(str(line) for line, _, _ in trace.problems[:10])
        more = "" if len(trace.problems) <= 10 else f" and {len(trace.problems) - 10} more"
        out.append(f"\nunreadable lines (skipped): {shown}{more}; --strict stops at the first\n")
    return "".join(out)
