"""Retained sizes and dominators agree with MemLab's on the same file (figures stored by
bench/memlab_expected.js from memlab 2.0.5)."""

import gzip
import json
import shutil
from pathlib import Path

from leaksleuth.heap.graph import dominators, retained_sizes
from leaksleuth.heap.parse import load_snapshot

FIX = Path(__file__).resolve().parents[2] / "fixtures" / "memlab"


def test_retained_sizes_and_dominators_match_memlab(tmp_path):
    raw = tmp_path / "small.heapsnapshot"
    with gzip.open(FIX / "small.heapsnapshot.gz") as src, open(raw, "wb") as dst:
        shutil.copyfileobj(src, dst)
    expected = json.loads((FIX / "expected.json").read_text())
    snap = load_snapshot(raw)
    idom, retained = dominators(snap), retained_sizes(snap)
    assert snap.node_count == expected["node_count"]
    assert int(retained[0]) == expected["root"]["retained_size"]
    assert len(expected["nodes"]) >= 20
    for node in expected["nodes"]:
        ordinal = snap.find_node(node["id"])
        assert ordinal == node["ordinal"], node
        assert int(snap.node_self_size[ordinal]) == node["self_size"], node
        assert int(retained[ordinal]) == node["retained_size"], node
        assert int(snap.node_id[idom[ordinal]]) == node["dominator_id"], node
