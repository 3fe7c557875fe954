"""The processes of one ``gpuparams train`` run: just this one, or every rank of an ``mpirun`` job.

A command that runs under ``mpirun -n N`` must stay in step on every rank: all ranks check their
arguments and files, then agree, so that a problem found by one rank (a file missing on its machine)
ends every rank with the same exit code instead of leaving the others waiting in a collective.
Rank 0 does the talking (stdout, the progress bar) and writes the files.
"""
from __future__ import annotations

import contextlib
import os

from . import UsageError

__all__ = ["Job", "start"]


class Job:
    """One process (``size == 1``) or one rank of a distributed run."""

    def __init__(self, world=None, device=None):
        self.world = world
        self.device = device
        self.rank = world.rank if world is not None else 0
        self.size = world.size if world is not None else 1

    @property
    def distributed(self):
        return self.world is not None

    @property
    def is_root(self):
        return self.rank == 0

    @contextlib.contextmanager
    def agreed(self, what):
        """Run the block on every rank; if it raised :class:`UsageError` on any, end all ranks alike.

        Rank 0 re-raises the first error (naming the rank it came from, when another), so that the
        command prints it once and exits 2; the other ranks exit 2 without a word.
        """
        if self.world is None:
            yield
            return
        error = None
        try:
            yield
        except UsageError as exc:
            error = str(exc)
        reports = self.world.allgather_json(error, what)
        failed = [(r, msg) for r, msg in enumerate(reports) if msg is not None]
        if not failed:
            return
        if not self.is_root:
            raise SystemExit(2)
        r, msg = failed[0]
        raise UsageError(msg if r == 0 else f"(on rank {r}) {msg}")

    def total(self, value):
        """``value`` summed over the ranks (a float)."""
        return self._reduce(value, "sum")

    def largest(self, value):
        """The largest ``value`` of any rank (a float)."""
        return self._reduce(value, "max")

    def _reduce(self, value, op):
        if self.world is None:
            return float(value)
        import numpy as np
        buf = np.array([value], dtype=np.float64)
        self.world.allreduce_inplace(buf, op, self.world.next_name("allreduce", f"{op} of a metric"))
        return float(buf[0])

    @contextlib.contextmanager
    def quiet_unless_root(self):
        """A context in which stdout is discarded on every rank but 0 (one summary, not N)."""
        if self.is_root:
            yield
            return
        with open(os.devnull, "w", encoding="utf-8") as sink, contextlib.redirect_stdout(sink):
            yield


def start():
    """This run's :class:`Job`: joins the MPI job when started by a launcher with several processes."""
    from .. import distributed
    distributed.init()
    world = distributed._world_or_none()
    if world is None:
        return Job()
    return Job(world, distributed.device())
