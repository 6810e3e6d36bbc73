"""Experiment facts: the configuration file's content, the runs, and the attribution."""

from __future__ import annotations

import hashlib
import json
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from leaksleuth.errors import UsageError
from leaksleuth.model.measurement import UNBOUNDED, Interval, Measurement
from leaksleuth.options import LoadSpec, ProtocolSpec

Config = frozenset[int]  # the toggles applied (suspects switched off)
EMPTY: Config = frozenset()
SINGLES_AT = 4
RunStatus = Literal["ok", "build failed", "start failed", "not measured"]


def fill(text: str, port: int) -> str:
    return text.replace("{port}", str(port))


def file_digest(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc


@dataclass(frozen=True)
class Toggle:
    """One suspect and how to switch it off."""

    name: str
    env: tuple[tuple[str, str], ...] = ()
    env_remove: tuple[tuple[str, tuple[str, ...]], ...] = ()
    patch: Path | None = None
    replace: tuple[tuple[str, Path], ...] = ()  # (path in the project, replacement file)

    def fingerprint(self) -> dict[str, Any]:
        """What the toggle does, file contents included, so an edited patch is a new run."""
        return {
            "name": self.name,
            "env": list(self.env),
            "env_remove": [[k, list(v)] for k, v in self.env_remove],
            "patch": file_digest(self.patch) if self.patch else None,
            "replace": [[dest, file_digest(src)] for dest, src in self.replace],
        }


@dataclass(frozen=True)
class ExperimentConfig:
    """Everything an experiment needs; frozen, built by `load_config`."""

    path: Path
    project: Path
    command: str
    urls: tuple[str, ...]
    toggles: tuple[Toggle, ...]
    build: str | None = None
    env: tuple[tuple[str, str], ...] = ()
    exclude: tuple[str, ...] = (".git", ".leaksleuth")
    node_modules: str = "link"  # "link": symlink packages; "copy": full copy
    ready_timeout: float = 30.0
    build_timeout: float = 600.0
    protocol: ProtocolSpec = field(default_factory=ProtocolSpec)
    concurrency: int = 8
    vary_query: bool = False

    def command_for(self, port: int) -> list[str]:
        return shlex.split(fill(self.command, port))

    def load_for(self, port: int) -> LoadSpec:
        return LoadSpec(tuple(fill(u, port) for u in self.urls), self.concurrency, self.vary_query)

    def fingerprint(self) -> dict[str, Any]:
        """The parts of the config that change what a run measures (not the toggles)."""
        return {
            "project": str(self.project),
            "command": self.command,
            "urls": list(self.urls),
            "build": self.build,
            "env": list(self.env),
            "protocol": repr(self.protocol),
            "concurrency": self.concurrency,
            "vary_query": self.vary_query,
        }

    def run_key(self, applied: Config) -> str:
        """The hash that names one configuration's run in the resumable record."""
        doc = {"config": self.fingerprint(), "applied": [self.toggles[i].fingerprint() for i in sorted(applied)]}
        return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:16]

    def switched_off(self, applied: Config) -> list[str]:
        return [self.toggles[i].name for i in sorted(applied)]


@dataclass(frozen=True)
class Outcome:
    """What the design needs of one run: the leak with its interval, or why there is none."""

    bytes_per_request: float | None  # None when the configuration failed
    ci95: Interval = UNBOUNDED
    status: RunStatus = "ok"
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok" and self.bytes_per_request is not None


@dataclass(frozen=True)
class Effect:
    """A difference of two leaks, with an approximate 95% interval."""

    value: float
    ci95: Interval

    def above(self, threshold: float) -> bool:
        return self.ci95.above(threshold)


@dataclass(frozen=True)
class Attributed:
    """One toggle's result: its own contribution, or its group's when its group changed nothing."""

    index: int
    effect: Effect | None
    status: RunStatus
    error: str | None
    group: Config  # the toggles measured together (just this one when measured alone)


@dataclass(frozen=True)
class Interaction:
    """A group whose removal differs from the sum of its parts' contributions."""

    group: Config
    observed: Effect
    expected: float
    difference: Effect


@dataclass(frozen=True)
class Attribution:
    toggles: list[Attributed]  # ranked, largest contribution first
    total: Effect | None  # all on − all off
    culprits: Config
    confirmation: Effect | None  # all on − (all on with the culprits switched off)
    interactions: list[Interaction] = field(default_factory=list)


@dataclass(frozen=True)
class RunRecord:
    """One finished run of one configuration, as kept in the resumable record."""

    key: str
    switched_off: list[str]
    status: RunStatus
    error: str | None
    measurement: dict[str, Any] | None  # Measurement.to_json()
    seconds: float
    log_file: str | None = None

    def outcome(self) -> Outcome:
        m = self.measurement
        if self.status != "ok" or m is None:
            return Outcome(None, status=self.status, error=self.error)
        return Outcome(float(m["bytes_per_request"]), Interval.from_json(m["ci95"]))

    def measured(self) -> Measurement | None:
        return Measurement.from_json(self.measurement) if self.measurement is not None else None


@dataclass
class ExperimentResult:
    config: ExperimentConfig
    records: dict[Config, RunRecord]
    resumed: set[Config]
    attribution: Attribution
    wall_seconds: float
    singles_at: int = SINGLES_AT
    order: list[Config] = field(default_factory=list)  # configurations in the order they were asked for


ExperimentStep = Literal["run", "resumed", "building", "starting", "warmup", "round", "measured", "failed"]


@dataclass(frozen=True)
class ExperimentEvent:
    """One step of an experiment, as it happens."""

    step: ExperimentStep
    applied: Config
    toggles: int  # how many toggles the experiment has (to tell "all off")
    switched_off: tuple[str, ...]
    run: int = 0  # step "run": its number
    port: int = 0
    status: RunStatus = "ok"  # step "resumed"/"failed"
    error: str | None = None
    round: int = 0
    min_rounds: int = 0
    requests: int = 0
    bytes_per_request: float | None = None
    verdict: str | None = None
    seconds: float = 0.0
