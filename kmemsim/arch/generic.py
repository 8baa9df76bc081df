"""A made-up small machine for learning: one node, one Normal zone, nothing hidden.

Not a real board.  Its numbers are chosen so that every structure stays small enough to print:
8 MiB (2048 pages) by default, pageblock order 6 (64 pages, as an architecture with a variable
hugepage size may choose), FLATMEM, one "kernel" reservation of 256 KiB at 1 MiB.
"""

from kmemsim.errors import KmemsimError
from kmemsim.machine import Machine, Node, Range
from kmemsim.mm.mmzone import PAGE_SHIFT

__all__ = ["tiny_machine"]


def tiny_machine(ram: int = 8 << 20, cpus: int = 1) -> Machine:
    if ram % (1 << 20) or not (2 << 20) <= ram <= (256 << 20):
        raise KmemsimError(f"--mem {ram}: tiny takes whole MiB from 2M to 256M")
    pages = ram >> PAGE_SHIFT
    kernel = Range(256, 320, "kernel")
    return Machine(
        name="tiny",
        description=f"made-up {ram >> 20} MiB machine: one Normal zone, pageblock order 6",
        arch="generic", cpus=cpus, hz=100, pageblock_order=6, memory_model="flatmem",
        nodes=[Node(0, {"Normal": Range(0, pages), "Movable": Range(0, 0)},
                    [Range(0, pages)], [kernel])],
        sources={"all": "made up for learners (kmemsim/arch/generic.py)"},
    ).validate()
