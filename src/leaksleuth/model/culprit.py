"""Culprit facts: what grows per request, the path that keeps it, where the code is, and the
evidence behind each claim. `leaksleuth.report` turns the evidence into sentences."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from leaksleuth.model.measurement import Measurement, Verdict

CulpritKind = Literal["object", "timer", "listener", "collection"]
SkipReason = Literal["no leak", "headroom"]


@dataclass(frozen=True)
class SourceLocation:
    """A place in source code, 1-based; `file` is shown relative to the project when inside it."""

    file: str
    line: int
    column: int

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
    def verdict(self) -> Verdict:
        if self.measurement is not None:
            return self.measurement.verdict
        return "leak" if self.culprits else "no leak"
