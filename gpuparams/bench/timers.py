"""Timers: CUDA events with an L2 flush (kernel mode) and host clocks around back-to-back calls.

Every timer has the same three methods, so the runner does not care what it is timing:

* ``first_call(fn)`` — wall time of one synchronised call; the first call pays compilation, cuBLAS
  handle creation and allocator growth, which is reported separately from the steady state.
* ``calibrate(*fns)`` — choose how many calls make one repetition (host timers only).
* ``measure(fn, reps)`` — a list of ``reps`` per-call times in milliseconds.
"""
from __future__ import annotations

import math
import time

__all__ = ["HostTimer", "CudaEventTimer", "FLUSH_BYTES"]

#: Bytes written between kernel-mode repetitions: several times the L2 of any current GPU (50 MB on
#: H100, 60 MB on H200), so every repetition starts with its operands in HBM, not in L2.
FLUSH_BYTES = 256 * 2**20


class _FirstCallTimer:
    """What both timers share: the host-clocked first call, which includes compilation."""

    def _sync(self):
        raise NotImplementedError

    def first_call(self, fn):
        """Milliseconds (host clock) of one synchronised call of ``fn``."""
        self._sync()
        start = time.perf_counter_ns()
        fn()
        self._sync()
        return (time.perf_counter_ns() - start) * 1e-6


class HostTimer(_FirstCallTimer):
    """Time ``inner`` back-to-back calls with ``time.perf_counter_ns`` and divide.

    With ``sync`` set (a GPU's device synchronise) this is the *pipelined* mode: the host launches calls
    as fast as it can, the GPU overlaps them with the Python dispatch of the next ones, and the time per
    call includes whichever of the two is the bottleneck. With ``sync=None`` it is the CPU timer.

    Parameters
    ----------
    sync : callable, optional
        Called before starting and after finishing each repetition.
    mode : str
        Name recorded in the rows (``"pipelined"`` or ``"host"``).
    target_ms : float
        :meth:`calibrate` picks ``inner`` so one repetition lasts about this long, which keeps timer
        resolution and the sync's own cost below 1 % of what is measured.
    max_inner : int
        Upper bound on ``inner``.
    min_inner : int
        Lower bound on ``inner``. Pipelined GPU timing needs several calls in flight per repetition
        (one call between two synchronisations is not pipelined), so the GPU runner uses 5.
    """

    def __init__(self, sync=None, mode="host", target_ms=2.0, max_inner=1000, min_inner=1):
        if not 1 <= min_inner <= max_inner:
            raise ValueError(f"need 1 <= min_inner <= max_inner, got {min_inner}, {max_inner}")
        self.sync = sync
        self.mode = mode
        self.target_ms = float(target_ms)
        self.max_inner = int(max_inner)
        self.min_inner = int(min_inner)
        self.inner = self.min_inner

    def _sync(self):
        if self.sync is not None:
            self.sync()

    def calibrate(self, *fns):
        """Set :attr:`inner` from the fastest of ``fns`` (one timed call each, after warm-up).

        Both sides of an A/B pair use the same ``inner``, so they are measured the same way.
        """
        fastest = min(self.first_call(fn) for fn in fns)
        if fastest <= 0:
            self.inner = self.max_inner
        else:
            self.inner = max(self.min_inner, min(self.max_inner, math.ceil(self.target_ms / fastest)))
        return self.inner

    def measure(self, fn, reps):
        """``reps`` per-call times (ms), each the mean over :attr:`inner` back-to-back calls."""
        times = []
        inner = self.inner
        for _ in range(reps):
            self._sync()
            start = time.perf_counter_ns()
            for _ in range(inner):
                fn()
            self._sync()
            times.append((time.perf_counter_ns() - start) * 1e-6 / inner)
        return times


class CudaEventTimer(_FirstCallTimer):
    """Kernel mode: CUDA events around each call, with L2 flushed before it.

    Each repetition writes :data:`FLUSH_BYTES` to a scratch buffer, records a start event, calls ``fn``
    and records an end event; elapsed times are read after the last repetition, so the host never waits
    inside the loop. The flush is enqueued before the start event, so it is not part of the time, and
    while the GPU works through it the host has already enqueued the call being timed: the events then
    measure GPU execution, not Python dispatch.

    Events are recorded on CuPy's current stream. PyTorch's default stream and CuPy's are both the
    legacy default stream, so the events also bracket PyTorch kernels launched from ``fn``.

    Parameters
    ----------
    cupy : module
        The imported CuPy module (passed in so this file never imports it).
    flush_bytes : int
        Size of the scratch buffer; 0 disables the flush.
    """

    mode = "kernel"

    def __init__(self, cupy, flush_bytes=FLUSH_BYTES):
        self.cp = cupy
        self.inner = 1
        self.flush_bytes = int(flush_bytes)
        self._scratch = cupy.empty(self.flush_bytes // 4, dtype=cupy.float32) if flush_bytes else None
        self._flips = 0

    def flush(self):
        """Overwrite the scratch buffer, evicting whatever L2 held."""
        if self._scratch is not None:
            # Alternate the value so no layer can skip a write of unchanged data.
            self._flips ^= 1
            self._scratch.fill(float(self._flips))

    def _sync(self):
        self.cp.cuda.runtime.deviceSynchronize()

    def calibrate(self, *fns):
        """Kernel mode times single calls; nothing to calibrate."""
        return 1

    def measure(self, fn, reps):
        """``reps`` GPU times (ms) of ``fn``, each after an L2 flush."""
        cuda = self.cp.cuda
        pairs = [(cuda.Event(), cuda.Event()) for _ in range(reps)]
        self._sync()
        for start, end in pairs:
            self.flush()
            start.record()
            fn()
            end.record()
        pairs[-1][1].synchronize()
        return [cuda.get_elapsed_time(start, end) for start, end in pairs]
