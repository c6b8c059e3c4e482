"""How fast could the book step be if tinygrad_nn's bookkeeping cost nothing? A lower bound.

The book's step, as ``frameworks.train_epoch`` runs it, spends its time in the ops (the fused
MLP node's forward and backward, the quadratic cost's) and around them: the engine's backward
loop, the optimizer, the module wrappers. This script runs the same training with parts of the
"around" replaced by bare calls that skip every check, in one process, in alternating blocks
(like ``ab.py``), next to the real step and the hand-written NumPy one:

- ``-engine``: ``loss.backward()`` replaced by calling the cost node's ``backward`` and the
  network node's ``backward_into`` directly (no in-place or freed-graph checks, no release);
- ``-optimizer``: ``opt.step()`` replaced by SGD's flat update called bare (no checks, no
  version bump);
- ``-modules``: ``model(xb)`` and ``loss_fn(...)`` replaced by the ops' ``call`` (no fusion or
  shape checks);
- ``-all``: all three.

The variants are unsafe (they skip what keeps results right when a user does something
unusual) and exist only to measure: what is left in ``-all`` is the ops plus the arithmetic the
semantics require (the loss value, SGD's product lr·g), the floor of this design.

Three more rows bound other designs; all do tinygrad_nn's arithmetic in its order, so they
train exactly its parameters:

- ``API arithmetic``: the hand-written step changed only where PyTorch's semantics demand it:
  the loss value is computed, the gradients are the true ∂C/∂θ (in one flat gradient, which
  tinygrad_nn's backward reuses only when nothing holds the last one), and SGD subtracts lr
  times them, one BLAS axpy for all four parameters as in tinygrad_nn (``optim/flat.py``). No
  framework Python at all: about what no eager framework with this API can go below.
- ``replay sketch``: that arithmetic behind the least Python the user's loop forces on an
  engine that has recorded the step and replays it: one Python call per entry point
  (``zero_grad``, ``model(xb)``, ``loss_fn``, ``backward``, ``step``) with a token guard, a
  Tensor per value the user sees, the gradients stored on the parameters, version ticks. A real
  replay engine needs more guards than these (in-place changes, hooks, grad mode, retained
  graphs), so this is a lower bound for one.
- ``guarded replay``: the replay sketch with those guards (the input, grad and anomaly modes, no
  patched ``forward``, the modules holding the recorded parameters with their recorded arrays as
  leaves that require grad, the node fresh and not freed, no graph alive from an earlier forward
  whose buffers the next one would reuse, ``Tensor.backward``'s arguments), entered the way the
  user's loop enters tinygrad_nn (``model`` and ``loss_fn`` are modules; ``zero_grad`` and
  ``step`` are the real optimizer's): about what a record-and-replay engine could reach.

    python benchmarks/floor.py                 # 300 blocks of 200 steps, float32
    python benchmarks/floor.py --dtype float64
    python benchmarks/floor.py --smoke         # seconds: what the tests run
"""

from __future__ import annotations

import argparse
import sys
from functools import partial

import common
import frameworks
import handwritten
import numpy as np


def variant(tg, dtype: str, engine: bool, optimizer: bool, modules: bool):
    """An epoch function for the book's model with the chosen parts bypassed."""
    from tinygrad_nn.engine.constants import consts
    from tinygrad_nn.ops.loss import SquaredError

    tg.manual_seed(0)
    model, loss_fn, opt = frameworks.build_book(tg, dtype)
    params = list(model.parameters())
    chain = model._plan[0]  # the fused Linear/Sigmoid run (one MLP node)
    dt = np.dtype(dtype)
    one = consts[dt][2]
    flat = None
    if optimizer:  # the parameters in SGD's flat arrays, as its step leaves them
        from tinygrad_nn.optim.flat import rehome

        flat = rehome(params, 1 << 20)
        if flat is None:
            raise RuntimeError("the parameters' arrays could not be moved into a flat one")

    def epoch(x: np.ndarray, y: np.ndarray) -> None:
        from_numpy = tg.from_numpy
        for i in range(0, len(x), 10):
            xb, yb = from_numpy(x[i:i + 10]), from_numpy(y[i:i + 10])
            opt.zero_grad()
            if modules:
                loss = SquaredError.call(chain.op.call(xb, chain.layers), yb, 0.5 / len(xb))
            else:
                loss = loss_fn(model(xb), yb)
            if engine:  # the two nodes' rules, the network's storing the gradients itself
                cost = loss.grad_fn
                cost.edges[0].backward_into(cost.backward(one)[0])
            else:
                loss.backward()
            if optimizer:  # SGD's flat update, bare: no checks, no version bump
                flat_update(flat, 3.0)
            else:
                opt.step()

    epoch.params = params
    return epoch


class BookArithmetic:
    """tinygrad_nn's arithmetic for the book step, in its order (so with its rounding), on bare
    arrays in the cheapest call forms (ufuncs called with positional outputs, as
    ``handwritten.book_epoch``); ``params``: the model's Tensors [W1, b1, W2, b2]. Fresh arrays
    only for what a user can hold (the output a2, the loss); the rest in buffers made once; the
    parameters and their gradients in the flat arrays of ``optim/flat.py`` (the gradients in the
    one flat gradient, as tinygrad_nn's backward writes them when nothing holds the last ones),
    so SGD's update is one call, as tinygrad_nn's."""

    def __init__(self, params: list, dtype: np.dtype, batch_size: int = 10) -> None:
        from tinygrad_nn.engine.constants import scalars
        from tinygrad_nn.optim.flat import rehome

        self.params = params
        self.dt = dtype
        self.half, self.one = np.array(0.5, dtype), np.array(1.0, dtype)
        self.inv_m = scalars[dtype][1.0 / batch_size]  # ∂C/∂a2 = (a2 − y)/m
        self.scale = 0.5 / batch_size
        hidden, k = params[0].shape[0], params[2].shape[0]
        self.a1, self.s1 = (np.empty((batch_size, hidden), dtype) for _ in range(2))
        self.d, self.s2 = (np.empty((batch_size, k), dtype) for _ in range(2))
        self.ones = np.ones(batch_size, dtype)
        self.flat = rehome(params, 1 << 20)  # the parameters in one flat array, as SGD's
        if self.flat is None:
            raise RuntimeError("the parameters' arrays could not be moved into a flat one")

    def forward(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """a1 = σ(x W1ᵀ + b1), a2 = σ(a1 W2ᵀ + b2), σ(z) = ½ tanh(½ z) + ½; x: (batch_size, 784)."""
        W1, b1, W2, b2 = self.params
        add, multiply, tanh, half, a1 = np.add, np.multiply, np.tanh, self.half, self.a1
        x.dot(W1.data.T, a1)
        add(a1, b1.data, a1)
        multiply(a1, half, a1)
        tanh(a1, a1)
        multiply(a1, half, a1)
        add(a1, half, a1)
        a2 = a1.dot(W2.data.T)
        add(a2, b2.data, a2)
        multiply(a2, half, a2)
        tanh(a2, a2)
        multiply(a2, half, a2)
        add(a2, half, a2)
        return a1, a2

    def loss(self, a2: np.ndarray, y: np.ndarray) -> np.ndarray:
        """C = 1/(2m) Σ ||a2 − y||² as a 0-d array; keeps d = a2 − y for backward."""
        d = self.d
        np.subtract(a2, y, d)
        flat = d.ravel()
        return np.array(flat.dot(flat) * self.scale, self.dt)

    def backward(self, x: np.ndarray, a1: np.ndarray, a2: np.ndarray) -> tuple:
        """(∂C/∂W1, ∂C/∂b1, ∂C/∂W2, ∂C/∂b2) by BP1–BP4."""
        multiply, subtract, one, d, s1, s2 = (np.multiply, np.subtract, self.one, self.d,
                                              self.s1, self.s2)
        multiply(d, self.inv_m, d)  # ∂C/∂a2
        subtract(one, a2, s2)  # BP1: δ2 = ∂C/∂a2 ⊙ a2 (1 − a2)
        multiply(s2, a2, s2)
        multiply(s2, d, s2)
        gw1, gb1, gw2, gb2 = self.flat.grad_views  # the flat gradient's views, as SGD's
        s2.T.dot(a1, gw2)  # BP4, BP3
        self.ones.dot(s2, gb2)
        d1 = s2.dot(self.params[2].data)
        subtract(one, a1, s1)  # BP2: δ1 = (δ2 W2) ⊙ a1 (1 − a1)
        multiply(s1, a1, s1)
        multiply(s1, d1, s1)
        s1.T.dot(x, gw1)
        self.ones.dot(s1, gb1)
        return gw1, gb1, gw2, gb2

    def update(self, grads) -> None:
        """SGD: θ −= lr ∂C/∂θ on the flat arrays (``grads`` are the flat views): one BLAS axpy,
        as SGD's (or its two NumPy calls where NumPy's BLAS has none)."""
        flat_update(self.flat, 3.0)


def flat_update(flat, lr: float) -> None:
    """SGD's flat update of the book's parameters, called bare: θ += (−lr)·∂C/∂θ in one BLAS
    axpy (or NumPy's two passes where NumPy's BLAS has none)."""
    if flat.grad_update is not None:
        flat.grad_update(-lr)
    else:
        from tinygrad_nn.engine.constants import scalars

        np.multiply(flat.grad, scalars[flat.dtype][lr], flat.scratch)
        np.subtract(flat.data, flat.scratch, flat.data)


def api_arithmetic(tg, dtype: str):
    """The ``API arithmetic`` row: ``BookArithmetic`` called bare, step after step."""
    tg.manual_seed(0)
    params = list(frameworks.build_book(tg, dtype)[0].parameters())
    b = BookArithmetic(params, np.dtype(dtype))

    def epoch(x: np.ndarray, y: np.ndarray) -> None:
        forward, loss, backward, update = b.forward, b.loss, b.backward, b.update
        for i in range(0, len(x), 10):
            xb = x[i:i + 10]
            a1, a2 = forward(xb)
            loss(a2, y[i:i + 10])
            update(backward(xb, a1, a2))

    epoch.params = params
    return epoch


class _Recorded:
    """What the replay sketch's graph node holds between the calls."""

    __slots__ = ("x", "a1", "a2")


def replay_sketch(tg, dtype: str):
    """The ``replay sketch`` row: ``BookArithmetic`` behind the user's loop's entry points."""
    from tinygrad_nn.tensor import Tensor

    make = Tensor._make
    tg.manual_seed(0)
    params = list(frameworks.build_book(tg, dtype)[0].parameters())
    b = BookArithmetic(params, np.dtype(dtype))
    dt, shape = np.dtype(dtype), (10, 784)

    def zero_grad() -> None:
        for p in params:
            p._grad = None

    def model(xt: Tensor) -> Tensor:
        x = xt.data
        if x.shape != shape or x.dtype is not dt:  # the token guards: shape, dtype
            raise RuntimeError("not the recorded step")
        node = _Recorded()
        node.x = x
        node.a1, node.a2 = b.forward(x)
        return make(node.a2, node, True)

    def loss_fn(out: Tensor, yt: Tensor) -> Tensor:
        node = out.grad_fn
        if type(node) is not _Recorded:
            raise RuntimeError("not the recorded step")
        return make(b.loss(out.data, yt.data), node, True)

    def backward(loss: Tensor) -> None:
        node = loss.grad_fn
        if type(node) is not _Recorded:
            raise RuntimeError("not the recorded step")
        for p, g in zip(params, b.backward(node.x, node.a1, node.a2)):  # noqa: B905 (as above)
            p._grad = g
        loss.grad_fn = None  # the graph is freed

    def step() -> None:
        b.update([p._grad for p in params])
        for p in params:
            p._vc[0] += 1

    def epoch(x: np.ndarray, y: np.ndarray) -> None:
        from_numpy = tg.from_numpy
        for i in range(0, len(x), 10):
            xb, yb = from_numpy(x[i:i + 10]), from_numpy(y[i:i + 10])
            zero_grad()
            loss = loss_fn(model(xb), yb)
            backward(loss)
            step()

    epoch.params = params
    return epoch


class _Guarded:
    """What the guarded replay's node holds: the recorded values and the clock at the forward."""

    __slots__ = ("x", "a1", "a2", "epoch", "freed")


def guarded_replay(tg, dtype: str):
    """The ``guarded replay`` row: the replay sketch with the guards a real replay engine needs,
    entered as the user's loop enters tinygrad_nn: ``model(xb)`` and ``loss_fn(...)`` are module
    calls, ``backward`` takes ``Tensor.backward``'s arguments, ``zero_grad`` and ``step`` are the
    real optimizer's. Each guard is one that the engine's current step checks too (a failed one
    would fall back to the eager path; here it raises)."""
    from tinygrad_nn.engine import anomaly
    from tinygrad_nn.engine.backward import _accumulate
    from tinygrad_nn.engine.grad_mode import mode
    from tinygrad_nn.engine.node import clock
    from tinygrad_nn.nn.module import forward_overrides
    from tinygrad_nn.tensor import Tensor

    make = Tensor._make
    tg.manual_seed(0)
    net, cost, opt = frameworks.build_book(tg, dtype)
    params = list(net.parameters())
    W1, b1, W2, b2 = params
    b = BookArithmetic(params, np.dtype(dtype))
    opt.__dict__["_flats"] = {id(opt.param_groups[0]): b.flat}  # SGD's own flat update
    d1, d2, d3, d4 = (p.data for p in params)
    m1, m2 = (m for m in net if isinstance(m, tg.nn.Linear))
    classes = tuple((type(m), type(m).forward) for m in net)
    seen = forward_overrides[0]
    dt, shape = np.dtype(dtype), (10, 784)
    live = [None]  # the last node: its a1 is BookArithmetic's buffer, reused by the next forward

    def fail():
        raise RuntimeError("not the recorded step")

    class Model(tg.nn.Module):
        def forward(self, xt: Tensor) -> Tensor:
            x = xt.data
            if (x.shape != shape or x.dtype is not dt or xt.requires_grad or not mode.enabled
                    or anomaly.enabled or forward_overrides[0] != seen):
                fail()  # the input, grad and anomaly modes, no forward patched on an instance
            for c, f in classes:  # ... nor on a class
                if c.forward is not f:
                    fail()
            if (m1.weight is not W1 or m1.bias is not b1 or m2.weight is not W2
                    or m2.bias is not b2):
                fail()  # the modules still hold the recorded parameters
            if (W1.data is not d1 or b1.data is not d2 or W2.data is not d3 or b2.data is not d4
                    or W1.grad_fn is not None or b1.grad_fn is not None
                    or W2.grad_fn is not None or b2.grad_fn is not None
                    or not (W1.requires_grad and b1.requires_grad and W2.requires_grad
                            and b2.requires_grad)):
                fail()  # ... with their recorded arrays, as leaves that require grad
            prev = live[0]
            if prev is not None and not prev.freed:
                fail()  # a graph still alive holds the buffers (no backward yet, retain_graph)
            node = live[0] = _Guarded()
            node.x = x
            node.a1, node.a2 = b.forward(x)
            node.epoch = clock[0]
            node.freed = False
            return make(node.a2, node, True)

    class Cost(tg.nn.Module):
        reduction = "mean"

        def forward(self, out: Tensor, yt: Tensor) -> Tensor:
            node = out.grad_fn
            y = yt.data
            if (type(node) is not _Guarded or node.epoch != clock[0] or out.data is not node.a2
                    or y.shape != node.a2.shape or y.dtype is not dt or yt.requires_grad
                    or self.reduction != "mean" or not mode.enabled):
                fail()
            return make(b.loss(out.data, y), node, True)

    model, loss_fn = Model(), Cost()

    def backward(loss: Tensor, gradient=None, retain_graph=None, create_graph=False,
                 inputs=None) -> None:
        node = loss.grad_fn
        if (gradient is not None or inputs is not None or create_graph or type(node) is not _Guarded
                or node.freed or node.epoch != clock[0] or anomaly.enabled):
            fail()  # Tensor.backward's fast-path test, the node not freed, nothing changed in place
        for p, g in zip(params, b.backward(node.x, node.a1, node.a2)):  # noqa: B905 (hot)
            if p._grad is None:
                p._grad = g
            else:
                _accumulate(p, g, False)
        if not retain_graph:
            node.x = node.a1 = node.a2 = None
            node.freed = True

    def epoch(x: np.ndarray, y: np.ndarray) -> None:
        from_numpy = tg.from_numpy
        for i in range(0, len(x), 10):
            xb, yb = from_numpy(x[i:i + 10]), from_numpy(y[i:i + 10])
            opt.zero_grad()
            loss = loss_fn(model(xb), yb)
            backward(loss)
            opt.step()

    epoch.params = params
    return epoch


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    args = common.parse_block_args(p, argv, blocks=300)
    common.limit_threads(args.threads)
    import tinygrad_nn as tg

    data = common.load_data(args.synthetic)
    x, y, _ = common.shuffled(data, 0, np.dtype(args.dtype))
    hand = handwritten.init_book(np.random.default_rng(0), [784, 30, 10], args.dtype)
    systems = {"hand-written NumPy": partial(handwritten.book_epoch, hand, lr=3.0, batch_size=10)}
    for name, parts in [("tinygrad_nn", (False, False, False)),
                        ("-engine", (True, False, False)), ("-optimizer", (False, True, False)),
                        ("-modules", (False, False, True)), ("-all", (True, True, True))]:
        systems[name] = variant(tg, args.dtype, *parts)
    systems["API arithmetic"] = api_arithmetic(tg, args.dtype)
    systems["replay sketch"] = replay_sketch(tg, args.dtype)
    systems["guarded replay"] = guarded_replay(tg, args.dtype)
    t = common.time_blocks(systems, x, y, args.blocks, args.steps)
    print(f"# book {args.dtype}, batch 10: {args.blocks} blocks of {args.steps} steps, "
          f"{args.threads} BLAS thread(s), data: {data.source}")
    for line in common.machine_report():
        print(line)
    rows = [[name, f"{np.median(v):.1f}",
             f"{np.median(v / t['hand-written NumPy']):.3f}",
             f"{np.median(v / t['tinygrad_nn']):.3f}"] for name, v in t.items()]
    print(common.markdown_table(["system", "µs/step (median)", "time / hand-written NumPy",
                                 "time / tinygrad_nn"], rows))
    # the variants trained the same batches from the same parameters: they must agree exactly
    ref = [q.data for q in systems["tinygrad_nn"].params]
    same = all(all(np.array_equal(q.data, r) for q, r in zip(f.params, ref, strict=True))
               for name, f in systems.items() if name != "hand-written NumPy")
    print(f"\nevery variant's parameters after training equal tinygrad_nn's: {same}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
