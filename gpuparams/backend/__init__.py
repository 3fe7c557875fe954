"""The array module behind each context: NumPy, CuPy, or NumPy under the GPU emulator.

This is the one place that maps a :class:`~gpuparams.context.Context` to the module holding its arrays.
CuPy is imported lazily, on the first allocation on a ``gpu`` context, so ``import gpuparams`` works
with only NumPy installed and never touches CUDA.

With ``GPUPARAMS_EMULATE_GPU=1`` (or :func:`set_emulation`), ``gpu(0)`` exists on a CPU-only machine:
its arrays are NumPy arrays and every custom kernel runs in :mod:`gpuparams.emulator`.
"""
from __future__ import annotations

import contextlib
import os

import numpy as np

from ..context import Context
from ..errors import GPUUnavailableError

__all__ = [
    "GPUUnavailableError", "array_module", "device_scope", "gpu_count", "is_emulated",
    "emulation_enabled", "set_emulation", "emulation", "cupy_module", "is_cupy_array",
]

EMULATE_ENV = "GPUPARAMS_EMULATE_GPU"
INSTALL_HINT = "pip install 'gpuparams[cuda13]' (CUDA 13 driver) or 'gpuparams[cuda12]' (CUDA 12 driver)"


_emulation_override = None  # None: read the environment variable
_cupy = None
_cupy_import_error = None
_device_count = None


def emulation_enabled():
    """Whether ``gpu(0)`` is the CPU emulator (``GPUPARAMS_EMULATE_GPU=1`` or :func:`set_emulation`)."""
    if _emulation_override is not None:
        return _emulation_override
    return os.environ.get(EMULATE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def set_emulation(enabled):
    """Turn the emulated ``gpu(0)`` on or off for this process (``None`` goes back to the env var)."""
    global _emulation_override
    _emulation_override = None if enabled is None else bool(enabled)


@contextlib.contextmanager
def emulation(enabled):
    """Context manager form of :func:`set_emulation` that restores the previous setting."""
    global _emulation_override
    previous = _emulation_override
    set_emulation(enabled)
    try:
        yield
    finally:
        _emulation_override = previous


def _import_cupy():
    """Import CuPy once; remember the failure instead of raising it."""
    global _cupy, _cupy_import_error
    if _cupy is None and _cupy_import_error is None:
        try:
            import cupy  # noqa: WPS433 (lazy on purpose: CuPy is optional)
            _cupy = cupy
        except Exception as exc:  # ImportError, or a broken CUDA install raising at import
            _cupy_import_error = exc
    return _cupy


def _real_device_count():
    global _device_count
    if _device_count is None:
        cupy = _import_cupy()
        if cupy is None:
            _device_count = 0
        else:
            try:
                _device_count = int(cupy.cuda.runtime.getDeviceCount())
            except Exception:  # no driver, or a driver older than the runtime
                _device_count = 0
    return _device_count


def gpu_count():
    """Number of usable GPUs (1 when emulating); never raises."""
    if emulation_enabled():
        return 1
    return _real_device_count()


def is_emulated(ctx):
    """Whether ``ctx`` is the emulated ``gpu(0)``."""
    return ctx.device_type == "gpu" and emulation_enabled()


def cupy_module(ctx):
    """Return CuPy for a real ``gpu(i)``, or raise :class:`GPUUnavailableError` saying why not."""
    cupy = _import_cupy()
    if cupy is None:
        raise GPUUnavailableError(
            f"{ctx} needs CuPy, which could not be imported ({_cupy_import_error!r}). "
            f"Install it with {INSTALL_HINT}, or set {EMULATE_ENV}=1 to emulate gpu(0) on the CPU.")
    count = _real_device_count()
    if count == 0:
        raise GPUUnavailableError(
            f"{ctx}: CuPy is installed but no CUDA device is visible (no NVIDIA driver, or "
            f"CUDA_VISIBLE_DEVICES hides them). Use gp.cpu(0), or set {EMULATE_ENV}=1 to emulate gpu(0).")
    if ctx.device_id >= count:
        raise GPUUnavailableError(
            f"{ctx}: only {count} GPU(s) visible (gpu(0) .. gpu({count - 1})); pick an index below {count}.")
    return cupy


def array_module(ctx: Context):
    """Return the array module holding ``ctx``'s arrays: ``numpy`` or ``cupy``.

    Raises
    ------
    GPUUnavailableError
        For ``gpu(i)`` without CuPy, without a CUDA device, or with ``i`` past the device count
        (when emulating, for any index but 0).
    """
    if ctx.device_type == "cpu":
        return np
    if emulation_enabled():
        if ctx.device_id != 0:
            raise GPUUnavailableError(
                f"{ctx}: the emulator ({EMULATE_ENV}=1) provides gpu(0) only; use gp.gpu(0).")
        return np
    return cupy_module(ctx)


def device_scope(ctx: Context):
    """A context manager making ``ctx``'s device current (CuPy ``Device``); a no-op elsewhere."""
    if ctx.device_type == "cpu" or emulation_enabled():
        return contextlib.nullcontext()
    return cupy_module(ctx).cuda.Device(ctx.device_id)


def is_cupy_array(value):
    """Whether ``value`` is a CuPy array (without importing CuPy when it was never imported)."""
    return _cupy is not None and isinstance(value, _cupy.ndarray)


def cupy_module_of(data):
    """CuPy, for a backend array that is not a NumPy array (CuPy was imported to create it)."""
    if _cupy is None or not isinstance(data, _cupy.ndarray):
        raise TypeError(f"expected a NumPy or CuPy array, got {type(data).__name__}")
    return _cupy


def uses_custom_kernels(ctx):
    """Whether operators on ``ctx`` run our CUDA kernels (a real GPU, or the emulated gpu(0))."""
    return ctx.device_type == "gpu"
