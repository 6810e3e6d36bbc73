"""The basic operation, automated: settle, warm-up, rounds of requests, GC + read after each.

The fit and the verdict are `leaksleuth.stats.readings`; this module drives the target.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from leaksleuth.errors import InspectorError, TargetError, TargetExited, keep_partial
from leaksleuth.live.cdp import InspectorSession
from leaksleuth.live.discover import NodeProcess
from leaksleuth.live.load import LoadDriver
from leaksleuth.live.readings import read_memory
from leaksleuth.model import Measurement, ProcessReadings, Progress, Reading
from leaksleuth.options import LoadSpec, ProtocolSpec
from leaksleuth.stats.readings import summarise

ProgressCallback = Callable[[Progress], None]
AliveCheck = Callable[[], str | None]  # None while fine, else why the target is gone

ERROR_SHARE_LIMIT = 0.5
ROUND_GROWTH_TARGET = 3 << 20  # bytes of growth per round that a reading resolves well


@dataclass
class Inspected:
    """A process under measurement and its inspector session."""

    process: NodeProcess
    session: InspectorSession
    readings: list[Reading] = field(default_factory=list)

    @property
    def serving(self) -> bool:
        return self.process.serving

    def series(self) -> ProcessReadings:
        p = self.process
        return ProcessReadings(p.pid, p.role, p.serving, p.title, self.readings)


def summarise_inspected(
    inspected: list[Inspected], warmup_index: int, driver: LoadDriver, spec: ProtocolSpec,
    rounds: int, seconds: float, complete: bool = True,
) -> Measurement:
    return summarise(
        [i.series() for i in inspected], warmup_index, driver.tally.stats(), spec.threshold, rounds, seconds, complete
    )


async def read_all(inspected: list[Inspected], requests: int) -> None:
    """GC + reading of every process, one after another (GC blocks each target's loop)."""
    for ins in inspected:
        ins.readings.append(await read_memory(ins.session, requests))


def _steady(inspected: list[Inspected]) -> bool:
    """Two last readings within 64 KB or 0.5% in every process."""
    return all(
        abs(i.readings[-1].heap_used - i.readings[-2].heap_used) < max(64 * 1024, 0.005 * i.readings[-1].heap_used)
        for i in inspected
    )


async def settle(inspected: list[Inspected], timeout: float, on_progress: ProgressCallback | None) -> None:
    """Read until every process's heap is steady (two readings within 64 KB or 0.5%)."""
    deadline = time.monotonic() + timeout
    await read_all(inspected, 0)
    while time.monotonic() < deadline:
        await asyncio.sleep(0.3)
        await read_all(inspected, 0)
        if on_progress:
            on_progress(Progress("settle", heap_used=heap_now(inspected)))
        if _steady(inspected):
            break
    for i in inspected:  # keep one baseline reading per process
        i.readings[:] = i.readings[-1:]


async def run_protocol(
    inspected: list[Inspected],
    load: LoadSpec,
    spec: ProtocolSpec,
    alive: AliveCheck,
    on_progress: ProgressCallback | None = None,
    driver: LoadDriver | None = None,
) -> Measurement:
    """The measurement protocol over already-connected processes (with `driver`, its virtual
    users and their sessions go on to what comes next, e.g. a hunt's snapshots)."""
    if not inspected:
        raise TargetError("no Node process found in the target")
    started = time.monotonic()
    rounds = 0
    warmup_index = 0
    async with LoadDriver(load) if driver is None else driver as driver:  # noqa: PLR1704 - the same driver
        try:
            await settle(inspected, spec.settle_timeout, on_progress)
            rate = 0.0
            if spec.warmup_requests > 0:
                await driver.send(1)  # the first request alone: lazy loads happen here
                if spec.warmup_requests > 1:
                    rate = await driver.send(spec.warmup_requests - 1)
                check_errors(driver)
                await read_all(inspected, driver.tally.requests)
                warmup_index = 1
                if on_progress:
                    on_progress(Progress("warmup", 0, driver.tally.requests, rate, heap_now(inspected)))
            per_round = spec.requests_per_round or int(np.clip(rate * spec.round_seconds, 50, 3000))
            rounds_started = time.monotonic()
            while rounds < spec.max_rounds:
                why = alive()
                if why:
                    raise TargetExited(why)
                rate = await driver.send(per_round)
                await read_all(inspected, driver.tally.requests)
                rounds += 1
                m = summarise_inspected(inspected, warmup_index, driver, spec, rounds, time.monotonic() - started)
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
            partial = _partial(inspected, warmup_index, driver, spec, rounds, started)
            raise TargetExited(f"the target {why} after {rounds} rounds, {driver.tally.requests} requests", partial) from exc
        except asyncio.CancelledError as exc:  # Ctrl-C, SIGTERM, SIGHUP: the rounds so far go with it
            keep_partial(exc, _partial(inspected, warmup_index, driver, spec, rounds, started))
            raise
        return summarise_inspected(inspected, warmup_index, driver, spec, rounds, time.monotonic() - started)


def _partial(
    inspected: list[Inspected], warmup_index: int, driver: LoadDriver, spec: ProtocolSpec, rounds: int, started: float
) -> Measurement | None:
    """What the rounds so far measure (complete=False), if there is a round in every process."""
    if rounds < 1 or not all(len(i.readings) > warmup_index + 1 for i in inspected):
        return None
    try:
        return summarise_inspected(
            inspected, warmup_index, driver, spec, rounds, time.monotonic() - started, complete=False
        )
    except Exception:  # never hide why the run stopped behind a failing summary
        return None


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
