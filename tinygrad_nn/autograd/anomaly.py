"""``detect_anomaly``: find the op whose backward produced NaN, and where it was created.

Inside ``with detect_anomaly():`` every op records the Python stack of its forward call, and
after each node's backward the engine checks its gradients for NaN. The first NaN raises
``RuntimeError("Function 'LogBackward0' returned nan values in its 0th output.")`` followed by the
traceback of the forward call that created that node (PyTorch prints it as a warning; here it is
part of the error message).
"""

from __future__ import annotations

from ..engine import anomaly as _state


class detect_anomaly:
    """Context manager (and decorator) turning anomaly detection on; ``check_nan`` as PyTorch."""

    def __init__(self, check_nan: bool = True):
        self.check_nan = check_nan

    def __enter__(self):
        self.prev = _state.enabled
        _state.enabled = self.check_nan
        return self

    def __exit__(self, *exc):
        _state.enabled = self.prev
        return False

    def __call__(self, func):
        import functools

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with detect_anomaly(self.check_nan):
                return func(*args, **kwargs)

        return wrapper


class set_detect_anomaly(detect_anomaly):
    """``set_detect_anomaly(mode)``: turn anomaly detection on/off now, or for a ``with`` block."""

    def __init__(self, mode: bool, check_nan: bool = True):
        self.prev = _state.enabled
        _state.enabled = bool(mode) and check_nan
        self.check_nan = _state.enabled

    def __enter__(self):
        return self


def is_anomaly_enabled() -> bool:
    return _state.enabled
