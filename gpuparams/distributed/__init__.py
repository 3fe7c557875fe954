"""Data-parallel training across processes and machines: MPI for start-up and CPU arrays, NCCL for GPUs.

Start the processes with an MPI launcher and call :func:`init` in each::

    mpirun -n 4 python train.py                 # or srun, or mpiexec -f hostfile -n 8 ...

>>> from gpuparams import distributed as dist, nd
>>> dist.init()                  # outside mpirun: one process, and every collective is a no-op
>>> dist.rank(), dist.size()
(0, 1)
>>> dist.allreduce(nd.array([1.0, 2.0]), op='mean').asnumpy().tolist()
[1.0, 2.0]

Under a launcher, :func:`init` starts MPI (through ``mpi4py``), finds this process's rank, the number
of processes, and its rank among the processes of its machine (:func:`local_rank`), and picks its
device (:func:`device`): ``gpu(local_rank)`` when the machine has GPUs, else ``cpu(0)``. Collectives
take NDArrays of any context: CPU arrays (and the emulated ``gpu(0)``'s) travel over MPI; arrays on
a real GPU over NCCL (through CuPy, on the current stream), or over MPI through host memory when
NCCL is missing (with a one-time warning).

Training: ``gluon.Trainer(params, ..., kvstore='dist_sync')`` or :class:`DistributedTrainer`
broadcasts rank 0's parameters at the first step and averages gradients across ranks in flat
buckets before every update. ``gluon.data.DistributedSampler`` gives every rank its part of an epoch.

Failures end the job: an uncaught exception on one rank ends every rank through ``MPI_Abort`` after
naming the rank; a collective that waits longer than the timeout (``init(timeout=...)``, or the
environment variable ``GPUPARAMS_DIST_TIMEOUT`` in seconds, default 300) raises
:class:`~gpuparams.distributed.errors.CollectiveTimeoutError` naming the ranks that never reached it.
"""
from __future__ import annotations

import numbers
import warnings

import numpy as np

from ..ops._core import contiguous
from . import _env
from .errors import (BackendUnavailableError, CollectiveTimeoutError, DistributedError,
                     ParameterMismatchError, RankFailedError)

__all__ = ["init", "finalize", "is_initialized", "rank", "size", "local_rank", "local_size", "device",
           "backend", "barrier", "allreduce", "broadcast", "allgather", "DistributedTrainer",
           "broadcast_parameters", "DistributedError", "BackendUnavailableError", "CollectiveTimeoutError",
           "RankFailedError", "ParameterMismatchError"]

_BACKENDS = ("auto", "mpi", "nccl")
_OPS = ("sum", "mean", "max", "min")


class _State:
    initialized = False
    finalized = False
    world = None        # a _world.World under a launcher with more than one process
    nccl = None         # a _nccl.NcclComm when GPU arrays go over NCCL
    device = None       # this process's Context
    backend = "none"
    warned_host_copy = False


_state = _State()


def init(backend="auto", timeout=None):
    """Join the job this process was launched in (``mpirun``, ``srun``); a no-op outside one.

    Parameters
    ----------
    backend : {'auto', 'mpi', 'nccl'}
        How GPU arrays travel: ``'nccl'`` (required: an error when NCCL or a GPU per rank is
        missing), ``'mpi'`` (always through host memory), or ``'auto'`` (NCCL when every rank has its
        own GPU and NCCL loads, else MPI). CPU arrays always use MPI.
    timeout : float, optional
        Seconds a collective may wait for the other ranks (default ``GPUPARAMS_DIST_TIMEOUT``, else
        300).

    Calling it again is harmless: later calls return at once and their arguments are ignored.

    Raises
    ------
    ValueError
        For an unknown backend or a non-positive timeout.
    BackendUnavailableError
        Under a launcher without mpi4py, or for ``backend='nccl'`` where NCCL cannot be used.
    DistributedError
        After :func:`finalize` (MPI cannot start twice in one process).
    """
    if backend not in _BACKENDS:
        raise ValueError(f"distributed.init: backend must be one of {', '.join(map(repr, _BACKENDS))}, "
                         f"got {backend!r}")
    if timeout is None:
        timeout = _env.timeout_from_env()
    elif (isinstance(timeout, bool) or not isinstance(timeout, numbers.Real)
          or not 0 < timeout < float("inf")):
        raise ValueError(f"distributed.init: timeout must be a positive number of seconds, got {timeout!r}")
    if _state.initialized:
        return
    if _state.finalized:
        raise DistributedError("distributed.init: finalize() was already called in this process and MPI "
                               "cannot start twice; call init() once at start-up and finalize() at the end")
    if _env.LAUNCHED_SIZE <= 1:
        _state.device = None  # found at the first device() call: init() alone never touches CUDA
        _state.backend = "none"
        _state.initialized = True
        return
    from . import _world
    world = _world.start(timeout)
    _state.world = world
    _state.device = _default_device(world.local_rank, world.local_size)
    _state.backend = "mpi"
    _state.initialized = True
    _start_nccl(world, backend)


def _default_device(local_rank, local_size):
    from .. import backend as _backend
    from ..context import cpu, gpu
    count = 0 if _backend.emulation_enabled() else _backend.gpu_count()
    if count == 0:
        return cpu(0)
    ctx = gpu(local_rank % count)
    # CuPy's current device (and so its current stream) becomes this process's GPU.
    _backend.device(ctx).xp.cuda.Device(ctx.device_id).use()
    return ctx


def _start_nccl(world, backend):
    """Set up NCCL when ``backend`` asks for it (or allows it) and every rank can use it."""
    from ._nccl import NcclComm, nccl_available
    if backend == "mpi":
        return
    ctx = _state.device
    reason = None
    if ctx.device_type != "gpu":
        reason = "it has no GPU"
    elif not nccl_available():
        reason = "CuPy cannot load NCCL (pip install 'gpuparams[cuda13]' brings nvidia-nccl-cu13)"
    peers = world.allgather_json({"reason": reason, "host": world.peers[world.rank]["host"],
                                  "gpu": ctx.device_id if ctx.device_type == "gpu" else None},
                                 "NCCL capability")
    seen = {}
    for r, p in enumerate(peers):
        if p["reason"] is None:
            key = (p["host"], p["gpu"])
            if key in seen:
                p["reason"] = f"it shares gpu({p['gpu']}) on {p['host']} with rank {seen[key]}"
            seen.setdefault(key, r)
    unable = [(r, p["reason"]) for r, p in enumerate(peers) if p["reason"] is not None]
    if unable:
        if backend == "nccl":
            why = "; ".join(f"rank {r}: {why}" for r, why in unable)
            raise BackendUnavailableError(f"distributed.init(backend='nccl'): NCCL cannot be used: {why}. "
                                          "Use backend='auto' or 'mpi' to send GPU arrays over MPI")
        return
    _state.nccl = NcclComm(world, ctx.device_id)
    _state.backend = "nccl"


def finalize():
    """Wait for every rank, then shut MPI down; a no-op outside a launcher or when already done."""
    if not _state.initialized:
        return
    world = _state.world
    _state.initialized = False
    _state.finalized = True
    _state.nccl = None
    if world is not None:
        world.barrier(world.next_name("barrier", "finalize"))
        _state.world = None
        if not world.MPI.Is_finalized():
            world.MPI.Finalize()


def is_initialized():
    """Whether :func:`init` ran (and :func:`finalize` did not)."""
    return _state.initialized


def rank():
    """This process's rank, ``0 .. size()-1`` (0 outside a launcher or before :func:`init`)."""
    return _state.world.rank if _state.world is not None else 0


def size():
    """Number of processes in the job (1 outside a launcher or before :func:`init`)."""
    return _state.world.size if _state.world is not None else 1


def local_rank():
    """This process's rank among the processes on its machine."""
    return _state.world.local_rank if _state.world is not None else 0


def local_size():
    """Number of processes of the job on this machine."""
    return _state.world.local_size if _state.world is not None else 1


def device():
    """The context this process trains on: ``gpu(local_rank())`` on a machine with GPUs, else ``cpu(0)``."""
    if not _state.initialized:
        raise DistributedError("distributed.device: call distributed.init() first")
    if _state.device is None:
        _state.device = _default_device(0, 1)
    return _state.device


def backend():
    """``'nccl'`` (GPU arrays over NCCL), ``'mpi'``, or ``'none'`` (a single process)."""
    return _state.backend


def _writes_files():
    """Whether this process writes checkpoints: rank 0 only, once a multi-process job is joined."""
    return _state.world is None or _state.world.rank == 0


def _world_or_none():
    return _state.world


# ----------------------------------------------------------------------------- collectives
def barrier():
    """Wait until every rank reaches this call."""
    world = _state.world
    if world is not None:
        world.barrier(world.next_name("barrier"))


def _check(x, who):
    from .._ndarray import NDArray
    if not isinstance(x, NDArray):
        raise TypeError(f"distributed.{who}: expected an NDArray, got {type(x).__name__} "
                        "(wrap NumPy data with nd.array)")
    return x


def allreduce(x, op="sum", inplace=False):
    """Reduce ``x`` element-wise across ranks: ``'sum'``, ``'mean'``, ``'max'`` or ``'min'``.

    Parameters
    ----------
    x : NDArray
        The same shape and dtype on every rank; any context.
    op : str
        The reduction; ``'mean'`` needs a floating-point dtype.
    inplace : bool
        Write the result into ``x`` (default: return a new array on ``x``'s context).

    Returns
    -------
    NDArray
    """
    _check(x, "allreduce")
    if op not in _OPS:
        raise ValueError(f"distributed.allreduce: op must be one of {', '.join(map(repr, _OPS))}, got {op!r}")
    if op == "mean" and x.dtype.kind != "f":
        raise TypeError("distributed.allreduce: op='mean' needs a floating-point array, got dtype "
                        f"{x.dtype}; use op='sum' and divide, or cast first")
    out = x if inplace else x.copy()
    world = _state.world
    if world is None:
        return out
    _reduce_backend_array(out, "sum" if op == "mean" else op,
                          world.next_name("allreduce", f"{op} of shape {x.shape} {x.dtype}"))
    if op == "mean":
        out._data /= world.size
    out._version[0] += 1
    return out


def broadcast(x, root=0, inplace=False):
    """Rank ``root``'s ``x`` on every rank (same shape and dtype everywhere).

    A new array on ``x``'s context, unless ``inplace`` (then ``x`` is overwritten and returned).
    """
    _check(x, "broadcast")
    world = _state.world
    if isinstance(root, bool) or not isinstance(root, numbers.Integral) or not 0 <= root < size():
        raise ValueError(f"distributed.broadcast: root must be a rank in 0..{size() - 1}, got {root!r}")
    out = x if inplace else x.copy()
    if world is None:
        return out
    what = world.next_name("broadcast", f"shape {x.shape} {x.dtype} from rank {root}")
    _bcast_backend_array(out, int(root), what)
    out._version[0] += 1
    return out


def allgather(x):
    """Every rank's ``x`` concatenated along axis 0 in rank order (axis 0 may differ between ranks)."""
    from .._ndarray import from_backend
    _check(x, "allgather")
    world = _state.world
    if world is None:
        return x.copy()
    what = world.next_name("allgather", f"shape {x.shape} {x.dtype}")
    meta = world.allgather_json({"shape": list(x.shape), "dtype": str(x.dtype)}, what + " shapes")
    for r, m in enumerate(meta):
        if m["dtype"] != str(x.dtype) or m["shape"][1:] != list(x.shape[1:]):
            raise ValueError(f"distributed.allgather: rank {r} has shape {tuple(m['shape'])} {m['dtype']} "
                             f"but rank {world.rank} has {x.shape} {x.dtype}; all but axis 0 must agree")
    rows = sum(m["shape"][0] for m in meta)
    shape = (rows,) + tuple(x.shape[1:])
    if _uses_nccl(x) and all(m["shape"] == list(x.shape) for m in meta):
        xp = _cupy_of(x)
        out = xp.empty(shape, dtype=x.dtype)
        _state.nccl.allgather(xp.ascontiguousarray(x._data), out, what)
        return from_backend(out, x.context)
    host = np.ascontiguousarray(_host_view(x))
    flat, _ = world.allgatherv(host.reshape(-1).view(np.uint8), what)  # bytes: any dtype
    return from_backend(_to_device(flat.view(x.dtype).reshape(shape), x), x.context)


# ----------------------------------------------------------------------------- transport of one array
def _cupy_of(x):
    """CuPy, for an NDArray on a real GPU."""
    from .. import backend as _backend
    return _backend.device_of(x).xp


def _is_device_array(x):
    from .. import backend as _backend
    return _backend.is_cupy_array(x._data)


def _host_view(x):
    if _is_device_array(x):
        _warn_host_copy(x)
        return x._data.get()
    return x._data


def _to_device(host, like):
    if _is_device_array(like):
        from .. import backend as _backend
        dev = _backend.device_of(like)
        with dev.scope():
            return dev.xp.asarray(host)
    return host


def _warn_host_copy(x):
    if not _state.warned_host_copy:
        _state.warned_host_copy = True
        why = "NCCL is not in use" if _state.nccl is None else f"NCCL serves {_state.device}, not {x.context}"
        warnings.warn(f"gpuparams.distributed: GPU arrays go through host memory over MPI because {why}; "
                      "this is slower than NCCL (pip install 'gpuparams[cuda13]', init(backend='nccl'))",
                      RuntimeWarning, stacklevel=4)


def _uses_nccl(x):
    return _state.nccl is not None and _is_device_array(x) and x.context == _state.device


def _on_contiguous(data, collective):
    """Run the in-place ``collective(buf)`` on ``data`` itself when it is C-contiguous (what NCCL
    needs), else on a contiguous copy that is written back."""
    buf = contiguous(data)
    collective(buf)
    if buf is not data:
        data[...] = buf


def _reduce_backend_array(x, op, what):
    """Reduce ``x``'s backend buffer in place across ranks."""
    data = x._data
    if _uses_nccl(x):
        _on_contiguous(data, lambda buf: _state.nccl.allreduce_inplace(buf, op, what))
        return
    host = _host_view(x)
    wide = host.dtype == np.float16  # MPI has no standard half type; reduce in float32
    buf = np.array(host, dtype=np.float32 if wide else host.dtype, order="C", copy=True) \
        if wide or not host.flags.c_contiguous or host is not data else host
    _state.world.allreduce_inplace(buf, op, what)
    if buf is not data:
        data[...] = _to_device(buf.astype(data.dtype, copy=False), x)


def _bcast_backend_array(x, root, what):
    data = x._data
    if _uses_nccl(x):
        _on_contiguous(data, lambda buf: _state.nccl.bcast_inplace(buf, root, what))
        return
    host = _host_view(x)
    buf = host if host is data and host.flags.c_contiguous else np.ascontiguousarray(host).copy()
    _state.world.bcast_inplace(buf, root, what)
    if buf is not data:
        data[...] = _to_device(buf, x)


def __getattr__(name):
    # The trainer pulls in the Gluon stack; load it only when asked for.
    if name in ("DistributedTrainer", "broadcast_parameters"):
        from . import _sync
        return getattr(_sync, name)
    raise AttributeError(f"module 'gpuparams.distributed' has no attribute {name!r}")
