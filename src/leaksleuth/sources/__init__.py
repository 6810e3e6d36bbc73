"""From what V8 names (script URLs, positions) to the files and lines a developer opens."""

from leaksleuth.sources.files import (
    display_file,
    find_in_source,
    local_file,
    source_location,
    user_code,
)

__all__ = ["display_file", "find_in_source", "local_file", "source_location", "user_code"]
