"""The CUDA kernels in kernels/*.cu and their launch wrappers (gpuparams.backend.kernels).

Emulated tests run every kernel and every tile configuration through gpuparams.emulator on small,
awkward shapes, in forward, reverse and random thread order, against float64 NumPy; outputs are poisoned
with NaN first so an unwritten element fails. The ``gpu`` tests run the same checks with CuPy on a
real gpu(0), at larger shapes too (skipped without one).
"""
import types

import numpy as np
import pytest

import gpuparams as gp
from gpuparams import autograd, backend, gluon, nd
from gpuparams.backend import dense_launch, devices, elementwise_launch, loader
from gpuparams.backend import kernels as K
from gpuparams.gluon import nn

# (N, K, M): batch, in features, out features. Odd sizes, a 1×1×1, sizes just past a tile, and
# one shape whose every dimension is a multiple of 4 so the float4 paths run (the others have
# leading dimensions that are not multiples of 4 and take the scalar paths).
SHAPES = [(1, 1, 1), (70, 45, 33), (129, 257, 65), (66, 40, 72)]
ALIGNED_SHAPE = (66, 40, 72)
# Every tile configuration: the large tile, the small tile, and the small tile split three ways.
# (Forced cp.async tiles on these shapes take the fallback where an operand is not aligned; the
# cp.async kernels have their own shapes below.)
TILES = [pytest.param(("l", 1), id="l"), pytest.param(("s", 1), id="s"),
         pytest.param(("s", 3), id="s-split3")]
# The multistage cp.async tiles (issue 12), each with and without split-K.
ASYNC_TILES = [pytest.param(("w", 1), id="w"), pytest.param(("w", 2), id="w-split2"),
               pytest.param(("m", 1), id="m"), pytest.param(("m", 3), id="m-split3")]
# Shapes every cp.async kernel can take (N×K→M with K and M multiples of 4): a single row, ragged
# row and column tiles, a reduction that ends mid-stage, more k-tiles than stages (every stage
# reused), and 129 rows (a second row of 128-row tiles holding one row).
ASYNC_SHAPES = [(1, 4, 4), (70, 44, 36), (129, 264, 68)]
ORDERS = ["forward", "reverse", "random"]


# ------------------------------------------------------------------------------------------------
# Device helpers shared by the emulated and the real-GPU tests

class Dev:
    """Moves arrays to and from one context's backend (NumPy when emulated, CuPy on a GPU)."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.xp = backend.array_module(ctx)

    def put(self, a, misaligned=False):
        """Copy host array ``a`` to the device; ``misaligned`` gives a 4-byte-offset view."""
        a = np.ascontiguousarray(a, dtype=np.float32)
        if not misaligned:
            return self.xp.array(a, copy=True)
        buf = self.xp.empty(a.size + 1, dtype=np.float32)
        view = buf[1:1 + a.size].reshape(a.shape)
        view[...] = self.xp.asarray(a)
        assert _address(view) % 16 != 0
        return view

    def nan(self, shape, misaligned=False):
        return self.put(np.full(shape, np.nan, np.float32), misaligned)

    @staticmethod
    def get(a):
        return a if isinstance(a, np.ndarray) else a.get()


def _address(a):
    return a.ctypes.data if isinstance(a, np.ndarray) else a.data.ptr


def assert_close(got, ref, what=""):
    """float32 kernel result vs float64 reference: max error within 1e-4 of the reference's scale."""
    got = np.asarray(got, dtype=np.float64)
    assert got.shape == ref.shape, what
    assert not np.isnan(got).any(), f"{what}: unwritten (NaN) elements at {np.argwhere(np.isnan(got))[:5]}"
    scale = max(1.0, float(np.abs(ref).max()) if ref.size else 1.0)
    np.testing.assert_allclose(got, ref, rtol=1e-4, atol=1e-4 * scale, err_msg=what)


def _inputs(rng, N, Kdim, M):
    x = rng.uniform(-1, 1, (N, Kdim)).astype(np.float32)
    w = rng.uniform(-1, 1, (M, Kdim)).astype(np.float32)
    b = rng.uniform(-1, 1, (M,)).astype(np.float32)
    return x, w, b


def check_forward(dev, rng, shape, *, bias, relu, tile, misaligned=False):
    N, Kdim, M = shape
    x, w, b = _inputs(rng, N, Kdim, M)
    ref = x.astype(np.float64) @ w.astype(np.float64).T
    if bias:
        ref = ref + b
    if relu:
        ref = np.maximum(ref, 0)
    out = dev.nan((N, M), misaligned)
    y = K.dense_forward(dev.ctx, dev.put(x, misaligned), dev.put(w, misaligned),
                        dev.put(b, misaligned) if bias else None,
                        activation="relu" if relu else None, out=out, tile=tile)
    assert y is out
    assert_close(dev.get(y), ref, f"y {shape} bias={bias} relu={relu} tile={tile}")


def check_backward(dev, rng, shape, *, mask, tile, misaligned=False, accumulate=False,
                   need=(True, True, True)):
    N, Kdim, M = shape
    x, w, _ = _inputs(rng, N, Kdim, M)
    dy = rng.uniform(-1, 1, (N, M)).astype(np.float32)
    # A ReLU output: about half the entries exactly 0, so the mask matters.
    y = np.maximum(rng.uniform(-1, 1, (N, M)), 0).astype(np.float32)
    dz = dy.astype(np.float64) * (y > 0) if mask else dy.astype(np.float64)
    refs = [dz @ w.astype(np.float64), dz.T @ x.astype(np.float64), dz.sum(axis=0)]
    shapes = [(N, Kdim), (M, Kdim), (M,)]
    starts = [rng.uniform(-1, 1, s).astype(np.float32) for s in shapes]
    outs = []
    for need_it, s, start in zip(need, shapes, starts):
        if accumulate and need_it:
            outs.append(dev.put(start, misaligned))
        else:
            # Poisoned: a needed output must be written in full, a skipped one left alone.
            outs.append(dev.nan(s, misaligned))
    got = K.dense_backward(
        dev.ctx, dev.put(dy, misaligned), dev.put(x, misaligned), dev.put(w, misaligned),
        dev.put(y, misaligned) if mask else None,
        need_dx=need[0], need_dw=need[1], need_db=need[2], dx=outs[0], dw=outs[1], db=outs[2],
        accumulate_dx=accumulate and need[0], accumulate_dw=accumulate and need[1],
        accumulate_db=accumulate and need[2], tile=tile)
    for name, need_it, g, out, ref, start in zip(("dx", "dw", "db"), need, got, outs, refs, starts):
        what = f"{name} {shape} mask={mask} tile={tile} accumulate={accumulate}"
        if need_it:
            assert g is out, what
            assert_close(dev.get(g), ref + start if accumulate else ref, what)
        else:
            assert g is None, what
            assert np.isnan(dev.get(out)).all(), f"{what}: skipped output was written"


def sgd_reference(w, g, mom, *, lr, momentum, wd, rescale, clip):
    w, g = w.astype(np.float64), g.astype(np.float64)
    g = rescale * g
    if clip is not None:
        g = np.clip(g, -clip, clip)
    if mom is None:
        return w - lr * (g + wd * w), None
    mom = momentum * mom.astype(np.float64) - lr * (g + wd * w)
    return w + mom, mom


def adam_reference(w, g, m, v, *, lr_t, beta1, beta2, eps, wd, rescale, clip):
    w, g, m, v = (a.astype(np.float64) for a in (w, g, m, v))
    g = rescale * g + wd * w
    if clip is not None:
        g = np.clip(g, -clip, clip)
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    return w - lr_t * m / (np.sqrt(v) + eps), m, v


SGD_CASES = [
    dict(lr=0.1, momentum=0.0, wd=0.0, rescale=1.0, clip=None),
    dict(lr=0.05, momentum=0.0, wd=0.01, rescale=0.5, clip=0.3),
    dict(lr=0.1, momentum=0.9, wd=0.0, rescale=1.0, clip=None),
    dict(lr=0.02, momentum=0.8, wd=0.05, rescale=2.0, clip=0.25),
]
ADAM_CASES = [
    dict(lr_t=0.01, beta1=0.9, beta2=0.999, eps=1e-8, wd=0.0, rescale=1.0, clip=None),
    dict(lr_t=0.003, beta1=0.8, beta2=0.99, eps=1e-6, wd=0.01, rescale=0.25, clip=0.2),
]


def check_sgd(dev, rng, n_shape, case, misaligned=False):
    w = rng.uniform(-1, 1, n_shape).astype(np.float32)
    g = rng.uniform(-2, 2, n_shape).astype(np.float32)
    mom = rng.uniform(-0.1, 0.1, n_shape).astype(np.float32) if case["momentum"] else None
    ref_w, ref_m = sgd_reference(w, g, mom, **case)
    dw, dm = dev.put(w, misaligned), None if mom is None else dev.put(mom, misaligned)
    K.sgd_update(dev.ctx, dw, dev.put(g, misaligned), dm, lr=case["lr"], momentum=case["momentum"],
                 wd=case["wd"], rescale_grad=case["rescale"], clip_gradient=case["clip"])
    np.testing.assert_allclose(dev.get(dw), ref_w, rtol=1e-5, atol=1e-6)
    if mom is not None:
        np.testing.assert_allclose(dev.get(dm), ref_m, rtol=1e-5, atol=1e-6)


def check_adam(dev, rng, n_shape, case, misaligned=False):
    w = rng.uniform(-1, 1, n_shape).astype(np.float32)
    g = rng.uniform(-2, 2, n_shape).astype(np.float32)
    m = rng.uniform(-0.1, 0.1, n_shape).astype(np.float32)
    v = rng.uniform(0, 0.1, n_shape).astype(np.float32)
    ref_w, ref_m, ref_v = adam_reference(w, g, m, v, **case)
    dw, dm, dv = (dev.put(a, misaligned) for a in (w, m, v))
    K.adam_update(dev.ctx, dw, dev.put(g, misaligned), dm, dv, lr_t=case["lr_t"],
                  beta1=case["beta1"], beta2=case["beta2"], epsilon=case["eps"], wd=case["wd"],
                  rescale_grad=case["rescale"], clip_gradient=case["clip"])
    np.testing.assert_allclose(dev.get(dw), ref_w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dev.get(dm), ref_m, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(dev.get(dv), ref_v, rtol=1e-5, atol=1e-8)


def check_relu(dev, rng, shape, misaligned=False):
    x = rng.uniform(-1, 1, shape).astype(np.float32)
    dy = rng.uniform(-1, 1, shape).astype(np.float32)
    out = dev.nan(shape, misaligned)
    y = K.relu_forward(dev.ctx, dev.put(x, misaligned), out=out)
    assert y is out
    ref_y = np.maximum(x, 0)
    np.testing.assert_array_equal(dev.get(y), ref_y)
    gout = dev.nan(shape, misaligned)
    dx = K.relu_backward(dev.ctx, dev.put(dy, misaligned), dev.put(ref_y, misaligned), out=gout)
    assert dx is gout
    np.testing.assert_array_equal(dev.get(dx), dy * (ref_y > 0))


def _hyper(case, kind):
    clip = -1.0 if case["clip"] is None else case["clip"]
    if kind == "adam":
        b1, b2 = case["beta1"], case["beta2"]
        values = (case["lr_t"], b1, 1.0 - b1, b2, 1.0 - b2, case["eps"], case["wd"], case["rescale"], clip)
    elif case["momentum"]:
        values = (case["lr"], case["momentum"], case["wd"], case["rescale"], clip)
    else:
        values = (case["lr"], case["wd"], case["rescale"], clip)
    return np.array(values, dtype=np.float32)


def check_sgd_from(dev, rng, n_shape, case, misaligned=False):
    """The *_p kernel (hyperparameters read from a device array) against float64 and, bit for bit,
    against the scalar kernel on the same inputs."""
    w = rng.uniform(-1, 1, n_shape).astype(np.float32)
    g = rng.uniform(-2, 2, n_shape).astype(np.float32)
    mom = rng.uniform(-0.1, 0.1, n_shape).astype(np.float32) if case["momentum"] else None
    ref_w, ref_m = sgd_reference(w, g, mom, **case)
    dw, dm = dev.put(w, misaligned), None if mom is None else dev.put(mom, misaligned)
    K.sgd_update_from(dev.ctx, dw, dev.put(g, misaligned), dm, dev.put(_hyper(case, "sgd")))
    np.testing.assert_allclose(dev.get(dw), ref_w, rtol=1e-5, atol=1e-6)
    sw, sm = dev.put(w), None if mom is None else dev.put(mom)
    K.sgd_update(dev.ctx, sw, dev.put(g), sm, lr=case["lr"], momentum=case["momentum"], wd=case["wd"],
                 rescale_grad=case["rescale"], clip_gradient=case["clip"])
    np.testing.assert_array_equal(dev.get(dw), dev.get(sw))
    if mom is not None:
        np.testing.assert_allclose(dev.get(dm), ref_m, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(dev.get(dm), dev.get(sm))


def check_adam_from(dev, rng, n_shape, case, misaligned=False):
    w = rng.uniform(-1, 1, n_shape).astype(np.float32)
    g = rng.uniform(-2, 2, n_shape).astype(np.float32)
    m = rng.uniform(-0.1, 0.1, n_shape).astype(np.float32)
    v = rng.uniform(0, 0.1, n_shape).astype(np.float32)
    ref_w, ref_m, ref_v = adam_reference(w, g, m, v, **case)
    dw, dm, dv = (dev.put(a, misaligned) for a in (w, m, v))
    K.adam_update_from(dev.ctx, dw, dev.put(g, misaligned), dm, dv, dev.put(_hyper(case, "adam")))
    np.testing.assert_allclose(dev.get(dw), ref_w, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(dev.get(dm), ref_m, rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(dev.get(dv), ref_v, rtol=1e-5, atol=1e-8)
    sw, sm, sv = (dev.put(a) for a in (w, m, v))
    K.adam_update(dev.ctx, sw, dev.put(g), sm, sv, lr_t=case["lr_t"], beta1=case["beta1"],
                  beta2=case["beta2"], epsilon=case["eps"], wd=case["wd"], rescale_grad=case["rescale"],
                  clip_gradient=case["clip"])
    for a, b in ((dw, sw), (dm, sm), (dv, sv)):
        np.testing.assert_array_equal(dev.get(a), dev.get(b))


def softmax_ce_reference(x, label):
    """float64: loss ``logsumexp - x[label]`` and the gradient ``softmax - onehot`` (labels clipped)."""
    x = x.astype(np.float64)
    k = np.clip(label, 0, x.shape[1] - 1).astype(np.int64)
    m = x.max(axis=1, keepdims=True)
    lse = m + np.log(np.exp(x - m).sum(axis=1, keepdims=True))
    loss = lse[:, 0] - x[np.arange(len(x)), k]
    grad = np.exp(x - lse)
    grad[np.arange(len(x)), k] -= 1
    return loss, grad


def check_softmax_ce(dev, rng, rows, classes, scale=3.0):
    x = (rng.standard_normal((rows, classes)) * scale).astype(np.float32)
    label = rng.integers(0, classes, rows).astype(np.float32)
    if rows > 2:  # out of range: clipped on the device, as MXNet's pick(mode='clip')
        label[0], label[1] = -3, classes + 5
    g = rng.uniform(0.5, 2, rows).astype(np.float32)
    ref_loss, ref_grad = softmax_ce_reference(x, label)
    dx, dl = dev.put(x), dev.put(label)
    loss, stats = K.softmax_ce_forward(dev.ctx, dx, dl, loss=dev.nan((rows,)), stats=dev.nan((rows, 2)))
    np.testing.assert_allclose(dev.get(loss), ref_loss, rtol=1e-5, atol=1e-5)
    grad = K.softmax_ce_backward(dev.ctx, dx, dl, stats, dev.put(g), out=dev.nan((rows, classes)))
    np.testing.assert_allclose(dev.get(grad), ref_grad * g[:, None], rtol=1e-5, atol=1e-6)


def check_softmax_ce_non_finite(dev):
    """Rows with NaN next to +inf: the kernels must give NaN, as the operator's array path (and NumPy)
    does; NVRTC's fmaxf skips NaN, so the row's max is +inf there and the NaN must not be dropped."""
    inf, nan = np.inf, np.nan
    x = np.array([[nan, inf, 1.0], [inf, nan, inf], [nan, 1.0, 2.0], [nan, nan, nan], [inf, 1.0, 2.0],
                  [-inf, -inf, 3.0]], np.float32)
    label = np.array([1, 0, 1, 0, 0, 2], np.float32)
    loss, stats = K.softmax_ce_forward(dev.ctx, dev.put(x), dev.put(label))
    loss = dev.get(loss)
    assert np.isnan(loss[:4]).all(), loss
    np.testing.assert_array_equal(loss[4:], [0.0, 0.0])  # +inf at the label; a lone finite entry
    ones = dev.put(np.ones(6, np.float32))
    grad = dev.get(K.softmax_ce_backward(dev.ctx, dev.put(x), dev.put(label), stats, ones))
    assert np.isnan(grad[:4]).all(), grad
    # float64 reference for the finite rows: logits 1e300 in place of +inf give the limit exactly.
    x64 = x[4:].astype(np.float64)
    ref_loss, ref_grad = softmax_ce_reference(np.where(np.isinf(x64), np.sign(x64) * 1e300, x64), label[4:])
    np.testing.assert_array_equal(ref_loss, [0.0, 0.0])
    np.testing.assert_array_equal(grad[4:], ref_grad)


def check_l2(dev, rng, shape, misaligned=False):
    p = rng.standard_normal(shape).astype(np.float32)
    y = rng.standard_normal(shape).astype(np.float32)
    g = rng.standard_normal(shape).astype(np.float32)
    d = p.astype(np.float64) - y
    dp_, dy_ = dev.put(p, misaligned), dev.put(y, misaligned)
    out = K.l2_forward(dev.ctx, dp_, dy_, out=dev.nan(shape, misaligned))
    np.testing.assert_allclose(dev.get(out), d * d, rtol=1e-6, atol=1e-6)
    grad = K.l2_backward(dev.ctx, dp_, dy_, dev.put(g, misaligned), out=dev.nan(shape, misaligned))
    np.testing.assert_allclose(dev.get(grad), 2 * d * g, rtol=1e-6, atol=1e-6)


def check_l2_rows(dev, rng, rows, cols, weight=1.0):
    p = rng.standard_normal((rows, cols)).astype(np.float32)
    y = rng.standard_normal((rows, cols)).astype(np.float32)
    scale = np.float32(weight / 2)
    gscale = np.float32(np.float32(1.0 / np.float32(cols)) * scale)
    loss, dp = K.l2_rows(dev.ctx, dev.put(p), dev.put(y), scale=scale, gscale=gscale,
                         loss=dev.nan((rows,)), dp=dev.nan((rows, cols)))
    d = p.astype(np.float64) - y
    np.testing.assert_allclose(dev.get(loss), (weight / 2 * d * d).mean(axis=1), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(dev.get(dp), weight / cols * d, rtol=1e-6, atol=1e-7)
    # bit for bit the uncaptured L2Loss's float32 operations: d*d, times weight/2, summed in order;
    # the gradient (1/cols)*(weight/2) times 2*d
    d32 = p - y
    terms = (d32 * d32) * scale
    total = np.zeros(rows, np.float32)
    for c in range(cols):
        total += terms[:, c]
    np.testing.assert_array_equal(dev.get(loss), total / np.float32(cols))
    np.testing.assert_array_equal(dev.get(dp), gscale * (np.float32(2) * d32))


# ------------------------------------------------------------------------------------------------
# Emulated gpu(0)

@pytest.fixture(scope="module")
def emu():
    """The emulated gpu(0), with every kernel file compiled once for the module."""
    pytest.importorskip("gpuparams.emulator")
    with backend.emulation(True):
        ctx = gp.gpu(0)
        for filename in ("dense.cu", "elementwise.cu", "optimizer.cu", "loss.cu"):
            K.get_module(ctx, filename)
        yield Dev(ctx)


@pytest.fixture
def rng():
    return np.random.default_rng(20240611)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("tile", TILES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_dense_forward_emulated(emu, rng, shape, tile, order):
    with K.emulation_order(order):
        for bias, relu in ((False, False), (True, False), (False, True), (True, True)):
            check_forward(emu, rng, shape, bias=bias, relu=relu, tile=tile)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("tile", TILES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_dense_backward_emulated(emu, rng, shape, tile, order):
    with K.emulation_order(order):
        for mask in (False, True):
            check_backward(emu, rng, shape, mask=mask, tile=tile)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("tile", ASYNC_TILES)
@pytest.mark.parametrize("shape", ASYNC_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_dense_async_tiles_emulated(emu, rng, launches, shape, tile, order):
    # Forward (bias, ReLU), the grouped backward (dX + dW + db, with and without the mask), and
    # accumulation, through the cp.async kernels in every thread order.
    with K.emulation_order(order):
        check_forward(emu, rng, shape, bias=True, relu=True, tile=tile)
        check_forward(emu, rng, shape, bias=False, relu=False, tile=tile)
        for mask in (False, True):
            check_backward(emu, rng, shape, mask=mask, tile=tile)
        check_backward(emu, rng, shape, mask=True, tile=tile, accumulate=True)
    name = tile[0]
    ran = {kernel for kernel, _ in launches}
    assert ran == {f"dense_fwd_{name}", f"dense_bwd_grouped_{name}"}, ran


@pytest.mark.parametrize("tile", ASYNC_TILES)
@pytest.mark.parametrize("need", [(True, False, False), (False, True, True), (False, True, False)],
                         ids=["dx", "dw+db", "dw"])
def test_dense_async_separate_backward_kernels_emulated(emu, rng, launches, need, tile):
    # One gradient alone: the separate dX / dW kernels of the cp.async tiles (reverse order).
    with K.emulation_order("reverse"):
        check_backward(emu, rng, (70, 44, 36), mask=True, tile=tile, need=need)
        check_backward(emu, rng, (70, 44, 36), mask=False, tile=tile, need=need, accumulate=True)
    kinds = {kernel for kernel, _ in launches}
    expected = {f"dense_bwd_dx_{tile[0]}"} if need[0] else {f"dense_bwd_dw_{tile[0]}"}
    assert kinds == expected, kinds


@pytest.mark.parametrize("tile", ASYNC_TILES[::2])
def test_dense_async_tiles_fall_back_on_misaligned_operands_emulated(emu, rng, launches, tile):
    # Misaligned pointers or a leading dimension not a multiple of 4: the forced cp.async tile
    # must not run (its 16-byte copies would fault); the planner picks a fallback tile instead.
    check_forward(emu, rng, ALIGNED_SHAPE, bias=True, relu=True, tile=tile, misaligned=True)
    check_backward(emu, rng, ALIGNED_SHAPE, mask=True, tile=tile, misaligned=True)
    check_forward(emu, rng, (70, 45, 36), bias=True, relu=False, tile=tile)
    check_backward(emu, rng, (70, 44, 33), mask=True, tile=tile)
    suffixes = {kernel.rsplit("_", 1)[1] for kernel, _ in launches}
    assert suffixes <= {"l", "s", "db"}, suffixes


def test_dense_async_split_k_is_deterministic_whatever_the_block_order_emulated(emu, rng):
    N, Kdim, M = 70, 264, 68
    x, w, b = _inputs(rng, N, Kdim, M)
    dy = rng.uniform(-1, 1, (N, M)).astype(np.float32)
    results = []
    for order in ORDERS:
        with K.emulation_order(order):
            y = K.dense_forward(emu.ctx, x, w, b, tile=("m", 3))
            grads = K.dense_backward(emu.ctx, dy, x, w, tile=("m", 2))
        results.append((y,) + tuple(grads))
    for other in results[1:]:
        for a, c in zip(results[0], other):
            np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("tile", TILES)
def test_dense_misaligned_pointers_emulated(emu, rng, tile, order):
    # Every pointer 4 bytes off a 16-byte boundary on a shape whose leading dimensions are all
    # multiples of 4: only the pointer check keeps the kernels off the float4 path.
    with K.emulation_order(order):
        check_forward(emu, rng, ALIGNED_SHAPE, bias=True, relu=True, tile=tile, misaligned=True)
        check_backward(emu, rng, ALIGNED_SHAPE, mask=True, tile=tile, misaligned=True)
        check_backward(emu, rng, ALIGNED_SHAPE, mask=True, tile=tile, misaligned=True,
                       accumulate=True)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("tile", TILES)
@pytest.mark.parametrize("shape", SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_dense_backward_accumulates_emulated(emu, rng, shape, tile, order):
    # Accumulate mode (grad_req='add', tied parameters) on every shape, for dX, dW and the fused db.
    with K.emulation_order(order):
        for mask in (False, True):
            check_backward(emu, rng, shape, mask=mask, tile=tile, accumulate=True)


@pytest.mark.parametrize("tile", TILES)
def test_dense_exact_tile_multiples_emulated(emu, rng, tile):
    # No ragged edge anywhere: every row, column and BK stage is full, so only the float4 paths run.
    for shape in ((128, 64, 128), (256, 48, 64)):
        with K.emulation_order("reverse"):
            check_forward(emu, rng, shape, bias=True, relu=True, tile=tile)
            check_backward(emu, rng, shape, mask=True, tile=tile)
            check_backward(emu, rng, shape, mask=True, tile=tile, accumulate=True)


def test_dense_split_k_is_deterministic_whatever_the_block_order_emulated(emu, rng):
    # The last slice to arrive sums the partials in slice order, so the result is bit-for-bit the
    # same whichever slice finishes last (the emulator runs blocks in reverse / shuffled order).
    N, Kdim, M = 70, 257, 66
    x, w, b = _inputs(rng, N, Kdim, M)
    dy = rng.uniform(-1, 1, (N, M)).astype(np.float32)
    results = []
    for order in ORDERS:
        with K.emulation_order(order):
            y = K.dense_forward(emu.ctx, x, w, b, tile=("s", 5))
            grads = K.dense_backward(emu.ctx, dy, x, w, tile=("s", 3))
        results.append((y,) + tuple(grads))
    for other in results[1:]:
        for a, c in zip(results[0], other):
            np.testing.assert_array_equal(a, c)


@pytest.mark.parametrize("need", [(True, False, False), (False, True, False), (False, False, True),
                                  (False, True, True), (True, False, True)],
                         ids=["dx", "dw", "db", "dw+db", "dx+db"])
@pytest.mark.parametrize("tile", TILES)
def test_dense_backward_skips_unneeded_emulated(emu, rng, need, tile):
    check_backward(emu, rng, (70, 45, 33), mask=True, tile=tile, need=need)
    check_backward(emu, rng, (70, 45, 33), mask=False, tile=tile, need=need, accumulate=True)


def test_dense_default_plan_emulated(emu, rng):
    # No forced tile: the wrapper's shape rule (and its split-K workspace) on a small batch.
    check_forward(emu, rng, (129, 257, 65), bias=True, relu=True, tile=None)
    check_backward(emu, rng, (129, 257, 65), mask=True, tile=None)


def test_dense_split_k_repeated_launches_emulated(emu, rng):
    # The split-K counters reset themselves; a second and third launch must be as right as the first.
    for tile in (("s", 4), ("s", 2), ("s", 7)):
        check_forward(emu, rng, (70, 257, 33), bias=True, relu=False, tile=tile)


def test_dense_zero_sizes_emulated(emu):
    ctx = emu.ctx
    x = np.ones((0, 5), np.float32)
    y = K.dense_forward(ctx, x, np.ones((3, 5), np.float32))
    assert y.shape == (0, 3)
    # K == 0: y is just the bias (through the ReLU).
    b = np.array([1.0, -2.0], np.float32)
    y = K.dense_forward(ctx, np.ones((4, 0), np.float32), np.ones((2, 0), np.float32), b,
                        activation="relu", out=np.full((4, 2), np.nan, np.float32))
    np.testing.assert_array_equal(y, [[1.0, 0.0]] * 4)
    # N == 0: weight and bias gradients are zero.
    dx, dw, db = K.dense_backward(ctx, np.ones((0, 2), np.float32), np.ones((0, 3), np.float32),
                                  np.ones((2, 3), np.float32),
                                  dw=np.full((2, 3), np.nan, np.float32),
                                  db=np.full((2,), np.nan, np.float32))
    assert dx.shape == (0, 3)
    np.testing.assert_array_equal(dw, np.zeros((2, 3)))
    np.testing.assert_array_equal(db, np.zeros(2))


@pytest.mark.parametrize("shape", [(1,), (7,), (3, 5), (1030,), (16, 64)],
                         ids=lambda s: "x".join(map(str, s)))
def test_relu_emulated(emu, rng, shape):
    check_relu(emu, rng, shape)
    check_relu(emu, rng, shape, misaligned=True)


def test_relu_in_place_and_grid_stride_emulated(emu, rng):
    x = rng.uniform(-1, 1, 2050).astype(np.float32)
    ref = np.maximum(x, 0)
    # One block of 256 threads for 2050 elements: every thread goes round the grid-stride loop.
    K.launch(emu.ctx, "elementwise.cu", "relu_fwd", (1, 1, 1), (256, 1, 1), (x, x, np.int32(x.size)))
    np.testing.assert_array_equal(x, ref)
    dy = rng.uniform(-1, 1, 2051).astype(np.float32)
    y = np.maximum(rng.uniform(-1, 1, 2051), 0).astype(np.float32)
    g = dy.copy()
    assert K.relu_backward(emu.ctx, g, y, out=g) is g  # in place
    np.testing.assert_array_equal(g, dy * (y > 0))


def test_elementwise_chunking_emulated(emu, rng, monkeypatch):
    # Arrays past the kernels' int range are processed in chunks; shrink the chunk to test it.
    monkeypatch.setattr(elementwise_launch, "_ELEMENTWISE_CHUNK", 64)
    check_relu(emu, rng, (5, 41))
    check_sgd(emu, rng, (203,), SGD_CASES[3])
    check_adam(emu, rng, (203,), ADAM_CASES[1])


@pytest.mark.parametrize("case", SGD_CASES, ids=["plain", "wd-clip", "momentum", "momentum-wd-clip"])
@pytest.mark.parametrize("shape", [(1,), (13,), (4, 33), (1024,)], ids=lambda s: "x".join(map(str, s)))
def test_sgd_emulated(emu, rng, shape, case):
    check_sgd(emu, rng, shape, case)
    check_sgd(emu, rng, shape, case, misaligned=True)


@pytest.mark.parametrize("case", ADAM_CASES, ids=["plain", "wd-clip"])
@pytest.mark.parametrize("shape", [(1,), (13,), (4, 33), (1024,)], ids=lambda s: "x".join(map(str, s)))
def test_adam_emulated(emu, rng, shape, case):
    check_adam(emu, rng, shape, case)
    check_adam(emu, rng, shape, case, misaligned=True)


@pytest.mark.parametrize("case", SGD_CASES, ids=["plain", "wd-clip", "momentum", "momentum-wd-clip"])
@pytest.mark.parametrize("shape", [(1,), (13,), (4, 33)], ids=lambda s: "x".join(map(str, s)))
def test_sgd_from_a_device_array_emulated(emu, rng, shape, case):
    check_sgd_from(emu, rng, shape, case)
    check_sgd_from(emu, rng, shape, case, misaligned=True)


@pytest.mark.parametrize("case", ADAM_CASES, ids=["plain", "wd-clip"])
@pytest.mark.parametrize("shape", [(1,), (13,), (4, 33)], ids=lambda s: "x".join(map(str, s)))
def test_adam_from_a_device_array_emulated(emu, rng, shape, case):
    check_adam_from(emu, rng, shape, case)
    check_adam_from(emu, rng, shape, case, misaligned=True)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("rows, classes", [(1, 1), (7, 3), (5, 129), (3, 300), (70, 10)])
def test_softmax_ce_emulated(emu, rng, rows, classes, order):
    with K.emulation_order(order):
        check_softmax_ce(emu, rng, rows, classes)


def test_softmax_ce_nan_next_to_inf_is_nan_emulated(emu):
    check_softmax_ce_non_finite(emu)


def test_softmax_ce_large_logits_and_infinities_emulated(emu):
    inf = np.inf
    x = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4], [inf, inf, 0.0], [-inf, 1.0, 2.0],
                  [-inf, -inf, -inf]], np.float32)
    label = np.array([1, 0, 2, 1, 0], np.float32)
    loss, stats = K.softmax_ce_forward(emu.ctx, emu.put(x), emu.put(label))
    soft = np.exp(1) / (np.exp(1) + np.exp(2))
    np.testing.assert_allclose(loss[:4], [2e4, 2e4 + np.log(2), inf, -(1 - np.log(np.exp(1) + np.exp(2)))],
                               rtol=1e-6)
    assert np.isnan(loss[4])  # no distribution: NaN, as the formula gives
    grad = K.softmax_ce_backward(emu.ctx, emu.put(x), emu.put(label), stats, np.ones(5, np.float32))
    np.testing.assert_allclose(grad[:4], [[1, -1, 0], [-1, 0.5, 0.5], [0.5, 0.5, -1],
                                          [0, soft - 1, 1 - soft]], atol=1e-6)


@pytest.mark.parametrize("shape", [(1,), (13,), (4, 33), (1030,)], ids=lambda s: "x".join(map(str, s)))
def test_l2_emulated(emu, rng, shape):
    check_l2(emu, rng, shape)
    check_l2(emu, rng, shape, misaligned=True)


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize("rows, cols", [(1, 1), (6, 5), (3, 129), (2, 300)])
def test_l2_rows_emulated(emu, rng, rows, cols, order):
    with K.emulation_order(order):
        check_l2_rows(emu, rng, rows, cols)
        check_l2_rows(emu, rng, rows, cols, weight=0.3)


def test_loss_kernels_reject_bad_arguments(emu):
    x = np.zeros((4, 3), np.float32)
    with pytest.raises(ValueError, match=r"label has shape \(3,\), expected \(4,\)"):
        K.softmax_ce_forward(emu.ctx, x, np.zeros(3, np.float32))
    with pytest.raises(ValueError, match=r"stats has shape \(4,\), expected \(4, 2\)"):
        K.softmax_ce_backward(emu.ctx, x, np.zeros(4, np.float32), np.zeros(4, np.float32),
                              np.zeros(4, np.float32))
    with pytest.raises(ValueError, match="label must be float32"):
        K.l2_forward(emu.ctx, x, x.astype(np.float64))
    with pytest.raises(ValueError, match=r"hyper has shape \(4,\), expected \(5,\)"):
        K.sgd_update_from(emu.ctx, x, x.copy(), x.copy(), np.zeros(4, np.float32))


def test_optimizer_grid_stride_emulated(emu, rng):
    n = 3001
    w = rng.uniform(-1, 1, n).astype(np.float32)
    g = rng.uniform(-1, 1, n).astype(np.float32)
    ref, _ = sgd_reference(w, g, None, lr=0.1, momentum=0, wd=0.1, rescale=1.0, clip=0.5)
    K.launch(emu.ctx, "optimizer.cu", "sgd_update", (2, 1, 1), (256, 1, 1),
             (w, g, np.int32(n), np.float32(0.1), np.float32(0.1), np.float32(1.0), np.float32(0.5)))
    np.testing.assert_allclose(w, ref, rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------------------------------------
# Argument checking (emulated: plain NumPy arrays)

def test_dense_forward_rejects_bad_arguments(emu):
    ctx = emu.ctx
    x = np.ones((4, 3), np.float32)
    w = np.ones((5, 3), np.float32)
    with pytest.raises(ValueError, match=r"w has shape \(5, 4\)"):
        K.dense_forward(ctx, x, np.ones((5, 4), np.float32))
    with pytest.raises(ValueError, match="x must be float32, got float64"):
        K.dense_forward(ctx, x.astype(np.float64), w)
    with pytest.raises(ValueError, match=r"x with shape \(4, 3\) must be C-contiguous"):
        K.dense_forward(ctx, np.asfortranarray(x), w)
    with pytest.raises(ValueError, match=r"b has shape \(4,\), expected \(5,\)"):
        K.dense_forward(ctx, x, w, np.ones(4, np.float32))
    with pytest.raises(ValueError, match=r"out has shape \(5, 4\), expected \(4, 5\)"):
        K.dense_forward(ctx, x, w, out=np.empty((5, 4), np.float32))
    with pytest.raises(ValueError, match="activation must be None or 'relu'"):
        K.dense_forward(ctx, x, w, activation="tanh")
    with pytest.raises(ValueError, match="x must be 2-D"):
        K.dense_forward(ctx, np.ones(3, np.float32), w)
    buf = np.ones((4, 5), np.float32)
    with pytest.raises(ValueError, match="out overlaps x"):
        K.dense_forward(ctx, buf.reshape(-1)[:12].reshape(4, 3), w, out=buf)
    with pytest.raises(TypeError, match=r"x must be a numpy.ndarray \(emulated gpu\) on gpu\(0\), got list"):
        K.dense_forward(ctx, [[1.0]], w)
    with pytest.raises(ValueError, match="unknown tile configuration"):
        K.dense_forward(ctx, x, w, tile="xl")


def test_dense_backward_rejects_bad_arguments(emu):
    ctx = emu.ctx
    dy, x, w = np.ones((4, 5), np.float32), np.ones((4, 3), np.float32), np.ones((5, 3), np.float32)
    with pytest.raises(ValueError, match="inconsistent shapes"):
        K.dense_backward(ctx, dy, np.ones((4, 2), np.float32), w)
    with pytest.raises(ValueError, match=r"y has shape \(5, 4\)"):
        K.dense_backward(ctx, dy, x, w, np.ones((5, 4), np.float32))
    with pytest.raises(ValueError, match="accumulate_dw=True needs the existing dw"):
        K.dense_backward(ctx, dy, x, w, accumulate_dw=True)
    with pytest.raises(ValueError, match=r"db has shape \(4,\), expected \(5,\)"):
        K.dense_backward(ctx, dy, x, w, db=np.ones(4, np.float32))


def test_dimensions_past_int32_are_refused_with_the_fix():
    dense_launch._check_dims(N=2**31 - 1, K=1)
    with pytest.raises(ValueError, match=r"K=2147483648 exceeds the dense kernels' 32-bit .*chunks"):
        dense_launch._check_dims(N=4, K=2**31)


def test_elementwise_rejects_bad_arguments(emu):
    ctx = emu.ctx
    w = np.ones(6, np.float32)
    with pytest.raises(ValueError, match=r"grad has shape \(5,\), expected \(6,\)"):
        K.sgd_update(ctx, w, np.ones(5, np.float32), lr=0.1)
    with pytest.raises(ValueError, match="needs the momentum state"):
        K.sgd_update(ctx, w, w.copy(), lr=0.1, momentum=0.9)
    with pytest.raises(ValueError, match="clip_gradient must be >= 0"):
        K.sgd_update(ctx, w, w.copy(), lr=0.1, clip_gradient=-1.0)
    with pytest.raises(ValueError, match="var must be float32"):
        K.adam_update(ctx, w, w.copy(), w.copy(), w.astype(np.float64), lr_t=0.1, beta1=0.9,
                      beta2=0.99, epsilon=1e-8)
    with pytest.raises(ValueError, match=r"y has shape \(2, 3\), expected \(6,\)"):
        K.relu_backward(ctx, w, np.ones((2, 3), np.float32))
    with pytest.raises(TypeError, match="x must be a numpy.ndarray"):
        K.relu_forward(ctx, [1.0, 2.0])


# ------------------------------------------------------------------------------------------------
# Tile plan: tests/test_gemm_plan.py (the cost model of issue 12 replaced the shape rule)

def test_large_tile_launched_with_slices_still_right_emulated(emu, rng):
    # The large tile has no split-K path; should it ever get gridDim.z > 1, slice 0 does all the work
    # and the others leave at once (nothing is written twice or left unwritten).
    N, Kdim, M = 70, 45, 33
    x, w, b = _inputs(rng, N, Kdim, M)
    y = np.full((N, M), np.nan, np.float32)
    ws, cnt = np.empty(1, np.float32), np.zeros(1, np.int32)
    K.launch(emu.ctx, "dense.cu", "dense_fwd_l", (1, 1, 3), (256, 1, 1),
             (x, w, b, y, np.int32(N), np.int32(Kdim), np.int32(M), np.int32(1), np.int32(0), ws, cnt))
    assert_close(y, x.astype(np.float64) @ w.astype(np.float64).T + b, "dense_fwd_l with 3 slices")


# ------------------------------------------------------------------------------------------------
# Loader

def test_kernel_dir_finds_the_checkout_sources():
    assert (K.kernel_dir() / "dense.cu").is_file()


def test_kernel_dir_env_override(tmp_path, monkeypatch):
    monkeypatch.setenv(K.KERNEL_DIR_ENV, str(tmp_path))
    assert K.kernel_dir() == tmp_path
    with pytest.raises(FileNotFoundError, match="missing.cu"):
        K.kernel_source("missing.cu")
    monkeypatch.setenv(K.KERNEL_DIR_ENV, str(tmp_path / "nope"))
    with pytest.raises(FileNotFoundError, match="is not a directory"):
        K.kernel_dir()


def test_kernel_dir_prefers_checkout_then_shipped_copy(tmp_path, monkeypatch):
    monkeypatch.delenv(K.KERNEL_DIR_ENV, raising=False)
    package = tmp_path / "site" / "gpuparams"
    (package / "_kernels").mkdir(parents=True)
    (tmp_path / "site" / "kernels").mkdir()  # a stray folder next to an installed package
    monkeypatch.setattr(loader, "_PACKAGE_DIR", package)
    assert K.kernel_dir() == package / "_kernels"
    (tmp_path / "site" / "pyproject.toml").write_text("")  # now it is a source checkout
    assert K.kernel_dir() == tmp_path / "site" / "kernels"
    (tmp_path / "site" / "pyproject.toml").unlink()
    (package / "_kernels").rmdir()
    with pytest.raises(FileNotFoundError, match=K.KERNEL_DIR_ENV):
        K.kernel_dir()


def test_launch_opts_in_to_large_dynamic_shared_memory(emu, tmp_path, monkeypatch):
    (tmp_path / "dynsmem_probe.cu").write_text(
        'extern "C" __global__ void reverse_via_smem(float* out, int n) {\n'
        '    extern __shared__ float buf[];\n'
        '    const int t = threadIdx.x;\n'
        '    buf[t] = (float)t;\n'
        '    __syncthreads();\n'
        '    if (t < n) out[t] = buf[n - 1 - t];\n'
        '}\n')
    monkeypatch.setenv(K.KERNEL_DIR_ENV, str(tmp_path))
    out = np.full(64, np.nan, np.float32)
    smem = 64 * 1024
    fn = K.get_function(emu.ctx, "dynsmem_probe.cu", "reverse_via_smem")
    from gpuparams import emulator
    with pytest.raises(emulator.LaunchConfigError):
        fn((1, 1, 1), (64, 1, 1), (out, np.int32(64)), shared_mem=smem)  # no opt-in yet
    K.launch(emu.ctx, "dynsmem_probe.cu", "reverse_via_smem", (1, 1, 1), (64, 1, 1),
             (out, np.int32(64)), shared_mem=smem)
    np.testing.assert_array_equal(out, np.arange(63, -1, -1, dtype=np.float32))


def test_compile_error_carries_file_and_log(emu, tmp_path, monkeypatch):
    (tmp_path / "broken.cu").write_text(
        'extern "C" __global__ void broken(float* x) { x[0] = undeclared_name; }\n')
    monkeypatch.setenv(K.KERNEL_DIR_ENV, str(tmp_path))
    with pytest.raises(K.KernelCompileError) as info:
        K.get_module(emu.ctx, "broken.cu")
    assert info.value.filename == "broken.cu"
    assert "undeclared_name" in info.value.log
    assert "broken.cu" in str(info.value)
    assert isinstance(info.value, RuntimeError)


def test_modules_are_cached_per_file_and_device(emu):
    assert K.get_module(emu.ctx, "dense.cu") is K.get_module(emu.ctx, "dense.cu")
    assert K.get_function(emu.ctx, "dense.cu", "dense_fwd_l") is \
        K.get_function(emu.ctx, "dense.cu", "dense_fwd_l")
    # The device object's entry points share the loader's cache.
    assert backend.device(emu.ctx).function("dense.cu", "dense_fwd_l") is \
        K.get_function(emu.ctx, "dense.cu", "dense_fwd_l")


def test_loader_compiles_once_per_file_and_device(monkeypatch):
    # The cache key is (file, device): a second device compiles its own module, a second call on
    # the same device does not compile again.
    compiled = []

    def fake_compile(dev, filename):
        compiled.append((filename, dev.device_id))
        return types.SimpleNamespace(filename=filename, device=dev.device_id)

    monkeypatch.setattr(loader, "_compile", fake_compile)
    monkeypatch.setattr(loader, "_modules", {})
    gpu0, gpu1 = devices.CupyDevice(0, cupy=None), devices.CupyDevice(1, cupy=None)
    with backend.emulation(False):
        first = K.get_module(gpu0, "dense.cu")
        assert K.get_module(gpu0, "dense.cu") is first
        second = K.get_module(gpu1, "dense.cu")
        other = K.get_module(gpu0, "optimizer.cu")
        assert K.get_module(devices.CupyDevice(1, cupy=None), "dense.cu") is second
    assert (second.device, other.filename) == (1, "optimizer.cu")
    assert compiled == [("dense.cu", 0), ("dense.cu", 1), ("optimizer.cu", 0)]


def test_cupy_compile_error_becomes_kernel_compile_error(tmp_path, monkeypatch):
    # The real-GPU path: CuPy's CompileException turns into KernelCompileError naming the file, the
    # device and carrying NVRTC's log; a failed compile is not cached.
    compiler = pytest.importorskip("cupy.cuda.compiler")
    (tmp_path / "broken.cu").write_text(
        'extern "C" __global__ void broken(float* x) { x[0] = undeclared_name; }\n')
    monkeypatch.setenv(K.KERNEL_DIR_ENV, str(tmp_path))
    log = 'broken.cu(1): error: identifier "undeclared_name" is undefined'
    attempts = []

    class FakeRawModule:
        def __init__(self, code, options):
            self.code = code

        def compile(self):
            attempts.append(self.code)
            raise compiler.CompileException(log, self.code, "broken.cu", ())

    class FakeDevice:
        def __init__(self, device_id):
            self.device_id = device_id

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

    fake_cupy = types.SimpleNamespace(RawModule=FakeRawModule,
                                      cuda=types.SimpleNamespace(Device=FakeDevice))
    gpu0 = devices.CupyDevice(0, cupy=fake_cupy)
    with backend.emulation(False):
        for _ in range(2):
            with pytest.raises(K.KernelCompileError) as info:
                K.get_module(gpu0, "broken.cu")
            assert (info.value.filename, info.value.device) == ("broken.cu", "gpu(0)")
            assert "undeclared_name" in info.value.log
            assert "kernels/broken.cu for gpu(0)" in str(info.value)
    assert len(attempts) == 2 and "undeclared_name" in attempts[0]


def test_cpu_runs_no_custom_kernels_and_says_so():
    with pytest.raises(K.KernelCompileError, match=r"cpu\(0\) runs no custom kernels"):
        K.get_module(gp.cpu(0), "dense.cu")
    x = np.ones((2, 3), np.float32)
    for call in (lambda: K.dense_forward(gp.cpu(0), x, x),
                 lambda: K.relu_forward(gp.cpu(0), x),
                 lambda: K.sgd_update(backend.device(gp.cpu(0)), x, x, lr=0.1)):
        with pytest.raises(ValueError, match=r"cpu\(0\) runs no custom kernels.*gpu context"):
            call()


def test_cupy_device_reads_its_sm_count_once(monkeypatch):
    asked = []

    class FakeDevice:
        def __init__(self, device_id):
            asked.append(device_id)
            self.attributes = {"MultiProcessorCount": 100 + device_id}

    fake_cupy = types.SimpleNamespace(cuda=types.SimpleNamespace(Device=FakeDevice))
    dev = devices.CupyDevice(2, cupy=fake_cupy)
    assert (dev.sm_count, dev.sm_count, K.sm_count(dev)) == (102, 102, 102)
    assert asked == [2]
    assert (dev.label, dev.cache_key, dev.ctx) == ("gpu(2)", ("cuda", 2), gp.gpu(2))


def test_launchers_follow_the_data_of_an_emulated_array_after_the_flag_flips(emu, rng, launches):
    x = rng.uniform(-1, 1, (3, 4)).astype(np.float32)
    w = rng.uniform(-1, 1, (5, 4)).astype(np.float32)
    with backend.emulation(False):  # gpu(0) now means the real GPU, absent here
        y = K.dense_forward(gp.gpu(0), x, w, activation="relu")
        dx, dw, db = K.dense_backward(gp.gpu(0), np.ones_like(y), x, w, y)
    assert_close(y, np.maximum(x.astype(np.float64) @ w.T, 0), "dense_forward after the flip")
    assert_close(db, (y > 0).sum(axis=0), "db after the flip")
    assert _kinds(launches) == ["dense_fwd", "dense_bwd_dx", "dense_bwd_dw"]


def test_emulation_order_rejects_unknown_orders():
    with pytest.raises(ValueError, match="order must be"):
        with K.emulation_order("sideways"):
            pass


# ------------------------------------------------------------------------------------------------
# Every kernel is tested here, and its scalars are what the launchers pass

#: Every kernel of kernels/*.cu, each exercised by the emulated tests above. A new kernel fails
#: test_every_kernel_is_covered until it has tests here and is added to this set.
COVERED_KERNELS = {
    "dense.cu": {"dense_fwd_l", "dense_fwd_s", "dense_bwd_dx_l", "dense_bwd_dx_s", "dense_bwd_dw_l",
                 "dense_bwd_dw_s", "dense_bwd_db",
                 "dense_fwd_w", "dense_bwd_dx_w", "dense_bwd_dw_w", "dense_bwd_grouped_w",
                 "dense_fwd_m", "dense_bwd_dx_m", "dense_bwd_dw_m", "dense_bwd_grouped_m"},
    "elementwise.cu": {"relu_fwd", "relu_bwd"},
    "optimizer.cu": {"sgd_update", "sgd_mom_update", "adam_update", "sgd_update_p", "sgd_mom_update_p",
                     "adam_update_p"},
    "loss.cu": {"softmax_ce_fwd", "softmax_ce_bwd", "l2_fwd", "l2_bwd", "l2_rows"},
}


def test_every_kernel_is_covered(emu):
    files = sorted(p.name for p in K.kernel_dir().glob("*.cu"))
    assert files == sorted(COVERED_KERNELS), "a kernel file without tests in tests/test_kernels.py"
    for filename, expected in COVERED_KERNELS.items():
        names = set(K.get_module(emu.ctx, filename).kernel_names)
        assert names == expected, f"{filename}: kernels {sorted(names ^ expected)} are untested or gone"


def test_kernel_scalars_are_exactly_int_or_float(emu):
    # DESIGN.md §4: scalars are passed as np.int32 / np.float32, so a kernel taking size_t, long,
    # double or bool would need a marshalling the launchers never do.
    for filename in COVERED_KERNELS:
        module = K.get_module(emu.ctx, filename)
        for name in module.kernel_names:
            for p in module.get_function(name).params:
                if p.pointer:
                    assert p.ctype.replace("const ", "") in ("float*", "int*"), (name, p.describe())
                else:
                    assert p.ctype in ("int", "float"), (name, p.describe())


# ------------------------------------------------------------------------------------------------
# The framework runs these kernels on the emulated gpu(0) (issue 5 §3, issue 6), no NumPy fallback

@pytest.fixture
def launches(emu, monkeypatch):
    """Every launch through the loader as ``(kernel name, its np.int32 scalars)``, in order."""
    seen = []
    real_launch = loader.launch

    def recording_launch(ctx, filename, name, grid, block, args, shared_mem=0):
        seen.append((name, tuple(int(a) for a in args if isinstance(a, np.int32))))
        return real_launch(ctx, filename, name, grid, block, args, shared_mem)

    monkeypatch.setattr(loader, "launch", recording_launch)
    return seen


def _kinds(launches):
    """Kernel names without the tile suffix."""
    return [name.rsplit("_", 1)[0] if name.endswith(("_l", "_s", "_w", "_m")) else name
            for name, _ in launches]


def test_dense_layer_runs_the_fused_kernels_emulated(emu, rng, launches):
    ctx = emu.ctx
    layer = nn.Dense(5, activation="relu", in_units=7)
    layer.initialize(ctx=ctx)
    xh = rng.uniform(-1, 1, (3, 7)).astype(np.float32)
    x = nd.array(xh, ctx=ctx)
    x.attach_grad()
    with autograd.record():
        y = layer(x)
    y.backward()
    # Forward with bias and ReLU fused; dX, then dW with db fused (scalars: n, k, m, flags).
    assert _kinds(launches) == ["dense_fwd", "dense_bwd_dx", "dense_bwd_dw"]
    assert [s for _, s in launches] == [(3, 7, 5, 1, 1), (3, 7, 5, 1, 0), (3, 7, 5, 1, 0, 1, 0)]
    w = layer.weight.data().asnumpy().astype(np.float64)
    b = layer.bias.data().asnumpy().astype(np.float64)
    z = xh.astype(np.float64) @ w.T + b
    assert_close(y.asnumpy(), np.maximum(z, 0), "Dense(relu) on the emulated gpu(0)")
    assert_close(x.grad.asnumpy(), (z > 0) @ w, "dX through the ReLU mask")


def test_dense_without_input_grad_skips_dx_and_grad_req_add_accumulates_emulated(emu, rng, launches):
    ctx = emu.ctx
    layer = nn.Dense(4, in_units=6)
    layer.initialize(ctx=ctx)
    x = nd.array(rng.uniform(-1, 1, (5, 6)), ctx=ctx)
    for p in layer.collect_params().values():
        p.grad_req = "add"
    grads = []
    for _ in range(2):
        with autograd.record():
            y = layer(x)
        y.backward()
        grads.append(layer.weight.grad().asnumpy().copy())
    # No dX kernel (x needs no gradient); both passes add dW and db inside the dW kernel.
    assert _kinds(launches) == ["dense_fwd", "dense_bwd_dw"] * 2
    assert [s for name, s in launches if "bwd" in name] == [(5, 6, 4, 0, 1, 1, 1)] * 2
    np.testing.assert_array_equal(grads[1], 2 * grads[0])
    # grad_req='null' on the weight: no GEMM at all in the backward, db from its own kernel.
    layer.weight.grad_req = "null"
    layer.bias.grad_req = "write"
    del launches[:]
    with autograd.record():
        y = layer(x)
    y.backward()
    assert _kinds(launches) == ["dense_fwd", "dense_bwd_db"]
    assert launches[1][1] == (5, 4, 0, 0)  # n, m, has_mask, accumulate
    np.testing.assert_array_equal(layer.bias.grad().asnumpy(), np.full(4, 5, np.float32))


def test_tied_dense_layers_add_into_one_gradient_emulated(emu, rng, launches):
    ctx = emu.ctx
    first = nn.Dense(6, in_units=6, activation="relu")
    second = nn.Dense(6, in_units=6, params=first.params)
    net = nn.Sequential()
    net.add(first, second)
    net.initialize(ctx=ctx)
    xh = rng.uniform(-1, 1, (4, 6)).astype(np.float32)
    with autograd.record():
        y = net(nd.array(xh, ctx=ctx))
    y.backward()
    dw = [s for name, s in launches if name.startswith("dense_bwd_dw")]
    # The second layer's backward runs first and writes; the first layer's adds (flags 1, 1).
    assert [(s[4], s[6]) for s in dw] == [(0, 0), (1, 1)]
    w = first.weight.data().asnumpy().astype(np.float64)
    b = first.bias.data().asnumpy().astype(np.float64)
    x64 = xh.astype(np.float64)
    h = np.maximum(x64 @ w.T + b, 0)
    dz1 = np.ones((4, 6)) @ w * (h > 0)
    assert_close(first.weight.grad().asnumpy(), np.ones((4, 6)).T @ h + dz1.T @ x64, "tied dW")
    assert_close(first.bias.grad().asnumpy(), np.ones((4, 6)).sum(0) + dz1.sum(0), "tied db")


def test_relu_runs_the_relu_kernels_emulated(emu, rng, launches):
    ctx = emu.ctx
    xh = rng.uniform(-1, 1, (3, 5)).astype(np.float32)
    for op in (nd.relu, nn.Activation("relu")):
        x = nd.array(xh, ctx=ctx)
        x.attach_grad()
        with autograd.record():
            y = op(x)
        y.backward()
        np.testing.assert_array_equal(y.asnumpy(), np.maximum(xh, 0))
        np.testing.assert_array_equal(x.grad.asnumpy(), (xh > 0).astype(np.float32))
    assert _kinds(launches) == ["relu_fwd", "relu_bwd"] * 2


@pytest.mark.parametrize("optimizer, params, kernel", [
    ("sgd", {"learning_rate": 0.1}, "sgd_update"),
    ("sgd", {"learning_rate": 0.1, "momentum": 0.9}, "sgd_mom_update"),
    ("adam", {"learning_rate": 0.01}, "adam_update"),
])
def test_trainer_updates_with_one_kernel_per_parameter_emulated(emu, rng, launches, optimizer,
                                                                params, kernel):
    ctx = emu.ctx
    layer = nn.Dense(3, in_units=4)
    layer.initialize(ctx=ctx)
    trainer = gluon.Trainer(layer.collect_params(), optimizer, params)
    with autograd.record():
        y = layer(nd.array(rng.uniform(-1, 1, (2, 4)), ctx=ctx))
    y.backward()
    del launches[:]
    trainer.step(2)
    assert [name for name, _ in launches] == [kernel, kernel]  # weight and bias, nothing else


# ------------------------------------------------------------------------------------------------
# Real GPU (CuPy): the same checks, larger shapes

@pytest.fixture(scope="module")
def cuda():
    with backend.emulation(False):
        if gp.num_gpus() == 0:
            pytest.skip("needs a real NVIDIA GPU with CuPy")
        ctx = gp.gpu(0)
        for filename in ("dense.cu", "elementwise.cu", "optimizer.cu"):
            K.get_module(ctx, filename)
        yield Dev(ctx)


GPU_SHAPES = SHAPES + [(256, 1024, 1024), (1000, 333, 515), (4096, 1024, 1024)]


@pytest.mark.gpu
@pytest.mark.parametrize("tile", [None, ("l", 1), ("s", 1), ("s", 4)], ids=["auto", "l", "s", "s4"])
@pytest.mark.parametrize("shape", GPU_SHAPES, ids=lambda s: "x".join(map(str, s)))
def test_dense_gpu(cuda, rng, shape, tile):
    for bias, relu in ((False, False), (True, True)):
        check_forward(cuda, rng, shape, bias=bias, relu=relu, tile=tile)
    for mask in (False, True):
        check_backward(cuda, rng, shape, mask=mask, tile=tile)
    check_backward(cuda, rng, shape, mask=True, tile=tile, accumulate=True)


@pytest.mark.gpu
@pytest.mark.parametrize("tile", [None, ("l", 1), ("s", 3)], ids=["auto", "l", "s3"])
def test_dense_misaligned_and_skipped_gpu(cuda, rng, tile):
    check_forward(cuda, rng, (258, 132, 68), bias=True, relu=True, tile=tile, misaligned=True)
    check_backward(cuda, rng, (258, 132, 68), mask=True, tile=tile, misaligned=True)
    for need in ((True, False, False), (False, True, False), (False, False, True)):
        check_backward(cuda, rng, (70, 45, 33), mask=True, tile=tile, need=need)


@pytest.mark.gpu
def test_split_k_is_deterministic_and_resets_its_counters_gpu(cuda, rng):
    # On a GPU the slices of a tile finish in a different order every launch: the sum must still be
    # bit-for-bit the same, and every launch must find its counters back at zero.
    N, Kdim, M = 256, 1024, 1024
    x, w, b = _inputs(rng, N, Kdim, M)
    dy = rng.uniform(-1, 1, (N, M)).astype(np.float32)
    y_act = np.maximum(rng.uniform(-1, 1, (N, M)), 0).astype(np.float32)
    xs, ws_, bs, dys, ys = (cuda.put(a) for a in (x, w, b, dy, y_act))
    ref = x.astype(np.float64) @ w.astype(np.float64).T + b
    first = None
    for _ in range(6):
        got = [cuda.get(K.dense_forward(cuda.ctx, xs, ws_, bs, tile=("s", 8)))]
        got += [cuda.get(g) for g in K.dense_backward(cuda.ctx, dys, xs, ws_, ys, tile=("s", 4))]
        if first is None:
            first = got
            assert_close(first[0], ref, "split-K forward")
        else:
            for a, c in zip(first, got):
                np.testing.assert_array_equal(c, a)


@pytest.mark.gpu
@pytest.mark.parametrize("shape", [(1,), (1030,), (3, 5), (1 << 20,)], ids=lambda s: "x".join(map(str, s)))
def test_optimizers_from_a_device_array_gpu(cuda, rng, shape):
    for misaligned in (False, True):
        for case in SGD_CASES:
            check_sgd_from(cuda, rng, shape, case, misaligned)
        for case in ADAM_CASES:
            check_adam_from(cuda, rng, shape, case, misaligned)


@pytest.mark.gpu
@pytest.mark.parametrize("rows, classes", [(1, 1), (70, 10), (129, 1000), (2048, 10)])
def test_loss_kernels_gpu(cuda, rng, rows, classes):
    check_softmax_ce(cuda, rng, rows, classes)
    check_softmax_ce_non_finite(cuda)
    check_l2(cuda, rng, (rows, classes))
    check_l2(cuda, rng, (rows, classes), misaligned=True)
    check_l2_rows(cuda, rng, rows, classes)


@pytest.mark.gpu
@pytest.mark.parametrize("shape", [(1,), (1030,), (3, 5), (1 << 20,), (3 << 20,)],
                         ids=lambda s: "x".join(map(str, s)))
def test_elementwise_and_optimizers_gpu(cuda, rng, shape):
    for misaligned in (False, True):
        check_relu(cuda, rng, shape, misaligned)
        for case in SGD_CASES:
            check_sgd(cuda, rng, shape, case, misaligned)
        for case in ADAM_CASES:
            check_adam(cuda, rng, shape, case, misaligned)
