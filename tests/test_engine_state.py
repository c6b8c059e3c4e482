"""A stateful test of the engine against a naive model (MyGrad's test_simple_graph_state.py).

Hypothesis builds random DAGs of scalar ops step by step and interleaves backward passes (with
retained graphs), ``autograd.grad`` calls and zeroing of the gradients. The model is a tiny
forward-mode engine on Python floats: every node carries its value and its derivative with respect
to each leaf it depends on, so it shares no code and no algorithm with the reverse-mode engine.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import tinygrad_nn as tg


class Dual:
    """Value and {leaf index: derivative} of a node in the model."""

    def __init__(self, value: float, deriv: dict[int, float]):
        self.value, self.deriv = value, deriv

    def combine(self, other: Dual, value: float, da: float, db: float) -> Dual:
        keys = set(self.deriv) | set(other.deriv)
        return Dual(value, {k: da * self.deriv.get(k, 0.0) + db * other.deriv.get(k, 0.0)
                            for k in keys})

    def chain(self, value: float, d: float) -> Dual:
        return Dual(value, {k: d * v for k, v in self.deriv.items()})


def sigmoid(v: float) -> float:
    return 1 / (1 + math.exp(-v))


BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: (1.0, 1.0)),
    "sub": (lambda a, b: a - b, lambda a, b: (1.0, -1.0)),
    "mul": (lambda a, b: a * b, lambda a, b: (b, a)),
}
UNARY = {
    "tanh": (lambda t: t.tanh(), math.tanh, lambda v: 1 - math.tanh(v) ** 2),
    "sigmoid": (lambda t: t.sigmoid(), sigmoid, lambda v: sigmoid(v) * (1 - sigmoid(v))),
    "neg": (lambda t: -t, lambda v: -v, lambda v: -1.0),
    "scale": (lambda t: t * 0.5, lambda v: 0.5 * v, lambda v: 0.5),
    "square": (lambda t: t * t, lambda v: v * v, lambda v: 2 * v),
}


class GraphMachine(RuleBasedStateMachine):
    def __init__(self):
        super().__init__()
        self.leaves: list[tg.Tensor] = []
        self.nodes: list[tuple[tg.Tensor, Dual]] = []
        self.model_grad: dict[int, float] = {}  # leaf index -> accumulated .grad

    def _add_leaf(self, value: float) -> None:
        k = len(self.leaves)
        t = tg.tensor(value, dtype=tg.float64, requires_grad=True)
        self.leaves.append(t)
        self.nodes.append((t, Dual(value, {k: 1.0})))

    @initialize(value=st.floats(-2, 2))
    def first_leaf(self, value):
        self._add_leaf(value)

    @rule(value=st.floats(-2, 2))
    def leaf(self, value):
        self._add_leaf(value)

    @rule(op=st.sampled_from(sorted(BINARY)), data=st.data())
    def binary(self, op, data):
        (ta, ma), (tb, mb) = (data.draw(st.sampled_from(self.nodes)) for _ in range(2))
        if op == "mul" and (abs(ma.value) > 4 or abs(mb.value) > 4):
            return  # keep values bounded
        f, d = BINARY[op]
        value = f(ma.value, mb.value)
        self.nodes.append((f(ta, tb), ma.combine(mb, value, *d(ma.value, mb.value))))

    @rule(op=st.sampled_from(sorted(UNARY)), data=st.data())
    def unary(self, op, data):
        t, m = data.draw(st.sampled_from(self.nodes))
        if op == "square" and abs(m.value) > 4:
            return
        f, fv, d = UNARY[op]
        self.nodes.append((f(t), m.chain(fv(m.value), d(m.value))))

    @rule(data=st.data(), upstream=st.floats(-2, 2))
    def backward(self, data, upstream):
        t, m = data.draw(st.sampled_from(self.nodes))
        t.backward(tg.tensor(upstream, dtype=tg.float64), retain_graph=True)
        for k, d in m.deriv.items():
            self.model_grad[k] = self.model_grad.get(k, 0.0) + upstream * d

    @precondition(lambda self: len(self.nodes) > 1)
    @rule(data=st.data())
    def grad_call(self, data):
        t, m = data.draw(st.sampled_from(self.nodes))
        ks = sorted(m.deriv)
        before = [None if x.grad is None else x.grad.data.copy() for x in self.leaves]
        got = tg.autograd.grad(t, [self.leaves[k] for k in ks], retain_graph=True)
        for k, g in zip(ks, got, strict=True):
            np.testing.assert_allclose(g.item(), m.deriv[k], rtol=1e-10, atol=1e-12)
        after = [None if x.grad is None else x.grad.data for x in self.leaves]
        for b, a in zip(before, after, strict=True):
            assert (b is None and a is None) or np.array_equal(a, b), "grad() touched .grad"

    @rule()
    def zero_grad(self):
        for x in self.leaves:
            x.grad = None
        self.model_grad.clear()

    @invariant()
    def values_agree(self):
        for t, m in self.nodes:
            np.testing.assert_allclose(t.item(), m.value, rtol=1e-12, atol=1e-14)

    @invariant()
    def grads_agree(self):
        for k, x in enumerate(self.leaves):
            if k not in self.model_grad:
                assert x.grad is None, f"leaf {k} got a gradient from a graph it is not in"
            else:
                assert x.grad is not None, f"leaf {k} is in the graph but has no gradient"
                np.testing.assert_allclose(x.grad.item(), self.model_grad[k], rtol=1e-10,
                                           atol=1e-12)


GraphMachine.TestCase.settings = settings(max_examples=30, stateful_step_count=30)
TestGraphAgainstForwardMode = GraphMachine.TestCase
