"""``gradcheck`` / ``gradgradcheck``: backward's Jacobian against central finite differences.

For f: inputs -> outputs, and every input x_i that requires grad and every output y_j:

- numerical  J_n[a, b] = (y_j(x_i + eps e_a)[b] - y_j(x_i - eps e_a)[b]) / (2 eps)
- analytical J_a[a, b] = (d y_j[b] / d x_i[a]) from one backward pass per output entry b
  (``autograd.grad`` with a one-hot ``grad_outputs``)

and the check passes when |J_a - J_n| <= atol + rtol |J_n| everywhere. Use float64 inputs:
in float32 a central difference has an error of about sqrt(machine eps) ~ 3e-4 and the check is
meaningless (a warning says so).
"""

from __future__ import annotations

import warnings

import numpy as np

from ..engine.grad_mode import enable_grad, no_grad
from ..tensor import Tensor
from .functional import grad


class GradcheckError(RuntimeError):
    """Raised by gradcheck when the analytical and numerical Jacobians differ."""


def _outputs(func, inputs):
    out = func(*inputs)
    outs = out if isinstance(out, (tuple, list)) else (out,)
    return [o for o in outs if isinstance(o, Tensor)]


def _numerical(func, inputs, i, j, eps):
    x = inputs[i]
    if not x.data.flags.c_contiguous:
        x.data = np.ascontiguousarray(x.data)
    flat = x.data.reshape(-1)  # a view: perturb in place, restore exactly
    cols = []
    with no_grad():
        for a in range(flat.size):
            orig = flat[a]
            flat[a] = orig + eps
            plus = _outputs(func, inputs)[j].data.astype(np.float64).reshape(-1).copy()
            flat[a] = orig - eps
            minus = _outputs(func, inputs)[j].data.astype(np.float64).reshape(-1)
            flat[a] = orig
            cols.append((plus - minus) / (2 * eps))
    if not cols:  # an input with no elements: an empty Jacobian of the right width
        with no_grad():
            return np.zeros((0, _outputs(func, inputs)[j].numel()))
    return np.stack(cols)  # (x.numel, y.numel)


def _analytical(func, inputs, i, j):
    with enable_grad():
        y = _outputs(func, inputs)[j]
        if not y.requires_grad:
            return np.zeros((inputs[i].numel(), y.numel()))
        rows = []
        for b in range(y.numel()):
            onehot = np.zeros(y.shape, dtype=y.dtype)
            onehot.reshape(-1)[b] = 1
            (g,) = grad(y, inputs[i], Tensor._make(onehot, None, False), retain_graph=True,
                        allow_unused=True)
            rows.append(np.zeros(inputs[i].numel()) if g is None
                        else g.data.astype(np.float64).reshape(-1))
    if not rows:
        return np.zeros((inputs[i].numel(), 0))
    return np.stack(rows, axis=1)  # (x.numel, y.numel)


def gradcheck(func, inputs, *, eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
              raise_exception: bool = True, **_ignored) -> bool:
    """Check func's gradients w.r.t. every input that requires grad; True or GradcheckError.

    ``inputs``: a Tensor or a tuple of arguments (Tensors that require grad are checked).
    The error names the input and output indices, the worst entry (input element, output
    element) and both values.
    """
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    checked = [k for k, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]
    if not checked:
        raise ValueError("gradcheck expects at least one input tensor to require gradient, but "
                         "none of them have requires_grad=True.")
    for k in checked:
        if inputs[k].dtype != np.float64:
            warnings.warn(
                f"Input #{k} requires gradient and is not a double precision floating point "
                f"({inputs[k].dtype}). Finite differences in single precision are unreliable: "
                "use float64 inputs for gradcheck.", UserWarning, stacklevel=2)
    n_outputs = len(_outputs(func, inputs))
    for i in checked:
        for j in range(n_outputs):
            num = _numerical(func, inputs, i, j, eps)
            ana = _analytical(func, inputs, i, j)
            bad = ~(np.abs(ana - num) <= atol + rtol * np.abs(num))
            bad |= np.isnan(ana) != np.isnan(num)
            if bad.any():
                err = np.where(bad, np.abs(ana - num), -1.0)
                err = np.where(np.isnan(err), np.inf, err)
                a, b = np.unravel_index(np.argmax(err), err.shape)
                x_pos = np.unravel_index(a, inputs[i].shape) if inputs[i].ndim else ()
                msg = (f"Jacobian mismatch for output {j} with respect to input {i}: worst entry "
                       f"at input element {tuple(int(v) for v in x_pos)}, output element {b}: "
                       f"analytical {float(ana[a, b])!r} vs numerical {float(num[a, b])!r} "
                       f"(atol={atol}, rtol={rtol}; {int(bad.sum())} of {bad.size} entries differ)"
                       f"\nnumerical:{num}\nanalytical:{ana}\n")
                if raise_exception:
                    raise GradcheckError(msg)
                return False
    return True


def gradgradcheck(func, inputs, grad_outputs=None, *, eps: float = 1e-6, atol: float = 1e-5,
                  rtol: float = 1e-3, gen_non_contig_grad_outputs: bool = False,
                  raise_exception: bool = True, seed: int = 0, **_ignored) -> bool:
    """Check second derivatives: gradcheck of (inputs, v) -> grad(func(inputs), inputs, v)."""
    inputs = (inputs,) if isinstance(inputs, Tensor) else tuple(inputs)
    outs = _outputs(func, inputs)
    if grad_outputs is None:
        rng = np.random.default_rng(seed)
        grad_outputs = tuple(
            Tensor(rng.standard_normal(o.shape), dtype=o.dtype, requires_grad=True) for o in outs)
    else:
        grad_outputs = (grad_outputs,) if isinstance(grad_outputs, Tensor) else tuple(grad_outputs)
    n_in = len(inputs)
    diff = [k for k, x in enumerate(inputs) if isinstance(x, Tensor) and x.requires_grad]

    def first_derivatives(*args):
        xs, vs = args[:n_in], args[n_in:]
        with enable_grad():  # the finite differences run under no_grad; this needs a graph
            ys = _outputs(func, xs)
            pairs = [(y, v) for y, v in zip(ys, vs, strict=True) if y.requires_grad]
            gs = grad([p[0] for p in pairs], [xs[k] for k in diff], [p[1] for p in pairs],
                      create_graph=True, allow_unused=True)
        return tuple(g for g in gs if g is not None)

    return gradcheck(first_derivatives, inputs + tuple(grad_outputs), eps=eps, atol=atol,
                     rtol=rtol, raise_exception=raise_exception)
