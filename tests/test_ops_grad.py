"""Gradients of every op in the spec: first order (gradcheck) and second order (gradgradcheck).

Float64 inputs, values moved off kinks and ties by the spec (``separate``), and tolerances much
tighter than PyTorch's defaults (atol 1e-5, rtol 1e-3, which let a 0.1% error through): a central
difference with eps = 1e-6 on these bounded values is accurate to ~1e-9 (truncation eps^2 f'''/6,
rounding 1e-16 |f| / eps), so atol = 1e-7, rtol = 1e-6 leaves margin and still rejects a gradient
that is 0.01% off. gradcheck differentiates each output entry separately (one-hot upstream
gradients), so the full Jacobian is checked, and gradgradcheck draws random upstream gradients.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from op_spec import SPECS, case, primary

import tinygrad_nn as tg
from tinygrad_nn.autograd import gradcheck, gradgradcheck

ATOL, RTOL = 1e-7, 1e-6


def as_function(spec, kw):
    """The op as a function of its tensor arguments only (the differentiable output)."""
    return lambda *xs: primary(spec.op(tg, *xs, **kw))


def test_every_api_op_is_in_the_spec():
    """The differentiable ops of API.md, each covered by at least one spec entry."""
    from op_spec import BY_NAME

    api = ("add sub mul div pow neg radd rsub rmul rtruediv rpow abs exp log sqrt sigmoid relu "
           "tanh "
           "clamp maximum minimum where matmul sum mean var std max min max_dim min_dim amax amin "
           "logsumexp softmax log_softmax reshape view flatten squeeze unsqueeze transpose permute "
           "expand getitem_basic getitem_int_array getitem_bool cat stack T mT to").split()
    assert set(api) <= set(BY_NAME), sorted(set(api) - set(BY_NAME))


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
@settings(max_examples=20)
@given(data=st.data())
def test_gradcheck(spec, data):
    arrays, kw = data.draw(case(spec, for_grad=True))
    xs = [tg.tensor(a, requires_grad=True) for a in arrays]
    assert gradcheck(as_function(spec, kw), xs, eps=spec.eps, atol=ATOL, rtol=RTOL)
    for x, a in zip(xs, arrays, strict=True):  # gradcheck restores what it perturbs
        np.testing.assert_array_equal(x.data, a)


@pytest.mark.parametrize("spec", [s for s in SPECS if s.second_order], ids=lambda s: s.name)
@settings(max_examples=10)
@given(data=st.data())
def test_gradgradcheck(spec, data):
    arrays, kw = data.draw(case(spec, for_grad=True))
    xs = [tg.tensor(a, requires_grad=True) for a in arrays]
    fn = as_function(spec, kw)
    with tg.no_grad():
        out = fn(*xs)
    v = data.draw(st.builds(np.asarray, st.lists(st.floats(-2, 2, width=64), min_size=out.numel(),
                                                 max_size=out.numel())))
    v = tg.tensor(v.reshape(out.shape), dtype=out.dtype, requires_grad=True)
    with warnings.catch_warnings():
        # a float32 output (a cast) gets a float32 upstream gradient; its finite differences
        # are exact here (eps = 2**-10 on float32-representable values), so the warning is moot
        warnings.filterwarnings("ignore", "Input #", UserWarning)
        assert gradgradcheck(fn, xs, (v,), eps=spec.eps, atol=ATOL, rtol=RTOL)
