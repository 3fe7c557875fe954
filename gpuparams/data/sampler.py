"""Samplers: the order in which a loader visits examples, and how it groups them into batches."""
from __future__ import annotations

import numbers

import numpy as np

from .. import random as _random

__all__ = ["Sampler", "SequentialSampler", "RandomSampler", "BatchSampler", "FilterSampler",
           "IntervalSampler"]

_LAST_BATCH = ("keep", "discard", "rollover")


class Sampler:
    """Abstract sampler: iterating yields example indices (or, for :class:`BatchSampler`, batches)."""

    def __iter__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __iter__")

    def __len__(self):
        raise NotImplementedError(f"{type(self).__name__} must implement __len__")

    def _epoch_indices(self):
        """This epoch's indices as a NumPy int64 array (subclasses make it without a Python loop)."""
        return np.fromiter((int(i) for i in self), dtype=np.int64)


def _check_int(value, who, what, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        kind = "positive" if minimum == 1 else "non-negative"
        raise ValueError(f"{who}: {what} must be a {kind} int, got {value!r}")
    return int(value)


class SequentialSampler(Sampler):
    """Indices ``start, start+1, ..., start+length-1`` in order."""

    def __init__(self, length, start=0):
        self._length = _check_int(length, "SequentialSampler", "length", 0)
        self._start = _check_int(start, "SequentialSampler", "start", 0)

    def _epoch_indices(self):
        return np.arange(self._start, self._start + self._length, dtype=np.int64)

    def __iter__(self):
        return iter(self._epoch_indices().tolist())

    def __len__(self):
        return self._length


class RandomSampler(Sampler):
    """A fresh random permutation of ``0 .. length-1`` each epoch, from the seeded generator."""

    def __init__(self, length):
        self._length = _check_int(length, "RandomSampler", "length", 0)

    def _epoch_indices(self):
        return _random.generator().permutation(self._length).astype(np.int64, copy=False)

    def __iter__(self):
        return iter(self._epoch_indices().tolist())

    def __len__(self):
        return self._length


class FilterSampler(Sampler):
    """The indices of the examples of ``dataset`` for which ``fn(example)`` is true.

    ``fn`` runs over the whole dataset once, at construction (as in MXNet).

    Parameters
    ----------
    fn : callable
        Takes one example and returns a bool.
    dataset : Dataset
        The examples to test.
    """

    def __init__(self, fn, dataset):
        if not callable(fn):
            raise TypeError(f"FilterSampler: fn must be callable, got {type(fn).__name__}")
        self._indices = np.array([i for i in range(len(dataset)) if fn(dataset[i])], dtype=np.int64)

    def _epoch_indices(self):
        return self._indices

    def __iter__(self):
        return iter(self._indices.tolist())

    def __len__(self):
        return len(self._indices)


class IntervalSampler(Sampler):
    """Every ``interval``-th index of ``0 .. length-1``: ``0, interval, 2*interval, ...``, then (with
    ``rollover``) the same from 1, from 2, ... until every index was visited.

    MXNet has it as ``gluon.contrib.data.IntervalSampler``; ``len()`` is ``length`` even when
    ``rollover=False`` visits fewer indices, as there.

    Examples
    --------
    >>> list(IntervalSampler(13, interval=3))
    [0, 3, 6, 9, 12, 1, 4, 7, 10, 2, 5, 8, 11]
    >>> list(IntervalSampler(13, interval=3, rollover=False))
    [0, 3, 6, 9, 12]
    """

    def __init__(self, length, interval, rollover=True):
        self._length = _check_int(length, "IntervalSampler", "length", 0)
        self._interval = _check_int(interval, "IntervalSampler", "interval", 1)
        if self._interval > self._length:
            raise ValueError(f"IntervalSampler: interval {interval} must not exceed length {length}")
        self._rollover = bool(rollover)

    def _epoch_indices(self):
        starts = range(self._interval if self._rollover else 1)
        return np.concatenate([np.arange(s, self._length, self._interval, dtype=np.int64) for s in starts]
                              or [np.empty(0, np.int64)])

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

    Examples
    --------
    >>> list(BatchSampler(SequentialSampler(7), 3, 'keep'))
    [[0, 1, 2], [3, 4, 5], [6]]
    """

    def __init__(self, sampler, batch_size, last_batch="keep"):
        self._batch_size = _check_int(batch_size, "BatchSampler", "batch_size", 1)
        if last_batch not in _LAST_BATCH:
            raise ValueError(f"last_batch must be one of {', '.join(map(repr, _LAST_BATCH))}, "
                             f"got {last_batch!r}")
        self._sampler = sampler
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
