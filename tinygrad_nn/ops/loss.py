"""Fused loss ops: one graph node each for the costs of the hot training loops.

``SquaredError``: ``scale · Σ_axis (x − y)²``, the shared core of ``mse_loss`` (scale 1/N) and the
book's quadratic cost C = 1/(2n) Σ_x ||y(x) − a||² (scale 1/(2n), summed per example).
Gradient: ∂/∂x = 2·scale·(x − y) (broadcast over the reduced axes), ∂/∂y = −∂/∂x.

``SoftmaxCrossEntropy``: −w_t log softmax(x)_t per row for class-index targets t, with PyTorch's
``weight``, ``ignore_index`` and reductions ('mean' divides by Σ w_t over rows not ignored).
Gradient: (softmax(x) − onehot(t)) · w_t · g (/ Σ w_t for 'mean').

Each has a ``call`` (the op's ``apply`` fused with its forward, for the hot path's case: taken by
``nn.QuadraticCost`` and ``nn.CrossEntropyLoss``) and a ``backward_root``: ``loss.backward()``
over an ``MLP`` node in one call (the book's step; the wide one: 0.991x its time in float32,
``benchmarks/ab.py --workload wide``, 2026-12-03, with ``_row_max``; the loss's forward and
backward alone, (256, 10): 46 → 27 µs).
"""

from __future__ import annotations

import numpy as np

from ..engine import anomaly
from ..engine.constants import consts, ones, scalars
from ..engine.grad_mode import mode
from ..engine.node import Op, _seq, clock
from ..tensor import Tensor
from .mlp import MLP

_new = object.__new__
_make = Tensor._make
array = np.array


def _sum_squares(d: np.ndarray, scale: float) -> np.ndarray:
    """``scale · Σ d²`` as a 0-d array of d's dtype (one BLAS dot)."""
    flat = d.ravel()  # (a view: callers pass their own contiguous difference)
    return np.array(flat.dot(flat) * scale, d.dtype)


class _Cost(Op):
    """A cost whose ``loss.backward()`` can run in one call over the ``MLP`` node below it."""

    def backward_root(self, retain_graph: bool | None) -> bool:
        """``loss.backward()`` when this cost sits right on an ``MLP`` node (the book's and the
        wide step), as one call: ∂C/∂a^L as ``backward`` computes it (``_grad_over_mlp``), then
        the MLP's rules (``backward_into``) store the parameters' gradients in their ``.grad``.
        The same arithmetic and the same result as the engine's loop over the two nodes, taken
        only when the loop would do nothing else: the clock has not moved since the MLP node was
        made (no in-place change since the forward, neither node freed), no ``retain_grad``,
        only the parameters need gradients (not x, nor the target), no anomaly detection, and
        the cost's own options allow it. Returns False, having done nothing, otherwise."""
        c = clock[0]
        if self.epoch != c or anomaly.enabled:  # (a freed node's epoch is -1)
            return False
        m = self.edges[0]
        if not (isinstance(m, MLP) and m.epoch == c and m.edges[0] is None
                and m._retained is None and self._retained is None):
            return False
        g = self._grad_over_mlp()
        if g is None:
            return False
        m.backward_into(g)
        if not retain_graph:
            self.release()
            m.release()
        return True

    def _grad_over_mlp(self) -> np.ndarray | None:
        """∂C/∂x for an upstream gradient of 1, a fresh array of x's shape and dtype, computed
        as ``backward`` does; None where this node's options need the engine's loop."""
        raise NotImplementedError


class SquaredError(_Cost):
    saves = (0, 1)
    exact_grads = True  # both inputs have the same shape (callers broadcast first)

    @classmethod
    def call(cls, x: Tensor, y: Tensor, scale: float) -> Tensor:
        """``apply(x, y, scale, None)`` fused with the forward, for Tensors of one shape and dtype:
        ``scale · Σ (x − y)²``, 0-d. The hot path of ``nn.QuadraticCost``."""
        a, t = x.data, y.data
        d = a - t
        flat = d.ravel()  # (_sum_squares, inline)
        out = array(flat.dot(flat) * scale, d.dtype)
        rx, ry = x.requires_grad, y.requires_grad
        if not ((rx or ry) and mode.enabled):
            return _make(out, None, False)
        node = _new(cls)  # (scale and axis are attributes, not parents: two inputs to route)
        node.d, node.scale, node.axis = d, scale, None
        node.needs_input_grad = [rx, ry]
        node.parents = [x, y]
        node.arrays = [a, t]
        node.edges = [(x.grad_fn or x) if rx else None, (y.grad_fn or y) if ry else None]
        node.seq = next(_seq)  # Op._result, inline (saves_out is False)
        node.epoch = clock[0]
        if anomaly.enabled:
            anomaly.record(node)
        return _make(out, node, True)

    def forward(self, x, y, scale=1.0, axis=None):
        """``axis``: None sums everything (0-d out), -1 sums each row, 'none' keeps elements."""
        d = x - y
        self.d, self.scale, self.axis = d, scale, axis
        if (
            d.shape != x.shape
            or d.dtype != x.dtype
            or (isinstance(y, np.ndarray) and (d.shape != y.shape or d.dtype != y.dtype))
        ):
            self.exact_grads = False  # broadcast or promoted: let the engine reduce/cast
        if axis is None:
            return _sum_squares(d, scale)
        sq = d * d
        if axis == "none":
            return sq * scale if scale != 1.0 else sq
        return np.sum(sq, axis=axis) * scale

    def _grad_over_mlp(self) -> np.ndarray | None:
        if self.edges[1] is not None or not self.exact_grads or self.axis is not None:
            return None  # y needs a gradient, or broadcast or promoted, or not summed to 0-d
        d = self.d
        return d * scalars[d.dtype][2.0 * self.scale]  # (backward's factor, upstream 1)

    def backward(self, g):
        c = 2.0 * self.scale
        if isinstance(g, Tensor):
            d = self.parents[0] - self.parents[1]
            factor = (g.unsqueeze(-1) if self.axis == -1 else g) * c
        else:
            d = self.d
            if self.axis == -1:
                factor = g[..., None] * c
            elif g.ndim == 0:  # the usual scalar loss: the factor as a 0-d array of d's dtype
                factor = scalars[d.dtype][float(g) * c]  # (half the cost of a Python float)
            else:
                factor = g * c
        gx = d * factor
        n = self.needs_input_grad
        return (gx if n[0] else None), (-gx if n[1] else None)

    def name(self) -> str:
        return "MseLossBackward0"


_INT64, _F32, _F64 = np.dtype(np.int64), np.dtype(np.float32), np.dtype(np.float64)
_min, _max, _sum = np.minimum.reduce, np.maximum.reduce, np.add.reduce
_FEW = 32  # columns: up to here _row_max reduces over a transposed copy


def _row_max(x: np.ndarray) -> np.ndarray:
    """max over each row of x (N, C), as (N, 1), the exact values (NaN propagates as in max).
    NumPy reduces along rows of a few elements one loop call per row (~6 ns per element for
    C = 10); for C ≤ 32 the reduction runs down the columns of the (C, N) copy instead, in
    one vectorized pass: 2.5 µs instead of 15 for (256, 10), 5.5 instead of 23 for (256, 32)."""
    if x.shape[1] > _FEW:
        return x.max(1, keepdims=True)
    return _max(x.T.copy(), 0)[:, None]


def _softmax_nll(x: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """softmax(x) (N, C), the row indices 0..N−1 and −log softmax(x)[i, t_i] (N,), computed
    from x − rowmax (exp never overflows)."""
    z = x - _row_max(x)
    rows = np.arange(len(x))
    picked = z[rows, t]
    e = np.exp(z, out=z)
    s = e.dot(ones[e.dtype][x.shape[1]])  # row sums as a gemv: 3x faster than sum(1) for C = 10
    nll = np.log(s) - picked  # −log softmax(x)_t
    e /= s[:, None]
    return e, rows, nll


class SoftmaxCrossEntropy(_Cost):
    """Cross entropy of logits x (N, C) and int targets t (N,); reduction 'mean'|'sum'|'none'."""

    saves = (0,)

    @classmethod
    def call(cls, x: Tensor, target: Tensor, ignore_index: int = -100) -> Tensor | None:
        """``cross_entropy(x, target)`` with no weight, no label smoothing and 'mean', fused with
        ``apply``, for x (N, C) float32/float64 (N ≥ 1) and target (N,) int64 with every class
        index in [0, C) and none equal to ``ignore_index``: the hot path of
        ``nn.CrossEntropyLoss``. Returns None, having done nothing, for anything else (the
        caller then runs ``functional.cross_entropy``, with its checks and errors). Raises
        AttributeError if x or target is not a Tensor."""
        a, t = x.data, target.data
        if (a.ndim != 2 or t.ndim != 1 or len(t) != len(a) or not len(t)
                or (t.dtype is not _INT64 and t.dtype != _INT64)
                or (a.dtype is not _F32 and a.dtype is not _F64)):
            return None
        lo, hi = _min(t), _max(t)
        if lo < 0 or hi >= a.shape[1] or lo <= ignore_index <= hi:
            return None
        node = _new(cls)
        out = node._plain(a, t)
        if not (x.requires_grad and mode.enabled):
            return _make(out, None, False)
        node.needs_input_grad = [True]
        node.parents = [x]
        node.arrays = [a]
        node.edges = [x.grad_fn or x]
        node.seq = next(_seq)  # Op._result, inline (saves_out is False)
        node.epoch = clock[0]
        if anomaly.enabled:
            anomaly.record(node)
        return _make(out, node, True)

    def _plain(self, x: np.ndarray, target: np.ndarray) -> np.ndarray:
        """The 'mean' loss where every row counts once (no weight, none ignored), 0-d; keeps
        softmax(x) (``p``), the targets (a copy: never the caller's array), the row indices
        and the denominator N for backward."""
        t = target.copy()
        n = len(t)
        self.p, self.rows, nll = _softmax_nll(x, t)
        self.t, self.w, self.reduction, self.denom = t, None, "mean", n
        return array(_sum(nll) / n, x.dtype)

    def forward(self, x, target=None, weight=None, ignore_index=-100, reduction="mean"):
        keep = target != ignore_index
        plain = weight is None and keep.all()  # every row counts once (w = 1): no weight array
        if plain and reduction == "mean" and len(target):
            return self._plain(x, target)
        t = target.copy() if plain else np.where(keep, target, 0)  # (never the caller's array)
        e, rows, nll = _softmax_nll(x, t)
        if plain:
            w = None
        elif weight is None:
            w = keep.astype(x.dtype)
        else:
            w = np.where(keep, weight[t], 0).astype(x.dtype)
        loss = nll if plain else nll * w
        self.p, self.t, self.rows, self.w, self.reduction = e, t, rows, w, reduction
        if reduction == "none":
            return loss
        total = np.sum(loss)
        if reduction != "mean":
            self.denom = None
            return np.asarray(total, dtype=x.dtype)
        denom = len(t) if plain else np.sum(w)
        if denom:
            self.denom = denom
            return np.asarray(total / denom, dtype=x.dtype)
        # Σ w = 0 (no rows, all ignored, or zero weights): the loss is 0/0 = NaN and, as
        # PyTorch's, so is each kept row's gradient; an ignored row's stays 0
        self.denom = None
        if w is not None and keep.any():
            self.w = np.where(keep, np.nan, 0).astype(x.dtype)
        return np.asarray(np.nan, dtype=x.dtype)

    def _grad_over_mlp(self) -> np.ndarray | None:
        if self.w is not None or self.reduction != "mean" or not self.denom:
            return None  # weighted, ignored rows, another reduction, no rows
        d = self.p.copy()  # (backward's NumPy rule, for an upstream gradient of 1)
        d[self.rows, self.t] -= 1.0
        d *= consts[d.dtype][2] / self.denom
        return d

    def backward(self, g):
        if isinstance(g, Tensor):
            x = self.parents[0]
            d = x.softmax(1) - Tensor._make(self._onehot(x.dtype), None, False)
        else:
            d = self.p.copy()
            d[self.rows, self.t] -= 1.0
        w, reduction = self.w, self.reduction
        mean = reduction == "mean" and self.denom  # (None when Σ w = 0: see forward)
        if reduction == "none":
            gcol = g.unsqueeze(1) if isinstance(g, Tensor) else g[:, None]
            return (d * (gcol if w is None else gcol * w[:, None]),)
        if w is not None:  # all ignored: w = 0, a zero gradient, as PyTorch
            return (d * ((w / self.denom if mean else w)[:, None] * g),)
        scale = g / self.denom if mean else g
        if isinstance(d, Tensor):
            return (d * scale,)
        d *= scale  # the usual scalar loss: d is this call's own fresh array
        return (d,)

    def _onehot(self, dtype):
        o = np.zeros(self.p.shape, dtype=dtype)
        o[self.rows, self.t] = 1.0
        return o

    def name(self) -> str:
        return "NllLossBackward0"
