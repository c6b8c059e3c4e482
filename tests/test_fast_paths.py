"""The hot paths made faster: ``Tensor.grad`` as a lazily wrapping property, SGD's plain update
(cached 0-d lr, scratch buffer for large parameters, one BLAS axpy from 1 MiB on),
``Module.__call__`` as a property, the fused MLP's parameter gradients, cross entropy's
no-weight/no-ignore fast path (and ``nn.CrossEntropyLoss``'s one op), the quadratic cost, and
``loss.backward()`` of either cost over an MLP in one call.
Every check is against closed-form math, a NumPy formula, the unfused tinygrad_nn ops, or torch."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sgd_oracle import rounded_once, sgd_update, two_passes

import tinygrad_nn as tg
import tinygrad_nn.nn.functional as F
from tinygrad_nn import autograd, nn, optim
from tinygrad_nn.engine import blas
from tinygrad_nn.engine.constants import Memo
from tinygrad_nn.ops.mlp import MLP


def t64(a, grad=True):
    return tg.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def _torch():
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    return torch


# -- 1. Tensor.grad ------------------------------------------------------------------------------
def _fused_net(seed=0):
    tg.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 3), nn.Sigmoid(), nn.Linear(3, 2)).double()


def test_grad_identity_is_stable_after_backward():
    rng = np.random.default_rng(0)
    net = _fused_net()
    x = t64(rng.standard_normal((5, 4)))
    net(x).sum().backward()
    for t in (x, *net.parameters()):
        g = t.grad
        assert isinstance(g, tg.Tensor)
        assert g is t.grad  # wrapped once, then cached
        assert g.shape == t.shape and g.dtype == t.dtype
        assert g.grad_fn is None and not g.requires_grad
    p = t64(rng.standard_normal(3))
    (p * p).sum().backward()
    assert p.grad is p.grad
    np.testing.assert_array_equal(p.grad.numpy(), 2 * p.data)


@pytest.mark.parametrize("kind", ["fused_mlp", "mul"])
def test_grad_accumulates_in_place_over_two_backwards(kind):
    rng = np.random.default_rng(1)
    xs = [rng.standard_normal((5, 4)) for _ in range(2)]
    if kind == "fused_mlp":
        net = _fused_net()
        params = list(net.parameters())
        refs = []
        for x in xs:  # per-backward gradients from a fresh graph each
            got = autograd.grad(net(t64(x, False)).sum(), params)
            refs.append([g.numpy().copy() for g in got])

        def loss(x):
            return net(t64(x, False)).sum()
    else:
        w = t64(rng.standard_normal(4))
        params = [w]
        refs = [[(x**2).sum(0)] for x in xs]  # d/dw Σ (x² · w) = Σ_rows x²

        def loss(x):
            return (t64(x, False) ** 2 * w).sum()

    loss(xs[0]).backward()
    early = [p.grad for p in params]  # Tensors taken before the second backward
    firsts = [g.numpy().copy() for g in early]
    for f, r in zip(firsts, refs[0], strict=True):
        np.testing.assert_allclose(f, r, rtol=1e-12, atol=1e-14)
    loss(xs[1]).backward()  # no zero_grad: accumulates
    for p, e, r0, r1 in zip(params, early, refs[0], refs[1], strict=True):
        assert p.grad is e  # in place, as PyTorch: the earlier Tensor sees the sum
        np.testing.assert_allclose(e.numpy(), r0 + r1, rtol=1e-12, atol=1e-14)


def test_grad_accumulates_when_not_read_in_between():
    rng = np.random.default_rng(2)
    net = _fused_net()
    xs = [rng.standard_normal((3, 4)) for _ in range(3)]
    params = list(net.parameters())
    expected = [np.zeros(p.shape) for p in params]
    for x in xs:
        for e, g in zip(expected, autograd.grad(net(t64(x, False)).sum(), params), strict=True):
            e += g.numpy()
    for x in xs:
        net(t64(x, False)).sum().backward()
    for p, e in zip(params, expected, strict=True):
        np.testing.assert_allclose(p.grad.numpy(), e, rtol=1e-12, atol=1e-14)


def test_grad_of_two_leaves_sharing_one_fused_node_is_not_aliased():
    # the same Linear used twice in one fused MLP: the leaf gets two gradients from one node
    rng = np.random.default_rng(3)
    tg.manual_seed(3)
    lin = nn.Linear(3, 3).double()
    seq = nn.Sequential(lin, nn.Tanh(), lin, nn.Sigmoid())
    x = rng.standard_normal((4, 3))
    w0, b0 = t64(lin.weight.data.copy()), t64(lin.bias.data.copy())
    xr = t64(x, False)
    ref = _act(_act(xr @ w0.T + b0, "tanh") @ w0.T + b0, "sigmoid").sum()
    ref.backward()
    seq(t64(x, False)).sum().backward()
    np.testing.assert_allclose(lin.weight.grad.numpy(), w0.grad.numpy(), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(lin.bias.grad.numpy(), b0.grad.numpy(), rtol=1e-12, atol=1e-14)
    assert not np.shares_memory(lin.weight.grad.data, lin.bias.grad.data)


def test_zero_grad_to_none_and_in_place():
    rng = np.random.default_rng(4)
    net = _fused_net()
    opt = optim.SGD(net.parameters(), lr=0.1)
    x = t64(rng.standard_normal((2, 4)), False)
    net(x).sum().backward()
    opt.zero_grad()  # default set_to_none=True
    assert all(p.grad is None for p in net.parameters())
    net(x).sum().backward()
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())

    net(x).sum().backward()
    before = [p.grad for p in net.parameters()]
    opt.zero_grad(set_to_none=False)
    for p, g in zip(net.parameters(), before, strict=True):
        assert p.grad is g  # zeroed in place
        np.testing.assert_array_equal(g.numpy(), np.zeros(p.shape))
    net(x).sum().backward()  # then accumulates onto the zeros: one backward's gradient
    expected = autograd.grad(net(x).sum(), list(net.parameters()))
    for p, g, e in zip(net.parameters(), before, expected, strict=True):
        assert p.grad is g
        np.testing.assert_allclose(g.numpy(), e.numpy(), rtol=1e-12, atol=1e-14)
    net.zero_grad(set_to_none=False)
    assert all(not p.grad.numpy().any() for p in net.parameters())


def test_retain_grad_on_a_non_leaf():
    rng = np.random.default_rng(5)
    a = t64(rng.standard_normal(4))
    h = a * 3.0
    h.retain_grad()
    assert h.retains_grad
    y = h.sigmoid()
    y.sum().backward()
    s = 1 / (1 + np.exp(-3.0 * a.data))
    np.testing.assert_allclose(h.grad.numpy(), s * (1 - s), rtol=1e-12)
    np.testing.assert_allclose(a.grad.numpy(), 3 * s * (1 - s), rtol=1e-12)
    assert h.grad is h.grad
    # a retained non-leaf output of the fused MLP
    net = _fused_net()
    x = t64(rng.standard_normal((3, 4)), False)
    out = net(x)
    out.retain_grad()
    (out * out).sum().backward()
    np.testing.assert_allclose(out.grad.numpy(), 2 * out.data, rtol=1e-12)


def test_grad_setter_errors_and_accepted_values():
    p = t64(np.zeros((2, 3)))
    with pytest.raises(TypeError):
        p.grad = np.zeros((2, 3))
    with pytest.raises(TypeError):
        p.grad = [[0.0] * 3] * 2
    with pytest.raises(RuntimeError):
        p.grad = tg.zeros(3, 2, dtype=tg.float64)
    with pytest.raises(RuntimeError):
        p.grad = tg.zeros(6, dtype=tg.float64)
    assert p.grad is None  # failed assignments leave nothing behind
    g = tg.ones(2, 3, dtype=tg.float64)
    p.grad = g
    assert p.grad is g
    (p * 2.0).sum().backward()  # accumulates into the assigned Tensor
    assert p.grad is g
    np.testing.assert_array_equal(g.numpy(), np.full((2, 3), 3.0))
    p.grad = None
    assert p.grad is None


def test_autograd_grad_leaves_dot_grad_untouched():
    rng = np.random.default_rng(6)
    net = _fused_net()
    x = t64(rng.standard_normal((3, 4)))
    params = list(net.parameters())
    got = autograd.grad(net(x).sum(), [x, *params])
    assert x.grad is None and all(p.grad is None for p in params)
    net(x).sum().backward()
    for t, g in zip([x, *params], got, strict=True):
        np.testing.assert_allclose(t.grad.numpy(), g.numpy(), rtol=1e-12, atol=1e-14)
    snap = [t.grad for t in (x, *params)]
    vals = [s.numpy().copy() for s in snap]
    autograd.grad(net(x).sum(), [x, *params])
    for t, s, v in zip([x, *params], snap, vals, strict=True):
        assert t.grad is s
        np.testing.assert_array_equal(s.numpy(), v)


# -- 2. optim.SGD plain update ------------------------------------------------------------------
def _assert_update(actual, before, g, lr):
    """SGD's plain update of ``before`` by g, to the bit: where NumPy's BLAS has an axpy, p − lr·g
    rounded once, else NumPy's two passes (``sgd_oracle``)."""
    assert actual.dtype == before.dtype
    np.testing.assert_array_equal(actual, sgd_update(before, g, lr))


def _param(rng, shape, dtype):
    return nn.Parameter(tg.tensor(rng.standard_normal(shape).astype(dtype)))


def _set_grad_by_backward(p, g):
    """p.grad = g through a backward pass: the engine stores its own fresh array, which step()
    then reads as is (``.grad`` is not read here, so it is not wrapped yet)."""
    (p * tg.tensor(g)).sum().backward()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(7,), (10, 13), (300, 300)])
@pytest.mark.parametrize("maximize", [False, True])
@pytest.mark.parametrize("via", ["backward", "setter"])
def test_sgd_plain_step_is_p_minus_lr_g(dtype, shape, maximize, via):
    rng = np.random.default_rng(7)
    p = _param(rng, shape, dtype)
    lr = 0.137
    opt = optim.SGD([p], lr=lr, maximize=maximize)
    for _ in range(3):  # several steps: the scratch buffer is reused
        g = rng.standard_normal(shape).astype(dtype)
        p.grad = None
        if via == "backward":
            _set_grad_by_backward(p, g)
        else:
            p.grad = tg.tensor(g)
        before = p.data.copy()
        grad_t = p.grad if via == "setter" else None
        version = p._version
        opt.step()
        _assert_update(p.data, before, g, -lr if maximize else lr)
        if grad_t is not None:
            assert p.grad is grad_t
        assert p.grad is p.grad
        np.testing.assert_array_equal(p.grad.numpy(), g)  # the gradient is unchanged by step
        assert p._version == version + 1
        assert p.dtype == dtype


def test_sgd_plain_step_many_params_of_mixed_sizes_and_dtypes():
    rng = np.random.default_rng(8)
    specs = [((300, 300), np.float64), ((7,), np.float32), ((400, 200), np.float64),
             ((300, 300), np.float32), ((2, 3), np.float64), ((500, 200), np.float64),
             ((256, 256), np.float32), ((65536,), np.float32), ((65535,), np.float64),
             ((), np.float64),
             # at the scratch buffer's 128 KiB threshold; a second (300, 300) float64 parameter
             # shares the first one's buffer within the step
             ((32768,), np.float32), ((32767,), np.float32), ((16383,), np.float64),
             ((300, 300), np.float64),
             # at the one-pass axpy's 1 MiB threshold, and over it
             ((262144,), np.float32), ((262143,), np.float32), ((131071,), np.float64),
             ((400, 400), np.float64), ((512, 784), np.float32)]
    params = [_param(rng, s, d) for s, d in specs]
    skipped = _param(rng, (4,), np.float64)  # no gradient: untouched
    opt = optim.SGD([*params, skipped], lr=0.05)
    lrs = [0.05, 0.3, 1e-3]
    for step, lr in enumerate(lrs):
        opt.param_groups[0]["lr"] = lr  # takes effect at the next step
        grads = [rng.standard_normal(s).astype(d) for s, d in specs]
        for p, g in zip(params, grads, strict=True):
            p.grad = None
            if step % 2:
                p.grad = tg.tensor(g)
            else:
                _set_grad_by_backward(p, g)
        befores = [p.data.copy() for p in params]
        versions = [p._version for p in params]
        skipped_before, skipped_version = skipped.data.copy(), skipped._version
        opt.step()
        for p, b, g, v in zip(params, befores, grads, versions, strict=True):
            _assert_update(p.data, b, g, lr)
            np.testing.assert_array_equal(p.grad.numpy(), g)
            assert p._version == v + 1
        np.testing.assert_array_equal(skipped.data, skipped_before)
        assert skipped._version == skipped_version


def test_sgd_two_optimizers_and_param_groups_keep_their_own_lr():
    rng = np.random.default_rng(9)
    a, b = _param(rng, (300, 300), np.float64), _param(rng, (300, 300), np.float64)
    c = _param(rng, (300, 300), np.float64)
    opt1 = optim.SGD([{"params": [a], "lr": 0.1}, {"params": [b], "lr": 0.01}], lr=0.5)
    opt2 = optim.SGD([c], lr=0.2, maximize=True)
    ga, gb, gc = (rng.standard_normal((300, 300)) for _ in range(3))
    a.grad, b.grad, c.grad = tg.tensor(ga), tg.tensor(gb), tg.tensor(gc)
    pa, pb, pc = a.data.copy(), b.data.copy(), c.data.copy()
    opt1.step()
    opt2.step()
    _assert_update(a.data, pa, ga, 0.1)
    _assert_update(b.data, pb, gb, 0.01)
    _assert_update(c.data, pc, gc, -0.2)


def test_blas_axpy_is_found_in_numpys_own_openblas():
    """NumPy's Linux wheels (CI's) bundle the ILP64 scipy-openblas: there the one-pass update
    must be in use (a failed lookup would quietly cost the wide step 2.5-6%)."""
    cfg = np.__config__.CONFIG["Build Dependencies"]["blas"]
    wheel = cfg["name"] == "scipy-openblas" and "USE64BITINT" in cfg["openblas configuration"]
    if wheel and sys.platform == "linux":
        assert blas.axpy_for(np.dtype(np.float32)) is not None
        assert blas.axpy_for(np.dtype(np.float64)) is not None
    assert blas.axpy_for(np.dtype(np.float16)) is None
    assert blas.axpy_for(np.dtype(">f8" if sys.byteorder == "little" else "<f8")) is None


def test_blas_axpy_can_be_turned_off(monkeypatch):
    monkeypatch.setenv("TINYGRAD_NN_NO_BLAS_AXPY", "1")
    monkeypatch.setattr(blas, "_bound", Memo(blas._kernel_of))
    assert blas.axpy_for(np.dtype(np.float32)) is None
    y = np.ones(300_000, np.float32)
    assert not blas.axpy(y, np.ones_like(y), 2.0)
    assert np.all(y == 1.0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_blas_axpy_refuses_what_it_cannot_do_in_one_call(dtype):
    rng = np.random.default_rng(12)
    y0, x = rng.standard_normal((2, 64, 32)).astype(dtype)
    for yy, xx in [(y0.copy(), x.astype(np.float16)), (y0.copy(), x[:, :16]),  # dtype, shape
                   (np.asfortranarray(y0), x), (y0.copy(), np.asfortranarray(x))]:  # layout
        before = yy.copy()
        assert not blas.axpy(yy, xx, -0.5)
        np.testing.assert_array_equal(yy, before)  # nothing done
    ro = y0.copy()
    ro.flags.writeable = False
    assert not blas.axpy(ro, x, -0.5)
    both = np.concatenate([y0.ravel(), x.ravel()])  # x overlapping y
    assert not blas.axpy(both[:2048], both[1000:3048], -0.5)
    y = y0.copy()
    if blas.axpy_for(np.dtype(dtype)) is not None:
        assert blas.axpy(y, x, -0.5)
        np.testing.assert_array_equal(y, rounded_once(y0, x, 0.5))


@pytest.mark.parametrize("dtype, shape", [(np.float32, (7,)), (np.float32, (30, 784)),
                                          (np.float32, (512, 512)), (np.float32, (512, 784)),
                                          (np.float64, (10, 13)), (np.float64, (30, 784)),
                                          (np.float64, (256, 512)), (np.float64, (257, 513))])
def test_sgd_update_is_rounded_once_as_torch(dtype, shape):
    """At every size, p − lr·g is rounded once (BLAS's fused axpy): exactly the correctly rounded
    value, where the two passes differ from it in about one element in eight (by up to
    thousands of ulps where lr·g nearly cancels p) — and bit for bit what torch.optim.SGD does.
    (The book's first weight, 30×784, is the size OpenBLAS would thread if it were one call.)"""
    if blas.axpy_for(np.dtype(dtype)) is None:
        pytest.skip("NumPy's BLAS has no axpy tinygrad_nn binds (see engine/blas.py)")
    rng = np.random.default_rng(13)
    p = _param(rng, shape, dtype)
    g = rng.standard_normal(shape).astype(dtype)
    before = p.data.copy()
    p.grad = tg.tensor(g)
    optim.SGD([p], lr=0.137).step()
    want = rounded_once(before, g, 0.137)
    np.testing.assert_array_equal(p.data, want)
    if before.size > 100:  # the test can tell them apart
        assert np.mean(want != two_passes(before, g, 0.137)) > 0.05
    torch = pytest.importorskip("torch")
    tp = torch.nn.Parameter(torch.from_numpy(before.copy()))
    tp.grad = torch.from_numpy(g)
    torch.optim.SGD([tp], lr=0.137).step()
    np.testing.assert_array_equal(p.data, tp.detach().numpy())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [0, 5, 10_000, 10_001, 25_000, 262_144])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("axpby", [True, False])
@pytest.mark.parametrize("via", ["plan", "axpy"])
def test_blas_update_rounds_once_on_every_path(monkeypatch, dtype, size, threads, axpby, via):
    """``AxpyPlan`` (SGD's flat update) and ``axpy`` (its parameter-by-parameter one): one axpy
    call for 10,000 elements or fewer or 1 MiB and more, else one axpby call (at any thread
    count), or where there is no axpby one axpy call at one thread and calls of at most 10,000
    elements at more: every path gives the correctly rounded y + α·x, with the calls expected."""
    kernel = blas.axpy_for(np.dtype(dtype))
    if kernel is None:
        pytest.skip("NumPy's BLAS has no axpy tinygrad_nn binds (see engine/blas.py)")
    if not axpby:
        kernel = kernel._replace(axpby=None)
    elif kernel.axpby is None:
        pytest.skip("this BLAS's axpby failed its rounding check")
    calls = {"axpy": 0, "axpby": 0}

    def counted(name, fn):
        def call(*args):
            calls[name] += 1
            fn(*args)
        return call

    kernel = kernel._replace(axpy=counted("axpy", kernel.axpy),
                             axpby=kernel.axpby and counted("axpby", kernel.axpby))
    monkeypatch.setattr(blas, "_bound", Memo(lambda dt: kernel if dt == dtype else None))
    monkeypatch.setattr(blas, "threads", lambda: threads)
    rng = np.random.default_rng(size)
    y0 = rng.standard_normal(size).astype(dtype)
    x = rng.standard_normal(size).astype(dtype)
    y = y0.copy()
    if via == "plan":
        plan = blas.plan(y, x)
        plan(-0.3)
    else:
        assert blas.axpy(y, x, -0.3)
    block = kernel.block  # 1, or a kernel that rounds once only over whole blocks: one more
    body = size - size % block  # axpy call for the rest, through a zero-padded block
    tail = int(body < size)
    if y.size == 0:
        assert calls == {"axpy": int(via == "plan"), "axpby": 0}
    elif y.size <= 10_000 or (y.nbytes >= 1 << 20 and block == 1):
        assert calls == {"axpy": 1 + tail, "axpby": 0}
    elif axpby:
        assert calls == {"axpy": tail, "axpby": 1}
    else:
        chunks = 1 if threads == 1 else -(-body // (10_000 - 10_000 % block))
        assert calls == {"axpy": chunks + tail, "axpby": 0}
    np.testing.assert_array_equal(y, rounded_once(y0, x, 0.3))
    if y.size > 100:
        assert np.any(y != two_passes(y0, x, 0.3))  # the test can tell them apart


def test_blas_axpy_of_a_read_only_x_and_of_views():
    """A read-only x exports no writable buffer (its pointer is read another way); a view that
    overlaps y is refused, one that doesn't is taken."""
    if blas.axpy_for(np.dtype(np.float64)) is None:
        pytest.skip("NumPy's BLAS has no axpy tinygrad_nn binds (see engine/blas.py)")
    rng = np.random.default_rng(15)
    x = rng.standard_normal(40)
    x.flags.writeable = False
    y0 = rng.standard_normal(40)
    y = y0.copy()
    assert blas.axpy(y, x, -0.25)
    np.testing.assert_array_equal(y, rounded_once(y0, x, 0.25))
    both = rng.standard_normal(100)
    before = both.copy()
    assert not blas.axpy(both[:50], both[25:75], 1.0)  # overlapping views: refused
    np.testing.assert_array_equal(both, before)
    assert blas.axpy(both[:50], both[50:], 1.0)  # disjoint views of one array: fine
    np.testing.assert_array_equal(both[:50], rounded_once(before[:50], before[50:], -1.0))


def _tail_rounds_twice(kernel: blas.Kernel):
    """``kernel``'s axpy as OpenBLAS's Haswell kernels are (Zen 3 guests): one rounding over the
    first n & -16 elements, NumPy's two roundings over the rest."""
    import ctypes

    dt = np.float32 if kernel.scalar is ctypes.c_float else np.float64

    def axpy(n, a, xp, incx, yp, incy):
        body = n.value & -16
        kernel.axpy(ctypes.c_int64(body), a, xp, incx, yp, incy)
        rest, size = n.value - body, np.dtype(dt).itemsize
        if rest:
            addr = [p.value if isinstance(p, ctypes.c_void_p) else ctypes.addressof(p._obj)
                    for p in (xp, yp)]
            x, y = (np.frombuffer((ctypes.c_char * (rest * size)).from_address(v + body * size),
                                  dt) for v in addr)
            y += x * dt(a.value)
    return axpy


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_blas_check_rejects_a_kernel_whose_tail_rounds_twice(dtype):
    """The bind-time check fails a kernel that rounds twice only after its vector loop (its
    elements are all ones where two roundings differ from one) and passes it over whole blocks,
    where ``Kernel.block`` then confines it."""
    kernel = blas.axpy_for(np.dtype(dtype))
    if kernel is None:
        pytest.skip("NumPy's BLAS has no axpy tinygrad_nn binds (see engine/blas.py)")
    bad = _tail_rounds_twice(kernel)

    def plain(n, a, xp, yp):
        bad(n, a, xp, blas._ONE, yp, blas._ONE)

    scalar = kernel.scalar
    assert not blas._rounds_once(plain, np.dtype(dtype), scalar, 131)
    assert not blas._rounds_once(plain, np.dtype(dtype), scalar, 17, 1)
    assert blas._rounds_once(plain, np.dtype(dtype), scalar, 4 * blas.BLOCK)
    assert blas._rounds_once(plain, np.dtype(dtype), scalar, 4 * blas.BLOCK, 1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("size", [5, 63, 64, 100, 10_001, 23_860, 262_147])
@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("via", ["plan", "axpy"])
def test_blas_update_with_a_block_kernel_rounds_once_at_every_length(monkeypatch, dtype, size,
                                                                    threads, via):
    """Under a kernel that rounds once only over whole blocks (``Kernel.block``), the blocks go
    to it (in calls of whole blocks when OpenBLAS could thread them) and the rest through a
    zero-padded block: y + α·x is rounded once at every length, the plan's and the one-off
    call's, and the elements before and after are untouched."""
    kernel = blas.axpy_for(np.dtype(dtype))
    if kernel is None:
        pytest.skip("NumPy's BLAS has no axpy tinygrad_nn binds (see engine/blas.py)")
    block = kernel._replace(axpy=_tail_rounds_twice(kernel), axpby=None, block=blas.BLOCK)
    monkeypatch.setattr(blas, "_bound", Memo(lambda dt: block if dt == dtype else None))
    monkeypatch.setattr(blas, "threads", lambda: threads)
    rng = np.random.default_rng(size)
    buf = rng.uniform(1.0, 2.0, size + 2).astype(dtype)
    y0 = buf[1:-1].copy()
    y = buf[1:-1]
    x = (rng.uniform(0.25, 1.0, size) / 0.3 * rng.choice([-1.0, 1.0], size)).astype(dtype)
    edges = buf[[0, -1]].copy()
    if via == "plan":
        blas.plan(y, x)(-0.3)
    else:
        assert blas.axpy(y, x, -0.3)
    np.testing.assert_array_equal(y, rounded_once(y0, x, 0.3))
    np.testing.assert_array_equal(buf[[0, -1]], edges)
    if size > 100:
        assert np.any(y != two_passes(y0, x, 0.3))  # the test can tell them apart


def test_blas_kernels_are_checked_for_one_rounding():
    """``_rounds_once`` accepts a kernel only if it rounds α·x + y once: NumPy's two passes fail
    it, the bound kernels pass it. And where float64-then-float32 would round twice (a result
    that is a float32 midpoint in float64), the axpy gives the correctly rounded value."""
    import ctypes

    def two_pass(n, a, xp, yp):
        dt = np.float32
        size = n.value * 4
        x = np.frombuffer((ctypes.c_char * size).from_address(xp.value), dt)
        y = np.frombuffer((ctypes.c_char * size).from_address(yp.value), dt)
        y += x * dt(a.value)

    assert not blas._rounds_once(two_pass, np.dtype(np.float32), ctypes.c_float)
    kernel = blas.axpy_for(np.dtype(np.float32))
    if kernel is None:
        return
    p = np.array([1 + 2**-23, 1 + 2**-23], np.float32)
    lr = float(np.float32(1 + 2**-23))
    g = np.array([-(2**-24) * (1 - 2**-23), (2**-24) * (1 - 2**-23)], np.float32)
    via_double = (p.astype(np.float64) - lr * g.astype(np.float64)).astype(np.float32)
    y = p.copy()
    assert blas.axpy(y, g, -lr)
    np.testing.assert_array_equal(y, [1 + 2**-23, 1 + 2**-23])  # the exact value's nearest
    assert np.all(via_double != y)
    np.testing.assert_array_equal(rounded_once(p, g, lr), y)


def test_blas_threads_follows_threadpoolctl():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    if blas._threads_getter() is None:
        assert blas.threads() == 0
        return
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        assert blas.threads() == 1
    with threadpoolctl.threadpool_limits(2, user_api="blas"):
        assert blas.threads() == 2


def test_sgd_big_update_falls_back_to_two_passes(monkeypatch):
    """Where axpy can't run — a parameter array that isn't C-contiguous, a gradient sharing its
    memory, float16, no BLAS axpy at all — the update is NumPy's two passes, as before; a
    read-only array raises NumPy's error either way."""
    rng = np.random.default_rng(14)
    shape = (400, 400)  # 1.28 MB in float64: over the axpy threshold

    def step_of(p, g_tensor):
        before, g = p.data.copy(), g_tensor.numpy().copy()
        p.grad = g_tensor
        optim.SGD([p], lr=0.137).step()
        np.testing.assert_array_equal(p.data, two_passes(before, g, 0.137))

    p = _param(rng, shape, np.float64)
    p.data = np.asfortranarray(p.data)
    step_of(p, tg.tensor(rng.standard_normal(shape)))
    p = _param(rng, shape, np.float64)
    step_of(p, tg.from_numpy(p.data))  # the gradient is the parameter's own array
    p = _param(rng, (800, 800), np.float16)
    step_of(p, tg.tensor(rng.standard_normal((800, 800)).astype(np.float16)))
    monkeypatch.setattr(blas, "_bound", Memo(lambda dt: None))
    p = _param(rng, shape, np.float64)
    step_of(p, tg.tensor(rng.standard_normal(shape)))
    monkeypatch.undo()
    p = _param(rng, shape, np.float64)
    p.data.flags.writeable = False
    p.grad = tg.tensor(rng.standard_normal(shape))
    with pytest.raises(ValueError, match="read-only"):
        optim.SGD([p], lr=0.1).step()


def test_sgd_step_after_forward_makes_backward_raise():
    rng = np.random.default_rng(10)
    # a parameter saved by a plain op, for a gradient that is needed (w·w: each factor is
    # read by the other's gradient; w·x with x needing none would not read w, as in PyTorch)
    w = _param(rng, (300, 300), np.float64)
    opt = optim.SGD([w], lr=0.1)
    loss = (w * w).sum()
    w.grad = tg.tensor(rng.standard_normal((300, 300)))
    opt.step()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()
    # the weights saved by the fused MLP node
    net = _fused_net()
    opt = optim.SGD(net.parameters(), lr=0.1)
    x = t64(rng.standard_normal((3, 4)), False)
    net(x).sum().backward()
    out = net(x).sum()
    opt.step()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        out.backward()
    # without an intervening step the same pattern is fine
    out = net(x).sum()
    out.backward()


# -- 3. Module.__call__ ------------------------------------------------------------------------
def test_module_call_forwards_args_and_kwargs():
    calls = []

    class M(nn.Module):
        def forward(self, x, y=None, *, scale=1.0):
            calls.append((x, y, scale))
            return x * scale if y is None else (x + y) * scale

    m = M()
    assert callable(m)
    a, b = tg.tensor([1.0, 2.0]), tg.tensor([3.0, 4.0])
    np.testing.assert_array_equal(m(a).numpy(), [1.0, 2.0])
    np.testing.assert_array_equal(m(a, b, scale=2.0).numpy(), [8.0, 12.0])
    np.testing.assert_array_equal(m(a, y=b).numpy(), [4.0, 6.0])
    assert [c[2] for c in calls] == [1.0, 2.0, 1.0]
    assert calls[1][0] is a and calls[1][1] is b
    with pytest.raises(TypeError):
        m(a, b, b)  # too many positional arguments: forward's own signature applies
    assert m.__call__(a, scale=3.0).tolist() == [3.0, 6.0]


def test_module_call_honours_instance_and_class_forward_patches():
    class M(nn.Module):
        def forward(self, x):
            return x * 2

    m, other = M(), M()
    x = tg.tensor([1.0, -1.0])
    assert m(x).tolist() == [2.0, -2.0]
    m.forward = lambda x: x * 3  # an instance attribute
    assert m(x).tolist() == [3.0, -3.0]
    assert other(x).tolist() == [2.0, -2.0]
    M.forward = lambda self, x: x * 5  # patching the class afterwards
    assert other(x).tolist() == [5.0, -5.0]
    assert m(x).tolist() == [3.0, -3.0]  # the instance attribute still wins
    del m.forward
    assert m(x).tolist() == [5.0, -5.0]

    class NoForward(nn.Module):
        pass

    with pytest.raises(NotImplementedError):
        NoForward()(x)


def test_module_with_its_own_call_and_in_sequential():
    class Plus(nn.Module):
        def forward(self, x):
            return x + 1

    class Wrapped(Plus):  # own __call__, delegating through super()
        def __call__(self, x):
            return super().__call__(x) * 10

    class Own(nn.Module):  # own __call__, forward never used
        def forward(self, x):
            raise AssertionError("forward must not be called")

        def __call__(self, x):
            return x - 1

    x = tg.tensor([1.0, 2.0])
    assert Wrapped()(x).tolist() == [20.0, 30.0]
    assert Own()(x).tolist() == [0.0, 1.0]
    seq = nn.Sequential(Wrapped(), Own(), Plus())
    assert seq(x).tolist() == [20.0, 30.0]
    # with a fused Linear+Sigmoid run around them (float64, against the formula)
    tg.manual_seed(11)
    l1, l2 = nn.Linear(2, 3).double(), nn.Linear(3, 2).double()
    seq = nn.Sequential(l1, nn.Sigmoid(), Own(), l2, nn.Tanh(), Wrapped())
    xv = np.array([[0.5, -1.0], [2.0, 0.25]])
    h = 1 / (1 + np.exp(-(xv @ l1.weight.data.T + l1.bias.data))) - 1
    ref = (np.tanh(h @ l2.weight.data.T + l2.bias.data) + 1) * 10
    np.testing.assert_allclose(seq(t64(xv, False)).detach().numpy(), ref, rtol=1e-13)


def test_sequential_honours_a_forward_patched_after_construction():
    class Scale(nn.Module):
        def forward(self, x):
            return x * 2

    m = Scale()
    seq = nn.Sequential(m)
    x = tg.tensor([1.0, 2.0])
    assert seq(x).tolist() == [2.0, 4.0]
    m.forward = lambda x: x * 3
    assert m(x).tolist() == [3.0, 6.0]
    assert seq(x).tolist() == m(x).tolist()  # Sequential calls module(x), as PyTorch's


def test_module_call_through_the_class_attribute():
    # ``nn.Module.__call__(m, x)`` / ``type(m).__call__(m, x)``: plain Python method protocol,
    # used by subclasses that override __call__ (for typing) and call the base explicitly
    class M(nn.Module):
        def forward(self, x):
            return x * 2

    class Typed(M):
        def __call__(self, x):
            return nn.Module.__call__(self, x)

    m = M()
    x = tg.tensor([1.0, 2.0])
    assert type(m).__call__(m, x).tolist() == [2.0, 4.0]
    assert nn.Module.__call__(m, x).tolist() == [2.0, 4.0]
    assert Typed()(x).tolist() == [2.0, 4.0]


# -- 4. fused MLP gradients ------------------------------------------------------------------------
ACTS = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU, "tanh": nn.Tanh}


def _build(widths, acts, bias, dtype, seed):
    """An nn.Sequential [Linear, act?]* and its layers; weights from a seeded rng."""
    rng = np.random.default_rng(seed)
    modules, linears = [], []
    for (i, o), act in zip(zip(widths, widths[1:], strict=False), acts, strict=True):
        lin = nn.Linear(i, o, bias=bias)
        lin.weight.data[...] = rng.uniform(-2, 2, (o, i)) / np.sqrt(i)  # activations of O(1)
        if bias:
            lin.bias.data[...] = rng.uniform(-1, 1, o)
        modules.append(lin)
        linears.append(lin)
        if act is not None:
            modules.append(ACTS[act]())
    seq = nn.Sequential(*modules)
    seq = seq.double() if dtype == np.float64 else seq.float()
    return seq, linears


def _act(z, act):
    """An activation from primitive ops (exp, add, div, mul), not sharing the derivative helpers
    of the Sigmoid/ReLU/Tanh ops and the fused MLP."""
    if act == "sigmoid":
        return 1.0 / (1.0 + (-z).exp())
    if act == "tanh":
        e = (-2.0 * z).exp()
        return (1.0 - e) / (1.0 + e)
    if act == "relu":  # relu'(0) = 0, as PyTorch
        return z * tg.tensor((z.data > 0).astype(z.dtype))
    return z


def _unfused(x, linears, acts):
    """The same network from unfused float64 tinygrad_nn ops on copies of the parameters."""
    params = []
    a = x
    for lin, act in zip(linears, acts, strict=True):
        w = t64(lin.weight.data)
        params.append(w)
        a = a @ w.T
        if lin.bias is not None:
            b = t64(lin.bias.data)
            params.append(b)
            a = a + b
        a = _act(a, act)
    return a, params


def _close(got, want, rtol, atol):
    """Elementwise rtol, plus atol relative to the largest entry (cancellation in sums)."""
    w = np.asarray(want)
    np.testing.assert_allclose(got, w, rtol=rtol, atol=atol * max(1.0, abs(w).max(initial=0)))


def _check_fused(widths, acts, bias, batch, dtype, seed, rtol, atol):
    rng = np.random.default_rng(seed)
    seq, linears = _build(widths, acts, bias, dtype, seed)
    xv = rng.standard_normal((*batch, widths[0]))
    x = tg.tensor(xv.astype(dtype), requires_grad=True)
    out = seq(x)
    n_modules = len(linears) + sum(a is not None for a in acts)
    if n_modules >= 2:  # a run of >= 2 modules is fused into one MLP node
        assert isinstance(out.grad_fn, MLP)
    ref_x = t64(xv)
    ref, ref_params = _unfused(ref_x, linears, acts)
    assert out.shape == ref.shape and out.dtype == dtype
    _close(out.detach().numpy(), ref.detach().numpy(), rtol, atol)
    up = rng.standard_normal(ref.shape)
    g = up.astype(dtype)
    out.backward(tg.from_numpy(g))
    assert np.array_equal(g, up.astype(dtype))  # the caller's gradient is read, never written
    ref.backward(t64(up, False))
    ours = [x.grad]
    for lin in linears:
        ours.append(lin.weight.grad)
        if bias:
            ours.append(lin.bias.grad)
    for got, want in zip(ours, [ref_x.grad, *(p.grad for p in ref_params)], strict=True):
        assert got is not None and got.shape == want.shape and got.dtype == dtype
        _close(got.numpy(), want.numpy(), rtol, atol)


@settings(max_examples=25, deadline=None)
@given(
    widths=st.lists(st.integers(1, 12), min_size=2, max_size=4),
    act_list=st.lists(st.sampled_from(["sigmoid", "relu", "tanh"]), min_size=3, max_size=3),
    last_act=st.booleans(),
    bias=st.booleans(),
    batch=st.one_of(st.just(()), st.tuples(st.integers(1, 9)),
                    st.tuples(st.integers(1, 3), st.integers(1, 4))),  # 1-D, 2-D and 3-D x
    seed=st.integers(0, 2**16),
)
def test_fused_mlp_gradients_match_unfused_ops(widths, act_list, last_act, bias, batch, seed):
    n_layers = len(widths) - 1
    acts = list(act_list[:n_layers])
    if not last_act:
        acts[-1] = None
    _check_fused(widths, acts, bias, batch, np.float64, seed, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("acts", [("sigmoid", "sigmoid"), ("relu", None), ("tanh", "relu")])
def test_fused_mlp_big_layer_float32_matches_float64_reference(acts):
    # batch 64, 784 -> 30: the weight gradients take the np.matmul path (more than 32 rows)
    _check_fused([784, 30, 10], list(acts), True, (64,), np.float32, 12, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("batch", [(), (1,), (5,)])
def test_fused_mlp_without_input_grad_and_one_d_input(batch):
    rng = np.random.default_rng(13)
    seq, linears = _build([6, 5, 4], ["tanh", "sigmoid"], True, np.float64, 13)
    xv = rng.standard_normal((*batch, 6))
    out = seq(t64(xv, False))
    assert isinstance(out.grad_fn, MLP)
    ref, ref_params = _unfused(t64(xv, False), linears, ["tanh", "sigmoid"])
    (out * out).sum().backward()
    (ref * ref).sum().backward()
    ours = [g for lin in linears for g in (lin.weight.grad, lin.bias.grad)]
    for got, p in zip(ours, ref_params, strict=True):
        np.testing.assert_allclose(got.numpy(), p.grad.numpy(), rtol=1e-10, atol=1e-13)


def _grads_match_unfused(seq, linears, acts, xv):
    """seq's output and every gradient (x, weights, biases present) equal the unfused float64
    reference's, for the upstream gradient 1 + output (so every output entry counts)."""
    x = t64(xv)
    out = seq(x)
    assert isinstance(out.grad_fn, MLP)
    ref_x = t64(xv)
    ref, ref_params = _unfused(ref_x, linears, acts)
    np.testing.assert_allclose(out.detach().numpy(), ref.detach().numpy(), rtol=1e-12, atol=1e-14)
    (out * (out.detach() + 1.0)).sum().backward()
    (ref * (ref.detach() + 1.0)).sum().backward()
    ours = [x.grad] + [g for lin in linears
                       for g in (lin.weight.grad, None if lin.bias is None else lin.bias.grad)
                       if g is not None]
    for got, want in zip(ours, [ref_x.grad, *(p.grad for p in ref_params)], strict=True):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-10, atol=1e-13)


def test_fused_mlp_with_a_bias_on_some_layers_only():
    rng = np.random.default_rng(31)
    linears = [nn.Linear(5, 4).double(), nn.Linear(4, 3, bias=False).double(),
               nn.Linear(3, 2).double()]
    seq = nn.Sequential(linears[0], nn.Sigmoid(), linears[1], nn.ReLU(), linears[2], nn.Tanh())
    _grads_match_unfused(seq, linears, ["sigmoid", "relu", "tanh"], rng.standard_normal((6, 5)))


def test_fused_mlp_sees_a_bias_given_or_taken_after_the_chain_was_built():
    # the per-architecture code reads each Linear's bias at every call: a layer built without a
    # bias and given one later (or the reverse) computes with what it has now
    rng = np.random.default_rng(32)
    linears = [nn.Linear(5, 4, bias=False).double(), nn.Linear(4, 3).double()]
    seq = nn.Sequential(linears[0], nn.Sigmoid(), linears[1], nn.Sigmoid())
    xv = rng.standard_normal((6, 5))
    _grads_match_unfused(seq, linears, ["sigmoid", "sigmoid"], xv)
    linears[0].bias = nn.Parameter(t64(rng.standard_normal(4), False))
    linears[1].bias = None
    for lin in linears:
        lin.weight.grad = None
    _grads_match_unfused(seq, linears, ["sigmoid", "sigmoid"], xv)
    assert linears[0].bias.grad is not None


@pytest.mark.filterwarnings("ignore:invalid value encountered")
@pytest.mark.parametrize("depth", [1, 2], ids=["top layer", "inner layer"])
def test_fused_relu_passes_the_gradient_on_at_nan_as_the_unfused_op(depth):
    """relu'(z) is 0 only where relu(z) <= 0 (torch's threshold_backward): a NaN activation
    passes its gradient on, in the fused code (both of its relu blocks) as in ops.Relu."""
    linears = [nn.Linear(3, 2).double() for _ in range(depth)]
    if depth == 2:
        linears[0] = nn.Linear(3, 3).double()
        linears[1] = nn.Linear(3, 2).double()
    with tg.no_grad():
        linears[0].weight.data[...] = [[1.0, 0.0, 0.0], [0.0, -1.0, 0.0], [0.0, 0.0, 1.0]][
            : linears[0].weight.shape[0]]
        linears[0].bias.data[...] = 0.0
    seq = nn.Sequential(*[m for lin in linears for m in (lin, nn.ReLU())])
    xv = np.array([[1.0, 2.0, 3.0], [np.inf, 0.0, 0.0], [-1.0, -2.0, -3.0]])  # inf·0 = NaN
    x = t64(xv)
    out = seq(x)
    assert isinstance(out.grad_fn, MLP)
    ref_x, ref_params, ref = t64(xv), [], None
    for lin in linears:  # the unfused Linear and Relu ops (_unfused's relu is built from <=)
        w, b = t64(lin.weight.data), t64(lin.bias.data)
        ref_params += [w, b]
        ref = ((ref_x if ref is None else ref) @ w.T + b).relu()
    out.backward(tg.ones_like(out))
    ref.backward(tg.ones_like(ref))
    z0 = xv @ linears[0].weight.data.T  # the first layer's pre-activations: a NaN in row 1
    assert np.isnan(z0).any()
    b0 = linears[0].bias.grad.numpy()
    np.testing.assert_array_equal(b0, ref_params[1].grad.numpy())
    if depth == 1:  # BP3 with g = 1: the count of rows where relu' = [not relu(z) <= 0]
        np.testing.assert_array_equal(b0, (~(np.maximum(z0, 0) <= 0)).sum(0))
    for lin, p in zip(linears, ref_params[::2], strict=True):
        np.testing.assert_array_equal(lin.weight.grad.numpy(), p.grad.numpy())
    np.testing.assert_array_equal(x.grad.numpy(), ref_x.grad.numpy())
    try:
        import torch
    except ImportError:
        return
    tx, tref = torch.tensor(xv), None
    tparams = [torch.tensor(p.data, requires_grad=True) for p in ref_params]
    for w, b in zip(tparams[::2], tparams[1::2], strict=True):
        tref = torch.relu((tx if tref is None else tref) @ w.T + b)
    tref.backward(torch.ones_like(tref))
    for lin, (w, b) in zip(linears, zip(tparams[::2], tparams[1::2], strict=True), strict=True):
        np.testing.assert_array_equal(lin.bias.grad.numpy(), b.grad.numpy())
        np.testing.assert_array_equal(lin.weight.grad.numpy(), w.grad.numpy())


def test_fused_mlp_code_is_straight_line_per_architecture():
    """MLP.of writes call, backward and backward_into out for one architecture: no loop over
    the layers, one block per layer in each backward, one op class per tuple of activations."""
    acts = ("sigmoid", "relu", None, "tanh")
    op = MLP.of(acts)
    assert MLP.of(acts) is op and MLP.of(acts[:2]) is not op and op.acts == acts
    body = op.source
    assert not any(line.lstrip().startswith(("for ", "while ")) for line in body.splitlines())
    assert body.count(".dot(wd") == len(acts)  # one matmul per layer forward
    assert body.count("# layer ") == 2 * len(acts)  # one block per layer in each backward
    assert body.count("tanh(a") == 2 and body.count("less_equal(a") == 2  # σ, tanh; relu' twice
    import linecache  # tracebacks through the generated code show its lines

    assert linecache.getline(f"<MLP{acts}>", 1) == "def call(cls, x, layers):\n"


def test_fused_relu_chain_raises_no_numpy_deprecation_warning():
    import warnings

    seq = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2), nn.ReLU())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = seq(tg.tensor(np.ones((2, 3), np.float32)))
        out.sum().backward()
    assert isinstance(out.grad_fn, MLP)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pickled_sequential_runs_fused_with_the_same_numbers(dtype):
    """A pickled model comes back runnable and still fused: its chain is rebuilt from the
    modules, and its arrays' dtypes (equal to NumPy's own, but other objects after unpickling)
    pass the fused paths' dtype checks. Outputs, loss and gradients equal the original's."""
    import pickle

    rng = np.random.default_rng(21)
    seq, _ = _build([6, 5, 4], ["sigmoid", "sigmoid"], True, dtype, 21)
    copy = pickle.loads(pickle.dumps(seq))
    w = copy[0].weight.data
    assert w.dtype == dtype and w.dtype is not np.dtype(dtype)  # the case the checks must take
    x = tg.tensor(rng.standard_normal((7, 6)).astype(dtype))
    y = tg.tensor(rng.random((7, 4)).astype(dtype))
    grads = []
    for model in (seq, copy):
        out = model(x)
        assert isinstance(out.grad_fn, MLP)
        loss = nn.QuadraticCost()(out, y)
        assert loss.grad_fn.name() == "MseLossBackward0"  # the fused cost, one node
        loss.backward()
        grads.append([loss.item(), *(p.grad.numpy() for p in model.parameters())])
    for a, b in zip(*grads, strict=True):
        np.testing.assert_array_equal(a, b)
    lin = pickle.loads(pickle.dumps(nn.Linear(6, 5, dtype=dtype)))
    assert type(lin(x).grad_fn).__name__ == "Linear"  # the one-op path, not F.linear's two


@pytest.mark.parametrize("shape", [(3,), (1, 3)])
@pytest.mark.parametrize("fused", [False, True])
def test_backward_of_a_one_element_linear_output(shape, fused):
    # y = w·x + b with one output feature: .backward() on the one-element (non-0-d) result is
    # allowed (as in PyTorch) and gives dy/dW = x, dy/db = 1, dy/dx = W
    rng = np.random.default_rng(14)
    lin = nn.Linear(3, 1).double()
    model = nn.Sequential(nn.Linear(3, 3).double(), nn.Tanh(), lin) if fused else lin
    xv = rng.standard_normal(shape)
    x = t64(xv)
    y = model(x)
    assert y.numel() == 1 and y.ndim == len(shape)
    y.backward()
    a = np.tanh(xv @ model[0].weight.data.T + model[0].bias.data) if fused else xv
    np.testing.assert_allclose(lin.weight.grad.numpy(), a.reshape(1, 3), rtol=1e-12)
    np.testing.assert_allclose(lin.bias.grad.numpy(), [1.0])
    if not fused:
        np.testing.assert_allclose(x.grad.numpy(), lin.weight.data.reshape(shape), rtol=1e-12)


# -- 5. cross entropy against torch ------------------------------------------------------------
# "some targets ignored" needs two rows (all ignored: see the test further below)
CE_GRID = [(n, c, red, weighted, ignored)
           for n in (0, 1, 7) for c in (1, 3, 10) for red in ("mean", "sum", "none")
           for weighted in (False, True) for ignored in (False, True) if n >= 2 or not ignored]


def _ce_case(n, c, weighted, ignored, seed):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c)) * 3
    t = rng.integers(0, c, n)
    ignore_index = -100
    if ignored:  # some, not all, rows ignored
        ignore_index = c - 1 if c > 1 else -100  # an in-range class as ignore_index too
        t[::3] = ignore_index
        t[1] = 0  # at least one row kept (0 != ignore_index)
    w = rng.uniform(0.2, 2.0, c) if weighted else None
    return x, t, w, ignore_index


@pytest.mark.parametrize("module", [False, True])
@pytest.mark.parametrize(("n", "c", "reduction", "weighted", "ignored"), CE_GRID)
def test_cross_entropy_matches_torch(n, c, reduction, weighted, ignored, module):
    torch = _torch()
    x, t, w, ii = _ce_case(n, c, weighted, ignored, seed=n * 100 + c)
    xt = torch.tensor(x, requires_grad=True)
    wt = None if w is None else torch.tensor(w)
    xa = t64(x)
    wa = None if w is None else t64(w, False)

    def ours():
        if module:
            loss = nn.CrossEntropyLoss(weight=wa, ignore_index=ii, reduction=reduction)
            return loss(xa, tg.tensor(t))
        return F.cross_entropy(xa, tg.tensor(t), weight=wa, ignore_index=ii, reduction=reduction)

    try:
        lt = torch.nn.functional.cross_entropy(xt, torch.tensor(t), weight=wt, ignore_index=ii,
                                               reduction=reduction)
    except RuntimeError:  # a case torch rejects: so must we (no grid case does today)
        with pytest.raises((RuntimeError, ValueError, IndexError)):
            ours()
        return
    la = ours()
    assert la.shape == tuple(lt.shape) and la.dtype == np.float64
    np.testing.assert_allclose(la.detach().numpy(), lt.detach().numpy(), rtol=1e-12, atol=1e-12)
    up = np.random.default_rng(1).standard_normal(tuple(lt.shape))
    if n == 0 and reduction == "none":
        return  # nothing to differentiate
    lt.backward(torch.tensor(up))
    la.backward(t64(up, False))
    assert xa.grad.shape == x.shape
    np.testing.assert_allclose(xa.grad.numpy(), xt.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_plain_loss_backward_matches_closed_form(reduction):
    # the no-weight no-ignore fast path with the usual loss.backward(): (softmax − onehot)/N
    rng = np.random.default_rng(15)
    x, t = rng.standard_normal((7, 10)), rng.integers(0, 10, 7)
    xa = t64(x)
    loss = F.cross_entropy(xa, tg.tensor(t), reduction=reduction)
    (loss if reduction != "none" else loss.sum()).backward()
    p = np.exp(x - x.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    onehot = np.eye(10)[t]
    nll = -np.log(p[np.arange(7), t])
    expected = {"mean": nll.mean(), "sum": nll.sum(), "none": nll}[reduction]
    np.testing.assert_allclose(loss.detach().numpy(), expected, rtol=1e-12)
    scale = 1 / 7 if reduction == "mean" else 1.0
    np.testing.assert_allclose(xa.grad.numpy(), (p - onehot) * scale, rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize(("reduction", "weighted", "ignored"),
                         [(r, w, i) for r in ("mean", "sum", "none") for w in (False, True)
                          for i in (False, True)])
def test_cross_entropy_double_backward_matches_torch(reduction, weighted, ignored):
    torch = _torch()
    x, t, w, ii = _ce_case(7, 5, weighted, ignored, seed=16)
    xt = torch.tensor(x, requires_grad=True)
    lt = torch.nn.functional.cross_entropy(xt, torch.tensor(t), ignore_index=ii,
                                           weight=None if w is None else torch.tensor(w),
                                           reduction=reduction)
    (gt,) = torch.autograd.grad(lt.sum(), xt, create_graph=True)
    (ggt,) = torch.autograd.grad((gt**2).sum(), xt)
    xa = t64(x)
    la = F.cross_entropy(xa, tg.tensor(t), ignore_index=ii,
                         weight=None if w is None else t64(w, False), reduction=reduction)
    (ga,) = autograd.grad(la.sum(), [xa], create_graph=True)
    np.testing.assert_allclose(ga.detach().numpy(), gt.detach().numpy(), rtol=1e-12, atol=1e-13)
    (gga,) = autograd.grad((ga**2).sum(), [xa])
    np.testing.assert_allclose(gga.numpy(), ggt.numpy(), rtol=1e-10, atol=1e-13)


def test_cross_entropy_target_modified_in_place_after_forward():
    # PyTorch raises (the target is saved for backward); the result must never silently be the
    # gradient of the new targets
    rng = np.random.default_rng(17)
    x, t = rng.standard_normal((4, 3)), np.array([0, 1, 2, 1])
    xr = t64(x)
    F.cross_entropy(xr, tg.tensor(t)).backward()
    expected = xr.grad.numpy()
    xa = t64(x)
    target = tg.tensor(t)
    loss = F.cross_entropy(xa, target)
    target.zero_()  # an in-place op, tracked by the version counter
    try:
        loss.backward()
    except RuntimeError:
        return  # PyTorch's behaviour
    np.testing.assert_allclose(xa.grad.numpy(), expected, rtol=1e-12)


@pytest.mark.parametrize("case", ["plain", "weight", "smoothing", "sum", "ignored_inside",
                                  "ignore_index_unused", "uint8", "one_d", "three_d", "float16",
                                  "no_grad"])
def test_cross_entropy_module_one_op_path_and_where_it_steps_aside(case):
    """``nn.CrossEntropyLoss`` takes ``SoftmaxCrossEntropy.call`` only for (N, C) float32/64
    logits, int64 class indices all in [0, C) and none ignored, no weight, no smoothing, 'mean'
    (``call`` returns None otherwise); either way the loss and gradient are exactly those of
    ``functional.cross_entropy``."""
    from tinygrad_nn.ops.loss import SoftmaxCrossEntropy

    rng = np.random.default_rng(18)
    shape = {"one_d": (5,), "three_d": (4, 5, 2)}.get(case, (6, 5))
    dtype = np.float16 if case == "float16" else np.float64
    x = rng.standard_normal(shape).astype(dtype)
    t = rng.integers(0, 5, () if case == "one_d" else (4, 2) if case == "three_d" else 6)
    kw = {"weight": {"weight": t64(rng.uniform(0.5, 2, 5), False)},
          "smoothing": {"label_smoothing": 0.1}, "sum": {"reduction": "sum"},
          "ignored_inside": {"ignore_index": int(t.flat[0])},
          "ignore_index_unused": {"ignore_index": 7}}.get(case, {})
    target = tg.tensor(t.astype(np.uint8) if case == "uint8" else t)
    # call's own conditions are on the logits and targets; the module's, on its options
    fits = case not in ("ignored_inside", "uint8", "one_d", "three_d", "float16")
    takes = fits and case not in ("weight", "smoothing", "sum")
    called = SoftmaxCrossEntropy.call(tg.tensor(x), target, kw.get("ignore_index", -100))
    assert (called is not None) == fits
    results = []
    for module in (True, False):
        xa = tg.tensor(x, requires_grad=case != "no_grad")
        if module:
            loss = nn.CrossEntropyLoss(**kw)(xa, target)
        else:
            loss = F.cross_entropy(xa, target, **kw)
        if case == "no_grad":
            assert loss.grad_fn is None
        else:  # call's node has the logits as its only parent; apply's has the targets too
            one_op = isinstance(loss.grad_fn, SoftmaxCrossEntropy) and len(
                loss.grad_fn.parents) == 1
            assert one_op == (module and takes)
            loss.backward()
        results.append((loss.detach().numpy(), None if case == "no_grad" else xa.grad.numpy()))
    (l1, g1), (l2, g2) = results
    assert l1.dtype == dtype
    np.testing.assert_array_equal(l1, l2)
    if case != "no_grad":
        np.testing.assert_array_equal(g1, g2)


def test_cross_entropy_module_one_op_double_backward_is_functionals():
    rng = np.random.default_rng(19)
    x, t = rng.standard_normal((6, 4)), tg.tensor(rng.integers(0, 4, 6))
    got = []
    for loss_fn in (nn.CrossEntropyLoss(), F.cross_entropy):
        xa = t64(x)
        (g,) = autograd.grad(loss_fn(xa, t), [xa], create_graph=True)
        (gg,) = autograd.grad((g**2).sum(), [xa])
        got.append((g.detach().numpy(), gg.numpy()))
    for a, b in zip(*got, strict=True):
        np.testing.assert_array_equal(a, b)


def test_cross_entropy_module_errors_are_functionals():
    loss = nn.CrossEntropyLoss()
    x = t64(np.zeros((3, 4)))
    with pytest.raises(IndexError, match="out of bounds"):
        loss(x, tg.tensor(np.array([0, 4, 1])))
    with pytest.raises(IndexError, match="out of bounds"):
        loss(x, tg.tensor(np.array([0, -1, 1])))
    with pytest.raises(ValueError, match="batch_size"):
        loss(x, tg.tensor(np.array([0, 1])))
    with pytest.raises(TypeError, match="must be Tensor"):
        loss(x.detach().numpy(), tg.tensor(np.array([0, 1, 2])))
    with pytest.raises(RuntimeError, match="Long or Byte"):
        loss(x, tg.tensor(np.array([0, 1, 2], dtype=np.int32)))


@pytest.mark.parametrize("c", [1, 2, 10, 32, 33, 100])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_row_max_is_numpys_max_over_rows(c, dtype):
    from tinygrad_nn.ops.loss import _row_max

    x = np.random.default_rng(c).standard_normal((9, c)).astype(dtype)
    x[3, c // 2] = np.nan  # propagates, as in max
    x[5] = -np.inf
    got = _row_max(x)
    assert got.shape == (9, 1) and got.dtype == dtype
    np.testing.assert_array_equal(got, x.max(1, keepdims=True))
    assert _row_max(x[:0]).shape == (0, 1)


def test_cross_entropy_all_targets_ignored_mean_gradient_matches_torch():
    torch = _torch()
    x = np.random.default_rng(18).standard_normal((2, 3))
    t = np.array([-100, -100])
    xt = torch.tensor(x, requires_grad=True)
    lt = torch.nn.functional.cross_entropy(xt, torch.tensor(t))
    lt.backward()
    xa = t64(x)
    la = F.cross_entropy(xa, tg.tensor(t))
    assert np.isnan(la.item()) and np.isnan(lt.item())
    la.backward()
    np.testing.assert_array_equal(xa.grad.numpy(), xt.grad.numpy())


# -- 6. QuadraticCost --------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1), (6, 10), (3, 4), (5,)])
def test_quadratic_cost_value_and_gradient_closed_form(dtype, shape):
    rng = np.random.default_rng(19)
    a_np = rng.standard_normal(shape).astype(dtype)
    y_np = rng.standard_normal(shape).astype(dtype)
    n = shape[0] if len(shape) == 2 else 1
    a = tg.tensor(a_np, requires_grad=True)
    y = tg.tensor(y_np, requires_grad=True)
    c = nn.QuadraticCost()(a, y)
    assert c.shape == () and c.dtype == dtype
    a64, y64 = a_np.astype(np.float64), y_np.astype(np.float64)
    value = 0.5 / n * ((y64 - a64) ** 2).sum()
    rtol = 1e-12 if dtype == np.float64 else 2e-6
    np.testing.assert_allclose(c.item(), value, rtol=rtol)
    c.backward()
    assert a.grad.dtype == dtype and y.grad.dtype == dtype
    np.testing.assert_allclose(a.grad.numpy(), (a64 - y64) / n, rtol=rtol, atol=1e-7 * (
        dtype == np.float32))
    np.testing.assert_allclose(y.grad.numpy(), (y64 - a64) / n, rtol=rtol, atol=1e-7 * (
        dtype == np.float32))
    # the functional form agrees with the module
    a2 = tg.tensor(a_np, requires_grad=True)
    c2 = F.quadratic_cost(a2, tg.tensor(y_np))
    np.testing.assert_allclose(c2.item(), c.item(), rtol=rtol)
    c2.backward()
    np.testing.assert_allclose(a2.grad.numpy(), a.grad.numpy(), rtol=rtol, atol=1e-7 * (
        dtype == np.float32))


def test_quadratic_cost_upstream_gradient_scales():
    rng = np.random.default_rng(20)
    a_np, y_np = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    a = t64(a_np)
    c = nn.QuadraticCost()(a, t64(y_np, False))
    c.backward(t64(2.5, False))
    np.testing.assert_allclose(a.grad.numpy(), 2.5 * (a_np - y_np) / 4, rtol=1e-14)


def test_quadratic_cost_shape_mismatch_and_mixed_dtypes():
    cost = nn.QuadraticCost()
    for sa, sy in [((3, 2), (3, 1)), ((3, 1), (3, 2)), ((2, 3), (3,)), ((3,), (2, 3)),
                   ((4, 3), (3, 4)), ((1, 3), (3,))]:
        with pytest.raises(ValueError, match="same shape"):
            cost(tg.ones(*sa, dtype=tg.float64), tg.ones(*sy, dtype=tg.float64))
        with pytest.raises(ValueError, match="same shape"):
            F.quadratic_cost(tg.ones(*sa), tg.ones(*sy))
    with pytest.raises(ValueError, match="0-d"):
        cost(tg.tensor(1.0), tg.tensor(1.0))
    with pytest.raises(TypeError, match="must be Tensor"):
        cost(tg.ones(3, 2), np.ones((3, 2)))
    # float32 outputs, float64 targets: a float64 cost, a float32 gradient, still (a − y)/n
    rng = np.random.default_rng(21)
    a_np = rng.standard_normal((5, 3)).astype(np.float32)
    y_np = rng.standard_normal((5, 3))
    a = tg.tensor(a_np, requires_grad=True)
    c = cost(a, tg.tensor(y_np))
    assert c.dtype == np.float64
    np.testing.assert_allclose(c.item(), 0.1 * ((y_np - a_np.astype(np.float64)) ** 2).sum(),
                               rtol=1e-12)
    c.backward()
    assert a.grad.dtype == np.float32
    np.testing.assert_allclose(a.grad.numpy(), (a_np - y_np) / 5, rtol=1e-6, atol=1e-7)


# -- 7. loss.backward() of a cost over an MLP node in one call ------------------------------------
# (the quadratic cost, the book's step; cross entropy on class indices, the wide step)
def _book_step(seed=30, dtype=np.float64, x_grad=False, y_grad=False, acts=("sigmoid", "sigmoid"),
               cost="quadratic"):
    """A seeded net (4-5-3, the given activations), a batch and its cost, ready to backward:
    the quadratic cost against targets in [0, 1], or cross entropy against class indices."""
    seq, linears = _build([4, 5, 3], list(acts), True, dtype, seed)
    rng = np.random.default_rng(seed)
    x = tg.tensor(rng.standard_normal((6, 4)).astype(dtype), requires_grad=x_grad)
    out = seq(x)
    if cost == "cross_entropy":
        y = tg.tensor(rng.integers(0, 3, 6))
        return seq, x, y, out, nn.CrossEntropyLoss()(out, y)
    y = tg.tensor(rng.uniform(0, 1, (6, 3)).astype(dtype), requires_grad=y_grad)
    return seq, x, y, out, nn.QuadraticCost()(out, y)


def _param_grads(seq):
    return [None if p.grad is None else p.grad.numpy().copy() for p in seq.parameters()]


def _engine_only(monkeypatch):
    """Make the one-call paths unavailable: every backward then runs the engine's loop."""
    from tinygrad_nn.ops.loss import SoftmaxCrossEntropy, SquaredError

    monkeypatch.setattr(SquaredError, "backward_root", None)
    monkeypatch.setattr(SoftmaxCrossEntropy, "backward_root", None)


def _count_engine_runs(monkeypatch) -> list:
    """A list that gets an entry each time the engine's loop runs (it still runs)."""
    from tinygrad_nn.engine import backward as engine

    runs, run = [], engine.run
    monkeypatch.setattr(engine, "run", lambda *a, **k: (runs.append(1), run(*a, **k))[1])
    return runs


def _softmax(z):
    e = np.exp(z - z.max(1, keepdims=True))
    return e / e.sum(1, keepdims=True)


@pytest.mark.parametrize(("cost", "acts"), [
    ("quadratic", ("sigmoid", "sigmoid")), ("quadratic", ("relu", None)),
    ("quadratic", ("tanh", "sigmoid")), ("cross_entropy", ("relu", None)),
    ("cross_entropy", ("sigmoid", "tanh"))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_cost_over_mlp_backward_is_one_call_with_the_engines_exact_result(cost, acts, dtype,
                                                                          monkeypatch):
    from tinygrad_nn.engine import backward as engine

    seq, _, _, out, loss = _book_step(dtype=dtype, acts=acts, cost=cost)
    with monkeypatch.context() as m:  # the engine's loop is not entered at all
        m.setattr(engine, "run", lambda *a, **k: pytest.fail("the engine ran"))
        loss.backward()
    assert all(type(p._grad) is np.ndarray for p in seq.parameters())  # fresh arrays, kept
    assert out.grad_fn.freed and loss.grad_fn.freed  # the graph is freed as by the engine
    fused = _param_grads(seq)
    _engine_only(monkeypatch)
    seq2, _, _, _, loss2 = _book_step(dtype=dtype, acts=acts, cost=cost)
    loss2.backward()
    for got, want in zip(fused, _param_grads(seq2), strict=True):
        assert got.dtype == dtype
        np.testing.assert_array_equal(got, want)  # the same arithmetic, bit for bit
    closed = {("quadratic", ("sigmoid", "sigmoid")), ("cross_entropy", ("relu", None))}
    if dtype != np.float64 or (cost, acts) not in closed:
        return
    # and the closed form, BP1-BP4 (float64): the sigmoid net under the quadratic cost, the ReLU
    # net under cross entropy, where δ^L = (softmax(z^L) − onehot(t)) / n
    seq3, x, y, out3, loss3 = _book_step(acts=acts, cost=cost)
    (w1, b1, w2, b2) = (p.data for p in seq3.parameters())
    z1 = x.data @ w1.T + b1
    if cost == "quadratic":
        a1 = 1 / (1 + np.exp(-z1))
        a2 = out3.data
        d2 = (a2 - y.data) / 6 * a2 * (1 - a2)  # BP1
        d1 = d2 @ w2 * a1 * (1 - a1)  # BP2
    else:
        a1 = np.maximum(z1, 0)
        p = _softmax(a1 @ w2.T + b2)
        rows = np.arange(6)
        np.testing.assert_allclose(loss3.item(), -np.log(p[rows, y.data]).mean(), rtol=1e-12)
        d2 = (p - np.eye(3)[y.data]) / 6  # BP1 for softmax + cross entropy
        d1 = d2 @ w2 * (z1 > 0)  # BP2
    for got, want in zip(fused, [d1.T @ x.data, d1.sum(0), d2.T @ a1, d2.sum(0)],
                         strict=True):  # BP4, BP3
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)


_ASIDE = ["retain_out", "retain_loss", "x_grad", "y_grad", "accumulate", "retain_graph",
          "anomaly", "frozen_bias"]


@pytest.mark.parametrize(("cost", "case"), [("quadratic", c) for c in _ASIDE]
                         + [("cross_entropy", c) for c in _ASIDE if c != "y_grad"])
def test_cost_over_mlp_backward_where_the_one_call_path_steps_aside(cost, case, monkeypatch):
    """Each case either falls back to the engine's loop or is handled by the one-call path
    itself; the gradients (and retained ones) are exactly the engine's."""
    runs = _count_engine_runs(monkeypatch)
    make = nn.QuadraticCost if cost == "quadratic" else nn.CrossEntropyLoss

    def run(monkey):
        if monkey:
            _engine_only(monkeypatch)
        seq, x, y, out, loss = _book_step(x_grad=case == "x_grad", y_grad=case == "y_grad",
                                          cost=cost)
        if case == "frozen_bias":
            seq[0].bias.requires_grad_(False)
            seq.zero_grad()
            out = seq(x)
            loss = make()(out, y)
        if case == "retain_out":
            out.retain_grad()
        if case == "retain_loss":
            loss.retain_grad()
        if case == "accumulate":  # gradients already there: they add up
            loss.backward(retain_graph=True)
        if case == "anomaly":
            with autograd.detect_anomaly():
                loss.backward()
        else:
            loss.backward(retain_graph=case == "retain_graph")
        if case == "retain_graph":  # a second pass through the kept graph adds the same again
            loss.backward()
        got = _param_grads(seq)
        if case == "retain_out":
            got.append(out.grad.numpy())
        if case == "retain_loss":
            got.append(loss.grad.numpy())
        if case == "x_grad":
            got.append(x.grad.numpy())
        if case == "y_grad":
            got.append(y.grad.numpy())
        return got

    ours = run(False)
    # what the engine's loop must do itself, and what the one call does (accumulating, keeping
    # the graph for a second pass, a parameter needing no gradient)
    falls_back = case in ("retain_out", "retain_loss", "x_grad", "y_grad", "anomaly")
    assert len(runs) == falls_back
    engine = run(True)
    assert len(ours) == len(engine)
    for got, want in zip(ours, engine, strict=True):
        if want is None:
            assert got is None
        else:
            np.testing.assert_array_equal(got, want)
    if case == "frozen_bias":
        assert ours[1] is None and ours[0] is not None


@pytest.mark.parametrize("cost", ["quadratic", "cross_entropy"])
def test_cost_over_mlp_backward_raises_as_the_engine_does(cost):
    # an in-place change of the network's output after the cost was computed
    _, _, _, out, loss = _book_step(cost=cost)
    with tg.no_grad():
        out.mul_(2.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()
    # a parameter that backward reads updated between the forward and backward (the second
    # layer's weight carries δ down to the first's gradient; the first layer's is read only for
    # x's gradient, which x, needing none, does not get: changing it is fine, as in PyTorch)
    seq, _, _, _, loss = _book_step(cost=cost)
    with tg.no_grad():
        seq[2].weight.add_(1.0)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        loss.backward()
    # a second backward through the freed graph
    _, _, _, _, loss = _book_step(cost=cost)
    loss.backward()
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        loss.backward()


def test_fused_mlp_with_a_weight_computed_by_tracked_ops_routes_its_gradient():
    """A Linear whose weight is a non-leaf tensor (a product of a leaf): the gradient reaches the
    leaf behind it, as with the modules one by one (the run falls back to them)."""
    rng = np.random.default_rng(31)
    seq = nn.Sequential(nn.Linear(3, 4), nn.Sigmoid(), nn.Linear(4, 2), nn.Sigmoid()).double()
    base = t64(rng.standard_normal((4, 3)))
    del seq[0].weight
    seq[0].weight = base * 2.0
    x = t64(rng.standard_normal((5, 3)), False)
    y = t64(rng.uniform(0, 1, (5, 2)), False)
    nn.QuadraticCost()(seq(x), y).backward()
    want = base.detach().requires_grad_()
    a = x
    for m, w in [(seq[0], want * 2.0), (seq[2], seq[2].weight.detach())]:
        a = (a @ w.T + m.bias.detach()).sigmoid()
    (0.5 / 5 * ((a - y) ** 2).sum()).backward()
    assert base.grad is not None
    np.testing.assert_allclose(base.grad.numpy(), want.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("batch", [(), (6,), (2, 3)])
def test_mse_loss_over_mlp_one_call_matches_the_engine_for_any_batch_shape(batch, monkeypatch):
    def grads(engine_only):
        if engine_only:
            _engine_only(monkeypatch)
        seq, _ = _build([4, 5, 3], ["sigmoid", "tanh"], True, np.float64, 32)
        rng = np.random.default_rng(32)
        x = t64(rng.standard_normal((*batch, 4)), False)
        nn.MSELoss()(seq(x), t64(rng.standard_normal((*batch, 3)), False)).backward()
        return _param_grads(seq)

    runs = _count_engine_runs(monkeypatch)
    ours = grads(False)
    assert not runs  # the one call served MSELoss too, whatever the batch's shape
    for got, want in zip(ours, grads(True), strict=True):
        np.testing.assert_array_equal(got, want)


def test_the_sgd_oracle_rounds_once_correctly():
    """The tests' oracle of one rounding (``sgd_oracle.rounded_once``) against exact fractions, on
    plain values, on values where p − c·g nearly cancels, and on ties of float64-then-float32."""
    from fractions import Fraction

    rng = np.random.default_rng(16)
    n = 4000
    p = rng.standard_normal(n)
    g = np.concatenate([rng.standard_normal(n // 2) * rng.choice([1e-3, 1.0, 30.0], n // 2),
                        p[n // 2:] / 0.137 * (1 + rng.standard_normal(n // 2)
                                              * rng.choice([1e-15, 1e-10, 1e-5], n // 2))])
    want = [float(Fraction(a) - Fraction(0.137) * Fraction(b))
            for a, b in zip(p.tolist(), g.tolist(), strict=True)]
    np.testing.assert_array_equal(rounded_once(p, g, 0.137), want)
    p32, g32 = p.astype(np.float32), g.astype(np.float32)
    c32 = float(np.float32(0.137))
    exact = [Fraction(float(a)) - Fraction(c32) * Fraction(float(b))
             for a, b in zip(p32.tolist(), g32.tolist(), strict=True)]
    got = rounded_once(p32, g32, 0.137)
    for e, r in zip(exact, got.tolist(), strict=True):  # r is a nearest float32 to e
        lo = np.nextafter(np.float32(r), np.float32(-np.inf))
        hi = np.nextafter(np.float32(r), np.float32(np.inf))
        d = abs(Fraction(r) - e)
        assert d <= abs(Fraction(float(lo)) - e) and d <= abs(Fraction(float(hi)) - e)
