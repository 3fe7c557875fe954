"""Activations and (log-)softmax, each with its backward.

On ``gpu`` contexts ReLU runs our own kernels (:mod:`gpuparams.backend.kernels`); the others are
elementwise expressions that CuPy fuses well enough.
"""
from __future__ import annotations

import numbers

from ._core import (contiguous, normalize_axis, result, stable_log_softmax, stable_sigmoid, stable_softmax,
                    xp_of)
from .._ndarray import normalize_dtype
from ._registry import register

__all__ = ["relu", "sigmoid", "tanh", "softrelu", "softsign", "softmax", "log_softmax", "activation",
           "ACTIVATIONS"]


def _relu_graph_backward(g, out, needs):
    """relu's backward with recorded operators: ``g * sign(out)``. ``sign`` records a zero gradient
    (relu is piecewise linear), which keeps the gradient connected to the input as in MXNet: the
    second derivative is 0, not "not in the graph"."""
    from .elementwise import multiply, sign
    return (multiply(g, sign(out)),)


def _relu_kernel(x):
    """:func:`relu` on a device with our kernels (float32 data)."""
    from ..backend import kernels
    ctx = x._ctx
    out = kernels.relu_forward(ctx, contiguous(x._data))

    def backward(g, needs):
        return (kernels.relu_backward(ctx, contiguous(g), out),)
    return result(out, ctx, "relu", (x,), backward, save_output=True, saved=(),
                  graph_backward=_relu_graph_backward)


@register(method=True, kernel=_relu_kernel, out=True, higher_order=True)
def relu(x):
    """``max(x, 0)``; the gradient passes where the output is positive.

    NaN propagates as in MXNet: ``relu(NaN)`` is NaN and so is its gradient there.
    """
    data = x._data
    xp = xp_of(data)
    out = xp.maximum(data, 0)

    def backward(g, needs):
        # out is 0, positive or NaN, so its sign is the mask with NaN kept (MXNet's gradient at NaN).
        return (g * xp.sign(out),)
    return result(out, x._ctx, "relu", (x,), backward, save_output=True, saved=(),
                  graph_backward=_relu_graph_backward)


@register(method=True, out=True, higher_order=True)
def sigmoid(x):
    """Logistic function ``1 / (1 + exp(-x))``, computed without overflow for large ``|x|``."""
    data = x._data
    out = stable_sigmoid(data, xp_of(data)).astype(data.dtype, copy=False)

    def backward(g, needs):
        return (g * out * (1 - out),)

    def graph_backward(g, out, needs):
        from .elementwise import multiply, subtract
        return (multiply(multiply(g, out), subtract(1, out)),)
    return result(out, x._ctx, "sigmoid", (x,), backward, save_output=True, saved=(),
                  graph_backward=graph_backward)


@register(method=True, out=True, higher_order=True)
def tanh(x):
    """Hyperbolic tangent."""
    out = xp_of(x._data).tanh(x._data)
    if x._data.dtype.kind in "iu":  # MXNet keeps an integer input's dtype (tanh of int32 is int32)
        out = out.astype(x._data.dtype)

    def backward(g, needs):
        return (g * (1 - out * out),)

    def graph_backward(g, out, needs):
        from .elementwise import multiply, subtract
        return (multiply(g, subtract(1, multiply(out, out))),)
    return result(out, x._ctx, "tanh", (x,), backward, save_output=True, saved=(),
                  graph_backward=graph_backward)


@register(out=True)
def softrelu(x):
    """Softplus ``log(1 + exp(x))``, stable for large ``|x|``."""
    data = x._data
    xp = xp_of(data)
    out = (xp.maximum(data, 0) + xp.log1p(xp.exp(-xp.abs(data)))).astype(data.dtype, copy=False)

    def backward(g, needs):
        return (g * stable_sigmoid(data, xp).astype(g.dtype, copy=False),)
    return result(out, x._ctx, "softrelu", (x,), backward, saved=(x,))


@register(out=True)
def softsign(x):
    """``x / (1 + |x|)``."""
    data = x._data
    xp = xp_of(data)
    denom = 1 + xp.abs(data)

    def backward(g, needs):
        return (g / (denom * denom),)
    return result(data / denom, x._ctx, "softsign", (x,), backward, saved=())


def _temperature(op_name, temperature):
    """MXNet's ``temperature``: None means 1; it must be a positive number."""
    if temperature is None:
        return 1.0
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real) or not temperature > 0:
        raise ValueError(f"{op_name}: temperature must be a positive number, got {temperature!r}")
    return float(temperature)


def _scaled(data, t):
    return data if t == 1.0 else (data / t).astype(data.dtype, copy=False)


def _computed_in(op_name, x, dtype):
    """``x``'s data in the dtype the softmax is computed and returned in: ``dtype`` (MXNet's, e.g.
    float32 for float16 logits), else ``x``'s own, or float32 for integers (MXNet refuses them)."""
    if dtype is not None:
        dt = normalize_dtype(dtype, what=f"{op_name} dtype")
        if dt.kind != "f":
            raise TypeError(f"{op_name}: dtype must be a float dtype, got {dt.name}")
    else:
        dt = x._data.dtype if x._data.dtype.kind == "f" else normalize_dtype("float32")
    return x._data if x._data.dtype == dt else x._data.astype(dt)


def _grad_as(grad, dtype):
    return grad if grad.dtype == dtype else grad.astype(dtype)


@register(method=True)
def softmax(x, axis=-1, temperature=None, dtype=None):
    """Softmax of ``x / temperature`` along ``axis`` (max-subtracted, so large logits do not overflow).

    ``temperature`` (MXNet's; default None, i.e. 1) must be positive; larger values flatten the
    distribution. The gradient is ``out * (g - sum(g * out)) / temperature``. ``dtype`` (MXNet's) is
    the dtype to compute and return the result in (float16 logits with ``dtype='float32'``); by
    default the input's, float32 for an integer input (which MXNet refuses).

    Infinite logits give the limit: a row with k entries at +inf is ``1/k`` at each of them and 0
    elsewhere, a -inf entry has probability 0; a row that is all -inf, or holds a NaN, is NaN (MXNet
    gives NaN for any +inf too). See :func:`~gpuparams.ops._core.stable_softmax`.
    """
    axis = normalize_axis(axis, x.shape, "softmax")
    t = _temperature("softmax", temperature)
    data = _scaled(_computed_in("softmax", x, dtype), t)
    out = stable_softmax(data, axis, xp_of(data))
    in_dtype = x._data.dtype

    def backward(g, needs):
        grad = out * (g - (g * out).sum(axis=axis, keepdims=True))
        return (_grad_as(grad if t == 1.0 else (grad / t).astype(g.dtype, copy=False), in_dtype),)
    return result(out, x._ctx, "softmax", (x,), backward, save_output=True, saved=())


@register(method=True)
def log_softmax(x, axis=-1, temperature=None, dtype=None):
    """``log(softmax(x / temperature))`` computed as ``z - logsumexp(z)`` for stability (see
    :func:`softmax` for ``temperature`` and ``dtype``).

    Infinite logits give the limit: in a row with k entries at +inf those are ``-log k`` and the
    others -inf; a -inf entry is -inf; a row that is all -inf, or holds a NaN, is NaN.
    """
    axis = normalize_axis(axis, x.shape, "log_softmax")
    t = _temperature("log_softmax", temperature)
    data = _scaled(_computed_in("log_softmax", x, dtype), t)
    xp = xp_of(data)
    in_dtype = x._data.dtype
    out = stable_log_softmax(data, axis, xp)

    def backward(g, needs):
        grad = g - xp.exp(out) * g.sum(axis=axis, keepdims=True)
        return (_grad_as(grad if t == 1.0 else (grad / t).astype(g.dtype, copy=False), in_dtype),)
    return result(out, x._ctx, "log_softmax", (x,), backward, save_output=True, saved=())


#: Activation names accepted by ``nn.Activation`` and ``nn.Dense(activation=...)``.
ACTIVATIONS = {"relu": relu, "sigmoid": sigmoid, "tanh": tanh, "softrelu": softrelu,
               "softsign": softsign}


@register("Activation")
def activation(x, act_type):
    """Apply the activation named ``act_type`` (MXNet's ``nd.Activation``)."""
    try:
        fn = ACTIVATIONS[act_type]
    except KeyError:
        raise ValueError(f"unknown activation {act_type!r}; choose one of "
                         f"{', '.join(sorted(ACTIVATIONS))}") from None
    return fn(x)
