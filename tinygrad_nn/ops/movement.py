"""Movement and indexing ops: forward and backward of each on a few lines.

Views (reshape, transpose, permute, expand, basic indexing) return NumPy views, never copies; their
outputs share the input's version counter (see ``Tensor._make_view``), as PyTorch's views do.
"""

from __future__ import annotations

import numpy as np

from ..engine.node import Op, xp
from ..tensor import Tensor


class Reshape(Op):
    """reshape / view / flatten / squeeze / unsqueeze: backward reshapes back."""

    saves = (0,)  # a view: if its base changes in place later, the graph no longer matches

    def forward(self, x, shape=None):
        self.shape = x.shape
        return x.reshape(shape)

    def backward(self, g):
        return (g.reshape(self.shape),)


class Permute(Op):
    """permute / transpose / T / mT: backward applies the inverse permutation."""

    saves = (0,)  # a view: if its base changes in place later, the graph no longer matches

    def forward(self, x, dims=None):
        self.inverse = tuple(np.argsort(dims))
        return x.transpose(dims)

    def backward(self, g):
        return (xp(g).transpose(g, self.inverse),)


class Expand(Op):
    """expand: a broadcast view; the engine sums the gradient back to the input's shape."""

    saves = (0,)  # a view: if its base changes in place later, the graph no longer matches

    def forward(self, x, shape=None):
        return np.broadcast_to(x, shape)

    def backward(self, g):
        return (g,)


class GetItem(Op):
    """x[index]; backward scatters g into zeros, accumulating over repeated indices."""

    def forward(self, x, index=None):
        self.index, self.shape, self.dtype = index, x.shape, x.dtype
        out = x[index]
        if type(out) is not np.ndarray:  # every dim indexed by an int: a 0-d view, not a scalar
            out = x[(*index, ...) if type(index) is tuple else (index, ...)]
        if _is_basic(index):
            self.saves = (0,)  # a view of x: version-checked like Reshape
        return out

    def backward(self, g):
        if isinstance(g, Tensor):
            return (IndexAdd.apply(g, index=self.index, shape=self.shape),)
        return (_scatter(g, self.index, self.shape, self.dtype),)


class IndexAdd(Op):
    """zeros(shape) with g added at ``index`` (GetItem's backward); its backward is g[index]."""

    def forward(self, g, index=None, shape=None):
        self.index = index
        return _scatter(g, index, shape, g.dtype)

    def backward(self, g):
        return (g[self.index],)


def _scatter(g, index, shape, dtype):
    out = np.zeros(shape, dtype=dtype)
    if _is_basic(index):
        out[index] = g
    else:
        np.add.at(out, index, g)
    return out


def _is_basic(index) -> bool:
    """True for an index of ints, slices, None and Ellipsis only (no repeats possible)."""
    items = index if isinstance(index, tuple) else (index,)
    return all(isinstance(i, (int, np.integer, slice)) or i is None or i is Ellipsis for i in items)


class Cat(Op):
    """cat along ``axis``: backward splits g at the input boundaries."""

    def forward(self, *xs, axis=0):
        self.axis = axis
        self.bounds = np.cumsum([x.shape[axis] for x in xs])[:-1]
        return np.concatenate(xs, axis=axis)

    def backward(self, g):
        if isinstance(g, Tensor):
            edges = [0, *self.bounds.tolist(), g.shape[self.axis]]
            spans = zip(edges[:-1], edges[1:], strict=True)
            return tuple(g.narrow(self.axis, a, b - a) for a, b in spans)
        return tuple(np.split(g, self.bounds, axis=self.axis))


class Stack(Op):
    """stack along a new ``axis``: backward takes each slice of g along it."""

    def forward(self, *xs, axis=0):
        self.axis = axis
        return np.stack(xs, axis=axis)

    def backward(self, g):
        n = g.shape[self.axis]
        if isinstance(g, Tensor):
            return tuple(g.select(self.axis, i) for i in range(n))
        lead = (slice(None),) * self.axis  # views of g: np.take would copy all of g n times
        return tuple(g[(*lead, i)] for i in range(n))
