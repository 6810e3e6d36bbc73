"""Errors leaksleuth raises on purpose. The CLI turns each into one line and an exit code.

    LeakSleuthError                 root; exit code 3 ("usage or target error")
    ├── UsageError                  bad arguments or config
    ├── TargetError                 the Node target: not found, not Node, crashed, never ready
    │   └── TargetExited            the target ended mid-run (carries the partial result)
    ├── InspectorError              the DevTools protocol session failed
    ├── SnapshotError               a .heapsnapshot file is truncated, corrupt or unsupported
    └── HeadroomError               a heap snapshot could push the target over its memory limit
"""

from __future__ import annotations

from typing import Any


class LeakSleuthError(Exception):
    """Root of every error leaksleuth reports to the user as a one-line message."""

    exit_code = 3


class UsageError(LeakSleuthError):
    """Bad command-line arguments or configuration."""


class TargetError(LeakSleuthError):
    """The Node target could not be started, found, reached or kept alive."""


class TargetExited(TargetError):
    """The target exited or was killed mid-run; `partial` holds what was gathered so far."""

    def __init__(self, message: str, partial: Any = None) -> None:
        super().__init__(message)
        self.partial = partial


class InspectorError(LeakSleuthError):
    """The Chrome DevTools Protocol session failed."""


class SnapshotError(LeakSleuthError):
    """A heap snapshot file cannot be read."""


class HeadroomError(LeakSleuthError):
    """Taking a heap snapshot could push the target over its memory limit."""
