"""The fully connected operator ``y = act(x·Wᵀ + b)``: the hot path of every model.

On ``gpu`` contexts (a real GPU or the emulated ``gpu(0)``) forward and backward run our own kernels
(:mod:`gpuparams.backend.kernels`, sources in ``kernels/*.cu``): bias and ReLU are fused into the GEMM,
the ReLU mask is applied while the backward kernels load ``dY``, and gradients of parameters are
written (or, for ``grad_req='add'`` and tied parameters, accumulated) straight into their gradient
buffers. On ``cpu`` the same maths runs through NumPy.
"""
from __future__ import annotations

from ..autograd import GradSink
from ._core import ShapeError, allow_grad_sinks, contiguous, result, same_context, xp_of
from ._registry import register

__all__ = ["dense", "FullyConnected", "DENSE_ACTIVATIONS"]

#: Activations fused into the dense operator itself; others are applied by a separate operator.
DENSE_ACTIVATIONS = (None, "relu")


def _check(x, weight, bias, activation, flatten):
    # Reads the backend arrays' shape and dtype directly: this runs at every dense call.
    if activation not in DENSE_ACTIVATIONS:
        raise ValueError(f"dense: fused activation must be None or 'relu', got {activation!r}")
    ctx = same_context("dense", x, weight)
    if bias is not None:
        same_context("dense", x, bias)
    xd, wd = x._data, weight._data
    bd = bias._data if bias is not None else None
    if wd.ndim != 2:
        raise ShapeError(f"dense: weight must be 2-D (units, in_units), got shape {tuple(wd.shape)}")
    units, in_units = wd.shape
    x_shape = tuple(xd.shape)
    if flatten:
        batch = x_shape[0]
        features = xd.size // batch if batch else 0
        lead = (batch,)
    else:
        features = x_shape[-1]
        lead = x_shape[:-1]
    if features != in_units:
        how = "flattened to" if flatten else "last axis"
        raise ShapeError(f"dense: input of shape {x_shape} ({how} {features} features) does not match "
                         f"weight of shape {tuple(wd.shape)}, which expects {in_units} input features")
    if bd is not None and tuple(bd.shape) != (units,):
        raise ShapeError(f"dense: bias must have shape ({units},), got {tuple(bd.shape)}")
    if xd.dtype != wd.dtype or (bd is not None and bd.dtype != wd.dtype):
        raise TypeError(f"dense: dtypes differ: input {xd.dtype}, weight {wd.dtype}"
                        + (f", bias {bd.dtype}" if bd is not None else "")
                        + "; cast with .astype(...) so they match")
    return ctx, lead, in_units, units


def _dense_graph_backward(g, out, needs, x, weight, activation, in_units, units):
    """dense's backward with recorded operators (both implementations): ``dz = g`` (times the
    constant ReLU mask with a fused ReLU), ``dx = dz·W``, ``dW = dzᵀ·x``, ``db = Σ dz``."""
    # Imported here, not per forward call: only create_graph=True runs this.
    from ._core import constant
    from .elementwise import multiply
    from .linalg import dot
    from .reduce import sum as _sum
    from .shape import reshape
    dz = reshape(g, (-1, units))
    if activation == "relu":  # out is 0, positive or NaN: its sign is the (constant) mask
        mask = xp_of(out._data).sign(out._data).reshape(-1, units)
        dz = multiply(dz, constant(mask, out._ctx))
    dx = reshape(dot(dz, weight), x.shape) if needs[0] else None
    dw = dot(dz, reshape(x, (-1, in_units)), transpose_a=True) if needs[1] else None
    db = _sum(dz, axis=0) if needs[2] else None
    return dx, dw, db


def _distinct_sinks(needs):
    """The GradSinks among ``needs``, one per leaf: the kernels read every accumulate flag before
    they launch, so a leaf used twice by one call (``dense(w, w)``) gets its sink at the first use
    and its other gradient is returned, for autograd to add."""
    sinks, leaves = [], []
    for n in needs:
        if isinstance(n, GradSink) and not any(n.leaf is leaf for leaf in leaves):
            leaves.append(n.leaf)
            sinks.append(n)
        else:
            sinks.append(None)
    return sinks


def _dense_kernel(x, weight, bias=None, activation=None, flatten=True):
    """:func:`dense` on a device with our kernels (float32 data): one fused GEMM + bias + ReLU
    launch forward; backward writes parameter gradients straight into their buffers."""
    from ..backend import kernels
    ctx, lead, in_units, units = _check(x, weight, bias, activation, flatten)
    out_shape = lead + (units,)
    w = weight._data
    b = bias._data if bias is not None else None
    inputs = (x, weight, bias)
    x2 = contiguous(x._data.reshape(-1, in_units))
    y = kernels.dense_forward(ctx, x2, w, b, activation=activation)
    x_shape = x.shape
    relu_out = y if activation == "relu" else None  # the mask is read only with a fused ReLU

    def backward(g, needs):
        dy = contiguous(g.reshape(-1, units))
        sinks = _distinct_sinks(needs)
        dx_sink, dw_sink, db_sink = sinks
        dx, dw, db = kernels.dense_backward(
            ctx, dy, x2, w, relu_out,
            need_dx=bool(needs[0]), need_dw=bool(needs[1]), need_db=bool(needs[2]),
            dx=dx_sink.buffer.reshape(-1, x2.shape[1]) if dx_sink else None,
            dw=dw_sink.buffer if dw_sink else None,
            db=db_sink.buffer if db_sink else None,
            accumulate_dx=bool(dx_sink and dx_sink.accumulate),
            accumulate_dw=bool(dw_sink and dw_sink.accumulate),
            accumulate_db=bool(db_sink and db_sink.accumulate))
        grads = []
        for sink, grad in zip(sinks, (dx, dw, db)):
            if sink is not None:
                sink.written()
                grads.append(None)
            else:
                grads.append(grad)
        if grads[0] is not None:
            grads[0] = grads[0].reshape(x_shape)
        return tuple(grads)
    def graph_backward(g, out, needs):
        return _dense_graph_backward(g, out, needs, x, weight, activation, in_units, units)
    out = result(y.reshape(out_shape), ctx, "dense", inputs, backward, saved=(x, inputs[1]),
                 save_output=activation == "relu", graph_backward=graph_backward)
    allow_grad_sinks(out)
    return out


@register(kernel=_dense_kernel, higher_order=True)
def dense(x, weight, bias=None, activation=None, flatten=True):
    """Fully connected layer ``act(x·Wᵀ + b)`` with ``weight`` of shape ``(units, in_units)``.

    Parameters
    ----------
    x : NDArray
        Input ``(N, ...)``; with ``flatten=True`` the trailing axes are flattened to ``in_units``,
        otherwise the last axis must be ``in_units`` and the leading axes are kept.
    weight : NDArray
        ``(units, in_units)``.
    bias : NDArray or None
        ``(units,)``.
    activation : None or 'relu'
        Fused activation.
    flatten : bool
        See ``x``.

    Returns
    -------
    NDArray
        ``(N, units)`` (or ``x.shape[:-1] + (units,)`` when ``flatten=False``).
    """
    ctx, lead, in_units, units = _check(x, weight, bias, activation, flatten)
    x2 = x._data.reshape(-1, in_units)
    out_shape = lead + (units,)
    w = weight._data
    b = bias._data if bias is not None else None
    inputs = (x, weight, bias)
    y = x2 @ w.T
    if b is not None:
        y += b
    if activation == "relu":
        xp_of(y).maximum(y, 0, out=y)
    x_shape = x.shape
    relu_out = y if activation == "relu" else None  # the mask is read only with a fused ReLU

    def backward(g, needs):
        dz = g.reshape(-1, units)
        if relu_out is not None:
            dz = dz * (relu_out > 0)
        dx = _into(needs[0], xp_of(dz).matmul, (dz, w), lambda buf: buf.reshape(-1, in_units))
        if dx is not None:
            dx = dx.reshape(x_shape)
        return (dx, _into(needs[1], xp_of(dz).matmul, (dz.T, x2)),
                _into(needs[2], _sum0, (dz,)))
    def graph_backward(g, out, needs):
        return _dense_graph_backward(g, out, needs, x, weight, activation, in_units, units)
    out = result(y.reshape(out_shape), ctx, "dense", inputs, backward, saved=(x, weight),
                 save_output=activation == "relu", graph_backward=graph_backward)
    allow_grad_sinks(out)
    return out


def _sum0(a, out=None):
    return a.sum(axis=0, out=out)


def _into(need, fn, args, view=None):
    """One gradient of the NumPy/CuPy dense backward: ``fn(*args)``, or, when ``need`` is a
    :class:`~gpuparams.autograd.GradSink` whose buffer has the result's dtype, written straight into
    the leaf's gradient buffer (``fn(*args, out=buffer)``, or ``buffer += fn(*args)`` when the sink
    accumulates), which saves autograd's copy of the result into the buffer. ``None`` when the
    input needs no gradient."""
    if not need:
        return None
    if isinstance(need, GradSink) and need.buffer.dtype == args[0].dtype:
        buffer = need.buffer if view is None else view(need.buffer)
        if need.accumulate:
            buffer += fn(*args)
        else:
            fn(*args, out=buffer)
        need.written()
        return None
    return fn(*args)


@register()
def FullyConnected(data, weight, bias=None, num_hidden=None, no_bias=False, flatten=True):
    """MXNet's functional dense layer: ``data·weightᵀ + bias``.

    Parameters
    ----------
    data, weight, bias : NDArray
        As :func:`dense`'s ``x``, ``weight``, ``bias``.
    num_hidden : int, optional
        When given, must equal ``weight.shape[0]``.
    no_bias : bool
        Ignore ``bias``.
    flatten : bool
        See :func:`dense`.
    """
    if num_hidden is not None and weight.shape[0] != num_hidden:
        raise ValueError(f"FullyConnected: num_hidden={num_hidden} but weight has shape {weight.shape}")
    return dense(data, weight, None if no_bias else bias, flatten=flatten)
