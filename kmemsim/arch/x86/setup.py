"""An x86-64 PC as qemu's ``pc`` machine presents it, booted by Linux 3.13.11.

Kernel: arch/x86/kernel/setup.c setup_arch(), arch/x86/kernel/e820.c, arch/x86/mm/init.c
zone_sizes_init(), mm/page_alloc.c free_area_init_nodes() (v3.13).

Where each number comes from (checked against ../shared/reference/real-3.13/, a real 3.13.11
booted under qemu 7.2 ``-machine pc-i440fx-7.2`` with 128 MiB, 1 GiB and 4 GiB):

* The e820 map is qemu's and SeaBIOS's: usable RAM [0, 0x9fc00), [1 MiB, low_end - 128 KiB) and,
  above 4 GiB, the rest.  Below 4 GiB qemu puts all RAM when it is under 3.5 GiB, else 3 GiB
  (``gigabyte_align``).  The kernel marks page 0 reserved and trims partial pages, so node 0's
  memory starts at pfn 1 and its first range ends at pfn 0x9f.
* Zones: DMA below 16 MiB (MAX_DMA_PFN), DMA32 below 4 GiB (MAX_DMA32_PFN), Normal above;
  ZONE_MOVABLE stays empty (no kernelcore=/movablecore=).
* Early reservations: the BIOS corruption check's 64 KiB (pfns 1-15), the real-mode trampoline
  (24 KiB at 0x99000), the kernel image of the measured build piece by piece (its SMP
  alternatives, init sections and alignment gaps are given back late in boot, as is the
  1012 KiB initrd), then top-down: the direct-map page tables, NODE_DATA, the vmemmap (2 MiB of struct
  pages per present 128 MiB section), SWIOTLB's 64 MiB bounce buffer and its tables when RAM
  reaches above 4 GiB, the first per-cpu chunk (25 pages per CPU), the zone wait tables and
  the PID hash.  The result matches the real kernel's managed pages to a few pages at 128 MiB,
  1 GiB and 4 GiB (tests/test_presets.py).
"""

from __future__ import annotations

from kmemsim.machine import Machine, Node, Range
from kmemsim.mm.memblock import Memblock, for_each_free_mem_range, memblock_add, \
    memblock_alloc_range, memblock_free, memblock_reserve
from kmemsim.mm.mmzone import PAGE_SHIFT, PAGES_PER_SECTION

__all__ = ["qemu_pc_ram_layout", "x86_64_machine"]

KiB = 1024
MiB = 1 << 20
GiB = 1 << 30
MAX_DMA_PFN = (16 * MiB) >> PAGE_SHIFT
MAX_DMA32_PFN = (4 * GiB) >> PAGE_SHIFT
PMD_PAGES = (2 * MiB) >> PAGE_SHIFT

# The measured kernel image (iomem and the "Freeing ... memory" lines of real-3.13/), piece by
# piece, with the boot stage that frees a piece and the mapping its message prints.
START_KERNEL_MAP = 0xFFFFFFFF80000000       # __START_KERNEL_map: the kernel text mapping
PAGE_OFFSET = 0xFFFF880000000000            # the direct mapping of all RAM
KERNEL_PIECES = (
    (0x1000000, 0x15A2000, "kernel text", "", 0),
    (0x15A2000, 0x1600000, "unused kernel", "mark_rodata_ro", PAGE_OFFSET),
    (0x1600000, 0x17AB000, "kernel rodata", "", 0),
    (0x17AB000, 0x1800000, "unused kernel", "mark_rodata_ro", PAGE_OFFSET),
    (0x1800000, 0x18A5000, "kernel data", "", 0),
    (0x18A5000, 0x198E000, "unused kernel", "free_initmem", START_KERNEL_MAP),
    (0x198E000, 0x1994000, "SMP alternatives", "check_bugs", START_KERNEL_MAP),
    (0x1994000, 0x1A8C000, "kernel bss and brk", "", 0),
)
INITRD_BYTES = 1012 * KiB          # the busybox initramfs of the reference boots; freed later
SWIOTLB_BYTES = 64 * MiB            # io_tlb default size
SWIOTLB_TABLE_PAGES = 32 + 64       # io_tlb_list, io_tlb_orig_addr (alloc_bootmem_pages)
SWIOTLB_OVERFLOW_PAGES = 8          # io_tlb_overflow_buffer (alloc_bootmem_low_pages)
PERCPU_PAGES = 25                   # "PERCPU: Embedded 25 pages/cpu" (s78912 r0 d23488)
NODE_DATA_PAGES = 4                 # sizeof(pg_data_t) of this configuration, page-rounded
PID_HASH_PAGES = 8                  # "PID hash table entries: 4096 (order: 3, 32768 bytes)"
WAITQUEUE_BYTES = 24                # sizeof(wait_queue_head_t)
PAGES_PER_WAITQUEUE = 256


def qemu_pc_ram_layout(ram: int) -> list[tuple[int, int]]:
    """Usable RAM of qemu's pc machine with SeaBIOS as byte ranges, before the kernel's trims."""
    below_4g = ram if ram < 0xE0000000 else 0xC0000000
    ranges = [(0, 0x9FC00), (0x100000, below_4g - 128 * KiB)]
    if ram > below_4g:
        ranges.append((4 * GiB, 4 * GiB + ram - below_4g))
    return ranges


def _wait_table_pages(zone_pages: int) -> int:
    """zone_wait_table_init()'s bootmem allocation for a zone of ``zone_pages`` pages."""
    entries = zone_pages // PAGES_PER_WAITQUEUE
    entries = min(4096, 1 << max(0, (entries - 1).bit_length())) if entries else 1
    return -(-entries * WAITQUEUE_BYTES // 4096)


def _zone_spans(node_start: int, node_end: int, max_pfn: int) -> dict[str, Range]:
    """free_area_init_nodes()/zone_spanned_pages_in_node() for x86-64's zone limits."""
    limits = (("DMA", 0, MAX_DMA_PFN), ("DMA32", MAX_DMA_PFN, MAX_DMA32_PFN),
              ("Normal", MAX_DMA32_PFN, max(max_pfn, MAX_DMA32_PFN)))
    zones = {}
    for name, lo, hi in limits:
        s, e = max(lo, node_start), min(hi, node_end)
        zones[name] = Range(s, e) if s < e else Range(0, 0)
    zones["Movable"] = Range(0, 0)
    return zones


def x86_64_machine(ram: int, cpus: int = 1, nodes: int = 1, name: str = "x86_64",
                   cma: int = 0) -> Machine:
    """The x86_64 preset: qemu pc with ``ram`` bytes, split evenly over ``nodes`` nodes, and
    with ``cma`` bytes of CMA area (CONFIG_CMA, ``cma=`` on the kernel command line) if not 0."""
    mb = Memblock()
    layout = [(max(s >> PAGE_SHIFT, 1), e >> PAGE_SHIFT) for s, e in qemu_pc_ram_layout(ram)]
    # qemu's -numa node,mem= hands out RAM in address order, ram/nodes bytes per node
    below_4g = ram if ram < 0xE0000000 else 0xC0000000
    bounds = []
    for k in range(nodes + 1):
        offset = ram * k // nodes
        addr = offset if offset <= below_4g else 4 * GiB + offset - below_4g
        bounds.append(addr >> PAGE_SHIFT)
    for nid in range(nodes):
        for s, e in layout:
            s, e = max(s, bounds[nid]), min(e, bounds[nid + 1])
            if s < e:
                memblock_add(mb, s, e, nid)
    max_pfn = max(r.end for r, _ in mb.memory)
    low_end = layout[1][1]

    memblock_reserve(mb, 1, 0x10, "BIOS corruption check")
    for start, end, label, freed_by, va in KERNEL_PIECES:
        memblock_reserve(mb, start >> PAGE_SHIFT, end >> PAGE_SHIFT, label, freed_by, va)
    initrd = memblock_alloc_range(mb, INITRD_BYTES >> PAGE_SHIFT, 1, 0, low_end, "initrd")
    memblock_free(mb, initrd.start, initrd.end)
    memblock_reserve(mb, initrd.start, initrd.end, "initrd", "populate_rootfs", PAGE_OFFSET)
    memblock_alloc_range(mb, 6, 1, 0, 0x100, "real-mode trampoline")
    if cma:         # dma_contiguous_reserve(0): top-down, aligned to a MAX_ORDER block
        pages = -(-(cma >> PAGE_SHIFT) // 1024) * 1024
        area = memblock_alloc_range(mb, pages, 1024, 0, max(r.end for r, _ in mb.memory),
                                    "CMA area")
        memblock_free(mb, area.start, area.end)
        memblock_reserve(mb, area.start, area.end, "CMA area", "cma_init_reserved_areas")
    direct_map_gib = -(-(max_pfn << PAGE_SHIFT) // GiB)
    memblock_alloc_range(mb, 1 + direct_map_gib + 2, 1, 0, low_end, "direct-map page tables")
    node_ranges = {}
    for r, n in mb.memory:
        lo, hi = node_ranges.get(n, (r.start, r.end))
        node_ranges[n] = (min(lo, r.start), max(hi, r.end))
    for n, (lo, hi) in sorted(node_ranges.items()):
        memblock_alloc_range(mb, NODE_DATA_PAGES, 1, lo, hi, f"NODE_DATA({n})", n)
    for n, (lo, hi) in sorted(node_ranges.items()):
        sections = {r.start // PAGES_PER_SECTION for r, m in mb.memory if m == n}
        sections |= {(r.end - 1) // PAGES_PER_SECTION for r, m in mb.memory if m == n}
        for r, m in mb.memory:
            if m == n:
                sections |= set(range(r.start // PAGES_PER_SECTION,
                                      (r.end - 1) // PAGES_PER_SECTION + 1))
        memblock_alloc_range(mb, PMD_PAGES * len(sections), PMD_PAGES, lo, hi,
                             f"vmemmap (node {n})", n)
    if max_pfn > MAX_DMA32_PFN:
        # lib/swiotlb.c: the bounce buffer and its overflow buffer must be below 4 GiB, the
        # bookkeeping tables need not be
        memblock_alloc_range(mb, SWIOTLB_BYTES >> PAGE_SHIFT, 1, 0, MAX_DMA32_PFN, "SWIOTLB")
        memblock_alloc_range(mb, SWIOTLB_TABLE_PAGES, 1, 0, max_pfn, "SWIOTLB tables")
        memblock_alloc_range(mb, SWIOTLB_OVERFLOW_PAGES, 1, 0, MAX_DMA32_PFN,
                             "SWIOTLB overflow buffer")
    for cpu in range(cpus):
        unit = memblock_alloc_range(mb, PMD_PAGES, PMD_PAGES, 0, max_pfn, "percpu")
        memblock_free(mb, unit.start + PERCPU_PAGES, unit.end)
    machine_nodes = []
    for n, (lo, hi) in sorted(node_ranges.items()):
        zones = _zone_spans(lo, hi, max_pfn)
        for zname, span in zones.items():
            present = sum(max(0, min(r.end, span.end) - max(r.start, span.start))
                          for r, m in mb.memory if m == n)
            if present:
                memblock_alloc_range(mb, _wait_table_pages(present), 1, lo, hi,
                                     f"{zname} wait table", n)
        machine_nodes.append(Node(n, zones, [r for r, m in mb.memory if m == n]))
    memblock_alloc_range(mb, PID_HASH_PAGES, 1, 0, max_pfn, "PID hash")

    dma_free = sum(min(e, MAX_DMA_PFN) - s for s, e, _ in for_each_free_mem_range(mb)
                   if s < MAX_DMA_PFN)
    dma_present = sum(min(r.end, MAX_DMA_PFN) - r.start for r, _ in mb.memory
                      if r.start < MAX_DMA_PFN)
    for node in machine_nodes:
        node.reserved = [r for r in mb.reserved
                         if any(m.start <= r.start < m.end for m in node.memory)]
    size = f"{ram >> 30}G" if ram % GiB == 0 else f"{ram >> 20}M"
    return Machine(
        name=name,
        description=(f"x86-64 PC (qemu pc-i440fx) with {size} of RAM, {cpus} CPU(s)"
                     + (f", {nodes} NUMA nodes" if nodes > 1 else "")
                     + (f", {cma >> 20} MiB CMA" if cma else "")
                     + ", Linux 3.13.11 x86_64_defconfig + THP/compaction/hugetlb"),
        arch="x86_64", nodes=machine_nodes, cpus=cpus, hz=1000, pageblock_order=9,
        memory_model="sparsemem", numa=True, cma=bool(cma), memory_isolation=False,
        thp=True, hugetlb=True, dma_reserve=dma_present - dma_free,
        sources={
            "zones": "qemu pc e820 map; 3.13 x86 zone limits (16 MiB, 4 GiB); real-3.13/*/zoneinfo",
            "config": "real-3.13/config-mm.txt: NUMA, DMA, DMA32, HUGETLB_PAGE, THP always, "
                      "no CMA, no MEMORY_ISOLATION, HZ 1000",
            "reserved": "kmemsim/arch/x86/setup.py: early reservations of the measured boot",
        },
    ).validate()
