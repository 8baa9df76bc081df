"""Validators: the allocator's invariants, checked apart from the hot path.

Each ``validate_*`` function raises :class:`kmemsim.errors.ValidationError` with one line naming
what broke.  Tests run them after every step; ``kmemsim run --check`` and the ``check`` script
operation run them for users.  They read the state only, never change it.
"""

from __future__ import annotations

import numpy as np

from kmemsim.errors import ValidationError
from kmemsim.mm.mmzone import MAX_ORDER, NR_FREE_PAGES, free_list, migratetype_names
from kmemsim.mm.page_flags import PG_BUDDY_MASK, PG_RESERVED_MASK, PG_VALID_MASK, ZONEID_PGSHIFT

__all__ = ["validate_free_lists", "validate_no_free_buddies", "validate_counters",
           "validate_page_accounting", "validate_all", "free_blocks"]


def _zones(k):
    for zone in range(len(k.machine.nodes) * k.machine.max_nr_zones):
        if k.mem.spanned_pages[zone]:
            yield zone


def free_blocks(k, zone: int) -> dict[int, tuple[int, int]]:
    """Every block on a free list of ``zone``: head pfn -> (order, migratetype of its list).
    Walking checks every back-pointer, which also catches an entry on two lists or a cycle."""
    mem = k.mem
    types = int(mem.cfg[2])
    names = migratetype_names(k.machine.cma, k.machine.memory_isolation)
    nr_pfns = int(mem.cfg[0])
    blocks: dict[int, tuple[int, int]] = {}
    for order in range(MAX_ORDER):
        for mt in range(types):
            head = int(free_list(mem, zone, order, mt))
            prev, entry = head, int(mem.lru_next[head])
            while entry != head:
                where = f"{k.zone_name(zone)} free_area[{order}].free_list[{names[mt]}]"
                if not 0 <= entry < nr_pfns:
                    raise ValidationError(f"{where}: link to {entry}, which is not a pfn")
                if int(mem.lru_prev[entry]) != prev:
                    raise ValidationError(f"{where}: pfn {entry}'s prev link is "
                                          f"{int(mem.lru_prev[entry])}, not {prev}")
                # an entry met twice (on two lists, or in a cycle) fails the prev-link check
                blocks[entry] = (order, mt)
                prev, entry = entry, int(mem.lru_next[entry])
            if int(mem.lru_prev[head]) != prev:
                raise ValidationError(f"{k.zone_name(zone)} free_area[{order}]: head's prev "
                                      "link does not point at the last entry")
    return blocks


def validate_free_lists(k) -> dict[int, dict[int, tuple[int, int]]]:
    """Every free block is on exactly one free list, is a PageBuddy head whose page_private is
    its list's order, is aligned and inside its zone; no other page is marked PageBuddy.

    The freepage migratetype (page->index) is not compared with the list: 3.13 does not keep
    it for the halves expand() splits off nor for blocks __free_one_page() merges, so a stale
    value there is faithful, not a bug."""
    mem = k.mem
    all_blocks = {}
    buddy_heads = set(np.flatnonzero(mem.flags & PG_BUDDY_MASK).tolist())
    for zone in _zones(k):
        blocks = free_blocks(k, zone)
        start, end = int(mem.zone_start_pfn[zone]), int(mem.zone_start_pfn[zone] + mem.spanned_pages[zone])
        for pfn, (order, mt) in blocks.items():
            what = f"free block at pfn {pfn} (order {order}, {k.zone_name(zone)})"
            if pfn not in buddy_heads:
                raise ValidationError(f"{what} is on a free list without PageBuddy")
            if int(mem.private[pfn]) != order:
                raise ValidationError(f"{what}: page_private says order {int(mem.private[pfn])}")
            if pfn & ((1 << order) - 1):
                raise ValidationError(f"{what} is not aligned to its order")
            if not (start <= pfn and pfn + (1 << order) <= end):
                raise ValidationError(f"{what} lies outside its zone")
            if int(mem.flags[pfn]) >> ZONEID_PGSHIFT != zone:
                raise ValidationError(f"{what}: its page's zone is {int(mem.flags[pfn]) >> ZONEID_PGSHIFT}")
        all_blocks[zone] = blocks
    listed = {pfn for blocks in all_blocks.values() for pfn in blocks}
    stray = buddy_heads - listed
    if stray:
        raise ValidationError(f"pfn {min(stray)} is marked PageBuddy but is on no free list")
    return all_blocks


def validate_no_free_buddies(k, all_blocks=None) -> None:
    """No two free buddies of the same order coexist (they would have merged)."""
    if all_blocks is None:
        all_blocks = validate_free_lists(k)
    for zone, blocks in all_blocks.items():
        for pfn, (order, _) in blocks.items():
            if order >= MAX_ORDER - 1:
                continue
            buddy = pfn ^ (1 << order)
            other = blocks.get(buddy)
            if other is not None and other[0] == order:
                raise ValidationError(f"{k.zone_name(zone)}: free buddies at pfn {min(pfn, buddy)} "
                                      f"and {max(pfn, buddy)} of order {order} did not merge")


def validate_counters(k, all_blocks=None) -> None:
    """nr_free of each order and NR_FREE_PAGES equal what the free lists hold."""
    mem = k.mem
    if all_blocks is None:
        all_blocks = validate_free_lists(k)
    for zone, blocks in all_blocks.items():
        per_order = [0] * MAX_ORDER
        for order, _ in blocks.values():
            per_order[order] += 1
        for order in range(MAX_ORDER):
            if per_order[order] != int(mem.nr_free[zone, order]):
                raise ValidationError(f"{k.zone_name(zone)} free_area[{order}].nr_free is "
                                      f"{int(mem.nr_free[zone, order])} but its lists hold "
                                      f"{per_order[order]} blocks")
        pages = sum(1 << o for o, _ in blocks.values())
        if pages != int(mem.vm_stat[zone, NR_FREE_PAGES]):
            raise ValidationError(f"{k.zone_name(zone)} NR_FREE_PAGES is "
                                  f"{int(mem.vm_stat[zone, NR_FREE_PAGES])} but its lists hold "
                                  f"{pages} pages")


def validate_page_accounting(k, all_blocks=None) -> None:
    """allocated + free + reserved = the valid pages each zone spans."""
    mem = k.mem
    if all_blocks is None:
        all_blocks = validate_free_lists(k)
    allocated: dict[int, int] = {}
    for a in k.live.values():
        zone = int(mem.flags[a.pfn]) >> ZONEID_PGSHIFT
        allocated[zone] = allocated.get(zone, 0) + (1 << a.order)
    for zone, blocks in all_blocks.items():
        start = int(mem.zone_start_pfn[zone])
        flags = mem.flags[start:start + int(mem.spanned_pages[zone])]
        mine = (flags >> ZONEID_PGSHIFT) == zone
        valid = int(np.count_nonzero(((flags & PG_VALID_MASK) != 0) & mine))
        reserved = int(np.count_nonzero(((flags & PG_RESERVED_MASK) != 0) & mine))
        free = sum(1 << o for o, _ in blocks.values())
        used = allocated.get(zone, 0)
        if used + free + reserved != valid:
            raise ValidationError(f"{k.zone_name(zone)}: {used} allocated + {free} free + "
                                  f"{reserved} reserved pages != {valid} valid pages spanned")


def validate_all(k) -> None:
    """Run every validator once."""
    blocks = validate_free_lists(k)
    validate_no_free_buddies(k, blocks)
    validate_counters(k, blocks)
    validate_page_accounting(k, blocks)
