"""Which route leaks: the per-route protocol on a live target.

Settle; warm every route (its first request alone, then an equal share each, then one round of
the whole mix), so one-time costs land in the warm-up, not on the first route measured. Then
blocks of rounds chosen by the design of `stats/routes.py`: a block focuses on one unit (a route
or a group of routes) for a few consecutive rounds while every other route gets a little
background traffic; after every round a GC'd reading of every process and a robust fit of the
serving processes' heap on the per-route request counts. Finally one round of the worst route
alone checks its figure, and the last fit gives each route's bytes per request with its 95%
interval. Routes that mostly fail are reported and not measured.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from leaksleuth.errors import InspectorError, TargetError, TargetExited, keep_partial
from leaksleuth.live.load import LoadDriver
from leaksleuth.live.rounds import (
    ERROR_SHARE_LIMIT,
    ROUND_GROWTH_TARGET,
    AliveCheck,
    Inspected,
    ProgressCallback,
    heap_now,
    read_all,
    run_protocol,
    settle,
    summarise_inspected,
)
from leaksleuth.model import (
    Interval,
    Measurement,
    Phase,
    ProcessMeasurement,
    Progress,
    RouteConfirmation,
    RouteMeasurement,
    Verdict,
    serving,
)
from leaksleuth.options import LoadSpec, ProtocolSpec
from leaksleuth.stats.routes import (
    BLOCK,
    FOCUS_SHAPE,
    MultiFit,
    RouteDesign,
    Unit,
    fit_columns,
    group_bound,
    verdict_of,
)

WARMUP_PER_ROUTE = 50  # warm-up requests of each route at least
BACKGROUND = 4  # requests of every other route in each round: keeps their code compiled, caches warm
MIN_PER_ROUTE = 20  # requests of a route in focus per round, at least
MAX_PER_ROUTE = 3000
LONGEST_ROUND = 4  # a group's round lasts at most this many `round_seconds`
NAN = float("nan")
RoundProgress = Callable[[Phase, float, Sequence[int], float | None], None]


def per_route_wanted(load: LoadSpec, auto: bool = False) -> bool:
    """Per-route attribution: asked for, or (a hunt) automatic with several routes."""
    return load.per_route or (auto and len(load.routes()) > 1)


@dataclass
class _Run:
    """The state of one per-route run: readings' request counts per route, and the fit."""

    inspected: list[Inspected]
    driver: LoadDriver
    spec: ProtocolSpec
    counts: list[list[int]] = field(default_factory=list)  # per reading: requests per route so far
    warmup_index: int = 0
    rounds: int = 0
    focus: Counter[int] = field(default_factory=Counter)  # rounds per route in focus
    failed: set[int] = field(default_factory=set)

    async def read(self) -> None:
        await read_all(self.inspected, self.driver.tally.requests)
        self.counts.append(self.driver.route_counts())

    def heap(self, processes: Sequence[Inspected] | None = None, code: bool = False) -> np.ndarray:
        """Per reading: heap used minus code space (with it: `code`), summed over the serving
        processes (or over `processes`)."""
        served = list(processes) if processes is not None else serving(self.inspected)
        n = min(len(i.readings) for i in served)
        return np.array([sum(i.readings[k].heap_used - (0 if code else i.readings[k].code_space) for i in served)
                         for k in range(n)], dtype=float)

    def fit(self, columns: Sequence[tuple[int, ...]], processes: Sequence[Inspected] | None = None,
            code: bool = False) -> MultiFit:
        y = self.heap(processes, code)[self.warmup_index:]
        x = np.asarray(self.counts[self.warmup_index:len(self.counts)], dtype=float)[: len(y)]
        return fit_columns(x, y, columns)

    def seconds_per_request(self, route: int) -> float:
        """Wall time per request of this route at full concurrency, from its latencies so far and
        what the batches really took."""
        tally = self.driver.tally
        t = tally.routes[self.driver.routes[route]]
        latency = t.seconds / t.requests if t.requests else 0.005
        return latency / self.driver.concurrency * tally.overhead(self.driver.concurrency)

    def round_counts(self, members: tuple[int, ...], live: Sequence[int], bytes_per_request: float,
                     shape: float = 1.0) -> dict[int, int]:
        """Requests of each route in a round focused on `members`: about `round_seconds` of load
        per member (a group's round at most LONGEST_ROUND times longer), fewer for a big leak, times
        the block's `shape`; and the background for every other route."""
        spec = self.spec
        if spec.requests_per_round:  # per route in focus
            each = max(1, round(spec.requests_per_round * shape))
        else:
            seconds = spec.round_seconds * min(len(members), LONGEST_ROUND)
            each_f = seconds / sum(self.seconds_per_request(r) for r in members)
            if bytes_per_request > 0:
                each_f = min(each_f, ROUND_GROWTH_TARGET / (bytes_per_request * len(members)))
            each = int(np.clip(each_f * shape, MIN_PER_ROUTE, MAX_PER_ROUTE))
        counts = {r: BACKGROUND for r in live if r not in members}
        counts.update(dict.fromkeys(members, each))
        return counts


def _estimates(fit: MultiFit, columns: Sequence[tuple[int, ...]]) -> dict[tuple[int, ...], tuple[float, Interval]]:
    return {col: (float(fit.coef[j + 1]), fit.interval(j + 1)) for j, col in enumerate(columns)}


def _route_rows(
    run: _Run, fit: MultiFit | None, columns: Sequence[tuple[int, ...]], threshold: float,
) -> list[RouteMeasurement]:
    """One row per route, ranked worst first (failed routes last)."""
    driver = run.driver
    names = driver.routes
    rows: list[RouteMeasurement] = []

    def tally(r: int) -> tuple[int, int, dict[str, int]]:
        t = driver.tally.routes[names[r]]
        return t.requests, t.errors, dict(t.status)

    for j, col in enumerate(columns):
        value = float(fit.coef[j + 1]) if fit is not None else NAN
        ci = fit.interval(j + 1) if fit is not None else Interval(-math.inf, math.inf)
        if len(col) == 1:
            r = col[0]
            rows.append(RouteMeasurement(names[r], *tally(r)[:2], value, ci, verdict_of(ci, threshold),
                                         "measured", tally(r)[2], (), run.focus[r]))
            continue
        bound = group_bound(ci, len(col))
        v: Verdict = "no leak" if bound.high < threshold else "inconclusive"
        for r in col:
            rows.append(RouteMeasurement(names[r], *tally(r)[:2], value, bound, v, "group", tally(r)[2],
                                         tuple(names[k] for k in col), run.focus[r]))
    for r in sorted(run.failed):
        rows.append(RouteMeasurement(names[r], *tally(r)[:2], NAN, Interval(-math.inf, math.inf), "inconclusive",
                                     "failed", tally(r)[2], (), run.focus[r]))
    # a route that started failing during the rounds: its figure is not a memory result
    rows = [replace(row, status="failed", verdict="inconclusive")
            if row.status != "failed" and row.requests and row.errors / row.requests > ERROR_SHARE_LIMIT else row
            for row in rows]
    rows.sort(key=lambda row: (row.status == "failed", -row.bytes_per_request if not math.isnan(row.bytes_per_request)
                               else math.inf))
    return rows


def _mix_weights(columns: Sequence[tuple[int, ...]], weights: Sequence[float]) -> np.ndarray:
    """The traffic as given, over the fit's coefficients (intercept first, weight 0)."""
    w = np.zeros(len(columns) + 1)
    for j, col in enumerate(columns):
        w[j + 1] = sum(weights[r] for r in col)
    total = w.sum()
    return w / total if total > 0 else w


def _combined(verdicts: Sequence[Verdict]) -> Verdict:
    """A leak when any route leaks, no leak when none does and all are decided."""
    if "leak" in verdicts:
        return "leak"
    if verdicts and all(v == "no leak" for v in verdicts):
        return "no leak"
    return "inconclusive"


def _per_route_process(run: _Run, p: ProcessMeasurement, ins: Inspected, columns: Sequence[tuple[int, ...]],
                       mix: np.ndarray, threshold: float) -> ProcessMeasurement:
    """A serving process in a per-route run: its heap on the per-route counts (the traffic mix as
    given, and a leak when one of its routes leaks); warm-up = the fit at zero requests."""
    fit = run.fit(columns, [ins])
    value, ci = fit.combination(mix)
    verdicts = [verdict_of(fit.interval(j + 1), threshold) for j, col in enumerate(columns) if len(col) == 1]
    warmup = float(run.fit(columns, [ins], code=True).coef[0]) - ins.readings[0].heap_used if run.warmup_index else 0.0
    return replace(p, bytes_per_request=value, ci95=ci, verdict=_combined(verdicts), warmup_bytes=warmup)


def _overall(run: _Run, m: Measurement, rows: list[RouteMeasurement], fit: MultiFit,
             columns: Sequence[tuple[int, ...]], weights: Sequence[float], threshold: float) -> Measurement:
    """The total of a per-route run: the traffic mix as given (weights) from the per-route fit, and
    a verdict that is a leak when any route (or a timer, a process that serves no HTTP) leaks."""
    verdicts = [row.verdict for row in rows if row.status != "failed"]
    verdict: Verdict = "leak" if m.leaking_handles or m.growing_elsewhere else _combined(verdicts)
    mix = _mix_weights(columns, weights)
    value, ci = fit.combination(mix)
    served = {i.process.pid: i for i in serving(run.inspected)}
    processes = [_per_route_process(run, p, served[p.pid], columns, mix, threshold) if p.pid in served else p
                 for p in m.processes]
    warmup = m.warmup_bytes
    if run.warmup_index:
        baseline = sum(i.readings[0].heap_used for i in served.values())
        warmup = float(run.fit(columns, code=True).coef[0]) - baseline
    return replace(m, verdict=verdict, routes=rows, bytes_per_request=value, ci95=ci, processes=processes,
                   warmup_bytes=warmup)


async def run_route_protocol(
    inspected: list[Inspected],
    load: LoadSpec,
    spec: ProtocolSpec,
    alive: AliveCheck,
    on_progress: ProgressCallback | None = None,
    driver: LoadDriver | None = None,
) -> Measurement:
    """Measure every process and attribute the serving processes' growth to each route."""
    if not inspected:
        raise TargetError("no Node process found in the target")
    driver = LoadDriver(load) if driver is None else driver
    names = driver.routes
    if len(names) < 2:  # one route: the route is the whole measurement
        m = await run_protocol(inspected, load, spec, alive, on_progress, driver)
        t = driver.tally.routes[names[0]]
        row = RouteMeasurement(names[0], t.requests, t.errors, m.bytes_per_request, m.ci95, m.verdict, "measured",
                               dict(t.status), (), m.rounds)
        return replace(m, routes=[row], traffic=load.source)
    started = time.monotonic()
    run = _Run(inspected, driver, spec)
    async with driver:
        try:
            measurement = await _rounds(run, load, spec, alive, on_progress, started)
        except (InspectorError, TargetExited) as exc:
            why = alive() or str(exc)
            partial = _partial(run, spec, started, load)
            raise TargetExited(f"the target {why} after {run.rounds} rounds, {driver.tally.requests} requests",
                               partial) from exc
        except asyncio.CancelledError as exc:  # Ctrl-C, SIGTERM, SIGHUP: the rounds so far go with it
            keep_partial(exc, _partial(run, spec, started, load))
            raise
    return measurement


def _partial(run: _Run, spec: ProtocolSpec, started: float, load: LoadSpec) -> Measurement | None:
    """What the rounds so far measure (complete=False), if there is a round in every process."""
    if run.rounds < 1:
        return None
    try:
        m = summarise_inspected(run.inspected, run.warmup_index, run.driver, spec, run.rounds,
                                time.monotonic() - started, complete=False)
        return replace(m, traffic=load.source)
    except Exception:  # never hide why the run stopped behind a failing summary
        return None


async def _rounds(run: _Run, load: LoadSpec, spec: ProtocolSpec, alive: AliveCheck,
                  on_progress: ProgressCallback | None, started: float) -> Measurement:
    driver = run.driver
    names = driver.routes
    everyone = list(range(len(names)))
    threshold = spec.threshold

    def progress(phase: Phase, rate: float, focus: Sequence[int], bpr: float | None) -> None:
        if on_progress:
            on_progress(Progress(phase, run.rounds, driver.tally.requests, rate, heap_now(run.inspected), bpr,
                                 routes=tuple(names[r] for r in focus)))

    await settle(run.inspected, spec.settle_timeout, on_progress)
    run.counts = [driver.route_counts()]
    live = everyone
    if spec.warmup_requests > 0:
        await driver.send_routes(dict.fromkeys(everyone, 1))  # the first request of each route alone: lazy loads
        each = max(WARMUP_PER_ROUTE, math.ceil((spec.warmup_requests - len(names)) / len(names)))
        rate = await driver.send_routes(dict.fromkeys(everyone, each))
        run.failed = {r for r in everyone if driver.tally.routes[names[r]].error_share > ERROR_SHARE_LIMIT}
        live = [r for r in everyone if r not in run.failed]
        if not live:
            _all_failed(driver)
        await run.read()
        if on_progress:
            on_progress(Progress("warmup", 0, driver.tally.requests, rate, heap_now(run.inspected)))
        # one round of the whole mix: what still settles after the warm-up is not charged to a route
        lead = max(BACKGROUND, int(spec.round_seconds / sum(run.seconds_per_request(r) for r in live)))
        await driver.send_routes(dict.fromkeys(live, min(lead, MAX_PER_ROUTE)))
        await run.read()
        run.warmup_index = 2
    design = RouteDesign(tuple(live), threshold)
    max_rounds = max(spec.max_rounds, 2 * BLOCK * len(live))
    budget = spec.time_budget * max(1.0, len(live) / 4)
    rounds_started = time.monotonic()
    fit: MultiFit | None = None
    columns = design.columns()
    estimates: dict[tuple[int, ...], tuple[float, Interval]] = {}

    def refit() -> None:
        nonlocal fit, columns, estimates
        columns = design.columns()
        fit = run.fit(columns)
        estimates = _estimates(fit, columns)

    def estimate_of(route: int) -> float:
        for col, (value, _) in estimates.items():
            if route in col:
                return value
        return 0.0

    def out_of_budget() -> bool:
        return run.rounds >= max_rounds or time.monotonic() - rounds_started > budget

    async def blocks() -> bool:
        """Blocks until the design is complete (True) or out of rounds or time (False)."""
        while True:
            unit: Unit | None = design.next_unit(estimates, fit.dof if fit is not None else 0)
            if unit is None:
                return True
            for k in range(BLOCK):
                if out_of_budget():
                    return False
                why = alive()
                if why:
                    raise TargetExited(why)
                bpr = max((estimate_of(r) for r in unit.routes), default=0.0)
                counts = run.round_counts(unit.routes, live, bpr, FOCUS_SHAPE[k % len(FOCUS_SHAPE)])
                rate = await driver.send_routes(counts)
                await run.read()
                run.rounds += 1
                unit.rounds += 1
                run.focus.update(unit.routes)
                refit()
                progress("round", rate, unit.routes, estimates[unit.routes][0] if unit.routes in estimates else None)
            design.block_done(unit)

    complete = await blocks()
    if fit is None:
        refit()
    assert fit is not None
    confirmation = await _confirm(run, fit, columns, live, threshold, alive, progress)
    if confirmation is not None:
        refit()
        if complete:  # the last reading may unsettle a route: its blocks, if any are left
            await blocks()
    assert fit is not None
    check_failures(driver, live)
    rows = _route_rows(run, fit, columns, threshold)
    m = summarise_inspected(run.inspected, run.warmup_index, driver, spec, run.rounds, time.monotonic() - started)
    m = _overall(run, m, rows, fit, columns, driver.route_weights(), threshold)
    return replace(m, confirmation=confirmation, traffic=load.source)


async def _confirm(run: _Run, fit: MultiFit, columns: Sequence[tuple[int, ...]], live: Sequence[int],
                   threshold: float, alive: AliveCheck, progress: RoundProgress) -> RouteConfirmation | None:
    """One round of the worst leaking route alone: does the heap grow as its figure says?"""
    singles = [(j, col[0]) for j, col in enumerate(columns) if len(col) == 1]
    leaking = [(float(fit.coef[j + 1]), j, r) for j, r in singles if fit.interval(j + 1).above(threshold)]
    if not leaking:
        return None
    predicted, j, route = max(leaking)
    why = alive()
    if why:
        raise TargetExited(why)
    counts = run.round_counts((route,), live, predicted)
    n = counts[route]
    before = run.heap()[-1]
    rate = await run.driver.send_routes({route: n})
    await run.read()
    run.rounds += 1
    run.focus[route] += 1
    observed = float(run.heap()[-1] - before) / n
    se = math.sqrt(max(float(fit.cov[j + 1, j + 1]), 0.0) + 2 * fit.scale**2 / n**2)
    half = fit.t * se
    ci = Interval(predicted - half, predicted + half)
    progress("confirm", rate, (route,), observed)
    return RouteConfirmation(run.driver.routes[route], n, observed, predicted, ci, bool(ci.low <= observed <= ci.high))


def check_failures(driver: LoadDriver, live: Sequence[int]) -> None:
    """Every route mostly failed: there is no memory to measure."""
    if all(driver.tally.routes[driver.routes[r]].error_share > ERROR_SHARE_LIMIT for r in live):
        _all_failed(driver)


def _all_failed(driver: LoadDriver) -> None:
    t = driver.tally
    counts = ", ".join(f"{k}: {v}" for k, v in sorted(t.status.items()))
    raise TargetError(
        f"every route mostly failed ({t.errors} of {t.requests} requests: {counts}): not measuring memory "
        "of error pages; check the URLs, the scenario and the target's log"
    )


async def run_measurement(
    inspected: list[Inspected],
    load: LoadSpec,
    spec: ProtocolSpec,
    alive: AliveCheck,
    on_progress: ProgressCallback | None = None,
    *,
    driver: LoadDriver | None = None,
    auto_routes: bool = False,
) -> Measurement:
    """The measurement protocol, per route when asked (or `auto_routes` with several routes)."""
    if per_route_wanted(load, auto_routes):
        return await run_route_protocol(inspected, load, spec, alive, on_progress, driver)
    m = await run_protocol(inspected, load, spec, alive, on_progress, driver)
    return replace(m, traffic=load.source) if load.source is not None else m
