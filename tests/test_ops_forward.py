"""Forward values of every op in the spec against its NumPy reference, in float32 and float64.

The reference runs in float64 on the same input values; the result must have the dtype PyTorch
gives (the input's, unless the spec says otherwise) and agree to a few ulps of that dtype, relative
to the result's magnitude. ``(values, indices)`` pairs are compared entry by entry.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from op_spec import SPECS, case

import tinygrad_nn as tg

# agreement with the float64 reference, relative to max(1, |result|): a few ulps of each dtype
TOL = {np.dtype(np.float64): 1e-12, np.dtype(np.float32): 1e-5}


def assert_matches(out, ref, dtype):
    assert isinstance(out, tg.Tensor)
    ref = np.asarray(ref)
    assert out.shape == ref.shape
    assert out.dtype == dtype
    if dtype.kind in "iub":
        np.testing.assert_array_equal(out.data, ref)
        return
    tol = TOL[np.dtype(dtype)]
    scale = max(1.0, float(np.max(np.abs(ref), initial=0.0)))
    np.testing.assert_allclose(out.data.astype(np.float64), ref, rtol=tol, atol=tol * scale)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
@settings(max_examples=20)
@given(data=st.data())
def test_forward_matches_numpy(spec, dtype, data):
    arrays, kw = data.draw(case(spec, for_grad=False))
    xs = [a.astype(dtype) for a in arrays]
    before = [x.copy() for x in xs]
    out = spec.op(tg, *[tg.tensor(x) for x in xs], **kw)
    ref = spec.ref(*[x.astype(np.float64) for x in xs], **kw)
    want = np.dtype(dtype) if spec.out_dtype is None else spec.out_dtype(np.dtype(dtype), kw)
    if isinstance(ref, tuple):  # max(dim) / min(dim): a named (values, indices) pair
        assert isinstance(out, tuple) and out._fields == ("values", "indices")
        assert_matches(out.values, ref[0], want)
        assert_matches(out.indices, ref[1], np.dtype(np.int64))
    else:
        assert_matches(out, ref, want)
    for x, b in zip(xs, before, strict=True):
        np.testing.assert_array_equal(x, b)  # the op does not write into its inputs
