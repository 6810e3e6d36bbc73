"""Robust slope with a confidence interval, and the verdict it supports."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from scipy import stats as sps

from leaksleuth.model import UNBOUNDED, Fit, Interval, Verdict


def robust_fit(x: np.ndarray | Sequence[float], y: np.ndarray | Sequence[float]) -> Fit:
    """Theil–Sen slope (median of pairwise slopes) with its 95% interval.

    One outlier round moves a median of pairwise slopes very little, unlike least squares;
    the interval is the rank-based one of Sen (1968), valid without normal errors.
    """
    xs = np.asarray(x, dtype=float)
    ys = np.asarray(y, dtype=float)
    if len(xs) < 2 or np.ptp(xs) == 0:
        return Fit(slope=0.0, intercept=float(ys.mean()) if len(ys) else 0.0, ci95=UNBOUNDED)
    if len(xs) == 2:
        slope = float((ys[1] - ys[0]) / (xs[1] - xs[0]))
        return Fit(slope=slope, intercept=float(ys[0] - slope * xs[0]), ci95=UNBOUNDED)
    res = sps.theilslopes(ys, xs, alpha=0.95)
    low, high = float(res.low_slope), float(res.high_slope)
    slope = float(res.slope)
    # Sen's interval collapses to a point when every pairwise slope is equal (e.g. integer
    # counters that grow exactly one per request); that is a real certainty, keep it.
    return Fit(slope=slope, intercept=float(res.intercept), ci95=Interval(min(low, slope), max(high, slope)))


def verdict(fit: Fit, threshold: float) -> Verdict:
    """`leak` when the whole interval is above the threshold, `no leak` when below it."""
    if fit.ci95.above(threshold):
        return "leak"
    if fit.ci95.below(threshold):
        return "no leak"
    return "inconclusive"
