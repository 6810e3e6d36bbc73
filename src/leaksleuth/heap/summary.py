"""Summary like DevTools' Summary view: per constructor (class) count, self and retained size."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from leaksleuth.heap.graph import class_retained_sizes
from leaksleuth.heap.snapshot import HeapSnapshot


@dataclass(frozen=True)
class ClassSummary:
    """One row of the summary: all nodes DevTools groups under one constructor or type."""

    name: str
    type: str
    count: int
    self_size: int
    retained_size: int

    def to_json(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class HeapSummary:
    nodes: int
    edges: int
    total_size: int
    constructors: list[ClassSummary]  # by retained size, largest first

    def to_json(self) -> dict[str, object]:
        return {
            "nodes": self.nodes,
            "edges": self.edges,
            "total_size": self.total_size,
            "constructors": [c.to_json() for c in self.constructors],
        }


def class_counts(snap: HeapSnapshot) -> tuple[np.ndarray, np.ndarray]:
    """Per class key: (count, self size) over the nodes the summary counts."""
    keys = snap.class_keys()
    counted = snap.counted_in_summary()
    n_keys = len(snap.strings) + len(snap.node_type_names)
    counts = np.bincount(keys[counted], minlength=n_keys)
    self_sizes = np.bincount(
        keys[counted], weights=snap.node_self_size[counted], minlength=n_keys
    ).astype(np.int64)
    return counts, self_sizes


def summarize(snap: HeapSnapshot, top: int | None = None) -> HeapSummary:
    """Group nodes by constructor/type, sorted by retained size (then count, name)."""
    counts, self_sizes = class_counts(snap)
    retained = class_retained_sizes(snap)
    present = np.flatnonzero(counts)
    # one representative node per class gives the class its node type
    keys = snap.class_keys()
    counted = snap.counted_in_summary()
    first_node = np.full(len(counts), -1, dtype=np.int64)
    ordinals = np.flatnonzero(counted)
    first_node[keys[ordinals][::-1]] = ordinals[::-1]
    order = sorted(
        present.tolist(), key=lambda k: (-int(retained[k]), -int(counts[k]), snap.class_name(k))
    )
    if top is not None:
        order = order[:top]
    rows = [
        ClassSummary(
            name=snap.class_name(k),
            type=snap.node_type_name(int(first_node[k])),
            count=int(counts[k]),
            self_size=int(self_sizes[k]),
            retained_size=int(retained[k]),
        )
        for k in order
    ]
    return HeapSummary(snap.node_count, snap.edge_count, snap.total_size, rows)
