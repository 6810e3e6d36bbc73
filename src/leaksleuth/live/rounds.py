"""The basic operation, automated: settle, warm-up, rounds of requests, GC + read, robust fit."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from leaksleuth.errors import InspectorError, TargetError, TargetExited
from leaksleuth.live.cdp import InspectorSession
from leaksleuth.live.load import LoadDriver
from leaksleuth.live.readings import read_memory
from leaksleuth.model import Measurement, ProcessMeasurement, Reading, Verdict
from leaksleuth.stats import robust_fit, verdict
from leaksleuth.live.discover import NodeProcess


@dataclass(frozen=True)
class LoadSpec:
    """What traffic to send: URLs round-robin, concurrency, optional `?leaksleuth=<n>`."""

    urls: tuple[str, ...]
    concurrency: int = 8
    vary_query: bool = False
    headers: tuple[tuple[str, str], ...] = ()
    method: str = "GET"

    def driver(self) -> LoadDriver:
        return LoadDriver(self.urls, self.concurrency, self.vary_query, self.headers, self.method)


@dataclass(frozen=True)
class ProtocolSpec:
    """How to measure: warm-up, rounds, threshold for the verdict, budget."""

    warmup_requests: int = 300
    requests_per_round: int = 0  # 0: about `round_seconds` of load at the measured rate
    round_seconds: float = 1.0
    min_rounds: int = 6
    max_rounds: int = 30
    threshold: float = 256.0  # bytes/request: a leak is an interval wholly above this
    time_budget: float = 60.0  # seconds of rounds before stopping as inconclusive
    settle_timeout: float = 15.0


@dataclass(frozen=True)
class Progress:
    phase: str  # "settle", "warmup", "round"
    round: int
    requests: int
    requests_per_second: float
    heap_used: dict[int, int] = field(default_factory=dict)  # pid -> bytes
    bytes_per_request: float | None = None


ProgressCallback = Callable[[Progress], None]
AliveCheck = Callable[[], str | None]  # None while fine, else why the target is gone

ERROR_SHARE_LIMIT = 0.5
HANDLE_LEAK = 0.5  # resources (timers, listeners...) gained per request that make a leak
ROUND_GROWTH_TARGET = 3 << 20  # bytes of growth per round that a reading resolves well


@dataclass
class Inspected:
    """A process under measurement and its inspector session."""

    process: NodeProcess
    session: InspectorSession
    readings: list[Reading] = field(default_factory=list)


def heap_series(readings: Sequence[Reading]) -> tuple[np.ndarray, np.ndarray]:
    """x = requests sent, y = heap used outside code space (V8's compiling is not a leak)."""
    x = np.array([r.requests for r in readings], dtype=float)
    y = np.array([r.heap_used - r.code_space for r in readings], dtype=float)
    return x, y


def summarise_process(
    ins: Inspected, warmup_index: int, threshold: float
) -> ProcessMeasurement:
    """Fit one process's readings: per-request growth after warm-up, and the warm-up cost."""
    readings = ins.readings
    steady = readings[warmup_index:]
    x, y = heap_series(steady)
    fit = robust_fit(x, y)
    total_fit = robust_fit(x, [r.heap_used for r in steady])
    code_fit = robust_fit(x, [r.code_space for r in steady])
    rss_fit = robust_fit(x, [r.rss for r in steady])
    ext_fit = robust_fit(x, [r.external for r in steady])
    kinds = sorted({k for r in steady for k in r.resources})
    handles = {k: robust_fit(x, [r.resources.get(k, 0) for r in steady]).slope for k in kinds}
    baseline = readings[0].heap_used
    warmup = total_fit.intercept - baseline if warmup_index > 0 else 0.0
    return ProcessMeasurement(
        pid=ins.process.pid,
        role=ins.process.role,
        serving=ins.process.serving,
        title=ins.process.title,
        bytes_per_request=fit.slope,
        ci95=fit.ci95,
        warmup_bytes=warmup,
        code_bytes_per_request=code_fit.slope,
        rss_bytes_per_request=rss_fit.slope,
        external_bytes_per_request=ext_fit.slope,
        handles_per_request={k: round(v, 4) for k, v in handles.items()},
        verdict=verdict(fit, threshold),
        readings=list(readings),
    )


def summarise(
    inspected: list[Inspected],
    warmup_index: int,
    driver: LoadDriver,
    spec: ProtocolSpec,
    rounds: int,
    seconds: float,
    complete: bool = True,
) -> Measurement:
    """Per-process fits, the total over serving processes, and the overall verdict."""
    per_process = [summarise_process(i, warmup_index, spec.threshold) for i in inspected]
    serving = [i for i in inspected if i.process.serving] or inspected
    n = min(len(i.readings) for i in serving)
    steady = range(warmup_index, n)
    x = np.array([serving[0].readings[k].requests for k in steady], dtype=float)

    def sum_of(f: Callable[[Reading], float]) -> list[float]:
        return [sum(f(i.readings[k]) for i in serving) for k in steady]

    fit = robust_fit(x, sum_of(lambda r: r.heap_used - r.code_space))
    total_fit = robust_fit(x, sum_of(lambda r: r.heap_used))
    served = [p for p in per_process if p.pid in {i.process.pid for i in serving}]
    kinds = sorted({k for i in serving for r in i.readings for k in r.resources})
    handle_fits = {k: robust_fit(x, sum_of(lambda r, k=k: r.resources.get(k, 0))) for k in kinds}  # type: ignore[misc]
    handles = {k: round(f.slope, 4) for k, f in handle_fits.items()}
    # one more timer or listener per request is a leak however few bytes it holds
    growing_handles = {k: f.slope for k, f in handle_fits.items() if f.slope >= HANDLE_LEAK and f.ci95[0] > HANDLE_LEAK / 2}
    baseline = sum(i.readings[0].heap_used for i in serving)
    total_verdict = verdict(fit, spec.threshold)
    growing_elsewhere = [p for p in per_process if not p.serving and p.verdict == "leak"]
    overall: Verdict = "leak" if growing_elsewhere or growing_handles else total_verdict
    code = sum(p.code_bytes_per_request for p in served)
    stats = driver.tally.stats()
    return Measurement(
        verdict=overall,
        advice=advise(overall, fit.slope, fit.ci95, spec, code, growing_elsewhere, rounds, growing_handles),
        bytes_per_request=fit.slope,
        ci95=fit.ci95,
        warmup_bytes=(total_fit.intercept - baseline) if warmup_index > 0 else 0.0,
        code_bytes_per_request=code,
        rss_bytes_per_request=sum(p.rss_bytes_per_request for p in served),
        external_bytes_per_request=sum(p.external_bytes_per_request for p in served),
        timers_per_request=handles.get("Timeout", 0.0),
        handles_per_request=handles,
        requests=stats.requests,
        errors=stats.errors,
        threshold=spec.threshold,
        rounds=rounds,
        seconds=seconds,
        load=stats,
        processes=per_process,
        complete=complete,
    )


def advise(
    v: Verdict,
    slope: float,
    ci: tuple[float, float],
    spec: ProtocolSpec,
    code: float,
    elsewhere: list[ProcessMeasurement],
    rounds: int,
    growing_handles: dict[str, float] | None = None,
) -> str:
    from leaksleuth.units import fmt_bytes

    if growing_handles:
        what = ", ".join(f"{v:.2f} {k}" for k, v in sorted(growing_handles.items()))
        heap = (
            f"the heap keeps {fmt_bytes(slope)} per request and "
            if ci[0] > spec.threshold
            else f"heap {fmt_bytes(slope, signed=True)}/request, but "
        )
        return f"{heap}each request leaves {what} behind; run `leaksleuth hunt` to see where"
    if elsewhere:
        names = ", ".join(f"{p.role} {p.pid}" for p in elsewhere)
        return f"a process that serves no HTTP grows: {names}; look there too (leaksleuth hunt)"
    if v == "leak":
        return (
            f"the heap keeps {fmt_bytes(slope)} per request; "
            "run `leaksleuth hunt` to find what grows and which line keeps it"
        )
    if v == "no leak":
        note = f"; code space grew {fmt_bytes(code)}/request (V8 compiling, not counted)" if code > 0 else ""
        return f"growth stays under the {fmt_bytes(spec.threshold)}/request threshold{note}"
    return (
        f"the 95% interval [{fmt_bytes(ci[0])}, {fmt_bytes(ci[1])}] per request straddles the "
        f"{fmt_bytes(spec.threshold)} threshold after {rounds} rounds: run more rounds "
        "(--rounds, --budget) or larger ones (--requests)"
    )


async def read_all(inspected: list[Inspected], requests: int) -> None:
    """GC + reading of every process, one after another (GC blocks each target's loop)."""
    for ins in inspected:
        ins.readings.append(await read_memory(ins.session, requests))


async def settle(inspected: list[Inspected], timeout: float, on_progress: ProgressCallback | None) -> None:
    """Read until every process's heap is steady (two readings within 64 KB or 0.5%)."""
    deadline = time.monotonic() + timeout
    await read_all(inspected, 0)
    while time.monotonic() < deadline:
        await asyncio.sleep(0.3)
        await read_all(inspected, 0)
        if on_progress:
            on_progress(Progress("settle", 0, 0, 0.0, {i.process.pid: i.readings[-1].heap_used for i in inspected}))
        steady = all(
            abs(i.readings[-1].heap_used - i.readings[-2].heap_used)
            < max(64 * 1024, 0.005 * i.readings[-1].heap_used)
            for i in inspected
        )
        if steady:
            break
    for i in inspected:  # keep one baseline reading per process
        i.readings[:] = i.readings[-1:]


async def run_protocol(
    inspected: list[Inspected],
    load: LoadSpec,
    spec: ProtocolSpec,
    alive: AliveCheck,
    on_progress: ProgressCallback | None = None,
) -> Measurement:
    """The measurement protocol over already-connected processes."""
    if not inspected:
        raise TargetError("no Node process found in the target")
    started = time.monotonic()
    rounds = 0
    warmup_index = 0
    async with load.driver() as driver:
        try:
            await settle(inspected, spec.settle_timeout, on_progress)
            if spec.warmup_requests > 0:
                await driver.send(1)  # the first request alone: lazy loads happen here
                rate = await driver.send(max(spec.warmup_requests - 1, 0)) if spec.warmup_requests > 1 else 0.0
                check_errors(driver)
                await read_all(inspected, driver.tally.requests)
                warmup_index = 1
                if on_progress:
                    on_progress(Progress("warmup", 0, driver.tally.requests, rate, heap_now(inspected)))
            else:
                rate = 0.0
            per_round = spec.requests_per_round or int(np.clip(rate * spec.round_seconds, 50, 3000))
            rounds_started = time.monotonic()
            while rounds < spec.max_rounds:
                why = alive()
                if why:
                    raise TargetExited(why)
                rate = await driver.send(per_round)
                await read_all(inspected, driver.tally.requests)
                rounds += 1
                m = summarise(inspected, warmup_index, driver, spec, rounds, time.monotonic() - started)
                if not spec.requests_per_round and m.bytes_per_request > 0:
                    # a big leak is seen in few requests; more only bloats the heap (and the
                    # snapshots a hunt takes next)
                    per_round = int(np.clip(ROUND_GROWTH_TARGET / m.bytes_per_request, 50, per_round))
                if on_progress:
                    on_progress(Progress("round", rounds, driver.tally.requests, rate, heap_now(inspected), m.bytes_per_request))
                decisive = m.verdict != "inconclusive" and all(p.verdict != "inconclusive" for p in m.processes)
                if rounds >= spec.min_rounds and (decisive or time.monotonic() - rounds_started > spec.time_budget):
                    break
            check_errors(driver)
        except (InspectorError, TargetExited) as exc:
            why = alive() or str(exc)
            partial = None
            if rounds >= 1 and all(len(i.readings) > warmup_index + 1 for i in inspected):
                partial = summarise(inspected, warmup_index, driver, spec, rounds, time.monotonic() - started, complete=False)
            raise TargetExited(f"the target {why} after {rounds} rounds, {driver.tally.requests} requests", partial) from exc
        return summarise(inspected, warmup_index, driver, spec, rounds, time.monotonic() - started)


def heap_now(inspected: list[Inspected]) -> dict[int, int]:
    return {i.process.pid: i.readings[-1].heap_used for i in inspected if i.readings}


def check_errors(driver: LoadDriver) -> None:
    t = driver.tally
    if t.requests and t.errors / t.requests > ERROR_SHARE_LIMIT:
        counts = ", ".join(f"{k}: {v}" for k, v in sorted(t.status.items()))
        raise TargetError(
            f"{t.errors} of {t.requests} requests failed ({counts}): not measuring memory "
            "of an error page; check the URL and the target's log"
        )
