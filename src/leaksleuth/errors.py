"""Errors leaksleuth raises on purpose. The CLI turns each into one line and an exit code.

    LeakSleuthError                 root; exit code 3 ("usage or target error")
    ├── UsageError                  bad arguments or config
    ├── TargetError                 the Node target: not found, not Node, crashed, never ready
    │   └── TargetExited            the target ended mid-run (carries the partial result)
    │   └── MetricsError            a metrics endpoint: unreachable, not Prometheus text, metrics missing
    ├── InspectorError              the DevTools protocol session failed
    ├── PrometheusError             a Prometheus server: unreachable, not its HTTP API, a query refused
    ├── SnapshotError               a .heapsnapshot file is truncated, corrupt or unsupported
    └── HeadroomError               a heap snapshot could push the target over its memory limit

    Interrupted (a KeyboardInterrupt) a signal stopped the run: SIGINT, SIGTERM, SIGHUP (exit 128 + n)
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


class MetricsError(TargetError):
    """A service's metrics endpoint could not be read or lacks the metrics we need."""


class PrometheusError(LeakSleuthError):
    """A Prometheus-compatible server could not be queried (or matched nothing)."""


class InspectorError(LeakSleuthError):
    """The Chrome DevTools Protocol session failed."""


class SnapshotError(LeakSleuthError):
    """A heap snapshot file cannot be read."""


class HeadroomError(LeakSleuthError):
    """Taking a heap snapshot could push the target over its memory limit."""


class Interrupted(KeyboardInterrupt):
    """A run stopped by a signal: SIGINT (Ctrl-C), SIGTERM or SIGHUP. Like KeyboardInterrupt (and
    unlike LeakSleuthError) it unwinds everything, so every clean-up runs on the way out; the CLI
    exits with 128 + `signum`. `partial` holds what was measured before, if anything."""

    def __init__(self, signum: int, partial: Any = None) -> None:
        super().__init__(signum)
        self.signum = signum
        self.partial = partial


_PARTIAL = "leaksleuth_partial"


def keep_partial(exc: BaseException, partial: Any, *, overwrite: bool = False) -> None:
    """Attach what was measured so far to the exception that unwinds a run (a cancellation);
    the innermost (first) one stays unless `overwrite`."""
    if partial is not None and (overwrite or partial_of(exc) is None):
        setattr(exc, _PARTIAL, partial)


def partial_of(exc: BaseException) -> Any:
    """What `keep_partial` attached to `exc` (or a TargetExited's / Interrupted's partial)."""
    if isinstance(exc, (TargetExited, Interrupted)):
        return exc.partial
    return getattr(exc, _PARTIAL, None)
