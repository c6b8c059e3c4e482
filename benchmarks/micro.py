"""Autograd overhead: per-op cost, long chains, fan-out, and import time; tinygrad_nn vs torch.

- per-op: ``(a * b).sum().backward()`` on 1-element tensors, and a single ``a * b`` forward with
  and without grad recording, in µs (the floor every small op pays), next to a bare NumPy ufunc;
- chain: ``x = x * 1.0001`` N times on a 0-d float64 tensor, then ``backward()``: µs per op for the
  forward and the backward, and whether the backward grows linearly (time(100k) / time(10k) must
  lie in [5, 20], the test HIPS/autograd uses); tinygrad_nn once more with ``gc.disable()``, to
  show what Python's cyclic garbage collector costs a forward that keeps 100k nodes alive;
- fan-out: one tensor used by N consumers (``x * 1.0`` N times), stacked and summed, backward;
- ``import tinygrad_nn`` (and numpy, torch) in a fresh interpreter, median of 5.

    python benchmarks/micro.py            # full
    python benchmarks/micro.py --smoke    # small sizes, seconds
"""

from __future__ import annotations

import argparse
import gc
import math
import statistics
import subprocess
import sys
import time

import common
import numpy as np

LINEAR_BOUNDS = (5.0, 20.0)     # time(10 N) / time(N) for a linear-time walk


def per_op(lib, n: int) -> dict[str, float]:
    """µs per call of small ops on 1-element tensors (best of 5 rounds of n calls)."""
    a = lib.tensor([2.0], requires_grad=True)
    b = lib.tensor([3.0], requires_grad=True)

    def mul_sum_backward():
        for _ in range(n):
            (a * b).sum().backward()

    def mul_forward():
        for _ in range(n):
            a * b

    def mul_no_grad():
        with lib.no_grad():
            for _ in range(n):
                a * b

    out = {}
    for name, fn in [("(a*b).sum().backward()", mul_sum_backward),
                     ("a*b forward, recording", mul_forward),
                     ("a*b forward, no_grad", mul_no_grad)]:
        out[name] = min(common.timeit(fn)[0] for _ in range(5)) / n * 1e6
    return out


def numpy_floor(n: int) -> float:
    """µs per bare NumPy ufunc call on 1-element arrays: the floor for any NumPy framework."""
    a, b = np.array([2.0], np.float32), np.array([3.0], np.float32)

    def fn():
        for _ in range(n):
            a * b

    return min(common.timeit(fn)[0] for _ in range(5)) / n * 1e6


def chain(lib, n: int) -> tuple[float, float]:
    """(forward s, backward s) for x = x * 1.0001 repeated n times on a 0-d float64 tensor.

    float64 so that the gradient 1.0001**n can be checked tightly (float32 drifts ~0.2% at 100k).
    """
    x = lib.tensor(1.0, dtype=lib.float64, requires_grad=True)
    gc.collect()
    t0 = time.perf_counter()
    y = x
    for _ in range(n):
        y = y * 1.0001
    t1 = time.perf_counter()
    y.backward()
    t2 = time.perf_counter()
    expected = 1.0001 ** n
    got = float(x.grad.item())
    if not math.isclose(got, expected, rel_tol=1e-9):
        raise AssertionError(f"chain of {n}: dy/dx = {got}, expected {expected}")
    return t1 - t0, t2 - t1


def chain_gc_off(lib, n: int) -> tuple[float, float]:
    """``chain`` with Python's cyclic garbage collector disabled: what the collector costs."""
    gc.disable()
    try:
        return chain(lib, n)
    finally:
        gc.enable()


def fan_out(lib, n: int) -> tuple[float, float]:
    """(forward s, backward s) for n consumers x * 1.0 of one tensor, stacked and summed."""
    x = lib.tensor(1.0, requires_grad=True)
    gc.collect()
    t0 = time.perf_counter()
    s = lib.stack([x * 1.0 for _ in range(n)]).sum()
    t1 = time.perf_counter()
    s.backward()
    t2 = time.perf_counter()
    if float(x.grad.item()) != float(n):
        raise AssertionError(f"fan-out of {n}: dx = {x.grad.item()}, expected {n}")
    return t1 - t0, t2 - t1


def import_time(module: str, repeats: int = 5) -> float:
    """Median seconds to import ``module`` in a fresh interpreter (timed inside it).

    As on a user's machine, the bytecode cache is on (a first, untimed import writes it, to a
    temporary PYTHONPYCACHEPREFIX): some environments set PYTHONDONTWRITEBYTECODE, which would
    make every import recompile the sources and time the compiler instead.
    """
    import os
    import tempfile

    code = (f"import time; t = time.perf_counter(); import {module}; "
            "print(time.perf_counter() - t)")
    with tempfile.TemporaryDirectory() as cache:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = cache
        ts = []
        for _ in range(repeats + 1):
            out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 check=True, env=env)
            ts.append(float(out.stdout.strip().splitlines()[-1]))
    return statistics.median(ts[1:])


def graph_table(libs, fn, sizes, what: str, errors: list[str], check_linear: bool):
    """Rows for one graph shape over ``sizes``, for every lib; checks backward linearity."""
    rows = []
    for name, lib in libs:
        results = {}
        for n in sizes:
            try:
                results[n] = min((fn(lib, n) for _ in range(3 if n <= 10_000 else 1)),
                                 key=lambda r: r[1])
            except Exception as e:  # noqa: BLE001 - report, keep going with the other sizes
                errors.append(f"{name} {what} n={n}: {type(e).__name__}: {e}")
                break
        for n, (tf, tb) in results.items():
            ratio, verdict = "", ""
            if n // 10 in results:
                r = tb / results[n // 10][1]
                ratio = f"{r:.1f}"
                ok = LINEAR_BOUNDS[0] <= r <= LINEAR_BOUNDS[1]
                verdict = "linear" if ok else "NOT linear"
                if check_linear and not ok and name == "tinygrad_nn":
                    errors.append(f"{name} {what}: backward time ratio {n}/{n // 10} = {r:.1f} "
                                  f"outside {LINEAR_BOUNDS}")
            rows.append([name, f"{n:,}", f"{tf / n * 1e6:.2f}", f"{tb / n * 1e6:.2f}",
                         f"{tf + tb:.3f}", f"{ratio} {verdict}".strip()])
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description="autograd overhead micro-benchmarks")
    p.add_argument("--smoke", action="store_true", help="small sizes, no timing claims")
    p.add_argument("--no-torch", action="store_true")
    args = p.parse_args(argv)

    libs = []
    errors: list[str] = []
    try:
        import tinygrad_nn

        libs.append(("tinygrad_nn", tinygrad_nn))
    except Exception as e:  # noqa: BLE001
        errors.append(f"tinygrad_nn unavailable: {type(e).__name__}: {e}")
    torch = None if args.no_torch else common.try_import_torch()
    if torch is not None:
        libs.append(("PyTorch eager", torch))
    print("# autograd overhead" + (" (smoke mode: no timing claims)" if args.smoke else ""))
    for line in common.machine_report():
        print(line)
    monitor = common.OtherCpu()

    n = 200 if args.smoke else 20_000
    print(f"\n## per-op overhead (µs per call, best of 5 x {n:,} calls)\n")
    rows = [["bare NumPy ufunc a*b (floor)", f"{numpy_floor(n):.2f}", ""]]
    measured: dict[str, dict[str, float]] = {}
    for name, lib in libs:
        try:
            measured[name] = per_op(lib, n)
        except Exception as e:  # noqa: BLE001
            errors.append(f"{name} per-op: {type(e).__name__}: {e}")
    for name, ops in measured.items():
        for op, us in ops.items():
            torch_us = measured.get("PyTorch eager", {}).get(op)
            vs = f"{us / torch_us:.2f}x" if torch_us and name != "PyTorch eager" else ""
            rows.append([f"{name}: {op}", f"{us:.2f}", vs])
    print(common.markdown_table(["operation", "µs/call", "time / torch"], rows))

    sizes = [100, 1_000] if args.smoke else [1_000, 10_000, 100_000]
    header = ["system", "N ops", "forward µs/op", "backward µs/op", "total s",
              "backward ratio to N/10"]
    print("\n## chain: x = x * 1.0001, N times, then backward\n")
    rows = graph_table(libs, chain, sizes, "chain", errors, not args.smoke)
    rows += graph_table([(name + ", gc disabled", lib) for name, lib in libs
                         if name == "tinygrad_nn"], chain_gc_off, sizes, "chain", errors, False)
    print(common.markdown_table(header, rows))
    print("\n## fan-out: stack([x * 1.0 for N consumers]).sum(), backward\n")
    print(common.markdown_table(header, graph_table(libs, fan_out, sizes, "fan-out", errors,
                                                    not args.smoke)))

    print(f"\nduring these timings, {monitor.report()}")
    print("\n## import time (fresh interpreter, median of "
          f"{1 if args.smoke else 5}, timed around the import statement)\n")
    rows = []
    modules = ["numpy", "tinygrad_nn"] + ([] if torch is None else ["torch"])
    for mod in modules:
        try:
            rows.append([f"import {mod}", f"{import_time(mod, 1 if args.smoke else 5) * 1e3:.1f}"])
        except subprocess.CalledProcessError as e:
            errors.append(f"import {mod} failed: {e.stderr.strip().splitlines()[-1:]}")
    print(common.markdown_table(["statement", "ms"], rows))
    if errors:
        print("\n## errors\n" + "\n".join("  " + e for e in errors))
        return 1
    print("\nall checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
