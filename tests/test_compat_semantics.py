"""NDArray semantics MXNet code relies on, checked against MXNet 1.9.1
(tests/data/mxnet_compat_semantics.json, made by tests/data/mxnet_compat_semantics_cases.py): integer
division, 0-d sources, truth values, NumPy functions on NDArrays, relu at NaN, writes inside record(),
sequence values, object arrays, reshaped head gradients, and printing a loss with ``'%f' %``."""
import json
import math
import pathlib
import pickle

import numpy as np
import pytest

from gpuparams import autograd, errors, nd

MX = json.loads((pathlib.Path(__file__).parent / "data" / "mxnet_compat_semantics.json").read_text())


def _matches(got, want):
    assert list(got.shape) == want["shape"] and got.dtype.name == want["dtype"]
    assert got.asnumpy().tolist() == want["values"]


# ------------------------------------------------------------------------------ NumPy 2.4: '%f' % loss
def test_printing_a_one_element_loss_works_on_this_numpy(ctx):
    loss = nd.array([1.0, 2.0], ctx=ctx).mean()
    assert list(loss.shape) == MX["semantics"]["mean shape"]  # (1,), as in MXNet
    host = loss.asnumpy()
    assert "%f" % host == MX["semantics"]["'%f' % mean"] and f"{float(host):.3f}" == "1.500"
    assert int(nd.array([7.9], ctx=ctx).asnumpy()) == 7 and complex(host) == 1.5
    assert isinstance(host, np.ndarray) and host.shape == (1,) and host.dtype == np.float32


def test_the_one_element_host_array_is_otherwise_plain_numpy(ctx):
    host = nd.array([3.0], ctx=ctx).asnumpy()
    assert type(host + 1) is np.ndarray and type(np.sqrt(host)) is np.ndarray
    assert repr(host) == "array([3.], dtype=float32)"
    assert type(pickle.loads(pickle.dumps(host))) is np.ndarray
    assert type(nd.array([1.0, 2.0], ctx=ctx).asnumpy()) is np.ndarray  # only one-element arrays
    with pytest.raises(TypeError):
        float(nd.array([1.0, 2.0], ctx=ctx).asnumpy())


# ------------------------------------------------------------------------------ integer division
_DIVISIONS = {
    "uint8 5/3": lambda c: nd.array([5], ctx=c, dtype="uint8") / nd.array([3], ctx=c, dtype="uint8"),
    "int32 [-7,7]/[2,-2]": lambda c: (nd.array([-7, 7], ctx=c, dtype="int32")
                                      / nd.array([2, -2], ctx=c, dtype="int32")),
    "int32 [7,-7]/2": lambda c: nd.array([7, -7], ctx=c, dtype="int32") / 2,
    "int32 [7,-7]/2.5": lambda c: nd.array([7, -7], ctx=c, dtype="int32") / 2.5,
    "int32 [7,-7]/1.5": lambda c: nd.array([7, -7], ctx=c, dtype="int32") / 1.5,
    "7.9/int32 [2,-2]": lambda c: 7.9 / nd.array([2, -2], ctx=c, dtype="int32"),
    "int64 7/2": lambda c: nd.array([7], ctx=c, dtype="int64") / nd.array([2], ctx=c, dtype="int64"),
    "int8 -7/2": lambda c: nd.array([-7], ctx=c, dtype="int8") / nd.array([2], ctx=c, dtype="int8"),
}


@pytest.mark.parametrize("case", sorted(_DIVISIONS))
def test_integer_division_keeps_the_integer_dtype_as_mxnet(case, ctx):
    _matches(_DIVISIONS[case](ctx), MX["int_division"][case])


def test_integer_in_place_division_and_division_by_zero(ctx):
    a = nd.array([5], ctx=ctx, dtype="uint8")
    a /= nd.array([3], ctx=ctx, dtype="uint8")
    _matches(a, MX["int_division"]["uint8 5 /= 3"])
    # Where we differ: MXNet 1.9.1 kills the process (SIGFPE); we give NumPy's 0.
    z = nd.array([7, -7, 4], ctx=ctx, dtype="int32") / nd.array([0, 0, 2], ctx=ctx, dtype="int32")
    assert z.asnumpy().tolist() == [0, 0, 2] and z.dtype == np.int32
    f = nd.array([5.0], ctx=ctx) / nd.array([2.0], ctx=ctx)  # floats are untouched
    assert f.asnumpy().tolist() == [2.5]


_INT_SCALARS = {
    "int32 [5,7]+2.5": lambda c: nd.array([5, 7], ctx=c, dtype="int32") + 2.5,
    "int32 [5,-7]*2.5": lambda c: nd.array([5, -7], ctx=c, dtype="int32") * 2.5,
    "int32 [5,7]-0.5": lambda c: nd.array([5, 7], ctx=c, dtype="int32") - 0.5,
    "7.9-int32 [5,7]": lambda c: 7.9 - nd.array([5, 7], ctx=c, dtype="int32"),
    "int32 [5,7]**0.5": lambda c: nd.array([5, 7], ctx=c, dtype="int32") ** 0.5,
    "maximum(int32 [5,7],5.5)": lambda c: nd.maximum(nd.array([5, 7], ctx=c, dtype="int32"), 5.5),
    "int32 [5,7]>6.5": lambda c: nd.array([5, 7], ctx=c, dtype="int32") > 6.5,
    "int32 [5,7]==5.5": lambda c: nd.array([5, 7], ctx=c, dtype="int32") == 5.5,
    "uint8 [5,7]+2.9": lambda c: nd.array([5, 7], ctx=c, dtype="uint8") + 2.9,
    "int32 [-5,7]+(-2.5)": lambda c: nd.array([-5, 7], ctx=c, dtype="int32") + (-2.5),
}


@pytest.mark.parametrize("case", sorted(_INT_SCALARS))
def test_a_float_next_to_an_integer_array_is_cast_to_its_dtype_as_mxnet(case, ctx):
    """Not float64: MXNet truncates the number to the array's dtype (C's cast, toward zero)."""
    _matches(_INT_SCALARS[case](ctx), MX["int_scalars"][case])


def test_a_non_finite_float_next_to_an_integer_array_is_refused(ctx):
    x = nd.array([5, 7], ctx=ctx, dtype="int32")
    for bad in (float("nan"), float("inf")):
        with pytest.raises(OverflowError, match=r"multiply: cannot use (nan|inf) .* int32.*astype"):
            x * bad
    assert (nd.array([5.0], ctx=ctx) + 2.5).asnumpy().tolist() == [7.5]  # floats are untouched


def _f(v, c):
    return nd.array(v, ctx=c)


def _i(v, c):
    return nd.array(v, ctx=c, dtype="int32")


def _in_place(a, b):
    a %= b
    return a


_MODULO = {
    "float [5.5,-7,3]%[2,3,-2]": lambda c: _f([5.5, -7, 3], c) % _f([2, 3, -2], c),
    "float [5.5,-7,3]%2": lambda c: _f([5.5, -7, 3], c) % 2,
    "float [5.5,-7,3]%-2.5": lambda c: _f([5.5, -7, 3], c) % -2.5,
    "7%float [2,3,-2]": lambda c: 7 % _f([2, 3, -2], c),
    "float [[5.5],[-7]]%[2,3]": lambda c: _f([[5.5], [-7]], c) % _f([2, 3], c),
    "int32 [5,-7]%3": lambda c: _i([5, -7], c) % 3,
    "int32 [-5,7]%[3,-2]": lambda c: _i([-5, 7], c) % _i([3, -2], c),
    "int32 [5,7]%2.5": lambda c: _i([5, 7], c) % 2.5,
    "7.5%int32 [5,7]": lambda c: 7.5 % _i([5, 7], c),
    "float [5.5,-7]%=2": lambda c: _in_place(_f([5.5, -7], c), 2),
    "int32 [5,-7]%=[3,3]": lambda c: _in_place(_i([5, -7], c), _i([3, 3], c)),
    "modulo(float [5.5,-7],[2,3])": lambda c: nd.modulo(_f([5.5, -7], c), _f([2, 3], c)),
    "modulo(float [5.5,-7],2)": lambda c: nd.modulo(_f([5.5, -7], c), 2),
    "float [5.5,-7]%0": lambda c: _f([5.5, -7], c) % 0,
}


@pytest.mark.parametrize("case", sorted(_MODULO))
def test_python_modulo_on_ndarrays_as_mxnet(case, ctx):
    _matches(_MODULO[case](ctx), MX["modulo"][case])


def test_modulo_gradients_as_mxnet(ctx):
    a, b = _f([5.5, -7.0, 3.0], ctx), _f([2.0, 3.0, -2.0], ctx)
    a.attach_grad()
    b.attach_grad()
    with autograd.record():
        y = (a % b) * _f([1.0, 2.0, 3.0], ctx) + (a % 2.5) + (9.0 % b)
    y.backward()
    want = MX["modulo"]["grad a%b"]
    assert a.grad.asnumpy().tolist() == want["a"] and b.grad.asnumpy().tolist() == want["b"]


def test_modulo_keeps_broadcast_mods_errors(ctx):
    x = _f([1.0, 2.0], ctx)
    with pytest.raises(ValueError, match=r"modulo: shapes \(2,\) and \(3,\) cannot be broadcast"):
        x % _f([1.0, 2.0, 3.0], ctx)
    with pytest.raises(ValueError, match=r"%=: cannot update an array of shape \(2,\) in place"):
        x %= _f([[1.0, 2.0], [3.0, 4.0]], ctx)
    with pytest.raises(TypeError, match="broadcast_mod: rhs must be an NDArray"):
        nd.broadcast_mod(x, 2)  # as MXNet: the broadcast_ name takes arrays only
    assert nd.modulo(7, 3) == 1


# ------------------------------------------------------------------------------ shapes and truth values
def test_array_of_a_0d_array_keeps_shape_0d(ctx):
    _matches(nd.array(np.array(3.0), ctx=ctx), MX["semantics"]["array of 0-d numpy"])
    _matches(nd.array(nd.array(np.array(3.0), ctx=ctx), ctx=ctx), MX["semantics"]["array of 0-d NDArray"])
    assert nd.array(np.array(3.0), ctx=ctx).asscalar() == 3.0
    # Where we differ: a Python scalar gives (1,) (MXNet: ()).
    assert MX["semantics"]["array of python scalar shape"] == [] and nd.array(3.0, ctx=ctx).shape == (1,)


def test_truth_values(ctx):
    assert bool(nd.array([], ctx=ctx)) is MX["semantics"]["bool empty"] is False
    assert [bool(nd.array([0], ctx=ctx)), bool(nd.array([2], ctx=ctx))] == MX["semantics"]["bool [0] / [2]"]
    assert MX["semantics"]["bool two raises"] == "ValueError"
    with pytest.raises(ValueError, match="ambiguous"):
        bool(nd.array([1, 2], ctx=ctx))


def test_numpy_functions_accept_cpu_ndarrays():
    x = nd.array([[1.0, 2.0], [3.0, 0.0]])
    assert np.all(x) == np.False_ and np.any(x) and np.sum(x) == 6.0 and np.mean(x) == 1.5
    assert np.asarray(x).tolist() == [[1.0, 2.0], [3.0, 0.0]] and np.asarray(x).dtype == np.float32
    assert np.concatenate([x, x]).shape == (4, 2) and np.allclose(x, x.asnumpy())
    assert np.sum(x, axis=0).tolist() == [4.0, 2.0]


def test_numpy_functions_refuse_gpu_ndarrays_with_the_fix(ctx):
    if ctx.device_type == "cpu":
        pytest.skip("a cpu array is accepted")
    x = nd.ones((2,), ctx=ctx)
    with pytest.raises(TypeError, match=r"asnumpy\(\)"):
        np.sum(x)


def test_relu_gradient_at_nan_is_nan(ctx):
    want = MX["semantics"]
    for dtype in ("float32", "float64"):  # float32 takes the kernel path on a gpu context
        a = nd.array([math.nan, -1.0, 2.0, 0.0], ctx=ctx, dtype=dtype)
        a.attach_grad()
        with autograd.record():
            y = nd.relu(a)
        y.backward()
        assert [str(v) for v in y.asnumpy().tolist()] == want["relu nan forward"]
        assert [str(v) for v in a.grad.asnumpy().tolist()] == want["relu nan grad"]


# ------------------------------------------------------------------------------ writes
def test_writing_into_a_recorded_result_inside_record_raises_an_mxnet_error(ctx):
    assert MX["semantics"]["setitem on recorded result in record raises"] == "MXNetError"
    assert MX["semantics"]["+= on recorded result in record raises"] == "MXNetError"
    w = nd.array([1.0, 2.0, 3.0], ctx=ctx)
    w.attach_grad()
    with autograd.record():
        r = w * 2
        with pytest.raises(errors.GpuparamsError, match="in-place write"):
            r[0] = 5
        with pytest.raises(errors.AutogradError):
            r += 1


def test_a_sequence_value_is_an_array_value(ctx):
    x = nd.zeros((3, 4), ctx=ctx)
    x[1, 2] = [5]
    assert x.asnumpy().tolist() == MX["semantics"]["x[1,2]=[5]"]
    x = nd.zeros((3, 4), ctx=ctx)
    x[1] = [5]
    assert x.asnumpy().tolist() == MX["semantics"]["x[1]=[5]"]
    x[0] = (1, 2, 3, 4)
    assert x.asnumpy()[0].tolist() == [1, 2, 3, 4]
    assert MX["semantics"]["x[1,2]=[5,6] raises"] == "ValueError"
    with pytest.raises(ValueError, match=r"x\[\(1, 2\)\]"):
        x[1, 2] = [5, 6]


# ------------------------------------------------------------------------------ object arrays
def test_object_arrays_of_numbers_and_bools_become_float32(ctx):
    obj = np.array([[1, True], [2.5, False]], dtype=object)
    _matches(nd.array(obj, ctx=ctx), MX["semantics"]["object array"])
    _matches(nd.array(np.array([True, False], dtype=object), ctx=ctx), MX["semantics"]["object bool array"])
    assert nd.array(np.array([1, 2], dtype=object), ctx=ctx, dtype="int32").dtype == np.int32


def test_an_object_array_with_a_string_names_it(ctx):
    assert MX["semantics"]["object str array raises"] == "ValueError"
    with pytest.raises(ValueError, match="holds 'a' \\(str\\), not a number") as info:
        nd.array(np.array(["a", 1], dtype=object), ctx=ctx)
    assert isinstance(info.value, TypeError)


@pytest.mark.parametrize("bad", [None, "2", "a", b"1", {"a": 1}, 1j])
def test_an_object_array_refuses_what_a_list_refuses(ctx, bad):
    # None would become NaN and '2' would be parsed by NumPy's cast; both front ends refuse them,
    # from a list and from an object array alike, naming the position and the value.
    from gpuparams import np as gnp
    makers = [lambda: nd.array(np.array([[1.0, 2.0], [3.0, bad]], dtype=object), ctx=ctx),
              lambda: nd.array(np.array([[1, 2], [3, bad]], dtype=object), ctx=ctx, dtype="int32"),
              lambda: gnp.array(np.array([[1.0, 2.0], [3.0, bad]], dtype=object), ctx=ctx)]
    if not isinstance(bad, complex):  # a complex list is a complex128 array, refused by its dtype
        makers += [lambda: nd.array([[1.0, 2.0], [3.0, bad]], ctx=ctx),
                   lambda: gnp.array([[1.0, 2.0], [3.0, bad]], ctx=ctx)]
    for make in makers:
        with pytest.raises(errors.ArrayConversionError) as info:
            make()
        message = str(info.value)
        assert "element [1, 1]" in message and repr(bad) in message, message


def test_object_arrays_of_numbers_convert_to_exact_values(ctx):
    obj = np.array([[1, True, np.float32(0.5)], [2**40, False, -3.25]], dtype=object)
    reference = np.array([[float(v) for v in row] for row in obj], dtype=np.float64)
    np.testing.assert_array_equal(nd.array(obj, ctx=ctx).asnumpy(), reference.astype(np.float32))
    as_int = nd.array(np.array([1, True, -7, 127.9], dtype=object), ctx=ctx, dtype="int8")
    assert as_int.asnumpy().tolist() == [1, 1, -7, 127]
    with pytest.raises(OverflowError, match=r"element \[1\], 128"):
        nd.array(np.array([1, 128], dtype=object), ctx=ctx, dtype="int8")


# ------------------------------------------------------------------------------ head gradients
def test_a_head_gradient_of_another_shape_with_the_same_size(ctx):
    w = nd.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], ctx=ctx)
    w.attach_grad()
    with autograd.record():
        y = w * w
    y.backward(nd.array([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], ctx=ctx))
    assert w.grad.asnumpy().tolist() == MX["semantics"]["backward head of shape (3,2) for (2,3)"]
    with autograd.record():
        y = w * w
    with pytest.raises(ValueError, match=r"head gradient of shape \(3,\) \(3 elements\) does not fit"):
        y.backward(nd.array([1.0, 2.0, 3.0], ctx=ctx))  # MXNet reads past the buffer here


def test_modulo_of_np_arrays_follows_numpys_promotion(ctx):
    """The np front end's ``%`` promotes as its other operators do (int32 % 2.5 is float32), with
    NumPy's values where the divisor is not 0."""
    from gpuparams import np as gnp
    with ctx:
        got = gnp.array([5, 7, -7], dtype="int32") % 2.5
        rgot = 7 % gnp.array([2.0, -3.0, 4.0])
    assert got.dtype == np.float32 and rgot.dtype == np.float32
    np.testing.assert_array_equal(got.asnumpy(), np.array([5, 7, -7]) % 2.5)
    np.testing.assert_array_equal(rgot.asnumpy(), 7 % np.array([2.0, -3.0, 4.0]))


def test_in_place_updates_of_integer_arrays_cast_a_float_as_mxnet(ctx):
    """MXNet 1.9.1: int32 [5, 7] += 2.5 is [7, 9] (2.5 cast to 2), then %= 2.5 is [1, 1]."""
    x = nd.array([5, 7], ctx=ctx, dtype="int32")
    x += 2.5
    assert x.asnumpy().tolist() == [7, 9] and x.dtype == np.int32
    x %= 2.5
    assert x.asnumpy().tolist() == [1, 1] and x.dtype == np.int32
    with pytest.raises(OverflowError, match=r"\+=: cannot use inf"):
        x += float("inf")
