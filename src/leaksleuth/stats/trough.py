"""Trends without forced GCs: post-GC troughs, a robust slope with a trend test, per request.

A heap read at random moments is a sawtooth: it climbs with garbage until a GC drops it. Its
peaks say how much garbage there is, its troughs what stays alive. So we fit the *lower
envelope*: the lowest reading of each window, a window holding at least one GC cycle. Heap used
only goes down when V8 collects, so every decrease marks a GC; the window is twice the typical
time between them (and widened once more when the troughs themselves saw-tooth: old-generation
garbage waiting for a major GC).

On the troughs: Theil–Sen with Sen's 95% interval (robust to an odd window) and Kendall's tau
against time (the Mann–Kendall test: is there a monotonic trend at all?). With a request counter
the troughs are also fitted against requests served, so a traffic peak (more requests, more
garbage) is not read as a leak, and a slow leak under steady traffic is a per-request figure
comparable with `measure`'s.

What is fitted should be what survives: the caller leaves out code space and, without forced
GCs, the young generation (its sawtooth is scavenges); what remains only drops when V8 collects
the old generation. A leak is what survives those collections, so without forced GCs a leak is
only called once at least `MIN_COLLECTIONS` (6) drops were seen in the span fitted, and then
on the readings right after them: before, old garbage waiting for a major GC, read on the ramp
of the sawtooth, looks exactly like a leak.

A leak: the interval is wholly above the threshold, Mann–Kendall rejects "no trend" at `alpha`,
and (without forced GCs) enough collections were seen. No leak: the interval is wholly below the
threshold. Otherwise inconclusive.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats as sps

from leaksleuth.model import NO_TREND, UNBOUNDED, Interval, Trend, Verdict
from leaksleuth.stats.fit import robust_fit

MIN_TROUGHS = 8  # fewer windows: no verdict
MIN_MINIMA = 6  # collections seen from which their readings alone are the troughs (and suffice)
MIN_COLLECTIONS = MIN_MINIMA  # collections seen in the span before a leak can be called: a leak
# is what survives them, so it rests on post-collection readings only
ALPHA = 0.01  # Mann–Kendall's level for a leak
SIGNIFICANT_DROP = 3.0  # a trough-level drop this many times the typical step is a major GC


def local_minima(values: Sequence[float] | np.ndarray) -> np.ndarray:
    """Indices of readings right after a drop that are not followed by a lower one."""
    v = np.asarray(values, dtype=float)
    if len(v) < 2:
        return np.zeros(0, dtype=int)
    dropped = np.zeros(len(v), dtype=bool)
    dropped[1:] = v[1:] < v[:-1]
    not_lower_next = np.ones(len(v), dtype=bool)
    not_lower_next[:-1] = v[1:] >= v[:-1]
    return np.flatnonzero(dropped & not_lower_next)


def envelope(times: np.ndarray, values: np.ndarray, window: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The lowest reading of each window of `window` seconds (windows without readings skipped):
    times, values and indices of those troughs. `window` 0: every reading."""
    if window <= 0 or len(times) == 0:
        idx = np.arange(len(times))
        return times, values, idx
    bins = np.floor((times - times[0]) / window).astype(np.int64)
    picked: list[int] = []
    start = 0
    for end in range(1, len(bins) + 1):
        if end == len(bins) or bins[end] != bins[start]:
            picked.append(start + int(np.argmin(values[start:end])))
            start = end
    idx = np.asarray(picked, dtype=int)
    return times[idx], values[idx], idx


def _widen_for_slow_cycle(tt: np.ndarray, tv: np.ndarray, window: float, cap: float, min_troughs: int) -> float:
    """If the troughs drop by much more than they usually move, a slower cycle (old-generation
    garbage cleared by a major GC) is still in them: widen the window to two of its periods."""
    if len(tv) < 2 * min_troughs:
        return window
    steps = np.diff(tv)
    typical = float(np.median(np.abs(steps))) or 1.0
    big = np.flatnonzero(-steps > SIGNIFICANT_DROP * typical)
    if len(big) < 2:
        return window
    period = float(np.median(np.diff(tt[big])))
    return min(max(window, 2 * period), cap)


def trough_window(times: Sequence[float] | np.ndarray, values: Sequence[float] | np.ndarray,
                  min_troughs: int = MIN_TROUGHS) -> float:
    """Seconds per trough window when too few collections were seen to use their readings: two
    GC cycles (decreases of the reading), at least three readings; widened once if the troughs
    still saw-tooth; never so wide that fewer than `min_troughs` windows fit."""
    t = np.asarray(times, dtype=float)
    v = np.asarray(values, dtype=float)
    if len(t) < 3:
        return 0.0
    dt = float(np.median(np.diff(t)))
    span = float(t[-1] - t[0])
    cap = max(span / min_troughs, dt)
    minima = local_minima(v)
    window = 3 * dt
    if len(minima) >= 3:
        window = max(window, 2 * float(np.median(np.diff(t[minima]))))
    window = min(window, cap)
    tt, tv, _ = envelope(t, v, window)
    return _widen_for_slow_cycle(tt, tv, window, cap, min_troughs)


def trough_points(times: np.ndarray, values: np.ndarray, min_troughs: int = MIN_TROUGHS
                  ) -> tuple[float, np.ndarray, np.ndarray, np.ndarray]:
    """(window, times, values, indices) of the post-GC troughs.

    With at least `min_troughs` collections seen, the troughs are the readings right after them
    (the lowest per window when they are many, or when they saw-tooth themselves); else the
    lowest reading of each `trough_window`."""
    minima = local_minima(values)
    if len(minima) >= min(MIN_MINIMA, min_troughs) and len(times) >= 3:
        span = float(times[-1] - times[0])
        cap = span / min_troughs
        window = span / (6 * min_troughs) if len(minima) > 6 * min_troughs else 0.0
        tt, tv, sub = envelope(times[minima], values[minima], window)
        wider = _widen_for_slow_cycle(tt, tv, window, cap, min_troughs)
        if wider > window:
            tt, tv, sub = envelope(times[minima], values[minima], wider)
        return wider, tt, tv, minima[sub]
    window = trough_window(times, values, min_troughs)
    tt, tv, idx = envelope(times, values, window)
    return window, tt, tv, idx


def mann_kendall(times: Sequence[float] | np.ndarray, values: Sequence[float] | np.ndarray) -> tuple[float, float]:
    """Kendall's tau of the values against time and the two-sided p-value of "no trend" (the
    Mann–Kendall test, with the tie correction)."""
    if len(values) < 3 or np.ptp(np.asarray(values, dtype=float)) == 0:
        return 0.0, 1.0
    res = sps.kendalltau(np.asarray(times, dtype=float), np.asarray(values, dtype=float))
    tau, p = float(res.statistic), float(res.pvalue)
    return (0.0 if math.isnan(tau) else tau), (1.0 if math.isnan(p) else p)


def cumulative(counter: Sequence[float] | np.ndarray) -> tuple[np.ndarray, int]:
    """A counter's readings made monotonic: each decrease is a reset (it restarted from zero).
    Returns the cumulative increase since the first reading and the number of resets."""
    c = np.asarray(counter, dtype=float)
    if len(c) == 0:
        return c, 0
    inc = np.diff(c)
    resets = inc < 0
    inc[resets] = c[1:][resets]  # after a reset the counter holds what was counted since
    return np.concatenate([[0.0], np.cumsum(inc)]), int(resets.sum())


def _verdict(ci: Interval, threshold: float, tau: float, p: float, alpha: float) -> Verdict:
    if ci.above(threshold) and tau > 0 and p < alpha:
        return "leak"
    if ci.below(threshold):
        return "no leak"
    return "inconclusive"


def fit_troughs(
    times: Sequence[float],
    values: Sequence[float],
    *,
    requests: Sequence[float] | None = None,
    rate_threshold: float = 1024.0,
    request_threshold: float = 256.0,
    post_gc: bool = False,
    max_troughs: int = 0,
    min_troughs: int = MIN_TROUGHS,
    alpha: float = ALPHA,
) -> Trend:
    """The trend of `values` (bytes) on post-GC troughs; per request too when `requests` (a
    counter's readings, same length) is given, and then the verdict is per request.

    `post_gc`: every reading followed a forced GC (each one is a trough). `max_troughs`: fit the
    last ones only (0: all)."""
    t = np.asarray(times, dtype=float)
    v = np.asarray(values, dtype=float)
    if len(t) < 3:
        return NO_TREND
    if post_gc:
        window, (tt, tv, idx) = 0.0, envelope(t, v, 0.0)
    else:
        window, tt, tv, idx = trough_points(t, v, min_troughs)
    if max_troughs and len(tt) > max_troughs:
        tt, tv, idx = tt[-max_troughs:], tv[-max_troughs:], idx[-max_troughs:]
    if len(tt) < 3:
        return NO_TREND
    fit = robust_fit(tt, tv)
    tau, p = mann_kendall(tt, tv)
    level = fit.intercept + fit.slope * float(tt[-1])
    per_request: float | None = None
    ci_request: Interval | None = None
    resets = 0
    if requests is not None:
        served, resets = cumulative(requests)
        x = served[idx]
        if np.ptp(x) > 0:
            rfit = robust_fit(x, tv)
            per_request, ci_request = rfit.slope, rfit.ci95
    collections = -1
    minima_only = False
    if not post_gc:
        lo, hi = int(idx[0]), int(idx[-1])
        minima = local_minima(v)
        collections = int(np.count_nonzero((minima >= lo) & (minima <= hi)))  # one per collection seen
        minima_only = bool(np.isin(idx, minima).all())
    needed = min(MIN_MINIMA, min_troughs) if minima_only else min_troughs
    if len(tt) < needed:
        verdict: Verdict = "inconclusive"
    elif ci_request is not None:
        verdict = _verdict(ci_request, request_threshold, tau, p, alpha)
    else:
        verdict = _verdict(fit.ci95, rate_threshold, tau, p, alpha)
    if verdict == "leak" and 0 <= collections < MIN_COLLECTIONS:
        verdict = "inconclusive"
    return Trend(
        troughs=len(tt), seconds=float(tt[-1] - tt[0]), trough_window=window,
        bytes_per_second=fit.slope, ci95=fit.ci95 if len(tt) > 2 else UNBOUNDED,
        bytes_per_request=per_request, ci95_per_request=ci_request,
        mann_kendall_p=p, verdict=verdict, level=level, counter_resets=resets, collections=collections,
    )


def significant_slope(t: Trend, alpha: float = ALPHA) -> tuple[float, Interval]:
    """The slope and interval of a side trend (RSS, working set) when it really grows, else no
    growth: an OOM is not forecast from noise or a warm-up that Mann–Kendall does not confirm."""
    if t.troughs >= MIN_MINIMA and t.ci95.low > 0 and t.mann_kendall_p < alpha:
        return t.bytes_per_second, t.ci95
    return 0.0, Interval(min(t.ci95.low, 0.0), min(t.ci95.high, 0.0))
