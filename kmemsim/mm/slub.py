"""SLUB: the slab allocator of 3.13, its object paths over flat arrays.

Kernel: mm/slub.c, include/linux/slub_def.h, mm/slab.h (v3.13).  This module holds the paths
that run per object (slab_alloc_node, __slab_alloc, slab_free, __slab_free and what they call)
and per slab (new_slab, discard_slab, the partial lists), all compilable.  Cache creation,
sizing and the boot bootstrap run once per cache and are plain Python in
:mod:`kmemsim.mm.slab_common`.

The state, and how it stands for the kernel's structures:

=========================  ================================================================
kmemsim                    kernel
=========================  ================================================================
``mem.kmem_cache[s, KC_*]``  ``struct kmem_cache``; ``s`` is a row number, and the row's
                           ``KC_CPU_SLAB`` / ``KC_NODE`` columns are its ``cpu_slab`` and
                           ``node[]`` pointers (a group number: bootstrap() copies a cache to
                           a new row and the copy points at the same structures)
``mem.kmem_cache_cpu[cpu, g, KCC_*]``  ``struct kmem_cache_cpu`` of group ``g``
``mem.kmem_cache_node[n, KN_*]``  ``struct kmem_cache_node``; ``n = g * nr_nodes + nid``; its
                           partial list is a list head in ``lru_next``/``lru_prev``
``mem.slab_freelist[page]`` etc.  the slab fields of ``struct page``: freelist, inuse,
                           objects, frozen, slab_cache; the cpu-partial chain's ``next`` is
                           ``lru_next``, ``pages``/``pobjects`` are packed in ``lru_prev``
``mem.slab_objnext``       the free pointers stored inside free objects: object ``i`` of a
                           slab keeps the index of the next free object at
                           ``slab_objnext[slab_objbase[page] + i]`` (-1 for NULL)
=========================  ================================================================

An object is named by its physical address, ``(page << PAGE_SHIFT) + i * s->size``; the
Python side prints it as a kernel virtual address (PAGE_OFFSET + phys - PHYS_OFFSET).
``OBJ_NULL`` (-1) is NULL.  Only the boot CPU exists while the caches are bootstrapped; kmemsim
runs one operation at a time, so every cmpxchg of the kernel succeeds on its first try
(CMPXCHG_DOUBLE_* stay 0).  The statistics of CONFIG_SLUB_STATS are always kept
(``mem.slub_stat``): they say which path each operation took.
"""

import numpy as np

from kmemsim.jit import kernel
from kmemsim.trace.events import trace_kfree, trace_kmalloc, trace_kmalloc_node, \
    trace_kmem_cache_alloc, trace_kmem_cache_alloc_node, trace_kmem_cache_free
from kmemsim.lib.list import INIT_LIST_HEAD, list_add, list_add_tail, list_del, list_empty, \
    list_move, list_move_tail
from kmemsim.mm.gfp import GFP_CONSTRAINT_MASK, GFP_KERNEL, GFP_RECLAIM_MASK, __GFP_COMP, __GFP_KMEMCG, \
    __GFP_NOFAIL, __GFP_NORETRY, __GFP_NOTRACK, __GFP_NOWARN, ___GFP_DMA
from kmemsim.mm.mmzone import CFG_CPU, CFG_GFP_ALLOWED_MASK, CFG_HIGHMEM_IDX, \
    CFG_MAX_NR_ZONES, CFG_MOVABLE_IDX, CFG_NUMA, CFG_SCRATCH_LIST_BASE, PAGE_SHIFT, \
    page_to_nid, page_zone_id
from kmemsim.mm.page_alloc import __free_pages, compound_order
from kmemsim.mm.page_alloc_fastpath import alloc_pages, alloc_pages_exact_node, alloc_pages_node, \
    get_order
from kmemsim.mm.page_flags import FLAGS_ALL, PG_HEAD_MASK, PG_TAIL_MASK, PG_slab
from kmemsim.mm.vmstat import __mod_zone_page_state

__all__ = [
    "KC_FIELDS", "KCC_FIELDS", "KN_FIELDS", "SLUB_STAT_ITEMS", "OBJ_NULL", "OBJ_ZERO_SIZE",
    "oo_make", "oo_order", "oo_objects", "order_objects", "compound_head", "virt_to_head_page",
    "alloc_slab_page", "allocate_slab", "new_slab", "__free_slab", "discard_slab",
    "add_partial", "remove_partial", "acquire_slab", "get_partial_node", "get_partial",
    "deactivate_slab", "unfreeze_partials", "put_cpu_partial", "flush_slab",
    "__flush_cpu_slab", "flush_all", "get_freelist", "new_slab_objects", "__slab_alloc",
    "slab_alloc_node", "kmem_cache_alloc", "kmem_cache_alloc_node", "__slab_free", "slab_free",
    "kmem_cache_free", "kmalloc_slab", "__kmalloc", "__kmalloc_node", "kmalloc_large_node",
    "kfree", "ksize", "kmem_cache_shrink", "early_kmem_cache_node_alloc",
    "init_kmem_cache_nodes", "free_kmem_cache_nodes", "kmem_cache_close",
]

# struct kmem_cache: columns of mem.kmem_cache
KC_FIELDS = ("in_use", "flags", "min_partial", "size", "object_size", "offset", "cpu_partial",
             "oo", "max", "min", "allocflags", "refcount", "inuse", "align", "reserved",
             "cpu_slab", "node", "addr", "ctor")
(KC_IN_USE, KC_FLAGS, KC_MIN_PARTIAL, KC_SIZE, KC_OBJECT_SIZE, KC_OFFSET, KC_CPU_PARTIAL,
 KC_OO, KC_MAX, KC_MIN, KC_ALLOCFLAGS, KC_REFCOUNT, KC_INUSE, KC_ALIGN, KC_RESERVED,
 KC_CPU_SLAB, KC_NODE, KC_ADDR, KC_CTOR) = range(len(KC_FIELDS))
NR_KC = len(KC_FIELDS)
# struct kmem_cache_cpu: mem.kmem_cache_cpu[cpu, group, :]
KCC_FIELDS = ("freelist", "page", "partial", "tid")
KCC_FREELIST, KCC_PAGE, KCC_PARTIAL, KCC_TID = range(4)
NR_KCC = 4
# struct kmem_cache_node: mem.kmem_cache_node[n, :]
KN_FIELDS = ("nr_partial", "nr_slabs", "total_objects", "addr")
KN_NR_PARTIAL, KN_NR_SLABS, KN_TOTAL_OBJECTS, KN_ADDR = range(4)
NR_KN = 4

MAX_KMEM_CACHES = 256          # rows of mem.kmem_cache (the kernel has no limit; 3.13 boots ~100)
NUMA_NO_NODE = -1
OBJ_NULL = -1
OBJ_ZERO_SIZE = -16            # ZERO_SIZE_PTR, (void *)16 in the kernel
OO_SHIFT = 16
OO_MASK = (1 << OO_SHIFT) - 1
MAX_OBJS_PER_PAGE = 32767
MIN_PARTIAL = 5
MAX_PARTIAL = 10
KMALLOC_SHIFT_HIGH = PAGE_SHIFT + 1
KMALLOC_MAX_CACHE_SIZE = 1 << KMALLOC_SHIFT_HIGH
KMALLOC_MAX_SIZE = 1 << (11 + PAGE_SHIFT)     # KMALLOC_SHIFT_MAX = MAX_ORDER + PAGE_SHIFT

# include/linux/slab.h flags (v3.13)
SLAB_DEBUG_FREE = 0x00000100
SLAB_RED_ZONE = 0x00000400
SLAB_POISON = 0x00000800
SLAB_HWCACHE_ALIGN = 0x00002000
SLAB_CACHE_DMA = 0x00004000
SLAB_STORE_USER = 0x00010000
SLAB_RECLAIM_ACCOUNT = 0x00020000
SLAB_PANIC = 0x00040000
SLAB_DESTROY_BY_RCU = 0x00080000
SLAB_MEM_SPREAD = 0x00100000
SLAB_TRACE = 0x00200000
SLAB_DEBUG_OBJECTS = 0x00400000
SLAB_NOLEAKTRACE = 0x00800000
SLAB_NOTRACK = 0x01000000
SLAB_FAILSLAB = 0x02000000
SLAB_FLAG_NAMES = {
    "SLAB_DEBUG_FREE": SLAB_DEBUG_FREE, "SLAB_RED_ZONE": SLAB_RED_ZONE,
    "SLAB_POISON": SLAB_POISON, "SLAB_HWCACHE_ALIGN": SLAB_HWCACHE_ALIGN,
    "SLAB_CACHE_DMA": SLAB_CACHE_DMA, "SLAB_STORE_USER": SLAB_STORE_USER,
    "SLAB_RECLAIM_ACCOUNT": SLAB_RECLAIM_ACCOUNT, "SLAB_TEMPORARY": SLAB_RECLAIM_ACCOUNT,
    "SLAB_PANIC": SLAB_PANIC, "SLAB_DESTROY_BY_RCU": SLAB_DESTROY_BY_RCU,
    "SLAB_MEM_SPREAD": SLAB_MEM_SPREAD, "SLAB_TRACE": SLAB_TRACE,
    "SLAB_DEBUG_OBJECTS": SLAB_DEBUG_OBJECTS, "SLAB_NOLEAKTRACE": SLAB_NOLEAKTRACE,
    "SLAB_NOTRACK": SLAB_NOTRACK, "SLAB_FAILSLAB": SLAB_FAILSLAB,
}
# SLUB_DEBUG=y: the flags that make a cache a debug cache (no cpu partials, no fast mode)
SLAB_DEBUG_FLAGS = SLAB_RED_ZONE | SLAB_POISON | SLAB_STORE_USER | SLAB_TRACE | SLAB_DEBUG_FREE
SLUB_NEVER_MERGE = (SLAB_RED_ZONE | SLAB_POISON | SLAB_STORE_USER | SLAB_TRACE
                    | SLAB_DESTROY_BY_RCU | SLAB_NOLEAKTRACE | SLAB_FAILSLAB)
SLUB_MERGE_SAME = SLAB_DEBUG_FREE | SLAB_RECLAIM_ACCOUNT | SLAB_CACHE_DMA | SLAB_NOTRACK
CACHE_CREATE_MASK = (SLAB_HWCACHE_ALIGN | SLAB_CACHE_DMA | SLAB_PANIC | SLAB_DESTROY_BY_RCU
                     | SLAB_DEBUG_OBJECTS | SLAB_DEBUG_FLAGS | SLAB_NOLEAKTRACE
                     | SLAB_RECLAIM_ACCOUNT | SLAB_NOTRACK)

# enum slab_state (mm/slab.h)
DOWN, PARTIAL, PARTIAL_ARRAYCACHE, PARTIAL_NODE, UP, FULL = range(6)

# enum stat_item (include/linux/slub_def.h, v3.13)
SLUB_STAT_ITEMS = (
    "alloc_fastpath", "alloc_slowpath", "free_fastpath", "free_slowpath", "free_frozen",
    "free_add_partial", "free_remove_partial", "alloc_from_partial", "alloc_slab",
    "alloc_refill", "alloc_node_mismatch", "free_slab", "cpuslab_flush", "deactivate_full",
    "deactivate_empty", "deactivate_to_head", "deactivate_to_tail", "deactivate_remote_frees",
    "deactivate_bypass", "order_fallback", "cmpxchg_double_cpu_fail", "cmpxchg_double_fail",
    "cpu_partial_alloc", "cpu_partial_free", "cpu_partial_node", "cpu_partial_drain",
)
(ALLOC_FASTPATH, ALLOC_SLOWPATH, FREE_FASTPATH, FREE_SLOWPATH, FREE_FROZEN, FREE_ADD_PARTIAL,
 FREE_REMOVE_PARTIAL, ALLOC_FROM_PARTIAL, ALLOC_SLAB, ALLOC_REFILL, ALLOC_NODE_MISMATCH,
 FREE_SLAB, CPUSLAB_FLUSH, DEACTIVATE_FULL, DEACTIVATE_EMPTY, DEACTIVATE_TO_HEAD,
 DEACTIVATE_TO_TAIL, DEACTIVATE_REMOTE_FREES, DEACTIVATE_BYPASS, ORDER_FALLBACK,
 CMPXCHG_DOUBLE_CPU_FAIL, CMPXCHG_DOUBLE_FAIL, CPU_PARTIAL_ALLOC, CPU_PARTIAL_FREE,
 CPU_PARTIAL_NODE, CPU_PARTIAL_DRAIN) = range(len(SLUB_STAT_ITEMS))
NR_SLUB_STAT_ITEMS = len(SLUB_STAT_ITEMS)

NR_SLAB_RECLAIMABLE = 13       # enum zone_stat_item
NR_SLAB_UNRECLAIMABLE = 14

# Slots of mem.slub_cfg
SCFG_SLAB_STATE = 0            # slab_state
SCFG_PARTIAL_BASE = 1          # index of node struct 0's partial-list head in lru_next/lru_prev
SCFG_POOL_TOP = 2              # slab_objnext slots handed out so far (bump allocator)
SCFG_KMEM_CACHE = 3            # the kmem_cache cache (a row)
SCFG_KMEM_CACHE_NODE = 4       # the kmem_cache_node cache
SCFG_TID_STEP = 5              # TID_STEP: roundup_pow_of_two(NR_CPUS) with PREEMPT, else 1
SCFG_NR_NODE_IDS = 6
SCFG_KMALLOC_SHIFT_LOW = 7
SCFG_POINTER_SIZE = 8          # sizeof(void *)
SCFG_SEG_FREE = 9              # 16 heads: free object-pointer segments of 2^k slots
NR_SCFG = SCFG_SEG_FREE + 16
# kmem_cache_shrink()'s slabs_by_inuse lists: on-stack list heads (mmzone LH_* slots)
LH_SLAB_SORTED = 8
LH_SLAB_BUCKET = 9
LH_SLAB_EMPTY = 10


# ---- helpers of include/linux/slub_def.h and mm/slub.c ----------------------------------------
@kernel
def order_objects(order, size, reserved):
    """Kernel: mm/slub.c order_objects(): objects of ``size`` in a slab of that order."""
    return ((np.int64(4096) << order) - reserved) // size


@kernel
def oo_make(order, size, reserved):
    """Kernel: mm/slub.c oo_make(): order and objects packed in one word."""
    return (np.int64(order) << OO_SHIFT) + order_objects(order, size, reserved)


@kernel
def oo_order(x):
    """Kernel: mm/slub.c oo_order()."""
    return x >> OO_SHIFT


@kernel
def oo_objects(x):
    """Kernel: mm/slub.c oo_objects()."""
    return x & OO_MASK


@kernel
def stat(mem, s, si):
    """Kernel: mm/slub.c stat(): a CONFIG_SLUB_STATS counter (always kept here)."""
    mem.slub_stat[s, si] += 1


@kernel
def get_node(mem, s, node):
    """Kernel: mm/slub.c get_node(): s->node[node] as a node-structure number."""
    return mem.kmem_cache[s, KC_NODE] * mem.slub_cfg[SCFG_NR_NODE_IDS] + node


@kernel
def partial_head(mem, n):
    """The list head of ``n->partial``."""
    return mem.slub_cfg[SCFG_PARTIAL_BASE] + n


@kernel
def cpu_slab(mem, s):
    """``s->cpu_slab``: the group of this cache's kmem_cache_cpu structures."""
    return mem.kmem_cache[s, KC_CPU_SLAB]


@kernel
def kmem_cache_has_cpu_partial(mem, s):
    """Kernel: mm/slub.c kmem_cache_has_cpu_partial(): CONFIG_SLUB_CPU_PARTIAL and no debug."""
    return (mem.kmem_cache[s, KC_FLAGS] & SLAB_DEBUG_FLAGS) == 0


@kernel
def next_tid(mem, tid):
    """Kernel: mm/slub.c next_tid()."""
    return tid + mem.slub_cfg[SCFG_TID_STEP]


@kernel
def compound_head(mem, page):
    """Kernel: include/linux/mm.h compound_head(): a tail page's head.  Compound pages are
    buddy blocks, so the head is at the first aligned boundary carrying PG_head."""
    if (mem.flags[page] & PG_TAIL_MASK) == 0:
        return page
    order = 1
    while order < 11:
        head = page & ~((np.int64(1) << order) - 1)
        if mem.flags[head] & PG_HEAD_MASK:
            return head
        order += 1
    return page


@kernel
def virt_to_head_page(mem, x):
    """Kernel: include/linux/mm.h virt_to_head_page() of an object's address."""
    return compound_head(mem, x >> PAGE_SHIFT)


@kernel
def PageSlab(mem, page):
    """Kernel: include/linux/page-flags.h PageSlab()."""
    return (mem.flags[page] >> PG_slab) & 1


@kernel
def slab_object(mem, s, page, idx):
    """The address (physical) of object ``idx`` of a slab."""
    return (np.int64(page) << PAGE_SHIFT) + idx * mem.kmem_cache[s, KC_SIZE]


@kernel
def get_freepointer(mem, page, idx):
    """Kernel: mm/slub.c get_freepointer(): the next free object after ``idx``."""
    return np.int64(mem.slab_objnext[mem.slab_objbase[page] + idx])


@kernel
def set_freepointer(mem, page, idx, fp):
    """Kernel: mm/slub.c set_freepointer()."""
    mem.slab_objnext[mem.slab_objbase[page] + idx] = fp


# ---- where the free pointers live: segments of mem.slab_objnext ------------------------------
@kernel
def slab_seg_alloc(mem, nobj):
    """Not kernel code: ``nobj`` free-pointer slots for a new slab (a segment of 2^k slots,
    reused from the free segments of that size, else from the top).  The kernel keeps these
    pointers inside the objects; kmemsim keeps them here.  Python grows the pool before each
    operation (Kernel._slab_room), so the top never runs past its end."""
    k = 0
    while (np.int64(1) << k) < nobj:
        k += 1
    base = mem.slub_cfg[SCFG_SEG_FREE + k]
    if base >= 0:
        mem.slub_cfg[SCFG_SEG_FREE + k] = mem.slab_objnext[base]
        return base
    base = mem.slub_cfg[SCFG_POOL_TOP]
    mem.slub_cfg[SCFG_POOL_TOP] = base + (np.int64(1) << k)
    return base


@kernel
def slab_seg_free(mem, base, nobj):
    """Not kernel code: give a slab's free-pointer segment back."""
    k = 0
    while (np.int64(1) << k) < nobj:
        k += 1
    mem.slab_objnext[base] = mem.slub_cfg[SCFG_SEG_FREE + k]
    mem.slub_cfg[SCFG_SEG_FREE + k] = base


# ---- slab pages ----------------------------------------------------------------------------
@kernel
def inc_slabs_node(mem, s, node, objects):
    """Kernel: mm/slub.c inc_slabs_node() (SLUB_DEBUG): the counters slabinfo reads."""
    n = get_node(mem, s, node)
    mem.kmem_cache_node[n, KN_NR_SLABS] += 1
    mem.kmem_cache_node[n, KN_TOTAL_OBJECTS] += objects


@kernel
def dec_slabs_node(mem, s, node, objects):
    """Kernel: mm/slub.c dec_slabs_node()."""
    n = get_node(mem, s, node)
    mem.kmem_cache_node[n, KN_NR_SLABS] -= 1
    mem.kmem_cache_node[n, KN_TOTAL_OBJECTS] -= objects


@kernel
def alloc_slab_page(mem, flags, node, oo):
    """Kernel: mm/slub.c alloc_slab_page(): __GFP_NOTRACK added; a node given means that
    node's zonelist (alloc_pages_exact_node), none means this CPU's (alloc_pages)."""
    order = oo_order(oo)
    flags |= __GFP_NOTRACK
    if node == NUMA_NO_NODE:
        return alloc_pages(mem, flags, order)
    return alloc_pages_exact_node(mem, node, flags, order)


@kernel
def allocate_slab(mem, s, flags, node):
    """Kernel: mm/slub.c allocate_slab(): gfp_allowed_mask, the cache's allocflags; first the
    preferred order without retrying or warning, then the minimum order; account the pages
    as NR_SLAB_RECLAIMABLE or NR_SLAB_UNRECLAIMABLE."""
    oo = mem.kmem_cache[s, KC_OO]
    flags &= mem.cfg[CFG_GFP_ALLOWED_MASK]
    flags |= mem.kmem_cache[s, KC_ALLOCFLAGS]
    alloc_gfp = (flags | __GFP_NOWARN | __GFP_NORETRY) & ~__GFP_NOFAIL
    page = alloc_slab_page(mem, alloc_gfp, node, oo)
    if page < 0:
        oo = mem.kmem_cache[s, KC_MIN]
        page = alloc_slab_page(mem, flags, node, oo)
        if page >= 0:
            stat(mem, s, ORDER_FALLBACK)
    if page < 0:
        return np.int64(-1)
    mem.slab_objects[page] = oo_objects(oo)
    item = NR_SLAB_UNRECLAIMABLE
    if mem.kmem_cache[s, KC_FLAGS] & SLAB_RECLAIM_ACCOUNT:
        item = NR_SLAB_RECLAIMABLE
    __mod_zone_page_state(mem, page_zone_id(mem, page), item, np.int64(1) << oo_order(oo))
    return page


@kernel
def new_slab(mem, s, flags, node):
    """Kernel: mm/slub.c new_slab(): a slab page from allocate_slab (only the caller's
    reclaim and constraint bits pass), counted on its node, PageSlab, its objects threaded
    into a free list in address order; it comes back frozen with every object in use by
    whoever takes its freelist."""
    page = allocate_slab(mem, s, flags & (GFP_RECLAIM_MASK | GFP_CONSTRAINT_MASK), node)
    if page < 0:
        return page
    objects = np.int64(mem.slab_objects[page])
    inc_slabs_node(mem, s, page_to_nid(mem, page), objects)
    mem.slab_cache[page] = s
    mem.flags[page] |= np.uint32(1 << PG_slab)
    base = slab_seg_alloc(mem, objects)
    mem.slab_objbase[page] = base
    for i in range(objects - 1):
        mem.slab_objnext[base + i] = i + 1
    mem.slab_objnext[base + objects - 1] = OBJ_NULL
    mem.slab_freelist[page] = 0
    mem.slab_inuse[page] = objects
    mem.slab_frozen[page] = 1
    return page


@kernel
def __free_slab(mem, s, page):
    """Kernel: mm/slub.c __free_slab(): the NR_SLAB_* pages go back, PG_slab is cleared and
    the pages return to the page allocator."""
    order = compound_order(mem, page)
    pages = np.int64(1) << order
    item = NR_SLAB_UNRECLAIMABLE
    if mem.kmem_cache[s, KC_FLAGS] & SLAB_RECLAIM_ACCOUNT:
        item = NR_SLAB_RECLAIMABLE
    __mod_zone_page_state(mem, page_zone_id(mem, page), item, -pages)
    mem.flags[page] &= np.uint32(FLAGS_ALL ^ (1 << PG_slab))
    slab_seg_free(mem, mem.slab_objbase[page], np.int64(mem.slab_objects[page]))
    mem.slab_objbase[page] = -1
    mem.slab_cache[page] = -1
    mem.slab_freelist[page] = -1
    mem.slab_inuse[page] = 0
    mem.slab_objects[page] = 0
    mem.slab_frozen[page] = 0
    __free_pages(mem, page, order)


@kernel
def discard_slab(mem, s, page):
    """Kernel: mm/slub.c discard_slab() and free_slab().  SLAB_DESTROY_BY_RCU caches free
    at once too: kmemsim has no RCU grace periods."""
    dec_slabs_node(mem, s, page_to_nid(mem, page), np.int64(mem.slab_objects[page]))
    __free_slab(mem, s, page)


# ---- partial lists -------------------------------------------------------------------------
@kernel
def add_partial(mem, n, page, tail):
    """Kernel: mm/slub.c add_partial()."""
    mem.kmem_cache_node[n, KN_NR_PARTIAL] += 1
    if tail == DEACTIVATE_TO_TAIL:
        list_add_tail(mem, page, partial_head(mem, n))
    else:
        list_add(mem, page, partial_head(mem, n))


@kernel
def remove_partial(mem, n, page):
    """Kernel: mm/slub.c remove_partial()."""
    list_del(mem, page)
    mem.kmem_cache_node[n, KN_NR_PARTIAL] -= 1


@kernel
def acquire_slab(mem, s, n, page, mode):
    """Kernel: mm/slub.c acquire_slab(): freeze a partial slab and take it off the list;
    mode 1 (it becomes the cpu slab) takes its whole freelist.  Returns (freelist, free
    objects it had)."""
    freelist = np.int64(mem.slab_freelist[page])
    objects = np.int64(mem.slab_objects[page]) - mem.slab_inuse[page]
    if mode:
        mem.slab_inuse[page] = mem.slab_objects[page]
        mem.slab_freelist[page] = OBJ_NULL
    mem.slab_frozen[page] = 1
    remove_partial(mem, n, page)
    return freelist, objects


@kernel
def get_partial_node(mem, s, n, cpu):
    """Kernel: mm/slub.c get_partial_node(): the first partial slab of node structure ``n``
    becomes the cpu slab (its freelist is returned), more go to the cpu partial list until
    they hold more than half of cpu_partial free objects."""
    if mem.kmem_cache_node[n, KN_NR_PARTIAL] == 0:
        return np.int64(OBJ_NULL)
    g = cpu_slab(mem, s)
    head = partial_head(mem, n)
    obj = np.int64(OBJ_NULL)
    available = 0
    page = np.int64(mem.lru_next[head])
    while page != head:
        page2 = np.int64(mem.lru_next[page])
        t, objects = acquire_slab(mem, s, n, page, obj == OBJ_NULL)
        available += objects
        if obj == OBJ_NULL:
            mem.kmem_cache_cpu[cpu, g, KCC_PAGE] = page
            stat(mem, s, ALLOC_FROM_PARTIAL)
            obj = t
        else:
            put_cpu_partial(mem, s, page, 0)
            stat(mem, s, CPU_PARTIAL_NODE)
        if not kmem_cache_has_cpu_partial(mem, s) or \
                available > mem.kmem_cache[s, KC_CPU_PARTIAL] // 2:
            break
        page = page2
    return obj


@kernel
def get_any_partial(mem, s, flags, cpu):
    """Kernel: mm/slub.c get_any_partial() (NUMA): other nodes' partial slabs, nearest
    first, from nodes holding more than min_partial.  The kernel skips the search at random
    when get_cycles() % 1024 exceeds remote_node_defrag_ratio (1000); kmemsim always
    searches."""
    if mem.cfg[CFG_NUMA] == 0:
        return np.int64(OBJ_NULL)
    nid = mem.cpu_to_node[cpu]
    for i in range(mem.zonelists.shape[2]):
        zone = mem.zonelists[nid, 0, i]
        if zone < 0:
            break
        n = get_node(mem, s, zone // mem.cfg[CFG_MAX_NR_ZONES])
        if mem.kmem_cache_node[n, KN_ADDR] >= 0 and \
                mem.kmem_cache_node[n, KN_NR_PARTIAL] > mem.kmem_cache[s, KC_MIN_PARTIAL]:
            obj = get_partial_node(mem, s, n, cpu)
            if obj != OBJ_NULL:
                return obj
    return np.int64(OBJ_NULL)


@kernel
def get_partial(mem, s, flags, node, cpu):
    """Kernel: mm/slub.c get_partial(): the requested (or this CPU's) node first."""
    searchnode = node
    if node == NUMA_NO_NODE:
        searchnode = mem.cpu_to_node[cpu]
    obj = get_partial_node(mem, s, get_node(mem, s, searchnode), cpu)
    if obj != OBJ_NULL or node != NUMA_NO_NODE:
        return obj
    return get_any_partial(mem, s, flags, cpu)


# ---- retiring cpu slabs ----------------------------------------------------------------------
@kernel
def deactivate_slab(mem, s, page, freelist):
    """Kernel: mm/slub.c deactivate_slab(): the cpu's freelist goes back into the page,
    which is unfrozen and then freed (empty, and the node has more than min_partial), put
    on the node's partial list (head, or tail if others freed into it meanwhile), or left
    off every list (full)."""
    n = get_node(mem, s, page_to_nid(mem, page))
    tail = DEACTIVATE_TO_HEAD
    if mem.slab_freelist[page] != OBJ_NULL:
        stat(mem, s, DEACTIVATE_REMOTE_FREES)
        tail = DEACTIVATE_TO_TAIL
    # stage one: all but the last object of the cpu freelist back onto the page's
    while freelist != OBJ_NULL:
        nextfree = get_freepointer(mem, page, freelist)
        if nextfree == OBJ_NULL:
            break
        set_freepointer(mem, page, freelist, mem.slab_freelist[page])
        mem.slab_freelist[page] = freelist
        mem.slab_inuse[page] -= 1
        freelist = nextfree
    # stage two: the last one, and unfreeze
    if freelist != OBJ_NULL:
        mem.slab_inuse[page] -= 1
        set_freepointer(mem, page, freelist, mem.slab_freelist[page])
        mem.slab_freelist[page] = freelist
    mem.slab_frozen[page] = 0
    if mem.slab_inuse[page] == 0 and \
            mem.kmem_cache_node[n, KN_NR_PARTIAL] > mem.kmem_cache[s, KC_MIN_PARTIAL]:
        stat(mem, s, DEACTIVATE_EMPTY)
        discard_slab(mem, s, page)
        stat(mem, s, FREE_SLAB)
    elif mem.slab_freelist[page] != OBJ_NULL:
        add_partial(mem, n, page, tail)
        stat(mem, s, tail)
    else:
        stat(mem, s, DEACTIVATE_FULL)


@kernel
def unfreeze_partials(mem, s, cpu):
    """Kernel: mm/slub.c unfreeze_partials(): every slab of the cpu partial list is
    unfrozen onto its node's partial list (tail); empty ones beyond min_partial are freed
    afterwards, in the order they were met."""
    g = cpu_slab(mem, s)
    discard_page = np.int64(-1)
    while mem.kmem_cache_cpu[cpu, g, KCC_PARTIAL] >= 0:
        page = mem.kmem_cache_cpu[cpu, g, KCC_PARTIAL]
        mem.kmem_cache_cpu[cpu, g, KCC_PARTIAL] = mem.lru_next[page]
        n = get_node(mem, s, page_to_nid(mem, page))
        mem.slab_frozen[page] = 0
        if mem.slab_inuse[page] == 0 and \
                mem.kmem_cache_node[n, KN_NR_PARTIAL] > mem.kmem_cache[s, KC_MIN_PARTIAL]:
            mem.lru_next[page] = discard_page
            discard_page = page
        else:
            add_partial(mem, n, page, DEACTIVATE_TO_TAIL)
            stat(mem, s, FREE_ADD_PARTIAL)
    while discard_page >= 0:
        page = discard_page
        discard_page = mem.lru_next[page]
        mem.lru_next[page] = -1
        mem.lru_prev[page] = -1
        stat(mem, s, DEACTIVATE_EMPTY)
        discard_slab(mem, s, page)
        stat(mem, s, FREE_SLAB)


@kernel
def put_cpu_partial(mem, s, page, drain):
    """Kernel: mm/slub.c put_cpu_partial(): push a frozen slab on this CPU's partial list
    (``next`` in lru_next, ``pages``/``pobjects`` packed in lru_prev); when draining and the
    list already holds more than cpu_partial free objects, unfreeze the list first."""
    cpu = mem.cfg[CFG_CPU]
    g = cpu_slab(mem, s)
    pages = 0
    pobjects = 0
    oldpage = mem.kmem_cache_cpu[cpu, g, KCC_PARTIAL]
    if oldpage >= 0:
        pobjects = np.int64(mem.lru_prev[oldpage]) & 0xFFFF
        pages = np.int64(mem.lru_prev[oldpage]) >> 16
        if drain and pobjects > mem.kmem_cache[s, KC_CPU_PARTIAL]:
            unfreeze_partials(mem, s, cpu)
            oldpage = -1
            pobjects = 0
            pages = 0
            stat(mem, s, CPU_PARTIAL_DRAIN)
    pages += 1
    pobjects += np.int64(mem.slab_objects[page]) - mem.slab_inuse[page]
    mem.lru_prev[page] = (pages << 16) | pobjects
    mem.lru_next[page] = oldpage
    mem.kmem_cache_cpu[cpu, g, KCC_PARTIAL] = page


@kernel
def flush_slab(mem, s, cpu):
    """Kernel: mm/slub.c flush_slab()."""
    g = cpu_slab(mem, s)
    stat(mem, s, CPUSLAB_FLUSH)
    deactivate_slab(mem, s, mem.kmem_cache_cpu[cpu, g, KCC_PAGE],
                    mem.kmem_cache_cpu[cpu, g, KCC_FREELIST])
    mem.kmem_cache_cpu[cpu, g, KCC_TID] = next_tid(mem, mem.kmem_cache_cpu[cpu, g, KCC_TID])
    mem.kmem_cache_cpu[cpu, g, KCC_PAGE] = -1
    mem.kmem_cache_cpu[cpu, g, KCC_FREELIST] = OBJ_NULL


@kernel
def __flush_cpu_slab(mem, s, cpu):
    """Kernel: mm/slub.c __flush_cpu_slab(): the cpu slab and the cpu partial list."""
    g = cpu_slab(mem, s)
    if mem.kmem_cache_cpu[cpu, g, KCC_PAGE] >= 0:
        flush_slab(mem, s, cpu)
    unfreeze_partials(mem, s, cpu)


@kernel
def flush_all(mem, s):
    """Kernel: mm/slub.c flush_all(): every CPU that has a cpu slab or cpu partials."""
    g = cpu_slab(mem, s)
    for cpu in range(mem.kmem_cache_cpu.shape[0]):
        if mem.kmem_cache_cpu[cpu, g, KCC_PAGE] >= 0 or mem.kmem_cache_cpu[cpu, g, KCC_PARTIAL] >= 0:
            __flush_cpu_slab(mem, s, cpu)


# ---- allocation ------------------------------------------------------------------------------
@kernel
def node_match(mem, page, node):
    """Kernel: mm/slub.c node_match() (only NUMA can mismatch)."""
    if mem.cfg[CFG_NUMA]:
        if page < 0 or (node != NUMA_NO_NODE and page_to_nid(mem, page) != node):
            return False
    return True


@kernel
def get_freelist(mem, s, page):
    """Kernel: mm/slub.c get_freelist(): take the objects freed into the cpu slab; it stays
    frozen only if there were some."""
    freelist = np.int64(mem.slab_freelist[page])
    mem.slab_freelist[page] = OBJ_NULL
    mem.slab_inuse[page] = mem.slab_objects[page]
    mem.slab_frozen[page] = 1 if freelist != OBJ_NULL else 0
    return freelist


@kernel
def new_slab_objects(mem, s, flags, node, cpu):
    """Kernel: mm/slub.c new_slab_objects(): a partial slab, else a new one (flushing the
    cpu slab the page allocator's slow path may have installed meanwhile)."""
    freelist = get_partial(mem, s, flags, node, cpu)
    if freelist != OBJ_NULL:
        return freelist
    page = new_slab(mem, s, flags, node)
    if page < 0:
        return np.int64(OBJ_NULL)
    cpu = mem.cfg[CFG_CPU]
    g = cpu_slab(mem, s)
    if mem.kmem_cache_cpu[cpu, g, KCC_PAGE] >= 0:
        flush_slab(mem, s, cpu)
    freelist = np.int64(mem.slab_freelist[page])
    mem.slab_freelist[page] = OBJ_NULL
    stat(mem, s, ALLOC_SLAB)
    mem.kmem_cache_cpu[cpu, g, KCC_PAGE] = page
    return freelist


@kernel
def __slab_alloc(mem, s, gfpflags, node):
    """Kernel: mm/slub.c __slab_alloc(): the slow path: objects freed into the cpu slab,
    then the cpu partial list, the node partial list, a new slab.  Returns the object's
    address, or OBJ_NULL (the kernel's slab_out_of_memory warning is not printed)."""
    cpu = mem.cfg[CFG_CPU]
    g = cpu_slab(mem, s)
    page = mem.kmem_cache_cpu[cpu, g, KCC_PAGE]
    while True:
        if page >= 0:
            if not node_match(mem, page, node):
                stat(mem, s, ALLOC_NODE_MISMATCH)
                deactivate_slab(mem, s, page, mem.kmem_cache_cpu[cpu, g, KCC_FREELIST])
                mem.kmem_cache_cpu[cpu, g, KCC_PAGE] = -1
                mem.kmem_cache_cpu[cpu, g, KCC_FREELIST] = OBJ_NULL
            else:
                freelist = mem.kmem_cache_cpu[cpu, g, KCC_FREELIST]
                if freelist == OBJ_NULL:
                    stat(mem, s, ALLOC_SLOWPATH)
                    freelist = get_freelist(mem, s, page)
                    if freelist == OBJ_NULL:
                        mem.kmem_cache_cpu[cpu, g, KCC_PAGE] = -1
                        stat(mem, s, DEACTIVATE_BYPASS)
                    else:
                        stat(mem, s, ALLOC_REFILL)
                if freelist != OBJ_NULL:
                    break                                       # load_freelist
        # new_slab:
        if mem.kmem_cache_cpu[cpu, g, KCC_PARTIAL] >= 0:
            page = mem.kmem_cache_cpu[cpu, g, KCC_PARTIAL]
            mem.kmem_cache_cpu[cpu, g, KCC_PAGE] = page
            mem.kmem_cache_cpu[cpu, g, KCC_PARTIAL] = mem.lru_next[page]
            mem.lru_next[page] = -1
            mem.lru_prev[page] = -1
            stat(mem, s, CPU_PARTIAL_ALLOC)
            mem.kmem_cache_cpu[cpu, g, KCC_FREELIST] = OBJ_NULL
            continue                                            # redo
        freelist = new_slab_objects(mem, s, gfpflags, node, cpu)
        if freelist == OBJ_NULL:
            return np.int64(OBJ_NULL)
        cpu = mem.cfg[CFG_CPU]
        page = mem.kmem_cache_cpu[cpu, g, KCC_PAGE]
        if mem.kmem_cache[s, KC_FLAGS] & SLAB_DEBUG_FLAGS:
            # a debug cache keeps no cpu slab: one object, the rest back to the page
            deactivate_slab(mem, s, page, get_freepointer(mem, page, freelist))
            mem.kmem_cache_cpu[cpu, g, KCC_PAGE] = -1
            mem.kmem_cache_cpu[cpu, g, KCC_FREELIST] = OBJ_NULL
            return slab_object(mem, s, page, freelist)
        break
    # load_freelist:
    mem.kmem_cache_cpu[cpu, g, KCC_FREELIST] = get_freepointer(mem, page, freelist)
    mem.kmem_cache_cpu[cpu, g, KCC_TID] = next_tid(mem, mem.kmem_cache_cpu[cpu, g, KCC_TID])
    return slab_object(mem, s, page, freelist)


@kernel
def slab_alloc_node(mem, s, gfpflags, node):
    """Kernel: mm/slub.c slab_alloc_node(): the fast path takes the head of this CPU's
    lockless freelist (and advances the transaction id); otherwise __slab_alloc."""
    cpu = mem.cfg[CFG_CPU]
    g = cpu_slab(mem, s)
    obj = mem.kmem_cache_cpu[cpu, g, KCC_FREELIST]
    page = mem.kmem_cache_cpu[cpu, g, KCC_PAGE]
    if obj == OBJ_NULL or not node_match(mem, page, node):
        return __slab_alloc(mem, s, gfpflags, node)
    mem.kmem_cache_cpu[cpu, g, KCC_FREELIST] = get_freepointer(mem, page, obj)
    mem.kmem_cache_cpu[cpu, g, KCC_TID] = next_tid(mem, mem.kmem_cache_cpu[cpu, g, KCC_TID])
    stat(mem, s, ALLOC_FASTPATH)
    return slab_object(mem, s, page, obj)


@kernel
def kmem_cache_alloc(mem, s, gfpflags):
    """Kernel: mm/slub.c kmem_cache_alloc()."""
    ret = slab_alloc_node(mem, s, gfpflags, NUMA_NO_NODE)
    trace_kmem_cache_alloc(mem, ret, mem.kmem_cache[s, KC_OBJECT_SIZE], mem.kmem_cache[s, KC_SIZE],
                           gfpflags)
    return ret


@kernel
def kmem_cache_alloc_node(mem, s, gfpflags, node):
    """Kernel: mm/slub.c kmem_cache_alloc_node()."""
    ret = slab_alloc_node(mem, s, gfpflags, node)
    trace_kmem_cache_alloc_node(mem, ret, mem.kmem_cache[s, KC_OBJECT_SIZE],
                                mem.kmem_cache[s, KC_SIZE], gfpflags, node)
    return ret


# ---- freeing -------------------------------------------------------------------------------
@kernel
def __slab_free(mem, s, page, idx):
    """Kernel: mm/slub.c __slab_free(): free into a slab that is not this CPU's cpu slab.
    A full slab that gets a free object is frozen onto this CPU's partial list; an empty
    one is freed when its node has more than min_partial partial slabs."""
    stat(mem, s, FREE_SLOWPATH)
    prior = np.int64(mem.slab_freelist[page])
    was_frozen = mem.slab_frozen[page]
    set_freepointer(mem, page, idx, prior)
    mem.slab_freelist[page] = idx
    mem.slab_inuse[page] -= 1
    inuse = mem.slab_inuse[page]
    locked = False
    n = np.int64(-1)
    if (inuse == 0 or prior == OBJ_NULL) and not was_frozen:
        if kmem_cache_has_cpu_partial(mem, s) and prior == OBJ_NULL:
            mem.slab_frozen[page] = 1
        else:
            n = get_node(mem, s, page_to_nid(mem, page))
            locked = True
    if not locked:
        if mem.slab_frozen[page] and not was_frozen:
            put_cpu_partial(mem, s, page, 1)
            stat(mem, s, CPU_PARTIAL_FREE)
        if was_frozen:
            stat(mem, s, FREE_FROZEN)
        return
    if inuse == 0 and mem.kmem_cache_node[n, KN_NR_PARTIAL] > mem.kmem_cache[s, KC_MIN_PARTIAL]:
        if prior != OBJ_NULL:
            remove_partial(mem, n, page)
            stat(mem, s, FREE_REMOVE_PARTIAL)
        stat(mem, s, FREE_SLAB)
        discard_slab(mem, s, page)
        return
    if not kmem_cache_has_cpu_partial(mem, s) and prior == OBJ_NULL:
        add_partial(mem, n, page, DEACTIVATE_TO_TAIL)
        stat(mem, s, FREE_ADD_PARTIAL)


@kernel
def slab_free(mem, s, page, x):
    """Kernel: mm/slub.c slab_free(): the fast path pushes onto this CPU's lockless freelist
    when the object belongs to its cpu slab; otherwise __slab_free."""
    idx = (x - (np.int64(page) << PAGE_SHIFT)) // mem.kmem_cache[s, KC_SIZE]
    cpu = mem.cfg[CFG_CPU]
    g = cpu_slab(mem, s)
    if page == mem.kmem_cache_cpu[cpu, g, KCC_PAGE]:
        set_freepointer(mem, page, idx, mem.kmem_cache_cpu[cpu, g, KCC_FREELIST])
        mem.kmem_cache_cpu[cpu, g, KCC_FREELIST] = idx
        mem.kmem_cache_cpu[cpu, g, KCC_TID] = next_tid(mem, mem.kmem_cache_cpu[cpu, g, KCC_TID])
        stat(mem, s, FREE_FASTPATH)
    else:
        __slab_free(mem, s, page, idx)


@kernel
def kmem_cache_free(mem, s, x):
    """Kernel: mm/slub.c kmem_cache_free(): without memcg or SLAB_DEBUG_FREE, cache_from_obj
    trusts the caller's cache (kmemsim's Python layer checks it first)."""
    slab_free(mem, s, virt_to_head_page(mem, x), x)
    trace_kmem_cache_free(mem, x)


# ---- kmalloc -------------------------------------------------------------------------------
@kernel
def kmalloc_index_of(mem, size):
    """Kernel: mm/slab_common.c kmalloc_slab()'s index: size_index[] up to 192 bytes, then
    fls(size - 1)."""
    if size <= 192:
        return np.int64(mem.size_index[(size - 1) // 8])
    index = 0
    v = size - 1
    while v:
        index += 1
        v >>= 1
    return np.int64(index)


@kernel
def kmalloc_slab(mem, size, flags):
    """Kernel: mm/slab_common.c kmalloc_slab(): the cache serving ``size`` (dma-kmalloc-*
    for GFP_DMA with ZONE_DMA); -1 above KMALLOC_MAX_SIZE, OBJ_ZERO_SIZE for 0."""
    if size > KMALLOC_MAX_SIZE:
        return np.int64(-1)
    if size == 0:
        return np.int64(OBJ_ZERO_SIZE)
    index = kmalloc_index_of(mem, size)
    if (flags & ___GFP_DMA) and mem.kmalloc_caches[1, index] >= 0:
        return mem.kmalloc_caches[1, index]
    return mem.kmalloc_caches[0, index]


@kernel
def kmalloc_large_node(mem, size, flags, node):
    """Kernel: mm/slub.c kmalloc_large_node() / include/linux/slab.h kmalloc_order():
    whole pages, a compound page, straight from the page allocator."""
    flags |= __GFP_COMP | __GFP_NOTRACK | __GFP_KMEMCG
    page = alloc_pages_node(mem, node, flags, get_order(size))
    if page < 0:
        return np.int64(OBJ_NULL)
    return np.int64(page) << PAGE_SHIFT


@kernel
def __do_kmalloc_node(mem, size, flags, node):
    """The body __kmalloc() and __kmalloc_node() share (mm/slub.c): a large size goes to
    kmalloc_large_node; otherwise the kmalloc cache's slab_alloc_node.  Returns (object,
    bytes_alloc for the tracepoint; -1 when the kernel returns before tracing)."""
    if size > KMALLOC_MAX_CACHE_SIZE:
        return kmalloc_large_node(mem, size, flags, node), np.int64(1) << (PAGE_SHIFT + get_order(size))
    s = kmalloc_slab(mem, size, flags)
    if s < 0:
        return (np.int64(OBJ_ZERO_SIZE) if s == OBJ_ZERO_SIZE else np.int64(OBJ_NULL)), np.int64(-1)
    return slab_alloc_node(mem, s, flags, node), mem.kmem_cache[s, KC_SIZE]


@kernel
def __kmalloc_node(mem, size, flags, node):
    """Kernel: mm/slub.c __kmalloc_node()."""
    ret, bytes_alloc = __do_kmalloc_node(mem, size, flags, node)
    if bytes_alloc >= 0:
        trace_kmalloc_node(mem, ret, size, bytes_alloc, flags, node)
    return ret


@kernel
def __kmalloc(mem, size, flags):
    """Kernel: mm/slub.c __kmalloc() (kmalloc_large's kmalloc_order_trace() for large sizes)."""
    ret, bytes_alloc = __do_kmalloc_node(mem, size, flags, NUMA_NO_NODE)
    if bytes_alloc >= 0:
        trace_kmalloc(mem, ret, size, bytes_alloc, flags)
    return ret


@kernel
def kfree(mem, x):
    """Kernel: mm/slub.c kfree(): a slab object goes to its cache; a kmalloc_large_node block
    goes back to the page allocator whole."""
    trace_kfree(mem, x)
    if x < 0:                                   # ZERO_OR_NULL_PTR
        return
    page = virt_to_head_page(mem, x)
    if not PageSlab(mem, page):
        __free_pages(mem, page, compound_order(mem, page))
        return
    slab_free(mem, mem.slab_cache[page], page, x)


@kernel
def ksize(mem, x):
    """Kernel: mm/slub.c ksize(): the usable size (s->object_size without debug metadata:
    slab_ksize gives s->size for caches without RED_ZONE/POISON/RCU/STORE_USER, else
    object_size)."""
    if x == OBJ_ZERO_SIZE:
        return np.int64(0)
    page = virt_to_head_page(mem, x)
    if not PageSlab(mem, page):
        return np.int64(4096) << compound_order(mem, page)
    s = mem.slab_cache[page]
    if mem.kmem_cache[s, KC_FLAGS] & (SLAB_RED_ZONE | SLAB_POISON):
        return mem.kmem_cache[s, KC_OBJECT_SIZE]
    if mem.kmem_cache[s, KC_FLAGS] & (SLAB_DESTROY_BY_RCU | SLAB_STORE_USER):
        return mem.kmem_cache[s, KC_INUSE]
    return mem.kmem_cache[s, KC_SIZE]


# ---- whole caches --------------------------------------------------------------------------
@kernel
def kmem_cache_shrink(mem, s):
    """Kernel: mm/slub.c kmem_cache_shrink(): after flush_all, each node's partial list is
    sorted by objects in use, fullest first (slabs of equal use in reverse of their old
    order, as list_move into slabs_by_inuse leaves them), and its empty slabs are freed.
    Its slabs_by_inuse array is kmalloc'ed and kfree'd as in the kernel; the lists
    themselves are on-stack heads here (LH_SLAB_*)."""
    objects = oo_objects(mem.kmem_cache[s, KC_MAX])
    slabs_by_inuse = __kmalloc(mem, 2 * mem.slub_cfg[SCFG_POINTER_SIZE] * objects, GFP_KERNEL)
    if slabs_by_inuse == OBJ_NULL:
        return np.int64(-12)                    # -ENOMEM
    flush_all(mem, s)
    base = mem.cfg[CFG_SCRATCH_LIST_BASE]
    sorted_ = base + LH_SLAB_SORTED
    bucket = base + LH_SLAB_BUCKET
    empty = base + LH_SLAB_EMPTY
    for node in range(mem.slub_cfg[SCFG_NR_NODE_IDS]):
        n = get_node(mem, s, node)
        if mem.kmem_cache_node[n, KN_ADDR] < 0 or mem.kmem_cache_node[n, KN_NR_PARTIAL] == 0:
            continue
        head = partial_head(mem, n)
        INIT_LIST_HEAD(mem, sorted_)
        INIT_LIST_HEAD(mem, empty)
        page = np.int64(mem.lru_next[head])
        while page != head:
            nxt = np.int64(mem.lru_next[page])
            if mem.slab_inuse[page] == 0:
                list_move(mem, page, empty)
                mem.kmem_cache_node[n, KN_NR_PARTIAL] -= 1
            page = nxt
        for i in range(objects - 1, 0, -1):
            INIT_LIST_HEAD(mem, bucket)
            page = np.int64(mem.lru_next[head])
            while page != head:
                nxt = np.int64(mem.lru_next[page])
                if mem.slab_inuse[page] == i:
                    list_move(mem, page, bucket)
                page = nxt
            while not list_empty(mem, bucket):
                list_move_tail(mem, np.int64(mem.lru_next[bucket]), sorted_)
        while not list_empty(mem, sorted_):
            list_move_tail(mem, np.int64(mem.lru_next[sorted_]), head)
        while not list_empty(mem, empty):
            page = np.int64(mem.lru_next[empty])
            list_del(mem, page)
            discard_slab(mem, s, page)
    kfree(mem, slabs_by_inuse)
    return np.int64(0)


@kernel
def init_kmem_cache_node(mem, n):
    """Kernel: mm/slub.c init_kmem_cache_node()."""
    mem.kmem_cache_node[n, KN_NR_PARTIAL] = 0
    mem.kmem_cache_node[n, KN_NR_SLABS] = 0
    mem.kmem_cache_node[n, KN_TOTAL_OBJECTS] = 0
    INIT_LIST_HEAD(mem, partial_head(mem, n))


@kernel
def early_kmem_cache_node_alloc(mem, node):
    """Kernel: mm/slub.c early_kmem_cache_node_alloc(): while slab_state is DOWN the
    kmem_cache_node cache makes its own first slab by hand; its first object becomes the
    cache's per-node structure and the slab goes on that node's partial list.  Returns the
    slab page (-1: the allocation failed, which 3.13 treats as a BUG)."""
    s = mem.slub_cfg[SCFG_KMEM_CACHE_NODE]
    page = new_slab(mem, s, 0, node)                          # GFP_NOWAIT
    if page < 0:
        return page
    obj = np.int64(mem.slab_freelist[page])
    mem.slab_freelist[page] = get_freepointer(mem, page, obj)
    mem.slab_inuse[page] = 1
    mem.slab_frozen[page] = 0
    n = get_node(mem, s, node)
    mem.kmem_cache_node[n, KN_ADDR] = slab_object(mem, s, page, obj)
    init_kmem_cache_node(mem, n)
    inc_slabs_node(mem, s, node, np.int64(mem.slab_objects[page]))
    add_partial(mem, n, page, DEACTIVATE_TO_HEAD)
    return page


@kernel
def node_has_normal_memory(mem, node):
    """N_NORMAL_MEMORY: the node has pages in a zone below HIGHMEM."""
    nz = mem.cfg[CFG_MAX_NR_ZONES]
    for j in range(nz):
        if mem.present_pages[node * nz + j] > 0 and j != mem.cfg[CFG_HIGHMEM_IDX] and \
                j != mem.cfg[CFG_MOVABLE_IDX]:
            return True
    return False


@kernel
def free_kmem_cache_nodes(mem, s):
    """Kernel: mm/slub.c free_kmem_cache_nodes()."""
    for node in range(mem.slub_cfg[SCFG_NR_NODE_IDS]):
        n = get_node(mem, s, node)
        if mem.kmem_cache_node[n, KN_ADDR] >= 0:
            kmem_cache_free(mem, mem.slub_cfg[SCFG_KMEM_CACHE_NODE], mem.kmem_cache_node[n, KN_ADDR])
        mem.kmem_cache_node[n, KN_ADDR] = -1


@kernel
def init_kmem_cache_nodes(mem, s):
    """Kernel: mm/slub.c init_kmem_cache_nodes(): a kmem_cache_node structure for every node
    with normal memory, by hand while slab_state is DOWN, else from the kmem_cache_node
    cache (GFP_KERNEL on that node).  Returns 1, or 0 when memory ran out."""
    for node in range(mem.slub_cfg[SCFG_NR_NODE_IDS]):
        if not node_has_normal_memory(mem, node):
            continue
        if mem.slub_cfg[SCFG_SLAB_STATE] == DOWN:
            if early_kmem_cache_node_alloc(mem, node) < 0:
                return 0
            continue
        obj = kmem_cache_alloc_node(mem, mem.slub_cfg[SCFG_KMEM_CACHE_NODE], GFP_KERNEL, node)
        if obj == OBJ_NULL:
            free_kmem_cache_nodes(mem, s)
            return 0
        n = get_node(mem, s, node)
        mem.kmem_cache_node[n, KN_ADDR] = obj
        init_kmem_cache_node(mem, n)
    return 1


@kernel
def free_partial(mem, s, n):
    """Kernel: mm/slub.c free_partial(): empty partial slabs are freed; returns the number of
    slabs that still hold objects (the kernel reports each with list_slab_objects)."""
    head = partial_head(mem, n)
    left = 0
    page = np.int64(mem.lru_next[head])
    while page != head:
        nxt = np.int64(mem.lru_next[page])
        if mem.slab_inuse[page] == 0:
            remove_partial(mem, n, page)
            discard_slab(mem, s, page)
        else:
            left += 1
        page = nxt
    return left


@kernel
def kmem_cache_close(mem, s):
    """Kernel: mm/slub.c kmem_cache_close(): 0 when every slab could be freed, 1 when
    objects are still allocated (the cache stays)."""
    flush_all(mem, s)
    for node in range(mem.slub_cfg[SCFG_NR_NODE_IDS]):
        n = get_node(mem, s, node)
        if mem.kmem_cache_node[n, KN_ADDR] < 0:
            continue
        free_partial(mem, s, n)
        if mem.kmem_cache_node[n, KN_NR_PARTIAL] or mem.kmem_cache_node[n, KN_NR_SLABS]:
            return 1
    free_kmem_cache_nodes(mem, s)
    return 0


# ---- the state -----------------------------------------------------------------------------
# Per architecture: what sizing needs (include/linux/slab.h, arch cache.h; the struct sizes
# counted member by member for each configuration, docs/slub.md):
#   pointer, cache_line_size(), KMALLOC_MIN_SIZE, ARCH_SLAB_MINALIGN, ARCH_KMALLOC_MINALIGN,
#   sizeof(struct kmem_cache_node), offsetof(struct kmem_cache, node), PAGE_OFFSET
SLUB_ARCH = {
    # x86_64 (SLUB_DEBUG, SYSFS, NUMA; no DEBUG_SPINLOCK, no MEMCG_KMEM): real 3.13.11 shows
    # kmem_cache_node objsize 64 and kmem_cache 256 (200 rounded to the cache line)
    "x86_64": dict(pointer=8, cache_line=64, kmalloc_min_size=8, slab_minalign=8,
                   kmalloc_minalign=8, sizeof_kmem_cache_node=64, offsetof_node=192,
                   page_offset=0xffff880000000000),
    # 32-bit ARM, exynos_defconfig (CPU_V7: 64-byte lines and ARCH_DMA_MINALIGN; no NUMA;
    # DEBUG_SPINLOCK: a 16-byte spinlock_t, docs/arndale-notes.md)
    "arm": dict(pointer=4, cache_line=64, kmalloc_min_size=64, slab_minalign=8,
                kmalloc_minalign=64, sizeof_kmem_cache_node=44, offsetof_node=112,
                page_offset=0xc0000000),
    # the made-up machine: a 64-bit kernel like x86_64's
    "generic": dict(pointer=8, cache_line=64, kmalloc_min_size=8, slab_minalign=8,
                    kmalloc_minalign=8, sizeof_kmem_cache_node=64, offsetof_node=192,
                    page_offset=0xffff880000000000),
}
POOL_START = 1 << 18              # slots of slab_objnext at boot; doubled when short
POOL_HEADROOM = 1 << 17           # free slots kept before each operation (4 new slabs)


def alloc_slub_state(machine, nr_pfns: int, partial_base: int) -> dict:
    """The SLUB arrays of a machine before kmem_cache_init: no caches, slab_state DOWN."""
    nr_nodes = len(machine.nodes)
    arch = SLUB_ARCH[machine.arch]
    cfg = np.zeros(NR_SCFG, dtype=np.int64)
    cfg[SCFG_SLAB_STATE] = DOWN
    cfg[SCFG_PARTIAL_BASE] = partial_base
    cfg[SCFG_KMEM_CACHE] = cfg[SCFG_KMEM_CACHE_NODE] = -1
    # CONFIG_PREEMPT (arm's exynos_defconfig): TID_STEP = roundup_pow_of_two(NR_CPUS);
    # x86_64_defconfig has no PREEMPT: 1
    cfg[SCFG_TID_STEP] = 1 << (machine.cpus - 1).bit_length() if machine.arch == "arm" else 1
    cfg[SCFG_NR_NODE_IDS] = nr_nodes
    cfg[SCFG_KMALLOC_SHIFT_LOW] = arch["kmalloc_min_size"].bit_length() - 1
    cfg[SCFG_POINTER_SIZE] = arch["pointer"]
    cfg[SCFG_SEG_FREE:] = -1
    node = np.zeros((MAX_KMEM_CACHES * nr_nodes, NR_KN), dtype=np.int64)
    node[:, KN_ADDR] = -1
    cpu = np.zeros((machine.cpus, MAX_KMEM_CACHES, NR_KCC), dtype=np.int64)
    cpu[:, :, KCC_FREELIST] = OBJ_NULL
    cpu[:, :, KCC_PAGE] = -1
    cpu[:, :, KCC_PARTIAL] = -1
    return dict(
        slub_cfg=cfg,
        kmem_cache=np.zeros((MAX_KMEM_CACHES, NR_KC), dtype=np.int64),
        kmem_cache_cpu=cpu,
        kmem_cache_node=node,
        slub_stat=np.zeros((MAX_KMEM_CACHES, NR_SLUB_STAT_ITEMS), dtype=np.int64),
        kmalloc_caches=np.full((2, KMALLOC_SHIFT_HIGH + 1), -1, dtype=np.int64),
        size_index=np.array((3, 4, 5, 5, 6, 6, 6, 6, 1, 1, 1, 1, 7, 7, 7, 7,
                             2, 2, 2, 2, 2, 2, 2, 2), dtype=np.int8),
        # zero-filled (calloc'd): a page frame's slab fields cost memory only once a slab
        # uses it, and mean something only while PG_slab is set (new_slab writes them all)
        slab_cache=np.zeros(nr_pfns, dtype=np.int16),
        slab_freelist=np.zeros(nr_pfns, dtype=np.int16),
        slab_inuse=np.zeros(nr_pfns, dtype=np.int16),
        slab_objects=np.zeros(nr_pfns, dtype=np.int16),
        slab_frozen=np.zeros(nr_pfns, dtype=np.int8),
        slab_objbase=np.zeros(nr_pfns, dtype=np.int32),
        slab_objnext=np.full(POOL_START, -1, dtype=np.int32),
    )
