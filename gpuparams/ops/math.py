"""Unary elementwise math: rounding, trigonometric and hyperbolic functions, the log/power family.

Every operator here is one :func:`_unary` declaration: a forward on the backend array and the
derivative as a function of the input and/or the result, multiplied by the output gradient.

dtype rule (MXNet 1.9.1, recorded in ``tests/data/mxnet_1_9_1_ops.json``): the result has the
input's dtype, integers included — ``nd.sin`` of an int32 array is an int32 array of the truncated
sines, ``nd.sqrt`` of a negative int is whatever the cast of NaN gives. The value is computed in
floating point and cast back.
"""
from __future__ import annotations

import math as _pymath

import numpy as np

from .._ndarray import NDArray
from ._core import result, xp_of
from ._registry import register

__all__ = ["round", "rint", "floor", "ceil", "trunc", "fix", "sin", "cos", "tan", "arcsin", "arccos",
           "arctan", "sinh", "cosh", "arcsinh", "arccosh", "arctanh", "degrees", "radians", "log1p",
           "expm1", "log2", "log10", "rsqrt", "cbrt", "rcbrt", "reciprocal", "unary"]


def _check(name, x):
    if not isinstance(x, NDArray):
        raise TypeError(f"{name}: data must be an NDArray, got {type(x).__name__} "
                        "(wrap it with nd.array(...))")


def as_dtype_of(values, data):
    """``values`` (computed in floating point) in the dtype of ``data``, as MXNet keeps it; casting
    a NaN or an infinity to an integer dtype gives an unspecified integer, like MXNet's C cast."""
    if values.dtype == data.dtype:
        return values
    with np.errstate(invalid="ignore", over="ignore"):
        return values.astype(data.dtype)


def _float_view(data, xp):
    """``data`` itself when it holds floats, else float64 (integers are computed in floating point)."""
    return data if data.dtype.kind == "f" else data.astype(xp.float64)


def unary(name, forward, derivative=None, *, uses="input", doc, method=True, see=None):
    """Declare the elementwise operator ``name``.

    Parameters
    ----------
    name : str
        Its ``nd`` name.
    forward : callable
        ``forward(xp, data) -> values`` on a floating-point backend array.
    derivative : callable or None
        ``derivative(xp, data, out) -> d out / d data`` (both floating point); None: the gradient is 0
        (rounding functions, as in MXNet).
    uses : {'input', 'output', 'both', 'none'}
        What ``derivative`` reads (declared to autograd's saved-array check).
    doc : str
        The first line of the docstring.
    method : bool
        Whether ``NDArray.<name>`` exists (written out in ``_ndarray.py``).
    see : str, optional
        More docstring text (sources of formulas, differences from MXNet).
    """
    def op(data):
        _check(name, data)
        raw = data._data
        xp = xp_of(raw)
        x = _float_view(raw, xp)
        with np.errstate(all="ignore"):  # NaN/inf outside the domain, as MXNet and NumPy give
            values = forward(xp, x)
        out = as_dtype_of(values, raw)

        if derivative is None:
            def backward(g, needs):
                return (xp_of(g).zeros_like(g),)
            return result(out, data._ctx, name, (data,), backward, saved=())

        # The closure keeps only what the derivative reads (what saved= declares below).
        x_kept = x if uses in ("input", "both") else None
        y_kept = values if uses in ("output", "both") else None

        def backward(g, needs):
            with np.errstate(all="ignore"):
                d = derivative(xp_of(g), x_kept, y_kept)
            return ((g * d).astype(g.dtype, copy=False),)
        return result(out, data._ctx, name, (data,), backward,
                      saved=(data,) if uses in ("input", "both") else (),
                      save_output=uses in ("output", "both"))
    op.__name__ = op.__qualname__ = name
    grad_line = ("Not differentiable in effect: the gradient is 0, as in MXNet."
                 if derivative is None else "Differentiable.")
    op.__doc__ = f"""{doc}

    Parameters
    ----------
    data : NDArray

    Returns
    -------
    NDArray
        A new array of ``data``'s shape and dtype (integers stay integers, as in MXNet).
        {grad_line}
    {see or ''}
    """
    return register(name, method=True if method else None, out=True)(op)


_LN2, _LN10 = _pymath.log(2.0), _pymath.log(10.0)


def _rint(xp, x):
    # MXNet's rint rounds halves *down* (rint(0.5) = 0, rint(2.5) = 2, rint(-1.5) = -2): it is
    # floor(x) unless the fractional part exceeds one half (recorded from MXNet 1.9.1).
    f = xp.floor(x)
    return xp.where(x - f > 0.5, f + 1, f)


def _round(xp, x):
    # Halves away from zero (round(2.5) = 3, round(-0.5) = -1), C's round(), as MXNet.
    return xp.sign(x) * xp.floor(xp.abs(x) + 0.5)


round = unary("round", _round, doc="Round to the nearest integer, halves away from zero (MXNet's ``round``).")
rint = unary("rint", _rint, doc="Round to the nearest integer, halves towards minus infinity "
                                "(MXNet's ``rint``: ``rint(2.5) = 2``, ``rint(-0.5) = -1``).",
             see="NumPy's ``rint`` rounds halves to even instead; this follows MXNet 1.9.1.")
floor = unary("floor", lambda xp, x: xp.floor(x), doc="The largest integer not above each element.")
ceil = unary("ceil", lambda xp, x: xp.ceil(x), doc="The smallest integer not below each element.")
trunc = unary("trunc", lambda xp, x: xp.trunc(x), doc="Round towards zero.")
fix = unary("fix", lambda xp, x: xp.trunc(x),
            doc="Round towards zero (MXNet's ``fix``, the same as ``trunc``).")

sin = unary("sin", lambda xp, x: xp.sin(x), lambda xp, x, y: xp.cos(x), doc="Elementwise sine.")
cos = unary("cos", lambda xp, x: xp.cos(x), lambda xp, x, y: -xp.sin(x), doc="Elementwise cosine.")
tan = unary("tan", lambda xp, x: xp.tan(x), lambda xp, x, y: 1 + y * y, uses="output",
            doc="Elementwise tangent.")
arcsin = unary("arcsin", lambda xp, x: xp.arcsin(x), lambda xp, x, y: 1 / xp.sqrt(1 - x * x),
               doc="Elementwise inverse sine (NaN outside [-1, 1]).")
arccos = unary("arccos", lambda xp, x: xp.arccos(x), lambda xp, x, y: -1 / xp.sqrt(1 - x * x),
               doc="Elementwise inverse cosine (NaN outside [-1, 1]).")
arctan = unary("arctan", lambda xp, x: xp.arctan(x), lambda xp, x, y: 1 / (1 + x * x),
               doc="Elementwise inverse tangent.")
sinh = unary("sinh", lambda xp, x: xp.sinh(x), lambda xp, x, y: xp.cosh(x), doc="Hyperbolic sine.")
cosh = unary("cosh", lambda xp, x: xp.cosh(x), lambda xp, x, y: xp.sinh(x), doc="Hyperbolic cosine.")
arcsinh = unary("arcsinh", lambda xp, x: xp.arcsinh(x), lambda xp, x, y: 1 / xp.sqrt(x * x + 1),
                doc="Inverse hyperbolic sine.")
arccosh = unary("arccosh", lambda xp, x: xp.arccosh(x), lambda xp, x, y: 1 / xp.sqrt(x * x - 1),
                doc="Inverse hyperbolic cosine (NaN below 1).")
arctanh = unary("arctanh", lambda xp, x: xp.arctanh(x), lambda xp, x, y: 1 / (1 - x * x),
                doc="Inverse hyperbolic tangent (NaN outside [-1, 1]).")
degrees = unary("degrees", lambda xp, x: x * (180 / _pymath.pi), lambda xp, x, y: 180 / _pymath.pi,
                uses="none", doc="Radians to degrees.")
radians = unary("radians", lambda xp, x: x * (_pymath.pi / 180), lambda xp, x, y: _pymath.pi / 180,
                uses="none", doc="Degrees to radians.")

log1p = unary("log1p", lambda xp, x: xp.log1p(x), lambda xp, x, y: 1 / (1 + x),
              doc="``log(1 + x)``, accurate for small ``x``.")
expm1 = unary("expm1", lambda xp, x: xp.expm1(x), lambda xp, x, y: y + 1, uses="output",
              doc="``exp(x) - 1``, accurate for small ``x``.")
log2 = unary("log2", lambda xp, x: xp.log2(x), lambda xp, x, y: 1 / (x * _LN2), doc="Base-2 logarithm.")
log10 = unary("log10", lambda xp, x: xp.log10(x), lambda xp, x, y: 1 / (x * _LN10), doc="Base-10 logarithm.")
rsqrt = unary("rsqrt", lambda xp, x: 1 / xp.sqrt(x), lambda xp, x, y: -0.5 * y * y * y, uses="output",
              doc="``1 / sqrt(x)``.")
cbrt = unary("cbrt", lambda xp, x: xp.cbrt(x), lambda xp, x, y: 1 / (3 * y * y), uses="output",
             doc="Cube root (real, so negative for negative ``x``).")
rcbrt = unary("rcbrt", lambda xp, x: 1 / xp.cbrt(x), lambda xp, x, y: -y / (3 * x), uses="both",
              doc="``1 / cbrt(x)``.")
reciprocal = unary("reciprocal", lambda xp, x: 1 / x, lambda xp, x, y: -y * y, uses="output",
                   doc="``1 / x`` (integers give the truncated quotient, 0 for ``|x| > 1``, as MXNet).")
