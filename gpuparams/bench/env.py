"""What the benchmarks run on: library versions, the device description, TF32 and thread pinning.

Nothing here imports CuPy or PyTorch at module import; the functions that need them take the module or
import it lazily.
"""
from __future__ import annotations

import importlib.metadata as _metadata
import os
import platform
import sys

from .. import telemetry

__all__ = [
    "package_version", "versions", "pin_tf32_off_env", "pin_torch_tf32_off", "host_threads",
    "cpu_name", "cpu_device", "gpu_device",
]

_CUPY_DISTRIBUTIONS = ("cupy-cuda13x", "cupy-cuda12x", "cupy-cuda11x", "cupy")


def package_version(*distributions):
    """Installed version of the first of ``distributions`` that is installed, else ``None``.

    Reads package metadata only: asking for PyTorch's version must not cost a two-second import.
    """
    for name in distributions:
        try:
            return _metadata.version(name)
        except _metadata.PackageNotFoundError:
            continue
    return None


def versions(import_cupy=True):
    """Versions of everything a benchmark result depends on.

    Parameters
    ----------
    import_cupy : bool
        Import CuPy (when installed) to ask for the CUDA runtime and NVRTC versions. Both answers come
        from the shared libraries alone and need no driver.

    Returns
    -------
    dict
        ``gpuparams``, ``python``, ``numpy``, ``cupy``, ``cuda_runtime``, ``nvrtc``, ``torch``,
        ``nvidia_ml_py``, ``matplotlib``; ``None`` for what is not installed, and ``cupy_error`` when CuPy
        is installed but does not import.
    """
    import numpy
    import gpuparams
    info = {
        "gpuparams": getattr(gpuparams, "__version__", None),
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "cupy": package_version(*_CUPY_DISTRIBUTIONS),
        "cuda_runtime": None,
        "nvrtc": None,
        "torch": package_version("torch"),
        "nvidia_ml_py": package_version("nvidia-ml-py"),
        "matplotlib": package_version("matplotlib"),
    }
    if import_cupy and info["cupy"] is not None:
        try:
            import cupy  # noqa: WPS433 (optional, lazy)
            info["cupy"] = cupy.__version__
            try:
                runtime = int(cupy.cuda.runtime.runtimeGetVersion())
                info["cuda_runtime"] = telemetry._cuda_version_text(runtime)
            except Exception as exc:
                info["cuda_runtime_error"] = f"{type(exc).__name__}: {exc}"
            try:
                major, minor = cupy.cuda.nvrtc.getVersion()
                info["nvrtc"] = f"{major}.{minor}"
            except Exception as exc:
                info["nvrtc_error"] = f"{type(exc).__name__}: {exc}"
        except Exception as exc:
            info["cupy_error"] = f"{type(exc).__name__}: {exc}"
    return info


def pin_tf32_off_env():
    """Turn TF32 off for CuPy and every NVIDIA math library, before any of them initialises.

    ``CUPY_TF32=0`` keeps CuPy's matmul on the FP32 path and ``NVIDIA_TF32_OVERRIDE=0`` makes cuBLAS and
    cuDNN ignore any request for TF32. Both are read when the library initialises, so this must run
    before CuPy is imported; if CuPy was imported earlier with ``CUPY_TF32`` on, the returned note says
    so (the correctness gate would also refuse a TF32 result: its error is about 1e-3).

    Returns
    -------
    str
        What was done, for the results file.
    """
    previous = os.environ.get("CUPY_TF32")
    os.environ["CUPY_TF32"] = "0"
    os.environ["NVIDIA_TF32_OVERRIDE"] = "0"
    if "cupy" in sys.modules and previous not in (None, "", "0"):
        return f"CUPY_TF32 was {previous!r} when CuPy was imported; TF32 may be on for CuPy"
    return "off (CUPY_TF32=0, NVIDIA_TF32_OVERRIDE=0)"


def pin_torch_tf32_off(torch):
    """Make PyTorch compute FP32 matmuls and convolutions in IEEE FP32, not TF32.

    Newer PyTorch has the ``fp32_precision`` switches and refuses to mix them with the legacy
    ``allow_tf32`` flags, so only one of the two APIs is used.
    """
    backends = torch.backends
    if hasattr(backends.cuda.matmul, "fp32_precision"):
        backends.fp32_precision = "ieee"
        backends.cuda.matmul.fp32_precision = "ieee"
        backends.cudnn.conv.fp32_precision = "ieee"
        backends.cudnn.rnn.fp32_precision = "ieee"
        return "off (torch fp32_precision='ieee')"
    backends.cuda.matmul.allow_tf32 = False
    backends.cudnn.allow_tf32 = False
    torch.set_float32_matmul_precision("highest")
    return "off (torch allow_tf32=False)"


def host_threads():
    """The number of threads NumPy's BLAS uses, so PyTorch can be given the same.

    Asks threadpoolctl when installed; otherwise the usual environment variables; otherwise the CPU
    count (OpenBLAS's and MKL's default).
    """
    try:
        from threadpoolctl import threadpool_info  # noqa: WPS433 (optional)
        counts = [pool["num_threads"] for pool in threadpool_info() if pool.get("user_api") == "blas"]
        if counts:
            return int(max(counts))
    except Exception:
        pass
    for variable in ("OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "OMP_NUM_THREADS"):
        value = os.environ.get(variable, "").strip()
        if value.isdigit() and int(value) > 0:
            return int(value)
    return os.cpu_count() or 1


def cpu_name():
    """The CPU model (``/proc/cpuinfo``'s "model name" on Linux, else :func:`platform.processor`)."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def cpu_device(threads, versions_info=None, peaks=None):
    """The ``device`` block of a CPU run."""
    info = versions_info or versions(import_cupy=False)
    return {
        "name": f"CPU {cpu_name()}",
        "kind": "cpu",
        "sm_count": None,
        "driver": None,
        "cuda": None,
        "cupy": info.get("cupy"),
        "torch": info.get("torch"),
        "numpy": info.get("numpy"),
        "gpuparams": info.get("gpuparams"),
        "python": info.get("python"),
        "cpu_count": os.cpu_count(),
        "threads": threads,
        "platform": platform.platform(),
        "peaks": peaks,
    }


def gpu_device(cupy, cuda_index, telemetry_report, versions_info, peaks=None, tf32=None):
    """The ``device`` block of a GPU run: CUDA's view of the device joined with NVML's.

    Parameters
    ----------
    cupy : module
    cuda_index : int
        The CUDA device index (after ``CUDA_VISIBLE_DEVICES``).
    telemetry_report : dict
        :func:`gpuparams.telemetry.query_devices` output; the device is found by PCI bus id.
    versions_info : dict
        :func:`versions` output.
    """
    props = cupy.cuda.runtime.getDeviceProperties(cuda_index)
    name = props["name"]
    if isinstance(name, bytes):
        name = name.decode()
    device = cupy.cuda.Device(cuda_index)
    bus_id = device.pci_bus_id
    wanted = telemetry.normalize_pci_bus_id(bus_id)
    nvml = next((d for d in telemetry_report.get("devices", []) if d.get("pci_bus_id") == wanted), {})
    return {
        "name": name,
        "kind": "gpu",
        "cuda_index": cuda_index,
        "sm_count": int(props["multiProcessorCount"]),
        "compute_capability": f"{props['major']}.{props['minor']}",
        "memory_total_bytes": int(props["totalGlobalMem"]),
        "l2_bytes": int(props.get("l2CacheSize", 0)) or None,
        "pci_bus_id": bus_id,
        "uuid": nvml.get("uuid"),
        "driver": telemetry_report.get("driver"),
        "cuda_driver": telemetry_report.get("cuda_driver"),
        "cuda": versions_info.get("cuda_runtime"),
        "nvrtc": versions_info.get("nvrtc"),
        "cupy": versions_info.get("cupy"),
        "torch": versions_info.get("torch"),
        "numpy": versions_info.get("numpy"),
        "gpuparams": versions_info.get("gpuparams"),
        "python": versions_info.get("python"),
        "power_limit_w": nvml.get("power_limit_w"),
        "sm_clock_max_mhz": nvml.get("sm_clock_max_mhz"),
        "mem_clock_max_mhz": nvml.get("mem_clock_max_mhz"),
        "nvml": telemetry_report.get("available"),
        "nvml_reason": telemetry_report.get("reason"),
        "tf32": tf32,
        "peaks": peaks,
    }
