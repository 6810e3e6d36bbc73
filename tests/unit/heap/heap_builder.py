"""Build tiny .heapsnapshot files by hand, as DevTools' own tests do.

    b = SnapshotBuilder()
    a = b.node("object", "A", self_size=10)
    b.edge(b.root, a, "property", "x")
    b.write(tmp_path / "tiny.heapsnapshot")

Node 0 is the synthetic root. Field orders can be permuted to prove the parser reads them
from `meta` (as Node 18, 20 and 22 differ in which fields they write).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

NODE_TYPES = [
    "hidden",
    "array",
    "string",
    "object",
    "code",
    "closure",
    "regexp",
    "number",
    "native",
    "synthetic",
    "concatenated string",
    "sliced string",
    "symbol",
    "bigint",
    "object shape",
]
EDGE_TYPES = ["context", "element", "property", "internal", "hidden", "shortcut", "weak"]
NODE20_FIELDS = ["type", "name", "id", "self_size", "edge_count", "trace_node_id", "detachedness"]
EDGE_FIELDS = ["type", "name_or_index", "to_node"]


@dataclass
class _Node:
    type: str
    name: str
    id: int
    self_size: int
    edges: list[tuple[str, str | int, int]] = field(default_factory=list)


class SnapshotBuilder:
    def __init__(self) -> None:
        self.nodes: list[_Node] = []
        self.locations: list[tuple[int, int, int, int]] = []
        self.root = self.node("synthetic", "", self_size=0)

    def node(self, type: str, name: str, self_size: int = 0, id: int | None = None) -> int:
        self.nodes.append(
            _Node(type, name, id if id is not None else 2 * len(self.nodes) + 1, self_size)
        )
        return len(self.nodes) - 1

    def edge(self, source: int, target: int, type: str = "property", name: str | int = "") -> None:
        if type in ("element", "hidden") and isinstance(name, str):
            name = len(self.nodes[source].edges)
        self.nodes[source].edges.append((type, name, target))

    def location(self, node: int, script_id: int, line: int, column: int) -> None:
        self.locations.append((node, script_id, line, column))

    def to_json(
        self, node_fields: list[str] | None = None, edge_fields: list[str] | None = None
    ) -> dict:
        node_fields = node_fields or NODE20_FIELDS
        edge_fields = edge_fields or EDGE_FIELDS
        strings: list[str] = []
        index: dict[str, int] = {}

        def intern(text: str) -> int:
            if text not in index:
                index[text] = len(strings)
                strings.append(text)
            return index[text]

        nodes: list[int] = []
        edges: list[int] = []
        nf = len(node_fields)
        for n in self.nodes:
            values = {
                "type": NODE_TYPES.index(n.type),
                "name": intern(n.name),
                "id": n.id,
                "self_size": n.self_size,
                "edge_count": len(n.edges),
                "trace_node_id": 0,
                "detachedness": 0,
            }
            nodes.extend(values[f] for f in node_fields)
            for etype, name, target in n.edges:
                name_or_index = name if isinstance(name, int) else intern(name)
                evalues = {
                    "type": EDGE_TYPES.index(etype),
                    "name_or_index": name_or_index,
                    "to_node": target * nf,
                }
                edges.extend(evalues[f] for f in edge_fields)
        locations: list[int] = []
        for node, script_id, line, column in self.locations:
            locations.extend([node * nf, script_id, line, column])
        meta = {
            "node_fields": node_fields,
            "node_types": [NODE_TYPES] + ["string"] + ["number"] * (nf - 2),
            "edge_fields": edge_fields,
            "edge_types": [EDGE_TYPES, "string_or_number", "node"],
            "location_fields": ["object_index", "script_id", "line", "column"],
        }
        return {
            "snapshot": {
                "meta": meta,
                "node_count": len(self.nodes),
                "edge_count": sum(len(n.edges) for n in self.nodes),
                "trace_function_count": 0,
            },
            "nodes": nodes,
            "edges": edges,
            "trace_function_infos": [],
            "trace_tree": [],
            "samples": [],
            "locations": locations,
            "strings": strings,
        }

    def write(self, path: Path, **layout: list[str]) -> Path:
        path.write_text(json.dumps(self.to_json(**layout)), encoding="utf-8")
        return path
