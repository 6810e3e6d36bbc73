"""Closures → script:line:column, with script ids mapped to URLs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from leaksleuth.heap.snapshot import HeapSnapshot

# SharedFunctionInfo → Script: V8 names this edge 'script_or_debug_info' (Node 18–22); older
# builds used 'script'.
_SCRIPT_EDGES = ("script_or_debug_info", "script")


@dataclass(frozen=True)
class ScriptPosition:
    """A position in a script as V8 names it, 1-based (V8 stores 0-based)."""

    script_id: int
    url: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.url}:{self.line}:{self.column}"


def _edge_target(snap: HeapSnapshot, ordinal: int, names: tuple[str, ...]) -> int:
    """The target of the first internal edge of `ordinal` named one of `names`; -1 if none."""
    internal = snap.edge_type_code("internal")
    begin, end = int(snap.first_edge[ordinal]), int(snap.first_edge[ordinal + 1])
    for e in range(begin, end):
        if int(snap.edge_type[e]) == internal and snap.edge_name(e) in names:
            return int(snap.edge_to[e])
    return -1


def script_url_from_heap(snap: HeapSnapshot, closure: int) -> str | None:
    """closure -shared→ SharedFunctionInfo -script_or_debug_info→ Script, whose name is its URL."""
    shared = _edge_target(snap, closure, ("shared",))
    if shared < 0:
        return None
    script = _edge_target(snap, shared, _SCRIPT_EDGES)
    if script < 0:
        return None
    # V8 names the Script node by its URL; its `name` edge may point at a cons string whose
    # node name is only "(concatenated string)" (seen in Node 18), so the node's name comes first
    own = snap.node_name_text(script)
    if own and not own.startswith(("(", "system /")):
        return own
    name_string = _edge_target(snap, script, ("name",))
    url = snap.node_name_text(name_string) if name_string >= 0 else ""
    return url if url and not url.startswith("(") else None


def script_urls(snap: HeapSnapshot) -> dict[int, str]:
    """script id → URL for every script that has a located closure: capture-supplied URLs
    first, then what the heap itself says."""
    cached = snap.derived.script_urls
    if cached is None:
        cached = {}
        loc = snap.locations
        # group the locations by script once (a mask per script would be scripts × locations)
        by_script = np.argsort(loc.script_id, kind="stable")
        script_ids, starts = np.unique(loc.script_id[by_script], return_index=True)
        closure = snap.node_type_code("closure")
        for script_id, start in zip(script_ids.tolist(), starts.tolist()):
            if script_id in snap.script_urls:
                cached[script_id] = snap.script_urls[script_id]
                continue
            # any closure of this script will do; try a few in case one lacks the edges
            members = by_script[start : start + 8]
            for ordinal in loc.node[members][loc.script_id[members] == script_id].tolist():
                if int(snap.node_type[ordinal]) != closure:
                    continue
                url = script_url_from_heap(snap, ordinal)
                if url:
                    cached[script_id] = url
                    break
        snap.derived.script_urls = cached
    return cached


def script_url(snap: HeapSnapshot, script_id: int) -> str:
    if script_id in snap.script_urls:
        return snap.script_urls[script_id]
    return script_urls(snap).get(script_id, f"script#{script_id}")


def location_of(snap: HeapSnapshot, ordinal: int) -> ScriptPosition | None:
    """Where the closure (or other located node) at `ordinal` is defined, if known."""
    hits = np.flatnonzero(snap.locations.node == ordinal)
    if not len(hits):
        return None
    i = int(hits[0])
    script_id = int(snap.locations.script_id[i])
    return ScriptPosition(
        script_id=script_id,
        url=script_url(snap, script_id),
        line=int(snap.locations.line[i]) + 1,
        column=int(snap.locations.column[i]) + 1,
    )
