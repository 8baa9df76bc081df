"""kmemsim.jit's namespace of kernel functions (k.fn): two kernel files' static functions
of one name stay apart."""

import pytest

import kmemsim
from kmemsim.errors import KmemsimError


def test_a_name_of_two_kernel_files_is_reached_through_its_module(mode):
    k = kmemsim.boot("tiny", mode=mode)
    with pytest.raises(KmemsimError, match=r'too_many_isolated is a function of \w+ and \w+: '
                                           r'call fn.modules\["'):
        k.fn.too_many_isolated(k.mem, 0)
    # nothing isolated: neither says too many
    assert not k.fn.modules["compaction"].too_many_isolated(k.mem, 0)
    assert k.fn.modules["vmscan"].too_many_isolated.__name__ == "too_many_isolated"
    assert k.fn.modules["page_alloc"].__rmqueue is k.fn.__rmqueue
