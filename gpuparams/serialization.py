"""Array files: ``.npz`` written atomically and read without pickle, and the policy for loading them.

Parameter files and trainer states both go through here. A save writes a temporary file beside the
target (``.<name>.tmp-<pid>-<random>``), flushes and fsyncs it, then renames it over the target, so a
crash or an exception mid-write leaves the previous file intact; a temporary left by a killed
process is removed by the next save of the same target. Saved files get the mode the umask gives
(a replaced file keeps its own). A load reads every array into memory before returning, so callers
can validate everything before they change anything; :func:`load_checked_into` is that validation
for parameter files (all problems reported at once, nothing changed unless everything fits), shared by
``ParameterDict.load`` and ``Block.load_parameters``.
"""
from __future__ import annotations

import errno
import os
import secrets
import stat
import zipfile
import zlib
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from . import autograd
from ._placement import ContextArg, context_list
from ._shapes import merge_partial_shapes
from .errors import ArrayFileError, ParameterLoadError

if TYPE_CHECKING:
    from .parameter import Parameter

__all__ = ["save_arrays", "load_arrays", "atomic_write", "temporary_prefix", "load_checked_into",
           "file_in_the_way", "ArrayFileError", "ParameterLoadError"]


def save_arrays(path, arrays):
    """Write ``{name: numpy array}`` to ``path`` as an uncompressed ``.npz``, atomically.

    Parameters
    ----------
    path : str or os.PathLike
        Destination; its folder must exist. The name is used as given (no ``.npz`` is appended).
    arrays : dict of str to numpy.ndarray
        What to store. Object arrays are refused (they would need pickle to load).
    """
    path = _file_name(path, "save")
    for name, value in arrays.items():
        if not isinstance(name, str):
            raise TypeError(f"cannot save entry {name!r}: names must be strings")
        if not isinstance(value, np.ndarray) or value.dtype.hasobject:
            raise TypeError(f"cannot save entry {name!r}: expected a numeric numpy array, "
                            f"got {type(value).__name__}")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        above = file_in_the_way(folder)
        if above is not None:
            raise NotADirectoryError(errno.ENOTDIR, f"cannot save to {path}: {above} is a file, not a "
                                                    "folder")
        raise FileNotFoundError(f"cannot save to {path}: folder {folder} does not exist")
    atomic_write(path, lambda f: _write_npz(f, arrays))


def file_in_the_way(folder):
    """For a ``folder`` that does not exist: its nearest existing ancestor when that is a file (so
    the folder can never be created, ``model/sub`` under a file ``model``), else None."""
    above = folder
    while not os.path.lexists(above) and os.path.dirname(above) != above:
        above = os.path.dirname(above)
    return above if os.path.exists(above) and not os.path.isdir(above) else None


def _file_name(path, verb):
    """``path`` as a string, refusing what is not a file name with a message that says so (rather
    than ``os.fspath``'s "expected str, bytes or os.PathLike object" or an ``[Errno 2]`` about '')."""
    try:
        path = os.fspath(path)
    except TypeError:
        raise TypeError(f"cannot {verb} {path!r}: a file name must be a str or os.PathLike, got "
                        f"{type(path).__name__}") from None
    if isinstance(path, bytes):
        path = os.fsdecode(path)
    if not path.strip():
        raise FileNotFoundError(errno.ENOENT, f"cannot {verb} {path!r}: the file name is empty; give one "
                                              "such as 'model.params'")
    return path


def atomic_write(path, write, suffix=".npz"):
    """Call ``write(binary_file)`` on a temporary file beside ``path``, then rename it over ``path``.

    The temporary file is named after the target, ``.<name>.tmp-<pid>-<random>``, so a leftover
    from a killed process is recognisable: temporaries of the same target whose process is gone are
    removed before the next write. It is flushed and fsync'ed before the rename (same folder, so the
    rename is atomic) and the folder is fsync'ed after it. If ``write`` or anything else fails, the
    previous file at ``path`` is untouched and the temporary file is removed. The new file gets the
    mode of the file it replaces, else ``0o666`` minus the umask (what ``open`` would give). When
    ``path`` is a symbolic link, the link stays and the file it points to is what is replaced (the
    temporary goes beside that file). A device or named pipe (``/dev/null``) is written into
    directly, as ``open`` would: it cannot be replaced without destroying the node.

    Errors from the file system (no permission, a folder in the way, a full disk) are re-raised as
    the same ``OSError`` subclass naming ``path``, never the temporary file.

    ``suffix`` is accepted for old callers; the temporary's name no longer uses it.
    """
    del suffix
    path = _file_name(path, "write")
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, f"cannot write {path}: it is a folder; give a file name "
                                              "inside it")
    # A symbolic link is written through, as open(path, "w") would: the link stays and the file it
    # points to is replaced, atomically, from a temporary in *that* file's folder (a rename must stay
    # on one file system) and with that file's mode. Renaming onto the link itself would turn it into
    # a regular file and leave the file it pointed to stale.
    real = os.path.realpath(path) if os.path.islink(path) else path
    folder = os.path.dirname(os.path.abspath(real))
    base = os.path.basename(real)
    if _is_special(real):
        _write_in_place(real, path, folder, write)
        return path
    _remove_stale_temporaries(folder, base)
    mode = _mode_for(real)
    tmp = None
    try:
        fd, tmp = _create_temporary(folder, base)
        with os.fdopen(fd, "wb") as f:
            _chmod(f.fileno(), mode)
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, real)
        tmp = None
    except OSError as exc:
        raise _naming(exc, path, folder) from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass
    _fsync_folder(folder)
    return path


def _is_special(path):
    """Whether ``path`` exists and is a device, pipe or socket rather than a regular file."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode))


def _write_in_place(real, path, folder, write):
    """Write into a device or named pipe (``/dev/null``, a pipe a reader waits on) as ``open`` would.

    There is no file to replace atomically there: renaming a temporary over it would put a regular
    file in place of the node (for root, over ``/dev/null`` itself) and the reader would get nothing.
    """
    try:
        with open(real, "wb") as f:
            write(_Stream(f))
            f.flush()
    except OSError as exc:
        raise _naming(exc, path, folder) from None


class _Stream:
    """A file seen as a write-only stream: ``/dev/null`` claims to be seekable but its positions
    stay 0, which breaks the offsets a zip writer records; without ``tell``/``seek`` the writer
    streams (sizes after each member), which any device or pipe takes."""

    def __init__(self, f):
        self._f = f

    def write(self, data):
        return self._f.write(data)

    def flush(self):
        self._f.flush()


def temporary_prefix(target):
    """The start of every temporary file name :func:`atomic_write` uses for ``target``'s base name."""
    return f".{os.path.basename(os.fspath(target))}.tmp-"


def _create_temporary(folder, base):
    prefix = f"{temporary_prefix(base)}{os.getpid()}-"
    for _ in range(100):
        tmp = os.path.join(folder, prefix + secrets.token_hex(4))
        try:
            # 0o600 until the final mode is set on the descriptor: nobody reads a half-written file.
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                           0o600), tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, f"no unused temporary name for {base} in {folder}")


def _remove_stale_temporaries(folder, base):
    """Delete ``.<base>.tmp-<pid>-<rand>`` files whose process no longer runs (a crash or SIGKILL
    mid-save). Temporaries of live processes are left alone: they may be saving right now."""
    prefix = temporary_prefix(base)
    try:
        names = [n for n in os.listdir(folder) if n.startswith(prefix)]
    except OSError:
        return
    for name in names:
        pid, _, rand = name[len(prefix):].partition("-")
        if not (pid.isdigit() and rand) or _process_alive(int(pid)):
            continue
        try:
            os.unlink(os.path.join(folder, name))
        except OSError:
            pass  # another process removed it first, or the folder is read-only: not our problem


def _process_alive(pid):
    if pid == os.getpid():
        return True  # another thread of ours may be writing it
    if os.name == "nt":
        return True  # os.kill(pid, 0) would send Ctrl-C there, not probe: keep the file
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True  # exists (owned by someone else) or cannot tell: keep the file
    return True


def _current_umask():
    # /proc tells without changing anything; os.umask has to set a value to read it, which races
    # with other threads creating files, so it is only the fallback.
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _mode_for(path):
    """The permission bits of the file being replaced, else what a new file would get."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return 0o666 & ~_current_umask()


def _chmod(fd, mode):
    try:
        os.fchmod(fd, mode)
    except (AttributeError, OSError):  # no fchmod (Windows) or a file system without modes
        pass


def _naming(exc, path, folder=None):
    """``exc`` (an OSError about a temporary file) as the same class, about ``path``; ``folder`` is
    where the file is written (default: ``path``'s folder; for a symbolic link, its target's)."""
    reason = exc.strerror or str(exc)
    fix = ""
    if isinstance(exc, PermissionError):
        fix = f"; check that {folder or os.path.dirname(os.path.abspath(path))} is writable"
    text = f"cannot write {path}: {reason}{fix}"
    try:
        return type(exc)(exc.errno, text) if exc.errno else type(exc)(text)
    except TypeError:  # an OSError subclass with its own constructor
        return OSError(exc.errno, text) if exc.errno else OSError(text)


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


_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a first member, or an empty archive
_NPY_MAGIC = b"\x93NUMPY"
# MXNet 1.x's binary NDArray list (its nd.save, save_parameters, export's -0000.params) starts with
# kMXAPINDArrayListMagic, 0x112, as a little-endian uint64.
_MXNET_LIST_MAGIC = (0x112).to_bytes(8, "little")


def load_arrays(path, kind="gpuparams array file"):
    """Read every array of an ``.npz`` file into a dict, refusing pickled content.

    Parameters
    ----------
    path : str or os.PathLike
    kind : str
        What the caller expects, for messages (``"gpuparams parameter file"``).

    Raises
    ------
    FileNotFoundError
        When ``path`` does not exist.
    IsADirectoryError, PermissionError
        When ``path`` is a folder or cannot be read (the message names it).
    ArrayFileError
        When the file is empty, not a zip archive, truncated, corrupt or holds objects that need
        pickle.
    """
    path = _file_name(path, "load")
    if not os.path.exists(path):
        raise FileNotFoundError(f"no such file: {path}")
    if os.path.isdir(path):
        raise IsADirectoryError(errno.EISDIR, f"cannot read {path}: it is a folder, not a {kind}")
    try:
        # Open the file here rather than handing np.load the path: np.load leaks its own handle when
        # the zip directory is unreadable.
        with open(path, "rb") as f:
            magic = f.read(len(_MXNET_LIST_MAGIC))
            if not magic:
                raise ArrayFileError(f"{path} is empty (0 bytes), not a {kind}")
            if magic.startswith(_NPY_MAGIC):
                raise ArrayFileError(f"{path} is a single-array .npy file, not a .npz array file "
                                     f"(a {kind} is a zip archive of arrays)")
            if magic == _MXNET_LIST_MAGIC:
                raise ArrayFileError(
                    f"{path} is an MXNet binary NDArray file (written by MXNet's nd.save or "
                    f"save_parameters), not a {kind}: gpuparams reads .npz files only. Convert it where "
                    "MXNet is installed: numpy.savez('out.npz', **{k: v.asnumpy() for k, v in "
                    f"mxnet.nd.load({path!r}).items()}})")
            if not magic.startswith(_ZIP_MAGICS):
                # Without this check np.load would try to unpickle it and say "if you trust the file".
                raise ArrayFileError(f"{path} is not a {kind} (not a zip archive)")
            f.seek(0)
            with np.load(f, allow_pickle=False) as archive:
                return {name: _member(archive, name, path, kind) for name in archive.files}
    except ArrayFileError:
        raise
    except PermissionError:
        raise PermissionError(errno.EACCES, f"cannot read {path}: permission denied") from None
    except (zipfile.BadZipFile, EOFError, OSError, ValueError, KeyError, zlib.error) as exc:
        raise ArrayFileError(f"{path} is not a readable .npz array file (truncated or corrupt?): "
                             f"{exc}") from None


def _member(archive, name, path, kind):
    try:
        value = archive[name]
    except ValueError as exc:
        if "pickle" not in str(exc):
            raise
        raise ArrayFileError(f"{path}: entry {name!r} holds Python objects, which would need pickle to "
                             "load; gpuparams files hold numeric arrays only") from None
    if not isinstance(value, np.ndarray):
        # np.load hands back the raw bytes of a member that is not a .npy array (some other zip).
        stored = name + ".npy" if name + ".npy" in archive.zip.namelist() else name
        raise ArrayFileError(f"{path} is not a {kind}: its zip member {stored!r} is not a .npy array, "
                             "so this zip is not a gpuparams/MXNet parameter file (those hold one .npy "
                             "array per entry, as nd.save and save_parameters write them)")
    return value


def load_checked_into(entries: Sequence[tuple[str, Parameter, Sequence[str]]],
                      loaded: Mapping[str, np.ndarray], source: str | os.PathLike, ctx: ContextArg,
                      allow_missing: bool, ignore_extra: bool, cast_dtype: bool,
                      dtype_source: str = "current") -> None:
    """Validate every entry of a loaded parameter file against the parameters, then (only then) load.

    Every problem is collected first (missing, extra, shape- and dtype-mismatched entries, tied
    entries holding different values and, with ``cast_dtype``, values that cannot be converted
    without changing them) and reported in one ValueError; the parameters change only when there is
    none. Conversions happen here, before the first parameter changes.

    Raises
    ------
    ParameterLoadError
        (a ``ValueError``) listing every problem; its attributes hold them one by one.

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
    uncastable = []
    for shown, param, keys in entries:
        present = [k for k in keys if k in loaded]
        used.update(present)
        if not present:
            missing.append((shown, param.shape))
            continue
        value = loaded[present[0]]
        for other in present[1:]:
            if not np.array_equal(value, loaded[other]):
                conflicts.append(f"{present[0]} and {other} (one tied parameter, different values)")
        if param.shape is not None and merge_partial_shapes(param.shape, value.shape) != value.shape:
            wrong_shape.append((shown, param.shape, value.shape))
            continue
        if value.dtype != param.dtype and not cast_dtype:
            wrong_dtype.append((shown, param.dtype.name, value.dtype.name))
            continue
        if dtype_source == "saved" and value.dtype != param.dtype:
            # The parameter takes the file's dtype (its values stay as saved); a dtype no parameter
            # can have is refused here, so the cast cannot fail half-way through the load.
            why = _unsupported_dtype(value.dtype)
            if why is not None:
                uncastable.append(f"{shown}: file {value.dtype.name} for the model: {why}")
                continue
            plan.append((param, value))
            continue
        # Converted here, not while loading: a value that cannot be converted must stop the load
        # before the first parameter changes.
        converted, why = _converted(value, param.dtype)
        if why is not None:
            uncastable.append(f"{shown}: file {value.dtype.name} to model {param.dtype.name}: {why}")
            continue
        plan.append((param, converted))
    extra = [(k, loaded[k].shape) for k in loaded if k not in used]
    missing = [] if allow_missing else missing
    extra = [] if ignore_extra else extra
    problems = []
    if missing:
        problems.append("missing from the file (pass allow_missing=True to keep them): "
                        + ", ".join(f"{name} (shape {shape})" for name, shape in missing))
    if extra:
        problems.append("in the file but not in the model (pass ignore_extra=True to skip them): "
                        + ", ".join(f"{name} (shape {shape})" for name, shape in extra))
    if wrong_shape:
        problems.append("shapes differ: " + "; ".join(f"{name}: model {model} vs file {file}"
                                                      for name, model, file in wrong_shape))
    if wrong_dtype:
        problems.append("dtypes differ (pass cast_dtype=True to convert): "
                        + "; ".join(f"{name}: model {model} vs file {file}"
                                    for name, model, file in wrong_dtype))
    if conflicts:
        problems.append(f"conflicting entries: {'; '.join(conflicts)}")
    if uncastable:
        problems.append(f"values that cannot be converted: {'; '.join(uncastable)}")
    if problems:
        raise ParameterLoadError(f"cannot load {source}; nothing was changed:\n  " + "\n  ".join(problems),
                                 path=os.fspath(source), missing=missing, extra=extra,
                                 wrong_shape=wrong_shape, wrong_dtype=wrong_dtype, problems=problems)
    with autograd.pause():
        for param, value in plan:
            param._load_init(value, contexts)


def _unsupported_dtype(dtype):
    """Why a parameter cannot have ``dtype``, or None."""
    from ._ndarray import normalize_dtype
    try:
        normalize_dtype(dtype, what="the file's dtype")
    except TypeError as exc:
        return str(exc)
    return None


def _converted(value, dtype):
    """``value`` as ``dtype``, or ``(None, why)`` when the conversion would lose or invent values.

    Refused: non-numeric content, complex to real (the imaginary part would vanish), NaN or infinity
    to an integer type, numbers outside the target's range (they would wrap around or become
    infinite) and fractions to an integer type (they would be truncated).
    """
    if value.dtype == dtype:
        return value, None
    src, dst = value.dtype, np.dtype(dtype)
    if src.kind not in "biufc":
        return None, f"the file holds {src.name} data, not numbers"
    if src.kind == "c" and dst.kind != "c":
        if np.any(value.imag != 0):
            return None, "complex values with a non-zero imaginary part"
        value = value.real
    if dst.kind in "biu" and value.dtype.kind in "fc":
        if not np.all(np.isfinite(value)):
            return None, "NaN or infinite values cannot become integers"
        if np.any(value != np.round(value)):
            return None, "fractional values would be truncated"
    if dst.kind in "iu" and value.size:
        info = np.iinfo(dst)
        low, high = value.min(), value.max()
        if low < info.min or high > info.max:
            return None, f"values from {low} to {high} do not fit in {dst.name} ({info.min} to {info.max})"
    with np.errstate(over="ignore", invalid="ignore"):
        converted = value.astype(dst)
    if dst.kind == "f" and np.any(np.isinf(converted) & np.isfinite(value)):
        return None, (f"values beyond the {dst.name} range (largest {np.finfo(dst).max:g}) would become "
                      "infinite")
    return converted, None
