"""The kernel loader: find ``kernels/*.cu``, compile each file once per device, launch its kernels.

Generic over the device (:mod:`gpuparams.backend.devices`): a real GPU builds with NVRTC
(``cupy.RawModule``), the emulated ``gpu(0)`` with g++ (:class:`gpuparams.emulator.Module`). Either
way a kernel receives exactly the same arguments: arrays plus ``np.int32`` / ``np.float32`` scalars.
Every function takes a :class:`~gpuparams.backend.devices.Device` or a context (resolved with
:func:`~gpuparams.backend.devices.device`).

Sources are looked up in ``$GPUPARAMS_KERNEL_DIR`` if set, else in the top-level ``kernels/`` of a
source checkout, else in the copy shipped inside the package (``gpuparams/_kernels/``). The directory
is looked up at each compile (not per launch: compiled modules are cached), so a test can point it
somewhere else.
"""
from __future__ import annotations

import os
import threading
from pathlib import Path

from .._tracing import state as _capture_state
from ..errors import KernelCompileError
from .devices import COMPILE_OPTIONS, as_device, emulation_order

__all__ = [
    "KernelCompileError", "COMPILE_OPTIONS", "KERNEL_DIR_ENV", "kernel_dir", "kernel_source",
    "get_module", "get_function", "launch", "emulation_order", "clear_cache",
]

KERNEL_DIR_ENV = "GPUPARAMS_KERNEL_DIR"
#: Dynamic shared memory above this needs the per-function opt-in (as on every GPU since Volta).
DEFAULT_SMEM_LIMIT = 48 * 1024

_PACKAGE_DIR = Path(__file__).resolve().parent.parent  # .../gpuparams


def kernel_dir():
    """Return the directory holding the ``*.cu`` kernel sources.

    Order: ``$GPUPARAMS_KERNEL_DIR``; the top-level ``kernels/`` beside the ``gpuparams`` package in a
    source checkout (recognised by the ``pyproject.toml`` next to it, so a stray ``kernels/`` folder
    in ``site-packages`` is never picked up); the copy shipped in the package, ``gpuparams/_kernels/``.

    Raises
    ------
    FileNotFoundError
        If none of them exists.
    """
    env = os.environ.get(KERNEL_DIR_ENV, "").strip()
    if env:
        path = Path(env)
        if not path.is_dir():
            raise FileNotFoundError(f"{KERNEL_DIR_ENV}={env!r} is not a directory")
        return path
    checkout = _PACKAGE_DIR.parent
    if (checkout / "pyproject.toml").is_file() and (checkout / "kernels").is_dir():
        return checkout / "kernels"
    shipped = _PACKAGE_DIR / "_kernels"
    if shipped.is_dir():
        return shipped
    raise FileNotFoundError(
        f"no kernel sources found: looked for {checkout / 'kernels'} (source checkout) and {shipped} "
        f"(installed package); set {KERNEL_DIR_ENV} to the directory holding the .cu files")


def kernel_source(filename):
    """Return ``(path, text)`` of kernel file ``filename`` (e.g. ``'dense.cu'``)."""
    path = kernel_dir() / filename
    if not path.is_file():
        raise FileNotFoundError(f"kernel source {filename!r} not found in {path.parent}")
    return path, path.read_text(encoding="utf-8")


_lock = threading.RLock()
_modules = {}     # (filename, device cache key) -> compiled module
_functions = {}   # (filename, device cache key, name) -> kernel function


def _compile(dev, filename):
    """Build ``filename`` for device ``dev`` (uncached; :func:`get_module` caches)."""
    path, code = kernel_source(filename)
    return dev.build(filename, path, code)


def get_module(target, filename):
    """Return the compiled module of ``filename`` for a device, compiling it on first use.

    Parameters
    ----------
    target : Device or Context
    filename : str
        A file of :func:`kernel_dir`, e.g. ``'dense.cu'``.

    Raises
    ------
    KernelCompileError
        If the source does not compile (the error carries the compiler log). Failures are not
        cached: the next call compiles again.
    """
    dev = as_device(target)
    key = (filename, dev.cache_key)
    module = _modules.get(key)
    if module is None:
        with _lock:
            module = _modules.get(key)
            if module is None:
                module = _modules[key] = _compile(dev, filename)
    return module


def get_function(target, filename, name):
    """Return kernel ``name`` from ``filename`` compiled for a device (cached per file and device)."""
    dev = as_device(target)
    key = (filename, dev.cache_key, name)
    fn = _functions.get(key)
    if fn is None:
        module = get_module(dev, filename)
        with _lock:
            fn = _functions.get(key)
            if fn is None:
                fn = _functions[key] = dev.lookup(module, filename, name)
    return fn


def clear_cache():
    """Forget every compiled module (the next launch recompiles; the emulator's disk cache remains)."""
    with _lock:
        _modules.clear()
        _functions.clear()


def launch(target, filename, name, grid, block, args, shared_mem=0):
    """Launch kernel ``name`` of ``filename`` on a device with a tuple of ``args``.

    Parameters
    ----------
    target : Device or Context
    filename, name : str
    grid, block : tuple of int
    args : tuple
        Device arrays and ``np.int32`` / ``np.float32`` scalars, as the kernel's signature says.
    shared_mem : int
        Dynamic shared memory in bytes; above 48 KB the function's ``max_dynamic_shared_size_bytes``
        is raised first, as the hardware requires.
    """
    dev = as_device(target)
    fn = get_function(dev, filename, name)
    if shared_mem > DEFAULT_SMEM_LIMIT and getattr(fn, "max_dynamic_shared_size_bytes", 0) < shared_mem:
        fn.max_dynamic_shared_size_bytes = shared_mem
    grid, block = tuple(int(g) for g in grid), tuple(int(b) for b in block)
    capture = _capture_state.capture
    if capture is not None:  # a CUDA-graph capture (gpuparams.graph) records every launch
        capture.record(dev, fn, grid, block, args, shared_mem)
        return
    dev.run(fn, grid, block, args, shared_mem)

