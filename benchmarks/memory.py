"""Memory of the book's training loop: tinygrad_nn vs hand-written NumPy (and torch, for scale).

Each system runs in a fresh interpreter (so one system's allocations and freed-but-kept pages
never count against another), loading the data frugally (shuffled as uint8, converted once to
float32: one 188 MB copy of the training set) before anything is built. Reported per system:

- peak RSS: the process's high-water mark (Linux VmHWM; ``ru_maxrss`` would carry the parent's
  peak across fork + exec) — what the operating system had to give the whole process
  (interpreter, libraries, data, model, training);
- training increment: the high-water mark is reset (``/proc/self/clear_refs``) just before the
  timed steps; the new peak minus the resident size at that moment is the memory the training
  loop itself needed on top of data and libraries;
- traced peak: ``tracemalloc`` peak over 500 steps in a separate fresh run — every Python object
  and NumPy buffer the loop had alive at once (NumPy reports its buffers to tracemalloc), at byte
  resolution, free of the allocator's page granularity (tracing slows the loop, so it is a
  separate run);
- growth: resident size sampled every 1,000 steps over 10,000 steps; the growth from the first
  sample to the last must stay under 2 MB, or something (graphs, gradients) is being kept.

    python benchmarks/memory.py             # 10,000 steps per system
    python benchmarks/memory.py --smoke     # a few hundred steps on small synthetic data
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import common
import numpy as np

HERE = Path(__file__).resolve().parent
SYSTEMS = ["tinygrad_nn", "hand-written NumPy", "PyTorch eager"]
PEAK_RATIO_TARGET = 1.2         # tinygrad_nn peak RSS / hand-written NumPy peak RSS
GROWTH_LIMIT_MB = 2.0
MB = 1024 * 1024


def frugal_data(synthetic: bool, n_limit: int | None, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Shuffled training set as (x float32 (N, 784) in [0, 1], y one-hot float32), one copy."""
    paths = [common.FASHION_DIR / f for f in common._FILES[True]]
    rng = np.random.default_rng(seed)
    if not synthetic and all(p.exists() for p in paths):
        images = common.read_idx(paths[0]).reshape(-1, common.N_IN)
        labels = common.read_idx(paths[1]).astype(np.int64)
    else:
        n = n_limit or common.N_TRAIN
        labels = rng.integers(0, 10, n)
        images = (rng.random((n, common.N_IN)) * 255).astype(np.uint8)
    if n_limit:
        images, labels = images[:n_limit], labels[:n_limit]
    perm = rng.permutation(len(labels))
    images = images[perm]
    x = np.empty(images.shape, np.float32)
    np.multiply(images, np.float32(1 / 255), out=x)
    return x, common.one_hot(labels[perm], np.float32)


def child(system: str, steps: int, every: int, synthetic: bool, n_limit: int | None,
          trace: bool) -> dict:
    """Train ``steps`` book steps with ``system`` in this process; return the measurements."""
    if system == "PyTorch eager":
        import torch as lib
    elif system == "tinygrad_nn":
        import tinygrad_nn as lib
        import tinygrad_nn.nn
        import tinygrad_nn.optim  # noqa: F401
    else:
        lib = None
    import frameworks
    import handwritten

    x, y = frugal_data(synthetic, n_limit, seed=0)
    bs = 10
    if lib is None:
        params = handwritten.init_book(np.random.default_rng(0), [784, 30, 10], np.float32)

        def run(lo, hi):
            handwritten.book_epoch(params, x[lo:hi], y[lo:hi], 3.0, bs)
    else:
        lib.manual_seed(0)
        model, loss_fn, opt = frameworks.build_book(lib, "float32")

        def run(lo, hi):
            frameworks.train_epoch(lib, model, loss_fn, opt, x[lo:hi], y[lo:hi], bs)

    steps_per_pass = len(x) // bs
    run(0, 10 * bs)                          # first steps: lazy initialisation of the libraries
    if trace:
        import tracemalloc

        tracemalloc.start()
        base = tracemalloc.get_traced_memory()[0]
    peak_before = common.peak_rss_bytes()
    reset = common.reset_peak_rss()          # so that the training peak is measured on its own
    rss_before = common.current_rss_bytes()
    samples = []
    done = 0
    t0 = time.perf_counter()
    while done < steps:
        n = min(every, steps - done)
        start = done % steps_per_pass
        n = min(n, steps_per_pass - start)   # wrap around at the end of the data
        run(start * bs, (start + n) * bs)
        done += n
        if done % every == 0 or done == steps:
            samples.append((done, common.current_rss_bytes()))
    seconds = time.perf_counter() - t0
    peak_training = common.peak_rss_bytes()
    out = {"system": system, "steps": steps, "seconds": seconds, "rss_before": rss_before,
           "peak_rss": max(peak_before, peak_training),
           "training_increment": peak_training - rss_before if reset else None,
           "samples": samples, "data_bytes": x.nbytes + y.nbytes}
    if trace:
        out["traced_peak"] = tracemalloc.get_traced_memory()[1] - base
        tracemalloc.stop()
    return out


def spawn(system: str, steps: int, every: int, synthetic: bool, n_limit: int | None,
          trace: bool) -> dict:
    cmd = [sys.executable, str(HERE / "memory.py"), "--child", system, "--steps", str(steps),
           "--every", str(every)] + (["--synthetic"] if synthetic else []) + \
        (["--limit", str(n_limit)] if n_limit else []) + (["--trace"] if trace else [])
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{system}: child failed:\n{proc.stderr.strip()[-2000:]}")
    line = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="memory of the book's training loop")
    p.add_argument("--smoke", action="store_true", help="few steps, small synthetic data")
    p.add_argument("--steps", type=int, default=10_000)
    p.add_argument("--every", type=int, default=1_000)
    p.add_argument("--synthetic", action="store_true")
    p.add_argument("--no-torch", action="store_true")
    p.add_argument("--child", choices=SYSTEMS, help=argparse.SUPPRESS)
    p.add_argument("--limit", type=int, help=argparse.SUPPRESS)
    p.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print("RESULT " + json.dumps(child(args.child, args.steps, args.every, args.synthetic,
                                           args.limit, args.trace)))
        return 0
    if args.smoke:
        args.steps, args.every, args.synthetic, limit, trace_steps = 300, 100, True, 2000, 50
    else:
        limit, trace_steps = None, 500

    print("# memory of the book's training loop (float32, batch 10)" +
          (" (smoke mode: no claims)" if args.smoke else ""))
    torch = None if args.no_torch else common.try_import_torch()
    for line in common.machine_report():
        print(line)
    systems = [s for s in SYSTEMS if s != "PyTorch eager" or torch is not None]
    errors: list[str] = []
    results: dict[str, dict] = {}
    for s in systems:
        try:
            r = spawn(s, args.steps, args.every, args.synthetic, limit, trace=False)
            r["traced_peak"] = spawn(s, trace_steps, trace_steps, args.synthetic, limit,
                                     trace=True)["traced_peak"]
            results[s] = r
        except Exception as e:  # noqa: BLE001 - report and go on with the others
            errors.append(str(e))
    if not results:
        print("\n## errors\n" + "\n".join(errors))
        return 1
    data_mb = next(iter(results.values()))["data_bytes"] / MB
    print(f"\ndata resident in every process: {data_mb:.0f} MB (x float32 + one-hot y); "
          f"{args.steps:,} steps per system, resident size sampled every {args.every:,}\n")
    rows = []
    ref = results.get("hand-written NumPy")
    for s, r in results.items():
        samples = r["samples"]
        growth = (samples[-1][1] - samples[0][1]) / MB
        ratio = f"{r['peak_rss'] / ref['peak_rss']:.3f}x" if ref else "n/a"
        rows.append([s, f"{r['peak_rss'] / MB:.1f}", ratio,
                     "n/a" if r["training_increment"] is None
                     else f"{r['training_increment'] / MB:.2f}",
                     f"{r['traced_peak'] / 1024:.1f}", f"{growth:+.2f}",
                     f"{r['seconds'] / r['steps'] * 1e6:.0f}"])
        if not all(np.isfinite([growth, r["peak_rss"]])):
            errors.append(f"{s}: non-finite measurement")
        if s != "PyTorch eager" and not args.smoke and growth > GROWTH_LIMIT_MB:
            errors.append(f"{s}: resident size grew {growth:.2f} MB over {args.steps:,} steps")
    print(common.markdown_table(
        ["system", "peak RSS MB", "peak / NumPy", "training increment MB",
         f"traced peak KiB ({trace_steps} steps)", f"growth MB (step {args.every:,} -> "
         f"{args.steps:,})", "us/step"], rows))
    print("\nresident size (MB) at each sample:")
    for s, r in results.items():
        print(f"  {s:20s} " + " ".join(f"{b / MB:.1f}" for _, b in r["samples"]))
    if "tinygrad_nn" in results and ref and not args.smoke:
        r = results["tinygrad_nn"]["peak_rss"] / ref["peak_rss"]
        ok = r <= PEAK_RATIO_TARGET
        print(f"\ntarget: tinygrad_nn peak RSS <= {PEAK_RATIO_TARGET}x hand-written NumPy: "
              f"{r:.3f}x -> {'PASS' if ok else 'FAIL'}")
        g = results["tinygrad_nn"]["samples"]
        g = (g[-1][1] - g[0][1]) / MB
        print(f"target: tinygrad_nn grows < {GROWTH_LIMIT_MB} MB over {args.steps:,} steps: "
              f"{g:+.2f} MB -> {'PASS' if g < GROWTH_LIMIT_MB else 'FAIL'}")
    if errors:
        print("\n## errors\n" + "\n".join("  " + e for e in errors))
        return 1
    print("\nall systems ran")
    return 0


if __name__ == "__main__":
    sys.exit(main())
