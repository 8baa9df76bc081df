"""Differential tests: the same operations in python mode and in compiled mode.

Both modes run the very same kernel functions (kmemsim.jit), one as Python, one compiled by
numba.  Replaying one long random sequence through each must give the same pfn for every
allocation, the same failures, and in the end the very same state, array by array.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

import kmemsim
from kmemsim.mm.gfp import parse_gfp
from kmemsim.mm.mmzone import MAX_ORDER, NR_FREE_PAGES

GFPS = ["GFP_KERNEL", "GFP_HIGHUSER_MOVABLE", "GFP_KERNEL|__GFP_RECLAIMABLE", "GFP_ATOMIC",
        "GFP_KERNEL|__GFP_DMA", "GFP_NOWAIT"]
MACHINE = ("x86_64", {"mem": "256M"})
N_OPS = 20_000



def free_pages_now(k, zone):
    """NR_FREE_PAGES with every CPU's pending delta (zone_page_state_snapshot, unclamped)."""
    return (int(k.mem.vm_stat[zone, NR_FREE_PAGES])
            + int(k.mem.vm_stat_diff[:, zone, NR_FREE_PAGES].astype("int64").sum()))

def boot(mode):
    name, kw = MACHINE
    return kmemsim.boot(name, mode=mode, **kw)


def assert_same_mem(a, b, when):
    assert a._fields == b._fields
    for field in a._fields:
        x, y = getattr(a, field), getattr(b, field)
        assert x.dtype == y.dtype and x.shape == y.shape, f"{when}: Mem.{field} differs in type"
        if not np.array_equal(x, y):
            where = np.argwhere(x != y)[:5].tolist()
            raise AssertionError(f"{when}: Mem.{field} differs at {where}")


def make_ops(n, seed):
    """(kind, order, gfp index, pick) rows.  The allocation share alternates between phases of
    0.7 (the zones run out and stay nearly full: fallbacks, MIGRATE_RESERVE, failures) and 0.35
    (they drain and blocks merge back)."""
    rng = np.random.default_rng(seed)
    phase = (np.arange(n) // 2500) % 2
    p_alloc = np.where(phase == 0, 0.7, 0.35)
    kind = (rng.random(n) >= p_alloc).astype(np.int64)          # 0 alloc, 1 free
    small = rng.integers(0, 4, n)
    large = rng.integers(0, MAX_ORDER, n)
    order = np.where(rng.random(n) < 0.6, small, large)
    gfp = rng.integers(0, len(GFPS), n)
    pick = rng.random(n)
    return list(zip(kind.tolist(), order.tolist(), gfp.tolist(), pick.tolist()))


def replay(k, ops, checkpoints=()):
    """Run ``ops`` on ``k``; the outcome of every operation, and the state at checkpoints."""
    live, outcome, states = [], [], {}
    for i, (kind, order, g, pick) in enumerate(ops):
        if kind == 0 or not live:
            a = k.buddy_alloc(order, GFPS[g])
            if a is None:
                outcome.append(("fail", order, g))
            else:
                outcome.append((a.pfn, a.order, a.zone, a.migratetype))
                live.append(a)
        else:
            j = int(pick * len(live))
            live[j], live[-1] = live[-1], live[j]
            a = live.pop()
            k.buddy_free(a)
            outcome.append(("free", a.pfn))
        if i in checkpoints:
            k.check()
            states[i] = tuple(np.copy(x) for x in k.mem)
    return live, outcome, states


@pytest.fixture(scope="module")
def both_replayed():
    ops = make_ops(N_OPS, seed=20240313)
    checkpoints = set(range(999, N_OPS, 2000))
    runs = {}
    for mode in ("python", "compiled"):
        k = boot(mode)
        boot_mem = tuple(np.copy(x) for x in k.mem)
        live, outcome, states = replay(k, ops, checkpoints)
        runs[mode] = (k, boot_mem, live, outcome, states)
    return runs


def test_boot_state_is_identical(both_replayed):
    py, co = both_replayed["python"], both_replayed["compiled"]
    assert_same_mem(type(py[0].mem)(*py[1]), type(co[0].mem)(*co[1]), "after boot")


def test_every_allocation_gets_the_same_pfn(both_replayed):
    py_out = both_replayed["python"][3]
    co_out = both_replayed["compiled"][3]
    assert len(py_out) == len(co_out) == N_OPS
    first = next((i for i, (x, y) in enumerate(zip(py_out, co_out)) if x != y), None)
    assert first is None, f"operation {first}: python {py_out[first]}, compiled {co_out[first]}"
    # the sequence really exercised both success and failure, in both zones
    fails = sum(1 for o in py_out if o[0] == "fail")
    frees = sum(1 for o in py_out if o[0] == "free")
    allocs = N_OPS - fails - frees
    assert fails > 100 and frees > 5000 and allocs > 5000
    zones = {o[2] for o in py_out if isinstance(o[0], int)}
    assert zones == {"DMA", "DMA32"}
    migratetypes = {o[3] for o in py_out if isinstance(o[0], int)}
    assert migratetypes == {"Unmovable", "Reclaimable", "Movable"}


def test_state_identical_at_checkpoints_and_end(both_replayed):
    py, co = both_replayed["python"], both_replayed["compiled"]
    assert sorted(py[4]) == sorted(co[4]) and len(py[4]) == 10
    Mem = type(py[0].mem)
    for i in sorted(py[4]):
        assert_same_mem(Mem(*py[4][i]), Mem(*co[4][i]), f"after operation {i}")
    py[0].check()
    co[0].check()
    assert_same_mem(py[0].mem, co[0].mem, "at the end")
    assert py[0].show("buddyinfo") == co[0].show("buddyinfo")
    assert py[0].show("pagetypeinfo") == co[0].show("pagetypeinfo")


def test_freeing_everything_ends_identical_and_merged(both_replayed):
    """Runs last in this module (pytest keeps file order): it frees what is still live."""
    py, co = both_replayed["python"], both_replayed["compiled"]
    for k, _, live, _, _ in (py, co):
        for a in live:
            k.buddy_free(a)
        k.check()
        assert k.live == {}
    assert_same_mem(py[0].mem, co[0].mem, "after freeing everything")
    # every page came back: the free counts and buddyinfo of boot
    Mem = type(py[0].mem)
    boot_py = Mem(*py[1])
    assert np.array_equal(py[0].mem.vm_stat[:, NR_FREE_PAGES] + py[0].mem.vm_stat_diff[:, :, NR_FREE_PAGES].sum(axis=0),
                          boot_py.vm_stat[:, NR_FREE_PAGES] + boot_py.vm_stat_diff[:, :, NR_FREE_PAGES].sum(axis=0))
    assert np.array_equal(py[0].mem.nr_free, boot_py.nr_free)


# ---- Kernel.replay_buddy_events ---------------------------------------------------------------

def _gen_events():
    path = Path(__file__).resolve().parents[1] / "benchmarks" / "gen_events.py"
    spec = importlib.util.spec_from_file_location("kmemsim_bench_gen_events", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.generate


def replay_by_hand(k, events, gfp):
    """The benchmark's replay loop written with Kernel.alloc/free: its checksum and failures."""
    checksum, failures, allocation = 0, 0, {}
    for i, (kind, arg) in enumerate(events.tolist()):
        if kind == 0:
            a = k.buddy_alloc(arg, gfp)
            if a is None:
                failures += 1
            else:
                allocation[i] = a
                checksum = (checksum + a.pfn * 31 + arg) & 0xFFFFFFFFFFFFFFFF
        elif arg in allocation:
            k.buddy_free(allocation.pop(arg))
    return checksum, failures


@pytest.mark.parametrize("overcommit", [1.0, 2.5])
def test_replay_buddy_events_same_in_both_modes(overcommit):
    """The one-call replay loop gives the same checksum, failures and arrays in both modes,
    and the same checksum as the same events replayed through Kernel.alloc/free.  With the
    generator's fill band set above the zone's size (overcommit 2.5), allocations fail and the
    frees of failed allocations are skipped."""
    generate = _gen_events()
    gfp = "GFP_HIGHUSER_MOVABLE"
    results, kernels = {}, {}
    for mode in ("python", "compiled"):
        k = boot(mode)
        zone = k.preferred_zone(parse_gfp(gfp))
        assert k.zone_name(zone) == "DMA32"
        zone_pages = int(free_pages_now(k, zone) * overcommit)
        events = generate(8000, zone_pages, seed=7)
        results[mode] = k.replay_buddy_events(events, zone=zone, gfp=gfp)
        kernels[mode] = k
    assert results["python"] == results["compiled"]
    assert_same_mem(kernels["python"].mem, kernels["compiled"].mem, "after the replay")
    r = results["python"]
    assert r["checksum"] != 0
    assert r["free_pages"] == free_pages_now(kernels["python"], zone)
    assert r["nr_free"] == kernels["python"].mem.nr_free[zone].tolist()
    if overcommit > 1:
        assert r["failures"] > 0
    else:
        assert r["failures"] == 0
    by_hand = boot("python")
    assert replay_by_hand(by_hand, events, gfp) == (r["checksum"], r["failures"])
    assert_same_mem(by_hand.mem, kernels["python"].mem, "replayed by hand")
