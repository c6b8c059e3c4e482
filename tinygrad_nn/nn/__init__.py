"""``tinygrad_nn.nn``: modules, parameters, losses, as ``torch.nn``.

    model = nn.Sequential(nn.Linear(784, 30), nn.Sigmoid(), nn.Linear(30, 10), nn.Sigmoid())
    loss = nn.QuadraticCost()(model(x), y)      # the book's C = 1/(2n) Σ_x ||y(x) − a||²

``nn.functional`` holds the same operations as functions, ``nn.init`` the initialisers.
"""

from . import functional, init
from .activation import LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .container import ModuleList, Sequential
from .flatten import Flatten
from .linear import Identity, Linear
from .loss import BCELoss, CrossEntropyLoss, MSELoss, NLLLoss, QuadraticCost
from .module import Module
from .parameter import Parameter

__all__ = ["BCELoss", "CrossEntropyLoss", "Flatten", "Identity", "Linear", "LogSoftmax",
           "MSELoss", "Module", "ModuleList", "NLLLoss", "Parameter", "QuadraticCost", "ReLU",
           "Sequential", "Sigmoid", "Softmax", "Tanh", "functional", "init"]
