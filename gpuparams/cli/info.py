"""``python -m gpuparams info``: versions, NVIDIA devices with their telemetry, and usable paths.

Prints, in plain words, what this machine can do with gpuparams: which library versions are installed,
every NVIDIA device NVML reports (name, UUID, compute capability, SMs, memory, clocks, power, energy,
temperature, clock-event reasons), and which execution paths work here — CPU (NumPy), a real GPU
(CuPy), the emulated ``gpu(0)``, and the NVRTC compile gate — with the reason when one does not.
``--json`` prints the same as JSON.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import sys

from . import OneLineErrorParser

__all__ = ["add_arguments", "run", "main", "collect", "format_report"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``info``'s options to ``parser``."""
    parser.add_argument("--json", action="store_true", help="print the report as JSON")


def _gpu_status():
    from .. import backend
    from ..context import gpu
    try:
        cupy = backend.cupy_module(gpu(0))
    except backend.GPUUnavailableError as exc:
        return False, str(exc)
    count = backend.real_gpu_count()
    return True, f"CuPy {cupy.__version__}, {count} CUDA device(s)"


def _nvrtc_status():
    from ..gate import nvrtc
    try:
        ok, reason = nvrtc.nvrtc_available()
    except Exception as exc:  # the check itself must not take `info` down
        return False, f"nvrtc_available() raised {type(exc).__name__}: {exc}"
    return bool(ok), str(reason)


def _emulator_status():
    from .. import backend
    enabled = backend.emulation_enabled()
    suffix = (f" ({backend.EMULATE_ENV}=1 is set: gp.gpu(0) is emulated)" if enabled
              else f" (set {backend.EMULATE_ENV}=1 to use it as gp.gpu(0))")
    try:
        importlib.import_module("gpuparams.emulator")
    except ImportError as exc:
        return False, f"gpuparams.emulator does not import ({exc})"
    # The emulator builds every kernel with the host C++ compiler ($GPUPARAMS_EMULATOR_CXX, default
    # g++), so that is what decides whether it works.
    wanted = os.environ.get("GPUPARAMS_EMULATOR_CXX", "").strip() or "g++"
    compiler = shutil.which(wanted)
    if compiler is None:
        return False, (f"no C++ compiler {wanted!r} on PATH; the emulator compiles kernels with it "
                       f"(install g++, or set GPUPARAMS_EMULATOR_CXX)")
    return True, f"C++ compiler {compiler}{suffix}"


def collect():
    """Everything ``info`` reports, as a dict (``versions``, ``nvml``, ``paths``)."""
    from ..bench.env import package_version, versions
    from .. import telemetry
    import gpuparams
    info_versions = versions()
    if info_versions.get("nvrtc") is None:
        wheel = package_version("nvidia-cuda-nvrtc", "nvidia-cuda-nvrtc-cu12")
        if wheel:
            info_versions["nvrtc"] = f"{wheel} (wheel)"
    if info_versions.get("cuda_runtime") is None:
        wheel = package_version("nvidia-cuda-runtime", "nvidia-cuda-runtime-cu12")
        if wheel:
            info_versions["cuda_runtime"] = f"{wheel} (wheel)"
    nvml = telemetry.query_devices()
    paths = {}
    for key, label, check in (("cpu", "CPU (NumPy)", lambda: (True, f"NumPy {info_versions['numpy']}")),
                              ("cupy_gpu", "GPU (CuPy)", _gpu_status),
                              ("emulator", "emulated gpu(0)", _emulator_status),
                              ("compile_gate", "compile gate (NVRTC)", _nvrtc_status)):
        ok, reason = check()
        paths[key] = {"label": label, "usable": ok, "detail": reason}
    return {"gpuparams_path": os.path.dirname(os.path.abspath(gpuparams.__file__)),
            "versions": info_versions, "nvml": nvml, "paths": paths}


def _v(value, missing="not installed"):
    return missing if value is None else str(value)


def _gib(value):
    return "?" if value is None else f"{value / 2**30:.1f}"


def _num(value, fmt="{:.0f}", missing="?"):
    return missing if value is None else fmt.format(value)


def _device_lines(dev):
    if "error" in dev:
        return [f"  [{dev['index']}] could not be read: {dev['error']}"]
    head = f"  [{dev['index']}] {dev.get('name') or 'unknown device'}"
    ident = []
    if dev.get("cuda_index") is not None:
        ident.append(f"cuda {dev['cuda_index']}")
    if dev.get("compute_capability"):
        ident.append(f"compute capability {dev['compute_capability']}")
    ident.append(f"{dev['sm_count']} SMs" if dev.get("sm_count") else "SMs: ? (needs CuPy)")
    lines = [f"{head}  ({', '.join(ident)})"]
    if dev.get("uuid"):
        lines.append(f"      uuid         {dev['uuid']}")
    lines.append(f"      memory       {_gib(dev.get('memory_used_bytes'))} of "
                 f"{_gib(dev.get('memory_total_bytes'))} GiB used; utilisation "
                 f"{_num(dev.get('utilization_gpu_pct'))} % "
                 f"(memory {_num(dev.get('utilization_memory_pct'))} %)")
    lines.append(f"      clocks       SM {_num(dev.get('sm_clock_mhz'))} of "
                 f"{_num(dev.get('sm_clock_max_mhz'))} "
                 f"MHz, memory {_num(dev.get('mem_clock_mhz'))} of {_num(dev.get('mem_clock_max_mhz'))} MHz")
    lines.append(f"      power        {_num(dev.get('power_w'), '{:.1f}')} W of "
                 f"{_num(dev.get('power_limit_w'))} W limit; energy counter "
                 f"{_num(dev.get('energy_j'), '{:.1f}')} J")
    reasons = ", ".join(dev.get("clock_event_reason_names") or []) or "none"
    lines.append(f"      temperature  {_num(dev.get('temperature_c'))} C; clock events: {reasons}")
    return lines


def format_report(info):
    """The human-readable report of :func:`collect`'s dict."""
    v = info["versions"]
    nvml = info["nvml"]
    lines = [f"gpuparams {_v(v.get('gpuparams'), '?')}  ({info['gpuparams_path']})", "", "Versions"]
    driver = nvml["driver"] if nvml["available"] else nvml["reason"]
    cupy_text = _v(v.get("cupy"))
    if v.get("cupy_error"):
        cupy_text += f" (does not import: {v['cupy_error']})"
    for label, value in (("Python", v.get("python")), ("NumPy", v.get("numpy")),
                         ("CuPy", cupy_text), ("CUDA runtime", _v(v.get("cuda_runtime"), "-")),
                         ("NVRTC", _v(v.get("nvrtc"), "-")), ("NVIDIA driver", driver),
                         ("CUDA (driver)", _v(nvml.get("cuda_driver"), "-")),
                         ("PyTorch", _v(v.get("torch"))), ("nvidia-ml-py", _v(v.get("nvidia_ml_py"))),
                         ("matplotlib", _v(v.get("matplotlib")))):
        lines.append(f"  {label:<15} {value}")
    lines += ["", "Devices"]
    if not nvml["devices"]:
        lines.append(f"  none: {nvml['reason']}")
    for dev in nvml["devices"]:
        lines.extend(_device_lines(dev))
    lines += ["", "Usable here"]
    for entry in info["paths"].values():
        lines.append(f"  {entry['label']:<22} {'yes' if entry['usable'] else 'no ':<4} {entry['detail']}")
    return "\n".join(lines)


def run(args) -> int:
    """Print the report; exit code 0 (``info`` reports problems, it does not fail on them)."""
    info = collect()
    if getattr(args, "json", False):
        print(json.dumps(info, indent=2, default=str))
    else:
        print(format_report(info))
    return 0


def main(argv=None) -> int:
    """Stand-alone entry point (``python -m gpuparams.cli.info``)."""
    parser = OneLineErrorParser(prog="gpuparams info", description=__doc__.splitlines()[0])
    add_arguments(parser)
    return run(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
