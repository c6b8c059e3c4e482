"""What must not happen, for every op in the spec (MyGrad's uber.py, early tinygrad's test_gc.py).

One backward pass with a random upstream gradient ``v`` (not ones: a sum of ones hides
transposition and ordering bugs), then:

- the gradient of each input is J(x)ᵀ v, with J the central-difference Jacobian of the NumPy
  reference (not of our forward), in the input's shape and dtype;
- neither forward nor backward wrote into an input or into ``v``;
- no gradient shares memory with another gradient, with ``v``, with an input or with the output
  (so ``a.grad += 1`` can never change ``b.grad`` or anything else);
- the graph is freed: arrays that only the graph referenced are gone after backward, although the
  output and the leaves are still alive.
"""

from __future__ import annotations

import itertools
import weakref

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from op_spec import SPECS, case, numerical_jacobians, primary

import tinygrad_nn as tg


def draw_upstream(data, shape):
    return data.draw(hnp.arrays(np.float64, shape, elements=st.floats(-2, 2, width=64)),
                     label="upstream gradient")


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
@settings(max_examples=15)
@given(data=st.data())
def test_backward_with_random_upstream_gradient(spec, data):
    arrays, kw = data.draw(case(spec, for_grad=True))
    xs = [tg.tensor(a, requires_grad=True) for a in arrays]
    out = primary(spec.op(tg, *xs, **kw))
    for x, a in zip(xs, arrays, strict=True):
        np.testing.assert_array_equal(x.data, a, err_msg="forward wrote into its input")
    v_np = draw_upstream(data, out.shape).astype(out.dtype)
    v = tg.tensor(v_np)
    out.backward(v)
    np.testing.assert_array_equal(v.data, v_np, err_msg="backward wrote into the upstream gradient")

    def ref(*a):
        return np.asarray(primary(spec.ref(*a, **kw)))
    jacs = numerical_jacobians(ref, arrays, spec.eps)
    for k, (x, a, jac) in enumerate(zip(xs, arrays, jacs, strict=True)):
        np.testing.assert_array_equal(x.data, a, err_msg=f"backward wrote into input {k}")
        assert x.grad is not None, f"input {k} got no gradient"
        assert x.grad.shape == x.shape and x.grad.dtype == x.dtype
        assert not x.grad.requires_grad and x.grad.grad_fn is None
        want = (jac @ v_np.reshape(-1).astype(np.float64)).reshape(x.shape)
        np.testing.assert_allclose(x.grad.data, want, rtol=1e-6, atol=1e-7,
                                   err_msg=f"gradient of input {k}")

    # no aliasing: every gradient owns its memory
    others = [("upstream", v.data), ("output", out.data)] + [
        (f"input {k}", x.data) for k, x in enumerate(xs)]
    for k, x in enumerate(xs):
        for name, arr in others:
            assert not np.shares_memory(x.grad.data, arr), f"grad of input {k} aliases the {name}"
    for (i, a), (j, b) in itertools.combinations(enumerate(xs), 2):
        assert not np.shares_memory(a.grad.data, b.grad.data), f"grads {i} and {j} alias"
        before = b.grad.data.copy()
        a.grad.data += 1.0
        np.testing.assert_array_equal(b.grad.data, before)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
@settings(max_examples=5)
@given(data=st.data())
def test_graph_is_freed_after_backward(spec, data):
    """Intermediate arrays die with the backward pass while the output and leaves live on."""
    arrays, kw = data.draw(case(spec, for_grad=True))
    leaves = [tg.tensor(a, requires_grad=True) for a in arrays]
    mids = [x * 1.0 for x in leaves]  # non-leaf inputs: only the graph keeps them afterwards
    refs = [weakref.ref(m.data) for m in mids]
    out = primary(spec.op(tg, *mids, **kw))
    # out is a mid (x.to(x.dtype) returns x) or a view of one: it keeps that array alive
    viewed = [out is m or out.data.base is m.data for m in mids]
    del mids
    assert all(r() is not None for r in refs), "the graph must hold its inputs before backward"
    v = tg.tensor(draw_upstream(data, out.shape).astype(out.dtype))
    out.backward(v)  # no gc.collect(): reference counting alone must free the graph's buffers
    for k, (r, is_view) in enumerate(zip(refs, viewed, strict=True)):
        if not is_view:
            assert r() is None, f"input {k}'s array survived backward: the graph was not freed"
    assert all(x.grad is not None for x in leaves)
