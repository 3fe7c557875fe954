"""Datasets: the ``Dataset`` protocol with MXNet's ``transform``, ``transform_first``, ``filter``,
``shard``, ``take`` and ``sample``, plus :class:`SimpleDataset` and :class:`ArrayDataset`."""
from __future__ import annotations

import numbers

import numpy as np

from .. import backend
from ..context import cpu
from .._ndarray import NDArray, from_backend, from_data

__all__ = ["Dataset", "SimpleDataset", "ArrayDataset"]


class Dataset:
    """Abstract dataset: implement ``__getitem__(i)`` and ``__len__``.

    A dataset that can fetch many examples at once implements ``_gather(indices)`` (a NumPy
    integer array) returning the batch directly; :class:`~gpuparams.data.DataLoader` then skips the
    per-example path.
    """

    def __getitem__(self, idx):
        raise NotImplementedError(f"{type(self).__name__} must implement __getitem__")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")

    def filter(self, fn):
        """The examples for which ``fn(example)`` is true, in order (``fn`` runs over every example
        now; a lazy transform before it runs again whenever an example is read later, as in MXNet).

        Parameters
        ----------
        fn : callable
            Takes one example (a tuple for multi-field datasets) and returns a bool.
        """
        from .sampler import FilterSampler
        return _SampledDataset(self, FilterSampler(fn, self))

    def shard(self, num_shards, index):
        """Contiguous shard ``index`` of ``num_shards``; the first ``len % num_shards`` shards hold one
        example more (MXNet's split).

        Parameters
        ----------
        num_shards : int
            How many shards the dataset is cut into (e.g. the number of processes).
        index : int
            Which shard, ``0 <= index < num_shards``.
        """
        for name, value in (("num_shards", num_shards), ("index", index)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise TypeError(f"Dataset.shard: {name} must be an int, got {value!r}")
        if num_shards <= 0:
            raise ValueError(f"Dataset.shard: num_shards must be positive, got {num_shards}")
        if not 0 <= index < num_shards:
            raise ValueError(f"Dataset.shard: index {index} out of range for {num_shards} shards "
                             f"(use 0 .. {num_shards - 1})")
        length = len(self)
        base, rest = divmod(length, num_shards)
        start = base * index + min(index, rest)
        from .sampler import SequentialSampler
        return _SampledDataset(self, SequentialSampler(base + (index < rest), start))

    def distributed_shard(self, num_shards=None, index=None, drop_last=False):
        """This dataset's part number ``index`` of ``num_shards`` for data-parallel training: the
        examples :class:`~gpuparams.data.DistributedSampler` (without shuffling) gives that rank.

        Defaults: the number of processes and this process's rank of a distributed job
        (``gpuparams.distributed``), so every rank calls ``dataset.distributed_shard()`` and gets its
        own part. Unlike :meth:`shard` (MXNet's contiguous split, whose parts can differ by one
        example), these shards are strided (``index, index + num_shards, ...``) and all have the same
        length, which keeps the ranks' steps in lock-step: the remainder is padded with examples from
        the start (or dropped with ``drop_last=True``).
        """
        from .sampler import DistributedSampler
        sampler = DistributedSampler(len(self), num_shards, index, shuffle=False, drop_last=drop_last)
        return _ShardOfDataset(self, sampler)

    def take(self, count):
        """The first ``count`` examples (all of them when ``count`` is None or larger than the dataset)."""
        if count is None or count > len(self):
            count = len(self)
        if isinstance(count, bool) or not isinstance(count, numbers.Integral) or count < 0:
            raise ValueError(f"Dataset.take: count must be a non-negative int or None, got {count!r}")
        from .sampler import SequentialSampler
        return _SampledDataset(self, SequentialSampler(count))

    def sample(self, sampler):
        """The examples at the indices ``sampler`` yields (read once, now), in that order."""
        from .sampler import Sampler
        if not isinstance(sampler, Sampler):
            raise TypeError(f"Dataset.sample needs a gluon.data.Sampler, got {type(sampler).__name__}")
        return _SampledDataset(self, sampler)

    def transform(self, fn, lazy=True):
        """A dataset whose items are ``fn(*item)`` (``fn(item)`` for single-field items).

        ``lazy=False`` applies ``fn`` to every item now and keeps the results (so a random ``fn``
        gives the same result every epoch).
        """
        transformed = _LazyTransformDataset(self, fn)
        if lazy:
            return transformed
        return SimpleDataset([transformed[i] for i in range(len(transformed))])

    def transform_first(self, fn, lazy=True):
        """Like :meth:`transform`, but ``fn`` is applied to the first field only (e.g. the image)."""
        return self.transform(_TransformFirst(fn), lazy)


class _TransformFirst:
    """``fn`` on the first field of an example (a class, not a closure, so worker processes started
    with ``spawn`` can pickle it)."""

    def __init__(self, fn):
        self._fn = fn

    def __call__(self, first, *rest):
        if rest:
            return (self._fn(first),) + rest
        return self._fn(first)


class SimpleDataset(Dataset):
    """A dataset over any sequence (a list, an array): item ``i`` is ``data[i]``.

    Examples
    --------
    >>> SimpleDataset(list(range(10))).filter(lambda x: x % 2).take(3)[2]
    5
    """

    def __init__(self, data):
        if not hasattr(data, "__getitem__") or not hasattr(data, "__len__"):
            raise TypeError(f"SimpleDataset needs a sequence (len() and []), got {type(data).__name__}")
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


class _SampledDataset(Dataset):
    """``dataset`` re-indexed by the indices a sampler yields (drawn once, at construction)."""

    def __init__(self, dataset, sampler):
        self._dataset = dataset
        self._indices = np.fromiter((int(i) for i in sampler), dtype=np.int64)
        if hasattr(dataset, "_gather"):
            self._gather = self._gather_from_base

    def __len__(self):
        return len(self._indices)

    def __getitem__(self, idx):
        return self._dataset[int(self._indices[idx])]

    def _gather_from_base(self, indices):
        return self._dataset._gather(self._indices[indices])


class _ShardOfDataset(_SampledDataset):
    """A :meth:`Dataset.distributed_shard`: an index past its end names the shard's length."""

    def __getitem__(self, idx):
        if isinstance(idx, numbers.Integral):
            if not -len(self._indices) <= idx < len(self._indices):
                raise IndexError(f"shard index {idx} out of range for {len(self._indices)} examples")
            return self._dataset[int(self._indices[idx])]
        raise TypeError(f"dataset indices must be integers, got {type(idx).__name__}")


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
    from ..context import gpu
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

    def _contexts(self):
        """The contexts of the NDArray fields (worker processes need them all on the CPU)."""
        return [f.context for f in self._fields if isinstance(f, NDArray)]


def _take(field, indices):
    if isinstance(field, NDArray):
        ctx = field.context
        data = field._data
        if type(data) is not np.ndarray:
            with backend.device_scope(ctx):
                indices = backend.cupy_module_of(data).asarray(indices)
        return from_backend(data[indices], ctx, type(field))  # an np field gives np batches
    return from_data(field[indices], ctx=cpu(0))
