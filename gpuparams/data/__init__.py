"""Datasets and mini-batch loading (``gluon.data``).

>>> import numpy as np
>>> from gpuparams.gluon import data as gdata
>>> X, y = np.arange(46, dtype='float32').reshape(23, 2), np.arange(23, dtype='float32')
>>> loader = gdata.DataLoader(gdata.ArrayDataset(X, y), batch_size=10, last_batch='keep')
>>> [len(yb) for Xb, yb in loader]
[10, 10, 3]

The modules: :mod:`.dataset` (datasets and their ``transform``/``filter``/``shard``/``take``),
:mod:`.sampler` (index orders and batching, and each rank's part in data-parallel training),
:mod:`.batchify` (examples to a batch),
:mod:`.dataloader` (the loader and its in-process and thread iterators), :mod:`._workers` (worker
processes), :mod:`.download` (checked, resumable downloads) and :mod:`.vision` (MNIST, Fashion-MNIST,
CIFAR-10 and image transforms; imported on first use).
"""
from .._lazy import lazy_attributes
from .batchify import default_batchify_fn
from .dataloader import DataLoader
from .dataset import ArrayDataset, Dataset, SimpleDataset
from .sampler import (BatchSampler, DistributedSampler, FilterSampler, IntervalSampler, RandomSampler,
                      Sampler, SequentialSampler)

__all__ = ["Dataset", "SimpleDataset", "ArrayDataset", "Sampler", "SequentialSampler", "RandomSampler",
           "BatchSampler", "FilterSampler", "IntervalSampler", "DistributedSampler", "DataLoader",
           "default_batchify_fn", "vision"]

__getattr__, __dir__ = lazy_attributes(globals(), {"vision": ("gpuparams.data.vision", None)})
