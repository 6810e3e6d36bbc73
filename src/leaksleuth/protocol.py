"""The basic operation, automated: settle, warm-up, rounds of requests, GC + read, robust fit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from leaksleuth.report.model import Measurement


@dataclass(frozen=True)
class LoadSpec:
    """What traffic to send: URLs round-robin, concurrency, optional `?leaksleuth=<n>`."""

    urls: tuple[str, ...]
    concurrency: int = 8
    vary_query: bool = False
    headers: tuple[tuple[str, str], ...] = ()
    method: str = "GET"


@dataclass(frozen=True)
class ProtocolSpec:
    """How to measure: warm-up, rounds, threshold for the verdict, budget."""

    warmup_requests: int = 200
    requests_per_round: int = 0  # 0: chosen from the measured request rate
    min_rounds: int = 6
    max_rounds: int = 40
    threshold: float = 1024.0  # bytes/request: below is "no leak", above is "leak"
    time_budget: float = 60.0  # seconds of rounds before giving up as inconclusive
    settle_timeout: float = 15.0


@dataclass(frozen=True)
class Progress:
    phase: str  # "settle", "warmup", "round", "done"
    round: int
    requests: int
    requests_per_second: float
    heap_used: dict[int, int] = field(default_factory=dict)  # pid -> bytes


ProgressCallback = Callable[[Progress], None]


async def measure_command(
    command: list[str],
    load: LoadSpec,
    spec: ProtocolSpec = ProtocolSpec(),
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    ready_timeout: float = 30.0,
    log_file: Path | None = None,
    on_progress: ProgressCallback | None = None,
) -> Measurement:
    """Launch `command` (every Node process of its tree inspected), measure, stop it, return."""
    raise NotImplementedError
