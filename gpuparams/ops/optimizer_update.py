"""The fused optimizer updates behind :mod:`gpuparams.optimizer`, written into the arrays in place.

Registered operators (so they run under their device like every operator, and so a traced training
step sees them), with a custom-kernel path: on a device with our kernels, float32 parameters are
updated by one fused launch per parameter (``kernels/optimizer.cu``); elsewhere by NumPy/CuPy
expressions computing the same formula. Not in ``nd``: MXNet's ``nd.sgd_update`` has another
signature. Each returns the updated ``weight``.
"""
from __future__ import annotations

import numpy as np

from ._core import xp_of
from ._registry import register

__all__ = ["sgd_update", "adam_update"]


def _sgd_kernel(weight, grad, mom, *, lr, momentum, wd, rescale_grad, clip_gradient):
    from ..backend import kernels
    kernels.sgd_update(weight._ctx, weight._data, grad._data, None if mom is None else mom._data,
                       lr=lr, momentum=momentum, wd=wd, rescale_grad=rescale_grad,
                       clip_gradient=clip_gradient)
    return weight


@register(kernel=_sgd_kernel, differentiable=False, public=False)
def sgd_update(weight, grad, mom, *, lr, momentum, wd, rescale_grad, clip_gradient):
    """SGD step: ``w -= lr*(g' + wd*w)``, or with momentum ``mom = momentum*mom - lr*(g' + wd*w)``,
    ``w += mom``; ``g' = clip(rescale_grad*grad, ±clip_gradient)`` (no clipping when None)."""
    w, g = weight._data, grad._data
    xp = xp_of(w)
    rg = g * rescale_grad if clip_gradient is None else xp.clip(g * rescale_grad, -clip_gradient,
                                                                clip_gradient)
    if mom is None:
        w -= lr * (rg + wd * w)
    else:
        m = mom._data
        m[...] = momentum * m - lr * (rg + wd * w)
        w += m
    return weight


def _adam_kernel(weight, grad, mean, var, *, lr_t, beta1, beta2, epsilon, wd, rescale_grad,
                 clip_gradient):
    from ..backend import kernels
    kernels.adam_update(weight._ctx, weight._data, grad._data, mean._data, var._data, lr_t=lr_t,
                        beta1=beta1, beta2=beta2, epsilon=epsilon, wd=wd, rescale_grad=rescale_grad,
                        clip_gradient=clip_gradient)
    return weight


def _adam_arrays(xp, w, g, m, v, lr_t, beta1, beta2, epsilon, wd, rescale_grad, clip_gradient):
    rg = g * rescale_grad + wd * w
    if clip_gradient is not None:
        rg = xp.clip(rg, -clip_gradient, clip_gradient)
    m[...] = beta1 * m + (1.0 - beta1) * rg
    v[...] = beta2 * v + (1.0 - beta2) * rg * rg
    w -= lr_t * m / (xp.sqrt(v) + epsilon)


@register(kernel=_adam_kernel, differentiable=False, public=False)
def adam_update(weight, grad, mean, var, *, lr_t, beta1, beta2, epsilon, wd, rescale_grad,
                clip_gradient):
    """Adam step with the bias correction folded into ``lr_t``: ``g' = clip(rescale_grad*grad +
    wd*w)``, ``m = beta1*m + (1-beta1)*g'``, ``v = beta2*v + (1-beta2)*g'^2``,
    ``w -= lr_t*m/(sqrt(v) + epsilon)``.

    float16 parameters are updated with float32 arithmetic (their states stay float16), since half
    precision rounds ``epsilon`` to 0 and an entry whose moments are 0 would become 0/0 = NaN.
    """
    w, g, m, v = weight._data, grad._data, mean._data, var._data
    xp = xp_of(w)
    hyper = (lr_t, beta1, beta2, epsilon, wd, rescale_grad, clip_gradient)
    if w.dtype == np.float16:
        w32, m32, v32 = (a.astype(np.float32) for a in (w, m, v))
        _adam_arrays(xp, w32, g.astype(np.float32), m32, v32, *hyper)
        m[...], v[...], w[...] = m32, v32, w32
    else:
        _adam_arrays(xp, w, g, m, v, *hyper)
    return weight
