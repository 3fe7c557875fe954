"""Device ceilings for the roofline floor: datasheet numbers by device name, or measured ones.

The floor of an operation is ``max(flops / peak FLOP/s, bytes / peak bandwidth)``: no implementation can
beat it, so ``floor / measured time`` says how much of the hardware a kernel uses, independently of the
baseline it is compared with.
"""
from __future__ import annotations

import re
import time

import numpy as np

__all__ = ["DATASHEET", "datasheet_peaks", "roofline_ms", "measure_gpu_peaks", "measure_host_peaks"]

#: FP32 (non-tensor-core) peak and memory bandwidth from NVIDIA's product datasheets, in TFLOP/s and
#: TB/s. Patterns are tried in order against the NVML device name, most specific first
#: ("NVIDIA H200 NVL" must not match the H200 SXM entry).
DATASHEET = (
    (r"H200\s*NVL", "H200 NVL", 60.0, 4.8),
    (r"H200", "H200 SXM", 67.0, 4.8),
    (r"H100\s*NVL", "H100 NVL", 60.0, 3.9),
    (r"H100\s*PCIe", "H100 PCIe", 51.0, 2.0),
    (r"H100.*(HBM3|SXM)", "H100 SXM", 67.0, 3.35),
    (r"A100.*SXM4.*80GB", "A100 SXM4 80GB", 19.5, 2.039),
    (r"A100.*80GB.*PCIe", "A100 PCIe 80GB", 19.5, 1.935),
    (r"A100.*(SXM4.*40GB|PCIE.*40GB)", "A100 40GB", 19.5, 1.555),
)


def datasheet_peaks(device_name):
    """Datasheet FP32 peak and bandwidth for an NVML device name, or ``None`` when unknown.

    Parameters
    ----------
    device_name : str
        E.g. ``"NVIDIA H100 80GB HBM3"`` (what NVML calls an H100 SXM5).

    Returns
    -------
    dict or None
        ``{"tflops": 67.0, "tbps": 3.35, "source": "datasheet (H100 SXM)"}``.

    Examples
    --------
    >>> datasheet_peaks("NVIDIA H200")["tbps"]
    4.8
    >>> datasheet_peaks("NVIDIA GeForce RTX 4090") is None
    True
    """
    if not device_name:
        return None
    for pattern, label, tflops, tbps in DATASHEET:
        if re.search(pattern, device_name, flags=re.IGNORECASE):
            return {"tflops": tflops, "tbps": tbps, "source": f"datasheet ({label})"}
    return None


def roofline_ms(terms, peaks):
    """Lower bound on the time of a sequence of operations, in milliseconds.

    Parameters
    ----------
    terms : iterable of (float, float)
        ``(flops, bytes)`` of each operation that must run one after the other (a training step is the
        sum of its GEMMs' floors, not the floor of their totals).
    peaks : dict or None
        ``{"tflops": ..., "tbps": ...}``.

    Returns
    -------
    float or None
        ``None`` when the peaks are unknown.
    """
    if not peaks or not peaks.get("tflops") or not peaks.get("tbps"):
        return None
    flop_rate = peaks["tflops"] * 1e12
    byte_rate = peaks["tbps"] * 1e12
    total = 0.0
    for flops, nbytes in terms:
        total += max(flops / flop_rate, nbytes / byte_rate)
    return total * 1e3


# An FMA loop with eight independent chains per thread, enough instruction-level parallelism to keep
# every FP32 lane busy. ``a`` and ``b`` arrive at run time so the compiler cannot fold the loop, and the
# iteration converges (|a| < 1) so no value becomes Inf or denormal.
_FMA_SOURCE = r"""
extern "C" __global__ void gpuparams_fma_peak(float* out, int iters, float a, float b) {
    float v0 = threadIdx.x * 1e-6f, v1 = v0 + 0.1f, v2 = v0 + 0.2f, v3 = v0 + 0.3f;
    float v4 = v0 + 0.4f, v5 = v0 + 0.5f, v6 = v0 + 0.6f, v7 = v0 + 0.7f;
    for (int i = 0; i < iters; ++i) {
#pragma unroll
        for (int j = 0; j < 16; ++j) {
            v0 = fmaf(v0, a, b); v1 = fmaf(v1, a, b); v2 = fmaf(v2, a, b); v3 = fmaf(v3, a, b);
            v4 = fmaf(v4, a, b); v5 = fmaf(v5, a, b); v6 = fmaf(v6, a, b); v7 = fmaf(v7, a, b);
        }
    }
    out[(size_t)blockIdx.x * blockDim.x + threadIdx.x] = v0 + v1 + v2 + v3 + v4 + v5 + v6 + v7;
}
"""
_FMA_PER_ITER = 8 * 16


def _best_event_ms(cupy, fn, repeats):
    best = None
    for _ in range(repeats):
        start, end = cupy.cuda.Event(), cupy.cuda.Event()
        start.record()
        fn()
        end.record()
        end.synchronize()
        elapsed = cupy.cuda.get_elapsed_time(start, end)
        best = elapsed if best is None else min(best, elapsed)
    return best


def measure_gpu_peaks(cupy, sm_count, iters=8192, copy_bytes=2**30, repeats=5):
    """Measure the FP32 FMA rate and the device-to-device copy bandwidth of the current GPU.

    These are the ceilings *at the clocks the device runs now*, usually 85–95 % of the datasheet for
    bandwidth; use them with ``--measure-peaks`` for devices missing from :data:`DATASHEET`.

    Parameters
    ----------
    cupy : module
        The imported CuPy module.
    sm_count : int
        Number of SMs (sizes the grid: 8 blocks of 256 threads per SM).
    iters : int
        Outer FMA-loop iterations per thread.
    copy_bytes : int
        Size of the copied buffer; the copy moves twice this (read + write).
    repeats : int
        The best of this many runs is kept.

    Returns
    -------
    dict
        ``{"tflops", "tbps", "source": "measured"}``.
    """
    threads, blocks = 256, 8 * int(sm_count)
    kernel = cupy.RawKernel(_FMA_SOURCE, "gpuparams_fma_peak")
    out = cupy.empty(threads * blocks, dtype=cupy.float32)
    args = (out, np.int32(iters), np.float32(0.999999), np.float32(1e-7))

    def fma():
        kernel((blocks,), (threads,), args)

    fma()  # compile and load outside the timing
    fma_ms = _best_event_ms(cupy, fma, repeats)
    flops = 2.0 * _FMA_PER_ITER * iters * threads * blocks

    n = copy_bytes // 4
    src = cupy.ones(n, dtype=cupy.float32)
    dst = cupy.empty_like(src)

    def copy():
        cupy.copyto(dst, src)

    copy()
    copy_ms = _best_event_ms(cupy, copy, repeats)
    return {"tflops": flops / (fma_ms * 1e-3) / 1e12,
            "tbps": 2.0 * n * 4 / (copy_ms * 1e-3) / 1e12,
            "source": "measured"}


def measure_host_peaks(matmul_n=1024, copy_bytes=64 * 2**20, repeats=5):
    """Measure the host's FP32 matmul rate (NumPy's BLAS) and its memory copy bandwidth.

    The CPU has no datasheet entry here; this gives the CPU rows a roofline against what this machine's
    BLAS and memory actually reach.
    """
    rng = np.random.default_rng(0)
    a = rng.random((matmul_n, matmul_n), dtype=np.float32)
    b = rng.random((matmul_n, matmul_n), dtype=np.float32)
    np.matmul(a, b)
    best = min(_host_ms(lambda: np.matmul(a, b)) for _ in range(repeats))
    flops = 2.0 * matmul_n ** 3
    src = np.ones(copy_bytes // 4, dtype=np.float32)
    dst = np.empty_like(src)
    np.copyto(dst, src)
    best_copy = min(_host_ms(lambda: np.copyto(dst, src)) for _ in range(repeats))
    return {"tflops": flops / (best * 1e-3) / 1e12,
            "tbps": 2.0 * src.nbytes / (best_copy * 1e-3) / 1e12,
            "source": "measured"}


def _host_ms(fn):
    start = time.perf_counter_ns()
    fn()
    return max((time.perf_counter_ns() - start) * 1e-6, 1e-6)
