"""``axpy``: y ← y + α·x in one pass over memory, from the BLAS that NumPy itself loaded.

NumPy has no fused multiply-add ufunc, so SGD's ``p −= lr·g`` is two passes: the product into a
buffer, then the subtraction. BLAS's ``?axpy`` is one pass (reading g and p, writing p): for a
parameter bigger than the core's cache each pass streams from memory, and the axpy takes half
the time (a 512×784 float32 weight, 104 µs against 210 µs; Xeon guest, one thread); for the
book's four parameters in one flat array (``optim/flat.py``, 23,860 floats) 2.7 µs against
5.3 µs (AMD EPYC guest, one thread, 2026-12-03).

Every update is one rounding: α·x + y is rounded once, to the nearest, where NumPy's two passes
round twice (and can be thousands of ulps off where α·x nearly cancels y). That one rounding is
also what ``torch.optim.SGD`` computes (its ``add_(g, alpha=-lr)`` is a fused multiply-add): the
same bits (``tests/test_fast_paths.py``), for every size.

``AxpyPlan`` is the update of two fixed arrays as prepared calls: the pointers and sizes are
ctypes objects made once, so a call costs ~0.5 µs of ctypes (an array's ``.ctypes.data`` alone
costs ~1.4 µs). OpenBLAS runs an axpy of more than 10,000 elements on its threads, which pays
only for big arrays: waking them costs more than the work below about 1 MiB (the book's float64
step: ~15 µs a step, 188 KB), so from 10,000 elements to 1 MiB the update is one ``axpby`` call
with β = 1 (never threaded, the same bits as axpy and as fast at one thread, so the thread count
need not be asked), or where there is none, while OpenBLAS has more than one thread, calls of at
most 10,000 elements, which OpenBLAS runs on the calling thread (``_unthreaded``).

NumPy's wheels bundle OpenBLAS as ``scipy-openblas`` built with 64-bit integers (its
configuration says ``USE64BITINT``), exporting ``scipy_cblas_saxpy64_`` and
``scipy_cblas_daxpy64_``: ``(n, alpha, x, incx, y, incy)`` with int64 n and increments. This
module binds those two with ctypes, from the very library file NumPy has loaded (Linux: found in
``/proc/self/maps``, elsewhere next to NumPy's package), and checks each on a small exact sum
before trusting it, then on elements that are all cases where two roundings differ from one.
OpenBLAS's Haswell kernels (chosen on Zen 3) round once only in their vector loop, not over the
last n mod 16 or 32 elements: such a kernel runs on whole blocks of ``BLOCK`` elements and the
rest through a zero-padded block (``Kernel.block``, ``_Tail``). Any other setup — another
BLAS, 32-bit BLAS integers, NumPy built from source, no ctypes, a failed check — gives
``axpy_for(dtype) is None``, and callers keep NumPy's two passes.
``TINYGRAD_NN_NO_BLAS_AXPY=1`` in the environment turns it off.
"""

from __future__ import annotations

import ctypes
import functools
import glob
import os
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from .constants import Memo

_PREFIX = {np.dtype(np.float32): ("s", ctypes.c_float),
           np.dtype(np.float64): ("d", ctypes.c_double)}
_SERIAL = 10_000  # elements: OpenBLAS's interface/axpy.c runs n <= 10,000 on the calling thread
BLOCK = 64  # elements: a multiple of every OpenBLAS axpy kernel's unrolled block
_THREADED = 1 << 20  # bytes: from here one axpy call (which OpenBLAS may thread)
_ONE = ctypes.c_int64(1)  # the increments


class Kernel(NamedTuple):
    """NumPy's BLAS for one dtype, bound and checked (each rounds α·x + y once, to the nearest):
    ``axpy(n, α, x, incx, y, incy)``: y ← α·x + y, and ``axpby(n, α, x, incx, β, y, incy)``
    (None if it fails its check), which OpenBLAS never threads, called with β = 1. Both are
    called with ctypes objects only (``c_int64``, ``scalar``, ``c_void_p``; they have no
    ``argtypes``: those would cost a conversion per argument per call)."""

    axpy: Callable[..., None]
    axpby: Callable[..., None] | None
    scalar: type  # ctypes.c_float or ctypes.c_double
    # 1: axpy rounds once at every length. BLOCK: only over whole blocks of BLOCK elements
    # (OpenBLAS's Haswell kernels, chosen on Zen 3, fuse the multiply-add in their vector loop
    # but not in the C loop over the last n mod 16 or 32): callers run it on the blocks and the
    # rest through a zero-padded block (_Tail)
    block: int = 1


def _kernel_of(dtype: np.dtype) -> Kernel | None:
    """The ``Kernel`` of dtype, or None (see the module docstring)."""
    if dtype not in _PREFIX or os.environ.get("TINYGRAD_NN_NO_BLAS_AXPY"):
        return None
    try:
        return _bind(dtype)
    except Exception:  # noqa: BLE001 - any failure to find or bind: the two passes
        return None


_bound = Memo(_kernel_of)  # dtype -> Kernel or None, made on the first lookup


def axpy_for(dtype: np.dtype) -> Kernel | None:
    """NumPy's BLAS axpy for float32 or float64 (checked), or None where there is none."""
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


def _bind(dtype: np.dtype) -> Kernel | None:
    path = _library()
    if path is None:
        return None
    letter, scalar = _PREFIX[dtype]
    lib = ctypes.CDLL(path)
    axpy = getattr(lib, f"scipy_cblas_{letter}axpy64_")
    axpy.restype = None
    # the checks: every value exact in both dtypes, a stride of 2 on x and of 1 on y; then one
    # rounding where two differ, at a length with a tail after any kernel's unrolled blocks, at
    # an offset of one element (a misaligned start), and else over whole blocks only
    x = np.arange(1.0, 11.0, dtype=dtype)
    y = np.full(5, 100.0, dtype=dtype)
    axpy(ctypes.c_int64(5), scalar(-0.5), _ptr(x), ctypes.c_int64(2), _ptr(y), _ONE)
    if not np.array_equal(y, 100.0 - 0.5 * x[::2]):
        return None

    def plain(n, a, xp, yp):
        axpy(n, a, xp, _ONE, yp, _ONE)

    if _rounds_once(plain, dtype, scalar, 131) and _rounds_once(plain, dtype, scalar, 131, 1):
        block = 1
    elif (_rounds_once(plain, dtype, scalar, 4 * BLOCK)
          and _rounds_once(plain, dtype, scalar, 4 * BLOCK, 1)):
        block = BLOCK
    else:
        return None
    axpby = getattr(lib, f"scipy_cblas_{letter}axpby64_", None)
    if axpby is not None:
        axpby.restype = None
        beta = scalar(1.0)
        if not _rounds_once(lambda n, a, xp, yp: axpby(n, a, xp, _ONE, beta, yp, _ONE),
                            dtype, scalar, 131):
            axpby = None
    return Kernel(axpy, axpby, scalar, block)


def _ptr(a: np.ndarray) -> ctypes.c_void_p:
    return ctypes.c_void_p(a.ctypes.data)


def _rounds_once(call: Callable[..., None], dtype: np.dtype, scalar: type, n: int = 131,
                 offset: int = 0) -> bool:
    """Whether ``call(n, α, x, y)`` (y ← α·x + y) gives the correctly rounded α·x + y on n
    elements that start ``offset`` elements into their buffers, every one of them a case where
    NumPy's two roundings give another value (so one element rounded twice fails the check). y is
    in [1, 2) and |α·x| in [1/4, 1): the exact result has at most 51 significant bits, so float64
    holds it exactly for float32 (and for float64 it is worked out in fractions)."""
    rng = np.random.default_rng(1)
    alpha = dtype.type(-0.3)
    ys, xs, wants = [], [], []
    count = 0
    while count < n:
        y = rng.uniform(1.0, 2.0, 4 * n).astype(dtype)
        x = (rng.uniform(0.25 / 0.3, 1.0 / 0.3, 4 * n)
             * rng.choice([-1.0, 1.0], 4 * n)).astype(dtype)
        want = _exact(y, x, alpha)
        differ = want != y + alpha * x
        ys.append(y[differ])
        xs.append(x[differ])
        wants.append(want[differ])
        count += int(differ.sum())
    y = np.concatenate(ys)[:n]
    x = np.concatenate(xs)[:n]
    want = np.concatenate(wants)[:n]
    got = np.concatenate([np.zeros(offset, dtype), y])
    xo = np.concatenate([np.zeros(offset, dtype), x])
    call(ctypes.c_int64(n), scalar(float(alpha)), _ptr(xo[offset:]), _ptr(got[offset:]))
    return bool(np.array_equal(got[offset:], want))


def _exact(y: np.ndarray, x: np.ndarray, alpha: np.generic) -> np.ndarray:
    """y + α·x rounded once, for the values of ``_rounds_once``."""
    if y.dtype == np.float32:
        return (y.astype(np.float64) + np.float64(alpha) * x.astype(np.float64)).astype(y.dtype)
    from fractions import Fraction  # (imported here: it costs `import tinygrad_nn` ~2 ms)

    a = Fraction(float(alpha))
    return np.array([float(Fraction(b) + a * Fraction(c))
                     for c, b in zip(x.tolist(), y.tolist(), strict=True)])


class AxpyPlan:
    """``y += α·x`` for two fixed arrays: ``plan(alpha)``, with the size and pointers made into
    ctypes objects once (SGD's flat update, ``optim/flat.py``). One ``axpy`` call, but see
    ``_unthreaded`` and ``Kernel.block``. The plan holds both arrays, so its pointers stay
    valid."""

    __slots__ = ("y", "x", "kernel", "whole", "split", "beta", "tail")

    def __init__(self, y: np.ndarray, x: np.ndarray, kernel: Kernel) -> None:
        self.y, self.x, self.kernel = y, x, kernel
        body = y.size - y.size % kernel.block
        self.whole = (_c_int64(body), _ptr(x), _ptr(y))
        self.split = _split(y, kernel)
        # an axpy that OpenBLAS could thread, and lose, is an axpby with β = 1 (see _unthreaded)
        self.beta = _BETA[kernel.scalar] if self.split and kernel.axpby is not None else None
        self.tail = _Tail(y.reshape(-1)[body:], x.reshape(-1)[body:], kernel) if body < y.size \
            else None

    def __call__(self, alpha: float) -> None:
        kernel = self.kernel
        a = kernel.scalar(alpha)
        n, xp, yp = self.whole
        if self.beta is not None:
            kernel.axpby(n, a, xp, _ONE, self.beta, yp, _ONE)
        elif not self.split or threads() == 1:
            kernel.axpy(n, a, xp, _ONE, yp, _ONE)
        else:
            _unthreaded(kernel, a, self.whole, self.y.itemsize)
        if self.tail is not None:
            self.tail(a)


class _Tail:
    """``y += α·x`` for the last ``n mod block`` elements under a kernel that rounds once only
    over whole blocks (``Kernel.block``): copied into zero-padded block buffers, one axpy call
    over the block, copied back (three copies of fewer than 64 elements, ~1.5 µs)."""

    __slots__ = ("y", "x", "ys", "xs", "args", "kernel")

    def __init__(self, y: np.ndarray, x: np.ndarray, kernel: Kernel) -> None:
        ypad, xpad = np.zeros(kernel.block, y.dtype), np.zeros(kernel.block, y.dtype)
        self.y, self.x, self.ys, self.xs, self.kernel = y, x, ypad[:y.size], xpad[:y.size], kernel
        self.args = (_c_int64(kernel.block), _ptr(xpad), _ptr(ypad))  # (the views hold the pads)

    def __call__(self, a: Any) -> None:
        ys = self.ys
        ys[...] = self.y
        self.xs[...] = self.x
        n, xp, yp = self.args
        self.kernel.axpy(n, a, xp, _ONE, yp, _ONE)
        self.y[...] = ys


def _split(y: np.ndarray, kernel: Kernel) -> bool:
    """Whether one axpy call on y could be threaded and lose: more than 10,000 elements, under
    1 MiB (see ``_unthreaded``); at any size for a kernel that rounds once only over whole
    blocks (``Kernel.block``: the parts OpenBLAS's threads take need not be whole blocks)."""
    return y.size > _SERIAL and (y.nbytes < _THREADED or kernel.block > 1)


def _unthreaded(kernel: Kernel, a: Any, whole: tuple, itemsize: int) -> None:
    """y += α·x with more than 10,000 elements, below 1 MiB (at any size for a kernel that rounds
    once only over whole blocks), where NumPy's BLAS has no axpby (which OpenBLAS never threads,
    and callers use first) while OpenBLAS has more than one thread: calls of at most 10,000
    elements (whole blocks), which it runs on the calling thread. Waking its threads costs more
    than the work below 1 MiB: one threaded axpy call made the book's step 2.06x as long at 2
    threads (``benchmarks/ab.py``, 2026-12-03). ``whole``: (n, x, y) as ctypes objects, n whole
    blocks."""
    n, xp, yp = whole
    step = _SERIAL - _SERIAL % kernel.block
    for i in range(0, n.value, step):
        kernel.axpy(_c_int64(min(step, n.value - i)), a, _c_void_p(xp.value + i * itemsize),
                    _ONE, _c_void_p(yp.value + i * itemsize), _ONE)


_BETA = {ctypes.c_float: ctypes.c_float(1.0), ctypes.c_double: ctypes.c_double(1.0)}
_c_int64, _c_void_p, _c_char, _byref = ctypes.c_int64, ctypes.c_void_p, ctypes.c_char, ctypes.byref


@functools.cache
def _threads_getter() -> Callable[[], int] | None:
    """scipy-openblas's ``openblas_get_num_threads`` (~0.2 µs a call), or None."""
    path = _library()
    if path is None:  # (ctypes.CDLL(None) would be this process itself)
        return None
    try:
        fn = ctypes.CDLL(path).scipy_openblas_get_num_threads64_
    except (AttributeError, OSError):
        return None
    fn.restype, fn.argtypes = ctypes.c_int, ()
    return fn


def threads() -> int:
    """How many threads OpenBLAS runs a big call on now (threadpoolctl can change it at any
    time); 0 where that can't be asked."""
    getter = _threads_getter()
    return 0 if getter is None else getter()


def _kernel_for(y: np.ndarray, x: np.ndarray) -> Kernel | None:
    """The kernel for ``y += α·x``, or None where one BLAS pass can't do it: both C-contiguous
    arrays of one shape and of float32 or float64 (native byte order), y writeable, no memory
    shared (the BLAS reads x while it writes y: two arrays that own their memory never share
    it, the cheap case), and NumPy's BLAS has an axpy."""
    kernel = _bound[y.dtype]
    if (kernel is None or x.dtype != y.dtype or x.shape != y.shape or not y.flags.writeable
            or not (y.flags.c_contiguous and x.flags.c_contiguous)
            or ((x.base is not None or y.base is not None or x is y)
                and np.may_share_memory(x, y))):
        return None
    return kernel


def plan(y: np.ndarray, x: np.ndarray) -> AxpyPlan | None:
    """The ``AxpyPlan`` of ``y += α·x`` for repeated use, or None (see ``_kernel_for``)."""
    kernel = _kernel_for(y, x)
    return None if kernel is None else AxpyPlan(y, x, kernel)


def axpy(y: np.ndarray, x: np.ndarray, alpha: float) -> bool:
    """``y += alpha·x`` in place, one rounding per element, if one BLAS pass can do it (see
    ``_kernel_for``). Returns False, having done nothing, otherwise. For one use (SGD's
    parameter-by-parameter update): the pointers are ``byref(c_char.from_buffer(a))`` (~0.5 µs;
    ``.ctypes.data`` costs ~1.2 µs), and the call costs ~1.5 µs more than NumPy's two passes
    on a tiny array (where each is a few hundred ns of arithmetic)."""
    kernel = _kernel_for(y, x)
    if kernel is None:
        return False
    n = y.size
    if n == 0:
        return True
    try:
        xp = _byref(_c_char.from_buffer(x))
    except TypeError:  # a read-only x exports no writable buffer
        xp = _c_void_p(x.ctypes.data)
    yp = _byref(_c_char.from_buffer(y))
    a = kernel.scalar(alpha)
    body = n - n % kernel.block
    if not _split(y, kernel):
        kernel.axpy(_c_int64(body), a, xp, _ONE, yp, _ONE)
    elif kernel.axpby is not None:  # (see _unthreaded)
        kernel.axpby(_c_int64(body), a, xp, _ONE, _BETA[kernel.scalar], yp, _ONE)
    elif threads() == 1:
        kernel.axpy(_c_int64(body), a, xp, _ONE, yp, _ONE)
    else:  # (the chunks need the addresses as numbers)
        _unthreaded(kernel, a, (_c_int64(body), _ptr(x), _ptr(y)), y.itemsize)
    if body < n:
        _Tail(y.reshape(-1)[body:], x.reshape(-1)[body:], kernel)(a)
    return True
