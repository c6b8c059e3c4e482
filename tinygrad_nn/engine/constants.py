"""Read-only constant arrays shared by the hot paths, made once per dtype (and size).

As a ufunc operand a 0-d array of the result's dtype costs half of what a Python float does (no
scalar conversion and weak-type resolution per call) and never changes the result dtype. A
lookup is one dict subscript (``consts[dt]``), no Python call: ``Memo`` makes a missing entry in
``__missing__``, which the dict calls only on a miss.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import numpy as np


class Memo(dict):
    """``memo[key]`` is ``make(key)``, made on the first lookup and kept while fewer than
    ``limit`` keys are (past that, made afresh each time: a learning-rate schedule makes many)."""

    __slots__ = ("make", "limit")

    def __init__(self, make: Callable[[Any], Any], limit: int = 64) -> None:
        super().__init__()
        self.make = make
        self.limit = limit

    def __missing__(self, key: Hashable) -> Any:
        value = self.make(key)
        if len(self) < self.limit:
            self[key] = value
        return value


def readonly(a: np.ndarray) -> np.ndarray:
    """``a``, made read-only: shared constants must never be written into."""
    a.flags.writeable = False
    return a


#: ``consts[dtype]``: 0-d arrays ``(0, ½, 1)`` of dtype: the constants of the activation rules,
#: and ``1 = d(loss)/d(loss)``, the gradient a scalar loss's backward starts from.
consts = Memo(lambda dt: tuple(readonly(np.array(v, dt)) for v in (0.0, 0.5, 1.0)))

#: ``ones[dtype][n]``: a (n,) vector of ones, for sums over rows as a BLAS gemv (1ᵀ δ). (Two
#: lookups are cheaper than one keyed by a tuple: hashing the tuple hashes the dtype afresh.)
ones = Memo(lambda dt: Memo(lambda n: readonly(np.ones(n, dt))))

#: ``scalars[dtype][v]``: ``v`` (a Python float) as a read-only 0-d array of dtype, for a factor
#: that stays the same step after step (SGD's lr, a loss's 2/n): multiplying by it costs half of
#: what multiplying by the float does. The float rounds to dtype once, as NumPy would round it
#: in the product, so the results are the same.
scalars = Memo(lambda dt: Memo(lambda v: readonly(np.array(v, dt))))
