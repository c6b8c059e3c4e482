"""matmul and the fused linear layer: forward and backward.

matmul follows NumPy/PyTorch: 1-D operands are promoted to a row (left) or a column (right) and
the added dim is removed; leading (batch) dims broadcast and the engine sums their gradient back.
For C = A @ B:  dA = dC @ Bᵀ,  dB = Aᵀ @ dC.
"""

from __future__ import annotations

import numpy as np

from ..engine.constants import ones
from ..engine.node import Op, xp
from ..tensor import Tensor


class Matmul(Op):
    saves = (0, 1)
    saved_for = {0: (1,), 1: (0,)}  # dx = g yᵀ reads y, dy = xᵀ g reads x
    core_dims = 2  # only the batch dims broadcast

    def forward(self, x, y):
        return np.matmul(x, y)

    def backward(self, g):
        x, y = self.inputs(g)
        n = self.needs_input_grad
        if x.ndim == 1 and y.ndim == 1:  # dot product: g is 0-d
            return (g * y if n[0] else None), (g * x if n[1] else None)
        if x.ndim == 1:  # (k) @ (..., k, m) -> (..., m)
            g2 = xp(g).expand_dims(g, -2)  # (..., 1, m)
            gx = (g2 @ y.mT)[..., 0, :] if n[0] else None
            gy = x[:, None] * g2 if n[1] else None
            return gx, gy
        if y.ndim == 1:  # (..., n, k) @ (k) -> (..., n)
            g2 = xp(g).expand_dims(g, -1)  # (..., n, 1)
            gx = g2 * y if n[0] else None
            gy = (x.mT @ g2)[..., 0] if n[1] else None
            return gx, gy
        return (g @ y.mT if n[0] else None), (x.mT @ g if n[1] else None)


#: from this many rows on, BP4's δᵀa goes to np.matmul's kernel (ndarray.dot below: its outer
#: product for few rows is 7x faster). ``ops.mlp``'s generated backward uses it too.
MATMUL_ROWS = 32


def param_grads(delta: np.ndarray, a: np.ndarray, need_w: bool, need_b: bool):
    """BP4 and BP3 of a layer z = a Wᵀ + b: ``(∂C/∂W, ∂C/∂b) = (δᵀ a, Σ_rows δ)``.

    δ = ∂C/∂z (..., out) and a (..., in), NumPy arrays of one dtype; rows are all leading dims
    flattened. Gives (out, in) and (out,) arrays (None where not needed). Σ_rows is the product
    1ᵀδ: a BLAS gemv, twice as fast as ``δ.sum(0)`` at batch 10 and three times at batch 256.
    """
    if delta.ndim != 2:
        delta = delta.reshape(-1, delta.shape[-1])
        a = a.reshape(-1, a.shape[-1])
    rows = len(delta)
    # BP4: ndarray.dot (no np.dot dispatch layer) for a few rows (matmul's outer product, one
    # row, is 7x slower), matmul's kernel for many
    gw = (np.matmul(delta.T, a) if rows > MATMUL_ROWS else delta.T.dot(a)) if need_w else None
    gb = ones[delta.dtype][rows].dot(delta) if need_b else None  # BP3
    return gw, gb


class Linear(Op):
    """y = x Wᵀ + b for x (..., in), W (out, in), b (out,) or None. PyTorch: AddmmBackward0.

    dx = g W,  dW = gᵀ x,  db = Σ_rows g   (rows = all leading dims of x flattened).
    """

    saves = (0, 1)
    saved_for = {0: (1,), 1: (0,)}  # dW reads x, dx reads W
    exact_grads = fresh_grads = True

    def forward(self, x, w, b=None):
        if x.ndim == 0:  # np.dot would broadcast a scalar; callers turn this into torch's error
            raise ValueError("a 0-d input has no features")
        z = x.dot(w.T)  # not @: matmul takes a slow path for outer products
        if b is not None:
            z += b
        return z

    def backward(self, g):
        x, w = self.inputs(g)[:2]
        n = self.needs_input_grad
        need_b = len(n) > 2 and n[2]
        if not isinstance(g, Tensor):
            return (g.dot(w) if n[0] else None), *param_grads(g, x, n[1], need_b)
        gx = g @ w if n[0] else None
        if g.ndim != 2:  # flatten leading dims for the parameter gradients
            g = g.reshape(-1, g.shape[-1])
            x = x.reshape(-1, x.shape[-1])
        return gx, (g.T @ x if n[1] else None), (g.sum(0) if need_b else None)

    def name(self) -> str:
        return "AddmmBackward0"
