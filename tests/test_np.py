"""``gpuparams.np``: values against float64 NumPy, gradients against central differences, on every
context; NumPy semantics (0-d reductions, bool comparisons, promotion with float32 as the default
float); the nd <-> np conversions share memory and graph."""
from __future__ import annotations

import numpy as onp
import pytest

import gpuparams as gp
from gpuparams import autograd, nd
from gpuparams import np
from gpuparams.testing import check_gradient

_R = onp.random.default_rng(3)
A = _R.uniform(-1, 1, (3, 4))
B = _R.uniform(-1, 1, (3, 4)) + 0.3
P = _R.uniform(0.5, 2.0, (3, 4))
V = _R.uniform(-1, 1, (4,))
M = _R.uniform(-1, 1, (4, 5))
T3 = _R.uniform(-1, 1, (2, 3, 4))
NAN = onp.where(A > 0.5, onp.nan, A)

# name -> (np function of the arrays, float64 NumPy reference, inputs, differentiable)
CASES = {
    "add": (np.add, onp.add, [A, B], True),
    "subtract": (lambda a, b: a - b, onp.subtract, [A, B], True),
    "multiply": (lambda a, b: a * b, onp.multiply, [A, V], True),
    "divide": (lambda a, b: a / b, onp.divide, [A, P], True),
    "power": (lambda a, b: a ** b, onp.power, [P, A], True),
    "rsub_scalar": (lambda a: 2.0 - a, lambda a: 2.0 - a, [A], True),
    "maximum": (np.maximum, onp.maximum, [A, B], True),
    "exp": (np.exp, onp.exp, [A], True),
    "log": (np.log, onp.log, [P], True),
    "sqrt": (np.sqrt, onp.sqrt, [P], True),
    "tanh": (np.tanh, onp.tanh, [A], True),
    "sin": (np.sin, onp.sin, [A], True),
    "cos": (np.cos, onp.cos, [A], True),
    "square": (np.square, onp.square, [A], True),
    "abs": (np.abs, onp.abs, [A], True),
    "clip": (lambda a: np.clip(a, -0.5, 0.5), lambda a: onp.clip(a, -0.5, 0.5), [A], True),
    "sum_all": (np.sum, onp.sum, [A], True),
    "sum_axis_keep": (lambda a: a.sum(axis=1, keepdims=True), lambda a: a.sum(1, keepdims=True), [A], True),
    "mean_axes": (lambda a: np.mean(a, axis=(0, 2)), lambda a: a.mean((0, 2)), [T3], True),
    "max_axis": (lambda a: np.max(a, axis=0), lambda a: a.max(0), [A], True),
    "min_all": (np.min, onp.min, [A], True),
    "var": (np.var, onp.var, [A], True),
    "std_axis": (lambda a: np.std(a, axis=1), lambda a: a.std(1), [A], True),
    "dot_mm": (np.dot, onp.dot, [A, M], True),
    "dot_vv": (np.dot, onp.dot, [V, V], True),
    "dot_nd": (np.dot, onp.dot, [T3, _R.uniform(-1, 1, (5, 4, 2))], True),
    "matmul_mv": (np.matmul, onp.matmul, [A, V], True),
    "matmul_vm": (lambda v, m: v @ m, onp.matmul, [V, M], True),
    "matmul_batched": (np.matmul, onp.matmul, [T3, M], True),
    "tensordot": (lambda a, b: np.tensordot(a, b, axes=([1, 2], [0, 1])),
                  lambda a, b: onp.tensordot(a, b, axes=([1, 2], [0, 1])), [T3, _R.uniform(-1, 1, (3, 4, 2))],
                  True),
    "tensordot_int": (lambda a, b: np.tensordot(a, b, 1), lambda a, b: onp.tensordot(a, b, 1), [A, M], True),
    "einsum": (lambda a, b: np.einsum("ij,jk->ki", a, b), lambda a, b: onp.einsum("ij,jk->ki", a, b), [A, M],
               True),
    "reshape": (lambda a: a.reshape(2, -1), lambda a: a.reshape(2, -1), [A], True),
    "transpose": (lambda a: np.transpose(a, (2, 0, 1)), lambda a: a.transpose(2, 0, 1), [T3], True),
    "T": (lambda a: a.T, lambda a: a.T, [A], True),
    "swapaxes": (lambda a: np.swapaxes(a, 0, 2), lambda a: a.swapaxes(0, 2), [T3], True),
    "concatenate": (lambda a, b: np.concatenate([a, b], axis=1), lambda a, b: onp.concatenate([a, b], 1),
                    [A, B], True),
    "stack": (lambda a, b: np.stack([a, b], axis=-1), lambda a, b: onp.stack([a, b], -1), [A, B], True),
    "split_sections": (lambda a: np.split(a, 2, axis=1)[1], lambda a: onp.split(a, 2, 1)[1], [A], True),
    "split_indices": (lambda a: np.split(a, [1, 3], axis=1)[1], lambda a: onp.split(a, [1, 3], 1)[1], [A],
                      True),
    "squeeze": (lambda a: np.squeeze(a.reshape(3, 1, 4)), lambda a: a, [A], True),
    "expand_dims": (lambda a: np.expand_dims(a, 1), lambda a: onp.expand_dims(a, 1), [A], True),
    "broadcast_to": (lambda v: np.broadcast_to(v, (3, 4)), lambda v: onp.broadcast_to(v, (3, 4)), [V],
                     True),
    "where": (lambda a, b: np.where(a > 0, a, b), lambda a, b: onp.where(a > 0, a, b), [A, B], True),
    "mask_index": (lambda a: a[a > 0], lambda a: a[a > 0], [A], True),
    "int_array_index": (lambda a: a[np.array([2, 0, 2], dtype="int64")], lambda a: a[[2, 0, 2]], [A], True),
    "mixed_index": (lambda a: a[1:, np.array([3, 0], dtype="int64")], lambda a: a[1:, [3, 0]], [A], True),
    "norm": (np.linalg.norm, onp.linalg.norm, [A], True),
    "norm_axis": (lambda a: np.linalg.norm(a, axis=1, keepdims=True),
                  lambda a: onp.linalg.norm(a, axis=1, keepdims=True), [A], True),
    "norm_l1": (lambda v: np.linalg.norm(v, ord=1), lambda v: onp.linalg.norm(v, ord=1), [V], True),
    "outer": (np.outer, onp.outer, [V, A[0]], True),
    "flip": (lambda a: np.flip(a, 1), lambda a: onp.flip(a, 1), [A], True),
    "flip_all": (np.flip, onp.flip, [A], True),
    "tile": (lambda a: np.tile(a, (2, 1)), lambda a: onp.tile(a, (2, 1)), [A], True),
    "repeat": (lambda a: np.repeat(a, 2, axis=1), lambda a: onp.repeat(a, 2, axis=1), [A], True),
    "sort": (lambda a: np.sort(a, axis=0), lambda a: onp.sort(a, axis=0), [A], True),
    "argsort": (np.argsort, onp.argsort, [A], False),
    "floor": (lambda a: np.floor(a * 3), lambda a: onp.floor(a * 3), [A], False),
    "ceil": (lambda a: np.ceil(a * 3), lambda a: onp.ceil(a * 3), [A], False),
    "round": (lambda a: np.round(a * 3), lambda a: onp.round(a * 3), [A], False),
    "isnan": (np.isnan, onp.isnan, [NAN], False),
    "isfinite": (np.isfinite, onp.isfinite, [NAN], False),
    "logical_and": (lambda a, b: np.logical_and(a > 0, b > 0), lambda a, b: (a > 0) & (b > 0), [A, B], False),
    "logical_not": (lambda a: np.logical_not(a > 0), lambda a: ~(a > 0), [A], False),
    "any": (lambda a: np.any(a > 0.9, axis=0), lambda a: (a > 0.9).any(0), [A], False),
    "all": (lambda a: np.all(a > -1), lambda a: (a > -1).all(), [A], False),
    "count_nonzero": (lambda a: np.count_nonzero(a > 0), lambda a: onp.count_nonzero(a > 0), [A], False),
    "greater": (np.greater, onp.greater, [A, B], False),
    "equal": (lambda a, b: a == b, onp.equal, [A, A], False),
    "argmax": (lambda a: np.argmax(a, axis=1), lambda a: a.argmax(1), [A], False),
    "argmin_all": (np.argmin, onp.argmin, [A], False),
}


def _np_arrays(inputs, ctx):
    return [np.array(x, dtype="float32", ctx=ctx) for x in inputs]


@pytest.mark.parametrize("name", sorted(CASES))
def test_np_function_values_match_float64_numpy(name, ctx):
    fn, ref, inputs, _ = CASES[name]
    out = fn(*_np_arrays(inputs, ctx))
    expected = ref(*[x.astype(onp.float32).astype(onp.float64) for x in inputs])
    assert type(out) is np.ndarray
    assert out.ctx == ctx
    assert out.shape == onp.shape(expected)
    kind = onp.asarray(expected).dtype.kind
    if kind == "b":
        assert out.dtype == onp.bool_
    elif kind == "i":
        assert out.dtype == onp.int64
    else:
        assert out.dtype == onp.float32
    onp.testing.assert_allclose(out.asnumpy(), expected, rtol=2e-5, atol=1e-6)


@pytest.mark.parametrize("name", sorted(n for n, case in CASES.items() if case[3]))
def test_np_function_gradients_match_central_differences(name, ctx):
    fn, _, inputs, _ = CASES[name]
    arrays = [nd.array(x, ctx=ctx) for x in inputs]
    # check_gradient hands nd copies; as_np_ndarray() makes them np arrays without leaving the graph.
    check_gradient(lambda *xs: fn(*[x.as_np_ndarray() for x in xs]).as_nd_ndarray(), arrays,
                   rtol=1e-4, atol=1e-6)


def test_reductions_return_0d_arrays_and_nd_keeps_shape_1():
    x = np.arange(6).reshape(2, 3)
    for value in (x.sum(), x.mean(), x.max(), np.min(x), np.linalg.norm(x), np.dot(x[0], x[1])):
        assert type(value) is np.ndarray and value.shape == () and value.ndim == 0
    assert x.sum(axis=0, keepdims=True).shape == (1, 3)
    assert x.as_nd_ndarray().sum().shape == (1,)  # the nd front end is unchanged
    assert float(x.sum()) == 15.0 and x.sum().item() == 15.0 and x.item(4) == 4.0
    with pytest.raises(ValueError, match="size 1"):
        x.item()


def test_comparisons_give_bool_and_nd_gives_float():
    x = np.array([1.0, 2.0, 3.0])
    assert (x > 1).dtype == onp.bool_
    assert (x > 1).tolist() == [False, True, True]
    assert (x.as_nd_ndarray() > 1).dtype == onp.float32
    assert (x == x).asnumpy().all()
    assert x.__eq__(None) is False


@pytest.mark.parametrize("a_dtype, other, expected", [
    ("float32", "float32", "float32"), ("int32", "float32", "float32"), ("int32", "int64", "int64"),
    ("float16", "float32", "float32"), ("float64", "float32", "float64"), ("int32", 1.5, "float32"),
    ("int32", 2, "int32"), ("float16", 2.0, "float16"), ("bool", 1, "int64"), ("bool", True, "bool"),
    ("uint8", "int8", "int32"), ("int64", "float16", "float16"), ("bool", "int32", "int32"),
])
def test_type_promotion_is_mxnet_nps(a_dtype, other, expected):
    a = np.ones((2,), dtype=a_dtype)
    b = np.ones((2,), dtype=other) if isinstance(other, str) else other
    assert (a + b).dtype == onp.dtype(expected)
    assert (b + a).dtype == onp.dtype(expected)
    assert (a * b).dtype == onp.dtype(expected)


def test_true_divide_of_integers_gives_float32():
    i = np.array([1, 2, 3], dtype="int32")
    assert (i / 2).dtype == onp.float32
    assert (i / 2).tolist() == [0.5, 1.0, 1.5]
    assert np.mean(i).dtype == onp.float32


def test_creation_defaults_are_float32():
    assert np.array([1, 2, 3]).dtype == onp.float32
    assert np.array(onp.arange(3)).dtype == onp.arange(3).dtype  # a NumPy array keeps its dtype
    assert np.full((2,), 3).dtype == onp.float32
    assert np.arange(5).tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]
    assert np.linspace(0, 1, 5).tolist() == [0.0, 0.25, 0.5, 0.75, 1.0]
    assert np.eye(3, k=1).asnumpy().tolist() == onp.eye(3, k=1).tolist()
    assert np.identity(2).dtype == onp.float32
    x = np.ones((2, 3), dtype="int32")
    for like in (np.zeros_like(x), np.ones_like(x), np.empty_like(x), np.full_like(x, 7)):
        assert like.shape == (2, 3) and like.dtype == onp.int32 and type(like) is np.ndarray
    assert np.full_like(x, 7).asnumpy().tolist() == [[7, 7, 7]] * 2
    assert np.zeros_like(x, dtype="float32").dtype == onp.float32
    assert np.array(3).shape == ()


def test_random_is_seeded_and_shaped():
    np.random.seed(5)
    a = np.random.uniform(-1, 1, size=(3, 2))
    np.random.seed(5)
    b = np.random.uniform(-1, 1, size=(3, 2))
    assert a.shape == (3, 2) and a.dtype == onp.float32 and (a == b).asnumpy().all()
    assert (a.asnumpy() >= -1).all() and (a.asnumpy() < 1).all()
    assert np.random.normal(size=4).shape == (4,)
    assert np.random.uniform().shape == ()
    r = np.random.randint(0, 5, (100,))
    assert r.dtype == onp.int64 and 0 <= r.asnumpy().min() and r.asnumpy().max() < 5
    c = np.random.choice(4, size=(50,), p=[0, 0.5, 0.5, 0])
    assert set(c.asnumpy().tolist()) <= {1, 2}
    pool = np.array([10.0, 20.0, 30.0])
    assert set(np.random.choice(pool, 3, replace=False).asnumpy().tolist()) == {10.0, 20.0, 30.0}
    x = np.arange(10)
    assert np.random.shuffle(x) is None
    assert sorted(x.asnumpy().tolist()) == list(range(10))
    counts = np.random.multinomial(20, [0.2, 0.3, 0.5], size=4)
    assert counts.shape == (4, 3) and counts.dtype == onp.int64
    assert (counts.asnumpy().sum(axis=1) == 20).all()
    with pytest.raises(ValueError, match="pvals"):
        np.random.multinomial(3, [0.7, 0.7])


def test_conversions_share_memory_and_graph():
    x = np.array([1.0, 2.0])
    x.attach_grad()
    y = x.as_nd_ndarray()
    assert type(y) is nd.NDArray and y._data is x._data
    y[0] = 5.0
    assert x.tolist() == [5.0, 2.0]  # the same buffer: no copy
    with autograd.record():
        z = (x.as_nd_ndarray() * 3).as_np_ndarray().sum()
    z.backward()
    assert type(z) is np.ndarray and z.shape == ()
    assert x.grad.tolist() == [3.0, 3.0] and type(x.grad) is np.ndarray
    assert x.as_np_ndarray() is x


def test_attach_grad_backward_and_contexts(ctx):
    x = np.array([[1.0, -2.0], [3.0, 4.0]], ctx=ctx)
    x.attach_grad()
    with autograd.record():
        y = (np.exp(x) * x).mean()
    y.backward()
    xs = x.asnumpy().astype(onp.float64)
    onp.testing.assert_allclose(x.grad.asnumpy(), (onp.exp(xs) * (1 + xs)) / 4, rtol=1e-5)
    assert x.size == 4 and x.shape == (2, 2) and x.dtype == onp.float32 and x.ctx == ctx
    moved = x.as_in_ctx(gp.cpu(0))
    assert moved.ctx == gp.cpu(0) and type(moved) is np.ndarray
    assert x.as_in_context(ctx) is x


def test_repr_follows_mxnet_np():
    assert repr(np.array([1.0, 2.0])) == "array([1., 2.])"
    assert repr(np.array([1, 2], dtype="int32")) == "array([1, 2], dtype=int32)"
    assert repr(np.array(3.0)) == "array(3.)"
    assert str(np.array([1.0, 2.0])) == "[1. 2.]"


def test_setitem_with_masks_and_inplace_ops():
    x = np.array([-3.0, 1.0, -2.0, 4.0])
    x[x < 0] = 0
    assert x.tolist() == [0.0, 1.0, 0.0, 4.0]
    x *= np.abs(x) >= 2
    assert x.tolist() == [0.0, 0.0, 0.0, 4.0]


def test_bad_input_errors_name_the_problem():
    x = np.ones((2, 3))
    with pytest.raises(ValueError, match="cannot reshape an array of size 6"):
        x.reshape(4, 2)
    with pytest.raises(ValueError, match="equal division"):
        np.split(x, 2, axis=1)
    with pytest.raises(Exception, match="do not align"):
        np.matmul(x, x)
    with pytest.raises(ValueError, match="repeats a letter"):
        np.einsum("ii->i", np.ones((2, 2)))
    with pytest.raises(ValueError, match="explicit"):
        np.einsum("ij,jk", x, x.T)
    with pytest.raises(TypeError, match="np.array"):
        np.sum([1, 2])
    with pytest.raises(TypeError, match="not supported"):
        x.astype("complex64")
    with pytest.raises(IndexError):
        np.sum(x, axis=2)


def test_docstring_examples():
    import doctest
    import sys
    failures, tried = doctest.testmod(sys.modules["gpuparams.np"], optionflags=doctest.NORMALIZE_WHITESPACE)
    assert failures == 0 and tried > 0


def test_autograd_grad_returns_np_arrays():
    x = np.array([1.0, 2.0, 3.0])
    x.attach_grad()
    with autograd.record():
        y = (x ** 2).sum()
    (g,) = autograd.grad(y, [x])
    assert type(g) is np.ndarray and g.tolist() == [2.0, 4.0, 6.0]


def test_d2l_cross_entropy_indexing_with_range_and_labels(ctx):
    # D2L's cross_entropy: -log(y_hat[range(len(y_hat)), y]) with float labels as indices.
    y_hat = np.array([[0.1, 0.3, 0.6], [0.3, 0.2, 0.5]], ctx=ctx)
    y = np.array([0, 2], ctx=ctx)
    y_hat.attach_grad()
    with autograd.record():
        loss = -np.log(y_hat[range(len(y_hat)), y])
    loss.backward()
    onp.testing.assert_allclose(loss.asnumpy(), -onp.log([0.1, 0.5]), rtol=1e-6)
    onp.testing.assert_allclose(y_hat.grad.asnumpy(), [[-10, 0, 0], [0, 0, -2]], rtol=1e-5)
    accuracy = float((y_hat.argmax(axis=1) == y).astype(y.dtype).sum())
    assert accuracy == 1.0


def test_converting_a_recorded_result_keeps_one_graph():
    x = np.array([1.0, 2.0])
    x.attach_grad()
    with autograd.record():
        y = x * 2
        z = y.as_nd_ndarray()           # the same values, a second object on the graph
        total = (y + z.as_np_ndarray()).sum() + z.sum().as_np_ndarray()
    total.backward()                    # y's backward runs once, with both uses summed
    assert x.grad.tolist() == [6.0, 6.0]
    y2 = x * 3                          # converted outside record(): still no gradient, no error
    assert y2.as_nd_ndarray()._node is None


def test_check_gradient_takes_np_arrays_and_0d_results(ctx):
    x = np.array(2.0, ctx=ctx)          # 0-d input, 0-d output: shapes are kept through the check
    w = np.array([[0.5, -1.0], [2.0, 0.3]], ctx=ctx)
    seen = []

    def fn(a, b):
        seen.append((type(a), a.shape))
        return (a ** 3) * np.tanh(b).sum()
    check_gradient(fn, [x, w], rtol=1e-4, atol=1e-6)
    assert seen and all(t is np.ndarray and s == () for t, s in seen)


def test_0d_arrays_have_no_length_and_do_not_iterate():
    s = np.array([1.0, 2.0]).sum()
    with pytest.raises(TypeError, match="0-d"):
        len(s)
    with pytest.raises(TypeError, match="0-d"):
        iter(s)
    assert len(np.ones((3, 2))) == 3 and [r.shape for r in np.ones((2, 3))] == [(3,), (3,)]
