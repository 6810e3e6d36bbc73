"""Offline heap-snapshot engine: parse, summarise, diff, dominators and retainer paths.

Pure functions over numpy columns; no processes, no network.
"""

from leaksleuth.heap.diff import ClassDiff, HeapDiff, diff_snapshots
from leaksleuth.heap.graph import (
    class_retained_sizes,
    distances,
    dominators,
    retained_sizes,
    retainers,
)
from leaksleuth.heap.locations import SourceLocation, location_of, script_urls
from leaksleuth.heap.parse import load_snapshot
from leaksleuth.heap.paths import PathStep, RetainerPath, format_path, retainer_paths
from leaksleuth.heap.snapshot import HeapNode, HeapSnapshot, Locations
from leaksleuth.heap.summary import ClassSummary, HeapSummary, summarize

__all__ = [
    "ClassDiff",
    "ClassSummary",
    "HeapDiff",
    "HeapNode",
    "HeapSnapshot",
    "HeapSummary",
    "Locations",
    "PathStep",
    "RetainerPath",
    "SourceLocation",
    "class_retained_sizes",
    "diff_snapshots",
    "distances",
    "dominators",
    "format_path",
    "load_snapshot",
    "location_of",
    "retained_sizes",
    "retainer_paths",
    "retainers",
    "script_urls",
    "summarize",
]
