"""The correctness gate: a result must match a float64 reference before its timing counts."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["GateResult", "check_close", "to_numpy", "DEFAULT_TOLERANCE"]

#: Max relative error against float64 allowed for an FP32 result (DESIGN.md §6).
DEFAULT_TOLERANCE = 1e-4


@dataclass
class GateResult:
    """Outcome of :func:`check_close`.

    Attributes
    ----------
    ok : bool
        Whether every part is within tolerance.
    max_rel_err : float or None
        The largest per-part relative error (``None`` when a part could not be compared at all).
    reason : str or None
        Why the gate refused, in words (first failing part).
    parts : list of float
        The relative error of each compared part, in order.
    """

    ok: bool
    max_rel_err: float | None
    reason: str | None = None
    parts: list = field(default_factory=list)


def to_numpy(value):
    """Copy an array of any backend we benchmark to a NumPy array on the host.

    Handles NumPy arrays and scalars, CuPy arrays (``.get()``), PyTorch tensors (``.detach().cpu()``)
    and gpuparams NDArrays (``.asnumpy()``), without importing any of those libraries.
    """
    module = type(value).__module__ or ""
    if module.startswith("torch"):
        return value.detach().cpu().numpy()
    if module.startswith("cupy"):
        return value.get()
    if hasattr(value, "asnumpy"):
        return value.asnumpy()
    return np.asarray(value)


def _flatten(value, prefix="out"):
    if isinstance(value, dict):
        items = []
        for key in sorted(value):
            items.extend(_flatten(value[key], f"{prefix}[{key!r}]"))
        return items
    if isinstance(value, (list, tuple)):
        items = []
        for i, item in enumerate(value):
            items.extend(_flatten(item, f"{prefix}[{i}]"))
        return items
    return [(prefix, value)]


def _relative_error(actual, expected):
    """Normwise relative error ``max|a - e| / max|e|``.

    Element-wise relative error is meaningless where the reference is near zero (a GEMM output has such
    entries by chance); dividing by the largest reference magnitude measures the error against the scale
    of the result instead. An all-zero reference falls back to the absolute error.
    """
    if expected.size == 0:
        return 0.0
    scale = float(np.max(np.abs(expected)))
    err = float(np.max(np.abs(actual - expected)))
    return err / scale if scale > 0 else err


def check_close(actual, expected, tolerance=DEFAULT_TOLERANCE):
    """Compare a result with its float64 reference.

    Parameters
    ----------
    actual : array, tensor, NDArray, or a tuple / list / dict of them
        What the implementation under test returned.
    expected : array or the same structure
        The float64 reference.
    tolerance : float
        Largest allowed relative error of each part (see :func:`_relative_error`).

    Returns
    -------
    GateResult
        ``ok`` is False on a structure or shape mismatch, on NaN/Inf where the reference is finite, or
        when a part's relative error exceeds ``tolerance``.
    """
    got = _flatten(actual)
    want = _flatten(expected)
    if len(got) != len(want):
        return GateResult(False, None, f"returned {len(got)} arrays, the reference has {len(want)}")
    errors = []
    worst_reason = None
    for (name, a), (_, e) in zip(got, want):
        a = np.asarray(to_numpy(a), dtype=np.float64)
        e = np.asarray(to_numpy(e), dtype=np.float64)
        if a.shape != e.shape:
            return GateResult(False, None, f"{name}: shape {a.shape} but the reference is {e.shape}",
                              errors)
        finite = np.isfinite(e)
        if not np.all(np.isfinite(a[finite])):
            return GateResult(False, None, f"{name}: NaN or Inf where the reference is finite", errors)
        rel = _relative_error(a[finite], e[finite])
        errors.append(rel)
        if rel > tolerance and worst_reason is None:
            worst_reason = f"{name}: relative error {rel:.3g} > {tolerance:g}"
    max_err = max(errors) if errors else 0.0
    return GateResult(worst_reason is None, max_err, worst_reason, errors)
