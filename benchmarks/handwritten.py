"""Hand-written NumPy training steps: the practical speed limit for any NumPy framework.

Each epoch function is the whole mini-batch SGD loop written by hand, with the closed-form
backward pass in matrix form, buffers allocated once, ufuncs writing into them and in-place
parameter updates, so nothing but the arithmetic and NumPy's per-call overhead is left (and at
the book's batch of 10, that overhead is kept as small as NumPy allows: see ``book_epoch``).
Layouts are PyTorch's: a weight is (out, in), a bias (out,), a batch (m, in) with one example per
row, so ``z = x W^T + b``.

book  [784, 30, 10], sigmoid, quadratic cost C = 1/(2m) Σ_x ||y(x) − a(x)||², SGD:
      δ^L = (a^L − y) ⊙ σ'(z^L)                         (BP1, one row per example)
      δ^l = (δ^{l+1} W^{l+1}) ⊙ σ'(z^l)                  (BP2)
      ∂C/∂b^l = (1/m) Σ_rows δ^l,  ∂C/∂W^l = (1/m) δ^lᵀ a^{l−1}   (BP3, BP4)
      with σ'(z) = a(1 − a); the factor η/m is folded into δ^L once, so the update is W −= δᵀa.
      σ(z) = ½ tanh(z/2) + ½ is exact and never overflows.
wide  [784, 512, 512, 10], ReLU, softmax cross-entropy on class indices (mean), SGD:
      δ^L = (softmax(z^L) − onehot(y)) η/m, then δ^l = (δ^{l+1} W^{l+1}) ⊙ [z^l > 0].
"""

from __future__ import annotations

import numpy as np


def init_book(rng: np.random.Generator, sizes: list[int], dtype) -> list[np.ndarray]:
    """N(0, 1) weights (out, in) and biases (out,), as the book does: [W1, b1, W2, b2, ...]."""
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        params += [rng.standard_normal((n_out, n_in)).astype(dtype),
                   rng.standard_normal(n_out).astype(dtype)]
    return params


def init_default(rng: np.random.Generator, sizes: list[int], dtype) -> list[np.ndarray]:
    """PyTorch's nn.Linear default: weight and bias ~ U(−1/√in, 1/√in)."""
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        bound = 1.0 / np.sqrt(n_in)
        params += [rng.uniform(-bound, bound, (n_out, n_in)).astype(dtype),
                   rng.uniform(-bound, bound, n_out).astype(dtype)]
    return params


def book_epoch(params: list[np.ndarray], x: np.ndarray, y: np.ndarray, lr: float,
               batch_size: int) -> None:
    """One SGD pass over (x, y one-hot) for a 2-layer sigmoid net; updates ``params`` in place.

    Written for NumPy's per-call cost, which at batch 10 is most of the time: ``ndarray.dot``
    (BLAS without the matmul gufunc's machinery), every ufunc called directly with its output
    passed positionally (a keyword ``out=`` costs NumPy 2.4 about 0.5 µs of argument parsing per
    call — 17% of this step when every call had one — and an in-place operator such as
    ``A *= c`` goes through the operator protocol first: 4% of the step), row sums as a product
    with a ones vector (a BLAS gemv, cheaper than ``add.reduce`` here), constants as 0-d arrays.
    """
    W1, b1, W2, b2 = params
    dt = W1.dtype
    n, hidden, k = len(x), W1.shape[0], W2.shape[0]
    half, one = np.array(0.5, dt), np.array(1.0, dt)
    W1T, W2T = W1.T, W2.T                        # views: BLAS reads them transposed, no copy
    A1f, S1f = np.empty((batch_size, hidden), dt), np.empty((batch_size, hidden), dt)
    A2f, D2f = np.empty((batch_size, k), dt), np.empty((batch_size, k), dt)
    S2f = np.empty((batch_size, k), dt)
    gW1, gW2 = np.empty_like(W1), np.empty_like(W2)
    gb1, gb2 = np.empty_like(b1), np.empty_like(b2)
    ones_f = np.ones(batch_size, dt)
    scale_f = np.array(lr / batch_size, dt)
    add, multiply, subtract, tanh = np.add, np.multiply, np.subtract, np.tanh
    for i in range(0, n, batch_size):
        xb = x[i:i + batch_size]
        yb = y[i:i + batch_size]
        m = len(xb)
        if m == batch_size:
            A1, S1, A2, D2, S2, ones, scale = A1f, S1f, A2f, D2f, S2f, ones_f, scale_f
        else:
            A1, S1, A2, D2, S2, ones = A1f[:m], S1f[:m], A2f[:m], D2f[:m], S2f[:m], ones_f[:m]
            scale = np.array(lr / m, dt)
        # forward: a1 = σ(x W1ᵀ + b1), a2 = σ(a1 W2ᵀ + b2), σ(z) = ½ tanh(½ z) + ½
        xb.dot(W1T, A1)
        add(A1, b1, A1)
        multiply(A1, half, A1)
        tanh(A1, A1)
        multiply(A1, half, A1)
        add(A1, half, A1)
        A1.dot(W2T, A2)
        add(A2, b2, A2)
        multiply(A2, half, A2)
        tanh(A2, A2)
        multiply(A2, half, A2)
        add(A2, half, A2)
        # BP1 with η/m folded in: δ2 = (a2 − y) ⊙ a2 ⊙ (1 − a2) · η/m
        subtract(A2, yb, D2)
        subtract(one, A2, S2)
        multiply(S2, A2, S2)
        multiply(S2, scale, S2)
        multiply(D2, S2, D2)
        # BP4 for layer 2 (a1 still intact), then BP2 with W2 before its update
        D2.T.dot(A1, gW2)
        D2.dot(W2, S1)
        subtract(W2, gW2, W2)
        ones.dot(D2, gb2)                        # BP3: Σ_rows δ2 = 1ᵀ δ2
        subtract(b2, gb2, b2)
        # δ1 = (δ2 W2) ⊙ a1 ⊙ (1 − a1)
        multiply(S1, A1, S1)
        subtract(one, A1, A1)
        multiply(S1, A1, S1)
        S1.T.dot(xb, gW1)
        subtract(W1, gW1, W1)
        ones.dot(S1, gb1)
        subtract(b1, gb1, b1)


def wide_epoch(params: list[np.ndarray], x: np.ndarray, labels: np.ndarray, lr: float,
               batch_size: int) -> None:
    """One pass of SGD over (x, class labels) for a ReLU net with softmax cross-entropy (mean)."""
    W1, b1, W2, b2, W3, b3 = params
    dt = W1.dtype
    n, h1, h2, k = len(x), W1.shape[0], W2.shape[0], W3.shape[0]
    H1f, H2f = np.empty((batch_size, h1), dt), np.empty((batch_size, h2), dt)
    D1f, D2f = np.empty((batch_size, h1), dt), np.empty((batch_size, h2), dt)
    Zf = np.empty((batch_size, k), dt)
    Mf = np.empty((batch_size, max(h1, h2)), bool)
    rowmax, rowsum = np.empty((batch_size, 1), dt), np.empty((batch_size, 1), dt)
    grads = [np.empty_like(p) for p in params]
    gW1, gb1, gW2, gb2, gW3, gb3 = grads
    rows = np.arange(batch_size)
    matmul, multiply, add, subtract, maximum = (np.matmul, np.multiply, np.add, np.subtract,
                                                np.maximum)
    add_reduce, max_reduce = np.add.reduce, np.maximum.reduce
    zero = dt.type(0)
    for i in range(0, n, batch_size):
        xb = x[i:i + batch_size]
        yb = labels[i:i + batch_size]
        m = len(xb)
        if m == batch_size:
            H1, H2, D1, D2, Z, rmax, rsum = H1f, H2f, D1f, D2f, Zf, rowmax, rowsum
        else:
            H1, H2, D1, D2, Z = H1f[:m], H2f[:m], D1f[:m], D2f[:m], Zf[:m]
            rmax, rsum = rowmax[:m], rowsum[:m]
        # forward: h1 = relu(x W1ᵀ + b1), h2 = relu(h1 W2ᵀ + b2), z = h2 W3ᵀ + b3
        matmul(xb, W1.T, out=H1)
        add(H1, b1, out=H1)
        maximum(H1, zero, out=H1)
        matmul(H1, W2.T, out=H2)
        add(H2, b2, out=H2)
        maximum(H2, zero, out=H2)
        matmul(H2, W3.T, out=Z)
        add(Z, b3, out=Z)
        # δ3 = (softmax(z) − onehot(y)) · η/m, softmax computed stably in place
        max_reduce(Z, 1, keepdims=True, out=rmax)
        subtract(Z, rmax, out=Z)
        np.exp(Z, out=Z)
        add_reduce(Z, 1, keepdims=True, out=rsum)
        np.divide(dt.type(lr / m), rsum, out=rsum)
        multiply(Z, rsum, out=Z)
        Z[rows[:m], yb] -= dt.type(lr / m)
        # layer 3 gradients; δ2 = (δ3 W3) ⊙ [h2 > 0] (W3 read before its update)
        matmul(Z.T, H2, out=gW3)
        add_reduce(Z, 0, out=gb3)
        matmul(Z, W3, out=D2)
        M = Mf[:m, :h2]
        np.greater(H2, zero, out=M)
        multiply(D2, M, out=D2)
        subtract(W3, gW3, out=W3)
        subtract(b3, gb3, out=b3)
        # layer 2; δ1 = (δ2 W2) ⊙ [h1 > 0]
        matmul(D2.T, H1, out=gW2)
        add_reduce(D2, 0, out=gb2)
        matmul(D2, W2, out=D1)
        M = Mf[:m, :h1]
        np.greater(H1, zero, out=M)
        multiply(D1, M, out=D1)
        subtract(W2, gW2, out=W2)
        subtract(b2, gb2, out=b2)
        # layer 1
        matmul(D1.T, xb, out=gW1)
        add_reduce(D1, 0, out=gb1)
        subtract(W1, gW1, out=W1)
        subtract(b1, gb1, out=b1)


def predict(params: list[np.ndarray], x: np.ndarray, activation: str) -> np.ndarray:
    """Class predictions (argmax of the last layer) for x (N, in); activation 'sigmoid'|'relu'."""
    a = x
    n_layers = len(params) // 2
    for j in range(n_layers):
        a = a @ params[2 * j].T + params[2 * j + 1]
        if j < n_layers - 1 or activation == "sigmoid":  # the last sigmoid keeps the argmax
            a = 0.5 * np.tanh(0.5 * a) + 0.5 if activation == "sigmoid" else np.maximum(a, 0)
    return a.argmax(axis=1)
