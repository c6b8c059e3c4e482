"""Reductions: forward and backward of each on a few lines.

``axis`` is a normalised tuple of non-negative axes (``None`` = all); ``keepdims`` as NumPy.
Backward first restores the reduced axes as size-1 dims (``_keep``), then broadcasts.
max/amax/min/amin over several entries that tie share the gradient evenly (PyTorch's rule for
``amax`` and ``max()``); ``max(dim)`` gives it to the returned index (the first maximum).
"""

from __future__ import annotations

import numpy as np

from ..engine.node import Op, xp
from ..tensor import Tensor


def _nothing_to_reduce(name: str, shape: tuple, axis) -> None:
    """PyTorch's errors for a max/min of an empty tensor (which has no identity): over all its
    dims, or over a dim of size 0; a reduction over other dims of it is fine (empty)."""
    if axis is None:
        raise RuntimeError(f"{name}(): Expected reduction dim to be specified for input.numel() "
                           "== 0. Specify the reduction dim with the 'dim' argument.")
    for a in axis:
        if shape[a] == 0:
            raise IndexError(f"{name}(): Expected reduction dim {a} to have non-zero size.")


def _keep(g, shape, axis, keepdims):
    """Reshape a reduced gradient so it broadcasts against the input (axes kept as size 1)."""
    if keepdims or axis is None and g.ndim == 0 and len(shape) == 0:
        return g
    if axis is None:
        return g.reshape((1,) * len(shape))
    kshape = list(shape)
    for a in axis:
        kshape[a] = 1
    return g.reshape(tuple(kshape))


class Sum(Op):
    def forward(self, x, axis=None, keepdims=False):
        self.axis, self.keepdims, self.shape = axis, keepdims, x.shape
        return np.sum(x, axis=axis, keepdims=keepdims)

    def backward(self, g):
        g = _keep(g, self.shape, self.axis, self.keepdims)
        return (xp(g).broadcast_to(g, self.shape),)


class Mean(Op):
    def forward(self, x, axis=None, keepdims=False):
        self.axis, self.keepdims, self.shape = axis, keepdims, x.shape
        out = np.mean(x, axis=axis, keepdims=keepdims)
        self.n = x.size // max(out.size, 1) if x.size else 0
        return out

    def backward(self, g):
        g = _keep(g, self.shape, self.axis, self.keepdims) / self.n
        return (xp(g).broadcast_to(g, self.shape),)


class Amax(Op):
    """max over ``axis``; ties share the gradient evenly."""

    saves = (0,)
    saves_out = True
    fn = staticmethod(np.max)
    names = ("amax", "max")  # (the op's name in errors: amax(), or max() of all: nans_share)

    def forward(self, x, axis=None, keepdims=False, nans_share=False):
        self.axis, self.keepdims, self.nans_share = axis, keepdims, nans_share
        if x.size == 0:
            _nothing_to_reduce(self.names[nans_share], x.shape, axis)
        return self.fn(x, axis=axis, keepdims=keepdims)

    def backward(self, g):
        x = self.arrays[0] if not isinstance(g, Tensor) else self.parents[0].data
        shape = x.shape
        out = _keep(
            self.out if not isinstance(g, Tensor) else self.out_data(),
            shape,
            self.axis,
            self.keepdims,
        )
        mask = x == out
        if self.nans_share and x.dtype.kind == "f" and np.isnan(out).any():
            mask = np.isnan(x)  # max() of all: the NaNs share it (amax's is NaN, as PyTorch's)
        share = mask / np.sum(mask, axis=self.axis, keepdims=True)
        return (_keep(g, shape, self.axis, self.keepdims) * share.astype(x.dtype),)

    def out_data(self):
        return self.fn(self.parents[0].data, axis=self.axis, keepdims=self.keepdims)


class Amin(Amax):
    fn = staticmethod(np.min)
    names = ("amin", "min")


class MaxDim(Op):
    """values of ``max(dim)`` / ``min(dim)``: the gradient goes to the first extreme index."""

    saves = (0,)

    def forward(self, x, axis=0, keepdims=False, largest=True):
        if x.size == 0:
            _nothing_to_reduce("max" if largest else "min", x.shape, (axis,))
        idx = np.argmax(x, axis=axis) if largest else np.argmin(x, axis=axis)
        self.index, self.axis, self.keepdims, self.shape = idx, axis, keepdims, x.shape
        vals = np.take_along_axis(x, np.expand_dims(idx, axis), axis=axis)
        return vals if keepdims else np.squeeze(vals, axis)

    def backward(self, g):
        onehot = np.arange(self.shape[self.axis]).reshape(
            (-1,) + (1,) * (len(self.shape) - self.axis - 1)
        ) == np.expand_dims(self.index, self.axis)
        g = g if self.keepdims else xp(g).expand_dims(g, self.axis)
        return (g * onehot,)


class LogSumExp(Op):
    """log Σ exp(x) as m + log Σ exp(x − m) with m = max (finite), so it never overflows."""

    saves = (0,)
    saves_out = True

    def forward(self, x, axis=None, keepdims=False):
        self.axis, self.keepdims = axis, keepdims
        if x.size == 0:  # log Σ exp over nothing is log 0 = −inf (np.max has no identity)
            return np.full(np.sum(x, axis=axis, keepdims=keepdims).shape, -np.inf, x.dtype)
        m = np.max(x, axis=axis, keepdims=True)
        m = np.where(np.isfinite(m), m, 0)
        s = np.sum(np.exp(x - m), axis=axis, keepdims=True)
        out = np.log(s) + m
        return out if keepdims else np.squeeze(out, axis)

    def backward(self, g):  # d/dx = softmax(x)
        if isinstance(g, Tensor):
            x = self.parents[0]
            p = (x - x.logsumexp(self.axis, keepdim=True)).exp()
        else:
            x = self.arrays[0]
            p = np.exp(x - _keep(self.out, x.shape, self.axis, self.keepdims))
        return (_keep(g, p.shape, self.axis, self.keepdims) * p,)


class Softmax(Op):
    """softmax along one axis, shifted by the max; backward s ⊙ (g − Σ g s)."""

    saves_out = True

    def forward(self, x, axis=-1):
        self.axis = axis
        if x.size == 0:
            return np.empty_like(x)
        e = np.exp(x - np.max(x, axis=axis, keepdims=True))
        e /= np.sum(e, axis=axis, keepdims=True)
        return e

    def backward(self, g):
        s = self.out if not isinstance(g, Tensor) else self.parents[0].softmax(self.axis)
        gs = g * s
        return (
            gs - s * gs.sum(self.axis, keepdims=True)
            if not isinstance(g, Tensor)
            else gs - s * gs.sum(self.axis, keepdim=True),
        )


class LogSoftmax(Op):
    """x − logsumexp(x) along one axis; backward g − softmax ⊙ Σ g."""

    saves_out = True

    def forward(self, x, axis=-1):
        self.axis = axis
        if x.size == 0:
            return np.empty_like(x)
        z = x - np.max(x, axis=axis, keepdims=True)
        z -= np.log(np.sum(np.exp(z), axis=axis, keepdims=True))
        return z

    def backward(self, g):
        if isinstance(g, Tensor):
            s = self.parents[0].softmax(self.axis)
            return (g - s * g.sum(self.axis, keepdim=True),)
        return (g - np.exp(self.out) * g.sum(self.axis, keepdims=True),)
