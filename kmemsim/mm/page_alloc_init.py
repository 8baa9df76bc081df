"""Boot-time setup of nodes, zones and the memory map, and the hand-over to the buddy allocator.

Kernel: mm/page_alloc.c (free_area_init_nodes, free_area_init_core, calc_memmap_size,
memmap_init_zone, zone_batchsize, build_all_zonelists, init_per_zone_wmark_min,
__setup_per_zone_wmarks, nr_free_zone_pages), mm/nobootmem.c (free_all_bootmem,
__free_pages_memory), mm/huge_memory.c (set_recommended_min_free_kbytes), arch/arm/mm/init.c
(free_highpages) (v3.13).

These run once per boot (or per sysctl write), never on the allocation path, so they are plain
Python; where the kernel loops over every page (memmap_init_zone, __free_pages_bootmem) kmemsim
does the same work with numpy slices.  Each takes the booting :class:`kmemsim.kernel.Kernel`
first.
"""

from __future__ import annotations

import math

import numpy as np

from kmemsim.mm.backing_dev import CONGESTION_OFF, CONGESTION_ON, WRITEBACK_PAGES_PER_SECOND
from kmemsim.mm.memblock import Memblock, for_each_free_mem_range, memblock_add, memblock_reserve
from kmemsim.mm.gfp import GFP_BOOT_MASK
from kmemsim.mm.mmzone import (
    CFG_COMPACTION, CFG_CONGESTION_OFF, CFG_CONGESTION_ON, CFG_EXTFRAG_THRESHOLD,
    CFG_LRU_LIST_BASE, CFG_MAX_OWNERS, CFG_NEXT_PID, CFG_NR_SWAP_PAGES, CFG_RMAP_HEAD_BASE,
    CFG_TOTAL_SWAP_PAGES, NR_LRU_LISTS, NR_OWNER_FIELDS, NR_PAGEVECS, NR_PGDAT_MISC,
    NR_ZONE_MISC, PAGEVEC_SIZE, NR_SCRATCH_LISTS, CFG_SCRATCH_LIST_BASE, CFG_REPORT_SEQ,
    KLOG_FIELDS, KLOG_SIZE, report_buf_size, NR_SC, CFG_WB_RATE, CFG_SWAPPINESS,
    CFG_EV_PGALLOC, CFG_EV_PGFREE, CFG_FREE_LIST_BASE, CFG_GFP_ALLOWED_MASK, CFG_HIGHMEM_IDX,
    CFG_MAX_NR_ZONES, CFG_MIGRATE_CMA, CFG_MIGRATE_ISOLATE, CFG_MIGRATE_TYPES,
    CFG_MOBILITY_DISABLED, CFG_MOVABLE_IDX, CFG_NORMAL_IDX, CFG_NR_CPUS, CFG_NR_NODES,
    CFG_HZ, CFG_NR_PFNS, CFG_NUMA, CFG_PAGEBLOCK_ORDER, CFG_PCP_LIST_BASE, CFG_SPARSEMEM, MAX_ORDER,
    MAX_ORDER_NR_PAGES, MIGRATE_MOVABLE, MIGRATE_PCPTYPES,
    NR_ALLOC_BATCH, NR_CFG, NR_VM_ZONE_STAT_ITEMS, PAGE_SHIFT, PAGE_SIZE, PAGES_PER_SECTION,
    WMARK_HIGH, WMARK_LOW, WMARK_MIN, Mem, fallbacks_table, migrate_types,
)
from kmemsim.mm.page_flags import PG_RESERVED_MASK, PG_VALID_MASK, ZONEID_PGSHIFT

__all__ = ["alloc_mem", "calc_memmap_size", "zone_batchsize", "free_area_init_nodes",
           "free_area_init_core", "memmap_init_zone", "build_all_zonelists",
           "nr_free_zone_pages", "nr_free_buffer_pages", "nr_free_pagecache_pages",
           "free_all_bootmem", "free_highpages", "mem_init", "init_per_zone_wmark_min",
           "setup_per_zone_wmarks", "set_recommended_min_free_kbytes", "int_sqrt",
           "free_reserved_area", "cma_init_reserved_areas"]

SWAP_CLUSTER_MAX = 32


def alloc_mem(machine) -> Mem:
    """The state arrays of a machine, all pages reserved-and-invalid, all lists empty."""
    nr_pfns = -(-machine.max_pfn // MAX_ORDER_NR_PAGES) * MAX_ORDER_NR_PAGES
    if machine.memory_model == "sparsemem":
        nr_pfns = -(-nr_pfns // PAGES_PER_SECTION) * PAGES_PER_SECTION
    nz = len(machine.nodes) * machine.max_nr_zones
    migrate_count, mt_cma, mt_isolate = migrate_types(machine.cma, machine.memory_isolation)
    ncpus = machine.cpus
    nr_free_heads = nz * MAX_ORDER * migrate_count
    nr_pcp_heads = ncpus * nz * MIGRATE_PCPTYPES
    from kmemsim.mm import slub
    nr_slab_heads = slub.MAX_KMEM_CACHES * len(machine.nodes)
    nr_heads = nr_free_heads + nr_pcp_heads + nz * NR_LRU_LISTS + NR_SCRATCH_LISTS + nr_slab_heads
    max_owners = machine.max_owners
    from kmemsim.mm.compaction import FREEPAGES_MAX, NR_CC
    from kmemsim.mm.vmstat import vm_event_index, vm_event_names
    events = vm_event_names(machine)
    cfg = np.zeros(NR_CFG, dtype=np.int64)
    zt = machine.zone_types
    cfg[CFG_NR_PFNS] = nr_pfns
    cfg[CFG_PAGEBLOCK_ORDER] = machine.pageblock_order
    cfg[CFG_MIGRATE_TYPES] = migrate_count
    cfg[CFG_MIGRATE_CMA] = mt_cma
    cfg[CFG_MIGRATE_ISOLATE] = mt_isolate
    cfg[CFG_MAX_NR_ZONES] = len(zt)
    cfg[CFG_NR_NODES] = len(machine.nodes)
    cfg[CFG_FREE_LIST_BASE] = nr_pfns
    cfg[CFG_SPARSEMEM] = machine.memory_model == "sparsemem"
    cfg[CFG_HIGHMEM_IDX] = zt.index("HighMem") if "HighMem" in zt else -1
    cfg[CFG_MOVABLE_IDX] = zt.index("Movable")
    cfg[CFG_NORMAL_IDX] = zt.index("Normal")
    cfg[CFG_NR_CPUS] = ncpus
    cfg[CFG_PCP_LIST_BASE] = nr_pfns + nr_free_heads
    cfg[CFG_EV_PGALLOC] = events.index("pgalloc" + {"DMA": "_dma", "Normal": "_normal"}[zt[0]])
    cfg[CFG_EV_PGFREE] = events.index("pgfree")
    cfg[CFG_NUMA] = machine.numa
    cfg[CFG_GFP_ALLOWED_MASK] = GFP_BOOT_MASK
    cfg[CFG_HZ] = machine.hz
    cfg[CFG_LRU_LIST_BASE] = nr_pfns + nr_free_heads + nr_pcp_heads
    cfg[CFG_RMAP_HEAD_BASE] = nr_pfns
    cfg[CFG_SCRATCH_LIST_BASE] = cfg[CFG_LRU_LIST_BASE] + nz * NR_LRU_LISTS
    cfg[CFG_MAX_OWNERS] = max_owners
    cfg[CFG_TOTAL_SWAP_PAGES] = cfg[CFG_NR_SWAP_PAGES] = machine.swap_pages
    cfg[CFG_EXTFRAG_THRESHOLD] = 500
    cfg[CFG_CONGESTION_ON] = CONGESTION_ON
    cfg[CFG_CONGESTION_OFF] = CONGESTION_OFF
    cfg[CFG_COMPACTION] = 1
    cfg[CFG_NEXT_PID] = 1
    cfg[CFG_REPORT_SEQ] = -1
    cfg[CFG_WB_RATE] = max(1, -(-WRITEBACK_PAGES_PER_SECOND // machine.hz))
    cfg[CFG_SWAPPINESS] = 60
    links = np.full(nr_pfns + nr_heads, -1, dtype=np.int32)
    heads = np.arange(nr_pfns, nr_pfns + nr_heads, dtype=np.int32)
    lru_next, lru_prev = links, links.copy()
    lru_next[nr_pfns:] = heads
    lru_prev[nr_pfns:] = heads
    from kmemsim.mm.gfp import build_gfp_zone_table
    from kmemsim.trace.events import TRACE_FIELDS
    return Mem(
        cfg=cfg,
        flags=np.zeros(nr_pfns, dtype=np.uint32),
        private=np.zeros(nr_pfns, dtype=np.uint8),
        index=np.full(nr_pfns, -1, dtype=np.int8),
        count=np.zeros(nr_pfns, dtype=np.int16),
        lru_next=lru_next, lru_prev=lru_prev,
        pageblock_flags=np.zeros(_pageblock_bytes(machine, nr_pfns), dtype=np.uint8),
        zone_start_pfn=np.zeros(nz, dtype=np.int64),
        spanned_pages=np.zeros(nz, dtype=np.int64),
        present_pages=np.zeros(nz, dtype=np.int64),
        managed_pages=np.zeros(nz, dtype=np.int64),
        zone_pb_start=np.zeros(nz, dtype=np.int64),
        zone_pb_base=np.zeros(nz, dtype=np.int64),
        watermark=np.zeros((nz, 3), dtype=np.int64),
        nr_free=np.zeros((nz, MAX_ORDER), dtype=np.int64),
        vm_stat=np.zeros((nz, NR_VM_ZONE_STAT_ITEMS), dtype=np.int64),
        fallbacks=fallbacks_table(machine.cma, machine.memory_isolation),
        gfp_zone_table=build_gfp_zone_table({name: i for i, name in enumerate(zt)}),
        lowmem_reserve=np.zeros((nz, len(zt)), dtype=np.int64),
        pages_scanned=np.zeros(nz, dtype=np.int64),
        percpu_drift_mark=np.zeros(nz, dtype=np.int64),
        pcp=np.zeros((ncpus, nz, 3), dtype=np.int64),
        stat_threshold=np.zeros((ncpus, nz), dtype=np.int8),
        vm_stat_diff=np.zeros((ncpus, nz, NR_VM_ZONE_STAT_ITEMS), dtype=np.int8),
        vm_events=np.zeros((ncpus, len(events)), dtype=np.int64),
        cpu_to_node=np.array([cpu % len(machine.nodes) for cpu in range(ncpus)], dtype=np.int64),
        zonelists=np.full((len(machine.nodes), 2, nz + 1), -1, dtype=np.int64),
        zlc_fullzones=np.zeros((len(machine.nodes), nz + 1), dtype=np.int8),
        zlc_last_full_zap=np.zeros(len(machine.nodes), dtype=np.int64),
        reclaim_nodes=np.zeros((len(machine.nodes), len(machine.nodes)), dtype=np.int8),
        inactive_ratio=np.zeros(nz, dtype=np.int64),
        vm_event_index=vm_event_index(events),
        zone_misc=np.zeros((nz, NR_ZONE_MISC), dtype=np.int64),
        pgdat_misc=_pgdat_misc(len(machine.nodes), len(zt)),
        pagevecs=np.zeros((ncpus, NR_PAGEVECS, 1 + PAGEVEC_SIZE), dtype=np.int32),
        # zero-filled: the pages of these arrays cost memory only once pages have owners
        mapping=np.zeros(nr_pfns, dtype=np.int32),
        rmap_next=_owner_links(nr_pfns, max_owners),
        rmap_prev=_owner_links(nr_pfns, max_owners),
        owners=np.zeros((max_owners, NR_OWNER_FIELDS), dtype=np.int64),
        compact_cc=np.zeros(NR_CC, dtype=np.int64),
        compact_freepages=np.full(FREEPAGES_MAX, -1, dtype=np.int64),
        scan_control=np.zeros((2, NR_SC), dtype=np.int64),
        wb_ring=np.zeros(nr_pfns, dtype=np.int32),
        timers=np.full((64, 3), -1, dtype=np.int64),
        klog=np.zeros((KLOG_SIZE, KLOG_FIELDS), dtype=np.int64),
        report_buf=np.zeros(report_buf_size(nz, max_owners, ncpus), dtype=np.int64),
        **slub.alloc_slub_state(machine, nr_pfns, int(cfg[CFG_SCRATCH_LIST_BASE]) + NR_SCRATCH_LISTS),
        trace_buf=np.zeros((1, TRACE_FIELDS), dtype=np.int64),
    )


def _pgdat_misc(nr_nodes: int, nr_zones: int) -> np.ndarray:
    """kswapd's fields as kswapd() starts: max order 0, classzone the highest zone, asleep
    (its task row is filled in by the kswapd_init boot stage)."""
    from kmemsim.mm.mmzone import PGDAT_CLASSZONE_IDX
    misc = np.zeros((nr_nodes, NR_PGDAT_MISC), dtype=np.int64)
    misc[:, PGDAT_CLASSZONE_IDX] = nr_zones - 1
    return misc


def _owner_links(nr_pfns: int, max_owners: int) -> np.ndarray:
    links = np.zeros(nr_pfns + max_owners, dtype=np.int32)
    links[nr_pfns:] = np.arange(nr_pfns, nr_pfns + max_owners, dtype=np.int32)
    return links


def _pageblock_bytes(machine, nr_pfns: int) -> int:
    nr = 1 << machine.pageblock_order
    if machine.memory_model == "sparsemem":
        return nr_pfns // nr
    # FLATMEM: one bitmap per zone, from its start rounded down to a pageblock
    total = 0
    for node in machine.nodes:
        for span in node.zones.values():
            if span.pages:
                total += -(-(span.end - span.start // nr * nr) // nr)
    return total


def calc_memmap_size(k, spanned_pages: int, present_pages: int) -> int:
    """Kernel: mm/page_alloc.c calc_memmap_size(): pages of struct page a zone is charged."""
    pages = spanned_pages
    if (k.machine.memory_model == "sparsemem"
            and spanned_pages > present_pages + (present_pages >> 4)):
        pages = present_pages
    return -(-(pages * k.machine.struct_page_size) // PAGE_SIZE)


def zone_batchsize(managed_pages: int) -> int:
    """Kernel: mm/page_alloc.c zone_batchsize() (MMU case)."""
    batch = managed_pages // 1024
    if batch * PAGE_SIZE > 512 * 1024:
        batch = (512 * 1024) // PAGE_SIZE
    batch //= 4
    if batch < 1:
        batch = 1
    return (1 << ((batch + batch // 2).bit_length() - 1)) - 1


def is_highmem_idx(k, zone_idx: int) -> bool:
    """Kernel: include/linux/mmzone.h is_highmem_idx() (no ZONE_MOVABLE carved from highmem)."""
    return int(k.mem.cfg[CFG_HIGHMEM_IDX]) == zone_idx


def _mark_valid(k) -> None:
    """sparse_init() / the architecture's pfn_valid(): which pfns have a struct page."""
    mem, machine = k.mem, k.machine
    if machine.memory_model == "sparsemem":
        for node in machine.nodes:
            for r in node.memory:
                s = r.start // PAGES_PER_SECTION * PAGES_PER_SECTION
                e = -(-r.end // PAGES_PER_SECTION) * PAGES_PER_SECTION
                mem.flags[s:e] |= PG_VALID_MASK
    elif machine.arch == "arm":
        for node in machine.nodes:                  # pfn_valid() = memblock_is_memory()
            for r in node.memory:
                mem.flags[r.start:r.end] |= PG_VALID_MASK
    else:
        for node in machine.nodes:                  # FLATMEM: the node's whole mem_map
            mem.flags[node.start_pfn:node.end_pfn] |= PG_VALID_MASK


def free_area_init_nodes(k) -> None:
    """Kernel: mm/page_alloc.c free_area_init_nodes(): print the zone ranges, then set up
    every node (free_area_init_node → calculate_node_totalpages, free_area_init_core)."""
    _mark_valid(k)
    from kmemsim.machine import CMA_STAGE
    for node in k.machine.nodes:             # dma_contiguous_reserve_area()'s message
        for r in node.reserved:
            if r.freed_by == CMA_STAGE:
                k.printk(f"CMA: reserved {r.pages >> (20 - PAGE_SHIFT)} MiB at "
                         f"{r.start << PAGE_SHIFT:08x}")
    pb_base = 0
    for node in k.machine.nodes:
        totalpages = sum(r.pages for r in node.memory)
        k.printk(f"On node {node.nid} totalpages: {totalpages}")
        pb_base = free_area_init_core(k, node, pb_base)


def free_area_init_core(k, node, pb_base: int) -> int:
    """Kernel: mm/page_alloc.c free_area_init_core(): spanned, present and estimated managed
    pages per zone, the per-zone boot messages, empty free lists, memmap_init_zone()."""
    mem, machine = k.mem, k.machine
    nr = 1 << machine.pageblock_order
    for j, name in enumerate(machine.zone_types):
        zone = node.nid * machine.max_nr_zones + j
        span = node.zones.get(name)
        size = span.pages if span else 0
        realsize = freesize = sum(max(0, min(r.end, span.end) - max(r.start, span.start))
                                  for r in node.memory) if size else 0
        memmap_pages = calc_memmap_size(k, size, realsize)
        if freesize >= memmap_pages:
            freesize -= memmap_pages
            if memmap_pages:
                k.printk(f"  {name} zone: {memmap_pages} pages used for memmap")
        else:
            k.printk(f"  {name} zone: {memmap_pages} pages exceeds freesize {freesize}")
        if j == 0 and freesize > machine.dma_reserve:
            freesize -= machine.dma_reserve
            k.printk(f"  {machine.zone_types[0]} zone: {machine.dma_reserve} pages reserved")
        mem.spanned_pages[zone] = size
        mem.present_pages[zone] = realsize
        mem.managed_pages[zone] = realsize if is_highmem_idx(k, j) else freesize
        if realsize:
            k.printk(f"  {name} zone: {realsize} pages, LIFO batch:"
                     f"{zone_batchsize(int(mem.managed_pages[zone]))}")
        mem.vm_stat[zone, NR_ALLOC_BATCH] += mem.managed_pages[zone]
        if not size:
            continue
        mem.zone_start_pfn[zone] = span.start
        if machine.memory_model == "flatmem":
            mem.zone_pb_start[zone] = span.start // nr * nr
            mem.zone_pb_base[zone] = pb_base
            pb_base += -(-(span.end - span.start // nr * nr) // nr)
        memmap_init_zone(k, size, node.nid, j, span.start)
    return pb_base


def memmap_init_zone(k, size: int, nid: int, zone_idx: int, start_pfn: int) -> None:
    """Kernel: mm/page_alloc.c memmap_init_zone() (MEMMAP_EARLY): every valid pfn of the
    span gets its zone links, a reference and PG_reserved; each pageblock whose first pfn lies
    in the zone (and is valid) is marked MIGRATE_MOVABLE.  Vectorised over the span."""
    mem, machine = k.mem, k.machine
    end_pfn = start_pfn + size
    zone = nid * machine.max_nr_zones + zone_idx
    flags = mem.flags[start_pfn:end_pfn]
    valid = (flags & PG_VALID_MASK) != 0
    if machine.numa:        # early_pfn_in_nid(): skip memory of another node
        other = np.zeros(size, dtype=bool)
        for node in machine.nodes:
            if node.nid != nid:
                for r in node.memory:
                    s, e = max(r.start, start_pfn), min(r.end, end_pfn)
                    if s < e:
                        other[s - start_pfn:e - start_pfn] = True
        valid &= ~other
    zbits = np.uint32(zone << ZONEID_PGSHIFT)
    flags[valid] = (flags[valid] & np.uint32(PG_VALID_MASK)) | zbits | np.uint32(PG_RESERVED_MASK)
    mem.count[start_pfn:end_pfn][valid] = 1
    nr = 1 << machine.pageblock_order
    first = -(-start_pfn // nr) * nr
    from kmemsim.mm.page_alloc import set_pageblock_migratetype
    for pfn in range(first, end_pfn, nr):
        if valid[pfn - start_pfn]:
            set_pageblock_migratetype(mem, pfn, MIGRATE_MOVABLE)


def nr_free_zone_pages(k, offset: int) -> int:
    """Kernel: mm/page_alloc.c nr_free_zone_pages(): managed pages above the high watermark of
    the zones of the local node's zonelist up to zone type ``offset`` (every node's zones are
    in that zonelist)."""
    mem = k.mem
    total = 0
    for node in k.machine.nodes:
        for j in range(offset + 1):
            zone = node.nid * k.machine.max_nr_zones + j
            size, high = int(mem.managed_pages[zone]), int(mem.watermark[zone, WMARK_HIGH])
            if mem.present_pages[zone] and size > high:
                total += size - high
    return total


def nr_free_buffer_pages(k) -> int:
    """Kernel: mm/page_alloc.c nr_free_buffer_pages(): up to gfp_zone(GFP_USER)."""
    return nr_free_zone_pages(k, int(k.mem.cfg[CFG_NORMAL_IDX]))


def nr_free_pagecache_pages(k) -> int:
    """Kernel: mm/page_alloc.c nr_free_pagecache_pages(): up to gfp_zone(GFP_HIGHUSER_MOVABLE)."""
    return nr_free_zone_pages(k, int(k.mem.cfg[CFG_MOVABLE_IDX]))


def build_all_zonelists(k) -> None:
    """Kernel: mm/page_alloc.c build_all_zonelists(): every node's zonelists, the boot
    pagesets, the mobility grouping decision and the boot message.  (The kernel decides
    mobility grouping after building the lists; the lists do not depend on it.)"""
    mem, machine = k.mem, k.machine
    vm_total_pages = nr_free_pagecache_pages(k)
    nr = 1 << machine.pageblock_order
    disabled = vm_total_pages < nr * int(mem.cfg[CFG_MIGRATE_TYPES])
    mem.cfg[CFG_MOBILITY_DISABLED] = int(disabled)
    order = default_zonelist_order(k) if machine.numa else "Zone"
    k.zonelist_order = order
    node_load: dict[int, int] = {}
    for node in machine.nodes:
        build_zonelists(k, node.nid, order, node_load)
        init_zone_allows_reclaim(k, node.nid)
    boot_pagesets(k)
    k.printk(f"Built {len(machine.nodes)} zonelists in {order} order, mobility grouping "
             f"{'off' if disabled else 'on'}.  Total pages: {vm_total_pages}")
    if machine.numa:
        k.printk(f"Policy zone: {machine.zone_types[k.policy_zone]}")


def free_all_bootmem(k) -> int:
    """Kernel: mm/nobootmem.c free_all_bootmem(): zero every zone's managed pages, then free
    each range memblock leaves free, ascending, in the largest aligned blocks
    (__free_pages_memory); on 32-bit only lowmem (below max_low_pfn) goes this way."""
    mem, machine = k.mem, k.machine
    mem.managed_pages[:] = 0
    mb = _memblock_of(machine)
    max_low_pfn = _max_low_pfn(k)
    count = 0
    for start, end, _ in for_each_free_mem_range(mb):
        end = min(end, max_low_pfn)
        if start >= end:
            continue
        __free_pages_memory(k, start, end)
        count += end - start
    k.totalram_pages += count
    return count


def __free_pages_memory(k, start: int, end: int) -> None:
    """Kernel: mm/nobootmem.c __free_pages_memory(): largest naturally aligned blocks."""
    fn = k.fn
    free_bootmem = getattr(fn, "__free_pages_bootmem")
    while start < end:
        order = min(MAX_ORDER - 1, (start & -start).bit_length() - 1 if start else MAX_ORDER - 1)
        while start + (1 << order) > end:
            order -= 1
        free_bootmem(k.mem, start, order)
        start += 1 << order


def free_highpages(k) -> None:
    """Kernel: arch/arm/mm/init.c free_highpages(): every free highmem page is handed to the
    buddy allocator on its own (free_highmem_page), in ascending pfn order."""
    mem, machine = k.mem, k.machine
    max_low_pfn = _max_low_pfn(k)
    free_bootmem = getattr(k.fn, "__free_pages_bootmem")
    for start, end, _ in for_each_free_mem_range(_memblock_of(machine)):
        for pfn in range(max(start, max_low_pfn), end):
            free_bootmem(mem, pfn, 0)
            k.totalram_pages += 1


def _max_low_pfn(k) -> int:
    hi = int(k.mem.cfg[CFG_HIGHMEM_IDX])
    if hi < 0:
        return k.machine.max_pfn
    starts = [n.zones["HighMem"].start for n in k.machine.nodes
              if "HighMem" in n.zones and n.zones["HighMem"].pages]
    return min(starts) if starts else k.machine.max_pfn


def _memblock_of(machine) -> Memblock:
    mb = Memblock()
    for node in machine.nodes:
        for r in node.memory:
            memblock_add(mb, r.start, r.end, node.nid)
        for r in node.reserved:
            memblock_reserve(mb, r.start, r.end, r.name)
    return mb


def mem_init(k) -> None:
    """Kernel: arch/x86/mm/init_64.c, arch/arm/mm/init.c mem_init(): release memory to the
    buddy allocator and print the "Memory:" line (kmemsim prints the totals, without the
    kernel's per-section breakdown)."""
    if k.machine.bootmem == "bootmem":
        from kmemsim.mm.bootmem import free_all_bootmem as free_all_bootmem_bitmap
        free_all_bootmem_bitmap(k)
    else:
        free_all_bootmem(k)
    if int(k.mem.cfg[CFG_HIGHMEM_IDX]) >= 0:
        free_highpages(k)
    total = k.machine.total_pages
    reserved = total - k.totalram_pages
    k.printk(f"Memory: {k.totalram_pages * 4}K/{total * 4}K available ({reserved * 4}K reserved)")


def free_reserved_area(k, stage: str) -> int:
    """Kernel: mm/page_alloc.c free_reserved_area(): give back, page by page, every
    reservation the machine marks as freed by boot stage ``stage`` (the initrd in
    populate_rootfs, the init sections in free_initmem, ...), with the kernel's message."""
    free_page = k.fn.free_reserved_page
    total = 0
    for node in k.machine.nodes:
        for r in node.reserved:
            if r.freed_by != stage:
                continue
            for pfn in range(r.start, r.end):
                free_page(k.mem, pfn)
            k.totalram_pages += r.pages
            total += r.pages
            where = (f" ({r.va + (r.start << PAGE_SHIFT):x} - {r.va + (r.end << PAGE_SHIFT):x})"
                     if r.va else "")
            k.printk(f"Freeing {r.name} memory: {r.pages << (PAGE_SHIFT - 10)}K{where}")
    return total


def cma_init_reserved_areas(k) -> int:
    """Kernel: drivers/base/dma-contiguous.c cma_init_reserved_areas() (core_initcall): every
    pageblock of each CMA area becomes a free MIGRATE_CMA pageblock
    (init_cma_reserved_pageblock)."""
    from kmemsim.machine import CMA_STAGE
    nr = 1 << k.machine.pageblock_order
    total = 0
    for node in k.machine.nodes:
        for r in node.reserved:
            if r.freed_by == CMA_STAGE:
                for pfn in range(r.start, r.end, nr):
                    k.fn.init_cma_reserved_pageblock(k.mem, pfn)
                total += r.pages
    k.totalram_pages += total
    return total


def int_sqrt(x: int) -> int:
    """Kernel: lib/int_sqrt.c int_sqrt(): floor of the square root."""
    return math.isqrt(x)


def setup_per_zone_wmarks(k) -> None:
    """Kernel: mm/page_alloc.c __setup_per_zone_wmarks(): min/low/high of every zone from
    min_free_kbytes, NR_ALLOC_BATCH := high - low, then setup_zone_migrate_reserve()."""
    mem, machine = k.mem, k.machine
    pages_min = k.min_free_kbytes >> (PAGE_SHIFT - 10)
    nzones = len(machine.nodes) * machine.max_nr_zones
    lowmem_pages = sum(int(mem.managed_pages[z]) for z in range(nzones)
                       if not is_highmem_idx(k, z % machine.max_nr_zones))
    migrate_reserve = getattr(k.fn, "setup_zone_migrate_reserve")
    for zone in range(nzones):
        managed = int(mem.managed_pages[zone])
        tmp = pages_min * managed // lowmem_pages if lowmem_pages else 0
        if is_highmem_idx(k, zone % machine.max_nr_zones):
            mem.watermark[zone, WMARK_MIN] = min(max(managed // 1024, SWAP_CLUSTER_MAX), 128)
        else:
            mem.watermark[zone, WMARK_MIN] = tmp
        mem.watermark[zone, WMARK_LOW] = mem.watermark[zone, WMARK_MIN] + (tmp >> 2)
        mem.watermark[zone, WMARK_HIGH] = mem.watermark[zone, WMARK_MIN] + (tmp >> 1)
        delta = int(mem.watermark[zone, WMARK_HIGH] - mem.watermark[zone, WMARK_LOW]
                    - k.fn.zone_page_state(mem, zone, NR_ALLOC_BATCH))
        getattr(k.fn, "__mod_zone_page_state")(mem, zone, NR_ALLOC_BATCH, delta)
        if mem.spanned_pages[zone]:
            migrate_reserve(mem, zone)
    calculate_totalreserve_pages(k)


def init_per_zone_wmark_min(k) -> None:
    """Kernel: mm/page_alloc.c init_per_zone_wmark_min() (module_init): min_free_kbytes =
    int_sqrt(16 x lowmem kB), kept within 128..65536, then the watermarks, the vmstat
    thresholds, the lowmem reserves and the inactive ratios."""
    lowmem_kbytes = nr_free_buffer_pages(k) * (PAGE_SIZE >> 10)
    new_min_free_kbytes = int_sqrt(lowmem_kbytes * 16)
    if new_min_free_kbytes > k.user_min_free_kbytes:
        k.min_free_kbytes = min(max(new_min_free_kbytes, 128), 65536)
    else:
        k.printk(f"min_free_kbytes is not updated to {new_min_free_kbytes} because user defined "
                 f"value {k.user_min_free_kbytes} is preferred")
    setup_per_zone_wmarks(k)
    from kmemsim.mm.vmstat import refresh_zone_stat_thresholds
    refresh_zone_stat_thresholds(k)
    setup_per_zone_lowmem_reserve(k)
    setup_per_zone_inactive_ratio(k)


def set_recommended_min_free_kbytes(k) -> None:
    """Kernel: mm/huge_memory.c set_recommended_min_free_kbytes() (late_initcall), when
    khugepaged runs: THP configured and not switched off by hugepage_init() for a machine
    under 512 MiB."""
    if not k.machine.thp or k.totalram_pages < (512 << (20 - PAGE_SHIFT)):
        return
    mem, machine = k.mem, k.machine
    nr = 1 << machine.pageblock_order
    nr_zones = sum(1 for z in range(len(machine.nodes) * machine.max_nr_zones)
                   if mem.present_pages[z])
    recommended_min = nr * nr_zones * 2 + nr * nr_zones * 3 * 3
    recommended_min = min(recommended_min, nr_free_buffer_pages(k) // 20)
    recommended_min <<= PAGE_SHIFT - 10
    if recommended_min > k.min_free_kbytes:
        k.min_free_kbytes = recommended_min
    setup_per_zone_wmarks(k)


# ---- zonelists (build_all_zonelists) -----------------------------------------------------------

LOCAL_DISTANCE = 10
REMOTE_DISTANCE = 20
RECLAIM_DISTANCE = 30
PENALTY_FOR_NODE_WITH_CPUS = 1


def node_distance(k, a: int, b: int) -> int:
    """Kernel: include/linux/topology.h node_distance(): without an ACPI SLIT (qemu gives
    none here) 10 for the node itself, 20 for any other."""
    return LOCAL_DISTANCE if a == b else REMOTE_DISTANCE


def _populated(k, nid: int, zone_type: int) -> bool:
    return bool(k.mem.present_pages[nid * k.machine.max_nr_zones + zone_type])


def build_zonelists_node(k, nid: int, out: list[int]) -> None:
    """Kernel: mm/page_alloc.c build_zonelists_node(): the node's populated zones, highest
    type first."""
    for zone_type in range(k.machine.max_nr_zones - 1, -1, -1):
        if _populated(k, nid, zone_type):
            out.append(nid * k.machine.max_nr_zones + zone_type)
            check_highest_zone(k, zone_type)


def check_highest_zone(k, zone_type: int) -> None:
    """Kernel: mm/page_alloc.c check_highest_zone(): policy_zone is the highest type seen
    below ZONE_MOVABLE."""
    if zone_type > k.policy_zone and k.machine.zone_types[zone_type] != "Movable":
        k.policy_zone = zone_type


def default_zonelist_order(k) -> str:
    """Kernel: mm/page_alloc.c default_zonelist_order() (NUMA): "Node" unless the DMA zones
    are a small part of memory spread over the nodes, then "Zone"."""
    machine, mem = k.machine, k.mem
    normal = machine.zone_types.index("Normal")
    low_kmem, total = 0, 0
    for node in machine.nodes:
        for j in range(machine.max_nr_zones):
            z = node.nid * machine.max_nr_zones + j
            if mem.present_pages[z]:
                if j < normal:
                    low_kmem += int(mem.managed_pages[z])
                total += int(mem.managed_pages[z])
            elif j == normal:
                return "Node"
    if not low_kmem or low_kmem > total // 2:
        return "Node"
    average = total // (len(machine.nodes) + 1)
    for node in machine.nodes:
        low_kmem = total = 0
        for j in range(machine.max_nr_zones):
            z = node.nid * machine.max_nr_zones + j
            if mem.present_pages[z]:
                if j < normal:
                    low_kmem += int(mem.present_pages[z])
                total += int(mem.present_pages[z])
        if low_kmem and total > average and low_kmem > total * 70 // 100:
            return "Node"
    return "Zone"


def find_next_best_node(k, node: int, used: set[int], node_load: dict[int, int]) -> int:
    """Kernel: mm/page_alloc.c find_next_best_node(): the node itself first, then the
    nearest, preferring higher-numbered nodes, nodes without CPUs and less loaded ones."""
    if node not in used:
        used.add(node)
        return node
    max_node_load = len(k.machine.nodes)
    best, min_val = -1, None
    for n in (nd.nid for nd in k.machine.nodes):
        if n in used:
            continue
        val = node_distance(k, node, n) + (n < node)
        if any(int(c) == n for c in k.mem.cpu_to_node):
            val += PENALTY_FOR_NODE_WITH_CPUS
        val *= max_node_load * 64            # MAX_NODE_LOAD * MAX_NUMNODES (NODES_SHIFT 6)
        val += node_load.get(n, 0)
        if min_val is None or val < min_val:
            best, min_val = n, val
    if best >= 0:
        used.add(best)
    return best


def build_zonelists(k, nid: int, order: str, node_load: dict[int, int]) -> None:
    """Kernel: mm/page_alloc.c build_zonelists(): the fallback list in node or zone order,
    and (NUMA) the node's own list for __GFP_THISNODE."""
    mem, machine = k.mem, k.machine
    fallback: list[int] = []
    if machine.numa:
        used: set[int] = set()
        node_order, load, prev = [], len(machine.nodes), nid
        while (node := find_next_best_node(k, nid, used, node_load)) >= 0:
            if node_distance(k, nid, node) != node_distance(k, nid, prev):
                node_load[node] = load
            prev = node
            load -= 1
            if order == "Node":
                build_zonelists_node(k, node, fallback)
            else:
                node_order.append(node)
        if order == "Zone":
            for zone_type in range(machine.max_nr_zones - 1, -1, -1):
                for node in node_order:
                    if _populated(k, node, zone_type):
                        fallback.append(node * machine.max_nr_zones + zone_type)
                        check_highest_zone(k, zone_type)
        thisnode: list[int] = []
        build_zonelists_node(k, nid, thisnode)
        mem.zonelists[nid, 1, :len(thisnode)] = thisnode
    else:
        build_zonelists_node(k, nid, fallback)
        others = [n.nid for n in machine.nodes if n.nid > nid] + \
                 [n.nid for n in machine.nodes if n.nid < nid]
        for node in others:
            build_zonelists_node(k, node, fallback)
    mem.zonelists[nid, 0, :] = -1
    mem.zonelists[nid, 0, :len(fallback)] = fallback
    mem.zlc_fullzones[nid, :] = 0                        # build_zonelist_cache()


def init_zone_allows_reclaim(k, nid: int) -> None:
    """Kernel: mm/page_alloc.c init_zone_allows_reclaim(): nodes within RECLAIM_DISTANCE may
    be reclaimed for; a farther node switches zone_reclaim_mode on."""
    from kmemsim.mm.mmzone import CFG_ZONE_RECLAIM_MODE
    for node in k.machine.nodes:
        if node_distance(k, nid, node.nid) <= RECLAIM_DISTANCE:
            k.mem.reclaim_nodes[nid, node.nid] = 1
        else:
            k.mem.cfg[CFG_ZONE_RECLAIM_MODE] = 1


def setup_pageset(k, cpu: int, zone: int, batch: int) -> None:
    """Kernel: mm/page_alloc.c setup_pageset() (pageset_init + pageset_set_batch)."""
    k.mem.pcp[cpu, zone] = (0, 0, 0)
    pageset_set_batch(k, cpu, zone, batch)


def pageset_update(k, cpu: int, zone: int, high: int, batch: int) -> None:
    """Kernel: mm/page_alloc.c pageset_update()."""
    from kmemsim.mm.mmzone import PCP_BATCH, PCP_HIGH
    k.mem.pcp[cpu, zone, PCP_HIGH] = high
    k.mem.pcp[cpu, zone, PCP_BATCH] = batch


def pageset_set_batch(k, cpu: int, zone: int, batch: int) -> None:
    """Kernel: mm/page_alloc.c pageset_set_batch(): high = 6 x batch."""
    pageset_update(k, cpu, zone, 6 * batch, max(1, batch))


def pageset_set_high(k, cpu: int, zone: int, high: int) -> None:
    """Kernel: mm/page_alloc.c pageset_set_high(): batch = high / 4, at most PAGE_SHIFT*8."""
    batch = max(1, high // 4)
    if high // 4 > PAGE_SHIFT * 8:
        batch = PAGE_SHIFT * 8
    pageset_update(k, cpu, zone, high, batch)


def pageset_set_high_and_batch(k, cpu: int, zone: int) -> None:
    """Kernel: mm/page_alloc.c pageset_set_high_and_batch(): from
    vm.percpu_pagelist_fraction if set, else zone_batchsize()."""
    if k.percpu_pagelist_fraction:
        pageset_set_high(k, cpu, zone, int(k.mem.managed_pages[zone]) // k.percpu_pagelist_fraction)
    else:
        pageset_set_batch(k, cpu, zone, zone_batchsize(int(k.mem.managed_pages[zone])))


def setup_per_cpu_pageset(k) -> None:
    """Kernel: mm/page_alloc.c setup_per_cpu_pageset(): every populated zone gets real
    per-CPU pagesets in place of the boot pageset."""
    for zone in range(k.mem.managed_pages.shape[0]):
        if k.mem.present_pages[zone]:
            for cpu in range(k.machine.cpus):
                k.mem.pcp[cpu, zone, 0] = 0           # pageset_init: count 0, lists empty
                pageset_set_high_and_batch(k, cpu, zone)


def boot_pagesets(k) -> None:
    """__build_all_zonelists(): every CPU's boot_pageset is setup_pageset(p, 0) (high 0,
    batch 1), and every zone uses it until setup_per_cpu_pageset().  (In the kernel the zones
    share one boot_pageset per CPU; with high 0 every page leaves it at once, so per-zone
    copies behave the same.)"""
    for zone in range(k.mem.managed_pages.shape[0]):
        for cpu in range(k.machine.cpus):
            setup_pageset(k, cpu, zone, 0)


# ---- reserves ----------------------------------------------------------------------------------

def default_lowmem_reserve_ratio(machine) -> list[int]:
    """sysctl_lowmem_reserve_ratio[] of mm/page_alloc.c: 256 for DMA and DMA32, 32 for
    HighMem and for the last entry (Normal when there is no HighMem)."""
    ratios = {"DMA": 256, "DMA32": 256, "HighMem": 32}
    out = [ratios[z] for z in machine.zone_types if z in ratios]
    return out + [32] * (machine.max_nr_zones - 1 - len(out))


def setup_per_zone_lowmem_reserve(k) -> None:
    """Kernel: mm/page_alloc.c setup_per_zone_lowmem_reserve(): zone idx keeps back (the
    managed pages of the zones above it, up to j) / ratio[idx] from allocations whose classzone
    is j."""
    mem, machine = k.mem, k.machine
    ratio = k.lowmem_reserve_ratio
    for node in machine.nodes:
        base = node.nid * machine.max_nr_zones
        for j in range(machine.max_nr_zones):
            managed = int(mem.managed_pages[base + j])
            mem.lowmem_reserve[base + j, j] = 0
            for idx in range(j - 1, -1, -1):
                if ratio[idx] < 1:
                    ratio[idx] = 1
                mem.lowmem_reserve[base + idx, j] = managed // ratio[idx]
                managed += int(mem.managed_pages[base + idx])
    calculate_totalreserve_pages(k)


def calculate_totalreserve_pages(k) -> None:
    """Kernel: mm/page_alloc.c calculate_totalreserve_pages(): per zone the largest lowmem
    reserve against it plus its high watermark, at most its managed pages."""
    mem, nz = k.mem, k.machine.max_nr_zones
    total = 0
    for zone in range(mem.managed_pages.shape[0]):
        i = zone % nz
        reserve = max([int(mem.lowmem_reserve[zone, j]) for j in range(i, nz)] + [0])
        reserve = min(reserve + int(mem.watermark[zone, WMARK_HIGH]),
                      int(mem.managed_pages[zone]))
        total += reserve
    k.totalreserve_pages = total


def setup_per_zone_inactive_ratio(k) -> None:
    """Kernel: mm/page_alloc.c setup_per_zone_inactive_ratio(): int_sqrt(10 x GiB), 1 below
    a GiB."""
    for zone in range(k.mem.managed_pages.shape[0]):
        gb = int(k.mem.managed_pages[zone]) >> (30 - PAGE_SHIFT)
        k.mem.inactive_ratio[zone] = int_sqrt(10 * gb) if gb else 1
