"""Streaming reader: .heapsnapshot file → `HeapSnapshot` columns, with bounded memory.

The file is one JSON object whose big members are flat integer arrays (`nodes`, `edges`,
`locations`) and the `strings` table. We never build the whole JSON tree: the small
`snapshot` header is parsed with `json`, the integer arrays are scanned chunk by chunk by a
compiled kernel straight into preallocated uint32 matrices (one row per field we keep), other
sections are skipped by a compiled structural scanner, and only `strings` goes through `json`.
Field positions always come from `snapshot.meta`.

The file is untrusted input (snapshots come from other machines and other people) and the
compiled kernels of the engine index arrays with what it says, unchecked. So nothing leaves
this module unchecked: counts are checked against the file size before anything is allocated,
and every index the engine follows (type codes, string indexes, edge targets, location
objects) is range-checked, vectorised, before `load_snapshot` returns. Any violation is a
`SnapshotError` with one line naming the first offending entry.
"""

from __future__ import annotations

import json
import os
import re
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from leaksleuth.errors import SnapshotError
from leaksleuth.heap.jit import njit, preload
from leaksleuth.heap.prefault import Prefault
from leaksleuth.heap.snapshot import INDEXED_EDGE_TYPES, HeapSnapshot, Locations, StringTable

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
MAX_NODES = 2**31 - 1  # the graph kernels keep node ordinals in int32
MAX_EDGES = 2**32 - 1  # ... and edge rows in uint32
_OVERFLOW_DIGITS_SHOWN = 20
_NOT_WHITESPACE = re.compile(rb"[^ \n\r\t]")
_SCALAR_END = re.compile(rb"[,}]")


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
            if in_number:  # a number carried over from the previous chunk: checked per digit
                value = value * 10 + (c - 48)
                i += 1
                if value > UINT32_MAX:
                    return i, field, record, value, in_number, _OVERFLOW
                continue
            # a fresh number: its first 9 digits cannot overflow, so no check per digit
            # (10% faster); a tenth digit goes the careful way above
            v = np.int64(c - 48)
            j = i + 1
            stop = min(end, i + 9)
            while j < stop:
                d = np.int64(buf[j]) - 48
                if d < 0 or d > 9:
                    break
                v = v * 10 + d
                j += 1
            value = v
            in_number = True
            i = j
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


@njit(cache=True, nogil=True, after_parse=2)
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


@njit(cache=True, nogil=True, after_parse=1)
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
        return SnapshotError(f"{self.path}: {what} at byte {self.offset} while reading {self.section}")

    def truncated(self) -> SnapshotError:
        return SnapshotError(f"{self.path}: truncated at byte {self.offset} while reading {self.section}")

    def next_byte(self) -> int:
        """The next byte that is not whitespace, without consuming it."""
        while True:
            if self.pos < len(self.buf):
                # a regex, not a Python loop: a file of whitespace must not take minutes
                found = _NOT_WHITESPACE.search(self._block, self.pos, len(self.buf))
                if found:
                    self.pos = found.start()
                    return int(self.buf[self.pos])
                self.pos = len(self.buf)
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
        self,
        out: np.ndarray,
        out8: np.ndarray,
        field_rows: np.ndarray,
        *,
        grow: bool = False,
        names: list[str] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, int]:
        """Parse a flat integer array into out/out8 (rows × records), as field_rows says;
        names (of the fields) make errors clearer. Returns (out, out8, records)."""
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
                digits = str(value)
                while (
                    self.pos < len(self.buf)
                    and 48 <= int(self.buf[self.pos]) <= 57
                    and len(digits) <= _OVERFLOW_DIGITS_SHOWN
                ):
                    digits += chr(int(self.buf[self.pos]))
                    self.pos += 1
                if len(digits) > _OVERFLOW_DIGITS_SHOWN:
                    digits = digits[:_OVERFLOW_DIGITS_SHOWN] + "..."
                if value <= UINT32_MAX and names is not None:  # a one-byte field
                    raise self.error(f"number {digits} too large for {_shown(names[field])}")
                raise self.error(f"number {digits} too large")
            if status == _FULL:
                capacity = max(out.shape[1], out8.shape[1])
                if not grow:
                    raise self.error(f"more entries than the {capacity} announced")
                size = max(16, capacity * 2)
                out, out8 = _grown(out, size), _grown(out8, size)
                continue
            if not self.fill():
                raise self.truncated()

    def skip_value(self, keep: bool = False) -> bytes | bytearray:
        """Skip one JSON value (array/object/scalar); return its bytes if keep."""
        c = self.next_byte()
        if c not in (ord("["), ord("{")):
            # a scalar: up to the next , or }
            start = self.pos
            found = _SCALAR_END.search(self._block, self.pos, len(self.buf))
            if not found:
                self.pos = len(self.buf)
                raise self.error("scalar value crosses a chunk boundary")
            self.pos = found.start()
            return bytes(self.buf[start : self.pos]) if keep else b""
        # one copy: a bytearray grows in place (glibc moves big blocks with mremap, no copy),
        # where pieces joined at the end would hold every byte twice
        kept = bytearray() if keep else None
        start = self.pos
        self.pos += 1
        depth, in_string, escaped = 1, False, False
        while True:
            pos, depth, in_string, escaped, done = _scan_json_value(
                self.buf, self.pos, len(self.buf), depth, in_string, escaped
            )
            self.pos = pos
            if kept is not None:
                kept += self.buf[start:pos].data
            if done:
                return kept if kept is not None else b""
            if not self.fill():
                raise self.truncated()
            start = 0


def _grown(matrix: np.ndarray, size: int) -> np.ndarray:
    bigger = np.zeros((matrix.shape[0], size), dtype=matrix.dtype)
    bigger[:, : matrix.shape[1]] = matrix
    return bigger


def _shown(text: str, most: int = 60) -> str:
    """A name from the file, fit for a one-line message: quoted, escaped, cut short."""
    return repr(text) if len(text) <= most else repr(text[:most]) + "..."


def _number(value: int) -> str:
    digits = str(value)
    return digits if len(digits) <= 24 else f"{digits[:20]}... ({len(digits)} digits)"


def _json_type(value: object) -> str:
    """The JSON type of a value from json.loads, for messages."""
    kinds = {str: "string", int: "number", float: "floating-point number", bool: "boolean", list: "list"}
    return kinds.get(type(value), "object" if isinstance(value, dict) else "null")


def _field_index(meta: dict[str, Any], key: str, required: tuple[str, ...], path: Path) -> list[str]:
    fields = meta.get(key)
    if fields is None:
        raise SnapshotError(f"{path}: unsupported snapshot format: meta has no {key}")
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        raise SnapshotError(f"{path}: unsupported snapshot format: meta.{key} is not a list of field names")
    missing = [f for f in required if f not in fields]
    if missing:
        raise SnapshotError(f"{path}: unsupported snapshot format: {key} lacks {', '.join(missing)}")
    seen: set[str] = set()
    for name in fields:
        if name in seen:
            raise SnapshotError(f"{path}: corrupt snapshot: {key} names {_shown(name)} twice")
        seen.add(name)
    return list(fields)


def _type_names(meta: dict[str, Any], key: str, path: Path) -> list[str]:
    """meta[key][0]: the names of the type codes, a non-empty list of strings."""
    types = meta.get(key)
    if types is None:
        raise SnapshotError(f"{path}: unsupported snapshot format: meta has no {key}")
    if not (isinstance(types, list) and types and isinstance(types[0], list)):
        raise SnapshotError(f"{path}: unsupported snapshot format: meta.{key} does not start with a list of type names")
    names = types[0]
    if not names:
        raise SnapshotError(f"{path}: corrupt snapshot: meta.{key} lists no types")
    for code, name in enumerate(names):
        if not isinstance(name, str):
            raise SnapshotError(
                f"{path}: corrupt snapshot: meta.{key} has a {_json_type(name)} as the name of type {code}"
            )
        try:
            name.encode("utf-8")
        except UnicodeEncodeError:
            raise SnapshotError(f"{path}: corrupt snapshot: meta.{key} has an invalid name for type {code}") from None
    return list(names)


def _count(header: dict[str, Any], key: str, least: int, most: int, path: Path) -> int:
    """header[key] as a whole number in least..most."""
    value = header.get(key)
    if value is None:
        raise SnapshotError(f"{path}: unsupported snapshot format: no {key}")
    if isinstance(value, bool) or not isinstance(value, int):
        raise SnapshotError(f"{path}: corrupt snapshot: {key} is a {_json_type(value)}, not a whole number")
    if value < least:
        raise SnapshotError(f"{path}: corrupt snapshot: {key} is {_number(value)}, less than {least}")
    if value > most:
        raise SnapshotError(f"{path}: unsupported snapshot: {key} is {_number(value)}, more than the {most} supported")
    return value


def _file_size(handle: BinaryIO) -> int | None:
    """The size of a regular file; None for pipes and the like (nothing to check against)."""
    try:
        info = os.fstat(handle.fileno())
    except (OSError, AttributeError, ValueError):
        return None
    return info.st_size if stat.S_ISREG(info.st_mode) else None


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


def _nbytes(text: str) -> int:
    return len(text.encode("utf-8", "surrogateescape"))


def _read_header(stream: _Stream) -> dict[str, Any]:
    """Parse `{"snapshot": {...}` and leave the cursor after it."""
    head = stream.handle.read(64)
    if not head.strip():
        raise SnapshotError(f"{stream.path}: empty file")
    if not re.match(rb'\s*\{\s*"snapshot"\s*:', bytes(head[:64])):
        raise SnapshotError(f"{stream.path}: not a V8 heap snapshot (no 'snapshot' header)")
    # Re-read from the start, growing the window until the header object decodes. Bytes that
    # are no UTF-8 decode to lone surrogates (surrogateescape), so offsets stay exact.
    decoder = json.JSONDecoder()
    window = 1 << 20
    while True:
        stream.handle.seek(0)
        text = stream.handle.read(window).decode("utf-8", "surrogateescape")
        match = re.match(r'\s*\{\s*"snapshot"\s*:\s*', text)
        assert match is not None
        try:
            header, end = decoder.raw_decode(text, match.end())
            break
        except RecursionError:
            raise SnapshotError(f"{stream.path}: the header is nested too deeply") from None
        except json.JSONDecodeError as exc:
            if len(text) < window:  # whole file read and still broken
                if exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated"):
                    what, where = "truncated", _nbytes(text)
                else:
                    what, where = f"invalid JSON ({exc.msg})", _nbytes(text[: exc.pos])
                raise SnapshotError(f"{stream.path}: {what} at byte {where} while reading the header") from exc
            if window >= HEADER_MAX_BYTES:
                raise SnapshotError(f"{stream.path}: snapshot header larger than {window} bytes") from exc
            window *= 4
        except ValueError as exc:  # a number json will not convert (over 4300 digits)
            reason = str(exc).split(":")[0]
            raise SnapshotError(f"{stream.path}: invalid JSON in the header ({reason})") from exc
    bad = re.search("[\udc80-\udcff]", text[:end])
    if bad:
        where = _nbytes(text[: bad.start()])
        raise SnapshotError(f"{stream.path}: invalid UTF-8 at byte {where} in the header")
    if not isinstance(header, dict):
        raise SnapshotError(f"{stream.path}: snapshot header is not an object")
    consumed = _nbytes(text[:end])
    stream.handle.seek(consumed)
    stream.base, stream.pos, stream.buf = consumed, 0, np.zeros(0, dtype=np.uint8)
    return header


def load_snapshot(
    path: str | os.PathLike[str],
    *,
    script_urls: dict[int, str] | None = None,
    chunk_bytes: int = CHUNK_BYTES,
) -> HeapSnapshot:
    """Read a V8 .heapsnapshot file (Node 18/20/22) into numpy columns.

    The file is untrusted: whatever it holds, this returns a snapshot whose every index is in
    range, or raises SnapshotError with one line."""
    path = Path(path)
    preload()  # the kernels that follow a parse, loaded meanwhile on the other core
    try:
        with open(path, "rb") as handle:
            return _load(_Stream(path, handle, chunk_bytes), script_urls)
    except OSError as exc:
        raise SnapshotError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except MemoryError:
        raise SnapshotError(f"{path}: not enough memory to load this snapshot") from None


def load_node_ids(path: str | os.PathLike[str], *, chunk_bytes: int = CHUNK_BYTES) -> np.ndarray:
    """The sorted node ids of a snapshot, read from its `nodes` array alone (the edges and the
    strings are never scanned): all the growth analysis needs of an earlier snapshot."""
    path = Path(path)
    try:
        with open(path, "rb") as handle:
            return _load_ids(_Stream(path, handle, chunk_bytes))
    except OSError as exc:
        raise SnapshotError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    except MemoryError:
        raise SnapshotError(f"{path}: not enough memory to load this snapshot") from None


def _load_ids(stream: _Stream) -> np.ndarray:
    path = stream.path
    header, meta = _header_and_meta(stream)
    node_fields = _field_index(meta, "node_fields", _NODE_FIELDS_REQUIRED, path)
    node_count = _count(header, "node_count", 1, MAX_NODES, path)
    rows, where, _ = _rows_for(node_fields, ("id",), ())
    for key in _sections(stream):
        if key == "nodes":
            file_size = _file_size(stream.handle)
            room, grow = _record_room(node_count, len(node_fields), file_size)
            columns = _columns(room, len(where), 0)
            with Prefault([list(columns[0])]):
                nodes, _ = _read_records(stream, "nodes", node_count, rows, columns, grow, file_size, node_fields)
            ids: np.ndarray = np.sort(nodes[where["id"]])
            return ids
        stream.skip_value()
    raise SnapshotError(f"{path}: not a complete heap snapshot: no nodes")


def _header_and_meta(stream: _Stream) -> tuple[dict[str, Any], dict[str, Any]]:
    """The `snapshot` header and its `meta`, which every reading of a file starts from."""
    header = _read_header(stream)
    meta = header.get("meta")
    if not isinstance(meta, dict):
        raise SnapshotError(f"{stream.path}: unsupported snapshot format: no snapshot.meta")
    return header, meta


def _sections(stream: _Stream) -> Iterator[str]:
    """The keys of the top-level object, in file order; the caller reads or skips each value."""
    while True:
        stream.section = "the top-level object"
        key = stream.read_key()
        if key is None:
            return
        stream.section = _section_name(key)
        yield key


def _section_name(key: str) -> str:
    return key if key.isprintable() and len(key) <= 60 else _shown(key)


def _record_room(count: int, nfields: int, file_size: int | None) -> tuple[int, bool]:
    """(records to allocate, grow as they come) for a nodes/edges array of `count` records.

    Never allocates for more records than the file can hold: each number takes at least a
    digit and a separator, so a count beyond that is a lie and we find out by reading."""
    if file_size is None:  # a pipe: grow as the data comes
        return min(count, 1 << 20), True
    return min(count, (file_size + 1) // (2 * nfields)), False


def _columns(room: int, wide: int, narrow: int) -> tuple[np.ndarray, np.ndarray]:
    return np.empty((wide, room), dtype=np.uint32), np.empty((narrow, room), dtype=np.uint8)


def _read_records(
    stream: _Stream,
    what: str,
    count: int,
    rows: np.ndarray,
    columns: tuple[np.ndarray, np.ndarray],
    grow: bool,
    file_size: int | None,
    names: list[str],
) -> tuple[np.ndarray, np.ndarray]:
    """The `count` records of a nodes/edges array as (uint32 rows, uint8 rows), read into
    `columns` (from `_columns` with `_record_room`'s room)."""
    room = max(columns[0].shape[1], columns[1].shape[1])
    out, out8, found = stream.read_uint_array(*columns, rows, grow=grow, names=names)
    if found != count:
        note = "" if room == count or grow else f" (more than a {file_size}-byte file can hold)"
        raise stream.error(f"found {found} {what}, header announced {count}{note}")
    if out.shape[1] != found:
        out, out8 = out[:, :found], out8[:, :found]
    return out, out8


def _load(stream: _Stream, script_urls: dict[int, str] | None) -> HeapSnapshot:
    path = stream.path
    header, meta = _header_and_meta(stream)
    node_fields = _field_index(meta, "node_fields", _NODE_FIELDS_REQUIRED, path)
    edge_fields = _field_index(meta, "edge_fields", _EDGE_FIELDS_REQUIRED, path)
    # locations are optional, but if meta describes them it must do so properly
    loc_fields = (
        _field_index(meta, "location_fields", _LOCATION_FIELDS_REQUIRED, path) if "location_fields" in meta else None
    )
    node_types = _type_names(meta, "node_types", path)
    edge_types = _type_names(meta, "edge_types", path)
    node_count = _count(header, "node_count", 1, MAX_NODES, path)  # node 0 is the root
    edge_count = _count(header, "edge_count", 0, MAX_EDGES, path)
    file_size = _file_size(stream.handle)

    node_rows, node_where, node_where8 = _rows_for(node_fields, _NODE_FIELDS_KEPT, _NARROW)
    edge_rows, edge_where, edge_where8 = _rows_for(edge_fields, _EDGE_FIELDS_REQUIRED, _NARROW)
    node_room, node_grow = _record_room(node_count, len(node_fields), file_size)
    edge_room, edge_grow = _record_room(edge_count, len(edge_fields), file_size)
    node_columns = _columns(node_room, len(node_where), len(node_where8))
    edge_columns = _columns(edge_room, len(edge_where), len(edge_where8))
    first_edge = np.empty(0 if node_grow else node_room + 1, dtype=np.int64)  # a lying count: no use
    nodes = nodes8 = edges = edges8 = None
    loc_matrix = np.zeros((4, 0), dtype=np.uint32)
    no_bytes = np.zeros((0, 0), dtype=np.uint8)
    strings: StringTable | None = None
    # the columns are faulted in on the other core while this one parses (see heap.prefault);
    # not when the header announces more than the file can hold (a lie found out by reading)
    honest = node_room == node_count and edge_room == edge_count
    ahead = [[*node_columns[0], *node_columns[1]], [*edge_columns[0], *edge_columns[1]], [first_edge]]
    with Prefault(ahead if honest else []):
        for key in _sections(stream):
            if key == "nodes":
                nodes, nodes8 = _read_records(
                    stream, "nodes", node_count, node_rows, node_columns, node_grow, file_size, node_fields
                )
            elif key == "edges":
                edges, edges8 = _read_records(
                    stream, "edges", edge_count, edge_rows, edge_columns, edge_grow, file_size, edge_fields
                )
            elif key == "locations" and loc_fields is not None:
                loc_rows, _, _ = _rows_for(loc_fields, _LOCATION_FIELDS_REQUIRED)
                # no count in the header, but one location per function object at most, and
                # as many as the rest of the file can hold: room for that (pages only become
                # memory once written), grown should a file have more
                rest = (file_size - stream.offset) // (2 * len(loc_fields)) if file_size else 1024
                loc_matrix, _, loc_count = stream.read_uint_array(
                    np.empty((4, max(1024, min(node_count, rest))), dtype=np.uint32), no_bytes, loc_rows, grow=True
                )
                loc_matrix = loc_matrix[:, :loc_count]
            elif key == "strings":
                strings = _string_table(stream, stream.skip_value(keep=True))
            else:
                stream.skip_value()
    del node_columns, edge_columns
    stream.section = "the end of the file"
    if nodes is None or edges is None or strings is None:
        missing = [k for k, v in (("nodes", nodes), ("edges", edges), ("strings", strings)) if v is None]
        raise SnapshotError(f"{path}: not a complete heap snapshot: no {', '.join(missing)}")
    assert nodes8 is not None and edges8 is not None

    node_type = nodes8[node_where8["type"]]
    node_name = nodes[node_where["name"]]
    edge_counts = nodes[node_where["edge_count"]]
    edge_type = edges8[edge_where8["type"]]
    edge_name = edges[edge_where["name_or_index"]]
    edge_to = edges[edge_where["to_node"]]
    first_edge = _check_graph(
        path,
        first_edge,
        node_type,
        node_name,
        edge_counts,
        edge_type,
        edge_name,
        edge_to,
        node_types,
        edge_types,
        len(strings),
        len(node_fields),
    )
    loc_node = _check_locations(path, loc_matrix[0], node_count, len(node_fields))
    locations = Locations(
        node=loc_node,
        script_id=loc_matrix[1],
        line=loc_matrix[2],
        column=loc_matrix[3],
    )
    return HeapSnapshot(
        path=str(path),
        node_type=node_type,
        node_name=node_name,
        node_id=nodes[node_where["id"]],
        node_self_size=nodes[node_where["self_size"]],
        node_edge_count=edge_counts,
        node_detachedness=nodes8[node_where8["detachedness"]] if "detachedness" in node_where8 else None,
        first_edge=first_edge,
        edge_type=edge_type,
        edge_name_or_index=edge_name,
        edge_to=edge_to,
        strings=strings,
        node_type_names=node_types,
        edge_type_names=edge_types,
        locations=locations,
        script_urls=dict(script_urls) if script_urls else {},
    )


_PAST_END, _NOT_A_NODE, _TO_ROOT = 1, 2, 3


@njit(cache=True, nogil=True, after_parse=3)
def _to_ordinals(edge_to, fields, end):  # type: ignore[no-untyped-def]
    """Flat node offsets → node ordinals in place; (index, problem) of the first bad one, or
    (-1, 0)."""
    for e in range(edge_to.shape[0]):
        v = edge_to[e]
        if v >= end:
            return e, _PAST_END
        q = v // fields
        if q * fields != v:
            return e, _NOT_A_NODE
        if q == 0:
            return e, _TO_ROOT
        edge_to[e] = q
    return -1, 0


def _first(mask: np.ndarray) -> int:
    """Index of the first True (the caller knows there is one)."""
    return int(np.argmax(mask))


def _check_graph(
    path: Path,
    first_edge: np.ndarray,
    node_type: np.ndarray,
    node_name: np.ndarray,
    edge_counts: np.ndarray,
    edge_type: np.ndarray,
    edge_name: np.ndarray,
    edge_to: np.ndarray,
    node_types: list[str],
    edge_types: list[str],
    n_strings: int,
    node_fields: int,
) -> np.ndarray:
    """Check every index the engine's kernels follow; return first_edge (node_count + 1
    entries: written into the one given when it has that many).

    Each column costs one max() when it is fine; the offending entry is searched for only
    when there is one. edge_to comes with the file's flat offsets and leaves as node ordinals."""
    node_count, edge_count = len(node_type), len(edge_to)
    bad = f"{path}: corrupt snapshot:"
    # the edges the nodes own are the edges the file holds
    if len(first_edge) != node_count + 1:
        first_edge = np.empty(node_count + 1, dtype=np.int64)
    first_edge[0] = 0
    np.cumsum(edge_counts, dtype=np.int64, out=first_edge[1:])
    if first_edge[-1] != edge_count:
        raise SnapshotError(f"{bad} nodes own {first_edge[-1]} edges, header announced {edge_count}")
    if int(node_type.max()) >= len(node_types):
        i = _first(node_type >= len(node_types))
        raise SnapshotError(f"{bad} node {i} has type code {node_type[i]} but there are {len(node_types)} node types")
    if int(node_name.max()) >= n_strings:
        i = _first(node_name >= n_strings)
        raise SnapshotError(
            f"{bad} node {i} has name index {node_name[i]} but the string table has {n_strings} strings"
        )
    if edge_count == 0:
        return first_edge

    def edge_at(e: int) -> str:
        owner = int(np.searchsorted(first_edge, e, side="right")) - 1
        return f"edge {e} (of node {owner})"

    if int(edge_type.max()) >= len(edge_types):
        e = _first(edge_type >= len(edge_types))
        raise SnapshotError(
            f"{bad} {edge_at(e)} has type code {edge_type[e]} but there are {len(edge_types)} edge types"
        )
    if int(edge_name.max()) >= n_strings:
        # only edges of string-named types must point into the string table
        named = np.ones(256, dtype=bool)
        for code, name in enumerate(edge_types[:256]):
            named[code] = name not in INDEXED_EDGE_TYPES
        wrong = named[edge_type] & (edge_name >= n_strings)
        if wrong.any():
            e = _first(wrong)
            raise SnapshotError(
                f"{bad} {edge_at(e)} of type {_shown(edge_types[edge_type[e]])} has name index "
                f"{edge_name[e]} but the string table has {n_strings} strings"
            )
    end = node_count * node_fields
    # one pass, no temporary: each to_node is checked (in range, a whole node, not the root:
    # V8 never points an edge at its synthetic root, and graph._bfs relies on it) and turned
    # into a node ordinal in place; entries before a bad one are already converted
    e, problem = _to_ordinals(edge_to, np.uint32(node_fields), end)
    if problem == _PAST_END:
        raise SnapshotError(
            f"{bad} an edge points past the last node: {edge_at(e)} has to_node "
            f"{edge_to[e]}, but {node_count} nodes of {node_fields} fields end at {end}"
        )
    if problem == _NOT_A_NODE:
        raise SnapshotError(
            f"{bad} {edge_at(e)} has to_node {edge_to[e]}, which is not a multiple of the {node_fields} node fields"
        )
    if problem == _TO_ROOT:
        raise SnapshotError(f"{bad} {edge_at(e)} points at the root (node 0), which nothing retains")
    return first_edge


def _check_locations(path: Path, object_index: np.ndarray, node_count: int, node_fields: int) -> np.ndarray:
    """Location object_index values (flat node offsets) → node ordinals, checked."""
    if len(object_index) == 0:
        return object_index.copy()
    end = node_count * node_fields
    if int(object_index.max()) >= end:
        j = _first(object_index >= end)
        raise SnapshotError(
            f"{path}: corrupt snapshot: location {j} has object_index {object_index[j]}, "
            f"but {node_count} nodes of {node_fields} fields end at {end}"
        )
    off = object_index % np.uint32(node_fields)
    if off.any():
        j = _first(off != 0)
        raise SnapshotError(
            f"{path}: corrupt snapshot: location {j} has object_index {object_index[j]}, "
            f"which is not a multiple of the {node_fields} node fields"
        )
    result: np.ndarray = object_index // np.uint32(node_fields)
    return result


def _string_table(stream: _Stream, raw: bytes | bytearray) -> StringTable:
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
            # decode the bytes first: json.loads(bytes) guesses the encoding from the first
            # bytes, which a crafted string could make UTF-16
            text = raw[int(start[i]) : int(end[i])].decode("utf-8", "surrogatepass")
            special[i] = json.loads('"' + text + '"', strict=False) if "\\" in text else text
    except ValueError as exc:  # json.JSONDecodeError, UnicodeDecodeError
        raise stream.error(f"invalid strings table ({exc})") from exc
    return StringTable(raw, start, end, special)
