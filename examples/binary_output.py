"""From ten output neurons to a 4-bit binary digit: Nielsen, "Neural Networks and Deep Learning",
chapter 1, the exercise in "A simple network to classify handwritten digits".

The exercise: add a layer of four sigmoid neurons after the network's ten output neurons so that
it outputs the digit in binary. Assume the correct output neuron has activation >= 0.99 and the
other nine <= 0.01 (and all activations lie in [0, 1]). Find the weights and biases.

The solution found by hand: output neuron k (bit k, worth 2^k) gets weight +w from output neuron
j if bit k of the digit j is 1, and -w if it is 0; every bias is 0. For digit d, neuron k sees

    z_k = +-w a_d + sum_{j != d} (+-w) a_j,

the first term +0.99 w or more if bit k of d is 1 (-0.99 w or less if it is 0), and the nine
others together at most 0.01 w times the number of j that pull the wrong way (at most 9), so
|z_k| >= 0.99 w - 0.09 w = 0.9 w with the right sign. A bias of 0 puts the threshold in the
middle; with w = 10, sigma(9) = 0.99988, so the new layer's outputs are themselves within 0.01 of
the bits.

z_k is linear in the activations, so its worst cases lie at the corners of the allowed box
(a_d in {0.99, 1}, each other a_j in {0, 0.01}); the script checks all 10 * 2^10 corners, plus the
"0.99 for the right digit, 0.01 for all others" activations the exercise suggests.

Run: ``python examples/binary_output.py [--weight 10]``.
"""

from __future__ import annotations

import argparse
import itertools
from collections.abc import Sequence

import numpy as np

from tinygrad_nn.reference import sigmoid

DIGITS = np.arange(10)
BITS = 4
HIGH, LOW = 0.99, 0.01  # the correct output is >= HIGH, the others <= LOW


def bit_matrix() -> np.ndarray:
    """``bits[k, j]`` = bit k of digit j, shape (4, 10)."""
    return (DIGITS[None, :] >> np.arange(BITS)[:, None]) & 1


def binary_layer(w: float) -> tuple[np.ndarray, np.ndarray]:
    """The hand-made layer: weights (4, 10) equal to +w where bit k of j is 1, else -w; bias 0."""
    weights = np.where(bit_matrix() == 1, w, -w).astype(np.float64)
    biases = np.zeros(BITS)
    return weights, biases


def decode(outputs: np.ndarray) -> np.ndarray:
    """Read each row of 4 output activations as bits (> 0.5) and return the digits."""
    return ((outputs > 0.5).astype(np.int64) << np.arange(BITS)).sum(axis=-1)


def corner_activations(digit: int) -> np.ndarray:
    """All corners of the allowed box for ``digit``: shape (2^10, 10)."""
    corners = []
    for high in (HIGH, 1.0):
        for lows in itertools.product((0.0, LOW), repeat=9):
            a = np.insert(np.array(lows), digit, high)
            corners.append(a)
    return np.array(corners)


def main(argv: Sequence[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description="Chapter 1 exercise: a binary output layer")
    parser.add_argument("--weight", type=float, default=10.0, help="weight magnitude w > 0")
    args = parser.parse_args(argv)
    if not args.weight > 0:
        parser.error("--weight must be > 0")

    weights, biases = binary_layer(args.weight)
    print("Weights of the binary output layer (row k = bit k, worth 2^k; column j = digit j):")
    print("         " + " ".join(f"{j:>5d}" for j in DIGITS))
    for k in range(BITS):
        print(f"  bit {k}: " + " ".join(f"{v:>+5g}" for v in weights[k]))
    print(f"Biases: {biases.tolist()}\n")

    print("digit  one-hot input              0.99 / 0.01 input            all box    min")
    print("       outputs b3 b2 b1 b0        outputs b3 b2 b1 b0          corners    |z|/w")
    rows = []
    for d in DIGITS:
        one_hot = np.eye(10)[d]
        soft = np.where(DIGITS == d, HIGH, LOW)
        corners = corner_activations(d)
        out_one_hot = sigmoid(one_hot @ weights.T + biases)
        out_soft = sigmoid(soft @ weights.T + biases)
        z_corners = corners @ weights.T + biases  # (2^10, 4)
        out_corners = sigmoid(z_corners)
        signed = np.where(bit_matrix()[:, d] == 1, 1.0, -1.0)  # +1 where the bit should be 1
        margin = float((z_corners * signed).min()) / args.weight
        row = {
            "digit": int(d),
            "one_hot": out_one_hot,
            "soft": out_soft,
            "corners_decoded_ok": bool(np.all(decode(out_corners) == d)),
            "corners_max_error": float(np.abs(out_corners - bit_matrix()[:, d]).max()),
            "min_margin": margin,
        }
        rows.append(row)
        fmt = " ".join(f"{v:.3f}" for v in out_one_hot[::-1])
        fmt_soft = " ".join(f"{v:.3f}" for v in out_soft[::-1])
        print(
            f"  {d}    {fmt} -> {decode(out_one_hot)}   {fmt_soft} -> {decode(out_soft)}"
            f"     {'all ok' if row['corners_decoded_ok'] else 'WRONG'}   {margin:.2f}"
        )

    worst_error = max(r["corners_max_error"] for r in rows)
    all_ok = all(r["corners_decoded_ok"] for r in rows) and all(
        decode(r["soft"]) == r["digit"] and decode(r["one_hot"]) == r["digit"] for r in rows
    )
    print(f"\nEvery digit decodes correctly at every corner of the allowed activations: {all_ok}.")
    print(
        f"Smallest |z| in the right direction: {min(r['min_margin'] for r in rows):.2f} w "
        f"(bound: 0.9 w); the largest distance of an output from its bit is {worst_error:.2e}."
    )
    return {
        "weights": weights,
        "biases": biases,
        "rows": rows,
        "all_ok": all_ok,
        "worst_error": worst_error,
    }


if __name__ == "__main__":
    main()
