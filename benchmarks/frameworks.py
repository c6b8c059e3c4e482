"""The two workloads written the way a PyTorch user writes them, for tinygrad_nn and for torch.

The same functions run both frameworks: ``lib`` is the module (``tinygrad_nn`` or ``torch``), and
every line below is the ordinary PyTorch API. The only difference is the book's cost, which torch
does not ship: for torch it is the one-line module ``TorchQuadraticCost`` (written with torch's own
fused ``mse_loss``, the fastest way to say it in torch).
"""

from __future__ import annotations

import numpy as np


def quadratic_cost(lib):
    """``nn.QuadraticCost()`` for tinygrad_nn; for torch C = Σ||y − a||² / (2n) via mse_loss."""
    if hasattr(lib.nn, "QuadraticCost"):  # tinygrad_nn (also another revision of it: ab.py)
        return lib.nn.QuadraticCost()
    F = lib.nn.functional

    class TorchQuadraticCost(lib.nn.Module):
        def forward(self, a, y):
            return F.mse_loss(a, y, reduction="sum") / (2 * a.shape[0])

    return TorchQuadraticCost()


def build_book(lib, dtype: str = "float32"):
    """[784, 30, 10] sigmoid net, N(0, 1) init, quadratic cost, SGD(lr=3.0)."""
    nn = lib.nn
    model = nn.Sequential(nn.Linear(784, 30), nn.Sigmoid(), nn.Linear(30, 10), nn.Sigmoid())
    if dtype == "float64":
        model = model.double()
    with lib.no_grad():
        for p in model.parameters():
            nn.init.normal_(p)
    loss_fn = quadratic_cost(lib)
    opt = lib.optim.SGD(model.parameters(), lr=3.0)
    return model, loss_fn, opt


def build_wide(lib, dtype: str = "float32"):
    """[784, 512, 512, 10] ReLU net, PyTorch default init, cross-entropy, SGD(lr=0.1)."""
    nn = lib.nn
    model = nn.Sequential(nn.Linear(784, 512), nn.ReLU(), nn.Linear(512, 512), nn.ReLU(),
                          nn.Linear(512, 10))
    if dtype == "float64":
        model = model.double()
    loss_fn = nn.CrossEntropyLoss()
    opt = lib.optim.SGD(model.parameters(), lr=0.1)
    return model, loss_fn, opt


def train_epoch(lib, model, loss_fn, opt, x: np.ndarray, y: np.ndarray, batch_size: int) -> None:
    """One pass over already shuffled arrays, mini-batches sliced as views and wrapped."""
    for i in range(0, len(x), batch_size):
        xb = lib.from_numpy(x[i:i + batch_size])
        yb = lib.from_numpy(y[i:i + batch_size])
        opt.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()


def accuracy(lib, model, x: np.ndarray, y: np.ndarray) -> float:
    """Fraction of ``x`` whose argmax output equals the label ``y``."""
    with lib.no_grad():
        pred = model(lib.from_numpy(x)).argmax(dim=1)
    return float((pred.numpy() == y).mean())


def set_params(lib, model, params: list[np.ndarray]) -> None:
    """Overwrite the parameters (in ``model.parameters()`` order) with NumPy arrays."""
    with lib.no_grad():
        for p, a in zip(model.parameters(), params, strict=True):
            p.copy_(lib.from_numpy(np.ascontiguousarray(a, dtype=p.detach().numpy().dtype)))


def get_params(model) -> list[np.ndarray]:
    return [p.detach().numpy().copy() for p in model.parameters()]
