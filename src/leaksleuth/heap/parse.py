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
from leaksleuth.heap.snapshot import HeapSnapshot, Locations, StringTable

CHUNK_BYTES = 16 * 1024 * 1024
HEADER_MAX_BYTES = 16 * 1024 * 1024
UINT32_MAX = 0xFFFFFFFF

# kernel statuses
_MORE, _CLOSED, _BAD_CHAR, _FULL, _OVERFLOW = 0, 1, 2, 3, 4

_NODE_FIELDS_REQUIRED = ("type", "name", "id", "self_size", "edge_count")
_NODE_FIELDS_KEPT = ("type", "name", "id", "self_size", "edge_count", "detachedness")
_EDGE_FIELDS_REQUIRED = ("type", "name_or_index", "to_node")
_LOCATION_FIELDS_REQUIRED = ("object_index", "script_id", "line", "column")
_NARROW = ("type", "detachedness")  # small codes: one byte per entry


@njit(cache=True, nogil=True)
def _scan_uint_array(buf, start, end, out, out8, field_rows, field, record, value, in_number):  # type: ignore[no-untyped-def]
    """Parse decimal numbers of a flat JSON array from buf[start:end] into the column matrices:
    field f goes to out[r, record] (uint32) if r = field_rows[f] >= 0, to out8[-2 - r, record]
    (uint8) if r <= -2, nowhere if r == -1.

    Numbers may span chunk boundaries: (field, record, value, in_number) carry the state.
    Returns (pos, field, record, value, in_number, status).
    """
    nfields = field_rows.shape[0]
    capacity = max(out.shape[1], out8.shape[1])
    i = start
    while i < end:
        c = buf[i]
        if c >= 48 and c <= 57:
            value = value * 10 + (c - 48)
            in_number = True
            i += 1
            # the rest of the number, without the bookkeeping above
            while i < end:
                c = buf[i]
                if c < 48 or c > 57:
                    break
                value = value * 10 + (c - 48)
                i += 1
                if value > UINT32_MAX:
                    return i, field, record, value, in_number, _OVERFLOW
            continue
        if in_number:
            if record >= capacity:
                return i, field, record, value, in_number, _FULL
            if value > UINT32_MAX:
                return i, field, record, value, in_number, _OVERFLOW
            row = field_rows[field]
            if row >= 0:
                out[row, record] = value
            elif row <= -2:
                if value > 255:
                    return i, field, record, value, in_number, _OVERFLOW
                out8[-2 - row, record] = value
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
def _index_strings(raw, start, end, special):  # type: ignore[no-untyped-def]
    """Find the strings of a JSON array of strings in raw (the array's exact bytes).

    With empty start/end/special it only counts; else it fills, per string, the byte range of
    its content and special = 1 if it has escapes or non-ASCII bytes. Returns (count, bad_pos):
    bad_pos >= 0 where the text is no array of strings."""
    fill = start.shape[0] > 0
    n = raw.shape[0]
    i = 0
    while i < n and (raw[i] == 32 or raw[i] == 10 or raw[i] == 13 or raw[i] == 9):
        i += 1
    if i >= n or raw[i] != 91:  # [
        return 0, i
    i += 1
    count = 0
    expect_value = True  # right after [ or ,
    first = True
    while i < n:
        c = raw[i]
        if c == 32 or c == 10 or c == 13 or c == 9:
            i += 1
            continue
        if c == 93:  # ]
            if expect_value and not first:
                return count, i
            return count, -1
        if expect_value:
            if c != 34:
                return count, i
            i += 1
            s = i
            flag = 0
            while i < n:
                b = raw[i]
                if b == 34:
                    break
                if b == 92:
                    flag = 1
                    i += 2
                    continue
                if b >= 128:
                    flag = 1
                i += 1
            if i >= n:
                return count, i
            if fill:
                start[count] = s
                end[count] = i
                special[count] = flag
            count += 1
            i += 1
            expect_value = False
            first = False
        else:
            if c != 44:  # ,
                return count, i
            expect_value = True
            i += 1
    return count, n


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
        self._block = bytearray(chunk_bytes)  # reused by every fill(): no fresh pages per chunk
        self._block_view = np.frombuffer(self._block, dtype=np.uint8)
        self.section = "the header"

    @property
    def offset(self) -> int:
        return self.base + self.pos

    def fill(self) -> bool:
        """Replace the consumed chunk by the next one; False at end of file."""
        self.base += len(self.buf)
        got = self.handle.readinto(self._block) or 0  # type: ignore[attr-defined]
        self.buf = self._block_view[:got]
        self.pos = 0
        return got > 0

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
        self, out: np.ndarray, out8: np.ndarray, field_rows: np.ndarray, *, grow: bool = False
    ) -> tuple[np.ndarray, np.ndarray, int]:
        """Parse a flat integer array into out/out8 (rows × records), as field_rows says.
        Returns (out, out8, records)."""
        self.expect(b"[")
        field = record = value = 0
        in_number = False
        while True:
            pos, field, record, value, in_number, status = _scan_uint_array(
                self.buf,
                self.pos,
                len(self.buf),
                out,
                out8,
                field_rows,
                field,
                record,
                value,
                in_number,
            )
            self.pos = pos
            if status == _CLOSED:
                if field != 0:
                    raise self.error(f"array length is not a multiple of {len(field_rows)}")
                return out, out8, record
            if status == _BAD_CHAR:
                raise self.error(f"unexpected character {chr(int(self.buf[pos]))!r}")
            if status == _OVERFLOW:
                while self.pos < len(self.buf) and 48 <= int(self.buf[self.pos]) <= 57:
                    value = value * 10 + int(self.buf[self.pos]) - 48
                    self.pos += 1
                raise self.error(f"number {value} too large")
            if status == _FULL:
                capacity = max(out.shape[1], out8.shape[1])
                if not grow:
                    raise self.error(f"more entries than the {capacity} announced")
                size = max(16, capacity * 2)
                out, out8 = _grown(out, size), _grown(out8, size)
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


def _grown(matrix: np.ndarray, size: int) -> np.ndarray:
    bigger = np.zeros((matrix.shape[0], size), dtype=matrix.dtype)
    bigger[:, : matrix.shape[1]] = matrix
    return bigger


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


def _rows_for(
    fields: list[str], kept: tuple[str, ...], narrow: tuple[str, ...] = ()
) -> tuple[np.ndarray, dict[str, int], dict[str, int]]:
    """Map each file field to its row: r >= 0 in the uint32 matrix, -2 - r for row r of the
    uint8 matrix (the `narrow` fields: small codes), -1 dropped.
    Returns (rows, {name: uint32 row}, {name: uint8 row})."""
    present = [name for name in kept if name in fields]
    wide = [name for name in present if name not in narrow]
    small = [name for name in present if name in narrow]
    where = {name: row for row, name in enumerate(wide)}
    where8 = {name: row for row, name in enumerate(small)}
    codes = {**where, **{name: -2 - row for name, row in where8.items()}}
    rows = np.array([codes.get(name, -1) for name in fields], dtype=np.int64)
    return rows, where, where8


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

    node_rows, node_where, node_where8 = _rows_for(node_fields, _NODE_FIELDS_KEPT, _NARROW)
    edge_rows, edge_where, edge_where8 = _rows_for(edge_fields, _EDGE_FIELDS_REQUIRED, _NARROW)
    nodes = nodes8 = edges = edges8 = None
    loc_matrix = np.zeros((4, 0), dtype=np.uint32)
    no_bytes = np.zeros((0, 0), dtype=np.uint8)
    strings: StringTable | None = None
    while True:
        stream.section = "the top-level object"
        key = stream.read_key()
        if key is None:
            break
        stream.section = key
        if key == "nodes":
            nodes, nodes8, found = stream.read_uint_array(
                np.empty((len(node_where), node_count), dtype=np.uint32),
                np.empty((len(node_where8), node_count), dtype=np.uint8),
                node_rows,
            )
            if found != node_count:
                raise stream.error(f"found {found} nodes, header announced {node_count}")
        elif key == "edges":
            edges, edges8, found = stream.read_uint_array(
                np.empty((len(edge_where), edge_count), dtype=np.uint32),
                np.empty((len(edge_where8), edge_count), dtype=np.uint8),
                edge_rows,
            )
            if found != edge_count:
                raise stream.error(f"found {found} edges, header announced {edge_count}")
        elif key == "locations" and isinstance(meta.get("location_fields"), list):
            loc_fields = _field_index(meta, "location_fields", _LOCATION_FIELDS_REQUIRED, path)
            loc_rows, _, _ = _rows_for(loc_fields, _LOCATION_FIELDS_REQUIRED)
            loc_matrix, _, loc_count = stream.read_uint_array(
                np.zeros((4, 1024), dtype=np.uint32), no_bytes, loc_rows, grow=True
            )
            loc_matrix = loc_matrix[:, :loc_count]
        elif key == "strings":
            strings = _string_table(stream, stream.skip_value(keep=True))
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
    assert nodes8 is not None and edges8 is not None
    return HeapSnapshot(
        path=str(path),
        node_type=nodes8[node_where8["type"]],
        node_name=nodes[node_where["name"]],
        node_id=nodes[node_where["id"]],
        node_self_size=nodes[node_where["self_size"]],
        node_edge_count=edge_counts,
        node_detachedness=nodes8[node_where8["detachedness"]]
        if "detachedness" in node_where8
        else None,
        first_edge=first_edge,
        edge_type=edges8[edge_where8["type"]],
        edge_name_or_index=edges[edge_where["name_or_index"]],
        edge_to=edge_to,
        strings=strings,
        node_type_names=node_types,
        edge_type_names=edge_types,
        locations=locations,
        script_urls=dict(script_urls) if script_urls else {},
    )


def _string_table(stream: _Stream, raw: bytes) -> StringTable:
    """Index the raw `strings` array: byte ranges per string, decoding only the few with
    escapes or non-ASCII bytes now (and so finding broken ones here, as json would)."""
    data = np.frombuffer(raw, dtype=np.uint8)
    empty = np.zeros(0, dtype=np.uint32)
    count, bad = _index_strings(data, empty, empty, np.zeros(0, dtype=np.uint8))
    if bad >= 0:
        raise stream.error("strings is not an array of strings")
    wide = np.uint32 if len(raw) < 2**32 else np.int64
    start, end = np.empty(count, dtype=wide), np.empty(count, dtype=wide)
    flags = np.empty(count, dtype=np.uint8)
    if count:
        _index_strings(data, start, end, flags)
    special: dict[int, str] = {}
    try:
        for i in np.flatnonzero(flags).tolist():
            piece = raw[int(start[i]) : int(end[i])]
            if b"\\" in piece:
                special[i] = json.loads(b'"' + piece + b'"', strict=False)
            else:
                special[i] = piece.decode("utf-8", "surrogatepass")
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise stream.error(f"invalid strings table ({exc})") from exc
    return StringTable(raw, start, end, special)
