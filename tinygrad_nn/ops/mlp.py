"""``MLP``: a chain of Linear layers and their activations as one graph node.

``nn.Sequential`` hands every run of ``Linear`` (+ ``Sigmoid``/``ReLU``/``Tanh``) modules to this
op, so the book's [784, 30, 10] network is one node instead of four, and its backward is exactly
the matrix form of backpropagation (Nielsen ch. 2). Layer l computes a^l = act_l(z^l),
z^l = a^{l-1} W_lᵀ + b_l, with a^0 = x. Backward, from g = ∂C/∂a^L:

    δ^l = g^l ⊙ act_l'(z^l)          (BP1 for l = L, BP2 below, with g^l = δ^{l+1} W_{l+1})
    ∂C/∂b_l = Σ_rows δ^l             (BP3)
    ∂C/∂W_l = (δ^l)ᵀ a^{l-1}         (BP4)

act' is read off the layer's output, kept by the node with the others (``activations``:
[a^0 = x, a^1, ..., a^L], the book's ``activations`` list): σ' = a(1 − a), tanh' = 1 − a²,
relu' = [not a <= 0] (1 at NaN, as PyTorch). Rows are all leading dims of x (backward flattens
them); Σ_rows is the product 1ᵀδ (a BLAS gemv: 2-3x faster than ``δ.sum(0)`` here).

The code is written out per architecture: ``MLP.of(acts)`` generates the ``call`` and
``backward`` of that tuple of activations with one block of straight-line NumPy calls per layer
(``MLP.of(acts).source`` shows it): at the book's batch of 10 the step is mostly per-call
overhead, and the generic loop over the layers this replaced (its iteration, the per-layer
branches on the activation, a helper call per rule) made the whole training step 1/0.958 as
long (``benchmarks/ab.py``, 2026-12-01). The blocks are the templates below, one per
activation; every ufunc gets its output positionally (the cheapest call form) and writes into
the layer's own fresh array. Under create_graph the node recomputes its forward with per-layer
tracked ops and differentiates that, so higher-order gradients work as for the unfused layers.
``backward_into`` is ``backward`` with each parameter's gradient stored in its ``.grad`` instead
of returned: ``SquaredError.backward_root`` runs ``loss.backward()`` of the book's step with it,
in one call, when the engine's loop would do no more (``benchmarks/ab.py`` against the loop over
the two nodes: 0.935x the step's time in float32, 0.947x in float64, 2026-12-02), and
``SoftmaxCrossEntropy.backward_root`` that of the wide step.
When SGD has moved the parameters into one flat array (``optim/flat.py``), ``backward_into``
writes the gradients into the views of its flat gradient (``ndarray.dot`` with an output), so
SGD's update is one BLAS call; the conditions are checked every pass (the parameters are the
group's, in order, all need a gradient and have none yet; no view of the last flat gradient is
held anywhere, else a new one is made).
"""

from __future__ import annotations

import linecache
import sys

import numpy as np

from ..engine import anomaly, refs
from ..engine.backward import _accumulate
from ..engine.constants import consts, ones
from ..engine.grad_mode import mode
from ..engine.node import Op, _seq, clock
from ..tensor import Tensor
from .matmul import MATMUL_ROWS, Linear

# -- the templates: {l} is the layer (1..L), {j} = l - 1, {p}/{q} its weight's/bias's input index
_FORWARD_LAYER = """\
    w{l}, b{l} = m{l}.weight, m{l}.bias
    if w{l}.grad_fn is not None:  # a weight computed by tracked ops: the modules route it
        raise TypeError
    wd{l} = w{l}.data
    if wd{l}.dtype is not dt and wd{l}.dtype != dt:  # (equal dtypes need not be one object:
        raise TypeError  # an unpickled array's is not NumPy's own)
    a{l} = a{j}.dot(wd{l}.T)  # ndarray.dot: BLAS without np.dot's dispatch layer
    if b{l} is None:
        bd{l} = None
        rb{l} = False
    else:
        bd{l} = b{l}.data
        if ((bd{l}.dtype is not dt and bd{l}.dtype != dt) or b{l}.grad_fn is not None
                or bd{l}.shape != wd{l}.shape[:1]):  # (a bias that broadcasts: Linear's rules)
            raise TypeError
        add(a{l}, bd{l}, a{l})
        rb{l} = b{l}.requires_grad
    rw{l} = w{l}.requires_grad
"""
_ACTIVATION = {  # act(z) in place: z is the layer's own fresh array (sigmoid: sigmoid_into)
    "sigmoid": """\
    multiply(a{l}, half, a{l})  # σ(z) = ½ tanh(½ z) + ½: exact, and never overflows
    tanh(a{l}, a{l})
    multiply(a{l}, half, a{l})
    add(a{l}, half, a{l})
""",
    "relu": "    maximum(a{l}, zero, out=a{l})  # (NumPy 2.4 deprecates a positional out here)\n",
    "tanh": "    tanh(a{l}, a{l})\n",
    None: "",
}
_DELTA = {  # δ = g ⊙ act'(z), read off a = act(z), in a fresh array (elementwise.py's *_grad)
    "sigmoid": """\
    d = subtract(one, a{l})  # σ' = a (1 − a)
    multiply(d, a{l}, d)
    multiply(d, g, d)
""",
    "relu": """\
    m = less_equal(a{l}, zero)  # relu' = [not a <= 0] (1 at NaN, as elementwise.relu_mask)
    d = multiply(g, logical_not(m, m))
""",
    "tanh": """\
    d = multiply(a{l}, a{l})  # tanh' = 1 − a²
    subtract(one, d, d)
    multiply(d, g, d)
""",
    None: "    d = g\n",
}
# Below the top layer g = δ^{l+1} W_{l+1} is this pass's own fresh array, so relu' masks it in
# place (the wide step: 0.990x at one BLAS thread, ``ab.py --workload wide``, 2026-12-03). The
# top layer's g is the caller's and is only read.
_DELTA_INNER = {**_DELTA, "relu": """\
    m = less_equal(a{l}, zero)  # relu'
    d = multiply(g, logical_not(m, m), g)
"""}
_PARAM_GRADS = """\
    if e[{p}] is not None:  # BP4 (as matmul.param_grads)
        grads[{p}] = matmul(d.T, a{j}) if big else d.T.dot(a{j})
    if e[{q}] is not None:  # BP3
        grads[{q}] = ones_rows.dot(d)
"""
_PARAM_GRADS_FLAT = """\
    if gv is not None:  # BP4 and BP3 into the flat gradient's views
        if big:
            matmul(d.T, a{j}, out=gv[{pi}])
        else:
            d.T.dot(a{j}, gv[{pi}])
        p{p}._grad = gv[{pi}]
        ones_rows.dot(d, gv[{qi}])
        p{q}._grad = gv[{qi}]
    else:
{rest}"""
_PARAM_GRADS_INTO = """\
    if e[{p}] is not None:  # BP4, into W_{l}.grad (a fresh array: the leaf keeps it, as run does)
        gp = matmul(d.T, a{j}) if big else d.T.dot(a{j})
        if p{p}._grad is None:
            p{p}._grad = gp
        else:
            accumulate(p{p}, gp, False)
    if e[{q}] is not None:  # BP3, into b_{l}.grad
        gp = ones_rows.dot(d)
        if p{q}._grad is None:
            p{q}._grad = gp
        else:
            accumulate(p{q}, gp, False)
"""


def _source(acts: tuple) -> str:
    """The ``call`` and ``backward`` of the architecture ``acts`` (one activation per layer)."""
    n = len(acts)
    fwd = [
        "def call(cls, x, layers):",
        "    a0 = x.data",
        "    if a0.ndim == 0:  # ndarray.dot would broadcast a scalar",
        "        raise ValueError('a 0-d input has no features')",
        "    dt = a0.dtype",
        f"    {''.join(f'(m{l}, _), ' for l in range(1, n + 1))}= layers",
    ]
    if "sigmoid" in acts:
        fwd.append("    half = consts[dt][1]")
    if "relu" in acts:
        fwd.append("    zero = consts[dt][0]")
    for l, act in enumerate(acts, 1):
        fwd.append(_FORWARD_LAYER.format(l=l, j=l - 1) + _ACTIVATION[act].format(l=l))
    flags = " or ".join(f"rw{l} or rb{l}" for l in range(1, n + 1))
    params = ", ".join(f"w{l}, b{l}" for l in range(1, n + 1))
    datas = ", ".join(f"wd{l}, bd{l}" for l in range(1, n + 1))
    edges = ", ".join(f"w{l} if rw{l} else None, b{l} if rb{l} else None"
                      for l in range(1, n + 1))
    fwd += [
        "    rx = x.requires_grad",
        f"    if not ((rx or {flags}) and mode.enabled):",
        f"        return make(a{n}, None, False)",
        "    node = new(cls)",
        f"    node.parents = [x, {params}]",
        f"    node.arrays = [a0, {datas}]",
        f"    node.edges = [(x.grad_fn or x) if rx else None, {edges}]  # leaves: their own edge",
        f"    node.activations = [{', '.join(f'a{l}' for l in range(n + 1))}]",
        "    node.seq = next(seq)  # Op._result, inline: number the node, stamp the clock",
        "    node.epoch = clock[0]",
        f"    out = make(a{n}, node, True)",
        f"    node.out = a{n}  # (saves_out)",
        "    node.out_vc = out._vc",
        "    if anomaly.enabled:",
        "        anomaly.record(node)",
        "    return out",
    ]
    return ("\n".join(fwd) + "\n\n\n" + _backward_source(acts, into=False) + "\n\n"
            + _backward_source(acts, into=True))


def _backward_source(acts: tuple, into: bool) -> str:
    """``backward`` (the gradients as a list), or with ``into`` ``backward_into``: the same rules,
    storing each parameter's gradient in its ``.grad`` (for the costs' ``backward_root``; the
    input x must need no gradient, and every other edge is None or the parameter itself, as
    ``call`` makes them)."""
    n = len(acts)
    names = ", ".join(f"a{l}" for l in range(n + 1))
    if into:
        bwd = [
            "def backward_into(self, g):",
            "    e, w = self.edges, self.arrays",
            f"    _, {', '.join(f'p{i}' for i in range(1, 2 * n + 1))}, = self.parents",
        ]
    else:
        bwd = [
            "def backward(self, g):",
            "    if isinstance(g, Tensor):",
            "        return self._backward_graph(g)",
            "    e, w = self.edges, self.arrays",
        ]
    bwd += [
        f"    {names}, = self.activations",
        "    shape = a0.shape",
        "    if len(shape) != 2:  # rows: every leading dim",
        f"        {names}, g = [t.reshape(-1, t.shape[-1]) for t in (*self.activations, g)]",
        "    rows = len(a0)",
        "    big = rows > MATMUL_ROWS",
        "    dt = a0.dtype",
        "    ones_rows = ones[dt][rows]",
    ]
    if "sigmoid" in acts or "tanh" in acts:
        bwd.append("    one = consts[dt][2]")
    if "relu" in acts:
        bwd.append("    zero = consts[dt][0]")
    if not into:
        bwd.append(f"    grads = [None] * {2 * n + 1}")
    if into:  # the parameters' arrays in one FlatParams (optim/flat.py): its flat gradient
        views = " and ".join(f"fv[{i - 1}] is w[{i}]" for i in range(1, 2 * n + 1))
        edges = " and ".join(f"e[{i}] is not None" for i in range(1, 2 * n + 1))
        empty = " and ".join(f"p{i}._grad is None" for i in range(1, 2 * n + 1))
        held = " or ".join(f"getrefcount(gv[{i}]) > {refs.IN_TUPLE}"  # (engine/refs.py)
                           for i in range(2 * n))
        bwd += [
            "    gv = None",
            "    fp = getattr(w[1].base, 'flat_params', None)",
            f"    if fp is not None and fp.n == {2 * n}:",
            "        fv = fp.views",
            f"        if {views} and {edges} and {empty}:",
            "            gv = fp.grad_views",
            f"            if {held}:  # the last pass's gradients are still held: new ones",
            "                fp.fresh_grad()",
            "                gv = fp.grad_views",
        ]
    for l in range(n, 0, -1):
        p = 2 * l - 1  # W_l's index among the inputs [x, W_1, b_1, ...]
        if into:
            rest = _PARAM_GRADS_INTO.format(l=l, p=p, q=p + 1, j=l - 1)
            params = _PARAM_GRADS_FLAT.format(
                j=l - 1, p=p, q=p + 1, pi=p - 1, qi=p,
                rest="".join("    " + line + "\n" for line in rest.splitlines()))
        else:
            params = _PARAM_GRADS.format(l=l, p=p, q=p + 1, j=l - 1)
        bwd.append(f"    # layer {l}: BP{'1' if l == n else '2'}, BP3, BP4\n"
                   + (_DELTA if l == n else _DELTA_INNER)[acts[l - 1]].format(l=l) + params)
        if l > 1:
            bwd.append(f"    g = d.dot(w[{p}])  # BP2: δ W, the gradient w.r.t. the layer's input")
    if not into:
        bwd += [
            "    if e[0] is not None:",
            "        gx = d.dot(w[1])",
            "        grads[0] = gx if len(shape) == 2 else gx.reshape(shape)",
            "    return grads",
        ]
    return "\n".join(bwd) + "\n"


_NAMESPACE = {
    "add": np.add, "multiply": np.multiply, "subtract": np.subtract, "tanh": np.tanh,
    "maximum": np.maximum, "less_equal": np.less_equal, "logical_not": np.logical_not,
    "matmul": np.matmul, "MATMUL_ROWS": MATMUL_ROWS,
    "consts": consts, "ones": ones, "mode": mode, "Tensor": Tensor,
    "make": Tensor._make, "new": object.__new__, "accumulate": _accumulate,
    "seq": _seq, "clock": clock, "anomaly": anomaly, "getrefcount": sys.getrefcount,
}


class MLP(Op):
    """inputs: x, W_1, b_1, ..., W_L, b_L (a bias may be None); ``acts``: one per layer.

    ``MLP.of(acts)`` is the op for one architecture, and ``MLP.of(acts).call(x, layers)`` runs
    and records it: the hot path of ``nn.Sequential``. ``call`` is ``Op.apply`` fused with the
    forward: one pass over the layers reads each weight and bias, computes the layer, and gathers
    the node's parents [x, W_1, b_1, ...] (a None bias included); the node is recorded if any of
    them requires grad. It raises AttributeError, TypeError or ValueError for what it does not
    take (not a Tensor, a dtype other than x's, 0-d x, shapes that don't fit): ``nn.Sequential``
    then runs the modules one by one, for PyTorch's errors.
    """

    saves_out = True
    exact_grads = fresh_grads = True
    acts: tuple = ()
    source: str = ""
    _cache: dict = {}

    @classmethod
    def of(cls, acts: tuple) -> type[MLP]:
        op = cls._cache.get(acts)
        if op is None:
            source = _source(acts)
            filename = f"<MLP{acts}>"
            # tracebacks (and detect_anomaly's forward traces) show the generated lines
            linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
            code: dict = {}
            exec(compile(source, filename, "exec"), dict(_NAMESPACE), code)  # noqa: S102
            saves = (0, *range(1, 2 * len(acts), 2))  # x and the weights (not the biases)
            # x is read by W_1's gradient; W_l (input 2l − 1) by the gradients of the inputs
            # below it (BP2 carries δ through W_l to x, W_1, b_1, ..., b_{l−1})
            saved_for = {0: (1,), **{i: tuple(range(i)) for i in saves[1:]}}
            op = cls._cache[acts] = type("MLP", (cls,), {
                "acts": acts, "saves": saves, "saved_for": saved_for, "source": source,
                "call": classmethod(code["call"]), "backward": code["backward"],
                "backward_into": code["backward_into"]})
        return op

    @property
    def needs_input_grad(self) -> list[bool]:
        """Per parent, whether it gets a gradient (derived: ``MLP.call`` records the edges)."""
        return [e is not None for e in self.edges]

    def _backward_graph(self, g):
        """create_graph: rebuild the forward with tracked per-layer ops and differentiate it."""
        from ..autograd.functional import grad

        x, *params = self.parents
        a = x
        for l, act in enumerate(self.acts):
            a = Linear.apply(a, params[2 * l], params[2 * l + 1])
            if act is not None:
                a = getattr(a, act)()
        wanted = [i for i, need in enumerate(self.needs_input_grad) if need]
        got = grad(a, [self.parents[i] for i in wanted], g, create_graph=True, allow_unused=True)
        grads = [None] * len(self.parents)
        for i, gi in zip(wanted, got, strict=True):
            grads[i] = gi
        return grads

    def name(self) -> str:
        act = self.acts[-1] if self.acts else None
        return {
            None: "AddmmBackward0",
            "sigmoid": "SigmoidBackward0",
            "relu": "ReluBackward0",
            "tanh": "TanhBackward0",
        }[act]
