"""The data model: plain, typed facts that every layer passes on and reports render.

A leaf: it imports nothing of leaksleuth but `errors` and `options`.
"""

from leaksleuth.model.culprit import (
    AllocationEvidence,
    ClassCountEvidence,
    ClosureEvidence,
    Culprit,
    CulpritKind,
    Evidence,
    HuntResult,
    OwnerGrowthEvidence,
    RootPathEvidence,
    SkipReason,
    SourceLineEvidence,
    SourceLocation,
)
from leaksleuth.model.measurement import (
    UNBOUNDED,
    VERDICTS,
    Fit,
    Interval,
    LoadStats,
    Measurement,
    Phase,
    ProcessMeasurement,
    ProcessReadings,
    Progress,
    Reading,
    Role,
    Verdict,
    serving,
)
from leaksleuth.model.watch import WatchPoint

__all__ = [
    "UNBOUNDED",
    "VERDICTS",
    "AllocationEvidence",
    "ClassCountEvidence",
    "ClosureEvidence",
    "Culprit",
    "CulpritKind",
    "Evidence",
    "Fit",
    "HuntResult",
    "Interval",
    "LoadStats",
    "Measurement",
    "OwnerGrowthEvidence",
    "Phase",
    "ProcessMeasurement",
    "ProcessReadings",
    "Progress",
    "Reading",
    "Role",
    "RootPathEvidence",
    "SkipReason",
    "SourceLineEvidence",
    "SourceLocation",
    "Verdict",
    "WatchPoint",
    "serving",
]
