"""``Linear`` (a fully connected layer) and ``Identity``.

``Linear(in_features, out_features, bias=True)``: ``y = x Wᵀ + b`` with ``weight`` W of shape
(out, in) and ``bias`` b of shape (out,); x (..., in) → y (..., out). PyTorch's initialisation:
``kaiming_uniform_(W, a=√5)``, i.e. W ~ U(−1/√in, 1/√in), and b ~ U(−1/√in, 1/√in).
The forward pass is one fused graph node (``ops.matmul.Linear``, PyTorch's AddmmBackward0).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import dtypes as _dt
from ..ops.matmul import Linear as _LinearOp
from ..tensor import Tensor
from . import functional as F
from . import init
from .module import Module
from .parameter import Parameter


class Identity(Module):
    """Returns its input unchanged (constructor arguments are accepted and ignored)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Any) -> Any:
        return input


class Linear(Module):
    """y = x Wᵀ + b: x (..., in_features) → y (..., out_features).

    ``weight``: Parameter (out_features, in_features); ``bias``: Parameter (out_features,) or
    None. ``dtype`` defaults to the default dtype (float32).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, device=None,
                 dtype=None) -> None:
        super().__init__()
        if device not in (None, "cpu"):
            raise RuntimeError(f"tinygrad_nn only has the 'cpu' device, got {device!r}")
        if in_features < 0 or out_features < 0:
            raise RuntimeError(f"Trying to create tensor with negative dimension "
                               f"{min(in_features, out_features)}: [{out_features}, {in_features}]")
        dt = _dt.get_default_dtype() if dtype is None else _dt.to_dtype(dtype)
        self.in_features = in_features
        self.out_features = out_features
        w = np.empty((out_features, in_features), dt)
        self.weight = Parameter(Tensor._make(w, None, False))
        if bias:
            self.bias = Parameter(Tensor._make(np.empty(out_features, dt), None, False))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """PyTorch's default: W ~ U(−1/√in, 1/√in) (kaiming_uniform_ with a=√5), b likewise."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init._calculate_fan_in_and_fan_out(self.weight)
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:
        w, b = self.weight, self.bias
        try:
            dt = input.data.dtype
            if (dt is w.data.dtype or dt == w.data.dtype) and (
                    b is None or b.data.dtype == dt and b.data.shape == w.data.shape[:1]):
                return _LinearOp.apply(input, w, b)
        except (AttributeError, ValueError):
            pass  # not a Tensor, or shapes that don't fit: F.linear raises PyTorch's error
        return F.linear(input, w, b)  # (also a bias of another shape: it broadcasts there)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")
