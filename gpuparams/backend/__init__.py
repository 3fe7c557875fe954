"""The device behind each context: NumPy, CuPy, or NumPy under the GPU emulator.

This is the one place that maps a :class:`~gpuparams.context.Context` to what holds its arrays and
runs its kernels: :func:`device` returns the context's :class:`~gpuparams.backend.devices.Device`
(``CpuDevice``, ``CupyDevice(i)`` or ``EmulatedDevice``), resolved once and cached, with ``xp``,
``scope()``, ``custom_kernels``, ``emulated``, ``sm_count``, ``label`` and the kernel entry points.
For an existing array, :func:`device_of` asks its data, so arrays made on the emulated ``gpu(0)``
stay the emulator's when the switch flips. CuPy is imported lazily, on the first allocation on a
``gpu`` context, so ``import gpuparams`` works with only NumPy installed and never touches CUDA.

With ``GPUPARAMS_EMULATE_GPU=1`` (read once, at first use) or :func:`set_emulation`, ``gpu(0)`` exists
on a CPU-only machine: its arrays are NumPy arrays and every custom kernel runs in
:mod:`gpuparams.emulator`.

The module functions below (:func:`array_module`, :func:`device_scope`, ...) are thin wrappers over
the device objects, kept for the callers that hold a context only.
"""
from __future__ import annotations

from ..context import Context
from ..errors import GPUUnavailableError
from .devices import (EMULATE_ENV, INSTALL_HINT, CpuDevice, CupyDevice, Device, EmulatedDevice,
                      cupy_module, cupy_module_of, device, device_for, device_of, emulation,
                      emulation_enabled, gpu_count, gpu_unavailable_reason, is_cupy_array,
                      real_gpu_count, set_emulation)

__all__ = [
    "GPUUnavailableError", "Device", "CpuDevice", "CupyDevice", "EmulatedDevice", "device",
    "device_of", "device_for", "array_module", "device_scope", "gpu_count", "real_gpu_count",
    "is_emulated", "uses_custom_kernels", "emulation_enabled", "set_emulation", "emulation",
    "cupy_module", "is_cupy_array", "cupy_module_of", "EMULATE_ENV", "INSTALL_HINT",
    "gpu_unavailable_reason",
]

#: Former name of :func:`real_gpu_count` (the CLI and tests ask it for the real GPUs only).
_real_device_count = real_gpu_count


def array_module(ctx: Context):
    """Return the array module holding ``ctx``'s arrays: ``numpy`` or ``cupy``.

    Raises
    ------
    GPUUnavailableError
        For ``gpu(i)`` without CuPy, without a CUDA device, or with ``i`` past the device count
        (when emulating, for any index but 0).
    """
    return device(ctx).xp


def device_scope(ctx: Context):
    """A context manager making ``ctx``'s device current (CuPy ``Device``); a no-op elsewhere."""
    return device(ctx).scope()


def is_emulated(ctx):
    """Whether ``ctx`` is the emulated ``gpu(0)`` (any ``gpu`` context while emulating)."""
    return ctx.device_type == "gpu" and emulation_enabled()


def uses_custom_kernels(ctx):
    """Whether operators on ``ctx`` run our CUDA kernels (a real GPU, or the emulated gpu(0))."""
    return ctx.device_type == "gpu"
