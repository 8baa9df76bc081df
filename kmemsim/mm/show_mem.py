"""Being written (issue 4).

Kernel: mm/page_alloc.c show_free_areas, lib/show_mem.c (v3.13).
"""

__all__: list[str] = []
