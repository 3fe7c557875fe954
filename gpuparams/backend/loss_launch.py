"""The loss launchers (``kernels/loss.cu``): softmax cross-entropy with class-index labels and the
squared error, forward and backward, plus the whole ``L2Loss`` block in one launch.

- :func:`softmax_ce_forward`, :func:`softmax_ce_backward`
- :func:`l2_forward`, :func:`l2_backward`, :func:`l2_rows`

Each takes a :class:`~gpuparams.backend.devices.Device` or a ``gpu`` context and raw backend arrays
(float32, C-contiguous); ``out=`` arguments let a captured training step write into buffers it
allocated before the capture.
"""
from __future__ import annotations

import numpy as np

from . import loader as _loader
from ._arrays import alloc as _alloc
from ._arrays import cdiv as _cdiv
from ._arrays import check_array as _check_array
from ._arrays import kernel_device as _kernel_device

__all__ = ["softmax_ce_forward", "softmax_ce_backward", "l2_forward", "l2_backward", "l2_rows"]

_ROW_THREADS = 128       # the row kernels reduce over exactly this many threads (loss.cu)
_ELEMENTWISE_THREADS = 256
_INT_MAX = 2**31 - 1


def _check_count(name, n):
    if n > _INT_MAX:
        raise ValueError(f"{name}: {n} elements is more than the kernels' int range ({_INT_MAX}); "
                         "split the batch")


def _row_grid(dev, rows):
    return (max(1, min(rows, 32 * dev.sm_count)), 1, 1)


def _elementwise_grid(dev, n):
    return (max(1, min(_cdiv(n, 4 * _ELEMENTWISE_THREADS), 8 * dev.sm_count)), 1, 1)


def _out(dev, name, out, shape):
    return _alloc(dev, shape) if out is None else _check_array(dev, name, out, shape)


def softmax_ce_forward(ctx, x, label, loss=None, stats=None):
    """Per-row softmax cross-entropy ``logsumexp(x[r]) - x[r, label[r]]`` of 2-D logits.

    Parameters
    ----------
    ctx : Device or Context
    x : array (rows, classes), float32
    label : array (rows,), float32
        Class indices; clipped to ``[0, classes-1]`` on the device (check them beforehand).
    loss : array (rows,), optional
        Where to write the loss.
    stats : array (rows, 2), optional
        Where to write each row's maximum and the log of its sum of ``exp(x - max)`` (what
        :func:`softmax_ce_backward` reads). Rows whose maximum is +inf share the probability among
        their +inf entries; an all ``-inf`` row gives NaN.

    Returns
    -------
    (loss, stats)
    """
    dev = _kernel_device(ctx, x)
    _check_array(dev, "x", x, ndim=2)
    rows, classes = x.shape
    _check_array(dev, "label", label, (rows,))
    _check_count("softmax_ce_forward", x.size)
    if classes == 0:
        raise ValueError("softmax_ce_forward: x has 0 classes; a softmax needs at least one")
    with dev.scope():
        loss = _out(dev, "loss", loss, (rows,))
        stats = _out(dev, "stats", stats, (rows, 2))
        if rows:
            _loader.launch(dev, "loss.cu", "softmax_ce_fwd", _row_grid(dev, rows), (_ROW_THREADS, 1, 1),
                           (x, label, loss, stats, np.int32(rows), np.int32(classes)))
    return loss, stats


def softmax_ce_backward(ctx, x, label, stats, g, out=None):
    """``g[r] * (softmax(x)[r, c] - (c == label[r]))``: the gradient of ``sum(g * loss)``.

    Parameters
    ----------
    x : array (rows, classes); label, g : arrays (rows,)
    stats : array (rows, 2)
        From :func:`softmax_ce_forward`.
    out : array like ``x``, optional

    Returns
    -------
    array like ``x``
    """
    dev = _kernel_device(ctx, x)
    _check_array(dev, "x", x, ndim=2)
    rows, classes = x.shape
    for name, a in (("label", label), ("g", g)):
        _check_array(dev, name, a, (rows,))
    _check_array(dev, "stats", stats, (rows, 2))
    with dev.scope():
        dx = _out(dev, "out", out, x.shape)
        if x.size:
            _loader.launch(dev, "loss.cu", "softmax_ce_bwd", _elementwise_grid(dev, x.size),
                           (_ELEMENTWISE_THREADS, 1, 1),
                           (x, label, stats, g, dx, np.int32(rows), np.int32(classes)))
    return dx


def l2_forward(ctx, p, y, out=None):
    """``(p - y)**2`` elementwise (arrays of one shape)."""
    dev = _kernel_device(ctx, p)
    _check_array(dev, "pred", p)
    _check_array(dev, "label", y, p.shape)
    _check_count("l2_forward", p.size)
    with dev.scope():
        out = _out(dev, "out", out, p.shape)
        if p.size:
            _loader.launch(dev, "loss.cu", "l2_fwd", _elementwise_grid(dev, p.size),
                           (_ELEMENTWISE_THREADS, 1, 1),
                           (p.reshape(-1), y.reshape(-1), out.reshape(-1), np.int32(p.size)))
    return out


def l2_backward(ctx, p, y, g, out=None):
    """``g * (2*(p - y))`` elementwise: the gradient of ``sum(g * (p - y)**2)`` for ``p``."""
    dev = _kernel_device(ctx, p)
    _check_array(dev, "pred", p)
    _check_array(dev, "label", y, p.shape)
    _check_array(dev, "g", g, p.shape)
    with dev.scope():
        out = _out(dev, "out", out, p.shape)
        if p.size:
            _loader.launch(dev, "loss.cu", "l2_bwd", _elementwise_grid(dev, p.size),
                           (_ELEMENTWISE_THREADS, 1, 1),
                           (p.reshape(-1), y.reshape(-1), g.reshape(-1), out.reshape(-1),
                            np.int32(p.size)))
    return out


def l2_rows(ctx, p, y, *, scale, gscale, loss=None, dp=None):
    """The ``L2Loss`` block in one launch on 2-D ``p`` (rows, cols) and ``y`` of its shape.

    ``loss[r] = sum_c((p - y)**2 * scale) / cols`` (summed in column order) and
    ``dp = gscale * (2*(p - y))``: with ``scale = weight/2`` and ``gscale = (1/cols)*(weight/2)``
    (each rounded to float32, as the uncaptured operators round them) these are the block's loss and
    the gradient of its sum, bit for bit.

    Returns
    -------
    (loss, dp)
    """
    dev = _kernel_device(ctx, p)
    _check_array(dev, "pred", p, ndim=2)
    rows, cols = p.shape
    _check_array(dev, "label", y, p.shape)
    _check_count("l2_rows", p.size)
    if cols == 0:
        raise ValueError("l2_rows: pred has 0 columns; the mean over them is undefined")
    with dev.scope():
        loss = _out(dev, "loss", loss, (rows,))
        dp = _out(dev, "dp", dp, p.shape)
        if rows:
            _loader.launch(dev, "loss.cu", "l2_rows", _row_grid(dev, rows), (_ROW_THREADS, 1, 1),
                           (p, y, loss, dp, np.int32(rows), np.int32(cols), np.float32(scale),
                            np.float32(gscale)))
    return loss, dp
