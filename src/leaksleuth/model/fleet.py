"""Fleet facts: per pod and per version, read from a Prometheus-compatible server."""

from __future__ import annotations

from dataclasses import dataclass

from leaksleuth.model.measurement import Verdict
from leaksleuth.model.watch import OomForecast, Trend


@dataclass(frozen=True)
class FleetPod:
    """One pod (one series key: namespace, pod, container, or instance) over the range."""

    labels: dict[str, str]  # the key labels, and the version label when present
    version: str | None
    trend: Trend  # heap used minus code space, on post-GC troughs (per request when counted)
    rss_trend: Trend | None  # resident memory (or the container's working set) on troughs
    forecast: OomForecast | None  # the limit hit first, and when
    restarts: int | None  # seen in the range (kube restarts counter or process start times)
    oom_kills: int | None  # seen in the range (last terminated reason OOMKilled), None: no such series
    heap_used: float  # the post-GC heap now (the fitted trough level; code and young spaces left out)
    samples: int

    @property
    def verdict(self) -> Verdict:
        return self.trend.verdict


@dataclass(frozen=True)
class FleetGroup:
    """The pods of one version (the canary question: which version leaks)."""

    labels: dict[str, str]
    pods: int
    leaking_pods: int
    verdict: Verdict
    bytes_per_request: float | None  # median over its pods
    bytes_per_second: float  # median over its pods


@dataclass(frozen=True)
class FleetResult:
    """What `fleet` found: pods ranked worst first, the versions, and what was missing."""

    prometheus: str
    selector: str
    since: float  # seconds of history
    step: float  # seconds between points asked for
    series: int  # series of the heap metric the selector matches
    pods: list[FleetPod]
    groups: list[FleetGroup]
    request_metric: str | None  # the counter used for bytes per request (None: none found)
    version_label: str
    shown_limit: int  # most pods analysed (the worst by the server-side trend)
    leaking_versions: tuple[str, ...] = ()  # versions with leaking pods while another has none
    missing: tuple[str, ...] = ()  # metrics asked for that matched nothing
    counter_resets: int = 0
    queries: int = 0
    reset_pods: tuple[str, ...] = ()  # pods (as label text) whose request counter went back

    @property
    def verdict(self) -> Verdict:
        verdicts = {p.verdict for p in self.pods}
        if "leak" in verdicts:
            return "leak"
        if verdicts and verdicts == {"no leak"}:
            return "no leak"
        return "inconclusive"
