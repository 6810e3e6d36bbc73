"""From growing owners to culprits a developer can act on: kind, readable path, source line.

Each claim carries the evidence it rests on, as facts (heap growth, the retainer path, a
closure's position recorded by V8, a registration line found by reading the script); the
sentences are written by `leaksleuth.report`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from leaksleuth.heap.graph import retainers
from leaksleuth.heap.growth import (
    GrowthGroup,
    baseline_ids,
    counted_groups_from_series,
    groups_from_series,
    growth_series,
    sidecar_script_urls,
)
from leaksleuth.heap.jsrules import edge_variable, module_file, node_label, property_target
from leaksleuth.heap.locations import location_of
from leaksleuth.heap.parse import load_node_ids, load_snapshot
from leaksleuth.heap.paths import RetainerPath, path_steps, tree_path
from leaksleuth.heap.snapshot import HeapSnapshot
from leaksleuth.model import (
    ClassCountEvidence,
    ClosureEvidence,
    Culprit,
    CulpritKind,
    Evidence,
    OwnerGrowthEvidence,
    RootPathEvidence,
    SourceLineEvidence,
    SourceLocation,
)
from leaksleuth.sources import find_in_source, local_file, source_location, user_code

SnapshotSource = Path | str | HeapSnapshot


def owner_name(snap: HeapSnapshot, path: RetainerPath, owner: int) -> str | None:
    """The name the code uses for the owner: the variable or property that holds it."""
    for step in path.steps:
        if step.node == owner:
            return edge_variable(snap, step.edge)
    return None


def closures_on(snap: HeapSnapshot, path: RetainerPath) -> list[int]:
    """Closures along a path (bound functions resolved to their target), nearest last."""
    found = []
    for step in path.steps:
        if snap.node_name_text(step.node) == "system / Context":
            found.extend(_closures_of_context(snap, step.node))
        if snap.node_type_name(step.node) == "closure":
            target = property_target(snap, step.node, "bound_function")
            found.append(target if target >= 0 else step.node)
    return found


def _closures_of_context(snap: HeapSnapshot, context: int, most: int = 8) -> list[int]:
    """Closures that run in this scope (a module's functions, for module-level variables)."""
    first, nodes, _ = retainers(snap)
    closure = snap.node_type_code("closure")
    holders = nodes[int(first[context]) : int(first[context + 1])]
    return [int(h) for h in holders if int(snap.node_type[h]) == closure][:most]


def _user_closure(snap: HeapSnapshot, closures: list[int]) -> int | None:
    for c in reversed(closures):
        loc = location_of(snap, c)
        if loc is not None and user_code(loc.url):
            return c
    return None


def _kind(snap: HeapSnapshot, path: RetainerPath, k: int, principal: str, owner_class: str) -> CulpritKind:
    """What sort of leak, judged at the owner: its container and the edge that holds it."""
    if principal.startswith(("Timeout", "Immediate")) or owner_class == "TimersList":
        return "timer"
    if k > 0 and edge_variable(snap, path.steps[k - 1].edge) == "_events":
        return "listener"
    if owner_class in ("Map", "Set", "Array", "Object", "WeakMap"):
        return "collection"
    return "object"


def _display_start(snap: HeapSnapshot, path: RetainerPath, k: int) -> int:
    """Where the shown path begins: at the last variable (context edge) or module above the
    owner, so a module-level `bus` reads as `bus (EventEmitter)…` rather than the chain of
    framework objects that happens to reach that module's scope first."""
    context = snap.edge_type_code("context")
    steps = path.steps
    for i in range(min(k, len(steps) - 1), 0, -1):
        edge = steps[i].edge
        if edge >= 0 and int(snap.edge_type[edge]) == context and edge_variable(snap, edge):
            return i
        if module_file(snap, steps[i].node):
            return i
    return 0


def explain(group: GrowthGroup, project: Path | None = None) -> Culprit:
    """Turn a growing owner into a culprit: path from the roots, kind, source location."""
    snap = group.snapshot
    owner = snap.find_node(group.owner_id)
    owner_class = snap.class_name(int(snap.class_keys()[owner])) if owner >= 0 else ""
    path = tree_path(snap, group.representative)
    k = next((i for i, s in enumerate(path.steps) if s.node == owner), len(path.steps) - 1)
    steps = path_steps(snap, path, clustered=True, start=_display_start(snap, path, k), project=project)
    kind = _kind(snap, path, k, group.principal_class, owner_class)
    evidence: list[Evidence] = [
        ClassCountEvidence(group.principal_class, group.objects_per_request)
        if group.by_class
        else OwnerGrowthEvidence(owner_class, group.owner_id, tuple(group.bytes_by_snapshot))
    ]
    full = path_steps(snap, path, clustered=True, project=project)
    if full != steps:
        evidence.append(RootPathEvidence(tuple(full)))
    location: SourceLocation | None = None
    closures = closures_on(snap, path)
    if kind == "timer":
        callback = property_target(snap, group.representative, "_onTimeout")
        if callback >= 0:
            closures.append(callback)
            steps.append(f"._onTimeout → {node_label(snap, callback)}")
    name = owner_name(snap, path, owner)
    found: tuple[SourceLocation, str] | None = None
    if kind == "listener" and name:
        found = _search_scripts(snap, closures, _registration_pattern(name), project)
        if found:
            evidence.append(SourceLineEvidence("registers", name, found[1]))
    if kind == "collection" and name:
        modules = [f for f in (module_file(snap, s.node) for s in reversed(path.steps[: k + 1])) if f]
        found = _search_scripts(snap, closures, _mutation_pattern(name), project, modules)
        if found:
            evidence.append(SourceLineEvidence("grows", name, found[1]))
    if found:
        location = found[0]
    else:
        closure = _user_closure(snap, closures)
        if closure is not None:
            loc = location_of(snap, closure)
            assert loc is not None
            location = source_location(loc.url, loc.line, loc.column, project)
            evidence.append(ClosureEvidence(node_label(snap, closure)))
    return Culprit(
        kind=kind,
        bytes_per_request=group.bytes_per_request,
        objects_per_request=group.objects_per_request,
        constructor=group.principal_class,
        path=steps,
        location=location,
        evidence=evidence,
        owner=f"{owner_class} @{group.owner_id}" if owner >= 0 else f"(each {group.principal_class})",
        bytes_by_snapshot=[int(b) for b in group.bytes_by_snapshot],
    )


def _search_scripts(
    snap: HeapSnapshot, closures: list[int], pattern: re.Pattern[str], project: Path | None,
    files: list[str] | None = None,
) -> tuple[SourceLocation, str] | None:
    """The first line matching `pattern` in the given files, then in the closures' scripts."""
    urls: list[str] = list(files or [])
    for c in reversed(closures):
        loc = location_of(snap, c)
        if loc is not None and user_code(loc.url) and loc.url not in urls:
            urls.append(loc.url)
    for url in urls:
        path = local_file(url)
        hit = find_in_source(path, pattern) if path else None
        if hit:
            return source_location(url, hit[0], hit[1], project), hit[2]
    return None


def _registration_pattern(event: str) -> re.Pattern[str]:
    quoted = re.escape(event)
    return re.compile(rf"""(\$on|\$once|\.on|\.once|addListener|prependListener)\s*\(\s*['"`]{quoted}['"`]""")


def _mutation_pattern(var: str) -> re.Pattern[str]:
    return re.compile(rf"\b{re.escape(var)}\s*(\.(set|add|push|unshift)\s*\(|\[[^\]]+\]\s*=[^=])")


def _ids(source: SnapshotSource) -> np.ndarray:
    """The sorted node ids of an earlier snapshot (of a file: its nodes array alone)."""
    if isinstance(source, HeapSnapshot):
        return baseline_ids(source)
    return load_node_ids(Path(source))


def _graph(source: SnapshotSource) -> HeapSnapshot:
    if isinstance(source, HeapSnapshot):
        return source
    path = Path(source)
    return load_snapshot(path, script_urls=sidecar_script_urls(path))


def find_culprits(
    snapshots: Sequence[SnapshotSource], requests: Sequence[float], project: Path | None = None
) -> list[Culprit]:
    """Culprits of one process from ≥ 3 snapshots taken in order (files or parsed snapshots)
    and the requests sent when each was taken, ranked by bytes per request."""
    if len(snapshots) != len(requests):
        raise ValueError("need one request count per snapshot")
    if len(snapshots) < 3:
        raise ValueError("need at least three snapshots, each with its request count")
    counts = [float(r) for r in requests]
    # one graph, the last; the earlier snapshots give their ids (see growth_series)
    earlier = [_ids(s) for s in snapshots[:-1]]
    last = _graph(snapshots[-1])
    series = growth_series(earlier[0], earlier[1:], last)
    culprits = [explain(g, project) for g in groups_from_series(series, last, counts)]
    for g in counted_groups_from_series(series, last, counts):
        timer = explain(g, project)
        # the same timers already explained by an owner: keep one. Compare places when known,
        # else the paths, so two timers with callbacks outside user code both stay
        if not any(
            c.kind == "timer" and (c.location == timer.location if timer.location else c.path == timer.path)
            for c in culprits
        ):
            culprits.append(timer)
    return rank(culprits)


def merge(per_process: dict[int, list[Culprit]]) -> list[Culprit]:
    """Culprits of several processes (Egg workers): same path and class add up."""
    merged: dict[tuple[str, ...], Culprit] = {}
    for pid, culprits in per_process.items():
        for c in culprits:
            key = c.signature
            if key in merged:
                m = merged[key]
                m.bytes_per_request += c.bytes_per_request
                m.objects_per_request += c.objects_per_request
                m.processes.append(pid)
                if len(m.bytes_by_snapshot) == len(c.bytes_by_snapshot):
                    m.bytes_by_snapshot = [a + b for a, b in zip(m.bytes_by_snapshot, c.bytes_by_snapshot)]
            else:
                c.processes = [pid]
                merged[key] = c
    return rank(list(merged.values()))


def rank(culprits: list[Culprit]) -> list[Culprit]:
    culprits.sort(key=lambda c: -c.bytes_per_request)
    for i, c in enumerate(culprits, 1):
        c.rank = i
    return culprits
