"""Where the time of one training step goes (float32), for tinygrad_nn and torch: the book's
network (batch 10, the default) or the wide one (``--workload wide``, batch 256).

1. Phases: the step ``from_numpy -> zero_grad -> forward -> loss -> backward -> step`` timed
   phase by phase with perf_counter over many steps, in µs per step, next to the hand-written
   NumPy step (the arithmetic plus the unavoidable NumPy call overhead). For the book also the
   same phases of floor.py's ``BookArithmetic`` (tinygrad_nn's NumPy calls in its order with no
   framework Python, its ``API arithmetic`` row): the difference is the framework's own cost,
   phase by phase.
2. cProfile of the tinygrad_nn steps: the functions with the most own time, in µs per step, and
   how many times each is called per step. NumPy's ufuncs and operators on arrays are C calls
   that cProfile does not record separately, so their time shows up as the own time of the
   Python function that called them.
3. Python work, counted (deterministic, unlike any timing): the bytecodes executed and the
   Python calls made per tinygrad_nn step (``sys.settrace``, over 10 steps), in all and per
   function. A change to the hot path shows here exactly, whatever the host's noise.

    python benchmarks/profile_step.py [--workload book|wide] [--steps N] [--threads 1] [--smoke]
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


BATCH = {"book": 10, "wide": 256}
LR = {"book": 3.0, "wide": 0.1}


def build(lib, workload: str):
    return (frameworks.build_book if workload == "book" else frameworks.build_wide)(lib, "float32")


def phase_times(lib, workload: str, x: np.ndarray, y: np.ndarray,
                steps: int) -> dict[str, float]:
    """Mean µs per step of each phase of the workload's step (after a few warm-up steps)."""
    lib.manual_seed(0)
    model, loss_fn, opt = build(lib, workload)
    acc = dict.fromkeys(PHASES, 0.0)
    pc = time.perf_counter
    bs = BATCH[workload]
    warm = 50 if workload == "book" else 3
    for k in range(steps + warm):
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
        if k >= warm:
            for name, dt in zip(PHASES, (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5),
                                strict=True):
                acc[name] += dt
    return {k: v / steps * 1e6 for k, v in acc.items()}


def bare_phase_times(x: np.ndarray, y: np.ndarray, steps: int) -> dict[str, float]:
    """The book step's phases done by floor.py's ``BookArithmetic`` (mean µs per step, timed as
    ``phase_times``): forward, loss, backward and SGD's update on bare arrays; from_numpy and
    zero_grad have no counterpart (0)."""
    from floor import BookArithmetic

    import tinygrad_nn

    tinygrad_nn.manual_seed(0)
    params = list(build(tinygrad_nn, "book")[0].parameters())
    b = BookArithmetic(params, np.dtype(np.float32))
    acc = dict.fromkeys(PHASES, 0.0)
    pc = time.perf_counter
    bs = BATCH["book"]
    for k in range(steps + 50):
        i = (k * bs) % (len(x) - bs)
        xb, yb = x[i:i + bs], y[i:i + bs]
        t2 = pc()
        a1, a2 = b.forward(xb)
        t3 = pc()
        b.loss(a2, yb)
        t4 = pc()
        grads = b.backward(xb, a1, a2)
        t5 = pc()
        b.update(grads)
        t6 = pc()
        if k >= 50:
            for name, dt in zip(PHASES[2:], (t3 - t2, t4 - t3, t5 - t4, t6 - t5), strict=True):
                acc[name] += dt
    return {k: v / steps * 1e6 for k, v in acc.items()}


def numpy_step_us(workload: str, x: np.ndarray, y: np.ndarray, steps: int) -> float:
    """Best of 3 runs of the hand-written NumPy step, µs per step."""
    rng = np.random.default_rng(0)
    bs = BATCH[workload]
    if workload == "book":
        params = handwritten.init_book(rng, [784, 30, 10], np.float32)
        epoch = handwritten.book_epoch
    else:
        params = handwritten.init_default(rng, [784, 512, 512, 10], np.float32)
        epoch = handwritten.wide_epoch
    n = steps * bs
    epoch(params, x[:bs * 3], y[:bs * 3], LR[workload], bs)
    best = min(common.timeit(lambda: epoch(params, x[:n], y[:n], LR[workload], bs))[0]
               for _ in range(3))
    return best / steps * 1e6


def profile_tinygrad(lib, workload: str, x, y, steps: int, top: int) -> list[list[str]]:
    lib.manual_seed(0)
    model, loss_fn, opt = build(lib, workload)
    bs = BATCH[workload]
    frameworks.train_epoch(lib, model, loss_fn, opt, x[:bs * 5], y[:bs * 5], bs)   # warm up
    prof = cProfile.Profile()
    n = steps * bs
    prof.enable()
    frameworks.train_epoch(lib, model, loss_fn, opt, x[:n], y[:n], bs)
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


def count_python_work(lib, workload: str, x, y, top: int, steps: int = 10):
    """(bytecodes per step, Python calls per step, rows of the functions with most bytecodes)."""
    lib.manual_seed(0)
    model, loss_fn, opt = build(lib, workload)
    bs = BATCH[workload]
    frameworks.train_epoch(lib, model, loss_fn, opt, x[:bs * 5], y[:bs * 5], bs)   # warm up
    ops: dict[str, int] = {}
    calls: dict[str, int] = {}

    def tracer(frame, event, arg):
        frame.f_trace_opcodes = True
        code = frame.f_code
        where = code.co_filename.split("tinygrad_nn/")[-1] if "tinygrad_nn/" in code.co_filename \
            else code.co_filename.rsplit("/", 1)[-1]
        key = f"{where}:{code.co_name}"
        if event == "opcode":
            ops[key] = ops.get(key, 0) + 1
        elif event == "call":
            calls[key] = calls.get(key, 0) + 1
        return tracer

    n = steps * bs
    sys.settrace(tracer)
    try:
        frameworks.train_epoch(lib, model, loss_fn, opt, x[:n], y[:n], bs)
    finally:
        sys.settrace(None)
    rows = [[k, f"{v / steps:.0f}", f"{calls.get(k, 0) / steps:.1f}"]
            for k, v in sorted(ops.items(), key=lambda kv: -kv[1])[:top]]
    return sum(ops.values()) / steps, sum(calls.values()) / steps, rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="where the time of a training step goes")
    p.add_argument("--workload", choices=["book", "wide"], default="book")
    p.add_argument("--steps", type=int, default=None,
                   help="timed steps (default: 3000 for book, 60 for wide)")
    p.add_argument("--top", type=int, default=25)
    p.add_argument("--smoke", action="store_true")
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--threads", type=int, default=None,
                   help="threads for every library (torch and BLAS); default: their defaults")
    args = p.parse_args(argv)
    wl = args.workload
    steps = 3 if args.smoke else args.steps or (3000 if wl == "book" else 60)
    torch = None if args.no_torch else common.try_import_torch()
    if args.threads:
        common.limit_threads(args.threads)
    import tinygrad_nn
    import tinygrad_nn.nn
    import tinygrad_nn.optim  # noqa: F401

    print(f"# profile of a {wl} training step (batch {BATCH[wl]}, float32)")
    for line in common.machine_report():
        print(line)
    data = common.load_data(limit=max(1000, (steps + 60) * BATCH[wl]))
    x, y1h, labels = common.shuffled(data, 0, np.dtype(np.float32))
    y = y1h if wl == "book" else labels
    monitor = common.OtherCpu()
    libs = [("tinygrad_nn", tinygrad_nn)] + ([("PyTorch eager", torch)] if torch else [])
    measured = {name: phase_times(lib, wl, x, y, steps) for name, lib in libs}
    names = [name for name, _ in libs]
    if wl == "book":  # the same arithmetic with no framework around it
        names.insert(1, "bare arithmetic")
        measured["bare arithmetic"] = bare_phase_times(x, y, steps)
    floor = numpy_step_us(wl, x, y, steps)
    header = ["phase"] + [f"{name} µs/step" for name in names]
    rows = [[ph] + [f"{measured[name][ph]:.1f}" for name in names] for ph in PHASES]
    rows.append(["total"] + [f"{sum(measured[name].values()):.1f}" for name in names])
    print(f"\n## phases ({steps:,} steps, mean; hand-written NumPy step: {floor:.1f} µs)\n")
    print(common.markdown_table(header, rows))
    print(f"\nduring these timings, {monitor.report()}")
    print(f"\n## cProfile of tinygrad_nn, {steps:,} steps: top {args.top} by own time\n")
    print(common.markdown_table(["function", "calls/step", "own µs/step", "cumulative µs/step"],
                                profile_tinygrad(tinygrad_nn, wl, x, y, steps, args.top)))
    total, n_calls, rows = count_python_work(tinygrad_nn, wl, x, y, args.top)
    print(f"\n## Python work per tinygrad_nn step: {total:,.0f} bytecodes, {n_calls:.0f} Python "
          "calls (sys.settrace over 10 steps; the loop of frameworks.train_epoch included)\n")
    print(common.markdown_table(["function", "bytecodes/step", "calls/step"], rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
