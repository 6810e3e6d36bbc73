"""Retainer paths: the shortest chains of references from the GC roots to one object.

A path is data (`RetainerPath`: steps of node, edge name, edge type); `format_path` turns it
into a readable chain like `global.bus._events.tick[0] → leakyHandler()`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from leaksleuth.heap.graph import distances, retainers
from leaksleuth.heap.locations import location_of
from leaksleuth.heap.snapshot import ROOT, HeapSnapshot, is_identifier

# Which retainer to try first when several are equally close: named references read best.
_EDGE_PREFERENCE = {"property": 0, "element": 1, "context": 2, "internal": 3, "hidden": 4}
# Internal edges a reader does not need to see: the closure's scope, an array's or a
# collection's backing store.
_ELIDED_INTERNAL = {"context", "elements", "properties", "table", "extension"}
_SEARCH_BUDGET = 20_000


@dataclass(frozen=True)
class PathStep:
    """One hop: `node` was reached through edge `edge` (an edge row), named `edge_name`."""

    node: int
    edge: int
    edge_name: str
    edge_type: str


@dataclass(frozen=True)
class RetainerPath:
    """Steps from the root's first child down to `target` (the root itself is implied)."""

    target: int
    steps: tuple[PathStep, ...]

    def to_json(self, snap: HeapSnapshot) -> dict[str, object]:
        return {
            "target_id": int(snap.node_id[self.target]),
            "text": format_path(snap, self),
            "steps": [
                {
                    "id": int(snap.node_id[s.node]),
                    "node": snap.node(s.node).label(),
                    "type": snap.node_type_name(s.node),
                    "edge": s.edge_name,
                    "edge_type": s.edge_type,
                }
                for s in self.steps
            ],
        }


def retainer_paths(snap: HeapSnapshot, ordinal: int, max_paths: int = 3) -> list[RetainerPath]:
    """Up to max_paths shortest paths from the root to `ordinal` by DevTools' distances, so
    paths from the global object win over GC-root bookkeeping (handles, stack). Weak edges are
    never used. Empty if the object is unreachable."""
    dist = distances(snap)
    if dist[ordinal] < 0:
        return []
    if ordinal == ROOT:
        return [RetainerPath(ROOT, ())]
    first_ret, ret_node, ret_edge = retainers(snap)
    weak, shortcut = snap.edge_type_code("weak"), snap.edge_type_code("shortcut")
    root_distance = int(dist[ROOT])

    def closer_retainers(node: int) -> list[tuple[int, int]]:
        """(retainer, edge) pairs one hop closer to the root, best-reading first."""
        begin, end = int(first_ret[node]), int(first_ret[node + 1])
        nodes = ret_node[begin:end].astype(np.int64)
        edges = ret_edge[begin:end].astype(np.int64)
        types = snap.edge_type[edges]
        wanted = int(dist[node]) - 1
        # the root sits at distance 0 for the user roots and SYSTEM_DISTANCE for the rest
        near = np.where(nodes == ROOT, root_distance if wanted != 0 else 0, dist[nodes])
        keep = (near == wanted) & (types != weak) & ((types != shortcut) | (nodes == ROOT))
        pairs = list(zip(nodes[keep].tolist(), edges[keep].tolist()))
        pairs.sort(
            key=lambda p: _EDGE_PREFERENCE.get(snap.edge_type_names[int(snap.edge_type[p[1]])], 9)
        )
        return pairs

    found: list[RetainerPath] = []
    seen: set[tuple[int, ...]] = set()
    budget = _SEARCH_BUDGET
    # depth-first from the target towards the root; chain holds (node, edge into it)
    stack: list[tuple[int, list[tuple[int, int]]]] = [(ordinal, [])]
    while stack and len(found) < max_paths and budget > 0:
        node, chain = stack.pop()
        budget -= 1
        if node == ROOT:
            steps = tuple(
                PathStep(n, e, snap.edge_name(e), snap.edge_type_names[int(snap.edge_type[e])])
                for n, e in reversed(chain)
            )
            # paths that differ only in GC-root bookkeeping read the same: keep one
            start = _first_meaningful(snap, steps)
            key = tuple(step.edge for step in steps[start + 1 :]) + (steps[start].node,)
            if key not in seen:
                seen.add(key)
                found.append(RetainerPath(ordinal, steps))
            continue
        for retainer, edge in reversed(closer_retainers(node)):
            stack.append((retainer, chain + [(node, edge)]))
    return found


def _is_scaffolding(snap: HeapSnapshot, ordinal: int) -> bool:
    """GC-root bookkeeping above the first node a user would recognise."""
    kind = snap.node_type_name(ordinal)
    name = snap.node_name_text(ordinal)
    return kind in ("synthetic", "hidden") or name.startswith("system / ")


def _first_meaningful(snap: HeapSnapshot, steps: tuple[PathStep, ...]) -> int:
    start = 0
    while start < len(steps) - 1 and _is_scaffolding(snap, steps[start].node):
        start += 1
    return start


def _start_label(snap: HeapSnapshot, ordinal: int) -> str:
    name = snap.node_name_text(ordinal)
    if snap.node_type_name(ordinal) == "object" and name.startswith("global"):
        return "global"
    return snap.node(ordinal).label()


def _edge_text(step: PathStep) -> str:
    if step.edge_type == "property":
        return f".{step.edge_name}" if is_identifier(step.edge_name) else f"[{step.edge_name!r}]"
    if step.edge_type == "element":
        return f"[{step.edge_name}]"
    if step.edge_type == "context":
        return f"::{step.edge_name}"
    if step.edge_type == "internal":
        return "" if step.edge_name in _ELIDED_INTERNAL else f".<{step.edge_name}>"
    if step.edge_type == "hidden":
        return ""
    return f".<{step.edge_type} {step.edge_name}>"


def format_path(snap: HeapSnapshot, path: RetainerPath, *, with_locations: bool = True) -> str:
    """`global.bus._events.tick[0] → leakyHandler()::thing → LeakyThing @123`, followed by
    where the closures on the way are defined (` — leakyHandler at /app/leak.js:7:40`)."""
    steps = path.steps
    if not steps:
        return snap.node(path.target).label()
    start = _first_meaningful(snap, steps)
    text = _start_label(snap, steps[start].node)
    closures = [steps[start].node] if snap.node_type_name(steps[start].node) == "closure" else []
    for index, step in enumerate(steps[start + 1 :], start + 1):
        text += _edge_text(step)
        if snap.node_type_name(step.node) == "closure":
            text += f" → {snap.node(step.node).label()}"
            closures.append(step.node)
        elif index == len(steps) - 1:
            text += f" → {snap.node(step.node).label()} @{int(snap.node_id[step.node])}"
    if with_locations:
        for closure in closures:
            where = location_of(snap, closure)
            if where is not None:
                text += f" — {snap.node_name_text(closure) or '(anonymous)'} at {where}"
    return text
