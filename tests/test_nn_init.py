"""nn.init: PyTorch's formulas for gains, fans, bounds and standard deviations; in-place fills that
bump the version counter; reproducibility under manual_seed and explicit generators."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tinygrad_nn as tg
from tinygrad_nn import nn
from tinygrad_nn.nn import init


def test_calculate_gain():
    for name in ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose2d", "sigmoid"):
        assert init.calculate_gain(name) == 1
    assert init.calculate_gain("tanh") == 5.0 / 3
    assert init.calculate_gain("relu") == math.sqrt(2.0)
    assert init.calculate_gain("selu") == 0.75
    assert init.calculate_gain("leaky_relu") == math.sqrt(2.0 / (1 + 0.01**2))
    assert init.calculate_gain("leaky_relu", 0.2) == math.sqrt(2.0 / 1.04)
    assert init.calculate_gain("leaky_relu", math.sqrt(5)) == math.sqrt(1 / 3)
    assert init.calculate_gain("leaky_relu", 1) == 1.0
    with pytest.raises(ValueError, match="negative_slope True not a valid number"):
        init.calculate_gain("leaky_relu", True)
    with pytest.raises(ValueError, match="Unsupported nonlinearity gelu"):
        init.calculate_gain("gelu")


def test_fans():
    assert init._calculate_fan_in_and_fan_out(tg.empty(30, 784)) == (784, 30)
    assert init._calculate_fan_in_and_fan_out(tg.empty(8, 3, 5, 5)) == (75, 200)
    with pytest.raises(ValueError, match="fewer than 2 dimensions"):
        init._calculate_fan_in_and_fan_out(tg.empty(5))
    with pytest.raises(ValueError, match="Mode fan_avg not supported"):
        init.kaiming_uniform_(tg.empty(3, 4), mode="fan_avg")


def test_fills_are_in_place_and_bump_the_version():
    t = tg.empty(4, 5)
    arr = t.data
    for fn, args in ((init.uniform_, (-1, 1)), (init.normal_, (0, 2)), (init.constant_, (3.5,)),
                     (init.ones_, ()), (init.zeros_, ()), (init.xavier_uniform_, ()),
                     (init.xavier_normal_, ()), (init.kaiming_uniform_, ()),
                     (init.kaiming_normal_, ())):
        v = t._version
        assert fn(t, *args) is t
        assert t.data is arr and t._version == v + 1, fn.__name__
    init.constant_(t, 3.5)
    assert (t.data == 3.5).all() and t.dtype == np.float32
    assert (init.ones_(t).data == 1).all() and not init.zeros_(t).data.any()


def test_init_of_a_parameter_records_no_graph():
    p = nn.Parameter(tg.empty(3, 3))
    init.normal_(p)
    assert p.is_leaf and p.grad_fn is None and p.requires_grad


def stats(fn, shape, **kw):
    t = tg.empty(*shape, dtype=tg.float64)
    fn(t, generator=np.random.default_rng(0), **kw)
    return t.data


def test_uniform_and_normal_statistics():
    a = stats(init.uniform_, (400, 500), a=-2.0, b=3.0)
    assert a.min() >= -2 and a.max() < 3
    assert abs(a.mean() - 0.5) < 0.01 and abs(a.std() - 5 / math.sqrt(12)) < 0.01
    n = stats(init.normal_, (400, 500), mean=1.0, std=0.5)
    assert abs(n.mean() - 1.0) < 0.005 and abs(n.std() - 0.5) < 0.005
    with pytest.raises(RuntimeError, match="std >= 0.0"):
        init.normal_(tg.empty(3), std=-1.0)
    with pytest.raises(RuntimeError, match="from=1 > to=0"):
        init.uniform_(tg.empty(3), 1, 0)


@pytest.mark.parametrize("shape", [(300, 200), (64, 16, 3, 3)])
def test_xavier_and_kaiming_follow_pytorchs_formulas(shape):
    fan_in = shape[1] * math.prod(shape[2:])
    fan_out = shape[0] * math.prod(shape[2:])
    bound = math.sqrt(6.0 / (fan_in + fan_out)) * 2.0  # gain 2
    x = stats(init.xavier_uniform_, shape, gain=2.0)
    assert np.abs(x).max() <= bound and np.abs(x).max() > 0.99 * bound
    x = stats(init.xavier_normal_, shape)
    assert abs(x.std() / math.sqrt(2.0 / (fan_in + fan_out)) - 1) < 0.02
    # kaiming_uniform_ defaults: a=0, fan_in, leaky_relu -> gain sqrt(2), bound sqrt(6 / fan_in)
    k = stats(init.kaiming_uniform_, shape)
    b = math.sqrt(2.0) * math.sqrt(3.0 / fan_in)
    assert np.abs(k).max() <= b and np.abs(k).max() > 0.99 * b
    k = stats(init.kaiming_uniform_, shape, mode="fan_out", nonlinearity="relu")
    b = math.sqrt(6.0 / fan_out)
    assert np.abs(k).max() <= b and np.abs(k).max() > 0.99 * b
    k = stats(init.kaiming_normal_, shape, a=0.3)
    std = math.sqrt(2.0 / (1 + 0.09)) / math.sqrt(fan_in)
    assert abs(k.std() / std - 1) < 0.02 and abs(k.mean()) < 0.02 * std


def test_zero_element_tensors_warn_and_are_left_alone():
    t = tg.empty(0, 3)
    with pytest.warns(UserWarning, match="zero-element"):
        assert init.kaiming_uniform_(t) is t
    with pytest.warns(UserWarning, match="zero-element"):
        init.kaiming_normal_(t)


def test_reproducible_with_manual_seed_and_generators():
    tg.manual_seed(7)
    a = init.normal_(tg.empty(5, 5)).data.copy()
    b = init.kaiming_uniform_(tg.empty(5, 5)).data.copy()
    tg.manual_seed(7)
    np.testing.assert_array_equal(init.normal_(tg.empty(5, 5)).data, a)
    np.testing.assert_array_equal(init.kaiming_uniform_(tg.empty(5, 5)).data, b)
    g1 = init.uniform_(tg.empty(6), generator=np.random.default_rng(3)).data
    g2 = init.uniform_(tg.empty(6), generator=np.random.default_rng(3)).data
    np.testing.assert_array_equal(g1, g2)
    with pytest.raises(TypeError, match="Generator"):
        init.uniform_(tg.empty(3), generator=3)
