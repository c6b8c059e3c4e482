"""Every op of the spec against PyTorch itself: forward values, result dtypes and gradients for
the same inputs and the same random upstream gradient; and the tie rules at the points where the
derivative is a convention (max/min/amax/maximum/relu/abs/clamp)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from op_spec import SPECS, case, primary

import tinygrad_nn as tg

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.filterwarnings(  # torch deprecates .T on tensors that are not 2-D
    "ignore:Tensor.T is deprecated:UserWarning", "ignore:The use of `x.T`:UserWarning")


def run(lib, spec_op, arrays, kw, v):
    """Forward in ``lib``, backward with upstream ``v``; returns (output, grads) as NumPy."""
    xs = [lib.tensor(a, requires_grad=True) for a in arrays]
    out = spec_op(lib, *xs, **kw)
    values = primary(out)
    values.backward(lib.tensor(v.astype(values.detach().numpy().dtype)))
    as_np = [np.asarray(out[1].detach().numpy())] if isinstance(out, tuple) else []
    return ([values.detach().numpy(), *as_np],
            [None if x.grad is None else x.grad.detach().numpy() for x in xs])


# Ops with no derivative at ties, drawn off them here: std at equal entries is 0 up to rounding
# (~1e-16), and there torch's closed form (x − mean)/((n − 1)·std) and the chain rule through
# the mean (ours: exactly 0 when every x − mean rounds alike) differ by O(1): rounding noise
# over rounding noise, not a convention. (The ties of max/min/... are conventions: checked
# below, at the ties.)
_NO_DERIVATIVE_AT_TIES = {"std"}


@pytest.mark.parametrize("spec", [s for s in SPECS if s.torch], ids=lambda s: s.name)
@settings(max_examples=10)
@given(data=st.data())
def test_matches_torch(spec, data):
    arrays, kw = data.draw(case(spec, for_grad=spec.name in _NO_DERIVATIVE_AT_TIES))
    with tg.no_grad():
        shape = primary(spec.op(tg, *[tg.tensor(a) for a in arrays], **kw)).shape
    v = data.draw(hnp.arrays(np.float64, shape, elements=st.floats(-2, 2, width=64)))
    ours, our_grads = run(tg, spec.op, arrays, kw, v)
    theirs, their_grads = run(torch, spec.op, arrays, kw, v)
    for a, b in zip(ours, theirs, strict=True):
        assert a.shape == b.shape and a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)
    for k, (a, b) in enumerate(zip(our_grads, their_grads, strict=True)):
        assert (a is None) == (b is None), f"input {k}: gradient presence differs"
        if a is not None:
            assert a.shape == b.shape and a.dtype == b.dtype
            np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12, err_msg=f"input {k}")


@pytest.mark.parametrize("spec", [s for s in SPECS if s.torch], ids=lambda s: s.name)
@settings(max_examples=5)
@given(data=st.data())
def test_float32_results_match_torch(spec, data):
    arrays, kw = data.draw(case(spec, for_grad=False))
    xs32 = [a.astype(np.float32) for a in arrays]
    ours = primary(spec.op(tg, *[tg.tensor(a) for a in xs32], **kw))
    theirs = primary(spec.op(torch, *[torch.tensor(a) for a in xs32], **kw))
    assert str(theirs.dtype) == f"torch.{ours.dtype}"
    np.testing.assert_allclose(ours.data, theirs.numpy(), rtol=2e-6, atol=2e-6)


TIES = [  # (name, op on (lib, *tensors), inputs with ties / at kinks)
    ("amax", lambda lib, x: x.amax(1), [[[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, -1.0]]]),
    ("amin tuple", lambda lib, x: x.amin((0, 1)), [[[1.0, -1.0], [-1.0, 5.0]]]),
    ("max all", lambda lib, x: x.max(), [[[3.0, 1.0], [3.0, 3.0]]]),
    ("min all", lambda lib, x: x.min(), [[0.0, 0.0, 1.0]]),
    ("max dim", lambda lib, x: x.max(1).values, [[[1.0, 3.0, 3.0], [2.0, 2.0, 0.0]]]),
    ("min dim keepdim", lambda lib, x: x.min(0, keepdim=True).values, [[[1.0, 1.0], [1.0, 0.0]]]),
    ("maximum", lambda lib, x, y: lib.maximum(x, y), [[1.0, 2.0, 3.0], [1.0, 5.0, 3.0]]),
    ("minimum broadcast", lambda lib, x, y: lib.minimum(x, y), [[2.0, 2.0, 7.0], 2.0]),
    ("relu", lambda lib, x: x.relu(), [[-1.0, 0.0, 0.0, 2.0]]),
    ("abs", lambda lib, x: x.abs(), [[-1.0, 0.0, 2.0]]),
    ("clamp", lambda lib, x: x.clamp(-1.0, 1.0), [[-2.0, -1.0, 0.0, 1.0, 2.0]]),
    ("clamp min", lambda lib, x: x.clamp(min=0), [[-1.0, 0.0, 1.0]]),
    ("clamp tensors", lambda lib, x, lo, hi: x.clamp(lo, hi),
     [[0.0, 1.0, 2.0, 3.0], 1.0, [2.0, 2.0, 2.0, 2.0]]),
    ("clamp tensors crossed", lambda lib, x, lo, hi: x.clamp(lo, hi),
     [[0.0, 1.0, 2.0], [3.0, 1.0, 0.0], [1.0, 1.0, 1.0]]),
    ("pow at 0", lambda lib, x, y: x**y, [[0.0, 0.0, 2.0], [0.0, 1.0, 2.0]]),
    ("std of equal values", lambda lib, x: x.std(1), [[[1.0, 1.0], [1.0, 3.0]]]),  # std'(0) = 0
    ("index repeats", lambda lib, x: x[lib.tensor([0, 0, 2, -4])], [[1.0, 2.0, 3.0, 4.0]]),
    ("matmul batched broadcast", lambda lib, a, b: a @ b,
     [np.arange(12.0).reshape(2, 1, 2, 3) / 5, np.arange(9.0).reshape(3, 3, 1) - 2]),
    ("matmul vector-batch", lambda lib, a, b: a @ b,
     [[1.0, -2.0, 0.5], np.arange(18.0).reshape(2, 3, 3) / 7]),
]


@pytest.mark.parametrize("name,op,inputs", TIES, ids=[t[0] for t in TIES])
def test_tie_and_kink_rules_match_torch(name, op, inputs):
    arrays = [np.asarray(a, dtype=np.float64) for a in inputs]
    with tg.no_grad():
        shape = op(tg, *[tg.tensor(a) for a in arrays]).shape
    v = np.arange(1.0, 1.0 + np.prod(shape)).reshape(shape)
    ours, our_grads = run(tg, op, arrays, {}, v)
    theirs, their_grads = run(torch, op, arrays, {}, v)
    np.testing.assert_allclose(ours[0], theirs[0], rtol=1e-14, atol=0)
    for a, b in zip(our_grads, their_grads, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-14, atol=0)
