"""Source maps read the way Node and DevTools read them, and V8's script positions mapped to the
original files: VLQ decoding, index maps, inline and sibling maps, webpack and Vite sources,
vue-server-renderer bundles compiled through `vm`, and whose code a place is in."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import pytest

from leaksleuth.sources import find_declaration, resolve, search_script
from leaksleuth.sources.maps import SourceMapError, decode_mappings, mapping_url, parse_source_map
from leaksleuth.sources.resolve import CJS_WRAPPER, classify, clean_source, package_of

# `AAAA;AACA,IAAM;AAAA` from the spec's examples, worked by hand: line 0 col 0 → src 0 (0,0);
# line 1 col 0 → (1,0); col 4 → (1,6); line 2 col 0 → (1,6)
SIMPLE = {"version": 3, "sources": ["a.js"], "names": [], "mappings": "AAAA;AACA,IAAM;AAAA"}


def test_vlq_segments_decode_to_absolute_positions():
    cols = decode_mappings(SIMPLE["mappings"])
    rows = list(zip(*(cols[k].tolist() for k in ("gen_line", "gen_column", "source", "orig_line", "orig_column"))))
    assert rows == [(0, 0, 0, 0, 0), (1, 0, 0, 1, 0), (1, 4, 0, 1, 6), (2, 0, 0, 1, 6)]


def test_negative_deltas_names_and_empty_lines():
    # "AAAAA" names[0] at (0,0); ";;" two empty lines; "ACDCC" goes back: col +1, src +1, line -1?
    m = parse_source_map({"version": 3, "sources": ["a.js", "b.js"], "names": ["x", "y"],
                          "mappings": "AAEAA;;ACDCC"})
    assert m.lookup(0, 0).line == 2 and m.lookup(0, 0).name == "x"
    hit = m.lookup(2, 5)
    assert (hit.source, hit.line, hit.column, hit.name) == (1, 1, 1, "y")
    assert m.lookup(1, 0) is None  # a line without mappings maps nothing


def test_lookup_takes_the_nearest_mapping_to_the_left_on_the_same_line():
    m = parse_source_map(SIMPLE)
    assert (m.lookup(1, 3).line, m.lookup(1, 3).column) == (1, 0)
    assert (m.lookup(1, 99).line, m.lookup(1, 99).column) == (1, 6)
    assert m.lookup(7, 0) is None


def test_index_maps_offset_each_section():
    index = {"version": 3, "sections": [
        {"offset": {"line": 0, "column": 0}, "map": {"version": 3, "sources": ["a.js"], "names": [], "mappings": "AAAA"}},
        {"offset": {"line": 0, "column": 100}, "map": {"version": 3, "sources": ["b.js"], "names": [], "mappings": "AACA"}},
        {"offset": {"line": 3, "column": 0}, "map": {"version": 3, "sources": ["c.js"], "names": [], "mappings": "AAAA"}},
    ]}
    m = parse_source_map(index)
    assert m.sources == ["a.js", "b.js", "c.js"]
    assert (m.lookup(0, 50).source, m.lookup(0, 150).source, m.lookup(0, 150).line) == (0, 1, 1)
    assert m.lookup(3, 2).source == 2


def test_broken_maps_are_errors_not_crashes():
    with pytest.raises(SourceMapError):
        parse_source_map("not json")
    with pytest.raises(SourceMapError):
        parse_source_map({"version": 3, "sources": [], "mappings": "A!"})
    with pytest.raises(SourceMapError):
        parse_source_map({"version": 3, "sources": [], "mappings": "g"})  # ends inside a value


def test_source_mapping_url_comment_is_the_last_one():
    code = "a()\n//# sourceMappingURL=old.map\nb()\n//# sourceMappingURL=data:application/json;base64,e30=\n"
    assert mapping_url(code) == "data:application/json;base64,e30="
    assert mapping_url("x()") is None


def test_webpack_vite_and_nitro_sources_read_as_paths():
    assert clean_source("webpack://my-app/./src/components/AsideMenu.vue?9b17") == "src/components/AsideMenu.vue"
    assert clean_source("webpack:///./src/bus.js") == "src/bus.js"
    assert clean_source("webpack://_N_E/./lib/visits.js") == "lib/visits.js"
    assert clean_source("../../src/entry-server.ts") == "../../src/entry-server.ts"


def test_whose_code_a_place_is_in(tmp_path: Path):
    pkg = tmp_path / "node_modules" / "@scope" / "lib"
    pkg.mkdir(parents=True)
    (pkg / "package.json").write_text('{"name": "@scope/lib", "version": "1.2.3"}')
    assert package_of(str(pkg / "dist" / "x.js")) == "@scope/lib@1.2.3"
    assert classify(str(pkg / "dist" / "x.js"), None) == ("library", "@scope/lib@1.2.3")
    assert classify("node:internal/timers", None) == ("node", None)
    assert classify("webpack/runtime/define property getters", None) == ("library", "webpack")
    assert classify("src/app.vue", None) == ("app", None)
    assert classify("/app/.nuxt/plugins.mjs", None) == ("library", "nuxt")


def _write_mapped(tmp_path: Path, inline: bool) -> Path:
    """dist/out.js generated from src/leak.ts: line 2 of the output is line 5 of the source."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "leak.ts").write_text("// a\n// b\n// c\n// d\nconst kept: string[] = [];\n")
    smap = {"version": 3, "sources": ["../src/leak.ts"], "names": ["kept"], "mappings": ";AAIAA"}
    (tmp_path / "dist").mkdir()
    out = tmp_path / "dist" / "out.js"
    if inline:
        url = "data:application/json;base64," + base64.b64encode(json.dumps(smap).encode()).decode()
        out.write_text(f"'use strict';\nconst kept = [];\n//# sourceMappingURL={url}\n")
    else:
        out.write_text("'use strict';\nconst kept = [];\n")
        (tmp_path / "dist" / "out.js.map").write_text(json.dumps(smap))  # a map beside it
    return out


@pytest.mark.parametrize("inline", [True, False])
def test_a_script_position_maps_to_the_original_file(tmp_path: Path, inline: bool):
    out = _write_mapped(tmp_path, inline)
    place = resolve(out.as_uri(), 2, 7, tmp_path)
    assert (place.file, place.line, place.origin) == ("src/leak.ts", 5, "app")
    assert place.generated == "dist/out.js:2:7" and place.via == "source map"
    plain = resolve(out.as_uri(), 1, 1, tmp_path)  # line 1 maps to nothing: the place stays
    assert (plain.file, plain.line, plain.generated) == ("dist/out.js", 1, None)


def test_a_renamed_variable_is_found_by_its_declaration(tmp_path: Path):
    out = _write_mapped(tmp_path, inline=False)
    found = find_declaration(out.as_uri(), "kept", tmp_path)
    assert found is not None and found[0].file == "src/leak.ts" and found[1] == "kept"


def test_vm_scripts_of_a_bundle_renderer_bundle_map_through_the_bundle_json(tmp_path: Path):
    # vue-server-renderer compiles files[name] under `name`, after require('module').wrap()
    code = 'var a=1;bus.$on("toggle",h);\n'
    smap = {"version": 3, "sources": ["webpack://demo/./src/Menu.vue?ab12"], "names": [],
            "sourcesContent": ["<script>\nexport default {\n  created() {\n    this.$bus.$on('toggle', this.h);\n"],
            "mappings": "AAAA,QAGI"}
    (tmp_path / "dist").mkdir()
    (tmp_path / "dist" / "vue-ssr-server-bundle.json").write_text(
        json.dumps({"entry": "main.js", "files": {"main.js": code}, "maps": {"main.js": smap}}))
    column = len(CJS_WRAPPER) + 9 + 1  # V8's 1-based column of `bus`, wrapper included
    place = resolve("main.js", 1, column, tmp_path)
    assert (place.file, place.line, place.origin) == ("src/Menu.vue", 4, "app")
    assert place.generated == f"main.js:1:{column}"
    hit = search_script("main.js", re.compile(r"\$on\(\s*['\"]toggle['\"]"), tmp_path)
    assert hit is not None and hit[0].file == "src/Menu.vue" and "$on('toggle'" in hit[1]
