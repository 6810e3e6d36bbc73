"""The heap engine on snapshots taken from a real node process during the test run.

tests/fixtures/heap/event_bus_leak.js builds a known graph: 1000 `leakyHandler` closures on
`globalThis.bus`, each closing over one LeakyThing; 300 Temp objects dropped and 500 Widgets
added between its two snapshots.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from leaksleuth.cli import main
from leaksleuth.errors import SnapshotError
from leaksleuth.heap import (
    HeapSnapshot,
    class_retained_sizes,
    diff_snapshots,
    dominators,
    format_path,
    load_snapshot,
    location_of,
    retained_sizes,
    retainer_paths,
    summarize,
)

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "heap" / "event_bus_leak.js"
HANDLER_LINE = next(
    i
    for i, line in enumerate(FIXTURE.read_text().splitlines(), 1)
    if "function leakyHandler" in line
)
HANDLER_COLUMN = (
    FIXTURE.read_text().splitlines()[HANDLER_LINE - 1].index("leakyHandler(")
    + len("leakyHandler")
    + 1
)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit" / "heap"))
from heap_reference import (  # noqa: E402 - found through the path set just above
    dominators_by_dataflow,
    essential_successors,
    retained_by_removal,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def snapshots(tmp_path_factory: pytest.TempPathFactory, node: str) -> tuple[Path, Path]:
    out = tmp_path_factory.mktemp("heap")
    done = subprocess.run(
        [node, str(FIXTURE), str(out)], check=False, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0 and "ready" in done.stdout, done.stderr
    return out / "before.heapsnapshot", out / "after.heapsnapshot"


@pytest.fixture(scope="session")
def before(snapshots: tuple[Path, Path]) -> HeapSnapshot:
    return load_snapshot(snapshots[0])


def _objects_named(snap: HeapSnapshot, type_name: str, name: str) -> np.ndarray:
    index = snap.strings.index(name)
    return np.flatnonzero(
        (snap.node_type == snap.node_type_code(type_name)) & (snap.node_name == index)
    )


def test_summary_counts_the_known_objects_exactly(before: HeapSnapshot) -> None:
    rows = {r.name: r for r in summarize(before).constructors}
    assert rows["LeakyThing"].count == 1000
    assert rows["Temp"].count == 300
    assert "Widget" not in rows
    assert len(_objects_named(before, "closure", "leakyHandler")) == 1000
    things = _objects_named(before, "object", "LeakyThing")
    assert rows["LeakyThing"].self_size == int(before.node_self_size[things].sum())
    # no LeakyThing dominates another, so the class retains the sum of its members
    assert rows["LeakyThing"].retained_size == int(retained_sizes(before)[things].sum())
    assert rows["LeakyThing"].retained_size == int(
        class_retained_sizes(before)[before.class_keys()[things[0]]]
    )


def test_dominators_match_an_independent_reference(before: HeapSnapshot) -> None:
    assert dominators(before).tolist() == dominators_by_dataflow(before)


def test_retained_sizes_match_removal_on_real_objects(before: HeapSnapshot) -> None:
    succ = essential_successors(before)
    retained = retained_sizes(before)
    bus = _objects_named(before, "object", "EventEmitter")
    handlers = _objects_named(before, "closure", "leakyHandler")[:3]
    things = _objects_named(before, "object", "LeakyThing")[:3]
    biggest = np.argsort(-retained)[1:6]  # past the root
    for ordinal in [*bus.tolist(), *handlers.tolist(), *things.tolist(), *biggest.tolist()]:
        assert int(retained[ordinal]) == retained_by_removal(before, int(ordinal), succ), ordinal
    assert int(retained[0]) == before.total_size


def test_the_handlers_bus_retains_all_of_them(before: HeapSnapshot) -> None:
    handlers = _objects_named(before, "closure", "leakyHandler")
    things = _objects_named(before, "object", "LeakyThing")
    retained = retained_sizes(before)
    owner = max(
        _objects_named(before, "object", "EventEmitter").tolist(), key=lambda o: int(retained[o])
    )
    assert int(retained[owner]) > int(retained[handlers].sum()) >= int(retained[things].sum())


def test_retainer_path_of_a_leaked_object_reads_as_source(before: HeapSnapshot) -> None:
    thing = int(_objects_named(before, "object", "LeakyThing")[10])
    paths = retainer_paths(before, thing, max_paths=3)
    assert paths
    text = format_path(before, paths[0])
    assert text.startswith("global.bus._events.tick[")
    assert "] → leakyHandler()" in text and f"→ LeakyThing @{int(before.node_id[thing])}" in text
    assert text.endswith(f"leakyHandler at {FIXTURE}:{HANDLER_LINE}:{HANDLER_COLUMN}")
    handler = int(_objects_named(before, "closure", "leakyHandler")[0])
    where = location_of(before, handler)
    assert where is not None and (where.url, where.line, where.column) == (
        str(FIXTURE),
        HANDLER_LINE,
        HANDLER_COLUMN,
    )


def test_diff_by_object_id_finds_added_and_freed(snapshots: tuple[Path, Path]) -> None:
    result = diff_snapshots(load_snapshot(snapshots[0]), load_snapshot(snapshots[1]))
    rows = {r.name: r for r in result.constructors}
    assert (rows["Widget"].added, rows["Widget"].freed) == (500, 0)
    assert (rows["Temp"].added, rows["Temp"].freed) == (0, 300)
    assert "LeakyThing" not in rows or rows["LeakyThing"].count_delta == 0
    assert rows["Widget"].size_delta > 0 and rows["Temp"].size_delta < 0


def test_cli_on_real_snapshots(snapshots: tuple[Path, Path], tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    summary_json, diff_json = tmp_path / "a.json", tmp_path / "d.json"
    assert main(["analyze", str(snapshots[0]), "--top", "5", "--json", str(summary_json)]) == 0
    data = json.loads(summary_json.read_text())
    assert {c["name"]: c["count"] for c in data["constructors"]}["LeakyThing"] == 1000
    assert main(["diff", *map(str, snapshots), "--json", str(diff_json)]) == 0
    assert {c["name"]: c["count_delta"] for c in json.loads(diff_json.read_text())["constructors"]}[
        "Widget"
    ] == 500
    snap = load_snapshot(snapshots[0])
    thing_id = int(snap.node_id[_objects_named(snap, "object", "LeakyThing")[0]])
    capsys.readouterr()
    assert main(["path", str(snapshots[0]), f"@{thing_id}"]) == 0
    assert "global.bus._events.tick[" in capsys.readouterr().out


@pytest.mark.parametrize("fraction", [0.0001, 0.3, 0.9, 0.999])
def test_truncated_real_snapshot_gives_a_clean_error(
    snapshots: tuple[Path, Path], tmp_path: Path, fraction: float
) -> None:
    full = snapshots[0].read_bytes()
    cut = tmp_path / "cut.heapsnapshot"
    cut.write_bytes(full[: int(len(full) * fraction)])
    with pytest.raises(SnapshotError, match=r"truncated at byte \d+ while reading "):
        load_snapshot(cut)
    assert main(["analyze", str(cut)]) == 3


def test_parsing_in_small_chunks_gives_the_same_snapshot(
    snapshots: tuple[Path, Path], before: HeapSnapshot
) -> None:
    small = load_snapshot(snapshots[0], chunk_bytes=4093)
    for column in ("node_type", "node_name", "node_id", "node_self_size", "edge_type", "edge_to"):
        assert np.array_equal(getattr(small, column), getattr(before, column)), column
    assert small.strings == before.strings
