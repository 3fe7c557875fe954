"""gpuparams.testing: assert_almost_equal and the float64 numerical gradient checker (issue 2, item 6;
issue 10: copies instead of in-place swaps, every context)."""
import numpy as np
import pytest

import gpuparams as gp
from gpuparams import autograd, backend, nd, testing
from gpuparams.ops._core import result


# ------------------------------------------------------------------------------------- assert_almost_equal
def test_equal_values_pass_for_every_input_kind():
    testing.assert_almost_equal(nd.array([1.0, 2.0]), np.array([1.0, 2.0]))
    testing.assert_almost_equal(np.array([1.0, 2.0]), [1.0, 2.0])
    testing.assert_almost_equal(nd.array([[3]], dtype="int32"), nd.array([[3.0]]))
    testing.assert_almost_equal(2.5, 2.5)
    with backend.emulation(True):
        testing.assert_almost_equal(nd.array([1.0], ctx=gp.gpu(0)), [1.0])


def test_tolerances_are_atol_plus_rtol_times_desired():
    testing.assert_almost_equal([100.0 + 9e-4], [100.0], rtol=1e-5, atol=0)
    with pytest.raises(AssertionError):
        testing.assert_almost_equal([100.0 + 1.1e-3], [100.0], rtol=1e-5, atol=0)
    testing.assert_almost_equal([1e-8], [0.0], rtol=0, atol=1e-7)
    with pytest.raises(AssertionError):
        testing.assert_almost_equal([2e-7], [0.0], rtol=0, atol=1e-7)
    # relative to `desired`, not symmetric
    testing.assert_almost_equal([1.0], [1.5], rtol=0.34, atol=0)
    with pytest.raises(AssertionError):
        testing.assert_almost_equal([1.5], [1.0], rtol=0.34, atol=0)


def test_failure_message_names_the_worst_element():
    actual = np.zeros((2, 3))
    desired = np.zeros((2, 3))
    actual[0, 1] = 1e-3
    actual[1, 2] = 5.0
    with pytest.raises(AssertionError) as info:
        testing.assert_almost_equal(actual, desired, names=("mine", "theirs"))
    message = str(info.value)
    assert "2 of 6" in message and "(1, 2)" in message and "mine=5.0" in message and "theirs=0.0" in message


def test_shape_mismatch_fails_even_when_broadcastable():
    with pytest.raises(AssertionError, match=r"shape mismatch.*\(1, 2\).*\(2,\)"):
        testing.assert_almost_equal(np.zeros((1, 2)), np.zeros(2))


def test_nan_handling():
    with pytest.raises(AssertionError, match="NaN"):
        testing.assert_almost_equal([np.nan], [np.nan])
    with pytest.raises(AssertionError, match="NaN"):
        testing.assert_almost_equal([1.0], [np.nan])
    testing.assert_almost_equal([np.nan, 1.0], [np.nan, 1.0], equal_nan=True)
    with pytest.raises(AssertionError, match="NaN positions"):
        testing.assert_almost_equal([np.nan, 1.0], [1.0, np.nan], equal_nan=True)


def test_infinities_match_only_themselves():
    testing.assert_almost_equal([np.inf, -np.inf, 1.0], [np.inf, -np.inf, 1.0])
    for actual, desired in (([1.0], [np.inf]), ([np.inf], [1.0]), ([-np.inf], [np.inf]),
                            ([np.inf], [-np.inf]), ([1e300], [np.inf])):
        with pytest.raises(AssertionError, match="infinit"):
            testing.assert_almost_equal(actual, desired, rtol=1e-3, atol=1e-3)


# ------------------------------------------------------------------------------------------ numeric_gradient
def test_numeric_gradient_of_known_functions():
    x = nd.array([[0.5, -1.0], [2.0, 0.25]], dtype="float64")
    y = nd.array([[3.0, 1.5], [-0.5, 2.0]], dtype="float64")
    head = np.array([[1.0, 2.0], [0.5, 1.5]])
    gx, gy = testing.numeric_gradient(lambda a, b: a * a * b, [x, y], head, eps=1e-6)
    X, Y = x.asnumpy(), y.asnumpy()
    np.testing.assert_allclose(gx, 2 * X * Y * head, rtol=1e-8)
    np.testing.assert_allclose(gy, X * X * head, rtol=1e-8)
    assert gx.dtype == np.float64
    # the arrays are restored exactly
    assert x.asnumpy().tolist() == [[0.5, -1.0], [2.0, 0.25]] and x.dtype == np.float64


def test_numeric_gradient_runs_in_float64_for_float32_arrays():
    # In float32 a step of 1e-6 on values near 1 is lost to rounding; the docstring promises float64.
    x = nd.array([1.1, 0.9, 1.3], dtype="float32")
    (g,) = testing.numeric_gradient(lambda a: a.exp(), [x], np.ones(3), eps=1e-6)
    np.testing.assert_allclose(g, np.exp(x.asnumpy().astype(np.float64)), rtol=1e-7)
    assert x.dtype == np.float32 and x.asnumpy().tolist() == [np.float32(1.1), np.float32(0.9),
                                                             np.float32(1.3)]


def test_numeric_gradient_restores_an_array_listed_twice():
    x = nd.array([1.5, -0.5], dtype="float32")
    ga, gb = testing.numeric_gradient(lambda a, b: a * b, [x, x], np.ones(2), eps=1e-6)
    # both entries are the same array, so each perturbation moves both factors: d(x*x)/dx = 2x
    np.testing.assert_allclose(ga, 2 * x.asnumpy(), rtol=1e-6)
    np.testing.assert_allclose(gb, 2 * x.asnumpy(), rtol=1e-6)
    assert x.dtype == np.float32 and x.asnumpy().tolist() == [1.5, -0.5]


def test_numeric_gradient_handles_non_contiguous_arrays():
    base = nd.array(np.arange(6, dtype=np.float64).reshape(2, 3) + 1)
    x = base.T  # a transposed view
    (g,) = testing.numeric_gradient(lambda a: a * a, [x], np.ones((3, 2)), eps=1e-6)
    np.testing.assert_allclose(g, 2 * x.asnumpy(), rtol=1e-7)


def test_numeric_gradient_runs_on_the_arrays_context():
    # Formerly cpu only (it swapped the arrays' buffers on the host); now fn gets copies on gpu(0).
    with backend.emulation(True):
        x = nd.array([1.5, -0.5], ctx=gp.gpu(0))
        seen = []

        def fn(a):
            seen.append(a.context)
            return a * a * 2
        (g,) = testing.numeric_gradient(fn, [x], np.ones(2), eps=1e-6)
        np.testing.assert_allclose(g, 4 * x.asnumpy(), rtol=1e-7)
        assert seen and all(c == gp.gpu(0) for c in seen)


# ------------------------------------------------------------------------------------------ check_gradient
def test_check_gradient_passes_on_correct_gradients():
    x = nd.array([[0.5, -1.0], [2.0, 0.25]])
    testing.check_gradient(lambda a: (a * a).sum(), [x])  # the module docstring's example
    w = nd.array([[0.3, -0.2, 0.1], [0.5, 0.4, -0.6]])
    b = nd.array([0.1, -0.1])
    inp = nd.array([[1.0, 2.0, 3.0]])
    testing.check_gradient(lambda x_, w_, b_: nd.dot(x_, w_.T) + b_, [inp, w, b])
    testing.check_gradient(lambda a: nd.softmax(a.exp(), axis=0), [x])


def _wrong_op(x):
    data = x._data

    def backward(g, needs):
        return (g * 3 * data * data + 1e-3,)  # d(x^3)/dx with a small error
    return result(data ** 3, x._ctx, "cube_wrong", (x,), backward, saved=(x,))


def _cube(x):
    data = x._data

    def backward(g, needs):
        return (g * 3 * data * data,)
    return result(data ** 3, x._ctx, "cube", (x,), backward, saved=(x,))


def test_check_gradient_catches_a_wrong_backward():
    x = nd.array([0.5, -1.0, 2.0])
    testing.check_gradient(_cube, [x])
    with pytest.raises(AssertionError, match=r"arrays\[0\]"):
        testing.check_gradient(_wrong_op, [x])


def test_check_gradient_names_the_wrong_array():
    def fn(a, b):
        def backward(g, needs):
            return (g * b._data, g * a._data * 2)  # wrong for b only
        return result(a._data * b._data, a._ctx, "mul_wrong", (a, b), backward, saved=(a, b))
    with pytest.raises(AssertionError, match=r"arrays\[1\]"):
        testing.check_gradient(fn, [nd.array([1.0, 2.0]), nd.array([3.0, 4.0])])


def test_check_gradient_restores_the_arrays():
    x = nd.array([1.0, 2.0], dtype="float32")
    y = nd.array([3.0, 4.0])
    y.attach_grad(grad_req="add")
    y.grad[:] = 7
    grad_buffer = y.grad
    testing.check_gradient(lambda a, b: a * b, [x, y])
    assert x.dtype == np.float32 and x.grad is None and x._grad_req == "null"
    assert y.dtype == np.float32 and y.grad is grad_buffer and y._grad_req == "add"
    assert y.grad.asnumpy().tolist() == [7.0, 7.0]
    assert not autograd.is_recording()


def test_check_gradient_refuses_bad_arguments():
    with pytest.raises(TypeError, match=r"arrays\[0\]"):
        testing.check_gradient(lambda a: a, [np.ones(2)])
    with pytest.raises(TypeError, match="NDArray"):
        testing.check_gradient(lambda a: 3.0, [nd.ones((2,))])
    # an array fn never reads would "pass" with zero gradients on both sides: refused instead
    x, unused = nd.array([1.0, 2.0]), nd.array([3.0])
    with pytest.raises(ValueError, match=r"did not use arrays\[1\].*Parameters"):
        testing.check_gradient(lambda a, b: a * a, [x, unused])


def test_check_gradient_runs_on_gpu_contexts():
    # Formerly refused (cpu only); now autograd and the finite differences both run on gpu(0) copies.
    with backend.emulation(True):
        x = nd.array([0.5, -1.0, 2.0], ctx=gp.gpu(0))
        testing.check_gradient(_cube, [x])
        testing.check_gradient(lambda a: a.relu() * 3, [x], dtype=None)  # float32: the ReLU kernel
        with pytest.raises(AssertionError, match=r"gradient of input 0 \(arrays\[0\]\)"):
            testing.check_gradient(_wrong_op, [x])


def test_check_gradient_never_changes_the_callers_arrays():
    # fn sees the caller's arrays unchanged while the check runs (another thread would too): the
    # check works on float64 copies instead of swapping the arrays' buffers in place.
    x = nd.array([1.0, 2.0], dtype="float32")
    buffer = x._data
    during = []

    def fn(a):
        during.append((x.dtype, x._data is buffer, a is x))
        return a * a
    testing.check_gradient(fn, [x])
    testing.numeric_gradient(fn, [x], np.ones(2))
    assert during and all(d == (np.float32, True, False) for d in during)


def test_check_gradient_of_a_block_through_its_parameters():
    from gpuparams import init
    from gpuparams.gluon import nn
    net = nn.Dense(2, activation="tanh", in_units=3)
    net.initialize(init.Normal(0.5))
    weight = net.weight.data()
    x = nd.array([[0.5, -1.0, 0.25]])
    testing.check_gradient(lambda x_, w_, b_: net(x_), [x, net.weight, net.bias])
    assert net.weight.data() is weight and weight.dtype == np.float32  # rebound only during the check
    with pytest.raises(ValueError, match=r"did not use arrays\[1\]"):
        testing.check_gradient(lambda x_, w_, b_: net(x_), [x, net.weight.data(), net.bias.data()],
                               dtype=None)
