"""The MPI world of this process: start-up, collectives with a deadline, and ending every rank on a failure.

Collectives are MPI's non-blocking ones (``Iallreduce``, ``Ibcast``, ``Iallgatherv``, ``Ibarrier``)
completed by polling, so that a wait can end. When the deadline passes, this rank asks every other
rank over a separate control communicator whether it is there; ranks waiting in a collective answer
from their own polling loop, so the ones that stay silent are the ones that crashed, hang, or never
reached the collective, and the :class:`~gpuparams.distributed.errors.CollectiveTimeoutError` names
them. An exception that nobody catches ends the whole job through ``MPI_Abort`` after this rank has
said who it is and why it fails.

mpi4py is imported only here, only by :func:`start`, so ``import gpuparams.distributed`` stays light.
"""
from __future__ import annotations

import json
import os
import signal
import sys
import time

import numpy as np

from .errors import BackendUnavailableError, CollectiveTimeoutError, RankFailedError

__all__ = ["World", "start"]

# Tags of the control communicator (a duplicate of COMM_WORLD, so user messages never mix in).
_PROBE_TAG = 7301
_ALIVE_TAG = 7302
# Polling. A non-blocking collective only advances while some call (here Test) drives MPI's progress
# engine, and a large one takes several rounds, so a long sleep between tests stretches every round.
# For the first _SPIN_S seconds: test and yield the core (a rank sharing it can run); then test every
# _SHORT_SLEEP_S; a wait past _LONG_WAIT_S (a rank is far behind) backs off to _MAX_SLEEP_S, so that
# it costs next to no CPU.
_SPIN_S = 1e-3
_SHORT_SLEEP_S = 5e-5
_LONG_WAIT_S = 1.0
_MAX_SLEEP_S = 1e-2
# Seconds between checks whether the ranks on this machine are still running.
_PEER_CHECK_S = 0.25
# Seconds a timed-out rank waits for the others to answer its probe.
_MAX_GRACE_S = 5.0
# Seconds a failing rank waits between flushing its report and MPI_Abort (see World.abort).
_ABORT_DRAIN_S = 0.25


def _import_mpi():
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise BackendUnavailableError(
            "gpuparams.distributed: this process was started by an MPI launcher but mpi4py cannot be "
            f"imported ({exc}); install it with pip install 'gpuparams[distributed]'") from None
    return MPI


class World:
    """This process's view of the job: rank, size, local rank, hosts, and the collectives.

    Build it with :func:`start`; the public functions of :mod:`gpuparams.distributed` wrap it.
    """

    def __init__(self, MPI, comm, timeout):
        self.MPI = MPI
        self.comm = comm
        self.ctl = comm.Dup()
        self.rank = comm.Get_rank()
        self.size = comm.Get_size()
        local = comm.Split_type(MPI.COMM_TYPE_SHARED, key=self.rank)
        self.local_rank = local.Get_rank()
        self.local_size = local.Get_size()
        local.Free()
        self.timeout = float(timeout)
        self.seq = 0            # collectives started so far (the same count on every healthy rank)
        self.current = "start-up"
        self._pending_replies = []
        me = {"host": MPI.Get_processor_name(), "pid": os.getpid(), "boot": _boot_id()}
        self.peers = self.allgather_json(me, "start-up")
        # The ranks whose process this one can watch: same machine and boot, and visible here right
        # now (while every rank is alive), so another PID namespace never looks like a dead rank.
        self.watched = [r for r, p in enumerate(self.peers)
                        if r != self.rank and p["boot"] and (p["boot"], p["host"]) == (me["boot"], me["host"])
                        and not _process_gone(p)]

    # ------------------------------------------------------------------ waiting
    def wait(self, request, what):
        """Complete the MPI ``request``, or raise :class:`CollectiveTimeoutError` after the timeout
        (:class:`RankFailedError` as soon as a rank on this machine exits)."""
        self.current = what
        start = time.monotonic()
        deadline = start + self.timeout
        spin_end = start + _SPIN_S
        slow_end = start + _LONG_WAIT_S
        sleep = _SHORT_SLEEP_S
        next_check = start + _PEER_CHECK_S
        while not request.Test():
            now = time.monotonic()
            if now < spin_end:
                os.sched_yield()
                continue
            self._answer_probes()
            if now > next_check:
                self._check_local_peers(what)
                next_check = now + _PEER_CHECK_S
            if now > deadline:
                self._timed_out(what)
            time.sleep(sleep)
            if now > slow_end:
                sleep = min(sleep * 2, _MAX_SLEEP_S)
        self.current = None

    def _check_local_peers(self, what):
        """Raise at once when a rank on this machine has exited (no need to wait for the timeout)."""
        gone = [r for r in self.watched if _process_gone(self.peers[r])]
        if gone:
            who = ", ".join(self.describe(r) for r in gone)
            raise RankFailedError(
                f"gpuparams.distributed: {who} exited while rank {self.rank} waited in {what}; "
                "its own output above says why (a signal, an exit, or a crash)", gone)

    def next_name(self, kind, detail=""):
        """``'allreduce #12 (bucket 1/3)'``: the name of the next collective, counted on every rank."""
        self.seq += 1
        return f"{kind} #{self.seq}" + (f" ({detail})" if detail else "")

    def _answer_probes(self):
        status = self.MPI.Status()
        while self.ctl.Iprobe(source=self.MPI.ANY_SOURCE, tag=_PROBE_TAG, status=status):
            source = status.Get_source()
            buf = np.empty(1, dtype=np.int64)
            self.ctl.Recv(buf, source=source, tag=_PROBE_TAG)
            reply = np.array([self.seq], dtype=np.int64)
            self._pending_replies.append((self.ctl.Isend(reply, dest=source, tag=_ALIVE_TAG), reply))
        self._pending_replies = [(r, b) for r, b in self._pending_replies if not r.Test()]

    def _timed_out(self, what):
        probe = np.array([self.seq], dtype=np.int64)
        sends = [self.ctl.Isend(probe, dest=peer, tag=_PROBE_TAG)
                 for peer in range(self.size) if peer != self.rank]
        answers = {}
        status = self.MPI.Status()
        grace_end = time.monotonic() + min(_MAX_GRACE_S, max(0.5, self.timeout / 2))
        while len(answers) < self.size - 1 and time.monotonic() < grace_end:
            self._answer_probes()
            while self.ctl.Iprobe(source=self.MPI.ANY_SOURCE, tag=_ALIVE_TAG, status=status):
                buf = np.empty(1, dtype=np.int64)
                self.ctl.Recv(buf, source=status.Get_source(), tag=_ALIVE_TAG)
                answers[status.Get_source()] = int(buf[0])
            time.sleep(1e-3)
        del sends  # left to MPI: the job is about to end
        missing = [r for r in range(self.size) if r != self.rank and r not in answers]
        elsewhere = {r: s for r, s in answers.items() if s != self.seq}
        if missing:
            who = ", ".join(f"{r} ({self.peers[r]['host']}, pid {self.peers[r]['pid']})" for r in missing)
            cause = (f"rank{'s' if len(missing) > 1 else ''} {who} did not reach it (crashed, hung, or much "
                     "slower than the others)")
        elif elsewhere:
            cause = ("the ranks are in different collectives: " + ", ".join(
                f"rank {r} is at collective #{s}" for r, s in sorted(elsewhere.items()))
                + f" while this rank is at #{self.seq}; every rank must make the same calls in the same "
                "order")
        else:
            cause = "every rank answered and waits in it too (an MPI problem, or the timeout is too short)"
        raise CollectiveTimeoutError(
            f"gpuparams.distributed: {what} on rank {self.rank} of {self.size} timed out after "
            f"{self.timeout:g} s: {cause}. If the ranks legitimately need longer, raise the timeout "
            "(init(timeout=...) or GPUPARAMS_DIST_TIMEOUT).", missing)

    # ------------------------------------------------------------------ collectives on NumPy buffers
    def allreduce_inplace(self, buf, op, what):
        """Reduce the contiguous NumPy array ``buf`` in place across ranks (``op``: sum, max, min)."""
        mpi_op = {"sum": self.MPI.SUM, "max": self.MPI.MAX, "min": self.MPI.MIN}[op]
        self.wait(self.comm.Iallreduce(self.MPI.IN_PLACE, buf, op=mpi_op), what)

    def bcast_inplace(self, buf, root, what):
        """Overwrite the contiguous ``buf`` on every rank with ``root``'s (any dtype: sent as bytes)."""
        self.wait(self.comm.Ibcast(buf.reshape(-1).view(np.uint8), root=root), what)

    def allgatherv(self, buf, what):
        """Every rank's ``buf`` (1-D, any length), concatenated in rank order; also the lengths."""
        counts = np.empty(self.size, dtype=np.int64)
        mine = np.array([buf.size], dtype=np.int64)
        self.wait(self.comm.Iallgather(mine, counts), what)
        out = np.empty(int(counts.sum()), dtype=buf.dtype)
        displs = np.concatenate([[0], np.cumsum(counts)[:-1]])
        self.wait(self.comm.Iallgatherv(buf, [out, (counts.tolist(), displs.tolist())]), what)
        return out, counts

    def barrier(self, what):
        self.wait(self.comm.Ibarrier(), what)

    def allgather_json(self, value, detail):
        """Every rank's JSON-able ``value``, in rank order (control data; no pickle)."""
        raw = np.frombuffer(json.dumps(value).encode("utf-8"), dtype=np.uint8)
        flat, counts = self.allgatherv(raw, self.next_name("allgather", detail))
        bounds = np.concatenate([[0], np.cumsum(counts)])
        return [json.loads(flat[bounds[i]:bounds[i + 1]].tobytes().decode("utf-8")) for i in range(self.size)]

    def bcast_bytes(self, data, root, detail):
        """``root``'s bytes on every rank."""
        n = np.array([len(data) if self.rank == root else 0], dtype=np.int64)
        self.bcast_inplace(n, root, self.next_name("broadcast", detail))
        if self.rank == root:
            buf = np.frombuffer(data, dtype=np.uint8).copy()
        else:
            buf = np.empty(int(n[0]), np.uint8)
        self.bcast_inplace(buf, root, self.next_name("broadcast", detail))
        return buf.tobytes()

    # ------------------------------------------------------------------ failures
    def describe(self, rank=None):
        rank = self.rank if rank is None else rank
        peer = self.peers[rank]
        return f"rank {rank} of {self.size} ({peer['host']}, pid {peer['pid']})"

    def abort(self, code=1):
        sys.stdout.flush()
        sys.stderr.flush()
        # MPI_Abort makes the launcher kill every process at once, and MPICH's Hydra then drops what its
        # proxies have not yet forwarded from our pipes: without this pause about one abort in seven
        # here lost the whole output, the failure report included. The pause lets the proxy drain.
        time.sleep(_ABORT_DRAIN_S)
        self.comm.Abort(code)

    def install_failure_hooks(self):
        """End every rank on an uncaught exception here; say which ranks are gone on SIGTERM."""
        previous = sys.excepthook

        def excepthook(exc_type, exc, tb):
            print(f"gpuparams.distributed: {self.describe()} failed with {exc_type.__name__}: {exc}; "
                  f"ending all {self.size} ranks", file=sys.stderr)
            previous(exc_type, exc, tb)
            self.abort(1)

        sys.excepthook = excepthook
        try:
            if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:
                signal.signal(signal.SIGTERM, self._on_sigterm)
        except ValueError:  # not the main thread: keep the default
            pass

    def _on_sigterm(self, signum, frame):
        # The launcher stops the remaining ranks when one dies; name the ones that are gone (those on
        # this host can be checked), since the launcher itself only prints a process id.
        gone = [r for r in self.watched if _process_gone(self.peers[r])]
        lost = ("; " + ", ".join(self.describe(r) for r in gone) + " exited before it") if gone else ""
        where = f" in {self.current}" if self.current else ""
        print(f"gpuparams.distributed: {self.describe()} was stopped by SIGTERM{where}, usually the "
              f"launcher ending the job because another rank failed{lost}", file=sys.stderr)
        sys.stderr.flush()
        os._exit(128 + signum)


def _boot_id():
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as f:
            return f.read().strip()
    except OSError:  # not Linux: no watching, the timeout still applies
        return ""


def _process_gone(peer):
    try:
        with open(f"/proc/{peer['pid']}/stat", encoding="ascii") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


def start(timeout):
    """Start MPI (if the launcher has not) and return this process's :class:`World`."""
    MPI = _import_mpi()
    if not MPI.Is_initialized():
        MPI.Init_thread()
    world = World(MPI, MPI.COMM_WORLD, timeout)
    world.install_failure_hooks()
    return world
