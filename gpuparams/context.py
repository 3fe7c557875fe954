"""Device contexts: where an array or a parameter lives.

A :class:`Context` is a (device type, device index) pair such as ``cpu(0)`` or ``gpu(1)``. Contexts are
interned, so ``gpu(0) is gpu(0)``; that makes the context check on every operation an identity test.
Creating ``gpu(i)`` never touches CUDA: only allocating on it does (see :mod:`gpuparams.backend`).
"""
from __future__ import annotations

import threading

__all__ = ["Context", "cpu", "gpu", "current_context", "num_gpus"]

_DEVICE_TYPES = ("cpu", "gpu")


class Context:
    """A device and its index, usable as ``with ctx:`` to set the default context.

    Parameters
    ----------
    device_type : str or Context
        ``'cpu'`` or ``'gpu'``; a Context is returned unchanged.
    device_id : int, optional
        The device index (default 0).

    Examples
    --------
    >>> import gpuparams as gp
    >>> gp.cpu(0)
    cpu(0)
    >>> with gp.cpu(0):
    ...     gp.current_context()
    cpu(0)
    """

    __slots__ = ("device_type", "device_id", "__weakref__")
    _interned: dict = {}
    _lock = threading.Lock()

    def __new__(cls, device_type, device_id=0):
        if isinstance(device_type, Context):
            return device_type
        if device_type not in _DEVICE_TYPES:
            raise ValueError(
                f"unknown device type {device_type!r}: use 'cpu' or 'gpu' (gp.cpu(i), gp.gpu(i))")
        if isinstance(device_id, bool) or not isinstance(device_id, int) or device_id < 0:
            raise ValueError(f"device index must be a non-negative int, got {device_id!r}")
        key = (device_type, device_id)
        ctx = cls._interned.get(key)
        if ctx is None:
            with cls._lock:
                ctx = cls._interned.get(key)
                if ctx is None:
                    ctx = object.__new__(cls)
                    object.__setattr__(ctx, "device_type", device_type)
                    object.__setattr__(ctx, "device_id", device_id)
                    cls._interned[key] = ctx
        return ctx

    def __setattr__(self, name, value):
        raise AttributeError("Context is immutable")

    def __reduce__(self):
        return (Context, (self.device_type, self.device_id))

    def __repr__(self):
        return f"{self.device_type}({self.device_id})"

    __str__ = __repr__

    def __eq__(self, other):
        return self is other

    def __hash__(self):
        return hash((self.device_type, self.device_id))

    @property
    def device_typeid(self):
        """MXNet-compatible numeric device type (1 = cpu, 2 = gpu)."""
        return 1 if self.device_type == "cpu" else 2

    def __enter__(self):
        _stack().append(self)
        return self

    def __exit__(self, *exc):
        _stack().pop()
        return False


_state = threading.local()


def _stack():
    stack = getattr(_state, "stack", None)
    if stack is None:
        stack = _state.stack = []
    return stack


def cpu(device_id=0):
    """Return the context of CPU ``device_id``.

    The index only tells copies apart (``ctx=[cpu(0), cpu(1)]`` keeps two copies of a parameter in
    host memory), which lets multi-context code be tested without a GPU.
    """
    return Context("cpu", device_id)


def gpu(device_id=0):
    """Return the context of GPU ``device_id``.

    Creating it always works; allocating on it needs CuPy and a CUDA device (or
    ``GPUPARAMS_EMULATE_GPU=1``) and raises a clear error otherwise.
    """
    return Context("gpu", device_id)


def current_context():
    """Return the default context: the innermost ``with ctx:`` block, else ``cpu(0)``."""
    stack = getattr(_state, "stack", None)
    return stack[-1] if stack else cpu(0)


def num_gpus():
    """Return the number of usable GPUs: 0 without CuPy or a CUDA driver, 1 when emulating.

    Never raises.
    """
    from . import backend
    return backend.gpu_count()
