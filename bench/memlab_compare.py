#!/usr/bin/env python3
"""Compare leaksleuth's dominators and retained sizes with MemLab's on EVERY node.

    .venv/bin/python bench/memlab_compare.py FILE [FILE ...]
    .venv/bin/python bench/memlab_compare.py --dump-dir DIR FILE    # keep / reuse memlab's dump

For each FILE: runs bench/memlab_dump.js (memlab 2's getFullHeapFromFile, the same oracle
as bench/memlab_expected.js) which writes memlab's node id, retained size and immediate
dominator for every node in file order; then loads FILE with leaksleuth
(load_snapshot, dominators, retained_sizes) and compares node by node:
  - node ids in the same order (both keep the file's node order),
  - retained size equal,
  - id of the immediate dominator equal (both make the root its own dominator).
Prints the counts of mismatches with up to 10 examples each, and the wall time of each side.
Exit status 0 if every file agrees on every node, 1 otherwise (2 on usage / tool errors).

Expected convention differences: none are excluded by default. With --exclude-unreached the
nodes that neither tool can reach from the root over essential edges nor as a weak-only
orphan (memlab's "cliques", leaksleuth's "unreached") are left out of the dominator check
and counted; both give them the root as dominator and their self size as retained size, so
this switch should exclude nothing in practice (it reports how many there are).
Memlab's treatment of nodes it cannot reach is described at the top of bench/memlab_dump.js.

Run one comparison at a time: memlab needs ~4-5x the file size in memory.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "src"))

from leaksleuth.heap import graph  # noqa: E402
from leaksleuth.heap.parse import load_snapshot  # noqa: E402

try:
    from numba import njit
except ImportError:  # pragma: no cover
    def njit(*a, **k):  # type: ignore[no-redef]
        return (lambda f: f) if not a or not callable(a[0]) else a[0]


@njit(cache=False, nogil=True)
def _page_owned(first_edge, edge_to, edge_type, weak, shortcut, element, skip_node):  # type: ignore[no-untyped-def]
    """memlab's flagReachableNodesFromWindow: start from the root's targets over
    non-shortcut edges (element edges to '(Document DOM trees)' excluded), then follow every
    non-weak edge (non-root shortcuts included)."""
    n = first_edge.shape[0] - 1
    flag = np.zeros(n, dtype=np.uint8)
    stack = np.empty(max(n, 1) + edge_to.shape[0], dtype=np.int32)
    top = 0
    for e in range(first_edge[0], first_edge[1]):
        t = edge_type[e]
        w = edge_to[e]
        if t == shortcut:
            continue
        if t == element and skip_node[w]:
            continue
        flag[w] = 1
        stack[top] = w
        top += 1
    while top > 0:
        top -= 1
        v = stack[top]
        for e in range(first_edge[v], first_edge[v + 1]):
            w = edge_to[e]
            if flag[w] or edge_type[e] == weak:
                continue
            flag[w] = 1
            stack[top] = w
            top += 1
    return flag


def leaksleuth_phases(snap) -> np.ndarray:  # type: ignore[no-untyped-def]
    """Per node, how leaksleuth's dominator pass reaches it: 0 = DFS from the root,
    1 = subgraph of a weak/shortcut-only orphan (extra child of the root), 2 = unreached."""
    dfn, _vertex, _parent, virtual, count = graph.preorder(snap)
    virt = np.flatnonzero(virtual[:count])
    first_virtual = int(virt[0]) if len(virt) else count
    phase = np.full(snap.node_count, 2, dtype=np.uint8)
    phase[(dfn >= 0) & (dfn < first_virtual)] = 0
    phase[dfn >= first_virtual] = 1
    return phase


def run_memlab(path: Path, dump_dir: Path, log: Path) -> tuple[float, dict]:
    node = shutil.which("node")
    if node is None:
        raise SystemExit("node is not on PATH")
    if not (HERE / ".memlab" / "node_modules" / "@memlab" / "heap-analysis").is_dir():
        raise SystemExit("memlab is not installed in bench/.memlab (see bench/heap_bench.sh)")
    env = dict(os.environ)
    env.setdefault("MEMLAB_HEAP_MB", "12000")
    t0 = time.perf_counter()
    with open(log, "wb") as out:
        r = subprocess.run([node, str(HERE / "memlab_dump.js"), str(path), str(dump_dir)],
                           stdout=out, stderr=subprocess.STDOUT, env=env, check=False)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        tail = log.read_text(errors="replace").splitlines()[-5:]
        raise RuntimeError(f"memlab_dump.js failed ({r.returncode}):\n  " + "\n  ".join(tail))
    meta = json.loads((dump_dir / "meta.json").read_text())
    return wall, meta


def read_dump(dump_dir: Path) -> dict[str, np.ndarray]:
    return {
        "id": np.fromfile(dump_dir / "id.f64", dtype="<f8"),
        "retained": np.fromfile(dump_dir / "retained.f64", dtype="<f8"),
        "dom_id": np.fromfile(dump_dir / "dom_id.f64", dtype="<f8"),
        "dom_ord": np.fromfile(dump_dir / "dom_ord.u32", dtype="<u4"),
    }


def fmt_examples(snap, idx, ours, theirs, phase, flags, what) -> list[str]:  # type: ignore[no-untyped-def]
    keys = snap.class_keys()
    rows = []
    for i in idx[:10]:
        i = int(i)
        cls = snap.class_name(int(keys[i]))
        if len(cls) > 40:
            cls = cls[:40] + "…"
        rows.append(
            f"    @{int(snap.node_id[i])} ord={i} {snap.node_type_name(i)} {cls!r}: "
            f"{what} leaksleuth={ours(i)} memlab={theirs(i)} "
            f"[ls-phase={('root-dfs', 'weak-orphan', 'unreached')[phase[i]]}, memlab-page-owned={int(flags[i])}]"
        )
    return rows


def compare(path: Path, dump_dir: Path | None, reuse: bool, exclude_unreached: bool) -> bool:
    print(f"== {path}  ({path.stat().st_size / 1e6:.0f} MB)")
    tmp = None
    if dump_dir is None:
        tmp = Path(tempfile.mkdtemp(prefix="memlab-compare-"))
        dump_dir = tmp / "dump"
    dump_dir.mkdir(parents=True, exist_ok=True)
    try:
        if reuse and (dump_dir / "meta.json").exists():
            meta = json.loads((dump_dir / "meta.json").read_text())
            ml_wall = float("nan")
            print(f"   memlab: reusing dump in {dump_dir}")
        else:
            ml_wall, meta = run_memlab(path, dump_dir, dump_dir.parent / (dump_dir.name + ".log"))
        ml = read_dump(dump_dir)
        print(f"   memlab    : {ml_wall:7.1f} s wall (node start + load {meta['load_seconds']:.1f} s "
              f"+ dump {meta['dump_seconds']:.1f} s), peak RSS {meta['peak_rss_mb']} MB  [{meta['oracle']}]")

        t0 = time.perf_counter()
        snap = load_snapshot(path)
        t1 = time.perf_counter()
        idom = graph.dominators(snap)
        t2 = time.perf_counter()
        retained = graph.retained_sizes(snap)
        t3 = time.perf_counter()
        print(f"   leaksleuth: {t3 - t0:7.1f} s wall (load {t1 - t0:.1f} s + dominators {t2 - t1:.1f} s "
              f"+ retained {t3 - t2:.1f} s)")

        n = snap.node_count
        ok = True
        if len(ml["id"]) != n:
            print(f"   NODE COUNT differs: leaksleuth {n}, memlab {len(ml['id'])}")
            return False
        ids = snap.node_id.astype(np.float64)
        bad_ids = np.flatnonzero(ids != ml["id"])
        if len(bad_ids):
            print(f"   NODE ORDER differs at {len(bad_ids)} ordinals, e.g. {bad_ids[:5].tolist()}: cannot compare")
            return False

        phase = leaksleuth_phases(snap)
        doc = np.zeros(n, dtype=np.uint8)
        synth = snap.node_type_code("synthetic") if "synthetic" in snap.node_type_names else -1
        for i in np.flatnonzero(snap.node_type == synth):
            if snap.node_name_text(int(i)) == "(Document DOM trees)":
                doc[i] = 1
        flags = _page_owned(snap.first_edge, snap.edge_to, snap.edge_type, snap.edge_type_code("weak"),
                            snap.edge_type_code("shortcut"), snap.edge_type_code("element"), doc)

        ls_dom_id = snap.node_id[idom].astype(np.float64)
        ls_ret = retained.astype(np.float64)
        if np.any(retained >= 2**53):
            print("   warning: retained sizes >= 2^53 compared as float64")
        counts = np.bincount(phase, minlength=3)
        print(f"   nodes compared: {n}  (leaksleuth: {counts[0]} reached from the root, "
              f"{counts[1]} in weak-only orphan subgraphs, {counts[2]} unreached; "
              f"memlab page-owned: {int(flags.sum())}; memlab nodes without dominator: "
              f"{meta['nodes_without_dominator']})")

        check = np.ones(n, dtype=bool)
        if exclude_unreached:
            check &= phase != 2
            print(f"   excluded (unreached by both, --exclude-unreached): {int((~check).sum())}")

        ret_bad = np.flatnonzero(check & (ls_ret != ml["retained"]))
        dom_bad = np.flatnonzero(check & (ls_dom_id != ml["dom_id"]))
        print(f"   retained-size mismatches: {len(ret_bad)}")
        if len(ret_bad):
            ok = False
            by = np.bincount(phase[ret_bad], minlength=3)
            print(f"     by leaksleuth phase: root-dfs {by[0]}, weak-orphan {by[1]}, unreached {by[2]}")
            for row in fmt_examples(snap, ret_bad, lambda i: int(retained[i]), lambda i: int(ml["retained"][i]),
                                    phase, flags, "retained"):
                print(row)
        print(f"   dominator mismatches:     {len(dom_bad)}")
        if len(dom_bad):
            ok = False
            by = np.bincount(phase[dom_bad], minlength=3)
            print(f"     by leaksleuth phase: root-dfs {by[0]}, weak-orphan {by[1]}, unreached {by[2]}")
            for row in fmt_examples(snap, dom_bad, lambda i: f"@{int(snap.node_id[idom[i]])}",
                                    lambda i: f"@{int(ml['dom_id'][i])}", phase, flags, "idom"):
                print(row)
        print(f"   {'OK: all nodes agree' if ok else 'DIFFERENT'}")
        return ok
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--dump-dir", type=Path, help="write memlab's dump here (one FILE only) and keep it")
    ap.add_argument("--reuse", action="store_true", help="with --dump-dir: reuse an existing dump")
    ap.add_argument("--exclude-unreached", action="store_true",
                    help="leave nodes unreached by both tools out of the comparison (counted)")
    a = ap.parse_args()
    if a.dump_dir and len(a.files) != 1:
        ap.error("--dump-dir takes a single FILE")
    all_ok = True
    for f in a.files:
        try:
            all_ok &= compare(f, a.dump_dir, a.reuse, a.exclude_unreached)
        except (RuntimeError, OSError) as exc:
            print(f"   ERROR: {exc}")
            all_ok = False
        sys.stdout.flush()
    return 0 if all_ok else 1


if __name__ == "__main__":
    sys.exit(main())
