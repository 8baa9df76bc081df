"""The vm sysctls the allocator reads, and what writing them recomputes.

Kernel: kernel/sysctl.c (vm_table), mm/page_alloc.c min_free_kbytes_sysctl_handler(),
lowmem_reserve_ratio_sysctl_handler(), percpu_pagelist_fraction_sysctl_handler() (v3.13).

``show sysctl`` prints them as ``sysctl vm.NAME`` does (``vm.lowmem_reserve_ratio = 256\\t256\\t32``).
"""

from __future__ import annotations

from kmemsim.errors import KmemsimError

__all__ = ["SYSCTLS", "sysctl_read", "sysctl_write", "sysctl_show"]


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


def _zone_reclaim_mode(k) -> str:
    from kmemsim.mm.mmzone import CFG_ZONE_RECLAIM_MODE
    return str(int(k.mem.cfg[CFG_ZONE_RECLAIM_MODE]))


# name -> (read, write)
SYSCTLS = {
    "lowmem_reserve_ratio": (lambda k: "\t".join(str(r) for r in k.lowmem_reserve_ratio),
                             _write_lowmem_reserve_ratio),
    "min_free_kbytes": (lambda k: str(k.min_free_kbytes), _write_min_free_kbytes),
    "percpu_pagelist_fraction": (lambda k: str(k.percpu_pagelist_fraction),
                                 _write_percpu_pagelist_fraction),
    "zone_reclaim_mode": (_zone_reclaim_mode, _write_zone_reclaim_mode),
}


def _lookup(name: str):
    short = name[3:] if name.startswith("vm.") else name
    if short not in SYSCTLS:
        raise KmemsimError(f"unknown sysctl {name!r}: kmemsim models "
                           f"{', '.join('vm.' + n for n in SYSCTLS)}")
    return short, SYSCTLS[short]


def sysctl_read(k, name: str) -> str:
    """The value as /proc/sys/vm/NAME shows it."""
    return _lookup(name)[1][0](k)


def sysctl_write(k, assignment: str) -> None:
    """``NAME=VALUE`` (``vm.`` optional), as ``sysctl -w`` does."""
    if "=" not in assignment:
        raise KmemsimError(f"sysctl {assignment!r}: write NAME=VALUE, e.g. "
                           "vm.min_free_kbytes=2048")
    name, value = assignment.split("=", 1)
    _lookup(name.strip())[1][1](k, value.strip())


def sysctl_show(k) -> str:
    """Every modelled vm sysctl, one ``vm.NAME = VALUE`` line each, in name order."""
    return "".join(f"vm.{name} = {read(k)}\n" for name, (read, _) in sorted(SYSCTLS.items()))
