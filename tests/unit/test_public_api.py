"""The public face: `import leaksleuth` gives the documented API, listed once and sorted."""

from __future__ import annotations

import inspect
from importlib.metadata import version

import leaksleuth

DOCUMENTED = {
    "measure", "measure_async", "hunt", "hunt_async", "watch", "watch_async", "snapshot", "snapshot_async",
    "load_snapshot", "find_culprits", "Launch", "Attach", "LoadSpec", "ProtocolSpec", "HuntSpec", "WatchSpec",
    "Measurement", "HuntResult", "Culprit", "SourceLocation", "WatchPoint", "LeakSleuthError",
}


def test_all_is_sorted_complete_and_documented():
    assert leaksleuth.__all__ == sorted(leaksleuth.__all__)
    assert all(hasattr(leaksleuth, name) for name in leaksleuth.__all__)
    assert set(leaksleuth.__all__) >= DOCUMENTED
    public = {n for n in dir(leaksleuth) if not n.startswith("_") and not inspect.ismodule(getattr(leaksleuth, n))}
    assert public <= set(leaksleuth.__all__)


def test_every_live_call_has_an_async_twin():
    for name in ("measure", "hunt", "watch", "snapshot"):
        sync, twin = getattr(leaksleuth, name), getattr(leaksleuth, f"{name}_async")
        assert inspect.iscoroutinefunction(twin) and not inspect.iscoroutinefunction(sync)
        assert list(inspect.signature(sync).parameters) == list(inspect.signature(twin).parameters)


def test_version_comes_from_the_installed_metadata():
    assert leaksleuth.__version__ == version("leaksleuth")
