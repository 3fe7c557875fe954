"""Array files: ``.npz`` written atomically and read without pickle.

Parameter files and trainer states both go through here. A save writes a temporary file beside the
target, flushes and fsyncs it, then renames it over the target, so a crash or an exception mid-write
leaves the previous file intact. A load reads every array into memory before returning, so callers
can validate everything before they change anything.
"""
from __future__ import annotations

import os
import tempfile
import zipfile
import zlib

import numpy as np
from .errors import ArrayFileError

__all__ = ["save_arrays", "load_arrays", "atomic_write", "ArrayFileError"]


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
        raise ArrayFileError(f"{path} is not a readable .npz array file (truncated or corrupt?): {exc}") from None
