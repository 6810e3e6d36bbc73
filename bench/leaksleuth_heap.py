"""Benchmark entry: leaksleuth parse + dominators + retained sizes + summary of one snapshot.

    .venv/bin/python bench/leaksleuth_heap.py FILE [--top N] [--json]

Prints one line of phase timings (seconds) to stderr and the top of the summary to
stdout. Run it under `/usr/bin/time -v` for peak RSS (bench/heap_bench.sh does).
Accepts .heapsnapshot.gz too (inflated to a temp file first, not timed).
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import shutil
import sys
import tempfile
import time


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("file")
    ap.add_argument("--top", type=int, default=10)
    ap.add_argument("--json", action="store_true", help="print the summary as JSON")
    args = ap.parse_args(argv)

    t_import = time.perf_counter()
    from leaksleuth.heap.graph import dominators, retained_sizes
    from leaksleuth.heap.parse import load_snapshot
    from leaksleuth.heap.summary import summarize

    path = args.file
    tmpdir = None
    if path.endswith(".gz"):
        tmpdir = tempfile.mkdtemp(prefix="ls-bench-")
        raw = os.path.join(tmpdir, os.path.basename(path)[:-3])
        with gzip.open(path, "rb") as src, open(raw, "wb") as dst:
            shutil.copyfileobj(src, dst)
        path = raw
    try:
        t0 = time.perf_counter()
        snap = load_snapshot(path)
        t1 = time.perf_counter()
        idom = dominators(snap)
        t2 = time.perf_counter()
        retained = retained_sizes(snap)
        t3 = time.perf_counter()
        summary = summarize(snap, top=args.top)
        t4 = time.perf_counter()
    finally:
        if tmpdir:
            shutil.rmtree(tmpdir, ignore_errors=True)

    phases = {
        "import": t0 - t_import,
        "parse": t1 - t0,
        "dominators": t2 - t1,
        "retained": t3 - t2,
        "summary": t4 - t3,
        "total": t4 - t0,
    }
    print(
        f"leaksleuth: nodes={snap.node_count} edges={snap.edge_count} "
        + " ".join(f"{k}={v:.2f}s" for k, v in phases.items()),
        file=sys.stderr,
    )
    assert len(idom) == snap.node_count and len(retained) == snap.node_count
    if args.json:
        print(json.dumps({"phases": phases, "summary": summary.to_json()}, indent=1))
    else:
        print(f"{'constructor':40} {'count':>9} {'self':>12} {'retained':>12}")
        for c in summary.constructors:
            print(f"{c.name[:40]:40} {c.count:9d} {c.self_size:12d} {c.retained_size:12d}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
