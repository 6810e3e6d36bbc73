"""leaksleuth: find, measure and pinpoint memory leaks in Node.js servers.

    import leaksleuth
    m = leaksleuth.measure(leaksleuth.Launch(["node", "server.js"], env={"PORT": "3000"}),
                           "http://127.0.0.1:3000/")
    print(m.verdict, m.bytes_per_request, m.ci95)
"""

import importlib.metadata as _metadata

from leaksleuth.api import (
    find_culprits,
    hunt,
    hunt_async,
    load_snapshot,
    measure,
    measure_async,
    snapshot,
    snapshot_async,
    watch,
    watch_async,
)
from leaksleuth.errors import (
    HeadroomError,
    InspectorError,
    LeakSleuthError,
    SnapshotError,
    TargetError,
    TargetExited,
    UsageError,
)
from leaksleuth.heap.snapshot import HeapSnapshot
from leaksleuth.model import (
    Culprit,
    Evidence,
    HuntResult,
    Interval,
    LoadStats,
    Measurement,
    ProcessMeasurement,
    Progress,
    Reading,
    SourceLocation,
    Verdict,
    WatchPoint,
)
from leaksleuth.options import Attach, HuntSpec, Launch, LoadSpec, ProtocolSpec, WatchSpec

try:
    __version__ = _metadata.version("leaksleuth")
except _metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "Attach",
    "Culprit",
    "Evidence",
    "HeadroomError",
    "HeapSnapshot",
    "HuntResult",
    "HuntSpec",
    "InspectorError",
    "Interval",
    "Launch",
    "LeakSleuthError",
    "LoadSpec",
    "LoadStats",
    "Measurement",
    "ProcessMeasurement",
    "Progress",
    "ProtocolSpec",
    "Reading",
    "SnapshotError",
    "SourceLocation",
    "TargetError",
    "TargetExited",
    "UsageError",
    "Verdict",
    "WatchPoint",
    "WatchSpec",
    "__version__",
    "find_culprits",
    "hunt",
    "hunt_async",
    "load_snapshot",
    "measure",
    "measure_async",
    "snapshot",
    "snapshot_async",
    "watch",
    "watch_async",
]
