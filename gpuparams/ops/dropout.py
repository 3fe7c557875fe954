"""Dropout as an operator (MXNet's ``nd.Dropout``), so that a hybridized graph draws a new mask at
every replay instead of keeping the one drawn while tracing."""
from __future__ import annotations

import numbers

import numpy as np

from .. import autograd
from .. import random as _random
from ._core import result, xp_of
from ._registry import register


@register("Dropout", aliases=("dropout",))
def Dropout(data, p=0.5, axes=(), mode="training"):
    """Zero each element with probability ``p`` and scale the rest by ``1/(1-p)``.

    Parameters
    ----------
    data : NDArray
    p : float
        Drop probability in ``[0, 1]``.
    axes : tuple of int
        Axes along which one mask value is shared.
    mode : {'training', 'always'}
        'training' (default) drops only while :func:`autograd.is_training` (inside ``record()``);
        otherwise the input is returned unchanged. 'always' drops in every mode.

    Notes
    -----
    The keep-mask is drawn on the host from the seeded generator (``gp.random.seed``), so runs are
    reproducible on every context.
    """
    if isinstance(p, bool) or not isinstance(p, numbers.Real) or not 0 <= p <= 1:
        raise ValueError(f"Dropout: rate must be a number in [0, 1], got {p!r}")
    if mode not in ("training", "always"):
        raise ValueError(f"Dropout: mode must be 'training' or 'always', got {mode!r}")
    if p == 0 or (mode == "training" and not autograd.is_training()):
        return data
    shape = list(data.shape)
    for axis in axes:
        if not -data.ndim <= axis < data.ndim:
            raise ValueError(f"Dropout: axis {axis} is out of range for an input of shape {data.shape}")
        shape[axis] = 1
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
