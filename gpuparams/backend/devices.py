"""One :class:`Device` object per context: what runs the context's arrays and kernels.

A context (``cpu(0)``, ``gpu(1)``) is a name; its device is resolved once and cached:

- :class:`CpuDevice` — NumPy, no device scope, no custom kernels;
- :class:`CupyDevice` — CuPy on CUDA device ``i``: ``cupy.cuda.Device(i)`` as the scope, our kernels
  compiled with NVRTC (``cupy.RawModule``);
- :class:`EmulatedDevice` — the emulated ``gpu(0)`` (``GPUPARAMS_EMULATE_GPU=1`` or
  :func:`set_emulation`): NumPy arrays, our kernels compiled with g++ by :mod:`gpuparams.emulator`.

``GPUPARAMS_EMULATE_GPU`` is read once, at the first question that needs it;
:func:`set_emulation` / :func:`emulation` override it explicitly (tests) and drop the cached ``gpu``
devices. An array keeps the device its data lives on (:func:`device_of`): a NumPy array on a ``gpu``
context was made by the emulator and stays the emulator's after the flag is turned off.

CuPy is imported lazily, on the first resolution of a real ``gpu`` device, so ``import gpuparams``
works with only NumPy installed and never touches CUDA.
"""
from __future__ import annotations

import contextlib
import os
import threading
import warnings

import numpy as np

from ..context import Context
from ..errors import GPUUnavailableError, KernelCompileError

__all__ = [
    "Device", "CpuDevice", "CupyDevice", "EmulatedDevice", "device", "device_of", "device_for",
    "emulation_enabled", "set_emulation", "emulation", "emulation_order", "gpu_count",
    "real_gpu_count", "cupy_module", "is_cupy_array", "cupy_module_of", "EMULATE_ENV", "INSTALL_HINT",
    "EMULATED_SM_COUNT",
    "gpu_unavailable_reason", "cupy_import_warnings",
]

EMULATE_ENV = "GPUPARAMS_EMULATE_GPU"
INSTALL_HINT = "pip install 'gpuparams[cuda13]' (CUDA 13 driver) or 'gpuparams[cuda12]' (CUDA 12 driver)"
#: SM count assumed by the tile choice on the emulated gpu(0): an H100 SXM, so that the emulator
#: exercises the same configurations the real target gets.
EMULATED_SM_COUNT = 132
#: Compiler options for every kernel file, identical for NVRTC and the emulator's g++ build.
COMPILE_OPTIONS = ()

_NULL_SCOPE = contextlib.nullcontext()  # reusable and reentrant: one for every non-CUDA device


# ---------------------------------------------------------------------------------------------------
# The emulation switch: environment read once, explicit override for tests

_UNREAD = object()
_env_emulation = _UNREAD    # the environment's answer, once read
_emulation_override = None  # None: the environment decides
# id(Context) -> Device, for the current emulation setting. Contexts are interned and never freed
# (context.py), so their ids are stable, and id() is cheaper than Context.__hash__ on this hot path.
_devices = {}
_lock = threading.RLock()


def _read_environment():
    """``GPUPARAMS_EMULATE_GPU`` as a bool (the only place that reads it)."""
    return os.environ.get(EMULATE_ENV, "").strip().lower() in ("1", "true", "yes", "on")


def emulation_enabled():
    """Whether ``gpu(0)`` is the CPU emulator (``GPUPARAMS_EMULATE_GPU=1`` or :func:`set_emulation`).

    The environment variable is read at the first call only.
    """
    if _emulation_override is not None:
        return _emulation_override
    global _env_emulation
    if _env_emulation is _UNREAD:
        _env_emulation = _read_environment()
    return _env_emulation


def _forget_gpu_devices():
    with _lock:
        for key in [k for k, dev in _devices.items() if dev.ctx.device_type == "gpu"]:
            del _devices[key]


def set_emulation(enabled):
    """Turn the emulated ``gpu(0)`` on or off for this process.

    Parameters
    ----------
    enabled : bool or None
        ``None`` goes back to what ``GPUPARAMS_EMULATE_GPU`` said when it was (first) read.

    Notes
    -----
    ``gpu`` contexts resolve to their device again at the next use; arrays made before keep the
    device of their data (see :func:`device_of`).
    """
    global _emulation_override
    _emulation_override = None if enabled is None else bool(enabled)
    _forget_gpu_devices()


@contextlib.contextmanager
def emulation(enabled):
    """Context manager form of :func:`set_emulation` that restores the previous setting."""
    previous = _emulation_override
    set_emulation(enabled)
    try:
        yield
    finally:
        set_emulation(previous)


# ---------------------------------------------------------------------------------------------------
# CuPy, imported lazily

_cupy = None
_cupy_import_error = None
_device_count = None


#: Warnings CuPy (or a NumPy it uses) emitted while being imported, as strings.
cupy_import_warnings = []


def _import_cupy():
    """Import CuPy once; remember the failure instead of raising it.

    Warnings raised during the import are recorded (:data:`cupy_import_warnings`), not turned into
    a failed import: under ``filterwarnings = error`` (the test suite) a deprecation warning from a
    newer NumPy would otherwise make a working GPU look absent, and every GPU test skip.
    """
    global _cupy, _cupy_import_error
    if _cupy is None and _cupy_import_error is None:
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                import cupy  # lazy on purpose: CuPy is optional
            cupy_import_warnings.extend(f"{w.category.__name__}: {w.message}" for w in caught)
            _cupy = cupy
        except Exception as exc:  # ImportError, or a broken CUDA install raising at import
            _cupy_import_error = exc
    return _cupy


def gpu_unavailable_reason():
    """Why no real GPU can be used here (a sentence), or None when one can."""
    cupy = _import_cupy()
    if cupy is None:
        return f"CuPy could not be imported: {_cupy_import_error!r}"
    try:
        count = int(cupy.cuda.runtime.getDeviceCount())
    except Exception as exc:  # any driver error is the reason
        return f"CuPy is installed but the CUDA driver refused: {exc!r}"
    if count == 0:
        return "CuPy is installed but no CUDA device is visible"
    return None


def real_gpu_count():
    """Number of CUDA devices CuPy sees (0 without CuPy or a driver); never raises, asked once."""
    global _device_count
    if _device_count is None:
        cupy = _import_cupy()
        if cupy is None:
            _device_count = 0
        else:
            try:
                _device_count = int(cupy.cuda.runtime.getDeviceCount())
            except Exception:  # no driver, or a driver older than the runtime
                _device_count = 0
    return _device_count


def gpu_count():
    """Number of usable GPUs (1 when emulating); never raises."""
    if emulation_enabled():
        return 1
    return real_gpu_count()


def cupy_module(ctx):
    """Return CuPy for a real ``gpu(i)``, or raise :class:`GPUUnavailableError` saying why not."""
    cupy = _import_cupy()
    if cupy is None:
        raise GPUUnavailableError(
            f"{ctx} needs CuPy, which could not be imported ({_cupy_import_error!r}). "
            f"Install it with {INSTALL_HINT}, or set {EMULATE_ENV}=1 to emulate gpu(0) on the CPU.")
    count = real_gpu_count()
    if count == 0:
        raise GPUUnavailableError(
            f"{ctx}: CuPy is installed but no CUDA device is visible (no NVIDIA driver, or "
            f"CUDA_VISIBLE_DEVICES hides them). Use gp.cpu(0), or set {EMULATE_ENV}=1 to emulate gpu(0).")
    if ctx.device_id >= count:
        raise GPUUnavailableError(
            f"{ctx}: only {count} GPU(s) visible (gpu(0) .. gpu({count - 1})); pick an index below {count}.")
    return cupy


def is_cupy_array(value):
    """Whether ``value`` is a CuPy array (without importing CuPy when it was never imported)."""
    return _cupy is not None and isinstance(value, _cupy.ndarray)


def cupy_module_of(data):
    """CuPy, for a backend array that is not a NumPy array (CuPy was imported to create it)."""
    if _cupy is None or not isinstance(data, _cupy.ndarray):
        raise TypeError(f"expected a NumPy or CuPy array, got {type(data).__name__}")
    return _cupy


# ---------------------------------------------------------------------------------------------------
# Emulated launches' thread order (per thread)

_order = threading.local()


@contextlib.contextmanager
def emulation_order(order):
    """Run emulated launches in this thread with the emulator's thread ``order``.

    ``'forward'`` (default), ``'reverse'`` or ``'random'``: running the threads of a block in another
    order exposes a missing barrier. Has no effect on a real GPU.
    """
    if order not in ("forward", "reverse", "random"):
        raise ValueError(f"order must be 'forward', 'reverse' or 'random', got {order!r}")
    previous = getattr(_order, "value", "forward")
    _order.value = order
    try:
        yield
    finally:
        _order.value = previous


# ---------------------------------------------------------------------------------------------------
# The devices


class Device:
    """What runs one context's arrays and kernels (resolved once per context, see :func:`device`).

    Attributes
    ----------
    ctx : Context
        The context this device serves.
    xp : module
        The array module holding its arrays (``numpy`` or ``cupy``).
    custom_kernels : bool
        Whether our CUDA kernels run here (a real GPU, or the emulated ``gpu(0)``).
    emulated : bool
        Whether this is the CPU emulator's ``gpu(0)``.
    label : str
        How errors name it: ``'cpu(0)'``, ``'gpu(1)'``, ``'emulated gpu(0)'``.
    cache_key : tuple
        Compiled kernels are cached per ``(file, cache_key)``.
    """

    ctx: Context
    xp = np
    custom_kernels = False
    emulated = False

    def __init__(self, ctx):
        self.ctx = ctx
        self.label = str(ctx)
        self.cache_key = (ctx.device_type, ctx.device_id)

    @property
    def device_id(self):
        """The context's device index."""
        return self.ctx.device_id

    def scope(self):
        """A context manager making this device current (a shared no-op except on CUDA)."""
        return _NULL_SCOPE

    @property
    def sm_count(self):
        """Number of streaming multiprocessors (None for the CPU)."""
        return None

    def __repr__(self):
        return f"<{type(self).__name__} {self.label}>"

    # Kernels: the generic loader (gpuparams.backend.loader) caches; these build and run.

    def function(self, filename, name):
        """Kernel ``name`` of ``kernels/<filename>`` compiled for this device (cached)."""
        from . import loader
        return loader.get_function(self, filename, name)

    def launch(self, filename, name, grid, block, args, shared_mem=0):
        """Launch kernel ``name`` of ``filename`` here (see :func:`gpuparams.backend.loader.launch`)."""
        from . import loader
        loader.launch(self, filename, name, grid, block, args, shared_mem)

    def build(self, filename, path, code):
        """Compile kernel source ``code`` (read from ``path``) into a module (uncached)."""
        raise KernelCompileError(filename, f"{self.label} runs no custom kernels (NumPy only): compile "
                                 "them for a gpu context (a real GPU, or the emulated gpu(0))",
                                 self.label, source=f"kernels/{filename}")

    def lookup(self, module, filename, name):
        """Kernel function ``name`` of a built ``module``."""
        return module.get_function(name)

    def run(self, fn, grid, block, args, shared_mem):
        """Run kernel function ``fn`` on ``grid`` × ``block`` with ``args``."""
        fn(grid, block, args, shared_mem=shared_mem)

    def workspace_key(self):
        """Key of scratch memory that concurrent launches must not share."""
        return (self.cache_key, threading.get_ident())


class CpuDevice(Device):
    """``cpu(i)``: NumPy arrays, no custom kernels."""


class EmulatedDevice(Device):
    """The emulated ``gpu(0)``: NumPy arrays, every custom kernel run by :mod:`gpuparams.emulator`."""

    custom_kernels = True
    emulated = True

    def __init__(self, ctx):
        super().__init__(ctx)
        self.label = f"emulated {ctx}"
        self.cache_key = ("emulator", ctx.device_id)

    @property
    def sm_count(self):
        return EMULATED_SM_COUNT

    def build(self, filename, path, code):
        from .. import emulator
        try:
            return emulator.Module(path=str(path), options=COMPILE_OPTIONS)
        except Exception as exc:  # g++ errors, or the emulator's own source checks
            raise KernelCompileError(filename, getattr(exc, "log", None) or str(exc), self.label,
                                     source=f"kernels/{filename}") from exc

    def run(self, fn, grid, block, args, shared_mem):
        fn(grid, block, args, shared_mem=shared_mem, order=getattr(_order, "value", "forward"))


class CupyDevice(Device):
    """A real ``gpu(i)`` through CuPy.

    Parameters
    ----------
    device_id : int
    cupy : module
        The CuPy module (or a stand-in with the same ``RawModule`` / ``cuda.Device`` API in tests).
    """

    custom_kernels = True

    def __init__(self, device_id, cupy):
        super().__init__(Context("gpu", device_id))
        self.xp = cupy
        self.cache_key = ("cuda", device_id)
        self._sm_count = None

    def scope(self):
        return self.xp.cuda.Device(self.ctx.device_id)

    @property
    def sm_count(self):
        if self._sm_count is None:
            cuda_device = self.xp.cuda.Device(self.ctx.device_id)
            self._sm_count = int(cuda_device.attributes["MultiProcessorCount"])
        return self._sm_count

    def build(self, filename, path, code):
        from cupy.cuda import compiler
        with self.scope():
            module = self.xp.RawModule(code=code, options=COMPILE_OPTIONS)
            try:
                # RawModule compiles lazily; compile now so errors surface here, with the log.
                if hasattr(module, "compile"):
                    module.compile()
            except compiler.CompileException as exc:
                raise KernelCompileError(filename, str(exc), self.label,
                                         source=f"kernels/{filename}") from exc
        return module

    def lookup(self, module, filename, name):
        from cupy.cuda import compiler
        with self.scope():
            try:
                return module.get_function(name)
            except compiler.CompileException as exc:
                raise KernelCompileError(filename, str(exc), self.label,
                                         source=f"kernels/{filename}") from exc

    def workspace_key(self):
        # The thread too: under CUPY_CUDA_PER_THREAD_DEFAULT_STREAM=1 every thread's current stream
        # has the same pointer value, and two threads must not share split-K counters.
        return (self.cache_key, self.xp.cuda.get_current_stream().ptr, threading.get_ident())


# ---------------------------------------------------------------------------------------------------
# Resolution

_cpu_devices = {}   # device_id -> CpuDevice
_cuda_devices = {}  # device_id -> CupyDevice (independent of the emulation switch)
_emulated = {}      # device_id -> EmulatedDevice


def _cuda_device(ctx):
    dev = _cuda_devices.get(ctx.device_id)
    if dev is None:
        cupy = cupy_module(ctx)  # raises GPUUnavailableError saying why not
        with _lock:
            dev = _cuda_devices.setdefault(ctx.device_id, CupyDevice(ctx.device_id, cupy))
    return dev


def _emulated_device(ctx):
    if ctx.device_id != 0:
        raise GPUUnavailableError(
            f"{ctx}: the emulator ({EMULATE_ENV}=1) provides gpu(0) only; use gp.gpu(0).")
    dev = _emulated.get(0)
    if dev is None:
        with _lock:
            dev = _emulated.setdefault(0, EmulatedDevice(ctx))
    return dev


def _resolve(ctx):
    if ctx.device_type == "cpu":
        dev = _cpu_devices.get(ctx.device_id)
        if dev is None:
            with _lock:
                dev = _cpu_devices.setdefault(ctx.device_id, CpuDevice(ctx))
        return dev
    if emulation_enabled():
        return _emulated_device(ctx)
    return _cuda_device(ctx)


def device(ctx: Context) -> Device:
    """The device of context ``ctx`` under the current emulation setting (cached).

    Raises
    ------
    GPUUnavailableError
        For ``gpu(i)`` without CuPy, without a CUDA device, or with ``i`` past the device count
        (when emulating, for any index but 0). Failures are not cached.

    Examples
    --------
    >>> import gpuparams as gp
    >>> from gpuparams import backend
    >>> dev = backend.device(gp.cpu(0))
    >>> dev, dev.xp.__name__, dev.custom_kernels, dev is backend.device(gp.cpu(0))
    (<CpuDevice cpu(0)>, 'numpy', False, True)
    """
    dev = _devices.get(id(ctx))
    if dev is None:
        dev = _resolve(ctx)  # outside the lock: it may import CuPy
        with _lock:
            _devices[id(ctx)] = dev
    return dev


def device_for(ctx: Context, data) -> Device:
    """The device holding backend array ``data`` of context ``ctx``.

    On a ``gpu`` context the data decides, not the emulation switch: a NumPy array was made by the
    emulated ``gpu(0)`` and a CuPy array by the real GPU, whichever the switch says now. This keeps
    arrays usable after :func:`set_emulation` flips.
    """
    if ctx.device_type == "gpu":
        if isinstance(data, np.ndarray):
            return _emulated_device(ctx)
        if is_cupy_array(data):
            return _cuda_device(ctx)
    return device(ctx)


def device_of(array) -> Device:
    """The device of an :class:`~gpuparams.NDArray` (its context's, as its data says).

    What an operator dispatcher calls for its NDArray argument: ``device_for(array.context, data)``
    without the extra call.
    """
    ctx = array._ctx
    if ctx.device_type == "gpu":
        data = array._data
        if isinstance(data, np.ndarray):
            return _emulated_device(ctx)
        if is_cupy_array(data):
            return _cuda_device(ctx)
    return device(ctx)


def as_device(target, data=None) -> Device:
    """``target`` if it is a :class:`Device`, else the device of context ``target`` (for ``data``)."""
    if isinstance(target, Device):
        return target
    if data is None:
        return device(target)
    return device_for(target, data)
