"""What grows per request across ≥3 snapshots of one process, and who keeps it.

The idea: an object is *new* in a later snapshot if its id is not in the first one (V8 keeps
ids stable for the life of a process). Every new object is charged to its *owner*: the nearest
old, user-visible object above it on its shortest path from the GC roots (an Array, a Map, a
timer list, a Vue instance). We use the shortest-path tree, not the dominator tree, because
leaks often share what they keep (two leaking components of one page hold the same root Vue
instance): the dominator of shared objects is a GC root, which explains nothing, while the
shortest-path tree charges each object to exactly one owner and the shares add up. Owners are old, so their ids match across snapshots, and each owner's new bytes
can be followed from snapshot to snapshot. A leak is an owner whose new bytes grow in step
with the requests sent; transients vanish, and caches at a steady size stop growing.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from leaksleuth.heap.graph import distances
from leaksleuth.heap.jit import njit
from leaksleuth.heap.jsrules import display_classes, property_target
from leaksleuth.heap.snapshot import ROOT, HeapSnapshot

MIN_BYTES_PER_REQUEST = 32.0
V8_INTERNAL_TYPES = ("code", "object shape")
# V8 metadata that a charged new object may have been given for itself (its hidden class, the
# class's descriptor and transition arrays, a closure's context): charged to that object's owner
METADATA_TYPES = ("object shape", "hidden", "array")
NAME_TYPES = ("string", "concatenated string", "sliced string")  # property names in descriptors
METADATA_DEPTH = 8  # object → map → descriptors → name; map → transitions → map → ...
LINEARITY = (0.55, 1.8)  # accepted ratio of observed to expected growth between snapshots


@dataclass(frozen=True)
class OwnerGrowth:
    """New bytes and objects charged to one owner in one snapshot."""

    owner: int  # ordinal in that snapshot
    owner_id: int
    new_bytes: int
    new_objects: int
    top_objects: np.ndarray  # ordinals of the top-most new objects under the owner
    top_primary: np.ndarray  # per top object: no other top above it
    top_bytes: np.ndarray  # per top object: new bytes charged beneath it
    first_new: np.ndarray  # new nodes hanging directly from old ones (any type), for string leaks


@dataclass
class GrowthGroup:
    """One owner that gains memory in step with requests."""

    owner_id: int
    bytes_per_request: float
    objects_per_request: float
    principal_class: str
    bytes_by_snapshot: list[int]
    representative: int  # ordinal in the last snapshot: a top object to explain
    snapshot: HeapSnapshot = field(repr=False)
    by_class: bool = False  # found by counting a class (timers), not by owner


@njit(cache=True, nogil=True)
def _bfs_tree(first_edge, edge_to, edge_type, skip_a, skip_b, root):  # type: ignore[no-untyped-def]
    """Breadth-first tree from the root over strong edges: parent per node, and visit order."""
    n = first_edge.shape[0] - 1
    parent = np.full(n, -1, dtype=np.int32)
    order = np.empty(n, dtype=np.int32)
    seen = np.zeros(n, dtype=np.uint8)
    seen[root] = 1
    parent[root] = root
    order[0] = root
    head, tail = 0, 1
    while head < tail:
        v = order[head]
        head += 1
        for e in range(first_edge[v], first_edge[v + 1]):
            t = edge_type[e]
            if t == skip_a or t == skip_b:  # noqa: SIM109 - numba kernel
                continue
            w = edge_to[e]
            if not seen[w]:
                seen[w] = 1
                parent[w] = v
                order[tail] = w
                tail += 1
    return parent, order, tail


def shortest_path_tree(snap: HeapSnapshot) -> tuple[np.ndarray, np.ndarray, int]:
    """(parent, order, count) of the breadth-first tree over strong references; cached."""
    cached = snap.derived.bfs_tree
    if cached is None:
        weak, shortcut = snap.edge_type_code("weak"), snap.edge_type_code("shortcut")
        cached = _bfs_tree(snap.first_edge, snap.edge_to, snap.edge_type, weak, shortcut, ROOT)
        snap.derived.bfs_tree = cached
    return cached


@njit(cache=True, nogil=True)
def _chain_depths(parent, order, count, is_new, keys, eligible, n_keys):  # type: ignore[no-untyped-def]
    """Per class: the longest run of new objects each reached from a new object of the same
    class (linked lists such as Node's timer lists run deep; a record holding one nested
    object of its class does not)."""
    n = parent.shape[0]
    depth = np.zeros(n, dtype=np.int32)
    deepest = np.zeros(n_keys, dtype=np.int32)
    for i in range(1, count):
        v = order[i]
        p = parent[v]
        if is_new[v] and is_new[p] and eligible[v] and keys[v] == keys[p]:
            depth[v] = depth[p] + 1
            deepest[keys[v]] = max(deepest[keys[v]], depth[v])
    return deepest


@njit(cache=True, nogil=True)
def _owners_and_tops(parent, order, count, is_new, anchorable, top_eligible, keys, chain_class):  # type: ignore[no-untyped-def]
    """One pass over the shortest-path tree, parents first.

    anchor[v]: v itself if old and anchorable, else its parent's anchor (new objects' owner).
    top[v]: for new v, the top-most new object on the way down from the owner; an object of
    the same class as the top above it starts a top of its own (items of a linked list).
    primary[v]: v is a top with no top above it.
    """
    n = parent.shape[0]
    anchor = np.full(n, -1, dtype=np.int32)
    top = np.full(n, -1, dtype=np.int32)
    primary = np.zeros(n, dtype=np.uint8)
    for i in range(count):
        v = order[i]
        if i == 0:
            anchor[v] = v
            continue
        p = parent[v]
        if not is_new[v]:
            anchor[v] = v if anchorable[v] else anchor[p]
            continue
        anchor[v] = anchor[p]
        above = top[p] if is_new[p] else -1
        if top_eligible[v] and (above < 0 or (keys[above] == keys[v] and chain_class[keys[v]])):
            top[v] = v
            primary[v] = 1 if above < 0 else 0
        else:
            top[v] = above
    return anchor, top, primary


def _type_mask(snap: HeapSnapshot, names: tuple[str, ...]) -> np.ndarray:
    table = np.zeros(max(len(snap.node_type_names), 256), dtype=bool)  # a lookup, not np.isin
    table[[snap.node_type_code(t) for t in names if snap.node_type_code(t) >= 0]] = True
    mask: np.ndarray = table[snap.node_type]
    return mask


def _system_names(snap: HeapSnapshot) -> np.ndarray:
    """Per node: True if its name is V8 bookkeeping (`system / Context`, `(object elements)`)."""
    # only the names of objects and closures matter here: far fewer than all strings
    relevant = _type_mask(snap, ("object", "closure", "native"))
    names = np.unique(snap.node_name[relevant])
    bookkeeping = np.array(
        [(s.startswith("system /") or (s.startswith("(") and s.endswith(")"))) for s in (snap.strings[int(i)] for i in names)],
        dtype=bool,
    )
    flags = np.zeros(len(snap.strings), dtype=bool)
    flags[names[bookkeeping]] = True
    result: np.ndarray = flags[snap.node_name]
    return result


def _bill_metadata(
    snap: HeapSnapshot, is_new: np.ndarray, anchor: np.ndarray, charged: np.ndarray, system: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """(owner per node, billed mask): `anchor` and `charged`, plus the new V8 metadata that the
    new objects charged to one owner hold strongly, charged to that owner too.

    A leak whose objects each get a hidden class of their own (a property named per request)
    keeps a map, a descriptor array and the property's name per object: most of its bytes. Going
    down strong edges from the owner's charged new objects, level by level, a new metadata node
    (an object shape, a hidden or internal array, a `system / …` object such as a closure's
    context) that nobody else is charged with goes to the owner that reaches it; the names in
    new descriptor arrays too. Metadata reached from two owners at once is nobody's; so is what
    no charged object reaches: compiled code, feedback, the shapes of the warm-up."""
    owned = charged & (anchor != ROOT)
    free = is_new & ~owned
    metadata = free & (_type_mask(snap, METADATA_TYPES) | (system & _type_mask(snap, ("object",))))
    names = free & _type_mask(snap, NAME_TYPES)
    strong = np.ones(max(len(snap.edge_type_names), 256), dtype=bool)
    for kind in ("weak", "shortcut"):
        if snap.edge_type_code(kind) >= 0:
            strong[snap.edge_type_code(kind)] = False
    owner = np.where(owned, anchor, anchor.dtype.type(-1))  # anchor's int32: one column, no copy
    frontier = np.flatnonzero(owned)
    for depth in range(METADATA_DEPTH):
        if not len(frontier):
            break
        positions, edges = snap.edges_of(frontier)
        sources = frontier[positions]
        targets = snap.edge_to[edges].astype(np.int64)
        # names only below metadata (a descriptor array's keys), not an object's own strings
        wanted = metadata[targets] | names[targets] if depth else metadata[targets]
        keep = strong[snap.edge_type[edges]] & wanted & (owner[targets] == -1)
        targets, claims = targets[keep], owner[sources[keep]]
        if not len(targets):
            break
        by_target = np.lexsort((claims, targets))
        targets, claims = targets[by_target], claims[by_target]
        uniq, first = np.unique(targets, return_index=True)
        last = np.r_[first[1:], len(targets)] - 1
        agreed = claims[first] == claims[last]  # sorted per target: one owner iff ends agree
        owner[uniq] = np.where(agreed, claims[first], -2)  # -2: two owners, nobody's
        frontier = uniq[agreed & metadata[uniq]]  # names hold nothing more
    billed = owned | (owner >= 0)
    billed_owner = np.where(billed & ~owned, owner, anchor).astype(anchor.dtype, copy=False)
    return billed_owner, billed | charged


Baseline = HeapSnapshot | np.ndarray  # a snapshot, or its sorted node ids (all we need of it)


def baseline_ids(snap: HeapSnapshot) -> np.ndarray:
    """The sorted node ids of a first snapshot: all the growth analysis needs of it."""
    return np.sort(snap.node_id)


def new_nodes(baseline: Baseline, later: HeapSnapshot) -> np.ndarray:
    """Per node of `later`: True if its id did not exist in `baseline`."""
    ids = baseline if isinstance(baseline, np.ndarray) else baseline_ids(baseline)
    if len(ids) == 0:
        return np.ones(later.node_count, dtype=bool)
    # V8's ids are dense small numbers (plus a few huge ones): look those up in a table of one
    # byte per id, far faster than a binary search, and binary-search only the huge rest
    cutoff = min(int(ids[-1]), 16 * len(ids) + (1 << 20))
    table = np.zeros(cutoff + 1, dtype=bool)
    small = ids[ids <= cutoff]
    table[small] = True
    big = ids[len(small):]
    later_ids = later.node_id
    inside = later_ids <= cutoff
    known = np.zeros(later.node_count, dtype=bool)
    known[inside] = table[later_ids[inside]]
    outside = np.flatnonzero(~inside)
    if len(outside) and len(big):
        at = np.minimum(np.searchsorted(big, later_ids[outside]), len(big) - 1)
        known[outside] = big[at] == later_ids[outside]
    result: np.ndarray = ~known
    return result


def owner_growth(
    baseline: Baseline, later: HeapSnapshot, charges: list[np.ndarray] | None = None, fresh: np.ndarray | None = None
) -> dict[int, OwnerGrowth]:
    """New bytes per owner id in `later` relative to `baseline`. With `charges`, also hands
    back (owner ordinal per node, charged mask) for `growth_series`."""
    parent, order, count = shortest_path_tree(later)
    is_new = (new_nodes(baseline, later) if fresh is None else fresh).astype(np.uint8)
    system = _system_names(later)
    keys = later.class_keys()
    n_keys = len(later.strings) + len(later.node_type_names)
    user_visible = _type_mask(later, ("object", "closure", "native")) & ~system
    top_eligible = (_type_mask(later, ("object",)) & ~system).astype(np.uint8)
    chain_class = (_chain_depths(parent, order, count, is_new, keys, top_eligible, n_keys) >= 3).astype(np.uint8)
    anchorable = user_visible & ~((chain_class[keys] == 1) & (is_new == 0))
    anchor, top, primary = _owners_and_tops(
        parent, order, count, is_new, anchorable.astype(np.uint8), top_eligible, keys, chain_class
    )
    # V8's own caches (compiled code, deopt data, object shapes) grow for thousands of requests
    # in a clean app; `measure` reports code space apart, and they are nobody's leak here
    charged = (is_new == 1) & (anchor >= 0) & ~_type_mask(later, V8_INTERNAL_TYPES)
    # ...except what was made for the new objects themselves: their shapes, contexts and the like
    billed_owner, billed = _bill_metadata(later, is_new == 1, anchor, charged, system)
    if charges is not None:
        charges.extend((billed_owner, billed))
    owners = billed_owner[billed]
    sizes = later.node_self_size[billed].astype(np.int64)
    uniq, inverse = np.unique(owners, return_inverse=True)
    new_bytes = np.bincount(inverse, weights=sizes).astype(np.int64)
    new_objects = np.bincount(inverse)
    # bytes charged under each top object, for choosing the principal class
    under_top = np.zeros(later.node_count, dtype=np.int64)
    has_top = charged & (top >= 0)
    np.add.at(under_top, top[has_top], later.node_self_size[has_top].astype(np.int64))
    tops_mask = charged & (top == np.arange(later.node_count))
    top_nodes = np.flatnonzero(tops_mask)
    top_owner = anchor[top_nodes]
    by_owner = np.argsort(top_owner, kind="stable")
    top_nodes, top_owner = top_nodes[by_owner], top_owner[by_owner]
    starts = np.searchsorted(top_owner, uniq, side="left")
    ends = np.searchsorted(top_owner, uniq, side="right")
    first_nodes = np.flatnonzero(charged & (is_new[np.maximum(parent, 0)] == 0))
    first_owner = anchor[first_nodes]
    by_first = np.argsort(first_owner, kind="stable")
    first_nodes, first_owner = first_nodes[by_first], first_owner[by_first]
    first_starts = np.searchsorted(first_owner, uniq, side="left")
    first_ends = np.searchsorted(first_owner, uniq, side="right")
    result: dict[int, OwnerGrowth] = {}
    for k, owner in enumerate(uniq.tolist()):
        if owner == ROOT:
            continue
        oid = int(later.node_id[owner])
        tops = top_nodes[starts[k]:ends[k]]
        result[oid] = OwnerGrowth(
            owner, oid, int(new_bytes[k]), int(new_objects[k]), tops,
            primary[tops].astype(bool), under_top[tops], first_nodes[first_starts[k]:first_ends[k]][:1000],
        )
    return result


def _principal(snap: HeapSnapshot, g: OwnerGrowth) -> tuple[str, int, int]:
    """(display class, how many, representative) of the first-level new objects that weigh most;
    without any new object (a leak of strings or arrays), of the first new nodes below the owner."""
    if len(g.top_objects) == 0:
        if len(g.first_new) == 0:
            return "(objects)", 0, -1
        keys = snap.class_keys()[g.first_new]
        uniq, counts = np.unique(keys, return_counts=True)
        best_key = int(uniq[np.argmax(counts)])
        return snap.class_name(best_key), int(counts.max()), int(g.first_new[keys == best_key][0])
    names = display_classes(snap, np.asarray(g.top_objects, dtype=np.int64))
    weight: dict[str, int] = {}
    for name, primary, size in zip(names, g.top_primary.tolist(), g.top_bytes.tolist()):
        if primary:
            weight[name] = weight.get(name, 0) + int(size)
    if not weight:
        weight = {n: 1 for n in names}
    best = max(weight, key=lambda k: weight[k])
    members = [int(t) for t, n in zip(g.top_objects, names) if n == best]
    d = distances(snap)  # representative: the member closest to the roots
    rep = min(members, key=lambda t: int(d[t]) if d[t] >= 0 else 1 << 30)
    return best, len(members), rep


TimerSite = tuple[str, int, int, int]  # class name, script id, line, column of the callback


@dataclass
class SnapshotGrowth:
    """What one later snapshot holds that the first did not: new bytes per owner (by id, stable
    across snapshots) and new timers per callback site. Small: the snapshot can be dropped."""

    owners: dict[int, OwnerGrowth]
    timer_counts: dict[TimerSite, int]
    timer_bytes: dict[TimerSite, int]
    timer_members: dict[TimerSite, list[int]]  # ordinals, meaningful for the last snapshot only


def snapshot_growth(baseline: Baseline, snap: HeapSnapshot) -> SnapshotGrowth:
    ids = baseline if isinstance(baseline, np.ndarray) else baseline_ids(baseline)
    members = timer_members(ids, snap)
    return SnapshotGrowth(
        owners=owner_growth(ids, snap),
        timer_counts={k: len(v) for k, v in members.items()},
        timer_bytes={k: int(snap.node_self_size[np.asarray(v, dtype=np.int64)].sum()) for k, v in members.items()},
        timer_members=members,
    )


def growth_series(baseline: np.ndarray, middle: list[np.ndarray], last: HeapSnapshot) -> list[SnapshotGrowth]:
    """The growth at every later snapshot, from the last one's graph alone.

    A leak's objects are still there at the end, so the growth at an earlier snapshot is what
    the last one charges to each owner among the objects that already existed then (their ids
    were in that snapshot). Earlier snapshots are read for their ids only: one graph is built,
    not one per snapshot. `baseline` and each of `middle` are sorted id arrays."""
    charges: list[np.ndarray] = []
    fresh = new_nodes(baseline, last)
    members = timer_members(baseline, last, fresh)
    final = SnapshotGrowth(
        owners=owner_growth(baseline, last, charges, fresh),
        timer_counts={k: len(v) for k, v in members.items()},
        timer_bytes={k: int(last.node_self_size[np.asarray(v, dtype=np.int64)].sum()) for k, v in members.items()},
        timer_members=members,
    )
    anchor, charged = charges
    sizes = last.node_self_size.astype(np.int64)
    series: list[SnapshotGrowth] = []
    for ids in middle:
        existed = ~new_nodes(ids, last)
        mask = charged & existed
        uniq, inverse = np.unique(anchor[mask], return_inverse=True)
        new_bytes = np.bincount(inverse, weights=sizes[mask]).astype(np.int64)
        new_objects = np.bincount(inverse)
        owners: dict[int, OwnerGrowth] = {}
        empty = np.zeros(0, dtype=np.int64)
        for k, owner in enumerate(uniq.tolist()):
            if owner == ROOT:
                continue
            oid = int(last.node_id[owner])
            owners[oid] = OwnerGrowth(owner, oid, int(new_bytes[k]), int(new_objects[k]), empty, empty.astype(bool),
                                      empty, empty)
        kept = {site: [m for m, e in zip(v, existed[np.asarray(v, dtype=np.int64)].tolist()) if e]
                for site, v in members.items()}
        series.append(SnapshotGrowth(
            owners=owners,
            timer_counts={k: len(v) for k, v in kept.items()},
            timer_bytes={k: int(sizes[np.asarray(v, dtype=np.int64)].sum()) for k, v in kept.items()},
            timer_members={},
        ))
    return [*series, final]


def _spans(requests: list[float], snapshots: int | None = None) -> np.ndarray:
    """Requests sent since the first snapshot, at each later one (checked to grow)."""
    if snapshots is not None and snapshots != len(requests):
        raise ValueError("need one request count per snapshot")
    if len(requests) < 3:
        raise ValueError("need at least three snapshots, each with its request count")
    if np.any(np.diff(np.asarray(requests, dtype=float)) <= 0):
        raise ValueError("request counts must grow from snapshot to snapshot")
    return np.array([r - requests[0] for r in requests[1:]], dtype=float)


def growing_groups(
    snapshots: list[HeapSnapshot], requests: list[float], min_bytes_per_request: float = MIN_BYTES_PER_REQUEST
) -> list[GrowthGroup]:
    """Owners whose new bytes grow in step with requests over snapshots[1:], vs snapshots[0]."""
    if len(snapshots) != len(requests):
        raise ValueError("need one request count per snapshot")
    ids = baseline_ids(snapshots[0])
    series = [snapshot_growth(ids, s) for s in snapshots[1:]]
    return groups_from_series(series, snapshots[-1], requests, min_bytes_per_request)


def groups_from_series(
    series: list[SnapshotGrowth], last: HeapSnapshot, requests: list[float],
    min_bytes_per_request: float = MIN_BYTES_PER_REQUEST,
) -> list[GrowthGroup]:
    """Growing owners, given each later snapshot's growth and the last snapshot itself."""
    spans = _spans(requests, len(series) + 1)
    groups: list[GrowthGroup] = []
    for oid, g_last in series[-1].owners.items():
        values = [p.owners[oid].new_bytes if oid in p.owners else 0 for p in series]
        rate = values[-1] / spans[-1]
        if rate < min_bytes_per_request:
            continue
        # every intermediate snapshot must show its share of the growth, not a plateau
        if not _linear([float(v) for v in values], spans):
            continue
        principal, count, rep = _principal(last, g_last)
        groups.append(
            GrowthGroup(
                owner_id=oid,
                bytes_per_request=float(rate),
                objects_per_request=count / spans[-1],
                principal_class=principal,
                bytes_by_snapshot=[0, *values],
                representative=rep if rep >= 0 else g_last.owner,
                snapshot=last,
            )
        )
    groups.sort(key=lambda g: -g.bytes_per_request)
    return groups


COUNTED_CLASSES = ("Timeout", "Immediate")


def _linear(series: list[float], spans: np.ndarray) -> bool:
    rate = series[-1] / spans[-1]
    expected = rate * spans[:-1]
    ratios = np.array(series[:-1], dtype=float) / np.maximum(expected, 1e-9)
    return bool(np.all(ratios >= LINEARITY[0]) and np.all(ratios <= LINEARITY[1]))


def _callback_sites(snap: HeapSnapshot, timers: np.ndarray) -> list[tuple[int, int, int]]:
    """Per timer: where its callback is defined, (script id, line, column); (-1,-1,-1) if unknown."""
    loc = snap.locations
    order = np.argsort(loc.node, kind="stable")
    nodes_sorted = loc.node[order]
    sites = []
    for t in timers.tolist():
        callback = property_target(snap, t, "_onTimeout")
        if callback >= 0:
            bound = property_target(snap, callback, "bound_function")
            callback = bound if bound >= 0 else callback
        i = int(np.searchsorted(nodes_sorted, callback)) if callback >= 0 else len(nodes_sorted)
        if i < len(nodes_sorted) and nodes_sorted[i] == callback:
            j = order[i]
            sites.append((int(loc.script_id[j]), int(loc.line[j]), int(loc.column[j])))
        else:
            sites.append((-1, -1, -1))
    return sites


def timer_members(baseline: Baseline, snap: HeapSnapshot, fresh: np.ndarray | None = None) -> dict[TimerSite, list[int]]:
    """New, reachable timers of `snap` by class name and callback position (string indices
    differ between snapshots; script ids and positions do not, within one process)."""
    is_new = new_nodes(baseline, snap) if fresh is None else fresh
    reached = shortest_path_tree(snap)[0] >= 0
    by_site: dict[TimerSite, list[int]] = {}
    for name in COUNTED_CLASSES:
        if name not in snap.strings:
            continue
        key = snap.strings.index(name)
        members = np.flatnonzero((snap.class_keys() == key) & is_new & reached)
        for member, site in zip(members.tolist(), _callback_sites(snap, members)):
            by_site.setdefault((name, *site), []).append(member)
    return by_site


def counted_groups(
    snapshots: list[HeapSnapshot], requests: list[float], min_per_request: float = 0.2
) -> list[GrowthGroup]:
    """Timers counted by class and grouped by callback (see counted_groups_from_series)."""
    ids = baseline_ids(snapshots[0])
    series = [snapshot_growth(ids, s) for s in snapshots[1:]]
    return counted_groups_from_series(series, snapshots[-1], requests, min_per_request)


def counted_groups_from_series(
    series: list[SnapshotGrowth], last: HeapSnapshot, requests: list[float], min_per_request: float = 0.2
) -> list[GrowthGroup]:
    """Timers counted by class and grouped by where their callback is defined: one more live
    Timeout per request is a leak however small it is, and whoever the shortest path charges
    its bytes to (a component holding its id). Grouping by callback keeps the timers of
    keep-alive sockets apart from the one that leaks."""
    spans = _spans(requests, len(series) + 1)
    d = distances(last)
    groups: list[GrowthGroup] = []
    for site, members_last in series[-1].timer_members.items():
        counts = [float(p.timer_counts.get(site, 0)) for p in series]
        if counts[-1] / spans[-1] < min_per_request or not _linear(counts, spans):
            continue
        sizes = [p.timer_bytes.get(site, 0) for p in series]
        members = np.asarray(members_last)
        rep = int(members[np.argmin(np.where(d[members] >= 0, d[members], 1 << 30))])
        groups.append(
            GrowthGroup(
                owner_id=-1,
                bytes_per_request=sizes[-1] / spans[-1],
                objects_per_request=counts[-1] / spans[-1],
                principal_class=site[0],
                bytes_by_snapshot=[0, *sizes],
                representative=rep,
                snapshot=last,
                by_class=True,
            )
        )
    return groups


def sidecar_script_urls(path: Path) -> dict[int, str] | None:
    """The script map leaksleuth writes beside a snapshot it captured, if present."""
    sidecar = path.with_name(path.name + ".scripts.json")
    try:
        scripts = json.loads(sidecar.read_text())["scripts"]
        return {int(k): str(v) for k, v in scripts.items()}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None  # no map, or not ours: locations fall back to what the heap says
