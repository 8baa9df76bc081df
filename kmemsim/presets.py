"""Built-in machines: ``kmemsim machines`` lists them.

Each preset is a function returning a :class:`kmemsim.machine.Machine`; the keyword options
(``mem``, ``cpus``, ``nodes``) are what ``--mem``, ``--cpus`` and ``--nodes`` pass.  Where every
number comes from is in the preset's module and in docs/machines.md.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kmemsim.errors import KmemsimError
from kmemsim.machine import Machine, load_toml, parse_size

__all__ = ["PRESETS", "get_machine", "preset_names"]


@dataclass(frozen=True)
class Preset:
    name: str
    summary: str
    build: Callable[..., Machine]
    options: tuple[str, ...]
    defaults: dict


def _cma_bytes(cma) -> int:
    if cma is None:
        return 0
    size = parse_size(cma, "--cma")
    if size <= 0 or size % (4 << 20):
        raise KmemsimError(f"--cma {cma}: give a positive multiple of 4M (a MAX_ORDER block)")
    return size


def _x86_64(mem="1G", cpus=1, nodes=1, cma=None):
    from kmemsim.arch.x86.setup import x86_64_machine
    ram = parse_size(mem, "--mem")
    if ram < 32 << 20 or ram % (1 << 20):
        raise KmemsimError(f"--mem {mem}: the x86_64 preset needs a whole number of MiB, "
                           "at least 32M")
    if ram > 1 << 40:
        raise KmemsimError(f"--mem {mem}: at most 1T")
    return x86_64_machine(ram, cpus=cpus, nodes=nodes, cma=_cma_bytes(cma))


def _numa(mem="2G", cpus=2, nodes=2, cma=None):
    from kmemsim.arch.x86.setup import x86_64_machine
    if nodes < 2:
        raise KmemsimError("--nodes: the numa preset needs at least 2 nodes")
    ram = parse_size(mem, "--mem")
    if ram < nodes * (64 << 20) or ram % (1 << 20):
        raise KmemsimError(f"--mem {mem}: the numa preset needs at least 64M per node, "
                           "in whole MiB")
    return x86_64_machine(ram, cpus=cpus, nodes=nodes, name="numa", cma=_cma_bytes(cma))


def _arndale(mem="2G", cpus=2, nodes=1, cma=None):
    from kmemsim.arch.arm.exynos import arndale_machine
    if mem != "2G" or nodes != 1:
        raise KmemsimError("arndale is a fixed board: 2 GiB, one node (drop --mem/--nodes)")
    return arndale_machine(cpus=cpus)


def _tiny(mem="8M", cpus=1, nodes=1, cma=None):
    from kmemsim.arch.generic import tiny_machine
    if nodes != 1:
        raise KmemsimError("tiny has one node")
    return tiny_machine(parse_size(mem, "--mem"), cpus=cpus)


PRESETS = {
    p.name: p for p in (
        Preset("x86_64", "qemu PC, Linux 3.13.11 x86_64: DMA/DMA32/Normal zones, pageblock "
               "order 9, THP (--mem 1G, 4G, 64G ...)", _x86_64, ("mem", "cpus"),
               {"mem": "1G", "cpus": 1}),
        Preset("arndale", "Arndale Octa board of the study notes: Exynos 5420, 32-bit ARM, "
               "2 GiB, Normal + HighMem, pageblock order 10, HZ 200", _arndale, ("cpus",),
               {"cpus": 2}),
        Preset("numa", "two-node qemu PC (--mem split evenly), for zonelists and node "
               "fallback", _numa, ("mem", "cpus", "nodes"), {"mem": "2G", "cpus": 2, "nodes": 2}),
        Preset("tiny", "8 MiB made-up machine, one Normal zone, pageblock order 6: small "
               "enough to print whole", _tiny, ("mem", "cpus"), {"mem": "8M", "cpus": 1}),
    )
}


def preset_names() -> list[str]:
    return list(PRESETS)


def get_machine(name: str, mem: str | None = None, cpus: int | None = None,
                nodes: int | None = None, cma: str | None = None,
                swap: str | None = None) -> Machine:
    """A preset by name (with options), or a machine file if ``name`` is a path to TOML;
    ``swap`` (a size: 256M) gives either a swap device."""
    m = _get_machine(name, mem, cpus, nodes, cma)
    if swap is not None:
        size = parse_size(swap, "--swap")
        if size < 0 or size % 4096:
            raise KmemsimError(f"--swap {swap}: give a size in whole pages (4K multiples)")
        m.swap_pages = size // 4096
        m.validate()
    return m


def _get_machine(name, mem, cpus, nodes, cma) -> Machine:
    if name.endswith(".toml") or Path(name).is_file():
        if mem is not None or nodes is not None or cma is not None:
            raise KmemsimError(f"{name}: --mem, --nodes and --cma apply to presets only; edit "
                               "the file")
        m = load_toml(name)
        if cpus is not None:
            m.cpus = cpus
            m.validate()
        return m
    preset = PRESETS.get(name)
    if preset is None:
        raise KmemsimError(f"unknown machine {name!r}: use one of {', '.join(PRESETS)} or a "
                           "TOML file (see 'kmemsim machines')")
    kwargs = {}
    if mem is not None:
        kwargs["mem"] = mem
    if cpus is not None:
        if not 1 <= cpus <= 64:
            raise KmemsimError(f"--cpus {cpus}: use 1..64")
        kwargs["cpus"] = cpus
    if nodes is not None:
        kwargs["nodes"] = nodes
    if cma is not None:
        if name not in ("x86_64", "numa"):
            raise KmemsimError(f"--cma: only the x86_64 and numa presets take a CMA area")
        kwargs["cma"] = cma
    return preset.build(**kwargs)
