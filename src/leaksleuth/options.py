"""What to run and how: the typed options of measure, hunt, watch and snapshot.

Frozen dataclasses with the CLI's defaults, so a script and the command line mean the same.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

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


BodyKind = Literal["raw", "json", "form"]


@dataclass(frozen=True)
class RequestSpec:
    """One kind of request: a template whose `{n}` (the request's number), `{user}` (the virtual
    user's) and `{name}` (a random pick from `LoadSpec.variables`) are filled in when it is sent."""

    url: str  # absolute, on the loopback
    method: str = "GET"
    headers: tuple[tuple[str, str], ...] = ()
    body: str | None = None  # the text sent; for "form" an urlencoded template
    body_kind: BodyKind = "raw"  # how values are escaped into the body
    weight: float = 1.0  # share of the traffic, relative to the other requests
    route: str = ""  # what the request is attributed to (default: method and path, see route_name)
    template: bool = True  # False: sent as recorded (a HAR, a log), no placeholder filled in

    def __post_init__(self) -> None:
        if not self.weight > 0:
            raise UsageError(f"the weight of {self.method} {self.url} must be positive")
        object.__setattr__(self, "method", self.method.upper())


@dataclass(frozen=True)
class TrafficSource:
    """Where imported traffic came from (a scenario file, a HAR, an access log) and what of it
    was kept: requests to the target's own origin; other hosts are dropped and counted."""

    kind: Literal["scenario", "har", "access-log"]
    path: str
    entries: int  # requests (HAR entries, log lines) read
    kept: int  # of them, replayed
    dropped_hosts: tuple[tuple[str, int], ...] = ()  # other origins and how many requests each
    unparsed: int = 0  # lines or entries that are not requests (a log's garbage, a data: URL)
    origin: str = ""  # the origin whose requests were kept (rewritten to the base)
    base: str = ""  # where they are sent


@dataclass(frozen=True)
class LoadSpec:
    """What traffic to send: URLs round-robin (or weighted request templates with a setup step
    per virtual user), concurrency = virtual users, optional `?leaksleuth=<n>`; `per_route`
    attributes the growth to each route (see live/route_rounds.py)."""

    urls: tuple[str, ...] = ()
    concurrency: int = 8
    vary_query: bool = False
    headers: tuple[tuple[str, str], ...] = ()
    method: str = "GET"
    requests: tuple[RequestSpec, ...] = ()  # instead of `urls`: templates with weights and routes
    setup: tuple[RequestSpec, ...] = ()  # sent once per virtual user, in order, before its first request
    variables: tuple[tuple[str, tuple[str, ...]], ...] = ()  # `{name}` → one of these values
    per_route: bool = False
    seed: int = 0  # of the random picks of `variables`
    source: TrafficSource | None = None

    def __post_init__(self) -> None:
        if not self.urls and not self.requests:
            raise UsageError("give at least one --url (or --scenario, --har, --access-log)")
        if self.concurrency < 1:
            raise UsageError("--concurrency must be at least 1")
        if not self.urls:  # the URLs of the templates: the first one tells the target's port
            object.__setattr__(self, "urls", tuple(dict.fromkeys(r.url for r in self.requests)))

    def templates(self) -> tuple[RequestSpec, ...]:
        """The kinds of request sent: the templates, or one GET (`method`) per URL."""
        return self.requests or tuple(RequestSpec(u, self.method) for u in self.urls)

    def routes(self) -> tuple[str, ...]:
        """The routes, in the order first given."""
        return tuple(dict.fromkeys(route_name(r) for r in self.templates()))


def route_name(r: RequestSpec) -> str:
    """A request's route: its given name, else method and path as given (`GET /search`)."""
    if r.route:
        return r.route
    rest = r.url.split("://", 1)[-1]
    path = "/" + rest.split("/", 1)[1] if "/" in rest else "/"
    return f"{r.method} {path.split('?', 1)[0].split('#', 1)[0]}"


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


Escalation = Literal["off", "sampling", "snapshots"]


@dataclass(frozen=True)
class WatchSpec:
    interval: float = 30.0  # seconds between readings
    window: int = 20  # troughs in the trend (with forced GCs every reading is one)
    gc: bool = True  # force a GC before each reading (steadier, costs the target a pause)
    snapshot_at: float | None = None  # fraction of the heap limit that triggers one snapshot
    snapshot_dir: Path = Path(".")
    duration: float | None = None  # seconds; None: until cancelled
    memory_limit: int | None = None
    passive: bool = False  # through the inspector, but never a forced GC (not even to escalate)
    metrics_url: str | None = None  # read the service's own metrics instead: no inspector at all
    request_metric: str | None = None  # the request counter (default: http_requests_total if exported)
    serve: str | None = None  # "host:port": expose our figures for Prometheus to scrape
    threshold: float = 256.0  # bytes/request that make a leak (with a request counter)
    rate_threshold: float | None = None  # bytes/second that make a leak without a request counter;
    # None: what would reach the limit within `horizon` (1 KB/s when no limit is known)
    horizon: float = 2 * 86400.0
    escalate: Escalation = "sampling"  # on a leak: the sampling profiler; "snapshots": then snapshots
    cooldown: float = 600.0  # seconds between two escalations of one process
    max_escalations: int = 2  # per process
    spacing: float = 0.0  # seconds between two profiles or snapshots (0: 3 readings' worth, ≥ 5 s)
    heap_limit: int | None = None  # V8's usable heap, when it cannot be read (metrics mode)

    def __post_init__(self) -> None:
        if self.snapshot_at is not None and not 0 < self.snapshot_at < 1:
            raise UsageError("--snapshot-at is a fraction of the heap limit, between 0 and 1")
        if self.interval <= 0 or self.window < 3:
            raise UsageError("need --interval > 0 and --window ≥ 3")
        if self.passive or self.metrics_url:
            object.__setattr__(self, "gc", False)
        if self.passive and self.escalate == "snapshots":
            raise UsageError("--passive never forces a GC, and a snapshot is one: use --escalate sampling")
        if self.metrics_url and self.snapshot_at is not None:
            raise UsageError("--snapshot-at needs the inspector: drop --metrics or --snapshot-at")
        if self.escalate not in ("off", "sampling", "snapshots"):
            raise UsageError("--escalate is off, sampling or snapshots")
        if self.cooldown < 0 or self.max_escalations < 0 or self.spacing < 0:
            raise UsageError("--cooldown, --max-escalations and --spacing cannot be negative")
        if not self.spacing:
            object.__setattr__(self, "spacing", max(5.0, 3 * self.interval))
        if self.serve is not None:
            serve_address(self.serve)


def serve_address(text: str) -> tuple[str, int]:
    """`host:port` (or `:port`, on 127.0.0.1) of `--serve`."""
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit() or not 0 <= int(port) < 65536:
        raise UsageError(f"--serve wants host:port, e.g. 127.0.0.1:9477 (got {text!r})")
    return (host.strip("[]") or "127.0.0.1"), int(port)


HOUR = 3600.0


@dataclass(frozen=True)
class FleetSpec:
    """What `fleet` asks a Prometheus-compatible server, and how it judges each pod."""

    prometheus: str  # base URL, e.g. http://127.0.0.1:9090
    selector: str = ""  # PromQL label matchers, e.g. 'job="ssr"' (braces optional)
    since: float = 6 * HOUR  # seconds of history
    step: float = 0.0  # seconds per point (a trough window, computed server-side); 0: since / 120, ≥ 1 s
    request_metric: str | None = None  # default: http_requests_total when the series exists
    version_label: str = "version"
    pod_labels: tuple[str, ...] = ("namespace", "pod", "container")  # else `instance`
    threshold: float = 256.0  # bytes/request
    rate_threshold: float = 1024.0  # bytes/second, for pods without a request counter
    top: int = 50  # pods analysed: the worst by the server-side trend

    def __post_init__(self) -> None:
        object.__setattr__(self, "selector", self.selector.strip().removeprefix("{").removesuffix("}").strip())
        if self.since <= 0 or self.step < 0 or self.top < 1:
            raise UsageError("need --since > 0, --step ≥ 0 and --top ≥ 1")
        if not self.step:
            object.__setattr__(self, "step", max(1.0, round(self.since / 120)))
        if self.since / self.step < 8:
            raise UsageError(f"--since {self.since:g}s holds fewer than 8 steps of {self.step:g}s: no trend can be told")


@dataclass(frozen=True)
class RulesSpec:
    """Prometheus alerting rules with the same maths: troughs, their trend, time to OOM."""

    selector: str = ""
    trough_window: str = "5m"  # the lower envelope's window (longer than a GC cycle)
    trend_range: str = "1h"  # the range the trend is fitted over
    alert_for: str = "15m"
    eval_interval: str | None = None  # the group's evaluation interval (default: Prometheus's)
    threshold: float = 256.0  # bytes/request
    rate_threshold: float = 1024.0  # bytes/second, for series without a request counter
    request_metric: str = "http_requests_total"
    oom_horizon: str = "4h"  # alert when the container's limit is reached within this
    pod_labels: tuple[str, ...] = ("namespace", "pod", "container", "instance", "job")


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
