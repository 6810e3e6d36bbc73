"""Retainer paths: chains of references from the GC roots to one object — one model, one renderer.

A path is data (`RetainerPath`: steps of node and the edge into it). Two searches make them:
`retainer_paths` (the shortest by DevTools' distances, several of them, for `leaksleuth path`)
and `tree_path` (along the shortest-path tree that growth analysis charges owners on).
`path_steps` renders either, exactly (`[3]`, `@id`) or clustered for culprits (`[]`, runs
collapsed, starting at the module or variable).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from leaksleuth.heap.graph import distances, retainers
from leaksleuth.heap.growth import shortest_path_tree
from leaksleuth.heap.jsrules import edge_text, edge_variable, is_scaffolding, module_file, node_label
from leaksleuth.heap.locations import location_of
from leaksleuth.heap.snapshot import ROOT, HeapSnapshot
from leaksleuth.sources import display_file
from leaksleuth.units import join_steps

# Which retainer to try first when several are equally close: named references read best.
_EDGE_PREFERENCE = {"property": 0, "element": 1, "context": 2, "internal": 3, "hidden": 4}
_SEARCH_BUDGET = 20_000


@dataclass(frozen=True)
class PathStep:
    """One hop: `node` was reached through edge row `edge` (-1 when unknown)."""

    node: int
    edge: int
    edge_name: str
    edge_type: str


@dataclass(frozen=True)
class RetainerPath:
    """Steps from the root's first child down to `target` (the root itself is implied)."""

    target: int
    steps: tuple[PathStep, ...]


def _step(snap: HeapSnapshot, node: int, edge: int) -> PathStep:
    if edge < 0:
        return PathStep(node, edge, "", "")
    return PathStep(node, edge, snap.edge_name(edge), snap.edge_type_names[int(snap.edge_type[edge])])


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
        pairs.sort(key=lambda p: _EDGE_PREFERENCE.get(snap.edge_type_names[int(snap.edge_type[p[1]])], 9))
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
            path = RetainerPath(ordinal, tuple(_step(snap, n, e) for n, e in reversed(chain)))
            # paths that differ only in GC-root bookkeeping read the same: keep one
            start = first_meaningful(snap, path)
            key = tuple(step.edge for step in path.steps[start + 1 :]) + (path.steps[start].node,)
            if key not in seen:
                seen.add(key)
                found.append(path)
            continue
        for retainer, edge in reversed(closer_retainers(node)):
            stack.append((retainer, chain + [(node, edge)]))
    return found


def tree_path(
    snap: HeapSnapshot, ordinal: int, tree: np.ndarray | None = None, excluded: np.ndarray | None = None
) -> RetainerPath:
    """The path from the root's child down to `ordinal` along the shortest-path tree (or along
    `tree`, a parent array, never taking an edge marked in `excluded`)."""
    parent = shortest_path_tree(snap)[0] if tree is None else tree
    weak, shortcut = snap.edge_type_code("weak"), snap.edge_type_code("shortcut")
    chain: list[PathStep] = []
    node = ordinal
    guard = 0
    while node != ROOT and node >= 0 and guard < 10_000:
        p = int(parent[node])
        begin, end = int(snap.first_edge[p]), int(snap.first_edge[p + 1])
        candidates = np.flatnonzero(snap.edge_to[begin:end] == node) + begin
        strong = [int(e) for e in candidates if int(snap.edge_type[e]) not in (weak, shortcut)
                  and (excluded is None or not excluded[e])]
        chain.append(_step(snap, node, strong[0] if strong else -1))
        node = p
        guard += 1
    chain.reverse()
    return RetainerPath(ordinal, tuple(chain))


def first_meaningful(snap: HeapSnapshot, path: RetainerPath, start: int = 0) -> int:
    """The first step a user would recognise (past GC-root bookkeeping)."""
    steps = path.steps
    while start < len(steps) - 1 and is_scaffolding(snap, steps[start].node):
        start += 1
    return start


def path_steps(
    snap: HeapSnapshot, path: RetainerPath, *, clustered: bool, start: int = 0, project: Path | None = None
) -> list[str]:
    """The path as steps a JS developer reads: `global`, `.bus`, `._events`, `.tick`, `[0]`,
    `handler()`, `LeakyThing @123`.

    Clustered (culprits): array indices become `[]` so paths of different instances read the
    same, runs of one step (linked lists: `._idlePrev._idlePrev…`) collapse into one with `…`,
    and the first step names the module or variable that holds the rest."""
    steps = path.steps
    if not steps:
        return [node_label(snap, path.target)]
    start = first_meaningful(snap, path, start)
    first = steps[start]
    label = node_label(snap, first.node)
    if clustered:
        file = module_file(snap, first.node)
        name = edge_variable(snap, first.edge)
        if file:
            label = f"(module {display_file(file, project)})"
        elif name and label != "global":
            label = f"{name} ({label})"
    out = [label]
    last = len(steps) - 1
    for index, step in enumerate(steps[start + 1 :], start + 1):
        text = edge_text(snap, step.edge, clustered=clustered) if step.edge >= 0 else ""
        if text:
            if clustered and (out[-1] == text or out[-1] == text + "…"):
                out[-1] = text + "…"
            else:
                out.append(text)
        if snap.node_type_name(step.node) == "closure" or (index == last and clustered):
            out.append(node_label(snap, step.node))
        elif index == last:
            out.append(f"{node_label(snap, step.node)} @{int(snap.node_id[step.node])}")
    return out


def format_path(snap: HeapSnapshot, path: RetainerPath, *, with_locations: bool = True) -> str:
    """`global.bus._events.tick[0] → leakyHandler()::thing → LeakyThing @123`, followed by
    where the closures on the way are defined (` — leakyHandler at /app/leak.js:7:40`)."""
    if not path.steps:
        return node_label(snap, path.target)
    text = join_steps(path_steps(snap, path, clustered=False))
    if with_locations:
        start = first_meaningful(snap, path)
        closures = [s.node for s in path.steps[start:] if snap.node_type_name(s.node) == "closure"]
        for closure in closures:
            where = location_of(snap, closure)
            if where is not None:
                text += f" — {snap.node_name_text(closure) or '(anonymous)'} at {where}"
    return text


def path_json(snap: HeapSnapshot, path: RetainerPath) -> dict[str, object]:
    """A path for `--json`: its text and every step's node and edge."""
    return {
        "target_id": int(snap.node_id[path.target]),
        "text": format_path(snap, path),
        "steps": [
            {
                "id": int(snap.node_id[s.node]),
                "node": node_label(snap, s.node),
                "type": snap.node_type_name(s.node),
                "edge": s.edge_name,
                "edge_type": s.edge_type,
            }
            for s in path.steps
        ],
    }
