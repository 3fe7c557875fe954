"""Loading compiled kernel modules and launching kernels with NumPy arrays (CuPy's calling convention)."""
from __future__ import annotations

import ctypes
import os
import re
import shutil
import subprocess
import threading

import numpy as np

from . import _build
from ._errors import (ArgumentError, BarrierError, EmulatorError, KernelFault,
                      LaunchConfigError)

__all__ = ["Module", "Function", "set_thread_order", "get_thread_order", "ORDER_ENV"]

ORDER_ENV = "GPUPARAMS_EMULATOR_ORDER"
_ORDERS = {"forward": 0, "reverse": 1, "random": 2}

# sm_90 launch limits (what cudaLaunchKernel / cuLaunchKernel reject).
MAX_THREADS_PER_BLOCK = 1024
MAX_BLOCK_DIMS = (1024, 1024, 64)
MAX_GRID_DIMS = (2**31 - 1, 65535, 65535)
#: Dynamic shared memory a kernel may use without raising ``max_dynamic_shared_size_bytes``.
DEFAULT_DYNAMIC_SMEM_LIMIT = 48 * 1024
#: sm_90's largest shared memory per block, for the opt-in.
MAX_DYNAMIC_SMEM = _build.DYN_SMEM_CAPACITY

# ---------------------------------------------------------------------------------------------------
# Thread order

_order_lock = threading.Lock()
_default_order = None  # (name, seed) or None: read the environment variable


def _parse_order(value, seed=None):
    if value not in _ORDERS:
        raise ValueError(f"thread order must be 'forward', 'reverse' or 'random', got {value!r}")
    if seed is None:
        seed = 0
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative int, got {seed!r}")
    return value, int(seed)


def set_thread_order(order, seed=0):
    """Set the process-wide default order in which the threads of a block run.

    Parameters
    ----------
    order : {'forward', 'reverse', 'random'} or None
        ``'forward'``: threads (and blocks) in index order; ``'reverse'``: the opposite;
        ``'random'``: a shuffle drawn from ``seed``, redrawn at every barrier. Running a kernel in
        more than one order exposes a missing ``__syncthreads``. ``None`` goes back to the
        environment variable ``GPUPARAMS_EMULATOR_ORDER`` (``forward`` when unset; ``random:SEED``
        sets a seed).
    seed : int
        Seed of the ``'random'`` order (the same seed gives the same order for every launch).
    """
    global _default_order
    with _order_lock:
        _default_order = None if order is None else _parse_order(order, seed)


def get_thread_order():
    """Return the default ``(order, seed)`` (see :func:`set_thread_order`)."""
    with _order_lock:
        if _default_order is not None:
            return _default_order
    env = os.environ.get(ORDER_ENV, "").strip().lower()
    if not env:
        return "forward", 0
    name, _, seed = env.partition(":")
    try:
        return _parse_order(name, int(seed) if seed else 0)
    except ValueError as exc:
        raise ValueError(f"{ORDER_ENV}={env!r}: {exc}") from None


# ---------------------------------------------------------------------------------------------------
# The runtime library and the structures shared with it (cuemu_abi.h, cuemu_runtime.cpp)

class _ParamInfo(ctypes.Structure):
    _fields_ = [("kind", ctypes.c_int32), ("code", ctypes.c_int32), ("is_const", ctypes.c_int32),
                ("size", ctypes.c_int32), ("pointee_size", ctypes.c_int32),
                ("pointee_align", ctypes.c_int32), ("pretty", ctypes.c_char_p)]


class _KernelEntry(ctypes.Structure):
    _fields_ = [("name", ctypes.c_char_p), ("fn", ctypes.c_void_p), ("thunk", ctypes.c_void_p),
                ("nparams", ctypes.c_int32), ("params", ctypes.POINTER(_ParamInfo))]


class _BufferSpec(ctypes.Structure):
    _fields_ = [("addr", ctypes.c_uint64), ("nbytes", ctypes.c_uint64),
                ("readonly", ctypes.c_int32), ("copy_back", ctypes.c_int32)]


class _Request(ctypes.Structure):
    _fields_ = [("kernel", ctypes.c_void_p), ("args", ctypes.c_void_p),
                ("grid", ctypes.c_uint32 * 3), ("block", ctypes.c_uint32 * 3),
                ("shared_mem", ctypes.c_uint64), ("order", ctypes.c_int32),
                ("nbuffers", ctypes.c_int32), ("seed", ctypes.c_uint64),
                ("buffers", ctypes.c_void_p), ("nptrs", ctypes.c_int32), ("pad_", ctypes.c_int32),
                ("ptr_slot", ctypes.c_void_p), ("ptr_buffer", ctypes.c_void_p),
                ("ptr_offset", ctypes.c_void_p), ("module_handle", ctypes.c_void_p),
                ("dynsmem", ctypes.c_void_p), ("dyn_capacity", ctypes.c_uint64)]


class _Result(ctypes.Structure):
    _fields_ = [("status", ctypes.c_int32), ("has_thread", ctypes.c_int32),
                ("block", ctypes.c_uint32 * 3), ("thread", ctypes.c_uint32 * 3),
                ("buffer", ctypes.c_int32), ("access", ctypes.c_int32), ("offset", ctypes.c_int64),
                ("line", ctypes.c_int32), ("pad_", ctypes.c_int32), ("pc", ctypes.c_uint64),
                ("object", ctypes.c_char * 512), ("file", ctypes.c_char * 512),
                ("message", ctypes.c_char * 4096)]


_runtime_lock = threading.Lock()
_runtime = None


def _load_runtime():
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            lib = ctypes.CDLL(str(_build.runtime_library()), mode=os.RTLD_NOW | os.RTLD_LOCAL)
            for fn in ("cuemu_sizeof_request", "cuemu_sizeof_result", "cuemu_sizeof_entry",
                       "cuemu_sizeof_param"):
                getattr(lib, fn).restype = ctypes.c_size_t
            sizes = {lib.cuemu_sizeof_request(): ctypes.sizeof(_Request),
                     lib.cuemu_sizeof_result(): ctypes.sizeof(_Result),
                     lib.cuemu_sizeof_entry(): ctypes.sizeof(_KernelEntry),
                     lib.cuemu_sizeof_param(): ctypes.sizeof(_ParamInfo)}
            if any(a != b for a, b in sizes.items()):
                raise EmulatorError(f"emulator runtime ABI mismatch (C size: ctypes size) {sizes}")
            lib.cuemu_launch.restype = ctypes.c_int
            lib.cuemu_launch.argtypes = [ctypes.POINTER(_Request), ctypes.POINTER(_Result)]
            _runtime = lib
        return _runtime


# ---------------------------------------------------------------------------------------------------
# Types

# TypeCode (cuemu_abi.h) -> NumPy dtype(s) an array or scalar must have.
_T_OTHER, _T_VOID = 0, 1
_CODE_DTYPES = {
    2: ("bool",), 3: ("int8", "uint8"), 4: ("int8",), 5: ("uint8",), 6: ("int16",),
    7: ("uint16",), 8: ("int32",), 9: ("uint32",), 10: ("int64",), 11: ("uint64",),
    12: ("float16",), 13: ("bfloat16", "uint16"), 14: ("float32",), 15: ("float64",),
    16: ("float32",), 17: ("float64",), 18: ("int32",), 19: ("uint32",), 20: ("int64",),
    21: ("uint64",), 22: ("int16",), 23: ("uint16",), 24: ("int8",), 25: ("uint8",),
}
_NUMPY_CTOR = {"bool": "np.bool_", "int8": "np.int8", "uint8": "np.uint8", "int16": "np.int16",
               "uint16": "np.uint16", "int32": "np.int32", "uint32": "np.uint32",
               "int64": "np.int64", "uint64": "np.uint64", "float16": "np.float16",
               "float32": "np.float32", "float64": "np.float64"}
# What CuPy makes of a Python scalar (cupy/_core/_kernel: bool is an int there).
_CUPY_PYTHON_SCALAR = {bool: "int64", int: "int64", float: "float64", complex: "complex128"}


class Param:
    """One kernel parameter as the compiled code sees it.

    Attributes
    ----------
    index : int
        1-based position.
    name : str or None
        The parameter's name in the source (for messages; None where it could not be read).
    ctype : str
        Its C++ type, e.g. ``'const float*'``.
    pointer : bool
        Whether it is a pointer (an array argument).
    const : bool
        For a pointer, whether the pointee is const (the array is then mapped read-only).
    dtypes : tuple of str
        NumPy dtypes accepted (for a pointer: of the array; empty: any).
    size : int
        Bytes of the parameter.
    """

    def __init__(self, index, info, name):
        self.index = index
        self.name = name
        pretty = info.pretty.decode("utf-8", "replace") if info.pretty else ""
        m = re.search(r"\[with T = (.*)\]$", pretty)
        self.ctype = m.group(1) if m else "?"
        self.pointer = info.kind == 1
        self.const = bool(info.is_const)
        self.code = info.code
        self.size = info.size
        self.pointee_size = info.pointee_size
        self.dtypes = _CODE_DTYPES.get(info.code, ())
        self.void = info.code == _T_VOID

    def describe(self):
        """``'argument 3 `int n`'``."""
        decl = f"{self.ctype} {self.name}" if self.name else self.ctype
        return f"argument {self.index} `{decl}`"

    def __repr__(self):
        return f"<Param {self.describe()}>"


def _source_line(obj, pc):
    """``(file, line)`` of the code at return address ``pc`` in shared object ``obj`` (or Nones).

    Kernel modules carry DWARF line tables (``-g1``); ``addr2line`` from binutils reads them. Only
    used to describe a fault, so a missing tool just leaves the line out.
    """
    tool = shutil.which("addr2line")
    if not tool or not obj:
        return None, None
    try:
        proc = subprocess.run([tool, "-e", obj, "-i", hex(pc - 1)], stdout=subprocess.PIPE,
                              stderr=subprocess.DEVNULL, text=True, timeout=20)
    except (OSError, subprocess.SubprocessError):
        return None, None
    # With -i the innermost (inlined) location comes first.
    m = re.match(r"(.+):(\d+)", (proc.stdout.splitlines() or [""])[0])
    if not m or m.group(1).startswith("??"):
        return None, None
    file = m.group(1)
    if "<code>" in file:  # a source given as a string: the build directory means nothing
        file = "<code>"
    return file, int(m.group(2))


def _dims(what, value):
    if isinstance(value, (int, np.integer)) and not isinstance(value, bool):
        dims = (int(value),)
    elif isinstance(value, tuple) and 1 <= len(value) <= 3 and all(
            isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in value):
        dims = tuple(int(v) for v in value)
    else:
        raise LaunchConfigError(f"{what} must be an int or a tuple of 1 to 3 ints, got {value!r}")
    return dims + (1,) * (3 - len(dims))


# ---------------------------------------------------------------------------------------------------
# Module and Function

_modules_lock = threading.Lock()
_libraries = {}  # .so path -> (ctypes library, {name: entry pointer})


class Module:
    """A CUDA source compiled for the CPU emulator, used like ``cupy.RawModule``.

    Parameters
    ----------
    path : str or Path, optional
        A ``.cu`` file. Exactly one of ``path`` and ``code`` is given.
    code : str, optional
        The CUDA source text.
    options : sequence of str
        NVRTC options as given to ``cupy.RawModule``: ``-D``/``-U``/``-I`` and ``-std=`` are passed
        to the host compiler, GPU code-generation options (``-arch``, ``-ftz``, ...) are ignored.
    name_expressions : sequence of str
        Template instantiations to make available to :meth:`get_function`, e.g. ``'axpy<float>'``.

    Attributes
    ----------
    compiled : bool
        Whether constructing this module ran the compiler (False: found in the on-disk cache).
    log : str
        The compiler's warnings, if any.
    path : pathlib.Path
        The compiled shared library.
    kernel_names : tuple of str
        The kernels :meth:`get_function` can return (``extern "C"`` entry points and the name
        expressions), sorted.

    Raises
    ------
    CompileError
        If the source does not compile; carries the compiler's log.

    Examples
    --------
    >>> mod = Module(code='extern "C" __global__ void fill(float* x, float v, int n) {'
    ...                   '  int i = blockIdx.x * blockDim.x + threadIdx.x; if (i < n) x[i] = v; }')
    >>> x = np.zeros(100, np.float32)
    >>> mod.get_function("fill")((1,), (128,), (x, np.float32(2), np.int32(x.size)))
    >>> float(x.sum())
    200.0
    """

    def __init__(self, path=None, code=None, options=(), name_expressions=()):
        built = _build.build_module(path=path, code=code, options=options,
                                    name_expressions=name_expressions or ())
        self.compiled = built.compiled
        self.path = built.path
        self.log = built.meta.get("log", "")
        self._meta = built.meta
        self.source = built.meta.get("source")
        runtime = _load_runtime()
        with _modules_lock:
            loaded = _libraries.get(str(built.path))
            if loaded is None:
                lib = ctypes.CDLL(str(built.path), mode=os.RTLD_NOW | os.RTLD_LOCAL)
                lib.cuemu_module_entries.restype = ctypes.POINTER(_KernelEntry)
                lib.cuemu_module_entries.argtypes = [ctypes.POINTER(ctypes.c_int)]
                n = ctypes.c_int(0)
                table = lib.cuemu_module_entries(ctypes.byref(n))
                entries = {}
                for i in range(n.value):
                    entries[table[i].name.decode()] = ctypes.addressof(table[i])
                dynsmem = ctypes.cast(lib.cuemu_module_dynsmem, ctypes.c_void_p).value
                loaded = _libraries[str(built.path)] = (lib, entries, dynsmem)
        self._lib, self._entries, self._dynsmem = loaded
        self._runtime = runtime
        self._functions = {}

    @property
    def kernel_names(self):
        """The names :meth:`get_function` accepts, sorted."""
        return tuple(sorted(e["name"] for e in self._meta["entries"]
                            if e["extern_c"] or e["name_expression"]))

    def get_function(self, name):
        """Return the kernel ``name``: an ``extern "C"`` entry point or one of the name expressions.

        Raises
        ------
        EmulatorError
            If there is no such kernel (the message lists the ones there are). As with CuPy, a
            non-template kernel with C++ linkage is found only through ``name_expressions``.
        """
        fn = self._functions.get(name)
        if fn is not None:
            return fn
        info = next((e for e in self._meta["entries"] if e["name"] == name), None)
        usable = info is not None and (info["extern_c"] or info["name_expression"])
        if not usable:
            known = self.kernel_names
            hint = ""
            if name in self._meta.get("cxx_linkage_kernels", ()):
                hint = (f" `{name}` has C++ linkage, so its symbol is mangled: declare it "
                        f"extern \"C\" or pass it in name_expressions (CuPy would not find it either).")
            elif name.split("<", 1)[0].strip() in self._meta.get("template_kernels", ()):
                hint = f" `{name}` is a template: pass it in name_expressions when creating the Module."
            raise EmulatorError(f"kernel `{name}` not found in {self.source}.{hint} "
                                f"Kernels available: {', '.join(known) or '(none)'}")
        fn = Function(self, name, self._entries[name], info["params"], info.get("max_threads"))
        self._functions[name] = fn
        return fn

    def __repr__(self):
        return f"<emulator.Module {self.source}>"


class Function:
    """A kernel of a :class:`Module`, called like ``cupy.RawKernel``.

    Attributes
    ----------
    name : str
    params : list of Param
        The parameters, as derived from the compiled code.
    max_dynamic_shared_size_bytes : int
        As in CuPy: dynamic shared memory above 48 KiB needs raising this first (up to 227 KiB).
    max_threads_per_block : int
        The kernel's ``__launch_bounds__`` (else 1024); larger blocks are refused, as on a GPU.
    """

    def __init__(self, module, name, entry_addr, param_names, launch_bounds=None):
        self.module = module
        self.name = name
        self._launch_bounds = launch_bounds
        self._entry_addr = entry_addr
        entry = _KernelEntry.from_address(entry_addr)
        names = list(param_names or [])
        self.params = [Param(i + 1, entry.params[i], names[i] if i < len(names) else None)
                       for i in range(entry.nparams)]
        self._max_dyn = DEFAULT_DYNAMIC_SMEM_LIMIT

    @property
    def max_threads_per_block(self):
        """Largest block this kernel launches with: its ``__launch_bounds__``, else 1024."""
        return self._launch_bounds or MAX_THREADS_PER_BLOCK

    @property
    def max_dynamic_shared_size_bytes(self):
        """Dynamic shared memory a launch may ask for (48 KiB unless raised, at most 227 KiB)."""
        return self._max_dyn

    @max_dynamic_shared_size_bytes.setter
    def max_dynamic_shared_size_bytes(self, value):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 0:
            raise LaunchConfigError(
                f"max_dynamic_shared_size_bytes must be a non-negative int, got {value!r}")
        if value > MAX_DYNAMIC_SMEM:
            raise LaunchConfigError(
                f"kernel `{self.name}`: max_dynamic_shared_size_bytes={value} exceeds sm_90's "
                f"{MAX_DYNAMIC_SMEM} bytes (227 KiB) of shared memory per block")
        self._max_dyn = int(value)

    def __repr__(self):
        return f"<emulator.Function {self.name}({', '.join(p.ctype for p in self.params)})>"

    # ---- checks ----------------------------------------------------------------------------------

    def _check_config(self, grid, block, shared_mem):
        where = f"kernel `{self.name}`"
        if any(d <= 0 for d in grid) or any(d <= 0 for d in block):
            raise LaunchConfigError(f"{where}: grid {grid} and block {block} must be positive in "
                                    f"every dimension (a GPU rejects a zero-sized launch)")
        for axis, (d, limit) in enumerate(zip(block, MAX_BLOCK_DIMS)):
            if d > limit:
                raise LaunchConfigError(f"{where}: block dimension {'xyz'[axis]}={d} exceeds the "
                                        f"limit {limit} (block limits are 1024 x 1024 x 64)")
        nthreads = block[0] * block[1] * block[2]
        if nthreads > MAX_THREADS_PER_BLOCK:
            raise LaunchConfigError(f"{where}: block {block} has {nthreads} threads; a GPU allows "
                                    f"at most {MAX_THREADS_PER_BLOCK} per block")
        if self._launch_bounds and nthreads > self._launch_bounds:
            raise LaunchConfigError(f"{where}: block {block} has {nthreads} threads, more than its "
                                    f"__launch_bounds__({self._launch_bounds}); a GPU refuses the "
                                    f"launch (too many resources requested)")
        for axis, (d, limit) in enumerate(zip(grid, MAX_GRID_DIMS)):
            if d > limit:
                raise LaunchConfigError(f"{where}: grid dimension {'xyz'[axis]}={d} exceeds the "
                                        f"limit {limit}")
        if isinstance(shared_mem, bool) or not isinstance(shared_mem, (int, np.integer)) \
                or shared_mem < 0:
            raise LaunchConfigError(f"{where}: shared_mem must be a non-negative int, got "
                                    f"{shared_mem!r}")
        if shared_mem > MAX_DYNAMIC_SMEM:
            raise LaunchConfigError(f"{where}: shared_mem={shared_mem} bytes exceeds sm_90's "
                                    f"{MAX_DYNAMIC_SMEM} bytes (227 KiB) per block")
        if shared_mem > self._max_dyn:
            raise LaunchConfigError(
                f"{where}: shared_mem={shared_mem} bytes of dynamic shared memory is over the "
                f"{self._max_dyn}-byte limit of this function; above 48 KiB a GPU needs the opt-in "
                f"`fn.max_dynamic_shared_size_bytes = {shared_mem}` first")

    def _marshal(self, args):
        """Check ``args`` against the signature; return the runtime's argument description."""
        if not isinstance(args, tuple):
            raise ArgumentError(f"kernel `{self.name}`: args must be a tuple, got "
                                f"{type(args).__name__}")
        if len(args) != len(self.params):
            sig = ", ".join(p.describe().split(" ", 2)[2].strip("`") for p in self.params)
            raise ArgumentError(f"kernel `{self.name}` takes {len(self.params)} arguments "
                                f"({sig}), got {len(args)}")
        slots = np.zeros(max(len(args), 1) * 2, np.uint64)  # 16 bytes per argument
        slot_bytes = slots.view(np.uint8)
        pointers = []  # (param index, array or None)
        for p, a in zip(self.params, args):
            if p.pointer:
                pointers.append((p, self._check_pointer(p, a)))
            else:
                value = self._check_scalar(p, a)
                raw = np.frombuffer(value.tobytes(), np.uint8)
                slot_bytes[16 * (p.index - 1):16 * (p.index - 1) + raw.size] = raw
        return slots, pointers

    def _check_scalar(self, p, a):
        where = f"kernel `{self.name}`: {p.describe()}"
        name = p.name or "value"
        want = p.dtypes[0] if p.dtypes else None
        fix = f"; pass {_NUMPY_CTOR[want]}({name})" if want in _NUMPY_CTOR else ""
        if type(a) in _CUPY_PYTHON_SCALAR:
            got = "Python " + type(a).__name__
            raise ArgumentError(f"{where} got a {got}, which CuPy passes as "
                                f"{_CUPY_PYTHON_SCALAR[type(a)]}{fix}")
        if isinstance(a, np.ndarray):
            raise ArgumentError(f"{where} is a scalar parameter but got an array of shape "
                                f"{a.shape}{fix}")
        if not isinstance(a, np.generic):
            raise ArgumentError(f"{where} got {type(a).__name__}; scalars must be NumPy "
                                f"scalars{fix}")
        if not p.dtypes:
            if a.dtype.itemsize != p.size:
                raise ArgumentError(f"{where} ({p.size} bytes) got {a.dtype} "
                                    f"({a.dtype.itemsize} bytes)")
            return a
        if a.dtype.name not in p.dtypes:
            raise ArgumentError(f"{where} got a numpy.{a.dtype.name} ({a.dtype.itemsize} bytes), "
                                f"but the parameter is a {p.size}-byte {p.ctype}{fix}")
        return a

    def _check_pointer(self, p, a):
        where = f"kernel `{self.name}`: {p.describe()}"
        if a is None:
            return None  # CuPy passes None as a null pointer
        if not isinstance(a, np.ndarray):
            raise ArgumentError(f"{where} is a pointer and needs a NumPy array (the emulated "
                                f"device array), got {type(a).__name__}")
        if not a.flags.c_contiguous:
            raise ArgumentError(f"{where} got a non-C-contiguous array (strides {a.strides}); the "
                                f"kernel indexes it as dense memory: pass np.ascontiguousarray(...)")
        if p.dtypes and a.dtype.name not in p.dtypes:
            raise ArgumentError(f"{where} got an array of dtype {a.dtype}; the kernel reads "
                                f"{p.ctype.replace('const ', '').rstrip('*').strip()} "
                                f"elements, which need dtype {' or '.join(p.dtypes)}")
        if not p.const and not a.flags.writeable and a.size:
            raise ArgumentError(f"{where} got a read-only array, but the kernel may write through "
                                f"a pointer to non-const")
        return a

    # ---- launch ----------------------------------------------------------------------------------

    def __call__(self, grid, block, args, shared_mem=0, *, order=None, seed=None):
        """Launch the kernel, like ``cupy.RawKernel.__call__``.

        Parameters
        ----------
        grid, block : int or tuple of 1 to 3 ints
        args : tuple
            NumPy arrays for pointer parameters (C-contiguous, of the pointee's dtype; ``None`` is a
            null pointer) and NumPy scalars of exactly the parameter's type for the others.
        shared_mem : int
            Bytes of dynamic shared memory.
        order : {'forward', 'reverse', 'random'}, optional
            Thread order of this launch (default: :func:`get_thread_order`).
        seed : int, optional
            Seed of the 'random' order (default: the process default's).

        Raises
        ------
        LaunchConfigError, ArgumentError
            Before running anything, for what a GPU (or CuPy) would reject.
        KernelFault, BarrierError
            If a CUDA thread faults or the block's threads cannot proceed. The arrays are then
            left as they were.
        """
        grid3, block3 = _dims("grid", grid), _dims("block", block)
        self._check_config(grid3, block3, shared_mem)
        if order is None or (seed is None and order == "random"):
            default_order, default_seed = get_thread_order()
        else:  # the order is given and needs no seed: no look at the environment on this launch
            default_order, default_seed = order, 0
        order_name, order_seed = _parse_order(order if order is not None else default_order,
                                              seed if seed is not None else default_seed)
        slots, pointers = self._marshal(args)

        # Pointer arguments whose memory overlaps share one copy, so aliasing works as on the GPU.
        spans = []
        for p, a in pointers:
            if a is not None:
                start = a.__array_interface__["data"][0]
                spans.append([start, start + a.nbytes, [(p, a)]])
        spans.sort(key=lambda s: s[0])
        groups = []
        for s in spans:
            if groups and s[0] < groups[-1][1] and s[0] != s[1]:
                groups[-1][1] = max(groups[-1][1], s[1])
                groups[-1][2] += s[2]
            else:
                groups.append(s)
        buffers = (_BufferSpec * max(len(groups), 1))()
        ptr_slot = np.zeros(max(len(pointers), 1), np.int32)
        ptr_buffer = np.full(max(len(pointers), 1), -1, np.int32)
        ptr_offset = np.zeros(max(len(pointers), 1), np.uint64)
        where = {}
        for gi, (start, end, members) in enumerate(groups):
            buffers[gi].addr = start
            buffers[gi].nbytes = end - start
            buffers[gi].readonly = int(all(p.const for p, _ in members))
            buffers[gi].copy_back = int(not buffers[gi].readonly)
            for p, a in members:
                where[p.index] = (gi, a.__array_interface__["data"][0] - start)
        for k, (p, a) in enumerate(pointers):
            ptr_slot[k] = p.index - 1
            if a is not None:
                ptr_buffer[k], ptr_offset[k] = where[p.index]
        base = slots.ctypes.data
        argv = (ctypes.c_void_p * max(len(self.params), 1))(
            *[base + 16 * i for i in range(len(self.params))])

        req = _Request()
        req.kernel = self._entry_addr
        req.args = ctypes.addressof(argv)
        req.grid[:] = grid3
        req.block[:] = block3
        req.shared_mem = int(shared_mem)
        req.order = _ORDERS[order_name]
        req.seed = order_seed
        req.nbuffers = len(groups)
        req.buffers = ctypes.addressof(buffers)
        req.nptrs = len(pointers)
        req.ptr_slot = ptr_slot.ctypes.data
        req.ptr_buffer = ptr_buffer.ctypes.data
        req.ptr_offset = ptr_offset.ctypes.data
        req.module_handle = self.module._lib._handle
        req.dynsmem = self.module._dynsmem
        req.dyn_capacity = _build.DYN_SMEM_CAPACITY
        res = _Result()
        status = self.module._runtime.cuemu_launch(ctypes.byref(req), ctypes.byref(res))
        if status:
            raise self._error(status, res, groups, grid3, block3)

    def _error(self, status, res, groups, grid, block):
        message = res.message.decode("utf-8", "replace")
        file = res.file.decode("utf-8", "replace") or None
        line = res.line or None
        if file is None and res.pc:
            file, line = _source_line(res.object.decode("utf-8", "replace"), res.pc)
        if status == 3:
            return LaunchConfigError(f"kernel `{self.name}`: {message} (grid {grid}, block {block})")
        if status not in (1, 2):
            return EmulatorError(f"kernel `{self.name}`: emulator error: {message}")
        blk = tuple(res.block) if res.has_thread else None
        thr = tuple(res.thread) if res.has_thread else None
        where = f" at blockIdx {blk} threadIdx {thr}" if res.has_thread else ""
        site = f" ({file}:{line})" if file else ""
        arg_index = offset = None
        detail = ""
        if res.buffer >= 0 and res.buffer < len(groups):
            start, _end, members = groups[res.buffer]
            addr = start + res.offset  # the faulting address in the caller's terms
            # The argument whose array the address belongs to or is nearest to.
            def distance(m):
                a = m[1]
                lo = a.__array_interface__["data"][0]
                return 0 if lo <= addr < lo + a.nbytes else min(abs(addr - lo),
                                                                abs(addr - (lo + a.nbytes)))
            p, a = min(members, key=distance)
            lo = a.__array_interface__["data"][0]
            off = addr - lo
            arg_index, offset = p.index, off
            item = a.dtype.itemsize or 1
            position = ("before the start" if off < 0 else
                        "past the end" if off >= a.nbytes else "inside the array")
            detail = (f": {p.describe()} (an array of {a.size} x {a.dtype}, {a.nbytes} bytes), "
                      f"byte offset {off} = element {off // item}, {position}")
        cls = BarrierError if status == 2 else KernelFault
        text = f"kernel `{self.name}`{where}{site}: {message}{detail}"
        return cls(text, kernel=self.name, block=blk, thread=thr, file=file, line=line,
                   argument=arg_index, offset=offset)
