"""``tinygrad_nn.nn.functional``: layers and losses as functions, as ``torch.nn.functional``.

Shapes: N examples, C classes (or k outputs), optional extra dims d1, d2, ... after C.

- ``linear(x, W, b)``: ``x Wᵀ + b``; x (..., in), W (out, in), b (out,) → (..., out).
- ``mse_loss(x, y)``: ``(x − y)²`` elementwise; 'mean' divides the sum by the number of elements
  (x and y broadcast, with a warning when their shapes differ, as PyTorch).
- ``quadratic_cost(a, y)`` (not in PyTorch): the book's cost ``C = 1/(2n) Σ_x ||y(x) − a||²`` for
  a (n, k) or (k,) (then n = 1); see ``nn.QuadraticCost``.
- ``cross_entropy(x, t)``: ``−Σ_c q_c log softmax(x)_c`` per example, with q the one-hot of a class
  index t (N,) int64, or a row of class probabilities (t of x's shape, floating); ``weight`` (C,)
  scales class c, ``ignore_index`` drops examples, ``label_smoothing`` ε mixes q with the uniform
  distribution: q ← (1 − ε) q + ε/C. Reductions and formulas are PyTorch's exactly (e.g. 'mean'
  with class indices divides by Σ w_t over kept examples; with probabilities by N).
- ``nll_loss(logp, t)``: ``−w_t logp_t``; ``binary_cross_entropy(p, y)``:
  ``−w (y log p + (1 − y) log(1 − p))`` with both logs clamped at −100, as PyTorch.
- ``one_hot(t, num_classes=-1)``: int64 (…, C).

Errors: the exception types PyTorch raises (TypeError for non-tensors, ValueError for batch-size
mismatches and bad reductions, RuntimeError for bad dtypes/shapes, IndexError for class indices
out of range), with messages naming both shapes.
"""

from __future__ import annotations

import math
import warnings

import numpy as np

from .. import dtypes as _dt
from ..autograd.function import Function
from ..dtypes import torch_name as _tname
from ..ops.loss import SoftmaxCrossEntropy as _SoftmaxCrossEntropy
from ..ops.loss import SquaredError as _SquaredError
from ..ops.matmul import Linear as _LinearOp
from ..tensor import Tensor, where

__all__ = ["linear", "sigmoid", "relu", "tanh", "softmax", "log_softmax", "mse_loss",
           "quadratic_cost", "cross_entropy", "nll_loss", "binary_cross_entropy", "one_hot"]

def _need_tensor(x, fn: str, arg: str, pos: int) -> None:
    if not isinstance(x, Tensor):
        raise TypeError(f"{fn}(): argument '{arg}' (position {pos}) must be Tensor, not "
                        f"{type(x).__name__}")


def _reduction(reduction: str, size_average=None, reduce=None) -> str:
    """Validate ``reduction`` (or translate PyTorch's legacy ``size_average``/``reduce``)."""
    if size_average is not None or reduce is not None:
        size_average = True if size_average is None else size_average
        reduce = True if reduce is None else reduce
        reduction = "mean" if size_average and reduce else "sum" if reduce else "none"
        warnings.warn("size_average and reduce args will be deprecated, please use "
                      f"reduction='{reduction}' instead.", stacklevel=3)
        return reduction
    if reduction == "elementwise_mean":
        warnings.warn("reduction='elementwise_mean' is deprecated. Please use reduction='mean' "
                      "instead.", stacklevel=3)
        return "mean"
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction


def _broadcast_shape(a: tuple, b: tuple) -> tuple:
    """Broadcast shape of a and b; PyTorch's RuntimeError if they don't broadcast."""
    n = max(len(a), len(b))
    pa, pb = (1,) * (n - len(a)) + tuple(a), (1,) * (n - len(b)) + tuple(b)
    out = []
    for i, (x, y) in enumerate(zip(pa, pb, strict=True)):
        if x != y and x != 1 and y != 1:
            raise RuntimeError(f"The size of tensor a ({x}) must match the size of tensor b ({y}) "
                               f"at non-singleton dimension {i}")
        out.append(y if x == 1 else x)
    return tuple(out)


def _promote(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor]:
    """Cast a and b to PyTorch's result dtype of a binary op on them."""
    da, db = a.data.dtype, b.data.dtype
    if da == db:
        return a, b
    dt = _dt.result_type(da, a.ndim, db, b.ndim)
    return (a if da == dt else a.to(dt)), (b if db == dt else b.to(dt))


# -- layers ------------------------------------------------------------------------------------
def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``input @ weight.T + bias``: input (..., in), weight (out, in) (or (in,)), bias (out,)."""
    _need_tensor(input, "linear", "input", 1)
    _need_tensor(weight, "linear", "weight", 2)
    if bias is not None:
        _need_tensor(bias, "linear", "bias", 3)
    if input.ndim == 0 or weight.ndim == 0:
        raise RuntimeError(f"both arguments to linear need to be at least 1D, but they are "
                           f"{input.ndim}D and {weight.ndim}D")
    if input.dtype != weight.dtype:
        raise RuntimeError(f"mat1 and mat2 must have the same dtype, but got {_tname(input.dtype)} "
                           f"and {_tname(weight.dtype)}")
    if bias is not None and bias.dtype != input.dtype:
        raise RuntimeError(f"linear(): bias has dtype {_tname(bias.dtype)} but input has "
                           f"{_tname(input.dtype)}; they must be the same")
    if weight.ndim > 2:
        raise RuntimeError(f"linear(): weight must be 1-D or 2-D, got shape {list(weight.shape)}")
    k = weight.shape[-1]
    if input.shape[-1] != k:
        rows = input.numel() // input.shape[-1] if input.shape[-1] else 0
        w_t = "x".join(map(str, weight.shape[::-1])) if weight.ndim == 2 else f"{k}x1"
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied "
                           f"({rows}x{input.shape[-1]} and {w_t})")
    if weight.ndim == 2 and (bias is None or bias.shape == (weight.shape[0],)):
        return _LinearOp.apply(input, weight, bias)
    out = input @ (weight.T if weight.ndim == 2 else weight)
    return out if bias is None else out + bias


def sigmoid(input: Tensor) -> Tensor:
    """σ(x) = 1 / (1 + e^−x), elementwise."""
    return input.sigmoid()


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(x, 0), elementwise (``inplace`` is accepted; the result is always a new tensor)."""
    return input.relu()


def tanh(input: Tensor) -> Tensor:
    return input.tanh()


def _softmax_dim(name: str, ndim: int, stacklevel: int) -> int:
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call to "
                  "include dim=X as an argument.", stacklevel=stacklevel)
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """exp(x_i) / Σ_j exp(x_j) along ``dim`` (None: PyTorch's implicit choice, with a warning)."""
    if dim is None:
        dim = _softmax_dim("softmax", input.ndim, _stacklevel)
    return input.softmax(dim, dtype=dtype)


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3, dtype=None) -> Tensor:
    """x_i − log Σ_j exp(x_j) along ``dim``, computed stably."""
    if dim is None:
        dim = _softmax_dim("log_softmax", input.ndim, _stacklevel)
    return input.log_softmax(dim, dtype=dtype)


# -- squared error -----------------------------------------------------------------------------
def _float_pair(input: Tensor, target: Tensor, fn: str) -> tuple[Tensor, Tensor]:
    x, y = _promote(input, target)
    if x.data.dtype.kind != "f":
        raise NotImplementedError(f"{fn}: not implemented for '{_tname(x.dtype)}' tensors: input "
                                  f"and target must be floating point (got {input.dtype} and "
                                  f"{target.dtype})")
    return x, y


def mse_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
             reduction: str = "mean", weight: Tensor | None = None) -> Tensor:
    """Mean squared error ``(x − y)²``: 'none' elementwise, 'sum' Σ, 'mean' Σ / numel.

    With ``weight`` (input's shape): ``w (x − y)²``, and 'mean' divides by Σ w (PyTorch 2.13).
    Note: for x, y of shape (n, k), 'mean' is ``1/(nk) Σ_x ||y(x) − a||²`` = (2/k) × the book's
    quadratic cost (``nn.QuadraticCost``), so its gradient is 2/k times the book's.
    """
    _need_tensor(input, "mse_loss", "input", 1)
    _need_tensor(target, "mse_loss", "target", 2)
    if target.shape != input.shape:
        warnings.warn(f"Using a target size ({list(target.shape)}) that is different to the input "
                      f"size ({list(input.shape)}). This will likely lead to incorrect results due "
                      "to broadcasting. Please ensure they have the same size.", stacklevel=2)
    reduction = _reduction(reduction, size_average, reduce)
    shape = _broadcast_shape(input.shape, target.shape)
    x, y = _float_pair(input, target, "mse_loss")
    if weight is not None:
        if weight.shape != input.shape:
            raise ValueError("Weights and input must have the same size.")
        se = _SquaredError.apply(x, y, scale=1.0, axis="none") * weight
        if reduction == "none":
            return se
        return se.sum() if reduction == "sum" else se.sum() / weight.sum()
    if reduction == "none":
        return _SquaredError.apply(x, y, scale=1.0, axis="none")
    n = math.prod(shape)
    scale = 1.0 if reduction == "sum" else (1.0 / n if n else math.nan)
    return _SquaredError.apply(x, y, scale=scale, axis=None)


def quadratic_cost(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:
    """The book's quadratic cost (Nielsen, eq. 6) of outputs ``a = input`` and targets ``y``.

    input, target: (n, k) — one example per row (or (k,): n = 1; more dims: (n, ...) with the
    norm over everything but dim 0). 'mean': ``C = 1/(2n) Σ_x ||y(x) − a||²`` (0-d);
    'sum': ``½ Σ_x ||y(x) − a||²`` (0-d); 'none': ``C_x = ½ ||y(x) − a||²`` per example, shape (n,)
    (shape () for a (k,) input). Gradient (for 'mean'): ∂C/∂a = (a − y)/n.
    Shapes must be equal (ValueError otherwise); dtypes promote as in ``mse_loss``.
    """
    _need_tensor(input, "quadratic_cost", "input", 1)
    _need_tensor(target, "quadratic_cost", "target", 2)
    reduction = _reduction(reduction)
    shape = input.shape
    if target.shape != shape:
        raise ValueError(f"quadratic_cost: input and target must have the same shape, got input "
                         f"{list(shape)} and target {list(target.shape)}")
    if len(shape) == 0:
        raise ValueError("quadratic_cost: expected input of shape (n, k) or (k,), got a 0-d "
                         "tensor")
    x, y = _float_pair(input, target, "quadratic_cost")
    if reduction == "mean":  # (no examples: 0/0 = NaN, as mse_loss's mean of nothing)
        n = shape[0] if len(shape) > 1 else 1
        return _SquaredError.apply(x, y, scale=0.5 / n if n else math.nan, axis=None)
    if reduction == "sum":
        return _SquaredError.apply(x, y, scale=0.5, axis=None)
    if len(shape) > 2:
        x, y = x.reshape(shape[0], -1), y.reshape(shape[0], -1)
    return _SquaredError.apply(x, y, scale=0.5, axis=-1)


# -- class-index losses ------------------------------------------------------------------------
def _class_layout(input: Tensor, target: Tensor, fn: str):
    """Validate (input, class-index target) and flatten to x2 (M, C), t (M,) int64, out shape."""
    nd = input.ndim
    if nd < 1:
        raise ValueError(f"{fn}: expected input of shape (C,), (N, C) or (N, C, d1, ...), got a "
                         "0-d tensor")
    if target.data.dtype not in (np.int64, np.uint8):
        raise RuntimeError(f"expected target dtype to be Long or Byte, but got "
                           f"{_tname(target.dtype)}")
    t = target.data
    if nd == 1:
        if t.ndim > 1 or t.size != 1:
            raise RuntimeError(f"{fn}: for an input of shape {list(input.shape)} (one example) "
                               f"the target must be a single class index, got shape "
                               f"{list(t.shape)}")
        return input.reshape(1, -1), t.reshape(1).astype(np.int64, copy=False), target.shape
    n_t = t.shape[0] if t.ndim else 0
    if input.shape[0] != n_t:
        raise ValueError(f"Expected input batch_size ({input.shape[0]}) to match target batch_size "
                         f"({n_t}).")
    if nd == 2:
        if t.ndim != 1:
            raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
        return input, t.astype(np.int64, copy=False), target.shape
    want = input.shape[:1] + input.shape[2:]
    if t.shape != want:
        raise RuntimeError(f"Expected target size {list(want)}, got {list(t.shape)}")
    perm = (0, *range(2, nd), 1)  # move C last, then one row per (example, position)
    x2 = input.permute(*perm).reshape(-1, input.shape[1])
    return x2, t.reshape(-1).astype(np.int64, copy=False), target.shape


def _check_weight(weight: Tensor | None, n_classes: int, dtype: np.dtype, fn: str = "") -> None:
    if weight is None:
        return
    if not isinstance(weight, Tensor):
        raise TypeError(f"weight must be a Tensor or None, got {type(weight).__name__}")
    if weight.ndim != 1 or weight.numel() != n_classes:
        raise RuntimeError(f"{fn}weight tensor should be defined either for all {n_classes} "
                           f"classes or no classes but got weight tensor of shape: "
                           f"{list(weight.shape)}")
    if not fn and weight.dtype != dtype:
        raise RuntimeError(f"expected scalar type {_tname(dtype)} but found {_tname(weight.dtype)}")


def _check_targets(t: np.ndarray, n_classes: int, ignore_index: int) -> bool:
    """IndexError for a class index outside [0, C) (except ignore_index); True if any ignored."""
    if t.size == 0:
        return False
    lo, hi = t.min(), t.max()
    if lo >= 0 and hi < n_classes and not lo <= ignore_index <= hi:
        return False
    keep = t != ignore_index
    bad = ((t < 0) | (t >= n_classes)) & keep
    if bad.any():
        raise IndexError(f"Target {t[bad][0]} is out of bounds.")
    return not keep.all()


def _nll(logp: Tensor, t: np.ndarray, weight: Tensor | None, ignore_index: int, reduction: str,
         out_shape: tuple) -> Tensor:
    """−w_t logp[i, t_i] per row of logp (M, C); PyTorch's nll_loss reductions."""
    keep = t != ignore_index
    idx = np.where(keep, t, 0)
    picked = logp[np.arange(t.shape[0]), idx]
    wt = keep.astype(logp.dtype) if weight is None else np.where(keep, weight.data[idx], 0).astype(
        logp.dtype)
    losses = picked * (-wt)
    if reduction == "none":
        return losses.reshape(out_shape)
    if reduction == "sum":
        return losses.sum()
    total = float(wt.sum())
    if total == 0.0 and not keep.all():  # 0/0: the loss is NaN, but an ignored row's gradient
        losses = where(keep, losses, 0.0)  # stays 0, as PyTorch's (not 0·∞ = NaN)
    with np.errstate(invalid="ignore", divide="ignore"):
        return losses.sum() / total


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None,
             ignore_index: int = -100, reduce=None, reduction: str = "mean") -> Tensor:
    """Negative log likelihood of log-probabilities ``input`` (N, C) (or (C,), (N, C, d1, ...))
    at class indices ``target`` (N,) int64: ``ℓ_i = −w_{t_i} input[i, t_i]``, 0 where
    ``t_i == ignore_index``; 'mean' is ``Σ ℓ_i / Σ w_{t_i}`` over the kept rows."""
    _need_tensor(input, "nll_loss", "input", 1)
    _need_tensor(target, "nll_loss", "target", 2)
    reduction = _reduction(reduction, size_average, reduce)
    x2, t, out_shape = _class_layout(input, target, "nll_loss")
    n_classes = x2.shape[1]
    _check_weight(weight, n_classes, input.dtype)
    _check_targets(t, n_classes, ignore_index)
    return _nll(x2, t, weight, ignore_index, reduction, out_shape)


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None,
                  ignore_index: int = -100, reduce=None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Cross entropy between logits ``input`` and a class-index or probability ``target``.

    input (N, C) (or (C,), or (N, C, d1, ...)); target: class indices (N,) (resp. (), (N, d1, ...))
    int64, or class probabilities of input's shape (floating). With p = log_softmax(input) and
    ε = ``label_smoothing``, w = ``weight`` (C,):

    - class indices: ℓ_i = (1 − ε)(−w_{t_i} p_{i,t_i}) + (ε/C)(−Σ_c w_c p_{i,c}), 0 for ignored
      rows; 'mean' divides each of the two sums by Σ w_{t_i} over kept rows. Without smoothing
      this is one fused op (``ops.loss.SoftmaxCrossEntropy``).
    - probabilities q: ℓ_i = −Σ_c w_c q'_{i,c} p_{i,c} with q' = (1 − ε) q + ε/C; 'mean' divides
      by N (numel / C). ``ignore_index`` is not supported here (as PyTorch).
    """
    _need_tensor(input, "cross_entropy", "input", 1)
    _need_tensor(target, "cross_entropy", "target", 2)
    reduction = _reduction(reduction, size_average, reduce)
    if input.ndim == 0:
        raise ValueError("cross_entropy: expected input of shape (C,), (N, C) or (N, C, d1, ...), "
                         "got a 0-d tensor")
    if input.dtype.kind != "f":
        raise NotImplementedError(f"cross_entropy: not implemented for '{_tname(input.dtype)}' "
                                  "input; the logits must be floating point")
    class_dim = 0 if input.ndim == 1 else 1
    n_classes = input.shape[class_dim]
    ls = float(label_smoothing)
    if target.shape == input.shape:
        return _cross_entropy_probs(input, target, weight, ignore_index, reduction, ls,
                                    class_dim, n_classes)
    if ls > 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {label_smoothing}")
    x2, t, out_shape = _class_layout(input, target, "cross_entropy")
    _check_weight(weight, n_classes, input.dtype)
    ignored = _check_targets(t, n_classes, ignore_index)
    if ls <= 0.0:
        w = None if weight is None else weight.data
        if ignored or t.size == 0:
            with np.errstate(invalid="ignore", divide="ignore"):
                out = _SoftmaxCrossEntropy.apply(x2, t, weight=w, ignore_index=ignore_index,
                                                 reduction=reduction)
        else:
            out = _SoftmaxCrossEntropy.apply(x2, t, weight=w, ignore_index=ignore_index,
                                             reduction=reduction)
        return out.reshape(out_shape) if reduction == "none" else out
    logp = x2.log_softmax(1)
    nll = _nll(logp, t, weight, ignore_index, reduction, out_shape)
    keep = t != ignore_index
    smooth = -(logp.sum(1) if weight is None else (logp * weight.data).sum(1))
    smooth = where(keep, smooth, 0.0)
    if reduction == "none":
        ret = smooth.reshape(out_shape)
    elif reduction == "sum":
        ret = smooth.sum()
    else:
        denom = float(keep.sum()) if weight is None else float(weight.data[t[keep]].sum())
        with np.errstate(invalid="ignore", divide="ignore"):
            ret = smooth.sum() / denom
    return (1 - ls) * nll + ret * (ls / n_classes)


def _cross_entropy_probs(input, target, weight, ignore_index, reduction, ls, class_dim,
                         n_classes):
    if target.dtype.kind != "f":
        raise RuntimeError(f"Expected floating point type for target with class probabilities, "
                           f"got {_tname(target.dtype)}")
    if ignore_index >= 0:
        raise RuntimeError("ignore_index is not supported for floating point target")
    _check_weight(weight, n_classes, input.dtype, "cross_entropy: ")
    logp = input.log_softmax(class_dim)
    if ls > 0.0:
        if ls > 1.0:
            raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: {ls}")
        target = target * (1 - ls) + (ls / n_classes)
    prod = logp * target
    if weight is not None:
        shape = [1] * input.ndim
        shape[class_dim] = n_classes
        prod = prod * weight.reshape(shape)
    if reduction == "none":
        return -prod.sum(class_dim)
    if reduction == "sum":
        return -prod.sum()
    n = input.numel() / n_classes if n_classes else 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        return -prod.sum() / n if n else -prod.sum() * math.nan


# -- binary cross entropy ----------------------------------------------------------------------
_BCE_EPS = float(np.float32(1e-12))  # PyTorch's EPSILON in binary_cross_entropy_backward


class BinaryCrossEntropy(Function):
    """ℓ = −w (y max(log p, −100) + (1 − y) max(log1p(−p), −100)), elementwise (PyTorch's kernel).

    Gradients (PyTorch's formulas, finite where p is exactly 0 or 1):
    ∂ℓ/∂p = w (p − y) / max(p (1 − p), 1e-12),  ∂ℓ/∂y = −w logit(p).
    """

    @staticmethod
    def forward(ctx, p: Tensor, y: Tensor, w: Tensor | None) -> Tensor:
        pa, ya = p.data, y.data
        with np.errstate(divide="ignore"):
            loss = (ya - 1) * np.maximum(np.log1p(-pa), -100) - ya * np.maximum(np.log(pa), -100)
        if w is not None:
            loss = loss * w.data
        ctx.save_for_backward(p, y, w)
        return Tensor._make(np.asarray(loss, dtype=pa.dtype), None, False)

    @staticmethod
    def backward(ctx, g: Tensor):
        p, y, w = ctx.saved_tensors
        gp = gy = None
        if ctx.needs_input_grad[0]:
            gp = g * (p - y) / ((1 - p) * p).clamp(min=_BCE_EPS)
            if w is not None:
                gp = gp * w
        if ctx.needs_input_grad[1]:
            with np.errstate(divide="ignore"):
                gy = -g * (p / (1 - p)).log()
            if w is not None:
                gy = gy * w
        return gp, gy, None


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                         size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """Binary cross entropy of probabilities ``input`` and targets ``target`` (same shape, same
    dtype, values in [0, 1]): ``−w (y log p + (1 − y) log(1 − p))``, logs clamped at −100;
    ``weight`` broadcasts to the input's shape."""
    _need_tensor(input, "binary_cross_entropy", "input", 1)
    _need_tensor(target, "binary_cross_entropy", "target", 2)
    reduction = _reduction(reduction, size_average, reduce)
    if target.shape != input.shape:
        raise ValueError(f"Using a target size ({list(target.shape)}) that is different to the "
                         f"input size ({list(input.shape)}) is deprecated. Please ensure they have "
                         "the same size.")
    if target.dtype != input.dtype:
        raise RuntimeError(f"Found dtype {_tname(target.dtype)} but expected "
                           f"{_tname(input.dtype)}")
    if input.dtype.kind != "f":
        raise NotImplementedError(f"binary_cross_entropy: not implemented for "
                                  f"'{_tname(input.dtype)}'; input must be floating point")
    p, y = input.data, target.data
    if not (np.all(p >= 0) and np.all(p <= 1)):
        raise RuntimeError("all elements of input should be between 0 and 1")
    if not (np.all(y >= 0) and np.all(y <= 1)):
        raise RuntimeError("all elements of target should be between 0 and 1")
    if weight is not None:
        try:
            fits = _broadcast_shape(input.shape, weight.shape) == input.shape
        except RuntimeError:
            fits = False
        if not fits:
            raise RuntimeError(f"weight of shape {list(weight.shape)} can't be broadcast to the "
                               f"input's shape {list(input.shape)}")
        if weight.dtype != input.dtype:
            weight = weight.to(input.dtype)
    loss = BinaryCrossEntropy.apply(input, target, weight)
    if reduction == "none":
        return loss
    return loss.sum() if reduction == "sum" else loss.mean()


# -- one-hot -----------------------------------------------------------------------------------
def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 tensor of shape ``tensor.shape + (C,)`` with a 1 at each class index; C =
    ``num_classes``, or max + 1 when -1."""
    _need_tensor(tensor, "one_hot", "tensor", 1)
    if tensor.data.dtype != np.int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    a = tensor.data
    if num_classes == -1:
        if a.size == 0:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
        num_classes = int(a.max()) + 1
    if a.size:
        if a.min() < 0:
            raise RuntimeError("Class values must be non-negative.")
        if a.max() >= num_classes:
            raise RuntimeError("Class values must be smaller than num_classes.")
    elif num_classes < 0:
        raise RuntimeError(f"num_classes should be -1 or non-negative, got {num_classes}")
    out = np.zeros((*a.shape, num_classes), dtype=np.int64)
    if a.size:
        np.put_along_axis(out, a[..., None], 1, axis=-1)
    return Tensor._make(out, None, False)
