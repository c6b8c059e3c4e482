"""``axpy``: y ← y + α·x in one pass over memory, from the BLAS that NumPy itself loaded.

NumPy has no fused multiply-add ufunc, so SGD's ``p −= lr·g`` is two passes: the product into a
buffer, then the subtraction. For a parameter bigger than the core's cache each pass streams
from memory, and BLAS's ``?axpy`` (one pass, reading g and p, writing p) takes half the time:
a 512×784 float32 weight, 104 µs against 210 µs (and 39 against 92 µs at 512×512; Xeon guest,
one thread, ``benchmarks/README.md``). Below about 128 KiB the two ufunc calls are as fast as
the ctypes call, and up to 1 MiB a threaded axpy can lose (``optim/sgd.py``), so ``SGD.step``
uses this from 1 MiB on.

NumPy's wheels bundle OpenBLAS as ``scipy-openblas`` built with 64-bit integers (its
configuration says ``USE64BITINT``), exporting ``scipy_cblas_saxpy64_`` and
``scipy_cblas_daxpy64_``: ``(n, alpha, x, incx, y, incy)`` with int64 n and increments. This
module binds those two with ctypes, from the very library file NumPy has loaded (Linux: found in
``/proc/self/maps``, elsewhere next to NumPy's package), and checks each on a small exact sum
before trusting it. Any other setup — another BLAS, 32-bit BLAS integers, NumPy built from
source, no ctypes, a failed check — gives ``axpy_for(dtype) is None``, and callers keep NumPy's
two passes. ``TINYGRAD_NN_NO_BLAS_AXPY=1`` in the environment turns it off.

The kernels fuse the multiply and the add: α·x + y is rounded once, to the nearest, where
NumPy's two passes round twice (and can be thousands of ulps off where α·x nearly cancels y).
That one rounding is also what ``torch.optim.SGD`` computes: the same bits
(``tests/test_fast_paths.py``).
"""

from __future__ import annotations

import ctypes
import functools
import glob
import os
from collections.abc import Callable

import numpy as np

from .constants import Memo

Axpy = Callable[[int, float, int, int, int, int], None]  # (n, alpha, x_ptr, incx, y_ptr, incy)

_SYMBOLS = {np.dtype(np.float32): ("scipy_cblas_saxpy64_", ctypes.c_float),
            np.dtype(np.float64): ("scipy_cblas_daxpy64_", ctypes.c_double)}


def _axpy_of(dtype: np.dtype) -> Axpy | None:
    """NumPy's BLAS ``?axpy`` for dtype, bound and checked, or None (see the module docstring)."""
    if dtype not in _SYMBOLS or os.environ.get("TINYGRAD_NN_NO_BLAS_AXPY"):
        return None
    try:
        return _bind(*_SYMBOLS[dtype], dtype)
    except Exception:  # noqa: BLE001 - any failure to find or bind: the two passes
        return None


_bound = Memo(_axpy_of)  # dtype -> Axpy or None, made on the first lookup


def axpy_for(dtype: np.dtype) -> Axpy | None:
    """NumPy's BLAS ``?axpy`` for float32 or float64 (checked), or None where there is none."""
    return _bound[dtype]


@functools.cache
def _library() -> str | None:
    """The path of the ILP64 scipy-openblas that NumPy loaded, or None."""
    config = getattr(np.__config__, "CONFIG", {}).get("Build Dependencies", {}).get("blas", {})
    if config.get("name") != "scipy-openblas" or "USE64BITINT" not in config.get(
            "openblas configuration", ""):
        return None
    try:
        with open("/proc/self/maps") as maps:  # Linux: the file mapped into this process
            for line in maps:
                path = line.rstrip("\n").partition("/")[2]
                if "scipy_openblas64_" in path:
                    return "/" + path
    except OSError:
        pass
    here = os.path.dirname(os.path.abspath(np.__file__))
    found = sorted(glob.glob(os.path.join(here, os.pardir, "numpy.libs", "*scipy_openblas64_*"))
                   + glob.glob(os.path.join(here, ".dylibs", "*scipy_openblas64_*")))
    return found[0] if len(found) == 1 else None


def _bind(symbol: str, c_scalar: type, dtype: np.dtype) -> Axpy | None:
    path = _library()
    if path is None:
        return None
    fn = getattr(ctypes.CDLL(path), symbol)
    fn.argtypes = (ctypes.c_int64, c_scalar, ctypes.c_void_p, ctypes.c_int64, ctypes.c_void_p,
                   ctypes.c_int64)
    fn.restype = None
    # the check: every value exact in both dtypes, a stride of 2 on x and of 1 on y
    x = np.arange(1.0, 11.0, dtype=dtype)
    y = np.full(5, 100.0, dtype=dtype)
    fn(5, -0.5, x.ctypes.data, 2, y.ctypes.data, 1)
    return fn if np.array_equal(y, 100.0 - 0.5 * x[::2]) else None


def axpy(y: np.ndarray, x: np.ndarray, alpha: float) -> bool:
    """``y += alpha·x`` in place in one BLAS call, if it can be: both C-contiguous arrays of one
    shape and of float32 or float64, y writeable, no memory shared (the BLAS reads x while it
    writes y). Returns False, having done nothing, otherwise, and where there is no BLAS axpy."""
    dt = y.dtype
    fn = _bound[dt]
    if (fn is None or x.dtype != dt or x.shape != y.shape or not y.flags.writeable
            or not (y.flags.c_contiguous and x.flags.c_contiguous)
            or np.may_share_memory(x, y)):
        return False
    fn(y.size, alpha, x.ctypes.data, 1, y.ctypes.data, 1)
    return True
