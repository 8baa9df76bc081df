"""/proc/slabinfo, version 2.1, as SLUB fills it.

Kernel: mm/slab_common.c print_slabinfo_header(), s_show(), cache_show() and mm/slub.c
get_slabinfo() (v3.13).  Rows follow slab_caches from its head (the newest cache first).
SLUB counts objects from the per-node counters; only the free objects of slabs on the node
partial lists are subtracted, so objects free on cpu slabs and cpu partial lists show as
active.  The tunables and shared columns are SLAB's: 0 here.
"""

from __future__ import annotations

__all__ = ["slabinfo_show", "get_slabinfo"]

HEADER = ("slabinfo - version: 2.1\n"
          "# name            <active_objs> <num_objs> <objsize> <objperslab> <pagesperslab>"
          " : tunables <limit> <batchcount> <sharedfactor> : slabdata <active_slabs>"
          " <num_slabs> <sharedavail>\n")


def get_slabinfo(k, s: int) -> dict:
    """Kernel: mm/slub.c get_slabinfo(): this cache's numbers summed over its nodes."""
    from kmemsim.mm.slub import (KC_OO, KN_ADDR, KN_NR_SLABS, KN_TOTAL_OBJECTS, oo_objects,
                                 oo_order)
    mem = k.mem
    nr_slabs = nr_objs = nr_free = 0
    for node in range(k.slab.nr_node_ids):
        n = int(k.fn.get_node(mem, s, node))
        if mem.kmem_cache_node[n, KN_ADDR] < 0:
            continue
        nr_slabs += int(mem.kmem_cache_node[n, KN_NR_SLABS])
        nr_objs += int(mem.kmem_cache_node[n, KN_TOTAL_OBJECTS])
        head = int(k.fn.partial_head(mem, n))
        page = int(mem.lru_next[head])
        while page != head:                               # count_partial(n, count_free)
            nr_free += int(mem.slab_objects[page]) - int(mem.slab_inuse[page])
            page = int(mem.lru_next[page])
    oo = int(mem.kmem_cache[s, KC_OO])
    return {"active_objs": nr_objs - nr_free, "num_objs": nr_objs, "active_slabs": nr_slabs,
            "num_slabs": nr_slabs, "objects_per_slab": int(oo_objects(oo)),
            "cache_order": int(oo_order(oo))}


def slabinfo_show(k) -> str:
    """Kernel: mm/slab_common.c s_show() -> cache_show() for each cache of slab_caches."""
    from kmemsim.mm.slab_common import cache_name
    from kmemsim.mm.slub import KC_SIZE
    out = [HEADER]
    for s in k.slab.slab_caches:
        i = get_slabinfo(k, s)
        out.append(f"{cache_name(k, s):<17s} {i['active_objs']:6d} {i['num_objs']:6d} "
                   f"{int(k.mem.kmem_cache[s, KC_SIZE]):6d} {i['objects_per_slab']:4d} "
                   f"{1 << i['cache_order']:4d}"
                   f" : tunables {0:4d} {0:4d} {0:4d}"
                   f" : slabdata {i['active_slabs']:6d} {i['num_slabs']:6d} {0:6d}\n")
    return "".join(out)
