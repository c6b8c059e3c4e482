"""``tinygrad_nn.optim``: ``Optimizer``, ``SGD``, ``Adam``, as ``torch.optim``.

    opt = optim.SGD(model.parameters(), lr=3.0)
    opt.zero_grad(); loss.backward(); opt.step()
"""

from .adam import Adam
from .optimizer import Optimizer
from .sgd import SGD

__all__ = ["Adam", "Optimizer", "SGD"]
