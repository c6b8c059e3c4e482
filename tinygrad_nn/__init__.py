"""tinygrad_nn: a small, fast, readable reverse-mode autograd on NumPy, PyTorch's API.

    import tinygrad_nn as torch          # code written for torch's subset runs unchanged
    x = torch.tensor([1.0, 2.0], requires_grad=True)
    (x * x).sum().backward()             # x.grad == 2x

Layout: ``tensor.py`` (the Tensor), ``engine/`` (graph nodes, backward, grad mode), ``ops/`` (each
op's forward and backward, by family), ``autograd/`` (Function, grad, gradcheck, detect_anomaly),
``nn/``, ``optim/``, ``data/``, ``reference.py`` (the closed-form backprop oracle).
"""

from . import (
    autograd,  # noqa: E402,I001
    dtypes,
)
from .dtypes import (
    bool,  # noqa: A004
    double,
    float,  # noqa: A004
    float16,
    float32,
    float64,
    get_default_dtype,
    half,
    int,  # noqa: A004
    int8,
    int16,
    int32,
    int64,
    long,
    set_default_dtype,
    short,
    uint8,
)
from .engine.grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled
from .factories import (
    arange,
    as_tensor,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    linspace,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randn,
    randn_like,
    randperm,
    tensor,
    zeros,
    zeros_like,
)
from .functions import *  # noqa: F403
from .random import manual_seed
from .tensor import Tensor, cat, matmul, maximum, minimum, stack, where

Size = tuple
__version__ = "0.1.0"
from . import nn, optim, reference  # noqa: E402,F401,I001


def __getattr__(name: str):
    """``tinygrad_nn.data`` and ``save``/``load`` load on first use (they pull in zipfile, gzip,
    urllib and friends, which would double ``import tinygrad_nn``'s time)."""
    import importlib

    if name == "data":
        return importlib.import_module(".data", __name__)
    if name in ("save", "load"):
        return getattr(importlib.import_module(".serialization", __name__), name)
    raise AttributeError(f"module 'tinygrad_nn' has no attribute {name!r}")
