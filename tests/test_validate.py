"""Each validator catches the corruption it is for, with a message that names it.

Every test boots the tiny machine without the slab allocator (one Normal zone, pfns 0..2047, the kernel image 256..319
reserved, pageblock order 6), checks the free blocks boot leaves, corrupts exactly one thing by
hand, and requires a ValidationError whose one line names what broke.
"""

import pytest

import kmemsim
from kmemsim.errors import KmemsimError, ValidationError
from kmemsim.lib.list import list_add, list_del
from kmemsim.mm.mmzone import (MIGRATE_MOVABLE, MIGRATE_RESERVE, MIGRATE_UNMOVABLE,
                               NR_FREE_PAGES, free_list)
from kmemsim.mm.page_alloc import rmv_page_order, set_page_order
from kmemsim.mm.page_flags import PG_BUDDY_MASK, PG_RESERVED_MASK
from kmemsim.validate import (free_blocks, validate_all, validate_counters,
                              validate_free_lists, validate_no_free_buddies,
                              validate_page_accounting)

ZONE = 0                     # node 0, ZONE_NORMAL
# what boot leaves free on the tiny machine: head pfn -> (order, migratetype of its list)
BOOT_FREE = {0: (8, MIGRATE_RESERVE), 320: (6, MIGRATE_MOVABLE), 384: (7, MIGRATE_MOVABLE),
             512: (9, MIGRATE_MOVABLE), 1024: (10, MIGRATE_MOVABLE)}
ALL = (validate_all, validate_free_lists, validate_no_free_buddies, validate_counters,
       validate_page_accounting)


def boot_tiny():
    """The tiny machine without kmem_cache_init: nothing allocated at boot."""
    import dataclasses

    from kmemsim.presets import get_machine
    return kmemsim.boot(dataclasses.replace(get_machine("tiny"), slab=False))


@pytest.fixture
def k():
    k = boot_tiny()
    assert free_blocks(k, ZONE) == BOOT_FREE
    assert int(k.mem.vm_stat[ZONE, NR_FREE_PAGES]) == 1984
    return k


def raises(k, message, *validators):
    """Kernel.check and each named validator raise ValidationError, and its text is
    ``message`` exactly."""
    for check in (lambda: k.check(),) + tuple(lambda v=v: v(k) for v in validators):
        with pytest.raises(ValidationError) as info:
            check()
        assert str(info.value) == message


def move_block(k, pfn, order, new_order, mt=MIGRATE_MOVABLE, zone=ZONE, new_zone=ZONE):
    """Take the free block at ``pfn`` off its list and queue it as a block of ``new_order`` (on
    ``new_zone``), keeping nr_free right: only what the caller wants broken is broken."""
    list_del(k.mem, pfn)
    k.mem.nr_free[zone, order] -= 1
    rmv_page_order(k.mem, pfn)
    set_page_order(k.mem, pfn, new_order)
    list_add(k.mem, pfn, free_list(k.mem, new_zone, new_order, mt))
    k.mem.nr_free[new_zone, new_order] += 1


# ---- clean states pass ----------------------------------------------------------------------

@pytest.mark.parametrize("machine,kw", [("tiny", {}), ("x86_64", {"mem": "64M"}),
                                        ("x86_64", {"mem": "256M"})])
def test_clean_boot_passes(machine, kw):
    k = kmemsim.boot(machine, **kw)
    for validator in ALL:
        validator(k)          # raises on any problem


def test_clean_state_with_live_allocations_passes(k):
    a = k.alloc(3, "GFP_KERNEL")
    b = k.alloc(0, "GFP_HIGHUSER_MOVABLE")
    # a: no Unmovable block, so the largest Movable one (1024, order 10) is stolen and split;
    # b: the smallest Movable block, 320 of order 6
    assert (a.pfn, b.pfn) == (1024, 320)
    for validator in ALL:
        validator(k)
    k.free(a)
    k.check()


def test_validation_error_is_a_kmemsim_error():
    assert issubclass(ValidationError, KmemsimError)


# ---- validate_counters ------------------------------------------------------------------------

def test_wrong_nr_free(k):
    k.mem.nr_free[ZONE, 10] += 1
    raises(k, "Normal free_area[10].nr_free is 2 but its lists hold 1 blocks", validate_counters)
    validate_free_lists(k)
    validate_no_free_buddies(k)
    validate_page_accounting(k)


def test_nr_free_pages_off_by_one(k):
    k.mem.vm_stat[ZONE, NR_FREE_PAGES] -= 1
    raises(k, "Normal NR_FREE_PAGES is 1983 but its lists hold 1984 pages", validate_counters)
    validate_page_accounting(k)       # it counts the lists, not the counter


# ---- validate_free_lists ---------------------------------------------------------------------

def test_free_block_without_pagebuddy(k):
    k.mem.flags[1024] &= ~PG_BUDDY_MASK & 0xFFFFFFFF
    raises(k, "free block at pfn 1024 (order 10, Normal) is on a free list without PageBuddy",
           validate_free_lists, validate_no_free_buddies, validate_counters,
           validate_page_accounting)


def test_pagebuddy_on_no_list(k):
    k.mem.flags[256] |= PG_BUDDY_MASK          # a page of the kernel image
    raises(k, "pfn 256 is marked PageBuddy but is on no free list", validate_free_lists)


def test_wrong_page_private(k):
    k.mem.private[512] = 8
    raises(k, "free block at pfn 512 (order 9, Normal): page_private says order 8",
           validate_free_lists)


def test_broken_prev_link(k):
    head = int(free_list(k.mem, ZONE, 10, MIGRATE_MOVABLE))
    assert int(k.mem.lru_next[head]) == 1024 and int(k.mem.lru_prev[1024]) == head
    k.mem.lru_prev[1024] = 7
    raises(k, f"Normal free_area[10].free_list[Movable]: pfn 1024's prev link is 7, not {head}",
           validate_free_lists)


def test_link_to_no_pfn(k):
    k.mem.lru_next[1024] = 1 << 20
    raises(k, f"Normal free_area[10].free_list[Movable]: link to {1 << 20}, which is not a pfn",
           validate_free_lists)


def test_head_prev_link_broken(k):
    head = int(free_list(k.mem, ZONE, 9, MIGRATE_MOVABLE))
    k.mem.lru_prev[head] = head                # the list looks empty walking backwards
    raises(k, "Normal free_area[9]: head's prev link does not point at the last entry",
           validate_free_lists)


def test_block_linked_from_two_lists(k):
    """The order-7 Unmovable head also points at pfn 384 (still on the Movable list): walking
    the Unmovable list, which comes first, finds 384's prev link pointing at its real list."""
    other = int(free_list(k.mem, ZONE, 7, MIGRATE_UNMOVABLE))
    own = int(free_list(k.mem, ZONE, 7, MIGRATE_MOVABLE))
    k.mem.lru_next[other] = 384
    k.mem.lru_prev[other] = 384
    raises(k, f"Normal free_area[7].free_list[Unmovable]: pfn 384's prev link is {own}, "
              f"not {other}", validate_free_lists)


def test_misaligned_block(k):
    move_block(k, 320, 6, 7)                   # 320 is 64-aligned, not 128-aligned
    raises(k, "free block at pfn 320 (order 7, Normal) is not aligned to its order",
           validate_free_lists)


def test_block_outside_its_zone():
    k = kmemsim.boot("x86_64", mem="64M")
    dma, dma32 = k.zone_id(0, "DMA"), k.zone_id(0, "DMA32")
    pfn, (order, mt) = max(free_blocks(k, dma32).items())
    assert pfn >= 4096
    move_block(k, pfn, order, order, mt, zone=dma32, new_zone=dma)
    raises(k, f"free block at pfn {pfn} (order {order}, DMA) lies outside its zone",
           validate_free_lists)


# ---- validate_no_free_buddies -----------------------------------------------------------------

def test_free_buddies_that_did_not_merge(k):
    """Split the free order-10 block at 1024 by hand into its two order-9 halves, both on the
    order-9 list with nr_free and NR_FREE_PAGES still right: only the buddy check can see it."""
    move_block(k, 1024, 10, 9)
    set_page_order(k.mem, 1536, 9)
    list_add(k.mem, 1536, free_list(k.mem, ZONE, 9, MIGRATE_MOVABLE))
    k.mem.nr_free[ZONE, 9] += 1
    assert free_blocks(k, ZONE)[1536] == (9, MIGRATE_MOVABLE)
    validate_free_lists(k)
    validate_counters(k)
    validate_page_accounting(k)
    raises(k, "Normal: free buddies at pfn 1024 and 1536 of order 9 did not merge",
           validate_no_free_buddies)
    # the merge the allocator would have done makes the state valid again
    list_del(k.mem, 1536)
    rmv_page_order(k.mem, 1536)
    k.mem.nr_free[ZONE, 9] -= 1
    move_block(k, 1024, 9, 10)
    k.check()
    assert free_blocks(k, ZONE) == BOOT_FREE


# ---- validate_page_accounting -----------------------------------------------------------------

def test_reserved_flag_cleared(k):
    k.mem.flags[300] &= ~PG_RESERVED_MASK & 0xFFFFFFFF
    raises(k, "Normal: 0 allocated (or owned) + 1984 free + 0 on per-CPU lists + 63 reserved pages != 2048 valid pages spanned",
           validate_page_accounting)
    validate_free_lists(k)
    validate_counters(k)


def test_allocation_forgotten(k):
    """A block handed out but missing from Kernel.live (a leak) breaks the page accounting."""
    a = k.alloc(2, "GFP_KERNEL")
    k.check()
    del k.live[a.id]
    raises(k, "Normal: 0 allocated (or owned) + 1980 free + 0 on per-CPU lists + 64 reserved pages != 2048 valid pages spanned",
           validate_page_accounting)
