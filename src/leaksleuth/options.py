"""What to run and how: the typed options of measure, hunt, watch and snapshot.

Frozen dataclasses with the CLI's defaults, so a script and the command line mean the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from leaksleuth.errors import UsageError


@dataclass(frozen=True)
class Launch:
    """Start this command (every Node process of its tree is inspected) and stop it after."""

    command: Sequence[str]
    cwd: Path | str | None = None
    env: Mapping[str, str] = field(default_factory=dict)  # added to the inherited environment
    ready_timeout: float = 30.0  # seconds for the URL's port to listen
    log_file: Path | None = None  # the target's stdout/stderr (a temp file otherwise)

    def __post_init__(self) -> None:
        if not self.command:
            raise UsageError("no command given to launch")


@dataclass(frozen=True)
class Attach:
    """A Node process that already runs (its Node children too); left as found."""

    pid: int


Target = Launch | Attach


@dataclass(frozen=True)
class LoadSpec:
    """What traffic to send: URLs round-robin, concurrency, optional `?leaksleuth=<n>`."""

    urls: tuple[str, ...]
    concurrency: int = 8
    vary_query: bool = False
    headers: tuple[tuple[str, str], ...] = ()
    method: str = "GET"

    def __post_init__(self) -> None:
        if not self.urls:
            raise UsageError("give at least one --url")
        if self.concurrency < 1:
            raise UsageError("--concurrency must be at least 1")


@dataclass(frozen=True)
class ProtocolSpec:
    """How to measure: warm-up, rounds, threshold for the verdict, budget."""

    warmup_requests: int = 300
    requests_per_round: int = 0  # 0: about `round_seconds` of load at the measured rate
    round_seconds: float = 1.0
    min_rounds: int = 6
    max_rounds: int = 30
    threshold: float = 256.0  # bytes/request: a leak is an interval wholly above this
    time_budget: float = 60.0  # seconds of rounds before stopping as inconclusive
    settle_timeout: float = 15.0

    def __post_init__(self) -> None:
        if self.min_rounds < 3 or self.max_rounds < self.min_rounds:
            raise UsageError("need min_rounds ≥ 3 and max_rounds ≥ min_rounds (--min-rounds, --rounds)")


@dataclass(frozen=True)
class HuntSpec:
    """The snapshot part of a hunt."""

    snapshots: int = 3
    requests_between: int = 0  # 0: chosen from the measured growth
    always_snapshot: bool = False  # snapshot even when the measurement says "no leak"
    skip_measure: bool = False  # --snapshots: go straight to snapshots
    keep_dir: Path | None = None  # keep snapshot files here (else a temp dir, deleted)
    force: bool = False  # snapshot even when the headroom check refuses
    memory_limit: int | None = None  # bytes, when the target's limit cannot be read


@dataclass(frozen=True)
class WatchSpec:
    interval: float = 30.0  # seconds between readings
    window: int = 20  # readings in the trend
    gc: bool = True  # force a GC before each reading (steadier, costs the target a pause)
    snapshot_at: float | None = None  # fraction of the heap limit that triggers one snapshot
    snapshot_dir: Path = Path(".")
    duration: float | None = None  # seconds; None: until cancelled
    memory_limit: int | None = None

    def __post_init__(self) -> None:
        if self.snapshot_at is not None and not 0 < self.snapshot_at < 1:
            raise UsageError("--snapshot-at is a fraction of the heap limit, between 0 and 1")
        if self.interval <= 0 or self.window < 3:
            raise UsageError("need --interval > 0 and --window ≥ 3")


def as_target(target: Target | int | Sequence[str]) -> Target:
    """A pid is attached to, a command (list of strings) is launched."""
    if isinstance(target, (Launch, Attach)):
        return target
    if isinstance(target, int):
        return Attach(target)
    if isinstance(target, str):
        raise UsageError("give the command as a list of arguments, e.g. ['node', 'server.js']")
    return Launch(list(target))


def as_load(load: LoadSpec | str | Sequence[str]) -> LoadSpec:
    """A URL or a list of URLs is a GET load with the defaults."""
    if isinstance(load, LoadSpec):
        return load
    if isinstance(load, str):
        return LoadSpec((load,))
    return LoadSpec(tuple(load))
