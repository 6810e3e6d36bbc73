"""Run an experiment: each configuration in its own scratch copy, on its own port, recorded.

One run = scratch copy → toggles applied → build (if asked) → start on a free port → the
measurement protocol → stop → copy removed. Each finished run is appended to a JSON-lines record
keyed by the configuration's hash, so an interrupted experiment resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import json
import math
import os
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from leaksleuth.errors import InspectorError, LeakSleuthError, TargetError
from leaksleuth.flows.experiments.config import ExperimentConfig, run_env
from leaksleuth.flows.experiments.design import (
    EMPTY,
    SINGLES_AT,
    Attribution,
    Config,
    Outcome,
    attribute,
    next_wave,
)
from leaksleuth.flows.experiments.scratch import ApplyError, apply_patch, apply_replace, scratch_copy
from leaksleuth.flows.measure import measure_command
from leaksleuth.live.rounds import Progress
from leaksleuth.units import fmt_bytes
from leaksleuth.live.discover import free_port

EventCallback = Callable[[str], None]
RECORD_FILE = "runs.jsonl"


@dataclass(frozen=True)
class RunRecord:
    """One finished run of one configuration, as kept in the resumable record."""

    key: str
    switched_off: list[str]
    status: str  # "ok", "build failed", "start failed"
    error: str | None
    measurement: dict[str, Any] | None  # Measurement.to_json()
    seconds: float
    log_file: str | None = None

    def outcome(self) -> Outcome:
        m = self.measurement
        if self.status != "ok" or m is None:
            return Outcome(None, status=self.status, error=self.error)
        low, high = m["ci95"]
        return Outcome(
            float(m["bytes_per_request"]),
            (-math.inf if low is None else float(low), math.inf if high is None else float(high)),
        )


class RunStore:
    """Finished runs, one JSON object a line; a torn last line (killed mid-write) is ignored."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def load(self) -> dict[str, RunRecord]:
        records: dict[str, RunRecord] = {}
        try:
            lines = self.path.read_text().splitlines()
        except FileNotFoundError:
            return records
        for line in lines:
            try:
                rec = RunRecord(**json.loads(line))
            except (ValueError, TypeError):
                continue
            records[rec.key] = rec
        return records

    def append(self, rec: RunRecord) -> None:
        from leaksleuth.cli.options import finite

        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as f:
            f.write(json.dumps(finite(asdict(rec))) + "\n")
            f.flush()
            os.fsync(f.fileno())


@dataclass
class ExperimentResult:
    config: ExperimentConfig
    records: dict[Config, RunRecord]
    resumed: set[Config]
    attribution: Attribution
    wall_seconds: float
    singles_at: int = SINGLES_AT
    order: list[Config] = field(default_factory=list)  # configurations in the order they were asked for


def describe(cfg: ExperimentConfig, applied: Config) -> str:
    """A configuration in the user's words."""
    if not applied:
        return "all on"
    if len(applied) == len(cfg.toggles):
        return "all off"
    return "without " + ", ".join(cfg.toggles[i].name for i in sorted(applied))


class PortPool:
    """Free loopback ports, never the same one twice to jobs of one experiment."""

    def __init__(self) -> None:
        self.taken: set[int] = set()

    def take(self) -> int:
        for _ in range(50):
            port = free_port()
            if port not in self.taken:
                self.taken.add(port)
                return port
        raise TargetError("no free port on 127.0.0.1")

    def give_back(self, port: int) -> None:
        self.taken.discard(port)


async def run_build(command: str, root: Path, env: dict[str, str], timeout: float, log: Path) -> None:
    """The build in the scratch copy, in its own process group (ended on timeout and Ctrl-C)."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "wb") as out:  # noqa: ASYNC230 - a log file for the child, opened once
        proc = await asyncio.create_subprocess_shell(
            command, cwd=root, env={**os.environ, **env}, stdin=asyncio.subprocess.DEVNULL,
            stdout=out, stderr=asyncio.subprocess.STDOUT, start_new_session=True,
        )
        try:
            code = await asyncio.wait_for(proc.wait(), timeout)
        except BaseException:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            await proc.wait()
            raise
    if code != 0:
        lines = [x.strip() for x in log.read_text(errors="replace").splitlines() if x.strip()]
        errors = [x for x in lines if "error" in x.lower() and not x.startswith("at ")]
        tail = " | ".join((errors or lines)[-3:])[-300:]
        raise ApplyError(f"`{command}` exited with code {code}: {tail} (log: {log})")


async def run_configuration(
    cfg: ExperimentConfig, applied: Config, port: int, state: Path, on_event: EventCallback
) -> RunRecord:
    """Measure one configuration; failures to build or start are recorded, not raised."""
    key = cfg.run_key(applied)
    label = describe(cfg, applied)
    names = [cfg.toggles[i].name for i in sorted(applied)]
    started = time.monotonic()
    env = run_env(cfg, applied, port, dict(os.environ))
    log = state / "logs" / f"{key}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.unlink(missing_ok=True)

    def failed(status: str, error: str) -> RunRecord:
        on_event(f"{label}: {status}: {error}")
        return RunRecord(key, names, status, error, None, time.monotonic() - started, str(log))

    with scratch_copy(cfg.project, state / "scratch", cfg.exclude, cfg.node_modules) as root:
        try:
            for i in sorted(applied):
                t = cfg.toggles[i]
                if t.patch is not None:
                    apply_patch(root, t.patch)
                for dest, source in t.replace:
                    apply_replace(root, dest, source)
            if cfg.build:
                on_event(f"{label}: building")
                await run_build(cfg.build, root, env, cfg.build_timeout, state / "logs" / f"{key}.build.log")
        except ApplyError as exc:
            return failed("build failed", str(exc))
        except TimeoutError:
            return failed("build failed", f"`{cfg.build}` took longer than {cfg.build_timeout:.0f} s")
        except (OSError, subprocess.SubprocessError) as exc:  # no `patch` program, a full disk…
            return failed("build failed", f"{type(exc).__name__}: {exc}")
        on_event(f"{label}: starting on port {port}")

        def progress(p: Progress) -> None:
            if p.phase == "round":
                now = f", now {fmt_bytes(p.bytes_per_request or 0.0, signed=True)}/req" if p.bytes_per_request is not None else ""
                on_event(f"{label}: round {p.round}/{cfg.protocol.min_rounds}+, {p.requests} requests{now}")
            elif p.phase == "warmup":
                on_event(f"{label}: warm-up done, {p.requests} requests")

        try:
            m = await measure_command(
                cfg.command_for(port), cfg.load_for(port), cfg.protocol, cwd=root, env=env,
                ready_timeout=cfg.ready_timeout, log_file=log, on_progress=progress,
            )
        except (TargetError, InspectorError) as exc:
            return failed("start failed", str(exc))
    rec = RunRecord(key, names, "ok", None, m.to_json(), time.monotonic() - started, str(log))
    on_event(f"{label}: {fmt_bytes(m.bytes_per_request, signed=True)}/request, {m.verdict} ({rec.seconds:.0f} s)")
    return rec


async def run_experiment(
    cfg: ExperimentConfig,
    state: Path,
    *,
    jobs: int = 1,
    fresh: bool = False,
    singles_at: int = SINGLES_AT,
    on_event: EventCallback = lambda s: None,
) -> ExperimentResult:
    """Run the adaptive design to the end (resuming from the record in `state`), then attribute."""
    started = time.monotonic()
    store = RunStore(state / RECORD_FILE)
    previous = {} if fresh else store.load()
    n = len(cfg.toggles)
    threshold = cfg.protocol.threshold
    known: dict[Config, Outcome] = {}
    records: dict[Config, RunRecord] = {}
    resumed: set[Config] = set()
    order: list[Config] = []
    ports = PortPool()
    slots = asyncio.Semaphore(max(1, jobs))

    async def one(applied: Config) -> None:
        async with slots:
            port = ports.take()
            try:
                on_event(f"run {len(records) + 1}: {describe(cfg, applied)}")
                rec = await run_configuration(cfg, applied, port, state, on_event)
            finally:
                ports.give_back(port)
        store.append(rec)
        records[applied] = rec
        known[applied] = rec.outcome()

    while wave := next_wave(n, known, threshold, singles_at):
        order.extend(wave)
        todo = []
        for applied in wave:
            rec = previous.get(cfg.run_key(applied))
            if rec is None:
                todo.append(applied)
                continue
            on_event(f"{describe(cfg, applied)}: from the record ({rec.status})")
            records[applied], known[applied] = rec, rec.outcome()
            resumed.add(applied)
        if todo:
            try:
                async with asyncio.TaskGroup() as tg:
                    for applied in todo:
                        tg.create_task(one(applied))
            except* LeakSleuthError as group:  # one line for the user, not a group traceback
                raise group.exceptions[0] from None
    return ExperimentResult(
        cfg, records, resumed, attribute(n, known, threshold, singles_at),
        time.monotonic() - started, singles_at, order,
    )


def default_state_dir(cfg: ExperimentConfig) -> Path:
    return cfg.path.parent / ".leaksleuth"


def clear_stale_scratch(state: Path) -> None:
    """Scratch copies left by a run that was killed outright (SIGKILL leaves no chance to clean)."""
    import shutil

    shutil.rmtree(state / "scratch", ignore_errors=True)


__all__ = ["EMPTY", "ExperimentResult", "RunRecord", "RunStore", "describe", "run_experiment"]
