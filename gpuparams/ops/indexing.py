"""Operators driven by integer indices: ``take``, ``pick``, ``one_hot``, ``argmax``, ``argmin``.

These are the MXNet 1.x operators that Gluon-style code reaches for around the model itself: cutting
a mini-batch out of a data set (``features.take(idx)``), reading the score of the true class
(``nd.pick(y_hat, y)``) and measuring accuracy (``y_hat.argmax(axis=1) == y``). Indices may be given as
float arrays of whole numbers, as MXNet allows; unlike MXNet, a fraction or NaN among them is an error
naming it, not truncated (checking float indices reads them on the host: a synchronisation on a GPU,
which integer indices avoid).

``take`` and ``pick`` are differentiable with respect to the data (the gradient goes back to the
positions that were read, summed where one position was read several times); ``one_hot``, ``argmax``
and ``argmin`` return constants.
"""
from __future__ import annotations

import numpy as np

from .._ndarray import NDArray, from_backend, normalize_dtype
from ._core import normalize_axis, ShapeError, result, same_context, scatter_add, xp_of
from ._registry import register
from .reduce import empty_axis

__all__ = ["take", "pick", "one_hot", "argmax", "argmin", "whole_indices"]

_MODES = ("clip", "wrap", "raise")


def _index_data(op_name, data, indices, size, axis, mode):
    """The backend int64 index array of NDArray ``indices``, brought into ``[0, size)`` by ``mode``."""
    if mode not in _MODES:
        raise ValueError(f"{op_name}: mode must be one of {', '.join(map(repr, _MODES))}, got {mode!r}")
    if not isinstance(indices, NDArray):
        raise TypeError(f"{op_name}: indices must be an NDArray, got {type(indices).__name__} "
                        f"(wrap it with nd.array(..., ctx={data.context}))")
    same_context(op_name, data, indices)
    idx = indices._data
    kind = idx.dtype.kind
    if kind not in "fiu":
        raise TypeError(f"{op_name}: indices must be numbers, got dtype {idx.dtype}")
    idx = whole_indices(op_name, idx, "index")
    if size == 0:
        raise ShapeError(f"{op_name}: axis {axis} of the data has size 0; there is nothing to index")
    if mode == "clip":
        return xp_of(idx).clip(idx, 0, size - 1)
    if mode == "wrap":
        return idx % size
    bad = (idx < 0) | (idx >= size)
    if bool(bad.any()):  # 'raise' checks on the host (a synchronisation on a GPU, as asked for)
        first = int(idx[bad].reshape(-1)[0])
        raise IndexError(f"{op_name}: index {first} is out of range for axis {axis} of size {size}; "
                         "use mode='clip' or mode='wrap' to map it into range")
    return idx


def whole_indices(op_name, idx, what):
    """Backend array ``idx`` (integers, or floats holding whole numbers) as int64.

    A float index that is NaN, infinite or has a fraction raises ValueError naming the first one and
    its position: truncating it (0.9999 -> 0) would silently use the wrong class or row.
    """
    if idx.dtype.kind != "f":
        return idx.astype(np.int64, copy=False)
    xp = xp_of(idx)
    bad = ~xp.isfinite(idx) | (idx != xp.floor(idx))
    if bool(bad.any()):
        flat = int(xp.argmax(bad.reshape(-1)))
        position = tuple(int(i) for i in np.unravel_index(flat, idx.shape))
        item = idx.reshape(-1)[flat:flat + 1]
        item = (item.get() if hasattr(item, "get") else item)[0]  # the value in its own precision
        shown = "NaN" if np.isnan(item) else np.format_float_positional(item, unique=True, trim="-")
        where = f"row {position[0]}" if len(position) == 1 else f"position {list(position)}"
        plural = "indices" if what == "index" else f"{what}s"
        raise ValueError(f"{op_name}: {what} {shown} in {where} is not a whole number; {plural} must be "
                         "integers (round them explicitly if that is what you mean)")
    return idx.astype(np.int64)


@register(method=True)
def take(a, indices, axis=0, mode="clip"):
    """Gather slices of ``a`` along ``axis`` at ``indices`` (MXNet's ``take``).

    Parameters
    ----------
    a : NDArray
        The data.
    indices : NDArray
        Positions along ``axis`` (integers, or floats holding whole numbers), on ``a``'s context.
    axis : int
        The axis to index (default 0: rows).
    mode : {'clip', 'wrap', 'raise'}
        What an index outside ``[0, a.shape[axis])`` does: clipped to the nearest end (default, as in
        MXNet), wrapped around, or an IndexError.

    Returns
    -------
    NDArray
        Shape ``a.shape[:axis] + indices.shape + a.shape[axis + 1:]``. The gradient with respect to
        ``a`` adds up where an index repeats.

    Examples
    --------
    >>> from gpuparams import nd
    >>> nd.take(nd.array([[1, 2], [3, 4], [5, 6]]), nd.array([2, 0])).asnumpy().tolist()
    [[5.0, 6.0], [1.0, 2.0]]
    """
    if not isinstance(a, NDArray):
        raise TypeError(f"take: a must be an NDArray, got {type(a).__name__}")
    data = a._data
    axis = normalize_axis(axis, data.shape, "take")
    idx = _index_data("take", a, indices, data.shape[axis], axis, mode)
    out = xp_of(data).take(data, idx, axis=axis)
    shape, dtype = data.shape, data.dtype
    key = (slice(None),) * axis + (idx,)

    def backward(g, needs):
        full = xp_of(g).zeros(shape, dtype=dtype)
        scatter_add(full, key, g)
        return (full, None)
    return result(out, a._ctx, "take", (a, None), backward, saved=())


@register(method=True)
def pick(data, index, axis=-1, keepdims=False, mode="clip"):
    """Pick one element along ``axis`` for every position of the other axes (MXNet's ``pick``).

    ``nd.pick(y_hat, y)`` reads, for each row of scores ``y_hat`` of shape ``(N, C)``, the score of
    class ``y[i]``.

    Parameters
    ----------
    data : NDArray
        The data, e.g. ``(N, C)``.
    index : NDArray
        One position per element of ``data`` without ``axis`` (shape ``(N,)`` for ``(N, C)`` data;
        ``(N, 1)`` is accepted too), on ``data``'s context.
    axis : int
        The axis to pick along (default -1).
    keepdims : bool
        Keep ``axis`` with size 1 in the result.
    mode : {'clip', 'wrap', 'raise'}
        What an index outside ``[0, data.shape[axis])`` does (see :func:`take`).

    Returns
    -------
    NDArray
        ``data.shape`` without ``axis`` (or with it as 1 when ``keepdims``); the gradient reaches only
        the picked elements.

    Examples
    --------
    >>> from gpuparams import nd
    >>> nd.pick(nd.array([[0.25, 0.75], [0.5, 0.125]]), nd.array([1, 0])).asnumpy().tolist()
    [0.75, 0.5]
    """
    if not isinstance(data, NDArray):
        raise TypeError(f"pick: data must be an NDArray, got {type(data).__name__}")
    d = data._data
    axis = normalize_axis(axis, d.shape, "pick")
    size = d.shape[axis]
    kept = tuple(1 if i == axis else n for i, n in enumerate(d.shape))
    dropped = tuple(n for i, n in enumerate(d.shape) if i != axis)
    if not isinstance(index, NDArray):
        raise TypeError(f"pick: index must be an NDArray, got {type(index).__name__} "
                        f"(wrap it with nd.array(..., ctx={data.context}))")
    if index.size * size != d.size or index.shape not in (dropped, kept, (index.size,)):
        raise ShapeError(f"pick: index of shape {index.shape} does not fit data of shape {data.shape} "
                         f"along axis {axis}; it needs shape {dropped or (1,)}")
    idx = _index_data("pick", data, index, size, axis, mode).reshape(kept)
    xp = xp_of(d)
    out = xp.take_along_axis(d, idx, axis=axis)
    if not keepdims:
        out = out.reshape(dropped)
    mask_shape = tuple(size if i == axis else 1 for i in range(d.ndim))

    def backward(g, needs):
        hit = xp.arange(size).reshape(mask_shape) == idx
        return (hit.astype(g.dtype) * g.reshape(kept), None)
    return result(out, data._ctx, "pick", (data, None), backward, saved=())


@register(method=True, differentiable=False)
def one_hot(indices, depth, on_value=1.0, off_value=0.0, dtype="float32"):
    """One-hot encoding: ``out[..., k]`` is ``on_value`` where ``indices == k``, else ``off_value``.

    Parameters
    ----------
    indices : NDArray
        Class indices (integers, or floats holding whole numbers). An index outside ``[0, depth)``
        gives a row of ``off_value``, as in MXNet.
    depth : int
        Number of classes.
    on_value, off_value : float
        The two values written.
    dtype : str
        Result dtype (default float32).

    Returns
    -------
    NDArray
        Shape ``indices.shape + (depth,)``, on ``indices``' context; a constant for autograd.
    """
    if not isinstance(indices, NDArray):
        raise TypeError(f"one_hot: indices must be an NDArray, got {type(indices).__name__}")
    if isinstance(depth, bool) or not isinstance(depth, (int, np.integer)) or depth <= 0:
        raise ValueError(f"one_hot: depth must be a positive int, got {depth!r}")
    dt = normalize_dtype(dtype, what="one_hot: dtype")
    idx = indices._data
    if idx.dtype.kind not in "fiu":
        raise TypeError(f"one_hot: indices must be numbers, got dtype {idx.dtype}")
    xp = xp_of(idx)
    hit = whole_indices("one_hot", idx, "index")[..., None] == xp.arange(int(depth))
    out = xp.where(hit, on_value, off_value).astype(dt)
    return from_backend(out, indices._ctx, type(indices))


def _arg_extremum(op_name, pick_name):
    def arg_fn(data, axis=None, keepdims=False):
        if not isinstance(data, NDArray):
            raise TypeError(f"{op_name}: data must be an NDArray, got {type(data).__name__}")
        d = data._data
        # Float inputs give indices of their own dtype (MXNet's rule, so `argmax(...) == label` compares
        # like with like); integer inputs give int64 indices, which cannot overflow.
        out_dtype = d.dtype if d.dtype.kind == "f" else np.dtype(np.int64)
        if axis is None:
            empty_axis(op_name, d.shape, ())
            out = getattr(d.reshape(-1), pick_name)().reshape(1)
        else:
            a = normalize_axis(axis, d.shape, op_name)
            empty_axis(op_name, d.shape, (a,))
            out = getattr(d, pick_name)(axis=a)
            if keepdims:
                out = xp_of(d).expand_dims(out, a)
        return from_backend(out.astype(out_dtype), data._ctx, type(data))
    arg_fn.__name__ = op_name
    arg_fn.__doc__ = f"""Index of the {pick_name[3:]}imum along ``axis`` (of the flattened array if
    ``axis`` is None).

    Parameters
    ----------
    data : NDArray
    axis : int or None
        The axis to reduce; None reduces the flattened array to shape ``(1,)``.
    keepdims : bool
        Keep ``axis`` with size 1.

    Returns
    -------
    NDArray
        The first index of the {pick_name[3:]}imum, in ``data``'s dtype for float data (as MXNet, so
        ``y_hat.{op_name}(axis=1) == y`` compares float32 with float32) and int64 for integer data.
        A constant for autograd.
    """
    return arg_fn


argmax = register("argmax", method=True, differentiable=False)(_arg_extremum("argmax", "argmax"))
argmin = register("argmin", method=True, differentiable=False)(_arg_extremum("argmin", "argmin"))
