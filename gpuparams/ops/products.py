"""Reductions beyond sums: ``prod``, ``nansum``, ``nanprod`` and the vector norms ``norm(ord=1|2)``.

As everywhere in MXNet 1.x, reducing every axis gives shape ``(1,)``.
"""
from __future__ import annotations

import numpy as np

from .._ndarray import NDArray, normalize_dtype
from ._core import result, xp_of
from ._registry import register
from .math import as_dtype_of
from .reduce import _kept_shape, _normalize_axes

__all__ = ["prod", "nansum", "nanprod", "norm"]


def _axes(name, x, axis, exclude):
    if not isinstance(x, NDArray):
        raise TypeError(f"{name}: data must be an NDArray, got {type(x).__name__} "
                        "(wrap it with nd.array(...))")
    axes = _normalize_axes(axis, x.shape, name)
    if exclude:
        axes = tuple(i for i in range(x.ndim) if i not in axes)
    return axes


def _product_of_others(data, axes, xp):
    """For every element, the product of the *other* elements of its reduction group.

    Computed from exclusive cumulative products from both ends, so zeros give the right gradient
    (``out / x`` would divide by zero)."""
    kept = tuple(i for i in range(data.ndim) if i not in axes)
    perm = kept + tuple(axes)
    moved = data.transpose(perm)
    group = moved.reshape(moved.shape[:len(kept)] + (-1,))
    ones = xp.ones(group.shape[:-1] + (1,), dtype=data.dtype)
    left = xp.concatenate([ones, xp.cumprod(group[..., :-1], axis=-1)], axis=-1)
    flipped = group[..., ::-1]
    right = xp.concatenate([ones, xp.cumprod(flipped[..., :-1], axis=-1)], axis=-1)[..., ::-1]
    others = (left * right).reshape(moved.shape)
    return others.transpose(tuple(np.argsort(perm)))


def _product(name, x, axis, keepdims, exclude, skip_nan):
    axes = _axes(name, x, axis, exclude)
    data = x._data
    xp = xp_of(data)
    clean = data
    if skip_nan and data.dtype.kind == "f":
        clean = xp.where(xp.isnan(data), 1, data).astype(data.dtype)
    out = clean.prod(axis=axes, keepdims=keepdims, dtype=data.dtype)  # int32 stays int32, as MXNet
    kept = _kept_shape(data.shape, axes)

    def backward(g, needs):
        others = _product_of_others(clean, axes, xp_of(g))
        grad = g.reshape(kept) * others
        if skip_nan:
            grad = xp_of(g).where(xp_of(g).isnan(data), 0, grad)
        return (grad.astype(g.dtype, copy=False),)
    return result(out, x._ctx, name, (x,), backward, saved=(x,))


@register(method=True, out=True)
def prod(data, axis=None, keepdims=False, exclude=False):
    """Product over ``axis`` (all axes by default; ``exclude=True`` reduces all *but* ``axis``).

    Parameters
    ----------
    data : NDArray
    axis : int or tuple of int, optional
    keepdims : bool
        Keep the reduced axes as size 1.
    exclude : bool
        Reduce over the axes *not* in ``axis``.

    Returns
    -------
    NDArray
        Same dtype as ``data``. The gradient of an element is the product of the other elements of
        its group (exact with zeros present).
    """
    return _product("prod", data, axis, keepdims, exclude, skip_nan=False)


@register(method=True, out=True)
def nanprod(data, axis=None, keepdims=False, exclude=False):
    """Product over ``axis`` treating NaN as 1; a NaN's gradient is 0 (see :func:`prod`)."""
    return _product("nanprod", data, axis, keepdims, exclude, skip_nan=True)


@register(method=True, out=True)
def nansum(data, axis=None, keepdims=False, exclude=False):
    """Sum over ``axis`` treating NaN as 0; a NaN's gradient is 0 (arguments as :func:`prod`)."""
    axes = _axes("nansum", data, axis, exclude)
    d = data._data
    xp = xp_of(d)
    nan = xp.isnan(d) if d.dtype.kind == "f" else None
    clean = xp.where(nan, 0, d).astype(d.dtype) if nan is not None else d
    out = clean.sum(axis=axes, keepdims=keepdims, dtype=d.dtype)
    kept, shape = _kept_shape(d.shape, axes), d.shape

    def backward(g, needs):
        grad = xp_of(g).broadcast_to(g.reshape(kept), shape)
        if nan is not None:
            grad = xp_of(g).where(nan, 0, grad).astype(g.dtype, copy=False)
        return (grad.copy(),)
    return result(out, data._ctx, "nansum", (data,), backward, saved=())


@register(method=True, out=True)
def norm(data, ord=2, axis=None, out_dtype=None, keepdims=False):
    """The L1 or L2 norm over ``axis`` (every element by default), MXNet's ``norm``.

    Parameters
    ----------
    data : NDArray
    ord : {1, 2}
        1: sum of absolute values; 2: square root of the sum of squares (the Frobenius norm when
        ``axis`` names two axes).
    axis : int or tuple of int, optional
        The axes to reduce (all by default).
    out_dtype : str, optional
        The result's dtype (default: ``data``'s).
    keepdims : bool
        Keep the reduced axes as size 1.

    Returns
    -------
    NDArray
        Shape ``(1,)`` when every axis is reduced. Gradients: ``sign(x)`` for ``ord=1`` and
        ``x / norm`` for ``ord=2`` (0 where the norm is 0), times the output gradient.

    Notes
    -----
    Integer data is reduced in floating point and the result cast to the integer dtype
    (``norm([[-3, 2], [5, -7]]) = 9``); MXNet 1.9.1 returns 7 there, which is no norm of the data.
    """
    if isinstance(ord, bool) or ord not in (1, 2):
        raise ValueError(f"norm: ord must be 1 or 2 (MXNet's choices), got {ord!r}")
    axes = _axes("norm", data, axis, False)
    d = data._data
    xp = xp_of(d)
    x = d if d.dtype.kind == "f" else d.astype(xp.float64)
    if ord == 1:
        values = xp.abs(x).sum(axis=axes, keepdims=keepdims)
    else:
        values = xp.sqrt((x * x).sum(axis=axes, keepdims=keepdims))
    target = d if out_dtype is None else np.empty(0, dtype=normalize_dtype(out_dtype, what="out_dtype"))
    out = as_dtype_of(values, target)
    kept = _kept_shape(d.shape, axes)

    def backward(g, needs):
        gx = xp_of(g)
        if ord == 1:
            grad = gx.sign(x) * g.reshape(kept)
        else:
            n = values.reshape(kept)
            grad = gx.where(n > 0, x / gx.where(n > 0, n, 1), 0) * g.reshape(kept)
        return (grad.astype(d.dtype, copy=False),)
    # values is the result itself for float data (as_dtype_of does not copy), so it is declared
    return result(out, data._ctx, "norm", (data,), backward, saved=(data,), save_output=True)
