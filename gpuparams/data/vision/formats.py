"""Readers of the dataset file formats: IDX (MNIST, Fashion-MNIST) and the CIFAR-10 binary batches.

Neither uses pickle. CIFAR-10 is also published as Python pickles (``cifar-10-python.tar.gz``);
gpuparams reads the binary version (``cifar-10-binary.tar.gz``) instead, because unpickling a
downloaded file can run arbitrary code.
"""
from __future__ import annotations

import gzip
import os
import tarfile

import numpy as np

from ...errors import DatasetFormatError

__all__ = ["read_idx", "write_idx", "read_cifar_batch", "CIFAR_RECORD", "extract_members"]

# IDX type codes (third magic byte) -> big-endian dtypes; see the MNIST page's "file formats" section.
_IDX_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}
CIFAR_SIDE = 32
CIFAR_RECORD = 1 + 3 * CIFAR_SIDE * CIFAR_SIDE   # one label byte, then 1024 red, green, blue bytes


def read_idx(path):
    """Read an IDX file (gzip-compressed when its name ends in ``.gz``) into a NumPy array.

    The header is two zero bytes, a type code, the number of dimensions, then each dimension as a
    big-endian uint32; the data follow in C order, big-endian.
    """
    opener = gzip.open if path.endswith(".gz") else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
    except (OSError, EOFError) as exc:
        raise DatasetFormatError(f"{path}: cannot be read as {'gzip' if opener is gzip.open else 'a file'}"
                                 f" ({exc})") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _IDX_TYPES:
        first = raw[:4].hex() or "empty"
        raise DatasetFormatError(f"{path} is not an IDX file (its first bytes are {first}; "
                                 "an IDX file starts with 00 00, a type code and the number of dimensions)")
    dtype = np.dtype(_IDX_TYPES[raw[2]])
    ndim = raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetFormatError(f"{path}: IDX header cut off ({len(raw)} bytes, {ndim} dimensions)")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    expected = header + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(raw) != expected:
        raise DatasetFormatError(f"{path}: an IDX array of shape {shape} and type {dtype} needs {expected} "
                                 f"bytes, the file has {len(raw)} (truncated or corrupted)")
    data = np.frombuffer(raw, dtype=dtype, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def write_idx(path, array):
    """Write ``array`` as an IDX file (gzip-compressed when ``path`` ends in ``.gz``); the inverse of
    :func:`read_idx`, for making small files in the real format."""
    array = np.asarray(array)
    codes = {np.dtype(v).newbyteorder("="): k for k, v in _IDX_TYPES.items()}
    code = codes.get(array.dtype)
    if code is None:
        raise ValueError(f"write_idx: dtype {array.dtype} has no IDX type code")
    body = (bytes([0, 0, code, array.ndim]) + np.asarray(array.shape, dtype=">u4").tobytes()
            + array.astype(array.dtype.newbyteorder(">")).tobytes())
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "wb") as f:
        f.write(body)


def read_cifar_batch(path):
    """Read a CIFAR-10 binary batch: ``(images uint8 (N, 32, 32, 3), labels int32 (N,))``.

    Each record is one label byte followed by the 32x32 red, green and blue planes, row by row.
    """
    with open(path, "rb") as f:
        raw = np.frombuffer(f.read(), dtype=np.uint8)
    if raw.size == 0 or raw.size % CIFAR_RECORD:
        raise DatasetFormatError(f"{path}: {raw.size} bytes is not a whole number of {CIFAR_RECORD}-byte "
                                 "CIFAR-10 records (truncated, or not the binary version)")
    records = raw.reshape(-1, CIFAR_RECORD)
    labels = records[:, 0].astype(np.int32)
    if labels.max() > 9:
        raise DatasetFormatError(f"{path}: label {labels.max()} found; CIFAR-10 labels are 0..9 (is this "
                                 "the CIFAR-100 binary version?)")
    images = records[:, 1:].reshape(-1, 3, CIFAR_SIDE, CIFAR_SIDE).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels


def extract_members(archive, members, root):
    """Extract the regular files ``members`` (archive paths) of a tar archive into ``root`` under
    their base names, each written to a temporary file and renamed; nothing else is extracted (no
    path from the archive is ever used as a destination)."""
    out = {}
    with tarfile.open(archive, "r:*") as tar:
        for member in members:
            try:
                info = tar.getmember(member)
            except KeyError:
                raise DatasetFormatError(f"{archive} has no member {member}") from None
            if not info.isfile():
                raise DatasetFormatError(f"{archive}: {member} is not a regular file")
            target = os.path.join(root, os.path.basename(member))
            with tar.extractfile(info) as src, open(target + ".tmp", "wb") as dst:
                while chunk := src.read(1 << 20):
                    dst.write(chunk)
            os.replace(target + ".tmp", target)
            out[member] = target
    return out
