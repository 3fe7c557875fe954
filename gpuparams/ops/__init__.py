"""Operators, one module per family; each operator has its forward and backward side by side.

Importing this package attaches the operators to :class:`~gpuparams.ndarray.NDArray` as methods
and Python operators.
"""
from __future__ import annotations

import functools

from .. import backend
from ..context import cpu
from ..ndarray import NDArray
from . import activation, dense, elementwise, indexing, linalg, reduce, select, shape
from ._core import ContextMismatchError, ShapeError

__all__ = ["activation", "dense", "elementwise", "indexing", "linalg", "reduce", "select", "shape",
           "ContextMismatchError", "ShapeError"]


class _NoArray:
    """What :func:`_on_device` looks at when no argument is an NDArray: the host's context."""

    _ctx = cpu(0)


def _on_device(fn):
    """Run ``fn`` with the device of its first NDArray argument current.

    CuPy launches on the current device and refuses arrays of another one, so an operator on
    ``gpu(1)`` data must run under ``cupy.cuda.Device(1)``. On the CPU this costs one type check.
    Keyword arguments are looked at only when no positional argument is an NDArray
    (``nd.one_hot(indices=x, depth=3)``).
    """
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        for arg in args:
            if type(arg) is NDArray:
                break
        else:
            arg = _NoArray
            for value in kwargs.values():
                if type(value) is NDArray:
                    arg = value
                    break
        if arg._ctx.device_type == "gpu":
            with backend.device_scope(arg._ctx):
                return fn(*args, **kwargs)
        return fn(*args, **kwargs)
    wrapper.__wrapped_op__ = fn
    return wrapper


def _wrap_operators():
    for module in (activation, dense, elementwise, indexing, linalg, reduce, select, shape):
        for name in module.__all__:
            fn = getattr(module, name)
            if callable(fn) and not isinstance(fn, type) and not hasattr(fn, "__wrapped_op__"):
                setattr(module, name, _on_device(fn))


_wrap_operators()


def _reflected(fn):
    def method(self, other):
        return fn(other, self)
    return method


def _attach():
    ew = elementwise
    operators = {
        "__add__": ew.add, "__radd__": ew.add,
        "__sub__": ew.subtract, "__rsub__": _reflected(ew.subtract),
        "__mul__": ew.multiply, "__rmul__": ew.multiply,
        "__truediv__": ew.divide, "__rtruediv__": _reflected(ew.divide),
        "__pow__": ew.power, "__rpow__": _reflected(ew.power),
        "__eq__": ew.equal, "__ne__": ew.not_equal,
        "__gt__": ew.greater, "__ge__": ew.greater_equal,
        "__lt__": ew.lesser, "__le__": ew.lesser_equal,
        "__neg__": ew.negative, "__abs__": ew.abs,
        "__matmul__": linalg.dot,
        "__getitem__": shape.getitem,
    }
    methods = {
        "exp": ew.exp, "log": ew.log, "sqrt": ew.sqrt, "square": ew.square, "abs": ew.abs,
        "sign": ew.sign, "clip": ew.clip,
        "relu": activation.relu, "sigmoid": activation.sigmoid, "tanh": activation.tanh,
        "softmax": activation.softmax, "log_softmax": activation.log_softmax,
        "sum": reduce.sum, "mean": reduce.mean, "max": reduce.max, "min": reduce.min,
        "norm": reduce.norm,
        "reshape": shape.reshape, "transpose": shape.transpose, "expand_dims": shape.expand_dims,
        "squeeze": shape.squeeze, "flatten": shape.flatten, "swapaxes": shape.swapaxes,
        "astype": shape.astype, "dot": linalg.dot,
        "take": indexing.take, "pick": indexing.pick, "one_hot": indexing.one_hot,
        "argmax": indexing.argmax, "argmin": indexing.argmin,
        # MXNet 1.x has these as methods too (where, reverse, broadcast_axis and the broadcast_*
        # arithmetic are functions only)
        "split": shape.split, "slice_axis": shape.slice_axis, "broadcast_to": shape.broadcast_to,
        "broadcast_axes": shape.broadcast_axes, "tile": shape.tile, "repeat": shape.repeat,
        "flip": shape.flip, "sort": select.sort, "argsort": select.argsort, "topk": select.topk,
    }
    for name, fn in {**operators, **methods}.items():
        setattr(NDArray, name, fn)


_attach()
