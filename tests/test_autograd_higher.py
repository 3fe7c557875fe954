"""autograd.Function, autograd.mark_variables and grad(..., create_graph=True).

Second derivatives: for every operator registered with ``higher_order=True`` (its backward is also
written with recorded operators), the recorded gradient is itself checked by
``gpuparams.testing.check_gradient`` against central differences of the first-order gradients, on
every context; the values MXNet 1.9.1 gives for the operators it supports are checked too
(tests/data/mxnet_compat_semantics.json, made by tests/data/mxnet_compat_semantics_cases.py).
"""
import json
import pathlib

import numpy as np
import pytest

from gpuparams import autograd, nd, ops
from gpuparams.autograd import AutogradError
from gpuparams.ops._core import result
from gpuparams.testing import check_gradient

MX = json.loads((pathlib.Path(__file__).parent / "data" / "mxnet_compat_semantics.json").read_text())
_R = np.random.default_rng(15)


def _u(*shape, low=-1.0, high=1.0):
    return _R.uniform(low, high, size=shape)


def _away(values, gap=0.1):
    values = values.copy()
    values[np.abs(values) < gap] = gap
    return values


def _cubic(y):
    """A non-linear scalar of ``y`` with distinct weights, so every second derivative matters."""
    w = nd.array(0.5 + (np.arange(y.size) % 7).reshape(y.shape) / 7.0, ctx=y.context, dtype=y.dtype)
    return (w * y * y * y).sum()


_A, _B, _ROW = _away(_u(3, 4)), _away(_u(3, 4)), _away(_u(1, 4))
_POS, _POS_ROW = _u(3, 4, low=0.5, high=2.0), _u(1, 4, low=0.5, high=2.0)
_DISTINCT = np.arange(12.0).reshape(3, 4)[:, ::-1] * 0.1 + 0.05

# operator -> (function of the NDArrays, host inputs). Each function goes through the operator with
# every input, inside _cubic, so its second derivatives are non-zero.
CASES = {
    "add": (lambda a, b: ops.add(a, b), [_A, _ROW]),
    "subtract": (lambda a, b: ops.subtract(a, b) + ops.subtract(2.0, a), [_A, _ROW]),
    "multiply": (lambda a, b: ops.multiply(a, b) * 3.0, [_A, _ROW]),
    "divide": (lambda a, b: ops.divide(a, b) + ops.divide(1.0, b), [_A, _POS_ROW]),
    "power": (lambda a, b: ops.power(a, b) + ops.power(a, 3) + ops.power(2.0, b), [_POS, _POS_ROW]),
    "negative": (lambda a: ops.negative(a), [_A]),
    "exp": (lambda a: ops.exp(a), [_A]),
    "log": (lambda a: ops.log(a), [_POS]),
    "sqrt": (lambda a: ops.sqrt(a), [_POS]),
    "square": (lambda a: ops.square(a), [_A]),
    "sigmoid": (lambda a: ops.sigmoid(a), [_A]),
    "tanh": (lambda a: ops.tanh(a), [_A]),
    "relu": (lambda a: ops.relu(a) + a, [_A]),
    "sign": (lambda a: ops.sign(a) * a, [_A]),
    "sum": (lambda a: ops.sum(a, axis=1).reshape((3, 1)) * ops.sum(a) + ops.sum(a, axis=0, keepdims=True)
            * ops.sum(a, axis=1, exclude=True).reshape((1, 4)), [_A]),
    "mean": (lambda a: ops.mean(a, axis=0) + ops.mean(a), [_A]),
    "max": (lambda a: ops.max(a, axis=1) * ops.max(a), [_DISTINCT]),
    "min": (lambda a: ops.min(a, axis=0) * ops.min(a), [_DISTINCT]),
    "reshape": (lambda a: ops.reshape(a, (4, 3)) * ops.reshape(a, (4, 3)), [_A]),
    "transpose": (lambda a: ops.transpose(a)
                  * ops.transpose(ops.reshape(a, (3, 2, 2)), (2, 0, 1)).reshape((4, 3)), [_A]),
    "broadcast_to": (lambda a, b: ops.broadcast_to(b, (3, 4)) * a, [_A, _ROW]),
    "broadcast_axis": (lambda a, b: ops.broadcast_axis(b, axis=0, size=3) * a, [_A, _ROW]),
    "broadcast_like": (lambda a, b: ops.broadcast_like(b, a) * a, [_A, _ROW]),
    "dot": (lambda a, c, v: ops.dot(a, c) + ops.dot(c, a, transpose_a=True, transpose_b=True).T
            + ops.dot(a, v).reshape((3, 1)) + ops.dot(v, v), [_A, _u(4, 3), _u(4)]),
    "dense": (lambda x, w, b: ops.dense.dense(x, w, b) + ops.dense.dense(x, w, b, activation="relu")
              + ops.FullyConnected(x.reshape((3, 2, 2)), w, no_bias=True), [_A, _u(2, 4), _u(2)]),
}


def test_every_higher_order_operator_has_a_case():
    assert sorted(CASES) == ops.higher_order_ops()


def _recorded_gradient(fn, k):
    """``fn``'s k-th gradient as a function of its inputs: recorded with create_graph=True while
    check_gradient records, and a plain first-order gradient for its finite differences."""
    def gradient(*xs):
        if autograd.is_recording():
            return autograd.grad(_cubic(fn(*xs)), list(xs), create_graph=True)[k]
        leaves = [x.copy() for x in xs]
        for leaf in leaves:
            leaf.attach_grad()
        with autograd.record():
            y = _cubic(fn(*leaves))
        return autograd.grad(y, leaves)[k]
    return gradient


@pytest.mark.parametrize("name", sorted(CASES))
def test_second_derivatives_match_differences_of_first_derivatives(name, ctx):
    fn, host = CASES[name]
    arrays = [nd.array(h, ctx=ctx, dtype="float64") for h in host]
    for k in range(len(arrays)):
        check_gradient(_recorded_gradient(fn, k), arrays, eps=1e-5, rtol=1e-5, atol=1e-7)


@pytest.mark.parametrize("name", ["relu", "dense"])
def test_second_derivatives_on_the_float32_kernel_paths(name, ctx):
    fn, host = CASES[name]
    arrays = [nd.array(h, ctx=ctx, dtype="float32") for h in host]
    for k in range(len(arrays)):
        check_gradient(_recorded_gradient(fn, k), arrays, eps=1e-5, rtol=2e-3, atol=2e-4, dtype=None)


@pytest.mark.parametrize("name", ["exp", "log", "sigmoid", "tanh", "relu"])
def test_second_derivatives_match_mxnet(name, ctx):
    want = MX["second_derivatives"][name]
    x = nd.array([0.5, 1.5, 2.0], ctx=ctx)
    x.attach_grad()
    with autograd.record():
        y = getattr(nd, name)(x)
        dx = autograd.grad(y, [x], create_graph=True, retain_graph=True)[0]
        z = dx.sum()
    z.backward()
    np.testing.assert_allclose(dx.asnumpy(), want["grad"], rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(x.grad.asnumpy(), want["second"], rtol=1e-5, atol=1e-7)


def test_where_mxnet_has_no_second_derivative_we_have_one(ctx):
    # MXNet 1.9.1 refuses x*x*x (no FGradient for _backward_broadcast_mul); we differ on purpose.
    assert MX["second_derivatives"]["x*x*x"] == "MXNetError"
    x = nd.array([0.5, 1.5, 2.0], ctx=ctx)
    x.attach_grad()
    with autograd.record():
        dx = autograd.grad(x * x * x, [x], create_graph=True)[0]
        dx.sum().backward()
    np.testing.assert_allclose(dx.asnumpy(), 3 * np.array([0.5, 1.5, 2.0]) ** 2, rtol=1e-6)
    np.testing.assert_allclose(x.grad.asnumpy(), 6 * np.array([0.5, 1.5, 2.0]), rtol=1e-6)


def test_gradient_penalty_of_a_two_layer_network(ctx):
    # WGAN-GP style: penalty = (|d out / d x| - 1)^2, differentiated w.r.t. the weights.
    x = nd.array(_u(4, 3), ctx=ctx, dtype="float64")
    w1, w2 = nd.array(_u(5, 3), ctx=ctx, dtype="float64"), nd.array(_u(1, 5), ctx=ctx, dtype="float64")

    def penalty(w1, w2):
        xx = x.copy()
        xx.attach_grad()
        with autograd.record():
            out = nd.dense(nd.tanh(nd.dense(xx, w1)), w2).sum()
            g = autograd.grad(out, [xx], create_graph=True)[0]
            return ((g * g).sum(axis=1).sqrt() - 1).square().mean()

    def recorded(w1, w2):  # check_gradient records and differentiates w.r.t. w1, w2
        return penalty(w1, w2)
    check_gradient(recorded, [w1, w2], eps=1e-5, rtol=1e-5, atol=1e-8)


def test_an_operator_without_a_recorded_backward_is_named(ctx):
    x = nd.array([1.0, 2.0], ctx=ctx)
    x.attach_grad()
    with autograd.record():
        y = nd.log_softmax(x * 2).sum()
    with pytest.raises(AutogradError, match="backward of 'log_softmax' is not recorded") as info:
        autograd.grad(y, [x], create_graph=True)
    assert "exp" in str(info.value) and "dot" in str(info.value)  # it lists what works


def test_dot_of_3d_arrays_says_it_has_no_second_derivative(ctx):
    a, b = nd.ones((2, 2, 3), ctx=ctx), nd.ones((3, 2), ctx=ctx)
    a.attach_grad()
    with autograd.record():
        y = nd.dot(a, b).sum()
    with pytest.raises(AutogradError, match="more than 2 dimensions"):
        autograd.grad(y, [a], create_graph=True)


def test_a_higher_order_operator_must_pass_its_graph_backward():
    x = nd.ones((2,))
    x.attach_grad()
    with autograd.record(), pytest.raises(AssertionError, match="higher_order=True"):
        result(x._data * 2, x.context, "exp", (x,), lambda g, needs: (g,), saved=())
    with autograd.record(), pytest.raises(AssertionError, match="not registered with higher_order"):
        result(x._data * 2, x.context, "softmax", (x,), lambda g, needs: (g,), saved=(),
               graph_backward=lambda g, out, needs: (g,))


def test_create_graph_keeps_the_graph_and_writes_no_gradient_buffer(ctx):
    x = nd.array([1.0, 2.0], ctx=ctx)
    x.attach_grad()
    with autograd.record():
        y = (x * x * x).sum()
        g = autograd.grad(y, [x], create_graph=True)[0]
    assert x.grad.asnumpy().tolist() == [0.0, 0.0]
    y.backward()  # retain_graph defaults to create_graph: the first graph is still there
    np.testing.assert_allclose(x.grad.asnumpy(), [3.0, 12.0])
    assert g._node is not None


# ------------------------------------------------------------------------------ autograd.Function
class Sigmoid(autograd.Function):
    def forward(self, x):
        y = 1 / (1 + nd.exp(-x))
        self.save_for_backward(y)
        return y

    def backward(self, dy):
        y, = self.saved_tensors
        return dy * y * (1 - y)


class ProductAndSum(autograd.Function):
    def forward(self, a, b):
        return a * b, a + b

    def backward(self, dp, ds):
        return dp * 0 + ds * 2, dp * 3


def test_function_matches_mxnet_and_is_one_node(ctx):
    want = MX["functions"]
    x = nd.array([-1.0, 0.0, 2.0], ctx=ctx)
    x.attach_grad()
    with autograd.record():
        y = Sigmoid()(x)
        z = (y * y).sum()
    assert y._node.name == "autograd.Function 'Sigmoid'" and y._node.inputs == (x,)
    z.backward()
    np.testing.assert_allclose(y.asnumpy(), want["sigmoid forward"], rtol=1e-6)
    np.testing.assert_allclose(x.grad.asnumpy(), want["sigmoid grad of sum(y*y)"], rtol=1e-5)
    assert y.context is ctx and x.grad.context is ctx


def test_function_with_two_outputs_calls_backward_once(ctx, monkeypatch):
    calls = []
    original = ProductAndSum.backward
    monkeypatch.setattr(ProductAndSum, "backward",
                        lambda self, dp, ds: calls.append(1) or original(self, dp, ds))
    a, b = nd.array([1.0, 2.0], ctx=ctx), nd.array([3.0, 4.0], ctx=ctx)
    a.attach_grad()
    b.attach_grad()
    with autograd.record():
        p, s = ProductAndSum()(a, b)
        loss = (p + 10 * s).sum()
    loss.backward()
    assert len(calls) == 1
    want_a, want_b = MX["functions"]["two outputs grads"]
    assert a.grad.asnumpy().tolist() == want_a and b.grad.asnumpy().tolist() == want_b


def test_function_instances_are_single_use_and_outside_record_just_compute(ctx):
    assert MX["functions"]["second call raises"] == "AssertionError"
    x = nd.array([0.0], ctx=ctx)
    f = Sigmoid()
    assert f(x).asnumpy().tolist() == [0.5]
    with pytest.raises(AutogradError, match="called only once"):
        f(x)
    plain = Sigmoid()(x)
    assert plain._node is None


def test_function_backward_must_return_one_gradient_per_input(ctx):
    class Wrong(autograd.Function):
        def forward(self, a, b):
            return a * b

        def backward(self, dy):
            return dy

    class BadShape(autograd.Function):
        def forward(self, a):
            return a.sum()

        def backward(self, dy):
            return dy

    a, b = nd.ones((2,), ctx=ctx), nd.ones((2,), ctx=ctx)
    a.attach_grad()
    with autograd.record():
        y = Wrong()(a, b)
    with pytest.raises(AutogradError, match="1 gradients for 2 inputs"):
        y.backward()
    with autograd.record():
        y = BadShape()(a)
    with pytest.raises(AutogradError, match=r"gradient 0 has shape \(1,\).*input 0 has shape \(2,\)"):
        y.backward()
    with pytest.raises(TypeError, match="input 0 must be an NDArray"):
        Sigmoid()(np.ones(2))


def test_function_has_no_second_derivative_and_says_so(ctx):
    x = nd.array([0.5], ctx=ctx)
    x.attach_grad()
    with autograd.record():
        y = Sigmoid()(x)
    with pytest.raises(AutogradError, match="autograd.Function 'Sigmoid'"):
        autograd.grad(y, [x], create_graph=True)


# ------------------------------------------------------------------------------ mark_variables
def test_mark_variables_matches_mxnet(ctx):
    v, g = nd.array([1.0, 2.0], ctx=ctx), nd.zeros((2,), ctx=ctx)
    autograd.mark_variables([v], [g])
    with autograd.record():
        w = (v * v * v).sum()
    w.backward()
    assert g.asnumpy().tolist() == MX["functions"]["mark_variables write"] and v.grad is g
    v, g = nd.array([1.0, 2.0], ctx=ctx), nd.ones((2,), ctx=ctx)
    autograd.mark_variables(v, g, grad_reqs="add")
    with autograd.record():
        w = (v * 3).sum()
    w.backward()
    assert g.asnumpy().tolist() == MX["functions"]["mark_variables add"]


def test_mark_variables_checks_its_arguments(ctx):
    v = nd.ones((2,), ctx=ctx)
    with pytest.raises(ValueError, match="gradient 0 is \\(3,\\)"):
        autograd.mark_variables([v], [nd.zeros((3,), ctx=ctx)])
    with pytest.raises(ValueError, match="1 variables, 2 gradients"):
        autograd.mark_variables([v], [nd.zeros((2,), ctx=ctx)] * 2)
    with pytest.raises(ValueError, match="grad_reqs\\[0\\]"):
        autograd.mark_variables([v], [nd.zeros((2,), ctx=ctx)], grad_reqs="sometimes")
