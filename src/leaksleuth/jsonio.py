"""The one JSON writer: JSON has no Infinity, so unbounded interval ends become null."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from leaksleuth.errors import UsageError


def finite(value: Any) -> Any:
    """`value` with every non-finite float replaced by None (tuples become lists)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {k: finite(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [finite(v) for v in value]
    return value


def dumps(data: Any, indent: int | None = None) -> str:
    return json.dumps(finite(data), indent=indent)


def write_json(path: Path | None, data: dict[str, Any]) -> None:
    """Write `data` to `path` (nothing when `path` is None); a failure is one UsageError line."""
    if path is None:
        return
    try:
        path.write_text(dumps(data, indent=2))
    except OSError as exc:
        raise UsageError(f"cannot write {path}: {exc.strerror}") from exc
