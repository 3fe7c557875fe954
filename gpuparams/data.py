"""Datasets and mini-batch loading (``gluon.data``).

>>> import numpy as np
>>> from gpuparams.gluon import data as gdata
>>> X, y = np.arange(46, dtype='float32').reshape(23, 2), np.arange(23, dtype='float32')
>>> loader = gdata.DataLoader(gdata.ArrayDataset(X, y), batch_size=10, last_batch='keep')
>>> [len(yb) for Xb, yb in loader]
[10, 10, 3]

Batches of an :class:`ArrayDataset` are cut with one fancy-indexing operation per array and batch
(no Python loop over examples). Shuffling draws a permutation from the generator that
``gp.random.seed`` seeds, so a seed reproduces the order of every epoch.
"""
from __future__ import annotations

import numbers

import numpy as np

from . import backend
from . import random as _random
from ._front import adopt, is_np_array
from .context import cpu
from .ndarray import NDArray, from_backend, from_data

__all__ = ["Dataset", "SimpleDataset", "ArrayDataset", "Sampler", "SequentialSampler", "RandomSampler",
           "BatchSampler", "DataLoader", "default_batchify_fn"]

_LAST_BATCH = ("keep", "discard", "rollover")


# ----------------------------------------------------------------------------- datasets
class Dataset:
    """Abstract dataset: implement ``__getitem__(i)`` and ``__len__``.

    A dataset that can fetch many examples at once implements ``_gather(indices)`` (a NumPy
    integer array) returning the batch directly; :class:`DataLoader` then skips the per-example path.
    """

    def __getitem__(self, idx):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")

    def transform(self, fn, lazy=True):
        """A dataset whose items are ``fn(*item)`` (``fn(item)`` for single-field items).

        ``lazy=False`` applies ``fn`` to every item now and keeps the results.
        """
        transformed = _LazyTransformDataset(self, fn)
        if lazy:
            return transformed
        return SimpleDataset([transformed[i] for i in range(len(transformed))])

    def transform_first(self, fn, lazy=True):
        """Like :meth:`transform`, but ``fn`` is applied to the first field only (e.g. the image)."""
        def first(*item):
            if len(item) == 1:
                return fn(item[0])
            return (fn(item[0]),) + tuple(item[1:])
        return self.transform(first, lazy)


class SimpleDataset(Dataset):
    """A dataset over any sequence (a list, an array): item ``i`` is ``data[i]``."""

    def __init__(self, data):
        self._data = data

    def __len__(self):
        return len(self._data)

    def __getitem__(self, idx):
        return self._data[idx]


class _LazyTransformDataset(Dataset):
    def __init__(self, data, fn):
        self._data = data
        self._fn = fn

    def __len__(self):
        return len(self._data)

    def __getitem__(self, idx):
        item = self._data[idx]
        if isinstance(item, tuple):
            return self._fn(*item)
        return self._fn(item)


def _as_field(i, data):
    """Keep NDArrays (their context and dtype) and NumPy arrays; turn other sequences into NumPy."""
    if isinstance(data, (NDArray, np.ndarray)):
        if data.ndim == 0:
            raise ValueError(f"ArrayDataset: array {i} is 0-dimensional; it needs one entry per example")
        return data
    if backend.is_cupy_array(data):
        return from_data(data, ctx=_cupy_ctx(data))
    try:
        arr = np.asarray(data)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"ArrayDataset: argument {i} ({type(data).__name__}) is not array-like: "
                        f"{exc}") from None
    if arr.ndim == 0 or arr.dtype.hasobject:
        raise TypeError(f"ArrayDataset: argument {i} ({type(data).__name__}) must be a numeric array "
                        "with one entry per example")
    return arr


def _cupy_ctx(data):
    from .context import gpu
    return gpu(data.device.id)


class ArrayDataset(Dataset):
    """A dataset over arrays of one length: item ``i`` is ``(a[i], b[i], ...)``.

    Parameters
    ----------
    *args : NDArray, numpy.ndarray or list
        The fields, all with the same length along axis 0. NDArrays stay on their context (a batch of
        them is cut on that device); NumPy arrays and lists give batches on ``cpu(0)`` in their own
        dtype (lists of floats become float64, NumPy's default: pass float32 arrays to train float32
        models).

    Examples
    --------
    >>> from gpuparams import nd
    >>> ds = ArrayDataset(nd.arange(6).reshape((3, 2)), nd.array([0, 1, 2]))
    >>> len(ds), ds[1][0].asnumpy().tolist()
    (3, [2.0, 3.0])
    """

    def __init__(self, *args):
        if not args:
            raise ValueError("ArrayDataset needs at least one array")
        self._fields = [_as_field(i, a) for i, a in enumerate(args)]
        self._length = len(self._fields[0])
        for i, f in enumerate(self._fields[1:], start=1):
            if len(f) != self._length:
                raise ValueError(f"ArrayDataset: all arrays must have the same length, but array 0 has "
                                 f"{self._length} entries and array {i} has {len(f)}")

    def __len__(self):
        return self._length

    def __getitem__(self, idx):
        if isinstance(idx, numbers.Integral):
            if not -self._length <= idx < self._length:
                raise IndexError(f"ArrayDataset index {idx} out of range for {self._length} examples")
            # A 1-D NDArray field gives a NumPy scalar, as in Gluon (not a shape-(1,) array).
            items = tuple(f[idx].asscalar() if isinstance(f, NDArray) and f.ndim == 1 else f[idx]
                          for f in self._fields)
            return items[0] if len(items) == 1 else items
        raise TypeError(f"ArrayDataset indices must be integers, got {type(idx).__name__}")

    def _gather(self, indices):
        """The batch of examples ``indices`` (a NumPy int array): one fancy index per field."""
        batch = [_take(f, indices) for f in self._fields]
        return batch[0] if len(batch) == 1 else batch


def _take(field, indices):
    if isinstance(field, NDArray):
        ctx = field.context
        data = field._data
        if type(data) is not np.ndarray:
            with backend.device_scope(ctx):
                indices = backend.cupy_module_of(data).asarray(indices)
        return from_backend(data[indices], ctx, type(field))
    return from_data(field[indices], ctx=cpu(0))


# ----------------------------------------------------------------------------- samplers
class Sampler:
    """Abstract sampler: iterating yields example indices (or, for :class:`BatchSampler`, batches)."""

    def __iter__(self):
        raise NotImplementedError

    def __len__(self):
        raise NotImplementedError

    def _epoch_indices(self):
        """This epoch's indices as a NumPy int64 array (subclasses make it without a Python loop)."""
        return np.fromiter((int(i) for i in self), dtype=np.int64)


def _check_length(length, who):
    if isinstance(length, bool) or not isinstance(length, numbers.Integral) or length < 0:
        raise ValueError(f"{who}: length must be a non-negative int, got {length!r}")
    return int(length)


class SequentialSampler(Sampler):
    """Indices ``start, start+1, ..., start+length-1`` in order."""

    def __init__(self, length, start=0):
        self._length = _check_length(length, "SequentialSampler")
        self._start = int(start)

    def _epoch_indices(self):
        return np.arange(self._start, self._start + self._length, dtype=np.int64)

    def __iter__(self):
        return iter(self._epoch_indices().tolist())

    def __len__(self):
        return self._length


class RandomSampler(Sampler):
    """A fresh random permutation of ``0 .. length-1`` each epoch, from the seeded generator."""

    def __init__(self, length):
        self._length = _check_length(length, "RandomSampler")

    def _epoch_indices(self):
        return _random.generator().permutation(self._length).astype(np.int64, copy=False)

    def __iter__(self):
        return iter(self._epoch_indices().tolist())

    def __len__(self):
        return self._length


class BatchSampler(Sampler):
    """Groups a sampler's indices into batches of ``batch_size``.

    Parameters
    ----------
    sampler : Sampler or iterable of int
        Source of indices for one epoch per iteration.
    batch_size : int
        Examples per batch.
    last_batch : {'keep', 'discard', 'rollover'}
        What to do with the final incomplete batch: yield it (``keep``), drop it (``discard``), or
        carry its indices over to the start of the next epoch (``rollover``).

    Iterating yields lists of indices.
    """

    def __init__(self, sampler, batch_size, last_batch="keep"):
        if isinstance(batch_size, bool) or not isinstance(batch_size, numbers.Integral) or batch_size <= 0:
            raise ValueError(f"BatchSampler: batch_size must be a positive int, got {batch_size!r}")
        if last_batch not in _LAST_BATCH:
            raise ValueError(f"last_batch must be one of {', '.join(map(repr, _LAST_BATCH))}, "
                             f"got {last_batch!r}")
        self._sampler = sampler
        self._batch_size = int(batch_size)
        self._last_batch = last_batch
        self._carry = np.empty(0, dtype=np.int64)

    def _iter_arrays(self):
        """Yield each batch as a NumPy index array; the rollover remainder is kept for next epoch."""
        if isinstance(self._sampler, Sampler):
            indices = self._sampler._epoch_indices()
        else:
            indices = np.fromiter((int(i) for i in self._sampler), dtype=np.int64)
        indices = np.concatenate([self._carry, indices]) if self._carry.size else indices
        self._carry = np.empty(0, dtype=np.int64)
        bs = self._batch_size
        full = len(indices) // bs * bs
        for start in range(0, full, bs):
            yield indices[start:start + bs]
        rest = indices[full:]
        if rest.size:
            if self._last_batch == "keep":
                yield rest
            elif self._last_batch == "rollover":
                self._carry = rest.copy()

    def __iter__(self):
        for batch in self._iter_arrays():
            yield batch.tolist()

    def __len__(self):
        n = len(self._sampler)
        bs = self._batch_size
        if self._last_batch == "keep":
            return (n + bs - 1) // bs
        if self._last_batch == "discard":
            return n // bs
        return (n + len(self._carry)) // bs


# ----------------------------------------------------------------------------- loading
def _front_batch(batch):
    """A batch in the active front end's arrays (``np`` arrays after ``npx.set_np()``); the batch's
    arrays are new objects, so switching their class in place touches nothing the dataset holds."""
    if not is_np_array():
        return batch
    if isinstance(batch, NDArray):
        return adopt(batch)
    if isinstance(batch, list):
        return [_front_batch(b) for b in batch]
    return batch


def default_batchify_fn(data):
    """Stack a list of examples into a batch: tuples field by field, NDArrays with ``nd.stack``,
    numbers and NumPy arrays through one NumPy array (keeping its dtype)."""
    first = data[0]
    if isinstance(first, NDArray):
        from .ops.shape import stack
        return stack(*data)
    if isinstance(first, tuple):
        return [default_batchify_fn(list(field)) for field in zip(*data)]
    arr = np.asarray(data)
    return from_data(arr, ctx=cpu(0), dtype=arr.dtype)


class DataLoader:
    """Iterates over a dataset in mini-batches, yielding ``[X, y]`` (one NDArray per field).

    Parameters
    ----------
    dataset : Dataset
        E.g. an :class:`ArrayDataset`.
    batch_size : int
        Examples per batch (required unless ``batch_sampler`` is given).
    shuffle : bool
        Visit the examples in a new random order each epoch (seeded by ``gp.random.seed``).
    sampler : Sampler, optional
        Custom order of indices (excludes ``shuffle``).
    last_batch : {'keep', 'discard', 'rollover'}
        Handling of the final incomplete batch (default ``'keep'``); see :class:`BatchSampler`.
    batch_sampler : BatchSampler or iterable of index lists, optional
        Yields whole batches (excludes ``batch_size``, ``shuffle``, ``sampler`` and ``last_batch``).
    batchify_fn : callable, optional
        Builds a batch from a list of examples (``dataset[i]`` each). Without it, datasets with a
        fast batch path (:class:`ArrayDataset`) are cut by fancy indexing and others use
        :func:`default_batchify_fn`.
    num_workers : int
        Accepted for MXNet compatibility; batches are built in the calling thread (they are one
        indexing operation per field, so worker processes would only add copies).

    Examples
    --------
    >>> from gpuparams import nd
    >>> ds = ArrayDataset(nd.arange(8).reshape((4, 2)), nd.arange(4))
    >>> [y.asnumpy().tolist() for X, y in DataLoader(ds, batch_size=3)]
    [[0.0, 1.0, 2.0], [3.0]]
    """

    def __init__(self, dataset, batch_size=None, shuffle=False, sampler=None, last_batch=None,
                 batch_sampler=None, batchify_fn=None, num_workers=0):
        if not hasattr(dataset, "__getitem__") or not hasattr(dataset, "__len__"):
            raise TypeError("DataLoader needs a dataset with __getitem__ and __len__, got "
                            f"{type(dataset).__name__}")
        if isinstance(num_workers, bool) or not isinstance(num_workers, numbers.Integral) or num_workers < 0:
            raise ValueError(f"DataLoader: num_workers must be a non-negative int, got {num_workers!r}")
        self._dataset = dataset
        if batch_sampler is None:
            if batch_size is None:
                raise ValueError("DataLoader: batch_size must be given unless batch_sampler is")
            if sampler is None:
                sampler = RandomSampler(len(dataset)) if shuffle else SequentialSampler(len(dataset))
            elif shuffle:
                raise ValueError("DataLoader: shuffle must be False when a sampler is given "
                                 "(the sampler decides the order)")
            batch_sampler = BatchSampler(sampler, batch_size, "keep" if last_batch is None else last_batch)
        elif batch_size is not None or shuffle or sampler is not None or last_batch is not None:
            raise ValueError("DataLoader: batch_size, shuffle, sampler and last_batch must be left unset "
                             "when batch_sampler is given")
        self._batch_sampler = batch_sampler
        self._batchify_fn = batchify_fn
        self._fast = batchify_fn is None and hasattr(dataset, "_gather")

    def __iter__(self):
        if isinstance(self._batch_sampler, BatchSampler):
            batches = self._batch_sampler._iter_arrays()
        else:
            batches = (np.asarray(b, dtype=np.int64) for b in self._batch_sampler)
        for indices in batches:
            if self._fast:
                batch = self._dataset._gather(indices)
            else:
                batchify = self._batchify_fn or default_batchify_fn
                batch = batchify([self._dataset[int(i)] for i in indices])
            yield _front_batch(batch)

    def __len__(self):
        return len(self._batch_sampler)
