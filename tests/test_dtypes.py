"""dtypes: constructor inference, PyTorch's promotion rules, the default dtype, grads' dtypes."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import tinygrad_nn as tg

F32, F64, I32, I64, B = (np.dtype(d) for d in (np.float32, np.float64, np.int32, np.int64,
                                                np.bool_))


@pytest.fixture
def float64_default():
    tg.set_default_dtype(tg.float64)
    yield
    tg.set_default_dtype(tg.float32)


def test_dtypes_are_numpys():
    assert tg.float32 is np.float32 and tg.float64 is np.float64
    assert tg.int64 is np.int64 and tg.int32 is np.int32 and tg.bool is np.bool_
    t = tg.tensor([1.0])
    assert isinstance(t.dtype, np.dtype) and t.dtype == tg.float32
    assert tg.get_default_dtype() == tg.float32


@pytest.mark.parametrize("data,dtype", [
    (1.5, F32), ([1.0, 2.0], F32), ([1, 2.5], F32), ([[1.0], [2.0]], F32),
    (3, I64), ([1, 2], I64), (True, B), ([True, False], B),
    (np.array([1.0], dtype=np.float64), F64), (np.array([1.0], dtype=np.float32), F32),
    (np.array([1], dtype=np.int32), I32), (np.array([1], dtype=np.int64), I64),
    (np.array([True]), B), (np.float64(2.0), F64), (np.int32(2), I32),
])
def test_constructor_infers_the_dtype(data, dtype):
    assert tg.tensor(data).dtype == dtype
    assert tg.Tensor(data).dtype == dtype


def test_python_floats_follow_the_default_dtype(float64_default):
    assert tg.tensor(1.5).dtype == F64 and tg.tensor([1.0, 2]).dtype == F64
    assert tg.tensor([1, 2]).dtype == I64  # ints are not affected
    assert tg.tensor(np.ones(2, dtype=np.float32)).dtype == F32  # arrays keep theirs
    assert tg.zeros(2).dtype == F64 and tg.ones(1).dtype == F64 and tg.rand(2).dtype == F64
    assert (tg.tensor([1, 2]) * 2.5).dtype == F64
    assert tg.tensor([1, 2]).exp().dtype == F64


def test_factories_dtypes():
    assert tg.zeros(2).dtype == F32 and tg.randn(2).dtype == F32 and tg.ones(2, 2).dtype == F32
    assert tg.full((2,), 3).dtype == I64 and tg.full((2,), 3.0).dtype == F32
    assert tg.arange(3).dtype == I64 and tg.arange(3.0).dtype == F32
    assert tg.zeros(2, dtype=tg.float64).dtype == F64


def test_constructor_copies_and_from_numpy_shares():
    a = np.array([1.0, 2.0])
    t = tg.tensor(a)
    a[0] = 99.0
    assert t.tolist() == [1.0, 2.0]
    lst = [1.0, 2.0]
    assert tg.tensor(lst).tolist() == lst
    s = tg.from_numpy(a)
    a[1] = -1.0
    assert s.tolist() == [99.0, -1.0] and s.dtype == F64


def test_explicit_dtype():
    assert tg.tensor([1, 2], dtype=tg.float64).dtype == F64
    assert tg.tensor([1.7, -2.2], dtype=tg.int64).tolist() == [1, -2]
    assert tg.tensor(np.ones(2), dtype=tg.float32).dtype == F32


@pytest.mark.parametrize("data", [[1, 2], np.array([1], dtype=np.int32), [True]])
def test_only_floating_tensors_can_require_grad(data):
    with pytest.raises(RuntimeError, match="floating point"):
        tg.tensor(data, requires_grad=True)
    with pytest.raises(RuntimeError, match="floating point"):
        tg.tensor(data).requires_grad_()


# -- promotion -------------------------------------------------------------------------------------
def t(dtype, ndim):
    return tg.tensor(np.ones((2,) * ndim, dtype=dtype))


PROMOTION = [  # (a, b, result) by PyTorch's rules: 0-d tensors and Python numbers are weak
    ((F32, 1), (F64, 0), F32),  # a 0-d tensor does not promote within its category
    ((F32, 1), (F64, 1), F64),
    ((F32, 0), (F64, 0), F64),  # both 0-d: ordinary promotion
    ((I64, 1), (F64, 0), F64),  # a 0-d tensor of a higher category decides
    ((I32, 1), (I64, 0), I32),
    ((I32, 1), (I64, 1), I64),
    ((B, 1), (I64, 1), I64),
    ((F64, 1), (I32, 1), F64),
    ((I64, 1), (F32, 0), F32),
]


@pytest.mark.parametrize("a,b,want", PROMOTION)
def test_tensor_tensor_promotion(a, b, want):
    x, y = t(*a), t(*b)
    for out in (x + y, y + x, x * y, tg.maximum(x, y), tg.where(x > 0, x, y)):
        assert out.dtype == want
    if B in (a[0], b[0]):  # PyTorch has no subtraction with a bool tensor
        with pytest.raises(RuntimeError, match="Subtraction"):
            y - x
    else:
        assert (y - x).dtype == want


@pytest.mark.parametrize("a,scalar,want", [
    ((F32, 1), 2.5, F32), ((F32, 1), 2, F32), ((I64, 1), 2.5, F32), ((I64, 1), 2, I64),
    ((I32, 1), 3, I32), ((B, 1), 2, I64), ((B, 1), 2.5, F32), ((F64, 0), 2.5, F64),
    ((I64, 1), True, I64),
])
def test_tensor_python_number_promotion(a, scalar, want):
    x = t(*a)
    assert (x * scalar).dtype == want and (scalar * x).dtype == want


def test_division_and_unary_dtypes():
    i = tg.tensor([1, 2])
    assert (i / tg.tensor([2, 4])).dtype == F32 and (i / 2).dtype == F32 and (1 / i).dtype == F32
    assert (i / tg.tensor([2, 4])).tolist() == [0.5, 0.5]
    for out in (i.exp(), i.sigmoid(), i.sqrt(), i.log(), i.tanh()):
        assert out.dtype == F32
    for out in (i.abs(), -i, i.relu(), i**2, i.sum(), tg.tensor([True]).sum(),
                tg.tensor([1], dtype=tg.int32).sum()):
        assert out.dtype == I64, out
    assert (i**0.5).dtype == F32 and (2**i).dtype == I64 and (2.0**i).dtype == F32
    with pytest.raises(RuntimeError, match="mean"):
        i.mean()


def test_cat_promotes():
    assert tg.cat([tg.tensor([1.0]), tg.tensor([1.0], dtype=tg.float64)]).dtype == F64
    assert tg.stack([tg.tensor([1]), tg.tensor([1.0])]).dtype == F32


def test_gradients_have_the_dtype_of_their_leaf():
    x = tg.tensor([1.0, 2.0], requires_grad=True)  # float32
    s = tg.tensor(3.0, dtype=tg.float64, requires_grad=True)  # 0-d float64: weak
    y = x * s
    assert y.dtype == F32
    y.sum().backward()
    assert x.grad.dtype == F32 and s.grad.dtype == F64
    np.testing.assert_array_equal(x.grad.data, [3.0, 3.0])
    assert s.grad.item() == 3.0
    z = tg.tensor([1.0, 2.0], dtype=tg.float64, requires_grad=True)
    w = tg.tensor([0.5, 0.25], requires_grad=True)
    (z + w).sum().backward()  # same ndim: float64 result, float32 leaf gets a float32 grad
    assert z.grad.dtype == F64 and w.grad.dtype == F32


def test_casts():
    x = tg.tensor([1.5, -2.5], requires_grad=True)
    y = x.to(tg.float64)
    assert y.dtype == F64 and y.requires_grad and y.grad_fn is not None
    assert x.double().dtype == F64 and x.float() is x and x.to(tg.float32) is x
    (y * tg.tensor([2.0, 3.0], dtype=tg.float64)).sum().backward()
    assert x.grad.dtype == F32 and x.grad.tolist() == [2.0, 3.0]
    assert tg.tensor([1.7, -1.7]).long().tolist() == [1, -1]
    assert tg.tensor([1.5]).int().dtype == I32 and tg.tensor([0.0, 2.0]).bool().tolist() == [
        False, True]
    assert tg.tensor([1, 2]).to(tg.float64).dtype == F64


def test_cast_to_an_integer_dtype_is_not_differentiable():
    """PyTorch: integer results never require grad (the graph is cut there)."""
    x = tg.tensor([1.5, 2.5], requires_grad=True)
    for i in (x.to(tg.int64), x.long(), x.int(), x.bool()):
        assert not i.requires_grad and i.grad_fn is None


# -- against torch ---------------------------------------------------------------------------------
KINDS = [(F32, 1), (F32, 0), (F64, 1), (F64, 0), (I32, 1), (I64, 1), (I64, 0), (B, 1)]


def test_promotion_matches_torch():
    torch = pytest.importorskip("torch")

    def tt(dtype, ndim):
        return torch.tensor(np.ones((2,) * ndim, dtype=dtype))

    mismatches = []
    for a, b in itertools.product(KINDS, KINDS):
        for name, op in [("add", lambda p, q: p + q), ("mul", lambda p, q: p * q),
                         ("div", lambda p, q: p / q), ("maximum", None)]:
            if a[0] == B and b[0] == B and name == "add":
                continue  # bool + bool: not an arithmetic case
            got = (op(t(*a), t(*b)) if op else tg.maximum(t(*a), t(*b))).dtype
            want = (op(tt(*a), tt(*b)) if op else torch.maximum(tt(*a), tt(*b))).dtype
            if str(want) != f"torch.{got}":
                mismatches.append((name, a, b, got, want))
        for s in (2, 2.5, True):
            got = (t(*a) * s).dtype
            want = (tt(*a) * s).dtype
            if str(want) != f"torch.{got}":
                mismatches.append(("mul scalar", a, s, got, want))
    assert not mismatches, mismatches


@pytest.mark.parametrize("scalar", [np.float64(2.5), np.float32(2.5), np.int64(3), np.int32(3)])
@pytest.mark.parametrize("dtype", [tg.float32, tg.float64])
def test_numpy_scalars_are_weak_like_python_scalars(scalar, dtype):
    """PyTorch treats a NumPy scalar as a Python number: it does not widen a float tensor."""
    t = tg.ones(3, dtype=dtype)
    for out in (t * scalar, scalar * t, t + scalar, t - scalar, t / scalar):
        assert out.dtype == dtype
    assert (tg.ones(3, dtype=tg.int64) * np.float64(2.5)).dtype == tg.get_default_dtype()


@pytest.mark.parametrize("dtype", ["U1", object, np.longdouble, "M8[s]", [("a", "f4")]])
def test_a_dtype_no_tensor_can_have_raises_type_error(dtype):
    arr = np.zeros(2, dtype)
    for make in (tg.from_numpy, tg.tensor, lambda a: tg.tensor([0.0, 1.0], dtype=a.dtype),
                 lambda a: tg.tensor([0.0]).to(a.dtype),
                 lambda a: tg.tensor(tg.zeros(2), dtype=a.dtype)):
        with pytest.raises(TypeError, match="cannot have dtype"):
            make(arr)
