"""Benchmarks of gpuparams against cuBLAS (CuPy), PyTorch and NumPy, shipped with the package.

``python -m gpuparams bench --suite kernels|train|cpu|all`` runs them (see ``benchmarks/README.md``);
from Python::

    from gpuparams.bench import BenchOptions, run_benchmarks
    outcome = run_benchmarks(BenchOptions(suites=["cpu"], reps=10))

The building blocks are public too, for writing a new suite: :class:`Case` / :class:`Bound` describe a
row, :class:`Runner` gates, warms up and times it, :func:`check_close` is the float64 correctness gate,
:func:`summarize_times` the statistics, and :mod:`gpuparams.bench.report` writes and reads results.

Importing this package imports NumPy only: CuPy, PyTorch and pynvml are imported when a suite runs.
"""
from .gate import DEFAULT_TOLERANCE, GateResult, check_close, to_numpy
from .harness import ROW_KEYS, Bound, Case, NullSampler, Runner, SkipCase, build_row
from .peaks import DATASHEET, datasheet_peaks, measure_gpu_peaks, measure_host_peaks, roofline_ms
from .report import (DEVICE_KEYS, SCHEMA, markdown_table, merge_results, results_path,
                     validate_result, write_chart, write_json_atomic)
from .session import BenchOptions, BenchOutcome, list_cases, run_benchmarks
from .stats import TimingStats, summarize_times
from .suites import SUITES, SuiteEnv, load_suite
from .timers import FLUSH_BYTES, CudaEventTimer, HostTimer

__all__ = [
    "BenchOptions", "BenchOutcome", "run_benchmarks", "list_cases",
    "Case", "Bound", "SkipCase", "Runner", "NullSampler", "build_row", "ROW_KEYS",
    "GateResult", "check_close", "to_numpy", "DEFAULT_TOLERANCE",
    "TimingStats", "summarize_times",
    "HostTimer", "CudaEventTimer", "FLUSH_BYTES",
    "DATASHEET", "datasheet_peaks", "roofline_ms", "measure_gpu_peaks", "measure_host_peaks",
    "SCHEMA", "DEVICE_KEYS", "results_path", "write_json_atomic", "merge_results", "validate_result",
    "markdown_table", "write_chart",
    "SUITES", "SuiteEnv", "load_suite",
]
