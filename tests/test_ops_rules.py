"""Gradients at the points the property tests avoid: ties, kinks and bounds (PyTorch's rules).

- ``amax``/``amin`` and ``max()``/``min()`` without dim share the gradient evenly between ties;
- ``max(dim)``/``min(dim)`` give it all to the returned index (the first extreme);
- ``maximum``/``minimum`` split it in half between equal inputs;
- relu'(0) = 0, |x|'(0) = 0, sqrt'(0) = inf; clamp passes the gradient at its bounds;
- d(x^y)/dx = 0 where y = 0 and d(x^y)/dy = 0 where x = 0 (y >= 0);
- indexing with repeated indices accumulates, a boolean mask routes the gradient.
"""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_nn as tg


def leaf(values, dtype=np.float64):
    return tg.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


def grad_of(fn, *xs, upstream=None):
    out = fn(*xs)
    out.backward(None if upstream is None else tg.tensor(np.asarray(upstream, dtype=out.dtype)))
    return [x.grad.data for x in xs]


def test_amax_and_max_without_dim_share_ties_evenly():
    x = [[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, -1.0]]
    (g,) = grad_of(lambda t: t.amax(dim=1), leaf(x), upstream=[6.0, -3.0])
    np.testing.assert_array_equal(g, [[0, 3, 3, 0], [-1, -1, -1, 0]])
    (g,) = grad_of(lambda t: t.max(), leaf(x))
    np.testing.assert_array_equal(g, [[0, 0.5, 0.5, 0], [0, 0, 0, 0]])
    (g,) = grad_of(lambda t: t.amin(dim=(0, 1)), leaf([[1.0, -1.0], [-1.0, 5.0]]), upstream=4.0)
    np.testing.assert_array_equal(g, [[0, 2], [2, 0]])
    (g,) = grad_of(lambda t: t.min(), leaf([[0.0, 0.0], [0.0, 0.0]]))
    np.testing.assert_array_equal(g, np.full((2, 2), 0.25))


@pytest.mark.parametrize("keepdim", [False, True])
def test_max_dim_gives_the_gradient_to_the_returned_index(keepdim):
    x = leaf([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, -1.0]])
    values, indices = x.max(1, keepdim=keepdim)
    shape = (2, 1) if keepdim else (2,)
    assert values.shape == indices.shape == shape
    assert indices.dtype == np.int64 and not indices.requires_grad
    np.testing.assert_array_equal(indices.data.reshape(-1), [1, 0])  # the first maximum
    values.backward(tg.tensor(np.array([6.0, -3.0]).reshape(shape)))
    np.testing.assert_array_equal(x.grad.data, [[0, 6, 0, 0], [-3, 0, 0, 0]])

    y = leaf([[1.0, -1.0], [-1.0, -1.0]])
    values, indices = y.min(dim=0)
    np.testing.assert_array_equal(indices.data, [1, 0])
    values.backward(tg.tensor([2.0, 5.0], dtype=tg.float64))
    np.testing.assert_array_equal(y.grad.data, [[0, 5], [2, 0]])


def test_max_dim_is_a_named_tuple():
    values, indices = tg.tensor([[1.0, 4.0], [3.0, 2.0]]).max(dim=-1)
    out = tg.tensor([[1.0, 4.0], [3.0, 2.0]]).max(dim=-1)
    assert out.values is out[0] and out.indices is out[1]
    np.testing.assert_array_equal(values.data, [4.0, 3.0])
    np.testing.assert_array_equal(indices.data, [1, 0])
    assert tg.max(tg.tensor([[1.0, 4.0]]), 1).indices.tolist() == [1]


def test_maximum_and_minimum_split_ties_in_half():
    x, y = leaf([1.0, 2.0, 3.0]), leaf([1.0, 5.0, 0.0])
    gx, gy = grad_of(lambda a, b: tg.maximum(a, b), x, y, upstream=[4.0, 4.0, 4.0])
    np.testing.assert_array_equal(gx, [2, 0, 4])
    np.testing.assert_array_equal(gy, [2, 4, 0])
    # broadcast: a 0-d tensor tied with two entries collects both halves
    x, s = leaf([2.0, 2.0, 7.0]), leaf(2.0)
    gx, gs = grad_of(lambda a, b: tg.minimum(a, b), x, s, upstream=[1.0, 3.0, 5.0])
    np.testing.assert_array_equal(gx, [0.5, 1.5, 0])
    assert gs.shape == () and gs == 0.5 + 1.5 + 5.0


def test_relu_abs_sqrt_at_zero():
    (g,) = grad_of(lambda t: t.relu(), leaf([-1.0, 0.0, 2.0]), upstream=[3.0, 3.0, 3.0])
    np.testing.assert_array_equal(g, [0, 0, 3])
    (g,) = grad_of(lambda t: t.abs(), leaf([-1.0, 0.0, 2.0]), upstream=[3.0, 3.0, 3.0])
    np.testing.assert_array_equal(g, [-3, 0, 3])
    with np.errstate(divide="ignore"):
        (g,) = grad_of(lambda t: t.sqrt(), leaf([0.0, 4.0]), upstream=[1.0, 1.0])
    np.testing.assert_array_equal(g, [np.inf, 0.25])


def test_clamp_passes_the_gradient_at_its_bounds():
    x = [-2.0, -1.0, 0.0, 1.0, 2.0]
    (g,) = grad_of(lambda t: t.clamp(-1, 1), leaf(x), upstream=[5.0] * 5)
    np.testing.assert_array_equal(g, [0, 5, 5, 5, 0])
    (g,) = grad_of(lambda t: t.clamp(min=0.0), leaf(x), upstream=[5.0] * 5)
    np.testing.assert_array_equal(g, [0, 0, 5, 5, 5])
    (g,) = grad_of(lambda t: tg.clamp(t, max=-1), leaf(x), upstream=[5.0] * 5)
    np.testing.assert_array_equal(g, [5, 5, 0, 0, 0])


def test_clamp_with_tensor_bounds_follows_pytorch():
    """PyTorch: x gets the gradient where min <= x <= max (ties included), min where x < min
    (and min < max), max where x > max or max < min."""
    x, lo, hi = leaf([0.0, 1.0, 2.0, 3.0]), leaf(1.0), leaf([2.0, 2.0, 2.0, 2.0])
    gx, glo, ghi = grad_of(lambda a, b, c: a.clamp(b, c), x, lo, hi, upstream=[1.0, 2.0, 4.0, 8.0])
    np.testing.assert_array_equal(gx, [0, 2, 4, 0])
    assert glo == 1.0
    np.testing.assert_array_equal(ghi, [0, 0, 0, 8])
    # min > max: the result is max everywhere, and only max gets a gradient
    x, lo, hi = leaf([0.0, 1.0, 2.0]), leaf([3.0, 3.0, 3.0]), leaf([1.0, 1.0, 1.0])
    out = x.clamp(lo, hi)
    np.testing.assert_array_equal(out.data, [1.0, 1.0, 1.0])
    gx, glo, ghi = grad_of(lambda a, b, c: a.clamp(b, c), x, lo, hi, upstream=[1.0, 1.0, 1.0])
    np.testing.assert_array_equal(gx, [0, 0, 0])
    np.testing.assert_array_equal(glo, [0, 0, 0])
    np.testing.assert_array_equal(ghi, [1, 1, 1])


@pytest.mark.filterwarnings("error")  # the masked-out 0 * inf must not warn either
def test_pow_at_zero():
    (g,) = grad_of(lambda t: (t**0.0).sum(), leaf([0.0, 0.0, 2.0]))  # d/dx x^0 = 0, even at 0
    np.testing.assert_array_equal(g, [0, 0, 0])
    gx, gy = grad_of(lambda a, b: (a**b).sum(), leaf([0.0, 0.0, 2.0]), leaf([0.0, 1.0, 2.0]))
    np.testing.assert_array_equal(gx, [0, 1, 4])
    np.testing.assert_allclose(gy, [0, 0, 4 * np.log(2.0)], rtol=1e-15)
    (g,) = grad_of(lambda t: (2.0**t).sum(), leaf([0.0, 1.0]))
    np.testing.assert_allclose(g, [np.log(2.0), 2 * np.log(2.0)], rtol=1e-15)


def test_indexing_with_repeated_indices_accumulates():
    x = leaf([10.0, 20.0, 30.0, 40.0])
    (g,) = grad_of(lambda t: t[tg.tensor([0, 0, 2, -4, 3])], x, upstream=[1.0, 2.0, 4.0, 8.0, 16.0])
    np.testing.assert_array_equal(g, [1 + 2 + 8, 0, 4, 16])
    m = leaf(np.arange(6.0).reshape(2, 3))
    (g,) = grad_of(lambda t: t[[1, 1], [2, 2]], m, upstream=[1.0, 5.0])
    np.testing.assert_array_equal(g, [[0, 0, 0], [0, 0, 6]])


def test_boolean_mask_routes_the_gradient():
    m = leaf(np.arange(6.0).reshape(2, 3))
    mask = tg.tensor([[True, False, True], [False, False, True]])
    out = m[mask]
    np.testing.assert_array_equal(out.data, [0.0, 2.0, 5.0])
    out.backward(tg.tensor([1.0, 2.0, 3.0], dtype=tg.float64))
    np.testing.assert_array_equal(m.grad.data, [[1, 0, 2], [0, 0, 3]])
    row = leaf(np.arange(6.0).reshape(2, 3))
    (g,) = grad_of(lambda t: t[tg.tensor([False, True])].sum(), row)
    np.testing.assert_array_equal(g, [[0, 0, 0], [1, 1, 1]])


def test_expand_and_broadcast_sum_the_gradient_back():
    x = leaf([[1.0], [2.0]])  # (2, 1)
    (g,) = grad_of(lambda t: t.expand(3, 2, 4), x, upstream=np.ones((3, 2, 4)))
    np.testing.assert_array_equal(g, [[12.0], [12.0]])
    a, b = leaf(np.ones((3, 4))), leaf(np.ones(4))  # the rank-mismatch case early tinygrad broke
    ga, gb = grad_of(lambda p, q: p * q, a, b, upstream=np.arange(12.0).reshape(3, 4))
    np.testing.assert_array_equal(gb, np.arange(12.0).reshape(3, 4).sum(0))
    assert ga.shape == (3, 4)


@pytest.mark.parametrize("name,args", [
    ("exp", ()), ("log", ()), ("sqrt", ()), ("sigmoid", ()), ("relu", ()), ("tanh", ()),
    ("abs", ()), ("neg", ()), ("sum", (1,)), ("mean", (0,)), ("var", (1,)), ("std", (1,)),
    ("amax", (1,)), ("amin", (0,)), ("logsumexp", (1,)), ("softmax", (1,)), ("log_softmax", (0,)),
    ("flatten", ()), ("squeeze", ()), ("unsqueeze", (0,)), ("transpose", (0, 1)),
    ("permute", ((1, 0),)), ("reshape", ((3, 2),)), ("clamp", (0.5, 2.0)),
])
def test_free_function_equals_method(name, args):
    x = tg.tensor([[0.5, 1.5, 2.5], [3.0, 1.0, 0.25]])
    np.testing.assert_array_equal(getattr(tg, name)(x, *args).data,
                                  getattr(x, name)(*args).data)
