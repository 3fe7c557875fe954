"""Shapes taken from another array (``reshape_like``, ``broadcast_like``), ``moveaxis`` and the legacy
``concatenate``."""
from __future__ import annotations

import numpy as np

from .._ndarray import NDArray
from ._core import require_ndarray, ShapeError, normalize_axes, normalize_axis, result, xp_of
from ._registry import register
from .shape import _broadcast, concat, reshape

__all__ = ["reshape_like", "broadcast_like", "moveaxis", "concatenate"]


def _bound(value, name, what):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: {what} must be an int or None, got {value!r}")
    return int(value)


@register(method=True, out=True)
def reshape_like(lhs, rhs, lhs_begin=None, lhs_end=None, rhs_begin=None, rhs_end=None):
    """Reshape ``lhs`` so that its axes ``lhs_begin:lhs_end`` become ``rhs``'s ``rhs_begin:rhs_end``.

    With no ranges, ``lhs`` takes ``rhs``'s whole shape (MXNet's ``reshape_like``).

    Parameters
    ----------
    lhs : NDArray
    rhs : NDArray
        Only its shape is used (it gets no gradient).
    lhs_begin, lhs_end, rhs_begin, rhs_end : int or None
        Python-style ranges of axes (negative counts from the end; None: the start or the end).

    Returns
    -------
    NDArray
        ``lhs`` with the new shape (same size), differentiable.

    Raises
    ------
    ShapeError
        When the sizes differ.
    """
    require_ndarray("reshape_like", lhs, "lhs")
    require_ndarray("reshape_like", rhs, "rhs")
    ls, rs = lhs.shape, rhs.shape
    lb, le = (_bound(v, "reshape_like", n) for v, n in ((lhs_begin, "lhs_begin"), (lhs_end, "lhs_end")))
    rb, re = (_bound(v, "reshape_like", n) for v, n in ((rhs_begin, "rhs_begin"), (rhs_end, "rhs_end")))
    lo, hi = np.s_[lb:le].indices(len(ls))[:2]
    target = ls[:lo] + rs[rb:re] + ls[max(hi, lo):]
    if int(np.prod(target)) != lhs.size:
        raise ShapeError(f"reshape_like: cannot reshape lhs of shape {ls} into {target} (lhs axes {lb}:{le} "
                         f"replaced by rhs shape {rs} axes {rb}:{re}): the sizes differ")
    return reshape(lhs, target)


@register(method=True, out=True, higher_order=True)
def broadcast_like(lhs, rhs, lhs_axes=None, rhs_axes=None):
    """Broadcast ``lhs`` to the shape of ``rhs`` (MXNet's ``broadcast_like``).

    Parameters
    ----------
    lhs : NDArray
    rhs : NDArray
        Only its shape is used (it gets no gradient).
    lhs_axes, rhs_axes : tuple of int, optional
        Broadcast only these axes of ``lhs`` (size 1) to the sizes of the matching ``rhs_axes``;
        by default ``lhs`` takes ``rhs``'s whole shape (same number of dimensions).

    Returns
    -------
    NDArray
        A new array; the gradient is summed back over the broadcast axes.
    """
    require_ndarray("broadcast_like", lhs, "lhs")
    require_ndarray("broadcast_like", rhs, "rhs")
    ls, rs = lhs.shape, rhs.shape
    if lhs_axes is None and rhs_axes is None:
        if len(ls) != len(rs):
            raise ShapeError(f"broadcast_like: lhs has shape {ls} and rhs {rs}; they need the same number of "
                             "dimensions (or pass lhs_axes= and rhs_axes=)")
        target = rs
    else:
        la = normalize_axes(_seq(lhs_axes), ls, "broadcast_like", "lhs_axes entry")
        ra = tuple(normalize_axis(a, rs, "broadcast_like", "rhs_axes entry") for a in _seq(rhs_axes))
        if len(la) != len(ra):
            raise ValueError(f"broadcast_like: lhs_axes {lhs_axes} and rhs_axes {rhs_axes} must have the "
                             "same length")
        target = list(ls)
        for a, b in zip(la, ra):
            target[a] = rs[b]
        target = tuple(target)
    for i, (n, s) in enumerate(zip(ls, target)):
        if n != s and n != 1:
            raise ShapeError(f"broadcast_like: lhs of shape {ls} cannot be broadcast to {target}: axis {i} "
                             f"has size {n}, and only axes of size 1 can grow")
    return _broadcast(lhs, target, "broadcast_like")


def _seq(value):
    if value is None:
        return ()
    return (value,) if isinstance(value, (int, np.integer)) else tuple(value)


@register()
def moveaxis(tensor, source, destination):
    """Move axes ``source`` to positions ``destination``, keeping the others' order (as NumPy).

    Parameters
    ----------
    tensor : NDArray
    source, destination : int or sequence of int
        Axes (negative counts from the end), as many destinations as sources.

    Returns
    -------
    NDArray
        A new array (MXNet's ``moveaxis`` is a transpose copy), differentiable.
    """
    require_ndarray("moveaxis", tensor, "tensor")
    src = normalize_axes(_seq(source), tensor.shape, "moveaxis", "source")
    dst = normalize_axes(_seq(destination), tensor.shape, "moveaxis", "destination")
    if len(src) != len(dst):
        raise ValueError(f"moveaxis: source {source} and destination {destination} must have the same length")
    d = tensor._data
    xp = xp_of(d)
    out = xp.ascontiguousarray(xp.moveaxis(d, src, dst))

    def backward(g, needs):
        return (xp_of(g).moveaxis(g, dst, src),)
    return result(out, tensor._ctx, "moveaxis", (tensor,), backward, saved=())


@register()
def concatenate(arrays, axis=0, always_copy=True):
    """Join a list of arrays along ``axis`` (MXNet's legacy ``nd.concatenate``; default axis 0).

    Parameters
    ----------
    arrays : list of NDArray
        Same shape except along ``axis``, one context.
    axis : int
    always_copy : bool
        With False, a single array is returned as it is.

    Returns
    -------
    NDArray
        Differentiable (MXNet's version copies outside autograd; this one is :func:`concat`).
    """
    if isinstance(arrays, NDArray) or not isinstance(arrays, (list, tuple)):
        raise TypeError(f"concatenate: arrays must be a list of NDArrays, got {type(arrays).__name__}")
    if not arrays:
        raise ValueError("concatenate: needs at least one array")
    if len(arrays) == 1 and not always_copy:
        return arrays[0]
    return concat(*arrays, dim=axis)
