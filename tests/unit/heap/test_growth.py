"""Growth across ≥3 snapshots of one process: new objects (ids absent from the first snapshot)
charged to their nearest old, user-visible owner on the shortest-path tree, and owners kept
only when their new bytes grow in step with requests.

Every test builds three tiny snapshots of "one process": old objects keep their ids from
snapshot to snapshot (as V8 does), new ones get ids the first snapshot never had, and a new
object that survives into a later snapshot keeps its id there too.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from heap_builder import SnapshotBuilder

from leaksleuth.heap import HeapSnapshot, load_snapshot
from leaksleuth.heap.culprits import find_culprits
from leaksleuth.heap.growth import (
    baseline_ids,
    counted_groups,
    groups_from_series,
    growing_groups,
    new_nodes,
    owner_growth,
    snapshot_growth,
)

REQUESTS = [0.0, 10.0, 20.0]
GC_ROOTS_ID, GLOBAL_ID = 3, 5
NEW = 100_001  # first id of objects created after the first snapshot (odd, like V8's)


class Heap(SnapshotBuilder):
    """A snapshot builder with V8's scaffolding: root → (GC roots) → global, plus the root's
    shortcut to the global object; every node gets an explicit id (stable across snapshots)."""

    def __init__(self) -> None:
        super().__init__()
        self.gc_roots = self.node("synthetic", "(GC roots)", 0, id=GC_ROOTS_ID)
        self.global_ = self.node("object", "global", 64, id=GLOBAL_ID)
        self.edge(self.root, self.gc_roots, "element")
        self.edge(self.root, self.global_, "shortcut", "global")
        self.edge(self.gc_roots, self.global_, "element")


def _three(
    tmp_path: Path, build: Callable[[Heap, int], None], counts: tuple[int, int, int] = (0, 10, 20)
) -> list[HeapSnapshot]:
    """Three snapshots of one process; build(heap, count) fills each, told its `count`."""
    snaps = []
    for k, count in enumerate(counts):
        h = Heap()
        build(h, count)
        snaps.append(load_snapshot(h.write(tmp_path / f"s{k}.heapsnapshot")))
    return snaps


def _new_bytes(baseline: HeapSnapshot, snap: HeapSnapshot) -> int:
    return int(snap.node_self_size[new_nodes(baseline, snap)].sum())


# -- 1. linear growth --------------------------------------------------------------------------

WIDGET, LABEL = 40, 24
ARRAY_ID = 101


def _widgets(h: Heap, count: int) -> None:
    """global.widgets: an old Array holding two old Widgets and `count` new ones, each new
    Widget with a new label string."""
    array = h.node("object", "Array", 32, id=ARRAY_ID)
    h.edge(h.global_, array, "property", "widgets")
    for i in range(2):
        h.edge(array, h.node("object", "Widget", WIDGET, id=201 + 2 * i), "element")
    for i in range(count):
        widget = h.node("object", "Widget", WIDGET, id=NEW + 4 * i)
        label = h.node("string", f"widget #{i}", LABEL, id=NEW + 4 * i + 2)
        h.edge(array, widget, "element")
        h.edge(widget, label, "property", "label")


def test_linear_growth_is_charged_to_the_old_array(tmp_path: Path) -> None:
    snaps = _three(tmp_path, _widgets)
    groups = growing_groups(snaps, REQUESTS)
    assert len(groups) == 1
    g = groups[0]
    assert g.owner_id == ARRAY_ID
    assert g.bytes_per_request == pytest.approx(WIDGET + LABEL)  # 10 widgets per 10 requests
    assert g.objects_per_request == pytest.approx(1.0)
    assert g.principal_class == "Widget"
    assert g.bytes_by_snapshot == [0, 10 * (WIDGET + LABEL), 20 * (WIDGET + LABEL)]
    assert not g.by_class
    last = snaps[-1]
    assert g.snapshot is last
    # the representative is one of the new widgets of the last snapshot, not an old one
    assert last.node_name_text(g.representative) == "Widget"
    assert int(last.node_id[g.representative]) >= NEW


def test_linear_growth_becomes_a_collection_culprit(tmp_path: Path) -> None:
    culprits = find_culprits(_three(tmp_path, _widgets), REQUESTS)
    assert len(culprits) == 1
    c = culprits[0]
    assert (c.kind, c.constructor, c.rank) == ("collection", "Widget", 1)
    assert c.bytes_per_request == pytest.approx(WIDGET + LABEL)
    assert c.owner == f"Array @{ARRAY_ID}"
    assert ".widgets" in c.path and c.path[-1] == "Widget"


def test_growth_below_the_byte_threshold_is_ignored(tmp_path: Path) -> None:
    snaps = _three(tmp_path, _widgets)
    assert growing_groups(snaps, REQUESTS, min_bytes_per_request=WIDGET + LABEL + 1) == []
    assert len(growing_groups(snaps, REQUESTS, min_bytes_per_request=WIDGET + LABEL)) == 1


# -- 2. to 4. what does not grow in step with requests -----------------------------------------

ENTRY = 100
MAP_ID = 111


def _owner_with(entries: Callable[[int], list[int]]) -> Callable[[Heap, int], None]:
    """global.cache: an old Map holding new Entry objects with the ids entries(count) gives."""

    def build(h: Heap, count: int) -> None:
        cache = h.node("object", "Map", 48, id=MAP_ID)
        h.edge(h.global_, cache, "property", "cache")
        for node_id in entries(count):
            h.edge(cache, h.node("object", "Entry", ENTRY, id=node_id), "internal", str(node_id))

    return build


def _ids(first: int, how_many: int) -> list[int]:
    return [NEW + 2 * (first + i) for i in range(how_many)]


def _no_growing_owner(snaps: list[HeapSnapshot]) -> None:
    assert growing_groups(snaps, REQUESTS) == []
    assert find_culprits(snaps, REQUESTS) == []


def test_a_cache_at_steady_size_is_not_a_culprit(tmp_path: Path) -> None:
    # 10 new entries after 10 requests; after 20, 10 *other* new entries replaced them
    snaps = _three(tmp_path, _owner_with(lambda count: _ids(1000 * count, 10 if count else 0)))
    series = [snapshot_growth(snaps[0], s) for s in snaps[1:]]
    assert [s.owners[MAP_ID].new_bytes for s in series] == [10 * ENTRY, 10 * ENTRY]
    assert 10 * ENTRY / 20 >= 32  # big enough: only the failed linearity excludes it
    _no_growing_owner(snaps)


def test_transient_objects_are_not_culprits(tmp_path: Path) -> None:
    # present after 10 requests, collected by the time of the last snapshot
    snaps = _three(tmp_path, _owner_with(lambda count: _ids(0, 10) if count == 10 else []))
    assert snapshot_growth(snaps[0], snaps[1]).owners[MAP_ID].new_bytes == 10 * ENTRY
    assert MAP_ID not in snapshot_growth(snaps[0], snaps[2]).owners
    _no_growing_owner(snaps)


def test_growth_that_stops_is_not_a_culprit(tmp_path: Path) -> None:
    # grew by 10 entries, then the same 10 entries stayed and nothing more was added
    snaps = _three(tmp_path, _owner_with(lambda count: _ids(0, min(count, 10))))
    series = [snapshot_growth(snaps[0], s) for s in snaps[1:]]
    assert [s.owners[MAP_ID].new_bytes for s in series] == [10 * ENTRY, 10 * ENTRY]
    _no_growing_owner(snaps)


def test_growth_that_starts_late_is_not_linear(tmp_path: Path) -> None:
    # nothing after 10 requests, 20 entries after 20: not in step with requests either
    snaps = _three(tmp_path, _owner_with(lambda count: _ids(0, 20) if count == 20 else []))
    _no_growing_owner(snaps)


# -- 5. shared objects -------------------------------------------------------------------------

ITEM, JOB, SESSION = 48, 80, 120
A_ID, REGISTRY_ID, B_ID = 301, 303, 305


def _shared(h: Heap, count: int) -> None:
    """global.registry.b (B, depth 4) and global.a (A, depth 3) both hold each new Session;
    A also holds its own new Items, B its own new Jobs. B and its edges are written first, so
    only the distance from the root can give the Sessions to A."""
    registry = h.node("object", "Registry", 16, id=REGISTRY_ID)
    b = h.node("object", "Array", 32, id=B_ID)
    a = h.node("object", "Array", 32, id=A_ID)
    h.edge(h.global_, registry, "property", "registry")
    h.edge(h.global_, a, "property", "a")
    h.edge(registry, b, "property", "b")
    sessions = [h.node("object", "Session", SESSION, id=NEW + 6 * i) for i in range(count)]
    for i, session in enumerate(sessions):
        h.edge(b, session, "element")
        h.edge(b, h.node("object", "Job", JOB, id=NEW + 6 * i + 2), "element")
    for i, session in enumerate(sessions):
        h.edge(a, h.node("object", "Item", ITEM, id=NEW + 6 * i + 4), "element")
        h.edge(a, session, "element")


def test_shared_objects_are_charged_once_to_the_owner_nearer_the_root(tmp_path: Path) -> None:
    snaps = _three(tmp_path, _shared)
    last = snaps[-1]
    owners = owner_growth(snaps[0], last)
    assert set(owners) == {A_ID, B_ID}
    assert owners[A_ID].new_bytes == 20 * (ITEM + SESSION)
    assert owners[A_ID].new_objects == 40
    assert owners[B_ID].new_bytes == 20 * JOB
    assert owners[B_ID].new_objects == 20
    total = _new_bytes(snaps[0], last)
    assert sum(g.new_bytes for g in owners.values()) == total == 20 * (ITEM + JOB + SESSION)

    groups = {g.owner_id: g for g in growing_groups(snaps, REQUESTS)}
    assert set(groups) == {A_ID, B_ID}
    assert groups[A_ID].bytes_per_request == pytest.approx(ITEM + SESSION)
    assert groups[B_ID].bytes_per_request == pytest.approx(JOB)
    assert groups[A_ID].principal_class == "Session"  # the heavier of A's first-level objects
    assert groups[B_ID].principal_class == "Job"
    assert sum(g.bytes_by_snapshot[-1] for g in groups.values()) == total
    # ranked by bytes per request
    assert [g.owner_id for g in growing_groups(snaps, REQUESTS)] == [A_ID, B_ID]


def test_weak_references_do_not_make_an_owner(tmp_path: Path) -> None:
    """A (nearer the root) holds the new Sessions only weakly, B strongly: they are B's."""

    def build(h: Heap, count: int) -> None:
        registry = h.node("object", "Registry", 16, id=REGISTRY_ID)
        a = h.node("object", "WeakSet", 32, id=A_ID)
        b = h.node("object", "Array", 32, id=B_ID)
        h.edge(h.global_, a, "property", "seen")
        h.edge(h.global_, registry, "property", "registry")
        h.edge(registry, b, "property", "b")
        for i in range(count):
            session = h.node("object", "Session", SESSION, id=NEW + 2 * i)
            h.edge(a, session, "weak", str(i))
            h.edge(b, session, "element")

    snaps = _three(tmp_path, build)
    assert set(owner_growth(snaps[0], snaps[-1])) == {B_ID}
    (g,) = growing_groups(snaps, REQUESTS)
    assert (g.owner_id, g.bytes_per_request) == (B_ID, SESSION)


def test_objects_held_only_by_v8_bookkeeping_have_no_owner(tmp_path: Path) -> None:
    """New objects with no old, user-visible object above them (a handle scope's) are charged
    to nobody: the root is never reported as an owner."""

    def build(h: Heap, count: int) -> None:
        handles = h.node("synthetic", "(Handle scope)", 0, id=601)
        h.edge(h.gc_roots, handles, "element")
        for i in range(count):
            h.edge(handles, h.node("object", "Buffer", 256, id=NEW + 2 * i), "element")

    snaps = _three(tmp_path, build)
    assert _new_bytes(snaps[0], snaps[-1]) == 20 * 256
    assert owner_growth(snaps[0], snaps[-1]) == {}
    assert growing_groups(snaps, REQUESTS) == []


def test_bookkeeping_objects_are_never_owners(tmp_path: Path) -> None:
    """New objects held by a closure's `system / Context` and a `(…)` object are charged to
    the closure, the nearest object a developer wrote."""
    handler_id, context_id, internal_id = 401, 403, 405

    def build(h: Heap, count: int) -> None:
        handler = h.node("closure", "onRequest", 32, id=handler_id)
        context = h.node("object", "system / Context", 40, id=context_id)
        internal = h.node("object", "(internal array)", 16, id=internal_id)
        h.edge(h.global_, handler, "property", "onRequest")
        h.edge(handler, context, "internal", "context")
        h.edge(context, internal, "context", "seen")
        for i in range(count):
            h.edge(internal, h.node("object", "Visit", 64, id=NEW + 2 * i), "element")

    snaps = _three(tmp_path, build)
    assert set(owner_growth(snaps[0], snaps[-1])) == {handler_id}
    (g,) = growing_groups(snaps, REQUESTS)
    assert (g.owner_id, g.principal_class, g.bytes_per_request) == (handler_id, "Visit", 64)


# -- 6. timers ---------------------------------------------------------------------------------

TIMEOUT, TICK = 80, 32
CONTEXT_ID, LIST_MAP_ID, LIST_ID, HEAD_ID, SECOND_ID = 501, 503, 505, 507, 509
SCRIPT, LINE, COLUMN = 42, 7, 12


def _timers(doubly_linked: bool) -> Callable[[Heap, int], None]:
    """timerListMap['1000'] is an old TimersList; _idlePrev runs from it through two old
    Timeouts (the chain head first) and then through the new ones, one per request; every
    Timeout has its own `tick` callback, all defined at one place in the script. Doubly linked (as in Node), `_idleNext` runs the other way,
    so the shortest paths to the new Timeouts come half from each end of the list."""

    def build(h: Heap, count: int) -> None:
        context = h.node("object", "system / Context", 40, id=CONTEXT_ID)
        list_map = h.node("object", "Object", 24, id=LIST_MAP_ID)
        timers_list = h.node("object", "TimersList", 56, id=LIST_ID)
        h.edge(h.gc_roots, context, "element")
        h.edge(context, list_map, "context", "timerListMap")
        h.edge(list_map, timers_list, "property", "1000")
        chain = [timers_list]
        for node_id in (HEAD_ID, SECOND_ID):  # the leak had begun before the first snapshot
            timeout = h.node("object", "Timeout", TIMEOUT, id=node_id)
            tick = h.node("closure", "tick", TICK, id=node_id + 100)
            h.location(tick, SCRIPT, LINE, COLUMN)
            h.edge(timeout, tick, "property", "_onTimeout")
            chain.append(timeout)
        for i in range(count):
            timeout = h.node("object", "Timeout", TIMEOUT, id=NEW + 4 * i)
            tick = h.node("closure", "tick", TICK, id=NEW + 4 * i + 2)
            h.location(tick, SCRIPT, LINE, COLUMN)
            h.edge(timeout, tick, "property", "_onTimeout")
            chain.append(timeout)
        for before, after in zip(chain, chain[1:] + ([timers_list] if doubly_linked else [])):
            h.edge(before, after, "property", "_idlePrev")
        if doubly_linked:
            ring = [timers_list, *reversed(chain[1:])]
            for before, after in zip(ring, ring[1:] + [timers_list]):
                h.edge(before, after, "property", "_idleNext")

    return build


@pytest.mark.parametrize("doubly_linked", [False, True])
def test_timers_are_counted_one_per_request(tmp_path: Path, doubly_linked: bool) -> None:
    snaps = _three(tmp_path, _timers(doubly_linked))
    (g,) = counted_groups(snaps, REQUESTS)
    assert g.by_class and g.owner_id == -1
    assert g.principal_class == "Timeout"
    assert g.objects_per_request == 1.0  # the two old Timeouts of the chain are not counted
    assert g.bytes_per_request == TIMEOUT
    assert g.bytes_by_snapshot == [0, 10 * TIMEOUT, 20 * TIMEOUT]
    assert int(snaps[-1].node_id[g.representative]) >= NEW


@pytest.mark.parametrize("doubly_linked", [False, True])
def test_timer_chains_are_charged_to_the_timers_list_not_an_old_timeout(
    tmp_path: Path, doubly_linked: bool
) -> None:
    snaps = _three(tmp_path, _timers(doubly_linked))
    owners = owner_growth(snaps[0], snaps[-1])
    assert set(owners) == {LIST_ID}
    assert owners[LIST_ID].new_bytes == _new_bytes(snaps[0], snaps[-1]) == 20 * (TIMEOUT + TICK)
    (g,) = growing_groups(snaps, REQUESTS)
    assert g.owner_id == LIST_ID
    assert g.principal_class == "Timeout"
    assert g.objects_per_request == pytest.approx(1.0)  # each Timeout of the list is one item
    assert g.bytes_per_request == pytest.approx(TIMEOUT + TICK)


def test_timer_leak_becomes_one_timer_culprit(tmp_path: Path) -> None:
    culprits = find_culprits(_three(tmp_path, _timers(doubly_linked=True)), REQUESTS)
    assert [c.kind for c in culprits] == ["timer"]
    assert culprits[0].constructor == "Timeout"
    assert culprits[0].owner == f"TimersList @{LIST_ID}"


def test_timers_are_grouped_by_callback_site(tmp_path: Path) -> None:
    """A steady, replaced keep-alive timer beside the leaking ones is not counted with them."""
    leaking = _timers(doubly_linked=False)

    def build(h: Heap, count: int) -> None:
        leaking(h, count)
        if count:
            socket_timer = h.node("object", "Timeout", TIMEOUT, id=900_001 + count)
            callback = h.node("closure", "onTimeout", TICK, id=900_101 + count)
            h.location(callback, SCRIPT + 1, 3, 1)
            h.edge(socket_timer, callback, "property", "_onTimeout")
            h.edge(h.global_, socket_timer, "property", "socketTimer")

    snaps = _three(tmp_path, build)
    growth = snapshot_growth(snaps[0], snaps[-1])
    assert growth.timer_counts == {
        ("Timeout", SCRIPT, LINE, COLUMN): 20,
        ("Timeout", SCRIPT + 1, 3, 1): 1,
    }
    (g,) = counted_groups(snaps, REQUESTS)
    assert g.objects_per_request == 1.0


# -- 7. new_nodes ------------------------------------------------------------------------------


def _ids_snapshot(tmp_path: Path, name: str, ids: list[int]) -> HeapSnapshot:
    b = SnapshotBuilder()
    b.nodes[0].id = ids[0]
    for node_id in ids[1:]:
        b.edge(b.root, b.node("object", "X", 8, id=node_id), "element")
    return load_snapshot(b.write(tmp_path / name))


@pytest.mark.parametrize("seed", range(5))
def test_new_nodes_from_sorted_ids_is_the_set_difference(tmp_path: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    pool = rng.choice(np.arange(1, 2000, 2), size=160, replace=False)
    first_ids = [int(i) for i in pool[:100]]  # in no particular order
    later_ids = [int(i) for i in rng.permutation(np.concatenate([pool[40:100], pool[100:]]))]
    later_ids += [1, 1_000_001]  # below and above every id of the first snapshot
    first = _ids_snapshot(tmp_path, "first.heapsnapshot", first_ids)
    later = _ids_snapshot(tmp_path, "later.heapsnapshot", later_ids)
    naive = np.array([i not in set(first_ids) for i in later.node_id.tolist()])
    ids = baseline_ids(first)
    assert np.all(ids[:-1] < ids[1:])
    assert np.array_equal(new_nodes(ids, later), naive)
    assert np.array_equal(new_nodes(first, later), naive)
    assert np.array_equal(new_nodes(np.sort(np.array(first_ids)), later), naive)
    assert naive.sum() == 62


def test_new_nodes_against_an_empty_baseline_are_all_new(tmp_path: Path) -> None:
    later = _ids_snapshot(tmp_path, "later.heapsnapshot", [1, 3, 5])
    assert new_nodes(np.array([], dtype=np.int64), later).tolist() == [True, True, True]
    assert new_nodes(later, later).tolist() == [False, False, False]


# -- 8. bad input ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "requests",
    [[0.0, 0.0, 10.0], [10.0, 5.0, 20.0], [20.0, 10.0, 0.0], [5.0, 5.0, 5.0]],
)
def test_request_counts_must_grow(tmp_path: Path, requests: list[float]) -> None:
    snaps = _three(tmp_path, _widgets)
    with pytest.raises(ValueError, match="must grow"):
        growing_groups(snaps, requests)
    with pytest.raises(ValueError, match="must grow"):
        counted_groups(snaps, requests)
    with pytest.raises(ValueError, match="must grow"):
        find_culprits(snaps, requests)


@pytest.mark.parametrize("requests", [[0.0, 10.0, 10.0], [0.0, 20.0, 10.0]])
def test_request_counts_must_grow_between_later_snapshots(
    tmp_path: Path, requests: list[float]
) -> None:
    with pytest.raises(ValueError, match="must grow"):
        growing_groups(_three(tmp_path, _widgets), requests)


def test_fewer_than_three_snapshots_are_refused(tmp_path: Path) -> None:
    snaps = _three(tmp_path, _widgets)
    with pytest.raises(ValueError, match="at least three"):
        growing_groups(snaps[:2], REQUESTS[:2])
    with pytest.raises(ValueError, match="at least three"):
        counted_groups(snaps[:2], REQUESTS[:2])
    with pytest.raises(ValueError, match="at least three"):
        find_culprits(snaps[:2], REQUESTS[:2])
    with pytest.raises(ValueError, match="at least three"):
        groups_from_series([snapshot_growth(snaps[0], snaps[1])], snaps[1], REQUESTS[:2])
    with pytest.raises(ValueError, match="one request count per snapshot"):
        growing_groups(snaps, REQUESTS[:2])


def test_mismatched_request_counts_are_refused_everywhere(tmp_path: Path) -> None:
    snaps = _three(tmp_path, _widgets)
    with pytest.raises(ValueError, match="one request count per snapshot"):
        counted_groups(snaps, [0.0, 10.0, 20.0, 30.0])
    with pytest.raises(ValueError, match="one request count per snapshot"):
        find_culprits(snaps, [0.0, 10.0, 20.0, 30.0])


def _strings(h: Heap, count: int) -> None:
    """global.names: an old Array gaining `count` new 64-byte strings and nothing else."""
    array = h.node("object", "Array", 32, id=ARRAY_ID)
    h.edge(h.global_, array, "property", "names")
    for i in range(count):
        h.edge(array, h.node("string", f"name {i}", 64, id=9000 + 2 * i), "element", i)


def test_a_leak_of_strings_names_the_strings(tmp_path: Path) -> None:
    (group,) = growing_groups(_three(tmp_path, _strings), REQUESTS)
    assert group.principal_class == "(string)" and group.objects_per_request == pytest.approx(1.0)
