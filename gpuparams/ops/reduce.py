"""Reductions ``sum``, ``mean``, ``max``, ``min`` over axes, with their backward (``prod``, ``nansum``,
``nanprod`` and ``norm`` are in :mod:`gpuparams.ops.products`).

As in MXNet 1.x, reducing every axis gives an array of shape ``(1,)``, not a 0-d array.
"""
from __future__ import annotations

import numpy as np

from ._core import constant, normalize_axes, result, xp_of
from ._registry import register

__all__ = ["sum", "mean", "max", "min", "empty_axis"]


def _normalize_axes(axis, shape, op_name):
    if axis is None:
        return tuple(range(len(shape)))
    if isinstance(axis, (int, np.integer)):
        axes = (axis,)
    elif isinstance(axis, (tuple, list)):
        axes = tuple(axis)
    else:
        raise ValueError(f"{op_name}: axis must be an int or a tuple of ints, got {axis!r}")
    return tuple(sorted(normalize_axes(axes, shape, op_name)))


def empty_axis(op_name, shape, axes):
    """Refuse a max/min/argmax/argmin over an axis of length 0: there is no element to return."""
    for a in axes:
        if shape[a] == 0:
            raise ValueError(f"{op_name}: axis {a} of the array of shape {tuple(shape)} is empty (length "
                             f"0); the {op_name} of no elements is undefined")
    if not axes and 0 in shape:
        raise ValueError(f"{op_name}: the array of shape {tuple(shape)} is empty")


def _kept_shape(shape, axes):
    """The reduced shape with the reduced axes kept as 1 (what broadcasts back to ``shape``)."""
    return tuple(1 if i in axes else n for i, n in enumerate(shape))


def _reduce(op_name, x, axis, keepdims, exclude, compute, make_backward, save_input=True):
    # save_input: max/min read both the input and their own result in backward; sum/mean neither.
    data = x._data
    axes = _normalize_axes(axis, data.shape, op_name)
    if exclude:
        axes = tuple(i for i in range(data.ndim) if i not in axes)
    out = compute(data, axes, keepdims)
    kept = _kept_shape(data.shape, axes)
    backward = make_backward(data, axes, kept, out)

    def graph_backward(g, out, needs):
        return _graph_backward(backward, data.shape, kept, g, needs)
    return result(out, x._ctx, op_name, (x,), backward, saved=(x,) if save_input else (),
                  save_output=save_input, graph_backward=graph_backward)


def _graph_backward(backward, shape, kept, g, needs):
    """A reduction's backward with recorded operators: ``g`` broadcast back to the input's shape,
    times the constant weights ``backward`` gives for a gradient of ones (1 for sum, 1/n for mean,
    the shared tie mask for max/min), which do not depend on the input's value (piecewise)."""
    from .elementwise import multiply
    from .shape import broadcast_to, reshape
    weights = backward(xp_of(g._data).ones(kept, dtype=g.dtype), needs)[0]
    spread = broadcast_to(reshape(g, kept), shape)
    return (multiply(spread, constant(weights, g._ctx)),)


def _spread(g, shape, fresh=False):
    """``g`` (of the kept shape) broadcast to ``shape`` as a new array of its own: the values of
    ``broadcast_to(g, shape).copy()``, without that call's Python overhead (this runs in the
    backward of every loss). ``fresh``: ``g`` is already a new array nobody else holds."""
    if g.shape == shape:
        return g if fresh else g.copy()
    out = xp_of(g).empty(shape, dtype=g.dtype)
    out[...] = g
    return out


@register(method=True, higher_order=True)
def sum(x, axis=None, keepdims=False, exclude=False):
    """Sum over ``axis`` (all axes by default; ``exclude=True`` reduces all *but* ``axis``)."""
    def compute(data, axes, keepdims):
        return data.sum(axis=axes, keepdims=keepdims)

    def make_backward(data, axes, kept, out):
        shape = data.shape

        def backward(g, needs):
            return (_spread(g.reshape(kept), shape),)
        return backward
    return _reduce("sum", x, axis, keepdims, exclude, compute, make_backward, save_input=False)


@register(method=True, higher_order=True)
def mean(x, axis=None, keepdims=False, exclude=False):
    """Mean over ``axis`` (all axes by default)."""
    def compute(data, axes, keepdims):
        return data.mean(axis=axes, keepdims=keepdims)

    def make_backward(data, axes, kept, out):
        shape = data.shape
        count = 1
        for a in axes:
            count *= shape[a]

        def backward(g, needs):
            return (_spread(g.reshape(kept) / count, shape, fresh=True),)
        return backward
    return _reduce("mean", x, axis, keepdims, exclude, compute, make_backward, save_input=False)


def _extremum(op_name, pick):
    def reduce_fn(x, axis=None, keepdims=False, exclude=False):
        def compute(data, axes, keepdims):
            empty_axis(op_name, data.shape, axes)
            return getattr(data, pick)(axis=axes, keepdims=keepdims)

        def make_backward(data, axes, kept, out):
            def backward(g, needs):
                # Ties share the gradient equally, so the total reaching the input is g.
                hit = (data == out.reshape(kept)).astype(g.dtype)
                count = hit.sum(axis=axes, keepdims=True)
                return (hit * (g.reshape(kept) / count),)
            return backward
        return _reduce(op_name, x, axis, keepdims, exclude, compute, make_backward)
    reduce_fn.__name__ = op_name
    reduce_fn.__doc__ = f"{pick.capitalize()}imum over ``axis``; ties share the gradient equally."
    return reduce_fn


max = register("max", method=True, higher_order=True)(_extremum("max", "max"))
min = register("min", method=True, higher_order=True)(_extremum("min", "min"))


