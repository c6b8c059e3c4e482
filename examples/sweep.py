"""How the learning rate η and the mini-batch size m interact: a grid study on the MNIST sample.

Trains the sigmoid network [784, 32, 16, 10] with the book's quadratic cost and plain mini-batch
SGD (Nielsen, "Neural Networks and Deep Learning", ch. 1) once for every pair (m, η) of a grid,
for the same number of epochs each, and prints the test accuracy of each pair as a table (rows:
mini-batch size, columns: learning rate). ``--plot PATH`` also draws it as a heatmap PNG when
matplotlib is installed.

Every run starts from the same initial weights (``tg.manual_seed(seed)`` before building each
network), so the table compares the hyper-parameters, not the luck of the draw. What to look for:
with a fixed number of epochs, a mini-batch of m examples makes m times fewer updates, each an
average over m gradients; the update ``w → w − (η/m) Σ_x ∂C_x/∂w`` therefore wants a larger η
for larger m (η/m is the step per example), until η is so large that SGD overshoots.

Run::

    python examples/sweep.py                        # 3 x 4 grid, 3 epochs each
    python examples/sweep.py --epochs 5 --plot sweep.png
    python examples/sweep.py --batch-sizes 10 100 --lrs 1 3 --epochs 2 --train-size 1000

The default grid costs about 17 s of CPU time (33 s of wall time on a busy 2-core machine); the
row of mini-batches of 1 (4 runs x 12,000 updates) takes most of it. ``--epochs 5`` (about 35 s of
CPU time) sharpens the picture.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence

# To run on PyTorch, change the first three imports to: `import torch as tg`,
# `from torch import nn, optim`, `from torch.utils.data import DataLoader, TensorDataset`,
# and do the same in mnist.py (the model and the cost come from there).
# (The MNIST loaders return NumPy arrays, which both libraries take.)
import tinygrad_nn as tg
from tinygrad_nn import nn, optim
from tinygrad_nn.data import DataLoader, TensorDataset
from tinygrad_nn.data.mnist import load_mnist_sample

# The model, the cost, the argument types and the PNG writer are mnist.py's: make its directory
# importable also when this file is loaded by path (e.g. by the tests), not run as a script.
_EXAMPLES = os.path.dirname(os.path.abspath(__file__))
if _EXAMPLES not in sys.path:
    sys.path.insert(0, _EXAMPLES)
from mnist import (  # noqa: E402
    N_CLASSES,
    N_INPUTS,
    _positive_float,
    _positive_int,
    build_model,
    quadratic_cost,
    save_figure,
)


def train_and_test(data: tuple, sizes: Sequence[int], batch_size: int, lr: float, epochs: int,
                   seed: int, init: str) -> float:
    """Train a fresh network with SGD(lr) on mini-batches of ``batch_size`` for ``epochs``
    epochs; return its accuracy on the test set (fraction in [0, 1])."""
    x_train, y_train, x_test, y_test = data
    tg.manual_seed(seed)
    model = build_model(sizes, "quadratic", init)
    criterion = quadratic_cost()
    optimizer = optim.SGD(model.parameters(), lr=lr)
    loader = DataLoader(TensorDataset(x_train, y_train), batch_size=batch_size, shuffle=True)
    model.train()
    for _ in range(epochs):
        for xb, yb in loader:
            output = model(xb)
            loss = criterion(output, nn.functional.one_hot(yb, N_CLASSES).to(output.dtype))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    model.eval()
    with tg.no_grad():
        correct = (model(x_test).argmax(dim=1) == y_test).sum().item()
    return correct / len(y_test)


def format_table(batch_sizes: Sequence[int], lrs: Sequence[float],
                 accuracy: dict[tuple[int, float], float]) -> str:
    """Rows: mini-batch sizes; columns: learning rates; cells: test accuracy in %."""
    head = "batch \\ lr"
    width = max(7, *(len(f"{lr:g}") for lr in lrs))
    lines = [f"{head:>10} " + " ".join(f"{lr:>{width}g}" for lr in lrs)]
    for m in batch_sizes:
        cells = " ".join(f"{100 * accuracy[m, lr]:>{width - 1}.1f}%" for lr in lrs)
        lines.append(f"{m:>10} " + cells)
    return "\n".join(lines)


def plot_heatmap(path: str, batch_sizes: Sequence[int], lrs: Sequence[float],
                 accuracy: dict[tuple[int, float], float], title: str) -> None:
    """Save the accuracy grid as an annotated heatmap PNG (written atomically)."""
    from matplotlib.figure import Figure  # no pyplot: no GUI backend needed

    grid = [[100 * accuracy[m, lr] for lr in lrs] for m in batch_sizes]
    fig = Figure(figsize=(1.4 * len(lrs) + 2.5, 0.8 * len(batch_sizes) + 1.8),
                 layout="constrained")
    ax = fig.subplots()
    image = ax.imshow(grid, cmap="viridis", vmin=0, vmax=100, aspect="auto")
    for i, row in enumerate(grid):
        for j, value in enumerate(row):
            ax.text(j, i, f"{value:.1f}", ha="center", va="center",
                    color="black" if value > 60 else "white")
    ax.set_xticks(range(len(lrs)), [f"{lr:g}" for lr in lrs])
    ax.set_yticks(range(len(batch_sizes)), [str(m) for m in batch_sizes])
    ax.set(xlabel="learning rate η", ylabel="mini-batch size m", title=title)
    fig.colorbar(image, ax=ax, label="test accuracy (%)")
    save_figure(fig, path)


def make_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        description="Test accuracy of a sigmoid network on the MNIST sample for a grid of "
                    "learning rates and mini-batch sizes.")
    parser.add_argument("--batch-sizes", type=_positive_int, nargs="+", default=[1, 10, 100],
                        metavar="M", help="mini-batch sizes (default: 1 10 100)")
    parser.add_argument("--lrs", type=_positive_float, nargs="+", default=[0.1, 1.0, 3.0, 10.0],
                        metavar="ETA", help="learning rates (default: 0.1 1 3 10)")
    parser.add_argument("--epochs", type=_positive_int, default=3,
                        help="epochs per run (default: 3)")
    parser.add_argument("--hidden", type=_positive_int, nargs="*", default=[32, 16], metavar="N",
                        help="hidden layer sizes (default: 32 16)")
    parser.add_argument("--train-size", type=_positive_int, default=None, metavar="N",
                        help="train on the first N of the 4,000 training images (default: all)")
    parser.add_argument("--init", choices=["book", "pytorch"], default="book",
                        help="book: N(0, 1) weights and biases (default); pytorch: nn.Linear's")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of every run's initialisation and shuffling (default: 0)")
    parser.add_argument("--plot", metavar="PATH", help="save a heatmap PNG (needs matplotlib)")
    parser.add_argument("--quiet", action="store_true",
                        help="print only the table, not a line per run")
    return parser


def main(argv: Sequence[str] | None = None) -> dict:
    """Run the grid of ``argv`` (default ``sys.argv[1:]``); print the table and return
    ``{"accuracy": {(m, lr): fraction}, "seconds": {(m, lr): s}, "batch_sizes", "lrs",
    "table", "total_time"}``."""
    parser = make_parser()
    args = parser.parse_args(argv)
    batch_sizes = list(dict.fromkeys(args.batch_sizes))
    lrs = list(dict.fromkeys(args.lrs))
    plot = args.plot
    if plot is not None:
        if not plot.lower().endswith(".png"):
            parser.error(f"--plot {plot}: the file name must end with .png")
        if not os.path.isdir(os.path.dirname(os.path.abspath(plot))):
            parser.error(f"--plot {plot}: its directory does not exist")
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            print(f"warning: --plot {plot}: matplotlib is not installed, so no heatmap will be "
                  "drawn (pip install matplotlib); the table is printed anyway", file=sys.stderr)
            plot = None

    start = time.perf_counter()
    x_train, y_train = load_mnist_sample(train=True)
    x_test, y_test = load_mnist_sample(train=False)
    if args.train_size is not None:
        x_train, y_train = x_train[:args.train_size], y_train[:args.train_size]
    data = tuple(tg.from_numpy(a) for a in (x_train, y_train, x_test, y_test))
    sizes = [N_INPUTS, *args.hidden, N_CLASSES]
    print(f"Network {sizes}, quadratic cost, {args.init} init, {args.epochs} epochs per run on "
          f"{len(y_train)} training / {len(y_test)} test images of the MNIST sample")

    accuracy: dict[tuple[int, float], float] = {}
    seconds: dict[tuple[int, float], float] = {}
    for m in batch_sizes:
        for lr in lrs:
            t0 = time.perf_counter()
            accuracy[m, lr] = train_and_test(data, sizes, m, lr, args.epochs, args.seed,
                                             args.init)
            seconds[m, lr] = time.perf_counter() - t0
            if not args.quiet:
                print(f"  batch {m:>4}, lr {lr:>6g}: {100 * accuracy[m, lr]:5.1f}%  "
                      f"[{seconds[m, lr]:.1f} s]", flush=True)
    table = format_table(batch_sizes, lrs, accuracy)
    total = time.perf_counter() - start
    print(f"\nTest accuracy after {args.epochs} epochs:\n{table}\nwall time {total:.1f} s")
    if plot:
        plot_heatmap(plot, batch_sizes, lrs, accuracy,
                     f"{sizes}, {args.epochs} epochs: test accuracy (%)")
        print(f"Saved the heatmap to {plot}")
    return {"accuracy": accuracy, "seconds": seconds, "batch_sizes": batch_sizes, "lrs": lrs,
            "table": table, "total_time": total}


if __name__ == "__main__":
    main()
