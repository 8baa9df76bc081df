"""Machine descriptions: the presets, the TOML format (load_toml/dump_toml), and the x86_64
preset's zones and managed pages against the real 3.13.11 kernel (../shared/reference)."""

import re
from pathlib import Path

import pytest

import kmemsim
from kmemsim.errors import KmemsimError
from kmemsim.machine import ARCH_ZONES, Machine, _TOP_KEYS, dump_toml, load_toml, parse_size
from kmemsim.presets import PRESETS, get_machine

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "tiny.toml"
REAL = ROOT.parent / "shared" / "reference" / "real-3.13"

ALL_PRESETS = [("x86_64", "1G"), ("x86_64", "4G"), ("numa", None), ("tiny", None),
               ("arndale", None)]


def preset_id(p):
    return f"{p[0]}-{p[1] or 'default'}"


# ---- presets ---------------------------------------------------------------------------------

def test_preset_names_in_order():
    assert list(PRESETS) == ["x86_64", "arndale", "numa", "tiny"]


@pytest.mark.parametrize("preset", ALL_PRESETS, ids=preset_id)
def test_preset_builds_and_validates(preset):
    name, mem = preset
    m = get_machine(name, mem=mem)
    assert isinstance(m, Machine)
    assert m.validate() is m
    assert m.arch in ARCH_ZONES
    assert set(m.nodes[0].zones) <= set(m.zone_types)


@pytest.mark.parametrize("preset", ALL_PRESETS, ids=preset_id)
def test_dump_then_load_round_trips(preset, tmp_path):
    name, mem = preset
    m = get_machine(name, mem=mem)
    path = tmp_path / f"{name}.toml"
    path.write_text(dump_toml(m))
    back = load_toml(path)
    assert back == m
    # and the text is stable: dumping what was loaded gives the same file
    assert dump_toml(back) == path.read_text()


def test_tiny_preset_numbers():
    m = get_machine("tiny")
    assert (m.arch, m.pageblock_order, m.memory_model, m.total_pages) == \
        ("generic", 6, "flatmem", 2048)
    node = m.nodes[0]
    assert node.zones["Normal"].start == 0 and node.zones["Normal"].end == 2048
    assert [(r.start, r.end, r.name) for r in node.reserved] == [(256, 320, "kernel")]


# ---- sizes -----------------------------------------------------------------------------------

@pytest.mark.parametrize("value,nbytes", [
    (4096, 4096), ("4096", 4096), ("0x1000", 4096), ("0X100000", 1 << 20), ("16M", 16 << 20),
    ("16m", 16 << 20), ("16MiB", 16 << 20), ("4K", 4096), ("1.5G", 3 << 29), ("0.5K", 512), ("2G", 2 << 30),
    ("1T", 1 << 40), (0, 0),
])
def test_parse_size(value, nbytes):
    assert parse_size(value, "x") == nbytes


@pytest.mark.parametrize("value,message", [
    ("3X", "--mem: cannot read '3X': write bytes (4096), hex (0x1000) or a size with a unit "
           "(16M, 4G)"),
    (-1, "--mem: -1 is negative"),
    (True, "--mem: True is not a size or an address"),
    ("0.5", "--mem: '0.5' is not a whole number of bytes"),
    ("1.0001K", "--mem: '1.0001K' is not a whole number of bytes"),
])
def test_parse_size_refuses(value, message):
    with pytest.raises(KmemsimError) as e:
        parse_size(value, "--mem")
    assert str(e.value) == message


def test_sizes_with_units_hex_and_integers_give_the_same_machine(tmp_path):
    forms = {
        "units": ('"0"', '"16M"', '"1M"', '"1M"'),
        "hex": ('"0x0"', '"0x1000000"', '"0x100000"', '"0x100000"'),
        "ints": ("0", str(16 << 20), str(1 << 20), str(1 << 20)),
    }
    machines = []
    for label, (start, end, rstart, rsize) in forms.items():
        p = tmp_path / f"{label}.toml"
        p.write_text(f'name = "m"\narch = "generic"\n[[node]]\n'
                     f'zones = [ {{ type = "Normal", start = {start}, end = {end} }} ]\n'
                     f'reserved = [ {{ start = {rstart}, size = {rsize}, name = "k" }} ]\n')
        machines.append(load_toml(p))
    assert machines[0] == machines[1] == machines[2]
    node = machines[0].nodes[0]
    assert (node.zones["Normal"].start, node.zones["Normal"].end) == (0, 4096)
    assert [(r.start, r.end) for r in node.reserved] == [(256, 512)]
    assert [(r.start, r.end) for r in node.memory] == [(0, 4096)]   # memory defaults to zones


# ---- TOML errors: one line each, naming the input and the fix ---------------------------------

def write(tmp_path, name, text):
    path = tmp_path / f"{name}.toml"
    path.write_text(text)
    return path


def load_error(path) -> str:
    with pytest.raises(KmemsimError) as e:
        load_toml(path)
    message = str(e.value)
    assert "\n" not in message
    return message


def test_two_zones_of_one_node_overlapping(tmp_path):
    p = write(tmp_path, "overlap", 'arch = "x86_64"\n[[node]]\nzones = [\n'
              '  { type = "DMA", start = 0, end = "16M" },\n'
              '  { type = "DMA32", start = "8M", end = "32M" },\n]\n')
    assert load_error(p) == (f"{p} node 0: zones overlap: DMA ends at pfn 0x1000 "
                             "after DMA32 starts at pfn 0x800")


def test_zones_of_two_nodes_overlapping(tmp_path):
    p = write(tmp_path, "nodes", 'arch = "generic"\nnuma = true\n'
              '[[node]]\nzones = [ { type = "Normal", start = 0, end = "16M" } ]\n'
              '[[node]]\nzones = [ { type = "Normal", start = "8M", end = "32M" } ]\n')
    assert load_error(p) == (f"{p}: zones overlap: node 0 Normal [0x0, 0x1000) and "
                             "node 1 Normal [0x800, 0x2000) (pfns)")


def test_zones_out_of_type_order_are_refused(tmp_path):
    # DMA32 below DMA: the spans do not intersect, but zone types must ascend with addresses
    p = write(tmp_path, "order", 'arch = "x86_64"\n[[node]]\nzones = [\n'
              '  { type = "DMA32", start = 0, end = "16M" },\n'
              '  { type = "DMA", start = "16M", end = "32M" },\n]\n')
    message = load_error(p)
    assert message.startswith(f"{p} node 0: ")
    assert message == (f"{p} node 0: zone DMA32 lies below zone DMA: zones go up in address "
                       "in the order DMA, DMA32, Normal, Movable")


def test_zones_out_of_type_order_message_names_the_order(tmp_path):
    p = write(tmp_path, "order", 'arch = "x86_64"\n[[node]]\nzones = [\n'
              '  { type = "DMA32", start = 0, end = "16M" },\n'
              '  { type = "DMA", start = "16M", end = "32M" },\n]\n')
    message = load_error(p)
    assert "overlap" not in message and "DMA, DMA32, Normal, Movable" in message


@pytest.mark.parametrize("zone,message", [
    ('start = "0x800", end = "16M"', "start 0x800 is not page-aligned (a multiple of 0x1000)"),
    ("start = 0, end = 4097", "end 0x1001 is not page-aligned (a multiple of 0x1000)"),
    ('start = 0, size = "6K"', "end 0x1800 is not page-aligned (a multiple of 0x1000)"),
])
def test_unaligned_start_or_end(tmp_path, zone, message):
    p = write(tmp_path, "align", f'arch = "generic"\n[[node]]\n'
              f'zones = [ {{ type = "Normal", {zone} }} ]\n')
    assert load_error(p) == f"{p}: node 0 zone Normal: {message}"


def test_end_below_start(tmp_path):
    p = write(tmp_path, "back", 'arch = "generic"\n[[node]]\n'
              'zones = [ { type = "Normal", start = "16M", end = "8M" } ]\n')
    assert load_error(p) == f"{p}: node 0 zone Normal: end 0x800000 is below start 0x1000000"


def test_unknown_key(tmp_path):
    p = write(tmp_path, "key", 'arch = "generic"\npageblok_order = 9\n[[node]]\n'
              'zones = [ { type = "Normal", start = 0, end = "16M" } ]\n')
    assert load_error(p) == (f"{p}: unknown key 'pageblok_order': the keys are "
                             + ", ".join(sorted(_TOP_KEYS)))
    assert "pageblock_order" in _TOP_KEYS


def test_unknown_arch(tmp_path):
    p = write(tmp_path, "arch", 'arch = "sparc"\n[[node]]\n'
              'zones = [ { type = "Normal", start = 0, end = "16M" } ]\n')
    assert load_error(p) == f"{p}: unknown arch 'sparc': use one of x86_64, arm, generic"


def test_unknown_zone_type(tmp_path):
    p = write(tmp_path, "ztype", 'arch = "generic"\n[[node]]\n'
              'zones = [ { type = "DMA", start = 0, end = "16M" } ]\n')
    assert load_error(p) == (f"{p} node 0: zone type 'DMA' does not exist on "
                             "generic: use Normal, Movable")


def test_zone_without_type(tmp_path):
    p = write(tmp_path, "notype", 'arch = "generic"\n[[node]]\n'
              'zones = [ { start = 0, end = "16M" } ]\n')
    assert load_error(p) == f"{p}: node 0 zone 0: needs a type (Normal, Movable)"


def test_no_node(tmp_path):
    p = write(tmp_path, "empty", 'arch = "generic"\n')
    assert load_error(p) == f"{p}: has no node"


def test_invalid_toml_syntax(tmp_path):
    p = write(tmp_path, "syntax", 'arch = "generic\n[[node]]\n')
    message = load_error(p)
    assert message.startswith(f"{p}: not valid TOML: ")
    assert "line 1" in message


def test_missing_file(tmp_path):
    p = tmp_path / "missing.toml"
    assert load_error(p) == (f"{p}: no such machine file (a preset name is one of "
                             "'kmemsim machines')")


@pytest.mark.parametrize("text", ['cpus = "two"', "node = 3"])
def test_wrongly_typed_value_is_one_error_line(tmp_path, text):
    p = write(tmp_path, "typed", f'arch = "generic"\n{text}\n')
    load_error(p)


def test_a_string_for_a_boolean_is_refused(tmp_path):
    p = write(tmp_path, "strbool", 'arch = "generic"\nthp = "false"\n[[node]]\n'
              'zones = [ { type = "Normal", start = 0, end = "16M" } ]\n')
    assert "thp" in load_error(p)


def test_unknown_key_inside_a_node(tmp_path):
    p = write(tmp_path, "nodekey", 'arch = "generic"\n[[node]]\n'
              'zones = [ { type = "Normal", start = 0, end = "16M" } ]\nmemroy = []\n')
    assert "memroy" in load_error(p)


# ---- examples/tiny.toml ----------------------------------------------------------------------

def test_example_machine_file_loads():
    m = load_toml(EXAMPLE)
    assert (m.name, m.arch, m.pageblock_order, m.total_pages, m.cpus) == \
        ("tiny-16M", "generic", 9, 4096, 1)
    assert [(r.start, r.end, r.name) for r in m.nodes[0].reserved] == [(256, 512, "kernel")]


def test_example_machine_file_boots():
    k = kmemsim.boot(str(EXAMPLE), slab=False)       # the layout before any slab page
    # free: pfns [0, 256) (one order-8 block, below the 1 MiB kernel), [512, 1024) (order 9)
    # and [1024, 4096) (three order-10 blocks)
    assert k.show("buddyinfo") == ("Node 0, zone   Normal      0      0      0      0      0"
                                   "      0      0      0      1      1      3 \n")
    assert "Built 1 zonelists in Zone order, mobility grouping on.  Total pages: 4032" in k.dmesg
    k.check()


# ---- the x86_64 preset against the real 3.13.11 kernel ----------------------------------------

def parse_zoneinfo(text: str) -> dict[str, dict[str, int]]:
    """{zone name: {start_pfn, spanned, present, managed}} of node 0 from /proc/zoneinfo."""
    zones, current = {}, None
    for line in text.splitlines():
        m = re.match(r"Node (\d+), zone\s+(\S+)", line)
        if m:
            current = zones.setdefault(m.group(2), {}) if m.group(1) == "0" else None
            continue
        m = re.match(r"\s+(start_pfn:|spanned|present|managed)\s+(\d+)$", line)
        if m and current is not None:
            current[m.group(1).rstrip(":")] = int(m.group(2))
    return zones


def real_zoneinfo(which: str) -> dict[str, dict[str, int]]:
    path = REAL / which / "zoneinfo"
    if not path.exists():
        pytest.skip(f"{path} is absent: the real-3.13 reference lives in ../shared beside the "
                    "repository")
    return parse_zoneinfo(path.read_text())


REAL_DIRS = {"128M": "trace-128M-pressure", "1G": "1G", "4G": "4G"}


@pytest.fixture(scope="module", params=["128M", "1G", "4G"])
def booted(request):
    return request.param, kmemsim.boot("x86_64", mem=request.param)


def kmemsim_zones(k) -> dict[str, dict[str, int]]:
    m = k.mem
    return {k.zone_name(z): {"start_pfn": int(m.zone_start_pfn[z]),
                             "spanned": int(m.spanned_pages[z]),
                             "present": int(m.present_pages[z]),
                             "managed": int(m.managed_pages[z])}
            for z in range(k.machine.max_nr_zones) if m.present_pages[z]}


def test_reference_values_as_the_brief_states():
    """The parser reads what the real files say (guards the parser itself)."""
    z1, z4 = real_zoneinfo("1G"), real_zoneinfo("4G")
    assert {k: z1["DMA"][k] for k in ("start_pfn", "spanned", "present")} == \
        {"start_pfn": 1, "spanned": 4095, "present": 3998}
    assert {k: z1["DMA32"][k] for k in ("start_pfn", "spanned", "present")} == \
        {"start_pfn": 4096, "spanned": 258016, "present": 258016}
    assert {k: z4["DMA32"][k] for k in ("spanned", "present")} == \
        {"spanned": 1044480, "present": 782304}
    assert {k: z4["Normal"][k] for k in ("start_pfn", "spanned", "present")} == \
        {"start_pfn": 1048576, "spanned": 262144, "present": 262144}


def test_zone_spans_equal_the_real_kernel(booted):
    mem, k = booted
    real = real_zoneinfo(REAL_DIRS[mem])
    ours = kmemsim_zones(k)
    assert sorted(ours) == sorted(z for z in real if real[z].get("present"))
    for zone, values in ours.items():
        for key in ("start_pfn", "spanned", "present"):
            assert values[key] == real[zone][key], (mem, zone, key)


def test_machine_description_zone_spans_equal_the_real_kernel():
    """The Machine itself (before boot) has the real spans too."""
    for mem in ("1G", "4G"):
        real = real_zoneinfo(mem)
        zones = get_machine("x86_64", mem=mem).nodes[0].zones
        for name, values in real.items():
            if values.get("present"):
                span = zones[name]
                assert (span.start, span.pages) == (values["start_pfn"], values["spanned"])


def test_managed_pages_within_one_percent_of_the_real_kernel(booted):
    mem, k = booted
    real = real_zoneinfo(REAL_DIRS[mem])
    ours = kmemsim_zones(k)
    for zone, values in ours.items():
        assert abs(values["managed"] - real[zone]["managed"]) <= 0.01 * real[zone]["managed"], \
            (mem, zone, values["managed"], real[zone]["managed"])
    total_ours = sum(v["managed"] for v in ours.values())
    total_real = sum(real[z]["managed"] for z in ours)
    assert abs(total_ours - total_real) <= 0.01 * total_real


# ---- reservations given back during boot (freed_by) ------------------------------------------

def test_freed_by_gives_a_reservation_back_at_its_stage(tmp_path):
    p = write(tmp_path, "initmem", 'arch = "generic"\n[[node]]\n'
              'zones = [ { type = "Normal", start = 0, end = "16M" } ]\n'
              'reserved = [ { start = "1M", size = "1M", name = "init", '
              'freed_by = "free_initmem" } ]\n')
    k = kmemsim.boot(str(p), slab=False)
    assert "Freeing init memory: 1024K" in k.dmesg
    # the 1 MiB hole is gone: four whole order-10 blocks
    assert k.show("buddyinfo") == ("Node 0, zone   Normal      0      0      0      0      0"
                                   "      0      0      0      0      0      4 \n")
    k.check()


def test_unknown_freed_by_stage_is_refused(tmp_path):
    p = write(tmp_path, "typo", 'arch = "generic"\n[[node]]\n'
              'zones = [ { type = "Normal", start = 0, end = "16M" } ]\n'
              'reserved = [ { start = "1M", size = "1M", name = "init", '
              'freed_by = "free_initmme" } ]\n')
    assert "free_initmme" in load_error(p)
