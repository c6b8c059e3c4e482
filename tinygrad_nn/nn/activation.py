"""Activation modules: ``Sigmoid``, ``ReLU``, ``Tanh``, ``Softmax``, ``LogSoftmax``.

Each ``forward`` is one tensor op (one graph node), applied elementwise (or along ``dim`` for the
softmaxes); output shape = input shape.
"""

from __future__ import annotations

from ..tensor import Tensor
from . import functional as F
from .module import Module


class Sigmoid(Module):
    """σ(x) = 1 / (1 + e^−x); σ' = σ(1 − σ)."""

    def forward(self, input: Tensor) -> Tensor:
        return input.sigmoid()


class ReLU(Module):
    """max(x, 0). ``inplace`` is accepted (and shown in the repr) but the result is a new tensor."""

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = inplace

    def forward(self, input: Tensor) -> Tensor:
        return input.relu()

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


class Tanh(Module):
    """tanh(x); tanh' = 1 − tanh²."""

    def forward(self, input: Tensor) -> Tensor:
        return input.tanh()


class Softmax(Module):
    """exp(x_i) / Σ_j exp(x_j) along ``dim`` (None: PyTorch's implicit choice, with a warning)."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return F.softmax(input, self.dim, _stacklevel=5)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"


class LogSoftmax(Module):
    """x_i − log Σ_j exp(x_j) along ``dim``."""

    def __init__(self, dim: int | None = None) -> None:
        super().__init__()
        self.dim = dim

    def forward(self, input: Tensor) -> Tensor:
        return F.log_softmax(input, self.dim, _stacklevel=5)

    def extra_repr(self) -> str:
        return f"dim={self.dim}"
