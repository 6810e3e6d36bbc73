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
