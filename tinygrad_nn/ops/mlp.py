"""``MLP``: a chain of Linear layers and their activations as one graph node.

``nn.Sequential`` hands every run of ``Linear`` (+ ``Sigmoid``/``ReLU``/``Tanh``) modules to this
op, so the book's [784, 30, 10] network is one node instead of four, and its backward is exactly
the matrix form of backpropagation (Nielsen ch. 2), with no Python work between the layers beyond
the loop. Layer l computes a^l = act_l(z^l), z^l = a^{l-1} W_lᵀ + b_l, with a^0 = x. Backward,
from g = ∂C/∂a^L:

    δ^l = g^l ⊙ act_l'(z^l)          (BP1 for l = L, BP2 below, with g^l = δ^{l+1} W_{l+1})
    ∂C/∂b_l = Σ_rows δ^l             (BP3)
    ∂C/∂W_l = (δ^l)ᵀ a^{l-1}         (BP4)

act' is read off the layer's output, kept by the node with the others (``activations``:
[a^0 = x, a^1, ..., a^L], the book's ``activations`` list): σ' = a(1 − a), tanh' = 1 − a²,
relu' = [a > 0].
Under create_graph the node recomputes its forward with per-layer tracked ops and differentiates
that, so higher-order gradients work as for the unfused layers.
"""

from __future__ import annotations

import numpy as np

from ..engine.constants import consts
from ..engine.grad_mode import mode
from ..engine.node import Op
from ..tensor import Tensor
from .elementwise import relu_grad, sigmoid_grad, sigmoid_into, tanh_grad
from .matmul import Linear, param_grads

_new = object.__new__
_GRADS = {"sigmoid": sigmoid_grad, "relu": relu_grad, "tanh": tanh_grad, None: None}  # act'


class MLP(Op):
    """inputs: x, W_1, b_1, ..., W_L, b_L (a bias may be None); ``acts``: one per layer.

    ``MLP.of(acts)`` is the op for one architecture (acts and ``saves`` as class attributes), and
    ``MLP.of(acts).call(x, layers)`` runs and records it: the hot path of ``nn.Sequential``.
    """

    saves_out = True
    exact_grads = fresh_grads = True
    acts: tuple = ()
    _cache: dict = {}

    @classmethod
    def of(cls, acts: tuple) -> type[MLP]:
        op = cls._cache.get(acts)
        if op is None:
            saves = (0, *range(1, 2 * len(acts), 2))  # x and the weights (not the biases)
            # backward's loop: (l, index of W_l in the inputs, act'-rule), the last layer first
            layers_reversed = tuple(reversed([(l, 2 * l + 1, _GRADS[act])
                                              for l, act in enumerate(acts)]))
            op = cls._cache[acts] = type("MLP", (cls,), {
                "acts": acts, "saves": saves, "layers_reversed": layers_reversed})
        return op

    @classmethod
    def call(cls, x: Tensor, layers: tuple) -> Tensor:
        """x through ``layers``, pairs (``nn.Linear``, act) with this op's acts: ``Op.apply``
        fused with the forward.

        One pass over the layers reads each weight and bias, computes the layer, and gathers the
        node's parents [x, W_1, b_1, ...] (a None bias included); the node is recorded if any of
        them requires grad. Raises AttributeError, TypeError or ValueError for what the fused
        path does not take (not a Tensor, a dtype other than x's, 0-d x, shapes that don't fit):
        ``nn.Sequential`` then runs the modules one by one, for PyTorch's errors.
        """
        a = x.data
        if a.ndim == 0:  # ndarray.dot would broadcast a scalar
            raise ValueError("a 0-d input has no features")
        dt = a.dtype
        record = x.requires_grad
        parents, arrays = [x], [a]
        edges = [(x.grad_fn or x) if record else None]
        activations = [a]  # a^0 = x, a^1, ..., a^L (backward reads them)
        for m, act in layers:
            w, b = m.weight, m.bias
            wd = w.data
            if wd.dtype is not dt and wd.dtype != dt:  # (equal dtypes need not be one object:
                raise TypeError  # an unpickled array's is not NumPy's own)
            # ndarray.dot: BLAS without np.dot's dispatch layer; matmul is slow for outer products
            z = a.dot(wd.T)
            if b is None:
                bd, rb = None, False
            else:
                bd = b.data
                if bd.dtype is not dt and bd.dtype != dt:
                    raise TypeError
                z += bd
                rb = b.requires_grad
            rw = w.requires_grad
            parents += (w, b)
            arrays += (wd, bd)
            edges += (w if rw else None, b if rb else None)  # leaves: their own edge
            if rw or rb:
                record = True
            if act == "sigmoid":  # act(z) in place: z is this layer's own fresh array
                sigmoid_into(z, z)
            elif act == "relu":
                np.maximum(z, consts[dt][0], out=z)  # (positional out is deprecated here)
            elif act == "tanh":
                np.tanh(z, z)
            activations.append(z)
            a = z
        if not (record and mode.enabled):
            return Tensor._make(a, None, False)
        node = _new(cls)
        node.parents = parents
        node.arrays = arrays
        node.edges = edges
        node.activations = activations
        return node._result(a)

    def backward(self, g):
        if isinstance(g, Tensor):
            return self._backward_graph(g)
        e, a, arrays = self.edges, self.activations, self.arrays
        grads = [None] * len(arrays)
        for l, i, act_grad in self.layers_reversed:  # layer l: a[l + 1] = act(a[l] W_lᵀ + b_l)
            # δ = g ⊙ act'(z), read off a = act(z): BP1 for the last layer, BP2 below
            delta = g if act_grad is None else act_grad(g, a[l + 1])
            need_w, need_b = e[i] is not None, e[i + 1] is not None
            if need_w or need_b:  # BP4, BP3
                grads[i], grads[i + 1] = param_grads(delta, a[l], need_w, need_b)
            if l == 0 and e[0] is None:
                break
            g = delta.dot(arrays[i])  # BP2: δ^l W_l, the gradient w.r.t. a^{l-1}
        if e[0] is not None:
            grads[0] = g
        return grads

    @property
    def needs_input_grad(self) -> list[bool]:
        """Per parent, whether it gets a gradient (derived: ``MLP.call`` records the edges)."""
        return [e is not None for e in self.edges]

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

