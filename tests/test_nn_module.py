"""nn.Module, Parameter, containers and layers: registration, names and order, state dicts, repr."""

from __future__ import annotations

import copy
import math
import warnings
from collections import OrderedDict

import numpy as np
import pytest

import tinygrad_nn as tg
from tinygrad_nn import nn


class Net(nn.Module):
    """A module with its own parameter, a buffer, a non-persistent buffer and two children."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(tg.ones(3))
        self.fc1 = nn.Linear(4, 3)
        self.register_buffer("count", tg.zeros(1))
        self.register_buffer("scratch", tg.zeros(2), persistent=False)
        self.act = nn.Sigmoid()
        self.fc2 = nn.Linear(3, 2, bias=False)

    def forward(self, x):
        return self.fc2(self.act(self.fc1(x)) * self.scale)


# -- Parameter ---------------------------------------------------------------------------------
def test_parameter_is_a_slotted_tensor_sharing_memory_and_version():
    t = tg.tensor([1.0, 2.0])
    p = nn.Parameter(t)
    assert isinstance(p, tg.Tensor) and type(p) is nn.Parameter
    assert not hasattr(p, "__dict__")  # no per-instance cost over Tensor
    assert p.requires_grad and p.is_leaf and p.grad_fn is None
    assert p.data is t.data  # no copy, as torch.nn.Parameter
    t.data[0] = 5.0
    assert p.data[0] == 5.0
    assert p._vc is t._vc
    assert type(p.detach()) is tg.Tensor


def test_parameter_repr_and_defaults():
    assert repr(nn.Parameter(tg.tensor([1.0, 2.0]))) == (
        "Parameter containing:\ntensor([1., 2.], requires_grad=True)")
    assert repr(nn.Parameter(tg.tensor([1.0, 2.0]), requires_grad=False)) == (
        "Parameter containing:\ntensor([1., 2.])")
    p = nn.Parameter()
    assert p.shape == (0,) and p.dtype == tg.get_default_dtype() and p.requires_grad


def test_parameter_rejects_integer_data_and_non_tensors():
    with pytest.raises(RuntimeError, match="floating point"):
        nn.Parameter(tg.tensor([1, 2]))
    assert not nn.Parameter(tg.tensor([1, 2]), requires_grad=False).requires_grad
    with pytest.raises(TypeError, match="ndarray"):
        nn.Parameter(np.zeros(3))


def test_parameter_of_a_computed_tensor_is_a_leaf():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    p = nn.Parameter(x * 2)
    assert p.is_leaf and p.requires_grad
    (p * p).sum().backward()
    np.testing.assert_array_equal(p.grad.numpy(), [4.0, 8.0])
    assert x.grad is None


# -- registration ------------------------------------------------------------------------------
def test_names_order_and_hot_path_layout():
    net = Net()
    names = [n for n, _ in net.named_parameters()]
    assert names == ["scale", "fc1.weight", "fc1.bias", "fc2.weight"]
    assert [id(p) for p in net.parameters()] == [id(net.scale), id(net.fc1.weight),
                                                 id(net.fc1.bias), id(net.fc2.weight)]
    # registered objects are plain instance attributes (no __getattr__ on the hot path)
    assert net.__dict__["fc1"] is net._modules["fc1"]
    assert net.fc1.__dict__["weight"] is net.fc1._parameters["weight"]
    assert net.__dict__["count"] is net._buffers["count"]
    assert net.fc2.bias is None and "bias" in net.fc2._parameters
    assert [n for n, _ in net.named_children()] == ["fc1", "act", "fc2"]
    assert [n for n, _ in net.named_modules()] == ["", "fc1", "act", "fc2"]
    assert [type(m).__name__ for m in net.modules()] == ["Net", "Linear", "Sigmoid", "Linear"]
    assert [n for n, _ in net.named_buffers()] == ["count", "scratch"]
    assert [n for n, _ in net.named_parameters(recurse=False)] == ["scale"]
    assert [n for n, _ in net.named_parameters(prefix="model")][:2] == ["model.scale",
                                                                        "model.fc1.weight"]


def test_reassigning_and_deleting_keeps_registries_in_step():
    net = Net()
    net.fc1 = nn.Linear(4, 3, bias=False)  # replace a child: same slot in the order
    assert [n for n, _ in net.named_parameters()] == ["scale", "fc1.weight", "fc2.weight"]
    net.scale = None  # a registered parameter may be set to None
    assert net.scale is None and [n for n, _ in net.named_parameters()][0] == "fc1.weight"
    net.extra = nn.Parameter(tg.zeros(1))
    assert [n for n, _ in net.named_parameters()][0] == "extra"  # own parameters come first
    del net.extra
    assert not hasattr(net, "extra") and "extra" not in net._parameters
    del net.act
    assert [n for n, _ in net.named_children()] == ["fc1", "fc2"]
    net.act = nn.Tanh()  # re-added at the end
    assert [n for n, _ in net.named_children()] == ["fc1", "fc2", "act"]
    net.count = tg.ones(1)  # assigning a Tensor to a buffer name updates the buffer
    assert net._buffers["count"] is net.count
    net.fc2 = nn.Parameter(tg.zeros(1))  # a module slot turned into a parameter
    assert "fc2" not in net._modules and "fc2" in net._parameters


def test_registration_errors_match_pytorch():
    net = Net()
    with pytest.raises(TypeError, match="cannot assign .* as parameter 'scale'"):
        net.scale = tg.ones(3)  # a plain Tensor where a Parameter is registered
    with pytest.raises(TypeError, match="as child module 'fc1'"):
        net.fc1 = tg.ones(3)
    with pytest.raises(TypeError, match="as buffer 'count'"):
        net.count = 3.0
    with pytest.raises(KeyError, match="contain"):
        net.register_parameter("a.b", nn.Parameter(tg.ones(1)))
    with pytest.raises(KeyError, match="empty string"):
        net.register_parameter("", nn.Parameter(tg.ones(1)))
    with pytest.raises(KeyError, match="already exists"):
        net.register_parameter("training", nn.Parameter(tg.ones(1)))
    with pytest.raises(TypeError, match="should be a string"):
        net.register_parameter(3, nn.Parameter(tg.ones(1)))
    with pytest.raises(TypeError, match="cannot assign"):
        net.register_parameter("w", tg.ones(1))
    with pytest.raises(KeyError, match="already exists"):
        net.register_buffer("fc1", tg.ones(1))
    with pytest.raises(TypeError, match="is not a Module subclass"):
        net.add_module("m", 3)
    with pytest.raises(KeyError, match="contain"):
        net.add_module("a.b", nn.ReLU())
    with pytest.raises(AttributeError, match="has no attribute 'nope'"):
        _ = net.nope


def test_assigning_before_init_raises():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(tg.ones(1))
            super().__init__()

    with pytest.raises(AttributeError, match="before Module.__init__"):
        Bad()

    class BadChild(nn.Module):
        def __init__(self):
            self.c = nn.ReLU()
            super().__init__()

    with pytest.raises(AttributeError, match="before Module.__init__"):
        BadChild()


def test_computed_tensor_is_not_a_parameter():
    net = nn.Module()
    q = nn.Parameter(tg.ones(2)) * 2
    with pytest.raises(TypeError, match="Parameter or None required"):
        net.register_parameter("q", q)  # a computed Tensor is not a Parameter


def test_shared_parameters_are_listed_once_but_saved_under_each_name():
    a = nn.Linear(2, 2)
    model = nn.Sequential(a, nn.Sigmoid(), a)
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias"]
    assert len(list(model.named_parameters(remove_duplicate=False))) == 4
    assert list(model.state_dict()) == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert [n for n, _ in model.named_modules()] == ["", "0", "1"]


def test_get_submodule_and_get_parameter():
    net = Net()
    assert net.get_submodule("fc1") is net.fc1
    assert net.get_submodule("") is net
    assert net.get_parameter("fc1.bias") is net.fc1.bias
    with pytest.raises(AttributeError):
        net.get_submodule("fc3")
    with pytest.raises(AttributeError):
        net.get_parameter("fc1.nope")


def test_forward_is_required_and_call_passes_arguments():
    with pytest.raises(NotImplementedError, match='missing the required "forward"'):
        nn.Module()(1)

    class Add(nn.Module):
        def forward(self, x, y=0, *, z=0):
            return x + y + z

    assert Add()(1, 2, z=3) == 6


# -- modes, gradients, dtypes ------------------------------------------------------------------
def test_train_eval_recurse():
    net = Net()
    assert net.training and net.fc1.training
    assert net.eval() is net
    assert not net.training and not net.fc1.training and not net.act.training
    net.train()
    assert all(m.training for m in net.modules())
    with pytest.raises(ValueError, match="boolean"):
        net.train("yes")


def test_zero_grad_and_requires_grad_():
    net = Net()
    net(tg.rand(5, 4)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())
    g = net.fc1.weight.grad
    net.zero_grad(set_to_none=False)
    assert net.fc1.weight.grad is g and not g.data.any()
    net.zero_grad()
    assert all(p.grad is None for p in net.parameters())
    assert net.requires_grad_(False) is net
    assert not any(p.requires_grad for p in net.parameters())


def test_double_float_to_keep_parameter_identity_and_cast_grads():
    net = Net()
    params = list(net.parameters())
    net(tg.rand(5, 4)).sum().backward()
    assert net.double() is net
    assert [id(p) for p in net.parameters()] == [id(p) for p in params]
    assert all(p.dtype == np.float64 and p.grad.dtype == np.float64 for p in net.parameters())
    assert net.count.dtype == np.float64
    out = net(tg.rand(5, 4, dtype=tg.float64))
    assert out.dtype == np.float64
    net.to(tg.float32)
    assert all(p.dtype == np.float32 for p in net.parameters())
    net.register_buffer("steps", tg.tensor([3]))
    net.double()
    assert net.steps.dtype == np.int64  # only floating tensors are cast
    net.to("cpu", dtype=tg.float32)
    assert net.fc1.weight.dtype == np.float32
    with pytest.raises(TypeError, match="floating point"):
        net.to(tg.int64)


def test_apply_visits_children_first():
    net = Net()
    seen = []
    assert net.apply(lambda m: seen.append(type(m).__name__)) is net
    assert seen == ["Linear", "Sigmoid", "Linear", "Net"]

    def init_weights(m):
        if isinstance(m, nn.Linear):
            nn.init.zeros_(m.weight)

    net.apply(init_weights)
    assert not net.fc1.weight.data.any() and not net.fc2.weight.data.any()


def test_deepcopy_is_independent_and_consistent():
    net = Net()
    twin = copy.deepcopy(net)
    assert [n for n, _ in twin.named_parameters()] == [n for n, _ in net.named_parameters()]
    assert twin.fc1.weight is twin._modules["fc1"]._parameters["weight"]
    twin.fc1.weight.data += 1
    assert not np.array_equal(twin.fc1.weight.data, net.fc1.weight.data)
    x = tg.rand(3, 4)
    assert twin(x).shape == (3, 2)


# -- state dict --------------------------------------------------------------------------------
def test_state_dict_keys_values_and_sharing():
    net = Net()
    sd = net.state_dict()
    assert isinstance(sd, OrderedDict)
    assert list(sd) == ["scale", "count", "fc1.weight", "fc1.bias", "fc2.weight"]
    assert all(type(v) is tg.Tensor and not v.requires_grad for v in sd.values())
    assert sd["fc1.weight"].data is net.fc1.weight.data  # detached, shared memory
    kv = net.state_dict(keep_vars=True)
    assert kv["fc1.weight"] is net.fc1.weight


def test_load_state_dict_round_trip_with_tensors_and_arrays():
    tg.manual_seed(1)
    a, b = Net(), Net()
    res = b.load_state_dict(a.state_dict())
    assert repr(res) == "<All keys matched successfully>"
    assert res.missing_keys == [] and res.unexpected_keys == []
    for (n, p), (_, q) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        np.testing.assert_array_equal(p.data, q.data, err_msg=n)
        assert p.data is not q.data
    # NumPy arrays, float64 into a float32 model: cast to the parameter's dtype
    c = Net()
    arrays = {k: v.data.astype(np.float64) + 1 for k, v in a.state_dict().items()}
    ref = [p.data.copy() for p in c.parameters()]
    before = c.fc1.weight._version
    c.load_state_dict(arrays)
    assert c.fc1.weight.dtype == np.float32 and c.fc1.weight._version > before
    np.testing.assert_allclose(c.fc1.weight.data, a.fc1.weight.data + 1, rtol=1e-6)
    assert not np.array_equal(c.fc1.weight.data, ref[1])


def test_load_state_dict_reports_missing_unexpected_and_size_mismatch():
    net = Net()
    sd = {k: v.data.copy() for k, v in net.state_dict().items()}
    good = copy.deepcopy(sd)
    del sd["fc1.bias"]
    sd["fc1.extra"] = np.zeros(1)
    sd["nothing.here"] = np.zeros(1)
    sd["fc2.weight"] = np.zeros((3, 3))
    before = net.fc1.weight.data.copy()
    sd["fc1.weight"] = before + 1
    with pytest.raises(RuntimeError) as e:
        net.load_state_dict(sd)
    msg = str(e.value)
    assert msg.startswith("Error(s) in loading state_dict for Net:\n\t")
    assert 'Missing key(s) in state_dict: "fc1.bias". ' in msg
    # PyTorch's order: a module's own unexpected keys, then its children's
    assert 'Unexpected key(s) in state_dict: "nothing.here", "fc1.extra". ' in msg
    assert "size mismatch for fc2.weight: copying a param with shape [3, 3] from checkpoint, " \
           "the shape in current model is [2, 3]." in msg
    np.testing.assert_array_equal(net.fc1.weight.data, before)  # nothing copied on error
    # strict=False: size mismatch still raises; without it, the keys are returned
    del sd["fc2.weight"]
    res = net.load_state_dict(sd, strict=False)
    assert res.missing_keys == ["fc1.bias", "fc2.weight"]
    assert res.unexpected_keys == ["nothing.here", "fc1.extra"]
    np.testing.assert_array_equal(net.fc1.weight.data, before + 1)
    assert repr(net.load_state_dict(good)) == "<All keys matched successfully>"


def test_load_state_dict_rejects_bad_values_and_types():
    net = nn.Linear(2, 2)
    with pytest.raises(TypeError, match="dict-like"):
        net.load_state_dict([("weight", np.zeros((2, 2)))])
    with pytest.raises(RuntimeError, match='While copying the parameter named "weight"'):
        net.load_state_dict({"weight": [[0.0, 0.0], [0.0, 0.0]], "bias": np.zeros(2)})


def test_load_state_dict_assign_uses_the_given_arrays():
    net = nn.Linear(2, 3)
    w, b = np.ones((3, 2)), np.zeros(3)
    net.load_state_dict({"weight": w, "bias": b}, assign=True)
    assert net.weight.data is w and isinstance(net.weight, nn.Parameter)
    assert net.weight.dtype == np.float64 and net.weight.requires_grad


def test_save_load_state_dict_through_a_file(tmp_path):
    tg.manual_seed(3)
    a = nn.Sequential(nn.Linear(3, 4), nn.Sigmoid(), nn.Linear(4, 2))
    path = tmp_path / "model.npz"
    tg.save(a.state_dict(), path)
    b = nn.Sequential(nn.Linear(3, 4), nn.Sigmoid(), nn.Linear(4, 2))
    b.load_state_dict(tg.load(path))
    x = tg.rand(5, 3)
    np.testing.assert_array_equal(a(x).detach().numpy(), b(x).detach().numpy())


# -- repr --------------------------------------------------------------------------------------
def test_repr_is_pytorchs_text():
    model = nn.Sequential(nn.Linear(784, 30), nn.Sigmoid(), nn.Linear(30, 10), nn.Sigmoid())
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Linear(in_features=784, out_features=30, bias=True)\n"
        "  (1): Sigmoid()\n"
        "  (2): Linear(in_features=30, out_features=10, bias=True)\n"
        "  (3): Sigmoid()\n"
        ")")
    assert repr(Net()) == (
        "Net(\n"
        "  (fc1): Linear(in_features=4, out_features=3, bias=True)\n"
        "  (act): Sigmoid()\n"
        "  (fc2): Linear(in_features=3, out_features=2, bias=False)\n"
        ")")
    nested = nn.Sequential(OrderedDict(body=nn.Sequential(nn.Flatten(), nn.ReLU()),
                                       head=nn.LogSoftmax(dim=1)))
    assert repr(nested) == (
        "Sequential(\n"
        "  (body): Sequential(\n"
        "    (0): Flatten(start_dim=1, end_dim=-1)\n"
        "    (1): ReLU()\n"
        "  )\n"
        "  (head): LogSoftmax(dim=1)\n"
        ")")
    assert repr(nn.ModuleList([nn.Tanh(), nn.Tanh(), nn.Identity()])) == (
        "ModuleList(\n  (0-1): 2 x Tanh()\n  (2): Identity()\n)")
    assert repr(nn.ModuleList()) == "ModuleList()"
    assert repr(nn.Sequential()) == "Sequential()"
    assert repr(nn.ReLU(inplace=True)) == "ReLU(inplace=True)"
    assert repr(nn.Softmax()) == "Softmax(dim=None)"
    assert repr(nn.QuadraticCost()) == "QuadraticCost()"
    assert repr(nn.CrossEntropyLoss()) == "CrossEntropyLoss()"


# -- containers --------------------------------------------------------------------------------
def test_sequential_indexing_and_mutation_update_forward():
    tg.manual_seed(0)
    l0, l1 = nn.Linear(2, 3), nn.Linear(3, 1)
    seq = nn.Sequential(l0, nn.Sigmoid())
    assert len(seq) == 2 and seq[0] is l0 and seq[-1] is seq[1]
    with pytest.raises(IndexError, match="out of range"):
        seq[2]
    x = tg.rand(4, 2)
    assert seq(x).shape == (4, 3)
    seq.append(l1)
    assert seq(x).shape == (4, 1)  # the cached module tuple was refreshed
    np.testing.assert_allclose(seq(x).detach().numpy(),
                               l1(l0(x).sigmoid()).detach().numpy(), rtol=1e-6)
    assert list(seq._modules) == ["0", "1", "2"]
    sub = seq[1:]
    assert isinstance(sub, nn.Sequential) and list(sub._modules) == ["1", "2"]
    del seq[1]
    assert list(seq._modules) == ["0", "1"] and seq[1] is l1
    assert seq.__dict__["1"] is l1 and "2" not in seq.__dict__
    np.testing.assert_allclose(seq(x).detach().numpy(), l1(l0(x)).detach().numpy(), rtol=1e-6)


def test_sequential_insert_pop_extend_add_setitem():
    a, b, c = nn.ReLU(), nn.Tanh(), nn.Sigmoid()
    seq = nn.Sequential(a)
    seq.insert(0, b)
    assert list(seq) == [b, a] and list(seq._modules) == ["0", "1"]
    seq.extend([c])
    assert list(seq) == [b, a, c]
    assert seq.pop(1) is a and list(seq) == [b, c]
    seq[0] = a
    assert list(seq) == [a, c] and seq.__dict__["0"] is a
    both = seq + nn.Sequential(b)
    assert list(both) == [a, c, b]
    x = tg.tensor([-1.0, 2.0])
    np.testing.assert_allclose(both(x).numpy(), np.tanh(1 / (1 + np.exp(-np.maximum([-1, 2], 0)))),
                               rtol=1e-6)
    with pytest.raises(ValueError):
        seq + [b]
    named = nn.Sequential(OrderedDict(first=a, second=b))
    assert [n for n, _ in named.named_children()] == ["first", "second"] and named.first is a


def test_module_list():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(layers) == 3 and isinstance(layers[1], nn.Linear)
    assert [n for n, _ in layers.named_parameters()][:2] == ["0.weight", "0.bias"]
    layers.append(nn.ReLU())
    layers += [nn.Tanh()]
    assert len(layers) == 5 and isinstance(layers[-1], nn.Tanh)
    del layers[0]
    assert list(layers._modules) == ["0", "1", "2", "3"]
    layers.insert(1, nn.Sigmoid())
    assert isinstance(layers[1], nn.Sigmoid) and len(layers) == 5
    assert isinstance(layers[1:3], nn.ModuleList) and len(layers[1:3]) == 2
    with pytest.raises(IndexError):
        layers[9]
    with pytest.raises(NotImplementedError):
        layers(tg.ones(2))
    with pytest.raises(TypeError, match="iterable"):
        layers.extend(3)


# -- layers ------------------------------------------------------------------------------------
def test_linear_forward_and_default_init():
    tg.manual_seed(0)
    lin = nn.Linear(50, 40)
    bound = 1 / math.sqrt(50)
    for p in (lin.weight, lin.bias):
        assert p.dtype == np.float32 and p.requires_grad
        assert np.abs(p.data).max() <= bound
    assert lin.weight.shape == (40, 50) and lin.bias.shape == (40,)
    # U(-b, b) has std b/sqrt(3): 2000 draws give it within a few percent
    assert abs(lin.weight.data.std() / (bound / math.sqrt(3)) - 1) < 0.05
    assert abs(lin.weight.data.mean()) < 0.05 * bound
    x = tg.randn(7, 50)
    np.testing.assert_allclose(lin(x).detach().numpy(),
                               x.numpy() @ lin.weight.data.T + lin.bias.data, rtol=1e-5, atol=1e-6)
    assert lin(tg.randn(2, 3, 50)).shape == (2, 3, 40)
    assert lin(tg.randn(50)).shape == (40,)
    assert nn.Linear(3, 2, dtype=tg.float64).weight.dtype == np.float64
    nb = nn.Linear(3, 2, bias=False)
    assert nb.bias is None and [n for n, _ in nb.named_parameters()] == ["weight"]
    assert nb(tg.ones(1, 3)).shape == (1, 2)


def test_linear_init_is_reproducible_with_manual_seed():
    tg.manual_seed(42)
    a = nn.Linear(5, 4)
    tg.manual_seed(42)
    b = nn.Linear(5, 4)
    c = nn.Linear(5, 4)
    np.testing.assert_array_equal(a.weight.data, b.weight.data)
    np.testing.assert_array_equal(a.bias.data, b.bias.data)
    assert not np.array_equal(b.weight.data, c.weight.data)


def test_linear_errors_match_pytorch():
    lin = nn.Linear(4, 2)
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied \(3x5 and "
                                           r"4x2\)"):
        lin(tg.ones(3, 5))
    with pytest.raises(RuntimeError, match="must have the same dtype, but got Double and Float"):
        lin(tg.ones(3, 4, dtype=tg.float64))
    with pytest.raises(RuntimeError, match="same dtype"):
        lin(tg.ones(3, 4, dtype=tg.int64))
    with pytest.raises(TypeError, match="must be Tensor"):
        lin(np.ones((3, 4), np.float32))
    with pytest.raises(RuntimeError, match="at least 1D"):
        lin(tg.tensor(1.0))
    with pytest.raises(RuntimeError, match="negative dimension"):
        nn.Linear(-1, 3)


def test_activation_modules_match_numpy():
    a = np.linspace(-5, 5, 12).reshape(3, 4)
    x = tg.tensor(a)
    np.testing.assert_allclose(nn.Sigmoid()(x).numpy(), 1 / (1 + np.exp(-a)), rtol=1e-12)
    np.testing.assert_allclose(nn.Tanh()(x).numpy(), np.tanh(a), rtol=1e-12)
    np.testing.assert_array_equal(nn.ReLU()(x).numpy(), np.maximum(a, 0))
    e = np.exp(a - a.max(1, keepdims=True))
    np.testing.assert_allclose(nn.Softmax(dim=1)(x).numpy(), e / e.sum(1, keepdims=True),
                               rtol=1e-12)
    np.testing.assert_allclose(nn.LogSoftmax(dim=1)(x).numpy(),
                               np.log(e / e.sum(1, keepdims=True)), rtol=1e-12)
    assert nn.Identity(3, foo=1)(x) is x
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        out = nn.Softmax()(x)
    np.testing.assert_allclose(out.numpy().sum(1), 1.0)  # 2-D: dim=1, as PyTorch
    assert nn.Flatten()(tg.ones(2, 3, 4)).shape == (2, 12)
    assert nn.Flatten(0, 1)(tg.ones(2, 3, 4)).shape == (6, 4)


def test_module_call_has_no_hook_overhead():
    # __call__ is forward; Sequential skips Module.__call__ unless a child overrides it
    calls = []

    class Loud(nn.Module):
        def __call__(self, x):
            calls.append(1)
            return x

    seq = nn.Sequential(nn.Identity(), Loud())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert seq(5) == 5
    assert calls == [1]
