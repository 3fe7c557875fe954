"""``python -m gpuparams train`` end to end in a subprocess, plus its helpers in process."""
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

from conftest import REPO, REAL_GPU
from gpuparams import __main__ as cli_main
from gpuparams.cli import UsageError
from gpuparams.cli import train as train_cli


def _train(tmp_path, *args, env_extra=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    env.pop("GPUPARAMS_EMULATE_GPU", None)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "gpuparams", "train", *args], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=300)


def _epoch_lines(stdout):
    return [line for line in stdout.splitlines() if line.startswith("epoch ")]


def _metric(line, name):
    return float(re.search(rf"{name} +([0-9.e+-]+)", line).group(1))


def _run_folder(tmp_path):
    """The one run folder a default ``train`` made: runs/<YYYYmmdd-HHMMSS>/."""
    runs = os.listdir(tmp_path / "runs")
    assert len(runs) == 1 and re.fullmatch(r"\d{8}-\d{6}(-\d+)?", runs[0]), runs
    return tmp_path / "runs" / runs[0]


def _one_line_error(result):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gpuparams train: error: "), result.stderr
    return lines[0]


# ----------------------------------------------------------------------------- end to end
def test_default_task_mlp_reaches_95_percent(tmp_path):
    result = _train(tmp_path, "--ctx", "cpu")
    assert result.returncode == 0, result.stderr
    lines = _epoch_lines(result.stdout)
    assert len(lines) == 10
    assert _metric(lines[-1], "accuracy") >= 95.0
    assert "examples/s" in lines[-1] and lines[-1].endswith("cpu(0)")
    assert "classify on synthetic spirals" in result.stdout
    run = _run_folder(tmp_path)  # without --out, every run gets its own folder
    assert sorted(os.listdir(tmp_path)) == ["runs"]
    for name in ("model.npz", "model.trainer.npz", "model.json"):
        assert (run / name).exists()
    assert f"saved runs/{run.name}/model.npz (parameters)" in result.stdout
    assert "a new run folder" in result.stdout
    assert result.stderr == ""  # stderr is not a terminal: no progress bar


def test_synthetic_classification_is_not_linearly_separable(tmp_path):
    result = _train(tmp_path, "--hidden", "none", "--epochs", "5", "--out", "linear.npz")
    assert result.returncode == 0, result.stderr
    assert _metric(_epoch_lines(result.stdout)[-1], "accuracy") < 70.0


def test_linreg_chapter_converges(tmp_path):
    result = _train(tmp_path, "--task", "linreg", "--out", "lin.npz")
    assert result.returncode == 0, result.stderr
    lines = _epoch_lines(result.stdout)
    assert len(lines) == 3 and "accuracy" not in lines[-1]
    assert _metric(lines[-1], "loss") < 1e-4
    with np.load(tmp_path / "lin.npz", allow_pickle=False) as params:
        weight = [params[k] for k in params.files if k.endswith("weight")][0]
        bias = [params[k] for k in params.files if k.endswith("bias")][0]
    np.testing.assert_allclose(weight.reshape(-1), [2.0, -3.4], atol=5e-3)
    np.testing.assert_allclose(bias, [4.2], atol=5e-3)


def test_resume_continues_from_saved_files(tmp_path):
    first = _train(tmp_path, "--examples", "300", "--epochs", "2", "--hidden", "16")
    assert first.returncode == 0, first.stderr
    run = _run_folder(tmp_path)
    record = json.loads((run / "model.json").read_text())
    assert record["epochs_done"] == 2 and record["hidden"] == [16]
    with np.load(run / "model.trainer.npz", allow_pickle=False) as states:
        updates_after_two = int(states["__num_update__"])
    assert updates_after_two == 2 * 10  # 300 examples / batch 32 = 10 steps per epoch

    resumed = _train(tmp_path, "--examples", "300", "--epochs", "1", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert _run_folder(tmp_path) == run  # --resume continues the newest run, in its folder
    assert "resuming after epoch 2" in resumed.stdout
    lines = _epoch_lines(resumed.stdout)
    assert len(lines) == 1 and lines[0].startswith("epoch 3/3")
    # the resumed run starts from the trained model, not from scratch
    assert _metric(lines[0], "loss") < _metric(_epoch_lines(first.stdout)[0], "loss")
    record = json.loads((run / "model.json").read_text())
    assert record["epochs_done"] == 3 and [h["epoch"] for h in record["history"]] == [1, 2, 3]
    with np.load(run / "model.trainer.npz", allow_pickle=False) as states:
        assert int(states["__num_update__"]) == 30  # the update counts carried on


def test_resume_refuses_a_different_architecture(tmp_path):
    assert _train(tmp_path, "--examples", "100", "--epochs", "1", "--hidden", "8").returncode == 0
    line = _one_line_error(_train(tmp_path, "--examples", "100", "--resume", "--hidden", "16"))
    assert "hidden layers 8, not 16" in line


def test_resume_from_a_parameter_file_of_other_shapes_is_one_line(tmp_path):
    assert _train(tmp_path, "--examples", "60", "--epochs", "1", "--out", "m1.npz").returncode == 0
    assert _train(tmp_path, "--examples", "60", "--epochs", "1", "--hidden", "8",
                  "--out", "m2.npz").returncode == 0
    shutil.copyfile(tmp_path / "m2.npz", tmp_path / "m1.npz")
    before = (tmp_path / "m1.npz").read_bytes()
    line = _one_line_error(_train(tmp_path, "--examples", "60", "--epochs", "1", "--resume",
                                  "--out", "m1.npz"))
    # the file, the parameter, both shapes, and a fix on the command line (not a Python option)
    assert "m1.npz does not match the run record m1.json" in line
    assert "parameter 0.weight has shape (8, 2) in the file" in line and "needs (64, 2)" in line
    assert "--force (overwrites m1.npz) or with another --out" in line
    assert "allow_missing" not in line and "nothing was changed" not in line
    assert (tmp_path / "m1.npz").read_bytes() == before


def test_resume_of_a_damaged_default_run_suggests_a_new_run(tmp_path):
    assert _train(tmp_path, "--examples", "60", "--epochs", "1").returncode == 0
    (_run_folder(tmp_path) / "model.trainer.npz").write_bytes(b"junk")
    line = _one_line_error(_train(tmp_path, "--examples", "60", "--epochs", "1", "--resume"))
    assert "model.trainer.npz" in line and "not a zip archive" in line
    assert line.endswith("train anew without --resume (a new run folder)")


def test_resume_without_files(tmp_path):
    assert "train once without --resume" in _one_line_error(_train(tmp_path, "--resume"))
    assert "train once without --resume" in _one_line_error(_train(tmp_path, "--resume", "--out", "m.npz"))
    assert os.listdir(tmp_path) == []


def test_dataset_offline_is_one_line_and_leaves_no_folders(tmp_path):
    # Offline in any environment: the dataset's only URL is a local port that refuses connections.
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/"
    home = tmp_path / "home"   # $GPUPARAMS_HOME does not exist yet: train must not leave it behind
    work = tmp_path / "work"
    work.mkdir()
    code = ("import sys; from gpuparams.data.vision import FashionMNIST; "
            f"FashionMNIST.urls = ({dead!r},); from gpuparams.__main__ import main; "
            "sys.exit(main(['train', '--dataset', 'fashion-mnist', '--epochs', '1']))")
    env = dict(os.environ, GPUPARAMS_HOME=str(home))
    env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
    result = subprocess.run([sys.executable, "-c", code], cwd=work, env=env, capture_output=True,
                            text=True, timeout=300)
    line = _one_line_error(result)
    target = home / "datasets" / "fashion-mnist" / "train-images-idx3-ubyte.gz"
    assert f"could not download train-images-idx3-ubyte.gz ({dead}train-images-idx3-ubyte.gz: " in line
    assert f"put it at {target} (SHA-1 0cf37b0d40ed5169c6b3aba31069a9770ac9043d)" in line
    assert "--dataset-root" in line
    assert result.stdout == ""                      # before any work
    assert sorted(os.listdir(tmp_path)) == ["work"] and os.listdir(work) == []


def test_user_csv_with_header_and_arbitrary_labels(tmp_path):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 3)) * [1, 100, 0.01]  # standardization makes the scales irrelevant
    y = np.where(X[:, 0] + X[:, 1] / 100 > 0, 7, 5)
    np.savetxt(tmp_path / "points.csv", np.column_stack([X, y]), delimiter=",", header="a,b,c,label",
               comments="")
    result = _train(tmp_path, "--data", "points.csv", "--epochs", "15", "--hidden", "16")
    assert result.returncode == 0, result.stderr
    assert "inferred from whole-number labels" in result.stdout
    assert "points.csv: first line 'a,b,c,label' taken as column names" in result.stdout
    assert _metric(_epoch_lines(result.stdout)[-1], "accuracy") >= 95.0
    record = json.loads((_run_folder(tmp_path) / "model.json").read_text())
    assert record["classes"] == [5.0, 7.0] and record["features"] == 3
    np.testing.assert_allclose(record["feature_std"], X.std(axis=0))


def test_csv_with_a_byte_order_mark_and_no_header_keeps_its_first_row(tmp_path):
    rows = [[0.5, 1.0, 0], [1.5, -1.0, 1], [-0.5, 2.0, 0], [2.5, 0.0, 1]] * 5
    text = "\n".join(",".join(str(v) for v in row) for row in rows) + "\n"
    (tmp_path / "bom.csv").write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))  # as Excel writes it
    result = _train(tmp_path, "--data", "bom.csv", "--epochs", "1", "--hidden", "4")
    assert result.returncode == 0, result.stderr
    assert "(20 examples x 2 features, 2 classes" in result.stdout  # no row taken for a header
    assert "bom.csv: no header line (the first line is numbers)" in result.stdout
    record = json.loads((_run_folder(tmp_path) / "model.json").read_text())
    np.testing.assert_allclose(record["feature_mean"], np.mean(np.array(rows)[:, :2], axis=0))


def test_csv_with_a_byte_order_mark_and_a_header(tmp_path):
    (tmp_path / "h.csv").write_bytes("\ufeffx1,x2,label\n1,2,0\n3,4,1\n5,6,0\n7,8,1\n".encode("utf-8"))
    result = _train(tmp_path, "--data", "h.csv", "--epochs", "1", "--hidden", "4")
    assert result.returncode == 0, result.stderr
    assert "(4 examples x 2 features" in result.stdout
    assert "h.csv: first line 'x1,x2,label' taken as column names" in result.stdout


def test_csv_starting_with_blank_lines_is_read_and_its_header_found(tmp_path):
    # Before, a blank first line made the file "empty", though np.loadtxt skips blank lines.
    (tmp_path / "b.csv").write_text("\n\nx1,x2,label\n1,2,0\n\n3,4,1\n5,6,0\n7,8,1\n")
    result = _train(tmp_path, "--data", "b.csv", "--epochs", "1", "--hidden", "4")
    assert result.returncode == 0, result.stderr
    assert "(4 examples x 2 features" in result.stdout
    assert "b.csv: first line 'x1,x2,label' taken as column names" in result.stdout
    record = json.loads((_run_folder(tmp_path) / "model.json").read_text())
    np.testing.assert_allclose(record["feature_mean"], [4.0, 5.0])


def test_divergence_is_one_line_without_numpy_warnings(tmp_path):
    result = _train(tmp_path, "--task", "linreg", "--lr", "1e6", "--epochs", "2", "--out", "d.npz")
    assert result.returncode == 1, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "training diverged; lower --lr (now 1e+06)" in lines[0], result.stderr
    assert "RuntimeWarning" not in result.stderr + result.stdout
    assert os.listdir(tmp_path) == []  # nothing saved from a diverged epoch


def test_explicit_out_is_not_overwritten_without_force(tmp_path):
    assert _train(tmp_path, "--examples", "60", "--epochs", "1", "--out", "m.npz").returncode == 0
    before = {n: (tmp_path / n).read_bytes() for n in os.listdir(tmp_path)}
    line = _one_line_error(_train(tmp_path, "--examples", "60", "--epochs", "1", "--out", "m.npz",
                                  "--seed", "5"))
    assert "m.npz, m.trainer.npz, m.json already exist(s)" in line and "--force" in line
    assert {n: (tmp_path / n).read_bytes() for n in os.listdir(tmp_path)} == before
    forced = _train(tmp_path, "--examples", "60", "--epochs", "1", "--out", "m.npz", "--seed", "5", "--force")
    assert forced.returncode == 0, forced.stderr
    assert (tmp_path / "m.npz").read_bytes() != before["m.npz"]


def test_every_default_run_gets_its_own_folder(tmp_path):
    for _ in range(2):
        assert _train(tmp_path, "--examples", "60", "--epochs", "1").returncode == 0
    runs = sorted(os.listdir(tmp_path / "runs"))
    assert len(runs) == 2 and all(re.fullmatch(r"\d{8}-\d{6}(-\d+)?", r) for r in runs), runs
    for run in runs:
        assert sorted(os.listdir(tmp_path / "runs" / run)) == ["model.json", "model.npz", "model.trainer.npz"]


def test_runs_are_ignored_by_git():
    with open(os.path.join(REPO, ".gitignore"), encoding="utf-8") as f:
        assert "runs/" in f.read().split()


def test_user_npz_regression(tmp_path):
    rng = np.random.default_rng(1)
    X = rng.normal(size=(200, 4)).astype(np.float32)
    y = (X @ np.array([1.0, -2.0, 0.5, 3.0]) + 1.0).astype(np.float32)
    np.savez(tmp_path / "reg.npz", X=X, y=y)
    result = _train(tmp_path, "--data", "reg.npz", "--epochs", "10")
    assert result.returncode == 0, result.stderr
    assert "linreg on reg.npz" in result.stdout and "real-valued labels" in result.stdout
    assert _metric(_epoch_lines(result.stdout)[-1], "loss") < 1e-3


def test_forced_progress_bar_goes_to_stderr(tmp_path):
    result = _train(tmp_path, "--examples", "64", "--epochs", "1", "--progress")
    assert result.returncode == 0
    assert "epoch 1/1" in result.stderr and "batch" in result.stderr
    assert "epoch 1/1" in result.stdout


# ----------------------------------------------------------------------------- errors
def test_missing_data_file(tmp_path):
    assert "no-such.csv: no such file" in _one_line_error(_train(tmp_path, "--data", "no-such.csv"))


@pytest.mark.parametrize("name, content, message", [
    ("text.csv", "1,2,3\n4,x,6\n", "not a table of numbers"),
    ("header_only.csv", "a,b\n", "no data rows"),
    ("one_column.csv", "1\n2\n", "at least two columns"),
    ("broken.npz", "not a zip", "broken.npz is not a .npz file of arrays X and y (not a zip archive)"),
    ("data.txt", "1,2\n", "unsupported file type '.txt'"),
])
def test_unreadable_data_files(tmp_path, name, content, message):
    (tmp_path / name).write_text(content)
    assert message in _one_line_error(_train(tmp_path, "--data", name))


def test_npz_without_x_and_y(tmp_path):
    np.savez(tmp_path / "other.npz", features=np.zeros((3, 2)))
    assert "must hold arrays named X and y (it holds features)" in _one_line_error(
        _train(tmp_path, "--data", "other.npz"))


@pytest.mark.parametrize("args, message", [
    (["--epochs", "0"], "--epochs: expected a positive integer"),
    (["--hidden", "64,x"], "--hidden: expected comma-separated"),
    (["--optimizer", "rmsprop"], "--optimizer: invalid choice"),
    (["--lr", "-1"], "--lr: expected a positive number"),
    (["--ctx", "tpu:0"], "is not a device"),
    (["--bogus"], "unrecognized arguments: --bogus"),
])
def test_bad_arguments(tmp_path, args, message):
    assert message in _one_line_error(_train(tmp_path, *args))


@pytest.mark.skipif(REAL_GPU, reason="a GPU is present")
def test_gpu_requested_without_one(tmp_path):
    assert "--ctx gpu:0: gpu(0)" in _one_line_error(_train(tmp_path, "--ctx", "gpu:0"))


@pytest.mark.gpu
def test_trains_on_a_real_gpu(tmp_path):
    result = _train(tmp_path, "--ctx", "gpu:0", "--epochs", "3")
    assert result.returncode == 0, result.stderr
    assert _epoch_lines(result.stdout)[-1].endswith("gpu(0)")


def test_console_script(tmp_path):
    # Present where the package is installed (CI installs it with pip install -e); `gpuparams` is
    # the same main() as `python -m gpuparams`.
    script = shutil.which("gpuparams", path=os.path.dirname(sys.executable))
    if script is None:
        pytest.skip("the gpuparams console script is not installed next to this Python")
    result = subprocess.run([script, "train", "--task", "linreg", "--epochs", "1"], cwd=tmp_path,
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    assert _epoch_lines(result.stdout)[0].startswith("epoch 1/1")


# ----------------------------------------------------------------------------- in process
def test_parse_context():
    import gpuparams as gp
    assert train_cli.parse_context("cpu") is gp.cpu(0)
    assert train_cli.parse_context("cpu:1") is gp.cpu(1)
    assert train_cli.parse_context("CPU(0)") is gp.cpu(0)
    for bad in ("gpu(0", "cuda", "cpu:-1", ""):
        with pytest.raises(UsageError):
            train_cli.parse_context(bad)


def test_synthetic_data_sets():
    X, y = train_cli.make_spirals(300, seed=2)
    assert X.shape == (300, 2) and X.dtype == np.float32 and sorted(set(y.tolist())) == [0, 1, 2]
    X2, _ = train_cli.make_spirals(300, seed=2)
    np.testing.assert_array_equal(X, X2)
    X, y = train_cli.make_linreg(1000, seed=0)
    w, *_ = np.linalg.lstsq(np.column_stack([X, np.ones(1000)]), y, rcond=None)
    np.testing.assert_allclose(w, [2.0, -3.4, 4.2], atol=2e-3)


def test_main_dispatch(capsys):
    with pytest.raises(SystemExit) as exc:
        cli_main.main(["train", "--help"])
    assert exc.value.code == 0
    assert "--resume" in capsys.readouterr().out
    assert cli_main.main([]) == 2
    with pytest.raises(SystemExit) as exc:
        cli_main.main(["launch"])
    assert exc.value.code == 2
    assert "invalid choice: 'launch'" in capsys.readouterr().err


def test_a_broken_command_only_breaks_itself(monkeypatch, capsys):
    real_import = cli_main.importlib.import_module

    def fake_import(name, *args):
        if name == "gpuparams.cli.bench":
            raise ImportError("no module named 'somedep'")
        return real_import(name, *args)
    monkeypatch.setattr(cli_main.importlib, "import_module", fake_import)
    assert cli_main.main(["bench"]) == 2
    assert "gpuparams bench: error: this command cannot be loaded" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        cli_main.main(["train", "--help"])
    assert exc.value.code == 0


@pytest.mark.parametrize("error", [UsageError("first line:\n  second line\nthird line"),
                                   OSError("disk said:\nno")])
def test_a_multi_line_message_still_prints_as_one_line(monkeypatch, capsys, error):
    def failing(args):
        raise error
    monkeypatch.setattr(train_cli, "run", failing)
    assert cli_main.main(["train"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("gpuparams train: error: ")
    assert " ".join(str(error).split()) in err
