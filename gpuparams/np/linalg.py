"""``np.linalg``: ``norm`` over the registered operators (so it is differentiable everywhere)."""
from __future__ import annotations

from .. import ops as _ops
from ._functions import _arr, abs as _abs, max as _max, sqrt as _sqrt, sum as _sum

__all__ = ["norm"]


def norm(x, ord=None, axis=None, keepdims=False):
    """The Frobenius / 2-norm (default), or for vectors ``ord`` 1, 2 or ``inf``.

    Parameters
    ----------
    x : ndarray
    ord : {None, 'fro', 1, 2, inf}
        ``None``/``'fro'``: square root of the sum of squares over ``axis`` (all axes by default);
        1, 2, inf: vector norms, over ``axis`` (an int) or of a 1-D ``x``.
    axis : int or tuple of int, optional
    keepdims : bool
    """
    x = _arr(x, "x")
    if x._data.dtype.kind in "biu":
        x = _ops.astype(x, "float32")
    if ord in (None, "fro") or (ord == 2 and (x.ndim == 1 or isinstance(axis, int))):
        if ord == "fro" and not (x.ndim == 2 or (isinstance(axis, tuple) and len(axis) == 2)):
            raise ValueError("norm: ord='fro' needs a matrix (2-D x or a 2-tuple axis)")
        return _sqrt(_sum(_ops.square(x), axis, keepdims=keepdims))
    if x.ndim != 1 and not isinstance(axis, int):
        raise NotImplementedError(f"norm: ord={ord!r} is supported for vectors (1-D x or an int axis)")
    if ord == 1:
        return _sum(_abs(x), axis, keepdims=keepdims)
    if ord == float("inf"):
        return _max(_abs(x), axis, keepdims=keepdims)
    raise ValueError(f"norm: ord={ord!r} is not supported; use None, 'fro', 1, 2 or inf")
