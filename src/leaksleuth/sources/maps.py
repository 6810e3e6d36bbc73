"""Source maps (ECMA-426): decoding and position lookups, read the way Node and DevTools read them.

We decode the `mappings` ourselves, vectorised with numpy, instead of taking a library: the
Python ones on PyPI are unmaintained (`sourcemap` 0.2.1 and `libsourcemap` from 2017, no index
maps in the former), keep one Python object per mapping (`ecma426`: a 200 k-mapping server chunk
becomes 200 k objects and a dict), or bring a large native wheel for one function (Sentry's
`symbolic`). The format is small: base64 VLQ deltas, `;` per generated line, `,` per segment, and
index maps (`sections`) that offset whole maps. Decoded maps are cached by the caller (see
`sources.resolve`), keyed by file and modification time.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote_to_bytes

import numpy as np

_B64 = np.full(256, -1, dtype=np.int64)
for _i, _c in enumerate(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"):
    _B64[_c] = _i
_SEMICOLON, _COMMA = ord(";"), ord(",")


class SourceMapError(ValueError):
    """A source map we cannot read (not JSON, bad VLQ, unknown version)."""


@dataclass(frozen=True)
class OriginalPosition:
    """Where a generated position comes from, 0-based; `name` is the original identifier if
    the map records one."""

    source: int  # index into SourceMap.sources
    line: int
    column: int
    name: str | None


@dataclass
class SourceMap:
    """A decoded map: sources as written (after `sourceRoot`), their contents when embedded,
    and the mappings as sorted columns (generated line, column → source, line, column, name)."""

    sources: list[str]
    contents: list[str | None]
    names: list[str]
    gen_line: np.ndarray
    gen_column: np.ndarray
    source: np.ndarray  # -1: a segment that maps to nothing
    orig_line: np.ndarray
    orig_column: np.ndarray
    name: np.ndarray  # -1: no name
    _keys: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        order = np.lexsort((self.gen_column, self.gen_line))
        for attr in ("gen_line", "gen_column", "source", "orig_line", "orig_column", "name"):
            setattr(self, attr, getattr(self, attr)[order])
        self._keys = (self.gen_line.astype(np.int64) << 32) | self.gen_column.astype(np.int64)

    def __len__(self) -> int:
        return len(self.gen_line)

    def lookup(self, line: int, column: int) -> OriginalPosition | None:
        """The mapping at or left of a 0-based generated position on the same line (DevTools'
        and `source-map`'s GREATEST_LOWER_BOUND); None if nothing maps there."""
        if line < 0 or column < 0:
            return None
        i = int(np.searchsorted(self._keys, (line << 32) | column, side="right")) - 1
        if i < 0 or int(self.gen_line[i]) != line or int(self.source[i]) < 0:
            return None
        n = int(self.name[i])
        return OriginalPosition(int(self.source[i]), int(self.orig_line[i]), int(self.orig_column[i]),
                                self.names[n] if 0 <= n < len(self.names) else None)


def _vlq_values(mappings: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(values, segment of each value, line of each segment) of a `mappings` string."""
    raw = np.frombuffer(mappings.encode("ascii", errors="replace"), dtype=np.uint8)
    separators = (raw == _SEMICOLON) | (raw == _COMMA)
    digits = _B64[raw]
    if np.any((digits < 0) & ~separators):
        raise SourceMapError("mappings hold a character that is not base64")
    # segment number of each character: one more after every separator
    segment_of_char = np.cumsum(separators) - separators
    line_of_separator = np.cumsum(raw == _SEMICOLON)
    chars = np.flatnonzero(~separators)
    d = digits[chars]
    ends = (d & 32) == 0  # no continuation bit: the last digit of a value
    if len(d) and not ends[-1]:
        raise SourceMapError("mappings end inside a VLQ value")
    value_of_char = np.cumsum(ends) - ends
    starts = np.flatnonzero(np.r_[True, ends[:-1]]) if len(d) else np.zeros(0, dtype=np.int64)
    position = np.arange(len(d)) - starts[value_of_char]
    if len(position) and int(position.max()) > 12:
        raise SourceMapError("a VLQ value is too long")
    shifted = (d & 31) << (5 * position)
    unsigned = np.add.reduceat(shifted, starts) if len(d) else np.zeros(0, dtype=np.int64)
    values = np.where(unsigned & 1, -(unsigned >> 1), unsigned >> 1)
    value_segment = segment_of_char[chars[np.flatnonzero(ends)]]
    # the line of each segment: separators before it that are ';'
    n_segments = int(separators.sum()) + 1 if len(raw) else 0
    seg_line = np.zeros(n_segments, dtype=np.int64)
    sep_positions = np.flatnonzero(separators)
    if n_segments > 1:
        seg_line[1:] = line_of_separator[sep_positions]
    return values, value_segment, seg_line


def decode_mappings(mappings: str) -> dict[str, np.ndarray]:
    """The `mappings` string as absolute columns, one row per segment that has a position."""
    values, value_segment, seg_line = _vlq_values(mappings)
    if not len(values):
        empty = np.zeros(0, dtype=np.int64)
        return {k: empty for k in ("gen_line", "gen_column", "source", "orig_line", "orig_column", "name")}
    segments, first, count = np.unique(value_segment, return_index=True, return_counts=True)
    if np.any((count != 1) & (count != 4) & (count != 5)):
        raise SourceMapError("a mapping segment has neither 1, 4 nor 5 fields")
    line = seg_line[segments]

    def field_of(k: int) -> np.ndarray:
        out = np.zeros(len(segments), dtype=np.int64)
        has = count > k
        out[has] = values[first[has] + k]
        return out

    # generated columns restart at every line; the other fields run on over the whole map
    col_delta = field_of(0)
    running = np.cumsum(col_delta)
    line_start = np.r_[True, line[1:] != line[:-1]]
    base = np.maximum.accumulate(np.where(line_start, np.arange(len(line)), 0))
    gen_column = running - running[base] + col_delta[base]
    positioned = count >= 4
    source = np.cumsum(field_of(1))
    orig_line = np.cumsum(field_of(2))
    orig_column = np.cumsum(field_of(3))
    named = count == 5
    name = np.where(named, np.cumsum(field_of(4)), -1)
    source = np.where(positioned, source, -1)
    return {
        "gen_line": line, "gen_column": gen_column, "source": source,
        "orig_line": orig_line, "orig_column": orig_column, "name": name,
    }


def parse_source_map(data: dict[str, Any] | str | bytes) -> SourceMap:
    """A decoded map from its JSON (text, bytes or already parsed); index maps are flattened."""
    if isinstance(data, (str, bytes)):
        text = data.decode("utf-8", errors="replace") if isinstance(data, bytes) else data
        if text.startswith(")]}'"):  # the XSSI guard the spec allows
            text = text.split("\n", 1)[1] if "\n" in text else ""
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise SourceMapError(f"not JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise SourceMapError("a source map is a JSON object")
    if "sections" in data:
        return _parse_index_map(data)
    if data.get("version", 3) != 3:
        raise SourceMapError(f"unsupported source map version {data.get('version')!r}")
    root = str(data.get("sourceRoot") or "")
    if root and not root.endswith("/"):
        root += "/"
    sources = [root + str(s) if s is not None else "" for s in data.get("sources") or []]
    contents_raw = data.get("sourcesContent") or []
    contents = [c if isinstance(c, str) else None for c in contents_raw] + [None] * (len(sources) - len(contents_raw))
    names = [str(n) for n in data.get("names") or []]
    cols = decode_mappings(str(data.get("mappings") or ""))
    valid = (cols["source"] < len(sources)) & (cols["orig_line"] >= 0) & (cols["orig_column"] >= 0)
    cols = {k: np.where(valid, v, -1) if k == "source" else v for k, v in cols.items()}
    return SourceMap(sources, contents[: len(sources)], names, **cols)


def _parse_index_map(data: dict[str, Any]) -> SourceMap:
    """Index maps: each section's map shifted to its offset, sources and names concatenated."""
    sources: list[str] = []
    contents: list[str | None] = []
    names: list[str] = []
    parts: list[dict[str, np.ndarray]] = []
    for section in data.get("sections") or []:
        inner = section.get("map")
        if not isinstance(inner, dict):
            continue  # `url` sections point elsewhere; Node does not follow them either
        sub = parse_source_map(inner)
        offset = section.get("offset") or {}
        dl, dc = int(offset.get("line", 0)), int(offset.get("column", 0))
        gen_column = np.where(sub.gen_line == 0, sub.gen_column + dc, sub.gen_column)
        parts.append({
            "gen_line": sub.gen_line + dl, "gen_column": gen_column,
            "source": np.where(sub.source >= 0, sub.source + len(sources), -1),
            "orig_line": sub.orig_line, "orig_column": sub.orig_column,
            "name": np.where(sub.name >= 0, sub.name + len(names), -1),
        })
        sources += sub.sources
        contents += sub.contents
        names += sub.names
    keys = ("gen_line", "gen_column", "source", "orig_line", "orig_column", "name")
    cols = {k: np.concatenate([p[k] for p in parts]) if parts else np.zeros(0, dtype=np.int64) for k in keys}
    return SourceMap(sources, contents, names, **cols)


def data_url_payload(url: str) -> bytes | None:
    """The bytes of a `data:` URL (base64 or percent-encoded), None if it is not one."""
    if not url.startswith("data:") or "," not in url:
        return None
    meta, payload = url[5:].split(",", 1)
    if meta.endswith(";base64"):
        try:
            return base64.b64decode(payload + "=" * (-len(payload) % 4))
        except ValueError:
            return None
    return unquote_to_bytes(payload)


def mapping_url(code: str) -> str | None:
    """The last `//# sourceMappingURL=` (or `//@`) comment of a script, as Node reads it."""
    tail = code[-65536:] if len(code) > 65536 else code
    found = None
    for marker in ("//# sourceMappingURL=", "//@ sourceMappingURL=", "/*# sourceMappingURL="):
        at = tail.rfind(marker)
        if at >= 0 and (found is None or at > found[0]):
            found = (at, marker)
    if found is None:
        return None
    rest = tail[found[0] + len(found[1]):]
    value = rest.split()[0] if rest.split() else ""
    if found[1].startswith("/*"):
        value = value.removesuffix("*/")
    return value or None
