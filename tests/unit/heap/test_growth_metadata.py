"""V8 metadata made for leaked objects is charged to their culprit.

A leaked object whose property is named per request gets a hidden class (map) of its own, with a
descriptor array holding the name: V8 metadata that is most of the leak. The new metadata that
an owner's new objects hold strongly (map, descriptors, the name, a closure's context) is charged
to that owner; metadata no charged object reaches (code, the shapes of the warm-up), or that two
owners reach, is charged to nobody.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from heap_builder import SnapshotBuilder

from leaksleuth.heap import HeapSnapshot, load_snapshot
from leaksleuth.heap.culprits import find_culprits
from leaksleuth.heap.growth import growing_groups, new_nodes, owner_growth

REQUESTS = [0.0, 10.0, 20.0]
NEW = 100_001  # ids of objects made after the first snapshot
OBJECT, MAP, DESCRIPTORS, NAME, CODE = 56, 72, 48, 24, 96
KEPT_ID, ROOT_MAP_ID, PROTO_ID, STRINGS_ID, TRANSITIONS_ID = 701, 703, 705, 707, 709


class Heap(SnapshotBuilder):
    """root → (GC roots) → global, and (Internalized strings) under the GC roots (as in V8, the
    string table reaches a property name before any descriptor array does)."""

    def __init__(self) -> None:
        super().__init__()
        self.gc_roots = self.node("synthetic", "(GC roots)", 0, id=3)
        self.global_ = self.node("object", "global", 64, id=5)
        self.strings = self.node("synthetic", "(Internalized strings)", 0, id=STRINGS_ID)
        self.edge(self.root, self.gc_roots, "element")
        self.edge(self.root, self.global_, "shortcut", "global")
        self.edge(self.gc_roots, self.global_, "element")
        self.edge(self.gc_roots, self.strings, "element")
        self.proto = self.node("object", "Object", 56, id=PROTO_ID)
        self.root_map = self.node("object shape", "system / Map", MAP, id=ROOT_MAP_ID)
        self.transitions = self.node("object shape", "system / TransitionArray", 64, id=TRANSITIONS_ID)
        self.edge(self.global_, self.proto, "property", "objectPrototype")
        self.edge(self.proto, self.root_map, "internal", "map")
        self.edge(self.root_map, self.transitions, "internal", "transitions")

    def shaped(self, holder: int, base_id: int, name: str) -> int:
        """A new object held by `holder`, with a new map of its own (its back pointer to the old
        root map, which knows it through a weak transition), a new descriptor array and the
        property's name; the map's dependent code is new too."""
        obj = self.node("object", "Object", OBJECT, id=base_id)
        shape = self.node("object shape", "system / Map", MAP, id=base_id + 2)
        descriptors = self.node("object shape", "system / DescriptorArray", DESCRIPTORS, id=base_id + 4)
        key = self.node("string", name, NAME, id=base_id + 6)
        code = self.node("code", "", CODE, id=base_id + 8)
        self.edge(holder, obj, "element")
        self.edge(obj, self.proto, "property", "__proto__")
        self.edge(obj, shape, "internal", "map")
        self.edge(shape, descriptors, "internal", "descriptors")
        self.edge(shape, self.root_map, "internal", "back_pointer")
        self.edge(shape, self.proto, "internal", "prototype")
        self.edge(shape, code, "internal", "dependent_code")
        self.edge(descriptors, key, "internal", "0")
        self.edge(self.strings, key, "element")
        self.edge(self.transitions, shape, "weak", "1")
        return obj


def _three(tmp_path: Path, build: Callable[[Heap, int], None]) -> list[HeapSnapshot]:
    snaps = []
    for k, count in enumerate((0, 10, 20)):
        h = Heap()
        build(h, count)
        snaps.append(load_snapshot(h.write(tmp_path / f"s{k}.heapsnapshot")))
    return snaps


def _kept(h: Heap, count: int) -> None:
    """global.kept: an old Array of new objects, one per request, each with a shape of its own."""
    kept = h.node("object", "Array", 32, id=KEPT_ID)
    h.edge(h.global_, kept, "property", "kept")
    for i in range(count):
        h.shaped(kept, NEW + 10 * i, f"k{i}")


def test_the_shapes_made_for_leaked_objects_are_charged_to_their_owner(tmp_path: Path) -> None:
    snaps = _three(tmp_path, _kept)
    per_request = OBJECT + MAP + DESCRIPTORS + NAME  # the dependent code is not theirs
    owners = owner_growth(snaps[0], snaps[-1])
    assert set(owners) == {KEPT_ID}
    assert owners[KEPT_ID].new_bytes == 20 * per_request
    assert owners[KEPT_ID].new_objects == 20 * 4
    (g,) = growing_groups(snaps, REQUESTS)
    assert (g.owner_id, g.principal_class) == (KEPT_ID, "Object")  # the metadata never names it
    assert g.bytes_per_request == pytest.approx(per_request)
    assert g.objects_per_request == pytest.approx(1.0)
    # culprits follow the growth at every snapshot from the last one's graph: the same figures
    (c,) = find_culprits(snaps, REQUESTS)
    assert c.bytes_per_request == pytest.approx(per_request)
    assert c.bytes_by_snapshot == [0, 10 * per_request, 20 * per_request]
    new = new_nodes(snaps[0], snaps[-1])
    unbilled = int(snaps[-1].node_self_size[new].sum()) - owners[KEPT_ID].new_bytes
    assert unbilled == 20 * CODE


def test_metadata_no_charged_object_holds_is_charged_to_nobody(tmp_path: Path) -> None:
    """Shapes made in warm-up (new maps known only to old maps and old objects), a new object
    held by bookkeeping alone: no owner, no culprit."""

    def build(h: Heap, count: int) -> None:
        config = h.node("object", "Config", 40, id=801)
        h.edge(h.global_, config, "property", "config")
        handles = h.node("synthetic", "(Handle scope)", 0, id=803)
        h.edge(h.gc_roots, handles, "element")
        for i in range(count):
            shape = h.node("object shape", "system / Map", MAP, id=NEW + 10 * i)
            descriptors = h.node("object shape", "system / DescriptorArray", DESCRIPTORS, id=NEW + 10 * i + 2)
            h.edge(h.transitions, shape, "weak", str(i))
            h.edge(shape, descriptors, "internal", "descriptors")
            h.edge(config, shape, "internal", "map")  # an old object's map changed
            h.shaped(handles, NEW + 10 * i + 4, f"tmp{i}")

    snaps = _three(tmp_path, build)
    assert owner_growth(snaps[0], snaps[-1]) == {}
    assert growing_groups(snaps, REQUESTS) == []
    assert find_culprits(snaps, REQUESTS) == []


def test_metadata_two_owners_reach_is_charged_to_neither(tmp_path: Path) -> None:
    a_id, b_id, entry = 901, 903, 40

    def build(h: Heap, count: int) -> None:
        a = h.node("object", "Array", 32, id=a_id)
        b = h.node("object", "Array", 32, id=b_id)
        h.edge(h.global_, a, "property", "a")
        h.edge(h.global_, b, "property", "b")
        for i in range(count):
            shape = h.node("object shape", "system / Map", MAP, id=NEW + 10 * i)
            for k, holder in enumerate((a, b)):
                item = h.node("object", "Entry", entry, id=NEW + 10 * i + 2 + 2 * k)
                h.edge(holder, item, "element")
                h.edge(item, shape, "internal", "map")

    snaps = _three(tmp_path, build)
    owners = owner_growth(snaps[0], snaps[-1])
    assert {k: g.new_bytes for k, g in owners.items()} == {a_id: 20 * entry, b_id: 20 * entry}


def test_a_context_reached_first_through_bookkeeping_goes_to_the_owner_of_its_closure(tmp_path: Path) -> None:
    """A listener closure per request on an old emitter's array, each with its own context cell
    that the shortest path reaches through a handle scope (charged to nobody before)."""
    emitter_id, closure, context = 951, 64, 40

    def build(h: Heap, count: int) -> None:
        emitter = h.node("object", "EventEmitter", 48, id=emitter_id)
        h.edge(h.global_, emitter, "property", "bus")
        handles = h.node("synthetic", "(Handle scope)", 0, id=953)
        h.edge(h.gc_roots, handles, "element")
        for i in range(count):
            listener = h.node("closure", "onTick", closure, id=NEW + 4 * i)
            cell = h.node("object", "system / Context", context, id=NEW + 4 * i + 2)
            h.edge(handles, cell, "element")
            h.edge(emitter, listener, "element")
            h.edge(listener, cell, "internal", "context")

    snaps = _three(tmp_path, build)
    owners = owner_growth(snaps[0], snaps[-1])
    assert {k: g.new_bytes for k, g in owners.items()} == {emitter_id: 20 * (closure + context)}
    (g,) = growing_groups(snaps, REQUESTS)
    assert g.bytes_per_request == pytest.approx(closure + context)


def test_every_shape_of_thousands_of_leaked_objects_is_billed(tmp_path: Path) -> None:
    """Thousands of leaked shaped objects: every map, descriptor array and name is billed."""
    h = Heap()
    kept = h.node("object", "Array", 32, id=KEPT_ID)
    h.edge(h.global_, kept, "property", "kept")
    for i in range(5000):
        h.shaped(kept, NEW + 10 * i, f"k{i}")
    base = Heap()
    base.edge(base.global_, base.node("object", "Array", 32, id=KEPT_ID), "property", "kept")
    first = load_snapshot(base.write(tmp_path / "a.heapsnapshot"))
    last = load_snapshot(h.write(tmp_path / "b.heapsnapshot"))
    owners = owner_growth(np.sort(first.node_id), last)
    assert owners[KEPT_ID].new_bytes == 5000 * (OBJECT + MAP + DESCRIPTORS + NAME)
