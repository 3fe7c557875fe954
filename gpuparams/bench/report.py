"""Results: the JSON file (atomic, merged per device and date), the Markdown table and the PNG chart."""
from __future__ import annotations

import datetime as _dt
import json
import math
import os
import re

from ..serialization import atomic_write
from .harness import ROW_KEYS

__all__ = [
    "SCHEMA", "DEVICE_KEYS", "results_path", "slugify", "write_json_atomic", "merge_results",
    "validate_result", "markdown_table", "write_chart",
]

#: Identifies the layout of a results file; bump when a key changes meaning.
SCHEMA = "gpuparams-bench/1"

#: Keys every ``device`` object has (``None`` where not applicable, e.g. ``sm_count`` on a CPU run).
DEVICE_KEYS = ("name", "sm_count", "driver", "cuda", "cupy", "torch")


def slugify(text):
    """Lower-case, ASCII letters/digits and single dashes: ``"NVIDIA H100 80GB HBM3"`` ->
    ``"nvidia-h100-80gb-hbm3"``."""
    slug = re.sub(r"[^a-z0-9]+", "-", str(text).lower()).strip("-")
    return slug or "unknown-device"


def results_path(directory, device_name, date=None):
    """``<directory>/<device slug>-<YYYY-MM-DD>.json`` (one file per device and date).

    Parameters
    ----------
    directory : str or os.PathLike
    device_name : str
    date : datetime.date, optional
        Default: today (local time, the date the person running it sees).
    """
    date = date or _dt.date.today()
    return os.path.join(os.fspath(directory), f"{slugify(device_name)}-{date.isoformat()}.json")


def _json_default(value):
    # NumPy scalars reach the rows through statistics; JSON has no type for them.
    for attr in ("item", "tolist"):
        if hasattr(value, attr):
            return getattr(value, attr)()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def _clean(value):
    """Replace NaN/Inf (not valid JSON) by None, recursively."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def write_json_atomic(data, path):
    """Write ``data`` as JSON to ``path`` so a reader never sees a half-written file.

    The text goes to a temporary file in the same directory (same file system, so the rename is
    atomic), is flushed and fsync'ed, and then replaces ``path`` with :func:`os.replace`. If anything
    fails, the old file is untouched and the temporary file is removed.
    """
    path = os.fspath(path)
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    text = json.dumps(_clean(data), indent=2, sort_keys=False, default=_json_default,
                      allow_nan=False) + "\n"
    atomic_write(path, lambda handle: handle.write(text.encode("utf-8")), suffix=".json")
    return path


def merge_results(existing, new):
    """Combine a results file already written today with a new run.

    Rows of the suites the new run covered replace the old rows of those suites; rows of other suites
    are kept (running ``--suite kernels`` and then ``--suite train`` on the same day gives one file with
    both). The device block and settings come from the new run.
    """
    if not existing or existing.get("schema") != new.get("schema"):
        return new
    ran = {row["suite"] for row in new.get("rows", [])} | set(new.get("suites", []))
    kept = [row for row in existing.get("rows", []) if row.get("suite") not in ran]
    merged = dict(new)
    merged["rows"] = kept + list(new.get("rows", []))
    merged["suites"] = sorted(set(existing.get("suites", [])) | set(new.get("suites", [])))
    return merged


_NUMBER = (int, float)


def validate_result(result):
    """Problems with a results object, as a list of strings (empty when it follows the schema).

    Checks the top-level keys, the device keys, every row's keys and types, and the invariants a reader
    relies on: ``ratio == baseline_ms / gpuparams_ms``, and no gpuparams time on a row whose
    correctness gate failed.
    """
    problems = []
    if not isinstance(result, dict):
        return ["result is not an object"]
    if result.get("schema") != SCHEMA:
        problems.append(f"schema is {result.get('schema')!r}, expected {SCHEMA!r}")
    device = result.get("device")
    if not isinstance(device, dict):
        problems.append("device is missing")
    else:
        for key in DEVICE_KEYS:
            if key not in device:
                problems.append(f"device.{key} is missing")
        if not isinstance(device.get("name"), str):
            problems.append("device.name is not a string")
    rows = result.get("rows")
    if not isinstance(rows, list):
        return problems + ["rows is not a list"]
    for i, row in enumerate(rows):
        where = f"rows[{i}]"
        if not isinstance(row, dict):
            problems.append(f"{where} is not an object")
            continue
        for key in ROW_KEYS:
            if key not in row:
                problems.append(f"{where}.{key} is missing")
        for key in ("suite", "name", "shape"):
            if not isinstance(row.get(key), str):
                problems.append(f"{where}.{key} is not a string")
        for key in ("gpuparams_ms", "baseline_ms", "ratio", "gpuparams_tflops"):
            value = row.get(key)
            if value is not None and (not isinstance(value, _NUMBER) or isinstance(value, bool)
                                      or value < 0):
                problems.append(f"{where}.{key} is not a non-negative number")
        if row.get("correct") not in (True, False, None):
            problems.append(f"{where}.correct is not a bool or null")
        if row.get("nvml") is not None and not isinstance(row.get("nvml"), dict):
            problems.append(f"{where}.nvml is not an object")
        if row.get("correct") is False and row.get("gpuparams_ms") is not None:
            problems.append(f"{where}: timed although the correctness gate failed")
        gp, base, ratio = row.get("gpuparams_ms"), row.get("baseline_ms"), row.get("ratio")
        if ratio is not None:
            if not gp or base is None:
                problems.append(f"{where}: ratio without both times")
            elif not math.isclose(ratio, base / gp, rel_tol=1e-9):
                problems.append(f"{where}: ratio {ratio} != baseline_ms / gpuparams_ms")
    return problems


def _num(value, fmt):
    return "–" if value is None else format(value, fmt)


def _ms_cell(median, p10, p90):
    if median is None:
        return "–"
    if p10 is None or p90 is None:
        return f"{median:.4g}"
    return f"{median:.4g} ({p10:.3g}–{p90:.3g})"


def _nvml_cell(nvml):
    if not nvml or not nvml.get("available"):
        return "–"
    parts = []
    clock = nvml.get("sm_clock_mhz")
    if clock:
        parts.append(f"{clock['median']:.0f} MHz")
    power = nvml.get("power_w")
    if power:
        parts.append(f"{power['peak']:.0f} W")
    names = [n for n in nvml.get("clock_event_reason_names") or [] if n != "gpu_idle"]
    if names:
        parts.append("+".join(names))
    if nvml.get("throttled"):
        parts.append("THROTTLED")
    return ", ".join(parts) or "–"


def _status_cell(row):
    if row.get("skipped"):
        return f"skipped: {row['skipped']}"
    if row.get("correct") is False:
        return f"WRONG: {row.get('gate') or row.get('error')}"
    if row.get("error"):
        return f"ok ({row['error']})" if row.get("correct") else f"error: {row['error']}"
    if row.get("baseline_correct") is False:
        return f"ok ({row.get('gate')})"
    if row.get("baseline_skipped"):
        return f"ok (no baseline: {row['baseline_skipped']})"
    return "ok" if row.get("correct") else "–"


def markdown_table(rows, peaks=None):
    """A GitHub-Markdown table of rows, one line each.

    Columns: suite, name, shape, mode, baseline, both times as ``median (p10–p90)`` in ms, the ratio
    (baseline / gpuparams; above 1 means gpuparams is faster), gpuparams TFLOP/s and GB/s, the fraction
    of the roofline floor reached, the NVML summary and the gate status.
    """
    header = ["suite", "name", "shape", "mode", "baseline", "gpuparams ms (p10–p90)",
              "baseline ms (p10–p90)", "ratio", "TFLOP/s", "GB/s", "of roofline", "NVML", "status"]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    for row in rows:
        cells = [
            row.get("suite") or "", row.get("name") or "", row.get("shape") or "", row.get("mode") or "–",
            row.get("baseline") or "–",
            _ms_cell(row.get("gpuparams_ms"), row.get("gpuparams_p10_ms"), row.get("gpuparams_p90_ms")),
            _ms_cell(row.get("baseline_ms"), row.get("baseline_p10_ms"), row.get("baseline_p90_ms")),
            _num(row.get("ratio"), ".3f"),
            _num(row.get("gpuparams_tflops"), ".3g"),
            _num(row.get("gpuparams_gbps"), ".4g"),
            "–" if row.get("roofline_fraction") is None else f"{100 * row['roofline_fraction']:.0f} %",
            _nvml_cell(row.get("nvml")),
            _status_cell(row),
        ]
        lines.append("| " + " | ".join(str(c).replace("|", "\\|") for c in cells) + " |")
    if peaks and peaks.get("tflops"):
        lines.append("")
        lines.append(f"Roofline: {peaks['tflops']:.3g} TFLOP/s FP32, {peaks['tbps']:.3g} TB/s "
                     f"({peaks.get('source', 'unknown source')}).")
    return "\n".join(lines)


def write_chart(result, path):
    """Draw the ratio per row and the achieved TFLOP/s against the device peak into a PNG.

    Returns the path, or ``None`` when matplotlib is not installed (the caller says so) or no row has a
    time to draw.
    """
    try:
        # The object-oriented API renders with Agg without touching pyplot's global backend, so
        # calling this from a notebook leaves the notebook's plotting alone.
        from matplotlib.figure import Figure  # noqa: WPS433 (optional)
    except ImportError:
        return None
    rows = [r for r in result.get("rows", []) if r.get("gpuparams_ms") is not None]
    if not rows:
        return None
    labels = [f"{r['name']} {r['shape']} [{r.get('mode') or ''}] vs {r.get('baseline') or '–'}"
              for r in rows]
    ratios = [r.get("ratio") or 0.0 for r in rows]
    tflops = [r.get("gpuparams_tflops") or 0.0 for r in rows]
    peaks = (result.get("device") or {}).get("peaks") or {}
    height = max(3.0, 0.28 * len(rows) + 1.5)
    fig = Figure(figsize=(15, height))
    ax_ratio, ax_tflops = fig.subplots(1, 2, sharey=True)
    positions = list(range(len(rows)))
    colors = ["tab:green" if r >= 1.0 else "tab:red" for r in ratios]
    ax_ratio.barh(positions, ratios, color=colors)
    for y, value in zip(positions, ratios):
        ax_ratio.text(value, y, f" {value:.2f}", va="center", fontsize=7)
    ax_ratio.axvline(1.0, color="black", linewidth=1)
    ax_ratio.set_yticks(positions)
    ax_ratio.set_yticklabels(labels, fontsize=7)
    ax_ratio.invert_yaxis()
    ax_ratio.set_xlabel("baseline time / gpuparams time (>1: gpuparams faster)")
    ax_ratio.set_title("Speed ratio")
    ax_tflops.barh(positions, tflops, color="tab:blue")
    if peaks.get("tflops"):
        ax_tflops.axvline(peaks["tflops"], color="black", linestyle="--", linewidth=1,
                          label=f"peak {peaks['tflops']:.3g} TFLOP/s ({peaks.get('source', '')})")
        ax_tflops.legend(loc="lower right", fontsize=7)
    ax_tflops.set_xlabel("gpuparams TFLOP/s (FP32)")
    ax_tflops.set_title("Achieved throughput")
    device = result.get("device") or {}
    fig.suptitle(f"gpuparams benchmarks on {device.get('name', 'unknown device')} "
                 f"({result.get('created', '')[:10]})")
    fig.tight_layout()
    path = os.fspath(path)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fig.savefig(path, dpi=110, bbox_inches="tight")  # keep long row labels inside the image
    return path
