"""Watch facts: one reading of one process over time, with its trend and time to the limit;
the trend on post-GC troughs, the forecast of the OOM, the cgroup's memory, escalations."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from leaksleuth.model.culprit import Culprit, SourceLocation
from leaksleuth.model.measurement import UNBOUNDED, Interval, Role, Verdict

LimitKind = Literal["heap", "cgroup"]
WatchSource = Literal["inspector", "passive", "metrics"]  # GC'd readings, no GC, the service's /metrics
CaptureKind = Literal["sampling", "snapshots"]


@dataclass(frozen=True)
class CgroupMemory:
    """The memory controller of a process's cgroup (v1 or v2) at one moment."""

    version: int  # 1 or 2
    path: str  # the cgroup's folder
    limit: int | None  # None: unlimited
    usage: int
    inactive_file: int  # page cache the kernel reclaims before it OOM-kills
    oom_kills: int | None  # the cgroup's OOM-kill counter (None when the kernel has none)

    @property
    def working_set(self) -> int:
        """What the OOM killer judges (cAdvisor's container_memory_working_set_bytes)."""
        return max(0, self.usage - self.inactive_file)


@dataclass(frozen=True)
class Sample:
    """One reading of one process from any source: the inspector (with or without a forced GC)
    or the service's own metrics. Missing figures are None."""

    time: float  # seconds since the watch began
    heap_used: int
    code_space: int | None = None  # excluded from the trend: V8 compiling is not a leak
    young_space: int | None = None  # excluded without forced GCs: its sawtooth is scavenges
    rss: int | None = None
    external: int | None = None
    handles: int | None = None
    requests: float | None = None  # a request counter's raw value (it may reset)
    heap_limit: int | None = None  # V8's usable heap limit, when known
    post_gc: bool = False  # read right after a forced GC: a trough by itself
    cgroup: CgroupMemory | None = None


@dataclass(frozen=True)
class Trend:
    """A robust trend on post-GC troughs: Theil–Sen per second (and per request when a request
    counter exists) with Sen's 95% intervals, a Mann–Kendall test, and the verdict."""

    troughs: int  # points fitted
    seconds: float  # time they span
    trough_window: float  # seconds per trough window (0: every reading is post-GC)
    bytes_per_second: float
    ci95: Interval
    bytes_per_request: float | None
    ci95_per_request: Interval | None
    mann_kendall_p: float  # two-sided p-value of "no monotonic trend"
    verdict: Verdict
    level: float  # the fitted trough level at the last trough (bytes)
    counter_resets: int = 0  # the request counter went back (the process restarted)
    collections: int = -1  # drops (GCs of what is fitted) seen in the span; -1: every reading is post-GC


NO_TREND = Trend(0, 0.0, 0.0, 0.0, UNBOUNDED, None, None, 1.0, "inconclusive", 0.0)


@dataclass(frozen=True)
class OomForecast:
    """Seconds until a limit is reached at the trend, with the band of the trend's interval;
    the limit that will be hit first (V8's usable heap or the cgroup's, against its working set)."""

    limit_kind: LimitKind
    limit_bytes: int
    used_bytes: int  # the fitted trough level now, against that limit
    seconds: float | None  # None: not growing
    earliest: float | None  # at the interval's fast end
    latest: float | None  # at its slow end; None: the interval reaches "not growing"
    # (earliest None: the interval has no fast end yet)


@dataclass(frozen=True)
class GrowingSite:
    """An allocation site whose sampled live bytes grew between two sampling profiles."""

    function: str
    location: SourceLocation
    grown_bytes: int
    live_bytes: int
    stack: tuple[str, ...]


@dataclass(frozen=True)
class Capture:
    """An escalation: sampling heap profiles or spaced snapshots of one process, what they found,
    or why it was not done."""

    kind: CaptureKind
    pid: int
    started: float  # seconds since the watch began
    seconds: float
    files: tuple[str, ...] = ()
    sites: tuple[GrowingSite, ...] = ()
    culprits: tuple[Culprit, ...] = ()
    refused: str | None = None  # the headroom check's reason, or another
    forced_gcs: int = 0


@dataclass(frozen=True)
class WatchPoint:
    pid: int
    role: Role
    time: float
    heap_used: int
    rss: int
    heap_limit: int
    bytes_per_second: float  # heap trend over the window (0 until 3 readings)
    seconds_to_limit: float | None  # at that trend; None when not growing
    snapshot: str | None = None  # a snapshot written at this point
    snapshot_refused: str | None = None  # why a snapshot due here was not taken
    lost: bool = False  # the process is gone (this point only says so)
    source: WatchSource = "inspector"
    trend: Trend = NO_TREND  # on post-GC troughs (the verdict, per request when counted)
    forecast: OomForecast | None = None  # the limit hit first, and when
    cgroup: CgroupMemory | None = None
    forced_gcs: int = 0  # by us, since the watch began (0 in passive and metrics modes)
    oom_kills: int = 0  # the cgroup's OOM kills seen since the watch began
    oom_killed: bool = False  # with `lost`: the cgroup's OOM-kill counter rose as it vanished
    capture: Capture | None = None  # an escalation that finished at this point
    counter_reset: bool = False  # the request counter went back since the last reading
