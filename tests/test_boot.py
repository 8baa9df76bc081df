"""Boot as 3.13 does: zones, memmap_init_zone, the buddy hand-over, watermarks, reserves."""

import re

import numpy as np
import pytest

import kmemsim
from conftest import real_file
from kmemsim.mm.mmzone import MIGRATE_MOVABLE, MIGRATE_RESERVE, MIGRATE_UNMOVABLE
from kmemsim.mm.page_flags import PG_BUDDY_MASK, PG_RESERVED_MASK

PRESETS = [("tiny", None), ("x86_64", "1G"), ("x86_64", "128M"), ("numa", None),
           ("arndale", None)]


@pytest.fixture(scope="module", params=PRESETS, ids=lambda p: f"{p[0]}-{p[1] or 'default'}")
def k(request):
    name, mem = request.param
    return kmemsim.boot(name, mem=mem)


def zones(k):
    for zone in range(len(k.machine.nodes) * k.machine.max_nr_zones):
        if k.mem.spanned_pages[zone]:
            yield zone


def expected_buddyinfo(k, zone):
    """An independent oracle: cut the zone's free pages into the largest aligned blocks."""
    mem = k.mem
    start = int(mem.zone_start_pfn[zone])
    end = start + int(mem.spanned_pages[zone])
    lo = start - start % 1024
    free = np.zeros(-(-(end - lo) // 1024) * 1024, dtype=bool)
    flags = mem.flags[start:end]
    free[start - lo:end - lo] = ((flags & PG_RESERVED_MASK) == 0) & (mem.count[start:end] == 0)
    from kmemsim.validate import pcp_pages
    for pfn in pcp_pages(k):                      # pages on per-CPU lists are not buddy-free
        if start <= pfn < end:
            free[pfn - lo] = False
    counts = [0] * 11

    def cut(s, order):
        block = free[s:s + (1 << order)]
        if block.all():
            counts[order] += 1
        elif order and block.any():
            cut(s, order - 1)
            cut(s + (1 << (order - 1)), order - 1)
    for s in range(0, len(free), 1024):
        cut(s, 10)
    return counts


def test_validators_hold_after_boot(k):
    k.check()


def slab_pages(k, zone):
    """NR_SLAB_RECLAIMABLE + NR_SLAB_UNRECLAIMABLE of a zone, with the per-CPU deltas."""
    return sum(int(k.mem.vm_stat[zone, i]) + int(k.mem.vm_stat_diff[:, zone, i].sum())
               for i in (13, 14))


def test_free_pages_equal_managed(k):
    """Right after boot every managed page is free (on the buddy lists, NR_FREE_PAGES with
    the per-CPU deltas, or on a per-CPU list: the pages boot freed late went there) but the
    slab pages of the SLUB bootstrap (kmem_cache_node, kmem_cache, the kmalloc caches'
    names)."""
    total_slab = 0
    for zone in zones(k):
        free = int(k.mem.vm_stat[zone, 0]) + int(k.mem.vm_stat_diff[:, zone, 0].sum())
        on_pcp = int(k.mem.pcp[:, zone, 0].sum())
        assert free + on_pcp + slab_pages(k, zone) == int(k.mem.managed_pages[zone])
        total_slab += slab_pages(k, zone)
    # x86_64: kmem_cache_node (one slab per node), kmem_cache (28 caches, 16 per slab: 2),
    # kmalloc-8 and kmalloc-16 (the names); without ZONE_DMA (tiny, arndale) 15 or 11 caches
    # need one kmem_cache slab, the names one kmalloc-8 (tiny) or kmalloc-64 (ARM) slab
    dma = "DMA" in k.machine.zone_types
    assert total_slab == (4 if dma else 2) + len(k.machine.nodes)


def test_buddyinfo_holds_the_largest_blocks_alignment_allows(k):
    for zone in zones(k):
        assert k.mem.nr_free[zone].tolist() == expected_buddyinfo(k, zone)


def test_pageblocks_are_movable_except_reserve(k):
    """Every pageblock whose first pfn memmap_init_zone reaches is MOVABLE, but for the
    MIGRATE_RESERVE blocks (as many as the min watermark covers, at most 2); a block whose
    first pfn lies before the zone (x86 DMA starts at pfn 1) is never marked and stays
    UNMOVABLE.  The SLUB bootstrap's first page stole a MAX_ORDER block (__rmqueue_fallback
    from the largest order): all of its pageblocks are UNMOVABLE."""
    nr = 1 << k.machine.pageblock_order
    get = k.fn.get_pageblock_migratetype
    from kmemsim.validate import slab_pages as slabs
    stolen = {p >> 10 for p in slabs(k)}
    for zone in zones(k):
        start = int(k.mem.zone_start_pfn[zone])
        end = start + int(k.mem.spanned_pages[zone])
        reserve = 0
        for block in range(start - start % nr, end, nr):
            if not k.fn.pfn_valid(k.mem, max(block, start)):
                continue
            mt = int(get(k.mem, max(block, start)))
            if block < start or block >> 10 in stolen:
                assert mt == MIGRATE_UNMOVABLE, f"pfn {block}"
            elif mt == MIGRATE_RESERVE:
                reserve += 1
            else:
                assert mt == MIGRATE_MOVABLE, f"pfn {block}"
        assert reserve <= min(2, -(-int(k.mem.watermark[zone, 0]) // nr))


def test_no_page_is_both_free_and_reserved(k):
    assert not np.any((k.mem.flags & PG_BUDDY_MASK != 0) & (k.mem.flags & PG_RESERVED_MASK != 0))


# ---- against the real 3.13.11 kernel -----------------------------------------------------------

def real_zoneinfo(size):
    text = real_file(size, "zoneinfo") if size != "128M" else \
        real_file("trace-128M-pressure", "zoneinfo")
    out, zone = {}, None
    for line in text.splitlines():
        m = re.match(r"Node \d+, zone\s+(\S+)", line)
        if m:
            zone = out.setdefault(m.group(1), {})
            continue
        m = re.match(r"\s+(pages free|min|low|high|spanned|present|managed|start_pfn:)\s+(\d+)",
                     line)
        if m and zone is not None:
            zone.setdefault(m.group(1).rstrip(":"), int(m.group(2)))
    return out


@pytest.mark.parametrize("size", ["128M", "1G", "4G"])
def test_zones_and_watermarks_match_real_313(size):
    k = kmemsim.boot("x86_64", mem=size)
    real = real_zoneinfo(size)
    real_min_free = int((real_file(size, "min_free_kbytes") if size != "128M" else
                         real_file("trace-128M-pressure", "min_free_kbytes")).strip())
    # 1G and 4G take the khugepaged minimum: exact.  At 128M (THP off) it is int_sqrt of the
    # lowmem kB, and kmemsim's model of early reservations keeps 3 pages more than the real
    # boot there (docs/fidelity.md): 1370 instead of 1371.
    assert abs(k.min_free_kbytes - real_min_free) <= (1 if size == "128M" else 0)
    for name, r in real.items():
        zone = k.zone_id(0, name)
        assert int(k.mem.zone_start_pfn[zone]) == r["start_pfn"]
        assert int(k.mem.spanned_pages[zone]) == r["spanned"]
        assert int(k.mem.present_pages[zone]) == r["present"]
        managed = int(k.mem.managed_pages[zone])
        assert abs(managed - r["managed"]) <= r["managed"] // 100       # within 1%
        # the real kernel computed its watermarks before the initrd and init memory were
        # freed, from a managed count a few hundred pages lower: allow one page per 1000
        for i, key in enumerate(("min", "low", "high")):
            assert abs(int(k.mem.watermark[zone, i]) - r[key]) <= max(2, r[key] // 1000), key


@pytest.mark.parametrize("size", ["128M", "1G", "4G"])
def test_boot_messages_match_real_313(size):
    k = kmemsim.boot("x86_64", mem=size)
    dmesg = real_file(size, "dmesg") if size != "128M" else real_file("trace-128M-pressure",
                                                                      "dmesg")
    real_lines = {re.sub(r"^\[\s*[\d.]+\] ", "", line) for line in dmesg.splitlines()}
    for line in k.dmesg:
        if line.startswith("Memory:"):
            continue            # kmemsim prints the totals only (see mem_init)
        assert line in real_lines, line
