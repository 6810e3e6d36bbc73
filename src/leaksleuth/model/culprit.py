"""Culprit facts: what grows per request, the path that keeps it, where the code is, and the
evidence behind each claim. `leaksleuth.report` turns the evidence into sentences."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from leaksleuth.model.measurement import Measurement, Verdict

CulpritKind = Literal["object", "timer", "listener", "collection"]
SkipReason = Literal["no leak", "headroom"]
CodeOrigin = Literal["app", "library", "node"]  # whose code a place is in
# what the code at a place does for a culprit: adds the listener or record that stays
# ("registers"), allocates what grows, defines the closure or callback that keeps it, or is the
# app's call into the library that keeps it
LocationRole = Literal["registers", "allocates", "defines", "calls"]
# how the place was found: a closure's position recorded in the heap, reading the script, the
# sampling profiler's allocation stack, or searching the generated code and mapping it back
LocationVia = Literal["source map", "heap", "script", "allocation stack"]


@dataclass(frozen=True)
class SourceLocation:
    """A place in source code, 1-based; `file` is shown relative to the project when inside it.

    It is the original place: a place in generated code (a bundle, a chunk, a vm script) is
    mapped through its source map, and `generated` keeps where V8 saw it. Two locations are the
    same place when file, line and column are; the rest describes it."""

    file: str
    line: int
    column: int
    origin: CodeOrigin = field(default="app", compare=False)
    package: str | None = field(default=None, compare=False)  # "node-cache@5.1.2" for library code
    generated: str | None = field(default=None, compare=False)  # "file:line:col" V8 ran, if mapped
    role: LocationRole | None = field(default=None, compare=False)
    via: LocationVia | None = field(default=None, compare=False)

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class OwnerGrowthEvidence:
    """New objects charged to one owner grew in step with requests across the snapshots."""

    owner_class: str
    owner_id: int
    bytes_by_snapshot: tuple[int, ...]


@dataclass(frozen=True)
class ClassCountEvidence:
    """Live objects of one class created since the first snapshot, counted per request."""

    class_name: str
    objects_per_request: float


@dataclass(frozen=True)
class RootPathEvidence:
    """The whole path from the GC roots, when the one shown starts further down."""

    steps: tuple[str, ...]


@dataclass(frozen=True)
class SourceLineEvidence:
    """A line found by reading the script: where a listener is registered, or where a named
    collection grows."""

    role: Literal["registers", "grows"]
    name: str  # the event, or the variable
    text: str  # the line of code


@dataclass(frozen=True)
class ClosureEvidence:
    """The location is where this closure is defined (V8's recorded position)."""

    closure: str


@dataclass(frozen=True)
class WeakMapRouteEvidence:
    """The shortest way to the objects ran through a WeakMap (Vue 3's `reactiveMap`, a cache
    keyed by them), which keeps nothing alive by itself: they are charged to the holder of the
    keys, found over strong references only."""

    weakmap: str  # how the WeakMap is named: its variable, or "WeakMap @id"
    bytes_per_request: float  # what the WeakMap route had been charged with


@dataclass(frozen=True)
class AllocationEvidence:
    """The sampling heap profiler saw still-live memory allocated under this frame."""

    live_bytes: int
    function: str
    location: SourceLocation
    stack: tuple[str, ...]  # user frames, outermost first


Evidence = (
    OwnerGrowthEvidence
    | ClassCountEvidence
    | RootPathEvidence
    | SourceLineEvidence
    | ClosureEvidence
    | AllocationEvidence
    | WeakMapRouteEvidence
)


@dataclass
class Culprit:
    """One thing that grows per request, why it stays alive, and where the code is."""

    kind: CulpritKind
    bytes_per_request: float
    objects_per_request: float
    constructor: str
    path: list[str]
    location: SourceLocation | None
    evidence: list[Evidence] = field(default_factory=list)
    owner: str = ""
    rank: int = 0
    processes: list[int] = field(default_factory=list)
    # every place that matters, app and library (the primary `location` is among them)
    locations: list[SourceLocation] = field(default_factory=list)
    # bytes charged to it since the first snapshot, at each snapshot (summed over processes)
    bytes_by_snapshot: list[int] = field(default_factory=list)
    routes: list[str] = field(default_factory=list)  # the routes it grows with (a per-route hunt)

    def add_location(self, loc: SourceLocation) -> None:
        """Record a place once (same file:line:column and role). The primary `location` is the
        first app place, else the first place at all (a library's or Node's line)."""
        if any(existing == loc and existing.role == loc.role for existing in self.locations):
            return
        self.locations.append(loc)
        if self.location is None or (loc.origin == "app" and self.location.origin != "app"):
            self.location = loc

    @property
    def signature(self) -> tuple[str, ...]:
        """What makes two processes' culprits the same one (Egg workers)."""
        return (self.kind, self.constructor, *self.path)


@dataclass
class HuntResult:
    """A hunt: the measurement (None with snapshots only), the snapshots and the culprits."""

    measurement: Measurement | None
    culprits: list[Culprit]
    snapshot_requests: list[int] = field(default_factory=list)
    snapshot_files: list[str] = field(default_factory=list)
    snapshot_seconds: float = 0.0
    analysis_seconds: float = 0.0
    skipped: SkipReason | None = None  # why no snapshots were taken
    skipped_detail: str | None = None  # with "headroom": what the check found
    project: str | None = None

    @property
    def explained_bytes_per_request(self) -> float:
        """Bytes/request the culprits account for (their sum)."""
        return sum(max(c.bytes_per_request, 0.0) for c in self.culprits)

    @property
    def coverage(self) -> float | None:
        """Share of the measured bytes/request the culprits explain (None without a measured leak)."""
        if self.measurement is None or self.measurement.bytes_per_request <= 0 or not self.culprits:
            return None
        return self.explained_bytes_per_request / self.measurement.bytes_per_request

    @property
    def unexplained_bytes_per_request(self) -> float | None:
        """Measured bytes/request no culprit accounts for (never below zero)."""
        if self.coverage is None or self.measurement is None:
            return None
        return max(self.measurement.bytes_per_request - self.explained_bytes_per_request, 0.0)

    @property
    def verdict(self) -> Verdict:
        if self.measurement is not None:
            return self.measurement.verdict
        return "leak" if self.culprits else "no leak"
