"""Flat buckets: many small arrays reduced or broadcast with a few large collectives.

A collective costs a fixed latency plus its bytes over the bandwidth, so one per parameter wastes the
latency dozens of times per step. Arrays of one dtype on one context are laid end to end into flat
buffers of at most ``bucket_bytes`` (an array larger than that gets a bucket of its own), in the
order given (the trainer's parameter order, the same on every rank).
"""
from __future__ import annotations

from .. import backend as _backend
from .._ndarray import from_backend

__all__ = ["plan", "run_on_buckets"]


def plan(arrays, bucket_bytes):
    """Group the NDArrays ``arrays`` into buckets: a list of lists of indices into ``arrays``."""
    buckets = []
    open_bucket = {}  # (dtype, context) -> (index list, bytes so far)
    for i, a in enumerate(arrays):
        key = (a.dtype, a.context)
        nbytes = a.size * a.dtype.itemsize
        members, used = open_bucket.get(key, (None, 0))
        if members is None or used + nbytes > bucket_bytes:
            members, used = [], 0
            buckets.append(members)
        members.append(i)
        open_bucket[key] = (members, used + nbytes)
    return buckets


def run_on_buckets(arrays, bucket_bytes, collective, describe):
    """Apply ``collective(flat_ndarray, what)`` to every bucket of ``arrays`` and write the results back.

    Parameters
    ----------
    arrays : list of NDArray
        The arrays to transform; each receives its part of its bucket's result.
    bucket_bytes : int
    collective : callable
        Works in place on a contiguous 1-D NDArray (e.g. an allreduce of it).
    describe : callable
        ``describe(k, n)``: the name of bucket ``k`` of ``n`` in messages.

    Returns
    -------
    int
        The number of buckets (collectives issued).
    """
    buckets = plan(arrays, bucket_bytes)
    for k, members in enumerate(buckets):
        first = arrays[members[0]]
        if len(members) == 1 and first._data.flags.c_contiguous:
            flat = from_backend(first._data.reshape(-1), first.context)  # a view: no copy
            collective(flat, describe(k, len(buckets)))
            first._version[0] += 1
            continue
        dev = _backend.device_of(first)  # its xp and scope, as its data says
        with dev.scope():
            flat = from_backend(dev.xp.concatenate([arrays[i]._data.reshape(-1) for i in members]),
                                first.context)
            collective(flat, describe(k, len(buckets)))
            start = 0
            for i in members:
                a = arrays[i]
                a._data[...] = flat._data[start:start + a.size].reshape(a.shape)
                a._version[0] += 1
                start += a.size
    return len(buckets)
