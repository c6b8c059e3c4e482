"""Gradient descent on a cost of two variables: Nielsen, "Neural Networks and Deep Learning",
chapter 1, section "Learning with gradient descent".

The book's argument (eqs. 7-12): moving v = (v1, v2) by Delta v changes the cost by
Delta C ~= grad C . Delta v. Choosing Delta v = -eta grad C gives

    Delta C ~= -eta ||grad C||^2 <= 0,

so C keeps decreasing, provided eta is small enough for the approximation to hold. This script
runs v -> v' = v - eta grad C and prints, step by step, the actual Delta C next to the predicted
-eta ||grad C||^2. Then it shows what a learning rate that is too large does.

The gradient comes from the tinygrad_nn autograd engine: v is a float64 tensor with
requires_grad=True, C(v).backward() leaves grad C in v.grad. (The script also prints its
agreement with the gradient worked out by hand.)

Two costs:
- a bowl, C = v1^2 + 3 v2^2, grad C = (2 v1, 6 v2). One step multiplies v1 by (1 - 2 eta) and v2
  by (1 - 6 eta): for 1/6 < eta < 1/3 v2 flips sign every step (oscillation across the valley),
  for eta > 1/3 |v2| grows and C blows up (divergence).
- a double well, C = (v1^2 - 1)^2 / 4 + v2^2, grad C = (v1 (v1^2 - 1), 2 v2): not quadratic,
  with two minima at v = (+-1, 0); gradient descent rolls into the one on the side it starts.

Run: ``python examples/gradient_descent.py [--eta 0.02] [--steps 8] [--large-etas 0.3 0.4]``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

import numpy as np

import tinygrad_nn


def bowl(v):
    """C = v1^2 + 3 v2^2, for a NumPy array or a tinygrad_nn tensor of shape (2,)."""
    return v[0] ** 2 + 3 * v[1] ** 2


def bowl_gradient(v: np.ndarray) -> np.ndarray:
    """grad C = (2 v1, 6 v2), worked out by hand."""
    return np.array([2 * v[0], 6 * v[1]])


def double_well(v):
    """C = (v1^2 - 1)^2 / 4 + v2^2."""
    return (v[0] ** 2 - 1) ** 2 / 4 + v[1] ** 2


def double_well_gradient(v: np.ndarray) -> np.ndarray:
    """grad C = (v1 (v1^2 - 1), 2 v2), worked out by hand."""
    return np.array([v[0] * (v[0] ** 2 - 1), 2 * v[1]])


COSTS: dict[str, tuple[Callable, Callable[[np.ndarray], np.ndarray]]] = {
    "bowl  C = v1^2 + 3 v2^2": (bowl, bowl_gradient),
    "double well  C = (v1^2 - 1)^2 / 4 + v2^2": (double_well, double_well_gradient),
}


def cost_and_gradient(cost: Callable, v: np.ndarray) -> tuple[float, np.ndarray]:
    """C(v) and grad C(v) by the engine's reverse-mode autograd."""
    t = tinygrad_nn.tensor(v.tolist(), dtype=tinygrad_nn.float64, requires_grad=True)
    c = cost(t)
    c.backward()
    return c.item(), t.grad.numpy()


def descend(cost: Callable, start: Sequence[float], eta: float, steps: int) -> list[dict]:
    """Run ``steps`` steps of v -> v - eta grad C; one record per step.

    Each record holds v, C(v), grad C(v), the next point, the actual Delta C and the predicted
    -eta ||grad C||^2.
    """
    v = np.array(start, dtype=np.float64)
    c, g = cost_and_gradient(cost, v)
    records = []
    for _ in range(steps):
        v_next = v - eta * g  # v -> v - eta grad C  (book eqs. 10, 12)
        c_next, g_next = cost_and_gradient(cost, v_next)
        records.append(
            {
                "v": v,
                "C": c,
                "grad": g,
                "v_next": v_next,
                "C_next": c_next,
                "delta_C": c_next - c,
                "predicted": -eta * float(g @ g),  # Delta C ~= -eta ||grad C||^2  (eq. 11)
            }
        )
        v, c, g = v_next, c_next, g_next
    return records


def print_run(title: str, records: list[dict]) -> None:
    print(title)
    print("  step        v1          v2            C        Delta C   -eta|grad C|^2   ratio")
    for n, r in enumerate(records):
        ratio = r["delta_C"] / r["predicted"] if r["predicted"] != 0 else float("nan")
        print(
            f"  {n:>4d} {r['v'][0]:>+11.5f} {r['v'][1]:>+11.5f} {r['C']:>12.5g} "
            f"{r['delta_C']:>+12.4e} {r['predicted']:>+14.4e} {ratio:>8.3f}"
        )
    print()


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description="Chapter 1: gradient descent on C(v1, v2)")
    parser.add_argument("--eta", type=float, default=0.02, help="a small learning rate")
    parser.add_argument("--steps", type=int, default=8, help="steps per run")
    parser.add_argument(
        "--large-etas",
        type=float,
        nargs="*",
        default=[0.3, 0.4],
        help="learning rates too large for the bowl (oscillation for 1/6 < eta < 1/3, "
        "divergence above 1/3)",
    )
    parser.add_argument("--start", type=float, nargs=2, default=[1.5, 1.0], metavar=("V1", "V2"))
    args = parser.parse_args(argv)
    if args.eta <= 0 or args.steps < 1:
        parser.error("--eta must be > 0 and --steps >= 1")

    print("grad C from C(v).backward() versus grad C worked out by hand, at v = start:")
    start = np.array(args.start)
    gradient_check = {}
    for name, (cost, by_hand) in COSTS.items():
        _, g = cost_and_gradient(cost, start)
        gradient_check[name] = (g, by_hand(start))
        print(f"  {name:<42s} engine {g}   by hand {by_hand(start)}")
    print()

    runs = {}
    for name, (cost, _) in COSTS.items():
        title = f"{name}, eta = {args.eta:g}: Delta C ~= -eta ||grad C||^2 <= 0"
        runs[(name, args.eta)] = records = descend(cost, args.start, args.eta, args.steps)
        print_run(title, records)

    print("The approximation gets exact as eta -> 0: first step from the start, ratio of the")
    print("actual Delta C to the predicted -eta ||grad C||^2:")
    ratios = {}
    for name, (cost, _) in COSTS.items():
        for eta in (0.1, 0.01, 0.001, 0.0001):
            first = descend(cost, args.start, eta, 1)[0]
            ratios[(name, eta)] = first["delta_C"] / first["predicted"]
        row = "  ".join(
            f"eta={eta:g}: {ratios[(name, eta)]:.5f}" for eta in (0.1, 0.01, 0.001, 0.0001)
        )
        print(f"  {name:<42s} {row}")
    print()

    bowl_name = next(iter(COSTS))
    for eta in args.large_etas:
        v2_factor = 1 - 6 * eta
        behaviour = (
            "v2 flips sign each step but shrinks (oscillation)"
            if -1 < v2_factor < 0
            else "|v2| grows each step (divergence)"
            if v2_factor < -1
            else "v2 shrinks monotonically"
        )
        title = f"{bowl_name}, eta = {eta:g}: v2 -> (1 - 6 eta) v2 = {v2_factor:+g} v2: {behaviour}"
        runs[(bowl_name, eta)] = records = descend(bowl, args.start, eta, args.steps)
        print_run(title, records)

    return {"runs": runs, "gradient_check": gradient_check, "first_step_ratios": ratios}


if __name__ == "__main__":
    main()
