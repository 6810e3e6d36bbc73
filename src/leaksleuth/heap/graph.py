"""Graph stages over a HeapSnapshot: retainers → distances → dominators → retained sizes.

Rules follow Chrome DevTools' HeapSnapshot so retained sizes agree with it (and MemLab):
- an edge is *essential* (counts for dominators) unless it is weak, or a shortcut from any node
  other than the root (root shortcuts mark the user's global objects);
- nodes the root cannot reach that have only weak/shortcut retainers (or none) are treated as
  children of the root, with their subgraphs; nodes still unreached get the root as dominator.
The dominator tree is computed with semi-NCA (Lengauer–Tarjan's semidominators plus a nearest
common ancestor pass), which gives the same tree as DevTools' iterative algorithm.
Each stage is a compiled kernel and caches its result on the snapshot.
"""

from __future__ import annotations

import numpy as np

from leaksleuth.errors import SnapshotError
from leaksleuth.heap.jit import njit
from leaksleuth.heap.prefault import Prefault
from leaksleuth.heap.snapshot import ROOT, HeapSnapshot

UNREACHED = -1


@njit(cache=True, nogil=True)
def _reverse_csr(first_edge, edge_to, node_count):  # type: ignore[no-untyped-def]
    """Counting sort of edges by target: retainers of node t are slots first[t]..first[t+1]-1."""
    first_retainer = np.zeros(node_count + 1, dtype=np.int64)
    for e in range(edge_to.shape[0]):
        first_retainer[edge_to[e] + 1] += 1
    for i in range(node_count):
        first_retainer[i + 1] += first_retainer[i]
    cursor = first_retainer[:-1].copy()
    retainer_node = np.empty(edge_to.shape[0], dtype=np.uint32)
    retainer_edge = np.empty(edge_to.shape[0], dtype=np.uint32)
    for node in range(node_count):
        for e in range(first_edge[node], first_edge[node + 1]):
            t = edge_to[e]
            slot = cursor[t]
            retainer_node[slot] = node
            retainer_edge[slot] = e
            cursor[t] = slot + 1
    return first_retainer, retainer_node, retainer_edge


def retainers(snap: HeapSnapshot) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Reverse CSR: (first_retainer[n+1], retainer_node[m], retainer_edge[m])."""
    cached = snap.derived.retainers
    if cached is None:
        if snap.edge_count >= 2**32 or snap.node_count >= 2**32:
            raise SnapshotError(f"{snap.path}: graphs over 2^32 edges are not supported")
        cached = _reverse_csr(snap.first_edge, snap.edge_to, snap.node_count)
        snap.derived.retainers = cached
    return cached


SYSTEM_DISTANCE = 100_000_000  # DevTools' baseSystemDistance


@njit(cache=True, nogil=True)
def _bfs(first_edge, edge_to, edge_type, weak, shortcut, synthetic, node_type, root):  # type: ignore[no-untyped-def]
    """DevTools' two-phase BFS: first from the user roots (what the root's shortcut edges point
    at: the global objects) at distance 1, then from the root at SYSTEM_DISTANCE for the rest.
    Weak edges are never followed; shortcut edges only from the root."""
    n = first_edge.shape[0] - 1
    dist = np.full(n, -1, dtype=np.int32)
    queue = np.empty(n, dtype=np.int32)
    tail = 0
    for e in range(first_edge[root], first_edge[root + 1]):
        w = edge_to[e]
        if edge_type[e] == shortcut and node_type[w] != synthetic and dist[w] < 0 and w != root:
            dist[w] = 1
            queue[tail] = w
            tail += 1
    head = 0
    for phase in range(2):
        if phase == 1:
            dist[root] = SYSTEM_DISTANCE if tail > 0 else 0
            queue[tail] = root
            tail += 1
        while head < tail:
            v = queue[head]
            head += 1
            d = dist[v] + 1
            for e in range(first_edge[v], first_edge[v + 1]):
                t = edge_type[e]
                if t == weak or (t == shortcut and v != root):
                    continue
                w = edge_to[e]
                # the root is queued once, in phase 1, whatever points back at it
                if dist[w] < 0 and w != root:
                    dist[w] = d
                    queue[tail] = w
                    tail += 1
    return dist


def distances(snap: HeapSnapshot) -> np.ndarray:
    """DevTools' distance of every node (int32; -1 = unreachable): 1 for the global objects
    the root points at with shortcut edges, counting hops from there; nodes reached only
    through the GC roots' bookkeeping count from SYSTEM_DISTANCE. Weak edges are ignored.
    (DevTools' JS-specific filter, which hides two internal V8 edges, is not applied.)"""
    cached = snap.derived.distances
    if cached is None:
        cached = _bfs(
            snap.first_edge,
            snap.edge_to,
            snap.edge_type,
            snap.edge_type_code("weak"),
            snap.edge_type_code("shortcut"),
            snap.node_type_code("synthetic"),
            snap.node_type,
            ROOT,
        )
        snap.derived.distances = cached
    return cached


@njit(cache=True, nogil=True)
def _is_essential(edge_type, from_node, weak, shortcut, root):  # type: ignore[no-untyped-def]
    return edge_type != weak and (edge_type != shortcut or from_node == root)


@njit(cache=True, nogil=True, after_parse=4)
def _strongly_retained(edge_to, edge_type, weak, shortcut, strong):  # type: ignore[no-untyped-def]
    """Per node: 1 if some edge to it is neither weak nor a shortcut (DevTools' test for
    whether an unreached node becomes an extra child of the root)."""
    strong[:] = 0
    for e in range(edge_to.shape[0]):
        t = edge_type[e]
        if t != weak and t != shortcut:
            strong[edge_to[e]] = 1


@njit(cache=True, nogil=True, after_parse=5)
def _preorder(first_edge, edge_to, edge_type, weak, shortcut, root, strong, dfn, vertex, parent, virtual):  # type: ignore[no-untyped-def]
    """Iterative DFS over essential edges. Fills dfn (per node; -1 = not reached) and, indexed
    by preorder number, vertex, parent and virtual (an extra child of the root); returns
    how many nodes it numbered.

    After the root's own DFS, nodes left unvisited whose retainers are all non-essential for
    DevTools (weak or shortcut, or none) become extra children of the root, as in DevTools."""
    n = first_edge.shape[0] - 1
    dfn[:] = -1
    stack_node = np.empty(n, dtype=np.int32)  # only as deep as the DFS goes is ever touched
    stack_edge = np.empty(n, dtype=np.uint32)  # edge_count < 2^32 is checked by the caller
    count = 0
    for phase in range(2):
        if phase == 0:
            starts = np.array([root], dtype=np.int32)
        else:
            k = 0
            for v in range(n):
                if dfn[v] < 0 and strong[v] == 0:
                    k += 1
            starts = np.empty(k, dtype=np.int32)
            k = 0
            for v in range(n):
                if dfn[v] < 0 and strong[v] == 0:
                    starts[k] = v
                    k += 1
        for start in starts:
            if dfn[start] >= 0:
                continue
            dfn[start] = count
            vertex[count] = start
            parent[count] = 0
            virtual[count] = phase
            count += 1
            top = 0
            stack_node[0] = start
            stack_edge[0] = first_edge[start]
            while top >= 0:
                v = stack_node[top]
                e = np.int64(stack_edge[top])
                if e < first_edge[v + 1]:
                    stack_edge[top] = e + 1
                    if not _is_essential(edge_type[e], v, weak, shortcut, root):
                        continue
                    w = edge_to[e]
                    if dfn[w] >= 0:
                        continue
                    dfn[w] = count
                    vertex[count] = w
                    parent[count] = dfn[v]
                    virtual[count] = 0
                    count += 1
                    top += 1
                    stack_node[top] = w
                    stack_edge[top] = first_edge[w]
                else:
                    top -= 1
    return count


@njit(cache=True, nogil=True, after_parse=6)
def _count_predecessors(first_edge, edge_to, edge_type, weak, shortcut, root, dfn, parent, owned, first):  # type: ignore[no-untyped-def]
    """First half of the reverse CSR of the essential edges between reached nodes, in
    preorder numbers: first[w] = the end of w's block (count + 1 entries); returns the total.

    The DFS parent is left out (the semidominator search starts from it), which most nodes'
    only one is. Preorder numbers below `owned` are the nodes the root's own DFS reached; an
    edge from a node only reached later (held through weak edges alone) into them is left
    out, as DevTools and MemLab do: a weakly held object does not change who retains the
    live heap."""
    n = first_edge.shape[0] - 1
    count = first.shape[0] - 1
    first[:] = 0
    total = 0
    for v in range(n):
        dv = dfn[v]
        if dv < 0:
            continue
        for e in range(first_edge[v], first_edge[v + 1]):
            if _is_essential(edge_type[e], v, weak, shortcut, root):
                dw = dfn[edge_to[e]]
                if dw >= 0 and parent[dw] != dv and (dv < owned or dw >= owned):
                    first[dw] += 1
                    total += 1
    acc = 0
    for w in range(count):
        acc += first[w]
        first[w] = acc
    first[count] = total
    return total


@njit(cache=True, nogil=True, after_parse=7)
def _fill_predecessors(first_edge, edge_to, edge_type, weak, shortcut, root, dfn, parent, owned, first, pred):  # type: ignore[no-untyped-def]
    """Second half: the predecessors of w are pred[first[w]:first[w+1]] after this (first
    comes from _count_predecessors, and its entries move from block ends to block starts)."""
    n = first_edge.shape[0] - 1
    for v in range(n):
        dv = dfn[v]
        if dv < 0:
            continue
        for e in range(first_edge[v], first_edge[v + 1]):
            if _is_essential(edge_type[e], v, weak, shortcut, root):
                dw = dfn[edge_to[e]]
                if dw >= 0 and parent[dw] != dv and (dv < owned or dw >= owned):
                    slot = np.int64(first[dw]) - 1
                    first[dw] = slot
                    pred[slot] = dv


@njit(cache=True, nogil=True, after_parse=8)
def _semi_nca(parent, virtual, count, first, pred, semi, forest):  # type: ignore[no-untyped-def]
    """Immediate dominators in preorder numbers (idom[0] = 0). Overwrites parent with them;
    semi (count entries) and forest (count × 2) are scratch.

    The link-eval forest keeps, per linked vertex, its forest ancestor and the smallest
    semidominator on its compressed path side by side (one cache line for both)."""
    for w in range(count):
        forest[w, 0] = -1  # [ancestor, min semi on the path]
        forest[w, 1] = -1
    for w in range(count - 1, 0, -1):
        best = 0 if virtual[w] else parent[w]  # the parent: a predecessor, not linked yet
        for s in range(np.int64(first[w]), np.int64(first[w + 1])):
            v = pred[s]
            a = forest[v, 0]
            if a < 0:  # not linked yet: v < w, its semi is itself
                best = min(best, v)
                continue
            if forest[a, 0] >= 0:
                # compress the forest path from v, keeping the min semi. No stack: going up,
                # ancestor links are reversed; coming down, they are set to the path's top.
                below = -1
                x = v
                while forest[forest[x, 0], 0] >= 0:
                    up = forest[x, 0]
                    forest[x, 0] = below
                    below = x
                    x = up
                a = x
                y = below
                while y >= 0:
                    nxt = forest[y, 0]
                    forest[y, 1] = min(forest[y, 1], forest[a, 1])
                    forest[y, 0] = forest[a, 0]
                    a = y
                    y = nxt
            best = min(best, forest[v, 1])
        semi[w] = best
        forest[w, 0] = parent[w]
        forest[w, 1] = best
    idom = parent
    idom[0] = 0
    for w in range(1, count):
        d = idom[w]
        sw = semi[w]
        while d > sw:
            d = idom[d]
        idom[w] = d
    return idom


@njit(cache=True, nogil=True, after_parse=9)
def _to_ordinals(idom_pre, vertex, count, root, idom):  # type: ignore[no-untyped-def]
    idom[:] = root
    for w in range(count):
        idom[vertex[w]] = vertex[idom_pre[w]]


def _dfs_arrays(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Room for the DFS: (strong, dfn, vertex, parent, virtual), not yet written."""
    strong, virtual = np.empty(n, dtype=np.uint8), np.empty(n, dtype=np.uint8)
    dfn, vertex, parent = (np.empty(n, dtype=np.int32) for _ in range(3))
    return strong, dfn, vertex, parent, virtual


def _run_dfs(snap: HeapSnapshot, strong: np.ndarray, dfn: np.ndarray, vertex: np.ndarray, parent: np.ndarray,
             virtual: np.ndarray) -> int:
    weak, shortcut = snap.edge_type_code("weak"), snap.edge_type_code("shortcut")
    _strongly_retained(snap.edge_to, snap.edge_type, weak, shortcut, strong)
    return int(_preorder(snap.first_edge, snap.edge_to, snap.edge_type, weak, shortcut, ROOT, strong, dfn, vertex,
                         parent, virtual))


def preorder(snap: HeapSnapshot) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]:
    """The dominator pass's DFS: (dfn, vertex, parent, virtual, count), see _preorder."""
    strong, dfn, vertex, parent, virtual = _dfs_arrays(snap.node_count)
    count = _run_dfs(snap, strong, dfn, vertex, parent, virtual)
    return dfn, vertex, parent, virtual, count


def dominators(snap: HeapSnapshot) -> np.ndarray:
    """Immediate dominator of every node, as node ordinals (int32); the root dominates itself.

    The working arrays are allocated here, before the kernels run, so that the other core can
    fault them in (heap.prefault) while this one computes; dfn's memory serves again as
    semi, and the result goes where the predecessor index was."""
    cached = snap.derived.dominators
    if cached is None:
        if snap.edge_count >= 2**32 or snap.node_count >= 2**31:
            raise SnapshotError(f"{snap.path}: graphs over 2^32 edges are not supported")
        n = snap.node_count
        weak, shortcut = snap.edge_type_code("weak"), snap.edge_type_code("shortcut")
        strong, dfn, vertex, parent, virtual = _dfs_arrays(n)
        result = np.empty(n + 1, dtype=np.int32)  # first the predecessor index, then the idom
        forest = np.empty((n, 2), dtype=np.int32)
        edges = (snap.first_edge, snap.edge_to, snap.edge_type, weak, shortcut, ROOT)
        with Prefault([[strong], [dfn], [vertex, parent, virtual], [result], [forest]]):
            count = _run_dfs(snap, strong, dfn, vertex, parent, virtual)
            del strong
            extra = np.flatnonzero(virtual[:count])
            owned = int(extra[0]) if len(extra) else count  # reached from the root itself
            first = result[: count + 1].view(np.uint32)
            total = int(_count_predecessors(*edges, dfn, parent, owned, first))
            pred = np.empty(total, dtype=np.int32)
            with Prefault([[pred]]):
                _fill_predecessors(*edges, dfn, parent, owned, first, pred)
            semi = dfn  # dfn is done with
            idom_pre = _semi_nca(parent, virtual, count, first, pred, semi, forest)
        del pred, virtual, forest, semi, dfn, first
        cached = result[:n]
        _to_ordinals(idom_pre, vertex, count, ROOT, cached)
        del idom_pre, parent
        snap.derived.dominators = cached
        order = vertex if count == len(vertex) else vertex[:count].copy()
        snap.derived.dominator_preorder = (order, count)
    return cached


@njit(cache=True, nogil=True, after_parse=10)
def _accumulate(self_size, idom, order, count, root):  # type: ignore[no-untyped-def]
    n = self_size.shape[0]
    retained = self_size.astype(np.int64)
    reached = np.zeros(n, dtype=np.uint8)
    for i in range(count):
        reached[order[i]] = 1
    for v in range(n):  # unreached nodes hang directly under the root
        if not reached[v] and v != root:
            retained[root] += retained[v]
    for i in range(count - 1, 0, -1):  # preorder reversed: children before their dominator
        v = order[i]
        retained[idom[v]] += retained[v]
    return retained


def retained_sizes(snap: HeapSnapshot) -> np.ndarray:
    """Retained size of every node (int64): its self size plus all it dominates."""
    cached = snap.derived.retained_sizes
    if cached is None:
        idom = dominators(snap)
        preorder = snap.derived.dominator_preorder
        assert preorder is not None  # set by dominators()
        order, count = preorder
        cached = _accumulate(snap.node_self_size, idom, order, count, ROOT)
        snap.derived.retained_sizes = cached
    return cached


@njit(cache=True, nogil=True, after_parse=13)
def _class_retained(idom, retained, keys, counted, n_keys, root):  # type: ignore[no-untyped-def]
    """Per class: sum of retained sizes of its counted nodes that no counted node of the same
    class dominates (DevTools' class retained size). Walks the dominator tree depth-first."""
    n = idom.shape[0]
    first_child = np.zeros(n + 1, dtype=np.int32)  # counts, then block ends, then starts
    for v in range(n):
        if v != root:
            first_child[idom[v]] += 1
    acc = 0
    for i in range(n):
        acc += first_child[i]
        first_child[i] = acc
    first_child[n] = acc
    children = np.empty(max(n - 1, 1), dtype=np.int32)
    for v in range(n - 1, -1, -1):  # backwards, so children stay in ordinal order
        if v != root:
            slot = first_child[idom[v]] - 1
            first_child[idom[v]] = slot
            children[slot] = v
    total = np.zeros(n_keys, dtype=np.int64)
    open_class = np.zeros(n_keys, dtype=np.uint8)
    opened = np.zeros(n, dtype=np.uint8)
    stack_node = np.empty(n, dtype=np.int32)
    stack_child = np.empty(n, dtype=np.int32)
    top = 0
    stack_node[0] = root
    stack_child[0] = first_child[root]
    while top >= 0:
        v = stack_node[top]
        c = stack_child[top]
        if c < first_child[v + 1]:
            stack_child[top] = c + 1
            w = children[c]
            k = keys[w]
            if counted[w] and open_class[k] == 0:
                total[k] += retained[w]
                open_class[k] = 1
                opened[w] = 1
            top += 1
            stack_node[top] = w
            stack_child[top] = first_child[w]
        else:
            if opened[v]:
                open_class[keys[v]] = 0
            top -= 1
    return total


def class_retained_sizes(snap: HeapSnapshot) -> np.ndarray:
    """Retained size per class key (index = key from snap.class_keys())."""
    cached = snap.derived.class_retained_sizes
    if cached is None:
        keys = snap.class_keys()
        n_keys = len(snap.strings) + len(snap.node_type_names)
        cached = _class_retained(
            dominators(snap), retained_sizes(snap), keys, snap.counted_in_summary(), n_keys, ROOT
        )
        snap.derived.class_retained_sizes = cached
    return cached
