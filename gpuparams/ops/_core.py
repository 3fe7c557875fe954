"""Shared machinery of the operators: wrapping results, recording nodes, context and shape checks.

Every operator follows one pattern: check that its NDArray operands share a context, compute on the
backend arrays (NumPy or CuPy, whose operators and methods agree), wrap the result with
:func:`result`, which attaches an autograd :class:`~gpuparams.autograd.Node` only while recording and
only when an input takes part in differentiation. Backward functions receive the output gradient as a
backend array and return one backend array (or ``None``) per input.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import backend
from ..autograd import Node, _state
from ..ndarray import NDArray, _new
from ..errors import ContextMismatchError, ShapeError

__all__ = ["ContextMismatchError", "result", "same_context", "operand", "unbroadcast", "xp_of",
           "ShapeError", "contiguous", "scatter_add", "stable_sigmoid"]


def xp_of(data):
    """The array module (numpy or cupy) of a backend array."""
    if type(data) is np.ndarray:
        return np
    return backend.cupy_module_of(data)


def contiguous(data):
    """``data`` itself when C-contiguous (what our kernels index), else a C-contiguous copy."""
    return data if data.flags.c_contiguous else xp_of(data).ascontiguousarray(data)


def scatter_add(full, key, values):
    """``full[key] += values`` with repeated positions adding up, on NumPy or CuPy."""
    if type(full) is np.ndarray:
        np.add.at(full, key, values)
    else:
        import cupyx
        cupyx.scatter_add(full, key, values)


def stable_sigmoid(data, xp):
    """``1 / (1 + exp(-data))`` on a backend array, in the form whose ``exp`` never overflows (its
    argument is ``-|data|``); the caller casts the result to the dtype it needs."""
    e = xp.exp(-xp.abs(data))
    return xp.where(data >= 0, 1 / (1 + e), e / (1 + e))


def same_context(op_name, a, b):
    """Return the common context of NDArrays ``a`` and ``b`` or raise :class:`ContextMismatchError`."""
    ctx = a._ctx
    if b._ctx is not ctx:
        raise ContextMismatchError(
            f"{op_name}: operands are on different contexts, {a._ctx} and {b._ctx}; copy one over "
            f"first, e.g. x.as_in_context({a._ctx})")
    return ctx


def operand(value, ctx):
    """Backend data for a second operand: NDArray data, or a Python scalar (kept a scalar so the
    array's dtype wins, as NumPy's NEP 50 rules do for Python numbers)."""
    if isinstance(value, NDArray):
        return value._data
    if isinstance(value, (bool, numbers.Number)):
        return value.item() if isinstance(value, np.generic) else value
    raise TypeError(f"unsupported operand of type {type(value).__name__}: use an NDArray or a number "
                    f"(wrap NumPy arrays with nd.array(a, ctx={ctx}))")


class _OutputRef:
    """Stands for an operator's own result in ``Node.saved`` (its version counter and shape), so that
    backward notices an in-place write to the result through a view or ``detach()`` without the node
    holding a reference cycle to the result."""

    __slots__ = ("_version", "shape")

    def __init__(self, out):
        self._version = out._version
        self.shape = out.shape


def result(data, ctx, name, inputs, backward_fn, saved=(), save_output=False):
    """Wrap backend ``data`` as an NDArray and, while recording, attach its autograd node.

    ``saved`` lists the inputs whose values ``backward_fn`` reads; ``save_output=True`` says that it
    reads the result too. Backward refuses to run when any of them was written in place since.
    """
    out = _new(data, ctx)
    if _state.recording:
        for x in inputs:
            if x is not None and (x._node is not None or x._grad_req != "null"):
                saved = tuple((s, s._version[0]) for s in saved if s is not None)
                if save_output:
                    saved += ((_OutputRef(out), out._version[0]),)
                out._node = Node(name, inputs, backward_fn, saved)
                break
    return out


def unbroadcast(g, shape):
    """Sum a gradient over the axes along which an operand of ``shape`` was broadcast."""
    if g.shape == shape:
        return g
    extra = g.ndim - len(shape)
    if extra > 0:
        g = g.sum(axis=tuple(range(extra)))
    axes = tuple(i for i, n in enumerate(shape) if n == 1 and g.shape[i] != 1)
    if axes:
        g = g.sum(axis=axes, keepdims=True)
    return g.reshape(shape)


def broadcast_error(op_name, a_shape, b_shape):
    return ShapeError(f"{op_name}: shapes {a_shape} and {b_shape} cannot be broadcast together "
                      "(trailing dimensions must be equal or 1)")
