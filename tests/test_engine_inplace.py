"""In-place ops: version counters, the "modified by an inplace operation" check, leaves, views."""

from __future__ import annotations

import numpy as np
import pytest

import tinygrad_nn as tg
from tinygrad_nn.autograd import gradcheck

MODIFIED = "modified by an inplace operation"


def leaf(values, dtype=np.float64):
    return tg.tensor(np.asarray(values, dtype=dtype), requires_grad=True)


INPLACE = [
    ("add_", lambda t: t.add_(2.0), lambda a: a + 2.0),
    ("add_ alpha", lambda t: t.add_(tg.tensor([1.0, 2.0, 3.0]), alpha=2), lambda a: a + [2, 4, 6]),
    ("sub_", lambda t: t.sub_(tg.tensor(1.5)), lambda a: a - 1.5),
    ("mul_", lambda t: t.mul_(tg.tensor([1.0, -1.0, 2.0])), lambda a: a * [1, -1, 2]),
    ("div_", lambda t: t.div_(4.0), lambda a: a / 4.0),
    ("zero_", lambda t: t.zero_(), lambda a: 0 * a),
    ("fill_", lambda t: t.fill_(7.0), lambda a: 0 * a + 7.0),
    ("copy_", lambda t: t.copy_(tg.tensor([9.0, 8.0, 7.0])), lambda a: np.array([9.0, 8.0, 7.0])),
    ("clamp_", lambda t: t.clamp_(-1.0, 1.0), lambda a: np.clip(a, -1, 1)),
    ("+=", lambda t: t.__iadd__(1.0), lambda a: a + 1.0),
    ("-=", lambda t: t.__isub__(tg.tensor([1.0, 1.0, 1.0])), lambda a: a - 1.0),
    ("*=", lambda t: t.__imul__(3.0), lambda a: a * 3.0),
    ("/=", lambda t: t.__itruediv__(2.0), lambda a: a / 2.0),
]


@pytest.mark.parametrize("name,op,ref", INPLACE, ids=[i[0] for i in INPLACE])
def test_inplace_ops_update_values_and_bump_the_version(name, op, ref):
    t = tg.tensor([-2.0, 0.5, 3.0])
    data = t.data
    v0 = t._version
    out = op(t)
    assert out is t and t.data is data, "in place: same tensor, same array"
    assert t._version == v0 + 1
    np.testing.assert_allclose(t.data, ref(np.array([-2.0, 0.5, 3.0])), rtol=1e-7)
    assert t.dtype == np.float32


def test_statement_forms_keep_the_tensor():
    t = tg.tensor([1.0, 2.0])
    alias = t
    t += 1.0
    t *= tg.tensor([2.0, 3.0])
    assert t is alias and t._version == 2
    np.testing.assert_array_equal(alias.data, [4.0, 9.0])


def test_fill_zero_copy_overwrite_inf_and_nan():
    t = tg.tensor([np.inf, np.nan, -np.inf])
    t.fill_(1.0)
    np.testing.assert_array_equal(t.data, [1.0, 1.0, 1.0])
    t = tg.tensor([np.inf, np.nan])
    t.zero_()
    np.testing.assert_array_equal(t.data, [0.0, 0.0])
    t = tg.tensor([np.inf, np.nan])
    t.copy_(tg.tensor([2.0, 3.0]))
    np.testing.assert_array_equal(t.data, [2.0, 3.0])


def test_inplace_result_that_does_not_fit_raises():
    t = tg.tensor([1.0, 2.0, 3.0])
    with pytest.raises(RuntimeError, match="doesn't match the broadcast shape"):
        t.add_(tg.ones(2, 3))
    i = tg.tensor([1, 2])
    i.add_(3)
    assert i.dtype == np.int64 and i.tolist() == [4, 5]
    with pytest.raises(RuntimeError, match="can't be cast"):
        i.mul_(1.5)  # PyTorch: result type Float can't be cast to the desired output type Long


# -- modifying what backward needs --------------------------------------------------------------
def test_modifying_a_saved_output_raises_naming_the_op():
    x = leaf([0.1, 0.2, 0.3])
    y = x.exp()  # Exp saves its output
    y.add_(1.0)
    with pytest.raises(RuntimeError, match=MODIFIED) as info:
        y.sum().backward()
    assert "Exp" in str(info.value)


def test_modifying_a_saved_input_raises_naming_the_op():
    x, b = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    a = x * 1.0  # a non-leaf: in place is allowed on it
    y = a * b  # Mul saves a and b
    a.add_(1.0)
    with pytest.raises(RuntimeError, match=MODIFIED) as info:
        y.sum().backward()
    assert "Mul" in str(info.value)


def test_modifying_through_detach_raises():
    """detach() shares the data and the version counter (as PyTorch)."""
    x = leaf([1.0, 2.0])
    y = x * x
    x.detach().mul_(2.0)
    with pytest.raises(RuntimeError, match=MODIFIED):
        y.sum().backward()


def test_modifying_an_input_that_is_not_saved_is_fine():
    x = leaf([1.0, 2.0])
    a = x * 1.0
    y = a + 5.0  # Add needs no values for backward
    a.mul_(10.0)
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [1.0, 1.0])


def test_inplace_on_a_leaf_that_requires_grad():
    x = leaf([1.0, 2.0])
    with pytest.raises(RuntimeError, match="a leaf Variable that requires grad is being used in an "
                                           "in-place operation"):
        x.add_(1.0)
    with pytest.raises(RuntimeError, match="in-place"):
        x += 1.0
    np.testing.assert_array_equal(x.data, [1.0, 2.0])
    v = x._version
    with tg.no_grad():  # the optimizer's update
        x.sub_(0.5)
        x.mul_(2.0)
    np.testing.assert_array_equal(x.data, [1.0, 3.0])
    assert x._version == v + 2 and x.requires_grad and x.is_leaf and x.grad_fn is None


def test_inplace_on_non_leaves_gives_correct_gradients():
    """A chain of in-place ops on intermediate values, against finite differences."""
    def f(x, z):
        y = x * x
        y.mul_(3.0)
        y.add_(x)
        y.sub_(z, alpha=0.5)
        y.div_(z.exp())
        y += x
        y *= z
        y.clamp_(-20.0, 20.0)
        w = x + 1.0  # (not x.sigmoid(): that saves w, and PyTorch refuses to backward then)
        w.copy_(y.tanh())
        return y + w

    x, z = leaf([0.3, -0.7, 1.1]), leaf([0.5, 0.25, -0.4])
    assert gradcheck(f, (x, z), atol=1e-8, rtol=1e-7)


def test_inplace_tracks_the_gradient_of_its_argument():
    x, s = leaf([1.0, 1.0, 1.0]), leaf([1.0, 2.0, 3.0])
    y = x * 2.0
    y.copy_(s * s)  # the old value of y is overwritten: x gets nothing through it
    assert y.requires_grad and not y.is_leaf
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.data, [0.0, 0.0, 0.0])
    np.testing.assert_array_equal(s.grad.data, [2.0, 4.0, 6.0])
    t = tg.tensor([1.0, 2.0], dtype=tg.float64)  # does not require grad ...
    t.mul_(leaf([3.0, 4.0]))  # ... but takes part in the graph from now on
    assert t.requires_grad and t.grad_fn is not None


# -- views --------------------------------------------------------------------------------------
@pytest.mark.parametrize("make_view", [
    lambda a: a.view(2, 2), lambda a: a.reshape(4), lambda a: a[1:], lambda a: a[None],
    lambda a: a.unsqueeze(0), lambda a: a.view(2, 2).T, lambda a: a.flatten(),
], ids=["view", "reshape", "slice", "newaxis", "unsqueeze", "T", "flatten"])
def test_views_share_the_version_counter(make_view):
    a = tg.tensor([1.0, 2.0, 3.0, 4.0])
    v = make_view(a)
    assert np.shares_memory(v.data, a.data)
    v0 = a._version
    v.mul_(2.0)
    assert a._version == v._version == v0 + 1
    a.add_(1.0)
    assert a._version == v._version == v0 + 2


def test_modifying_a_view_of_a_saved_tensor_raises():
    x = leaf([0.1, 0.2, 0.3, 0.4])
    a = x * 1.0
    y = a.exp() * a  # Mul saves a
    # tinygrad_nn refuses the in-place op on a view of a graph tensor up front (PyTorch lets it
    # through and fails in backward); either way the stale gradient is never returned
    with pytest.raises(RuntimeError, match=MODIFIED + "|in-place operation on a view"):
        a[1:].add_(1.0)  # through a view
        y.sum().backward()


def test_inplace_on_a_view_of_a_non_leaf_is_never_silently_wrong():
    """PyTorch rebases the base's history (CopySlices): x.grad = [6, 6, 2, 2]. Raising instead
    is acceptable; a gradient that ignores the in-place multiplication is not."""
    x = leaf([1.0, 1.0, 1.0, 1.0])
    a = x * 2.0
    try:
        a[:2].mul_(3.0)
        np.testing.assert_array_equal(a.data, [6.0, 6.0, 2.0, 2.0])
        a.sum().backward()
    except RuntimeError as e:
        assert "in-place" in str(e) or "inplace" in str(e)
        return
    np.testing.assert_array_equal(x.grad.data, [6.0, 6.0, 2.0, 2.0])


def test_inplace_on_a_base_after_taking_a_view_is_never_silently_wrong():
    """The view was taken before the base changed; PyTorch regenerates its history: 6."""
    x = leaf([1.0, 1.0, 1.0])
    a = x * 2.0
    v = a[:2]
    a.mul_(3.0)
    np.testing.assert_array_equal(v.data, [6.0, 6.0])
    try:
        v.sum().backward()
    except RuntimeError as e:
        assert "in-place" in str(e) or "inplace" in str(e)
        return
    np.testing.assert_array_equal(x.grad.data, [6.0, 6.0, 0.0])


def test_setitem_outside_the_graph_bumps_the_version():
    t = tg.zeros(3)
    t[1] = 5.0
    t[tg.tensor([0, 2])] = tg.tensor([1.0, 2.0])
    np.testing.assert_array_equal(t.data, [1.0, 5.0, 2.0])
    assert t._version == 2


@pytest.mark.parametrize("make_copy", [
    lambda a: a.t().reshape(-1), lambda a: a[:, [0, 1]], lambda a: a[a > 1.5],
    lambda a: a.t().flatten(),
], ids=["reshape of a transpose", "index list", "mask", "flatten of a transpose"])
def test_copies_have_a_version_counter_of_their_own(make_copy):
    a = tg.tensor([[1.0, 2.0], [3.0, 4.0]])
    c = make_copy(a)
    assert not np.shares_memory(c.data, a.data)
    a.add_(1.0)
    assert c._version == 0 and a._version == 1
    c.mul_(2.0)
    assert c._version == 1 and a._version == 1


@pytest.mark.parametrize("make", [
    lambda x: (x * 1.0).max(1).values, lambda x: (x * 1.0)[:, [0, 1]],
    lambda x: (x * 1.0).t().reshape(-1), lambda x: (x * 1.0)[x.detach() > 2.5],
], ids=["max(1).values", "index list", "reshape copy", "mask"])
def test_inplace_on_a_copy_in_the_graph_is_tracked(make):
    """A result that is a copy (not a view of another tensor) may be modified in place: its
    gradient is that of the new value (torch: the same numbers)."""
    x = leaf([[1.0, 5.0], [3.0, 2.0]])
    y = make(x)
    y.mul_(3.0)
    (y * y).sum().backward()
    ref = leaf([[1.0, 5.0], [3.0, 2.0]])
    ((make(ref) * 3.0) ** 2).sum().backward()
    np.testing.assert_array_equal(x.grad.data, ref.grad.data)
    assert np.any(x.grad.data != 0)


def test_modifying_an_index_tensor_after_indexing_raises():
    """backward scatters g back through the index: changed in place, the gradient would go to
    the wrong elements, so backward raises (as torch)."""
    for index in (lambda i: i, lambda i: (0, i), lambda i: (slice(None), i)):
        x = leaf([[1.0, 2.0, 3.0]] * 3)
        i = tg.tensor([0, 0, 2])
        y = (x * 2.0)[index(i)]
        i[0] = 1
        with pytest.raises(RuntimeError, match=MODIFIED):
            y.sum().backward()
    x = leaf([1.0, 2.0, 3.0])
    i = tg.tensor([0, 0, 2])
    y = (x * 2.0)[i]
    (y * 1.0).sum().backward(retain_graph=True)  # not modified: fine
    np.testing.assert_array_equal(x.grad.data, [4.0, 0.0, 2.0])
    m = tg.tensor([True, False, True])
    y = (x * 2.0)[m]
    m[1] = True
    with pytest.raises(RuntimeError, match=MODIFIED):
        y.sum().backward()


def test_modifying_the_condition_of_where_after_the_forward_raises():
    x = leaf([1.0, -2.0, 3.0])
    c = x.detach() > 0
    y = tg.where(c, x * 2.0, x * 0.0)
    c[0] = False
    with pytest.raises(RuntimeError, match=MODIFIED):
        y.sum().backward()
    c = x.detach() > 0
    y = (x * 2.0).where(c, 0.0)
    y.sum().backward()  # unchanged: the gradient goes where c holds
    np.testing.assert_array_equal(x.grad.data, [2.0, 0.0, 2.0])


def test_retain_grad_follows_the_tensor_through_an_inplace_op():
    """retain_grad() then y.mul_(2): y.grad is the gradient of y's new value (torch's)."""
    x = leaf([1.0, 2.0])
    y = x * 3.0
    y.retain_grad()
    y.mul_(2.0)
    (y * y).sum().backward()
    assert y.retains_grad
    np.testing.assert_array_equal(y.grad.data, [12.0, 24.0])  # 2y at y = 6x
    np.testing.assert_array_equal(x.grad.data, [72.0, 144.0])
