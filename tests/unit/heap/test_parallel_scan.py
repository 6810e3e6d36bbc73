"""The number arrays of big chunks are scanned in two halves on two threads: whatever the
file holds, that gives exactly what one thread gives (the same columns, or the same error)."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import fuzz_cases
import numpy as np
import pytest

from leaksleuth.errors import SnapshotError
from leaksleuth.heap import parse
from leaksleuth.heap.warmup import leaking_heap

COLUMNS = ("node_type", "node_name", "node_id", "node_self_size", "node_edge_count", "first_edge", "edge_type",
           "edge_name_or_index", "edge_to")


def _load(path: Path, chunk: int, split: bool, monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.setattr(parse, "PARALLEL_MIN_BYTES", 64 if split else 1 << 60)
    monkeypatch.setattr(parse, "_HELPER", ThreadPoolExecutor(max_workers=1) if split else None)
    try:
        return parse.load_snapshot(path, chunk_bytes=chunk)
    except SnapshotError as exc:
        return str(exc)


def _same(a: Any, b: Any) -> None:
    if isinstance(a, str) or isinstance(b, str):
        assert a == b
        return
    for name in COLUMNS:
        assert np.array_equal(getattr(a, name), getattr(b, name)), name


def test_halves_give_the_columns_of_one_scan(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import json

    path = tmp_path / "s.heapsnapshot"
    path.write_text(json.dumps(leaking_heap(300, base=2000)))
    whole = _load(path, 1 << 20, False, monkeypatch)
    for chunk in (4096, 4099, 65536):
        _same(_load(path, chunk, True, monkeypatch), whole)
    ids = parse.load_node_ids(path, chunk_bytes=4096)  # split still on
    assert np.array_equal(ids, np.sort(whole.node_id))


def test_halves_agree_with_one_scan_on_mutated_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seeds = fuzz_cases.SeedCache(fuzz_cases.prepare_seeds(tmp_path))
    compared = 0
    for k in range(4 * len(fuzz_cases.KINDS)):
        case = fuzz_cases.make_case(seeds, 7, k)
        path = tmp_path / f"case{k}.heapsnapshot"
        path.write_bytes(case.data)
        _same(_load(path, 4099, True, monkeypatch), _load(path, 4099, False, monkeypatch))
        compared += 1
    assert compared == 4 * len(fuzz_cases.KINDS)
