"""``Tensor``: a NumPy array plus what reverse-mode autograd needs.

A Tensor holds ``data`` (the NumPy array), ``requires_grad``, ``grad`` (a Tensor or None) and
``grad_fn`` (the graph node of the op that made it, or None for a leaf). Every method that computes
something calls ``SomeOp.apply`` (see ``engine/node.py`` and the ``ops`` package); this file only
parses PyTorch's arguments (dims, shapes, scalars, dtypes) and dispatches.

Type promotion is PyTorch's (``dtypes.result_type``): Python scalars are weak, 0-d tensors do not
promote n-d tensors of the same category, integer tensors with a Python float give the default
float dtype.
"""

from __future__ import annotations

import builtins
import weakref
from collections import namedtuple

import numpy as np

from . import dtypes as _dt
from .engine import backward as _engine
from .engine import node as _node
from .engine.constants import consts
from .engine.grad_mode import mode as _mode
from .engine.grad_mode import no_grad
from .engine.node import clock as _clock

_Scalar = (builtins.int, builtins.float, builtins.bool, np.number, np.bool_)
_ARRAY = np.ndarray
_new_object = object.__new__
# id -> the non-leaf tensors retain_grad() was called on (Tensor.retains_grad; weak values: an
# entry goes with its tensor, before the id can be reused)
_retaining: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
# the (values, indices) results of max(dim) / min(dim), named as PyTorch's torch.return_types
_return_types = {
    True: namedtuple("max", ["values", "indices"], module="tinygrad_nn.return_types"),
    False: namedtuple("min", ["values", "indices"], module="tinygrad_nn.return_types"),
}


def _as_array(data, dtype=None) -> np.ndarray:
    """Convert Python/NumPy data to a fresh array with PyTorch's dtype inference."""
    if isinstance(data, Tensor):
        arr = data.data
        return np.array(arr, dtype=arr.dtype if dtype is None else _dt.to_dtype(dtype),
                        copy=True)
    if dtype is not None:
        return np.array(_unwrap_nested(data), dtype=_dt.to_dtype(dtype))
    if isinstance(data, np.ndarray):
        return np.array(data, dtype=_dt.check(data.dtype), copy=True)
    if isinstance(data, (np.generic,)):
        return np.array(data)
    arr = np.array(_unwrap_nested(data))
    if arr.dtype.kind in "uO":  # NumPy's type for Python ints past int64 (never wrap them)
        arr = _big_ints(arr)
    if arr.dtype.kind == "f":
        return arr.astype(_dt.get_default_dtype(), copy=False)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64, copy=False)
    if arr.dtype.kind == "b":
        return arr
    if arr.dtype.kind in "USa":  # PyTorch: TypeError for strings ...
        raise TypeError(
            f"can't convert {type(data).__name__} of dtype {arr.dtype} to a tensor: expected "
            "numbers, (nested) lists of numbers, or a NumPy array of a numeric or bool dtype"
        )
    bad = data if arr.ndim == 0 else next(
        (v for v in arr.ravel() if not isinstance(v, (builtins.int, builtins.float))), data)
    raise RuntimeError(  # ... and RuntimeError for other objects (None, a dict, ...)
        f"Could not infer dtype of {type(bad).__name__} (expected numbers, (nested) lists of "
        "numbers, or a NumPy array of a numeric or bool dtype)"
    )


def _big_ints(arr: np.ndarray) -> np.ndarray:
    """The array of Python numbers NumPy could not fit in int64 (uint64, or objects): floats if
    there is a float among them (as PyTorch), else PyTorch's ValueError. Other objects: as is."""
    vals = arr.ravel().tolist()
    if not all(type(v) in (builtins.int, builtins.float) for v in vals):
        return arr  # (None, a dict, ...: the caller's error)
    if any(type(v) is builtins.float for v in vals):
        return arr.astype(np.float64)
    big = next((v for v in vals if not -(2**63) <= v < 2**63), None)
    if big is None:  # (NumPy scalars of a narrower unsigned type)
        return arr
    raise ValueError(f"Overflow when unpacking long long: {big} does not fit in int64 (a tensor "
                     "of Python ints holds -2**63 .. 2**63 - 1)")


def _unwrap_nested(data):
    if isinstance(data, (list, tuple)) and any(isinstance(d, Tensor) for d in data):
        return [d.data if isinstance(d, Tensor) else _unwrap_nested(d) for d in data]
    return data


def _axes(dim, ndim: int):
    """Normalise ``dim`` (None, int or tuple; negative allowed) to None (every dim: also for an
    empty tuple or list, as PyTorch's reductions read it) or a sorted tuple."""
    if dim is None:
        return None
    dims = dim if isinstance(dim, (tuple, list)) else (dim,)
    if not dims:
        return None
    lo, hi = (-1, 0) if ndim == 0 else (-ndim, ndim - 1)
    out = []
    for d in dims:
        if not isinstance(d, (builtins.int, np.integer)):
            raise TypeError(f"dim must be an int or a tuple of ints, got {type(d).__name__}")
        if not lo <= d <= hi:
            raise IndexError(
                f"Dimension out of range (expected to be in range of [{lo}, {hi}], but got {d})"
            )
        out.append(d % ndim if ndim else 0)
    if len(set(out)) != len(out):
        raise RuntimeError(f"dim {out} appears multiple times in the list of dims")
    return tuple(sorted(out)) if ndim else None


def _dim1(dim, ndim: int) -> int:
    """Normalise a single dim (negative allowed) for an op on ``ndim`` dims."""
    lo, hi = (-1, 0) if ndim == 0 else (-ndim, ndim - 1)
    if not isinstance(dim, (builtins.int, np.integer)) or not lo <= dim <= hi:
        raise IndexError(
            f"Dimension out of range (expected to be in range of [{lo}, {hi}], but got {dim})"
        )
    return dim % ndim if ndim else 0


def _shape_arg(args) -> tuple:
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    return tuple(int(a) for a in args)


class Tensor:
    """An n-dimensional array that records the operations applied to it (when it requires grad).

    ``Tensor(data, dtype=None, requires_grad=False)`` behaves as ``torch.tensor``: it copies
    ``data``; Python floats get the default dtype (float32), ints int64, bools bool; a NumPy array
    keeps its dtype. Only floating tensors can require grad.
    """

    # ``_grad``: None, a Tensor, or a bare ndarray that the engine stored (see ``grad``)
    __slots__ = ("data", "_grad", "requires_grad", "grad_fn", "_vc", "__weakref__")
    __array_ufunc__ = None  # ndarray (op) Tensor defers to Tensor's reflected operator

    def __init__(self, data, dtype=None, requires_grad: bool = False):
        arr = _as_array(data, dtype)
        self.data = arr
        self._grad = None
        self.grad_fn = None
        self._vc = [0, 0]
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @staticmethod
    def _make(data, grad_fn, requires_grad: bool):
        """Wrap an op's result (no copy, no checks): the engine's fast constructor."""
        t = _new_object(Tensor)
        t.data = data if type(data) is _ARRAY else np.asarray(data)
        t._grad = None
        t.grad_fn = grad_fn
        t.requires_grad = requires_grad
        t._vc = [0, 0]
        return t

    # -- attributes ----------------------------------------------------------------------------
    @property
    def grad(self) -> Tensor | None:
        """The gradient accumulated by backward (a Tensor of this tensor's shape), or None.

        backward stores a fresh gradient as a bare array, wrapped into its Tensor here on first
        access: a training loop whose optimizer reads the arrays directly makes no Tensor for it.
        """
        g = self._grad
        if type(g) is _ARRAY:
            g = self._grad = Tensor._make(g, None, False)
        return g

    @grad.setter
    def grad(self, value: Tensor | None) -> None:
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"assigned grad expected to be a Tensor or None but got grad of "
                                f"type {type(value).__name__}")
            if value.data.shape != self.data.shape:
                raise RuntimeError(f"assigned grad has data of a different size: expected "
                                   f"{self.data.shape}, got {value.data.shape}")
            if value.data.dtype != self.data.dtype:
                raise RuntimeError(f"attempting to assign a gradient with dtype "
                                   f"{value.data.dtype} to a tensor with dtype "
                                   f"{self.data.dtype}: the gradient must match the tensor's "
                                   f"dtype")
        self._grad = value

    @property
    def shape(self) -> tuple:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    @property
    def device(self) -> str:
        return "cpu"

    @property
    def _version(self) -> int:
        return self._vc[0]

    def _bump_version(self) -> None:
        """Record an in-place change made directly on ``data`` (optimizers, nn.init)."""
        _clock[0] += 1
        vc = self._vc
        vc[0] += 1
        vc[1] = _clock[0]

    @property
    def T(self) -> Tensor:
        return self.permute(*range(self.ndim - 1, -1, -1))

    @property
    def mT(self) -> Tensor:
        if self.ndim < 2:
            raise RuntimeError(
                f"tensor.mT is only supported on matrices or batches of matrices. "
                f"Got {self.ndim}-D tensor."
            )
        return self.transpose(-2, -1)

    def size(self, dim=None):
        return self.shape if dim is None else self.shape[_dim1(dim, self.ndim)]

    def dim(self) -> int:
        return self.data.ndim

    def numel(self) -> int:
        return self.data.size

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def item(self):
        if self.data.size != 1:
            raise RuntimeError(
                f"a Tensor with {self.data.size} elements cannot be converted to Scalar"
            )
        return self.data.item()

    def tolist(self):
        return self.data.tolist()

    def numpy(self) -> np.ndarray:
        if self.requires_grad:
            raise RuntimeError(
                "Can't call numpy() on Tensor that requires grad. "
                "Use tensor.detach().numpy() instead."
            )
        return self.data

    def __array__(self, dtype=None, copy=None):
        if dtype is not None and np.dtype(dtype) != self.data.dtype:
            return self.data.astype(dtype)
        return self.data.copy() if copy else self.data

    def __bool__(self) -> bool:
        if self.data.size != 1:
            raise RuntimeError(f"Boolean value of Tensor with {self.data.size} values is ambiguous")
        return builtins.bool(self.data)

    def __float__(self) -> float:
        if self.data.size != 1:  # (PyTorch: ValueError here, RuntimeError from item())
            raise ValueError("only one element tensors can be converted to Python scalars")
        return builtins.float(self.data.item())

    def __int__(self) -> int:
        if self.data.size != 1:
            raise ValueError("only one element tensors can be converted to Python scalars")
        return builtins.int(self.data.item())

    def __index__(self) -> int:
        if self.data.dtype.kind not in "iub" or self.data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an index")
        return builtins.int(self.data)

    __hash__ = object.__hash__

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    def __repr__(self) -> str:
        from .printing import tensor_repr

        return tensor_repr(self)

    # -- autograd ------------------------------------------------------------------------------
    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and self.data.dtype.kind not in "fc":
            raise RuntimeError(
                f"only Tensors of floating point dtype can require gradients (got {self.dtype})"
            )
        if not requires_grad and self.grad_fn is not None:
            raise RuntimeError(
                "you can only change requires_grad flags of leaf variables. If you want to use a "
                "computed variable in a subgraph that doesn't require differentiation use "
                "var_no_grad = var.detach()."
            )
        self.requires_grad = builtins.bool(requires_grad)
        return self

    def detach(self) -> Tensor:
        """A new leaf sharing this tensor's data (and version counter), not requiring grad."""
        t = Tensor._make(self.data, None, False)
        t._vc = self._vc
        return t

    def detach_(self) -> Tensor:
        self.grad_fn = None
        self.requires_grad = False
        return self

    def retain_grad(self) -> None:
        """Make backward fill ``.grad`` of this non-leaf tensor too."""
        if not self.requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self.grad_fn is not None:
            self.grad_fn._retained = weakref.ref(self)
            _retaining[id(self)] = self  # (the node forgets it when backward frees it)

    @property
    def retains_grad(self) -> bool:
        """Whether ``retain_grad()`` was called on this non-leaf tensor (stays True after
        backward, as PyTorch's)."""
        return self.grad_fn is not None and _retaining.get(id(self)) is self

    def backward(
        self, gradient=None, retain_graph=None, create_graph: bool = False, inputs=None
    ) -> None:
        """Accumulate d(self)/d(leaf) · gradient into ``.grad`` of every leaf that requires it."""
        if (gradient is None and inputs is None and not create_graph
                and self.grad_fn is not None and self.data.ndim == 0):  # the usual loss.backward()
            root = self.grad_fn.backward_root  # a cost over its MLP (ops/loss.py): one call
            if root is None or not root(retain_graph):  # else the engine, from dC/dC = 1
                _engine.run((self,), (consts[self.data.dtype][2],), retain_graph, False)
            return
        from .autograd.functional import backward as _backward

        _backward(
            (self,),
            None if gradient is None else (gradient,),
            retain_graph,
            create_graph,
            inputs=inputs,
        )

    def register_hook(self, hook):  # pragma: no cover - not part of the contract
        raise NotImplementedError("tensor hooks are not supported by tinygrad_nn")

    # -- in place (tracked with the version counter) -------------------------------------------
    def _inplace(self, op, *args, **kw) -> Tensor:
        """Run ``op`` out of place and write the result into self, bumping the version.

        In the graph (grad mode, self or an argument requires grad) the op is recorded on a
        snapshot of self's old value, and self takes over the new node, as PyTorch rebases
        history. A leaf that requires grad can't be modified in place outside no_grad.
        """
        tracked = _mode.enabled and (
            self.requires_grad or any(isinstance(a, Tensor) and a.requires_grad for a in args)
        )
        if tracked:
            if self.grad_fn is None and self.requires_grad:
                raise RuntimeError(
                    "a leaf Variable that requires grad is being used in an in-place operation."
                )
            base = self.data.base
            if (base is not None and len(self._vc) > 2
                    and getattr(base, "flat_params", None) is None):
                # shares memory with another tensor: its graph can't follow (SGD's flat array
                # of parameters, optim/flat.py, is no such tensor: each view is one parameter's)
                raise RuntimeError(
                    "in-place operation on a view of a tensor that is part of the graph is not "
                    "supported by tinygrad_nn (the other tensor's gradient would be wrong); "
                    "clone() it first, or compute the new value out of place"
                )
            old = Tensor._make(self.data.copy(), self.grad_fn, self.requires_grad)
            res = op(old, *args, **kw)
        else:
            with no_grad():
                res = op(self, *args, **kw)
        if res.shape != self.shape:
            raise RuntimeError(
                f"output with shape {list(self.shape)} doesn't match the broadcast "
                f"shape {list(res.shape)}"
            )
        if not np.can_cast(res.dtype, self.dtype, "same_kind"):
            raise RuntimeError(
                f"result type {res.dtype} can't be cast to the desired output type {self.dtype}"
            )
        if not self.data.flags.writeable:  # expand()'s view repeats memory (or a read-only array)
            raise RuntimeError(
                "unsupported operation: more than one element of the written-to tensor refers to "
                "a single memory location (or its memory is read-only). Please clone() the "
                "tensor before performing the operation."
            )
        np.copyto(self.data, res.data, casting="same_kind")
        _node.bump(self._vc)
        if tracked:
            old_fn = self.grad_fn
            if old_fn is not None and old_fn._retained is not None and old_fn._retained() is self:
                old_fn._retained = None  # retain_grad() follows the tensor to its new value
                res.grad_fn._retained = weakref.ref(self)
            self.grad_fn, self.requires_grad = res.grad_fn, True
        return self

    def add_(self, other, *, alpha=1) -> Tensor:
        return self._inplace(Tensor.add, other, alpha=alpha)

    def sub_(self, other, *, alpha=1) -> Tensor:
        return self._inplace(Tensor.sub, other, alpha=alpha)

    def mul_(self, other) -> Tensor:
        return self._inplace(Tensor.mul, other)

    def div_(self, other) -> Tensor:
        return self._inplace(Tensor.div, other)

    def clamp_(self, min=None, max=None) -> Tensor:
        return self._inplace(Tensor.clamp, min, max)

    def zero_(self) -> Tensor:
        return self.fill_(0)

    def fill_(self, value) -> Tensor:
        if isinstance(value, Tensor):
            if value.ndim != 0:
                raise RuntimeError(
                    f"fill_ only supports 0-dimension value tensor but got tensor "
                    f"with {value.ndim} dimensions."
                )
            return self.copy_(value)
        return self._inplace(
            _overwrite, Tensor._make(np.asarray(value, self.data.dtype), None, False)
        )

    def copy_(self, src) -> Tensor:
        src = src if isinstance(src, Tensor) else Tensor(src)
        return self._inplace(_overwrite, src)

    def __iadd__(self, other):
        return self.add_(other)

    def __isub__(self, other):
        return self.sub_(other)

    def __imul__(self, other):
        return self.mul_(other)

    def __itruediv__(self, other):
        return self.div_(other)

    # -- dtype ---------------------------------------------------------------------------------
    def to(self, *args, **kwargs) -> Tensor:
        """``to(dtype)`` / ``to('cpu')`` / ``to('cpu', dtype)``: differentiable cast."""
        dtype = parse_to_args(args, kwargs)
        if dtype is None or dtype == self.data.dtype:
            return self.clone() if _to_copy(args, kwargs) else self
        if dtype.kind not in "fc":  # integer/bool results are not differentiable
            return Tensor._make(self.data.astype(dtype), None, False)
        return _ew.Cast.apply(self, dtype=dtype)

    def type(self, dtype=None):
        return self.dtype if dtype is None else self.to(dtype)

    def float(self) -> Tensor:
        return self.to(np.float32)

    def double(self) -> Tensor:
        return self.to(np.float64)

    def half(self) -> Tensor:
        return self.to(np.float16)

    def long(self) -> Tensor:
        return self.to(np.int64)

    def int(self) -> Tensor:
        return self.to(np.int32)

    def bool(self) -> Tensor:
        return self.to(np.bool_)

    def cpu(self) -> Tensor:
        return self

    def clone(self) -> Tensor:
        return (
            _ew.Clone.apply(self)
            if self.requires_grad
            else Tensor._make(self.data.copy(), None, False)
        )

    def contiguous(self) -> Tensor:
        return self

    def is_floating_point(self) -> bool:
        return self.data.dtype.kind == "f"

    # -- binary arithmetic ---------------------------------------------------------------------
    def _binary(self, cls, other, reflected=False):
        a = self.data
        if isinstance(other, Tensor):
            b = other.data
            if a.dtype is not b.dtype:
                if cls is _ew.Sub:
                    _ew.check_sub(a, b)  # a bool operand: PyTorch's error (before the cast)
                dt = _dt.result_type(a.dtype, a.ndim, b.dtype, b.ndim)
                x = self if a.dtype == dt else self.to(dt)
                y = other if b.dtype == dt else other.to(dt)
                return cls.apply(y, x) if reflected else cls.apply(x, y)
        elif isinstance(other, _Scalar):
            if isinstance(other, np.generic):  # a NumPy scalar is weak like a Python one (torch)
                other = other.item()
            if a.dtype.kind != "f":
                if cls is _ew.Sub and a.dtype.kind == "b":
                    _ew.check_sub(a, other)  # PyTorch's error, before the cast to int
                dt = _dt.scalar_result_type(a.dtype, other)
                if dt != a.dtype:
                    x = self.to(dt)
                    return cls.apply(other, x) if reflected else cls.apply(x, other)
        elif isinstance(other, np.ndarray):
            return self._binary(cls, Tensor._make(other, None, False), reflected)
        else:
            return NotImplemented
        return cls.apply(other, self) if reflected else cls.apply(self, other)

    def __add__(self, other):
        return self._binary(_ew.Add, other)

    def __radd__(self, other):
        return self._binary(_ew.Add, other, True)

    def __sub__(self, other):
        return self._binary(_ew.Sub, other)

    def __rsub__(self, other):
        return self._binary(_ew.Sub, other, True)

    def __mul__(self, other):
        return self._binary(_ew.Mul, other)

    def __rmul__(self, other):
        return self._binary(_ew.Mul, other, True)

    def __truediv__(self, other):
        if self.data.dtype.kind != "f" and not (
            isinstance(other, Tensor) and other.data.dtype.kind == "f"
        ):
            return self.to(_dt.get_default_dtype())._binary(_ew.Div, other)
        return self._binary(_ew.Div, other)

    def __rtruediv__(self, other):
        if self.data.dtype.kind != "f":
            return self.to(_dt.get_default_dtype())._binary(_ew.Div, other, True)
        return self._binary(_ew.Div, other, True)

    def __pow__(self, other):
        return self._binary(_ew.Pow, other)

    def __rpow__(self, other):
        return self._binary(_ew.Pow, other, True)

    def __matmul__(self, other):
        return matmul(self, other)

    def __rmatmul__(self, other):
        return matmul(other if isinstance(other, Tensor) else Tensor(other), self)

    def __neg__(self):
        return _ew.Neg.apply(self)

    def __pos__(self):
        return self

    def __abs__(self):
        return self.abs()

    def add(self, other, *, alpha=1):
        if alpha != 1:
            self._check_alpha(other, alpha)
            other = other * alpha
        return self + other

    def sub(self, other, *, alpha=1):
        if alpha != 1:
            self._check_alpha(other, alpha)
            other = other * alpha
        return self - other

    def _check_alpha(self, other, alpha) -> None:
        if isinstance(alpha, (builtins.float, np.floating)) and self.data.dtype.kind in "biu" and (
            not isinstance(other, Tensor) or other.data.dtype.kind in "biu"
        ):
            raise RuntimeError(
                "For integral input tensors, argument alpha must not be a floating point number."
            )

    def mul(self, other):
        return self * other

    def div(self, other):
        return self / other

    def pow(self, exponent):
        return self**exponent

    multiply, divide, subtract, true_divide = mul, div, sub, div

    def neg(self):
        return -self

    negative = neg

    # -- comparisons (not differentiable) ------------------------------------------------------
    def _compare(self, fn, other):
        """``fn(self, other)`` on the operands promoted as for arithmetic (``_binary``)."""
        a = self.data
        if isinstance(other, Tensor):
            b = other.data
            if a.dtype != b.dtype:
                dt = _dt.result_type(a.dtype, a.ndim, b.dtype, b.ndim)
                a, b = a.astype(dt, copy=False), b.astype(dt, copy=False)
        elif isinstance(other, _Scalar):
            b = other.item() if isinstance(other, np.generic) else other  # weak, as a Python one
            if a.dtype.kind not in "fc" and (dt := _dt.scalar_result_type(a.dtype, b)) != a.dtype:
                a = a.astype(dt)
        elif isinstance(other, np.ndarray):
            return self._compare(fn, Tensor._make(other, None, False))
        else:
            b = other
        return Tensor._make(fn(a, b), None, False)

    def __eq__(self, other):
        return self._compare(np.equal, other)

    def __ne__(self, other):
        return self._compare(np.not_equal, other)

    def __lt__(self, other):
        return self._compare(np.less, other)

    def __le__(self, other):
        return self._compare(np.less_equal, other)

    def __gt__(self, other):
        return self._compare(np.greater, other)

    def __ge__(self, other):
        return self._compare(np.greater_equal, other)

    eq, ne, lt, le, gt, ge = __eq__, __ne__, __lt__, __le__, __gt__, __ge__

    def __invert__(self):
        return Tensor._make(np.invert(self.data), None, False)

    def __and__(self, other):
        return self._compare(np.bitwise_and, other)

    def __or__(self, other):
        return self._compare(np.bitwise_or, other)

    def __xor__(self, other):
        return self._compare(np.bitwise_xor, other)

    __rand__, __ror__, __rxor__ = __and__, __or__, __xor__  # (all three commute)

    def equal(self, other) -> bool:
        return self.shape == other.shape and builtins.bool(np.array_equal(self.data, other.data))

    def allclose(self, other, rtol=1e-5, atol=1e-8, equal_nan=False) -> bool:
        return builtins.bool(np.allclose(self.data, other.data, rtol, atol, equal_nan))

    def isnan(self):
        return Tensor._make(np.isnan(self.data), None, False)

    def isfinite(self):
        return Tensor._make(np.isfinite(self.data), None, False)

    def argmax(self, dim=None, keepdim=False):
        return self._arg(np.argmax, dim, keepdim)

    def argmin(self, dim=None, keepdim=False):
        return self._arg(np.argmin, dim, keepdim)

    def _arg(self, fn, dim, keepdim):
        if dim is None:  # the index into the flattened tensor (of shape (1,) * ndim if keepdim)
            i = np.asarray(fn(self.data), dtype=np.int64)
            return Tensor._make(i.reshape((1,) * self.ndim) if keepdim else i, None, False)
        d = _dim1(dim, self.ndim)
        return Tensor._make(fn(self.data, axis=d, keepdims=keepdim).astype(np.int64), None, False)

    # -- unary math ----------------------------------------------------------------------------
    def _float(self):
        return self if self.data.dtype.kind == "f" else self.to(_dt.get_default_dtype())

    def exp(self):
        return _ew.Exp.apply(self._float())

    def log(self):
        return _ew.Log.apply(self._float())

    def sqrt(self):
        return _ew.Sqrt.apply(self._float())

    def abs(self):
        return _ew.Abs.apply(self)

    def sigmoid(self):
        return _ew.Sigmoid.apply(self._float())

    def tanh(self):
        return _ew.Tanh.apply(self._float())

    def relu(self):
        return _ew.Relu.apply(self)

    def square(self):
        return self * self

    def sign(self):
        return Tensor._make(_ew.sign(self.data), None, False)  # sign(NaN) = 0, as PyTorch

    def clamp(self, min=None, max=None):
        if min is None and max is None:
            raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
        if isinstance(min, Tensor) or isinstance(max, Tensor):
            x, *ts = _tensor_args(*(t for t in (self, min, max) if t is not None))
            lo = ts.pop(0) if min is not None else None
            hi = ts.pop(0) if max is not None else None
            return _ew.ClampTensor.apply(x, lo, hi)
        x = self
        if x.data.dtype.kind != "f":  # a float bound makes an integer tensor's result float
            for b in (min, max):  # (weakly: the default float dtype)
                if b is not None and (dt := _dt.scalar_result_type(x.dtype, b)) != x.dtype:
                    x = x.to(dt)
        return _ew.Clamp.apply(x, min=min, max=max)

    clip = clamp

    def maximum(self, other):
        return maximum(self, other)

    def minimum(self, other):
        return minimum(self, other)

    def where(self, condition, other):
        return where(condition, self, other)

    # -- reductions ----------------------------------------------------------------------------
    def sum(self, dim=None, keepdim=False, *, dtype=None):
        x = self if dtype is None else self.to(dtype)
        if x.data.dtype.kind in "biu" and dtype is None:
            x = x.to(np.int64)
        return _red.Sum.apply(x, axis=_axes(dim, x.ndim), keepdims=keepdim)

    def mean(self, dim=None, keepdim=False, *, dtype=None):
        x = self if dtype is None else self.to(dtype)
        if x.data.dtype.kind != "f":
            raise RuntimeError(
                "mean(): could not infer output dtype. Input dtype must be either a floating "
                f"point or complex dtype. Got: {x.dtype}"
            )
        return _red.Mean.apply(x, axis=_axes(dim, x.ndim), keepdims=keepdim)

    def var(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        if unbiased is not None and correction is not None:
            raise RuntimeError("var(): pass either unbiased or correction, not both")
        if isinstance(dim, builtins.bool):  # var(unbiased) positional form of PyTorch
            dim, unbiased = None, dim
        c = (
            correction
            if correction is not None
            else (1 if unbiased is None else builtins.int(unbiased))
        )
        axes = _axes(dim, self.ndim)
        n = self.numel() if axes is None else builtins.int(np.prod([self.shape[a] for a in axes]))
        d = self - self.mean(dim, keepdim=True)
        return (d * d).sum(dim, keepdim=keepdim) / max(n - c, 0)

    def std(self, dim=None, unbiased=None, keepdim=False, *, correction=None):
        return _ew.StdSqrt.apply(self.var(dim, unbiased, keepdim, correction=correction))

    def amax(self, dim=(), keepdim=False):
        return _red.Amax.apply(self, axis=_axes(dim, self.ndim), keepdims=keepdim)

    def amin(self, dim=(), keepdim=False):
        return _red.Amin.apply(self, axis=_axes(dim, self.ndim), keepdims=keepdim)

    def max(self, dim=None, keepdim=False):
        """max() → 0-d max; max(dim) → (values, indices); max(other_tensor) → maximum."""
        if isinstance(dim, Tensor):
            return maximum(self, dim)
        if dim is None:
            return _red.Amax.apply(self, axis=None, keepdims=False, nans_share=True)
        return self._maxdim(dim, keepdim, True)

    def min(self, dim=None, keepdim=False):
        if isinstance(dim, Tensor):
            return minimum(self, dim)
        if dim is None:
            return _red.Amin.apply(self, axis=None, keepdims=False, nans_share=True)
        return self._maxdim(dim, keepdim, False)

    def _maxdim(self, dim, keepdim, largest):
        d = _dim1(dim, self.ndim)
        if self.ndim == 0:
            idx = Tensor._make(np.asarray(0, np.int64), None, False)
            return _return_types[largest](self.clone(), idx)
        values = _red.MaxDim.apply(self, axis=d, keepdims=keepdim, largest=largest)
        fn = np.argmax if largest else np.argmin
        idx = fn(self.data, axis=d, keepdims=keepdim).astype(np.int64)
        return _return_types[largest](values, Tensor._make(idx, None, False))

    def logsumexp(self, dim, keepdim=False):
        return _red.LogSumExp.apply(self._float(), axis=_axes(dim, self.ndim), keepdims=keepdim)

    def softmax(self, dim, dtype=None):
        x = self._softmax_input("softmax", dtype)
        return _red.Softmax.apply(x, axis=_dim1(dim, self.ndim) if self.ndim else None)

    def log_softmax(self, dim, dtype=None):
        x = self._softmax_input("log_softmax", dtype)
        return _red.LogSoftmax.apply(x, axis=_dim1(dim, self.ndim) if self.ndim else None)

    def _softmax_input(self, fn: str, dtype) -> Tensor:
        """The input of (log_)softmax: this tensor, cast to ``dtype`` if given; as PyTorch's, an
        integer or bool tensor needs a floating ``dtype``."""
        if dtype is not None:
            return self.to(dtype)
        if self.data.dtype.kind != "f":
            raise NotImplementedError(
                f"{fn}: not implemented for '{_dt.torch_name(self.dtype)}' tensors (PyTorch's "
                f"kernels are floating-point only): pass dtype=, or cast the input first")
        return self

    # -- movement ------------------------------------------------------------------------------
    def _view(self, op, **kw):
        out = op.apply(self, **kw)
        if op is not _mv.Reshape or _is_view_of(out.data, self.data):  # (a reshape may copy)
            _share_vc(self, out)  # a view shares its base's version counter
        return out

    def reshape(self, *shape):
        shape = _shape_arg(shape)
        if shape == self.shape:
            return self._view(_mv.Reshape, shape=shape) if self.requires_grad else self._alias()
        try:
            return self._view(_mv.Reshape, shape=shape)
        except ValueError as e:
            raise RuntimeError(
                f"shape '{list(shape)}' is invalid for input of size {self.numel()}"
            ) from e

    def view(self, *shape):
        """``reshape`` that must not copy (as PyTorch: a view shares memory, so writes through
        it reach this tensor); RuntimeError where the strides don't allow it."""
        out = self.reshape(*shape)
        if self.data.size and not np.may_share_memory(out.data, self.data):
            raise RuntimeError(
                "view size is not compatible with input tensor's size and stride (at least one "
                "dimension spans across two contiguous subspaces). Use .reshape(...) instead."
            )
        return out

    def _alias(self):
        t = Tensor._make(self.data.view(), None, False)
        _share_vc(self, t)
        return t

    def view_as(self, other):
        return self.view(other.shape)

    def reshape_as(self, other):
        return self.reshape(other.shape)

    def flatten(self, start_dim=0, end_dim=-1):
        if self.ndim == 0:
            _dim1(start_dim, 0), _dim1(end_dim, 0)  # (only 0 or -1: else IndexError)
            return self.reshape(1)
        s, e = _dim1(start_dim, self.ndim), _dim1(end_dim, self.ndim)
        if s > e:
            raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
        shp = self.shape
        return self.reshape(shp[:s] + (builtins.int(np.prod(shp[s : e + 1])),) + shp[e + 1 :])

    def unflatten(self, dim, sizes):
        d = _dim1(dim, self.ndim)
        return self.reshape(self.shape[:d] + tuple(sizes) + self.shape[d + 1 :])

    def squeeze(self, dim=None):
        if dim is None:
            shape = tuple(n for n in self.shape if n != 1)
        else:
            axes = _axes(dim, self.ndim) or ()
            shape = tuple(n for i, n in enumerate(self.shape) if not (i in axes and n == 1))
        return self.reshape(shape)

    def unsqueeze(self, dim):
        d = _dim1(dim, self.ndim + 1)
        return self.reshape(self.shape[:d] + (1,) + self.shape[d:])

    def permute(self, *dims):
        dims = _shape_arg(dims)
        if len(dims) != self.ndim:
            raise RuntimeError(
                f"permute(sparse_coo): number of dimensions in the tensor input does "
                f"not match the length of the desired ordering of dimensions i.e. "
                f"input.dim() = {self.ndim} is not equal to len(dims) = {len(dims)}"
            )
        norm = tuple(_dim1(d, self.ndim) for d in dims)
        if sorted(norm) != list(range(self.ndim)):
            raise RuntimeError("permute(): duplicate dims are not allowed.")
        return self._view(_mv.Permute, dims=norm)

    def transpose(self, dim0, dim1):
        if self.ndim == 0:
            _dim1(dim0, 0), _dim1(dim1, 0)  # (only 0 or -1: else IndexError)
            return self
        perm = list(range(self.ndim))
        a, b = _dim1(dim0, self.ndim), _dim1(dim1, self.ndim)
        perm[a], perm[b] = perm[b], perm[a]
        return self._view(_mv.Permute, dims=tuple(perm))

    swapaxes = swapdims = transpose

    def t(self):
        if self.ndim > 2:
            raise RuntimeError(
                f"t() expects a tensor with <= 2 dimensions, but self is {self.ndim}D"
            )
        return self.transpose(0, 1) if self.ndim == 2 else self

    def expand(self, *sizes):
        sizes = _shape_arg(sizes)
        if len(sizes) < self.ndim:
            raise RuntimeError(
                f"expand: the number of sizes provided ({len(sizes)}) must be greater "
                f"or equal to the number of dimensions in the tensor ({self.ndim})"
            )
        lead = len(sizes) - self.ndim
        for i, s in enumerate(sizes[:lead]):
            if s < 0:
                raise RuntimeError(f"The expanded size of the tensor ({s}) isn't allowed in a "
                                   f"leading, non-existing dimension {i}")
        shape = tuple(
            self.shape[i - lead] if s == -1 and i >= lead else s for i, s in enumerate(sizes)
        )
        for i, n in enumerate(self.shape):
            if n != 1 and shape[lead + i] != n:
                raise RuntimeError(
                    f"The expanded size of the tensor ({shape[lead + i]}) must match the existing "
                    f"size ({n}) at non-singleton dimension {lead + i}.  Target sizes: "
                    f"{list(sizes)}.  Tensor sizes: {list(self.shape)}"
                )
        return self._view(_mv.Expand, shape=shape)

    def expand_as(self, other):
        return self.expand(other.shape)

    def narrow(self, dim, start, length):
        """Elements ``start`` .. ``start + length - 1`` of ``dim`` (a negative start counts from
        the end); a view."""
        d = _dim1(dim, self.ndim)
        n = self.shape[d]
        start = builtins.int(start)
        if not -n <= start <= n:
            raise IndexError(
                f"start out of range (expected to be in range of [{-n}, {n}], but got {start})")
        start += n if start < 0 else 0
        if length < 0:
            raise RuntimeError("narrow(): length must be non-negative.")
        if start + length > n:
            raise RuntimeError(
                f"start ({start}) + length ({length}) exceeds dimension size ({n}).")
        return self[(slice(None),) * d + (slice(start, start + length),)]

    def select(self, dim, index):
        d = _dim1(dim, self.ndim)
        return self[(slice(None),) * d + (index,)]

    def chunk(self, chunks, dim=0):
        """``chunks`` views of ceil(size / chunks) along ``dim`` (fewer if the size runs out; of
        an empty dim, ``chunks`` empty ones), as PyTorch's."""
        d = _dim1(dim, self.ndim)
        if chunks <= 0:
            raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
        n = self.shape[d]
        if n == 0:
            return tuple(self.narrow(d, 0, 0) for _ in range(chunks))
        return self._pieces(d, -(-n // chunks))

    def split(self, split_size, dim=0):
        """Views of ``split_size`` along ``dim`` (the last one shorter), or of the sizes in a
        list, which must sum to the dim's size."""
        d = _dim1(dim, self.ndim)
        n = self.shape[d]
        if isinstance(split_size, (builtins.int, np.integer)):
            if split_size < 0:
                raise RuntimeError(
                    f"split expects split_size be non-negative, but got split_size={split_size}")
            if split_size == 0 and n:
                raise RuntimeError("split_size can only be 0 if dimension size is 0, but got "
                                   f"dimension size of {n}")
            return self._pieces(d, split_size) if n else (self,)
        sizes = [builtins.int(k) for k in split_size]
        if any(k < 0 for k in sizes):
            raise RuntimeError("split_with_sizes expects split_sizes have only non-negative "
                               f"entries, but got split_sizes={sizes}")
        if builtins.sum(sizes) != n:
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {n} "
                               f"(input tensor's size at dimension {d}), but got "
                               f"split_sizes={sizes}")
        out, s = [], 0
        for k in sizes:
            out.append(self.narrow(d, s, k))
            s += k
        return tuple(out)

    def _pieces(self, d: int, step: int) -> tuple:
        n = self.shape[d]
        return tuple(self.narrow(d, s, min(step, n - s)) for s in range(0, n, step))

    def __getitem__(self, index):
        """PyTorch's indexing: NumPy's, except that ints (and 0-d integer tensors) always index
        as in basic indexing, before any index array (``x[0, :, [0, 1]]`` is ``x[0][:, [0, 1]]``,
        where NumPy would move the indexed dims to the front), an index of ints only is a 0-d
        view (``GetItem``; NumPy returns a copied scalar), and a slice's step must be positive."""
        vcs = _index_vcs(index)
        index = _index(index)
        if type(index) is tuple and len(index) > 1:
            split = _split_ints(index, self.ndim)
            if split is not None:
                out = self[split[0]][split[1]]
                if vcs and out.grad_fn is not None:
                    out.grad_fn.saved_extra = vcs
                return out
        out = _mv.GetItem.apply(self, index=index)
        if _is_view_of(out.data, self.data):  # basic indexing: a view
            _share_vc(self, out)
        elif vcs and out.grad_fn is not None:  # backward reads the index tensors
            out.grad_fn.saved_extra = vcs
        return out

    def __setitem__(self, index, value):
        index = _index(index)
        if _mode.enabled and (
            self.requires_grad or (isinstance(value, Tensor) and value.requires_grad)
        ):
            if self.grad_fn is None and self.requires_grad:
                raise RuntimeError(
                    "a leaf Variable that requires grad is being used in an in-place operation."
                )
            raise NotImplementedError(
                "tinygrad_nn does not record __setitem__ in the graph; "
                "use where() or cat() to build the value instead"
            )
        self.data[index] = value.data if isinstance(value, Tensor) else value
        _node.bump(self._vc)

    # -- matmul / misc -------------------------------------------------------------------------
    def matmul(self, other):
        return matmul(self, other)

    def dot(self, other):
        if self.ndim != 1 or other.ndim != 1:
            raise RuntimeError(
                f"1D tensors expected, but got {self.ndim}D and {other.ndim}D tensors"
            )
        return matmul(self, other)

    def mm(self, mat2):
        """The matrix product of two 2-D tensors (``matmul`` for any dims)."""
        for name, t in (("self", self), ("mat2", mat2)):
            if not isinstance(t, Tensor) or t.ndim != 2:
                raise RuntimeError(f"{name} must be a matrix")
        return matmul(self, mat2)



def parse_to_args(args: tuple, kwargs: dict):
    """The dtype asked for by ``to(...)`` of a Tensor or Module (or None): ``to(dtype)``,
    ``to('cpu')``, ``to('cpu', dtype)``, ``to(tensor)``, ``to(dtype=..., device=...)``; a device
    other than 'cpu' raises."""
    kwargs = dict(kwargs)
    dtype = kwargs.pop("dtype", None)
    device = kwargs.pop("device", None)
    for ignored in ("copy", "non_blocking", "memory_format"):
        kwargs.pop(ignored, None)
    if kwargs:
        raise TypeError(f"to() received invalid keyword arguments {sorted(kwargs)}")
    for a in args:
        if isinstance(a, str) or a is None:
            device = a
        elif isinstance(a, Tensor):
            dtype = a.dtype
        elif isinstance(a, builtins.bool):
            continue  # non_blocking given positionally
        else:
            dtype = a
    if device not in (None, "cpu"):
        raise RuntimeError(f"tinygrad_nn only has the 'cpu' device, got {device!r}")
    return None if dtype is None else _dt.to_dtype(dtype)


def _to_copy(args: tuple, kwargs: dict) -> bool:
    """``copy`` of ``to(...)``: the keyword, or the second bool given positionally (after
    non_blocking, as in ``to(dtype, non_blocking, copy)``)."""
    if "copy" in kwargs:
        return builtins.bool(kwargs["copy"])
    flags = [a for a in args if isinstance(a, builtins.bool)]
    return len(flags) > 1 and flags[1]


def reset_grads(params, set_to_none: bool = True) -> None:
    """``zero_grad`` of modules and optimizers: each ``p.grad`` to None, or to zeros in place
    (then detached from any graph, as PyTorch)."""
    if set_to_none:
        for p in params:
            p._grad = None
        return
    for p in params:
        g = p.grad
        if g is None:
            continue
        if g.grad_fn is not None:
            g.detach_()
        else:
            g.requires_grad = False
        g.data.fill(0)
        g._bump_version()


def _overwrite(t: Tensor, src: Tensor) -> Tensor:
    """The value of ``t`` after ``t.copy_(src)``: src broadcast to t's shape and cast to t's dtype
    (differentiable in src; t's old value gets no gradient, and inf/NaN in it don't leak)."""
    src = src if src.dtype == t.dtype else src.to(t.dtype)
    if src.shape != t.shape:
        src = src.expand(t.shape)
    if src.requires_grad or (t.requires_grad and _mode.enabled):
        return where(np.ones(t.shape, dtype=bool), src, t)
    return Tensor._make(np.array(src.data, copy=True), None, False)


def _share_vc(src: Tensor, out: Tensor) -> None:
    """``out`` is a view of ``src``: it takes src's version counter, marked as shared by a
    third element (``_inplace`` refuses to write through a view in the graph)."""
    vc = src._vc
    if len(vc) == 2:
        vc.append(True)
    out._vc = vc


def _is_view_of(a: np.ndarray, src: np.ndarray) -> bool:
    """Whether ``a`` (an op's result on ``src``) is a view of src's memory, not a copy."""
    b = a.base
    return b is not None and (b is src or b is src.base)


def _index_vcs(index) -> tuple:
    """Version counters of the index tensors (not 0-d: those are ints) that backward reads."""
    if type(index) is tuple:
        return tuple(i._vc for i in index if isinstance(i, Tensor) and i.data.ndim)
    if isinstance(index, Tensor) and index.data.ndim:
        return (index._vc,)
    return ()


def _index(index):
    """Convert Tensor / list indices to NumPy ones (bool masks stay masks; a 0-d integer tensor
    is an int, as in PyTorch)."""
    if type(index) is tuple:
        return tuple(map(_index1, index))
    return _index1(index)


_INTEGER = (builtins.int, np.integer)


def _index1(i):
    t = type(i)
    if t is builtins.int:
        return i
    if t is slice:
        if i.step is not None and i.step <= 0:
            raise ValueError("step must be greater than zero")
        return i
    if isinstance(i, Tensor):
        a = i.data
        if a.dtype.kind == "f":
            raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
        if a.ndim == 0 and a.dtype.kind in "iu":
            return builtins.int(a)
        return a
    if t is list:
        arr = np.asarray(i)
        if arr.dtype.kind == "f":
            if arr.size == 0:  # [] indexes nothing, as an empty long tensor
                return np.zeros(0, np.intp)
            raise IndexError("tensors used as indices must be long, int, byte or bool tensors")
        return arr
    if t is builtins.bool:  # a mask of one element (not an int: it adds a dim, as in NumPy)
        return np.asarray(i)
    return i


def _split_ints(index: tuple, ndim: int):
    """For an index with both ints and index arrays: (the ints, with every other dim kept, as
    a basic index; the rest for the result of that), so that the ints never count as advanced
    indices (PyTorch's rule); else None."""
    ints = arrays = False
    for i in index:
        if isinstance(i, np.ndarray):
            arrays = True
        elif isinstance(i, _INTEGER):
            ints = True
    if not (ints and arrays):
        return None
    used = builtins.sum(
        (i.ndim if i.dtype == np.bool_ else 1) if isinstance(i, np.ndarray) else 1
        for i in index if i is not None and i is not Ellipsis
    )
    first, rest = [], []
    for i in index:
        if isinstance(i, _INTEGER):
            first.append(i)  # the dim goes: nothing for it in rest
        elif i is Ellipsis:
            first.append(i)
            rest.extend([slice(None)] * (ndim - used))
        elif isinstance(i, np.ndarray):
            k = i.ndim if i.dtype == np.bool_ else 1
            first.extend([slice(None)] * k)
            rest.append(i)
        else:  # a slice or None: applied first, kept whole after
            first.append(i)
            rest.append(slice(None))
    return tuple(first), tuple(rest)


def _tensor_args(*xs):
    """Promote the Tensor/number/array arguments of a free function to Tensors of one dtype (a
    Python number beside a Tensor is weakly typed, as in PyTorch: an int tensor and 2.5 give the
    default float dtype)."""
    for ref in xs:
        if isinstance(ref, Tensor):
            rdt = ref.data.dtype
            break
    else:
        rdt = None
    out, same = [], True
    for x in xs:
        if not isinstance(x, Tensor):
            if rdt is None or not isinstance(x, _Scalar):
                x = Tensor(x)
            else:
                x = Tensor._make(np.asarray(x, _dt.scalar_result_type(rdt, x)), None, False)
        out.append(x)
        same = same and x.data.dtype == out[0].data.dtype
    if same:
        return out
    dt = _dt.result_type_all([(t.dtype, t.ndim) for t in out])
    return [t if t.dtype == dt else t.to(dt) for t in out]


def matmul(a, b) -> Tensor:
    """Matrix product with NumPy/PyTorch semantics for 1-D, 2-D and batched operands."""
    if not isinstance(a, Tensor) or not isinstance(b, Tensor):
        raise TypeError(
            f"matmul(): argument must be Tensor, not "
            f"{type(b if isinstance(a, Tensor) else a).__name__}"
        )
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(
            f"both arguments to matmul need to be at least 1D, but they are {a.ndim}D and {b.ndim}D"
        )
    ka, kb = a.shape[-1], b.shape[-2] if b.ndim > 1 else b.shape[0]
    if ka != kb:
        sa = "x".join(map(str, a.shape))
        sb = "x".join(map(str, b.shape))
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({sa} and {sb})")
    if a.data.dtype != b.data.dtype:
        raise RuntimeError(
            f"expected m1 and m2 to have the same dtype, but got: {a.dtype} != {b.dtype}"
        )
    return _mm.Matmul.apply(a, b)


def maximum(a, b) -> Tensor:
    a, b = _tensor_args(a, b)
    return _ew.Maximum.apply(a, b)


def minimum(a, b) -> Tensor:
    a, b = _tensor_args(a, b)
    return _ew.Minimum.apply(a, b)


def where(condition, input, other) -> Tensor:
    """Elementwise ``input if condition else other``; differentiable in input and other."""
    cond = condition.data if isinstance(condition, Tensor) else np.asarray(condition)
    if cond.dtype != np.bool_:
        raise RuntimeError(
            f"where expected condition to be a boolean tensor, but got a tensor "
            f"with dtype {cond.dtype}"
        )
    if not (isinstance(input, Tensor) and isinstance(other, Tensor)
            and input.data.dtype == other.data.dtype):
        input, other = _tensor_args(input, other)
    out = _ew.Where.apply(input, other, cond=cond)
    if out.grad_fn is not None and isinstance(condition, Tensor):
        out.grad_fn.saved_extra = (condition._vc,)  # backward reads the condition
    return out


def cat(tensors, dim=0) -> Tensor:
    tensors = list(tensors)
    if not tensors:
        raise ValueError("torch.cat(): expected a non-empty list of Tensors")
    nd = tensors[0].ndim
    if nd == 0:
        raise RuntimeError("zero-dimensional tensor (at position 0) cannot be concatenated")
    d = _dim1(dim, nd)
    for i, t in enumerate(tensors):
        if (
            t.ndim != nd
            or t.shape[:d] + t.shape[d + 1 :] != tensors[0].shape[:d] + tensors[0].shape[d + 1 :]
        ):
            raise RuntimeError(
                f"Sizes of tensors must match except in dimension {d}. Expected "
                f"{list(tensors[0].shape)} but got {list(t.shape)} for tensor "
                f"number {i} in the list."
            )
    tensors = _tensor_args(*tensors)
    return _mv.Cat.apply(*tensors, axis=d)


def stack(tensors, dim=0) -> Tensor:
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    for i, t in enumerate(tensors):
        if t.shape != tensors[0].shape:
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got "
                f"{list(tensors[0].shape)} at entry 0 and {list(t.shape)} at "
                f"entry {i}"
            )
    d = _dim1(dim, tensors[0].ndim + 1)
    tensors = _tensor_args(*tensors)
    return _mv.Stack.apply(*tensors, axis=d)


class _TensorNamespace:
    """NumPy's names for the tracked Tensor ops that backward rules use under create_graph."""

    @staticmethod
    def broadcast_to(g, shape):
        return g.expand(shape)

    @staticmethod
    def expand_dims(g, axis):
        return g.unsqueeze(axis)

    @staticmethod
    def transpose(g, axes):
        return g.permute(axes)

    @staticmethod
    def where(cond, a, b):
        return where(cond, a, b)

    @staticmethod
    def log(x):
        return x.log()

    @staticmethod
    def exp(x):
        return x.exp()

    @staticmethod
    def sign(x):
        return x.sign()


from .ops import elementwise as _ew  # noqa: E402
from .ops import loss as _loss  # noqa: E402,F401
from .ops import matmul as _mm  # noqa: E402
from .ops import mlp as _mlp  # noqa: E402,F401
from .ops import movement as _mv  # noqa: E402
from .ops import reduce as _red  # noqa: E402

_node.Tensor = Tensor
_node._make = Tensor._make
_engine._Tensor = Tensor
_engine._make = Tensor._make
_node.tensor_namespace = _TensorNamespace
