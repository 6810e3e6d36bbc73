"""Watch processes over time: growth trend, time left before the heap limit, a snapshot before OOM.

For services under real traffic (no load of ours): readings every `interval` seconds, a robust
trend over the recent ones, and, once a process passes `snapshot_at` of its heap limit, one
heap snapshot taken while there is still memory to take it (the headroom check still applies).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace

from leaksleuth.errors import HeadroomError, InspectorError, TargetExited
from leaksleuth.live.capture import capture_snapshot
from leaksleuth.live.connect import open_target
from leaksleuth.live.readings import read_memory
from leaksleuth.live.rounds import Inspected
from leaksleuth.model import WatchPoint
from leaksleuth.options import Target, WatchSpec
from leaksleuth.stats.trend import seconds_to_limit, trend, usable_heap_limit

HEAP_LIMIT_JS = "require('v8').getHeapStatistics().heap_size_limit"
PointCallback = Callable[[WatchPoint], None]


@dataclass
class ProcessHistory:
    ins: Inspected
    heap_limit: int
    times: list[float] = field(default_factory=list)
    heaps: list[int] = field(default_factory=list)
    snapshotted: bool = False


async def watch_inspected(inspected: list[Inspected], spec: WatchSpec, on_point: PointCallback) -> list[WatchPoint]:
    """Read every process every `interval` seconds until `duration` (or cancellation)."""
    histories = [
        ProcessHistory(i, usable_heap_limit(int(await i.session.evaluate(HEAP_LIMIT_JS)))) for i in inspected
    ]
    points: list[WatchPoint] = []
    started = time.monotonic()
    while spec.duration is None or time.monotonic() - started < spec.duration:
        tick = time.monotonic()
        for h in list(histories):
            p = h.ins.process
            try:
                r = await read_memory(h.ins.session, 0, gc=spec.gc)
            except InspectorError:
                # gone (crashed, OOM-killed, restarted): say so once; watch the others
                histories.remove(h)
                on_point(WatchPoint(
                    pid=p.pid, role=p.role, time=time.monotonic() - started,
                    heap_used=h.heaps[-1] if h.heaps else 0, rss=0, heap_limit=h.heap_limit,
                    bytes_per_second=0.0, seconds_to_limit=None, lost=True,
                ))
                continue
            now = time.monotonic() - started
            h.times.append(now)
            h.heaps.append(r.heap_used)
            slope = trend(h.times[-spec.window :], h.heaps[-spec.window :])
            point = WatchPoint(
                pid=p.pid, role=p.role, time=now, heap_used=r.heap_used, rss=r.rss, heap_limit=h.heap_limit,
                bytes_per_second=slope, seconds_to_limit=seconds_to_limit(r.heap_used, h.heap_limit, slope),
            )
            if spec.snapshot_at is not None and not h.snapshotted and r.heap_used >= spec.snapshot_at * h.heap_limit:
                point = await _snapshot_before_oom(h, point, spec)
            points.append(point)
            on_point(point)
        if not histories:
            raise TargetExited("every watched process is gone")
        await asyncio.sleep(max(0.0, spec.interval - (time.monotonic() - tick)))
    return points


async def _snapshot_before_oom(h: ProcessHistory, point: WatchPoint, spec: WatchSpec) -> WatchPoint:
    h.snapshotted = True  # once per process, whatever happens
    path = spec.snapshot_dir / f"pid{point.pid}-{time.strftime('%Y%m%d-%H%M%S')}.heapsnapshot"
    try:
        await capture_snapshot(h.ins.session, point.pid, path, memory_limit=spec.memory_limit)
    except (HeadroomError, InspectorError) as exc:
        return replace(point, snapshot_refused=str(exc))
    return replace(point, snapshot=str(path))


async def watch_target(target: Target, spec: WatchSpec, port: int = 0, on_point: PointCallback | None = None) -> list[WatchPoint]:
    """Watch every Node process of a target; `port` tells a launched target is ready."""
    async with open_target(target, port) as opened:
        return await watch_inspected(opened.inspected, spec, on_point or (lambda p: None))
