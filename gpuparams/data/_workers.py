"""Worker processes for ``DataLoader(num_workers > 0)``.

Each epoch forks ``num_workers`` processes (fork: they inherit the dataset and its transforms, which
need not be picklable; on platforms without fork they are spawned and the dataset is pickled). Each
worker has its own pipe: the parent sends ``(position, indices, seed)`` round-robin, keeps ``prefetch``
batches in flight, and yields results in position order, so the batches are those of
``num_workers=0``. Batches travel as NumPy arrays and become NDArrays on ``cpu(0)`` in the parent.

A worker's exception travels back with its formatted traceback and is raised in the parent from a
:class:`~gpuparams.errors.DataLoaderWorkerError` holding that traceback. Workers stop when the
iteration ends for any reason (exhausted, ``break``, an exception, garbage collection of the
iterator): the parent asks them to exit, then terminates those that do not. A worker whose parent dies
exits by itself (it checks its parent process id while idle).
"""
from __future__ import annotations

import multiprocessing
import os
import pickle
import signal
import time
import traceback
from multiprocessing import connection

from ..context import cpu
from ..errors import DataLoaderWorkerError
from .._ndarray import NDArray, from_backend

_POLL_S = 0.2        # how often an idle worker checks that its parent is alive
_JOIN_S = 2.0        # how long a stopping worker may take before it is terminated


class _Wire:
    """An NDArray's data on its way between processes (plain NumPy, rebuilt as an NDArray)."""

    __slots__ = ("array",)

    def __init__(self, array):
        self.array = array


def _to_wire(obj):
    if isinstance(obj, NDArray):
        if obj.context.device_type != "cpu":
            raise ValueError(f"a DataLoader worker built a batch on {obj.context}; workers must build "
                             "batches on the CPU (move the data with as_in_context after the loader)")
        return _Wire(obj.asnumpy())
    if isinstance(obj, list):
        return [_to_wire(o) for o in obj]
    if isinstance(obj, tuple):
        return tuple(_to_wire(o) for o in obj)
    return obj


def _from_wire(obj):
    if isinstance(obj, _Wire):
        return from_backend(obj.array, cpu(0))
    if isinstance(obj, list):
        return [_from_wire(o) for o in obj]
    if isinstance(obj, tuple):
        return tuple(_from_wire(o) for o in obj)
    return obj


def _worker_main(conn, dataset, batchify_fn, parent_pid):
    """A worker's loop: build the batches the parent asks for until told to stop (``None``)."""
    from .dataloader import build_batch
    signal.signal(signal.SIGINT, signal.SIG_IGN)   # Ctrl-C is the parent's to handle
    while True:
        if not conn.poll(_POLL_S):
            if os.getppid() != parent_pid:
                return
            continue
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        position, indices, seed = task
        try:
            reply = (position, "ok", _to_wire(build_batch(dataset, batchify_fn, indices, seed)))
        except Exception as exc:  # every error goes back to the caller
            reply = (position, "error", _picklable(exc), traceback.format_exc())
        try:
            conn.send(reply)
        except (BrokenPipeError, OSError):
            return
        except Exception as exc:  # the batch itself could not be pickled
            conn.send((position, "error", None, f"the batch could not be sent to the parent: {exc!r}"))


def _picklable(exc):
    try:
        pickle.loads(pickle.dumps(exc))
    except Exception:
        return None
    return exc


def _context():
    if "fork" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


class _Worker:
    def __init__(self, ctx, index, dataset, batchify_fn):
        self.index = index
        self.conn, child = ctx.Pipe(duplex=True)
        self.process = ctx.Process(target=_worker_main, args=(child, dataset, batchify_fn, os.getpid()),
                                   name=f"gpuparams-dataloader-{index}", daemon=True)
        self.process.start()
        child.close()
        self.in_flight = 0
        self.closed = False

    def stop(self):
        try:
            self.conn.send(None)
        except OSError:
            pass

    def reap(self, deadline):
        self.process.join(max(0.0, deadline - time.monotonic()))
        if self.process.is_alive():
            self.process.terminate()
            self.process.join()
        self.conn.close()


def process_batches(dataset, batchify_fn, batches, num_workers, prefetch, timeout):
    """Yield the batches of ``batches`` (``(seed, indices)`` pairs) built by worker processes."""
    ctx = _context()
    workers = [_Worker(ctx, i, dataset, batchify_fn) for i in range(num_workers)]
    by_conn = {w.conn: w for w in workers}
    ready = {}
    sent = 0

    def send_next():
        nonlocal sent
        for seed, indices in batches:
            worker = workers[sent % num_workers]
            worker.conn.send((sent, indices, seed))
            worker.in_flight += 1
            sent += 1
            return True
        return False

    try:
        for _ in range(prefetch):
            if not send_next():
                break
        position = 0
        while position < sent:
            started = time.monotonic()
            while position not in ready:
                waiting = time.monotonic() - started
                if waiting > timeout:
                    raise DataLoaderWorkerError(
                        f"DataLoader: worker {position % num_workers} sent no batch {position} within "
                        f"timeout={timeout:g} s; raise timeout= if loading is this slow")
                _receive(workers, by_conn, ready, min(_POLL_S, timeout - waiting))
            reply = ready.pop(position)
            if reply[1] == "error":
                _raise_worker_error(position, position % num_workers, reply)
            position += 1
            send_next()
            yield _from_wire(reply[2])
    finally:
        for w in workers:
            w.stop()
        deadline = time.monotonic() + _JOIN_S
        for w in workers:
            w.reap(deadline)


def _receive(workers, by_conn, ready, wait_s):
    """Collect the replies that arrive within ``wait_s``; raise if a busy worker died."""
    sentinels = {w.process.sentinel: w for w in workers}
    for obj in connection.wait(list(by_conn) + list(sentinels), max(wait_s, 0.0)):
        worker = by_conn.get(obj)
        if worker is not None:
            try:
                reply = worker.conn.recv()
            except (EOFError, OSError):
                worker.closed = True   # the worker is gone (its end of the pipe closed)
                continue
            worker.in_flight -= 1
            ready[reply[0]] = reply
    for w in workers:
        if w.in_flight and (w.closed or not w.process.is_alive() and not w.conn.poll()):
            w.process.join(_JOIN_S)
            raise DataLoaderWorkerError(
                f"DataLoader worker {w.index} (pid {w.process.pid}) exited with code {w.process.exitcode} "
                f"while building {w.in_flight} batch(es); a negative code is the signal that killed it "
                "(-9: often out of memory)")


def _raise_worker_error(position, worker, reply):
    _, _, exc, text = reply
    summary = DataLoaderWorkerError(
        f"DataLoader worker {worker} failed on batch {position}. The worker's traceback:\n{text}")
    if exc is None:
        raise summary
    raise exc from summary
