"""Loss modules: ``MSELoss``, ``QuadraticCost``, ``CrossEntropyLoss``, ``NLLLoss``, ``BCELoss``.

Each is called as ``loss(input, target)`` and applies the function of the same name in
``nn.functional`` with the module's options. ``reduction`` is ``'mean'`` (default), ``'sum'`` or
``'none'``, as PyTorch's (PyTorch's legacy ``size_average``/``reduce`` are translated, with its
warning). A ``weight`` given to ``CrossEntropyLoss``/``NLLLoss``/``BCELoss`` is a buffer: it
appears in ``state_dict()`` under ``"weight"``, as in PyTorch.

The book's cost and PyTorch's MSELoss, for outputs a and targets y of shape (n, k):

- ``QuadraticCost()``:  C = 1/(2n) Σ_x ||y(x) − a(x)||²   (Nielsen, eq. 6), ∂C/∂a = (a − y)/n
- ``MSELoss()``:        L = 1/(nk) Σ_x ||y(x) − a(x)||²  = (2/k) · C, ∂L/∂a = (2/k) ∂C/∂a

so MSELoss's gradient is 2/k times the book cost's (1/5 of it for k = 10 outputs): with the
same learning rate, training with MSELoss is not the book's algorithm.
"""

from __future__ import annotations

from ..ops.loss import SoftmaxCrossEntropy as _SoftmaxCrossEntropy
from ..ops.loss import SquaredError as _SquaredError
from ..tensor import Tensor
from . import functional as F
from .module import Module


class _Loss(Module):
    reduction: str

    def __init__(self, size_average=None, reduce=None, reduction: str = "mean") -> None:
        super().__init__()
        if size_average is not None or reduce is not None:
            reduction = F._reduction(reduction, size_average, reduce)
        self.reduction = reduction


class _WeightedLoss(_Loss):
    def __init__(self, weight: Tensor | None = None, size_average=None, reduce=None,
                 reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)


class MSELoss(_Loss):
    """Mean squared error: ``(x − y)²`` per element, then 'mean' (Σ / numel), 'sum' or 'none'.

    input, target: any (equal) shape; output 0-d, or input's shape for 'none'. For (n, k)
    inputs, 'mean' is 1/(nk) Σ_x ||y(x) − a||² = (2/k) × ``QuadraticCost()`` (see module doc).
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.mse_loss(input, target, reduction=self.reduction)


class QuadraticCost(_Loss):
    """The quadratic cost of Nielsen's book (not in PyTorch), per mini-batch of n examples.

    input a, target y: (n, k), one example per row (or (k,): n = 1).

    - ``'mean'`` (default): ``C = 1/(2n) Σ_x ||y(x) − a(x)||²``, 0-d;
    - ``'sum'``: ``½ Σ_x ||y(x) − a(x)||²``, 0-d;
    - ``'none'``: ``C_x = ½ ||y(x) − a(x)||²`` per example, shape (n,) (shape () for (k,) input).

    Since C = (1/n) Σ_x C_x, ``QuadraticCost()`` + ``.backward()`` + ``SGD(lr=η).step()`` performs
    exactly the book's update ``w → w − (η/n) Σ_x ∂C_x/∂w`` (chapter 1, eqs. 20-21).
    ``MSELoss()`` is (2/k)·C: its gradient is 2/k times this one.

    Shapes must be equal (ValueError otherwise). One fused graph node (``ops.loss.SquaredError``).
    """

    def __init__(self, reduction: str = "mean") -> None:
        super().__init__(reduction=F._reduction(reduction))

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        try:  # the book's case, (n, k) float tensors of one dtype and 'mean', in one op
            a, y = input.data, target.data
            shape = a.shape
            if (y.shape == shape and len(shape) == 2 and shape[0] and a.dtype.kind == "f"
                    and (y.dtype is a.dtype or y.dtype == a.dtype) and self.reduction == "mean"):
                return _SquaredError.call(input, target, 0.5 / shape[0])
        except AttributeError:
            pass  # not tensors: quadratic_cost raises the TypeError
        return F.quadratic_cost(input, target, self.reduction)


class CrossEntropyLoss(_WeightedLoss):
    """Cross entropy of logits and class-index (or class-probability) targets; see
    ``functional.cross_entropy`` for the formulas. input (N, C), target (N,) int64 → 0-d. With
    the defaults (no weight or smoothing, 'mean'), (N, C) float32/float64 logits and int64 class
    indices none of which is ignored, one fused op (``ops.loss.SoftmaxCrossEntropy.call``)."""

    def __init__(self, weight: Tensor | None = None, size_average=None, ignore_index: int = -100,
                 reduce=None, reduction: str = "mean", label_smoothing: float = 0.0) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        if self.weight is None and self.reduction == "mean" and not self.label_smoothing:
            try:  # the training step's case, (N, C) logits and int64 class indices, in one op
                out = _SoftmaxCrossEntropy.call(input, target, self.ignore_index)
            except AttributeError:
                out = None  # not tensors: cross_entropy raises the TypeError
            if out is not None:
                return out
        return F.cross_entropy(input, target, weight=self.weight, ignore_index=self.ignore_index,
                               reduction=self.reduction, label_smoothing=self.label_smoothing)


class NLLLoss(_WeightedLoss):
    """Negative log likelihood of log-probabilities (N, C) at class indices (N,)."""

    def __init__(self, weight: Tensor | None = None, size_average=None, ignore_index: int = -100,
                 reduce=None, reduction: str = "mean") -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.nll_loss(input, target, weight=self.weight, ignore_index=self.ignore_index,
                          reduction=self.reduction)


class BCELoss(_WeightedLoss):
    """Binary cross entropy of probabilities and targets in [0, 1] (same shape)."""

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        return F.binary_cross_entropy(input, target, weight=self.weight, reduction=self.reduction)
