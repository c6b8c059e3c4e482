"""The Tensor object: attributes, conversions, repr, errors, and numerical stability."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_nn as tg


def leaf(values, dtype=np.float64):
    return tg.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


# -- attributes and conversions -------------------------------------------------------------------
def test_shape_size_dim_numel():
    t = tg.zeros(2, 3, 4)
    assert t.shape == (2, 3, 4) and t.size() == (2, 3, 4)
    assert t.size(0) == 2 and t.size(-1) == 4 and t.size(1) == 3
    assert t.dim() == t.ndim == 3 and t.numel() == 24 and len(t) == 2
    s = tg.tensor(5.0)
    assert s.shape == () and s.dim() == 0 and s.numel() == 1
    with pytest.raises(TypeError):
        len(s)
    with pytest.raises(IndexError, match="Dimension out of range"):
        t.size(3)


def test_item_tolist_and_python_conversions():
    assert tg.tensor(2.5).item() == 2.5 and isinstance(tg.tensor(2.5).item(), float)
    assert tg.tensor([7]).item() == 7 and isinstance(tg.tensor([7]).item(), int)
    assert tg.tensor([[True]]).item() is True
    with pytest.raises(RuntimeError, match="elements cannot be converted to Scalar"):
        tg.tensor([1.0, 2.0]).item()
    assert tg.tensor([[1, 2], [3, 4]]).tolist() == [[1, 2], [3, 4]]
    assert tg.tensor(1.5).tolist() == 1.5
    assert float(tg.tensor([0.5])) == 0.5 and int(tg.tensor(3)) == 3
    assert bool(tg.tensor([1.0])) and not bool(tg.tensor(0))
    with pytest.raises(RuntimeError, match="ambiguous"):
        bool(tg.tensor([1.0, 2.0]))
    assert [1, 2, 3][tg.tensor(1)] == 2  # __index__
    assert [r.tolist() for r in tg.tensor([[1, 2], [3, 4]])] == [[1, 2], [3, 4]]


def test_numpy_and_detach():
    t = tg.tensor([1.0, 2.0])
    assert t.numpy() is t.data  # no copy, as PyTorch shares memory
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match=r"Can't call numpy\(\) on Tensor that requires grad"):
        x.numpy()
    d = x.detach()
    assert not d.requires_grad and d.is_leaf and d.grad_fn is None
    assert np.shares_memory(d.numpy(), x.data)
    assert np.asarray(x).dtype == np.float64  # __array__ works on any tensor


def test_T_and_mT():
    m = tg.tensor(np.arange(6.0).reshape(2, 3))
    np.testing.assert_array_equal(m.T.data, np.arange(6.0).reshape(2, 3).T)
    v = tg.tensor([1.0, 2.0])
    assert v.T.shape == (2,) and tg.tensor(1.0).T.shape == ()
    b = tg.tensor(np.arange(24.0).reshape(2, 3, 4))
    np.testing.assert_array_equal(b.mT.data, np.swapaxes(b.data, -1, -2))
    with pytest.raises(RuntimeError, match="mT"):
        v.mT  # noqa: B018


def test_clone_detach_requires_grad_flags():
    x = leaf([1.0, 2.0])
    c = x.clone()
    assert c.requires_grad and not c.is_leaf and not np.shares_memory(c.data, x.data)
    (c * 3.0).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [3.0, 3.0])
    y = x * 2.0
    with pytest.raises(RuntimeError, match="leaf"):
        y.requires_grad_(False)
    t = tg.tensor([1.0])
    assert t.requires_grad_() is t and t.requires_grad and t.is_leaf


def test_comparisons_and_argmax_are_not_differentiable():
    x = leaf([1.0, 3.0, 2.0])
    for out in (x > 1.5, x == 3.0, x.eq(x), x <= 2.0, x != 1.0):
        assert out.dtype == np.bool_ and not out.requires_grad
    assert x.argmax().item() == 1 and x.argmin(dim=0).item() == 0
    assert x.argmax().dtype == np.int64 and not x.argmax().requires_grad


def test_device_is_cpu():
    t = tg.tensor([1.0])
    assert t.device == "cpu" and t.to("cpu") is t and t.cpu() is t
    with pytest.raises(RuntimeError, match="cpu"):
        t.to("cuda")


# -- repr -----------------------------------------------------------------------------------------
REPRS = [  # (constructor, PyTorch 2.x's repr)
    (lambda: tg.tensor([1.0, 2.0]), "tensor([1., 2.])"),
    (lambda: tg.tensor([1.0, 2.0], requires_grad=True), "tensor([1., 2.], requires_grad=True)"),
    (lambda: tg.tensor([1.5, 2.25]), "tensor([1.5000, 2.2500])"),
    (lambda: tg.tensor(3.0), "tensor(3.)"),
    (lambda: tg.tensor(3.5, dtype=tg.float64), "tensor(3.5000, dtype=torch.float64)"),
    (lambda: tg.tensor([1, 2]), "tensor([1, 2])"),
    (lambda: tg.tensor([True, False]), "tensor([ True, False])"),
    (lambda: tg.tensor([1.0, 2.0], requires_grad=True) * 2,
     "tensor([2., 4.], grad_fn=<MulBackward0>)"),
    (lambda: tg.tensor([[1.0, 2.0], [3.0, 4.0]]), "tensor([[1., 2.],\n        [3., 4.]])"),
    (lambda: tg.tensor([[1.5, -2.0], [3.0, 4.125]], dtype=tg.float64),
     "tensor([[ 1.5000, -2.0000],\n        [ 3.0000,  4.1250]], dtype=torch.float64)"),
    (lambda: tg.zeros(0, 3), "tensor([], size=(0, 3))"),
    (lambda: tg.tensor([1e-5, 1e5]), "tensor([1.0000e-05, 1.0000e+05])"),
    (lambda: tg.tensor([1, 2], dtype=tg.int32), "tensor([1, 2], dtype=torch.int32)"),
    (lambda: tg.tensor([float("nan"), float("inf"), 1.0]), "tensor([nan, inf, 1.])"),
    (lambda: tg.tensor([-0.5, 123.456]), "tensor([ -0.5000, 123.4560])"),
]


@pytest.mark.parametrize("make,expected", REPRS, ids=[r[1] for r in REPRS])
def test_repr_like_pytorch(make, expected):
    assert repr(make()) == expected


def test_repr_uses_the_default_dtype():
    tg.set_default_dtype(tg.float64)
    try:
        assert repr(tg.tensor([1.0])) == "tensor([1.])"
        assert repr(tg.tensor([1.0], dtype=tg.float32)) == "tensor([1.], dtype=torch.float32)"
    finally:
        tg.set_default_dtype(tg.float32)


TORCH_REPR_CASES = [
    lambda lib: lib.tensor([[1.5, -2.0], [3.0, 4.125]]),
    lambda lib: lib.arange(30.0) / 7,
    lambda lib: lib.arange(2000).reshape(40, 50),
    lambda lib: lib.arange(2000.0).reshape(40, 50) / 3,
    lambda lib: lib.arange(24.0).reshape(2, 3, 4) / 3,
    lambda lib: lib.tensor([[1e-5, 3.0]]),
    lambda lib: lib.tensor([False, False]),
    lambda lib: lib.tensor([0.0, 0.0]),
    lambda lib: lib.tensor([123456789.0, 1.0]),
    lambda lib: lib.tensor([float("-inf"), 2.5], dtype=lib.float64),
    lambda lib: lib.zeros(2, 0, 3),
    lambda lib: lib.tensor([0.1, 0.25], requires_grad=True),
]


@pytest.mark.parametrize("make", TORCH_REPR_CASES)
def test_repr_matches_torch(make):
    torch = pytest.importorskip("torch")
    assert repr(make(tg)) == repr(make(torch))


# -- errors ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("call", [
    lambda t: t.sum(dim=2), lambda t: t.sum(dim=(0, -3)), lambda t: t.mean(-3),
    lambda t: t.softmax(2), lambda t: t.log_softmax(-3), lambda t: t.transpose(0, 2),
    lambda t: t.unsqueeze(3), lambda t: t.squeeze(2), lambda t: t.max(dim=5),
    lambda t: t.amax(2), lambda t: t.logsumexp(-3), lambda t: t.flatten(0, 2),
    lambda t: t.permute(0, 2), lambda t: t.var(2), lambda t: tg.cat([t, t], dim=2),
    lambda t: tg.stack([t, t], dim=4),
])
def test_bad_dims_raise_dimension_out_of_range(call):
    with pytest.raises(IndexError, match=r"Dimension out of range \(expected to be in range of "):
        call(tg.zeros(2, 3))


def test_bad_matmul_shapes():
    with pytest.raises(RuntimeError,
                       match=r"mat1 and mat2 shapes cannot be multiplied \(2x3 and 2x3\)"):
        tg.zeros(2, 3) @ tg.zeros(2, 3)
    with pytest.raises(RuntimeError):
        tg.zeros(3) @ tg.zeros(4)
    with pytest.raises(RuntimeError):
        tg.zeros(5, 2, 3) @ tg.zeros(4, 4, 2)
    with pytest.raises(RuntimeError, match="at least 1D"):
        tg.tensor(1.0) @ tg.zeros(1)


def test_bad_reshape_expand_cat_stack():
    with pytest.raises(RuntimeError, match=r"shape '\[4, 2\]' is invalid for input of size 6"):
        tg.zeros(2, 3).reshape(4, 2)
    with pytest.raises(RuntimeError):
        tg.zeros(2, 3).view(-1, -1)
    with pytest.raises(RuntimeError, match="expanded size"):
        tg.zeros(2, 3).expand(4, 3)
    with pytest.raises(RuntimeError, match="Sizes of tensors must match"):
        tg.cat([tg.zeros(2, 3), tg.zeros(2, 4)])
    with pytest.raises(RuntimeError, match="stack expects each tensor to be equal size"):
        tg.stack([tg.zeros(2), tg.zeros(3)])
    with pytest.raises(RuntimeError, match="boolean"):
        tg.where(tg.tensor([1, 0]), tg.zeros(2), tg.ones(2))
    with pytest.raises(RuntimeError, match="At least one of 'min' or 'max'"):
        tg.zeros(2).clamp()


# -- numerical stability ------------------------------------------------------------------------
@pytest.mark.filterwarnings("error")  # an overflow warning is a failure
def test_stable_at_large_magnitudes_in_float32():
    x = leaf([1e4, -1e4, 0.0], dtype=np.float32)
    s = x.sigmoid()
    np.testing.assert_array_equal(s.data, [1.0, 0.0, 0.5])
    t = x.tanh()
    np.testing.assert_array_equal(t.data, [1.0, -1.0, 0.0])
    ls = x.log_softmax(0)
    np.testing.assert_array_equal(ls.data, [0.0, -2e4, -1e4])
    sm = x.softmax(0)
    np.testing.assert_array_equal(sm.data, [1.0, 0.0, 0.0])
    lse = x.logsumexp(0)
    assert lse.item() == 1e4
    lse_neg = (-x[:2].abs()).logsumexp(0)  # all very negative: no underflow to log(0)
    np.testing.assert_allclose(lse_neg.item(), -1e4 + np.log(2.0), rtol=1e-6)
    v = tg.tensor([1.0, 2.0, 3.0], dtype=tg.float32)
    (s * v).sum().backward()
    (ls * v).sum().backward()
    (sm * v).sum().backward()
    lse.backward()
    (t * v).sum().backward()
    assert np.isfinite(x.grad.data).all() and x.grad.dtype == np.float32
    # d/dx: sigmoid' = 0, 0, 1/4 (times v); log_softmax' = v - softmax * sum(v) = v - [6, 0, 0];
    # softmax' = 0 (saturated); logsumexp' = softmax = [1, 0, 0]; tanh' = 0, 0, 1 (times v)
    np.testing.assert_allclose(x.grad.data, [0 + (1 - 6) + 0 + 1 + 0, 0 + 2 + 0 + 0 + 0,
                                             0.75 + 3 + 0 + 0 + 3], rtol=1e-6)
