"""Custom ops with ``autograd.Function`` (PyTorch's interface), checked by finite differences."""

from __future__ import annotations

import weakref

import numpy as np
import pytest

import tinygrad_nn as tg
from tinygrad_nn.autograd import Function, grad, gradcheck, gradgradcheck

TIGHT = {"atol": 1e-8, "rtol": 1e-7}


def leaf(values, dtype=np.float64):
    return tg.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


class Exp(Function):
    """Saves its output, as PyTorch's documentation example does."""

    @staticmethod
    def forward(ctx, x):
        y = x.exp()
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, g):
        (y,) = ctx.saved_tensors
        return g * y


class Cube(Function):
    """Saves its input; backward is built from differentiable ops (so it has a second order)."""

    @staticmethod
    def forward(ctx, x):
        ctx.save_for_backward(x)
        return x * x * x

    @staticmethod
    def backward(ctx, g):
        (x,) = ctx.saved_tensors
        return g * 3.0 * x * x


class ScaledMul(Function):
    """Two tensors and a Python number; records which inputs need a gradient."""

    seen_needs = None

    @staticmethod
    def forward(ctx, a, b, scale):
        ctx.save_for_backward(a, b)
        ctx.scale = scale
        ScaledMul.seen_needs = ctx.needs_input_grad
        return a * b * scale

    @staticmethod
    def backward(ctx, g):
        a, b = ctx.saved_tensors
        ga = g * b * ctx.scale if ctx.needs_input_grad[0] else None
        gb = g * a * ctx.scale if ctx.needs_input_grad[1] else None
        return ga, gb, None


def test_forward_and_backward_of_a_custom_op():
    x = leaf([0.0, 1.0, -2.0])
    y = Exp.apply(x)
    assert y.requires_grad and not y.is_leaf
    assert y.grad_fn.name() == "ExpBackward"  # PyTorch names a custom node "<Class>Backward"
    np.testing.assert_array_equal(y.data, np.exp([0.0, 1.0, -2.0]))
    y.backward(tg.tensor([1.0, 2.0, 3.0], dtype=tg.float64))
    np.testing.assert_allclose(x.grad.data, [1.0, 2.0, 3.0] * np.exp([0.0, 1.0, -2.0]), rtol=1e-15)


def test_custom_ops_pass_gradcheck_and_gradgradcheck():
    x = leaf([0.3, -1.2, 0.7])
    assert gradcheck(Exp.apply, (x,), **TIGHT)
    assert gradcheck(Cube.apply, (x,), **TIGHT)
    assert gradgradcheck(Cube.apply, (x,), **TIGHT)
    assert gradgradcheck(Exp.apply, (x,), **TIGHT)  # through the saved *output*


def test_create_graph_through_a_custom_op():
    x = leaf([0.5, -2.0])
    (g,) = grad(Cube.apply(x).sum(), x, create_graph=True)
    np.testing.assert_allclose(g.data, 3 * x.data**2, rtol=1e-15)
    assert g.requires_grad
    (h,) = grad(g.sum(), x)
    np.testing.assert_allclose(h.data, 6 * x.data, rtol=1e-15)
    (g,) = grad(Exp.apply(x).sum(), x, create_graph=True)
    (h,) = grad(g.sum(), x)  # d²/dx² e^x = e^x: needs the saved output to stay in the graph
    np.testing.assert_allclose(h.data, np.exp(x.data), rtol=1e-15)


def test_needs_input_grad_and_non_tensor_arguments():
    a, b = leaf([1.0, 2.0]), tg.tensor([3.0, 4.0], dtype=tg.float64)
    out = ScaledMul.apply(a, b, 0.5)
    assert ScaledMul.seen_needs == (True, False, False)
    out.sum().backward()
    np.testing.assert_array_equal(a.grad.data, [1.5, 2.0])
    assert b.grad is None
    assert gradcheck(lambda p, q: ScaledMul.apply(p, q, 2.5), (leaf([1.0, -2.0]), leaf([0.5, 3.0])),
                     **TIGHT)


def test_forward_runs_without_recording_and_no_grad_skips_the_node():
    seen = []

    class Probe(Function):
        @staticmethod
        def forward(ctx, x):
            seen.append(tg.is_grad_enabled())
            return x * 2.0

        @staticmethod
        def backward(ctx, g):
            return g * 2.0

    x = leaf([1.0])
    y = Probe.apply(x)
    assert seen == [False] and y.grad_fn is not None
    with tg.no_grad():
        z = Probe.apply(x)
    assert not z.requires_grad and z.grad_fn is None
    assert not Probe.apply(tg.tensor([1.0])).requires_grad


def test_wrong_number_of_gradients_raises():
    class TooFew(Function):
        @staticmethod
        def forward(ctx, a, b):
            return a * b

        @staticmethod
        def backward(ctx, g):
            return g

    class TooMany(Function):
        @staticmethod
        def forward(ctx, a):
            return a * 2.0

        @staticmethod
        def backward(ctx, g):
            return g * 2.0, g

    class ExtraNone(TooMany):
        @staticmethod
        def backward(ctx, g):
            return g * 2.0, None

    a, b = leaf([1.0]), leaf([2.0])
    with pytest.raises(RuntimeError, match=r"TooFewBackward returned an incorrect number of "
                                           r"gradients \(expected 2, got 1\)"):
        TooFew.apply(a, b).sum().backward()
    with pytest.raises(RuntimeError, match=r"incorrect number of gradients \(expected 1, got 2\)"):
        TooMany.apply(a).sum().backward()
    ExtraNone.apply(a).sum().backward()  # trailing Nones are accepted, as PyTorch does
    assert a.grad.item() == 2.0


def test_gradient_of_the_wrong_shape_raises():
    class BadShape(Function):
        @staticmethod
        def forward(ctx, a):
            return a.sum()

        @staticmethod
        def backward(ctx, g):
            return tg.ones(3, dtype=tg.float64)

    with pytest.raises(RuntimeError, match="invalid gradient"):
        BadShape.apply(leaf([1.0, 2.0])).backward()


def test_saved_tensors_are_freed_after_backward():
    x = leaf([1.0, 2.0])
    y = Exp.apply(x)
    ctx = y.grad_fn.ctx
    ref = weakref.ref(ctx.saved_tensors[0].data)
    loss = (y * 2.0).sum()
    del y
    loss.backward()
    assert ref() is None
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        ctx.saved_tensors  # noqa: B018
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        loss.backward()


def test_retain_graph_keeps_saved_tensors_for_a_second_backward():
    x = leaf([1.0, 2.0])
    y = Cube.apply(x).sum()
    y.backward(retain_graph=True)
    y.backward()
    np.testing.assert_array_equal(x.grad.data, 2 * 3 * x.data**2)


def test_modifying_a_saved_tensor_raises():
    x = leaf([1.0, 2.0])
    a = x * 1.0
    y = Cube.apply(a)
    a.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()
    y = Exp.apply(x)
    y.mul_(2.0)  # the saved output itself
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_custom_op_in_a_larger_graph():
    def f(x, w):
        return (Cube.apply(x @ w).sigmoid() + Exp.apply(x).sum(1, keepdim=True)).sum(0)

    x, w = leaf(np.linspace(-1, 1, 6).reshape(2, 3)), leaf(np.linspace(0.5, -0.5, 6).reshape(3, 2))
    assert gradcheck(f, (x, w), **TIGHT)
    assert gradgradcheck(f, (x, w), **TIGHT)
