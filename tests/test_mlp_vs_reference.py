"""The book's network built from nn modules against the closed-form oracle ``reference``.

For random architectures (1-4 layers, widths 1-20), batches and inputs, the gradients that
``QuadraticCost()(model(x), y).backward()`` leaves on an ``nn.Sequential(Linear, Sigmoid, ...)``
equal ``reference.backprop``'s BP1-BP4 gradients (float64, relative error ~1e-10, plus the
bound of ``sigma_prime_rounding`` where saturated units make that unreachable), pass
``gradcheck``, and one ``SGD(lr=η).step()`` is the book's update ``w − η ∇C``. The Hessian-vector
product through ``create_graph=True`` matches finite differences of the closed-form gradient.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_nn as tg
from tinygrad_nn import autograd, nn, optim, reference


def book_model(sizes, dtype=tg.float64):
    layers = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        layers += [nn.Linear(n_in, n_out, dtype=dtype), nn.Sigmoid()]
    return nn.Sequential(*layers)


def weights_biases(model):
    linears = [m for m in model if isinstance(m, nn.Linear)]
    return [m.weight.data.copy() for m in linears], [m.bias.data.copy() for m in linears]


def rel_err(got, want):
    """max |got − want| relative to the largest |want| (entries near 0 are not over-weighted)."""
    scale = max(float(np.abs(want).max()), 1e-300)
    return float(np.abs(got - want).max()) / scale


architectures = st.lists(st.integers(1, 20), min_size=2, max_size=5)


def sigma_prime_rounding(weights, biases, x, y):
    """Bounds on |error| that computing σ' as a(1 − a) from the rounded output a adds to each
    gradient (per entry: nabla_w, nabla_b), against the reference's cancellation-free σ'.

    Backward reads σ' off the layer's output, as PyTorch's sigmoid backward does: a = σ(z) is
    rounded (relative error θ ≤ 8ε for ½tanh(z/2) + ½), and 1 − a then carries an error of
    relative size θσ/(1 − σ): near saturation (σ → 1) no float64 formula of a alone keeps σ' to
    1e-10. So σ'_j is off by a relative r_j = min(ε(8/(1 − σ_j) + 2), 2) (a(1 − a) lies in
    [0, 2σ']), and that error travels down BP2 and into BP3/BP4 like any other. The bound is
    the first-order running error of the backward pass (absolute values throughout), so it only
    matters where a unit with a large r_j also carries a large part of the gradient.
    """
    eps = np.finfo(np.float64).eps
    m = x.shape[0]
    a, zs = [x], []
    for w, b in zip(weights, biases, strict=True):
        zs.append(a[-1] @ w.T + b)
        a.append(reference.sigmoid(zs[-1]))
    bound_w, bound_b = [None] * len(weights), [None] * len(weights)
    upstream = np.abs(a[-1] - y)  # |dC_x/da^L| (the exact upstream gradient, per example)
    err = np.zeros_like(upstream)  # bound on the error of the upstream gradient so far
    for l in range(len(weights) - 1, -1, -1):
        sp = reference.sigmoid_prime(zs[l])
        with np.errstate(divide="ignore"):  # 1 − σ = σ(−z), exactly 0 only beyond z ≈ 745
            r = np.minimum(eps * (8.0 / reference.sigmoid(-zs[l]) + 2.0), 2.0)
        err = err * sp + upstream * sp * r  # error bound of delta^l
        bound_w[l] = err.T @ np.abs(a[l]) / m
        bound_b[l] = err.sum(axis=0) / m
        upstream = np.abs((upstream * sp) @ weights[l])  # |delta^l W_l| (BP2, magnitudes)
        err = err @ np.abs(weights[l])
    return bound_w, bound_b


@settings(max_examples=40)
@given(sizes=architectures, m=st.integers(1, 8), seed=st.integers(0, 2**32 - 1),
       scale=st.sampled_from([0.5, 1.0, 3.0]))
def test_gradients_equal_the_closed_form(sizes, m, seed, scale):
    tg.manual_seed(seed)
    model = book_model(sizes)
    rng = np.random.default_rng(seed)
    for p in model.parameters():  # wider than PyTorch's init, to reach saturated units too
        p.data *= scale * np.sqrt(sizes[0])
    x = rng.standard_normal((m, sizes[0]))
    y = rng.random((m, sizes[-1]))
    loss = nn.QuadraticCost()(model(tg.tensor(x)), tg.tensor(y))
    loss.backward()
    weights, biases = weights_biases(model)
    np.testing.assert_allclose(loss.item(), reference.cost(weights, biases, x, y), rtol=1e-12)
    nabla_w, nabla_b = reference.backprop(weights, biases, x, y)
    bound_w, bound_b = sigma_prime_rounding(weights, biases, x, y)
    linears = [mod for mod in model if isinstance(mod, nn.Linear)]
    for layer, nw, nb, bw, bb in zip(linears, nabla_w, nabla_b, bound_w, bound_b, strict=True):
        for got, want, bound in ((layer.weight.grad.numpy(), nw, bw),
                                 (layer.bias.grad.numpy(), nb, bb)):
            tol = 1e-10 * max(float(np.abs(want).max()), 1e-300) + bound
            assert np.all(np.abs(got - want) <= tol), (rel_err(got, want), float(bound.max()))


@settings(max_examples=10)
@given(sizes=st.lists(st.integers(1, 4), min_size=2, max_size=4), m=st.integers(1, 3),
       seed=st.integers(0, 2**32 - 1))
def test_model_passes_gradcheck(sizes, m, seed):
    tg.manual_seed(seed)
    model = book_model(sizes)
    rng = np.random.default_rng(seed)
    x = tg.tensor(rng.standard_normal((m, sizes[0])), requires_grad=True)
    y = tg.tensor(rng.random((m, sizes[-1])))
    cost = nn.QuadraticCost()
    # gradcheck perturbs the parameters' arrays in place; the model reads them on every call
    assert autograd.gradcheck(lambda x_, *ps: cost(model(x_), y), (x, *model.parameters()),
                              atol=1e-9, rtol=1e-6)


@settings(max_examples=15)
@given(sizes=architectures, m=st.integers(1, 8), seed=st.integers(0, 2**32 - 1),
       eta=st.sampled_from([0.1, 3.0]))
def test_one_sgd_step_is_the_books_update(sizes, m, seed, eta):
    tg.manual_seed(seed)
    model = book_model(sizes)
    rng = np.random.default_rng(seed)
    x, y = rng.standard_normal((m, sizes[0])), rng.random((m, sizes[-1]))
    weights, biases = weights_biases(model)
    new_w, new_b = reference.sgd_step(weights, biases, x, y, eta)  # w − (η/m) Σ_x ∂C_x/∂w
    opt = optim.SGD(model.parameters(), lr=eta)
    opt.zero_grad()
    nn.QuadraticCost()(model(tg.tensor(x)), tg.tensor(y)).backward()
    opt.step()
    got_w, got_b = weights_biases(model)
    for a, b, w0 in zip(got_w + got_b, new_w + new_b, weights + biases, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14 * max(1.0, np.abs(w0).max()))


def test_book_sized_network_in_float32():
    tg.manual_seed(0)
    model = book_model([784, 30, 10], dtype=tg.float32)
    rng = np.random.default_rng(0)
    x = rng.random((10, 784)).astype(np.float32)
    y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 10)]
    nn.QuadraticCost()(model(tg.tensor(x)), tg.tensor(y)).backward()
    weights, biases = weights_biases(model)
    w64 = [w.astype(np.float64) for w in weights]
    b64 = [b.astype(np.float64) for b in biases]
    nabla_w, nabla_b = reference.backprop(w64, b64, x.astype(np.float64), y.astype(np.float64))
    linears = [mod for mod in model if isinstance(mod, nn.Linear)]
    for layer, nw, nb in zip(linears, nabla_w, nabla_b, strict=True):
        assert layer.weight.grad.dtype == np.float32
        assert rel_err(layer.weight.grad.numpy(), nw) < 1e-5
        assert rel_err(layer.bias.grad.numpy(), nb) < 1e-5


def test_hessian_vector_product_matches_finite_differences_of_the_closed_form():
    tg.manual_seed(1)
    sizes = [3, 4, 2]
    model = book_model(sizes)
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((5, 3)), rng.random((5, 2))
    params = list(model.parameters())  # W1, b1, W2, b2
    v = [rng.standard_normal(p.shape) for p in params]
    loss = nn.QuadraticCost()(model(tg.tensor(x)), tg.tensor(y))
    grads = autograd.grad(loss, params, create_graph=True)
    gv = sum((g * tg.tensor(vi)).sum() for g, vi in zip(grads, v, strict=True))
    hv = autograd.grad(gv, params)

    def closed_form_grad(shift):
        ws = [params[0].data + shift * v[0], params[2].data + shift * v[2]]
        bs = [params[1].data + shift * v[1], params[3].data + shift * v[3]]
        nw, nb = reference.backprop(ws, bs, x, y)
        return [nw[0], nb[0], nw[1], nb[1]]

    eps = 1e-5
    plus, minus = closed_form_grad(eps), closed_form_grad(-eps)
    for h, p_, m_ in zip(hv, plus, minus, strict=True):
        fd = (p_ - m_) / (2 * eps)  # H v by central differences, error O(eps²)
        assert rel_err(h.numpy(), fd) < 1e-7
    # and H v is not trivially zero
    assert max(float(np.abs(h.numpy()).max()) for h in hv) > 1e-3
