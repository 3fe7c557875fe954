"""``DataLoader``: mini-batches of a dataset, built in the calling thread, in a thread pool, or in
worker processes (:mod:`._workers`), always in the same order and with the same contents."""
from __future__ import annotations

import collections
import concurrent.futures
import functools
import hashlib
import numbers

import numpy as np

from .. import random as _random
from .._front import adopt, is_np_array
from ..errors import DataLoaderWorkerError
from .._ndarray import NDArray, from_backend
from .batchify import default_batchify_fn
from .sampler import BatchSampler, RandomSampler, SequentialSampler

__all__ = ["DataLoader"]


def _batch_generator(seed):
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed)))


def build_batch(dataset, batchify_fn, indices, seed):
    """Batch ``indices`` of ``dataset``: the one function every iterator (and worker) runs.

    Everything drawn from ``gp.random`` meanwhile (random transforms) comes from a generator seeded by
    ``seed`` alone, so the batch does not depend on the worker that builds it.
    """
    # _random.using_generator, inlined: this runs once per batch, on the training loop's path.
    local = _random._local
    previous = getattr(local, "generator", None)
    local.generator = functools.partial(_batch_generator, seed)
    try:
        if batchify_fn is None and hasattr(dataset, "_gather"):
            return dataset._gather(indices)
        return (batchify_fn or default_batchify_fn)([dataset[int(i)] for i in indices])
    finally:
        local.generator = previous


def _epoch_key(epoch):
    """Seed material for one epoch: the shared generator's state (read, not advanced) and the epoch
    number, so ``gp.random.seed(n)`` reproduces every epoch's random transforms."""
    state = repr(_random.generator().bit_generator.state).encode()
    words = np.frombuffer(hashlib.sha256(state).digest()[:16], dtype=np.uint32).tolist()
    return words + [epoch]


def _check_count(value, name, minimum=0):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"DataLoader: {name} must be an int >= {minimum}, got {value!r}")
    return int(value)


class DataLoader:
    """Iterates over a dataset in mini-batches, yielding ``[X, y]`` (one NDArray per field).

    Parameters
    ----------
    dataset : Dataset
        E.g. an :class:`ArrayDataset` or ``vision.FashionMNIST(...).transform_first(...)``.
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
        ``0`` builds batches in the calling thread. ``> 0`` starts that many worker processes per
        epoch (forked, so the dataset and transforms need not be picklable on Linux); they build
        batches ahead and the loader yields them in order. A worker's exception is raised in the
        caller with the worker's traceback attached; leaving the loop early (``break``) stops the
        workers. Workers need the dataset on the CPU (arrays on a GPU raise here).
    pin_memory : bool
        Copy each CPU batch into page-locked host memory, which copies to a GPU faster. Without a real
        GPU (CPU runs, the emulator) there is nothing to pin for and batches are returned as they are.
    pin_device_id : int
        Accepted for MXNet compatibility (pinned memory is usable by every device).
    prefetch : int, optional
        Batches built ahead when ``num_workers > 0`` (default ``2 * num_workers``; at least 1).
    thread_pool : bool
        Use ``num_workers`` threads instead of processes (no copies between processes; worth it when
        loading releases the GIL, e.g. file reads and large NumPy operations).
    timeout : float
        Seconds to wait for one batch from the workers before raising
        :class:`~gpuparams.errors.DataLoaderWorkerError` (default 120, as in MXNet).
    auto_reload : bool
        Accepted for MXNet compatibility. Workers start when an epoch's iteration starts, so there is
        nothing to reload early.

    Notes
    -----
    Every batch is built under a generator seeded from ``gp.random``'s state, the epoch number and
    the batch's position, so random transforms (``RandomFlipLeftRight``, anything drawing from
    ``gp.random``) give identical batches for every ``num_workers`` and ``thread_pool`` setting. MXNet
    does not promise that; it also leaves the shared generator unadvanced by the loader's transforms.
    Randomness from other sources (``numpy.random``, ``random``) is per process, as in MXNet.

    Examples
    --------
    >>> from gpuparams import nd
    >>> from gpuparams.gluon.data import ArrayDataset, DataLoader
    >>> ds = ArrayDataset(nd.arange(8).reshape((4, 2)), nd.arange(4))
    >>> [y.asnumpy().tolist() for X, y in DataLoader(ds, batch_size=3)]
    [[0.0, 1.0, 2.0], [3.0]]
    """

    def __init__(self, dataset, batch_size=None, shuffle=False, sampler=None, last_batch=None,
                 batch_sampler=None, batchify_fn=None, num_workers=0, pin_memory=False, pin_device_id=0,
                 prefetch=None, thread_pool=False, timeout=120, auto_reload=False):
        if not hasattr(dataset, "__getitem__") or not hasattr(dataset, "__len__"):
            raise TypeError("DataLoader needs a dataset with __getitem__ and __len__, got "
                            f"{type(dataset).__name__}")
        self._num_workers = _check_count(num_workers, "num_workers")
        self._prefetch = max(1, _check_count(prefetch, "prefetch") if prefetch is not None
                             else 2 * self._num_workers)
        if isinstance(timeout, bool) or not isinstance(timeout, numbers.Real) or not timeout > 0:
            raise ValueError(f"DataLoader: timeout must be a positive number of seconds, got {timeout!r}")
        if batchify_fn is not None and not callable(batchify_fn):
            raise TypeError(f"DataLoader: batchify_fn must be callable, got {type(batchify_fn).__name__}")
        self._timeout = float(timeout)
        self._thread_pool = bool(thread_pool)
        self._pin_memory = bool(pin_memory)
        self._pin_device_id = pin_device_id
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
        self._epoch = 0
        if self._num_workers and not self._thread_pool:
            _check_cpu_dataset(dataset)

    def _index_batches(self):
        if isinstance(self._batch_sampler, BatchSampler):
            return self._batch_sampler._iter_arrays()
        return (np.asarray(b, dtype=np.int64) for b in self._batch_sampler)

    def __iter__(self):
        key = _epoch_key(self._epoch)
        self._epoch += 1
        batches = ((key + [k], indices) for k, indices in enumerate(self._index_batches()))
        if self._num_workers == 0:
            it = self._serial(batches)
        elif self._thread_pool:
            it = self._threads(batches)
        else:
            from ._workers import process_batches
            it = process_batches(self._dataset, self._batchify_fn, batches, self._num_workers,
                                 self._prefetch, self._timeout)
        it = self._pinned(it) if self._pin_memory else it
        return _front_batches(it) if is_np_array() else it

    def _serial(self, batches):
        for seed, indices in batches:
            yield build_batch(self._dataset, self._batchify_fn, indices, seed)

    def _threads(self, batches):
        pool = concurrent.futures.ThreadPoolExecutor(self._num_workers,
                                                     thread_name_prefix="gpuparams-dataloader")
        pending = collections.deque()

        def submit():
            for seed, indices in batches:
                pending.append(pool.submit(build_batch, self._dataset, self._batchify_fn, indices, seed))
                return

        try:
            for _ in range(self._prefetch):
                submit()
            while pending:
                future = pending.popleft()
                submit()
                try:
                    batch = future.result(timeout=self._timeout)
                except concurrent.futures.TimeoutError:
                    raise DataLoaderWorkerError(
                        f"DataLoader: no batch from the thread pool within timeout={self._timeout:g} s; "
                        "raise timeout= if loading is this slow") from None
                yield batch
        finally:
            for future in pending:
                future.cancel()
            pool.shutdown(wait=True)

    def _pinned(self, it):
        for batch in it:
            yield _pin(batch)

    def __len__(self):
        return len(self._batch_sampler)


def _front_batch(batch):
    """A batch in the ``np`` front end's arrays (after ``npx.set_np()``); the batch's arrays are new
    objects, so switching their class in place touches nothing the dataset holds."""
    if isinstance(batch, NDArray):
        return adopt(batch)
    if isinstance(batch, list):
        return [_front_batch(b) for b in batch]
    return batch


def _front_batches(it):
    for batch in it:
        yield _front_batch(batch)


def _check_cpu_dataset(dataset):
    contexts = getattr(dataset, "_contexts", lambda: [])()
    off_cpu = [c for c in contexts if c.device_type != "cpu"]
    if off_cpu:
        raise ValueError(f"DataLoader: num_workers > 0 needs the dataset on the CPU, but it holds arrays "
                         f"on {off_cpu[0]}; use num_workers=0 (batches of on-device arrays are one "
                         "indexing operation each) or thread_pool=True")


def _pin(batch):
    """``batch`` with its CPU arrays copied into page-locked memory (unchanged without a real GPU)."""
    from ..backend import devices
    if devices.real_gpu_count() == 0:
        return batch
    return _pin_structure(batch, devices._import_cupy())


def _pin_structure(obj, cupy):
    if isinstance(obj, (list, tuple)):
        return type(obj)(_pin_structure(o, cupy) for o in obj)
    if isinstance(obj, NDArray) and type(obj._data) is np.ndarray:
        src = obj._data
        memory = cupy.cuda.alloc_pinned_memory(max(src.nbytes, 1))
        pinned = np.frombuffer(memory, dtype=src.dtype, count=src.size).reshape(src.shape)
        pinned[...] = src
        return from_backend(pinned, obj.context)
    return obj
