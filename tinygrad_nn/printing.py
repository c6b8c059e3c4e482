"""PyTorch-style ``repr`` of a Tensor: ``tensor([1., 2.], requires_grad=True)``."""

from __future__ import annotations

import numpy as np

_DEFAULT_SHOWN = {np.dtype(np.int64), np.dtype(np.bool_)}


def _body(a: np.ndarray, prefix: str) -> str:
    if a.dtype.kind == "f":
        finite = a[np.isfinite(a)]
        integral = finite.size == 0 or bool(np.all(finite == np.round(finite)))
        big = finite.size and (np.abs(finite).max() >= 1e8 or (
            np.abs(finite[finite != 0]).min(initial=np.inf) < 1e-4) or (
            np.abs(finite).max() / max(np.abs(finite[finite != 0]).min(initial=np.inf), 1e-300) > 1e3))
        if integral and not big:
            opts = {"floatmode": "maxprec", "precision": 0}
            text = np.array2string(a, separator=", ", prefix=prefix, **opts)
        elif big:
            text = np.array2string(a, separator=", ", prefix=prefix, precision=4,
                                   floatmode="fixed", formatter={"float_kind": lambda v: f"{v:.4e}"})
        else:
            text = np.array2string(a, separator=", ", prefix=prefix, precision=4, floatmode="fixed")
        return text
    if a.dtype.kind == "b":
        return np.array2string(a, separator=", ", prefix=prefix,
                               formatter={"bool": lambda v: "True" if v else "False"})
    return np.array2string(a, separator=", ", prefix=prefix)


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
