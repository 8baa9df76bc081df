"""Replaying a kernel's page trace through the model: compiled loops over trace operations.

Not kernel functions: drivers (like kmemsim.sim.batch) that feed the kernel functions the
requests a real kernel's trace recorded.  kmemsim.trace.replay turns a trace into rows of
``ops`` (columns OP_*) and reads the results; the loops here run a chunk of rows in one call.

Two ways to replay:

* :func:`replay_ops` re-issues each allocation (order, gfp, CPU) through alloc_pages_node and
  each free through __free_pages / free_hot_cold_page, the model choosing every block itself;
  the trace's pfns only say which allocation a free returns.
* :func:`follow_ops` keeps the model in step with the kernel.  For each block the kernel took,
  it first asks the model which block it would take (its prediction, recorded), then makes the
  model take the kernel's block instead (:func:`take_free_block`), so one miss does not derail
  the rest.  Predictions are made where the kernel made its choice: the per-CPU list's head
  for a list hit, the first __rmqueue of a refill, __rmqueue for a higher order.
"""

import numpy as np

from kmemsim.jit import kernel
from kmemsim.lib.list import list_add, list_add_tail, list_del, list_empty, list_first_entry, \
    list_last_entry
from kmemsim.mm.gfp import __GFP_COLD, __GFP_COMP
from kmemsim.mm.mmzone import CFG_CPU, CFG_EV_PGALLOC, CFG_MAX_NR_ZONES, MAX_ORDER, \
    NR_ALLOC_BATCH, NR_FREE_PAGES, PCP_COUNT, free_list, page_zone_id, pcp_list, MIGRATE_PCPTYPES
from kmemsim.mm.page_alloc import FLAGS_NOT_RESERVED, __free_one_page, __free_pages, __rmqueue, \
    get_freepage_migratetype, set_pageblock_migratetype, \
    get_pageblock_migratetype, page_order, prep_new_page, put_page_testzero, rmv_page_order, \
    set_freepage_migratetype, set_page_order, split_page
from kmemsim.mm.page_alloc_fastpath import alloc_pages_node
from kmemsim.mm.page_alloc_pcp import free_hot_cold_page, gfp_thisnode_allocation
from kmemsim.mm.page_flags import PageBuddy, PageReserved
from kmemsim.mm.vmstat import __count_zone_vm_events, __mod_zone_freepage_state, \
    __mod_zone_page_state
from kmemsim.sim.sched import schedule_kthreads
from kmemsim.trace.events import trace_mm_page_free_batched

__all__ = ["replay_ops", "follow_ops", "take_free_block", "OP_NAMES"]

# columns of an ops row
OP_KIND = 0
OP_CPU = 1
OP_PFN = 2          # the trace's pfn
OP_ORDER = 3
OP_GFP = 4
OP_MT = 5
OP_SLOT = 6         # replay: the row of the allocation a free returns (-1: before the trace)
OP_OFF = 7          # replay: the freed pfn's offset in that allocation; zone_locked: the
                    # migratetype the allocation asked for (the event may print RESERVE)
OP_ARG = 8          # free: 0 plain, 1 batched hot, 2 batched cold; zone_locked: 1 refill
NR_OP_COLS = 9
# kinds
K_ALLOC = 0         # mm_page_alloc with a page
K_ALLOC_FAILED = 1  # mm_page_alloc with page=(null)
K_FREE = 2          # mm_page_free (with its mm_page_free_batched folded in)
K_ZONE_LOCKED = 3   # mm_page_alloc_zone_locked
K_EXTFRAG = 4       # mm_page_alloc_extfrag
K_DRAIN = 5         # mm_page_pcpu_drain
OP_NAMES = ("alloc", "alloc_failed", "free", "zone_locked", "extfrag", "pcpu_drain")

# replay results: rows of ``res`` (int64[n]): the model's pfn for each alloc row (-1 failed)
# follow statistics: stats[path, S_*]
PATH_PCP = 0        # order 0 from the per-CPU list, no refill
PATH_REFILL = 1     # order 0 after rmqueue_bulk refilled the list
PATH_HIGH = 2       # order > 0 from __rmqueue
PATH_FALLBACK = 3   # an allocation whose block came from __rmqueue_fallback
PATH_REFILL_PAGE = 4  # each page a refill put on the list (not an allocation)
NR_PATHS = 5
S_EVENTS = 0
S_MATCH = 1
S_NOT_FREE = 2      # the kernel's block was not free in the model (the model's choice stands in)
S_NO_PREDICTION = 3  # the model would have failed (no block)
NR_S = 4
# follow counters: misc[M_*]
M_FREES = 0
M_FREES_SKIPPED = 1     # frees of pages the model did not get from the trace
M_DRAINS = 2
M_FREES_ADOPTED = 3     # ... of pages from before the trace the model could give back too
M_RETYPED = 4           # pageblocks whose migratetype the model learnt from the trace
M_GHOSTS = 5            # blocks the model judged allocated in the kernel (see follow_zone_locked)
NR_M = 6
GHOST_MISSES = 3                # offered this often in a row and never taken: a ghost


@kernel
def replay_ops(mem, ops, first, last, res, owned):
    """Re-issue rows ``first`` .. ``last - 1`` of ``ops`` through the model; ``res[i]`` gets
    the model's pfn for an allocation row (-1 when it failed); ``owned[pfn]`` is the order of
    each block the replay holds (-1: none).  The scheduler runs after each
    operation, as after each of kmemsim's own.  Returns the chunk's failed allocations and
    the frees it skipped because the model no longer held the page."""
    failures = 0
    unheld = 0
    for i in range(first, last):
        kind = ops[i, OP_KIND]
        if kind != K_ALLOC and kind != K_ALLOC_FAILED and kind != K_FREE:
            continue
        mem.cfg[CFG_CPU] = ops[i, OP_CPU]
        if kind == K_FREE:
            slot = ops[i, OP_SLOT]
            if slot < 0 or res[slot] == -1:
                continue
            if not replay_free(mem, res[slot], ops[slot, OP_ORDER], ops[slot, OP_GFP],
                               ops[i, OP_OFF], ops[i, OP_ORDER], ops[i, OP_ARG], res, slot,
                               owned):
                unheld += 1
        else:
            page = alloc_pages_node(mem, -1, ops[i, OP_GFP], ops[i, OP_ORDER])
            res[i] = page
            if page < 0:
                failures += 1
            elif kind == K_ALLOC_FAILED:
                __free_pages(mem, page, ops[i, OP_ORDER])     # the kernel had nothing to keep
            else:
                owned[page] = ops[i, OP_ORDER]
        schedule_kthreads(mem)
    return failures, unheld


@kernel
def replay_free(mem, base, alloc_order, alloc_gfp, off, order, how, res, slot, owned):
    """Free ``order`` pages at ``base + off`` of a block of ``alloc_order``: a part of a
    non-compound block splits it first (split_page, as its owner did); ``how`` 1/2 frees
    through free_hot_cold_page_list hot/cold.  False (nothing done) when the model no longer
    holds that page (its own reclaim freed it, say)."""
    if order < alloc_order and (alloc_gfp & __GFP_COMP) == 0 and res[slot] >= 0:
        split_page(mem, base, alloc_order)
        for p in range(base, base + (np.int64(1) << alloc_order)):
            owned[p] = 0
        res[slot] = -2 - base               # split: frees of its parts go on
    if res[slot] < -1:
        base = -2 - res[slot]
    page = base + off
    if mem.count[page] <= 0 or PageBuddy(mem, page):
        return False
    owned[page] = -1
    if how == 0 or order != 0:
        __free_pages(mem, page, order)
    elif put_page_testzero(mem, page):
        trace_mm_page_free_batched(mem, page, how - 1)
        free_hot_cold_page(mem, page, how - 1)
    return True


# ---- following the kernel ------------------------------------------------------------------
@kernel
def take_free_block(mem, zone, pfn, order, at_tail):
    """Take the free 2^order block at ``pfn`` out of the buddy lists of ``zone``, wherever
    it lies inside a larger free block: that block is split around it, the other parts going
    to the heads of their lists as expand() puts them or, ``at_tail``, to the tails (the
    kernel had the block free on its own, and the neighbours the model has free are not the
    next the kernel would use).  The caller accounts NR_FREE_PAGES.  Returns False when the
    block is not free in the model."""
    for o in range(order, MAX_ORDER):
        head = pfn & ~((np.int64(1) << o) - 1)
        if PageBuddy(mem, head) and page_order(mem, head) >= order and \
                head + (np.int64(1) << page_order(mem, head)) > pfn:
            found = page_order(mem, head)
            mt = get_pageblock_migratetype(mem, head)
            list_del(mem, head)
            rmv_page_order(mem, head)
            mem.nr_free[zone, found] -= 1
            size = np.int64(1) << found
            lo = head
            while found > order:            # halve; keep the half holding pfn
                found -= 1
                size >>= 1
                other = lo + size if pfn < lo + size else lo
                if pfn >= lo + size:
                    lo += size
                if at_tail:
                    list_add_tail(mem, other, free_list(mem, zone, found, mt))
                else:
                    list_add(mem, other, free_list(mem, zone, found, mt))
                mem.nr_free[zone, found] += 1
                set_page_order(mem, other, found)
            return True
    return False


@kernel
def take_pcp_page(mem, zone, pfn):
    """Take ``pfn`` off whichever CPU's list of ``zone`` holds it; False if none does."""
    for cpu in range(mem.pcp.shape[0]):
        for mt in range(MIGRATE_PCPTYPES):
            head = pcp_list(mem, cpu, zone, mt)
            p = mem.lru_next[head]
            n = 0
            while p != head and n <= mem.pcp[cpu, zone, PCP_COUNT]:
                n += 1
                if p == pfn:
                    list_del(mem, pfn)
                    mem.pcp[cpu, zone, PCP_COUNT] -= 1
                    return True
                p = mem.lru_next[p]
    return False


@kernel
def follow_ops(mem, ops, first, last, state, stats, misc, owned, alias, pred, missed):
    """Keep the model in step with rows ``first`` .. ``last - 1`` (see the module docstring).

    ``state[cpu, :]``: (in a refill, its path, the prediction for the allocation, the refill
    cursor, the refill's zone, fallback seen); ``owned[pfn]``: the order of a block the trace
    allocated and the model holds (-1 none); ``alias[pfn]``: the model's stand-in for a
    kernel block that was not free in the model (-1 none); ``pred[i]``: the model's
    prediction for an alloc or zone_locked row (-1: none) and its path (PATH_*);
    ``missed[pfn]``: how often in a row the model offered that block and the kernel took
    another (see undo_rmqueue)."""
    for i in range(first, last):
        kind = ops[i, OP_KIND]
        cpu = ops[i, OP_CPU]
        mem.cfg[CFG_CPU] = cpu
        if kind == K_EXTFRAG:
            state[cpu, 5] = 1
        elif kind == K_ZONE_LOCKED:
            pred[i, 0] = follow_zone_locked(mem, ops, i, state, stats, misc, alias, missed,
                                            owned)
            pred[i, 1] = PATH_REFILL_PAGE if ops[i, OP_ARG] else PATH_HIGH
        elif kind == K_ALLOC:
            pred[i, 0], pred[i, 1] = follow_alloc(mem, ops, i, state, stats, owned, alias)
        elif kind == K_ALLOC_FAILED:
            state[cpu, 0] = 0
            state[cpu, 5] = 0
        elif kind == K_FREE:
            follow_free(mem, ops, i, misc, owned, alias)
            schedule_kthreads(mem)
        elif kind == K_DRAIN:
            misc[M_DRAINS] += 1
            pfn = ops[i, OP_PFN]
            misc[M_RETYPED] += learn_pageblock_type(mem, alias[pfn] if alias[pfn] >= 0 else pfn,
                                                    ops[i, OP_MT])
            alias[pfn] = -1             # back on the kernel's buddy lists: a stand-in no more


@kernel
def learn_pageblock_type(mem, page, mt):
    """The trace shows ``page`` freed or taken as migratetype ``mt`` (a per-CPU drain
    names the type its pageblock had when it was freed; a block __rmqueue_smallest took came
    off free_list[mt]): where the model's pageblock has another of the per-CPU types (the
    kernel stole it before the trace began, or the two histories differ), it takes the
    kernel's.  Returns 1 when it changed."""
    if mt >= MIGRATE_PCPTYPES:
        return 0
    old = get_pageblock_migratetype(mem, page)
    if old == mt or old >= MIGRATE_PCPTYPES:
        return 0
    set_pageblock_migratetype(mem, page, mt)
    return 1


@kernel
def undo_rmqueue(mem, zone, page, order, mt, demote):
    """Give back a block the model's __rmqueue just took instead of the kernel's: the halves
    expand() listed merge back (__free_one_page) and the block returns to the head of
    free_list[mt], where __rmqueue_smallest found it (the kernel's next choice is often this
    very block).  With ``demote`` (the model offered it twice in a row and the kernel took
    another each time) it goes to the tail instead: the kernel has it later in the list or
    not free at all (allocated before the trace began, where the model never saw it), and
    at the head it would hide the blocks the kernel does use."""
    __free_one_page(mem, page, zone, order, mt)
    for o in range(order, MAX_ORDER):
        head = page & ~((np.int64(1) << o) - 1)
        if PageBuddy(mem, head) and page_order(mem, head) == o:
            list_del(mem, head)
            if demote:
                list_add_tail(mem, head, free_list(mem, zone, o, mt))
            else:
                list_add(mem, head, free_list(mem, zone, o, mt))
            return


@kernel
def flush_pcp_list(mem, cpu, zone, head):
    """Give every page of a per-CPU list back to the buddy lists (the kernel's list was
    empty: it refilled it; pages the model still had there are the model's drift)."""
    while not list_empty(mem, head):
        page = list_first_entry(mem, head)
        list_del(mem, page)
        mem.pcp[cpu, zone, PCP_COUNT] -= 1
        mt = get_freepage_migratetype(mem, page)
        __free_one_page(mem, page, zone, 0, mt)
        __mod_zone_freepage_state(mem, zone, 1, mt)


@kernel
def follow_zone_locked(mem, ops, i, state, stats, misc, alias, missed, owned):
    """The kernel's __rmqueue took block P: predict with the model's __rmqueue, then make the
    model hold P (undoing its own choice) and, for a refill, put P on the CPU's list after
    the previous page of the same refill, as rmqueue_bulk does."""
    cpu = ops[i, OP_CPU]
    pfn = ops[i, OP_PFN]
    order = ops[i, OP_ORDER]
    shown = ops[i, OP_MT]                 # the list the block came off (RESERVE: the retry)
    mt = ops[i, OP_OFF]                   # the migratetype asked for
    refill = ops[i, OP_ARG]
    zone = page_zone_id(mem, pfn)
    cold = (ops[i, OP_GFP] & __GFP_COLD) != 0
    head = pcp_list(mem, cpu, zone, mt)
    first_of_refill = refill != 0 and state[cpu, 0] == 0
    if first_of_refill:
        state[cpu, 0] = 1
        state[cpu, 3] = head
        state[cpu, 4] = zone
    listed = -1
    if first_of_refill and not list_empty(mem, head):      # the model would not refill
        listed = list_last_entry(mem, head) if cold else list_first_entry(mem, head)
        flush_pcp_list(mem, cpu, zone, head)               # the kernel's list was empty
    model = __rmqueue(mem, zone, order, mt)
    if state[cpu, 5] == 0 and shown == mt:                 # from free_list[mt] itself
        misc[M_RETYPED] += learn_pageblock_type(mem, pfn, mt)
    if refill == 0 or first_of_refill:
        state[cpu, 2] = listed if listed >= 0 else model
    if refill:
        stats[PATH_REFILL_PAGE, S_EVENTS] += 1
        if model == pfn:
            stats[PATH_REFILL_PAGE, S_MATCH] += 1
    took = pfn
    alias[pfn] = -1
    if model >= 0 and model == pfn:
        missed[model] = 0
    if model != pfn:
        if model >= 0:
            missed[model] += 1
            if missed[model] >= GHOST_MISSES:
                # the kernel keeps choosing other blocks over this one: it is not free there
                # (allocated before the trace); the model holds it from now on
                __mod_zone_freepage_state(mem, zone, -(np.int64(1) << order),
                                          get_pageblock_migratetype(mem, model))
                prep_new_page(mem, model, order, 0)
                owned[model] = order
                misc[M_GHOSTS] += 1
            else:
                undo_rmqueue(mem, zone, model, order,
                             mt if state[cpu, 5] == 0 else get_pageblock_migratetype(mem, model),
                             missed[model] > 1)
        if not take_free_block(mem, zone, pfn, order, False):
            if model >= 0 and take_free_block(mem, zone, model, order, False):
                alias[pfn] = model
                took = model
            else:
                took = -1
    if took < 0:
        return model
    if refill:
        cursor = state[cpu, 3]
        if cursor != head and not (mem.lru_next[cursor] >= 0 and mem.count[cursor] == 0
                                   and not PageBuddy(mem, cursor)):
            cursor = head                   # the previous page left the list meanwhile
        if cold:
            list_add_tail(mem, took, cursor)
        else:
            list_add(mem, took, cursor)
        state[cpu, 3] = took
        set_freepage_migratetype(mem, took, mt)
        mem.pcp[cpu, zone, PCP_COUNT] += 1
        __mod_zone_page_state(mem, zone, NR_FREE_PAGES, -1)
    else:
        __mod_zone_freepage_state(mem, zone, -(np.int64(1) << order),
                                  get_pageblock_migratetype(mem, took))
    return model


@kernel
def follow_alloc(mem, ops, i, state, stats, owned, alias):
    """The kernel handed out block P: score the model's prediction by path, then take P
    (off a per-CPU list for order 0) and do buffered_rmqueue's accounting."""
    cpu = ops[i, OP_CPU]
    pfn = ops[i, OP_PFN]
    order = ops[i, OP_ORDER]
    gfp = ops[i, OP_GFP]
    mt = ops[i, OP_MT]
    page = alias[pfn] if alias[pfn] >= 0 else pfn
    zone = page_zone_id(mem, page)
    if order == 0 and state[cpu, 0] == 0:
        path = PATH_PCP
        head = pcp_list(mem, cpu, zone, mt)
        predicted = np.int64(-1)
        if not list_empty(mem, head):
            predicted = list_last_entry(mem, head) if (gfp & __GFP_COLD) else \
                list_first_entry(mem, head)
    else:
        path = PATH_REFILL if order == 0 else PATH_HIGH
        predicted = state[cpu, 2]
    if state[cpu, 5]:
        path = PATH_FALLBACK
    stats[path, S_EVENTS] += 1
    if predicted == pfn:
        stats[path, S_MATCH] += 1
    elif predicted < 0:
        stats[path, S_NO_PREDICTION] += 1
    state[cpu, 0] = 0
    state[cpu, 5] = 0
    state[cpu, 2] = -1
    if owned[page] >= 0:                                # the model already holds it
        stats[path, S_NOT_FREE] += 1
        return predicted, path
    if order == 0:
        if not take_pcp_page(mem, zone, page):
            if take_free_block(mem, zone, page, 0, True):
                __mod_zone_page_state(mem, zone, NR_FREE_PAGES, -1)
            else:
                stats[path, S_NOT_FREE] += 1
                return predicted, path
    elif take_free_block(mem, zone, page, order, True):       # no zone_locked event took it
        __mod_zone_freepage_state(mem, zone, -(np.int64(1) << order),
                                  get_pageblock_migratetype(mem, page))
    elif mem.lru_next[page] != -1 or mem.count[page] != 0 or PageBuddy(mem, page):
        stats[path, S_NOT_FREE] += 1                    # listed or held: not the model's to give
        return predicted, path
    if not gfp_thisnode_allocation(mem, gfp):
        __mod_zone_page_state(mem, zone, NR_ALLOC_BATCH, -(np.int64(1) << order))
    __count_zone_vm_events(mem, mem.cfg[CFG_EV_PGALLOC], zone, np.int64(1) << order)
    prep_new_page(mem, page, order, gfp)
    owned[page] = order
    return predicted, path


@kernel
def adopt_page(mem, page, order):
    """A page the kernel allocated before the trace began is freed in the trace: make the
    model hold it too, so the free that follows lands where the kernel's did.  A page still
    reserved in the model becomes a page of the zone (free_reserved_page()'s
    ClearPageReserved and managed count; the kernel frees the initrd and init sections
    during the trace, kmemsim's boot already did); a page free in the model is taken off its
    buddy or per-CPU list.  False for a page the model itself has allocated."""
    zone = page_zone_id(mem, page)
    if order == 0 and PageReserved(mem, page):
        mem.flags[page] &= FLAGS_NOT_RESERVED
        mem.managed_pages[zone] += 1
    elif take_free_block(mem, zone, page, order, True):
        __mod_zone_freepage_state(mem, zone, -(np.int64(1) << order),
                                  get_pageblock_migratetype(mem, page))
    elif not (order == 0 and take_pcp_page(mem, zone, page)):
        return False
    mem.count[page] = 1
    return True


@kernel
def follow_free(mem, ops, i, misc, owned, alias):
    """The kernel freed P: the model frees its page for P if the trace gave it that page
    (a part of a non-compound block splits it first); other frees are counted."""
    pfn = ops[i, OP_PFN]
    order = ops[i, OP_ORDER]
    page = alias[pfn] if alias[pfn] >= 0 else pfn
    if owned[page] < 0:
        found = False
        for o in range(1, MAX_ORDER):
            h = page & ~((np.int64(1) << o) - 1)
            if owned[h] >= o:
                split_page(mem, h, owned[h])
                for p in range(h, h + (np.int64(1) << owned[h])):
                    owned[p] = 0
                found = True
                break
        if not found:
            if not adopt_page(mem, page, order):
                misc[M_FREES_SKIPPED] += 1
                return
            misc[M_FREES_ADOPTED] += 1
            owned[page] = order
    alias[pfn] = -1
    held = owned[page]
    if held > order:                    # part of a block the model holds whole: split it
        split_page(mem, page, held)
        for p in range(page, page + (np.int64(1) << held)):
            owned[p] = 0
        for p in range(page + 1, page + (np.int64(1) << order)):
            mem.count[p] = 0
            owned[p] = -1
        owned[page] = order
    end = page + (np.int64(1) << order)
    p = page
    while p < end:                      # the blocks the model holds within the kernel's
        o = owned[p]
        if o < 0:
            p += 1
            continue
        owned[p] = -1
        if mem.count[p] <= 0 or PageBuddy(mem, p):
            misc[M_FREES_SKIPPED] += 1
        else:
            misc[M_FREES] += 1
            follow_free_block(mem, p, o, ops[i, OP_ARG])
        p += np.int64(1) << o


@kernel
def follow_free_block(mem, page, order, how):
    """Free one block as the kernel's free did: __free_pages, or free_hot_cold_page_list's
    hot (``how`` 1) or cold (2) free of a single page."""
    if how == 0 or order != 0:
        __free_pages(mem, page, order)
    elif put_page_testzero(mem, page):
        trace_mm_page_free_batched(mem, page, how - 1)
        free_hot_cold_page(mem, page, how - 1)
