"""Replay benchmark: kmemsim's buddy core against the C reference.

    python benchmarks/run.py [--events N] [--seed S] [--zone-pages P]
                             [--repeat R] [--check]

Generates the workload into benchmarks/out/, compiles buddy_ref.c there with
gcc -O2 -std=c11, runs it R times (the machines are shared and noisy, so the
minimum and median are both shown), then runs kmemsim's replay if it exists
and compares the results.  See benchmarks/README.md.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "out")
sys.path.insert(0, HERE)
sys.path.insert(1, os.path.dirname(HERE))     # kmemsim itself, when run from a checkout

import gen_events  # noqa: E402

# Keys whose values must agree exactly between implementations.
RESULT_KEYS = ("events", "checksum", "failures", "nr_free", "free_pages")


# ---------------------------------------------------------------------------
# kmemsim side -- TO BE WRITTEN
# ---------------------------------------------------------------------------
def bench_machine(zone_pages: int):
    """One node, one Normal zone of ``zone_pages`` pages from pfn 0, nothing reserved: the
    zone buddy_ref.c models."""
    from kmemsim.machine import Machine, Node, Range
    return Machine(name="bench", description=f"benchmark zone of {zone_pages} pages",
                   arch="generic", pageblock_order=9, memory_model="flatmem",
                   nodes=[Node(0, {"Normal": Range(0, zone_pages), "Movable": Range(0, 0)},
                               [Range(0, zone_pages)], [])]).validate()


def run_kmemsim(events: np.ndarray, zone_pages: int, repeat: int = 3) -> dict:
    """Replay ``events`` in kmemsim's compiled mode on a zone booted as buddy_ref.c boots
    its own (every order-10 block freed in ascending pfn order, no watermarks, so no
    MIGRATE_RESERVE block): best of ``repeat`` runs, each on a freshly booted zone, timing
    the replay call only (one call: the whole loop runs compiled)."""
    import resource

    import kmemsim

    machine = bench_machine(zone_pages)
    warm = kmemsim.boot(machine, mode="compiled", stop_after="mem_init")
    warm.replay_buddy_events(events[:1000].copy())        # compile, or load from cache
    best, result = None, None
    for _ in range(max(1, repeat)):
        k = kmemsim.boot(machine, mode="compiled", stop_after="mem_init")
        t = time.perf_counter()
        r = k.replay_buddy_events(events)
        dt = time.perf_counter() - t
        if best is None or dt < best:
            best, result = dt, r
    mem = k.mem
    per_page = sum(getattr(mem, f).itemsize for f in
                   ("flags", "private", "index", "count", "lru_next", "lru_prev"))
    result.update(events=len(events), ns_per_event=best * 1e9 / len(events),
                  bytes_per_page=per_page,
                  peak_rss_kb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    return result


def run_fast_path(events: np.ndarray, zone_pages: int, pairs: int = 2_000_000) -> dict:
    """The fast-path benchmarks, compiled: order-0 alloc+free pairs through alloc_pages and
    __free_pages (per-CPU list hits), and the same event replay through the whole allocator
    (watermarks, fair batches, per-CPU lists) on the benchmark zone, fully booted."""
    import kmemsim

    machine = bench_machine(zone_pages)
    k = kmemsim.boot(machine, mode="compiled")
    k.fn.alloc_free_pairs(k.mem, 1000, 0xD0)
    t = time.perf_counter()
    fails = k.fn.alloc_free_pairs(k.mem, pairs, 0xD0)
    pair_ns = (time.perf_counter() - t) * 1e9 / pairs
    best = None
    for _ in range(3):
        k = kmemsim.boot(machine, mode="compiled")
        pfn_of_id = np.full(len(events), -1, dtype=np.int32)
        if best is None:
            k.fn.replay_events(k.mem, 0x200DA, events[:1000].copy(), pfn_of_id[:1000].copy())
        t = time.perf_counter()
        checksum, failures = k.fn.replay_events(k.mem, 0x200DA, events, pfn_of_id)
        dt = time.perf_counter() - t
        best = dt if best is None else min(best, dt)
    return {"pair_ns": pair_ns, "pair_failures": int(fails),
            "replay_ns": best * 1e9 / len(events), "replay_failures": int(failures)}


def run_slab(pairs: int = 5_000_000) -> dict:
    """The slab fast path, compiled: kmalloc(64) + kfree pairs on one CPU of a booted 1 GiB
    x86_64 machine (after the first slab, every pair is a fast-path hit both ways), and the
    C reference of the same steps (slub_ref.c) built and run in the same command."""
    import kmemsim

    k = kmemsim.boot("x86_64", mem="1G", mode="compiled")
    k.fn.kmalloc_kfree_pairs(k.mem, 1000, 64, 0xD0)           # compile, or load from cache
    best = None
    for _ in range(3):
        t = time.perf_counter()
        total, fails = k.fn.kmalloc_kfree_pairs(k.mem, pairs, 64, 0xD0)
        dt = (time.perf_counter() - t) * 1e9 / pairs
        best = dt if best is None else min(best, dt)
    exe = os.path.join(OUT, "slub_ref")
    subprocess.run(["gcc", "-O2", "-std=c11", "-o", exe, os.path.join(HERE, "slub_ref.c")],
                   check=True)
    ref = min(json.loads(subprocess.run([exe, str(pairs)], check=True, capture_output=True,
                                        text=True).stdout)["ns_per_pair"] for _ in range(3))
    return {"pair_ns": best, "failures": int(fails), "ref_ns": ref}


def run_trace_replay(ev: np.ndarray, passes: int = 10) -> dict:
    """Trace replay, compiled (kmemsim.sim.replay): the loop alone, on the real 3.13.11 trace
    (its page events repeated ``passes`` times on a 1 GiB x86_64 machine) and on the synthetic
    events ``ev`` turned into trace rows (one 4 GiB zone, as the C reference replays them);
    ns per event of the loop, tracepoints off."""
    import kmemsim
    from kmemsim.sim.replay import K_ALLOC, K_FREE, NR_OP_COLS, OP_GFP, OP_KIND, OP_ORDER, \
        OP_SLOT
    from kmemsim.trace import replay as rp
    from kmemsim.trace.ftrace import parse_file

    out = {}
    real = os.path.join(HERE, "..", "..", "shared", "reference", "real-3.13",
                        "trace-1G-from-boot.txt.xz")
    if os.path.exists(real):
        import lzma

        from kmemsim.trace.scan import scan_bytes
        data = lzma.open(real).read() * passes
        scan_bytes(data[:4096])                                 # compile or load
        dt = None
        for _ in range(3):                                      # best of 3 (shared machine)
            t = time.perf_counter()
            scanned = scan_bytes(data)
            dt = min(dt or 1e9, time.perf_counter() - t)
        out["scan_lines"] = scanned.lines
        out["scan_lines_per_s"] = scanned.lines / dt
        t = time.perf_counter()
        parse_file(real)
        out["ftrace_lines_per_s"] = len(lzma.open(real).read().splitlines()) / (
            time.perf_counter() - t)
        t = time.perf_counter()
        built = rp.build_ops(scanned)
        out["build_events_per_s"] = len(built.ops) / (time.perf_counter() - t)
        one = rp.build_ops(parse_file(real)).ops
        many = []
        for p in range(passes):
            block = one.copy()
            block[:, OP_SLOT] = np.where(block[:, OP_SLOT] >= 0,
                                         block[:, OP_SLOT] + p * len(one), -1)
            many.append(block)
        ops = np.concatenate(many)
        k = kmemsim.boot("x86_64", mem="1G", mode="compiled")
        k.fn.replay_ops(k.mem, one[:1000].copy(), 0, 1000, np.full(1000, -1, np.int64),
                        np.full(int(k.mem.cfg[0]), -1, np.int64))     # compile or load
        k = kmemsim.boot("x86_64", mem="1G", mode="compiled")
        res = np.full(len(ops), -1, np.int64)
        owned = np.full(int(k.mem.cfg[0]), -1, np.int64)
        t = time.perf_counter()
        fails, _ = k.fn.replay_ops(k.mem, ops, 0, len(ops), res, owned)
        dt = time.perf_counter() - t
        out["real_events"] = len(ops)
        out["real_ns"] = dt * 1e9 / len(ops)
        out["real_failures"] = int(fails)
    rows = np.zeros((len(ev), NR_OP_COLS), np.int64)
    alloc = ev[:, 0] == 0
    rows[:, OP_KIND] = np.where(alloc, K_ALLOC, K_FREE)
    rows[alloc, OP_ORDER] = ev[alloc, 1]
    rows[~alloc, OP_SLOT] = ev[~alloc, 1]
    rows[~alloc, OP_ORDER] = ev[ev[~alloc, 1], 1]
    rows[:, OP_GFP] = 0x200DA                                   # GFP_HIGHUSER_MOVABLE
    k = kmemsim.boot("x86_64", mem="4G", mode="compiled")
    res = np.full(len(rows), -1, np.int64)
    owned = np.full(int(k.mem.cfg[0]), -1, np.int64)
    t = time.perf_counter()
    fails, _ = k.fn.replay_ops(k.mem, rows, 0, len(rows), res, owned)
    out["synthetic_ns"] = (time.perf_counter() - t) * 1e9 / len(rows)
    out["synthetic_failures"] = int(fails)
    return out


def measure_boot(mem: str = "64G") -> dict:
    """Boot an x86_64 machine of ``mem`` in a fresh process (compiled mode, warm cache):
    seconds and that process's peak RSS."""
    code = ("import resource, sys, time; t = time.perf_counter(); import kmemsim; "
            f"kmemsim.boot('x86_64', mem='{mem}', mode=sys.argv[1]); "
            "print(time.perf_counter() - t, "
            "resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")
    out = {}
    for mode in ("compiled", "python"):
        subprocess.run([sys.executable, "-c", code, mode], check=True, capture_output=True)
        p = subprocess.run([sys.executable, "-c", code, mode], check=True,
                           capture_output=True, text=True)
        seconds, rss = p.stdout.split()
        out[mode] = (float(seconds), int(rss))
    return out


# ---------------------------------------------------------------------------
def compile_ref() -> str:
    src = os.path.join(HERE, "buddy_ref.c")
    exe = os.path.join(OUT, "buddy_ref")
    cmd = ["gcc", "-O2", "-std=c11", "-o", exe, src]
    subprocess.run(cmd, check=True)
    return exe


def run_ref(exe: str, events_path: str, zone_pages: int, check: bool) -> dict:
    cmd = [exe, events_path, str(zone_pages)] + (["--check"] if check else [])
    p = subprocess.run(cmd, check=False, capture_output=True, text=True)
    if p.returncode != 0:
        sys.stderr.write(p.stderr)
        raise SystemExit(f"buddy_ref failed (exit {p.returncode}): {p.stdout}")
    return json.loads(p.stdout)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="buddy replay benchmark")
    ap.add_argument("--events", type=int, default=2_000_000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--zone-pages", type=int, default=1 << 20)
    ap.add_argument("--repeat", type=int, default=5,
                    help="runs of the C reference (min and median reported)")
    ap.add_argument("--boot", default="64G",
                    help="also time booting an x86_64 machine of this size ('none': skip)")
    ap.add_argument("--slab-pairs", type=int, default=5_000_000,
                    help="kmalloc+kfree pairs of the slab benchmark (0: skip)")
    ap.add_argument("--trace-passes", type=int, default=10,
                    help="passes over the real 3.13 trace in the replay benchmark (0: skip)")
    ap.add_argument("--check", action="store_true",
                    help="also run buddy_ref once with its invariant check")
    a = ap.parse_args(argv)

    os.makedirs(OUT, exist_ok=True)
    # Booting is measured first, in fresh processes, while this one is still small: Linux
    # keeps a process's peak RSS across fork and exec, so a child started after the replays
    # would report this process's peak as its own.
    boots = measure_boot(a.boot) if a.boot != "none" else {}
    events_path = os.path.join(OUT, f"events_n{a.events}_z{a.zone_pages}_s{a.seed}.npy")
    t = time.perf_counter()
    ev = gen_events.generate(a.events, a.zone_pages, a.seed)
    gen_events.write_events(ev, events_path)
    print(f"generated {len(ev)} events -> {os.path.relpath(events_path)} "
          f"({time.perf_counter() - t:.1f} s)")

    exe = compile_ref()
    if a.check:
        r = run_ref(exe, events_path, a.zone_pages, check=True)
        print(f"buddy_ref --check: {r['check']}")

    runs = [run_ref(exe, events_path, a.zone_pages, check=False)
            for _ in range(max(1, a.repeat))]
    for r in runs[1:]:
        if any(r[k] != runs[0][k] for k in RESULT_KEYS):
            raise SystemExit("buddy_ref is not deterministic across runs!")
    ref = dict(runs[0])
    ns = [r["ns_per_event"] for r in runs]
    ref["ns_per_event"] = min(ns)
    ref["ns_median"] = statistics.median(ns)
    ref["peak_rss_kb"] = max(r["peak_rss_kb"] for r in runs)

    rows = [("C reference (gcc -O2)", ref)]
    try:
        km = run_kmemsim(ev, a.zone_pages)
    except NotImplementedError as e:
        km = None
        print(f"kmemsim: not run ({e})")
    if km is not None:
        rows.append(("kmemsim", km))

    print()
    print(f"{'implementation':<24}{'ns/event':>10}{'median':>10}{'x C':>7}"
          f"{'peak RSS':>11}{'B/page':>8}")
    for name, r in rows:
        med = r.get("ns_median")
        rss = r.get("peak_rss_kb")
        bpp = r.get("bytes_per_page")
        print(f"{name:<24}{r['ns_per_event']:>10.1f}"
              f"{(f'{med:.1f}' if med is not None else '-'):>10}"
              f"{r['ns_per_event'] / ref['ns_per_event']:>7.2f}"
              f"{(f'{rss / 1024:.1f} MB' if rss else '-'):>11}"
              f"{(str(bpp) if bpp is not None else '-'):>8}")
    if km is not None:
        fp = run_fast_path(ev, a.zone_pages)
        print(f"fast path: order-0 alloc+free pair {fp['pair_ns']:.1f} ns "
              f"({fp['pair_failures']} failures); replay through alloc_pages/__free_pages "
              f"{fp['replay_ns']:.1f} ns/event = {fp['replay_ns'] / ref['ns_per_event']:.2f}x C "
              f"({fp['replay_failures']} failures)")
    if km is not None and a.slab_pairs:
        sl = run_slab(a.slab_pairs)
        print(f"slab fast path: kmalloc(64)+kfree pair {sl['pair_ns']:.1f} ns "
              f"({sl['failures']} failures); C reference {sl['ref_ns']:.1f} ns "
              f"= {sl['pair_ns'] / sl['ref_ns']:.2f}x C")
    if km is not None and a.trace_passes:
        tr = run_trace_replay(ev, a.trace_passes)
        if "scan_lines" in tr:
            print(f"trace reading: kmemsim.trace.scan {tr['scan_lines_per_s'] / 1e6:.2f} M lines/s "
                  f"({tr['scan_lines']} lines, the real 3.13.11 trace x{a.trace_passes}, "
                  f"decompressed); ftrace.parse_file {tr['ftrace_lines_per_s'] / 1e6:.3f} M "
                  f"lines/s; build_ops {tr['build_events_per_s'] / 1e6:.2f} M events/s")
        if "real_ns" in tr:
            print(f"trace replay (replay_ops, compiled): real 3.13.11 trace x{a.trace_passes} "
                  f"({tr['real_events']} page events) {tr['real_ns']:.1f} ns/event = "
                  f"{1e3 / tr['real_ns']:.1f} M events/s = {tr['real_ns'] / ref['ns_per_event']:.2f}x C "
                  f"({tr['real_failures']} failures)")
        print(f"trace replay (replay_ops, compiled): synthetic events {tr['synthetic_ns']:.1f} "
              f"ns/event = {1e3 / tr['synthetic_ns']:.1f} M events/s = "
              f"{tr['synthetic_ns'] / ref['ns_per_event']:.2f}x C "
              f"({tr['synthetic_failures']} failures)")
    if boots:
        for mode, (seconds, rss) in boots.items():
            print(f"boot x86_64 --mem {a.boot} ({mode}): {seconds:.2f} s, "
                  f"peak RSS {rss / 1024:.0f} MB")
    print()
    print(f"events {ref['events']}  zone_pages {a.zone_pages}  seed {a.seed}")
    print(f"checksum {ref['checksum']}  failures {ref['failures']}  "
          f"free_pages {ref['free_pages']}")
    print(f"nr_free {ref['nr_free']}")

    if km is not None:
        diff = [k for k in RESULT_KEYS if km.get(k) != ref[k]]
        if diff:
            for k in diff:
                print(f"MISMATCH {k}: kmemsim {km.get(k)} vs C {ref[k]}")
            return 1
        print("kmemsim agrees with the C reference on", ", ".join(RESULT_KEYS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
