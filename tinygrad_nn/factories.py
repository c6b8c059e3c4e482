"""Tensor factories with PyTorch's signatures: zeros, ones, full, rand, randn, arange, ...

Sizes are given as ``zeros(2, 3)`` or ``zeros((2, 3))``; float factories use the default dtype;
random ones draw from the global generator that ``manual_seed`` resets.
"""

from __future__ import annotations

import numpy as np

from . import dtypes as _dt
from .random import default_generator
from .tensor import Tensor, _shape_arg


def _new(arr: np.ndarray, requires_grad: bool) -> Tensor:
    t = Tensor._make(arr, None, False)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _float_dtype(dtype):
    return _dt.get_default_dtype() if dtype is None else _dt.to_dtype(dtype)


def tensor(data, dtype=None, requires_grad: bool = False, device=None) -> Tensor:
    """Copy ``data`` into a new leaf tensor (as ``torch.tensor``)."""
    return Tensor(data, dtype=dtype, requires_grad=requires_grad)


def from_numpy(arr: np.ndarray) -> Tensor:
    """A tensor sharing memory with ``arr`` (as ``torch.from_numpy``)."""
    if not isinstance(arr, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(arr).__name__})")
    if arr.dtype.kind not in "biufc":  # (the cheap test first: from_numpy is on the hot path)
        _dt.check(arr.dtype)
    elif arr.dtype.char in "gG":
        _dt.check(arr.dtype)
    return Tensor._make(arr, None, False)


def as_tensor(data, dtype=None) -> Tensor:
    if isinstance(data, Tensor) and (dtype is None or _dt.to_dtype(dtype) == data.dtype):
        return data
    if isinstance(data, np.ndarray) and (dtype is None or _dt.to_dtype(dtype) == data.dtype):
        return from_numpy(data)
    return Tensor(data, dtype=dtype)


def _size(size) -> tuple:
    """A factory's shape argument (ints, or one tuple/list of them), none negative."""
    shape = _shape_arg(size)
    for d in shape:
        if d < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension {d}: "
                               f"{list(shape)}")
    return shape


def zeros(*size, dtype=None, requires_grad: bool = False, device=None) -> Tensor:
    return _new(np.zeros(_size(size), _float_dtype(dtype)), requires_grad)


def ones(*size, dtype=None, requires_grad: bool = False, device=None) -> Tensor:
    return _new(np.ones(_size(size), _float_dtype(dtype)), requires_grad)


def empty(*size, dtype=None, requires_grad: bool = False, device=None) -> Tensor:
    return _new(np.empty(_size(size), _float_dtype(dtype)), requires_grad)


def full(size, fill_value, dtype=None, requires_grad: bool = False, device=None) -> Tensor:
    if dtype is None:
        dtype = (np.bool_ if isinstance(fill_value, bool) else np.int64
                 if isinstance(fill_value, int) else _dt.get_default_dtype())
    return _new(np.full(_size((size,)), fill_value, _dt.to_dtype(dtype)), requires_grad)


def zeros_like(t: Tensor, dtype=None, requires_grad: bool = False) -> Tensor:
    return _new(np.zeros(t.shape, dtype or t.dtype), requires_grad)


def ones_like(t: Tensor, dtype=None, requires_grad: bool = False) -> Tensor:
    return _new(np.ones(t.shape, dtype or t.dtype), requires_grad)


def full_like(t: Tensor, fill_value, dtype=None, requires_grad: bool = False) -> Tensor:
    return _new(np.full(t.shape, fill_value, dtype or t.dtype), requires_grad)


def empty_like(t: Tensor, dtype=None, requires_grad: bool = False) -> Tensor:
    return _new(np.empty(t.shape, dtype or t.dtype), requires_grad)


def _random_dtype(dtype, kernel: str) -> np.dtype:
    """The dtype of rand/randn: a floating one (PyTorch has no such kernel for the others)."""
    dt = _float_dtype(dtype)
    if dt.kind != "f":
        raise NotImplementedError(f'"{kernel}" not implemented for {dt.name!r} (rand and randn '
                                  f"make floating tensors only; randint makes integers)")
    return dt


def rand(*size, generator=None, dtype=None, requires_grad: bool = False, device=None) -> Tensor:
    """Uniform on [0, 1)."""
    dt = _random_dtype(dtype, "check_uniform_bounds")
    g = generator or default_generator()
    return _new(g.random(_size(size)).astype(dt), requires_grad)


def randn(*size, generator=None, dtype=None, requires_grad: bool = False, device=None) -> Tensor:
    """Standard normal N(0, 1)."""
    dt = _random_dtype(dtype, "normal_kernel_cpu")
    g = generator or default_generator()
    return _new(g.standard_normal(_size(size)).astype(dt), requires_grad)


def randint(low, high=None, size=None, *, generator=None, dtype=None, device=None) -> Tensor:
    """Integers uniform on [low, high) (``randint(high, size)`` as PyTorch)."""
    if size is None:
        if high is None or not isinstance(high, (tuple, list)):
            raise TypeError("randint() missing required argument 'size'")
        low, high, size = 0, low, high
    g = generator or default_generator()
    return _new(g.integers(low, high, size=tuple(size)).astype(dtype or np.int64), False)


def randperm(n: int, *, generator=None, dtype=None, device=None) -> Tensor:
    g = generator or default_generator()
    return _new(g.permutation(n).astype(dtype or np.int64), False)


def rand_like(t: Tensor, dtype=None, requires_grad: bool = False) -> Tensor:
    return rand(*t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad)


def randn_like(t: Tensor, dtype=None, requires_grad: bool = False) -> Tensor:
    return randn(*t.shape, dtype=dtype or t.dtype, requires_grad=requires_grad)


def arange(start, end=None, step=1, *, dtype=None, requires_grad: bool = False,
           device=None) -> Tensor:
    """[start, end) with ``step``; int64 when all arguments are ints, else the default float."""
    if end is None:
        start, end = 0, start
    if step == 0:
        raise RuntimeError("step must be nonzero")
    if (end - start) * step < 0:
        raise RuntimeError("upper bound and lower bound inconsistent with step sign")
    if dtype is None:
        ints = all(isinstance(v, (int, np.integer)) for v in (start, end, step))
        dtype = np.int64 if ints else _dt.get_default_dtype()
    return _new(np.arange(start, end, step).astype(_dt.to_dtype(dtype)), requires_grad)


def linspace(start, end, steps: int, *, dtype=None, requires_grad: bool = False,
             device=None) -> Tensor:
    return _new(np.linspace(start, end, steps).astype(_float_dtype(dtype)), requires_grad)


def eye(n: int, m: int | None = None, *, dtype=None, requires_grad: bool = False,
        device=None) -> Tensor:
    return _new(np.eye(n, m, dtype=_float_dtype(dtype)), requires_grad)
