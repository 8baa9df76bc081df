"""The compiled mode's view of the state: a Mem as one pointer, with no reference counting.

Not kernel code.  numba passes a named tuple to every call flattened into its parts (the Mem
tuple is about 250 machine words), which made each call between kernel functions cost more
than the work it did; a numba StructRef is passed as one pointer but makes numba count
references on every field read (NRT_incref/NRT_decref calls took over half of the buddy
replay's time, docs/performance.md).  So compiled code sees a Mem through a small numba type of
kmemsim's own, ``MemType``: its value is the address of a block of numba array descriptors, one
per field of Mem, describing the very same numpy arrays (no copy), and a field read is a load
from that block.  The descriptors own nothing (no meminfo), so kernel functions compile with
reference counting off (``_nrt=False``).  The :class:`MemHandle` that holds the block keeps the
Mem, and so its arrays, alive.  Python mode never sees any of this: kmemsim.jit converts a Mem
into its handle at the boundary of compiled code.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import typeof
from numba.core import cgutils, types
from numba.core.imputils import impl_ret_borrowed, lower_getattr_generic
from numba.core.typing.templates import AttributeTemplate, infer_getattr
from numba.extending import NativeValue, models, register_model, typeof_impl, unbox

from kmemsim.mm.mmzone import Mem

__all__ = ["MemHandle", "MemType", "as_struct"]


class MemType(types.Type):
    """numba type of a MemHandle: ``fields`` is ((name, array type), ...) in Mem's order."""

    def __init__(self, fields):
        self.fields = tuple(fields)
        self._index = {name: i for i, (name, _) in enumerate(self.fields)}
        sig = ",".join(f"{n}:{t}" for n, t in self.fields)
        super().__init__(name=f"MemType({sig})")

    def field_type(self, name):
        i = self._index.get(name)
        return None if i is None else self.fields[i][1]


@register_model(MemType)
class _MemModel(models.PrimitiveModel):
    def __init__(self, dmm, fe_type):
        super().__init__(dmm, fe_type, ir.IntType(8).as_pointer())


def _descriptor(arr: np.ndarray) -> list[int]:
    """numba's array descriptor for ``arr`` as machine words: meminfo, parent, nitems,
    itemsize, data, shape..., strides... (numba.core.datamodel ArrayModel's member order);
    meminfo and parent null, so nothing is ever counted or boxed from it."""
    return [0, 0, arr.size, arr.itemsize, arr.ctypes.data, *arr.shape, *arr.strides]


class MemHandle:
    """A Mem packaged for compiled code (see the module docstring)."""

    __slots__ = ("mem", "block", "addr", "numba_type")

    def __init__(self, mem: Mem):
        for name, arr in zip(Mem._fields, mem):
            if not (isinstance(arr, np.ndarray) and arr.flags.c_contiguous and arr.flags.writeable):
                raise TypeError(f"Mem.{name} must be a writeable C-contiguous numpy array")
        self.mem = mem
        self.block = np.array([w for arr in mem for w in _descriptor(arr)], dtype=np.int64)
        self.addr = self.block.ctypes.data
        self.numba_type = MemType((name, typeof(arr)) for name, arr in zip(Mem._fields, mem))


@typeof_impl.register(MemHandle)
def _typeof_handle(val, c):
    return val.numba_type


@unbox(MemType)
def _unbox_handle(typ, obj, c):
    addr = c.pyapi.object_getattr_string(obj, "addr")
    ptr = c.pyapi.long_as_voidptr(addr)
    c.pyapi.decref(addr)
    return NativeValue(ptr, is_error=cgutils.is_not_null(c.builder, c.pyapi.err_occurred()))


@infer_getattr
class _MemAttributes(AttributeTemplate):
    key = MemType

    def generic_resolve(self, typ, attr):
        return typ.field_type(attr)


@lower_getattr_generic(MemType)
def _lower_getattr(context, builder, typ, value, attr):
    block = ir.LiteralStructType([context.get_value_type(t) for _, t in typ.fields])
    i = typ._index[attr]
    ptr = builder.bitcast(value, block.as_pointer())
    result = builder.load(cgutils.gep_inbounds(builder, ptr, 0, i))
    return impl_ret_borrowed(context, builder, typ.fields[i][1], result)


_handles: dict[int, MemHandle] = {}
_KEEP = 4       # handles of the last few Mems used; an older machine's is simply rebuilt


def as_struct(mem: Mem) -> MemHandle:
    """The MemHandle of ``mem``: made once while ``mem`` is among the last few used (a named
    tuple cannot be weakly referenced, so the cache is kept small rather than weak)."""
    h = _handles.pop(id(mem), None)
    if h is None or h.mem is not mem:
        h = MemHandle(mem)
    _handles[id(mem)] = h
    while len(_handles) > _KEEP:
        del _handles[next(iter(_handles))]
    return h
