"""``autograd.grad`` and higher-order derivatives (create_graph), against closed forms and
finite differences of the gradient."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_nn as tg
from tinygrad_nn.autograd import grad


def leaf(values, dtype=np.float64):
    return tg.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


# -- the grad() API ---------------------------------------------------------------------------
def test_grad_returns_gradients_and_leaves_dot_grad_alone():
    x, w = leaf([1.0, 2.0]), leaf([3.0, -1.0])
    gx, gw = grad((x * w).sum(), (x, w))
    np.testing.assert_array_equal(gx.data, [3.0, -1.0])
    np.testing.assert_array_equal(gw.data, [1.0, 2.0])
    assert x.grad is None and w.grad is None
    assert not gx.requires_grad
    (gx,) = grad((x * w).sum(), x)  # a single Tensor as inputs is accepted
    np.testing.assert_array_equal(gx.data, [3.0, -1.0])


def test_grad_with_grad_outputs_and_several_outputs():
    x = leaf([1.0, 2.0])
    a, b = x * x, x * 3.0
    (g,) = grad([a, b], x, [tg.tensor([1.0, 10.0], dtype=tg.float64),
                            tg.tensor([-1.0, 1.0], dtype=tg.float64)])
    np.testing.assert_array_equal(g.data, [2.0 * 1.0 - 3.0, 4.0 * 10.0 + 3.0])


def test_grad_with_respect_to_an_intermediate():
    x = leaf([1.0, 2.0])
    h = x * 2.0
    y = (h * h).sum()
    gh, gx = grad(y, (h, x))
    np.testing.assert_array_equal(gh.data, 2 * h.data)
    np.testing.assert_array_equal(gx.data, 4 * h.data)


def test_grad_retain_graph():
    x = leaf([1.0, 2.0])
    y = (x.exp() * x).sum()
    (g1,) = grad(y, x, retain_graph=True)
    (g2,) = grad(y, x)
    np.testing.assert_array_equal(g1.data, g2.data)
    with pytest.raises(RuntimeError, match="Trying to backward through the graph a second time"):
        grad(y, x)


def test_unused_input():
    x, unused = leaf([1.0]), leaf([2.0])
    with pytest.raises(RuntimeError, match=r"One of the differentiated Tensors (\(index 1\) )?"
                                           r"appears to not have been used in the graph\. Set "
                                           r"allow_unused=True if this is the desired behavior\."):
        grad((x * 2.0).sum(), (x, unused))
    gx, gu = grad((x * 2.0).sum(), (x, unused), allow_unused=True)
    assert gu is None and gx.item() == 2.0
    gx, gu = grad((x * 2.0).sum(), (x, unused), materialize_grads=True, allow_unused=True)
    np.testing.assert_array_equal(gu.data, [0.0])


def test_input_that_does_not_require_grad_raises():
    x = leaf([1.0])
    c = tg.tensor([1.0], dtype=tg.float64)
    with pytest.raises(RuntimeError, match="does not require grad"):
        grad((x * c).sum(), c)


def test_grad_of_a_non_scalar_needs_grad_outputs():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar"):
        grad(x * 2.0, x)


def test_grad_does_not_alias_the_grad_outputs():
    x = leaf([1.0, 2.0])
    v = tg.tensor([5.0, 6.0], dtype=tg.float64)
    (g,) = grad(x + 0.0, x, v)
    assert not np.shares_memory(g.data, v.data)
    g.data += 1.0
    np.testing.assert_array_equal(v.data, [5.0, 6.0])


# -- higher order -------------------------------------------------------------------------------
SECOND = [  # f, f'' (closed forms), domain
    ("x^3", lambda x: x * x * x, lambda x: 6 * x, (-2, 2)),
    ("x^4 via pow", lambda x: x**4, lambda x: 12 * x**2, (-2, 2)),
    ("exp", lambda x: x.exp(), np.exp, (-2, 2)),
    ("log", lambda x: x.log(), lambda x: -1 / x**2, (0.5, 3)),
    ("sqrt", lambda x: x.sqrt(), lambda x: -0.25 * x**-1.5, (0.5, 3)),
    ("1/x", lambda x: 1.0 / x, lambda x: 2 / x**3, (0.5, 3)),
    ("x e^x", lambda x: x * x.exp(), lambda x: (x + 2) * np.exp(x), (-2, 2)),
    ("sigmoid", lambda x: x.sigmoid(),
     lambda x: (s := 1 / (1 + np.exp(-x))) * (1 - s) * (1 - 2 * s), (-3, 3)),
    ("tanh", lambda x: x.tanh(), lambda x: -2 * np.tanh(x) * (1 - np.tanh(x) ** 2), (-3, 3)),
    ("2^x", lambda x: 2.0**x, lambda x: np.log(2) ** 2 * 2**x, (-2, 2)),
    ("relu^2", lambda x: x.relu() * x.relu(), lambda x: 2.0 * (x > 0), (-2, 2)),
]


@pytest.mark.parametrize("name,f,d2,domain", SECOND, ids=[s[0] for s in SECOND])
def test_second_derivatives_match_closed_forms(name, f, d2, domain):
    xs = np.linspace(*domain, 7) + 0.013  # off 0 for relu
    x = leaf(xs)
    (g,) = grad(f(x).sum(), x, create_graph=True)
    assert g.requires_grad
    (h,) = grad(g.sum(), x)
    np.testing.assert_allclose(h.data, d2(xs), rtol=1e-12, atol=1e-12)


def test_third_derivative():
    x = leaf([0.5, -1.5])
    (g,) = grad((x**4).sum(), x, create_graph=True)
    (h,) = grad(g.sum(), x, create_graph=True)
    (k,) = grad(h.sum(), x)
    np.testing.assert_allclose(k.data, 24 * x.data, rtol=1e-13)


def test_mixed_partials():
    x, y = leaf(2.0), leaf(3.0)
    (gx,) = grad(x * x * y, x, create_graph=True)  # 2xy
    gxx, gxy = grad(gx, (x, y))
    assert gxx.item() == 2 * 3.0 and gxy.item() == 2 * 2.0


def test_backward_with_create_graph_gives_differentiable_grads():
    x = leaf([1.0, 2.0])
    (x**3).sum().backward(create_graph=True)
    assert x.grad.requires_grad
    (h,) = grad(x.grad.sum(), x)
    np.testing.assert_array_equal(h.data, 6 * x.data)


def mlp_loss(params, x, t):
    """A 2-3-1 sigmoid network with the quadratic cost, float64."""
    w1, b1, w2, b2 = params
    a1 = (x @ w1.T + b1).sigmoid()
    a2 = (a1 @ w2.T + b2).sigmoid()
    return ((a2 - t) ** 2).sum() / 2


def test_hessian_vector_product_of_a_small_mlp_matches_finite_differences():
    rng = np.random.default_rng(0)
    shapes = [(3, 2), (3,), (1, 3), (1,)]
    p0 = [rng.standard_normal(s) for s in shapes]
    v = [rng.standard_normal(s) for s in shapes]
    x = tg.tensor(rng.standard_normal((4, 2)))
    t = tg.tensor(rng.uniform(0, 1, (4, 1)))

    params = [leaf(p) for p in p0]
    gs = grad(mlp_loss(params, x, t), params, create_graph=True)
    dot = sum((g * tg.tensor(vi)).sum() for g, vi in zip(gs, v, strict=True))
    hv = grad(dot, params)

    def gradient_at(ps):
        leaves = [leaf(p) for p in ps]
        return [g.data for g in grad(mlp_loss(leaves, x, t), leaves)]
    eps = 1e-5
    plus = gradient_at([p + eps * vi for p, vi in zip(p0, v, strict=True)])
    minus = gradient_at([p - eps * vi for p, vi in zip(p0, v, strict=True)])
    for h, gp, gm in zip(hv, plus, minus, strict=True):
        # central difference of the gradient: error ~ eps^2 |third derivative| ~ 1e-10
        np.testing.assert_allclose(h.data, (gp - gm) / (2 * eps), rtol=1e-6, atol=1e-9)


def test_full_hessian_of_logsumexp():
    """H = diag(p) - p pᵀ with p = softmax(x), built row by row from grad(create_graph=True)."""
    xs = np.array([0.3, -1.0, 2.0, 0.5])
    x = leaf(xs)
    (g,) = grad(x.logsumexp(0), x, create_graph=True)
    rows = [grad(g[i], x, retain_graph=True)[0].data for i in range(4)]
    p = np.exp(xs - xs.max())
    p /= p.sum()
    np.testing.assert_allclose(np.stack(rows), np.diag(p) - np.outer(p, p), rtol=1e-12, atol=1e-15)


def test_grad_of_the_same_input_twice_gives_it_at_both_places():
    x = leaf([1.0, 2.0])
    y = x * 2.0
    z = (y * y).sum()
    gy1, gy2 = grad(z, [y, y], retain_graph=True)
    np.testing.assert_array_equal(gy1.data, [4.0, 8.0])
    np.testing.assert_array_equal(gy2.data, [4.0, 8.0])
    gx1, gy, gx2 = grad(z, [x, y, x])  # a leaf twice, too
    np.testing.assert_array_equal(gx1.data, [8.0, 16.0])
    np.testing.assert_array_equal(gx2.data, [8.0, 16.0])
    np.testing.assert_array_equal(gy.data, [4.0, 8.0])


def test_create_graph_grad_is_a_tensor_of_its_own():
    """backward(create_graph=True) stores a clone of the gradient (as torch): the .grad is not
    the graph's intermediate, so zero_() on it changes nothing else and leaves other grads."""
    x = leaf([1.0, 2.0])
    w = leaf([3.0, 4.0])
    y = x * w
    y.sum().backward(create_graph=True)  # ∂/∂x = w, ∂/∂w = x: the rule hands g·w and g·x out
    gx, gw = x.grad, w.grad
    assert gx.grad_fn is not None and gx.grad_fn.name() == "CloneBackward0"
    assert not np.shares_memory(gx.data, gw.data)
    (gsum,) = grad(gx.sum(), [w], retain_graph=True)  # still differentiable: ∂Σw/∂w = 1
    np.testing.assert_array_equal(gsum.data, [1.0, 1.0])
    gx.detach_().zero_()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0])
    np.testing.assert_array_equal(w.grad.data, [1.0, 2.0])
    u, v = leaf([1.0, 2.0]), leaf([5.0, 6.0])
    (u + v).sum().backward(create_graph=True)  # Add hands the same g to both inputs
    assert u.grad is not v.grad and not np.shares_memory(u.grad.data, v.grad.data)
    with tg.no_grad():
        u.grad.zero_()
    np.testing.assert_array_equal(v.grad.data, [1.0, 1.0])
    a = leaf([2.0])
    (a * a).sum().backward(create_graph=True)
    first = a.grad
    (a * a).sum().backward(create_graph=True)  # accumulates out of place
    np.testing.assert_array_equal(first.data, [4.0])
    np.testing.assert_array_equal(a.grad.data, [8.0])
