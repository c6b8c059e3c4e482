"""Containers: ``Sequential`` (a pipeline of modules) and ``ModuleList`` (a list of modules).

Both register their items as sub-modules named ``"0"``, ``"1"``, ... (or the keys of an
``OrderedDict`` given to ``Sequential``), so parameters and state-dict keys are PyTorch's
(``"0.weight"``). ``Sequential.forward`` is a plain loop over a tuple of its modules, refreshed
whenever the set of sub-modules changes.
"""

from __future__ import annotations

import operator
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from itertools import chain, islice
from typing import Any

from .module import Module, _addindent


def _reset_modules(self: Module, items: list[tuple[str, Module | None]]) -> None:
    """Replace all sub-modules by ``items`` (used to renumber after deletion or insertion)."""
    d = self.__dict__
    for name in d["_modules"]:
        d.pop(name, None)
    d["_modules"] = dict(items)
    d.update(items)
    self._modules_changed()


class Sequential(Module):
    """Modules applied one after the other: ``Sequential(m0, m1, ...)(x) = ...m1(m0(x))``.

    ``Sequential(OrderedDict(name=module, ...))`` names the sub-modules. Supports indexing
    (an int gives the module, a slice a new Sequential), ``len``, iteration, ``append``,
    ``extend``, ``insert``, ``pop``, ``del`` and ``+``.
    """

    _seq: tuple[Module, ...] = ()
    _direct = True  # every module uses Module.__call__: call .forward directly

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
        self.__dict__["_direct"] = all(type(m).__call__ is Module.__call__ for m in seq)

    def forward(self, input: Any) -> Any:
        if self._direct:  # Module.__call__ is just forward: skip one Python frame per layer
            for module in self._seq:
                input = module.forward(input)
        else:
            for module in self._seq:
                input = module(input)
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
