"""``FlatParams``: a parameter group's arrays moved into one flat array, for SGD's one-call update.

At the book's batch of 10 an SGD step is mostly per-call overhead: ``p −= lr·g`` for the four
parameters of [784, 30, 10] is four BLAS calls, or eight NumPy calls. With the parameters'
arrays as views of one flat array ``data`` and their gradients as views of one flat ``grad``
(same layout) it is one: ``data += (−lr)·grad``, a BLAS axpy (``engine/blas.py``), rounded once
per element as every SGD update is (torch.optim.SGD's bits). PyTorch's ``foreach``/``fused`` SGD,
FSDP's flat parameters and DDP's ``gradient_as_bucket_view`` rest on the same idea. Where a
gradient is not its view of ``grad`` (the engine's backward made it, the user assigned it), each
is copied into its view of ``scratch`` first (exactly), and the update is ``data += (−lr)·scratch``.
Where NumPy's BLAS has no axpy, the same in two NumPy passes: ``scratch = grad·lr``,
``data −= scratch``, the same two roundings as ``p −= g·lr``.

Nothing of this is visible to the user, or it is not done:

- ``rehome`` copies each array into ``data`` and points ``p.data`` at its view only when nothing
  else can see the old array: it owns its memory (not a view: a base would keep writing to the
  old memory), and CPython's reference count shows no holder but the Tensor (no ``p.numpy()``
  kept, no other Tensor sharing it, no saved graph reading it; ``engine/refs.py``).
- The fused MLP's ``backward_into`` (ops/mlp.py) writes the gradients into ``grad_views`` only
  when every parameter of the node is the group's, in order, needs a gradient and has none yet
  (after ``zero_grad()``), and reuses ``grad`` only when no view of it is held anywhere (the
  reference counts again): a gradient the user kept from the last step never changes
  (``fresh_grad`` makes a new flat gradient instead).

Each view starts on a 64-byte boundary, a cache line; the padding between views is zeros in
every flat array and stays so. A group's ``FlatParams`` is valid while each of its parameters
still holds its view (``p.data is views[i]``); ``SGD.step`` checks that every step and otherwise
updates parameter by parameter (and moves the arrays again once they have been replaced, e.g. by
``model.double()``). The views' ``base`` is a ``_Buffer`` that names its ``FlatParams``.
"""

from __future__ import annotations

import sys

import numpy as np

from ..engine import blas, refs

_ALIGN = 64  # bytes: every view starts on a cache line


class _Buffer(np.ndarray):
    """The memory of a flat array: an ndarray that owns its data and carries ``flat_params``, the
    ``FlatParams`` it belongs to. Every array handed out is a plain ndarray view of it
    (``np.ndarray(..., buffer=)``), so ``view.base.flat_params`` leads from a parameter's array to
    its ``FlatParams`` (the fused MLP's backward looks there for the flat gradient)."""


def _flat(n: int, dt: np.dtype, owner: FlatParams) -> tuple[np.ndarray, int]:
    """n zeros of dtype dt on an _ALIGN-byte boundary, and the byte offset of element 0 in the
    buffer (the views are made from the buffer, at offset + position)."""
    raw = _Buffer((n + _ALIGN // dt.itemsize,), dt)
    raw.fill(0)
    raw.flat_params = owner
    skip = -raw.ctypes.data % _ALIGN
    return np.ndarray((n,), dt, buffer=raw, offset=skip), skip


class FlatParams:
    """One group's parameters in flat arrays of one dtype, each with parameter i's view at the
    same offset: ``data`` (the parameters' values: ``views``), ``grad`` (their gradients:
    ``grad_views``, written by the fused MLP's ``backward_into``) and ``scratch`` (SGD's copy of
    gradients that are not views of ``grad``, or its lr·g where there is no BLAS axpy:
    ``scratch_views``). The padding between views is zeros in each and stays so.
    ``grad_update(α)`` and ``scratch_update(α)`` are ``data += α·grad`` and ``data += α·scratch``
    as one BLAS pass (``engine.blas.AxpyPlan``), or None where NumPy's BLAS has no axpy."""

    __slots__ = ("data", "grad", "scratch", "views", "grad_views", "scratch_views", "n", "dtype",
                 "_layout", "grad_update", "scratch_update")

    def __init__(self, arrays: list[np.ndarray]) -> None:
        dt = arrays[0].dtype
        step = max(1, _ALIGN // dt.itemsize)
        places, end = [], 0
        for a in arrays:
            places.append((end * dt.itemsize, a.shape))
            end += -(-a.size // step) * step
        end = -(-end // blas.BLOCK) * blas.BLOCK  # whole blocks: no tail to pad (Kernel.block)
        self._layout = (end, places)
        self.n = len(arrays)
        self.dtype = dt
        self.data, self.views = self._arrays()
        self.scratch, self.scratch_views = self._arrays()
        self.grad, self.grad_views = self._arrays()
        for v, a in zip(self.views, arrays, strict=True):
            v[...] = a
        self.scratch_update = blas.plan(self.data, self.scratch)  # data += α·scratch (or None)
        self.grad_update = blas.plan(self.data, self.grad)  # data += α·grad (or None)

    def _arrays(self) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
        """A new flat array of zeros and its views, in this layout."""
        end, places = self._layout
        flat, skip = _flat(end, self.dtype, self)
        raw = flat.base
        return flat, tuple(np.ndarray(shape, self.dtype, buffer=raw, offset=skip + o)
                           for o, shape in places)

    def fresh_grad(self) -> None:
        """A new flat gradient (``grad``, ``grad_views``): for a backward pass while the last
        one's gradients are still held somewhere (their arrays must not change)."""
        self.grad, self.grad_views = self._arrays()
        self.grad_update = blas.plan(self.data, self.grad)


def rehome(params: list, limit: int) -> FlatParams | None:
    """Move ``params``' arrays into one ``FlatParams`` and return it, or return None having
    changed nothing: fewer than two parameters, mixed or non-float dtypes (or a byte order not
    the machine's: NumPy's results are native, and ``dot`` writes only into its own dtype),
    ``limit`` bytes or more in all, a duplicate, or an array that is not safe to move (see the
    module docstring)."""
    if not refs.TRUSTED or len(params) < 2 or len({id(p) for p in params}) != len(params):
        return None
    arrays = []
    for p in params:
        a = p.data
        if (type(a) is not np.ndarray or a.base is not None or not a.flags.c_contiguous
                or not a.flags.writeable or a.dtype.kind != "f" or not a.dtype.isnative
                or sys.getrefcount(a) != refs.ALONE):  # (read as refs.ALONE is measured)
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
