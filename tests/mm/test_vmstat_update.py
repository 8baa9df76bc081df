"""mm/vmstat.c vmstat_update: every second each CPU folds its counter deltas into the zone
values, on whole seconds skewed by 3 jiffies per CPU (kernel/timer.c round_jiffies_common)."""

import pytest

import kmemsim
from kmemsim.mm.mmzone import CFG_HZ, CFG_JIFFIES, ZONE_STAT_ITEMS

NR_FREE_PAGES = ZONE_STAT_ITEMS.index("nr_free_pages")


@pytest.mark.parametrize("hz, cpu, expected", [
    (100, 0, [100, 200, 300]),      # tiny: HZ 100
    (100, 1, [97, 197, 297]),       # 3 jiffies earlier per CPU
    (100, 8, [76, 176, 276]),       # 100 + 24: within a quarter second, rounded down
    (100, 9, [173, 273, 373]),      # 100 + 27: rounded up, so the first run is a second later
    (200, 1, [197, 397, 597]),      # arndale: HZ 200
])
def test_when_each_cpu_folds(hz, cpu, expected):
    k = kmemsim.boot("tiny")
    k.mem.cfg[CFG_HZ] = hz
    times, t = [], 0
    for _ in range(3):
        t = int(k.fn.vmstat_work_expiry(k.mem, cpu, t))
        times.append(t)
    assert times == expected
    # start_cpu_timer at jiffy 0: __round_jiffies_relative(HZ, cpu)
    assert int(k.fn.round_jiffies_common(k.mem, hz, cpu, False)) == expected[0]


def test_the_deltas_reach_the_zone_at_the_next_whole_second(mode):
    """tiny with 2 CPUs, HZ 100: CPU 1 folds at jiffy 97, CPU 0 at 100."""
    k = kmemsim.boot("tiny", cpus=2, mode=mode)
    assert int(k.mem.cfg[CFG_HZ]) == 100 and k.machine.cpus == 2
    k.task("t")
    k.fault("t", 3, cpu=0)
    k.fault("t", 3, cpu=1)
    snapshot = int(k.fn.zone_page_state_snapshot(k.mem, 0, NR_FREE_PAGES))
    assert k.mem.vm_stat_diff[0].any() and k.mem.vm_stat_diff[1].any()
    k.tick(96)
    assert k.mem.vm_stat_diff[0].any() and k.mem.vm_stat_diff[1].any()
    k.tick(1)                                       # jiffy 97: CPU 1
    assert k.mem.vm_stat_diff[0].any() and not k.mem.vm_stat_diff[1].any()
    k.tick(3)                                       # jiffy 100: CPU 0
    assert int(k.mem.cfg[CFG_JIFFIES]) == 100
    assert not k.mem.vm_stat_diff.any()
    assert int(k.mem.vm_stat[0, NR_FREE_PAGES]) == snapshot
    assert f"nr_free_pages {snapshot}\n" in k.show("vmstat")
    k.check()
