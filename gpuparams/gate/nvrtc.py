"""Compile-checking CUDA kernels with NVRTC, without a GPU or a driver (DESIGN.md §5, layer 1).

NVRTC (from the ``nvidia-cuda-nvrtc`` wheel) is driven through CuPy's low-level bindings
(``createProgram``, ``addNameExpression``, ``compileProgram``, ``getCUBIN``, ``getProgramLog``,
``getLoweredName``), which need no CUDA driver; CuPy's high-level compile path asks the driver for the
device's architecture and fails on a machine without one. Compiling for a real architecture
(``-arch=sm_90``) makes NVRTC run ptxas, and ``-Xptxas=-v`` puts ptxas' resource report into the
program log: per kernel its registers, spill stores and loads, static shared memory and stack frame.

The options are the ones ``cupy.RawModule`` (CuPy 14) compiles our kernels with, so the gate checks the
code the GPU runs: ``--std=c++17`` (unless the options name a standard), CuPy's bundled CCCL and
header directories, the CUDA headers, ``-ftz=true``, ``--device-as-default-execution-space``. NVRTC 13
has no built-in ``cuda_fp16.h`` / ``mma.h``: the CUDA include directory comes from the
``nvidia-cuda-runtime`` wheel (``site-packages/nvidia/cu13/include``; ``mma.h`` also needs
``crt/mma.h`` from the ``nvidia-cuda-crt`` wheel), with ``$CUDA_PATH/include``, ``$CUDA_HOME/include``
and ``/usr/local/cuda/include`` searched after it for headers the wheels lack.

Budgets: each kernel file states them in comments, one line per entry point (or ``*`` for all)::

    // @budget <entry name or name expression or *> registers=<N> shared=<bytes>

A budget naming a template instantiation (``// @budget axpy<float> registers=32 shared=0``) also
makes the gate instantiate it, as a name expression. :func:`gate_file` fails a file on a compile error,
on any spill, on a kernel without a budget, on registers or static shared memory over budget, and on a
budget that names no kernel.

Also used by ``gpuparams info`` (:func:`nvrtc_available`, :func:`compile_report`).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import functools
import importlib.util
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from ..errors import BudgetError, KernelCompileError as CompileError

__all__ = [
    "CompileError", "BudgetError", "KernelResources", "FunctionResources", "CompileReport", "Budget",
    "GateResult", "nvrtc_available", "nvrtc_version", "include_dirs", "compile_options",
    "compile_report", "parse_budgets", "parse_ptxas_log", "check_budgets", "gate_file",
    "format_table", "DEFAULT_ARCH",
]

DEFAULT_ARCH = "sm_90"


# ---------------------------------------------------------------------------------------------------
# NVRTC

def _nvrtc_module():
    """CuPy's low-level NVRTC bindings (imported lazily: CuPy is optional)."""
    try:
        from cupy_backends.cuda.libs import nvrtc
    except ImportError:
        from cupy.cuda import nvrtc  # older CuPy layouts
    return nvrtc


def nvrtc_available():
    """Whether NVRTC can be loaded here.

    Returns
    -------
    (bool, str)
        ``(True, 'NVRTC 13.0')`` or ``(False, reason)`` with what to install.
    """
    try:
        nvrtc = _nvrtc_module()
    except Exception as exc:  # ImportError, or a broken CuPy raising at import
        return False, (f"CuPy's NVRTC bindings cannot be imported ({exc!r}); install "
                       f"'cupy-cuda13x' and 'nvidia-cuda-nvrtc' (pip install 'gpuparams[test]')")
    try:
        major, minor = nvrtc.getVersion()
    except Exception as exc:  # the shared library itself is missing
        return False, (f"the NVRTC library cannot be loaded ({exc!r}); install 'nvidia-cuda-nvrtc' "
                       f"matching CuPy's CUDA major version")
    return True, f"NVRTC {major}.{minor}"


def nvrtc_version():
    """``(major, minor)`` of the NVRTC library CuPy loads."""
    return tuple(_nvrtc_module().getVersion())


def _package_dir(name):
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return []
    if spec is None:
        return []
    return [Path(p) for p in (spec.submodule_search_locations or [])]


@functools.lru_cache(maxsize=None)
def _cupy_include_dirs():
    """The include directories ``cupy.RawModule`` adds before the CUDA headers, if CuPy is here."""
    for base in _package_dir("cupy"):
        include = base / "_core" / "include"
        if include.is_dir():
            cccl = include / "cupy" / "_cccl"
            dirs = [cccl / sub for sub in ("cub", "thrust", "libcudacxx") if (cccl / sub).is_dir()]
            return tuple(str(d) for d in dirs), str(include)
    return (), None


@functools.lru_cache(maxsize=None)
def _cuda_include_dirs(major):
    dirs = []
    # pip wheels: CUDA 13 has one tree (nvidia/cu13/include); CUDA 12 one per component.
    for base in _package_dir("nvidia"):
        for sub in (f"cu{major}/include", "cuda_runtime/include", "cuda_nvrtc/include",
                    "cuda_cccl/include"):
            d = base / sub
            if d.is_dir():
                dirs.append(d)
    # A toolkit, for the headers the wheels lack (crt/mma.h without nvidia-cuda-crt).
    for env in ("CUDA_PATH", "CUDA_HOME"):
        root = os.environ.get(env, "").strip()
        if root:
            dirs.append(Path(root) / "include")
    dirs.append(Path("/usr/local/cuda/include"))
    seen, result = set(), []
    for d in dirs:
        if d.is_dir() and (d / "cuda_fp16.h").is_file():
            key = d.resolve()
            if key not in seen:
                seen.add(key)
                result.append(str(d))
    return tuple(result)


def _nvrtc_major():
    """The CUDA major version of the NVRTC library (13 when it cannot be asked)."""
    try:
        return nvrtc_version()[0]
    except Exception:
        return 13


def include_dirs():
    """The directories searched for ``#include <...>``, in order (see the module docstring)."""
    cccl, cupy_include = _cupy_include_dirs()
    return (list(cccl) + ([cupy_include] if cupy_include else [])
            + list(_cuda_include_dirs(_nvrtc_major())))


def compile_options(arch=DEFAULT_ARCH, options=()):
    """The full NVRTC option list: ours (as CuPy's RawModule passes them) plus ``options``.

    Parameters
    ----------
    arch : str
        A real architecture, ``'sm_90'``, so that ptxas runs and reports resources.
    options : sequence of str
        The options the kernel is loaded with at run time (``cupy.RawModule(options=...)``).
    """
    opts = list(options)
    cccl, cupy_include = _cupy_include_dirs()
    if not any(re.match(r"--?std=", o) for o in opts):
        opts.append("--std=c++17")  # CuPy >= 14's default for RawModule
    opts = [f"-I{d}" for d in cccl] + opts
    if cupy_include:
        opts.append(f"-I{cupy_include}")
    opts += [f"-I{d}" for d in _cuda_include_dirs(_nvrtc_major())]
    opts += ["-ftz=true", f"-arch={arch}", "--device-as-default-execution-space", "-Xptxas=-v"]
    return opts


# ---------------------------------------------------------------------------------------------------
# Reports

@dataclass
class KernelResources:
    """What ptxas reports for one entry point.

    Attributes
    ----------
    name : str
        The name the source uses: the ``extern "C"`` name, the name expression, or the demangled
        name of another instantiation.
    entry : str
        The entry symbol in the cubin (mangled for C++ linkage).
    registers, spill_stores, spill_loads, shared, stack, barriers, constant : int
        Registers per thread; spill store and load bytes; static shared memory bytes; stack frame
        bytes; named barriers used; bytes of constant bank 0 (kernel parameters).
    """

    name: str
    entry: str
    registers: int = 0
    spill_stores: int = 0
    spill_loads: int = 0
    shared: int = 0
    stack: int = 0
    barriers: int = 0
    constant: int = 0


@dataclass
class FunctionResources:
    """ptxas' report for a non-inlined device function (a callee of the kernels)."""

    name: str
    stack: int = 0
    spill_stores: int = 0
    spill_loads: int = 0


@dataclass
class CompileReport:
    """The result of :func:`compile_report`.

    Attributes
    ----------
    filename : str
    arch : str
    options : list of str
        Every option NVRTC got.
    log : str
        NVRTC's program log (warnings and ptxas' report).
    kernels : dict of str to KernelResources
        Keyed by :attr:`KernelResources.name`.
    functions : dict of str to FunctionResources
        Non-inlined device functions, keyed by (demangled) name.
    lowered_names : dict of str to str
        Name expression -> entry symbol.
    cubin_size : int
    """

    filename: str
    arch: str
    options: list
    log: str
    kernels: dict = field(default_factory=dict)
    functions: dict = field(default_factory=dict)
    lowered_names: dict = field(default_factory=dict)
    cubin_size: int = 0
    #: the compiled cubin (for the SASS gate, :mod:`gpuparams.gate.sass`)
    cubin: bytes = field(default=b"", repr=False)


@functools.lru_cache(maxsize=1)
def _cxa_demangle():
    path = ctypes.util.find_library("stdc++")
    try:
        lib = ctypes.CDLL(path or "libstdc++.so.6")
        fn = lib.__cxa_demangle
    except (OSError, AttributeError):
        return None
    fn.restype = ctypes.c_void_p
    fn.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(ctypes.c_size_t),
                   ctypes.POINTER(ctypes.c_int)]
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    libc.free.argtypes = [ctypes.c_void_p]
    return fn, libc.free


def _source_name(symbol):
    """How the source names an entry symbol: ``axpy<float>`` for ``_Z4axpyIfEvT_PKS0_PS0_i``.

    The demangled name without its return type and parameter list (templates demangle as
    ``void axpy<float>(float, ...)``), so budget lines can use the name the code uses.
    """
    name = demangle(symbol)
    if name == symbol:
        return name
    depth, cut = 0, len(name)
    for i in range(len(name) - 1, -1, -1):  # the parameter list is the last top-level (...)
        ch = name[i]
        if ch == ")":
            depth += 1
        elif ch == "(":
            depth -= 1
            if depth == 0:
                cut = i
                break
    name = name[:cut]
    if name.startswith("void "):
        name = name[len("void "):]
    return name


def demangle(symbol):
    """The demangled C++ name of ``symbol`` (unchanged if it is not mangled or cannot be)."""
    if not symbol.startswith("_Z"):
        return symbol
    tools = _cxa_demangle()
    if tools is None:
        return symbol
    fn, free = tools
    status = ctypes.c_int(0)
    ptr = fn(symbol.encode(), None, None, ctypes.byref(status))
    if not ptr or status.value != 0:
        return symbol
    try:
        return ctypes.string_at(ptr).decode("utf-8", "replace")
    finally:
        free(ptr)


_ENTRY_RE = re.compile(r"Compiling entry function '([^']+)'")
_PROPS_RE = re.compile(r"Function properties for (\S+?):?\s*$")
_STACK_RE = re.compile(r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads")
_USED_RE = re.compile(r"Used (\d+) registers")


def parse_ptxas_log(log):
    """Parse ptxas' ``-v`` report out of an NVRTC program log.

    Returns
    -------
    (dict, dict)
        Entry symbol -> :class:`KernelResources` (``name`` = the symbol) and function symbol ->
        :class:`FunctionResources` for the non-entry functions.
    """
    kernels, functions = {}, {}
    current = None   # the entry being compiled
    props_of = None  # whose "Function properties" the next stack line belongs to
    for line in log.splitlines():
        m = _ENTRY_RE.search(line)
        if m:
            current = kernels.setdefault(m.group(1), KernelResources(m.group(1), m.group(1)))
            continue
        m = _PROPS_RE.search(line)
        if m:
            props_of = m.group(1)
            continue
        m = _STACK_RE.search(line)
        if m and props_of is not None:
            stack, stores, loads = (int(v) for v in m.groups())
            if props_of in kernels:
                k = kernels[props_of]
                k.stack, k.spill_stores, k.spill_loads = stack, stores, loads
            else:
                functions[props_of] = FunctionResources(props_of, stack, stores, loads)
            props_of = None
            continue
        m = _USED_RE.search(line)
        if m and current is not None:
            current.registers = int(m.group(1))
            for pattern, attr in ((r"(\d+) bytes smem", "shared"), (r"used (\d+) barriers", "barriers"),
                                  (r"(\d+) bytes cmem\[0\]", "constant")):
                mm = re.search(pattern, line)
                if mm:
                    setattr(current, attr, int(mm.group(1)))
    return kernels, functions


def _source_of(path_or_code, name):
    """``(text, filename)`` of a path (str or Path to an existing file) or of source text."""
    if isinstance(path_or_code, Path) or (
            isinstance(path_or_code, str) and "\n" not in path_or_code
            and (path_or_code.endswith(".cu") or os.path.isfile(path_or_code))):
        path = Path(path_or_code)
        return path.read_text(encoding="utf-8"), name or path.name
    return str(path_or_code), name or "kernel.cu"


def compile_report(path_or_code, arch=DEFAULT_ARCH, options=(), name_expressions=(), *, name=None):
    """Compile a kernel source with NVRTC for ``arch`` and report each kernel's resources.

    Parameters
    ----------
    path_or_code : str or Path
        A ``.cu`` file, or the source text.
    arch : str
        Real architecture (``'sm_90'``); ptxas only runs for one.
    options : sequence of str
        Extra NVRTC options, as given to ``cupy.RawModule``.
    name_expressions : sequence of str
        Template instantiations to compile (``'axpy<float>'``); their entries are reported under
        these names.
    name : str, optional
        The file name NVRTC uses in messages (default: the file's name, or ``kernel.cu``).

    Returns
    -------
    CompileReport

    Raises
    ------
    CompileError
        If NVRTC rejects the source (carries the file name and the program log).
    RuntimeError
        If NVRTC cannot be loaded (see :func:`nvrtc_available`).
    """
    ok, reason = nvrtc_available()
    if not ok:
        raise RuntimeError(reason)
    nvrtc = _nvrtc_module()
    source, filename = _source_of(path_or_code, name)
    opts = compile_options(arch, options)
    prog = nvrtc.createProgram(source, filename, [], [])
    try:
        for expr in name_expressions:
            nvrtc.addNameExpression(prog, expr)
        try:
            nvrtc.compileProgram(prog, opts)
        except nvrtc.NVRTCError as exc:
            log = nvrtc.getProgramLog(prog) or str(exc)
            if 'cannot open source file "crt/' in log:
                log += ("\n(NVRTC 13's <mma.h> and friends include crt/*.h, which the "
                        "nvidia-cuda-runtime wheel lacks: pip install 'nvidia-cuda-crt>=13,<14', or "
                        "set CUDA_PATH to a CUDA toolkit)")
            raise CompileError(filename, log, compiler="NVRTC") from None
        log = nvrtc.getProgramLog(prog)
        cubin = nvrtc.getCUBIN(prog)
        lowered = {expr: nvrtc.getLoweredName(prog, expr) for expr in name_expressions}
    finally:
        nvrtc.destroyProgram(prog)
    entries, functions = parse_ptxas_log(log)
    by_symbol = {sym: expr for expr, sym in lowered.items()}
    kernels = {}
    for sym, res in entries.items():
        res.name = by_symbol.get(sym) or _source_name(sym)
        kernels[res.name] = res
    callees = {demangle(sym): FunctionResources(demangle(sym), f.stack, f.spill_stores, f.spill_loads)
               for sym, f in functions.items()}
    return CompileReport(filename=filename, arch=arch, options=opts, log=log, kernels=kernels,
                         functions=callees, lowered_names=lowered, cubin_size=len(cubin),
                         cubin=bytes(cubin))


# ---------------------------------------------------------------------------------------------------
# Budgets and the gate

@dataclass(frozen=True)
class Budget:
    """One ``// @budget`` line."""

    entry: str        # an entry name, a name expression, or '*'
    registers: int
    shared: int
    line: int
    #: optional floor of the FFMA share of the main loop (the static performance gate, sass.py)
    ffma_share: float = None


_BUDGET_RE = re.compile(r"^\s*//\s*@budget\b(.*)$")
_BUDGET_BODY_RE = re.compile(
    r"^\s+(\S.*?)\s+registers=(\d+)\s+shared=(\d+)(?:\s+ffma_share=(0?\.\d+|1(?:\.0*)?))?\s*$")


def _norm(name):
    return re.sub(r"\s+", "", name)


def parse_budgets(source):
    """The budget lines of a kernel source, as a dict from normalized entry name to :class:`Budget`.

    Whitespace inside template names does not matter (``axpy<float, 4>`` == ``axpy<float,4>``).

    Raises
    ------
    BudgetError
        For a line starting ``// @budget`` that does not follow
        ``// @budget <entry or *> registers=<N> shared=<bytes>``, or a repeated entry.
    """
    budgets = {}
    for number, line in enumerate(source.splitlines(), 1):
        m = _BUDGET_RE.match(line)
        if not m:
            continue
        body = _BUDGET_BODY_RE.match(m.group(1))
        if not body:
            raise BudgetError(f"line {number}: malformed budget {line.strip()!r}; the format is "
                              f"'// @budget <entry or *> registers=<N> shared=<bytes>"
                              f" [ffma_share=<0..1>]'")
        entry = body.group(1)
        key = _norm(entry)
        if key in budgets:
            raise BudgetError(f"line {number}: a second budget for {entry!r} "
                              f"(first on line {budgets[key].line})")
        share = float(body.group(4)) if body.group(4) else None
        budgets[key] = Budget(entry, int(body.group(2)), int(body.group(3)), number, share)
    return budgets


def check_budgets(report, budgets):
    """Problems of a compiled file against its budgets (an empty list when it passes).

    A kernel fails on any spill, on having no budget (neither its own nor ``*``), and on registers or
    static shared memory over budget; a budget naming no kernel is a problem too (a stale budget).
    """
    problems = []
    for res in report.kernels.values():
        if res.spill_stores or res.spill_loads:
            problems.append(f"{res.name}: spills registers ({res.spill_stores} bytes stored, "
                            f"{res.spill_loads} bytes loaded)")
        budget = budgets.get(_norm(res.name)) or budgets.get("*")
        if budget is None:
            problems.append(f"{res.name}: no budget; add "
                            f"'// @budget {res.name} registers=<N> shared=<bytes>'")
            continue
        if res.registers > budget.registers:
            problems.append(f"{res.name}: {res.registers} registers, over the budget of "
                            f"{budget.registers} (line {budget.line})")
        if res.shared > budget.shared:
            problems.append(f"{res.name}: {res.shared} bytes of static shared memory, over the "
                            f"budget of {budget.shared} (line {budget.line})")
    for f in report.functions.values():
        if f.spill_stores or f.spill_loads:
            problems.append(f"device function {f.name}: spills registers ({f.spill_stores} bytes "
                            f"stored, {f.spill_loads} bytes loaded)")
    names = {_norm(n) for n in report.kernels}
    for key, budget in budgets.items():
        if key != "*" and key not in names:
            problems.append(f"budget for {budget.entry!r} (line {budget.line}) names no kernel of "
                            f"this file")
    return problems


@dataclass
class GateResult:
    """The verdict of :func:`gate_file` on one file."""

    path: str
    report: CompileReport = None
    budgets: dict = field(default_factory=dict)
    problems: list = field(default_factory=list)

    @property
    def ok(self):
        return not self.problems


def gate_file(path, arch=DEFAULT_ARCH, options=(), name_expressions=()):
    """Compile one kernel file and check it against its ``// @budget`` lines.

    Template instantiations named by budget lines are compiled as name expressions (besides
    ``name_expressions``). Never raises for a bad kernel: compile errors and budget violations
    are listed in :attr:`GateResult.problems`.
    """
    path = Path(path)
    result = GateResult(str(path))
    source = path.read_text(encoding="utf-8")
    try:
        result.budgets = parse_budgets(source)
    except BudgetError as exc:
        result.problems.append(f"{path.name}: {exc}")
        return result
    exprs = list(name_expressions)
    exprs += [b.entry for b in result.budgets.values() if "<" in b.entry and b.entry not in exprs]
    try:
        result.report = compile_report(path, arch=arch, options=options, name_expressions=exprs)
    except CompileError as exc:
        result.problems.append(f"{path.name}: compile error:\n{exc.log}")
        return result
    result.problems += [f"{path.name}: {p}" for p in check_budgets(result.report, result.budgets)]
    return result


def format_table(results):
    """A per-kernel table of registers, spills, shared memory and stack, for CI logs."""
    rows = [("file", "kernel", "regs/budget", "spill st/ld", "smem/budget", "stack", "status")]
    for r in results:
        if r.report is None:
            rows.append((Path(r.path).name, "-", "-", "-", "-", "-", "COMPILE ERROR" if r.problems
                         else "-"))
            continue
        for res in sorted(r.report.kernels.values(), key=lambda k: k.name):
            budget = r.budgets.get(_norm(res.name)) or r.budgets.get("*")
            bad = [p for p in r.problems if f": {res.name}:" in p]
            rows.append((Path(r.path).name, res.name,
                         f"{res.registers}/{budget.registers if budget else '-'}",
                         f"{res.spill_stores}/{res.spill_loads}",
                         f"{res.shared}/{budget.shared if budget else '-'}", str(res.stack),
                         "FAIL" if bad else "ok"))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)
