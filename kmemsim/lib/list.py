"""Circular doubly linked lists with sentinel heads, over index arrays.

Kernel: include/linux/list.h (v3.13).  An entry is an index into ``mem.lru_next`` /
``mem.lru_prev``: a pfn for a page's ``page->lru``, or an index past the last pfn for a list
head.  An empty list's head points at itself, as INIT_LIST_HEAD leaves it.
"""

from kmemsim.jit import kernel

__all__ = ["INIT_LIST_HEAD", "list_add", "list_add_tail", "list_del", "list_move",
           "list_move_tail", "list_empty", "list_first_entry", "list_last_entry", "list_splice"]


@kernel
def INIT_LIST_HEAD(mem, head):
    """Kernel: include/linux/list.h INIT_LIST_HEAD()."""
    mem.lru_next[head] = head
    mem.lru_prev[head] = head


@kernel
def __list_add(mem, new, prev, next):
    """Kernel: include/linux/list.h __list_add(): link ``new`` between prev and next."""
    mem.lru_prev[next] = new
    mem.lru_next[new] = next
    mem.lru_prev[new] = prev
    mem.lru_next[prev] = new


@kernel
def list_add(mem, new, head):
    """Kernel: include/linux/list.h list_add(): insert right after ``head`` (LIFO)."""
    __list_add(mem, new, head, mem.lru_next[head])


@kernel
def list_add_tail(mem, new, head):
    """Kernel: include/linux/list.h list_add_tail(): insert right before ``head``."""
    __list_add(mem, new, mem.lru_prev[head], head)


@kernel
def list_del(mem, entry):
    """Kernel: include/linux/list.h list_del().  The kernel poisons the links; kmemsim sets
    them to -1 so a use after removal fails loudly."""
    prev = mem.lru_prev[entry]
    next = mem.lru_next[entry]
    mem.lru_prev[next] = prev
    mem.lru_next[prev] = next
    mem.lru_next[entry] = -1
    mem.lru_prev[entry] = -1


@kernel
def list_move(mem, entry, head):
    """Kernel: include/linux/list.h list_move(): delete, then add after ``head``."""
    prev = mem.lru_prev[entry]
    next = mem.lru_next[entry]
    mem.lru_prev[next] = prev
    mem.lru_next[prev] = next
    list_add(mem, entry, head)


@kernel
def list_move_tail(mem, entry, head):
    """Kernel: include/linux/list.h list_move_tail()."""
    prev = mem.lru_prev[entry]
    next = mem.lru_next[entry]
    mem.lru_prev[next] = prev
    mem.lru_next[prev] = next
    list_add_tail(mem, entry, head)


@kernel
def list_empty(mem, head):
    """Kernel: include/linux/list.h list_empty()."""
    return mem.lru_next[head] == head


@kernel
def list_first_entry(mem, head):
    """Kernel: include/linux/list.h list_first_entry(): the entry after ``head``."""
    return mem.lru_next[head]


@kernel
def list_last_entry(mem, head):
    """Kernel: include/linux/list.h list_last_entry(): the entry before ``head``."""
    return mem.lru_prev[head]


@kernel
def list_splice(mem, list_head, head):
    """Kernel: include/linux/list.h list_splice(): put the entries of ``list_head`` right
    after ``head`` (``list_head`` itself is left as it was, as the kernel leaves it)."""
    if list_empty(mem, list_head):
        return
    first = mem.lru_next[list_head]
    last = mem.lru_prev[list_head]
    at = mem.lru_next[head]
    mem.lru_prev[first] = head
    mem.lru_next[head] = first
    mem.lru_next[last] = at
    mem.lru_prev[at] = last
