"""Measurement facts: readings, robust fits, per-process and total results, progress events.

Plain frozen data. Nothing here writes a sentence: `leaksleuth.report` does, from these facts.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field, fields
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Protocol, TypeVar

from leaksleuth.options import TrafficSource

if TYPE_CHECKING:
    from leaksleuth.model.routes import RouteConfirmation, RouteMeasurement

Verdict = Literal["leak", "no leak", "inconclusive"]
Role = Literal["server", "worker", "primary", "agent", "other"]
Phase = Literal["settle", "warmup", "round", "confirm", "snapshot", "analysis"]

VERDICTS: tuple[Verdict, ...] = ("leak", "no leak", "inconclusive")


class Interval(NamedTuple):
    """A 95% interval; an unbounded end is ±inf (written as null in JSON)."""

    low: float
    high: float

    def above(self, threshold: float) -> bool:
        return self.low > threshold

    def below(self, threshold: float) -> bool:
        return self.high < threshold

    @classmethod
    def from_json(cls, value: Any) -> Interval:
        low, high = value
        return cls(-math.inf if low is None else float(low), math.inf if high is None else float(high))


UNBOUNDED = Interval(-math.inf, math.inf)


@dataclass(frozen=True)
class Fit:
    """A robust straight-line fit of a quantity against requests sent."""

    slope: float  # units per request
    intercept: float
    ci95: Interval


@dataclass(frozen=True)
class Reading:
    """One GC'd memory reading of one process after `requests` requests had been sent in total."""

    requests: int
    heap_used: int
    heap_total: int
    rss: int
    external: int
    code_space: int = 0
    resources: dict[str, int] = field(default_factory=dict)
    time: float = 0.0


@dataclass(frozen=True)
class LoadStats:
    requests: int
    errors: int
    status_counts: dict[str, int]
    seconds: float
    latency_ms_p50: float
    latency_ms_p99: float
    route_requests: dict[str, int] = field(default_factory=dict)  # per route, when there are several
    route_errors: dict[str, int] = field(default_factory=dict)
    setup_requests: int = 0  # a scenario's setup step (a login per virtual user), not counted above

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class ProcessMeasurement:
    pid: int
    role: Role
    serving: bool
    title: str
    bytes_per_request: float  # heap used excluding code space
    ci95: Interval
    warmup_bytes: float
    code_bytes_per_request: float
    rss_bytes_per_request: float
    external_bytes_per_request: float
    handles_per_request: dict[str, float]
    verdict: Verdict
    readings: list[Reading]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> ProcessMeasurement:
        values = {f.name: d[f.name] for f in fields(cls) if f.name in d}
        values["ci95"] = Interval.from_json(d["ci95"])
        values["readings"] = [Reading(**r) for r in d["readings"]]
        return cls(**values)


@dataclass(frozen=True)
class Measurement:
    """The result of the measurement protocol over every process of a target."""

    verdict: Verdict
    bytes_per_request: float  # total over serving processes
    ci95: Interval
    warmup_bytes: float
    code_bytes_per_request: float
    rss_bytes_per_request: float
    external_bytes_per_request: float
    timers_per_request: float  # every live Timeout, unref'd ones included
    handles_per_request: dict[str, float]
    requests: int
    errors: int
    threshold: float
    rounds: int
    seconds: float
    load: LoadStats
    processes: list[ProcessMeasurement]
    log_file: str | None = None
    complete: bool = True  # False when the target died mid-run
    warmup_readings: int = 0  # readings before the steady part (the settled baseline, 1 with a warm-up)
    # resources gained per request whose interval says they stay (timers, listeners…): a leak
    # whatever the bytes
    leaking_handles: dict[str, float] = field(default_factory=dict)
    # of timers_per_request (every live Timeout), those unref'd: invisible to Node's own
    # getActiveResourcesInfo, yet they keep their callbacks and all they close over
    unref_timers_per_request: float = 0.0
    # per-route attribution (--per-route, and hunt with several routes): ranked worst first
    routes: list[RouteMeasurement] = field(default_factory=list)
    confirmation: RouteConfirmation | None = None  # the worst route alone, after the fit
    traffic: TrafficSource | None = None  # imported traffic (scenario, HAR, access log)

    @property
    def serving_processes(self) -> list[ProcessMeasurement]:
        """The processes that serve HTTP (all of them when none was told apart)."""
        return serving(self.processes)

    @property
    def growing_elsewhere(self) -> list[ProcessMeasurement]:
        """Processes that serve no HTTP but leak (a cluster master, an Egg agent)."""
        return [p for p in self.processes if not p.serving and p.verdict == "leak"]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> Measurement:
        """The inverse of to_json (extra keys, such as a report's `advice`, are ignored)."""
        values = {f.name: d[f.name] for f in fields(cls) if f.name in d}
        values["ci95"] = Interval.from_json(d["ci95"])
        values["load"] = LoadStats(**d["load"])
        values["processes"] = [ProcessMeasurement.from_json(p) for p in d["processes"]]
        from leaksleuth.model.routes import RouteConfirmation, RouteMeasurement

        values["routes"] = [RouteMeasurement.from_json(r) for r in d.get("routes") or []]
        if d.get("confirmation"):
            values["confirmation"] = RouteConfirmation.from_json(d["confirmation"])
        if d.get("traffic"):
            t = dict(d["traffic"])
            t["dropped_hosts"] = tuple(tuple(x) for x in t.get("dropped_hosts", ()))
            values["traffic"] = TrafficSource(**t)
        return cls(**values)


class Serves(Protocol):
    @property
    def serving(self) -> bool: ...


S = TypeVar("S", bound=Serves)


def serving(items: list[S]) -> list[S]:
    """Those that serve HTTP, else all: a target that serves from no process we told apart is
    measured whole."""
    return [i for i in items if i.serving] or list(items)


@dataclass(frozen=True)
class Progress:
    """One step of a run, as it happens: settle, warm-up, a round, a snapshot, the analysis."""

    phase: Phase
    round: int = 0
    requests: int = 0
    requests_per_second: float = 0.0
    heap_used: dict[int, int] = field(default_factory=dict)  # pid -> bytes
    bytes_per_request: float | None = None
    snapshot: int = 0  # phase "snapshot": which one (1-based) of `snapshots`
    snapshots: int = 0
    pid: int = 0
    role: Role | None = None
    done: int = 0  # phase "snapshot": objects written so far of `total` (0: starting)
    total: int = 0
    routes: tuple[str, ...] = ()  # phases "round" and "confirm" of a per-route run: the routes in focus


@dataclass
class ProcessReadings:
    """The readings of one process so far, with what it is."""

    pid: int
    role: Role
    serving: bool
    title: str
    readings: list[Reading] = field(default_factory=list)
