"""Creating slab caches: sizing, merging, the kmalloc caches and the boot bootstrap.

Kernel: mm/slab_common.c and the creation half of mm/slub.c (v3.13): calculate_alignment,
slab_order, calculate_order, calculate_sizes, kmem_cache_open, create_boot_cache,
create_kmalloc_caches, kmem_cache_init and bootstrap, find_mergeable / __kmem_cache_alias,
kmem_cache_create, kmem_cache_destroy.  They run once per cache, in Python, and write the
``mem.kmem_cache`` row the compiled object paths (:mod:`kmemsim.mm.slub`) read; every page
or object they need comes through those paths (``k.fn``), so a python-mode boot can be traced
down to the page allocator.

What the kernel keeps as strings and list links stays in Python, in :class:`SlabState`
(``k.slab``): cache names, ``slab_caches`` (head first, as /proc/slabinfo walks it), merged
aliases.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from kmemsim.errors import KmemsimError
from kmemsim.mm import slub
from kmemsim.mm.gfp import GFP_KERNEL, GFP_NOWAIT, __GFP_COMP, __GFP_RECLAIMABLE, __GFP_ZERO, \
    ___GFP_DMA
from kmemsim.mm.mmzone import CFG_CPU, MAX_ORDER, PAGE_ALLOC_COSTLY_ORDER, PAGE_SHIFT
from kmemsim.mm.slub import (
    KC_ADDR, KC_ALIGN, KC_ALLOCFLAGS, KC_CPU_PARTIAL, KC_CPU_SLAB, KC_CTOR, KC_FLAGS, KC_IN_USE,
    KC_INUSE, KC_MAX, KC_MIN, KC_MIN_PARTIAL, KC_NODE, KC_OBJECT_SIZE, KC_OFFSET, KC_OO,
    KC_REFCOUNT, KC_RESERVED, KC_SIZE, KCC_FREELIST, KCC_PAGE, KCC_PARTIAL, KCC_TID, KN_ADDR,
    MAX_KMEM_CACHES, MAX_OBJS_PER_PAGE, MAX_PARTIAL, MIN_PARTIAL, OBJ_NULL, SCFG_KMEM_CACHE,
    SCFG_KMEM_CACHE_NODE, SCFG_SLAB_STATE, SLAB_CACHE_DMA, SLAB_DEBUG_FLAGS,
    SLAB_DESTROY_BY_RCU, SLAB_HWCACHE_ALIGN, SLAB_POISON, SLAB_RECLAIM_ACCOUNT, SLAB_RED_ZONE,
    SLAB_STORE_USER, SLUB_ARCH, SLUB_MERGE_SAME, SLUB_NEVER_MERGE, CACHE_CREATE_MASK,
    KMALLOC_MAX_SIZE, KMALLOC_SHIFT_HIGH, DOWN, PARTIAL, UP, oo_make, oo_objects, oo_order,
    order_objects,
)

__all__ = ["SlabState", "calculate_alignment", "kmalloc_size", "slab_order", "calculate_order",
           "calculate_sizes", "set_min_partial", "kmem_cache_open", "__kmem_cache_create",
           "create_boot_cache", "create_kmalloc_cache", "create_kmalloc_caches", "bootstrap",
           "kmem_cache_init", "find_mergeable", "__kmem_cache_alias", "kmem_cache_create",
           "kmem_cache_destroy", "cache_name"]

__CMPXCHG_DOUBLE = 0x40000000     # mm/slub.c internal flag: the lockless fast mode
__OBJECT_POISON = 0x80000000      # mm/slub.c internal flag
# sizeof(struct track) with CONFIG_STACKTRACE (16 saved addresses): x86_64 8+128+4+4+8
TRACK_SIZE = {8: 152, 4: 76}


@dataclass
class SlabState:
    """The Python side of one machine's slab allocator (``k.slab``)."""

    arch: dict
    nr_cpu_ids: int
    nr_node_ids: int
    zone_dma: bool                                 # CONFIG_ZONE_DMA: dma-kmalloc-* exist
    slub_min_order: int = 0
    slub_max_order: int = PAGE_ALLOC_COSTLY_ORDER
    slub_min_objects: int = 0
    slub_nomerge: bool = False
    names: dict = field(default_factory=dict)      # cache row -> name
    name_objects: dict = field(default_factory=dict)   # cache row -> its kmalloc'ed name
    slab_caches: list = field(default_factory=list)    # rows, head first
    aliases: dict = field(default_factory=dict)    # a merged cache's name -> the row
    groups: set = field(default_factory=set)       # cpu_slab / node groups in use

    def lookup(self, name: str) -> int:
        """The row of cache ``name`` (its own name or a merged alias)."""
        for row in self.slab_caches:
            if self.names.get(row) == name:
                return row
        if name in self.aliases:
            return self.aliases[name]
        raise KmemsimError(f"unknown cache {name!r}: 'show slabinfo' lists the caches, "
                           "kmem_cache_create makes one")


def cache_name(k, s: int) -> str:
    """Kernel: mm/slab.h cache_name()."""
    return k.slab.names.get(s) or "(null)"


# ---- sizing ----------------------------------------------------------------------------------
def calculate_alignment(k, flags: int, align: int, size: int) -> int:
    """Kernel: mm/slab_common.c calculate_alignment(): SLAB_HWCACHE_ALIGN asks for the cache
    line, halved while the object fits twice; at least ARCH_SLAB_MINALIGN, a pointer
    multiple."""
    arch = k.slab.arch
    if flags & SLAB_HWCACHE_ALIGN:
        ralign = arch["cache_line"]
        while size <= ralign // 2:
            ralign //= 2
        align = max(align, ralign)
    align = max(align, arch["slab_minalign"])
    p = arch["pointer"]
    return -(-align // p) * p


def _align(x: int, a: int) -> int:
    return -(-x // a) * a


def _fls(x: int) -> int:
    return int(x).bit_length()


def _get_order(size: int) -> int:
    return max(0, _fls((size - 1) >> PAGE_SHIFT))


def kmalloc_size(k, n: int) -> int:
    """Kernel: include/linux/slab.h kmalloc_size(): the size of kmalloc cache ``n``."""
    if n > 2:
        return 1 << n
    if n == 1 and k.slab.arch["kmalloc_min_size"] <= 32:
        return 96
    if n == 2 and k.slab.arch["kmalloc_min_size"] <= 64:
        return 192
    return 0


def slab_order(size: int, min_objects: int, max_order: int, fract_leftover: int,
               reserved: int, min_order: int = 0) -> int:
    """Kernel: mm/slub.c slab_order(): the smallest order from which ``min_objects`` fit and
    no more than 1/fract_leftover of the slab is left over; max_order + 1 if none."""
    if int(order_objects(min_order, size, reserved)) > MAX_OBJS_PER_PAGE:
        return _get_order(size * MAX_OBJS_PER_PAGE) - 1
    order = max(min_order, _fls(min_objects * size - 1) - PAGE_SHIFT)
    while order <= max_order:
        slab_size = (1 << PAGE_SHIFT) << order
        if slab_size >= min_objects * size + reserved:
            if (slab_size - reserved) % size <= slab_size // fract_leftover:
                break
        order += 1
    return order


def calculate_order(k, size: int, reserved: int) -> int:
    """Kernel: mm/slub.c calculate_order(): min_objects from the CPU count
    (4 * (fls(nr_cpu_ids) + 1) unless slub_min_objects), relaxed first in waste
    (1/16, 1/8, 1/4) then in objects; -1 (-ENOSYS) if nothing fits."""
    st = k.slab
    min_objects = st.slub_min_objects or 4 * (_fls(st.nr_cpu_ids) + 1)
    max_objects = int(order_objects(st.slub_max_order, size, reserved))
    min_objects = min(min_objects, max_objects)
    while min_objects > 1:
        for fraction in (16, 8, 4):
            order = slab_order(size, min_objects, st.slub_max_order, fraction, reserved,
                               st.slub_min_order)
            if order <= st.slub_max_order:
                return order
        min_objects -= 1
    order = slab_order(size, 1, st.slub_max_order, 1, reserved, st.slub_min_order)
    if order <= st.slub_max_order:
        return order
    order = slab_order(size, 1, MAX_ORDER, 1, reserved, st.slub_min_order)
    if order < MAX_ORDER:
        return order
    return -1


def calculate_sizes(k, s: int, forced_order: int) -> bool:
    """Kernel: mm/slub.c calculate_sizes(): word-align the object, place the free pointer
    (after the object for RCU, poison or a constructor), debug metadata, align, then the
    order, allocflags and the oo / min / max packs.  False if no object fits."""
    kc = k.mem.kmem_cache[s]
    p = k.slab.arch["pointer"]
    flags = int(kc[KC_FLAGS])
    size = _align(int(kc[KC_OBJECT_SIZE]), p)
    if (flags & SLAB_POISON) and not (flags & SLAB_DESTROY_BY_RCU) and not kc[KC_CTOR]:
        kc[KC_FLAGS] |= __OBJECT_POISON
    else:
        kc[KC_FLAGS] &= ~__OBJECT_POISON
    if (flags & SLAB_RED_ZONE) and size == kc[KC_OBJECT_SIZE]:
        size += p
    kc[KC_INUSE] = size
    kc[KC_OFFSET] = 0
    if (flags & (SLAB_DESTROY_BY_RCU | SLAB_POISON)) or kc[KC_CTOR]:
        kc[KC_OFFSET] = size
        size += p
    if flags & SLAB_STORE_USER:
        size += 2 * TRACK_SIZE[p]
    if flags & SLAB_RED_ZONE:
        size += p
    size = _align(size, int(kc[KC_ALIGN]))
    kc[KC_SIZE] = size
    order = forced_order if forced_order >= 0 else calculate_order(k, size, int(kc[KC_RESERVED]))
    if order < 0:
        return False
    allocflags = 0
    if order:
        allocflags |= __GFP_COMP
    if kc[KC_FLAGS] & SLAB_CACHE_DMA:
        allocflags |= ___GFP_DMA
    if kc[KC_FLAGS] & SLAB_RECLAIM_ACCOUNT:
        allocflags |= __GFP_RECLAIMABLE
    kc[KC_ALLOCFLAGS] = allocflags
    reserved = int(kc[KC_RESERVED])
    kc[KC_OO] = oo_make(order, size, reserved)
    kc[KC_MIN] = oo_make(_get_order(size), size, reserved)
    if oo_objects(kc[KC_OO]) > oo_objects(kc[KC_MAX]):
        kc[KC_MAX] = kc[KC_OO]
    return bool(oo_objects(kc[KC_OO]))


def set_min_partial(k, s: int, min_: int) -> None:
    """Kernel: mm/slub.c set_min_partial(): clamped to MIN_PARTIAL..MAX_PARTIAL."""
    k.mem.kmem_cache[s, KC_MIN_PARTIAL] = min(max(min_, MIN_PARTIAL), MAX_PARTIAL)


def alloc_kmem_cache_cpus(k, s: int) -> None:
    """Kernel: mm/slub.c alloc_kmem_cache_cpus() / init_kmem_cache_cpus(): the per-CPU
    structures (from the percpu allocator, not the page allocator), tid = cpu."""
    g = int(k.mem.kmem_cache[s, KC_CPU_SLAB])
    c = k.mem.kmem_cache_cpu[:, g]
    c[:, KCC_FREELIST] = OBJ_NULL
    c[:, KCC_PAGE] = -1
    c[:, KCC_PARTIAL] = -1
    c[:, KCC_TID] = np.arange(len(c))


def kmem_cache_open(k, s: int, flags: int) -> int:
    """Kernel: mm/slub.c kmem_cache_open(): sizes, fast mode, min_partial, cpu_partial,
    the per-node and per-CPU structures.  0, or -EINVAL (-22)."""
    kc = k.mem.kmem_cache[s]
    kc[KC_FLAGS] = flags                      # kmem_cache_flags(): no slub_debug= given
    kc[KC_RESERVED] = 0                       # an rcu_head fits in page->lru on both archs
    if not calculate_sizes(k, s, -1):
        return -22
    if k.slab.arch["pointer"] == 8 and (kc[KC_FLAGS] & SLAB_DEBUG_FLAGS) == 0:
        kc[KC_FLAGS] |= __CMPXCHG_DOUBLE     # x86_64: cmpxchg16b and an aligned struct page
    size = int(kc[KC_SIZE])
    set_min_partial(k, s, (size.bit_length() - 1) // 2)
    if kc[KC_FLAGS] & SLAB_DEBUG_FLAGS:
        kc[KC_CPU_PARTIAL] = 0
    elif size >= 4096:
        kc[KC_CPU_PARTIAL] = 2
    elif size >= 1024:
        kc[KC_CPU_PARTIAL] = 6
    elif size >= 256:
        kc[KC_CPU_PARTIAL] = 13
    else:
        kc[KC_CPU_PARTIAL] = 30
    if not k.fn.init_kmem_cache_nodes(k.mem, s):
        return -22
    alloc_kmem_cache_cpus(k, s)
    return 0


def __kmem_cache_create(k, s: int, flags: int) -> int:
    """Kernel: mm/slub.c __kmem_cache_create() (sysfs comes later in boot: not modelled)."""
    return kmem_cache_open(k, s, flags)


# ---- rows and groups: where a struct kmem_cache and its pointers live ------------------------
def _new_row(k, group: int | None = None) -> int:
    used = k.mem.kmem_cache[:, KC_IN_USE]
    free = np.flatnonzero(used == 0)
    if len(free) == 0:
        raise KmemsimError(f"no room for another slab cache: kmemsim keeps {MAX_KMEM_CACHES}; "
                           "destroy one first")
    s = int(free[0])
    k.mem.kmem_cache[s] = 0
    k.mem.kmem_cache[s, KC_IN_USE] = 1
    k.mem.slub_stat[s] = 0
    if group is None:
        group = min(set(range(MAX_KMEM_CACHES)) - k.slab.groups)
        k.slab.groups.add(group)
        nodes = k.slab.nr_node_ids
        k.mem.kmem_cache_node[group * nodes:(group + 1) * nodes, KN_ADDR] = -1
    k.mem.kmem_cache[s, KC_CPU_SLAB] = group
    k.mem.kmem_cache[s, KC_NODE] = group
    k.mem.kmem_cache[s, KC_ADDR] = -1
    return s


def _release_row(k, s: int, group_too: bool) -> None:
    if group_too:
        k.slab.groups.discard(int(k.mem.kmem_cache[s, KC_CPU_SLAB]))
    k.mem.kmem_cache[s] = 0
    k.slab.names.pop(s, None)


def _kmem_cache_zalloc(k, gfp: int) -> int:
    """kmem_cache_zalloc(kmem_cache, gfp): room for a struct kmem_cache."""
    return int(k.fn.kmem_cache_alloc(k.mem, int(k.mem.slub_cfg[SCFG_KMEM_CACHE]), gfp | __GFP_ZERO))


def _kstrdup(k, s: int, name: str, gfp: int) -> None:
    """kstrdup / kasprintf: the name's bytes come from kmalloc."""
    obj = int(k.fn.__kmalloc(k.mem, len(name.encode()) + 1, gfp))
    if obj == OBJ_NULL:
        raise KmemsimError(f"out of memory copying the name of cache {name!r}")
    k.slab.names[s] = name
    k.slab.name_objects[s] = obj


# ---- boot ------------------------------------------------------------------------------------
def create_boot_cache(k, s: int, name: str | None, size: int, flags: int) -> None:
    """Kernel: mm/slab_common.c create_boot_cache(): a cache made while slab is coming up;
    refcount -1 keeps it from being merged into."""
    if name is not None:
        k.slab.names[s] = name
    kc = k.mem.kmem_cache[s]
    kc[KC_SIZE] = kc[KC_OBJECT_SIZE] = size
    kc[KC_ALIGN] = calculate_alignment(k, flags, k.slab.arch["kmalloc_minalign"], size)
    if __kmem_cache_create(k, s, flags):
        raise KmemsimError(f"Creation of kmalloc slab {name} size={size} failed: the machine "
                           "has too little memory to boot")
    kc[KC_REFCOUNT] = -1


def create_kmalloc_cache(k, name: str | None, size: int, flags: int) -> int:
    """Kernel: mm/slab_common.c create_kmalloc_cache(): its struct from the kmem_cache
    cache (GFP_NOWAIT), then create_boot_cache, head of slab_caches, refcount 1."""
    obj = _kmem_cache_zalloc(k, GFP_NOWAIT)
    if obj == OBJ_NULL:
        raise KmemsimError(f"Out of memory when creating slab {name}")
    s = _new_row(k)
    k.mem.kmem_cache[s, KC_ADDR] = obj
    create_boot_cache(k, s, name, size, flags)
    k.slab.slab_caches.insert(0, s)
    k.mem.kmem_cache[s, KC_REFCOUNT] = 1
    return s


def create_kmalloc_caches(k, flags: int = 0) -> None:
    """Kernel: mm/slab_common.c create_kmalloc_caches(): size_index patched for a large
    KMALLOC_MIN_SIZE, the caches 2^SHIFT_LOW .. 8192 (96 after 64, 192 after 128 where the
    minimum allows), slab_state UP, the names, then dma-kmalloc-* with ZONE_DMA."""
    mem, st = k.mem, k.slab
    minsize = st.arch["kmalloc_min_size"]
    low = minsize.bit_length() - 1
    for i in range(8, minsize, 8):
        elem = (i - 1) // 8
        if elem >= len(mem.size_index):
            break
        mem.size_index[elem] = low
    if minsize >= 64:
        for i in range(64 + 8, 96 + 1, 8):
            mem.size_index[(i - 1) // 8] = 7
    if minsize >= 128:
        for i in range(128 + 8, 192 + 1, 8):
            mem.size_index[(i - 1) // 8] = 8
    caches = mem.kmalloc_caches
    for i in range(low, KMALLOC_SHIFT_HIGH + 1):
        if caches[0, i] < 0:
            caches[0, i] = create_kmalloc_cache(k, None, 1 << i, flags)
        if minsize <= 32 and caches[0, 1] < 0 and i == 6:
            caches[0, 1] = create_kmalloc_cache(k, None, 96, flags)
        if minsize <= 64 and caches[0, 2] < 0 and i == 7:
            caches[0, 2] = create_kmalloc_cache(k, None, 192, flags)
    mem.slub_cfg[SCFG_SLAB_STATE] = UP
    for i in range(KMALLOC_SHIFT_HIGH + 1):
        if caches[0, i] >= 0:
            _kstrdup(k, int(caches[0, i]), f"kmalloc-{kmalloc_size(k, i)}", GFP_NOWAIT)
    if st.zone_dma:
        for i in range(KMALLOC_SHIFT_HIGH + 1):
            if caches[0, i] >= 0:
                size = kmalloc_size(k, i)
                name = f"dma-kmalloc-{size}"
                obj = int(k.fn.__kmalloc(mem, len(name) + 1, GFP_NOWAIT))
                caches[1, i] = s = create_kmalloc_cache(k, name, size, SLAB_CACHE_DMA | flags)
                st.name_objects[s] = obj


def bootstrap(k, static_cache: int) -> int:
    """Kernel: mm/slub.c bootstrap(): a boot cache moves into an object of the kmem_cache
    cache (GFP_NOWAIT, zeroed): the row is copied, this CPU's slabs of it are flushed, and
    the slabs on its partial lists now name the copy."""
    obj = _kmem_cache_zalloc(k, GFP_NOWAIT)
    s = _new_row(k, group=int(k.mem.kmem_cache[static_cache, KC_CPU_SLAB]))
    k.mem.kmem_cache[s] = k.mem.kmem_cache[static_cache]
    k.mem.kmem_cache[s, KC_ADDR] = obj
    k.mem.slub_stat[s] = k.mem.slub_stat[static_cache]
    k.slab.names[s] = k.slab.names[static_cache]
    k.fn.__flush_cpu_slab(k.mem, s, int(k.mem.cfg[CFG_CPU]))     # the boot CPU
    for node in range(k.slab.nr_node_ids):
        n = int(k.fn.get_node(k.mem, s, node))
        if k.mem.kmem_cache_node[n, KN_ADDR] < 0:
            continue
        head = int(k.fn.partial_head(k.mem, n))
        page = int(k.mem.lru_next[head])
        while page != head:
            k.mem.slab_cache[page] = s
            page = int(k.mem.lru_next[page])
    k.slab.slab_caches.insert(0, s)
    _release_row(k, static_cache, group_too=False)
    return s


def kmem_cache_init(k) -> None:
    """Kernel: mm/slub.c kmem_cache_init(): the kmem_cache_node and kmem_cache caches
    made from static structures (the first by hand, slab_state DOWN; then PARTIAL), moved
    into slab objects by bootstrap(), then the kmalloc caches; the SLUB boot line."""
    mem, st = k.mem, k.slab
    node_static = _new_row(k)
    mem.slub_cfg[SCFG_KMEM_CACHE_NODE] = node_static
    cache_static = _new_row(k)
    mem.slub_cfg[SCFG_KMEM_CACHE] = cache_static
    create_boot_cache(k, node_static, "kmem_cache_node", st.arch["sizeof_kmem_cache_node"],
                      SLAB_HWCACHE_ALIGN)
    mem.slub_cfg[SCFG_SLAB_STATE] = PARTIAL
    create_boot_cache(k, cache_static, "kmem_cache",
                      st.arch["offsetof_node"] + st.nr_node_ids * st.arch["pointer"],
                      SLAB_HWCACHE_ALIGN)
    mem.slub_cfg[SCFG_KMEM_CACHE] = bootstrap(k, cache_static)
    mem.slub_cfg[SCFG_KMEM_CACHE_NODE] = bootstrap(k, node_static)
    create_kmalloc_caches(k, 0)
    k.printk(f"SLUB: HWalign={st.arch['cache_line']}, Order={st.slub_min_order}-"
             f"{st.slub_max_order}, MinObjects={st.slub_min_objects}, CPUs={st.nr_cpu_ids}, "
             f"Nodes={st.nr_node_ids}")


# ---- caches made by users --------------------------------------------------------------------
def find_mergeable(k, size: int, align: int, flags: int, name: str, ctor: bool) -> int:
    """Kernel: mm/slub.c find_mergeable(): the first cache on slab_caches whose objects can
    hold this one's (same merge-relevant flags, compatible alignment, less than a word
    larger); -1 if none."""
    st, kc = k.slab, k.mem.kmem_cache
    if st.slub_nomerge or (flags & SLUB_NEVER_MERGE) or ctor:
        return -1
    p = st.arch["pointer"]
    size = _align(size, p)
    align = calculate_alignment(k, flags, align, size)
    size = _align(size, align)
    for s in st.slab_caches:
        if (kc[s, KC_FLAGS] & SLUB_NEVER_MERGE) or kc[s, KC_CTOR] or kc[s, KC_REFCOUNT] < 0:
            continue
        if size > kc[s, KC_SIZE]:
            continue
        if (flags & SLUB_MERGE_SAME) != (kc[s, KC_FLAGS] & SLUB_MERGE_SAME):
            continue
        if (int(kc[s, KC_SIZE]) & ~(align - 1)) != kc[s, KC_SIZE]:
            continue
        if kc[s, KC_SIZE] - size >= p:
            continue
        return s
    return -1


def __kmem_cache_alias(k, name: str, size: int, align: int, flags: int, ctor: bool) -> int:
    """Kernel: mm/slub.c __kmem_cache_alias(): merge into a mergeable cache (refcount up,
    object_size and inuse grown to the new size); -1 if none."""
    s = find_mergeable(k, size, align, flags, name, ctor)
    if s >= 0:
        kc = k.mem.kmem_cache[s]
        kc[KC_REFCOUNT] += 1
        kc[KC_OBJECT_SIZE] = max(int(kc[KC_OBJECT_SIZE]), size)
        kc[KC_INUSE] = max(int(kc[KC_INUSE]), _align(size, k.slab.arch["pointer"]))
        k.slab.aliases[name] = s
    return s


def kmem_cache_create(k, name: str, size: int, align: int = 0, flags: int = 0,
                      ctor: bool = False) -> int:
    """Kernel: mm/slab_common.c kmem_cache_create(): flags masked to CACHE_CREATE_MASK,
    merged into an existing cache when 3.13 would, else a new cache at the head of
    slab_caches.  Returns its row.  kmemsim refuses a name already in use (the kernel only
    checks with CONFIG_DEBUG_VM): scripts name caches by it."""
    st = k.slab
    if not name or any(ch.isspace() for ch in name):
        raise KmemsimError(f"cache name {name!r} must be one word")
    if any(st.names.get(s) == name for s in st.slab_caches) or name in st.aliases:
        raise KmemsimError(f"cache {name!r} already exists: pick another name")
    if size < st.arch["pointer"] or size > KMALLOC_MAX_SIZE:
        raise KmemsimError(f"kmem_cache_create({name}) integrity check failed: size={size} "
                           f"must be {st.arch['pointer']}..{KMALLOC_MAX_SIZE}")
    if align < 0 or align & (align - 1):
        raise KmemsimError(f"kmem_cache_create({name}): align={align} must be a power of two")
    if int(k.mem.slub_cfg[SCFG_SLAB_STATE]) < UP:
        raise KmemsimError("kmem_cache_create: slab is not up yet (boot past kmem_cache_init)")
    flags &= CACHE_CREATE_MASK
    s = __kmem_cache_alias(k, name, size, align, flags, ctor)
    if s >= 0:
        return s
    obj = _kmem_cache_zalloc(k, GFP_KERNEL)
    if obj == OBJ_NULL:
        raise KmemsimError(f"kmem_cache_create({name}) failed with error -12 (out of memory)")
    s = _new_row(k)
    kc = k.mem.kmem_cache[s]
    kc[KC_ADDR] = obj
    kc[KC_OBJECT_SIZE] = kc[KC_SIZE] = size
    kc[KC_ALIGN] = calculate_alignment(k, flags, align, size)
    kc[KC_CTOR] = int(ctor)
    _kstrdup(k, s, name, GFP_KERNEL)
    err = __kmem_cache_create(k, s, flags)
    if err:
        k.fn.kfree(k.mem, st.name_objects.pop(s))
        k.fn.kmem_cache_free(k.mem, int(k.mem.slub_cfg[SCFG_KMEM_CACHE]), obj)
        _release_row(k, s, group_too=True)
        raise KmemsimError(f"kmem_cache_create({name}) failed with error {err}")
    kc[KC_REFCOUNT] = 1
    st.slab_caches.insert(0, s)
    return s


def kmem_cache_destroy(k, name: str) -> bool:
    """Kernel: mm/slab_common.c kmem_cache_destroy(): drop a reference; the last one frees
    the cache if it holds no objects (else 3.13 complains and keeps it).  True when the
    cache is gone."""
    st = k.slab
    s = st.lookup(name)
    kc = k.mem.kmem_cache[s]
    if kc[KC_REFCOUNT] < 0:
        raise KmemsimError(f"cache {name!r} is a boot cache: it cannot be destroyed")
    st.aliases.pop(name, None)
    kc[KC_REFCOUNT] -= 1
    if kc[KC_REFCOUNT]:
        return False
    st.slab_caches.remove(s)
    if k.fn.kmem_cache_close(k.mem, s):
        st.slab_caches.insert(0, s)
        kc[KC_REFCOUNT] += 1
        k.printk(f"kmem_cache_destroy {cache_name(k, s)}: Slab cache still has objects")
        return False
    if s in st.name_objects:
        k.fn.kfree(k.mem, st.name_objects.pop(s))
    k.fn.kmem_cache_free(k.mem, int(k.mem.slub_cfg[SCFG_KMEM_CACHE]), int(kc[KC_ADDR]))
    for alias, row in list(st.aliases.items()):
        if row == s:
            del st.aliases[alias]
    _release_row(k, s, group_too=True)
    return True
