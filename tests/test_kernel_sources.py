"""DESIGN.md §4 source rules for ``kernels/*.cu`` that neither NVRTC nor the emulator enforce.

The compile gate checks that a kernel compiles within its budget and the emulator that it computes the
right thing; these static checks cover the rest of §4: no local ``#include`` (CuPy's cache key ignores
included files, so an edited header would not recompile), only ``_sync`` warp intrinsics with explicit
masks, no inline PTX without a ``__CUEMU__`` path, ``size_t`` global thread indices, an alignment
check wherever ``float4`` is used, ``extern "C"`` entry points and a ``// @budget`` line. Each rule
is also run on a source that breaks it, so the checker itself is tested.
"""
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
KERNEL_FILES = sorted((REPO / "kernels").glob("*.cu"))
TOOLKIT_HEADERS = ("cuda_fp16.h", "cuda_bf16.h", "mma.h")
LEGACY_WARP = ("__shfl", "__shfl_up", "__shfl_down", "__shfl_xor", "__ballot", "__any", "__all")


def _strip_comments(text):
    """``text`` with comments blanked out (line numbers kept); string literals are left alone."""
    def blank(match):
        return re.sub(r"[^\n]", " ", match.group(0))
    return re.sub(r'//[^\n]*|/\*.*?\*/|"(?:\\.|[^"\\\n])*"',
                  lambda m: m.group(0) if m.group(0).startswith('"') else blank(m), text, flags=re.S)


def source_problems(text, filename="<code>"):
    """The DESIGN.md §4 rules ``text`` breaks, one message per violation naming the line and the fix."""
    problems = []
    code = _strip_comments(text)
    lines = code.splitlines()
    asm_lines, float4_lines = [], []
    for number, line in enumerate(lines, 1):
        where = f"{filename}:{number}"
        include = re.match(r'\s*#\s*include\s*([<"])([^>"]*)[>"]', line)
        if include and (include.group(1) == '"' or include.group(2) not in TOOLKIT_HEADERS):
            header = include.group(2)
            header = f'"{header}"' if include.group(1) == '"' else f"<{header}>"
            problems.append(f"{where}: #include {header}: kernel files "
                            f"may include only <cuda_fp16.h>, <cuda_bf16.h> and <mma.h> (CuPy's "
                            f"cache key ignores other files); paste the code into the .cu file")
        for legacy in re.finditer(r"\b(__\w+)\s*\(", line):
            if legacy.group(1) in LEGACY_WARP:
                problems.append(f"{where}: {legacy.group(1)}() is not a _sync intrinsic: use "
                                f"{legacy.group(1)}_sync with an explicit lane mask")
        if re.search(r"\b__syncwarp\s*\(\s*\)", line):
            problems.append(f"{where}: __syncwarp() without a mask: name the lanes, e.g. "
                            f"__syncwarp(0xffffffffu)")
        index = re.search(r"\b(?:blockIdx|threadIdx)\.[xyz]\s*\*\s*blockDim\.[xyz]"
                          r"|\bblockDim\.[xyz]\s*\*\s*blockIdx\.[xyz]", line)
        if index and not re.search(r"(?:\(\s*size_t\s*\)|static_cast\s*<\s*size_t\s*>\s*\()\s*$",
                                   line[:index.start()]):
            problems.append(f"{where}: a global thread index computed in 32-bit int: cast first, "
                            f"(size_t)blockIdx.x * blockDim.x")
        if re.search(r"\b(?:asm|__asm__)\b", line):
            asm_lines.append(number)
        if re.search(r"reinterpret_cast\s*<\s*(?:const\s+)?float4\b", line):
            float4_lines.append(number)
        if re.search(r"\b__global__\b", line) and 'extern "C"' not in line:
            previous = next((lines[i].strip() for i in range(number - 2, -1, -1) if lines[i].strip()),
                            "")
            if not previous.startswith("template") and 'extern "C"' not in previous:
                problems.append(f"{where}: a __global__ function without extern \"C\" (or a "
                                f"template fetched by name expression): its name would be mangled")
    if asm_lines and not re.search(r"#\s*if(?:def|\s+defined)?\s*\(?\s*__CUEMU__", code):
        problems.append(f"{filename}:{asm_lines[0]}: inline PTX without a portable "
                        f"#ifdef __CUEMU__ path: the emulator cannot run it")
    if float4_lines and not re.search(r"&\s*(?:15|0xf|0xF)u?\b", code):
        problems.append(f"{filename}:{float4_lines[0]}: float4 accesses but no 16-byte alignment "
                        f"check (& 15) anywhere in the file: check the pointers and keep a scalar tail")
    if not re.search(r"^\s*//\s*@budget\b", text, flags=re.M):
        problems.append(f"{filename}: no '// @budget <kernel or *> registers=<N> shared=<bytes>' line")
    return problems


@pytest.mark.parametrize("path", KERNEL_FILES, ids=[p.name for p in KERNEL_FILES])
def test_kernel_file_follows_the_source_rules(path):
    assert source_problems(path.read_text(encoding="utf-8"), path.name) == []


def test_there_are_kernel_files():
    assert {p.name for p in KERNEL_FILES} >= {"dense.cu", "elementwise.cu", "optimizer.cu"}


GOOD = """\
// @budget * registers=32 shared=0
#include <cuda_fp16.h>
__device__ __forceinline__ bool aligned16(const void* p) {
    return (reinterpret_cast<size_t>(p) & 15u) == 0;
}
// a comment may say __shfl(x) or #include "x.h" or blockIdx.x * blockDim.x
extern "C" __global__ void k(const float* x, float* y, int n) {
    const size_t i = (size_t)blockIdx.x * blockDim.x + threadIdx.x;
    if (aligned16(x) && i < (size_t)n / 4) reinterpret_cast<float4*>(y)[i] =
        reinterpret_cast<const float4*>(x)[i];
    float v = __shfl_down_sync(0xffffffffu, 1.f, 1);
    __syncwarp(0xffffffffu);
    y[0] = v;
}
template <class T>
__global__ void t(T* x) { x[0] = T(); }
"""


def test_a_clean_source_passes():
    assert source_problems(GOOD) == []


@pytest.mark.parametrize("old, new, message", [
    ("#include <cuda_fp16.h>", '#include "common.cuh"', r'#include "common\.cuh": kernel files'),
    ("#include <cuda_fp16.h>", "#include <cub/cub.cuh>", r"#include <cub/cub\.cuh>"),
    ("__shfl_down_sync(0xffffffffu, 1.f, 1)", "__shfl_down(1.f, 1)", r"__shfl_down\(\) is not a _sync"),
    ("__shfl_down_sync(0xffffffffu, 1.f, 1)", "__ballot(1)", r"__ballot\(\) is not a _sync"),
    ("__syncwarp(0xffffffffu)", "__syncwarp()", "without a mask"),
    ("(size_t)blockIdx.x * blockDim.x", "blockIdx.x * blockDim.x", "32-bit int"),
    ("y[0] = v;", 'asm volatile("membar.gl;");', "inline PTX"),
    ("& 15u", "% 16u", "no 16-byte alignment check"),
    ('extern "C" __global__', "__global__", 'without extern "C"'),
    ("// @budget * registers=32 shared=0", "// budget: small", "no '// @budget"),
])
def test_each_rule_catches_its_violation(old, new, message):
    assert GOOD.count(old) == 1
    problems = source_problems(GOOD.replace(old, new), "bad.cu")
    assert len(problems) == 1 and re.search(message, problems[0]), problems
    assert problems[0].startswith("bad.cu")


def test_inline_ptx_with_an_emulator_path_is_allowed():
    code = GOOD.replace("y[0] = v;", '#ifdef __CUEMU__\n y[0] = v;\n#else\n asm volatile("");\n#endif')
    assert source_problems(code) == []
