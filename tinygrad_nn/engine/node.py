"""Graph nodes: ``Op``, the base class of every differentiable operation.

An op is a small class with ``forward(self, *arrays, **params) -> ndarray`` and
``backward(self, grad) -> tuple`` (one gradient, or ``None``, per input). ``Op.apply`` runs
``forward`` on the inputs' NumPy arrays and, when grad mode is on and an input requires grad,
keeps the op instance as the output's ``grad_fn``: the node of the graph. (The ops of the
training steps' hot paths, ``ops.mlp.MLP`` and the costs ``ops.loss.SquaredError`` and
``ops.loss.SoftmaxCrossEntropy``, also have a ``call`` classmethod that does the same in one pass
with their forward, and a cost over an MLP has a ``backward_root`` that runs ``loss.backward()``
of the pair in one call when the engine's loop would do no more.)
The node then holds

- ``parents``: the inputs as given (Tensors, or constants such as a Python scalar);
- ``arrays``: the inputs as forward saw them (NumPy arrays, or the constants);
- ``edges``: per input, where its gradient goes: the parent's ``grad_fn``, the parent itself if it
  is a leaf that requires grad, or ``None`` (no gradient needed);
- ``needs_input_grad``: per input, ``edges[i] is not None`` (backward skips the rest);
- ``epoch``: the in-place clock at creation (-1 once the node is freed: it then fails the same
  check, and ``check_saved`` raises). Every in-place change of a tensor ticks the global clock
  and stamps the tensor's version counter (``_vc = [version, stamp]``, shared by views).
  Backward compares: if the clock has not moved since the node was made, nothing it saved can
  have changed (one int comparison); otherwise it checks the stamps of the tensors it reads
  (``saves``: their input indices; ``saves_out``: it reads its own output ``self.out``), so an
  in-place change after the forward raises instead of giving a wrong gradient.

``backward`` is written once for two modes. Normally ``grad`` is a NumPy array and the rule
reads ``self.arrays`` / ``self.out``. Under ``create_graph=True`` ``grad`` is a Tensor,
``self.inputs(grad)`` returns the parent Tensors, and ``xp(grad)`` is a namespace of tracked
Tensor functions with NumPy's names (``exp``, ``where``, ``broadcast_to``, ...), so the same rule
builds a graph of its own and can be differentiated again. Broadcasting is undone by the engine,
not by ops: a rule may return a gradient of the broadcast shape (unless the op declares
``exact_grads``, which lets the engine skip the shape and dtype checks on the hot path, and
``fresh_grads``: every gradient is a new array of its own, which a leaf may keep as is).
"""

from __future__ import annotations

import itertools

import numpy as np

from .grad_mode import mode

_seq = itertools.count()  # creation order of nodes: backward runs in decreasing order
clock = [0]  # the in-place clock: ticks on every in-place change of any tensor

FREED = (
    "Trying to backward through the graph a second time (or directly access saved tensors after "
    "they have already been freed). Saved intermediate values of the graph are freed when you call "
    ".backward() or autograd.grad(). Specify retain_graph=True if you need to backward through the "
    "graph a second time or if you need to access saved tensors after calling backward."
)


def bump(vc: list) -> None:
    """Record an in-place change of the tensor(s) sharing version counter ``vc``."""
    clock[0] += 1
    vc[0] += 1
    vc[1] = clock[0]


class Op:
    saves: tuple[int, ...] = ()  # indices of inputs whose values backward reads
    # saved input index -> the inputs whose gradients read it (an index not here: always read).
    # A saved input no gradient needs is not version-checked (PyTorch saves only what backward
    # will read: Linear's weight only when its input needs a gradient).
    saved_for: dict[int, tuple[int, ...]] = {}
    saves_out: bool = False  # backward reads self.out (the forward's result)
    exact_grads: bool = False  # backward's gradients already have the inputs' shapes and dtypes
    fresh_grads: bool = False  # NumPy-mode gradients are new arrays (not g, no views, unshared)
    _trace: list | None = None  # forward traceback, recorded under detect_anomaly
    # ``backward_root(retain_graph) -> bool``: all of ``loss.backward()`` in one call, for a root
    # node that can run it fused with its producer's rules (a cost of ops/loss.py over an MLP);
    # False when it cannot (the engine's loop runs instead). None: the loop always runs.
    backward_root = None
    _retained = None  # weakref to the output Tensor that called retain_grad()
    # version counters of tensors backward reads that are not inputs (an index tensor of
    # x[idx], the condition of where): set on the node by the Tensor method that made it
    saved_extra: tuple = ()

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
        try:
            if not (record and mode.enabled):
                return _make(node.forward(*arrays, **params), None, False)
            node.needs_input_grad = needs
            out = node.forward(*arrays, **params)
        except ValueError as e:  # NumPy's broadcast error: PyTorch's RuntimeError
            if "broadcast" not in str(e):
                raise
            raise broadcast_error([*arrays, *params.values()], cls.core_dims) from None
        node.parents = inputs
        node.arrays = arrays
        node.edges = edges
        return node._result(out)

    def _result(self, out: np.ndarray) -> Tensor:
        """The result Tensor of this node, once ``parents``, ``arrays``, ``edges`` and
        ``needs_input_grad`` are set: number the node, stamp the clock, keep ``out`` if backward
        reads it. (``MLP.call`` and ``SquaredError.call`` do this inline: a call less per step;
        a change here belongs there too.)"""
        self.seq = next(_seq)
        self.epoch = clock[0]
        result = _make(out, self, True)
        if self.saves_out:
            self.out = result.data
            self.out_vc = result._vc
        if anomaly.enabled:
            anomaly.record(self)
        return result

    # -- used by backward rules -------------------------------------------------------------
    def inputs(self, grad):
        """The inputs to differentiate with: arrays normally, parent Tensors under create_graph."""
        return self.parents if isinstance(grad, Tensor) else self.arrays

    # -- used by the engine -----------------------------------------------------------------
    def __lt__(self, other: Op) -> bool:
        """Heap order of the backward pass: the node created last comes first."""
        return self.seq > other.seq

    def name(self) -> str:
        """PyTorch's name for this node, e.g. ``MulBackward0``."""
        return type(self).__name__ + "Backward0"

    def __repr__(self) -> str:
        return f"<{self.name()} object at {hex(id(self))}>"

    @property
    def next_functions(self):
        """PyTorch-style view of the edges: ((node_or_leaf, 0), ...)."""
        return tuple((e, 0) for e in self.__dict__.get("edges", ()))

    def saved_vcs(self):
        """Version counters of everything backward reads (saved inputs, and the output)."""
        vcs = []
        need = None
        for i, p in enumerate(self.parents):
            if i in self.saves and isinstance(p, Tensor):
                users = self.saved_for.get(i)
                if users is not None:
                    need = self.needs_input_grad if need is None else need
                    if not any(need[j] for j in users if j < len(need)):
                        continue  # read by no gradient this node computes
                vcs.append(p._vc)
        if self.saves_out:
            vcs.append(self.out_vc)
        vcs.extend(self.saved_extra)
        return vcs

    def check_saved(self) -> None:
        """Raise PyTorch's error if a tensor that backward reads was modified in place since the
        forward, or if the node was freed by an earlier backward (the engine calls this when
        ``epoch`` is not the clock's value: a freed node's is -1)."""
        if self.freed:
            raise RuntimeError(FREED)
        for vc in self.saved_vcs():
            if vc[1] > self.epoch:
                raise RuntimeError(
                    "one of the variables needed for gradient computation has been modified by an "
                    f"inplace operation: a tensor saved by {self.name()} is at version {vc[0]}, "
                    "changed after the forward pass that saved it. Hint: avoid modifying tensors "
                    "in place (add_, mul_, +=, ...) between the forward pass and backward, or "
                    "clone them first."
                )

    def release(self) -> None:
        """Drop everything saved for backward (the graph is freed after a backward pass)."""
        d = self.__dict__
        seq = d["seq"]  # (a node in a graph was numbered by _result; the engine never frees twice)
        d.clear()
        d["freed"] = True
        d["seq"] = seq  # still orders the heap if a later backward reaches this node (and raises)

    core_dims = 0  # trailing dims of each input that are not broadcast (matmul's: 2)
    freed = False
    epoch = -1  # the clock when recorded (set by _result); -1 once freed


def broadcast_error(operands: list, core: int = 0) -> RuntimeError:
    """PyTorch's error for arrays whose shapes do not broadcast (the last dim where two differ,
    numbered in the broadcast result; ``core`` trailing dims of each are not broadcast)."""
    shapes = [a.shape[: max(a.ndim - core, 0)] for a in operands if isinstance(a, np.ndarray)]
    for i, a in enumerate(shapes):
        for b in shapes[i + 1:]:
            n = max(len(a), len(b))
            for d in range(1, n + 1):
                sa = a[-d] if d <= len(a) else 1
                sb = b[-d] if d <= len(b) else 1
                if sa != sb and sa != 1 and sb != 1:
                    return RuntimeError(f"The size of tensor a ({sa}) must match the size of "
                                        f"tensor b ({sb}) at non-singleton dimension {n - d}")
    return RuntimeError(f"shapes {[list(s) for s in shapes]} cannot be broadcast together")


def xp(grad):
    """The array namespace for a backward rule: NumPy, or tracked Tensor functions."""
    return tensor_namespace if isinstance(grad, Tensor) else np


_new = object.__new__
# Filled in by tinygrad_nn.tensor at import time (it imports this module first).
Tensor = None  # type: ignore[assignment]
_make = None  # Tensor._make
tensor_namespace = None
from . import anomaly  # noqa: E402
