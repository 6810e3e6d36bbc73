"""The report dataclasses. Their `to_json()` output is the JSON contract of the CLI's `--json`."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

Verdict = Literal["leak", "no leak", "inconclusive"]


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
class Fit:
    """A robust straight-line fit of a quantity against requests sent."""

    slope: float  # units per request
    intercept: float
    ci95: tuple[float, float]


@dataclass(frozen=True)
class ProcessMeasurement:
    pid: int
    role: str  # "server", "worker", "primary", "agent", "other"
    serving: bool
    title: str
    bytes_per_request: float  # heap used excluding code space
    ci95: tuple[float, float]
    warmup_bytes: float
    code_bytes_per_request: float
    rss_bytes_per_request: float
    external_bytes_per_request: float
    handles_per_request: dict[str, float]
    verdict: Verdict
    readings: list[Reading]

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["ci95"] = list(self.ci95)
        d["readings"] = [asdict(r) for r in self.readings]
        return d


@dataclass(frozen=True)
class LoadStats:
    requests: int
    errors: int
    status_counts: dict[str, int]
    seconds: float
    latency_ms_p50: float
    latency_ms_p99: float

    @property
    def requests_per_second(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True)
class Measurement:
    """The result of the measurement protocol over every process of a target."""

    verdict: Verdict
    advice: str
    bytes_per_request: float  # total over serving processes
    ci95: tuple[float, float]
    warmup_bytes: float
    code_bytes_per_request: float
    rss_bytes_per_request: float
    external_bytes_per_request: float
    timers_per_request: float
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

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["ci95"] = list(self.ci95)
        d["load"] = asdict(self.load)
        d["processes"] = [p.to_json() for p in self.processes]
        return d
