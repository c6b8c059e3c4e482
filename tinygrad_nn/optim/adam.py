"""``Adam`` (Kingma & Ba, 2015) with PyTorch's options (amsgrad, maximize, weight decay, and
decoupled weight decay = AdamW), updating the parameters' NumPy arrays in place.

For each parameter p with gradient g, at step t = 1, 2, ... (PyTorch's algorithm):

    g ← −g                                  if maximize
    p ← p (1 − η λ)                         if weight_decay λ ≠ 0 and decoupled_weight_decay
    g ← g + λ p                             if weight_decay λ ≠ 0 otherwise
    m ← m + (1 − β1)(g − m)                 (PyTorch's lerp; = β1 m + (1 − β1) g)
    v ← β2 v + (1 − β2) g²
    v̂ ← max(v̂, v)                           if amsgrad (v̂: state["max_exp_avg_sq"]), then use v̂
    p ← p − (η / (1 − β1^t)) · m / (sqrt(v) / sqrt(1 − β2^t) + ε)

State per parameter: "step" (0-d float tensor), "exp_avg" m, "exp_avg_sq" v, "max_exp_avg_sq".
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ..dtypes import get_default_dtype
from ..tensor import Tensor
from .optimizer import Optimizer


class Adam(Optimizer):
    """``Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False, *,
    maximize=False, decoupled_weight_decay=False)`` as ``torch.optim.Adam``."""

    def __init__(self, params: Iterable, lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *, foreach: bool | None = None,
                 maximize: bool = False, capturable: bool = False, differentiable: bool = False,
                 fused: bool | None = None, decoupled_weight_decay: bool = False) -> None:
        if isinstance(lr, Tensor):
            if lr.numel() != 1:
                raise ValueError("Tensor lr must be 1-element")
            lr = lr.item()
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not (isinstance(betas[0], float) and isinstance(betas[1], float)):
            raise ValueError("betas must be either both floats or both Tensors")
        if differentiable:
            raise ValueError("differentiable=True is not supported by tinygrad_nn's Adam")
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay,
                    "amsgrad": amsgrad, "maximize": maximize, "foreach": foreach,
                    "capturable": capturable, "differentiable": differentiable, "fused": fused,
                    "decoupled_weight_decay": decoupled_weight_decay}
        super().__init__(params, defaults)

    def _restore_group(self, group: dict[str, Any]) -> dict[str, Any]:
        group["betas"] = tuple(float(b) for b in group["betas"])
        return group

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One Adam update of every parameter that has a gradient; returns ``closure()``."""
        loss = self._closure(closure)
        state = self.state
        for group in self.param_groups:
            lr = group["lr"]
            if isinstance(lr, Tensor):  # a scheduler (or the user) may set a Tensor, as torch's
                lr = lr.item()
            beta1, beta2 = group["betas"]
            eps = group["eps"]
            weight_decay = group["weight_decay"]
            amsgrad = group["amsgrad"]
            maximize = group["maximize"]
            decoupled = group.get("decoupled_weight_decay", False)
            for p in group["params"]:
                g = p.grad
                if g is None:
                    continue
                d = p.data
                st = state[p]
                if not st:
                    st["step"] = Tensor._make(np.array(0.0, dtype=get_default_dtype()), None,
                                              False)
                    st["exp_avg"] = Tensor._make(np.zeros_like(d), None, False)
                    st["exp_avg_sq"] = Tensor._make(np.zeros_like(d), None, False)
                    if amsgrad:
                        st["max_exp_avg_sq"] = Tensor._make(np.zeros_like(d), None, False)
                grad = -g.data if maximize else g.data
                step_t = st["step"].data
                step_t += 1
                step = float(step_t)
                if weight_decay != 0:
                    if decoupled:
                        d *= 1 - lr * weight_decay
                    else:
                        grad = grad + weight_decay * d
                m = st["exp_avg"].data
                v = st["exp_avg_sq"].data
                w = 1 - beta1
                if abs(w) < 0.5:  # PyTorch's lerp_, both branches
                    m += w * (grad - m)
                else:
                    np.subtract(grad, (grad - m) * (1 - w), out=m)
                v *= beta2
                v += (1 - beta2) * grad * grad
                bias_correction1 = 1 - beta1**step
                bias_correction2_sqrt = (1 - beta2**step) ** 0.5
                step_size = lr / bias_correction1
                if amsgrad:
                    vmax = st["max_exp_avg_sq"].data
                    np.maximum(vmax, v, out=vmax)
                    denom = np.sqrt(vmax) / bias_correction2_sqrt
                else:
                    denom = np.sqrt(v) / bias_correction2_sqrt
                denom += eps
                d += -step_size * m / denom
                st["step"]._bump_version()
                p._bump_version()
        return loss
