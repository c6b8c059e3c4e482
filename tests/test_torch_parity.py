"""tinygrad_nn.nn / .optim against torch.nn / torch.optim (torch==2.13.0) from identical weights:
outputs, gradients, 20 optimizer steps, state dicts both ways, repr text, every loss option,
nn.init formulas, and the exception types raised for bad inputs."""

from __future__ import annotations

import math
import warnings
from collections import OrderedDict

import numpy as np
import pytest

import tinygrad_nn as tg
import tinygrad_nn.nn.functional as F
from tinygrad_nn import nn, optim

torch = pytest.importorskip("torch")
TF = torch.nn.functional
torch.set_num_threads(1)  # tiny tensors: torch's thread pool only adds contention on busy CPUs

DTYPES = {np.float64: (torch.float64, 1e-12), np.float32: (torch.float32, 2e-6)}


def to_torch_state(sd):
    """A tinygrad_nn state dict (Tensors) as torch tensors, through NumPy arrays."""
    return OrderedDict((k, torch.from_numpy(np.array(v.data))) for k, v in sd.items())


def to_numpy_state(sd):
    return OrderedDict((k, v.detach().numpy().copy()) for k, v in sd.items())


def build(lib, spec, dtype):
    """The same model in both libraries: spec is a list of (name, args)."""
    layers = []
    for name, args in spec:
        if name == "Linear":
            layers.append(lib.nn.Linear(*args))
        else:
            layers.append(getattr(lib.nn, name)(*args))
    model = lib.nn.Sequential(*layers)
    return model.double() if dtype == np.float64 else model


SPECS = {
    "book": [("Linear", (784, 30)), ("Sigmoid", ()), ("Linear", (30, 10)), ("Sigmoid", ())],
    "relu_tanh": [("Flatten", ()), ("Linear", (12, 8)), ("ReLU", ()), ("Linear", (8, 6)),
                  ("Tanh", ()), ("Linear", (6, 4)), ("LogSoftmax", (1,))],
    "softmax": [("Linear", (5, 3, False)), ("Softmax", (1,)), ("Identity", ())],
}
INPUTS = {"book": (10, 784), "relu_tanh": (6, 3, 4), "softmax": (7, 5)}


def twin_models(spec_name, dtype, seed=0):
    tg.manual_seed(seed)
    ours = build(tg, SPECS[spec_name], dtype)
    theirs = build(torch, SPECS[spec_name], dtype)
    theirs.load_state_dict(to_torch_state(ours.state_dict()))
    return ours, theirs


def close(a, b, rtol, atol=None):
    a = a.detach().numpy() if hasattr(a, "detach") else np.asarray(a)
    b = b.detach().numpy() if hasattr(b, "detach") else np.asarray(b)
    np.testing.assert_allclose(a, b, rtol=rtol, atol=rtol if atol is None else atol)


# -- outputs and gradients ---------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("spec_name", list(SPECS))
def test_outputs_and_gradients_match(spec_name, dtype):
    tdtype, tol = DTYPES[dtype]
    ours, theirs = twin_models(spec_name, dtype)
    rng = np.random.default_rng(1)
    x = rng.random(INPUTS[spec_name]).astype(dtype)
    out_a, out_b = ours(tg.tensor(x)), theirs(torch.from_numpy(x))
    close(out_a, out_b, tol)
    g = rng.standard_normal(out_a.shape).astype(dtype)
    out_a.backward(tg.tensor(g))
    out_b.backward(torch.from_numpy(g))
    for (name, p), (tname, q) in zip(ours.named_parameters(), theirs.named_parameters(),
                                     strict=True):
        assert name == tname and p.dtype == dtype
        close(p.grad, q.grad, tol, atol=tol * max(1.0, float(q.grad.abs().max())))


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_book_step_with_quadratic_cost_matches_torch(dtype):
    # QuadraticCost is 0.5 * MSELoss(reduction='sum') / n in torch's terms
    tdtype, tol = DTYPES[dtype]
    ours, theirs = twin_models("book", dtype)
    rng = np.random.default_rng(2)
    x, y = rng.random((10, 784)).astype(dtype), rng.random((10, 10)).astype(dtype)
    la = nn.QuadraticCost()(ours(tg.tensor(x)), tg.tensor(y))
    lb = 0.5 * TF.mse_loss(theirs(torch.from_numpy(x)), torch.from_numpy(y), reduction="sum") / 10
    close(la, lb, tol)
    la.backward()
    lb.backward()
    for p, q in zip(ours.parameters(), theirs.parameters(), strict=True):
        close(p.grad, q.grad, tol, atol=tol * float(q.grad.abs().max()))


# -- optimizers --------------------------------------------------------------------------------
OPTIMIZERS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("SGD", dict(lr=0.1, momentum=0.5, dampening=0.3, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, amsgrad=True, weight_decay=0.05)),
    ("Adam", dict(lr=0.01, betas=(0.3, 0.6), maximize=True)),
    ("Adam", dict(lr=0.01, weight_decay=0.1, decoupled_weight_decay=True)),
]


def train(lib, model, opt, batches, loss_name):
    for x, y in batches:
        opt.zero_grad()
        xt = tg.tensor(x) if lib is tg else torch.from_numpy(x)
        yt = tg.tensor(y) if lib is tg else torch.from_numpy(y)
        loss = getattr(lib.nn, loss_name)()(model(xt), yt)
        loss.backward()
        opt.step()
    return loss


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("opt_name,kw", OPTIMIZERS, ids=[f"{n}-{sorted(k)}" for n, k in OPTIMIZERS])
def test_twenty_optimizer_steps_match(opt_name, kw, dtype):
    _, tol = DTYPES[dtype]
    ours, theirs = twin_models("relu_tanh", dtype, seed=3)
    rng = np.random.default_rng(4)
    batches = [(rng.random((6, 3, 4)).astype(dtype), rng.integers(0, 4, 6)) for _ in range(20)]
    oa = getattr(optim, opt_name)(ours.parameters(), **kw)
    ob = getattr(torch.optim, opt_name)(theirs.parameters(), **kw)
    la = train(tg, ours, oa, batches, "NLLLoss")
    lb = train(torch, theirs, ob, batches, "NLLLoss")
    scale = 10  # rounding differences compound a little over 20 steps
    close(la, lb, tol * scale)
    for p, q in zip(ours.parameters(), theirs.parameters(), strict=True):
        close(p, q, tol * scale)
    # the optimizer state dicts have the same layout and values
    sa, sb = oa.state_dict(), ob.state_dict()
    assert sa["param_groups"] == sb["param_groups"]
    assert list(sa["state"]) == list(sb["state"])
    for k in sb["state"]:
        assert list(sa["state"][k]) == list(sb["state"][k])
        for name, v in sb["state"][k].items():
            close(sa["state"][k][name], v, tol * scale)


def test_optimizer_state_dicts_move_both_ways():
    ours, theirs = twin_models("relu_tanh", np.float64, seed=5)
    rng = np.random.default_rng(6)
    batches = [(rng.random((6, 3, 4)), rng.integers(0, 4, 6)) for _ in range(10)]
    kw = dict(lr=0.01, amsgrad=True)
    ob = torch.optim.Adam(theirs.parameters(), **kw)
    train(torch, theirs, ob, batches[:5], "NLLLoss")
    # torch -> tinygrad_nn: parameters and optimizer state as NumPy arrays
    ours.load_state_dict(to_numpy_state(theirs.state_dict()))
    sd = ob.state_dict()
    as_arrays = {"state": {k: {n: v.numpy().copy() for n, v in s.items()}
                           for k, s in sd["state"].items()},
                 "param_groups": sd["param_groups"]}
    oa = optim.Adam(ours.parameters(), **kw)
    oa.load_state_dict(as_arrays)
    train(tg, ours, oa, batches[5:], "NLLLoss")
    # tinygrad_nn -> torch, into a fresh torch model and optimizer
    fresh = build(torch, SPECS["relu_tanh"], np.float64)
    fresh.load_state_dict(to_torch_state(ours.state_dict()))
    train(torch, theirs, ob, batches[5:], "NLLLoss")
    for p, q in zip(ours.parameters(), theirs.parameters(), strict=True):
        close(p, q, 1e-11)
    sa = oa.state_dict()
    back = {"state": {k: {n: torch.from_numpy(np.array(v.data)) for n, v in s.items()}
                      for k, s in sa["state"].items()},
            "param_groups": sa["param_groups"]}
    of = torch.optim.Adam(fresh.parameters(), **kw)
    of.load_state_dict(back)
    train(torch, fresh, of, batches[:3], "NLLLoss")
    train(torch, theirs, ob, batches[:3], "NLLLoss")
    for p, q in zip(fresh.parameters(), theirs.parameters(), strict=True):
        close(p, q, 1e-11)


def test_torch_tensors_load_directly():
    # array-like values (CPU torch tensors) are accepted as well as NumPy arrays
    ours, theirs = twin_models("relu_tanh", np.float64, seed=11)
    for p in theirs.parameters():
        p.data += 0.5
    ours.load_state_dict(theirs.state_dict())
    for p, q in zip(ours.parameters(), theirs.parameters(), strict=True):
        np.testing.assert_array_equal(p.data, q.detach().numpy())
    ob = torch.optim.SGD(theirs.parameters(), lr=0.1, momentum=0.9)
    rng = np.random.default_rng(12)
    batches = [(rng.random((6, 3, 4)), rng.integers(0, 4, 6)) for _ in range(4)]
    train(torch, theirs, ob, batches[:2], "NLLLoss")
    ours.load_state_dict(theirs.state_dict())
    oa = optim.SGD(ours.parameters(), lr=0.1, momentum=0.9)
    oa.load_state_dict(ob.state_dict())
    train(tg, ours, oa, batches[2:], "NLLLoss")
    train(torch, theirs, ob, batches[2:], "NLLLoss")
    for p, q in zip(ours.parameters(), theirs.parameters(), strict=True):
        close(p, q, 1e-12)


def test_model_state_dicts_move_both_ways():
    tg.manual_seed(7)
    ours = build(tg, SPECS["book"], np.float32)
    theirs = build(torch, SPECS["book"], np.float32)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    res = theirs.load_state_dict(to_torch_state(ours.state_dict()), strict=True)
    assert not res.missing_keys and not res.unexpected_keys
    theirs[2].weight.data += 1
    ours.load_state_dict(to_numpy_state(theirs.state_dict()))
    np.testing.assert_array_equal(ours[2].weight.data, theirs[2].weight.detach().numpy())
    # the loss modules with a weight buffer have the same state dict too
    w = np.arange(1.0, 4.0, dtype=np.float32)
    assert list(nn.CrossEntropyLoss(weight=tg.tensor(w)).state_dict()) == list(
        torch.nn.CrossEntropyLoss(weight=torch.tensor(w)).state_dict())


def test_state_dict_error_messages_match_torch():
    ours = build(tg, SPECS["book"], np.float32)
    theirs = build(torch, SPECS["book"], np.float32)
    sd = to_numpy_state(theirs.state_dict())
    del sd["2.bias"]
    sd["5.weight"] = np.zeros(3, np.float32)
    for model, state in ((ours, sd), (theirs, {k: torch.from_numpy(v) for k, v in sd.items()})):
        with pytest.raises(RuntimeError) as e:
            model.load_state_dict(state)
        first_lines = str(e.value).split("\n")[:3]
        assert first_lines == ["Error(s) in loading state_dict for Sequential:",
                               '\tMissing key(s) in state_dict: "2.bias". ',
                               '\tUnexpected key(s) in state_dict: "5.weight". ']


# -- repr --------------------------------------------------------------------------------------
def repr_models(lib):
    n = lib.nn

    class Block(n.Module):
        def __init__(self):
            super().__init__()
            self.fc = n.Linear(3, 3)
            self.acts = n.ModuleList([n.ReLU(), n.ReLU(), n.Tanh()])
            self.head = n.Sequential(OrderedDict(out=n.Linear(3, 1, bias=False), sm=n.Softmax()))

        def forward(self, x):
            return x

    weight = tg.ones(3) if lib is tg else torch.ones(3)
    return [
        build(lib, SPECS["book"], np.float32),
        build(lib, SPECS["relu_tanh"], np.float32),
        Block(),
        n.Sequential(n.ReLU(inplace=True), n.LogSoftmax(dim=-1), n.Flatten(0, 2)),
        n.ModuleList([n.Linear(2, 2) for _ in range(3)]),
        n.Sequential(),
        n.CrossEntropyLoss(weight=weight, label_smoothing=0.1),
        n.MSELoss(reduction="sum"),
        n.NLLLoss(),
        n.BCELoss(),
    ]


def test_repr_text_is_identical():
    for ours, theirs in zip(repr_models(tg), repr_models(torch), strict=True):
        assert repr(ours) == repr(theirs)


def test_parameter_repr_is_identical():
    a = np.array([1.0, 2.5], np.float32)
    assert repr(nn.Parameter(tg.tensor(a))) == repr(torch.nn.Parameter(torch.tensor(a)))


# -- losses ------------------------------------------------------------------------------------
def loss_cases():
    rng = np.random.default_rng(8)
    x = rng.standard_normal((5, 4))
    t = rng.integers(0, 4, 5)
    t[0] = 2
    probs = rng.random((5, 4))
    probs /= probs.sum(1, keepdims=True)
    w = rng.random(4) + 0.5
    x3, t3 = rng.standard_normal((2, 4, 3)), rng.integers(0, 4, (2, 3))
    p = rng.uniform(0.01, 0.99, (5, 4))
    y = rng.random((5, 4))
    cases = []
    for red in ("mean", "sum", "none"):
        for kw in ({}, {"weight": w}, {"ignore_index": 2}, {"label_smoothing": 0.15},
                   {"weight": w, "ignore_index": 2, "label_smoothing": 0.3}):
            cases.append(("cross_entropy", x, t, dict(kw, reduction=red)))
        for kw in ({}, {"weight": w}, {"label_smoothing": 0.2}, {"weight": w,
                                                                  "label_smoothing": 0.2}):
            cases.append(("cross_entropy", x, probs, dict(kw, reduction=red)))
        cases.append(("cross_entropy", x3, t3, {"reduction": red, "label_smoothing": 0.1}))
        cases.append(("cross_entropy", x3, t3, {"reduction": red, "weight": w}))
        cases.append(("nll_loss", x, t, {"reduction": red, "weight": w, "ignore_index": 1}))
        cases.append(("nll_loss", x3, t3, {"reduction": red}))
        cases.append(("binary_cross_entropy", p, y, {"reduction": red}))
        cases.append(("binary_cross_entropy", p, y, {"reduction": red, "weight": w}))
        cases.append(("mse_loss", x, y, {"reduction": red}))
    return cases


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_every_loss_option_matches_torch(dtype):
    _, tol = DTYPES[dtype]
    rng = np.random.default_rng(9)
    worst = 0.0
    for name, x, target, kw in loss_cases():
        x = x.astype(dtype)
        if target.dtype.kind == "f":
            target = target.astype(dtype)
        kwa = {k: tg.tensor(v.astype(dtype)) if isinstance(v, np.ndarray) else v
               for k, v in kw.items()}
        kwb = {k: torch.from_numpy(v.astype(dtype)) if isinstance(v, np.ndarray) else v
               for k, v in kw.items()}
        xa, xb = tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
        grad_t = target.dtype.kind == "f"
        ta = tg.tensor(target, requires_grad=grad_t)
        tb = torch.tensor(target, requires_grad=grad_t)
        la, lb = getattr(F, name)(xa, ta, **kwa), getattr(TF, name)(xb, tb, **kwb)
        assert la.shape == tuple(lb.shape) and la.dtype == dtype, (name, kw)
        close(la, lb, tol)
        g = rng.standard_normal(la.shape).astype(dtype)
        la.backward(tg.tensor(g))
        lb.backward(torch.from_numpy(g))
        close(xa.grad, xb.grad, tol)
        if grad_t:
            close(ta.grad, tb.grad, tol)
        worst = max(worst, float(np.abs(la.detach().numpy() - lb.detach().numpy()).max()))
    assert worst < 10 * tol


def test_loss_modules_match_torch():
    rng = np.random.default_rng(10)
    x, t = rng.standard_normal((6, 3)), rng.integers(0, 3, 6)
    w = rng.random(3)
    pairs = [
        (nn.CrossEntropyLoss(weight=tg.tensor(w), label_smoothing=0.2, ignore_index=0),
         torch.nn.CrossEntropyLoss(weight=torch.tensor(w), label_smoothing=0.2, ignore_index=0),
         tg.tensor(t), torch.tensor(t)),
        (nn.NLLLoss(reduction="sum"), torch.nn.NLLLoss(reduction="sum"), tg.tensor(t),
         torch.tensor(t)),
        (nn.MSELoss(), torch.nn.MSELoss(), tg.tensor(x * 2), torch.tensor(x * 2)),
        (nn.BCELoss(reduction="none"), torch.nn.BCELoss(reduction="none"),
         tg.tensor(np.abs(np.tanh(x))), torch.tensor(np.abs(np.tanh(x)))),
    ]
    for la_fn, lb_fn, ta, tb in pairs:
        inp = 1 / (1 + np.exp(-x)) if isinstance(la_fn, nn.BCELoss) else x
        close(la_fn(tg.tensor(inp), ta), lb_fn(torch.tensor(inp), tb), 1e-12)


# -- init --------------------------------------------------------------------------------------
def test_init_gains_and_fans_match_torch():
    ti = torch.nn.init
    for name in ("linear", "conv2d", "sigmoid", "tanh", "relu", "leaky_relu", "selu"):
        assert nn.init.calculate_gain(name) == ti.calculate_gain(name)
    for slope in (0, 0.2, 1, math.sqrt(5)):
        assert nn.init.calculate_gain("leaky_relu", slope) == ti.calculate_gain("leaky_relu", slope)
    for shape in ((5, 3), (7, 2, 3), (4, 3, 2, 5)):
        assert nn.init._calculate_fan_in_and_fan_out(tg.empty(*shape)) == \
            ti._calculate_fan_in_and_fan_out(torch.empty(*shape))


@pytest.mark.parametrize("name,kw", [
    ("uniform_", dict(a=-0.5, b=2.0)), ("normal_", dict(mean=0.3, std=0.7)),
    ("xavier_uniform_", dict(gain=1.5)), ("xavier_normal_", {}),
    ("kaiming_uniform_", {}), ("kaiming_uniform_", dict(a=math.sqrt(5))),
    ("kaiming_normal_", dict(mode="fan_out", nonlinearity="relu")),
])
def test_init_distributions_match_torch(name, kw):
    shape = (300, 400)
    ours = getattr(nn.init, name)(tg.empty(*shape, dtype=tg.float64),
                                  generator=np.random.default_rng(0), **kw).data
    torch.manual_seed(0)
    theirs = getattr(torch.nn.init, name)(torch.empty(*shape, dtype=torch.float64), **kw).numpy()
    for stat in (np.mean, np.std, np.min, np.max):
        if stat in (np.min, np.max) and "normal" in name:
            continue
        a, b = stat(ours), stat(theirs)
        assert abs(a - b) <= 0.01 * np.std(theirs), (stat.__name__, a, b)


def test_linear_default_init_matches_torch_distribution():
    tg.manual_seed(0)
    torch.manual_seed(0)
    ours, theirs = nn.Linear(400, 300), torch.nn.Linear(400, 300)
    for p, q in ((ours.weight, theirs.weight), (ours.bias, theirs.bias)):
        a, b = p.data, q.detach().numpy()
        assert abs(np.abs(a).max() - np.abs(b).max()) < 1e-3 * np.abs(b).max() + 2e-3 / 20
        assert abs(a.std() - b.std()) < 0.05 * b.std()


# -- error types -------------------------------------------------------------------------------
def error_cases(lib):
    n = lib.nn
    f = F if lib is tg else TF
    T = (lambda *a, **k: tg.tensor(*a, **k)) if lib is tg else torch.tensor  # noqa: N806
    x32 = T(np.random.default_rng(0).random((3, 4)).astype(np.float32))
    lin = n.Linear(4, 2)
    model = n.Sequential(n.Linear(2, 2))
    p = n.Parameter(T([1.0]))
    return [
        lambda: lin(T(np.ones((3, 5), np.float32))),
        lambda: lin(T(np.ones((3, 4)))),  # float64 input, float32 weight
        lambda: f.cross_entropy(x32, T([0, 1, 4])),
        lambda: f.cross_entropy(x32, T([0, 1])),
        lambda: f.cross_entropy(x32, T([0.0, 1.0, 2.0])),
        lambda: f.cross_entropy(x32, T([0, 1, 2]), label_smoothing=1.5),
        lambda: f.cross_entropy(x32, T([0, 1, 2]), reduction="avg"),
        lambda: f.nll_loss(x32, T([0, 1, 2]), weight=T([1.0, 1.0])),
        lambda: f.binary_cross_entropy(T([1.5]), T([1.0])),
        lambda: f.binary_cross_entropy(T([0.5, 0.5]), T([[1.0], [0.0]])),
        lambda: f.one_hot(T([1.0])),
        lambda: f.one_hot(T([-1])),
        lambda: f.mse_loss(x32, T(np.ones(3, np.float32))),
        lambda: lib.optim.SGD(model.parameters(), lr=-1),
        lambda: lib.optim.SGD(model.parameters(), lr=0.1, nesterov=True),
        lambda: lib.optim.Adam(model.parameters(), betas=(1.0, 0.9)),
        lambda: lib.optim.SGD([], lr=0.1),
        lambda: model.load_state_dict({}),
        lambda: model.train(1),
        lambda: model.register_parameter("a.b", p),
        lambda: model.add_module("m", 3),
        lambda: setattr(lin, "weight", T([1.0])),
        lambda: n.Parameter(T([1, 2])),
        lambda: model[5],
    ]


def test_error_types_match_torch():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for i, (ours, theirs) in enumerate(zip(error_cases(tg), error_cases(torch), strict=True)):
            with pytest.raises(Exception) as eb:
                theirs()
            with pytest.raises(Exception) as ea:
                ours()
            assert type(ea.value) is type(eb.value), (i, ea.value, eb.value)
