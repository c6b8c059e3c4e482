"""Grad mode: whether ops record the graph. Thread-local, as PyTorch's.

``no_grad`` / ``enable_grad`` / ``set_grad_enabled`` work as context managers and as decorators
(``@no_grad`` and ``@no_grad()`` both work), and nest: leaving a block restores the mode that was
in force when it was entered.
"""

from __future__ import annotations

import functools
import threading


class _Mode(threading.local):
    enabled = True  # class attribute: every new thread starts with grad mode on


mode = _Mode()


def is_grad_enabled() -> bool:
    """True when operations on tensors that require grad are being recorded."""
    return mode.enabled


class _GradModeContext:
    _target: bool

    def __new__(cls, orig_func=None):
        self = super().__new__(cls)
        self._prev = []
        if orig_func is not None and callable(orig_func):  # used as a bare decorator: @no_grad
            return self(orig_func)
        return self

    def __enter__(self):
        self._prev.append(mode.enabled)
        mode.enabled = self._target

    def __exit__(self, *exc):
        mode.enabled = self._prev.pop()
        return False

    def __call__(self, func):
        target = self._target

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            prev = mode.enabled
            mode.enabled = target
            try:
                return func(*args, **kwargs)
            finally:
                mode.enabled = prev

        return wrapper


class no_grad(_GradModeContext):
    """Context manager / decorator: ops inside record nothing; their results don't require grad."""

    _target = False


class enable_grad(_GradModeContext):
    """Context manager / decorator: turn recording back on inside ``no_grad``."""

    _target = True


class set_grad_enabled(_GradModeContext):
    """``set_grad_enabled(mode)``: set grad mode now (a function call) or for a ``with`` block."""

    def __new__(cls, enabled: bool):
        self = object.__new__(cls)
        self._prev = [mode.enabled]
        self._target = bool(enabled)
        mode.enabled = self._target  # PyTorch: takes effect on construction
        return self

    def __enter__(self):
        pass

    def __exit__(self, *exc):
        mode.enabled = self._prev[0]
        return False

    def __call__(self, func):  # as a decorator it must not change the mode where it is applied
        mode.enabled = self._prev[0]
        return super().__call__(func)
