"""/proc/slabinfo (version 2.1): gold files after boot and after a workload, and the real
3.13.11 file's layout."""

import re

import pytest

import kmemsim
from conftest import real_file
from test_reports import check_gold

from kmemsim.script import run_script

WORKLOAD = """\
kmem_cache_create inode_like size=600 flags=SLAB_HWCACHE_ALIGN|SLAB_RECLAIM_ACCOUNT
kmem_cache_create foo size=100 flags=SLAB_HWCACHE_ALIGN
kmem_cache_alloc i0 inode_like GFP_KERNEL
kmem_cache_alloc i1 inode_like GFP_KERNEL
kmem_cache_alloc f0 foo GFP_KERNEL
kmalloc a 64 GFP_KERNEL
kmalloc b 100 GFP_KERNEL cpu=1
kmalloc c 3000 GFP_KERNEL
kmalloc d 20000 GFP_KERNEL
kfree a
kmem_cache_free i0
"""


@pytest.mark.parametrize("case,kw", [("tiny", dict(machine="tiny")),
                                     ("x86_64-1G", dict(machine="x86_64", mem="1G")),
                                     ("arndale", dict(machine="arndale"))])
def test_slabinfo_after_boot(case, kw):
    check_gold(f"{case}.slabinfo", kmemsim.boot(**kw).show("slabinfo"))


def test_slabinfo_after_a_workload(mode):
    k = kmemsim.boot("x86_64", mem="1G", cpus=2, mode=mode)
    out = run_script(k, WORKLOAD + "check\n")
    assert out.splitlines()[:2] == ["inode_like: size=640 objperslab=12 pagesperslab=2",
                                    "foo: alias of kmalloc-128"]
    text = k.show("slabinfo")
    check_gold("x86_64-1G-2cpu-workload.slabinfo", text)
    # objects free on cpu slabs count as active: inode_like shows 12 of 12 although one is in use
    assert re.search(r"^inode_like +12 +12 +640 +12 +2 ", text, re.M)


def test_layout_matches_real_313():
    real = real_file("1G", "slabinfo").splitlines()
    ours = kmemsim.boot("x86_64", mem="1G").show("slabinfo").splitlines()
    assert ours[:2] == real[:2]
    fmt = re.compile(r"^(\S+) +\d+ +\d+ +\d+ +\d+ +\d+ : tunables +0 +0 +0 : slabdata +\d+ +\d+ +0$")
    for line in ours[2:] + real[2:]:
        assert fmt.match(line), line
    # the columns line up as %-17s %6lu %6lu %6u %4u %4d does it
    want = {line.split()[0]: line for line in real[2:]}
    for line in ours[2:]:
        name = line.split()[0]
        assert len(line) == len(want[name]) or len(name) > 17
