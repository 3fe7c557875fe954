"""Elementwise arithmetic, comparisons and unary math, each with its backward.

The ``broadcast_*`` family (MXNet 1.x's names) is the same arithmetic restricted as MXNet restricts it:
both operands are NDArrays of one dtype, broadcast NumPy-style.
"""
from __future__ import annotations

import builtins
import operator

from ..ndarray import NDArray, from_backend, front_of
from ._core import broadcast_error, operand, result, same_context, unbroadcast, xp_of
from ._registry import register

__all__ = ["add", "subtract", "multiply", "divide", "power", "negative", "maximum", "minimum",
           "equal", "not_equal", "greater", "greater_equal", "lesser", "lesser_equal",
           "exp", "sin", "cos", "log", "sqrt", "square", "abs", "clip", "sign",
           "broadcast_add", "broadcast_plus", "broadcast_sub", "broadcast_minus", "broadcast_mul",
           "broadcast_div", "broadcast_power", "broadcast_maximum", "broadcast_minimum", "broadcast_equal",
           "broadcast_not_equal", "broadcast_greater", "broadcast_greater_equal", "broadcast_lesser",
           "broadcast_lesser_equal", "broadcast_logical_and", "broadcast_logical_or",
           "broadcast_logical_xor"]


def _binary_prepare(name, a, b):
    """Return (ctx, a_data, b_data, a_nd, b_nd) where a_nd/b_nd are the NDArray operands or None."""
    if isinstance(a, NDArray):
        if isinstance(b, NDArray):
            return same_context(name, a, b), a._data, b._data, a, b
        return a._ctx, a._data, operand(b, a._ctx), a, None
    return b._ctx, operand(a, b._ctx), b._data, None, b


def _shape_of(x):
    return getattr(x, "shape", ())


def _compute(name, fn, ad, bd):
    try:
        return fn(ad, bd)
    except ValueError:
        raise broadcast_error(name, tuple(_shape_of(ad)), tuple(_shape_of(bd))) from None


@register(scalar=operator.add)
def add(a, b):
    """``a + b`` with broadcasting."""
    ctx, ad, bd, an, bn = _binary_prepare("add", a, b)
    out = _compute("add", _add, ad, bd)
    a_shape, b_shape = _shape_of(ad), _shape_of(bd)

    def backward(g, needs):
        return (unbroadcast(g, a_shape) if needs[0] else None,
                unbroadcast(g, b_shape) if needs[1] else None)
    return result(out, ctx, "add", (an, bn), backward, saved=())


@register(scalar=operator.sub)
def subtract(a, b):
    """``a - b`` with broadcasting."""
    ctx, ad, bd, an, bn = _binary_prepare("subtract", a, b)
    out = _compute("subtract", _sub, ad, bd)
    a_shape, b_shape = _shape_of(ad), _shape_of(bd)

    def backward(g, needs):
        return (unbroadcast(g, a_shape) if needs[0] else None,
                unbroadcast(-g, b_shape) if needs[1] else None)
    return result(out, ctx, "subtract", (an, bn), backward, saved=())


@register(scalar=operator.mul)
def multiply(a, b):
    """``a * b`` with broadcasting."""
    ctx, ad, bd, an, bn = _binary_prepare("multiply", a, b)
    out = _compute("multiply", _mul, ad, bd)

    def backward(g, needs):
        return (unbroadcast(g * bd, _shape_of(ad)) if needs[0] else None,
                unbroadcast(g * ad, _shape_of(bd)) if needs[1] else None)
    return result(out, ctx, "multiply", (an, bn), backward, saved=(an, bn))


@register(scalar=operator.truediv)
def divide(a, b):
    """``a / b`` with broadcasting."""
    ctx, ad, bd, an, bn = _binary_prepare("divide", a, b)
    out = _compute("divide", _div, ad, bd)
    a_shape = _shape_of(ad)  # the backward reads b and the result, only the shape of a

    def backward(g, needs):
        ga = unbroadcast(g / bd, a_shape) if needs[0] else None
        gb = unbroadcast(-g * out / bd, _shape_of(bd)) if needs[1] else None
        return ga, gb
    return result(out, ctx, "divide", (an, bn), backward, saved=(bn,), save_output=True)


@register(scalar=operator.pow)
def power(a, b):
    """``a ** b`` with broadcasting (gradient w.r.t. the exponent uses ``log(a)``)."""
    ctx, ad, bd, an, bn = _binary_prepare("power", a, b)
    out = _compute("power", _pow, ad, bd)

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
    return result(out, ctx, "power", (an, bn), backward, saved=(an, bn), save_output=True)


@register()
def negative(a):
    """``-a``."""
    def backward(g, needs):
        return (-g,)
    return result(-a._data, a._ctx, "negative", (a,), backward, saved=())


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


@register(scalar=builtins.max)
def maximum(a, b):
    """Elementwise maximum of two arrays or an array and a scalar."""
    return _extremum("maximum", "max", a, b)


@register(scalar=builtins.min)
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


equal = register("equal", differentiable=False, scalar=_as_int(operator.eq))(
    _comparison("equal", lambda x, y: x == y))
not_equal = register("not_equal", differentiable=False, scalar=_as_int(operator.ne))(
    _comparison("not_equal", lambda x, y: x != y))
greater = register("greater", differentiable=False, scalar=_as_int(operator.gt))(
    _comparison("greater", lambda x, y: x > y))
greater_equal = register("greater_equal", differentiable=False, scalar=_as_int(operator.ge))(
    _comparison("greater_equal", lambda x, y: x >= y))
lesser = register("lesser", differentiable=False, scalar=_as_int(operator.lt))(
    _comparison("lesser", lambda x, y: x < y))
lesser_equal = register("lesser_equal", differentiable=False, scalar=_as_int(operator.le))(
    _comparison("lesser_equal", lambda x, y: x <= y))


# ----------------------------------------------------------------------------- unary math
@register(method=True)
def exp(x):
    """Elementwise ``e**x``."""
    out = xp_of(x._data).exp(x._data)

    def backward(g, needs):
        return (g * out,)
    return result(out, x._ctx, "exp", (x,), backward, save_output=True, saved=())


@register()
def sin(x):
    """Elementwise sine (``np.sin``)."""
    data = x._data
    xp = xp_of(data)

    def backward(g, needs):
        return (g * xp.cos(data),)
    return result(xp.sin(data), x._ctx, "sin", (x,), backward, saved=(x,))


@register()
def cos(x):
    """Elementwise cosine (``np.cos``)."""
    data = x._data
    xp = xp_of(data)

    def backward(g, needs):
        return (-g * xp.sin(data),)
    return result(xp.cos(data), x._ctx, "cos", (x,), backward, saved=(x,))


@register(method=True)
def log(x):
    """Elementwise natural logarithm."""
    data = x._data

    def backward(g, needs):
        return (g / data,)
    return result(xp_of(data).log(data), x._ctx, "log", (x,), backward, saved=(x,))


@register(method=True)
def sqrt(x):
    """Elementwise square root."""
    out = xp_of(x._data).sqrt(x._data)

    def backward(g, needs):
        return (g / (2 * out),)
    return result(out, x._ctx, "sqrt", (x,), backward, save_output=True, saved=())


@register(method=True)
def square(x):
    """Elementwise ``x*x``."""
    data = x._data

    def backward(g, needs):
        return (2 * g * data,)
    return result(data * data, x._ctx, "square", (x,), backward, saved=(x,))


@register(method=True)
def abs(x):
    """Elementwise absolute value (gradient 0 at 0)."""
    data = x._data
    xp = xp_of(data)

    def backward(g, needs):
        return (g * xp.sign(data),)
    return result(xp.abs(data), x._ctx, "abs", (x,), backward, saved=(x,))


@register(method=True)
def sign(x):
    """Elementwise sign (not differentiable: gradient 0)."""
    data = x._data
    xp = xp_of(data)

    def backward(g, needs):
        return (xp.zeros_like(g),)
    return result(xp.sign(data), x._ctx, "sign", (x,), backward, saved=())


@register(method=True)
def clip(x, a_min, a_max):
    """Limit values to ``[a_min, a_max]``; the gradient passes where the value was inside."""
    if a_min is not None and a_max is not None and a_min > a_max:
        raise ValueError(f"clip: a_min={a_min} is larger than a_max={a_max}")
    data = x._data
    xp = xp_of(data)
    out = xp.clip(data, a_min, a_max)

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

broadcast_add = register("broadcast_add")(_broadcast_op(
    "broadcast_add", add, "Sum", "nd.add(lhs, rhs) or lhs + rhs"))
broadcast_plus = register("broadcast_plus")(_broadcast_op(
    "broadcast_plus", add, "Sum", "nd.add(lhs, rhs) or lhs + rhs"))
broadcast_sub = register("broadcast_sub")(_broadcast_op(
    "broadcast_sub", subtract, "Difference", "nd.subtract(lhs, rhs) or lhs - rhs"))
broadcast_minus = register("broadcast_minus")(_broadcast_op(
    "broadcast_minus", subtract, "Difference", "nd.subtract(lhs, rhs) or lhs - rhs"))
broadcast_mul = register("broadcast_mul")(_broadcast_op(
    "broadcast_mul", multiply, "Product", "nd.multiply(lhs, rhs) or lhs * rhs"))
broadcast_div = register("broadcast_div")(_broadcast_op(
    "broadcast_div", divide, "Quotient", "nd.divide(lhs, rhs) or lhs / rhs"))
broadcast_power = register("broadcast_power")(_broadcast_op(
    "broadcast_power", power, "``lhs ** rhs``", "nd.power(lhs, rhs) or lhs ** rhs"))
broadcast_maximum = register("broadcast_maximum")(_broadcast_op(
    "broadcast_maximum", maximum, "Elementwise maximum", "nd.maximum(lhs, rhs)"))
broadcast_minimum = register("broadcast_minimum")(_broadcast_op(
    "broadcast_minimum", minimum, "Elementwise minimum", "nd.minimum(lhs, rhs)"))
broadcast_equal = register("broadcast_equal", differentiable=False)(_broadcast_op(
    "broadcast_equal", equal, "``lhs == rhs`` as 0./1.", "nd.equal(lhs, rhs) or lhs == rhs"))
broadcast_not_equal = register("broadcast_not_equal", differentiable=False)(_broadcast_op(
    "broadcast_not_equal", not_equal, "``lhs != rhs`` as 0./1.", "nd.not_equal(lhs, rhs) or lhs != rhs"))
broadcast_greater = register("broadcast_greater", differentiable=False)(_broadcast_op(
    "broadcast_greater", greater, "``lhs > rhs`` as 0./1.", "nd.greater(lhs, rhs) or lhs > rhs"))
broadcast_greater_equal = register("broadcast_greater_equal", differentiable=False)(_broadcast_op(
    "broadcast_greater_equal", greater_equal, "``lhs >= rhs`` as 0./1.",
    "nd.greater_equal(lhs, rhs) or lhs >= rhs"))
broadcast_lesser = register("broadcast_lesser", differentiable=False)(_broadcast_op(
    "broadcast_lesser", lesser, "``lhs < rhs`` as 0./1.", "nd.lesser(lhs, rhs) or lhs < rhs"))
broadcast_lesser_equal = register("broadcast_lesser_equal", differentiable=False)(_broadcast_op(
    "broadcast_lesser_equal", lesser_equal, "``lhs <= rhs`` as 0./1.",
    "nd.lesser_equal(lhs, rhs) or lhs <= rhs"))
broadcast_logical_and = register("broadcast_logical_and", differentiable=False)(_broadcast_op(
    "broadcast_logical_and", logical_and, "Logical and (nonzero is true) as 0./1."))
broadcast_logical_or = register("broadcast_logical_or", differentiable=False)(_broadcast_op(
    "broadcast_logical_or", logical_or, "Logical or (nonzero is true) as 0./1."))
broadcast_logical_xor = register("broadcast_logical_xor", differentiable=False)(_broadcast_op(
    "broadcast_logical_xor", logical_xor, "Logical xor (nonzero is true) as 0./1."))
