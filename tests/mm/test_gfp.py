"""GFP flags: values, parser, the 3.13 trace printer, zone and migratetype selection."""

from __future__ import annotations

import lzma
import re
from pathlib import Path

import numba
import numpy as np
import pytest

from kmemsim.errors import KmemsimError
from kmemsim.mm import gfp
from kmemsim.mm.gfp import (
    ALLOC_CMA, ALLOC_CPUSET, ALLOC_HARDER, ALLOC_HIGH, ALLOC_NO_WATERMARKS, ALLOC_WMARK_MIN,
    GFP_ATOMIC, GFP_HIGHUSER_MOVABLE, GFP_KERNEL, GFP_NAMES, GFP_NOWAIT, GFP_TRACE_FLAGS,
    allocflags_to_migratetype, build_gfp_zone_table, format_alloc_flags, format_gfp,
    gfp_pfmemalloc_allowed, gfp_to_alloc_flags, gfp_zone, gfp_zone_name, parse_gfp,
    show_gfp_flags,
)
from kmemsim.mm.mmzone import (
    CFG_MOBILITY_DISABLED, MIGRATE_MOVABLE, MIGRATE_RECLAIMABLE, MIGRATE_RESERVE,
    MIGRATE_UNMOVABLE, NR_CFG, Mem,
)

REAL = Path("/work/shared/reference/real-3.13")

X86_64 = {"DMA": 0, "DMA32": 1, "Normal": 2, "Movable": 3}
ARNDALE = {"Normal": 0, "HighMem": 1, "Movable": 2}


# ---- values (facts sheet 1.1, 1.2, 1.5) ---------------------------------------------------------

RAW_BITS = {
    "DMA": 0x01, "HIGHMEM": 0x02, "DMA32": 0x04, "MOVABLE": 0x08, "WAIT": 0x10, "HIGH": 0x20,
    "IO": 0x40, "FS": 0x80, "COLD": 0x100, "NOWARN": 0x200, "REPEAT": 0x400, "NOFAIL": 0x800,
    "NORETRY": 0x1000, "MEMALLOC": 0x2000, "COMP": 0x4000, "ZERO": 0x8000,
    "NOMEMALLOC": 0x10000, "HARDWALL": 0x20000, "THISNODE": 0x40000, "RECLAIMABLE": 0x80000,
    "KMEMCG": 0x100000, "NOTRACK": 0x200000, "NO_KSWAPD": 0x400000, "OTHER_NODE": 0x800000,
    "WRITE": 0x1000000,
}

COMPOSITES = {
    "GFP_ATOMIC": 0x20, "GFP_NOWAIT": 0x0, "GFP_NOIO": 0x10, "GFP_NOFS": 0x50,
    "GFP_KERNEL": 0xd0, "GFP_TEMPORARY": 0x800d0, "GFP_USER": 0x200d0, "GFP_HIGHUSER": 0x200d2,
    "GFP_HIGHUSER_MOVABLE": 0x200da, "GFP_IOFS": 0xc0, "GFP_TRANSHUGE": 0x4352da,
    "GFP_THISNODE_NUMA": 0x41200, "GFP_THISNODE_NO_NUMA": 0x0, "GFP_MOVABLE_MASK": 0x80008,
    "GFP_RECLAIM_MASK": 0x13ef0, "GFP_BOOT_MASK": 0x1ffff2f, "GFP_CONSTRAINT_MASK": 0x60000,
    "GFP_SLAB_BUG_MASK": 0xfe000006, "GFP_DMA": 0x01, "GFP_DMA32": 0x04, "GFP_ZONEMASK": 0x0f,
}


@pytest.mark.parametrize("suffix,value", RAW_BITS.items())
def test_raw_bits_and_flags(suffix, value):
    assert getattr(gfp, "___GFP_" + suffix) == value
    assert getattr(gfp, "__GFP_" + suffix) == value
    for name in ("___GFP_" + suffix, "__GFP_" + suffix, "GFP_" + suffix):
        assert GFP_NAMES[name] == value
        assert name in gfp.__all__ or name == "GFP_" + suffix


@pytest.mark.parametrize("name,value", COMPOSITES.items())
def test_composites(name, value):
    assert getattr(gfp, name) == value
    assert name in gfp.__all__


def test_bits_mask_and_alloc_flags():
    assert gfp.__GFP_BITS_SHIFT == 25
    assert gfp.__GFP_BITS_MASK == 0x1ffffff
    assert gfp.__GFP_NOTRACK_FALSE_POSITIVE == 0x200000
    assert gfp.GFP_ZONE_BAD == 0xe8e8
    assert (gfp.ALLOC_WMARK_MIN, gfp.ALLOC_WMARK_LOW, gfp.ALLOC_WMARK_HIGH) == (0, 1, 2)
    assert gfp.ALLOC_NO_WATERMARKS == 0x04 and gfp.ALLOC_WMARK_MASK == 0x03
    assert (ALLOC_HARDER, ALLOC_HIGH, ALLOC_CPUSET, ALLOC_CMA) == (0x10, 0x20, 0x40, 0x80)
    assert not hasattr(gfp, "ALLOC_FAIR")          # 3.14 only
    assert ALLOC_HIGH == gfp.__GFP_HIGH


def test_all_names_exist():
    for name in gfp.__all__:
        assert hasattr(gfp, name), name


def test_names_table():
    # GFP_THISNODE is the trace spelling of the single bit, not the kernel's composite macro
    assert GFP_NAMES["GFP_THISNODE"] == 0x40000
    assert GFP_NAMES["GFP_WAIT"] == GFP_NAMES["__GFP_WAIT"] == GFP_NAMES["___GFP_WAIT"] == 0x10
    assert "GFP_SLAB_BUG_MASK" not in GFP_NAMES
    for mask, name in GFP_TRACE_FLAGS:
        assert GFP_NAMES[name] == mask
    assert all(0 <= v <= gfp.__GFP_BITS_MASK for v in GFP_NAMES.values())


# ---- parse_gfp ----------------------------------------------------------------------------------

@pytest.mark.parametrize("text,value", [
    ("GFP_KERNEL", 0xd0),
    ("__GFP_WAIT|__GFP_IO", 0x50),
    ("__GFP_WAIT | __GFP_IO |  __GFP_FS", 0xd0),
    ("0x201200", 0x201200),
    ("0X201200", 0x201200),
    ("208", 208),
    ("GFP_KERNEL|0x4000", 0x40d0),
    ("GFP_NOWAIT", 0),
    ("0", 0),
    ("GFP_KERNEL|GFP_NOWARN|0x2", 0x2d2),
    ("  GFP_ATOMIC  ", 0x20),
    ("___GFP_WRITE", 0x1000000),
    ("0x1ffffff", 0x1ffffff),
    ("GFP_TRANSHUGE", 0x4352da),
    (0xd0, 0xd0),
])
def test_parse_good(text, value):
    assert parse_gfp(text) == value


def test_parse_error_texts():
    with pytest.raises(KmemsimError) as e:
        parse_gfp("GFP_KERNL|__GFP_COMP")
    assert str(e.value) == ("unknown GFP flag 'GFP_KERNL' in 'GFP_KERNL|__GFP_COMP': did you "
                            "mean GFP_KERNEL? (see 'kmemsim gfp --list')")
    with pytest.raises(KmemsimError) as e:
        parse_gfp("GFP_KERNEL||__GFP_ZERO")
    assert str(e.value) == ("empty GFP flag in 'GFP_KERNEL||__GFP_ZERO': put one name or number "
                            "between each pair of '|' (see 'kmemsim gfp --list')")
    with pytest.raises(KmemsimError) as e:
        parse_gfp("GFP_KERNEL|0x2000000")
    assert str(e.value) == ("GFP value '0x2000000' in 'GFP_KERNEL|0x2000000' sets bits "
                            "0x2000000 above __GFP_BITS_MASK 0x1ffffff: 3.13 has only bits 0-24 "
                            "(see 'kmemsim gfp --list')")
    with pytest.raises(KmemsimError) as e:
        parse_gfp("-16")
    assert str(e.value) == ("negative GFP value '-16' in '-16': a GFP mask is a set of bits, "
                            "write e.g. 0xd0 or GFP_KERNEL (see 'kmemsim gfp --list')")


@pytest.mark.parametrize("text,fragment", [
    ("", "empty GFP mask"),
    ("   ", "empty GFP mask"),
    ("GFP_KERNEL|", "empty GFP flag"),
    ("|GFP_KERNEL", "empty GFP flag"),
    ("gfp_kernel", "did you mean GFP_KERNEL?"),
    ("xyzzy", "unknown GFP flag 'xyzzy'"),
    ("0xZZ", "bad number '0xZZ'"),
    ("12abc", "bad number '12abc'"),
    ("-0x10", "negative GFP value"),
    ("4294967295", "above __GFP_BITS_MASK"),
    ("GFP_SLAB_BUG_MASK", "unknown GFP flag"),
    (-1, "negative GFP value"),
    (1 << 25, "above __GFP_BITS_MASK"),
    (None, "is a NoneType"),
])
def test_parse_bad(text, fragment):
    with pytest.raises(KmemsimError) as e:
        parse_gfp(text)
    msg = str(e.value)
    assert fragment in msg
    assert "\n" not in msg


# ---- show_gfp_flags / format_gfp ----------------------------------------------------------------

@pytest.mark.parametrize("flags,text", [
    (0, "GFP_NOWAIT"),
    (0xd0, "GFP_KERNEL"),
    (0x200da, "GFP_HIGHUSER_MOVABLE"),
    (0x4352da, "GFP_TRANSHUGE"),
    (0x200d0, "GFP_USER"),
    (0x80, "0x80"),                                   # __GFP_FS alone has no entry
    (0x1000000, "0x1000000"),                         # nor has __GFP_WRITE
    (0x2d2, "GFP_KERNEL|GFP_NOWARN|0x2"),             # HIGHMEM left over, as in the real trace
    (0x201200, "GFP_NOWARN|GFP_NORETRY|GFP_NOTRACK"),
    (0x221200, "GFP_NOWARN|GFP_NORETRY|GFP_HARDWALL|GFP_NOTRACK"),
    (0x30, "GFP_ATOMIC|GFP_NOIO"),                    # ATOMIC is taken first, then NOIO (= WAIT)
    (0x41200, "GFP_NOWARN|GFP_NORETRY|GFP_THISNODE"),
    (0xd5, "GFP_KERNEL|0x5"),
    (0xffffff, "GFP_TRANSHUGE|GFP_ATOMIC|GFP_COLD|GFP_REPEAT|GFP_NOFAIL|GFP_ZERO|GFP_MEMALLOC|"
               "GFP_THISNODE|GFP_RECLAIMABLE|GFP_KMEMCG|GFP_NOTRACK|GFP_OTHER_NODE|0x5"),
])
def test_show_gfp_flags(flags, text):
    assert show_gfp_flags(flags) == text


@pytest.mark.parametrize("flags,text", [
    (0, "0x0 (GFP_NOWAIT)"),
    (0x201200, "0x201200 (GFP_NOWARN|GFP_NORETRY|GFP_NOTRACK)"),
    (0xd2, "0xd2 (GFP_KERNEL|__GFP_HIGHMEM)"),
    (0x1000085, "0x1000085 (__GFP_DMA|__GFP_DMA32|__GFP_FS|__GFP_WRITE)"),
    (0xd0, "0xd0 (GFP_KERNEL)"),
])
def test_format_gfp(flags, text):
    assert format_gfp(flags) == text


def test_format_gfp_parses_back():
    for flags in (0, 1, 0xd2, 0x1ffffff, 0x4352da, 0x1000085, 0x123456, 0x1abcdef):
        inside = format_gfp(flags).split(" (", 1)[1][:-1]
        assert parse_gfp(inside) == flags
        assert parse_gfp(show_gfp_flags(flags)) == flags


def test_format_alloc_flags():
    assert format_alloc_flags(0x30) == "ALLOC_WMARK_MIN|ALLOC_HARDER|ALLOC_HIGH"
    assert format_alloc_flags(0x41) == "ALLOC_WMARK_LOW|ALLOC_CPUSET"
    assert format_alloc_flags(0x84) == "ALLOC_WMARK_MIN|ALLOC_NO_WATERMARKS|ALLOC_CMA"


def test_trace_table_matches_real_format_file():
    """The table agrees with the print fmt a real 3.13.11 kernel exported for mm_page_alloc."""
    path = REAL / "trace-1G" / "tracefmt" / "mm_page_alloc"
    if not path.exists():
        pytest.skip("real 3.13 trace format file not available")
    fmt = path.read_text()
    entries = re.findall(r'\{\(unsigned long\)(.*?), "(\w+)"\}', fmt)
    table = []
    for expr, name in entries:
        value = 0
        for number in re.findall(r"0x[0-9a-f]+", expr):
            value |= int(number, 16)             # every entry is an OR of plain bits
        table.append((value, name))
    assert table == list(GFP_TRACE_FLAGS)
    assert ': "GFP_NOWAIT"' in fmt


def _real_trace_spellings() -> set[str]:
    found = set()
    for name in ("trace-1G-from-boot.txt.xz", "trace-128M-pressure.txt.xz"):
        path = REAL / name
        if path.exists():
            with lzma.open(path, "rt") as f:
                for line in f:
                    i = line.find("gfp_flags=")
                    if i >= 0:
                        found.add(line[i + 10:].split()[0])
    return found


def test_real_trace_round_trip():
    spellings = _real_trace_spellings()
    if not spellings:
        pytest.skip("real 3.13 traces not available")
    assert "GFP_KERNEL|GFP_NOWARN|0x2" in spellings
    assert len(spellings) >= 30
    for s in sorted(spellings):
        assert show_gfp_flags(parse_gfp(s)) == s


# ---- zones --------------------------------------------------------------------------------------

def test_build_gfp_zone_table():
    assert build_gfp_zone_table(X86_64).tolist() == [
        2, 0, 2, -1, 1, -1, -1, -1, 2, 0, 3, -1, 1, -1, -1, -1]
    assert build_gfp_zone_table(ARNDALE).tolist() == [
        0, 0, 1, -1, 0, -1, -1, -1, 0, 0, 2, -1, 0, -1, -1, -1]
    # i386: DMA, Normal, HighMem, Movable
    i386 = build_gfp_zone_table({"DMA": 0, "Normal": 1, "HighMem": 2, "Movable": 3})
    assert i386.tolist() == [1, 0, 2, -1, 1, -1, -1, -1, 1, 0, 3, -1, 1, -1, -1, -1]
    assert build_gfp_zone_table(X86_64).dtype == np.int8
    bad = [bits for bits in range(16) if gfp.GFP_ZONE_BAD >> bits & 1]
    assert bad == [3, 5, 6, 7, 11, 13, 14, 15]


@pytest.mark.parametrize("config,fragment", [
    ({"Normal": 0}, "lacks Movable"),
    ({"Movable": 0}, "lacks Normal"),
    ({"Highmem": 1, "Normal": 0, "Movable": 2}, "unknown zone 'Highmem'"),
])
def test_build_gfp_zone_table_bad(config, fragment):
    with pytest.raises(KmemsimError, match=fragment):
        build_gfp_zone_table(config)


def test_gfp_zone_name():
    assert gfp_zone_name(GFP_KERNEL, X86_64) == "Normal"
    assert gfp_zone_name(GFP_HIGHUSER_MOVABLE, X86_64) == "Movable"
    assert gfp_zone_name(GFP_KERNEL | gfp.__GFP_DMA32, X86_64) == "DMA32"
    assert gfp_zone_name(gfp.GFP_HIGHUSER, ARNDALE) == "HighMem"
    assert gfp_zone_name(gfp.GFP_HIGHUSER, X86_64) == "Normal"
    assert gfp_zone_name(GFP_KERNEL | gfp.__GFP_DMA, ARNDALE) == "Normal"
    with pytest.raises(KmemsimError, match="invalid combination"):
        gfp_zone_name(0x3, X86_64)


# ---- the kernel functions, in both modes --------------------------------------------------------

_DTYPES = {
    "cfg": np.int64, "flags": np.uint32, "private": np.uint8, "index": np.int8,
    "count": np.int16, "lru_next": np.int32, "lru_prev": np.int32, "pageblock_flags": np.uint8,
    "fallbacks": np.int8, "gfp_zone_table": np.int8,
}
_SHAPES = {"cfg": (NR_CFG,), "gfp_zone_table": (16,), "fallbacks": (6, 4),
           "watermark": (1, 3), "nr_free": (1, 11), "vm_stat": (1, 35)}


def tiny_mem(zone_index, mobility_disabled=False) -> Mem:
    fields = {name: np.zeros(_SHAPES.get(name, (1,)), dtype=_DTYPES.get(name, np.int64))
              for name in Mem._fields}
    fields["gfp_zone_table"] = build_gfp_zone_table(zone_index)
    fields["cfg"][CFG_MOBILITY_DISABLED] = int(mobility_disabled)
    return Mem(**fields)


@pytest.fixture(scope="module")
def compiled():
    return {"gfp_zone": numba.njit(gfp_zone),
            "allocflags_to_migratetype": numba.njit(allocflags_to_migratetype)}


MODES = ("python", "compiled")


def _fn(name, mode, compiled):
    return getattr(gfp, name) if mode == "python" else compiled[name]


X86_EXPECT = {0x0: 2, 0x1: 0, 0x2: 2, 0x4: 1, 0x8: 2, 0x9: 0, 0xa: 3, 0xc: 1}
ARNDALE_EXPECT = {0x0: 0, 0x1: 0, 0x2: 1, 0x4: 0, 0x8: 0, 0x9: 0, 0xa: 2, 0xc: 0}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("config,expect", [(X86_64, X86_EXPECT), (ARNDALE, ARNDALE_EXPECT)],
                         ids=["x86_64", "arndale"])
def test_gfp_zone(mode, config, expect, compiled):
    fn = _fn("gfp_zone", mode, compiled)
    mem = tiny_mem(config)
    for bits in range(16):
        want = expect.get(bits, -1)
        for high in (0, GFP_KERNEL, 0x1fffff0):        # the other bits never matter
            assert fn(mem, bits | high) == want, (bits, high)
        assert fn(mem, np.uint32(bits | GFP_KERNEL)) == want
        assert fn(mem, np.int64(bits)) == want
    got = fn(mem, GFP_HIGHUSER_MOVABLE)
    assert got == expect[0xa] and int(got) + 1 == expect[0xa] + 1


@pytest.mark.parametrize("mode", MODES)
def test_allocflags_to_migratetype(mode, compiled):
    fn = _fn("allocflags_to_migratetype", mode, compiled)
    on, off = tiny_mem(X86_64), tiny_mem(X86_64, mobility_disabled=True)
    cases = {
        GFP_KERNEL: MIGRATE_UNMOVABLE,
        gfp.GFP_TEMPORARY: MIGRATE_RECLAIMABLE,
        GFP_HIGHUSER_MOVABLE: MIGRATE_MOVABLE,
        gfp.__GFP_MOVABLE | gfp.__GFP_RECLAIMABLE: MIGRATE_RESERVE,     # the kernel warns
    }
    for flags, mt in cases.items():
        assert fn(on, flags) == mt
        assert fn(on, np.uint32(flags)) == mt
        assert fn(off, flags) == MIGRATE_UNMOVABLE
    assert fn(on, 0) == MIGRATE_UNMOVABLE


def test_python_mode_returns_are_plain_enough():
    """NEP 50: results of python mode must do exact arithmetic with Python ints."""
    mem = tiny_mem(X86_64)
    z = gfp_zone(mem, GFP_KERNEL)
    assert z + 1000 == 1002 and isinstance(z + 1000, (int, np.int64))
    mt = allocflags_to_migratetype(mem, GFP_HIGHUSER_MOVABLE)
    assert mt * 1000 == 2000


# ---- gfp_to_alloc_flags -------------------------------------------------------------------------

def test_gfp_to_alloc_flags_basic():
    assert gfp_to_alloc_flags(GFP_ATOMIC) == 0x30
    assert gfp_to_alloc_flags(GFP_NOWAIT) == 0x10
    assert gfp_to_alloc_flags(GFP_KERNEL) == 0x40
    assert gfp_to_alloc_flags(GFP_KERNEL | gfp.__GFP_HIGH) == ALLOC_CPUSET | ALLOC_HIGH
    assert gfp_to_alloc_flags(GFP_HIGHUSER_MOVABLE) == 0x40
    assert gfp_to_alloc_flags(gfp.GFP_TRANSHUGE) == 0x40       # NOMEMALLOC, but can sleep


def test_gfp_to_alloc_flags_memalloc():
    M, N = gfp.__GFP_MEMALLOC, gfp.__GFP_NOMEMALLOC
    assert gfp_to_alloc_flags(GFP_KERNEL | M) == ALLOC_CPUSET | ALLOC_NO_WATERMARKS
    assert gfp_to_alloc_flags(GFP_ATOMIC | M) == 0x34
    # NOMEMALLOC beats MEMALLOC, and an atomic NOMEMALLOC request does not get ALLOC_HARDER
    assert gfp_to_alloc_flags(GFP_KERNEL | M | N) == ALLOC_CPUSET
    assert gfp_to_alloc_flags(GFP_ATOMIC | N) == ALLOC_HIGH
    assert gfp_to_alloc_flags(N) == ALLOC_WMARK_MIN
    assert gfp_to_alloc_flags(GFP_KERNEL | N, pf_memalloc=True) == ALLOC_CPUSET
    assert gfp_pfmemalloc_allowed(GFP_KERNEL | M)
    assert not gfp_pfmemalloc_allowed(GFP_KERNEL | M | N)


def test_gfp_to_alloc_flags_context():
    nw = ALLOC_NO_WATERMARKS
    assert gfp_to_alloc_flags(GFP_KERNEL, rt_task=True) == ALLOC_CPUSET | ALLOC_HARDER
    assert gfp_to_alloc_flags(GFP_KERNEL, rt_task=True, in_interrupt=True) == ALLOC_CPUSET
    assert gfp_to_alloc_flags(GFP_KERNEL, rt_task=True, in_serving_softirq=True) == ALLOC_CPUSET
    assert gfp_to_alloc_flags(GFP_ATOMIC, rt_task=True) == 0x30
    assert gfp_to_alloc_flags(GFP_KERNEL, pf_memalloc=True) == ALLOC_CPUSET | nw
    assert gfp_to_alloc_flags(GFP_KERNEL, tif_memdie=True) == ALLOC_CPUSET | nw
    assert gfp_to_alloc_flags(GFP_ATOMIC, pf_memalloc=True, in_interrupt=True) == 0x30
    assert gfp_to_alloc_flags(GFP_ATOMIC, pf_memalloc=True, in_serving_softirq=True) == 0x34
    assert gfp_to_alloc_flags(GFP_ATOMIC, tif_memdie=True, in_serving_softirq=True) == 0x30
    assert gfp_to_alloc_flags(GFP_ATOMIC, tif_memdie=True) == 0x34
    assert gfp_pfmemalloc_allowed(GFP_KERNEL, pf_memalloc=True)


def test_gfp_to_alloc_flags_cma():
    assert gfp_to_alloc_flags(GFP_HIGHUSER_MOVABLE, cma=True) == ALLOC_CPUSET | ALLOC_CMA
    assert gfp_to_alloc_flags(GFP_KERNEL, cma=True) == ALLOC_CPUSET
    assert gfp_to_alloc_flags(gfp.GFP_TEMPORARY, cma=True) == ALLOC_CPUSET
    both = gfp.__GFP_MOVABLE | gfp.__GFP_RECLAIMABLE
    assert gfp_to_alloc_flags(GFP_KERNEL | both, cma=True) == ALLOC_CPUSET
    assert gfp_to_alloc_flags(GFP_HIGHUSER_MOVABLE, cma=True, mobility_disabled=True) == 0x40
    # consistent with allocflags_to_migratetype for every mobility combination
    for disabled in (False, True):
        mem = tiny_mem(X86_64, disabled)
        for flags in (0, gfp.__GFP_MOVABLE, gfp.__GFP_RECLAIMABLE, both):
            movable = allocflags_to_migratetype(mem, flags) == MIGRATE_MOVABLE
            got = gfp_to_alloc_flags(GFP_KERNEL | flags, cma=True, mobility_disabled=disabled)
            assert bool(got & ALLOC_CMA) == movable
