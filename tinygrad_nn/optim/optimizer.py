"""``Optimizer``: parameter groups, per-parameter state, ``zero_grad`` and state dicts.

As ``torch.optim.Optimizer``: ``param_groups`` is a list of dicts, each with ``"params"`` (a list
of tensors) and every hyper-parameter of ``defaults`` (PyTorch's keys, so a state dict moves
between the two libraries); ``state`` maps a parameter to its dict of buffers. ``step()`` updates
the parameters' NumPy arrays in place (no graph), skips parameters whose ``.grad`` is None, and
bumps each updated parameter's version counter.

State dict layout (PyTorch's)::

    {"state": {0: {"momentum_buffer": tensor}, 1: {...}},        # int index -> buffers
     "param_groups": [{"lr": 0.1, ..., "params": [0, 1]}]}      # indices instead of tensors

``load_state_dict`` also accepts what ``tinygrad_nn.load`` returns for a saved one (NumPy arrays,
Python numbers, int or digit-string keys) and what ``torch.optim`` produces after converting its
tensors to arrays; buffers are copied and cast to their parameter's dtype.
"""

from __future__ import annotations

import copy
import warnings
from collections import defaultdict
from collections.abc import Callable, Iterable
from itertools import chain
from typing import Any

import numpy as np

from ..engine.grad_mode import enable_grad
from ..tensor import Tensor, reset_grads


class _Required:
    """Marks a hyper-parameter with no default (every group must give it)."""

    def __repr__(self) -> str:
        return "<required parameter>"


required = _Required()


def _typename(obj: Any) -> str:
    t = type(obj)
    return t.__qualname__ if t.__module__ == "builtins" else f"{t.__module__}.{t.__qualname__}"


class Optimizer:
    """Base class: subclasses set ``defaults`` and implement ``step``."""

    def __init__(self, params: Iterable, defaults: dict[str, Any]) -> None:
        self.defaults = defaults
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            "Tensors or dicts, but got " + _typename(params))
        self.state: defaultdict[Tensor, dict[str, Any]] = defaultdict(dict)
        self.param_groups: list[dict[str, Any]] = []
        param_groups = list(params)
        if len(param_groups) == 0:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(param_groups[0], dict):
            param_groups = [{"params": param_groups}]
        for group in param_groups:
            self.add_param_group(group)

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        """Append a group (``{"params": [...], "lr": ...}``); missing options take the defaults."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group)}")
        params = param_group["params"]
        if isinstance(params, Tensor):
            param_group["params"] = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, but "
                            "the ordering of tensors in sets will change between runs. Please use "
                            "a list instead.")
        else:
            param_group["params"] = list(params)
        tensors, names = [], []
        for p in param_group["params"]:
            if isinstance(p, tuple):  # named parameters, as from module.named_parameters()
                names.append(p[0])
                p = p[1]
            tensors.append(p)
        param_group["params"] = tensors
        if names:
            if len(names) != len(tensors):
                raise ValueError("all optimizer params should be with/without names. Some param "
                                 "names are missing")
            param_group["param_names"] = names
        for p in tensors:
            if not isinstance(p, Tensor):
                raise TypeError("optimizer can only optimize Tensors, but one of the params is "
                                + _typename(p))
            if not (p.is_leaf or p.retains_grad):
                raise ValueError("can't optimize a non-leaf Tensor")
        for name, default in self.defaults.items():
            if default is required and name not in param_group:
                raise ValueError("parameter group didn't specify a value of required optimization "
                                 f"parameter {name}")
            param_group.setdefault(name, default)
        ids = [id(p) for p in tensors]
        if len(ids) != len(set(ids)):
            warnings.warn("optimizer contains a parameter group with duplicate parameters; in "
                          "future, this will cause an error; see "
                          "github.com/pytorch/pytorch/issues/40967 for more information",
                          stacklevel=3)
        seen = set()
        for group in self.param_groups:
            seen.update(id(p) for p in group["params"])
            if ("param_names" in param_group) != ("param_names" in group):
                which = "with names" if "param_names" in param_group else "without names"
                raise ValueError("all optimizer param groups should be with/without names. "
                                 f"cannot add param group {which} to the optimizer")
        if not seen.isdisjoint(ids):
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(param_group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's gradient: to None (default), or to zeros in place."""
        for group in self.param_groups:
            reset_grads(group["params"], set_to_none)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        raise NotImplementedError

    def _closure(self, closure: Callable[[], Any] | None) -> Any:
        if closure is None:
            return None
        with enable_grad():
            return closure()

    # -- state dict ----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        """``{"state": {index: buffers}, "param_groups": [{..., "params": [indices]}]}``.

        Buffers are the optimizer's own tensors (not copies), as PyTorch's.
        """
        mapping: dict[int, int] = {}
        start = 0
        groups = []
        for group in self.param_groups:
            packed = {k: v for k, v in group.items() if k != "params"}
            for i, p in enumerate(group["params"], start):
                mapping.setdefault(id(p), i)
            packed["params"] = [mapping[id(p)] for p in group["params"]]
            start += len(packed["params"])
            groups.append(packed)
        state = {(mapping[id(k)] if isinstance(k, Tensor) else k): v for k, v in self.state.items()}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore state and hyper-parameters saved by ``state_dict`` (or PyTorch's, as arrays)."""
        if not isinstance(state_dict, dict) or "state" not in state_dict or (
                "param_groups" not in state_dict):
            raise ValueError("expected an optimizer state dict: a dict with 'state' and "
                             f"'param_groups', got {type(state_dict).__name__}")
        groups = self.param_groups
        saved_groups = copy.deepcopy(list(state_dict["param_groups"]))
        if len(groups) != len(saved_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        pairs = zip(groups, saved_groups, strict=True)
        if any(len(g["params"]) != len(s["params"]) for g, s in pairs):
            raise ValueError("loaded state dict contains a parameter group that doesn't match the "
                             "size of optimizer's group")
        id_map = dict(zip((_key(k) for k in chain.from_iterable(s["params"] for s in saved_groups)),
                          chain.from_iterable(g["params"] for g in groups), strict=True))
        state: defaultdict[Any, dict[str, Any]] = defaultdict(dict)
        for k, v in state_dict["state"].items():
            key = _key(k)
            if key in id_map:
                param = id_map[key]
                state[param] = {name: _cast(param, name, value) for name, value in v.items()}
            else:
                state[k] = v
        new_groups = []
        for group, saved in zip(groups, saved_groups, strict=True):
            saved["params"] = group["params"]
            if "param_names" in group and "param_names" not in saved:
                saved["param_names"] = group["param_names"]
            for name, default in self.defaults.items():  # keys missing from older/foreign dicts
                if default is not required:
                    saved.setdefault(name, default)
            new_groups.append(self._restore_group(saved))
        self.state = state
        self.param_groups = new_groups

    def _restore_group(self, group: dict[str, Any]) -> dict[str, Any]:
        """Normalise a loaded group's values (subclasses: e.g. betas back to a tuple)."""
        return group

    def __getstate__(self) -> dict[str, Any]:
        return {"defaults": self.defaults, "state": self.state, "param_groups": self.param_groups}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)

    def __repr__(self) -> str:
        text = type(self).__name__ + " ("
        for i, group in enumerate(self.param_groups):
            text += f"\nParameter Group {i}\n"
            for key in sorted(group.keys()):
                if key != "params":
                    text += f"    {key}: {group[key]}\n"
        return text + ")"


def _key(k: Any) -> Any:
    """State-dict keys come back as int, or as digit strings from some file formats."""
    if isinstance(k, str) and k.isdigit():
        return int(k)
    if isinstance(k, np.integer):
        return int(k)
    return k


def _cast(param: Tensor, name: str, value: Any) -> Any:
    """A loaded state entry as this optimizer keeps it: arrays/tensors become fresh Tensors (cast
    to the parameter's dtype if floating; 'step' a 0-d float tensor), numbers stay numbers."""
    if isinstance(value, Tensor):
        value = value.data
    elif hasattr(value, "__array__") and not isinstance(value, (np.ndarray, np.generic)):
        value = np.asarray(value)  # e.g. a CPU torch.Tensor from torch.optim's state_dict()
    if isinstance(value, (np.ndarray, np.generic)):
        arr = np.asarray(value)
        if name == "step":
            return Tensor._make(np.array(arr, dtype=np.float32 if arr.dtype.kind != "f"
                                         else arr.dtype), None, False)
        if param.data.dtype.kind == "f" and arr.dtype.kind in "biuf":
            arr = np.array(arr, dtype=param.data.dtype)
        else:
            arr = np.array(arr)
        if name != "step" and arr.shape != param.shape:
            raise ValueError(f"loaded optimizer state '{name}' has shape {list(arr.shape)} but its "
                             f"parameter has shape {list(param.shape)}")
        return Tensor._make(arr, None, False)
    if name == "step" and isinstance(value, (int, float)) and not isinstance(value, bool):
        return Tensor._make(np.array(value, dtype=np.float32), None, False)
    if isinstance(value, dict):
        return {k: _cast(param, k, v) for k, v in value.items()}
    return value
