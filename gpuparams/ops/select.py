"""Selecting and ordering elements: ``where``, ``sort``, ``argsort``, ``topk`` (MXNet 1.x's operators).

``where`` picks, element by element, from one of two arrays; its gradient goes to the array that was
picked. ``sort`` and ``topk(ret_typ='value')`` move values around, so their gradient goes back to the
position each value came from. Indices (``argsort``, ``topk`` indices and masks) are constants for
autograd, as ``argmax`` is.

Sorting is stable on every backend: equal values keep their order of appearance, in descending order
too (MXNet's CPU sort leaves the order of ties unspecified).
"""
from __future__ import annotations

import numpy as np

from .._ndarray import from_backend, normalize_dtype
from ._core import require_ndarray, normalize_axis, ShapeError, result, same_context, xp_of
from ._registry import register

__all__ = ["where", "sort", "argsort", "topk"]

_RET_TYPES = ("value", "indices", "mask", "both")


@register()
def where(condition, x, y):
    """Elementwise ``x`` where ``condition`` is nonzero, else ``y`` (MXNet's ``where``).

    Parameters
    ----------
    condition : NDArray
        Either the shape of ``x``, or 1-D with ``x.shape[0]`` entries, each choosing a whole row (the
        first axis) of ``x`` or ``y``. Any dtype; nonzero (NaN included) means ``x``.
    x, y : NDArray
        Arrays of one shape and one dtype (MXNet's ``where`` does not broadcast them).

    Returns
    -------
    NDArray
        ``x.shape`` and ``x.dtype``. The gradient goes to ``x`` where the condition is nonzero and to
        ``y`` elsewhere; ``condition`` gets none.

    Raises
    ------
    ShapeError
        When the shapes do not fit as described.
    TypeError
        When an operand is not an NDArray, or ``x`` and ``y`` differ in dtype.

    Examples
    --------
    >>> from gpuparams import nd
    >>> nd.where(nd.array([1, 0, 2]), nd.array([1, 2, 3]), nd.array([10, 20, 30])).asnumpy().tolist()
    [1.0, 20.0, 3.0]
    """
    for what, value in (("condition", condition), ("x", x), ("y", y)):
        require_ndarray("where", value, what)
    ctx = same_context("where", x, y)
    same_context("where", x, condition)
    xd, yd, cd = x._data, y._data, condition._data
    if xd.shape != yd.shape:
        raise ShapeError(f"where: x has shape {x.shape} and y has shape {y.shape}; they must be equal "
                         f"(where does not broadcast x and y): use e.g. y.broadcast_to({x.shape})")
    if xd.dtype != yd.dtype:
        raise TypeError(f"where: x has dtype {xd.dtype} and y has dtype {yd.dtype}; cast one first, "
                        f"e.g. y.astype('{xd.dtype}')")
    if cd.shape == xd.shape:
        mask = cd != 0
    elif cd.ndim == 1 and cd.shape[0] == xd.shape[0]:
        mask = (cd != 0).reshape((-1,) + (1,) * (xd.ndim - 1))  # one choice per row
    else:
        raise ShapeError(f"where: condition of shape {condition.shape} fits neither x's shape {x.shape} nor "
                         f"the 1-D shape ({x.shape[0]},) that chooses whole rows")
    xp = xp_of(xd)
    out = xp.where(mask, xd, yd)

    def backward(g, needs):
        zero = xp.zeros((), dtype=g.dtype)
        return (None,
                xp.where(mask, g, zero) if needs[1] else None,
                xp.where(mask, zero, g) if needs[2] else None)
    return result(out, ctx, "where", (None, x, y), backward, saved=())


def _order(data, axis, is_ascend):
    """Stable sorting permutation along ``axis``; descending order keeps ties in their original order."""
    xp = xp_of(data)
    if is_ascend:
        return xp.argsort(data, axis=axis, kind="stable")
    # Sort the reversed array ascending (stably) and read that order backwards: values descend and
    # equal values come out in increasing original position.
    last = data.shape[axis] - 1
    backwards = xp.argsort(xp.flip(data, axis=axis), axis=axis, kind="stable")
    return last - xp.flip(backwards, axis=axis)


def _sort_axis(op_name, data, axis):
    """``(backend array, axis)`` to sort: the flattened data for ``axis=None``."""
    d = data._data
    if axis is None:
        return d.reshape(-1), 0
    return d, normalize_axis(axis, data.shape, op_name)


def _scatter_back(g, idx, axis, shape, dtype):
    """The array of ``shape`` holding ``g[..., j, ...]`` at position ``idx[..., j, ...]`` along ``axis``
    and zeros elsewhere (``idx`` holds distinct positions along ``axis``)."""
    xp = xp_of(g)
    moved = shape[:axis] + shape[axis + 1:] + (shape[axis],)  # ``axis`` moved last
    rows = int(np.prod(moved[:-1], dtype=np.int64))
    full = xp.zeros((rows, moved[-1]), dtype=dtype)
    full[xp.arange(rows)[:, None], xp.moveaxis(idx, axis, -1).reshape(rows, -1)] = \
        xp.moveaxis(g, axis, -1).reshape(rows, -1)
    return xp.moveaxis(full.reshape(moved), -1, axis)


@register(method=True)
def sort(data, axis=-1, is_ascend=True):
    """Sort along ``axis`` (MXNet's ``sort``).

    Parameters
    ----------
    data : NDArray
    axis : int or None
        The axis to sort (default -1); None sorts the flattened array.
    is_ascend : bool
        Ascending (default) or descending order. The sort is stable both ways.

    Returns
    -------
    NDArray
        The sorted values, ``data``'s dtype; the gradient of each value goes back to the position it
        came from.

    Examples
    --------
    >>> from gpuparams import nd
    >>> nd.sort(nd.array([[3, 1, 2]]), is_ascend=False).asnumpy().tolist()
    [[3.0, 2.0, 1.0]]
    """
    require_ndarray("sort", data, "data")
    d, ax = _sort_axis("sort", data, axis)
    idx = _order(d, ax, bool(is_ascend))
    out = xp_of(d).take_along_axis(d, idx, axis=ax)
    shape, sorted_shape, dtype = data.shape, d.shape, d.dtype

    def backward(g, needs):
        return (_scatter_back(g.reshape(sorted_shape), idx, ax, sorted_shape, dtype).reshape(shape),)
    return result(out, data._ctx, "sort", (data,), backward, saved=())


@register(method=True, differentiable=False)
def argsort(data, axis=-1, is_ascend=True, dtype="float32"):
    """Indices that sort ``data`` along ``axis`` (MXNet's ``argsort``).

    Parameters
    ----------
    data : NDArray
    axis : int or None
        The axis to sort (default -1); None sorts the flattened array.
    is_ascend : bool
        Ascending (default) or descending order; ties keep their original order either way.
    dtype : str
        The indices' dtype: float32 by default, as in MXNet, whatever the data's dtype.

    Returns
    -------
    NDArray
        Positions along ``axis``; a constant for autograd.

    Examples
    --------
    >>> from gpuparams import nd
    >>> nd.argsort(nd.array([[3, 1, 2]])).asnumpy().tolist()
    [[1.0, 2.0, 0.0]]
    """
    require_ndarray("argsort", data, "data")
    dt = normalize_dtype(dtype, what="argsort: dtype")
    d, ax = _sort_axis("argsort", data, axis)
    return from_backend(_order(d, ax, bool(is_ascend)).astype(dt), data._ctx, type(data))


@register(method=True)
def topk(data, axis=-1, k=1, ret_typ="indices", is_ascend=False, dtype="float32"):
    """The ``k`` largest (or smallest) elements along ``axis`` (MXNet's ``topk``).

    Parameters
    ----------
    data : NDArray
    axis : int or None
        The axis to search (default -1); None searches the flattened array.
    k : int
        How many elements to return; ``k <= 0`` returns all of them, in order (as in MXNet).
    ret_typ : {'indices', 'value', 'both', 'mask'}
        Return the positions (default), the values, ``[values, indices]``, or a 0/1 mask of
        ``data``'s shape and dtype marking the chosen elements.
    is_ascend : bool
        False (default): the largest first; True: the smallest first. Ties keep their original order.
    dtype : str
        The dtype of the indices (float32 by default, as in MXNet).

    Returns
    -------
    NDArray or list of NDArray
        ``axis`` has ``k`` entries. Values are differentiable (the gradient goes back to where each
        value came from); indices and masks are constants.

    Examples
    --------
    >>> from gpuparams import nd
    >>> x = nd.array([[1, 3, 3, 2]])
    >>> nd.topk(x, k=2).asnumpy().tolist(), nd.topk(x, k=2, ret_typ='value').asnumpy().tolist()
    ([[1.0, 2.0]], [[3.0, 3.0]])
    """
    require_ndarray("topk", data, "data")
    if ret_typ not in _RET_TYPES:
        raise ValueError(f"topk: ret_typ must be one of {', '.join(map(repr, _RET_TYPES))}, got {ret_typ!r}")
    dt = normalize_dtype(dtype, what="topk: dtype")
    d, ax = _sort_axis("topk", data, axis)
    n = d.shape[ax]
    valid = not isinstance(k, bool) and isinstance(k, (int, np.integer))
    if not valid or k > n:
        raise ValueError(f"topk: k must be an int no larger than {n} (the size of axis {ax} of the "
                         f"{'flattened ' if axis is None else ''}array of shape {data.shape}); got {k!r}")
    k = int(k) if k > 0 else n
    xp = xp_of(d)
    idx = _order(d, ax, bool(is_ascend))[(slice(None),) * ax + (slice(0, k),)]
    if ret_typ == "mask":
        full = _scatter_back(xp.ones(idx.shape, dtype=d.dtype), idx, ax, d.shape, d.dtype)
        return from_backend(full.reshape(data.shape), data._ctx, type(data))
    indices = from_backend(idx.astype(dt), data._ctx, type(data))
    if ret_typ == "indices":
        return indices
    picked_shape, shape, flat_shape, dtype_ = idx.shape, data.shape, d.shape, d.dtype

    def backward(g, needs):
        return (_scatter_back(g.reshape(picked_shape), idx, ax, flat_shape, dtype_).reshape(shape),)
    values = result(xp.take_along_axis(d, idx, axis=ax), data._ctx, "topk", (data,), backward, saved=())
    return values if ret_typ == "value" else [values, indices]
