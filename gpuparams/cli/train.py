"""``python -m gpuparams train``: train a model end to end and save it.

Examples::

    gpuparams train                                  # MLP on synthetic spirals, best device present
    gpuparams train --task linreg                    # the Gluon linear-regression chapter
    gpuparams train --data points.csv --hidden 64,64 --epochs 20 --ctx cpu
    gpuparams train --data points.csv --epochs 10 --resume   # 10 more epochs of the newest run
    gpuparams train --dataset fashion-mnist --hidden 256 --epochs 5   # the D2L MLP chapter

Data: without ``--data``, a built-in synthetic task that needs no download: ``classify`` (default;
three interleaved spirals in 2-D, not linearly separable) or ``linreg`` (``y = 2*x1 - 3.4*x2 + 4.2``
plus noise of standard deviation 0.01, 1000 examples). ``--data file.npz`` (arrays ``X`` and ``y``)
or ``file.csv`` (numbers, last column the label, an optional header line: a first line that is not
all numbers; a UTF-8 byte-order mark is ignored) trains on your data; its features are standardized
with the training set's mean and standard deviation (kept in the run record). The task of a data
file is classification when its labels are whole numbers of an integer dtype or at most 100
distinct whole values, else regression; ``--task`` overrides.
``--dataset fashion-mnist`` (or ``mnist``) trains a classifier on that training set's 60,000 images
(pixels scaled to [0, 1], flattened); the files are read from ``--dataset-root`` (default
``$GPUPARAMS_HOME/datasets/<name>``, ``~/.gpuparams/datasets/<name>``) and downloaded there when
missing; offline, the error names each file's URL and where to put it by hand.

Outputs, for ``--out model.npz``: ``model.npz`` (parameters, the format of
``Block.save_parameters``), ``model.trainer.npz`` (the Trainer's states) and ``model.json`` (the run
record: task, architecture, preprocessing, epochs done, history), rewritten after every epoch.
Without ``--out`` every run gets a new folder, ``runs/<YYYYmmdd-HHMMSS>/model.npz`` and so on, so
nothing is ever overwritten; an explicit ``--out`` whose files exist is refused unless ``--force``
(or ``--resume``) is given. ``--resume`` continues from the files of ``--out``, or without it from
the newest run under ``runs/``.

Under ``mpirun -n N`` (or ``srun``) the N processes train data-parallel: each takes its part of every
epoch (``--batch-size`` is per process), gradients are averaged across them, and rank 0 alone prints
(one progress bar, one summary with the examples/s of all processes), picks the run folder and
writes the files.

Exit codes: 0 on success; 1 when training diverged (a non-finite loss); 2 for bad arguments,
unreadable or unsuitable data files, outputs that cannot be written and models too big for the
device (one line on stderr, no traceback, before any training).
"""
from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import os
import re
import sys
import time
import types
import warnings

import numpy as np

from . import UsageError, probe_writable

__all__ = ["add_arguments", "run", "make_spirals", "make_linreg", "load_data", "parse_context",
           "TASK_DEFAULTS"]

#: Defaults of each task, used for every option the command line leaves unset.
TASK_DEFAULTS = {
    "classify": {"hidden": (64, 64), "epochs": 10, "batch_size": 32, "optimizer": "adam", "lr": 0.01,
                 "examples": 1500},
    "linreg": {"hidden": (), "epochs": 3, "batch_size": 10, "optimizer": "sgd", "lr": 0.03,
               "examples": 1000},
}
_RECORD_FORMAT = "gpuparams-train/1"
_MAX_CLASSES_FROM_FLOATS = 100
_EVAL_BATCH = 4096
#: Where runs go without --out: a new folder per run below this one (relative to the working folder).
RUNS_DIR = "runs"
_OUT_NAME = "model.npz"


# ----------------------------------------------------------------------------- arguments
#: ``--dataset`` names -> classes of ``gpuparams.data.vision``.
DATASETS = {"fashion-mnist": "FashionMNIST", "mnist": "MNIST"}


def load_dataset(name, root):
    """``(X float32 (N, 784) in [0, 1], y int labels, description)`` of a vision training set."""
    from ..data import vision
    from ..errors import DatasetChecksumError, DatasetDownloadError, DatasetFormatError
    try:
        ds = getattr(vision, DATASETS[name])(root=root, train=True)
    except DatasetDownloadError as exc:
        raise UsageError(f"--dataset {name}: {_download_failure(exc)}") from None
    except (DatasetChecksumError, DatasetFormatError) as exc:
        raise UsageError(f"--dataset {name}: {exc}") from None
    except OSError as exc:  # the folder: a file in its place, no permission to create or read it
        folder = exc.filename or root
        reason = exc.strerror or str(exc)
        if isinstance(exc, (FileExistsError, NotADirectoryError)):
            reason = "a file is in the way (it is not a folder)"
        raise UsageError(f"--dataset {name}: cannot use the dataset folder {folder}: {reason}; give "
                         "--dataset-root DIR of a folder (it is created when missing)") from None
    images = ds._data.asnumpy()
    X = images.reshape(len(images), -1).astype(np.float32) / np.float32(255)
    return X, ds._label.astype(np.int64), f"{name} ({len(images)} training images from {ds.root})"


def _download_failure(exc):
    """A DatasetDownloadError as one line: the URLs and why each failed, where the file goes by hand
    (with its SHA-1), and the option that points at files already downloaded elsewhere."""
    if exc.target is None:  # raised without its parts: its own text, on one line
        return " ".join(str(exc).split())
    tried = "; ".join(f"{url}: {why}" for url, why in exc.failures)
    return (f"could not download {exc.file} ({tried}); download it by hand and put it at {exc.target} "
            f"(SHA-1 {exc.sha1}), or give --dataset-root DIR of a folder that holds the files")


def _int_at_least(minimum, what):
    """An argparse type: an integer of at least ``minimum``, else ``expected <what>, got '...'``."""
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum:
            raise argparse.ArgumentTypeError(f"expected {what}, got {text!r}")
        return value
    return parse


_positive_int = _int_at_least(1, "a positive integer")
_non_negative_int = _int_at_least(0, "a non-negative integer")


def _positive_float(text):
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def _hidden_sizes(text):
    text = text.strip()
    if text in ("", "none", "0"):
        return ()
    try:
        sizes = tuple(int(part) for part in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated layer widths such as 256,256 (or 'none'), got {text!r}") from None
    if any(n <= 0 for n in sizes):
        raise argparse.ArgumentTypeError(f"layer widths must be positive, got {text!r}")
    return sizes


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add ``train``'s options to ``parser``."""
    parser.description = __doc__.split("\n\n")[0].strip("`").replace("``", "")
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    # The module docstring is the help's epilog, without its reStructuredText markup.
    parser.epilog = "\n\n".join(__doc__.split("\n\n")[1:]).replace("``", "").replace("::", ":")
    data = parser.add_argument_group("data")
    data.add_argument("--task", choices=sorted(TASK_DEFAULTS), default=None,
                      help="classify (default: synthetic spirals, softmax cross-entropy) or linreg "
                           "(regression with L2 loss; without --data the chapter's synthetic data)")
    data.add_argument("--data", metavar="FILE",
                      help="train on FILE: .npz with arrays X and y, or .csv with the label last")
    data.add_argument("--dataset", choices=sorted(DATASETS), default=None,
                      help="train on a vision dataset (downloaded when missing; see below)")
    data.add_argument("--dataset-root", metavar="DIR", default=None,
                      help="folder of the --dataset files (default $GPUPARAMS_HOME/datasets/<name>)")
    data.add_argument("--examples", type=_positive_int, metavar="N",
                      help="size of the synthetic data set (default 1500 for classify, 1000 for linreg)")
    model = parser.add_argument_group("model and training")
    model.add_argument("--hidden", type=_hidden_sizes, metavar="W1,W2,...",
                       help="hidden layer widths of the MLP, e.g. 256,256; 'none' for a linear model "
                            "(default 64,64 for classify, none for linreg)")
    model.add_argument("--epochs", type=_positive_int, metavar="N",
                       help="epochs to train, or with --resume epochs to add (default 10 for "
                            "classify, 3 for linreg)")
    model.add_argument("--batch-size", type=_positive_int, metavar="N",
                       help="examples per step (default 32 for classify, 10 for linreg)")
    model.add_argument("--lr", type=_positive_float, metavar="LR",
                       help="learning rate (default 0.01 for adam, 0.03 for the linreg chapter's sgd)")
    model.add_argument("--optimizer", choices=("sgd", "adam"),
                       help="default adam for classify, sgd for linreg")
    model.add_argument("--seed", type=_non_negative_int, default=0, metavar="N",
                       help="seed of the synthetic data, the initial weights and the shuffling (default 0)")
    run_group = parser.add_argument_group("device and files")
    run_group.add_argument("--ctx", metavar="DEVICE",
                           help="cpu, cpu:0, gpu or gpu:N (default: gpu(0) when CuPy and an NVIDIA GPU "
                                "are present, else cpu(0))")
    run_group.add_argument("--out", default=None, metavar="FILE",
                           help="parameter file to write (default: runs/<timestamp>/model.npz, a new "
                                "folder per run); the trainer states go to FILE's stem + .trainer.npz "
                                "and the run record to stem + .json")
    run_group.add_argument("--force", action="store_true",
                           help="overwrite the files of an existing --out (default: refuse)")
    run_group.add_argument("--resume", action="store_true",
                           help="continue from the files of --out (default: the newest run in runs/) "
                                "for --epochs more epochs")
    run_group.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                           help="show a progress bar on stderr (default: only when stderr is a terminal)")


# ----------------------------------------------------------------------------- devices
_CTX_PATTERN = re.compile(r"^\s*(cpu|gpu)\s*(?:(?::|\()\s*(\d+)\s*\)?)?\s*$", re.IGNORECASE)


def parse_context(spec):
    """Turn ``cpu``, ``cpu:0``, ``gpu``, ``gpu:1`` or ``gpu(1)`` into a Context (None: the best present).

    Raises
    ------
    UsageError
        For an unparseable name or a device that cannot be used here (the message says why).
    """
    from .. import backend
    from ..context import Context, cpu, gpu
    if spec is None:
        # The emulated gpu(0) is for tests: training there would run every kernel in the CPU emulator.
        if backend.gpu_count() > 0 and not backend.emulation_enabled():
            return gpu(0)
        return cpu(0)
    match = _CTX_PATTERN.match(spec)
    if not match or (spec.count("(") != spec.count(")")):
        raise UsageError(f"--ctx {spec!r} is not a device: use cpu, cpu:0, gpu or gpu:N")
    ctx = Context(match.group(1).lower(), int(match.group(2) or 0))
    try:
        backend.array_module(ctx)
    except backend.GPUUnavailableError as exc:
        raise UsageError(f"--ctx {spec}: {exc}") from None
    return ctx


# ----------------------------------------------------------------------------- data
def make_spirals(n, seed, classes=3):
    """Three interleaved noisy spirals in 2-D: ``(X float32 (n, 2), y int64 (n,))``.

    Points of class ``k`` sit at radius ``2r`` with ``r`` uniform in ``[0.05, 1]`` and angle
    ``2*pi*k/classes + 5*r`` plus Gaussian noise of standard deviation 0.15: each arm turns by
    about 0.8 of a circle, so no straight line separates the classes (a linear model stays below
    50 % accuracy; an MLP reaches 100 %).
    """
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    r = rng.uniform(0.05, 1.0, size=n)
    theta = 2 * np.pi * y / classes + 5.0 * r + rng.normal(0.0, 0.15, size=n)
    X = np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1) * 2.0
    order = rng.permutation(n)
    return X[order].astype(np.float32), y[order].astype(np.int64)


def make_linreg(n, seed):
    """The linear-regression chapter's data: ``X ~ N(0, 1)`` of shape ``(n, 2)``,
    ``y = 2*x1 - 3.4*x2 + 4.2 + N(0, 0.01^2)``; float32."""
    rng = np.random.default_rng(seed)
    X = rng.normal(0.0, 1.0, size=(n, 2))
    y = X @ np.array([2.0, -3.4]) + 4.2 + rng.normal(0.0, 0.01, size=n)
    return X.astype(np.float32), y.astype(np.float32)


def _looks_numeric(fields):
    try:
        [float(f) for f in fields]
    except ValueError:
        return False
    return True


def _read_csv(path, notes=None):
    # utf-8-sig drops a byte-order mark (Excel writes one); read as plain UTF-8 the mark would make
    # the first data row look like a header and lose it.
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            lines = f.read().splitlines()
    except UnicodeDecodeError:
        raise UsageError(f"cannot read {path}: not a UTF-8 text file") from None
    # Blank lines are skipped (as np.loadtxt does), so a file that starts with one still has its
    # header decided by its first line of content.
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is None:
        raise UsageError(f"cannot read {path}: the file is empty")
    # The header is decided by content: a first line that is all numbers is data.
    header = 0 if _looks_numeric(lines[first].strip().split(",")) else 1
    if notes is not None:
        shown = lines[first].strip()
        shown = shown if len(shown) <= 60 else shown[:57] + "..."
        notes.append(f"{os.path.basename(path)}: first line {shown!r} taken as column names" if header
                     else f"{os.path.basename(path)}: no header line (the first line is numbers)")
    start = first + header
    try:
        with warnings.catch_warnings():
            # An empty table is reported below as one clear error, not as NumPy's warning.
            warnings.filterwarnings("ignore", message=".*input contained no data", category=UserWarning)
            table = np.loadtxt(lines[start:], delimiter=",", ndmin=2, dtype=np.float64)
    except ValueError as exc:
        reason = _first_bad_line(lines, start)
        if reason is None:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            reason = reason.split("; use `usecols`")[0]  # NumPy's advice is about its own API
        raise UsageError(f"cannot read {path}: not a table of numbers ({reason})") from None
    if table.shape[0] == 0:
        raise UsageError(f"cannot read {path}: no data rows")
    if table.shape[1] < 2:
        raise UsageError(f"{path} needs at least two columns: features, then the label")
    return table[:, :-1], table[:, -1]


def _first_bad_line(lines, start):
    """Where the data lines ``lines[start:]`` stop being a table of numbers, by the file's own line
    numbers (NumPy counts rows after the skipped header), or None when Python finds no problem."""
    width = None
    for n in range(start, len(lines)):
        if not lines[n].strip():
            continue
        fields = lines[n].split(",")
        if width is None:
            width = len(fields)
        elif len(fields) != width:
            return f"the number of columns changed from {width} to {len(fields)} at line {n + 1}"
        for c, field in enumerate(fields, 1):
            try:
                float(field)
            except ValueError:
                hint = ("; fields must be separated by commas" if any(sep in field for sep in ";\t|")
                        else "")
                return f"line {n + 1}, column {c}: {field.strip()!r} is not a number{hint}"
    return None


def load_data(path, notes=None):
    """Read ``(X, y)`` from a ``.npz`` (arrays ``X``, ``y``) or ``.csv`` (label in the last column).

    ``X`` is returned as ``(N, features)`` float64 and ``y`` as given (``(N,)`` or ``(N, k)``).
    ``notes``, a list, receives what was decided about the file (whether a CSV has a header line).

    Raises
    ------
    UsageError
        For a missing, unreadable or unsuitable file; the message names the file and the problem.
    """
    from ..serialization import ArrayFileError, load_arrays
    if not os.path.exists(path):
        raise UsageError(f"--data {path}: no such file")
    if os.path.isdir(path):
        raise UsageError(f"--data {path}: is a folder, not a data file")
    ext = os.path.splitext(path)[1].lower()
    try:
        if ext == ".npz":
            try:
                arrays = load_arrays(path, kind=".npz file of arrays X and y")
            except ArrayFileError as exc:
                raise UsageError(str(exc)) from None
            missing = [k for k in ("X", "y") if k not in arrays]
            if missing:
                raise UsageError(f"{path} must hold arrays named X and y (it holds "
                                 f"{', '.join(sorted(arrays)) or 'none'})")
            X, y = arrays["X"], arrays["y"]
        elif ext == ".csv":
            X, y = _read_csv(path, notes)
        else:
            raise UsageError(f"--data {path}: unsupported file type {ext or '(none)'!r}; use .npz "
                             "(arrays X and y) or .csv (label in the last column)")
    except PermissionError:
        raise UsageError(f"cannot read {path}: permission denied") from None
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    for name, a in (("X", X), ("y", y)):
        if a.dtype.kind not in "biuf":
            raise UsageError(f"{path}: {name} must be numeric, got dtype {a.dtype}")
    if X.ndim < 1 or X.shape[0] == 0:
        raise UsageError(f"{path}: X has no examples (shape {X.shape})")
    X = X.reshape(X.shape[0], -1) if X.ndim != 1 else X.reshape(-1, 1)
    if X.shape[1] == 0:
        raise UsageError(f"{path}: X has no feature columns (shape {X.shape}); give at least one feature")
    if y.ndim == 0 or y.shape[0] != X.shape[0]:
        raise UsageError(f"{path}: X has {X.shape[0]} examples but y has shape {y.shape}")
    for name, a in (("X", X), ("y", y)):
        if a.dtype.kind == "f" and not np.all(np.isfinite(a)):
            raise UsageError(f"{path}: {name} holds {_first_non_finite(a)}; drop or fill such examples "
                             "first (NaN and infinite values would make the loss NaN)")
    return X.astype(np.float64), y


def _first_non_finite(a):
    """``'NaN at example 3, column 2'`` for the first NaN or infinity of ``a`` (1-based, as in a
    spreadsheet; a CSV's header line, if any, is not counted)."""
    index = tuple(int(i) for i in np.argwhere(~np.isfinite(a))[0])
    value = a[index]
    shown = "NaN" if np.isnan(value) else ("+inf" if value > 0 else "-inf")
    where = f"example {index[0] + 1}"
    if len(index) > 1:
        where += ", column " + ", ".join(str(i + 1) for i in index[1:])
    return f"{shown} at {where}"


def _infer_task(y):
    flat = y.reshape(y.shape[0], -1)
    if flat.shape[1] != 1:
        return "linreg", "labels have several columns"
    if y.dtype.kind in "biu":
        return "classify", "integer labels"
    whole = np.all(y == np.round(y))
    if whole and len(np.unique(y)) <= _MAX_CLASSES_FROM_FLOATS:
        return "classify", "whole-number labels"
    return "linreg", "real-valued labels"


# ----------------------------------------------------------------------------- output files
def _paths(out):
    stem = out[:-4] if out.lower().endswith(".npz") else out
    return out, stem + ".trainer.npz", stem + ".json"


def _newest_run(runs_dir):
    """``runs/<name>/model.npz`` of the newest run folder that holds a run record, or None."""
    try:
        names = sorted(os.listdir(runs_dir), reverse=True)  # timestamps sort by time
    except OSError:
        return None
    for name in names:
        out = os.path.join(runs_dir, name, _OUT_NAME)
        if os.path.isfile(_paths(out)[2]):
            return out
    return None


def _new_run_folder(runs_dir):
    """Create ``runs/<timestamp>/`` (``-2``, ``-3``... when that second is taken).

    Returns the folder and whether ``runs_dir`` itself was created.
    """
    made_runs = not os.path.isdir(runs_dir)
    try:
        os.makedirs(runs_dir, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the run folder {runs_dir}/: {exc.strerror or exc}; run from a "
                         "writable folder or give --out FILE") from None
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for n in range(1, 1000):
        folder = os.path.join(runs_dir, stamp if n == 1 else f"{stamp}-{n}")
        try:
            os.mkdir(folder)
            return folder, made_runs
        except FileExistsError:
            continue
        except OSError as exc:
            raise UsageError(f"cannot create the run folder {folder}/: {exc.strerror or exc}; run from "
                             "a writable folder or give --out FILE") from None
    raise UsageError(f"{runs_dir}/ already holds 999 runs started at {stamp}; give --out FILE")


#: What each of the three run files is, for messages.
_ROLES = ("parameter", "trainer-states", "run-record")


def _check_kinds(paths, flag):
    """Refuse run files that exist as something other than a regular file: a folder in the way, or
    a device or pipe (``--out /dev/null``), which cannot hold a run to resume."""
    for role, path in zip(_ROLES, paths):
        if os.path.isdir(path):
            if path == paths[0]:
                raise UsageError(f"{flag} {path}: is a folder; give a file name such as "
                                 f"{os.path.join(path, _OUT_NAME)}")
            raise UsageError(f"{flag} {paths[0]}: its {role} file {path} is a folder; move it away "
                             "or choose another --out")
        if os.path.exists(path) and not os.path.isfile(path):
            raise UsageError(f"{flag} {paths[0]}: {path} is not a regular file (a device, pipe or "
                             "socket); give a file name such as model.npz")


def _check_writable(paths, flag):
    """Refuse, before any work, outputs that could not be written: a folder in the way, a missing
    or read-only folder (tested by creating and removing a probe file, which is what counts)."""
    _check_kinds(paths, flag)
    folder = os.path.dirname(os.path.abspath(paths[0]))
    if not os.path.isdir(folder):
        from ..serialization import file_in_the_way
        above = file_in_the_way(folder)
        if above is not None:
            raise UsageError(f"{flag} {paths[0]}: {above} is a file, not a folder; choose another --out")
        raise UsageError(f"{flag} {paths[0]}: folder {folder} does not exist")
    problem = probe_writable(folder)
    if problem is not None:
        raise UsageError(f"{flag} {paths[0]}: {problem}; choose a writable folder")


def _outputs(args, plan, writes=True):
    """Decide where the run's three files go and check, before any work, that they can be written.

    Sets ``plan.params_path``, ``plan.states_path``, ``plan.record_path``, ``plan.made_folder`` (a
    run folder this call created, removed again if the run ends before writing anything) and
    ``plan.where`` (what was decided, for the summary line). With ``writes=False`` (a rank of a
    distributed run that never writes) only the files a resumed run reads are located: no folder is
    created and nothing is checked for writing; a new run's paths stay None.
    """
    plan.made_folder, plan.made_runs = None, False
    if not writes and not args.resume:
        plan.params_path = plan.states_path = plan.record_path = None
        plan.where = ""
        return
    if args.out is not None:
        out, flag = args.out, "--out"
        if not out.strip():
            raise UsageError(f"--out {out!r}: empty file name; give one such as model.npz")
        if os.path.isdir(out):
            raise UsageError(f"--out {out}: is a folder; give a file name such as "
                             f"{os.path.join(out, _OUT_NAME)}")
        plan.where = ""
    elif args.resume:
        out, flag = _newest_run(RUNS_DIR), "--resume"
        if out is None:
            raise UsageError(f"--resume: no earlier run in {RUNS_DIR}/ to continue; train once without "
                             "--resume first, or give the run's --out FILE")
        plan.where = f" (the newest run in {RUNS_DIR}/; --out FILE to choose another)"
    else:
        folder, plan.made_runs = _new_run_folder(RUNS_DIR)
        out, flag = os.path.join(folder, _OUT_NAME), "--out"
        plan.made_folder = folder
        plan.where = (" (a new run folder: earlier runs are never overwritten; --resume continues "
                      "the newest, --out FILE writes elsewhere)")
    paths = _paths(out)
    plan.params_path, plan.states_path, plan.record_path = paths
    if not writes:
        return
    _check_kinds(paths, flag)
    if args.out is not None and not args.resume and not args.force:
        existing = [p for p in paths if os.path.lexists(p)]
        if existing:
            raise UsageError(f"--out {out}: {', '.join(existing)} already exist(s) (an earlier run); "
                             "pass --force to overwrite, --resume to continue it, or choose another --out")
    _check_writable(paths, flag)


def _discard_empty_folder(plan):
    """Remove a run folder this run created and never wrote to (the run stopped early), and
    ``runs/`` too when this run created it, so a failed run leaves the working folder as it was."""
    if getattr(plan, "made_folder", None) is None:
        return
    try:
        os.rmdir(plan.made_folder)  # only succeeds when empty
    except OSError:
        return
    if plan.made_runs:
        with contextlib.suppress(OSError):
            os.rmdir(os.path.dirname(plan.made_folder))


# ----------------------------------------------------------------------------- run record


def _write_json(path, record):
    from ..serialization import atomic_write
    text = json.dumps(record, indent=1) + "\n"
    atomic_write(path, lambda f: f.write(text.encode("utf-8")), suffix=".json")


def _is_int(value, minimum=0):
    return isinstance(value, int) and not isinstance(value, bool) and value >= minimum


def _is_number_list(value, length=None):
    return (isinstance(value, list) and (length is None or len(value) == length)
            and all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
                    for v in value))


def _record_problem(record):
    """The first field of a run record that a resumed run could not use, as text, or None."""
    checks = [
        ("task", lambda v: v in TASK_DEFAULTS, f"one of {', '.join(sorted(TASK_DEFAULTS))}"),
        ("features", lambda v: _is_int(v, 1), "a positive integer"),
        ("outputs", lambda v: _is_int(v, 1), "a positive integer"),
        ("hidden", lambda v: isinstance(v, list) and all(_is_int(w, 1) for w in v),
         "a list of positive integers"),
        ("optimizer", lambda v: v in ("sgd", "adam"), "sgd or adam"),
        ("lr", lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)
         and v > 0, "a positive number"),
        ("batch_size", lambda v: _is_int(v, 1), "a positive integer"),
        ("epochs_done", lambda v: _is_int(v, 0), "a non-negative integer"),
        ("history", lambda v: isinstance(v, list), "a list"),
        ("classes", lambda v: v is None or _is_number_list(v), "null or a list of numbers"),
        ("feature_mean", lambda v: v is None or _is_number_list(v, record.get("features")),
         "null or one number per feature"),
        ("feature_std", lambda v: v is None or _is_number_list(v, record.get("features")),
         "null or one number per feature"),
    ]
    for name, ok, wanted in checks:
        if name not in record:
            return f"it has no field {name!r}"
        if not ok(record[name]):
            return f"field {name!r} is {json.dumps(record[name])[:60]}, expected {wanted}"
    if (record["feature_mean"] is None) != (record["feature_std"] is None):
        return "fields 'feature_mean' and 'feature_std' must both be set or both be null"
    return None


def _missing_run_file(path, plan, fix):
    """The error for a file of the run to resume that is not there."""
    present = [p for p in (plan.params_path, plan.states_path, plan.record_path)
               if p != path and os.path.exists(p)]
    if not present:  # no run at all here
        return UsageError(f"--resume: {path} not found; train once without --resume first")
    verb = "exist" if len(present) > 1 else "exists"
    return UsageError(f"--resume: {path} not found, though {' and '.join(present)} of that run {verb}; "
                      f"restore it, or {fix}")


def _read_record(path, plan, fix):
    try:
        with open(path, encoding="utf-8") as f:
            record = json.load(f)
    except FileNotFoundError:
        raise _missing_run_file(path, plan, fix) from None
    except (OSError, ValueError) as exc:
        raise UsageError(f"--resume: cannot read the run record {path}: {exc}; restore it, "
                         f"or {fix}") from None
    if not isinstance(record, dict) or record.get("format") != _RECORD_FORMAT:
        raise UsageError(f"--resume: {path} is not a gpuparams train record; restore it, or {fix}")
    problem = _record_problem(record)
    if problem is not None:
        raise UsageError(f"--resume: {path} is damaged ({problem}); restore it, or {fix}")
    return record


# ----------------------------------------------------------------------------- the run
def _resolve(args, ctx=None, writes=True):
    """Everything a run needs, from the arguments, the data and (with --resume) the run record.

    Every check that can fail runs here, before any work: the output files last (a new run folder
    is only created once everything else is known to be fine). ``writes=False`` (the ranks of a
    distributed run but 0) skips the checks and the folder of files this process will not write.
    """
    plan = types.SimpleNamespace(notes=[])
    record = None
    if args.resume:
        _outputs(args, plan, writes)
        fix = _fresh_start(args, plan)
        record = _read_record(plan.record_path, plan, fix)
        for path in (plan.params_path, plan.states_path):
            if not os.path.exists(path):
                raise _missing_run_file(path, plan, fix)

    # Data and task.
    dataset = getattr(args, "dataset", None)
    if dataset is None and getattr(args, "dataset_root", None) is not None:
        raise UsageError(f"--dataset-root {args.dataset_root}: it is the folder of the --dataset files; "
                         "give --dataset NAME too, or leave it out")
    if dataset is not None:
        if args.data is not None or args.examples is not None:
            raise UsageError("--dataset cannot be combined with --data or --examples")
        if args.task not in (None, "classify"):
            raise UsageError(f"--dataset {dataset} is a classification set; --task {args.task} "
                             "does not apply")
        X, y, source = load_dataset(dataset, args.dataset_root)
        task, why = "classify", "the dataset"
        plan.source_id = f"dataset:{dataset}"
    elif args.data is not None:
        if args.examples is not None:
            raise UsageError("--examples sets the size of the synthetic data; it cannot be used with --data")
        X, y = load_data(args.data, plan.notes)
        if args.task is not None:
            task, why = args.task, "--task"
        elif record is not None:
            task, why = record["task"], "the run record"
        else:
            task, why = _infer_task(y)
        source = f"{args.data}"
        plan.source_id = os.path.abspath(args.data)
    else:
        task = args.task or (record["task"] if record else "classify")
        why = "synthetic"
        defaults = TASK_DEFAULTS[task]
        n = args.examples or defaults["examples"]
        _check_synthetic_size(n)
        X, y = make_spirals(n, args.seed) if task == "classify" else make_linreg(n, args.seed)
        source = ("synthetic spirals" if task == "classify" else "synthetic linear data "
                  "(y = 2*x1 - 3.4*x2 + 4.2 + noise)")
        plan.source_id = f"synthetic:{task}:{n}:{args.seed}"
    if record is not None and task != record["task"]:
        raise UsageError(f"--resume: the saved model was trained for --task {record['task']}, not {task}")
    plan.task = task
    defaults = TASK_DEFAULTS[task]

    # Targets.
    if task == "classify":
        flat = y.reshape(y.shape[0], -1)
        if flat.shape[1] != 1:
            raise UsageError(f"--task classify needs one label per example, got labels of shape {y.shape}")
        flat = flat[:, 0]
        if y.dtype.kind == "f" and not np.all(flat == np.round(flat)):
            raise UsageError("--task classify needs whole-number class labels; use --task linreg for "
                             "real-valued targets")
        if record is not None and record.get("classes") is not None:
            classes = np.asarray(record["classes"])
            codes = np.searchsorted(classes, flat)
            unknown = (codes >= len(classes)) | (classes[np.minimum(codes, len(classes) - 1)] != flat)
            if np.any(unknown):
                raise UsageError(f"--resume: label {flat[unknown][0]!r} is not one of the saved model's "
                                 f"classes {classes.tolist()}")
        else:
            classes, codes = np.unique(flat, return_inverse=True)
        if len(classes) < 2:
            raise UsageError(f"--task classify needs at least two classes, the labels hold {len(classes)}")
        plan.classes = [c.item() for c in classes]
        plan.y = codes.astype(np.int64)
        plan.outputs = len(classes)
    else:
        target = y.reshape(y.shape[0], -1).astype(np.float32)
        plan.classes = None
        plan.y = target[:, 0] if target.shape[1] == 1 else target
        plan.outputs = target.shape[1]

    # Features: standardize user data (synthetic data is already well scaled).
    if args.data is not None:
        if record is not None and record.get("feature_mean") is not None:
            mean = np.asarray(record["feature_mean"])
            std = np.asarray(record["feature_std"])
        else:
            mean, std = X.mean(axis=0), X.std(axis=0)
            std = np.where(std > 0, std, 1.0)
        if mean.shape[0] != X.shape[1]:
            raise UsageError(f"--resume: the saved model takes {mean.shape[0]} features, {args.data} has "
                             f"{X.shape[1]}")
        X = (X - mean) / std
        plan.feature_mean, plan.feature_std = mean.tolist(), std.tolist()
    else:
        plan.feature_mean = plan.feature_std = None
    plan.X = X.astype(np.float32)
    plan.features = X.shape[1]
    plan.source, plan.task_reason = source, why

    # Model and optimisation, from the arguments, else the record, else the task defaults.
    def pick(name):
        given = getattr(args, name)
        saved = record.get(name) if record is not None else None
        if given is not None:
            return given
        if saved is not None:
            return saved
        return defaults[name]

    plan.hidden = tuple(pick("hidden"))
    if record is not None:
        if tuple(record["hidden"]) != plan.hidden:
            raise UsageError(f"--resume: the saved model has hidden layers {_hidden_text(record['hidden'])}, "
                             f"not {_hidden_text(plan.hidden)}")
        if record["features"] != plan.features or record["outputs"] != plan.outputs:
            raise UsageError(f"--resume: the saved model maps {record['features']} features to "
                             f"{record['outputs']} outputs; this data has {plan.features} features and "
                             f"{plan.outputs} outputs")
    plan.optimizer = pick("optimizer")
    if record is not None and plan.optimizer != record["optimizer"]:
        raise UsageError(f"--resume: the saved trainer states are for --optimizer {record['optimizer']}, "
                         f"not {plan.optimizer}")
    plan.lr = args.lr if args.lr is not None else (
        record["lr"] if record is not None else (defaults["lr"] if plan.optimizer == defaults["optimizer"]
                                                 else {"sgd": 0.03, "adam": 0.01}[plan.optimizer]))
    plan.epochs = args.epochs or defaults["epochs"]
    plan.batch_size = pick("batch_size")
    plan.epochs_done = record["epochs_done"] if record is not None else 0
    plan.history = list(record.get("history", [])) if record is not None else []
    plan.record = record
    _check_memory(plan, ctx)
    if not args.resume:
        _outputs(args, plan, writes)
    return plan


def _parameter_count(features, hidden, outputs):
    widths = (features, *hidden, outputs)
    return sum(a * b + b for a, b in itertools.pairwise(widths))


def _available_bytes(ctx):
    """Free memory of ``ctx``'s device, or None when it cannot be told."""
    from .. import backend
    if ctx is not None and ctx.device_type == "gpu" and not backend.is_emulated(ctx):
        try:
            cupy = backend.cupy_module(ctx)
            with cupy.cuda.Device(ctx.device_id):
                return int(cupy.cuda.runtime.memGetInfo()[0])
        except (RuntimeError, OSError, AttributeError):  # no answer: the allocation will tell
            return None
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (ValueError, OSError, AttributeError):
        return None


def _size_text(n):
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return f"{n:,.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000.0
    return f"{n:.1f} PB"


def _check_memory(plan, ctx):
    """Refuse, before allocating anything, a model whose training state would not fit the device.

    Training holds every parameter four bytes wide as weights and gradients, plus the optimizer's
    states (Adam: two per weight; SGD without momentum: none), plus the activations of one batch.
    """
    count = _parameter_count(plan.features, plan.hidden, plan.outputs)
    copies = 2 + (2 if plan.optimizer == "adam" else 0)
    widths = (plan.features, *plan.hidden, plan.outputs)
    examples = plan.X.shape[0]
    # A batch never holds more than the data set (the loader's last, short batch is the whole set).
    batch = min(plan.batch_size, examples)
    activations = 3 * max(batch, min(_EVAL_BATCH, examples)) * sum(widths)
    need = 4 * (count * copies + activations)
    free = _available_bytes(ctx)
    if free is None or need <= free:
        return
    where = f"more than the {_size_text(free)} free on {ctx or 'this machine'}"
    if 4 * count * copies > free:
        raise UsageError(f"--hidden {_hidden_text(plan.hidden)}: training this model needs about "
                         f"{_size_text(need)} ({count:,} parameters as float32 weights, gradients"
                         f"{' and 2 Adam states' if copies == 4 else ''}), {where}; use narrower or "
                         "fewer hidden layers")
    raise UsageError(f"--batch-size {plan.batch_size}: training needs about {_size_text(need)}, "
                     f"{_size_text(4 * activations)} of it the activations of one batch through layers "
                     f"{' -> '.join(map(str, widths))}, {where}; use a smaller --batch-size (or narrower "
                     "--hidden layers)")


#: Bytes the synthetic generators hold per example while building the data (float64 temporaries).
_SYNTHETIC_BYTES_PER_EXAMPLE = 96


def _check_synthetic_size(n):
    """Refuse, before allocating, an --examples count whose synthetic data would not fit in memory
    (NumPy's MemoryError, or an OverflowError for counts beyond int64)."""
    need = n * _SYNTHETIC_BYTES_PER_EXAMPLE
    free = _available_bytes(None)
    if n >= 2**62 or (free is not None and need > free):
        free_text = f"the {_size_text(free)} free" if free is not None else "what this machine has"
        raise UsageError(f"--examples {n:,}: the synthetic data set needs about {_size_text(need)}, more "
                         f"than {free_text}; use fewer --examples")


def _hidden_text(hidden):
    return ",".join(map(str, hidden)) or "none"


def _build(plan, ctx):
    from .. import init
    from ..nn import Dense, Sequential
    net = Sequential()
    widths = (plan.features, *plan.hidden)
    with net.name_scope():
        # in_units given, so every parameter is created at once (and can be counted and loaded).
        for in_units, width in zip(widths, plan.hidden):
            net.add(Dense(width, activation="relu", in_units=in_units))
        net.add(Dense(plan.outputs, in_units=widths[-1]))
    if plan.hidden:
        net.initialize(init.Xavier(), ctx=ctx)
    else:
        net.initialize(init.Normal(0.01), ctx=ctx)  # the linear-regression chapter's choice
    return net


def _progress_enabled(flag):
    if flag is not None:
        return flag
    return sys.stderr.isatty()


def _progress_bar(total, desc, enabled):
    if not enabled:
        return None
    try:
        from tqdm import tqdm
    except ImportError:  # a declared dependency, but training must not depend on a progress bar
        return None
    return tqdm(total=total, desc=desc, unit="batch", file=sys.stderr, leave=False, dynamic_ncols=True)


def _evaluate(net, loss_fn, X, y, classify):
    """Mean loss and accuracy over the whole training set, without recording."""
    from .. import autograd
    total_loss, correct = 0.0, 0
    n = X.shape[0]
    with autograd.predict_mode():
        for start in range(0, n, _EVAL_BATCH):
            xb, yb = X[start:start + _EVAL_BATCH], y[start:start + _EVAL_BATCH]
            out = net(xb)
            total_loss += float(loss_fn(out, yb).sum().asscalar())
            if classify:
                correct += int((out.asnumpy().argmax(axis=1) == yb.asnumpy()).sum())
    return total_loss / n, (correct / n if classify else None)


def _device_text(ctx):
    """The context, marked when it is the CPU emulator standing in for a GPU."""
    from .. import backend
    return f"{ctx} (emulated on the CPU)" if backend.is_emulated(ctx) else str(ctx)


def _count_parameters(net):
    return sum(int(np.prod(p.shape)) for p in net.collect_params().values())


def run(args) -> int:
    """Train as ``args`` says; return the exit code (see the module docstring).

    Under ``mpirun -n N`` every process runs this and they train data-parallel (see the README):
    each rank takes its part of every epoch, gradients are averaged across ranks, rank 0 prints and
    writes the files.
    """
    from . import _job
    job = _job.start()
    plan = None
    with job.quiet_unless_root():
        try:
            with job.agreed("train set-up"):
                ctx = job.device if job.distributed and args.ctx is None else parse_context(args.ctx)
                # Rank 0 alone writes, so it alone picks (and checks) where the files go.
                plan = _resolve(args, ctx, writes=job.is_root)
            return _train(args, plan, ctx, job)
        finally:
            if plan is not None:
                _discard_empty_folder(plan)


def _train(args, plan, ctx, job):
    import gpuparams as gp

    from .. import nd
    from ..data import ArrayDataset, DataLoader, DistributedSampler
    from ..loss import L2Loss, SoftmaxCrossEntropyLoss
    from ..trainer import Trainer

    classify = plan.task == "classify"
    gp.random.seed(args.seed + plan.epochs_done)  # a resumed run does not replay epoch 1's order

    X = nd.array(plan.X, ctx=ctx)
    # Class codes stay integers: float labels would be checked for fractions on every step (a
    # host synchronisation on a GPU).
    label_dtype = "int64" if classify else "float32"
    y = nd.array(plan.y, ctx=ctx, dtype=label_dtype)
    sampler = None
    if job.distributed:
        # Every rank draws the same permutation per epoch and takes its part of it.
        sampler = DistributedSampler(len(plan.X), job.size, job.rank, shuffle=True, seed=args.seed)
        loader = DataLoader(ArrayDataset(X, y), batch_size=plan.batch_size, sampler=sampler)
        X_eval = nd.array(plan.X[job.rank::job.size], ctx=ctx)
        y_eval = nd.array(plan.y[job.rank::job.size], ctx=ctx, dtype=label_dtype)
    else:
        loader = DataLoader(ArrayDataset(X, y), batch_size=plan.batch_size, shuffle=True)
        X_eval, y_eval = X, y
    net = _build(plan, ctx)
    loss_fn = SoftmaxCrossEntropyLoss() if classify else L2Loss()
    trainer = Trainer(net.collect_params(), plan.optimizer, {"learning_rate": plan.lr},
                      kvstore="dist_sync" if job.distributed else "device")
    if plan.record is not None:
        with job.agreed("resume"):
            _load_run(args, plan, net, trainer, ctx)
        if args.lr is not None:
            trainer.set_learning_rate(args.lr)

    n = plan.X.shape[0]
    shape = " -> ".join(map(str, (plan.features, *plan.hidden, plan.outputs)))
    what = (f"{len(plan.classes)} classes" if classify else
            f"{plan.outputs} target{'s' if plan.outputs > 1 else ''}")
    reason = ("" if plan.task_reason in ("synthetic", "--task", "the run record", "the dataset")
              else f"; task inferred from {plan.task_reason}, --task overrides")
    print(f"gpuparams train: {plan.task} on {plan.source} "
          f"({n:,} examples x {plan.features} features, {what}{reason})")
    for note in plan.notes:
        print(note)
    if job.distributed:  # where each rank runs: a launcher's report of a dead process id maps to its rank
        print("processes: " + ", ".join(f"rank {r} {p['host']} pid {p['pid']}"
                                        for r, p in enumerate(job.world.peers)))
    per = f" per process x {job.size} processes" if job.distributed else ""
    print(f"model {shape} ({_count_parameters(net):,} parameters) | {plan.optimizer} "
          f"lr={trainer.learning_rate:g} | batch {plan.batch_size}{per} | device {_device_text(ctx)}"
          + (f" | resuming after epoch {plan.epochs_done}" if plan.record is not None else ""))
    sys.stdout.flush()

    state = types.SimpleNamespace(net=net, loss_fn=loss_fn, trainer=trainer, loader=loader,
                                  sampler=sampler, X_eval=X_eval, y_eval=y_eval, classify=classify,
                                  show_bar=_progress_enabled(args.progress) and job.is_root)
    with np.errstate(all="ignore"):
        # A diverging run overflows: that is reported once, as a non-finite loss after the epoch,
        # not as a screenful of NumPy RuntimeWarnings.
        return _epochs(plan, ctx, state, job)


def _fresh_start(args, plan):
    """How to train anew when the files of a run cannot be continued (the fix of a resume error)."""
    if args.out is not None:
        return f"train anew with --force (overwrites {plan.params_path}) or with another --out"
    return "train anew without --resume (a new run folder)"


def _mismatch_text(exc, plan):
    """The first problem of a ParameterLoadError in the terms of the run (and how many follow)."""
    model = f"the run record's model {' -> '.join(map(str, (plan.features, *plan.hidden, plan.outputs)))}"
    if exc.wrong_shape:
        name, want, got = exc.wrong_shape[0]
        first = f"parameter {name} has shape {got} in the file, {model} needs {want}"
    elif exc.missing:
        name, want = exc.missing[0]
        first = f"parameter {name} (shape {want} in {model}) is missing from the file"
    elif exc.extra:
        name, got = exc.extra[0]
        first = f"the file holds {name} (shape {got}), which {model} has no parameter for"
    elif exc.wrong_dtype:
        name, want, got = exc.wrong_dtype[0]
        first = f"parameter {name} is {got} in the file, {model} has {want}"
    else:
        return " ".join("; ".join(exc.problems).split()) or "it does not fit the model"
    kinds = (exc.wrong_shape, exc.missing, exc.extra, exc.wrong_dtype)
    # exc.problems has one line per kind above plus those of other kinds (conflicting tied
    # entries, values that cannot be converted), each counted once.
    more = sum(map(len, kinds)) - 1 + len(exc.problems) - sum(map(bool, kinds))
    return first + (f" (and {more} more mismatch{'es' if more > 1 else ''})" if more else "")


def _load_run(args, plan, net, trainer, ctx):
    """Load the parameters and trainer states of the run to resume, or raise a one-line UsageError
    naming the file, what does not fit and how to start over."""
    from ..errors import ArrayFileError, ParameterLoadError
    fix = _fresh_start(args, plan)
    try:
        net.load_parameters(plan.params_path, ctx=ctx)
    except ParameterLoadError as exc:
        raise UsageError(f"--resume: {plan.params_path} does not match the run record {plan.record_path}: "
                         f"{_mismatch_text(exc, plan)}; {fix}") from None
    except (ArrayFileError, OSError, ValueError, KeyError, RuntimeError) as exc:
        raise UsageError(f"--resume: cannot continue from {plan.params_path}: {exc}; {fix}") from None
    try:
        trainer.load_states(plan.states_path)
    except (ArrayFileError, OSError, ValueError, KeyError, RuntimeError) as exc:
        text = str(exc)
        where = "" if plan.states_path in text else f"{plan.states_path}: "
        raise UsageError(f"--resume: cannot continue from the trainer states of {plan.params_path}: "
                         f"{where}{text}; {fix}") from None


def _epochs(plan, ctx, state, job):
    """Train ``plan.epochs`` epochs, saving after each (rank 0); 1 when the loss stops being finite."""
    from .. import autograd, nd
    net, loss_fn, trainer, loader = state.net, state.loss_fn, state.trainer, state.loader
    sampler, X_eval, y_eval = state.sampler, state.X_eval, state.y_eval
    classify, show_bar = state.classify, state.show_bar
    first, last = plan.epochs_done + 1, plan.epochs_done + plan.epochs
    for epoch in range(first, last + 1):
        if sampler is not None:
            sampler.set_epoch(epoch)
        bar = _progress_bar(len(loader), f"epoch {epoch}/{last}", show_bar)
        seen = 0
        start = time.perf_counter()
        for xb, yb in loader:
            with autograd.record():
                loss = loss_fn(net(xb), yb)
            loss.backward()
            trainer.step(xb.shape[0])
            seen += xb.shape[0]
            if bar is not None:
                bar.update(1)
        nd.waitall()
        elapsed = time.perf_counter() - start
        if bar is not None:
            bar.close()
        mean_loss, accuracy = _evaluate(net, loss_fn, X_eval, y_eval, classify)
        if job.distributed:  # throughput of all ranks together; metrics over every rank's part
            seen, elapsed = job.total(seen), job.largest(elapsed)
            part = X_eval.shape[0] / plan.X.shape[0]
            mean_loss = job.total(mean_loss * part)
            accuracy = job.total(accuracy * part) if accuracy is not None else None
        if not math.isfinite(mean_loss):
            if job.is_root:
                print(f"gpuparams train: error: the loss became {mean_loss} in epoch {epoch}: training "
                      f"diverged; lower --lr (now {trainer.learning_rate:g})", file=sys.stderr)
            return 1
        line = f"epoch {epoch:>{len(str(last))}}/{last}  loss {mean_loss:.6f}"
        if accuracy is not None:
            line += f"  accuracy {accuracy * 100:6.2f}%"
        line += f"  {seen / max(elapsed, 1e-9):,.0f} examples/s  {ctx}"
        if job.distributed:
            line += f" x {job.size} processes"
        print(line)
        sys.stdout.flush()
        plan.history.append({"epoch": epoch, "loss": mean_loss, "accuracy": accuracy,
                             "examples_per_s": seen / max(elapsed, 1e-9), "device": str(ctx),
                             "processes": job.size})
        if job.is_root:
            _save(plan, net, trainer, epoch)
    print(f"saved {plan.params_path} (parameters), {plan.states_path} (trainer states), "
          f"{plan.record_path} (run record){plan.where}")
    return 0


def _save(plan, net, trainer, epoch):
    net.save_parameters(plan.params_path)
    trainer.save_states(plan.states_path)
    _write_json(plan.record_path, {
        "format": _RECORD_FORMAT, "task": plan.task, "data": plan.source_id,
        "features": plan.features, "outputs": plan.outputs, "hidden": list(plan.hidden),
        "classes": plan.classes, "feature_mean": plan.feature_mean, "feature_std": plan.feature_std,
        "optimizer": plan.optimizer, "lr": trainer.learning_rate, "batch_size": plan.batch_size,
        "epochs_done": epoch, "history": plan.history,
    })
