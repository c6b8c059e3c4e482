"""Elementwise ops: forward and backward of each on a few lines.

Inputs may broadcast; rules return gradients of the broadcast shape and the engine sums them back
to each input's shape. Binary ops take a Tensor or a Python scalar on either side (a scalar input
gets no gradient). ``x, y = self.inputs(g)`` are NumPy arrays normally and Tensors under
``create_graph``; ``xp(g)`` is NumPy or its tracked twin, so one rule serves both.

Conventions at non-differentiable points follow PyTorch: relu'(0) = 0, |x|'(0) = 0, clamp passes
the gradient at the bounds, and maximum/minimum split it in half between equal inputs.
"""

from __future__ import annotations

import numpy as np

from ..engine.constants import consts
from ..engine.node import Op, xp
from ..tensor import Tensor


# -- arithmetic --------------------------------------------------------------------------------
class Add(Op):
    def forward(self, x, y):
        return x + y

    def backward(self, g):
        return g, g


_BOOL_HINT = "If you are trying to invert a mask, use the `~` or `logical_not()` operator instead."


def check_sub(x, y) -> None:
    """PyTorch's error for a subtraction with a bool operand (a bool array or a Python bool):
    ``Tensor._binary`` calls it before promotion would cast a bool tensor away, ``Sub.forward``
    for a Python bool and where NumPy refuses two bool arrays."""
    for v in (x, y):
        dt = getattr(v, "dtype", None)
        if dt == np.bool_ or isinstance(v, (bool, np.bool_)):
            raise RuntimeError("Subtraction, the `-` operator, with a bool tensor is not "
                               f"supported. {_BOOL_HINT}")


class Sub(Op):
    def forward(self, x, y):
        if type(x) is bool or type(y) is bool:  # (NumPy takes Python bools)
            check_sub(x, y)
        try:
            return x - y
        except TypeError:  # NumPy's for two bool arrays
            check_sub(x, y)
            raise

    def backward(self, g):
        return g, (-g if self.needs_input_grad[1] else None)


class Mul(Op):
    saves = (0, 1)
    saved_for = {0: (1,), 1: (0,)}  # dx = g y reads y, dy = g x reads x

    def forward(self, x, y):
        return x * y

    def backward(self, g):
        x, y = self.inputs(g)
        n = self.needs_input_grad
        return (g * y if n[0] else None), (g * x if n[1] else None)


class Div(Op):
    saves = (0, 1)

    def forward(self, x, y):
        return x / y

    def backward(self, g):
        x, y = self.inputs(g)
        n = self.needs_input_grad
        gx = g / y if n[0] else None
        gy = -g * ((x / y) / y) if n[1] else None  # (not x / y², which leaves the range first)
        return gx, gy


class Pow(Op):
    """x ** y; d/dx = y x^(y-1), d/dy = x^y log x (0 where x = 0 and y >= 0, as PyTorch)."""

    saves = (0, 1)

    def forward(self, x, y):
        try:
            return x**y
        except ValueError as e:  # NumPy's for integers to negative integer powers
            if "negative integer powers" not in str(e):
                raise
            if not isinstance(y, np.ndarray):  # a Python exponent: PyTorch's RuntimeError too
                raise RuntimeError(str(e)) from None
            return _int_power(x, y)

    def backward(self, g):
        x, y = self.inputs(g)
        n, np_ = self.needs_input_grad, xp(g)
        gx = gy = None
        if n[0]:
            if np.isscalar(y):
                gx = g * 0.0 if y == 0 else g * y * x ** (y - 1)
            else:  # x^(y-1) is inf at x = 0, y = 0, where the product is masked out anyway
                with np.errstate(divide="ignore", invalid="ignore"):
                    gx = np_.where(y == 0, 0.0, g * y * x ** (y - 1))
        if n[1]:
            if np.isscalar(x):  # s ** y with a Python number s: log s is a constant
                gy = g * 0.0 if x == 0 else g * x**y * np.log(x)
            else:
                zero = (self.arrays[0] == 0) & (np.asarray(self.arrays[1]) >= 0)
                safe = np_.where(zero, 1.0, x)
                gy = np_.where(zero, 0.0, g * x**y * np_.log(safe))
        return gx, gy


def _int_power(x, y: np.ndarray) -> np.ndarray:
    """x ** y of integers with some y < 0, as PyTorch's for a tensor exponent: the true value
    1 / x^|y| truncated to an integer, so 1 for x = 1, ±1 for x = −1 (the sign of (−1)^y), and
    0 otherwise (x = 0 included, where PyTorch too gives 0)."""
    neg = y < 0
    out = np.asarray(x ** np.where(neg, 0, y))  # the non-negative powers (x^0 = 1 where y < 0)
    unit = np.where(x == -1, np.where(y % 2 == 0, 1, -1), np.where(x == 1, 1, 0))
    return np.where(neg, unit, out).astype(out.dtype, copy=False)


class Neg(Op):
    def forward(self, x):
        if x.dtype == np.bool_:
            raise RuntimeError(f"Negation, the `-` operator, on a bool tensor is not supported. "
                               f"{_BOOL_HINT}")
        return -x

    def backward(self, g):
        return (-g,)


# -- unary math ----------------------------------------------------------------------------------
class Exp(Op):
    saves_out = True

    def forward(self, x):
        return np.exp(x)

    def backward(self, g):
        out = self.out if not isinstance(g, Tensor) else self.parents[0].exp()
        return (g * out,)


class Log(Op):
    saves = (0,)

    def forward(self, x):
        return np.log(x)

    def backward(self, g):
        (x,) = self.inputs(g)
        return (g / x,)


class Sqrt(Op):
    saves_out = True

    def forward(self, x):
        return np.sqrt(x)

    def backward(self, g):
        out = self.out if not isinstance(g, Tensor) else self.parents[0].sqrt()
        return (g / (2 * out),)


class StdSqrt(Sqrt):
    """The sqrt that ends ``std``: PyTorch defines std' = 0 where std = 0 (all entries equal)."""

    def backward(self, g):
        out = self.out if not isinstance(g, Tensor) else self.parents[0].sqrt()
        with np.errstate(divide="ignore", invalid="ignore"):
            return (xp(g).where(out == 0, 0.0, g / (2 * out)),)

    def name(self) -> str:
        return "StdBackward0"


class Abs(Op):
    saves = (0,)

    def forward(self, x):
        return np.abs(x)

    def backward(self, g):
        (x,) = self.inputs(g)
        return (g * (x.sign() if isinstance(x, Tensor) else sign(x)),)


def sign(x: np.ndarray) -> np.ndarray:
    """sign(x) in {-1, 0, 1} with sign(NaN) = 0, as PyTorch's (NumPy's is NaN)."""
    s = np.sign(x, out=np.empty_like(x))  # (an array also for 0-d x)
    if s.dtype.kind in "fc":
        np.copyto(s, 0, where=np.isnan(s))
    return s


def sigmoid_into(x: np.ndarray, out: np.ndarray) -> np.ndarray:
    """σ(x) = ½ tanh(x/2) + ½ written into ``out`` (may be x itself): overflow-free for any x.

    This and the three ``*_grad`` rules below are written out again, call for call, in the
    templates of ``ops/mlp.py`` (the fused network's code has no helper calls): change both."""
    half = consts[out.dtype][1]  # (in-place operators, positional out: the cheapest calls)
    np.multiply(x, half, out)
    np.tanh(out, out)
    out *= half
    out += half
    return out


def sigmoid_grad(g: np.ndarray, s: np.ndarray) -> np.ndarray:
    """g ⊙ σ'(x) from s = σ(x): σ' = s (1 − s). A fresh array (a NumPy scalar for 0-d s)."""
    d = consts[s.dtype][2] - s
    d *= s  # (rebinds when 0-d: NumPy gives scalars there)
    d *= g
    return d


def tanh_grad(g: np.ndarray, t: np.ndarray) -> np.ndarray:
    """g ⊙ tanh'(x) from t = tanh(x): tanh' = 1 − t². A fresh array (a scalar for 0-d t)."""
    d = consts[t.dtype][2] - t * t
    d *= g
    return d


def relu_mask(a: np.ndarray) -> np.ndarray:
    """relu'(z) = [not a <= 0] from a = relu(z): 0 at 0, and 1 at NaN (PyTorch's
    threshold_backward zeroes only where a <= 0, so a NaN gradient is not hidden)."""
    m = np.less_equal(a, consts[a.dtype][0])
    return np.logical_not(m, out=m) if m.ndim else ~m  # (a NumPy bool scalar for 0-d a)


def relu_grad(g: np.ndarray, a: np.ndarray) -> np.ndarray:
    """g ⊙ relu'(z) from a = relu(z) (``relu_mask``). A fresh array: writing into g instead
    (``out=g``, with the bool mask cast on the fly) measured slower, with page faults on every
    step of the wide benchmark."""
    return np.multiply(g, relu_mask(a))


class Sigmoid(Op):
    """σ(x) = ½ tanh(x/2) + ½ (``sigmoid_into``); σ' = σ (1 − σ)."""

    saves_out = True

    def forward(self, x):
        return sigmoid_into(x, np.empty_like(x))  # an array even for 0-d x

    def backward(self, g):
        if isinstance(g, Tensor):
            s = self.parents[0].sigmoid()
            return (g * s * (1 - s),)
        return (sigmoid_grad(g, self.out),)


class Tanh(Op):
    saves_out = True

    def forward(self, x):
        return np.tanh(x)

    def backward(self, g):
        if isinstance(g, Tensor):
            t = self.parents[0].tanh()
            return (g * (1 - t * t),)
        return (tanh_grad(g, self.out),)


class Relu(Op):
    saves_out = True

    def forward(self, x):
        return np.maximum(x, 0)

    def backward(self, g):
        if isinstance(g, Tensor):  # create_graph: g ⊙ [x > 0] as a node that also reaches x
            return (ThresholdBackward.apply(g, self.parents[0]),)
        return (relu_grad(g, self.out),)


class ThresholdBackward(Op):
    """relu's backward under create_graph: g ⊙ [x > 0], differentiable in g (the same mask)
    and in x with a zero gradient, as PyTorch's ``threshold_backward``: so a second derivative
    that reaches x only through the mask is 0, not missing."""

    saves = (1,)

    def forward(self, g, x):
        return np.multiply(g, relu_mask(x))

    def backward(self, gg):
        x = self.parents[1]
        n = self.needs_input_grad
        tracked = isinstance(gg, Tensor)
        ggx = None
        if n[0]:
            ggx = ThresholdBackward.apply(gg, x) if tracked else gg * relu_mask(x.data)
        zero = None
        if n[1]:  # exactly 0 (not gg·0, which is NaN where gg is inf or NaN)
            zero = np.zeros_like(x.data)
            zero = Tensor._make(zero, None, False) if tracked else zero
        return ggx, zero


class Clamp(Op):
    """clamp(x, min, max); the gradient passes where min <= x <= max (bounds included)."""

    saves = (0,)

    def forward(self, x, min=None, max=None):
        self.bounds = (min, max)
        return np.clip(x, min, max)

    def backward(self, g):
        x = self.parents[0].data if isinstance(g, Tensor) else self.arrays[0]
        lo, hi = self.bounds
        keep = np.ones(x.shape, dtype=bool)
        if lo is not None:
            keep &= x >= lo
        if hi is not None:
            keep &= x <= hi
        return (g * keep,)


class ClampTensor(Op):
    """clamp(x, min, max) with tensor bounds (either may be None), PyTorch's gradient rule:
    x gets it where min <= x <= max, min where x < min < max, max where x > max or max < min."""

    saves = (0, 1, 2)

    def forward(self, x, lo=None, hi=None):
        out = x if lo is None else np.maximum(x, lo)
        return out if hi is None else np.minimum(out, hi)

    def backward(self, g):
        x, lo, hi = self.arrays  # the masks are constants, also under create_graph
        n = self.needs_input_grad
        keep = (True if lo is None else x >= lo) & (True if hi is None else x <= hi)
        glo = g * ((x < lo) & (True if hi is None else lo < hi)) if n[1] else None
        ghi = g * ((x > hi) | (False if lo is None else hi < lo)) if n[2] else None
        return (g * keep if n[0] else None), glo, ghi


def _extreme_grads(node: Op, g, loses, wins) -> tuple:
    """maximum/minimum's gradients (PyTorch's rule): each input gets g, halved where x == y,
    and none where it loses (for maximum: x < y gives x none, x > y gives y none). Where either
    is NaN neither loses, so both get g."""
    x, y = node.arrays  # the weights are constants, also under create_graph
    dt = np.result_type(x, y)
    half = 0.5 * (x == y)
    n = node.needs_input_grad
    gx = g * (1 - loses(x, y) - half).astype(dt, copy=False) if n[0] else None
    gy = g * (1 - wins(x, y) - half).astype(dt, copy=False) if n[1] else None
    return gx, gy


class Maximum(Op):
    saves = (0, 1)

    def forward(self, x, y):
        return np.maximum(x, y)

    def backward(self, g):
        return _extreme_grads(self, g, np.less, np.greater)


class Minimum(Op):
    saves = (0, 1)

    def forward(self, x, y):
        return np.minimum(x, y)

    def backward(self, g):
        return _extreme_grads(self, g, np.greater, np.less)


class Where(Op):
    """where(cond, x, y): the gradient goes to x where cond holds, to y elsewhere."""

    def forward(self, x, y, cond=None):
        self.cond = cond
        return np.where(cond, x, y)

    def backward(self, g):
        c, n, np_ = self.cond, self.needs_input_grad, xp(g)
        gx = np_.where(c, g, 0.0) if n[0] else None
        gy = np_.where(c, 0.0, g) if n[1] else None
        return gx, gy


class Clone(Op):
    """x.clone(): a copy; the gradient passes through unchanged (-0.0 stays -0.0: not x + 0)."""

    exact_grads = True

    def forward(self, x):
        return x.copy()

    def backward(self, g):
        return (g,)


class Cast(Op):
    """x.to(dtype): the gradient is cast back (by the engine) to the input's dtype."""

    def forward(self, x, dtype=None):
        return x.astype(dtype)

    def backward(self, g):
        return (g,)
