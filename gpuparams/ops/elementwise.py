"""Elementwise arithmetic, comparisons and unary math, each with its backward.

The ``broadcast_*`` family (MXNet 1.x's names) is the same arithmetic restricted as MXNet restricts it:
both operands are NDArrays of one dtype, broadcast NumPy-style.
"""
from __future__ import annotations

import builtins
import math
import operator

from .._ndarray import NDArray, front_of, from_backend
from ._core import (broadcast_error, constant, number_like, operand, result, same_context, unbroadcast,
                    unbroadcast_nd, xp_of)
from ._registry import register

__all__ = ["add", "subtract", "multiply", "divide", "power", "negative", "maximum", "minimum",
           "equal", "not_equal", "greater", "greater_equal", "lesser", "lesser_equal",
           "exp", "log", "sqrt", "square", "abs", "clip", "sign",
           "broadcast_add", "broadcast_plus", "broadcast_sub", "broadcast_minus", "broadcast_mul",
           "broadcast_div", "broadcast_power", "broadcast_maximum", "broadcast_minimum", "broadcast_equal",
           "broadcast_not_equal", "broadcast_greater", "broadcast_greater_equal", "broadcast_lesser",
           "broadcast_lesser_equal", "broadcast_logical_and", "broadcast_logical_or",
           "broadcast_logical_xor"]


def _binary_prepare(name, a, b):
    """Return (ctx, a_data, b_data, a_nd, b_nd) where a_nd/b_nd are the NDArray operands or None.

    A Python float next to an integer array is cast to the array's dtype first, as MXNet's scalar
    operators do (int32 ``[5, 7] + 2.5`` is ``[7, 9]``): the result keeps the array's dtype instead of
    becoming float64. (The np front end promotes such an array to float32 before it gets here.)
    """
    if isinstance(a, NDArray):
        if isinstance(b, NDArray):
            return same_context(name, a, b), a._data, b._data, a, b
        value = scalar_for(name, operand(b, a._ctx), a._data.dtype)
        return a._ctx, a._data, number_like(value, a._data), a, None
    value = scalar_for(name, operand(a, b._ctx), b._data.dtype)
    return b._ctx, number_like(value, b._data), b._data, None, b


def scalar_for(name, value, dtype):
    """The operand ``value`` as an operator on ``dtype`` data uses it: a Python float next to integer
    data truncated toward zero (C's cast, MXNet's), anything else unchanged."""
    if type(value) is not float or dtype.kind not in "iu":
        return value
    if not math.isfinite(value):
        raise OverflowError(f"{name}: cannot use {value} with an array of integer dtype {dtype.name} (MXNet "
                            "casts the number to the array's dtype); cast the array first, e.g. "
                            "x.astype('float32')")
    return int(value)


def _shape_of(x):
    return getattr(x, "shape", ())


def _value(xn, xd):
    """An operand inside a ``graph_backward``: the NDArray itself (so the gradient is recorded back
    to it), or the Python number it was."""
    return xn if xn is not None else xd


# The graph_backward closures below (see ops._core.result) repeat each operator's backward with
# recorded operators, for autograd.grad(create_graph=True).


def _compute(name, fn, ad, bd):
    try:
        return fn(ad, bd)
    except ValueError:
        raise broadcast_error(name, tuple(_shape_of(ad)), tuple(_shape_of(bd))) from None


@register(scalar=operator.add, out=True, higher_order=True)
def add(a, b):
    """``a + b`` with broadcasting."""
    ctx, ad, bd, an, bn = _binary_prepare("add", a, b)
    out = _compute("add", _add, ad, bd)
    a_shape, b_shape = _shape_of(ad), _shape_of(bd)

    def backward(g, needs):
        return (unbroadcast(g, a_shape) if needs[0] else None,
                unbroadcast(g, b_shape) if needs[1] else None)

    def graph_backward(g, out, needs):
        return (unbroadcast_nd(g, a_shape) if needs[0] else None,
                unbroadcast_nd(g, b_shape) if needs[1] else None)
    return result(out, ctx, "add", (an, bn), backward, saved=(), graph_backward=graph_backward)


@register(scalar=operator.sub, out=True, higher_order=True)
def subtract(a, b):
    """``a - b`` with broadcasting."""
    ctx, ad, bd, an, bn = _binary_prepare("subtract", a, b)
    out = _compute("subtract", _sub, ad, bd)
    a_shape, b_shape = _shape_of(ad), _shape_of(bd)

    def backward(g, needs):
        return (unbroadcast(g, a_shape) if needs[0] else None,
                unbroadcast(-g, b_shape) if needs[1] else None)

    def graph_backward(g, out, needs):
        return (unbroadcast_nd(g, a_shape) if needs[0] else None,
                unbroadcast_nd(negative(g), b_shape) if needs[1] else None)
    return result(out, ctx, "subtract", (an, bn), backward, saved=(), graph_backward=graph_backward)


@register(scalar=operator.mul, out=True, higher_order=True)
def multiply(a, b):
    """``a * b`` with broadcasting."""
    ctx, ad, bd, an, bn = _binary_prepare("multiply", a, b)
    out = _compute("multiply", _mul, ad, bd)
    def backward(g, needs):
        return (unbroadcast(g * bd, _shape_of(ad)) if needs[0] else None,
                unbroadcast(g * ad, _shape_of(bd)) if needs[1] else None)

    def graph_backward(g, out, needs):
        return (unbroadcast_nd(multiply(g, _value(bn, bd)), _shape_of(ad)) if needs[0] else None,
                unbroadcast_nd(multiply(g, _value(an, ad)), _shape_of(bd)) if needs[1] else None)
    return result(out, ctx, "multiply", (an, bn), backward, saved=(an, bn), graph_backward=graph_backward)


@register(scalar=operator.truediv, out=True, higher_order=True)
def divide(a, b):
    """``a / b`` with broadcasting.

    Integer operands keep their dtype, as in MXNet: ``uint8 5 / 3`` is ``1`` (C's division, which
    truncates toward zero: ``-7 / 2`` is ``-3``), and a Python-number operand is first cast to the
    array's integer dtype (``int32 7 / 2.5`` is ``7 / 2``). Where we differ: an integer division by
    zero gives 0 (NumPy's value) where MXNet 1.9.1 kills the process with a floating-point exception.
    """
    ctx, ad, bd, an, bn = _binary_prepare("divide", a, b)
    if (an if an is not None else bn)._data.dtype.kind in "iu" and _integer_operands(an, bn):
        return _integer_divide_result(ctx, an, bn, ad, bd)
    out = _compute("divide", _div, ad, bd)
    a_shape = _shape_of(ad)  # the backward reads b and the result, only the shape of a
    def backward(g, needs):
        ga = unbroadcast(g / bd, a_shape) if needs[0] else None
        gb = unbroadcast(-g * out / bd, _shape_of(bd)) if needs[1] else None
        return ga, gb

    def graph_backward(g, out, needs):
        b_value = _value(bn, bd)
        ga = unbroadcast_nd(divide(g, b_value), a_shape) if needs[0] else None
        gb = unbroadcast_nd(negative(divide(multiply(g, out), b_value)), _shape_of(bd)) if needs[1] else None
        return ga, gb
    return result(out, ctx, "divide", (an, bn), backward, saved=(bn,), save_output=True,
                  graph_backward=graph_backward)


def _integer_operands(an, bn):
    """Whether MXNet's integer division applies: every NDArray operand has an integer dtype."""
    arrays = [x for x in (an, bn) if x is not None]
    return all(x._data.dtype.kind in "iu" for x in arrays)


def integer_divide(ad, bd):
    """``ad / bd`` truncated toward zero in ``ad``'s (or ``bd``'s) integer dtype, as C and MXNet do.

    A Python number is cast to the array's dtype first (MXNet's scalar operators do); a zero divisor
    gives 0. Used by :func:`divide` and ``x /= y`` on integer arrays.
    """
    ref = ad if hasattr(ad, "dtype") else bd
    xp = xp_of(ref)
    dtype = ref.dtype if not (hasattr(ad, "dtype") and hasattr(bd, "dtype")) else xp.result_type(ad, bd)
    ad, bd = (xp.asarray(v).astype(dtype, copy=False) for v in (ad, bd))
    zero = bd == 0
    safe = xp.where(zero, xp.ones((), dtype=dtype), bd)
    q = ad // safe  # floor division; fix it up to truncation where the signs differ and it was inexact
    q = q + (((ad % safe) != 0) & ((ad < 0) != (safe < 0))).astype(dtype)
    return xp.where(zero, xp.zeros((), dtype=dtype), q).astype(dtype, copy=False)


def _integer_divide_result(ctx, an, bn, ad, bd):
    try:
        out = integer_divide(ad, bd)
    except ValueError:
        raise broadcast_error("divide", tuple(_shape_of(ad)), tuple(_shape_of(bd))) from None
    a_shape, b_shape = _shape_of(ad), _shape_of(bd)

    def backward(g, needs):  # integer division is piecewise constant: no gradient flows
        return (xp_of(g).zeros(a_shape, dtype=g.dtype) if needs[0] else None,
                xp_of(g).zeros(b_shape, dtype=g.dtype) if needs[1] else None)

    def graph_backward(g, out, needs):
        return tuple(constant(xp_of(g._data).zeros(shape, dtype=g.dtype), g._ctx) if need else None
                     for shape, need in zip((a_shape, b_shape), needs))
    return result(out, ctx, "divide", (an, bn), backward, saved=(), graph_backward=graph_backward)


@register(scalar=operator.pow, out=True, higher_order=True)
def power(a, b):
    """``a ** b`` with broadcasting (gradient w.r.t. the exponent uses ``log(a)``)."""
    ctx, ad, bd, an, bn = _binary_prepare("power", a, b)
    out = _compute("power", _pow, ad, bd)
    def graph_backward(g, out, needs):
        a_shape, b_shape = _shape_of(ad), _shape_of(bd)
        a_value, b_value = _value(an, ad), _value(bn, bd)
        ga = gb = None
        if needs[0]:
            ga = multiply(multiply(g, b_value), power(a_value, subtract(b_value, 1)))
            ga = unbroadcast_nd(ga, a_shape)
        if needs[1]:
            log_a = log(a_value) if an is not None else math.log(a_value)
            gb = unbroadcast_nd(multiply(multiply(g, out), log_a), b_shape)
        return ga, gb

    def backward(g, needs):
        xp = xp_of(g)
        ga = unbroadcast(g * bd * ad ** (bd - 1), _shape_of(ad)) if needs[0] else None
        gb = None
        if needs[1]:
            # A Python-number base (2 ** x) becomes a 0-d array of the gradient's dtype: CuPy's log
            # refuses Python numbers, and NumPy's log of one is a float64 that would upcast g.
            base = ad if an is not None else xp.asarray(ad, dtype=g.dtype)
            gb = unbroadcast(g * out * xp.log(base), _shape_of(bd))
        return ga, gb
    return result(out, ctx, "power", (an, bn), backward, saved=(an, bn), save_output=True,
                  graph_backward=graph_backward)


@register(out=True, higher_order=True)
def negative(a):
    """``-a``."""
    def backward(g, needs):
        return (-g,)

    def graph_backward(g, out, needs):
        return (negative(g),)
    return result(-a._data, a._ctx, "negative", (a,), backward, saved=(), graph_backward=graph_backward)


def _extremum(name, pick_first, a, b):
    ctx, ad, bd, an, bn = _binary_prepare(name, a, b)
    xp = xp_of(ad if an is not None else bd)
    out = _compute(name, xp.maximum if pick_first == "max" else xp.minimum, ad, bd)

    def backward(g, needs):
        # Ties send the gradient to the first operand, like MXNet's maximum/minimum.
        first = (ad >= bd) if pick_first == "max" else (ad <= bd)
        first = first.astype(g.dtype)
        return (unbroadcast(g * first, _shape_of(ad)) if needs[0] else None,
                unbroadcast(g * (1 - first), _shape_of(bd)) if needs[1] else None)
    return result(out, ctx, name, (an, bn), backward, saved=(an, bn))


@register(scalar=builtins.max, out=True)
def maximum(a, b):
    """Elementwise maximum of two arrays or an array and a scalar."""
    return _extremum("maximum", "max", a, b)


@register(scalar=builtins.min, out=True)
def minimum(a, b):
    """Elementwise minimum of two arrays or an array and a scalar."""
    return _extremum("minimum", "min", a, b)


def _comparison(name, fn):
    def compare(a, b):
        ctx, ad, bd, an, bn = _binary_prepare(name, a, b)
        out = _compute(name, fn, ad, bd)
        cls = front_of((an, bn))
        if not cls._numpy_semantics:  # nd: 0./1. in the operands' dtype; np: NumPy's bool
            out = out.astype((an if an is not None else bn)._data.dtype)
        return from_backend(out, ctx, cls)
    compare.__name__ = name
    compare.__doc__ = (f"Elementwise ``{name}`` returning 0./1. in the operands' dtype (bool for "
                       "``gpuparams.np`` arrays; not differentiable).")
    return compare


def _as_input_dtype(out, data):
    """``out`` in the integer dtype of ``data`` when ``data`` is integer (MXNet 1.9.1: ``nd.exp`` of
    int32 is int32, truncated); NumPy would promote to float64."""
    return out.astype(data.dtype) if data.dtype.kind in "iu" else out


def _as_int(compare):
    """MXNet's comparison of two Python numbers: 1 or 0."""
    return lambda a, b: int(compare(a, b))


def _add(x, y):
    return x + y


def _sub(x, y):
    return x - y


def _mul(x, y):
    return x * y


def _div(x, y):
    return x / y


def _pow(x, y):
    return x ** y


equal = register("equal", differentiable=False, out=True, scalar=_as_int(operator.eq))(
    _comparison("equal", lambda x, y: x == y))
not_equal = register("not_equal", differentiable=False, out=True, scalar=_as_int(operator.ne))(
    _comparison("not_equal", lambda x, y: x != y))
greater = register("greater", differentiable=False, out=True, scalar=_as_int(operator.gt))(
    _comparison("greater", lambda x, y: x > y))
greater_equal = register("greater_equal", differentiable=False, out=True, scalar=_as_int(operator.ge))(
    _comparison("greater_equal", lambda x, y: x >= y))
lesser = register("lesser", differentiable=False, out=True, scalar=_as_int(operator.lt))(
    _comparison("lesser", lambda x, y: x < y))
lesser_equal = register("lesser_equal", differentiable=False, out=True, scalar=_as_int(operator.le))(
    _comparison("lesser_equal", lambda x, y: x <= y))


# ----------------------------------------------------------------------------- unary math
@register(method=True, out=True, higher_order=True)
def exp(x):
    """Elementwise ``e**x``."""
    out = _as_input_dtype(xp_of(x._data).exp(x._data), x._data)

    def backward(g, needs):
        return (g * out,)

    def graph_backward(g, out, needs):
        return (multiply(g, out),)
    return result(out, x._ctx, "exp", (x,), backward, save_output=True, saved=(),
                  graph_backward=graph_backward)


@register(method=True, out=True, higher_order=True)
def log(x):
    """Elementwise natural logarithm."""
    data = x._data

    def backward(g, needs):
        return (g / data,)

    def graph_backward(g, out, needs):
        return (divide(g, x),)
    return result(_as_input_dtype(xp_of(data).log(data), data), x._ctx, "log", (x,), backward, saved=(x,),
                  graph_backward=graph_backward)


@register(method=True, out=True, higher_order=True)
def sqrt(x):
    """Elementwise square root."""
    out = _as_input_dtype(xp_of(x._data).sqrt(x._data), x._data)

    def backward(g, needs):
        return (g / (2 * out),)

    def graph_backward(g, out, needs):
        return (divide(g, multiply(out, 2)),)
    return result(out, x._ctx, "sqrt", (x,), backward, save_output=True, saved=(),
                  graph_backward=graph_backward)


@register(method=True, out=True, higher_order=True)
def square(x):
    """Elementwise ``x*x``."""
    data = x._data

    def backward(g, needs):
        return (2 * g * data,)

    def graph_backward(g, out, needs):
        return (multiply(multiply(g, x), 2),)
    return result(data * data, x._ctx, "square", (x,), backward, saved=(x,), graph_backward=graph_backward)


@register(method=True, out=True)
def abs(x):
    """Elementwise absolute value (gradient 0 at 0)."""
    data = x._data
    xp = xp_of(data)

    def backward(g, needs):
        return (g * xp.sign(data),)
    return result(xp.abs(data), x._ctx, "abs", (x,), backward, saved=(x,))


@register(method=True, out=True, higher_order=True)
def sign(x):
    """Elementwise sign (not differentiable: gradient 0)."""
    data = x._data
    xp = xp_of(data)

    def backward(g, needs):
        return (xp.zeros_like(g),)

    def graph_backward(g, out, needs):
        return (constant(xp_of(g._data).zeros_like(g._data), g._ctx),)
    return result(xp.sign(data), x._ctx, "sign", (x,), backward, saved=(), graph_backward=graph_backward)


@register(method=True, out=True)
def clip(x, a_min, a_max):
    """Limit values to ``[a_min, a_max]``; the gradient passes where the value was inside."""
    if a_min is not None and a_max is not None and a_min > a_max:
        raise ValueError(f"clip: a_min={a_min} is larger than a_max={a_max}")
    data = x._data
    xp = xp_of(data)
    out = xp.clip(data, number_like(a_min, data), number_like(a_max, data))

    def backward(g, needs):
        inside = xp.ones(data.shape, dtype=bool)
        if a_min is not None:
            inside &= data >= a_min
        if a_max is not None:
            inside &= data <= a_max
        return (g * inside.astype(g.dtype),)
    return result(out, x._ctx, "clip", (x,), backward, saved=(x,))


# ----------------------------------------------------------------------------- MXNet's broadcast_* family
def _broadcast_op(name, fn, what, plain=None):
    """MXNet's ``broadcast_<op>(lhs, rhs)``: ``fn`` on two NDArrays of one dtype, broadcasting.
    ``plain`` names the operator that also takes numbers (None when there is none)."""
    if plain is not None:
        scalar_hint = f"for a number use {plain}"
        same_as = f"The same result as ``{plain.split(' ')[0]}``, with its gradient where that has one."
    else:
        scalar_hint = "wrap a number as an NDArray first, e.g. nd.full(lhs.shape, value, ctx=lhs.context)"
        same_as = "Not differentiable (a constant for autograd)."

    def op(lhs, rhs):
        for side, value in (("lhs", lhs), ("rhs", rhs)):
            if not isinstance(value, NDArray):
                raise TypeError(f"{name}: {side} must be an NDArray, got {type(value).__name__}; "
                                f"{scalar_hint}")
        if lhs._data.dtype != rhs._data.dtype:
            raise TypeError(f"{name}: operands have different dtypes, {lhs._data.dtype} (shape {lhs.shape}) "
                            f"and {rhs._data.dtype} (shape {rhs.shape}); cast one first, e.g. "
                            f"rhs.astype('{lhs._data.dtype}')")
        return fn(lhs, rhs)
    op.__name__ = name
    op.__qualname__ = name
    op.__doc__ = f"""{what} of two NDArrays with NumPy broadcasting (MXNet's ``{name}``).

    Parameters
    ----------
    lhs, rhs : NDArray
        Operands of one dtype on one context; their shapes must broadcast together (trailing
        dimensions equal or 1).

    Returns
    -------
    NDArray
        {same_as}

    Raises
    ------
    TypeError
        When an operand is not an NDArray, or the dtypes differ (MXNet refuses both).
    ShapeError
        When the shapes cannot be broadcast together.
    """
    return op


def _logical(name, fn):
    def logical(a, b):
        return fn(a != 0, b != 0)
    logical.__name__ = name
    return _comparison(name, logical)


logical_and = _logical("logical_and", lambda x, y: x & y)
logical_or = _logical("logical_or", lambda x, y: x | y)
logical_xor = _logical("logical_xor", lambda x, y: x ^ y)

broadcast_add = register("broadcast_add", out=True)(_broadcast_op(
    "broadcast_add", add, "Sum", "nd.add(lhs, rhs) or lhs + rhs"))
broadcast_plus = register("broadcast_plus", out=True)(_broadcast_op(
    "broadcast_plus", add, "Sum", "nd.add(lhs, rhs) or lhs + rhs"))
broadcast_sub = register("broadcast_sub", out=True)(_broadcast_op(
    "broadcast_sub", subtract, "Difference", "nd.subtract(lhs, rhs) or lhs - rhs"))
broadcast_minus = register("broadcast_minus", out=True)(_broadcast_op(
    "broadcast_minus", subtract, "Difference", "nd.subtract(lhs, rhs) or lhs - rhs"))
broadcast_mul = register("broadcast_mul", out=True)(_broadcast_op(
    "broadcast_mul", multiply, "Product", "nd.multiply(lhs, rhs) or lhs * rhs"))
broadcast_div = register("broadcast_div", out=True)(_broadcast_op(
    "broadcast_div", divide, "Quotient", "nd.divide(lhs, rhs) or lhs / rhs"))
broadcast_power = register("broadcast_power", out=True)(_broadcast_op(
    "broadcast_power", power, "``lhs ** rhs``", "nd.power(lhs, rhs) or lhs ** rhs"))
broadcast_maximum = register("broadcast_maximum", out=True)(_broadcast_op(
    "broadcast_maximum", maximum, "Elementwise maximum", "nd.maximum(lhs, rhs)"))
broadcast_minimum = register("broadcast_minimum", out=True)(_broadcast_op(
    "broadcast_minimum", minimum, "Elementwise minimum", "nd.minimum(lhs, rhs)"))
broadcast_equal = register("broadcast_equal", differentiable=False, out=True)(_broadcast_op(
    "broadcast_equal", equal, "``lhs == rhs`` as 0./1.", "nd.equal(lhs, rhs) or lhs == rhs"))
broadcast_not_equal = register("broadcast_not_equal", differentiable=False, out=True)(_broadcast_op(
    "broadcast_not_equal", not_equal, "``lhs != rhs`` as 0./1.", "nd.not_equal(lhs, rhs) or lhs != rhs"))
broadcast_greater = register("broadcast_greater", differentiable=False, out=True)(_broadcast_op(
    "broadcast_greater", greater, "``lhs > rhs`` as 0./1.", "nd.greater(lhs, rhs) or lhs > rhs"))
broadcast_greater_equal = register("broadcast_greater_equal", differentiable=False, out=True)(_broadcast_op(
    "broadcast_greater_equal", greater_equal, "``lhs >= rhs`` as 0./1.",
    "nd.greater_equal(lhs, rhs) or lhs >= rhs"))
broadcast_lesser = register("broadcast_lesser", differentiable=False, out=True)(_broadcast_op(
    "broadcast_lesser", lesser, "``lhs < rhs`` as 0./1.", "nd.lesser(lhs, rhs) or lhs < rhs"))
broadcast_lesser_equal = register("broadcast_lesser_equal", differentiable=False, out=True)(_broadcast_op(
    "broadcast_lesser_equal", lesser_equal, "``lhs <= rhs`` as 0./1.",
    "nd.lesser_equal(lhs, rhs) or lhs <= rhs"))
broadcast_logical_and = register("broadcast_logical_and", differentiable=False, out=True)(_broadcast_op(
    "broadcast_logical_and", logical_and, "Logical and (nonzero is true) as 0./1."))
broadcast_logical_or = register("broadcast_logical_or", differentiable=False, out=True)(_broadcast_op(
    "broadcast_logical_or", logical_or, "Logical or (nonzero is true) as 0./1."))
broadcast_logical_xor = register("broadcast_logical_xor", differentiable=False, out=True)(_broadcast_op(
    "broadcast_logical_xor", logical_xor, "Logical xor (nonzero is true) as 0./1."))
