"""A/B of a training step (the book's, or with ``--workload wide`` the wide network's): this
checkout against a git revision, and both against the hand-written NumPy step, in one process,
in alternating blocks. (If the revision's
``benchmarks/handwritten.py`` differs, its hand-written step is timed too.)

A change to the hot path moves the step by a few percent, less than a shared host's drift over
the minutes a ``run.py`` takes. Here the two versions run block after block (a block is
``--steps`` steps on the next slice of the shuffled training set; the order cycles through every
rotation of the systems, forwards and backwards), so each block's ratio compares runs made
within milliseconds of each other. The medians of those ratios are printed with their quartiles,
and the last line gives a bootstrap 95% interval of the median ratio of the two versions. That
interval covers only the block-to-block noise: a null A/B (``HEAD`` against an unchanged
checkout) gave 1.002-1.025 over seven runs of 1,000 blocks, and two exported copies of one
commit 0.993 — which copy is built first, and where its objects land in memory, moves the step
by up to ~2.5%. So this resolves differences of a few percent (the hot-path work of 2026-12-01:
0.89-0.94), not the last one.

    python benchmarks/ab.py HEAD~1                  # working tree vs the previous commit
    python benchmarks/ab.py f0bee7c --blocks 300 --steps 200 --dtype float64
    python benchmarks/ab.py HEAD --smoke               # seconds: what the tests run
    python benchmarks/ab.py HEAD~1 --workload wide --blocks 100 --steps 5 --threads 2

The revision's ``tinygrad_nn/`` is exported (``git archive``) to a temporary directory and
imported as the package ``tinygrad_nn_ab`` (its imports are relative, so it runs on its own
code). Both run the workload as ``frameworks.py`` writes it.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tarfile
import tempfile
import types
from functools import partial
from pathlib import Path

import common
import frameworks
import handwritten
import numpy as np
from systems import WORKLOADS

ROOT = Path(__file__).resolve().parents[1]


def import_revision(rev: str, into: Path):
    """``tinygrad_nn/`` at ``rev`` as the package ``tinygrad_nn_ab`` (extracted under ``into``)."""
    tar = subprocess.run(["git", "archive", rev, "tinygrad_nn"], cwd=ROOT, check=True,
                         capture_output=True).stdout
    with tarfile.open(fileobj=io.BytesIO(tar)) as t:
        t.extractall(into, filter="data")
    (into / "tinygrad_nn").rename(into / "tinygrad_nn_ab")
    sys.path.insert(0, str(into))
    import tinygrad_nn_ab

    return tinygrad_nn_ab


def hand_at_revision(rev: str):
    """``benchmarks/handwritten.py`` at ``rev`` as a module, or None if it is this checkout's."""
    src = subprocess.run(["git", "show", f"{rev}:benchmarks/handwritten.py"], cwd=ROOT,
                         capture_output=True, text=True)
    if src.returncode != 0 or src.stdout == (ROOT / "benchmarks/handwritten.py").read_text():
        return None
    module = types.ModuleType("handwritten_ab")
    exec(compile(src.stdout, f"{rev}:benchmarks/handwritten.py", "exec"), module.__dict__)
    return module


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("rev", help="git revision to compare with (e.g. HEAD~1)")
    p.add_argument("--workload", choices=["book", "wide"], default="book",
                   help="book: batch 10, float32 or float64; wide: batch 256 (try --steps 5)")
    args = common.parse_block_args(p, argv, blocks=200)
    wl = WORKLOADS[args.workload]  # sizes, batch, lr and init as run.py's
    build = frameworks.build_book if wl.onehot else frameworks.build_wide
    batch = wl.batch_size
    common.limit_threads(args.threads)
    import tinygrad_nn

    with tempfile.TemporaryDirectory() as tmp:
        ref = import_revision(args.rev, Path(tmp))
        data = common.load_data(args.synthetic)
        x, y, labels = common.shuffled(data, 0, np.dtype(args.dtype))
        if not wl.onehot:  # class labels
            y = labels
        libs = {"this checkout": tinygrad_nn, args.rev: ref}
        runs = {}
        for name, lib in libs.items():
            lib.manual_seed(0)
            runs[name] = build(lib, args.dtype)
        hands = {"hand-written NumPy": handwritten}
        old_hand = hand_at_revision(args.rev)
        if old_hand is not None:  # the baseline changed too: time both
            hands[f"hand-written NumPy at {args.rev}"] = old_hand
        params = {name: wl.init(np.random.default_rng(0), args.dtype) for name in hands}
        systems = {name: partial(frameworks.train_epoch, lib, *runs[name], batch_size=batch)
                   for name, lib in libs.items()}
        systems.update({name: partial(hand.book_epoch if wl.onehot else hand.wide_epoch,
                                      params[name], lr=wl.lr, batch_size=batch)
                        for name, hand in hands.items()})
        t = common.time_blocks(systems, x, y, args.blocks, args.steps, batch)
    print(f"# {args.workload} {args.dtype}, batch {batch}: {args.blocks} blocks of "
          f"{args.steps} steps, {args.threads} BLAS thread(s), data: {data.source}")
    for line in common.machine_report():
        print(line)

    def quartiles(r: np.ndarray) -> str:
        return f"{np.median(r):.3f} (quartiles {np.quantile(r, .25):.3f}-{np.quantile(r, .75):.3f})"

    rows = [[name, f"{np.median(v):.1f}", quartiles(v / t["hand-written NumPy"])]
            for name, v in t.items()]
    print(common.markdown_table(["system", "µs/step (median)", "time / hand-written NumPy"],
                                rows))
    r = t["this checkout"] / t[args.rev]
    # how well the median itself is known: a bootstrap over the blocks (fixed seed)
    boot = np.median(np.random.default_rng(0).choice(r, (2000, len(r))), axis=1)
    print(f"\nthis checkout / {args.rev}: {quartiles(r)}; 95% interval of the median "
          f"{np.quantile(boot, .025):.3f}-{np.quantile(boot, .975):.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
