"""NVML telemetry: what the GPU is, and what state it was in while something ran.

Two uses:

* :func:`query_devices` lists every NVIDIA device with its identity (name, UUID, compute capability,
  SM count), the driver and CUDA driver versions, and one reading of its live state (memory, utilisation,
  clocks against their maxima, power against its limit, the energy counter, temperature and the decoded
  clock-event ("throttle") reasons). ``python -m gpuparams info`` prints it.
* :class:`Sampler` reads the live state of one device in a background thread (15 Hz by default) while a
  benchmark section runs and :func:`summarize_samples` condenses the readings into what a benchmark row
  needs: min/median clocks, peak power and memory, the OR of all clock-event reasons, and whether any of
  them was a real throttle (power, thermal or hardware slowdown).

Everything works on a machine without an NVIDIA driver: the answers then carry ``available=False`` and a
plain ``reason`` such as ``"no NVIDIA driver (libnvidia-ml.so.1 not found)"`` instead of raising.

``pynvml`` (the ``nvidia-ml-py`` package) and CuPy are imported lazily inside the functions, never at
import time. Every function takes an optional ``nvml`` argument: any object with the ``pynvml`` function
names works, which is how the tests drive this module with a fake NVML.
"""
from __future__ import annotations

import contextlib
import statistics
import threading
import time
from .errors import NVMLUnavailableError

__all__ = [
    "CLOCK_EVENT_REASONS", "THROTTLE_MASK", "NVMLUnavailableError",
    "nvml_status", "nvml_session", "normalize_pci_bus_id", "decode_clock_event_reasons", "is_throttled",
    "query_devices", "read_state", "summarize_samples", "Sampler",
]

#: NVML clock-event reason bits (``nvmlClocksEventReason*`` / the older ``nvmlClocksThrottleReason*``
#: constants of ``nvml.h``) and the names they are reported under.
CLOCK_EVENT_REASONS = (
    (0x0001, "gpu_idle"),
    (0x0002, "applications_clocks_setting"),
    (0x0004, "sw_power_cap"),
    (0x0008, "hw_slowdown"),
    (0x0010, "sync_boost"),
    (0x0020, "sw_thermal_slowdown"),
    (0x0040, "hw_thermal_slowdown"),
    (0x0080, "hw_power_brake_slowdown"),
    (0x0100, "display_clock_setting"),
    (0x0200, "board_limit"),
    (0x0400, "reliability"),
)

#: The reasons that mean "the clocks were held below what the application asked for because of heat or
#: hardware protection". Idle, application/user clock settings, sync boost and display clocks are states,
#: not throttling; nor is the software power cap (0x0004), which a sustained FP32 GEMM on an H100/H200
#: always reaches: re-running on it would re-run every large section for nothing. It is still recorded
#: (``clock_event_reason_names``). A benchmark section is re-run only when one of these bits fired.
THROTTLE_MASK = 0x0008 | 0x0020 | 0x0040 | 0x0080 | 0x0200 | 0x0400

# NVML enum values, used when a (fake) module does not define the named constant.
_NVML_CLOCK_SM = 1
_NVML_CLOCK_MEM = 2
_NVML_TEMPERATURE_GPU = 0

_INSTALL_HINT = "pip install nvidia-ml-py"


def _import_pynvml():
    try:
        import pynvml  # noqa: WPS433 (lazy: telemetry is optional)
    except ImportError as exc:
        raise NVMLUnavailableError(f"nvidia-ml-py is not installed ({_INSTALL_HINT})") from exc
    return pynvml


def _init_failure_reason(nvml, exc):
    """Turn an ``nvmlInit`` failure into one sentence a person can act on."""
    def is_a(class_name):
        cls = getattr(nvml, class_name, None)
        return isinstance(cls, type) and isinstance(exc, cls)

    if is_a("NVMLError_LibraryNotFound"):
        return "no NVIDIA driver (libnvidia-ml.so.1 not found)"
    if is_a("NVMLError_DriverNotLoaded"):
        return "no NVIDIA driver loaded (the nvidia kernel module is not running)"
    if is_a("NVMLError_NoPermission"):
        return "NVML refused access (no permission to query the NVIDIA driver)"
    if is_a("NVMLError_LibRmVersionMismatch"):
        return "NVML and the NVIDIA kernel module have different versions (reboot or reload the driver)"
    return f"NVML failed to initialise: {exc}"


@contextlib.contextmanager
def nvml_session(nvml=None):
    """Initialise NVML for the duration of a ``with`` block and yield the module.

    ``nvmlInit``/``nvmlShutdown`` are reference counted by NVML itself, so nested sessions (a sampler
    running while :func:`query_devices` is called) are fine.

    Parameters
    ----------
    nvml : module, optional
        A ``pynvml``-like module; default: import ``pynvml``.

    Raises
    ------
    NVMLUnavailableError
        When ``pynvml`` is missing or NVML cannot initialise; the message says why.
    """
    if nvml is None:
        nvml = _import_pynvml()
    try:
        nvml.nvmlInit()
    except Exception as exc:  # NVMLError subclasses, or OSError from a broken library
        raise NVMLUnavailableError(_init_failure_reason(nvml, exc)) from exc
    try:
        yield nvml
    finally:
        with contextlib.suppress(Exception):
            nvml.nvmlShutdown()


def nvml_status(nvml=None):
    """Whether NVML works here.

    Returns
    -------
    (bool, str)
        ``(True, "NVML <driver version>")`` or ``(False, reason)``; never raises.
    """
    try:
        with nvml_session(nvml) as lib:
            driver = _text(_call(lib, "nvmlSystemGetDriverVersion"))
            return True, f"NVIDIA driver {driver}" if driver else "NVML available"
    except NVMLUnavailableError as exc:
        return False, str(exc)


def decode_clock_event_reasons(mask):
    """Names of the clock-event reasons set in ``mask``.

    Bits this module does not know are reported as ``"unknown_0x..."`` rather than dropped, so a newer
    driver's reason is still visible.

    Examples
    --------
    >>> decode_clock_event_reasons(0x44)
    ['sw_power_cap', 'hw_thermal_slowdown']
    >>> decode_clock_event_reasons(0)
    []
    """
    if mask is None:
        return []
    mask = int(mask)
    names = [name for bit, name in CLOCK_EVENT_REASONS if mask & bit]
    known = 0
    for bit, _ in CLOCK_EVENT_REASONS:
        known |= bit
    unknown = mask & ~known
    bit = 1
    while unknown >= bit:
        if unknown & bit:
            names.append(f"unknown_{bit:#x}")
        bit <<= 1
    return names


def is_throttled(mask):
    """Whether ``mask`` contains a thermal or hardware slowdown (see :data:`THROTTLE_MASK`)."""
    return bool(mask) and bool(int(mask) & THROTTLE_MASK)


def _text(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def _call(nvml, name, *args):
    """Call ``nvml.<name>(*args)``; ``None`` when the function is missing or the query is unsupported.

    Telemetry must never break what it observes: a GPU that does not report power (some vGPUs) or a
    driver too old for the energy counter gives ``None`` for that one field.
    """
    fn = getattr(nvml, name, None)
    if fn is None:
        return None
    error = getattr(nvml, "NVMLError", None)
    if not isinstance(error, type):
        error = Exception
    try:
        return fn(*args)
    except error:
        return None


def _cuda_version_text(value):
    """NVML reports the CUDA driver API version as 1000*major + 10*minor (12040 -> "12.4")."""
    if value is None:
        return None
    value = int(value)
    return f"{value // 1000}.{(value % 1000) // 10}"


def _milli(value, scale=1e-3):
    return None if value is None else value * scale


def _clock_event_reasons(nvml, handle):
    # The "event" spelling replaced "throttle" in NVML 12.2; older drivers only have the latter.
    value = _call(nvml, "nvmlDeviceGetCurrentClocksEventReasons", handle)
    if value is None:
        value = _call(nvml, "nvmlDeviceGetCurrentClocksThrottleReasons", handle)
    return value


def read_state(nvml, handle):
    """One reading of the live state of a device (the fields :class:`Sampler` records).

    Parameters
    ----------
    nvml : module
        An initialised ``pynvml``-like module.
    handle : object
        A device handle from ``nvmlDeviceGetHandleByIndex``.

    Returns
    -------
    dict
        ``t`` (``time.monotonic()``), ``sm_clock_mhz``, ``mem_clock_mhz``, ``power_w``,
        ``memory_used_bytes``, ``temperature_c``, ``utilization_gpu_pct``, ``utilization_memory_pct``,
        ``energy_mj`` (the driver's energy counter) and ``clock_event_reasons`` (the raw bit mask);
        ``None`` for what the device does not report.
    """
    clock_sm = getattr(nvml, "NVML_CLOCK_SM", _NVML_CLOCK_SM)
    clock_mem = getattr(nvml, "NVML_CLOCK_MEM", _NVML_CLOCK_MEM)
    temp_gpu = getattr(nvml, "NVML_TEMPERATURE_GPU", _NVML_TEMPERATURE_GPU)
    memory = _call(nvml, "nvmlDeviceGetMemoryInfo", handle)
    util = _call(nvml, "nvmlDeviceGetUtilizationRates", handle)
    return {
        "t": time.monotonic(),
        "sm_clock_mhz": _call(nvml, "nvmlDeviceGetClockInfo", handle, clock_sm),
        "mem_clock_mhz": _call(nvml, "nvmlDeviceGetClockInfo", handle, clock_mem),
        "power_w": _milli(_call(nvml, "nvmlDeviceGetPowerUsage", handle)),
        "memory_used_bytes": None if memory is None else int(memory.used),
        "temperature_c": _call(nvml, "nvmlDeviceGetTemperature", handle, temp_gpu),
        "utilization_gpu_pct": None if util is None else util.gpu,
        "utilization_memory_pct": None if util is None else util.memory,
        "energy_mj": _call(nvml, "nvmlDeviceGetTotalEnergyConsumption", handle),
        "clock_event_reasons": _clock_event_reasons(nvml, handle),
    }


def normalize_pci_bus_id(bus_id):
    """``"00000000:17:00.0"`` (NVML) and ``"0000:17:00.0"`` (CUDA) name the same device: compare
    bus:device.function in lower case, with the PCI domain as an integer."""
    bus_id = _text(bus_id)
    if not bus_id:
        return None
    parts = str(bus_id).strip().lower().split(":")
    if len(parts) == 3:
        try:
            return f"{int(parts[0], 16)}:{parts[1]}:{parts[2]}"
        except ValueError:
            return ":".join(parts)
    return ":".join(parts)


def _cuda_device_attributes():
    """SM count and CUDA index of each CUDA device, keyed by normalised PCI bus id, from CuPy.

    Empty when CuPy is missing or cannot reach a device. CUDA numbers devices by its own order (and
    ``CUDA_VISIBLE_DEVICES``), NVML by PCI order, hence the bus-id join.
    """
    try:
        import cupy  # noqa: WPS433 (lazy and optional)
        count = cupy.cuda.runtime.getDeviceCount()
    except Exception:
        return {}
    found = {}
    for index in range(count):
        try:
            device = cupy.cuda.Device(index)
            bus_id = normalize_pci_bus_id(device.pci_bus_id)
            found[bus_id] = {"cuda_index": index,
                             "sm_count": int(device.attributes["MultiProcessorCount"])}
        except Exception:
            continue
    return found


def _device_record(nvml, index, cuda_attributes):
    handle = nvml.nvmlDeviceGetHandleByIndex(index)
    clock_sm = getattr(nvml, "NVML_CLOCK_SM", _NVML_CLOCK_SM)
    clock_mem = getattr(nvml, "NVML_CLOCK_MEM", _NVML_CLOCK_MEM)
    memory = _call(nvml, "nvmlDeviceGetMemoryInfo", handle)
    capability = _call(nvml, "nvmlDeviceGetCudaComputeCapability", handle)
    pci = _call(nvml, "nvmlDeviceGetPciInfo", handle)
    bus_id = normalize_pci_bus_id(getattr(pci, "busId", None)) if pci is not None else None
    cuda = cuda_attributes.get(bus_id, {}) if bus_id else {}
    state = read_state(nvml, handle)
    reasons = state["clock_event_reasons"]
    power_limit = _call(nvml, "nvmlDeviceGetEnforcedPowerLimit", handle)
    if power_limit is None:
        power_limit = _call(nvml, "nvmlDeviceGetPowerManagementLimit", handle)
    return {
        "index": index,
        "cuda_index": cuda.get("cuda_index"),
        "name": _text(_call(nvml, "nvmlDeviceGetName", handle)),
        "uuid": _text(_call(nvml, "nvmlDeviceGetUUID", handle)),
        "pci_bus_id": bus_id,
        "compute_capability": None if capability is None else f"{capability[0]}.{capability[1]}",
        "sm_count": cuda.get("sm_count"),
        "memory_total_bytes": None if memory is None else int(memory.total),
        "memory_used_bytes": state["memory_used_bytes"],
        "utilization_gpu_pct": state["utilization_gpu_pct"],
        "utilization_memory_pct": state["utilization_memory_pct"],
        "sm_clock_mhz": state["sm_clock_mhz"],
        "sm_clock_max_mhz": _call(nvml, "nvmlDeviceGetMaxClockInfo", handle, clock_sm),
        "mem_clock_mhz": state["mem_clock_mhz"],
        "mem_clock_max_mhz": _call(nvml, "nvmlDeviceGetMaxClockInfo", handle, clock_mem),
        "power_w": state["power_w"],
        "power_limit_w": _milli(power_limit),
        "energy_j": _milli(state["energy_mj"]),
        "temperature_c": state["temperature_c"],
        "clock_event_reasons": reasons,
        "clock_event_reason_names": decode_clock_event_reasons(reasons),
    }


def query_devices(nvml=None, cuda_attributes=None):
    """Every NVIDIA device with its identity and one reading of its state.

    Parameters
    ----------
    nvml : module, optional
        A ``pynvml``-like module (default: ``pynvml``).
    cuda_attributes : dict or callable, optional
        ``{normalised PCI bus id: {"cuda_index": int, "sm_count": int}}`` or a function returning it.
        Default: read from CuPy's device attributes when CuPy can reach a device, else no SM counts.

    Returns
    -------
    dict
        ``{"available": bool, "reason": str | None, "driver": str | None, "cuda_driver": str | None,
        "devices": [dict, ...]}``; each device has ``name``, ``uuid``, ``compute_capability``,
        ``sm_count``, ``memory_total_bytes``/``memory_used_bytes``, ``utilization_gpu_pct``, SM and memory
        clocks now and max, ``power_w``/``power_limit_w``, ``energy_j``, ``temperature_c`` and
        ``clock_event_reason_names``. Never raises for a missing driver.
    """
    try:
        with nvml_session(nvml) as lib:
            if cuda_attributes is None:
                cuda_attributes = _cuda_device_attributes()
            elif callable(cuda_attributes):
                cuda_attributes = cuda_attributes()
            count = _call(lib, "nvmlDeviceGetCount") or 0
            devices = []
            for index in range(count):
                try:
                    devices.append(_device_record(lib, index, cuda_attributes))
                except Exception as exc:  # e.g. NVMLError_GpuIsLost: report it, keep the others
                    devices.append({"index": index, "error": f"{type(exc).__name__}: {exc}"})
            return {
                "available": True,
                "reason": None if count else "NVML works but reports no NVIDIA device",
                "driver": _text(_call(lib, "nvmlSystemGetDriverVersion")),
                "cuda_driver": _cuda_version_text(_call(lib, "nvmlSystemGetCudaDriverVersion")),
                "devices": devices,
            }
    except NVMLUnavailableError as exc:
        return {"available": False, "reason": str(exc), "driver": None, "cuda_driver": None,
                "devices": []}


def _median(values):
    return statistics.median(values) if values else None


def summarize_samples(samples, power_limit_w=None):
    """Condense :func:`read_state` readings taken during one timed section.

    Parameters
    ----------
    samples : sequence of dict
        Readings in time order (fields that were ``None`` are ignored).
    power_limit_w : float, optional
        Copied into the summary so a reader can see how close the peak came to the cap.

    Returns
    -------
    dict
        ``available``, ``samples``, ``duration_s``, ``sm_clock_mhz`` and ``mem_clock_mhz`` (``min``,
        ``median``, ``max``), ``power_w`` (``median``, ``peak``), ``power_limit_w``,
        ``memory_used_peak_bytes``, ``temperature_max_c``, ``utilization_gpu_median_pct``, ``energy_j``
        (counter difference between the first and last reading), ``clock_event_reasons`` (OR of every
        reading), ``clock_event_reason_names`` and ``throttled``.
    """
    def column(key):
        return [s[key] for s in samples if s.get(key) is not None]

    def spread(key):
        values = column(key)
        if not values:
            return None
        return {"min": min(values), "median": _median(values), "max": max(values)}

    reasons = 0
    seen_reasons = False
    for s in samples:
        if s.get("clock_event_reasons") is not None:
            reasons |= int(s["clock_event_reasons"])
            seen_reasons = True
    power = column("power_w")
    energy = column("energy_mj")
    times = column("t")
    memory = column("memory_used_bytes")
    temperature = column("temperature_c")
    return {
        "available": True,
        "samples": len(samples),
        "duration_s": (times[-1] - times[0]) if len(times) > 1 else 0.0,
        "sm_clock_mhz": spread("sm_clock_mhz"),
        "mem_clock_mhz": spread("mem_clock_mhz"),
        "power_w": {"median": _median(power), "peak": max(power)} if power else None,
        "power_limit_w": power_limit_w,
        "memory_used_peak_bytes": max(memory) if memory else None,
        "temperature_max_c": max(temperature) if temperature else None,
        "utilization_gpu_median_pct": _median(column("utilization_gpu_pct")),
        # The counter is monotonic since the driver loaded; a difference needs two readings.
        "energy_j": (energy[-1] - energy[0]) * 1e-3 if len(energy) > 1 else None,
        "clock_event_reasons": reasons if seen_reasons else None,
        "clock_event_reason_names": decode_clock_event_reasons(reasons),
        "throttled": is_throttled(reasons),
    }


class Sampler:
    """Read one device's state in a background thread while a section runs.

    A reading is taken at :meth:`start`, every ``interval_s`` in between, and at :meth:`stop`, so even a
    section shorter than the interval gets two readings (and an energy difference). NVML calls release
    the GIL (ctypes), so the thread costs the timed Python code a few microseconds per reading.

    Parameters
    ----------
    device : int or str, optional
        NVML device index, or a PCI bus id (``"0000:17:00.0"``, as CUDA reports it) to find the device
        a CUDA index refers to. Default 0.
    interval_s : float, optional
        Time between readings (default 1/15 s).
    nvml : module, optional
        A ``pynvml``-like module (default: ``pynvml``).

    Examples
    --------
    >>> with Sampler(0) as sampler:            # doctest: +SKIP
    ...     run_the_section()
    >>> sampler.summary()["throttled"]          # doctest: +SKIP
    False

    On a machine without a driver the sampler still works as a context manager; its summary is
    ``{"available": False, "reason": "no NVIDIA driver (...)"}``.
    """

    def __init__(self, device=0, interval_s=1.0 / 15.0, nvml=None):
        if interval_s <= 0:
            raise ValueError(f"interval_s must be positive, got {interval_s!r}")
        self.device = device
        self.interval_s = float(interval_s)
        self._nvml = nvml
        self._session = None
        self._lib = None
        self._handle = None
        self._thread = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self.samples = []
        self.reason = None
        self.error = None
        self.power_limit_w = None

    @property
    def available(self):
        """Whether readings are being (or were) taken."""
        return self._handle is not None

    def _open(self):
        self._session = nvml_session(self._nvml)
        try:
            self._lib = self._session.__enter__()
        except NVMLUnavailableError as exc:
            self._session = None
            self.reason = str(exc)
            return
        try:
            if isinstance(self.device, str):
                handle = self._lib.nvmlDeviceGetHandleByPciBusId(self.device)
            else:
                handle = self._lib.nvmlDeviceGetHandleByIndex(int(self.device))
        except Exception as exc:
            self.reason = f"NVML has no device {self.device!r}: {exc}"
            self._close()
            return
        self._handle = handle
        limit = _call(self._lib, "nvmlDeviceGetEnforcedPowerLimit", handle)
        self.power_limit_w = _milli(limit)

    def _close(self):
        if self._session is not None:
            self._session.__exit__(None, None, None)
            self._session = None

    def sample_once(self):
        """Take one reading now and append it to :attr:`samples` (no-op when unavailable)."""
        if self._handle is None:
            return None
        reading = read_state(self._lib, self._handle)
        with self._lock:
            self.samples.append(reading)
        return reading

    def _loop(self):
        try:
            while not self._stop.wait(self.interval_s):
                self.sample_once()
        except Exception as exc:  # keep the section alive; report instead of raising in a thread
            self.error = f"sampler stopped early: {exc!r}"

    def start(self):
        """Open NVML, take the first reading and start the background thread."""
        if self._thread is not None:
            raise RuntimeError("Sampler already started")
        self.samples = []
        self._stop.clear()
        self._open()
        if self._handle is None:
            return self
        self.sample_once()
        self._thread = threading.Thread(target=self._loop, name="gpuparams-nvml-sampler", daemon=True)
        self._thread.start()
        return self

    def stop(self):
        """Stop the thread, take the last reading, close NVML and return :meth:`summary`."""
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._thread = None
            self.sample_once()
        self._close()
        summary = self.summary()
        self._handle = None
        return summary

    def summary(self):
        """:func:`summarize_samples` of the readings so far, or ``{"available": False, "reason"}``."""
        if self._handle is None and not self.samples:
            return {"available": False, "reason": self.reason or "sampler was not started"}
        with self._lock:
            samples = list(self.samples)
        result = summarize_samples(samples, power_limit_w=self.power_limit_w)
        if self.error:
            result["error"] = self.error
        return result

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False
