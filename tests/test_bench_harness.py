"""The benchmark harness on the CPU: statistics, the gate, A/B interleaving, throttle re-runs, the
results schema and files, roofline lookup, and the ``bench`` command line."""
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from gpuparams.bench import (Bound, Case, HostTimer, Runner, SkipCase, build_row, check_close,
                             datasheet_peaks, markdown_table, measure_host_peaks, merge_results,
                             results_path, roofline_ms, summarize_times, validate_result,
                             write_chart, write_json_atomic)
from gpuparams.bench import report
from gpuparams.bench.harness import ROW_KEYS
from gpuparams.cli import bench as bench_cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _optional(name):
    """Import an optional library or skip (any ImportError: absent, or present but broken)."""
    try:
        return __import__(name)
    except ImportError as exc:
        pytest.skip(f"{name} not usable here: {exc}")


# --- statistics ----------------------------------------------------------------------------------

def test_median_and_percentiles_interpolate_between_ranks():
    stats = summarize_times([7, 1, 10, 3, 2, 9, 4, 8, 6, 5])
    assert stats.n == 10
    assert stats.median_ms == pytest.approx(5.5)
    assert stats.p10_ms == pytest.approx(1.9)
    assert stats.p90_ms == pytest.approx(9.1)
    assert stats.min_ms == 1 and stats.mean_ms == pytest.approx(5.5)


def test_one_outlier_moves_the_mean_not_the_median():
    stats = summarize_times([1.0] * 9 + [100.0])
    assert stats.median_ms == 1.0
    assert stats.mean_ms == pytest.approx(10.9)


@pytest.mark.parametrize("bad", [[], [1.0, float("nan")], [1.0, -0.5], [float("inf")]])
def test_statistics_refuse_broken_timings(bad):
    with pytest.raises(ValueError):
        summarize_times(bad)


# --- correctness gate -------------------------------------------------------------------------------

def _gemm_inputs(n=33, k=70, m=45, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.uniform(-1, 1, (n, k)).astype(np.float32),
            rng.uniform(-1, 1, (m, k)).astype(np.float32))


def test_gate_accepts_float32_gemm_against_float64():
    x, w = _gemm_inputs()
    ref = x.astype(np.float64) @ w.astype(np.float64).T
    gate = check_close(x @ w.T, ref)
    assert gate.ok and gate.reason is None
    assert 0 < gate.max_rel_err < 1e-6


def test_gate_refuses_an_error_of_1e_3_and_names_the_part():
    x, w = _gemm_inputs()
    ref = x.astype(np.float64) @ w.astype(np.float64).T
    wrong = (x @ w.T).copy()
    wrong[3, 4] += 1e-3 * np.abs(ref).max()
    gate = check_close((x @ w.T, wrong), (ref, ref))
    assert not gate.ok
    assert gate.reason.startswith("out[1]: relative error")
    assert gate.max_rel_err == pytest.approx(1e-3, rel=0.01)
    assert len(gate.parts) == 2 and gate.parts[0] < 1e-6


def test_gate_is_normwise_so_reference_zeros_do_not_fail_it():
    ref = np.array([0.0, 1e-12, 1.0])
    assert check_close(np.array([1e-9, 0.0, 1.0], np.float32), ref).ok


@pytest.mark.parametrize("actual, expected, reason", [
    (np.ones((2, 3)), np.ones((3, 2)), "shape"),
    (np.array([1.0, np.nan]), np.array([1.0, 2.0]), "NaN"),
    (np.array([1.0, np.inf]), np.array([1.0, 2.0]), "NaN or Inf"),
    ((np.ones(2),), (np.ones(2), np.ones(2)), "returned 1 arrays"),
])
def test_gate_refuses_malformed_results(actual, expected, reason):
    gate = check_close(actual, expected)
    assert not gate.ok and reason in gate.reason


def test_gate_compares_dicts_by_key_and_converts_ndarray_like_objects():
    class FakeNDArray:
        def __init__(self, data):
            self.data = data

        def asnumpy(self):
            return self.data

    gate = check_close({"b": FakeNDArray(np.ones(3)), "a": [np.zeros(2)]},
                       {"a": [np.zeros(2)], "b": np.ones(3)})
    assert gate.ok


def test_gate_reads_torch_tensors():
    torch = _optional("torch")
    assert check_close(torch.ones(4, requires_grad=True) * 2, np.full(4, 2.0)).ok


# --- runner ------------------------------------------------------------------------------------------

class FakeTimer:
    """Deterministic timer: each side's call returns its scripted per-rep time."""

    mode = "host"

    def __init__(self, times_by_fn):
        self.times_by_fn = times_by_fn
        self.calls = []
        self.inner = 1

    def first_call(self, fn):
        fn()
        return 42.0

    def calibrate(self, *fns):
        return 1

    def measure(self, fn, reps):
        self.calls.append((fn.__name__, reps))
        return [self.times_by_fn[fn.__name__]] * reps


class FakeSampler:
    def __init__(self, summaries, log):
        self.summaries = summaries
        self.log = log

    def start(self):
        self.log.append("start")
        return self

    def stop(self):
        self.log.append("stop")
        return self.summaries.pop(0) if len(self.summaries) > 1 else self.summaries[0]


def _gemm_case(wrong_by=0.0, baseline_wrong_by=0.0, flops=None, name="gemm", **kw):
    x, w = _gemm_inputs()

    def build():
        def ours():
            return x @ w.T + np.float32(wrong_by)

        def theirs():
            return np.matmul(x, w.T) + np.float32(baseline_wrong_by)

        return Bound(ours, theirs, lambda: x.astype(np.float64) @ w.astype(np.float64).T)
    n, k = x.shape
    m = w.shape[0]
    return Case("test", name, f"{n}x{k}->{m}", "numpy.matmul", build,
                flops=flops if flops is not None else 2.0 * n * k * m,
                bytes=4.0 * (n * k + m * k + n * m), modes=("host",), **kw)


def _runner(times, rounds=2, reps=3, warmup=1, summaries=None, max_reruns=2, peaks=None):
    timer = FakeTimer(times)
    events = []
    summaries = summaries or [{"available": False, "reason": "fake"}]
    runner = Runner({"host": timer}, reps=reps, rounds=rounds, warmup=warmup, max_reruns=max_reruns,
                    sampler_factory=lambda: FakeSampler(summaries, events), peaks=peaks,
                    log=lambda line: events.append(line))
    return runner, timer, events


def test_rounds_alternate_which_side_goes_first():
    runner, timer, _ = _runner({"ours": 1.0, "theirs": 2.0}, rounds=4, reps=3, warmup=2)
    runner.run_case(_gemm_case())
    assert timer.calls[:2] == [("ours", 2), ("theirs", 2)]  # warm-up
    assert [name for name, _ in timer.calls[2:]] == ["ours", "theirs", "theirs", "ours",
                                                     "ours", "theirs", "theirs", "ours"]
    assert all(reps == 3 for _, reps in timer.calls[2:])


def test_row_has_ratio_throughput_and_roofline_from_medians():
    peaks = {"tflops": 0.001, "tbps": 0.001}
    runner, _, _ = _runner({"ours": 2.0, "theirs": 3.0}, peaks=peaks)
    case = _gemm_case(flops=4e9)
    (row,) = runner.run_case(case)
    assert set(row) == set(ROW_KEYS)
    assert row["correct"] is True and row["baseline_correct"] is True
    assert row["gpuparams_ms"] == 2.0 and row["baseline_ms"] == 3.0
    assert row["ratio"] == pytest.approx(1.5)                     # baseline / gpuparams
    assert row["gpuparams_tflops"] == pytest.approx(4e9 / 2e-3 / 1e12)
    assert row["baseline_tflops"] == pytest.approx(4e9 / 3e-3 / 1e12)
    assert row["gpuparams_gbps"] == pytest.approx(case.bytes / 2e-3 / 1e9)
    floor = max(4e9 / 1e9, case.bytes / 1e9) * 1e3
    assert row["roofline_ms"] == pytest.approx(floor)
    assert row["roofline_fraction"] == pytest.approx(floor / 2.0)
    assert row["reps"] == 6 and row["rounds"] == 2
    assert row["compile_ms"] == 42.0 and row["baseline_first_ms"] == 42.0
    assert row["max_rel_err"] < 1e-6


def test_gate_refuses_a_wrong_kernel_and_nothing_is_timed():
    runner, timer, log = _runner({"ours": 1.0, "theirs": 2.0})
    x, w = _gemm_inputs()
    scale = float(np.abs(x.astype(np.float64) @ w.astype(np.float64).T).max())
    (row,) = runner.run_case(_gemm_case(wrong_by=2e-4 * scale))
    assert row["correct"] is False
    assert "relative error" in row["gate"]
    assert row["max_rel_err"] == pytest.approx(2e-4, rel=0.05)
    assert row["gpuparams_ms"] is None and row["baseline_ms"] is None and row["ratio"] is None
    assert timer.calls == []  # no warm-up, no timing
    assert any("REFUSED" in line for line in log)
    assert validate_result(_result([row])) == []


def test_a_wrong_baseline_is_not_timed_and_gives_no_ratio():
    runner, timer, _ = _runner({"ours": 1.0, "theirs": 2.0})
    (row,) = runner.run_case(_gemm_case(baseline_wrong_by=1.0))
    assert row["correct"] is True and row["gpuparams_ms"] == 1.0
    assert row["baseline_correct"] is False and row["baseline_ms"] is None and row["ratio"] is None
    assert row["gate"].startswith("baseline refused")
    assert {name for name, _ in timer.calls} == {"ours"}


def test_a_throttled_section_is_run_again():
    hot = {"available": True, "throttled": True, "clock_event_reason_names": ["sw_power_cap"]}
    cool = {"available": True, "throttled": False, "clock_event_reason_names": []}
    runner, timer, events = _runner({"ours": 1.0, "theirs": 2.0}, rounds=2, reps=3,
                                    summaries=[hot, cool])
    (row,) = runner.run_case(_gemm_case())
    assert row["reruns"] == 1
    assert row["nvml"] is cool
    assert events.count("start") == 2 and events.count("stop") == 2
    assert len(timer.calls) == 2 + 2 * 4  # warm-up, then two sections of 2 rounds x 2 sides
    assert row["reps"] == 6  # only the kept section's samples count


def test_reruns_stop_at_the_limit_and_the_row_says_it_throttled():
    hot = {"available": True, "throttled": True, "clock_event_reason_names": ["hw_slowdown"]}
    runner, _, events = _runner({"ours": 1.0, "theirs": 2.0}, summaries=[hot], max_reruns=2)
    (row,) = runner.run_case(_gemm_case())
    assert row["reruns"] == 2 and row["nvml"]["throttled"] is True
    assert events.count("start") == 3
    assert "THROTTLED" in markdown_table([row])


def test_case_rep_cap_applies():
    runner, timer, _ = _runner({"ours": 1.0, "theirs": 2.0}, reps=20, warmup=3)
    runner.run_case(_gemm_case(reps=2))
    assert timer.calls[0] == ("ours", 1)  # long cases warm up once
    assert all(reps == 2 for _, reps in timer.calls[2:])


def test_skip_and_setup_failure_become_rows():
    def skip():
        raise SkipCase("PyTorch is not installed")

    def broken():
        raise RuntimeError("no such kernel\nsecond line")

    runner, _, _ = _runner({})
    (skipped,) = runner.run_case(Case("test", "s", "1", "torch", skip, modes=("host",)))
    (failed,) = runner.run_case(Case("test", "f", "1", "torch", broken, modes=("host",)))
    assert skipped["skipped"] == "PyTorch is not installed" and skipped["correct"] is None
    assert failed["correct"] is False and failed["error"] == "setup failed: RuntimeError: no such kernel"
    table = markdown_table([skipped, failed])
    assert "skipped: PyTorch is not installed" in table and "WRONG: setup failed" in table


def test_close_runs_even_when_the_gpuparams_side_raises():
    closed = []

    def build():
        def ours():
            raise MemoryError("out of memory")
        return Bound(ours, None, lambda: np.ones(1), close=lambda: closed.append(True))

    runner, _, _ = _runner({})
    (row,) = runner.run_case(Case("test", "oom", "1", None, build, modes=("host",)))
    assert closed == [True]
    assert row["correct"] is False and "MemoryError" in row["error"]


def test_host_timer_times_real_calls():
    timer = HostTimer(mode="host", target_ms=0.5, max_inner=50)
    a = np.ones((64, 64), np.float32)
    inner = timer.calibrate(lambda: a @ a)
    assert 1 <= inner <= 50
    times = timer.measure(lambda: a @ a, 4)
    assert len(times) == 4 and all(t > 0 for t in times)


def test_pipelined_timer_keeps_several_calls_in_flight():
    timer = HostTimer(sync=lambda: None, mode="pipelined", target_ms=1e-9, min_inner=5)
    assert timer.calibrate(lambda: None) == 5
    with pytest.raises(ValueError):
        HostTimer(min_inner=0)


class _FakeCuda:
    """Records the order of stream operations the event timer issues."""

    def __init__(self, log):
        self.log = log
        self.clock = 0.0
        cuda = self

        class Event:
            def record(self):
                cuda.clock += 1.5
                self.t = cuda.clock
                cuda.log.append("record")

            def synchronize(self):
                cuda.log.append("event-sync")

        class Scratch:
            def __init__(self, n):
                self.nbytes = 4 * n

            def fill(self, value):
                cuda.log.append(f"flush:{value}")

        self.Event = Event
        self.runtime = type("runtime", (), {"deviceSynchronize": staticmethod(
            lambda: log.append("device-sync"))})
        self.get_elapsed_time = lambda start, end: end.t - start.t
        self.scratch_type = Scratch


def test_event_timer_flushes_before_each_start_event_and_reads_times_after_the_loop():
    from gpuparams.bench import CudaEventTimer
    log = []
    cuda = _FakeCuda(log)
    fake_cupy = type("cupy", (), {"cuda": cuda, "float32": np.float32,
                                  "empty": staticmethod(lambda n, dtype: cuda.scratch_type(n))})
    timer = CudaEventTimer(fake_cupy, flush_bytes=1024, spin=False)
    times = timer.measure(lambda: log.append("call"), 2)
    assert log == ["device-sync", "flush:1.0", "record", "call", "record",
                   "flush:0.0", "record", "call", "record", "event-sync"]
    assert times == [1.5, 1.5]
    assert timer.calibrate(lambda: None) == 1


def test_event_timer_spins_the_device_after_the_flush_sized_by_the_host_enqueue_time():
    # Issue 12: a multi-launch function must not be charged for the Python between its launches, so
    # a device spin sits between the flush and the start event, long enough for the host to enqueue
    # the whole call; the host enqueue time is recorded beside the GPU time.
    import time as _time

    from gpuparams.bench import CudaEventTimer
    log = []
    cuda = _FakeCuda(log)

    class FakeRawKernel:
        def __init__(self, code, name):
            assert "clock64" in code and name == "gp_bench_spin"

        def __call__(self, grid, block, args):
            log.append(f"spin:{int(args[0])}")

    cuda.Device = lambda: type("dev", (), {"attributes": {"ClockRate": 1_980_000}})()
    fake_cupy = type("cupy", (), {"cuda": cuda, "float32": np.float32, "RawKernel": FakeRawKernel,
                                  "empty": staticmethod(lambda n, dtype: cuda.scratch_type(n))})
    timer = CudaEventTimer(fake_cupy, flush_bytes=1024)

    def slow_host_call():  # ~300 us of Python between launches
        _time.sleep(0.0003)
        log.append("call")

    assert timer.calibrate(slow_host_call, lambda: None) == 1
    assert 2 * 300 <= timer.spin_us <= CudaEventTimer.MAX_SPIN_US
    log.clear()
    timer.measure(slow_host_call, 2)
    cycles = int(timer.spin_us * 1980)
    assert log == ["device-sync", "flush:1.0", f"spin:{cycles}", "record", "call", "record",
                   "flush:0.0", f"spin:{cycles}", "record", "call", "record", "event-sync"]
    assert timer.dispatch_ms[slow_host_call] >= 0.3
    # A quick function still gets the minimum spin.
    timer.calibrate(lambda: None)
    assert timer.spin_us == CudaEventTimer.MIN_SPIN_US


def test_runner_rejects_nonsense_settings():
    with pytest.raises(ValueError):
        Runner({"host": HostTimer()}, reps=0)


# --- roofline -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, tflops, tbps", [
    ("NVIDIA H100 80GB HBM3", 67.0, 3.35),
    ("NVIDIA H100 PCIe", 51.0, 2.0),
    ("NVIDIA H100 NVL", 60.0, 3.9),
    ("NVIDIA H200", 67.0, 4.8),
    ("NVIDIA H200 NVL", 60.0, 4.8),
    ("NVIDIA A100-SXM4-80GB", 19.5, 2.039),
])
def test_datasheet_lookup_by_device_name(name, tflops, tbps):
    peaks = datasheet_peaks(name)
    assert (peaks["tflops"], peaks["tbps"]) == (tflops, tbps)
    assert peaks["source"].startswith("datasheet")


def test_unknown_devices_have_no_datasheet_roofline():
    assert datasheet_peaks("NVIDIA GeForce RTX 4090") is None
    assert datasheet_peaks("") is None
    assert roofline_ms([(1e12, 1e9)], None) is None


def test_roofline_sums_the_floor_of_each_term():
    peaks = {"tflops": 67.0, "tbps": 3.35}
    gemm = (2.0 * 4096 ** 3, 4.0 * 3 * 4096 ** 2)        # compute-bound
    copy = (0.0, 3.35e9)                                  # bandwidth-bound: 1 ms
    assert roofline_ms([gemm], peaks) == pytest.approx(2.0 * 4096 ** 3 / 67e12 * 1e3)
    assert roofline_ms([gemm, copy], peaks) == pytest.approx(roofline_ms([gemm], peaks) + 1.0)


def test_host_peaks_can_be_measured():
    peaks = measure_host_peaks(matmul_n=64, copy_bytes=2**20, repeats=2)
    assert peaks["source"] == "measured" and peaks["tflops"] > 0 and peaks["tbps"] > 0


# --- results files -------------------------------------------------------------------------------------

def _result(rows, suites=("test",)):
    return {"schema": report.SCHEMA, "created": "2025-01-02T03:04:05+00:00", "command": None,
            "suites": list(suites),
            "device": {"name": "NVIDIA H100 80GB HBM3", "sm_count": 132, "driver": "580", "cuda": "13.0",
                       "cupy": "14.0", "torch": None, "peaks": {"tflops": 67.0, "tbps": 3.35,
                                                                 "source": "datasheet (H100 SXM)"}},
            "settings": {}, "rows": rows}


def _timed_row(name="gemm", suite="test", gp=2.0, base=3.0):
    case = Case(suite, name, "1x1->1", "numpy", lambda: None, flops=4e9, bytes=1e6, modes=("host",))
    return build_row(case, "host", [gp], [base], gate=check_close(np.ones(1), np.ones(1)))


def test_results_path_is_device_slug_and_date(tmp_path):
    import datetime
    path = results_path(tmp_path, "NVIDIA H100 80GB HBM3", datetime.date(2025, 3, 4))
    assert path == os.path.join(str(tmp_path), "nvidia-h100-80gb-hbm3-2025-03-04.json")


def test_json_is_written_atomically_and_replaces_the_old_file(tmp_path):
    path = tmp_path / "sub" / "r.json"
    write_json_atomic(_result([_timed_row()]), path)
    write_json_atomic(_result([_timed_row(gp=1.0)]), path)
    data = json.loads(path.read_text())
    assert data["rows"][0]["gpuparams_ms"] == 1.0
    assert os.listdir(path.parent) == ["r.json"]  # no temporary file left behind
    assert validate_result(data) == []


def test_a_failed_write_keeps_the_old_file(tmp_path):
    path = tmp_path / "r.json"
    write_json_atomic({"ok": 1}, path)
    with pytest.raises(TypeError):
        write_json_atomic({"bad": object()}, path)
    assert json.loads(path.read_text()) == {"ok": 1}
    assert os.listdir(tmp_path) == ["r.json"]


def test_nan_is_written_as_null(tmp_path):
    path = tmp_path / "r.json"
    write_json_atomic({"x": float("nan"), "y": [np.float32(1.5)]}, path)
    assert json.loads(path.read_text()) == {"x": None, "y": [1.5]}


def test_merge_replaces_the_suites_that_ran_and_keeps_the_others():
    old = _result([_timed_row("k1", "kernels"), _timed_row("t1", "train")], suites=["kernels", "train"])
    new = _result([_timed_row("k2", "kernels")], suites=["kernels"])
    merged = merge_results(old, new)
    assert [r["name"] for r in merged["rows"]] == ["t1", "k2"]
    assert merged["suites"] == ["kernels", "train"]
    assert merge_results(None, new) is new
    assert merge_results({"schema": "other"}, new) is new


def test_validate_finds_schema_violations():
    good = _result([_timed_row()])
    assert validate_result(good) == []
    bad = _result([_timed_row()])
    del bad["device"]["cuda"]
    bad["rows"][0]["ratio"] = 2.0
    del bad["rows"][0]["nvml"]
    refused = _timed_row()
    refused["correct"] = False
    bad["rows"].append(refused)
    problems = "\n".join(validate_result(bad))
    assert "device.cuda is missing" in problems
    assert "rows[0]: ratio 2.0 != baseline_ms / gpuparams_ms" in problems
    assert "rows[0].nvml is missing" in problems
    assert "rows[1]: timed although the correctness gate failed" in problems
    assert validate_result([]) == ["result is not an object"]


def test_markdown_table_has_one_line_per_row_and_the_key_numbers():
    rows = [_timed_row("a"), _timed_row("b", gp=4.0)]
    rows[0]["nvml"] = {"available": True, "sm_clock_mhz": {"min": 1700, "median": 1755, "max": 1980},
                       "power_w": {"median": 600, "peak": 690.4},
                       "clock_event_reason_names": ["gpu_idle", "sw_power_cap"], "throttled": True}
    table = markdown_table(rows, peaks={"tflops": 67.0, "tbps": 3.35, "source": "datasheet (H100 SXM)"})
    lines = table.splitlines()
    assert lines[0].startswith("| suite | name | shape | mode | baseline |")
    assert len([line for line in lines if line.startswith("| test |")]) == 2
    assert "| 1.500 |" in table and "| 0.750 |" in table
    assert "1755 MHz, 690 W, sw_power_cap, THROTTLED" in table
    assert "67 TFLOP/s FP32, 3.35 TB/s (datasheet (H100 SXM))" in table


def test_chart_is_a_png(tmp_path):
    _optional("matplotlib")
    path = write_chart(_result([_timed_row("a"), _timed_row("b", gp=4.0)]), tmp_path / "c.png")
    with open(path, "rb") as handle:
        assert handle.read(8) == b"\x89PNG\r\n\x1a\n"
    assert write_chart(_result([]), tmp_path / "empty.png") is None


# --- command line --------------------------------------------------------------------------------------

@pytest.mark.parametrize("argv, message", [
    (["--suite", "nope"], "unknown suite 'nope'"),
    (["--suite", "cpu,kernel"], "unknown suite 'kernel'"),
    (["--reps", "0"], "--reps must be >= 1"),
    (["--mode", "warp"], "unknown mode 'warp'"),
    (["--filter", "("], "--filter is not a valid regular expression"),
    (["--peak-tbps", "-1"], "--peak-tbps must be positive"),
])
def test_bad_arguments_are_one_line_and_exit_2(argv, message, capsys):
    assert bench_cli.main(argv) == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"gpuparams bench: error: {message}")


def test_argparse_errors_are_one_line_too():
    proc = subprocess.run([sys.executable, "-m", "gpuparams.cli.bench", "--reps", "many"], cwd=ROOT,
                          capture_output=True, text=True)
    assert proc.returncode == 2
    assert len(proc.stderr.strip().splitlines()) == 1 and "Traceback" not in proc.stderr


def test_list_names_every_suite(capsys):
    assert bench_cli.main(["--list"]) == 0
    out = capsys.readouterr().out
    for needle in ("kernels  forward gemm", "4096x4096->4096", "2048x1024->1024", "torch eager relu",
                   "train    mlp train step", "1024-1024-1024-1024-1024-10 batch 2048",
                   "cpu      overhead dot", "linreg chapter", "mxnet"):
        assert needle in out


def test_quick_sets_fewer_reps():
    parser = __import__("argparse").ArgumentParser()
    bench_cli.add_arguments(parser)
    opts = bench_cli.options_from_args(parser.parse_args(["--quick", "--suite", "cpu,cpu"]), [])
    assert (opts.reps, opts.rounds, opts.warmup) == (5, 2, 1)
    assert opts.suites == ["cpu"]


def _has_gpu():
    from gpuparams import backend
    return backend._real_device_count() > 0


def test_gpu_suite_on_a_machine_without_gpu_says_why_and_exits_3(capsys, tmp_path, monkeypatch):
    if _has_gpu():
        pytest.skip("this machine has a GPU")
    # The GPU setup pins TF32 off through the environment; let monkeypatch restore it afterwards.
    monkeypatch.setenv("CUPY_TF32", "0")
    monkeypatch.setenv("NVIDIA_TF32_OVERRIDE", "0")
    assert bench_cli.main(["--suite", "kernels", "--out", str(tmp_path)]) == 3
    out = capsys.readouterr().out
    assert out.startswith("suite kernels: cannot run here: ")
    assert os.listdir(tmp_path) == []
    # The hint must be true: the emulated gpu(0) is refused by the GPU suites, so it is not offered.
    assert "needs a real NVIDIA GPU" in out and "Use --suite cpu" in out
    assert "set GPUPARAMS_EMULATE_GPU=1" not in out and "to emulate gpu(0)" not in out


def test_gpu_suite_on_the_emulator_says_it_needs_a_real_gpu(capsys, tmp_path, monkeypatch):
    from gpuparams import backend
    monkeypatch.setenv("CUPY_TF32", "0")
    monkeypatch.setenv("NVIDIA_TF32_OVERRIDE", "0")
    with backend.emulation(True):
        assert bench_cli.main(["--suite", "kernels", "--out", str(tmp_path)]) == 3
    out = capsys.readouterr().out
    assert "GPUPARAMS_EMULATE_GPU=1 is set" in out and "real GPUs only" in out
    assert os.listdir(tmp_path) == []


def test_an_unwritable_results_folder_is_refused_before_any_timing(capsys, tmp_path):
    (tmp_path / "file").write_text("x")
    assert bench_cli.main(["--suite", "cpu", "--out", str(tmp_path / "file" / "sub")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "is a file, not a folder" in err[0] and "--no-write" in err[0]


def _framework_has(*names):
    import gpuparams
    try:
        for name in names:
            obj = gpuparams
            for part in name.split("."):
                obj = getattr(obj, part)
    except Exception:
        return False
    return True


def test_cpu_suite_end_to_end_writes_a_valid_file_and_prints_the_table_last(tmp_path, capsys):
    if not _framework_has("nd.array", "autograd.record"):
        pytest.skip("gpuparams.nd / autograd not landed")
    code = bench_cli.main(["--suite", "cpu", "--filter", "^overhead (add|dot) ", "--quick",
                           "--out", str(tmp_path), "--no-chart"])
    captured = capsys.readouterr()
    assert code == 0, captured.out + captured.err
    (name,) = os.listdir(tmp_path)
    assert name.startswith("cpu-") and name.endswith(".json")
    data = json.loads((tmp_path / name).read_text())
    assert validate_result(data) == []
    assert data["device"]["threads"] >= 1 and data["device"]["sm_count"] is None
    rows = data["rows"]
    baselines = {(r["name"], r["baseline"]) for r in rows}
    assert ("overhead add", "numpy (no autograd)") in baselines
    assert all(r["correct"] is True and r["gpuparams_ms"] > 0 and r["mode"] == "host" for r in rows)
    assert data["command"].startswith("gpuparams bench --suite cpu")
    last = captured.out.rstrip().splitlines()[-1]
    assert last.startswith("| cpu | overhead dot |")


# --- suites on the CPU with the real framework -------------------------------------------------------

def _cpu_env(**shapes):
    import gpuparams as gp
    from gpuparams.bench import SuiteEnv
    return SuiteEnv(kind="cpu", ctx=gp.cpu(0), xp=np, torch_device="cpu", threads=1, shapes=shapes)


def _quiet_runner():
    return Runner({"host": HostTimer(mode="host", target_ms=0.1, max_inner=2)}, reps=1, rounds=2,
                  warmup=0, log=lambda line: None)


def _torch_installed():
    try:
        import torch  # noqa: F401
    except ImportError:
        return False
    return True


def test_training_step_gate_passes_for_a_correct_step():
    if not _framework_has("gluon.nn.Dense", "gluon.Trainer", "gluon.loss.SoftmaxCrossEntropyLoss"):
        pytest.skip("gluon not landed")
    from gpuparams.bench.suites import _models
    (row,) = _quiet_runner().run_case(_models.mlp_case(_cpu_env(), "cpu", "mlp", (20, 16, 10), 8,
                                                       modes=("host",)))
    assert row["correct"] is True and row["max_rel_err"] < 1e-5, row
    assert row["gpuparams_ms"] > 0
    if _torch_installed():
        assert row["baseline_correct"] is True and row["ratio"] > 0
    else:
        assert row["baseline_skipped"].startswith("PyTorch is not installed")


@pytest.mark.parametrize("baseline", ["numpy", "imperative"])
def test_hybridized_training_step_and_its_baselines_pass_the_gate(baseline):
    # Both sides are checked against the float64 reference: the hybridized gpuparams step and the
    # hand-written NumPy step (or gpuparams imperative).
    from gpuparams.bench.suites import _models
    (row,) = _quiet_runner().run_case(_models.mlp_case(_cpu_env(), "cpu", "mlp", (20, 16, 10), 8,
                                                       modes=("host",), hybridize=True,
                                                       baseline=baseline))
    assert row["correct"] is True and row["baseline_correct"] is True, row
    assert row["max_rel_err"] < 1e-5 and row["ratio"] > 0


def test_hybridized_linreg_chapter_matches_its_reference():
    from gpuparams.bench.suites import _models
    (row,) = _quiet_runner().run_case(_models.linreg_case(_cpu_env(), "imperative", hybridize=True))
    assert row["correct"] is True and row["baseline_correct"] is True, row


def test_without_torch_gpuparams_is_still_gated_and_timed(monkeypatch):
    if not _framework_has("nd.array", "autograd.record"):
        pytest.skip("gpuparams.nd / autograd not landed")
    from gpuparams.bench.suites import cpu
    monkeypatch.setitem(sys.modules, "torch", None)
    (row,) = _quiet_runner().run_case(cpu.overhead_case(_cpu_env(), "mul", "torch"))
    assert row["correct"] is True and row["gpuparams_ms"] > 0
    assert row["baseline_ms"] is None and row["ratio"] is None
    assert row["baseline_skipped"].startswith("PyTorch is not installed")
    assert "ok (no baseline: PyTorch is not installed" in markdown_table([row])


def test_training_step_gate_refuses_a_step_with_the_wrong_learning_rate(monkeypatch):
    if not _framework_has("gluon.nn.Dense", "gluon.Trainer", "gluon.loss.SoftmaxCrossEntropyLoss"):
        pytest.skip("gluon not landed")
    from gpuparams.bench.suites import _models
    real = _models.reference_mlp_step
    # A reference with a 1 % larger step: both frameworks now look 1 % wrong and must be refused.
    monkeypatch.setattr(_models, "reference_mlp_step", lambda w, x, y, lr: real(w, x, y, lr * 1.01))
    (row,) = _quiet_runner().run_case(_models.mlp_case(_cpu_env(), "cpu", "mlp", (20, 16, 10), 8,
                                                       modes=("host",)))
    assert row["correct"] is False and "updates" in row["gate"]
    assert row["max_rel_err"] == pytest.approx(0.01, rel=0.05)
    assert row["gpuparams_ms"] is None


def test_linear_regression_chapter_matches_its_float64_reference():
    if not _framework_has("gluon.data.DataLoader", "gluon.loss.L2Loss", "init.Normal"):
        pytest.skip("gluon not landed")
    from gpuparams.bench.suites import _models
    (row,) = _quiet_runner().run_case(_models.linreg_case(_cpu_env(), "torch"))
    assert row["correct"] is True, row
    assert row["baseline_correct"] is (True if _torch_installed() else None)
    (mx,) = _quiet_runner().run_case(_models.linreg_case(_cpu_env(), "mxnet"))
    try:
        import mxnet  # noqa: F401
    except ImportError:
        assert mx["skipped"].startswith("MXNet is not installed")


def test_kernels_suite_gates_our_kernels_on_the_emulated_gpu():
    """The kernels suite's cases, on an awkward small shape, with the emulator standing in for the GPU:
    checks the suite's wiring (arguments, references, the ReLU-mask backward) without a GPU."""
    import gpuparams as gp
    from gpuparams import backend
    from gpuparams.bench import SuiteEnv
    from gpuparams.bench.suites import kernels as suite
    with backend.emulation(True):
        try:
            from gpuparams.backend import kernels
            kernels.dense_forward(gp.gpu(0), np.ones((1, 1), np.float32), np.ones((1, 1), np.float32))
        except Exception as exc:
            pytest.skip(f"the emulated gpu(0) cannot run kernels here: {type(exc).__name__}: {exc}")
        env = SuiteEnv(kind="emulated", ctx=gp.gpu(0), xp=np, torch_device="cpu",
                       shapes={"kernels": [(33, 70, 45)]})
        cases = suite.cases(env)
        rows = _quiet_runner().run(cases)
    assert [r["name"] for r in rows] == ["forward gemm", "fused dense+bias+relu", "fused dense+bias+relu",
                                         "backward", "backward relu"]
    for row in rows:
        assert row["correct"] is True, (row["name"], row["gate"], row["error"])
        assert row["gpuparams_ms"] > 0 and row["max_rel_err"] < 1e-5


def test_train_suite_gates_a_training_step_on_the_emulated_gpu():
    """The train suite's step (forward, softmax-CE, backward, SGD) with our kernels in the emulator,
    on a small awkward MLP: its update must pass the float64 gate before anything is timed."""
    import gpuparams as gp
    from gpuparams import backend
    from gpuparams.bench import SuiteEnv
    from gpuparams.bench.suites import train as suite
    with backend.emulation(True):
        env = SuiteEnv(kind="emulated", ctx=gp.gpu(0), xp=np, torch_device="cpu",
                       shapes={"train": [("mlp train step", (13, 33, 17, 5), 9)]})
        cases = suite.cases(env)
        assert [c.modes for c in cases] == [("host",)] * 6
        rows = _quiet_runner().run(cases)
    assert [(r["name"], r["baseline"]) for r in rows] == [
        ("mlp train step", "torch eager (cpu)"), ("mlp train step hybridized", "gpuparams imperative"),
        ("mlp train step captured", "gpuparams hybridized (uncaptured)"),
        ("mlp train step captured", "torch eager (cpu)"), ("mlp train step captured", "torch.cuda.graph"),
        ("mlp forward captured", "uncaptured replay")]
    for row in rows:
        assert (row["suite"], row["shape"]) == ("train", "13-33-17-5 batch 9")
        assert row["correct"] is True and row["max_rel_err"] < 1e-5, (row["gate"], row["error"])
        assert row["gpuparams_ms"] > 0
    for i in (1, 2, 5):
        assert rows[i]["baseline_correct"] is True
    # PyTorch runs on the CPU here: no CUDA graph to compare with, and the row says so
    assert rows[4]["baseline_skipped"].startswith(("torch.cuda.graph needs a CUDA device",
                                                   "PyTorch is not installed"))


def _numpy_dense_forward(ctx, x, w, b=None, activation=None, out=None):
    y = x @ w.T
    if b is not None:
        y = y + b
    return np.maximum(y, 0) if activation == "relu" else y


def _numpy_dense_backward(ctx, dy, x, w, y=None, *, need_dx=True, need_dw=True, need_db=True):
    dz = dy * (y > 0) if y is not None else dy
    return dz @ w, dz.T @ x, dz.sum(axis=0)


def test_kernels_suite_wiring_with_numpy_stand_in_kernels(monkeypatch):
    """The suite calls dense_forward / dense_backward with the documented signatures and compares
    them with the right references; a backward that forgets the ReLU mask is refused."""
    import gpuparams as gp
    from gpuparams.backend import kernels
    from gpuparams.bench import SuiteEnv
    from gpuparams.bench.suites import kernels as suite
    monkeypatch.setattr(kernels, "dense_forward", _numpy_dense_forward)
    monkeypatch.setattr(kernels, "dense_backward", _numpy_dense_backward)
    env = SuiteEnv(kind="cpu", ctx=gp.cpu(0), xp=np, torch_device="cpu", threads=1,
                   shapes={"kernels": [(33, 70, 45)]})
    rows = _quiet_runner().run(suite.cases(env))
    assert [(r["name"], r["baseline"]) for r in rows] == [
        ("forward gemm", "numpy.matmul"), ("fused dense+bias+relu", "numpy chain"),
        ("fused dense+bias+relu", "torch eager relu(linear)"), ("backward", "numpy backward"),
        ("backward relu", "numpy backward")]
    assert all(r["correct"] is True and r["shape"] == "33x70->45" for r in rows), rows
    assert rows[0]["flops"] == 2.0 * 33 * 70 * 45 and rows[3]["flops"] == 4.0 * 33 * 70 * 45

    def maskless(ctx, dy, x, w, y=None, **kw):
        return _numpy_dense_backward(ctx, dy, x, w, None, **kw)
    monkeypatch.setattr(kernels, "dense_backward", maskless)
    (row,) = _quiet_runner().run([c for c in suite.cases(env) if c.name == "backward relu"])
    assert row["correct"] is False and row["gpuparams_ms"] is None
