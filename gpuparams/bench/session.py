"""One benchmark invocation: set up each device, run the suites, write the results, print the tables.

:func:`run_benchmarks` is what ``python -m gpuparams bench`` calls; it is also the Python entry point
(``from gpuparams.bench import BenchOptions, run_benchmarks``).
"""
from __future__ import annotations

import datetime as _dt
import json
import os
import re
import sys
import types
from dataclasses import dataclass, field
from typing import Optional

import numpy as np

from . import report
from .env import cpu_device, gpu_device, host_threads, pin_tf32_off_env, versions
from .harness import NullSampler, Runner
from .peaks import datasheet_peaks, measure_gpu_peaks, measure_host_peaks
from .suites import SUITES, SuiteEnv, load_suite
from .timers import CudaEventTimer, HostTimer

__all__ = ["BenchOptions", "BenchOutcome", "run_benchmarks", "list_cases", "GPU_MODES"]

#: Timing modes of GPU suites, in the order they run.
GPU_MODES = ("kernel", "pipelined")


@dataclass
class BenchOptions:
    """Everything ``gpuparams bench`` can be told.

    Attributes
    ----------
    suites : list of str
        Suite names (``kernels``, ``train``, ``cpu``); ``["all"]`` means every suite this machine can run.
    modes : list of str or None
        GPU timing modes to run (``kernel``, ``pipelined``); None: both.
    reps, rounds, warmup : int
        Repetitions per side per round, interleaved rounds, untimed warm-up calls.
    max_reruns : int
        Re-runs of a section in which NVML saw a throttle reason.
    out_dir : str
        Where ``<device>-<date>.json`` (and ``.png``) go.
    write : bool
        Write the JSON (and chart) at all.
    chart : bool
        Draw the PNG when matplotlib is installed.
    device : int
        CUDA device index for GPU suites.
    measure_peaks : bool
        Measure FP32 FLOP/s and copy bandwidth instead of using the datasheet.
    peak_tflops, peak_tbps : float, optional
        Override the roofline ceilings.
    filter : str, optional
        Regular expression; only cases whose ``"<name> <shape> <baseline>"`` matches run.
    threads : int, optional
        Threads for PyTorch CPU (default: what NumPy's BLAS uses).
    seed : int
        Seed of every input.
    nvml_hz : float
        NVML sampling rate.
    shapes : dict
        Per-suite shape overrides (tests).
    argv : list of str
        The command line, recorded in the results file.
    """

    suites: list = field(default_factory=lambda: ["all"])
    modes: Optional[list] = None
    reps: int = 20
    rounds: int = 5
    warmup: int = 3
    max_reruns: int = 2
    out_dir: str = os.path.join("benchmarks", "results")
    write: bool = True
    chart: bool = True
    device: int = 0
    measure_peaks: bool = False
    peak_tflops: Optional[float] = None
    peak_tbps: Optional[float] = None
    filter: Optional[str] = None
    threads: Optional[int] = None
    seed: int = 0
    nvml_hz: float = 15.0
    shapes: dict = field(default_factory=dict)
    argv: list = field(default_factory=list)


@dataclass
class BenchOutcome:
    """What a run produced.

    Attributes
    ----------
    results : list of dict
        One results object per device (GPU suites and the CPU suite go to different files).
    files : list of str
        Files written (JSON and PNG).
    unavailable : dict
        ``{suite: reason}`` for requested suites that could not run here.
    messages : list of str
        Notes printed before the tables (where files went, why there is no chart, ...).
    """

    results: list = field(default_factory=list)
    files: list = field(default_factory=list)
    unavailable: dict = field(default_factory=dict)
    messages: list = field(default_factory=list)

    @property
    def rows(self):
        """All rows of all results."""
        return [row for result in self.results for row in result["rows"]]

    @property
    def any_incorrect(self):
        """Whether a row failed its correctness gate, or its gpuparams side failed to run or be timed.

        A baseline that fails is reported in its row but is not a gpuparams failure.
        """
        return any(row.get("correct") is False
                   or (row.get("error") and row.get("gpuparams_ms") is None and not row.get("skipped"))
                   for row in self.rows)


def _expand_suites(names):
    if not names or "all" in names:
        return list(SUITES), True
    seen = []
    for name in names:
        load_suite(name)  # raises ValueError for an unknown name
        if name not in seen:
            seen.append(name)
    return seen, False


def _select(cases, pattern):
    if not pattern:
        return cases
    regex = re.compile(pattern)
    return [c for c in cases if regex.search(f"{c.name} {c.shape} {c.baseline}")]


def _peaks(opts, datasheet_name=None, measure=None):
    if opts.peak_tflops and opts.peak_tbps:
        return {"tflops": opts.peak_tflops, "tbps": opts.peak_tbps, "source": "given on the command line"}
    peaks = None
    if opts.measure_peaks and measure is not None:
        peaks = measure()
    elif datasheet_name is not None:
        peaks = datasheet_peaks(datasheet_name)
    if peaks and (opts.peak_tflops or opts.peak_tbps):
        peaks = dict(peaks, source=f"{peaks['source']}, partly given on the command line")
        peaks["tflops"] = opts.peak_tflops or peaks["tflops"]
        peaks["tbps"] = opts.peak_tbps or peaks["tbps"]
    return peaks


def _gpu_group(opts, log):
    """Device, env, timers and sampler for the GPU suites, or (None, reason)."""
    from .. import backend, telemetry
    from ..context import gpu
    if backend.emulation_enabled():
        return None, (f"{backend.EMULATE_ENV}=1 is set: gpu(0) is the CPU emulator, and the GPU suites "
                      f"time real GPUs only (unset it to benchmark a GPU)")
    tf32 = pin_tf32_off_env()
    ctx = gpu(opts.device)
    try:
        cupy = backend.cupy_module(ctx)
    except backend.GPUUnavailableError as exc:
        # The backend's message suggests the emulator as a way to get a gpu(0); for timing that
        # would be a false hint (see the emulation check above), so it is taken out here.
        reason = re.sub(rf",? or set {backend.EMULATE_ENV}=1 to emulate gpu\(0\)( on the CPU)?", "", str(exc))
        reason = reason.replace(" Use gp.cpu(0).", "")
        return None, (f"needs a real NVIDIA GPU: {reason} The GPU suites time real GPUs only; "
                      f"{backend.EMULATE_ENV}=1 does not make them run. Use --suite cpu on this machine.")
    cupy.cuda.Device(opts.device).use()
    info = versions()
    nvml_report = telemetry.query_devices()
    props = cupy.cuda.runtime.getDeviceProperties(opts.device)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    sm_count = int(props["multiProcessorCount"])
    peaks = _peaks(opts, name, lambda: measure_gpu_peaks(cupy, sm_count))
    if peaks and peaks.get("source") == "measured":
        log(f"measured ceilings: {peaks['tflops']:.1f} TFLOP/s FP32, {peaks['tbps']:.2f} TB/s")
    device = gpu_device(cupy, opts.device, nvml_report, info, peaks=peaks, tf32=tf32)
    timers = {"kernel": CudaEventTimer(cupy),
              "pipelined": HostTimer(sync=cupy.cuda.runtime.deviceSynchronize, mode="pipelined",
                                     target_ms=10.0, min_inner=5)}
    if opts.modes:
        timers = {mode: timer for mode, timer in timers.items() if mode in opts.modes}
    bus_id = cupy.cuda.Device(opts.device).pci_bus_id
    interval = 1.0 / opts.nvml_hz
    if nvml_report["available"]:
        def sampler_factory():
            return telemetry.Sampler(bus_id, interval_s=interval)
    else:
        reason = nvml_report["reason"]

        def sampler_factory():
            return NullSampler(reason)
    env = SuiteEnv(kind="gpu", ctx=ctx, xp=cupy, torch_device=f"cuda:{opts.device}", seed=opts.seed,
                   shapes=opts.shapes)
    return (device, env, timers, sampler_factory, peaks), None


def _cpu_group(opts, log):
    from ..context import cpu
    threads = opts.threads or host_threads()
    peaks = _peaks(opts, None, measure_host_peaks)
    if peaks and peaks.get("source") == "measured":
        log(f"measured host ceilings: {peaks['tflops'] * 1e3:.1f} GFLOP/s FP32, "
            f"{peaks['tbps'] * 1e3:.1f} GB/s")
    device = cpu_device(threads, versions(import_cupy=False), peaks=peaks)
    device["numpy_threads"] = host_threads()
    env = SuiteEnv(kind="cpu", ctx=cpu(0), xp=np, torch_device="cpu", threads=threads, seed=opts.seed,
                   shapes=opts.shapes)
    timers = {"host": HostTimer(mode="host")}

    def sampler_factory():
        return NullSampler("CPU suite: no GPU to watch")
    return (device, env, timers, sampler_factory, peaks), None


def list_cases(suites):
    """``[(suite, name, shape, baseline, modes)]`` without building anything (``--list``)."""
    names, _ = _expand_suites(suites)
    listed = []
    for name in names:
        module = load_suite(name)
        if module.DEVICE == "gpu":
            env = SuiteEnv(kind="gpu", ctx=None, xp=types.SimpleNamespace(__name__="cupy"),
                           torch_device="cuda:0")
        else:
            env = SuiteEnv(kind="cpu", ctx=None, xp=np, torch_device="cpu", threads=host_threads())
        for case in module.cases(env):
            listed.append((case.suite, case.name, case.shape, case.baseline, case.modes))
    return listed


def _settings(opts, timers):
    settings = {"reps": opts.reps, "rounds": opts.rounds, "warmup": opts.warmup,
                "max_reruns": opts.max_reruns, "modes": list(timers), "seed": opts.seed,
                "nvml_hz": opts.nvml_hz, "filter": opts.filter, "tolerance": 1e-4}
    for mode, timer in timers.items():
        if isinstance(timer, CudaEventTimer):
            settings["l2_flush_bytes"] = timer.flush_bytes
        else:
            settings[f"{mode}_target_ms"] = timer.target_ms
    return settings


def _load_existing(path):
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, ValueError):
        return None


def run_benchmarks(opts, log=None, out=None):
    """Run the requested suites, write one results file per device, print notes and then the tables.

    Parameters
    ----------
    opts : BenchOptions
    log : callable, optional
        Progress lines (default: stderr).
    out : file, optional
        Where the notes and Markdown tables go (default: stdout). The tables are printed last.

    Returns
    -------
    BenchOutcome
    """
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    out = out or sys.stdout
    names, all_requested = _expand_suites(opts.suites)
    outcome = BenchOutcome()
    groups = {"gpu": [n for n in names if load_suite(n).DEVICE == "gpu"],
              "cpu": [n for n in names if load_suite(n).DEVICE == "cpu"]}
    tables = []
    for kind, suite_names in groups.items():
        if not suite_names:
            continue
        setup, reason = (_gpu_group if kind == "gpu" else _cpu_group)(opts, log)
        if setup is None:
            for name in suite_names:
                if all_requested:
                    outcome.messages.append(f"suite {name}: not run here ({reason})")
                else:
                    outcome.unavailable[name] = reason
            continue
        device, env, timers, sampler_factory, peaks = setup
        runner = Runner(timers, reps=opts.reps, rounds=opts.rounds, warmup=opts.warmup,
                        sampler_factory=sampler_factory, max_reruns=opts.max_reruns, peaks=peaks,
                        log=log)
        rows = []
        for name in suite_names:
            cases = _select(load_suite(name).cases(env), opts.filter)
            log(f"suite {name}: {len(cases)} case(s) on {device['name']}")
            rows.extend(runner.run(cases))
        result = {
            "schema": report.SCHEMA,
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "command": " ".join(opts.argv) if opts.argv else None,
            "suites": suite_names,
            "device": device,
            "settings": _settings(opts, timers),
            "rows": rows,
        }
        problems = report.validate_result(result)
        if problems:  # a harness bug: say it loudly rather than write a file readers will trust
            raise RuntimeError("benchmark result does not follow the schema: " + "; ".join(problems))
        outcome.results.append(result)
        timed = [row for row in rows if row.get("gpuparams_ms") is not None]
        if opts.write and timed:
            path = report.results_path(opts.out_dir, device["name"])
            merged = report.merge_results(_load_existing(path), result)
            report.write_json_atomic(merged, path)
            outcome.files.append(path)
            outcome.messages.append(f"results: {path}")
            if opts.chart:
                chart = report.write_chart(merged, path[:-len(".json")] + ".png")
                if chart:
                    outcome.files.append(chart)
                    outcome.messages.append(f"chart: {chart}")
                else:
                    outcome.messages.append("chart: not drawn (matplotlib is not installed)")
        elif opts.write:
            outcome.messages.append(f"{'/'.join(suite_names)}: nothing was timed, so no results file "
                                    f"was written")
        tables.append((device["name"], suite_names, rows, peaks))
    for name, reason in outcome.unavailable.items():
        outcome.messages.append(f"suite {name}: cannot run here: {reason}")
    for message in outcome.messages:
        print(message, file=out)
    for device_name, suite_names, rows, peaks in tables:
        print(f"\n### {', '.join(suite_names)} on {device_name}\n", file=out)
        print(report.markdown_table(rows, peaks), file=out)
    out.flush()
    return outcome
