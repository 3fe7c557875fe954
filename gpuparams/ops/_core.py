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
from .._tracing import refuse_host_work_in_capture
from .._tracing import state as _trace_state
from ..autograd import Node, _state
from .._ndarray import NDArray, from_backend
from ._registry import REGISTRY, _strict
from ..errors import AxisError, ContextMismatchError, ShapeError

__all__ = ["ContextMismatchError", "normalize_axis", "normalize_axes", "require_ndarray", "result",
           "allow_grad_sinks", "same_context", "operand", "unbroadcast", "xp_of", "ShapeError", "contiguous",
           "scatter_add", "stable_sigmoid", "stable_softmax", "stable_log_softmax", "number_like"]


def xp_of(data):
    """The array module (numpy or cupy) of a backend array."""
    if type(data) is np.ndarray or isinstance(data, np.generic):  # NumPy gives 0-d results as scalars
        return np
    return backend.cupy_module_of(data)


def contiguous(data):
    """``data`` itself when C-contiguous (what our kernels index), else a C-contiguous copy (refused
    inside a graph capture, which would replay the copy's first result)."""
    if data.flags.c_contiguous:
        return data
    refuse_host_work_in_capture(f"a copy of a non-contiguous array of shape {data.shape}")
    return xp_of(data).ascontiguousarray(data)


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


def _shifted_logits(data, axis, xp):
    """``data - max(data)`` along ``axis``, also where a row's maximum is not finite.

    Rows with a finite maximum are shifted by it (every entry <= 0, a 0 in each row). In a row whose
    maximum is +inf the +inf entries become 0 and the others -inf, so that the k entries at +inf
    share the probability instead of giving ``inf - inf = NaN``. A row that is all -inf (no
    distribution) or holds a NaN becomes NaN. ``exp`` of the result never overflows and nothing here
    warns.
    """
    m = data.max(axis=axis, keepdims=True)
    if data.dtype.kind != "f" or (xp is np and bool(np.isfinite(m).all())):
        # Integers cannot be infinite, and on the host a finite-max check is cheap; a device array
        # always takes the guarded form below (checking would synchronise).
        return data - m
    finite = xp.isfinite(m)
    # NaN propagates through max, so a row with a NaN has m = NaN and lands in the NaN branch.
    # Constants of data's dtype, so that no float64 temporaries appear (NumPy 1 and 2 alike).
    t = data.dtype.type
    at_inf = xp.where(data == xp.inf, t(0), t(-np.inf))
    special = xp.where(m == xp.inf, at_inf, t(np.nan))
    return xp.where(finite, data - xp.where(finite, m, t(0)), special).astype(data.dtype, copy=False)


def stable_log_softmax(data, axis, xp):
    """``log(softmax(data))`` along ``axis`` of a backend array, as ``z - log(sum(exp(z)))`` with
    ``z`` the max-shifted logits.

    Exact for infinite logits: in a row holding k entries at +inf those give ``-log k`` and the others
    -inf; a -inf entry gives -inf; a row that is all -inf, or holds a NaN, gives NaN (as NumPy and
    PyTorch do). Never warns: ``exp`` sees only arguments <= 0 and the sum is >= 1 (or NaN).
    """
    z = _shifted_logits(data, axis, xp)
    return z - xp.log(xp.exp(z).sum(axis=axis, keepdims=True))


def stable_softmax(data, axis, xp):
    """``softmax(data)`` along ``axis`` of a backend array, computed from the max-shifted logits.

    Same rules as :func:`stable_log_softmax`: a row with k entries at +inf is ``1/k`` at each of
    them and 0 elsewhere, a -inf entry has probability 0, an all -inf or NaN row is NaN.
    """
    e = xp.exp(_shifted_logits(data, axis, xp))
    return e / e.sum(axis=axis, keepdims=True)


def normalize_axis(axis, shape, op_name, what="axis"):
    """``axis`` as a non-negative int for an array of ``shape`` (negative axes count from the end).

    The one axis check of every operator. ``shape`` may be an int (the number of dimensions, for an
    axis of a result that does not exist yet, as in ``expand_dims``).

    Raises
    ------
    AxisError
        (a ValueError and an IndexError, like NumPy's) when ``axis`` is not an int (bools are
        refused too) or is outside ``[-ndim, ndim)``.
    """
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise AxisError(f"{op_name}: {what} must be an int, got {axis!r}")
    ndim = shape if isinstance(shape, int) else len(shape)
    if not -ndim <= axis < ndim:
        where = (f"{ndim} dimensions" if isinstance(shape, int)
                 else f"shape {tuple(shape)} ({ndim} dimensions)")
        raise AxisError(f"{op_name}: {what} {int(axis)} is out of range for an array of {where}; "
                        f"use an axis in [{-ndim}, {ndim})")
    return int(axis) % ndim


def normalize_axes(axes, shape, op_name, what="axis"):
    """A tuple of distinct non-negative axes (each checked by :func:`normalize_axis`), in the given order."""
    out = tuple(normalize_axis(a, shape, op_name, what) for a in axes)
    if len(set(out)) != len(out):
        raise AxisError(f"{op_name}: repeated {what} in {tuple(axes)!r}")
    return out


def require_ndarray(op_name, value, what="data"):
    """Raise a TypeError naming ``op_name``'s argument ``what`` unless ``value`` is an NDArray."""
    if not isinstance(value, NDArray):
        raise TypeError(f"{op_name}: {what} must be an NDArray, got {type(value).__name__} "
                        "(wrap it with nd.array(...))")


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


#: NumPy 1 promotes by value where every operand is 0-d: a 0-d float32 array times a Python number is
#: float64 there, float32 under NumPy 2 (NEP 50), where a Python number never changes an array's
#: dtype of its kind. ``operand`` keeps numbers as Python numbers for the NEP 50 rule; on NumPy 1
#: :func:`number_like` turns them into scalars of the array's dtype so that both give one result.
_VALUE_BASED_CASTING = np.lib.NumpyVersion(np.__version__) < "2.0.0"


def number_like(value, data):
    """The Python number ``value`` as it should meet the NumPy array ``data`` in an operator.

    Under NumPy 2 (and for arrays of 1 or more dimensions, or non-NumPy data) ``value`` itself. Under
    NumPy 1, next to 0-d ``data`` of a float (or complex) dtype, or an integer dtype with an int
    ``value`` in its range, a NumPy scalar of ``data``'s dtype: what NEP 50 does with it, so that
    ``var`` of float32 data or ``x.sum() + 1`` stays float32. Anything else (a float next to integers,
    bools) is left to NumPy, whose rules agree there; an int out of an integer dtype's range too
    (NumPy 2 refuses it with an OverflowError, NumPy 1 widens the dtype; neither wraps it).
    """
    if (not _VALUE_BASED_CASTING or type(value) not in (int, float)
            or not isinstance(data, (np.ndarray, np.generic)) or data.ndim != 0):
        return value
    dtype = data.dtype
    if dtype.kind in "fc":
        # As NEP 50 converts it: a number beyond the dtype's range is inf with NumPy's overflow
        # RuntimeWarning, an int beyond every float's range an OverflowError (NumPy 2 alike).
        return dtype.type(value)
    if dtype.kind in "iu" and type(value) is int:
        info = np.iinfo(dtype)
        return dtype.type(value) if info.min <= value <= info.max else value
    return value


class _OutputRef:
    """Stands for an operator's own result in ``Node.saved`` (its version counter and shape), so that
    backward notices an in-place write to the result through a view or ``detach()`` without the node
    holding a reference cycle to the result."""

    __slots__ = ("_version", "shape")

    def __init__(self, out):
        self._version = out._version
        self.shape = out.shape


def result(data, ctx, name, inputs, backward_fn, *, saved, save_output=False, graph_backward=None):
    """Wrap backend ``data`` as an NDArray and, while recording, attach its autograd node.

    Parameters
    ----------
    data : backend array
        The operator's result.
    ctx : Context
        Where it lives.
    name : str
        The operator's name (for error messages).
    inputs : tuple
        The NDArray inputs (``None`` for constants), in the order ``backward_fn`` returns gradients.
    backward_fn : callable
        ``backward_fn(grad, needs) -> tuple`` of input gradients.
    saved : tuple of NDArray
        Required: the inputs whose *values* ``backward_fn`` reads (``()`` when it reads none).
        Backward refuses to run when any of them was written in place since.
    save_output : bool
        Whether ``backward_fn`` reads the result too.
    graph_backward : callable, optional
        The operator's backward written with recorded NDArray operators,
        ``graph_backward(grad, output, needs) -> tuple`` of NDArray input gradients (or ``None``), for
        ``autograd.grad(..., create_graph=True)``; only operators registered with
        ``higher_order=True`` pass it. It receives the result as ``output`` instead of capturing it
        (which would make a reference cycle) and reads the inputs it captured as NDArrays, so the
        gradients it builds are recorded back to them.
    """
    # The result's front end follows its inputs (ndarray.front_of, inlined: this is the hot path).
    cls = NDArray
    for x in inputs:
        if x is not None and type(x) is not NDArray:
            cls = type(x)
            break
    out = from_backend(data, ctx, cls)
    collect = _trace_state.collect
    if collect is not None:  # a hybridized replay: one tape node for the whole block (gpuparams.graph)
        if _state.recording:
            if _strict[0]:
                _audit_saved(name, backward_fn, inputs, saved, save_output, data)
            saved = tuple([(s, s._version[0]) for s in saved if s is not None])
            if save_output:
                saved += ((_OutputRef(out), out._version[0]),)
            collect(out, name, inputs, backward_fn, saved)
        return out
    if _state.recording:
        for x in inputs:
            if x is not None and (x._node is not None or x._grad_req != "null"):
                if _strict[0]:
                    _audit_saved(name, backward_fn, inputs, saved, save_output, data)
                    _audit_higher_order(name, graph_backward)
                saved = tuple([(s, s._version[0]) for s in saved if s is not None])
                if save_output:
                    saved += ((_OutputRef(out), out._version[0]),)
                out._node = Node(name, inputs, backward_fn, saved, graph_backward)
                break
    return out


def _audit_higher_order(name, graph_backward):
    """Raise when ``graph_backward`` and the operator's ``higher_order`` declaration disagree."""
    op = REGISTRY.get(name)
    if op is None or op.name != name:
        return
    if op.higher_order and graph_backward is None:
        raise AssertionError(f"operator {name!r} is registered with higher_order=True but this call "
                             "of result() has no graph_backward=")
    if graph_backward is not None and not op.higher_order:
        raise AssertionError(f"operator {name!r} passes graph_backward= but is not registered with "
                             "higher_order=True")


def constant(data, ctx):
    """Backend ``data`` as an NDArray outside the graph (a mask inside a ``graph_backward``)."""
    return from_backend(data, ctx)


def unbroadcast_nd(g, shape):
    """:func:`unbroadcast` with recorded operators: sum the NDArray ``g`` down to ``shape``."""
    from .reduce import sum as _sum
    from .shape import reshape as _reshape
    if g.shape == tuple(shape):
        return g
    extra = g.ndim - len(shape)
    axes = tuple(range(extra)) + tuple(extra + i for i, n in enumerate(shape)
                                       if n == 1 and g.shape[extra + i] != 1)
    if axes:
        g = _sum(g, axis=axes, keepdims=True)
    return _reshape(g, tuple(shape))


def allow_grad_sinks(out):
    """Say that the backward recorded for ``out`` can write leaf gradients straight into their buffers
    (it accepts :class:`~gpuparams.autograd.GradSink` entries in ``needs``)."""
    if out._node is not None:
        out._node.accepts_sinks = True
    elif _trace_state.collect is not None:  # inside a hybridized replay (gpuparams.graph)
        _trace_state.collect.__self__.allow_sinks(out)


def _closure_arrays(fn, depth=0):
    """NumPy arrays captured by ``fn``'s closure (and by functions it captures, two levels deep)."""
    found = []
    for cell in getattr(fn, "__closure__", None) or ():
        try:
            value = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        if isinstance(value, np.ndarray):
            found.append(value)
        elif isinstance(value, NDArray):
            found.append(value._data)
        elif isinstance(value, (tuple, list)):
            found.extend(v if isinstance(v, np.ndarray) else v._data for v in value
                         if isinstance(v, (np.ndarray, NDArray)))
        elif callable(value) and depth < 2 and getattr(value, "__closure__", None):
            found.extend(_closure_arrays(value, depth + 1))
    return found


def _audit_saved(name, backward_fn, inputs, saved, save_output, out_data):
    """Raise when ``backward_fn`` captures a buffer that ``saved``/``save_output`` do not declare."""
    captured = _closure_arrays(backward_fn)
    if not captured:
        return
    declared = {id(s) for s in saved if s is not None}
    for i, x in enumerate(inputs):
        if x is None or id(x) in declared or type(x._data) is not np.ndarray:
            continue
        if any(np.may_share_memory(c, x._data) for c in captured):
            raise AssertionError(
                f"operator {name!r}: its backward reads input {i} (shape {x.shape}) but result() does "
                "not list it in saved=; add it, or in-place writes to it would go undetected")
    if not save_output and type(out_data) is np.ndarray and any(
            np.may_share_memory(c, out_data) for c in captured):
        raise AssertionError(f"operator {name!r}: its backward reads its own result but result() was "
                             "called without save_output=True")


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
