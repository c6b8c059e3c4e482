"""The backward engine: order, accumulation, retained and freed graphs, errors, grad mode.

Expected values are derived by hand from the chain rule (or from NumPy), never read off the code.
"""

from __future__ import annotations

import threading
import time
import weakref

import numpy as np
import pytest

import tinygrad_nn as tg
from tinygrad_nn.autograd import gradcheck

SECOND_TIME = "Trying to backward through the graph a second time"


def leaf(values, dtype=np.float64):
    return tg.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


# -- deep graphs --------------------------------------------------------------------------------
def chain(n: int):
    x = leaf(1.0)
    y = x
    for _ in range(n):
        y = y * 1.00001
    return x, y


def test_backward_through_a_chain_of_100000_ops_is_iterative():
    x, y = chain(100_000)
    y.backward()  # a recursive topological sort would hit Python's recursion limit here
    np.testing.assert_allclose(x.grad.item(), 1.00001**100_000, rtol=1e-9)


def test_backward_time_grows_linearly():
    """The one timing assertion allowed: a very loose complexity check (10x ops, < 30x time)."""
    def backward_time(n):
        best = np.inf
        for _ in range(3):
            _, y = chain(n)
            t0 = time.perf_counter()
            y.backward()
            best = min(best, time.perf_counter() - t0)
        return best
    ratio = backward_time(50_000) / backward_time(5_000)
    assert ratio < 30, f"backward of 10x the ops took {ratio:.1f}x the time"


def test_wide_fan_out_and_fan_in():
    x = leaf([1.0, 2.0])
    terms = [x * float(k) for k in range(1, 1001)]  # 1000 consumers of x
    total = terms[0]
    for t in terms[1:]:
        total = total + t
    total.sum().backward()
    np.testing.assert_allclose(x.grad.data, [500500.0, 500500.0], rtol=0, atol=0)


# -- correctness of the traversal ---------------------------------------------------------------
def test_shared_subexpression_is_counted_once_per_path():
    """h feeds y twice: dy/dx = (2h + 1) dh/dx; re-running a retained graph doubles exactly."""
    x = leaf(3.0)
    h = x * 2.0  # 6
    y = h * h + h  # dy/dh = 2h + 1 = 13, dh/dx = 2
    y.backward(retain_graph=True)
    assert x.grad.item() == 26.0
    y.backward()  # micrograd's pitfall would give 3x here instead of 2x
    assert x.grad.item() == 52.0


def test_diamond_with_different_depths():
    x = leaf([0.5, -1.0])
    a = x.exp()
    b = (a * x).tanh()
    c = a + b * a
    assert gradcheck(lambda t: (t.exp() + (t.exp() * t).tanh() * t.exp()), (x,), atol=1e-8,
                     rtol=1e-7)
    c.backward(tg.tensor([1.0, -2.0], dtype=tg.float64))
    e, xv = np.exp(x.data), x.data
    th = np.tanh(e * xv)
    dc = e + (1 - th**2) * (e * xv + e) * e + th * e
    np.testing.assert_allclose(x.grad.data, np.array([1.0, -2.0]) * dc, rtol=1e-12)


def test_backward_of_several_roots_at_once():
    x = leaf([1.0, 2.0])
    a, b = x * 3.0, (x * x).sum()
    tg.autograd.backward([a, b], [tg.tensor([1.0, 10.0], dtype=tg.float64), None])
    np.testing.assert_array_equal(x.grad.data, [3.0 + 2.0, 30.0 + 4.0])


def test_leaves_that_do_not_require_grad_get_nothing():
    x, c = leaf([1.0, 2.0]), tg.tensor([3.0, 4.0], dtype=tg.float64)
    (x * c).sum().backward()
    np.testing.assert_array_equal(x.grad.data, [3.0, 4.0])
    assert c.grad is None and not c.requires_grad


def test_non_leaf_grad_is_none_unless_retained():
    x = leaf([1.0, 2.0])
    h = x * x
    k = h * 3.0
    h.retain_grad()
    assert h.retains_grad and not k.retains_grad
    k.backward(tg.tensor([1.0, -1.0], dtype=tg.float64))
    np.testing.assert_array_equal(h.grad.data, [3.0, -3.0])
    assert k.grad is None
    np.testing.assert_array_equal(x.grad.data, [6.0, -12.0])


def test_retain_grad_accumulates_like_a_leaf():
    x = leaf(2.0)
    h = x * x
    h.retain_grad()
    (h * 5.0).backward(retain_graph=True)
    (h * 5.0).backward()
    assert h.grad.item() == 10.0 and x.grad.item() == 40.0


# -- accumulation and retained / freed graphs ---------------------------------------------------
def test_gradients_accumulate_across_backward_calls():
    x = leaf([1.0, -2.0])
    (x * x).sum().backward()
    first = x.grad.data.copy()
    (x * 3.0).sum().backward()
    np.testing.assert_array_equal(first, [2.0, -4.0])
    np.testing.assert_array_equal(x.grad.data, [5.0, -1.0])


def test_retain_graph_allows_a_second_backward_that_doubles():
    x = leaf([1.0, 2.0])
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    once = x.grad.data.copy()
    y.backward()
    np.testing.assert_allclose(x.grad.data, 2 * once, rtol=1e-15)
    np.testing.assert_allclose(once, np.exp([1.0, 2.0]) * (1 + np.array([1.0, 2.0])), rtol=1e-15)


@pytest.mark.parametrize("make", [
    lambda x: (x * x).sum(),
    lambda x: x.exp().sum(),
    lambda x: (x @ x),
    lambda x: x.sigmoid().mean(),
])
def test_second_backward_through_a_freed_graph_raises(make):
    x = leaf([1.0, 2.0])
    y = make(x)
    y.backward()
    with pytest.raises(RuntimeError, match=SECOND_TIME):
        y.backward()
    with pytest.raises(RuntimeError, match=SECOND_TIME):
        tg.autograd.grad(y, x)


def test_implicit_gradient_only_for_scalar_outputs():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError,
                       match="grad can be implicitly created only for scalar outputs"):
        (x * 2.0).backward()
    (x * 2.0)[1:].backward()  # one element is fine, whatever the shape
    np.testing.assert_array_equal(x.grad.data, [0.0, 2.0])


def test_backward_on_a_tensor_that_does_not_require_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        tg.tensor(1.0).backward()
    with tg.no_grad():
        y = leaf(1.0) * 2.0
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


def test_backward_gradient_of_the_wrong_shape_raises():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="shape"):
        (x * 2.0).backward(tg.tensor([1.0, 2.0, 3.0]))


def test_backward_on_a_leaf():
    x = leaf([1.0, 2.0])
    x.backward(tg.tensor([3.0, 4.0], dtype=tg.float64))
    np.testing.assert_array_equal(x.grad.data, [3.0, 4.0])


# -- memory -------------------------------------------------------------------------------------
def test_saved_arrays_are_released_after_backward():
    """Early tinygrad's test_gc: the loss and the leaves live on, the intermediates do not."""
    x = leaf(np.linspace(-1, 1, 5))
    h = x.exp()  # saves its output
    k = h.sigmoid()  # saves its output, and h is its input
    loss = (k * h).sum()  # saves both
    refs = [weakref.ref(h), weakref.ref(h.data), weakref.ref(k), weakref.ref(k.data)]
    del h, k
    assert all(r() is not None for r in refs)  # the graph holds them
    loss.backward()
    assert all(r() is None for r in refs), "backward must free what the graph saved"
    assert x.grad is not None and loss.item() > 0  # the loss and the leaf are still usable


def test_dropping_the_output_frees_the_graph_without_gc():
    """No reference cycles: reference counting alone frees an unused graph."""
    x = leaf(np.ones(4))
    h = x.exp()
    ref = weakref.ref(h.data)
    loss = (h * h).sum()
    del h
    assert ref() is not None
    del loss
    assert ref() is None


def test_retain_graph_keeps_the_saved_arrays():
    x = leaf(np.ones(3))
    h = x.exp()
    ref = weakref.ref(h.data)
    loss = (h * 2.0).sum()
    del h
    loss.backward(retain_graph=True)
    assert ref() is not None
    loss.backward()
    assert ref() is None


# -- grad mode ----------------------------------------------------------------------------------
def test_no_grad_context_manager_records_nothing():
    x = leaf([1.0, 2.0])
    with tg.no_grad():
        assert not tg.is_grad_enabled()
        y = x * 2.0
    assert tg.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None and y.is_leaf


@pytest.mark.parametrize("parens", [True, False])
def test_no_grad_as_decorator_with_and_without_parentheses(parens):
    def f(t):
        assert not tg.is_grad_enabled()
        return t * 2.0
    g = tg.no_grad()(f) if parens else tg.no_grad(f)
    out = g(leaf([1.0]))
    assert not out.requires_grad and tg.is_grad_enabled()
    assert g.__name__ == "f"


@pytest.mark.parametrize("parens", [True, False])
def test_enable_grad_as_decorator_inside_no_grad(parens):
    def f(t):
        return t * 2.0
    g = tg.enable_grad()(f) if parens else tg.enable_grad(f)
    with tg.no_grad():
        out = g(leaf([1.0]))
        assert not tg.is_grad_enabled()
    assert out.requires_grad


@pytest.mark.parametrize("create_graph", [False, True])
@pytest.mark.parametrize("outer", [False, True])
def test_custom_backward_runs_with_grad_mode_equal_to_create_graph(create_graph, outer):
    """As PyTorch: a Function's backward sees grad mode on exactly under create_graph, whatever
    the mode around the backward call, and the mode around it is restored after."""
    seen = []

    class Probe(tg.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            return x * 2.0

        @staticmethod
        def backward(ctx, g):
            seen.append(tg.is_grad_enabled())
            return g * 2.0

    x = leaf([1.0, 3.0])
    y = Probe.apply(x).sum()
    with tg.set_grad_enabled(outer):
        y.backward(create_graph=create_graph)
        assert tg.is_grad_enabled() is outer
    assert seen == [create_graph]
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])


def test_plain_backward_adds_into_a_create_graph_grad_without_recording():
    """A .grad left by a create_graph pass requires grad; a later plain backward adds to it out
    of place and records nothing (the sum neither requires grad nor has a grad_fn)."""
    x = leaf([1.0, 2.0])
    (x * x).sum().backward(create_graph=True)
    assert x.grad.requires_grad and x.grad.grad_fn is not None
    (x * 3.0).sum().backward()
    assert not x.grad.requires_grad and x.grad.grad_fn is None
    np.testing.assert_array_equal(x.grad.numpy(), [5.0, 7.0])


def test_grad_modes_nest_and_restore():
    x = leaf(1.0)
    with tg.no_grad():
        with tg.enable_grad():
            assert tg.is_grad_enabled() and (x * 2.0).requires_grad
            with tg.no_grad():
                assert not (x * 2.0).requires_grad
            assert tg.is_grad_enabled()
        assert not tg.is_grad_enabled()
        with tg.set_grad_enabled(True):
            assert (x * 2.0).requires_grad
        assert not tg.is_grad_enabled()
    assert tg.is_grad_enabled()


def test_set_grad_enabled_as_a_function_and_a_context_manager():
    tg.set_grad_enabled(False)
    try:
        assert not tg.is_grad_enabled()
    finally:
        tg.set_grad_enabled(True)
    assert tg.is_grad_enabled()
    with tg.set_grad_enabled(False):
        assert not tg.is_grad_enabled()
    assert tg.is_grad_enabled()

    @tg.set_grad_enabled(False)
    def f():
        return tg.is_grad_enabled()
    assert tg.is_grad_enabled()  # decorating does not change the mode
    assert f() is False and tg.is_grad_enabled()


def test_grad_mode_is_restored_after_an_exception():
    with pytest.raises(ValueError):
        with tg.no_grad():
            raise ValueError
    assert tg.is_grad_enabled()

    @tg.no_grad()
    def boom():
        raise ValueError
    with pytest.raises(ValueError):
        boom()
    assert tg.is_grad_enabled()


def test_grad_mode_is_thread_local():
    seen = []
    with tg.no_grad():
        t = threading.Thread(target=lambda: seen.append(tg.is_grad_enabled()))
        t.start()
        t.join()
    assert seen == [True]


def test_a_context_manager_instance_can_be_reused():
    ctx = tg.no_grad()
    for _ in range(2):
        with ctx:
            assert not tg.is_grad_enabled()
        assert tg.is_grad_enabled()
