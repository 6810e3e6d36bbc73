"""Summary like DevTools' Summary view: per constructor (class) count, self and retained size."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from leaksleuth.heap.graph import class_retained_sizes
from leaksleuth.heap.jit import njit
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


@njit(cache=True, nogil=True, after_parse=12)
def _class_totals(keys, counted, self_size, n_keys):  # type: ignore[no-untyped-def]
    """Per class key, over counted nodes: count, self size and the first node (-1: none)."""
    counts = np.zeros(n_keys, dtype=np.int64)
    sizes = np.zeros(n_keys, dtype=np.int64)
    first_node = np.full(n_keys, -1, dtype=np.int64)
    for v in range(keys.shape[0]):
        if counted[v]:
            k = keys[v]
            if counts[k] == 0:
                first_node[k] = v
            counts[k] += 1
            sizes[k] += self_size[v]
    return counts, sizes, first_node


def _totals(snap: HeapSnapshot) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n_keys = len(snap.strings) + len(snap.node_type_names)
    return _class_totals(  # type: ignore[no-any-return]
        snap.class_keys(), snap.counted_in_summary(), snap.node_self_size, n_keys
    )


def class_counts(snap: HeapSnapshot) -> tuple[np.ndarray, np.ndarray]:
    """Per class key: (count, self size) over the nodes the summary counts."""
    counts, self_sizes, _ = _totals(snap)
    return counts, self_sizes


def summarize(snap: HeapSnapshot, top: int | None = None) -> HeapSummary:
    """Group nodes by constructor/type, sorted by retained size (then count, name)."""
    counts, self_sizes, first_node = _totals(snap)
    retained = class_retained_sizes(snap)
    present = np.flatnonzero(counts)
    # one representative node per class (first_node) gives the class its node type
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
