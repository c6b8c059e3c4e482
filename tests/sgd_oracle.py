"""What SGD's plain update ``p − lr·g`` must give, to the bit (shared by the optimizer tests).

Where NumPy's BLAS has an axpy tinygrad_nn binds (``engine/blas.py``: NumPy's own wheels), every
update is rounded once, as a fused multiply-add and as ``torch.optim.SGD`` computes it; where
it has none, NumPy's two passes: the product c·g rounded to p's dtype, then the difference.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from tinygrad_nn.engine import blas


def two_passes(p: np.ndarray, g: np.ndarray, lr: float) -> np.ndarray:
    """p − c·g as NumPy's two passes compute it (c: lr in p's dtype)."""
    return p - g * p.dtype.type(lr)


def rounded_once(p: np.ndarray, g: np.ndarray, lr: float) -> np.ndarray:
    """p − c·g correctly rounded to p's dtype (c: lr in that dtype). float32: c·g is exact in
    float64 and the float64 difference r is the exact value rounded once, so rounding r to
    float32 is right unless r is a float32 midpoint (where the exact value may lie on either
    side: those few are done in fractions). float64: ``_rounded_once_f64``."""
    c, shape = p.dtype.type(lr), p.shape
    if p.dtype == np.float32:
        p, g = p.ravel(), g.ravel()
        r = p.astype(np.float64) - np.float64(c) * g.astype(np.float64)
        out = r.astype(np.float32)
        lo = np.where(out.astype(np.float64) > r, np.nextafter(out, np.float32(-np.inf)), out)
        mid = (lo.astype(np.float64) + np.nextafter(lo, np.float32(np.inf))) / 2
        for i in np.flatnonzero(mid == r):
            exact = Fraction(float(p[i])) - Fraction(float(c)) * Fraction(float(g[i]))
            below, above = lo[i], np.nextafter(lo[i], np.float32(np.inf))
            d_below = exact - Fraction(float(below))
            d_above = Fraction(float(above)) - exact
            even = below if int(below.view(np.int32)) % 2 == 0 else above
            out[i] = below if d_below < d_above else above if d_above < d_below else even
        return out.reshape(shape)
    return _rounded_once_f64(p.ravel(), g.ravel(), float(c)).reshape(shape)


def _exact(p: float, c: float, g: float) -> float:
    return float(Fraction(p) - Fraction(c) * Fraction(g))  # (float() rounds correctly)


def _split(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Veltkamp's split: a = hi + lo exactly, each with at most 26 significant bits."""
    t = 134217729.0 * a  # 2**27 + 1
    hi = t - (t - a)
    return hi, a - hi


def _rounded_once_f64(p: np.ndarray, g: np.ndarray, c: float) -> np.ndarray:
    """p − c·g correctly rounded, float64, vectorized: c·g = prod + err exactly (Dekker's
    product), p − prod = s + e exactly (Knuth's two-sum), so the exact value is s + (e − err),
    and r = s + (e − err) in floats is its nearest float64 unless s + (e − err) lies within
    the rounding error of e − err of a midpoint: those few are done in fractions. (For the
    magnitudes of these tests: no overflow or underflow in the splits.)"""
    prod = c * g
    ch, cl = _split(np.full_like(g, c))
    gh, gl = _split(g)
    err = ((ch * gh - prod) + ch * gl + cl * gh) + cl * gl
    s = p - prod
    bb = s - p
    e = (p - (s - bb)) + (-prod - bb)
    t = e - err
    r = s + t
    tail = (s - r) + t  # (s − r is exact: r is s or a neighbour) the exact value minus r, ~
    half = np.spacing(np.abs(r)) / 2
    near = np.abs(np.abs(tail) - half) <= 8 * np.spacing(np.abs(t)) + np.spacing(half)
    for i in np.flatnonzero(near | ~np.isfinite(r)):
        r[i] = _exact(float(p[i]), c, float(g[i]))
    return r


def sgd_update(p: np.ndarray, g: np.ndarray, lr: float) -> np.ndarray:
    """The bits SGD's plain update of p by g must give (see the module docstring)."""
    if blas.axpy_for(p.dtype) is not None:
        return rounded_once(p, g, lr)
    return two_passes(p, g, lr)
