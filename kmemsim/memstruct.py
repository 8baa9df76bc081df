"""The compiled mode's view of the state: one numba StructRef holding the arrays of a Mem.

Not kernel code.  numba passes a named tuple to every call flattened into its parts (the Mem
tuple is about 250 machine words), which made each call between kernel functions cost more
than the work it did (docs/performance.md).  A StructRef is passed as one pointer; its fields
are the very same numpy arrays, so both modes still share one state.  Python mode never sees
it: kmemsim.jit converts a Mem into its MemStruct at the boundary of compiled code.
"""

from numba import types
from numba.experimental import structref

from kmemsim.mm.mmzone import Mem

__all__ = ["MemStruct", "MemStructType", "as_struct"]


@structref.register
class MemStructType(types.StructRef):
    def preprocess_fields(self, fields):
        return tuple((name, types.unliteral(typ)) for name, typ in fields)


class MemStruct(structref.StructRefProxy):
    """A Mem as one object for compiled code (fields as Mem's)."""


structref.define_proxy(MemStruct, MemStructType, list(Mem._fields))

_structs: dict[int, tuple[Mem, MemStruct]] = {}


def as_struct(mem: Mem) -> MemStruct:
    """The MemStruct of ``mem`` (made once per Mem; the Mem is kept alive with it)."""
    entry = _structs.get(id(mem))
    if entry is None or entry[0] is not mem:
        entry = _structs[id(mem)] = (mem, MemStruct(*mem))
    return entry[1]
