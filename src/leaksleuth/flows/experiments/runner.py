"""Run an experiment: each configuration in its own scratch copy, on its own port, recorded.

One run = scratch copy → toggles applied → build (if asked) → start on a free port → the
measurement protocol → stop → copy removed. Each finished run is appended to a JSON-lines record
keyed by the configuration's hash, so an interrupted experiment resumes where it stopped.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path

from leaksleuth.errors import InspectorError, LeakSleuthError, TargetError
from leaksleuth.flows.experiments.config import run_env
from leaksleuth.flows.experiments.design import attribute, next_wave
from leaksleuth.flows.experiments.scratch import ApplyError, apply_patch, apply_replace, scratch_copy
from leaksleuth.flows.measure import measure_target
from leaksleuth.jsonio import finite
from leaksleuth.live.discover import free_port
from leaksleuth.model import Progress
from leaksleuth.model.experiment import (
    SINGLES_AT,
    Config,
    ExperimentConfig,
    ExperimentEvent,
    ExperimentResult,
    Outcome,
    RunRecord,
    RunStatus,
)
from leaksleuth.options import Launch

EventCallback = Callable[[ExperimentEvent], None]
RECORD_FILE = "runs.jsonl"


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
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.path, "a") as f:
            f.write(json.dumps(finite(asdict(rec))) + "\n")
            f.flush()
            os.fsync(f.fileno())


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
    names = cfg.switched_off(applied)
    started = time.monotonic()
    env = run_env(cfg, applied, port, dict(os.environ))
    log = state / "logs" / f"{key}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    log.unlink(missing_ok=True)

    def event(step: str, **facts: object) -> ExperimentEvent:
        e = ExperimentEvent(step, applied, len(cfg.toggles), tuple(names), **facts)  # type: ignore[arg-type]
        on_event(e)
        return e

    def failed(status: RunStatus, error: str) -> RunRecord:
        event("failed", status=status, error=error)
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
                event("building")
                await run_build(cfg.build, root, env, cfg.build_timeout, state / "logs" / f"{key}.build.log")
        except ApplyError as exc:
            return failed("build failed", str(exc))
        except TimeoutError:
            return failed("build failed", f"`{cfg.build}` took longer than {cfg.build_timeout:.0f} s")
        except (OSError, subprocess.SubprocessError) as exc:  # no `patch` program, a full disk…
            return failed("build failed", f"{type(exc).__name__}: {exc}")
        event("starting", port=port)

        def progress(p: Progress) -> None:
            if p.phase in ("round", "warmup"):
                event(p.phase, round=p.round, min_rounds=cfg.protocol.min_rounds, requests=p.requests,
                      bytes_per_request=p.bytes_per_request)

        launch = Launch(cfg.command_for(port), cwd=root, env=env, ready_timeout=cfg.ready_timeout, log_file=log)
        try:
            m = await measure_target(launch, cfg.load_for(port), cfg.protocol, progress)
        except (TargetError, InspectorError) as exc:
            return failed("start failed", str(exc))
    rec = RunRecord(key, names, "ok", None, m.to_json(), time.monotonic() - started, str(log))
    event("measured", bytes_per_request=m.bytes_per_request, verdict=m.verdict, seconds=rec.seconds)
    return rec


async def run_experiment(
    cfg: ExperimentConfig,
    state: Path,
    *,
    jobs: int = 1,
    fresh: bool = False,
    singles_at: int = SINGLES_AT,
    on_event: EventCallback = lambda e: None,
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
                on_event(ExperimentEvent("run", applied, n, tuple(cfg.switched_off(applied)), run=len(records) + 1))
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
            on_event(ExperimentEvent("resumed", applied, n, tuple(cfg.switched_off(applied)), status=rec.status))
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
    shutil.rmtree(state / "scratch", ignore_errors=True)


__all__ = ["RunStore", "run_experiment"]
