"""Turning a list of examples into a batch (MXNet's ``default_batchify_fn``)."""
from __future__ import annotations

import numpy as np

from ..context import cpu
from .._ndarray import NDArray, from_data

__all__ = ["default_batchify_fn"]


def default_batchify_fn(data):
    """Stack a list of examples into a batch: tuples field by field, NDArrays with ``nd.stack``,
    numbers and NumPy arrays through one NumPy array (keeping its dtype: Python ints give int64,
    floats float64, as in MXNet).

    Examples
    --------
    >>> [b.dtype.name for b in default_batchify_fn([(1, 2.5), (3, 4.5)])]
    ['int64', 'float64']
    """
    if not data:
        raise ValueError("default_batchify_fn: got an empty list of examples")
    first = data[0]
    if isinstance(first, NDArray):
        from ..ops.shape import stack
        return stack(*data)
    if isinstance(first, tuple):
        return [default_batchify_fn(list(field)) for field in zip(*data)]
    arr = np.asarray(data)
    return from_data(arr, ctx=cpu(0), dtype=arr.dtype)
