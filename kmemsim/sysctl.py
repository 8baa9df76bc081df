"""The vm sysctls the allocator reads, and what writing them recomputes.

Kernel: kernel/sysctl.c (vm_table), mm/page_alloc.c min_free_kbytes_sysctl_handler(),
lowmem_reserve_ratio_sysctl_handler(), percpu_pagelist_fraction_sysctl_handler(),
mm/compaction.c sysctl_compaction_handler(), sysctl_extfrag_handler(), fs/drop_caches.c
drop_caches_sysctl_handler() (v3.13).

``show sysctl`` prints them as ``sysctl vm.NAME`` does
(``vm.lowmem_reserve_ratio = 256\\t256\\t32``).  vm.compact_memory is write-only (mode 0200),
so ``show sysctl`` leaves it out as ``sysctl -a`` does; it and vm.extfrag_threshold exist only
with CONFIG_COMPACTION (cfg CFG_COMPACTION).
"""

from __future__ import annotations

from kmemsim.errors import KmemsimError

__all__ = ["SYSCTLS", "COMPACTION_SYSCTLS", "sysctl_read", "sysctl_write", "sysctl_show",
           "sysctl_compaction_handler", "sysctl_extfrag_handler"]


def _int(name: str, text: str, minimum: int | None = None) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise KmemsimError(f"sysctl vm.{name}={text}: not a number") from None
    if minimum is not None and value < minimum:
        raise KmemsimError(f"sysctl vm.{name}={text}: Invalid argument (the kernel accepts "
                           f"{minimum} or more)")
    return value


def _write_min_free_kbytes(k, text: str) -> None:
    """min_free_kbytes_sysctl_handler(): remember the user's value, recompute watermarks."""
    from kmemsim.mm.page_alloc_init import setup_per_zone_wmarks
    k.min_free_kbytes = _int("min_free_kbytes", text, 0)
    k.user_min_free_kbytes = k.min_free_kbytes
    setup_per_zone_wmarks(k)


def _write_lowmem_reserve_ratio(k, text: str) -> None:
    """lowmem_reserve_ratio_sysctl_handler(): new ratios, recompute the reserves."""
    from kmemsim.mm.page_alloc_init import setup_per_zone_lowmem_reserve
    parts = text.replace(",", " ").split()
    n = len(k.lowmem_reserve_ratio)
    if len(parts) != n:
        raise KmemsimError(f"sysctl vm.lowmem_reserve_ratio={text}: give {n} numbers, one per "
                           f"zone below the last ({', '.join(k.machine.zone_types[:n])})")
    k.lowmem_reserve_ratio = [_int("lowmem_reserve_ratio", p) for p in parts]
    setup_per_zone_lowmem_reserve(k)


def _write_percpu_pagelist_fraction(k, text: str) -> None:
    """percpu_pagelist_fraction_sysctl_handler(): at least 8; every CPU's pageset of every
    populated zone gets high = managed / fraction (and its batch from that)."""
    from kmemsim.mm.page_alloc_init import pageset_set_high
    value = _int("percpu_pagelist_fraction", text, 8)
    k.percpu_pagelist_fraction = value
    for zone in range(k.mem.managed_pages.shape[0]):
        if k.mem.present_pages[zone]:
            for cpu in range(k.machine.cpus):
                pageset_set_high(k, cpu, zone, int(k.mem.managed_pages[zone]) // value)


def _write_zone_reclaim_mode(k, text: str) -> None:
    from kmemsim.mm.mmzone import CFG_ZONE_RECLAIM_MODE
    k.mem.cfg[CFG_ZONE_RECLAIM_MODE] = _int("zone_reclaim_mode", text, 0)


def _write_drop_caches(k, text: str) -> None:
    """proc_dointvec_minmax() within 1..3, then drop_caches_sysctl_handler()."""
    from kmemsim.fs.drop_caches import drop_caches_sysctl_handler
    value = _int("drop_caches", text)
    if not 1 <= value <= 3:
        raise KmemsimError(f"sysctl vm.drop_caches={text}: Invalid argument: write 1 (page "
                           f"cache), 2 (slab) or 3 (both)")
    drop_caches_sysctl_handler(k, value)


def _zone_reclaim_mode(k) -> str:
    from kmemsim.mm.mmzone import CFG_ZONE_RECLAIM_MODE
    return str(int(k.mem.cfg[CFG_ZONE_RECLAIM_MODE]))


def sysctl_compaction_handler(k, text: str) -> None:
    """Kernel: mm/compaction.c sysctl_compaction_handler(): any write to
    /proc/sys/vm/compact_memory compacts every zone of every node (compact_nodes); the value
    written is not even read.  The writing task runs on CPU 0."""
    from kmemsim.mm.mmzone import CFG_CPU
    k.mem.cfg[CFG_CPU] = 0
    k.fn.compact_nodes(k.mem)


def sysctl_extfrag_handler(k, text: str) -> None:
    """Kernel: mm/compaction.c sysctl_extfrag_handler(): proc_dointvec_minmax() within
    0..1000, into sysctl_extfrag_threshold (mem.cfg[CFG_EXTFRAG_THRESHOLD], which
    compaction_suitable() reads).  3.13's handler drops proc_dointvec_minmax's -EINVAL: a bad
    value is ignored and the write still succeeds.  kmemsim reports it as an error instead,
    saying so, rather than let a script go on with a value it did not get."""
    from kmemsim.mm.mmzone import CFG_EXTFRAG_THRESHOLD
    old = int(k.mem.cfg[CFG_EXTFRAG_THRESHOLD])
    try:
        value = int(text, 0)
    except ValueError:
        value = None
    if value is None or not 0 <= value <= 1000:
        raise KmemsimError(f"sysctl vm.extfrag_threshold={text}: Invalid argument: use a number "
                           f"from 0 to 1000 (3.13 would ignore this write without an error and "
                           f"keep {old})")
    k.mem.cfg[CFG_EXTFRAG_THRESHOLD] = value


def _extfrag_threshold(k) -> str:
    from kmemsim.mm.mmzone import CFG_EXTFRAG_THRESHOLD
    return str(int(k.mem.cfg[CFG_EXTFRAG_THRESHOLD]))


# name -> (read, write); read None: write-only
SYSCTLS = {
    "compact_memory": (None, sysctl_compaction_handler),
    "drop_caches": (lambda k: str(k.sysctl_drop_caches), _write_drop_caches),
    "extfrag_threshold": (_extfrag_threshold, sysctl_extfrag_handler),
    "lowmem_reserve_ratio": (lambda k: "\t".join(str(r) for r in k.lowmem_reserve_ratio),
                             _write_lowmem_reserve_ratio),
    "min_free_kbytes": (lambda k: str(k.min_free_kbytes), _write_min_free_kbytes),
    "percpu_pagelist_fraction": (lambda k: str(k.percpu_pagelist_fraction),
                                 _write_percpu_pagelist_fraction),
    "zone_reclaim_mode": (_zone_reclaim_mode, _write_zone_reclaim_mode),
}


COMPACTION_SYSCTLS = ("compact_memory", "extfrag_threshold")   # #ifdef CONFIG_COMPACTION


def _available(k) -> dict:
    """The sysctls this machine's kernel has (the compaction ones need CONFIG_COMPACTION)."""
    from kmemsim.mm.mmzone import CFG_COMPACTION
    if k.mem.cfg[CFG_COMPACTION]:
        return SYSCTLS
    return {n: rw for n, rw in SYSCTLS.items() if n not in COMPACTION_SYSCTLS}


def _lookup(k, name: str):
    short = name[3:] if name.startswith("vm.") else name
    available = _available(k)
    if short not in available:
        why = " (this kernel runs without CONFIG_COMPACTION)" if short in SYSCTLS else ""
        raise KmemsimError(f"unknown sysctl {name!r}{why}: kmemsim models "
                           f"{', '.join('vm.' + n for n in available)}")
    return short, available[short]


def sysctl_read(k, name: str) -> str:
    """The value as /proc/sys/vm/NAME shows it."""
    short, (read, _) = _lookup(k, name)
    if read is None:
        raise KmemsimError(f"sysctl vm.{short}: permission denied: the file is write-only "
                           f"(write vm.{short}=1)")
    return read(k)


def sysctl_write(k, assignment: str) -> None:
    """``NAME=VALUE`` (``vm.`` optional), as ``sysctl -w`` does."""
    if "=" not in assignment:
        raise KmemsimError(f"sysctl {assignment!r}: write NAME=VALUE, e.g. "
                           "vm.min_free_kbytes=2048")
    name, value = assignment.split("=", 1)
    _lookup(k, name.strip())[1][1](k, value.strip())


def sysctl_show(k) -> str:
    """Every modelled vm sysctl that can be read, one ``vm.NAME = VALUE`` line each, in name
    order."""
    return "".join(f"vm.{name} = {read(k)}\n" for name, (read, _) in sorted(_available(k).items())
                   if read is not None)
