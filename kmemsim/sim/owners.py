"""Who owns memory: simulated tasks (anonymous memory), files (page cache) and tmpfs files.

Not a kernel file: kmemsim's stand-in for the page tables of tasks and the radix trees of
files, with the kernel functions that fill and empty them (mm/memory.c do_anonymous_page,
mm/filemap.c add_to_page_cache_lru / __delete_from_page_cache, mm/rmap.c
page_add_new_anon_rmap / page_remove_rmap, mm/shmem.c, mm/truncate.c, kernel/exit.c), each
reduced to what the allocator and reclaim see (v3.13).  Simplifications, named in
docs/slowpath.md:

* A page's owner is ``mem.mapping[page]``, a row of ``mem.owners``; each owner's pages are on
  a list of their own (rmap_next/rmap_prev, oldest first), standing for its page table or page
  cache tree.  Owner row 0 is the default task context, which owns nothing.
* Anonymous pages are mapped once, by their task (mapcount 1); file pages are read and
  written, never mmapped (mapcount 0).  tmpfs (shmem) files are swap-backed page cache on the
  anonymous LRU lists, as in the kernel.
* munmap takes a task's most recently faulted pages first; truncate and a task's exit take
  every page.
"""

import numpy as np

from kmemsim.jit import kernel, late
from kmemsim.mm.gfp import GFP_HIGHUSER_MOVABLE, __GFP_COLD, __GFP_WRITE, __GFP_ZERO
from kmemsim.mm.mmzone import CFG_CURRENT, CFG_MAX_OWNERS, CFG_NEXT_PID, CFG_NR_SWAP_PAGES, \
    NR_OWNER_FIELDS, OW_DIRTY, OW_FLAGS, OW_KIND, OW_NR_PTES, OW_PID, OW_RSS, OW_SWAP, \
    OW_TIF, OW_TOTAL_VM, OWNER_FREE, ZONE_STAT_ITEMS, owner_head, page_zone_id
from kmemsim.mm.page_alloc_fastpath import alloc_pages
from kmemsim.mm.page_flags import ClearPageDirty, PageDirty, SetPageActive, SetPageDirty, \
    __SetPageSwapBacked
from kmemsim.mm.swap import get_page, lru_add_drain, lru_cache_add, mark_page_accessed, \
    put_page
from kmemsim.mm.vmstat import EV_PGFAULT, __mod_zone_page_state, count_vm_event

__all__ = [
    "OW_SHMEM", "owner_alloc", "owner_add_page", "owner_del_page", "owner_replace_page",
    "owner_nr_pages",
    "do_anonymous_page", "page_add_new_anon_rmap", "page_remove_rmap", "add_to_page_cache_lru",
    "__delete_from_page_cache", "file_read_page", "file_write_page", "zap_task_pages",
    "truncate_inode_pages", "exit_mmap", "owner_release", "fault_pages", "read_file_pages",
    "touch_pages",
]

late(globals(), "kmemsim.sim.sched", "cond_resched")      # sched imports vmscan, which imports us

NR_ANON_PAGES = ZONE_STAT_ITEMS.index("nr_anon_pages")
NR_FILE_PAGES = ZONE_STAT_ITEMS.index("nr_file_pages")
NR_FILE_DIRTY = ZONE_STAT_ITEMS.index("nr_dirty")
NR_SHMEM = ZONE_STAT_ITEMS.index("nr_shmem")
NR_DIRTIED = ZONE_STAT_ITEMS.index("nr_dirtied")
OW_SHMEM = OW_FLAGS               # a file's flags column: 1 for a tmpfs file
PTRS_PER_PTE = 512


@kernel
def owner_alloc(mem, kind, flags):
    """A free row of mem.owners set up as a new owner of ``kind``; -1 when all are used."""
    for o in range(1, mem.cfg[CFG_MAX_OWNERS]):
        if mem.owners[o, OW_KIND] == OWNER_FREE:
            for f in range(NR_OWNER_FIELDS):
                mem.owners[o, f] = 0
            mem.owners[o, OW_KIND] = kind
            mem.owners[o, OW_FLAGS] = flags
            mem.owners[o, OW_PID] = mem.cfg[CFG_NEXT_PID]
            mem.cfg[CFG_NEXT_PID] += 1
            return o
    return -1


@kernel
def owner_add_page(mem, owner, page):
    """Record ``page`` as ``owner``'s newest page."""
    head = owner_head(mem, owner)
    prev = mem.rmap_prev[head]
    mem.rmap_next[prev] = page
    mem.rmap_prev[page] = prev
    mem.rmap_next[page] = head
    mem.rmap_prev[head] = page
    mem.mapping[page] = owner
    mem.owners[owner, OW_RSS] += 1


@kernel
def owner_del_page(mem, page):
    """Forget ``page``'s owner."""
    owner = mem.mapping[page]
    prev = mem.rmap_prev[page]
    nxt = mem.rmap_next[page]
    mem.rmap_next[prev] = nxt
    mem.rmap_prev[nxt] = prev
    mem.rmap_next[page] = 0
    mem.rmap_prev[page] = 0
    mem.mapping[page] = 0
    mem.owners[owner, OW_RSS] -= 1


@kernel
def owner_replace_page(mem, old, new):
    """``new`` takes ``old``'s place in its owner's page list (migration); ``old`` leaves it.
    The page's mapping and the owner's count are the caller's."""
    prev = mem.rmap_prev[old]
    nxt = mem.rmap_next[old]
    mem.rmap_next[prev] = new
    mem.rmap_prev[nxt] = new
    mem.rmap_prev[new] = prev
    mem.rmap_next[new] = nxt
    mem.rmap_next[old] = 0
    mem.rmap_prev[old] = 0


@kernel
def owner_nr_pages(mem, owner):
    """Resident pages of ``owner``."""
    return mem.owners[owner, OW_RSS]


@kernel
def page_add_new_anon_rmap(mem, page, task):
    """Kernel: mm/rmap.c page_add_new_anon_rmap(): a new anonymous page is swap-backed,
    counted in NR_ANON_PAGES, mapped once, and goes onto the LRU as active."""
    __SetPageSwapBacked(mem, page)
    __mod_zone_page_state(mem, page_zone_id(mem, page), NR_ANON_PAGES, 1)
    owner_add_page(mem, task, page)
    SetPageActive(mem, page)
    lru_cache_add(mem, page)


@kernel
def page_remove_rmap(mem, page):
    """Kernel: mm/rmap.c page_remove_rmap(): the last mapping of an anonymous page goes."""
    __mod_zone_page_state(mem, page_zone_id(mem, page), NR_ANON_PAGES, -1)
    owner_del_page(mem, page)


@kernel
def do_anonymous_page(mem, task):
    """Kernel: mm/memory.c do_anonymous_page(): a write fault on fresh anonymous memory of
    ``task``: a zeroed movable page (alloc_zeroed_user_highpage_movable), mapped.  The pfn,
    or -1 for VM_FAULT_OOM."""
    count_vm_event(mem, EV_PGFAULT)
    page = alloc_pages(mem, GFP_HIGHUSER_MOVABLE | __GFP_ZERO, 0)
    if page < 0:
        return np.int64(-1)
    mem.owners[task, OW_TOTAL_VM] += 1
    if mem.owners[task, OW_TOTAL_VM] % PTRS_PER_PTE == 1:
        mem.owners[task, OW_NR_PTES] += 1
    page_add_new_anon_rmap(mem, page, task)
    return page


@kernel
def add_to_page_cache_lru(mem, page, file):
    """Kernel: mm/filemap.c add_to_page_cache_lru(): the page cache takes a reference,
    NR_FILE_PAGES (and NR_SHMEM for tmpfs) count it, and it is queued for the LRU: the file
    list, or for tmpfs (swap-backed, shmem_getpage_gfp) the anonymous one."""
    get_page(mem, page)
    zone = page_zone_id(mem, page)
    __mod_zone_page_state(mem, zone, NR_FILE_PAGES, 1)
    if mem.owners[file, OW_SHMEM]:
        __SetPageSwapBacked(mem, page)
        __mod_zone_page_state(mem, zone, NR_SHMEM, 1)
    owner_add_page(mem, file, page)
    lru_cache_add(mem, page)


@kernel
def __delete_from_page_cache(mem, page):
    """Kernel: mm/filemap.c __delete_from_page_cache(): out of the file, uncounted (a dirty
    page's NR_FILE_DIRTY too, as account_page_cleaned is not yet in 3.13: truncate's
    cancel_dirty_page does it)."""
    file = mem.mapping[page]
    zone = page_zone_id(mem, page)
    __mod_zone_page_state(mem, zone, NR_FILE_PAGES, -1)
    if mem.owners[file, OW_SHMEM]:
        __mod_zone_page_state(mem, zone, NR_SHMEM, -1)
    if PageDirty(mem, page):
        ClearPageDirty(mem, page)
        if not mem.owners[file, OW_SHMEM]:          # tmpfs dirty pages were never accounted
            __mod_zone_page_state(mem, zone, NR_FILE_DIRTY, -1)
            mem.owners[file, OW_DIRTY] -= 1
    owner_del_page(mem, page)


@kernel
def file_read_page(mem, file):
    """Kernel: mm/filemap.c do_generic_file_read(), one page missing from the cache:
    page_cache_alloc_cold, add_to_page_cache_lru, mark_page_accessed, and the reader's
    reference dropped.  The pfn, or -1."""
    page = alloc_pages(mem, GFP_HIGHUSER_MOVABLE | __GFP_COLD, 0)
    if page < 0:
        return np.int64(-1)
    add_to_page_cache_lru(mem, page, file)
    mark_page_accessed(mem, page)
    put_page(mem, page)
    return page


@kernel
def file_write_page(mem, file):
    """Kernel: mm/filemap.c generic_perform_write(), one new page: grab_cache_page_write_begin
    (__GFP_WRITE for a file whose dirty pages are accounted; mm/shmem.c shmem_getpage_gfp
    for tmpfs), the copy, set_page_dirty (account_page_dirtied; tmpfs pages are dirty but
    not accounted), mark_page_accessed, the writer's reference dropped.  The pfn, or -1."""
    gfp = GFP_HIGHUSER_MOVABLE
    if not mem.owners[file, OW_SHMEM]:
        gfp |= __GFP_WRITE
    page = alloc_pages(mem, gfp, 0)
    if page < 0:
        return np.int64(-1)
    add_to_page_cache_lru(mem, page, file)
    SetPageDirty(mem, page)
    if not mem.owners[file, OW_SHMEM]:
        zone = page_zone_id(mem, page)
        __mod_zone_page_state(mem, zone, NR_FILE_DIRTY, 1)
        __mod_zone_page_state(mem, zone, NR_DIRTIED, 1)
        mem.owners[file, OW_DIRTY] += 1
    mark_page_accessed(mem, page)
    put_page(mem, page)
    return page


@kernel
def zap_task_pages(mem, task, nr):
    """Kernel: mm/memory.c zap_pte_range() over ``task``'s ``nr`` newest pages (munmap of
    the top of its memory): each is unmapped (page_remove_rmap) and its reference dropped
    after lru_add_drain, as free_pages_and_swap_cache does.  Returns how many."""
    lru_add_drain(mem)
    head = owner_head(mem, task)
    done = 0
    while done < nr:
        page = np.int64(mem.rmap_prev[head])
        if page == head:
            break
        page_remove_rmap(mem, page)
        put_page(mem, page)
        done += 1
    return done


@kernel
def truncate_inode_pages(mem, file):
    """Kernel: mm/truncate.c truncate_inode_pages(): every page leaves the cache and loses
    the cache's reference (pagevec_release drains this CPU's pagevecs first)."""
    lru_add_drain(mem)
    head = owner_head(mem, file)
    done = 0
    while True:
        page = np.int64(mem.rmap_next[head])
        if page == head:
            break
        __delete_from_page_cache(mem, page)
        put_page(mem, page)
        done += 1
    # a tmpfs file's pages that were swapped out: their slots are freed (mm/shmem.c
    # shmem_undo_range -> free_swap_and_cache)
    mem.cfg[CFG_NR_SWAP_PAGES] += mem.owners[file, OW_SWAP]
    mem.owners[file, OW_SWAP] = 0
    return done


@kernel
def exit_mmap(mem, task):
    """Kernel: mm/mmap.c exit_mmap(): all of a task's pages unmapped and released, its swap
    entries freed."""
    n = zap_task_pages(mem, task, mem.owners[task, OW_RSS])
    mem.cfg[CFG_NR_SWAP_PAGES] += mem.owners[task, OW_SWAP]
    mem.owners[task, OW_SWAP] = 0
    return n


@kernel
def owner_release(mem, owner):
    """Give an owner's row back (after exit_mmap or truncate_inode_pages)."""
    if mem.cfg[CFG_CURRENT] == owner:
        mem.cfg[CFG_CURRENT] = 0
    mem.owners[owner, OW_KIND] = OWNER_FREE


# ---- many pages in one call (the drivers of the script operations) ----------------------------

@kernel
def fault_pages(mem, task, nr):
    """``nr`` anonymous write faults of ``task``; how many got a page (stops at the first
    that did not, or when the task was chosen by the OOM killer: it dies on its way back to
    user space).  A runnable kswapd gets its turn between two faults (cond_resched)."""
    for i in range(nr):
        if do_anonymous_page(mem, task) < 0:
            return i
        if mem.owners[mem.cfg[CFG_CURRENT], OW_TIF] & 1:     # TIF_MEMDIE
            return i + 1
        if i + 1 < nr:
            cond_resched(mem)               # back in user space between two faults
    return nr


@kernel
def read_file_pages(mem, file, nr, write):
    """``nr`` new pages of ``file``, read (file_read_page) or written (file_write_page);
    how many got a page.  A runnable kswapd gets its turn between two pages (cond_resched)."""
    for i in range(nr):
        if write:
            page = file_write_page(mem, file)
        else:
            page = file_read_page(mem, file)
        if page < 0:
            return i
        if mem.owners[mem.cfg[CFG_CURRENT], OW_TIF] & 1:     # TIF_MEMDIE: killed
            return i + 1
        if i + 1 < nr:
            cond_resched(mem)               # the per-page cond_resched of the copy loops
    return nr


@kernel
def touch_pages(mem, owner, nr):
    """mark_page_accessed() on ``owner``'s ``nr`` oldest pages (a task touching its memory,
    or a file read again from the cache); how many."""
    head = owner_head(mem, owner)
    page = np.int64(mem.rmap_next[head])
    done = 0
    while done < nr and page != head:
        mark_page_accessed(mem, page)
        page = np.int64(mem.rmap_next[page])
        done += 1
    return done
