"""The backward pass: reverse topological order, computed iteratively.

1. ``_order``: walk the graph from the roots with an explicit stack (no recursion, so a chain of
   100,000 ops is fine) and count, for every node, how many edges from reachable nodes enter it.
2. ``run``: process nodes whose count has dropped to zero (all their consumers are done, so their
   gradient is complete): call the node's ``backward``, reduce each gradient to its input's shape
   (the one place where broadcasting is undone), hand it along its edge, and drop the node's own
   gradient as soon as it is consumed. Leaves accumulate into ``.grad``.

Cost is linear in the number of nodes and edges. Unless ``retain_graph``, every processed node
releases what it saved, so intermediate buffers die with the pass even if the output tensor lives.
"""

from __future__ import annotations

import numpy as np

from . import anomaly
from .grad_mode import mode
from .node import Op

FREED = (
    "Trying to backward through the graph a second time (or directly access saved tensors after "
    "they have already been freed). Saved intermediate values of the graph are freed when you call "
    ".backward() or autograd.grad(). Specify retain_graph=True if you need to backward through the "
    "graph a second time or if you need to access saved tensors after calling backward."
)


def _order(roots):
    """Dependency counts of every node reachable from ``roots`` (nodes only, not leaves)."""
    deps = {}
    stack = list(roots)
    for n in roots:
        deps[n] = 0
    while stack:
        node = stack.pop()
        if node.freed:
            raise RuntimeError(FREED)
        for e in node.edges:
            if isinstance(e, Op):
                if e in deps:
                    deps[e] += 1
                else:
                    deps[e] = 1
                    stack.append(e)
    return deps


def sum_to(g, shape):
    """Reduce a broadcast gradient to ``shape``: sum leading dims, then size-1 dims (keepdims)."""
    gshape = g.shape
    if gshape == shape:
        return g
    lead = len(gshape) - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and gshape[lead + i] != 1
    )
    if isinstance(g, np.ndarray) or np.isscalar(g):
        g = np.sum(g, axis=axes, keepdims=True) if axes else g
        return g.reshape(shape)
    g = g.sum(axes, keepdim=True) if axes else g
    return g.reshape(shape)


def run(roots, root_grads, *, retain_graph: bool, create_graph: bool, capture=None):
    """Backpropagate ``root_grads`` from the tensors ``roots``.

    With ``capture`` (a sequence of Tensors, for ``autograd.grad``) the gradients of those tensors
    are returned (``None`` where none arrived) and no ``.grad`` is touched; otherwise leaves
    accumulate into ``.grad``.
    """
    from ..tensor import Tensor

    results = [None] * len(capture) if capture is not None else None
    grads = {}  # node -> gradient of its output, summed over consumers
    leaf_grads = {}  # id(leaf) -> gradient  (Tensors are keyed by id: their == is elementwise)
    leaves = {}  # id(leaf) -> leaf
    start = []
    for t, g in zip(roots, root_grads):
        node = t.grad_fn
        if node is None:  # a leaf that requires grad
            leaves[id(t)] = t
            _add(leaf_grads, id(t), g)
        else:
            _add(grads, node, g)
            start.append(node)
    deps = _order(start)
    captured_nodes = {}  # node -> index into capture
    if capture is not None:
        for k, t in enumerate(capture):
            if t.grad_fn is not None:
                captured_nodes[t.grad_fn] = k
    ready = [n for n in dict.fromkeys(start) if deps[n] == 0]
    prev_mode = mode.enabled
    mode.enabled = create_graph
    try:
        while ready:
            node = ready.pop()
            g = grads.pop(node, None)
            if node._retained is not None and capture is None:
                _retain(node, g, create_graph)
            if node in captured_nodes:
                results[captured_nodes[node]] = g
            if node._versions:
                node.check_versions()
            edges = node.edges
            if g is None:  # no gradient reached this node (e.g. only through non-diff paths)
                in_grads = (None,) * len(edges)
            else:
                in_grads = node.backward(g)
                if anomaly.enabled:
                    anomaly.check(node, in_grads)
            parents = node.parents
            for i, e in enumerate(edges):
                if e is None:
                    continue
                gi = in_grads[i]
                if gi is not None:
                    p = parents[i]
                    pdata = p.data
                    if gi.shape != pdata.shape:
                        gi = sum_to(gi, pdata.shape)
                    if gi.dtype != pdata.dtype:
                        gi = gi.astype(pdata.dtype) if not isinstance(gi, Tensor) else gi.to(pdata.dtype)
                if isinstance(e, Op):
                    if gi is not None:
                        _add(grads, e, gi)
                    deps[e] -= 1
                    if deps[e] == 0:
                        ready.append(e)
                elif gi is not None:
                    leaves[id(e)] = e
                    _add(leaf_grads, id(e), gi)
            if not retain_graph:
                node.release()
    finally:
        mode.enabled = prev_mode
    if capture is not None:
        for k, t in enumerate(capture):
            if t.grad_fn is None:
                results[k] = leaf_grads.get(id(t))
        return results
    owned = set(map(id, root_grads))  # arrays already handed out: a second taker must copy
    for key, g in leaf_grads.items():
        if id(g) in owned:
            g = np.array(g, copy=True)
        owned.add(id(g))
        _accumulate(leaves[key], g, create_graph)


def _add(store, key, g):
    prev = store.get(key)
    store[key] = g if prev is None else prev + g


def _retain(node, g, create_graph):
    t = node._retained()
    if t is not None and g is not None:
        _accumulate(t, g, create_graph)


def _accumulate(t, g, create_graph):
    """``t.grad += g`` as PyTorch: a fresh, unaliased tensor the first time, in place after."""
    from ..tensor import Tensor

    if isinstance(g, Tensor):  # create_graph: the gradient keeps its own graph
        t.grad = g if t.grad is None else t.grad + g
        return
    if t.grad is None:
        if type(g) is not np.ndarray or g.base is not None or not g.flags.writeable:
            g = np.array(g, dtype=t.data.dtype)  # own the memory (g may be shared or a view)
        t.grad = Tensor._make(g, None, False)
    elif create_graph or t.grad.requires_grad:
        t.grad = t.grad + Tensor._make(g, None, False)
    else:
        np.add(t.grad.data, g, out=t.grad.data)
        t.grad._vc[0] += 1
