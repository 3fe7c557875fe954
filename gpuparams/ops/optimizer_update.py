"""The fused optimizer updates behind :mod:`gpuparams.optimizer`, written into the arrays in place.

Registered operators (so they run under their device like every operator, and so a traced training
step sees them), with a custom-kernel path: on a device with our kernels, float32 parameters are
updated by one fused launch per parameter (``kernels/optimizer.cu``); elsewhere by NumPy/CuPy
expressions computing the same formula. Not in ``nd``: MXNet's ``nd.sgd_update`` has another
signature. Each returns the updated ``weight``.

The other optimizers' updates (NAG, RMSProp and its centered form, AdaGrad, AdaDelta, AdamW, signSGD /
Signum, FTML) are array expressions only, with no kernel path: each is MXNet 1.9.1's formula (its
``optimizer_op-inl.h`` / ``adamw-inl.h`` kernels or the Python ``optimizer.py`` update, checked against
values recorded from MXNet in ``tests/data/mxnet_1_9_1_optimizers.json``). In all of them
``clip(x)`` is ``x`` clipped to ``[-clip_gradient, clip_gradient]``, or ``x`` when ``clip_gradient``
is None, and every state array is written in place.
"""
from __future__ import annotations

import numpy as np

from ._core import xp_of
from ._registry import register

__all__ = ["sgd_update", "adam_update", "nag_mom_update", "rmsprop_update", "rmspropalex_update",
           "adagrad_update", "adadelta_update", "adamw_update", "signsgd_update", "signum_update",
           "ftml_update"]


def _sgd_kernel(weight, grad, mom, *, lr, momentum, wd, rescale_grad, clip_gradient):
    from ..backend import kernels
    kernels.sgd_update(weight._ctx, weight._data, grad._data, None if mom is None else mom._data,
                       lr=lr, momentum=momentum, wd=wd, rescale_grad=rescale_grad,
                       clip_gradient=clip_gradient)
    return weight


@register(kernel=_sgd_kernel, differentiable=False, public=False)
def sgd_update(weight, grad, mom, *, lr, momentum, wd, rescale_grad, clip_gradient):
    """SGD step in MXNet 1.9.1's form (its ``SGDKernel`` / ``SGDMomKernel``):
    ``w = (1 - lr*wd)*w - lr*g'``, or with momentum ``mom = momentum*mom - lr*wd*w - lr*g'``,
    ``w += mom``; ``g' = clip(rescale_grad*grad, ±clip_gradient)`` (no clipping when None), and
    ``lr*g'`` is ``(lr*rescale_grad)*grad`` without clipping.

    Written with in-place ufuncs: one temporary the size of the weight (``lr*g'``), plus one for
    the momentum's weight decay; the weight-decay pass is skipped when ``wd`` is 0.
    """
    w, g = weight._data, grad._data
    xp = xp_of(w)
    if clip_gradient is None:
        step = xp.multiply(g, lr * rescale_grad)
    else:
        step = xp.multiply(g, rescale_grad)
        xp.clip(step, -clip_gradient, clip_gradient, out=step)
        step *= lr
    if mom is None:
        if wd:
            w *= 1.0 - lr * wd
        w -= step
    else:
        m = mom._data
        m *= momentum
        if wd:
            m -= xp.multiply(w, lr * wd)
        m -= step
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
    # In place, two temporaries the size of the weight; the same operations in the same order as
    # the formula in adam_update's docstring, so the same float rounding.
    rg = xp.multiply(g, rescale_grad)
    if wd:
        rg += xp.multiply(w, wd)
    if clip_gradient is not None:
        xp.clip(rg, -clip_gradient, clip_gradient, out=rg)
    tmp = xp.multiply(rg, 1.0 - beta1)
    m *= beta1
    m += tmp
    xp.multiply(rg, 1.0 - beta2, out=tmp)
    tmp *= rg
    v *= beta2
    v += tmp
    step = xp.multiply(m, lr_t, out=rg)
    denom = xp.sqrt(v, out=tmp)
    denom += epsilon
    step /= denom
    w -= step


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


def _clip(xp, x, clip_gradient):
    return x if clip_gradient is None else xp.clip(x, -clip_gradient, clip_gradient)


@register(differentiable=False, public=False)
def nag_mom_update(weight, grad, mom, *, lr, momentum, wd, rescale_grad, clip_gradient):
    """Nesterov momentum step as MXNet 1.9.1's ``nag_mom_update`` kernel computes it in place:
    ``g' = clip(rescale_grad*grad)``, ``w_new = w + momentum*(momentum*mom - lr*(g' + wd*w)) -
    lr*(g' + wd*w)``, then ``mom = momentum*mom - lr*(g' + wd*w_new)`` (the kernel writes the weight
    first and reads it back for the momentum's weight decay)."""
    w, m = weight._data, mom._data
    xp = xp_of(w)
    g = _clip(xp, grad._data * rescale_grad, clip_gradient)
    step = lr * (g + wd * w)
    w[...] = w + momentum * (momentum * m - step) - step
    m[...] = momentum * m - lr * (g + wd * w)
    return weight


@register(differentiable=False, public=False)
def rmsprop_update(weight, grad, n, *, lr, gamma1, epsilon, wd, rescale_grad, clip_gradient,
                   clip_weights):
    """RMSProp (Tieleman & Hinton): ``g' = clip(rescale_grad*grad + wd*w)``,
    ``n = (1-gamma1)*g'^2 + gamma1*n``, ``w -= lr*g'/sqrt(n + epsilon)``, then ``w`` clipped to
    ``[-clip_weights, clip_weights]`` unless ``clip_weights`` is None."""
    w, s = weight._data, n._data
    xp = xp_of(w)
    g = _clip(xp, grad._data * rescale_grad + wd * w, clip_gradient)
    s[...] = (1.0 - gamma1) * g * g + gamma1 * s
    w -= lr * (g / xp.sqrt(s + epsilon))
    if clip_weights is not None:
        w[...] = xp.clip(w, -clip_weights, clip_weights)
    return weight


@register(differentiable=False, public=False)
def rmspropalex_update(weight, grad, n, g_avg, delta, *, lr, gamma1, gamma2, epsilon, wd, rescale_grad,
                       clip_gradient, clip_weights):
    """Centered RMSProp (Graves 2013, eqs. 38-45): ``g' = clip(rescale_grad*grad + wd*w)``,
    ``n = (1-gamma1)*g'^2 + gamma1*n``, ``g_avg = (1-gamma1)*g' + gamma1*g_avg``,
    ``delta = gamma2*delta - lr*g'/sqrt(n - g_avg^2 + epsilon)``, ``w += delta``, then the optional
    weight clipping."""
    w, s, a, d = weight._data, n._data, g_avg._data, delta._data
    xp = xp_of(w)
    g = _clip(xp, grad._data * rescale_grad + wd * w, clip_gradient)
    s[...] = (1.0 - gamma1) * g * g + gamma1 * s
    a[...] = (1.0 - gamma1) * g + gamma1 * a
    d[...] = gamma2 * d - lr * (g / xp.sqrt(s - a * a + epsilon))
    w += d
    if clip_weights is not None:
        w[...] = xp.clip(w, -clip_weights, clip_weights)
    return weight


@register(differentiable=False, public=False)
def adagrad_update(weight, grad, history, *, lr, epsilon, wd, rescale_grad, clip_gradient):
    """AdaGrad: ``g' = clip(rescale_grad*grad)``, ``history += g'^2``,
    ``w -= lr*(g'/sqrt(history + epsilon) + wd*w)``."""
    w, h = weight._data, history._data
    xp = xp_of(w)
    g = _clip(xp, grad._data * rescale_grad, clip_gradient)
    h += g * g
    w -= lr * (g / xp.sqrt(h + epsilon) + wd * w)
    return weight


@register(differentiable=False, public=False)
def adadelta_update(weight, grad, acc_g, acc_delta, *, rho, epsilon, wd, rescale_grad, clip_gradient):
    """AdaDelta (no learning rate): ``g' = clip(rescale_grad*grad)``,
    ``acc_g = rho*acc_g + (1-rho)*g'^2``, ``d = sqrt(acc_delta + epsilon)/sqrt(acc_g + epsilon)*g'``,
    ``acc_delta = rho*acc_delta + (1-rho)*d^2``, ``w -= d + wd*w``."""
    w, ag, ad = weight._data, acc_g._data, acc_delta._data
    xp = xp_of(w)
    g = _clip(xp, grad._data * rescale_grad, clip_gradient)
    ag[...] = rho * ag + (1.0 - rho) * g * g
    d = xp.sqrt(ad + epsilon) / xp.sqrt(ag + epsilon) * g
    ad[...] = rho * ad + (1.0 - rho) * d * d
    w -= d + wd * w
    return weight


@register(differentiable=False, public=False)
def adamw_update(weight, grad, mean, var, *, lr_t, beta1, beta2, epsilon, wd, rescale_grad, clip_gradient):
    """AdamW (decoupled weight decay), MXNet's ``adamw_update`` kernel with ``lr=1, eta=lr_t``:
    ``g' = clip(rescale_grad*grad)``, ``m = beta1*m + (1-beta1)*g'``, ``v = beta2*v + (1-beta2)*g'^2``,
    ``w -= lr_t*(m/(sqrt(v) + epsilon) + wd*w)``."""
    w, m, v = weight._data, mean._data, var._data
    xp = xp_of(w)
    g = _clip(xp, grad._data * rescale_grad, clip_gradient)
    m[...] = beta1 * m + (1.0 - beta1) * g
    v[...] = beta2 * v + (1.0 - beta2) * g * g
    w -= lr_t * (m / (xp.sqrt(v) + epsilon) + wd * w)
    return weight


@register(differentiable=False, public=False)
def signsgd_update(weight, grad, *, lr, wd, rescale_grad, clip_gradient):
    """signSGD: ``w = (1 - lr*wd)*w - lr*sign(clip(rescale_grad*grad))``."""
    w = weight._data
    xp = xp_of(w)
    g = _clip(xp, grad._data * rescale_grad, clip_gradient)
    w[...] = (1.0 - lr * wd) * w - lr * xp.sign(g)
    return weight


@register(differentiable=False, public=False)
def signum_update(weight, grad, mom, *, lr, momentum, wd, wd_lh, rescale_grad, clip_gradient):
    """Signum: ``mom = momentum*mom - (1-momentum)*(wd*w + clip(rescale_grad*grad))``,
    ``w = (1 - lr*wd_lh)*w + lr*sign(mom)``."""
    w, m = weight._data, mom._data
    xp = xp_of(w)
    g = _clip(xp, grad._data * rescale_grad, clip_gradient)
    m[...] = momentum * m - (1.0 - momentum) * wd * w - (1.0 - momentum) * g
    w[...] = (1.0 - lr * wd_lh) * w + lr * xp.sign(m)
    return weight


@register(differentiable=False, public=False)
def ftml_update(weight, grad, d, v, z, *, lr, t, beta1, beta2, epsilon, wd, rescale_grad, clip_gradient):
    """FTML (Zheng & Kwok 2017) at step ``t`` (from 1): ``g' = clip(rescale_grad*grad + wd*w)``,
    ``v = beta2*v + (1-beta2)*g'^2``, ``d_t = (1-beta1**t)/lr*(sqrt(v/(1-beta2**t)) + epsilon)``,
    ``z = beta1*z + (1-beta1)*g' - (d_t - beta1*d)*w``, ``d = d_t``, ``w = -z/d_t``."""
    w, dd, vv, zz = weight._data, d._data, v._data, z._data
    xp = xp_of(w)
    g = _clip(xp, grad._data * rescale_grad + wd * w, clip_gradient)
    vv[...] = beta2 * vv + (1.0 - beta2) * g * g
    d_t = (1.0 - beta1 ** t) / lr * (xp.sqrt(vv / (1.0 - beta2 ** t)) + epsilon)
    zz[...] = beta1 * zz + (1.0 - beta1) * g - (d_t - beta1 * dd) * w
    dd[...] = d_t
    w[...] = -zz / d_t
    return weight
