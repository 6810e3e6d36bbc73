"""Dominators and retained sizes on tiny hand-built graphs, checked by hand and by reference."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from heap_builder import SnapshotBuilder
from heap_reference import dominators_by_dataflow, retained_by_removal, retained_from_idom

from leaksleuth.heap import (
    class_retained_sizes,
    distances,
    dominators,
    load_snapshot,
    retained_sizes,
    summarize,
)


def _diamond(tmp_path: Path) -> tuple[object, dict[str, int]]:
    b = SnapshotBuilder()
    n = {"root": b.root}
    n["G"] = b.node("object", "G", 10)
    for name, size in (("A", 100), ("B", 200), ("C", 5), ("D", 7), ("E", 50), ("F", 3), ("H", 4)):
        n[name] = b.node("object", name, size)
    b.edge(b.root, n["G"], "element")
    b.edge(n["G"], n["A"], "property", "a")
    b.edge(n["G"], n["B"], "property", "b")
    b.edge(n["A"], n["C"], "property", "c")
    b.edge(n["B"], n["C"], "property", "c")
    b.edge(n["C"], n["D"], "property", "d")
    b.edge(n["A"], n["E"], "property", "e")
    b.edge(n["B"], n["E"], "weak", "w")  # weak: does not keep E alive
    b.edge(n["B"], n["F"], "weak", "f")  # F is held only weakly: DevTools hangs it under the root
    b.edge(n["F"], n["H"], "property", "x")
    return load_snapshot(b.write(tmp_path / "diamond.heapsnapshot")), n


def test_dominators_of_a_diamond_follow_strong_edges_only(tmp_path: Path) -> None:
    snap, n = _diamond(tmp_path)
    idom = dominators(snap)
    expected = {
        "G": "root",
        "A": "G",
        "B": "G",
        "C": "G",
        "D": "C",
        "E": "A",
        "F": "root",
        "H": "F",
    }
    for node, dom in expected.items():
        assert idom[n[node]] == n[dom], node


def test_retained_sizes_of_a_diamond_are_worked_out_by_hand(tmp_path: Path) -> None:
    snap, n = _diamond(tmp_path)
    retained = retained_sizes(snap)
    expected = {"D": 7, "C": 12, "E": 50, "A": 150, "B": 200, "G": 372, "F": 7, "H": 4, "root": 379}
    assert {k: int(retained[n[k]]) for k in expected} == expected
    assert int(retained[0]) == snap.total_size


def test_shortcut_edges_count_only_from_the_root(tmp_path: Path) -> None:
    b = SnapshotBuilder()
    gc_roots = b.node("synthetic", "(GC roots)")
    p = b.node("object", "P", 10)
    q = b.node("object", "Q", 20)
    k = b.node("object", "K", 1)
    m = b.node("object", "M", 5)
    nn = b.node("object", "N", 2)
    b.edge(b.root, gc_roots, "element")
    b.edge(gc_roots, p, "element")
    b.edge(p, q, "property", "q")
    b.edge(gc_roots, k, "element")
    b.edge(k, q, "shortcut", "s")  # ignored: not from the root
    b.edge(b.root, m, "shortcut", "global")  # counts: root shortcuts mark user globals
    b.edge(gc_roots, nn, "element")
    b.edge(nn, m, "property", "m")
    snap = load_snapshot(b.write(tmp_path / "s.heapsnapshot"))
    idom = dominators(snap)
    assert idom[q] == p
    assert idom[m] == b.root
    retained = retained_sizes(snap)
    assert (int(retained[p]), int(retained[k]), int(retained[nn])) == (30, 1, 2)


def test_cycles_are_dominated_by_their_entry(tmp_path: Path) -> None:
    b = SnapshotBuilder()
    a, bb, c = (b.node("object", name, 1) for name in "ABC")
    b.edge(b.root, a, "element")
    b.edge(a, bb, "property", "b")
    b.edge(bb, a, "property", "a")
    b.edge(bb, c, "property", "c")
    snap = load_snapshot(b.write(tmp_path / "cycle.heapsnapshot"))
    assert dominators(snap).tolist() == [0, 0, a, bb]
    assert retained_sizes(snap).tolist() == [3, 3, 2, 1]


def test_unreachable_nodes_retain_only_themselves(tmp_path: Path) -> None:
    b = SnapshotBuilder()
    a = b.node("object", "A", 1)
    x = b.node("object", "X", 8)  # retained strongly by Y, but nothing reaches Y or X
    y = b.node("object", "Y", 16)
    b.edge(b.root, a, "element")
    b.edge(x, y, "property", "y")
    b.edge(y, x, "property", "x")
    snap = load_snapshot(b.write(tmp_path / "u.heapsnapshot"))
    assert distances(snap).tolist() == [0, 1, -1, -1]
    assert dominators(snap).tolist() == [0, 0, 0, 0]
    assert retained_sizes(snap).tolist() == [25, 1, 8, 16]


def test_class_retained_size_counts_nested_instances_once(tmp_path: Path) -> None:
    b = SnapshotBuilder()
    l1, l2, l3 = (b.node("object", "ListNode", 10) for _ in range(3))
    s = b.node("string", "payload", 3)
    b.edge(b.root, l1, "element")
    b.edge(l1, l2, "property", "next")
    b.edge(l2, l3, "property", "next")
    b.edge(l1, s, "property", "data")
    snap = load_snapshot(b.write(tmp_path / "list.heapsnapshot"))
    rows = {r.name: r for r in summarize(snap).constructors}
    assert (rows["ListNode"].count, rows["ListNode"].self_size, rows["ListNode"].retained_size) == (
        3,
        30,
        33,
    )
    assert (rows["(string)"].count, rows["(string)"].retained_size) == (1, 3)
    assert "(synthetic)" not in rows  # size-0 nodes are left out, as DevTools does
    keys = snap.class_keys()
    assert int(class_retained_sizes(snap)[keys[l1]]) == 33


def _random_graph(tmp_path: Path, seed: int) -> object:
    rng = np.random.default_rng(seed)
    b = SnapshotBuilder()
    count = 40
    nodes = [
        b.node("object", f"C{rng.integers(4)}", int(rng.integers(1, 50))) for _ in range(count)
    ]
    for _ in range(3):
        b.edge(b.root, nodes[int(rng.integers(count))], str(rng.choice(["element", "shortcut"])))
    for _ in range(90):
        source, target = (int(v) for v in rng.integers(count, size=2))
        kind = str(
            rng.choice(["property", "element", "internal", "context", "weak", "shortcut", "hidden"])
        )
        b.edge(nodes[source], nodes[target], kind, f"e{_}")
    return load_snapshot(b.write(tmp_path / f"random{seed}.heapsnapshot"))


@pytest.mark.parametrize("seed", range(25))
def test_dominators_match_a_naive_reference_on_random_graphs(tmp_path: Path, seed: int) -> None:
    snap = _random_graph(tmp_path, seed)
    reference = dominators_by_dataflow(snap)
    assert dominators(snap).tolist() == reference
    assert retained_sizes(snap).tolist() == retained_from_idom(snap, reference)
    for ordinal in range(snap.node_count):
        assert int(retained_sizes(snap)[ordinal]) == retained_by_removal(snap, ordinal)


def test_distances_count_from_the_global_objects_first(tmp_path: Path) -> None:
    b = SnapshotBuilder()
    gc_roots = b.node("synthetic", "(GC roots)")
    handles = b.node("synthetic", "(Handle scope)")
    g = b.node("object", "global", 1)
    bus = b.node("object", "EventEmitter", 1)
    weakly = b.node("object", "Cached", 1)
    b.edge(b.root, gc_roots, "element")
    b.edge(b.root, g, "shortcut", "1")
    b.edge(gc_roots, handles, "element")
    b.edge(handles, bus, "element")  # a handle points at bus directly: shorter, but "system"
    b.edge(g, bus, "property", "bus")
    b.edge(bus, weakly, "weak", "cache")
    snap = load_snapshot(b.write(tmp_path / "d.heapsnapshot"))
    dist = distances(snap)
    assert (dist[g], dist[bus], dist[weakly]) == (1, 2, -1)
    assert (dist[b.root], dist[gc_roots], dist[handles]) == (100_000_000, 100_000_001, 100_000_002)


def test_an_object_held_only_weakly_does_not_change_who_retains_the_live_heap(tmp_path: Path) -> None:
    """root → A → B and a weakly held O → B: B stays A's (DevTools and MemLab skip edges from
    nodes the root does not reach into nodes it does)."""
    b = SnapshotBuilder()
    a = b.node("object", "A", 10)
    bb = b.node("object", "B", 100)
    o = b.node("object", "O", 5)
    b.edge(b.root, a, "element")
    b.edge(a, bb, "property", "b")
    b.edge(a, o, "weak", "o")
    b.edge(o, bb, "property", "b")
    snap = load_snapshot(b.write(tmp_path / "weak.heapsnapshot"))
    assert dominators(snap).tolist() == [0, 0, a, 0]
    assert retained_sizes(snap).tolist() == [115, 110, 100, 5]
