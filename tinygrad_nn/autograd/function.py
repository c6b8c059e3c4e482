"""``Function``: PyTorch's interface for custom differentiable ops.

    class Exp(Function):
        @staticmethod
        def forward(ctx, x):              # Tensors in, Tensors out (not recorded)
            y = x.exp()
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, grad_out):      # one gradient per forward input (None if not needed)
            (y,) = ctx.saved_tensors
            return grad_out * y

    y = Exp.apply(x)

``apply`` runs ``forward`` with grad mode off and records one node, a ``FunctionNode``, whose
``backward`` calls the user's static ``backward`` with Tensors (recorded under create_graph).
"""

from __future__ import annotations

import traceback
import weakref

import numpy as np

from ..engine import anomaly
from ..engine.grad_mode import mode, no_grad
from ..engine.node import Op, _seq, clock
from ..tensor import Tensor


class FunctionCtx:
    """The ``ctx`` of a custom Function: saved tensors, needs_input_grad, and free attributes."""

    def save_for_backward(self, *tensors) -> None:
        for t in tensors:
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(f"save_for_backward can only save Tensors (or None), got "
                                f"{type(t).__name__}")
        self._saved = tensors

    @property
    def saved_tensors(self) -> tuple:
        if getattr(self, "_freed", False):
            from ..engine.node import FREED

            raise RuntimeError(FREED)
        saved = getattr(self, "_saved", ())
        output = getattr(self, "_output", None)  # (forward's result, weakref to its node)
        if output is not None and output[1]() is not None:
            # a saved output comes back attached to its node, so that differentiating backward
            # again (create_graph) reaches the inputs through it, as PyTorch's SavedVariable does
            out, node = output[0], output[1]()
            saved = tuple(_attached(t, node) if t is out else t for t in saved)
        return saved

    def mark_non_differentiable(self, *tensors) -> None:
        self._non_diff = {id(t) for t in tensors}

    def set_materialize_grads(self, value: bool) -> None:
        self._materialize = value


def _expands_to(shape, target) -> bool:
    """Whether ``shape`` broadcasts to ``target`` (then the engine sums the gradient back)."""
    try:
        return np.broadcast_shapes(shape, target) == tuple(target)
    except ValueError:
        return False


def _attached(out: Tensor, node) -> Tensor:
    t = Tensor._make(out.data, node, True)
    t._vc = out._vc
    return t


class FunctionNode(Op):
    """The graph node of one call of a custom Function."""

    def __init__(self, fn, ctx):
        self.fn, self.ctx = fn, ctx

    def name(self) -> str:
        return self.fn.__name__ + "Backward"

    def backward(self, g):
        if isinstance(g, Tensor):  # create_graph: the engine runs this with grad mode on
            grads = self.fn.backward(self.ctx, g)
        else:  # as PyTorch, a backward without create_graph runs with grad mode off
            with no_grad():
                grads = self.fn.backward(self.ctx, Tensor._make(g, None, False))
        if not isinstance(grads, tuple):
            grads = (grads,)
        n_in = len(self.parents)
        if len(grads) < n_in or any(gi is not None for gi in grads[n_in:]):
            raise RuntimeError(f"function {self.name()} returned an incorrect number of gradients "
                               f"(expected {len(self.parents)}, got {len(grads)})")
        out = []
        for p, gi in zip(self.parents, grads, strict=False):  # extra Nones
            if gi is None or not isinstance(p, Tensor):
                out.append(None)
                continue
            if not isinstance(gi, Tensor):
                gi = Tensor(gi, dtype=p.dtype)
            if gi.shape != p.shape and not _expands_to(p.shape, gi.shape):
                raise RuntimeError(f"Function {self.name()} returned an invalid gradient - got "
                                   f"{list(gi.shape)} but expected shape compatible with "
                                   f"{list(p.shape)}")
            out.append(gi if isinstance(g, Tensor) else gi.data)
        return tuple(out)

    def saved_vcs(self):
        return [t._vc for t in getattr(self.ctx, "_saved", ()) if t is not None]

    def release(self) -> None:
        self.ctx._saved = ()
        self.ctx._output = None
        self.ctx._freed = True
        super().release()


class Function:
    """Base class for custom ops: define static ``forward(ctx, ...)`` and ``backward(ctx, ...)``."""

    @staticmethod
    def forward(ctx, *args, **kwargs):
        raise NotImplementedError("You must implement the forward function for custom Function.")

    @staticmethod
    def backward(ctx, *grad_outputs):
        raise NotImplementedError("You must implement the backward function for custom Function.")

    @classmethod
    def apply(cls, *args, **kwargs):
        ctx = FunctionCtx()
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        prev = mode.enabled
        mode.enabled = False
        try:
            out = cls.forward(ctx, *args, **kwargs)
        finally:
            mode.enabled = prev
        if not (prev and any(ctx.needs_input_grad)):
            return out
        if not isinstance(out, Tensor):
            raise TypeError(f"{cls.__name__}.forward must return a Tensor (tuples of outputs are "
                            f"not supported by tinygrad_nn), got {type(out).__name__}")
        node = FunctionNode(cls, ctx)
        node.parents = args
        node.arrays = tuple(a.data if isinstance(a, Tensor) else a for a in args)
        node.seq = next(_seq)
        node.edges = [(a.grad_fn or a) if isinstance(a, Tensor) and a.requires_grad else None
                      for a in args]
        node.needs_input_grad = list(ctx.needs_input_grad)
        node.epoch = clock[0]
        if anomaly.enabled:  # the caller's stack, up to the line that called apply
            node._trace = traceback.format_stack()[:-1]
        res = Tensor._make(out.data, node, True)
        res._vc = out._vc
        if any(t is out for t in getattr(ctx, "_saved", ())):
            ctx._output = (out, weakref.ref(node))  # weak: no cycle node -> ctx -> node
        return res
