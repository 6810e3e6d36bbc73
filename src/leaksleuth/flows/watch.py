"""Watch processes over time: growth trend, time left before the limit that kills, escalation.

For services under real traffic (no load of ours). Three ways to read, from the most to the
least intrusive: the inspector with a forced GC before each reading (each reading is a trough),
the inspector without (`passive`), or the service's own metrics endpoint (`metrics_url`: no
inspector at all). The trend is fitted on post-GC troughs (`stats.trough`), per request when a
request counter is exported; the cgroup (v1/v2) gives the limit that actually kills, the working
set and OOM kills. On a leak, escalation (`flows.escalate`) with a cooldown and a cap; once a
process passes `snapshot_at` of its heap limit, one snapshot while there is still memory for it.
`serve` exposes the figures for Prometheus to scrape.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import urlsplit

import psutil
from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.registry import Collector

from leaksleuth.errors import HeadroomError, InspectorError, MetricsError, TargetExited, UsageError
from leaksleuth.flows.escalate import sample_growth, spaced_snapshots
from leaksleuth.live.capture import capture_snapshot
from leaksleuth.live.cgroup import old_space_flag, oom_kill_count, read_cgroup
from leaksleuth.live.connect import open_target
from leaksleuth.live.discover import port_owner
from leaksleuth.live.metrics import MetricsEndpoint
from leaksleuth.live.passive import read_passive
from leaksleuth.live.readings import read_memory
from leaksleuth.live.rounds import Inspected
from leaksleuth.model import Capture, Role, Sample, WatchPoint, WatchSource
from leaksleuth.options import Target, WatchSpec, serve_address
from leaksleuth.stats.trend import oom_forecast, seconds_to_limit, usable_heap_limit
from leaksleuth.stats.trough import fit_troughs, significant_slope

HEAP_LIMIT_JS = "require('v8').getHeapStatistics().heap_size_limit"
PointCallback = Callable[[WatchPoint], None]
# builds the collector `--serve` exposes, over a function giving the latest point of each process
# (the report layer's `WatchCollector`; passed in, as flows do not import reports)
CollectorFactory = Callable[[Callable[[], list[WatchPoint]]], Collector]
GCS_PER_READING = 2  # read_memory collects twice
DEFAULT_RATE_THRESHOLD = 1024.0  # bytes/second, when no limit is known


@dataclass
class ProcessHistory:
    pid: int
    role: Role
    heap_limit: int  # V8's usable heap; 0: unknown
    source: WatchSource
    ins: Inspected | None = None
    samples: list[Sample] = field(default_factory=list)
    snapshotted: bool = False
    forced_gcs: int = 0
    oom_kills_at_start: int | None = None
    escalations: int = 0
    last_escalation: float | None = None
    task: asyncio.Task[Capture] | None = None  # an escalation under way
    snapshotting: bool = False  # its snapshots freeze the target: no readings meanwhile


def point_of(h: ProcessHistory, spec: WatchSpec) -> WatchPoint:
    """The trend and forecast after the last sample of `h`."""
    s = h.samples[-1]
    times = [x.time for x in h.samples]
    # what survives: without forced GCs the young generation's sawtooth (scavenges) is left out too
    heaps = [x.heap_used - (x.code_space or 0) - (0 if x.post_gc else x.young_space or 0) for x in h.samples]
    counted = all(x.requests is not None for x in h.samples)
    requests = [float(x.requests or 0.0) for x in h.samples] if counted else None
    post_gc = all(x.post_gc for x in h.samples)
    trend = fit_troughs(times, heaps, requests=requests, rate_threshold=rate_threshold(h, s, spec),
                        request_threshold=spec.threshold, post_gc=post_gc, max_troughs=spec.window)
    # against V8's usable limit, which leaves the young generation's reserve out already
    limits = [("heap", h.heap_limit or None, trend.level + (s.code_space or 0), trend.bytes_per_second, trend.ci95)]
    group = s.cgroup
    if group is not None and group.limit is not None:
        ws = [(x.time, x.cgroup.working_set) for x in h.samples if x.cgroup is not None]
        ws_trend = fit_troughs([t for t, _ in ws], [w for _, w in ws], max_troughs=spec.window)
        ws_level = ws_trend.level if ws_trend.troughs else group.working_set
        limits.append(("cgroup", group.limit, ws_level, *significant_slope(ws_trend)))
    elif spec.memory_limit and s.rss is not None:
        rss = [(x.time, x.rss or 0) for x in h.samples]
        rss_trend = fit_troughs([t for t, _ in rss], [r for _, r in rss], max_troughs=spec.window)
        limits.append(("cgroup", spec.memory_limit, rss_trend.level or s.rss, *significant_slope(rss_trend)))
    forecast = oom_forecast(limits)  # type: ignore[arg-type]
    oom_kills = 0
    if group is not None and group.oom_kills is not None and h.oom_kills_at_start is not None:
        oom_kills = group.oom_kills - h.oom_kills_at_start
    reset = len(h.samples) > 1 and requests is not None and requests[-1] < requests[-2]
    return WatchPoint(
        pid=h.pid, role=h.role, time=s.time, heap_used=s.heap_used, rss=s.rss or 0, heap_limit=h.heap_limit,
        bytes_per_second=trend.bytes_per_second,
        seconds_to_limit=seconds_to_limit(s.heap_used, h.heap_limit, trend.bytes_per_second) if h.heap_limit else None,
        source=h.source, trend=trend, forecast=forecast, cgroup=group, forced_gcs=h.forced_gcs,
        oom_kills=oom_kills, counter_reset=reset,
    )


def process_gone(pid: int) -> bool:
    """Exited or killed (a zombie not yet reaped by its parent counts as gone)."""
    try:
        return bool(psutil.Process(pid).status() == psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return True


def rate_threshold(h: ProcessHistory, s: Sample, spec: WatchSpec) -> float:
    """Bytes/second that make a leak without a request counter: given, or the growth that would
    reach the nearest known limit within `spec.horizon`."""
    if spec.rate_threshold is not None:
        return spec.rate_threshold
    room = [h.heap_limit - s.heap_used] if h.heap_limit else []
    if s.cgroup is not None and s.cgroup.limit is not None:
        room.append(s.cgroup.limit - s.cgroup.working_set)
    if spec.memory_limit and s.rss is not None:
        room.append(spec.memory_limit - s.rss)
    return max(min(room), 0) / spec.horizon if room else DEFAULT_RATE_THRESHOLD


def lost_point(h: ProcessHistory, now: float) -> WatchPoint:
    """The process is gone; OOM-killed when its cgroup's OOM-kill counter rose meanwhile."""
    last = h.samples[-1] if h.samples else None
    group = last.cgroup if last is not None else None
    killed = False
    count: int | None = None
    if group is not None and h.oom_kills_at_start is not None:
        count = oom_kill_count(group.path)
        killed = count is not None and count > h.oom_kills_at_start
    return WatchPoint(
        pid=h.pid, role=h.role, time=now, heap_used=last.heap_used if last else 0, rss=0, heap_limit=h.heap_limit,
        bytes_per_second=0.0, seconds_to_limit=None, lost=True, source=h.source, forced_gcs=h.forced_gcs,
        oom_killed=killed, cgroup=group, oom_kills=(count or 0) - (h.oom_kills_at_start or 0) if killed else 0,
    )


async def read_sample(h: ProcessHistory, spec: WatchSpec, started: float, endpoint: MetricsEndpoint | None) -> Sample:
    group = read_cgroup(h.pid) if h.pid > 0 else None
    if endpoint is not None:
        s = await endpoint.read(started)
        if s.rss is None and h.pid > 0:
            with contextlib.suppress(psutil.Error):
                s = replace(s, rss=psutil.Process(h.pid).memory_info().rss)
        return replace(s, heap_limit=h.heap_limit or None, cgroup=group)
    assert h.ins is not None
    if not spec.gc:
        return replace(await read_passive(h.ins.session, started), heap_limit=h.heap_limit or None, cgroup=group)
    r = await read_memory(h.ins.session, 0, gc=spec.gc)
    if spec.gc:
        h.forced_gcs += GCS_PER_READING
    return Sample(
        time=time.monotonic() - started, heap_used=r.heap_used, code_space=r.code_space, rss=r.rss,
        external=r.external, handles=sum(v for k, v in r.resources.items() if k != "process listeners"),
        heap_limit=h.heap_limit or None, post_gc=spec.gc, cgroup=group,
    )


def escalation_due(h: ProcessHistory, point: WatchPoint, spec: WatchSpec, now: float) -> bool:
    return (
        h.ins is not None and spec.escalate != "off" and h.task is None and point.trend.verdict == "leak"
        and h.escalations < spec.max_escalations
        and (h.last_escalation is None or now - h.last_escalation >= spec.cooldown)
    )


async def escalate(h: ProcessHistory, spec: WatchSpec, started: float, project: Path | None) -> Capture:
    """Sampling first; snapshots after it when asked for (the headroom check decides)."""
    assert h.ins is not None
    sampled = await sample_growth(h.ins, spec, started, project)
    h.forced_gcs += sampled.forced_gcs
    if spec.escalate != "snapshots":
        return sampled
    h.snapshotting = True
    try:
        shots = await spaced_snapshots(h.ins, spec, started, project)
    finally:
        h.snapshotting = False
    h.forced_gcs += shots.forced_gcs
    return replace(shots, sites=sampled.sites, seconds=sampled.seconds + shots.seconds)


@contextlib.asynccontextmanager
async def serving(spec: WatchSpec, latest: dict[int, WatchPoint], collector: CollectorFactory | None) -> AsyncIterator[None]:
    """Expose the latest point of every process at `spec.serve` while the watch runs."""
    if spec.serve is None or collector is None:
        yield
        return
    host, port = serve_address(spec.serve)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(collector(lambda: list(latest.values())))
    try:
        server, thread = start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        raise UsageError(f"cannot serve metrics on {spec.serve}: {exc.strerror}") from exc
    try:
        yield
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


async def watch_histories(
    histories: list[ProcessHistory], spec: WatchSpec, on_point: PointCallback,
    endpoint: MetricsEndpoint | None = None, project: Path | None = None, collector: CollectorFactory | None = None,
) -> list[WatchPoint]:
    """Read every process every `interval` seconds until `duration` (or cancellation)."""
    points: list[WatchPoint] = []
    latest: dict[int, WatchPoint] = {}
    started = time.monotonic()
    for h in histories:
        group = read_cgroup(h.pid) if h.pid > 0 else None
        h.oom_kills_at_start = group.oom_kills if group is not None else None
    async with serving(spec, latest, collector):
        try:
            while spec.duration is None or time.monotonic() - started < spec.duration:
                tick = time.monotonic()
                for h in list(histories):
                    capture = None
                    if h.task is not None and h.task.done():
                        capture = _finished(h)
                    if h.snapshotting:
                        continue
                    try:
                        sample = await read_sample(h, spec, started, endpoint)
                    except (InspectorError, MetricsError) as exc:
                        gone = h.pid > 0 and process_gone(h.pid)
                        if isinstance(exc, MetricsError) and not h.samples:
                            raise  # never read: the endpoint is wrong, say so at once
                        if isinstance(exc, MetricsError) and not gone:
                            continue  # a scrape failed; the next may not
                        # gone (crashed, OOM-killed, restarted): say so once; watch the others
                        histories.remove(h)
                        lost = lost_point(h, time.monotonic() - started)
                        points.append(lost)
                        latest.pop(h.pid, None)
                        on_point(lost)
                        continue
                    h.samples.append(sample)
                    point = point_of(h, spec)
                    if capture is not None:
                        point = replace(point, capture=capture)
                    if (spec.snapshot_at is not None and not h.snapshotted and h.heap_limit and h.ins is not None
                            and sample.heap_used >= spec.snapshot_at * h.heap_limit):
                        point = await _snapshot_before_oom(h, point, spec)
                    if escalation_due(h, point, spec, sample.time):
                        h.escalations += 1
                        h.last_escalation = sample.time
                        h.task = asyncio.ensure_future(escalate(h, spec, started, project))
                    points.append(point)
                    latest[h.pid] = point
                    on_point(point)
                if not histories:
                    raise TargetExited("every watched process is gone")
                await asyncio.sleep(max(0.0, spec.interval - (time.monotonic() - tick)))
        finally:
            for h in histories:
                if h.task is not None and not h.task.done():
                    h.task.cancel()
                    await asyncio.wait([h.task])  # its end, whatever it was; our own cancellation goes on
    return points


def _finished(h: ProcessHistory) -> Capture | None:
    task, h.task = h.task, None
    assert task is not None
    if task.cancelled():
        return None
    exc = task.exception()
    if exc is None:
        return task.result()
    if isinstance(exc, (InspectorError, HeadroomError)):
        return Capture("sampling", h.pid, 0.0, 0.0, refused=str(exc))
    raise exc


async def watch_inspected(inspected: list[Inspected], spec: WatchSpec, on_point: PointCallback,
                          project: Path | None = None, collector: CollectorFactory | None = None) -> list[WatchPoint]:
    """Watch processes over their inspector sessions."""
    histories = []
    for i in inspected:
        limit = usable_heap_limit(int(await i.session.evaluate(HEAP_LIMIT_JS)))
        histories.append(ProcessHistory(i.process.pid, i.process.role, limit,
                                        "passive" if not spec.gc else "inspector", ins=i))
    return await watch_histories(histories, spec, on_point, project=project, collector=collector)


def metrics_pid(url: str) -> int | None:
    """The process that serves a loopback metrics URL (for /proc and its cgroup), if visible."""
    parts = urlsplit(url)
    if parts.hostname not in ("127.0.0.1", "localhost", "::1"):
        return None
    owner = port_owner(parts.port or 80)
    return owner if owner and owner > 0 else None


async def watch_metrics(spec: WatchSpec, pid: int | None = None, on_point: PointCallback | None = None,
                        collector: CollectorFactory | None = None) -> list[WatchPoint]:
    """Watch a service through its own metrics endpoint: no inspector; /proc and the cgroup too
    when its process is on this machine (`pid`, or the owner of a loopback URL's port)."""
    assert spec.metrics_url is not None
    pid = pid or metrics_pid(spec.metrics_url) or 0
    limit = spec.heap_limit or (old_space_flag(pid) if pid else None) or 0
    async with MetricsEndpoint(spec.metrics_url, spec.request_metric) as endpoint:
        history = ProcessHistory(pid, "server", limit, "metrics")
        return await watch_histories([history], spec, on_point or (lambda p: None), endpoint=endpoint,
                                     collector=collector)


async def _snapshot_before_oom(h: ProcessHistory, point: WatchPoint, spec: WatchSpec) -> WatchPoint:
    h.snapshotted = True  # once per process, whatever happens
    assert h.ins is not None
    h.forced_gcs += GCS_PER_READING + 1  # the headroom reading, and V8's own before it writes
    path = spec.snapshot_dir / f"pid{point.pid}-{time.strftime('%Y%m%d-%H%M%S')}.heapsnapshot"
    try:
        await capture_snapshot(h.ins.session, point.pid, path, memory_limit=spec.memory_limit)
    except (HeadroomError, InspectorError) as exc:
        return replace(point, snapshot_refused=str(exc))
    return replace(point, snapshot=str(path))


async def watch_target(target: Target | None, spec: WatchSpec, port: int = 0, on_point: PointCallback | None = None,
                       pid: int | None = None, collector: CollectorFactory | None = None) -> list[WatchPoint]:
    """Watch every Node process of a target (`port` tells a launched target is ready), or, with
    `spec.metrics_url`, the service behind it without any inspector (`pid` optional)."""
    if spec.metrics_url is not None:
        return await watch_metrics(spec, pid, on_point, collector)
    assert target is not None
    cwd = getattr(target, "cwd", None)
    project = Path(cwd or Path.cwd()).resolve()
    async with open_target(target, port) as opened:
        return await watch_inspected(opened.inspected, spec, on_point or (lambda p: None), project, collector)
