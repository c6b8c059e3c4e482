"""``FlatParams``: a parameter group's arrays moved into one flat array, for SGD's one-pass update.

At the book's batch of 10 an SGD step is mostly per-call overhead: ``p −= lr·g`` for the four
parameters of [784, 30, 10] is eight NumPy calls. With the parameters' arrays as views of one
flat array ``data`` it is five: each gradient times lr into its view of ``scratch`` (a flat array
of the same layout), then one ``data −= scratch`` (the same two roundings as ``p −= g·lr``: the
same bits). PyTorch's ``foreach``/``fused`` SGD and FSDP's flat parameters rest on the same idea.

The move is invisible to the user, or it is not made: ``rehome`` copies each array into the flat
one and points ``p.data`` at its view only when nothing else can see the old array — it owns its
memory (not a view: a base would keep writing to the old memory), and CPython's reference count
shows no holder but the Tensor (no ``p.numpy()`` kept, no other Tensor sharing it, no saved graph
reading it). Each view starts on a 64-byte boundary, a cache line; the padding between views is
zeros in ``data`` and ``scratch`` and stays so.

A group's ``FlatParams`` is valid while each of its parameters still holds its view
(``p.data is views[i]``); ``SGD.step`` checks that every step and otherwise updates parameter by
parameter (and builds a new one when the arrays have been replaced, e.g. by ``model.double()``).
"""

from __future__ import annotations

import sys

import numpy as np

_ALIGN = 64  # bytes: every view starts on a cache line
# references to a parameter's array when only its Tensor holds it: the Tensor's slot, the local
# name in ``rehome`` and getrefcount's own argument
_ALONE = 3
_CPYTHON = sys.implementation.name == "cpython"  # elsewhere no reference count to read


class FlatParams:
    """``data`` and ``scratch``: flat arrays of one dtype; ``views[i]``/``scratch_views[i]``:
    parameter i's shape, at its offset in each."""

    __slots__ = ("data", "scratch", "views", "scratch_views", "n", "dtype")

    def __init__(self, arrays: list[np.ndarray]) -> None:
        dt = arrays[0].dtype
        step = max(1, _ALIGN // dt.itemsize)
        offsets, end = [], 0
        for a in arrays:
            offsets.append(end)
            end += -(-a.size // step) * step
        self.data = _aligned_zeros(end, dt)
        self.scratch = _aligned_zeros(end, dt)
        self.views = tuple(self.data[o:o + a.size].reshape(a.shape)
                           for o, a in zip(offsets, arrays, strict=True))
        self.scratch_views = tuple(self.scratch[o:o + a.size].reshape(a.shape)
                                   for o, a in zip(offsets, arrays, strict=True))
        for v, a in zip(self.views, arrays, strict=True):
            v[...] = a
        self.n = len(arrays)
        self.dtype = dt


def _aligned_zeros(n: int, dt: np.dtype) -> np.ndarray:
    """n zeros of dtype dt starting on an _ALIGN-byte boundary (a view of a little more)."""
    raw = np.zeros(n + _ALIGN // dt.itemsize, dt)
    skip = (-raw.ctypes.data % _ALIGN) // dt.itemsize
    return raw[skip:skip + n]


def rehome(params: list, limit: int) -> FlatParams | None:
    """Move ``params``' arrays into one ``FlatParams`` and return it, or return None having
    changed nothing: fewer than two parameters, mixed or non-float dtypes, ``limit`` bytes or
    more in all, a duplicate, or an array that is not safe to move (see the module docstring)."""
    if not _CPYTHON or len(params) < 2 or len({id(p) for p in params}) != len(params):
        return None
    arrays = []
    for p in params:
        a = p.data
        if (type(a) is not np.ndarray or a.base is not None or not a.flags.c_contiguous
                or not a.flags.writeable or a.dtype.kind != "f"
                or sys.getrefcount(a) != _ALONE):
            return None
        arrays.append(a)
        del a
    dt = arrays[0].dtype
    if any(a.dtype != dt for a in arrays) or sum(a.nbytes for a in arrays) >= limit:
        return None
    flat = FlatParams(arrays)
    for p, v in zip(params, flat.views, strict=True):
        p.data = v
    return flat
