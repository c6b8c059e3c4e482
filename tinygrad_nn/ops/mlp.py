"""``MLP``: a chain of Linear layers and their activations as one graph node.

``nn.Sequential`` hands every run of ``Linear`` (+ ``Sigmoid``/``ReLU``/``Tanh``) modules to this
op, so the book's [784, 30, 10] network is one node instead of four, and its backward is exactly
the matrix form of backpropagation (Nielsen ch. 2), with no Python work between the layers beyond
the loop. Layer l computes a^l = act_l(z^l), z^l = a^{l-1} W_lᵀ + b_l, with a^0 = x. Backward,
from g = ∂C/∂a^L:

    δ^l = g^l ⊙ act_l'(z^l)          (BP1 for l = L, BP2 below, with g^l = δ^{l+1} W_{l+1})
    ∂C/∂b_l = Σ_rows δ^l             (BP3)
    ∂C/∂W_l = (δ^l)ᵀ a^{l-1}         (BP4)

act' is read off the saved output: σ' = a(1 − a), tanh' = 1 − a², relu' = [a > 0].
Under create_graph the node recomputes its forward with per-layer tracked ops and differentiates
that, so higher-order gradients work as for the unfused layers.
"""

from __future__ import annotations

import numpy as np

from ..engine.node import Op
from ..tensor import Tensor
from .elementwise import sigmoid_grad, sigmoid_into, tanh_grad


def _activate(z: np.ndarray, act: str | None) -> np.ndarray:
    """act(z) in place (z is freshly allocated by the layer's matmul)."""
    if act == "sigmoid":
        sigmoid_into(z, z)
    elif act == "relu":
        np.maximum(z, 0, out=z)
    elif act == "tanh":
        np.tanh(z, out=z)
    return z


def _delta(g: np.ndarray, a: np.ndarray, act: str | None) -> np.ndarray:
    """δ = g ⊙ act'(z), from a = act(z); a fresh array (or g itself, without activation)."""
    if act == "sigmoid":
        return sigmoid_grad(g, a)
    if act == "relu":
        return g * (a > 0)
    if act == "tanh":
        return tanh_grad(g, a)
    return g


class MLP(Op):
    """inputs: x, W_1, b_1, ..., W_L, b_L (a bias may be None); ``acts``: one per layer.

    ``MLP.of(acts)`` is the op for one architecture (acts and ``saves`` as class attributes, so a
    call passes no keyword arguments: this is the hot path of ``nn.Sequential``).
    """

    saves_out = True
    exact_grads = True
    acts: tuple = ()
    _cache: dict = {}

    @classmethod
    def of(cls, acts: tuple) -> type[MLP]:
        op = cls._cache.get(acts)
        if op is None:
            saves = (0, *range(1, 2 * len(acts), 2))  # x and the weights (not the biases)
            op = cls._cache[acts] = type("MLP", (cls,), {"acts": acts, "saves": saves})
        return op

    def forward(self, x, *params):
        if x.ndim == 0:  # np.dot would broadcast a scalar; callers turn this into torch's error
            raise ValueError("a 0-d input has no features")
        acts = self.acts
        a = x
        outs = []
        for l, act in enumerate(acts):
            w, b = params[2 * l], params[2 * l + 1]
            z = np.dot(a, w.T)  # np.dot: matmul is slow for outer products (batch of 1)
            if b is not None:
                z += b
            a = _activate(z, act)
            outs.append(a)
        self.outs = outs
        return a

    def backward(self, g):
        if isinstance(g, Tensor):
            return self._backward_graph(g)
        n, acts, outs, arrays = self.needs_input_grad, self.acts, self.outs, self.arrays
        grads = [None] * len(arrays)
        for l in range(len(acts) - 1, -1, -1):
            delta = _delta(g, outs[l], acts[l])
            prev = outs[l - 1] if l else arrays[0]
            if delta.ndim != 2:  # batch dims of any rank: flatten for the parameter gradients
                d2, p2 = delta.reshape(-1, delta.shape[-1]), prev.reshape(-1, prev.shape[-1])
            else:
                d2, p2 = delta, prev
            if n[2 * l + 1]:
                grads[2 * l + 1] = np.dot(d2.T, p2)  # BP4
            if n[2 * l + 2]:
                grads[2 * l + 2] = d2.sum(0)  # BP3
            if l == 0 and not n[0]:
                break
            g = np.dot(delta, arrays[2 * l + 1])  # BP2: δ^l W_l, the gradient w.r.t. a^{l-1}
        if n[0]:
            grads[0] = g
        return grads

    def _backward_graph(self, g):
        """create_graph: rebuild the forward with tracked per-layer ops and differentiate it."""
        from ..autograd.functional import grad

        x, *params = self.parents
        a = x
        for l, act in enumerate(self.acts):
            a = Linear.apply(a, params[2 * l], params[2 * l + 1])
            if act is not None:
                a = getattr(a, act)()
        wanted = [i for i, need in enumerate(self.needs_input_grad) if need]
        got = grad(a, [self.parents[i] for i in wanted], g, create_graph=True, allow_unused=True)
        grads = [None] * len(self.parents)
        for i, gi in zip(wanted, got, strict=True):
            grads[i] = gi
        return grads

    def name(self) -> str:
        act = self.acts[-1] if self.acts else None
        return {
            None: "AddmmBackward0",
            "sigmoid": "SigmoidBackward0",
            "relu": "ReluBackward0",
            "tanh": "TanhBackward0",
        }[act]


from .matmul import Linear  # noqa: E402
