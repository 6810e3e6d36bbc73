"""From growing owners to culprits a developer can act on: kind, readable path, source line.

Each claim carries the evidence it rests on (heap growth, the retainer path, a closure's
position recorded by V8, or a registration line found by reading the script).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np

from leaksleuth.heap.growth import (
    GrowthGroup,
    SnapshotGrowth,
    baseline_ids,
    counted_groups_from_series,
    display_class,
    groups_from_series,
    shortest_path_tree,
    snapshot_growth,
)
from leaksleuth.heap.locations import location_of
from leaksleuth.heap.jsrules import property_target
from leaksleuth.heap.paths import _is_scaffolding
from leaksleuth.heap.snapshot import ROOT, HeapSnapshot, is_identifier
from leaksleuth.units import fmt_bytes

MAX_SOURCE_BYTES = 4 << 20


@dataclass
class Culprit:
    """One thing that grows per request, why it stays alive, and where the code is."""

    kind: str  # "object" | "timer" | "listener" | "collection"
    bytes_per_request: float
    objects_per_request: float
    constructor: str
    path: list[str]
    location: str | None
    evidence: list[str] = field(default_factory=list)
    owner: str = ""
    rank: int = 0
    processes: list[int] = field(default_factory=list)

    @property
    def signature(self) -> tuple[str, ...]:
        return (self.kind, self.constructor, *self.path)

    def to_json(self) -> dict[str, object]:
        return {
            "rank": self.rank,
            "kind": self.kind,
            "bytes_per_request": self.bytes_per_request,
            "objects_per_request": self.objects_per_request,
            "constructor": self.constructor,
            "path": self.path,
            "location": self.location,
            "evidence": self.evidence,
            "owner": self.owner,
            "processes": self.processes,
        }


# -- the path ------------------------------------------------------------------------------

def tree_path(snap: HeapSnapshot, ordinal: int) -> list[tuple[int, int]]:
    """(node, edge into it) from the root's child down to `ordinal` along the shortest-path tree."""
    parent, _, _ = shortest_path_tree(snap)
    weak, shortcut = snap.edge_type_code("weak"), snap.edge_type_code("shortcut")
    chain: list[tuple[int, int]] = []
    node = ordinal
    guard = 0
    while node != ROOT and node >= 0 and guard < 10_000:
        p = int(parent[node])
        begin, end = int(snap.first_edge[p]), int(snap.first_edge[p + 1])
        candidates = np.flatnonzero(snap.edge_to[begin:end] == node) + begin
        strong = [int(e) for e in candidates if int(snap.edge_type[e]) not in (weak, shortcut)]
        chain.append((node, strong[0] if strong else -1))
        node = p
        guard += 1
    chain.reverse()
    return chain


_INDEXED = {"element", "hidden"}
# internal edges that add nothing a reader needs: backing stores, scopes, a bound function's parts
_ELIDED_INTERNAL = {"elements", "table", "properties", "context", "extension", "bound_this", "bound_function",
                    "bound_arguments", "shared", "map"}


def _edge_step(snap: HeapSnapshot, edge: int) -> str:
    kind = snap.edge_type_names[int(snap.edge_type[edge])]
    name = snap.edge_name(edge)
    if kind in _INDEXED or (kind == "internal" and name.isdigit()):
        return "[]"
    if kind == "property":
        return f".{name}" if is_identifier(name) else f"[{name!r}]"
    if kind == "context":
        return f"::{name}"
    if kind == "internal":
        return "" if name in _ELIDED_INTERNAL else f".<{name}>"
    return f".<{name}>"


def _edge_name_if_named(snap: HeapSnapshot, edge: int) -> str | None:
    """The variable or property name of an edge, when it has one a developer wrote."""
    if edge < 0:
        return None
    kind = snap.edge_type_names[int(snap.edge_type[edge])]
    name = snap.edge_name(edge)
    return name if kind in ("context", "property") and is_identifier(name) else None


def owner_name(snap: HeapSnapshot, chain: list[tuple[int, int]], owner: int) -> str | None:
    """The name the code uses for the owner: the variable or property that holds it."""
    for node, edge in chain:
        if node == owner:
            return _edge_name_if_named(snap, edge)
    return None


def node_label(snap: HeapSnapshot, ordinal: int) -> str:
    kind = snap.node_type_name(ordinal)
    if kind == "closure":
        target = property_target(snap, ordinal, "bound_function")
        if target >= 0:
            return f"bound {snap.node_name_text(target) or '(anonymous)'}()"
        return f"{snap.node_name_text(ordinal) or '(anonymous)'}()"
    if kind == "object":
        name = snap.node_name_text(ordinal)
        if name.startswith("global"):
            return "(global)"
        return display_class(snap, ordinal)
    return snap.node(ordinal).label()


def readable_path(snap: HeapSnapshot, chain: list[tuple[int, int]], project: Path | None = None) -> list[str]:
    """Steps a JS developer reads: `(global)`, `.bus`, `._events`, `.tick`, `[]`, `handler()`.

    Array indices become `[]` so paths of different instances cluster into one; runs of the
    same step (linked lists: `._idlePrev._idlePrev…`) collapse into one with `…`.
    """
    start = 0
    while start < len(chain) - 1 and _is_scaffolding(snap, chain[start][0]):
        start += 1
    first, into = chain[start]
    label = node_label(snap, first)
    name = _edge_name_if_named(snap, into)
    file = module_file(snap, first)
    if file:
        steps: list[str] = [f"(module {display_file(file, project)})"]
    else:
        steps = [f"{name} ({label})" if name and label != "(global)" else label]
    for index, (node, edge) in enumerate(chain[start + 1 :], start + 1):
        text = _edge_step(snap, edge) if edge >= 0 else ""
        if text:
            if steps and (steps[-1] == text or steps[-1] == text + "…"):
                steps[-1] = text + "…"
            else:
                steps.append(text)
        kind = snap.node_type_name(node)
        last = index == len(chain) - 1
        if kind == "closure" or last:
            steps.append(node_label(snap, node))
    return steps


# -- where in the code -----------------------------------------------------------------------

def local_file(url: str) -> Path | None:
    if url.startswith("file://"):
        return Path(unquote(urlsplit(url).path))
    if url.startswith("/"):
        return Path(url)
    return None


def user_code(url: str) -> bool:
    return bool(url) and not url.startswith("node:") and "/node_modules/" not in url and local_file(url) is not None


def display_file(url: str, project: Path | None) -> str:
    """A script URL or path, relative to the project when inside it."""
    path = local_file(url)
    if path is None:
        return url
    if project is not None:
        try:
            return str(path.resolve().relative_to(project.resolve()))
        except ValueError:
            pass
    return str(path)


def display_location(url: str, line: int, column: int, project: Path | None) -> str:
    return f"{display_file(url, project)}:{line}:{column}"


def find_in_source(path: Path, pattern: re.Pattern[str]) -> tuple[int, int, str] | None:
    """(line, column, line text) of the first match in a local script, 1-based."""
    try:
        if path.stat().st_size > MAX_SOURCE_BYTES:
            return None
        text = path.read_text(errors="replace")
    except OSError:
        return None
    m = pattern.search(text)
    if m is None:
        return None
    line = text.count("\n", 0, m.start()) + 1
    column = m.start() - (text.rfind("\n", 0, m.start()) + 1) + 1
    return line, column, text.splitlines()[line - 1].strip()


def closures_on(snap: HeapSnapshot, chain: list[tuple[int, int]]) -> list[int]:
    """Closures along a path (bound functions resolved to their target), nearest last."""
    found = []
    for node, _ in chain:
        if snap.node_name_text(node) == "system / Context":
            found.extend(_closures_of_context(snap, node))
        if snap.node_type_name(node) == "closure":
            target = property_target(snap, node, "bound_function")
            found.append(target if target >= 0 else node)
    return found


def _closures_of_context(snap: HeapSnapshot, context: int, most: int = 8) -> list[int]:
    """Closures that run in this scope (a module's functions, for module-level variables)."""
    from leaksleuth.heap.graph import retainers

    first, nodes, _ = retainers(snap)
    closure = snap.node_type_code("closure")
    holders = nodes[int(first[context]) : int(first[context + 1])]
    return [int(h) for h in holders if int(snap.node_type[h]) == closure][:most]


def _user_location(snap: HeapSnapshot, closures: list[int]) -> tuple[int, str] | None:
    for c in reversed(closures):
        loc = location_of(snap, c)
        if loc is not None and user_code(loc.url):
            return c, loc.url
    return None


# -- putting it together ---------------------------------------------------------------------

def _kind(snap: HeapSnapshot, chain: list[tuple[int, int]], k: int, principal: str, owner_class: str) -> str:
    """What sort of leak, judged at the owner: its container and the edge that holds it."""
    if principal.startswith(("Timeout", "Immediate")) or owner_class == "TimersList":
        return "timer"
    if k > 0 and _edge_name_if_named(snap, chain[k - 1][1]) == "_events":
        return "listener"
    if owner_class in ("Map", "Set", "Array", "Object", "WeakMap"):
        return "collection"
    return "object"


def _display_start(snap: HeapSnapshot, chain: list[tuple[int, int]], k: int) -> int:
    """Where the shown path begins: at the last variable (context edge) or global property
    above the owner, so a module-level `bus` reads as `bus (EventEmitter)…` rather than the
    chain of framework objects that happens to reach that module's scope first."""
    context = snap.edge_type_code("context")
    for i in range(min(k, len(chain) - 1), 0, -1):
        edge = chain[i][1]
        if edge >= 0 and int(snap.edge_type[edge]) == context and is_identifier(snap.edge_name(edge)):
            return i
        if module_file(snap, chain[i][0]):
            return i
    return 0


def module_file(snap: HeapSnapshot, ordinal: int) -> str | None:
    """The file of a CommonJS `Module` object (require.cache entries, module.children)."""
    if snap.node_type_name(ordinal) != "object" or snap.node_name_text(ordinal) != "Module":
        return None
    target = property_target(snap, ordinal, "filename")
    if target < 0 or "string" not in snap.node_type_name(target):
        return None
    return snap.node_name_text(target) or None


def explain(group: GrowthGroup, project: Path | None = None) -> Culprit:
    """Turn a growing owner into a culprit: path from the roots, kind, source location."""
    snap = group.snapshot
    owner = snap.find_node(group.owner_id)
    owner_class = snap.class_name(int(snap.class_keys()[owner])) if owner >= 0 else ""
    chain = tree_path(snap, group.representative)
    k = next((i for i, (node, _) in enumerate(chain) if node == owner), len(chain) - 1)
    start = _display_start(snap, chain, k)
    steps = readable_path(snap, chain[start:], project)
    kind = _kind(snap, chain, k, group.principal_class, owner_class)
    if group.by_class:
        evidence = [
            f"heap: live {group.principal_class} objects created since the first snapshot: "
            f"{group.objects_per_request:.2f} per request, in step with requests (counted by class; "
            "what their callbacks keep alive is charged to the path shown)"
        ]
    else:
        evidence = [
            f"heap: new objects charged to {owner_class or 'an owner'} @{group.owner_id} grew "
            + " → ".join(fmt_bytes(b) for b in group.bytes_by_snapshot)
            + " across the snapshots, in step with requests",
        ]
    full = readable_path(snap, chain, project)
    if full != steps:
        evidence.append("path from the GC roots: " + " ".join(full))
    location: str | None = None
    rep = group.representative
    closures = closures_on(snap, chain)
    if kind == "timer":
        callback = property_target(snap, rep, "_onTimeout")
        if callback >= 0:
            closures.append(callback)
            steps.append(f"._onTimeout → {node_label(snap, callback)}")
    name = owner_name(snap, chain, owner)
    if kind == "listener" and name:
        found = _registration(snap, closures, name, project)
        if found:
            location, text = found
            evidence.append(f"source: listener registered by `{text}` (found by reading the handler's script)")
    if kind == "collection" and name:
        modules = [f for f in (module_file(snap, n) for n, _ in reversed(chain[: k + 1])) if f]
        found = _mutation(snap, closures, name, project, modules)
        if found:
            location, text = found
            evidence.append(f"source: `{name}` grows at `{text}` (found by reading the script that holds it)")
    if location is None:
        user = _user_location(snap, closures)
        if user is not None:
            loc = location_of(snap, user[0])
            assert loc is not None
            location = display_location(loc.url, loc.line, loc.column, project)
            evidence.append(f"location: closure {node_label(snap, user[0])} defined here (V8 heap snapshot)")
    return Culprit(
        kind=kind,
        bytes_per_request=group.bytes_per_request,
        objects_per_request=group.objects_per_request,
        constructor=group.principal_class,
        path=steps,
        location=location,
        evidence=evidence,
        owner=f"{owner_class} @{group.owner_id}" if owner >= 0 else f"(each {group.principal_class})",
    )


def _search_scripts(
    snap: HeapSnapshot, closures: list[int], pattern: re.Pattern[str], project: Path | None,
    files: list[str] | None = None,
) -> tuple[str, str] | None:
    urls: list[str] = list(files or [])
    for c in reversed(closures):
        loc = location_of(snap, c)
        if loc is not None and user_code(loc.url) and loc.url not in urls:
            urls.append(loc.url)
    for url in urls:
        path = local_file(url)
        hit = find_in_source(path, pattern) if path else None
        if hit:
            return display_location(url, hit[0], hit[1], project), hit[2]
    return None


def _registration(snap: HeapSnapshot, closures: list[int], event: str, project: Path | None) -> tuple[str, str] | None:
    if not event:
        return None
    quoted = re.escape(event)
    pattern = re.compile(rf"""(\$on|\$once|\.on|\.once|addListener|prependListener)\s*\(\s*['"`]{quoted}['"`]""")
    return _search_scripts(snap, closures, pattern, project)


def _mutation(
    snap: HeapSnapshot, closures: list[int], var: str, project: Path | None, files: list[str]
) -> tuple[str, str] | None:
    pattern = re.compile(rf"\b{re.escape(var)}\s*(\.(set|add|push|unshift)\s*\(|\[[^\]]+\]\s*=[^=])")
    return _search_scripts(snap, closures, pattern, project, files)


def find_culprits(
    snapshots: list[HeapSnapshot], requests: list[float], project: Path | None = None
) -> list[Culprit]:
    """Culprits of one process, ranked by bytes per request."""
    ids = baseline_ids(snapshots[0])
    series = [snapshot_growth(ids, s) for s in snapshots[1:]]
    return culprits_from_series(series, snapshots[-1], requests, project)


def culprits_from_series(
    series: list[SnapshotGrowth], last: HeapSnapshot, requests: list[float], project: Path | None = None
) -> list[Culprit]:
    culprits = [explain(g, project) for g in groups_from_series(series, last, requests)]
    for g in counted_groups_from_series(series, last, requests):
        timer = explain(g, project)
        # the same timers already explained by an owner: keep one. Compare places when known,
        # else the paths, so two timers with callbacks outside user code both stay
        if not any(
            c.kind == "timer" and (c.location == timer.location if timer.location else c.path == timer.path)
            for c in culprits
        ):
            culprits.append(timer)
    return rank(culprits)


def find_culprits_in_files(
    paths: list[Path], requests: list[float], project: Path | None = None
) -> list[Culprit]:
    """Like find_culprits, holding one parsed snapshot at a time (plus the first one's ids)."""
    from leaksleuth.heap.growth import sidecar_script_urls
    from leaksleuth.heap.parse import load_snapshot

    if len(paths) < 3 or len(paths) != len(requests):
        raise ValueError("need at least three snapshots, each with its request count")
    ids = baseline_ids(load_snapshot(paths[0]))
    series: list[SnapshotGrowth] = []
    last: HeapSnapshot | None = None
    for path in paths[1:]:
        last = load_snapshot(path, script_urls=sidecar_script_urls(path))
        series.append(snapshot_growth(ids, last))
        if path != paths[-1]:
            last = None  # free it before the next one is parsed
    assert last is not None
    return culprits_from_series(series, last, requests, project)


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
            else:
                c.processes = [pid]
                merged[key] = c
    return rank(list(merged.values()))


def rank(culprits: list[Culprit]) -> list[Culprit]:
    culprits.sort(key=lambda c: -c.bytes_per_request)
    for i, c in enumerate(culprits, 1):
        c.rank = i
    return culprits
