"""The kernel map (docs/kernel-map.md) is complete and up to date."""

from pathlib import Path

from kmemsim.tools import kernel_map

DOC = Path(__file__).resolve().parents[1] / "docs" / "kernel-map.md"


def test_every_kernel_function_cites_its_origin():
    assert kernel_map.uncited() == []


def test_kernel_map_is_up_to_date():
    assert DOC.read_text() == kernel_map.render(), \
        "regenerate: python -m kmemsim.tools.kernel_map > docs/kernel-map.md"


def test_map_names_the_buddy_core():
    text = DOC.read_text()
    for name in ("__rmqueue_fallback", "try_to_steal_freepages", "move_freepages_block",
                 "expand", "__free_one_page", "setup_zone_migrate_reserve", "memmap_init_zone"):
        assert f"| `{name}` |" in text
