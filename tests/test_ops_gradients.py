"""Every differentiable operator's backward against central finite differences in float64 (issue 2, item 5).

The checker is the package's own :func:`gpuparams.testing.check_gradient` (one for the package and
its tests, on every context): its reference never calls autograd, only forward passes on float64
copies of the inputs, and it differentiates ``sum(fn(*inputs) * head)`` with a random head, so every
output element matters. ``fd_gradient``, ``check_op`` and ``check_op_float32`` only put the NumPy
inputs on ``ctx`` (``fd_gradient`` is also the reference of ``test_mxnet_extras``).

The module-level tables (``BINARY``, ``SCALAR_FORMS``, ``UNARY``, ``DOT_CASES``, ``SHAPE_OPS``,
``BROADCAST_PAIRS``) are the gradient specs of the operators; keep their names and row formats.
"""
import operator

import numpy as np
import pytest

import gpuparams as gp
from gpuparams import autograd, nd, testing
from gpuparams.ops._core import result

EPS = 1e-6


def fd_gradient(fn, inputs, head, ctx, eps=EPS):
    """Central differences of ``sum(fn(*arrays) * head)`` with respect to each float64 NumPy input."""
    arrays = [nd.array(np.asarray(a, dtype=np.float64), ctx=ctx, dtype="float64") for a in inputs]
    return testing.numeric_gradient(fn, arrays, head, eps=eps)


def check_op(fn, inputs, ctx, rtol=1e-6, atol=1e-8, seed=0):
    """float64 forward and backward on ``ctx`` against the float64 finite-difference reference."""
    arrays = [nd.array(np.asarray(a, dtype=np.float64), ctx=ctx, dtype="float64") for a in inputs]
    testing.check_gradient(fn, arrays, eps=EPS, rtol=rtol, atol=atol, seed=seed)


def check_op_float32(fn, inputs, ctx, rtol=2e-4, atol=1e-5, seed=0):
    """float32 forward and backward on ``ctx`` against the float64 finite-difference reference."""
    arrays = [nd.array(np.asarray(a, dtype=np.float32), ctx=ctx, dtype="float32") for a in inputs]
    testing.check_gradient(fn, arrays, eps=EPS, rtol=rtol, atol=atol, seed=seed, dtype=None)


def _away_from_zero(rng, shape, low=0.2, high=2.0):
    return rng.uniform(low, high, size=shape) * rng.choice([-1.0, 1.0], size=shape)


def _random_broadcast_pair(seed):
    """Two broadcast-compatible shapes with size-1 dims, drawn from a seeded generator."""
    r = np.random.default_rng(1000 + seed)
    ndim = int(r.integers(1, 4))
    full = [int(n) for n in r.integers(1, 5, size=ndim)]
    other = list(full[int(r.integers(0, ndim)):]) or [1]
    a = [1 if r.random() < 0.3 else n for n in full]
    b = [1 if r.random() < 0.4 else n for n in other]
    return tuple(a), tuple(b)


BROADCAST_PAIRS = [
    ((3, 4), (3, 4)), ((3, 1), (1, 4)), ((2, 3, 4), (4,)), ((4,), (2, 3, 4)), ((1,), (2, 3)),
    ((1, 1, 1), (1, 1, 1)), ((2, 1, 3), (1, 4, 1)),
] + [_random_broadcast_pair(s) for s in range(8)]


# ------------------------------------------------------------------------------------------ helper
def test_fd_gradient_of_known_functions(ctx):
    x = np.array([[0.5, -1.0], [2.0, 0.25]])
    y = np.array([[3.0, 1.5], [-0.5, 2.0]])
    head = np.array([[1.0, 2.0], [0.5, 1.5]])
    (gx,) = fd_gradient(lambda a: a * a * a, [x], head, ctx)
    np.testing.assert_allclose(gx, 3 * x ** 2 * head, rtol=1e-8)
    gx, gy = fd_gradient(lambda a, b: a * b + a, [x, y], head, ctx)
    np.testing.assert_allclose(gx, (y + 1) * head, rtol=1e-8)
    np.testing.assert_allclose(gy, x * head, rtol=1e-8)
    (gs,) = fd_gradient(lambda a: a.sum(), [x], np.array([2.0]), ctx)
    np.testing.assert_allclose(gs, np.full((2, 2), 2.0), rtol=1e-8)


def _wrong_square(x):
    data = x._data

    def backward(g, needs):
        return (g * data,)  # should be 2 * g * data
    return result(data * data, x._ctx, "wrong_square", (x,), backward, saved=(x,))


def _square_ok(x):
    data = x._data

    def backward(g, needs):
        return (2 * g * data,)
    return result(data * data, x._ctx, "square_ok", (x,), backward, saved=(x,))


def test_check_op_catches_a_wrong_backward(ctx):
    x = np.array([0.5, -1.5, 2.0])
    check_op(_square_ok, [x], ctx)
    with pytest.raises(AssertionError, match="gradient of input 0"):
        check_op(_wrong_square, [x], ctx)
    with pytest.raises(AssertionError):
        check_op_float32(_wrong_square, [x], ctx)


# ------------------------------------------------------------------------------------------ binary
BINARY = [
    pytest.param(operator.add, id="add"), pytest.param(operator.sub, id="sub"),
    pytest.param(operator.mul, id="mul"), pytest.param(operator.truediv, id="div"),
    pytest.param(operator.pow, id="pow"), pytest.param(nd.maximum, id="maximum"),
    pytest.param(nd.minimum, id="minimum"),
]


def _binary_inputs(rng, fn, sa, sb):
    if fn is operator.pow:
        return rng.uniform(0.5, 2.0, size=sa), rng.uniform(-1.5, 1.5, size=sb)
    a = rng.uniform(-2, 2, size=sa)
    b = _away_from_zero(rng, sb)
    if fn in (nd.maximum, nd.minimum):
        # no ties (where the derivative jumps): keep every broadcast pair at least 0.05 apart
        while np.abs(np.broadcast_to(a, np.broadcast_shapes(sa, sb)) - b).min() < 0.05:
            b = _away_from_zero(rng, sb)
    return a, b


@pytest.mark.parametrize("fn", BINARY)
@pytest.mark.parametrize("sa, sb", BROADCAST_PAIRS, ids=str)
def test_binary_gradients_reduce_to_each_operand_shape(ctx, rng, fn, sa, sb):
    a, b = _binary_inputs(rng, fn, sa, sb)
    check_op(fn, [a, b], ctx)


@pytest.mark.parametrize("fn", BINARY)
def test_binary_gradients_float32(ctx, rng, fn):
    a, b = _binary_inputs(rng, fn, (3, 1, 4), (2, 1))
    check_op_float32(fn, [a, b], ctx)


def test_same_array_on_both_sides(ctx, rng):
    a = _away_from_zero(rng, (2, 3))
    for fn in (lambda x: x * x, lambda x: x + x, lambda x: x / (x * x), lambda x: x - x * 3,
               lambda x: x.abs() ** x):
        check_op(fn, [a], ctx)


SCALAR_FORMS = [
    pytest.param(lambda x: x + 2, id="x+2"), pytest.param(lambda x: 2 + x, id="2+x"),
    pytest.param(lambda x: x - 1.5, id="x-1.5"), pytest.param(lambda x: 1.5 - x, id="1.5-x"),
    pytest.param(lambda x: x * 3, id="x*3"), pytest.param(lambda x: 3 * x, id="3*x"),
    pytest.param(lambda x: x / 4, id="x/4"), pytest.param(lambda x: 4 / x, id="4/x"),
    pytest.param(lambda x: x ** 3, id="x**3"), pytest.param(lambda x: x ** 0.5, id="x**0.5"),
    pytest.param(lambda x: 2 ** x, id="2**x"), pytest.param(lambda x: 0.5 ** x, id="0.5**x"),
    pytest.param(lambda x: -x, id="-x"), pytest.param(lambda x: np.float32(2) * x, id="np.float32*x"),
    pytest.param(lambda x: nd.maximum(x, 0.7), id="maximum(x,0.7)"),
    pytest.param(lambda x: nd.maximum(0.7, x), id="maximum(0.7,x)"),
    pytest.param(lambda x: nd.minimum(x, 1.1), id="minimum(x,1.1)"),
    pytest.param(lambda x: nd.minimum(1.1, x), id="minimum(1.1,x)"),
]


@pytest.mark.parametrize("fn", SCALAR_FORMS)
def test_scalar_operand_gradients(ctx, rng, fn):
    x = rng.uniform(0.2, 2.0, size=(3, 4))
    x[np.abs(x - 0.7) < 0.05] = 0.5
    x[np.abs(x - 1.1) < 0.05] = 1.5
    check_op(fn, [x], ctx)
    check_op_float32(fn, [x], ctx)


def test_maximum_and_minimum_ties_send_the_gradient_to_the_first_operand(ctx):
    # MXNet's rule: where a == b, maximum(a, b) and minimum(a, b) pass the gradient to a only.
    for fn in (nd.maximum, nd.minimum):
        a = nd.array([1.0, 2.0, 3.0], ctx=ctx)
        b = nd.array([1.0, 0.0, 5.0], ctx=ctx)
        a.attach_grad()
        b.attach_grad()
        with autograd.record():
            y = fn(a, b)
        y.backward()
        first = [1.0, 1.0, 0.0] if fn is nd.maximum else [1.0, 0.0, 1.0]
        assert a.grad.asnumpy().tolist() == first
        assert b.grad.asnumpy().tolist() == [1.0 - f for f in first]


# ------------------------------------------------------------------------------------------ unary
UNARY = [
    pytest.param(lambda x: x.exp(), lambda r, s: r.uniform(-2, 2, s), id="exp"),
    pytest.param(lambda x: x.log(), lambda r, s: r.uniform(0.2, 3, s), id="log"),
    pytest.param(lambda x: x.sqrt(), lambda r, s: r.uniform(0.2, 3, s), id="sqrt"),
    pytest.param(lambda x: x.abs(), _away_from_zero, id="abs"),
    pytest.param(lambda x: nd.square(x), lambda r, s: r.uniform(-2, 2, s), id="square"),
    pytest.param(lambda x: nd.sign(x), _away_from_zero, id="sign"),
    pytest.param(lambda x: nd.negative(x), lambda r, s: r.uniform(-2, 2, s), id="negative"),
    pytest.param(lambda x: x.relu(), _away_from_zero, id="relu"),
    pytest.param(lambda x: nd.relu(x), _away_from_zero, id="nd.relu"),
    pytest.param(lambda x: x.sigmoid(), lambda r, s: r.uniform(-4, 4, s), id="sigmoid"),
    pytest.param(lambda x: x.tanh(), lambda r, s: r.uniform(-2, 2, s), id="tanh"),
    pytest.param(lambda x: nd.softrelu(x), lambda r, s: r.uniform(-3, 3, s), id="softrelu"),
    pytest.param(lambda x: nd.softsign(x), lambda r, s: r.uniform(-3, 3, s), id="softsign"),
    pytest.param(lambda x: x.clip(-0.5, 1.0), lambda r, s: r.choice([-1.5, -0.2, 0.4, 1.7], s)
                 + r.uniform(-0.1, 0.1, s), id="clip"),
    pytest.param(lambda x: nd.clip(x, None, 0.3), lambda r, s: _away_from_zero(r, s) + 0.3, id="clip-high"),
    pytest.param(lambda x: nd.Activation(x, "tanh"), lambda r, s: r.uniform(-2, 2, s), id="Activation"),
]


@pytest.mark.parametrize("shape", [(1,), (1, 1, 1), (3, 4), (2, 1, 3)], ids=str)
@pytest.mark.parametrize("fn, sample", UNARY)
def test_unary_gradients(ctx, rng, fn, sample, shape):
    check_op(fn, [sample(rng, shape)], ctx)


@pytest.mark.parametrize("fn, sample", UNARY)
def test_unary_gradients_float32(ctx, rng, fn, sample):
    # On the emulated gpu(0) the float32 ReLU forward and backward are the custom kernels.
    check_op_float32(fn, [sample(rng, (5, 7))], ctx)


def test_relu_gradient_is_zero_where_the_input_is_negative_or_zero(ctx):
    for dtype in ("float32", "float64"):
        x = nd.array([-2.0, 0.0, 3.0], ctx=ctx, dtype=dtype)
        x.attach_grad()
        with autograd.record():
            y = nd.relu(x)
        y.backward(nd.array([5.0, 5.0, 5.0], ctx=ctx, dtype=dtype))
        assert x.grad.asnumpy().tolist() == [0.0, 0.0, 5.0]


# ------------------------------------------------------------------------------------------ softmax
@pytest.mark.parametrize("fn", [nd.softmax, nd.log_softmax], ids=["softmax", "log_softmax"])
@pytest.mark.parametrize("shape, axis", [((3, 4), -1), ((3, 4), 0), ((2, 3, 2), 1), ((1, 1), -1), ((5,), 0)],
                         ids=str)
def test_softmax_gradients(ctx, rng, fn, shape, axis):
    check_op(lambda x: fn(x, axis=axis), [rng.uniform(-3, 3, size=shape)], ctx)


# ------------------------------------------------------------------------------------------ dot
DOT_CASES = [
    ((4,), (4,), {}), ((3, 4), (4, 2), {}), ((3, 4), (4,), {}), ((4,), (4, 3), {}), ((1, 1), (1, 1), {}),
    ((2, 3, 4), (4, 2), {}), ((3, 2), (2, 2, 3), {}), ((2, 1, 3), (3, 2, 2), {}),
    ((4, 3), (4, 2), {"transpose_a": True}), ((3, 4), (2, 4), {"transpose_b": True}),
    ((4, 3), (2, 4), {"transpose_a": True, "transpose_b": True}),
    ((3, 2, 2), (3, 2), {"transpose_a": True}), ((2, 3), (2, 2, 3), {"transpose_b": True}),
]


@pytest.mark.parametrize("sa, sb, kw", DOT_CASES, ids=str)
def test_dot_gradients(ctx, rng, sa, sb, kw):
    check_op(lambda a, b: nd.dot(a, b, **kw), [rng.uniform(-1, 1, sa), rng.uniform(-1, 1, sb)], ctx)


def test_dot_gradients_float32_and_matmul_operator(ctx, rng):
    check_op_float32(lambda a, b: a @ b, [rng.uniform(-1, 1, (5, 7)), rng.uniform(-1, 1, (7, 3))], ctx)


@pytest.mark.parametrize("sa, sb, kw", [
    ((2, 3, 4), (2, 4, 2), {}), ((1, 1, 1), (1, 1, 1), {}), ((2, 4, 3), (2, 4, 2), {"transpose_a": True}),
    ((2, 3, 4), (2, 2, 4), {"transpose_b": True}),
    ((2, 4, 3), (2, 2, 4), {"transpose_a": True, "transpose_b": True}),
], ids=str)
def test_batch_dot_gradients(ctx, rng, sa, sb, kw):
    check_op(lambda a, b: nd.batch_dot(a, b, **kw), [rng.uniform(-1, 1, sa), rng.uniform(-1, 1, sb)], ctx)


# ------------------------------------------------------------------------------------------ reductions
@pytest.mark.parametrize("name", ["sum", "mean", "max", "min"])
@pytest.mark.parametrize("axis, keepdims, exclude", [
    (None, False, False), (None, True, False), (0, False, False), (-1, True, False), ((0, 2), False, False),
    (1, False, True), (1, True, False),
], ids=str)
def test_reduction_gradients(ctx, rng, name, axis, keepdims, exclude):
    x = rng.permutation(24).reshape(2, 3, 4) * 0.1 + rng.uniform(0, 0.01, (2, 3, 4))  # no ties
    check_op(lambda a: getattr(nd, name)(a, axis=axis, keepdims=keepdims, exclude=exclude), [x], ctx)


@pytest.mark.parametrize("name", ["sum", "mean", "max", "min"])
def test_reduction_gradients_with_size_1_dims(ctx, rng, name):
    x = rng.uniform(-1, 1, (1, 3, 1))
    check_op(lambda a: getattr(a, name)(axis=1), [x], ctx)
    check_op(lambda a: getattr(a, name)(axis=(0, 2), keepdims=True), [x], ctx)
    check_op(lambda a: getattr(a, name)(), [rng.uniform(-1, 1, (1,))], ctx)


def test_max_ties_share_the_gradient(ctx):
    x = nd.array([[3.0, 1.0, 3.0], [0.0, 2.0, 1.0]], ctx=ctx)
    x.attach_grad()
    with autograd.record():
        y = x.max(axis=1)
    y.backward(nd.array([4.0, 1.0], ctx=ctx))
    assert x.grad.asnumpy().tolist() == [[2.0, 0.0, 2.0], [0.0, 1.0, 0.0]]


# ------------------------------------------------------------------------------------------ shapes
SHAPE_OPS = [
    pytest.param(lambda x: x.reshape((4, -1)), (2, 3, 2), id="reshape-1"),
    pytest.param(lambda x: x.reshape((0, -1)), (2, 3, 2), id="reshape0"),
    pytest.param(lambda x: x.T, (2, 3, 2), id="T"),
    pytest.param(lambda x: x.transpose((1, 2, 0)), (2, 3, 2), id="transpose-axes"),
    pytest.param(lambda x: x.transpose((1, 0)), (3, 1), id="transpose-size1"),
    pytest.param(lambda x: x.swapaxes(0, 2), (2, 3, 2), id="swapaxes"),
    pytest.param(lambda x: x.expand_dims(1), (2, 3), id="expand_dims"),
    pytest.param(lambda x: x.expand_dims(-1), (1, 3), id="expand_dims-last"),
    pytest.param(lambda x: x.squeeze(), (2, 1, 3, 1), id="squeeze"),
    pytest.param(lambda x: x.flatten(), (2, 3, 2), id="flatten"),
    pytest.param(lambda x: x[1], (3, 4), id="x[1]"),
    pytest.param(lambda x: x[1, 2], (3, 4), id="x[1,2]"),
    pytest.param(lambda x: x[:, 1:3], (3, 4), id="x[:,1:3]"),
    pytest.param(lambda x: x[::-2, ::3], (3, 4), id="x[::-2,::3]"),
    pytest.param(lambda x: x[..., None, 0], (3, 4), id="x[...,None,0]"),
    pytest.param(lambda x: x[[0, 2, 0, 0]], (3, 4), id="repeated-rows"),
    pytest.param(lambda x: x[:, [3, 3, 1]], (3, 4), id="repeated-cols"),
    pytest.param(lambda x: x[nd.array([2, 2, 1], ctx=x.context)], (3, 4), id="ndarray-index"),
    pytest.param(lambda x: x.astype("float64"), (3, 4), id="astype"),
    pytest.param(lambda x: x.copy(), (3, 4), id="copy"),
    pytest.param(lambda x: x.as_in_context(gp.cpu(1)), (3, 4), id="as_in_context"),
    pytest.param(lambda x: x.copyto(gp.cpu(2)), (3, 4), id="copyto-ctx"),
    pytest.param(lambda x: x.reshape(-1)[3:9].reshape((2, 3)).T * x[0, :2], (3, 4), id="chain"),
]


@pytest.mark.parametrize("fn, shape", SHAPE_OPS)
def test_shape_op_gradients(ctx, rng, fn, shape):
    check_op(fn, [rng.uniform(-1, 1, shape)], ctx)


@pytest.mark.parametrize("dim", [0, 1, -1])
def test_concat_gradients(ctx, rng, dim):
    shapes = {0: [(1, 2, 2), (2, 2, 2), (3, 2, 2)], 1: [(2, 1, 2), (2, 3, 2), (2, 2, 2)],
              -1: [(2, 2, 1), (2, 2, 3), (2, 2, 2)]}[dim]
    check_op(lambda a, b, c: nd.concat(a, b, c, dim=dim), [rng.uniform(-1, 1, s) for s in shapes], ctx)


@pytest.mark.parametrize("axis, shapes", [
    (0, [(1, 2, 3), (2, 2, 3)]),
    (1, [(2, 1, 3), (2, 3, 3), (2, 2, 3)]),
    (2, [(2, 2, 1), (2, 2, 2), (2, 2, 3), (2, 2, 1)]),
    (-1, [(3, 2), (3, 1), (3, 4)]),
    (-2, [(2, 3), (1, 3), (4, 3)]),
])
def test_concatenate_gradients(ctx, rng, axis, shapes):
    # nd.concatenate takes a list (MXNet's legacy form), and is differentiable (MXNet's is not)
    check_op(lambda *arrays: nd.concatenate(list(arrays), axis=axis),
             [rng.uniform(-1, 1, s) for s in shapes], ctx)


def test_concatenate_gradients_of_a_repeated_and_a_single_array(ctx, rng):
    # the same array twice sums both slices' gradients; always_copy=False on one array is itself
    check_op(lambda a, b: nd.concatenate((a, b, a), axis=1),
             [rng.uniform(-1, 1, (2, 3)), rng.uniform(-1, 1, (2, 1))], ctx)
    check_op(lambda a: nd.concatenate([a], axis=0, always_copy=False) * a, [rng.uniform(-1, 1, (3, 2))], ctx)
    check_op(lambda a: nd.concatenate([a], axis=0), [rng.uniform(-1, 1, (3, 2))], ctx)


@pytest.mark.parametrize("axis", [0, 1, 2, -1])
def test_stack_gradients(ctx, rng, axis):
    check_op(lambda a, b, c: nd.stack(a, b, c, axis=axis), [rng.uniform(-1, 1, (2, 3)) for _ in range(3)],
             ctx)


def test_astype_gradient_is_cast_back(ctx):
    x = nd.array([1.0, 2.0], ctx=ctx, dtype="float32")
    x.attach_grad()
    with autograd.record():
        y = (x.astype("float64") * 3).sum()
    y.backward()
    assert x.grad.dtype == np.float32 and x.grad.asnumpy().tolist() == [3.0, 3.0]


# ------------------------------------------------------------------------------------------ composites
def test_composite_expression(ctx, rng):
    def fn(w, x, b):
        h = nd.dot(x, w.T) + b
        return (nd.log_softmax(h.tanh() * 2, axis=1) * (h.sigmoid() + 1)).mean(axis=0)
    check_op(fn, [rng.uniform(-1, 1, (4, 3)), rng.uniform(-1, 1, (5, 3)), rng.uniform(-1, 1, (4,))], ctx)


def test_value_used_in_many_places(ctx, rng):
    def fn(x):
        y = x.exp()
        return y * x + (y / x).sum(axis=0) - nd.concat(x, y, dim=0)[1:3] + x[0]
    check_op(fn, [rng.uniform(0.5, 1.5, (2, 3))], ctx)


def test_dense_cpu_path_gradients(ctx, rng):
    # nd.dense on cpu runs NumPy; on the emulated gpu(0) float64 also runs NumPy (the kernels are float32).
    for activation in (None, "relu"):
        def fn(x, w, b):
            return nd.dense(x, w, b, activation=activation)
        x = _away_from_zero(rng, (3, 4))
        w = _away_from_zero(rng, (2, 4))
        b = rng.uniform(-1, 1, (2,))
        with autograd.pause():
            z = nd.dot(nd.array(x, dtype="float64"), nd.array(w, dtype="float64").T).asnumpy() + b
        if np.abs(z).min() < 0.05:  # keep pre-activations away from the ReLU kink
            b = b + 0.1
        check_op(fn, [x, w, b], ctx)


def test_comparisons_are_constants_in_the_graph(ctx, rng):
    x = _away_from_zero(rng, (3, 4))
    check_op(lambda a: a * (a > 0), [x], ctx)  # ReLU written with a mask
    check_op(lambda a: a * a * (a.abs() >= 1), [x], ctx)
    check_op(lambda a: (a == a) * a + (a != 0.5), [x], ctx)


# ------------------------------------------------------------------------------------------ indices
@pytest.mark.parametrize("shape, idx, axis", [
    ((4, 3), [2, 0, 2, 3], 0),          # a repeated row: its gradient is the sum of both reads
    ((2, 4, 3), [[1, 1], [3, 0]], 1),
    ((2, 3), [2, 2, 0], -1),
    ((1,), [0, 0], 0),
], ids=str)
def test_take_gradients(ctx, rng, shape, idx, axis):
    check_op(lambda a: nd.take(a, nd.array(idx, ctx=a.context), axis=axis), [rng.uniform(-1, 1, shape)],
             ctx)


@pytest.mark.parametrize("shape, axis", [((4, 3), -1), ((4, 3), 0), ((2, 3, 4), 1), ((1, 1), 1)], ids=str)
def test_pick_gradients(ctx, rng, shape, axis):
    dropped = tuple(n for i, n in enumerate(shape) if i != axis % len(shape))
    idx = np.random.default_rng(7).integers(0, shape[axis], size=dropped)
    check_op(lambda a: nd.pick(a, nd.array(idx, ctx=a.context), axis=axis), [rng.uniform(-1, 1, shape)], ctx)
    check_op(lambda a: nd.pick(a, nd.array(idx, ctx=a.context), axis=axis, keepdims=True).exp(),
             [rng.uniform(-1, 1, shape)], ctx)


def test_softmax_regression_from_scratch_loss_gradient(ctx, rng):
    # d2l's cross_entropy(y_hat, y) = -nd.pick(y_hat, y).log() on softmax(X·W + b)
    y = nd.array([2, 0, 1, 1], ctx=ctx)

    def fn(x, w, b):
        return -nd.pick(nd.softmax(nd.dot(x, w) + b), y).log()
    check_op(fn, [rng.uniform(-1, 1, (4, 3)), rng.uniform(-1, 1, (3, 3)), rng.uniform(-1, 1, (3,))], ctx)


def test_argmax_and_one_hot_are_constants(ctx):
    x = nd.array([[1.0, 3.0], [4.0, 2.0]], ctx=ctx)
    x.attach_grad()
    with autograd.record():
        y = (x * nd.one_hot(x.argmax(axis=1), 2)).sum()
    y.backward()
    assert x.grad.asnumpy().tolist() == [[0.0, 1.0], [1.0, 0.0]]
