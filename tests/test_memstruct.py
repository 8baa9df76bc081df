"""kmemsim.memstruct: the compiled mode's view of a Mem (one pointer, descriptors that own
nothing) must describe exactly the Mem's own arrays."""

import numpy as np
import pytest

import kmemsim
from kmemsim import memstruct
from kmemsim.mm.mmzone import Mem


@pytest.fixture(scope="module")
def tiny():
    return kmemsim.boot("tiny", mode="compiled")


def test_descriptors_point_at_the_mem_arrays(tiny):
    h = memstruct.as_struct(tiny.mem)
    words = h.block.tolist()
    pos = 0
    for name, arr in zip(Mem._fields, tiny.mem):
        nd = arr.ndim
        meminfo, parent, nitems, itemsize, data = words[pos:pos + 5]
        shape = words[pos + 5:pos + 5 + nd]
        strides = words[pos + 5 + nd:pos + 5 + 2 * nd]
        assert (meminfo, parent) == (0, 0), name
        assert (nitems, itemsize, data) == (arr.size, arr.itemsize, arr.ctypes.data), name
        assert (shape, strides) == (list(arr.shape), list(arr.strides)), name
        pos += 5 + 2 * nd
    assert pos == len(words)


def test_compiled_writes_land_in_the_numpy_arrays(tiny):
    """A compiled kernel function writing through the handle changes the Mem's arrays."""
    pfn = tiny.alloc(0, "GFP_KERNEL", "x").pfn
    before = int(tiny.mem.count[pfn])
    tiny.fn.put_page_testzero(tiny.mem, pfn)          # compiled: count -= 1
    assert int(tiny.mem.count[pfn]) == before - 1
    tiny.mem.count[pfn] = before                        # and the other way round
    tiny.free("x")
    tiny.check()


def test_one_handle_per_mem_and_a_small_cache(tiny):
    h = memstruct.as_struct(tiny.mem)
    assert memstruct.as_struct(tiny.mem) is h
    others = [kmemsim.boot("tiny", mode="python", stop_after="mem_init")
              for _ in range(memstruct._KEEP + 1)]
    for k in others:
        memstruct.as_struct(k.mem)
    assert len(memstruct._handles) == memstruct._KEEP
    assert id(tiny.mem) not in memstruct._handles
    h2 = memstruct.as_struct(tiny.mem)                 # rebuilt, same arrays
    assert h2 is not h and h2.block.tolist() == h.block.tolist()


def test_a_non_contiguous_array_is_refused(tiny):
    bad = tiny.mem._replace(flags=tiny.mem.flags[::2])
    with pytest.raises(TypeError, match="Mem.flags must be a writeable C-contiguous"):
        memstruct.MemHandle(bad)
