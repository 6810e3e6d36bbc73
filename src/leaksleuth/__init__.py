"""leaksleuth: find, measure and pinpoint memory leaks in Node.js servers.

    import leaksleuth
    m = leaksleuth.measure(leaksleuth.Launch(["node", "server.js"], env={"PORT": "3000"}),
                           "http://127.0.0.1:3000/")
    print(m.verdict, m.bytes_per_request, m.ci95)
"""

import importlib as _importlib
import importlib.metadata as _metadata
import typing as _typing

if _typing.TYPE_CHECKING:  # the names, for type checkers; at run time they load on first use
    from leaksleuth.api import (
        alerting_rules,
        find_culprits,
        fleet,
        fleet_async,
        hunt,
        hunt_async,
        load_snapshot,
        load_traffic,
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
        MetricsError,
        PrometheusError,
        SnapshotError,
        TargetError,
        TargetExited,
        UsageError,
    )
    from leaksleuth.heap.snapshot import HeapSnapshot
    from leaksleuth.model import (
        Culprit,
        Evidence,
        FleetGroup,
        FleetPod,
        FleetResult,
        HuntResult,
        Interval,
        LoadStats,
        Measurement,
        OomForecast,
        ProcessMeasurement,
        Progress,
        Reading,
        RouteConfirmation,
        RouteMeasurement,
        SourceLocation,
        Trend,
        Verdict,
        WatchPoint,
    )
    from leaksleuth.options import (
        Attach,
        FleetSpec,
        HuntSpec,
        Launch,
        LoadSpec,
        ProtocolSpec,
        RequestSpec,
        RulesSpec,
        TrafficSource,
        WatchSpec,
    )

# `import leaksleuth.heap` must not load the live side (aiohttp, websockets…): the public names
# are imported on first use (PEP 562)
_WHERE = {
    "Attach": "leaksleuth.options",
    "Culprit": "leaksleuth.model",
    "Evidence": "leaksleuth.model",
    "FleetGroup": "leaksleuth.model",
    "FleetPod": "leaksleuth.model",
    "FleetResult": "leaksleuth.model",
    "FleetSpec": "leaksleuth.options",
    "HeadroomError": "leaksleuth.errors",
    "HeapSnapshot": "leaksleuth.heap.snapshot",
    "HuntResult": "leaksleuth.model",
    "HuntSpec": "leaksleuth.options",
    "InspectorError": "leaksleuth.errors",
    "Interval": "leaksleuth.model",
    "Launch": "leaksleuth.options",
    "LeakSleuthError": "leaksleuth.errors",
    "LoadSpec": "leaksleuth.options",
    "LoadStats": "leaksleuth.model",
    "Measurement": "leaksleuth.model",
    "MetricsError": "leaksleuth.errors",
    "OomForecast": "leaksleuth.model",
    "ProcessMeasurement": "leaksleuth.model",
    "Progress": "leaksleuth.model",
    "PrometheusError": "leaksleuth.errors",
    "ProtocolSpec": "leaksleuth.options",
    "Reading": "leaksleuth.model",
    "RequestSpec": "leaksleuth.options",
    "RouteConfirmation": "leaksleuth.model",
    "RouteMeasurement": "leaksleuth.model",
    "RulesSpec": "leaksleuth.options",
    "SnapshotError": "leaksleuth.errors",
    "SourceLocation": "leaksleuth.model",
    "TargetError": "leaksleuth.errors",
    "TargetExited": "leaksleuth.errors",
    "TrafficSource": "leaksleuth.options",
    "Trend": "leaksleuth.model",
    "UsageError": "leaksleuth.errors",
    "Verdict": "leaksleuth.model",
    "WatchPoint": "leaksleuth.model",
    "WatchSpec": "leaksleuth.options",
    "alerting_rules": "leaksleuth.api",
    "find_culprits": "leaksleuth.api",
    "fleet": "leaksleuth.api",
    "fleet_async": "leaksleuth.api",
    "hunt": "leaksleuth.api",
    "hunt_async": "leaksleuth.api",
    "load_snapshot": "leaksleuth.api",
    "load_traffic": "leaksleuth.api",
    "measure": "leaksleuth.api",
    "measure_async": "leaksleuth.api",
    "snapshot": "leaksleuth.api",
    "snapshot_async": "leaksleuth.api",
    "watch": "leaksleuth.api",
    "watch_async": "leaksleuth.api",
}


def __getattr__(name: str) -> _typing.Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'leaksleuth' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))


try:
    __version__ = _metadata.version("leaksleuth")
except _metadata.PackageNotFoundError:  # a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "Attach",
    "Culprit",
    "Evidence",
    "FleetGroup",
    "FleetPod",
    "FleetResult",
    "FleetSpec",
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
    "MetricsError",
    "OomForecast",
    "ProcessMeasurement",
    "Progress",
    "PrometheusError",
    "ProtocolSpec",
    "Reading",
    "RequestSpec",
    "RouteConfirmation",
    "RouteMeasurement",
    "RulesSpec",
    "SnapshotError",
    "SourceLocation",
    "TargetError",
    "TargetExited",
    "TrafficSource",
    "Trend",
    "UsageError",
    "Verdict",
    "WatchPoint",
    "WatchSpec",
    "__version__",
    "alerting_rules",
    "find_culprits",
    "fleet",
    "fleet_async",
    "hunt",
    "hunt_async",
    "load_snapshot",
    "load_traffic",
    "measure",
    "measure_async",
    "snapshot",
    "snapshot_async",
    "watch",
    "watch_async",
]
