"""Run every compiled kernel once, on small generated snapshots (to fill numba's cache).

The snapshots imitate a leaking service: `global.bus._events.tick[]` gains a closure, a context
and an object with strings per "request", with shapes, code, weak edges and locations about, so
that parse, summary, dominators, diff, retainer paths and the growth analysis all run with the
array types that real snapshots give them.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path
from typing import Any

NODE_TYPES = ["hidden", "array", "string", "object", "code", "closure", "regexp", "number", "native",
              "synthetic", "concatenated string", "sliced string", "symbol", "bigint", "object shape"]
EDGE_TYPES = ["context", "element", "property", "internal", "hidden", "shortcut", "weak"]
NODE_FIELDS = ["type", "name", "id", "self_size", "edge_count", "trace_node_id", "detachedness"]
EDGE_FIELDS = ["type", "name_or_index", "to_node"]


class _Heap:
    def __init__(self) -> None:
        self.nodes: list[list[int]] = []
        self.edges: list[list[tuple[int, int, int]]] = []
        self.strings: list[str] = []
        self.index: dict[str, int] = {}
        self.locations: list[int] = []

    def s(self, text: str) -> int:
        if text not in self.index:
            self.index[text] = len(self.strings)
            self.strings.append(text)
        return self.index[text]

    def node(self, type_: str, name: str, node_id: int, size: int) -> int:
        self.nodes.append([NODE_TYPES.index(type_), self.s(name), node_id, size, 0, 0, 0])
        self.edges.append([])
        return len(self.nodes) - 1

    def edge(self, a: int, b: int, type_: str, name: str | int) -> None:
        self.edges[a].append((EDGE_TYPES.index(type_), name if isinstance(name, int) else self.s(name), b))

    def document(self) -> dict[str, Any]:
        nf = len(NODE_FIELDS)
        flat_nodes: list[int] = []
        flat_edges: list[int] = []
        for row, out in zip(self.nodes, self.edges, strict=True):
            row[4] = len(out)
            flat_nodes.extend(row)
            for t, name, to in out:
                flat_edges.extend((t, name, to * nf))
        return {
            "snapshot": {
                "meta": {
                    "node_fields": NODE_FIELDS,
                    "node_types": [NODE_TYPES, "string", "number", "number", "number", "number", "number"],
                    "edge_fields": EDGE_FIELDS,
                    "edge_types": [EDGE_TYPES, "string_or_number", "node"],
                    "location_fields": ["object_index", "script_id", "line", "column"],
                },
                "node_count": len(self.nodes),
                "edge_count": sum(len(e) for e in self.edges),
                "trace_function_count": 0,
            },
            "nodes": flat_nodes,
            "edges": flat_edges,
            "trace_function_infos": [],
            "trace_tree": [],
            "samples": [],
            "locations": self.locations,
            "strings": self.strings,
        }


def leaking_heap(requests: int, base: int = 400) -> dict[str, Any]:
    """A snapshot of a service after `requests` requests: `base` objects of its own, plus one
    leaked listener per request. Ids of the base objects are the same in every call."""
    h = _Heap()
    root = h.node("synthetic", "", 1, 0)
    gc_roots = h.node("synthetic", "(GC roots)", 3, 0)
    strong = h.node("synthetic", "(Strong roots)", 5, 0)
    glob = h.node("object", "global", 7, 120)
    h.edge(root, gc_roots, "element", 1)
    h.edge(root, glob, "shortcut", "global")
    h.edge(gc_roots, strong, "element", 1)
    h.edge(strong, glob, "element", 1)
    shape = h.node("object shape", "system / Map", 9, 80)
    code = h.node("code", "(code)", 11, 400)
    h.edge(glob, shape, "internal", "map")
    bus = h.node("object", "EventBus", 13, 48)
    events = h.node("object", "Object", 15, 64)
    ticks = h.node("array", "(object elements)", 17, 16 + 8 * requests)
    h.edge(glob, bus, "property", "bus")
    h.edge(bus, events, "property", "_events")
    h.edge(events, ticks, "property", "tick")
    cache = h.node("object", "WeakMap", 19, 32)
    table = h.node("array", "(object elements)", 21, 64)
    h.edge(glob, cache, "property", "cache")
    h.edge(cache, table, "internal", "table")
    next_id = 101
    previous = glob
    for k in range(base):  # the service's own objects: a chain and a fan, with strings
        o = h.node("object", f"Service{k % 7}", next_id, 32 + k % 5)
        text = h.node("string", f"config value {k}", next_id + 2, 24)
        h.edge(previous if k % 3 else glob, o, "property", f"p{k % 11}")
        h.edge(o, text, "property", "name")
        h.edge(o, shape, "internal", "map")
        h.edge(table, o, "weak", k)
        previous = o
        next_id += 4
    fn_shape = h.node("object shape", "system / Map", next_id, 80)
    next_id = 100_001
    for r in range(requests):  # the leak: ids grow as V8's do, newer objects get larger ids
        closure = h.node("closure", "onTick", next_id, 32)
        context = h.node("object", "system / Context", next_id + 2, 40)
        comp = h.node("object", "VueComponent", next_id + 4, 96)
        label = h.node("concatenated string", f"request {r}", next_id + 6, 32)
        h.edge(ticks, closure, "element", r)
        h.edge(closure, context, "internal", "context")
        h.edge(closure, code, "internal", "code")
        h.edge(closure, fn_shape, "internal", "map")
        h.edge(context, comp, "context", "vm")
        h.edge(comp, label, "property", "label")
        h.edge(comp, shape, "internal", "map")
        h.locations.extend((closure * len(NODE_FIELDS), 12, 13, 4))
        next_id += 8
    return h.document()


def write_series(folder: Path, requests: tuple[int, ...] = (0, 40, 80, 120)) -> list[Path]:
    paths = []
    for k, n in enumerate(requests):
        path = folder / f"s{k}.heapsnapshot"
        path.write_text(json.dumps(leaking_heap(n)), encoding="utf-8")
        path.with_name(path.name + ".scripts.json").write_text(
            json.dumps({"pid": 1, "time": 0, "scripts": {"12": "file:///app/components/Aside.js"}}), encoding="utf-8"
        )
        paths.append(path)
    return paths


def exercise() -> None:
    """Every engine path once (what `analyze`, `diff`, `path` and `hunt` run)."""
    from leaksleuth.heap import (
        class_retained_sizes,
        diff_snapshots,
        distances,
        dominators,
        find_culprits,
        load_snapshot,
        retained_sizes,
        retainer_paths,
        summarize,
    )

    with tempfile.TemporaryDirectory(prefix="leaksleuth-warmup-") as tmp:
        files = write_series(Path(tmp))
        snaps = [load_snapshot(f) for f in files[:2]]
        last = load_snapshot(files[-1])
        summarize(last)
        dominators(last)
        retained_sizes(last)
        class_retained_sizes(last)
        distances(last)
        diff_snapshots(snaps[1], last)
        retainer_paths(last, last.node_count - 1)
        find_culprits(files, [40.0 * k for k in range(len(files))], Path(tmp))
        find_culprits(files[1:], [40.0 * k for k in range(1, len(files))], None)



def main(argv: list[str]) -> int:
    """`python -m leaksleuth.heap.warmup [FOLDER]`: fill the shipped kernel cache (or FOLDER)."""
    from leaksleuth.heap.jit import build

    if len(argv) > 1 or (argv and argv[0].startswith("-")):
        print("usage: python -m leaksleuth.heap.warmup [FOLDER]", file=sys.stderr)
        return 2
    build(Path(argv[0]) if argv else None)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
