"""``python -m gpuparams bench``: run the benchmark suites and write ``benchmarks/results``.

Examples::

    python -m gpuparams bench --suite cpu                 # CPU suite (NumPy backend vs PyTorch CPU)
    python -m gpuparams bench --suite dist --procs 2      # allreduce bandwidth, scaling (mpiexec jobs)
    python -m gpuparams bench --suite kernels --mode kernel
    python -m gpuparams bench --suite kernels,train --filter 4096
    python -m gpuparams bench --list

Exit codes: 0 when every timed row passed its correctness gate; 1 when a row was refused by the gate or
failed; 2 for bad arguments; 3 when a requested suite cannot run on this machine (e.g. ``kernels``
without a GPU) or nothing could be timed.
"""
from __future__ import annotations

import argparse
import math
import re
import sys

from . import OneLineErrorParser, UsageError, one_line, probe_writable

__all__ = ["add_arguments", "run", "main", "options_from_args", "DIST_SUITE"]

#: The suite of multi-process jobs (``gpuparams.bench.dist``), outside the harness's suites.
DIST_SUITE = "dist"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``bench``'s options to ``parser``."""
    parser.add_argument("--suite", action="append", metavar="NAME",
                        help="kernels, train, cpu, dist or all (repeatable, or comma-separated; default "
                             "all, which leaves out dist: it starts mpiexec jobs)")
    parser.add_argument("--mode", action="append", metavar="MODE",
                        help="GPU timing mode: kernel (CUDA events, L2 flushed) or pipelined "
                             "(back-to-back, host-timed); default both")
    parser.add_argument("--reps", type=int, default=None, help="repetitions per side per round (20)")
    parser.add_argument("--rounds", type=int, default=None, help="interleaved A/B rounds (5)")
    parser.add_argument("--warmup", type=int, default=None, help="untimed calls per side first (3)")
    parser.add_argument("--quick", action="store_true",
                        help="a fast smoke run: 2 rounds of 5 reps, 1 warm-up call")
    parser.add_argument("--max-reruns", type=int, default=2,
                        help="re-run a section in which NVML saw throttling up to N times (2)")
    parser.add_argument("--filter", metavar="REGEX",
                        help="only cases whose 'name shape baseline' matches this regular expression")
    parser.add_argument("--out", metavar="DIR", default="benchmarks/results",
                        help="directory of <device>-<date>.json and .png (default benchmarks/results)")
    parser.add_argument("--no-write", action="store_true", help="print the table, write no file")
    parser.add_argument("--no-chart", action="store_true", help="write no PNG chart")
    parser.add_argument("--device", type=int, default=0, help="CUDA device index (0)")
    parser.add_argument("--measure-peaks", action="store_true",
                        help="measure FP32 FLOP/s and copy bandwidth for the roofline instead of using "
                             "the datasheet")
    parser.add_argument("--peak-tflops", type=float, default=None, help="roofline FP32 peak, TFLOP/s")
    parser.add_argument("--peak-tbps", type=float, default=None, help="roofline bandwidth, TB/s")
    parser.add_argument("--threads", type=int, default=None,
                        help="CPU threads for PyTorch (default: as many as NumPy's BLAS uses)")
    parser.add_argument("--seed", type=int, default=0, help="seed of every input (0)")
    parser.add_argument("--nvml-hz", type=float, default=15.0, help="NVML sampling rate (15)")
    parser.add_argument("--list", action="store_true", help="list the cases and exit")
    parser.add_argument("--procs", type=int, default=2,
                        help="suite dist: ranks of the allreduce jobs, and the largest job of the scaling "
                             "rows (2)")


def _positive(name, value, minimum=1):
    if value is not None and value < minimum:
        raise UsageError(f"{name} must be >= {minimum}, got {value}")
    return value


def options_from_args(args, argv=None):
    """Turn parsed arguments into :class:`gpuparams.bench.BenchOptions`.

    Raises
    ------
    gpuparams.cli.UsageError
        For a value argparse cannot check (unknown suite or mode, bad regex, a count below its minimum).
    """
    from ..bench import BenchOptions, SUITES
    from ..bench.session import GPU_MODES
    suites = []
    for item in args.suite or ["all"]:
        for name in item.split(","):
            name = name.strip()
            if not name:
                continue
            if name != "all" and name not in SUITES and name != DIST_SUITE:
                raise UsageError(f"unknown suite {name!r}: choose from {', '.join(SUITES)}, "
                                 f"{DIST_SUITE} or all")
            if name not in suites:
                suites.append(name)
    if not suites:
        raise UsageError("--suite needs a name")
    modes = None
    if args.mode:
        modes = []
        for item in args.mode:
            for mode in item.split(","):
                mode = mode.strip()
                if mode not in GPU_MODES:
                    raise UsageError(f"unknown mode {mode!r}: choose {' or '.join(GPU_MODES)}")
                modes.append(mode)
    if args.filter:
        try:
            re.compile(args.filter)
        except re.error as exc:
            raise UsageError(f"--filter is not a valid regular expression: {exc}") from None
    for name in ("reps", "rounds"):
        _positive(f"--{name}", getattr(args, name))
    _positive("--warmup", args.warmup, 0)
    _positive("--max-reruns", args.max_reruns, 0)
    _positive("--device", args.device, 0)
    _positive("--threads", args.threads)
    _positive("--seed", args.seed, 0)  # seeds NumPy generators, which refuse negative seeds per case
    _positive("--procs", getattr(args, "procs", 1))
    if args.nvml_hz <= 0 or args.nvml_hz > 1000:
        raise UsageError(f"--nvml-hz must be in (0, 1000], got {args.nvml_hz}")
    for name in ("peak_tflops", "peak_tbps"):
        value = getattr(args, name)
        if value is not None and not (0 < value < math.inf):  # NaN fails this too
            raise UsageError(f"--{name.replace('_', '-')} must be positive and finite, got {value}")
    quick = (5, 2, 1) if args.quick else (20, 5, 3)
    return BenchOptions(
        suites=suites, modes=modes,
        reps=args.reps or quick[0], rounds=args.rounds or quick[1],
        warmup=quick[2] if args.warmup is None else args.warmup,
        max_reruns=args.max_reruns, out_dir=args.out, write=not args.no_write,
        chart=not args.no_chart, device=args.device, measure_peaks=args.measure_peaks,
        peak_tflops=args.peak_tflops, peak_tbps=args.peak_tbps, filter=args.filter,
        threads=args.threads, seed=args.seed, nvml_hz=args.nvml_hz,
        argv=["gpuparams", "bench"] + list(argv if argv is not None else sys.argv[1:]))


def run(args) -> int:
    """Run the benchmarks described by ``args``; returns the exit code (see the module docstring)."""
    from ..bench import list_cases, run_benchmarks
    try:
        opts = options_from_args(args, getattr(args, "_argv", None))
    except UsageError as exc:
        print(f"gpuparams bench: error: {one_line(exc)}", file=sys.stderr)
        return 2
    if opts.write and not args.list:
        # Checked before any timing: a results folder that cannot be written would otherwise be
        # found out only after the whole run.
        problem = probe_writable(opts.out_dir)
        if problem is not None:
            print(f"gpuparams bench: error: --out {opts.out_dir}: {problem}; choose a writable folder "
                  "or pass --no-write", file=sys.stderr)
            return 2
    if DIST_SUITE in opts.suites:
        code = _run_dist(args, opts)
        opts.suites = [s for s in opts.suites if s != DIST_SUITE]
        if not opts.suites or code:
            return code
    if args.list:
        for suite, name, shape, baseline, modes in list_cases(opts.suites):
            print(f"{suite:8} {name:24} {shape:42} vs {baseline}  [{', '.join(modes)}]")
        return 0
    outcome = run_benchmarks(opts)
    if outcome.unavailable:
        return 3
    if outcome.any_incorrect:
        return 1
    if not any(row.get("gpuparams_ms") is not None for row in outcome.rows):
        return 3
    return 0


def _run_dist(args, opts):
    from ..bench.dist import run_dist
    if args.procs < 1:
        print(f"gpuparams bench: error: --procs must be >= 1, got {args.procs}", file=sys.stderr)
        return 2
    if args.list:
        print(f"{DIST_SUITE:8} allreduce 4 KB..64 MB over {args.procs} ranks (MPI; NCCL with "
              f"{args.procs} GPUs) "
              "vs mpi4py Allreduce; mlp step scaling 1..N processes")
        return 0
    code, _ = run_dist(procs=args.procs, reps=opts.reps, warmup=opts.warmup, quick=args.quick,
                       out_dir=opts.out_dir, write=opts.write, argv=opts.argv)
    return code


def main(argv=None) -> int:
    """Stand-alone entry point (``python -m gpuparams.cli.bench``, ``benchmarks/run.py``)."""
    parser = OneLineErrorParser(prog="gpuparams bench", description=__doc__.splitlines()[0])
    add_arguments(parser)
    args = parser.parse_args(argv)
    args._argv = list(argv) if argv is not None else sys.argv[1:]
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
