"""Argument checks and allocation shared by the kernel launchers (raw backend arrays on a device)."""
from __future__ import annotations

import numpy as np

from .devices import as_device

__all__ = ["ptr", "cdiv", "kernel_device", "check_array", "alloc"]


def kernel_device(target, data):
    """The device a launcher runs on: ``target`` itself, or the device of context ``target``
    holding ``data``; it must run custom kernels."""
    dev = as_device(target, data)
    if not dev.custom_kernels:
        raise ValueError(f"{dev.label} runs no custom kernels: launch them on a gpu context "
                         f"(a real GPU, or the emulated gpu(0))")
    return dev


def ptr(a):
    """Address of a NumPy or CuPy array's first element."""
    return a.ctypes.data if isinstance(a, np.ndarray) else a.data.ptr


def cdiv(a, b):
    """``ceil(a / b)`` for non-negative ints."""
    return -(-a // b)


def check_array(dev, name, a, shape=None, ndim=None):
    """Check that ``a`` is a C-contiguous float32 array on device ``dev`` (of ``shape`` / ``ndim``)."""
    xp = dev.xp
    if not isinstance(a, xp.ndarray):
        expected = "numpy.ndarray (emulated gpu)" if dev.emulated else "cupy.ndarray"
        raise TypeError(f"{name} must be a {expected} on {dev.ctx}, got {type(a).__name__}")
    if not dev.emulated and a.device.id != dev.ctx.device_id:
        raise ValueError(f"{name} lives on gpu({a.device.id}), not on {dev.ctx}: copy it there first")
    if a.dtype != np.float32:
        raise ValueError(f"{name} must be float32, got {a.dtype} with shape {tuple(a.shape)}")
    if ndim is not None and a.ndim != ndim:
        raise ValueError(f"{name} must be {ndim}-D, got shape {tuple(a.shape)}")
    if shape is not None and tuple(a.shape) != tuple(shape):
        raise ValueError(f"{name} has shape {tuple(a.shape)}, expected {tuple(shape)}")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} with shape {tuple(a.shape)} must be C-contiguous "
                         f"(use ascontiguousarray)")
    return a


def alloc(dev, shape):
    """An uninitialised float32 array of ``shape`` on ``dev`` (call inside ``dev.scope()``)."""
    return dev.xp.empty(shape, dtype=np.float32)
