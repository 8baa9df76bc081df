"""Page flags: the PG_* bits of page->flags and their test/set/clear helpers.

Kernel: include/linux/page-flags.h, include/linux/mm.h (v3.13, x86-64 configuration).

Bit numbers are the kernel's ``enum pageflags``.  Two bits are kmemsim's own, marked *sim*:

* ``PG_buddy`` stands for the kernel's ``page->_mapcount == PAGE_BUDDY_MAPCOUNT_VALUE (-128)``,
  the mark of a free block's head page (PageBuddy / __SetPageBuddy / __ClearPageBuddy).
* ``PG_valid`` records pfn_valid(): whether the machine has a ``struct page`` for the pfn.

The top byte holds the zone id (``nid * MAX_NR_ZONES + zone_idx``), as set_page_links() puts the
node and zone numbers in the top bits of page->flags.
"""

import numpy as np

from kmemsim.jit import kernel

__all__ = [
    "PG_locked", "PG_error", "PG_referenced", "PG_uptodate", "PG_dirty", "PG_lru", "PG_active",
    "PG_slab", "PG_reserved", "PG_private", "PG_writeback", "PG_head", "PG_tail",
    "PG_swapcache", "PG_reclaim", "PG_swapbacked", "PG_unevictable", "PG_mlocked",
    "PG_buddy", "PG_valid", "PG_VALID_MASK", "ZONEID_PGSHIFT", "ZONEID_MASK",
    "PageBuddy", "__SetPageBuddy", "__ClearPageBuddy", "PageReserved", "SetPageReserved",
    "__ClearPageReserved", "PageCompound", "NR_PAGEFLAGS", "PAGE_FLAGS_CHECK_AT_PREP",
]

# enum pageflags (3.13)
PG_locked = 0
PG_error = 1
PG_referenced = 2
PG_uptodate = 3
PG_dirty = 4
PG_lru = 5
PG_active = 6
PG_slab = 7
PG_owner_priv_1 = 8
PG_arch_1 = 9
PG_reserved = 10
PG_private = 11
PG_private_2 = 12
PG_writeback = 13
PG_head = 14
PG_tail = 15
PG_swapcache = 16
PG_mappedtodisk = 17
PG_reclaim = 18
PG_swapbacked = 19
PG_unevictable = 20
PG_mlocked = 21
# kmemsim's own bits (see the module docstring)
PG_buddy = 22
PG_valid = 23

# The kernel bits modelled: 3.13's x86_64 enum goes on with PG_uncached, PG_hwpoison and
# PG_compound_lock, which nothing in kmemsim sets.  free_pages_check() clears them all.
NR_PAGEFLAGS = PG_mlocked + 1
PAGE_FLAGS_CHECK_AT_PREP = (1 << NR_PAGEFLAGS) - 1

PG_BUDDY_MASK = 1 << PG_buddy
PG_VALID_MASK = 1 << PG_valid
PG_RESERVED_MASK = 1 << PG_reserved
PG_HEAD_MASK = 1 << PG_head
PG_TAIL_MASK = 1 << PG_tail
PG_COMPOUND_MASK = PG_HEAD_MASK | PG_TAIL_MASK
ZONEID_PGSHIFT = 24
FLAGS_ALL = 0xFFFFFFFF          # to clear a bit without leaving uint32 (numpy refuses ~mask)
ZONEID_MASK = 0xFF

FLAG_NAMES = {
    PG_locked: "locked", PG_error: "error", PG_referenced: "referenced",
    PG_uptodate: "uptodate", PG_dirty: "dirty", PG_lru: "lru", PG_active: "active",
    PG_slab: "slab", PG_owner_priv_1: "owner_priv_1", PG_arch_1: "arch_1",
    PG_reserved: "reserved", PG_private: "private", PG_private_2: "private_2",
    PG_writeback: "writeback", PG_head: "head", PG_tail: "tail", PG_swapcache: "swapcache",
    PG_mappedtodisk: "mappedtodisk", PG_reclaim: "reclaim", PG_swapbacked: "swapbacked",
    PG_unevictable: "unevictable", PG_mlocked: "mlocked", PG_buddy: "buddy", PG_valid: "valid",
}


@kernel
def PageBuddy(mem, page):
    """Kernel: include/linux/mm.h PageBuddy()."""
    return (mem.flags[page] & PG_BUDDY_MASK) != 0


@kernel
def __SetPageBuddy(mem, page):
    """Kernel: include/linux/mm.h __SetPageBuddy()."""
    mem.flags[page] |= PG_BUDDY_MASK


@kernel
def __ClearPageBuddy(mem, page):
    """Kernel: include/linux/mm.h __ClearPageBuddy()."""
    mem.flags[page] &= FLAGS_ALL ^ PG_BUDDY_MASK


@kernel
def PageReserved(mem, page):
    """Kernel: include/linux/page-flags.h PageReserved()."""
    return (mem.flags[page] & PG_RESERVED_MASK) != 0


@kernel
def SetPageReserved(mem, page):
    """Kernel: include/linux/page-flags.h SetPageReserved()."""
    mem.flags[page] |= PG_RESERVED_MASK


@kernel
def __ClearPageReserved(mem, page):
    """Kernel: include/linux/page-flags.h __ClearPageReserved()."""
    mem.flags[page] &= FLAGS_ALL ^ PG_RESERVED_MASK


@kernel
def PageCompound(mem, page):
    """Kernel: include/linux/page-flags.h PageCompound()."""
    return (mem.flags[page] & PG_COMPOUND_MASK) != 0


# ---- the PAGEFLAG() family of include/linux/page-flags.h, generated from a table ------------
# (name, bit, operations): Test is PageX, Set SetPageX, Clear ClearPageX, __Clear __ClearPageX,
# __Set __SetPageX, TestClear TestClearPageX (returns the old value).
_PAGEFLAGS = (
    ("LRU", PG_lru, ("Test", "Set", "Clear", "__Clear", "TestClear")),
    ("Active", PG_active, ("Test", "Set", "Clear", "__Clear", "TestClear")),
    ("Referenced", PG_referenced, ("Test", "Set", "Clear", "TestClear")),
    ("SwapBacked", PG_swapbacked, ("Test", "Set", "Clear", "__Set", "__Clear")),
    ("Unevictable", PG_unevictable, ("Test", "Set", "Clear", "__Clear")),
    ("Dirty", PG_dirty, ("Test", "Set", "Clear", "TestClear")),
    ("Writeback", PG_writeback, ("Test", "Set", "Clear", "TestClear")),
    ("Reclaim", PG_reclaim, ("Test", "Set", "Clear", "TestClear")),
    ("SwapCache", PG_swapcache, ("Test", "Set", "Clear")),
    ("Slab", PG_slab, ("Test", "__Set", "__Clear")),
    ("Locked", PG_locked, ("Test",)),
    ("Mlocked", PG_mlocked, ("Test",)),
)
_TEMPLATES = {
    "Test": ("Page{n}", "return (mem.flags[page] & {m}) != 0"),
    "Set": ("SetPage{n}", "mem.flags[page] |= {m}"),
    "__Set": ("__SetPage{n}", "mem.flags[page] |= {m}"),
    "Clear": ("ClearPage{n}", "mem.flags[page] &= {keep}"),
    "__Clear": ("__ClearPage{n}", "mem.flags[page] &= {keep}"),
    "TestClear": ("TestClearPage{n}",
                  "old = (mem.flags[page] & {m}) != 0\n    mem.flags[page] &= {keep}\n    return old"),
}


def _make_pageflag_functions():
    made = []
    for name, bit, ops in _PAGEFLAGS:
        for op in ops:
            fname, body = _TEMPLATES[op]
            fname = fname.format(n=name)
            src = (f"def {fname}(mem, page):\n"
                   f"    \"\"\"Kernel: include/linux/page-flags.h {fname}().\"\"\"\n"
                   f"    " + body.format(m=f"np.uint32({1 << bit})",
                                         keep=f"np.uint32({FLAGS_ALL ^ (1 << bit)})") + "\n")
            ns = {}
            exec(compile(src, __file__, "exec"), globals(), ns)   # a real file: numba caches by it
            fn = ns[fname]
            fn.__module__ = __name__
            globals()[fname] = kernel(fn)
            made.append(fname)
    return made


__all__ += _make_pageflag_functions()
