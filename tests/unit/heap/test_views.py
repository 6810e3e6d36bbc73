"""Summary, diff, retainer paths and source locations on hand-built snapshots."""

from __future__ import annotations

import json
from pathlib import Path

from heap_builder import SnapshotBuilder

from leaksleuth.cli import main
from leaksleuth.heap import (
    diff_snapshots,
    format_path,
    load_snapshot,
    location_of,
    retainer_paths,
    summarize,
)


def _event_bus(tmp_path: Path, name: str = "bus.heapsnapshot") -> tuple[Path, dict[str, int]]:
    """The shape V8 gives `globalThis.bus.on('tick', function leakyHandler() {...thing...})`."""
    b = SnapshotBuilder()
    n: dict[str, int] = {}
    n["gc_roots"] = b.node("synthetic", "(GC roots)")
    n["handles"] = b.node("synthetic", "(Handle scope)")
    n["native_context"] = b.node("hidden", "system / NativeContext", 100)
    n["global"] = b.node("object", "global", 50)
    n["bus"] = b.node("object", "EventEmitter", 40)
    n["events"] = b.node("object", "Object", 30)
    n["tick"] = b.node("object", "Array", 20)
    n["handler"] = b.node("closure", "leakyHandler", 32)
    n["context"] = b.node("object", "system / Context", 24)
    n["thing"] = b.node("object", "LeakyThing", 16, id=123456)
    n["shared"] = b.node("code", "leakyHandler", 8)
    n["script"] = b.node("code", "/app/leak.js", 8)
    n["url"] = b.node("string", "/app/leak.js", 8)
    b.edge(b.root, n["gc_roots"], "element")
    b.edge(b.root, n["global"], "shortcut", "2")
    b.edge(n["gc_roots"], n["handles"], "element", 11)
    b.edge(n["handles"], n["native_context"], "internal", "8")
    b.edge(n["native_context"], n["global"], "internal", "extension")
    b.edge(n["global"], n["bus"], "property", "bus")
    b.edge(n["bus"], n["events"], "property", "_events")
    b.edge(n["events"], n["tick"], "property", "tick")
    b.edge(n["tick"], n["handler"], "element", 0)
    b.edge(n["handler"], n["context"], "internal", "context")
    b.edge(n["handler"], n["shared"], "internal", "shared")
    b.edge(n["shared"], n["script"], "internal", "script_or_debug_info")
    b.edge(n["script"], n["url"], "internal", "name")
    b.edge(n["context"], n["thing"], "context", "thing")
    b.edge(n["bus"], n["thing"], "weak", "cache")
    b.location(n["handler"], 81, 6, 38)
    return b.write(tmp_path / name), n


def test_retainer_path_reads_like_source_code(tmp_path: Path) -> None:
    path, n = _event_bus(tmp_path)
    snap = load_snapshot(path)
    (found,) = retainer_paths(snap, n["thing"])
    assert [s.edge_type for s in found.steps][-3:] == ["element", "internal", "context"]
    assert format_path(snap, found) == (
        "global.bus._events.tick[0] → leakyHandler()::thing → LeakyThing @123456"
        " — leakyHandler at /app/leak.js:7:39"
    )
    (to_handler,) = retainer_paths(snap, n["handler"])
    assert (
        format_path(snap, to_handler, with_locations=False)
        == "global.bus._events.tick[0] → leakyHandler()"
    )


def test_unreachable_object_has_no_path(tmp_path: Path) -> None:
    b = SnapshotBuilder()
    lost = b.node("object", "Lost", 4)
    snap = load_snapshot(b.write(tmp_path / "lost.heapsnapshot"))
    assert retainer_paths(snap, lost) == []


def test_several_shortest_paths_are_all_offered(tmp_path: Path) -> None:
    b = SnapshotBuilder()
    g = b.node("object", "global", 1)
    a, c = b.node("object", "A", 1), b.node("object", "C", 1)
    target = b.node("object", "Target", 1)
    b.edge(b.root, g, "element")
    b.edge(g, a, "property", "a")
    b.edge(g, c, "property", "c")
    b.edge(a, target, "property", "t")
    b.edge(c, target, "element", 3)
    snap = load_snapshot(b.write(tmp_path / "two.heapsnapshot"))
    texts = [format_path(snap, p) for p in retainer_paths(snap, target, max_paths=5)]
    assert texts == ["global.a.t → Target @9", "global.c[3] → Target @9"]
    assert len(retainer_paths(snap, target, max_paths=1)) == 1


def test_script_urls_come_from_capture_then_heap_then_id(tmp_path: Path) -> None:
    path, n = _event_bus(tmp_path)
    assert str(location_of(load_snapshot(path), n["handler"])) == "/app/leak.js:7:39"
    supplied = load_snapshot(path, script_urls={81: "file:///srv/app/leak.js"})
    assert str(location_of(supplied, n["handler"])) == "file:///srv/app/leak.js:7:39"
    b = SnapshotBuilder()
    f = b.node("closure", "anon", 8)
    b.edge(b.root, f, "element")
    b.location(f, 5, 0, 0)
    bare = load_snapshot(b.write(tmp_path / "bare.heapsnapshot"))
    assert str(location_of(bare, f)) == "script#5:1:1"
    assert location_of(bare, 0) is None


def _diff_pair(tmp_path: Path) -> tuple[Path, Path]:
    before, after = SnapshotBuilder(), SnapshotBuilder()
    for i, cls in ((1, "Foo"), (3, "Foo"), (5, "Foo"), (7, "Bar")):
        before.edge(before.root, before.node("object", cls, 10, id=100 + i), "element")
    for i, cls, size in (
        (1, "Foo", 10),
        (3, "Foo", 10),
        (9, "Foo", 12),
        (11, "Foo", 12),
        (13, "Baz", 5),
    ):
        after.edge(after.root, after.node("object", cls, size, id=100 + i), "element")
    return before.write(tmp_path / "before.heapsnapshot"), after.write(
        tmp_path / "after.heapsnapshot"
    )


def test_diff_matches_objects_by_id(tmp_path: Path) -> None:
    before, after = _diff_pair(tmp_path)
    result = diff_snapshots(load_snapshot(before), load_snapshot(after))
    assert (result.added, result.freed) == (3, 2)
    rows = {r.name: (r.added, r.freed, r.count_delta, r.size_delta) for r in result.constructors}
    assert rows == {"Foo": (2, 1, 1, 14), "Bar": (0, 1, -1, -10), "Baz": (1, 0, 1, 5)}
    assert [r.name for r in result.constructors] == ["Foo", "Bar", "Baz"]


def test_summary_json_and_table_from_the_cli(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    path, _ = _event_bus(tmp_path)
    out = tmp_path / "summary.json"
    assert main(["analyze", str(path), "--top", "3", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert set(data) == {"nodes", "edges", "total_size", "constructors"}
    assert (data["nodes"], data["edges"], data["total_size"]) == (14, 15, 336)
    first = data["constructors"][0]
    assert set(first) == {"name", "type", "count", "self_size", "retained_size"}
    retained = [c["retained_size"] for c in data["constructors"]]
    assert retained == sorted(retained, reverse=True)
    # the root's shortcut marks `global` as a user root, so the NativeContext does not own it
    assert (
        first["name"] == "global"
        and first["retained_size"] == 50 + 40 + 30 + 20 + 32 + 24 + 16 + 3 * 8
    )
    printed = capsys.readouterr().out
    assert "EventEmitter" in printed and "14 nodes" in printed


def test_summary_groups_like_devtools(tmp_path: Path) -> None:
    path, _ = _event_bus(tmp_path)
    rows = {r.name: r for r in summarize(load_snapshot(path)).constructors}
    assert rows["(closure)"].count == 1 and rows["(compiled code)"].count == 2
    assert rows["system / Context"].retained_size == 24 + 16
    assert rows["LeakyThing"].type == "object"


def test_diff_and_path_from_the_cli(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    before, after = _diff_pair(tmp_path)
    out = tmp_path / "diff.json"
    assert main(["diff", str(before), str(after), "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert (data["added"], data["freed"]) == (3, 2)
    assert data["constructors"][0] == {
        "name": "Foo",
        "count_delta": 1,
        "size_delta": 14,
        "added": 2,
        "freed": 1,
        "added_size": 24,
        "freed_size": 10,
    }
    bus, _ = _event_bus(tmp_path)
    capsys.readouterr()
    assert main(["path", str(bus), "@123456"]) == 0
    assert "global.bus._events.tick[0] → leakyHandler()::thing" in capsys.readouterr().out
    assert main(["path", str(bus), "@999"]) == 3
    assert main(["analyze", str(tmp_path / "missing.heapsnapshot")]) == 3
