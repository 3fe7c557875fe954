"""``gluon.utils`` of MXNet 1.x: cutting a batch across devices and clipping gradients by global norm.

Reached as ``gluon.utils`` (``from gpuparams.gluon import utils``)::

    X_parts = gluon.utils.split_and_load(X, [gp.gpu(0), gp.gpu(1)])
    gluon.utils.clip_global_norm([p.grad(ctx) for p in net.collect_params().values()], max_norm=1.0)
"""
from __future__ import annotations

import math
import numbers
import warnings

import numpy as np

from . import nd
from .context import Context
from ._ndarray import NDArray

__all__ = ["split_data", "split_and_load", "clip_global_norm"]


def split_data(data, num_slice, batch_axis=0, even_split=True):
    """Cut ``data`` into ``num_slice`` consecutive parts along ``batch_axis``.

    Parameters
    ----------
    data : NDArray
        A batch.
    num_slice : int
        Number of parts.
    batch_axis : int
        The axis to cut (default 0; negative counts from the end).
    even_split : bool
        True (default): the axis size must be a multiple of ``num_slice``. False: the first
        ``size % num_slice`` parts get one extra element (parts may be empty when
        ``num_slice > size``), as in MXNet.

    Returns
    -------
    list of NDArray
        The parts, on ``data``'s context. As in MXNet they are views of ``data`` (writing to one
        writes to ``data``) and are recorded by autograd like any slice.

    Raises
    ------
    ValueError
        When ``even_split`` is True and the axis size is not a multiple of ``num_slice``.

    Examples
    --------
    >>> from gpuparams import nd
    >>> from gpuparams.gluon import utils
    >>> [p.shape for p in utils.split_data(nd.zeros((5, 2)), 2, even_split=False)]
    [(3, 2), (2, 2)]
    """
    if not isinstance(data, NDArray):
        raise TypeError(f"split_data: data must be an NDArray, got {type(data).__name__} (wrap it with "
                        "nd.array(...), or use split_and_load, which accepts NumPy arrays)")
    if isinstance(num_slice, bool) or not isinstance(num_slice, numbers.Integral) or num_slice < 1:
        raise ValueError(f"split_data: num_slice must be a positive int, got {num_slice!r}")
    num_slice = int(num_slice)
    ndim = data.ndim
    if isinstance(batch_axis, bool) or not isinstance(batch_axis, numbers.Integral) \
            or not -ndim <= batch_axis < ndim:
        raise ValueError(f"split_data: batch_axis {batch_axis!r} is out of range for data of shape "
                         f"{data.shape}")
    axis = int(batch_axis) % ndim
    size = data.shape[axis]
    if even_split and size % num_slice:
        raise ValueError(f"split_data: data of shape {data.shape} cannot be split evenly into {num_slice} "
                         f"slices along axis {axis} (size {size}); use a batch size that is a multiple of "
                         f"{num_slice}, or pass even_split=False to allow slices of unequal size")
    step, extra = divmod(size, num_slice)
    parts, begin = [], 0
    for i in range(num_slice):
        end = begin + step + (1 if i < extra else 0)
        parts.append(data[(slice(None),) * axis + (slice(begin, end),)])
        begin = end
    return parts


def split_and_load(data, ctx_list, batch_axis=0, even_split=True):
    """Split ``data`` into one part per context and copy each part to its context.

    Parameters
    ----------
    data : NDArray, NumPy array or nested list
        A batch; anything else than an NDArray is first made one with ``nd.array`` (float32, as
        ``nd.array`` does) on ``ctx_list[0]``.
    ctx_list : list of Context
        The devices, e.g. ``[gpu(0), gpu(1)]`` (a single Context is taken as a list of one; MXNet
        1.9.1 refuses it).
    batch_axis : int
        The axis to split (default 0).
    even_split : bool
        Whether the axis size must be a multiple of ``len(ctx_list)`` (see :func:`split_data`).

    Returns
    -------
    list of NDArray
        Part ``i`` on ``ctx_list[i]``. With one context the whole batch is returned, moved there
        (the same array when it is already there, as in MXNet). Copies are recorded by autograd,
        so gradients flow back to ``data``.

    Examples
    --------
    >>> import gpuparams as gp
    >>> from gpuparams import nd
    >>> from gpuparams.gluon import utils
    >>> [p.context for p in utils.split_and_load(nd.zeros((4, 2)), [gp.cpu(0), gp.cpu(1)])]
    [cpu(0), cpu(1)]
    """
    if isinstance(ctx_list, Context):
        ctx_list = [ctx_list]
    ctx_list = list(ctx_list)
    if not ctx_list:
        raise ValueError("split_and_load: ctx_list is empty; pass the devices, e.g. [gp.gpu(0), gp.gpu(1)]")
    for i, ctx in enumerate(ctx_list):
        if not isinstance(ctx, Context):
            raise TypeError(f"split_and_load: ctx_list[{i}] must be a Context such as gp.gpu(0), got "
                            f"{type(ctx).__name__}")
    if not isinstance(data, NDArray):
        data = nd.array(data, ctx=ctx_list[0])
    if len(ctx_list) == 1:
        return [data.as_in_context(ctx_list[0])]
    parts = split_data(data, len(ctx_list), batch_axis, even_split)
    return [part.as_in_context(ctx) for part, ctx in zip(parts, ctx_list)]


def clip_global_norm(arrays, max_norm, check_isfinite=True):
    """Rescale ``arrays`` in place so that their joint 2-norm is at most ``max_norm``.

    With ``total = sqrt(sum of all squared elements)``, every array is multiplied by
    ``min(1, max_norm / (total + 1e-8))`` (MXNet's rule), typically the gradients before a step.

    Parameters
    ----------
    arrays : list of NDArray
        The arrays (any contexts), changed in place.
    max_norm : float
        The largest joint norm to allow (0 zeroes the arrays).
    check_isfinite : bool
        True (default): return the norm as a NumPy scalar and warn (``UserWarning``) when it is NaN or
        infinite, in which case the arrays become undefined. False: return it as a shape-``(1,)``
        NDArray on ``arrays[0]``'s context, without waiting for the device.

    Returns
    -------
    numpy scalar or NDArray
        The joint norm before clipping, in ``arrays[0]``'s dtype.

    Examples
    --------
    >>> from gpuparams import nd
    >>> from gpuparams.gluon import utils
    >>> a, b = nd.array([3.0, 4.0]), nd.array([[12.0]])
    >>> float(utils.clip_global_norm([a, b], 1.0)), round(float(b.asscalar()), 6)
    (13.0, 0.923077)
    """
    arrays = list(arrays)
    if not arrays:
        raise ValueError("clip_global_norm: arrays is empty; pass the gradients to clip")
    for i, a in enumerate(arrays):
        if not isinstance(a, NDArray):
            raise TypeError(f"clip_global_norm: arrays[{i}] must be an NDArray, got {type(a).__name__}")
    if not isinstance(max_norm, numbers.Real) or isinstance(max_norm, bool) or not max_norm >= 0 \
            or math.isinf(max_norm):
        raise ValueError(f"clip_global_norm: max_norm must be a non-negative finite number, got {max_norm!r}")
    first = arrays[0]
    ctx, dtype = first.context, first.dtype
    from .autograd import pause
    # An infinite or NaN norm makes NumPy warn while scaling; the one warning below says it instead.
    with pause(), np.errstate(over="ignore", invalid="ignore"):
        total = None
        for a in arrays:
            squares = (a.astype(dtype, copy=False) * a.astype(dtype, copy=False)).sum()
            total = squares.as_in_context(ctx) if total is None else total + squares.as_in_context(ctx)
        norm = total.sqrt()
        scale = nd.minimum(max_norm / (norm + 1e-8), 1.0)
        for a in arrays:
            a *= scale.as_in_context(a.context).astype(a.dtype, copy=False)
    if not check_isfinite:
        return norm
    value = norm.asnumpy()[0]
    if not np.isfinite(value):
        warnings.warn("clip_global_norm: the norm is NaN or infinite; the clipped arrays are undefined "
                      "(NaN after scaling)", UserWarning, stacklevel=2)
    return value

# A name MXNet has and gpuparams lacks (gluon.utils.download ...) says "not supported yet".
from ._unsupported import module_getattr as _module_getattr  # noqa: E402

__getattr__ = _module_getattr(globals(), "gluon.utils")
