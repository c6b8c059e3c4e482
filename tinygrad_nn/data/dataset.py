"""``Dataset``, ``TensorDataset`` and ``DataLoader`` with PyTorch's semantics (single process).

A ``DataLoader`` turns a map-style dataset (``__getitem__(int)`` and ``__len__``) into batches:
each epoch (each ``iter()``) it takes the indices ``0 .. len(dataset)-1`` in order, or in a fresh
random permutation when ``shuffle=True``, cuts them into runs of ``batch_size`` (the last run
shorter, or dropped with ``drop_last=True``), fetches the examples of each run and collates them
into a batch with :func:`default_collate`, which stacks like ``torch.utils.data.default_collate``.

For a :class:`TensorDataset` there is a fast path: a batch is made by indexing each underlying
array once with the run's index array, with no per-example Python work. It returns exactly what
the generic path would (a list of tensors with a new leading batch dimension).
"""

from __future__ import annotations

import collections.abc
import copy
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

from .. import random as _random
from ..dtypes import get_default_dtype

__all__ = ["Dataset", "TensorDataset", "DataLoader", "default_collate", "default_convert"]

_COLLATE_TYPE_ERROR = (
    "default_collate: batch must contain tensors, numpy arrays, numbers, dicts or lists; found {}"
)


def _core():
    """The top-level package, imported late so this module loads before the Tensor core."""
    import tinygrad_nn

    return tinygrad_nn


class Dataset:
    """A map-style dataset: subclasses define ``__getitem__(index)`` and usually ``__len__``."""

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError("Subclasses of Dataset should implement __getitem__.")


class TensorDataset(Dataset):
    """Examples are the rows of tensors that share their first dimension.

    ``TensorDataset(x, y)[i] == (x[i], y[i])``; ``len`` is that first dimension. NumPy arrays are
    accepted and wrapped without copying (``from_numpy``).
    """

    def __init__(self, *tensors: Any):
        core = _core()
        wrapped = []
        for t in tensors:
            if isinstance(t, np.ndarray):
                t = core.from_numpy(t)
            elif not isinstance(t, core.Tensor):
                raise TypeError(f"TensorDataset expects Tensors, got {type(t).__name__}")
            if t.ndim == 0:
                raise ValueError("TensorDataset needs tensors with at least one dimension")
            wrapped.append(t)
        if any(t.shape[0] != wrapped[0].shape[0] for t in wrapped):
            # PyTorch asserts this (AssertionError); raised explicitly so it survives python -O.
            raise AssertionError(
                "Size mismatch between tensors: first dimensions are "
                f"{[t.shape[0] for t in wrapped]}"
            )
        self.tensors: tuple = tuple(wrapped)

    def __getitem__(self, index):
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        if not self.tensors:
            raise IndexError("TensorDataset holds no tensors, so it has no length")
        return self.tensors[0].shape[0]


def _stack(arrays: list[np.ndarray]):
    shapes = [a.shape for a in arrays]
    for i, s in enumerate(shapes):
        if s != shapes[0]:
            raise RuntimeError(
                "stack expects each tensor to be equal size, but got "
                f"{list(shapes[0])} at entry 0 and {list(s)} at entry {i}"
            )
    core = _core()
    dt = arrays[0].dtype
    if any(a.dtype != dt for a in arrays):  # mixed dtypes: PyTorch's promotion, as torch.stack
        return core.stack([core.from_numpy(np.asarray(a)) for a in arrays], 0)
    return core.from_numpy(np.stack(arrays))


def _python_numbers(batch) -> np.ndarray:
    """torch.tensor(list of Python ints/bools/floats): bool, int64, or the default float dtype."""
    if all(isinstance(b, bool) for b in batch):
        return np.array(batch, dtype=np.bool_)
    if all(isinstance(b, int) for b in batch):
        return np.array(batch, dtype=np.int64)
    return np.array(batch, dtype=get_default_dtype())


def default_collate(batch: list) -> Any:
    """Merge a list of examples into a batch, as ``torch.utils.data.default_collate``.

    By the type of the first element:
    - Tensor -> the tensors stacked along a new dim 0 (``stack``; tracked if any requires grad);
    - NumPy array -> stacked into a Tensor of the arrays' dtype (string/object arrays: TypeError);
      NumPy scalar -> a 1-D Tensor of its dtype;
    - Python float -> float64 Tensor (shape (B,)); Python int -> int64 Tensor (bool if all are
      bools); str / bytes -> the list unchanged;
    - Mapping -> the same mapping with each key collated; namedtuple -> the same namedtuple of
      collated fields; other sequences -> collated position by position (a tuple becomes a
      list, as in PyTorch); elements must have equal lengths (RuntimeError otherwise).
    Anything else raises TypeError.
    """
    core = _core()
    elem = batch[0]
    if isinstance(elem, core.Tensor):
        if any(t.requires_grad for t in batch):
            return core.stack(list(batch), 0)
        return _stack([t.data for t in batch])
    if isinstance(elem, np.ndarray):
        if elem.dtype.kind in "OSUV":
            raise TypeError(_COLLATE_TYPE_ERROR.format(elem.dtype))
        return _stack(list(batch))
    if isinstance(elem, (np.bool_, np.number)):
        return _stack([np.asarray(b) for b in batch])
    if isinstance(elem, float):
        return core.from_numpy(np.array(batch, dtype=np.float64))
    if isinstance(elem, int):
        return core.from_numpy(_python_numbers(batch))
    if isinstance(elem, (str, bytes)):
        return batch
    if isinstance(elem, collections.abc.Mapping):
        collated = {key: default_collate([d[key] for d in batch]) for key in elem}
        try:
            if isinstance(elem, collections.abc.MutableMapping):
                clone = copy.copy(elem)
                clone.update(collated)
                return clone
            return type(elem)(collated)
        except TypeError:
            return collated
    if isinstance(elem, tuple) and hasattr(elem, "_fields"):  # namedtuple
        return type(elem)(*(default_collate(list(s)) for s in zip(*batch, strict=True)))
    if isinstance(elem, collections.abc.Sequence):
        size = len(elem)
        if any(len(e) != size for e in batch):
            raise RuntimeError("each element in list of batch should be of equal size")
        collated = [default_collate(list(s)) for s in zip(*batch, strict=True)]
        if isinstance(elem, tuple):
            return collated  # PyTorch returns a list for tuples
        try:
            if isinstance(elem, collections.abc.MutableSequence):
                clone = copy.copy(elem)
                for i, c in enumerate(collated):
                    clone[i] = c
                return clone
            return type(elem)(collated)
        except TypeError:
            return collated
    raise TypeError(_COLLATE_TYPE_ERROR.format(type(elem)))


def default_convert(data: Any) -> Any:
    """``torch.utils.data.default_convert``: NumPy arrays/scalars to Tensors, recursively.

    Used when ``batch_size=None`` (no batching). String and object arrays, Python numbers,
    strings and Tensors pass through; tuples become lists, as in PyTorch.
    """
    core = _core()
    if isinstance(data, np.ndarray):
        return data if data.dtype.kind in "OSUV" else core.from_numpy(data)
    if isinstance(data, (np.bool_, np.number)):
        return core.from_numpy(np.asarray(data))
    if isinstance(data, (str, bytes, core.Tensor)):
        return data
    if isinstance(data, collections.abc.Mapping):
        converted = {key: default_convert(data[key]) for key in data}
        try:
            if isinstance(data, collections.abc.MutableMapping):
                clone = copy.copy(data)
                clone.update(converted)
                return clone
            return type(data)(converted)
        except TypeError:
            return converted
    if isinstance(data, tuple) and hasattr(data, "_fields"):
        return type(data)(*(default_convert(d) for d in data))
    if isinstance(data, tuple):
        return [default_convert(d) for d in data]
    if isinstance(data, collections.abc.Sequence):
        converted = [default_convert(d) for d in data]
        try:
            if isinstance(data, collections.abc.MutableSequence):
                clone = copy.copy(data)
                for i, c in enumerate(converted):
                    clone[i] = c
                return clone
            return type(data)(converted)
        except TypeError:
            return converted
    return data


class DataLoader:
    """Iterate over a map-style dataset in batches, as ``torch.utils.data.DataLoader``.

    - ``batch_size``: a positive int, or ``None`` to yield single examples (converted with
      :func:`default_convert`) without batching.
    - ``shuffle``: a new random permutation of the indices each epoch (each ``iter()``), drawn
      from ``generator``: a ``numpy.random.Generator`` (used as is, so epochs differ but the
      sequence is reproducible), an int seed (a Generator seeded once, here), or ``None``: the
      global generator that ``tinygrad_nn.manual_seed`` resets, looked up at each ``iter()``.
    - ``drop_last``: drop the last batch if it is smaller than ``batch_size``.
    - ``collate_fn``: turns a list of examples into a batch (default :func:`default_collate`).

    ``len(loader)`` is the number of batches: ``ceil(n / batch_size)``, or ``n // batch_size``
    with ``drop_last=True``. Datasets that define ``__getitems__(indices)`` get whole batches of
    indices (as in PyTorch). Only single-process loading; the other PyTorch options
    (``num_workers``, ``sampler``, ``pin_memory``, ...) are not supported.
    """

    def __init__(
        self,
        dataset: Any,
        batch_size: int | None = 1,
        shuffle: bool | None = False,
        drop_last: bool = False,
        generator: np.random.Generator | int | None = None,
        collate_fn: Callable[[list], Any] | None = None,
    ):
        if batch_size is not None and (
            isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0
        ):
            raise ValueError(
                f"batch_size should be a positive integer value, but got batch_size={batch_size}"
            )
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be a boolean value, but got drop_last={drop_last}")
        if batch_size is None and drop_last:
            raise ValueError(
                "batch_size=None option disables auto-batching and is mutually exclusive with "
                "drop_last"
            )
        if isinstance(generator, bool) or not (
            generator is None or isinstance(generator, (int, np.integer, np.random.Generator))
        ):
            raise TypeError(
                "generator must be a numpy.random.Generator, an int seed or None, got "
                f"{type(generator).__name__}"
            )
        if shuffle and len(dataset) <= 0:
            raise ValueError(
                "num_samples should be a positive integer value, but got "
                f"num_samples={len(dataset)}"
            )
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = bool(shuffle)
        self.drop_last = drop_last
        self.generator = generator
        if collate_fn is None:  # as PyTorch: no batching converts, batching collates
            collate_fn = default_convert if batch_size is None else default_collate
        self.collate_fn = collate_fn
        self._rng = (
            np.random.default_rng(int(generator))
            if isinstance(generator, (int, np.integer))
            else generator
        )

    def __len__(self) -> int:
        n = len(self.dataset)
        if self.batch_size is None:
            return n
        if self.drop_last:
            return n // self.batch_size
        return -(-n // self.batch_size)

    def _indices(self) -> np.ndarray:
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        rng = self._rng if self._rng is not None else _random.default_generator()
        return rng.permutation(n)

    def __iter__(self) -> Iterator[Any]:
        # The permutation is drawn now, at iter(), not lazily at the first next().
        return self._batches(self._indices())

    def _batches(self, indices: np.ndarray) -> Iterator[Any]:
        dataset = self.dataset
        if self.batch_size is None:  # no batching: collate_fn (default_convert) per example
            collate = self.collate_fn
            for i in indices.tolist():
                yield collate(dataset[i])
            return
        cls = type(dataset)
        fast = (
            self.collate_fn is default_collate
            and isinstance(dataset, TensorDataset)
            and cls.__getitem__ is TensorDataset.__getitem__
            and getattr(cls, "__getitems__", None) is getattr(TensorDataset, "__getitems__", None)
        )
        getitems = getattr(dataset, "__getitems__", None)
        bs, n = self.batch_size, len(indices)
        stop = n - n % bs if self.drop_last else n
        for start in range(0, stop, bs):
            idx = indices[start : start + bs]
            if fast:
                yield self._tensor_batch(dataset, idx)
                continue
            idx_list = idx.tolist()
            data = getitems(idx_list) if getitems else [dataset[i] for i in idx_list]
            yield self.collate_fn(data)

    @staticmethod
    def _tensor_batch(dataset: TensorDataset, idx: np.ndarray) -> list:
        """One fancy-indexing step per tensor; a tensor that requires grad is indexed as a Tensor
        (so the batch stays in its graph, as stacking its rows would in PyTorch)."""
        from_numpy = _core().from_numpy
        return [t[idx] if t.requires_grad else from_numpy(t.data[idx]) for t in dataset.tensors]
