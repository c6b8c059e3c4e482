"""Edges of PyTorch's nn/optim/save semantics that the fused fast paths once missed: a Linear
bias of another shape, a weight changed in place between forward and backward, losses whose
every target is ignored, the quadratic cost on empty or integer batches, SGD's flat parameters
under in-place ops of their detached aliases, damaged .npz files, and a Tensor learning rate
set on Adam's group. Checked against torch where it is installed, and against the rule itself."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_nn as tg
from tinygrad_nn import nn

try:
    import torch
except ImportError:
    torch = None


def _linear_pair(lib, bias_shape, seq: bool):
    """A Linear(3, 4) (alone, or first in a Sequential with a Sigmoid) with a bias of
    ``bias_shape``, the same values in both libraries."""
    lin = lib.nn.Linear(3, 4).double()
    with lib.no_grad():
        lin.weight.copy_(lib.tensor(np.arange(12.0).reshape(4, 3) / 10, dtype=lib.float64))
    lin.bias = lib.nn.Parameter(lib.tensor(np.full(bias_shape, 0.5), dtype=lib.float64))
    return (lib.nn.Sequential(lin, lib.nn.Sigmoid()) if seq else lin), lin


@pytest.mark.parametrize("seq", [False, True], ids=["Linear", "Sequential"])
@pytest.mark.parametrize("bias_shape", [(4,), (1,), (), (1, 4), (5, 4)])
def test_linear_bias_of_any_broadcastable_shape_gets_its_own_shapes_gradient(bias_shape, seq):
    model, lin = _linear_pair(tg, bias_shape, seq)
    x = np.linspace(-1, 1, 15).reshape(5, 3)
    out = model(tg.tensor(x, dtype=tg.float64))
    (out * tg.tensor(np.arange(20.0).reshape(5, 4), dtype=tg.float64)).sum().backward()
    assert lin.bias.grad.shape == bias_shape
    if bias_shape == (4,) or torch is None:
        return
    tmodel, tlin = _linear_pair(torch, bias_shape, seq)
    tout = tmodel(torch.tensor(x))
    (tout * torch.tensor(np.arange(20.0).reshape(5, 4))).sum().backward()
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-13)
    np.testing.assert_allclose(lin.bias.grad.numpy(), tlin.bias.grad.numpy(), rtol=1e-13)
    np.testing.assert_allclose(lin.weight.grad.numpy(), tlin.weight.grad.numpy(), rtol=1e-13)


def test_linear_bias_of_another_dtype_raises():
    lin = nn.Linear(3, 2).double()
    lin.bias = nn.Parameter(tg.zeros(2))  # float32
    with pytest.raises(RuntimeError, match="bias has dtype"):
        lin(tg.ones(1, 3, dtype=tg.float64))
    seq = nn.Sequential(lin, nn.Sigmoid())
    with pytest.raises(RuntimeError, match="bias has dtype"):
        seq(tg.ones(1, 3, dtype=tg.float64))


def _in_place_between(lib, which: str, x_grad: bool) -> str:
    m = lib.nn.Sequential(lib.nn.Linear(3, 4), lib.nn.Sigmoid(), lib.nn.Linear(4, 2),
                          lib.nn.Sigmoid())
    x = lib.ones(2, 3, requires_grad=x_grad)
    y = m(x) if which != "lone" else m[0](x)
    with lib.no_grad():
        (m[2] if which == "W2" else m[0]).weight.mul_(2)
    try:
        y.sum().backward()
    except RuntimeError as e:
        assert "modified by an inplace operation" in str(e)
        return "raises"
    return "ok"


@pytest.mark.parametrize("which,x_grad,expected", [
    ("lone", False, "ok"),  # W is read only by dx: an input without grad never needs it
    ("W1", False, "ok"),
    ("W1", True, "raises"),
    ("lone", True, "raises"),
    ("W2", False, "raises"),  # W2 carries δ down to W1's gradient
])
def test_weight_changed_in_place_before_backward(which, x_grad, expected):
    assert _in_place_between(tg, which, x_grad) == expected
    if torch is not None:
        assert _in_place_between(torch, which, x_grad) == expected


def test_saved_tensor_not_read_by_any_gradient_is_not_checked_for_mul():
    a, b = tg.ones(3, requires_grad=True), tg.ones(3)
    z = a * b
    with tg.no_grad():
        a.mul_(2)  # a is read only by b's gradient, which nobody needs
    z.sum().backward()
    assert a.grad.tolist() == [1.0, 1.0, 1.0]
    z = a * b
    with tg.no_grad():
        b.mul_(2)  # b is read by a's gradient
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()


ALL_IGNORED = {
    "nll_loss": lambda L, x, t: L.nn.functional.nll_loss(x, t),
    "NLLLoss": lambda L, x, t: L.nn.NLLLoss()(x, t),
    "cross_entropy": lambda L, x, t: L.nn.functional.cross_entropy(x, t),
    "cross_entropy smoothed": lambda L, x, t: L.nn.functional.cross_entropy(
        x, t, label_smoothing=0.1),
    "CrossEntropyLoss weighted": lambda L, x, t: L.nn.CrossEntropyLoss(
        weight=L.tensor([1.0, 2.0, 3.0]))(x, t),
}


@pytest.mark.parametrize("name", list(ALL_IGNORED))
def test_every_target_ignored_gives_nan_loss_and_zero_gradient(name):
    """A batch that is all padding: the mean is 0/0 (NaN, as PyTorch), but the gradient is 0,
    so one optimizer step leaves the parameters as they were instead of making them NaN."""
    x = tg.tensor(np.arange(6.0).reshape(2, 3) / 3, dtype=tg.float32, requires_grad=True)
    with np.errstate(all="ignore"):
        loss = ALL_IGNORED[name](tg, x, tg.tensor([-100, -100]))
        loss.backward()
    assert np.isnan(loss.item())
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((2, 3)))
    if torch is not None:
        tx = torch.tensor(x.detach().numpy(), requires_grad=True)
        tloss = ALL_IGNORED[name](torch, tx, torch.tensor([-100, -100]))
        tloss.backward()
        assert np.isnan(tloss.item())
        np.testing.assert_array_equal(tx.grad.numpy(), np.zeros((2, 3)))


def test_some_targets_ignored_still_divides_by_the_kept_weight():
    x = tg.tensor(np.log(np.full((2, 3), 1 / 3)), requires_grad=True)
    loss = nn.functional.nll_loss(x, tg.tensor([1, -100]))
    loss.backward()
    assert loss.item() == pytest.approx(np.log(3))
    np.testing.assert_array_equal(x.grad.numpy(), [[0.0, -1.0, 0.0], [0.0, 0.0, 0.0]])


ZERO_WEIGHT = {  # class 0 has weight 0; the targets are 0 and ignored rows
    "nll_loss": lambda L, x, t, w: L.nn.functional.nll_loss(x.log_softmax(1), t, weight=w),
    "cross_entropy": lambda L, x, t, w: L.nn.functional.cross_entropy(x, t, weight=w),
    "CrossEntropyLoss": lambda L, x, t, w: L.nn.CrossEntropyLoss(weight=w)(x, t),
    "cross_entropy smoothed": lambda L, x, t, w: L.nn.functional.cross_entropy(
        x, t, weight=w, label_smoothing=0.1),
}


@pytest.mark.parametrize("targets", [[0, 0, 0], [0, -100, 0]], ids=["kept", "one ignored"])
@pytest.mark.parametrize("name", list(ZERO_WEIGHT))
def test_targeted_weights_summing_to_zero_give_nan_as_pytorch(name, targets):
    """'mean' with Σ w_t = 0 over kept rows: the loss is 0/0, and so is the gradient of every
    kept row (PyTorch's log_softmax backward spreads it over the row); an ignored row's is 0."""
    x = tg.tensor(np.arange(9.0).reshape(3, 3) / 4, dtype=tg.float64, requires_grad=True)
    w = tg.tensor([0.0, 1.0, 2.0], dtype=tg.float64)
    with np.errstate(all="ignore"):
        loss = ZERO_WEIGHT[name](tg, x, tg.tensor(targets), w)
        loss.backward()
    assert np.isnan(loss.item())
    kept = np.array(targets) != -100
    g = x.grad.numpy()
    assert np.isnan(g[kept]).all() and not np.isnan(g[~kept]).any() and not g[~kept].any()
    if torch is not None:
        tx = torch.tensor(x.detach().numpy(), requires_grad=True)
        tloss = ZERO_WEIGHT[name](torch, tx, torch.tensor(targets), torch.tensor(w.numpy()))
        tloss.backward()
        assert np.isnan(tloss.item())
        np.testing.assert_array_equal(np.isnan(tx.grad.numpy()), np.isnan(g))
        np.testing.assert_array_equal(np.nan_to_num(tx.grad.numpy()), np.nan_to_num(g))


def test_quadratic_cost_of_an_empty_batch_is_nan_with_an_empty_gradient():
    x = tg.zeros(0, 10, requires_grad=True)
    loss = nn.QuadraticCost()(x, tg.zeros(0, 10))
    assert np.isnan(loss.item())
    loss.backward()
    assert x.grad.shape == (0, 10)
    assert np.isnan(nn.functional.quadratic_cost(tg.zeros(0, 10), tg.zeros(0, 10)).item())


def test_quadratic_cost_of_integer_tensors_raises_instead_of_truncating():
    with pytest.raises(NotImplementedError, match="floating point"):
        nn.QuadraticCost()(tg.tensor([[1, 2]]), tg.tensor([[3, 5]]))


def _one_sgd_step(model, opt):
    opt.zero_grad()
    nn.MSELoss()(model(tg.randn(5, 4)), tg.randn(5, 2)).backward()
    opt.step()


def test_in_place_on_a_detached_parameter_after_sgd_moved_it():
    """SGD moves small parameters into one flat array (optim/flat.py): their arrays become
    views of it. An in-place op on a detached alias must work as before the move."""
    tg.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 3), nn.Sigmoid(), nn.Linear(3, 2))
    opt = tg.optim.SGD(m.parameters(), lr=0.1)
    s = tg.full((3, 4), 2.0, requires_grad=True)
    for _ in range(2):
        _one_sgd_step(m, opt)
    assert getattr(m[0].weight.data.base, "flat_params", None) is not None  # it was moved
    before = m[0].weight.detach().numpy().copy()
    w = m[0].weight.detach()
    w.mul_(s)  # tracked (s requires grad): w takes a node; its memory is the parameter's
    w.sum().backward()
    np.testing.assert_array_equal(m[0].weight.detach().numpy(), before * 2)
    np.testing.assert_array_equal(s.grad.numpy(), before)
    # a view of a tensor in a graph still refuses, as before
    v = (tg.ones(4, requires_grad=True) * 1)[:2]
    with pytest.raises(RuntimeError, match="view of a tensor"):
        v.mul_(s[0, :2])


@pytest.mark.parametrize("where", [-4, -65], ids=["central directory offset", "flags"])
def test_damaged_npz_raises_value_error(tmp_path, where):
    path = tmp_path / "r.npz"
    tg.save({"w": tg.ones(3)}, path)
    data = bytearray(path.read_bytes())
    data[where] ^= 0xFF if where == -4 else 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="not a valid tinygrad_nn .npz file"):
        tg.load(path)


def test_adam_takes_a_tensor_lr_set_on_its_group():
    p = nn.Parameter(tg.ones(3))
    opt = tg.optim.Adam([p], lr=0.1)
    opt.param_groups[0]["lr"] = tg.tensor(0.05)
    p.grad = tg.ones(3)
    opt.step()
    np.testing.assert_allclose(p.detach().numpy(), [0.95] * 3, rtol=1e-6)


@pytest.mark.parametrize("init", ["normal_", "uniform_", "xavier_uniform_", "xavier_normal_",
                                  "kaiming_uniform_", "kaiming_normal_"])
@pytest.mark.parametrize("dtype", ["int64", "bool"])
def test_random_init_of_a_non_floating_tensor_raises(init, dtype):
    t = tg.zeros(3, 4, dtype=getattr(tg, dtype))
    with pytest.raises(NotImplementedError, match="not implemented"):
        getattr(nn.init, init)(t)
    assert not t.numpy().any()  # untouched
    if torch is not None:
        with pytest.raises(NotImplementedError):
            getattr(torch.nn.init, init)(torch.zeros(3, 4, dtype=getattr(torch, dtype)))
    assert nn.init.constant_(tg.zeros(2, dtype=getattr(tg, dtype)), 1).tolist() == (
        [1, 1] if dtype == "int64" else [True, True])


def _seq_ops(lib):
    a = lib.nn.Sequential(lib.nn.Linear(2, 2), lib.nn.ReLU())
    ref = a
    a += lib.nn.Sequential(lib.nn.Sigmoid())
    out = [ref is a, [type(m).__name__ for m in a]]
    c, d = a * 2, 2 * a
    out += [len(c), len(d), c[0] is c[3], c[0] is a[0]]
    a *= 2
    out += [ref is a, len(a), tuple(a(lib.ones(1, 2)).shape)]
    for bad, err in ((lambda: a * 0, ValueError), (lambda: a * 1.5, TypeError),
                     (lambda: a.__iadd__(lib.nn.ReLU()), ValueError)):
        with pytest.raises(err):
            bad()
    return out


def test_sequential_in_place_add_and_repeat_as_torch():
    got = _seq_ops(tg)
    assert got == [True, ["Linear", "ReLU", "Sigmoid"], 6, 6, True, True, True, 6, (1, 2)]
    if torch is not None:
        assert _seq_ops(torch) == got
