"""Exceptions raised by :mod:`gpuparams.emulator` (all are :class:`EmulatorError`, a RuntimeError).

The classes live in :mod:`gpuparams.errors` with every other error of the package; ``CompileError``
is the emulator's form of the package's one :class:`~gpuparams.errors.KernelCompileError`.
"""
from __future__ import annotations

from ..errors import ArgumentError, BarrierError, EmulatorError, KernelFault, LaunchConfigError
from ..errors import EmulatorCompileError as CompileError

__all__ = ["EmulatorError", "CompileError", "KernelFault", "LaunchConfigError", "ArgumentError",
           "BarrierError"]
