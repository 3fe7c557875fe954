"""Bad input, table-driven: every case must raise the right exception with a message that names the
offending value, shape or path, and a failing file operation or load must leave the model, the
trainer, the existing files and the folder exactly as they were.

Each row of ``CASES`` is ``(id, action, exception, names)``: ``action(w)`` gets a fresh
:class:`World` (a small trained model, its parameter and trainer files), prepares the bad input,
calls ``w.arm()`` to take the "before" snapshot when the case is about files or loads, and then
makes the failing call. ``names`` are substrings the message must contain (``{tmp}`` is the test's
folder). CLI rows run ``python -m gpuparams`` in process and turn its one-line error (exit 2, no
traceback) into :class:`CliError`.
"""
import contextlib
import errno
import hashlib
import importlib.util
import io
import json
import os
import re
import zipfile

import numpy as np
import pytest

import gpuparams as gp
from gpuparams import __main__ as cli_main
from gpuparams import autograd, gluon, init, nd
from gpuparams.gluon import nn
from gpuparams.errors import ArrayConversionError
from gpuparams.parameter import DeferredInitializationError
from gpuparams.serialization import ArrayFileError
from gpuparams.trainer import StaleGradientError

NAN, INF = float("nan"), float("inf")


@contextlib.contextmanager
def _inside(folder):
    """Run in ``folder`` (contextlib.chdir is Python 3.11+)."""
    before = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(before)


class CliError(Exception):
    """The one error line of a CLI run that exited with 2."""


class World:
    """A trained two-layer model, its Adam trainer, their files in ``tmp``, and snapshots of all."""

    def __init__(self, tmp, side, monkeypatch):
        self.tmp, self.side, self.monkeypatch = tmp, side, monkeypatch
        gp.random.seed(3)
        self.net = nn.Sequential()
        self.net.add(nn.Dense(4, in_units=3, activation="relu"), nn.Dense(2, in_units=4))
        self.net.initialize(init.Normal(0.5))
        for p in self.net.collect_params().values():
            init.normal_(p, 0.0, 0.5)  # biases too, so a changed value cannot go unnoticed
        self.trainer = gluon.Trainer(self.net.collect_params(), "adam", {"learning_rate": 0.01})
        x = nd.array(np.linspace(-1, 1, 15).reshape(5, 3))
        with autograd.record():
            loss = (self.net(x) ** 2).sum()
        loss.backward()
        self.trainer.step(5)
        self.model = tmp / "model.npz"
        self.states = tmp / "model.trainer.npz"
        self.net.save_parameters(self.model)
        self.trainer.save_states(self.states)
        self.names = [p.name for p in self.net.collect_params().values()]
        self.before = None

    # ---------------------------------------------------------------- helpers for the cases
    def write(self, name, content):
        path = self.tmp / name
        if isinstance(content, dict):
            with open(path, "wb") as f:
                np.savez(f, **content)
        else:
            path.write_bytes(content)
        return path

    def arrays(self, path):
        with np.load(path, allow_pickle=False) as archive:
            return {k: archive[k] for k in archive.files}

    def deny_writes(self, folder):
        """Make creating files in ``folder`` fail with EACCES (tests run as root, where chmod
        does not stop anything), through the one call every writer here uses."""
        folder = os.path.abspath(folder)
        real_open, real_mkdir = os.open, os.mkdir

        def inside(path):
            return os.path.dirname(os.path.abspath(path)) == folder

        def guarded_open(path, flags, *args, **kwargs):
            if flags & os.O_CREAT and inside(path):
                raise PermissionError(errno.EACCES, "Permission denied", path)
            return real_open(path, flags, *args, **kwargs)

        def guarded_mkdir(path, *args, **kwargs):
            if inside(path):
                raise PermissionError(errno.EACCES, "Permission denied", path)
            return real_mkdir(path, *args, **kwargs)
        self.monkeypatch.setattr(os, "open", guarded_open)
        self.monkeypatch.setattr(os, "mkdir", guarded_mkdir)

    def fill_disk_after(self, calls):
        real = np.lib.format.write_array
        seen = []

        def failing(*args, **kwargs):
            seen.append(1)
            if len(seen) > calls:
                raise OSError(errno.ENOSPC, "No space left on device")
            return real(*args, **kwargs)
        self.monkeypatch.setattr(np.lib.format, "write_array", failing)

    def cli(self, *argv):
        """Run ``gpuparams ARGV`` in ``tmp``; it must fail with one line and exit code 2."""
        out, err = io.StringIO(), io.StringIO()
        with _inside(self.tmp), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = cli_main.main(list(argv))
            except SystemExit as exc:  # argparse's own errors leave through parser.exit
                code = exc.code
        text = err.getvalue()
        assert code == 2, (code, text, out.getvalue())
        assert "Traceback" not in text
        lines = text.strip().splitlines()
        assert len(lines) == 1 and re.match(rf"gpuparams {argv[0]}: error: ", lines[0]), text
        assert "[Errno" not in lines[0]  # an OSError's code is internal; its words are the message
        raise CliError(lines[0])

    def run_ok(self, *argv):
        """Run ``gpuparams ARGV`` in ``tmp``, which must succeed (to prepare a run to resume)."""
        out, err = io.StringIO(), io.StringIO()
        with _inside(self.tmp), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            assert cli_main.main(list(argv)) == 0, err.getvalue()

    # ---------------------------------------------------------------- snapshots
    def arm(self):
        self.before = self.snapshot()

    def snapshot(self):
        values = {name: p.data().asnumpy().copy() for name, p in self.net.collect_params().items()}
        # The trainer's state through its public API, written outside the watched folder.
        probe = self.side / "trainer-snapshot.npz"
        self.trainer.save_states(probe)
        trainer = self.arrays(probe)
        files = {}
        for root, dirs, names in os.walk(self.tmp):
            for name in dirs + names:
                path = os.path.join(root, name)
                rel = os.path.relpath(path, self.tmp)
                if os.path.isdir(path):
                    files[rel + "/"] = os.stat(path).st_mode
                elif not os.path.isfile(path):  # a named pipe: opening it would wait for a writer
                    files[rel] = ("special", os.lstat(path).st_mode)
                else:
                    with open(path, "rb") as f:
                        files[rel] = (hashlib.sha256(f.read()).hexdigest(), os.stat(path).st_mode)
        return values, trainer, files

    def assert_unchanged(self):
        values, trainer, files = self.snapshot()
        old_values, old_trainer, old_files = self.before
        assert values.keys() == old_values.keys()
        for name in values:
            np.testing.assert_array_equal(values[name], old_values[name], err_msg=f"model {name} changed")
        assert trainer.keys() == old_trainer.keys(), "trainer states changed"
        for key in trainer:
            np.testing.assert_array_equal(trainer[key], old_trainer[key], err_msg=f"trainer {key} changed")
        assert files == old_files, "the folder changed"


@pytest.fixture
def world(tmp_path, tmp_path_factory, monkeypatch):
    folder = tmp_path / "work"
    folder.mkdir()
    return World(folder, tmp_path_factory.mktemp("side"), monkeypatch)


# ----------------------------------------------------------------------------- NDArray
def _load_cast(w, replace):
    """A file of the model's entries as float64 zeros, with ``replace`` overriding some of them."""
    content = {k: np.zeros_like(v, dtype=np.float64) for k, v in w.arrays(w.model).items()}
    content.update(replace)
    bad = w.write("cast.npz", content)
    w.arm()
    w.net.load_parameters(bad, cast_dtype=True)


def _load_bytes(w, name, content, load=None):
    path = w.write(name, content)
    w.arm()
    (load or w.net.load_parameters)(path)


def _states_with(w, change):
    arrays = w.arrays(w.states)
    change(arrays)
    bad = w.write("bad.trainer.npz", arrays)
    w.arm()
    w.trainer.load_states(bad)


def _fresh_trainer_load(w, path):
    w.arm()
    w.trainer.load_states(path)


def _deferred(w):
    d = nn.Dense(4)
    d.initialize()
    d.weight.data()


def _uninitialized_save(w):
    net = nn.Sequential()
    net.add(nn.Dense(4, in_units=3))
    w.arm()
    net.save_parameters(w.model)


def _save_denied(w):
    w.arm()
    w.deny_writes(w.tmp)
    w.net.save_parameters(w.model)


def _save_disk_full(w):
    w.arm()
    w.fill_disk_after(1)
    w.net.save_parameters(w.model)


def _states_disk_full(w):
    w.arm()
    w.fill_disk_after(2)
    w.trainer.save_states(w.states)


def _inplace_then_backward(w):
    a = nd.ones((2,))
    a.attach_grad()
    with autograd.record():
        b = a * 2
        c = b * b
    b[:] = 5
    c.backward()


def _backward_twice(w):
    a = nd.ones((2,))
    a.attach_grad()
    with autograd.record():
        y = (a * a).sum()
    y.backward()
    y.backward()


def _not_recorded(w):
    a = nd.ones((2,))
    a.attach_grad()
    (a * 2).backward()


def _head_grad_shape(w):
    a = nd.ones((2,))
    a.attach_grad()
    with autograd.record():
        y = a * 2
    autograd.backward([y], [nd.ones((3,))])


def _stale_step(w):
    w.trainer.step(1)  # no backward since the last step


def _resume_prepared(w, damage):
    w.run_ok("train", "--examples", "40", "--epochs", "1", "--hidden", "4", "--out", "run.npz")
    damage(w)
    w.arm()
    w.cli("train", "--examples", "40", "--epochs", "1", "--resume", "--out", "run.npz")


def _resume_unreadable(w, name):
    """--resume where reading ``name`` is refused (EACCES; tests run as root, where chmod would not
    stop anything)."""
    import builtins
    w.run_ok("train", "--examples", "40", "--epochs", "1", "--hidden", "4", "--out", "run.npz")
    w.arm()
    real_open, target = builtins.open, str(w.tmp / name)

    def guarded_open(file, *args, **kwargs):
        if isinstance(file, (str, os.PathLike)) and os.path.abspath(file) == target:
            raise PermissionError(errno.EACCES, "Permission denied", os.fspath(file))
        return real_open(file, *args, **kwargs)
    w.monkeypatch.setattr(builtins, "open", guarded_open)
    w.cli("train", "--examples", "40", "--epochs", "1", "--resume", "--out", "run.npz")


def _record_field(field, value):
    def damage(w):
        path = w.tmp / "run.json"
        record = json.loads(path.read_text())
        record[field] = value
        path.write_text(json.dumps(record))
    return damage


def _params_of_widths(*widths):
    """Damage: run.npz replaced by the parameters of an MLP with other layer widths (same names)."""
    def damage(w):
        arrays = {}
        for i, (a, b) in enumerate(zip(widths, widths[1:])):
            arrays[f"{i}.weight"] = np.zeros((b, a), np.float32)
            arrays[f"{i}.bias"] = np.zeros((b,), np.float32)
        w.write("run.npz", arrays)
    return damage


def _params_without(key):
    def damage(w):
        arrays = w.arrays(w.tmp / "run.npz")
        del arrays[key]
        w.write("run.npz", arrays)
    return damage


def _cli_with_memory(w, free, *argv):
    """``train ARGV`` on a machine with ``free`` bytes of memory (so the check does not depend on
    the machine that runs the tests)."""
    from gpuparams.cli import train
    w.monkeypatch.setattr(train, "_available_bytes", lambda ctx: free)
    w.arm()
    w.cli("train", *argv)


def _cli_denied(w):
    w.deny_writes(w.tmp)
    w.arm()
    w.cli("train", "--examples", "40", "--epochs", "1", "--out", "m.npz")


def _cli_default_denied(w):
    w.deny_writes(w.tmp)
    w.arm()
    w.cli("train", "--examples", "40", "--epochs", "1")


def _zip_of(members):
    """The bytes of a zip archive holding ``{member name: bytes}`` (not an array file)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def _cli_data(w, name, content, *extra):
    (w.tmp / name).write_bytes(content)
    w.arm()
    w.cli("train", "--data", name, *extra)


def _cli_dataset_offline(w):
    """--dataset with no way to download (every URL refused) into folders that do not exist yet."""
    import socket

    from gpuparams.data.vision import FashionMNIST
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        w.dead_url = f"http://127.0.0.1:{s.getsockname()[1]}/"   # bound, not listening: refused
    w.monkeypatch.setattr(FashionMNIST, "urls", (w.dead_url,))
    w.arm()
    w.cli("train", "--dataset", "fashion-mnist", "--dataset-root", "dl/fm", "--epochs", "1")


CASES = [
    # --- NDArray ---------------------------------------------------------------------------
    ("nd-array-none", lambda w: nd.array(None), TypeError, ["the value is None"]),
    ("nd-array-none-in-list", lambda w: nd.array([1, None]), TypeError, ["element [1] is None"]),
    ("nd-array-none-nested", lambda w: nd.array([[1, 2], [None, 4]]), TypeError, ["element [1, 0]"]),
    ("nd-array-strings", lambda w: nd.array(["a", "b"]), TypeError, ["'a'", "strings are not numbers"]),
    ("nd-array-mixed-string", lambda w: nd.array([1, "x"]), TypeError, ["element [1]", "'x'"]),
    ("nd-array-dict", lambda w: nd.array({"a": 1}), TypeError, ["dict"]),
    ("nd-array-int8-overflow", lambda w: nd.array([200], dtype="int8"), OverflowError,
     ["200", "int8", "-128..127"]),
    ("nd-array-uint8-negative", lambda w: nd.array([3, -1], dtype="uint8"), OverflowError,
     ["element [1]", "-1", "uint8"]),
    ("nd-array-uint8-scalar", lambda w: nd.array(-1, dtype="uint8"), OverflowError, ["-1", "uint8"]),
    ("nd-array-numpy-int8", lambda w: nd.array(np.array([1, 300]), dtype="int8"), OverflowError,
     ["300", "int8"]),
    ("nd-array-nan-to-int", lambda w: nd.array([1.0, NAN], dtype="int32"), OverflowError,
     ["nan", "int32"]),
    ("nd-array-object-none", lambda w: nd.array(np.array([1, None], dtype=object)), ArrayConversionError,
     ["element [1]", "None", "not a number"]),
    ("nd-array-object-none-2d", lambda w: nd.array(np.array([[1, 2.5], [True, None]], dtype=object)),
     ArrayConversionError, ["element [1, 1]", "None"]),
    ("nd-array-object-numeric-string", lambda w: nd.array(np.array([1, "2"], dtype=object)),
     ArrayConversionError, ["element [1]", "'2'", "strings are not numbers"]),
    ("nd-array-object-int-dtype-none", lambda w: nd.array(np.array([None, 1], dtype=object), dtype="int32"),
     ArrayConversionError, ["element [0]", "None"]),
    ("nd-array-numpy-strings-dtype", lambda w: nd.array(np.array(["1", "2"]), dtype="float32"), TypeError,
     ["nd.array", "str"]),
    ("nd-ndarray-ctor-none", lambda w: nd.NDArray([1, None]), ArrayConversionError,
     ["NDArray", "element [1] is None"]),
    ("nd-ndarray-ctor-string", lambda w: nd.NDArray(["1", 2]), ArrayConversionError,
     ["element [0]", "'1'", "strings are not numbers"]),
    ("nd-ndarray-ctor-int8", lambda w: nd.NDArray([1, 200], dtype="int8"), OverflowError,
     ["NDArray", "element [1], 200", "int8 (-128..127)"]),
    ("nd-array-from-ndarray-int8", lambda w: nd.array(nd.array([200], dtype="int32"), dtype="int8"),
     OverflowError, ["element [0], 200", "int8 (-128..127)", "wider dtype"]),
    ("nd-array-float32-2**31-int32", lambda w: nd.array(np.array([1, 2.0**31], np.float32), dtype="int32"),
     OverflowError, ["element [1], 2147483648.0", "int32 (-2147483648..2147483647)"]),
    ("nd-array-float32-below-int32",
     lambda w: nd.array(np.array([-2.0**31 - 256], np.float32), dtype="int32"), OverflowError,
     ["-2147483904.0", "int32"]),
    ("nd-array-inf-to-int", lambda w: nd.array(np.array([0, -INF]), dtype="int64"), OverflowError,
     ["element [1], -inf", "int64"]),
    ("nd-array-float64-2**63-int64", lambda w: nd.array(np.array([2.0**63]), dtype="int64"), OverflowError,
     ["element [0]", "int64 (-9223372036854775808..9223372036854775807)"]),
    ("nd-array-object-int8", lambda w: nd.array(np.array([1, 300], dtype=object), dtype="int8"),
     OverflowError, ["element [1], 300", "int8 (-128..127)"]),
    ("nd-full-int8", lambda w: nd.full((2,), 300, dtype="int8"), OverflowError,
     ["nd.full", "300", "int8 (-128..127)", "wider dtype"]),
    ("nd-full-nan-int32", lambda w: nd.full((2,), NAN, dtype="int32"), OverflowError,
     ["nd.full", "nan", "int32"]),
    ("nd-full-out-int8", lambda w: nd.full((2,), 300, out=nd.zeros((2,), dtype="int8")), OverflowError,
     ["nd.full", "300", "int8 (-128..127)"]),
    ("nd-arange-uint8", lambda w: nd.arange(250, 260, dtype="uint8"), OverflowError,
     ["nd.arange", "element [6], 256", "uint8 (0..255)"]),
    ("nd-linspace-int8", lambda w: nd.linspace(0, 300, 3, dtype="int8"), OverflowError,
     ["nd.linspace", "element [1], 150", "int8 (-128..127)"]),
    ("np-array-int8", lambda w: gp.np.array(np.array([1, 200]), dtype="int8"), OverflowError,
     ["np.array", "element [1], 200", "int8 (-128..127)"]),
    ("np-array-from-ndarray-int8", lambda w: gp.np.array(gp.np.array([300], dtype="int32"), dtype="int8"),
     OverflowError, ["np.array", "300", "int8"]),
    ("np-array-float-to-int32", lambda w: gp.np.array(np.array([2.0**31], np.float32), dtype="int32"),
     OverflowError, ["np.array", "2147483648.0", "int32"]),
    ("np-full-int8", lambda w: gp.np.full((2,), 300, dtype="int8"), OverflowError,
     ["np.full", "300", "int8 (-128..127)"]),
    ("np-arange-uint8", lambda w: gp.np.arange(250, 260, dtype="uint8"), OverflowError,
     ["np.arange", "element [6], 256", "uint8 (0..255)"]),
    ("np-linspace-int8", lambda w: gp.np.linspace(0, 300, 3, dtype="int8"), OverflowError,
     ["np.linspace", "element [1], 150", "int8"]),
    ("np-array-object-none", lambda w: gp.np.array(np.array([1, None], dtype=object), dtype="float32"),
     ArrayConversionError, ["np.array", "element [1]", "None"]),
    ("np-array-list-none", lambda w: gp.np.array([[1, 2], [None, 3]]), ArrayConversionError,
     ["np.array", "element [1, 0] is None"]),
    ("nd-full-none", lambda w: nd.full((2,), None), ArrayConversionError, ["nd.full", "the value is None"]),
    ("nd-full-string", lambda w: nd.full((2,), "1"), ArrayConversionError, ["nd.full", "'1'", "strings"]),
    ("np-full-none", lambda w: gp.np.full((2,), None), ArrayConversionError, ["np.full", "is None"]),
    ("nd-setitem-list-none", lambda w: nd.zeros((2, 3)).__setitem__(1, [1, None, 3]), ArrayConversionError,
     ["x[1] = ...", "element [1] is None"]),
    ("nd-setitem-none-int", lambda w: nd.zeros((2,), dtype="int32").__setitem__(0, None),
     ArrayConversionError, ["x[0] = ...", "the value is None"]),
    ("nd-setitem-string", lambda w: nd.zeros((3,)).__setitem__(slice(1, None), ["2", 3]),
     ArrayConversionError, ["x[1:] = ...", "element [0]", "'2'", "strings are not numbers"]),
    ("nd-setitem-int8-list", lambda w: nd.zeros((2,), dtype="int8").__setitem__(slice(None), [1, 200]),
     OverflowError, ["x[:] = ...", "element [1], 200", "int8 (-128..127)"]),
    ("np-setitem-none", lambda w: gp.np.zeros((2, 2)).__setitem__((slice(None), 0), (None, 1)),
     ArrayConversionError, ["x[(:, 0)] = ...", "element [0] is None"]),
    ("nd-reshape", lambda w: nd.zeros((2, 3)).reshape((4, 4)), ValueError, ["(2, 3)", "(4, 4)"]),
    ("nd-broadcast", lambda w: nd.zeros((2, 3)) + nd.zeros((4,)), ValueError, ["(2, 3)", "(4,)"]),
    ("nd-dot", lambda w: nd.dot(nd.zeros((2, 3)), nd.zeros((4, 5))), ValueError, ["(2, 3)", "(4, 5)"]),
    ("nd-asscalar", lambda w: nd.zeros((2, 3)).asscalar(), ValueError, ["(2, 3)"]),
    ("nd-sum-axis", lambda w: nd.zeros((2, 3)).sum(axis=5), ValueError, ["axis 5"]),
    ("nd-max-empty-axis", lambda w: nd.zeros((0, 3)).max(axis=0), ValueError, ["axis 0", "(0, 3)", "empty"]),
    ("nd-max-empty-all", lambda w: nd.zeros((0, 3)).max(), ValueError, ["axis 0", "(0, 3)"]),
    ("nd-min-empty-axis", lambda w: nd.zeros((3, 0)).min(axis=1), ValueError, ["axis 1", "(3, 0)"]),
    ("nd-argmax-empty", lambda w: nd.argmax(nd.zeros((0, 3)), axis=0), ValueError, ["axis 0", "(0, 3)"]),
    ("nd-argmin-empty-flat", lambda w: nd.argmin(nd.zeros((2, 0))), ValueError, ["(2, 0)", "empty"]),
    ("nd-pick-fraction", lambda w: nd.pick(nd.zeros((2, 3)), nd.array([1, 1.5])), ValueError,
     ["1.5", "row 1", "whole number"]),
    ("nd-pick-nan", lambda w: nd.pick(nd.zeros((2, 3)), nd.array([NAN, 0])), ValueError, ["NaN", "row 0"]),
    ("nd-one-hot-fraction", lambda w: nd.one_hot(nd.array([0.5]), 3), ValueError, ["0.5", "row 0"]),
    ("nd-take-fraction", lambda w: nd.take(nd.zeros((3, 2)), nd.array([[0, 2.25]])), ValueError,
     ["2.25", "position [0, 1]"]),
    ("nd-take-raise", lambda w: nd.take(nd.zeros((3,)), nd.array([7]), mode="raise"), IndexError,
     ["index 7", "size 3"]),
    ("nd-astype", lambda w: nd.zeros((2,)).astype("float13"), TypeError, ["float13"]),
    ("nd-zeros-negative", lambda w: nd.zeros((-1, 2)), ValueError, ["(-1, 2)"]),
    ("nd-setitem-shape", lambda w: nd.zeros((2, 3)).__setitem__(slice(None), nd.zeros((4,))), ValueError,
     ["(4,)", "(2, 3)"]),
    # --- autograd --------------------------------------------------------------------------
    ("ag-inplace-before-backward", _inplace_then_backward, RuntimeError, ["in-place", "(2,)", "multiply"]),
    ("ag-backward-twice", _backward_twice, RuntimeError, ["'sum'", "retain_graph=True"]),
    ("ag-not-recorded", _not_recorded, RuntimeError, ["autograd.record()", "attach_grad()"]),
    ("ag-head-grad-shape", _head_grad_shape, ValueError, ["(3,)", "(2,)"]),
    # --- Parameter / Block -----------------------------------------------------------------
    ("param-data-before-init", lambda w: gluon.Parameter("w9", shape=(2, 3)).data(), RuntimeError,
     ["'w9'", "initialize()"]),
    ("param-deferred", _deferred, DeferredInitializationError, ["_weight", "in_units"]),
    ("param-set-data-shape", lambda w: w.net[0].weight.set_data(nd.zeros((3, 3))), ValueError,
     ["(3, 3)", "(4, 3)"]),
    ("param-grad-req", lambda w: gluon.Parameter("r", grad_req="bogus"), ValueError, ["'bogus'"]),
    ("param-negative-shape", lambda w: gluon.Parameter("r", shape=(-2, 3)), ValueError, ["(-2, 3)"]),
    ("param-duplicate-ctx", lambda w: gluon.Parameter("z", shape=(2,)).initialize(ctx=[gp.cpu(0), gp.cpu(0)]),
     ValueError, ["'z'", "twice"]),
    ("block-in-units", lambda w: w.net(nd.zeros((2, 5))), ValueError, ["(2, 5)", "(4, 3)"]),
    ("block-regex-unclosed", lambda w: w.net.collect_params("[unclosed"), ValueError,
     ["'[unclosed'", "not a valid regular expression", "position 0"]),
    ("block-regex-paren", lambda w: w.net.collect_params("dense(0"), ValueError, ["'dense(0'", "position 5"]),
    ("block-regex-type", lambda w: w.net.collect_params(5), TypeError, ["int", "5"]),
    ("block-dense-units", lambda w: nn.Dense(0), ValueError, ["units", "0"]),
    ("block-activation", lambda w: nn.Activation("relux"), ValueError, ["'relux'"]),
    # --- files: parameters -----------------------------------------------------------------
    ("file-random-bytes", lambda w: _load_bytes(w, "junk.npz", os.urandom(1000)),
     ArrayFileError, ["{tmp}/junk.npz", "not a gpuparams parameter file (not a zip archive)"]),
    ("file-empty", lambda w: _load_bytes(w, "empty.npz", b""), ArrayFileError,
     ["{tmp}/empty.npz", "empty"]),
    ("file-truncated", lambda w: _load_bytes(w, "cut.npz", w.model.read_bytes()[:300]),
     ArrayFileError, ["{tmp}/cut.npz", "truncated or corrupt"]),
    ("file-npy", lambda w: _load_bytes(w, "one.npz", b"\x93NUMPY\x01\x00rest"),
     ArrayFileError, ["{tmp}/one.npz", ".npy"]),
    ("file-objects", lambda w: (w.write("obj.npz", {"0.weight": np.array([{"a": 1}], dtype=object)}),
                                w.arm(), w.net.load_parameters(w.tmp / "obj.npz")),
     ArrayFileError, ["{tmp}/obj.npz", "'0.weight'", "pickle"]),
    ("file-zip-not-npy", lambda w: _load_bytes(w, "x.params", _zip_of({"weight": b"hello"})), ArrayFileError,
     ["{tmp}/x.params", "member 'weight'", "not a .npy array", "not a gpuparams/MXNet parameter file"]),
    ("file-zip-npy-name-not-npy", lambda w: _load_bytes(w, "y.npz", _zip_of({"0.weight.npy": b"hello"})),
     ArrayFileError, ["{tmp}/y.npz", "member '0.weight.npy'", "not a gpuparams/MXNet parameter file"]),
    ("file-folder", lambda w: ((w.tmp / "adir").mkdir(), w.arm(), w.net.load_parameters(w.tmp / "adir")),
     IsADirectoryError, ["{tmp}/adir", "folder"]),
    ("file-missing", lambda w: (w.arm(), w.net.load_parameters(w.tmp / "absent.npz")), FileNotFoundError,
     ["{tmp}/absent.npz"]),
    ("load-cast-strings", lambda w: _load_cast(w, {"1.bias": np.array(["a", "b"])}), ValueError,
     ["1.bias", "str", "cannot be converted"]),
    ("load-cast-complex", lambda w: _load_cast(w, {"1.weight": np.full((2, 4), 1 + 2j)}), ValueError,
     ["1.weight", "imaginary"]),
    ("load-cast-overflow", lambda w: _load_cast(w, {"1.bias": np.array([1e39, 0.0])}), ValueError,
     ["1.bias", "float32 range"]),
    ("load-shape", lambda w: _load_cast(w, {"0.weight": np.zeros((4, 5))}), ValueError,
     ["0.weight", "(4, 3)", "(4, 5)"]),
    ("load-extra", lambda w: _load_cast(w, {"2.weight": np.zeros((1,))}), ValueError, ["2.weight"]),
    ("load-missing-entry",
     lambda w: (w.write("part.npz", {"0.weight": np.zeros((4, 3), np.float32)}), w.arm(),
                w.net.load_parameters(w.tmp / "part.npz")),
     ValueError, ["0.bias", "1.weight", "allow_missing"]),
    ("file-name-none", lambda w: (w.arm(), w.net.load_parameters(None)), TypeError,
     ["cannot load None", "file name must be a str or os.PathLike", "NoneType"]),
    ("file-name-empty", lambda w: (w.arm(), w.net.load_parameters("")), FileNotFoundError,
     ["cannot load ''", "file name is empty"]),
    ("save-name-empty", lambda w: (w.arm(), w.net.save_parameters("")), FileNotFoundError,
     ["cannot save ''", "file name is empty"]),
    ("save-name-int", lambda w: (w.arm(), w.net.save_parameters(3)), TypeError, ["cannot save 3", "int"]),
    ("states-name-none", lambda w: (w.arm(), w.trainer.save_states(None)), TypeError,
     ["cannot save None", "os.PathLike"]),
    ("nd-load-name-empty", lambda w: (w.arm(), nd.load("")), FileNotFoundError, ["cannot load ''", "empty"]),
    ("save-onto-folder", lambda w: ((w.tmp / "out").mkdir(), w.arm(), w.net.save_parameters(w.tmp / "out")),
     IsADirectoryError, ["{tmp}/out", "folder"]),
    ("save-under-a-file", lambda w: (w.arm(), w.net.save_parameters(w.model / "m.params")),
     NotADirectoryError, ["{tmp}/model.npz/m.params", "{tmp}/model.npz is a file, not a folder"]),
    ("nd-save-under-a-file", lambda w: (w.arm(), nd.save(w.states / "x" / "y", [nd.ones((1,))])),
     NotADirectoryError, ["{tmp}/model.trainer.npz is a file, not a folder"]),
    ("save-missing-folder", lambda w: (w.arm(), w.net.save_parameters(w.tmp / "nope" / "m.npz")),
     FileNotFoundError, ["{tmp}/nope"]),
    ("save-read-only-folder", _save_denied, PermissionError, ["{tmp}/model.npz", "Permission denied"]),
    ("save-disk-full", _save_disk_full, OSError, ["{tmp}/model.npz", "No space left"]),
    ("save-uninitialized", _uninitialized_save, RuntimeError, ["0.weight"]),
    ("nd-save-list-of-ints", lambda w: (w.arm(), nd.save(w.tmp / "x.npz", [1, 2])), TypeError, ["item 0"]),
    ("nd-load-zip-not-npy", lambda w: _load_bytes(w, "x.params", _zip_of({"weight": b"hello"}), nd.load),
     ArrayFileError, ["{tmp}/x.params", "member 'weight'", "not a gpuparams/MXNet parameter file"]),
    ("states-zip-not-npy",
     lambda w: _load_bytes(w, "s.states", _zip_of({"__optimizer__": b"adam"}), w.trainer.load_states),
     ArrayFileError, ["{tmp}/s.states", "member '__optimizer__'", "not a .npy array"]),
    ("nd-load-garbage", lambda w: _load_bytes(w, "g.npz", b"garbage!", nd.load), ArrayFileError,
     ["{tmp}/g.npz", "not a zip archive"]),
    # --- Trainer / loss / data -------------------------------------------------------------
    ("states-garbage", lambda w: _load_bytes(w, "t.npz", b"not a zip", w.trainer.load_states), ArrayFileError,
     ["{tmp}/t.npz", "trainer-states file"]),
    ("states-of-parameters", lambda w: _fresh_trainer_load(w, w.model), ArrayFileError,
     ["{tmp}/model.npz", "not a gpuparams trainer-states file"]),
    ("states-string-state", lambda w: _states_with(w, lambda a: a.__setitem__(
        f"{w.names[-1]}/var", np.full(a[f"{w.names[-1]}/var"].shape, "x"))),
     ValueError, ["{tmp}/bad.trainer.npz", "/var", "not numbers"]),
    ("states-shape", lambda w: _states_with(w, lambda a: a.__setitem__(f"{w.names[0]}/mean", np.zeros((7,)))),
     ValueError, ["/mean", "(7,)"]),
    ("states-num-update-text",
     lambda w: _states_with(w, lambda a: a.__setitem__("__num_update__", np.array("x"))),
     ArrayFileError, ["'__num_update__'", "integer"]),
    ("states-lr-nan",
     lambda w: _states_with(w, lambda a: a.__setitem__("__learning_rate__", np.array(NAN))),
     ArrayFileError, ["'__learning_rate__'", "nan"]),
    ("states-unknown-parameter",
     lambda w: _states_with(w, lambda a: a.__setitem__("ghost_weight/mean", np.zeros(2))),
     ValueError, ["'ghost_weight/mean'"]),
    ("states-other-optimizer",
     lambda w: _states_with(w, lambda a: a.__setitem__("__optimizer__", np.array("sgd"))),
     ValueError, ["'sgd'", "'adam'"]),
    ("states-save-disk-full", _states_disk_full, OSError, ["{tmp}/model.trainer.npz", "No space left"]),
    ("trainer-stale", _stale_step, StaleGradientError, ["_bias", "backward"]),
    ("trainer-optimizer", lambda w: gluon.Trainer(w.net.collect_params(), "rmsgrop"), ValueError,
     ["'rmsgrop'"]),
    ("loss-fractional-label",
     lambda w: gluon.loss.SoftmaxCrossEntropyLoss()(nd.zeros((2, 3)), nd.array([0, 0.9999])),
     ValueError, ["label 0.9999", "row 1", "whole number"]),
    ("loss-nan-label",
     lambda w: gluon.loss.SoftmaxCrossEntropyLoss()(nd.zeros((3, 3)), nd.array([0, 1, NAN])),
     ValueError, ["label NaN", "row 2"]),
    ("loss-label-range", lambda w: gluon.loss.SoftmaxCrossEntropyLoss()(nd.zeros((2, 3)), nd.array([0, 5])),
     ValueError, ["label 5", "0..2"]),
    ("loss-sparse-shape",
     lambda w: gluon.loss.SoftmaxCrossEntropyLoss()(nd.zeros((2, 3)), nd.array([0, 1, 2])),
     ValueError, ["(3,)", "(2, 3)"]),
    ("loss-l2-shape", lambda w: gluon.loss.L2Loss()(nd.zeros((2, 3)), nd.zeros((4,))), ValueError,
     ["(4,)", "(2, 3)"]),
    ("data-lengths", lambda w: gluon.data.ArrayDataset(nd.zeros((4, 2)), nd.zeros((3,))), ValueError,
     ["4", "3"]),
    ("data-batch-size",
     lambda w: gluon.data.DataLoader(gluon.data.ArrayDataset(nd.zeros((4, 2))), batch_size=0),
     ValueError, ["batch_size", "0"]),
    # --- CLI --------------------------------------------------------------------------------
    ("cli-out-is-folder", lambda w: ((w.tmp / "outdir").mkdir(), w.arm(), w.cli("train", "--out", "outdir")),
     CliError, ["--out outdir", "is a folder"]),
    ("cli-out-read-only", _cli_denied, CliError, ["--out m.npz", "Permission denied", "writable"]),
    ("cli-runs-read-only", _cli_default_denied, CliError, ["runs", "Permission denied"]),
    ("cli-out-empty", lambda w: (w.arm(), w.cli("train", "--out", "")), CliError,
     ["--out ''", "empty file name"]),
    ("cli-out-under-a-file", lambda w: (w.arm(), w.cli("train", "--out", "model.npz/m.npz", "--force")),
     CliError, ["--out model.npz/m.npz", "{tmp}/model.npz is a file, not a folder"]),
    ("cli-out-named-pipe", lambda w: (os.mkfifo(w.tmp / "pipe.npz"), w.arm(),
                                      w.cli("train", "--out", "pipe.npz", "--force")),
     CliError, ["--out pipe.npz", "not a regular file"]),
    ("cli-out-states-path-is-folder", lambda w: ((w.tmp / "m.trainer.npz").mkdir(), w.arm(),
                                                 w.cli("train", "--out", "m.npz", "--force")),
     CliError, ["--out m.npz", "trainer-states file m.trainer.npz is a folder"]),
    ("cli-out-missing-folder", lambda w: (w.arm(), w.cli("train", "--out", "nope/m.npz")), CliError,
     ["nope", "does not exist"]),
    ("cli-out-exists", lambda w: (w.arm(), w.cli("train", "--out", "model.npz")), CliError,
     ["model.npz", "already exist", "--force"]),
    ("cli-hidden-too-big", lambda w: (w.arm(), w.cli("train", "--hidden", "1000000,1000000")), CliError,
     ["--hidden 1000000,1000000", "TB", "parameters"]),
    ("cli-examples-beyond-int64", lambda w: (w.arm(), w.cli("train", "--examples", "9" * 23)), CliError,
     ["--examples 99,999,999,999,999,999,999,999", "synthetic data set needs about", "fewer --examples"]),
    ("cli-examples-beyond-memory", lambda w: _cli_with_memory(w, 10**9, "--examples", str(10**9)), CliError,
     ["--examples 1,000,000,000", "needs about 96.0 GB", "the 1.0 GB free", "fewer --examples"]),
    ("cli-batch-beyond-memory",
     lambda w: _cli_with_memory(w, 10**9, "--examples", "50000", "--batch-size", "50000", "--hidden", "4000"),
     CliError, ["--batch-size 50000", "2.4 GB of it the activations of one batch", "2 -> 4000 -> 3",
                "1.0 GB free", "smaller --batch-size"]),
    ("cli-batch-clipped-to-data",
     lambda w: _cli_with_memory(w, 10**8, "--examples", "40", "--batch-size", str(10**20),
                                "--hidden", "2000000"),
     CliError, ["--hidden 2000000", "needs about 1.2 GB", "12,000,003 parameters"]),  # a batch is 40
    ("cli-resume-nothing", lambda w: (w.arm(), w.cli("train", "--resume")), CliError,
     ["no earlier run in runs/"]),
    ("cli-resume-corrupt-states",
     lambda w: _resume_prepared(w, lambda w: (w.tmp / "run.trainer.npz").write_bytes(b"junk")),
     CliError, ["run.trainer.npz", "not a zip archive"]),
    ("cli-resume-corrupt-params",
     lambda w: _resume_prepared(w, lambda w: (w.tmp / "run.npz").write_bytes(b"PK\x03\x04junk")),
     CliError, ["run.npz", "truncated or corrupt"]),
    # The run trained 2 features -> 4 hidden -> 3 classes (structural names 0.weight ... 1.bias).
    ("cli-resume-params-other-shapes", lambda w: _resume_prepared(w, _params_of_widths(2, 8, 3)), CliError,
     ["--resume: run.npz does not match the run record run.json", "parameter 0.weight", "(8, 2)", "(4, 2)",
      "2 -> 4 -> 3", "(and 2 more mismatches)", "--force (overwrites run.npz)", "another --out"]),
    ("cli-resume-params-missing-entry", lambda w: _resume_prepared(w, _params_without("1.bias")), CliError,
     ["run.npz", "parameter 1.bias", "(3,)", "missing from the file", "--force"]),
    ("cli-resume-states-unreadable", lambda w: _resume_unreadable(w, "run.trainer.npz"), CliError,
     ["--resume", "cannot read run.trainer.npz: permission denied", "--force"]),
    ("cli-resume-params-unreadable", lambda w: _resume_unreadable(w, "run.npz"), CliError,
     ["--resume", "cannot read run.npz: permission denied"]),
    ("cli-resume-states-missing",
     lambda w: _resume_prepared(w, lambda w: (w.tmp / "run.trainer.npz").unlink()), CliError,
     ["run.trainer.npz not found", "run.npz and run.json", "restore it", "--force"]),
    ("cli-resume-record-gone", lambda w: _resume_prepared(w, lambda w: (w.tmp / "run.json").unlink()),
     CliError, ["run.json not found", "restore it", "--force"]),
    ("cli-resume-record-json",
     lambda w: _resume_prepared(w, lambda w: (w.tmp / "run.json").write_text("{not json")),
     CliError, ["run.json"]),
    ("cli-resume-record-hidden", lambda w: _resume_prepared(w, _record_field("hidden", "four")), CliError,
     ["run.json", "'hidden'", "four"]),
    ("cli-resume-record-missing", lambda w: _resume_prepared(w, _record_field("epochs_done", None)),
     CliError, ["run.json", "'epochs_done'"]),
    ("cli-dataset-offline", _cli_dataset_offline, CliError,
     ["--dataset fashion-mnist", "could not download train-images-idx3-ubyte.gz",
      "http://127.0.0.1:", "/train-images-idx3-ubyte.gz", "put it at dl/fm/train-images-idx3-ubyte.gz",
      "SHA-1 0cf37b0d40ed5169c6b3aba31069a9770ac9043d", "--dataset-root"]),
    ("cli-dataset-root-is-a-file", lambda w: (w.arm(), w.cli("train", "--dataset", "mnist", "--dataset-root",
                                                             "model.npz/mnist", "--epochs", "1")),
     CliError, ["--dataset mnist", "{tmp}/model.npz", "a file is in the way", "--dataset-root"]),
    ("cli-dataset-root-alone", lambda w: (w.arm(), w.cli("train", "--dataset-root", "dl", "--epochs", "1")),
     CliError, ["--dataset-root dl", "give --dataset NAME too"]),
    ("cli-data-missing", lambda w: (w.arm(), w.cli("train", "--data", "none.csv")), CliError,
     ["none.csv", "no such file"]),
    ("cli-data-text", lambda w: _cli_data(w, "t.csv", b"1,2,3\n4,x,6\n"), CliError,
     ["t.csv", "not a table of numbers"]),
    ("cli-data-nan", lambda w: _cli_data(w, "n.csv", b"1,2,0\nnan,2,1\n"), CliError, ["n.csv", "NaN"]),
    ("cli-data-nan-position", lambda w: _cli_data(w, "p.csv", b"a,b,y\n1,2,0\n3,4,1\n5,-inf,0\n"), CliError,
     ["p.csv", "X holds -inf at example 3, column 2"]),
    ("cli-data-inf-label", lambda w: (w.write("l.npz", {"X": np.zeros((3, 2)), "y": np.array([0, INF, 1])}),
                                      w.arm(), w.cli("train", "--data", "l.npz")),
     CliError, ["l.npz", "y holds +inf at example 2"]),
    ("cli-data-no-features", lambda w: (w.write("nofeat.npz", {"X": np.zeros((6, 0)), "y": np.arange(6) % 2}),
                                        w.arm(), w.cli("train", "--data", "nofeat.npz")),
     CliError, ["nofeat.npz", "no feature columns", "(6, 0)"]),
    ("cli-data-semicolons", lambda w: _cli_data(w, "s.csv", b"a;b;y\n1;2;0\n3;4;1\n"), CliError,
     ["s.csv", "line 2, column 1", "'1;2;0' is not a number", "separated by commas"]),
    ("cli-data-empty-field", lambda w: _cli_data(w, "f.csv", b"x,y,label\n1,2,0\n\n3,4,\n"), CliError,
     ["f.csv", "line 4, column 3", "'' is not a number"]),
    ("cli-data-blank-lines-only", lambda w: _cli_data(w, "b.csv", b"\n  \n\n"), CliError,
     ["b.csv", "the file is empty"]),
    ("cli-data-ragged", lambda w: _cli_data(w, "r.csv", b"1,2,3\n4,5\n"), CliError,
     ["r.csv", "columns changed from 3 to 2"]),
    ("cli-data-npz-junk", lambda w: _cli_data(w, "j.npz", b"junk"), CliError, ["j.npz", "not a zip archive"]),
    ("cli-bench-out-file", lambda w: (w.arm(), w.cli("bench", "--suite", "cpu", "--out", "model.npz/sub")),
     CliError, ["model.npz", "is a file"]),
    ("cli-bench-suite", lambda w: (w.arm(), w.cli("bench", "--suite", "nope")), CliError, ["'nope'"]),
    ("cli-bench-seed", lambda w: (w.arm(), w.cli("bench", "--suite", "cpu", "--quick", "--seed", "-1")),
     CliError, ["--seed", ">= 0", "-1"]),
    ("cli-bench-peak-nan", lambda w: (w.arm(), w.cli("bench", "--suite", "cpu", "--peak-tflops", "nan")),
     CliError, ["--peak-tflops", "positive and finite", "nan"]),
    ("cli-bench-peak-inf", lambda w: (w.arm(), w.cli("bench", "--suite", "cpu", "--peak-tbps", "inf")),
     CliError, ["--peak-tbps", "inf"]),
    ("cli-bench-procs", lambda w: (w.arm(), w.cli("bench", "--suite", "cpu", "--procs", "0")),
     CliError, ["--procs", ">= 1", "0"]),
    ("cli-bench-filter", lambda w: (w.arm(), w.cli("bench", "--filter", "[x")), CliError,
     ["--filter", "regular expression"]),
    ("cli-info-bogus", lambda w: (w.arm(), w.cli("info", "--bogus")), CliError, ["--bogus"]),
]

#: Cases about files, loads and the CLI: they must take a "before" snapshot and keep it.
GUARDED = ("file-", "load-", "save-", "nd-save", "nd-load", "states-", "cli-")


def test_the_table_covers_every_area():
    areas = {case[0].split("-")[0] for case in CASES}
    assert {"nd", "ag", "param", "block", "file", "load", "save", "states", "trainer", "loss", "data",
            "cli"} <= areas
    assert len(CASES) >= 60 and len({case[0] for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case_id, action, exc_type, names", CASES, ids=[c[0] for c in CASES])
def test_bad_input(world, case_id, action, exc_type, names):
    with pytest.raises(exc_type) as caught:
        action(world)
    message = str(caught.value)
    for needle in names:
        assert needle.format(tmp=world.tmp) in message, f"{needle!r} not named in: {message}"
    assert ".tmp-" not in message  # a temporary file is ours, never the user's problem
    if case_id.startswith(GUARDED):
        assert world.before is not None, "a file/load case must snapshot before the failing call"
        world.monkeypatch.undo()  # restore os.open / write_array before looking at the folder
        world.assert_unchanged()
    leftovers = [n for n in os.listdir(world.tmp) if re.search(r"\.tmp-|\.probe-|gpuparams-probe", n)]
    assert leftovers == []


# ----------------------------------------------------------------------------- against MXNet 1.9.1
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "mxnet_1_9_1_bad_input.json"),
          encoding="utf-8") as _f:
    MXNET = json.load(_f)

#: Cases where MXNet returns a wrong value without a word and gpuparams raises instead.
REFUSED = {"array_none_in_list": TypeError, "array_int8_200": OverflowError,
           "array_uint8_minus_1": OverflowError, "sce_label_0.9999": ValueError, "pick_1.5": ValueError,
           "one_hot_1.5": ValueError, "take_1.5": ValueError}


def _mxnet_cases():
    """The very code that produced the MXNet record, to run with gpuparams."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "mxnet_bad_input_cases.py")
    spec = importlib.util.spec_from_file_location("mxnet_bad_input_cases", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.CASES


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_what_mxnet_gets_silently_wrong_is_refused(name):
    recorded = MXNET[name]
    assert not isinstance(recorded, str)  # MXNet returned a value ...
    with pytest.raises(REFUSED[name]):  # ... which we refuse
        _mxnet_cases()[name](nd, gluon)


def test_mxnet_truncates_the_label_that_we_refuse():
    # The evidence for the change: 0.9999 trained as class 0 under MXNet.
    assert MXNET["sce_label_0.9999"] == MXNET["sce_label_0"]
    ours = _mxnet_cases()["sce_label_0"](nd, gluon).asnumpy().tolist()
    np.testing.assert_allclose(ours, MXNET["sce_label_0"], rtol=1e-6)


def test_infinite_logits_where_mxnet_gives_nan():
    cases = _mxnet_cases()
    assert np.isnan(MXNET["sce_inf_logit_at_label"][0])  # MXNet: NaN; the exact loss is 0
    assert cases["sce_inf_logit_at_label"](nd, gluon).asnumpy().tolist() == [0.0]
    assert MXNET["sce_inf_logit_elsewhere"] == [INF]  # where MXNet is right, we agree
    assert cases["sce_inf_logit_elsewhere"](nd, gluon).asnumpy().tolist() == [INF]


def test_infinite_logits_softmax_and_dense_cross_entropy_without_warnings():
    # The inputs: before, the max shift gave inf - inf = NaN rows (softmax, log_softmax) and
    # 0 * -inf = NaN dense losses, each with a RuntimeWarning. Now the exact limits, silently.
    import warnings
    row = nd.array([[INF, 1, 2]])
    dense = gluon.loss.SoftmaxCrossEntropyLoss(sparse_label=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert nd.softmax(row).asnumpy().tolist() == [[1.0, 0.0, 0.0]]
        assert nd.log_softmax(row).asnumpy().tolist() == [[0.0, -INF, -INF]]
        assert dense(row, nd.array([[1, 0, 0]])).asnumpy().tolist() == [0.0]
        minus = dense(nd.array([[-INF, 1, 2]]), nd.array([[0, 1, 0]])).asnumpy()
        assert np.isnan(nd.softmax(nd.array([[-INF, -INF]])).asnumpy()).all()  # no distribution
    np.testing.assert_allclose(minus, [np.logaddexp(1, 2) - 1], rtol=1e-6)
