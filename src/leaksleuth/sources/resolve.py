"""A position in a script as V8 names it → the original file, line and column a developer opens.

Scripts are found the way Node finds them: a `file://` URL or path on disk, whose map is named by
its `//# sourceMappingURL=` comment (a file beside it or an inline `data:` URL) or sits beside it
as `<file>.map`; or code that never was a file, compiled through `vm` under a bare name
(`main.js`), which we look up in the vue-server-renderer bundles (`{"entry", "files", "maps"}`)
of the project. Map sources are read as webpack (`webpack://<ns>/./src/x.vue?hash`), Vite,
Rollup and Nitro (relative to the map) write them; `sourcesContent` stands in for a file that is
not on disk. Each place is classed as the app's own code, a library (package and version from its
`package.json`) or Node's internals.

Decoded maps and scripts are cached by path and modification time, bundles by project.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

from leaksleuth.model import CodeOrigin, LocationRole, LocationVia, SourceLocation
from leaksleuth.sources.files import display_file, local_file
from leaksleuth.sources.maps import SourceMap, SourceMapError, data_url_payload, mapping_url, parse_source_map

MAX_SCRIPT_BYTES = 32 << 20
MAX_BUNDLE_BYTES = 64 << 20
BUNDLE_SCAN_DEPTH = 4
# require('module').wrap(), which vue-server-renderer puts before a bundle's code on line 1
CJS_WRAPPER = "(function (exports, require, module, __filename, __dirname) { "
_WEBPACK = re.compile(r"^webpack://[^/]*/")
_SKIP_DIRS = {"node_modules", ".git", ".hg", ".cache", ".nuxt", ".next", "coverage", "__pycache__", ".venv"}
_GENERATED_DIRS = {".nuxt": "nuxt", ".next": "next", ".output": "nitro", ".svelte-kit": "@sveltejs/kit"}
_BUNDLER_RUNTIME = ("webpack/bootstrap", "webpack/runtime/", "external ", "webpack/universalModuleDefinition")


@dataclass(frozen=True)
class Script:
    """Generated code as V8 ran it, and its map if it has one."""

    url: str
    code: str | None
    map: SourceMap | None
    map_base: str | None  # what relative map sources are resolved against (a folder), or None
    wrapped: bool = False  # compiled after require('module').wrap(): line 1 is shifted
    bundle: str | None = None  # the vue-server-renderer bundle file it came from


@dataclass(frozen=True)
class OriginalSource:
    """One original file of a map: its path (on disk or not) and its text."""

    path: Path | None
    shown: str  # as written in the map, cleaned (no webpack:// prefix, no query)
    text: str | None


def _stat_key(path: Path) -> tuple[str, int, int] | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return str(path), st.st_mtime_ns, st.st_size


@lru_cache(maxsize=256)
def _read_text(key: tuple[str, int, int]) -> str | None:
    if key[2] > MAX_SCRIPT_BYTES:
        return None
    try:
        return Path(key[0]).read_text(errors="replace")
    except OSError:
        return None


def read_text(path: Path) -> str | None:
    """A file's text (cached by modification time); None if missing or too big."""
    key = _stat_key(path)
    return _read_text(key) if key else None


@lru_cache(maxsize=64)
def _map_file(key: tuple[str, int, int]) -> SourceMap | None:
    text = _read_text(key)
    if text is None:
        return None
    try:
        return parse_source_map(text)
    except (SourceMapError, ValueError, TypeError):  # a broken map maps nothing; never a crash
        return None


@lru_cache(maxsize=32)
def _inline_map(url: str) -> SourceMap | None:
    payload = data_url_payload(url)
    if payload is None:
        return None
    try:
        return parse_source_map(payload)
    except (SourceMapError, ValueError, TypeError):
        return None


def _file_script(url: str, path: Path) -> Script:
    code = read_text(path)
    named = mapping_url(code) if code else None
    if named and named.startswith("data:"):
        return Script(url, code, _inline_map(named), str(path.parent))
    candidates = []
    if named:
        target = local_file(named) if named.startswith("file:") else path.parent / unquote(named)
        if target is not None:
            candidates.append(target)
    candidates.append(path.with_name(path.name + ".map"))  # a map beside the file
    for candidate in candidates:
        key = _stat_key(candidate)
        if key:
            found = _map_file(key)
            if found is not None:
                return Script(url, code, found, str(candidate.parent))
    return Script(url, code, None, None)


def _bundle_files(project: Path) -> Iterator[Path]:
    """JSON files of the project that may be server bundles (not in node_modules)."""
    root_depth = len(project.parts)
    for folder, dirs, files in os.walk(project):
        dirs[:] = [d for d in dirs if d not in _SKIP_DIRS and len(Path(folder).parts) - root_depth < BUNDLE_SCAN_DEPTH]
        for name in files:
            if name.endswith(".json") and name not in ("package.json", "package-lock.json", "tsconfig.json"):
                yield Path(folder) / name


@lru_cache(maxsize=8)
def _bundles(project: str, marker: float) -> dict[str, Script]:
    """Scripts of the vue-server-renderer bundles in a project, by the name V8 knows them by.
    `marker` changes when a bundle is rebuilt, so a rebuilt bundle is read again."""
    del marker
    scripts: dict[str, Script] = {}
    for path in _bundle_files(Path(project)):
        try:
            if path.stat().st_size > MAX_BUNDLE_BYTES:
                continue
            with path.open("rb") as f:
                head = f.read(4096)
            if b'"files"' not in head and b'"entry"' not in head:
                continue
            data = json.loads(path.read_bytes())
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict) or not isinstance(data.get("files"), dict) or "entry" not in data:
            continue
        maps_raw = data.get("maps")
        maps: dict[str, object] = maps_raw if isinstance(maps_raw, dict) else {}
        for name, code in data["files"].items():
            raw = maps.get(name) or maps.get(f"{name}.map")
            decoded = None
            if isinstance(raw, dict):
                try:
                    decoded = parse_source_map(raw)
                except (SourceMapError, ValueError, TypeError):
                    decoded = None
            scripts.setdefault(str(name), Script(str(name), code if isinstance(code, str) else None, decoded,
                                                 None, wrapped=True, bundle=str(path)))
    return scripts


def _bundle_marker(project: Path) -> float:
    """Changes when a likely bundle folder changes (dist/, build/, the project itself)."""
    marks = []
    for folder in (project, project / "dist", project / "build", project / "server"):
        try:
            marks.append(folder.stat().st_mtime)
        except OSError:
            continue
    return max(marks, default=0.0)


def find_script(url: str, project: Path | None) -> Script | None:
    """The script V8 names `url`: on disk, or in one of the project's server bundles."""
    if not url or url.startswith("node:"):
        return None
    path = local_file(url)
    if path is not None:
        return _file_script(url, path) if _stat_key(path) else None
    if project is not None:
        found = _bundles(str(project.resolve()), _bundle_marker(project)).get(url)
        if found is None and "/" in url:
            found = _bundles(str(project.resolve()), _bundle_marker(project)).get(url.rsplit("/", 1)[-1])
        return found
    return None


def clean_source(source: str) -> str:
    """A map source as a path: no `webpack://<ns>/`, no `./`, no `?query` (vue-loader's blocks)."""
    text = _WEBPACK.sub("", source)
    text = text.removeprefix("webpack:").removeprefix("file://")
    text = text.split("?", 1)[0]
    while text.startswith("./"):
        text = text[2:]
    return unquote(text)


def original_source(script: Script, index: int, project: Path | None) -> OriginalSource:
    """Where source `index` of the script's map is, and its text (file first, then the map)."""
    assert script.map is not None
    raw = script.map.sources[index]
    embedded = script.map.contents[index] if index < len(script.map.contents) else None
    shown = clean_source(raw)
    candidates: list[Path] = []
    if shown.startswith("/"):
        candidates.append(Path(shown))
    else:
        if script.map_base and not raw.startswith("webpack:"):
            candidates.append(Path(os.path.normpath(Path(script.map_base) / shown)))
        if project is not None:
            candidates.append(Path(os.path.normpath(project / shown)))
        if script.map_base:
            candidates.append(Path(os.path.normpath(Path(script.map_base) / shown)))
    for path in candidates:
        if path.is_file():
            return OriginalSource(path, shown, read_text(path) if embedded is None else embedded)
    return OriginalSource(None, shown, embedded)


def package_of(path: str) -> str | None:
    """`vue@2.7.16` for a file inside node_modules/vue (the version from its package.json)."""
    parts = PurePosixPath(path).parts
    if "node_modules" not in parts:
        return None
    at = len(parts) - 1 - parts[::-1].index("node_modules")
    if at + 1 >= len(parts):
        return None
    name_parts = parts[at + 1 : at + 3] if parts[at + 1].startswith("@") else parts[at + 1 : at + 2]
    name = "/".join(name_parts)
    version = _package_version(str(PurePosixPath(*parts[: at + 1 + len(name_parts)])))
    return f"{name}@{version}" if version else name


@lru_cache(maxsize=512)
def _package_version(folder: str) -> str | None:
    try:
        data = json.loads(Path(folder, "package.json").read_text())
    except (OSError, ValueError):
        return None
    version = data.get("version") if isinstance(data, dict) else None
    return str(version) if version else None


def classify(shown: str, path: Path | None) -> tuple[CodeOrigin, str | None]:
    """App, library (with its package) or Node, for a file or a map source."""
    where = str(path) if path is not None else shown
    if shown.startswith(("node:", "internal/")) or where.startswith("node:"):
        return "node", None
    if "node_modules/" in where or shown.startswith("node_modules/"):
        return "library", package_of(where) or package_of("/" + shown)
    if shown.startswith(_BUNDLER_RUNTIME):
        return "library", "webpack"
    if shown.startswith(("virtual:", "\0", "#", "\x00")) or "\0" in shown:
        return "library", None
    for part in PurePosixPath(where).parts:
        if part in _GENERATED_DIRS:
            return "library", _GENERATED_DIRS[part]
    return "app", None


def _shown(path: Path | None, fallback: str, project: Path | None) -> str:
    return display_file(str(path), project) if path is not None else fallback


def resolve(url: str, line: int, column: int, project: Path | None) -> SourceLocation:
    """The original place of a 1-based position in a script, with the generated one beside it
    when a map moved it; a script without a map is its own original."""
    if project is not None:
        project = project.resolve()
    script = find_script(url, project)
    if script is not None and script.map is not None:
        line0, column0 = line - 1, column - 1
        if script.wrapped and line0 == 0:
            column0 = max(column0 - len(CJS_WRAPPER), 0)
        hit = script.map.lookup(line0, column0)
        if hit is not None:
            source = original_source(script, hit.source, project)
            mapped, package = classify(source.shown, source.path)
            generated = f"{_shown(local_file(url), url, project)}:{line}:{column}"
            return SourceLocation(_shown(source.path, source.shown, project), hit.line + 1, hit.column + 1,
                                  origin=mapped, package=package, generated=generated, via="source map")
    path = local_file(url)
    if url.startswith("node:") or (path is None and not url.startswith(("file:", "/")) and script is None):
        origin: CodeOrigin = "node" if url.startswith("node:") or not url else "library"
        return SourceLocation(url or "(native)", line, column, origin=origin)
    whose, package = classify(url if path is None else str(path), path)
    return SourceLocation(display_file(url, project), line, column, origin=whose, package=package)


def source_location(url: str, line: int, column: int, project: Path | None) -> SourceLocation:
    """A 1-based position in a script as the developer knows it: mapped to the original source
    when the script has a map, its file shown relative to the project."""
    return resolve(url, line, column, project)


def original_text(loc: SourceLocation, url: str, project: Path | None) -> str | None:
    """The text of the file a resolved location names (on disk, else the map's sourcesContent)."""
    if project is not None and not loc.file.startswith("/"):
        text = read_text(project / loc.file)
        if text is not None:
            return text
    if loc.file.startswith("/"):
        text = read_text(Path(loc.file))
        if text is not None:
            return text
    script = find_script(url, project)
    if script is None or script.map is None:
        return None
    for i in range(len(script.map.sources)):
        source = original_source(script, i, project)
        if _shown(source.path, source.shown, project) == loc.file and source.text is not None:
            return source.text
    return None


def find_in_text(text: str, pattern: re.Pattern[str]) -> tuple[int, int, str] | None:
    """(line, column, line text) of the first match in a text, 1-based."""
    m = pattern.search(text)
    if m is None:
        return None
    line = text.count("\n", 0, m.start()) + 1
    column = m.start() - (text.rfind("\n", 0, m.start()) + 1) + 1
    return line, column, text.splitlines()[line - 1].strip()


def search_script(
    url: str, pattern: re.Pattern[str], project: Path | None, prefer: set[str] | None = None, most: int = 200
) -> tuple[SourceLocation, str] | None:
    """A match of `pattern` in the code V8 ran (a file, or a bundle's script), mapped to its
    original place; with several matches in mapped code, the first that lands in one of the
    `prefer` files, else the first in the app's code. The text is the original line."""
    script = find_script(url, project)
    code = script.code if script is not None else None
    if code is None:
        return None
    first: tuple[SourceLocation, str] | None = None
    for k, m in enumerate(pattern.finditer(code)):
        if k >= most:
            break
        line = code.count("\n", 0, m.start()) + 1
        column = m.start() - (code.rfind("\n", 0, m.start()) + 1) + 1
        if script is not None and script.wrapped and line == 1:
            column += len(CJS_WRAPPER)
        place = resolve(url, line, column, project)
        text = original_text(place, url, project) if place.generated else code
        lines = text.splitlines() if text else []
        shown = lines[place.line - 1].strip() if 0 < place.line <= len(lines) else m.group(0)
        if not place.generated:
            return place, shown
        if prefer and place.file in prefer:
            return place, shown
        if first is None and place.origin == "app":
            first = (place, shown)
    return first


def find_declaration(url: str, name: str, project: Path | None) -> tuple[SourceLocation, str] | None:
    """Where a script declares a variable (`const bus =`, `,g=` in minified code, `function f(`),
    mapped to the original place, with the name the original code gives it (a source map's
    `names`, else the identifier at the original position, else `name`)."""
    script = find_script(url, project)
    if script is None or script.code is None or not re.fullmatch(r"[A-Za-z_$][\w$]*", name):
        return None
    pattern = re.compile(
        rf"(?:\b(?:const|let|var|function\*?|class)\s+|[,;]\s*)(?P<name>{re.escape(name)})(?![\w$])\s*(?:=(?!=)|\(|\{{)"
    )
    fallback: tuple[SourceLocation, str] | None = None
    for m in pattern.finditer(script.code):
        at = m.start("name")
        line = script.code.count("\n", 0, at) + 1
        column = at - (script.code.rfind("\n", 0, at) + 1) + 1
        generated_column = column + (len(CJS_WRAPPER) if script.wrapped and line == 1 else 0)
        place = resolve(url, line, generated_column, project)
        original = _original_name(script, line, column) or _identifier_at(place, url, project) or name
        if column == 1 or not script.map:  # a top-level declaration of unminified output
            return place, original
        if fallback is None:
            fallback = (place, original)
    return fallback


def top_level(place: SourceLocation, url: str, project: Path | None) -> bool:
    """The original line of a place starts at column 1 (a module's top level, not a function's)."""
    text = original_text(place, url, project)
    lines = text.splitlines() if text else []
    if not 0 < place.line <= len(lines):
        return True
    line = lines[place.line - 1]
    return not line[:1].isspace() and not line.startswith("}")


def _original_name(script: Script, line: int, column: int) -> str | None:
    if script.map is None:
        return None
    hit = script.map.lookup(line - 1, column - 1)
    return hit.name if hit is not None else None


def _identifier_at(place: SourceLocation, url: str, project: Path | None) -> str | None:
    text = original_text(place, url, project)
    if text is None:
        return None
    lines = text.splitlines()
    if not 0 < place.line <= len(lines):
        return None
    m = re.match(r"[A-Za-z_$][\w$]*", lines[place.line - 1][place.column - 1 :])
    return m.group(0) if m else None


def find_after(text: str, pattern: re.Pattern[str], line: int, within: int = 200) -> tuple[int, int, str] | None:
    """(line, column, line text) of the first match of `pattern` at or after a 1-based line,
    within `within` lines; for the exact call inside a function we only know the start of."""
    lines = text.splitlines()
    for k in range(max(line - 1, 0), min(len(lines), line - 1 + within)):
        m = pattern.search(lines[k])
        if m:
            return k + 1, m.start() + 1, lines[k].strip()
    return None


def with_role(loc: SourceLocation, role: LocationRole, via: LocationVia | None = None) -> SourceLocation:
    """The same place, saying what the code there does for the culprit (and how we know)."""
    return replace(loc, role=role, via=via or loc.via)
