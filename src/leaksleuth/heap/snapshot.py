"""HeapSnapshot: a V8 heap graph as numpy columns plus the string table.

Nodes are addressed by *ordinal* (0..node_count-1); node 0 is the synthetic root. The edges of
node i are edge rows first_edge[i]..first_edge[i+1]-1, in the file's order; edge_to holds node
ordinals (the file's flat offsets already divided by the node field count).
"""

from __future__ import annotations

import json
import operator
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

import numpy as np

from leaksleuth.heap.jit import njit

ROOT = 0
INDEXED_EDGE_TYPES = ("element", "hidden")  # their name_or_index is a number, not a string

# DevTools' className() for node types whose instances are not told apart by name.
_TYPE_CLASS_NAMES = {"hidden": "(system)", "code": "(compiled code)"}


class StringTable(Sequence[str]):
    """The snapshot's string table, kept as the file's bytes plus per-string byte ranges.

    Behaves like the list `json.loads` would give (indexing, len, iteration, `in`, index(),
    == with a list) without holding millions of str objects: a string is decoded when asked
    for. Strings with escapes or non-ASCII bytes (few) are decoded up front, in `special`."""

    __slots__ = ("_end", "_raw", "_special", "_start")

    def __init__(
        self, raw: bytes | bytearray, start: np.ndarray, end: np.ndarray, special: dict[int, str]
    ) -> None:
        self._raw = raw  # the JSON array text, brackets included
        self._start = start  # byte range of string i's content (between its quotes)
        self._end = end
        self._special = special

    def __len__(self) -> int:
        return len(self._start)

    @overload
    def __getitem__(self, index: int) -> str: ...

    @overload
    def __getitem__(self, index: slice) -> list[str]: ...

    def __getitem__(self, index: int | slice) -> str | list[str]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        i = operator.index(index)
        n = len(self._start)
        if i < 0:
            i += n
        if not 0 <= i < n:
            raise IndexError("string index out of range")
        text = self._special.get(i)
        if text is not None:
            return text
        return self._raw[int(self._start[i]) : int(self._end[i])].decode("ascii")

    def __iter__(self) -> Iterator[str]:
        # one bulk decode beats a million small ones; the list lives only while iterated
        strings: list[str] = json.loads(self._raw, strict=False)
        return iter(strings)

    def _first_index(self, value: object) -> int:
        if not isinstance(value, str):
            return -1
        found = [i for i, text in self._special.items() if text == value]
        best = min(found) if found else -1
        if not value.isascii() or '"' in value or "\\" in value:
            return best  # a plain (escape-free ASCII) string cannot hold it
        needle = b'"' + value.encode("ascii") + b'"'
        raw, start = self._raw, self._start
        pos = raw.find(needle)
        while pos >= 0:
            i = int(np.searchsorted(start, pos + 1))
            if (
                i < len(start)
                and int(start[i]) == pos + 1
                and int(self._end[i]) == pos + len(needle) - 1
                and i not in self._special
            ):
                return i if best < 0 else min(i, best)
            if best >= 0 and i >= best:
                break
            pos = raw.find(needle, pos + 1)
        return best

    def __contains__(self, value: object) -> bool:
        return self._first_index(value) >= 0

    def index(self, value: Any, start: int = 0, stop: int | None = None) -> int:
        if start == 0 and stop is None:
            i = self._first_index(value)
            if i < 0:
                raise ValueError(f"{value!r} is not in the string table")
            return i
        return super().index(value, start, len(self) if stop is None else stop)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, StringTable):
            return self._raw == other._raw or list(self) == list(other)
        if isinstance(other, list):
            return list(self) == other
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<StringTable of {len(self)} strings>"


@njit(cache=True, nogil=True, after_parse=11)
def _class_keys(node_type, node_name, named, n_strings, keys):  # type: ignore[no-untyped-def]
    for i in range(node_type.shape[0]):
        t = node_type[i]
        keys[i] = node_name[i] if named[t] else n_strings + t


@dataclass(frozen=True)
class Locations:
    """Source positions of closures (and other code objects), 0-based as V8 writes them."""

    node: np.ndarray  # node ordinal
    script_id: np.ndarray
    line: np.ndarray
    column: np.ndarray


@dataclass
class Derived:
    """Arrays derived from a snapshot's columns, each computed once, on first use."""

    class_keys: np.ndarray | None = None
    retainers: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None  # first, node, edge
    distances: np.ndarray | None = None
    dominators: np.ndarray | None = None
    dominator_preorder: tuple[np.ndarray, int] | None = None  # order, count
    retained_sizes: np.ndarray | None = None
    class_retained_sizes: np.ndarray | None = None
    bfs_tree: tuple[np.ndarray, np.ndarray, int] | None = None  # parent, order, count
    # the same tree with WeakMap table→value edges counted weak (the key's holder keeps the value)
    strong_bfs_tree: tuple[np.ndarray, np.ndarray, int] | None = None
    weakmap_edges: np.ndarray | None = None  # per edge: a WeakMap table's edge to a value
    script_urls: dict[int, str] | None = None


@dataclass(frozen=True, eq=False)
class HeapSnapshot:
    """One heap snapshot as flat columns; arrays derived from them are kept in `derived`."""

    path: str
    node_type: np.ndarray  # index into node_type_names (uint8)
    node_name: np.ndarray  # index into strings
    node_id: np.ndarray
    node_self_size: np.ndarray
    node_edge_count: np.ndarray
    node_detachedness: np.ndarray | None
    first_edge: np.ndarray  # int64, node_count + 1
    edge_type: np.ndarray  # index into edge_type_names (uint8)
    edge_name_or_index: np.ndarray  # strings index, or a number for element/hidden edges
    edge_to: np.ndarray  # node ordinal
    strings: Sequence[str]  # a StringTable when parsed from a file
    node_type_names: list[str]
    edge_type_names: list[str]
    locations: Locations
    script_urls: dict[int, str] = field(default_factory=dict)
    derived: Derived = field(default_factory=Derived, repr=False)

    @property
    def node_count(self) -> int:
        return len(self.node_type)

    @property
    def edge_count(self) -> int:
        return len(self.edge_to)

    @property
    def total_size(self) -> int:
        return int(self.node_self_size.sum(dtype=np.int64))

    def node_type_code(self, name: str) -> int:
        """The numeric code of a node type ('closure', 'object', ...), -1 if the file has none."""
        return self.node_type_names.index(name) if name in self.node_type_names else -1

    def edge_type_code(self, name: str) -> int:
        """The numeric code of an edge type ('weak', 'shortcut', ...), -1 if the file has none."""
        return self.edge_type_names.index(name) if name in self.edge_type_names else -1

    def edge_has_index(self, edge: int) -> bool:
        """Element and hidden edges carry a number instead of a name."""
        return self.edge_type_names[int(self.edge_type[edge])] in INDEXED_EDGE_TYPES

    def edges_have_index(self, edges: np.ndarray) -> np.ndarray:
        """edge_has_index of many edges at once."""
        table = np.zeros(max(len(self.edge_type_names), 256), dtype=bool)  # every possible code
        table[[code for code, name in enumerate(self.edge_type_names) if name in INDEXED_EDGE_TYPES]] = True
        mask: np.ndarray = table[self.edge_type[edges]]
        return mask

    def edges_of(self, nodes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(position in `nodes`, edge index) of every edge out of `nodes`, without a loop."""
        starts = self.first_edge[nodes]
        counts = self.first_edge[nodes + 1] - starts
        positions = np.repeat(np.arange(len(nodes)), counts)
        offsets = np.arange(len(positions), dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
        return positions, np.repeat(starts, counts) + offsets

    def edge_name(self, edge: int) -> str:
        value = int(self.edge_name_or_index[edge])
        if self.edge_has_index(edge):
            return str(value)
        return self.strings[value] if value < len(self.strings) else f"<bad string {value}>"

    def node_type_name(self, ordinal: int) -> str:
        return self.node_type_names[int(self.node_type[ordinal])]

    def node_name_text(self, ordinal: int) -> str:
        index = int(self.node_name[ordinal])
        return self.strings[index] if index < len(self.strings) else f"<bad string {index}>"

    def find_node(self, node_id: int) -> int:
        """The ordinal of the node with this id (the `@123` of DevTools); -1 if absent."""
        hits = np.flatnonzero(self.node_id == node_id)
        return int(hits[0]) if len(hits) else -1

    def class_keys(self) -> np.ndarray:
        """Per node, the key DevTools groups it by: the name for objects and native nodes,
        else the node type (as len(strings) + type code)."""
        keys = self.derived.class_keys
        if keys is None:
            # one entry per possible code, so a bad code in the file cannot read past it
            named = np.zeros(max(len(self.node_type_names), 256), dtype=np.uint8)
            for name in ("object", "native"):
                if name in self.node_type_names:
                    named[self.node_type_names.index(name)] = 1
            # int32 while every key fits (half the memory of int64, and as fast)
            wide = len(self.strings) + len(named) >= 2**31
            keys = np.empty(self.node_count, dtype=np.int64 if wide else np.int32)
            _class_keys(self.node_type, self.node_name, named, len(self.strings), keys)
            self.derived.class_keys = keys
        return keys

    def class_name(self, key: int) -> str:
        """The display name of a class key from class_keys()."""
        if key < len(self.strings):
            return self.strings[key]
        type_name = self.node_type_names[key - len(self.strings)]
        return _TYPE_CLASS_NAMES.get(type_name, f"({type_name})")

    def counted_in_summary(self) -> np.ndarray:
        """DevTools leaves out nodes of size 0 except native ones (synthetic roots and the like)."""
        native = self.node_type_code("native")
        mask: np.ndarray = (self.node_self_size > 0) | (self.node_type == native)
        return mask

    def node(self, ordinal: int) -> HeapNode:
        return HeapNode(self, ordinal)


@dataclass(frozen=True)
class HeapNode:
    """A read-only view of one node, for the few nodes shown to a user."""

    snapshot: HeapSnapshot
    ordinal: int

    @property
    def type(self) -> str:
        return self.snapshot.node_type_name(self.ordinal)

    @property
    def name(self) -> str:
        return self.snapshot.node_name_text(self.ordinal)

    @property
    def id(self) -> int:
        return int(self.snapshot.node_id[self.ordinal])

    @property
    def self_size(self) -> int:
        return int(self.snapshot.node_self_size[self.ordinal])

    @property
    def class_name(self) -> str:
        return self.snapshot.class_name(int(self.snapshot.class_keys()[self.ordinal]))

    def edges(self) -> range:
        return range(
            int(self.snapshot.first_edge[self.ordinal]),
            int(self.snapshot.first_edge[self.ordinal + 1]),
        )
