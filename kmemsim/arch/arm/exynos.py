"""The Arndale Octa board (Samsung Exynos 5420) of the study notes, under Linux 3.13.11 ARM.

Kernel: arch/arm/mm/mmu.c sanity_check_meminfo(), arch/arm/mm/init.c arm_bootmem_free() and
mem_init(), arch/arm/configs/exynos_defconfig (v3.13.11).  docs/arndale-notes.md gives the
source of every number; in short:

* 2 GiB of RAM at physical 0x20000000 (PHYS_OFFSET): pfns 0x20000 to 0xa0000.
* Lowmem ends where the default 240 MiB vmalloc area (plus its 8 MiB guard) begins below
  VMALLOC_END 0xff000000: virtual 0xef800000, physical 0x4f800000 (760 MiB of lowmem).
  ZONE_NORMAL (zone index 0: no ZONE_DMA) is [0x20000, 0x4f800), ZONE_HIGHMEM the rest.
* FLATMEM (contig_page_data), no hugetlb so pageblock_order = MAX_ORDER - 1 = 10, HZ 100,
  NR_CPUS 2, struct page 32 bytes.
* Highmem pages reach the buddy allocator one by one (free_highpages), after the lowmem
  memblock ranges (free_all_bootmem).
* Early reservations: swapper_pg_dir (16 KiB below the kernel), the kernel image (an estimate
  for an exynos_defconfig build), the FLATMEM mem_map (32 bytes per page of the node's span),
  early page tables and the per-cpu areas (estimates, marked so below).
"""

from kmemsim.machine import Machine, Node, Range
from kmemsim.mm.memblock import Memblock, memblock_add, memblock_alloc_range, memblock_reserve

__all__ = ["arndale_machine"]

PHYS_START_PFN = 0x20000
PHYS_END_PFN = 0xA0000
LOWMEM_END_PFN = 0x4F800
STRUCT_PAGE = 32


def arndale_machine(cpus: int = 2) -> Machine:
    mb = Memblock()
    memblock_add(mb, PHYS_START_PFN, PHYS_END_PFN)
    memblock_reserve(mb, PHYS_START_PFN + 4, PHYS_START_PFN + 8, "swapper_pg_dir")
    # kernel image at PHYS_OFFSET + TEXT_OFFSET (0x8000): about 6 MiB for exynos_defconfig
    # (estimate: text + data + bss of a 3.13 exynos_defconfig build)
    memblock_reserve(mb, PHYS_START_PFN + 8, PHYS_START_PFN + 8 + 1536, "kernel (estimate)")
    span = PHYS_END_PFN - PHYS_START_PFN
    memmap_pages = -(-span * STRUCT_PAGE // 4096)
    memblock_alloc_range(mb, memmap_pages, 1, PHYS_START_PFN, LOWMEM_END_PFN, "mem_map")
    memblock_alloc_range(mb, 16, 1, PHYS_START_PFN, LOWMEM_END_PFN,
                         "early page tables (estimate)")
    memblock_alloc_range(mb, 8 * cpus, 1, PHYS_START_PFN, LOWMEM_END_PFN,
                         "percpu (estimate)")
    node = Node(0, {"Normal": Range(PHYS_START_PFN, LOWMEM_END_PFN),
                    "HighMem": Range(LOWMEM_END_PFN, PHYS_END_PFN),
                    "Movable": Range(0, 0)},
                [Range(PHYS_START_PFN, PHYS_END_PFN)], list(mb.reserved))
    return Machine(
        name="arndale",
        description="Arndale Octa (Exynos 5420, Cortex-A15), 2 GiB, Linux 3.13.11 "
                    "exynos_defconfig",
        arch="arm", nodes=[node], cpus=cpus, hz=100, pageblock_order=10,
        memory_model="flatmem", numa=False, cma=False, memory_isolation=False, thp=False,
        dma_reserve=0, highmem_freeing="page_by_page",
        sources={"all": "docs/arndale-notes.md"},
    ).validate()
