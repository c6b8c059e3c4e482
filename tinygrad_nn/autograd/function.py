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

``apply`` runs ``forward`` with grad mode off and records one node, an ``ExpBackward`` (a
subclass of ``FunctionNode`` made per Function), whose ``backward`` calls the user's static
``backward`` with Tensors (recorded under create_graph).

A forward may return a tuple: then ``backward(ctx, *grads)`` gets one gradient per element, in
order (zeros of the output's shape for an output that received none, unless
``ctx.set_materialize_grads(False)``: then None; always None for an element that is not a
Tensor). The engine hands a node the gradient of its one output, so each Tensor in the tuple
gets a node of its own, a ``FunctionOutput`` with one edge to the Function's node, whose backward
passes the gradient on in its slot of an ``OutputGrads``; the engine sums those as it sums any
two gradients of one node (``+``, slot by slot), and the Function's node is created before them,
so it runs after all of them. (PyTorch's outputs share one ``grad_fn``: here ``y1.grad_fn`` and
``y2.grad_fn`` are the two outputs' nodes; both are named after the Function.)
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
        outputs = getattr(self, "_outputs", None)  # [(forward's result, weakref to its node)]
        if outputs:
            # a saved output comes back attached to its node, so that differentiating backward
            # again (create_graph) reaches the inputs through it, as PyTorch's SavedVariable does
            attached = []
            for t in saved:
                for out, ref in outputs:
                    node = ref()
                    if t is out and node is not None:
                        t = _attached(out, node)
                        break
                attached.append(t)
            saved = tuple(attached)
        return saved

    def mark_non_differentiable(self, *tensors) -> None:
        """Outputs that get no gradient: returned as tensors that do not require grad (their
        gradient in backward is zeros, or None without materialized gradients)."""
        self._non_diff = {id(t) for t in tensors}

    def set_materialize_grads(self, value: bool) -> None:
        """Whether backward gets zeros (True, the default) or None for an output that received
        no gradient (only a forward returning a tuple can have one)."""
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


class OutputGrads:
    """The gradients of a tuple-returning Function's outputs so far, by position (None: none
    yet). ``+`` merges two, slot by slot: the engine sums what the outputs' nodes pass on."""

    __slots__ = ("grads",)

    def __init__(self, grads: list) -> None:
        self.grads = grads

    def __add__(self, other: OutputGrads) -> OutputGrads:
        return OutputGrads([b if a is None else a if b is None else a + b
                            for a, b in zip(self.grads, other.grads, strict=True)])


class FunctionOutput(Op):
    """The node of output ``k`` (of ``n``) of a tuple-returning Function: hands its gradient to
    the Function's node, its one edge, in slot ``k`` of an ``OutputGrads``."""

    exact_grads = True  # (the engine's shape and dtype checks do not apply to OutputGrads)
    fn = None  # the Function (a class attribute of the per-Function subclass: survives release)

    def backward(self, g):
        grads = [None] * self.n
        grads[self.k] = g
        return (OutputGrads(grads),)

    def name(self) -> str:
        return self.fn.__name__ + "Backward"


class FunctionNode(Op):
    """The graph node of one call of a custom Function (subclassed per Function as
    ``<Name>Backward``, PyTorch's name, by ``_node_types``)."""

    fn = None  # the Function (a class attribute of the subclass: survives release)
    outputs = None  # tuple forward: per element, (shape, dtype) of a Tensor, else None

    def __init__(self, ctx):
        self.ctx = ctx

    def name(self) -> str:
        return self.fn.__name__ + "Backward"

    def backward(self, g):
        if type(g) is OutputGrads:  # a tuple forward: one gradient per element
            grads = self._output_grads(g.grads)
            create_graph = any(isinstance(gi, Tensor) for gi in grads)
        else:
            grads = (g,)
            create_graph = isinstance(g, Tensor)
        if create_graph:  # the engine runs this with grad mode on
            grads = self.fn.backward(self.ctx, *grads)
        else:  # as PyTorch, a backward without create_graph runs with grad mode off
            with no_grad():
                grads = self.fn.backward(self.ctx, *(
                    None if gi is None else Tensor._make(gi, None, False) for gi in grads))
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
            out.append(gi if create_graph else gi.data)
        return tuple(out)

    def _output_grads(self, grads: list) -> list:
        """The gradients of a tuple forward's elements: zeros where a Tensor got none (unless
        the ctx turned materializing off), None for an element that is not a Tensor."""
        if not getattr(self.ctx, "_materialize", True):
            return grads
        tracked = any(isinstance(gi, Tensor) for gi in grads)
        out = []
        for gi, meta in zip(grads, self.outputs, strict=True):
            if gi is None and meta is not None:
                gi = np.zeros(*meta)
                if tracked:  # create_graph: every gradient is a Tensor
                    gi = Tensor._make(gi, None, False)
            out.append(gi)
        return out

    def saved_vcs(self):
        return [t._vc for t in getattr(self.ctx, "_saved", ()) if t is not None]

    def release(self) -> None:
        self.ctx._saved = ()
        self.ctx._outputs = None
        self.ctx._freed = True
        super().release()


def _node_types(fn: type) -> tuple[type[FunctionNode], type[FunctionOutput]]:
    """The node classes of Function ``fn``, named ``<fn>Backward`` as PyTorch's (made once)."""
    types = fn.__dict__.get("_node_types")
    if types is None:
        name = fn.__name__ + "Backward"
        types = (type(name, (FunctionNode,), {"fn": fn, "__module__": fn.__module__}),
                 type(name, (FunctionOutput,), {"fn": fn, "__module__": fn.__module__}))
        fn._node_types = types  # (a class attribute: per subclass, as fn.__dict__ reads it)
    return types


class Function:
    """Base class for custom ops: define static ``forward(ctx, ...)`` and ``backward(ctx, ...)``.

    ``forward`` returns a Tensor, or a tuple (of Tensors and other values); ``backward`` then
    takes one gradient per element of it and returns one per input of forward (None for an
    input that needs none, or that is not a Tensor)."""

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
        multi = type(out) is tuple
        if not (multi or isinstance(out, Tensor)):
            raise TypeError(f"{cls.__name__}.forward must return a Tensor or a tuple, got "
                            f"{type(out).__name__}")
        node_type, output_type = _node_types(cls)
        node = node_type(ctx)
        node.parents = args
        node.arrays = tuple(a.data if isinstance(a, Tensor) else a for a in args)
        node.seq = next(_seq)  # before the outputs' nodes: backward runs it after them
        node.edges = [(a.grad_fn or a) if isinstance(a, Tensor) and a.requires_grad else None
                      for a in args]
        node.needs_input_grad = list(ctx.needs_input_grad)
        node.epoch = clock[0]
        if anomaly.enabled:  # the caller's stack, up to the line that called apply
            node._trace = traceback.format_stack()[:-1]
        non_diff = getattr(ctx, "_non_diff", ())
        saved = getattr(ctx, "_saved", ())
        outputs = []  # (output, weakref to its node) for saved outputs
        if not multi:
            if id(out) in non_diff:
                return _detached(out)
            res = _attached(out, node)
            if any(t is out for t in saved):
                outputs.append((out, weakref.ref(node)))  # weak: no cycle node -> ctx -> node
        else:
            node.outputs = tuple((o.shape, o.dtype) if isinstance(o, Tensor) else None
                                 for o in out)
            res = []
            for k, o in enumerate(out):
                if not isinstance(o, Tensor):
                    res.append(o)
                    continue
                if id(o) in non_diff:
                    res.append(_detached(o))
                    continue
                on = output_type()
                on.k, on.n = k, len(out)
                on.parents, on.arrays, on.edges = (None,), (None,), [node]
                on.needs_input_grad = [True]
                on.seq = next(_seq)
                on.epoch = clock[0]
                res.append(_attached(o, on))
                if any(t is o for t in saved):
                    outputs.append((o, weakref.ref(on)))
            res = tuple(res)
        if outputs:
            ctx._outputs = outputs
        return res


def _detached(out: Tensor) -> Tensor:
    """An output marked non-differentiable: the same data and versions, no gradient."""
    t = Tensor._make(out.data, None, False)
    t._vc = out._vc
    return t
