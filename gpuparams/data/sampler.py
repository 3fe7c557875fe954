"""Samplers: the order in which a loader visits examples, and how it groups them into batches."""
from __future__ import annotations

import numbers

import numpy as np

from .. import random as _random

__all__ = ["Sampler", "SequentialSampler", "RandomSampler", "BatchSampler", "FilterSampler",
           "IntervalSampler", "DistributedSampler"]

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


def _check_rank_args(num_replicas, rank):
    if num_replicas is None or rank is None:
        from .. import distributed
        distributed.init()  # under mpirun, join the job first (else this would be a world of one)
        num_replicas = distributed.size() if num_replicas is None else num_replicas
        rank = distributed.rank() if rank is None else rank
    if isinstance(num_replicas, bool) or not isinstance(num_replicas, numbers.Integral) or num_replicas < 1:
        raise ValueError(f"DistributedSampler: num_replicas must be a positive int, got {num_replicas!r}")
    if isinstance(rank, bool) or not isinstance(rank, numbers.Integral) or not 0 <= rank < num_replicas:
        raise ValueError(f"DistributedSampler: rank must be an int in 0..{num_replicas - 1}, got {rank!r}")
    return int(num_replicas), int(rank)


class DistributedSampler(Sampler):
    """This rank's part of every epoch in data-parallel training: each example goes to one rank.

    Every rank draws the same permutation of ``0 .. length-1`` (from ``seed`` and the epoch, not from
    ``gp.random``) and takes every ``num_replicas``-th entry starting at ``rank``. All ranks get the
    same number of indices, which keeps their steps in lock-step:

    * ``drop_last=False`` (default): the permutation is padded with its own first entries up to a
      multiple of ``num_replicas``, so each epoch covers every example, and ``pad = -length %
      num_replicas`` of them twice;
    * ``drop_last=True``: the last ``length % num_replicas`` entries of the permutation are left out
      (a different few each epoch when shuffling); nothing repeats.

    When ``num_replicas`` divides ``length`` each example is visited exactly once per epoch either way.

    Parameters
    ----------
    length : int
        Number of examples.
    num_replicas, rank : int, optional
        Default: the size of the distributed job and this process's rank
        (:func:`gpuparams.distributed.size`, :func:`~gpuparams.distributed.rank`).
    shuffle : bool
        A new permutation every epoch (call :meth:`set_epoch` at the start of each), else in order.
    seed : int
        Seed of the permutations; the same on every rank.
    drop_last : bool
        Drop the remainder instead of padding it (see above).

    Examples
    --------
    >>> [list(DistributedSampler(5, 2, r, shuffle=False)) for r in (0, 1)]
    [[0, 2, 4], [1, 3, 0]]
    """

    def __init__(self, length, num_replicas=None, rank=None, shuffle=True, seed=0, drop_last=False):
        self._length = _check_int(length, "DistributedSampler", "length", 0)
        self._replicas, self._rank = _check_rank_args(num_replicas, rank)
        if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or seed < 0:
            raise ValueError(f"DistributedSampler: seed must be a non-negative int, got {seed!r}")
        self._shuffle = bool(shuffle)
        self._seed = int(seed)
        self._drop_last = bool(drop_last)
        self._epoch = 0

    def set_epoch(self, epoch):
        """Use epoch ``epoch``'s permutation from now on (the same on every rank)."""
        if isinstance(epoch, bool) or not isinstance(epoch, numbers.Integral) or epoch < 0:
            raise ValueError(f"DistributedSampler.set_epoch: epoch must be a non-negative int, got {epoch!r}")
        self._epoch = int(epoch)

    def _epoch_indices(self):
        n, k = self._length, self._replicas
        if self._shuffle:
            order = np.random.default_rng([self._seed, self._epoch]).permutation(n).astype(np.int64)
        else:
            order = np.arange(n, dtype=np.int64)
        if self._drop_last:
            order = order[:n // k * k]
        elif n % k and n:
            pad = k - n % k
            order = np.concatenate([order, np.resize(order, pad)])  # resize repeats when pad > n
        return order[self._rank::k]

    def __iter__(self):
        return iter(self._epoch_indices().tolist())

    def __len__(self):
        n, k = self._length, self._replicas
        return n // k if self._drop_last else -(-n // k)


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
