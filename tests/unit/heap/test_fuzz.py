"""The parser is a trust boundary: whatever a .heapsnapshot holds, load_snapshot either returns
a snapshot whose every index is in range or raises SnapshotError with one line.

The fuzz test runs mutated fixtures in worker subprocesses (a crash is a signal there, not a
dead pytest), part of them with NUMBA_BOUNDSCHECK=1; bench/fuzz_bench.py runs thousands.
The other tests pin the reproductions the fuzzing started from, in process: each must be
rejected by the loader itself, before any kernel could run.
"""

from __future__ import annotations

import json
import re
import tracemalloc
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fuzz_cases
import pytest
from heap_builder import SnapshotBuilder

from leaksleuth.errors import SnapshotError
from leaksleuth.heap import load_snapshot

FUZZ_SEED = 20240611
FUZZ_CASES = 8 * len(fuzz_cases.KINDS)  # every kind eight times


def test_mutated_snapshots_fail_cleanly_or_load_in_range() -> None:
    report = fuzz_cases.run_fuzz(cases=FUZZ_CASES, seed=FUZZ_SEED, boundscheck_share=0.25, timeout=300)
    counts = report.counts()
    failures = report.failures()
    shown = {
        name: [
            {k: r.get(k) for k in ("case", "kind", "seed", "detail", "expect", "message", "problems", "traceback")}
            for r in records[:3]
        ]
        for name, records in failures.items()
        if records
    }
    summary = json.dumps({"counts": counts, "failures": shown}, indent=1)
    assert counts["cases"] == FUZZ_CASES, summary
    assert counts["signals"] == 0, summary
    assert counts["tracebacks"] == 0, summary
    assert counts["hangs"] == 0, summary
    assert counts["out_of_range_accepted"] == 0, summary
    assert counts["bad_messages"] == 0, summary
    assert counts["valid_rejected"] == 0, summary
    # the boundscheck share really ran with bounds checks (a leaksleuth kernel raised)
    assert counts["boundscheck_cases"] == FUZZ_CASES // 4, summary
    assert counts["boundscheck_effective"], summary
    # every kind of mutation ran, and the suite exercised both sides of the boundary
    kinds = Counter(r["kind"] for r in report.records)
    assert set(kinds) == {m.__name__[2:] for m in fuzz_cases.KINDS}, summary
    assert counts["accepted_valid"] >= FUZZ_CASES // 5, summary
    assert counts["rejected_with_one_line"] >= FUZZ_CASES // 2, summary


# --- the reproductions, one by one ------------------------------------------------------------


def _sample(tmp_path: Path) -> dict[str, Any]:
    b = SnapshotBuilder()
    g = b.node("object", "global", 24)
    f = b.node("closure", "leakyHandler", 32)
    s = b.node("string", "text", 40)
    b.edge(b.root, g, "shortcut", "global")
    b.edge(g, f, "property", "handler")
    b.edge(f, s, "internal", "name")
    b.edge(g, s, "element", 7)
    b.location(f, 81, 6, 38)
    data: dict[str, Any] = json.loads(json.dumps(b.to_json()))  # a copy: meta shares lists
    return data


def _set(path: str, value: object) -> Callable[[dict[str, Any]], None]:
    """Set data[a][b]... for path "a.b...", with integer keys for list items."""

    def mutate(data: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        target: Any = data
        for key in parents:
            target = target[int(key)] if isinstance(target, list) else target[key]
        if isinstance(target, list):
            target[int(last)] = value
        else:
            target[last] = value

    return mutate


# The sample has 4 nodes of 7 fields (synthetic, object, closure, string), edges of 3 fields:
# 0: root -shortcut-> global, 1: global -property-> closure, 2: global -element-> string,
# 3: closure -internal-> string; 5 strings ("", global, leakyHandler, text, handler, name: 6).
REPRODUCTIONS: list[tuple[str, Callable[[dict[str, Any]], None], str]] = [
    ("empty strings", _set("strings", []), r"node 0 has name index 0 but the string table has 0 strings$"),
    ("empty node_types", _set("snapshot.meta.node_types", [[]]), r"meta\.node_types lists no types$"),
    ("no node_types", _set("snapshot.meta.node_types", []), r"meta\.node_types does not start with a list"),
    ("empty edge_types", _set("snapshot.meta.edge_types.0", []), r"meta\.edge_types lists no types$"),
    (
        "type name not a string",
        _set("snapshot.meta.node_types.0.3", 3),
        r"meta\.node_types has a number as the name of type 3$",
    ),
    ("node type 255", _set("nodes.7", 255), r"node 1 has type code 255 but there are 15 node types$"),
    ("node type 256", _set("nodes.7", 256), r"number 256 too large for 'type'"),
    (
        "node name out of range",
        _set("nodes.15", 99999),
        r"node 2 has name index 99999 but the string table has \d+ strings$",
    ),
    ("edge type out of range", _set("edges.3", 7), r"edge 1 \(of node 1\) has type code 7 but there are 7 edge types$"),
    (
        "named edge out of range",
        _set("edges.4", 99999),
        r"edge 1 \(of node 1\) of type 'property' has name index 99999 but the string table has \d+ strings$",
    ),
    (
        "to_node not a multiple",
        _set("edges.5", 15),
        r"edge 1 \(of node 1\) has to_node 15, which is not a multiple of the 7",
    ),
    (
        "to_node past the end",
        _set("edges.5", 28),
        r"an edge points past the last node: edge 1 \(of node 1\) has to_node 28",
    ),
    ("edge to the root", _set("edges.5", 0), r"edge 1 \(of node 1\) points at the root \(node 0\)"),
    ("location not a multiple", _set("locations.0", 15), r"location 0 has object_index 15, which is not a multiple"),
    (
        "location past the end",
        _set("locations.0", 28),
        r"location 0 has object_index 28, but 4 nodes of 7 fields end at 28$",
    ),
    ("edge_count -1", _set("snapshot.edge_count", -1), r"edge_count is -1, less than 0$"),
    ("node_count 0", _set("snapshot.node_count", 0), r"node_count is 0, less than 1$"),
    ("node_count a string", _set("snapshot.node_count", "4"), r"node_count is a string, not a whole number$"),
    ("node_count true", _set("snapshot.node_count", True), r"node_count is a boolean, not a whole number$"),
    (
        "node_count huge",
        _set("snapshot.node_count", 10**15),
        r"node_count is 1000000000000000, more than the \d+ supported$",
    ),
    (
        "node_count more than the file holds",
        _set("snapshot.node_count", 2 * 10**9),
        r"found 4 nodes, header announced 2000000000 \(more than a \d+-byte file can hold\)",
    ),
    ("edge_count too big", _set("snapshot.edge_count", 5), r"found 4 edges, header announced 5"),
    ("duplicate field", _set("snapshot.meta.node_fields.5", "id"), r"node_fields names 'id' twice$"),
    (
        "field name not a string",
        _set("snapshot.meta.edge_fields.0", 0),
        r"meta\.edge_fields is not a list of field names$",
    ),
    ("bad location_fields", _set("snapshot.meta.location_fields", "x"), r"meta\.location_fields is not a list"),
    ("edge counts disagree", _set("nodes.4", 2), r"nodes own 5 edges, header announced 4$"),
]


@pytest.mark.parametrize(("mutate", "message"), [r[1:] for r in REPRODUCTIONS], ids=[r[0] for r in REPRODUCTIONS])
def test_reproductions_are_rejected_by_the_loader(
    tmp_path: Path, mutate: Callable[[dict[str, Any]], None], message: str
) -> None:
    data = _sample(tmp_path)
    path = tmp_path / "ok.heapsnapshot"
    path.write_text(json.dumps(data))
    load_snapshot(path)  # the sample itself is fine
    mutate(data)
    path = tmp_path / "bad.heapsnapshot"
    path.write_text(json.dumps(data))
    with pytest.raises(SnapshotError) as info:
        load_snapshot(path)
    text = str(info.value)
    assert "\n" not in text and text.startswith(f"{path}: "), text
    assert re.search(message, text), text


def test_element_and_hidden_edges_carry_any_number(tmp_path: Path) -> None:
    """Their name_or_index is an index, not a string: no string-table bound applies."""
    data = _sample(tmp_path)
    data["edges"][7] = 2**32 - 1  # edge 2: global -element-> string
    path = tmp_path / "big-index.heapsnapshot"
    path.write_text(json.dumps(data))
    snap = load_snapshot(path)
    assert snap.edge_name(2) == str(2**32 - 1)


@pytest.mark.parametrize(
    "where",
    ["header", "meta", "skipped section"],
)
def test_deep_nesting(tmp_path: Path, where: str) -> None:
    """Nesting in the small JSON parts gives a clean error; in skipped sections it is skipped."""
    data = _sample(tmp_path)
    deep = "[" * 100_000 + "]" * 100_000
    text = json.dumps(data)
    if where == "header":
        text = text.replace('{"snapshot": {', '{"snapshot": {"deep": ' + deep + ", ", 1)
    elif where == "meta":
        text = text.replace('"meta": {', '"meta": {"deep": ' + deep + ", ", 1)
    else:
        text = text.replace('"strings":', '"deep": ' + deep + ', "strings":', 1)
    path = tmp_path / "deep.heapsnapshot"
    path.write_text(text)
    if where == "skipped section":
        assert load_snapshot(path).node_count == 4
    else:
        with pytest.raises(SnapshotError, match=r"the header is nested too deeply$"):
            load_snapshot(path)


def test_counts_the_file_cannot_hold_allocate_nothing_big(tmp_path: Path) -> None:
    data = _sample(tmp_path)
    data["snapshot"]["node_count"] = 2_000_000_000  # 56 GB of columns if believed
    data["snapshot"]["edge_count"] = 4_000_000_000
    path = tmp_path / "liar.heapsnapshot"
    path.write_text(json.dumps(data))
    tracemalloc.start()
    try:
        with pytest.raises(SnapshotError, match=r"found 4 nodes, header announced 2000000000"):
            load_snapshot(path, chunk_bytes=1 << 16)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20


def test_numbers_carried_across_chunks_cannot_overflow(tmp_path: Path) -> None:
    """With one-byte chunks every digit arrives on its own: the overflow check must still see it."""
    data = _sample(tmp_path)
    text = json.dumps(data).replace('"nodes": [9, 0', '"nodes": [9, ' + "1" * 40, 1)
    path = tmp_path / "long.heapsnapshot"
    path.write_text(text)
    with pytest.raises(SnapshotError, match=r"number 1{10,}(\.\.\.)? too large"):
        load_snapshot(path, chunk_bytes=1)


def test_invalid_utf8_in_the_header(tmp_path: Path) -> None:
    raw = json.dumps(_sample(tmp_path)).encode().replace(b'"hidden"', b'"hid\xffden"', 1)
    path = tmp_path / "utf8.heapsnapshot"
    path.write_bytes(raw)
    with pytest.raises(SnapshotError, match=r"invalid UTF-8 at byte \d+ in the header$"):
        load_snapshot(path)
