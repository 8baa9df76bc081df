"""Being written (issue 4).

Kernel: mm/migrate.c (v3.13).
"""

__all__: list[str] = []
