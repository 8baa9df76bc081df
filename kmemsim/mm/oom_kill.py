"""Being written (issue 4).

Kernel: mm/oom_kill.c (v3.13).
"""

__all__: list[str] = []
