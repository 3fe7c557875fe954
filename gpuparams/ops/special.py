"""Special functions ``gamma``, ``gammaln``, ``erf``, ``erfinv`` with their derivatives.

No SciPy at runtime. On NumPy arrays the values come from Python's ``math.gamma``, ``math.lgamma``
and ``math.erf`` (C99's ``tgamma``, ``lgamma``, ``erf``, correctly rounded to within an ulp or so),
applied elementwise; ``erfinv`` is Newton's method on ``erf``. On CuPy arrays they are CuPy's own
``cupyx.scipy.special`` kernels (shipped with CuPy, no SciPy needed). The derivatives:

* ``gamma'(x) = gamma(x) * digamma(x)`` and ``gammaln'(x) = digamma(x)``, with ``digamma`` computed
  here by the recurrence ``psi(x) = psi(x + 1) - 1/x`` up to ``x >= 6``, then the asymptotic series
  ``psi(x) ~ ln x - 1/(2x) - sum_k B_2k / (2k x^2k)`` (Abramowitz & Stegun 6.3.18; Bernoulli numbers
  B2..B10), and the reflection ``psi(x) = psi(1 - x) - pi / tan(pi x)`` below 1/2 (A&S 6.3.7);
* ``erf'(x) = 2/sqrt(pi) * exp(-x^2)`` (A&S 7.1.19);
* ``erfinv'(x) = sqrt(pi)/2 * exp(erfinv(x)^2)`` (the inverse function rule).

``erfinv`` starts Newton from Winitzki's closed form (S. Winitzki, "A handy approximation for the
error function and its inverse", 2008, with ``a = 0.147``, relative error below 2e-3) and takes four
steps ``y -= (erf(y) - x) / erf'(y)`` in float64 — each roughly squares the error.
"""
from __future__ import annotations

import math as _pymath

import numpy as np

from ._core import xp_of
from .math import unary

__all__ = ["gamma", "gammaln", "erf", "erfinv", "digamma"]

_SQRT_PI = _pymath.sqrt(_pymath.pi)


def _is_numpy(x):
    return type(x) is np.ndarray


def _cupy_special():
    import cupyx.scipy.special as special
    return special


def _tgamma(v):
    try:
        return _pymath.gamma(v)
    except ValueError:  # a pole: C's tgamma gives +-inf at 0 and NaN at negative integers
        return _pymath.copysign(_pymath.inf, v) if v == 0 else _pymath.nan
    except OverflowError:
        return _pymath.inf


def _lgamma(v):
    try:
        return _pymath.lgamma(v)
    except (ValueError, OverflowError):  # poles and overflow: C's lgamma gives +inf
        return _pymath.inf


_VEC = {fn: np.vectorize(fn, otypes=[np.float64]) for fn in (_tgamma, _lgamma, _pymath.erf)}


def _host(fn, x):
    """``fn`` of every element of a NumPy array, in float64, returned in ``x``'s dtype."""
    if x.size == 0:
        return np.empty_like(x)
    return _VEC[fn](x.astype(np.float64, copy=False)).astype(x.dtype, copy=False)


def _gamma(xp, x):
    return _host(_tgamma, x) if _is_numpy(x) else _cupy_special().gamma(x)


def _gammaln(xp, x):
    return _host(_lgamma, x) if _is_numpy(x) else _cupy_special().gammaln(x)


def _erf(xp, x):
    return _host(_pymath.erf, x) if _is_numpy(x) else _cupy_special().erf(x)


def _erfinv(xp, x):
    if not _is_numpy(x):
        return _cupy_special().erfinv(x)
    t = x.astype(np.float64)
    inside = np.abs(t) < 1
    s = np.where(inside, t, 0.0)
    a = 0.147
    ln = np.log1p(-s * s)
    first = 2 / (np.pi * a) + ln / 2
    y = np.sign(s) * np.sqrt(np.sqrt(first * first - ln / a) - first)
    for _ in range(4):
        step = (_host(_pymath.erf, y) - s) / (2 / _SQRT_PI * np.exp(-y * y))
        y = y - step
    y = np.where(inside, y, np.where(np.abs(t) == 1, np.sign(t) * np.inf, np.nan))
    return y.astype(x.dtype, copy=False)


def digamma(x, xp=None):
    """The digamma function ``psi = (ln gamma)'`` of a backend float array (see the module notes)."""
    xp = xp or xp_of(x)
    t = x.astype(xp.float64)
    reflect = t < 0.5
    z = xp.where(reflect, 1 - t, t)
    shift = xp.zeros_like(z)
    for _ in range(6):  # z >= 0.5 here, so six steps reach z >= 6
        small = z < 6
        shift = shift - xp.where(small, 1 / z, 0.0)
        z = xp.where(small, z + 1, z)
    r = 1 / (z * z)
    series = r * (1 / 12 - r * (1 / 120 - r * (1 / 252 - r * (1 / 240 - r / 132))))
    psi = xp.log(z) - 0.5 / z - series + shift
    psi = xp.where(reflect, psi - np.pi / xp.tan(np.pi * t), psi)
    return psi.astype(x.dtype, copy=False)


_DIFFERS = """Notes
    -----
    Values on NumPy come from C99's functions through Python's ``math`` module (see
    :mod:`gpuparams.ops.special`); they can differ from MXNet's in the last float32 ulp."""

gamma = unary("gamma", _gamma, lambda xp, x, y: y * digamma(x, xp), uses="both", method=False,
              doc="The gamma function (``gamma(n) = (n-1)!``; poles give inf or NaN).", see=_DIFFERS)
gammaln = unary("gammaln", _gammaln, lambda xp, x, y: digamma(x, xp), method=False,
                doc="``log(|gamma(x)|)`` (inf at the poles).", see=_DIFFERS)
erf = unary("erf", _erf, lambda xp, x, y: (2 / _SQRT_PI) * xp.exp(-x * x), method=False,
            doc="The error function ``2/sqrt(pi) * integral_0^x exp(-t^2) dt``.", see=_DIFFERS)
erfinv = unary("erfinv", _erfinv, lambda xp, x, y: (_SQRT_PI / 2) * xp.exp(y * y), uses="output",
               method=False, doc="The inverse error function (+-inf at +-1, NaN outside [-1, 1]).",
               see=_DIFFERS)
