"""The CPU emulator of the CUDA execution model (gpuparams.emulator, DESIGN.md §5 layer 2).

Kernels of our own under tests/kernels/ run on awkward shapes in every thread order against float64
NumPy references; kernels with planted bugs must be caught with the right error. Modules are compiled
once per test module (and cached on disk by content hash across runs).
"""
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from gpuparams import emulator
from gpuparams.emulator import (ArgumentError, BarrierError, CompileError, EmulatorError,
                                KernelFault, LaunchConfigError)

KERNELS = Path(__file__).resolve().parent / "kernels"
ORDERS = ["forward", "reverse", "random"]
SHAPES = [(1, 1, 1), (70, 45, 33), (129, 257, 65)]  # (M, N, K)
SHAPE_IDS = ["x".join(map(str, s)) for s in SHAPES]


def cdiv(a, b):
    return (a + b - 1) // b


IN_CI = os.environ.get("CI", "").strip().lower() in ("1", "true", "yes")


@pytest.fixture(scope="module", autouse=True)
def host_compiler():
    """The emulator builds kernels with g++: skip without one, except in CI, which must have it."""
    try:
        return emulator.toolchain()
    except EmulatorError as exc:
        if IN_CI:
            pytest.fail(f"CI=true but the emulator cannot run: {exc}")
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def modules():
    """Every test kernel file, compiled once for this module."""
    return {
        "tiled": emulator.Module(path=KERNELS / "emu_sgemm_tiled.cu"),
        "reg": emulator.Module(path=KERNELS / "emu_sgemm_reg.cu"),
        "reduce": emulator.Module(path=KERNELS / "emu_reduce.cu"),
        "misc": emulator.Module(path=KERNELS / "emu_misc.cu"),
        "bugs": emulator.Module(path=KERNELS / "emu_planted_bugs.cu"),
        "templates": emulator.Module(
            path=KERNELS / "emu_templates.cu",
            name_expressions=("axpy<float>", "axpy<double>", "scale_rows<float, 4>",
                              "cxx_linkage_fill")),
        "wmma": emulator.Module(path=KERNELS / "emu_wmma.cu"),
        "cp_async": emulator.Module(path=KERNELS / "emu_cp_async.cu"),
    }


@pytest.fixture
def rng():
    return np.random.default_rng(20240611)


def gemm_operands(rng, shape):
    m, n, k = shape
    a = rng.uniform(-1, 1, (m, k)).astype(np.float32)
    b = rng.uniform(-1, 1, (k, n)).astype(np.float32)
    return a, b, a.astype(np.float64) @ b.astype(np.float64)


def i32(v):
    return np.int32(v)


# ------------------------------------------------------------------------------------------------
# Correct kernels against float64 references

@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("shape", SHAPES, ids=SHAPE_IDS)
def test_sgemm_shared_memory_tiles(modules, rng, shape, order):
    m, n, k = shape
    a, b, ref = gemm_operands(rng, shape)
    c = np.full((m, n), np.nan, np.float32)
    fn = modules["tiled"].get_function("sgemm_tiled")
    fn((cdiv(n, 16), cdiv(m, 16)), (16, 16), (a, b, c, i32(m), i32(n), i32(k)), order=order)
    np.testing.assert_allclose(c, ref, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("aligned", [True, False], ids=["aligned", "misaligned"])
@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("shape", SHAPES + [(64, 128, 32)], ids=SHAPE_IDS + ["64x128x32"])
def test_sgemm_register_tiles_float4(modules, rng, shape, order, aligned):
    m, n, k = shape
    a, b, ref = gemm_operands(rng, shape)
    if not aligned:
        # Views one float into their buffers: 4 bytes off any 16-byte boundary, so the kernel must
        # take its scalar path even where the row lengths are multiples of 4.
        a = np.concatenate([[0], a.ravel()]).astype(np.float32)[1:].reshape(m, k)
        b = np.concatenate([[0], b.ravel()]).astype(np.float32)[1:].reshape(k, n)
        assert a.ctypes.data % 16 == 4
    c_buf = np.full(m * n + 1, np.nan, np.float32)
    c = (c_buf[1:] if not aligned else c_buf[:-1]).reshape(m, n)
    fn = modules["reg"].get_function("sgemm_reg")
    fn((cdiv(n, 64), cdiv(m, 64)), (16, 16), (a, b, c, i32(m), i32(n), i32(k)), order=order)
    np.testing.assert_allclose(c, ref, rtol=1e-5, atol=1e-5)


def test_pointer_alignment_is_kept_modulo_256(modules):
    # The emulator copies every argument; the copy must keep the caller's address modulo 256,
    # or a misaligned view would silently take a kernel's float4 path.
    fn = modules["misc"].get_function("pointer_alignment")
    buf = np.zeros(300, np.float32)
    out = np.zeros(1, np.uint32)
    for offset in (0, 1, 3, 4, 17, 63):
        view = buf[offset:]
        fn((1,), (32,), (view, out))
        assert out[0] == view.ctypes.data % 256


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("n", [1, 31, 1000, 4099])
def test_warp_shuffle_reduction(modules, rng, n, order):
    x = rng.uniform(-1, 1, n).astype(np.float32)
    blocks = min(cdiv(n, 128), 8)
    partial = np.full(blocks, np.nan, np.float32)
    modules["reduce"].get_function("reduce_sum_shfl")((blocks,), (128,), (x, partial, i32(n)),
                                                      order=order)
    np.testing.assert_allclose(partial.astype(np.float64).sum(), x.astype(np.float64).sum(),
                               rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("order", ORDERS)
def test_atomic_reductions(modules, rng, order):
    n = 1000
    x = rng.uniform(-1, 1, n).astype(np.float32)
    out = np.zeros(1, np.float32)
    modules["reduce"].get_function("reduce_sum_atomic")((cdiv(n, 256),), (256,),
                                                        (x, out, i32(n)), order=order)
    np.testing.assert_allclose(out[0], x.astype(np.float64).sum(), rtol=1e-4, atol=1e-4)
    # Integer atomics are exact.
    v = rng.integers(-2, 12, n).astype(np.int32)
    bins = np.zeros(10, np.int32)
    vmax = np.full(1, -(2**31), np.int32)
    modules["reduce"].get_function("histogram")((cdiv(n, 128),), (128,),
                                                (v, bins, vmax, i32(n), i32(10)), order=order)
    np.testing.assert_array_equal(bins, np.bincount(v[(v >= 0) & (v < 10)], minlength=10))
    assert vmax[0] == v.max()


def test_syncthreads_count_and_or(modules):
    x = np.array([1, 2, 3, 4] + [-1, 2, 3, 4] + [-1, -2, -3, -4] + [5, 6], np.float32)
    n = x.size
    counts = np.full(3 * 4, -7, np.int32)
    modules["reduce"].get_function("barrier_reductions")((4,), (4,), (x, counts, i32(n)))
    # The last block has two threads past n, which count as false.
    np.testing.assert_array_equal(counts.reshape(4, 3), [[4, 1, 1], [3, 0, 1], [0, 0, 0], [2, 0, 1]])


@pytest.mark.parametrize("order", ORDERS)
def test_dynamic_shared_memory(modules, rng, order):
    n = 1000
    x = rng.uniform(-1, 1, n).astype(np.float32)
    y = np.full(n, np.nan, np.float32)
    modules["reduce"].get_function("block_reverse")((cdiv(n, 128),), (128,), (x, y, i32(n)),
                                                    shared_mem=128 * 4, order=order)
    expected = np.concatenate([x[i:i + 128][::-1] for i in range(0, n, 128)])
    np.testing.assert_array_equal(y, expected)


def test_dynamic_shared_memory_above_48k_needs_the_opt_in(modules, rng):
    fn = modules["reduce"].get_function("staged_sum")
    length = 8192  # doubles: 64 KiB
    x = rng.uniform(-1, 1, 2 * length).astype(np.float32)
    out = np.zeros(2, np.float64)
    with pytest.raises(LaunchConfigError, match="max_dynamic_shared_size_bytes"):
        fn((2,), (256,), (x, out, i32(length)), shared_mem=length * 8)
    fn.max_dynamic_shared_size_bytes = length * 8
    fn((2,), (256,), (x, out, i32(length)), shared_mem=length * 8)
    np.testing.assert_allclose(out, x.astype(np.float64).reshape(2, -1).sum(axis=1), rtol=1e-12)
    with pytest.raises(LaunchConfigError, match="227 KiB"):
        fn.max_dynamic_shared_size_bytes = 227 * 1024 + 1
    fn.max_dynamic_shared_size_bytes = 227 * 1024
    with pytest.raises(LaunchConfigError, match="227 KiB"):
        fn((2,), (256,), (x, out, i32(length)), shared_mem=227 * 1024 + 8)


def test_template_kernels_through_name_expressions(modules, rng):
    mod = modules["templates"]
    for dtype, scalar in ((np.float32, np.float32), (np.float64, np.float64)):
        x = rng.uniform(-1, 1, 100).astype(dtype)
        y = rng.uniform(-1, 1, 100).astype(dtype)
        expected = 2.5 * x.astype(np.float64) + y
        name = "axpy<float>" if dtype == np.float32 else "axpy<double>"
        mod.get_function(name)((1,), (128,), (scalar(2.5), x, y, i32(100)))
        np.testing.assert_allclose(y, expected, rtol=1e-6)
    x = rng.uniform(-1, 1, (33, 4)).astype(np.float32)
    s = rng.uniform(-1, 1, 33).astype(np.float32)
    expected = x.astype(np.float64) * s[:, None]
    mod.get_function("scale_rows<float, 4>")((2,), (32,), (x, s, i32(33)))
    np.testing.assert_allclose(x, expected, rtol=1e-6)
    # A C++-linkage kernel is reachable through its name expression, like with CuPy.
    z = np.zeros(5, np.float32)
    mod.get_function("cxx_linkage_fill")((1,), (32,), (z, np.float32(3), i32(5)))
    np.testing.assert_array_equal(z, 3)


def test_get_function_names_what_is_missing(modules):
    with pytest.raises(EmulatorError, match="template.*name_expressions"):
        modules["templates"].get_function("axpy<int>")
    plain = emulator.Module(path=KERNELS / "emu_templates.cu")
    with pytest.raises(EmulatorError, match="C\\+\\+ linkage"):
        plain.get_function("cxx_linkage_fill")
    with pytest.raises(EmulatorError, match="Kernels available: sgemm_tiled"):
        modules["tiled"].get_function("sgemm")


def test_wmma_gemm(modules, rng):
    m, n, k = 32, 48, 64
    a = rng.uniform(-1, 1, (m, k)).astype(np.float16)
    b = rng.uniform(-1, 1, (k, n)).astype(np.float16)
    c = np.full((m, n), np.nan, np.float32)
    modules["wmma"].get_function("wmma_gemm")((n // 16, m // 16), (32,),
                                              (a, b, c, i32(m), i32(n), i32(k)), order="reverse")
    np.testing.assert_allclose(c, a.astype(np.float64) @ b.astype(np.float64), rtol=1e-5, atol=1e-5)


def test_warp_intrinsics(modules, rng):
    v = rng.integers(-50, 50, 32).astype(np.int32)
    v[7] = 150
    out = np.zeros(12 * 32, np.int32)
    modules["misc"].get_function("warp_ops")((1,), (32,), (v, out), order="random")
    r = out.reshape(12, 32)
    lane = np.arange(32)
    ballot = sum(1 << i for i in range(32) if v[i] > 0)
    np.testing.assert_array_equal(r[0], np.int32(np.uint32(ballot).view(np.int32)))
    np.testing.assert_array_equal(r[1], 1)  # lane 7 > 100
    np.testing.assert_array_equal(r[2], 1)
    np.testing.assert_array_equal(r[3], v[(lane + 3) % 32])
    np.testing.assert_array_equal(r[4], v[(lane // 16) * 16 + (lane + 5) % 16])
    np.testing.assert_array_equal(r[5], np.where(lane >= 1, v[lane - 1], v))
    np.testing.assert_array_equal(r[6], np.where(lane % 8 + 2 < 8, v[np.minimum(lane + 2, 31)], v))
    np.testing.assert_array_equal(r[7], v[lane ^ 1])
    np.testing.assert_array_equal(r[8], v[lane ^ 8])
    np.testing.assert_array_equal(r[9], np.where(lane < 16, v[:16].sum(), -1))
    np.testing.assert_array_equal(r[10], v.sum())
    np.testing.assert_array_equal(r[11], 32)


@pytest.mark.parametrize("order", ORDERS)
def test_math_intrinsics_vector_types_and_double_atomics(modules, rng, order):
    n = 301
    xy = rng.uniform(-2, 2, (n, 2)).astype(np.float32)
    out = np.full((n, 4), np.nan, np.float32)
    total = np.zeros(1, np.float64)
    modules["misc"].get_function("math_and_vectors")((cdiv(n, 64),), (64,), (xy, out, total, i32(n)),
                                                     order=order)
    x = xy[:, 0].astype(np.float64)
    y = np.abs(xy[:, 1].astype(np.float64)) + 0.5
    ref = np.stack([np.exp(x), 1 / np.sqrt(y), x * y + 1, np.tanh(x)], axis=1)
    np.testing.assert_allclose(out, ref, rtol=2e-6, atol=1e-7)
    np.testing.assert_allclose(total[0], x.sum(), rtol=1e-12)


def test_half_conversions_round_to_nearest_even(modules):
    specials = [0.0, -0.0, 1.0, 65504.0, 65519.0, 65520.0, 1e6, -1e6, 6.1e-5, 5.96e-8, 2.98e-8,
                2.99e-8, 1e-9, np.inf, -np.inf, 1 + 2**-11, 1 + 3 * 2**-11, 0.1, -2.5e-6]
    x = np.concatenate([np.array(specials, np.float32),
                        np.random.default_rng(1).standard_normal(500).astype(np.float32) * 100])
    n = x.size
    h = np.zeros(n, np.float16)
    y = np.zeros(n, np.float32)
    modules["misc"].get_function("half_roundtrip")((cdiv(n, 128),), (128,), (x, h, y, i32(n)))
    with np.errstate(over="ignore"):  # 1e6 -> inf is the point
        ref = x.astype(np.float16)
    np.testing.assert_array_equal(h.view(np.uint16), ref.view(np.uint16))
    np.testing.assert_array_equal(y, ref.astype(np.float32))
    nan = np.array([np.nan], np.float32)
    modules["misc"].get_function("half_roundtrip")((1,), (32,), (nan, h[:1], y[:1], i32(1)))
    assert np.isnan(h[0]) and np.isnan(y[0])


def test_aliased_arguments_and_null_pointers(modules, rng):
    fn = modules["misc"].get_function("scale_bias")
    x = rng.uniform(-1, 1, 300).astype(np.float32)
    expected = x * np.float32(3)
    fn((3,), (128,), (x, x, None, np.float32(3), i32(300)))  # in place, no bias
    np.testing.assert_array_equal(x, expected)
    bias = np.ones(300, np.float32)
    y = np.zeros(300, np.float32)
    # y overlaps x's memory shifted by one element: both see one copy of the same memory.
    buf = np.arange(301, dtype=np.float32)
    fn((3,), (128,), (buf[1:], buf[:-1], bias, np.float32(1), i32(300)), order="forward")
    assert buf[0] == 2.0 and buf[-1] == 300.0
    fn((3,), (128,), (x, y, bias, np.float32(1), i32(300)))
    np.testing.assert_array_equal(y, expected + 1)


# ------------------------------------------------------------------------------------------------
# Planted bugs

def test_missing_barrier_is_exposed(modules, rng):
    m, n, k = 70, 45, 33
    a, b, ref = gemm_operands(rng, (m, n, k))
    good = modules["tiled"].get_function("sgemm_tiled")
    bad = modules["bugs"].get_function("sgemm_missing_barrier")
    args = lambda c: (a, b, c, i32(m), i32(n), i32(k))  # noqa: E731
    for order in ORDERS:
        c = np.zeros((m, n), np.float32)
        good((cdiv(n, 16), cdiv(m, 16)), (16, 16), args(c), order=order)
        np.testing.assert_allclose(c, ref, rtol=1e-5, atol=1e-5)
        c = np.zeros((m, n), np.float32)
        bad((cdiv(n, 16), cdiv(m, 16)), (16, 16), args(c), order=order)
        assert not np.allclose(c, ref, rtol=1e-3, atol=1e-3), order


@pytest.mark.parametrize("order", ORDERS)
def test_planted_bugs_are_caught_in_every_thread_order(modules, order):
    # Each bug class of issue 5 whatever order the threads (and blocks) run in: the report must not
    # depend on which thread happened to run first.
    bugs = modules["bugs"]
    x = np.ones(70, np.float32)
    y = np.zeros(70, np.float32)
    with pytest.raises(KernelFault, match="out-of-bounds read") as info:
        bugs.get_function("oob_read")((2,), (64,), (x, y, i32(70)), order=order)
    assert (info.value.block, info.value.thread, info.value.offset) == ((1, 0, 0), (6, 0, 0), 280)
    np.testing.assert_array_equal(y, 0)
    with pytest.raises(BarrierError, match="divergent") as info:
        bugs.get_function("divergent_barrier")((1,), (64,), (np.zeros(64, np.float32),), order=order)
    assert "emu_planted_bugs.cu:67" in str(info.value) and "emu_planted_bugs.cu:69" in str(info.value)
    a = np.ones((4, 4), np.float32)
    tiled = modules["tiled"].get_function("sgemm_tiled")
    with pytest.raises(ArgumentError, match="argument 4 `int m` got a Python int"):
        tiled((1, 1), (16, 16), (a, a, a.copy(), 4, i32(4), i32(4)), order=order)
    with pytest.raises(LaunchConfigError, match="1025"):
        bugs.get_function("oob_read")((1,), (1025,), (x, y, i32(70)), order=order)
    with pytest.raises(LaunchConfigError, match=r"__launch_bounds__\(256\)"):
        modules["reg"].get_function("sgemm_reg")((1, 1), (32, 32), (a, a, a.copy(), i32(4), i32(4),
                                                                    i32(4)), order=order)


def test_uninitialized_shared_memory_reads_nan(modules):
    out = np.zeros(64, np.float32)
    modules["bugs"].get_function("read_unwritten_shared")((1,), (64,), (out, i32(64)))
    assert np.isnan(out[62]) and np.isfinite(np.delete(out, 62)).all()


@pytest.mark.parametrize("order", ORDERS)
def test_shared_memory_is_poisoned_at_every_block_start(modules, order):
    out = np.zeros(3, np.float32)
    modules["bugs"].get_function("shared_from_previous_block")((3,), (32,), (out,), order=order)
    assert out[0] == 1 and np.isnan(out[1:]).all(), out


def test_out_of_bounds_read(modules):
    x = np.ones(70, np.float32)
    y = np.zeros(70, np.float32)
    with pytest.raises(KernelFault) as info:
        modules["bugs"].get_function("oob_read")((1,), (128,), (x, y, i32(70)))
    e = info.value
    assert (e.kernel, e.block, e.thread, e.argument, e.offset) == ("oob_read", (0, 0, 0), (70, 0, 0), 1, 280)
    assert "out-of-bounds read" in str(e) and "`const float* x`" in str(e)
    assert e.file.endswith("emu_planted_bugs.cu") and e.line == 42
    np.testing.assert_array_equal(y, 0)  # a failed launch writes nothing back


def test_out_of_bounds_write(modules):
    x = np.ones(70, np.float32)
    y = np.zeros(70, np.float32)
    with pytest.raises(KernelFault, match=r"threadIdx \(70, 0, 0\).*out-of-bounds write") as info:
        modules["bugs"].get_function("oob_write")((1,), (128,), (x, y, i32(70)))
    assert info.value.argument == 2 and info.value.offset == 280
    np.testing.assert_array_equal(y, 0)


def test_out_of_bounds_far_read_and_const_write(modules):
    x = np.ones(70, np.float32)
    y = np.zeros(70, np.float32)
    with pytest.raises(KernelFault, match=r"threadIdx \(1, 0, 0\).*out-of-bounds read") as info:
        modules["bugs"].get_function("oob_read_far")((1,), (128,), (x, y, i32(70)))
    assert info.value.argument == 1 and info.value.offset == 4096 * 4
    with pytest.raises(KernelFault, match="pointer to const"):
        modules["bugs"].get_function("write_const")((1,), (128,), (x, i32(70)))
    np.testing.assert_array_equal(x, 1)


def test_uninstrumented_overrun_is_found_after_the_launch(modules):
    y = np.ones(70, np.float32)
    fn = modules["bugs"].get_function("memset_overrun")
    with pytest.raises(KernelFault, match="found after the launch") as info:
        fn((1,), (32,), (y, i32(70)))
    assert info.value.argument == 1 and info.value.offset == 280 and info.value.thread is None
    np.testing.assert_array_equal(y, 1)
    fn((1,), (32,), (y, i32(69)))
    np.testing.assert_array_equal(y, 0)


def test_shared_memory_out_of_bounds(modules):
    out = np.zeros(64, np.float32)
    with pytest.raises(KernelFault, match=r"threadIdx \(32, 0, 0\).*index 32 out of bounds"):
        modules["bugs"].get_function("shared_index_oob")((1,), (64,), (out,))
    with pytest.raises(KernelFault, match="dynamic shared memory.*shared_mem=128"):
        modules["bugs"].get_function("dynamic_smem_overrun")((1,), (64,), (out, i32(64)),
                                                             shared_mem=128)
    # With enough dynamic shared memory the same kernel is fine.
    modules["bugs"].get_function("dynamic_smem_overrun")((1,), (64,), (out, i32(64)),
                                                         shared_mem=256)
    np.testing.assert_array_equal(out, 1)


def test_misaligned_float4_access(modules):
    x = np.zeros(65, np.float32)
    y = np.zeros(16, np.float32)
    fn = modules["bugs"].get_function("misaligned_float4")
    fn((1,), (32,), (x[:64], y, i32(16)))  # aligned: fine
    with pytest.raises(KernelFault, match="misaligned address.*float4.*16-byte alignment"):
        fn((1,), (32,), (x[1:], y, i32(16)))


def test_device_assert_and_trap(modules):
    flags = np.zeros(100, np.int32)
    flags[77] = 1
    with pytest.raises(KernelFault) as info:
        modules["bugs"].get_function("device_assert")((2,), (64,), (flags, i32(100)))
    assert info.value.block == (1, 0, 0) and info.value.thread == (13, 0, 0)
    assert "assert `flags[i] == 0` failed" in str(info.value) and info.value.line == 100
    with pytest.raises(KernelFault, match=r"threadIdx \(5, 0, 0\).*__trap"):
        modules["bugs"].get_function("trap_kernel")((1,), (64,), (i32(5),))


def test_null_pointer_stack_overflow_and_division_by_zero(modules):
    # These fault in the hardware (SIGSEGV, SIGFPE-class checks): the process must survive them.
    with pytest.raises(KernelFault, match=r"threadIdx \(0, 0, 0\).*null pointer") as info:
        modules["bugs"].get_function("null_write")((1,), (32,), (None,))
    assert info.value.file.endswith("emu_planted_bugs.cu") and info.value.line == 135
    out = np.zeros(32, np.float32)
    with pytest.raises(KernelFault, match="stack overflow"):
        modules["bugs"].get_function("stack_overflow")((1,), (32,), (out, i32(5)), order="reverse")
    a = np.arange(32, dtype=np.int32)
    b = np.ones(32, np.int32)
    b[9] = 0
    with pytest.raises(KernelFault, match=r"threadIdx \(9, 0, 0\).*division by zero"):
        modules["bugs"].get_function("divide")((1,), (32,), (a, b))
    np.testing.assert_array_equal(b[:9], 1)


def test_device_printf(modules, capfd):
    modules["bugs"].get_function("say")((1,), (32,), (i32(7),))
    assert capfd.readouterr().out == "hello from thread 1: 7\n"


def test_divergent_barrier(modules):
    x = np.zeros(64, np.float32)
    with pytest.raises(BarrierError, match="divergent") as info:
        modules["bugs"].get_function("divergent_barrier")((1,), (64,), (x,))
    assert "emu_planted_bugs.cu:67" in str(info.value) and "emu_planted_bugs.cu:69" in str(info.value)
    np.testing.assert_array_equal(x, 0)


def test_deadlock(modules):
    x = np.ones(64, np.float32)
    with pytest.raises(BarrierError, match="deadlock") as info:
        modules["bugs"].get_function("deadlock")((1,), (64,), (x,))
    assert "__shfl_down_sync" in str(info.value) and "emu_planted_bugs.cu:79" in str(info.value)


def test_warp_mask_naming_exited_lanes(modules):
    x = np.ones(32, np.float32)
    with pytest.raises(BarrierError, match="exited"):
        modules["bugs"].get_function("shuffle_after_return")((1,), (32,), (x, i32(20)))
    modules["bugs"].get_function("shuffle_after_return")((1,), (32,), (x, i32(32)))
    assert x[0] == 32


@pytest.mark.parametrize("grid, block, match", [
    ((1,), (1025,), "1025"),
    ((1,), (32, 33, 1), "1056 threads"),
    ((1,), (1, 1, 65), "z=65"),
    ((1, 65536), (32,), "y=65536"),
    ((0,), (32,), "positive"),
    ((1,), (32, 0), "positive"),
    ((1.5,), (32,), "tuple of 1 to 3 ints"),
])
def test_launch_configurations_a_gpu_rejects(modules, grid, block, match):
    x = np.ones(70, np.float32)
    y = np.zeros(70, np.float32)
    with pytest.raises(LaunchConfigError, match=match):
        modules["bugs"].get_function("oob_read")(grid, block, (x, y, i32(70)))


def test_launch_bounds_are_enforced(modules):
    fn = modules["reg"].get_function("sgemm_reg")  # __launch_bounds__(256)
    assert fn.max_threads_per_block == 256
    assert modules["tiled"].get_function("sgemm_tiled").max_threads_per_block == 1024
    a = np.zeros((4, 4), np.float32)
    with pytest.raises(LaunchConfigError, match=r"__launch_bounds__\(256\)"):
        fn((1, 1), (32, 32), (a, a, a.copy(), i32(4), i32(4), i32(4)))


def test_arguments_cupy_would_marshal_differently(modules):
    fn = modules["tiled"].get_function("sgemm_tiled")
    a = np.ones((4, 4), np.float32)
    c = np.zeros((4, 4), np.float32)
    n4 = i32(4)
    cases = [
        ((a, a, c, 4, n4, n4), "argument 4 `int m` got a Python int, which CuPy passes as int64; "
                               "pass np.int32\\(m\\)"),
        ((a, a, c, n4, np.int64(4), n4), "argument 5 `int n` got a numpy.int64"),
        ((a, a, c, n4, n4, True), "argument 6 `int k` got a Python bool, which CuPy passes as int64"),
        ((a, a.astype(np.float64), c, n4, n4, n4), "argument 2 `const float\\* b` got an array of "
                                                   "dtype float64"),
        ((a, a, np.zeros((4, 8), np.float32)[:, ::2], n4, n4, n4), "non-C-contiguous"),
        ((a, 3.0, c, n4, n4, n4), "argument 2 .* needs a NumPy array"),
        ((a, a, c, n4, n4), "takes 6 arguments"),
        ([a, a, c, n4, n4, n4], "args must be a tuple"),
    ]
    for args, match in cases:
        with pytest.raises(ArgumentError, match=match):
            fn((1, 1), (16, 16), args)
    scale = modules["misc"].get_function("scale_bias")
    with pytest.raises(ArgumentError, match="argument 4 `float s` got a Python float, which CuPy "
                                            "passes as float64; pass np.float32\\(s\\)"):
        scale((1,), (32,), (a, c, None, 2.0, n4))
    with pytest.raises(ArgumentError, match="argument 4 `float s` got a numpy.float64"):
        scale((1,), (32,), (a, c, None, np.float64(2), n4))
    readonly = np.zeros(16, np.float32)
    readonly.flags.writeable = False
    with pytest.raises(ArgumentError, match="read-only array"):
        scale((1,), (32,), (a, readonly, None, np.float32(2), n4))


def test_fault_leaves_the_process_usable(modules, rng):
    x = np.ones(70, np.float32)
    y = np.zeros(70, np.float32)
    for _ in range(3):
        with pytest.raises(KernelFault):
            modules["bugs"].get_function("oob_read_far")((1,), (128,), (x, y, i32(70)))
    test_sgemm_shared_memory_tiles(modules, rng, (70, 45, 33), "random")


# ------------------------------------------------------------------------------------------------
# Compilation, cache and configuration

def test_compile_error_carries_the_log():
    with pytest.raises(CompileError) as info:
        emulator.Module(code='extern "C" __global__ void broken(float* x) { x[0] = undefined_name; }')
    assert info.value.filename == "<code>"
    assert "undefined_name" in info.value.log and "error" in info.value.log
    assert "<code>:1" in info.value.log


def test_unknown_compiler_option_is_refused():
    with pytest.raises(ArgumentError, match="--frobnicate"):
        emulator.Module(code='extern "C" __global__ void k() {}', options=("--frobnicate",))


def test_options_reach_the_compiler():
    code = 'extern "C" __global__ void k(int* out) { out[0] = VALUE; }'
    mod = emulator.Module(code=code, options=("-DVALUE=42", "-arch=sm_90", "-ftz=true"))
    out = np.zeros(1, np.int32)
    mod.get_function("k")((1,), (1,), (out,))
    assert out[0] == 42


def test_content_hash_cache_is_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("GPUPARAMS_EMULATOR_CACHE", str(tmp_path))
    code = 'extern "C" __global__ void fill(float* x, float v) { x[threadIdx.x] = v; }'
    first = emulator.Module(code=code)
    assert first.compiled and first.path.parent == tmp_path
    stamp = first.path.stat().st_mtime_ns
    second = emulator.Module(code=code)
    assert not second.compiled and second.path == first.path
    assert second.path.stat().st_mtime_ns == stamp
    x = np.zeros(8, np.float32)
    second.get_function("fill")((1,), (8,), (x, np.float32(2)))
    np.testing.assert_array_equal(x, 2)
    # Another option is another module.
    third = emulator.Module(code=code, options=("-DUNUSED=1",))
    assert third.compiled and third.path != first.path


def test_thread_order_default_and_environment(monkeypatch):
    monkeypatch.delenv("GPUPARAMS_EMULATOR_ORDER", raising=False)
    try:
        emulator.set_thread_order(None)
        assert emulator.get_thread_order() == ("forward", 0)
        monkeypatch.setenv("GPUPARAMS_EMULATOR_ORDER", "random:7")
        assert emulator.get_thread_order() == ("random", 7)
        emulator.set_thread_order("reverse", seed=3)
        assert emulator.get_thread_order() == ("reverse", 3)
        with pytest.raises(ValueError, match="thread order"):
            emulator.set_thread_order("sideways")
    finally:
        emulator.set_thread_order(None)


def test_default_order_applies_to_launches(modules):
    # The first thread to run writes the flag; who that is depends on the order.
    code = ('extern "C" __global__ void first(int* who) {'
            '  if (atomicCAS(who, -1, (int)threadIdx.x) != -1) return; }')
    fn = emulator.Module(code=code).get_function("first")
    who = np.full(1, -1, np.int32)
    try:
        emulator.set_thread_order("reverse")
        fn((1,), (64,), (who,))
        assert who[0] == 63
        who[0] = -1
        fn((1,), (64,), (who,), order="forward")
        assert who[0] == 0
        seen = set()
        for seed in range(4):
            who[0] = -1
            fn((1,), (64,), (who,), order="random", seed=seed)
            seen.add(int(who[0]))
        assert len(seen) > 1
    finally:
        emulator.set_thread_order(None)


def test_exceptions_are_runtime_errors():
    for cls in (KernelFault, BarrierError, LaunchConfigError, ArgumentError, CompileError):
        assert issubclass(cls, EmulatorError) and issubclass(cls, RuntimeError)
    err = pickle.loads(pickle.dumps(CompileError("k.cu", "error: log")))
    assert (err.filename, err.log) == ("k.cu", "error: log") and "k.cu" in str(err)


# ------------------------------------------------------------------------------------------------
# cp.async (issue 12): the pipeline primitives, and the reads of stages that have not landed

def _pipeline(modules, x, n, ntiles, mode, order):
    out = np.full(ntiles * 256, np.nan, np.float32)
    modules["cp_async"].get_function("pipeline_copy")(
        (1,), (64,), (x, out, i32(n), i32(ntiles), i32(mode)), shared_mem=3 * 64 * 16, order=order)
    return out


@pytest.mark.parametrize("order", ORDERS)
def test_cp_async_pipeline_lands_every_stage(modules, rng, order):
    # Five tiles through three stages (every stage reused), the last tile ragged: the zero-fill
    # variant (src-size < 16) pads the chunk that straddles n and the chunks wholly past it.
    n = 4 * 256 + 37
    x = rng.uniform(-1, 1, n).astype(np.float32)
    out = _pipeline(modules, x, n, 5, 0, order)
    np.testing.assert_array_equal(out[:n], x)
    np.testing.assert_array_equal(out[n:], 0)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("mode, what", [(1, "no wait_group at all"),
                                        (2, "a wait_group one group short")])
def test_cp_async_read_before_landing_is_caught(modules, rng, order, mode, what):
    # Without the emulator's bookkeeping these reads would see the data (the copy is done at issue)
    # or NaN poison; either way it must stop with the reader, the issuing thread and the issue site.
    x = rng.uniform(-1, 1, 3 * 256).astype(np.float32)
    with pytest.raises(KernelFault, match="before the cp.async writing it has landed") as info:
        _pipeline(modules, x, x.size, 3, mode, order)
    message = str(info.value)
    assert "emu_cp_async.cu:" in message and "read of 16 byte(s) at dynamic shared memory" in message, what
    reader = info.value.thread[0]
    assert f"issued by thread ({(reader + 1) % 64},0,0)" in message, message


@pytest.mark.parametrize("order", ORDERS)
def test_cp_async_missing_barrier_after_the_wait_is_caught(modules, rng, order):
    # Without a barrier no thread ever waits for another: the reader either finds its neighbour's
    # copy in flight (a fault) or finds no copy at all yet, and then reads the block-start poison.
    x = rng.uniform(-1, 1, 3 * 256).astype(np.float32)
    try:
        out = _pipeline(modules, x, x.size, 3, 3, order)
    except KernelFault as exc:
        assert "before the cp.async writing it has landed" in str(exc)
    else:
        assert np.isnan(out).any(), "a read of another thread's chunk without a barrier went unseen"
    np.testing.assert_array_equal(_pipeline(modules, x, x.size, 3, 0, order), x)


def test_cp_async_misuse_is_refused(modules, tmp_path):
    src = tmp_path / "cp_async_misuse.cu"
    src.write_text(
        'extern "C" __global__ void k(const float* x, float* y, int what) {\n'
        '    extern __shared__ float4 s[];\n'
        '    __shared__ float4 st[2];\n'
        '    if (what == 0) __pipeline_memcpy_async(&s[0], x + 1, 16);  // misaligned source\n'
        '    if (what == 1) __pipeline_memcpy_async(y, x, 16);          // destination not shared\n'
        '    if (what == 2) {                                           // one stage, two copies\n'
        '        __pipeline_memcpy_async(&st[0], x, 16);\n'
        '        __pipeline_memcpy_async(&st[0], x + 4, 16);\n'
        '    }\n'
        '    if (what == 3) {                                           // a write into the stage\n'
        '        __pipeline_memcpy_async(&st[1], x, 16);\n'
        '        float4* volatile p = &st[1];  // through a pointer: direct accesses are unchecked\n'
        '        p->x = 1.f;\n'
        '    }\n'
        '    if (what == 4) __pipeline_memcpy_async(&s[0], x + 8, 16);  // source out of bounds\n'
        '    __pipeline_commit();\n'
        '    __pipeline_wait_prior(0);\n'
        '    y[0] = st[0].x + st[1].x;\n'
        '}\n')
    fn = emulator.Module(path=src).get_function("k")
    x = np.arange(8, dtype=np.float32)
    for what, match in [(0, "misaligned cp.async of 16 bytes"), (1, "not in shared memory"),
                        (2, "still has in flight"), (3, "write of 4 byte"),
                        (4, "out-of-bounds read")]:
        with pytest.raises(KernelFault, match=match):
            fn((1,), (1,), (x, np.zeros(4, np.float32), i32(what)), shared_mem=64)
