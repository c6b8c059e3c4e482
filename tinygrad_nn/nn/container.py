"""Containers: ``Sequential`` (a pipeline of modules) and ``ModuleList`` (a list of modules).

Both register their items as sub-modules named ``"0"``, ``"1"``, ... (or the keys of an
``OrderedDict`` given to ``Sequential``), so parameters and state-dict keys are PyTorch's
(``"0.weight"``). ``Sequential.forward`` is a plain loop over a plan of its modules, refreshed
whenever the set of sub-modules changes. In the plan, every run of ``Linear`` layers that are each
followed by a ``Sigmoid``/``ReLU``/``Tanh`` (the last may have none) becomes one graph node,
``ops.mlp.MLP``: the same numbers and gradients as the modules one by one, with one node instead of
two per layer (the book's network is one node). Only the exact classes are fused, so a subclass
with its own ``forward`` runs as written.
"""

from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from itertools import chain, islice
from typing import Any

from ..ops.mlp import MLP as _MLP
from .activation import ReLU, Sigmoid, Tanh
from .linear import Linear
from .module import Module, _addindent, forward_overrides

_ACTS = {Sigmoid: "sigmoid", ReLU: "relu", Tanh: "tanh"}


def _reset_modules(self: Module, items: list[tuple[str, Module | None]]) -> None:
    """Replace all sub-modules by ``items`` (used to renumber after deletion or insertion)."""
    d = self.__dict__
    for name in d["_modules"]:
        d.pop(name, None)
    d["_modules"] = dict(items)
    d.update(items)
    self._modules_changed()


class _Chain:
    """A run of Linear(+activation) modules of a Sequential, called as one ``MLP`` node.

    Only modules running the library's own ``forward`` are fused: before each call the run checks
    (two attribute reads per class, one int compare) that no module got a ``forward`` of its own
    and that no class's ``forward`` was patched since; if one did, the modules run one by one.
    """

    __slots__ = ("layers", "op", "modules", "classes", "seen")

    def __init__(self, modules: list[Module]) -> None:
        self.modules = tuple(modules)
        self.classes = tuple((c, _FORWARDS[c]) for c in dict.fromkeys(type(m) for m in modules))
        self.seen = -1  # the forward_overrides count under which the modules were last checked
        acts, i = [], 0
        while i < len(modules):  # each Linear, then its activation if one follows
            act = _ACTS.get(type(modules[i + 1])) if i + 1 < len(modules) else None
            acts.append(act)
            i += 2 if act else 1
        self.op = _MLP.of(tuple(acts))
        self.layers = tuple(zip((m for m in modules if type(m) is Linear), acts, strict=True))

    def __reduce__(self) -> tuple:
        """Pickled as its modules (its op class is made per architecture, by ``MLP.of``, and
        has no importable name): unpickling builds the run again."""
        return _Chain, (list(self.modules),)

    def __call__(self, x: Any) -> Any:
        if self.seen != forward_overrides[0]:
            self.seen = forward_overrides[0] if _no_own_forward(self.modules) else -1
        if self.seen >= 0:
            for c, f in self.classes:
                if c.forward is not f:
                    break
            else:
                try:
                    return self.op.call(x, self.layers)
                except (AttributeError, TypeError, ValueError):
                    pass  # not a Tensor, mixed dtypes, shapes that don't fit: the modules raise
        for m in self.modules:  # PyTorch's errors, or forwards of their own
            x = m(x)
        return x


_FORWARDS = {c: c.forward for c in (Linear, Sigmoid, ReLU, Tanh)}  # the library's own


def _no_own_forward(modules) -> bool:
    """True if no module has an instance attribute ``forward``."""
    return not any("forward" in m.__dict__ for m in modules)


def _fusion_plan(seq: tuple[Module, ...]) -> tuple:
    """The modules, with runs of Linear(+activation) layers grouped into ``_Chain`` steps."""
    plan: list = []
    i = 0
    while i < len(seq):
        j = i
        while j < len(seq) and type(seq[j]) is Linear:
            j += 2 if j + 1 < len(seq) and type(seq[j + 1]) in _ACTS else 1
            if not _ACTS.get(type(seq[j - 1])):  # a Linear without activation ends the run
                break
        run = list(seq[i:j])
        if len(run) >= 2:
            plan.append(_Chain(run))
            i = j
        else:
            plan.append(seq[i])
            i += 1
    return tuple(plan)


class Sequential(Module):
    """Modules applied one after the other: ``Sequential(m0, m1, ...)(x) = ...m1(m0(x))``.

    ``Sequential(OrderedDict(name=module, ...))`` names the sub-modules. Supports indexing
    (an int gives the module, a slice a new Sequential), ``len``, iteration, ``append``,
    ``extend``, ``insert``, ``pop``, ``del`` and ``+``.
    """

    _seq: tuple[Module, ...] = ()
    _plan: tuple = ()

    def __init__(self, *args: Module) -> None:
        super().__init__()
        if len(args) == 1 and isinstance(args[0], OrderedDict):
            for key, module in args[0].items():
                self.add_module(key, module)
        else:
            for idx, module in enumerate(args):
                self.add_module(str(idx), module)

    def _modules_changed(self) -> None:
        seq = tuple(m for m in self._modules.values() if m is not None)
        self.__dict__["_seq"] = seq
        self.__dict__["_plan"] = _fusion_plan(seq)

    def forward(self, input: Any) -> Any:
        for step in self._plan:
            input = step(input)
        return input

    def _get_item_by_idx(self, iterator: Iterable, idx: int) -> Any:
        size = len(self)
        idx = operator.index(idx)
        if not -size <= idx < size:
            raise IndexError(f"index {idx} is out of range")
        idx %= size
        return next(islice(iterator, idx, None))

    def __getitem__(self, idx: int | slice) -> Any:
        if isinstance(idx, slice):
            return self.__class__(OrderedDict(list(self._modules.items())[idx]))
        return self._get_item_by_idx(self._modules.values(), idx)

    def __setitem__(self, idx: int, module: Module) -> None:
        key = self._get_item_by_idx(self._modules.keys(), idx)
        setattr(self, key, module)

    def __delitem__(self, idx: int | slice) -> None:
        if isinstance(idx, slice):
            for key in list(self._modules.keys())[idx]:
                delattr(self, key)
        else:
            delattr(self, self._get_item_by_idx(self._modules.keys(), idx))
        # keep the numbering contiguous, as PyTorch
        _reset_modules(self, [(str(i), m) for i, m in enumerate(self._modules.values())])

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __add__(self, other: Sequential) -> Sequential:
        if not isinstance(other, Sequential):
            raise ValueError("add operator supports only objects of Sequential class, but "
                             f"{type(other)} is given.")
        ret = Sequential()
        for layer in chain(self, other):
            ret.append(layer)
        return ret

    def __iadd__(self, other: Sequential) -> Sequential:
        """``s += other``: other's modules appended to s itself (as PyTorch)."""
        if not isinstance(other, Sequential):
            raise ValueError("add operator supports only objects of Sequential class, but "
                             f"{type(other)} is given.")
        return self.extend(list(other))

    def __mul__(self, other: int) -> Sequential:
        """``s * n``: a new Sequential of s's modules n times over (the same module objects)."""
        if not isinstance(other, int) or isinstance(other, bool):
            raise TypeError(f"unsupported operand type(s) for *: {type(self)} and {type(other)}")
        if other <= 0:
            raise ValueError(f"Non-positive multiplication factor {other} for {type(self)}")
        ret = Sequential()
        for _ in range(other):
            ret.extend(list(self))
        return ret

    __rmul__ = __mul__

    def __imul__(self, other: int) -> Sequential:
        """``s *= n``: s's modules repeated n times, in s itself."""
        repeated = self * other
        _reset_modules(self, [(str(i), m) for i, m in enumerate(repeated)])
        return self

    def append(self, module: Module) -> Sequential:
        self.add_module(str(len(self)), module)
        return self

    def extend(self, sequential: Iterable[Module]) -> Sequential:
        for layer in sequential:
            self.append(layer)
        return self

    def insert(self, index: int, module: Module) -> Sequential:
        if not isinstance(module, Module):
            raise AssertionError(f"module should be of type: {Module}")
        n = len(self._modules)
        if not -n <= index <= n:
            raise IndexError(f"Index out of range: {index}")
        if index < 0:
            index += n
        mods = list(self._modules.values())
        mods.insert(index, module)
        _reset_modules(self, [(str(i), m) for i, m in enumerate(mods)])
        return self

    def pop(self, key: int | slice) -> Any:
        v = self[key]
        del self[key]
        return v


class ModuleList(Module):
    """A list of sub-modules (registered as ``"0"``, ``"1"``, ...); it has no ``forward``."""

    def __init__(self, modules: Iterable[Module] | None = None) -> None:
        super().__init__()
        if modules is not None:
            self.extend(modules)

    def _get_abs_string_index(self, idx: int) -> str:
        idx = operator.index(idx)
        if not -len(self) <= idx < len(self):
            raise IndexError(f"index {idx} is out of range")
        return str(idx % len(self))

    def __getitem__(self, idx: int | slice) -> Any:
        if isinstance(idx, slice):
            return self.__class__(list(self._modules.values())[idx])
        return self._modules[self._get_abs_string_index(idx)]

    def __setitem__(self, idx: int, module: Module) -> None:
        setattr(self, self._get_abs_string_index(idx), module)

    def __delitem__(self, idx: int | slice) -> None:
        if isinstance(idx, slice):
            for k in range(len(self._modules))[idx]:
                delattr(self, str(k))
        else:
            delattr(self, self._get_abs_string_index(idx))
        _reset_modules(self, [(str(i), m) for i, m in enumerate(self._modules.values())])

    def __len__(self) -> int:
        return len(self._modules)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._modules.values())

    def __iadd__(self, modules: Iterable[Module]) -> ModuleList:
        return self.extend(modules)

    def __add__(self, other: Iterable[Module]) -> ModuleList:
        combined = ModuleList()
        for i, module in enumerate(chain(self, other)):
            combined.add_module(str(i), module)
        return combined

    def insert(self, index: int, module: Module) -> None:
        mods = list(self._modules.values())
        mods.insert(index, module)
        _reset_modules(self, [(str(i), m) for i, m in enumerate(mods)])

    def append(self, module: Module) -> ModuleList:
        self.add_module(str(len(self)), module)
        return self

    def pop(self, key: int | slice) -> Any:
        v = self[key]
        del self[key]
        return v

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        if not isinstance(modules, Iterable):
            raise TypeError("ModuleList.extend should be called with an iterable, but got "
                            + type(modules).__name__)
        offset = len(self)
        for i, module in enumerate(modules):
            self.add_module(str(offset + i), module)
        return self

    def __repr__(self) -> str:
        """PyTorch's compressed repr: runs of identical items print once as ``(i-j): n x ...``."""
        reprs = [repr(item) for item in self]
        if not reprs:
            return self._get_name() + "()"
        blocks: list[list] = [[0, 0, reprs[0]]]
        for i, r in enumerate(reprs[1:], 1):
            if r == blocks[-1][2]:
                blocks[-1][1] = i
            else:
                blocks.append([i, i, r])
        lines = []
        for start, end, r in blocks:
            if start == end:
                text = f"({start}): {r}"
            else:
                text = f"({start}-{end}): {end - start + 1} x {r}"
            lines.append(_addindent(text, 2))
        return self._get_name() + "(\n  " + "\n  ".join(lines) + "\n)"
