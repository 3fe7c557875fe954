"""The benchmark runner: gate, warm up, time A/B interleaved under NVML, and build the rows.

A suite is a list of :class:`Case` objects. Each case knows how to *build* its inputs (lazily, so
listing a suite allocates nothing) and returns a :class:`Bound` with three callables: the gpuparams side,
the baseline side and the float64 reference. :class:`Runner` then, per case:

1. times the first call of each side on its own (compilation, handle creation, allocator growth);
2. runs the correctness gate: both sides against the float64 reference; a side that fails is never timed;
3. per timing mode (``kernel``, ``pipelined`` or ``host``): warms up, then runs ``rounds`` rounds of
   ``reps`` repetitions, alternating which side goes first (A B, B A, ...) so slow drifts such as clock
   changes hit both sides equally, while an NVML sampler watches the whole section; a section in which
   a throttle reason fired is run again, up to ``max_reruns`` times;
4. turns the pooled repetition times into a row (median, p10/p90, ratio, TFLOP/s, GB/s, roofline).
"""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, Callable, Optional, Sequence

from ..errors import SkipCase
from .gate import DEFAULT_TOLERANCE, check_close
from .peaks import roofline_ms
from .stats import summarize_times

__all__ = ["Case", "Bound", "SkipCase", "Runner", "NullSampler", "build_row", "ROW_KEYS"]


@dataclass
class Bound:
    """A case with its inputs allocated.

    Attributes
    ----------
    gpuparams : callable
        The timed gpuparams call (no arguments; it closes over its inputs).
    baseline : callable or None
        The timed baseline call.
    reference : callable
        Returns the float64 expected result (array or tuple/dict of arrays).
    check_gpuparams, check_baseline : callable, optional
        Run once for the gate and return what to compare. Default: the timed call's return value. A
        training step uses this to reset the weights before the checked step.
    close : callable, optional
        Frees the inputs after the case.
    baseline_skipped : str, optional
        Why there is no baseline (e.g. PyTorch not installed); gpuparams is still gated and timed, so
        the row keeps its absolute numbers.
    """

    gpuparams: Callable[[], Any]
    baseline: Optional[Callable[[], Any]]
    reference: Callable[[], Any]
    check_gpuparams: Optional[Callable[[], Any]] = None
    check_baseline: Optional[Callable[[], Any]] = None
    close: Optional[Callable[[], None]] = None
    baseline_skipped: Optional[str] = None


@dataclass
class Case:
    """One benchmark row (per timing mode): what is compared, on what shape, and how much work it is.

    Attributes
    ----------
    suite, name, shape : str
        Identify the row (``shape`` is human-readable, e.g. ``"256x1024->1024"``).
    baseline : str or None
        Name of what gpuparams is compared with (``"cupy.matmul"``, ``"torch eager"``, ``"numpy"``).
    build : callable
        Allocates inputs and returns a :class:`Bound`; raises :class:`SkipCase` when it cannot run.
    flops : float
        Floating-point operations of one call (for TFLOP/s).
    bytes : float
        Minimum bytes one call must move to or from memory (for GB/s and the roofline).
    terms : sequence of (flops, bytes), optional
        Operations that run one after another; the roofline floor is the sum of their floors. Default:
        the single term ``(flops, bytes)``.
    modes : tuple of str
        Timing modes this case supports.
    tolerance : float
        Correctness-gate tolerance (max relative error against float64).
    note : str
        Free text copied into the row.
    reps : int, optional
        Caps the runner's repetitions per round for a case whose single call is long (a whole
        training run), so the suite stays minutes, not hours.
    """

    suite: str
    name: str
    shape: str
    baseline: Optional[str]
    build: Callable[[], Bound]
    flops: float = 0.0
    bytes: float = 0.0
    terms: Sequence = ()
    modes: tuple = ("kernel", "pipelined")
    tolerance: float = DEFAULT_TOLERANCE
    note: str = ""
    reps: Optional[int] = None

    @property
    def roofline_terms(self):
        """``terms`` if given, else ``[(flops, bytes)]``."""
        return list(self.terms) if self.terms else [(self.flops, self.bytes)]


class NullSampler:
    """Stands in for :class:`gpuparams.telemetry.Sampler` where there is no GPU to watch."""

    def __init__(self, reason="no GPU telemetry for this suite"):
        self.reason = reason

    def start(self):
        """Nothing to start."""
        return self

    def stop(self):
        """Return the "unavailable" summary."""
        return {"available": False, "reason": self.reason}


#: Keys every row has (the ones issue 7 names first, then the detail).
ROW_KEYS = (
    "suite", "name", "shape", "baseline", "gpuparams_ms", "baseline_ms", "ratio", "gpuparams_tflops",
    "correct", "nvml",
    "mode", "gpuparams_p10_ms", "gpuparams_p90_ms", "baseline_p10_ms", "baseline_p90_ms",
    "baseline_tflops", "gpuparams_gbps", "roofline_ms", "roofline_fraction", "flops", "bytes",
    "max_rel_err", "baseline_correct", "baseline_max_rel_err", "gate", "compile_ms",
    "baseline_first_ms", "reps", "rounds", "inner", "reruns", "skipped", "baseline_skipped", "error",
    "note",
)


def _empty_row(case, mode):
    row = dict.fromkeys(ROW_KEYS)
    row.update(suite=case.suite, name=case.name, shape=case.shape, baseline=case.baseline, mode=mode,
               flops=float(case.flops), bytes=float(case.bytes), note=case.note or None)
    return row


def _rate(amount, ms, scale):
    if not amount or not ms:
        return None
    return amount / (ms * 1e-3) / scale


def build_row(case, mode, gp_times, baseline_times=None, *, peaks=None, gate=None,
              baseline_gate=None, nvml=None, compile_ms=None, baseline_first_ms=None, rounds=None,
              inner=None, reruns=0):
    """Assemble one result row from the pooled repetition times of both sides.

    ``ratio`` is baseline time / gpuparams time (above 1: gpuparams is faster); TFLOP/s and GB/s use the
    medians; ``roofline_fraction`` is the roofline floor divided by the gpuparams median (1.0 would be
    at the hardware limit).

    Parameters
    ----------
    case : Case
    mode : str
    gp_times, baseline_times : sequence of float or None
        Per-repetition milliseconds; ``baseline_times`` None when the baseline was not timed.
    peaks : dict, optional
        ``{"tflops", "tbps"}`` of the device, for the roofline.
    gate, baseline_gate : GateResult, optional
    nvml : dict, optional
        The sampler summary of the section.

    Returns
    -------
    dict
        Keys :data:`ROW_KEYS`.
    """
    row = _empty_row(case, mode)
    row.update(nvml=nvml, compile_ms=compile_ms, baseline_first_ms=baseline_first_ms, rounds=rounds,
               inner=inner, reruns=reruns)
    if gate is not None:
        row.update(correct=bool(gate.ok), max_rel_err=gate.max_rel_err,
                   gate=None if gate.ok else gate.reason)
    if baseline_gate is not None:
        row.update(baseline_correct=bool(baseline_gate.ok), baseline_max_rel_err=baseline_gate.max_rel_err)
        if not baseline_gate.ok:
            row["gate"] = f"baseline refused: {baseline_gate.reason}"
    if gp_times:
        gp = summarize_times(gp_times)
        row.update(gpuparams_ms=gp.median_ms, gpuparams_p10_ms=gp.p10_ms, gpuparams_p90_ms=gp.p90_ms,
                   reps=gp.n,
                   gpuparams_tflops=_rate(case.flops, gp.median_ms, 1e12),
                   gpuparams_gbps=_rate(case.bytes, gp.median_ms, 1e9))
        floor = roofline_ms(case.roofline_terms, peaks)
        if floor is not None:
            row.update(roofline_ms=floor, roofline_fraction=floor / gp.median_ms if gp.median_ms else None)
    if baseline_times:
        base = summarize_times(baseline_times)
        row.update(baseline_ms=base.median_ms, baseline_p10_ms=base.p10_ms, baseline_p90_ms=base.p90_ms,
                   baseline_tflops=_rate(case.flops, base.median_ms, 1e12))
        if row["gpuparams_ms"]:
            row["ratio"] = base.median_ms / row["gpuparams_ms"]
    return row


def _describe_error(exc):
    text = f"{type(exc).__name__}: {exc}"
    return text.splitlines()[0] if text else type(exc).__name__


class Runner:
    """Runs cases and returns rows.

    Parameters
    ----------
    timers : dict
        ``{mode: timer}`` for the modes to run (see :mod:`gpuparams.bench.timers`).
    reps : int
        Repetitions per side per round.
    rounds : int
        Interleaved A/B rounds (the order alternates every round).
    warmup : int
        Untimed calls of each side before timing, per mode.
    sampler_factory : callable, optional
        Returns a fresh sampler (``start()`` / ``stop() -> summary``) per timed section. Default:
        :class:`NullSampler`.
    max_reruns : int
        How often a section whose NVML summary says ``throttled`` is run again.
    peaks : dict, optional
        Device ceilings for the roofline.
    log : callable, optional
        Receives one progress line per event (default: print to stderr).
    """

    def __init__(self, timers, *, reps=20, rounds=5, warmup=3, sampler_factory=None, max_reruns=2,
                 peaks=None, log=None):
        if reps < 1 or rounds < 1 or warmup < 0 or max_reruns < 0:
            raise ValueError("reps and rounds must be >= 1, warmup and max_reruns >= 0")
        self.timers = dict(timers)
        self.reps = int(reps)
        self.rounds = int(rounds)
        self.warmup = int(warmup)
        self.sampler_factory = sampler_factory or NullSampler
        self.max_reruns = int(max_reruns)
        self.peaks = peaks
        self.log = log or (lambda line: print(line, file=sys.stderr, flush=True))

    def modes_for(self, case):
        """The timing modes both the case and this runner support, in the runner's order."""
        return [mode for mode in self.timers if mode in case.modes]

    def run(self, cases):
        """Run every case; returns all rows in order."""
        rows = []
        for case in cases:
            rows.extend(self.run_case(case))
        return rows

    def run_case(self, case):
        """Rows for one case: one per supported mode (or one skipped / failed row)."""
        modes = self.modes_for(case)
        if not modes:
            row = _empty_row(case, None)
            row["skipped"] = f"no timer for modes {list(case.modes)} in this run"
            return [row]
        label = f"[{case.suite}] {case.name} {case.shape} vs {case.baseline}"
        try:
            bound = case.build()
        except SkipCase as exc:
            self.log(f"{label}: skipped ({exc})")
            row = _empty_row(case, modes[0])
            row["skipped"] = str(exc)
            return [row]
        except Exception as exc:  # a case that cannot even set up is a failed row, not a crash
            self.log(f"{label}: setup failed ({_describe_error(exc)})")
            row = _empty_row(case, modes[0])
            row.update(correct=False, error=f"setup failed: {_describe_error(exc)}")
            return [row]
        try:
            return self._run_bound(case, bound, modes, label)
        finally:
            if bound.close is not None:
                bound.close()

    def _run_bound(self, case, bound, modes, label):
        rows = self._run_bound_rows(case, bound, modes, label)
        if bound.baseline_skipped:
            for row in rows:
                row["baseline_skipped"] = bound.baseline_skipped
        return rows

    def _run_bound_rows(self, case, bound, modes, label):
        first_timer = self.timers[modes[0]]
        try:
            compile_ms = first_timer.first_call(bound.gpuparams)
            checked = (bound.check_gpuparams or bound.gpuparams)()
            expected = bound.reference()  # computed once, for both sides' gates
            gate = check_close(checked, expected, case.tolerance)
        except Exception as exc:
            self.log(f"{label}: gpuparams side failed ({_describe_error(exc)})")
            row = _empty_row(case, modes[0])
            row.update(correct=False, error=f"gpuparams failed: {_describe_error(exc)}")
            return [row]
        baseline_first_ms = baseline_gate = None
        baseline = bound.baseline
        baseline_error = None
        if baseline is not None:
            try:
                baseline_first_ms = first_timer.first_call(baseline)
                baseline_gate = check_close((bound.check_baseline or baseline)(), expected,
                                            case.tolerance)
            except Exception as exc:
                baseline_error = f"baseline failed: {_describe_error(exc)}"
                self.log(f"{label}: {baseline_error}")
                baseline = None
            if baseline_gate is not None and not baseline_gate.ok:
                # A wrong baseline (TF32 left on, a broken install) must not produce a ratio.
                self.log(f"{label}: baseline refused by the gate ({baseline_gate.reason})")
                baseline = None
        if not gate.ok:
            self.log(f"{label}: REFUSED by the correctness gate ({gate.reason}); not timed")
            rows = []
            for mode in modes:
                row = build_row(case, mode, None, None, gate=gate, baseline_gate=baseline_gate,
                                compile_ms=compile_ms, baseline_first_ms=baseline_first_ms)
                row["error"] = baseline_error
                rows.append(row)
            return rows
        rows = []
        for mode in modes:
            try:
                reps = min(self.reps, case.reps) if case.reps else self.reps
                gp_times, base_times, nvml, reruns, inner = self._time_section(
                    self.timers[mode], bound.gpuparams, baseline, label, mode, reps,
                    min(self.warmup, 1) if case.reps else self.warmup)
            except Exception as exc:
                self.log(f"{label} [{mode}]: timing failed ({_describe_error(exc)})")
                row = build_row(case, mode, None, None, gate=gate, baseline_gate=baseline_gate,
                                compile_ms=compile_ms, baseline_first_ms=baseline_first_ms)
                row["error"] = f"timing failed: {_describe_error(exc)}"
                rows.append(row)
                continue
            row = build_row(case, mode, gp_times, base_times, peaks=self.peaks, gate=gate,
                            baseline_gate=baseline_gate, nvml=nvml, compile_ms=compile_ms,
                            baseline_first_ms=baseline_first_ms, rounds=self.rounds, inner=inner,
                            reruns=reruns)
            row["error"] = baseline_error
            _note_dispatch(row, self.timers[mode], bound.gpuparams, baseline)
            rows.append(row)
            self.log(_progress_line(label, row))
        return rows

    def _time_section(self, timer, gp_fn, baseline_fn, label, mode, reps, warmup):
        fns = [gp_fn] if baseline_fn is None else [gp_fn, baseline_fn]
        if warmup:
            for fn in fns:
                timer.measure(fn, warmup)
        inner = timer.calibrate(*fns)
        reruns = 0
        while True:
            samples = [[] for _ in fns]
            sampler = self.sampler_factory()
            sampler.start()
            try:
                for r in range(self.rounds):
                    order = range(len(fns)) if r % 2 == 0 else range(len(fns) - 1, -1, -1)
                    for i in order:
                        samples[i].extend(timer.measure(fns[i], reps))
            finally:
                nvml = sampler.stop()
            if nvml and nvml.get("throttled") and reruns < self.max_reruns:
                reruns += 1
                names = ", ".join(nvml.get("clock_event_reason_names") or [])
                self.log(f"{label} [{mode}]: throttled ({names}); re-running the section "
                         f"({reruns}/{self.max_reruns})")
                continue
            break
        return samples[0], (samples[1] if baseline_fn is not None else None), nvml, reruns, inner


def _note_dispatch(row, timer, gp_fn, baseline_fn):
    """Kernel mode: record the device spin and the host enqueue times beside the GPU times."""
    dispatch = getattr(timer, "dispatch_ms", None)
    if not dispatch or gp_fn not in dispatch:
        return
    text = f"spin {timer.spin_us:.0f} us after the L2 flush; host enqueue gpuparams {dispatch[gp_fn]:.4g} ms"
    if baseline_fn is not None and baseline_fn in dispatch:
        text += f", baseline {dispatch[baseline_fn]:.4g} ms"
    row["note"] = f"{row['note']}; {text}" if row.get("note") else text


def _fmt_ms(value):
    return "-" if value is None else f"{value:.4g} ms"


def _progress_line(label, row):
    text = f"{label} [{row['mode']}]: gpuparams {_fmt_ms(row['gpuparams_ms'])}"
    if row["baseline_ms"] is not None:
        text += f", baseline {_fmt_ms(row['baseline_ms'])}, ratio {row['ratio']:.3f}"
    if row.get("nvml") and row["nvml"].get("throttled"):
        text += " (throttled)"
    return text
