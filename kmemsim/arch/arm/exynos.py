"""The Arndale Octa board (Samsung Exynos 5420, 2 GiB) under Linux 3.13.11 exynos_defconfig.

Kernel: arch/arm/kernel/setup.c setup_arch(), arch/arm/mm/init.c arm_memblock_init(),
bootmem_init() and mem_init(), arch/arm/mm/mmu.c sanity_check_meminfo() and paging_init(),
mm/bootmem.c, mm/sparse.c, mm/percpu.c, init/main.c start_kernel() (v3.13.11).

docs/arndale-notes.md gives the source of every number ([src] read in the tree, [cfg] from
``make ARCH=arm exynos_defconfig`` and probes, [est] estimated); section numbers below are the
notes'.  In short:

* RAM: the SMDK5420 device tree's one 2 GiB bank at 0x20000000 = PHYS_OFFSET (no Arndale Octa
  DTS exists in 3.13.11): pfns 0x20000 to 0xa0000, no holes (§1).
* Zones: lowmem ends where the default 240 MiB vmalloc area and its 8 MiB guard begin,
  physical 0x4f800000; ZONE_NORMAL (index 0, no ZONE_DMA) [0x20000, 0x4f800), ZONE_HIGHMEM
  [0x4f800, 0xa0000), ZONE_MOVABLE empty (§3).
* Configuration (§2, §7): SPARSEMEM, HZ 200, NR_CPUS 2, pageblock_order 10, 4 migratetypes
  (no CMA, no memory isolation), no THP, dma_reserve 0 (§6), struct page 32 bytes,
  CONFIG_NO_BOOTMEM off: memory reaches the buddy allocator through mm/bootmem.c, then highmem
  page by page (free_highpages) (§4).
* Reservations (§5): memblock's (swapper_pg_dir, the kernel image [est], the DTB [size from
  the in-tree build, place unknown], and, top-down at the end of lowmem, the vectors, early
  page tables, static_vm records, zero page and the bootmem bitmap), then bootmem's, bottom-up,
  replayed in the kernel's order with :mod:`kmemsim.mm.bootmem`: the section root, the usemaps,
  the 8 section mem_maps, the zone wait tables, the RAM resource, the unflattened device tree
  [est], the command lines, the first per-cpu chunk [est: static size] and the PID, dentry and
  inode hash tables.  The init sections [est] are given back at free_initmem.
"""

from __future__ import annotations

from kmemsim.errors import KmemsimError
from kmemsim.machine import Machine, Node, Range
from kmemsim.mm.bootmem import (alloc_bootmem, bootmem_bootmap_pages, bootmem_reserved_ranges,
                                free_bootmem, init_bootmem_node, reserve_bootmem)
from kmemsim.mm.memblock import (Memblock, memblock_add, memblock_alloc_range, memblock_free,
                                 memblock_reserve)
from kmemsim.mm.mmzone import PAGE_SHIFT, PAGE_SIZE

__all__ = ["arndale_machine"]

KiB = 1024

# physical layout (§1, §3)
PHYS_OFFSET = 0x20000000
PAGE_OFFSET = 0xC0000000
PHYS_START_PFN = 0x20000
PHYS_END_PFN = 0xA0000
LOWMEM_END_PFN = 0x4F800                 # arm_lowmem_limit 0x4f800000 = max_low_pfn
SECTION_SIZE_BITS = 28                   # mach-exynos/include/mach/memory.h (§2)
MAX_PHYSMEM_BITS = 32
PAGES_PER_SECTION = 1 << (SECTION_SIZE_BITS - PAGE_SHIFT)
NR_MEM_SECTIONS = 1 << (MAX_PHYSMEM_BITS - SECTION_SIZE_BITS)
PAGEBLOCK_ORDER = 10
NR_PAGEBLOCK_BITS = 4
STRUCT_PAGE = 32                         # sizeof(struct page), probe (§2)
NR_CPUS = 2

# the kernel image of a gcc-12 exynos_defconfig build (§5 #2, [est] +-10 %): virtual addresses
_STEXT = 0xC0008200
INIT_BEGIN = 0xC04C4000
INIT_END = 0xC04FBD00
_END = 0xC0577BE0
SWAPPER_PG_DIR = PAGE_OFFSET + 0x8000 - 0x4000   # TEXT_OFFSET - 16 KiB, 16 KiB long (§5 #1)
DTB_BYTES = 17470                        # the in-tree SMDK5420 DTB's totalsize (§1)

# early_alloc()s of paging_init, in call order (§5 #7-#10): (pages, alignment in pages, name)
EARLY_ALLOCS = (
    (2, 2, "vectors page pair"),                             # devicemaps_init
    (1, 1, "L2 page table: vectors/fixmap"),                 # create_mapping(0xffff0000)
    (1, 1, "static_vm records"),             # first iotable_init(); later records pack in
    (1, 1, "L2 page table: chipid/CMU/PMU I/O"),             # exynos_init_io, exynos5_map_io
    (1, 1, "L2 page table: SYS I/O"),
    (1, 1, "L2 page table: TIMER I/O"),
    (1, 1, "L2 page table: WDT I/O"),
    (1, 1, "L2 page table: SYSRAM/SROMC I/O"),
    (1, 1, "L2 page table: pkmap"),                          # kmap_init
    (1, 1, "zero page"),                                     # paging_init
)

SMP_CACHE_BYTES = 64                     # L1_CACHE_BYTES (§7): alloc_bootmem()'s alignment
WAITQUEUE_BYTES = 24                     # sizeof(wait_queue_head_t), DEBUG_SPINLOCK (§2)
PAGES_PER_WAITQUEUE = 256
RESOURCE_BYTES = 28                      # struct resource, 32-bit
UNFLATTENED_DT_BYTES = 33485             # ~32.7 KiB, fdt.c sizing of the DTB (§5 #17) [est]
DT_ALIAS_STEMS = ("pinctrl",) * 5 + ("i2c",) * 4      # exynos5420.dtsi /aliases
ALIAS_PROP_BYTES = 20                    # struct alias_prop, 32-bit, without its stem
BOOTARGS = "console=ttySAC2,115200 init=/linuxrc"   # SMDK5420 bootargs (§2 CMDLINE)
PERCPU_STATIC = 7424                     # __per_cpu_end - __per_cpu_start, gcc-12 build [est]
PERCPU_MODULE_RESERVE = 8 * KiB
PERCPU_DYNAMIC_RESERVE = 12 * KiB        # 32-bit value; also PERCPU_DYNAMIC_EARLY_SIZE
PCPU_MIN_UNIT_SIZE = 32 * KiB
PCPU_CHUNK_BYTES = 40                    # sizeof(struct pcpu_chunk) on 32-bit
PCPU_ALLOC_INFO_BYTES = 32 + 12          # struct pcpu_alloc_info + one pcpu_group_info
HASH_BUCKET_BYTES = 4                    # hlist_head / hlist_bl_head: one pointer


def _pa(virt: int) -> int:
    return virt - PAGE_OFFSET + PHYS_OFFSET


def _pfn_up(addr: int) -> int:
    return -(-addr // PAGE_SIZE)


def _memmap_pages(pages: int) -> int:
    """calc_memmap_size() of a zone without holes: its struct pages, in pages."""
    return _pfn_up(pages * STRUCT_PAGE)


def _wait_table_bytes(pages: int) -> int:
    """mm/page_alloc.c wait_table_hash_nr_entries() x sizeof(wait_queue_head_t)."""
    entries = max(1, pages // PAGES_PER_WAITQUEUE)
    entries = min(4096, 1 << (entries - 1).bit_length())
    return entries * WAITQUEUE_BYTES


def _hash_bytes(nr_kernel_pages: int, nr_all_pages: int, scale: int, high_limit: int = 0,
                small_shift: int = -1) -> int:
    """mm/page_alloc.c alloc_large_system_hash() sizing, for tables of one-pointer buckets:
    one bucket per 2^scale bytes of lowmem, a power of two, within the limits."""
    n = -(-nr_kernel_pages // 256) * 256              # round up to a MiB of pages
    n = n >> (scale - PAGE_SHIFT) if scale > PAGE_SHIFT else n << (PAGE_SHIFT - scale)
    if small_shift >= 0:
        if not n >> small_shift:
            n = 1 << small_shift
    elif n * HASH_BUCKET_BYTES < PAGE_SIZE:
        n = PAGE_SIZE // HASH_BUCKET_BYTES
    n = 1 << max(0, (n - 1).bit_length())
    limit = high_limit or (nr_all_pages << PAGE_SHIFT >> 4) // HASH_BUCKET_BYTES
    n = min(n, limit, 0x80000000)
    return HASH_BUCKET_BYTES << (n.bit_length() - 1)


def arndale_machine(cpus: int = NR_CPUS) -> Machine:
    """The arndale preset: ``cpus`` is nr_cpu_ids (exynos_defconfig's NR_CPUS is 2)."""
    if not 1 <= cpus <= NR_CPUS:
        raise KmemsimError(f"--cpus {cpus}: exynos_defconfig builds with NR_CPUS={NR_CPUS}; "
                           f"use 1..{NR_CPUS}")
    mb = Memblock()
    memblock_add(mb, PHYS_START_PFN, PHYS_END_PFN)     # one region: the two banks merge (§1)

    # arm_memblock_init(): the kernel image _stext.._end as one region, split here so that the
    # init sections (whole pages, as free_initmem_default frees them) go back at free_initmem
    stext, init_lo = _pa(_STEXT) >> PAGE_SHIFT, _pfn_up(_pa(INIT_BEGIN))
    init_hi, end = _pa(INIT_END) >> PAGE_SHIFT, _pfn_up(_pa(_END))
    memblock_reserve(mb, stext, init_lo, "kernel text and rodata (estimate)")
    memblock_reserve(mb, init_lo, init_hi, "unused kernel", "free_initmem",
                     PAGE_OFFSET - PHYS_OFFSET)
    memblock_reserve(mb, init_hi, end, "kernel data and bss (estimate)")
    # arm_mm_memblock_reserve(): the initial page directory, 16 KiB below the kernel
    memblock_reserve(mb, _pa(SWAPPER_PG_DIR) >> PAGE_SHIFT, (_pa(SWAPPER_PG_DIR) + 16 * KiB)
                     >> PAGE_SHIFT, "swapper_pg_dir")
    # arm_dt_memblock_reserve(): the bootloader chooses where the DTB sits and the notes do not
    # know; assumed here in the first pages after the kernel image (in lowmem, which is what
    # matters for the counts; elsewhere it would only move the bootmem allocations below)
    memblock_reserve(mb, end, end + _pfn_up(DTB_BYTES), "DTB")
    # exynos5_reserve (no samsung,mfc-v6 node) and dma_contiguous_reserve (no CMA): nothing

    # paging_init(): early_alloc() takes memblock memory top-down below arm_lowmem_limit
    for pages, align, name in EARLY_ALLOCS:
        memblock_alloc_range(mb, pages, align, PHYS_START_PFN, LOWMEM_END_PFN, name)

    # bootmem_init() -> arm_bootmem_init(): the bitmap (lowmem only), then bootmem gets the
    # lowmem memblock memory and re-reserves every memblock reservation in whole pages
    lowmem_pages = LOWMEM_END_PFN - PHYS_START_PFN
    bitmap = memblock_alloc_range(mb, bootmem_bootmap_pages(lowmem_pages), 1, PHYS_START_PFN,
                                  LOWMEM_END_PFN, "bootmem bitmap")
    bd = init_bootmem_node(PHYS_START_PFN, LOWMEM_END_PFN)
    for r, _ in mb.memory:
        s, e = r.start, min(r.end, LOWMEM_END_PFN)
        if s < e:
            free_bootmem(bd, s << PAGE_SHIFT, (e - s) << PAGE_SHIFT)
    for r in mb.reserved:
        e = min(r.end, LOWMEM_END_PFN)
        if r.start < e:
            reserve_bootmem(bd, r.start << PAGE_SHIFT, (e - r.start) << PAGE_SHIFT)

    # From here every allocation is bootmem's.  Their goal, __pa(MAX_DMA_ADDRESS) (0xffffffff
    # without ZONE_DMA), lies above lowmem and is dropped: bottom-up from the hint (§5).
    def alloc(size: int, name: str, align: int = SMP_CACHE_BYTES) -> int:
        return alloc_bootmem(bd, size, align, name)

    # arm_memory_present() -> memory_present(): the SPARSEMEM_EXTREME root (512 mem_sections)
    alloc(PAGE_SIZE, "mem_section root")
    # sparse_init(): usemap_map, the usemaps of all present sections together, one mem_map per
    # present section, then usemap_map freed (sub-page: no page comes back)
    first_sec = PHYS_START_PFN // PAGES_PER_SECTION
    nr_sections = -(-PHYS_END_PFN // PAGES_PER_SECTION) - first_sec
    usemap_map = alloc(4 * NR_MEM_SECTIONS, "usemap_map")
    usemap_bits = (PAGES_PER_SECTION >> PAGEBLOCK_ORDER) * NR_PAGEBLOCK_BITS
    usemap_bytes = -(-usemap_bits // 32) * 4                      # usemap_size(): whole longs
    alloc(usemap_bytes * nr_sections, "usemaps")
    for sec in range(first_sec, first_sec + nr_sections):
        alloc(PAGES_PER_SECTION * STRUCT_PAGE, f"mem_map (section {sec})", PAGE_SIZE)
    free_bootmem(bd, usemap_map, 4 * NR_MEM_SECTIONS)
    # arm_bootmem_free() -> free_area_init_node(): the zone wait tables
    normal_pages, high_pages = lowmem_pages, PHYS_END_PFN - LOWMEM_END_PFN
    alloc(_wait_table_bytes(normal_pages), "Normal wait table")
    alloc(_wait_table_bytes(high_pages), "HighMem wait table")
    # setup_arch(): request_standard_resources(), unflatten_device_tree()
    alloc(RESOURCE_BYTES, "RAM resource")
    alloc(UNFLATTENED_DT_BYTES + 4, "unflattened DT (estimate)", 4)
    for stem in DT_ALIAS_STEMS:                          # of_alias_scan(): one alias_prop each
        alloc(ALIAS_PROP_BYTES + len(stem) + 1, "DT aliases", 4)
    # start_kernel(): setup_command_line(), three copies of the command line
    for name in ("saved_command_line", "initcall_command_line", "static_command_line"):
        alloc(len(BOOTARGS) + 1, name)
    # setup_per_cpu_areas() -> pcpu_embed_first_chunk(): alloc info, areas, one group of
    # ``cpus`` units, each unit's unused tail freed, then pcpu_setup_first_chunk()'s tables;
    # the alloc info and areas pages are freed at the end
    size_sum = _pfn_up(PERCPU_STATIC + PERCPU_MODULE_RESERVE + PERCPU_DYNAMIC_RESERVE) * PAGE_SIZE
    unit = _pfn_up(max(size_sum, PCPU_MIN_UNIT_SIZE)) * PAGE_SIZE
    ai_size = _pfn_up(PCPU_ALLOC_INFO_BYTES + 4 * cpus) * PAGE_SIZE
    ai = alloc(ai_size, "percpu alloc info")
    areas = alloc(PAGE_SIZE, "percpu areas")
    group = alloc(cpus * unit, "percpu first chunk (estimate)", PAGE_SIZE)
    for u in range(cpus):
        free_bootmem(bd, group + u * unit + size_sum, unit - size_sum)
    unit_pages = unit >> PAGE_SHIFT
    chunk = PCPU_CHUNK_BYTES + 4 * -(-unit_pages // 32)
    nr_slots = max(unit.bit_length() - 5 + 2, 1) + 2
    for size, name in ((4, "pcpu_group_offsets"), (4, "pcpu_group_sizes"),
                       (4 * cpus, "pcpu_unit_map"), (4 * cpus, "pcpu_unit_offsets"),
                       (8 * nr_slots, "pcpu_slot"), (chunk, "percpu static chunk"),
                       (chunk, "percpu dynamic chunk")):
        alloc(size, name)
    free_bootmem(bd, ai, ai_size)
    free_bootmem(bd, areas, PAGE_SIZE)
    # pidhash_init(), vfs_caches_init_early(): HASH_EARLY tables sized by nr_kernel_pages
    # (free_area_init_core: Normal's pages less its memmap, less HighMem's memmap)
    nr_kernel_pages = normal_pages - _memmap_pages(normal_pages) - _memmap_pages(high_pages)
    nr_all_pages = (normal_pages - _memmap_pages(normal_pages)
                    + high_pages - _memmap_pages(high_pages))
    alloc(_hash_bytes(nr_kernel_pages, nr_all_pages, 18, 4096, small_shift=4), "PID hash")
    alloc(_hash_bytes(nr_kernel_pages, nr_all_pages, 13), "Dentry cache hash")
    alloc(_hash_bytes(nr_kernel_pages, nr_all_pages, 14), "Inode-cache hash")

    # what mem_init finds: memblock's reservations (the bitmap apart: free_all_bootmem frees it
    # after its walk) and the pages bootmem allocations still hold
    memblock_free(mb, bitmap.start, bitmap.end)
    reserved = sorted(list(mb.reserved) + bootmem_reserved_ranges(bd), key=lambda r: r.start)
    node = Node(0, {"Normal": Range(PHYS_START_PFN, LOWMEM_END_PFN),
                    "HighMem": Range(LOWMEM_END_PFN, PHYS_END_PFN),
                    "Movable": Range(0, 0)},
                [Range(PHYS_START_PFN, PHYS_END_PFN)], reserved)
    return Machine(
        name="arndale",
        description=f"Arndale Octa (Samsung Exynos 5420, Cortex-A15), 2 GiB at 0x20000000, "
                    f"{cpus} CPU(s), Linux 3.13.11 ARM exynos_defconfig (SMDK5420 device tree)",
        arch="arm", nodes=[node], cpus=cpus,
        hz=200,              # HZ_FIXED 200 with ARCH_EXYNOS4 on; the seed annotated HZ 100
        pageblock_order=PAGEBLOCK_ORDER,   # no hugetlb: MAX_ORDER - 1
        # The study notes and the issue said FLATMEM; 3.13's Kconfig gives SPARSEMEM.  With no
        # holes and a MAX_ORDER-aligned zone boundary the two give identical numbers here.
        memory_model="sparsemem",
        numa=False, cma=False, memory_isolation=False, thp=False, dma_reserve=0,
        bootmem="bootmem",
        bootmem_bitmap=Range(bitmap.start, bitmap.end),
        sources={
            "notes": "docs/arndale-notes.md (3.13.11 tree f015ce07, exynos_defconfig)",
            "memory": "arch/arm/boot/dts/exynos5420-smdk5420.dts: 2 GiB at 0x20000000",
            "zones": "arch/arm/mm/mmu.c sanity_check_meminfo (vmalloc_min), "
                     "arch/arm/mm/init.c arm_bootmem_free",
            "config": "make ARCH=arm exynos_defconfig: SPARSEMEM, HZ_FIXED 200, NR_CPUS 2, "
                      "HIGHMEM, no CMA/THP/NO_BOOTMEM",
            "reserved": "kmemsim/arch/arm/exynos.py: memblock and bootmem replay of notes §5; "
                        "kernel image, unflattened DT and percpu static size are estimates",
        },
    ).validate()
