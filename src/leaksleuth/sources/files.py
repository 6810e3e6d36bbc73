"""Script URLs as V8 names them → local files, shown relative to the project; reading them."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

MAX_SOURCE_BYTES = 4 << 20


def local_file(url: str) -> Path | None:
    """The file behind a `file://` URL or an absolute path; None for anything else."""
    if url.startswith("file://"):
        return Path(unquote(urlsplit(url).path))
    if url.startswith("/"):
        return Path(url)
    return None


def user_code(url: str) -> bool:
    """The app's own code: a local file, not Node's internals, not an installed package."""
    return bool(url) and not url.startswith("node:") and "/node_modules/" not in url and local_file(url) is not None


def display_file(url: str, project: Path | None) -> str:
    """A script URL or path, relative to the project when inside it."""
    path = local_file(url)
    if path is None:
        return url
    if project is not None:
        try:
            return str(path.resolve().relative_to(project.resolve()))
        except ValueError:
            pass
    return str(path)


def find_in_source(path: Path, pattern: re.Pattern[str]) -> tuple[int, int, str] | None:
    """(line, column, line text) of the first match in a local script, 1-based."""
    try:
        if path.stat().st_size > MAX_SOURCE_BYTES:
            return None
        text = path.read_text(errors="replace")
    except OSError:
        return None
    m = pattern.search(text)
    if m is None:
        return None
    line = text.count("\n", 0, m.start()) + 1
    column = m.start() - (text.rfind("\n", 0, m.start()) + 1) + 1
    return line, column, text.splitlines()[line - 1].strip()
