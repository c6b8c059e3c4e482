"""PyTorch-style ``repr`` of a Tensor: ``tensor([1., 2.], requires_grad=True)``."""

from __future__ import annotations

import numpy as np

_DEFAULT_SHOWN = {np.dtype(np.int64), np.dtype(np.bool_)}


_EDGE, _THRESHOLD, _LINEWIDTH = 3, 1000, 80  # PyTorch's print options


def _summarized(a: np.ndarray) -> np.ndarray:
    """The entries PyTorch shows of a big tensor (3 at each end of every long dim)."""
    if a.size <= _THRESHOLD:
        return a
    for ax, n in enumerate(a.shape):
        if n > 2 * _EDGE:
            a = np.concatenate([a.take(range(_EDGE), ax), a.take(range(n - _EDGE, n), ax)], ax)
    return a


def _float_format(a: np.ndarray):
    """PyTorch's float format, chosen from the nonzero finite entries shown: integers as ``1.``,
    else 4 decimals, or scientific ``1.0000e-05`` when max/min > 1000, max > 1e8 or (not all
    integers) min < 1e-4; every entry right-aligned to the widest of those entries."""
    v = np.abs(a[np.isfinite(a) & (a != 0)].astype(np.float64))
    integral = bool(np.all(v == np.round(v)))
    sci = v.size > 0 and (v.max() / v.min() > 1e3 or v.max() > 1e8 or (
        not integral and v.min() < 1e-4))

    def text(x) -> str:
        if sci:
            return f"{x:.4e}"
        if integral:
            return f"{x:.0f}" + ("." if np.isfinite(x) else "")
        return f"{x:.4f}"
    width = max([1] + [len(text(x)) for x in a[np.isfinite(a) & (a != 0)].tolist()])
    return lambda x: text(x).rjust(width)


def _body(a: np.ndarray, prefix: str) -> str:
    shown = _summarized(a)
    if a.dtype.kind == "f":
        formatter = {"float_kind": _float_format(shown)}
    elif a.dtype.kind == "b":
        width = 4 if shown.all() else 5
        formatter = {"bool": lambda v: str(bool(v)).rjust(width)}
    else:
        formatter = None
    text = np.array2string(a, separator=", ", prefix=prefix, formatter=formatter,
                           max_line_width=_LINEWIDTH, threshold=_THRESHOLD, edgeitems=_EDGE)
    return text.replace(", ...,", ",  ...,")  # PyTorch's elision inside a row: "2,  ..., 47"


def tensor_repr(t) -> str:
    prefix = "tensor("
    a = t.data
    if a.size == 0:
        body = "[]" if a.ndim == 1 else "[]"
        extras = [f"size={tuple(a.shape)}"] if a.ndim != 1 else []
    else:
        body = _body(a, prefix)
        extras = []
    if a.dtype.kind == "f":
        show = a.dtype != _default_float()
    else:
        show = a.dtype not in _DEFAULT_SHOWN
    if show:
        extras.append(f"dtype=torch.{a.dtype.name}" if a.dtype.kind != "b" else "dtype=torch.bool")
    if t.grad_fn is not None:
        extras.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        extras.append("requires_grad=True")
    return prefix + ", ".join([body, *extras]) + ")"


def _default_float() -> np.dtype:
    from .dtypes import get_default_dtype

    return get_default_dtype()
