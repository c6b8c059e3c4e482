"""Where the time of one book training step goes (batch 10, float32), for tinygrad_nn and torch.

1. Phases: the step ``from_numpy -> zero_grad -> forward -> loss -> backward -> step`` timed
   phase by phase with perf_counter over many steps, in µs per step, next to the hand-written
   NumPy step (the arithmetic plus the unavoidable NumPy call overhead).
2. cProfile of the tinygrad_nn steps: the functions with the most own time, in µs per step, and
   how many times each is called per step. NumPy's ufuncs and operators on arrays are C calls
   that cProfile does not record separately, so their time shows up as the own time of the
   Python function that called them.

    python benchmarks/profile_step.py [--steps 3000] [--smoke]
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import sys
import time

import common
import frameworks
import handwritten
import numpy as np

PHASES = ["from_numpy", "zero_grad", "forward", "loss", "backward", "step"]


def phase_times(lib, x: np.ndarray, y: np.ndarray, steps: int) -> dict[str, float]:
    """Mean µs per step of each phase of the book step (after 50 warm-up steps)."""
    lib.manual_seed(0)
    model, loss_fn, opt = frameworks.build_book(lib, "float32")
    acc = dict.fromkeys(PHASES, 0.0)
    pc = time.perf_counter
    bs = 10
    for k in range(steps + 50):
        i = (k * bs) % (len(x) - bs)
        t0 = pc()
        xb = lib.from_numpy(x[i:i + bs])
        yb = lib.from_numpy(y[i:i + bs])
        t1 = pc()
        opt.zero_grad()
        t2 = pc()
        out = model(xb)
        t3 = pc()
        loss = loss_fn(out, yb)
        t4 = pc()
        loss.backward()
        t5 = pc()
        opt.step()
        t6 = pc()
        if k >= 50:
            for name, dt in zip(PHASES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5),
                                strict=True):
                acc[name] += dt
    return {k: v / steps * 1e6 for k, v in acc.items()}


def numpy_step_us(x: np.ndarray, y: np.ndarray, steps: int) -> float:
    params = handwritten.init_book(np.random.default_rng(0), [784, 30, 10], np.float32)
    n = steps * 10
    handwritten.book_epoch(params, x[:500], y[:500], 3.0, 10)
    best = min(common.timeit(lambda: handwritten.book_epoch(params, x[:n], y[:n], 3.0, 10))[0]
               for _ in range(3))
    return best / steps * 1e6


def profile_tinygrad(lib, x, y, steps: int, top: int) -> list[list[str]]:
    lib.manual_seed(0)
    model, loss_fn, opt = frameworks.build_book(lib, "float32")
    frameworks.train_epoch(lib, model, loss_fn, opt, x[:500], y[:500], 10)   # warm up
    prof = cProfile.Profile()
    n = steps * 10
    prof.enable()
    frameworks.train_epoch(lib, model, loss_fn, opt, x[:n], y[:n], 10)
    prof.disable()
    stats = pstats.Stats(prof)
    rows = []
    entries = sorted(stats.stats.items(), key=lambda kv: kv[1][2], reverse=True)
    total = sum(v[2] for _, v in entries)
    for (filename, line, func), (_cc, nc, tt, ct, _callers) in entries[:top]:
        where = filename.split("tinygrad_nn/")[-1] if "tinygrad_nn/" in filename else \
            filename.rsplit("/", 1)[-1]
        rows.append([f"{where}:{line}({func})", f"{nc / steps:.1f}", f"{tt / steps * 1e6:.2f}",
                     f"{ct / steps * 1e6:.2f}"])
    rows.append(["total (profiled, with cProfile's own overhead)", "", f"{total/steps*1e6:.1f}",
                 ""])
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="where the time of a book step goes")
    p.add_argument("--steps", type=int, default=3000)
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--threads", type=int, default=None,
                   help="threads for every library (torch and BLAS); default: their defaults")
    args = p.parse_args(argv)
    steps = 30 if args.smoke else args.steps
    torch = None if args.no_torch else common.try_import_torch()
    if args.threads:
        common.limit_threads(args.threads)
    import tinygrad_nn
    import tinygrad_nn.nn
    import tinygrad_nn.optim  # noqa: F401

    print("# profile of a book training step (batch 10, float32)")
    for line in common.machine_report():
        print(line)
    data = common.load_data(limit=max(1000, steps * 10 + 600))
    x, y, _ = common.shuffled(data, 0, np.dtype(np.float32))
    monitor = common.OtherCpu()
    libs = [("tinygrad_nn", tinygrad_nn)] + ([("PyTorch eager", torch)] if torch else [])
    measured = {name: phase_times(lib, x, y, steps) for name, lib in libs}
    floor = numpy_step_us(x, y, steps)
    header = ["phase"] + [f"{name} µs/step" for name, _ in libs]
    rows = [[ph] + [f"{measured[name][ph]:.1f}" for name, _ in libs] for ph in PHASES]
    rows.append(["total"] + [f"{sum(measured[name].values()):.1f}" for name, _ in libs])
    print(f"\n## phases ({steps:,} steps, mean; hand-written NumPy step: {floor:.1f} µs)\n")
    print(common.markdown_table(header, rows))
    print(f"\nduring these timings, {monitor.report()}")
    print(f"\n## cProfile of tinygrad_nn, {steps:,} steps: top {args.top} by own time\n")
    print(common.markdown_table(["function", "calls/step", "own µs/step", "cumulative µs/step"],
                                profile_tinygrad(tinygrad_nn, x, y, steps, args.top)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
