"""A declarative spec of every differentiable op, from which the op tests are generated.

Like MyGrad's ``backprop_test_factory`` and HIPS/autograd's ``combo_check``: one ``OpSpec`` per op
names

- ``op(lib, *tensors, **kwargs)``: the op written with PyTorch's names, so the same callable runs
  on ``tinygrad_nn`` and on ``torch`` (``lib`` is the module: ``lib.cat``, ``lib.where``, ...);
- ``ref(*arrays, **kwargs)``: a NumPy reference computed independently of our implementation;
- ``cases``: a hypothesis strategy of ``(shapes, kwargs)``: one shape per tensor argument (so the
  arity), and the kwargs (``dim`` as int / negative / tuple / None, ``keepdim``, ``correction``...);
- ``elements``: the value domain of each argument (log: positive, div: denominators away from 0,
  pow: positive base, ...);
- ``separate``: for the gradient tests only, moves values away from kinks and ties (relu at 0,
  max between equal entries, clamp at its bounds), where the derivative is not defined and finite
  differences mean nothing. Those points have their own tests (test_ops_rules.py);
- ``second_order``: whether ``gradgradcheck`` applies.

Values are float64 and bounded (|x| <= 10); the tests cast them for the float32 runs.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

# -- value domains -------------------------------------------------------------------------------
REAL = st.floats(-10, 10, allow_nan=False, width=64)
POSITIVE = st.floats(0.1, 10, width=64)  # log, sqrt: positive and away from 0
BASE = st.floats(0.5, 4, width=64)  # pow: positive base
EXPONENT = st.floats(-3, 3, width=64)
NONZERO = st.floats(0.5, 10, width=64) | st.floats(-10, -0.5, width=64)  # denominators


def unary_shapes(min_dims=0, max_dims=3, max_side=4):
    """One shape (0-d and size-1 dims included), as a 1-tuple."""
    return hnp.array_shapes(min_dims=min_dims, max_dims=max_dims, min_side=1,
                            max_side=max_side).map(lambda s: (s,))


def broadcast_shapes(n=2, max_dims=3, max_side=3):
    """``n`` mutually broadcastable shapes (0-d and size-1 dims included)."""
    return hnp.mutually_broadcastable_shapes(num_shapes=n, min_dims=0, max_dims=max_dims,
                                             max_side=max_side).map(lambda b: b.input_shapes)


def broadcastable_to(shape):
    """A shape that broadcasts to ``shape`` (fewer leading dims, some dims set to 1)."""
    return st.tuples(st.integers(0, len(shape)), st.lists(
        st.booleans(), min_size=len(shape), max_size=len(shape))).map(
        lambda t: tuple(1 if one else n for n, one in zip(shape, t[1], strict=True))[t[0]:])


def bounds_shapes():
    """x's shape and two shapes that broadcast to it (PyTorch's clamp keeps x's shape)."""
    return hnp.array_shapes(min_dims=0, max_dims=3, max_side=3).flatmap(
        lambda s: st.tuples(st.just(s), broadcastable_to(s), broadcastable_to(s)))


def with_kwargs(shapes, kwargs: Callable[[tuple], st.SearchStrategy] | None = None):
    """``(shapes, kwargs)`` cases: ``kwargs(shapes)`` is a strategy of dicts that fit the shapes."""
    if kwargs is None:
        return shapes.map(lambda s: (s, {}))
    return shapes.flatmap(lambda s: kwargs(s).map(lambda kw: (s, kw)))


# -- kwargs strategies ----------------------------------------------------------------------------
def one_dim(ndim: int, extra: int = 0):
    """A single dim, positive or negative, for a tensor of ``ndim`` dims (+``extra`` new ones)."""
    n = max(ndim + extra, 1)
    return st.integers(-n, n - 1)


def dims(ndim: int, allow_none: bool = True):
    """``dim`` as PyTorch's reductions take it: None, an int (maybe negative), or a tuple."""
    options = [one_dim(ndim)]
    if ndim > 0:
        signed = st.lists(st.integers(0, ndim - 1), min_size=1, max_size=ndim, unique=True)
        options.append(signed.flatmap(
            lambda ds: st.tuples(*[st.sampled_from([d, d - ndim]) for d in ds])))
    if allow_none:
        options.append(st.none())
    return st.one_of(*options)


def reduce_kwargs(shapes, allow_none=True):
    (shape,) = shapes
    return st.fixed_dictionaries({"dim": dims(len(shape), allow_none), "keepdim": st.booleans()})


def count(shape, dim) -> int:
    """Number of elements a reduction over ``dim`` combines."""
    if dim is None or len(shape) == 0:
        return math.prod(shape)
    ds = dim if isinstance(dim, tuple) else (dim,)
    return math.prod(shape[d] for d in ds)


def var_kwargs(min_count: int):
    """dim/keepdim plus PyTorch's ``correction`` or ``unbiased`` (or neither: correction 1)."""
    def kwargs(shapes):
        (shape,) = shapes
        corr = st.one_of(st.just({}), st.fixed_dictionaries({"correction": st.integers(0, 2)}),
                         st.fixed_dictionaries({"unbiased": st.booleans()}))
        base = st.fixed_dictionaries({"dim": dims(len(shape)), "keepdim": st.booleans()})

        def ok(kw):
            c = kw.get("correction", int(kw.get("unbiased", True)))
            return count(shape, kw["dim"]) - c >= 1 and count(shape, kw["dim"]) >= min_count
        return st.tuples(base, corr).map(lambda t: {**t[0], **t[1]}).filter(ok)
    return kwargs


def correction(kw) -> int:
    return kw.get("correction", int(kw.get("unbiased", True)))


def nax(x, dim):
    """PyTorch ``dim`` -> NumPy ``axis`` (a 0-d tensor takes dim 0 / -1: NumPy wants None)."""
    return None if x.ndim == 0 else dim


# -- indices ------------------------------------------------------------------------------------
def _positive_steps(index):
    """PyTorch has no negative slice steps: flip them (the slice stays a valid basic index)."""
    def fix(i):
        return slice(i.start, i.stop, abs(i.step)) if isinstance(i, slice) and i.step else i
    return tuple(fix(i) for i in index) if isinstance(index, tuple) else fix(index)


def basic_index(shapes):
    (shape,) = shapes
    return hnp.basic_indices(shape, allow_newaxis=True, allow_ellipsis=True).map(
        lambda i: {"index": _positive_steps(i)})


def int_array_index(shapes):
    """Integer arrays (repeats and negative entries included), one per leading dim."""
    (shape,) = shapes
    return hnp.integer_array_indices(
        shape, result_shape=hnp.array_shapes(min_dims=1, max_dims=2, max_side=4)).map(
        lambda i: {"index": i})


def mixed_index(shapes):
    """An integer array on dim 0 and a slice on dim 1."""
    (shape,) = shapes
    n = shape[0]
    arr = hnp.arrays(np.int64, hnp.array_shapes(min_dims=1, max_dims=2, max_side=4),
                     elements=st.integers(-n, n - 1))
    return st.tuples(arr, st.integers(0, shape[1]), st.integers(0, shape[1])).map(
        lambda t: {"index": (t[0], slice(t[1], t[2]))})


def bool_index(shapes):
    """A boolean mask over the first k dims (k >= 1)."""
    (shape,) = shapes
    return st.integers(1, len(shape)).flatmap(
        lambda k: hnp.arrays(np.bool_, shape[:k]).map(lambda m: {"index": m}))


def to_lib(lib, index):
    """Index arrays -> index tensors of ``lib`` (ints/slices/None/Ellipsis pass through)."""
    if isinstance(index, tuple):
        return tuple(to_lib(lib, i) for i in index)
    if isinstance(index, np.ndarray):
        return lib.tensor(index)
    return index


# -- movement kwargs ----------------------------------------------------------------------------
def reshape_kwargs(shapes):
    (shape,) = shapes
    n = math.prod(shape)
    cands = {(n,), (-1,), shape[::-1], (1, n), (n, 1), (*shape, 1), (1, *shape)}
    if len(shape) >= 2:
        cands.add((-1, shape[-1]))
        cands.add((shape[0], -1))
    return st.sampled_from(sorted(cands, key=str)).map(lambda s: {"shape": s})


def flatten_kwargs(shapes):
    (shape,) = shapes
    nd = max(len(shape), 1)

    def ok(kw):
        return kw["start_dim"] % nd <= kw["end_dim"] % nd
    return st.fixed_dictionaries({"start_dim": one_dim(len(shape)),
                                  "end_dim": one_dim(len(shape))}).filter(ok)


def squeeze_kwargs(shapes):
    (shape,) = shapes
    return st.fixed_dictionaries({"dim": dims(len(shape))})


def permute_kwargs(shapes):
    (shape,) = shapes
    nd = len(shape)
    return st.permutations(range(nd)).flatmap(
        lambda p: st.tuples(*[st.sampled_from([d, d - nd]) for d in p])).map(
        lambda p: {"dims": p})


def expand_kwargs(shapes):
    (shape,) = shapes
    per_dim = [st.sampled_from([1, 2, 3, -1]) if n == 1 else st.sampled_from([n, -1])
               for n in shape]
    lead = st.lists(st.integers(1, 3), max_size=2)
    return st.tuples(lead, st.tuples(*per_dim)).map(lambda t: {"size": (*t[0], *t[1])})


def expanded(shape, size):
    lead = len(size) - len(shape)
    return tuple(shape[i - lead] if s == -1 else s for i, s in enumerate(size))


@st.composite
def cat_cases(draw, stack=False):
    """Shapes of 1-3 tensors that agree except along ``dim`` (for stack: equal shapes)."""
    base = draw(hnp.array_shapes(min_dims=0 if stack else 1, max_dims=3, max_side=3))
    n = draw(st.integers(1, 3))
    if stack:
        return (base,) * n, {"dim": draw(one_dim(len(base), extra=1))}
    dim = draw(one_dim(len(base)))
    shapes = []
    for _ in range(n):
        s = list(base)
        s[dim] = draw(st.integers(1, 3))
        shapes.append(tuple(s))
    return tuple(shapes), {"dim": dim}


# -- separating values from kinks and ties (gradient tests only) -------------------------------
def away_from(points_of: Callable[[dict], list], which=(0,), gap=0.05):
    """Move the entries of the arguments ``which`` that are within ``gap`` of a kink point."""
    def sep(arrays, kw):
        arrays = list(arrays)
        for i in which:
            x = arrays[i]
            for p in points_of(kw):
                if p is not None:
                    x = np.where(np.abs(x - p) < gap, np.where(x >= p, p + gap, p - gap), x)
            arrays[i] = x
        return arrays
    return sep


def distinct(arrays, kw):
    """Make all entries distinct (gaps >= 0.01) keeping their order: no ties for max/min."""
    x = arrays[0]
    rank = np.argsort(np.argsort(x.reshape(-1), kind="stable"), kind="stable")
    return [x + 0.01 * rank.reshape(x.shape)] + list(arrays[1:])


def on_grid(offsets):
    """Round argument i to the 0.1 grid plus ``offsets[i]``: no two arguments are ever equal."""
    def sep(arrays, kw):
        return [np.round(a, 1) + o for a, o in zip(arrays, offsets, strict=True)]
    return sep


def float32_exact(arrays, kw):
    """Multiples of 2**-12 (|x| <= 10): float32 represents them and their neighbours x ± eps
    (eps = 2**-10) exactly, so a float32 cast is differentiated exactly. (Values merely
    representable are not enough: x just below 2 is, but x + eps crosses into the next binade
    and rounds, and the finite difference is off by 2**-14.)"""
    return [np.round(a * 2.0**12) / 2.0**12 for a in arrays]


# -- NumPy references --------------------------------------------------------------------------
def np_logsumexp(x, dim, keepdim=False):
    dim = nax(x, dim)
    m = np.max(x, axis=dim, keepdims=True)
    out = np.log(np.sum(np.exp(x - m), axis=dim, keepdims=True)) + m
    return out if keepdim else np.squeeze(out, axis=dim)


def np_softmax(x, dim):
    dim = nax(x, dim)
    e = np.exp(x - np.max(x, axis=dim, keepdims=True))
    return e / np.sum(e, axis=dim, keepdims=True)


def np_log_softmax(x, dim):
    return x - np_logsumexp(x, dim, keepdim=True)


def np_flatten(x, start_dim=0, end_dim=-1):
    if x.ndim == 0:
        return x.reshape(1)
    s, e = start_dim % x.ndim, end_dim % x.ndim
    return x.reshape(x.shape[:s] + (math.prod(x.shape[s:e + 1]),) + x.shape[e + 1:])


def np_squeeze(x, dim=None):
    if dim is None or x.ndim == 0:
        return np.squeeze(x) if dim is None else x
    ds = dim if isinstance(dim, tuple) else (dim,)
    return np.squeeze(x, axis=tuple(d for d in ds if x.shape[d] == 1))


def np_transpose(x, dim0, dim1):
    return np.swapaxes(x, dim0, dim1) if x.ndim else x


def np_clamp(x, min=None, max=None):
    return np.clip(x, min, max)


def np_max_dim(x, dim, keepdim, fn=np.max, arg=np.argmax):
    if x.ndim == 0:
        return x, np.asarray(0, dtype=np.int64)
    return fn(x, axis=dim, keepdims=keepdim), arg(x, axis=dim, keepdims=keepdim).astype(np.int64)


def np_var(x, dim=None, keepdim=False, **kw):
    return np.var(x, axis=nax(x, dim), ddof=correction(kw), keepdims=keepdim)


def np_std(x, dim=None, keepdim=False, **kw):
    return np.std(x, axis=nax(x, dim), ddof=correction(kw), keepdims=keepdim)


# -- the spec -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class OpSpec:
    name: str
    op: Callable  # op(lib, *tensors, **kwargs)
    ref: Callable  # ref(*arrays, **kwargs) -> array or tuple of arrays
    cases: st.SearchStrategy  # (shapes, kwargs)
    elements: tuple = (REAL,)  # value domain per argument (the last one repeats)
    separate: Callable | None = None  # (arrays, kwargs) -> arrays away from kinks/ties
    second_order: bool = True
    eps: float = 1e-6  # finite-difference step
    out_dtype: Callable | None = None  # (input dtype, kwargs) -> result dtype; default: input's
    torch: bool = True  # the same ``op`` also runs on torch (test_ops_torch.py)
    notes: str = field(default="", compare=False)

    def element(self, i: int) -> st.SearchStrategy:
        return self.elements[min(i, len(self.elements) - 1)]


SMALL = st.floats(-5, 5, width=64)


def scalar_case(elements=SMALL):
    """A unary shape plus a Python number ``s`` (an int or a float) for ``x op s`` / ``s op x``."""
    num = st.one_of(st.integers(-4, 4), elements)
    return with_kwargs(unary_shapes(), lambda s: num.map(lambda v: {"s": v}))


def _where_kwargs(shapes):
    sx, sy = shapes
    out = np.broadcast_shapes(sx, sy)
    cshape = st.lists(st.booleans(), min_size=len(out), max_size=len(out)).flatmap(
        lambda keep: st.integers(0, len(out)).map(
            lambda drop: tuple(n if k else 1 for n, k in zip(out, keep, strict=True))[drop:]))
    return cshape.flatmap(lambda c: hnp.arrays(np.bool_, c)).map(lambda c: {"cond": c})


def _clamp_kwargs(shapes):
    lo = st.one_of(st.none(), st.floats(-5, 0, width=64), st.integers(-5, 0))
    hi = st.one_of(st.none(), st.floats(0.5, 5, width=64), st.integers(1, 5))
    return st.fixed_dictionaries({"min": lo, "max": hi}).filter(
        lambda kw: kw["min"] is not None or kw["max"] is not None)


def _matmul_shapes():
    return hnp.mutually_broadcastable_shapes(
        signature="(m?,n),(n,p?)->(m?,p?)", max_dims=2, max_side=3).map(lambda b: b.input_shapes)


U = unary_shapes()
B = broadcast_shapes()

SPECS: list[OpSpec] = [
    # arithmetic, with broadcasting
    OpSpec("add", lambda lib, x, y: x + y, np.add, with_kwargs(B)),
    OpSpec("sub", lambda lib, x, y: x - y, np.subtract, with_kwargs(B)),
    OpSpec("mul", lambda lib, x, y: x * y, np.multiply, with_kwargs(B)),
    OpSpec("div", lambda lib, x, y: x / y, np.divide, with_kwargs(B), (REAL, NONZERO)),
    # PyTorch's d/dx x^y is where(y == 0, 0, y x^(y-1)): flat in y at y = 0 (so is ours)
    OpSpec("pow", lambda lib, x, y: x ** y, np.power, with_kwargs(B), (BASE, EXPONENT),
           separate=away_from(lambda kw: [0], which=(1,))),
    OpSpec("neg", lambda lib, x: -x, np.negative, with_kwargs(U)),
    # with a Python number (int or float) on either side: the reflected forms
    OpSpec("add_scalar", lambda lib, x, s: x + s, lambda x, s: x + s, scalar_case()),
    OpSpec("radd", lambda lib, x, s: s + x, lambda x, s: s + x, scalar_case()),
    OpSpec("sub_scalar", lambda lib, x, s: x - s, lambda x, s: x - s, scalar_case()),
    OpSpec("rsub", lambda lib, x, s: s - x, lambda x, s: s - x, scalar_case()),
    OpSpec("mul_scalar", lambda lib, x, s: x * s, lambda x, s: x * s, scalar_case()),
    OpSpec("rmul", lambda lib, x, s: s * x, lambda x, s: s * x, scalar_case()),
    OpSpec("div_scalar", lambda lib, x, s: x / s, lambda x, s: x / s,
           scalar_case(NONZERO).filter(lambda c: c[1]["s"] != 0)),
    OpSpec("rtruediv", lambda lib, x, s: s / x, lambda x, s: s / x, scalar_case(), (NONZERO,)),
    OpSpec("pow_scalar", lambda lib, x, s: x ** s, lambda x, s: x ** s,
           with_kwargs(U, lambda _: st.sampled_from([0, 1, 2, 3, 0.5, -1.5, 2.5, -1]).map(
               lambda v: {"s": v})), (BASE,)),
    OpSpec("pow_int", lambda lib, x, s: x ** s, lambda x, s: x ** float(s),
           with_kwargs(U, lambda _: st.sampled_from([-2, -1, 0, 1, 2, 3]).map(
               lambda v: {"s": v})), (NONZERO,)),
    OpSpec("rpow", lambda lib, x, s: s ** x, lambda x, s: s ** x,
           with_kwargs(U, lambda _: st.one_of(BASE, st.sampled_from([2, 3])).map(
               lambda v: {"s": v})), (EXPONENT,)),
    # NumPy arrays on the left: ndarray (op) Tensor defers to the Tensor's reflected operator
    OpSpec("radd_ndarray", lambda lib, x, a: a + x, lambda x, a: a + x,
           with_kwargs(U, lambda s: hnp.arrays(np.float64, s[0], elements=REAL).map(
               lambda a: {"a": a})), torch=False,
           out_dtype=lambda dt, kw: np.dtype(np.float64)),
    OpSpec("rsub_ndarray", lambda lib, x, a: a - x, lambda x, a: a - x,
           with_kwargs(U, lambda s: hnp.arrays(np.float64, s[0], elements=REAL).map(
               lambda a: {"a": a})), torch=False,
           out_dtype=lambda dt, kw: np.dtype(np.float64)),
    OpSpec("rmatmul_ndarray", lambda lib, x, a: a.astype(x.dtype) @ x, lambda x, a: a @ x,
           with_kwargs(unary_shapes(min_dims=2, max_dims=2),
                       lambda s: hnp.arrays(np.float64, (2, s[0][0]), elements=REAL).map(
                           lambda a: {"a": a})), torch=False),
    # unary math
    OpSpec("abs", lambda lib, x: x.abs(), np.abs, with_kwargs(U),
           separate=away_from(lambda kw: [0])),
    OpSpec("exp", lambda lib, x: x.exp(), np.exp, with_kwargs(U)),
    OpSpec("log", lambda lib, x: x.log(), np.log, with_kwargs(U), (POSITIVE,)),
    OpSpec("sqrt", lambda lib, x: x.sqrt(), np.sqrt, with_kwargs(U), (POSITIVE,)),
    OpSpec("sigmoid", lambda lib, x: x.sigmoid(), lambda x: 1 / (1 + np.exp(-x)), with_kwargs(U)),
    OpSpec("relu", lambda lib, x: x.relu(), lambda x: np.maximum(x, 0), with_kwargs(U),
           separate=away_from(lambda kw: [0])),
    OpSpec("tanh", lambda lib, x: x.tanh(), np.tanh, with_kwargs(U)),
    OpSpec("clamp", lambda lib, x, **kw: x.clamp(**kw), np_clamp, with_kwargs(U, _clamp_kwargs),
           separate=away_from(lambda kw: [kw["min"], kw["max"]])),
    OpSpec("clamp_tensor", lambda lib, x, lo, hi: x.clamp(lo, hi),
           lambda x, lo, hi: np.minimum(np.maximum(x, lo), hi), with_kwargs(bounds_shapes()),
           separate=on_grid([0.0, 0.03, 0.07])),
    OpSpec("maximum", lambda lib, x, y: lib.maximum(x, y), np.maximum, with_kwargs(B),
           separate=on_grid([0.0, 0.05])),
    OpSpec("minimum", lambda lib, x, y: lib.minimum(x, y), np.minimum, with_kwargs(B),
           separate=on_grid([0.0, 0.05])),
    OpSpec("where", lambda lib, x, y, cond: lib.where(lib.tensor(cond), x, y),
           lambda x, y, cond: np.where(cond, x, y), with_kwargs(B, _where_kwargs)),
    OpSpec("to", lambda lib, x, dtype: x.to(getattr(lib, dtype)),
           lambda x, dtype: x.astype(dtype),
           with_kwargs(U, lambda _: st.sampled_from(["float32", "float64"]).map(
               lambda d: {"dtype": d})),
           separate=float32_exact, eps=2.0**-10, out_dtype=lambda dt, kw: np.dtype(kw["dtype"])),
    # matmul: 1-D, 2-D and batched with broadcasting
    OpSpec("matmul", lambda lib, x, y: x @ y, np.matmul, with_kwargs(_matmul_shapes())),
    OpSpec("matmul_fn", lambda lib, x, y: lib.matmul(x, y), np.matmul,
           with_kwargs(_matmul_shapes())),
    # reductions
    OpSpec("sum", lambda lib, x, **kw: x.sum(**kw),
           lambda x, dim, keepdim: np.sum(x, axis=nax(x, dim), keepdims=keepdim),
           with_kwargs(U, reduce_kwargs)),
    OpSpec("mean", lambda lib, x, **kw: x.mean(**kw),
           lambda x, dim, keepdim: np.mean(x, axis=nax(x, dim), keepdims=keepdim),
           with_kwargs(U, reduce_kwargs)),
    OpSpec("var", lambda lib, x, **kw: x.var(**kw), np_var, with_kwargs(U, var_kwargs(1))),
    OpSpec("std", lambda lib, x, **kw: x.std(**kw), np_std, with_kwargs(U, var_kwargs(2)),
           separate=distinct),
    OpSpec("max", lambda lib, x: x.max(), np.max, with_kwargs(U), separate=distinct),
    OpSpec("min", lambda lib, x: x.min(), np.min, with_kwargs(U), separate=distinct),
    OpSpec("max_dim", lambda lib, x, dim, keepdim: x.max(dim, keepdim), np_max_dim,
           with_kwargs(U, lambda s: st.fixed_dictionaries(
               {"dim": one_dim(len(s[0])), "keepdim": st.booleans()})), separate=distinct),
    OpSpec("min_dim", lambda lib, x, dim, keepdim: x.min(dim=dim, keepdim=keepdim),
           lambda x, dim, keepdim: np_max_dim(x, dim, keepdim, np.min, np.argmin),
           with_kwargs(U, lambda s: st.fixed_dictionaries(
               {"dim": one_dim(len(s[0])), "keepdim": st.booleans()})), separate=distinct),
    OpSpec("amax", lambda lib, x, **kw: x.amax(**kw),
           lambda x, dim, keepdim: np.amax(x, axis=nax(x, dim), keepdims=keepdim),
           with_kwargs(U, lambda s: reduce_kwargs(s, allow_none=False)), separate=distinct),
    OpSpec("amin", lambda lib, x, **kw: x.amin(**kw),
           lambda x, dim, keepdim: np.amin(x, axis=nax(x, dim), keepdims=keepdim),
           with_kwargs(U, lambda s: reduce_kwargs(s, allow_none=False)), separate=distinct),
    OpSpec("logsumexp", lambda lib, x, **kw: x.logsumexp(**kw), np_logsumexp,
           with_kwargs(U, lambda s: reduce_kwargs(s, allow_none=False))),
    OpSpec("softmax", lambda lib, x, dim: x.softmax(dim), np_softmax,
           with_kwargs(U, lambda s: one_dim(len(s[0])).map(lambda d: {"dim": d}))),
    OpSpec("log_softmax", lambda lib, x, dim: x.log_softmax(dim=dim), np_log_softmax,
           with_kwargs(U, lambda s: one_dim(len(s[0])).map(lambda d: {"dim": d}))),
    # movement
    OpSpec("reshape", lambda lib, x, shape: x.reshape(shape), lambda x, shape: x.reshape(shape),
           with_kwargs(U, reshape_kwargs)),
    OpSpec("view", lambda lib, x, shape: x.view(shape), lambda x, shape: x.reshape(shape),
           with_kwargs(U, reshape_kwargs)),
    OpSpec("flatten", lambda lib, x, **kw: x.flatten(**kw), np_flatten,
           with_kwargs(U, flatten_kwargs)),
    OpSpec("squeeze", lambda lib, x, dim: x.squeeze() if dim is None else x.squeeze(dim),
           np_squeeze, with_kwargs(unary_shapes(max_side=2), squeeze_kwargs)),
    OpSpec("unsqueeze", lambda lib, x, dim: x.unsqueeze(dim), lambda x, dim: np.expand_dims(x, dim),
           with_kwargs(U, lambda s: one_dim(len(s[0]), extra=1).map(lambda d: {"dim": d}))),
    OpSpec("transpose", lambda lib, x, dim0, dim1: x.transpose(dim0, dim1), np_transpose,
           with_kwargs(U, lambda s: st.fixed_dictionaries(
               {"dim0": one_dim(len(s[0])), "dim1": one_dim(len(s[0]))}))),
    OpSpec("permute", lambda lib, x, dims: x.permute(dims), lambda x, dims: np.transpose(x, dims),
           with_kwargs(U, permute_kwargs)),
    OpSpec("expand", lambda lib, x, size: x.expand(size),
           lambda x, size: np.broadcast_to(x, expanded(x.shape, size)),
           with_kwargs(unary_shapes(max_side=2), expand_kwargs)),
    OpSpec("T", lambda lib, x: x.T, lambda x: x.T, with_kwargs(unary_shapes(max_dims=2))),
    OpSpec("mT", lambda lib, x: x.mT, lambda x: np.swapaxes(x, -1, -2),
           with_kwargs(unary_shapes(min_dims=2))),
    OpSpec("getitem_basic", lambda lib, x, index: x[index], lambda x, index: x[index],
           with_kwargs(U, basic_index)),
    OpSpec("getitem_int_array", lambda lib, x, index: x[to_lib(lib, index)],
           lambda x, index: x[index], with_kwargs(unary_shapes(min_dims=1), int_array_index)),
    OpSpec("getitem_mixed", lambda lib, x, index: x[to_lib(lib, index)],
           lambda x, index: x[index], with_kwargs(unary_shapes(min_dims=2), mixed_index)),
    OpSpec("getitem_bool", lambda lib, x, index: x[to_lib(lib, index)],
           lambda x, index: x[index], with_kwargs(unary_shapes(min_dims=1), bool_index)),
    OpSpec("cat", lambda lib, *xs, dim: lib.cat(xs, dim),
           lambda *xs, dim: np.concatenate(xs, dim), cat_cases()),
    OpSpec("stack", lambda lib, *xs, dim: lib.stack(xs, dim=dim),
           lambda *xs, dim: np.stack(xs, dim), cat_cases(stack=True)),
]

BY_NAME = {s.name: s for s in SPECS}
assert len(BY_NAME) == len(SPECS), "duplicate op names in the spec"


# -- drawing a case and running it --------------------------------------------------------------
@st.composite
def case(draw, spec: OpSpec, for_grad: bool):
    """``(arrays, kwargs)`` for ``spec``: float64 arrays, moved off kinks when ``for_grad``."""
    shapes, kwargs = draw(spec.cases)
    arrays = [draw(hnp.arrays(np.float64, s, elements=spec.element(i)))
              for i, s in enumerate(shapes)]
    if for_grad and spec.separate is not None:
        arrays = [np.asarray(a, dtype=np.float64) for a in spec.separate(arrays, kwargs)]
    return arrays, kwargs


def primary(out):
    """The differentiable output (``values`` of a ``(values, indices)`` pair)."""
    return out[0] if isinstance(out, tuple) else out


def numerical_jacobians(f, arrays, eps=1e-6):
    """Central-difference Jacobians of ``f`` (NumPy, float64): one (x.size, out.size) per input.

    Each column is the derivative of one output entry, so its error scales with that entry alone
    (a sum with a random vector would mix large and small entries into one rounding error).
    """
    arrays = [np.array(a, dtype=np.float64) for a in arrays]
    jacs = []
    for a in arrays:
        flat = a.reshape(-1)  # a view: perturb in place
        cols = []
        for k in range(flat.size):
            orig = flat[k]
            flat[k] = orig + eps
            plus = np.array(f(*arrays), dtype=np.float64).reshape(-1)  # a copy: f may return
            flat[k] = orig - eps                                         # a view of its input
            minus = np.array(f(*arrays), dtype=np.float64).reshape(-1)
            flat[k] = orig
            cols.append((plus - minus) / (2 * eps))
        n_out = np.asarray(f(*arrays)).size
        jacs.append(np.stack(cols) if cols else np.zeros((0, n_out)))
    return jacs
