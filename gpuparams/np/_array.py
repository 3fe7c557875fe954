"""``gpuparams.np.ndarray``: the NumPy front end's array class over the one engine.

A subclass of :class:`~gpuparams.ndarray.NDArray` with no slots of its own, so every operator,
autograd, the kernels and Gluon work on it unchanged, and an array switches front end without a copy
(``as_nd_ndarray`` / ``as_np_ndarray``). What it changes is the front end's rules, which the engine
reads from ``_numpy_semantics``: results keep 0-d shapes, comparisons give bool; and in this module,
NumPy's signatures (``reshape(2, 3)``, ``sum(axis, dtype, out, keepdims)``) and NumPy's type promotion
with float32 as the default float (:func:`promote`).
"""
from __future__ import annotations

import numbers

import numpy as _onp

from .. import ops as _ops
from ..ops import _registry
from .._ndarray import NDArray, normalize_dtype

__all__ = ["ndarray", "promote", "result_dtype", "np_dtype"]

_F32 = _onp.dtype(_onp.float32)
_QUIET = (_F32, _onp.dtype(bool))
_I64 = _onp.dtype(_onp.int64)


# The registered operators the Python operators call, bound once (no attribute lookup per call).
_add, _subtract, _multiply, _divide, _power = _ops.add, _ops.subtract, _ops.multiply, _ops.divide, _ops.power
_sum_op, _mean_op = _ops.sum, _ops.mean


def np_dtype(dtype, what="dtype"):
    """``np.dtype(dtype)`` for the np front end (MXNet 1.x's dtypes plus bool)."""
    return normalize_dtype(dtype, what=what, allow_bool=True)


# NumPy's integer results that MXNet has no dtype for, widened as MXNet's np does (uint8 + int8: int32).
_WIDER = {_onp.dtype(k): _onp.dtype(v) for k, v in
          (("int16", "int32"), ("uint16", "int32"), ("uint32", "int64"), ("uint64", "int64"))}


def result_dtype(a, b, true_divide=False):
    """The dtype of ``a op b``: NumPy's promotion as MXNet's np applies it. Arrays of one kind promote
    as in NumPy; an integer (or bool) array with a float array gives the float array's dtype (NumPy
    would give int32 + float32 float64); an integer array with a Python float gives float32, the
    default float; a Python number never widens an array of its kind. ``true_divide`` makes integer
    results float32."""
    da = a._data.dtype if isinstance(a, NDArray) else None
    db = b._data.dtype if isinstance(b, NDArray) else None
    if da is not None and db is not None:
        if da.kind in "biu" and db.kind == "f":
            rt = db
        elif db.kind in "biu" and da.kind == "f":
            rt = da
        else:
            rt = _onp.result_type(da, db)
            rt = _WIDER.get(rt, rt)
    else:
        dt, scalar = (da, b) if da is not None else (db, a)
        if isinstance(scalar, (bool, _onp.bool_)):
            rt = dt
        elif isinstance(scalar, numbers.Integral):
            rt = _I64 if dt.kind == "b" else dt
        elif dt.kind in "biu":  # an integer array and a Python float: the default float
            rt = _F32
        else:
            rt = dt
    if true_divide and rt.kind in "biu":
        rt = _F32
    return rt


def promote(a, b, true_divide=False):
    """``(a, b)`` with every array operand cast (a recorded ``astype``) to :func:`result_dtype`."""
    # The common cases first, cheaply (this runs on every arithmetic operator of np arrays): two
    # arrays of one dtype, or a float array with a Python number; nothing to cast.
    ta, tb = type(a), type(b)
    if ta is ndarray:
        da = a._data.dtype
        if tb is ndarray:
            if b._data.dtype is da and (da.kind == "f" or not true_divide):
                return a, b
        elif (tb is float or tb is int) and da.kind == "f":
            return a, b
    elif tb is ndarray and (ta is float or ta is int) and b._data.dtype.kind == "f":
        return a, b
    rt = result_dtype(a, b, true_divide)
    if isinstance(a, NDArray) and a._data.dtype != rt:
        a = _ops.astype(a, rt)
    if isinstance(b, NDArray) and b._data.dtype != rt:
        b = _ops.astype(b, rt)
    return a, b


def _shape_args(args, what):
    if len(args) == 1 and isinstance(args[0], (tuple, list)):
        args = tuple(args[0])
    if len(args) == 1 and args[0] is None:
        return None
    for n in args:
        if isinstance(n, bool) or not isinstance(n, (int, _onp.integer)):
            raise TypeError(f"{what} must be ints, got {args!r}")
    return tuple(int(n) for n in args)


def reshape_target(shape, new_shape, op_name="reshape"):
    """NumPy's reshape rule: ``new_shape`` with its one ``-1`` filled in; ValueError when sizes differ."""
    size = 1
    for n in shape:
        size *= n
    unknown = [i for i, n in enumerate(new_shape) if n == -1]
    if len(unknown) > 1 or any(n < -1 for n in new_shape):
        raise ValueError(f"{op_name}: new shape {new_shape} may hold one -1 and otherwise non-negative ints")
    known = 1
    for n in new_shape:
        if n != -1:
            known *= n
    if unknown:
        if known == 0 or size % known:
            raise ValueError(f"{op_name}: cannot reshape an array of size {size} into shape {new_shape}")
        new_shape = tuple(size // known if n == -1 else n for n in new_shape)
    elif known != size:
        raise ValueError(f"{op_name}: cannot reshape an array of size {size} into shape {new_shape}")
    return tuple(new_shape)


def _no_out(out, op_name):
    if out is not None:
        raise NotImplementedError(f"{op_name}: out= is not supported; use the returned array")


class ndarray(NDArray):
    """An n-dimensional array with NumPy semantics (``mxnet.np.ndarray``), recorded by autograd.

    Create arrays with :mod:`gpuparams.np` (``np.array``, ``np.zeros``, ``np.random.uniform`` ...).
    Reductions return 0-d arrays, comparisons return bool arrays, and mixed dtypes promote as in NumPy
    with float32 as the default float.
    """

    __slots__ = ()
    _numpy_semantics = True

    # ----------------------------------------------------------------- printing and scalars
    def __repr__(self):
        # MXNet's np format: NumPy's, but with the dtype named unless it is float32 or bool (NumPy names
        # it unless float64, int64 or bool), and the context named unless it is the CPU.
        host = self.asnumpy()
        text = "array(" + _onp.array2string(host, separator=", ", prefix="array(")
        extras = [] if host.dtype in _QUIET else [f"dtype={host.dtype.name}"]
        if self._ctx.device_type != "cpu":
            extras.append(f"ctx={self._ctx}")
        for extra in extras:
            last = text.rsplit("\n", 1)[-1]
            text += (",\n      " if len(last) + len(extra) + 2 > _onp.get_printoptions()["linewidth"]
                     else ", ") + extra
        return text + ")"

    def __str__(self):
        text = str(self.asnumpy())
        return text if self._ctx.device_type == "cpu" else f"{text} @{self._ctx}"

    def item(self, *args):
        """The element at flat index ``args[0]`` (or the only one) as a Python scalar."""
        if not args:
            if self.size != 1:
                raise ValueError(f"item(): can only convert an array of size 1 to a Python scalar, this "
                                 f"one has shape {self.shape}; pass an index, e.g. x.item(0)")
            return self.asnumpy().reshape(-1)[0].item()
        return self.asnumpy().item(*args)

    def __len__(self):
        if self._data.ndim == 0:
            raise TypeError("len() of a 0-d array (NumPy's rule); use x.item() for its value")
        return self._data.shape[0]

    def __iter__(self):
        if self._data.ndim == 0:
            raise TypeError("iteration over a 0-d array (NumPy's rule); use x.item() for its value")
        return super().__iter__()

    def tolist(self):
        """The values as nested Python lists (a Python scalar for a 0-d array)."""
        return self.asnumpy().tolist()

    def as_in_ctx(self, ctx):
        """This array on ``ctx`` (``self`` when it is already there); MXNet np's name."""
        return self.as_in_context(ctx)

    to_device = as_in_ctx

    # ----------------------------------------------------------------- arithmetic with promotion
    # (the methods are built by _arithmetic below, which inlines promote's common cases)

    def __matmul__(self, other):
        from ._functions import matmul
        return matmul(self, other)

    def __eq__(self, other):
        if other is None:
            return False
        return _ops.equal(*promote(self, other))

    def __ne__(self, other):
        if other is None:
            return True
        return _ops.not_equal(*promote(self, other))

    def __gt__(self, other):
        return _ops.greater(*promote(self, other))

    def __ge__(self, other):
        return _ops.greater_equal(*promote(self, other))

    def __lt__(self, other):
        return _ops.lesser(*promote(self, other))

    def __le__(self, other):
        return _ops.lesser_equal(*promote(self, other))

    __hash__ = NDArray.__hash__

    # ----------------------------------------------------------------- NumPy's method signatures
    def reshape(self, *shape, order="C"):
        """A view with a new shape (``x.reshape(2, 3)`` or ``x.reshape((2, 3))``; one dim may be -1)."""
        if order != "C":
            raise NotImplementedError("reshape: only order='C' is supported")
        new = _shape_args(shape, "reshape: shape")
        return _ops.reshape(self, reshape_target(self.shape, new))

    def transpose(self, *axes):
        """Permute the axes (reversed by default; ``x.transpose(1, 0)`` or ``x.transpose((1, 0))``)."""
        return _ops.transpose(self, _shape_args(axes, "transpose: axes") if axes else None)

    def flatten(self, order="C"):
        """A 1-D copy of the array (NumPy's ``flatten``, not nd's 2-D one)."""
        return self.reshape(-1, order=order)

    def ravel(self, order="C"):
        """The array as 1-D."""
        return self.reshape(-1, order=order)

    def astype(self, dtype, copy=True):
        """Cast to ``dtype`` (bool allowed); the gradient is cast back. NumPy's cast: integers wrap
        around, unchecked (``np.array(x, dtype=...)`` refuses values out of range)."""
        return _ops.astype(self, np_dtype(dtype), copy)

    def sum(self, axis=None, dtype=None, out=None, keepdims=False):
        """Sum over ``axis`` (all by default): a 0-d array without ``axis``."""
        if dtype is None and out is None and self._data.dtype.kind == "f":
            return _sum_op(self, axis, keepdims)  # nothing to cast: straight to the operator
        from ._functions import sum as _sum
        return _sum(self, axis, dtype, out, keepdims)

    def mean(self, axis=None, dtype=None, out=None, keepdims=False):
        """Mean over ``axis`` (all by default); integer arrays give float32."""
        if dtype is None and out is None and self._data.dtype.kind == "f":
            return _mean_op(self, axis, keepdims)
        from ._functions import mean
        return mean(self, axis, dtype, out, keepdims)

    def max(self, axis=None, out=None, keepdims=False):
        """Maximum over ``axis`` (all by default)."""
        _no_out(out, "max")
        return _ops.max(self, axis, keepdims)

    def min(self, axis=None, out=None, keepdims=False):
        """Minimum over ``axis`` (all by default)."""
        _no_out(out, "min")
        return _ops.min(self, axis, keepdims)

    def argmax(self, axis=None, out=None, keepdims=False):
        """Index (int64) of the maximum along ``axis`` (of the flattened array when None)."""
        from ._functions import argmax
        return argmax(self, axis, out, keepdims)

    def argmin(self, axis=None, out=None, keepdims=False):
        """Index (int64) of the minimum along ``axis`` (of the flattened array when None)."""
        from ._functions import argmin
        return argmin(self, axis, out, keepdims)

    def var(self, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
        """Variance over ``axis`` (differentiable)."""
        from ._functions import var
        return var(self, axis, dtype, out, ddof, keepdims)

    def std(self, axis=None, dtype=None, out=None, ddof=0, keepdims=False):
        """Standard deviation over ``axis`` (differentiable)."""
        from ._functions import std
        return std(self, axis, dtype, out, ddof, keepdims)

    def dot(self, b):
        """``np.dot(self, b)``."""
        from ._functions import dot
        return dot(self, b)

    def squeeze(self, axis=None):
        """Remove size-1 dimensions (all, or those in ``axis``)."""
        return _ops.squeeze(self, axis)

    def clip(self, a_min=None, a_max=None):
        """Limit the values to ``[a_min, a_max]`` (either may be None)."""
        from ._functions import clip
        return clip(self, a_min, a_max)

    def split(self, *args, **kwargs):
        """``np.split(self, ...)``."""
        from ._functions import split
        return split(self, *args, **kwargs)

    def repeat(self, repeats, axis=None):
        """Repeat each element ``repeats`` times along ``axis`` (flattened when None)."""
        return _ops.repeat(self, repeats, axis)

    def copy(self, order="C"):
        """A copy (recorded, so differentiable)."""
        return _ops.copy(self)

    @property
    def T(self):
        """The array with its axes reversed."""
        return _ops.transpose(self, None)


def _arithmetic(op, reflected=False, true_divide=False):
    """A Python arithmetic operator of :class:`ndarray`: ``op`` after :func:`promote`, whose common
    cases (same dtype; a float array with a Python number) are inlined, so that the NumPy front end
    adds no function call to a recorded operator over ``nd``'s."""
    def method(self, other):
        t = type(other)
        kind = self._data.dtype.kind
        if ((t is ndarray and other._data.dtype is self._data.dtype and (kind == "f" or not true_divide))
                or ((t is float or t is int) and kind == "f")):
            return op(other, self) if reflected else op(self, other)
        return op(*(promote(other, self, true_divide) if reflected else promote(self, other, true_divide)))
    return method


for _name, _op, _flags in (("add", _add, {}), ("sub", _subtract, {}), ("mul", _multiply, {}),
                           ("truediv", _divide, {"true_divide": True}), ("pow", _power, {}),
                           ("mod", _ops.modulo, {})):
    setattr(ndarray, f"__{_name}__", _arithmetic(_op, **_flags))
    setattr(ndarray, f"__r{_name}__", _arithmetic(_op, reflected=True, **_flags))
    getattr(ndarray, f"__{_name}__").__name__ = f"__{_name}__"
    getattr(ndarray, f"__r{_name}__").__name__ = f"__r{_name}__"

_registry._NP_ARRAY[0] = ndarray  # the dispatcher's exact-type test for this front end
