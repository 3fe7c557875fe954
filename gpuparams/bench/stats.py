"""Timing statistics: the median and the p10/p90 spread of many repetitions."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

__all__ = ["TimingStats", "summarize_times"]


@dataclass(frozen=True)
class TimingStats:
    """Summary of one side's repetition times, in milliseconds.

    The median is the number a row reports: unlike the mean it ignores the occasional rep that a
    context switch or a clock change stretched. p10/p90 show how wide the distribution was, so a reader
    can tell a 3 % ratio from noise.
    """

    n: int
    median_ms: float
    p10_ms: float
    p90_ms: float
    min_ms: float
    mean_ms: float

    def as_dict(self):
        """The fields as a plain dict (for JSON)."""
        return asdict(self)


def summarize_times(times_ms):
    """Median, p10, p90, min and mean of repetition times.

    Percentiles interpolate linearly between the closest ranks (NumPy's default), so ten samples
    ``1..10`` give p10 = 1.9, median = 5.5, p90 = 9.1.

    Parameters
    ----------
    times_ms : sequence of float
        One entry per repetition; must be non-empty, finite and non-negative.

    Returns
    -------
    TimingStats

    Raises
    ------
    ValueError
        On an empty sequence or a negative / non-finite time (a broken timer must not produce a row).
    """
    values = np.asarray(list(times_ms), dtype=np.float64)
    if values.size == 0:
        raise ValueError("no repetition times to summarize")
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise ValueError(f"repetition times must be finite and >= 0, got {values.tolist()!r}")
    p10, median, p90 = np.percentile(values, [10, 50, 90])
    return TimingStats(n=int(values.size), median_ms=float(median), p10_ms=float(p10),
                       p90_ms=float(p90), min_ms=float(values.min()), mean_ms=float(values.mean()))
