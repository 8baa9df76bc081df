"""kmemsim: the Linux 3.13 physical memory allocator, made executable in Python.

>>> import kmemsim
>>> k = kmemsim.boot("tiny")
>>> a = k.alloc(0, "GFP_KERNEL")
>>> k.free(a)
"""

from kmemsim.errors import KmemsimError, ValidationError
from kmemsim.kernel import Allocation, Kernel, boot
from kmemsim.machine import Machine, load_toml
from kmemsim import jit as _jit

_jit.import_all()           # every kernel module, with its late() names bound

__all__ = ["boot", "Kernel", "Allocation", "Machine", "load_toml", "KmemsimError",
           "ValidationError"]
__version__ = "0.1.0"
