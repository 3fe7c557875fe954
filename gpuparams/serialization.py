"""Array files: ``.npz`` written atomically and read without pickle, and the policy for loading them.

Parameter files and trainer states both go through here. A save writes a temporary file beside the
target, flushes and fsyncs it, then renames it over the target, so a crash or an exception mid-write
leaves the previous file intact. A load reads every array into memory before returning, so callers
can validate everything before they change anything; :func:`load_checked_into` is that validation
for parameter files (all problems reported at once, nothing changed unless everything fits), shared by
``ParameterDict.load`` and ``Block.load_parameters``.
"""
from __future__ import annotations

import os
import tempfile
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from . import autograd
from ._placement import ContextArg, context_list
from ._shapes import merge_partial_shapes
from .errors import ArrayFileError

if TYPE_CHECKING:
    from .parameter import Parameter

__all__ = ["save_arrays", "load_arrays", "atomic_write", "load_checked_into", "ArrayFileError"]


def save_arrays(path, arrays):
    """Write ``{name: numpy array}`` to ``path`` as an uncompressed ``.npz``, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Destination; its folder must exist. The name is used as given (no ``.npz`` is appended).
    arrays : dict of str to numpy.ndarray
        What to store. Object arrays are refused (they would need pickle to load).
    """
    path = os.fspath(path)
    for name, value in arrays.items():
        if not isinstance(name, str):
            raise TypeError(f"cannot save entry {name!r}: names must be strings")
        if not isinstance(value, np.ndarray) or value.dtype.hasobject:
            raise TypeError(f"cannot save entry {name!r}: expected a numeric numpy array, "
                            f"got {type(value).__name__}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise FileNotFoundError(f"cannot save to {path}: folder {folder} does not exist")
    atomic_write(path, lambda f: _write_npz(f, arrays))


def atomic_write(path, write, suffix=".npz"):
    """Call ``write(binary_file)`` on a temporary file beside ``path``, then rename it over ``path``.

    The temporary file is flushed and fsync'ed before the rename (same folder, so the rename is
    atomic) and the folder is fsync'ed after it. If ``write`` or anything else fails, the previous
    file at ``path`` is untouched and the temporary file is removed.
    """
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=suffix, dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    _fsync_folder(folder)
    return path


def _write_npz(f, arrays):
    """The layout of ``np.savez`` (one ``name.npy`` member per array, stored uncompressed), written
    here because ``np.savez(f, **arrays)`` would take an entry called ``file`` or ``allow_pickle`` for
    its own argument."""
    with zipfile.ZipFile(f, mode="w", compression=zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, value in arrays.items():
            with archive.open(name + ".npy", mode="w", force_zip64=True) as member:
                np.lib.format.write_array(member, value, allow_pickle=False)


def _fsync_folder(folder):
    # Make the rename itself durable; not every platform allows opening a folder.
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_arrays(path):
    """Read every array of an ``.npz`` file into a dict, refusing pickled content.

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    ArrayFileError
        When the file is truncated, corrupt or holds objects that need pickle.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path}")
    try:
        # Open the file here rather than handing np.load the path: np.load leaks its own handle when
        # the zip directory is unreadable.
        with open(path, "rb") as f:
            loaded = np.load(f, allow_pickle=False)
            if not hasattr(loaded, "files"):  # a bare .npy file: an array, not an archive
                raise ArrayFileError(f"{path} is a single-array .npy file, not a .npz array file")
            with loaded as archive:
                return {name: archive[name] for name in archive.files}
    except ArrayFileError:
        raise
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, zlib.error) as exc:
        raise ArrayFileError(f"{path} is not a readable .npz array file (truncated or corrupt?): "
                             f"{exc}") from None


def load_checked_into(entries: Sequence[tuple[str, Parameter, Sequence[str]]],
                      loaded: Mapping[str, np.ndarray], source: str | os.PathLike, ctx: ContextArg,
                      allow_missing: bool, ignore_extra: bool, cast_dtype: bool,
                      dtype_source: str = "current") -> None:
    """Validate every entry of a loaded parameter file against the parameters, then (only then) load.

    Every problem is collected first (missing, extra, shape- and dtype-mismatched entries, tied
    entries holding different values) and reported in one ValueError; the parameters change only
    when there is none.

    Parameters
    ----------
    entries : list of (str, Parameter, list of str)
        For each distinct Parameter: the name to report, the Parameter, and the file keys that may
        hold it (a tied parameter has several structural names; the first one present is used).
    loaded : dict of str to numpy.ndarray
        What the file holds (from :func:`load_arrays`).
    source : str or os.PathLike
        The file, for messages.
    ctx : Context or list of Context, optional
        Where to place the values (None: where each parameter is, or where ``initialize`` said).
    allow_missing, ignore_extra, cast_dtype : bool
        Tolerate parameters the file lacks / file entries no parameter takes / another dtype in the
        file (converted as ``dtype_source`` says).
    dtype_source : {'current', 'saved'}
        Which dtype wins when ``cast_dtype`` lets them differ: the parameter's or the file's.
    """
    if dtype_source not in ("current", "saved"):
        raise ValueError(f"cannot load {source}: dtype_source must be 'current' (keep each parameter's "
                         f"dtype) or 'saved' (take the file's), got {dtype_source!r}")
    contexts = None if ctx is None else context_list(ctx, f"load {source}")
    used, plan, missing, wrong_shape, wrong_dtype, conflicts = set(), [], [], [], [], []
    for shown, param, keys in entries:
        present = [k for k in keys if k in loaded]
        used.update(present)
        if not present:
            missing.append(f"{shown} (shape {param.shape})")
            continue
        value = loaded[present[0]]
        for other in present[1:]:
            if not np.array_equal(value, loaded[other]):
                conflicts.append(f"{present[0]} and {other} (one tied parameter, different values)")
        if param.shape is not None and merge_partial_shapes(param.shape, value.shape) != value.shape:
            wrong_shape.append(f"{shown}: model {param.shape} vs file {value.shape}")
            continue
        if value.dtype != param.dtype and not cast_dtype:
            wrong_dtype.append(f"{shown}: model {param.dtype.name} vs file {value.dtype.name}")
            continue
        plan.append((param, value))
    extra = [f"{k} (shape {loaded[k].shape})" for k in loaded if k not in used]
    problems = []
    if missing and not allow_missing:
        problems.append(f"missing from the file (pass allow_missing=True to keep them): {', '.join(missing)}")
    if extra and not ignore_extra:
        problems.append(f"in the file but not in the model (pass ignore_extra=True to skip them): "
                        f"{', '.join(extra)}")
    if wrong_shape:
        problems.append(f"shapes differ: {'; '.join(wrong_shape)}")
    if wrong_dtype:
        problems.append(f"dtypes differ (pass cast_dtype=True to convert): {'; '.join(wrong_dtype)}")
    if conflicts:
        problems.append(f"conflicting entries: {'; '.join(conflicts)}")
    if problems:
        raise ValueError(f"cannot load {source}; nothing was changed:\n  " + "\n  ".join(problems))
    with autograd.pause():
        for param, value in plan:
            param._load_init(value, contexts, cast_dtype, dtype_source)
