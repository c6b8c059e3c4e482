"""Run the chapter-1 examples with small sizes and check the facts they demonstrate.

Each test imports an example from examples/, calls ``main(argv)``, captures what it prints and
checks what it returns against facts computed here independently (arithmetic, the book's
formulas), not against its printed text.
"""

from __future__ import annotations

import importlib.util
import itertools
import math
import sys
from pathlib import Path

import numpy as np
import pytest

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def load_example(name: str):
    path = EXAMPLES / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"examples_ch1_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def logistic(z):
    return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=np.float64)))


BIT_PAIRS = [(0, 0), (0, 1), (1, 0), (1, 1)]


# --------------------------------------------------------------------------------------------
# perceptrons.py
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def perceptrons():
    return load_example("perceptrons")


def test_perceptrons_example(perceptrons, capsys):
    scales = [1.0, 3.0, 10.0, 100.0, 1000.0]
    result = perceptrons.main(["--trials", "200", "--scales", *map(str, scales)])
    assert capsys.readouterr().out.strip()

    # NAND: 0 only when both inputs are 1.
    assert result["nand"] == {(a, b): float(not (a and b)) for a, b in BIT_PAIRS}
    # The adder adds: 2 * carry + sum = x1 + x2 for all four input pairs.
    for (x1, x2), (bit_sum, carry) in result["adder"].items():
        assert (bit_sum, carry) == ((x1 + x2) % 2, (x1 + x2) // 2)
    # Scaling all weights and biases by c > 0 changes nothing.
    assert result["adder_changes_under_scaling"] == 0
    assert result["random_changes_under_scaling"] == 0
    # Sigmoid neurons approach the perceptrons as c grows: far off at c = 1, exact in the limit.
    deviation = result["limit_deviation"]
    assert result["scales"] == scales
    assert deviation[0] > 0.1
    assert all(later < earlier for earlier, later in zip(deviation, deviation[1:], strict=False))
    assert deviation[-1] < 1e-12
    # ... except where w.x + b = 0: the perceptron says 0, the sigmoid 1/2 for every c.
    assert result["boundary_perceptron"] == 0
    assert set(result["boundary_sigmoid"]) == set(scales)
    assert all(v == 0.5 for v in result["boundary_sigmoid"].values())


def test_sigmoid_adder_in_the_limit_adds(perceptrons):
    for x1, x2 in BIT_PAIRS:
        bit_sum, carry = perceptrons.add_bits(x1, x2, perceptrons.sigmoid_neuron, c=1e4)
        assert math.isclose(2 * carry + bit_sum, x1 + x2, abs_tol=1e-12)


def test_perceptron_output_is_invariant_under_positive_scaling(perceptrons):
    rng = np.random.default_rng(1)
    for _ in range(300):
        # Integer weights and inputs and power-of-two scales keep w.x + b exact.
        n = int(rng.integers(1, 5))
        w = rng.integers(-3, 4, size=n).astype(float)
        b = float(rng.integers(-3, 4))
        x = rng.integers(0, 2, size=n).astype(float)
        expected = 1.0 if w @ x + b > 0 else 0.0
        for c in (2.0**-20, 0.5, 1.0, 8.0, 2.0**30):
            assert perceptrons.perceptron(c * w, c * b, x) == expected


# --------------------------------------------------------------------------------------------
# binary_output.py
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def binary_output():
    return load_example("binary_output")


def digit_bits(d: int) -> np.ndarray:
    """Bits of d, least significant first, from Python's own binary formatting."""
    return np.array([int(c) for c in reversed(format(d, "04b"))])


def worst_case_ok(weights, biases, high=0.99, low=0.01) -> bool:
    """Brute force every corner of the allowed activations for every digit.

    z is linear in the activations, so its extremes over the box (a_d in [high, 1], the other
    a_j in [0, low]) are at the corners.
    """
    others = np.array(list(itertools.product((0.0, low), repeat=9)))  # (512, 9)
    for d in range(10):
        for a_d in (high, 1.0):
            a = np.insert(others, d, a_d, axis=1)  # (512, 10)
            decoded = logistic(a @ weights.T + biases) > 0.5
            if not np.all(decoded == (digit_bits(d) == 1)):
                return False
    return True


def test_binary_output_layer_encodes_every_digit(binary_output, capsys):
    result = binary_output.main(["--weight", "10"])
    assert capsys.readouterr().out.strip()
    weights, biases = result["weights"], result["biases"]
    assert weights.shape == (4, 10) and biases.shape == (4,)
    rng = np.random.default_rng(0)
    for d in range(10):
        bits = digit_bits(d)
        one_hot = np.eye(10)[d]
        soft = np.full(10, 0.01)
        soft[d] = 0.99
        for a in [one_hot, soft]:
            out = logistic(weights @ a + biases)
            # w = 10 makes the new layer as clear-cut as the old one: within 0.01 of each bit.
            np.testing.assert_array_less(np.abs(out - bits), 0.01)
        # Random activations inside the allowed box.
        a = rng.uniform(0, 0.01, size=(200, 10))
        a[:, d] = rng.uniform(0.99, 1.0, size=200)
        assert np.all((logistic(a @ weights.T + biases) > 0.5) == (bits == 1))
    assert worst_case_ok(weights, biases)
    assert result["all_ok"]
    assert all(r["min_margin"] >= 0.9 - 1e-12 for r in result["rows"])  # the bound in the docs
    assert result["worst_error"] < 0.01


def test_binary_output_worst_case_check_can_fail(binary_output, capsys):
    """A smaller weight still decodes correctly but is less clear-cut; a bad bias breaks it."""
    result = binary_output.main(["--weight", "1"])
    capsys.readouterr()
    assert result["all_ok"] and worst_case_ok(result["weights"], result["biases"])
    assert result["worst_error"] > 0.01
    # Bias 0.98 on bit 3: the one-hot activations still decode, but digit 0 with a_8 = a_9 =
    # 0.01 gives z_3 = -0.99 + 0.02 + 0.98 > 0 -- only the worst case reveals it.
    shifted = result["biases"] + np.array([0.0, 0.0, 0.0, 0.98])
    for d in range(10):
        assert np.array_equal(logistic(result["weights"][:, d] + shifted) > 0.5, digit_bits(d) == 1)
    assert not worst_case_ok(result["weights"], shifted)


# --------------------------------------------------------------------------------------------
# gradient_descent.py
# --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def gradient_descent():
    return load_example("gradient_descent")


def test_engine_gradient_equals_analytic_gradient(gradient_descent):
    rng = np.random.default_rng(0)
    hand = {
        gradient_descent.bowl: lambda v: np.array([2 * v[0], 6 * v[1]]),
        gradient_descent.double_well: lambda v: np.array([v[0] ** 3 - v[0], 2 * v[1]]),
    }
    for cost, by_hand in hand.items():
        for v in rng.uniform(-3, 3, size=(50, 2)):
            c, g = gradient_descent.cost_and_gradient(cost, v)
            assert g.dtype == np.float64 and g.shape == (2,)
            np.testing.assert_allclose(g, by_hand(v), rtol=1e-14, atol=1e-14)
            assert math.isclose(c, cost(v), rel_tol=1e-15)


def test_gradient_descent_example(gradient_descent, capsys):
    eta, steps = 0.01, 6
    result = gradient_descent.main(
        ["--eta", str(eta), "--steps", str(steps), "--large-etas", "0.3", "0.4"]
    )
    assert capsys.readouterr().out.strip()
    runs = result["runs"]
    bowl_name, well_name = list(gradient_descent.COSTS)

    for name in (bowl_name, well_name):
        records = runs[(name, eta)]
        assert len(records) == steps
        for r in records:
            # Delta C ~= -eta ||grad C||^2 <= 0: the cost goes down at every step.
            assert r["delta_C"] < 0
            np.testing.assert_allclose(r["v_next"], r["v"] - eta * r["grad"], rtol=1e-15)

    # The bowl is quadratic, so the second-order Taylor expansion is exact:
    # Delta C = -eta ||g||^2 + eta^2 (g1^2 + 3 g2^2), i.e. 1 - 3 eta <= ratio <= 1 - eta.
    for r in runs[(bowl_name, eta)]:
        g = r["grad"]
        exact = -eta * (g @ g) + eta**2 * (g[0] ** 2 + 3 * g[1] ** 2)
        assert math.isclose(r["delta_C"], exact, rel_tol=1e-9)
        assert math.isclose(r["predicted"], -eta * (g @ g), rel_tol=1e-15)
        assert 1 - 3 * eta <= r["delta_C"] / r["predicted"] <= 1 - eta

    # The first-order prediction gets exact as eta -> 0, for both costs.
    for name in (bowl_name, well_name):
        errors = [abs(result["first_step_ratios"][(name, e)] - 1) for e in (0.1, 0.01, 0.001)]
        assert errors[0] > errors[1] > errors[2] and errors[2] < 1e-2
        assert abs(result["first_step_ratios"][(name, 0.0001)] - 1) < 1e-3

    # eta = 0.3: v2 -> -0.8 v2 flips sign every step, yet C still decreases.
    oscillating = runs[(bowl_name, 0.3)]
    v2 = [r["v"][1] for r in oscillating]
    assert all(a * b < 0 and abs(b) < abs(a) for a, b in zip(v2, v2[1:], strict=False))
    assert all(r["delta_C"] < 0 for r in oscillating)
    # eta = 0.4: v2 -> -1.4 v2, the cost grows at every step although -eta ||grad C||^2 < 0.
    diverging = runs[(bowl_name, 0.4)]
    for r in diverging:
        assert math.isclose(r["v_next"][1], -1.4 * r["v"][1], rel_tol=1e-12)
        assert r["delta_C"] > 0 > r["predicted"]
    assert diverging[-1]["C_next"] > 10 * diverging[0]["C"]
