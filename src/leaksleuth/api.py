"""The public Python API: measure, hunt, watch and snapshot a Node service, and read snapshots.

Each live call has a sync form (runs its own event loop) and an `_async` twin for code that
already runs one. A target is a `Launch` (a command we start and stop), an `Attach` (a pid we
leave as found), a pid, or a command as a list of strings; load is a `LoadSpec` or a URL.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from leaksleuth.errors import UsageError
from leaksleuth.flows.fleet import fleet_report
from leaksleuth.flows.hunt import hunt_target
from leaksleuth.flows.measure import http_port, measure_target
from leaksleuth.flows.snapshot import snapshot_target
from leaksleuth.flows.watch import PointCallback, watch_target
from leaksleuth.heap.culprits import SnapshotSource
from leaksleuth.heap.culprits import find_culprits as _find_culprits
from leaksleuth.heap.parse import load_snapshot as _load_snapshot
from leaksleuth.heap.snapshot import HeapSnapshot
from leaksleuth.live.rounds import ProgressCallback
from leaksleuth.live.scenario import load_traffic as _load_traffic
from leaksleuth.model import Culprit, FleetResult, HuntResult, Measurement, WatchPoint
from leaksleuth.options import (
    Attach,
    FleetSpec,
    HuntSpec,
    LoadSpec,
    ProtocolSpec,
    RulesSpec,
    Target,
    WatchSpec,
    as_load,
    as_target,
)
from leaksleuth.report.prometheus import WatchCollector
from leaksleuth.report.rules import rule_file

TargetLike = Target | int | Sequence[str]
LoadLike = LoadSpec | str | Sequence[str]


async def measure_async(
    target: TargetLike, load: LoadLike, protocol: ProtocolSpec = ProtocolSpec(), *,
    on_progress: ProgressCallback | None = None,
) -> Measurement:
    """Bytes per request of every Node process of `target` under `load`, with a verdict."""
    return await measure_target(as_target(target), as_load(load), protocol, on_progress)


def measure(
    target: TargetLike, load: LoadLike, protocol: ProtocolSpec = ProtocolSpec(), *,
    on_progress: ProgressCallback | None = None,
) -> Measurement:
    """Bytes per request of every Node process of `target` under `load`, with a verdict."""
    return asyncio.run(measure_async(target, load, protocol, on_progress=on_progress))


async def hunt_async(
    target: TargetLike, load: LoadLike, protocol: ProtocolSpec = ProtocolSpec(), options: HuntSpec = HuntSpec(), *,
    project: Path | str | None = None, on_progress: ProgressCallback | None = None,
) -> HuntResult:
    """Measure, then snapshots at growing request counts, then the culprits and their lines."""
    return await hunt_target(as_target(target), as_load(load), protocol, options,
                             project=Path(project) if project else None, on_progress=on_progress)


def hunt(
    target: TargetLike, load: LoadLike, protocol: ProtocolSpec = ProtocolSpec(), options: HuntSpec = HuntSpec(), *,
    project: Path | str | None = None, on_progress: ProgressCallback | None = None,
) -> HuntResult:
    """Measure, then snapshots at growing request counts, then the culprits and their lines."""
    return asyncio.run(hunt_async(target, load, protocol, options, project=project, on_progress=on_progress))


async def watch_async(
    target: TargetLike | None = None, options: WatchSpec = WatchSpec(), *, url: str | None = None,
    on_point: PointCallback | None = None,
) -> list[WatchPoint]:
    """Readings over time with the trough trend, time to OOM and escalation (until
    `options.duration`). With `options.metrics_url` no inspector is used: `target` is then
    optional (a pid, for /proc and its cgroup)."""
    collector = WatchCollector if options.serve else None
    if options.metrics_url is not None:
        pid = target.pid if isinstance(target, Attach) else target if isinstance(target, int) else None
        if target is not None and pid is None:
            raise UsageError("with metrics, the target can only be a pid (for /proc and its cgroup)")
        return await watch_target(None, options, 0, on_point, pid=pid, collector=collector)
    if target is None:
        raise UsageError("give a target (a pid or a command), or options.metrics_url")
    t = as_target(target)
    return await watch_target(t, options, http_port(t, url), on_point, collector=collector)


def watch(
    target: TargetLike | None = None, options: WatchSpec = WatchSpec(), *, url: str | None = None,
    on_point: PointCallback | None = None,
) -> list[WatchPoint]:
    """Readings over time with the trough trend, time to OOM and escalation (until
    `options.duration`). With `options.metrics_url` no inspector is used: `target` is then
    optional (a pid, for /proc and its cgroup)."""
    return asyncio.run(watch_async(target, options, url=url, on_point=on_point))


async def fleet_async(options: FleetSpec) -> FleetResult:
    """Every pod matched in a Prometheus-compatible server: trough trend, bytes per request, time
    to OOM, restarts and OOM kills, per pod and per version, worst first."""
    return await fleet_report(options)


def fleet(options: FleetSpec) -> FleetResult:
    """Every pod matched in a Prometheus-compatible server: trough trend, bytes per request, time
    to OOM, restarts and OOM kills, per pod and per version, worst first."""
    return asyncio.run(fleet_async(options))


def alerting_rules(options: RulesSpec = RulesSpec()) -> str:
    """A Prometheus rule file (YAML) whose alerts use the same troughs, trend and time to OOM."""
    return rule_file(options)


async def snapshot_async(
    target: TargetLike, output: Path | str, *, url: str | None = None, requests: int = 0, force: bool = False,
    memory_limit: int | None = None, on_progress: ProgressCallback | None = None,
) -> list[Path]:
    """DevTools-compatible snapshots of the serving processes (mode 0600; they hold secrets)."""
    t = as_target(target)
    load = as_load(url) if url else None
    return await snapshot_target(t, Path(output), port=http_port(t, url), load=load, requests=requests,
                                 force=force, memory_limit=memory_limit, on_progress=on_progress)


def snapshot(
    target: TargetLike, output: Path | str, *, url: str | None = None, requests: int = 0, force: bool = False,
    memory_limit: int | None = None, on_progress: ProgressCallback | None = None,
) -> list[Path]:
    """DevTools-compatible snapshots of the serving processes (mode 0600; they hold secrets)."""
    return asyncio.run(snapshot_async(target, output, url=url, requests=requests, force=force,
                                      memory_limit=memory_limit, on_progress=on_progress))


def load_snapshot(path: Path | str, script_urls: dict[int, str] | None = None) -> HeapSnapshot:
    """Parse a .heapsnapshot file (validated: a bad file raises SnapshotError)."""
    return _load_snapshot(Path(path), script_urls=script_urls)


def load_traffic(
    *, scenario: Path | str | None = None, har: Path | str | None = None, access_log: Path | str | None = None,
    base: str | None = None, **load: Any,
) -> LoadSpec:
    """Traffic from a scenario file (TOML), a HAR or a common/combined access log, as a LoadSpec sent
    to the loopback `base` (`load`: concurrency, headers, vary_query, per_route). A bad file raises
    UsageError."""
    return _load_traffic(scenario=Path(scenario) if scenario else None, har=Path(har) if har else None,
                         access_log=Path(access_log) if access_log else None, base=base, **load)


def find_culprits(
    snapshots: Sequence[SnapshotSource], requests: Sequence[float], project: Path | str | None = None
) -> list[Culprit]:
    """What grows in step with requests across ≥ 3 snapshots of one process, and why."""
    return _find_culprits(snapshots, requests, Path(project) if project else None)
