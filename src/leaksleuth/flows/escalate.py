"""Escalation of a watched process, only when its trend says leak: first the sampling heap
profiler (no freeze: allocation sites of still-live objects whose bytes grow), then, when asked
for and when the headroom check allows, three spaced snapshots analysed by our heap engine.
A cooldown and a cap bound how often; a snapshot the headroom check refuses is never taken."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from leaksleuth.errors import HeadroomError, InspectorError
from leaksleuth.heap.culprits import find_culprits
from leaksleuth.live.capture import capture_snapshot
from leaksleuth.live.rounds import Inspected
from leaksleuth.live.sampling import AllocationSite, allocation_sites, sampling_profile, start_sampling
from leaksleuth.model import Capture, GrowingSite
from leaksleuth.options import WatchSpec
from leaksleuth.sources import source_location

TOP_SITES = 5


def growing_sites(before: list[AllocationSite], after: list[AllocationSite], project: Path | None) -> list[GrowingSite]:
    """Sites whose sampled live bytes grew from one profile to the next, largest growth first."""
    def key(s: AllocationSite) -> tuple[str, str, int, int]:
        return (s.function, s.url, s.line, s.column)

    old = {key(s): s.live_bytes for s in before}
    grown = [
        GrowingSite(s.function, source_location(s.url, s.line, s.column, project), s.live_bytes - old.get(key(s), 0),
                    s.live_bytes, s.stack)
        for s in after
        if s.live_bytes > old.get(key(s), 0)
    ]
    grown.sort(key=lambda g: -g.grown_bytes)
    return grown[:TOP_SITES]


async def sample_growth(ins: Inspected, spec: WatchSpec, started: float, project: Path | None) -> Capture:
    """Two sampling profiles `spacing` apart (sampling runs from the first to the second)."""
    t0 = time.monotonic()
    gcs = 0
    session = ins.session
    try:
        await start_sampling(session)
        await asyncio.sleep(spec.spacing)
        first = await sampling_profile(session, gc=spec.gc)
        await asyncio.sleep(spec.spacing)
        second = await sampling_profile(session, gc=spec.gc)
        gcs = 2 if spec.gc else 0
    finally:
        if not session.closed:
            try:
                await session.send("HeapProfiler.stopSampling")
            except InspectorError:
                pass
    sites = growing_sites(allocation_sites(first), allocation_sites(second), project)
    return Capture("sampling", ins.process.pid, t0 - started, time.monotonic() - t0, sites=tuple(sites), forced_gcs=gcs)


async def spaced_snapshots(ins: Inspected, spec: WatchSpec, started: float, project: Path | None) -> Capture:
    """Three snapshots `spacing` apart (a baseline and two later), each after the headroom check
    (never forced), analysed by our engine against time: culprits' figures are per second."""
    t0 = time.monotonic()
    pid = ins.process.pid
    files: list[Path] = []
    times: list[float] = []
    stamp = time.strftime("%Y%m%d-%H%M%S")
    try:
        for k in range(3):
            if k:
                await asyncio.sleep(spec.spacing)
            path = spec.snapshot_dir / f"pid{pid}-{stamp}-s{k}.heapsnapshot"
            await capture_snapshot(ins.session, pid, path, memory_limit=spec.memory_limit)
            files.append(path)
            times.append(time.monotonic() - t0)
    except HeadroomError as exc:
        return Capture("snapshots", pid, t0 - started, time.monotonic() - t0,
                       files=tuple(str(f) for f in files), refused=str(exc), forced_gcs=len(files))
    culprits = await asyncio.to_thread(find_culprits, files, times, project)
    return Capture("snapshots", pid, t0 - started, time.monotonic() - t0, files=tuple(str(f) for f in files),
                   culprits=tuple(culprits), forced_gcs=len(files))
