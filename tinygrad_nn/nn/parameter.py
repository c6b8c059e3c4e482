"""``Parameter``: a leaf Tensor that a ``Module`` registers as one of its learnable weights.

``Parameter(data=None, requires_grad=True)`` as ``torch.nn.Parameter``: it shares ``data``'s array
(and version counter) without copying, is a leaf, and requires grad by default. ``data=None`` gives
an empty tensor of the default dtype. Assigning a Parameter to a Module attribute registers it, so
``model.parameters()`` finds it.
"""

from __future__ import annotations

import numpy as np

from ..dtypes import get_default_dtype
from ..tensor import Tensor


class Parameter(Tensor):
    """A Tensor that is a module parameter (same slots as Tensor: no per-instance cost)."""

    __slots__ = ()

    def __init__(self, data: Tensor | None = None, requires_grad: bool = True):
        if data is None:
            empty = Tensor._make(np.empty(0, dtype=get_default_dtype()), None, False)
            arr, vc = empty.data, empty._vc
        elif isinstance(data, Tensor):
            arr, vc = data.data, data._vc  # shares memory and version counter, as PyTorch
        else:
            raise TypeError(f"Parameter(): argument 'data' must be a Tensor or None, not "
                            f"{type(data).__name__} (wrap a NumPy array with "
                            "tinygrad_nn.from_numpy or tinygrad_nn.tensor first)")
        self.data = arr
        self._vc = vc
        self._grad = None
        self.grad_fn = None
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()
