"""From what V8 names (script URLs, positions) to the files and lines a developer opens: local
files, source maps (`maps`), bundles and vm scripts mapped to the original file:line:col
(`resolve`)."""

from leaksleuth.sources.files import (
    display_file,
    find_in_source,
    local_file,
    user_code,
)
from leaksleuth.sources.resolve import (
    find_after,
    find_declaration,
    find_in_text,
    find_script,
    original_text,
    resolve,
    search_script,
    source_location,
    top_level,
    with_role,
)

__all__ = [
    "display_file",
    "find_after",
    "find_declaration",
    "find_in_source",
    "find_in_text",
    "find_script",
    "local_file",
    "original_text",
    "resolve",
    "search_script",
    "source_location",
    "top_level",
    "user_code",
    "with_role",
]
