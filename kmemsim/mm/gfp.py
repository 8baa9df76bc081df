"""GFP flags: what a caller asks of the page allocator, and how the allocator reads it.

Kernel: include/linux/gfp.h, include/trace/events/gfpflags.h, mm/internal.h (ALLOC_*) and
mm/page_alloc.c gfp_to_alloc_flags() (v3.13).

A ``gfp_t`` is an unsigned int of which 3.13 uses 25 bits.  Its low four bits pick the *highest
zone* an allocation may use (:func:`gfp_zone`, through the GFP_ZONE_TABLE of the machine's
configuration); two others pick the *migratetype* of the free lists to take pages from
(:func:`allocflags_to_migratetype`); the rest say how hard the allocator may try (wait, do I/O,
call filesystems, dip into reserves...).  The slow path turns a mask into ``ALLOC_*`` flags
(:func:`gfp_to_alloc_flags`).

Spellings
---------
* ``___GFP_X`` is the raw bit, ``__GFP_X`` the flag the kernel uses, ``GFP_X`` without
  underscores is how 3.13's tracepoints print a single flag (``GFP_WAIT``, ``GFP_NOTRACK``...).
  :data:`GFP_NAMES` accepts all three.
* ``GFP_THISNODE`` is the one clash: the kernel's macro is ``__GFP_THISNODE|__GFP_NOWARN|
  __GFP_NORETRY`` with CONFIG_NUMA and 0 without, but the tracepoint prints the single bit
  ``__GFP_THISNODE`` as ``GFP_THISNODE``.  Because kmemsim reads traces, the name
  ``GFP_THISNODE`` means the single bit here; the two configurations of the macro are
  :data:`GFP_THISNODE_NUMA` and :data:`GFP_THISNODE_NO_NUMA`.
* ``GFP_SLAB_BUG_MASK`` includes every bit above ``__GFP_BITS_MASK``; it is a constant here but
  not a name :func:`parse_gfp` accepts (no allocation mask can contain it).
"""

from __future__ import annotations

import difflib
import re

import numpy as np

from kmemsim.errors import KmemsimError
from kmemsim.jit import kernel
from kmemsim.mm.mmzone import (
    CFG_MOBILITY_DISABLED, MIGRATE_MOVABLE, MIGRATE_RECLAIMABLE, MIGRATE_UNMOVABLE, WMARK_HIGH,
    WMARK_LOW, WMARK_MIN, ZONE_NAMES,
)

__all__ = [
    # raw bits
    "___GFP_DMA", "___GFP_HIGHMEM", "___GFP_DMA32", "___GFP_MOVABLE", "___GFP_WAIT",
    "___GFP_HIGH", "___GFP_IO", "___GFP_FS", "___GFP_COLD", "___GFP_NOWARN", "___GFP_REPEAT",
    "___GFP_NOFAIL", "___GFP_NORETRY", "___GFP_MEMALLOC", "___GFP_COMP", "___GFP_ZERO",
    "___GFP_NOMEMALLOC", "___GFP_HARDWALL", "___GFP_THISNODE", "___GFP_RECLAIMABLE",
    "___GFP_KMEMCG", "___GFP_NOTRACK", "___GFP_NO_KSWAPD", "___GFP_OTHER_NODE", "___GFP_WRITE",
    # flags
    "__GFP_DMA", "__GFP_HIGHMEM", "__GFP_DMA32", "__GFP_MOVABLE", "__GFP_WAIT", "__GFP_HIGH",
    "__GFP_IO", "__GFP_FS", "__GFP_COLD", "__GFP_NOWARN", "__GFP_REPEAT", "__GFP_NOFAIL",
    "__GFP_NORETRY", "__GFP_MEMALLOC", "__GFP_COMP", "__GFP_ZERO", "__GFP_NOMEMALLOC",
    "__GFP_HARDWALL", "__GFP_THISNODE", "__GFP_RECLAIMABLE", "__GFP_KMEMCG", "__GFP_NOTRACK",
    "__GFP_NO_KSWAPD", "__GFP_OTHER_NODE", "__GFP_WRITE", "__GFP_NOTRACK_FALSE_POSITIVE",
    "__GFP_BITS_SHIFT", "__GFP_BITS_MASK", "GFP_ZONEMASK",
    # composite masks
    "GFP_NOWAIT", "GFP_ATOMIC", "GFP_NOIO", "GFP_NOFS", "GFP_KERNEL", "GFP_TEMPORARY",
    "GFP_USER", "GFP_HIGHUSER", "GFP_HIGHUSER_MOVABLE", "GFP_IOFS", "GFP_TRANSHUGE",
    "GFP_THISNODE_NUMA", "GFP_THISNODE_NO_NUMA", "GFP_MOVABLE_MASK", "GFP_RECLAIM_MASK",
    "GFP_BOOT_MASK", "GFP_CONSTRAINT_MASK", "GFP_SLAB_BUG_MASK", "GFP_DMA", "GFP_DMA32",
    "GFP_ZONE_BAD",
    # ALLOC_* (mm/internal.h)
    "ALLOC_WMARK_MIN", "ALLOC_WMARK_LOW", "ALLOC_WMARK_HIGH", "ALLOC_NO_WATERMARKS",
    "ALLOC_WMARK_MASK", "ALLOC_HARDER", "ALLOC_HIGH", "ALLOC_CPUSET", "ALLOC_CMA",
    # tables
    "GFP_BIT_NAMES", "GFP_NAMES", "GFP_TRACE_FLAGS", "GFP_ZONE_TABLE_SPEC", "ALLOC_FLAG_NAMES",
    # functions
    "parse_gfp", "show_gfp_flags", "format_gfp", "format_alloc_flags", "build_gfp_zone_table",
    "gfp_zone", "allocflags_to_migratetype", "gfp_to_alloc_flags", "gfp_pfmemalloc_allowed",
    "gfp_zone_name",
]

# ---- raw bits (___GFP_*) ------------------------------------------------------------------------

___GFP_DMA = 0x01
___GFP_HIGHMEM = 0x02
___GFP_DMA32 = 0x04
___GFP_MOVABLE = 0x08
___GFP_WAIT = 0x10
___GFP_HIGH = 0x20
___GFP_IO = 0x40
___GFP_FS = 0x80
___GFP_COLD = 0x100
___GFP_NOWARN = 0x200
___GFP_REPEAT = 0x400
___GFP_NOFAIL = 0x800
___GFP_NORETRY = 0x1000
___GFP_MEMALLOC = 0x2000
___GFP_COMP = 0x4000
___GFP_ZERO = 0x8000
___GFP_NOMEMALLOC = 0x10000
___GFP_HARDWALL = 0x20000
___GFP_THISNODE = 0x40000
___GFP_RECLAIMABLE = 0x80000
___GFP_KMEMCG = 0x100000
___GFP_NOTRACK = 0x200000
___GFP_NO_KSWAPD = 0x400000
___GFP_OTHER_NODE = 0x800000
___GFP_WRITE = 0x1000000

# ---- flags (__GFP_*) ----------------------------------------------------------------------------

# zone modifiers: the low four bits
__GFP_DMA = ___GFP_DMA
__GFP_HIGHMEM = ___GFP_HIGHMEM
__GFP_DMA32 = ___GFP_DMA32
__GFP_MOVABLE = ___GFP_MOVABLE            # also a mobility hint (allocflags_to_migratetype)
GFP_ZONEMASK = __GFP_DMA | __GFP_HIGHMEM | __GFP_DMA32 | __GFP_MOVABLE

# action modifiers
__GFP_WAIT = ___GFP_WAIT                  # may sleep: direct reclaim and compaction allowed
__GFP_HIGH = ___GFP_HIGH                  # may use part of the emergency reserve (= ALLOC_HIGH)
__GFP_IO = ___GFP_IO                      # reclaim may start disk I/O
__GFP_FS = ___GFP_FS                      # reclaim may call into filesystems
__GFP_COLD = ___GFP_COLD                  # take a cache-cold page (tail of the per-CPU list)
__GFP_NOWARN = ___GFP_NOWARN              # no "page allocation failure" report
__GFP_REPEAT = ___GFP_REPEAT              # retry hard, may still fail
__GFP_NOFAIL = ___GFP_NOFAIL              # retry forever
__GFP_NORETRY = ___GFP_NORETRY            # give up early
__GFP_MEMALLOC = ___GFP_MEMALLOC          # may ignore the watermarks entirely
__GFP_COMP = ___GFP_COMP                  # build a compound page
__GFP_ZERO = ___GFP_ZERO                  # return zeroed memory
__GFP_NOMEMALLOC = ___GFP_NOMEMALLOC      # never use the reserves; beats __GFP_MEMALLOC
__GFP_HARDWALL = ___GFP_HARDWALL          # keep to the task's cpuset
__GFP_THISNODE = ___GFP_THISNODE          # this node only, no fallback
__GFP_RECLAIMABLE = ___GFP_RECLAIMABLE    # mobility hint: reclaimable (slab caches)
__GFP_NOTRACK = ___GFP_NOTRACK            # kmemcheck: do not track (defined unconditionally)
__GFP_NO_KSWAPD = ___GFP_NO_KSWAPD        # do not wake kswapd (THP faults)
__GFP_OTHER_NODE = ___GFP_OTHER_NODE      # allocated on behalf of another node (NUMA stats)
__GFP_KMEMCG = ___GFP_KMEMCG              # charged to a memory cgroup's kernel memory
__GFP_WRITE = ___GFP_WRITE                # page will be dirtied (dirty-limit spreading)
__GFP_NOTRACK_FALSE_POSITIVE = __GFP_NOTRACK

__GFP_BITS_SHIFT = 25
__GFP_BITS_MASK = (1 << __GFP_BITS_SHIFT) - 1

# ---- composite masks ----------------------------------------------------------------------------

GFP_ATOMIC = __GFP_HIGH
GFP_NOWAIT = GFP_ATOMIC & ~__GFP_HIGH     # 0: neither sleeps nor touches the reserves
GFP_NOIO = __GFP_WAIT
GFP_NOFS = __GFP_WAIT | __GFP_IO
GFP_KERNEL = __GFP_WAIT | __GFP_IO | __GFP_FS
GFP_TEMPORARY = GFP_KERNEL | __GFP_RECLAIMABLE
GFP_USER = GFP_KERNEL | __GFP_HARDWALL
GFP_HIGHUSER = GFP_USER | __GFP_HIGHMEM
GFP_HIGHUSER_MOVABLE = GFP_HIGHUSER | __GFP_MOVABLE
GFP_IOFS = __GFP_IO | __GFP_FS
GFP_TRANSHUGE = (GFP_HIGHUSER_MOVABLE | __GFP_COMP | __GFP_NOMEMALLOC | __GFP_NORETRY
                 | __GFP_NOWARN | __GFP_NO_KSWAPD)
# The kernel's GFP_THISNODE depends on CONFIG_NUMA (see the module docstring).
GFP_THISNODE_NUMA = __GFP_THISNODE | __GFP_NOWARN | __GFP_NORETRY
GFP_THISNODE_NO_NUMA = 0
GFP_MOVABLE_MASK = __GFP_RECLAIMABLE | __GFP_MOVABLE
GFP_RECLAIM_MASK = (__GFP_WAIT | __GFP_HIGH | __GFP_IO | __GFP_FS | __GFP_NOWARN | __GFP_REPEAT
                    | __GFP_NOFAIL | __GFP_NORETRY | __GFP_MEMALLOC | __GFP_NOMEMALLOC)
GFP_BOOT_MASK = __GFP_BITS_MASK & ~(__GFP_WAIT | __GFP_IO | __GFP_FS)
GFP_CONSTRAINT_MASK = __GFP_HARDWALL | __GFP_THISNODE
# gfp_t is a 32-bit unsigned int, so "every bit above the mask" is bits 25..31.
GFP_SLAB_BUG_MASK = (__GFP_DMA32 | __GFP_HIGHMEM | ~__GFP_BITS_MASK) & 0xFFFFFFFF
GFP_DMA = __GFP_DMA
GFP_DMA32 = __GFP_DMA32

# ---- ALLOC_* (mm/internal.h): what the allocator itself may do ----------------------------------

ALLOC_WMARK_MIN = WMARK_MIN               # the low two bits index zone->watermark[]
ALLOC_WMARK_LOW = WMARK_LOW
ALLOC_WMARK_HIGH = WMARK_HIGH
ALLOC_NO_WATERMARKS = 0x04                # skip the watermark check
ALLOC_WMARK_MASK = ALLOC_NO_WATERMARKS - 1
ALLOC_HARDER = 0x10                       # lower the watermark by another quarter
ALLOC_HIGH = 0x20                         # same bit as __GFP_HIGH; halve the watermark
ALLOC_CPUSET = 0x40                       # honour the cpuset
ALLOC_CMA = 0x80                          # may take MIGRATE_CMA pages
# 3.13 has no ALLOC_FAIR (0x100 arrived in 3.14).

ALLOC_FLAG_NAMES = (
    (ALLOC_NO_WATERMARKS, "ALLOC_NO_WATERMARKS"),
    (ALLOC_HARDER, "ALLOC_HARDER"),
    (ALLOC_HIGH, "ALLOC_HIGH"),
    (ALLOC_CPUSET, "ALLOC_CPUSET"),
    (ALLOC_CMA, "ALLOC_CMA"),
)

_WMARK_NAMES = ("ALLOC_WMARK_MIN", "ALLOC_WMARK_LOW", "ALLOC_WMARK_HIGH")

# ---- name tables --------------------------------------------------------------------------------

# Each bit's suffix in bit order: ___GFP_<suffix>, __GFP_<suffix>, GFP_<suffix>.
GFP_BIT_NAMES = (
    "DMA", "HIGHMEM", "DMA32", "MOVABLE", "WAIT", "HIGH", "IO", "FS", "COLD", "NOWARN", "REPEAT",
    "NOFAIL", "NORETRY", "MEMALLOC", "COMP", "ZERO", "NOMEMALLOC", "HARDWALL", "THISNODE",
    "RECLAIMABLE", "KMEMCG", "NOTRACK", "NO_KSWAPD", "OTHER_NODE", "WRITE",
)

# The table the 3.13 tracepoints print with, in its order: masks with more bits come first so
# that e.g. GFP_USER is printed rather than GFP_KERNEL|GFP_HARDWALL.  Five bits have no entry
# (__GFP_DMA, __GFP_HIGHMEM, __GFP_DMA32, __GFP_FS alone, __GFP_WRITE): they print as hex.
GFP_TRACE_FLAGS = (
    (GFP_TRANSHUGE, "GFP_TRANSHUGE"),
    (GFP_HIGHUSER_MOVABLE, "GFP_HIGHUSER_MOVABLE"),
    (GFP_HIGHUSER, "GFP_HIGHUSER"),
    (GFP_USER, "GFP_USER"),
    (GFP_TEMPORARY, "GFP_TEMPORARY"),
    (GFP_KERNEL, "GFP_KERNEL"),
    (GFP_NOFS, "GFP_NOFS"),
    (GFP_ATOMIC, "GFP_ATOMIC"),
    (GFP_NOIO, "GFP_NOIO"),
    (__GFP_HIGH, "GFP_HIGH"),
    (__GFP_WAIT, "GFP_WAIT"),
    (__GFP_IO, "GFP_IO"),
    (__GFP_COLD, "GFP_COLD"),
    (__GFP_NOWARN, "GFP_NOWARN"),
    (__GFP_REPEAT, "GFP_REPEAT"),
    (__GFP_NOFAIL, "GFP_NOFAIL"),
    (__GFP_NORETRY, "GFP_NORETRY"),
    (__GFP_COMP, "GFP_COMP"),
    (__GFP_ZERO, "GFP_ZERO"),
    (__GFP_NOMEMALLOC, "GFP_NOMEMALLOC"),
    (__GFP_MEMALLOC, "GFP_MEMALLOC"),
    (__GFP_HARDWALL, "GFP_HARDWALL"),
    (__GFP_THISNODE, "GFP_THISNODE"),
    (__GFP_RECLAIMABLE, "GFP_RECLAIMABLE"),
    (__GFP_KMEMCG, "GFP_KMEMCG"),
    (__GFP_MOVABLE, "GFP_MOVABLE"),
    (__GFP_NOTRACK, "GFP_NOTRACK"),
    (__GFP_NO_KSWAPD, "GFP_NO_KSWAPD"),
    (__GFP_OTHER_NODE, "GFP_OTHER_NODE"),
)

_COMPOSITES = (
    ("GFP_ZONEMASK", GFP_ZONEMASK),
    ("GFP_NOWAIT", GFP_NOWAIT),
    ("GFP_ATOMIC", GFP_ATOMIC),
    ("GFP_NOIO", GFP_NOIO),
    ("GFP_NOFS", GFP_NOFS),
    ("GFP_KERNEL", GFP_KERNEL),
    ("GFP_TEMPORARY", GFP_TEMPORARY),
    ("GFP_USER", GFP_USER),
    ("GFP_HIGHUSER", GFP_HIGHUSER),
    ("GFP_HIGHUSER_MOVABLE", GFP_HIGHUSER_MOVABLE),
    ("GFP_IOFS", GFP_IOFS),
    ("GFP_TRANSHUGE", GFP_TRANSHUGE),
    ("GFP_THISNODE_NUMA", GFP_THISNODE_NUMA),
    ("GFP_THISNODE_NO_NUMA", GFP_THISNODE_NO_NUMA),
    ("GFP_MOVABLE_MASK", GFP_MOVABLE_MASK),
    ("GFP_RECLAIM_MASK", GFP_RECLAIM_MASK),
    ("GFP_BOOT_MASK", GFP_BOOT_MASK),
    ("GFP_CONSTRAINT_MASK", GFP_CONSTRAINT_MASK),
    ("GFP_DMA", GFP_DMA),
    ("GFP_DMA32", GFP_DMA32),
    ("__GFP_NOTRACK_FALSE_POSITIVE", __GFP_NOTRACK_FALSE_POSITIVE),
    ("GFP_NOTRACK_FALSE_POSITIVE", __GFP_NOTRACK_FALSE_POSITIVE),
    ("__GFP_BITS_MASK", __GFP_BITS_MASK),
    ("GFP_BITS_MASK", __GFP_BITS_MASK),
)


def _build_names() -> dict[str, int]:
    names: dict[str, int] = {}

    def add(name: str, value: int) -> None:
        if names.setdefault(name, value) != value:      # a clash would be a bug in the tables
            raise AssertionError(f"GFP name {name} has two values")

    for bit, suffix in enumerate(GFP_BIT_NAMES):
        for prefix in ("___GFP_", "__GFP_", "GFP_"):
            add(prefix + suffix, 1 << bit)
    for name, value in _COMPOSITES:
        add(name, value)
    for value, name in GFP_TRACE_FLAGS:
        add(name, value)
    return names


GFP_NAMES: dict[str, int] = _build_names()
"""Every name :func:`parse_gfp` accepts, with its value."""

_HELP = "(see 'kmemsim gfp --list')"
_HEX = re.compile(r"0[xX][0-9a-fA-F]+\Z")
_DEC = re.compile(r"[0-9]+\Z")


# ---- parsing and printing -----------------------------------------------------------------------

def parse_gfp(text: str | int) -> int:
    """Kernel: include/linux/gfp.h names, include/trace/events/gfpflags.h spellings (v3.13).

    A GFP mask from a name, names and numbers joined by ``|``, or a number.
    ``"GFP_KERNEL"``, ``"__GFP_WAIT | __GFP_IO"``, ``"0x201200"``, ``"208"`` and
    ``"GFP_KERNEL|0x4000"`` all work, and so does every ``gfp_flags=`` value of a 3.13 trace.
    An int is accepted as it is (after the same range check).  Raises :class:`KmemsimError` with
    one line naming the bad part and the fix.
    """
    if isinstance(text, (int, np.integer)) and not isinstance(text, bool):
        return _check_range(int(text), str(text), str(text))
    if not isinstance(text, str):
        raise KmemsimError(f"GFP mask {text!r} is a {type(text).__name__}: give a string such as "
                           f"'GFP_KERNEL|__GFP_ZERO' or a number such as 0xd0")
    if not text.strip():
        raise KmemsimError(f"empty GFP mask {text!r}: give a name such as GFP_KERNEL, names "
                           f"joined by '|', or a number such as 0xd0 {_HELP}")
    flags = 0
    for raw in text.split("|"):
        part = raw.strip()
        if not part:
            raise KmemsimError(f"empty GFP flag in {text!r}: put one name or number between "
                               f"each pair of '|' {_HELP}")
        flags |= _parse_part(part, text)
    return flags


def _parse_part(part: str, text: str) -> int:
    value = GFP_NAMES.get(part)
    if value is not None:
        return value
    if part.startswith("-"):
        raise KmemsimError(f"negative GFP value {part!r} in {text!r}: a GFP mask is a set of "
                           f"bits, write e.g. 0xd0 or GFP_KERNEL {_HELP}")
    if _HEX.match(part):
        return _check_range(int(part, 16), part, text)
    if _DEC.match(part):
        return _check_range(int(part, 10), part, text)
    if part[:1].isdigit():
        raise KmemsimError(f"bad number {part!r} in {text!r}: write hex as 0x1f or decimal as 31")
    guess = difflib.get_close_matches(part.upper(), list(GFP_NAMES), n=1, cutoff=0.6)
    if guess:
        hint = f"did you mean {guess[0]}?"
    else:
        hint = "use a name such as GFP_KERNEL or __GFP_ZERO, or a number"
    raise KmemsimError(f"unknown GFP flag {part!r} in {text!r}: {hint} {_HELP}")


def _check_range(value: int, part: str, text: str) -> int:
    if value < 0:
        raise KmemsimError(f"negative GFP value {part!r} in {text!r}: a GFP mask is a set of "
                           f"bits, write e.g. 0xd0 or GFP_KERNEL {_HELP}")
    extra = value & ~__GFP_BITS_MASK
    if extra:
        raise KmemsimError(f"GFP value {part!r} in {text!r} sets bits {extra:#x} above "
                           f"__GFP_BITS_MASK {__GFP_BITS_MASK:#x}: 3.13 has only bits 0-24 "
                           f"{_HELP}")
    return value


def _walk(flags: int, table) -> tuple[list[str], int]:
    """__print_flags: take each entry whose bits are all present, in table order."""
    names = []
    for mask, name in table:
        if flags == 0:
            break
        if mask and flags & mask == mask:
            names.append(name)
            flags &= ~mask
    return names, flags


def show_gfp_flags(flags: int) -> str:
    """Kernel: include/trace/events/gfpflags.h show_gfp_flags() (v3.13).

    A GFP mask spelled exactly as a 3.13 kmem tracepoint prints it (the table, printed with the
    semantics of __print_flags, kernel/trace/trace_output.c ftrace_print_flags_seq()).
    0 prints as ``GFP_NOWAIT``.  Otherwise the names of :data:`GFP_TRACE_FLAGS` whose bits are
    all set are printed in table order, each consuming its bits, joined by ``|``; bits left over
    follow as one ``0x%lx`` number (``GFP_KERNEL|GFP_NOWARN|0x2``).  A negative value is read as
    the 32-bit ``gfp_t`` it would be in the kernel.
    """
    flags = int(flags)
    if flags < 0:
        flags &= 0xFFFFFFFF
    if flags == 0:
        return "GFP_NOWAIT"
    names, rest = _walk(flags, GFP_TRACE_FLAGS)
    if rest:
        names.append(f"{rest:#x}")
    return "|".join(names)


_BIT_FLAGS = tuple((1 << bit, "__GFP_" + suffix) for bit, suffix in enumerate(GFP_BIT_NAMES))


def format_gfp(flags: int) -> str:
    """kmemsim's own: a GFP mask for people, its hex value and what it is made of.

    ``format_gfp(0x201200) == '0x201200 (GFP_NOWARN|GFP_NORETRY|GFP_NOTRACK)'``.  The part in
    parentheses is :func:`show_gfp_flags`, except that left-over bits the trace table has no name
    for are spelled by their kernel flag (``0xd2 (GFP_KERNEL|__GFP_HIGHMEM)`` where the trace says
    ``GFP_KERNEL|0x2``); only bits above ``__GFP_BITS_MASK`` stay hex.  The part in parentheses
    always parses back (:func:`parse_gfp`) to the same value when the value is a valid mask.
    """
    flags = int(flags)
    if flags < 0:
        flags &= 0xFFFFFFFF
    if flags == 0:
        return "0x0 (GFP_NOWAIT)"
    names, rest = _walk(flags, GFP_TRACE_FLAGS)
    more, rest = _walk(rest, _BIT_FLAGS)
    names += more
    if rest:
        names.append(f"{rest:#x}")
    return f"{flags:#x} ({'|'.join(names)})"


def format_alloc_flags(alloc_flags: int) -> str:
    """Kernel: mm/internal.h ALLOC_* (v3.13), printed by kmemsim's own printer.

    ``ALLOC_*`` flags by name, the watermark first: ``0x30`` gives
    ``ALLOC_WMARK_MIN|ALLOC_HARDER|ALLOC_HIGH``."""
    alloc_flags = int(alloc_flags)
    wmark = alloc_flags & ALLOC_WMARK_MASK
    names = [_WMARK_NAMES[wmark] if wmark < len(_WMARK_NAMES) else f"{wmark:#x}"]
    names += [name for mask, name in ALLOC_FLAG_NAMES if alloc_flags & mask]
    rest = alloc_flags & ~(ALLOC_WMARK_MASK | sum(mask for mask, _ in ALLOC_FLAG_NAMES))
    if rest:
        names.append(f"{rest:#x}")
    return "|".join(names)


# ---- zone selection -----------------------------------------------------------------------------

# GFP_ZONE_TABLE as data: for each valid combination of the four zone bits, the zone it allows
# at most.  "opt:X" is the kernel's OPT_ZONE_X: zone X when configured, else Normal.  The other
# eight combinations are GFP_ZONE_BAD.
GFP_ZONE_TABLE_SPEC = (
    (0, "Normal"),
    (___GFP_DMA, "opt:DMA"),
    (___GFP_HIGHMEM, "opt:HighMem"),
    (___GFP_DMA32, "opt:DMA32"),
    (___GFP_MOVABLE, "Normal"),
    (___GFP_MOVABLE | ___GFP_DMA, "opt:DMA"),
    (___GFP_MOVABLE | ___GFP_HIGHMEM, "Movable"),
    (___GFP_MOVABLE | ___GFP_DMA32, "opt:DMA32"),
)

# One bit per zone-bit combination that is not allowed (more than one of DMA, HIGHMEM, DMA32).
GFP_ZONE_BAD = sum(1 << bits for bits in range(16)
                   if bits not in {b for b, _ in GFP_ZONE_TABLE_SPEC})


def build_gfp_zone_table(zone_index: dict[str, int]) -> np.ndarray:
    """Kernel: include/linux/gfp.h GFP_ZONE_TABLE and GFP_ZONE_BAD (v3.13).

    GFP_ZONE_TABLE of a configuration as ``int8[16]``; -1 where GFP_ZONE_BAD has a bit.

    ``zone_index`` maps the configured zones' names ("DMA", "DMA32", "Normal", "HighMem",
    "Movable") to their zone indices, e.g. ``{"DMA": 0, "DMA32": 1, "Normal": 2, "Movable": 3}``
    on x86-64.  Normal and Movable are always configured.
    """
    unknown = [name for name in zone_index if name not in ZONE_NAMES]
    if unknown:
        raise KmemsimError(f"unknown zone {unknown[0]!r} in the zone configuration: use "
                           f"{', '.join(ZONE_NAMES)}")
    for name in ("Normal", "Movable"):
        if name not in zone_index:
            raise KmemsimError(f"zone configuration {zone_index!r} lacks {name}: every "
                               f"configuration has ZONE_NORMAL and ZONE_MOVABLE")
    table = np.full(16, -1, dtype=np.int8)
    for bits, target in GFP_ZONE_TABLE_SPEC:
        if target.startswith("opt:"):
            target = target[4:] if target[4:] in zone_index else "Normal"
        table[bits] = zone_index[target]
    return table


@kernel
def gfp_zone(mem, flags):
    """Kernel: include/linux/gfp.h gfp_zone() (v3.13).

    The highest zone an allocation with ``flags`` may use (its high_zoneidx).  The kernel BUGs
    (with CONFIG_DEBUG_VM) on a combination of GFP_ZONE_BAD; kmemsim returns -1 and leaves the
    complaint to its caller.
    """
    bit = np.int64(flags) & GFP_ZONEMASK
    return np.int64(mem.gfp_zone_table[bit])


def gfp_zone_name(flags: int, zone_index: dict[str, int]) -> str:
    """Kernel: include/linux/gfp.h gfp_zone() (v3.13), as a zone name, in plain Python.

    Name of the zone :func:`gfp_zone` picks for ``flags`` in a configuration.  Raises
    :class:`KmemsimError` for a combination the kernel would BUG on."""
    flags = int(flags)
    idx = int(build_gfp_zone_table(zone_index)[flags & GFP_ZONEMASK])
    if idx < 0:
        zone_bits = "|".join(name for mask, name in _BIT_FLAGS[:4] if flags & mask)
        raise KmemsimError(f"GFP mask {flags:#x} asks for zones {zone_bits}: an invalid "
                           f"combination (the kernel BUGs); set at most one of __GFP_DMA, "
                           f"__GFP_HIGHMEM, __GFP_DMA32, optionally with __GFP_MOVABLE")
    return {v: k for k, v in zone_index.items()}[idx]


# ---- migratetype and ALLOC_* flags --------------------------------------------------------------

@kernel
def allocflags_to_migratetype(mem, gfp_flags):
    """Kernel: include/linux/gfp.h allocflags_to_migratetype() (v3.13).

    The free-list migratetype an allocation with ``gfp_flags`` takes its pages from:
    __GFP_MOVABLE gives bit 1, __GFP_RECLAIMABLE bit 0; with page_group_by_mobility_disabled
    everything is Unmovable.  The kernel warns when both bits are set (the result, 3, is
    MIGRATE_RESERVE); kmemsim does not.
    """
    if mem.cfg[CFG_MOBILITY_DISABLED] != 0:
        return MIGRATE_UNMOVABLE
    flags = np.int64(gfp_flags)
    migratetype = MIGRATE_UNMOVABLE
    if flags & __GFP_MOVABLE:
        migratetype |= MIGRATE_MOVABLE
    if flags & __GFP_RECLAIMABLE:
        migratetype |= MIGRATE_RECLAIMABLE
    return migratetype


# The calling context gfp_to_alloc_flags() looks at, as bits (kmemsim's own encoding of the
# kernel's current->flags & PF_MEMALLOC, TIF_MEMDIE, rt_task(), in_interrupt(), ...).
CTX_PF_MEMALLOC = 1
CTX_TIF_MEMDIE = 2
CTX_RT_TASK = 4
CTX_IN_INTERRUPT = 8
CTX_IN_SERVING_SOFTIRQ = 16


@kernel
def __gfp_to_alloc_flags(gfp_mask, context, cma, mobility_disabled):
    """The body of mm/page_alloc.c gfp_to_alloc_flags() (v3.13), with the calling context as
    CTX_* bits; ``cma`` is CONFIG_CMA, ``mobility_disabled`` page_group_by_mobility_disabled.

    * Start from ALLOC_WMARK_MIN|ALLOC_CPUSET and copy __GFP_HIGH as ALLOC_HIGH.
    * A caller that cannot sleep gets ALLOC_HARDER (unless __GFP_NOMEMALLOC) and loses
      ALLOC_CPUSET; one that can sleep gets ALLOC_HARDER only as a real-time task outside
      interrupts.
    * Unless __GFP_NOMEMALLOC: ALLOC_NO_WATERMARKS for __GFP_MEMALLOC, for a softirq running on a
      PF_MEMALLOC task, or outside interrupts for a PF_MEMALLOC or TIF_MEMDIE task.
    * With CMA, a Movable request may use CMA pageblocks (ALLOC_CMA)."""
    in_softirq = (context & CTX_IN_SERVING_SOFTIRQ) != 0
    in_interrupt = (context & CTX_IN_INTERRUPT) != 0 or in_softirq
    pf_memalloc = (context & CTX_PF_MEMALLOC) != 0
    alloc_flags = ALLOC_WMARK_MIN | ALLOC_CPUSET
    alloc_flags |= gfp_mask & __GFP_HIGH          # __GFP_HIGH == ALLOC_HIGH
    if (gfp_mask & __GFP_WAIT) == 0:
        if (gfp_mask & __GFP_NOMEMALLOC) == 0:
            alloc_flags |= ALLOC_HARDER
        alloc_flags &= ~ALLOC_CPUSET
    elif (context & CTX_RT_TASK) != 0 and not in_interrupt:
        alloc_flags |= ALLOC_HARDER
    if (gfp_mask & __GFP_NOMEMALLOC) == 0:
        if gfp_mask & __GFP_MEMALLOC:
            alloc_flags |= ALLOC_NO_WATERMARKS
        elif in_softirq and pf_memalloc:
            alloc_flags |= ALLOC_NO_WATERMARKS
        elif not in_interrupt and (pf_memalloc or (context & CTX_TIF_MEMDIE) != 0):
            alloc_flags |= ALLOC_NO_WATERMARKS
    if cma and not mobility_disabled:
        if (gfp_mask & __GFP_MOVABLE) != 0 and (gfp_mask & __GFP_RECLAIMABLE) == 0:
            alloc_flags |= ALLOC_CMA
    return alloc_flags


def gfp_to_alloc_flags(gfp_mask: int, *, rt_task: bool = False, in_interrupt: bool = False,
                       pf_memalloc: bool = False, tif_memdie: bool = False,
                       in_serving_softirq: bool = False, cma: bool = False,
                       mobility_disabled: bool = False) -> int:
    """The ``ALLOC_*`` flags the slow path uses for ``gfp_mask`` in a context described by
    keywords: ``rt_task`` (a real-time task), ``in_interrupt`` (hard or soft interrupt
    context; serving a softirq implies it, as in the kernel), ``pf_memalloc`` (the task has
    PF_MEMALLOC, i.e. it is reclaiming), ``tif_memdie`` (the task is being OOM-killed),
    ``in_serving_softirq``; ``cma`` is CONFIG_CMA and ``mobility_disabled``
    page_group_by_mobility_disabled.  The rules: :func:`__gfp_to_alloc_flags`."""
    context = ((CTX_PF_MEMALLOC if pf_memalloc else 0) | (CTX_TIF_MEMDIE if tif_memdie else 0)
               | (CTX_RT_TASK if rt_task else 0) | (CTX_IN_INTERRUPT if in_interrupt else 0)
               | (CTX_IN_SERVING_SOFTIRQ if in_serving_softirq else 0))
    return int(__gfp_to_alloc_flags(int(gfp_mask), context, bool(cma), bool(mobility_disabled)))


def gfp_pfmemalloc_allowed(gfp_mask: int, **context) -> bool:
    """Kernel: mm/page_alloc.c gfp_pfmemalloc_allowed() (v3.13).

    Whether ``gfp_mask`` may ignore the watermarks in this context (plain Python); ``context``
    takes the keywords of :func:`gfp_to_alloc_flags`."""
    return bool(gfp_to_alloc_flags(gfp_mask, **context) & ALLOC_NO_WATERMARKS)


if ALLOC_HIGH != __GFP_HIGH:                   # gfp_to_alloc_flags relies on it, as the kernel
    raise AssertionError("ALLOC_HIGH must equal __GFP_HIGH")
