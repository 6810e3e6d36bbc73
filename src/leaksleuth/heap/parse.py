"""Streaming reader: .heapsnapshot file → `HeapSnapshot` columns, with bounded memory.

The file is one JSON object whose big members are flat integer arrays (`nodes`, `edges`,
`locations`) and the `strings` table. We never build the whole JSON tree: the small
`snapshot` header is parsed with `json`, the integer arrays are scanned chunk by chunk by a
compiled kernel straight into preallocated uint32 matrices (one row per field we keep), other
sections are skipped by a compiled structural scanner, and only `strings` goes through `json`.
Field positions always come from `snapshot.meta`.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
from numba import njit

from leaksleuth.errors import SnapshotError
from leaksleuth.heap.snapshot import HeapSnapshot, Locations

CHUNK_BYTES = 16 * 1024 * 1024
HEADER_MAX_BYTES = 16 * 1024 * 1024
UINT32_MAX = 0xFFFFFFFF

# kernel statuses
_MORE, _CLOSED, _BAD_CHAR, _FULL, _OVERFLOW = 0, 1, 2, 3, 4

_NODE_FIELDS_REQUIRED = ("type", "name", "id", "self_size", "edge_count")
_NODE_FIELDS_KEPT = ("type", "name", "id", "self_size", "edge_count", "detachedness")
_EDGE_FIELDS_REQUIRED = ("type", "name_or_index", "to_node")
_LOCATION_FIELDS_REQUIRED = ("object_index", "script_id", "line", "column")


@njit(cache=True, nogil=True)
def _scan_uint_array(buf, start, end, out, field_rows, field, record, value, in_number):  # type: ignore[no-untyped-def]
    """Parse decimal numbers of a flat JSON array from buf[start:end] into out[row, record].

    Numbers may span chunk boundaries: (field, record, value, in_number) carry the state.
    Returns (pos, field, record, value, in_number, status).
    """
    nfields = field_rows.shape[0]
    capacity = out.shape[1]
    i = start
    while i < end:
        c = buf[i]
        if c >= 48 and c <= 57:
            value = value * 10 + (c - 48)
            in_number = True
        else:
            if in_number:
                if record >= capacity:
                    return i, field, record, value, in_number, _FULL
                if value > UINT32_MAX:
                    return i, field, record, value, in_number, _OVERFLOW
                row = field_rows[field]
                if row >= 0:
                    out[row, record] = value
                field += 1
                if field == nfields:
                    field = 0
                    record += 1
                value = 0
                in_number = False
            if c == 93:  # ]
                return i + 1, field, record, value, in_number, _CLOSED
            if c != 44 and c != 32 and c != 10 and c != 13 and c != 9:
                return i, field, record, value, in_number, _BAD_CHAR
        i += 1
    return i, field, record, value, in_number, _MORE


@njit(cache=True, nogil=True)
def _scan_json_value(buf, start, end, depth, in_string, escaped):  # type: ignore[no-untyped-def]
    """Find the end of a JSON array/object that started before `start` (depth ≥ 1 on entry).

    Returns (pos, depth, in_string, escaped, done); pos is just past the closing bracket.
    """
    i = start
    while i < end:
        c = buf[i]
        if in_string:
            if escaped:
                escaped = False
            elif c == 92:  # backslash
                escaped = True
            elif c == 34:  # "
                in_string = False
        elif c == 34:
            in_string = True
        elif c == 91 or c == 123:  # [ {
            depth += 1
        elif c == 93 or c == 125:  # ] }
            depth -= 1
            if depth == 0:
                return i + 1, depth, in_string, escaped, True
        i += 1
    return i, depth, in_string, escaped, False


class _Stream:
    """A file read in big chunks, with a cursor and the absolute offset of the chunk."""

    def __init__(self, path: Path, handle: BinaryIO, chunk_bytes: int) -> None:
        self.path = path
        self.handle = handle
        self.chunk_bytes = chunk_bytes
        self.buf = np.zeros(0, dtype=np.uint8)
        self.pos = 0
        self.base = 0  # absolute offset of buf[0]
        self.section = "the header"

    @property
    def offset(self) -> int:
        return self.base + self.pos

    def fill(self) -> bool:
        """Replace the consumed chunk by the next one; False at end of file."""
        data = self.handle.read(self.chunk_bytes)
        self.base += len(self.buf)
        self.buf = np.frombuffer(data, dtype=np.uint8)
        self.pos = 0
        return len(data) > 0

    def error(self, what: str) -> SnapshotError:
        return SnapshotError(
            f"{self.path}: {what} at byte {self.offset} while reading {self.section}"
        )

    def truncated(self) -> SnapshotError:
        return SnapshotError(
            f"{self.path}: truncated at byte {self.offset} while reading {self.section}"
        )

    def next_byte(self) -> int:
        """The next byte that is not whitespace, without consuming it."""
        while True:
            while self.pos < len(self.buf):
                c = int(self.buf[self.pos])
                if c not in (32, 10, 13, 9):
                    return c
                self.pos += 1
            if not self.fill():
                raise self.truncated()

    def expect(self, char: bytes) -> None:
        if self.next_byte() != char[0]:
            found = chr(int(self.buf[self.pos]))
            raise self.error(f"expected {char.decode()!r}, found {found!r}")
        self.pos += 1

    def read_key(self) -> str | None:
        """Read `,"key":` (or the closing `}`) and return the key, or None at the end."""
        c = self.next_byte()
        if c == ord("}"):
            self.pos += 1
            return None
        if c == ord(","):
            self.pos += 1
        self.expect(b'"')
        name = bytearray()
        while True:
            if self.pos >= len(self.buf) and not self.fill():
                raise self.truncated()
            c = int(self.buf[self.pos])
            self.pos += 1
            if c == 34:
                break
            name.append(c)
            if len(name) > 200:
                raise self.error("key too long")
        self.expect(b":")
        return name.decode("utf-8", "replace")

    def read_uint_array(
        self, out: np.ndarray, field_rows: np.ndarray, *, grow: bool = False
    ) -> tuple[np.ndarray, int]:
        """Parse a flat integer array into out (rows × records). Returns (out, records)."""
        self.expect(b"[")
        field = record = value = 0
        in_number = False
        while True:
            pos, field, record, value, in_number, status = _scan_uint_array(
                self.buf, self.pos, len(self.buf), out, field_rows, field, record, value, in_number
            )
            self.pos = pos
            if status == _CLOSED:
                if field != 0:
                    raise self.error(f"array length is not a multiple of {len(field_rows)}")
                return out, record
            if status == _BAD_CHAR:
                raise self.error(f"unexpected character {chr(int(self.buf[pos]))!r}")
            if status == _OVERFLOW:
                raise self.error(f"number {value} too large")
            if status == _FULL:
                if not grow:
                    raise self.error(f"more entries than the {out.shape[1]} announced")
                bigger = np.zeros((out.shape[0], max(16, out.shape[1] * 2)), dtype=out.dtype)
                bigger[:, : out.shape[1]] = out
                out = bigger
                continue
            if not self.fill():
                raise self.truncated()

    def skip_value(self, keep: bool = False) -> bytes:
        """Skip one JSON value (array/object/scalar); return its bytes if keep."""
        c = self.next_byte()
        pieces: list[bytes] = []
        if c not in (ord("["), ord("{")):
            # a scalar: up to the next , or }
            start = self.pos
            while self.pos < len(self.buf) and int(self.buf[self.pos]) not in (44, 125):
                self.pos += 1
            if self.pos >= len(self.buf):
                raise self.error("scalar value crosses a chunk boundary")
            return bytes(self.buf[start : self.pos]) if keep else b""
        start = self.pos
        self.pos += 1
        depth, in_string, escaped = 1, False, False
        while True:
            pos, depth, in_string, escaped, done = _scan_json_value(
                self.buf, self.pos, len(self.buf), depth, in_string, escaped
            )
            self.pos = pos
            if keep:
                pieces.append(self.buf[start:pos].tobytes())
            if done:
                return b"".join(pieces)
            if not self.fill():
                raise self.truncated()
            start = 0


def _field_index(
    meta: dict[str, Any], key: str, required: tuple[str, ...], path: Path
) -> list[str]:
    fields = meta.get(key)
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        raise SnapshotError(f"{path}: unsupported snapshot format: meta has no {key}")
    missing = [f for f in required if f not in fields]
    if missing:
        raise SnapshotError(
            f"{path}: unsupported snapshot format: {key} lacks {', '.join(missing)}"
        )
    return list(fields)


def _type_names(meta: dict[str, Any], key: str, path: Path) -> list[str]:
    types = meta.get(key)
    if not (isinstance(types, list) and types and isinstance(types[0], list)):
        raise SnapshotError(f"{path}: unsupported snapshot format: meta has no {key}")
    return [str(t) for t in types[0]]


def _rows_for(fields: list[str], kept: tuple[str, ...]) -> tuple[np.ndarray, dict[str, int]]:
    """Map each file field to its row in our matrix (-1: dropped)."""
    present = [name for name in kept if name in fields]
    where = {name: row for row, name in enumerate(present)}
    rows = np.array([where.get(name, -1) for name in fields], dtype=np.int64)
    return rows, where


def _read_header(stream: _Stream) -> dict[str, Any]:
    """Parse `{"snapshot": {...}` and leave the cursor after it."""
    head = stream.handle.read(64)
    if not head.strip():
        raise SnapshotError(f"{stream.path}: empty file")
    if not re.match(rb'\s*\{\s*"snapshot"\s*:', bytes(head[:64])):
        raise SnapshotError(f"{stream.path}: not a V8 heap snapshot (no 'snapshot' header)")
    # Re-read from the start, growing the window until the header object decodes.
    decoder = json.JSONDecoder()
    window = 1 << 20
    while True:
        stream.handle.seek(0)
        text = stream.handle.read(window).decode("utf-8", "replace")
        match = re.match(r'\s*\{\s*"snapshot"\s*:\s*', text)
        assert match is not None
        try:
            header, end = decoder.raw_decode(text, match.end())
            break
        except json.JSONDecodeError as exc:
            if len(text) < window:  # whole file read and still broken
                if exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated"):
                    what, where = "truncated", len(text.encode("utf-8"))
                else:
                    what, where = f"invalid JSON ({exc.msg})", len(text[: exc.pos].encode("utf-8"))
                raise SnapshotError(
                    f"{stream.path}: {what} at byte {where} while reading the header"
                ) from exc
            if window >= HEADER_MAX_BYTES:
                raise SnapshotError(
                    f"{stream.path}: snapshot header larger than {window} bytes"
                ) from exc
            window *= 4
    if not isinstance(header, dict):
        raise SnapshotError(f"{stream.path}: snapshot header is not an object")
    consumed = len(text[:end].encode("utf-8"))
    stream.handle.seek(consumed)
    stream.base, stream.pos, stream.buf = consumed, 0, np.zeros(0, dtype=np.uint8)
    return header


def load_snapshot(
    path: str | os.PathLike[str],
    *,
    script_urls: dict[int, str] | None = None,
    chunk_bytes: int = CHUNK_BYTES,
) -> HeapSnapshot:
    """Read a V8 .heapsnapshot file (Node 18/20/22) into numpy columns."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            return _load(_Stream(path, handle, chunk_bytes), script_urls)
    except OSError as exc:
        raise SnapshotError(f"{path}: cannot read: {exc.strerror}") from exc


def _load(stream: _Stream, script_urls: dict[int, str] | None) -> HeapSnapshot:
    path = stream.path
    header = _read_header(stream)
    meta = header.get("meta")
    if not isinstance(meta, dict):
        raise SnapshotError(f"{path}: unsupported snapshot format: no snapshot.meta")
    node_fields = _field_index(meta, "node_fields", _NODE_FIELDS_REQUIRED, path)
    edge_fields = _field_index(meta, "edge_fields", _EDGE_FIELDS_REQUIRED, path)
    node_types = _type_names(meta, "node_types", path)
    edge_types = _type_names(meta, "edge_types", path)
    node_count, edge_count = header.get("node_count"), header.get("edge_count")
    if not isinstance(node_count, int) or not isinstance(edge_count, int) or node_count < 1:
        raise SnapshotError(f"{path}: unsupported snapshot format: no node_count/edge_count")

    node_rows, node_where = _rows_for(node_fields, _NODE_FIELDS_KEPT)
    edge_rows, edge_where = _rows_for(edge_fields, _EDGE_FIELDS_REQUIRED)
    nodes = edges = None
    loc_matrix = np.zeros((4, 0), dtype=np.uint32)
    loc_count = 0
    strings: list[str] | None = None
    while True:
        stream.section = "the top-level object"
        key = stream.read_key()
        if key is None:
            break
        stream.section = key
        if key == "nodes":
            out = np.zeros((len(node_where), node_count), dtype=np.uint32)
            nodes, found = stream.read_uint_array(out, node_rows)
            if found != node_count:
                raise stream.error(f"found {found} nodes, header announced {node_count}")
        elif key == "edges":
            out = np.zeros((len(edge_where), edge_count), dtype=np.uint32)
            edges, found = stream.read_uint_array(out, edge_rows)
            if found != edge_count:
                raise stream.error(f"found {found} edges, header announced {edge_count}")
        elif key == "locations" and isinstance(meta.get("location_fields"), list):
            loc_fields = _field_index(meta, "location_fields", _LOCATION_FIELDS_REQUIRED, path)
            loc_rows, _ = _rows_for(loc_fields, _LOCATION_FIELDS_REQUIRED)
            loc_matrix, loc_count = stream.read_uint_array(
                np.zeros((4, 1024), dtype=np.uint32), loc_rows, grow=True
            )
            loc_matrix = loc_matrix[:, :loc_count]
        elif key == "strings":
            raw = stream.skip_value(keep=True)
            try:
                strings = json.loads(raw, strict=False)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                raise stream.error(f"invalid strings table ({exc})") from exc
            if not isinstance(strings, list):
                raise stream.error("strings is not an array")
        else:
            stream.skip_value()
    stream.section = "the end of the file"
    if nodes is None or edges is None or strings is None:
        missing = [
            k for k, v in (("nodes", nodes), ("edges", edges), ("strings", strings)) if v is None
        ]
        raise SnapshotError(f"{path}: not a complete heap snapshot: no {', '.join(missing)}")

    node_field_count = len(node_fields)
    edge_to = edges[edge_where["to_node"]]
    if edge_count and int(edge_to.max()) >= node_count * node_field_count:
        raise SnapshotError(f"{path}: corrupt snapshot: an edge points past the last node")
    edge_to //= node_field_count  # flat offset → node ordinal, in place
    edge_counts = nodes[node_where["edge_count"]]
    first_edge = np.zeros(node_count + 1, dtype=np.int64)
    np.cumsum(edge_counts, out=first_edge[1:])
    if first_edge[-1] != edge_count:
        raise SnapshotError(
            f"{path}: corrupt snapshot: nodes own {first_edge[-1]} edges, header announced {edge_count}"
        )
    locations = Locations(
        node=loc_matrix[0] // node_field_count,
        script_id=loc_matrix[1],
        line=loc_matrix[2],
        column=loc_matrix[3],
    )
    return HeapSnapshot(
        path=str(path),
        node_type=nodes[node_where["type"]],
        node_name=nodes[node_where["name"]],
        node_id=nodes[node_where["id"]],
        node_self_size=nodes[node_where["self_size"]],
        node_edge_count=edge_counts,
        node_detachedness=nodes[node_where["detachedness"]]
        if "detachedness" in node_where
        else None,
        first_edge=first_edge,
        edge_type=edges[edge_where["type"]],
        edge_name_or_index=edges[edge_where["name_or_index"]],
        edge_to=edge_to,
        strings=strings,
        node_type_names=node_types,
        edge_type_names=edge_types,
        locations=locations,
        script_urls=dict(script_urls) if script_urls else {},
    )
