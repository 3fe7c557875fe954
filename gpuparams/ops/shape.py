"""Shape and layout operators: reshape, transpose, concat/stack, split, broadcasting, tiling, slicing,
flipping, indexing, dtype casts, copies."""
from __future__ import annotations

import math

import numpy as np

from .._ndarray import NDArray, copy_to_context, normalize_dtype
from ._core import (ShapeError, normalize_axes, normalize_axis, result, same_context, scatter_add,
                    unbroadcast, unbroadcast_nd, xp_of)
from ._registry import register

__all__ = ["reshape", "transpose", "expand_dims", "squeeze", "flatten", "concat", "stack",
           "getitem", "astype", "copy", "to_context", "backend_key", "swapaxes", "split",
           "broadcast_to", "broadcast_axis", "tile", "repeat", "slice_axis", "flip"]


def _dim_code(n, new_shape):
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)):
        raise TypeError(f"reshape: dimensions must be ints, got {new_shape!r}")
    return int(n)


def _apply_codes(shape, codes):
    """MXNet's reshape codes applied left to right to the input ``shape``.

    ``0`` copies the next input dimension, ``-1`` infers one dimension from the size, ``-2`` copies
    all remaining input dimensions, ``-3`` merges the next two input dimensions, ``-4 a b`` splits the
    next input dimension into ``a`` and ``b`` (one of them may be -1); other values are literal sizes
    (MXNet 1.9.1's ``Reshape``, checked against it in tests/data/mxnet_1_9_1_ops.json)."""
    ndim = len(shape)
    out, infer_at, src, j = [], None, 0, 0

    def take(count, code):
        if src + count > ndim:
            raise ShapeError(f"reshape: code {code} in {tuple(codes)} needs {count} more input dimension(s) "
                             f"but the input shape {tuple(shape)} has only {ndim}")

    while j < len(codes):
        c = codes[j]
        if c == 0:
            if src < ndim:
                out.append(shape[src])
            else:  # past the input's dimensions a 0 is a literal empty dimension (NumPy's reading)
                out.append(0)
            src += 1
        elif c == -1:
            if infer_at is not None:
                raise ShapeError(f"reshape: only one -1 allowed in {tuple(codes)}")
            infer_at = len(out)
            out.append(1)
            src += 1
        elif c == -2:
            out.extend(shape[src:])
            src = ndim
        elif c == -3:
            take(2, -3)
            out.append(shape[src] * shape[src + 1])
            src += 2
        elif c == -4:
            if j + 2 >= len(codes):
                raise ShapeError(f"reshape: -4 in {tuple(codes)} must be followed by the two sizes to "
                                 "split into")
            take(1, -4)
            a, b, whole = codes[j + 1], codes[j + 2], shape[src]
            if a == -1 and b > 0:
                a = whole // b
            elif b == -1 and a > 0:
                b = whole // a
            if a < 0 or b < 0 or a * b != whole:
                raise ShapeError(f"reshape: -4 {codes[j + 1]} {codes[j + 2]} in {tuple(codes)} cannot split "
                                 f"input dimension {src} of size {whole} (shape {tuple(shape)})")
            out.extend((a, b))
            src += 1
            j += 2
        elif c < -4:
            raise ShapeError(f"reshape: unknown code {c} in {tuple(codes)} (MXNet's codes are 0, -1, -2, "
                             "-3, -4)")
        else:
            out.append(c)
            src += 1
        j += 1
    return out, infer_at


def _target_shape(shape, new_shape, reverse=False):
    """The shape ``reshape(new_shape)`` gives an array of ``shape`` (MXNet's codes, see
    :func:`_apply_codes`); ``reverse=True`` reads both shapes from the right, as MXNet does."""
    size = 1
    for n in shape:
        size *= n
    codes = [_dim_code(n, new_shape) for n in new_shape]
    if reverse:
        resolved, infer_at = _apply_codes(tuple(shape)[::-1], codes[::-1])
    else:
        resolved, infer_at = _apply_codes(tuple(shape), codes)
    known = 1
    for n in resolved:
        known *= n
    if infer_at is not None:
        if known == 0 or size % known:
            raise ShapeError(f"reshape: cannot reshape an array of shape {shape} (size {size}) "
                             f"into {tuple(new_shape)}")
        resolved[infer_at] = size // known
    elif known != size:
        raise ShapeError(f"reshape: cannot reshape an array of shape {shape} (size {size}) "
                         f"into {tuple(new_shape)} "
                         f"(which gives {tuple(resolved[::-1] if reverse else resolved)}, "
                         f"size {known})")
    return tuple(resolved[::-1] if reverse else resolved)


@register(method=True, higher_order=True)
def reshape(x, *shape, **kwargs):
    """Return ``x`` with a new shape (a view when possible), with MXNet's special codes.

    Accepts ``reshape((2, 3))``, ``reshape(2, 3)`` and ``reshape(shape=(2, 3))``. In the target,
    ``0`` copies an input dimension, ``-1`` infers one, ``-2`` copies the rest, ``-3`` merges two,
    ``-4 a b`` splits one into ``a`` and ``b``; ``reverse=True`` applies the codes right to left
    (``(10, 5, 4).reshape((-1, 0), reverse=True)`` is ``(50, 4)``).
    """
    if "shape" in kwargs:
        shape = kwargs.pop("shape")
    elif len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    reverse = bool(kwargs.pop("reverse", False))
    if kwargs:
        raise TypeError(f"reshape() got unexpected arguments {sorted(kwargs)}")
    data = x._data
    target = _target_shape(data.shape, tuple(shape), reverse)
    in_shape = data.shape

    def backward(g, needs):
        return (g.reshape(in_shape),)

    def graph_backward(g, out, needs):
        return (reshape(g, in_shape),)
    out = data.reshape(target)
    return _share_version(result(out, x._ctx, "reshape", (x,), backward, saved=(),
                                 graph_backward=graph_backward), x, out, data)


def _share_version(out, x, out_data, in_data):
    """Views share the version counter of the array they view (see ndarray._view)."""
    if out_data.base is not None and (out_data.base is in_data or out_data.base is in_data.base):
        out._version = x._version
    return out


@register(method=True, higher_order=True)
def transpose(x, axes=None):
    """Permute the axes (reverse them by default)."""
    data = x._data
    if axes is not None:
        axes = tuple(normalize_axis(a, data.shape, "transpose") for a in axes)
        if sorted(axes) != list(range(data.ndim)):
            raise ShapeError(f"transpose: axes {axes} are not a permutation of the {data.ndim} "
                             f"dimensions of shape {x.shape}")
    out = data.transpose(axes)
    inverse = None if axes is None else tuple(np.argsort(axes))

    def backward(g, needs):
        return (g.transpose(inverse),)

    def graph_backward(g, out, needs):
        return (transpose(g, None if inverse is None else tuple(int(a) for a in inverse)),)
    return _share_version(result(out, x._ctx, "transpose", (x,), backward, saved=(),
                                 graph_backward=graph_backward), x, out, data)


@register(method=True)
def swapaxes(x, dim1, dim2):
    """Swap two axes."""
    dim1 = normalize_axis(dim1, x.shape, "swapaxes", "dim1")
    dim2 = normalize_axis(dim2, x.shape, "swapaxes", "dim2")
    axes = list(range(x.ndim))
    axes[dim1], axes[dim2] = axes[dim2], axes[dim1]
    return transpose(x, axes)


def _maybe_copy(view, inplace):
    """MXNet's ``inplace=`` of expand_dims/squeeze/flatten: True returns a view sharing ``x``'s
    memory (writes show through), False (the default) a new array, as MXNet 1.9.1 does."""
    return view if inplace else copy(view)


@register(method=True)
def expand_dims(x, axis, inplace=False):
    """Insert a dimension of size 1 at ``axis``; a new array unless ``inplace=True`` (a view)."""
    axis = normalize_axis(axis, x.ndim + 1, "expand_dims")  # an axis of the result
    shape = list(x.shape)
    shape.insert(axis, 1)
    return _maybe_copy(reshape(x, tuple(shape)), inplace)


@register(method=True)
def squeeze(x, axis=None, inplace=False):
    """Remove dimensions of size 1 (all of them, or those in ``axis``); a new array unless
    ``inplace=True`` (a view)."""
    shape = x.shape
    if axis is None:
        axes = range(len(shape))
    else:
        axes = normalize_axes((axis,) if isinstance(axis, (int, np.integer)) else tuple(axis), shape,
                              "squeeze")
    drop = set()
    for a in axes:
        if shape[a] == 1:
            drop.add(a)
        elif axis is not None:
            raise ShapeError(f"squeeze: axis {a} has size {shape[a]}, not 1 (shape {shape})")
    kept = tuple(n for i, n in enumerate(shape) if i not in drop)
    # nd has no 0-d arrays: squeezing every axis leaves (1,); the np front end keeps NumPy's ().
    return _maybe_copy(reshape(x, kept or (() if type(x)._numpy_semantics else (1,))), inplace)


@register(method=True, aliases=("Flatten",))
def flatten(x, inplace=False):
    """Collapse all axes but the first: ``(N, ...) -> (N, prod(...))``; a new array unless
    ``inplace=True`` (a view). Empty arrays flatten too (``(0, 3) -> (0, 3)``; MXNet 1.9.1 refuses
    them); a 0-d array is a :class:`ShapeError`."""
    if x.ndim == 0:
        raise ShapeError("flatten: needs an array with a first axis, got shape (); use "
                         "x.reshape((1, 1)) for a 1 x 1 array")
    return _maybe_copy(reshape(x, (x.shape[0], math.prod(x.shape[1:]))), inplace)


def _joined(op_name, arrays):
    arrays = list(arrays[0]) if len(arrays) == 1 and isinstance(arrays[0], (list, tuple)) else list(arrays)
    if not arrays:
        raise ValueError(f"{op_name}: needs at least one array")
    for a in arrays:
        if not isinstance(a, NDArray):
            raise TypeError(f"{op_name}: every input must be an NDArray, got {type(a).__name__}")
        same_context(op_name, arrays[0], a)
    return arrays


@register()
def concat(*arrays, dim=1):
    """Join arrays along an existing axis ``dim`` (MXNet's default is 1)."""
    arrays = _joined("concat", arrays)
    dim = normalize_axis(dim, arrays[0].shape, "concat", "dim")
    datas = [a._data for a in arrays]
    xp = xp_of(datas[0])
    try:
        out = xp.concatenate(datas, axis=dim)
    except (ValueError, IndexError) as exc:
        raise ShapeError(f"concat along dim {dim}: shapes {[a.shape for a in arrays]} do not fit "
                         f"({exc})") from None
    bounds = np.cumsum([d.shape[dim] for d in datas])[:-1]

    def backward(g, needs):
        return tuple(xp.split(g, bounds, axis=dim))
    return result(out, arrays[0]._ctx, "concat", tuple(arrays), backward, saved=())


@register()
def stack(*arrays, axis=0):
    """Join same-shape arrays along a new axis."""
    arrays = _joined("stack", arrays)
    axis = normalize_axis(axis, arrays[0].ndim + 1, "stack")  # an axis of the result
    datas = [a._data for a in arrays]
    xp = xp_of(datas[0])
    try:
        out = xp.stack(datas, axis=axis)
    except ValueError as exc:
        raise ShapeError(f"stack: arrays need one shape, got {[a.shape for a in arrays]} ({exc})") from None

    count = len(datas)  # the backward keeps the count, not the inputs' buffers

    def backward(g, needs):
        return tuple(xp.take(g, i, axis=axis) for i in range(count))
    return result(out, arrays[0]._ctx, "stack", tuple(arrays), backward, saved=())


def backend_key(key, ctx):
    """Turn an indexing key into one the backend array accepts (NDArray indices become arrays)."""
    if isinstance(key, tuple):
        return tuple(_key_part(k, ctx) for k in key)
    return _key_part(key, ctx)


def _key_part(k, ctx):
    if isinstance(k, NDArray):
        data = k._data
        if k._ctx is not ctx:
            data = copy_to_context(data, k._ctx, ctx)
        if data.dtype.kind == "f":
            data = data.astype(np.int64)  # MXNet indexes with float arrays of whole numbers
        return data
    return k


def _is_basic(key):
    parts = key if isinstance(key, tuple) else (key,)
    return all(isinstance(k, (int, np.integer, slice)) or k is None or k is Ellipsis for k in parts)


@register(method="__getitem__", public=False)
def getitem(x, key):
    """``x[key]``: basic indexing returns a view sharing memory; integer-array indexing a copy."""
    data = x._data
    key = backend_key(key, x._ctx)
    basic = _is_basic(key)
    try:
        out = data[key]
        if basic and getattr(out, "ndim", 0) == 0:
            # One element: NumPy returns a scalar copy, CuPy a 0-d view. Index again with a trailing
            # Ellipsis, which makes NumPy return the 0-d view too, so x[i, j] is a view on every
            # backend (as every other basic index is) and shares x's version counter truthfully.
            parts = key if isinstance(key, tuple) else (key,)
            if Ellipsis not in parts:
                out = data[parts + (Ellipsis,)]
    except IndexError as exc:
        raise IndexError(f"index {key!r} is out of bounds for an array of shape {x.shape}: {exc}") from None
    out = xp_of(data).asarray(out)
    shape, dtype, out_shape = data.shape, data.dtype, out.shape  # shapes only: no buffer is kept

    def backward(g, needs):
        xp = xp_of(g)
        full = xp.zeros(shape, dtype=dtype)
        g = g.reshape(out_shape)
        if basic:
            full[key] = g
        else:
            scatter_add(full, key, g)  # repeated indices add up
        return (full,)
    res = result(out, x._ctx, "getitem", (x,), backward, saved=())
    if basic:
        res._version = x._version
    return res


@register(method=True, public=False)
def astype(x, dtype, copy=True):
    """Cast to ``dtype`` (the gradient is cast back to the input's dtype).

    MXNet's and NumPy's cast, deliberately unchecked: integers wrap around and out-of-range floats
    become whatever the cast gives. The creation functions (``nd.array(x, dtype=...)``) check the
    range instead (:func:`gpuparams._ndarray.check_integer_range`).
    """
    dtype = normalize_dtype(dtype, allow_bool=type(x)._numpy_semantics)
    data = x._data
    if not copy and dtype == data.dtype:
        return x
    in_dtype = data.dtype

    def backward(g, needs):
        return (g.astype(in_dtype),)
    return result(data.astype(dtype), x._ctx, "astype", (x,), backward, saved=())


@register(method=True, public=False)
def copy(x):
    """A new buffer with the same values (recorded)."""
    def backward(g, needs):
        return (g,)
    return result(x._data.copy(), x._ctx, "copy", (x,), backward, saved=())


@register(method="as_in_context", public=False)
def to_context(x, ctx):
    """Copy ``x`` to another context; recorded, so gradients flow back to the source context."""
    src = x._ctx

    def backward(g, needs):
        return (copy_to_context(g, ctx, src),)
    return result(copy_to_context(x._data, src, ctx), ctx, "as_in_context", (x,), backward, saved=())


# ----------------------------------------------------------------------------- split, slice, broadcast, tile
def _int_arg(value, op_name, what):
    """``value`` as a Python int; bools and non-integers are refused with a TypeError naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{op_name}: {what} must be an int, got {value!r}")
    return int(value)


def _as_tuple(value):
    return (value,) if isinstance(value, (int, np.integer)) else tuple(value)


def _check_array(op_name, data):
    if not isinstance(data, NDArray):
        raise TypeError(f"{op_name}: data must be an NDArray, got {type(data).__name__} "
                        "(wrap it with nd.array(...))")


def _sliced(x, axis, begin, end, op_name, squeeze=False):
    """``x[begin:end]`` along ``axis`` as a new array (MXNet's slices are copies, not views); the
    gradient goes back to the sliced positions, zero elsewhere."""
    data = x._data
    key = (slice(None),) * axis + (slice(begin, end),)
    out = data[key].copy()
    part_shape = out.shape
    if squeeze:
        out = out.reshape(part_shape[:axis] + part_shape[axis + 1:])
    shape, dtype = data.shape, data.dtype

    def backward(g, needs):
        full = xp_of(g).zeros(shape, dtype=dtype)
        full[key] = g.reshape(part_shape)
        return (full,)
    return result(out, x._ctx, op_name, (x,), backward, saved=())


@register(method=True, aliases=("SliceChannel",))
def split(data, num_outputs, axis=1, squeeze_axis=False):
    """Split an array into ``num_outputs`` equal parts along ``axis`` (MXNet's ``split``).

    Parameters
    ----------
    data : NDArray
        The array to split.
    num_outputs : int
        Number of parts; it must divide ``data.shape[axis]``.
    axis : int
        The axis to split (default 1, as in MXNet; negative axes count from the end).
    squeeze_axis : bool
        Drop ``axis`` from every part; needs ``data.shape[axis] == num_outputs``.

    Returns
    -------
    list of NDArray or NDArray
        The parts in order, each a new array of shape ``data.shape`` with ``axis`` divided by
        ``num_outputs`` (or removed with ``squeeze_axis``). As in MXNet, ``num_outputs=1`` returns the
        single part itself rather than a list. Each part is differentiable: its gradient reaches the
        slice of ``data`` it came from.

    Raises
    ------
    ShapeError
        When ``num_outputs`` does not divide the axis, or ``squeeze_axis`` is set and the axis size
        is not ``num_outputs``.

    Examples
    --------
    >>> from gpuparams import nd
    >>> [p.asnumpy().tolist() for p in nd.split(nd.array([[1, 2, 3, 4]]), 2)]
    [[[1.0, 2.0]], [[3.0, 4.0]]]
    """
    _check_array("split", data)
    n = _int_arg(num_outputs, "split", "num_outputs")
    if n < 1:
        raise ValueError(f"split: num_outputs must be at least 1, got {n}")
    shape = data.shape
    ax = normalize_axis(axis, data.shape, "split")
    size = shape[ax]
    if size % n:
        raise ShapeError(f"split: axis {ax} of an array of shape {shape} has size {size}, which "
                         f"num_outputs={n} does not divide; use a num_outputs that divides {size}, or cut "
                         "uneven parts with nd.slice_axis or gluon.utils.split_data(..., even_split=False)")
    if squeeze_axis and size != n:
        raise ShapeError(f"split: squeeze_axis=True needs axis {ax} of shape {shape} to have size "
                         f"num_outputs={n}, but it has size {size}; pass squeeze_axis=False, or "
                         f"num_outputs={size}")
    step = size // n
    parts = [_sliced(data, ax, i * step, (i + 1) * step, "split", bool(squeeze_axis)) for i in range(n)]
    return parts[0] if n == 1 else parts




@register(method=True)
def slice_axis(data, axis, begin, end):
    """The slice ``begin:end`` of ``data`` along one axis (MXNet's ``slice_axis``).

    Parameters
    ----------
    data : NDArray
    axis : int
        The axis to slice (negative axes count from the end).
    begin : int
        First position (negative counts from the end).
    end : int or None
        One past the last position (negative counts from the end; None: the end of the axis).

    Returns
    -------
    NDArray
        A new array (not a view); the gradient reaches the sliced positions.

    Raises
    ------
    ShapeError
        Unless ``0 <= begin < end <= data.shape[axis]`` once negative values are resolved (MXNet
        refuses empty slices too).

    Examples
    --------
    >>> from gpuparams import nd
    >>> nd.slice_axis(nd.array([[1, 2, 3], [4, 5, 6]]), axis=1, begin=1, end=None).asnumpy().tolist()
    [[2.0, 3.0], [5.0, 6.0]]
    """
    _check_array("slice_axis", data)
    shape = data.shape
    ax = normalize_axis(axis, data.shape, "slice_axis")
    n = shape[ax]
    b = _int_arg(begin, "slice_axis", "begin")
    e = n if end is None else _int_arg(end, "slice_axis", "end")
    b = b + n if b < 0 else b
    e = e + n if e < 0 else e
    if not 0 <= b < e <= n:
        raise ShapeError(f"slice_axis: begin={begin}, end={end} do not select a non-empty range of axis "
                         f"{ax} (size {n}) of an array of shape {shape}; after negative values count from "
                         f"the end, 0 <= begin < end <= {n} must hold")
    return _sliced(data, ax, b, e, "slice_axis")


def _broadcast(data, target, op_name):
    d = data._data
    in_shape = d.shape
    out = xp_of(d).broadcast_to(d, target).copy()  # a new array as in MXNet, not a read-only view

    def backward(g, needs):
        return (unbroadcast(g, in_shape),)

    def graph_backward(g, out, needs):
        return (unbroadcast_nd(g, in_shape),)
    return result(out, data._ctx, op_name, (data,), backward, saved=(), graph_backward=graph_backward)


@register(method=True, higher_order=True)
def broadcast_to(data, shape):
    """Broadcast ``data`` to ``shape`` by repeating its size-1 dimensions (MXNet's ``broadcast_to``).

    Parameters
    ----------
    data : NDArray
    shape : tuple of int
        The target shape, with as many dimensions as ``data`` (as in MXNet; reshape first to add
        leading ones). A 0 keeps that dimension of ``data``.

    Returns
    -------
    NDArray
        A new array of the target shape; its gradient is summed back over the broadcast dimensions.

    Raises
    ------
    ShapeError
        When the number of dimensions differs, or a dimension that is not 1 would change.

    Examples
    --------
    >>> from gpuparams import nd
    >>> nd.broadcast_to(nd.array([[1], [2]]), (2, 3)).asnumpy().tolist()
    [[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]]
    """
    _check_array("broadcast_to", data)
    in_shape = data.shape
    shape = tuple(_int_arg(n, "broadcast_to", "every dimension of shape") for n in _as_tuple(shape))
    if len(shape) != len(in_shape):
        hint = ""
        if len(shape) > len(in_shape):
            padded = (1,) * (len(shape) - len(in_shape)) + in_shape
            hint = f"; reshape first, e.g. x.reshape({padded}).broadcast_to({shape})"
        raise ShapeError(f"broadcast_to: an array of shape {in_shape} cannot be broadcast to {shape}: "
                         f"the number of dimensions must match ({len(in_shape)} vs {len(shape)}){hint}")
    target = tuple(n if s == 0 else s for n, s in zip(in_shape, shape))
    for i, (n, s) in enumerate(zip(in_shape, target)):
        if s < 0 or (n != s and n != 1):
            raise ShapeError(f"broadcast_to: an array of shape {in_shape} cannot be broadcast to {shape}: "
                             f"dimension {i} has size {n}, and only dimensions of size 1 can grow "
                             "(a 0 in the target keeps that dimension)")
    return _broadcast(data, target, "broadcast_to")


@register(method="broadcast_axes", aliases=("broadcast_axes",), higher_order=True)
def broadcast_axis(data, axis=(), size=()):
    """Broadcast the size-1 ``axis`` (or axes) of ``data`` to ``size`` (MXNet's ``broadcast_axis``).

    Parameters
    ----------
    data : NDArray
    axis : int or tuple of int
        Axes of size 1 to enlarge. Negative axes count from the end (MXNet 1.9.1 refuses them).
    size : int or tuple of int
        The new size of each axis, one per axis.

    Returns
    -------
    NDArray
        A new array; its gradient is summed back over the broadcast axes.

    Examples
    --------
    >>> from gpuparams import nd
    >>> nd.broadcast_axis(nd.array([[1], [2]]), axis=1, size=3).asnumpy().tolist()
    [[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]]
    """
    _check_array("broadcast_axis", data)
    axes, sizes = _as_tuple(axis), _as_tuple(size)
    if len(axes) != len(sizes):
        raise ValueError(f"broadcast_axis: {len(axes)} axes {axes} but {len(sizes)} sizes {sizes}; give "
                         "one size per axis")
    shape = data.shape
    target = list(shape)
    for a, s in zip(axes, sizes):
        a = normalize_axis(a, data.shape, "broadcast_axis")
        s = _int_arg(s, "broadcast_axis", "size")
        if shape[a] != 1:
            raise ShapeError(f"broadcast_axis: axis {a} of an array of shape {shape} has size {shape[a]}; "
                             "only axes of size 1 can be broadcast (nd.tile or nd.repeat enlarge others)")
        if s < 1:
            raise ValueError(f"broadcast_axis: size must be positive, got {s} for axis {a}")
        target[a] = s
    return _broadcast(data, tuple(target), "broadcast_axis")




@register(method=True)
def tile(data, reps):
    """Repeat the whole array ``reps[i]`` times along each axis (MXNet's ``tile``, NumPy's rules).

    Parameters
    ----------
    data : NDArray
    reps : int or tuple of int
        Positive repetitions per axis. A longer ``reps`` adds leading axes to ``data``; a shorter
        one is padded with leading 1s.

    Returns
    -------
    NDArray
        The tiled array; the gradient of ``data`` sums the gradients of all its copies.

    Examples
    --------
    >>> from gpuparams import nd
    >>> nd.tile(nd.array([[1, 2]]), reps=(2, 2)).asnumpy().tolist()
    [[1.0, 2.0, 1.0, 2.0], [1.0, 2.0, 1.0, 2.0]]
    """
    _check_array("tile", data)
    reps = tuple(_int_arg(r, "tile", "every entry of reps") for r in _as_tuple(reps))
    if any(r < 1 for r in reps):
        raise ValueError(f"tile: reps must be positive ints, got {reps} (MXNet refuses 0 and negative "
                         "repetitions)")
    d = data._data
    shape = d.shape
    out = xp_of(d).tile(d, reps)
    ndim = max(len(shape), len(reps))
    padded_shape = (1,) * (ndim - len(shape)) + shape
    padded_reps = (1,) * (ndim - len(reps)) + reps
    # out viewed as (r0, s0, r1, s1, ...): the copies are the r axes, summed away in backward
    grouped = tuple(n for pair in zip(padded_reps, padded_shape) for n in pair)
    copies = tuple(range(0, 2 * ndim, 2))

    def backward(g, needs):
        return (g.reshape(grouped).sum(axis=copies).reshape(shape),)
    return result(out, data._ctx, "tile", (data,), backward, saved=())


@register(method=True)
def repeat(data, repeats, axis=None):
    """Repeat each element ``repeats`` times along ``axis`` (MXNet's ``repeat``).

    Parameters
    ----------
    data : NDArray
    repeats : int
        Non-negative number of repetitions of each element.
    axis : int or None
        The axis along which to repeat (negative counts from the end); None repeats the elements of
        the flattened array and returns a 1-D array.

    Returns
    -------
    NDArray
        The repeated array; the gradient of each element sums the gradients of its copies.
        With ``repeats=0`` the result has NumPy's empty shape (e.g. ``(2, 0)``), where MXNet 1.9.1
        returns shape ``(0,)``.

    Examples
    --------
    >>> from gpuparams import nd
    >>> nd.repeat(nd.array([[1, 2], [3, 4]]), repeats=2, axis=1).asnumpy().tolist()
    [[1.0, 1.0, 2.0, 2.0], [3.0, 3.0, 4.0, 4.0]]
    """
    _check_array("repeat", data)
    repeats = _int_arg(repeats, "repeat", "repeats")
    if repeats < 0:
        raise ValueError(f"repeat: repeats must be non-negative, got {repeats}")
    d = data._data
    shape = d.shape
    xp = xp_of(d)
    if axis is None:
        out = xp.repeat(d.reshape(-1), repeats)
        grouped, summed = (d.size, repeats), 1
    else:
        ax = normalize_axis(axis, d.shape, "repeat")
        out = xp.repeat(d, repeats, axis=ax)
        grouped, summed = shape[:ax] + (shape[ax], repeats) + shape[ax + 1:], ax + 1

    def backward(g, needs):
        return (g.reshape(grouped).sum(axis=summed).reshape(shape),)
    return result(out, data._ctx, "repeat", (data,), backward, saved=())


@register(method=True, aliases=("reverse",))
def flip(data, axis):
    """Reverse the order of the elements along ``axis`` (MXNet's ``flip``, alias ``reverse``).

    Parameters
    ----------
    data : NDArray
    axis : int or tuple of int
        The axis or axes to reverse. Negative axes count from the end (MXNet 1.9.1 refuses them).

    Returns
    -------
    NDArray
        A new array; the gradient is the output gradient flipped back.

    Examples
    --------
    >>> from gpuparams import nd
    >>> nd.flip(nd.array([[1, 2, 3], [4, 5, 6]]), axis=1).asnumpy().tolist()
    [[3.0, 2.0, 1.0], [6.0, 5.0, 4.0]]
    """
    _check_array("flip", data)
    axes = tuple(normalize_axis(a, data.shape, "flip") for a in _as_tuple(axis))
    if len(set(axes)) != len(axes):
        raise ValueError(f"flip: axis {axis} names an axis twice")
    d = data._data
    xp = xp_of(d)

    def flipped(a):
        return xp.flip(a, axis=axes) if axes else a

    def backward(g, needs):
        return (flipped(g),)
    return result(flipped(d).copy(), data._ctx, "flip", (data,), backward, saved=())


