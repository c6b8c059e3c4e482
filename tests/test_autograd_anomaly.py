"""``detect_anomaly``: a backward that returns NaN is named, with the traceback of its forward."""

from __future__ import annotations

import inspect
import os

import numpy as np
import pytest

import tinygrad_nn as tg
from tinygrad_nn.autograd import Function, detect_anomaly, is_anomaly_enabled, set_detect_anomaly


def leaf(values, dtype=np.float64):
    return tg.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


class NanGrad(Function):
    """Fine forward (x * y), NaN in the gradient of its second input."""

    @staticmethod
    def forward(ctx, x, y):
        return x * y

    @staticmethod
    def backward(ctx, g):
        return g, g * np.nan


def test_nan_from_sqrt_backward_at_zero_is_reported_with_its_forward():
    """sqrt(0) is fine, but its backward is 0 / (2 sqrt 0) = nan when the upstream is 0."""
    x = leaf([0.0, 4.0])
    with detect_anomaly(), np.errstate(divide="ignore", invalid="ignore"):
        line = inspect.currentframe().f_lineno + 1
        y = x.sqrt()
        loss = (y * tg.tensor([0.0, 1.0], dtype=tg.float64)).sum()
        with pytest.raises(RuntimeError) as info:
            loss.backward()
    msg = str(info.value)
    assert "Function 'SqrtBackward0' returned nan values in its 0th output." in msg
    assert f'"{__file__}", line {line}' in msg or (
        os.path.basename(__file__) in msg and f"line {line}" in msg), msg
    assert "y = x.sqrt()" in msg  # the source line of the forward call


def test_nan_from_a_custom_function_names_it_and_the_output_index():
    x, y = leaf([1.0]), leaf([2.0])
    with detect_anomaly():
        line = inspect.currentframe().f_lineno + 1
        out = NanGrad.apply(x, y)
        with pytest.raises(RuntimeError) as info:
            out.sum().backward()
    msg = str(info.value)
    assert "Function 'NanGradBackward' returned nan values in its 1th output." in msg
    assert f"line {line}" in msg and os.path.basename(__file__) in msg, msg


def test_without_detect_anomaly_nan_just_propagates():
    x, y = leaf([1.0]), leaf([2.0])
    NanGrad.apply(x, y).sum().backward()
    assert np.isnan(y.grad.data).all() and x.grad.item() == 1.0
    x = leaf([0.0])
    with np.errstate(divide="ignore", invalid="ignore"):
        (x.sqrt() * 0.0).sum().backward()
    assert np.isnan(x.grad.data).all()


def test_forward_outside_and_backward_inside_still_raises():
    x, y = leaf([1.0]), leaf([2.0])
    out = NanGrad.apply(x, y).sum()
    with detect_anomaly(), pytest.raises(RuntimeError, match="NanGradBackward"):
        out.backward()


def test_infinite_gradients_are_not_anomalies():
    x = leaf([0.0])
    with detect_anomaly(), np.errstate(divide="ignore"):
        x.sqrt().sum().backward()
    assert x.grad.item() == np.inf


def test_mode_switches():
    assert not is_anomaly_enabled()
    with detect_anomaly():
        assert is_anomaly_enabled()
        with detect_anomaly(check_nan=False):
            assert not is_anomaly_enabled()
        assert is_anomaly_enabled()
    assert not is_anomaly_enabled()

    @detect_anomaly()
    def inside():
        return is_anomaly_enabled()
    assert inside() and not is_anomaly_enabled()

    set_detect_anomaly(True)
    try:
        assert is_anomaly_enabled()
    finally:
        set_detect_anomaly(False)
    assert not is_anomaly_enabled()
    with set_detect_anomaly(True):
        assert is_anomaly_enabled()
    assert not is_anomaly_enabled()
