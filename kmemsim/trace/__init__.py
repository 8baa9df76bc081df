"""Kernel traces: the tracepoints kmemsim fires (events, tracer, trace_output), ftrace text in
(ftrace: line by line; scan: the compiled reader for long traces), per-process summaries
(report), replay and following of a kernel's trace (replay), annotated call trees (explain).

The tracepoints are kernel code (include/trace/events/kmem.h, compaction.h, vmscan.h, v3.13);
the rest are tools around them.
"""
