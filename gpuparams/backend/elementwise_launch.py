"""The elementwise launchers: ReLU forward / backward (``kernels/elementwise.cu``) and the fused
optimizer updates (``kernels/optimizer.cu``).

- :func:`relu_forward`, :func:`relu_backward`
- :func:`sgd_update`, :func:`adam_update` — in place
- :func:`sgd_update_from`, :func:`adam_update_from` — the same, reading the hyperparameters from a
  device array (the captured training step writes them there before each launch of its graph)

Each takes a :class:`~gpuparams.backend.devices.Device` or a ``gpu`` context (resolved with the data,
see :func:`~gpuparams.backend.devices.device_for`) and raw backend arrays.
"""
from __future__ import annotations

import numpy as np

from . import loader as _loader
from ._arrays import alloc as _alloc
from ._arrays import cdiv as _cdiv
from ._arrays import check_array as _check_array
from ._arrays import kernel_device as _kernel_device

__all__ = ["relu_forward", "relu_backward", "sgd_update", "adam_update", "sgd_update_from",
           "adam_update_from", "SGD_HYPER", "SGD_MOM_HYPER", "ADAM_HYPER"]

#: The order of the hyperparameters in the device arrays of the ``*_from`` launchers.
SGD_HYPER = ("lr", "wd", "rescale_grad", "clip_gradient")
SGD_MOM_HYPER = ("lr", "momentum", "wd", "rescale_grad", "clip_gradient")
ADAM_HYPER = ("lr_t", "beta1", "one_minus_beta1", "beta2", "one_minus_beta2", "epsilon", "wd",
              "rescale_grad", "clip_gradient")

_ELEMENTWISE_THREADS = 256
#: Largest element count one elementwise launch handles; bigger arrays are processed in chunks so
#: the kernels' ``int n`` never overflows. A multiple of 4 keeps every chunk 16-byte aligned.
_ELEMENTWISE_CHUNK = 2**30


def _elementwise_grid(dev, n):
    # Enough blocks for 4 elements per thread, capped at a few waves (the loops are grid-stride).
    return (max(1, min(_cdiv(n, 4 * _ELEMENTWISE_THREADS), 8 * dev.sm_count)), 1, 1)


def _chunks(n):
    """``(start, stop)`` ranges of at most :data:`_ELEMENTWISE_CHUNK` elements covering ``n``."""
    return [(s, min(n, s + _ELEMENTWISE_CHUNK)) for s in range(0, n, _ELEMENTWISE_CHUNK)]


def _check_same(dev, name, a, like):
    return _check_array(dev, name, a, like.shape)


def _flat(a):
    return a.reshape(-1)


def relu_forward(ctx, x, out=None):
    """``max(x, 0)`` elementwise; ``out`` may be ``x`` itself (in place).

    Parameters
    ----------
    ctx : Device or Context
    x : array, float32, C-contiguous, any shape
    out : array like ``x``, optional

    Returns
    -------
    array like ``x``
    """
    dev = _kernel_device(ctx, x)
    _check_array(dev, "x", x)
    with dev.scope():
        y = _alloc(dev, x.shape) if out is None else _check_same(dev, "out", out, x)
        xf, yf = _flat(x), _flat(y)
        for s, e in _chunks(x.size):
            _loader.launch(dev, "elementwise.cu", "relu_fwd", _elementwise_grid(dev, e - s),
                   (_ELEMENTWISE_THREADS, 1, 1), (xf[s:e], yf[s:e], np.int32(e - s)))
    return y


def relu_backward(ctx, dy, y, out=None):
    """``dy ⊙ (y > 0)`` elementwise, ``y`` being the ReLU's output; ``out`` may be ``dy``.

    Returns
    -------
    array like ``dy``
    """
    dev = _kernel_device(ctx, dy)
    _check_array(dev, "dy", dy)
    _check_same(dev, "y", y, dy)
    with dev.scope():
        dx = _alloc(dev, dy.shape) if out is None else _check_same(dev, "out", out, dy)
        gf, yf, df = _flat(dy), _flat(y), _flat(dx)
        for s, e in _chunks(dy.size):
            _loader.launch(dev, "elementwise.cu", "relu_bwd", _elementwise_grid(dev, e - s),
                   (_ELEMENTWISE_THREADS, 1, 1), (gf[s:e], yf[s:e], df[s:e], np.int32(e - s)))
    return dx


def _clip_value(clip_gradient):
    # The kernels treat a negative clip as "no clipping".
    if clip_gradient is None:
        return np.float32(-1.0)
    if clip_gradient < 0:
        raise ValueError(f"clip_gradient must be >= 0 or None, got {clip_gradient}")
    return np.float32(clip_gradient)


def sgd_update(ctx, weight, grad, mom=None, *, lr, momentum=0.0, wd=0.0, rescale_grad=1.0,
               clip_gradient=None):
    """One SGD step on ``weight`` in place (and on ``mom`` when given), MXNet's formula.

    ``g = clip(rescale_grad*grad)``; without ``mom``: ``w -= lr*(g + wd*w)``; with ``mom``:
    ``mom = momentum*mom - lr*(g + wd*w); w += mom``.

    Parameters
    ----------
    ctx : Device or Context
    weight, grad : arrays of one shape, float32, C-contiguous
    mom : array like ``weight``, optional
        The momentum state; required when ``momentum != 0``.
    lr, momentum, wd, rescale_grad : float
    clip_gradient : float or None
        Clip ``rescale_grad*grad`` to ``[-clip, clip]``; None for no clipping.
    """
    dev = _kernel_device(ctx, weight)
    _check_array(dev, "weight", weight)
    _check_same(dev, "grad", grad, weight)
    if mom is None and momentum != 0:
        raise ValueError(f"momentum={momentum} needs the momentum state array mom")
    if mom is not None:
        _check_same(dev, "mom", mom, weight)
    clip = _clip_value(clip_gradient)
    wf, gf = _flat(weight), _flat(grad)
    mf = None if mom is None else _flat(mom)
    with dev.scope():
        for s, e in _chunks(weight.size):
            grid = _elementwise_grid(dev, e - s)
            if mf is None:
                _loader.launch(dev, "optimizer.cu", "sgd_update", grid, (_ELEMENTWISE_THREADS, 1, 1),
                       (wf[s:e], gf[s:e], np.int32(e - s), np.float32(lr), np.float32(wd),
                        np.float32(rescale_grad), clip))
            else:
                _loader.launch(dev, "optimizer.cu", "sgd_mom_update", grid, (_ELEMENTWISE_THREADS, 1, 1),
                       (wf[s:e], gf[s:e], mf[s:e], np.int32(e - s), np.float32(lr),
                        np.float32(momentum), np.float32(wd), np.float32(rescale_grad), clip))
    return weight


def adam_update(ctx, weight, grad, mean, var, *, lr_t, beta1, beta2, epsilon, wd=0.0,
                rescale_grad=1.0, clip_gradient=None):
    """One Adam step on ``weight``, ``mean`` and ``var`` in place, MXNet's formula.

    ``g = clip(rescale_grad*grad + wd*w); m = beta1*m + (1-beta1)*g; v = beta2*v + (1-beta2)*g²;
    w -= lr_t*m/(sqrt(v) + epsilon)``, where the caller passes the bias-corrected
    ``lr_t = lr*sqrt(1-beta2**t)/(1-beta1**t)``.

    Parameters
    ----------
    ctx : Device or Context
    weight, grad, mean, var : arrays of one shape, float32, C-contiguous
    lr_t, beta1, beta2, epsilon, wd, rescale_grad : float
    clip_gradient : float or None
    """
    dev = _kernel_device(ctx, weight)
    _check_array(dev, "weight", weight)
    _check_same(dev, "grad", grad, weight)
    _check_same(dev, "mean", mean, weight)
    _check_same(dev, "var", var, weight)
    clip = _clip_value(clip_gradient)
    wf, gf, mf, vf = _flat(weight), _flat(grad), _flat(mean), _flat(var)
    with dev.scope():
        for s, e in _chunks(weight.size):
            _loader.launch(dev, "optimizer.cu", "adam_update", _elementwise_grid(dev, e - s),
                   (_ELEMENTWISE_THREADS, 1, 1),
                   (wf[s:e], gf[s:e], mf[s:e], vf[s:e], np.int32(e - s), np.float32(lr_t),
                    np.float32(beta1), np.float32(1.0 - beta1), np.float32(beta2),
                    np.float32(1.0 - beta2), np.float32(epsilon), np.float32(wd),
                    np.float32(rescale_grad), clip))
    return weight


def _check_hyper(dev, hyper, names):
    _check_array(dev, "hyper", hyper, (len(names),))


def sgd_update_from(ctx, weight, grad, mom, hyper):
    """:func:`sgd_update` with the hyperparameters read on the device from ``hyper``.

    Parameters
    ----------
    ctx : Device or Context
    weight, grad : arrays of one shape, float32, C-contiguous
    mom : array like ``weight`` or None
        With it, SGD with momentum.
    hyper : float32 array
        :data:`SGD_HYPER` (without ``mom``) or :data:`SGD_MOM_HYPER` (with it), in that order; a
        negative ``clip_gradient`` means no clipping.
    """
    dev = _kernel_device(ctx, weight)
    _check_array(dev, "weight", weight)
    _check_same(dev, "grad", grad, weight)
    if mom is not None:
        _check_same(dev, "mom", mom, weight)
    _check_hyper(dev, hyper, SGD_HYPER if mom is None else SGD_MOM_HYPER)
    wf, gf = _flat(weight), _flat(grad)
    mf = None if mom is None else _flat(mom)
    with dev.scope():
        for s, e in _chunks(weight.size):
            grid = _elementwise_grid(dev, e - s)
            if mf is None:
                _loader.launch(dev, "optimizer.cu", "sgd_update_p", grid, (_ELEMENTWISE_THREADS, 1, 1),
                               (wf[s:e], gf[s:e], np.int32(e - s), hyper))
            else:
                _loader.launch(dev, "optimizer.cu", "sgd_mom_update_p", grid,
                               (_ELEMENTWISE_THREADS, 1, 1),
                               (wf[s:e], gf[s:e], mf[s:e], np.int32(e - s), hyper))
    return weight


def adam_update_from(ctx, weight, grad, mean, var, hyper):
    """:func:`adam_update` with the hyperparameters read on the device from ``hyper``
    (:data:`ADAM_HYPER`, in that order)."""
    dev = _kernel_device(ctx, weight)
    _check_array(dev, "weight", weight)
    _check_same(dev, "grad", grad, weight)
    _check_same(dev, "mean", mean, weight)
    _check_same(dev, "var", var, weight)
    _check_hyper(dev, hyper, ADAM_HYPER)
    wf, gf, mf, vf = _flat(weight), _flat(grad), _flat(mean), _flat(var)
    with dev.scope():
        for s, e in _chunks(weight.size):
            _loader.launch(dev, "optimizer.cu", "adam_update_p", _elementwise_grid(dev, e - s),
                           (_ELEMENTWISE_THREADS, 1, 1),
                           (wf[s:e], gf[s:e], mf[s:e], vf[s:e], np.int32(e - s), hyper))
    return weight
