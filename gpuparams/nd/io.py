"""``nd.save`` / ``nd.load``: NDArrays, lists of them or dicts of them in one ``.npz`` file.

Written atomically and read without pickle (see :mod:`gpuparams.serialization`). A list is stored
under the keys ``0, 1, 2, ...`` plus a marker entry, so it loads back as a list.
"""
from __future__ import annotations

import numpy as np

from ..context import Context
from .._ndarray import NDArray, from_data
from ..serialization import ArrayFileError, load_arrays, save_arrays

__all__ = ["save", "load"]

_LIST_MARKER = "__gpuparams_list__"


def save(fname, data):
    """Save an NDArray, a list of NDArrays or a dict of str to NDArray to ``fname``.

    Parameters
    ----------
    fname : str or os.PathLike
        Destination file (written as ``.npz``; the name is kept as given).
    data : NDArray, list of NDArray or dict of str to NDArray
        What to save; values are copied to the host.
    """
    if isinstance(data, NDArray):
        data = [data]
    if isinstance(data, dict):
        for key in data:
            if not isinstance(key, str) or key == _LIST_MARKER:
                raise TypeError(f"nd.save: dict keys must be strings (and not {_LIST_MARKER!r}), got {key!r}")
        arrays = {key: _host(value, key) for key, value in data.items()}
    elif isinstance(data, (list, tuple)):
        arrays = {str(i): _host(value, f"item {i}") for i, value in enumerate(data)}
        arrays[_LIST_MARKER] = np.array(len(data), dtype=np.int64)
    else:
        raise TypeError("nd.save: expected an NDArray, a list or a dict of NDArrays, got "
                        f"{type(data).__name__}")
    save_arrays(fname, arrays)


def _host(value, where):
    if not isinstance(value, NDArray):
        raise TypeError(f"nd.save: {where} is a {type(value).__name__}, not an NDArray")
    return value.asnumpy()


def load(fname, ctx=None):
    """Load what :func:`save` wrote: a list or a dict of NDArrays on ``ctx`` (default cpu(0))."""
    arrays = load_arrays(fname)
    ctx = Context(ctx) if ctx is not None else Context("cpu", 0)
    if _LIST_MARKER in arrays:
        count = int(arrays.pop(_LIST_MARKER))
        if sorted(arrays) != sorted(str(i) for i in range(count)):
            raise ArrayFileError(f"{fname}: list file is missing entries (expected {count})")
        return [from_data(arrays[str(i)], ctx=ctx) for i in range(count)]
    return {key: from_data(value, ctx=ctx) for key, value in arrays.items()}
