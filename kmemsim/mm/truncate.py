"""Dropping clean page cache that nobody uses: invalidate_mapping_pages().

Kernel: mm/truncate.c (v3.13) invalidate_inode_page(), invalidate_complete_page(),
invalidate_mapping_pages(); mm/vmscan.c remove_mapping().  truncate_inode_pages(), which
drops every page whatever its state, is with the owners (kmemsim.sim.owners).

invalidate_mapping_pages() looks the file's pages up fourteen at a time into a pagevec on
its stack (Mem.pagevecs[cpu, PVEC_ONSTACK]), each lookup taking a reference.  A page leaves
the cache only if it is clean, not under writeback, not mapped, and held by nobody but the
cache and the lookup (a page still on a per-CPU LRU pagevec is held by it and stays); the
others are queued for deactivation, a hint to reclaim.  pagevec_release() then drains this
CPU's LRU pagevecs and drops the lookup references: the dropped pages are freed, hot, in one
batch (release_pages).  kmemsim keeps no page locks, so trylock_page() always succeeds.
"""

import numpy as np

from kmemsim.jit import kernel
from kmemsim.mm.mmzone import CFG_CPU, PAGEVEC_SIZE, PVEC_ONSTACK, owner_head
from kmemsim.mm.page_flags import PageDirty, PageWriteback
from kmemsim.mm.swap import deactivate_page, get_page, lru_add_drain, release_pages
from kmemsim.mm.vmscan import __remove_mapping, page_mapped

__all__ = ["invalidate_inode_page", "invalidate_mapping_pages"]


@kernel
def invalidate_inode_page(mem, page):
    """Kernel: mm/truncate.c invalidate_inode_page() and invalidate_complete_page(): 1 if
    the page left its file's cache (remove_mapping: the cache's reference is dropped with
    it, the caller's stays), 0 if it is dirty, under writeback, mapped or held elsewhere."""
    if mem.mapping[page] == 0:
        return 0
    if PageDirty(mem, page) or PageWriteback(mem, page):
        return 0
    if page_mapped(mem, page):
        return 0
    if __remove_mapping(mem, page):
        mem.count[page] = 1                     # page_unfreeze_refs(page, 1)
        return 1
    return 0


@kernel
def invalidate_mapping_pages(mem, file):
    """Kernel: mm/truncate.c invalidate_mapping_pages(), over the whole of ``file``'s cache
    (start 0, end -1): how many pages it dropped."""
    cpu = mem.cfg[CFG_CPU]
    head = owner_head(mem, file)
    page = np.int64(mem.rmap_next[head])
    count = 0
    while page != head:
        # pagevec_lookup: the next PAGEVEC_SIZE pages, each with a reference
        nr = 0
        while nr < PAGEVEC_SIZE and page != head:
            get_page(mem, page)
            mem.pagevecs[cpu, PVEC_ONSTACK, 1 + nr] = page
            nr += 1
            page = np.int64(mem.rmap_next[page])
        mem.pagevecs[cpu, PVEC_ONSTACK, 0] = nr
        for i in range(nr):
            p = np.int64(mem.pagevecs[cpu, PVEC_ONSTACK, 1 + i])
            ret = invalidate_inode_page(mem, p)
            if ret == 0:
                deactivate_page(mem, p)
            count += ret
        # pagevec_release: a hot pagevec drains the LRU pagevecs first
        lru_add_drain(mem)
        release_pages(mem, cpu, PVEC_ONSTACK, nr, 0)
        mem.pagevecs[cpu, PVEC_ONSTACK, 0] = 0
    return count
