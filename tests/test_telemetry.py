"""gpuparams.telemetry: without a driver, and with a fake NVML module that scripts device states."""
import os
import subprocess
import sys
import time
import types

import pytest

from gpuparams import telemetry


class FakeNVMLError(Exception):
    pass


class FakeLibraryNotFound(FakeNVMLError):
    pass


class FakeDriverNotLoaded(FakeNVMLError):
    pass


class FakeNotSupported(FakeNVMLError):
    pass


class FakeDevice:
    def __init__(self, name, bus_id, uuid, power_supported=True):
        self.name = name
        self.bus_id = bus_id
        self.uuid = uuid
        self.power_supported = power_supported
        self.energy_mj = 1_000_000
        self.state = dict(sm=1980, mem=2619, power_mw=350_000, used=2 * 2**30, temp=41, reasons=0x1,
                          util_gpu=0, util_mem=0)


class FakeNVML:
    """Just enough of pynvml's surface, with the real function names and units (mW, mJ, bytes)."""

    NVMLError = FakeNVMLError
    NVMLError_LibraryNotFound = FakeLibraryNotFound
    NVMLError_DriverNotLoaded = FakeDriverNotLoaded
    NVML_CLOCK_SM = 1
    NVML_CLOCK_MEM = 2
    NVML_TEMPERATURE_GPU = 0

    def __init__(self, devices=(), fail_init=None, broken_index=None):
        self.devices = list(devices)
        self.fail_init = fail_init
        self.broken_index = broken_index
        self.inits = 0
        self.shutdowns = 0

    def nvmlInit(self):
        if self.fail_init is not None:
            raise self.fail_init
        self.inits += 1

    def nvmlShutdown(self):
        self.shutdowns += 1

    def nvmlSystemGetDriverVersion(self):
        return "580.65.06"

    def nvmlSystemGetCudaDriverVersion(self):
        return 13000

    def nvmlDeviceGetCount(self):
        return len(self.devices)

    def nvmlDeviceGetHandleByIndex(self, index):
        if index == self.broken_index:
            raise FakeNVMLError("GPU is lost")
        return self.devices[index]

    def nvmlDeviceGetHandleByPciBusId(self, bus_id):
        for dev in self.devices:
            if telemetry.normalize_pci_bus_id(dev.bus_id) == telemetry.normalize_pci_bus_id(bus_id):
                return dev
        raise FakeNVMLError("not found")

    def nvmlDeviceGetName(self, dev):
        return dev.name.encode()  # older pynvml returns bytes

    def nvmlDeviceGetUUID(self, dev):
        return dev.uuid

    def nvmlDeviceGetPciInfo(self, dev):
        return types.SimpleNamespace(busId=dev.bus_id.encode())

    def nvmlDeviceGetCudaComputeCapability(self, dev):
        return (9, 0)

    def nvmlDeviceGetMemoryInfo(self, dev):
        return types.SimpleNamespace(total=80 * 2**30, used=dev.state["used"],
                                     free=80 * 2**30 - dev.state["used"])

    def nvmlDeviceGetUtilizationRates(self, dev):
        return types.SimpleNamespace(gpu=dev.state["util_gpu"], memory=dev.state["util_mem"])

    def nvmlDeviceGetClockInfo(self, dev, clock):
        return dev.state["sm"] if clock == self.NVML_CLOCK_SM else dev.state["mem"]

    def nvmlDeviceGetMaxClockInfo(self, dev, clock):
        return 1980 if clock == self.NVML_CLOCK_SM else 2619

    def nvmlDeviceGetPowerUsage(self, dev):
        if not dev.power_supported:
            raise FakeNotSupported("not supported")
        return dev.state["power_mw"]

    def nvmlDeviceGetEnforcedPowerLimit(self, dev):
        if not dev.power_supported:
            raise FakeNotSupported("not supported")
        return 700_000

    def nvmlDeviceGetTotalEnergyConsumption(self, dev):
        dev.energy_mj += 5_000  # 5 J between readings
        return dev.energy_mj

    def nvmlDeviceGetTemperature(self, dev, sensor):
        return dev.state["temp"]

    def nvmlDeviceGetCurrentClocksEventReasons(self, dev):
        return dev.state["reasons"]


def h100(bus="00000000:17:00.0", **kw):
    return FakeDevice("NVIDIA H100 80GB HBM3", bus, "GPU-1111", **kw)


# --- decoding ---------------------------------------------------------------------------------------

def test_decode_names_each_bit_and_keeps_unknown_bits():
    assert telemetry.decode_clock_event_reasons(0) == []
    assert telemetry.decode_clock_event_reasons(None) == []
    assert telemetry.decode_clock_event_reasons(0x44) == ["sw_power_cap", "hw_thermal_slowdown"]
    assert telemetry.decode_clock_event_reasons(0x1 | 0x80) == ["gpu_idle", "hw_power_brake_slowdown"]
    assert telemetry.decode_clock_event_reasons(0x4 | 0x1000) == ["sw_power_cap", "unknown_0x1000"]
    every = 0
    for bit, _ in telemetry.CLOCK_EVENT_REASONS:
        every |= bit
    assert len(telemetry.decode_clock_event_reasons(every)) == len(telemetry.CLOCK_EVENT_REASONS)


def test_only_thermal_and_hardware_reasons_count_as_throttling():
    assert not telemetry.is_throttled(0)
    assert not telemetry.is_throttled(0x1 | 0x2 | 0x10 | 0x100)  # idle, app clocks, sync boost, display
    # The software power cap is where every sustained FP32 GEMM runs (issue 12): not a reason to re-run.
    assert not telemetry.is_throttled(0x4)
    assert not telemetry.is_throttled(0x4 | 0x1)
    for bit in (0x8, 0x20, 0x40, 0x80, 0x200, 0x400):
        assert telemetry.is_throttled(bit | 0x4), hex(bit)


# --- without a driver ---------------------------------------------------------------------------------

def test_missing_library_is_reported_plainly():
    fake = FakeNVML(fail_init=FakeLibraryNotFound("NVML Shared Library Not Found"))
    ok, reason = telemetry.nvml_status(fake)
    assert not ok
    assert reason == "no NVIDIA driver (libnvidia-ml.so.1 not found)"
    report = telemetry.query_devices(fake)
    assert report == {"available": False, "reason": reason, "driver": None, "cuda_driver": None,
                      "devices": []}


def test_driver_not_loaded_and_other_failures_have_reasons():
    ok, reason = telemetry.nvml_status(FakeNVML(fail_init=FakeDriverNotLoaded("x")))
    assert not ok and "no NVIDIA driver loaded" in reason
    ok, reason = telemetry.nvml_status(FakeNVML(fail_init=FakeNVMLError("Unknown Error")))
    assert not ok and reason == "NVML failed to initialise: Unknown Error"


def test_missing_pynvml_package_is_reported(monkeypatch):
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes `import pynvml` raise ImportError
    ok, reason = telemetry.nvml_status()
    assert not ok
    assert "nvidia-ml-py is not installed" in reason
    summary = telemetry.Sampler().__enter__().stop()
    assert summary == {"available": False, "reason": reason}


@pytest.mark.skipif(os.path.exists("/dev/nvidiactl"), reason="this machine has an NVIDIA driver")
def test_real_pynvml_without_driver_says_so():
    try:
        import pynvml  # noqa: F401
    except ImportError:
        pytest.skip("nvidia-ml-py is not installed")
    ok, reason = telemetry.nvml_status()
    assert not ok
    assert "no NVIDIA driver" in reason
    with telemetry.Sampler() as sampler:
        pass
    assert sampler.summary() == {"available": False, "reason": reason}
    assert not sampler.available


# --- device list -----------------------------------------------------------------------------------

def test_query_devices_reads_identity_and_state_with_units_converted():
    a = h100()
    b = FakeDevice("NVIDIA H200", "00000000:2A:00.0", "GPU-2222")
    b.state.update(reasons=0x4 | 0x20, power_mw=699_500)
    fake = FakeNVML([a, b])
    cuda = {"0:17:00.0": {"cuda_index": 1, "sm_count": 132},
            "0:2a:00.0": {"cuda_index": 0, "sm_count": 132}}
    report = telemetry.query_devices(fake, cuda_attributes=lambda: cuda)
    assert report["available"] and report["reason"] is None
    assert report["driver"] == "580.65.06"
    assert report["cuda_driver"] == "13.0"
    first, second = report["devices"]
    assert first["name"] == "NVIDIA H100 80GB HBM3"  # bytes decoded
    assert first["uuid"] == "GPU-1111"
    assert first["compute_capability"] == "9.0"
    assert first["cuda_index"] == 1 and first["sm_count"] == 132  # joined on the PCI bus id
    assert second["cuda_index"] == 0
    assert first["memory_total_bytes"] == 80 * 2**30
    assert first["sm_clock_mhz"] == 1980 and first["sm_clock_max_mhz"] == 1980
    assert first["mem_clock_max_mhz"] == 2619
    assert first["power_w"] == pytest.approx(350.0)
    assert first["power_limit_w"] == pytest.approx(700.0)
    assert first["energy_j"] == pytest.approx(1005.0)
    assert first["clock_event_reason_names"] == ["gpu_idle"]
    assert second["clock_event_reason_names"] == ["sw_power_cap", "sw_thermal_slowdown"]
    assert fake.inits == fake.shutdowns == 1


def test_unsupported_readings_are_none_and_a_lost_gpu_does_not_hide_the_others():
    fake = FakeNVML([h100(power_supported=False), h100("00000000:18:00.0")], broken_index=1)
    report = telemetry.query_devices(fake, cuda_attributes={})
    first, second = report["devices"]
    assert first["power_w"] is None and first["power_limit_w"] is None
    assert first["sm_count"] is None  # no CuPy attributes given
    assert second["index"] == 1 and "GPU is lost" in second["error"]


def test_bus_ids_from_nvml_and_cuda_normalise_alike():
    assert telemetry.normalize_pci_bus_id("00000000:17:00.0") == telemetry.normalize_pci_bus_id(
        "0000:17:00.0")
    assert telemetry.normalize_pci_bus_id(b"00000001:AB:00.0") == "1:ab:00.0"
    assert telemetry.normalize_pci_bus_id(None) is None


# --- sampler summary ---------------------------------------------------------------------------------

def _sample(t, sm, power, reasons, energy=None, used=1, temp=40):
    return {"t": t, "sm_clock_mhz": sm, "mem_clock_mhz": 2619, "power_w": power,
            "memory_used_bytes": used, "temperature_c": temp, "utilization_gpu_pct": 100,
            "utilization_memory_pct": 50, "energy_mj": energy, "clock_event_reasons": reasons}


def test_summary_takes_min_median_peak_and_ors_the_reasons():
    samples = [_sample(10.0, 1980, 300.0, 0x0, 1000, used=5, temp=40),
               _sample(10.1, 1755, 698.0, 0x4, 1070, used=9, temp=47),
               _sample(10.2, 1980, 650.0, 0x0, 1140, used=7, temp=45),
               _sample(10.3, None, None, None, None)]
    s = telemetry.summarize_samples(samples, power_limit_w=700.0)
    assert s["available"] and s["samples"] == 4
    assert s["duration_s"] == pytest.approx(0.3)
    assert s["sm_clock_mhz"] == {"min": 1755, "median": 1980, "max": 1980}
    assert s["power_w"] == {"median": 650.0, "peak": 698.0}
    assert s["power_limit_w"] == 700.0
    assert s["memory_used_peak_bytes"] == 9
    assert s["temperature_max_c"] == 47
    assert s["energy_j"] == pytest.approx(0.14)
    assert s["clock_event_reasons"] == 0x4
    assert s["clock_event_reason_names"] == ["sw_power_cap"]
    assert s["throttled"] is False  # recorded, but the power cap alone is not throttling


def test_summary_of_an_idle_section_is_not_throttled():
    s = telemetry.summarize_samples([_sample(0.0, 1980, 80.0, 0x1), _sample(0.1, 1980, 81.0, 0x1)])
    assert s["clock_event_reason_names"] == ["gpu_idle"]
    assert s["throttled"] is False
    assert s["energy_j"] is None


def test_sampler_records_a_dip_and_a_throttle_between_start_and_stop():
    dev = h100()
    fake = FakeNVML([dev])
    sampler = telemetry.Sampler(0, interval_s=3600, nvml=fake)  # the thread never fires on its own
    sampler.start()
    assert sampler.available and len(sampler.samples) == 1
    dev.state.update(sm=1410, power_mw=700_000, reasons=0x4 | 0x40, used=30 * 2**30, temp=83)
    sampler.sample_once()
    dev.state.update(sm=1980, power_mw=500_000, reasons=0x0, used=3 * 2**30, temp=60)
    summary = sampler.stop()
    assert summary["samples"] == 3  # start, the manual one, stop
    assert summary["sm_clock_mhz"]["min"] == 1410
    assert summary["sm_clock_mhz"]["median"] == 1980
    assert summary["power_w"]["peak"] == pytest.approx(700.0)
    assert summary["power_limit_w"] == pytest.approx(700.0)
    assert summary["memory_used_peak_bytes"] == 30 * 2**30
    assert summary["temperature_max_c"] == 83
    # The first reading was idle (0x1): the OR keeps every reason seen during the section.
    assert summary["clock_event_reason_names"] == ["gpu_idle", "sw_power_cap", "hw_thermal_slowdown"]
    assert summary["throttled"] is True
    assert summary["energy_j"] == pytest.approx(10.0)  # two 5 J steps of the counter
    assert fake.inits == fake.shutdowns == 1


def test_sampler_thread_takes_readings_until_stopped():
    fake = FakeNVML([h100()])
    with telemetry.Sampler(0, interval_s=0.001, nvml=fake) as sampler:
        deadline = time.monotonic() + 10
        while len(sampler.samples) < 5 and time.monotonic() < deadline:
            time.sleep(0.005)
    assert sampler._thread is None
    count = len(sampler.samples)
    assert count >= 6  # at least 5 taken while running, plus the final reading
    time.sleep(0.01)
    assert len(sampler.samples) == count  # nothing after stop
    assert sampler.summary()["samples"] == count


def test_sampler_finds_a_device_by_cuda_pci_bus_id():
    a, b = h100("00000000:17:00.0"), h100("00000000:65:00.0")
    b.state["sm"] = 1234
    sampler = telemetry.Sampler("0000:65:00.0", interval_s=3600, nvml=FakeNVML([a, b]))
    summary = sampler.start().stop()
    assert summary["sm_clock_mhz"]["max"] == 1234


def test_sampler_for_a_missing_device_reports_why():
    fake = FakeNVML([h100()])
    summary = telemetry.Sampler(3, nvml=fake).start().stop()
    assert summary["available"] is False
    assert "no device 3" in summary["reason"]
    assert fake.inits == fake.shutdowns == 1


def test_sampler_rejects_a_nonpositive_interval():
    with pytest.raises(ValueError, match="interval_s"):
        telemetry.Sampler(interval_s=0)


def test_importing_telemetry_and_the_bench_imports_no_gpu_library():
    code = ("import sys, gpuparams, gpuparams.telemetry, gpuparams.bench, gpuparams.cli.info, "
            "gpuparams.cli.bench\n"
            "bad = [m for m in ('cupy', 'torch', 'pynvml', 'matplotlib') if m in sys.modules]\n"
            "assert not bad, bad\n")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))))
