"""NumPy-named functions of ``gpuparams.np`` over the registered operators.

Each function is NumPy's signature and semantics (promotion with float32 as the default float, 0-d
reductions, bool comparisons) around one or a few registered operators (:mod:`gpuparams.ops`), so
every differentiable one is recorded by autograd on every context with no backward of its own here.
"""
from __future__ import annotations

import builtins

import numpy as _onp

from .. import ops as _ops
from ..errors import ShapeError
from ..ops._core import normalize_axis, xp_of
from .._ndarray import NDArray
from ._array import _no_out, ndarray, np_dtype, promote

_dot = _ops.dot

__all__ = ["add", "subtract", "multiply", "divide", "true_divide", "power", "negative", "maximum",
           "minimum", "equal", "not_equal", "greater", "greater_equal", "less", "less_equal",
           "exp", "log", "sqrt", "square", "abs", "absolute", "sign", "tanh", "sin", "cos", "clip",
           "sum", "mean", "max", "min", "amax", "amin", "argmax", "argmin", "var", "std",
           "dot", "matmul", "tensordot", "einsum", "reshape", "transpose", "swapaxes", "concatenate",
           "stack", "split", "squeeze", "expand_dims", "broadcast_to", "ravel", "where", "outer", "flip",
           "tile", "repeat", "sort", "argsort", "floor", "ceil", "round", "isnan", "isinf", "isfinite",
           "logical_and", "logical_or", "logical_not", "any", "all", "count_nonzero"]


def _arr(x, what="a"):
    if not isinstance(x, NDArray):
        raise TypeError(f"{what} must be a gpuparams.np.ndarray, got {type(x).__name__}; "
                        "create it with np.array(...)")
    return x


def _binary(op, true_divide=False):
    def fn(x1, x2):
        return op(*promote(x1, x2, true_divide))
    return fn


add = _binary(_ops.add)
subtract = _binary(_ops.subtract)
multiply = _binary(_ops.multiply)
divide = true_divide = _binary(_ops.divide, true_divide=True)
power = _binary(_ops.power)
maximum = _binary(_ops.maximum)
minimum = _binary(_ops.minimum)
equal = _binary(_ops.equal)
not_equal = _binary(_ops.not_equal)
greater = _binary(_ops.greater)
greater_equal = _binary(_ops.greater_equal)
less = _binary(_ops.lesser)
less_equal = _binary(_ops.lesser_equal)
for _name, _fn in list(locals().items()):
    if _name in __all__ and callable(_fn) and _fn.__name__ == "fn":
        _fn.__name__ = _fn.__qualname__ = _name
        _fn.__doc__ = f"NumPy's ``{_name}(x1, x2)`` with broadcasting and NumPy's type promotion."


def _float_unary(op):
    def fn(x):
        x = _arr(x, "x")
        if x._data.dtype.kind in "biu":  # NumPy's exp/log/... of integers give the default float
            x = _ops.astype(x, "float32")
        return op(x)
    return fn


exp = _float_unary(_ops.exp)
log = _float_unary(_ops.log)
sqrt = _float_unary(_ops.sqrt)
tanh = _float_unary(_ops.tanh)
sin = _float_unary(_ops.sin)
cos = _float_unary(_ops.cos)
for _name in ("exp", "log", "sqrt", "tanh", "sin", "cos"):
    globals()[_name].__name__ = globals()[_name].__qualname__ = _name
    globals()[_name].__doc__ = f"Elementwise ``{_name}`` (integer input gives float32)."


def negative(x):
    """Elementwise ``-x``."""
    return _ops.negative(_arr(x, "x"))


def square(x):
    """Elementwise ``x * x``."""
    return _ops.square(_arr(x, "x"))


def abs(x):
    """Elementwise absolute value."""
    return _ops.abs(_arr(x, "x"))


absolute = abs


def sign(x):
    """Elementwise sign (gradient 0)."""
    return _ops.sign(_arr(x, "x"))


def clip(a, a_min, a_max):
    """Limit the values of ``a`` to ``[a_min, a_max]`` (either may be None, not both)."""
    if a_min is None and a_max is None:
        raise ValueError("clip: a_min and a_max cannot both be None")
    return _ops.clip(_arr(a), a_min, a_max)


# ----------------------------------------------------------------------------- reductions
def _axis(axis):
    return tuple(axis) if isinstance(axis, list) else axis


def sum(a, axis=None, dtype=None, out=None, keepdims=False):
    """Sum over ``axis`` (all axes by default: a 0-d array). bool and int arrays sum to int64 as in
    NumPy; ``dtype`` casts first."""
    _no_out(out, "sum")
    a = _arr(a)
    if dtype is not None:
        a = _ops.astype(a, np_dtype(dtype))
    elif a._data.dtype.kind in "bi" and a._data.dtype != _onp.int64:
        a = _ops.astype(a, "int64")
    return _ops.sum(a, _axis(axis), keepdims)


def mean(a, axis=None, dtype=None, out=None, keepdims=False):
    """Mean over ``axis`` (all axes by default: a 0-d array); integer arrays give float32."""
    _no_out(out, "mean")
    a = _arr(a)
    if dtype is not None:
        a = _ops.astype(a, np_dtype(dtype))
    elif a._data.dtype.kind in "biu":
        a = _ops.astype(a, "float32")
    return _ops.mean(a, _axis(axis), keepdims)


def max(a, axis=None, out=None, keepdims=False):
    """Maximum over ``axis`` (ties share the gradient)."""
    _no_out(out, "max")
    return _ops.max(_arr(a), _axis(axis), keepdims)


def min(a, axis=None, out=None, keepdims=False):
    """Minimum over ``axis`` (ties share the gradient)."""
    _no_out(out, "min")
    return _ops.min(_arr(a), _axis(axis), keepdims)


amax, amin = max, min


def _arg(op, a, axis, out, keepdims):
    _no_out(out, op.op_name)
    res = op(_arr(a), axis, keepdims)
    data = res._data
    if axis is None:
        data = data.reshape((1,) * a.ndim if keepdims else ())
    res._data = data.astype(_onp.int64)  # NumPy's index dtype (nd gives the input's float dtype)
    return res


def argmax(a, axis=None, out=None, keepdims=False):
    """Index (int64) of the maximum along ``axis`` (of the flattened array when None)."""
    return _arg(_ops.argmax, a, axis, out, keepdims)


def argmin(a, axis=None, out=None, keepdims=False):
    """Index (int64) of the minimum along ``axis`` (of the flattened array when None)."""
    return _arg(_ops.argmin, a, axis, out, keepdims)


def var(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    """Variance ``mean(|a - mean(a)|**2)`` over ``axis``, divided by ``N - ddof`` (differentiable)."""
    a = _arr(a)
    centered = subtract(a, mean(a, axis, dtype, out, keepdims=True))
    sq = _ops.square(centered)
    total = _ops.sum(sq, _axis(axis), keepdims)
    count = a.size // builtins.max(total.size, 1) if axis is not None else a.size
    return divide(total, count - ddof)


def std(a, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
    """Standard deviation: ``sqrt(var(...))``."""
    return _ops.sqrt(var(a, axis, dtype, out, ddof, keepdims))


# ----------------------------------------------------------------------------- products
def _same_dtype(a, b):
    return promote(_arr(a), _arr(b, "b"))


def dot(a, b, out=None):
    """NumPy's ``dot``: inner product of 1-D arrays, matrix product of 2-D ones, and for N-D arrays a
    sum over the last axis of ``a`` and the second-to-last of ``b``."""
    if type(a) is ndarray and type(b) is ndarray and out is None:  # the common case: straight to the op
        da, db = a._data, b._data
        if da.dtype is db.dtype and da.ndim and 0 < db.ndim <= 2:
            return _dot(a, b)
    _no_out(out, "dot")
    if not isinstance(a, NDArray) or not isinstance(b, NDArray):
        return multiply(a, b)  # a scalar operand: NumPy's dot multiplies
    a, b = _same_dtype(a, b)
    if a.ndim == 0 or b.ndim == 0:
        return multiply(a, b)
    if b.ndim <= 2:
        return _ops.dot(a, b)
    return tensordot(a, b, axes=([a.ndim - 1], [b.ndim - 2]))


def matmul(a, b, out=None):
    """NumPy's ``matmul``: matrix products broadcast over leading axes; a 1-D operand is a row
    (first) or column (second) vector whose added axis is removed from the result."""
    _no_out(out, "matmul")
    a, b = _same_dtype(a, b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError("matmul: operands must not be 0-d; use np.multiply or * for scalars")
    if a.ndim == 1 and b.ndim == 1:
        return _ops.dot(a, b)
    a2 = _ops.expand_dims(a, 0) if a.ndim == 1 else a
    b2 = _ops.expand_dims(b, 1) if b.ndim == 1 else b
    res = _ops.matmul(a2, b2)
    if a.ndim == 1:
        res = _ops.squeeze(res, res.ndim - 2)
    if b.ndim == 1:
        res = _ops.squeeze(res, res.ndim - 1)
    return res


def tensordot(a, b, axes=2):
    """Sum of products over ``axes``: an int ``N`` (the last N of ``a`` with the first N of ``b``) or a
    pair of axis lists. Built from transpose, reshape and one 2-D ``dot``."""
    a, b = _same_dtype(a, b)
    if isinstance(axes, (int, _onp.integer)):
        n = int(axes)
        if n < 0 or n > builtins.min(a.ndim, b.ndim):
            raise ValueError(f"tensordot: axes={n} is out of range for shapes {a.shape} and {b.shape}")
        axes_a, axes_b = list(range(a.ndim - n, a.ndim)), list(range(n))
    else:
        axes_a, axes_b = axes
        axes_a = [axes_a] if isinstance(axes_a, (int, _onp.integer)) else list(axes_a)
        axes_b = [axes_b] if isinstance(axes_b, (int, _onp.integer)) else list(axes_b)
    if len(axes_a) != len(axes_b):
        raise ValueError(f"tensordot: axes {axes_a} and {axes_b} differ in length")
    axes_a = [normalize_axis(x, a.shape, "tensordot", "axes") for x in axes_a]
    axes_b = [normalize_axis(x, b.shape, "tensordot", "axes") for x in axes_b]
    for i, j in zip(axes_a, axes_b):
        if a.shape[i] != b.shape[j]:
            raise ShapeError(f"tensordot: axis {i} of shape {a.shape} and axis {j} of shape {b.shape} "
                             "differ in size")
    free_a = [i for i in range(a.ndim) if i not in axes_a]
    free_b = [j for j in range(b.ndim) if j not in axes_b]
    k = 1
    for i in axes_a:
        k *= a.shape[i]
    out_shape = tuple(a.shape[i] for i in free_a) + tuple(b.shape[j] for j in free_b)
    a2 = _ops.reshape(_ops.transpose(a, free_a + axes_a), (-1, k))
    b2 = _ops.reshape(_ops.transpose(b, axes_b + free_b), (k, -1))
    return _ops.reshape(_ops.dot(a2, b2), out_shape)


def einsum(subscripts, *operands, out=None):
    """Einstein summation with explicit output subscripts (``'ij,jk->ik'``); see ``ops.einsum``."""
    _no_out(out, "einsum")
    if not operands:
        raise ValueError("einsum: needs at least one operand")
    ops_ = [_arr(x, f"operand {i}") for i, x in enumerate(operands)]
    dtypes = {x._data.dtype for x in ops_}
    if len(dtypes) > 1:
        target = ops_[0]
        for x in ops_[1:]:
            target = promote(target, x)[0]
        ops_ = [x if x._data.dtype == target._data.dtype else _ops.astype(x, target._data.dtype)
                for x in ops_]
    return _ops.einsum(subscripts, *ops_)


# ----------------------------------------------------------------------------- shapes
def reshape(a, newshape, order="C"):
    """``a`` with shape ``newshape`` (one dim may be -1)."""
    return _arr(a).reshape(newshape, order=order)


def ravel(a, order="C"):
    """``a`` as 1-D."""
    return _arr(a).reshape(-1, order=order)


def transpose(a, axes=None):
    """Permute the axes of ``a`` (reversed by default)."""
    return _ops.transpose(_arr(a), None if axes is None else tuple(axes))


def swapaxes(a, axis1, axis2):
    """Swap two axes."""
    return _ops.swapaxes(_arr(a), axis1, axis2)


def _joinable(arrays, op_name):
    arrays = list(arrays)
    if not arrays:
        raise ValueError(f"{op_name}: needs at least one array")
    arrays = [_arr(x, f"{op_name}: array {i}") for i, x in enumerate(arrays)]
    first = arrays[0]
    for x in arrays[1:]:
        first = promote(first, x)[0]
    dt = first._data.dtype
    return [x if x._data.dtype == dt else _ops.astype(x, dt) for x in arrays]


def concatenate(seq, axis=0, out=None):
    """Join arrays along an existing ``axis`` (None: flatten them first)."""
    _no_out(out, "concatenate")
    arrays = _joinable(seq, "concatenate")
    if axis is None:
        arrays, axis = [x.reshape(-1) for x in arrays], 0
    nd0 = arrays[0].ndim
    if nd0 == 0:
        raise ValueError("concatenate: zero-dimensional arrays cannot be concatenated")
    axis = normalize_axis(axis, nd0, "concatenate")
    return _ops.concat(*arrays, dim=axis)


def stack(arrays, axis=0, out=None):
    """Join arrays of one shape along a new ``axis``."""
    _no_out(out, "stack")
    return _ops.stack(*_joinable(arrays, "stack"), axis=axis)


def split(ary, indices_or_sections, axis=0):
    """Split into equal sections (an int) or at the given indices (a list); returns a list."""
    a = _arr(ary, "ary")
    ax = normalize_axis(axis, a.shape, "split")
    n = a.shape[ax]
    if isinstance(indices_or_sections, (int, _onp.integer)) and not isinstance(indices_or_sections, bool):
        k = int(indices_or_sections)
        if k <= 0 or n % k:
            raise ValueError(f"split: array split does not result in an equal division: axis {ax} has "
                             f"size {n}, sections={k}")
        parts = _ops.split(a, k, ax)
        return list(parts) if isinstance(parts, (list, tuple)) else [parts]
    bounds = [0] + [builtins.min(builtins.max(int(i), 0), n) for i in indices_or_sections] + [n]
    return [_ops.slice_axis(a, ax, lo, builtins.max(lo, hi)) for lo, hi in zip(bounds[:-1], bounds[1:])]


def squeeze(a, axis=None):
    """Remove size-1 dimensions (all of them, or those in ``axis``)."""
    return _ops.squeeze(_arr(a), axis)


def expand_dims(a, axis):
    """Insert a size-1 dimension at ``axis``."""
    return _ops.expand_dims(_arr(a), axis)


def broadcast_to(array, shape):
    """``array`` broadcast to ``shape`` (NumPy's rules; differentiable)."""
    a = _arr(array, "array")
    shape = (shape,) if isinstance(shape, (int, _onp.integer)) else tuple(shape)
    if a.ndim < len(shape):
        a = _ops.reshape(a, (1,) * (len(shape) - a.ndim) + a.shape)
    return _ops.broadcast_to(a, shape)


def where(condition, x, y):
    """Elementwise ``x`` where ``condition`` is true, else ``y`` (broadcast; differentiable in x, y)."""
    cond = _arr(condition, "condition")
    if not isinstance(x, NDArray) or not isinstance(y, NDArray):
        raise TypeError("where: x and y must be arrays here (wrap scalars with np.full_like)")
    x, y = promote(x, y)
    shape = _onp.broadcast_shapes(cond.shape, x.shape, y.shape)
    x, y, cond = broadcast_to(x, shape), broadcast_to(y, shape), broadcast_to(cond, shape)
    return _ops.where(cond, x, y)



# ----------------------------------------------------------------------------- more of NumPy
def outer(a, b):
    """Outer product of two arrays (flattened first): ``a[:, None] * b[None, :]`` (differentiable)."""
    a, b = _same_dtype(a, b)
    return _ops.multiply(_ops.reshape(a, (-1, 1)), _ops.reshape(b, (1, -1)))


def flip(m, axis=None):
    """Reverse the order of elements along ``axis`` (every axis when None); differentiable."""
    m = _arr(m, "m")
    axes = range(m.ndim) if axis is None else ((axis,) if isinstance(axis, (int, _onp.integer)) else axis)
    for ax in axes:
        m = _ops.flip(m, ax)
    return m


def tile(A, reps):
    """Repeat the whole array ``reps`` times (NumPy's rules; differentiable)."""
    return _ops.tile(_arr(A, "A"), reps)


def repeat(a, repeats, axis=None):
    """Repeat each element ``repeats`` times along ``axis`` (flattened when None; differentiable)."""
    return _ops.repeat(_arr(a), repeats, axis)


def sort(a, axis=-1):
    """Sorted copy along ``axis`` (differentiable: the gradient goes back to where each value was)."""
    a = _arr(a)
    if axis is None:
        a, axis = a.reshape(-1), 0
    return _ops.sort(a, axis)


def argsort(a, axis=-1):
    """Indices (int64) that sort ``a`` along ``axis`` (not differentiable)."""
    a = _arr(a)
    if axis is None:
        a, axis = a.reshape(-1), 0
    return _ops.argsort(a, axis, True, "int64")


def _elementwise_constant(name, fn_name, out_dtype=None):
    """A NumPy function with no useful gradient (a step function or a test), computed on the
    backend array and not recorded."""
    def fn(x):
        x = _arr(x, "x")
        from .._ndarray import from_backend
        data = getattr(xp_of(x._data), fn_name)(x._data)
        return from_backend(data if out_dtype is None else data.astype(out_dtype), x._ctx, ndarray)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"NumPy's ``{name}`` (not differentiable: its result is a constant for autograd)."
    return fn


floor = _elementwise_constant("floor", "floor")
ceil = _elementwise_constant("ceil", "ceil")
round = _elementwise_constant("round", "round")
isnan = _elementwise_constant("isnan", "isnan")
isinf = _elementwise_constant("isinf", "isinf")
isfinite = _elementwise_constant("isfinite", "isfinite")
logical_not = _elementwise_constant("logical_not", "logical_not")


def _logical(name):
    def fn(x1, x2):
        from .._ndarray import from_backend
        a, b = _arr(x1, "x1"), _arr(x2, "x2")
        if a._ctx is not b._ctx:
            raise ValueError(f"{name}: operands are on {a._ctx} and {b._ctx}; use x.as_in_ctx(...)")
        data = getattr(xp_of(a._data), name)(a._data, b._data)
        return from_backend(data, a._ctx, ndarray)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Elementwise ``{name}`` of two arrays (bool result, not differentiable)."
    return fn


logical_and = _logical("logical_and")
logical_or = _logical("logical_or")


def _truth(name):
    def fn(a, axis=None, keepdims=False):
        from .._ndarray import from_backend
        a = _arr(a)
        data = getattr(a._data, name)(axis=_axis(axis), keepdims=keepdims)
        return from_backend(data, a._ctx, ndarray)
    fn.__name__ = fn.__qualname__ = name
    fn.__doc__ = f"Whether {'any' if name == 'any' else 'every'} element along ``axis`` is true (bool)."
    return fn


any = _truth("any")
all = _truth("all")


def count_nonzero(a, axis=None):
    """Number of nonzero elements (int64) along ``axis``."""
    return sum(not_equal(_arr(a), 0), axis)
