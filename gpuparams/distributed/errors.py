"""The error classes of :mod:`gpuparams.distributed` (defined in :mod:`gpuparams.errors`).

All under :class:`DistributedError`, itself a :class:`~gpuparams.errors.GpuparamsError`; each keeps a
built-in base (a timeout is a ``TimeoutError``, a parameter mismatch a ``ValueError``).
"""
from __future__ import annotations

from ..errors import (BackendUnavailableError, CollectiveTimeoutError, DistributedError,
                      ParameterMismatchError, RankFailedError)

__all__ = ["DistributedError", "BackendUnavailableError", "RankFailedError", "CollectiveTimeoutError",
           "ParameterMismatchError"]
