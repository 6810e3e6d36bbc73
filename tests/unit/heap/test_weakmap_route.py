"""Framework caches are not culprits: growth reached first through a WeakMap (Vue 3's
`reactiveMap`, keyed by the leaked objects) is charged to the strong holder of the keys."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from heap_builder import SnapshotBuilder

from leaksleuth.heap import load_snapshot
from leaksleuth.heap.culprits import find_culprits
from leaksleuth.heap.jsrules import weakmap_table_edges
from leaksleuth.model import WeakMapRouteEvidence

NEW = 100_001
REQUESTS = [0.0, 10.0, 20.0]
STATE, PROXY, HANDLER = 200, 120, 64


def _heap(count: int) -> SnapshotBuilder:
    """global.reactiveMap (a WeakMap whose table maps each raw state to its proxy, listed first
    so the shortest path runs through it) and global.emitter._events.notify: one handler per
    request whose scope keeps that request's raw state."""
    h = SnapshotBuilder()
    gc_roots = h.node("synthetic", "(GC roots)", 0, id=3)
    g = h.node("object", "global", 64, id=5)
    h.edge(h.root, gc_roots, "element")
    h.edge(gc_roots, g, "element")
    weakmap = h.node("object", "WeakMap", 32, id=11)
    table = h.node("array", "(object elements)", 16, id=13)
    h.edge(g, weakmap, "property", "reactiveMap")
    h.edge(weakmap, table, "internal", "table")
    emitter = h.node("object", "EventEmitter", 48, id=15)
    events = h.node("object", "Object", 32, id=17)
    handlers = h.node("object", "Array", 32, id=19)
    h.edge(g, emitter, "property", "emitter")
    h.edge(emitter, events, "property", "_events")
    h.edge(events, handlers, "property", "notify")
    for i in range(count):
        base = NEW + 10 * i
        closure = h.node("closure", "onNotify", HANDLER, id=base)
        scope = h.node("hidden", "system / Context", 24, id=base + 2)
        raw = h.node("object", "Object", STATE, id=base + 4)
        proxy = h.node("object", "Object", PROXY, id=base + 6)
        pair = f"{i} / part of key (Object @{base + 4}) -> value (Object @{base + 6}) pair in WeakMap (table @13)"
        h.edge(table, proxy, "internal", pair)  # the table's edge: listed, and met, first
        h.edge(handlers, closure, "element")
        h.edge(closure, scope, "internal", "context")
        h.edge(scope, raw, "context", "state")
        h.edge(raw, proxy, "internal", pair)  # the key's edge: what really keeps the value
    return h


def test_table_edges_are_told_from_key_edges(tmp_path: Path):
    snap = load_snapshot(_heap(2).write(tmp_path / "s.heapsnapshot"))
    mask = weakmap_table_edges(snap)
    sources = np.searchsorted(snap.first_edge, np.flatnonzero(mask), side="right") - 1
    assert mask.sum() == 2 and set(snap.node_id[sources].tolist()) == {13}


def test_growth_through_a_reactivity_weakmap_goes_to_the_listener_that_keeps_the_keys(tmp_path: Path):
    snaps = [load_snapshot(_heap(int(n)).write(tmp_path / f"s{k}.heapsnapshot")) for k, n in enumerate(REQUESTS)]
    culprits = find_culprits(snaps, REQUESTS)
    assert len(culprits) == 1, [(c.owner, c.path) for c in culprits]
    c = culprits[0]
    assert c.kind == "listener" and c.owner == "Array @19"
    assert ".notify" in c.path and not any("reactiveMap" in step for step in c.path)
    assert c.bytes_per_request == pytest.approx(STATE + PROXY + HANDLER + 24)  # all of it, in one culprit
    assert any(isinstance(e, WeakMapRouteEvidence) and e.weakmap == "reactiveMap" for e in c.evidence)
