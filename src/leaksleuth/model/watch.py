"""Watch facts: one reading of one process over time, with its trend and time to the limit."""

from __future__ import annotations

from dataclasses import dataclass

from leaksleuth.model.measurement import Role


@dataclass(frozen=True)
class WatchPoint:
    pid: int
    role: Role
    time: float
    heap_used: int
    rss: int
    heap_limit: int
    bytes_per_second: float  # heap trend over the window (0 until 3 readings)
    seconds_to_limit: float | None  # at that trend; None when not growing
    snapshot: str | None = None  # a snapshot written at this point
    snapshot_refused: str | None = None  # why a snapshot due here was not taken
    lost: bool = False  # the process is gone (this point only says so)
