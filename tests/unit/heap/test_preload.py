"""heap.jit.preload: the kernels that follow a parse are loaded from the cache while it runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from leaksleuth.heap import jit
from leaksleuth.heap.warmup import write_series

# in a fresh process: which after-parse kernels are loaded once the parse returns, before any
# of them ran, and whether anything was compiled (it must all come from the cache)
PROBE = """
import json, sys
from leaksleuth.heap import jit
from leaksleuth.heap.parse import load_snapshot
load_snapshot(sys.argv[1])
if jit._preloading is not None:
    jit._preloading.join()
print(json.dumps({
    "loaded": sorted(k.py_func.__qualname__ for _, k in jit._AFTER_PARSE if k.overloads),
    "kernels": sorted(k.py_func.__qualname__ for _, k in jit._AFTER_PARSE),
    "ranks": sorted(rank for rank, _ in jit._AFTER_PARSE),
    "compiled": jit.compiled_now(),
}))
"""


def _probe(snapshot: Path, **env: str) -> dict[str, object]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, str(snapshot)],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        check=True,
        timeout=120,
    )
    result: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_after_parse_kernels_load_during_the_parse_without_compiling(tmp_path: Path) -> None:
    jit.build()  # the dev tree's cache holds every kernel (as `make setup` leaves it)
    snapshot = write_series(tmp_path, (10,))[0]
    result = _probe(snapshot)
    assert {"_preorder", "_semi_nca", "_class_retained", "_class_totals"} <= set(result["kernels"])  # type: ignore[arg-type]
    assert result["loaded"] == result["kernels"]
    assert result["ranks"] == list(range(1, len(result["kernels"]) + 1))  # type: ignore[arg-type]
    assert result["compiled"] == {}


def test_preload_can_be_turned_off(tmp_path: Path) -> None:
    snapshot = write_series(tmp_path, (10,))[0]
    result = _probe(snapshot, LEAKSLEUTH_PRELOAD="0")
    # only what the parse itself ran is loaded
    assert "_semi_nca" not in result["loaded"]  # type: ignore[operator]
    assert "_preorder" not in result["loaded"]  # type: ignore[operator]
