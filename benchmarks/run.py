"""Time one training epoch of the book's network (and a wide one) for every system, side by side.

Systems: tinygrad_nn, hand-written NumPy (the practical limit for any NumPy framework), PyTorch
eager on the CPU (when installed), and the book's per-example algorithm (book only, float64).
Each repeat trains every system for one epoch on the same shuffled data, and the systems take
turns: the epoch is cut into ``--segments`` consecutive runs of whole mini-batches (10 by
default; each system's model carries on from one segment to its next, so together they are one
uninterrupted pass), and each segment is run by every system in the order hand-written NumPy,
tinygrad_nn, PyTorch, per-example, reversed every other segment and every other repeat.
A system's epoch time is the sum of its segments. So tinygrad_nn always runs right next to the
two systems it is compared with, within tens of milliseconds of them, and a burst of load on a
shared host falls on all of them instead of on one system's whole epoch.
With more than one thread per library, each segment starts after a pause (``--settle``, untimed):
OpenBLAS's worker threads busy-wait for ~0.1 s after a call, and torch's OpenMP threads
starting meanwhile share a core with them (torch's wide step took 2.0-2.2x its own time right
after a NumPy segment, tinygrad_nn's ~1.1x right after a torch one; a user's process runs one
library, so that is not what either costs).
The model is built before the clock starts and evaluated on the test split after it stops.
A ratio in the table (and in the verdicts) is the median over repeats of the ratio of the two
systems' epoch times in that repeat; the ratio of the medians is shown beside it.
Before timing, every system trains a few steps from the same initial parameters on the same
batches and its parameters are compared with the hand-written NumPy ones, so the table compares
the same computation.

    python benchmarks/run.py                       # everything, 3 repeats
    python benchmarks/run.py --workload book --repeats 5 --dtype float32
    python benchmarks/run.py --smoke               # a few steps of everything, no timing claims
"""

from __future__ import annotations

import argparse
import gc
import math
import os
import resource
import sys
import time

import common
import numpy as np
from systems import WORKLOADS, System, Workload, make_systems

TG = "tinygrad_nn"
NUMPY = "hand-written NumPy"
TORCH = "PyTorch eager"
# (workload, other system, bound on time(tinygrad_nn) / time(other), how the goal reads)
TARGETS = [
    ("book", NUMPY, 1.5, "tinygrad_nn <= 1.5x hand-written NumPy"),
    ("book", TORCH, 0.25, "tinygrad_nn >= 4x faster than PyTorch eager"),
    ("wide", NUMPY, 1.1, "tinygrad_nn <= 1.1x hand-written NumPy"),
    ("wide", TORCH, 1.0, "tinygrad_nn <= 1.0x PyTorch eager"),
]
# Largest parameter difference from hand-written NumPy after the check steps, relative to the
# largest parameter: float64 agrees to rounding; float32 rounding (~6e-8 per op) grows over steps.
CHECK_TOL = {"float64": 1e-9, "float32": 1e-4}
MIN_ACCURACY = 0.5          # after a full epoch (chance is 0.1)
SMOKE_EXAMPLES = 1000
DISTURBED = 0.10            # share of the machine other processes may take during a timed run
SETTLE = 0.25               # s before each segment with multi-threaded pools (OpenBLAS spins)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--smoke", action="store_true", help="a few steps of every system, no timing")
    p.add_argument("--workload", choices=["book", "wide", "all"], default="all")
    p.add_argument("--dtype", choices=["float32", "float64", "all"], default="all",
                   help="book runs float32 and float64, wide float32 only (default: all)")
    p.add_argument("--repeats", type=int, default=3, help="timed epochs per system (>= 1)")
    p.add_argument("--nielsen-examples", type=int, default=6000,
                   help="examples the per-example algorithm is timed on (scaled to 60,000)")
    p.add_argument("--synthetic", action="store_true", help="synthetic data even if installed")
    p.add_argument("--no-torch", action="store_true", help="leave PyTorch out")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=None,
                   help="threads for every library (torch and BLAS); default: their defaults")
    p.add_argument("--segments", type=int, default=10,
                   help="each epoch is timed in this many consecutive segments, the systems "
                        "taking turns segment by segment (default 10)")
    p.add_argument("--settle", type=float, default=None,
                   help="seconds to pause (untimed) before each segment, for the last system's "
                        "thread pools to go idle; default 0.25 with more than one thread per "
                        "library, else 0")
    p.add_argument("--retries", type=int, default=2,
                   help="re-time a repeat during which other processes used more than "
                        f"{DISTURBED * 100:.0f}%% of the machine, up to this many times")
    args = p.parse_args(argv)
    if args.repeats < 1:
        p.error("--repeats must be >= 1")
    if args.segments < 1:
        p.error("--segments must be >= 1")
    if args.nielsen_examples < 1:
        p.error("--nielsen-examples must be >= 1")
    if args.settle is None:
        multi = (os.cpu_count() or 1) > 1 if args.threads is None else args.threads > 1
        args.settle = SETTLE if multi and not args.smoke else 0.0
    if not 0 <= args.settle <= 10:
        p.error("--settle must be between 0 and 10 seconds")
    return args


class Failure(Exception):
    """A system raised; recorded in the results and reported, the others go on."""


def guarded(system: System, what: str, fn, *a):
    try:
        return fn(*a)
    except Exception as e:  # noqa: BLE001 - one failing system must not stop the comparison
        raise Failure(f"{system.name} {what}: {type(e).__name__}: {e}") from e


def max_rel_diff(ps: list[np.ndarray], qs: list[np.ndarray]) -> float:
    scale = max(1.0, max(float(np.abs(q).max()) for q in qs))
    return max(float(np.abs(np.asarray(p, np.float64) - q).max())
               for p, q in zip(ps, qs, strict=True)) / scale


def equivalence_check(systems, wl: Workload, dtype: str, data: common.Data, seed: int,
                      steps: int, errors: list[str]) -> list[str]:
    """Train ``steps`` steps from identical parameters on identical batches; compare with NumPy."""
    x, y1h, labels = common.shuffled(data, seed + 1000, np.dtype(dtype))
    n = steps * wl.batch_size
    init = wl.init(np.random.default_rng(seed), dtype)
    results = {}
    for s in systems:
        xs = x[:n].astype(np.float64) if s.always_float64 else x[:n]
        ys = (y1h[:n].astype(np.float64) if s.always_float64 else y1h[:n]) if wl.onehot \
            else labels[:n]
        try:
            guarded(s, "setup", s.setup, wl, dtype, seed, init)
            guarded(s, "train", s.train, xs, ys, n)
            results[s.name] = guarded(s, "params", s.params)
        except Failure as f:
            errors.append(str(f))
    lines = []
    ref = results.get(NUMPY)
    for s in systems:
        if s.name not in results or s.name == NUMPY or ref is None:
            continue
        d = max_rel_diff(results[s.name], ref)
        tol = CHECK_TOL[dtype]
        ok = math.isfinite(d) and d <= tol
        lines.append(f"  {s.name:28s} max |Δparam| / max|param| = {d:.2e}  "
                     f"(tol {tol:.0e}) {'ok' if ok else 'MISMATCH'}")
        if not ok:
            errors.append(f"{s.name} {wl.name} {dtype}: parameters differ from hand-written "
                          f"NumPy after {steps} steps by {d:.2e} (tol {tol:.0e})")
    return lines


def run_group(systems, wl: Workload, dtype: str, data: common.Data, args, errors: list[str]):
    """Time every system on one (workload, dtype); return table rows and per-system medians."""
    print(f"\n## {wl.name} / {dtype}: {wl.description}")
    checked = [s for s in systems if wl.name in s.workloads]
    first = {NUMPY: 0, TG: 1, TORCH: 2}  # the timing order (see the module docstring)
    order = sorted(checked, key=lambda s: first.get(s.name, len(first)))
    steps = 3 if wl.name == "wide" else 20
    print(f"equivalence check ({steps} steps from the same parameters on the same batches):")
    for line in equivalence_check(checked, wl, dtype, data, args.seed, steps, errors):
        print(line)

    n_train = common.N_TRAIN
    repeats = 1 if args.smoke else args.repeats
    n_full = (20 if wl.name == "book" else 3) * wl.batch_size if args.smoke else n_train
    x_test = data.x_test.astype(dtype)
    x_test64 = data.x_test.astype(np.float64)
    monitor = common.OtherCpu()
    times: dict[str, list[float]] = {s.name: [] for s in checked}
    by_repeat: dict[str, dict[int, float]] = {s.name: {} for s in checked}
    faults: dict[str, list[float]] = {s.name: [] for s in checked}  # minor page faults per step
    accs: dict[str, list[float]] = {s.name: [] for s in checked}
    counts: dict[str, int] = {}
    failed: set[str] = set()
    retried = 0      # repeats thrown away because other processes used the machine
    disturbed = 0    # repeats kept although they did (after all retries)
    segments = 2 if args.smoke else args.segments  # (smoke: the turn-taking runs too)
    for rep in range(repeats):
        x, y1h, labels = common.shuffled(data, args.seed + rep, np.dtype(dtype))
        n_nielsen = min(args.nielsen_examples, n_full)
        x64 = x[:n_nielsen].astype(np.float64)
        y64 = y1h[:n_nielsen].astype(np.float64)
        epoch = {s.name: (n_nielsen if s.partial_epoch else n_full,  # (n, x, y) per system
                          *((x64, y64) if s.always_float64 else
                            (x, y1h if wl.onehot else labels)))
                 for s in checked}
        attempts = 1 + (0 if args.smoke else args.retries)
        for attempt in range(attempts):
            live = [s for s in (order if rep % 2 == 0 else order[::-1]) if s.name not in failed]
            for s in list(live):
                try:
                    guarded(s, "setup", s.setup, wl, dtype, args.seed + rep)
                except Failure as f:
                    errors.append(str(f))
                    failed.add(s.name)
                    live.remove(s)
            gc.collect()
            watch = common.OtherCpu()
            spent = {s.name: 0.0 for s in live}
            flt = {s.name: 0 for s in live}
            for k in range(segments):
                for s in live if k % 2 == 0 else live[::-1]:
                    if s.name in failed:
                        continue
                    n, xs, ys = epoch[s.name]
                    a, b = _segment(n, wl.batch_size, segments, k)
                    if args.settle:  # the last system's idle threads stop spinning
                        time.sleep(args.settle)
                    f0 = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
                    t0 = time.perf_counter()
                    try:
                        guarded(s, "train", s.train, xs[a:b], ys[a:b], b - a)
                    except Failure as f:
                        errors.append(str(f))
                        failed.add(s.name)
                        continue
                    spent[s.name] += time.perf_counter() - t0
                    flt[s.name] += resource.getrusage(resource.RUSAGE_SELF).ru_minflt - f0
            if watch.measure()[2] <= DISTURBED:
                break
            if attempt + 1 < attempts:
                retried += 1
        else:
            disturbed += 1
        for s in live:
            if s.name in failed:
                continue
            n = epoch[s.name][0]
            try:
                acc = guarded(s, "accuracy", s.accuracy,
                              x_test64 if s.always_float64 else x_test, data.y_test)
                finite = all(np.isfinite(p).all() for p in guarded(s, "params", s.params))
            except Failure as f:
                errors.append(str(f))
                failed.add(s.name)
                continue
            if not finite:
                errors.append(f"{s.name} {wl.name} {dtype}: non-finite parameters after training")
            t = spent[s.name]
            times[s.name].append(t * n_train / n)   # seconds per 60,000-example epoch
            by_repeat[s.name][rep] = t * n_train / n
            faults[s.name].append(flt[s.name] / math.ceil(n / wl.batch_size))
            accs[s.name].append(acc)
            counts[s.name] = n
        del x, y1h, labels, x64, y64, epoch
    verdicts = report_group(checked, wl, dtype, times, by_repeat, accs, counts, failed, args,
                            errors)
    print("  minor page faults per step (median over repeats): " + ", ".join(
              f"{name} {np.median(fs):.1f}" for name, fs in faults.items() if fs))
    print(f"  during these timings, {monitor.report()}")
    if retried or disturbed:
        print(f"  {retried} repeat(s) re-run because other processes used > {DISTURBED:.0%} of "
              f"the machine; {disturbed} kept disturbed after all retries")
    return verdicts


def _segment(n: int, batch_size: int, segments: int, k: int) -> tuple[int, int]:
    """Examples [a, b) of segment k of ``segments``: whole mini-batches, so that the segments
    together train exactly the batches of one uninterrupted pass over n examples."""
    batches = math.ceil(n / batch_size)
    a, b = (batches * k // segments, batches * (k + 1) // segments)
    return min(a * batch_size, n), min(b * batch_size, n)


def same_repeat_ratios(by_repeat: dict[str, dict[int, float]], name: str,
                       other: str) -> list[float]:
    """time(name) / time(other) in each repeat both ran, in repeat order."""
    a, b = by_repeat.get(name, {}), by_repeat.get(other, {})
    return [a[r] / b[r] for r in sorted(a) if r in b]


def paired_ratio(by_repeat: dict[str, dict[int, float]], name: str, other: str) -> float | None:
    """Median over the repeats both ran of time(name) / time(other) in that repeat."""
    ratios = same_repeat_ratios(by_repeat, name, other)
    return float(np.median(ratios)) if ratios else None


def report_group(checked, wl, dtype, times, by_repeat, accs, counts, failed, args, errors):
    n_train = common.N_TRAIN
    stats = {name: common.Stats.of(ts) for name, ts in times.items() if ts}
    tg = stats.get(TG)
    steps_per_epoch = math.ceil(n_train / wl.batch_size)
    rows = []
    for s in checked:
        if s.name in failed or s.name not in stats:
            rows.append([s.name, "failed", "", "", "", ""])
            continue
        st = stats[s.name]
        n = counts[s.name]
        name = s.name + (f" [timed on {n:,} examples, scaled]" if n < n_train and
                         not args.smoke else "")
        pr = paired_ratio(by_repeat, s.name, TG) if tg else None
        ratio = f"{pr:.2f}x ({st.median / tg.median:.2f}x)" if pr is not None else "n/a"
        acc = statistics_median(accs[s.name])
        rows.append([name, f"{st.median:.3f}", f"{st.lo:.3f}-{st.hi:.3f}",
                     f"{st.median / steps_per_epoch * 1e6:.1f}", ratio, f"{acc:.4f}"])
        if not args.smoke and n == n_train and acc < MIN_ACCURACY:
            errors.append(f"{s.name} {wl.name} {dtype}: test accuracy {acc:.4f} after one epoch "
                          f"is below {MIN_ACCURACY}: it did not learn")
    header = ["system", "s/epoch (median)", "min-max", "us/step",
              "time / tinygrad_nn (ratio of medians)", "test acc"]
    what = "s per 60,000 examples, extrapolated from the smoke steps" if args.smoke else \
        f"{args.repeats} repeats, round-robin"
    print(f"\n{wl.name} / {dtype}, {steps_per_epoch} steps per epoch ({what}):\n")
    print(common.markdown_table(header, rows))
    verdicts = []
    if not args.smoke and tg:
        targets = [(o, bound, text) for w, o, bound, text in TARGETS
                   if w == wl.name and o in stats]
        for other, bound, text in targets:
            r = paired_ratio(by_repeat, TG, other)
            of_medians = tg.median / stats[other].median
            verdicts.append(f"{wl.name}/{dtype}: {text}: {_shown(r, bound)} (ratio of medians "
                            f"{_shown(of_medians, bound)}) -> {'PASS' if r <= bound else 'FAIL'}")
        for v in verdicts:
            print("  " + v)
        for other, _, _ in targets:
            print(f"  tinygrad_nn / {other}, repeat by repeat: "
                  + " ".join(f"{q:.2f}" for q in same_repeat_ratios(by_repeat, TG, other)))
        r = paired_ratio(by_repeat, NUMPY, TORCH)  # where NumPy itself stands against PyTorch
        if r is not None:
            print(f"  context: {NUMPY} / {TORCH}: {r:.2f}x (no framework at all; above 1, "
                  "PyTorch's kernels beat NumPy's on this machine)")
    return verdicts


def _shown(r: float, bound: float) -> str:
    """A time ratio as the target reads it: "4.20x faster" for a speed-up target, else "1.31x"."""
    return f"{1 / r:.2f}x faster" if bound < 1 and r < 1 else f"{r:.2f}x"


def statistics_median(xs):
    return float(np.median(xs)) if xs else float("nan")


def main(argv=None) -> int:
    args = parse_args(argv)
    if not args.no_torch:
        common.try_import_torch()       # imported first so that its thread settings are shown
    if args.threads:
        common.limit_threads(args.threads)
    print("# tinygrad_nn training benchmark" + (" (smoke mode: no timing claims)"
                                                 if args.smoke else ""))
    for line in common.machine_report():
        print(line)
    print(f"load average at the start: {common.load_report()}")
    monitor = common.OtherCpu()
    limit = SMOKE_EXAMPLES if args.smoke else None     # all the smoke steps need
    t_load, data = common.timeit(lambda: common.load_data(args.synthetic, args.seed, limit))
    print(f"data: {data.source}; train {data.x_train.shape}, test {data.x_test.shape}, "
          f"loaded in {t_load:.2f} s")
    print("thread settings: every system runs with the settings shown above" +
          (f" (--threads {args.threads})." if args.threads else " (library defaults).") +
          (f" Each segment starts after an untimed {args.settle:g} s pause (--settle): the last "
           "system's idle threads stop spinning." if args.settle else ""))
    print("timed: the training loop over one epoch of pre-shuffled arrays; the shuffle (same for "
          "all), model construction and evaluation are not timed.")
    systems, problems = make_systems(with_torch=not args.no_torch)
    errors: list[str] = [p for p in problems if p.startswith(TG)]
    for p in problems:
        print("note: " + p)
    names = ["book", "wide"] if args.workload == "all" else [args.workload]
    verdicts = []
    for name in names:
        wl = WORKLOADS[name]
        for dtype in wl.dtypes:
            if args.dtype in ("all", dtype):
                verdicts += run_group(systems, wl, dtype, data, args, errors)
    print(f"\nwhole run: {monitor.report()}")
    if verdicts:
        print("\n## targets\n" + "\n".join("  " + v for v in verdicts))
    if errors:
        print("\n## errors\n" + "\n".join("  " + e for e in dict.fromkeys(errors)))
        return 1
    print("\nall systems ran" + ("" if args.smoke else " and learned") + "; all checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
