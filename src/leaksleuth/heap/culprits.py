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
    _bfs_tree,
    baseline_ids,
    counted_groups_from_series,
    groups_from_series,
    growth_series,
    sidecar_script_urls,
)
from leaksleuth.heap.jsrules import (
    edge_variable,
    is_identifier,
    is_weakmap_table_edge,
    module_file,
    node_label,
    property_target,
    weakmap_table_edges,
)
from leaksleuth.heap.locations import location_of
from leaksleuth.heap.parse import load_node_ids, load_snapshot
from leaksleuth.heap.paths import RetainerPath, path_steps, tree_path
from leaksleuth.heap.snapshot import ROOT, HeapSnapshot
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
    WeakMapRouteEvidence,
)
from leaksleuth.sources import (
    find_declaration,
    find_in_text,
    original_text,
    resolve,
    search_script,
    top_level,
    with_role,
)

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


def _closure_place(snap: HeapSnapshot, closure: int, project: Path | None) -> SourceLocation | None:
    """Where a closure is defined, mapped to the original source (app, library or Node)."""
    loc = location_of(snap, closure)
    if loc is None:
        return None
    return with_role(resolve(loc.url, loc.line, loc.column, project), "defines", "heap")


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


def _module_of_context(
    snap: HeapSnapshot, context: int, var: str, project: Path | None
) -> tuple[str, str, bool] | None:
    """(label, variable, built) when a scope is the app's: `(module src/bus.js)` for a module's
    top level, `(in server/plugins/audit.ts)` for a function's scope; `built` when the code V8
    ran was generated (a bundle, a chunk). Bundlers hoist many modules into one scope and rename
    variables: the declaration, mapped back, names the module and the original variable."""
    urls: list[str] = []
    places = []
    for closure in _closures_of_context(snap, context, most=64):
        loc = location_of(snap, closure)
        if loc is None:
            continue
        if loc.url not in urls:
            urls.append(loc.url)
        places.append(resolve(loc.url, loc.line, loc.column, project))
    for url in urls[:3]:
        declared = find_declaration(url, var, project)
        if declared is not None:
            place, name = declared
            if place.origin != "app":
                return None
            where = "module" if top_level(place, url, project) else "in"
            return f"({where} {place.file})", name, place.generated is not None
    app = next((p for p in places if p.origin == "app"), None)
    return (f"(in {app.file})", var, app.generated is not None) if app is not None else None


def _starts_in_library(snap: HeapSnapshot, path: RetainerPath, start: int, project: Path | None) -> bool:
    """The shown path starts at a library's module or scope (Vue's module, a reactivity cache),
    or at no module at all."""
    steps = path.steps
    if start <= 0 or start >= len(steps):
        return True
    file = module_file(snap, steps[start].node)
    if file:
        return "/node_modules/" in file
    if start > 0 and snap.node_name_text(steps[start - 1].node) == "system / Context":
        closures = _closures_of_context(snap, steps[start - 1].node)
        places = [p for c in closures[:3] if (p := _closure_place(snap, c, project)) is not None]
        return not any(p.origin == "app" for p in places)
    return False


def _app_holder(snap: HeapSnapshot, path: RetainerPath, start: int, k: int, project: Path | None) -> tuple[int, str, str] | None:
    """(step, module file, variable): the first object on the way down to the owner that a
    variable of an app module also holds, for a path whose shortest way in runs through library
    code (`Vue.prototype.$bus` when the bus is the app's `bus.js`)."""
    context = snap.edge_type_code("context")
    steps = path.steps
    wanted = [steps[i].node for i in range(max(start, 0) + 1, min(k, len(steps) - 1) + 1)]
    if not wanted:
        return None
    # the context edges into these few nodes, in one pass over the edges (no reverse graph)
    hits = np.flatnonzero(np.isin(snap.edge_to, np.asarray(wanted, dtype=snap.edge_to.dtype)))
    hits = hits[snap.edge_type[hits] == context]
    holders = np.searchsorted(snap.first_edge, hits, side="right") - 1
    for i in range(max(start, 0) + 1, min(k, len(steps) - 1) + 1):
        node = steps[i].node
        for edge, holder in zip(hits.tolist(), holders.tolist()):
            if int(snap.edge_to[edge]) != node:
                continue
            var = snap.edge_name(edge)
            if not is_identifier(var) or snap.node_name_text(holder) != "system / Context":
                continue
            module = _module_of_context(snap, holder, var, project)
            if module is not None:
                return i, module[0], module[1]
    return None


# the Symbol.for() keys of live/readings.py's timer and emitter tracking
OWN_BOOKKEEPING = ("leaksleuth.unref", "leaksleuth.listeners")
_PLUMBING = {"exports", "prototype", "_events", "default", "constructor", "__proto__"}


def _assigning_module(snap: HeapSnapshot, path: RetainerPath, start: int, k: int, project: Path | None) -> str | None:
    """The app module that stores the first named property on the way down into library
    objects (`Vue.prototype.$bus = bus` in src/bus.js), found by reading the app's scripts."""
    urls: list[str] = []
    for c in closures_on(snap, path):
        loc = location_of(snap, c)
        if loc is not None and loc.url not in urls and resolve(loc.url, loc.line, loc.column, project).origin == "app":
            urls.append(loc.url)
    if not urls:
        return None
    steps = path.steps
    for i in range(max(start, 0) + 1, min(k, len(steps) - 1) + 1):
        name = edge_variable(snap, steps[i].edge)
        if not name or name in _PLUMBING or snap.edge_type_names[int(snap.edge_type[steps[i].edge])] != "property":
            continue
        quoted = re.escape(name)
        pattern = re.compile(rf"(?:\.{quoted}|\[\s*['\"]{quoted}['\"]\s*\])\s*=(?![=>])")
        for url in urls:
            hit = search_script(url, pattern, project)
            if hit is not None and hit[0].origin == "app":
                return hit[0].file
    return None


def _shown_steps(snap: HeapSnapshot, path: RetainerPath, k: int, project: Path | None) -> list[str]:
    """The clustered path a user reads, from the module or variable that holds the owner."""
    start = _display_start(snap, path, k)
    steps = path_steps(snap, path, clustered=True, start=start, project=project)
    edge = path.steps[start].edge if 0 < start < len(path.steps) else -1
    if edge >= 0 and snap.node_name_text(path.steps[start - 1].node) == "system / Context":
        # a module-level variable of an ES module, a bundle or a vm script: name its module
        var = edge_variable(snap, edge)
        module = _module_of_context(snap, path.steps[start - 1].node, var, project) if var else None
        if module is not None and module[2]:
            return [module[0], f"::{module[1]}", *steps[1:]]
    if _starts_in_library(snap, path, start, project):
        held = _app_holder(snap, path, start, k, project)
        if held is not None:
            i, label, var = held
            rest = path_steps(snap, path, clustered=True, start=i, project=project)[1:]
            return [label, f"::{var}", *rest]
        assigned = _assigning_module(snap, path, start, k, project)
        if assigned is not None:
            rest = steps[1:]
            while rest and rest[0].startswith((".", "[", "::")):
                rest = rest[1:]  # `.exports` of the library's module: the app's module stands in
            return [f"(module {assigned})", *rest]
    return steps


def _weakmap_edges(snap: HeapSnapshot) -> np.ndarray:
    if snap.derived.weakmap_edges is None:
        snap.derived.weakmap_edges = weakmap_table_edges(snap)
    return snap.derived.weakmap_edges


def _strong_tree(snap: HeapSnapshot) -> np.ndarray:
    """Parents of the breadth-first tree where a WeakMap's table → value edges count as weak."""
    cached = snap.derived.strong_bfs_tree
    if cached is None:
        weak, shortcut = snap.edge_type_code("weak"), snap.edge_type_code("shortcut")
        types = snap.edge_type.copy()
        types[_weakmap_edges(snap)] = weak
        cached = _bfs_tree(snap.first_edge, snap.edge_to, types, weak, shortcut, ROOT)
        snap.derived.strong_bfs_tree = cached
    return cached[0]


def _weakmap_step(snap: HeapSnapshot, path: RetainerPath) -> int:
    """The step entered through a WeakMap's table (-1 if none)."""
    for i, step in enumerate(path.steps):
        if is_weakmap_table_edge(snap, step.edge):
            return i
    return -1


def _weakmap_name(snap: HeapSnapshot, path: RetainerPath, i: int) -> str:
    """How the code names the WeakMap whose table is step i-1: its variable, else its id."""
    for j in range(i - 1, -1, -1):
        node = path.steps[j].node
        if snap.class_name(int(snap.class_keys()[node])) == "WeakMap":
            return edge_variable(snap, path.steps[j].edge) or f"WeakMap @{int(snap.node_id[node])}"
    return "a WeakMap"


def _holder_index(snap: HeapSnapshot, path: RetainerPath) -> int:
    """On a path over strong references only, the collection that keeps the objects: the
    deepest Array, Map or Set above the first closure (a listener list, a module's Map), else
    the deepest one above the objects, else the object above the first closure."""
    last = len(path.steps) - 1
    keys = snap.class_keys()
    first_closure = next((i for i, s in enumerate(path.steps) if i > 0 and snap.node_type_name(s.node) == "closure"), None)
    for top in ([first_closure] if first_closure is not None else []) + [last]:
        for i in range(top - 1, -1, -1):
            if snap.class_name(int(keys[path.steps[i].node])) in ("Array", "Map", "Set"):
                return i
    return first_closure - 1 if first_closure is not None else max(last - 1, 0)


def explain(group: GrowthGroup, project: Path | None = None) -> Culprit:
    """Turn a growing owner into a culprit: path from the roots, kind, source location."""
    snap = group.snapshot
    owner = snap.find_node(group.owner_id)
    owner_class = snap.class_name(int(snap.class_keys()[owner])) if owner >= 0 else ""
    path = tree_path(snap, group.representative)
    k = next((i for i, s in enumerate(path.steps) if s.node == owner), len(path.steps) - 1)
    owner_id = group.owner_id
    evidence: list[Evidence] = [
        ClassCountEvidence(group.principal_class, group.objects_per_request)
        if group.by_class
        else OwnerGrowthEvidence(owner_class, group.owner_id, tuple(group.bytes_by_snapshot))
    ]
    through = _weakmap_step(snap, path)
    if through >= 0 and not group.by_class:
        # a WeakMap (Vue 3's reactiveMap…) reached them first but keeps none alive: follow
        # strong references only, to whoever keeps the keys
        strong = tree_path(snap, group.representative, _strong_tree(snap), _weakmap_edges(snap))
        if strong.steps and strong.steps[0].node != group.representative:
            evidence.append(WeakMapRouteEvidence(_weakmap_name(snap, path, through), group.bytes_per_request))
            path = strong
            k = _holder_index(snap, path)
            owner = path.steps[k].node
            owner_class = snap.class_name(int(snap.class_keys()[owner]))
            owner_id = int(snap.node_id[owner])
    steps = _shown_steps(snap, path, k, project)
    kind = _kind(snap, path, k, group.principal_class, owner_class)
    full = path_steps(snap, path, clustered=True, project=project)
    if full != steps:
        evidence.append(RootPathEvidence(tuple(full)))
    closures = closures_on(snap, path)
    if kind == "timer":
        callback = property_target(snap, group.representative, "_onTimeout")
        if callback >= 0:
            bound = property_target(snap, callback, "bound_function")
            closures.append(callback if bound < 0 else bound)
            steps.append(f"._onTimeout → {node_label(snap, callback)}")
    culprit = Culprit(
        kind=kind,
        bytes_per_request=group.bytes_per_request,
        objects_per_request=group.objects_per_request,
        constructor=group.principal_class,
        path=steps,
        location=None,
        evidence=evidence,
        owner=f"{owner_class} @{owner_id}" if owner >= 0 else f"(each {group.principal_class})",
        bytes_by_snapshot=[int(b) for b in group.bytes_by_snapshot],  # which routes feed it (a per-route hunt)
    )
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
        culprit.add_location(found[0])
    _add_closure_places(snap, culprit, closures, project)
    return culprit


def _add_closure_places(snap: HeapSnapshot, culprit: Culprit, closures: list[int], project: Path | None) -> None:
    """Where the closures that keep the objects are defined: the nearest one (a library's timer
    callback, a handler), and the nearest in the app's code, which is the location when nothing
    better was found."""
    places = [(c, p) for c in reversed(closures) if (p := _closure_place(snap, c, project)) is not None]
    if not places:
        return
    culprit.add_location(places[0][1])
    for closure, place in places:
        if place.origin == "app":
            had = culprit.location
            culprit.add_location(place)
            if had is None:
                culprit.evidence.append(ClosureEvidence(node_label(snap, closure)))
            break


def _search_scripts(
    snap: HeapSnapshot, closures: list[int], pattern: re.Pattern[str], project: Path | None,
    files: list[str] | None = None,
) -> tuple[SourceLocation, str] | None:
    """The first line matching `pattern`: in the modules holding the path, then in the original
    sources of the closures (the app's own), then in their generated code mapped back (a
    minified bundle renames variables, so only there does a mangled name match)."""
    for f in files or []:
        hit = search_script(f, pattern, project)
        if hit:
            return with_role(hit[0], "registers", "source map" if hit[0].generated else "script"), hit[1]
    urls: list[str] = []
    originals: list[SourceLocation] = []
    for c in reversed(closures):
        loc = location_of(snap, c)
        if loc is None:
            continue
        place = resolve(loc.url, loc.line, loc.column, project)
        if place.origin != "app":
            continue
        if loc.url not in urls:
            urls.append(loc.url)
        if place.file in {o.file for o in originals}:
            continue
        originals.append(place)
        text = original_text(place, loc.url, project)
        found = find_in_text(text, pattern) if text else None
        if found:
            line, column, code = found
            where = SourceLocation(place.file, line, column, origin=place.origin, package=place.package,
                                   role="registers", via="script")
            return where, code
    for url in urls:
        hit = search_script(url, pattern, project, prefer={o.file for o in originals})
        if hit and hit[0].origin == "app":
            return with_role(hit[0], "registers", "source map" if hit[0].generated else "script"), hit[1]
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


def _fold(culprits: list[Culprit]) -> list[Culprit]:
    """One holder, one culprit: growth first reached through a WeakMap is charged to the strong
    holder of its keys, which may be a culprit already (same owner, same processes)."""
    kept: list[Culprit] = []
    for c in culprits:
        if any(key in step for step in c.path for key in OWN_BOOKKEEPING):
            continue  # the WeakRefs `measure` keeps to count unref'd timers and emitters are not the app's
        rerouted = any(isinstance(e, WeakMapRouteEvidence) for e in c.evidence)
        same = next((m for m in kept if m.owner == c.owner and m.processes == c.processes
                     and not m.owner.startswith("(each ")), None)
        if same is None:
            kept.append(c)
            continue
        base, extra = (same, c) if rerouted else (c, same)
        base.bytes_per_request += extra.bytes_per_request
        base.evidence.extend(e for e in extra.evidence if isinstance(e, WeakMapRouteEvidence))
        for loc in extra.locations:
            base.add_location(loc)
        if base is not same:
            kept[kept.index(same)] = base
    return kept


def rank(culprits: list[Culprit]) -> list[Culprit]:
    culprits[:] = _fold(culprits)
    culprits.sort(key=lambda c: -c.bytes_per_request)
    for i, c in enumerate(culprits, 1):
        c.rank = i
    return culprits
