"""Trends over time and the time left before a limit (watch's arithmetic)."""

from __future__ import annotations

import math
from collections.abc import Sequence

from leaksleuth.model import Interval, LimitKind, OomForecast
from leaksleuth.stats.fit import robust_fit

# V8's heap_size_limit counts the young generation's reserve (3 × a 16 MiB semi-space on 64-bit)
# on top of --max-old-space-size; the process dies when the *old* generation is full, so the
# usable limit is about that much lower (measured: a 32 MB old space reports 84 MB and dies at ~36)
YOUNG_GENERATION_RESERVE = 48 << 20


def usable_heap_limit(heap_size_limit: int) -> int:
    """Heap used at which the process runs out of memory, estimated from V8's heap_size_limit."""
    if heap_size_limit > YOUNG_GENERATION_RESERVE + (16 << 20):
        return heap_size_limit - YOUNG_GENERATION_RESERVE
    return heap_size_limit


def trend(times: Sequence[float], values: Sequence[float]) -> float:
    """Growth per second: Theil–Sen over the readings given (0 below three)."""
    if len(times) < 3:
        return 0.0
    return robust_fit(times, values).slope


def seconds_to_limit(used: int, limit: int, slope: float) -> float | None:
    """Seconds until `used` reaches `limit` at `slope` per second; None when not growing, 0 when
    already there."""
    if slope <= 0:
        return None
    if limit <= used:
        return 0.0
    return (limit - used) / slope


def oom_forecast(
    limits: Sequence[tuple[LimitKind, int | None, float, float, Interval]],
) -> OomForecast | None:
    """The limit that is hit first. Each entry: (kind, limit bytes or None, the fitted level now,
    the slope per second, its 95% interval). Growing ones are ranked by the central estimate;
    when none grows, the nearest limit is named with no time."""
    known = [(kind, int(limit), level, slope, ci) for kind, limit, level, slope, ci in limits if limit]
    if not known:
        return None
    forecasts = []
    for kind, limit, level, slope, ci in known:
        used = int(level)
        forecasts.append(OomForecast(
            limit_kind=kind, limit_bytes=limit, used_bytes=used,
            seconds=seconds_to_limit(used, limit, slope),
            earliest=seconds_to_limit(used, limit, max(ci.high, slope)) if math.isfinite(ci.high) else None,
            latest=seconds_to_limit(used, limit, ci.low) if ci.low > 0 else None,
        ))
    growing = [f for f in forecasts if f.seconds is not None]
    if growing:
        return min(growing, key=lambda f: f.seconds if f.seconds is not None else math.inf)
    return min(forecasts, key=lambda f: f.limit_bytes - f.used_bytes)
