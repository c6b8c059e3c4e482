"""How fast could the book step be if tinygrad_nn's bookkeeping cost nothing? A lower bound.

The book's step, as ``frameworks.train_epoch`` runs it, spends its time in the ops (the fused
MLP node's forward and backward, the quadratic cost's) and around them: the engine's backward
loop, the optimizer, the module wrappers. This script runs the same training with parts of the
"around" replaced by bare calls that skip every check, in one process, in alternating blocks
(like ``ab.py``), next to the real step and the hand-written NumPy one:

- ``-engine``: ``loss.backward()`` replaced by calling the two nodes' ``backward`` directly and
  storing the parameter gradients (no in-place or freed-graph checks, no release, no routing);
- ``-optimizer``: ``opt.step()`` replaced by ``p.data -= p._grad * lr`` (no version bump);
- ``-modules``: ``model(xb)`` and ``loss_fn(...)`` replaced by the ops' ``call`` (no fusion or
  shape checks);
- ``-all``: all three.

The variants are unsafe (they skip what keeps results right when a user does something
unusual) and exist only to measure: what is left in ``-all`` is the ops plus the arithmetic the
semantics require (the loss value, SGD's product lr·g), the floor of this design.

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
    lr, one = np.array(3.0, dt), consts[dt][2]

    def epoch(x: np.ndarray, y: np.ndarray) -> None:
        from_numpy = tg.from_numpy
        for i in range(0, len(x), 10):
            xb, yb = from_numpy(x[i:i + 10]), from_numpy(y[i:i + 10])
            opt.zero_grad()
            if modules:
                loss = SquaredError.call(chain.op.call(xb, chain.layers), yb, 0.5 / len(xb))
            else:
                loss = loss_fn(model(xb), yb)
            if engine:
                cost = loss.grad_fn
                net = cost.edges[0]
                for e, g in zip(net.edges, net.backward(cost.backward(one)[0]), strict=True):
                    if e is not None:
                        e._grad = g
            else:
                loss.backward()
            if optimizer:
                for p in params:
                    p.data -= p._grad * lr
            else:
                opt.step()

    epoch.params = params
    return epoch


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common.add_block_options(p, blocks=300)
    args = p.parse_args(argv)
    if args.smoke:
        args.blocks, args.steps, args.synthetic = 2, 5, True
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
