"""The whole hunt: measure → snapshots at growing request counts → culprits → one result."""

from __future__ import annotations

import asyncio
import re
import shutil
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from leaksleuth.errors import HeadroomError, InspectorError, TargetExited, UsageError, keep_partial
from leaksleuth.flows.route_hunt import Plan, attribute_routes, single_route, snapshot_plan
from leaksleuth.heap.culprits import find_culprits, merge
from leaksleuth.live.capture import capture_snapshot
from leaksleuth.live.connect import OpenTarget, open_target
from leaksleuth.live.load import LoadDriver, check_local_url
from leaksleuth.live.rounds import AliveCheck, Inspected, ProgressCallback
from leaksleuth.live.route_rounds import run_measurement
from leaksleuth.live.sampling import AllocationSite, allocation_sites, start_sampling, stop_sampling
from leaksleuth.model import AllocationEvidence, Culprit, HuntResult, Measurement, Progress, SourceLocation
from leaksleuth.options import HuntSpec, LoadSpec, ProtocolSpec, Target
from leaksleuth.sources import find_after, original_text, source_location, with_role

SNAPSHOT_GROWTH_TARGET = 4 << 20  # bytes of growth wanted between two snapshots


def requests_between(m: Measurement | None, spec: HuntSpec) -> int:
    """Requests between snapshots: about 4 MB of growth, 100–600 requests."""
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
    alive: AliveCheck,
    on_progress: ProgressCallback,
    profiles: list[dict[str, Any]],
    also: frozenset[int] = frozenset(),
    plan: Plan | None = None,
    guard: Callable[[Path], None] | None = None,
) -> tuple[dict[int, list[Path]], list[int]]:
    """GC'd snapshots of every serving process (and of `also`) at n0 < n1 < n2 … requests; the
    sampling heap profiler runs from the first to the last, its profiles go to `profiles`. With a
    `plan` (several routes), interval k sends plan[k-1]'s requests per route instead. `guard`:
    see capture_snapshot (the private folder a target writes its snapshot into)."""
    chosen = [i for i in inspected if i.serving or i.process.pid in also] or inspected
    files: dict[int, list[Path]] = {i.process.pid: [] for i in chosen}
    counts: list[int] = []
    snapshots = len(plan) + 1 if plan else spec.snapshots
    for k in range(snapshots):
        if k == 1:
            for i in chosen:
                await start_sampling(i.session)
        if k:
            await (driver.send_routes(plan[k - 1]) if plan else driver.send(between))
        if k == snapshots - 1:
            for i in chosen:
                profiles.append(await stop_sampling(i.session))
        why = alive()
        if why:
            raise TargetExited(f"the target {why} while taking snapshots")
        sent = driver.tally.requests
        counts.append(sent)
        for i in chosen:
            path = folder / f"pid{i.process.pid}-s{k}-{sent}req.heapsnapshot"
            on_progress(Progress("snapshot", requests=sent, snapshot=k + 1, snapshots=snapshots,
                                 pid=i.process.pid, role=i.process.role))
            await capture_snapshot(i.session, i.process.pid, path, force=spec.force, memory_limit=spec.memory_limit,
                                   guard=guard)
            files[i.process.pid].append(path)
    return files, counts


def analyze_files(files: dict[int, list[Path]], counts: list[float], project: Path | None) -> list[Culprit]:
    """Culprits per process from its snapshot series, merged over processes."""
    return merge({pid: find_culprits(paths, counts, project) for pid, paths in files.items()})


def _related(site: AllocationSite, culprit: Culprit) -> bool:
    """The site's stack passes through the culprit's line or through a function the culprit
    names (the closure that keeps it, a library's timer callback), or its allocating function is
    the culprit's constructor (a class's constructor allocates its instances)."""
    if culprit.location:
        name = culprit.location.file.rsplit("/", 1)[-1]
        if any(frame.endswith(f" {name}:{culprit.location.line}") for frame in site.stack):
            return True
    if any(f"{loc.file}:{loc.line}" in site.frames for loc in culprit.locations if loc.role == "defines"):
        return True
    return site.function == culprit.constructor.split(" ")[0]


def _call_line(site: AllocationSite, project: Path | None) -> SourceLocation:
    """The app's line that calls into the library: the deepest app frame's function, and in it
    the first call of the function below it (`new NodeCache(` in loadPrices); V8's profile frames
    only say where a function starts."""
    start = source_location(site.url, site.line, site.column, project)
    where = start
    if site.callee and re.fullmatch(r"[A-Za-z_$][\w$]*", site.callee):
        text = original_text(start, site.url, project)
        hit = find_after(text, re.compile(rf"\b{re.escape(site.callee)}\s*\("), start.line) if text else None
        if hit is not None:
            where = SourceLocation(start.file, hit[0], hit[1], origin=start.origin, package=start.package)
    return with_role(where, "calls", "allocation stack")


def add_sampling_evidence(culprits: list[Culprit], sites: list[AllocationSite], project: Path | None) -> None:
    """Name, per culprit, the sampled allocation sites of still-live memory related to it, with
    the app's calling line and the library's allocating line among its locations."""
    for c in culprits:
        for s in [s for s in sites if _related(s, c)][:2]:
            where = source_location(s.url, s.line, s.column, project)
            c.evidence.append(AllocationEvidence(s.live_bytes, s.function, where, s.stack))
            if s.library is not None:
                _function, url, line, column = s.library
                c.add_location(with_role(source_location(url, line, column, project), "allocates", "allocation stack"))
            if s.library is not None or c.location is None:
                c.add_location(_call_line(s, project))


async def hunt_open(
    opened: OpenTarget,
    load: LoadSpec,
    spec: ProtocolSpec,
    hunt: HuntSpec,
    project: Path | None,
    on_progress: ProgressCallback | None = None,
) -> HuntResult:
    """Measure (unless skipped), snapshot, explain, on a target already open."""
    report = on_progress or (lambda p: None)
    inspected, alive = opened.inspected, opened.alive
    shown = str(project) if project else None
    m: Measurement | None = None
    shared = LoadDriver(load)  # one set of virtual users (and their sessions) for the whole hunt
    if not hunt.skip_measure:  # per route when there are several
        m = await run_measurement(inspected, load, spec, alive, on_progress, driver=shared, auto_routes=True)
        grows = any(abs(v) >= 0.5 for v in m.handles_per_request.values())
        if m.verdict == "no leak" and not grows and not hunt.always_snapshot:
            return HuntResult(m, [], skipped="no leak", project=shown)
    folder = hunt.keep_dir or Path(tempfile.mkdtemp(prefix="leaksleuth-hunt-"))
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create {folder}: {exc.strerror}") from exc
    if hunt.keep_dir is None:  # snapshots hold secrets: removed even if we are killed outright
        opened.guard_path(folder)
    try:
        async with shared as driver:
            if m is not None:
                driver.tally.requests = m.requests  # keep counting where the measurement stopped
            else:
                await driver.send(max(spec.warmup_requests, 1))
            plan = snapshot_plan(m, driver, hunt)  # the leaking routes only, when there are several
            t0 = time.monotonic()
            profiles: list[dict[str, Any]] = []
            # processes that serve no HTTP but grew (an Egg agent fed by the workers) too
            growing = frozenset(p.pid for p in m.growing_elsewhere) if m else frozenset()
            try:
                files, counts = await snapshot_series(
                    inspected, driver, hunt, requests_between(m, hunt), folder, alive, report, profiles, growing, plan,
                    guard=opened.guard_path if hunt.keep_dir is not None else None,  # else `folder` is guarded
                )
            except HeadroomError as exc:  # the measurement stands; say why nothing more
                return HuntResult(m, [], skipped="headroom", skipped_detail=str(exc), project=shown)
            except (TargetExited, InspectorError) as exc:  # died while being snapshotted: keep the measurement
                raise TargetExited(f"the target {alive() or exc} while taking snapshots", m) from exc
            except asyncio.CancelledError as exc:  # Ctrl-C, SIGTERM, SIGHUP: the measurement stands
                keep_partial(exc, m)
                raise
            snap_seconds = time.monotonic() - t0
        t1 = time.monotonic()
        report(Progress("analysis", requests=counts[-1]))
        culprits = analyze_files(files, [float(c) for c in counts], project)
        if plan:
            culprits = attribute_routes(culprits, plan, driver.routes)
        else:
            single_route(culprits, driver.routes)
        sites = sorted((site for p in profiles for site in allocation_sites(p, project)), key=lambda s: -s.live_bytes)
        add_sampling_evidence(culprits, sites, project)
        return HuntResult(
            measurement=m,
            culprits=culprits,
            snapshot_requests=counts,
            snapshot_files=[str(p) for ps in files.values() for p in ps] if hunt.keep_dir else [],
            snapshot_seconds=snap_seconds,
            analysis_seconds=time.monotonic() - t1,
            project=shown,
        )
    finally:
        if hunt.keep_dir is None:
            shutil.rmtree(folder, ignore_errors=True)


async def hunt_target(
    target: Target,
    load: LoadSpec,
    spec: ProtocolSpec = ProtocolSpec(),
    hunt: HuntSpec = HuntSpec(),
    *,
    project: Path | None = None,
    on_progress: ProgressCallback | None = None,
) -> HuntResult:
    """Launch or attach, measure, snapshot, explain; a launched target is stopped whatever
    happens. Source files are shown relative to `project` (default: a launch's cwd, else the
    current folder)."""
    port = check_local_url(load.urls[0])
    cwd = getattr(target, "cwd", None)
    root = Path(project or cwd or Path.cwd()).resolve()
    async with open_target(target, port) as opened:
        try:
            result = await hunt_open(opened, load, spec, hunt, root, on_progress)
        except TargetExited as exc:
            if opened.log_file is None:
                raise
            raise TargetExited(f"{exc} (log: {opened.log_file})", exc.partial) from exc
        if result.measurement is not None and opened.log_file is not None:
            result.measurement = replace(result.measurement, log_file=opened.log_file)
        return result

