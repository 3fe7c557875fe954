"""Checked, resumable, atomic downloads of dataset files.

Files land in ``<home>/datasets/<name>/``, where ``<home>`` is ``$GPUPARAMS_HOME`` (read once, at
import) or ``~/.gpuparams``. A download writes ``<file>.part`` and resumes it with an HTTP ``Range``
request when a previous attempt was cut off; only a file whose SHA-1 matches the published digest is
renamed to its final name, so a final name always holds a verified file.
"""
from __future__ import annotations

import hashlib
import os
import urllib.error
import urllib.request

from ..errors import DatasetChecksumError, DatasetDownloadError

__all__ = ["data_home", "dataset_dir", "sha1_of", "fetch"]

HOME_ENV = "GPUPARAMS_HOME"
_HOME = os.environ.get(HOME_ENV) or os.path.join(os.path.expanduser("~"), ".gpuparams")
_CHUNK = 1 << 20


def data_home():
    """The gpuparams data directory: ``$GPUPARAMS_HOME`` (as it was at import) or ``~/.gpuparams``."""
    return _HOME


def dataset_dir(name):
    """The default directory of dataset ``name``: ``<data_home()>/datasets/<name>``."""
    return os.path.join(_HOME, "datasets", name)


def sha1_of(path):
    """The hex SHA-1 of the file at ``path``."""
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def fetch(filename, sha1, urls, root, timeout=60.0):
    """Return the path of ``root/filename``, downloading it first when it is missing.

    Parameters
    ----------
    filename : str
        The file's name (also the last part of each URL).
    sha1 : str
        Its published SHA-1 (hex). A file already present is trusted only if it matches.
    urls : sequence of str
        Base URLs tried in order (``url + filename``); the first that works is used.
    root : str
        Directory to put the file in (created if missing; when the download fails, the folders
        created for it are removed again unless a partial file to resume is kept in them).
    timeout : float
        Seconds without data before a connection is given up.

    Raises
    ------
    DatasetDownloadError
        No URL worked; the message names each URL and its error, and where to put the file by hand.
    DatasetChecksumError
        The downloaded (or hand-placed) file has another SHA-1; a downloaded one is deleted.
    """
    target = os.path.join(root, filename)
    if os.path.exists(target):
        actual = sha1_of(target)
        if actual != sha1:
            raise DatasetChecksumError(
                f"{target} has SHA-1 {actual}, but the published SHA-1 of {filename} is {sha1}; delete "
                f"it (it will be downloaded again) or replace it with the original file")
        return target
    created = _make_folders(root)
    try:
        return _fetch_into(target, filename, sha1, urls, timeout)
    except BaseException:
        # A failed first download leaves the file system as it was (no empty dataset folders);
        # a partial file, kept so that the next attempt resumes it, keeps its folders.
        _remove_empty_folders(created)
        raise


def _fetch_into(target, filename, sha1, urls, timeout):
    part = target + ".part"
    failures = []
    for base in urls:
        url = base + filename
        try:
            _download(url, part, timeout)
        except (urllib.error.URLError, OSError, ValueError) as exc:
            failures.append((url, " ".join(str(exc).split())))
            continue
        actual = sha1_of(part)
        if actual != sha1:
            os.remove(part)
            raise DatasetChecksumError(
                f"downloaded {url} has SHA-1 {actual}, but the published SHA-1 of {filename} is {sha1} "
                "(a corrupted transfer or a changed file); the partial file was removed, try again")
        os.replace(part, target)
        return target
    raise DatasetDownloadError(
        f"could not download {filename}:\n  " + "\n  ".join(f"{url}: {why}" for url, why in failures)
        + f"\nDownload it by hand (from one of those URLs) and put it at {target} "
        f"(SHA-1 {sha1}); set ${HOME_ENV} to keep datasets under another directory.",
        file=filename, target=target, sha1=sha1, failures=failures)


def _make_folders(root):
    """Create ``root`` and its missing parents; return the folders this call created, outermost first.

    Each level is made with ``os.mkdir`` so that only folders created here are listed: one that
    appears meanwhile (another process) is not ours to remove.
    """
    missing = []
    folder = os.path.abspath(root)
    while not os.path.isdir(folder):
        missing.append(folder)
        parent = os.path.dirname(folder)
        if parent == folder:
            break
        folder = parent
    created = []
    for folder in reversed(missing):
        try:
            os.mkdir(folder)
        except FileExistsError:
            if not os.path.isdir(folder):
                raise
            continue
        created.append(folder)
    return created


def _remove_empty_folders(created):
    """Remove the folders of :func:`_make_folders`, innermost first, as long as they are empty."""
    for folder in reversed(created):
        try:
            os.rmdir(folder)  # fails (and stops) on a folder that holds anything
        except OSError:
            return


def _download(url, part, timeout):
    """Download ``url`` into ``part``, continuing a partial file when the server supports ranges."""
    have = os.path.getsize(part) if os.path.exists(part) else 0
    request = urllib.request.Request(url, headers={"User-Agent": "gpuparams"})
    if have:
        request.add_header("Range", f"bytes={have}-")
    try:
        response = urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as exc:
        if exc.code != 416 or not have:   # 416: nothing left to send, the part file is complete
            raise
        return
    with response:
        resumed = have and response.status == 206
        expected = response.headers.get("Content-Length")
        written = 0
        with open(part, "ab" if resumed else "wb") as out:
            for chunk in iter(lambda: response.read(_CHUNK), b""):
                out.write(chunk)
                written += len(chunk)
    if expected is not None and written != int(expected):
        raise OSError(f"connection closed after {written} of {expected} bytes (run again to resume)")
