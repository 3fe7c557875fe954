"""Data-parallel training on a real MPI job: ``mpiexec -n 2`` (and ``-n 3``) runs ``dist_worker.py``.

The ranks write what they saw; these tests compare them with each other (bit for bit where the
contract says identical) and with a single process trained on the whole batch (the independent
reference), and check the failure paths end every rank in bounded time, naming the failed one.
"""
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import REPO

import dist_worker

MPIEXEC = (shutil.which("mpiexec", path=os.path.dirname(sys.executable)) or shutil.which("mpiexec"))
pytestmark = pytest.mark.skipif(MPIEXEC is None, reason="no mpiexec: pip install -e '.[distributed]'")
WORKER = os.path.join(os.path.dirname(__file__), "dist_worker.py")
#: Wall-clock bound of any one launch; a hang fails the test instead of the suite.
LAUNCH_TIMEOUT_S = 120
#: The failure cases must end every rank well within this (they take about 1-4 s here).
FAILURE_BOUND_S = 30


def _is_open_mpi():
    if MPIEXEC is None:
        return False
    out = subprocess.run([MPIEXEC, "--version"], capture_output=True, text=True, timeout=30)
    return "Open MPI" in out.stdout + out.stderr or "OpenRTE" in out.stdout + out.stderr


OPEN_MPI = _is_open_mpi()


def mpiexec_cmd(n, args):
    cmd = [MPIEXEC, "-n", str(n)]
    if OPEN_MPI:  # more ranks than cores, and CI runs as root
        cmd += ["--oversubscribe"] + (["--allow-run-as-root"] if os.geteuid() == 0 else [])
    return cmd + list(args)


def _env(emulate=False, **extra):
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("GPUPARAMS_EMULATE_GPU", None)
    env["GPUPARAMS_DIST_TIMEOUT"] = "60"  # below LAUNCH_TIMEOUT_S: a hang is reported by the job
    if emulate:
        env["GPUPARAMS_EMULATE_GPU"] = "1"
    env.update(extra)
    return env


def launch(n, args, cwd=None, emulate=False, **env):
    start = time.monotonic()
    result = subprocess.run(mpiexec_cmd(n, args), cwd=cwd, env=_env(emulate, **env), capture_output=True,
                            text=True, timeout=LAUNCH_TIMEOUT_S)
    result.elapsed = time.monotonic() - start
    return result


def run_worker(n, scenario, out, ctx="cpu", **env):
    return launch(n, [sys.executable, "-W", "error", WORKER, scenario, str(out), ctx],
                  emulate=ctx == "gpu", **env)


CONTEXTS = ["cpu", pytest.param("gpu", id="emulated-gpu0")]


# ----------------------------------------------------------------------------- collectives (3 ranks)
@pytest.fixture(scope="module")
def collectives(tmp_path_factory):
    out = tmp_path_factory.mktemp("collectives")
    result = run_worker(3, "collectives", out)
    assert result.returncode == 0, result.stdout + result.stderr
    ranks = []
    for r in range(3):
        with open(out / f"rank{r}.json", encoding="utf-8") as f:
            ranks.append(json.load(f))
    return ranks


def _inputs(r):
    return np.arange(6, dtype=np.float32).reshape(2, 3) * (r + 1) + r


def test_rank_size_and_devices(collectives):
    assert [d["rank"] for d in collectives] == [0, 1, 2]
    assert {d["size"] for d in collectives} == {3}
    assert sorted(d["local_rank"] for d in collectives) == [0, 1, 2]  # one machine
    assert {d["local_size"] for d in collectives} == {3}
    assert {d["device"] for d in collectives} == {"cpu(0)"}
    assert {d["backend"] for d in collectives} == {"mpi"}


def test_allreduce_broadcast_allgather_values(collectives):
    inputs = np.stack([_inputs(r) for r in range(3)])
    for r, d in enumerate(collectives):
        np.testing.assert_array_equal(d["sum"], inputs.sum(0))
        np.testing.assert_array_equal(d["inplace_sum"], inputs.sum(0))
        np.testing.assert_allclose(d["mean"], inputs.mean(0), rtol=1e-7)
        np.testing.assert_array_equal(d["max"], inputs.max(0))
        np.testing.assert_array_equal(d["min"], inputs.min(0))
        assert d["int_sum"] == [0 + 1 + 2, 0 + 10 + 20]
        assert d["half_sum"] == [0.5 + 1.0 + 1.5, 6.0]
        np.testing.assert_array_equal(d["bcast"], inputs[2])  # root = last rank
        np.testing.assert_array_equal(d["input_unchanged"], inputs[r])  # not in place by default
        assert d["gather"] == [[0, 0], [1, 1], [1, 1], [2, 2], [2, 2], [2, 2]]  # rows differ per rank
        assert d["half_bcast"] == [1.5, -2.0]  # float16 and int8 travel as bytes
        assert d["int8_gather"] == [[0, 0], [1, -1], [2, -2]]


def test_float_sums_are_bit_identical_on_every_rank(collectives):
    expected = sum(np.random.default_rng(r).normal(size=1000).astype(np.float32).astype(np.float64)
                   for r in range(3))
    sums = [np.array(d["noise_sum"], dtype=np.uint32).view(np.float32) for d in collectives]
    for s in sums[1:]:
        np.testing.assert_array_equal(s.view(np.uint32), sums[0].view(np.uint32))
    np.testing.assert_allclose(sums[0], expected, rtol=1e-6, atol=1e-6)


def test_sampler_covers_every_example_with_a_remainder(collectives):
    # 10 examples over 3 ranks: 4 each, the 2 padding entries repeat the start of the permutation.
    for epoch in ("0", "1"):
        parts = [d["sampler"][epoch] for d in collectives]
        assert [len(p) for p in parts] == [4, 4, 4]
        merged = [parts[i % 3][i // 3] for i in range(12)]  # rank r holds entries r, r+3, ...
        assert sorted(merged[:10]) == list(range(10))
        assert merged[10:] == merged[:2]
    assert collectives[0]["sampler"]["0"] != collectives[0]["sampler"]["1"]  # set_epoch reshuffles
    dropped = [d["sampler_drop"] for d in collectives]
    assert [len(p) for p in dropped] == [3, 3, 3]
    assert len(set(sum(dropped, []))) == 9
    shards = [d["shard"] for d in collectives]
    assert shards == [[0, 3, 6, 9], [1, 4, 7, 0], [2, 5, 8, 1]]
    # Made before distributed.init(): it joined the job rather than taking all 9 for itself.
    assert [d["early_sampler"] for d in collectives] == [[0, 3, 6], [1, 4, 7], [2, 5, 8]]


# ----------------------------------------------------------------------------- training (2 ranks)
@pytest.fixture(scope="module", params=CONTEXTS)
def trained(request, tmp_path_factory):
    ctx_name = request.param
    out = tmp_path_factory.mktemp(f"train-{ctx_name}")
    result = run_worker(2, "train", out, ctx_name)
    assert result.returncode == 0, result.stdout + result.stderr
    reports = []
    for r in range(2):
        with open(out / f"report_rank{r}.json", encoding="utf-8") as f:
            reports.append(json.load(f))
    return ctx_name, out, reports


def _history(out, name, rank):
    with np.load(out / f"{name}_rank{rank}.npz") as f:
        return {k: f[k] for k in f.files}


def _context(ctx_name):
    import gpuparams as gp
    return gp.gpu(0) if ctx_name == "gpu" else gp.cpu(0)


@pytest.mark.parametrize("run", ["sgd", "adam", "multi"])
def test_two_ranks_of_batch_b_match_one_process_of_batch_2b(trained, run, fresh_names):
    # multi: SGD with every parameter on two contexts in each rank (gradients summed inside the rank,
    # then averaged across ranks); the reference is the same one-context SGD run.
    from gpuparams import backend
    ctx_name, out, _ = trained
    opt = "sgd" if run == "multi" else run
    with backend.emulation(ctx_name == "gpu"):
        name, params = dist_worker.OPTIMIZERS[opt]
        reference = dist_worker.reference_run(name, params, _context(ctx_name), ranks=2)
    rank0 = _history(out, run, 0)
    assert len(reference) == dist_worker.STEPS
    for k, snap in enumerate(reference):
        for key, value in snap.items():
            copies = [key] + ([f"{key}@1"] if run == "multi" else [])
            for copy in copies:
                np.testing.assert_allclose(rank0[f"step{k}/{copy}"], value, rtol=1e-6, atol=1e-6,
                                           err_msg=f"{run} step {k + 1} parameter {copy}")


@pytest.mark.parametrize("name", ["sgd", "adam", "bcast", "multi"])
def test_parameters_identical_on_every_rank_after_every_step(trained, name):
    _, out, _ = trained
    a, b = _history(out, name, 0), _history(out, name, 1)
    assert sorted(a) == sorted(b) and len(a) == dist_worker.STEPS * 4 * (2 if name == "multi" else 1)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_first_step_broadcasts_rank_0_parameters(trained):
    _, out, reports = trained
    # The ranks started from different values, and still agree after the first step.
    assert reports[0]["bcast_initial"] != reports[1]["bcast_initial"]
    a, b = _history(out, "bcast", 0), _history(out, "bcast", 1)
    np.testing.assert_array_equal(a["step0/0"], b["step0/0"])


def test_gradients_travel_in_buckets(trained):
    _, _, reports = trained
    # 4 float32 arrays of 30 + 6 + 18 + 3 values: one 4 MB bucket, or four of at most 64 bytes
    # (120, 24, 72 and 12 bytes: the 120- and 72-byte arrays get buckets of their own).
    assert {r["sgd_buckets"] for r in reports} == {1}
    assert {r["adam_buckets"] for r in reports} == {4}


def test_only_rank_0_writes_files_and_every_rank_loads(trained):
    _, out, reports = trained
    assert (out / "params_rank0.npz").exists() and (out / "states_rank0.npz").exists()
    assert not (out / "params_rank1.npz").exists() and not (out / "states_rank1.npz").exists()
    assert all(r["loaded_equal"] for r in reports)


def test_stale_gradient_is_the_same_error_on_every_rank(trained):
    _, _, reports = trained
    for r, report in enumerate(reports):
        msg = report["stale_error"]
        assert msg is not None and "on 1 of 2 ranks" in msg
        assert f"this rank, {r}: {'fresh' if r == 0 else 'stale'}" in msg
    # ignore_stale_grad: the last layer is still updated (rank 0's gradient, averaged with zero),
    # identically on both ranks.
    assert reports[0]["ignored_stale"] == reports[1]["ignored_stale"]
    assert reports[0]["last_layer_moved"]


def _two_gpus_with_nccl():
    from gpuparams import backend
    from gpuparams.distributed._nccl import nccl_available
    return not backend.emulation_enabled() and backend.gpu_count() >= 2 and nccl_available()


@pytest.mark.skipif(not _two_gpus_with_nccl(), reason="needs two NVIDIA GPUs and NCCL through CuPy "
                    "(pip install -e '.[cuda13]'); this machine has none, so the NCCL path is untested here")
def test_nccl_path_on_two_gpus(tmp_path):
    result = run_worker(2, "collectives", tmp_path, "device")
    assert result.returncode == 0, result.stdout + result.stderr
    ranks = [json.loads((tmp_path / f"rank{r}.json").read_text()) for r in range(2)]
    inputs = np.stack([_inputs(r) for r in range(2)])
    for r, d in enumerate(ranks):
        assert d["backend"] == "nccl" and d["device"] == f"gpu({r})"
        np.testing.assert_array_equal(d["sum"], inputs.sum(0))
        np.testing.assert_array_equal(d["bcast"], inputs[1])
        np.testing.assert_array_equal(d["gather"], [[0, 0], [1, 1], [1, 1]])
    train = run_worker(2, "train", tmp_path, "device")
    assert train.returncode == 0, train.stdout + train.stderr
    a, b = _history(tmp_path, "adam", 0), _history(tmp_path, "adam", 1)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


# ----------------------------------------------------------------------------- failures
def _failing(scenario, tmp_path, **env):
    result = run_worker(2, scenario, tmp_path, **env)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output
    assert result.elapsed < FAILURE_BOUND_S, f"took {result.elapsed:.1f} s:\n{output}"
    return output


def test_mismatched_parameter_shapes_end_every_rank_naming_the_parameter(tmp_path):
    output = _failing("mismatch", tmp_path)
    pattern = r"parameter dense\d+_bias has shape \(6,\) on rank 0 but \(7,\) on rank 1"
    assert re.search(pattern, output), output
    assert "ParameterMismatchError" in output


def test_a_raising_rank_ends_every_rank_naming_itself(tmp_path):
    output = _failing("fail-raise", tmp_path)
    pattern = r"rank 1 of 2 \(\S+, pid \d+\) failed with ValueError: a deliberate failure"
    assert re.search(pattern, output), output
    assert "rank 0 finished" not in output


def test_a_hanging_rank_is_named_when_the_collective_times_out(tmp_path):
    output = _failing("fail-hang", tmp_path, GPUPARAMS_DIST_TIMEOUT="2")
    assert "timed out after 2 s" in output, output
    assert re.search(r"rank 1 \(\S+, pid \d+\) did not reach it", output), output
    assert "rank 0 finished" not in output


def test_a_killed_rank_ends_the_job_and_the_output_names_it(tmp_path):
    # Killed from outside (as the OOM killer would) while the job trains.
    train = [sys.executable, "-m", "gpuparams", "train", "--epochs", "1000", "--examples", "3000"]
    cmd = mpiexec_cmd(2, train)
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=_env(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    try:
        lines = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("epoch "):
                break
        header = next(line for line in lines if line.startswith("processes: "))
        pids = dict(re.findall(r"rank (\d+) \S+ pid (\d+)", header))
        start = time.monotonic()
        os.kill(int(pids["1"]), signal.SIGKILL)
        rest, _ = proc.communicate(timeout=FAILURE_BOUND_S)
        elapsed = time.monotonic() - start
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    output = "".join(lines) + rest
    assert proc.returncode != 0, output
    assert elapsed < FAILURE_BOUND_S
    # The launcher reports the process id (MPICH: "PID 123 RUNNING AT host"; Open MPI also says
    # "rank 1"); the header printed at start maps it to rank 1.
    assert re.search(rf"\b{pids['1']}\b", rest) or "rank 1" in rest, output
    assert "Killed" in rest or "signal 9" in rest, output


# ----------------------------------------------------------------------------- the train command
@pytest.mark.parametrize("ctx_name", CONTEXTS)
def test_train_command_under_mpiexec_then_resume(tmp_path, ctx_name, fresh_names):
    def train(*args):
        device = ["--ctx", "gpu:0"] if ctx_name == "gpu" else []
        return launch(2, [sys.executable, "-m", "gpuparams", "train", "--examples", "300", *device, *args],
                      cwd=tmp_path, emulate=ctx_name == "gpu")

    first = train("--epochs", "2")
    assert first.returncode == 0, first.stdout + first.stderr
    epochs = [line for line in first.stdout.splitlines() if line.startswith("epoch ")]
    assert len(epochs) == 2  # one summary (rank 0's), not one per rank
    assert first.stdout.count("gpuparams train:") == 1 and first.stdout.count("saved ") == 1
    assert all(line.endswith("x 2 processes") for line in epochs)
    assert "batch 32 per process x 2 processes" in first.stdout
    assert first.stderr == ""
    # Without --out a run gets a new runs/<timestamp>/ folder: one, made by rank 0, which writes.
    runs = sorted((tmp_path / "runs").iterdir())
    assert len(runs) == 1, runs
    run = runs[0]
    assert sorted(p.name for p in run.iterdir()) == ["model.json", "model.npz", "model.trainer.npz"]
    with open(run / "model.json", encoding="utf-8") as f:
        record = json.load(f)
    assert record["epochs_done"] == 2 and record["history"][-1]["processes"] == 2

    # The printed loss is over the whole data set (every rank's part), as the saved model gives it.
    from gpuparams import backend, nd
    from gpuparams.cli import train as train_cli
    from gpuparams.loss import SoftmaxCrossEntropyLoss
    with backend.emulation(ctx_name == "gpu"):
        ctx = _context(ctx_name)
        X, y = train_cli.make_spirals(300, 0)
        plan = type("Plan", (), {"features": 2, "hidden": (64, 64), "outputs": 3})()
        net = train_cli._build(plan, ctx)
        net.load_parameters(str(run / "model.npz"), ctx=ctx)
        loss = SoftmaxCrossEntropyLoss()(net(nd.array(X, ctx=ctx)), nd.array(y.astype(np.float32), ctx=ctx))
        expected = float(loss.mean().asscalar())
    printed = float(re.search(r"loss ([0-9.]+)", epochs[-1]).group(1))
    assert printed == pytest.approx(expected, rel=1e-5, abs=1e-6)

    again = train("--epochs", "1", "--resume")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "resuming after epoch 2" in again.stdout
    assert [line.split()[1] for line in again.stdout.splitlines() if line.startswith("epoch ")] == ["3/3"]
    assert sorted((tmp_path / "runs").iterdir()) == [run]  # --resume continued the newest run
    with open(run / "model.json", encoding="utf-8") as f:
        assert json.load(f)["epochs_done"] == 3


def test_train_command_set_up_error_is_reported_once(tmp_path):
    result = launch(2, [sys.executable, "-m", "gpuparams", "train", "--resume", "--out", "none.npz"],
                    cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert lines == ["gpuparams train: error: --resume: none.json not found; train once without "
                     "--resume first"]


# ----------------------------------------------------------------------------- bench --suite dist
def test_bench_dist_suite_measures_and_writes(tmp_path):
    cmd = [sys.executable, "-m", "gpuparams", "bench", "--suite", "dist", "--quick", "--reps", "3",
           "--out", str(tmp_path)]
    result = subprocess.run(cmd, cwd=REPO, env=_env(), capture_output=True, text=True,
                            timeout=LAUNCH_TIMEOUT_S)
    assert result.returncode == 0, result.stdout + result.stderr
    files = list(tmp_path.glob("dist-*.json"))
    assert len(files) == 1
    data = json.loads(files[0].read_text())
    assert data["schema"] == "gpuparams-bench-dist/1" and data["procs"] == 2
    allreduce = [r for r in data["rows"] if r["name"] == "allreduce" and r["backend"] == "mpi"]
    assert [r["bytes"] for r in allreduce] == [4096, 16384, 65536, 262144, 1048576]
    for r in allreduce:
        assert r["status"] == "ok" and r["max_rel_err"] <= 1e-6
        assert r["busbw_gbps"] == pytest.approx(r["algbw_gbps"])  # 2(n-1)/n = 1 for two ranks
        assert r["algbw_gbps"] == pytest.approx(r["bytes"] / r["gpuparams"]["median_ms"] / 1e6)
    scaling = [r for r in data["rows"] if r["name"] == "mlp step scaling" and r["backend"] == "mpi"
               and r["averaged"]]
    assert [r["ranks"] for r in scaling] == [1, 2] and scaling[0]["efficiency"] == 1.0
    expected = scaling[1]["examples_per_s"] / (2 * scaling[0]["examples_per_s"])
    assert scaling[1]["efficiency"] == pytest.approx(expected)
    alone = [r for r in data["rows"] if r["name"] == "mlp step scaling" and not r.get("averaged", True)]
    assert [r["ranks"] for r in alone] == [1, 2] and all(r["status"] == "ok" for r in alone)
    nccl = [r for r in data["rows"] if r["backend"] == "nccl"]
    assert nccl and all(r["status"].startswith("skipped: needs 2 GPUs") for r in nccl)
    assert "| mpi | 2 | 1 MB |" in result.stdout
