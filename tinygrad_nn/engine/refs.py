"""Who else holds an array? CPython's reference counts, calibrated on this interpreter.

SGD's flat update (``optim/flat.py``) moves a parameter's array only when nothing but its Tensor
holds it, and the fused MLP's backward (``ops/mlp.py``) reuses the flat gradient only when no
view of it is held outside the flat arrays' own tuple. Both read ``sys.getrefcount``, whose
value for one and the same situation depends on the interpreter (the reference its own argument
adds, references to locals that newer CPythons borrow instead of count). So the counts that mean
"no one else" are not written down but measured here, once, in exactly the form the checks use:

- ``ALONE``: ``getrefcount(a)`` for ``a = obj.data`` read into a local, with only ``obj``'s slot
  holding the array (``rehome``'s test);
- ``IN_TUPLE``: ``getrefcount(views[i])`` with only the tuple ``views`` holding the array (the
  MLP's test of the flat gradient's views).

``TRUSTED`` is False where the counts mean nothing to rely on (another Python implementation, a
free-threaded build): then nothing is ever moved or reused, and every path is the plain one.
"""

from __future__ import annotations

import sys

import numpy as np


class _Slot:
    __slots__ = ("data",)


def _alone() -> int:
    holder = _Slot()
    holder.data = np.empty(0)
    a = holder.data
    return sys.getrefcount(a)


def _in_tuple() -> int:
    views = (np.empty(0),)
    return sys.getrefcount(views[0])


_gil_enabled = getattr(sys, "_is_gil_enabled", None)  # (3.13+; False on a free-threaded build)
TRUSTED = sys.implementation.name == "cpython" and (_gil_enabled is None or _gil_enabled())
ALONE = _alone() if TRUSTED else -1
IN_TUPLE = _in_tuple() if TRUSTED else -1
