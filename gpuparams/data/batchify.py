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
    try:
        arr = np.asarray(data)
    except ValueError:
        arr = None
    if arr is None or arr.dtype.kind == "O":
        # Examples of different shapes: NumPy fails with "inhomogeneous shape" (or, before 1.24, builds
        # an object array). Looked at only then, so that a good batch pays for no scan of its shapes.
        _refuse_mixed_shapes(data)
        if arr is None:
            arr = np.asarray(data)  # one shape, another problem: NumPy's own error
    return from_data(arr, ctx=cpu(0), dtype=arr.dtype)


def _refuse_mixed_shapes(data):
    """Raise a ValueError naming the first example whose shape differs from example 0's."""
    shapes = [np.shape(example) for example in data]
    for k, shape in enumerate(shapes):
        if shape != shapes[0]:
            raise ValueError(f"default_batchify_fn: examples of one batch must have one shape, but example "
                             f"0 has shape {shapes[0]} and example {k} has shape {shape}; resize or pad "
                             "them in a transform, or pass DataLoader(batchify_fn=...) to build the "
                             "batch yourself")
