"""mm/bootmem.c free_all_bootmem: the bitmap walk 32-bit ARM still uses in 3.13."""

from types import SimpleNamespace

import kmemsim
from kmemsim import jit
from kmemsim.kernel import Kernel
from kmemsim.presets import get_machine


def test_arndale_hands_lowmem_over_in_32_page_words_then_highmem_page_by_page():
    """Lowmem: every fully free, aligned 32-page word at order 5, other free pages at order 0,
    then the 6 bitmap pages; highmem: one order-0 page at a time, ascending."""
    k = Kernel(get_machine("arndale"), "python")
    calls = []
    real = getattr(jit.functions("python"), "__free_pages_bootmem")

    def spy(mem, pfn, order):
        calls.append((int(pfn), int(order)))
        real(mem, pfn, order)
    k.fn = SimpleNamespace(**{**vars(k.fn), "__free_pages_bootmem": spy})
    for stage in ("free_area_init_nodes", "build_all_zonelists", "mem_init"):
        k.run_stage(stage)
    highmem_start = 0x4F800
    low = [c for c in calls if c[0] < highmem_start]
    high = [c for c in calls if c[0] >= highmem_start]
    assert sum(1 for _, o in low if o == 5) == 5899
    assert sum(1 for _, o in low if o == 0) == 41
    assert all(pfn % 32 == 0 for pfn, o in low if o == 5)
    assert high == [(pfn, 0) for pfn in range(highmem_start, 0xA0000)]
    bitmap = k.machine.bootmem_bitmap
    assert low[-6:] == [(pfn, 0) for pfn in range(bitmap.start, bitmap.end)]
    assert [pfn for pfn, _ in low[:-6]] == sorted(pfn for pfn, _ in low[:-6])


def test_arndale_boot_numbers():
    k = kmemsim.boot("arndale")
    assert k.mem.managed_pages[:2].tolist() == [188864, 329728]
    assert "Built 1 zonelists in Zone order, mobility grouping on.  Total pages: 522768" in k.dmesg
    assert k.min_free_kbytes == 3476
    assert k.machine.hz == 200 and k.machine.pageblock_order == 10
    k.check()
