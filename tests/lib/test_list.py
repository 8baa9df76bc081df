"""include/linux/list.h over index arrays: LIFO at the head, tail insertion, removal."""

import numpy as np
import pytest

from kmemsim import jit
from kmemsim.mm.mmzone import Mem


def make_mem(n_entries=8, n_heads=1):
    links = n_entries + n_heads
    z = np.zeros(1, dtype=np.int64)
    mem = Mem(cfg=np.zeros(16, np.int64), flags=np.zeros(n_entries, np.uint32),
              private=np.zeros(n_entries, np.uint8), index=np.zeros(n_entries, np.int8),
              count=np.zeros(n_entries, np.int16),
              lru_next=np.full(links, -1, np.int32), lru_prev=np.full(links, -1, np.int32),
              pageblock_flags=np.zeros(1, np.uint8), zone_start_pfn=z, spanned_pages=z,
              present_pages=z, managed_pages=z, zone_pb_start=z, zone_pb_base=z,
              watermark=np.zeros((1, 3), np.int64), nr_free=np.zeros((1, 11), np.int64),
              vm_stat=np.zeros((1, 35), np.int64), fallbacks=np.zeros((6, 4), np.int8),
              gfp_zone_table=np.zeros(16, np.int8))
    return mem


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
