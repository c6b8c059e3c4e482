"""nn.functional and the loss modules: every loss and reduction against a direct NumPy formula and
against finite differences (float64), plus PyTorch's error types for bad inputs."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_nn as tg
import tinygrad_nn.nn.functional as F
from tinygrad_nn import nn
from tinygrad_nn.autograd import gradcheck, gradgradcheck

REDUCTIONS = ("mean", "sum", "none")
TIGHT = {"atol": 1e-8, "rtol": 1e-6}  # float64 central differences are good to ~1e-9


def t64(a, grad=True):
    return tg.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def reduce_np(v, reduction, denom=None):
    if reduction == "none":
        return v
    if reduction == "sum":
        return v.sum()
    return v.sum() / (v.size if denom is None else denom)


def log_softmax_np(x, axis):
    m = x.max(axis=axis, keepdims=True)
    return x - m - np.log(np.exp(x - m).sum(axis=axis, keepdims=True))


def check_loss(fn, args, expected, upstream_seed=0):
    """Value equals ``expected``; backward of a random upstream gradient passes gradcheck."""
    out = fn(*args)
    np.testing.assert_allclose(out.detach().numpy(), expected, rtol=1e-12, atol=1e-14)
    assert gradcheck(fn, args, **TIGHT)


shapes = st.tuples(st.integers(1, 5), st.integers(1, 5))


# -- squared error -----------------------------------------------------------------------------
@settings(max_examples=25)
@given(shape=shapes, reduction=st.sampled_from(REDUCTIONS), seed=st.integers(0, 2**16))
def test_mse_loss_matches_numpy(shape, reduction, seed):
    rng = np.random.default_rng(seed)
    a, b = rng.standard_normal(shape), rng.standard_normal(shape)
    check_loss(lambda x, y: F.mse_loss(x, y, reduction=reduction), (t64(a), t64(b)),
               reduce_np((a - b) ** 2, reduction))
    check_loss(lambda x, y: nn.MSELoss(reduction=reduction)(x, y), (t64(a), t64(b)),
               reduce_np((a - b) ** 2, reduction))


@settings(max_examples=25)
@given(shape=shapes, reduction=st.sampled_from(REDUCTIONS), seed=st.integers(0, 2**16),
       one_d=st.booleans())
def test_quadratic_cost_is_the_books_cost(shape, reduction, seed, one_d):
    rng = np.random.default_rng(seed)
    if one_d:
        shape = shape[1:]
    a, y = rng.standard_normal(shape), rng.standard_normal(shape)
    n = shape[0] if len(shape) == 2 else 1
    per_example = 0.5 * ((y - a) ** 2).sum(axis=-1)  # C_x = ½ ||y(x) − a||²
    expected = {"mean": per_example.sum() / n, "sum": per_example.sum(), "none": per_example}
    cost = nn.QuadraticCost(reduction)
    check_loss(lambda x, t: cost(x, t), (t64(a), t64(y)), expected[reduction])
    check_loss(lambda x, t: F.quadratic_cost(x, t, reduction), (t64(a), t64(y)),
               expected[reduction])
    out = cost(t64(a), t64(y, grad=False))
    assert out.shape == (() if reduction != "none" or one_d else (n,))


def test_quadratic_cost_gradient_and_relation_to_mse():
    rng = np.random.default_rng(0)
    n, k = 6, 10
    a_np, y_np = rng.random((n, k)), rng.random((n, k))
    a = t64(a_np)
    nn.QuadraticCost()(a, t64(y_np, False)).backward()
    np.testing.assert_allclose(a.grad.numpy(), (a_np - y_np) / n, rtol=1e-14)  # ∂C/∂a
    b = t64(a_np)
    nn.MSELoss()(b, t64(y_np, False)).backward()
    # MSELoss('mean') = (2/k)·C, so its gradient is 2/k times the book's (1/5 for k = 10)
    np.testing.assert_allclose(b.grad.numpy(), (2 / k) * a.grad.numpy(), rtol=1e-14)


def test_quadratic_cost_shapes_dtypes_and_errors():
    cost = nn.QuadraticCost()
    with pytest.raises(ValueError, match=r"same shape.*\[3, 2\].*\[3, 1\]"):
        cost(tg.ones(3, 2), tg.ones(3, 1))
    with pytest.raises(ValueError, match="0-d"):
        cost(tg.tensor(1.0), tg.tensor(1.0))
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        nn.QuadraticCost("avg")
    with pytest.raises(TypeError, match="must be Tensor"):
        cost(tg.ones(3, 2), np.ones((3, 2)))
    # dtypes promote as in mse_loss: float32 outputs with float64 targets give a float64 cost,
    # and the gradient reaching the float32 outputs is float32
    a = tg.rand(4, 3, requires_grad=True)
    out = cost(a, tg.rand(4, 3, dtype=tg.float64))
    assert out.dtype == np.float64
    out.backward()
    assert a.grad.dtype == np.float32
    # (n, ...) inputs: the norm runs over everything but dim 0
    x = np.arange(24.0).reshape(2, 3, 4)
    np.testing.assert_allclose(nn.QuadraticCost("none")(t64(x), t64(0 * x)).detach().numpy(),
                               0.5 * (x**2).reshape(2, -1).sum(1))
    np.testing.assert_allclose(nn.QuadraticCost()(t64(x), t64(0 * x)).item(),
                               0.25 * (x**2).sum())


def test_integer_targets_keep_the_float_dtype():
    # PyTorch: float32 outputs with int64 (one-hot) targets give a float32 loss
    assert F.mse_loss(tg.rand(4, 3), tg.ones(4, 3, dtype=tg.int64)).dtype == np.float32
    assert nn.QuadraticCost()(tg.rand(4, 3), tg.ones(4, 3, dtype=tg.int64)).dtype == np.float32


def test_mse_loss_broadcasting_weight_and_errors():
    a, b = np.arange(6.0).reshape(2, 3), np.array([1.0, -2.0, 0.5])
    with pytest.warns(UserWarning, match="different to the input size"):
        out = F.mse_loss(t64(a), t64(b))
    np.testing.assert_allclose(out.item(), ((a - b) ** 2).mean())
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert gradcheck(lambda x, y: F.mse_loss(x, y), (t64(a), t64(b)), **TIGHT)
        with pytest.raises(RuntimeError, match=r"size of tensor a \(3\) must match the size of "
                                               r"tensor b \(2\)"):
            F.mse_loss(t64(a), t64([1.0, 2.0]))
    w = np.random.default_rng(1).random((2, 3))
    for reduction in REDUCTIONS:
        out = F.mse_loss(t64(a), t64(a + 1), reduction=reduction, weight=tg.tensor(w))
        np.testing.assert_allclose(out.detach().numpy(), reduce_np(w, reduction, w.sum()))
    with pytest.raises(ValueError, match="same size"):
        F.mse_loss(t64(a), t64(a), weight=tg.ones(3))
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        F.mse_loss(t64(a), t64(a), reduction="avg")
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        nn.MSELoss(reduction="avg")(t64(a), t64(a))
    with pytest.raises(NotImplementedError):
        F.mse_loss(tg.tensor([1, 2]), tg.tensor([1, 2]))
    assert np.isnan(F.mse_loss(tg.ones(0), tg.ones(0)).item())


def test_legacy_size_average_reduce_arguments():
    a, b = np.arange(4.0), np.zeros(4)
    with pytest.warns(UserWarning, match="reduction='sum'"):
        loss = nn.MSELoss(size_average=False)
    assert loss.reduction == "sum"
    np.testing.assert_allclose(loss(t64(a), t64(b)).item(), (a**2).sum())
    with pytest.warns(UserWarning, match="reduction='none'"):
        assert F.mse_loss(t64(a), t64(b), reduce=False).shape == (4,)


# -- cross entropy -----------------------------------------------------------------------------
def ce_class_np(x, t, w=None, ignore_index=-100, reduction="mean", ls=0.0):
    """PyTorch's formulas for class-index targets on x (N, C), written out."""
    n, c = x.shape
    lp = log_softmax_np(x, 1)
    w = np.ones(c) if w is None else w
    keep = t != ignore_index
    ts = np.where(keep, t, 0)
    wt = np.where(keep, w[ts], 0.0)
    nll = -wt * lp[np.arange(n), ts]
    smooth = np.where(keep, -(lp * w).sum(1), 0.0)
    if reduction == "none":
        return (1 - ls) * nll + ls / c * smooth
    if reduction == "sum":
        return (1 - ls) * nll.sum() + ls / c * smooth.sum()
    return ((1 - ls) * nll.sum() + ls / c * smooth.sum()) / wt.sum()


@settings(max_examples=30)
@given(n=st.integers(1, 5), c=st.integers(1, 5), reduction=st.sampled_from(REDUCTIONS),
       weighted=st.booleans(), ignore=st.booleans(), ls=st.sampled_from([0.0, 0.0, 0.1, 0.7]),
       seed=st.integers(0, 2**16))
def test_cross_entropy_class_targets_match_numpy(n, c, reduction, weighted, ignore, ls, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c)) * 3
    t = rng.integers(0, c, n)
    w = rng.random(c) + 0.1 if weighted else None
    # ignore every example of one class (not all examples: an all-ignored mean is 0/0)
    ii = int(t[0]) if ignore and (t != t[0]).any() else -100
    expected = ce_class_np(x, t, w, ii, reduction, ls)
    wt = None if w is None else tg.tensor(w)

    def fn(xx):
        return F.cross_entropy(xx, tg.tensor(t), weight=wt, ignore_index=ii, reduction=reduction,
                               label_smoothing=ls)

    check_loss(fn, (t64(x),), expected)
    module = nn.CrossEntropyLoss(weight=wt, ignore_index=ii, reduction=reduction,
                                 label_smoothing=ls)
    np.testing.assert_allclose(module(t64(x), tg.tensor(t)).detach().numpy(), expected,
                               rtol=1e-12)


@settings(max_examples=20)
@given(n=st.integers(1, 4), c=st.integers(1, 5), reduction=st.sampled_from(REDUCTIONS),
       weighted=st.booleans(), ls=st.sampled_from([0.0, 0.25]), seed=st.integers(0, 2**16))
def test_cross_entropy_probability_targets_match_numpy(n, c, reduction, weighted, ls, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c))
    q = rng.random((n, c))
    q /= q.sum(1, keepdims=True)
    w = rng.random(c) + 0.1 if weighted else np.ones(c)
    qs = q * (1 - ls) + ls / c
    per = -(log_softmax_np(x, 1) * qs * w).sum(1)
    expected = reduce_np(per, reduction, n)
    wt = tg.tensor(w) if weighted else None
    check_loss(lambda xx, qq: F.cross_entropy(xx, qq, weight=wt, reduction=reduction,
                                              label_smoothing=ls), (t64(x), t64(q)), expected)


def test_cross_entropy_higher_dims_and_single_example():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((2, 4, 3))  # (N, C, d1)
    t = rng.integers(0, 4, (2, 3))
    flat_x = np.moveaxis(x, 1, -1).reshape(-1, 4)
    for reduction in REDUCTIONS:
        for ls in (0.0, 0.2):
            exp = ce_class_np(flat_x, t.reshape(-1), reduction=reduction, ls=ls)
            exp = exp.reshape(2, 3) if reduction == "none" else exp
            check_loss(lambda xx, r=reduction, s=ls: F.cross_entropy(xx, tg.tensor(t), reduction=r,
                                                                     label_smoothing=s),
                       (t64(x),), exp)
    q = rng.random(x.shape)
    exp = -(log_softmax_np(x, 1) * q).sum(1)
    check_loss(lambda xx: F.cross_entropy(xx, tg.tensor(q), reduction="none"), (t64(x),), exp)
    v = rng.standard_normal(4)  # (C,) input, 0-d target
    out = F.cross_entropy(t64(v), tg.tensor(2), reduction="none")
    assert out.shape == ()
    np.testing.assert_allclose(out.item(), -log_softmax_np(v, 0)[2], rtol=1e-12)


def test_cross_entropy_errors_match_pytorch():
    x = tg.rand(3, 4)
    with pytest.raises(IndexError, match="Target 4 is out of bounds"):
        F.cross_entropy(x, tg.tensor([0, 1, 4]))
    with pytest.raises(IndexError, match="Target -1 is out of bounds"):
        F.cross_entropy(x, tg.tensor([0, 1, -1]))
    F.cross_entropy(x, tg.tensor([0, 1, 9]), ignore_index=9)  # ignored targets are not checked
    with pytest.raises(ValueError, match=r"Expected input batch_size \(3\) to match target "
                                         r"batch_size \(2\)"):
        F.cross_entropy(x, tg.tensor([0, 1]))
    with pytest.raises(RuntimeError, match="expected target dtype to be Long or Byte, but got "
                                           "Float"):
        F.cross_entropy(x, tg.tensor([0.0, 1.0, 2.0]))
    with pytest.raises(RuntimeError, match="Expected floating point type for target with class "
                                           "probabilities, got Long"):
        F.cross_entropy(x, tg.ones(3, 4, dtype=tg.int64))
    with pytest.raises(RuntimeError, match="ignore_index is not supported"):
        F.cross_entropy(x, tg.rand(3, 4), ignore_index=1)
    with pytest.raises(RuntimeError, match="label_smoothing must be between 0.0 and 1.0"):
        F.cross_entropy(x, tg.tensor([0, 1, 2]), label_smoothing=1.5)
    with pytest.raises(RuntimeError, match="weight tensor should be defined either for all 4 "
                                           r"classes or no classes but got weight tensor of "
                                           r"shape: \[3\]"):
        F.cross_entropy(x, tg.tensor([0, 1, 2]), weight=tg.ones(3))
    with pytest.raises(RuntimeError, match="expected scalar type Float but found Double"):
        F.cross_entropy(x, tg.tensor([0, 1, 2]), weight=tg.ones(4, dtype=tg.float64))
    with pytest.raises(RuntimeError, match="multi-target not supported"):
        F.cross_entropy(x, tg.zeros(3, 5, dtype=tg.int64))
    with pytest.raises(RuntimeError, match=r"Expected target size \[2, 5\], got \[2, 4\]"):
        F.cross_entropy(tg.rand(2, 4, 5), tg.zeros(2, 4, dtype=tg.int64))
    with pytest.raises(ValueError, match="not a valid value for reduction"):
        F.cross_entropy(x, tg.tensor([0, 1, 2]), reduction="avg")
    with pytest.raises(TypeError, match="must be Tensor"):
        F.cross_entropy(x, [0, 1, 2])
    assert np.isnan(F.cross_entropy(x, tg.tensor([1, 1, 1]), ignore_index=1).item())


def test_cross_entropy_second_derivatives():
    rng = np.random.default_rng(2)
    x, t = rng.standard_normal((3, 4)), tg.tensor([0, 3, 1])
    assert gradgradcheck(lambda xx: F.cross_entropy(xx, t), (t64(x),), **TIGHT)
    assert gradgradcheck(lambda xx: F.cross_entropy(xx, t, label_smoothing=0.1), (t64(x),),
                         **TIGHT)


# -- nll, bce ----------------------------------------------------------------------------------
@settings(max_examples=20)
@given(n=st.integers(1, 5), c=st.integers(1, 5), reduction=st.sampled_from(REDUCTIONS),
       weighted=st.booleans(), seed=st.integers(0, 2**16))
def test_nll_loss_matches_numpy(n, c, reduction, weighted, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c))
    t = rng.integers(0, c, n)
    w = rng.random(c) + 0.1 if weighted else np.ones(c)
    ii = int(t[-1]) if (t != t[-1]).any() else -100
    keep = t != ii
    per = np.where(keep, -w[t] * x[np.arange(n), t], 0.0)
    expected = reduce_np(per, reduction, np.where(keep, w[t], 0).sum())
    wt = tg.tensor(w) if weighted else None
    check_loss(lambda xx: F.nll_loss(xx, tg.tensor(t), weight=wt, ignore_index=ii,
                                     reduction=reduction), (t64(x),), expected)
    module = nn.NLLLoss(weight=wt, ignore_index=ii, reduction=reduction)
    np.testing.assert_allclose(module(t64(x), tg.tensor(t)).detach().numpy(), expected,
                               rtol=1e-12)


def test_nll_loss_errors():
    x = tg.rand(3, 4)
    with pytest.raises(IndexError, match="Target 7 is out of bounds"):
        F.nll_loss(x, tg.tensor([0, 7, 1]))
    with pytest.raises(RuntimeError, match="but got Int"):
        F.nll_loss(x, tg.tensor([0, 1, 1], dtype=tg.int32))
    with pytest.raises(ValueError, match="batch_size"):
        F.nll_loss(x, tg.tensor([0, 1, 1, 2]))
    assert F.nll_loss(x, tg.tensor([0, 1, 2], dtype=tg.uint8)).shape == ()


@settings(max_examples=25)
@given(shape=shapes, reduction=st.sampled_from(REDUCTIONS), weight=st.sampled_from(
    [None, "full", "row"]), seed=st.integers(0, 2**16))
def test_binary_cross_entropy_matches_numpy(shape, reduction, weight, seed):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0.05, 0.95, shape)
    y = rng.random(shape)
    w = None if weight is None else rng.random(shape if weight == "full" else shape[-1:])
    per = -(y * np.log(p) + (1 - y) * np.log(1 - p)) * (1 if w is None else w)
    wt = None if w is None else tg.tensor(w)
    check_loss(lambda pp, yy: F.binary_cross_entropy(pp, yy, weight=wt, reduction=reduction),
               (t64(p), t64(y)), reduce_np(per, reduction))
    out = nn.BCELoss(weight=wt, reduction=reduction)(t64(p), t64(y))
    np.testing.assert_allclose(out.detach().numpy(), reduce_np(per, reduction), rtol=1e-12)


def test_binary_cross_entropy_clamps_logs_and_keeps_gradients_finite():
    p = t64([0.0, 1.0, 0.0, 1.0, 1e-60])
    y = t64([1.0, 0.0, 0.0, 1.0, 0.0])
    loss = F.binary_cross_entropy(p, y, reduction="none")
    np.testing.assert_array_equal(loss.detach().numpy(), [100.0, 100.0, 0.0, 0.0, 1e-60])
    loss.sum().backward()
    gp = p.grad.numpy()
    assert np.isfinite(gp).all()  # PyTorch's (p − y) / max(p(1 − p), 1e-12)
    eps = float(np.float32(1e-12))
    np.testing.assert_allclose(gp, [-1 / eps, 1 / eps, 0.0, 0.0, 1e-60 / eps], rtol=1e-12)
    np.testing.assert_allclose(y.grad.numpy()[4], -np.log(1e-60), rtol=1e-12)  # −logit(p)


def test_binary_cross_entropy_errors():
    with pytest.raises(RuntimeError, match="input should be between 0 and 1"):
        F.binary_cross_entropy(tg.tensor([1.5]), tg.tensor([1.0]))
    with pytest.raises(RuntimeError, match="input should be between 0 and 1"):
        F.binary_cross_entropy(tg.tensor([float("nan")]), tg.tensor([1.0]))
    with pytest.raises(RuntimeError, match="target should be between 0 and 1"):
        F.binary_cross_entropy(tg.tensor([0.5]), tg.tensor([1.5]))
    with pytest.raises(ValueError, match=r"target size \(\[3, 1\]\).*input size \(\[3\]\)"):
        F.binary_cross_entropy(tg.rand(3), tg.rand(3, 1))
    with pytest.raises(RuntimeError, match="Found dtype Double but expected Float"):
        F.binary_cross_entropy(tg.rand(3), tg.rand(3, dtype=tg.float64))
    with pytest.raises(RuntimeError, match="broadcast"):
        F.binary_cross_entropy(tg.rand(3, 4), tg.rand(3, 4), weight=tg.rand(3))


def test_bce_and_quadratic_cost_second_derivatives():
    rng = np.random.default_rng(4)
    p, y = rng.uniform(0.1, 0.9, (2, 3)), rng.random((2, 3))
    assert gradgradcheck(lambda pp: F.binary_cross_entropy(pp, t64(y, False)), (t64(p),), **TIGHT)
    assert gradgradcheck(lambda a: nn.QuadraticCost()(a, t64(y, False)), (t64(p),), **TIGHT)


# -- one_hot, activations, linear --------------------------------------------------------------
def test_one_hot():
    out = F.one_hot(tg.tensor([0, 2, 1]))
    assert out.dtype == np.int64
    np.testing.assert_array_equal(out.numpy(), np.eye(3, dtype=np.int64)[[0, 2, 1]])
    assert F.one_hot(tg.tensor([[1], [0]]), 4).shape == (2, 1, 4)
    assert F.one_hot(tg.tensor(2)).tolist() == [0, 0, 1]
    assert F.one_hot(tg.tensor([], dtype=tg.int64), 3).shape == (0, 3)
    with pytest.raises(RuntimeError, match="LongTensor"):
        F.one_hot(tg.tensor([1.0]))
    with pytest.raises(RuntimeError, match="non-negative"):
        F.one_hot(tg.tensor([-1]))
    with pytest.raises(RuntimeError, match="smaller than num_classes"):
        F.one_hot(tg.tensor([3]), 3)
    with pytest.raises(RuntimeError, match="empty tensor"):
        F.one_hot(tg.tensor([], dtype=tg.int64))


def test_functional_activations_and_linear():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 4))
    assert gradcheck(F.sigmoid, (t64(a),), **TIGHT)
    assert gradcheck(F.tanh, (t64(a),), **TIGHT)
    assert gradcheck(lambda x: F.softmax(x, dim=0), (t64(a),), **TIGHT)
    assert gradcheck(lambda x: F.log_softmax(x, dim=1), (t64(a),), **TIGHT)
    np.testing.assert_array_equal(F.relu(t64(a)).detach().numpy(), np.maximum(a, 0))
    w, b = rng.standard_normal((2, 4)), rng.standard_normal(2)
    np.testing.assert_allclose(F.linear(t64(a), t64(w), t64(b)).detach().numpy(), a @ w.T + b,
                               rtol=1e-12)
    assert gradcheck(F.linear, (t64(a), t64(w), t64(b)), **TIGHT)
    assert gradcheck(F.linear, (t64(a), t64(w[0])), **TIGHT)  # 1-D weight: a @ w
    assert gradcheck(F.linear, (t64(a), t64(w), t64(b[:1])), **TIGHT)  # broadcast bias
    with pytest.warns(UserWarning, match="Implicit dimension choice for log_softmax"):
        F.log_softmax(t64(a))
