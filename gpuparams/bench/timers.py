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

import numpy as np

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

    The flush alone does not keep Python out of the time when ``fn`` launches several kernels (the
    CuPy chain, a training step): the GPU can finish the flush before the host has enqueued the second
    launch, and the gap is then charged to ``fn``. So after the flush a device-side spin (a one-thread
    kernel polling ``clock64``) is enqueued, sized in :meth:`calibrate` to twice the longest host
    enqueue time of the functions timed (20 µs – 2 ms), which lets the host enqueue all of ``fn``
    before the start event is reached. Both are recorded: :attr:`spin_us` and, per function, the
    median host enqueue time of its last measurement (:attr:`dispatch_ms`), which the harness puts
    into the row's note.

    Events are recorded on CuPy's current stream. PyTorch's default stream and CuPy's are both the
    legacy default stream, so the events also bracket PyTorch kernels launched from ``fn``.

    Parameters
    ----------
    cupy : module
        The imported CuPy module (passed in so this file never imports it).
    flush_bytes : int
        Size of the scratch buffer; 0 disables the flush.
    spin : bool
        Enqueue the device spin after the flush (default); False times as before (flush only).
    """

    mode = "kernel"
    MIN_SPIN_US = 20.0
    MAX_SPIN_US = 2000.0

    def __init__(self, cupy, flush_bytes=FLUSH_BYTES, spin=True):
        self.cp = cupy
        self.inner = 1
        self.flush_bytes = int(flush_bytes)
        self._scratch = cupy.empty(self.flush_bytes // 4, dtype=cupy.float32) if flush_bytes else None
        self._flips = 0
        self.spin_enabled = bool(spin)
        self.spin_us = self.MIN_SPIN_US if spin else 0.0
        self.dispatch_ms = {}
        self._spin_kernel = None
        self._cycles_per_us = None

    def spin(self):
        """Enqueue a kernel that keeps the GPU busy for :attr:`spin_us` microseconds."""
        if not self.spin_enabled or self.spin_us <= 0:
            return
        if self._spin_kernel is None:
            self._spin_kernel = self.cp.RawKernel(
                'extern "C" __global__ void gp_bench_spin(long long cycles) {\n'
                '    const long long t0 = clock64();\n'
                '    while (clock64() - t0 < cycles) { }\n'
                '}\n', "gp_bench_spin")
            dev = self.cp.cuda.Device()
            self._cycles_per_us = dev.attributes["ClockRate"] / 1000.0  # kHz -> cycles per us
        cycles = int(self.spin_us * self._cycles_per_us)
        self._spin_kernel((1,), (1,), (np.int64(cycles),))

    def flush(self):
        """Overwrite the scratch buffer, evicting whatever L2 held."""
        if self._scratch is not None:
            # Alternate the value so no layer can skip a write of unchanged data.
            self._flips ^= 1
            self._scratch.fill(float(self._flips))

    def _sync(self):
        self.cp.cuda.runtime.deviceSynchronize()

    def calibrate(self, *fns):
        """Sizes the spin from the host enqueue time of one call of each ``fn``; returns 1."""
        if self.spin_enabled:
            longest = 0.0
            for fn in fns:
                self._sync()
                t0 = time.perf_counter_ns()
                fn()
                longest = max(longest, (time.perf_counter_ns() - t0) * 1e-3)
            self.spin_us = min(self.MAX_SPIN_US, max(self.MIN_SPIN_US, 2.0 * longest))
        self._sync()
        return 1

    def measure(self, fn, reps):
        """``reps`` GPU times (ms) of ``fn``, each after an L2 flush and the device spin."""
        cuda = self.cp.cuda
        pairs = [(cuda.Event(), cuda.Event()) for _ in range(reps)]
        host = []
        self._sync()
        for start, end in pairs:
            self.flush()
            self.spin()
            start.record()
            t0 = time.perf_counter_ns()
            fn()
            host.append((time.perf_counter_ns() - t0) * 1e-6)
            end.record()
        pairs[-1][1].synchronize()
        self.dispatch_ms[fn] = float(np.median(host))
        return [cuda.get_elapsed_time(start, end) for start, end in pairs]
