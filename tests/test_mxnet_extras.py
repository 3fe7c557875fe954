"""MXNet 1.x operators and helpers added for d2l code: where, split, broadcasting, tile/repeat/slice_axis/
flip, sort/argsort/topk, ``autograd.grad`` and ``gluon.utils``.

Forward values are checked against float64 NumPy, gradients against central finite differences
(``check_op`` from test_ops_gradients), and semantics against values observed with MXNet 1.9.1.
"""
import numpy as np
import pytest

import gpuparams as gp
from gpuparams import autograd, backend, gluon, nd
from gpuparams.autograd import AutogradError
from gpuparams.ops import ContextMismatchError, ShapeError
from gpuparams.ops._core import result

from test_ops_gradients import check_op, check_op_float32


def _vals(x):
    return x.asnumpy().tolist()


def _distinct(rng, shape):
    """Values at least 0.05 apart, so sorting is not ambiguous under a finite-difference step."""
    n = int(np.prod(shape))
    return (rng.permutation(n) * 0.1 + rng.uniform(0, 0.05, n) - n * 0.05).reshape(shape)


# ------------------------------------------------------------------------------------------ where
def test_where_matches_numpy(ctx, rng):
    x, y = rng.uniform(-2, 2, (3, 4)), rng.uniform(-2, 2, (3, 4))
    cond = rng.integers(-1, 2, (3, 4)).astype(np.float32)
    got = nd.where(nd.array(cond, ctx=ctx), nd.array(x, ctx=ctx, dtype="float64"),
                   nd.array(y, ctx=ctx, dtype="float64"))
    assert got.context is ctx and got.dtype == np.float64
    np.testing.assert_array_equal(got.asnumpy(), np.where(cond != 0, x, y))


def test_where_mxnet_values(ctx):
    x = nd.array([[1, 2, 3], [4, 5, 6]], ctx=ctx)
    y = nd.array([[10, 20, 30], [40, 50, 60]], ctx=ctx)
    # observed with MXNet 1.9.1
    assert _vals(nd.where(nd.array([[1, 0, 1], [0, 0, 2]], ctx=ctx), x, y)) == [[1, 20, 3], [40, 50, 6]]
    assert _vals(nd.where(nd.array([1, 0], ctx=ctx), x, y)) == [[1, 2, 3], [40, 50, 60]]  # whole rows
    # NaN is nonzero (observed with MXNet 1.9.1)
    assert _vals(nd.where(nd.array([[np.nan, 0, 1], [0, 0, -1]], ctx=ctx), x, y)) == [[1, 20, 3], [40, 50, 6]]
    # the condition's dtype may differ; x's dtype is kept (observed with MXNet 1.9.1)
    out = nd.where(nd.array([1, 0], ctx=ctx, dtype="uint8"), nd.array([1, 2], ctx=ctx, dtype="int64"),
                   nd.array([3, 4], ctx=ctx, dtype="int64"))
    assert out.dtype == np.int64 and _vals(out) == [1, 4]
    rows = nd.where(nd.array([1, 0], ctx=ctx), nd.ones((2, 2, 2), ctx=ctx), nd.zeros((2, 2, 2), ctx=ctx))
    assert _vals(rows) == [[[1, 1], [1, 1]], [[0, 0], [0, 0]]]


def test_where_gradients(ctx, rng):
    cond = nd.array([[1, 0, 2, 0], [0, 0, 1, -1], [1, 1, 0, 0]], ctx=ctx)
    check_op(lambda a, b: nd.where(cond, a, b), [rng.uniform(-1, 1, (3, 4)), rng.uniform(-1, 1, (3, 4))], ctx)
    check_op_float32(lambda a, b: nd.where(cond, a, b) * a,
                     [rng.uniform(-1, 1, (3, 4)), rng.uniform(-1, 1, (3, 4))], ctx)
    rows = nd.array([0, 1, 1], ctx=ctx)
    check_op(lambda a, b: nd.where(rows, a, b), [rng.uniform(-1, 1, (3, 2)), rng.uniform(-1, 1, (3, 2))], ctx)


def test_where_gradient_mxnet_values_and_no_gradient_for_the_condition(ctx):
    x = nd.array([[1, 2, 3], [4, 5, 6]], ctx=ctx)
    y = nd.array([[10, 20, 30], [40, 50, 60]], ctx=ctx)
    c = nd.array([[1, 0, 1], [0, 0, 2]], ctx=ctx)
    for v in (x, y, c):
        v.attach_grad()
    with autograd.record():
        z = nd.where(c, x, y)
    z.backward(nd.array([[1, 2, 3], [4, 5, 6]], ctx=ctx))
    # observed with MXNet 1.9.1
    assert _vals(x.grad) == [[1, 0, 3], [0, 0, 6]]
    assert _vals(y.grad) == [[0, 2, 0], [4, 5, 0]]
    assert _vals(c.grad) == [[0, 0, 0], [0, 0, 0]]


def test_where_errors_name_shapes_dtypes_and_fix(ctx):
    x, y = nd.ones((2, 3), ctx=ctx), nd.zeros((2, 3), ctx=ctx)
    with pytest.raises(ShapeError, match=r"\(2, 3\).*\(3,\).*broadcast_to"):
        nd.where(x, x, nd.zeros((3,), ctx=ctx))  # MXNet 1.9.1 refuses to broadcast x and y
    with pytest.raises(ShapeError, match=r"\(3,\).*\(2, 3\)"):
        nd.where(nd.ones((3,), ctx=ctx), x, y)  # a 1-D condition needs x.shape[0] entries
    with pytest.raises(TypeError, match=r"float32.*float64.*astype"):
        nd.where(x, x, y.astype("float64"))
    with pytest.raises(TypeError, match="y must be an NDArray"):
        nd.where(x, x, 0)  # MXNet 1.9.1: "Argument y must have NDArray type"
    with pytest.raises(ContextMismatchError, match=r"cpu\(0\).*cpu\(1\).*as_in_context"):
        nd.where(nd.ones((2,)), nd.ones((2,)), nd.ones((2,), ctx=gp.cpu(1)))


# ------------------------------------------------------------------------------------------ split
@pytest.mark.parametrize("shape, n, axis", [((2, 6), 3, 1), ((4, 2), 2, 0), ((2, 3, 4), 2, -1),
                                            ((6,), 3, 0)], ids=str)
def test_split_matches_numpy(ctx, rng, shape, n, axis):
    x = rng.uniform(-1, 1, shape)
    parts = nd.split(nd.array(x, ctx=ctx, dtype="float64"), n, axis=axis)
    assert isinstance(parts, list) and len(parts) == n
    for got, want in zip(parts, np.split(x, n, axis=axis)):
        assert got.context is ctx and got.dtype == np.float64
        np.testing.assert_array_equal(got.asnumpy(), want)


def test_split_mxnet_semantics(ctx):
    x = nd.arange(12, ctx=ctx).reshape((2, 6))
    # observed with MXNet 1.9.1: the default axis is 1, num_outputs=1 returns the array itself
    assert [_vals(p) for p in nd.split(x, 3)] == [[[0, 1], [6, 7]], [[2, 3], [8, 9]], [[4, 5], [10, 11]]]
    one = nd.split(x, 1)
    assert isinstance(one, nd.NDArray) and one.shape == (2, 6)
    squeezed = nd.split(x, 2, axis=0, squeeze_axis=True)
    assert [p.shape for p in squeezed] == [(6,), (6,)]
    assert _vals(squeezed[1]) == [6, 7, 8, 9, 10, 11]
    one_squeezed = nd.split(nd.arange(6, ctx=ctx).reshape((1, 6)), 1, axis=0, squeeze_axis=True)
    assert isinstance(one_squeezed, nd.NDArray) and one_squeezed.shape == (6,)
    # the method, positional num_outputs, and the SliceChannel alias (all present in MXNet 1.9.1)
    assert [p.shape for p in x.split(2)] == [(2, 3), (2, 3)]
    assert [_vals(p) for p in nd.SliceChannel(x, num_outputs=2)] == [_vals(p) for p in x.split(2)]
    ints = nd.split(x.astype("int32"), 2)
    assert ints[0].dtype == np.int32 and _vals(ints[0]) == [[0, 1, 2], [6, 7, 8]]


def test_split_parts_are_copies(ctx):
    x = nd.arange(6, ctx=ctx).reshape((2, 3))
    part = nd.split(x, 3)[0]
    part[:] = 100  # MXNet 1.9.1: x is unchanged
    assert _vals(x) == [[0, 1, 2], [3, 4, 5]]


def test_split_errors_name_the_shape_and_the_fix(ctx):
    x = nd.ones((2, 6), ctx=ctx)
    with pytest.raises(ShapeError, match=r"\(2, 6\).*size 6.*num_outputs=4.*even_split=False"):
        nd.split(x, 4)
    with pytest.raises(ShapeError, match=r"squeeze_axis=True.*\(2, 6\).*num_outputs=3"):
        nd.split(x, 3, squeeze_axis=True)
    with pytest.raises(ValueError, match="num_outputs must be at least 1"):
        nd.split(x, 0)
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        nd.split(x, 2, axis=2)
    with pytest.raises(ValueError, match="axis 1 is out of range"):
        nd.split(nd.ones((4,), ctx=ctx), 2)  # MXNet's default axis=1 does not exist on 1-D data


def test_split_gradients(ctx, rng):
    def fn(a):
        return nd.concat(*[p * (i + 1) for i, p in enumerate(nd.split(a, 3, axis=1))], dim=0)
    check_op(fn, [rng.uniform(-1, 1, (2, 6))], ctx)
    check_op(lambda a: nd.split(a, 2, axis=0, squeeze_axis=True)[1].exp(), [rng.uniform(-1, 1, (2, 3))], ctx)


def test_split_gradient_mxnet_values(ctx):
    a = nd.arange(12, ctx=ctx).reshape((2, 6))
    a.attach_grad()
    with autograd.record():
        parts = nd.split(a, 3)
        z = parts[0] * 1 + parts[2] * 2
    z.backward()
    assert _vals(a.grad) == [[1, 1, 0, 0, 2, 2], [1, 1, 0, 0, 2, 2]]  # observed with MXNet 1.9.1


# ------------------------------------------------------------------------------------------ broadcasting
@pytest.mark.parametrize("shape, target", [((2, 1), (2, 3)), ((1, 3), (4, 3)), ((1, 1, 2), (3, 2, 2)),
                                           ((2, 3), (2, 3)), ((2, 1), (0, 4))], ids=str)
def test_broadcast_to_matches_numpy_and_its_gradient(ctx, rng, shape, target):
    x = rng.uniform(-1, 1, shape)
    want_shape = tuple(n if t == 0 else t for n, t in zip(shape, target))
    got = nd.broadcast_to(nd.array(x, ctx=ctx, dtype="float64"), target)
    assert got.context is ctx
    np.testing.assert_array_equal(got.asnumpy(), np.broadcast_to(x, want_shape))
    check_op(lambda a: nd.broadcast_to(a, target), [x], ctx)
    check_op(lambda a: a.broadcast_to(target) * a, [x], ctx)


def test_broadcast_to_mxnet_values(ctx):
    b = nd.array([[1], [5]], ctx=ctx)
    # observed with MXNet 1.9.1 (a 0 in the target keeps that dimension)
    assert _vals(nd.broadcast_to(b, shape=(2, 3))) == [[1, 1, 1], [5, 5, 5]]
    assert _vals(nd.broadcast_to(b, shape=(0, 3))) == [[1, 1, 1], [5, 5, 5]]
    assert _vals(b.broadcast_to([2, 4])) == [[1, 1, 1, 1], [5, 5, 5, 5]]
    ints = nd.broadcast_to(nd.array([[1], [2]], ctx=ctx, dtype="int32"), shape=(2, 2))
    assert ints.dtype == np.int32 and _vals(ints) == [[1, 1], [2, 2]]
    b.attach_grad()
    with autograd.record():
        z = nd.broadcast_to(b, (2, 3))
    z.backward(nd.array([[1, 2, 3], [4, 5, 6]], ctx=ctx))
    assert _vals(b.grad) == [[6], [15]]  # observed with MXNet 1.9.1


def test_broadcast_to_result_is_a_new_array(ctx):
    b = nd.array([[1], [5]], ctx=ctx)
    out = nd.broadcast_to(b, (2, 3))
    out[0, 0] = 7
    assert _vals(out) == [[7, 1, 1], [5, 5, 5]] and _vals(b) == [[1], [5]]


def test_broadcast_to_errors(ctx):
    # MXNet 1.9.1 refuses a different number of dimensions, a non-1 dimension that changes, and -1
    with pytest.raises(ShapeError, match=r"\(3,\).*\(2, 3\).*reshape\(\(1, 3\)\)"):
        nd.broadcast_to(nd.ones((3,), ctx=ctx), (2, 3))
    with pytest.raises(ShapeError, match=r"\(2, 3\).*\(2, 6\).*dimension 1 has size 3"):
        nd.broadcast_to(nd.ones((2, 3), ctx=ctx), (2, 6))
    with pytest.raises(ShapeError, match=r"\(2, 1\).*\(-1, 4\)"):
        nd.broadcast_to(nd.ones((2, 1), ctx=ctx), (-1, 4))


def test_broadcast_axis(ctx, rng):
    x = nd.ones((1, 2, 1), ctx=ctx)
    # observed with MXNet 1.9.1
    assert nd.broadcast_axis(x, axis=2, size=3).shape == (1, 2, 3)
    assert nd.broadcast_axis(x, axis=(0, 2), size=(2, 3)).shape == (2, 2, 3)
    assert nd.broadcast_axis(x).shape == (1, 2, 1)
    assert x.broadcast_axes(axis=0, size=4).shape == (4, 2, 1)
    assert _vals(nd.broadcast_axes(nd.array([[1, 2]], ctx=ctx), axis=0, size=2)) == [[1, 2], [1, 2]]
    assert nd.broadcast_axis(x, axis=-1, size=3).shape == (1, 2, 3)  # negative axes: our extension
    col = nd.array([[1], [2]], ctx=ctx)
    col.attach_grad()
    with autograd.record():
        z = nd.broadcast_axis(col, axis=1, size=3)
    z.backward(nd.arange(6, ctx=ctx).reshape((2, 3)))
    assert _vals(z) == [[1, 1, 1], [2, 2, 2]] and _vals(col.grad) == [[3], [12]]  # observed with MXNet 1.9.1
    check_op(lambda a: nd.broadcast_axis(a, axis=(0, 2), size=(3, 2)), [rng.uniform(-1, 1, (1, 3, 1))], ctx)
    with pytest.raises(ShapeError, match=r"axis 1 .*\(1, 2, 1\) has size 2"):
        nd.broadcast_axis(x, axis=1, size=3)
    with pytest.raises(ValueError, match=r"2 axes .* but 1 sizes"):
        nd.broadcast_axis(x, axis=(0, 2), size=(3,))
    with pytest.raises(ValueError, match="axis 3 is out of range"):
        nd.broadcast_axis(x, axis=3, size=3)


BROADCAST_ARITH = [
    ("broadcast_add", np.add), ("broadcast_plus", np.add), ("broadcast_sub", np.subtract),
    ("broadcast_minus", np.subtract), ("broadcast_mul", np.multiply), ("broadcast_div", np.divide),
    ("broadcast_power", np.power), ("broadcast_maximum", np.maximum), ("broadcast_minimum", np.minimum),
]
BROADCAST_COMPARE = [
    ("broadcast_equal", np.equal), ("broadcast_not_equal", np.not_equal), ("broadcast_greater", np.greater),
    ("broadcast_greater_equal", np.greater_equal), ("broadcast_lesser", np.less),
    ("broadcast_lesser_equal", np.less_equal), ("broadcast_logical_and", np.logical_and),
    ("broadcast_logical_or", np.logical_or), ("broadcast_logical_xor", np.logical_xor),
]
BROADCAST_SHAPES = [((2, 3), (2, 1)), ((2, 3), (3,)), ((4, 1, 3), (1, 2, 1)), ((1,), (2, 2))]


@pytest.mark.parametrize("name, ref", BROADCAST_ARITH + BROADCAST_COMPARE,
                         ids=lambda p: getattr(p, "__name__", p))
@pytest.mark.parametrize("sa, sb", BROADCAST_SHAPES, ids=str)
def test_broadcast_family_matches_numpy(ctx, rng, name, ref, sa, sb):
    a = rng.uniform(0.5, 2.0, sa).round(1)
    b = rng.uniform(0.5, 2.0, sb).round(1)
    b.reshape(-1)[0] = a.reshape(-1)[0]  # at least one equal pair for the comparisons
    got = getattr(nd, name)(nd.array(a, ctx=ctx, dtype="float64"), nd.array(b, ctx=ctx, dtype="float64"))
    assert got.context is ctx and got.dtype == np.float64
    np.testing.assert_allclose(got.asnumpy(), ref(a, b).astype(np.float64), rtol=1e-12)


@pytest.mark.parametrize("name", [n for n, _ in BROADCAST_ARITH])
def test_broadcast_family_gradients(ctx, rng, name):
    fn = getattr(nd, name)
    a = rng.uniform(0.5, 2.0, (2, 3))
    check_op(fn, [a, rng.uniform(0.5, 2.0, (2, 1))], ctx)
    check_op(fn, [rng.uniform(0.5, 2.0, (3,)), rng.uniform(0.5, 2.0, (4, 1))], ctx)


def test_broadcast_family_mxnet_values(ctx):
    a = nd.array([[1, 2, 3], [4, 5, 6]], ctx=ctx)
    b = nd.array([[1], [5]], ctx=ctx)
    # observed with MXNet 1.9.1
    assert _vals(nd.broadcast_add(a, b)) == [[2, 3, 4], [9, 10, 11]]
    assert _vals(nd.broadcast_add(a, nd.array([3, 2, 1], ctx=ctx))) == [[4, 4, 4], [7, 7, 7]]
    assert _vals(nd.broadcast_greater(a, b)) == [[0, 1, 1], [0, 0, 1]]
    assert _vals(nd.broadcast_lesser_equal(a, b)) == [[1, 0, 0], [1, 1, 0]]
    assert _vals(nd.broadcast_power(a, b)) == [[1, 2, 3], [1024, 3125, 7776]]
    assert _vals(nd.broadcast_logical_and(a - 1, b - 1)) == [[0, 0, 0], [1, 1, 1]]
    assert _vals(nd.broadcast_logical_or(a - 1, b - 1)) == [[0, 1, 1], [1, 1, 1]]
    assert _vals(nd.broadcast_logical_xor(a - 1, b - 1)) == [[0, 1, 1], [0, 0, 0]]
    assert _vals(nd.broadcast_logical_and(nd.array([[0.5, 0, -2]], ctx=ctx), nd.array([[1], [0]], ctx=ctx))) \
        == [[1, 0, 1], [0, 0, 0]]
    ints = nd.broadcast_greater(a.astype("int32"), b.astype("int32"))
    assert ints.dtype == np.int32 and _vals(ints) == [[0, 1, 1], [0, 0, 1]]
    a.attach_grad()
    b.attach_grad()
    with autograd.record():
        y = nd.broadcast_div(a, b)
    y.backward()
    np.testing.assert_allclose(a.grad.asnumpy(), [[1, 1, 1], [0.2, 0.2, 0.2]], rtol=1e-6)
    np.testing.assert_allclose(b.grad.asnumpy(), [[-6], [-0.6]], rtol=1e-6)


def test_broadcast_family_errors(ctx):
    a = nd.ones((2, 3), ctx=ctx)
    with pytest.raises(TypeError, match=r"rhs must be an NDArray.*nd\.add"):
        nd.broadcast_add(a, 2)  # MXNet 1.9.1: "Argument rhs must have NDArray type"
    with pytest.raises(TypeError, match=r"float32.*float64.*astype\('float32'\)"):
        nd.broadcast_mul(a, a.astype("float64"))  # MXNet 1.9.1 refuses mixed dtypes
    with pytest.raises(ShapeError, match=r"\(2, 3\).*\(3, 2\).*broadcast"):
        nd.broadcast_add(a, nd.ones((3, 2), ctx=ctx))
    with pytest.raises(ContextMismatchError, match=r"cpu\(0\).*cpu\(1\).*as_in_context"):
        nd.broadcast_sub(nd.ones((2,)), nd.ones((2,), ctx=gp.cpu(1)))


# ------------------------------------------------------------------------------------------ tile, repeat
@pytest.mark.parametrize("shape, reps", [((2, 3), (2,)), ((2, 3), (2, 2)), ((2, 3), (2, 1, 2)), ((3,), 2),
                                         ((2, 1, 2), (1, 3)), ((2, 3), ())], ids=str)
def test_tile_matches_numpy_and_its_gradient(ctx, rng, shape, reps):
    x = rng.uniform(-1, 1, shape)
    got = nd.tile(nd.array(x, ctx=ctx, dtype="float64"), reps)
    np.testing.assert_array_equal(got.asnumpy(), np.tile(x, reps))
    check_op(lambda a: nd.tile(a, reps=reps), [x], ctx)
    check_op(lambda a: a.tile(reps), [x], ctx)


def test_tile_mxnet_values_and_errors(ctx):
    a = nd.array([[1, 2, 3], [4, 5, 6]], ctx=ctx)
    # observed with MXNet 1.9.1
    assert _vals(nd.tile(a, reps=2)) == [[1, 2, 3, 1, 2, 3], [4, 5, 6, 4, 5, 6]]
    assert nd.tile(a, reps=(2, 1, 2)).shape == (2, 2, 6)
    a.attach_grad()
    with autograd.record():
        y = nd.tile(a, reps=(2, 2))
    y.backward(nd.arange(24, ctx=ctx).reshape((4, 6)))
    assert _vals(a.grad) == [[30, 34, 38], [54, 58, 62]]
    for reps in ((0, 2), (-1, 2)):  # MXNet 1.9.1 refuses both
        with pytest.raises(ValueError, match=r"reps must be positive"):
            nd.tile(a, reps=reps)


@pytest.mark.parametrize("shape, repeats, axis", [((2, 3), 2, None), ((2, 3), 2, 0), ((2, 3), 3, -1),
                                                  ((2, 3, 2), 2, 1), ((4,), 1, 0)], ids=str)
def test_repeat_matches_numpy_and_its_gradient(ctx, rng, shape, repeats, axis):
    x = rng.uniform(-1, 1, shape)
    got = nd.repeat(nd.array(x, ctx=ctx, dtype="float64"), repeats, axis)
    np.testing.assert_array_equal(got.asnumpy(), np.repeat(x, repeats, axis))
    check_op(lambda a: nd.repeat(a, repeats=repeats, axis=axis), [x], ctx)
    check_op(lambda a: a.repeat(repeats, axis=axis), [x], ctx)


def test_repeat_mxnet_values_and_errors(ctx):
    a = nd.array([[1, 2, 3], [4, 5, 6]], ctx=ctx)
    # observed with MXNet 1.9.1
    assert _vals(nd.repeat(a, repeats=2)) == [1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6]
    assert _vals(nd.repeat(a, 2, 1)) == [[1, 1, 2, 2, 3, 3], [4, 4, 5, 5, 6, 6]]
    assert _vals(a.repeat(repeats=2, axis=0)) == [[1, 2, 3], [1, 2, 3], [4, 5, 6], [4, 5, 6]]
    for axis, head in ((1, nd.arange(12, ctx=ctx).reshape((2, 6))), (None, nd.arange(12, ctx=ctx))):
        a.attach_grad()
        with autograd.record():
            y = nd.repeat(a, repeats=2, axis=axis)
        y.backward(head)
        assert _vals(a.grad) == [[1, 5, 9], [13, 17, 21]]
    assert nd.repeat(a, repeats=0).shape == (0,)
    with pytest.raises(ValueError, match="repeats must be non-negative"):
        nd.repeat(a, repeats=-1, axis=0)
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        nd.repeat(a, repeats=2, axis=2)


# ------------------------------------------------------------------------------------------ slice_axis, flip
@pytest.mark.parametrize("axis, begin, end", [(1, 0, 2), (1, 1, None), (-1, -2, -1), (0, 1, 2), (2, 0, 4)],
                         ids=str)
def test_slice_axis_matches_numpy_and_its_gradient(ctx, rng, axis, begin, end):
    x = rng.uniform(-1, 1, (3, 4, 5))
    got = nd.slice_axis(nd.array(x, ctx=ctx, dtype="float64"), axis=axis, begin=begin, end=end)
    key = [slice(None)] * 3
    key[axis] = slice(begin, end)
    np.testing.assert_array_equal(got.asnumpy(), x[tuple(key)])
    check_op(lambda a: nd.slice_axis(a, axis, begin, end), [x], ctx)
    check_op(lambda a: a.slice_axis(axis=axis, begin=begin, end=end).exp(), [x], ctx)


def test_slice_axis_mxnet_values_and_errors(ctx):
    a = nd.array([[1, 2, 3], [4, 5, 6]], ctx=ctx)
    # observed with MXNet 1.9.1
    assert _vals(nd.slice_axis(a, axis=-1, begin=-2, end=-1)) == [[2], [5]]
    assert _vals(a.slice_axis(axis=0, begin=1, end=2)) == [[4, 5, 6]]
    part = nd.slice_axis(a, axis=1, begin=0, end=1)
    part[:] = 100
    assert _vals(a) == [[1, 2, 3], [4, 5, 6]]  # a copy, as in MXNet 1.9.1
    a.attach_grad()
    with autograd.record():
        y = nd.slice_axis(a, axis=1, begin=1, end=3)
    y.backward(nd.array([[1, 2], [3, 4]], ctx=ctx))
    assert _vals(a.grad) == [[0, 1, 2], [0, 3, 4]]
    # MXNet 1.9.1 refuses empty and out-of-range slices
    for begin, end in ((2, 1), (1, 1), (0, 5), (4, None), (-4, None), (0, -4)):
        with pytest.raises(ShapeError, match=rf"begin={begin}, end={end}.*axis 1 \(size 3\).*\(2, 3\)"):
            nd.slice_axis(a, axis=1, begin=begin, end=end)
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        nd.slice_axis(a, axis=2, begin=0, end=1)


@pytest.mark.parametrize("axis", [0, 1, (0, 1), -1, (2, 0)], ids=str)
def test_flip_matches_numpy_and_its_gradient(ctx, rng, axis):
    x = rng.uniform(-1, 1, (2, 3, 4))
    got = nd.flip(nd.array(x, ctx=ctx, dtype="float64"), axis=axis)
    np.testing.assert_array_equal(got.asnumpy(), np.flip(x, axis=axis))
    check_op(lambda a: nd.flip(a, axis), [x], ctx)
    check_op(lambda a: a.flip(axis=axis) * a, [x], ctx)


def test_flip_mxnet_values_and_errors(ctx):
    a = nd.array([[1, 2, 3], [4, 5, 6]], ctx=ctx)
    # observed with MXNet 1.9.1 (reverse is the same operator; flip is also a method)
    assert _vals(nd.flip(a, axis=1)) == [[3, 2, 1], [6, 5, 4]]
    assert _vals(nd.flip(a, axis=(0, 1))) == [[6, 5, 4], [3, 2, 1]]
    assert _vals(nd.reverse(a, axis=0)) == [[4, 5, 6], [1, 2, 3]]
    assert _vals(a.flip(axis=0)) == [[4, 5, 6], [1, 2, 3]]
    ints = nd.flip(nd.array([1, 2, 3], ctx=ctx, dtype="int32"), axis=0)
    assert ints.dtype == np.int32 and _vals(ints) == [3, 2, 1]
    a.attach_grad()
    with autograd.record():
        y = nd.flip(a, axis=1)
    y.backward(nd.arange(6, ctx=ctx).reshape((2, 3)))
    assert _vals(a.grad) == [[2, 1, 0], [5, 4, 3]]
    with pytest.raises(ValueError, match="axis 2 is out of range"):
        nd.flip(a, axis=2)
    with pytest.raises(TypeError):
        nd.flip(a)  # MXNet 1.9.1: "Required parameter axis"


# ------------------------------------------------------------------------------------------ sort, topk
def _stable_order(x, axis, ascend):
    """Reference stable order: ties keep their original order, in descending order too."""
    keys = x if ascend else -x
    return np.argsort(keys, axis=axis, kind="stable")


@pytest.mark.parametrize("axis", [-1, 0, 1, None], ids=str)
@pytest.mark.parametrize("ascend", [True, False], ids=["ascend", "descend"])
def test_sort_and_argsort_match_numpy(ctx, rng, axis, ascend):
    x = rng.integers(0, 4, (3, 5)).astype(np.float64)  # many ties
    order = _stable_order(x if axis is not None else x.reshape(-1), -1 if axis is None else axis, ascend)
    flat = x if axis is not None else x.reshape(-1)
    ax = -1 if axis is None else axis
    xs = nd.array(x, ctx=ctx, dtype="float64")
    got = nd.sort(xs, axis=axis, is_ascend=ascend)
    np.testing.assert_array_equal(got.asnumpy(), np.take_along_axis(flat, order, axis=ax))
    idx = nd.argsort(xs, axis=axis, is_ascend=ascend)
    assert idx.dtype == np.float32 and idx.context is ctx  # MXNet's default index dtype
    np.testing.assert_array_equal(idx.asnumpy(), order)
    assert _vals(xs.sort(axis=axis, is_ascend=ascend)) == _vals(got)
    assert _vals(xs.argsort(axis=axis, is_ascend=ascend)) == _vals(idx)


def test_sort_argsort_mxnet_values(ctx):
    a = nd.array([[3, 1, 2], [1, 3, 3]], ctx=ctx)
    # observed with MXNet 1.9.1
    assert _vals(nd.sort(a)) == [[1, 2, 3], [1, 3, 3]]
    assert _vals(nd.sort(a, axis=0)) == [[1, 1, 2], [3, 3, 3]]
    assert _vals(nd.sort(a, axis=None)) == [1, 1, 2, 3, 3, 3]
    assert _vals(nd.sort(a, is_ascend=False)) == [[3, 2, 1], [3, 3, 1]]
    assert _vals(nd.argsort(a)) == [[1, 2, 0], [0, 1, 2]]
    assert _vals(nd.argsort(a, is_ascend=False)) == [[0, 2, 1], [1, 2, 0]]
    assert _vals(nd.argsort(a, axis=0)) == [[1, 0, 0], [0, 1, 1]]
    ints = nd.sort(a.astype("int32"))
    assert ints.dtype == np.int32 and _vals(ints) == [[1, 2, 3], [1, 3, 3]]
    assert nd.argsort(a.astype("int32")).dtype == np.float32
    assert nd.argsort(a.astype("float64")).dtype == np.float32
    as_int = nd.argsort(a, dtype="int32")
    assert as_int.dtype == np.int32 and _vals(as_int) == [[1, 2, 0], [0, 1, 2]]
    with pytest.raises(ValueError, match=r"axis 2 is out of range.*\(2, 3\)"):
        nd.argsort(a, axis=2)


@pytest.mark.parametrize("axis, ascend", [(1, True), (0, True), (1, False), (None, True)], ids=str)
def test_sort_gradient_mxnet_values(ctx, axis, ascend):
    a = nd.array([[3, 1, 2], [1, 3, 3]], ctx=ctx)
    head = nd.array([[1, 2, 3], [4, 5, 6]], ctx=ctx)
    a.attach_grad()
    with autograd.record():
        z = nd.sort(a, axis=axis, is_ascend=ascend)
    z.backward(head if axis is not None else head.reshape(-1))
    # observed with MXNet 1.9.1 (equal values keep their order)
    want = {(1, True): [[3, 1, 2], [4, 5, 6]], (0, True): [[4, 2, 3], [1, 5, 6]],
            (1, False): [[1, 3, 2], [6, 4, 5]], (None, True): [[4, 1, 3], [2, 5, 6]]}[(axis, ascend)]
    assert _vals(a.grad) == want


@pytest.mark.parametrize("axis", [-1, 0, None], ids=str)
@pytest.mark.parametrize("ascend", [True, False], ids=["ascend", "descend"])
def test_sort_gradients(ctx, rng, axis, ascend):
    check_op(lambda a: nd.sort(a, axis=axis, is_ascend=ascend), [_distinct(rng, (3, 4))], ctx)
    check_op(lambda a: nd.topk(a, axis=axis, k=2, ret_typ="value", is_ascend=ascend),
             [_distinct(rng, (3, 4))], ctx)
    check_op_float32(lambda a: nd.sort(a, axis=axis, is_ascend=ascend) * 2, [_distinct(rng, (2, 5))], ctx)


def test_argsort_is_a_constant(ctx):
    x = nd.array([[3, 1, 2]], ctx=ctx)
    x.attach_grad()
    with autograd.record():
        y = (nd.argsort(x) * x).sum()
    y.backward()
    assert _vals(x.grad) == [[1, 2, 0]]  # the indices, no gradient through argsort itself


def test_topk_mxnet_values(ctx):
    a = nd.array([[3, 1, 2], [1, 3, 3]], ctx=ctx)
    # observed with MXNet 1.9.1
    assert _vals(nd.topk(a)) == [[0], [1]]
    assert _vals(nd.topk(a, k=2)) == [[0, 2], [1, 2]]
    values, indices = nd.topk(a, k=2, ret_typ="both")
    assert _vals(values) == [[3, 2], [3, 3]] and _vals(indices) == [[0, 2], [1, 2]]
    assert indices.dtype == np.float32
    assert _vals(nd.topk(a, k=2, ret_typ="value")) == [[3, 2], [3, 3]]
    assert _vals(nd.topk(a, k=2, ret_typ="mask")) == [[1, 0, 1], [0, 1, 1]]
    assert _vals(nd.topk(a, k=2, ret_typ="value", is_ascend=True)) == [[1, 2], [1, 3]]
    assert _vals(nd.topk(a, axis=None, k=2)) == [0, 4]
    assert _vals(nd.topk(a, axis=0, k=1)) == [[0, 1, 1]]
    assert _vals(nd.topk(a, k=0, ret_typ="value")) == [[3, 2, 1], [3, 3, 1]]
    assert _vals(nd.topk(a, k=-1, ret_typ="value")) == [[3, 2, 1], [3, 3, 1]]
    as_int = nd.topk(a, k=2, dtype="int32")
    assert as_int.dtype == np.int32 and _vals(as_int) == [[0, 2], [1, 2]]
    ints = a.astype("int32")
    assert nd.topk(ints, k=2).dtype == np.float32
    assert nd.topk(ints, k=2, ret_typ="value").dtype == np.int32
    mask = nd.topk(ints[0:1], k=2, ret_typ="mask")
    assert mask.dtype == np.int32 and _vals(mask) == [[1, 0, 1]]
    both = nd.topk(nd.array([[1, 3, 3, 2, 3]], ctx=ctx), k=3, ret_typ="both")
    assert _vals(both[0]) == [[3, 3, 3]] and _vals(both[1]) == [[1, 2, 4]]
    both = nd.topk(nd.array([[1, 1, 3, 1, 3]], ctx=ctx), k=3, ret_typ="both", is_ascend=True)
    assert _vals(both[0]) == [[1, 1, 1]] and _vals(both[1]) == [[0, 1, 3]]
    assert _vals(a.topk(k=1, ret_typ="value")) == [[3], [3]]


def test_topk_gradient_mxnet_values_and_errors(ctx):
    a = nd.array([[3, 1, 2], [1, 3, 3]], ctx=ctx)
    head = nd.array([[1, 2], [4, 5]], ctx=ctx)
    for ret_typ in ("value", "both"):
        a.attach_grad()
        with autograd.record():
            z = nd.topk(a, axis=1, k=2, ret_typ=ret_typ)
            z = z if ret_typ == "value" else z[0]
        z.backward(head)
        assert _vals(a.grad) == [[1, 0, 2], [0, 4, 5]]  # observed with MXNet 1.9.1
    with pytest.raises(ValueError, match=r"k must be an int no larger than 3.*\(2, 3\).*got 4"):
        nd.topk(a, k=4)
    with pytest.raises(ValueError, match=r"ret_typ must be one of .*'foo'"):
        nd.topk(a, k=2, ret_typ="foo")


# ------------------------------------------------------------------------------------------ autograd.grad
def test_grad_returns_gradients_without_touching_grad_buffers(ctx):
    x = nd.array([1.0, 2.0, 3.0], ctx=ctx)
    x.attach_grad()
    with autograd.record():
        y = x * x
    grads = autograd.grad(y, x, retain_graph=True)
    # observed with MXNet 1.9.1: a list even for one variable; x.grad untouched
    assert isinstance(grads, list) and len(grads) == 1
    assert _vals(grads[0]) == [2, 4, 6] and grads[0].context is ctx and grads[0].dtype == np.float32
    assert _vals(x.grad) == [0, 0, 0] and not x._fresh_grad
    assert _vals(autograd.grad([y], [x], head_grads=nd.array([1, 10, 100], ctx=ctx), retain_graph=True)[0]) \
        == [2, 40, 600]
    autograd.backward([y], nd.array([1, 10, 100], ctx=ctx))  # the graph was retained
    assert _vals(x.grad) == [2, 40, 600]  # a lone head gradient with a list of heads (MXNet 1.9.1)


@pytest.mark.parametrize("grad_req", ["write", "add"])
def test_grad_leaves_existing_gradients_alone(ctx, grad_req):
    x = nd.array([1.0, 2.0, 3.0], ctx=ctx)
    w = nd.array([0.5, 0.5, 0.5], ctx=ctx)
    x.attach_grad(grad_req)
    w.attach_grad(grad_req)
    x.grad[:] = 7
    w.grad[:] = 9
    with autograd.record():
        y = (x * w).sum()
    (gx,) = autograd.grad(y, [x])
    assert _vals(gx) == [0.5, 0.5, 0.5]
    assert _vals(x.grad) == [7, 7, 7] and _vals(w.grad) == [9, 9, 9]  # observed with MXNet 1.9.1 ('add')


def test_grad_through_dense_kernels_does_not_write_buffers(ctx, rng):
    # On the emulated gpu(0) float32 dense runs our kernels, which can write straight into .grad.
    xv, wv, bv = rng.uniform(-1, 1, (4, 3)), rng.uniform(-1, 1, (2, 3)), rng.uniform(-1, 1, (2,))
    x, w, b = (nd.array(v, ctx=ctx) for v in (xv, wv, bv))
    for v in (x, w, b):
        v.attach_grad()
    with autograd.record():
        y = (nd.dense(x, w, b, activation="relu") ** 2).sum()
    gx, gw, gb = autograd.grad(y, [x, w, b], retain_graph=True)
    assert all(not v.grad.asnumpy().any() for v in (x, w, b))
    y.backward()
    for g, v in ((gx, x), (gw, w), (gb, b)):
        np.testing.assert_allclose(g.asnumpy(), v.grad.asnumpy(), rtol=1e-6)
    z = np.maximum(xv @ wv.T + bv, 0)
    np.testing.assert_allclose(gb.asnumpy(), (2 * z).sum(axis=0), rtol=1e-5)


def test_grad_matches_finite_differences(ctx, rng):
    def fn(a, b):
        return nd.where(a > 0, a * b, b.exp()).sum(axis=0) + nd.sort(a * 2, axis=0)[0]
    a = rng.uniform(-1, 1, (3, 4))
    a[np.abs(a) < 0.1] = 0.5
    b = rng.uniform(-1, 1, (3, 4))
    head = rng.uniform(0.5, 1.5, (4,))
    from test_ops_gradients import fd_gradient
    want = fd_gradient(fn, [a, b], head, ctx)
    xa, xb = nd.array(a, ctx=ctx, dtype="float64"), nd.array(b, ctx=ctx, dtype="float64")
    xa.attach_grad()
    xb.attach_grad()
    with autograd.record():
        out = fn(xa, xb)
    got = autograd.grad(out, [xa, xb], head_grads=nd.array(head, ctx=ctx, dtype="float64"))
    for g, w in zip(got, want):
        assert g.dtype == np.float64
        np.testing.assert_allclose(g.asnumpy(), w, rtol=1e-6, atol=1e-8)


def test_grad_sums_heads_and_copies_shared_gradients(ctx):
    x = nd.array([1.0, 2.0, 3.0], ctx=ctx)
    v = nd.array([1.0, 1.0, 1.0], ctx=ctx)
    x.attach_grad()
    v.attach_grad()
    with autograd.record():
        y1 = x * x
        y2 = x * 3
        s = x + v
    assert _vals(autograd.grad([y1, y2], [x])[0]) == [5, 7, 9]  # observed with MXNet 1.9.1
    head = nd.array([1.0, 2.0, 3.0], ctx=ctx)
    gx, gv = autograd.grad(s, [x, v], head_grads=head)
    gx[:] = 0  # the results are independent arrays, not the head gradient or each other
    assert _vals(gv) == [1, 2, 3] and _vals(head) == [1, 2, 3]
    assert _vals(autograd.grad(x, [x])[0]) == [1, 1, 1]  # a head that is the variable (MXNet 1.9.1)


def test_grad_frees_the_graph_by_default(ctx):
    x = nd.array([1.0, 2.0], ctx=ctx)
    x.attach_grad()
    with autograd.record():
        y = x * x
    autograd.grad(y, [x])  # retain_graph=None means create_graph, i.e. False (MXNet 1.9.1)
    with pytest.raises(AutogradError, match="retain_graph=True"):
        autograd.grad(y, [x])
    with pytest.raises(AutogradError, match="retain_graph=True"):
        y.backward()


def test_grad_errors(ctx):
    x = nd.array([1.0, 2.0, 3.0], ctx=ctx)
    x.attach_grad()
    with autograd.record():
        h = x * 2
        y = (h * h).sum()
    # create_graph=True works through x*2 and h*h now (tests/test_autograd_higher.py); an operator
    # without a recorded backward is named in the error.
    with autograd.record():
        s = nd.softmax(x * 2).sum()
    with pytest.raises(AutogradError, match="backward of 'softmax' is not recorded"):
        autograd.grad(s, [x], create_graph=True)
    # MXNet 1.9.1: "Cannot differentiate with respect to the 1-th variable because it does not require
    # gradient" (an array without attach_grad, an intermediate result, grad_req='null')
    plain = nd.ones((3,), ctx=ctx)
    nulled = nd.ones((3,), ctx=ctx)
    nulled.attach_grad(grad_req="null")
    for bad in (plain, h, nulled):
        with pytest.raises(AutogradError, match=r"variable 1 \(shape \(3,\)\).*attach_grad\(\)"):
            autograd.grad(y, [x, bad], retain_graph=True)
    unused = nd.ones((2,), ctx=ctx)
    unused.attach_grad()
    with pytest.raises(AutogradError, match=r"variable 1 \(shape \(2,\)\).*unreachable"):
        autograd.grad(y, [x, unused], retain_graph=True)  # MXNet 1.9.1: "unreachable from the outputs"
    with pytest.raises(ValueError, match="1 heads but 2 head gradients"):
        autograd.grad([y], [x], head_grads=[nd.ones((1,), ctx=ctx)] * 2, retain_graph=True)
    with pytest.raises(AutogradError, match="autograd.grad.*autograd.record"):
        autograd.grad(x * 2, [x])  # not recorded
    assert _vals(x.grad) == [0, 0, 0]


def test_grad_of_a_variable_reached_only_without_a_gradient_is_zero(ctx):
    def no_gradient(x):  # a recorded op whose backward gives its input nothing
        def backward(g, needs):
            return (None,)
        return result(x._data * 2, x._ctx, "no_gradient", (x,), backward, saved=())
    x = nd.array([1.0, 2.0], ctx=ctx)
    x.attach_grad()
    with autograd.record():
        y = no_gradient(x)
    (g,) = autograd.grad(y, [x])
    assert _vals(g) == [0, 0] and g.shape == x.shape and g.context is ctx


# ------------------------------------------------------------------------------------------ gluon.utils
def test_gluon_utils_is_reachable_like_in_mxnet():
    from gpuparams.gluon import utils
    from gpuparams import gluon_utils
    assert utils is gluon_utils and gluon.utils is gluon_utils
    assert gluon.utils.split_and_load is gluon_utils.split_and_load
    assert "utils" in dir(gluon)


def test_split_data_mxnet_sizes(ctx):
    x = nd.arange(10, ctx=ctx).reshape((5, 2))
    split_data = gluon.utils.split_data
    # observed with MXNet 1.9.1: the first size % n slices get one extra element
    assert [p.shape for p in split_data(x, 2, even_split=False)] == [(3, 2), (2, 2)]
    for n, k, sizes in [(10, 3, [4, 3, 3]), (10, 4, [3, 3, 2, 2]), (7, 4, [2, 2, 2, 1]),
                        (11, 4, [3, 3, 3, 2]), (3, 5, [1, 1, 1, 0, 0]), (9, 6, [2, 2, 2, 1, 1, 1]),
                        (8, 3, [3, 3, 2]), (2, 2, [1, 1])]:
        parts = split_data(nd.arange(n, ctx=ctx), k, even_split=False)
        assert [p.shape[0] for p in parts] == sizes
        assert np.concatenate([p.asnumpy() for p in parts]).tolist() == list(range(n))
    assert [_vals(p) for p in split_data(x, 2, batch_axis=1)] == [[[0], [2], [4], [6], [8]],
                                                                [[1], [3], [5], [7], [9]]]
    assert [p.shape for p in split_data(x, 2, batch_axis=-1)] == [(5, 1), (5, 1)]
    assert [p.shape for p in split_data(x, 5)] == [(1, 2)] * 5
    whole = split_data(x, 1)
    assert len(whole) == 1 and whole[0] is not x and _vals(whole[0]) == _vals(x)
    parts = split_data(x, 5)
    parts[0][:] = 100  # views of the batch, as in MXNet 1.9.1
    assert _vals(x)[0] == [100, 100] and parts[0].context is ctx


def test_split_data_errors(ctx):
    x = nd.ones((5, 2), ctx=ctx)
    with pytest.raises(ValueError, match=r"\(5, 2\).*evenly into 2 slices.*multiple of 2.*even_split=False"):
        gluon.utils.split_data(x, 2)  # MXNet 1.9.1's message says the same
    with pytest.raises(ValueError, match="num_slice must be a positive int"):
        gluon.utils.split_data(x, 0)
    with pytest.raises(ValueError, match=r"batch_axis 2 is out of range.*\(5, 2\)"):
        gluon.utils.split_data(x, 2, batch_axis=2)
    with pytest.raises(TypeError, match="split_and_load"):
        gluon.utils.split_data(np.ones((4, 2)), 2)


def test_split_and_load_to_two_cpus(ctx):
    x = nd.arange(10, ctx=ctx).reshape((5, 2))
    parts = gluon.utils.split_and_load(x, [gp.cpu(0), gp.cpu(1)], even_split=False)
    # observed with MXNet 1.9.1
    assert [p.context for p in parts] == [gp.cpu(0), gp.cpu(1)]
    assert [_vals(p) for p in parts] == [[[0, 1], [2, 3], [4, 5]], [[6, 7], [8, 9]]]
    with pytest.raises(ValueError, match="even_split=False"):
        gluon.utils.split_and_load(x, [gp.cpu(0), gp.cpu(1)])
    listed = gluon.utils.split_and_load([[1, 2], [3, 4]], [gp.cpu(0), gp.cpu(1)])
    assert [_vals(p) for p in listed] == [[[1, 2]], [[3, 4]]]
    from_numpy = gluon.utils.split_and_load(np.arange(4.0).reshape(2, 2), [gp.cpu(0), gp.cpu(1)])
    assert from_numpy[0].dtype == np.float32  # observed with MXNet 1.9.1
    kept = gluon.utils.split_and_load(x.astype("float64"), [gp.cpu(0), gp.cpu(1)], even_split=False)
    assert kept[1].dtype == np.float64
    single = gluon.utils.split_and_load(x, [ctx])
    assert len(single) == 1 and single[0] is x  # already there (MXNet 1.9.1 returns the same object)
    moved = gluon.utils.split_and_load(x, gp.cpu(1))[0]  # a lone Context: our extension
    assert moved.context == gp.cpu(1) and _vals(moved) == _vals(x)
    with pytest.raises(TypeError, match=r"ctx_list\[1\] must be a Context"):
        gluon.utils.split_and_load(x, [gp.cpu(0), "gpu"])


def test_split_and_load_with_the_emulated_gpu():
    with backend.emulation(True):
        x = nd.arange(8).reshape((4, 2))
        x.attach_grad()
        with autograd.record():
            parts = gluon.utils.split_and_load(x, [gp.cpu(0), gp.gpu(0)])
            losses = [(p * p).sum() for p in parts]
        assert [p.context for p in parts] == [gp.cpu(0), gp.gpu(0)]
        assert [_vals(p) for p in parts] == [[[0, 1], [2, 3]], [[4, 5], [6, 7]]]
        autograd.backward(losses)
        assert _vals(x.grad) == [[0, 2], [4, 6], [8, 10], [12, 14]]  # gradients come back across devices
        on_gpu = gluon.utils.split_and_load(np.ones((2, 3)), [gp.gpu(0)])
        assert on_gpu[0].context == gp.gpu(0) and on_gpu[0].shape == (2, 3)


def test_clip_global_norm_mxnet_values(ctx):
    a, b = nd.array([3.0, 4.0], ctx=ctx), nd.array([[12.0]], ctx=ctx)
    norm = gluon.utils.clip_global_norm([a, b], 1.0)
    # observed with MXNet 1.9.1: 13.0, [0.23076925 0.30769232], [[0.923077]]
    assert isinstance(norm, np.float32) and norm == 13.0
    np.testing.assert_allclose(a.asnumpy(), [0.23076925, 0.30769232], rtol=1e-6)
    np.testing.assert_allclose(b.asnumpy(), [[0.923077]], rtol=1e-6)
    c = nd.array([3.0, 4.0], ctx=ctx)
    assert gluon.utils.clip_global_norm([c], 10.0) == 5.0 and _vals(c) == [3, 4]  # below max_norm: unchanged
    d = nd.array([3.0, 4.0], ctx=ctx)
    lazy = gluon.utils.clip_global_norm([d], 1.0, check_isfinite=False)
    assert isinstance(lazy, nd.NDArray) and lazy.shape == (1,) and lazy.context is ctx
    assert _vals(lazy) == [5.0]
    np.testing.assert_allclose(d.asnumpy(), [0.6, 0.8], rtol=1e-6)  # observed with MXNet 1.9.1


def test_clip_global_norm_across_contexts_and_non_finite_norms(ctx):
    a, b = nd.array([3.0, 4.0], ctx=ctx), nd.array([3.0, 4.0], ctx=gp.cpu(1))
    norm = gluon.utils.clip_global_norm([a, b], 1.0)
    # observed with MXNet 1.9.1: 7.071068, both arrays [0.42426407 0.56568545] on their own contexts
    np.testing.assert_allclose(norm, 7.071068, rtol=1e-6)
    for v, where in ((a, ctx), (b, gp.cpu(1))):
        assert v.context is where
        np.testing.assert_allclose(v.asnumpy(), [0.42426407, 0.56568545], rtol=1e-6)
    assert gluon.utils.clip_global_norm([nd.zeros((2,), ctx=ctx)], 1.0) == 0.0
    inf = nd.array([np.inf, 1.0], ctx=ctx)
    with pytest.warns(UserWarning, match="NaN or infinite"):
        norm = gluon.utils.clip_global_norm([inf], 1.0)
    assert np.isinf(norm)
    got = inf.asnumpy()
    assert np.isnan(got[0]) and got[1] == 0.0  # observed with MXNet 1.9.1: [nan 0.]
    with pytest.raises(ValueError, match="arrays is empty"):
        gluon.utils.clip_global_norm([], 1.0)
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="max_norm must be a non-negative finite number"):
            gluon.utils.clip_global_norm([nd.ones((2,), ctx=ctx)], bad)
    zeroed = nd.ones((2,), ctx=ctx)
    norm = gluon.utils.clip_global_norm([zeroed], 0.0)
    np.testing.assert_allclose(norm, 1.4142135, rtol=1e-6)  # observed with MXNet 1.9.1
    assert _vals(zeroed) == [0, 0]


# ------------------------------------------------------------------------------------------ namespace
def test_new_names_in_nd_and_as_methods():
    names = ["where", "split", "SliceChannel", "slice_axis", "broadcast_to", "broadcast_axis",
             "broadcast_axes", "tile", "repeat", "flip", "reverse", "sort", "argsort", "topk"] + \
        [n for n, _ in BROADCAST_ARITH + BROADCAST_COMPARE]
    for name in names:
        assert name in nd.__all__ and callable(getattr(nd, name)), name
    # methods that MXNet 1.9.1's NDArray has; where, reverse, broadcast_axis, broadcast_add ... it does not
    x = nd.ones((2, 2))
    for name in ("split", "slice_axis", "broadcast_to", "broadcast_axes", "tile", "repeat", "flip", "sort",
                 "argsort", "topk"):
        assert callable(getattr(x, name)), name
    for name in ("where", "reverse", "broadcast_axis", "broadcast_add", "SliceChannel"):
        assert not hasattr(x, name), name


def test_docstring_examples():
    import doctest

    from gpuparams import gluon_utils
    from gpuparams.ops import select, shape
    for module in (select, shape, gluon_utils):
        failures, tried = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert failures == 0 and tried > 0, module.__name__
