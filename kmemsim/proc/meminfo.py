"""/proc/meminfo.

Kernel: fs/proc/meminfo.c meminfo_proc_show(), mm/page_alloc.c si_meminfo(), mm/highmem.c
nr_free_highpages(), mm/util.c vm_commit_limit(), mm/vmalloc.c get_vmalloc_info(),
mm/hugetlb.c hugetlb_report_meminfo(), arch/x86/mm/pageattr.c arch_report_meminfo() (v3.13).

3.13's layout (there is no MemAvailable line yet: it arrived in 3.14), with the lines that
depend on the configuration: HighTotal/HighFree/LowTotal/LowFree with CONFIG_HIGHMEM (arndale),
AnonHugePages with THP, the HugePages_* lines and Hugepagesize with CONFIG_HUGETLB_PAGE, the
DirectMap lines on x86 only (no other architecture reports anything after hugetlb's lines).

Computed from the allocator's state:

* MemTotal (totalram_pages), MemFree (global NR_FREE_PAGES), HighTotal (the HighMem zones'
  managed pages: totalhigh_pages), HighFree (their free pages: nr_free_highpages()),
  LowTotal, LowFree.
* Every line that reads a zone counter, through global_page_state(): Cached (NR_FILE_PAGES less
  swap cache and buffers), Active, Inactive, Active(anon), Inactive(anon), Active(file),
  Inactive(file), Unevictable, Mlocked, Dirty, Writeback, AnonPages, Mapped, Shmem, Slab
  (NR_SLAB_RECLAIMABLE + NR_SLAB_UNRECLAIMABLE), SReclaimable, SUnreclaim, KernelStack
  (NR_KERNEL_STACK x THREAD_SIZE 8 KiB), PageTables, NFS_Unstable, Bounce, WritebackTmp,
  AnonHugePages (NR_ANON_TRANSPARENT_HUGEPAGES x 512 pages).  They are 0 on a freshly booted
  machine, which has no page cache, LRU, slab or process yet; they follow the counters as the
  subsystems that move them arrive.
* SwapTotal, SwapFree: the machine's swap device (``--swap``); SwapCached: pages in the swap
  cache (PG_swapcache).
* CommitLimit: vm_commit_limit() = (totalram_pages - hugetlb pages) x vm.overcommit_ratio (50)
  / 100 + swap pages (none).
* VmallocTotal: VMALLOC_END - VMALLOC_START of the architecture: x86_64's constant 32 TiB area
  (34359738367 kB); 32-bit ARM's 0xff000000 less VMALLOC_START (high_memory, the end of
  lowmem mapped at PAGE_OFFSET 0xc0000000, rounded up past an 8 MiB guard: 240 MiB on
  arndale).  The made-up "generic" machines are given x86_64's layout.
* HugePages_Total/Free/Rsvd/Surp: 0 (no huge page reserved: vm.nr_hugepages 0);
  Hugepagesize: the default huge page, of pageblock order (HUGETLB_PAGE_ORDER): 2048 kB on
  x86_64.
* DirectMap4k, DirectMap2M (x86_64): the kernel direct mapping as init_mem_mapping() builds it
  from the machine's memory ranges: the first MiB with 4 KiB pages, then each range with 2 MiB
  pages where aligned and 4 KiB pages at its unaligned head and tail; then four 2 MiB pages
  split into 4 KiB pages by the page-attribute changes around the kernel image's sections.
  Approximate: the split count is measured on the real 3.13.11 image (real-3.13/1G and 4G
  both show it) and is a property of that image, not computed; no 1 GiB pages (qemu64 has no
  gbpages, so there is no DirectMap1G line).  This reproduces the real 1G and 4G files.

Placeholders (kmemsim has no model of what moves them, so they print what a machine with
nothing of it prints):

* Buffers: 0 (nr_blockdev_pages(): no block device).
* Committed_AS: 0 (vm_committed_as: no process has mapped anything).
* VmallocUsed 0 and VmallocChunk = VmallocTotal: kmemsim has no vmalloc, and with an empty
  vmap_area_list get_vmalloc_info() reports exactly these.  The real files' VmallocChunk is
  not a constant (VmallocTotal less 1928 kB at 1G, less 7320 kB at 4G: the areas boot
  vmalloc'd and ioremapped), so it is not copied.
"""

from kmemsim.mm.mmzone import NR_FREE_PAGES, PAGE_SHIFT, ZONE_STAT_ITEMS
from kmemsim.mm.vmstat import global_page_state, zone_page_state

__all__ = ["meminfo_show", "si_meminfo", "vm_commit_limit", "vmalloc_total",
           "direct_pages_count"]

THREAD_SIZE = 8192                 # x86_64 and ARM: THREAD_SIZE_ORDER 1
HPAGE_PMD_NR = 512                 # THP: one PMD (2 MiB) of 4 KiB pages
OVERCOMMIT_RATIO = 50              # vm.overcommit_ratio default
X86_64_VMALLOC_START = 0xFFFFC90000000000
X86_64_VMALLOC_END = 0xFFFFE8FFFFFFFFFF
ARM_PAGE_OFFSET = 0xC0000000       # CONFIG_VMSPLIT_3G
ARM_VMALLOC_OFFSET = 8 << 20
ARM_VMALLOC_END = 0xFF000000
ISA_END_PFN = 0x100                # ISA_END_ADDRESS 1 MiB
PMD_PAGES = 512                    # 2 MiB
CPA_SPLIT_2M_PAGES = 4             # measured: 2 MiB direct-map pages split around the image

_item = ZONE_STAT_ITEMS.index
NR_LRU_BASE = _item("nr_inactive_anon")
LRU_INACTIVE_ANON, LRU_ACTIVE_ANON, LRU_INACTIVE_FILE, LRU_ACTIVE_FILE, LRU_UNEVICTABLE = \
    range(5)


def K(pages: int) -> int:
    """Pages to KiB, as meminfo_proc_show()'s K()."""
    return pages << (PAGE_SHIFT - 10)


def si_meminfo(k) -> dict:
    """Kernel: mm/page_alloc.c si_meminfo() and mm/highmem.c nr_free_highpages(): totalram,
    freeram, bufferram, totalhigh, freehigh (pages)."""
    machine, mem = k.machine, k.mem
    totalhigh = freehigh = 0
    if "HighMem" in machine.zone_types:
        j = machine.zone_types.index("HighMem")
        for node in machine.nodes:
            zone = node.nid * machine.max_nr_zones + j
            totalhigh += int(mem.managed_pages[zone])
            freehigh += int(zone_page_state(mem, zone, NR_FREE_PAGES))
    return {"totalram": int(k.totalram_pages), "freeram": global_page_state(k, NR_FREE_PAGES),
            "bufferram": 0, "totalhigh": totalhigh, "freehigh": freehigh}


def vm_commit_limit(k) -> int:
    """Kernel: mm/util.c vm_commit_limit() (pages): no huge pages reserved, no swap."""
    hugetlb_total_pages = 0
    total_swap_pages = 0
    ratio = int(getattr(k, "sysctl_overcommit_ratio", OVERCOMMIT_RATIO))
    return (int(k.totalram_pages) - hugetlb_total_pages) * ratio // 100 + total_swap_pages


def vmalloc_total(machine) -> int:
    """VMALLOC_TOTAL (bytes) of the machine's architecture."""
    if machine.arch == "arm":
        node = machine.nodes[0]
        lowmem_end = node.zones["Normal"].end                 # arm_lowmem_limit
        high_memory = ARM_PAGE_OFFSET + ((lowmem_end - node.start_pfn) << PAGE_SHIFT)
        start = (high_memory + ARM_VMALLOC_OFFSET) & ~(ARM_VMALLOC_OFFSET - 1)
        return ARM_VMALLOC_END - start
    return X86_64_VMALLOC_END - X86_64_VMALLOC_START


def direct_pages_count(machine) -> tuple[int, int]:
    """(4 KiB pages, 2 MiB pages) of the x86_64 direct mapping (arch/x86/mm/init.c
    init_mem_mapping() and split_mem_range(), then the CPA splits): approximate, see the
    module docstring."""
    n4k, n2m = ISA_END_PFN, 0                 # init_memory_mapping(0, ISA_END_ADDRESS)
    for node in machine.nodes:
        for r in node.memory:
            start, end = max(r.start, ISA_END_PFN), r.end
            if start >= end:
                continue
            head = min(end, -(-start // PMD_PAGES) * PMD_PAGES)
            tail = max(head, end // PMD_PAGES * PMD_PAGES)
            n4k += (head - start) + (end - tail)
            n2m += (tail - head) // PMD_PAGES
    split = min(CPA_SPLIT_2M_PAGES, n2m)
    return n4k + split * PMD_PAGES, n2m - split


def meminfo_show(k) -> str:
    """The text of /proc/meminfo (Kernel: fs/proc/meminfo.c meminfo_proc_show(), then
    hugetlb_report_meminfo() and arch_report_meminfo())."""
    machine = k.machine
    g = lambda name: global_page_state(k, _item(name))                 # noqa: E731
    i = si_meminfo(k)
    from kmemsim.mm.mmzone import CFG_NR_SWAP_PAGES, CFG_TOTAL_SWAP_PAGES
    from kmemsim.mm.page_flags import PG_swapcache
    swapcache = int(((k.mem.flags >> PG_swapcache) & 1).sum())
    cached = max(0, g("nr_file_pages") - swapcache - i["bufferram"])
    pages = [global_page_state(k, NR_LRU_BASE + lru) for lru in range(5)]
    total = vmalloc_total(machine)
    vmalloc_used, vmalloc_chunk = 0, total           # get_vmalloc_info(), empty list

    lines = [
        ("MemTotal", K(i["totalram"])),
        ("MemFree", K(i["freeram"])),
        ("Buffers", K(i["bufferram"])),
        ("Cached", K(cached)),
        ("SwapCached", K(swapcache)),
        ("Active", K(pages[LRU_ACTIVE_ANON] + pages[LRU_ACTIVE_FILE])),
        ("Inactive", K(pages[LRU_INACTIVE_ANON] + pages[LRU_INACTIVE_FILE])),
        ("Active(anon)", K(pages[LRU_ACTIVE_ANON])),
        ("Inactive(anon)", K(pages[LRU_INACTIVE_ANON])),
        ("Active(file)", K(pages[LRU_ACTIVE_FILE])),
        ("Inactive(file)", K(pages[LRU_INACTIVE_FILE])),
        ("Unevictable", K(pages[LRU_UNEVICTABLE])),
        ("Mlocked", K(g("nr_mlock"))),
    ]
    if "HighMem" in machine.zone_types:              # CONFIG_HIGHMEM
        lines += [
            ("HighTotal", K(i["totalhigh"])),
            ("HighFree", K(i["freehigh"])),
            ("LowTotal", K(i["totalram"] - i["totalhigh"])),
            ("LowFree", K(i["freeram"] - i["freehigh"])),
        ]
    lines += [
        ("SwapTotal", K(int(k.mem.cfg[CFG_TOTAL_SWAP_PAGES]))),
        ("SwapFree", K(int(k.mem.cfg[CFG_NR_SWAP_PAGES]))),
        ("Dirty", K(g("nr_dirty"))),
        ("Writeback", K(g("nr_writeback"))),
        ("AnonPages", K(g("nr_anon_pages"))),
        ("Mapped", K(g("nr_mapped"))),
        ("Shmem", K(g("nr_shmem"))),
        ("Slab", K(g("nr_slab_reclaimable") + g("nr_slab_unreclaimable"))),
        ("SReclaimable", K(g("nr_slab_reclaimable"))),
        ("SUnreclaim", K(g("nr_slab_unreclaimable"))),
        ("KernelStack", g("nr_kernel_stack") * THREAD_SIZE // 1024),
        ("PageTables", K(g("nr_page_table_pages"))),
        ("NFS_Unstable", K(g("nr_unstable"))),
        ("Bounce", K(g("nr_bounce"))),
        ("WritebackTmp", K(g("nr_writeback_temp"))),
        ("CommitLimit", K(vm_commit_limit(k))),
        ("Committed_AS", K(0)),
        ("VmallocTotal", total >> 10),
        ("VmallocUsed", vmalloc_used >> 10),
        ("VmallocChunk", vmalloc_chunk >> 10),
    ]
    if machine.thp:                                  # CONFIG_TRANSPARENT_HUGEPAGE
        lines.append(("AnonHugePages", K(g("nr_anon_transparent_hugepages") * HPAGE_PMD_NR)))
    out = [f"{name + ':':<16}{value:8d} kB\n" for name, value in lines]
    if machine.hugetlb:                              # hugetlb_report_meminfo()
        out += [f"HugePages_Total:   {0:5d}\n",
                f"HugePages_Free:    {0:5d}\n",
                f"HugePages_Rsvd:    {0:5d}\n",
                f"HugePages_Surp:    {0:5d}\n",
                f"Hugepagesize:   {4 << machine.pageblock_order:8d} kB\n"]
    if machine.arch == "x86_64":                     # arch_report_meminfo()
        n4k, n2m = direct_pages_count(machine)
        out += [f"DirectMap4k:    {n4k << 2:8d} kB\n",
                f"DirectMap2M:    {n2m << 11:8d} kB\n"]
    return "".join(out)
