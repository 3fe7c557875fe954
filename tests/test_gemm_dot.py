"""``nd.dot`` / ``nd.batch_dot`` / ``matmul`` (``np.matmul``, ``@``) on our GEMM kernels (issue 11):
float32 products on a device with custom kernels (the emulated gpu(0) here, a real GPU where present)
run ``backend.dense_launch.gemm`` forward and backward, never cuBLAS; float64 and cpu(0) keep the
NumPy path.

References: float64 NumPy products; gradients against central differences of those references.
"""
from __future__ import annotations

import numpy as np
import pytest

import gpuparams as gp
from gpuparams import autograd, backend, graph, nd
from gpuparams.gluon import nn
from gpuparams.backend import dense_launch, loader

_R = np.random.default_rng(11)


@pytest.fixture
def emulated():
    with backend.emulation(True):
        yield gp.gpu(0)


@pytest.fixture(params=[pytest.param("emulated", id="gpu0-emulated", marks=pytest.mark.emulated),
                        pytest.param("gpu", id="gpu0", marks=pytest.mark.gpu)])
def kctx(request):
    """A context with our kernels: the emulated gpu(0), and a real gpu(0) where present."""
    with backend.emulation(request.param == "emulated"):
        yield gp.gpu(0)


@pytest.fixture
def launches(monkeypatch):
    """The names of every kernel launched through backend.loader.launch while the test runs."""
    names = []
    real = loader.launch

    def counting(target, filename, name, *args, **kwargs):
        names.append(name)
        return real(target, filename, name, *args, **kwargs)
    monkeypatch.setattr(loader, "launch", counting)
    return names


def _gemm_launches(names):
    return [n for n in names if n.startswith("dense_")]


def _stored(shape, flag):
    """A random operand whose stored shape is ``shape`` transposed when ``flag`` (2-D)."""
    return _R.uniform(-1, 1, size=shape[::-1] if flag else shape)


def _op(x, flag):
    return x.T if flag and x.ndim == 2 else (x.transpose() if flag else x)


def _numeric_grad(ref, inputs, position, head, eps=1e-6):
    base = [np.array(a, dtype=np.float64) for a in inputs]
    x = base[position]
    grad = np.zeros_like(x)
    for index in np.ndindex(x.shape):
        keep = x[index]
        x[index] = keep + eps
        plus = (np.asarray(ref(*base)) * head).sum()
        x[index] = keep - eps
        minus = (np.asarray(ref(*base)) * head).sum()
        x[index] = keep
        grad[index] = (plus - minus) / (2 * eps)
    return grad


def _check(fn, ref, hosts, ctx, rtol=2e-5):
    """Forward against the float64 reference, float32 gradients against central differences."""
    arrays = [nd.array(h, ctx=ctx, dtype=np.float32) for h in hosts]
    for a in arrays:
        a.attach_grad()
    with autograd.record():
        out = fn(*arrays)
    expected = np.asarray(ref(*hosts), dtype=np.float64)
    got = out.asnumpy().astype(np.float64).reshape(expected.shape)
    np.testing.assert_allclose(got, expected, rtol=rtol, atol=1e-5)
    head = _R.uniform(0.5, 1.5, size=out.shape).astype(np.float32)
    out.backward(nd.array(head, ctx=ctx, dtype=np.float32))
    head64 = head.astype(np.float64).reshape(expected.shape)
    for i, a in enumerate(arrays):
        want = _numeric_grad(ref, hosts, i, head64)
        np.testing.assert_allclose(a.grad.asnumpy().astype(np.float64), want, rtol=1e-4, atol=1e-4,
                                   err_msg=f"gradient of input {i}")


# ---------------------------------------------------------------------------------------------------
# The launcher


@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
@pytest.mark.parametrize("n,k,m", [(1, 1, 1), (3, 17, 5), (17, 65, 3), (65, 3, 17), (8, 16, 4)])
def test_gemm_matches_float64(emulated, n, k, m, ta, tb):
    dev = backend.device(emulated)
    a = _stored((n, k), ta).astype(np.float32)
    b = _stored((k, m), tb).astype(np.float32)
    c = dense_launch.gemm(dev, a, b, ta, tb)
    want = _op(a.astype(np.float64), ta) @ _op(b.astype(np.float64), tb)
    assert c.shape == (n, m) and c.dtype == np.float32
    np.testing.assert_allclose(c, want, rtol=1e-5, atol=1e-5)


def test_gemm_empty_reduction_writes_zeros(emulated):
    dev = backend.device(emulated)
    out = np.full((3, 2), 7.0, dtype=np.float32)
    c = dense_launch.gemm(dev, np.zeros((3, 0), np.float32), np.zeros((0, 2), np.float32), out=out)
    assert c is out and not c.any()
    assert dense_launch.gemm(dev, np.zeros((0, 4), np.float32), np.ones((4, 2), np.float32)).shape == (0, 2)


def test_gemm_rejects_bad_operands(emulated):
    dev = backend.device(emulated)
    with pytest.raises(ValueError, match=r"inner sizes 4 and 5 differ"):
        dense_launch.gemm(dev, np.ones((3, 4), np.float32), np.ones((5, 2), np.float32))
    with pytest.raises(ValueError, match="float32"):
        dense_launch.gemm(dev, np.ones((3, 4)), np.ones((4, 2), np.float32))
    a = np.ones((4, 4), np.float32)
    with pytest.raises(ValueError, match="out overlaps a"):
        dense_launch.gemm(dev, a, np.ones((4, 4), np.float32), out=a)


# ---------------------------------------------------------------------------------------------------
# dot


@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
@pytest.mark.parametrize("n,k,m", [(1, 3, 1), (3, 17, 5), (17, 3, 65)])
def test_dot_2d_runs_our_gemm(kctx, launches, n, k, m, ta, tb):
    a, b = _stored((n, k), ta), _stored((k, m), tb)
    _check(lambda x, y: nd.dot(x, y, transpose_a=ta, transpose_b=tb),
           lambda x, y: _op(x, ta) @ _op(y, tb), [a, b], kctx)
    # One GEMM forward, one per gradient backward.
    assert len(_gemm_launches(launches)) == 3


@pytest.mark.parametrize("shapes,ta,tb", [
    (((5,), (5,)), False, False),
    (((5,), (5, 3)), False, False),
    (((5,), (3, 5)), True, True),
    (((3, 5), (5,)), False, False),
    (((5, 3), (5,)), True, False),
    (((2, 3, 4), (4, 5)), False, False),
    (((3, 4), (4, 2, 5)), False, False),
    (((4, 3, 2), (4, 5)), True, False),
    (((2, 3, 4), (5, 4)), False, True),
    (((2, 3, 4), (5, 3, 2)), True, True),
])
def test_dot_1d_and_nd_run_our_gemm(kctx, launches, shapes, ta, tb):
    a, b = (_R.uniform(-1, 1, size=s) for s in shapes)

    def ref(x, y):
        return np.tensordot(_op(x, ta), _op(y, tb), axes=1)
    _check(lambda x, y: nd.dot(x, y, transpose_a=ta, transpose_b=tb), ref, [a, b], kctx)
    assert len(_gemm_launches(launches)) == 3


def test_dot_kernel_path_only_for_float32_on_kernel_devices(kctx, launches):
    a, b = _R.uniform(size=(3, 4)), _R.uniform(size=(4, 2))
    out = nd.dot(nd.array(a, ctx=kctx, dtype="float32"), nd.array(b, ctx=kctx, dtype="float32"))
    assert len(_gemm_launches(launches)) == 1
    np.testing.assert_allclose(out.asnumpy(), a @ b, rtol=1e-5)
    del launches[:]
    out = nd.dot(nd.array(a, ctx=kctx, dtype="float64"), nd.array(b, ctx=kctx, dtype="float64"))
    assert launches == [] and out.dtype == np.float64
    np.testing.assert_allclose(out.asnumpy(), a @ b, rtol=1e-12)
    with backend.emulation(False):
        nd.dot(nd.array(a, dtype="float32"), nd.array(b, dtype="float32"))
    assert launches == []


def test_registry_specs_of_products_take_the_kernel_path(kctx, launches):
    # tests/test_registry.py::SPECS runs dot, batch_dot and matmul on the emulated gpu(0) in float32:
    # those
    # runs must be the kernel path, not NumPy on the emulator's host arrays.
    from tests.test_registry import SPECS, _arrays, _call
    for name in ("dot", "batch_dot", "matmul"):
        del launches[:]
        _call(name, SPECS[name], _arrays(SPECS[name], kctx))
        assert _gemm_launches(launches), name


def test_dot_second_derivative_runs_our_gemm(kctx, launches):
    # create_graph=True records the backward with dot itself, so it runs the kernels too.
    a = nd.array(_R.uniform(size=(3, 4)), ctx=kctx, dtype="float32")
    b = nd.array(_R.uniform(size=(4, 2)), ctx=kctx, dtype="float32")
    a.attach_grad()
    b.attach_grad()
    with autograd.record():
        y = (nd.dot(a, b) ** 2).sum()
        (ga,) = autograd.grad(y, [a], create_graph=True)
        z = ga.sum()
    z.backward()
    an, bn = a.asnumpy().astype(np.float64), b.asnumpy().astype(np.float64)

    def sum_of_grad(bb):  # sum(d/da sum((a·b)^2)) = sum(2 (a·b)·bᵀ), in float64
        return (2 * (an @ bb) @ bb.T).sum()
    num = np.zeros_like(bn)
    for idx in np.ndindex(bn.shape):
        step = np.zeros_like(bn)
        step[idx] = 1e-6
        num[idx] = (sum_of_grad(bn + step) - sum_of_grad(bn - step)) / 2e-6
    np.testing.assert_allclose(b.grad.asnumpy(), num, rtol=1e-4, atol=1e-4)
    assert len(_gemm_launches(launches)) >= 4


# ---------------------------------------------------------------------------------------------------
# batch_dot


@pytest.mark.parametrize("ta", [False, True])
@pytest.mark.parametrize("tb", [False, True])
@pytest.mark.parametrize("batch,n,k,m", [(1, 1, 3, 1), (3, 5, 17, 2), (2, 17, 3, 65)])
def test_batch_dot_runs_our_gemm(kctx, launches, batch, n, k, m, ta, tb):
    a = _R.uniform(-1, 1, size=(batch, k, n) if ta else (batch, n, k))
    b = _R.uniform(-1, 1, size=(batch, m, k) if tb else (batch, k, m))

    def ref(x, y):
        x = x.transpose(0, 2, 1) if ta else x
        y = y.transpose(0, 2, 1) if tb else y
        return np.matmul(x, y)
    _check(lambda x, y: nd.batch_dot(x, y, transpose_a=ta, transpose_b=tb), ref, [a, b], kctx)
    # A loop of one launch per batch item: forward and each gradient.
    assert len(_gemm_launches(launches)) == 3 * batch


def test_batch_dot_float64_keeps_numpy(kctx, launches):
    a, b = _R.uniform(size=(2, 3, 4)), _R.uniform(size=(2, 4, 5))
    out = nd.batch_dot(nd.array(a, ctx=kctx, dtype="float64"), nd.array(b, ctx=kctx, dtype="float64"))
    assert launches == []
    np.testing.assert_allclose(out.asnumpy(), np.matmul(a, b), rtol=1e-12)


class _Bilinear(nn.HybridBlock):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.w = self.params.get("w", shape=(4, 3))

    def hybrid_forward(self, F, x, y, w):
        return F.batch_dot(F.expand_dims(F.dot(x, w), 1), F.expand_dims(y, 2))


def test_a_hybridized_replay_runs_our_gemm(kctx, launches):
    block = _Bilinear()
    block.initialize(ctx=kctx)
    x, y = _R.uniform(-1, 1, (5, 4)), _R.uniform(-1, 1, (5, 3))
    want = np.einsum("bi,ij,bj->b", x, block.w.data().asnumpy().astype(np.float64), y)
    block.hybridize()
    for _ in range(2):
        del launches[:]
        xs, ys = nd.array(x, ctx=kctx), nd.array(y, ctx=kctx)
        out = block(xs, ys)
        np.testing.assert_allclose(out.asnumpy().reshape(-1), want, rtol=1e-5, atol=1e-6)
        assert len(_gemm_launches(launches)) == 1 + 5  # the dot, then one per batch item
    assert graph.cache_info(block)["replays"] == 1


# ---------------------------------------------------------------------------------------------------
# matmul (np.matmul and ``@`` of the np front end)


@pytest.mark.parametrize("shapes,count", [
    (((3, 5), (5, 2)), 3),
    (((17, 3), (3, 65)), 3),
    # b is one matrix: a's batch axes fold into the rows, one launch each way
    (((4, 3, 5), (5, 2)), 3),
    (((2, 3, 4), (1, 4, 5)), 3),
    (((3, 5), (1, 1, 5, 2)), 3),
    # a loop over the broadcast batch, the broadcast operand's gradient summed over it
    (((1, 3, 5), (4, 5, 2)), 3 * 4),
    (((2, 1, 3, 5), (3, 5, 7)), 3 * 6),
    (((3, 5), (2, 5, 4)), 3 * 2),
    (((2, 1, 3, 5), (1, 4, 5, 2)), 3 * 8),
    (((2, 3, 1, 5), (2, 3, 5, 1)), 3 * 6),
])
def test_matmul_runs_our_gemm(kctx, launches, shapes, count):
    a, b = (_R.uniform(-1, 1, size=s) for s in shapes)
    _check(nd.matmul, np.matmul, [a, b], kctx)
    assert len(_gemm_launches(launches)) == count


@pytest.mark.parametrize("ta,tb,kernel", [(False, True, "dense_fwd"), (True, False, "dense_bwd_dw"),
                                          (True, True, "dense_bwd_dw")])
def test_matmul_reads_swapped_operands_in_place(kctx, launches, ta, tb, kernel):
    # swapaxes(x, -1, -2) of a stored stack is a view the kernels read transposed (no copy): the
    # forward is the kernel of that layout, and the gradients come back in the operands' layout.
    a = _R.uniform(-1, 1, size=(2, 5, 3) if ta else (2, 3, 5))
    b = _R.uniform(-1, 1, size=(7, 5) if tb else (5, 7))

    def fn(x, y):
        return nd.matmul(nd.swapaxes(x, 1, 2) if ta else x, nd.swapaxes(y, 0, 1) if tb else y)

    def ref(x, y):
        return np.matmul(np.swapaxes(x, 1, 2) if ta else x, y.T if tb else y)
    _check(fn, ref, [a, b], kctx)
    names = _gemm_launches(launches)
    assert names[0].startswith(kernel + "_")  # <kernel>_<tile configuration>
    assert len(names) == (3 * 2 if ta else 3)  # a stored transposed with a batch: a loop


def test_matmul_float64_and_cpu_keep_numpy(kctx, launches):
    a, b = _R.uniform(size=(1, 3, 4)), _R.uniform(size=(2, 4, 5))
    out = nd.matmul(nd.array(a, ctx=kctx, dtype="float64"), nd.array(b, ctx=kctx, dtype="float64"))
    assert launches == [] and out.dtype == np.float64
    np.testing.assert_allclose(out.asnumpy(), np.matmul(a, b), rtol=1e-12)
    with backend.emulation(False):
        out = nd.matmul(nd.array(a, dtype="float32"), nd.array(b, dtype="float32"))
    assert launches == []
    np.testing.assert_allclose(out.asnumpy(), np.matmul(a, b), rtol=1e-5)


def test_matmul_kernel_path_empty_operands(kctx, launches):
    a = nd.zeros((0, 3, 4), ctx=kctx)
    assert nd.matmul(a, nd.ones((4, 5), ctx=kctx)).shape == (0, 3, 5)
    assert nd.matmul(nd.ones((2, 3, 4), ctx=kctx), nd.ones((0, 1, 4, 2), ctx=kctx)).shape == (0, 2, 3, 2)
    out = nd.matmul(nd.ones((2, 3, 0), ctx=kctx), nd.ones((2, 0, 4), ctx=kctx))
    np.testing.assert_array_equal(out.asnumpy(), np.zeros((2, 3, 4)))


def test_matmul_kernel_path_rejects_bad_shapes(kctx):
    with pytest.raises(gp.errors.ShapeError, match=r"batch axes of shapes \(2, 3, 4\) and \(3, 4, 5\)"):
        nd.matmul(nd.ones((2, 3, 4), ctx=kctx), nd.ones((3, 4, 5), ctx=kctx))
    with pytest.raises(gp.errors.ShapeError, match=r"4 \(last axis of the first\) != 5"):
        nd.matmul(nd.ones((3, 4), ctx=kctx), nd.ones((5, 2), ctx=kctx))


def test_np_front_end_products_run_our_gemm(kctx, launches):
    # np.matmul / @ (1-D operands included), np.dot and np.tensordot all reach our kernels.
    from gpuparams import np as gnp
    m, v, t = _R.uniform(size=(3, 4)), _R.uniform(size=(4,)), _R.uniform(size=(2, 4, 5))
    gm, gv, gt = (gnp.array(x, dtype="float32", ctx=kctx) for x in (m, v, t))
    cases = [(lambda: gm @ gv, m @ v), (lambda: gv @ gt, v @ t), (lambda: gnp.matmul(gm, gt), m @ t),
             (lambda: gnp.dot(gm, gt), np.dot(m, t)),
             (lambda: gnp.tensordot(gt, gm, axes=([1], [1])), np.tensordot(t, m, axes=([1], [1])))]
    for i, (product, want) in enumerate(cases):
        del launches[:]
        np.testing.assert_allclose(product().asnumpy(), want, rtol=1e-5, atol=1e-6, err_msg=str(i))
        assert _gemm_launches(launches), i


class _MatmulBlock(nn.HybridBlock):
    def hybrid_forward(self, F, x, y):
        return x @ y


def test_a_hybridized_np_matmul_replay_runs_our_gemm(kctx, launches):
    from gpuparams import np as gnp
    block = _MatmulBlock()
    block.hybridize()
    x, y = _R.uniform(-1, 1, (1, 3, 5)), _R.uniform(-1, 1, (2, 5, 4))
    head = _R.uniform(0.5, 1.5, (2, 3, 4))
    for _ in range(2):
        xs, ys = gnp.array(x, dtype="float32", ctx=kctx), gnp.array(y, dtype="float32", ctx=kctx)
        xs.attach_grad()
        ys.attach_grad()
        del launches[:]
        with autograd.record():
            out = block(xs, ys)
        assert len(_gemm_launches(launches)) == 2  # one per item of the broadcast batch
        out.backward(gnp.array(head, dtype="float32", ctx=kctx))
        assert len(_gemm_launches(launches)) == 2 + 4
        np.testing.assert_allclose(out.asnumpy(), np.matmul(x, y), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(xs.grad.asnumpy(), (head @ np.swapaxes(y, 1, 2)).sum(0, keepdims=True),
                                   rtol=1e-5, atol=1e-5)
        np.testing.assert_allclose(ys.grad.asnumpy(), np.swapaxes(x, 1, 2) @ head, rtol=1e-5, atol=1e-5)
    assert graph.cache_info(block)["replays"] == 1


@pytest.mark.parametrize("shapes,count", [(((1, 3, 5), (2, 5, 4)), 2), (((2, 3, 5), (5, 4)), 1)])
def test_a_captured_matmul_replays_our_gemm_on_new_inputs(emulated, launches, shapes, count):
    # The matmul step is kernel launches only (no host copy, no cuBLAS), so a capture records it and
    # later calls read the new inputs through the graph's buffers.
    from gpuparams import np as gnp
    block = _MatmulBlock()
    block.hybridize(static_alloc=True, static_shape=True)
    for _ in range(3):
        x, y = (_R.uniform(-1, 1, s) for s in shapes)
        out = block(gnp.array(x, dtype="float32", ctx=emulated), gnp.array(y, dtype="float32", ctx=emulated))
        np.testing.assert_allclose(out.asnumpy(), np.matmul(x, y), rtol=1e-5, atol=1e-6)
    info = graph.cache_info(block)
    assert info["captures"] == 1 and info["capture_failed"] == [None]
    assert len(next(iter(block._plans.values())).captured.launches) == count


class _BothTransposed(nn.HybridBlock):
    def hybrid_forward(self, F, a, b):
        return F.dot(a, b, transpose_a=True, transpose_b=True)


def test_a_capture_that_needs_a_host_copy_falls_back_instead_of_replaying_a_stale_copy(emulated, rng):
    # dot(aᵀ, bᵀ) copies bᵀ with NumPy/CuPy before the kernel runs: a captured graph would replay the
    # copy made at capture time. The capture must refuse (one warning) and every call stay correct.
    ctx = gp.gpu(0)
    blk = _BothTransposed()
    blk.initialize(ctx=ctx)
    blk.hybridize(static_alloc=True, static_shape=True)
    with pytest.warns(graph.CaptureFallbackWarning, match="transposed second operand"):
        for _ in range(3):
            a = rng.random((5, 3), dtype=np.float32)
            b = rng.random((4, 5), dtype=np.float32)
            y = blk(nd.array(a, ctx=ctx), nd.array(b, ctx=ctx)).asnumpy()
            np.testing.assert_allclose(y, a.T.astype(np.float64) @ b.T.astype(np.float64), rtol=2e-5)
    assert graph.cache_info(blk)["captures"] == 0
