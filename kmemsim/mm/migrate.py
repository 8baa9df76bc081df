"""Page migration: a page's contents and identity move to another page frame.

Kernel: mm/migrate.c, include/linux/migrate.h, include/linux/migrate_mode.h (v3.13), with the
pieces of mm/rmap.c (try_to_unmap_anon, the migration entries), mm/page-writeback.c
(clear_page_dirty_for_io, __set_page_dirty_nobuffers) and mm/internal.h (mlock_migrate_page)
that migration calls, each reduced to what a kmemsim page has.

migrate_pages() walks a list of isolated pages (``page->lru``, a list head of
mmzone.scratch_list such as LH_MIGRATEPAGES) up to ten times.  For each page unmap_and_move()
takes a new page from the allocator, unmaps the old one, moves its mapping, copies its flags,
remaps, and puts both pages back through putback_lru_page() as 3.13 does: the new page onto
the LRU, the old one (its references gone) into this CPU's lru_add pagevec, so it is freed when
that pagevec is next drained.  A page that cannot move now (-EAGAIN) stays on the list for the
next pass; one that fails for good is put back at once.

What a page is, in kmemsim's terms (kmemsim.sim.owners):

* ``page->mapping`` is ``mem.mapping[page]``, an owner row; page_mapping() is that owner for
  page cache, :data:`SWAPPER_SPACE` for a page in the swap cache, NULL (0) for anonymous
  memory.  The owner's page list (rmap_next/rmap_prev) stands for the file's radix tree and
  the task's page table: the new page takes the old one's place in it, so the owner keeps its
  page count and its pages' order.
* An anonymous page is mapped exactly once, by its task, so try_to_unmap always succeeds (no
  mlock, no page-table lock to miss) and the page is then unmapped.
* Pages have no buffers and no fs-private data, so every file's ->migratepage is
  migrate_page() (buffer_migrate_page() without buffers, shmem, the swap cache).
* Locks: kmemsim runs one operation at a time, so trylock_page() of a page nobody locked
  succeeds; only a page marked PG_locked is busy.  Memory cgroups, KSM, huge pages, balloon
  pages and page->index (the offset inside the file or vma) are not modelled.
* Writeback: MIGRATE_ASYNC and MIGRATE_SYNC_LIGHT (compaction's modes) fail a page under
  writeback with -EBUSY, as 3.13 does.  MIGRATE_SYNC would sleep in wait_on_page_writeback()
  from the fourth pass on; kmemsim does not stop a migration to let the device write, so such a
  page fails with -EBUSY there too.

The allocator of new pages (the kernel's get_new_page callback and its ``private`` argument) is
compaction's: compaction_alloc() on ``mem.compact_cc`` and ``mem.compact_freepages``, the only
caller kmemsim has.  The mm_migrate_pages tracepoint belongs to the tracing issue.
"""

import numpy as np

from kmemsim.jit import kernel
from kmemsim.mm.mmzone import PF_MEMALLOC, PF_SWAPWRITE  # task flags
from kmemsim.lib.list import list_del, list_empty, list_first_entry
from kmemsim.mm.mm_inline import page_is_file_cache
from kmemsim.mm.mmzone import CFG_CURRENT, OW_FLAGS, OW_KIND, OWNER_TASK, ZONE_STAT_ITEMS, \
    page_zone_id
from kmemsim.mm.page_flags import PG_error, PG_mappedtodisk, PG_mlocked, PG_owner_priv_1, \
    PG_private, PG_private_2, PG_referenced, PG_unevictable, PG_uptodate, ClearPageDirty, \
    ClearPageSwapCache, PageDirty, PageLocked, PageSwapBacked, PageSwapCache, PageWriteback, \
    SetPageActive, SetPageDirty, SetPageSwapBacked, SetPageSwapCache, TestClearPageActive
from kmemsim.mm.swap import get_page, lru_add_drain, lru_add_drain_all, put_page
from kmemsim.sim.owners import owner_replace_page
from kmemsim.mm.vmscan import EBUSY, putback_lru_page
from kmemsim.mm.vmstat import EV_PGMIGRATE_FAIL, EV_PGMIGRATE_SUCCESS, __dec_zone_state, \
    __inc_zone_state, __mod_zone_page_state, count_vm_events

__all__ = [
    "MIGRATE_ASYNC", "MIGRATE_SYNC_LIGHT", "MIGRATE_SYNC", "MR_COMPACTION", "MR_MEMORY_FAILURE",
    "MR_MEMORY_HOTPLUG", "MR_SYSCALL", "MR_MEMPOLICY_MBIND", "MR_NUMA_MISPLACED", "MR_CMA",
    "MIGRATEPAGE_SUCCESS", "EAGAIN", "ENOMEM", "SWAPPER_SPACE", "PF_MEMALLOC", "PF_SWAPWRITE",
    "PageAnon", "page_mapping", "migrate_prep", "migrate_prep_local", "putback_lru_pages",
    "putback_movable_pages", "try_to_unmap_anon", "remove_migration_pte",
    "remove_migration_ptes", "radix_tree_replace_slot", "migrate_page_move_mapping",
    "mapping_cap_account_dirty", "clear_page_dirty_for_io", "__set_page_dirty_nobuffers",
    "mlock_migrate_page", "migrate_page_copy", "migrate_page", "move_to_new_page",
    "__unmap_and_move", "unmap_and_move", "migrate_pages",
]

# enum migrate_mode (include/linux/migrate_mode.h)
MIGRATE_ASYNC = 0         # never block
MIGRATE_SYNC_LIGHT = 1    # may block, but not on writeback (sync compaction)
MIGRATE_SYNC = 2          # may wait for writeback
# enum migrate_reason (include/linux/migrate.h)
MR_COMPACTION = 0
MR_MEMORY_FAILURE = 1
MR_MEMORY_HOTPLUG = 2
MR_SYSCALL = 3
MR_MEMPOLICY_MBIND = 4
MR_NUMA_MISPLACED = 5
MR_CMA = 6
MIGRATEPAGE_SUCCESS = 0
EAGAIN = 11
ENOMEM = 12
SWAPPER_SPACE = -1        # page_mapping() of a page in the swap cache (swapper_spaces[])

NR_ISOLATED_ANON = ZONE_STAT_ITEMS.index("nr_isolated_anon")
NR_ANON_PAGES = ZONE_STAT_ITEMS.index("nr_anon_pages")
NR_FILE_PAGES = ZONE_STAT_ITEMS.index("nr_file_pages")
NR_FILE_DIRTY = ZONE_STAT_ITEMS.index("nr_dirty")
NR_DIRTIED = ZONE_STAT_ITEMS.index("nr_dirtied")
NR_SHMEM = ZONE_STAT_ITEMS.index("nr_shmem")
NR_MLOCK = ZONE_STAT_ITEMS.index("nr_mlock")
OW_SHMEM = OW_FLAGS               # a file's flags column: 1 for tmpfs (kmemsim.sim.owners)

# The flags migrate_page_copy() sets on the new page when the old one has them: error,
# referenced, uptodate, checked (PG_owner_priv_1) and mappedtodisk.
COPIED_FLAGS = np.uint32((1 << PG_error) | (1 << PG_referenced) | (1 << PG_uptodate)
                         | (1 << PG_owner_priv_1) | (1 << PG_mappedtodisk))
PRIVATE_FLAGS = np.uint32((1 << PG_private) | (1 << PG_private_2))
UNEVICTABLE_MASK = np.uint32(1 << PG_unevictable)
MLOCKED_MASK = np.uint32(1 << PG_mlocked)
FLAGS_KEEP_ALL = np.uint32(0xFFFFFFFF)


# ---- what a page belongs to ---------------------------------------------------------------------

@kernel
def PageAnon(mem, page):
    """Kernel: include/linux/mm.h PageAnon(): the page belongs to a task (kmemsim: its owner
    is a task).  A swap-cache page that reclaim already unmapped has no owner left and reads
    as not anonymous; migration treats both kinds alike."""
    owner = mem.mapping[page]
    if owner == 0:
        return False
    return mem.owners[owner, OW_KIND] == OWNER_TASK


@kernel
def page_mapping(mem, page):
    """Kernel: mm/util.c page_mapping(): the swap cache (SWAPPER_SPACE) for a page in it,
    NULL (0) for anonymous memory, else the page's file (its owner row)."""
    if PageSwapCache(mem, page):
        return np.int64(SWAPPER_SPACE)
    if PageAnon(mem, page):
        return np.int64(0)
    return np.int64(mem.mapping[page])


# ---- preparing and giving back ------------------------------------------------------------------

@kernel
def migrate_prep(mem):
    """Kernel: mm/migrate.c migrate_prep(): every CPU's pagevecs reach the LRU lists, so
    their pages can be isolated."""
    lru_add_drain_all(mem)
    return 0


@kernel
def migrate_prep_local(mem):
    """Kernel: mm/migrate.c migrate_prep_local(): the same for this CPU only."""
    lru_add_drain(mem)
    return 0


@kernel
def putback_lru_pages(mem, l):
    """Kernel: mm/migrate.c putback_lru_pages(): every page of the list ``l`` leaves it, is
    no longer counted as isolated (NR_ISOLATED_ANON or _FILE) and goes back to the LRU."""
    while not list_empty(mem, l):
        page = np.int64(list_first_entry(mem, l))
        list_del(mem, page)
        __dec_zone_state(mem, page_zone_id(mem, page),
                         NR_ISOLATED_ANON + page_is_file_cache(mem, page))
        putback_lru_page(mem, page)


@kernel
def putback_movable_pages(mem, l):
    """Kernel: mm/migrate.c putback_movable_pages(): putback_lru_pages() for lists built by
    isolate_migratepages_range(), which may also hold huge and balloon pages (never, in
    kmemsim)."""
    putback_lru_pages(mem, l)


# ---- unmapping and remapping (mm/rmap.c, mm/migrate.c) ------------------------------------------

@kernel
def try_to_unmap_anon(mem, page):
    """Kernel: mm/rmap.c try_to_unmap_anon() with TTU_MIGRATION: the task's pte becomes a
    migration entry (try_to_unmap_one): the mapping is removed (page_remove_rmap: one less
    NR_ANON_PAGES) and its reference dropped.  The task keeps the page on its list, which now
    stands for the migration entry.  Returns SWAP_SUCCESS (0): kmemsim has one pte per page
    and never an mlocked one."""
    __mod_zone_page_state(mem, page_zone_id(mem, page), NR_ANON_PAGES, -1)
    put_page(mem, page)
    return 0


@kernel
def remove_migration_pte(mem, new, old):
    """Kernel: mm/migrate.c remove_migration_pte(): the migration entry that points at
    ``old`` maps ``new`` instead (get_page, page_add_anon_rmap: NR_ANON_PAGES of new's zone).
    In kmemsim ``new`` takes ``old``'s place in the task's page list."""
    get_page(mem, new)
    __mod_zone_page_state(mem, page_zone_id(mem, new), NR_ANON_PAGES, 1)
    if new != old:
        owner_replace_page(mem, old, new)


@kernel
def remove_migration_ptes(mem, old, new):
    """Kernel: mm/migrate.c remove_migration_ptes(): every migration entry of ``old`` is
    replaced by a mapping of ``new`` (``new`` == ``old`` puts the old page back after a
    failure).  Only anonymous pages are mapped in kmemsim."""
    if PageAnon(mem, new):
        remove_migration_pte(mem, new, old)


@kernel
def radix_tree_replace_slot(mem, page, newpage):
    """Kernel: include/linux/radix-tree.h radix_tree_replace_slot(): the file's slot of
    ``page`` holds ``newpage``.  The file's page list stands for its radix tree."""
    owner_replace_page(mem, page, newpage)


# ---- moving the mapping and copying the page ----------------------------------------------------

@kernel
def migrate_page_move_mapping(mem, mapping, newpage, page, mode, extra_count):
    """Kernel: mm/migrate.c migrate_page_move_mapping(): -EAGAIN unless the page has exactly
    the references it should (1 + extra_count, plus the cache's one when it has a mapping).
    With a mapping, the cache's reference and slot pass to ``newpage`` (and the swap cache
    flag), and NR_FILE_PAGES (NR_SHMEM for tmpfs) move to the new page's zone."""
    expected_count = 1 + extra_count
    if mapping == 0:
        if mem.count[page] != expected_count:
            return -EAGAIN
        return MIGRATEPAGE_SUCCESS
    expected_count += 1
    if (mem.flags[page] & PRIVATE_FLAGS) != 0:               # page_has_private()
        expected_count += 1
    if mem.count[page] != expected_count:                    # (page_freeze_refs)
        return -EAGAIN
    get_page(mem, newpage)                                   # the cache's reference
    if PageSwapCache(mem, page):
        SetPageSwapCache(mem, newpage)                       # (its swap entry is not modelled)
    if mapping != SWAPPER_SPACE:
        radix_tree_replace_slot(mem, page, newpage)
    mem.count[page] = expected_count - 1                     # page_unfreeze_refs
    __dec_zone_state(mem, page_zone_id(mem, page), NR_FILE_PAGES)
    __inc_zone_state(mem, page_zone_id(mem, newpage), NR_FILE_PAGES)
    if not PageSwapCache(mem, page) and PageSwapBacked(mem, page):
        __dec_zone_state(mem, page_zone_id(mem, page), NR_SHMEM)
        __inc_zone_state(mem, page_zone_id(mem, newpage), NR_SHMEM)
    return MIGRATEPAGE_SUCCESS


@kernel
def mapping_cap_account_dirty(mem, mapping):
    """Kernel: include/linux/backing-dev.h mapping_cap_account_dirty(): a file's dirty pages
    are counted (NR_FILE_DIRTY) unless it is tmpfs; the swap cache's are not."""
    if mapping <= 0:
        return False
    return mem.owners[mapping, OW_SHMEM] == 0


@kernel
def clear_page_dirty_for_io(mem, page):
    """Kernel: mm/page-writeback.c clear_page_dirty_for_io(): clear PG_dirty; for a file
    whose dirty pages are counted, one less NR_FILE_DIRTY.  True if the page was dirty.
    (No pte to clean: page cache is never mapped in kmemsim.)"""
    mapping = page_mapping(mem, page)
    if mapping_cap_account_dirty(mem, mapping):
        if PageDirty(mem, page):
            ClearPageDirty(mem, page)
            __dec_zone_state(mem, page_zone_id(mem, page), NR_FILE_DIRTY)
            return True
        return False
    was_dirty = PageDirty(mem, page)
    ClearPageDirty(mem, page)
    return was_dirty


@kernel
def __set_page_dirty_nobuffers(mem, page):
    """Kernel: mm/page-writeback.c __set_page_dirty_nobuffers(): set PG_dirty; a page newly
    dirtied in a counted file is accounted (account_page_dirtied: NR_FILE_DIRTY and
    NR_DIRTIED, so migrating a dirty page counts it as dirtied once more, as 3.13 does).
    True if the page was clean."""
    if PageDirty(mem, page):
        return False
    SetPageDirty(mem, page)
    mapping = page_mapping(mem, page)
    if mapping_cap_account_dirty(mem, mapping):
        __inc_zone_state(mem, page_zone_id(mem, page), NR_FILE_DIRTY)
        __inc_zone_state(mem, page_zone_id(mem, page), NR_DIRTIED)
    return True


@kernel
def mlock_migrate_page(mem, newpage, page):
    """Kernel: mm/internal.h mlock_migrate_page(): PG_mlocked, and NR_MLOCK with it, move to
    the new page."""
    if (mem.flags[page] & MLOCKED_MASK) != 0:
        mem.flags[page] &= FLAGS_KEEP_ALL ^ MLOCKED_MASK
        __mod_zone_page_state(mem, page_zone_id(mem, page), NR_MLOCK, -1)
        mem.flags[newpage] |= MLOCKED_MASK
        __mod_zone_page_state(mem, page_zone_id(mem, newpage), NR_MLOCK, 1)


@kernel
def migrate_page_copy(mem, newpage, page):
    """Kernel: mm/migrate.c migrate_page_copy(): the contents (nothing to copy in kmemsim)
    and the page state move: error, referenced, uptodate, checked and mappedtodisk are set on
    the new page; active (or else unevictable) moves; a dirty page stays dirty on the new
    frame (clear_page_dirty_for_io, then SetPageDirty for swap-backed pages or
    __set_page_dirty_nobuffers for files); PG_mlocked moves; the old page loses its swap
    cache and private bits."""
    mem.flags[newpage] |= mem.flags[page] & COPIED_FLAGS
    if TestClearPageActive(mem, page):
        SetPageActive(mem, newpage)
    elif (mem.flags[page] & UNEVICTABLE_MASK) != 0:          # TestClearPageUnevictable
        mem.flags[page] &= FLAGS_KEEP_ALL ^ UNEVICTABLE_MASK
        mem.flags[newpage] |= UNEVICTABLE_MASK
    if PageDirty(mem, page):
        clear_page_dirty_for_io(mem, page)
        if PageSwapBacked(mem, page):
            SetPageDirty(mem, newpage)
        else:
            __set_page_dirty_nobuffers(mem, newpage)
    mlock_migrate_page(mem, newpage, page)
    ClearPageSwapCache(mem, page)
    mem.flags[page] &= FLAGS_KEEP_ALL ^ np.uint32(1 << PG_private)    # ClearPagePrivate
    # set_page_private(page, 0): page_private is a free block's order in kmemsim, unused here;
    # PageWriteback(newpage) cannot be set on a page fresh from the allocator.


@kernel
def migrate_page(mem, mapping, newpage, page, mode):
    """Kernel: mm/migrate.c migrate_page(): move the mapping, then copy the page."""
    rc = migrate_page_move_mapping(mem, mapping, newpage, page, mode, 0)
    if rc != MIGRATEPAGE_SUCCESS:
        return rc
    migrate_page_copy(mem, newpage, page)
    return MIGRATEPAGE_SUCCESS


@kernel
def move_to_new_page(mem, newpage, page, remap_swapcache, mode):
    """Kernel: mm/migrate.c move_to_new_page(): the new page gets the old one's mapping (and
    PG_swapbacked) and the mapping's ->migratepage (migrate_page() for every kmemsim
    mapping) moves it.  On success the old page's migration entries map the new page and
    the old page loses its mapping; on failure the new page loses it again."""
    mem.mapping[newpage] = mem.mapping[page]
    if PageSwapBacked(mem, page):
        SetPageSwapBacked(mem, newpage)
    rc = migrate_page(mem, page_mapping(mem, page), newpage, page, mode)
    if rc != MIGRATEPAGE_SUCCESS:
        mem.mapping[newpage] = 0
    else:
        if remap_swapcache:
            remove_migration_ptes(mem, page, newpage)
        mem.mapping[page] = 0
    return rc


# ---- one page, and a list of them ---------------------------------------------------------------

@kernel
def __unmap_and_move(mem, page, newpage, force, mode):
    """Kernel: mm/migrate.c __unmap_and_move(): -EAGAIN for a locked page (retried);
    -EBUSY for a page under writeback (see the module docstring for MIGRATE_SYNC); an
    anonymous page is unmapped (try_to_unmap) and moved, and on failure its mapping comes
    back (remove_migration_ptes(page, page))."""
    rc = -EAGAIN
    remap_swapcache = 1
    if PageLocked(mem, page):
        # trylock_page() failed: async migration, an early pass, or a PF_MEMALLOC task gives
        # up; lock_page() would sleep until the holder unlocks, which kmemsim cannot wait for
        return rc
    if PageWriteback(mem, page):
        if mode != MIGRATE_SYNC:
            return -EBUSY
        if not force:
            return rc
        return -EBUSY                      # wait_on_page_writeback(): not while migrating
    anon = PageAnon(mem, page)
    if not anon and PageSwapCache(mem, page):
        remap_swapcache = 0                # an unmapped swap-cache page is not remapped
    if anon:
        try_to_unmap_anon(mem, page)       # always unmaps: the page is no longer mapped
    rc = move_to_new_page(mem, newpage, page, remap_swapcache, mode)
    if rc != MIGRATEPAGE_SUCCESS and anon:
        remove_migration_ptes(mem, page, page)
    return rc


@kernel
def unmap_and_move(mem, page, force, mode):
    """Kernel: mm/migrate.c unmap_and_move(): a new page from the allocator (compaction_alloc;
    -ENOMEM when it has none), then __unmap_and_move().  Unless the result is -EAGAIN the
    old page leaves the list, is no longer counted as isolated and goes to putback_lru_page()
    (after a success its last reference is the pagevec's, so the drain frees it); the new
    page always goes to putback_lru_page() (onto the LRU, or freed at the drain when
    unused)."""
    newpage = compaction_alloc(mem, page, mem.compact_cc, mem.compact_freepages)
    if newpage < 0:
        return -ENOMEM
    rc = 0
    if mem.count[page] != 1:           # count 1: freed under us, nothing to move
        rc = __unmap_and_move(mem, page, newpage, force, mode)
    if rc != -EAGAIN:
        list_del(mem, page)
        __dec_zone_state(mem, page_zone_id(mem, page),
                         NR_ISOLATED_ANON + page_is_file_cache(mem, page))
        putback_lru_page(mem, page)
    putback_lru_page(mem, newpage)
    return rc


@kernel
def migrate_pages(mem, from_head, mode, reason):
    """Kernel: mm/migrate.c migrate_pages(): up to ten passes over the list ``from_head``
    while some page asked to be retried (from the fourth pass on, force: a locked page would
    be waited for).  Counts PGMIGRATE_SUCCESS and PGMIGRATE_FAIL.  Returns the pages not
    migrated (failed ones plus those still to retry, which stay on the list), or -ENOMEM as
    soon as the allocator has no page left.  The task runs with PF_SWAPWRITE meanwhile.
    ``reason`` (MR_*) is for the tracepoint only."""
    task = mem.cfg[CFG_CURRENT]
    swapwrite = mem.owners[task, OW_FLAGS] & PF_SWAPWRITE
    if swapwrite == 0:
        mem.owners[task, OW_FLAGS] |= PF_SWAPWRITE
    retry = 1
    nr_failed = 0
    nr_succeeded = 0
    rc = 0
    out_of_pages = False
    for npass in range(10):
        if retry == 0:
            break
        retry = 0
        page = np.int64(list_first_entry(mem, from_head))
        while page != from_head:
            page2 = np.int64(mem.lru_next[page])          # list_for_each_entry_safe
            rc = unmap_and_move(mem, page, npass > 2, mode)
            if rc == -ENOMEM:
                out_of_pages = True
                break
            if rc == -EAGAIN:
                retry += 1
            elif rc == MIGRATEPAGE_SUCCESS:
                nr_succeeded += 1
            else:
                nr_failed += 1                            # permanent failure
            page = page2
        if out_of_pages:
            break
    if not out_of_pages:
        rc = nr_failed + retry
    if nr_succeeded:
        count_vm_events(mem, EV_PGMIGRATE_SUCCESS, nr_succeeded)
    if nr_failed:
        count_vm_events(mem, EV_PGMIGRATE_FAIL, nr_failed)
    # trace_mm_migrate_pages(nr_succeeded, nr_failed, mode, reason): tracing issue
    if swapwrite == 0:
        mem.owners[task, OW_FLAGS] &= ~np.int64(PF_SWAPWRITE)
    return rc


from kmemsim.mm.compaction import compaction_alloc  # noqa: E402  (compaction calls migration)
