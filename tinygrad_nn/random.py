"""The global random state: one NumPy ``Generator`` that ``manual_seed`` resets.

Everything random in tinygrad_nn (``rand``/``randn`` factories, ``nn.init``, ``DataLoader``
shuffling without an explicit generator) draws from :func:`default_generator`, so one
``manual_seed(s)`` makes a whole run reproducible, as ``torch.manual_seed`` does.
"""

from __future__ import annotations

import numpy as np

_generator: np.random.Generator = np.random.default_rng()


def manual_seed(seed: int) -> np.random.Generator:
    """Reset the global generator to ``numpy.random.default_rng(seed)`` and return it."""
    global _generator
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"manual_seed expected an int seed, got {type(seed).__name__}")
    _generator = np.random.default_rng(int(seed) & 0xFFFF_FFFF_FFFF_FFFF)
    return _generator


def default_generator() -> np.random.Generator:
    """The generator that ``manual_seed`` last set (a fresh, OS-seeded one before that)."""
    return _generator
