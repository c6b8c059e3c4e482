"""The backward pass: reverse topological order, computed iteratively.

Every node gets an increasing sequence number when it is created, and a node's inputs are always
created before it, so processing nodes in *decreasing* sequence number is a reverse topological
order (PyTorch's engine orders its ready queue the same way). The pass keeps a heap of the nodes
that have received a gradient; popping the newest one guarantees all of its consumers have already
added their contributions. So there is no separate sorting pass and no recursion (a chain of
100,000 ops is fine), the cost is linear in the graph's size (times a log of the heap's width),
and each node's gradient is dropped as soon as it is consumed.

For each node: ``backward`` gives one gradient per input; the engine reduces it to the input's
shape (the one place where broadcasting is undone, ``sum_to``) and dtype, and hands it along the
edge: to the producing node, or to a leaf's ``.grad``. Unless ``retain_graph``, every processed
node then releases what it saved, so intermediate buffers die with the pass even if the output
tensor lives on.
"""

from __future__ import annotations

from heapq import heapify, heappop, heappush

import numpy as np

from . import anomaly
from .grad_mode import enable_grad, mode, no_grad
from .node import bump, clock

_Tensor = None  # set by tinygrad_nn.tensor (import order: the engine comes first)
_make = None  # Tensor._make


def sum_to(g, shape):
    """Reduce a broadcast gradient to ``shape``: sum leading dims, then size-1 dims (keepdims)."""
    gshape = g.shape
    if gshape == shape:
        return g
    lead = len(gshape) - len(shape)
    axes = tuple(range(lead)) + tuple(
        lead + i for i, n in enumerate(shape) if n == 1 and gshape[lead + i] != 1
    )
    if isinstance(g, _Tensor):
        g = g.sum(axes, keepdim=True) if axes else g
    else:
        g = np.sum(g, axis=axes, keepdims=True) if axes else g
    return g.reshape(shape)


def run(roots, root_grads, retain_graph: bool | None, create_graph: bool, capture=None):
    """Backpropagate ``root_grads`` (arrays, or Tensors under create_graph) from ``roots``.

    With ``capture`` (a sequence of Tensors, for ``autograd.grad``) the gradients of those tensors
    are returned (``None`` where none arrived) and no ``.grad`` is touched; otherwise leaves
    accumulate into ``.grad``.

    Grad mode is left as it is, unless create_graph needs it on for the rules to record (NumPy-
    mode rules compute on arrays and record nothing whatever the mode; the two places that run
    Tensor code there, custom Functions' backward and accumulating into a ``.grad`` that requires
    grad, turn it off themselves, as PyTorch runs such a backward with grad mode off).
    """
    if create_graph and not mode.enabled:
        with enable_grad():
            return run(roots, root_grads, retain_graph, create_graph, capture)
    grads = {}  # node -> gradient of its output, summed over its consumers so far
    heap = []  # nodes, the newest first (Op.__lt__ compares creation numbers in reverse)
    leaf_grads = {}  # id(leaf) -> [leaf, gradient]  (by id: a Tensor's == is elementwise)
    # ``node``/``g``: the node processed next. A node whose consumers have all been processed
    # and that is the only one pending is taken next directly (no heap and dict round trip):
    # every node not yet processed is then one of its inputs, so none can still add to g.
    if len(roots) == 1 and roots[0].grad_fn is not None:  # loss.backward()
        node, g = roots[0].grad_fn, root_grads[0]
    else:
        for t, g in zip(roots, root_grads, strict=True):
            node = t.grad_fn
            if node is None:  # a leaf that requires grad
                _add_leaf(leaf_grads, t, g)
            elif node in grads:
                grads[node] = grads[node] + g
            else:
                grads[node] = g
                heap.append(node)
        heapify(heap)
        node = heappop(heap) if heap else None
        g = grads.pop(node) if node is not None else None
    captured = None  # node -> the indices into capture of its output (a tensor may repeat)
    if capture is not None:
        captured = {}
        for k, t in enumerate(capture):
            if t.grad_fn is not None:
                captured.setdefault(t.grad_fn, []).append(k)
        results = [None] * len(capture)
    check_nan = anomaly.enabled
    # leaves may keep fresh arrays as they are (NumPy mode, not capturing; see _to_leaf)
    keep_fresh = not create_graph and capture is None
    while node is not None:
        if node.epoch != clock[0]:  # freed (epoch -1), or something was modified in place
            node.check_saved()  # since the forward: raises if it was a tensor node reads
        if node._retained is not None and capture is None:
            _retain(node, g, create_graph)
        if captured and node in captured:
            for k in captured[node]:
                results[k] = g
        in_grads = node.backward(g)
        if check_nan:
            anomaly.check(node, in_grads)
        if not node.exact_grads:  # undo broadcasting, restore the inputs' dtypes
            in_grads = _fit(node, in_grads, create_graph)
        keep = keep_fresh and node.fresh_grads
        nxt = nxt_g = None
        # (no strict=: a keyword argument makes zip a slow call, and rules may return fewer)
        for e, gi in zip(node.edges, in_grads):  # noqa: B905
            if gi is None or e is None:
                continue
            if isinstance(e, _Tensor):  # a leaf
                if keep and e._grad is None:  # a fresh array: the leaf owns it (wrapped
                    e._grad = gi  # into a Tensor when ``.grad`` is read)
                else:
                    _to_leaf(e, gi, g, leaf_grads if capture is not None else None,
                             create_graph)
            elif e is nxt:
                nxt_g = nxt_g + gi
            elif e in grads:
                grads[e] = grads[e] + gi
            elif nxt is None:
                nxt, nxt_g = e, gi
            else:
                grads[e] = gi
                heappush(heap, e)
        if not retain_graph:
            node.release()
        if nxt is not None:
            if not heap:  # the only pending node: next, directly
                node, g = nxt, nxt_g
                continue
            grads[nxt] = nxt_g  # other nodes are pending: the heap orders them
            heappush(heap, nxt)
        if heap:
            node = heappop(heap)
            g = grads.pop(node)
        else:
            node = None
    if capture is not None:
        for k, t in enumerate(capture):
            if t.grad_fn is None:
                hit = leaf_grads.get(id(t))
                results[k] = None if hit is None else hit[1]
        return results
    for leaf, g in leaf_grads.values():  # roots that are leaves themselves
        _accumulate(leaf, g if create_graph else np.array(g, copy=True), create_graph)


def _fit(node, in_grads, create_graph):
    """Each input's gradient reduced to the input's shape (``sum_to``) and cast to its dtype."""
    out = []
    for e, gi, p in zip(node.edges, in_grads, node.parents):  # noqa: B905 (as in run)
        if e is not None and gi is not None:
            pdata = p.data
            if gi.shape != pdata.shape:
                gi = sum_to(gi, pdata.shape)
            if gi.dtype is not pdata.dtype and gi.dtype != pdata.dtype:
                gi = gi.to(pdata.dtype) if create_graph else gi.astype(pdata.dtype)
        out.append(gi)
    return out


def _to_leaf(leaf, g, upstream, store, create_graph):
    """Hand ``g`` to ``leaf``: into ``store`` when capturing (``autograd.grad``), else to its
    ``.grad``: as is if it is a fresh array of its own (not a view, not the node's upstream
    gradient ``upstream``) and the leaf has none yet, else accumulated."""
    if store is not None:
        _add_leaf(store, leaf, g)
    elif leaf._grad is None and type(g) is np.ndarray and g.base is None and g is not upstream:
        leaf._grad = g
    else:
        _accumulate(leaf, g, create_graph)


def _add_leaf(store, leaf, g):
    hit = store.get(id(leaf))
    if hit is None:
        store[id(leaf)] = [leaf, g]
    else:
        hit[1] = hit[1] + g


def _retain(node, g, create_graph):
    t = node._retained()
    if t is not None:
        _accumulate(t, g if create_graph else np.array(g, copy=True), create_graph)


def _accumulate(t, g, create_graph):
    """``t.grad += g`` as PyTorch: an unaliased tensor the first time, in place after.

    A leaf's ``.grad`` must never share memory with another gradient (``a + b`` hands the same
    array to both inputs) or with the caller's ``gradient``: the engine gives it an array as is
    only when that array is fresh (made by the op, not a view, not the upstream gradient);
    anything else is copied here.
    """
    if isinstance(g, _Tensor):  # create_graph: the gradient keeps its own graph (a clone the
        t.grad = g.clone() if t.grad is None else t.grad + g  # first time, as PyTorch's)
        return
    if t.grad is None:
        t.grad = _make(np.array(g, dtype=t.data.dtype), None, False)
    elif create_graph:
        t.grad = t.grad + _Tensor._make(g, None, False)
    elif t.grad.requires_grad:  # a .grad kept from a create_graph pass: out of place, unrecorded
        with no_grad():
            t.grad = t.grad + _Tensor._make(g, None, False)
    else:
        np.add(t.grad.data, g, out=t.grad.data)
        bump(t.grad._vc)
