"""State behind ``autograd.detect_anomaly``: record where each op was created, check for NaN."""

from __future__ import annotations

import traceback

import numpy as np

enabled = False


def record(node) -> None:
    """Remember the Python stack of the forward call that created ``node``."""
    node._trace = traceback.format_stack()[:-3]  # drop the engine's own frames


def check(node, grads) -> None:
    """Raise if backward of ``node`` produced NaN, naming it and where its forward ran."""
    for i, g in enumerate(grads):
        if g is None:
            continue
        a = g.data if hasattr(g, "grad_fn") else g
        if not isinstance(a, (np.ndarray, np.generic, float)):
            continue  # a tuple Function's gradients on their way to its node (OutputGrads of
            # autograd/function.py): checked where they were made
        if np.isnan(a).any():
            where = "".join(node._trace or ["    (the forward ran before detect_anomaly was on)\n"])
            raise RuntimeError(
                f"Function '{node.name()}' returned nan values in its {i}th output.\n"
                f"Traceback of forward call that caused the error:\n{where}"
            )
