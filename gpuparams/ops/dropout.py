"""Dropout as an operator (MXNet's ``nd.Dropout``; ``nn.Dropout`` and ``npx.dropout`` call it).

Being one registered operator matters for ``hybridize()``: a traced graph calls it at every replay,
so each replay draws a new mask instead of keeping the one drawn while tracing.
"""
from __future__ import annotations

import numbers

import numpy as np

from .. import autograd
from .. import random as _random
from .._ndarray import NDArray
from ._core import normalize_axes, result, xp_of
from ._registry import register

__all__ = ["Dropout"]


@register("Dropout")
def Dropout(data, p=0.5, mode="training", axes=(), cudnn_off=False):
    """Zero each element with probability ``p`` and scale the rest by ``1 / (1 - p)``.

    Parameters
    ----------
    data : NDArray
    p : float
        Drop probability in ``[0, 1]`` (``p = 1`` zeroes everything).
    mode : {'training', 'always'}
        ``'training'`` drops only in training mode (``autograd.record()`` or ``train_mode()``) and
        returns ``data`` itself otherwise; ``'always'`` drops in every mode.
    axes : tuple of int
        Axes along which one mask value is shared (MXNet's variational dropout).
    cudnn_off : bool
        Accepted for MXNet compatibility; there is no cuDNN path.

    Returns
    -------
    NDArray
        ``data * mask``; the gradient is the output gradient times the same mask. The mask is drawn
        on the host from the generator ``gp.random.seed`` seeds, so it is the same on every context.
    """
    if not isinstance(data, NDArray):
        raise TypeError(f"Dropout: data must be an NDArray, got {type(data).__name__}")
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p <= 1:
        raise ValueError(f"Dropout: p must be a number in [0, 1], got {p!r}")
    if mode not in ("training", "always"):
        raise ValueError(f"Dropout: mode must be 'training' or 'always', got {mode!r}")
    if p == 0 or (mode == "training" and not autograd.is_training()):
        return data
    shape = list(data.shape)
    for a in normalize_axes(tuple(axes), data.shape, "Dropout", "axis"):
        shape[a] = 1
    keep = _random.generator().random(size=tuple(shape)) >= p
    scale = 1.0 / (1.0 - p) if p < 1 else 0.0
    x = data._data
    xp = xp_of(x)
    mask = (keep * scale).astype(x.dtype)
    if xp is not np:
        mask = xp.asarray(mask)
    out = x * mask

    def backward(g, needs):
        return (g * mask,)
    return result(out, data._ctx, "Dropout", (data,), backward, saved=())
