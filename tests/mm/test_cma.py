"""CONFIG_CMA: MIGRATE_CMA pageblocks from a CMA area, the MOVABLE fallback into them."""

import pytest

import kmemsim
from kmemsim.errors import KmemsimError
from kmemsim.machine import Machine, Node, Range
from kmemsim.mm.mmzone import MIGRATE_MOVABLE, MIGRATE_UNMOVABLE, NR_FREE_CMA_PAGES, free_list

B = 0x20000


def cma_machine(free_movable):
    """A 32 MiB zone: one 4 MiB CMA area at B and ``free_movable`` pages free after it."""
    zone = Range(B, B + 0x2000)
    reserved = [Range(B, B + 0x400, "CMA area", "cma_init_reserved_areas")]
    reserved.append(Range(B + 0x400 + free_movable, zone.end, "rest"))
    # slab=False: with only the CMA area free the SLUB bootstrap would find no unmovable page
    return Machine(name="cma", description="CMA test", arch="generic", cma=True,
                   memory_model="flatmem", pageblock_order=10, slab=False,
                   nodes=[Node(0, {"Normal": zone, "Movable": Range(0, 0)}, [zone],
                               reserved)]).validate()


def test_cma_area_becomes_cma_pageblocks(mode):
    k = kmemsim.boot(cma_machine(0x400), mode=mode, stop_after="cma_init_reserved_areas")
    mt_cma = int(k.mem.cfg[3])
    assert mt_cma == 4 and k.fn.get_pageblock_migratetype(k.mem, B) == mt_cma
    assert int(k.mem.vm_stat[0, NR_FREE_CMA_PAGES]) == 0x400
    assert int(k.mem.managed_pages[0]) == 0x800
    head = int(free_list(k.mem, 0, 10, mt_cma))
    assert int(k.mem.lru_next[head]) == B
    k.check()
    assert "CMA: reserved 4 MiB at 20000000" in k.dmesg


def test_movable_falls_back_to_cma_unmovable_never_does(mode):
    k = kmemsim.boot(cma_machine(0), mode=mode, stop_after="cma_init_reserved_areas")
    rmqueue = getattr(k.fn, "__rmqueue")
    # the only free memory is the CMA area: an unmovable request skips CMA (its fallback
    # row has no CMA) and ends in MIGRATE_RESERVE, which is empty
    assert rmqueue(k.mem, 0, 0, MIGRATE_UNMOVABLE) == -1
    # a movable request tries CMA first; CMA pageblocks never change owner and the split
    # remainder goes back to the CMA lists
    assert rmqueue(k.mem, 0, 0, MIGRATE_MOVABLE) == B
    mt_cma = int(k.mem.cfg[3])
    assert k.fn.get_pageblock_migratetype(k.mem, B) == mt_cma
    assert int(k.mem.lru_next[int(free_list(k.mem, 0, 9, mt_cma))]) == B + 0x200


def test_freeing_a_cma_page_counts_free_cma_pages(mode):
    k = kmemsim.boot(cma_machine(0), mode=mode, stop_after="cma_init_reserved_areas")
    a = k.alloc(3, "GFP_HIGHUSER_MOVABLE")
    assert a.pfn == B and a.migratetype == "Movable"
    assert int(k.mem.vm_stat[0, NR_FREE_CMA_PAGES]) == 0x400 - 8
    k.free(a)
    assert int(k.mem.vm_stat[0, NR_FREE_CMA_PAGES]) == 0x400
    k.check()


def test_x86_64_cma_option():
    k = kmemsim.boot("x86_64", mem="1G", cma="64M")
    assert "CMA: reserved 64 MiB at 3bc00000" in k.dmesg
    assert "CMA" in k.show("pagetypeinfo").splitlines()[-3]
    with pytest.raises(KmemsimError, match="multiple of 4M"):
        kmemsim.boot("x86_64", mem="1G", cma="3M")
    with pytest.raises(KmemsimError, match="only the x86_64 and numa presets"):
        kmemsim.boot("tiny", cma="4M")


def test_cma_area_needs_config_cma():
    m = cma_machine(0)
    m.cma = False
    with pytest.raises(KmemsimError, match="needs cma = true"):
        m.validate()
