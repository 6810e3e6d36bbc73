"""Human units for bytes and rates."""

from __future__ import annotations

import math


def fmt_bytes(n: float, signed: bool = False) -> str:
    """1536 -> '1.5 KB' (powers of 1024, as DevTools and `ps` do)."""
    if math.isinf(n):
        return "∞" if n > 0 else "-∞"
    sign = "-" if n < 0 else ("+" if signed and n > 0 else "")
    v = abs(n)
    for unit in ("B", "KB", "MB", "GB"):
        if v < 1024 or unit == "GB":
            return f"{sign}{v:.0f} {unit}" if unit == "B" else f"{sign}{v:.1f} {unit}"
        v /= 1024
    raise AssertionError("unreachable")


def fmt_duration(seconds: float | None) -> str:
    """120 -> '2 min'; None -> 'not growing' (no time to a limit)."""
    if seconds is None:
        return "not growing"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def join_steps(steps: list[str]) -> str:
    """Glue property steps to their object and the rest with arrows:
    `$bus._events.toggleAsideMenu[] → bound toggleAsideMenu()`."""
    parts: list[str] = []
    for s in steps:
        if parts and s.startswith((".", "[", "::")):
            parts[-1] += s
        else:
            parts.append(s)
    return " → ".join(parts)
