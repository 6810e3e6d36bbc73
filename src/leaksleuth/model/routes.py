"""Per-route facts: what each route keeps per request, and the check of the worst one alone.

Plain frozen data; `leaksleuth.report` writes the sentences.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from leaksleuth.model.measurement import Interval, Verdict

# measured: its own coefficient; group: measured with others that together stay under the
# threshold (never split: the interval bounds each of them); failed: mostly errors, not measured
RouteStatus = Literal["measured", "group", "failed"]


@dataclass(frozen=True)
class RouteMeasurement:
    """Heap kept per request of one route, from the per-route fit of every round."""

    route: str  # method and path as given ("GET /search"), or the scenario's name for it
    requests: int  # sent in all (warm-up and the rounds of other routes' background included)
    errors: int  # 4xx, 5xx and failed connections
    bytes_per_request: float  # NaN when not measured
    ci95: Interval
    verdict: Verdict
    status: RouteStatus = "measured"
    status_counts: dict[str, int] = field(default_factory=dict)
    group: tuple[str, ...] = ()  # status "group": the routes measured together (itself included)
    rounds: int = 0  # rounds in which it was the focus

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RouteMeasurement:
        bpr = d.get("bytes_per_request")
        return cls(
            route=d["route"], requests=int(d["requests"]), errors=int(d["errors"]),
            bytes_per_request=float("nan") if bpr is None else float(bpr), ci95=Interval.from_json(d["ci95"]),
            verdict=d["verdict"], status=d.get("status", "measured"), status_counts=dict(d.get("status_counts", {})),
            group=tuple(d.get("group", ())), rounds=int(d.get("rounds", 0)),
        )


@dataclass(frozen=True)
class RouteConfirmation:
    """One round of the worst route alone, after the fit: what it kept against the prediction."""

    route: str
    requests: int
    bytes_per_request: float  # observed: heap growth over that round / its requests
    predicted: float  # the route's coefficient before this round
    ci95: Interval  # where the observation should fall: the coefficient's and one round's noise
    agrees: bool

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> RouteConfirmation:
        return cls(d["route"], int(d["requests"]), float(d["bytes_per_request"]), float(d["predicted"]),
                   Interval.from_json(d["ci95"]), bool(d["agrees"]))
