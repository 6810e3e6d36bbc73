"""From readings to a measurement: robust fits per process and in total, and the verdict.

Pure: readings in, facts out (no sessions, no sentences).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from leaksleuth.model import (
    LoadStats,
    Measurement,
    ProcessMeasurement,
    ProcessReadings,
    Reading,
    Verdict,
    serving,
)
from leaksleuth.stats.fit import robust_fit, verdict

HANDLE_LEAK = 0.5  # resources (timers, listeners...) gained per request that make a leak
UNREF_TIMERS = "Timeout (unref'd)"  # live timers Node's active-resource list leaves out


def heap_series(readings: Sequence[Reading]) -> tuple[np.ndarray, np.ndarray]:
    """x = requests sent, y = heap used outside code space (V8's compiling is not a leak)."""
    x = np.array([r.requests for r in readings], dtype=float)
    y = np.array([r.heap_used - r.code_space for r in readings], dtype=float)
    return x, y


def summarise_process(p: ProcessReadings, warmup_index: int, threshold: float) -> ProcessMeasurement:
    """Fit one process's readings: per-request growth after warm-up, and the warm-up cost."""
    readings = p.readings
    steady = readings[warmup_index:]
    x, y = heap_series(steady)
    fit = robust_fit(x, y)
    total_fit = robust_fit(x, [r.heap_used for r in steady])
    kinds = sorted({k for r in steady for k in r.resources})
    handles = {k: robust_fit(x, [r.resources.get(k, 0) for r in steady]).slope for k in kinds}
    return ProcessMeasurement(
        pid=p.pid,
        role=p.role,
        serving=p.serving,
        title=p.title,
        bytes_per_request=fit.slope,
        ci95=fit.ci95,
        warmup_bytes=total_fit.intercept - readings[0].heap_used if warmup_index > 0 else 0.0,
        code_bytes_per_request=robust_fit(x, [r.code_space for r in steady]).slope,
        rss_bytes_per_request=robust_fit(x, [r.rss for r in steady]).slope,
        external_bytes_per_request=robust_fit(x, [r.external for r in steady]).slope,
        handles_per_request={k: round(v, 4) for k, v in handles.items()},
        verdict=verdict(fit, threshold),
        readings=list(readings),
    )


def summarise(
    processes: Sequence[ProcessReadings],
    warmup_index: int,
    load: LoadStats,
    threshold: float,
    rounds: int,
    seconds: float,
    complete: bool = True,
) -> Measurement:
    """Per-process fits, the total over serving processes, and the overall verdict.

    `warmup_index` is the number of readings before the steady part (1 after a warm-up)."""
    per_process = [summarise_process(p, warmup_index, threshold) for p in processes]
    served = serving(list(processes))
    n = min(len(p.readings) for p in served)
    steady = range(warmup_index, n)
    x = np.array([served[0].readings[k].requests for k in steady], dtype=float)

    def sum_of(f: Callable[[Reading], float]) -> list[float]:
        return [sum(f(p.readings[k]) for p in served) for k in steady]

    fit = robust_fit(x, sum_of(lambda r: r.heap_used - r.code_space))
    total_fit = robust_fit(x, sum_of(lambda r: r.heap_used))
    served_pids = {p.pid for p in served}
    served_fits = [p for p in per_process if p.pid in served_pids]
    kinds = sorted({k for p in served for r in p.readings for k in r.resources})
    handle_fits = {k: robust_fit(x, sum_of(lambda r, k=k: r.resources.get(k, 0))) for k in kinds}  # type: ignore[misc]
    handles = {k: round(f.slope, 4) for k, f in handle_fits.items()}
    # one more timer or listener per request is a leak however few bytes it holds
    leaking_handles = {
        k: f.slope for k, f in handle_fits.items() if f.slope >= HANDLE_LEAK and f.ci95.low > HANDLE_LEAK / 2
    }
    elsewhere = [p for p in per_process if not p.serving and p.verdict == "leak"]
    overall: Verdict = "leak" if elsewhere or leaking_handles else verdict(fit, threshold)
    baseline = sum(p.readings[0].heap_used for p in served)
    return Measurement(
        verdict=overall,
        bytes_per_request=fit.slope,
        ci95=fit.ci95,
        warmup_bytes=(total_fit.intercept - baseline) if warmup_index > 0 else 0.0,
        code_bytes_per_request=sum(p.code_bytes_per_request for p in served_fits),
        rss_bytes_per_request=sum(p.rss_bytes_per_request for p in served_fits),
        external_bytes_per_request=sum(p.external_bytes_per_request for p in served_fits),
        timers_per_request=handles.get("Timeout", 0.0) + handles.get(UNREF_TIMERS, 0.0),
        unref_timers_per_request=handles.get(UNREF_TIMERS, 0.0),
        handles_per_request=handles,
        requests=load.requests,
        errors=load.errors,
        threshold=threshold,
        rounds=rounds,
        seconds=seconds,
        load=load,
        processes=per_process,
        complete=complete,
        warmup_readings=warmup_index,
        leaking_handles=leaking_handles,
    )
