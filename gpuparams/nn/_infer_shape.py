"""Deferred shape inference of a custom HybridBlock from its first inputs (MXNet's
``HybridBlock.infer_shape``), for blocks that do not override :meth:`Block.infer_shape`.

``hybrid_forward`` runs once, untraced and without recording, with every parameter whose shape is
still partly unknown replaced by a :class:`Placeholder`. Every operator call goes through the
dispatcher's hook (the one the hybridize tracer uses); when an operator receives a placeholder, its
rule in :data:`RULES` fills the placeholder's unknown dimensions from the operator's other inputs,
writing them into the Parameter's shape. Once a placeholder's shape is known it stands in as an
array of zeros, so the operator runs and later operators see real shapes. A placeholder that reaches
an operator without a rule, or with dimensions the rule cannot fix, raises
:class:`~gpuparams.errors.ShapeInferenceError` naming the parameter, its shape and the operator.

The rules follow MXNet 1.9.1 where it infers (recorded in ``tests/data/mxnet_1_9_1_infer_shape.json``):

* ``FullyConnected`` / ``dense``: weight ``(num_hidden or units, in_units)`` with ``in_units`` the
  flattened trailing size of the data (or its last axis with ``flatten=False``), bias ``(units,)``;
* the arithmetic operators behind ``+ - * / **`` (and ``maximum`` / ``minimum``), which are
  same-shape elementwise operators in MXNet: the unknown dimensions of an operand take the other
  operand's, when both have the same number of axes.

Two rules go beyond MXNet, where its shape functions give up although the answer is unambiguous:
``dot`` and ``batch_dot`` fill the contracted dimension (and the batch dimension) of a placeholder
operand from the other operand. The explicit ``broadcast_*`` operators infer nothing, as in MXNet: an
unknown dimension there could be 1 or the other operand's size.
"""
from __future__ import annotations

import contextlib
import inspect

import numpy as np

from .. import _front
from .._shapes import merge_partial_shapes, shape_is_known
from .._tracing import state as _trace_state
from ..errors import ShapeInferenceError

__all__ = ["Placeholder", "RULES", "infer_block_shapes"]


class Placeholder:
    """A parameter whose shape is still partly unknown, standing in for its array in
    ``hybrid_forward`` during shape inference."""

    def __init__(self, param, ctx):
        self.param = param
        self.ctx = ctx
        self.declared = param.shape
        self._array = None

    @property
    def shape(self):
        """The parameter's shape as known so far (0 = unknown)."""
        return self.param.shape

    @property
    def ndim(self):
        return len(self.param.shape)

    @property
    def dtype(self):
        return self.param.dtype

    @property
    def context(self):
        return self.ctx

    def fill(self, op_name, wanted):
        """Fill unknown dimensions from ``wanted`` (a tuple with None where the rule says nothing)."""
        shape = self.param.shape
        if len(wanted) != len(shape):
            return
        incoming = tuple(0 if w is None else int(w) for w in wanted)
        merged = merge_partial_shapes(shape, incoming)
        if merged is None:
            raise ShapeInferenceError(
                f"Deferred initialization failed because shape cannot be inferred: operator "
                f"{op_name!r} needs Parameter {self.param.name!r} to have shape "
                f"{_shape_text(incoming)} for its other inputs, but it was declared with shape "
                f"{shape}. Fix the declared shape (0 marks a dimension to infer) or the inputs")
        if merged != shape:
            self.param.shape = merged

    def array(self, op_name):
        """The stand-in array of zeros, once the shape is known; else the error naming the
        parameter and its shape."""
        if self._array is None:
            shape = self.param.shape
            if not shape_is_known(shape):
                raise ShapeInferenceError(
                    f"Deferred initialization failed because shape cannot be inferred: operator "
                    f"{op_name!r} received Parameter {self.param.name!r} of shape {shape}"
                    + (f" (declared {self.declared})" if shape != self.declared else "") + " and cannot "
                    "infer its unknown (0) dimensions from its other inputs. Give the full shape when "
                    "creating the parameter, or override infer_shape(self, *inputs) to set it")
            from .. import nd
            with _no_hook():
                self._array = _front.as_front(nd.zeros(shape, ctx=self.ctx, dtype=self.param.dtype))
        return self._array

    # Python operators: the same operators an NDArray's would call, so the hook sees them.
    def __add__(self, other):
        return _op("add")(self, other)

    def __radd__(self, other):
        return _op("add")(other, self)

    def __sub__(self, other):
        return _op("subtract")(self, other)

    def __rsub__(self, other):
        return _op("subtract")(other, self)

    def __mul__(self, other):
        return _op("multiply")(self, other)

    def __rmul__(self, other):
        return _op("multiply")(other, self)

    def __truediv__(self, other):
        return _op("divide")(self, other)

    def __rtruediv__(self, other):
        return _op("divide")(other, self)

    def __pow__(self, other):
        return _op("power")(self, other)

    def __rpow__(self, other):
        return _op("power")(other, self)

    def __matmul__(self, other):
        return _op("dot")(self, other)

    def __rmatmul__(self, other):
        return _op("dot")(other, self)

    def __neg__(self):
        return _op("negative")(self)

    def __getattr__(self, name):
        # NDArray methods that are operators (w.reshape(...), w.T is not one) go through the hook.
        from ..ops._registry import method_ops
        op = method_ops().get(name)
        if op is not None:
            return lambda *args, **kwargs: op.dispatch(self, *args, **kwargs)
        raise ShapeInferenceError(
            f"Deferred initialization failed because shape cannot be inferred: hybrid_forward used "
            f"{name!r} of Parameter {self.param.name!r} (shape {self.param.shape}) before its shape "
            "was known; only operators can infer it. Give the full shape when creating the "
            "parameter, or override infer_shape(self, *inputs) to set it")

    def __repr__(self):
        return f"Placeholder({self.param.name!r}, shape={self.param.shape})"


def _shape_text(shape):
    return "(" + ", ".join("?" if d == 0 else str(d) for d in shape) + (",)" if len(shape) == 1 else ")")


def _op(name):
    from ..ops import REGISTRY
    return REGISTRY[name].dispatch


@contextlib.contextmanager
def _no_hook():
    hook = _trace_state.hook
    _trace_state.hook = None
    try:
        yield
    finally:
        _trace_state.hook = hook


# ---------------------------------------------------------------------------------------------------
# The rules: rule(op_name, bound) with ``bound`` the operator's arguments by name (defaults applied).


def _known(value):
    """The shape of an input whose shape is fully known (an array, or a placeholder filled in)."""
    shape = getattr(value, "shape", None)
    if isinstance(value, Placeholder) and not shape_is_known(shape):
        return None
    return tuple(shape) if shape is not None else None


def _features(shape, flatten):
    return int(np.prod(shape[1:])) if flatten else shape[-1]


def _dense_rule(op_name, bound):
    x, weight, bias = bound["x"], bound["weight"], bound.get("bias")
    xs = _known(x)
    if isinstance(weight, Placeholder) and xs is not None and weight.ndim == 2:
        weight.fill(op_name, (None, _features(xs, bound["flatten"])))
    if isinstance(bias, Placeholder) and bias.ndim == 1:
        units = weight.shape[0] if weight is not None else 0
        if units:
            bias.fill(op_name, (units,))


def _fully_connected_rule(op_name, bound):
    data, weight, bias = bound["data"], bound["weight"], bound.get("bias")
    units = bound.get("num_hidden")
    xs = _known(data)
    if isinstance(weight, Placeholder) and weight.ndim == 2:
        weight.fill(op_name, (units, _features(xs, bound["flatten"]) if xs is not None else None))
    if isinstance(bias, Placeholder) and not bound.get("no_bias") and bias.ndim == 1:
        units = units or (weight.shape[0] if weight is not None else 0)
        if units:
            bias.fill(op_name, (units,))


def _elementwise_rule(op_name, bound):
    a, b = list(bound.values())[:2]
    for holder, other in ((a, b), (b, a)):
        if isinstance(holder, Placeholder):
            shape = _known(other)
            if shape is not None and len(shape) == holder.ndim:
                holder.fill(op_name, shape)


def _dot_rule(op_name, bound):
    a, b = bound["a"], bound["b"]
    ta, tb = bound["transpose_a"], bound["transpose_b"]
    sa, sb = _known(a), _known(b)
    if isinstance(b, Placeholder) and sa is not None and b.ndim >= 1:
        # The contracted dimension: a's logical last axis (its stored first one when transposed).
        k = sa[0] if (ta and len(sa) > 1) else sa[-1]
        wanted = [None] * b.ndim
        wanted[-1 if (tb and b.ndim > 1) else 0] = k
        b.fill(op_name, tuple(wanted))
    if isinstance(a, Placeholder) and sb is not None and a.ndim >= 1:
        k = sb[-1] if (tb and len(sb) > 1) else sb[0]
        wanted = [None] * a.ndim
        wanted[0 if (ta and a.ndim > 1) else -1] = k
        a.fill(op_name, tuple(wanted))


def _batch_dot_rule(op_name, bound):
    a, b = bound["a"], bound["b"]
    ta, tb = bound["transpose_a"], bound["transpose_b"]
    sa, sb = _known(a), _known(b)
    if isinstance(b, Placeholder) and sa is not None and len(sa) == 3 and b.ndim == 3:
        k = sa[1] if ta else sa[2]
        b.fill(op_name, (sa[0], None, k) if tb else (sa[0], k, None))
    if isinstance(a, Placeholder) and sb is not None and len(sb) == 3 and a.ndim == 3:
        k = sb[2] if tb else sb[1]
        a.fill(op_name, (sb[0], k, None) if ta else (sb[0], None, k))


#: ``{operator name: rule}``; an operator without one infers nothing.
RULES = {
    "dense": _dense_rule,
    "FullyConnected": _fully_connected_rule,
    "dot": _dot_rule,
    "batch_dot": _batch_dot_rule,
    **{name: _elementwise_rule for name in ("add", "subtract", "multiply", "divide", "power",
                                             "maximum", "minimum")},
}

_signatures = {}


def _bind(op_name, args, kwargs):
    sig = _signatures.get(op_name)
    if sig is None:
        from ..ops import REGISTRY
        sig = _signatures[op_name] = inspect.signature(REGISTRY[op_name].impl)
    try:
        bound = sig.bind(*args, **kwargs)
    except TypeError:
        return None  # the operator itself will say what is wrong with the call
    bound.apply_defaults()
    return bound.arguments


def _replace(value, op_name):
    if isinstance(value, Placeholder):
        return value.array(op_name)
    if isinstance(value, (list, tuple)) and any(isinstance(v, Placeholder) for v in value):
        return type(value)(_replace(v, op_name) for v in value)
    return value


def _has_placeholder(values):
    return any(isinstance(v, Placeholder) or (isinstance(v, (list, tuple))
                                              and any(isinstance(u, Placeholder) for u in v))
               for v in values)


def _hook(dispatch, args, kwargs):
    """The dispatcher hook during shape inference: apply the operator's rule, then run it."""
    if _has_placeholder(args) or _has_placeholder(kwargs.values()):
        name = dispatch.op_name
        rule = RULES.get(name)
        if rule is not None:
            bound = _bind(name, args, kwargs)
            if bound is not None:
                rule(name, bound)
        args = tuple(_replace(a, name) for a in args)
        kwargs = {k: _replace(v, name) for k, v in kwargs.items()}
    with _no_hook():
        return dispatch(*args, **kwargs)


def infer_block_shapes(block, args, kwargs):
    """Run ``block.hybrid_forward`` once on ``args`` with its partly-unknown parameters as
    placeholders, filling in their shapes (see the module docstring). The result is discarded."""
    from .. import nd
    from .._ndarray import NDArray
    first = args[0] if args else None
    ctx = first.context if isinstance(first, NDArray) else None
    params = {}
    for attr, p in block._reg_params.items():
        if p._data is None and not shape_is_known(p.shape):
            params[attr] = Placeholder(p, ctx if ctx is not None else _default_ctx(p))
        else:
            params[attr] = p.data(ctx)
    hook = _trace_state.hook
    # Hybridized children run imperatively here (a trace would replace the hook), as in summary().
    _trace_state.imperative += 1
    _trace_state.hook = _hook
    try:
        block.hybrid_forward(nd, *args, **kwargs, **params)
    finally:
        _trace_state.hook = hook
        _trace_state.imperative -= 1


def _default_ctx(param):
    from ..context import current_context
    pending = param._pending
    return pending.ctx[0] if pending is not None and pending.ctx else current_context()
