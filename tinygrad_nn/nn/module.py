"""``Module``: the base class of layers and models, as ``torch.nn.Module`` (without hooks).

A module owns Parameters, buffers (tensors saved in the state dict but not trained) and
sub-modules, registered by attribute assignment (``self.fc = Linear(3, 4)``) or explicitly
(``register_parameter``, ``register_buffer``, ``add_module``). Names, order, ``state_dict`` keys
(``"fc.weight"``), ``__repr__`` text and error types are PyTorch's.

Layout, chosen for speed. Every registered object lives in the instance ``__dict__`` under its name,
so ``self.weight`` in ``forward`` is a plain attribute lookup (PyTorch goes through
``Module.__getattr__``). The registration order is kept in the name → object dicts
``_parameters``, ``_buffers`` and ``_modules`` (PyTorch's names), which ``__setattr__``,
``__delattr__`` and the ``register_*`` methods keep in step with ``__dict__``. Register through
those (not by writing to ``_parameters`` directly). ``__call__`` is just ``self.forward(...)``:
there is no hook machinery.
"""

from __future__ import annotations

import operator
from collections import OrderedDict, namedtuple
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np

from ..tensor import Tensor, parse_to_args, reset_grads
from .parameter import Parameter


class _IncompatibleKeys(namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])):
    """What ``load_state_dict`` returns: the keys it did not find and the ones it did not use."""

    __slots__ = ()

    def __repr__(self) -> str:
        if not self.missing_keys and not self.unexpected_keys:
            return "<All keys matched successfully>"
        return super().__repr__()

    __str__ = __repr__


def _typename(obj: Any) -> str:
    t = type(obj)
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


def _addindent(s: str, n: int) -> str:
    lines = s.split("\n")
    if len(lines) == 1:
        return s
    first = lines.pop(0)
    return first + "\n" + "\n".join((" " * n) + ln if ln.strip() else "" for ln in lines)


def _state_array(value: Any) -> np.ndarray | None:
    """The array behind a state-dict value: a Tensor, a NumPy array/scalar, or any array-like
    object with ``__array__`` (e.g. a CPU ``torch.Tensor``); None for anything else."""
    if isinstance(value, Tensor):
        return value.data
    if isinstance(value, (np.ndarray, np.generic)):
        return np.asarray(value)
    if hasattr(value, "__array__") and not isinstance(value, (list, tuple)):
        try:
            return np.asarray(value)
        except (TypeError, ValueError, RuntimeError):  # not convertible: reported as bad
            return None
    return None


forward_overrides = [0]  # how many times an instance attribute ``forward`` was set or deleted


class _CallForward(property):
    """``Module.__call__``: ``module(*args, **kwargs)`` is ``module.forward(*args, **kwargs)``.

    A property whose getter (in C) hands CPython's call slot the bound ``forward``, which it then
    calls: no wrapper frame per module call, and an instance's own or a patched class's
    ``forward`` is honoured as usual. Called through the class (``nn.Module.__call__(m, x)``,
    as a subclass's ``__call__`` may do) it forwards the same way.
    """

    def __call__(self, module: Module, *args: Any, **kwargs: Any) -> Any:
        return module.forward(*args, **kwargs)


class Module:
    """Base class for all layers and models: subclass it, assign sub-modules and Parameters in
    ``__init__`` (after ``super().__init__()``), and define ``forward``."""

    training: bool
    _parameters: dict[str, Parameter | None]
    _buffers: dict[str, Tensor | None]
    _modules: dict[str, Module | None]

    def __init__(self) -> None:
        d = self.__dict__
        d["training"] = True
        d["_parameters"] = {}
        d["_buffers"] = {}
        d["_non_persistent_buffers_set"] = set()
        d["_modules"] = {}

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            f'Module [{type(self).__name__}] is missing the required "forward" function')

    __call__ = _CallForward(operator.attrgetter("forward"))

    def _modules_changed(self) -> None:
        """Called after the set of sub-modules changed (Sequential refreshes its cached tuple)."""

    # -- registration --------------------------------------------------------------------------
    def _forget(self, name: str, keep: str = "") -> None:
        """Drop ``name`` from ``__dict__`` and every registry but ``keep`` (whose entry is about to
        be replaced in place, keeping its position in the order, as PyTorch)."""
        d = self.__dict__
        d.pop(name, None)
        if keep != "_parameters":
            d["_parameters"].pop(name, None)
        d["_buffers"].pop(name, None)
        d["_non_persistent_buffers_set"].discard(name)
        if keep != "_modules" and d["_modules"].pop(name, 0) != 0:
            self._modules_changed()

    def register_parameter(self, name: str, param: Parameter | None) -> None:
        """Add a parameter (or ``None``, a declared but absent one) under ``name``."""
        d = self.__dict__
        if "_parameters" not in d:
            raise AttributeError("cannot assign parameter before Module.__init__() call")
        if not isinstance(name, str):
            raise TypeError(f"parameter name should be a string. Got {_typename(name)}")
        if "." in name:
            raise KeyError('parameter name can\'t contain "."')
        if name == "":
            raise KeyError('parameter name can\'t be empty string ""')
        if hasattr(self, name) and name not in d["_parameters"]:
            raise KeyError(f"attribute '{name}' already exists")
        if param is not None:
            if not isinstance(param, Parameter):
                raise TypeError(f"cannot assign '{_typename(param)}' object to parameter '{name}' "
                                "(tinygrad_nn.nn.Parameter or None required)")
            if param.grad_fn is not None:
                raise ValueError(
                    f"Cannot assign non-leaf Tensor to parameter '{name}'. Model parameters must "
                    f"be created explicitly. To express '{name}' as a function of another Tensor, "
                    "compute the value in the forward() method.")
        d["_parameters"][name] = param
        d[name] = param

    def register_buffer(self, name: str, tensor: Tensor | None, persistent: bool = True) -> None:
        """Add a tensor that is part of the module's state but not a parameter (not trained).

        Persistent buffers are saved in ``state_dict``; non-persistent ones are not.
        """
        d = self.__dict__
        if "_buffers" not in d:
            raise AttributeError("cannot assign buffer before Module.__init__() call")
        if not isinstance(name, str):
            raise TypeError(f"buffer name should be a string. Got {_typename(name)}")
        if "." in name:
            raise KeyError('buffer name can\'t contain "."')
        if name == "":
            raise KeyError('buffer name can\'t be empty string ""')
        if hasattr(self, name) and name not in d["_buffers"]:
            raise KeyError(f"attribute '{name}' already exists")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"cannot assign '{_typename(tensor)}' object to buffer '{name}' "
                            "(tinygrad_nn.Tensor or None required)")
        d["_buffers"][name] = tensor
        d[name] = tensor
        if persistent:
            d["_non_persistent_buffers_set"].discard(name)
        else:
            d["_non_persistent_buffers_set"].add(name)

    def add_module(self, name: str, module: Module | None) -> None:
        """Add a sub-module (or ``None``) under ``name``; it is then reachable as an attribute."""
        d = self.__dict__
        if "_modules" not in d:
            raise AttributeError("cannot assign module before Module.__init__() call")
        if not isinstance(module, Module) and module is not None:
            raise TypeError(f"{_typename(module)} is not a Module subclass")
        if not isinstance(name, str):
            raise TypeError(f"module name should be a string. Got {_typename(name)}")
        if hasattr(self, name) and name not in d["_modules"]:
            raise KeyError(f"attribute '{name}' already exists")
        if "." in name:
            raise KeyError(f'module name can\'t contain ".", got: {name}')
        if name == "":
            raise KeyError('module name can\'t be empty string ""')
        d["_modules"][name] = module
        d[name] = module
        self._modules_changed()

    register_module = add_module

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "forward":  # an instance's own forward: fused Sequential runs must notice
            forward_overrides[0] += 1
        d = self.__dict__
        params = d.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError("cannot assign parameters before Module.__init__() call")
            self._forget(name, keep="_parameters")
            self.register_parameter(name, value)
            return
        if params is not None and name in params:
            if value is not None:
                raise TypeError(f"cannot assign '{_typename(value)}' as parameter '{name}' "
                                "(tinygrad_nn.nn.Parameter or None expected)")
            self.register_parameter(name, None)
            return
        modules = d.get("_modules")
        if isinstance(value, Module):
            if modules is None:
                raise AttributeError("cannot assign module before Module.__init__() call")
            self._forget(name, keep="_modules")
            modules[name] = value
            d[name] = value
            self._modules_changed()
            return
        if modules is not None and name in modules:
            if value is not None:
                raise TypeError(f"cannot assign '{_typename(value)}' as child module '{name}' "
                                "(tinygrad_nn.nn.Module or None expected)")
            modules[name] = None
            d[name] = None
            self._modules_changed()
            return
        buffers = d.get("_buffers")
        if buffers is not None and name in buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"cannot assign '{_typename(value)}' as buffer '{name}' "
                                "(tinygrad_nn.Tensor or None expected)")
            buffers[name] = value
        object.__setattr__(self, name, value)

    def __delattr__(self, name: str) -> None:
        if name == "forward":
            forward_overrides[0] += 1
        d = self.__dict__
        if any(name in d.get(k, ()) for k in ("_parameters", "_buffers", "_modules")):
            self._forget(name)
        else:
            object.__delattr__(self, name)

    def __getattr__(self, name: str) -> Any:
        # Only reached when normal lookup fails (never for registered names, which live in
        # __dict__): a registry entry written without going through __setattr__.
        d = self.__dict__
        for key in ("_parameters", "_buffers", "_modules"):
            store = d.get(key)
            if store is not None and name in store:
                return store[name]
        raise AttributeError(f"'{type(self).__name__}' object has no attribute '{name}'")

    def get_submodule(self, target: str) -> Module:
        """The sub-module at the dotted path ``target`` (``""`` is self)."""
        if target == "":
            return self
        mod: Module = self
        for item in target.split("."):
            if not isinstance(mod, Module) or item not in mod._modules:
                raise AttributeError(f"{mod._get_name()} has no attribute `{item}`")
            mod = mod._modules[item]
            if not isinstance(mod, Module):
                raise AttributeError("`" + item + "` is not an nn.Module")
        return mod

    def get_parameter(self, target: str) -> Parameter:
        """The parameter at the dotted path ``target`` (``"0.weight"``)."""
        module_path, _, name = target.rpartition(".")
        mod = self.get_submodule(module_path)
        if name not in mod._parameters:
            raise AttributeError(f"{mod._get_name()} has no attribute `{name}`")
        param = mod._parameters[name]
        if not isinstance(param, Parameter):
            raise AttributeError("`" + name + "` is not an nn.Parameter")
        return param

    # -- traversal -----------------------------------------------------------------------------
    def named_modules(self, memo: set | None = None, prefix: str = "",
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Module]]:
        """(name, module) for self (named ``prefix``) and every descendant, depth first, once."""
        if memo is None:
            memo = set()
        if self in memo:
            return
        if remove_duplicate:
            memo.add(self)
        yield prefix, self
        for name, module in self._modules.items():
            if module is None:
                continue
            sub = prefix + ("." if prefix else "") + name
            yield from module.named_modules(memo, sub, remove_duplicate)

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def named_children(self) -> Iterator[tuple[str, Module]]:
        memo = set()
        for name, module in self._modules.items():
            if module is not None and module not in memo:
                memo.add(module)
                yield name, module

    def children(self) -> Iterator[Module]:
        for _, module in self.named_children():
            yield module

    def _named_members(self, registry: str, prefix: str, recurse: bool, remove_duplicate: bool):
        memo = set()
        modules = (self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate)
                   if recurse else [(prefix, self)])
        for module_prefix, module in modules:
            for k, v in module.__dict__[registry].items():
                if v is None or v in memo:
                    continue
                if remove_duplicate:
                    memo.add(v)
                yield module_prefix + ("." if module_prefix else "") + k, v

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True) -> Iterator[tuple[str, Parameter]]:
        """(dotted name, parameter), in registration order, depth first; shared ones once."""
        return self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True) -> Iterator[Parameter]:
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True,
                      remove_duplicate: bool = True) -> Iterator[tuple[str, Tensor]]:
        return self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True) -> Iterator[Tensor]:
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def apply(self, fn: Callable[[Module], None]) -> Module:
        """Call ``fn`` on every sub-module (children first, recursively) and then on self."""
        for module in self.children():
            module.apply(fn)
        fn(self)
        return self

    # -- modes and gradients -------------------------------------------------------------------
    def train(self, mode: bool = True) -> Module:
        if not isinstance(mode, bool):
            raise ValueError("training mode is expected to be boolean")
        self.training = mode
        for module in self.children():
            module.train(mode)
        return self

    def eval(self) -> Module:
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients of all parameters: to None (default), or to zeros in place."""
        reset_grads(self.parameters(), set_to_none)

    # -- dtype conversion ----------------------------------------------------------------------
    def _apply_dtype(self, dtype: np.dtype) -> Module:
        """Cast every floating parameter, its gradient and every floating buffer to ``dtype``.

        Parameters keep their identity (optimizers holding them stay valid), as PyTorch's.
        """
        for module in self.modules():
            for t in (*module._parameters.values(), *module._buffers.values()):
                if t is None or t.data.dtype.kind != "f" or t.data.dtype == dtype:
                    continue
                t.data = t.data.astype(dtype)
                if t.grad is not None and t.grad.data.dtype != dtype:
                    t.grad.data = t.grad.data.astype(dtype)
        return self

    def float(self) -> Module:
        return self._apply_dtype(np.dtype(np.float32))

    def double(self) -> Module:
        return self._apply_dtype(np.dtype(np.float64))

    def half(self) -> Module:
        return self._apply_dtype(np.dtype(np.float16))

    def cpu(self) -> Module:
        return self

    def to(self, *args: Any, **kwargs: Any) -> Module:
        """``to(dtype)``, ``to('cpu')``, ``to('cpu', dtype)``, ``to(tensor)``, ``to(dtype=...)``.

        Only floating-point parameters and buffers are cast; ``dtype`` must be floating point.
        """
        dtype = parse_to_args(args, kwargs)
        if dtype is None:
            return self
        if dtype.kind not in "fc":
            raise TypeError("nn.Module.to only accepts floating point or complex dtypes, but got "
                            f"desired dtype={dtype}")
        return self._apply_dtype(dtype)

    # -- state dict ----------------------------------------------------------------------------
    def state_dict(self, *, destination: dict | None = None, prefix: str = "",
                   keep_vars: bool = False) -> OrderedDict[str, Tensor]:
        """Parameters and persistent buffers by dotted name (``"0.weight"``), PyTorch's order.

        Values are detached Tensors sharing memory with the module's (``keep_vars=True``: the
        Parameters themselves). ``tinygrad_nn.save`` writes it; ``torch.nn.Module`` loads it as
        NumPy arrays converted with ``torch.from_numpy``.
        """
        if destination is None:
            destination = OrderedDict()
        d = self.__dict__
        for name, p in d["_parameters"].items():
            if p is not None:
                destination[prefix + name] = p if keep_vars else p.detach()
        skip = d["_non_persistent_buffers_set"]
        for name, b in d["_buffers"].items():
            if b is not None and name not in skip:
                destination[prefix + name] = b if keep_vars else b.detach()
        for name, module in d["_modules"].items():
            if module is not None:
                module.state_dict(destination=destination, prefix=prefix + name + ".",
                                  keep_vars=keep_vars)
        return destination

    def _local_state(self) -> dict[str, Tensor]:
        d = self.__dict__
        skip = d["_non_persistent_buffers_set"]
        local = {k: v for k, v in d["_parameters"].items() if v is not None}
        local.update((k, v) for k, v in d["_buffers"].items() if v is not None and k not in skip)
        return local

    def _check_state(self, state: Mapping, prefix: str, missing: list, unexpected: list,
                     errors: list, todo: list) -> None:
        """PyTorch's ``_load_from_state_dict`` checks for this module; copies go to ``todo``."""
        local = self._local_state()
        for name, param in local.items():
            key = prefix + name
            if key not in state:
                missing.append(key)
                continue
            value = state[key]
            arr = _state_array(value)
            if arr is None:
                errors.append(f'While copying the parameter named "{key}", expected a Tensor or a '
                              f"NumPy array from checkpoint but received {type(value)}")
                continue
            if arr.dtype.kind not in "biuf":
                errors.append(f'While copying the parameter named "{key}", expected a numeric '
                              f"array from checkpoint but received dtype {arr.dtype}")
                continue
            if param.ndim == 0 and arr.shape == (1,):  # PyTorch's 0.3 -> 0.4 compatibility rule
                arr = arr[0]
            if arr.shape != param.shape:
                errors.append(f"size mismatch for {key}: copying a param with shape "
                              f"{list(arr.shape)} from checkpoint, the shape in current model is "
                              f"{list(param.shape)}.")
                continue
            todo.append((self, name, param, arr))
        modules = self.__dict__["_modules"]
        for key in state:
            if isinstance(key, str) and key.startswith(prefix):
                head = key[len(prefix):].split(".", 1)
                if len(head) > 1:
                    if head[0] not in modules:
                        unexpected.append(key)
                elif head[0] not in local:
                    unexpected.append(key)
            elif not isinstance(key, str) and prefix == "":
                unexpected.append(key)
        for name, child in modules.items():
            if child is not None:
                child_prefix = prefix + name + "."
                sub = {k: v for k, v in state.items()
                       if isinstance(k, str) and k.startswith(child_prefix)}
                child._check_state(sub, child_prefix, missing, unexpected, errors, todo)

    def load_state_dict(self, state_dict: Mapping[str, Any], strict: bool = True,
                        assign: bool = False) -> _IncompatibleKeys:
        """Copy parameters and buffers from ``state_dict`` (Tensors or NumPy arrays) into this
        module and its descendants, casting to each parameter's dtype.

        Raises ``RuntimeError`` ("Error(s) in loading state_dict for ...") listing missing and
        unexpected keys (when ``strict``) and size mismatches (always). Unlike PyTorch, which
        copies the entries that fit before raising, nothing is copied when an error is raised.
        ``assign=True`` makes the module use the state dict's arrays (and dtypes) instead of
        copying into its own. Returns the named tuple ``(missing_keys, unexpected_keys)``.
        """
        if not isinstance(state_dict, Mapping):
            raise TypeError(f"Expected state_dict to be dict-like, got {type(state_dict)}.")
        missing: list[str] = []
        unexpected: list[str] = []
        errors: list[str] = []
        todo: list = []
        self._check_state(state_dict, "", missing, unexpected, errors, todo)
        if strict:
            if unexpected:
                errors.insert(0, "Unexpected key(s) in state_dict: {}. ".format(
                    ", ".join(f'"{k}"' for k in unexpected)))
            if missing:
                errors.insert(0, "Missing key(s) in state_dict: {}. ".format(
                    ", ".join(f'"{k}"' for k in missing)))
        if errors:
            raise RuntimeError("Error(s) in loading state_dict for {}:\n\t{}".format(
                type(self).__name__, "\n\t".join(errors)))
        for module, name, param, arr in todo:
            if assign:
                new = Tensor._make(arr if arr.flags.writeable else arr.copy(), None, False)
                if isinstance(param, Parameter):
                    new = Parameter(new, requires_grad=param.requires_grad)
                setattr(module, name, new)
            else:
                np.copyto(param.data, arr, casting="unsafe")
                param._bump_version()
        return _IncompatibleKeys(missing, unexpected)

    # -- printing ------------------------------------------------------------------------------
    def _get_name(self) -> str:
        return type(self).__name__

    def extra_repr(self) -> str:
        """The text inside the parentheses of this module's repr (override in subclasses)."""
        return ""

    def __repr__(self) -> str:
        extra = self.extra_repr()
        extra_lines = extra.split("\n") if extra else []
        child_lines = [f"({key}): " + _addindent(repr(module), 2)
                       for key, module in self._modules.items()]
        lines = extra_lines + child_lines
        main = self._get_name() + "("
        if lines:
            if len(extra_lines) == 1 and not child_lines:
                main += extra_lines[0]
            else:
                main += "\n  " + "\n  ".join(lines) + "\n"
        return main + ")"
