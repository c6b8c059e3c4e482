"""optim: SGD and Adam against their update formulas written out here, for every option
combination over several steps; parameter groups, zero_grad, state dicts, PyTorch's errors."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

import tinygrad_nn as tg
from tinygrad_nn import nn, optim

SHAPES = [(3, 4), (4,), ()]


def grads_for(steps, seed=0):
    rng = np.random.default_rng(seed)
    return [[rng.standard_normal(s) for s in SHAPES] for _ in range(steps)]


def make_params(seed=1, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return [nn.Parameter(tg.tensor(rng.standard_normal(s).astype(dtype))) for s in SHAPES]


def run(opt_cls, params, grads, **kw):
    opt = opt_cls(params, **kw)
    for step in grads:
        for p, g in zip(params, step, strict=True):
            p.grad = tg.tensor(g.astype(p.dtype))
        opt.step()
    return opt


def sgd_formula(p, gs, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False,
                maximize=False):
    """PyTorch's SGD: b_1 = g_1, b_t = μ b_{t−1} + (1 − τ) g_t; step with b (or g + μ b)."""
    b = None
    for g in gs:
        if maximize:
            g = -g
        g = g + weight_decay * p
        if momentum != 0:
            b = g if b is None else momentum * b + (1 - dampening) * g
            g = g + momentum * b if nesterov else b
        p = p - lr * g
    return p


def adam_formula(p, gs, lr, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, amsgrad=False,
                 maximize=False, decoupled_weight_decay=False):
    """Kingma & Ba with bias corrections m̂ = m/(1−β1^t), v̂ = v/(1−β2^t); AMSGrad uses max v."""
    b1, b2 = betas
    m = v = vmax = np.zeros_like(p)
    for t, g in enumerate(gs, 1):
        if maximize:
            g = -g
        if weight_decay:
            if decoupled_weight_decay:
                p = p * (1 - lr * weight_decay)
            else:
                g = g + weight_decay * p
        m = b1 * m + (1 - b1) * g
        v = b2 * v + (1 - b2) * g * g
        vmax = np.maximum(vmax, v)
        v_hat = (vmax if amsgrad else v) / (1 - b2**t)
        p = p - lr * (m / (1 - b1**t)) / (np.sqrt(v_hat) + eps)
    return p


SGD_OPTIONS = [
    dict(momentum=m, dampening=d, nesterov=n, weight_decay=w, maximize=x)
    for m, d, n, w, x in itertools.product([0.0, 0.9], [0.0, 0.3], [False, True], [0.0, 0.05],
                                           [False, True])
    if not (n and (m == 0 or d != 0))
]


@pytest.mark.parametrize("options", SGD_OPTIONS, ids=lambda o: ",".join(
    f"{k}={v}" for k, v in o.items() if v))
def test_sgd_matches_the_formula(options):
    gs = grads_for(6)
    params = make_params()
    start = [p.data.copy() for p in params]
    opt = run(optim.SGD, params, gs, lr=0.1, **options)
    for i, p in enumerate(params):
        want = sgd_formula(start[i], [step[i] for step in gs], 0.1, **options)
        np.testing.assert_allclose(p.data, want, rtol=1e-13, atol=1e-15)
    assert (len(opt.state) > 0) == (options["momentum"] != 0)


ADAM_OPTIONS = [
    dict(amsgrad=a, weight_decay=w, maximize=x, decoupled_weight_decay=dw, betas=b)
    for a, w, x, dw, b in itertools.product([False, True], [0.0, 0.1], [False, True],
                                            [False, True], [(0.9, 0.999), (0.3, 0.5)])
    if not (dw and w == 0)
]


@pytest.mark.parametrize("options", ADAM_OPTIONS, ids=lambda o: ",".join(
    f"{k}={v}" for k, v in o.items() if v))
def test_adam_matches_the_formula(options):
    gs = grads_for(7, seed=3)
    params = make_params()
    start = [p.data.copy() for p in params]
    opt = run(optim.Adam, params, gs, lr=0.01, **options)
    for i, p in enumerate(params):
        want = adam_formula(start[i], [step[i] for step in gs], 0.01, **options)
        np.testing.assert_allclose(p.data, want, rtol=1e-12, atol=1e-15)
        st = opt.state[p]
        assert st["step"].item() == 7.0
        assert set(st) == {"step", "exp_avg", "exp_avg_sq"} | (
            {"max_exp_avg_sq"} if options["amsgrad"] else set())


def test_float32_parameters_stay_float32():
    gs = grads_for(3)
    for cls, kw in ((optim.SGD, dict(lr=0.1, momentum=0.9)), (optim.Adam, dict(lr=0.01))):
        params = make_params(dtype=np.float32)
        start = [p.data.astype(np.float64) for p in params]
        opt = run(cls, params, gs, **kw)
        formula = sgd_formula if cls is optim.SGD else adam_formula
        for i, p in enumerate(params):
            assert p.dtype == np.float32
            want = formula(start[i], [s[i].astype(np.float32).astype(np.float64) for s in gs],
                           **kw)
            np.testing.assert_allclose(p.data, want, rtol=2e-6, atol=1e-6)
        assert all(v.dtype in (np.float32,) for st in opt.state.values() for v in
                   (t.data for k, t in st.items() if k != "step"))


def test_plain_sgd_is_the_books_update_in_place():
    p = nn.Parameter(tg.tensor([1.0, -2.0]))
    arr = p.data
    p.grad = tg.tensor([0.5, 0.25])
    v = p._version
    optim.SGD([p], lr=3.0).step()
    assert p.data is arr  # updated in place
    np.testing.assert_array_equal(p.data, [1.0 - 1.5, -2.0 - 0.75])
    assert p._version == v + 1
    np.testing.assert_array_equal(p.grad.numpy(), [0.5, 0.25])  # the gradient is untouched


def test_parameters_without_grad_are_skipped():
    a, b = make_params()[:2]
    a.grad = tg.ones(*a.shape, dtype=tg.float64)
    before, vb = b.data.copy(), b._version
    for opt in (optim.SGD([a, b], lr=0.1, momentum=0.9), optim.Adam([a, b])):
        opt.step()
        np.testing.assert_array_equal(b.data, before)
        assert b._version == vb and b not in opt.state


def test_a_real_backward_then_step():
    # minimise f(w) = ||w − c||² with SGD: w_{t+1} = w_t − η·2(w_t − c)
    c = np.array([1.0, -2.0, 3.0])
    w = nn.Parameter(tg.zeros(3, dtype=tg.float64))
    opt = optim.SGD([w], lr=0.1)
    expected = np.zeros(3)
    for _ in range(5):
        opt.zero_grad()
        ((w - tg.tensor(c)) ** 2).sum().backward()
        opt.step()
        expected = expected - 0.1 * 2 * (expected - c)
    np.testing.assert_allclose(w.data, expected, rtol=1e-14)


def test_closure_is_called_with_grad_enabled():
    w = nn.Parameter(tg.ones(2, dtype=tg.float64))
    opt = optim.SGD([w], lr=0.5)

    def closure():
        opt.zero_grad()
        loss = (w * w).sum()
        loss.backward()
        return loss

    with tg.no_grad():
        loss = opt.step(closure)
    assert loss.item() == 2.0
    np.testing.assert_array_equal(w.data, [0.0, 0.0])


# -- errors ------------------------------------------------------------------------------------
def test_invalid_hyperparameters_raise_pytorchs_value_errors():
    ps = make_params()
    cases = [
        (lambda: optim.SGD(ps, lr=-1), "Invalid learning rate: -1"),
        (lambda: optim.SGD(ps, momentum=-0.5), "Invalid momentum value: -0.5"),
        (lambda: optim.SGD(ps, weight_decay=-1e-4), "Invalid weight_decay value: -0.0001"),
        (lambda: optim.SGD(ps, nesterov=True), "Nesterov momentum requires a momentum and zero "
                                               "dampening"),
        (lambda: optim.SGD(ps, momentum=0.9, dampening=0.1, nesterov=True), "Nesterov"),
        (lambda: optim.Adam(ps, lr=-1), "Invalid learning rate: -1"),
        (lambda: optim.Adam(ps, eps=-1.0), "Invalid epsilon value: -1.0"),
        (lambda: optim.Adam(ps, betas=(1.0, 0.999)), "Invalid beta parameter at index 0: 1.0"),
        (lambda: optim.Adam(ps, betas=(0.9, -0.1)), "Invalid beta parameter at index 1: -0.1"),
        (lambda: optim.Adam(ps, weight_decay=-1.0), "Invalid weight_decay value: -1.0"),
        (lambda: optim.Adam(ps, betas=(0, 0.9)), "betas must be either both floats"),
        (lambda: optim.SGD([], lr=0.1), "optimizer got an empty parameter list"),
    ]
    for make, msg in cases:
        with pytest.raises(ValueError) as e:
            make()
        assert msg in str(e.value)
    with pytest.raises(TypeError, match="iterable of Tensors or dicts"):
        optim.SGD(ps[0], lr=0.1)
    with pytest.raises(TypeError, match="can only optimize Tensors"):
        optim.SGD([np.zeros(3)], lr=0.1)
    with pytest.raises(TypeError, match="ordered collections"):
        optim.SGD([{"params": {ps[0]}}], lr=0.1)
    x = tg.ones(2, requires_grad=True)
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        optim.SGD([x * 2], lr=0.1)


# -- groups, zero_grad -------------------------------------------------------------------------
def test_param_groups_defaults_and_per_group_options():
    a, b, c = make_params()
    opt = optim.SGD([{"params": [a]}, {"params": b, "lr": 0.5}], lr=0.1, momentum=0.9)
    g0, g1 = opt.param_groups
    assert set(g0) == {"params", "lr", "momentum", "dampening", "weight_decay", "nesterov",
                       "maximize", "foreach", "differentiable", "fused"}
    assert g0["lr"] == 0.1 and g1["lr"] == 0.5 and g1["momentum"] == 0.9
    assert g1["params"][0] is b  # a single tensor becomes a list
    opt.add_param_group({"params": [c], "momentum": 0.0})
    assert opt.param_groups[2]["lr"] == 0.1 and opt.param_groups[2]["momentum"] == 0.0
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [a]})
    with pytest.raises(TypeError, match="must be a dict"):
        opt.add_param_group([a])
    adam = optim.Adam([a])
    assert set(adam.param_groups[0]) == {
        "params", "lr", "betas", "eps", "weight_decay", "amsgrad", "maximize", "foreach",
        "capturable", "differentiable", "fused", "decoupled_weight_decay"}
    assert adam.defaults["betas"] == (0.9, 0.999) and adam.defaults["eps"] == 1e-8
    for p in (a, b):
        p.grad = tg.ones(*p.shape, dtype=tg.float64)
    before = [a.data.copy(), b.data.copy()]
    opt.step()
    np.testing.assert_allclose(a.data, before[0] - 0.1)
    np.testing.assert_allclose(b.data, before[1] - 0.5)


def test_named_parameters_are_accepted():
    model = nn.Linear(2, 2)
    opt = optim.SGD(model.named_parameters(), lr=0.1)
    assert opt.param_groups[0]["param_names"] == ["weight", "bias"]
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["weight", "bias"]


def test_zero_grad():
    ps = make_params()
    for p in ps:
        p.grad = tg.ones(*p.shape, dtype=tg.float64)
    opt = optim.SGD(ps, lr=0.1)
    g = ps[0].grad
    opt.zero_grad(set_to_none=False)
    assert ps[0].grad is g and not g.data.any()
    opt.zero_grad()
    assert all(p.grad is None for p in ps)


def test_repr():
    opt = optim.SGD(make_params(), lr=0.1)
    text = repr(opt)
    assert text.startswith("SGD (\nParameter Group 0\n    dampening: 0\n")
    assert "    lr: 0.1\n" in text and text.endswith(")")


# -- state dicts -------------------------------------------------------------------------------
@pytest.mark.parametrize("make", [
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    lambda ps: optim.Adam(ps, lr=0.01, amsgrad=True, weight_decay=0.1),
], ids=["sgd", "adam"])
def test_state_dict_round_trip_resumes_exactly(make, tmp_path):
    gs = grads_for(8, seed=5)
    # uninterrupted: 8 steps
    ref = make_params()
    run_opt = make(ref)
    for step in gs:
        for p, g in zip(ref, step, strict=True):
            p.grad = tg.tensor(g)
        run_opt.step()
    # 4 steps, save params + optimizer to a file, rebuild, load, 4 more steps
    ps = make_params()
    opt = make(ps)
    for step in gs[:4]:
        for p, g in zip(ps, step, strict=True):
            p.grad = tg.tensor(g)
        opt.step()
    sd = opt.state_dict()
    assert list(sd) == ["state", "param_groups"]
    assert sorted(sd["state"]) == [0, 1, 2] and sd["param_groups"][0]["params"] == [0, 1, 2]
    path = tmp_path / "opt.npz"
    tg.save({"params": [p.data for p in ps], "optim": sd}, path)
    loaded = tg.load(path)
    assert isinstance(next(iter(loaded["optim"]["state"])), int)  # int keys survive the file
    ps2 = [nn.Parameter(tg.tensor(a)) for a in loaded["params"]]
    opt2 = make(ps2)
    opt2.load_state_dict(loaded["optim"])
    for step in gs[4:]:
        for p, g in zip(ps2, step, strict=True):
            p.grad = tg.tensor(g)
        opt2.step()
    for p, q in zip(ref, ps2, strict=True):
        np.testing.assert_array_equal(p.data, q.data)
    assert opt2.param_groups[0]["lr"] == run_opt.param_groups[0]["lr"]


def test_load_state_dict_casts_copies_and_validates():
    ps = make_params(dtype=np.float32)
    opt = optim.SGD(ps, lr=0.1, momentum=0.9)
    buf = np.arange(12.0).reshape(3, 4)  # float64 buffer for a float32 parameter
    sd = {"state": {"0": {"momentum_buffer": buf}},
          "param_groups": [{"lr": 0.5, "momentum": 0.8, "params": [0, 1, 2]}]}
    opt.load_state_dict(sd)
    mb = opt.state[ps[0]]["momentum_buffer"]
    assert isinstance(mb, tg.Tensor) and mb.dtype == np.float32 and mb.data is not buf
    g = opt.param_groups[0]
    assert g["lr"] == 0.5 and g["momentum"] == 0.8 and g["dampening"] == 0  # defaults filled
    assert g["params"] is not None and g["params"][0] is ps[0]
    with pytest.raises(ValueError, match="different number of parameter groups"):
        opt.load_state_dict({"state": {}, "param_groups": []})
    with pytest.raises(ValueError, match="doesn't match the size"):
        opt.load_state_dict({"state": {}, "param_groups": [{"lr": 0.1, "params": [0]}]})
    with pytest.raises(ValueError, match="shape"):
        opt.load_state_dict({"state": {0: {"momentum_buffer": np.zeros(3)}},
                             "param_groups": [{"lr": 0.1, "params": [0, 1, 2]}]})
    adam = optim.Adam(ps)
    adam.load_state_dict({"state": {1: {"step": 3.0, "exp_avg": np.ones(4),
                                        "exp_avg_sq": np.ones(4)}},
                          "param_groups": [{"lr": 0.1, "betas": [0.5, 0.6], "params": [0, 1, 2]}]})
    assert adam.param_groups[0]["betas"] == (0.5, 0.6)
    assert adam.state[ps[1]]["step"].item() == 3.0
    ps[1].grad = tg.ones(4)
    adam.step()
    assert adam.state[ps[1]]["step"].item() == 4.0
    assert math.isfinite(float(ps[1].data.sum()))


@pytest.mark.parametrize("kw", [{"momentum": 0.9}, {"weight_decay": 0.1}])
def test_sgd_takes_a_tensor_lr_with_momentum_or_weight_decay(kw):
    """A scheduler may put a 0-d Tensor in param_groups (as torch's): the same update as its
    value as a float."""
    results = []
    for lr in (tg.tensor(0.5, dtype=tg.float64), 0.5):
        p = tg.nn.Parameter(tg.tensor([1.0, -2.0], dtype=tg.float64))
        opt = tg.optim.SGD([p], lr=0.5, **kw)
        for _ in range(3):
            opt.param_groups[0]["lr"] = lr
            opt.zero_grad()
            (p * p).sum().backward()
            opt.step()
        results.append(p.detach().numpy().copy())
    np.testing.assert_array_equal(results[0], results[1])
    assert not np.array_equal(results[1], [1.0, -2.0])
