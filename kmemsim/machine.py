"""Machine descriptions: nodes, zones, memory, early reservations, CPUs, configuration.

A description is data, not code: the presets build one (:mod:`kmemsim.presets`), and a user can
write one as a TOML file (:func:`load_toml`; ``kmemsim machines --dump NAME`` prints a preset in
that form, ready to edit).  Addresses in a TOML file are byte addresses (``"0x100000"``, ``4096``)
or sizes with a unit (``"16M"``, ``"4G"``); they must be page-aligned.

Terms follow the kernel: *memory* is memblock.memory (the pages that exist), *reserved* is
memblock.reserved as it stands when the buddy allocator takes over and after boot has freed its
init sections (the pages that are never handed to the buddy allocator), *zones* are the spans
free_area_init_nodes() computes.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from kmemsim.errors import KmemsimError
from kmemsim.mm.mmzone import MAX_ORDER, PAGE_SHIFT, PAGE_SIZE

__all__ = ["Range", "Node", "Machine", "ARCH_ZONES", "parse_size", "format_size",
           "load_toml", "dump_toml"]

# The zone types each architecture configures, in enum zone_type order.
ARCH_ZONES = {
    "x86_64": ("DMA", "DMA32", "Normal", "Movable"),   # CONFIG_ZONE_DMA, CONFIG_ZONE_DMA32
    "arm": ("Normal", "HighMem", "Movable"),          # 32-bit ARM with HIGHMEM, no ZONE_DMA
    "generic": ("Normal", "Movable"),                 # no DMA, DMA32 or HIGHMEM zone
}
STRUCT_PAGE_SIZE = {"x86_64": 64, "arm": 32, "generic": 64}

_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


def parse_size(value, what: str) -> int:
    """Bytes from ``4096``, ``"0x1000"``, ``"16M"``, ``"1.5G"``; a KmemsimError otherwise."""
    if isinstance(value, bool):
        raise KmemsimError(f"{what}: {value!r} is not a size or an address")
    if isinstance(value, int):
        if value < 0:
            raise KmemsimError(f"{what}: {value} is negative")
        return value
    text = str(value).strip()
    if re.fullmatch(r"0[xX][0-9a-fA-F]+", text):
        return int(text, 16)
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*([KMGT]?)(?:i?B)?", text, re.IGNORECASE)
    if not m:
        raise KmemsimError(f"{what}: cannot read {value!r}: write bytes (4096), hex (0x1000) "
                           "or a size with a unit (16M, 4G)")
    number, unit = m.groups()
    nbytes = float(number) * _UNITS[unit.upper()]
    if nbytes != int(nbytes):
        raise KmemsimError(f"{what}: {value!r} is not a whole number of bytes")
    return int(nbytes)


def format_size(nbytes: int) -> str:
    for unit in ("T", "G", "M", "K"):
        if nbytes and nbytes % _UNITS[unit] == 0:
            return f"{nbytes // _UNITS[unit]}{unit}"
    return hex(nbytes)


@dataclass(frozen=True)
class Range:
    """A pfn range [start, end), with a label for reservations.

    ``freed_by`` names the boot stage that gives a reservation back to the buddy allocator
    page by page (free_reserved_area: the initrd, the kernel's init sections); ``va`` is the
    virtual address of pfn 0 in the mapping the kernel prints for it (0: print none)."""

    start: int
    end: int
    name: str = ""
    freed_by: str = ""
    va: int = 0

    @property
    def pages(self) -> int:
        return self.end - self.start


@dataclass
class Node:
    """One NUMA node (pg_data_t): its zones' spans, its memory and its early reservations."""

    nid: int
    zones: dict[str, Range]                  # zone type name -> span (populated or not)
    memory: list[Range]                      # memblock.memory regions of this node
    reserved: list[Range] = field(default_factory=list)

    @property
    def start_pfn(self) -> int:
        return min(r.start for r in self.memory)

    @property
    def end_pfn(self) -> int:
        return max(r.end for r in self.memory)


@dataclass
class Machine:
    """Everything kmemsim needs to boot a machine the way Linux 3.13 would."""

    name: str
    description: str
    arch: str
    nodes: list[Node]
    cpus: int = 1
    hz: int = 1000
    pageblock_order: int = 9
    memory_model: str = "sparsemem"          # sparsemem | flatmem
    numa: bool = False                       # CONFIG_NUMA
    cma: bool = False                        # CONFIG_CMA
    memory_isolation: bool = False           # CONFIG_MEMORY_ISOLATION
    thp: bool = False                        # CONFIG_TRANSPARENT_HUGEPAGE, "always"
    hugetlb: bool = False                    # CONFIG_HUGETLB_PAGE
    dma_reserve: int = 0                     # pages, set_dma_reserve() (x86: below 16 MiB)
    bootmem: str = "nobootmem"               # nobootmem (memblock) | bootmem (mm/bootmem.c bitmap)
    bootmem_bitmap: Range | None = None      # pages of the bootmem bitmap, freed after its walk
    swap_pages: int = 0                      # swap space (pages); 0: anonymous memory stays
    max_owners: int = 1024                   # tasks + files + kernel threads a run may create
    slab: bool = True                        # False: boot without kmem_cache_init (the buddy
                                             # allocator alone, nothing allocated at boot)
    sources: dict[str, str] = field(default_factory=dict)   # where the numbers come from

    @property
    def zone_types(self) -> tuple[str, ...]:
        return ARCH_ZONES[self.arch]

    @property
    def max_nr_zones(self) -> int:
        return len(self.zone_types)

    @property
    def struct_page_size(self) -> int:
        return STRUCT_PAGE_SIZE[self.arch]

    @property
    def max_pfn(self) -> int:
        return max(n.end_pfn for n in self.nodes)

    @property
    def phys_offset(self) -> int:
        """PHYS_OFFSET: the physical address PAGE_OFFSET maps (32-bit ARM: the start of
        RAM; x86_64 and the made-up machine: 0)."""
        if self.arch != "arm":
            return 0
        return min(r.start for n in self.nodes for r in n.memory) << 12

    @property
    def total_pages(self) -> int:
        return sum(r.pages for n in self.nodes for r in n.memory)

    def validate(self, origin: str | None = None) -> "Machine":
        """Refuse what the kernel could not boot, with one line naming the problem (and the
        file it came from)."""
        where = origin or f"machine {self.name!r}"
        if self.arch not in ARCH_ZONES:
            raise KmemsimError(f"{where}: unknown arch {self.arch!r}: use one of "
                               f"{', '.join(ARCH_ZONES)}")
        if not 0 <= self.pageblock_order <= MAX_ORDER - 1:
            raise KmemsimError(f"{where}: pageblock_order {self.pageblock_order} is outside "
                               f"0..{MAX_ORDER - 1}")
        if self.memory_model not in ("sparsemem", "flatmem"):
            raise KmemsimError(f"{where}: memory_model must be sparsemem or flatmem")
        if not 1 <= self.cpus <= 64:
            raise KmemsimError(f"{where}: cpus {self.cpus} is outside 1..64")
        if self.swap_pages < 0:
            raise KmemsimError(f"{where}: swap_pages {self.swap_pages} must be 0 or more")
        if not 16 <= self.max_owners <= 1 << 20:
            raise KmemsimError(f"{where}: max_owners {self.max_owners} is outside 16..1048576")
        if self.bootmem not in ("nobootmem", "bootmem"):
            raise KmemsimError(f"{where}: bootmem must be nobootmem or bootmem")
        if not self.nodes:
            raise KmemsimError(f"{where}: has no node")
        if len(self.nodes) > 1 and not self.numa:
            raise KmemsimError(f"{where}: {len(self.nodes)} nodes need numa = true")
        spans: list[tuple[Range, str]] = []
        for node in self.nodes:
            self._validate_node(node, where, spans)
        spans.sort(key=lambda item: item[0].start)
        for (a, an), (b, bn) in zip(spans, spans[1:]):
            if b.start < a.end:
                raise KmemsimError(f"{where}: zones overlap: {an} [{a.start:#x}, {a.end:#x}) "
                                   f"and {bn} [{b.start:#x}, {b.end:#x}) (pfns)")
        return self

    def _validate_node(self, node: Node, where: str, spans: list) -> None:
        where = f"{where} node {node.nid}"
        if not node.memory:
            raise KmemsimError(f"{where}: has no memory")
        for name, span in node.zones.items():
            if name not in self.zone_types:
                raise KmemsimError(f"{where}: zone type {name!r} does not exist on "
                                   f"{self.arch}: use {', '.join(self.zone_types)}")
            if span.end < span.start:
                raise KmemsimError(f"{where}: zone {name} ends before it starts")
            if span.pages:
                spans.append((span, f"node {node.nid} {name}"))
        order = [z for z in self.zone_types if z in node.zones and node.zones[z].pages]
        for lower, upper in zip(order, order[1:]):
            zl, zu = node.zones[lower], node.zones[upper]
            if zu.start >= zl.start and zu.start < zl.end:
                raise KmemsimError(f"{where}: zones overlap: {lower} ends at pfn {zl.end:#x} "
                                   f"after {upper} starts at pfn {zu.start:#x}")
            if zu.start < zl.start:
                raise KmemsimError(f"{where}: zone {upper} lies below zone {lower}: zones go up "
                                   f"in address in the order {', '.join(self.zone_types)}")
        for r in node.memory:
            if not any(z.start <= r.start and r.end <= z.end for z in node.zones.values()
                       if z.pages) and not self._covered(node, r):
                raise KmemsimError(f"{where}: memory [{r.start << PAGE_SHIFT:#x}, "
                                   f"{r.end << PAGE_SHIFT:#x}) lies outside its zones")
        align = max(MAX_ORDER - 1, self.pageblock_order)
        for r in node.reserved:
            if r.freed_by != CMA_STAGE:
                continue
            if not self.cma:
                raise KmemsimError(f"{where}: a CMA area ({r.name or 'freed_by ' + CMA_STAGE}) "
                                   "needs cma = true (CONFIG_CMA)")
            if r.start % (1 << align) or r.pages % (1 << align):
                raise KmemsimError(f"{where}: CMA area at {r.start << PAGE_SHIFT:#x} must start "
                                   f"and end on a {(1 << align) * PAGE_SIZE >> 20} MiB boundary "
                                   "(dma_contiguous_reserve_area aligns to MAX_ORDER blocks)")
        mem = sorted(node.memory, key=lambda r: r.start)
        for a, b in zip(mem, mem[1:]):
            if b.start < a.end:
                raise KmemsimError(f"{where}: memory ranges overlap at "
                                   f"{b.start << PAGE_SHIFT:#x}")

    @staticmethod
    def _covered(node: Node, r: Range) -> bool:
        """Whether the zones of ``node`` together cover ``r`` without a gap."""
        pos = r.start
        for z in sorted(node.zones.values(), key=lambda z: z.start):
            if z.start <= pos < z.end:
                pos = z.end
        return pos >= r.end


# ---- TOML ------------------------------------------------------------------------------------

# Boot stages that give reservations back (kmemsim.kernel.BOOT_STAGES runs them in this order)
FREEING_STAGES = ("check_bugs", "cma_init_reserved_areas", "populate_rootfs", "free_initmem",
                  "mark_rodata_ro")
CMA_STAGE = "cma_init_reserved_areas"      # gives CMA areas back as MIGRATE_CMA pageblocks

_NODE_KEYS = {"nid", "zones", "memory", "reserved"}
_RANGE_KEYS = {"start", "end", "size", "name", "type", "freed_by", "va"}


def _typed(data: dict, key: str, kind, default, origin: str):
    """data[key] checked against ``kind`` (int, bool or str): one error line otherwise."""
    if key not in data:
        return default
    value = data[key]
    ok = isinstance(value, kind) and not (kind is int and isinstance(value, bool))
    if not ok:
        names = {int: "a whole number", bool: "true or false", str: "a string"}
        raise KmemsimError(f"{origin}: {key} = {value!r} must be {names[kind]}")
    return value


_TOP_KEYS = {"name", "description", "arch", "cpus", "hz", "pageblock_order", "memory_model",
             "numa", "cma", "memory_isolation", "thp", "hugetlb", "dma_reserve",
             "bootmem", "bootmem_bitmap", "swap_pages", "max_owners", "slab",
             "node", "sources"}


def _pfn_range(item: dict, what: str) -> Range:
    if not isinstance(item, dict) or "start" not in item or not ({"end", "size"} & item.keys()):
        raise KmemsimError(f"{what}: needs start and end (or size)")
    unknown = set(item) - _RANGE_KEYS
    if unknown:
        raise KmemsimError(f"{what}: unknown key {sorted(unknown)[0]!r}: use start, end or "
                           "size, and name/freed_by/va for reservations")
    freed_by = str(item.get("freed_by", ""))
    if freed_by and freed_by not in FREEING_STAGES:
        raise KmemsimError(f"{what}: freed_by {freed_by!r} is not a boot stage that frees "
                           f"memory: use one of {', '.join(FREEING_STAGES)}")
    start = parse_size(item["start"], f"{what} start")
    end = (parse_size(item["end"], f"{what} end") if "end" in item
           else start + parse_size(item["size"], f"{what} size"))
    for label, value in (("start", start), ("end", end)):
        if value % PAGE_SIZE:
            raise KmemsimError(f"{what}: {label} {value:#x} is not page-aligned (a multiple of "
                               f"{PAGE_SIZE:#x})")
    if end < start:
        raise KmemsimError(f"{what}: end {end:#x} is below start {start:#x}")
    return Range(start >> PAGE_SHIFT, end >> PAGE_SHIFT, str(item.get("name", "")),
                 str(item.get("freed_by", "")), parse_size(item.get("va", 0), f"{what} va"))


def machine_from_dict(data: dict, origin: str) -> Machine:
    unknown = set(data) - _TOP_KEYS
    if unknown:
        raise KmemsimError(f"{origin}: unknown key {sorted(unknown)[0]!r}: the keys are "
                           f"{', '.join(sorted(_TOP_KEYS))}")
    arch = _typed(data, "arch", str, "generic", origin)
    if arch not in ARCH_ZONES:
        raise KmemsimError(f"{origin}: unknown arch {arch!r}: use one of {', '.join(ARCH_ZONES)}")
    node_list = data.get("node", [])
    if not isinstance(node_list, list) or not all(isinstance(n, dict) for n in node_list):
        raise KmemsimError(f"{origin}: node must be a list of [[node]] tables")
    nodes = []
    for i, nd in enumerate(node_list):
        where = f"{origin}: node {i}"
        unknown = set(nd) - _NODE_KEYS
        if unknown:
            raise KmemsimError(f"{where}: unknown key {sorted(unknown)[0]!r}: the keys are "
                               f"{', '.join(sorted(_NODE_KEYS))}")
        for key in ("zones", "memory", "reserved"):
            if not isinstance(nd.get(key, []), list):
                raise KmemsimError(f"{where}: {key} must be a list of tables")
        zones = {}
        for j, z in enumerate(nd.get("zones", [])):
            zname = z.get("type") if isinstance(z, dict) else None
            if zname is None:
                raise KmemsimError(f"{where} zone {j}: needs a type ({', '.join(ARCH_ZONES[arch])})")
            if zname in zones:
                raise KmemsimError(f"{where}: zone {zname} given twice")
            zones[zname] = _pfn_range(z, f"{where} zone {zname}")
        memory = [_pfn_range(m, f"{where} memory {j}") for j, m in enumerate(nd.get("memory", []))]
        if not memory:
            memory = [Range(z.start, z.end) for z in zones.values() if z.pages]
        reserved = [_pfn_range(r, f"{where} reserved {j}")
                    for j, r in enumerate(nd.get("reserved", []))]
        nodes.append(Node(_typed(nd, "nid", int, i, where), zones, memory, reserved))
    t = lambda key, kind, default: _typed(data, key, kind, default, origin)  # noqa: E731
    m = Machine(
        name=t("name", str, Path(origin).stem), description=t("description", str, ""),
        arch=arch, nodes=nodes, cpus=t("cpus", int, 1), hz=t("hz", int, 1000),
        pageblock_order=t("pageblock_order", int, MAX_ORDER - 1),
        memory_model=t("memory_model", str, "flatmem"),
        numa=t("numa", bool, len(nodes) > 1), cma=t("cma", bool, False),
        memory_isolation=t("memory_isolation", bool, False), thp=t("thp", bool, False),
        hugetlb=t("hugetlb", bool, False),
        dma_reserve=t("dma_reserve", int, 0),
        bootmem=t("bootmem", str, "nobootmem"),
        swap_pages=t("swap_pages", int, 0), max_owners=t("max_owners", int, 1024),
        slab=t("slab", bool, True),
        bootmem_bitmap=(_pfn_range(data["bootmem_bitmap"], f"{origin}: bootmem_bitmap")
                        if "bootmem_bitmap" in data else None),
        sources=dict(data.get("sources", {})),
    )
    return m.validate(origin)


def load_toml(path: str | Path) -> Machine:
    """Read a machine description from a TOML file (see docs/machines.md)."""
    path = Path(path)
    try:
        data = tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise KmemsimError(f"{path}: no such machine file (a preset name is one of "
                           "'kmemsim machines')") from None
    except tomllib.TOMLDecodeError as e:
        raise KmemsimError(f"{path}: not valid TOML: {e}") from None
    return machine_from_dict(data, str(path))


def _addr(pfn: int) -> str:
    return f'"{pfn << PAGE_SHIFT:#x}"'


def dump_toml(m: Machine) -> str:
    """The TOML text of a description; load_toml() reads it back to an equal Machine."""
    lines = [f"# kmemsim machine description (see docs/machines.md)",
             f"name = {m.name!r}".replace("'", '"'),
             f"description = {_quote(m.description)}",
             f'arch = "{m.arch}"', f"cpus = {m.cpus}", f"hz = {m.hz}",
             f"pageblock_order = {m.pageblock_order}", f'memory_model = "{m.memory_model}"',
             f"numa = {str(m.numa).lower()}", f"cma = {str(m.cma).lower()}",
             f"memory_isolation = {str(m.memory_isolation).lower()}",
             f"thp = {str(m.thp).lower()}", f"hugetlb = {str(m.hugetlb).lower()}",
             f"dma_reserve = {m.dma_reserve}",
             f'bootmem = "{m.bootmem}"', f"swap_pages = {m.swap_pages}",
             f"max_owners = {m.max_owners}"]
    if not m.slab:
        lines.append("slab = false")
    if m.bootmem_bitmap is not None:
        lines.append(f"bootmem_bitmap = {{ start = {_addr(m.bootmem_bitmap.start)}, "
                     f"end = {_addr(m.bootmem_bitmap.end)} }}")
    if m.sources:
        lines.append("")
        lines.append("[sources]")
        lines += [f"{_quote(k)} = {_quote(v)}" for k, v in m.sources.items()]
    for node in m.nodes:
        lines += ["", "[[node]]", f"nid = {node.nid}", "zones = ["]
        lines += [f'  {{ type = "{n}", start = {_addr(z.start)}, end = {_addr(z.end)} }},'
                  for n, z in node.zones.items()]
        lines += ["]", "memory = ["]
        lines += [f"  {{ start = {_addr(r.start)}, end = {_addr(r.end)} }}," for r in node.memory]
        lines += ["]", "reserved = ["]
        lines += [f"  {{ start = {_addr(r.start)}, end = {_addr(r.end)}, name = {_quote(r.name)}"
                  + (f", freed_by = {_quote(r.freed_by)}" if r.freed_by else "")
                  + (f', va = "{r.va:#x}"' if r.va else "") + " },"
                  for r in node.reserved]
        lines.append("]")
    return "\n".join(lines) + "\n"


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'
