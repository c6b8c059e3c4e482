"""``backward`` and ``grad``: the public entry points of the engine (engine/backward.py)."""

from __future__ import annotations

import numpy as np

from ..engine import backward as _engine
from ..tensor import Tensor


def _root_grads(outputs, grad_outputs, create_graph):
    grads = []
    for i, t in enumerate(outputs):
        if not isinstance(t, Tensor):
            raise TypeError(f"outputs must be Tensors, got {type(t).__name__} at index {i}")
        if not t.requires_grad:
            raise RuntimeError(f"element {i} of tensors does not require grad and does not have a "
                               "grad_fn")
        g = None if grad_outputs is None else grad_outputs[i]
        if g is None:
            if t.data.size != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs "
                                   f"(got an output of shape {list(t.shape)}; pass gradient=)")
            g = np.ones_like(t.data)
        else:
            if not isinstance(g, Tensor):
                g = Tensor(g, dtype=t.dtype)
            if g.shape != t.shape:
                raise RuntimeError(f"Mismatch in shape: grad_output[{i}] has a shape of "
                                   f"{list(g.shape)} and output[{i}] has a shape of "
                                   f"{list(t.shape)}.")
            if create_graph:
                grads.append(g)
                continue
            g = g.data
        grads.append(Tensor._make(g, None, False) if create_graph else g)
    return grads


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph: bool = False,
             inputs=None) -> None:
    """Accumulate the gradients of ``tensors`` into the ``.grad`` of the graph's leaves."""
    if isinstance(tensors, Tensor):
        tensors = (tensors,)
    if isinstance(grad_tensors, Tensor):
        grad_tensors = (grad_tensors,)
    if inputs is not None:
        inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
        grads = grad(tensors, inputs, grad_tensors, retain_graph, create_graph, allow_unused=True)
        from ..engine.backward import _accumulate

        for t, g in zip(inputs, grads, strict=True):
            if g is not None:
                _accumulate(t, g if create_graph else g.data.copy(), create_graph)
        return
    retain = create_graph if retain_graph is None else retain_graph
    roots = tuple(tensors)
    _engine.run(roots, _root_grads(roots, grad_tensors, create_graph), retain_graph=retain,
                create_graph=create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph: bool = False,
         allow_unused: bool | None = None, materialize_grads: bool = False):
    """Return d(outputs)/d(inputs) · grad_outputs as a tuple of Tensors (``.grad`` untouched)."""
    outputs = (outputs,) if isinstance(outputs, Tensor) else tuple(outputs)
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    if isinstance(grad_outputs, Tensor):
        grad_outputs = (grad_outputs,)
    if grad_outputs is not None and len(grad_outputs) != len(outputs):
        raise RuntimeError(f"grad requires one grad_output per output: got {len(grad_outputs)} "
                           f"for {len(outputs)} outputs")
    for i, t in enumerate(inputs):
        if not isinstance(t, Tensor) or not t.requires_grad:
            raise RuntimeError(
                f"One of the differentiated Tensors (index {i}) does not require grad")
    retain = create_graph if retain_graph is None else retain_graph
    got = _engine.run(outputs, _root_grads(outputs, grad_outputs, create_graph),
                      retain_graph=retain, create_graph=create_graph, capture=inputs)
    result = []
    for i, (t, g) in enumerate(zip(inputs, got, strict=True)):
        if g is None:
            if materialize_grads:
                result.append(Tensor._make(np.zeros_like(t.data), None, False))
                continue
            if not allow_unused:
                raise RuntimeError(
                    f"One of the differentiated Tensors (index {i}) appears to not have been used "
                    "in the graph. Set allow_unused=True if this is the desired behavior.")
            result.append(None)
        elif isinstance(g, Tensor):
            result.append(g)
        else:
            g = np.array(g, dtype=t.data.dtype)  # own copy, input's shape already
            result.append(Tensor._make(g, None, False))
    return tuple(result)
