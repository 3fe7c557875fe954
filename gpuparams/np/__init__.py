"""``gpuparams.np``: MXNet's NumPy interface (``mxnet.np``) over the same engine as ``nd``.

>>> from gpuparams import np, npx
>>> x = np.arange(6).reshape(2, 3)
>>> x.sum(), (x > 2).dtype
(array(15.), dtype('bool'))

Arrays are :class:`ndarray` (a subclass of :class:`~gpuparams.ndarray.NDArray` with NumPy semantics:
0-d reductions, bool comparisons, NumPy type promotion with float32 as the default float). Every
function is NumPy's signature around the registered operators, so autograd, the kernels and every
context work unchanged; ``x.as_nd_ndarray()`` / ``x.as_np_ndarray()`` switch front end without a copy.
"""
from __future__ import annotations

import numpy as _onp

from . import linalg, random
from ._array import ndarray
from ._creation import (arange, array, asarray, empty, empty_like, eye, full, full_like, identity,
                        linspace, ones, ones_like, zeros, zeros_like)
from ._functions import (abs, absolute, add, amax, amin, argmax, argmin, broadcast_to, clip, concatenate,
                         cos, divide, dot, einsum, equal, exp, expand_dims, greater, greater_equal, less,
                         less_equal, log, matmul, max, maximum, mean, min, minimum, multiply, negative,
                         not_equal, power, ravel, reshape, sign, sin, split, sqrt, square, squeeze, stack,
                         std, subtract, sum, swapaxes, tanh, tensordot, transpose, true_divide, var, where,
                         outer, flip, tile, repeat, sort, argsort, floor, ceil, round, isnan, isinf,
                         isfinite, logical_and, logical_or, logical_not, any, all, count_nonzero)

ndarray.__module__ = __name__  # it prints as gpuparams.np.ndarray (MXNet's: mxnet.numpy.ndarray)

# NumPy's dtypes and constants, so `np.float32` and `np.pi` read as in NumPy code.
float16, float32, float64 = _onp.float16, _onp.float32, _onp.float64
int8, int32, int64, uint8 = _onp.int8, _onp.int32, _onp.int64, _onp.uint8
bool_ = _onp.bool_
dtype = _onp.dtype
pi, e, inf, nan, newaxis = _onp.pi, _onp.e, _onp.inf, _onp.nan, None

__all__ = ["ndarray", "linalg", "random", "arange", "array", "asarray", "empty", "empty_like", "eye", "full",
           "full_like", "identity", "linspace", "ones", "ones_like", "zeros", "zeros_like", "abs", "absolute",
           "add", "amax", "amin", "argmax", "argmin", "broadcast_to", "clip", "concatenate", "cos", "divide",
           "dot", "einsum", "equal", "exp", "expand_dims", "greater", "greater_equal", "less", "less_equal",
           "log", "matmul", "max", "maximum", "mean", "min", "minimum", "multiply", "negative", "not_equal",
           "power", "ravel", "reshape", "sign", "sin", "split", "sqrt", "square", "squeeze", "stack", "std",
           "subtract", "sum", "swapaxes", "tanh", "tensordot", "transpose", "true_divide", "var", "where",
           "float16", "float32", "float64", "int8", "int32", "int64", "uint8", "bool_", "dtype", "pi", "e",
           "inf", "nan", "newaxis", "outer", "flip", "tile", "repeat", "sort", "argsort", "floor", "ceil",
           "round", "isnan", "isinf", "isfinite", "logical_and", "logical_or", "logical_not", "any", "all",
           "count_nonzero"]

# A name MXNet has and gpuparams lacks (np.<name>) says "not supported yet".
from .._unsupported import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr(globals(), "np")
