"""Shape and layout operators: reshape, transpose, concat/stack, indexing, dtype casts, copies."""
from __future__ import annotations

import numpy as np

from ..ndarray import NDArray, _to_context, normalize_dtype
from ._core import ShapeError, result, same_context, scatter_add, xp_of

__all__ = ["reshape", "transpose", "expand_dims", "squeeze", "flatten", "concat", "stack",
           "getitem", "astype", "copy", "to_context", "backend_key", "swapaxes"]


def _target_shape(shape, new_shape):
    """Resolve MXNet/NumPy reshape codes: -1 (infer one dim) and 0 (copy this dim, MXNet)."""
    size = 1
    for n in shape:
        size *= n
    resolved, infer_at = [], None
    for i, n in enumerate(new_shape):
        if not isinstance(n, (int, np.integer)):
            raise TypeError(f"reshape: dimensions must be ints, got {new_shape!r}")
        n = int(n)
        if n == -1:
            if infer_at is not None:
                raise ShapeError(f"reshape: only one -1 allowed in {tuple(new_shape)}")
            infer_at = i
            resolved.append(1)
        elif n == 0 and i < len(shape):
            resolved.append(shape[i])
        elif n < 0:
            raise ShapeError(f"reshape: negative dimension {n} in {tuple(new_shape)}")
        else:
            resolved.append(n)
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
                         f"into {tuple(new_shape)} (size {known})")
    return tuple(resolved)


def reshape(x, *shape, **kwargs):
    """Return ``x`` with a new shape (a view when possible); one dim may be -1.

    Accepts ``reshape((2, 3))``, ``reshape(2, 3)`` and ``reshape(shape=(2, 3))``.
    """
    if "shape" in kwargs:
        shape = kwargs.pop("shape")
    elif len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = shape[0]
    if kwargs:
        raise TypeError(f"reshape() got unexpected arguments {sorted(kwargs)}")
    data = x._data
    target = _target_shape(data.shape, tuple(shape))
    in_shape = data.shape

    def backward(g, needs):
        return (g.reshape(in_shape),)
    out = data.reshape(target)
    return _share_version(result(out, x._ctx, "reshape", (x,), backward), x, out, data)


def _share_version(out, x, out_data, in_data):
    """Views share the version counter of the array they view (see ndarray._view)."""
    if out_data.base is not None and (out_data.base is in_data or out_data.base is in_data.base):
        out._version = x._version
    return out


def transpose(x, axes=None):
    """Permute the axes (reverse them by default)."""
    data = x._data
    if axes is not None:
        axes = tuple(axes)
        if sorted(a % data.ndim for a in axes) != list(range(data.ndim)):
            raise ShapeError(f"transpose: axes {axes} are not a permutation of {data.ndim} dimensions")
    out = data.transpose(axes)
    inverse = None if axes is None else tuple(np.argsort([a % data.ndim for a in axes]))

    def backward(g, needs):
        return (g.transpose(inverse),)
    return _share_version(result(out, x._ctx, "transpose", (x,), backward), x, out, data)


def swapaxes(x, dim1, dim2):
    """Swap two axes."""
    axes = list(range(x.ndim))
    axes[dim1], axes[dim2] = axes[dim2], axes[dim1]
    return transpose(x, axes)


def expand_dims(x, axis):
    """Insert a dimension of size 1 at ``axis``."""
    ndim = x.ndim + 1
    if not -ndim <= axis < ndim:
        raise ValueError(f"expand_dims: axis {axis} out of range for a result with {ndim} dimensions")
    shape = list(x.shape)
    shape.insert(axis % ndim, 1)
    return reshape(x, tuple(shape))


def squeeze(x, axis=None):
    """Remove dimensions of size 1 (all of them, or those in ``axis``)."""
    shape = x.shape
    axes = range(len(shape)) if axis is None else ([axis] if isinstance(axis, int) else axis)
    drop = set()
    for a in axes:
        a %= len(shape)
        if shape[a] == 1:
            drop.add(a)
        elif axis is not None:
            raise ShapeError(f"squeeze: axis {a} has size {shape[a]}, not 1 (shape {shape})")
    return reshape(x, tuple(n for i, n in enumerate(shape) if i not in drop) or (1,))


def flatten(x):
    """Collapse all axes but the first: ``(N, ...) -> (N, prod(...))``."""
    return reshape(x, (x.shape[0], -1))


def _joined(op_name, arrays):
    arrays = list(arrays[0]) if len(arrays) == 1 and isinstance(arrays[0], (list, tuple)) else list(arrays)
    if not arrays:
        raise ValueError(f"{op_name}: needs at least one array")
    for a in arrays:
        if not isinstance(a, NDArray):
            raise TypeError(f"{op_name}: every input must be an NDArray, got {type(a).__name__}")
        same_context(op_name, arrays[0], a)
    return arrays


def concat(*arrays, dim=1):
    """Join arrays along an existing axis ``dim`` (MXNet's default is 1)."""
    arrays = _joined("concat", arrays)
    datas = [a._data for a in arrays]
    xp = xp_of(datas[0])
    try:
        out = xp.concatenate(datas, axis=dim)
    except (ValueError, IndexError) as exc:
        raise ShapeError(f"concat along dim {dim}: shapes {[a.shape for a in arrays]} do not fit ({exc})") from None
    bounds = np.cumsum([d.shape[dim] for d in datas])[:-1]

    def backward(g, needs):
        return tuple(xp.split(g, bounds, axis=dim))
    return result(out, arrays[0]._ctx, "concat", tuple(arrays), backward)


def stack(*arrays, axis=0):
    """Join same-shape arrays along a new axis."""
    arrays = _joined("stack", arrays)
    datas = [a._data for a in arrays]
    xp = xp_of(datas[0])
    try:
        out = xp.stack(datas, axis=axis)
    except ValueError as exc:
        raise ShapeError(f"stack: arrays need one shape, got {[a.shape for a in arrays]} ({exc})") from None

    def backward(g, needs):
        return tuple(xp.take(g, i, axis=axis) for i in range(len(datas)))
    return result(out, arrays[0]._ctx, "stack", tuple(arrays), backward)


def backend_key(key, ctx):
    """Turn an indexing key into one the backend array accepts (NDArray indices become arrays)."""
    if isinstance(key, tuple):
        return tuple(_key_part(k, ctx) for k in key)
    return _key_part(key, ctx)


def _key_part(k, ctx):
    if isinstance(k, NDArray):
        data = k._data
        if k._ctx is not ctx:
            data = _to_context(data, k._ctx, ctx)
        if data.dtype.kind == "f":
            data = data.astype(np.int64)  # MXNet indexes with float arrays of whole numbers
        return data
    return k


def _is_basic(key):
    parts = key if isinstance(key, tuple) else (key,)
    return all(isinstance(k, (int, np.integer, slice)) or k is None or k is Ellipsis for k in parts)


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
    shape, dtype = data.shape, data.dtype

    def backward(g, needs):
        xp = xp_of(g)
        full = xp.zeros(shape, dtype=dtype)
        g = g.reshape(out.shape)
        if basic:
            full[key] = g
        else:
            scatter_add(full, key, g)  # repeated indices add up
        return (full,)
    res = result(out, x._ctx, "getitem", (x,), backward)
    if basic:
        res._version = x._version
    return res


def astype(x, dtype, copy=True):
    """Cast to ``dtype`` (the gradient is cast back to the input's dtype)."""
    dtype = normalize_dtype(dtype)
    data = x._data
    if not copy and dtype == data.dtype:
        return x
    in_dtype = data.dtype

    def backward(g, needs):
        return (g.astype(in_dtype),)
    return result(data.astype(dtype), x._ctx, "astype", (x,), backward)


def copy(x):
    """A new buffer with the same values (recorded)."""
    def backward(g, needs):
        return (g,)
    return result(x._data.copy(), x._ctx, "copy", (x,), backward)


def to_context(x, ctx):
    """Copy ``x`` to another context; recorded, so gradients flow back to the source context."""
    src = x._ctx

    def backward(g, needs):
        return (_to_context(g, ctx, src),)
    return result(_to_context(x._data, src, ctx), ctx, "as_in_context", (x,), backward)
