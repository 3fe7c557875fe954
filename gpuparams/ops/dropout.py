"""Functional ``nd.Dropout`` (MXNet's operator; ``nn.Dropout`` is the layer)."""
from __future__ import annotations

import numbers

from .. import autograd
from .. import random as _random
from .._ndarray import NDArray, from_data
from ._core import normalize_axes
from ._registry import register
from .elementwise import multiply

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
    mask = from_data((keep * scale).astype(data.dtype), ctx=data.context)
    return multiply(data, mask)
