"""Offline heap-snapshot engine: parse, summarise, diff, dominators, retainer paths, growth.

Pure functions over numpy columns: it reads the snapshot files it is given and nothing else
(no processes, no network); it imports no live, flow or report module.
"""

from leaksleuth.heap.culprits import find_culprits, merge
from leaksleuth.heap.diff import ClassDiff, HeapDiff, diff_snapshots
from leaksleuth.heap.graph import (
    class_retained_sizes,
    distances,
    dominators,
    retained_sizes,
    retainers,
)
from leaksleuth.heap.jsrules import node_label
from leaksleuth.heap.locations import ScriptPosition, location_of, script_urls
from leaksleuth.heap.parse import load_snapshot
from leaksleuth.heap.paths import PathStep, RetainerPath, format_path, path_json, retainer_paths
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
    "ScriptPosition",
    "class_retained_sizes",
    "diff_snapshots",
    "distances",
    "dominators",
    "find_culprits",
    "format_path",
    "load_snapshot",
    "location_of",
    "merge",
    "node_label",
    "path_json",
    "retained_sizes",
    "retainer_paths",
    "retainers",
    "script_urls",
    "summarize",
]
