"""``gpuparams info``: versions, devices through (fake) NVML, and the usable paths."""
import argparse
import json
import os
import subprocess
import sys
import types

import numpy as np
import pytest

from gpuparams.cli import info

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class _NVMLError(Exception):
    pass


class _LibraryNotFound(_NVMLError):
    pass


def _fake_nvml(devices=1, fail=None):
    """A minimal pynvml stand-in: missing functions read as 'not reported' in telemetry."""
    dev = object()
    fake = types.SimpleNamespace(
        NVMLError=_NVMLError, NVMLError_LibraryNotFound=_LibraryNotFound,
        NVML_CLOCK_SM=1, NVML_CLOCK_MEM=2, NVML_TEMPERATURE_GPU=0)

    def init():
        if fail is not None:
            raise fail
    fake.nvmlInit = init
    fake.nvmlShutdown = lambda: None
    fake.nvmlSystemGetDriverVersion = lambda: "580.65.06"
    fake.nvmlSystemGetCudaDriverVersion = lambda: 13000
    fake.nvmlDeviceGetCount = lambda: devices
    fake.nvmlDeviceGetHandleByIndex = lambda i: dev
    fake.nvmlDeviceGetName = lambda h: "NVIDIA H200"
    fake.nvmlDeviceGetUUID = lambda h: "GPU-abcd"
    fake.nvmlDeviceGetCudaComputeCapability = lambda h: (9, 0)
    fake.nvmlDeviceGetMemoryInfo = lambda h: types.SimpleNamespace(total=141 * 2**30, used=2**30)
    fake.nvmlDeviceGetClockInfo = lambda h, c: 1980 if c == 1 else 3201
    fake.nvmlDeviceGetMaxClockInfo = lambda h, c: 1980 if c == 1 else 3201
    fake.nvmlDeviceGetPowerUsage = lambda h: 123_400
    fake.nvmlDeviceGetEnforcedPowerLimit = lambda h: 700_000
    fake.nvmlDeviceGetTemperature = lambda h, s: 35
    fake.nvmlDeviceGetCurrentClocksEventReasons = lambda h: 0x1 | 0x20
    return fake


def _run(capsys, *argv):
    parser = argparse.ArgumentParser()
    info.add_arguments(parser)
    code = info.run(parser.parse_args(list(argv)))
    return code, capsys.readouterr().out


def test_info_without_a_driver_says_so_and_lists_usable_paths(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "pynvml", _fake_nvml(fail=_LibraryNotFound("not found")))
    code, out = _run(capsys)
    assert code == 0
    assert f"NumPy           {np.__version__}" in out
    assert "NVIDIA driver   no NVIDIA driver (libnvidia-ml.so.1 not found)" in out
    assert "Devices\n  none: no NVIDIA driver (libnvidia-ml.so.1 not found)" in out
    assert "CPU (NumPy)            yes" in out
    for label in ("GPU (CuPy)", "emulated gpu(0)", "compile gate (NVRTC)"):
        assert f"\n  {label}" in out


def test_info_shows_each_device_with_its_telemetry(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "pynvml", _fake_nvml())
    code, out = _run(capsys)
    assert code == 0
    assert "NVIDIA driver   580.65.06" in out
    assert "CUDA (driver)   13.0" in out
    assert "[0] NVIDIA H200  (compute capability 9.0" in out
    assert "uuid         GPU-abcd" in out
    assert "1.0 of 141.0 GiB used" in out
    assert "SM 1980 of 1980 MHz, memory 3201 of 3201 MHz" in out
    assert "123.4 W of 700 W limit" in out
    assert "clock events: gpu_idle, sw_thermal_slowdown" in out


def test_info_json_has_versions_devices_and_paths(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "pynvml", _fake_nvml(devices=2))
    code, out = _run(capsys, "--json")
    assert code == 0
    data = json.loads(out)
    assert data["versions"]["numpy"] == np.__version__
    assert len(data["nvml"]["devices"]) == 2
    assert data["nvml"]["devices"][1]["power_limit_w"] == pytest.approx(700.0)
    assert data["paths"]["cpu"]["usable"] is True
    assert set(data["paths"]) == {"cpu", "cupy_gpu", "emulator", "compile_gate"}


def test_gpu_path_reason_comes_from_the_backend(monkeypatch, capsys):
    from gpuparams import backend
    if backend._real_device_count() > 0:
        pytest.skip("this machine has a GPU")
    monkeypatch.setitem(sys.modules, "pynvml", _fake_nvml(fail=_LibraryNotFound("x")))
    _, out = _run(capsys, "--json")
    gpu = json.loads(out)["paths"]["cupy_gpu"]
    assert gpu["usable"] is False
    assert "gpu(0)" in gpu["detail"]


def test_info_runs_as_a_module_with_one_line_usage_errors():
    proc = subprocess.run([sys.executable, "-m", "gpuparams.cli.info", "--bogus"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 2
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("gpuparams info: error: unrecognized arguments: --bogus")
    proc = subprocess.run([sys.executable, "-m", "gpuparams.cli.info"], cwd=ROOT, capture_output=True,
                          text=True)
    assert proc.returncode == 0 and "Usable here" in proc.stdout and proc.stderr == ""


def test_emulator_path_needs_the_host_compiler(monkeypatch):
    monkeypatch.setenv("GPUPARAMS_EMULATOR_CXX", "no-such-compiler-for-gpuparams")
    ok, detail = info._emulator_status()
    assert ok is False
    assert "no-such-compiler-for-gpuparams" in detail or "not in this build" in detail
