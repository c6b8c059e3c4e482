"""Free functions with PyTorch's names (``tinygrad_nn.exp(x)`` == ``x.exp()``, ...)."""

from __future__ import annotations

from .tensor import Tensor, cat, matmul, maximum, minimum, stack, where


def _as_tensor(x):
    return x if isinstance(x, Tensor) else Tensor(x)


def _method(name: str):
    meth = getattr(Tensor, name)

    def fn(input, *args, **kwargs):
        return meth(_as_tensor(input), *args, **kwargs)

    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"``{name}(input, ...)`` is ``input.{name}(...)``."
    return fn


_NAMES = (
    "add sub mul div pow neg abs exp log sqrt sigmoid relu tanh square sign clamp clip "
    "sum mean var std max min amax amin logsumexp softmax log_softmax argmax argmin "
    "reshape flatten squeeze unsqueeze transpose permute swapaxes narrow select chunk split "
    "eq ne lt le gt ge isnan isfinite allclose equal numel multiply divide subtract true_divide "
    "t dot mm"
).split()

for _n in _NAMES:
    globals()[_n] = _method(_n)
concat = concatenate = cat


def is_tensor(obj) -> bool:
    return isinstance(obj, Tensor)


def is_floating_point(t: Tensor) -> bool:
    return t.is_floating_point()


__all__ = [*_NAMES, "cat", "concat", "concatenate", "stack", "where", "matmul", "maximum",
           "minimum", "is_tensor", "is_floating_point"]
