"""Edges of PyTorch's op semantics that NumPy answers differently: indexing with ints beside index
arrays (and ints only), weak Python scalars in ``where`` and ``clamp``, empty ``dim`` tuples,
NaN in maximum/minimum/max(), reductions over an empty dim, and broadcast errors. Each case is
checked against torch (values, float64 gradients, error types and messages) where torch is
installed, and against the rule itself where it is not."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_nn as tg

try:
    import torch
except ImportError:  # the rule-based tests still run
    torch = None

needs_torch = pytest.mark.skipif(torch is None, reason="torch is the oracle here")
NAN = float("nan")

# -- indexing: (index builder, given the library and a converter for index arrays) -------------
I2 = [0, 2]
MASK5 = [True, False, True, False, True]
INDEX_CASES = {
    "int, slice, list": lambda T: (1, slice(None), T(I2)),
    "0-d tensor, slice, list": lambda T: (T(1), slice(None), T(I2)),
    "None, int, slice, list": lambda T: (None, 1, slice(None), T(I2)),
    "slice, int, list": lambda T: (slice(None), 1, T(I2)),
    "list, int": lambda T: (T(I2), 1),
    "list, slice, int": lambda T: (T(I2), slice(None), 1),
    "int, list, slice": lambda T: (1, T(I2), slice(None)),
    "list, int, list": lambda T: (T(I2), 1, T(I2)),
    "int, ..., list": lambda T: (1, Ellipsis, T(I2)),
    "int, slice, mask": lambda T: (1, slice(None), T(MASK5)),
    "..., int, list": lambda T: (Ellipsis, 1, T(I2)),
    "int, None, list, int": lambda T: (1, None, T(I2), 2),
    "ints only": lambda T: (0, 1, 2),
    "one int": lambda T: (1,),
    "empty list": lambda T: ([],),
}


@needs_torch
@pytest.mark.parametrize("name", list(INDEX_CASES))
def test_indexing_like_torch_values_and_grads(name):
    """Ints index as in basic indexing before any index array (PyTorch), not as NumPy's
    advanced indices, which would move the indexed dims to the front."""
    x = np.arange(60.0).reshape(3, 4, 5)
    make = INDEX_CASES[name]
    a = tg.tensor(x, requires_grad=True)
    b = torch.tensor(x, requires_grad=True)
    ra = a[make(lambda v: v if v == [] else tg.tensor(v))]
    rb = b[make(lambda v: v if v == [] else torch.tensor(v))]
    assert ra.shape == tuple(rb.shape)
    np.testing.assert_array_equal(ra.detach().numpy(), rb.detach().numpy())
    w = np.random.default_rng(0).standard_normal(ra.shape)
    (ra * tg.tensor(w)).sum().backward()
    (rb * torch.tensor(w)).sum().backward()
    np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())


def test_int_beside_index_array_keeps_the_dims_in_place():
    x = tg.arange(18.0).reshape(2, 3, 3)
    # x[0, :, [0, 1, 2]] is x[0][:, [0, 1, 2]]: x[0] itself (NumPy would give its transpose)
    np.testing.assert_array_equal(x[0, :, [0, 1, 2]].numpy(), x.numpy()[0])
    assert x[1, :, [0, 2]].shape == (3, 2)


def test_an_index_of_ints_is_a_view():
    a = tg.tensor([1.0, 2.0])
    a[0].add_(10)
    assert a.tolist() == [11.0, 2.0]
    m = tg.zeros(2, 3)
    v0 = m._version
    m[1, 2].fill_(5)
    m[tg.tensor(0), 1].fill_(7)
    assert m.tolist() == [[0.0, 7.0, 0.0], [0.0, 0.0, 5.0]]
    assert m._version == v0 + 2
    assert a[1].item() == 2.0 and a[1].shape == ()


def test_in_place_on_an_element_is_seen_by_the_graph():
    # the saved tensor changed through an element: backward must raise, not use the new value
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    w = tg.tensor([3.0, 4.0])
    y = (x * w).sum()
    w[0].add_(100)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()
    # an element of a graph tensor changed in place: never a silently wrong gradient
    b = tg.tensor([1.0, 2.0], requires_grad=True) * 1
    with pytest.raises(RuntimeError):
        b[0].mul_(3)
        b.sum().backward()


def test_negative_slice_step_raises_as_torch():
    with pytest.raises(ValueError, match="step must be greater than zero"):
        tg.arange(4.0)[::-1]
    with pytest.raises(ValueError, match="step must be greater than zero"):
        tg.zeros(3, 3)[:, ::-2]


def test_empty_list_index_selects_nothing():
    assert tg.zeros(3, 4)[[]].shape == (0, 4)


# -- weak Python scalars -------------------------------------------------------------------------
WHERE_CASES = [
    (lambda L, c: L.where(c, L.tensor([1, 2]), 2.5), [1.0, 2.5], "float32"),
    (lambda L, c: L.where(c, 2.5, L.tensor([1, 2])), [2.5, 2.0], "float32"),
    (lambda L, c: L.tensor([1, 2]).where(c, 0.5), [1.0, 0.5], "float32"),
    (lambda L, c: L.where(c, L.tensor([True, True]), 5), [1, 5], "int64"),
    (lambda L, c: L.where(c, L.tensor([1.0, 2.0], dtype=L.float64), 3), [1.0, 3.0], "float64"),
]


@pytest.mark.parametrize("case", range(len(WHERE_CASES)))
def test_where_promotes_python_scalars_weakly(case):
    f, values, dtype = WHERE_CASES[case]
    out = f(tg, tg.tensor([True, False]))
    assert out.tolist() == values and out.dtype == np.dtype(dtype)
    if torch is not None:
        ref = f(torch, torch.tensor([True, False]))
        assert ref.tolist() == values and str(ref.dtype) == f"torch.{dtype}"


def test_free_functions_type_python_scalars_weakly():
    """The shared promotion of free functions' arguments (``_tensor_args``), behind ``where``,
    ``maximum``, ``minimum`` and tensor-bound ``clamp``: a number never truncates."""
    out = tg.maximum(tg.tensor([1, 3]), 2.5)
    assert out.tolist() == [2.5, 3.0] and out.dtype == np.float32
    out = tg.minimum(1.5, tg.tensor([1, 3]))
    assert out.tolist() == [1.0, 1.5] and out.dtype == np.float32
    assert tg.maximum(tg.tensor([1, 3]), 2).dtype == np.int64
    x = tg.tensor([1.0, 3.0], dtype=tg.float64)
    assert tg.maximum(x, 2).dtype == np.float64 and tg.maximum(x, 2).tolist() == [2.0, 3.0]


def test_clamp_with_float_bounds_promotes_an_integer_tensor():
    out = tg.tensor([1, 5]).clamp(2.5)
    assert out.dtype == np.float32 and out.tolist() == [2.5, 5.0]
    out = tg.tensor([1, 5]).clamp(min=tg.tensor(0.5), max=3.7)
    np.testing.assert_allclose(out.numpy(), [1.0, 3.7], rtol=1e-7)
    assert out.dtype == np.float32
    assert tg.tensor([1, 5]).clamp(2).dtype == np.int64  # an int bound keeps the dtype
    assert tg.tensor([1.0, 5.0], dtype=tg.float64).clamp(2.5).dtype == np.float64
    if torch is not None:
        assert torch.tensor([1, 5]).clamp(2.5).dtype == torch.float32
        ref = torch.tensor([1, 5]).clamp(min=torch.tensor(0.5), max=3.7)
        np.testing.assert_array_equal(out.numpy(), ref.numpy())


# -- reductions ---------------------------------------------------------------------------------
@pytest.mark.parametrize("op", ["sum", "mean", "var", "std", "amax", "amin", "logsumexp"])
@pytest.mark.parametrize("dim", [(), []])
def test_empty_dim_reduces_every_dim(op, dim):
    x = np.array([[1.0, 2.0], [3.0, 4.0]])
    out = getattr(tg.tensor(x), op)(dim)
    full = getattr(tg.tensor(x), op)(None) if op != "logsumexp" else tg.tensor(x).logsumexp((0, 1))
    assert out.shape == () and out.item() == pytest.approx(full.item(), rel=1e-12)
    if op in ("sum", "mean", "logsumexp"):
        assert getattr(tg.tensor(x), op)(dim, keepdim=True).shape == (1, 1)
    if torch is not None:
        if op == "logsumexp":  # (torch's own logsumexp(()) raises unless keepdim=True)
            ref = torch.tensor(x).logsumexp(dim, keepdim=True)
        else:
            ref = getattr(torch.tensor(x), op)(dim)
        assert out.item() == pytest.approx(ref.item(), rel=1e-12)


def test_squeeze_of_an_empty_dim_tuple_squeezes_nothing():
    assert tg.zeros(1, 2, 1).squeeze(()).shape == (1, 2, 1)


@pytest.mark.parametrize("op", ["softmax", "log_softmax", "logsumexp"])
def test_reductions_over_an_empty_dim(op):
    x = tg.zeros(0, 3, requires_grad=True)
    out = getattr(x, op)(0)
    expected = (3,) if op == "logsumexp" else (0, 3)
    assert out.shape == expected
    if op == "logsumexp":
        assert out.tolist() == [-np.inf] * 3  # log Σ over nothing = log 0
        if torch is not None:
            assert torch.zeros(0, 3).logsumexp(0).tolist() == [-np.inf] * 3
    out.sum().backward()
    assert x.grad.shape == (0, 3)
    # the non-empty dim of an empty tensor reduces to an empty result
    assert getattr(tg.zeros(0, 3), op)(1).shape == ((0,) if op == "logsumexp" else (0, 3))


# -- NaN -----------------------------------------------------------------------------------------
NAN_CASES = {
    "maximum": (lambda L, a, b: L.maximum(a, b), [NAN, 1.0, 2.0, 3.0], [1.0, NAN, 2.0, 1.0]),
    "minimum": (lambda L, a, b: L.minimum(a, b), [NAN, 1.0, 2.0, 3.0], [1.0, NAN, 2.0, 1.0]),
    "max()": (lambda L, a: a.max(), [1.0, NAN, 3.0, NAN]),
    "min()": (lambda L, a: a.min(), [1.0, NAN, 3.0]),
    "amax": (lambda L, a: a.amax(), [1.0, NAN, 3.0]),
    "amax(1)": (lambda L, a: a.amax(1), [[1.0, NAN, 3.0], [1.0, 2.0, 2.0]]),
    "abs": (lambda L, a: a.abs(), [NAN, -2.0, 0.0, 3.0]),
    "relu": (lambda L, a: a.relu(), [NAN, -1.0, 0.0, 2.0]),
    "nn.ReLU": (lambda L, a: L.nn.ReLU()(a), [NAN, -1.0, 0.0, 2.0]),
    "sign·x": (lambda L, a: a * a.detach().sign(), [NAN, -2.0, 0.0, 3.0]),
}

EXPECTED_NAN_GRADS = {  # PyTorch's rules, written out
    "maximum": [[1.0, 1.0, 0.5, 1.0], [1.0, 1.0, 0.5, 0.0]],  # a NaN on either side: both get g
    "minimum": [[1.0, 1.0, 0.5, 0.0], [1.0, 1.0, 0.5, 1.0]],
    "max()": [[0.0, 0.5, 0.0, 0.5]],  # max() of all: the NaNs share the gradient
    "min()": [[0.0, 1.0, 0.0]],
    "amax": [[NAN, NAN, NAN]],  # amax: NaN
    "amax(1)": [[[NAN, NAN, NAN], [0.0, 0.5, 0.5]]],
    "abs": [[0.0, -1.0, 0.0, 1.0]],  # g·sign(x), sign(NaN) = 0
    "relu": [[1.0, 0.0, 0.0, 1.0]],  # zeroed only where relu(x) <= 0: NaN passes g on
    "nn.ReLU": [[1.0, 0.0, 0.0, 1.0]],
    "sign·x": [[0.0, -1.0, 0.0, 1.0]],
}


@pytest.mark.filterwarnings("ignore:invalid value encountered")
@pytest.mark.parametrize("name", list(NAN_CASES))
def test_gradients_at_nan_as_torch(name):
    f, *values = NAN_CASES[name]
    ts = [tg.tensor(v, dtype=tg.float64, requires_grad=True) for v in values]
    out = f(tg, *ts)
    out.sum().backward()
    for t, expected in zip(ts, EXPECTED_NAN_GRADS[name], strict=True):
        np.testing.assert_array_equal(t.grad.numpy(), expected)
    if torch is not None:
        rs = [torch.tensor(v, dtype=torch.float64, requires_grad=True) for v in values]
        ref = f(torch, *rs)
        ref.sum().backward()
        np.testing.assert_array_equal(out.detach().numpy(), ref.detach().numpy())
        for t, r in zip(ts, rs, strict=True):
            np.testing.assert_array_equal(t.grad.numpy(), r.grad.numpy())


# -- broadcast errors ----------------------------------------------------------------------------
BROADCAST_CASES = {
    "add (3)+(4)": lambda L: L.zeros(3) + L.zeros(4),
    "mul (2,3)*(4)": lambda L: L.zeros(2, 3) * L.zeros(4),
    "sub (2,3)-(3,2)": lambda L: L.zeros(2, 3) - L.zeros(3, 2),
    "add (2,3)+(2,3,4)": lambda L: L.zeros(2, 3) + L.zeros(2, 3, 4),
    "maximum": lambda L: L.maximum(L.zeros(3, requires_grad=True), L.zeros(4)),
    "where": lambda L: L.where(L.zeros(3, dtype=L.bool), L.zeros(3), L.zeros(4)),
    "batched matmul": lambda L: L.zeros(5, 2, 3) @ L.zeros(4, 3, 4),
}


@pytest.mark.parametrize("name", list(BROADCAST_CASES))
def test_broadcast_errors_are_torchs_runtime_error(name):
    with pytest.raises(RuntimeError, match="must match the size of tensor b") as got:
        BROADCAST_CASES[name](tg)
    if torch is not None:
        with pytest.raises(RuntimeError) as ref:
            BROADCAST_CASES[name](torch)
        assert str(got.value) == str(ref.value)


# -- bad input that NumPy would take: PyTorch's errors -----------------------------------------
BAD_INPUT_CASES = {
    "bool - int": (lambda L: L.tensor([True]) - 1, RuntimeError, "Subtraction"),
    "float - bool tensor": (lambda L: L.tensor([1.0]) - L.tensor([True]), RuntimeError,
                            "Subtraction"),
    "float - True": (lambda L: L.tensor([1.0]) - True, RuntimeError, "Subtraction"),
    "1 - bool": (lambda L: 1 - L.tensor([True]), RuntimeError, "Subtraction"),
    "-bool": (lambda L: -L.tensor([True]), RuntimeError, "Negation"),
    "arange(5, 0)": (lambda L: L.arange(5, 0), RuntimeError, "inconsistent with step sign"),
    "arange(0, 5, -1)": (lambda L: L.arange(0, 5, -1), RuntimeError, "inconsistent"),
    "arange step 0": (lambda L: L.arange(0, 5, 0), RuntimeError, "step must be nonzero"),
    "rand int64": (lambda L: L.rand(2, dtype=L.int64), NotImplementedError, "not implemented"),
    "randn int64": (lambda L: L.randn(2, dtype=L.int64), NotImplementedError, "not implemented"),
    "rand_like int": (lambda L: L.rand_like(L.tensor([1, 2])), NotImplementedError,
                      "not implemented"),
    "view of a transpose": (lambda L: L.arange(6.0).reshape(2, 3).t().view(-1), RuntimeError,
                            "view size is not compatible"),
    "view_as of a transpose": (lambda L: L.zeros(2, 3).t().view_as(L.zeros(6)), RuntimeError,
                               "view size is not compatible"),
    "max() of nothing": (lambda L: L.zeros(0).max(), RuntimeError, "Expected reduction dim"),
    "amax() of nothing": (lambda L: L.zeros(0, 2).amax(), RuntimeError, "Expected reduction dim"),
    "min(0) over an empty dim": (lambda L: L.zeros(0, 3).min(0), IndexError,
                                 "Expected reduction dim 0 to have non-zero size"),
    "int ** -1": (lambda L: L.tensor([2]) ** -1, RuntimeError, "negative integer powers"),
    "zeros(-1)": (lambda L: L.zeros(-1), RuntimeError, "negative dimension|non-negative"),
    "randn(2, -1)": (lambda L: L.randn(2, -1), RuntimeError, "negative dimension"),
    "expand -1 in a new dim": (lambda L: L.zeros(3, 1).expand(-1, 3, 4), RuntimeError,
                               "isn't allowed in a leading, non-existing dimension 0"),
    "in place on an expanded view": (lambda L: L.zeros(3, 1).expand(3, 4).add_(1), RuntimeError,
                                     "more than one element of the written-to tensor"),
    "float() of 2 elements": (lambda L: float(L.zeros(2)), ValueError, "only one element"),
    "int() of 2 elements": (lambda L: int(L.zeros(2)), ValueError, "only one element"),
    "tensor(None)": (lambda L: L.tensor(None), RuntimeError, "Could not infer dtype of NoneType"),
    "tensor([1, None])": (lambda L: L.tensor([1.0, None]), RuntimeError,
                          "Could not infer dtype of NoneType"),
    "mm of a 3-D tensor": (lambda L: L.zeros(2, 2, 2).mm(L.zeros(2, 2)), RuntimeError,
                           "self must be a matrix"),
    "mm by a 1-D tensor": (lambda L: L.zeros(2, 2).mm(L.zeros(2)), RuntimeError,
                           "mat2 must be a matrix"),
    "cat([])": (lambda L: L.cat([]), ValueError, "expected a non-empty list of Tensors"),
    "softmax of int64": (lambda L: L.tensor([1, 2]).softmax(0), NotImplementedError,
                         "not implemented for 'Long'"),
    "log_softmax of bool": (lambda L: L.nn.functional.log_softmax(L.tensor([True]), 0),
                            NotImplementedError, "not implemented for 'Bool'"),
    "softmax of a 0-d int32": (lambda L: L.tensor(3, dtype=L.int32).softmax(0),
                               NotImplementedError, "not implemented for 'Int'"),
    "tensor(2**63)": (lambda L: L.tensor(2**63), ValueError, "Overflow when unpacking long"),
    "tensor([1, -2**63 - 1])": (lambda L: L.tensor([1, -(2**63) - 1]), ValueError,
                                "Overflow when unpacking long"),
    "tensor([[1], [2**64]])": (lambda L: L.tensor([[1], [2**64]]), ValueError,
                               "Overflow when unpacking long"),
    "0-d flatten(1)": (lambda L: L.tensor(3.0).flatten(1), IndexError, "Dimension out of range"),
    "0-d flatten(0, 2)": (lambda L: L.tensor(3.0).flatten(0, 2), IndexError,
                          "Dimension out of range"),
    "0-d transpose(0, 1)": (lambda L: L.tensor(3.0).transpose(0, 1), IndexError,
                            "Dimension out of range"),
    "int add float alpha": (lambda L: L.tensor([1, 2]).add(L.tensor([1, 2]), alpha=0.5),
                            RuntimeError, "alpha must not be a floating point number"),
    "int sub float alpha": (lambda L: L.tensor([1, 2]).sub(1, alpha=2.0), RuntimeError,
                            "alpha must not be a floating point number"),
    "narrow past the end": (lambda L: L.arange(10.0).narrow(0, 8, 5), RuntimeError,
                            r"start \(8\) \+ length \(5\) exceeds dimension size \(10\)"),
    "narrow start > size": (lambda L: L.arange(10.0).narrow(0, 11, 0), IndexError,
                            "start out of range"),
    "narrow start < -size": (lambda L: L.arange(10.0).narrow(0, -11, 1), IndexError,
                             "start out of range"),
    "narrow length < 0": (lambda L: L.arange(10.0).narrow(0, 2, -1), RuntimeError,
                          "length must be non-negative"),
    "split sizes short": (lambda L: L.arange(10.0).split([3, 4]), RuntimeError,
                          "split_sizes to sum exactly to 10"),
    "split sizes long": (lambda L: L.arange(10.0).split([3, 9]), RuntimeError,
                         "split_sizes to sum exactly to 10"),
    "split sizes negative": (lambda L: L.arange(10.0).split([-1, 11]), RuntimeError,
                             "only non-negative entries"),
    "split(0)": (lambda L: L.arange(10.0).split(0), RuntimeError,
                 "split_size can only be 0 if dimension size is 0"),
    "split(-1)": (lambda L: L.arange(10.0).split(-1), RuntimeError, "non-negative"),
    "chunk(0)": (lambda L: L.arange(10.0).chunk(0), RuntimeError,
                 "chunk expects `chunks` to be greater than 0"),
    "bool add float alpha": (lambda L: L.tensor([True]).add(L.tensor([True]), alpha=0.5),
                             RuntimeError, "alpha must not be a floating point number"),
}


@pytest.mark.parametrize("name", list(BAD_INPUT_CASES))
def test_bad_input_raises_as_torch(name):
    f, err, match = BAD_INPUT_CASES[name]
    with pytest.raises(err, match=match):
        f(tg)
    if torch is not None:
        with pytest.raises(err, match=match):
            f(torch)


def test_what_still_works_beside_those_errors():
    assert tg.zeros(0, 3).amax(1).shape == (0,) and tg.zeros(0, 3).max(1).values.shape == (0,)
    assert tg.zeros(3, 1).expand(2, -1, 4).shape == (2, 3, 4)
    assert float(tg.ones(1, 1)) == 1.0 and int(tg.tensor([7])) == 7
    assert tg.ones(2, 3).mm(tg.ones(3, 1)).tolist() == [[3.0], [3.0]]
    assert tg.zeros(0).shape == (0,)
    assert tg.arange(0, 0).shape == (0,) and tg.arange(5, 0, -2).tolist() == [5, 3, 1]
    assert (tg.tensor([True, False]) + 1).tolist() == [2, 1]
    assert (~tg.tensor([True, False])).tolist() == [False, True]
    x = tg.arange(6.0).reshape(2, 3)
    v = x.view(3, 2)
    v.add_(1)  # a view: the write reaches x
    assert x.tolist() == [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]
    assert x.t().reshape(-1).tolist() == [1.0, 4.0, 2.0, 5.0, 3.0, 6.0]  # reshape may copy
    assert tg.zeros(0, 3).t().view(-1).shape == (0,)
    assert tg.rand(2, dtype=tg.float64).dtype == np.float64
    s = tg.tensor([1, 2]).softmax(0, dtype=tg.float64)  # an integer input with a float dtype
    assert s.dtype == np.float64 and s.tolist() == pytest.approx([0.2689414, 0.7310586])
    assert tg.tensor([1, 2]).logsumexp(0).item() == pytest.approx(np.log(np.e + np.e**2))
    assert tg.tensor(2**63 - 1).item() == 2**63 - 1 and tg.tensor(-(2**63)).item() == -(2**63)
    big = tg.tensor([1.5, 2**64])  # a float among them: floats, as torch
    assert big.dtype == np.float32 and big.tolist() == [1.5, 2.0**64]
    assert tg.tensor(3.0).flatten(0, -1).shape == (1,) and tg.tensor(3.0).t().shape == ()
    assert tg.tensor(3.0).transpose(0, -1).shape == ()
    assert tg.tensor([1, 2]).add(tg.tensor([1.0, 2.0]), alpha=0.5).tolist() == [1.5, 3.0]
    assert tg.tensor([1, 2]).add(1, alpha=3).tolist() == [4, 5]  # an int alpha is fine


def test_assigned_grad_must_have_the_tensors_dtype():
    x = tg.zeros(2, dtype=tg.float64, requires_grad=True)
    with pytest.raises(RuntimeError, match="dtype"):
        x.grad = tg.zeros(2)  # float32
    x.grad = tg.zeros(2, dtype=tg.float64)
    assert x.grad.dtype == np.float64
    if torch is not None:
        tx = torch.zeros(2, dtype=torch.float64, requires_grad=True)
        with pytest.raises(RuntimeError, match="dtype"):
            tx.grad = torch.zeros(2)


# -- relu under create_graph ---------------------------------------------------------------------
def test_second_derivative_through_relus_mask_is_zero_not_missing():
    """d/dx of relu'(x)·g is 0 where x reaches it only through the mask (PyTorch's
    threshold_backward): grad of grad must return zeros, not raise that x is unused."""
    x = tg.tensor([1.0, -2.0, 3.0], dtype=tg.float64, requires_grad=True)
    (g,) = tg.autograd.grad(x.relu().sum(), x, create_graph=True)
    assert g.tolist() == [1.0, 0.0, 1.0]
    (h,) = tg.autograd.grad(g.sum(), x)
    assert h.tolist() == [0.0, 0.0, 0.0]
    # and through a ReLU network (the fused MLP's create_graph path): x.grad exists
    tg.manual_seed(0)
    m = tg.nn.Sequential(tg.nn.Linear(3, 4), tg.nn.ReLU(), tg.nn.Linear(4, 1)).double()
    x = tg.randn(2, 3, dtype=tg.float64, requires_grad=True)
    (g,) = tg.autograd.grad(m(x).sum(), x, create_graph=True)
    (g * g).sum().backward()
    assert x.grad is not None and x.grad.shape == (2, 3)
    np.testing.assert_array_equal(x.grad.numpy(), np.zeros((2, 3)))
    assert m[0].weight.grad is not None


def test_relu_gradgradcheck():
    x = tg.tensor([0.5, -1.25, 2.0, -0.75], dtype=tg.float64, requires_grad=True)
    assert tg.autograd.gradcheck(lambda t: (t.relu() * t * t).sum(), (x,))
    assert tg.autograd.gradgradcheck(lambda t: (t.relu() * t * t).sum(), (x,))
    assert tg.autograd.gradgradcheck(lambda t: t.relu() * 3.0, (x,))


def test_relu_second_derivative_is_exactly_zero_even_for_an_infinite_upstream():
    x = tg.tensor([1.0, -2.0], dtype=tg.float64, requires_grad=True)
    (g,) = tg.autograd.grad(x.relu().sum(), x, create_graph=True)
    v = tg.tensor([np.inf, 1.0], dtype=tg.float64)
    (h,) = tg.autograd.grad(g, x, grad_outputs=v)
    assert h.tolist() == [0.0, 0.0]  # not inf·0 = NaN
    if torch is not None:
        tx = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
        (tg_,) = torch.autograd.grad(tx.relu().sum(), tx, create_graph=True)
        (th,) = torch.autograd.grad(tg_, tx, grad_outputs=torch.tensor([np.inf, 1.0],
                                                                      dtype=torch.float64))
        assert th.tolist() == [0.0, 0.0]


INT_POWERS = {  # bases and exponents of every sign, the exponent a tensor (PyTorch wraps)
    "int64": lambda L: L.tensor([0, 0, 2, -2, 1, -1, -1, 3, 5]) ** L.tensor(
        [-1, -2, -1, -1, -5, -3, -4, 0, 2]),
    "int32": lambda L: L.tensor([0, 2, -1, 7], dtype=L.int32) ** L.tensor(
        [-1, -1, -7, 1], dtype=L.int32),
    "broadcast": lambda L: L.tensor([[2], [-1], [1]]) ** L.tensor([-1, -2, 3]),
    "0-d exponent": lambda L: L.tensor([2, -1, 1]) ** L.tensor(-1),
    "Python base": lambda L: 2 ** L.tensor([-1, 0, 3]),
}
INT_POWERS_EXPECTED = {
    "int64": [0, 0, 0, 0, 1, -1, 1, 1, 25],
    "int32": [0, 0, -1, 7],
    "broadcast": [[0, 0, 8], [-1, 1, -1], [1, 1, 1]],
    "0-d exponent": [0, -1, 1],
    "Python base": [0, 1, 8],
}


@pytest.mark.parametrize("name", list(INT_POWERS))
def test_integer_tensor_to_negative_integer_tensor_powers_wrap_as_torch(name):
    got = INT_POWERS[name](tg)
    assert got.tolist() == INT_POWERS_EXPECTED[name]  # 1 / x^|y|, truncated
    assert got.dtype == (np.int32 if name == "int32" else np.int64)
    if torch is not None:
        assert INT_POWERS[name](torch).tolist() == INT_POWERS_EXPECTED[name]


# -- comparisons promote their operands as arithmetic does -------------------------------------
BIG = 16777217  # 2**24 + 1: not a float32
COMPARE_CASES = {
    "int64 == 0-d float32 tensor": lambda L: L.tensor([BIG, 3]) == L.tensor(16777216.0),
    "int64 == float scalar": lambda L: L.tensor([BIG, 3]) == 16777216.0,
    "int64 < float64 tensor": lambda L: L.tensor([BIG]) < L.tensor([16777216.5], dtype=L.float64),
    "float32 == np.float64 scalar": lambda L: L.tensor([0.1]) == np.float64(0.1),
    "float32 == 0.1": lambda L: L.tensor([0.1]) == 0.1,
    "float32 == float64 tensor": lambda L: L.tensor([0.1]) == L.tensor([0.1], dtype=L.float64),
    "float32 (2,) == 0-d float64": lambda L: L.tensor([0.1, 1]) == L.tensor(0.1, dtype=L.float64),
    "bool == 2": lambda L: L.tensor([True, False]) == 2,
    "bool == True": lambda L: L.tensor([True, False]) == True,  # noqa: E712
    "int32 > np.int64 scalar": lambda L: L.tensor([1, 5], dtype=L.int32) > np.int64(3),
    "int & bool tensor": lambda L: L.tensor([3, 2]) & L.tensor([True, False]),
}


@needs_torch
@pytest.mark.parametrize("name", list(COMPARE_CASES))
def test_comparisons_promote_as_torch(name):
    got, ref = COMPARE_CASES[name](tg), COMPARE_CASES[name](torch)
    assert got.dtype == getattr(np, str(ref.dtype).removeprefix("torch."))
    np.testing.assert_array_equal(got.numpy(), ref.numpy())


def test_comparisons_promote_by_the_rule():
    """Without torch: the comparison happens in the dtype arithmetic would give (float32 here,
    where NumPy would compare in float64 and tell 2**24 + 1 from 2**24)."""
    assert (tg.tensor([BIG]) == tg.tensor(16777216.0)).tolist() == [True]
    assert (tg.tensor([BIG]) == 16777216.0).tolist() == [True]
    assert (tg.tensor([BIG]) == 16777216).tolist() == [False]  # int64 against an int: exact
    assert (tg.tensor([0.1]) == np.float64(0.1)).tolist() == [True]  # a weak NumPy scalar
    assert (tg.tensor([0.1], dtype=tg.float64) == tg.tensor(np.float32(0.1))).tolist() == [False]
    assert (tg.tensor([0.1]) == np.array([0.1])).tolist() == [False]  # an array: as a tensor


@pytest.mark.filterwarnings("ignore:overflow encountered")
def test_div_gradient_of_the_divisor_stays_in_range():
    """∂(x/y)/∂y = −x/y², computed as −(x/y)/y: 1e200/1e200 has the gradient −1e-200 (x/y² would
    overflow y² first and give 0), as torch's."""
    x = tg.tensor([1e200, 3.0], dtype=tg.float64, requires_grad=True)
    y = tg.tensor([1e200, 1e-200], dtype=tg.float64, requires_grad=True)
    (x / y).sum().backward()
    np.testing.assert_array_equal(y.grad.numpy(), [-1e-200, -np.inf])
    np.testing.assert_array_equal(x.grad.numpy(), [1e-200, 1e200])
    xs = tg.tensor([1.5, -2.0], dtype=tg.float64, requires_grad=True)
    ys = tg.tensor([0.7, 3.0], dtype=tg.float64, requires_grad=True)
    assert tg.autograd.gradcheck(lambda a, b: a / b, (xs, ys))  # finite differences
    if torch is not None:
        rx = torch.tensor([1e200, 3.0], dtype=torch.float64, requires_grad=True)
        ry = torch.tensor([1e200, 1e-200], dtype=torch.float64, requires_grad=True)
        (rx / ry).sum().backward()
        np.testing.assert_array_equal(y.grad.numpy(), ry.grad.numpy())


def test_abs_and_relu_gradients_match_finite_differences_away_from_the_kinks():
    x = tg.tensor([1.5, -2.0, 0.3, -0.7], dtype=tg.float64, requires_grad=True)
    assert tg.autograd.gradcheck(lambda a: a.abs(), (x,))
    assert tg.autograd.gradcheck(lambda a: a.relu(), (x,))
    assert tg.autograd.gradgradcheck(lambda a: a.abs() * a, (x,))


# -- to(copy=True), clone, argmax(keepdim) ------------------------------------------------------
def test_to_with_copy_true_copies_even_without_a_cast():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    assert x.to(tg.float32) is x
    for y in (x.to(tg.float32, copy=True), x.to(dtype=tg.float32, copy=True),
              x.to("cpu", copy=True), x.to(tg.float32, False, True)):
        assert y is not x and not np.shares_memory(y.data, x.data)
        assert y.grad_fn is not None and y.tolist() == [1.0, 2.0]
    y = x.to(tg.float32, copy=True)
    (y * 3).sum().backward()
    assert x.grad.tolist() == [3.0, 3.0]
    assert x.to(tg.float32, copy=False) is x and x.to(tg.float32, True) is x  # non_blocking only


def test_clone_keeps_negative_zero_and_names_its_node():
    x = tg.tensor([-0.0, 1.0], requires_grad=True)
    y = x.clone()
    assert np.signbit(y.data[0]) and y.grad_fn.name() == "CloneBackward0"
    assert np.signbit(tg.tensor([-0.0]).clone().data[0])
    (y * tg.tensor([2.0, 3.0])).sum().backward()
    assert x.grad.tolist() == [2.0, 3.0]
    assert tg.autograd.gradgradcheck(lambda a: a.clone() * a, (tg.tensor(
        [0.5, -1.5], dtype=tg.float64, requires_grad=True),))
    if torch is not None:
        assert str(torch.tensor([-0.0], requires_grad=True).clone().grad_fn.name()) == \
            "CloneBackward0"


@pytest.mark.parametrize("op", ["argmax", "argmin"])
def test_argmax_keepdim_without_dim_keeps_every_dim(op):
    v = [[1.0, 5.0, -2.0], [7.0, 2.0, 0.0]]
    got = getattr(tg.tensor(v), op)(keepdim=True)
    assert got.shape == (1, 1) and got.dtype == np.int64
    assert got.item() == (3 if op == "argmax" else 2)
    assert getattr(tg.tensor(v), op)().shape == ()
    if torch is not None:
        ref = getattr(torch.tensor(v), op)(keepdim=True)
        assert tuple(ref.shape) == got.shape and ref.item() == got.item()


@pytest.mark.parametrize("case", [
    ("split", 6), ("split", 4), ("split", 10), ("split", 11), ("split", [2, 0, 8]),
    ("chunk", 6), ("chunk", 3), ("chunk", 10), ("chunk", 11),
])
def test_split_and_chunk_pieces_as_torch(case):
    """split(6) of 10 is 6 + 4 (not 5 + 5), chunk(6) of 10 is five pieces of 2."""
    op, arg = case
    x = tg.arange(10.0, requires_grad=True)
    pieces = getattr(x, op)(arg)
    step = arg if op == "split" else -(-10 // arg)
    want = ([k for k in arg] if isinstance(arg, list)
            else [min(step, 10 - s) for s in range(0, 10, step)])
    assert [p.shape[0] for p in pieces] == want
    assert tg.cat(list(pieces)).tolist() == list(range(10))
    (pieces[-1] * 2.0).sum().backward()
    assert x.grad.tolist() == [0.0] * (10 - want[-1]) + [2.0] * want[-1]
    if torch is not None:
        assert [p.shape[0] for p in getattr(torch.arange(10.0), op)(arg)] == want


def test_split_chunk_and_narrow_of_empty_or_negative_starts_as_torch():
    assert [p.shape for p in tg.zeros(0).chunk(2)] == [(0,), (0,)]
    assert [p.shape for p in tg.zeros(0).split(2)] == [(0,)]
    assert [p.shape for p in tg.zeros(0).split(0)] == [(0,)]
    x = tg.arange(10.0)
    assert x.narrow(0, -2, 2).tolist() == [8.0, 9.0]  # (not the empty slice -2:0)
    assert x.narrow(0, -3, 2).tolist() == [7.0, 8.0] and x.narrow(0, 10, 0).tolist() == []
    assert x.narrow(0, tg.tensor(1), 2).tolist() == [1.0, 2.0]
    assert (3 & tg.tensor([1, 2])).tolist() == [1, 2] and (1 ^ tg.tensor([1, 2])).tolist() == [0, 3]
    assert (True | tg.tensor([False, True])).tolist() == [True, True]
