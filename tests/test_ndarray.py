"""NDArray: creation, properties, conversion, transfers, indexing and in-place writes (issue 2, item 4)."""
import math

import numpy as np
import pytest

import gpuparams as gp
from gpuparams import autograd, backend, nd
from gpuparams._ndarray import SUPPORTED_DTYPES


# ------------------------------------------------------------------------------------------ creation
def test_array_from_lists_is_float32_by_default(ctx):
    ints = nd.array([[1, 2, 3], [4, 5, 6]], ctx=ctx)
    floats = nd.array([0.5, -1.25], ctx=ctx)
    for x in (ints, floats):
        assert x.dtype == np.float32
        assert x.context is ctx
    assert ints.shape == (2, 3)
    np.testing.assert_array_equal(ints.asnumpy(), np.array([[1, 2, 3], [4, 5, 6]], np.float64))
    np.testing.assert_array_equal(floats.asnumpy(), [0.5, -1.25])


def test_array_from_numpy_is_float32_unless_told(ctx):
    # MXNet 1.x: the default dtype is the source's only for NDArray sources, float32 otherwise.
    for dtype in ("float64", "int32", "int64", "uint8", "float16"):
        src = np.arange(6, dtype=dtype).reshape(2, 3)
        x = nd.array(src, ctx=ctx)
        assert x.dtype == np.float32
        np.testing.assert_array_equal(x.asnumpy(), src.astype(np.float32))
        kept = nd.array(src, ctx=ctx, dtype=dtype)
        assert kept.dtype == np.dtype(dtype)
        np.testing.assert_array_equal(kept.asnumpy(), src)
    from_nd = nd.array(nd.array(np.arange(3), dtype="int32"), ctx=ctx)
    assert from_nd.dtype == np.int32
    y = nd.array(np.arange(3, dtype=np.float64), ctx=ctx, dtype="float32")
    assert y.dtype == np.float32
    z = nd.array([1, 2], ctx=ctx, dtype="int32")
    assert z.dtype == np.int32 and z.asnumpy().tolist() == [1, 2]


def test_array_copies_its_source(ctx):
    src = np.array([1.0, 2.0], np.float32)
    x = nd.array(src, ctx=ctx)
    src[0] = 99
    assert x.asnumpy().tolist() == [1.0, 2.0]
    y = nd.array(x, ctx=ctx)  # from an NDArray: same dtype, new buffer
    assert y.dtype == x.dtype and y.context is ctx
    assert nd.array(x).context is gp.current_context()  # MXNet: the default context, not x's
    x[:] = 5
    assert y.asnumpy().tolist() == [1.0, 2.0]


def test_array_from_an_ndarray_moves_it_to_the_asked_context(ctx):
    x = nd.array([1.0, 2.0, 3.0], ctx=gp.cpu(1), dtype="float64")
    y = nd.array(x, ctx=ctx)
    assert y.context is ctx and y.dtype == np.float64
    assert y.asnumpy().tolist() == [1.0, 2.0, 3.0]


def test_scalar_source_becomes_shape_1(ctx):
    x = nd.array(3.5, ctx=ctx)
    assert x.shape == (1,) and x.dtype == np.float32 and x.asscalar() == 3.5


@pytest.mark.parametrize("make, value", [(nd.zeros, 0.0), (nd.ones, 1.0)])
def test_zeros_and_ones(ctx, make, value):
    x = make((2, 3), ctx=ctx)
    assert x.shape == (2, 3) and x.dtype == np.float32 and x.context is ctx
    np.testing.assert_array_equal(x.asnumpy(), np.full((2, 3), value))
    y = make(4, ctx=ctx, dtype="int32")
    assert y.shape == (4,) and y.dtype == np.int32
    z = make((0, 3), ctx=ctx)
    assert z.shape == (0, 3) and z.size == 0


def test_full(ctx):
    x = nd.full((2, 2), 7.5, ctx=ctx)
    assert x.dtype == np.float32
    np.testing.assert_array_equal(x.asnumpy(), np.full((2, 2), 7.5))
    y = nd.full(3, 2, ctx=ctx, dtype="int64")
    assert y.dtype == np.int64 and y.asnumpy().tolist() == [2, 2, 2]


def test_creation_uses_the_current_context_by_default(ctx):
    with ctx:
        for x in (nd.zeros((1,)), nd.ones((1,)), nd.full((1,), 2), nd.arange(2), nd.array([1]),
                  nd.random.uniform(shape=(1,)), nd.random.normal(shape=(1,))):
            assert x.context is ctx


def test_arange_matches_mxnet(ctx):
    x = nd.arange(5, ctx=ctx)
    assert x.dtype == np.float32 and x.asnumpy().tolist() == [0, 1, 2, 3, 4]
    np.testing.assert_allclose(nd.arange(1, 3, 0.5, ctx=ctx).asnumpy(), [1, 1.5, 2, 2.5])
    assert nd.arange(2, 5, ctx=ctx).asnumpy().tolist() == [2, 3, 4]
    assert nd.arange(3, repeat=2, ctx=ctx).asnumpy().tolist() == [0, 0, 1, 1, 2, 2]
    y = nd.arange(4, ctx=ctx, dtype="int32")
    assert y.dtype == np.int32 and y.context is ctx


def test_zeros_like_and_ones_like_keep_shape_dtype_context(ctx):
    x = nd.array(np.arange(6, dtype=np.float64).reshape(3, 2), ctx=ctx, dtype="float64")
    for fn, value in ((nd.zeros_like, 0.0), (nd.ones_like, 1.0)):
        y = fn(x)
        assert y.shape == (3, 2) and y.dtype == np.float64 and y.context is ctx
        np.testing.assert_array_equal(y.asnumpy(), np.full((3, 2), value))


def test_random_uniform_and_normal_shape_ctx_dtype(ctx):
    gp.random.seed(3)
    u = nd.random.uniform(-2, 3, shape=(400, 5), ctx=ctx)
    assert u.shape == (400, 5) and u.dtype == np.float32 and u.context is ctx
    values = u.asnumpy()
    assert values.min() >= -2 and values.max() < 3
    assert abs(values.mean() - 0.5) < 0.1  # 2000 draws: standard error 0.03
    n = nd.random.normal(1.0, 2.0, shape=(4000,), ctx=ctx, dtype="float64")
    assert n.dtype == np.float64 and n.shape == (4000,)
    assert abs(n.asnumpy().mean() - 1.0) < 0.15 and abs(n.asnumpy().std() - 2.0) < 0.15
    assert nd.random.uniform(ctx=ctx).shape == (1,)
    assert nd.random.normal(shape=3, ctx=ctx).shape == (3,)


def test_random_refuses_non_float_dtypes_and_bad_ranges():
    with pytest.raises(TypeError, match="float"):
        nd.random.uniform(shape=(2,), dtype="int32")
    with pytest.raises(ValueError, match="high"):
        nd.random.uniform(1, 0, shape=(2,))
    with pytest.raises(ValueError, match="scale"):
        nd.random.normal(0, -1, shape=(2,))


@pytest.mark.parametrize("dtype", ["complex64", "bool", "float128" if hasattr(np, "float128") else "U3",
                                   "object", "uint16"])
def test_unsupported_dtypes_are_refused_with_the_list_of_choices(dtype):
    checks = [lambda: nd.zeros((2,), dtype=dtype), lambda: nd.array([1, 2], dtype=dtype),
              lambda: nd.ones((2,)).astype(dtype), lambda: nd.full((2,), 1, dtype=dtype)]
    for make in checks:
        with pytest.raises(TypeError) as info:
            make()
        assert "float32" in str(info.value) and "int64" in str(info.value)


def test_numpy_arrays_of_unsupported_dtype_are_refused():
    with pytest.raises(TypeError, match="complex128 is not supported"):
        nd.array(np.array([1 + 2j]))
    with pytest.raises(TypeError, match="bool is not supported"):
        nd.array(np.array([True, False]), dtype=bool)
    # Without a dtype, MXNet converts a bool array to float32.
    assert nd.array(np.array([True, False])).asnumpy().tolist() == [1.0, 0.0]


def _range_probes(source, target):
    """Values of dtype ``source`` at and around the edges of ``target``'s range (the finite ones)."""
    info, kind = np.iinfo(target), np.dtype(source).kind
    if kind in "iu":
        src = np.iinfo(source)
        wanted = [info.min - 1, info.min, info.min + 1, 0, info.max - 1, info.max, info.max + 1]
        return np.array([v for v in wanted if src.min <= v <= src.max], dtype=source)
    f = np.dtype(source).type
    with np.errstate(over="ignore"):
        edges = [f(info.min), f(info.min - 1), f(info.max), f(info.max + 1), f(0.5), f(-0.5)]
        probes = edges + [np.nextafter(e, f(d)) for e in edges for d in (-np.inf, np.inf)]
    return np.array([v for v in probes if np.isfinite(v)], dtype=source)


@pytest.mark.parametrize("target", ["int8", "uint8", "int32", "int64"])
@pytest.mark.parametrize("source", ["float16", "float32", "float64", "int32", "int64", "uint8"])
@pytest.mark.parametrize("given_as", ["numpy", "NDArray"])
def test_creation_to_an_integer_dtype_keeps_every_value_or_refuses(ctx, source, target, given_as):
    # The reference is Python's exact arithmetic: the cast truncates toward zero, and a value fits
    # when its truncation lies in the dtype's range (float32 cannot hold 2**31 - 1: 2**31 is out of
    # range for int32, the float32 just below it is in range).
    info = np.iinfo(target)
    for value in _range_probes(source, target):
        exact = math.trunc(value.item())
        src = np.array([value]) if given_as == "numpy" else nd.array(np.array([value]), ctx=ctx, dtype=source)
        if info.min <= exact <= info.max:
            out = nd.array(src, ctx=ctx, dtype=target)
            assert out.dtype == np.dtype(target)
            assert out.asnumpy().tolist() == [exact], (source, target, value)
        else:
            with pytest.raises(OverflowError) as caught:
                nd.array(src, ctx=ctx, dtype=target)
            message = str(caught.value)
            assert f"{value.item()}" in message and f"{target} ({info.min}..{info.max})" in message


def test_float32_just_below_2_to_31_becomes_int32_exactly(ctx):
    below = np.float32(2.0**31 - 128)  # the largest float32 under 2**31
    assert np.nextafter(below, np.float32(np.inf)) == np.float32(2.0**31)
    out = nd.array(np.array([below, -2.0**31], np.float32), ctx=ctx, dtype="int32")
    assert out.asnumpy().tolist() == [2**31 - 128, -2**31]
    with pytest.raises(OverflowError, match="2147483648.0"):
        nd.array(np.array([2.0**31], np.float32), ctx=ctx, dtype="int32")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_values_never_become_integers(ctx, bad):
    for make in (lambda: nd.array(np.array([1.0, bad]), ctx=ctx, dtype="int32"),
                 lambda: nd.array(nd.array([1.0, bad], ctx=ctx), dtype="int64"),
                 lambda: nd.full((2,), bad, ctx=ctx, dtype="int8")):
        with pytest.raises(OverflowError, match=str(bad)):
            make()


def test_arange_linspace_full_check_the_integer_range(ctx):
    # In range: exactly NumPy's float64 values, truncated; out of range: refused, nothing wrapped.
    assert nd.arange(250, 256, ctx=ctx, dtype="uint8").asnumpy().tolist() == list(range(250, 256))
    assert nd.linspace(0, 127, 3, ctx=ctx, dtype="int8").asnumpy().tolist() == [0, 63, 127]
    assert nd.full((2,), -128, ctx=ctx, dtype="int8").asnumpy().tolist() == [-128, -128]
    for make, value in ((lambda: nd.arange(250, 260, ctx=ctx, dtype="uint8"), "256"),
                        (lambda: nd.arange(-1, 3, ctx=ctx, dtype="uint8"), "-1"),
                        (lambda: nd.linspace(0, 300, 3, ctx=ctx, dtype="int8"), "150"),
                        (lambda: nd.full((2,), 2**31, ctx=ctx, dtype="int32"), "2147483648")):
        with pytest.raises(OverflowError, match=value):
            make()


def test_full_with_out_refuses_before_writing(ctx):
    out = nd.array([1, 2], ctx=ctx, dtype="int8")
    with pytest.raises(OverflowError, match="300.*int8"):
        nd.full((2,), 300, out=out)
    assert out.asnumpy().tolist() == [1, 2]
    assert nd.full((2,), 100, out=out) is out and out.asnumpy().tolist() == [100, 100]


def test_astype_keeps_the_wrapping_cast(ctx):
    # astype is MXNet's and NumPy's cast, modular for integers: only creation checks the range.
    x = nd.array([200, -129, 5], ctx=ctx, dtype="int32")
    assert x.astype("int8").asnumpy().tolist() == [200 - 256, -129 + 256, 5]
    assert x.astype("uint8").asnumpy().tolist() == [200, -129 + 256, 5]


def test_the_ndarray_constructor_checks_like_nd_array(ctx):
    assert nd.NDArray([1, 127], ctx=ctx, dtype="int8").asnumpy().tolist() == [1, 127]
    with pytest.raises(OverflowError, match=r"element \[1\], 128"):
        nd.NDArray([1, 128], ctx=ctx, dtype="int8")
    with pytest.raises(TypeError, match=r"element \[0\] is the string '1'"):
        nd.NDArray(["1"], ctx=ctx)


def test_supported_dtypes_are_mxnets():
    assert {d.name for d in SUPPORTED_DTYPES} == {
        "float16", "float32", "float64", "uint8", "int8", "int32", "int64"}


# ------------------------------------------------------------------------------------------ properties
def test_properties(ctx):
    x = nd.zeros((2, 3, 4), ctx=ctx, dtype="float64")
    assert x.shape == (2, 3, 4) and isinstance(x.shape, tuple)
    assert x.dtype == np.float64
    assert x.size == 24 and isinstance(x.size, int)
    assert x.ndim == 3
    assert x.context is ctx and x.ctx is ctx
    assert len(x) == 2
    assert [r.shape for r in x] == [(3, 4), (3, 4)]


def test_repr_matches_mxnet(ctx):
    x = nd.arange(20, ctx=ctx).reshape((2, 10))
    name = "cpu(0)" if ctx.device_type == "cpu" else "gpu(0)"
    assert repr(x) == "\n" + str(np.arange(20, dtype=np.float32).reshape(2, 10)) + f"\n<NDArray 2x10 @{name}>"
    assert repr(nd.ones((3,), ctx=ctx)).endswith(f"\n<NDArray 3 @{name}>")
    assert str(nd.zeros((1, 1, 1), ctx=ctx)).endswith(f"<NDArray 1x1x1 @{name}>")


# ------------------------------------------------------------------------------------------ conversion
def test_asnumpy_returns_an_independent_copy(ctx):
    x = nd.array([1.0, 2.0], ctx=ctx)
    a = x.asnumpy()
    assert isinstance(a, np.ndarray) and a.dtype == np.float32
    a[0] = 100
    assert x.asnumpy().tolist() == [1.0, 2.0]


def test_asscalar(ctx):
    x = nd.array([[2.5]], ctx=ctx)
    s = x.asscalar()
    assert s == 2.5 and isinstance(s, np.float32)
    assert nd.array([1, 2, 3], ctx=ctx).sum().asscalar() == 6
    assert float(nd.array([4.0], ctx=ctx)) == 4.0
    assert int(nd.array([3], ctx=ctx, dtype="int32")) == 3


@pytest.mark.parametrize("shape", [(2,), (1, 2), (0,), (3, 3)])
def test_asscalar_on_a_non_size_1_array_is_refused(ctx, shape):
    with pytest.raises(ValueError) as info:
        nd.zeros(shape, ctx=ctx).asscalar()
    assert "exactly one element" in str(info.value) and str(shape) in str(info.value)


def test_truth_value_of_a_multi_element_array_is_ambiguous():
    assert bool(nd.array([1.0])) and not bool(nd.array([0.0]))
    with pytest.raises(ValueError, match="ambiguous"):
        bool(nd.array([1.0, 1.0]))


def test_astype(ctx):
    x = nd.array([1.7, -2.2, 3.0], ctx=ctx)
    y = x.astype("int32")
    assert y.dtype == np.int32 and y.context is ctx and y.asnumpy().tolist() == [1, -2, 3]
    z = x.astype(np.float64)
    assert z.dtype == np.float64
    np.testing.assert_array_equal(z.asnumpy(), x.asnumpy().astype(np.float64))
    same = x.astype("float32", copy=False)
    assert same is x
    copied = x.astype("float32")
    assert copied is not x
    copied[:] = 0
    assert x.asnumpy()[0] == np.float32(1.7)


def test_np_asarray_works_on_cpu_arrays():
    x = nd.array([[1, 2], [3, 4]])
    a = np.asarray(x)
    assert a.dtype == np.float32 and a.tolist() == [[1, 2], [3, 4]]
    assert np.asarray(x, dtype=np.float64).dtype == np.float64
    assert np.array(nd.ones((2,), ctx=gp.cpu(1))).tolist() == [1, 1]


def test_np_asarray_on_a_gpu_array_says_to_use_asnumpy():
    with backend.emulation(True):
        x = nd.ones((2,), ctx=gp.gpu(0))
        with pytest.raises(TypeError, match=r"gpu\(0\).*asnumpy"):
            np.asarray(x)


# ------------------------------------------------------------------------------------------ contexts
def test_as_in_context_same_context_returns_self(ctx):
    x = nd.ones((2,), ctx=ctx)
    assert x.as_in_context(ctx) is x


def test_as_in_context_copies_to_another_context(ctx):
    x = nd.array([[1.0, 2.0]], ctx=ctx, dtype="float64")
    y = x.as_in_context(gp.cpu(1))
    assert y.context is gp.cpu(1) and y.dtype == np.float64 and y.shape == (1, 2)
    y[:] = 0
    assert x.asnumpy().tolist() == [[1.0, 2.0]]  # a copy, not a view
    back = y.as_in_context(ctx)
    assert back.context is ctx and back.asnumpy().tolist() == [[0.0, 0.0]]


def test_copyto_a_context_returns_a_new_array(ctx):
    x = nd.array([1.0, 2.0], ctx=ctx)
    for target in (gp.cpu(1), ctx):
        y = x.copyto(target)
        assert y is not x and y.context is target
        y[:] = 9
        assert x.asnumpy().tolist() == [1.0, 2.0]


def test_copyto_an_array_writes_into_it(ctx):
    x = nd.array([1.0, 2.0, 3.0], ctx=ctx)
    dst = nd.zeros((3,), ctx=gp.cpu(1))
    assert x.copyto(dst) is dst
    assert dst.asnumpy().tolist() == [1.0, 2.0, 3.0] and dst.context is gp.cpu(1)
    same_ctx = nd.zeros((3,), ctx=ctx, dtype="float64")
    x.copyto(same_ctx)
    assert same_ctx.dtype == np.float64 and same_ctx.asnumpy().tolist() == [1.0, 2.0, 3.0]
    with pytest.raises(ValueError, match=r"\(3,\) -> \(2,\)"):
        x.copyto(nd.zeros((2,), ctx=ctx))
    with pytest.raises(TypeError):
        x.copyto("cpu")


# ------------------------------------------------------------------------------------------ indexing
def _example(ctx):
    ref = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    return nd.array(ref, ctx=ctx), ref


@pytest.mark.parametrize("key", [
    0, -1, (1, 2), (1, 2, 3), slice(None), slice(0, 1), (slice(None), 1), (Ellipsis, 2),
    (slice(None, None, -1), slice(0, 3, 2)), (0, slice(1, None), slice(None, None, 3)), (None, 1),
])
def test_basic_indexing_matches_numpy(ctx, key):
    x, ref = _example(ctx)
    got = x[key]
    want = np.asarray(ref[key])
    if want.ndim == 0:
        want = want.reshape(1)  # MXNet has no 0-d arrays: a single element has shape (1,)
    assert got.shape == want.shape and got.dtype == np.float32 and got.context is ctx
    np.testing.assert_array_equal(got.asnumpy(), want)


def test_integer_array_indexing_matches_numpy(ctx):
    x, ref = _example(ctx)
    idx = nd.array([1, 0, 1], ctx=ctx)  # float indices of whole numbers, as MXNet allows
    np.testing.assert_array_equal(x[idx].asnumpy(), ref[[1, 0, 1]])
    np.testing.assert_array_equal(x[:, [2, 0]].asnumpy(), ref[:, [2, 0]])


def test_out_of_bounds_index_names_the_shape(ctx):
    x, _ = _example(ctx)
    with pytest.raises(IndexError, match=r"\(2, 3, 4\)"):
        x[5]


def test_basic_slices_are_views_that_see_writes(ctx):
    x, ref = _example(ctx)
    row = x[1]
    x[1, 0, 0] = -1
    assert row[0, 0].asscalar() == -1
    row[:] = 0  # writing through the view changes the base array, as in MXNet
    assert x.asnumpy()[1].sum() == 0 and x.asnumpy()[0].sum() == ref[0].sum()


# ------------------------------------------------------------------------------------------ in-place
def test_slice_assignment_forms(ctx):
    x = nd.zeros((3, 4), ctx=ctx)
    x[:] = 2
    assert (x.asnumpy() == 2).all()
    x[0, 0] = 42
    x[1:2, :] = 12
    x[2] = nd.array([1, 2, 3, 4], ctx=ctx)
    x[:, 3] = np.array([7, 8, 9], dtype=np.float32)
    x[0, 1:3] = [5, 6]
    np.testing.assert_array_equal(x.asnumpy(), [[42, 5, 6, 7], [12, 12, 12, 8], [1, 2, 3, 9]])
    assert x.dtype == np.float32 and x.context is ctx
    x[:] = nd.ones((4,), ctx=ctx)  # broadcasts
    assert (x.asnumpy() == 1).all()


def test_assigning_a_one_element_array_to_one_element(ctx):
    # Dive into Deep Learning's corr2d: Y[i, j] = (X[i:i+h, j:j+w] * K).sum(), a (1,)-shaped value.
    X = nd.array(np.arange(9).reshape(3, 3), ctx=ctx)
    K = nd.array([[0, 1], [2, 3]], ctx=ctx)
    Y = nd.zeros((2, 2), ctx=ctx)
    for i in range(2):
        for j in range(2):
            Y[i, j] = (X[i:i + 2, j:j + 2] * K).sum()
    np.testing.assert_array_equal(Y.asnumpy(), [[19, 25], [37, 43]])
    Y[0] = nd.array([5.0], ctx=ctx)
    assert Y.asnumpy()[0].tolist() == [5, 5]


def test_assignment_shape_mismatch_names_both_shapes(ctx):
    x = nd.zeros((3, 4), ctx=ctx)
    with pytest.raises(ValueError) as info:
        x[:] = nd.ones((2, 4), ctx=ctx)
    assert "(2, 4)" in str(info.value) and "(3, 4)" in str(info.value)


def test_assignment_from_another_context_names_both_and_the_fix(ctx):
    x = nd.zeros((2,), ctx=ctx)
    with pytest.raises(ValueError) as info:
        x[:] = nd.ones((2,), ctx=gp.cpu(1))
    message = str(info.value)
    assert "cpu(1)" in message and str(ctx) in message and f"as_in_context({ctx})" in message


@pytest.mark.parametrize("op, ref", [
    ("+=", np.add), ("-=", np.subtract), ("*=", np.multiply), ("/=", np.divide)])
def test_augmented_assignment_is_in_place(ctx, op, ref):
    a = np.array([[1.0, 2.0, 4.0], [8.0, 16.0, 32.0]], np.float32)
    b = np.array([2.0, 4.0, 8.0], np.float32)
    for other, other_ref in ((nd.array(b, ctx=ctx), b), (2.0, 2.0), (3, 3)):
        x = nd.array(a, ctx=ctx)
        alias = x[0]  # a view of the first row
        before = id(x)
        namespace = {"x": x, "other": other}
        exec(f"x {op} other", namespace)
        assert id(namespace["x"]) == before and namespace["x"] is x
        want = ref(a, other_ref).astype(np.float32)
        np.testing.assert_allclose(x.asnumpy(), want, rtol=1e-7)
        np.testing.assert_allclose(alias.asnumpy(), want[0], rtol=1e-7)  # the buffer was updated
        assert x.dtype == np.float32


def test_augmented_assignment_errors(ctx):
    x = nd.ones((2, 3), ctx=ctx)
    with pytest.raises(ValueError) as info:
        x += nd.ones((3, 3), ctx=ctx)
    assert "(2, 3)" in str(info.value) and "(3, 3)" in str(info.value)
    with pytest.raises(ValueError) as info:
        x *= nd.ones((2, 3), ctx=gp.cpu(1))
    assert "cpu(1)" in str(info.value) and str(ctx) in str(info.value) and "as_in_context" in str(info.value)


def test_initializer_style_in_place_expressions(ctx):
    # DESIGN.md §2: `data[:] = nd.random.uniform(...)` and `data *= data.abs() >= 5`.
    gp.random.seed(0)
    data = nd.zeros((4, 5), ctx=ctx)
    data[:] = nd.random.uniform(-10, 10, shape=data.shape, ctx=ctx)
    values = data.asnumpy()
    assert (values != 0).all()
    data *= data.abs() >= 5
    np.testing.assert_array_equal(data.asnumpy(), values * (np.abs(values) >= 5))


def test_detach_shares_data_but_not_the_graph(ctx):
    x = nd.array([1.0, 2.0], ctx=ctx)
    x.attach_grad()
    with autograd.record():
        y = x * 3
    d = y.detach()
    assert d.asnumpy().tolist() == [3.0, 6.0]
    assert d._node is None and d.grad is None


# ------------------------------------------------------------------------------------------ random
def test_seed_reproduces_draws_bit_identically(ctx):
    gp.random.seed(7)
    a = nd.random.uniform(shape=(3, 4), ctx=ctx).asnumpy()
    b = nd.random.normal(0, 1, shape=(5,), ctx=ctx).asnumpy()
    gp.random.seed(7)
    a2 = nd.random.uniform(shape=(3, 4), ctx=ctx).asnumpy()
    b2 = nd.random.normal(0, 1, shape=(5,), ctx=ctx).asnumpy()
    assert a.tobytes() == a2.tobytes() and b.tobytes() == b2.tobytes()
    gp.random.seed(8)
    assert nd.random.uniform(shape=(3, 4), ctx=ctx).asnumpy().tobytes() != a.tobytes()


def test_seeded_draws_are_bit_identical_on_cpu_and_emulated_gpu():
    draws = {}
    for name, ctx, emulate in (("cpu", gp.cpu(0), False), ("gpu", gp.gpu(0), True)):
        with backend.emulation(emulate):
            gp.random.seed(7)
            u = nd.random.uniform(-1, 1, shape=(16, 8), ctx=ctx)
            n = nd.random.normal(0, 2, shape=(33,), ctx=ctx, dtype="float64")
            assert u.context is ctx
            draws[name] = (u.asnumpy().tobytes(), n.asnumpy().tobytes())
    assert draws["cpu"] == draws["gpu"]


def test_successive_draws_differ():
    gp.random.seed(7)
    first = nd.random.uniform(shape=(8,)).asnumpy().tobytes()
    assert first != nd.random.uniform(shape=(8,)).asnumpy().tobytes()


@pytest.mark.parametrize("bad", [-1, 1.5, "7", None, True])
def test_seed_refuses_non_integers(bad):
    with pytest.raises(ValueError, match="seed"):
        gp.random.seed(bad)


# ------------------------------------------------------------------------------------------ DESIGN.md §2
def test_design_section_2_ndarray_contract(ctx):
    with ctx:
        x = nd.array([[1, 2, 3], [4, 5, 6]])
        z, o, f, r = nd.zeros((2, 3)), nd.ones((2, 3)), nd.full((2, 3), 2.0), nd.arange(6)
        u = nd.random.uniform(shape=(2, 3))
        n = nd.random.normal(shape=(2, 3))
    assert all(a.context is ctx for a in (x, z, o, f, r, u, n))
    y = nd.dot(x, x.T)
    assert y.shape == (2, 2) and y.asnumpy().tolist() == [[14, 32], [32, 77]]
    assert (x * 2 + 1 - o / f).asnumpy().tolist() == [[2.5, 4.5, 6.5], [8.5, 10.5, 12.5]]
    assert x.sum().asscalar() == 21 and x.mean(axis=0).asnumpy().tolist() == [2.5, 3.5, 4.5]
    assert x.max(axis=1).asnumpy().tolist() == [3, 6] and x.min().asscalar() == 1
    assert x.reshape((3, 2)).shape == (3, 2) and x.T.shape == (3, 2)
    x[0, 0] = 42
    x[1:2, :] = 0
    assert x.asnumpy().tolist() == [[42, 2, 3], [0, 0, 0]]
    x += 1
    x -= 1
    x *= 2
    x /= 2
    assert x.asnumpy().tolist() == [[42, 2, 3], [0, 0, 0]]
    cmp = x >= 3
    assert cmp.dtype == x.dtype and cmp.asnumpy().tolist() == [[1, 0, 1], [0, 0, 0]]
    assert (-x).abs().asnumpy().tolist() == x.asnumpy().tolist()
    assert x.shape == (2, 3) and x.dtype == np.float32 and x.size == 6 and x.context is ctx
    assert x.as_in_context(gp.cpu(1)).context is gp.cpu(1) and x.copyto(gp.cpu(1)).context is gp.cpu(1)
    x.attach_grad()
    with autograd.record():
        loss = (x * x).sum()
    loss.backward()
    assert x.grad.asnumpy().tolist() == [[84, 4, 6], [0, 0, 0]]
    # last: on the emulated gpu(0) float32 ReLU runs the custom kernel
    assert nd.relu(x - 3).asnumpy().tolist() == [[39, 0, 0], [0, 0, 0]]


def test_docstring_examples():
    import doctest

    from gpuparams import context, testing
    for module in (gp, context, autograd, testing):
        failures, tried = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert failures == 0, module.__name__
        assert tried > 0, module.__name__


def test_single_element_index_is_a_view_too(ctx):
    # x[i, j] behaves like every other basic index (a view), on NumPy as on CuPy.
    x = nd.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], ctx=ctx)
    s = x[1, 2]
    assert s.shape == (1,) and s.asscalar() == 6.0
    s[:] = 7
    assert x.asnumpy()[1, 2] == 7
    x[1, 2] = 8
    assert s.asscalar() == 8

