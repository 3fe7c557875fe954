"""The error classes of :mod:`gpuparams.distributed`.

They sit under one :class:`DistributedError` base and keep a built-in base each (a timeout is a
``TimeoutError``, a parameter mismatch a ``ValueError``), so they can move under the package-wide
error module without changing what callers catch.
"""
from __future__ import annotations

__all__ = ["DistributedError", "BackendUnavailableError", "RankFailedError", "CollectiveTimeoutError",
           "ParameterMismatchError"]


class DistributedError(RuntimeError):
    """Base class of the errors raised by :mod:`gpuparams.distributed`."""


class BackendUnavailableError(DistributedError):
    """The requested communication backend (``'mpi'``, ``'nccl'``) cannot be used here; says why."""


class RankFailedError(DistributedError):
    """Another rank's process ended while this one waited for it; the message names it.

    Attributes
    ----------
    missing : list of int
        The ranks that are gone.
    """

    def __init__(self, message, missing=()):
        super().__init__(message)
        self.missing = list(missing)


class CollectiveTimeoutError(DistributedError, TimeoutError):
    """A collective did not complete in time; the message names the ranks that never reached it.

    Attributes
    ----------
    missing : list of int
        The ranks that did not answer while this rank waited (crashed, hung, or much slower).
    """

    def __init__(self, message, missing=()):
        super().__init__(message)
        self.missing = list(missing)


class ParameterMismatchError(DistributedError, ValueError):
    """The ranks train different parameter sets (names, shapes or dtypes); names the first one."""
