"""Kernel traces: ftrace text in (3.x and current kernels, trace-cmd report) and summaries.

Not kernel code: tools around the kmem tracepoints (include/trace/events/kmem.h, v3.13).
"""
