"""The whole hunt: measure → snapshots at growing request counts → culprits → one report."""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from leaksleuth.live.capture import capture_snapshot
from leaksleuth.errors import HeadroomError, InspectorError, TargetExited, UsageError
from leaksleuth.heap.culprits import Culprit, find_culprits_in_files, merge
from leaksleuth.live.load import LoadDriver, check_local_url
from leaksleuth.flows.measure import alive_check, attached, launched
from leaksleuth.live.rounds import Inspected, LoadSpec, ProgressCallback, ProtocolSpec, run_protocol
from leaksleuth.model import Measurement
from leaksleuth.live.sampling import (
    add_sampling_evidence,
    allocation_sites,
    start_sampling,
    stop_sampling,
)

SNAPSHOT_GROWTH_TARGET = 4 << 20  # bytes of growth wanted between two snapshots


@dataclass(frozen=True)
class HuntSpec:
    snapshots: int = 3
    requests_between: int = 0  # 0: chosen from the measured growth
    always_snapshot: bool = False  # snapshot even when the measurement says "no leak"
    skip_measure: bool = False  # --snapshots: go straight to snapshots
    keep_dir: Path | None = None  # keep snapshot files here (else a temp dir, deleted)
    force: bool = False
    memory_limit: int | None = None


@dataclass
class HuntReport:
    measurement: Measurement | None
    culprits: list[Culprit]
    snapshot_requests: list[int] = field(default_factory=list)
    snapshot_files: list[str] = field(default_factory=list)
    snapshot_seconds: float = 0.0
    analysis_seconds: float = 0.0
    skipped_reason: str | None = None
    project: str | None = None

    @property
    def verdict(self) -> str:
        if self.measurement is not None:
            return self.measurement.verdict
        return "leak" if self.culprits else "no leak"

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = self.measurement.to_json() if self.measurement else {"verdict": self.verdict}
        data["culprits"] = [c.to_json() for c in self.culprits]
        data["snapshots"] = {
            "requests": self.snapshot_requests,
            "files": self.snapshot_files,
            "capture_seconds": self.snapshot_seconds,
            "analysis_seconds": self.analysis_seconds,
            "skipped_reason": self.skipped_reason,
        }
        return data


def requests_between(m: Measurement | None, spec: HuntSpec) -> int:
    if spec.requests_between:
        return spec.requests_between
    if m is None or m.bytes_per_request <= 0:
        return 300
    return int(np.clip(SNAPSHOT_GROWTH_TARGET / m.bytes_per_request, 100, 600))


async def snapshot_series(
    inspected: list[Inspected],
    driver: LoadDriver,
    spec: HuntSpec,
    between: int,
    folder: Path,
    alive: Callable[[], str | None],
    say: Callable[[str], None],
    profiles: list[dict[str, Any]],
    also: frozenset[int] = frozenset(),
) -> tuple[dict[int, list[Path]], list[int]]:
    """GC'd snapshots of every serving process at n0 < n1 < n2 … requests; the sampling heap
    profiler runs from the first to the last, its live-allocation profiles go to `profiles`."""
    serving = [i for i in inspected if i.process.serving or i.process.pid in also] or inspected
    files: dict[int, list[Path]] = {i.process.pid: [] for i in serving}
    counts: list[int] = []
    for k in range(spec.snapshots):
        if k == 1:
            for i in serving:
                await start_sampling(i.session)
        if k:
            await driver.send(between)
        if k == spec.snapshots - 1:
            for i in serving:
                profiles.append(await stop_sampling(i.session))
        why = alive()
        if why:
            raise TargetExited(f"the target {why} while taking snapshots")
        counts.append(driver.tally.requests)
        for i in serving:
            path = folder / f"pid{i.process.pid}-s{k}-{driver.tally.requests}req.heapsnapshot"
            say(f"snapshot {k + 1}/{spec.snapshots} of {i.process.role} {i.process.pid} at {driver.tally.requests} requests")
            await capture_snapshot(i.session, i.process.pid, path, force=spec.force, memory_limit=spec.memory_limit)
            files[i.process.pid].append(path)
    return files, counts


def analyze_files(
    files: dict[int, list[Path]], counts: list[float], project: Path | None
) -> list[Culprit]:
    """Culprits per process from its snapshot series, merged over processes."""
    per_process = {pid: find_culprits_in_files(paths, counts, project) for pid, paths in files.items()}
    return merge(per_process)


async def _hunt(
    inspected: list[Inspected],
    load: LoadSpec,
    spec: ProtocolSpec,
    hunt: HuntSpec,
    alive: Callable[[], str | None],
    project: Path | None,
    on_progress: ProgressCallback | None,
    say: Callable[[str], None],
) -> HuntReport:
    m: Measurement | None = None
    if not hunt.skip_measure:
        m = await run_protocol(inspected, load, spec, alive, on_progress)
        grows = any(abs(v) >= 0.5 for v in m.handles_per_request.values())
        if m.verdict == "no leak" and not grows and not hunt.always_snapshot:
            return HuntReport(m, [], skipped_reason="no leak measured: no snapshots taken", project=str(project) if project else None)
    folder = hunt.keep_dir or Path(tempfile.mkdtemp(prefix="leaksleuth-hunt-"))
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {folder}: {exc.strerror}") from exc
    try:
        async with load.driver() as driver:
            if m is not None:
                driver.tally.requests = m.requests  # keep counting where the measurement stopped
            else:
                await driver.send(max(spec.warmup_requests, 1))
            t0 = time.monotonic()
            profiles: list[dict[str, Any]] = []
            # processes that serve no HTTP but grew (an Egg agent fed by the workers) too
            growing = frozenset(p.pid for p in m.processes if not p.serving and p.verdict == "leak") if m else frozenset()
            try:
                files, counts = await snapshot_series(
                    inspected, driver, hunt, requests_between(m, hunt), folder, alive, say, profiles, growing
                )
            except HeadroomError as exc:  # the measurement stands; say why nothing more
                return HuntReport(m, [], skipped_reason=f"no snapshots: {exc}", project=str(project) if project else None)
            except (TargetExited, InspectorError) as exc:  # died while being snapshotted: keep the measurement
                raise TargetExited(f"the target {alive() or exc} while taking snapshots", m) from exc
            snap_seconds = time.monotonic() - t0
        t1 = time.monotonic()
        say("analysing snapshots")
        culprits = analyze_files(files, [float(c) for c in counts], project)
        sites = [site for p in profiles for site in allocation_sites(p)]
        add_sampling_evidence(culprits, sorted(sites, key=lambda s: -s.live_bytes), project)
        return HuntReport(
            measurement=m,
            culprits=culprits,
            snapshot_requests=counts,
            snapshot_files=[str(p) for ps in files.values() for p in ps] if hunt.keep_dir else [],
            snapshot_seconds=snap_seconds,
            analysis_seconds=time.monotonic() - t1,
            project=str(project) if project else None,
        )
    finally:
        if hunt.keep_dir is None:
            shutil.rmtree(folder, ignore_errors=True)


async def hunt_command(
    command: list[str],
    load: LoadSpec,
    spec: ProtocolSpec = ProtocolSpec(),
    hunt: HuntSpec = HuntSpec(),
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    ready_timeout: float = 30.0,
    log_file: Path | None = None,
    project: Path | None = None,
    on_progress: ProgressCallback | None = None,
    say: Callable[[str], None] = lambda s: None,
) -> HuntReport:
    """Launch, measure, snapshot, explain; the target is stopped whatever happens.

    Source files are shown relative to `project` (default: `cwd`, else the current folder)."""
    port = check_local_url(load.urls[0])
    project = (project or cwd or Path.cwd()).resolve()
    async with launched(command, port, cwd=cwd, env=env, ready_timeout=ready_timeout, log_file=log_file) as (target, inspected):
        try:
            report = await _hunt(inspected, load, spec, hunt, lambda: alive_check(inspected, target), project, on_progress, say)
        except TargetExited as exc:
            raise TargetExited(f"{exc} (log: {target.log_file})", exc.partial) from exc
        if report.measurement is not None:
            report.measurement = replace(report.measurement, log_file=str(target.log_file))
        return report


async def hunt_pid(
    pid: int,
    load: LoadSpec,
    spec: ProtocolSpec = ProtocolSpec(),
    hunt: HuntSpec = HuntSpec(),
    *,
    project: Path | None = None,
    on_progress: ProgressCallback | None = None,
    say: Callable[[str], None] = lambda s: None,
) -> HuntReport:
    port = check_local_url(load.urls[0])
    async with attached(pid, port) as inspected:
        return await _hunt(inspected, load, spec, hunt, lambda: alive_check(inspected), project, on_progress, say)
