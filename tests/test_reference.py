"""Tests for tinygrad_nn.reference, the NumPy oracle for backpropagation (Nielsen ch. 1-2).

The oracle is checked against things that do not share its code: central finite differences of
the cost, a per-example column-vector transcription of the book's ``network.py`` backprop, and
(if installed) PyTorch's autograd.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tinygrad_nn import reference

# --------------------------------------------------------------------------------------------
# Helpers
# --------------------------------------------------------------------------------------------

ELEMENTS = st.floats(-4.0, 4.0, allow_nan=False, allow_subnormal=False)


def arrays(shape: tuple[int, ...], elements=ELEMENTS):
    return hnp.arrays(np.float64, shape, elements=elements)


@st.composite
def problems(draw, max_layers: int = 4, max_width: int = 20, max_batch: int = 16):
    """A random network (1-4 layers, widths 1-20) with a mini-batch of 1-16 examples."""
    sizes = draw(st.lists(st.integers(1, max_width), min_size=2, max_size=max_layers + 1))
    m = draw(st.integers(1, max_batch))
    weights = [draw(arrays((n, k))) for k, n in zip(sizes[:-1], sizes[1:], strict=True)]
    biases = [draw(arrays((n,))) for n in sizes[1:]]
    x = draw(arrays((m, sizes[0])))
    y = draw(arrays((m, sizes[-1]), elements=st.floats(0.0, 1.0)))
    return weights, biases, x, y


def finite_difference_gradient(weights, biases, x, y, h=1e-6, dtype=np.float64):
    """Central differences ``(C(theta + h) - C(theta - h)) / (2h)`` of ``reference.cost``.

    ``cost`` is evaluated in ``dtype`` (the arrays are cast to it). The divisor is the step
    actually taken, ``(theta + h) - (theta - h)`` in that dtype, which removes the representation
    error of ``theta +- h`` from the estimate. Returns float64 arrays.
    """
    weights = [np.array(w, dtype=dtype) for w in weights]
    biases = [np.array(b, dtype=dtype) for b in biases]
    x, y = np.asarray(x, dtype=dtype), np.asarray(y, dtype=dtype)
    grads = []
    for p in weights + biases:
        g = np.zeros(p.shape)
        for idx in np.ndindex(p.shape):
            original = p[idx]
            p[idx] = original + h
            c_plus = reference.cost(weights, biases, x, y)
            upper = p[idx]
            p[idx] = original - h
            c_minus = reference.cost(weights, biases, x, y)
            lower = p[idx]
            p[idx] = original
            g[idx] = (c_plus - c_minus) / (upper - lower)
        grads.append(g)
    return grads[: len(weights)], grads[len(weights) :]


def book_backprop_one_example(weights, biases, x, y):
    """The book's per-example ``Network.backprop`` (network.py) with column vectors.

    A deliberately separate transcription: ``x``, ``y`` are 1-D; everything is made a column
    ``(n, 1)`` as in the book. Returns the gradient of ``C_x = ||y - a^L||^2 / 2``.
    """
    sig = lambda z: 1.0 / (1.0 + np.exp(-z))  # noqa: E731 -- fine for the moderate z used here
    activation = x.reshape(-1, 1)
    activations, zs = [activation], []
    for w, b in zip(weights, biases, strict=True):
        z = np.dot(w, activation) + b.reshape(-1, 1)
        zs.append(z)
        activation = sig(z)
        activations.append(activation)
    # The book's sigma'(z) = sigma(z) (1 - sigma(z)), written sigma(z) sigma(-z): the same
    # number, without the cancellation in 1 - sigma(z) that makes the book's form lose all
    # relative accuracy for large z (it gives 9.348e-14 for 9.358e-14 at z = 30, 0 at z = 37).
    sp = lambda z: sig(z) * sig(-z)  # noqa: E731
    delta = (activations[-1] - y.reshape(-1, 1)) * sp(zs[-1])
    nabla_b = [None] * len(weights)
    nabla_w = [None] * len(weights)
    nabla_b[-1] = delta
    nabla_w[-1] = np.dot(delta, activations[-2].T)
    for l in range(2, len(weights) + 1):
        delta = np.dot(weights[-l + 1].T, delta) * sp(zs[-l])
        nabla_b[-l] = delta
        nabla_w[-l] = np.dot(delta, activations[-l - 1].T)
    return nabla_w, [nb.ravel() for nb in nabla_b]


def small_problem(dtype=np.float64, seed=0, sizes=(3, 5, 2), m=4):
    rng = np.random.default_rng(seed)
    weights = [
        rng.standard_normal((n, k)).astype(dtype)
        for k, n in zip(sizes[:-1], sizes[1:], strict=True)
    ]
    biases = [rng.standard_normal(n).astype(dtype) for n in sizes[1:]]
    x = rng.standard_normal((m, sizes[0])).astype(dtype)
    y = rng.uniform(size=(m, sizes[-1])).astype(dtype)
    return weights, biases, x, y


# --------------------------------------------------------------------------------------------
# Gradient correctness
# --------------------------------------------------------------------------------------------

# Error of a central difference with step h, for a cost computed with unit roundoff eps:
#   truncation  h^2 |C'''(theta)| / 6   ~ 1e-13 for h = 1e-6
#   rounding    ~ eps |C| / h            (C(theta +- h) each carry an error of a few eps |C|)
# In float64 (eps = 1.1e-16) the rounding term is ~1e-10 |C|, and C = 1/(2m) sum ||y - a||^2 goes
# up to n_L / 2 = 10 here: the measured float64 error reaches 3e-9 (about 1.5 eps |C| / h) for
# C ~ 9, which atol = 1e-9 cannot absorb. So the precise oracle evaluates the *same* `cost` in
# extended precision (x86 long double, eps = 1.1e-19), where the rounding term is ~1e-13 |C|
# and the tolerances below hold with a margin of ~1000 (measured max error 1.3e-12).
FD_RTOL, FD_ATOL = 1e-6, 1e-9
FD_H = 1e-6
EXTENDED = np.longdouble
HAS_EXTENDED = np.finfo(EXTENDED).eps < 1e-18


@pytest.mark.skipif(not HAS_EXTENDED, reason="long double is no wider than float64 here")
@settings(max_examples=25)  # long double has no BLAS: ~0.3 s per example
@given(problems())
def test_backprop_matches_central_finite_differences(problem):
    weights, biases, x, y = problem
    nabla_w, nabla_b = reference.backprop(weights, biases, x, y)
    fd_w, fd_b = finite_difference_gradient(weights, biases, x, y, h=FD_H, dtype=EXTENDED)
    for got, want in zip(nabla_w + nabla_b, fd_w + fd_b, strict=True):
        assert got.shape == want.shape
        np.testing.assert_allclose(got, want, rtol=FD_RTOL, atol=FD_ATOL)


@settings(max_examples=40)
@given(problems())
def test_backprop_matches_float64_finite_differences_within_their_rounding_error(problem):
    """The same check with `cost` in float64: atol adds the rounding term 4 eps |C| / h."""
    weights, biases, x, y = problem
    nabla_w, nabla_b = reference.backprop(weights, biases, x, y)
    fd_w, fd_b = finite_difference_gradient(weights, biases, x, y, h=FD_H, dtype=np.float64)
    rounding = 4 * np.finfo(np.float64).eps * float(reference.cost(weights, biases, x, y)) / FD_H
    for got, want in zip(nabla_w + nabla_b, fd_w + fd_b, strict=True):
        np.testing.assert_allclose(got, want, rtol=FD_RTOL, atol=FD_ATOL + rounding)


def test_finite_difference_check_rejects_a_slightly_wrong_gradient():
    """The tolerance is tight enough to catch a gradient that is off by 0.05%."""
    weights, biases, x, y = small_problem()
    nabla_w, _ = reference.backprop(weights, biases, x, y)
    fd_w, _ = finite_difference_gradient(weights, biases, x, y, h=FD_H)
    np.testing.assert_allclose(nabla_w[0], fd_w[0], rtol=FD_RTOL, atol=FD_ATOL)
    wrong = nabla_w[0].copy()
    worst = np.unravel_index(np.argmax(np.abs(wrong)), wrong.shape)
    wrong[worst] *= 1.0005
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(wrong, fd_w[0], rtol=FD_RTOL, atol=FD_ATOL)


@settings(max_examples=40)
@given(problems())
def test_batch_gradient_is_mean_of_per_example_gradients(problem):
    """BP3/BP4 vectorised over the batch equal the book's per-example algorithm, averaged."""
    weights, biases, x, y = problem
    nabla_w, nabla_b = reference.backprop(weights, biases, x, y)
    m = x.shape[0]
    book = [book_backprop_one_example(weights, biases, x[i], y[i]) for i in range(m)]
    single = [reference.backprop(weights, biases, x[i : i + 1], y[i : i + 1]) for i in range(m)]
    for l in range(len(weights)):
        book_w = sum(g[0][l] for g in book) / m
        book_b = sum(g[1][l] for g in book) / m
        np.testing.assert_allclose(nabla_w[l], book_w, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(nabla_b[l], book_b, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(
            nabla_w[l], sum(g[0][l] for g in single) / m, rtol=1e-12, atol=1e-15
        )
        np.testing.assert_allclose(
            nabla_b[l], sum(g[1][l] for g in single) / m, rtol=1e-12, atol=1e-15
        )


@settings(max_examples=20)
@given(problems())
def test_feedforward_matches_book_per_example(problem):
    weights, biases, x, _ = problem
    activations = reference.feedforward(weights, biases, x)
    assert len(activations) == len(weights) + 1
    np.testing.assert_array_equal(activations[0], x)
    for i in range(x.shape[0]):
        a = x[i].reshape(-1, 1)
        for l, (w, b) in enumerate(zip(weights, biases, strict=True), start=1):
            a = 1.0 / (1.0 + np.exp(-(w @ a + b.reshape(-1, 1))))
            np.testing.assert_allclose(activations[l][i], a.ravel(), rtol=1e-13, atol=1e-15)
    for l, w in enumerate(weights, start=1):
        assert activations[l].shape == (x.shape[0], w.shape[0])


@settings(max_examples=20)
@given(problems())
def test_cost_is_half_mean_squared_error_norm(problem):
    weights, biases, x, y = problem
    a = reference.feedforward(weights, biases, x)[-1]
    expected = np.mean([0.5 * np.sum((y[i] - a[i]) ** 2) for i in range(x.shape[0])])
    assert math.isclose(reference.cost(weights, biases, x, y), expected, rel_tol=1e-13)


def test_backprop_matches_torch_autograd():
    torch = pytest.importorskip("torch")
    for seed, sizes, m in [(0, (784, 30, 10), 10), (1, (2, 3, 3, 1), 1), (2, (5, 1), 7)]:
        weights, biases, x, y = small_problem(seed=seed, sizes=sizes, m=m)
        tw = [torch.tensor(w, requires_grad=True) for w in weights]
        tb = [torch.tensor(b, requires_grad=True) for b in biases]
        a = torch.tensor(x)
        for w, b in zip(tw, tb, strict=True):
            a = torch.sigmoid(a @ w.T + b)
        loss = ((a - torch.tensor(y)) ** 2).sum() / (2 * m)
        loss.backward()
        nabla_w, nabla_b = reference.backprop(weights, biases, x, y)
        assert math.isclose(reference.cost(weights, biases, x, y), loss.item(), rel_tol=1e-13)
        for got, t in zip(nabla_w + nabla_b, tw + tb, strict=True):
            np.testing.assert_allclose(got, t.grad.numpy(), rtol=1e-11, atol=1e-15)


# --------------------------------------------------------------------------------------------
# sgd_step
# --------------------------------------------------------------------------------------------


def test_sgd_step_is_eta_over_m_times_summed_per_example_gradients():
    weights, biases, x, y = small_problem(m=6)
    copies = [a.copy() for a in weights + biases + [x, y]]
    eta = 3.0
    new_w, new_b = reference.sgd_step(weights, biases, x, y, eta)
    m = x.shape[0]
    per_example = [book_backprop_one_example(weights, biases, x[i], y[i]) for i in range(m)]
    for l in range(len(weights)):
        sum_w = sum(g[0][l] for g in per_example)
        sum_b = sum(g[1][l] for g in per_example)
        np.testing.assert_allclose(new_w[l], weights[l] - (eta / m) * sum_w, rtol=1e-13)
        np.testing.assert_allclose(new_b[l], biases[l] - (eta / m) * sum_b, rtol=1e-13)
    # The inputs were not modified and the results are new arrays.
    for a, c in zip(weights + biases + [x, y], copies, strict=True):
        np.testing.assert_array_equal(a, c)
    for new, old in zip(new_w + new_b, weights + biases, strict=True):
        assert not np.shares_memory(new, old)


def test_small_sgd_step_decreases_cost_by_eta_times_squared_gradient_norm():
    """Chapter 1, eqs. 9-11: Delta C ~= -eta ||grad C||^2 to first order in eta."""
    weights, biases, x, y = small_problem(seed=3, m=8)
    nabla_w, nabla_b = reference.backprop(weights, biases, x, y)
    norm2 = sum(float(np.sum(g**2)) for g in nabla_w + nabla_b)
    eta = 1e-4
    new_w, new_b = reference.sgd_step(weights, biases, x, y, eta)
    delta_c = reference.cost(new_w, new_b, x, y) - reference.cost(weights, biases, x, y)
    assert delta_c < 0
    assert math.isclose(delta_c, -eta * norm2, rel_tol=1e-3)


@pytest.mark.parametrize("eta", [-0.1, float("nan"), float("inf")])
def test_sgd_step_rejects_bad_learning_rate(eta):
    weights, biases, x, y = small_problem()
    with pytest.raises(ValueError, match="eta"):
        reference.sgd_step(weights, biases, x, y, eta)


def test_sgd_step_rejects_non_number_learning_rate():
    weights, biases, x, y = small_problem()
    with pytest.raises(TypeError, match="eta"):
        reference.sgd_step(weights, biases, x, y, "0.1")


def test_inputs_are_not_modified():
    weights, biases, x, y = small_problem()
    copies = [a.copy() for a in weights + biases + [x, y]]
    reference.feedforward(weights, biases, x)
    reference.cost(weights, biases, x, y)
    reference.backprop(weights, biases, x, y)
    for a, c in zip(weights + biases + [x, y], copies, strict=True):
        np.testing.assert_array_equal(a, c)


# --------------------------------------------------------------------------------------------
# Input validation
# --------------------------------------------------------------------------------------------


def _bad_inputs():
    w, b, x, y = small_problem(sizes=(3, 5, 2), m=4)
    return [
        ("empty", ([], [], x, y), "at least one layer"),
        ("fewer biases", (w, b[:1], x, y), "one bias vector per weight matrix"),
        ("1-D weight", ([w[0].ravel(), w[1]], b, x, y), r"weights\[0\].*2-D"),
        ("bias wrong length", (w, [b[0][:4], b[1]], x, y), r"biases\[0\].*\(5,\)"),
        ("bias as column", (w, [b[0].reshape(5, 1), b[1]], x, y), r"biases\[0\]"),
        ("layers do not chain", ([w[0], w[1][:, :4]], b, x, y), r"weights\[1\].*\(2, 5\)"),
        ("x wrong width", (w, b, x[:, :2], y), r"x must have shape \(m, n_0\) = \(m, 3\)"),
        ("x 1-D", (w, b, x[0], y), r"x\[None, :\]"),
        ("x empty batch", (w, b, x[:0], y[:0]), "at least one example"),
        ("y wrong rows", (w, b, x, y[:3]), r"y must have shape \(m, n_L\) = \(4, 2\)"),
        ("y wrong width", (w, b, x, y[:, :1]), r"y must have shape"),
        ("y 1-D", (w, b, x[:1], y[0]), r"y must have shape \(m, n_L\) = \(1, 2\)"),
    ]


@pytest.mark.parametrize("name,args,message", _bad_inputs(), ids=[c[0] for c in _bad_inputs()])
def test_shape_errors_say_what_was_expected(name, args, message):
    weights, biases, x, y = args
    with pytest.raises(ValueError, match=message):
        reference.backprop(weights, biases, x, y)
    with pytest.raises(ValueError, match=message):
        reference.cost(weights, biases, x, y)
    with pytest.raises(ValueError, match=message):
        reference.sgd_step(weights, biases, x, y, 0.1)
    if not name.startswith("y"):
        with pytest.raises(ValueError, match=message):
            reference.feedforward(weights, biases, x)


def test_rejects_single_array_and_complex_input():
    w, b, x, y = small_problem(sizes=(3, 3), m=2)
    with pytest.raises(TypeError, match="lists of arrays"):
        reference.backprop(w[0], b[0], x, y)
    with pytest.raises(TypeError, match="complex128"):
        reference.backprop([w[0].astype(complex)], b, x, y)


# --------------------------------------------------------------------------------------------
# Numerical stability and dtypes
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_no_overflow_warnings_for_large_z(dtype):
    """|z| = 1e4 saturates the neurons without any floating-point warning."""
    z = np.array([-1e4, -1e3, -100.0, 0.0, 100.0, 1e3, 1e4], dtype=dtype)
    # Hidden layer: z = +-1e4; output layer: z = +-1e4 again.
    weights = [np.array([[1e4], [-1e4]], dtype=dtype), np.array([[1e4, -1e4]], dtype=dtype)]
    biases = [np.zeros(2, dtype=dtype), np.array([-5e3], dtype=dtype)]
    x = np.array([[1.0], [-1.0], [0.0]], dtype=dtype)
    y = np.array([[0.0], [1.0], [0.5]], dtype=dtype)
    with warnings.catch_warnings(), np.errstate(all="warn"):
        warnings.simplefilter("error")
        s = reference.sigmoid(z)
        sp = reference.sigmoid_prime(z)
        acts = reference.feedforward(weights, biases, x)
        nabla_w, nabla_b = reference.backprop(weights, biases, x, y)
        c = reference.cost(weights, biases, x, y)
        new_w, new_b = reference.sgd_step(weights, biases, x, y, 0.5)
    assert s[0] == 0.0 and s[-1] == 1.0 and s[3] == 0.5
    assert sp[0] == 0.0 and sp[-1] == 0.0 and sp[3] == 0.25
    np.testing.assert_array_equal(acts[1][0], [1.0, 0.0])
    for a in [*acts, *nabla_w, *nabla_b, c, *new_w, *new_b]:
        assert np.all(np.isfinite(a))


def test_sigmoid_accuracy_and_derivative():
    z = np.linspace(-700, 700, 2801)
    exact = np.array([1.0 / (1.0 + math.exp(-t)) for t in z])
    np.testing.assert_allclose(reference.sigmoid(z), exact, rtol=4e-16, atol=0)
    # sigma'(z) = sigma(z) (1 - sigma(z)) = sigma(z) sigma(-z), accurate in both tails.
    exact_prime = exact * exact[::-1]
    np.testing.assert_allclose(reference.sigmoid_prime(z), exact_prime, rtol=2e-15, atol=0)
    # sigma' is the derivative of sigma: central differences on z <= 0, where sigma is small and
    # so is its rounding error (near sigma = 1 the difference quotient would cancel); sigma' is
    # even, which covers z > 0.
    t = np.linspace(-20, 0, 81)
    h = 1e-5
    fd = (reference.sigmoid(t + h) - reference.sigmoid(t - h)) / (2 * h)
    np.testing.assert_allclose(reference.sigmoid_prime(t), fd, rtol=1e-9, atol=0)
    np.testing.assert_array_equal(reference.sigmoid_prime(-t), reference.sigmoid_prime(t))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_preserved(dtype):
    weights, biases, x, y = small_problem(dtype=dtype)
    assert reference.sigmoid(x).dtype == dtype
    assert reference.sigmoid_prime(x).dtype == dtype
    assert all(a.dtype == dtype for a in reference.feedforward(weights, biases, x))
    assert reference.cost(weights, biases, x, y).dtype == dtype
    nabla_w, nabla_b = reference.backprop(weights, biases, x, y)
    assert all(g.dtype == dtype for g in nabla_w + nabla_b)
    new_w, new_b = reference.sgd_step(weights, biases, x, y, np.float64(0.5))
    assert all(p.dtype == dtype for p in new_w + new_b)


def test_float32_agrees_with_float64_and_integer_targets_do_not_promote():
    w64, b64, x64, y64 = small_problem()
    w32, b32, x32 = (
        [a.astype(np.float32) for a in w64],
        [a.astype(np.float32) for a in b64],
        x64.astype(np.float32),
    )
    g64 = reference.backprop(w64, b64, x64, y64)
    g32 = reference.backprop(w32, b32, x32, y64.astype(np.float32))
    for a, b in zip(g32[0] + g32[1], g64[0] + g64[1], strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)
    # One-hot integer targets are cast to the network's dtype.
    onehot = np.eye(2, dtype=np.int64)[[0, 1, 1, 0]]
    nabla_w, _ = reference.backprop(w32, b32, x32, onehot)
    assert nabla_w[0].dtype == np.float32
    np.testing.assert_allclose(
        nabla_w[0],
        reference.backprop(w64, b64, x64, onehot.astype(float))[0][0],
        rtol=1e-4,
        atol=1e-6,
    )
    # Mixing float32 and float64 computes in float64 (NumPy's promotion).
    assert reference.backprop(w32, b32, x64, y64)[0][0].dtype == np.float64


@pytest.mark.parametrize("name", ["backprop", "cost"])
def test_a_missing_y_is_named_in_the_error(name):
    w, b, x = [np.ones((2, 3))], [np.zeros(2)], np.ones((4, 3))
    with pytest.raises(TypeError, match="y .* is required"):
        getattr(reference, name)(w, b, x, None)
