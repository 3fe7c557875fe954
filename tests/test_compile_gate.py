"""The NVRTC compile gate (gpuparams.gate.nvrtc, DESIGN.md §5 layer 1).

Every ``kernels/*.cu`` and every test kernel under ``tests/kernels/`` is compiled for sm_90 with NVRTC,
as ``cupy.RawModule`` would compile it, and must not spill and must stay within the registers and
static shared memory its ``// @budget`` lines state. The per-kernel table is printed into the test log.

Skipped where NVRTC cannot be loaded, except under ``CI=true``, where that is a failure: CI installs
the ``[test]`` extra, which brings NVRTC.
"""
import os
import textwrap
from pathlib import Path

import pytest

from gpuparams.backend import gemm_plan
from gpuparams.gate import nvrtc, sass

REPO = Path(__file__).resolve().parents[1]
GATED = sorted(REPO.glob("kernels/*.cu")) + sorted((REPO / "tests" / "kernels").glob("*.cu"))
IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@pytest.fixture(scope="module")
def nvrtc_ready():
    ok, reason = nvrtc.nvrtc_available()
    if not ok:
        if IN_CI:
            pytest.fail(f"CI=true but the compile gate cannot run: {reason}")
        pytest.skip(reason)
    return reason


@pytest.fixture(scope="module")
def gate_results(nvrtc_ready, pytestconfig):
    """Every gated file compiled once; the table goes to the terminal whatever the capture mode."""
    results = {path: nvrtc.gate_file(path) for path in GATED}
    table = nvrtc.format_table(list(results.values()))
    text = f"\n\ncompile gate: {nvrtc_ready}, {nvrtc.DEFAULT_ARCH}\n{table}\n"
    capture = pytestconfig.pluginmanager.get_plugin("capturemanager")
    if capture is not None:
        with capture.global_and_fixture_disabled():
            print(text, flush=True)
    else:
        print(text)
    return results


@pytest.mark.parametrize("path", GATED, ids=[str(p.relative_to(REPO)) for p in GATED])
def test_kernel_file_within_budget(gate_results, path):
    result = gate_results[path]
    assert result.report is not None and result.report.kernels, "\n".join(result.problems)
    assert result.ok, "\n".join(result.problems)


def test_template_budgets_are_instantiated(gate_results):
    report = gate_results[REPO / "tests" / "kernels" / "emu_templates.cu"].report
    assert {"axpy<float>", "axpy<double>", "scale_rows<float, 4>"} <= set(report.kernels)
    assert report.lowered_names["axpy<float>"].startswith("_Z4axpyIfE")
    # The non-template C++-linkage kernel is reported under the name the source uses.
    assert report.kernels["cxx_linkage_fill"].entry.startswith("_Z")


def test_static_shared_memory_is_measured(gate_results):
    tiled = gate_results[REPO / "tests" / "kernels" / "emu_sgemm_tiled.cu"].report.kernels
    assert tiled["sgemm_tiled"].shared == 2 * 16 * 16 * 4
    assert 0 < tiled["sgemm_tiled"].registers <= 255


# ------------------------------------------------------------------------------------------------
# What the gate rejects

def write(tmp_path, name, code):
    path = tmp_path / name
    path.write_text(textwrap.dedent(code), encoding="utf-8")
    return path


TWO_KERNELS = """\
    // @budget small registers={regs} shared={smem}
    {extra}
    extern "C" __global__ void small(float* x) {{
        __shared__ float s[256];
        s[threadIdx.x] = x[threadIdx.x];
        __syncthreads();
        x[threadIdx.x] = s[255 - threadIdx.x];
    }}
    extern "C" __global__ void other(float* x) {{ x[threadIdx.x] *= 2.f; }}
"""


def test_budget_violations(nvrtc_ready, tmp_path):
    ok = write(tmp_path, "ok.cu", TWO_KERNELS.format(
        regs=64, smem=1024, extra="// @budget other registers=64 shared=0"))
    assert nvrtc.gate_file(ok).ok

    missing = write(tmp_path, "missing.cu", TWO_KERNELS.format(regs=64, smem=1024, extra=""))
    problems = nvrtc.gate_file(missing).problems
    assert len(problems) == 1 and "other: no budget" in problems[0]

    wildcard = write(tmp_path, "wildcard.cu", TWO_KERNELS.format(
        regs=64, smem=1024, extra="// @budget * registers=64 shared=0"))
    assert nvrtc.gate_file(wildcard).ok  # `other` falls under `*`

    regs = write(tmp_path, "regs.cu", TWO_KERNELS.format(
        regs=4, smem=1024, extra="// @budget other registers=64 shared=0"))
    assert any("registers, over the budget of 4" in p for p in nvrtc.gate_file(regs).problems)

    smem = write(tmp_path, "smem.cu", TWO_KERNELS.format(
        regs=64, smem=512, extra="// @budget other registers=64 shared=0"))
    assert any("1024 bytes of static shared memory, over the budget of 512" in p
               for p in nvrtc.gate_file(smem).problems)

    stale = write(tmp_path, "stale.cu", TWO_KERNELS.format(
        regs=64, smem=1024, extra="// @budget other registers=64 shared=0\n"
                                  "// @budget renamed registers=64 shared=0"))
    assert any("'renamed'" in p and "names no kernel" in p for p in nvrtc.gate_file(stale).problems)

    malformed = write(tmp_path, "malformed.cu", TWO_KERNELS.format(
        regs="lots", smem=1024, extra=""))
    assert any("malformed budget" in p for p in nvrtc.gate_file(malformed).problems)


SPILLER = """\
    // @budget spill registers=255 shared=0
    extern "C" __global__ void spill(float* out, const float* in) {
        float v[64];
    #pragma unroll
        for (int i = 0; i < 64; ++i) v[i] = in[threadIdx.x + i * 32];
        float s = 0.f;
    #pragma unroll
        for (int i = 0; i < 64; ++i) s += v[i] * v[(i * 7) % 64];
        out[threadIdx.x] = s;
    }
"""


def test_register_spills_fail(nvrtc_ready, tmp_path):
    path = write(tmp_path, "spill.cu", SPILLER)
    assert nvrtc.gate_file(path).ok  # enough registers: no spill
    result = nvrtc.gate_file(path, options=("-maxrregcount=24",))
    k = result.report.kernels["spill"]
    assert k.spill_stores > 0 and k.spill_loads > 0
    assert any("spill: spills registers" in p for p in result.problems)


def test_compile_error_carries_file_and_log(nvrtc_ready, tmp_path):
    code = 'extern "C" __global__ void broken(float* x) { x[0] = not_declared; }\n'
    with pytest.raises(nvrtc.CompileError) as info:
        nvrtc.compile_report(code, name="broken.cu")
    assert info.value.filename == "broken.cu"
    assert "not_declared" in info.value.log and "broken.cu(1)" in info.value.log
    result = nvrtc.gate_file(write(tmp_path, "broken.cu", "// @budget * registers=8 shared=0\n" + code))
    assert result.report is None and "compile error" in result.problems[0]
    assert "COMPILE ERROR" in nvrtc.format_table([result])


def test_toolkit_headers_resolve(nvrtc_ready):
    code = """\
        #include <cuda_fp16.h>
        #include <mma.h>
        extern "C" __global__ void h(const __half* a, float* b) { b[0] = __half2float(a[0]); }
    """
    report = nvrtc.compile_report(textwrap.dedent(code), name="headers.cu")
    assert report.kernels["h"].registers > 0 and report.cubin_size > 0


def test_options_are_cupys(nvrtc_ready):
    opts = nvrtc.compile_options()
    for expected in ("-arch=sm_90", "-Xptxas=-v", "-ftz=true", "--device-as-default-execution-space",
                     "--std=c++17"):
        assert expected in opts
    assert any(Path(o[2:], "cuda_fp16.h").is_file() for o in opts if o.startswith("-I"))
    assert "--std=c++17" not in nvrtc.compile_options(options=("-std=c++14",))
    # Everything CuPy's RawModule adds (its include directories and the C++ standard) is there too.
    try:
        from cupy._core.core import assemble_cupy_compiler_options
    except Exception:  # private CuPy API: only checked where it exists
        return
    assert set(assemble_cupy_compiler_options(())) <= set(opts)


# ------------------------------------------------------------------------------------------------
# Parsing (no NVRTC needed)

PTXAS_LOG = """\
kernel.cu(12): warning #177-D: variable "unused" was declared but never referenced
ptxas info    : 0 bytes gmem
ptxas info    : Compiling entry function 'uses_helper' for 'sm_90'
ptxas info    : Function properties for uses_helper
ptxas         .     128 bytes stack frame, 0 bytes spill stores, 0 bytes spill loads
ptxas info    : Used 23 registers, used 0 barriers, 128 bytes cumulative stack size, 372 bytes cmem[0]
ptxas info    : Compile time = 4.004 ms
ptxas info    : Function properties for _Z6helperPKfi
ptxas         .     16 bytes stack frame, 8 bytes spill stores, 4 bytes spill loads
ptxas info    : Compiling entry function '_Z4axpyIfEvT_PKS0_PS0_i' for 'sm_90'
ptxas info    : Function properties for _Z4axpyIfEvT_PKS0_PS0_i
ptxas         .     0 bytes stack frame, 100 bytes spill stores, 124 bytes spill loads
ptxas info    : Used 24 registers, used 1 barriers, 2048 bytes smem, 380 bytes cmem[0]
"""


def test_parse_ptxas_log():
    kernels, functions = nvrtc.parse_ptxas_log(PTXAS_LOG)
    a = kernels["uses_helper"]
    assert (a.registers, a.stack, a.spill_stores, a.shared, a.barriers, a.constant) == (23, 128, 0, 0, 0, 372)
    b = kernels["_Z4axpyIfEvT_PKS0_PS0_i"]
    assert (b.registers, b.spill_stores, b.spill_loads, b.shared, b.barriers) == (24, 100, 124, 2048, 1)
    assert functions["_Z6helperPKfi"].spill_stores == 8
    assert nvrtc.demangle("_Z6helperPKfi") in ("helper(float const*, int)", "_Z6helperPKfi")


def test_parse_budgets():
    source = textwrap.dedent("""\
        // @budget k1 registers=64 shared=1024
        //   @budget gemm<float, 64> registers=128 shared=16384
        // @budget * registers=32 shared=0
        // not a @budget line
    """)
    budgets = nvrtc.parse_budgets(source)
    assert budgets["k1"] == nvrtc.Budget("k1", 64, 1024, 1)
    assert budgets["gemm<float,64>"].registers == 128  # whitespace-insensitive key
    assert budgets["*"].line == 3 and len(budgets) == 3
    with pytest.raises(nvrtc.BudgetError, match="line 2: a second budget"):
        nvrtc.parse_budgets("// @budget k registers=1 shared=0\n// @budget k registers=2 shared=0\n")
    with pytest.raises(nvrtc.BudgetError, match="malformed"):
        nvrtc.parse_budgets("// @budget k registers=1\n")


def test_nvrtc_available_says_why():
    ok, reason = nvrtc.nvrtc_available()
    assert isinstance(ok, bool) and reason
    assert reason.startswith("NVRTC ") if ok else "install" in reason


# ------------------------------------------------------------------------------------------------
# Static performance gate (issue 12): SASS of the main loop, from nvdisasm

@pytest.fixture(scope="module")
def nvdisasm():
    tool = sass.nvdisasm_path()
    if tool is None:
        reason = "nvdisasm not found (pip install nvidia-cuda-nvdisasm, or a CUDA toolkit)"
        if IN_CI:
            pytest.fail(f"CI=true but the static performance gate cannot run: {reason}")
        pytest.skip(reason)
    return tool


@pytest.fixture(scope="module")
def sass_results(gate_results, nvdisasm, pytestconfig):
    out = {}
    for path, result in gate_results.items():
        if result.report is None or not any(b.ffma_share for b in result.budgets.values()):
            continue
        out[path] = sass.kernel_sass(result.report, nvdisasm)
        table = sass.format_sass_table(out[path], result.budgets)
        text = f"\n\nstatic performance gate: {path.name}\n{table}\n"
        capture = pytestconfig.pluginmanager.get_plugin("capturemanager")
        if capture is not None:
            with capture.global_and_fixture_disabled():
                print(text, flush=True)
    return out


def test_kernels_meet_their_ffma_floors(gate_results, sass_results):
    dense = REPO / "kernels" / "dense.cu"
    assert dense in sass_results
    problems = []
    for path, per_kernel in sass_results.items():
        problems += sass.check_floors(per_kernel, gate_results[path].budgets)
    assert problems == []
    k = sass_results[dense]
    # The cp.async kernels read their operands with LDS.128 only (the few LDS.32 are the fused db
    # row sums and the split-K flag), and never touch local memory.
    for name in ("dense_fwd_w", "dense_bwd_dx_w", "dense_fwd_m", "dense_bwd_dx_m"):
        loop = k[name].main_loop
        assert loop.lds128 >= 128 and loop.lds32 <= 4 and k[name].local_memory == 0, (name, loop)
        assert loop.ffma == (4096 if name.endswith("_w") else 2048), (name, loop)
    assert (k["dense_fwd_w"].blocks_per_sm, k["dense_fwd_m"].blocks_per_sm) == (1, 3)


def test_budget_lines_give_the_occupancy_ptxas_gives(gate_results):
    # The emulated gpu(0) plans with the budgets (no NVRTC at run time): they must give the same
    # blocks per SM as the registers ptxas really allocates.
    result = gate_results[REPO / "kernels" / "dense.cu"]
    for name, res in result.report.kernels.items():
        tile = gemm_plan.TILE_CONFIGS.get(name.rsplit("_", 1)[-1])
        if tile is None or name == "dense_bwd_db":
            continue
        budget = result.budgets[nvrtc._norm(name)]
        real = gemm_plan.occupancy(res.registers, tile.threads, res.shared, tile.dynamic_smem())
        from_budget = gemm_plan.occupancy(budget.registers, tile.threads, budget.shared,
                                          tile.dynamic_smem())
        assert real == from_budget, (name, res.registers, budget.registers)


LOW_FFMA = """\
    // @budget axpy_loop registers=64 shared=0 ffma_share=0.9
    extern "C" __global__ void axpy_loop(float* y, const float* x, int n) {
        for (int i = threadIdx.x; i < n; i += blockDim.x) y[i] = fmaf(2.f, x[i], y[i]);
    }
"""


def test_a_missed_floor_fails(nvrtc_ready, nvdisasm, tmp_path):
    path = write(tmp_path, "low.cu", LOW_FFMA)
    result = nvrtc.gate_file(path)
    assert result.ok, result.problems  # registers and shared memory are fine
    per_kernel = sass.kernel_sass(result.report, nvdisasm)
    loop = per_kernel["axpy_loop"].main_loop
    assert loop.ffma >= 1 and loop.ffma_share < 0.5
    problems = sass.check_floors(per_kernel, result.budgets)
    assert len(problems) == 1 and "axpy_loop: FFMA share of the main loop" in problems[0]
    assert "under the floor 0.9" in problems[0]


SASS_TEXT = """\
\t.section\t.text.k,"ax",@progbits
.text.k:
        /*0000*/                   MOV R1, c[0x0][0x28] ;
.L_x_0:
        /*0010*/                   LDS.128 R4, [R2] ;
        /*0020*/                   LDS R8, [R3] ;
        /*0030*/                   FFMA R9, R4, R5, R9 ;
        /*0040*/                   FFMA R10, R6, R7, R10 ;
        /*0050*/                   NOP ;
        /*0060*/              @!P0 BRA `(.L_x_0) ;
        /*0070*/                   STL [R1], R9 ;
        /*0080*/                   EXIT ;
"""


def test_sass_parsing_finds_the_main_loop():
    functions = sass.parse_sass(SASS_TEXT)
    loop, local = sass.analyze(*functions["k"])
    assert (loop.instructions, loop.ffma, loop.lds128, loop.lds32, local) == (5, 2, 1, 1, 1)
    assert loop.ffma_share == pytest.approx(0.4)


def test_budget_floor_parses():
    budgets = nvrtc.parse_budgets("// @budget k registers=8 shared=0 ffma_share=0.85\n"
                                  "// @budget j registers=8 shared=0\n")
    assert budgets["k"].ffma_share == 0.85 and budgets["j"].ffma_share is None
    with pytest.raises(nvrtc.BudgetError, match="malformed"):
        nvrtc.parse_budgets("// @budget k registers=8 shared=0 ffma_share=1.5\n")
