"""Diff of two snapshots by object id: what was added, what was freed, per constructor."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from leaksleuth.heap.snapshot import HeapSnapshot


@dataclass(frozen=True)
class ClassDiff:
    """Objects of one constructor that appeared (`added`) or disappeared (`freed`)."""

    name: str
    added: int
    freed: int
    added_size: int
    freed_size: int

    @property
    def count_delta(self) -> int:
        return self.added - self.freed

    @property
    def size_delta(self) -> int:
        return self.added_size - self.freed_size

    def to_json(self) -> dict[str, object]:
        return {"count_delta": self.count_delta, "size_delta": self.size_delta, **asdict(self)}


@dataclass(frozen=True)
class HeapDiff:
    added: int
    freed: int
    added_size: int
    freed_size: int
    constructors: list[ClassDiff]  # by |size delta|, largest first

    def to_json(self) -> dict[str, object]:
        return {
            "added": self.added,
            "freed": self.freed,
            "added_size": self.added_size,
            "freed_size": self.freed_size,
            "constructors": [c.to_json() for c in self.constructors],
        }


def _per_class(snap: HeapSnapshot, mask: np.ndarray) -> dict[str, tuple[int, int]]:
    """{class name: (count, self size)} over the nodes selected by mask."""
    keys = snap.class_keys()[mask]
    counts = np.bincount(keys)
    sizes = np.bincount(keys, weights=snap.node_self_size[mask]).astype(np.int64)
    result: dict[str, tuple[int, int]] = {}
    for key in np.flatnonzero(counts).tolist():
        name = snap.class_name(key)
        count, size = result.get(name, (0, 0))
        result[name] = (count + int(counts[key]), size + int(sizes[key]))
    return result


def diff_snapshots(before: HeapSnapshot, after: HeapSnapshot, top: int | None = None) -> HeapDiff:
    """Objects whose id is only in `after` are added; only in `before`, freed (as DevTools)."""
    counted_before = before.counted_in_summary()
    counted_after = after.counted_in_summary()
    ids_before = before.node_id[counted_before]
    ids_after = after.node_id[counted_after]
    freed = counted_before.copy()
    freed[counted_before] = ~np.isin(ids_before, ids_after)
    added = counted_after.copy()
    added[counted_after] = ~np.isin(ids_after, ids_before)
    added_by_class = _per_class(after, added)
    freed_by_class = _per_class(before, freed)
    rows = [
        ClassDiff(name, *_pair(added_by_class, freed_by_class, name))
        for name in sorted(added_by_class.keys() | freed_by_class.keys())
    ]
    rows.sort(key=lambda r: (-abs(r.size_delta), -abs(r.count_delta), r.name))
    if top is not None:
        rows = rows[:top]
    return HeapDiff(
        added=int(added.sum()),
        freed=int(freed.sum()),
        added_size=int(after.node_self_size[added].sum(dtype=np.int64)),
        freed_size=int(before.node_self_size[freed].sum(dtype=np.int64)),
        constructors=rows,
    )


def _pair(
    added: dict[str, tuple[int, int]], freed: dict[str, tuple[int, int]], name: str
) -> tuple[int, int, int, int]:
    a_count, a_size = added.get(name, (0, 0))
    f_count, f_size = freed.get(name, (0, 0))
    return a_count, f_count, a_size, f_size
