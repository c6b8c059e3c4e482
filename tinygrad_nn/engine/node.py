"""Graph nodes: ``Op``, the base class of every differentiable operation.

An op is a small class with ``forward(self, *arrays, **params) -> ndarray`` and
``backward(self, grad) -> tuple`` (one gradient, or ``None``, per input). ``Op.apply`` runs
``forward`` on the inputs' NumPy arrays and, when grad mode is on and an input requires grad,
keeps the op instance as the output's ``grad_fn``: the node of the graph. The node then holds

- ``parents``: the inputs as given (Tensors, or constants such as a Python scalar);
- ``arrays``: the inputs as forward saw them (NumPy arrays, or the constants);
- ``edges``: per input, where its gradient goes: the parent's ``grad_fn``, the parent itself if it
  is a leaf that requires grad, or ``None`` (no gradient needed);
- ``needs_input_grad``: per input, ``edges[i] is not None`` (backward skips the rest);
- the versions of the tensors whose values backward reads (``saves`` lists their input indices;
  ``saves_out`` marks ops whose backward reads their own output ``self.out``), so that an in-place
  change after the forward is detected instead of giving a wrong gradient.

``backward`` is written once for two modes. Normally ``grad`` is a NumPy array and the rule reads
``self.arrays`` / ``self.out``. Under ``create_graph=True`` ``grad`` is a Tensor, ``self.inputs(grad)``
returns the parent Tensors, and ``xp(grad)`` is a namespace of tracked Tensor functions with
NumPy's names (``exp``, ``where``, ``broadcast_to``, ...), so the same rule builds a graph of its own
and can be differentiated again. Broadcasting is undone by the engine, not by ops: a rule may
return a gradient of the broadcast shape.
"""

from __future__ import annotations

import itertools

import numpy as np

from .grad_mode import mode

_seq = itertools.count()  # creation order of nodes: backward runs in decreasing order


class Op:
    saves: tuple[int, ...] = ()  # indices of inputs whose values backward reads
    saves_out: bool = False  # backward reads self.out (the forward's result)
    _versions: tuple = ()
    _trace: list | None = None  # forward traceback, recorded under detect_anomaly
    _retained = None  # weakref to the output Tensor that called retain_grad()

    def forward(self, *args, **params):  # pragma: no cover - every op defines it
        raise NotImplementedError

    def backward(self, grad):  # pragma: no cover - every op defines it
        raise NotImplementedError

    @classmethod
    def apply(cls, *inputs, **params):
        """Run ``forward`` on the inputs' arrays; record a node if a gradient will be needed."""
        arrays = []
        edges = []
        needs = []
        record = False
        for x in inputs:
            if isinstance(x, Tensor):
                arrays.append(x.data)
                if x.requires_grad:
                    record = True
                    edges.append(x.grad_fn or x)
                    needs.append(True)
                    continue
            else:
                arrays.append(x)
            edges.append(None)
            needs.append(False)
        node = _new(cls)
        if not (record and mode.enabled):
            return _make(node.forward(*arrays, **params), None, False)
        node.needs_input_grad = needs
        out = node.forward(*arrays, **params)
        node.parents = inputs
        node.arrays = arrays
        node.edges = edges
        node.seq = next(_seq)
        if cls.saves:
            node._versions = [(inputs[i]._vc, inputs[i]._vc[0]) for i in cls.saves
                              if isinstance(inputs[i], Tensor)]
        result = _make(out, node, True)
        if node.saves_out:
            node.out = result.data
            node._versions = [*node._versions, (result._vc, 0)]
        if anomaly.enabled:
            anomaly.record(node)
        return result

    # -- used by backward rules -------------------------------------------------------------
    def inputs(self, grad):
        """The inputs to differentiate with: arrays normally, parent Tensors under create_graph."""
        return self.parents if isinstance(grad, Tensor) else self.arrays

    # -- used by the engine -----------------------------------------------------------------
    def name(self) -> str:
        """PyTorch's name for this node, e.g. ``MulBackward0``."""
        return type(self).__name__ + "Backward0"

    def __repr__(self) -> str:
        return f"<{self.name()} object at {hex(id(self))}>"

    @property
    def next_functions(self):
        """PyTorch-style view of the edges: ((node_or_leaf, 0), ...)."""
        return tuple((e, 0) for e in self.__dict__.get("edges", ()))

    def version_error(self, vc, v):
        """Raise PyTorch's error for a saved tensor that was modified in place after forward."""
        raise RuntimeError(
            "one of the variables needed for gradient computation has been modified by an "
            f"inplace operation: a tensor saved by {self.name()} is at version {vc[0]}; expected "
            f"version {v} instead. Hint: avoid modifying tensors in place (add_, mul_, +=, ...) "
            "between the forward pass and backward, or clone them first."
        )

    def release(self) -> None:
        """Drop everything saved for backward (the graph is freed after a backward pass)."""
        d = self.__dict__
        d.clear()
        d["freed"] = True

    freed = False


def xp(grad):
    """The array namespace for a backward rule: NumPy, or tracked Tensor functions."""
    return tensor_namespace if isinstance(grad, Tensor) else np


_new = object.__new__
# Filled in by tinygrad_nn.tensor at import time (it imports this module first).
Tensor = None  # type: ignore[assignment]
_make = None  # Tensor._make
tensor_namespace = None
from . import anomaly  # noqa: E402
