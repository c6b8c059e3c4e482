"""SGD's flat update (``optim/flat.py``): a group of small parameters moved into one flat array
after its first step, their gradients written by the fused MLP's backward into one flat gradient,
and the update one BLAS call. Checked: the very bits of ``p − g·lr`` and of the gradients step
after step, one version bump per step, the move made only when no one else can see the old
arrays (a kept ``numpy()``, a shared or a view array are left where they are and still see the
updates), a gradient kept by the user never overwritten, and the parameter-by-parameter paths
whenever the flat arrays no longer hold everything (replaced arrays, a missing gradient, a
frozen parameter, a reordered group, accumulated gradients)."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sgd_oracle import rounded_once, sgd_update, two_passes

import tinygrad_nn as tg
from tinygrad_nn import nn, optim
from tinygrad_nn.engine import blas, refs
from tinygrad_nn.optim import flat


def _book(dtype=np.float32, seed=0):
    tg.manual_seed(seed)
    model = nn.Sequential(nn.Linear(784, 30), nn.Sigmoid(), nn.Linear(30, 10), nn.Sigmoid())
    return model.double() if dtype == np.float64 else model


def _book_training(dtype, seed):
    """A random generator, the book's model, its parameters, SGD(lr=3) and the quadratic cost."""
    model = _book(dtype)
    params = list(model.parameters())
    return (np.random.default_rng(seed), model, params, optim.SGD(params, lr=3.0),
            nn.QuadraticCost())


def _batch(rng, dtype, n=10):
    x = rng.random((n, 784)).astype(dtype)
    y = np.eye(10, dtype=dtype)[rng.integers(0, 10, n)]
    return tg.from_numpy(x), tg.from_numpy(y)


def _flat_of(opt):
    return opt.__dict__.get("_flats", {}).get(id(opt.param_groups[0]))


def _step_and_check(opt, params, lr):
    """opt.step(), asserting every parameter is exactly p − g·lr (rounded as ``sgd_oracle``
    says) and bumped once."""
    befores = [p.data.copy() for p in params]
    grads = [None if p._grad is None else np.array(p.grad.numpy()) for p in params]
    versions = [p._version for p in params]
    opt.step()
    for p, b, g, v in zip(params, befores, grads, versions, strict=True):
        if g is None:
            np.testing.assert_array_equal(p.data, b)
            assert p._version == v
        else:
            np.testing.assert_array_equal(p.data, sgd_update(b, g, lr))
            assert p._version == v + 1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_book_step_moves_params_into_one_aligned_flat_array_and_keeps_the_bits(dtype):
    rng, model, params, opt, loss_fn = _book_training(dtype, 0)
    for step in range(4):
        x, y = _batch(rng, dtype)
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        if step == 2:
            _ = params[1].grad  # a gradient read (wrapped into a Tensor): still the flat path
        _step_and_check(opt, params, 3.0)
        fp = _flat_of(opt)
        assert fp is not None  # moved after the first step
        assert all(p.data is v for p, v in zip(params, fp.views, strict=True))
        assert all(p.data.base is fp.data.base for p in params)
        assert all(p.data.ctypes.data % 64 == 0 for p in params)
        assert all(p.dtype == dtype and p.data.flags.c_contiguous for p in params)
        used = np.zeros(fp.data.size, bool)
        for v in fp.views:
            start = (v.ctypes.data - fp.data.ctypes.data) // fp.data.itemsize
            used[start:start + v.size] = True
        assert not np.any(fp.data[~used]) and not np.any(fp.scratch[~used])  # padding: zeros


@pytest.mark.parametrize("shape, loss", [((10,), "quadratic"), ((64,), "quadratic"),
                                         ((3, 4), "mse")])
def test_flat_training_equals_training_without_it(shape, loss):
    """20 steps of the book's loop with the flat update and with it refused (a kept reference to
    each array blocks the move): the same gradients and parameters to the last bit. Batches of
    10 and of 64 rows (past MATMUL_ROWS: BP4 by np.matmul), and (3, 4, 784) inputs with
    MSELoss (the fused backward flattens the leading dims)."""
    rng = np.random.default_rng(1)
    batches = []
    for _ in range(20):
        x = rng.random((*shape, 784)).astype(np.float32)
        y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, shape)]
        batches.append((tg.from_numpy(x), tg.from_numpy(y)))
    results, grads = [], []
    for keep in (False, True):
        model = _book(np.float32, seed=3)
        kept = [p.detach().numpy() for p in model.parameters()] if keep else []
        opt = optim.SGD(model.parameters(), lr=3.0)
        loss_fn = nn.QuadraticCost() if loss == "quadratic" else nn.MSELoss()
        grads.append([])
        for x, y in batches:
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            grads[-1].append([p.grad.numpy().copy() for p in model.parameters()])
            opt.step()
        assert (_flat_of(opt) is None) == keep
        if keep:
            assert all(k is p.data for k, p in zip(kept, model.parameters(), strict=True))
        else:
            fp = _flat_of(opt)
            assert all(p.grad.numpy() is q for p, q in zip(model.parameters(), fp.grad_views,
                                                           strict=True))
        results.append([p.data.copy() for p in model.parameters()])
    for a, b in zip(*results, strict=True):
        np.testing.assert_array_equal(a, b)
    for step_a, step_b in zip(*grads, strict=True):
        for a, b in zip(step_a, step_b, strict=True):
            np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_three_layer_relu_tanh_net_flat_equals_not(dtype):
    """The generated backward_into of another architecture ([20, 8, 6, 4], ReLU, Tanh, no
    activation last, MSELoss): flat gradients and update, bit for bit the per-parameter ones."""
    rng = np.random.default_rng(11)
    batches = [(tg.from_numpy(rng.standard_normal((7, 20)).astype(dtype)),
                tg.from_numpy(rng.standard_normal((7, 4)).astype(dtype))) for _ in range(10)]
    runs = []
    for keep in (False, True):
        tg.manual_seed(5)
        model = nn.Sequential(nn.Linear(20, 8), nn.ReLU(), nn.Linear(8, 6), nn.Tanh(),
                              nn.Linear(6, 4))
        if dtype == np.float64:
            model = model.double()
        kept = [p.detach().numpy() for p in model.parameters()] if keep else []
        opt = optim.SGD(model.parameters(), lr=0.1)
        loss_fn = nn.MSELoss()
        trace = []
        for x, y in batches:
            opt.zero_grad()
            loss_fn(model(x), y).backward()
            trace.append([p.grad.numpy().copy() for p in model.parameters()])
            opt.step()
            trace.append([p.data.copy() for p in model.parameters()])
        fp = _flat_of(opt)
        assert (fp is None) == keep and len(kept) == (6 if keep else 0)
        if not keep:
            assert all(p.grad.numpy() is q for p, q in zip(model.parameters(), fp.grad_views,
                                                           strict=True))
        runs.append(trace)
    for step_a, step_b in zip(*runs, strict=True):
        for a, b in zip(step_a, step_b, strict=True):
            np.testing.assert_array_equal(a, b)


def _train_step(model, opt, loss_fn, x, y, zero=True):
    if zero:
        opt.zero_grad()
    loss_fn(model(x), y).backward()


def _trained_once(seed, lr):
    """The float64 book net and its SGD after one step (so its arrays are in a flat one)."""
    rng = np.random.default_rng(seed)
    model = _book(np.float64)
    params = list(model.parameters())
    opt = optim.SGD(params, lr=lr)
    loss_fn = nn.QuadraticCost()
    _train_step(model, opt, loss_fn, *_batch(rng, np.float64))
    opt.step()
    fp = _flat_of(opt)
    assert fp is not None
    return rng, model, params, opt, loss_fn, fp


def test_backward_writes_the_flat_gradient_and_never_overwrites_a_kept_one():
    rng, model, params, opt, loss_fn, fp = _trained_once(8, 3.0)
    for _ in range(2):  # nothing holds the last gradients: the same flat gradient is reused
        grad = fp.grad
        _train_step(model, opt, loss_fn, *_batch(rng, np.float64))
        assert fp.grad is grad
        assert all(p._grad is q for p, q in zip(params, fp.grad_views, strict=True))
        _step_and_check(opt, params, 3.0)
    kept = [p.grad for p in params]  # the user keeps this step's gradients (as Tensors)
    kept_values = [k.numpy().copy() for k in kept]
    old = fp.grad
    _train_step(model, opt, loss_fn, *_batch(rng, np.float64))
    assert fp.grad is not old  # a new flat gradient; the kept ones are untouched
    for k, v, p in zip(kept, kept_values, params, strict=True):
        np.testing.assert_array_equal(k.numpy(), v)
        assert not np.shares_memory(k.numpy(), p.grad.numpy())
    _step_and_check(opt, params, 3.0)
    held = params[3].grad.numpy()  # one bare array kept is enough
    _train_step(model, opt, loss_fn, *_batch(rng, np.float64))
    assert not np.shares_memory(held, params[3].grad.numpy())


def test_accumulated_zeroed_and_frozen_gradients():
    rng, model, params, opt, loss_fn, _ = _trained_once(9, 0.5)
    # two backwards without zero_grad: the gradients add up
    (x1, y1), (x2, y2) = _batch(rng, np.float64), _batch(rng, np.float64)
    _train_step(model, opt, loss_fn, x1, y1)
    g1 = [p.grad.numpy().copy() for p in params]
    opt.zero_grad()
    _train_step(model, opt, loss_fn, x2, y2)
    g2 = [p.grad.numpy().copy() for p in params]
    opt.zero_grad()
    _train_step(model, opt, loss_fn, x1, y1)
    _train_step(model, opt, loss_fn, x2, y2, zero=False)
    for p, a, b in zip(params, g1, g2, strict=True):
        np.testing.assert_array_equal(p.grad.numpy(), a + b)
    _step_and_check(opt, params, 0.5)
    # zero_grad(set_to_none=False): zeros in place, then accumulated into
    _train_step(model, opt, loss_fn, x1, y1)
    g1 = [p.grad.numpy().copy() for p in params]
    opt.zero_grad(set_to_none=False)
    assert all(not np.any(p.grad.numpy()) for p in params)
    _train_step(model, opt, loss_fn, x1, y1, zero=False)
    for p, a in zip(params, g1, strict=True):
        np.testing.assert_array_equal(p.grad.numpy(), a)
    _step_and_check(opt, params, 0.5)
    # a frozen parameter gets no gradient and is not moved by the step
    params[1].requires_grad_(False)
    for _ in range(2):
        _train_step(model, opt, loss_fn, *_batch(rng, np.float64))
        assert params[1].grad is None
        _step_and_check(opt, params, 0.5)


def _two_params(rng, dtype=np.float64):
    return [nn.Parameter(tg.tensor(rng.standard_normal(s).astype(dtype))) for s in [(3, 4), (4,)]]


def _set_grads(params, rng):
    for p in params:
        p.grad = tg.tensor(rng.standard_normal(p.shape).astype(p.dtype))


@pytest.mark.parametrize("case", ["numpy_kept", "shared_with_a_tensor", "a_view", "mixed_dtypes",
                                  "one_param", "too_big", "duplicate", "byte_swapped"])
def test_arrays_that_others_can_see_are_not_moved(case):
    rng = np.random.default_rng(2)
    params = _two_params(rng)
    watcher = None
    if case == "numpy_kept":
        watcher = params[0].detach().numpy()
    elif case == "shared_with_a_tensor":
        t = tg.tensor(rng.standard_normal(5))
        params[0] = nn.Parameter(t)
        watcher = t.data
    elif case == "a_view":
        big = rng.standard_normal(20)
        params[0] = nn.Parameter(tg.from_numpy(big[2:7]))
        watcher = big[2:7]
    elif case == "mixed_dtypes":
        params[1] = nn.Parameter(tg.tensor(rng.standard_normal(4).astype(np.float32)))
    elif case == "one_param":
        params = params[:1]
    elif case == "byte_swapped":
        swapped = np.dtype(np.float64).newbyteorder()
        params = [nn.Parameter(tg.from_numpy(p.data.astype(swapped))) for p in params]
    elif case == "too_big":
        # 1.4 MB in all: parameter by parameter
        params += [nn.Parameter(tg.tensor(rng.standard_normal((300, 300)))) for _ in range(2)]
    if case == "duplicate":
        with pytest.warns(UserWarning, match="duplicate"):
            opt = optim.SGD([params[0], params[1], params[0]], lr=0.1)
    else:
        opt = optim.SGD(params, lr=0.1)
    for _ in range(3):
        if case == "duplicate":
            for p in params:
                p.grad = tg.tensor(rng.standard_normal(p.shape))
            opt.step()
        else:
            _set_grads(params, rng)
            _step_and_check(opt, params, 0.1)
    assert _flat_of(opt) is None
    if watcher is not None:  # still the parameter's memory: it sees every update
        assert np.shares_memory(watcher, params[0].data)
        np.testing.assert_array_equal(watcher, params[0].data)


def test_replaced_arrays_fall_back_then_move_again():
    """model.double() after the move replaces every array: that step is parameter by parameter,
    then the float64 arrays move into a flat array of their own. One array replaced by hand
    (the others still views of the old flat array): parameter by parameter from then on."""
    rng = np.random.default_rng(4)
    model = _book(np.float32)
    params = list(model.parameters())
    opt = optim.SGD(params, lr=0.5)
    loss_fn = nn.QuadraticCost()

    def train_step(dtype):
        x, y = _batch(rng, dtype)
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        _step_and_check(opt, params, 0.5)

    train_step(np.float32)
    first = _flat_of(opt)
    assert first is not None and first.dtype == np.float32
    model.double()
    assert all(p.dtype == np.float64 for p in params)
    train_step(np.float64)
    second = _flat_of(opt)
    assert second is not None and second is not first and second.dtype == np.float64
    train_step(np.float64)
    assert all(p.data.base is second.data.base for p in params)
    params[2].data = params[2].data.copy()  # by hand: the flat array no longer holds it
    for _ in range(2):
        train_step(np.float64)
    assert _flat_of(opt) is None
    assert params[0].data.base is second.data.base and params[2].data.base is None


def test_missing_gradient_and_reordered_group_update_param_by_param():
    rng = np.random.default_rng(5)
    params = _two_params(rng) + _two_params(rng)
    opt = optim.SGD(params, lr=0.2)
    _set_grads(params, rng)
    _step_and_check(opt, params, 0.2)
    fp = _flat_of(opt)
    assert fp is not None
    _set_grads(params, rng)
    params[1].grad = None  # no gradient: untouched, not bumped
    _step_and_check(opt, params, 0.2)
    group = opt.param_groups[0]["params"]
    group.reverse()  # the user reorders the group: the views no longer match, position by position
    _set_grads(params, rng)
    _step_and_check(opt, params, 0.2)
    group.append(nn.Parameter(tg.tensor(rng.standard_normal(2))))  # one more parameter
    _set_grads(group, rng)
    _step_and_check(opt, group, 0.2)


def test_state_dict_round_trip_after_the_move():
    rng = np.random.default_rng(6)
    model = _book(np.float64)
    opt = optim.SGD(model.parameters(), lr=1.0)
    loss_fn = nn.QuadraticCost()
    x, y = _batch(rng, np.float64)
    loss_fn(model(x), y).backward()
    opt.step()
    assert _flat_of(opt) is not None
    saved = {k: v.detach().numpy().copy() for k, v in model.state_dict().items()}
    for p in model.parameters():
        p.data[...] = 0
    model.load_state_dict({k: tg.from_numpy(v) for k, v in saved.items()})
    for k, v in model.state_dict().items():
        np.testing.assert_array_equal(v.detach().numpy(), saved[k])
    opt.zero_grad()
    loss_fn(model(x), y).backward()
    _step_and_check(opt, list(model.parameters()), 1.0)


@settings(max_examples=30, deadline=None)
@given(shapes=st.lists(st.lists(st.integers(0, 7), min_size=0, max_size=3), min_size=2,
                       max_size=5),
       dtype=st.sampled_from([np.float32, np.float64]),
       lr=st.floats(1e-3, 10.0), maximize=st.booleans(), seed=st.integers(0, 2**16))
def test_flat_update_is_p_minus_lr_g_for_any_shapes(shapes, dtype, lr, maximize, seed):
    rng = np.random.default_rng(seed)
    params = [nn.Parameter(tg.tensor(rng.standard_normal(s).astype(dtype))) for s in shapes]
    opt = optim.SGD(params, lr=lr, maximize=maximize)
    for _ in range(3):
        _set_grads(params, rng)
        _step_and_check(opt, params, -lr if maximize else lr)
    fp = _flat_of(opt)
    assert fp is not None and all(p.data is v for p, v in zip(params, fp.views, strict=True))


def test_rehome_refuses_without_changing_anything():
    rng = np.random.default_rng(7)
    params = _two_params(rng)
    arrays = [p.data for p in params]  # held here: not movable
    assert flat.rehome(params, 1 << 20) is None
    assert all(p.data is a for p, a in zip(params, arrays, strict=True))
    del arrays
    fp = flat.rehome(params, 1 << 20)
    assert fp is not None and all(p.data is v for p, v in zip(params, fp.views, strict=True))


def test_flat_arrays_are_whole_blas_blocks_and_their_padding_stays_zero():
    """The flat arrays are whole ``blas.BLOCK``s (so a kernel that rounds once only over whole
    blocks needs no padded tail: ``Kernel.block``); the padding stays zero through updates."""
    rng = np.random.default_rng(8)
    params = _two_params(rng)
    fp = flat.rehome(params, 1 << 20)
    assert fp is not None
    assert fp.data.size % blas.BLOCK == 0 and fp.data.size >= sum(p.data.size for p in params)
    for a in (fp.data, fp.grad, fp.scratch):
        a[...] = 0.0
    for v, gv in zip(fp.views, fp.grad_views, strict=True):
        v[...], gv[...] = 1.0, 2.0
    if fp.grad_update is None:
        pytest.skip("NumPy's BLAS has no axpy tinygrad_nn binds (see engine/blas.py)")
    fp.grad_update(-0.25)
    assert int(np.count_nonzero(fp.data)) == sum(p.data.size for p in params)
    assert all(np.all(v == 0.5) for v in fp.views)


def test_reference_counts_are_calibrated_on_this_interpreter():
    """engine/refs.py's "no one else" counts, and the premise of every check built on them: one
    more holder shows as exactly one more."""
    if not refs.TRUSTED:
        assert refs.ALONE == refs.IN_TUPLE == -1
        return
    # (each count is read into a name first: pytest's rewritten assert would hold the operand)
    views = (np.empty(3),)
    alone = sys.getrefcount(views[0])
    kept = views[0]
    held = sys.getrefcount(views[0])
    del kept
    assert (alone, held) == (refs.IN_TUPLE, refs.IN_TUPLE + 1)
    p = nn.Parameter(tg.tensor(np.zeros(3)))
    a = p.data
    alone = sys.getrefcount(a)
    also = p.data
    held = sys.getrefcount(a)
    del also, a
    assert (alone, held) == (refs.ALONE, refs.ALONE + 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_flat_update_without_a_blas_axpy_is_numpys_two_passes(monkeypatch, dtype):
    """Where NumPy's BLAS has no axpy the flat arrays have no one-call plans, and the flat update
    is the product into the scratch array, then one subtraction: NumPy's two roundings, for the
    flat gradient (the fused backward's) and for gradients that are not its views (assigned)."""
    from tinygrad_nn.engine import blas
    from tinygrad_nn.engine.constants import Memo

    monkeypatch.setattr(blas, "_bound", Memo(lambda dt: None))
    rng, model, params, opt, loss_fn = _book_training(dtype, 12)
    for step in range(4):
        opt.zero_grad()
        if step < 3:
            x, y = _batch(rng, dtype)
            loss_fn(model(x), y).backward()
        else:  # assigned: not views of the flat gradient
            for p in params:
                p.grad = tg.tensor(rng.standard_normal(p.shape).astype(dtype))
        befores = [p.data.copy() for p in params]
        grads = [p.grad.numpy().copy() for p in params]
        opt.step()
        for p, b, g in zip(params, befores, grads, strict=True):
            np.testing.assert_array_equal(p.data, two_passes(b, g, 3.0))
        fp = _flat_of(opt)
        assert fp is not None and fp.grad_update is None and fp.scratch_update is None
    assert any(np.any(two_passes(b, g, 3.0) != rounded_once(b, g, 3.0))
               for b, g in zip(befores, grads, strict=True))  # the test can tell them apart
