"""MXNet's ``slice`` (begin/end/step per axis), ``slice_like`` and ``pad``; results are new arrays."""
from __future__ import annotations

import numpy as np

from ._core import require_ndarray, ShapeError, normalize_axis, result, xp_of
from ._registry import register

__all__ = ["slice", "slice_like", "pad"]


def _opt_int(value, name, what):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name}: every entry of {what} must be an int or None, got {value!r}")
    return int(value)


def _as_seq(value):
    if value is None:
        return ()
    return (value,) if isinstance(value, (int, np.integer)) else tuple(value)


def _sliced_copy(name, x, key):
    """``x[key]`` (a tuple of slices) as a new recorded array; the gradient is scattered back."""
    data = x._data
    out = data[key].copy()
    shape, dtype = data.shape, data.dtype

    def backward(g, needs):
        full = xp_of(g).zeros(shape, dtype=dtype)
        full[key] = g
        return (full,)
    return result(out, x._ctx, name, (x,), backward, saved=())


@register(method=True, out=True)
def slice(data, begin, end, step=()):
    """The slice ``begin[i]:end[i]:step[i]`` of each leading axis ``i`` (MXNet's ``slice``).

    Parameters
    ----------
    data : NDArray
    begin, end : tuple of int or None
        One entry per sliced axis (at most ``data.ndim``; the remaining axes are kept whole). None
        means the start (or, for a negative step, the end) of the axis; negative values count from
        the end, as in Python.
    step : tuple of int or None, optional
        Non-zero steps (default 1 each).

    Returns
    -------
    NDArray
        A new array; the gradient reaches the sliced positions, 0 elsewhere.

    Raises
    ------
    ValueError
        When ``begin`` and ``end`` (and ``step``) differ in length, there are more entries than axes,
        or a step is 0.
    ShapeError
        When an axis would be empty (MXNet refuses empty slices).

    Examples
    --------
    >>> from gpuparams import nd
    >>> x = nd.array([[1, 2, 3], [4, 5, 6]])
    >>> nd.slice(x, begin=(None, 1), end=(None, None), step=(-1, 1)).asnumpy().tolist()
    [[5.0, 6.0], [2.0, 3.0]]
    """
    require_ndarray("slice", data)
    begin, end, step = _as_seq(begin), _as_seq(end), _as_seq(step)
    if len(begin) != len(end) or (step and len(step) != len(begin)):
        raise ValueError(f"slice: begin {begin}, end {end} and step {step} must have one entry per "
                         "sliced axis")
    if len(begin) > data.ndim:
        raise ValueError(f"slice: {len(begin)} entries in begin for an array of shape {data.shape} "
                         f"({data.ndim} axes); give at most {data.ndim}")
    key = []
    for i, (b, e) in enumerate(zip(begin, end)):
        s = _opt_int(step[i], "slice", "step") if step else None
        if s == 0:
            raise ValueError(f"slice: step 0 on axis {i}; steps must be non-zero")
        part = np.s_[_opt_int(b, "slice", "begin"):_opt_int(e, "slice", "end"):s]
        if len(range(*part.indices(data.shape[i]))) == 0:
            raise ShapeError(f"slice: begin={b}, end={e}, step={s if s is not None else 1} select nothing of "
                             f"axis {i} (size {data.shape[i]}) of an array of shape {data.shape}")
        key.append(part)
    return _sliced_copy("slice", data, tuple(key))


@register(method=True, out=True)
def slice_like(data, shape_like, axes=()):
    """``data`` sliced from the start to the shape of ``shape_like`` (MXNet's ``slice_like``).

    Parameters
    ----------
    data : NDArray
    shape_like : NDArray
        Only its shape is used (it gets no gradient).
    axes : tuple of int, optional
        The axes to slice (default: every axis, which needs equal numbers of dimensions). Negative
        axes count from the end of ``data``; each must also be an axis of ``shape_like``.

    Returns
    -------
    NDArray
        A new array; the gradient reaches the kept positions.

    Raises
    ------
    ShapeError
        When the dimensions do not match or ``shape_like`` is larger than ``data`` along an axis.
    """
    require_ndarray("slice_like", data)
    require_ndarray("slice_like", shape_like, "shape_like")
    shape, like = data.shape, shape_like.shape
    axes = _as_seq(axes)
    if not axes:
        if len(shape) != len(like):
            raise ShapeError(f"slice_like: data has shape {shape} and shape_like {like}; with no axes every "
                             "axis is sliced, which needs the same number of dimensions (or pass axes=)")
        axes = tuple(range(len(shape)))
    else:
        axes = tuple(normalize_axis(a, shape, "slice_like", "axes entry") for a in axes)
    key = [np.s_[:]] * len(shape)
    for a in axes:
        if a >= len(like):
            raise ShapeError(f"slice_like: axis {a} is not an axis of shape_like's shape {like}")
        if like[a] > shape[a]:
            raise ShapeError(f"slice_like: shape_like {like} is larger than data {shape} along axis {a}")
        key[a] = np.s_[:like[a]]
    return _sliced_copy("slice_like", data, tuple(key))


_PAD_MODES = ("constant", "edge", "reflect")


@register(method=True, out=True)
def pad(data, mode="constant", pad_width=(), constant_value=0.0):
    """Pad ``data`` along its axes (MXNet's ``pad``; modes ``constant``, ``edge``, ``reflect``).

    Parameters
    ----------
    data : NDArray
    mode : {'constant', 'edge', 'reflect'}
        Fill with ``constant_value``, repeat the edge value, or mirror without repeating the edge
        (NumPy's ``reflect``).
    pad_width : tuple of int
        ``(before_0, after_0, before_1, after_1, ...)``, two non-negative entries per axis.
    constant_value : float
        The fill value of ``mode='constant'``.

    Returns
    -------
    NDArray
        The padded array. The gradient of each input element sums the output gradients of every
        position it fills (its own and its edge/mirror copies).

    Notes
    -----
    MXNet 1.9.1 pads only 4-D and 5-D arrays and only their spatial axes (``pad_width`` must start
    with four zeros); gpuparams pads any axis of any array.
    """
    require_ndarray("pad", data)
    if mode not in _PAD_MODES:
        raise ValueError(f"pad: mode must be one of {', '.join(_PAD_MODES)}, got {mode!r}")
    widths = tuple(_opt_int(w, "pad", "pad_width") for w in _as_seq(pad_width))
    if len(widths) != 2 * data.ndim or any(w is None or w < 0 for w in widths):
        raise ValueError(f"pad: pad_width must have two non-negative ints per axis ({2 * data.ndim} for "
                         f"shape {data.shape}), got {tuple(pad_width)}")
    pairs = tuple((widths[2 * i], widths[2 * i + 1]) for i in range(data.ndim))
    if mode == "reflect":
        for i, ((b, a), n) in enumerate(zip(pairs, data.shape)):
            if max(b, a) >= n:
                raise ValueError(f"pad: reflect padding of {max(b, a)} on axis {i} of size {n} needs a pad "
                                 f"smaller than the axis (shape {data.shape})")
    d = data._data
    xp = xp_of(d)
    if mode == "constant":
        out = xp.pad(d, pairs, mode="constant", constant_values=constant_value)
    else:
        out = xp.pad(d, pairs, mode=mode)
    shape = d.shape
    # Where each padded position reads from along each axis (-1: the constant); the padding is
    # separable, so the gradient is a sum over these maps one axis at a time.
    sources = []
    for (b, a), n in zip(pairs, shape):
        if mode == "constant":
            sources.append(np.concatenate([np.full(b, -1), np.arange(n), np.full(a, -1)]))
        else:
            sources.append(np.pad(np.arange(n), (b, a), mode=mode))

    def backward(g, needs):
        gx = xp_of(g)
        for axis, (src, n) in enumerate(zip(sources, shape)):
            onehot = np.zeros((src.size, n), dtype=g.dtype)
            hit = src >= 0
            onehot[np.nonzero(hit)[0], src[hit]] = 1
            g = gx.moveaxis(gx.tensordot(g, gx.asarray(onehot), axes=([axis], [0])), -1, axis)
        return (g,)
    return result(out, data._ctx, "pad", (data,), backward, saved=())
