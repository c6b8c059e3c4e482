"""Fused loss ops: one graph node each for the costs of the hot training loops.

``SquaredError``: ``scale · Σ_axis (x − y)²``, the shared core of ``mse_loss`` (scale 1/N) and the
book's quadratic cost C = 1/(2n) Σ_x ||y(x) − a||² (scale 1/(2n), summed per example).
Gradient: ∂/∂x = 2·scale·(x − y) (broadcast over the reduced axes), ∂/∂y = −∂/∂x.

``SoftmaxCrossEntropy``: −w_t log softmax(x)_t per row for class-index targets t, with PyTorch's
``weight``, ``ignore_index`` and reductions ('mean' divides by Σ w_t over rows not ignored).
Gradient: (softmax(x) − onehot(t)) · w_t · g (/ Σ w_t for 'mean').
"""

from __future__ import annotations

import numpy as np

from ..engine import anomaly
from ..engine.constants import ones, scalars
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


class SquaredError(Op):
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

    def backward_root(self, retain_graph: bool | None) -> bool:
        """``loss.backward()`` when this cost sits right on an ``MLP`` node (the book's step), as
        one call: ∂C/∂a^L = (a − y)·2·scale as ``backward`` computes it, then the MLP's rules
        (``backward_into``) store the parameters' gradients in their ``.grad``. The same
        arithmetic and the same result as the engine's loop over the two nodes, taken only when
        the loop would do nothing else: the clock has not moved since the MLP node was made (no
        in-place change since the forward, neither node freed), no ``retain_grad``, only the
        parameters need gradients (not x, not y), no anomaly detection. Returns False, having
        done nothing, otherwise."""
        c = clock[0]
        if self.epoch != c or anomaly.enabled:  # (a freed node's epoch is -1)
            return False
        m = self.edges[0]
        if not (isinstance(m, MLP) and m.epoch == c and m.edges[0] is None
                and self.edges[1] is None and self.exact_grads and self.axis is None
                and m._retained is None and self._retained is None):
            return False
        d = self.d
        m.backward_into(d * scalars[d.dtype][2.0 * self.scale])  # (upstream 1: backward's factor)
        if not retain_graph:
            self.release()
            m.release()
        return True

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


class SoftmaxCrossEntropy(Op):
    """Cross entropy of logits x (N, C) and int targets t (N,); reduction 'mean'|'sum'|'none'."""

    saves = (0,)

    def forward(self, x, target=None, weight=None, ignore_index=-100, reduction="mean"):
        n, c = x.shape
        z = x - x.max(1, keepdims=True)
        rows = np.arange(n)
        keep = target != ignore_index
        plain = weight is None and keep.all()  # every row counts once (w = 1): no weight array
        t = target.copy() if plain else np.where(keep, target, 0)  # (never the caller's array)
        picked = z[rows, t]
        e = np.exp(z, out=z)
        s = e.dot(ones[e.dtype][c])  # row sums as a gemv: 3x faster than sum(1) for C = 10
        nll = np.log(s) - picked  # −log softmax(x)_t
        e /= s[:, None]  # softmax, kept for backward
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
        self.denom = (n if plain else np.sum(w)) if reduction == "mean" else None
        return np.asarray(total / self.denom if reduction == "mean" else total, dtype=x.dtype)

    def backward(self, g):
        if isinstance(g, Tensor):
            x = self.parents[0]
            d = x.softmax(1) - Tensor._make(self._onehot(x.dtype), None, False)
        else:
            d = self.p.copy()
            d[self.rows, self.t] -= 1.0
        w, reduction = self.w, self.reduction
        mean = reduction == "mean" and self.denom  # (Σ w = 0: every row ignored, or no rows)
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
