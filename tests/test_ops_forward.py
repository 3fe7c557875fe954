"""Forward values of every operator against float64 NumPy, and the errors for bad operands
(issue 2, item 4)."""
import operator

import numpy as np
import pytest

import gpuparams as gp
from gpuparams import nd
from gpuparams.ops import ContextMismatchError, ShapeError

# float32 results against float64 references computed from the same float32 inputs.
RTOL, ATOL = 2e-6, 1e-6


def _inputs(rng, *shapes, low=-2.0, high=2.0, dtype=np.float32):
    return [rng.uniform(low, high, size=s).astype(dtype) for s in shapes]


def _close(got, want, rtol=RTOL, atol=ATOL):
    want = np.asarray(want, dtype=np.float64)
    if want.ndim == 0:
        want = want.reshape(1)  # full reductions have shape (1,) as in MXNet
    assert got.shape == want.shape, (got.shape, want.shape)
    np.testing.assert_allclose(got.asnumpy().astype(np.float64), want, rtol=rtol, atol=atol)


BROADCAST_PAIRS = [
    ((3, 4), (3, 4)),
    ((3, 1), (1, 4)),
    ((2, 3, 4), (4,)),
    ((4,), (2, 3, 4)),
    ((1,), (2, 3)),
    ((1, 1, 1), (1, 1, 1)),
    ((5, 1, 3), (1, 4, 1)),
    ((2, 1), (2, 1)),
]

BINARY = [
    pytest.param(operator.add, np.add, id="add"),
    pytest.param(operator.sub, np.subtract, id="sub"),
    pytest.param(operator.mul, np.multiply, id="mul"),
    pytest.param(operator.truediv, np.divide, id="div"),
    pytest.param(nd.add, np.add, id="nd.add"),
    pytest.param(nd.subtract, np.subtract, id="nd.subtract"),
    pytest.param(nd.multiply, np.multiply, id="nd.multiply"),
    pytest.param(nd.divide, np.divide, id="nd.divide"),
    pytest.param(nd.maximum, np.maximum, id="maximum"),
    pytest.param(nd.minimum, np.minimum, id="minimum"),
]


# ------------------------------------------------------------------------------------------ arithmetic
@pytest.mark.parametrize("fn, ref", BINARY)
@pytest.mark.parametrize("shapes", BROADCAST_PAIRS, ids=str)
def test_binary_broadcasting(ctx, rng, fn, ref, shapes):
    a, b = _inputs(rng, *shapes)
    b[np.abs(b) < 0.1] = 0.5  # keep divisors away from zero
    got = fn(nd.array(a, ctx=ctx), nd.array(b, ctx=ctx))
    assert got.dtype == np.float32 and got.context is ctx
    _close(got, ref(a.astype(np.float64), b.astype(np.float64)))


def test_power_with_arrays(ctx, rng):
    a, b = _inputs(rng, (3, 4), (4,), low=0.5, high=2.0)
    _close(nd.array(a, ctx=ctx) ** nd.array(b, ctx=ctx), np.power(a.astype(np.float64), b), rtol=1e-5)
    _close(nd.power(nd.array(a, ctx=ctx), nd.array(b, ctx=ctx)), np.power(a.astype(np.float64), b),
           rtol=1e-5)


SCALAR_FORMS = [
    pytest.param(lambda x: x + 2, lambda a: a + 2, id="x+2"),
    pytest.param(lambda x: 2 + x, lambda a: 2 + a, id="2+x"),
    pytest.param(lambda x: x - 1.5, lambda a: a - 1.5, id="x-1.5"),
    pytest.param(lambda x: 1.5 - x, lambda a: 1.5 - a, id="1.5-x"),
    pytest.param(lambda x: x * 3, lambda a: a * 3, id="x*3"),
    pytest.param(lambda x: 3 * x, lambda a: 3 * a, id="3*x"),
    pytest.param(lambda x: x / 4, lambda a: a / 4, id="x/4"),
    pytest.param(lambda x: 4 / x, lambda a: 4 / a, id="4/x"),
    pytest.param(lambda x: x ** 2, lambda a: a ** 2, id="x**2"),
    pytest.param(lambda x: 2 ** x, lambda a: 2 ** a, id="2**x"),
    pytest.param(lambda x: -x, lambda a: -a, id="-x"),
    pytest.param(lambda x: np.float32(2) * x, lambda a: 2 * a, id="np.float32*x"),
    pytest.param(lambda x: x - np.float64(0.25), lambda a: a - 0.25, id="x-np.float64"),
    pytest.param(lambda x: nd.maximum(x, 0.5), lambda a: np.maximum(a, 0.5), id="maximum(x,0.5)"),
    pytest.param(lambda x: nd.maximum(0.5, x), lambda a: np.maximum(0.5, a), id="maximum(0.5,x)"),
    pytest.param(lambda x: nd.minimum(x, -0.5), lambda a: np.minimum(a, -0.5), id="minimum(x,-0.5)"),
    pytest.param(lambda x: nd.minimum(-0.5, x), lambda a: np.minimum(-0.5, a), id="minimum(-0.5,x)"),
]


@pytest.mark.parametrize("fn, ref", SCALAR_FORMS)
def test_python_scalars_on_either_side_keep_float32(ctx, rng, fn, ref):
    (a,) = _inputs(rng, (3, 5), low=0.5, high=2.0)
    got = fn(nd.array(a, ctx=ctx))
    assert got.dtype == np.float32 and got.context is ctx
    _close(got, ref(a.astype(np.float64)))


def test_numpy_arrays_as_operands_are_refused_with_a_hint(ctx):
    x = nd.ones((2,), ctx=ctx)
    with pytest.raises(TypeError, match="nd.array"):
        x + np.ones(2)
    with pytest.raises(TypeError, match="nd.array"):
        np.ones(2) + x


COMPARISONS = [
    pytest.param(operator.eq, np.equal, id="=="), pytest.param(operator.ne, np.not_equal, id="!="),
    pytest.param(operator.gt, np.greater, id=">"), pytest.param(operator.ge, np.greater_equal, id=">="),
    pytest.param(operator.lt, np.less, id="<"), pytest.param(operator.le, np.less_equal, id="<="),
    pytest.param(nd.equal, np.equal, id="nd.equal"),
    pytest.param(nd.not_equal, np.not_equal, id="nd.not_equal"),
    pytest.param(nd.greater, np.greater, id="nd.greater"),
    pytest.param(nd.greater_equal, np.greater_equal, id="nd.greater_equal"),
    pytest.param(nd.lesser, np.less, id="nd.lesser"),
    pytest.param(nd.lesser_equal, np.less_equal, id="nd.lesser_equal"),
]


@pytest.mark.parametrize("fn, ref", COMPARISONS)
def test_comparisons_return_zero_one_in_the_operand_dtype(ctx, fn, ref):
    a = np.array([[1, 2, 3], [3, 2, 1]], np.float32)
    b = np.array([2, 2, 2], np.float32)
    x, y = nd.array(a, ctx=ctx), nd.array(b, ctx=ctx)
    for got, want in ((fn(x, y), ref(a, b)), (fn(x, 2), ref(a, 2)), (fn(2, x), ref(2, a))):
        assert got.dtype == np.float32 and got.context is ctx
        np.testing.assert_array_equal(got.asnumpy(), want.astype(np.float32))
    ints = nd.array([1, 5], ctx=ctx, dtype="int32")
    got = fn(ints, 3)
    assert got.dtype == np.int32
    np.testing.assert_array_equal(got.asnumpy(), ref(np.array([1, 5]), 3).astype(np.int32))


# ------------------------------------------------------------------------------------------ unary math
UNARY = [
    pytest.param(lambda x: x.exp(), np.exp, (-3, 3), id="exp"),
    pytest.param(nd.exp, np.exp, (-3, 3), id="nd.exp"),
    pytest.param(lambda x: x.log(), np.log, (0.1, 5), id="log"),
    pytest.param(nd.log, np.log, (0.1, 5), id="nd.log"),
    pytest.param(lambda x: x.sqrt(), np.sqrt, (0.01, 5), id="sqrt"),
    pytest.param(nd.sqrt, np.sqrt, (0.01, 5), id="nd.sqrt"),
    pytest.param(lambda x: x.abs(), np.abs, (-3, 3), id="abs"),
    pytest.param(abs, np.abs, (-3, 3), id="builtin abs"),
    pytest.param(nd.abs, np.abs, (-3, 3), id="nd.abs"),
    pytest.param(nd.square, np.square, (-3, 3), id="square"),
    pytest.param(nd.sign, np.sign, (-3, 3), id="sign"),
    pytest.param(nd.negative, np.negative, (-3, 3), id="negative"),
    pytest.param(lambda x: x.sigmoid(), lambda a: 1 / (1 + np.exp(-a)), (-6, 6), id="sigmoid"),
    pytest.param(nd.sigmoid, lambda a: 1 / (1 + np.exp(-a)), (-6, 6), id="nd.sigmoid"),
    pytest.param(lambda x: x.tanh(), np.tanh, (-3, 3), id="tanh"),
    pytest.param(nd.tanh, np.tanh, (-3, 3), id="nd.tanh"),
    pytest.param(nd.softrelu, lambda a: np.log1p(np.exp(a)), (-5, 5), id="softrelu"),
    pytest.param(nd.softsign, lambda a: a / (1 + np.abs(a)), (-5, 5), id="softsign"),
    pytest.param(lambda x: x.clip(-0.5, 1.0), lambda a: np.clip(a, -0.5, 1.0), (-3, 3), id="clip"),
    pytest.param(lambda x: nd.clip(x, -1.0, None), lambda a: np.maximum(a, -1.0), (-3, 3), id="clip-low"),
    pytest.param(lambda x: nd.clip(x, None, 0.25), lambda a: np.minimum(a, 0.25), (-3, 3), id="clip-high"),
    pytest.param(lambda x: nd.Activation(x, "tanh"), np.tanh, (-3, 3), id="Activation(tanh)"),
    pytest.param(lambda x: nd.Activation(x, "sigmoid"), lambda a: 1 / (1 + np.exp(-a)), (-3, 3),
                 id="Activation(sigmoid)"),
]


@pytest.mark.parametrize("shape", [(1,), (1, 1, 1), (7, 5), (70, 45, 3)], ids=str)
@pytest.mark.parametrize("fn, ref, bounds", UNARY)
def test_unary(ctx, rng, fn, ref, bounds, shape):
    (a,) = _inputs(rng, shape, low=bounds[0], high=bounds[1])
    got = fn(nd.array(a, ctx=ctx))
    assert got.dtype == np.float32 and got.context is ctx
    _close(got, ref(a.astype(np.float64)))


@pytest.mark.parametrize("shape", [(1,), (1, 1, 1), (7, 5), (70, 45, 3)], ids=str)
@pytest.mark.parametrize("form", ["method", "nd", "Activation"])
def test_relu_float32(ctx, rng, shape, form):
    # On the emulated gpu(0) float32 ReLU runs the custom kernel (gpuparams.backend.kernels).
    (a,) = _inputs(rng, shape)
    x = nd.array(a, ctx=ctx)
    got = {"method": x.relu, "nd": lambda: nd.relu(x), "Activation": lambda: nd.Activation(x, "relu")}[form]()
    assert got.dtype == np.float32 and got.context is ctx
    np.testing.assert_array_equal(got.asnumpy(), np.maximum(a, 0))


def test_relu_other_dtypes(ctx):
    a = np.array([[-1.5, 0.0, 2.5]], np.float64)
    got = nd.relu(nd.array(a, ctx=ctx, dtype="float64"))
    assert got.dtype == np.float64
    np.testing.assert_array_equal(got.asnumpy(), [[0, 0, 2.5]])
    ints = nd.relu(nd.array([-3, 4], ctx=ctx, dtype="int32"))
    assert ints.dtype == np.int32 and ints.asnumpy().tolist() == [0, 4]


def test_sigmoid_and_softrelu_do_not_overflow_for_large_inputs(ctx):
    x = nd.array([-1000.0, -80.0, 0.0, 80.0, 1000.0], ctx=ctx)
    s = nd.sigmoid(x).asnumpy()  # pytest turns an overflow RuntimeWarning into an error
    np.testing.assert_allclose(s, [0.0, 1 / (1 + np.exp(80.0)), 0.5, 1.0, 1.0], rtol=1e-6, atol=0)
    sp = nd.softrelu(x).asnumpy()
    np.testing.assert_allclose(sp, [0.0, np.log1p(np.exp(-80.0)), np.log(2), 80.0, 1000.0], rtol=1e-6)


def test_clip_with_inverted_bounds_is_refused():
    with pytest.raises(ValueError, match="a_min"):
        nd.clip(nd.ones((2,)), 1.0, 0.0)


def test_unknown_activation_lists_the_choices():
    with pytest.raises(ValueError, match="relu.*sigmoid|sigmoid.*relu"):
        nd.Activation(nd.ones((2,)), "gelu")


# ------------------------------------------------------------------------------------------ softmax
@pytest.mark.parametrize("shape, axis", [((4, 7), -1), ((4, 7), 0), ((2, 3, 5), 1), ((1, 1), -1), ((6,), 0)],
                         ids=str)
def test_softmax_and_log_softmax(ctx, rng, shape, axis):
    (a,) = _inputs(rng, shape, low=-5, high=5)
    a64 = a.astype(np.float64)
    e = np.exp(a64 - a64.max(axis=axis, keepdims=True))
    want = e / e.sum(axis=axis, keepdims=True)
    x = nd.array(a, ctx=ctx)
    _close(nd.softmax(x, axis=axis), want)
    _close(x.softmax(axis=axis), want)
    _close(nd.log_softmax(x, axis=axis), np.log(want), rtol=1e-5, atol=1e-5)
    _close(x.log_softmax(axis=axis), np.log(want), rtol=1e-5, atol=1e-5)


def test_softmax_is_stable_for_large_logits(ctx):
    x = nd.array([[1000.0, 1000.0, -1000.0], [0.0, 0.0, 0.0]], ctx=ctx)
    np.testing.assert_allclose(nd.softmax(x).asnumpy(), [[0.5, 0.5, 0.0], [1 / 3] * 3], rtol=1e-6)
    np.testing.assert_allclose(nd.log_softmax(x).asnumpy()[0], [np.log(0.5), np.log(0.5), -2000 - np.log(2)],
                               rtol=1e-6)


INF, NAN = np.inf, np.nan
# Rows by hand: k entries at +inf share the probability (log -log k there, -inf elsewhere); a -inf
# entry has probability 0; an all -inf row or a row with a NaN has no distribution (NaN).
NONFINITE_LOGITS = [[INF, 1, 2], [INF, INF, 0], [1, INF, INF], [-INF, 1, 2], [-INF, -INF, 3],
                    [-INF, -INF, -INF], [NAN, 1, 2], [NAN, INF, 1], [INF, -INF, NAN]]
_S = np.exp(1) / (np.exp(1) + np.exp(2))
NONFINITE_SOFTMAX = [[1, 0, 0], [0.5, 0.5, 0], [0, 0.5, 0.5], [0, _S, 1 - _S], [0, 0, 1]] + [[NAN] * 3] * 4


def _softmax_vjp64(s, g):
    """float64 ``J^T g`` with the softmax Jacobian ``J = diag(s) - s s^T`` of each row, built as a
    matrix (not the operator's fused formula)."""
    return np.stack([(np.diag(r) - np.outer(r, r)).T @ h for r, h in zip(s, g)])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("temperature", [None, 2.0])
def test_softmax_and_log_softmax_with_infinite_logits(ctx, dtype, temperature):
    # Before: the max shift made inf - inf = NaN, every such row was NaN, with RuntimeWarnings
    # (pytest turns warnings into errors here). Infinities are unchanged by a temperature.
    x = nd.array(NONFINITE_LOGITS, ctx=ctx, dtype=dtype)
    want = np.array(NONFINITE_SOFTMAX, np.float64)
    if temperature is not None:  # the finite rows flatten: row 3 is softmax([1, 2] / 2) there
        t = np.exp(0.5) / (np.exp(0.5) + np.exp(1))
        want[3] = [0, t, 1 - t]
    got = nd.softmax(x, temperature=temperature)
    assert got.dtype == np.dtype(dtype)
    np.testing.assert_allclose(got.asnumpy(), want, rtol=1e-6, atol=0)
    with np.errstate(divide="ignore"):
        log_want = np.log(want)
    log_got = nd.log_softmax(x, temperature=temperature).asnumpy()
    assert log_got.dtype == np.dtype(dtype)
    np.testing.assert_allclose(log_got, log_want, rtol=1e-6, atol=0)
    # The same along axis 0 of the transpose.
    np.testing.assert_allclose(nd.softmax(x.T, axis=0, temperature=temperature).asnumpy(), want.T, rtol=1e-6)
    np.testing.assert_allclose(nd.log_softmax(x.T, axis=0, temperature=temperature).asnumpy(), log_want.T,
                               rtol=1e-6)


class _DeviceLikeNumpy:
    """NumPy under another name: the shared softmax helpers take their device (CuPy) branch, which
    never checks on the host whether a row's maximum is finite, so it runs here without a GPU."""

    def __getattr__(self, name):
        return getattr(np, name)


@pytest.mark.parametrize("dtype", ["float32", "float64", "float16"])
def test_the_device_form_of_the_shared_softmax_helpers_matches(rng, dtype):
    from gpuparams.ops._core import stable_log_softmax, stable_softmax
    xp = _DeviceLikeNumpy()
    finite = rng.uniform(-30, 30, (6, 5)).astype(dtype)
    for data, axis in ((finite, -1), (finite, 0), (np.array(NONFINITE_LOGITS, dtype), 1)):
        for fn in (stable_softmax, stable_log_softmax):
            host, device = fn(data, axis, np), fn(data, axis, xp)
            assert device.dtype == data.dtype
            np.testing.assert_array_equal(device, host)
    np.testing.assert_allclose(stable_softmax(np.array(NONFINITE_LOGITS, dtype), 1, xp), NONFINITE_SOFTMAX,
                               rtol=1e-3 if dtype == "float16" else 1e-6, atol=0)


def test_softmax_gradients_with_infinite_logits(ctx):
    # Where a distribution exists the gradient is J^T g of the limit distribution: finite, no NaN.
    # float64 reference: J built from the expected softmax.
    rows = 5
    x = nd.array(NONFINITE_LOGITS[:rows], ctx=ctx)
    g = np.array([[0.3, -1.2, 2.0], [1.0, 0.5, -0.7], [0.2, 0.4, 0.8], [-1.0, 2.0, 0.5], [1.5, 1.0, -2.0]],
                 np.float32)
    s = np.array(NONFINITE_SOFTMAX[:rows], np.float64)
    for fn, vjp in ((nd.softmax, _softmax_vjp64(s, g)),
                    # d log_softmax: g - softmax * sum(g), i.e. J_log^T g with J_log = I - 1 s^T
                    (nd.log_softmax, np.stack([(np.eye(3) - np.outer(np.ones(3), r)).T @ h
                                               for r, h in zip(s, g)]))):
        x.attach_grad()
        with gp.autograd.record():
            y = fn(x)
        y.backward(nd.array(g, ctx=ctx))
        assert np.isfinite(x.grad.asnumpy()).all()
        np.testing.assert_allclose(x.grad.asnumpy(), vjp, rtol=1e-6, atol=1e-6)


# ------------------------------------------------------------------------------------------ dot
DOT_CASES = [
    ((5,), (5,), {}),
    ((3, 4), (4, 6), {}),
    ((3, 4), (4,), {}),
    ((4,), (4, 6), {}),
    ((1, 1), (1, 1), {}),
    ((2, 3, 4), (4, 5), {}),
    ((3, 4), (4, 2, 5), {}),
    ((2, 3, 4), (4, 2, 5), {}),
    ((4, 3), (4, 6), {"transpose_a": True}),
    ((3, 4), (6, 4), {"transpose_b": True}),
    ((4, 3), (6, 4), {"transpose_a": True, "transpose_b": True}),
    ((4, 3, 2), (4, 5), {"transpose_a": True}),
    ((3, 4), (5, 2, 4), {"transpose_b": True}),
    ((70, 45), (45, 33), {}),
]


def _ref_t(a, flag):
    return a.transpose() if flag else a


@pytest.mark.parametrize("sa, sb, kw", DOT_CASES, ids=str)
def test_dot(ctx, rng, sa, sb, kw):
    a, b = _inputs(rng, sa, sb)
    a64 = _ref_t(a.astype(np.float64), kw.get("transpose_a"))
    b64 = _ref_t(b.astype(np.float64), kw.get("transpose_b"))
    want = np.tensordot(a64, b64, axes=1)
    got = nd.dot(nd.array(a, ctx=ctx), nd.array(b, ctx=ctx), **kw)
    assert got.context is ctx and got.dtype == np.float32
    _close(got, want, rtol=1e-5, atol=1e-5)
    if not kw:
        _close(nd.array(a, ctx=ctx).dot(nd.array(b, ctx=ctx)), want, rtol=1e-5, atol=1e-5)
        _close(nd.array(a, ctx=ctx) @ nd.array(b, ctx=ctx), want, rtol=1e-5, atol=1e-5)


def test_dot_of_vectors_has_shape_1(ctx):
    got = nd.dot(nd.array([1, 2, 3], ctx=ctx), nd.array([4, 5, 6], ctx=ctx))
    assert got.shape == (1,) and got.asscalar() == 32


@pytest.mark.parametrize("sa, sb, kw", [
    ((2, 3, 4), (2, 4, 5), {}),
    ((1, 1, 1), (1, 1, 1), {}),
    ((3, 4, 2), (3, 4, 5), {"transpose_a": True}),
    ((3, 2, 4), (3, 5, 4), {"transpose_b": True}),
    ((3, 4, 2), (3, 5, 4), {"transpose_a": True, "transpose_b": True}),
], ids=str)
def test_batch_dot(ctx, rng, sa, sb, kw):
    a, b = _inputs(rng, sa, sb)
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    if kw.get("transpose_a"):
        a64 = a64.transpose(0, 2, 1)
    if kw.get("transpose_b"):
        b64 = b64.transpose(0, 2, 1)
    got = nd.batch_dot(nd.array(a, ctx=ctx), nd.array(b, ctx=ctx), **kw)
    _close(got, np.matmul(a64, b64), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("sa, sb, kw", [
    ((2, 3), (4, 5), {}), ((3,), (4,), {}), ((2, 3, 4), (3, 4), {}), ((2, 3), (2, 3), {"transpose_b": False}),
    ((3, 2), (3, 2), {"transpose_a": True, "transpose_b": True}),
], ids=str)
def test_dot_shape_mismatch_names_both_shapes(ctx, sa, sb, kw):
    with pytest.raises(ShapeError) as info:
        nd.dot(nd.ones(sa, ctx=ctx), nd.ones(sb, ctx=ctx), **kw)
    assert str(sa) in str(info.value) and str(sb) in str(info.value) and "dot" in str(info.value)
    assert isinstance(info.value, ValueError)


@pytest.mark.parametrize("sa, sb", [((2, 3, 4), (2, 5, 6)), ((2, 3, 4), (3, 4, 5)), ((3, 4), (3, 4, 5))])
def test_batch_dot_shape_mismatch_names_both_shapes(ctx, sa, sb):
    with pytest.raises(ShapeError) as info:
        nd.batch_dot(nd.ones(sa, ctx=ctx), nd.ones(sb, ctx=ctx))
    assert str(sa) in str(info.value) and str(sb) in str(info.value)


# ------------------------------------------------------------------------------------------ reductions
REDUCTIONS = [("sum", np.sum), ("mean", np.mean), ("max", np.max), ("min", np.min)]


@pytest.mark.parametrize("name, ref", REDUCTIONS)
@pytest.mark.parametrize("axis", [None, 0, 1, -1, (0, 2), (2, 0, 1)], ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
def test_reductions(ctx, rng, name, ref, axis, keepdims):
    (a,) = _inputs(rng, (4, 3, 5))
    x = nd.array(a, ctx=ctx)
    want = ref(a.astype(np.float64), axis=axis, keepdims=keepdims)
    for got in (getattr(x, name)(axis=axis, keepdims=keepdims),
                getattr(nd, name)(x, axis=axis, keepdims=keepdims)):
        assert got.dtype == np.float32 and got.context is ctx
        _close(got, want, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name, ref", REDUCTIONS)
def test_full_reduction_has_shape_1(ctx, name, ref):
    x = nd.array([[1.0, 5.0], [-2.0, 4.0]], ctx=ctx)
    got = getattr(x, name)()
    assert got.shape == (1,)
    assert got.asscalar() == ref(np.array([[1.0, 5.0], [-2.0, 4.0]]))


@pytest.mark.parametrize("name, ref", REDUCTIONS)
def test_reduction_exclude(ctx, rng, name, ref):
    (a,) = _inputs(rng, (2, 3, 4))
    got = getattr(nd, name)(nd.array(a, ctx=ctx), axis=1, exclude=True)
    _close(got, ref(a.astype(np.float64), axis=(0, 2)), rtol=1e-5)


@pytest.mark.parametrize("axis", [3, -4, (0, 0), 1.0, (1.0,), "0"])
def test_reduction_bad_axis(axis):
    with pytest.raises(ValueError, match="axis"):
        nd.ones((2, 3, 4)).sum(axis=axis)


# ------------------------------------------------------------------------------------------ shapes
@pytest.mark.parametrize("new, want", [
    ((6, 4), (6, 4)), ((-1,), (24,)), ((4, -1), (4, 6)), ((2, -1, 3), (2, 4, 3)), ((0, -1), (2, 12)),
    ((1, 24, 1), (1, 24, 1)),
], ids=str)
def test_reshape(ctx, rng, new, want):
    (a,) = _inputs(rng, (2, 3, 4))
    x = nd.array(a, ctx=ctx)
    got = x.reshape(new)
    assert got.shape == want
    np.testing.assert_array_equal(got.asnumpy(), a.reshape(want))
    assert x.reshape(*new).shape == want
    assert x.reshape(shape=new).shape == want
    assert nd.reshape(x, new).shape == want


@pytest.mark.parametrize("new", [(5, 5), (-1, -1), (7, -1), (2, -2, 6)], ids=str)
def test_reshape_errors_name_the_shapes(new):
    with pytest.raises(ShapeError) as info:
        nd.ones((2, 3, 4)).reshape(new)
    assert str(new) in str(info.value)


def test_transpose_and_T(ctx, rng):
    (a,) = _inputs(rng, (2, 3, 4))
    x = nd.array(a, ctx=ctx)
    np.testing.assert_array_equal(x.T.asnumpy(), a.T)
    np.testing.assert_array_equal(x.transpose().asnumpy(), a.T)
    np.testing.assert_array_equal(x.transpose((1, 0, 2)).asnumpy(), a.transpose(1, 0, 2))
    np.testing.assert_array_equal(nd.transpose(x, axes=(2, 0, 1)).asnumpy(), a.transpose(2, 0, 1))
    np.testing.assert_array_equal(x.swapaxes(0, 2).asnumpy(), a.swapaxes(0, 2))
    m = nd.array(a[0], ctx=ctx)
    assert m.T.shape == (4, 3)
    with pytest.raises(ShapeError, match="permutation"):
        x.transpose((0, 0, 1))


@pytest.mark.parametrize("axis", [0, 1, 2, -1, -3])
def test_expand_dims(ctx, axis):
    a = np.arange(6, dtype=np.float32).reshape(2, 3)
    got = nd.array(a, ctx=ctx).expand_dims(axis)
    assert got.shape == np.expand_dims(a, axis).shape
    np.testing.assert_array_equal(got.asnumpy(), np.expand_dims(a, axis))
    assert nd.expand_dims(nd.array(a, ctx=ctx), axis=axis).shape == np.expand_dims(a, axis).shape


def test_expand_dims_out_of_range():
    with pytest.raises(ValueError, match="axis"):
        nd.ones((2, 3)).expand_dims(3)


def test_squeeze_and_flatten(ctx):
    x = nd.zeros((2, 1, 3, 1), ctx=ctx)
    assert x.squeeze().shape == (2, 3)
    assert x.squeeze(axis=1).shape == (2, 3, 1)
    assert nd.zeros((1, 1), ctx=ctx).squeeze().shape == (1,)
    with pytest.raises(ShapeError):
        x.squeeze(axis=0)
    assert nd.zeros((2, 3, 4), ctx=ctx).flatten().shape == (2, 12)
    assert nd.Flatten(nd.zeros((2, 3, 4), ctx=ctx)).shape == (2, 12)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_concat(ctx, rng, dim):
    shapes = {0: [(1, 3, 2), (2, 3, 2), (3, 3, 2)], 1: [(2, 1, 2), (2, 2, 2), (2, 4, 2)],
              -1: [(2, 3, 1), (2, 3, 2), (2, 3, 3)]}[dim]
    arrays = _inputs(rng, *shapes)
    want = np.concatenate(arrays, axis=dim)
    got = nd.concat(*[nd.array(a, ctx=ctx) for a in arrays], dim=dim)
    assert got.context is ctx
    np.testing.assert_array_equal(got.asnumpy(), want)
    assert nd.concat([nd.array(a, ctx=ctx) for a in arrays], dim=dim).shape == want.shape


def test_concat_default_dim_is_1(ctx):
    got = nd.concat(nd.ones((2, 1), ctx=ctx), nd.zeros((2, 3), ctx=ctx))
    assert got.shape == (2, 4)
    np.testing.assert_array_equal(got.asnumpy(), [[1, 0, 0, 0], [1, 0, 0, 0]])


def test_concat_shape_mismatch_names_the_shapes():
    with pytest.raises(ShapeError) as info:
        nd.concat(nd.ones((2, 3)), nd.ones((3, 3)), dim=1)
    assert "(2, 3)" in str(info.value) and "(3, 3)" in str(info.value)


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_stack(ctx, rng, axis):
    arrays = _inputs(rng, (2, 3), (2, 3), (2, 3))
    got = nd.stack(*[nd.array(a, ctx=ctx) for a in arrays], axis=axis)
    np.testing.assert_array_equal(got.asnumpy(), np.stack(arrays, axis=axis))
    with pytest.raises(ShapeError) as info:
        nd.stack(nd.ones((2, 3), ctx=ctx), nd.ones((3, 2), ctx=ctx), axis=axis)
    assert "(2, 3)" in str(info.value) and "(3, 2)" in str(info.value)


# ------------------------------------------------------------------------------------------ errors
@pytest.mark.parametrize("fn", [operator.add, operator.sub, operator.mul, operator.truediv, operator.pow,
                                nd.maximum, nd.minimum, operator.eq, operator.lt], ids=repr)
@pytest.mark.parametrize("sa, sb", [((2, 3), (3, 2)), ((4,), (5,)), ((2, 3, 4), (3, 1, 5))], ids=str)
def test_broadcast_mismatch_names_both_shapes(ctx, fn, sa, sb):
    with pytest.raises(ShapeError) as info:
        fn(nd.ones(sa, ctx=ctx), nd.ones(sb, ctx=ctx))
    assert str(sa) in str(info.value) and str(sb) in str(info.value)
    assert "broadcast" in str(info.value)


MIXED = [
    pytest.param(operator.add, id="+"), pytest.param(operator.mul, id="*"),
    pytest.param(operator.truediv, id="/"), pytest.param(operator.sub, id="-"),
    pytest.param(operator.pow, id="**"), pytest.param(operator.gt, id=">"),
    pytest.param(nd.maximum, id="maximum"), pytest.param(nd.dot, id="dot"),
    pytest.param(lambda a, b: nd.batch_dot(a.reshape((1, 2, 2)), b.reshape((1, 2, 2))), id="batch_dot"),
    pytest.param(lambda a, b: nd.concat(a, b), id="concat"),
    pytest.param(lambda a, b: nd.stack(a, b), id="stack"),
]


@pytest.mark.parametrize("fn", MIXED)
def test_mixing_contexts_names_both_and_the_fix(fn):
    a, b = nd.ones((2, 2), ctx=gp.cpu(0)), nd.ones((2, 2), ctx=gp.cpu(1))
    with pytest.raises(ContextMismatchError) as info:
        fn(a, b)
    message = str(info.value)
    assert "cpu(0)" in message and "cpu(1)" in message and "as_in_context(" in message
    assert isinstance(info.value, ValueError)


def test_reduction_accepts_numpy_integer_axes(ctx):
    x = nd.array([[1.0, 2.0], [3.0, 4.0]], ctx=ctx)
    assert x.sum(axis=np.int64(1)).asnumpy().tolist() == [3.0, 7.0]
    assert x.max(axis=(np.int32(0),)).asnumpy().tolist() == [3.0, 4.0]


# ------------------------------------------------------------------------------------------ indices
# take / pick / one_hot / argmax / argmin: the operators D2L-style code uses to cut mini-batches
# (features.take(j)), read the true class's score (nd.pick(y_hat, y)) and count hits (argmax).
@pytest.mark.parametrize("shape, idx_shape, axis", [
    ((5, 3), (4,), 0), ((5, 3), (2, 2), 0), ((2, 5, 3), (4,), 1), ((2, 3, 5), (3,), -1), ((1,), (3,), 0),
], ids=str)
def test_take_matches_numpy(ctx, rng, shape, idx_shape, axis):
    (a,) = _inputs(rng, shape)
    idx = rng.integers(0, shape[axis], size=idx_shape)
    got = nd.take(nd.array(a, ctx=ctx), nd.array(idx, ctx=ctx), axis=axis)
    _close(got, np.take(a.astype(np.float64), idx, axis=axis))
    # the method form, with the float indices nd.array makes from a Python list (MXNet's habit)
    assert nd.array(a, ctx=ctx).take(nd.array(idx.tolist(), ctx=ctx), axis=axis).shape == got.shape


def test_take_modes(ctx):
    a = nd.array([10.0, 11.0, 12.0], ctx=ctx)
    idx = nd.array([-1, 0, 3, 5], ctx=ctx, dtype="int32")
    assert nd.take(a, idx).asnumpy().tolist() == [10.0, 10.0, 12.0, 12.0]            # clip (default)
    assert nd.take(a, idx, mode="wrap").asnumpy().tolist() == [12.0, 10.0, 10.0, 12.0]
    with pytest.raises(IndexError, match=r"index -1 is out of range for axis 0 of size 3.*mode='clip'"):
        nd.take(a, idx, mode="raise")
    with pytest.raises(ValueError, match="mode must be one of 'clip', 'wrap', 'raise'"):
        nd.take(a, idx, mode="fast")


def test_take_and_pick_errors_name_the_problem():
    a = nd.ones((2, 3))
    with pytest.raises(TypeError, match=r"indices must be an NDArray.*nd.array"):
        nd.take(a, [0, 1])
    with pytest.raises(ContextMismatchError, match=r"cpu\(0\) and cpu\(1\).*as_in_context"):
        nd.take(a, nd.array([0], ctx=gp.cpu(1)))
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        nd.take(a, nd.array([0]), axis=2)
    with pytest.raises(ShapeError,
                       match=r"index of shape \(3,\) does not fit data of shape \(2, 3\).*\(2,\)"):
        nd.pick(a, nd.array([0, 1, 2]))
    with pytest.raises(ContextMismatchError, match="as_in_context"):
        nd.pick(a, nd.array([0, 1], ctx=gp.cpu(1)))


@pytest.mark.parametrize("shape, axis", [((4, 3), -1), ((4, 3), 0), ((2, 3, 4), 1), ((3,), 0)], ids=str)
@pytest.mark.parametrize("keepdims", [False, True])
def test_pick_matches_numpy(ctx, rng, shape, axis, keepdims):
    (a,) = _inputs(rng, shape)
    dropped = tuple(n for i, n in enumerate(shape) if i != axis % len(shape))
    idx = rng.integers(0, shape[axis], size=dropped)
    want = np.take_along_axis(a.astype(np.float64), np.expand_dims(idx, axis), axis=axis)
    if not keepdims:
        want = want.reshape(dropped)
    got = nd.pick(nd.array(a, ctx=ctx), nd.array(idx, ctx=ctx), axis=axis, keepdims=keepdims)
    _close(got, want)


def test_pick_accepts_column_labels_and_clips(ctx):
    y_hat = nd.array([[0.1, 0.3, 0.6], [0.3, 0.2, 0.5]], ctx=ctx)
    assert y_hat.pick(nd.array([[0], [2]], ctx=ctx)).asnumpy().tolist() == pytest.approx([0.1, 0.5])
    assert nd.pick(y_hat, nd.array([-4, 7], ctx=ctx)).asnumpy().tolist() == pytest.approx([0.1, 0.5])
    assert nd.pick(y_hat, nd.array([4, -1], ctx=ctx), mode="wrap").asnumpy().tolist() == \
        pytest.approx([0.3, 0.5])


def test_one_hot(ctx):
    got = nd.one_hot(nd.array([[0, 2], [1, 5]], ctx=ctx), 3)
    assert got.shape == (2, 2, 3) and got.dtype == np.float32 and got.context is ctx
    np.testing.assert_array_equal(got.asnumpy(), [[[1, 0, 0], [0, 0, 1]], [[0, 1, 0], [0, 0, 0]]])
    custom = nd.array([1, 0], ctx=ctx).one_hot(2, on_value=5, off_value=-1, dtype="int32")
    assert custom.dtype == np.int32 and custom.asnumpy().tolist() == [[-1, 5], [5, -1]]
    with pytest.raises(ValueError, match="depth must be a positive int"):
        nd.one_hot(nd.array([0]), 0)


@pytest.mark.parametrize("name", ["argmax", "argmin"])
@pytest.mark.parametrize("axis", [None, 0, 1, -1])
def test_argmax_argmin_match_numpy(ctx, rng, name, axis):
    a = rng.permutation(24).reshape(4, 6).astype(np.float32)  # no ties
    x = nd.array(a, ctx=ctx)
    got = getattr(nd, name)(x, axis=axis)
    want = getattr(np, name)(a, axis=axis)
    assert got.dtype == np.float32 and got.context is ctx  # float data: float indices, as MXNet
    np.testing.assert_array_equal(got.asnumpy(), np.asarray(want, dtype=np.float32).reshape(got.shape))
    assert got.shape == ((1,) if axis is None else want.shape)
    if axis is not None:
        kept = getattr(x, name)(axis=axis, keepdims=True)
        assert kept.shape == np.expand_dims(want, axis).shape
    ints = getattr(nd.array(a, ctx=ctx, dtype="int32"), name)(axis=axis)
    assert ints.dtype == np.int64 and ints.asnumpy().reshape(-1).tolist() == np.ravel(want).tolist()


def test_argmax_accuracy_idiom(ctx):
    # d2l's accuracy(): (y_hat.argmax(axis=1) == y.astype('float32')).sum().asscalar()
    y_hat = nd.array([[0.1, 0.3, 0.6], [0.3, 0.2, 0.5], [0.9, 0.05, 0.05]], ctx=ctx)
    y = nd.array([2, 0, 0], ctx=ctx, dtype="int32")
    assert (y_hat.argmax(axis=1) == y.astype("float32")).sum().asscalar() == 2.0


def test_new_arrays_like_an_array(ctx):
    x = nd.array([[1.0, 2.0]], ctx=ctx, dtype="float64")
    for made, value in ((x.zeros_like(), 0.0), (x.ones_like(), 1.0)):
        assert made.shape == x.shape and made.dtype == x.dtype and made.context is ctx
        assert made.asnumpy().tolist() == [[value, value]]
    assert x.wait_to_read() is None


def test_indexing_docstring_examples():
    import doctest

    from gpuparams.ops import indexing
    failures, tried = doctest.testmod(indexing, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert failures == 0 and tried > 0


# ----------------------------------------------------------------------------- one axis normaliser
def test_squeeze_refuses_an_axis_past_the_dimensions(ctx):
    # squeeze(axis=3) of a (2, 1) array used to wrap around (3 % 2 = 1) and silently drop axis 1
    with pytest.raises(ValueError, match=r"squeeze: axis 3 is out of range .*\(2, 1\)"):
        nd.zeros((2, 1), ctx=ctx).squeeze(axis=3)
    assert nd.zeros((2, 1), ctx=ctx).squeeze(axis=-1).shape == (2,)


@pytest.mark.parametrize("call, message", [
    (lambda x: nd.swapaxes(x, 5, 0), r"swapaxes: dim1 5 is out of range .*\(2, 3\).*\[-2, 2\)"),
    (lambda x: nd.swapaxes(x, 0, -3), r"swapaxes: dim2 -3 is out of range"),
    (lambda x: nd.transpose(x, (0, 5)), r"transpose: axis 5 is out of range .*\(2, 3\)"),
    (lambda x: nd.expand_dims(x, 4), r"expand_dims: axis 4 is out of range for an array of 3 dimensions"),
    (lambda x: nd.softmax(x, axis=2), r"softmax: axis 2 is out of range"),
    (lambda x: nd.concat(x, x, dim=2), r"concat: dim 2 is out of range"),
    (lambda x: nd.sum(x, axis=(0, 2)), r"sum: axis 2 is out of range"),
])
def test_axis_errors_name_the_operator_axis_and_shape(ctx, call, message):
    x = nd.zeros((2, 3), ctx=ctx)
    with pytest.raises(ValueError, match=message) as info:
        call(x)
    # One error class for every operator: a ValueError and an IndexError, like NumPy's AxisError.
    assert isinstance(info.value, IndexError) and type(info.value).__module__ == "gpuparams.errors"


def test_an_axis_must_be_an_int():
    with pytest.raises(ValueError, match=r"swapaxes: dim1 must be an int, got 1.5"):
        nd.swapaxes(nd.zeros((2, 3)), 1.5, 0)


@pytest.mark.parametrize("fn, expected", [
    (nd.add, 5), (nd.subtract, -1), (nd.multiply, 6), (nd.divide, 2 / 3), (nd.power, 8),
    (nd.maximum, 3), (nd.minimum, 2), (nd.equal, 0), (nd.not_equal, 1), (nd.greater, 0),
    (nd.greater_equal, 0), (nd.lesser, 1), (nd.lesser_equal, 1),
])
def test_binary_operators_on_two_numbers_give_the_python_result(fn, expected):
    # MXNet's nd.add(2, 3) is 5 (its scalar path); it used to raise AttributeError about '_ctx'
    got = fn(2, 3)
    assert got == expected and type(got) is type(expected)


def test_binary_operators_refuse_non_numbers_without_an_array():
    with pytest.raises(TypeError, match=r"add: needs an NDArray or numbers, got \(list, int\)"):
        nd.add([1, 2], 3)


@pytest.mark.parametrize("name", ["exp", "log", "sqrt", "tanh"])
def test_unary_math_keeps_an_integer_dtype_as_mxnet(ctx, name):
    # Recorded from MXNet 1.9.1 (tests/data/mxnet_integer_unary.json): the result is truncated to
    # the input's integer dtype, where NumPy would promote to float64.
    import json
    import pathlib
    ref = json.loads((pathlib.Path(__file__).parent / "data" / "mxnet_integer_unary.json").read_text())
    x = nd.array(ref["input"], ctx=ctx, dtype="int32")
    out = getattr(nd, name)(x)
    dtype, values = ref[name]
    assert out.dtype == np.dtype(dtype) and out.asnumpy().tolist() == values
