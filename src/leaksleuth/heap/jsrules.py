"""The V8, Node and Vue naming rules: how a JS developer recognises heap objects and references.

Like DevTools' JSHeapSnapshot, everything that knows what V8's, Node's or a framework's objects
look like lives here; the graph algorithms stay generic.
"""

from __future__ import annotations

import re

import numpy as np

from leaksleuth.heap.snapshot import INDEXED_EDGE_TYPES, HeapSnapshot

_IDENTIFIER = re.compile(r"^[A-Za-z_$][\w$]*$")
_NAME_KEYS = ("name", "_componentTag", "__file")  # __file: set by vue-loader in dev builds
_STRING_TYPES = ("string", "concatenated string", "sliced string")
# internal edges a reader does not need to see: backing stores, scopes, a bound function's parts
_ELIDED_INTERNAL = {
    "elements", "table", "properties", "context", "extension", "bound_this", "bound_function",
    "bound_arguments", "shared", "map",
}


def is_identifier(name: str) -> bool:
    """True if `.name` reads right for a property (else use `["name"]`)."""
    return bool(_IDENTIFIER.match(name))


def property_target(snap: HeapSnapshot, ordinal: int, name: str) -> int:
    """The node that `ordinal`'s property (or internal edge) `name` points at; -1 if none."""
    begin, end = int(snap.first_edge[ordinal]), int(snap.first_edge[ordinal + 1])
    for e in range(begin, end):
        if not snap.edge_has_index(e) and snap.edge_name(e) == name:
            return int(snap.edge_to[e])
    return -1


def _string_at(snap: HeapSnapshot, ordinal: int) -> str | None:
    if ordinal < 0 or "string" not in snap.node_type_name(ordinal):
        return None
    return snap.node_name_text(ordinal) or None


def vue_component_name(snap: HeapSnapshot, ordinal: int) -> str | None:
    """`AsideMenu` for a Vue 2/3 component instance, from what the object carries
    ($options.name, $options._componentTag, or its constructor's options), else None."""
    if snap.node_type_name(ordinal) != "object":
        return None
    options = property_target(snap, ordinal, "$options")
    if options < 0:
        return None
    seen = 0
    node = options
    while node >= 0 and seen < 4:  # own options, then the prototype chain (Vue.extend)
        for key in _NAME_KEYS:
            text = _string_at(snap, property_target(snap, node, key))
            if text:
                return text
        node = property_target(snap, node, "__proto__")
        seen += 1
    ctor = property_target(snap, ordinal, "constructor")
    if ctor >= 0:
        ctor_options = property_target(snap, ctor, "options")
        if ctor_options >= 0:
            return _string_at(snap, property_target(snap, ctor_options, "name"))
    return None


def display_class(snap: HeapSnapshot, ordinal: int) -> str:
    """Class name, with the component name for Vue instances (minified builds hide the class)."""
    base = snap.class_name(int(snap.class_keys()[ordinal]))
    component = vue_component_name(snap, ordinal)
    if not component:
        return base
    if base in ("VueComponent", "Vue"):
        return f"{base} <{component}>"
    return f"Vue component <{component}> (class {base})"  # a minified production build


def display_classes(snap: HeapSnapshot, ordinals: np.ndarray) -> list[str]:
    """display_class of many nodes at once: the class names come from the class keys, and
    the walk for a component name runs only for the objects that carry an `$options`
    property (Vue instances), found with one vectorised look at these nodes' edges."""
    keys = snap.class_keys()[ordinals]
    uniq, inverse = np.unique(keys, return_inverse=True)
    bases = [snap.class_name(int(k)) for k in uniq]
    names = [bases[i] for i in inverse.ravel().tolist()]
    for j in np.flatnonzero(_has_property(snap, ordinals, "$options")).tolist():
        names[j] = display_class(snap, int(ordinals[j]))
    return names


def _has_property(snap: HeapSnapshot, ordinals: np.ndarray, name: str) -> np.ndarray:
    """Per node of `ordinals`: True if one of its named edges is called `name`."""
    found = np.zeros(len(ordinals), dtype=bool)
    try:
        wanted = snap.strings.index(name)
    except ValueError:
        return found
    owner, edges = snap.edges_of(ordinals)
    named = (snap.edge_name_or_index[edges] == wanted) & ~snap.edges_have_index(edges)
    found[owner[named]] = True
    return found


def node_label(snap: HeapSnapshot, ordinal: int) -> str:
    """How a user recognises a node: `leakyHandler()`, `bound f()`, `global`, `VueComponent
    <AsideMenu>`, `"text…"`."""
    kind, name = snap.node_type_name(ordinal), snap.node_name_text(ordinal)
    if kind == "closure":
        target = property_target(snap, ordinal, "bound_function")
        if target >= 0:
            return f"bound {snap.node_name_text(target) or '(anonymous)'}()"
        return f"{name or '(anonymous)'}()"
    if kind == "object":
        return "global" if name.startswith("global") else display_class(snap, ordinal)
    if kind in _STRING_TYPES:
        short = name if len(name) <= 40 else name[:39] + "…"
        return repr(short)
    if kind in ("hidden", "code", "synthetic", "array"):
        return name or f"({kind})"
    return f"{name} ({kind})" if name else f"({kind})"


def is_scaffolding(snap: HeapSnapshot, ordinal: int) -> bool:
    """GC-root bookkeeping above the first node a user would recognise."""
    kind = snap.node_type_name(ordinal)
    return kind in ("synthetic", "hidden") or snap.node_name_text(ordinal).startswith("system / ")


def module_file(snap: HeapSnapshot, ordinal: int) -> str | None:
    """The file of a CommonJS `Module` object (require.cache entries, module.children)."""
    if snap.node_type_name(ordinal) != "object" or snap.node_name_text(ordinal) != "Module":
        return None
    target = property_target(snap, ordinal, "filename")
    if target < 0 or "string" not in snap.node_type_name(target):
        return None
    return snap.node_name_text(target) or None


def edge_text(snap: HeapSnapshot, edge: int, *, clustered: bool) -> str:
    """A reference as code reads it: `.bus`, `['a b']`, `[3]` (`[]` when clustered), `::thing`
    for a closure's variable; "" for V8 internals a reader does not need."""
    kind = snap.edge_type_names[int(snap.edge_type[edge])]
    name = snap.edge_name(edge)
    if kind in INDEXED_EDGE_TYPES or (kind == "internal" and name.isdigit()):
        if kind == "hidden" and not clustered:
            return ""
        return "[]" if clustered else f"[{name}]"
    if kind == "property":
        return f".{name}" if is_identifier(name) else f"[{name!r}]"
    if kind == "context":
        return f"::{name}"
    if kind == "internal":
        return "" if name in _ELIDED_INTERNAL else f".<{name}>"
    return f".<{name}>"


def edge_variable(snap: HeapSnapshot, edge: int) -> str | None:
    """The variable or property name of an edge, when it has one a developer wrote."""
    if edge < 0:
        return None
    kind = snap.edge_type_names[int(snap.edge_type[edge])]
    name = snap.edge_name(edge)
    return name if kind in ("context", "property") and is_identifier(name) else None


_EPHEMERON = re.compile(r"part of key \(.*\) -> value \(.*\) pair in WeakMap \(table @(\d+)\)$")
# Vue 3's reactivity caches (@vue/reactivity): WeakMaps from raw objects to their proxies, and
# the dependency map of effects; they reach leaked objects first but keep none of them alive
VUE_REACTIVITY_WEAKMAPS = frozenset({
    "reactiveMap", "shallowReactiveMap", "readonlyMap", "shallowReadonlyMap", "targetMap", "proxyMap",
})


def weakmap_table_edges(snap: HeapSnapshot) -> np.ndarray:
    """Per edge: True for a WeakMap's table → value edge. V8 records each entry twice, from the
    table and from the key; only the key's edge says who keeps the value alive (a WeakMap keeps
    a value only while something else keeps its key)."""
    internal = snap.edge_type_code("internal")
    mask = np.zeros(len(snap.edge_to), dtype=bool)
    candidates = np.flatnonzero(snap.edge_type == internal)
    if not len(candidates):
        return mask
    names = snap.edge_name_or_index[candidates]
    unique = np.unique(names)
    table_of: dict[int, int] = {}
    for index in unique.tolist():
        text = snap.strings[index] if 0 <= index < len(snap.strings) else ""
        if "pair in WeakMap" in text:
            m = _EPHEMERON.search(text)
            if m:
                table_of[index] = int(m.group(1))
    if not table_of:
        return mask
    keys = np.fromiter(table_of.keys(), dtype=np.int64)
    tables = np.fromiter(table_of.values(), dtype=np.int64)
    order = np.argsort(keys)
    keys, tables = keys[order], tables[order]
    hit = np.isin(names, keys)
    edges = candidates[hit]
    table_ids = tables[np.searchsorted(keys, names[hit])]
    source = np.searchsorted(snap.first_edge, edges, side="right") - 1
    mask[edges] = snap.node_id[source] == table_ids
    return mask


def is_weakmap_table_edge(snap: HeapSnapshot, edge: int) -> bool:
    """One edge of `weakmap_table_edges`, judged alone (for a path: no pass over the graph)."""
    if edge < 0 or int(snap.edge_type[edge]) != snap.edge_type_code("internal"):
        return False
    text = snap.edge_name(edge)
    m = _EPHEMERON.search(text) if "pair in WeakMap" in text else None
    if m is None:
        return False
    source = int(np.searchsorted(snap.first_edge, edge, side="right")) - 1
    return int(snap.node_id[source]) == int(m.group(1))


def is_vue_reactivity_cache(name: str | None) -> bool:
    """A variable of Vue 3's reactivity package that holds a WeakMap cache."""
    return bool(name) and name in VUE_REACTIVITY_WEAKMAPS
