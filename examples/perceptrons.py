"""Perceptrons and sigmoid neurons: Nielsen, "Neural Networks and Deep Learning", chapter 1.

Reproduces, from the sections "Perceptrons" and "Sigmoid neurons":

1. The NAND perceptron with weights w = (-2, -2) and bias b = 3 (output 1 if w.x + b > 0, else 0,
   the book's eq. 2).
2. The network of NAND perceptrons that adds two bits x1 + x2, giving the bitwise sum and the
   carry bit (the book's figure; NAND is universal, so perceptrons can compute anything).
3. Exercise "sigmoid neurons simulating perceptrons, part I": multiplying every weight and bias
   by a constant c > 0 changes no perceptron's output, since sign(c z) = sign(z).
4. Part II: replace each perceptron by a sigmoid neuron with weights c w and bias c b. As c grows,
   sigma(c z) tends to the step function, so the network of sigmoid neurons behaves exactly as the
   perceptron network, provided z = w.x + b != 0 for every neuron. Where z = 0 it fails: the
   sigmoid neuron outputs sigma(0) = 1/2 for every c, while the perceptron outputs 0.

Run: ``python examples/perceptrons.py [--scales 1 10 100] [--trials 1000] [--seed 0]``.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence

import numpy as np

from tinygrad_nn.reference import sigmoid

NAND_WEIGHTS = np.array([-2.0, -2.0])
NAND_BIAS = 3.0
BIT_PAIRS = [(0, 0), (0, 1), (1, 0), (1, 1)]

# A neuron maps (weights, bias, inputs) to its output.
Neuron = Callable[[np.ndarray, float, Sequence[float]], float]


def perceptron(w: np.ndarray, b: float, x: Sequence[float]) -> float:
    """The book's eq. 2: output 1 if w.x + b > 0, otherwise 0."""
    return 1.0 if float(np.dot(w, x)) + b > 0 else 0.0


def sigmoid_neuron(w: np.ndarray, b: float, x: Sequence[float]) -> float:
    """The book's eq. 4: output sigma(w.x + b)."""
    return float(sigmoid(np.dot(w, x) + b))


def nand(x1: float, x2: float, neuron: Neuron = perceptron, c: float = 1.0) -> float:
    """A NAND gate made of one neuron with weights c * (-2, -2) and bias c * 3."""
    return neuron(c * NAND_WEIGHTS, c * NAND_BIAS, [x1, x2])


def add_bits(x1: float, x2: float, neuron: Neuron = perceptron, c: float = 1.0):
    """The book's adder built from NAND gates only: returns (sum bit, carry bit).

    n1 = NAND(x1, x2); sum = NAND(NAND(x1, n1), NAND(x2, n1)) is x1 XOR x2; carry = NAND(n1, n1)
    is x1 AND x2 (the book draws this last gate as one input with weight -4).
    """

    def gate(a: float, b: float) -> float:
        return nand(a, b, neuron, c)

    n1 = gate(x1, x2)
    bit_sum = gate(gate(x1, n1), gate(x2, n1))
    carry = gate(n1, n1)
    return bit_sum, carry


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--scales",
        type=float,
        nargs="+",
        default=[1.0, 2.0, 5.0, 10.0, 100.0, 1000.0],
        help="values of c for the sigmoid-neuron limit (increasing)",
    )
    parser.add_argument(
        "--trials", type=int, default=1000, help="random perceptrons for the scaling check"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    if any(c <= 0 for c in args.scales):
        parser.error("--scales must all be > 0")

    print("1. NAND perceptron, w = (-2, -2), b = 3")
    nand_table = {(x1, x2): nand(x1, x2) for x1, x2 in BIT_PAIRS}
    for (x1, x2), out in nand_table.items():
        z = float(NAND_WEIGHTS @ [x1, x2]) + NAND_BIAS
        print(f"   x = ({x1}, {x2})   w.x + b = {z:+.0f}   output {out:.0f}")

    print("\n2. Adding two bits with NAND perceptrons only")
    adder_table = {(x1, x2): add_bits(x1, x2) for x1, x2 in BIT_PAIRS}
    for (x1, x2), (s, carry) in adder_table.items():
        print(f"   {x1} + {x2}:  carry {carry:.0f}  sum {s:.0f}   (= {2 * carry + s:.0f})")

    print("\n3. Multiplying all weights and biases by c > 0 changes no perceptron's output")
    rng = np.random.default_rng(args.seed)
    scales_tested = [1e-3, 0.5, 7.0, 1e6]
    adder_changes = sum(
        add_bits(x1, x2, perceptron, c) != adder_table[(x1, x2)]
        for c in scales_tested
        for x1, x2 in BIT_PAIRS
    )
    random_changes = 0
    for _ in range(args.trials):
        n = int(rng.integers(1, 6))
        w, b, x = rng.normal(size=n), float(rng.normal()), rng.uniform(size=n)
        out = perceptron(w, b, x)
        random_changes += sum(perceptron(c * w, c * b, x) != out for c in scales_tested)
    print(f"   c in {scales_tested}: adder outputs changed {adder_changes} times,")
    print(f"   {args.trials} random perceptrons: outputs changed {random_changes} times")

    print("\n4. Sigmoid neurons with weights c w and biases c b approach the perceptron network")
    print("   c        max |sigmoid adder - perceptron adder| over the 4 inputs")
    limit_deviation = []
    for c in args.scales:
        deviation = max(
            abs(got - want)
            for x1, x2 in BIT_PAIRS
            for got, want in zip(
                add_bits(x1, x2, sigmoid_neuron, c), adder_table[(x1, x2)], strict=True
            )
        )
        limit_deviation.append(deviation)
        print(f"   {c:<8g} {deviation:.3e}")

    # Where it fails: a perceptron with w.x + b = 0. Weights (-2, -2), bias 2 at x = (1, 0).
    w0, b0, x0 = np.array([-2.0, -2.0]), 2.0, [1.0, 0.0]
    boundary = {c: sigmoid_neuron(c * w0, c * b0, x0) for c in args.scales}
    print("\n   Where it fails: w = (-2, -2), b = 2, x = (1, 0), so w.x + b = 0.")
    print(f"   The perceptron outputs {perceptron(w0, b0, x0):.0f}; the sigmoid neuron outputs")
    print("   " + ", ".join(f"{v:g} (c = {c:g})" for c, v in boundary.items()))
    print("   sigma(c * 0) = 1/2 for every c: no c makes it behave like the perceptron.")

    return {
        "nand": nand_table,
        "adder": adder_table,
        "adder_changes_under_scaling": adder_changes,
        "random_changes_under_scaling": random_changes,
        "scales": list(args.scales),
        "limit_deviation": limit_deviation,
        "boundary_perceptron": perceptron(w0, b0, x0),
        "boundary_sigmoid": boundary,
    }


if __name__ == "__main__":
    main()
