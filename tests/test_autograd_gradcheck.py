"""Testing the checker: gradcheck must accept right gradients and reject wrong ones
(HIPS/autograd's test_tests.py), and say precisely where they differ."""

from __future__ import annotations

import re
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tinygrad_nn as tg
from tinygrad_nn.autograd import Function, GradcheckError, gradcheck, gradgradcheck

TIGHT = {"atol": 1e-8, "rtol": 1e-6}


def leaf(values, dtype=np.float64):
    return tg.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


def scaled_exp(error: float):
    """exp with a backward that is off by the relative ``error`` (0: correct)."""
    class ScaledExp(Function):
        @staticmethod
        def forward(ctx, x):
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, g):
            (y,) = ctx.saved_tensors
            return g * y * (1.0 + error)
    return ScaledExp


def test_accepts_correct_gradients():
    x, w = leaf([[0.5, -1.0, 2.0]]), leaf([[1.0], [0.5], [-0.3]])
    assert gradcheck(lambda a, b: (a @ b).tanh(), (x, w), **TIGHT)
    assert gradcheck(scaled_exp(0.0).apply, (x,), **TIGHT)
    assert gradcheck(lambda a: a.softmax(1), (x,))


@settings(max_examples=25)
@given(error=st.floats(1e-5, 0.5) | st.floats(-0.5, -1e-5),
       values=st.lists(st.floats(-2, 2), min_size=1, max_size=4))
def test_rejects_a_gradient_that_is_slightly_off(error, values):
    """With tight tolerances even 0.001% off is caught: the central difference is good to ~1e-9."""
    x = leaf(values)
    assert gradcheck(scaled_exp(0.0).apply, (x,), **TIGHT)
    assert not gradcheck(scaled_exp(error).apply, (x,), raise_exception=False, **TIGHT)


def test_default_tolerances_are_pytorchs():
    """PyTorch's defaults (atol 1e-5, rtol 1e-3) reject 1% but let 0.05% through."""
    x = leaf([0.5, 1.0])
    assert not gradcheck(scaled_exp(0.01).apply, (x,), raise_exception=False)
    assert gradcheck(scaled_exp(0.0005).apply, (x,))


def _reported(message: str, word: str) -> float:
    m = re.search(word + r" (-?\d[\d.]*(?:[eE][-+]?\d+)?) ", message)  # (a plain number)
    assert m, f"no {word} value in the message: {message}"
    return float(m.group(1))


def test_error_names_input_output_worst_entry_and_both_values():
    wrong_at = (1, 2)

    class Bad(Function):
        """out0 = a * b, out1 = a + b; d out0 / d b is wrong at one entry."""

        @staticmethod
        def forward(ctx, a, b):
            ctx.save_for_backward(a, b)
            return a * b

        @staticmethod
        def backward(ctx, g):
            a, b = ctx.saved_tensors
            gb = g * a
            off = np.zeros(a.shape)
            off[wrong_at] = 0.25
            return g * b, gb + g * tg.tensor(off)

    a = leaf(np.arange(6.0).reshape(2, 3) / 4)
    b = leaf(np.ones((2, 3)))
    with pytest.raises(GradcheckError) as info:
        gradcheck(lambda p, q: (p + q, Bad.apply(p, q)), (a, b), **TIGHT)
    assert isinstance(info.value, RuntimeError)
    msg = str(info.value)
    assert re.search(r"output 1\b", msg) and re.search(r"input 1\b", msg), msg
    assert "(1, 2)" in msg, msg
    true = a.data[wrong_at]  # d (a*b)[1, 2] / d b[1, 2]
    assert abs(_reported(msg, "analytical") - (true + 0.25)) < 1e-9
    assert abs(_reported(msg, "numerical") - true) < 1e-6
    assert not gradcheck(lambda p, q: (p + q, Bad.apply(p, q)), (a, b), raise_exception=False)


def test_inputs_are_restored_and_non_differentiable_inputs_ignored():
    x = leaf([0.1, 0.2])
    c = tg.tensor([1.0, 2.0], dtype=tg.float64)
    assert gradcheck(lambda a, k, s: a * k * s, (x, c, 3.0), **TIGHT)
    np.testing.assert_array_equal(x.data, [0.1, 0.2])
    with pytest.raises(ValueError, match="at least one input tensor to require gradient"):
        gradcheck(lambda k: k * 2.0, (c,))


def test_warns_for_float32_inputs():
    x = leaf([0.5, 1.0], dtype=np.float32)
    with pytest.warns(UserWarning, match="not a double precision"):
        gradcheck(lambda a: a * 2.0, (x,), eps=1e-3, atol=1e-2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gradcheck(lambda a: a * 2.0, (leaf([0.5, 1.0]),))  # float64: no warning


def test_gradgradcheck_accepts_correct_second_derivatives():
    x = leaf([0.3, -0.8, 1.5])
    assert gradgradcheck(lambda a: (a * a.sigmoid()).tanh(), (x,), **TIGHT)
    assert gradgradcheck(lambda a: a.log_softmax(0), (x,), **TIGHT)


def test_gradgradcheck_catches_a_wrong_double_backward():
    class DetachedSquare(Function):
        """Right first derivative, but backward hides its dependence on x from create_graph."""

        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 2.0 * x.detach()

    x = leaf([0.5, -1.0])
    assert gradcheck(DetachedSquare.apply, (x,), **TIGHT)
    with pytest.raises(GradcheckError):
        gradgradcheck(DetachedSquare.apply, (x,), **TIGHT)

