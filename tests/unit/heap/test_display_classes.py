"""jsrules.display_classes: display_class of many nodes at once, the same names."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from heap_builder import SnapshotBuilder

from leaksleuth.heap.jsrules import display_class, display_classes
from leaksleuth.heap.parse import load_snapshot


def test_names_match_display_class_one_by_one(tmp_path: Path) -> None:
    b = SnapshotBuilder()
    nodes = []
    for k in range(6):  # Vue 2 instances: own options, or a name on the options' prototype
        vm = b.node("object", "VueComponent", 64)
        options = b.node("object", "Object", 32)
        b.edge(b.root, vm, "property", f"vm{k}")
        b.edge(vm, options, "property", "$options")
        if k % 2:
            proto = b.node("object", "Object", 32)
            b.edge(options, proto, "property", "__proto__")
            b.edge(proto, b.node("string", f"Aside{k}", 16), "property", "name")
        else:
            b.edge(options, b.node("string", f"Tag{k}", 16), "property", "_componentTag")
        nodes.append(vm)
    minified = b.node("object", "t", 64)  # a minified class with component options
    options = b.node("object", "Object", 32)
    b.edge(minified, options, "property", "$options")
    b.edge(options, b.node("string", "Menu", 16), "property", "name")
    plain = b.node("object", "Order", 48)  # a plain object: "$options" only as an element
    b.edge(plain, options, "element", 0)
    lookalike = b.node("object", "Order", 48)  # and one whose *value* is the string
    b.edge(lookalike, b.node("string", "$options", 16), "property", "label")
    bare = b.node("object", "VueComponent", 64)  # no options: the class name alone
    closure = b.node("closure", "onTick", 32)
    for extra in (minified, plain, lookalike, bare, closure):
        b.edge(b.root, extra, "property", "x")
    nodes += [minified, plain, lookalike, bare, closure]
    snap = load_snapshot(b.write(tmp_path / "vue.heapsnapshot"))

    ordinals = np.array(nodes + nodes[:3], dtype=np.int64)
    expected = [display_class(snap, int(v)) for v in ordinals]
    assert display_classes(snap, ordinals) == expected
    assert expected[0] == "VueComponent <Tag0>" and expected[1] == "VueComponent <Aside1>"
    assert expected[6] == "Vue component <Menu> (class t)"
    assert expected[7:10] == ["Order", "Order", "VueComponent"]


def test_no_options_string_in_the_file(tmp_path: Path) -> None:
    b = SnapshotBuilder()
    o = b.node("object", "Order", 48)
    b.edge(b.root, o, "property", "o")
    snap = load_snapshot(b.write(tmp_path / "plain.heapsnapshot"))
    assert display_classes(snap, np.array([o], dtype=np.int64)) == ["Order"]
    assert display_classes(snap, np.array([], dtype=np.int64)) == []
