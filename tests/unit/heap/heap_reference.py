"""Slow, obviously-correct reference computations to check the compiled kernels against.

Pure Python, written from the definitions (not from the kernels): the essential graph as
DevTools defines it, dominators by the iterative data-flow algorithm (Cooper, Harvey and
Kennedy), and retained size by removal: what becomes unreachable once a node is gone.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from leaksleuth.heap.snapshot import ROOT, HeapSnapshot


def essential_successors(snap: HeapSnapshot) -> list[list[int]]:
    """Per node, targets of edges DevTools counts for dominators, plus the extra root edges to
    nodes only weakly held (and not otherwise reached), less the edges from nodes the root does
    not reach into nodes it does."""
    weak, shortcut = snap.edge_type_code("weak"), snap.edge_type_code("shortcut")
    n = snap.node_count
    succ: list[list[int]] = [[] for _ in range(n)]
    for v in range(n):
        for e in range(int(snap.first_edge[v]), int(snap.first_edge[v + 1])):
            t = int(snap.edge_type[e])
            if t == weak or (t == shortcut and v != ROOT):
                continue
            succ[v].append(int(snap.edge_to[e]))
    reached = _reach(succ, ROOT, None)
    # an object the root does not reach (held weakly, or not at all) does not retain what the
    # root does: DevTools and MemLab drop such edges
    for v in range(n):
        if not reached[v]:
            succ[v] = [w for w in succ[v] if not reached[w]]
    strong_retained = [False] * n
    for v in range(n):
        for e in range(int(snap.first_edge[v]), int(snap.first_edge[v + 1])):
            t = int(snap.edge_type[e])
            if t != weak and t != shortcut:
                strong_retained[int(snap.edge_to[e])] = True
    for v in range(n):
        if not reached[v] and not strong_retained[v]:
            succ[ROOT].append(v)
    return succ


def _reach(succ: list[list[int]], start: int, removed: int | None) -> list[bool]:
    seen = [False] * len(succ)
    if start == removed:
        return seen
    seen[start] = True
    queue = deque([start])
    while queue:
        v = queue.popleft()
        for w in succ[v]:
            if not seen[w] and w != removed:
                seen[w] = True
                queue.append(w)
    return seen


def dominators_by_dataflow(snap: HeapSnapshot) -> list[int]:
    """idom per node (root for unreachable nodes), by iterating to a fixed point."""
    succ = essential_successors(snap)
    n = len(succ)
    order: list[int] = []  # post-order
    seen = [False] * n
    seen[ROOT] = True
    stack = [(ROOT, iter(succ[ROOT]))]
    while stack:
        v, it = stack[-1]
        for w in it:
            if not seen[w]:
                seen[w] = True
                stack.append((w, iter(succ[w])))
                break
        else:
            order.append(v)
            stack.pop()
    po = {v: i for i, v in enumerate(order)}
    preds: list[list[int]] = [[] for _ in range(n)]
    for v in range(n):
        if v in po:
            for w in succ[v]:
                preds[w].append(v)
    idom: dict[int, int] = {ROOT: ROOT}

    def intersect(a: int, b: int) -> int:
        while a != b:
            while po[a] < po[b]:
                a = idom[a]
            while po[b] < po[a]:
                b = idom[b]
        return a

    changed = True
    while changed:
        changed = False
        for v in reversed(order):
            if v == ROOT:
                continue
            new = None
            for p in preds[v]:
                if p in idom:
                    new = p if new is None else intersect(p, new)
            if new is not None and idom.get(v) != new:
                idom[v] = new
                changed = True
    return [idom.get(v, ROOT) for v in range(n)]


def retained_by_removal(
    snap: HeapSnapshot, ordinal: int, succ: list[list[int]] | None = None
) -> int:
    """Self sizes of everything that becomes unreachable when `ordinal` is removed."""
    succ = succ or essential_successors(snap)
    sizes = snap.node_self_size.astype(np.int64)
    if ordinal == ROOT:
        return int(sizes.sum())
    before = np.array(_reach(succ, ROOT, None))
    after = np.array(_reach(succ, ROOT, ordinal))
    if not before[ordinal]:
        return int(sizes[ordinal])
    return int(sizes[before & ~after].sum())


def retained_from_idom(snap: HeapSnapshot, idom: list[int]) -> list[int]:
    """Retained size of every node from a dominator array, by walking up from each node."""
    sizes = snap.node_self_size.astype(np.int64).tolist()
    retained = [0] * len(idom)
    for v in range(len(idom)):
        u = v
        while True:
            retained[u] += sizes[v]
            if u == ROOT:
                break
            u = idom[u]
    return retained
