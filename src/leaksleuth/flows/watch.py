"""Watch processes over time: growth trend, time left before the heap limit, a snapshot before OOM.

For services under real traffic (no load of ours): readings every `interval` seconds, a robust
trend over the recent ones, and, once a process passes `snapshot_at` of its heap limit, one
heap snapshot taken while there is still memory to take it (the headroom check still applies).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from leaksleuth.live.capture import capture_snapshot
from leaksleuth.errors import HeadroomError, InspectorError, TargetExited
from leaksleuth.live.readings import read_memory
from leaksleuth.live.rounds import Inspected
from leaksleuth.stats import robust_fit

HEAP_LIMIT_JS = "require('v8').getHeapStatistics().heap_size_limit"
# V8's heap_size_limit counts the young generation's reserve (3 × a 16 MiB semi-space on 64-bit)
# on top of --max-old-space-size; the process dies when the *old* generation is full, so the
# usable limit is about that much lower (measured: a 32 MB old space reports 84 MB and dies at ~36)
YOUNG_GENERATION_RESERVE = 48 << 20


def usable_heap_limit(heap_size_limit: int) -> int:
    """Heap used at which the process runs out of memory, estimated from V8's heap_size_limit."""
    if heap_size_limit > YOUNG_GENERATION_RESERVE + (16 << 20):
        return heap_size_limit - YOUNG_GENERATION_RESERVE
    return heap_size_limit


@dataclass(frozen=True)
class WatchSpec:
    interval: float = 30.0  # seconds between readings
    window: int = 20  # readings in the trend
    gc: bool = True  # force a GC before each reading (steadier, costs the target a pause)
    snapshot_at: float | None = None  # fraction of the heap limit that triggers one snapshot
    snapshot_dir: Path = Path(".")
    duration: float | None = None  # seconds; None: until Ctrl-C
    memory_limit: int | None = None


@dataclass(frozen=True)
class WatchPoint:
    pid: int
    role: str
    time: float
    heap_used: int
    rss: int
    heap_limit: int
    bytes_per_second: float  # heap trend over the window (0 until 3 readings)
    seconds_to_limit: float | None  # at that trend; None when not growing
    snapshot: str | None = None  # a snapshot written at this point
    note: str | None = None
    lost: bool = False  # the process is gone (this point only says so)


@dataclass
class ProcessHistory:
    ins: Inspected
    heap_limit: int
    times: list[float] = field(default_factory=list)
    heaps: list[int] = field(default_factory=list)
    snapshotted: bool = False


def trend(times: list[float], heaps: list[int]) -> float:
    """Heap growth in bytes per second: Theil–Sen over the readings given (0 below three)."""
    if len(times) < 3:
        return 0.0
    return robust_fit(times, heaps).slope


def seconds_to_limit(heap_used: int, limit: int, slope: float) -> float | None:
    if slope <= 0 or limit <= heap_used:
        return None if slope <= 0 else 0.0
    return (limit - heap_used) / slope


async def watch(
    inspected: list[Inspected], spec: WatchSpec, on_point: Callable[[WatchPoint], None]
) -> list[WatchPoint]:
    """Read every process every `interval` seconds until `duration` (or cancellation)."""
    histories = [
        ProcessHistory(i, usable_heap_limit(int(await i.session.evaluate(HEAP_LIMIT_JS)))) for i in inspected
    ]
    points: list[WatchPoint] = []
    started = time.monotonic()
    while spec.duration is None or time.monotonic() - started < spec.duration:
        tick = time.monotonic()
        for h in list(histories):
            try:
                r = await read_memory(h.ins.session, 0, gc=spec.gc)
            except InspectorError:
                # gone (crashed, OOM-killed, restarted): say so once; watch the others
                histories.remove(h)
                on_point(WatchPoint(
                    pid=h.ins.process.pid, role=h.ins.process.role, time=time.monotonic() - started,
                    heap_used=h.heaps[-1] if h.heaps else 0, rss=0, heap_limit=h.heap_limit,
                    bytes_per_second=0.0, seconds_to_limit=None, note="process lost: it exited or was killed",
                    lost=True,
                ))
                continue
            now = time.monotonic() - started
            h.times.append(now)
            h.heaps.append(r.heap_used)
            slope = trend(h.times[-spec.window :], h.heaps[-spec.window :])
            point = WatchPoint(
                pid=h.ins.process.pid, role=h.ins.process.role, time=now, heap_used=r.heap_used,
                rss=r.rss, heap_limit=h.heap_limit, bytes_per_second=slope,
                seconds_to_limit=seconds_to_limit(r.heap_used, h.heap_limit, slope),
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
    from dataclasses import replace

    h.snapshotted = True  # once per process, whatever happens
    path = spec.snapshot_dir / f"pid{point.pid}-{time.strftime('%Y%m%d-%H%M%S')}.heapsnapshot"
    try:
        await capture_snapshot(h.ins.session, point.pid, path, memory_limit=spec.memory_limit)
    except (HeadroomError, InspectorError) as exc:
        return replace(point, note=f"no snapshot: {exc}")
    return replace(point, snapshot=str(path))
