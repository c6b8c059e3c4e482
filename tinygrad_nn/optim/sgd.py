"""``SGD``: stochastic gradient descent with PyTorch's momentum, dampening, Nesterov and
weight-decay options, updating the parameters' NumPy arrays in place.

For each parameter p with gradient g (PyTorch's algorithm, step t):

    g ← −g                                  if maximize
    g ← g + λ p                             if weight_decay λ ≠ 0
    if momentum μ ≠ 0:
        b ← g                               at the first step (b: state["momentum_buffer"])
        b ← μ b + (1 − τ) g                 afterwards (τ: dampening)
        g ← g + μ b  if nesterov  else  b
    p ← p − η g                             (η: lr)

Without momentum and weight decay this is the book's ``w → w − η ∇C`` (η negated under
maximize): ``step``'s own loop, one BLAS axpy per parameter (``engine/blas.py``: p += (−η)·g in
one pass, rounded once, as torch.optim.SGD), or for a group of small parameters moved into one
flat array (``optim/flat.py``) one axpy for all; where NumPy's BLAS has no axpy, two NumPy calls
(the product η g, then an in-place subtraction). ``_update`` runs the general algorithm.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ..engine.blas import axpy
from ..engine.constants import scalars
from ..engine.node import clock
from ..tensor import Tensor
from .flat import rehome
from .optimizer import Optimizer

_ARRAY = np.ndarray
copyto, multiply, subtract = np.copyto, np.multiply, np.subtract
# bytes: from here the product lr·g goes to a reused buffer (see SGD.step). glibc's malloc
# maps blocks from 128 KiB on (its default M_MMAP_THRESHOLD) apart and returns them when freed.
_BIG = 128 * 1024
# bytes: a group smaller than this in all is moved into one flat array (optim/flat.py); a
# bigger one is updated parameter by parameter (its arrays are big: a call each costs little).
_FLAT = 1024 * 1024


class SGD(Optimizer):
    """``SGD(params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False, *,
    maximize=False)`` as ``torch.optim.SGD`` (``foreach``/``fused`` are accepted and ignored)."""

    def __init__(self, params: Iterable, lr: float = 1e-3, momentum: float = 0,
                 dampening: float = 0, weight_decay: float = 0, nesterov: bool = False, *,
                 maximize: bool = False, foreach: bool | None = None,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        if isinstance(lr, Tensor):
            if lr.numel() != 1:
                raise ValueError("Tensor lr must be 1-element")
            lr = lr.item()
        if lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if differentiable:
            raise ValueError("differentiable=True is not supported by tinygrad_nn's SGD")
        defaults = {"lr": lr, "momentum": momentum, "dampening": dampening,
                    "weight_decay": weight_decay, "nesterov": nesterov, "maximize": maximize,
                    "foreach": foreach, "differentiable": differentiable, "fused": fused}
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)

    def _scratch(self, g: np.ndarray) -> np.ndarray:
        """A reused buffer of g's shape and dtype, one per shape (made on first use: a loaded
        or unpickled optimizer has none yet)."""
        bufs = self.__dict__.setdefault("_scratch_buffers", {})
        key = (g.shape, g.dtype)
        buf = bufs.get(key)
        if buf is None:
            buf = bufs[key] = np.empty(g.shape, g.dtype)
        return buf

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One update of every parameter that has a gradient; returns ``closure()`` if given.

        Without momentum and weight decay (the book's update ``p −= lr · g``) this is the loop
        below, in place, with one version-clock tick for the step. Each update is p += (−lr)·g
        as one BLAS axpy (``engine.blas``): one pass over memory (half the time of NumPy's two
        for a 512×784 float32 weight) and one rounding where NumPy's passes round twice:
        torch.optim.SGD's very bits, at every size.

        A group of small parameters (under 1 MiB in all, one dtype) is moved after its first
        step into one flat array (``optim/flat.py``, only when no one else can see the old
        arrays): when the gradients are views of the flat gradient (the fused MLP's backward
        writes them so) the whole update is one call, else each gradient is copied into its
        view of a flat scratch array first. For the book's four parameters that is one call
        instead of four (the book's step: 0.971x its time at one BLAS thread, 0.975x at two,
        against the two NumPy calls it replaced; ``benchmarks/ab.py``, 2026-12-03).

        Where NumPy's BLAS has no axpy (or the arrays don't suit it: not C-contiguous, memory
        shared, float16), p −= g·lr in two NumPy passes: lr multiplies as a 0-d array of the
        parameter's dtype (a Python float costs a scalar conversion per call), and the product
        rounds as with the float. From 128 KiB on the product goes into ``_scratch(g)``, a
        buffer of g's shape that the optimizer reuses, not into a fresh array: glibc's malloc
        can hand a large block freed every step back to the kernel (depending on what else the
        heap holds), and touching it again the next step costs a page fault per 4 KB (the
        book's float64 network took 60 faults per step that way, about a fifth of its step).
        (The loops are written out here rather than in helpers: a Python call less per step.)
        """
        loss = self._closure(closure)
        flats = self.__dict__.get("_flats")
        for group in self.param_groups:
            if group["momentum"] != 0 or group["weight_decay"] != 0:
                self._update(group)
                continue
            lr = -group["lr"] if group["maximize"] else group["lr"]
            clock[0] += 1
            stamp = clock[0]
            params = group["params"]
            fp = flats.get(id(group)) if flats else None
            if fp is not None and len(params) == fp.n:  # the flat update (optim/flat.py)
                whole = True  # every gradient is its view of the flat gradient fp.grad
                for p, v, q in zip(params, fp.views, fp.grad_views):  # noqa: B905 (n checked)
                    if p.data is not v:
                        break
                    g = p._grad
                    if g is not q and (type(g) is _ARRAY or g is None or g.data is not q):
                        whole = False
                else:
                    if whole:  # every gradient is its view of fp.grad: one call for the group
                        update = fp.grad_update
                        if update is not None:
                            update(-lr)
                        else:
                            multiply(fp.grad, scalars[fp.dtype][lr], fp.scratch)
                    else:  # each gradient into its view of fp.scratch (exactly, or g·lr)
                        update = fp.scratch_update
                        c = scalars[fp.dtype][lr]
                        for p, s in zip(params, fp.scratch_views):  # noqa: B905 (as above)
                            g = p._grad
                            if type(g) is not _ARRAY:
                                if g is None:  # no gradient: p − 0 is p, to the bit (no bump)
                                    s.fill(0)
                                    continue
                                g = g.data
                            if update is not None:
                                copyto(s, g)
                            else:
                                multiply(g, c, s)
                        if update is not None:
                            update(-lr)
                    if update is None:
                        subtract(fp.data, fp.scratch, fp.data)
                    for p in params:
                        if p._grad is not None:
                            vc = p._vc
                            vc[0] += 1
                            vc[1] = stamp
                    continue
            c = dt = None
            for p in params:
                g = p._grad  # the bare array backward stored (see Tensor.grad), a Tensor, None
                if type(g) is not _ARRAY:
                    if g is None:
                        continue
                    g = g.data
                d = p.data
                if d.dtype is not dt:
                    dt = d.dtype
                    c = scalars[dt][lr]
                if not axpy(d, g, -lr):  # p += (−lr)·g: one pass, one rounding (engine.blas)
                    if g.nbytes < _BIG:
                        d -= g * c
                    else:
                        prod = self._scratch(g)
                        np.multiply(g, c, prod)
                        d -= prod
                vc = p._vc
                vc[0] += 1
                vc[1] = stamp
            d = g = None  # (the last array is not to count as held: see flat.rehome)
            self._replan(group, fp is not None)
        return loss

    def _replan(self, group: dict, stale: bool) -> None:
        """After a parameter-by-parameter update: try to move the group's arrays into a flat
        one (``optim/flat.py``) — at once if the group's flat array no longer holds them
        (``stale``: replaced arrays, e.g. by ``model.double()``), else after 1, 2, 4, ...,
        1024 steps since the last try that failed (something held an array: a graph kept
        alive, a ``numpy()``; a try reads every array's reference count)."""
        tries = self.__dict__.setdefault("_flat_tries", {})
        t = tries.get(id(group))
        if t is None or stale:
            t = tries[id(group)] = [0, 1]  # [steps until the next try, the wait after a failure]
        if t[0] > 0:
            t[0] -= 1
            return
        flats = self.__dict__.setdefault("_flats", {})
        flats.pop(id(group), None)
        new = rehome(group["params"], _FLAT)
        if new is None:
            t[1] = t[0] = min(2 * t[1], 1024)
        else:
            flats[id(group)] = new
            t[:] = [0, 1]

    def _update(self, group: dict) -> None:
        """PyTorch's algorithm (the module docstring) for one group with momentum or decay."""
        lr = group["lr"]
        if isinstance(lr, Tensor):  # a scheduler (or the user) may set a Tensor, as torch's
            lr = lr.item()
        momentum = group["momentum"]
        weight_decay = group["weight_decay"]
        maximize = group["maximize"]
        dampening = group["dampening"]
        nesterov = group["nesterov"]
        state = self.state
        for p in group["params"]:
            g = p.grad
            if g is None:
                continue
            d = p.data
            grad = -g.data if maximize else g.data
            if weight_decay != 0:
                grad = grad + weight_decay * d
            if momentum != 0:
                st = state[p]
                buf = st.get("momentum_buffer")
                if buf is None:
                    buf = st["momentum_buffer"] = Tensor._make(np.array(grad, copy=True),
                                                               None, False)
                else:
                    b = buf.data
                    b *= momentum
                    b += (1 - dampening) * grad
                grad = grad + momentum * buf.data if nesterov else buf.data
            d -= lr * grad
            p._bump_version()
