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


# -- a forward that returns a tuple: one gradient per element in backward ----------------------
class ExpAndSquare(Function):
    """(e^x, x², scale): two Tensor outputs (the first saved as an output) and a Python number."""

    seen: list = []

    @staticmethod
    def forward(ctx, x, scale):
        e = x.exp()
        ctx.save_for_backward(e, x)
        ctx.scale = scale
        return e, x * x * scale, scale

    @staticmethod
    def backward(ctx, g_exp, g_sq, g_scale):
        ExpAndSquare.seen.append((g_exp, g_sq, g_scale))
        e, x = ctx.saved_tensors
        return g_exp * e + g_sq * 2.0 * ctx.scale * x, None


def test_a_tuple_forward_gets_one_gradient_per_output():
    x = leaf([0.5, -1.0, 2.0])
    e, sq, scale = ExpAndSquare.apply(x, 3.0)
    assert scale == 3.0 and e.requires_grad and sq.requires_grad
    np.testing.assert_allclose(e.data, np.exp(x.data))
    ExpAndSquare.seen.clear()
    (2.0 * e + sq).sum().backward()
    (g_exp, g_sq, g_scale), = ExpAndSquare.seen
    np.testing.assert_array_equal(g_exp.data, [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(g_sq.data, [1.0, 1.0, 1.0])
    assert g_scale is None  # not a Tensor: no gradient, as PyTorch passes
    np.testing.assert_allclose(x.grad.data, 2.0 * np.exp(x.data) + 6.0 * x.data, rtol=1e-15)


def test_tuple_forwards_pass_gradcheck_and_gradgradcheck():
    def f(x):
        e, sq, _ = ExpAndSquare.apply(x, 1.5)
        return e, (sq * e).sum()  # two outputs, each reached by both of the Function's

    x = leaf(np.linspace(-1.0, 1.0, 5))
    assert gradcheck(f, (x,), **TIGHT)
    assert gradgradcheck(f, (x,), **TIGHT)  # through the saved output, attached to its node


def test_an_output_that_gets_no_gradient_gets_zeros_or_none():
    x = leaf([1.0, 2.0])
    ExpAndSquare.seen.clear()
    _, sq, _ = ExpAndSquare.apply(x, 2.0)
    sq.sum().backward()  # e is not used
    (g_exp, g_sq, _), = ExpAndSquare.seen
    assert g_exp.shape == (2,) and g_exp.dtype == tg.float64 and not g_exp.data.any()
    np.testing.assert_allclose(x.grad.data, 4.0 * x.data)

    class Lazy(Function):
        seen = None

        @staticmethod
        def forward(ctx, x):
            ctx.set_materialize_grads(False)
            return x * 2.0, x * 3.0

        @staticmethod
        def backward(ctx, g2, g3):
            Lazy.seen = (g2, g3)
            return g3 * 3.0 if g2 is None else g2 * 2.0 + g3 * 3.0

    y = leaf([1.0, 2.0])
    Lazy.apply(y)[1].sum().backward()
    assert Lazy.seen[0] is None and Lazy.seen[1] is not None
    np.testing.assert_array_equal(y.grad.data, [3.0, 3.0])


def test_non_differentiable_outputs_do_not_require_grad():
    class MaxAndArgmax(Function):
        seen = None

        @staticmethod
        def forward(ctx, x):
            i = x.argmax()
            ctx.mark_non_differentiable(i)
            ctx.save_for_backward(x, i)
            return x.max(), i

        @staticmethod
        def backward(ctx, g, g_i):
            MaxAndArgmax.seen = g_i
            x, i = ctx.saved_tensors
            out = tg.zeros_like(x)
            out[i.item()] = g
            return out

    x = leaf([1.0, 5.0, 2.0])
    m, i = MaxAndArgmax.apply(x)
    assert m.requires_grad and not i.requires_grad and i.grad_fn is None and i.item() == 1
    m.backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 1.0, 0.0])
    g_i = MaxAndArgmax.seen  # the non-differentiable output's gradient: zeros of its shape
    assert g_i.shape == () and g_i.dtype == i.dtype and g_i.item() == 0

    class Twice(Function):
        @staticmethod
        def forward(ctx, x):
            y = x * 2.0
            ctx.mark_non_differentiable(y)
            return y

        @staticmethod
        def backward(ctx, g):  # pragma: no cover - never called
            raise AssertionError

    y = Twice.apply(x)
    assert not y.requires_grad and y.grad_fn is None
    np.testing.assert_array_equal(y.data, 2.0 * x.data)


def test_tuple_outputs_are_named_after_the_function_and_share_its_graph_rules():
    x = leaf([0.5, 1.5])
    e, sq, _ = ExpAndSquare.apply(x, 1.0)
    assert type(e.grad_fn).__name__ == "ExpAndSquareBackward" == e.grad_fn.name()
    assert sq.grad_fn.name() == "ExpAndSquareBackward"
    assert type(Exp.apply(x).grad_fn).__name__ == "ExpBackward"
    assert [n for n, _ in e.grad_fn.next_functions] == [n for n, _ in sq.grad_fn.next_functions]
    e.sum().backward()  # frees the Function's node: the other output cannot backward again
    assert "ExpAndSquareBackward" in repr(e.grad_fn)  # (a freed node still has its name)
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        sq.sum().backward()

    e, sq, _ = ExpAndSquare.apply(x, 1.0)
    e.mul_(2.0)  # the saved output, changed in place
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        sq.sum().backward()


def test_tuple_outputs_with_retain_grad_autograd_grad_and_no_grad():
    x = leaf([0.5, 1.5])
    e, sq, _ = ExpAndSquare.apply(x, 1.0)
    e.retain_grad()
    loss = (3.0 * e).sum() + sq.sum()
    (gx,) = grad(loss, [x], retain_graph=True)
    np.testing.assert_allclose(gx.data, 3.0 * np.exp(x.data) + 2.0 * x.data, rtol=1e-15)
    ge, gsq = grad(loss, [e, sq], retain_graph=True)
    np.testing.assert_array_equal(ge.data, [3.0, 3.0])
    np.testing.assert_array_equal(gsq.data, [1.0, 1.0])
    loss.backward()
    np.testing.assert_array_equal(e.grad.data, [3.0, 3.0])
    assert e.retains_grad and not sq.retains_grad  # after backward too, as PyTorch
    with tg.no_grad():
        out = ExpAndSquare.apply(x, 1.0)
    assert type(out) is tuple and not out[0].requires_grad and out[2] == 1.0


def test_a_forward_returning_neither_a_tensor_nor_a_tuple_raises():
    class AsList(Function):
        @staticmethod
        def forward(ctx, x):
            return [x * 2.0]

        @staticmethod
        def backward(ctx, g):  # pragma: no cover - never called
            return g

    with pytest.raises(TypeError, match="must return a Tensor or a tuple, got list"):
        AsList.apply(leaf([1.0]))


def test_detect_anomaly_names_a_tuple_function():
    class NanGrad(Function):
        @staticmethod
        def forward(ctx, x):
            return x * 1.0, x * 2.0

        @staticmethod
        def backward(ctx, g1, g2):
            return g1 * float("nan")

    x = leaf([1.0])
    with tg.autograd.detect_anomaly():
        a, _ = NanGrad.apply(x)
        with pytest.raises(RuntimeError, match="Function 'NanGradBackward' returned nan"):
            a.sum().backward()


def _split_function(lib):
    """One tuple-returning Function, written once for tinygrad_nn and for torch (``lib``)."""

    class Split(lib.autograd.Function):
        seen: list = []

        @staticmethod
        def forward(ctx, x, w):
            i = x.argmax()
            ctx.mark_non_differentiable(i)
            ctx.save_for_backward(x, w)
            return x * w, i, (x * x).sum(), "tag"

        @staticmethod
        def backward(ctx, g_xw, g_i, g_sq, g_tag):
            Split.seen.append([None if g is None else g.detach().numpy().copy()
                               for g in (g_xw, g_i, g_sq)] + [g_tag])
            x, w = ctx.saved_tensors
            return g_xw * w + 2.0 * g_sq * x, g_xw * x

    return Split


@pytest.mark.parametrize("use", ["both", "first", "second"])
def test_tuple_functions_match_torch(use):
    torch = pytest.importorskip("torch")
    got = {}
    for name, lib in (("tg", tg), ("torch", torch)):
        split = _split_function(lib)
        x = lib.tensor([0.5, -2.0, 1.5], dtype=lib.float64, requires_grad=True)
        w = lib.tensor([2.0, 3.0, -1.0], dtype=lib.float64, requires_grad=True)
        xw, i, sq, tag = split.apply(x, w)
        loss = {"both": (xw * xw).sum() + 3.0 * sq, "first": xw.sum(), "second": sq}[use]
        loss.backward()
        got[name] = (split.seen, x.grad.numpy(), w.grad.numpy(), i.requires_grad, tag,
                     type(xw.grad_fn).__name__, sq.requires_grad)
    (seen_t, gx_t, gw_t, *rest_t), (seen_p, gx_p, gw_p, *rest_p) = got["tg"], got["torch"]
    assert rest_t == rest_p
    np.testing.assert_allclose(gx_t, gx_p, rtol=1e-15)
    np.testing.assert_allclose(gw_t, gw_p, rtol=1e-15)
    (grads_t,), (grads_p,) = seen_t, seen_p
    assert grads_t[3] is None and grads_p[3] is None
    for a, b in zip(grads_t[:3], grads_p[:3], strict=True):
        assert a.dtype == b.dtype and a.shape == b.shape
        np.testing.assert_array_equal(a, b)
