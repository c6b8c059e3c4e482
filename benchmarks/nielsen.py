"""The book's own algorithm (Nielsen, *Neural Networks and Deep Learning*, ch. 1–2, network.py).

Per-example backpropagation with column vectors in float64: for each mini-batch, each example's
gradient is computed on its own by BP1–BP4 and the gradients are summed, then
``w → w − (η/m) Σ_x ∂C_x/∂w``. Written here from the equations (not copied) to show what a
framework replaces. Weights are (n_l, n_{l−1}), biases column vectors (n_l, 1).
"""

from __future__ import annotations

import numpy as np


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def sigmoid_prime(z: np.ndarray) -> np.ndarray:
    s = sigmoid(z)
    return s * (1 - s)


class Network:
    """A sigmoid network with the quadratic cost, trained one example at a time."""

    def __init__(self, params: list[np.ndarray]):
        """``params`` = [W1, b1, W2, b2, ...] with W (out, in) and b (out,); copied to float64."""
        self.weights = [np.array(w, dtype=np.float64) for w in params[0::2]]
        self.biases = [np.array(b, dtype=np.float64).reshape(-1, 1) for b in params[1::2]]

    def params(self) -> list[np.ndarray]:
        out = []
        for w, b in zip(self.weights, self.biases, strict=True):
            out += [w, b.ravel()]
        return out

    def backprop(self, x: np.ndarray, y: np.ndarray) -> tuple[list, list]:
        """Gradient of C_x = ½||y − a^L||² for one example (column vectors x, y)."""
        activation, activations, zs = x, [x], []
        for w, b in zip(self.weights, self.biases, strict=True):
            z = np.dot(w, activation) + b
            zs.append(z)
            activation = sigmoid(z)
            activations.append(activation)
        nabla_b = [None] * len(self.biases)
        nabla_w = [None] * len(self.weights)
        delta = (activations[-1] - y) * sigmoid_prime(zs[-1])                  # BP1
        nabla_b[-1] = delta                                                     # BP3
        nabla_w[-1] = np.dot(delta, activations[-2].T)                          # BP4
        for layer in range(2, len(self.weights) + 1):
            delta = np.dot(self.weights[-layer + 1].T, delta) * sigmoid_prime(zs[-layer])  # BP2
            nabla_b[-layer] = delta
            nabla_w[-layer] = np.dot(delta, activations[-layer - 1].T)
        return nabla_b, nabla_w

    def update_mini_batch(self, xs: np.ndarray, ys: np.ndarray, eta: float) -> None:
        """One SGD step over a mini-batch given as rows; each row becomes a column vector."""
        nabla_b = [np.zeros(b.shape) for b in self.biases]
        nabla_w = [np.zeros(w.shape) for w in self.weights]
        for x, y in zip(xs, ys, strict=True):
            dnb, dnw = self.backprop(x.reshape(-1, 1), y.reshape(-1, 1))
            nabla_b = [nb + d for nb, d in zip(nabla_b, dnb, strict=True)]
            nabla_w = [nw + d for nw, d in zip(nabla_w, dnw, strict=True)]
        m = len(xs)
        self.weights = [w - (eta / m) * nw for w, nw in zip(self.weights, nabla_w, strict=True)]
        self.biases = [b - (eta / m) * nb for b, nb in zip(self.biases, nabla_b, strict=True)]

    def sgd_epoch(self, x: np.ndarray, y: np.ndarray, eta: float, batch_size: int) -> None:
        """Mini-batches taken in order from already shuffled (x, y one-hot), float64."""
        for k in range(0, len(x), batch_size):
            self.update_mini_batch(x[k:k + batch_size], y[k:k + batch_size], eta)

    def predict(self, x: np.ndarray) -> np.ndarray:
        a = np.asarray(x, dtype=np.float64).T
        for w, b in zip(self.weights, self.biases, strict=True):
            a = sigmoid(np.dot(w, a) + b)
        return a.argmax(axis=0)
