"""dtypes are NumPy's scalar types; the default floating dtype and PyTorch's promotion rules.

``tinygrad_nn.float32 is numpy.float32`` and ``Tensor.dtype`` is a ``numpy.dtype``, so
``t.dtype == tinygrad_nn.float32`` holds. Promotion (``result_type``) follows PyTorch, which differs
from NumPy in one respect that matters: a 0-d tensor does not promote an n-d tensor of the same
category (bool < integer < floating), e.g. float32 (3,) * float64 () -> float32.
"""

from __future__ import annotations

import builtins

import numpy as np

float16 = np.float16
float32 = np.float32
float64 = np.float64
int8 = np.int8
int16 = np.int16
int32 = np.int32
int64 = np.int64
uint8 = np.uint8
bool = np.bool_  # noqa: A001  (PyTorch's name)
half, float, double = float16, float32, float64  # noqa: A001
short, int, long = int16, int32, int64  # noqa: A001

_default = np.dtype(np.float32)


def set_default_dtype(d) -> None:
    """Set the dtype of Python floats and float factories: float32 (default) or float64."""
    global _default
    d = np.dtype(d)
    if d not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"only float32 and float64 are supported as the default dtype, got {d}")
    _default = d


def get_default_dtype() -> np.dtype:
    """The dtype that Python floats and float factories get (float32 unless changed)."""
    return _default


def to_dtype(d) -> np.dtype:
    """Normalise a dtype-like (``tinygrad_nn.float32``, ``np.dtype``, ``'float64'``) to np.dtype;
    TypeError for one a tensor cannot have (see ``check``)."""
    try:
        dt = np.dtype(d)
    except TypeError as e:
        raise TypeError(f"expected a dtype such as tinygrad_nn.float32, got {d!r}") from e
    return check(dt)


def check(dt: np.dtype) -> np.dtype:
    """``dt`` if a tensor can have it: bool, integers, float16/32/64, complex64/128 (PyTorch's
    NumPy dtypes); else TypeError (strings, objects, records, datetimes, long double), as
    ``torch.from_numpy``."""
    if dt.kind not in "biufc" or dt.char in "gG":
        raise TypeError(f"a tensor cannot have dtype {dt}: the supported dtypes are bool, "
                        "int8-64, uint8-64, float16, float32, float64, complex64 and complex128")
    return dt


def _category(dt: np.dtype) -> int:
    k = dt.kind
    return 0 if k == "b" else 2 if k in "fc" else 1


def result_type(a_dtype: np.dtype, a_ndim: int, b_dtype: np.dtype, b_ndim: int) -> np.dtype:
    """PyTorch's result dtype of a binary op on two tensors (python scalars are handled apart).

    A higher category (bool < integer < floating) wins outright: its dtype is the result
    (float32 + int64 -> float32). Within one category, dimensioned operands (ndim > 0) outrank
    0-d ones (float32 (3,) * float64 () -> float32); otherwise the wider type wins.
    """
    if a_dtype == b_dtype:
        return a_dtype
    ca, cb = _category(a_dtype), _category(b_dtype)
    if ca != cb:
        return a_dtype if ca > cb else b_dtype
    if (a_ndim == 0) != (b_ndim == 0):
        return b_dtype if a_ndim == 0 else a_dtype
    return np.promote_types(a_dtype, b_dtype)


def result_type_all(operands) -> np.dtype:
    """PyTorch's result dtype of an n-ary op on tensors given as (dtype, ndim) pairs: the highest
    category present decides; within it, the dimensioned tensors (if any) set the width."""
    top = max(_category(np.dtype(d)) for d, _ in operands)
    for dims in (True, False):
        ds = [np.dtype(d) for d, n in operands if (n > 0) == dims and _category(np.dtype(d)) == top]
        if ds:
            out = ds[0]
            for d in ds[1:]:
                out = np.promote_types(out, d)
            return out
    raise ValueError("result_type_all needs at least one operand")


def scalar_result_type(t_dtype: np.dtype, scalar) -> np.dtype:
    """Result dtype of ``tensor op python_scalar`` (the scalar is weak, as in PyTorch)."""
    if isinstance(scalar, (builtins.bool, np.bool_)):
        return t_dtype
    if isinstance(scalar, (builtins.int, np.integer)):
        return np.dtype(np.int64) if t_dtype.kind == "b" else t_dtype
    if isinstance(scalar, (builtins.float, np.floating)):
        return t_dtype if t_dtype.kind in "fc" else _default
    raise TypeError(f"unsupported operand type {type(scalar).__name__}")


_TORCH_NAMES = {"float16": "Half", "float32": "Float", "float64": "Double", "int8": "Char",
                "int16": "Short", "int32": "Int", "int64": "Long", "uint8": "Byte", "bool": "Bool"}


def torch_name(dtype) -> str:
    """PyTorch's scalar-type name of a dtype ("Float", "Long", ...), for error messages."""
    return _TORCH_NAMES.get(np.dtype(dtype).name, np.dtype(dtype).name)
