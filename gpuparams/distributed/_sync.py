"""What ``Trainer(kvstore='dist_sync')`` adds to a step: one starting point, averaged gradients.

At the first step (after deferred initialization, so every shape is known) the ranks compare their
parameter sets, and rank 0's values overwrite everyone's. At every step the ranks first agree on
which gradients are fresh (one small allreduce of flags), then average the gradients in flat buckets,
so every rank applies the same update to the same values and the parameters stay identical.

Stale gradients: a parameter whose gradient no backward wrote since the last step on some rank is
an error on every rank (the same :class:`~gpuparams.trainer.StaleGradientError`), or, with
``ignore_stale_grad=True``, it is skipped where it is stale on every rank and otherwise updated
with the stale ranks contributing a zero gradient (the average divides by the number of ranks).
"""
from __future__ import annotations

import numpy as np

from .. import distributed as _dist
from .._ndarray import copy_to_context
from . import _buckets, _env
from .errors import ParameterMismatchError

__all__ = ["GradientSync", "DistributedTrainer", "broadcast_parameters"]


def _signature(params):
    sig = []
    for p in params:
        shape = list(p.shape) if p.shape is not None else None
        sig.append([p.name, shape, str(np.dtype(p.dtype)), p.grad_req])
    return sig


def _check_same_parameters(world, params):
    """Raise the same :class:`ParameterMismatchError` on every rank unless all train the same set."""
    everyone = world.allgather_json(_signature(params), "parameter signatures")
    reference = {entry[0]: entry for entry in everyone[0]}
    for r, sig in enumerate(everyone[1:], start=1):
        mine = {entry[0]: entry for entry in sig}
        for name in sorted(set(reference) | set(mine)):
            a, b = reference.get(name), mine.get(name)
            if a == b:
                continue
            if a is None or b is None:
                has, lacks = (r, 0) if a is None else (0, r)
                raise ParameterMismatchError(
                    f"dist_sync: parameter {name} is trained on rank {has} but not on rank {lacks}; every "
                    "rank must build the same model and give the Trainer the same parameters")
            what = ("shape" if a[1] != b[1] else "dtype" if a[2] != b[2] else "grad_req")
            k = {"shape": 1, "dtype": 2, "grad_req": 3}[what]
            ra, rb = (tuple(a[k]), tuple(b[k])) if what == "shape" else (a[k], b[k])
            raise ParameterMismatchError(
                f"dist_sync: parameter {name} has {what} {ra} on rank 0 but {rb} on rank {r}; every rank "
                "must build the same model (same layer sizes, same input width)")


def broadcast_parameters(params, root=0, bucket_mb=None):
    """Overwrite every initialized parameter in ``params`` with rank ``root``'s values (all copies).

    The trainer does this itself at its first step; call it directly to start from one point before
    the first forward pass. Parameters waiting for deferred initialization are skipped.
    """
    from ..trainer import _by_name, _collect
    world = _dist._world_or_none()
    if world is None:
        return
    datas = []
    for p in _by_name(_collect(params)):
        try:
            datas.append(p.list_data())
        except RuntimeError:
            continue
    bucket_bytes = _bytes(bucket_mb)
    _buckets.run_on_buckets(
        [d[0] for d in datas], bucket_bytes,
        lambda flat, what: _dist._bcast_backend_array(flat, root, what),
        lambda k, n: world.next_name("broadcast", f"parameters from rank {root}, bucket {k + 1}/{n}"))
    for copies in datas:
        for d in copies[1:]:
            d._data[...] = copy_to_context(copies[0]._data, copies[0].context, d.context)
            d._version[0] += 1


def _bytes(bucket_mb):
    mb = _env.bucket_mb_from_env() if bucket_mb is None else bucket_mb
    if isinstance(mb, bool) or not isinstance(mb, (int, float)) or not 0 < mb < float("inf"):
        raise ValueError(f"dist_sync: bucket_mb must be a positive number of megabytes, got {mb!r}")
    return max(1, int(mb * 2 ** 20))


class GradientSync:
    """The distributed half of a Trainer step (see the module docstring)."""

    def __init__(self, bucket_mb=None):
        self.bucket_bytes = _bytes(bucket_mb)
        _dist.init()
        self.started = False
        self.last_buckets = 0  # collectives of the last gradient average (for tests and benchmarks)

    @property
    def world(self):
        return _dist._world_or_none()

    def writes_files(self):
        return _dist._writes_files()

    def ready(self, trainer, ignore_stale_grad, check_stale):
        """The trainer's ``_ready`` agreed on by every rank: returns the entries to reduce/update."""
        from ..trainer import StaleGradientError
        world = self.world
        if world is None:
            return trainer._ready(ignore_stale_grad, check_stale)
        entries = trainer._ready(True, check_stale=False)
        if not self.started:
            _check_same_parameters(world, trainer._params)
            broadcast_parameters(trainer._params, 0, self.bucket_bytes / 2 ** 20)
            self.started = True
        local = np.array([all(d._fresh_grad for d in datas) for _, _, datas, _ in entries], dtype=np.int32)
        counts = local.copy()
        world.allreduce_inplace(counts, "sum", world.next_name("allreduce", "fresh-gradient flags"))
        self.counts = {i: int(c) for (i, _, _, _), c in zip(entries, counts, strict=True)}
        if check_stale and not ignore_stale_grad:
            stale = [(p, int(c), bool(f)) for (_, p, _, _), c, f in zip(entries, counts, local, strict=True)
                     if c < world.size]
            if stale:
                p, c, fresh_here = stale[0]
                more = f" (and {len(stale) - 1} more)" if len(stale) > 1 else ""
                raise StaleGradientError(
                    f"Trainer.step: the gradient of parameter {p.name} was not computed by a backward pass "
                    f"since the last step on {world.size - c} of {world.size} ranks (this rank, "
                    f"{world.rank}: {'fresh' if fresh_here else 'stale'}){more}. Every rank must run "
                    "backward through it, or call step(batch_size, ignore_stale_grad=True)")
        live = []
        for entry, c, f in zip(entries, counts, local, strict=True):
            if check_stale and c == 0:
                continue  # stale everywhere: skipped on every rank alike
            if not f:
                for g in entry[3]:  # stale here, fresh elsewhere: contribute nothing
                    g._data[...] = 0
                    g._version[0] += 1
            live.append(entry)
        return live

    def average(self, live):
        """Average the (locally summed) gradients of ``live`` across ranks, in buckets, into every copy."""
        world = self.world
        if world is None or not live:
            return
        size = world.size

        def mean(flat, what):
            _dist._reduce_backend_array(flat, "sum", what)
            flat._data /= size

        self.last_buckets = _buckets.run_on_buckets(
            [grads[0] for _, _, _, grads in live], self.bucket_bytes, mean,
            lambda k, n: world.next_name("allreduce", f"gradients, bucket {k + 1}/{n}"))
        for i, _, datas, grads in live:
            for g in grads[1:]:
                g._data[...] = copy_to_context(grads[0]._data, grads[0].context, g.context)
                g._version[0] += 1
            if self.counts.get(i, 0) > 0:
                # Every rank now holds this step's gradient, so a following update() sees it fresh.
                for d in datas:
                    d._fresh_grad = True


def _make_trainer_class():
    from ..trainer import Trainer

    class DistributedTrainer(Trainer):
        """A :class:`~gpuparams.trainer.Trainer` that averages gradients across MPI ranks (Horovod style).

        The same as ``gluon.Trainer(params, optimizer, optimizer_params, kvstore='dist_sync')``, with
        the bucket size as an argument.

        Parameters
        ----------
        params, optimizer, optimizer_params
            As for :class:`~gpuparams.trainer.Trainer`.
        bucket_mb : float, optional
            Megabytes of gradients per collective (default ``GPUPARAMS_DIST_BUCKET_MB``, else 4).
        """

        def __init__(self, params, optimizer="sgd", optimizer_params=None, bucket_mb=None):
            super().__init__(params, optimizer, optimizer_params, kvstore="dist_sync")
            self._dist = GradientSync(bucket_mb)

    return DistributedTrainer


DistributedTrainer = _make_trainer_class()
