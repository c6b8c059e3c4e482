"""The systems the benchmarks compare, behind one small interface.

A ``System`` builds a fresh model for a workload (``setup``), trains it on the first ``n``
examples of already shuffled arrays (``train``, the part that is timed), and reports its test
accuracy and its parameters as NumPy arrays ([W1, b1, W2, b2, ...], PyTorch layouts).
"""

from __future__ import annotations

from dataclasses import dataclass

import frameworks
import handwritten
import nielsen
import numpy as np


@dataclass(frozen=True)
class Workload:
    name: str
    sizes: tuple[int, ...]
    batch_size: int
    lr: float
    activation: str             # 'sigmoid' (quadratic cost, one-hot targets) | 'relu' (CE, labels)
    dtypes: tuple[str, ...]
    description: str = ""

    @property
    def onehot(self) -> bool:
        return self.activation == "sigmoid"

    def init(self, rng: np.random.Generator, dtype: str) -> list[np.ndarray]:
        """The workload's initialisation as NumPy arrays (used to start systems identically)."""
        fn = handwritten.init_book if self.onehot else handwritten.init_default
        return fn(rng, list(self.sizes), np.dtype(dtype))


WORKLOADS = {
    "book": Workload("book", (784, 30, 10), 10, 3.0, "sigmoid", ("float32", "float64"),
                     "[784, 30, 10] sigmoid, QuadraticCost (mean), SGD lr=3.0, batch 10, "
                     "N(0,1) init"),
    "wide": Workload("wide", (784, 512, 512, 10), 256, 0.1, "relu", ("float32",),
                     "[784, 512, 512, 10] ReLU, CrossEntropyLoss (class indices), SGD lr=0.1, "
                     "batch 256, PyTorch default init"),
}


class System:
    """Base: ``name``, the workloads it runs, whether it always computes in float64, and whether
    it is timed on part of an epoch only (and scaled) because a whole one would take too long."""

    def __init__(self, name: str, workloads: tuple[str, ...] = ("book", "wide"),
                 always_float64: bool = False, partial_epoch: bool = False):
        self.name = name
        self.workloads = workloads
        self.always_float64 = always_float64
        self.partial_epoch = partial_epoch

    def setup(self, wl: Workload, dtype: str, seed: int, params=None) -> None:
        raise NotImplementedError

    def train(self, x: np.ndarray, y: np.ndarray, n: int) -> None:
        """Train on x[:n], y[:n] (y one-hot for book, labels for wide)."""
        raise NotImplementedError

    def accuracy(self, x: np.ndarray, y: np.ndarray) -> float:
        raise NotImplementedError

    def params(self) -> list[np.ndarray]:
        raise NotImplementedError


class FrameworkSystem(System):
    """tinygrad_nn or torch, running ``frameworks.py`` (the same code for both)."""

    def __init__(self, lib, name: str):
        super().__init__(name)
        self.lib = lib

    def setup(self, wl, dtype, seed, params=None):
        self.lib.manual_seed(seed)
        build = frameworks.build_book if wl.onehot else frameworks.build_wide
        self.model, self.loss_fn, self.opt = build(self.lib, dtype)
        if params is not None:
            frameworks.set_params(self.lib, self.model, params)
        self.wl = wl

    def train(self, x, y, n):
        frameworks.train_epoch(self.lib, self.model, self.loss_fn, self.opt, x[:n], y[:n],
                               self.wl.batch_size)

    def accuracy(self, x, y):
        return frameworks.accuracy(self.lib, self.model, x, y)

    def params(self):
        return frameworks.get_params(self.model)


class NumpySystem(System):
    """Hand-written NumPy (``handwritten.py``): the practical limit for a NumPy framework."""

    def __init__(self):
        super().__init__("hand-written NumPy")

    def setup(self, wl, dtype, seed, params=None):
        self.wl = wl
        if params is None:
            params = wl.init(np.random.default_rng(seed), dtype)
        self._params = [np.array(p, dtype=dtype) for p in params]

    def train(self, x, y, n):
        epoch = handwritten.book_epoch if self.wl.onehot else handwritten.wide_epoch
        epoch(self._params, x[:n], y[:n], self.wl.lr, self.wl.batch_size)

    def accuracy(self, x, y):
        return float((handwritten.predict(self._params, x, self.wl.activation) == y).mean())

    def params(self):
        return [p.copy() for p in self._params]


class NielsenSystem(System):
    """The book's per-example network.py algorithm, float64 (``nielsen.py``), book only."""

    def __init__(self):
        super().__init__("Nielsen per-example (f64)", workloads=("book",), always_float64=True,
                         partial_epoch=True)

    def setup(self, wl, dtype, seed, params=None):
        self.wl = wl
        if params is None:
            params = wl.init(np.random.default_rng(seed), "float64")
        self.net = nielsen.Network(params)

    def train(self, x, y, n):
        x = np.asarray(x[:n], dtype=np.float64)
        y = np.asarray(y[:n], dtype=np.float64)
        self.net.sgd_epoch(x, y, self.wl.lr, self.wl.batch_size)

    def accuracy(self, x, y):
        return float((self.net.predict(x) == y).mean())

    def params(self):
        return [p.copy() for p in self.net.params()]


def make_systems(with_torch: bool = True) -> tuple[list[System], list[str]]:
    """The available systems (tinygrad_nn first) and a list of messages about missing ones."""
    systems: list[System] = []
    problems: list[str] = []
    try:
        import tinygrad_nn
        import tinygrad_nn.nn
        import tinygrad_nn.optim  # noqa: F401

        systems.append(FrameworkSystem(tinygrad_nn, "tinygrad_nn"))
    except Exception as e:  # noqa: BLE001 - the nn/optim layer may not exist yet
        problems.append(f"tinygrad_nn unavailable: {type(e).__name__}: {e}")
    systems.append(NumpySystem())
    if with_torch:
        try:
            import torch

            systems.append(FrameworkSystem(torch, "PyTorch eager"))
        except ImportError:
            problems.append("torch not installed: skipped (pip install torch==2.13.0)")
    systems.append(NielsenSystem())
    return systems, problems
