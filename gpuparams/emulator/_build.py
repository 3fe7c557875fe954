"""Building kernel modules for the emulator: the host compiler, the content-hash cache, the loader.

A ``.cu`` source becomes a shared library in four steps, all with the host C++ compiler (g++):

1. **Scan**: preprocess the source with ``cuda_emu.h`` force-included and ``CUEMU_SCAN`` defined, which
   turns ``__global__`` into a marker token, and read the entry points (non-template ``__global__``
   definitions: their names and, for error messages only, their parameter names) from the
   preprocessed text of the source itself. Preprocessing first means kernels whose names come from
   macros are found, and code under ``#if`` that is off is not.
2. **Compile** a wrapper that ``#include``-s the source and appends a registration table: for each
   entry point and each name expression, ``cuemu::make_entry("name", &name)``, which derives the
   parameter types in C++ by template deduction on the function pointer.
3. **Place dynamic shared memory**: every ``extern __shared__`` array is an undefined thread-local
   symbol of the object file; an assembler stub defines all of them at one address (aliases, like
   CUDA's dynamic shared memory), sized for sm_90's 227 KiB.
4. **Link** against the emulator runtime (``libcuemu-<hash>.so``, built once from
   ``cuemu_runtime.cpp`` into the same cache).

Results are cached under ``$GPUPARAMS_EMULATOR_CACHE`` (default ``~/.cache/gpuparams/emulator``),
keyed by a hash of the source, its path, the emulator's headers and runtime, the options, the name
expressions and the compiler's version and flags.
"""
from __future__ import annotations

import ast
import functools
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from ..serialization import atomic_write
from . import _elf
from ._errors import ArgumentError, CompileError, EmulatorError

__all__ = ["cache_dir", "toolchain", "runtime_library", "build_module", "BuiltModule",
           "DYN_SMEM_CAPACITY", "EMULATOR_DIR"]

#: Bumped whenever the layout of what is cached changes.
FORMAT_VERSION = 2
EMULATOR_DIR = Path(__file__).resolve().parent
CACHE_ENV = "GPUPARAMS_EMULATOR_CACHE"
CXX_ENV = "GPUPARAMS_EMULATOR_CXX"
#: Bytes reserved for dynamic shared memory: sm_90's largest shared memory per block (227 KiB).
DYN_SMEM_CAPACITY = 227 * 1024
RUNTIME_SOURCE = EMULATOR_DIR / "cuemu_runtime.cpp"
_REGISTRATION_FILE = "<gpuparams emulator: entry-point registration>"


def cache_dir():
    """Return (creating it) the directory of compiled modules.

    ``$GPUPARAMS_EMULATOR_CACHE`` if set, else ``~/.cache/gpuparams/emulator``.
    """
    env = os.environ.get(CACHE_ENV, "").strip()
    path = Path(env).expanduser() if env else Path.home() / ".cache" / "gpuparams" / "emulator"
    path.mkdir(parents=True, exist_ok=True)
    return path


def _emulator_sources():
    """Every file of the emulator whose content goes into compiled modules (the cache key)."""
    return sorted(EMULATOR_DIR.glob("*.h")) + [RUNTIME_SOURCE]


def _sha256(*parts):
    h = hashlib.sha256()
    for part in parts:
        data = part if isinstance(part, bytes) else str(part).encode("utf-8")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


@dataclass(frozen=True)
class Toolchain:
    """The host compiler and the flags the emulator builds with."""

    cxx: str
    version: str                 # first line of `cxx --version` plus the target triple
    kernel_flags: tuple          # compile flags of kernel modules
    runtime_flags: tuple         # compile flags of the runtime library
    asm_type_prefix: str         # '@' (x86) or '%' (Arm) in `.type sym, @object`

    @property
    def key(self):
        return _sha256(self.cxx, self.version, *self.kernel_flags, "|", *self.runtime_flags)


def _run(cmd, **kwargs):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kwargs)


def _accepts(cxx, flag):
    """Whether the compiler accepts ``flag`` on a C++ translation unit."""
    try:
        proc = _run([cxx, "-x", "c++", "-fsyntax-only", "-Werror", flag, "-"], input="int x;\n")
    except OSError:
        return False
    return proc.returncode == 0


def _cpu_has_fma():
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="replace") as f:
            for line in f:
                if line.startswith("flags"):
                    return " fma " in f" {line.split(':', 1)[-1].strip()} "
    except OSError:
        pass
    return False


@functools.lru_cache(maxsize=None)
def _toolchain(cxx):
    exe = shutil.which(cxx)
    if exe is None:
        raise EmulatorError(
            f"the CUDA emulator needs a C++17 compiler, and {cxx!r} was not found on PATH "
            f"(install g++, or point ${CXX_ENV} at one)")
    proc = _run([exe, "--version"])
    machine = _run([exe, "-dumpmachine"]).stdout.strip()
    version = (proc.stdout.splitlines() or ["unknown"])[0] + " " + machine
    # The instrumentation flags and the sanitizer callback ABI below are GCC's.
    if "clang" in proc.stdout.lower() or proc.returncode != 0:
        raise EmulatorError(f"the CUDA emulator needs GCC's g++ (8 or newer); {exe} is "
                            f"{version.strip()!r}. Set ${CXX_ENV} to a g++.")
    common = ["-std=c++17", "-O2", "-fPIC", "-fno-strict-aliasing", "-fno-math-errno",
              "-fno-omit-frame-pointer", "-pipe"]
    kernel = common + [
        # Symbols bind inside the module: a kernel called `exp` must not resolve to libm's.
        "-fvisibility=hidden",
        # The GPU contracts a*b+c into an FMA by default (nvcc/NVRTC --fmad=true); so do we.
        "-ffp-contract=fast",
        # Checks whose handlers live in the runtime (cuemu_runtime.cpp): misaligned float4
        # accesses, indexing past a fixed-size (e.g. __shared__) array, integer division by zero.
        "-fsanitize=alignment,bounds,integer-divide-by-zero",
        "-fno-sanitize-recover=all",
        # Every load and store calls a check with its address (cuda_emu.h; no shadow memory),
        # which catches an out-of-bounds access in the bytes between an argument's data and its
        # guard pages, and past the launch's dynamic shared memory, with the exact thread.
        "-fsanitize=kernel-address", "--param", "asan-instrumentation-with-call-threshold=0",
        "--param", "asan-stack=0", "--param", "asan-globals=0",
        # A frame larger than a page probes its stack page by page, so a thread that overflows
        # its stack hits the guard page below it instead of the next thread's stack.
        "-fstack-clash-protection",
        # Line tables, to name the source line of a faulting access.
        "-g1", "-gdwarf-4",
    ]
    # Uninitialized locals read as a recognisable pattern instead of the previous thread's values.
    if _accepts(exe, "-ftrivial-auto-var-init=pattern"):
        kernel.append("-ftrivial-auto-var-init=pattern")
    # Without hardware FMA every fmaf() is a libm call, and tiled GEMMs get ~8x slower.
    if platform.machine() in ("x86_64", "AMD64") and _cpu_has_fma() and _accepts(exe, "-mfma"):
        kernel.append("-mfma")
    # The runtime long-jumps out of signal handlers across stacks: no _FORTIFY_SOURCE checks.
    runtime = common + ["-fvisibility=hidden", "-U_FORTIFY_SOURCE"]
    prefix = "@" if platform.machine() in ("x86_64", "AMD64", "i686", "i386") else "%"
    return Toolchain(exe, version, tuple(kernel), tuple(runtime), prefix)


def toolchain():
    """Return the :class:`Toolchain` (``$GPUPARAMS_EMULATOR_CXX``, default ``g++``).

    Raises
    ------
    EmulatorError
        If the compiler cannot be found or is not GCC.
    """
    return _toolchain(os.environ.get(CXX_ENV, "").strip() or "g++")


def runtime_library():
    """Return the path of the runtime library, building it on first use (cached by content)."""
    tc = toolchain()
    sources = [RUNTIME_SOURCE, EMULATOR_DIR / "cuemu_abi.h", EMULATOR_DIR / "cuemu_vector_types.h"]
    key = _sha256(FORMAT_VERSION, tc.key, *(p.read_bytes() for p in sources))[:24]
    name = f"libcuemu-{key}.so"
    path = cache_dir() / name
    if path.is_file():
        return path
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".build-") as tmp:
        out = Path(tmp) / name
        cmd = [tc.cxx, *tc.runtime_flags, "-shared", f"-Wl,-soname,{name}", f"-I{EMULATOR_DIR}",
               str(RUNTIME_SOURCE), "-o", str(out), "-ldl", "-lpthread"]
        proc = _run(cmd)
        if proc.returncode != 0:
            raise CompileError(str(RUNTIME_SOURCE), proc.stderr)
        os.replace(out, path)
    return path


# ---------------------------------------------------------------------------------------------------
# Options

_IGNORED_OPTION_PREFIXES = (
    "-arch", "--gpu-architecture", "-ftz", "--ftz", "-prec-div", "--prec-div", "-prec-sqrt",
    "--prec-sqrt", "-fmad", "--fmad", "-use_fast_math", "--use_fast_math", "-lineinfo",
    "--generate-line-info", "-G", "--device-debug", "-Xptxas", "--ptxas-options", "-maxrregcount",
    "--maxrregcount", "--device-as-default-execution-space", "-default-device", "-rdc",
    "--relocatable-device-code", "-dopt", "--dopt", "--extra-device-vectorization", "-extra-device",
    "-restrict", "--restrict", "--pch", "-pch", "-dlto", "--dlto", "-DCUPY_USE_JITIFY",
    "--device-int128", "-device-int128", "-dw", "--device-w", "--fdevice-syntax-only",
    "--minimal", "-minimal", "--split-compile", "-split-compile", "--time", "-time",
)


def translate_options(options):
    """Map NVRTC options (as given to ``cupy.RawModule``) to host-compiler flags.

    ``-D``/``-U``/``-I`` and the C++ standard are passed on; code-generation options that only
    matter on a GPU (``-arch``, ``-ftz``, ``--use_fast_math``, ``-lineinfo``, ...) are ignored.

    Raises
    ------
    ArgumentError
        For an option the emulator does not know (so it is not silently dropped).
    """
    flags = []
    for opt in options:
        if not isinstance(opt, str):
            raise ArgumentError(f"compiler options must be strings, got {opt!r}")
        if opt.startswith(("-D", "-U", "-I")) and len(opt) > 2:
            flags.append(opt)
        elif opt.startswith(("--define-macro=", "--undefine-macro=", "--include-path=")):
            flag = {"--define-macro=": "-D", "--undefine-macro=": "-U", "--include-path=": "-I"}
            prefix = opt.split("=", 1)[0] + "="
            flags.append(flag[prefix] + opt[len(prefix):])
        elif re.fullmatch(r"--?std=c\+\+(11|14|17|20)", opt):
            flags.append("-std=" + opt.split("=", 1)[1])
        elif opt in ("-w", "--disable-warnings"):
            flags.append("-w")
        elif opt.startswith(_IGNORED_OPTION_PREFIXES):
            continue
        else:
            raise ArgumentError(
                f"the emulator does not know the compiler option {opt!r}; it accepts -D/-U/-I, "
                f"-std=c++NN and ignores GPU code-generation options such as -arch, -ftz, "
                f"--use_fast_math, -lineinfo")
    return flags


# ---------------------------------------------------------------------------------------------------
# Scanning the preprocessed source for entry points

_TOKEN_RE = re.compile(
    r'"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\'|[A-Za-z_]\w*|\d[\w.]*|::|->|\S')
_QUALIFIERS = {"const", "volatile", "__restrict", "__restrict__", "restrict", "struct", "class",
               "unsigned", "signed", "long", "short", "int", "char", "float", "double", "bool",
               "void", "enum", "typename"}


@dataclass
class EntryPoint:
    """A ``__global__`` function found in the preprocessed source."""

    name: str
    params: list           # parameter names (None where unnamed)
    template: bool
    definition: bool
    max_threads: int = None  # the first argument of __launch_bounds__, where it is a constant


_BINOPS = {ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b,
           ast.Mult: lambda a, b: a * b, ast.Div: lambda a, b: a // b,
           ast.FloorDiv: lambda a, b: a // b, ast.Mod: lambda a, b: a % b}


def _constant(tokens):
    """The value of an integer constant expression of literals, + - * / % and parentheses, or None."""
    text = re.sub(r"\b(\d+)[uUlL]+\b", r"\1", " ".join(tokens))
    try:
        tree = ast.parse(text, mode="eval").body
    except SyntaxError:
        return None

    def value(node):
        if isinstance(node, ast.Constant) and type(node.value) is int:
            return node.value
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            return _BINOPS[type(node.op)](value(node.left), value(node.right))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            v = value(node.operand)
            return -v if isinstance(node.op, ast.USub) else v
        raise ValueError("not an integer constant")

    try:
        return value(tree)
    except (ValueError, ZeroDivisionError):
        return None


def _main_file_text(preprocessed, main_files):
    """The lines of ``preprocessed`` that come from the source itself (not from headers).

    ``main_files`` are the names the source goes by in the line markers.
    """
    keep = []
    current = None
    marker = re.compile(r'^#\s*(\d+)\s+"((?:\\.|[^"\\])*)"')
    for line in preprocessed.splitlines():
        m = marker.match(line)
        if m:
            current = m.group(2).replace('\\\\', '\\').replace('\\"', '"')
            continue
        if current in main_files:
            keep.append(line)
    return "\n".join(keep)


def _skip_group(tokens, i):
    """Index after the bracket group opening at ``tokens[i]``."""
    pairs = {"(": ")", "[": "]", "{": "}"}
    depth = 0
    close = pairs[tokens[i]]
    opener = tokens[i]
    while i < len(tokens):
        if tokens[i] == opener:
            depth += 1
        elif tokens[i] == close:
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return i


def _param_names(tokens):
    """Names of the parameters in the tokens between a declaration's parentheses."""
    params, current, depth = [], [], 0
    for tok in tokens:
        if tok in "([{<":
            depth += 1
        elif tok in ")]}>":
            depth -= 1
        if tok == "," and depth == 0:
            params.append(current)
            current = []
        else:
            current.append(tok)
    if current:
        params.append(current)
    if params == [["void"]]:
        return []
    names = []
    for p in params:
        if "[" in p:  # `float a[]`: the name precedes the brackets
            p = p[:p.index("[")]
        idents = [t for t in p if re.fullmatch(r"[A-Za-z_]\w*", t)]
        name = idents[-1] if idents else None
        # A lone type (`int`, `const float*`) has no name.
        if name in _QUALIFIERS or len(idents) < 2 or (p and p[-1] in ("*", "&")):
            name = None
        names.append(name)
    return names


def scan_entry_points(text):
    """Return the :class:`EntryPoint` records in preprocessed source ``text``."""
    tokens = _TOKEN_RE.findall(text)
    entries = []
    for i, tok in enumerate(tokens):
        if tok != "__cuemu_global__":
            continue
        template = False
        j = i - 1
        while j >= 0 and tokens[j] not in (";", "}", "{"):
            if tokens[j] == "template":
                template = True
            j -= 1
        k = i + 1
        name = None
        max_threads = None
        while k < len(tokens):
            t = tokens[k]
            if t == "__cuemu_launch_bounds__" and k + 1 < len(tokens) and tokens[k + 1] == "(":
                end = _skip_group(tokens, k + 1)
                args, depth = [], 0
                for tok in tokens[k + 2:end - 1]:
                    depth += tok in "([{"
                    depth -= tok in ")]}"
                    if tok == "," and depth == 0:
                        break
                    args.append(tok)
                max_threads = _constant(args)
                k = end
                continue
            if t in ("__attribute__", "alignas", "__declspec", "decltype") and k + 1 < len(tokens) \
                    and tokens[k + 1] == "(":
                k = _skip_group(tokens, k + 1)
                continue
            if t == "[" and k + 1 < len(tokens) and tokens[k + 1] == "[":
                k = _skip_group(tokens, k)
                continue
            if t == "(":
                name = tokens[k - 1]
                break
            if t in (";", "{", "}"):
                break
            k += 1
        if name is None or not re.fullmatch(r"[A-Za-z_]\w*", name):
            continue
        end = _skip_group(tokens, k)
        params = _param_names(tokens[k + 1:end - 1])
        definition = end < len(tokens) and tokens[end] == "{"
        entries.append(EntryPoint(name, params, template, definition, max_threads))
    return entries


# ---------------------------------------------------------------------------------------------------
# Building a module

@dataclass
class BuiltModule:
    """A compiled kernel module in the cache."""

    path: Path
    meta: dict
    compiled: bool = field(default=False)


def _c_string(s):
    return json.dumps(s)  # a valid C string literal for the ASCII our names and expressions use


def _registration(names):
    lines = [f'#line 1 "{_REGISTRATION_FILE}"',
             "static const ::cuemu::KernelEntry cuemu_entries_[] = {"]
    for name in names:
        lines.append(f"    ::cuemu::make_entry({_c_string(name)}, &{name}),")
    lines += [
        "    ::cuemu::KernelEntry()",
        "};",
        'extern "C" CUEMU_EXPORT const ::cuemu::KernelEntry* cuemu_module_entries(int* n) {',
        f"    *n = {len(names)};",
        "    return cuemu_entries_;",
        "}",
        'extern "C" CUEMU_EXPORT void* cuemu_module_dynsmem(void) { return cuemu_dynamic_smem; }',
        "",
    ]
    return "\n".join(lines)


def _dynamic_smem_stub(symbols, type_prefix):
    """Assembly defining every ``extern __shared__`` symbol at one thread-local address."""
    p = type_prefix
    lines = [f'\t.section .tbss,"awT",{p}nobits', "\t.p2align 7"]
    for name in symbols:
        lines += [f"\t.globl {name}", f"\t.hidden {name}", f"\t.type {name}, {p}object",
                  f"\t.size {name}, {DYN_SMEM_CAPACITY}"]
    lines += [f"{name}:" for name in symbols]
    lines += [f"\t.zero {DYN_SMEM_CAPACITY}", f'\t.section .note.GNU-stack,"",{p}progbits', ""]
    return "\n".join(lines)


def _compile_failed(display_name, proc, note=""):
    log = proc.stderr.strip() or proc.stdout.strip()
    if not note and f"{_REGISTRATION_FILE}:" in log:
        note += ("\n(The error is in the emulator's entry-point registration: check the name "
                 "expressions, or report the kernel declaration the emulator misread.)")
    return CompileError(display_name, log + note)


def build_module(path=None, code=None, options=(), name_expressions=()):
    """Compile a kernel source for the emulator (or find it in the cache).

    Parameters
    ----------
    path : str or Path, optional
        The ``.cu`` file. Exactly one of ``path`` and ``code`` is given.
    code : str, optional
        The source text.
    options : sequence of str
        NVRTC-style options (see :func:`translate_options`).
    name_expressions : sequence of str
        Template instantiations to register, e.g. ``'scale<float>'``.

    Returns
    -------
    BuiltModule

    Raises
    ------
    CompileError
        With the compiler's log.
    """
    if (path is None) == (code is None):
        raise ArgumentError("give exactly one of path= and code=")
    tc = toolchain()
    runtime = runtime_library()
    user_flags = translate_options(tuple(options))
    name_expressions = [str(e) for e in name_expressions]
    if path is not None:
        src_path = Path(path).resolve()
        try:
            source = src_path.read_text(encoding="utf-8")
        except OSError as exc:
            raise EmulatorError(f"cannot read kernel source {path}: {exc}") from exc
        display_name = str(src_path)
    else:
        source = str(code)
        src_path = None
        display_name = "<code>"
    headers = [p.read_bytes() for p in _emulator_sources()]
    key = _sha256(FORMAT_VERSION, tc.key, runtime.name, display_name, source, *headers, "|",
                  *user_flags, "|", *name_expressions)[:32]
    cache = cache_dir()
    so_path = cache / f"mod-{key}.so"
    meta_path = cache / f"mod-{key}.json"
    if so_path.is_file() and meta_path.is_file():
        try:
            return BuiltModule(so_path, json.loads(meta_path.read_text(encoding="utf-8")), False)
        except ValueError:
            pass  # a damaged entry: rebuild it

    with tempfile.TemporaryDirectory(dir=cache, prefix=".build-") as tmpdir:
        tmp = Path(tmpdir)
        if src_path is None:
            src_file = tmp / "kernel.cu"
            src_file.write_text('#line 1 "<code>"\n' + source, encoding="utf-8")
        else:
            src_file = src_path
        base = [tc.cxx, *tc.kernel_flags, f"-I{EMULATOR_DIR}", "-include", "cuda_emu.h", *user_flags]

        # 1. scan the preprocessed source for entry points
        proc = _run([*base, "-DCUEMU_SCAN", "-E", "-x", "c++", str(src_file)])
        if proc.returncode != 0:
            raise _compile_failed(display_name, proc)
        found = scan_entry_points(_main_file_text(proc.stdout, {str(src_file), "<code>"}))
        counts = {}
        for e in found:
            if e.definition and not e.template:
                counts[e.name] = counts.get(e.name, 0) + 1
        entry_names = [n for n, c in counts.items() if c == 1]  # overloads need name expressions
        templates = {e.name: e for e in found if e.template}
        plain = {e.name: e for e in found if not e.template and e.definition}

        # 2. compile the source with the registration table appended
        registered = list(dict.fromkeys(entry_names + name_expressions))
        wrapper = tmp / "module.cpp"
        wrapper.write_text(f'#include "{src_file}"\n' + _registration(registered), encoding="utf-8")
        obj = tmp / "module.o"
        proc = _run([*base, "-c", str(wrapper), "-o", str(obj)])
        if proc.returncode != 0:
            raise _compile_failed(display_name, proc)
        log = proc.stderr.strip()

        # 3. dynamic shared memory
        symbols = _elf.read_symbols(obj)
        tls_undefined = sorted({s.name for s in symbols
                                if s.type == _elf.STT_TLS and s.shndx == _elf.SHN_UNDEF})
        c_functions = {s.name for s in symbols if s.type == _elf.STT_FUNC and s.shndx != _elf.SHN_UNDEF}
        stub = tmp / "dynsmem.s"
        stub.write_text(_dynamic_smem_stub(tls_undefined, tc.asm_type_prefix), encoding="ascii")

        # 4. link against the runtime
        out = tmp / so_path.name
        proc = _run([tc.cxx, "-shared", "-o", str(out), str(obj), str(stub), str(runtime),
                     "-Wl,-rpath,$ORIGIN", "-Wl,-z,defs", "-Wl,-z,noexecstack"])
        if proc.returncode != 0:
            raise _compile_failed(display_name, proc, "\n(link step)")

        entries = []
        for name in registered:
            if name in name_expressions:
                base_name = name.split("<", 1)[0].strip().split("::")[-1]
                found_as = templates.get(base_name, plain.get(base_name))
                by_expression = True
            else:
                found_as = plain.get(name)
                by_expression = False
            entries.append({"name": name, "params": found_as.params if found_as else None,
                            "max_threads": found_as.max_threads if found_as else None,
                            "name_expression": by_expression, "extern_c": name in c_functions})
        meta = {
            "format": FORMAT_VERSION,
            "source": display_name,
            "entries": entries,
            "cxx_linkage_kernels": sorted(n for n in plain if n not in c_functions),
            "template_kernels": sorted(templates),
            "shared_symbols": [s for s in tls_undefined if s != "cuemu_dynamic_smem"],
            "log": log,
            "options": list(options),
            "name_expressions": name_expressions,
        }
        os.replace(out, so_path)
        text = json.dumps(meta, indent=1).encode("utf-8")
        atomic_write(meta_path, lambda f: f.write(text), suffix=".json")
    return BuiltModule(so_path, meta, True)
