"""include/linux/list.h over index arrays: LIFO at the head, tail insertion, removal."""

import numpy as np
import pytest

from kmemsim import jit
import kmemsim


def make_mem(n_entries=8, n_heads=1):
    """A Mem whose link arrays hold ``n_entries`` entries and ``n_heads`` heads (the other
    arrays come from a booted tiny machine and are not used)."""
    mem = kmemsim.boot("tiny", stop_after="free_area_init_nodes").mem
    links = n_entries + n_heads
    return mem._replace(lru_next=np.full(links, -1, np.int32),
                        lru_prev=np.full(links, -1, np.int32))


def walk(mem, head):
    out, e = [], int(mem.lru_next[head])
    while e != head:
        out.append(e)
        e = int(mem.lru_next[e])
    back, e = [], int(mem.lru_prev[head])
    while e != head:
        back.append(e)
        e = int(mem.lru_prev[e])
    assert back == out[::-1], "prev links disagree with next links"
    return out


@pytest.mark.parametrize("mode", ["python", "compiled"])
def test_list_discipline(mode):
    fn = jit.functions(mode)
    mem = make_mem()
    head = 8
    fn.INIT_LIST_HEAD(mem, head)
    assert fn.list_empty(mem, head)
    for e in (1, 2, 3):
        fn.list_add(mem, e, head)           # LIFO: the last added is first
    assert walk(mem, head) == [3, 2, 1]
    fn.list_add_tail(mem, 4, head)
    assert walk(mem, head) == [3, 2, 1, 4]
    fn.list_del(mem, 2)
    assert walk(mem, head) == [3, 1, 4]
    assert mem.lru_next[2] == -1 and mem.lru_prev[2] == -1
    fn.list_move_tail(mem, 3, head)
    assert walk(mem, head) == [1, 4, 3]
    fn.list_move(mem, 3, head)
    assert walk(mem, head) == [3, 1, 4]
    assert fn.list_first_entry(mem, head) == 3 and fn.list_last_entry(mem, head) == 4
    for e in (3, 1, 4):
        fn.list_del(mem, e)
    assert fn.list_empty(mem, head)
