"""More binary elementwise operators: MXNet's same-shape ``elemwise_*`` family, ``broadcast_mod``,
``modulo`` (Python's ``%``) and ``broadcast_hypot`` (also ``hypot``)."""
from __future__ import annotations

import operator

import numpy as np

from .._ndarray import NDArray
from . import elementwise
from ._core import result, unbroadcast, xp_of
from ._registry import register
from .elementwise import _binary_prepare, _compute, _shape_of

__all__ = ["elemwise_add", "elemwise_sub", "elemwise_mul", "elemwise_div", "broadcast_mod", "modulo",
           "broadcast_hypot"]


def _same_shape(name, lhs, rhs):
    for side, value in (("lhs", lhs), ("rhs", rhs)):
        if not isinstance(value, NDArray):
            raise TypeError(f"{name}: {side} must be an NDArray, got {type(value).__name__}; for a number "
                            "use the plain operator (x + 1)")
    if lhs.shape != rhs.shape:
        raise ValueError(f"{name}: shapes {lhs.shape} and {rhs.shape} differ; {name} needs equal shapes "
                         f"(MXNet does not broadcast here): use broadcast_{name.split('_')[1]} to broadcast")
    if lhs.dtype != rhs.dtype:
        raise TypeError(f"{name}: dtypes {lhs.dtype} and {rhs.dtype} differ; cast one first, e.g. "
                        f"rhs.astype('{lhs.dtype}')")


def _elemwise(name, fn, what):
    def op(lhs, rhs):
        _same_shape(name, lhs, rhs)
        return fn(lhs, rhs)
    op.__name__ = op.__qualname__ = name
    op.__doc__ = f"""{what} of two arrays of the same shape and dtype (MXNet's ``{name}``; no broadcasting).

    Parameters
    ----------
    lhs, rhs : NDArray

    Returns
    -------
    NDArray
        Differentiable in both operands.

    Raises
    ------
    ValueError
        When the shapes differ; TypeError when the dtypes differ or an operand is not an NDArray.
    """
    return register(name, out=True)(op)


elemwise_add = _elemwise("elemwise_add", elementwise.add, "Sum")
elemwise_sub = _elemwise("elemwise_sub", elementwise.subtract, "Difference")
elemwise_mul = _elemwise("elemwise_mul", elementwise.multiply, "Product")
elemwise_div = _elemwise("elemwise_div", elementwise.divide, "Quotient")


def _arrays_only(name, lhs, rhs):
    for side, value in (("lhs", lhs), ("rhs", rhs)):
        if not isinstance(value, NDArray):
            raise TypeError(f"{name}: {side} must be an NDArray, got {type(value).__name__}; wrap a number "
                            "first, e.g. nd.full(lhs.shape, value, ctx=lhs.context)")


def mod_data(ad, bd):
    """``ad mod bd`` of backend data (or a number on one side): the sign of ``bd``, as Python's ``%``,
    and 0 where ``bd`` is 0, as MXNet 1.9.1 (NumPy warns and gives NaN or 0 there)."""
    xp = xp_of(ad if hasattr(ad, "dtype") else bd)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = xp.mod(ad, bd)
        return xp.where(bd == 0, 0, out).astype(out.dtype, copy=False)


def _mod(name, lhs, rhs):
    ctx, ad, bd, an, bn = _binary_prepare(name, lhs, rhs)
    out = _compute(name, mod_data, ad, bd)
    if an is None or bn is None:  # a Python number never changes the array's dtype
        out = out.astype((an if an is not None else bn)._data.dtype, copy=False)
    a_shape, b_shape = _shape_of(ad), _shape_of(bd)

    def backward(g, needs):
        ga = unbroadcast(g, a_shape) if needs[0] else None
        gb = None
        if needs[1]:
            gx = xp_of(g)
            with np.errstate(divide="ignore", invalid="ignore"):
                q = gx.where(bd == 0, 0, gx.floor(ad / bd))
            gb = unbroadcast(-g * q.astype(g.dtype, copy=False), b_shape)
        return ga, gb
    return result(out, ctx, name, (an, bn), backward, saved=(an, bn))


@register(out=True)
def broadcast_mod(lhs, rhs):
    """``lhs mod rhs`` with broadcasting; the result has the sign of ``rhs`` (Python's ``%``), 0 where
    ``rhs`` is 0, as MXNet 1.9.1.

    Parameters
    ----------
    lhs, rhs : NDArray
        Shapes that broadcast together.

    Returns
    -------
    NDArray
        Gradients: 1 for ``lhs``, ``-floor(lhs / rhs)`` for ``rhs``.
    """
    _arrays_only("broadcast_mod", lhs, rhs)
    return _mod("broadcast_mod", lhs, rhs)


@register(scalar=operator.mod, out=True)
def modulo(lhs, rhs):
    """``lhs % rhs``: :func:`broadcast_mod` that also takes a Python number on either side (MXNet's
    ``nd.modulo``, what ``x % y``, ``2 % x`` and ``x %= y`` run).

    A number next to an integer array is first cast to the array's dtype, as MXNet does
    (int32 ``[5, 7] % 2.5`` is ``[5, 7] % 2``).

    Parameters
    ----------
    lhs, rhs : NDArray or number
        Shapes that broadcast together.

    Returns
    -------
    NDArray
        The sign of ``rhs`` (Python's ``%``), 0 where ``rhs`` is 0; gradients 1 for ``lhs`` and
        ``-floor(lhs / rhs)`` for ``rhs``.
    """
    return _mod("modulo", lhs, rhs)


@register(aliases=("hypot",), out=True)
def broadcast_hypot(lhs, rhs):
    """``sqrt(lhs**2 + rhs**2)`` with broadcasting, without intermediate overflow (MXNet's
    ``broadcast_hypot``; ``nd.hypot`` is the same operator and also takes a number for either side,
    which MXNet 1.9.1's ``nd`` has no name for).

    Parameters
    ----------
    lhs, rhs : NDArray or number

    Returns
    -------
    NDArray
        Gradients ``lhs / hypot`` and ``rhs / hypot`` (0 where both are 0).
    """
    ctx, ad, bd, an, bn = _binary_prepare("broadcast_hypot", lhs, rhs)
    xp = xp_of(ad if an is not None else bd)
    out = _compute("broadcast_hypot", xp.hypot, ad, bd)
    if an is None or bn is None:
        out = out.astype((an if an is not None else bn)._data.dtype, copy=False)

    def backward(g, needs):
        gx = xp_of(g)
        safe = gx.where(out > 0, out, 1)
        ga = unbroadcast(g * gx.where(out > 0, ad / safe, 0), _shape_of(ad)) if needs[0] else None
        gb = unbroadcast(g * gx.where(out > 0, bd / safe, 0), _shape_of(bd)) if needs[1] else None
        return ga, gb
    return result(out, ctx, "broadcast_hypot", (an, bn), backward, saved=(an, bn), save_output=True)
