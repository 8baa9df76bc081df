"""kmemsim.sim.owners through the Kernel API and scripts: bad input, and random workloads
keeping every invariant (hypothesis)."""

import pytest
from hypothesis import given, settings, strategies as st

import kmemsim
from kmemsim.errors import KmemsimError
from kmemsim.script import run_script


def test_bad_names_and_counts_are_one_line_errors():
    k = kmemsim.boot("tiny")
    k.task("sh")
    with pytest.raises(KmemsimError, match="unknown task 'x': create it first with 'task x'"):
        k.fault("x", 1)
    with pytest.raises(KmemsimError, match="'sh' already exists"):
        k.file("sh")
    with pytest.raises(KmemsimError, match="'sh' is not a file"):
        k.read("sh", 1)
    with pytest.raises(KmemsimError, match="must be a whole number"):
        k.fault("sh", -1)
    with pytest.raises(KmemsimError, match=r"script:2: 'many' is not a count"):
        list(run_script(k, "task a\nfault a many\n"))
    k.check()


def test_running_out_of_memory_is_reported_not_crashed():
    """Without reclaim yet, a fault that finds no page stops with the count it got."""
    k = kmemsim.boot("tiny")
    out = "".join(run_script(k, "task hog\nfault hog 100000\ncheck\n"))
    got = int(out.split()[1])
    assert out == f"hog: {got} of 100000 pages\n" and 1000 < got < 2048
    k.check()


OPS = st.lists(st.tuples(st.sampled_from(["fault", "read", "write", "touch", "munmap",
                                          "truncate", "kill", "drain"]),
                         st.sampled_from(["t1", "t2", "f1", "f2"]),
                         st.integers(0, 40), st.integers(0, 1)), max_size=25)


@settings(max_examples=25, deadline=None)
@given(OPS)
def test_random_workloads_keep_the_invariants(ops):
    k = kmemsim.boot("tiny")
    boot = k.show("buddyinfo")
    for name in ("t1", "t2"):
        k.task(name)
    k.file("f1")
    k.file("f2", tmpfs=True)
    for op, who, n, cpu in ops:
        cpu = cpu % k.machine.cpus
        is_task = who.startswith("t")
        if op == "fault" and is_task and who in k.owner_ids:
            k.fault(who, n, cpu)
        elif op in ("read", "write") and not is_task:
            getattr(k, op)(who, n, cpu)
        elif op == "touch" and who in k.owner_ids:
            k.touch(who, n, cpu)
        elif op == "munmap" and is_task and who in k.owner_ids:
            k.munmap(who, n, cpu)
        elif op == "truncate" and not is_task:
            k.truncate(who, cpu)
        elif op == "kill" and is_task and who in k.owner_ids:
            k.exit(who, cpu)
        elif op == "drain":
            k.drain()
        k.check()
    for name in [n for n in ("t1", "t2") if n in k.owner_ids]:
        k.exit(name)
    k.truncate("f1")
    k.truncate("f2")
    for cpu in range(k.machine.cpus):
        k.fn.lru_add_drain_cpu(k.mem, cpu)
    k.drain()
    k.check()
    assert k.show("buddyinfo") == boot
