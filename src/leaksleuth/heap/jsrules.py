"""Names a JS developer recognises for heap objects: Vue component names and the like."""

from __future__ import annotations

from leaksleuth.heap.snapshot import HeapSnapshot

_NAME_KEYS = ("name", "_componentTag", "__file")  # __file: set by vue-loader in dev builds


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
