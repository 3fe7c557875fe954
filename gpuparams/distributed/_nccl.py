"""NCCL between the GPUs of the job, through CuPy's ``cupy.cuda.nccl``.

One communicator per process, for the process's GPU; rank 0 makes the unique id and MPI broadcasts
it (NCCL's own recipe for multi-process start-up). Collectives are queued on CuPy's current stream;
the wait that follows polls an event on that stream against the same deadline as the MPI path, and
aborts the communicator when it passes, so a dead peer cannot hang a GPU rank forever.

Not exercised on the CPU-only CI machine: the tests of this path need two GPUs and skip elsewhere.
"""
from __future__ import annotations

import time
import warnings

import numpy as np

from .errors import BackendUnavailableError, CollectiveTimeoutError

__all__ = ["nccl_available", "NcclComm"]


def _nccl_module():
    try:
        with warnings.catch_warnings():
            # CuPy warns when libnccl is missing; the caller says so in its own words.
            warnings.simplefilter("ignore")
            from cupy.cuda import nccl
    except Exception as exc:  # ImportError, or CuPy built without NCCL raising at import
        return None, exc
    if not getattr(nccl, "available", True):
        return None, ImportError("CuPy was built without NCCL support")
    return nccl, None


def nccl_available():
    """Whether CuPy can load NCCL here (the ``nvidia-nccl-cu13`` wheel, or a system NCCL)."""
    return _nccl_module()[0] is not None


class NcclComm:
    """A NCCL communicator for ``device_id`` spanning every rank of ``world``."""

    def __init__(self, world, device_id):
        nccl, error = _nccl_module()
        if nccl is None:
            raise BackendUnavailableError(
                f"gpuparams.distributed: backend 'nccl' needs NCCL through CuPy, which failed ({error}); "
                "install it with pip install 'gpuparams[cuda13]' (it brings nvidia-nccl-cu13), or use "
                "init(backend='mpi')")
        import cupy
        self._nccl = nccl
        self._cupy = cupy
        self.world = world
        self.device_id = device_id
        uid = nccl.get_unique_id() if world.rank == 0 else None
        if isinstance(uid, tuple):  # older CuPy: a tuple of 128 signed chars
            raw = np.array(uid, dtype=np.int8).tobytes() if uid is not None else b""
            raw = world.bcast_bytes(raw, 0, "NCCL unique id")
            uid = tuple(int(v) for v in np.frombuffer(raw, dtype=np.int8))
        else:
            uid = world.bcast_bytes(uid or b"", 0, "NCCL unique id")
        with cupy.cuda.Device(device_id):
            self.comm = nccl.NcclCommunicator(world.size, uid, world.rank)
        self._types = {
            np.dtype(np.float16): nccl.NCCL_FLOAT16, np.dtype(np.float32): nccl.NCCL_FLOAT32,
            np.dtype(np.float64): nccl.NCCL_FLOAT64, np.dtype(np.int32): nccl.NCCL_INT32,
            np.dtype(np.int64): nccl.NCCL_INT64, np.dtype(np.uint8): nccl.NCCL_UINT8,
            np.dtype(np.int8): nccl.NCCL_INT8,
        }
        self._ops = {"sum": nccl.NCCL_SUM, "max": nccl.NCCL_MAX, "min": nccl.NCCL_MIN}

    def _type(self, arr):
        try:
            return self._types[np.dtype(arr.dtype)]
        except KeyError:
            raise TypeError(f"gpuparams.distributed: NCCL cannot reduce dtype {arr.dtype}") from None

    def _wait(self, what):
        stream = self._cupy.cuda.get_current_stream()
        event = stream.record()
        deadline = time.monotonic() + self.world.timeout
        while not event.done:
            if time.monotonic() > deadline:
                self.comm.abort()
                raise CollectiveTimeoutError(
                    f"gpuparams.distributed: NCCL {what} on rank {self.world.rank} of {self.world.size} "
                    f"timed out after {self.world.timeout:g} s (a rank died or never reached it); raise "
                    "the timeout (init(timeout=...) or GPUPARAMS_DIST_TIMEOUT) if it legitimately takes "
                    "longer")
            time.sleep(1e-4)
        self.comm.check_async_error()

    def allreduce_inplace(self, arr, op, what):
        stream = self._cupy.cuda.get_current_stream().ptr
        ptr = arr.data.ptr
        self.comm.allReduce(ptr, ptr, arr.size, self._type(arr), self._ops[op], stream)
        self._wait(what)

    def bcast_inplace(self, arr, root, what):
        stream = self._cupy.cuda.get_current_stream().ptr
        self.comm.bcast(arr.data.ptr, arr.size, self._type(arr), root, stream)
        self._wait(what)

    def allgather(self, send, recv, what):
        stream = self._cupy.cuda.get_current_stream().ptr
        self.comm.allGather(send.data.ptr, recv.data.ptr, send.size, self._type(send), stream)
        self._wait(what)
