"""Validators: the allocator's invariants, checked apart from the hot path.

Each ``validate_*`` function raises :class:`kmemsim.errors.ValidationError` with one line naming
what broke.  Tests run them after every step; ``kmemsim run --check`` and the ``check`` script
operation run them for users.  They read the state only, never change it.
"""

from __future__ import annotations

import numpy as np

from kmemsim.errors import ValidationError
from kmemsim.mm.mmzone import CFG_MIGRATE_TYPES, CFG_NR_PFNS, MAX_ORDER, NR_FREE_PAGES, free_list, migratetype_names
from kmemsim.mm.page_flags import PG_BUDDY_MASK, PG_RESERVED_MASK, PG_VALID_MASK, ZONEID_PGSHIFT

__all__ = ["validate_free_lists", "validate_no_free_buddies", "validate_counters",
           "validate_page_accounting", "validate_owners", "validate_lru", "validate_slab",
           "validate_all",
           "free_blocks", "pcp_pages", "owned_pages"]


def _zones(k):
    for zone in range(len(k.machine.nodes) * k.machine.max_nr_zones):
        if k.mem.spanned_pages[zone]:
            yield zone


def free_blocks(k, zone: int) -> dict[int, tuple[int, int]]:
    """Every block on a free list of ``zone``: head pfn -> (order, migratetype of its list).
    Walking checks every back-pointer, which also catches an entry on two lists or a cycle."""
    mem = k.mem
    types = int(mem.cfg[CFG_MIGRATE_TYPES])
    names = migratetype_names(k.machine.cma, k.machine.memory_isolation)
    nr_pfns = int(mem.cfg[CFG_NR_PFNS])
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


def pcp_pages(k) -> dict[int, tuple[int, int, int]]:
    """Every page on a per-CPU list: pfn -> (cpu, zone, list).  Checks the links, that each
    list's pages lie in its zone and are not PageBuddy, and that each pageset's count is the
    length of its three lists."""
    from kmemsim.mm.mmzone import MIGRATE_PCPTYPES, PCP_COUNT, pcp_list
    mem = k.mem
    nr_pfns = int(mem.cfg[CFG_NR_PFNS])
    pages: dict[int, tuple[int, int, int]] = {}
    for cpu in range(mem.pcp.shape[0]):
        for zone in _zones(k):
            n = 0
            for mt in range(MIGRATE_PCPTYPES):
                head = int(pcp_list(mem, cpu, zone, mt))
                prev, entry = head, int(mem.lru_next[head])
                where = f"cpu {cpu} {k.zone_name(zone)} pcp list {mt}"
                while entry != head:
                    if not 0 <= entry < nr_pfns:
                        raise ValidationError(f"{where}: link to {entry}, which is not a pfn")
                    if int(mem.lru_prev[entry]) != prev:
                        raise ValidationError(f"{where}: pfn {entry}'s prev link is "
                                              f"{int(mem.lru_prev[entry])}, not {prev}")
                    if int(mem.flags[entry]) >> ZONEID_PGSHIFT != zone:
                        raise ValidationError(f"{where}: pfn {entry} belongs to another zone")
                    if int(mem.flags[entry]) & PG_BUDDY_MASK:
                        raise ValidationError(f"{where}: pfn {entry} is marked PageBuddy")
                    pages[entry] = (cpu, zone, mt)
                    prev, entry = entry, int(mem.lru_next[entry])
                    n += 1
                if int(mem.lru_prev[head]) != prev:
                    raise ValidationError(f"{where}: head's prev link does not point at the "
                                          "last entry")
            if n != int(mem.pcp[cpu, zone, PCP_COUNT]):
                raise ValidationError(f"cpu {cpu} {k.zone_name(zone)}: pcp count is "
                                      f"{int(mem.pcp[cpu, zone, PCP_COUNT])} but its lists hold "
                                      f"{n} pages")
    return pages


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
        # the zone value plus every CPU's delta (zone_page_state_snapshot, unclamped)
        counted = int(mem.vm_stat[zone, NR_FREE_PAGES]) + \
            int(mem.vm_stat_diff[:, zone, NR_FREE_PAGES].astype(np.int64).sum())
        if pages != counted:
            raise ValidationError(f"{k.zone_name(zone)} NR_FREE_PAGES is {counted} but its "
                                  f"lists hold {pages} pages")


def validate_page_accounting(k, all_blocks=None, on_pcp=None) -> None:
    """allocated + free + on per-CPU lists + reserved = the valid pages each zone spans."""
    mem = k.mem
    if all_blocks is None:
        all_blocks = validate_free_lists(k)
    if on_pcp is None:
        on_pcp = pcp_pages(k)
    pcp_count: dict[int, int] = {}
    for pfn, (cpu, zone, mt) in on_pcp.items():
        if pfn in all_blocks.get(zone, {}):
            raise ValidationError(f"pfn {pfn} is both on a free list and on cpu {cpu}'s list")
        pcp_count[zone] = pcp_count.get(zone, 0) + 1
    allocated: dict[int, int] = {}
    for a in k.live.values():
        zone = int(mem.flags[a.pfn]) >> ZONEID_PGSHIFT
        allocated[zone] = allocated.get(zone, 0) + (1 << a.order)
    for pfn in held_pages(k):
        zone = int(mem.flags[pfn]) >> ZONEID_PGSHIFT
        allocated[zone] = allocated.get(zone, 0) + 1
    for zone, blocks in all_blocks.items():
        start = int(mem.zone_start_pfn[zone])
        flags = mem.flags[start:start + int(mem.spanned_pages[zone])]
        mine = (flags >> ZONEID_PGSHIFT) == zone
        valid = int(np.count_nonzero(((flags & PG_VALID_MASK) != 0) & mine))
        reserved = int(np.count_nonzero(((flags & PG_RESERVED_MASK) != 0) & mine))
        free = sum(1 << o for o, _ in blocks.values())
        used = allocated.get(zone, 0)
        cached = pcp_count.get(zone, 0)
        if used + free + cached + reserved != valid:
            raise ValidationError(f"{k.zone_name(zone)}: {used} allocated (or owned) + {free} free + "
                                  f"{cached} on per-CPU lists + {reserved} reserved pages != "
                                  f"{valid} valid pages spanned")


def owned_pages(k) -> list[int]:
    """Every page that has an owner (task, file), from mem.mapping."""
    return [int(p) for p in np.flatnonzero(k.mem.mapping)]


def held_pages(k) -> list[int]:
    """Pages in use that no Kernel.alloc handed out: owned by a task or file, in the swap
    cache, referenced only by a CPU's pagevec, waiting for a deferred free, or held by a
    trace replay."""
    from kmemsim.mm.page_flags import PG_swapcache
    mem = k.mem
    held = set(int(p) for p in np.flatnonzero(mem.mapping))
    held.update(int(p) for p in np.flatnonzero((mem.flags >> PG_swapcache) & 1))
    for cpu in range(mem.pagevecs.shape[0]):
        for which in range(mem.pagevecs.shape[1]):
            held.update(int(p) for p in mem.pagevecs[cpu, which, 1:1 + int(mem.pagevecs[cpu, which, 0])])
    for expires, pfn, order in mem.timers:          # blocks another task will free later
        if expires >= 0:
            held.update(range(int(pfn), int(pfn) + (1 << int(order))))
    for page in slab_pages(k):                      # slabs and kmalloc_large blocks
        held.update(range(page, page + (1 << _compound_order(k, page))))
    for o in getattr(k, "objects", {}).values():
        if o.cache == "-" and o.pfn >= 0:
            held.update(range(o.pfn, o.pfn + (1 << _compound_order(k, o.pfn))))
    if getattr(k, "trace_held", None) is not None:  # blocks a trace replay holds
        for pfn in np.flatnonzero(k.trace_held >= 0):
            held.update(range(int(pfn), int(pfn) + (1 << int(k.trace_held[pfn]))))
    return sorted(held)


def _compound_order(k, page: int) -> int:
    from kmemsim.mm.page_flags import PG_HEAD_MASK
    return int(k.mem.lru_prev[page + 1]) if int(k.mem.flags[page]) & PG_HEAD_MASK else 0


def slab_pages(k) -> list[int]:
    """The head page of every slab (PG_slab)."""
    from kmemsim.mm.page_flags import PG_slab
    return [int(p) for p in np.flatnonzero((k.mem.flags >> PG_slab) & 1)]


def validate_owners(k) -> None:
    """Each owner's page list holds exactly the pages whose mapping names it, as many as its
    resident count; an owned page has a reference and is not free."""
    from kmemsim.mm.mmzone import CFG_MAX_OWNERS, CFG_RMAP_HEAD_BASE, OW_KIND, OW_RSS, \
        OWNER_FREE
    mem = k.mem
    base = int(mem.cfg[CFG_RMAP_HEAD_BASE])
    seen = 0
    for owner in range(int(mem.cfg[CFG_MAX_OWNERS])):
        head = base + owner
        if mem.owners[owner, OW_KIND] == OWNER_FREE:
            if int(mem.rmap_next[head]) != head:
                raise ValidationError(f"owner {owner} is free but its page list is not empty")
            continue
        prev, entry, n = head, int(mem.rmap_next[head]), 0
        while entry != head:
            if int(mem.rmap_prev[entry]) != prev or int(mem.mapping[entry]) != owner:
                raise ValidationError(f"owner {owner}: pfn {entry} is on its list but "
                                      f"mapping says {int(mem.mapping[entry])}")
            if int(mem.count[entry]) <= 0 or int(mem.flags[entry]) & PG_BUDDY_MASK:
                raise ValidationError(f"owner {owner}: pfn {entry} has no reference or is free")
            prev, entry, n = entry, int(mem.rmap_next[entry]), n + 1
            if n > len(mem.mapping):
                raise ValidationError(f"owner {owner}: its page list does not end")
        if n != int(mem.owners[owner, OW_RSS]):
            raise ValidationError(f"owner {owner}: {n} pages on its list, resident count "
                                  f"{int(mem.owners[owner, OW_RSS])}")
        seen += n
    if seen != int(np.count_nonzero(mem.mapping)):
        raise ValidationError("some page's mapping names an owner whose list lacks it")


def validate_lru(k) -> None:
    """Every page on an LRU list has PG_lru, sits on the list page_lru() names for it, in its
    own zone, and each list's length is its zone counter (with the per-CPU deltas); no page
    outside the lists has PG_lru; pagevecs hold only referenced pages."""
    from kmemsim.mm.mmzone import LRU_NAMES, NR_LRU_LISTS, lru_list_head
    from kmemsim.mm.page_flags import PG_active, PG_lru, PG_swapbacked, PG_unevictable
    mem = k.mem
    on_lru = set()
    for zone in _zones(k):
        for lru in range(NR_LRU_LISTS):
            head = int(lru_list_head(mem, zone, lru))
            prev, entry, n = head, int(mem.lru_next[head]), 0
            where = f"{k.zone_name(zone)} {LRU_NAMES[lru]}"
            while entry != head:
                f = int(mem.flags[entry])
                if int(mem.lru_prev[entry]) != prev:
                    raise ValidationError(f"{where}: pfn {entry}'s prev link is wrong")
                if f >> ZONEID_PGSHIFT != zone or not f >> PG_lru & 1:
                    raise ValidationError(f"{where}: pfn {entry} is of another zone or lacks PG_lru")
                want = (4 if f >> PG_unevictable & 1 else
                        (0 if f >> PG_swapbacked & 1 else 2) + (f >> PG_active & 1))
                if want != lru:
                    raise ValidationError(f"{where}: pfn {entry} belongs on {LRU_NAMES[want]}")
                on_lru.add(entry)
                prev, entry, n = entry, int(mem.lru_next[entry]), n + 1
            counted = int(mem.vm_stat[zone, 2 + lru]) + \
                int(mem.vm_stat_diff[:, zone, 2 + lru].astype(np.int64).sum())
            if n != counted:
                raise ValidationError(f"{where}: {n} pages on the list, counter says {counted}")
    flagged = np.flatnonzero((mem.flags >> PG_lru) & 1)
    if len(flagged) != len(on_lru):
        stray = sorted(set(int(p) for p in flagged) - on_lru)[:3]
        raise ValidationError(f"pfns {stray} have PG_lru but are on no LRU list")
    for cpu in range(mem.pagevecs.shape[0]):
        for which in range(mem.pagevecs.shape[1]):
            for page in mem.pagevecs[cpu, which, 1:1 + int(mem.pagevecs[cpu, which, 0])]:
                if int(mem.count[page]) <= 0:
                    raise ValidationError(f"cpu {cpu} pagevec {which}: pfn {int(page)} has "
                                          "no reference")


def validate_slab(k) -> None:
    """SLUB's state holds together: each slab's free objects (its own freelist, and the
    CPU freelist of a cpu slab) are distinct, in range, and objects - inuse of them; frozen
    slabs are exactly the cpu slabs and those on cpu partial lists; unfrozen slabs with free
    objects are on their node's partial list, whose length is nr_partial; nr_slabs,
    total_objects and NR_SLAB_* match the slab pages; no object handed out is free."""
    from kmemsim.mm.page_flags import PG_slab
    from kmemsim.mm.slub import (KC_CPU_SLAB, KC_FLAGS, KCC_FREELIST, KCC_PAGE, KCC_PARTIAL,
                                 KN_ADDR, KN_NR_PARTIAL, KN_NR_SLABS, KN_TOTAL_OBJECTS,
                                 NR_SLAB_RECLAIMABLE, NR_SLAB_UNRECLAIMABLE,
                                 SLAB_RECLAIM_ACCOUNT)
    mem = k.mem
    pages = slab_pages(k)
    by_cache: dict[int, list[int]] = {}
    free_objs: dict[int, set[int]] = {}
    slab_pages_of_zone = np.zeros((mem.vm_stat.shape[0], 2), dtype=np.int64)

    def walk(page, first, what):
        seen, idx = [], int(first)
        objects = int(mem.slab_objects[page])
        while idx != -1:
            if not 0 <= idx < objects or idx in seen:
                raise ValidationError(f"slab pfn {page}: {what} is broken at object {idx}")
            seen.append(idx)
            idx = int(mem.slab_objnext[int(mem.slab_objbase[page]) + idx])
        return seen

    for page in pages:
        s = int(mem.slab_cache[page])
        if s < 0 or s not in k.slab.slab_caches:
            raise ValidationError(f"slab pfn {page} names cache row {s}, which is not listed")
        by_cache.setdefault(s, []).append(page)
        free_objs[page] = set(walk(page, mem.slab_freelist[page], "its freelist"))
        zone = int(mem.flags[page]) >> ZONEID_PGSHIFT
        reclaim = 1 if mem.kmem_cache[s, KC_FLAGS] & SLAB_RECLAIM_ACCOUNT else 0
        slab_pages_of_zone[zone, reclaim] += 1 << _compound_order(k, page)
    frozen_expected: set[int] = set()
    for s in k.slab.slab_caches:
        g = int(mem.kmem_cache[s, KC_CPU_SLAB])
        for cpu in range(mem.kmem_cache_cpu.shape[0]):
            c = mem.kmem_cache_cpu[cpu, g]
            page = int(c[KCC_PAGE])
            if page >= 0:
                if page not in free_objs or int(mem.slab_cache[page]) != s:
                    raise ValidationError(f"cache {k.slab.names.get(s)} cpu {cpu}: cpu slab "
                                          f"pfn {page} is not one of its slabs")
                cpu_free = walk(page, c[KCC_FREELIST], f"cpu {cpu}'s freelist")
                if free_objs[page] & set(cpu_free):
                    raise ValidationError(f"slab pfn {page}: an object is on the page's and "
                                          f"cpu {cpu}'s freelists")
                free_objs[page] |= set(cpu_free)
                frozen_expected.add(page)
            page, n = int(c[KCC_PARTIAL]), 0
            while page >= 0:
                if page in frozen_expected or page not in free_objs:
                    raise ValidationError(f"cache {k.slab.names.get(s)} cpu {cpu}: partial "
                                          f"chain meets pfn {page} twice or a non-slab")
                frozen_expected.add(page)
                page, n = int(mem.lru_next[page]), n + 1
        for node in range(k.slab.nr_node_ids):
            n = int(k.fn.get_node(mem, s, node))
            if mem.kmem_cache_node[n, KN_ADDR] < 0:
                continue
            head = int(k.fn.partial_head(mem, n))
            prev, page, count = head, int(mem.lru_next[head]), 0
            while page != head:
                if int(mem.lru_prev[page]) != prev or page not in free_objs:
                    raise ValidationError(f"cache {k.slab.names.get(s)} node {node}: partial "
                                          f"list is broken at pfn {page}")
                if mem.slab_frozen[page] or not free_objs[page]:
                    raise ValidationError(f"slab pfn {page} is on a partial list but is frozen "
                                          "or has no free object")
                prev, page, count = page, int(mem.lru_next[page]), count + 1
            if count != int(mem.kmem_cache_node[n, KN_NR_PARTIAL]):
                raise ValidationError(f"cache {k.slab.names.get(s)} node {node}: {count} "
                                      "slabs on its partial list, nr_partial "
                                      f"{int(mem.kmem_cache_node[n, KN_NR_PARTIAL])}")
            mine = [p for p in by_cache.get(s, []) if int(page_to_nid_of(k, p)) == node]
            if (len(mine) != int(mem.kmem_cache_node[n, KN_NR_SLABS]) or
                    sum(int(mem.slab_objects[p]) for p in mine)
                    != int(mem.kmem_cache_node[n, KN_TOTAL_OBJECTS])):
                raise ValidationError(f"cache {k.slab.names.get(s)} node {node}: nr_slabs / "
                                      "total_objects do not match its slabs")
    for page in pages:
        frozen = bool(mem.slab_frozen[page])
        if frozen != (page in frozen_expected):
            raise ValidationError(f"slab pfn {page}: frozen={int(frozen)} but it is "
                                  f"{'' if page in frozen_expected else 'not '}a cpu slab or "
                                  "cpu partial")
        if page not in frozen_expected:
            own = len(walk(page, mem.slab_freelist[page], "its freelist"))
            if own != int(mem.slab_objects[page]) - int(mem.slab_inuse[page]):
                raise ValidationError(f"slab pfn {page}: {own} free objects, inuse says "
                                      f"{int(mem.slab_objects[page]) - int(mem.slab_inuse[page])}")
    for o in getattr(k, "objects", {}).values():
        if o.cache == "-" or o.phys < 0:
            continue
        page = int(k.fn.virt_to_head_page(mem, o.phys))
        if page not in free_objs:
            raise ValidationError(f"object {o.id} is not in a slab")
        size = int(mem.kmem_cache[int(mem.slab_cache[page]), 3])
        if (o.phys - (page << 12)) // size in free_objs[page]:
            raise ValidationError(f"object {o.id} is allocated but on a freelist")
    for zone in range(mem.vm_stat.shape[0]):
        for reclaim, item in ((0, NR_SLAB_UNRECLAIMABLE), (1, NR_SLAB_RECLAIMABLE)):
            counted = int(mem.vm_stat[zone, item]) + int(mem.vm_stat_diff[:, zone, item].astype(np.int64).sum())
            if counted != int(slab_pages_of_zone[zone, reclaim]):
                raise ValidationError(f"{k.zone_name(zone)}: NR_SLAB_"
                                      f"{'RECLAIMABLE' if reclaim else 'UNRECLAIMABLE'} is "
                                      f"{counted}, slabs hold {int(slab_pages_of_zone[zone, reclaim])}")


def page_to_nid_of(k, page: int) -> int:
    return (int(k.mem.flags[page]) >> ZONEID_PGSHIFT) // k.machine.max_nr_zones


def validate_all(k) -> None:
    """Run every validator once."""
    blocks = validate_free_lists(k)
    validate_no_free_buddies(k, blocks)
    validate_counters(k, blocks)
    validate_page_accounting(k, blocks, pcp_pages(k))
    validate_owners(k)
    validate_lru(k)
    validate_slab(k)
