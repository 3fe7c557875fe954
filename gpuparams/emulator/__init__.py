"""A CPU emulator of the CUDA execution model that runs our exact ``.cu`` sources.

The kernel source is compiled with the host C++ compiler (g++) against ``cuda_emu.h``, a header that
implements CUDA's built-ins on top of a small runtime: one fiber per CUDA thread, blocks one after
another, ``__shared__`` memory shared by the threads of a block, ``__syncthreads``, the ``_sync``
warp intrinsics, atomics, vector types, ``__half`` and ``nvcuda::wmma``. Kernels are launched from
Python with NumPy arrays and NumPy scalars, with the same calling convention as ``cupy.RawKernel``::

    from gpuparams import emulator
    mod = emulator.Module(path="kernels/dense.cu")           # or code="...", options, name_expressions
    fn = mod.get_function("dense_fwd_l")
    fn(grid, block, (x, w, b, y, np.int32(n), ...), shared_mem=0)
    fn(grid, block, args, order="reverse")                   # per-launch thread order
    emulator.set_thread_order("random", seed=1)              # process default (or
                                                             # GPUPARAMS_EMULATOR_ORDER=random:1)

It reports what a GPU would silently get wrong or hide:

- :class:`KernelFault`: out-of-bounds and misaligned accesses, writes through pointers to const,
  device ``assert``, ``__trap()``, indexing past a fixed-size array, integer division by zero — with
  the kernel, ``blockIdx``, ``threadIdx`` and, where known, the source line;
- :class:`BarrierError`: divergent ``__syncthreads``, deadlocks, warp masks naming exited lanes;
- :class:`LaunchConfigError`: launches a GPU rejects (block and grid limits, dynamic shared memory
  over 48 KiB without the opt-in or over 227 KiB);
- :class:`ArgumentError`: arguments CuPy would marshal differently than the kernel expects (a Python
  ``int`` for an ``int`` parameter is passed as int64 by CuPy), wrong dtypes, non-contiguous arrays.

Shared memory is poisoned with 0xFF bytes (NaN) at every block start, and running the threads in
``'reverse'`` or ``'random'`` order exposes missing barriers. A failed launch leaves the caller's
arrays untouched. Compiled modules are cached on disk by content hash in
``$GPUPARAMS_EMULATOR_CACHE`` (default ``~/.cache/gpuparams/emulator``).
"""
from ._errors import (ArgumentError, BarrierError, CompileError, EmulatorError, KernelFault,
                      LaunchConfigError)
from ._module import Function, Module, Param, get_thread_order, set_thread_order
from ._build import cache_dir, toolchain

__all__ = [
    "Module", "Function", "Param", "set_thread_order", "get_thread_order", "cache_dir", "toolchain",
    "EmulatorError", "CompileError", "KernelFault", "BarrierError", "LaunchConfigError",
    "ArgumentError",
]
