"""Fuzzing the heap-snapshot parser: mutations of real snapshots, a worker that loads them, and
a runner that drives workers in subprocesses (a segfault is then a signal, not a dead pytest).

Shared by tests/unit/heap/test_fuzz.py (a few hundred cases) and bench/fuzz_bench.py (thousands).

    run_fuzz(cases=300, seed=1) -> FuzzReport

Case k of seed s is a pure function of (s, k): its mutation kind is KINDS[k % len(KINDS)] (so
any run of len(KINDS) cases covers every kind) and its parameters come from a PRNG seeded with
(s, k). Each case says what the parser must do with it:

    reject  invalid by construction (an out-of-range index, a missing section, ...):
            load_snapshot must raise SnapshotError with one line
    accept  valid by construction (a valid index moved, an optional section dropped, ...):
            load_snapshot must succeed
    any     may be either (a flipped byte, a changed digit): it must fail cleanly or load
            with every index in range

The worker (`python fuzz_cases.py worker ...`) loads each mutated file; when the load succeeds
it checks the columns independently (numpy range checks, and against `json.loads` of the file
when it is valid JSON) and runs the engine on the snapshot: summary, dominators, retained
sizes, diff, retainer paths, growth. It prints one `FUZZ {json}` line per case.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

REPO = Path(__file__).resolve().parents[3]
FIXTURES = [
    "tests/fixtures/heap/node18/before.heapsnapshot.gz",
    "tests/fixtures/heap/node18/s0.heapsnapshot.gz",
    "tests/fixtures/heap/node18/s1.heapsnapshot.gz",
    "tests/fixtures/heap/node18/s2.heapsnapshot.gz",
    "tests/fixtures/heap/node22/before.heapsnapshot.gz",
    "tests/fixtures/heap/node22/s0.heapsnapshot.gz",
    "tests/fixtures/heap/node22/s1.heapsnapshot.gz",
    "tests/fixtures/heap/node22/s2.heapsnapshot.gz",
    "tests/fixtures/memlab/small.heapsnapshot.gz",
]
INDEXED_EDGE_TYPES = ("element", "hidden")
UINT32_MAX = 2**32 - 1
# numba compiles with bounds checks only when nothing compiled without them is in its cache
BOUNDSCHECK_CACHE = Path(tempfile.gettempdir()) / f"leaksleuth-fuzz-numba-boundscheck-{os.getuid()}"


def seed_name(fixture: str) -> str:
    parts = Path(fixture).parts
    return f"{parts[-2]}-{parts[-1].split('.')[0]}"


def prepare_seeds(workdir: Path) -> Path:
    """Inflate the fixtures once into workdir/seeds (the workers read them from there)."""
    seeds = workdir / "seeds"
    seeds.mkdir(parents=True, exist_ok=True)
    for fixture in FIXTURES:
        target = seeds / f"{seed_name(fixture)}.heapsnapshot"
        if not target.exists():
            with gzip.open(REPO / fixture, "rb") as src, open(target, "wb") as dst:
                shutil.copyfileobj(src, dst)
    return seeds


# ---------------------------------------------------------------------------------------------
# A seed snapshot, indexed for text-level surgery


class Seed:
    """One valid snapshot file: its bytes, header, top-level sections and number spans."""

    def __init__(self, name: str, raw: bytes) -> None:
        self.name = name
        self.raw = raw
        text_head = raw[: 1 << 20].decode("utf-8")
        m = re.match(r'\s*\{\s*"snapshot"\s*:\s*', text_head)
        assert m is not None
        self.header, end = json.JSONDecoder().raw_decode(text_head, m.end())
        assert text_head[:end].isascii()
        self.header_span = (m.end(), end)  # the {...} after "snapshot":
        meta = self.header["meta"]
        self.node_fields: list[str] = meta["node_fields"]
        self.edge_fields: list[str] = meta["edge_fields"]
        self.node_types: list[str] = meta["node_types"][0]
        self.edge_types: list[str] = meta["edge_types"][0]
        self.nf, self.ef = len(self.node_fields), len(self.edge_fields)
        self.node_count: int = self.header["node_count"]
        self.edge_count: int = self.header["edge_count"]
        # top-level keys in file order; value spans end before the comma of the next key
        keys = []
        for key in (
            "nodes",
            "edges",
            "trace_function_infos",
            "trace_tree",
            "samples",
            "locations",
            "strings",
        ):
            km = re.compile(rb'"' + key.encode() + rb'"\s*:\s*').search(raw, end)
            if km:
                keys.append((km.start(), km.end(), key))
        keys.sort()
        self.final_brace = raw.rindex(b"}")
        self.sections: dict[str, tuple[int, int, int]] = {}  # key → (key start, value start, end)
        for i, (kstart, vstart, key) in enumerate(keys):
            vend = raw.rindex(b",", 0, keys[i + 1][0]) if i + 1 < len(keys) else self.final_brace
            while raw[vend - 1 : vend] in (b" ", b"\n", b"\r", b"\t"):
                vend -= 1
            self.sections[key] = (kstart, vstart, vend)
        self.order = [k for _, _, k in keys]

    def value(self, key: str) -> bytes:
        _, a, b = self.sections[key]
        return self.raw[a:b]

    @cached_property
    def spans(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Byte spans [start, end) of every number of the nodes/edges/locations arrays."""
        data = np.frombuffer(self.raw, dtype=np.uint8)
        out = {}
        for key in ("nodes", "edges", "locations"):
            _, a, b = self.sections[key]
            digit = (data[a:b] >= 48) & (data[a:b] <= 57)
            edge = np.diff(digit.astype(np.int8))
            starts = np.flatnonzero(edge == 1) + 1 + a
            ends = np.flatnonzero(edge == -1) + 1 + a
            out[key] = (starts, ends)
        return out

    @cached_property
    def nodes(self) -> np.ndarray:
        return np.array(json.loads(self.value("nodes")), dtype=np.int64).reshape(-1, self.nf)

    @cached_property
    def edges(self) -> np.ndarray:
        return np.array(json.loads(self.value("edges")), dtype=np.int64).reshape(-1, self.ef)

    @cached_property
    def locations(self) -> np.ndarray:
        fields = self.header["meta"]["location_fields"]
        return np.array(json.loads(self.value("locations")), dtype=np.int64).reshape(-1, len(fields))

    @cached_property
    def strings(self) -> list[str]:
        result: list[str] = json.loads(self.value("strings"), strict=False)
        return result

    def ncol(self, name: str) -> int:
        return self.node_fields.index(name)

    def ecol(self, name: str) -> int:
        return self.edge_fields.index(name)

    @cached_property
    def named_edge(self) -> np.ndarray:
        """Per edge: its name_or_index is a string index."""
        indexed = [i for i, t in enumerate(self.edge_types) if t in INDEXED_EDGE_TYPES]
        result: np.ndarray = ~np.isin(self.edges[:, self.ecol("type")], indexed)
        return result

    @cached_property
    def max_string_ref(self) -> int:
        names = self.nodes[:, self.ncol("name")]
        edge_names = self.edges[self.named_edge, self.ecol("name_or_index")]
        return int(max(names.max(), edge_names.max() if len(edge_names) else 0))

    # -- surgery ------------------------------------------------------------------------------

    def splice(self, a: int, b: int, new: bytes) -> bytes:
        return self.raw[:a] + new + self.raw[b:]

    def set_number(self, key: str, k: int, text: str | bytes) -> bytes:
        starts, ends = self.spans[key]
        new = text.encode() if isinstance(text, str) else text
        return self.splice(int(starts[k]), int(ends[k]), new)

    def set_numbers(self, key: str, changes: dict[int, int]) -> bytes:
        starts, ends = self.spans[key]
        out, pos = [], 0
        for k in sorted(changes):
            out += [self.raw[pos : int(starts[k])], str(changes[k]).encode()]
            pos = int(ends[k])
        out.append(self.raw[pos:])
        return b"".join(out)

    def with_header(self, header: dict[str, Any] | str) -> bytes:
        text = header if isinstance(header, str) else json.dumps(header, separators=(",", ":"))
        a, b = self.header_span
        return self.splice(a, b, text.encode("utf-8", "surrogatepass"))

    def with_value(self, key: str, value: bytes) -> bytes:
        _, a, b = self.sections[key]
        return self.splice(a, b, value)

    def without_section(self, key: str) -> bytes:
        kstart, _, vend = self.sections[key]
        comma = self.raw.rindex(b",", 0, kstart)  # the comma before the key
        return self.raw[:comma] + self.raw[vend:]

    def with_section(self, key: str, value: bytes, before: str) -> bytes:
        kstart = self.sections[before][0]
        return self.raw[:kstart] + b'"' + key.encode() + b'":' + value + b",\n" + self.raw[kstart:]

    def header_copy(self) -> dict[str, Any]:
        copied: dict[str, Any] = json.loads(json.dumps(self.header))
        return copied


# ---------------------------------------------------------------------------------------------
# Mutations: each returns (data, expect, detail)

Mutation = tuple[bytes, str, str]
REJECT, ACCEPT, ANY = "reject", "accept", "any"


def m_identity(s: Seed, rng: random.Random) -> Mutation:
    return s.raw, ACCEPT, "unchanged"


def m_truncate(s: Seed, rng: random.Random) -> Mutation:
    where = rng.choice(["anywhere", "header", *s.order])
    if where == "anywhere":
        cut = rng.randrange(0, s.final_brace + 1)
    elif where == "header":
        cut = rng.randrange(0, s.header_span[1] + 1)
    else:
        _, a, b = s.sections[where]
        cut = rng.randrange(a, b + 1)
    return s.raw[:cut], REJECT, f"cut at {cut} ({where})"


def m_byte_flip(s: Seed, rng: random.Random) -> Mutation:
    data = bytearray(s.raw)
    notes = []
    for _ in range(rng.randint(1, 4)):
        region = rng.choice(["file", "header", "nodes", "edges", "locations", "strings"])
        if region == "file":
            a, b = 0, len(data)
        elif region == "header":
            a, b = 0, s.header_span[1] + 1
        else:
            _, a, b = s.sections[region]
        pos = rng.randrange(a, b)
        value = rng.choice([rng.randrange(256), *b'0123456789,[]{}"\\- \n:', 0, 0xFF, 0xC3])
        data[pos] = value
        notes.append(f"{pos}={value}")
    return bytes(data), ANY, " ".join(notes)


def m_digits(s: Seed, rng: random.Random) -> Mutation:
    key = rng.choice(["nodes", "edges", "locations"])
    k = rng.randrange(len(s.spans[key][0]))
    text = str(rng.randrange(10 ** rng.randint(1, 10)))
    return s.set_number(key, k, text), ANY, f"{key}[{k}]={text}"


def m_node_type_oob(s: Seed, rng: random.Random) -> Mutation:
    i = rng.randrange(s.node_count)
    value = rng.choice([len(s.node_types), len(s.node_types) + rng.randrange(1, 200), 255, 256, UINT32_MAX])
    return (
        s.set_number("nodes", i * s.nf + s.ncol("type"), str(value)),
        REJECT,
        f"node {i} type {value}",
    )


def m_node_name_oob(s: Seed, rng: random.Random) -> Mutation:
    i = rng.choice([0, s.node_count - 1, rng.randrange(s.node_count)])
    n = len(s.strings)
    value = rng.choice([n, n + rng.randrange(1, 10**6), UINT32_MAX])
    return (
        s.set_number("nodes", i * s.nf + s.ncol("name"), str(value)),
        REJECT,
        f"node {i} name {value}",
    )


def m_node_index_valid(s: Seed, rng: random.Random) -> Mutation:
    i = rng.randrange(s.node_count)
    if rng.random() < 0.5:
        col, value = "type", rng.randrange(len(s.node_types))
    else:
        col, value = "name", rng.choice([0, len(s.strings) - 1, rng.randrange(len(s.strings))])
    return (
        s.set_number("nodes", i * s.nf + s.ncol(col), str(value)),
        ACCEPT,
        f"node {i} {col} {value}",
    )


def m_edge_type_oob(s: Seed, rng: random.Random) -> Mutation:
    e = rng.randrange(s.edge_count)
    value = rng.choice([len(s.edge_types), len(s.edge_types) + rng.randrange(1, 200), 255, 256])
    return (
        s.set_number("edges", e * s.ef + s.ecol("type"), str(value)),
        REJECT,
        f"edge {e} type {value}",
    )


def m_edge_name_oob(s: Seed, rng: random.Random) -> Mutation:
    e = int(rng.choice(np.flatnonzero(s.named_edge)))
    n = len(s.strings)
    value = rng.choice([n, n + rng.randrange(1, 10**6), UINT32_MAX])
    data = s.set_number("edges", e * s.ef + s.ecol("name_or_index"), str(value))
    return data, REJECT, f"named edge {e} name {value}"


def m_edge_index_big(s: Seed, rng: random.Random) -> Mutation:
    """Element and hidden edges carry a number, not a string index: any value is valid."""
    e = int(rng.choice(np.flatnonzero(~s.named_edge)))
    value = rng.choice([len(s.strings), UINT32_MAX, rng.randrange(UINT32_MAX)])
    data = s.set_number("edges", e * s.ef + s.ecol("name_or_index"), str(value))
    return data, ACCEPT, f"indexed edge {e} index {value}"


def m_to_node_bad(s: Seed, rng: random.Random) -> Mutation:
    e = rng.randrange(s.edge_count)
    old = int(s.edges[e, s.ecol("to_node")])
    end = s.node_count * s.nf
    value = rng.choice(
        [
            old + rng.randrange(1, s.nf),
            end,
            end + s.nf * rng.randrange(1, 1000),
            UINT32_MAX,
            UINT32_MAX - UINT32_MAX % s.nf,
        ]
    )
    data = s.set_number("edges", e * s.ef + s.ecol("to_node"), str(value))
    return data, REJECT, f"edge {e} to_node {value}"


def m_to_node_valid(s: Seed, rng: random.Random) -> Mutation:
    e = rng.randrange(s.edge_count)
    value = rng.choice([1, s.node_count - 1, rng.randrange(1, s.node_count)]) * s.nf
    data = s.set_number("edges", e * s.ef + s.ecol("to_node"), str(value))
    return data, ACCEPT, f"edge {e} to_node {value}"


def m_rewire(s: Seed, rng: random.Random) -> Mutation:
    """Many valid changes at once: edges re-targeted and re-typed, node types shuffled. The
    file stays valid but the graph gets shapes V8 never writes (weak or shortcut edges
    everywhere, cycles through closures): a workout for the graph kernels."""
    k = rng.choice([10, 1000, 20000])
    if rng.random() < 0.6:
        picks = rng.sample(range(s.edge_count), min(k, s.edge_count))
        col = rng.choice(["to_node", "type"])
        if col == "to_node":
            changes = {e * s.ef + s.ecol("to_node"): rng.randrange(1, s.node_count) * s.nf for e in picks}
        else:
            # a new type must keep the name valid: only swap among string-named types
            named = [c for c, t in enumerate(s.edge_types) if t not in INDEXED_EDGE_TYPES]
            changes = {e * s.ef + s.ecol("type"): rng.choice(named) for e in picks if s.named_edge[e]}
        return s.set_numbers("edges", changes), ACCEPT, f"{len(changes)} edges' {col} changed"
    picks = rng.sample(range(s.node_count), min(k, s.node_count))
    changes = {i * s.nf + s.ncol("type"): rng.randrange(len(s.node_types)) for i in picks}
    return s.set_numbers("nodes", changes), ACCEPT, f"{len(changes)} node types changed"


def m_to_root(s: Seed, rng: random.Random) -> Mutation:
    """V8 never points an edge at the synthetic root; the graph kernels rely on it."""
    e = rng.randrange(s.edge_count)
    data = s.set_number("edges", e * s.ef + s.ecol("to_node"), "0")
    return data, REJECT, f"edge {e} to the root"


def m_edge_count_bad(s: Seed, rng: random.Random) -> Mutation:
    i = rng.randrange(s.node_count)
    old = int(s.nodes[i, s.ncol("edge_count")])
    value = rng.choice([old + 1, old + rng.randrange(2, 10**6), max(old - 1, 0) if old else 1])
    return (
        s.set_number("nodes", i * s.nf + s.ncol("edge_count"), str(value)),
        REJECT,
        f"node {i} edge_count {value}",
    )


def m_edge_count_shift(s: Seed, rng: random.Random) -> Mutation:
    """Move an edge from one node to its neighbour: the edges stay valid, only their owner changes."""
    counts = s.nodes[:, s.ncol("edge_count")]
    j = int(rng.choice(np.flatnonzero(counts > 0)))
    i = j - 1 if j > 0 and rng.random() < 0.5 else min(j + 1, s.node_count - 1)
    if i == j:
        return s.raw, ACCEPT, "no neighbour"
    col = s.ncol("edge_count")
    changes = {i * s.nf + col: int(counts[i]) + 1, j * s.nf + col: int(counts[j]) - 1}
    return s.set_numbers("nodes", changes), ACCEPT, f"edge moved from node {j} to {i}"


def m_location_bad(s: Seed, rng: random.Random) -> Mutation:
    j = rng.randrange(len(s.locations))
    lf = s.locations.shape[1]
    old = int(s.locations[j, 0])
    end = s.node_count * s.nf
    value = rng.choice([old + rng.randrange(1, s.nf), end, end + rng.randrange(1, 10**6), UINT32_MAX])
    return (
        s.set_number("locations", j * lf, str(value)),
        REJECT,
        f"location {j} object_index {value}",
    )


def m_location_valid(s: Seed, rng: random.Random) -> Mutation:
    j = rng.randrange(len(s.locations))
    lf = s.locations.shape[1]
    k = rng.randrange(lf)
    value = rng.randrange(s.node_count) * s.nf if k == 0 else rng.randrange(UINT32_MAX)
    return (
        s.set_number("locations", j * lf + k, str(value)),
        ACCEPT,
        f"location {j} field {k} {value}",
    )


def m_bad_number(s: Seed, rng: random.Random) -> Mutation:
    key = rng.choice(["nodes", "edges", "locations"])
    k = rng.randrange(len(s.spans[key][0]))
    text = rng.choice(
        [
            "-1",
            "-0",
            "1.5",
            "1e3",
            '"7"',
            "null",
            "true",
            "[]",
            "{}",
            "",
            " ",
            "0x10",
            str(2**32),
            str(2**32 + 7),
            "9" * 30,
            "1" * 5000,
            "NaN",
            "+1",
        ]
    )
    return s.set_number(key, k, text), REJECT, f"{key}[{k}]={text[:20]!r}"


def m_max_number(s: Seed, rng: random.Random) -> Mutation:
    """2^32 - 1 fits a uint32 column: fine for ids and sizes, not for indexes."""
    col = rng.choice(["id", "self_size", "name", "type", "edge_count"])
    i = rng.randrange(s.node_count)
    expect = ACCEPT if col in ("id", "self_size") else REJECT
    data = s.set_number("nodes", i * s.nf + s.ncol(col), str(UINT32_MAX))
    return data, expect, f"node {i} {col}=2^32-1"


def m_count(s: Seed, rng: random.Random) -> Mutation:
    key = rng.choice(["node_count", "edge_count"])
    actual = s.header[key]
    value = rng.choice(
        [
            -1,
            -(10**6),
            1.5,
            1e3,
            "100",
            True,
            False,
            None,
            [],
            {},
            0,
            actual + 1,
            actual - 1,
            actual * 1000,
            2 * 10**9,
            2**31,
            2**32,
            2**40,
            10**12,
            2**64,
            int("9" * 4000),
        ]
    )
    header = s.header_copy()
    header[key] = value
    text = json.dumps(header, separators=(",", ":"))
    if rng.random() < 0.1:  # more digits than json converts to int
        text = text.replace(f'"{key}":{json.dumps(value)}', f'"{key}":{"7" * 5000}')
        value = "7" * 5000
    return s.with_header(text), REJECT, f"{key}={str(value)[:30]}"


def m_meta_remove(s: Seed, rng: random.Random) -> Mutation:
    meta = s.header["meta"]
    key = rng.choice(list(meta))
    header = s.header_copy()
    del header["meta"][key]
    required = key in ("node_fields", "edge_fields", "node_types", "edge_types")
    return s.with_header(header), REJECT if required else ACCEPT, f"meta.{key} removed"


def m_meta_no_meta(s: Seed, rng: random.Random) -> Mutation:
    header = s.header_copy()
    choice = rng.choice(["drop", "list", "string", "null"])
    if choice == "drop":
        del header["meta"]
    else:
        header["meta"] = {"list": [header["meta"]], "string": "meta", "null": None}[choice]
    return s.with_header(header), REJECT, f"meta {choice}"


def m_field_rename(s: Seed, rng: random.Random) -> Mutation:
    key = rng.choice(["node_fields", "edge_fields", "location_fields"])
    header = s.header_copy()
    fields = header["meta"][key]
    i = rng.randrange(len(fields))
    name = fields[i]
    fields[i] = rng.choice(["zz_" + name, name.upper(), "", name + " "])
    optional = key == "node_fields" and name in ("trace_node_id", "detachedness")
    return s.with_header(header), ACCEPT if optional else REJECT, f"{key}[{i}] {name!r} renamed"


def m_field_dup(s: Seed, rng: random.Random) -> Mutation:
    key = rng.choice(["node_fields", "edge_fields"])
    header = s.header_copy()
    fields = header["meta"][key]
    i, j = rng.sample(range(len(fields)), 2)
    fields[j] = fields[i]
    return s.with_header(header), REJECT, f"{key}[{j}] = {fields[i]!r}"


def m_field_extra(s: Seed, rng: random.Random) -> Mutation:
    key = rng.choice(["node_fields", "edge_fields"])
    header = s.header_copy()
    header["meta"][key].insert(rng.randrange(len(header["meta"][key]) + 1), "extra")
    return s.with_header(header), REJECT, f"{key} + extra"


def m_field_wrong_type(s: Seed, rng: random.Random) -> Mutation:
    key = rng.choice(["node_fields", "edge_fields", "location_fields"])
    header = s.header_copy()
    choice = rng.choice(["string", "number-in-list", "null", "object", "nested"])
    fields = header["meta"][key]
    if choice == "string":
        header["meta"][key] = ",".join(fields)
    elif choice == "number-in-list":
        fields[rng.randrange(len(fields))] = 3
    elif choice == "null":
        header["meta"][key] = None if key != "location_fields" else 0
    elif choice == "object":
        header["meta"][key] = {f: i for i, f in enumerate(fields)}
    else:
        fields[rng.randrange(len(fields))] = [fields[0]]
    return s.with_header(header), REJECT, f"{key} {choice}"


def m_types_empty(s: Seed, rng: random.Random) -> Mutation:
    key = rng.choice(["node_types", "edge_types"])
    header = s.header_copy()
    choice = rng.choice(
        [
            "[[]]",
            "[]",
            "[[],...]",
            "string",
            "null",
            "[string]",
            "[[number]]",
            "[[nested]]",
            "[[bad utf8]]",
        ]
    )
    types = header["meta"][key]
    if choice == "[[]]":
        header["meta"][key] = [[]]
    elif choice == "[]":
        header["meta"][key] = []
    elif choice == "[[],...]":
        types[0] = []
    elif choice == "string":
        header["meta"][key] = "hidden"
    elif choice == "null":
        header["meta"][key] = None
    elif choice == "[string]":
        types[0] = ",".join(types[0])
    elif choice == "[[number]]":
        types[0][rng.randrange(len(types[0]))] = 7
    elif choice == "[[nested]]":
        types[0][rng.randrange(len(types[0]))] = ["object"]
    else:
        types[0][rng.randrange(len(types[0]))] = "bad\udcff"  # a lone surrogate, as \udcff
    return s.with_header(header), REJECT, f"{key} {choice}"


def m_types_resize(s: Seed, rng: random.Random) -> Mutation:
    """Fewer type names than the codes used: invalid; fewer but enough, or more: valid."""
    key = rng.choice(["node_types", "edge_types"])
    header = s.header_copy()
    names = header["meta"][key][0]
    codes = s.nodes[:, s.ncol("type")] if key == "node_types" else s.edges[:, s.ecol("type")]
    used = int(codes.max()) + 1
    if rng.random() < 0.3:
        names.extend(f"extra{i}" for i in range(rng.randint(1, 300)))
        return s.with_header(header), ACCEPT, f"{key} + extra names"
    keep = rng.randint(1, len(names) - 1)
    del names[keep:]
    # renaming element/hidden away turns their numbers into string indexes: may be invalid
    expect = REJECT if keep < used else ACCEPT
    return s.with_header(header), expect, f"{key}[0] cut to {keep} (codes up to {used - 1})"


def m_strings_bad(s: Seed, rng: random.Random) -> Mutation:
    choice = rng.choice(
        [
            "[]",
            "5",
            "{}",
            '"abc"',
            "null",
            "[1,2]",
            '["a",1]',
            '[["a"]]',
            '["a",]',
            '["a" "b"]',
            '["unterminated]',
            "deep",
            "deep-open",
        ]
    )
    if choice == "deep":
        value = b"[" * 100_000 + b"]" * 100_000
    elif choice == "deep-open":
        value = b"[" * 100_000
    else:
        value = choice.encode()
    return s.with_value("strings", value), REJECT, f"strings = {choice}"


def m_strings_resize(s: Seed, rng: random.Random) -> Mutation:
    n = len(s.strings)
    if rng.random() < 0.3:
        extra = [f"extra {i}" for i in range(rng.randint(1, 100))]
        value = json.dumps(s.strings + extra).encode()
        return s.with_value("strings", value), ACCEPT, f"strings + {len(extra)}"
    keep = rng.choice([0, 1, n - 1, rng.randrange(n)])
    value = json.dumps(s.strings[:keep]).encode()
    expect = REJECT if s.max_string_ref >= keep else ACCEPT
    return s.with_value("strings", value), expect, f"strings cut to {keep} of {n}"


def m_string_escape(s: Seed, rng: random.Random) -> Mutation:
    i = rng.randrange(len(s.strings))
    bad: dict[bytes, str] = {
        b'"abc\\x"': REJECT,  # invalid escape
        b'"\\u12"': REJECT,  # short \u escape
        b'"\xff\xfe"': REJECT,  # not UTF-8
        b'"\xc3"': REJECT,  # truncated UTF-8 sequence
        b'"a\\"': REJECT,  # the escaped quote leaves the string open
        b'"\\ud800"': ACCEPT,  # a lone surrogate: V8 writes these
        b'"caf\xc3\xa9 \\n\\t\\u00e9"': ACCEPT,
        b'"\x01\x02"': ACCEPT,  # raw control characters: V8 escapes them, json(strict=False) too
    }
    piece, expect = rng.choice(list(bad.items()))
    parts = [json.dumps(t).encode() for t in s.strings]
    parts[i] = piece
    value = b"[" + b",".join(parts) + b"]"
    return s.with_value("strings", value), expect, f"string {i} = {piece!r}"


def m_deep(s: Seed, rng: random.Random) -> Mutation:
    depth = rng.choice([2000, 100_000])
    where = rng.choice(["header", "meta", "node_types", "nodes", "section", "section-open", "object-header"])
    nested = b"[" * depth + b"]" * depth
    a = s.header_span[0]
    if where == "header":  # a nested member of the snapshot object
        return s.splice(a + 1, a + 1, b'"deep":' + nested + b","), REJECT, f"header depth {depth}"
    if where == "object-header":
        nested_obj = b'{"a":' * depth + b"1" + b"}" * depth
        return (
            s.splice(a + 1, a + 1, b'"deep":' + nested_obj + b","),
            REJECT,
            f"header objects {depth}",
        )
    if where == "meta":
        pos = s.raw.index(b'"meta":{', a) + len(b'"meta":{')
        return s.splice(pos, pos, b'"deep":' + nested + b","), REJECT, f"meta depth {depth}"
    if where == "node_types":
        pos = s.raw.index(b'"node_types":[', a) + len(b'"node_types":[')
        return s.splice(pos, pos, nested + b","), REJECT, f"node_types depth {depth}"
    if where == "nodes":
        return s.with_value("nodes", b"[" + nested + b"]"), REJECT, f"nodes depth {depth}"
    if where == "section":  # an unknown top-level section is skipped, however deep
        data = s.with_section("deep", nested, rng.choice(s.order))
        return data, ACCEPT, f"extra section depth {depth}"
    data = s.with_section("deep", b"[" * depth, rng.choice(s.order))
    return data, REJECT, f"unclosed section depth {depth}"


def m_sections(s: Seed, rng: random.Random) -> Mutation:
    key = rng.choice(s.order)
    choice = rng.choice(["remove", "remove", "duplicate", "null"])
    if choice == "remove":
        expect = REJECT if key in ("nodes", "edges", "strings") else ACCEPT
        return s.without_section(key), expect, f"{key} removed"
    if choice == "duplicate":
        before = rng.choice(s.order)
        return s.with_section(key, s.value(key), before), ACCEPT, f"{key} twice"
    expect = REJECT if key in ("nodes", "edges", "strings") else ANY
    return s.with_value(key, b"null"), expect, f"{key} = null"


def m_reorder(s: Seed, rng: random.Random) -> Mutation:
    """Sections in another order, more whitespace: still the same snapshot."""
    parts = {k: s.value(k) for k in s.order}
    order = list(s.order)
    rng.shuffle(order)
    ws = rng.choice([b"", b"\n", b" \r\n\t "])
    body = (b"," + ws).join(b'"' + k.encode() + b'":' + ws + parts[k] for k in order)
    head = s.raw[: s.header_span[1]]
    return head + b"," + ws + body + ws + b"}", ACCEPT, "sections " + ",".join(order)


def m_whitespace(s: Seed, rng: random.Random) -> Mutation:
    key = rng.choice(["nodes", "edges", "locations"])
    starts, ends = s.spans[key]
    picks = sorted(rng.sample(range(len(starts)), min(20, len(starts))))
    out, pos = [], 0
    for k in picks:
        e = int(ends[k])
        out += [s.raw[pos:e], rng.choice([b" ", b"\n", b"\r\n", b"\t  "])]
        pos = e
    out.append(s.raw[pos:])
    return b"".join(out), ACCEPT, f"whitespace in {key}"


def m_header_bytes(s: Seed, rng: random.Random) -> Mutation:
    a, b = s.header_span
    choice = rng.choice(["utf8-in-name", "utf8-outside", "nul", "garbage-after", "not-object"])
    if choice == "utf8-in-name":
        pos = s.raw.index(b'"hidden"', a) + 2
        return s.splice(pos, pos, b"\xff"), REJECT, choice
    if choice == "utf8-outside":
        pos = rng.randrange(a, b)
        return s.splice(pos, pos, b"\xfe\xff"), REJECT, choice
    if choice == "nul":
        pos = rng.randrange(a, b)
        return s.splice(pos, pos, b"\x00"), REJECT, choice
    if choice == "garbage-after":
        return s.splice(b, b, b"garbage"), REJECT, choice
    return s.with_header(rng.choice(["[1,2]", '"x"', "7", "null"])), REJECT, choice


def m_not_snapshot(s: Seed, rng: random.Random) -> Mutation:
    choice = rng.choice(
        [
            b"",
            b"  \n",
            b"{}",
            b'{"snapshot"',
            b'{"snapshot":',
            b"[1,2,3]",
            b"\x1f\x8b\x08\x00",
            b'{"nodes":[1]}',
            s.raw[: rng.randrange(1, 64)],
        ]
    )
    return choice, REJECT, f"content {choice[:20]!r}"


KINDS: list[Callable[[Seed, random.Random], Mutation]] = [
    m_identity,
    m_truncate,
    m_byte_flip,
    m_digits,
    m_node_type_oob,
    m_node_name_oob,
    m_node_index_valid,
    m_edge_type_oob,
    m_edge_name_oob,
    m_edge_index_big,
    m_to_node_bad,
    m_to_node_valid,
    m_to_root,
    m_rewire,
    m_edge_count_bad,
    m_edge_count_shift,
    m_location_bad,
    m_location_valid,
    m_bad_number,
    m_max_number,
    m_count,
    m_meta_remove,
    m_meta_no_meta,
    m_field_rename,
    m_field_dup,
    m_field_extra,
    m_field_wrong_type,
    m_types_empty,
    m_types_resize,
    m_strings_bad,
    m_strings_resize,
    m_string_escape,
    m_deep,
    m_sections,
    m_reorder,
    m_whitespace,
    m_header_bytes,
    m_not_snapshot,
    m_byte_flip,
    m_digits,
    m_truncate,
]


@dataclass
class Case:
    index: int
    kind: str
    seed: str
    data: bytes
    expect: str
    detail: str
    chunk_bytes: int | None  # None: the parser's default


class SeedCache:
    def __init__(self, seeds_dir: Path) -> None:
        self.dir = seeds_dir
        self.names = sorted(p.name[: -len(".heapsnapshot")] for p in seeds_dir.glob("*.heapsnapshot"))
        self._seeds: dict[str, Seed] = {}

    def get(self, name: str) -> Seed:
        if name not in self._seeds:
            self._seeds[name] = Seed(name, (self.dir / f"{name}.heapsnapshot").read_bytes())
        return self._seeds[name]


def make_case(seeds: SeedCache, fuzz_seed: int, k: int) -> Case:
    rng = random.Random(f"leaksleuth-fuzz:{fuzz_seed}:{k}")
    mutate = KINDS[k % len(KINDS)]
    seed = seeds.get(rng.choice(seeds.names))
    data, expect, detail = mutate(seed, rng)
    chunk = rng.choice([4099, 65536, 1 << 20]) if rng.random() < 0.15 else None
    return Case(k, mutate.__name__[2:], seed.name, data, expect, detail, chunk)


# ---------------------------------------------------------------------------------------------
# The worker: load, check independently, run the engine


def column_problems(snap: Any) -> list[str]:
    """Independent range checks of a loaded snapshot (what the kernels rely on)."""
    problems = []
    n, m = snap.node_count, snap.edge_count
    n_strings = len(snap.strings)
    if n < 1:
        problems.append("no nodes")
        return problems
    for col in ("node_name", "node_id", "node_self_size", "node_edge_count"):
        if len(getattr(snap, col)) != n:
            problems.append(f"{col} has {len(getattr(snap, col))} entries for {n} nodes")
    for col in ("edge_type", "edge_name_or_index"):
        if len(getattr(snap, col)) != m:
            problems.append(f"{col} has {len(getattr(snap, col))} entries for {m} edges")
    fe = snap.first_edge
    if len(fe) != n + 1 or fe[0] != 0 or fe[-1] != m or np.any(np.diff(fe) < 0):
        problems.append("first_edge is not a CSR index of the edges")
    if int(snap.node_type.max()) >= len(snap.node_type_names):
        problems.append("node type code out of range")
    if int(snap.node_name.max()) >= n_strings:
        problems.append("node name index out of range")
    if m:
        if int(snap.edge_type.max()) >= len(snap.edge_type_names):
            problems.append("edge type code out of range")
        else:
            indexed = [i for i, t in enumerate(snap.edge_type_names) if t in INDEXED_EDGE_TYPES]
            named = ~np.isin(snap.edge_type, indexed)
            if np.any(snap.edge_name_or_index[named] >= n_strings):
                problems.append("edge name index out of range")
        if int(snap.edge_to.max()) >= n:
            problems.append("edge target out of range")
        if np.any(snap.edge_to == 0):
            problems.append("an edge points at the root")
    loc = snap.locations
    if len({len(loc.node), len(loc.script_id), len(loc.line), len(loc.column)}) != 1:
        problems.append("location columns differ in length")
    if len(loc.node) and int(loc.node.max()) >= n:
        problems.append("location node out of range")
    return problems


def raw_problems(data: bytes, snap: Any) -> list[str]:
    """When the file is valid JSON: what json.loads reads must be what the columns hold (a
    to_node that is no multiple of the field count, silently re-pointed, shows up here)."""
    try:
        doc = json.loads(data, strict=False)
        header = doc["snapshot"]
        meta = header["meta"]
        nf, ef = len(meta["node_fields"]), len(meta["edge_fields"])
        nodes = np.array(doc["nodes"], dtype=np.int64)
        edges = np.array(doc["edges"], dtype=np.int64)
    except (ValueError, RecursionError, KeyError, TypeError, OverflowError):
        return []  # not JSON the oracle understands (the parser is more lenient): columns only
    problems = []
    n = snap.node_count
    if len(nodes) != n * nf or header.get("node_count") != n:
        return [f"nodes array has {len(nodes)} numbers for {n} nodes of {nf} fields"]
    if len(edges) != snap.edge_count * ef:
        return [f"edges array has {len(edges)} numbers for {snap.edge_count} edges of {ef} fields"]
    nodes, edges = nodes.reshape(n, nf), edges.reshape(-1, ef)
    nfields, efields = meta["node_fields"], meta["edge_fields"]
    to_node = edges[:, efields.index("to_node")]
    if np.any(to_node % nf != 0) or np.any(to_node >= n * nf):
        problems.append("raw to_node not a multiple of the node field count, or out of range")
    if not np.array_equal(to_node // nf, snap.edge_to.astype(np.int64)):
        problems.append("edge_to differs from the file's to_node / field count")
    for field_name, column in (
        ("type", snap.node_type),
        ("name", snap.node_name),
        ("edge_count", snap.node_edge_count),
    ):
        if not np.array_equal(nodes[:, nfields.index(field_name)], column.astype(np.int64)):
            problems.append(f"node {field_name} column differs from the file")
    if not np.array_equal(edges[:, efields.index("type")], snap.edge_type.astype(np.int64)):
        problems.append("edge type column differs from the file")
    loc_fields = meta.get("location_fields")
    if isinstance(loc_fields, list) and "object_index" in loc_fields and "locations" in doc:
        locs = np.array(doc["locations"], dtype=np.int64).reshape(-1, len(loc_fields))
        obj = locs[:, loc_fields.index("object_index")]
        if np.any(obj % nf != 0) or np.any(obj >= n * nf):
            problems.append("raw location object_index not a node offset")
        if not np.array_equal(obj // nf, snap.locations.node.astype(np.int64)):
            problems.append("location nodes differ from the file")
    if len(doc["strings"]) != len(snap.strings):
        problems.append("string count differs from the file")
    return problems


def exercise(snap: Any, rng: random.Random) -> None:
    """Run the engine's kernels on an accepted snapshot."""
    from leaksleuth.heap.diff import diff_snapshots
    from leaksleuth.heap.graph import dominators, retained_sizes
    from leaksleuth.heap.growth import baseline_ids, snapshot_growth
    from leaksleuth.heap.paths import format_path, retainer_paths
    from leaksleuth.heap.summary import summarize

    summary = summarize(snap, top=25)
    json.dumps(summary.to_json())
    dominators(snap)
    retained = retained_sizes(snap)
    json.dumps(diff_snapshots(snap, snap, top=10).to_json())
    n = snap.node_count
    big = int(np.argmax(retained[1:])) + 1 if n > 1 else 0
    for ordinal in {0, n - 1, big, rng.randrange(n)}:
        for path in retainer_paths(snap, ordinal):
            json.dumps(format_path(snap, path))
    ids = baseline_ids(snap)
    growth = snapshot_growth(ids[: len(ids) // 2], snap)
    for owner in list(growth.owners.values())[:5]:
        snap.class_name(int(snap.class_keys()[owner.owner]))
        snap.node_name_text(owner.owner)


def check_boundscheck() -> bool:
    """Is NUMBA_BOUNDSCHECK in effect for the engine's (cached) kernels? An out-of-range read
    in a leaksleuth kernel must raise IndexError."""
    from leaksleuth.heap.snapshot import _class_keys

    try:
        _class_keys(np.array([200], np.uint8), np.array([0], np.uint32), np.zeros(1, np.uint8), 1, np.empty(1, np.int32))
    except IndexError:
        return True
    return False


def run_case(case: Case, path: Path) -> dict[str, Any]:
    from leaksleuth.errors import SnapshotError
    from leaksleuth.heap.parse import CHUNK_BYTES, load_snapshot

    path.write_bytes(case.data)
    record: dict[str, Any] = {
        "case": case.index,
        "kind": case.kind,
        "seed": case.seed,
        "expect": case.expect,
        "detail": case.detail[:200],
        "chunk": case.chunk_bytes,
        "problems": [],
    }
    stage = "load"
    try:
        snap = load_snapshot(path, chunk_bytes=case.chunk_bytes or CHUNK_BYTES)
        stage = "check"
        record["problems"] = column_problems(snap) + raw_problems(case.data, snap)
        stage = "engine"
        exercise(snap, random.Random(case.index))
        record["outcome"] = "accepted"
    except SnapshotError as exc:
        message = str(exc)
        record["outcome"] = "rejected" if stage == "load" else "rejected-late"
        record["message"] = message[:500]
        record["one_line"] = "\n" not in message and message.startswith(f"{path}: ")
    except Exception as exc:
        record["outcome"] = "traceback"
        record["stage"] = stage
        record["message"] = f"{type(exc).__name__}: {str(exc)[:300]}"
        record["traceback"] = traceback.format_exc()[-1500:]
    return record


def worker_main(args: argparse.Namespace) -> int:
    seeds = SeedCache(Path(args.seeds))
    scratch = Path(tempfile.mkdtemp(prefix="fuzz-case-", dir=args.scratch))
    path = scratch / "case.heapsnapshot"
    if os.environ.get("NUMBA_BOUNDSCHECK") == "1":
        print(
            "FUZZ " + json.dumps({"probe": "boundscheck", "effective": check_boundscheck()}),
            flush=True,
        )
    try:
        for k in (int(x) for x in args.cases.split(",") if x):
            case = make_case(seeds, args.seed, k)
            start = time.perf_counter()
            record = run_case(case, path)
            record["seconds"] = round(time.perf_counter() - start, 3)
            print("FUZZ " + json.dumps(record), flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return 0


# ---------------------------------------------------------------------------------------------
# The runner


@dataclass
class FuzzReport:
    records: list[dict[str, Any]] = field(default_factory=list)
    probes: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def failures(self) -> dict[str, list[dict[str, Any]]]:
        bad: dict[str, list[dict[str, Any]]] = {
            "signals": [],
            "tracebacks": [],
            "hangs": [],
            "out_of_range_accepted": [],
            "bad_messages": [],
            "valid_rejected": [],
        }
        for r in self.records:
            outcome = r["outcome"]
            if outcome == "signal":
                bad["signals"].append(r)
            elif outcome == "hang":
                bad["hangs"].append(r)
            elif outcome == "traceback":
                bad["tracebacks"].append(r)
            elif outcome == "accepted" and (r["problems"] or r["expect"] == REJECT):
                bad["out_of_range_accepted"].append(r)
            elif outcome in ("rejected", "rejected-late"):
                if not r.get("one_line"):
                    bad["bad_messages"].append(r)
                if r["expect"] == ACCEPT:
                    bad["valid_rejected"].append(r)
        return bad

    def counts(self) -> dict[str, Any]:
        fails = self.failures()
        outcomes = Counter(r["outcome"] for r in self.records)
        return {
            "cases": len(self.records),
            "accepted_valid": sum(
                1 for r in self.records if r["outcome"] == "accepted" and not r["problems"] and r["expect"] != REJECT
            ),
            "rejected_with_one_line": sum(
                1 for r in self.records if r["outcome"] in ("rejected", "rejected-late") and r.get("one_line")
            ),
            "signals": len(fails["signals"]),
            "tracebacks": len(fails["tracebacks"]),
            "hangs": len(fails["hangs"]),
            "out_of_range_accepted": len(fails["out_of_range_accepted"]),
            "bad_messages": len(fails["bad_messages"]),
            "valid_rejected": len(fails["valid_rejected"]),
            "boundscheck_cases": sum(1 for r in self.records if r.get("boundscheck")),
            "boundscheck_effective": bool(self.probes) and all(p["effective"] for p in self.probes),
            "outcomes": dict(outcomes),
            "seconds": round(self.seconds, 1),
        }


def _run_worker(
    cases: list[int],
    fuzz_seed: int,
    seeds: Path,
    scratch: Path,
    env: dict[str, str],
    timeout: float,
    boundscheck: bool,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Run cases in worker processes, restarting after a crash: the case a worker died on is
    recorded as a signal (or a hang)."""
    records: list[dict[str, Any]] = []
    probes: list[dict[str, Any]] = []
    pending = list(cases)
    while pending:
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "worker",
            "--seed",
            str(fuzz_seed),
            "--seeds",
            str(seeds),
            "--scratch",
            str(scratch),
            "--cases",
            ",".join(map(str, pending)),
        ]
        try:
            proc = subprocess.run(cmd, env=env, capture_output=True, timeout=timeout, check=False)
            out, code, err = proc.stdout, proc.returncode, proc.stderr
        except subprocess.TimeoutExpired as exc:
            out, code, err = exc.stdout or b"", None, exc.stderr or b""
        done = set()
        for line in out.decode("utf-8", "replace").splitlines():
            if not line.startswith("FUZZ "):
                continue
            record = json.loads(line[5:])
            if "probe" in record:
                probes.append(record)
                continue
            record["boundscheck"] = boundscheck
            records.append(record)
            done.add(record["case"])
        rest = [k for k in pending if k not in done]
        if not rest:
            break
        stuck, pending = rest[0], rest[1:]
        if code is None:
            outcome, note = "hang", f"no result within {timeout:.0f}s"
        elif code < 0:
            outcome, note = "signal", signal.Signals(-code).name
        else:
            outcome, note = "traceback", f"worker exited with {code}"
        tail = err.decode("utf-8", "replace")[-1500:]
        case = make_case(SeedCache(seeds), fuzz_seed, stuck)  # what it was, for the report
        records.append(
            {
                "case": stuck,
                "kind": case.kind,
                "seed": case.seed,
                "expect": case.expect,
                "detail": case.detail[:200],
                "chunk": case.chunk_bytes,
                "outcome": outcome,
                "message": note,
                "stderr": tail,
                "problems": [],
                "boundscheck": boundscheck,
            }
        )
    return records, probes


def run_fuzz(
    cases: int = 300,
    seed: int = 1,
    *,
    jobs: int | None = None,
    boundscheck_share: float = 0.25,
    workdir: Path | None = None,
    timeout: float = 600.0,
    first: int = 0,
    src: Path | None = None,
) -> FuzzReport:
    """Run cases first..first+cases-1; the last `boundscheck_share` of them with
    NUMBA_BOUNDSCHECK=1 (and a numba cache of their own, or boundscheck would not apply).
    `src`: the source tree whose leaksleuth to fuzz (default: this checkout's src/)."""
    started = time.perf_counter()
    own_dir = workdir is None
    work = Path(tempfile.mkdtemp(prefix="leaksleuth-fuzz-")) if workdir is None else workdir
    try:
        seeds = prepare_seeds(work)
        jobs = jobs or max(1, min(4, os.cpu_count() or 1))
        indices = list(range(first, first + cases))
        n_checked = round(cases * boundscheck_share)
        plain, checked = indices[: cases - n_checked], indices[cases - n_checked :]
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(src or REPO / "src"), env.get("PYTHONPATH")]))
        env.pop("NUMBA_BOUNDSCHECK", None)
        env_checked = dict(env, NUMBA_BOUNDSCHECK="1", NUMBA_CACHE_DIR=str(BOUNDSCHECK_CACHE))
        batches = []
        for group, group_env, flag in ((plain, env, False), (checked, env_checked, True)):
            if group:
                # interleaved: every worker gets a mix of kinds and sizes
                for j in range(min(jobs, len(group))):
                    batches.append((group[j::jobs], group_env, flag))
        report = FuzzReport()
        with ThreadPoolExecutor(max_workers=jobs) as pool:
            futures = [
                pool.submit(_run_worker, batch, seed, seeds, work, e, timeout, flag) for batch, e, flag in batches
            ]
            for f in futures:
                records, probes = f.result()
                report.records.extend(records)
                report.probes.extend(probes)
        report.records.sort(key=lambda r: int(r["case"]))
        report.seconds = time.perf_counter() - started
        return report
    finally:
        if own_dir:
            shutil.rmtree(work, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = ap.add_subparsers(dest="command", required=True)
    w = sub.add_parser("worker")
    w.add_argument("--seed", type=int, required=True)
    w.add_argument("--seeds", required=True)
    w.add_argument("--scratch", required=True)
    w.add_argument("--cases", required=True)
    args = ap.parse_args(argv)
    return worker_main(args)


if __name__ == "__main__":
    sys.exit(main())
