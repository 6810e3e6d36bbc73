"""Snapshots written by Node 18 and 22 (fixtures made by tests/fixtures/heap/make_versions.sh
with the official binaries from npm): parse, summary, paths, locations and growth all work,
not only on the Node 20 that runs the rest of the tests."""

from __future__ import annotations

import gzip
import shutil
from pathlib import Path

import numpy as np
import pytest

from leaksleuth.heap.culprits import find_culprits
from leaksleuth.heap.locations import location_of
from leaksleuth.heap.parse import load_snapshot
from leaksleuth.heap.paths import format_path, retainer_paths
from leaksleuth.heap.snapshot import HeapSnapshot
from leaksleuth.heap.summary import summarize

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "heap"
VERSIONS = ["node18", "node22"]


def unzip(version: str, name: str, tmp: Path) -> HeapSnapshot:
    raw = tmp / f"{version}-{name}.heapsnapshot"
    with gzip.open(FIXTURES / version / f"{name}.heapsnapshot.gz") as src, open(raw, "wb") as dst:
        shutil.copyfileobj(src, dst)
    return load_snapshot(raw)


def line_of(script: str, needle: str) -> int:
    lines = (FIXTURES / script).read_text().splitlines()
    return next(i for i, text in enumerate(lines, 1) if needle in text)


@pytest.mark.parametrize("version", VERSIONS)
def test_known_graph_parses_with_exact_counts_and_the_chain(version: str, tmp_path: Path) -> None:
    snap = unzip(version, "before", tmp_path)
    counts = {c.name: c.count for c in summarize(snap).constructors}
    assert counts["LeakyThing"] == 1000 and counts["Temp"] == 300
    closure = snap.node_type_code("closure")
    handlers = [i for i in np.flatnonzero(snap.node_type == closure) if snap.node_name_text(int(i)) == "leakyHandler"]
    assert len(handlers) == 1000
    where = location_of(snap, int(handlers[0]))
    assert where is not None and where.url.endswith("event_bus_leak.js")
    assert where.line == line_of("event_bus_leak.js", "function leakyHandler")
    thing = next(i for i in range(snap.node_count) if snap.node_name_text(i) == "LeakyThing" and snap.node_type_name(i) == "object")
    text = format_path(snap, retainer_paths(snap, thing, max_paths=1)[0])
    assert text.startswith("global.bus._events.tick[") and "leakyHandler()" in text


@pytest.mark.parametrize("version", VERSIONS)
def test_growth_finds_each_leak_and_nothing_else(version: str, tmp_path: Path) -> None:
    snaps = [unzip(version, f"s{i}", tmp_path) for i in range(3)]
    culprits = find_culprits(snaps, [100, 400, 700])
    by_kind = {c.kind: c for c in culprits}
    assert set(by_kind) == {"listener", "timer", "collection"}, [c.to_json() for c in culprits]
    listener = by_kind["listener"]
    assert "._events" in listener.path and ".toggleAside" in listener.path
    assert listener.constructor == "Widget" and listener.objects_per_request == pytest.approx(1.0, abs=0.02)
    timer = by_kind["timer"]
    assert timer.objects_per_request == pytest.approx(1.0, abs=0.02)
    assert any("pollNotifications" in step for step in timer.path)
    assert timer.location is not None and f"growth_series.js:{line_of('growth_series.js', 'setInterval(')}:" in str(timer.location)
    stats = by_kind["collection"]
    assert stats.path[0] == "requestStats (Map)" and stats.objects_per_request == pytest.approx(1.0, abs=0.02)
    assert culprits[0] is listener  # the biggest first
