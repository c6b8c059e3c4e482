"""Closed-form backpropagation for a fully connected sigmoid network with the quadratic cost.

This module is the *oracle*: it uses NumPy only (nothing from the autograd engine), follows
Nielsen's "Neural Networks and Deep Learning" chapters 1-2 equation by equation, and is what the
engine's tests compare against. Read it next to the book.

Network and notation (the book's, with one example per *row* instead of per column):

- ``L`` layers after the input; layer ``l = 1..L`` has ``n_l`` neurons, the input has ``n_0``.
- ``weights[l-1]`` is ``w^l`` of shape ``(n_l, n_{l-1})``: ``w^l[j, k]`` connects neuron ``k`` of
  layer ``l-1`` to neuron ``j`` of layer ``l``. ``biases[l-1]`` is ``b^l`` of shape ``(n_l,)``.
- ``x`` has shape ``(m, n_0)``: a mini-batch of ``m`` examples, one per row; ``y`` has shape
  ``(m, n_L)``, the desired outputs ``y(x)``.
- For one example (a column vector in the book) ``z^l = w^l a^{l-1} + b^l`` and
  ``a^l = sigma(z^l)``. Stacking the ``m`` examples as rows turns this into
  ``Z^l = A^{l-1} (w^l)^T + b^l`` with ``Z^l, A^l`` of shape ``(m, n_l)``: row ``i`` of ``Z^l``
  is the book's ``z^l`` for example ``i``.
- The cost is the quadratic cost (book eq. 6), averaged over the mini-batch::

      C = 1/(2m) * sum_x ||y(x) - a^L(x)||^2

dtypes: everything is computed in the floating dtype of the inputs (float32 stays float32,
float64 stays float64; mixing them gives float64, NumPy's rule). Integer or boolean arrays, such as
one-hot targets, are cast to that dtype; if no input is floating point, float64 is used.
Inputs are never modified.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike

__all__ = [
    "sigmoid",
    "sigmoid_prime",
    "feedforward",
    "cost",
    "backprop",
    "sgd_step",
]


# --------------------------------------------------------------------------------------------
# The sigmoid neuron
# --------------------------------------------------------------------------------------------


def sigmoid(z: ArrayLike) -> np.ndarray:
    """The logistic function ``sigma(z) = 1 / (1 + exp(-z))`` (book eq. 3), elementwise.

    Computed without overflow for any finite ``z``: with ``e = exp(-|z|)`` (always in (0, 1]),
    ``sigma(z) = 1 / (1 + e)`` for ``z >= 0`` and ``e / (1 + e)`` for ``z < 0``. The naive
    ``1 / (1 + exp(-z))`` overflows (and warns) for ``z < -709`` in float64 (``-88`` in float32).
    Same shape and floating dtype as ``z``.
    """
    z = np.asarray(z)
    if not np.issubdtype(z.dtype, np.floating):
        z = z.astype(np.float64)
    with np.errstate(under="ignore"):  # exp(-|z|) underflowing to 0 is exact enough
        e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1 / (1 + e), e / (1 + e))


def sigmoid_prime(z: ArrayLike) -> np.ndarray:
    """The derivative ``sigma'(z) = sigma(z) (1 - sigma(z))``, elementwise.

    ``sigma'`` is even, and with ``e = exp(-|z|)`` it equals ``e / (1 + e)^2``; this form has no
    overflow and, unlike ``sigma (1 - sigma)``, no cancellation when ``sigma(z)`` is close to 1.
    Same shape and floating dtype as ``z``.
    """
    z = np.asarray(z)
    if not np.issubdtype(z.dtype, np.floating):
        z = z.astype(np.float64)
    with np.errstate(under="ignore"):
        e = np.exp(-np.abs(z))
    return e / (1 + e) ** 2


# --------------------------------------------------------------------------------------------
# Input checking
# --------------------------------------------------------------------------------------------


def _common_dtype(arrays: Sequence[np.ndarray]) -> np.dtype:
    """The floating dtype to compute in: NumPy's promotion of the floating-point inputs."""
    for a in arrays:
        if a.dtype.kind not in "fiub":
            raise TypeError(
                f"expected real numeric arrays (float, int or bool), got dtype {a.dtype}"
            )
    floating = [a.dtype for a in arrays if a.dtype.kind == "f"]
    return np.result_type(*floating) if floating else np.dtype(np.float64)


def _check_network(
    weights: Sequence[ArrayLike], biases: Sequence[ArrayLike], x: ArrayLike, y: ArrayLike | None,
    need_y: bool = True,
) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray, np.ndarray | None]:
    """Validate shapes and cast everything to one floating dtype (copies only when needed)."""
    if need_y and y is None:
        raise TypeError("y (the desired outputs, one row per example) is required, got None")
    if isinstance(weights, np.ndarray) or isinstance(biases, np.ndarray):
        raise TypeError(
            "weights and biases must be lists of arrays (one per layer), not a single array"
        )
    weights = [np.asarray(w) for w in weights]
    biases = [np.asarray(b) for b in biases]
    x = np.asarray(x)
    y = None if y is None else np.asarray(y)
    if len(weights) == 0:
        raise ValueError("expected at least one layer, got empty lists of weights and biases")
    if len(weights) != len(biases):
        raise ValueError(
            f"expected one bias vector per weight matrix, got {len(weights)} weight matrices "
            f"and {len(biases)} bias vectors"
        )
    for l, (w, b) in enumerate(zip(weights, biases, strict=True), start=1):
        if w.ndim != 2:
            raise ValueError(
                f"weights[{l - 1}] (w^{l}) must be 2-D of shape (n_{l}, n_{l - 1}), "
                f"got shape {w.shape}"
            )
        if b.shape != (w.shape[0],):
            raise ValueError(
                f"biases[{l - 1}] (b^{l}) must have shape (n_{l},) = ({w.shape[0]},) to match "
                f"weights[{l - 1}] of shape {w.shape}, got shape {b.shape}"
            )
        if l > 1 and w.shape[1] != weights[l - 2].shape[0]:
            raise ValueError(
                f"weights[{l - 1}] (w^{l}) has shape {w.shape}, so it expects "
                f"{w.shape[1]} inputs, but layer {l - 1} has "
                f"{weights[l - 2].shape[0]} neurons (weights[{l - 2}] has shape "
                f"{weights[l - 2].shape}); expected shape ({w.shape[0]}, {weights[l - 2].shape[0]})"
            )
    n_in, n_out = weights[0].shape[1], weights[-1].shape[0]
    if x.ndim != 2 or x.shape[1] != n_in:
        hint = " (for a single example use x[None, :])" if x.ndim == 1 else ""
        raise ValueError(
            f"x must have shape (m, n_0) = (m, {n_in}), one example per row, "
            f"got shape {x.shape}{hint}"
        )
    if x.shape[0] == 0:
        raise ValueError("x must hold at least one example (m >= 1), got m = 0")
    if y is not None and y.shape != (x.shape[0], n_out):
        raise ValueError(
            f"y must have shape (m, n_L) = ({x.shape[0]}, {n_out}), one target per row of x, "
            f"got shape {y.shape}"
        )
    dtype = _common_dtype([*weights, *biases, x] + ([] if y is None else [y]))
    weights = [w.astype(dtype, copy=False) for w in weights]
    biases = [b.astype(dtype, copy=False) for b in biases]
    x = x.astype(dtype, copy=False)
    y = None if y is None else y.astype(dtype, copy=False)
    return weights, biases, x, y


# --------------------------------------------------------------------------------------------
# Forward pass, cost, backward pass
# --------------------------------------------------------------------------------------------


def _forward(
    weights: list[np.ndarray], biases: list[np.ndarray], x: np.ndarray
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Return ``(zs, activations)``: ``zs = [z^1..z^L]``, ``activations = [a^0 = x, ..., a^L]``."""
    activation = x
    activations = [x]  # a^0 = x
    zs = []  # z^1, ..., z^L
    for w, b in zip(weights, biases, strict=True):
        z = activation @ w.T + b  # z^l = w^l a^{l-1} + b^l  (book eq. 25), one row per example
        activation = sigmoid(z)  # a^l = sigma(z^l)
        zs.append(z)
        activations.append(activation)
    return zs, activations


def feedforward(
    weights: Sequence[ArrayLike], biases: Sequence[ArrayLike], x: ArrayLike
) -> list[np.ndarray]:
    """The activations of every layer, ``[a^0 = x, a^1, ..., a^L]``.

    ``a^l = sigma(w^l a^{l-1} + b^l)`` (book eq. 25), computed for all ``m`` examples at once:
    ``a^l`` has shape ``(m, n_l)``, row ``i`` belonging to example ``x[i]``.
    """
    weights, biases, x, _ = _check_network(weights, biases, x, None, need_y=False)
    return _forward(weights, biases, x)[1]


def cost(
    weights: Sequence[ArrayLike], biases: Sequence[ArrayLike], x: ArrayLike, y: ArrayLike
) -> np.floating:
    """The quadratic cost ``C = 1/(2m) sum_x ||y(x) - a^L(x)||^2`` (book eq. 6).

    Returns a NumPy scalar of the computation dtype.
    """
    weights, biases, x, y = _check_network(weights, biases, x, y)
    output = _forward(weights, biases, x)[1][-1]
    m = x.shape[0]
    return ((output - y) ** 2).sum() / (2 * m)


def backprop(
    weights: Sequence[ArrayLike], biases: Sequence[ArrayLike], x: ArrayLike, y: ArrayLike
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The gradient of the quadratic cost by backpropagation (book chapter 2, BP1-BP4).

    Returns ``(nabla_w, nabla_b)`` with ``nabla_w[l-1] = dC/dw^l`` of shape ``(n_l, n_{l-1})``
    and ``nabla_b[l-1] = dC/db^l`` of shape ``(n_l,)``, for
    ``C = 1/(2m) sum_x C_x`` with ``C_x = ||y(x) - a^L(x)||^2 / 2``, i.e. the *average* over the
    mini-batch of the per-example gradients that the book's ``backprop(x, y)`` computes.

    ``delta`` has shape ``(m, n_l)``: row ``i`` is the book's error ``delta^l = dC_x/dz^l`` of
    example ``i``. In this row-per-example layout the book's column equations read:

    - (BP1) ``delta^L = (a^L - y) * sigma'(z^L)``
    - (BP2) ``delta^l = ((w^{l+1})^T delta^{l+1}) * sigma'(z^l)``, i.e. ``delta^{l+1} @ w^{l+1}``
    - (BP3) ``dC/db^l = mean over the batch of delta^l``
    - (BP4) ``dC/dw^l = (1/m) sum_x delta^l (a^{l-1})^T``, i.e. ``(delta^l)^T @ a^{l-1} / m``
    """
    weights, biases, x, y = _check_network(weights, biases, x, y)
    m = x.shape[0]
    num_layers = len(weights)  # L (the book's num_layers also counts the input layer: L + 1)
    nabla_w: list[np.ndarray] = [np.empty(0)] * num_layers
    nabla_b: list[np.ndarray] = [np.empty(0)] * num_layers

    zs, activations = _forward(weights, biases, x)  # zs[-1] = z^L, activations[-1] = a^L

    # (BP1) Output error: delta^L = nabla_a C_x * sigma'(z^L), with nabla_a C_x = a^L - y.
    delta = (activations[-1] - y) * sigmoid_prime(zs[-1])
    # (BP3) dC/db^L_j = delta^L_j, averaged over the m examples.
    nabla_b[-1] = delta.sum(axis=0) / m
    # (BP4) dC/dw^L_jk = a^{L-1}_k delta^L_j, summed over the examples and divided by m.
    nabla_w[-1] = delta.T @ activations[-2] / m

    # Walk back through the layers with the book's negative indexing: -l is the l-th layer
    # from the end, so zs[-l] = z^{L-l+1}, weights[-l + 1] is the layer after it, and
    # activations[-l - 1] is the activation feeding it.
    for l in range(2, num_layers + 1):
        # (BP2) delta^l = ((w^{l+1})^T delta^{l+1}) * sigma'(z^l); with rows: delta @ w^{l+1}.
        delta = (delta @ weights[-l + 1]) * sigmoid_prime(zs[-l])
        nabla_b[-l] = delta.sum(axis=0) / m  # (BP3)
        nabla_w[-l] = delta.T @ activations[-l - 1] / m  # (BP4)
    return nabla_w, nabla_b


def sgd_step(
    weights: Sequence[ArrayLike],
    biases: Sequence[ArrayLike],
    x: ArrayLike,
    y: ArrayLike,
    eta: float,
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """One step of mini-batch stochastic gradient descent (book eqs. 20-21).

    ``w -> w' = w - (eta/m) sum_x dC_x/dw`` and ``b -> b' = b - (eta/m) sum_x dC_x/db``,
    where the sums run over the ``m`` examples of the mini-batch ``(x, y)``. Since
    :func:`backprop` already returns the batch average, this is ``w - eta * nabla_w``.

    Returns new lists ``(weights', biases')``; the inputs are not modified.
    """
    if isinstance(eta, bool) or not isinstance(eta, (int, float, np.integer, np.floating)):
        raise TypeError(f"eta must be a real number, got {type(eta).__name__}")
    eta = float(eta)  # a Python float does not change the arrays' dtype (NumPy 2 promotion)
    if not math.isfinite(eta) or eta < 0:
        raise ValueError(f"eta (the learning rate) must be finite and >= 0, got {eta}")
    weights, biases, x, y = _check_network(weights, biases, x, y)
    nabla_w, nabla_b = backprop(weights, biases, x, y)
    new_weights = [w - eta * nw for w, nw in zip(weights, nabla_w, strict=True)]
    new_biases = [b - eta * nb for b, nb in zip(biases, nabla_b, strict=True)]
    return new_weights, new_biases
