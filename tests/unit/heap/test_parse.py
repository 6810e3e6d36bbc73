"""Parsing: field layouts from meta, chunk boundaries, and clean errors for broken files."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
import pytest
from heap_builder import NODE20_FIELDS, SnapshotBuilder

from leaksleuth.errors import SnapshotError
from leaksleuth.heap import load_snapshot


def _sample(tmp_path: Path, **layout: list[str]) -> Path:
    b = SnapshotBuilder()
    g = b.node("object", "global", 24)
    f = b.node("closure", "leakyHandler", 32, id=123456789)
    s = b.node("string", 'quote " and \\ and ünïcödé \u2028', 40)
    b.edge(b.root, g, "shortcut", "global")
    b.edge(g, f, "property", "handler")
    b.edge(f, s, "internal", "name")
    b.edge(g, s, "element", 7)
    b.location(f, 81, 6, 38)
    return b.write(tmp_path / "sample.heapsnapshot", **layout)


def test_columns_hold_what_the_file_says(tmp_path: Path) -> None:
    snap = load_snapshot(_sample(tmp_path))
    assert (snap.node_count, snap.edge_count) == (4, 4)
    assert [snap.node_type_name(i) for i in range(4)] == [
        "synthetic",
        "object",
        "closure",
        "string",
    ]
    assert snap.node_name_text(3) == 'quote " and \\ and ünïcödé \u2028'
    assert snap.node_id.tolist() == [1, 3, 123456789, 7]
    assert snap.node_self_size.tolist() == [0, 24, 32, 40]
    assert snap.first_edge.tolist() == [0, 1, 3, 4, 4]
    assert snap.edge_to.tolist() == [1, 2, 3, 3]  # ordinals, not flat offsets
    assert [snap.edge_name(e) for e in range(4)] == ["global", "handler", "7", "name"]
    assert (snap.locations.node.tolist(), snap.locations.line.tolist()) == ([2], [6])


def test_field_order_comes_from_meta(tmp_path: Path) -> None:
    # Node 18 writes no detachedness; a future V8 may reorder fields: read them by name.
    standard = load_snapshot(_sample(tmp_path))
    (tmp_path / "other").mkdir()
    permuted = load_snapshot(
        _sample(
            tmp_path / "other",
            node_fields=["id", "edge_count", "self_size", "name", "trace_node_id", "type"],
            edge_fields=["to_node", "type", "name_or_index"],
        )
    )
    assert permuted.node_detachedness is None
    for column in (
        "node_type",
        "node_name",
        "node_id",
        "node_self_size",
        "first_edge",
        "edge_type",
        "edge_name_or_index",
        "edge_to",
    ):
        assert getattr(permuted, column).tolist() == getattr(standard, column).tolist(), column


def test_numbers_split_across_chunks_parse_the_same(tmp_path: Path) -> None:
    path = _sample(tmp_path)
    whole = load_snapshot(path)
    for chunk in (1, 2, 3, 7, 64):
        pieces = load_snapshot(path, chunk_bytes=chunk)
        assert pieces.node_id.tolist() == whole.node_id.tolist()
        assert pieces.edge_to.tolist() == whole.edge_to.tolist()
        assert pieces.strings == whole.strings
        assert pieces.locations.column.tolist() == whole.locations.column.tolist()


def test_long_numbers_at_every_chunk_boundary(tmp_path: Path) -> None:
    # the scanner takes a number's first 9 digits unchecked and the rest one by one with an
    # overflow check, also when the number continues in the next chunk
    b = SnapshotBuilder()
    ids = [123456789, 1234567890, 4294967295, 999999999, 1000000000, 424242]
    for k, node_id in enumerate(ids):
        b.edge(b.root, b.node("object", f"O{k}", 2**32 - 1 - k, id=node_id), "property", f"p{k}")
    text = b.write(tmp_path / "long.heapsnapshot").read_text()
    padded = text.replace(", 424242,", ", 00000000000000424242,")  # leading zeros: the same
    assert padded.count("00000000000000424242") == 1
    path = tmp_path / "padded.heapsnapshot"
    path.write_text(padded)
    for chunk in range(1, 24):
        snap = load_snapshot(path, chunk_bytes=chunk)
        assert snap.node_id.tolist()[1:] == ids, chunk
        assert snap.node_self_size.tolist()[1:] == [2**32 - 1 - k for k in range(len(ids))], chunk
    bad = tmp_path / "bad.heapsnapshot"
    assert text.count(", 4294967295,") == 2  # an id and a self size
    bad.write_text(text.replace(", 4294967295,", ", 4294967296,", 1))
    for chunk in (1, 5, 9, 10, 11, 64, 1 << 20):
        with pytest.raises(SnapshotError, match=r"number 4294967296 too large"):
            load_snapshot(bad, chunk_bytes=chunk)


def test_whitespace_and_newlines_as_v8_writes_them(tmp_path: Path) -> None:
    data = json.loads(_sample(tmp_path).read_text())
    text = json.dumps(data, separators=(",", ":"))
    text = text.replace(',"nodes"', ',\n"nodes"').replace("],", "]\n,")
    path = tmp_path / "v8style.heapsnapshot"
    path.write_text(text)
    assert load_snapshot(path).node_id.tolist() == [1, 3, 123456789, 7]


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("", r"empty file"),
        ("   \n", r"empty file"),
        ("hello, world", r"not a V8 heap snapshot"),
        ('{"nodes": [1, 2]}', r"not a V8 heap snapshot"),
        ("\x00\x01\x02binary", r"not a V8 heap snapshot"),
    ],
)
def test_files_that_are_no_snapshot_give_one_clean_line(
    tmp_path: Path, content: str, message: str
) -> None:
    path = tmp_path / "bad.heapsnapshot"
    path.write_text(content)
    with pytest.raises(SnapshotError, match=message) as info:
        load_snapshot(path)
    assert "\n" not in str(info.value) and str(path) in str(info.value)


@pytest.mark.parametrize("section", ["header", "nodes", "edges", "locations", "strings"])
def test_truncated_file_says_where_it_broke(tmp_path: Path, section: str) -> None:
    full = _sample(tmp_path).read_bytes()
    key = b'"snapshot"' if section == "header" else f'"{section}"'.encode()
    cut = full.index(key) + len(key) + 8
    path = tmp_path / "cut.heapsnapshot"
    path.write_bytes(full[:cut])
    where = "the header" if section == "header" else section
    with pytest.raises(SnapshotError, match=rf"truncated at byte \d+ while reading {where}$"):
        load_snapshot(path)


def test_truncated_exactly_at_the_end_of_an_array(tmp_path: Path) -> None:
    full = _sample(tmp_path).read_bytes()
    path = tmp_path / "cut.heapsnapshot"
    path.write_bytes(full[: full.index(b'"edges"')])
    with pytest.raises(SnapshotError, match=r"truncated at byte \d+"):
        load_snapshot(path)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (
            lambda d: d["snapshot"]["meta"].pop("node_fields"),
            r"unsupported snapshot format: meta has no node_fields",
        ),
        (
            lambda d: d["snapshot"]["meta"]["node_fields"].remove("edge_count"),
            r"node_fields lacks edge_count",
        ),
        (lambda d: d["snapshot"].pop("meta"), r"unsupported snapshot format: no snapshot.meta"),
        (
            lambda d: d["snapshot"].__setitem__("node_count", 99),
            r"found 4 nodes, header announced 99",
        ),
        (lambda d: d.pop("edges"), r"no edges"),
        (lambda d: d["nodes"].__setitem__(2, 2**40), r"number 1099511627776 too large"),
        (lambda d: d["nodes"].__setitem__(2, -1), r"unexpected character '-'"),
        (lambda d: d["edges"].__setitem__(2, 10**6), r"edge points past the last node"),
        (lambda d: d["nodes"].__setitem__(4, 5), r"nodes own 8 edges, header announced 4"),
    ],
)
def test_wrong_version_or_corrupt_content_gives_a_clean_error(
    tmp_path: Path, mutate, message: str
) -> None:  # type: ignore[no-untyped-def]
    data = json.loads(_sample(tmp_path).read_text())
    mutate(data)
    path = tmp_path / "bad.heapsnapshot"
    path.write_text(json.dumps(data))
    with pytest.raises(SnapshotError, match=message):
        load_snapshot(path)


def test_missing_file_is_a_snapshot_error(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match=re.escape("cannot read")):
        load_snapshot(tmp_path / "nope.heapsnapshot")


def test_columns_are_compact(tmp_path: Path) -> None:
    snap = load_snapshot(_sample(tmp_path))
    assert snap.node_id.dtype == np.uint32 and snap.edge_to.dtype == np.uint32
    assert snap.first_edge.dtype == np.int64
    assert NODE20_FIELDS[0] == "type"
