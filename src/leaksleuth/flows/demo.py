"""The bundled leaky SSR app (demo/ssr-app): where it is, and how to start it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from leaksleuth.errors import TargetError
from leaksleuth.live.discover import free_port
from leaksleuth.options import HuntSpec, Launch, ProtocolSpec

DEFAULT_LEAKS = "bus,interval,stats,lazy"
# The demo's plan. A snapshot costs V8 time in proportion to the objects on the heap (~3 µs
# each here, ~1,000 objects per request of the default leaks), so every request sent before the
# snapshots makes all three slower: the default first round (1 s of load, ~650 requests) put
# 28 MB on the heap before any. A 0.15 s first round (~110 requests), a 100-request warm-up (the
# one-time costs, the lazy 20 MB table included, come with the first request) and 5 rounds
# measure the same leaks with the same verdict (rounds shrink to ~3 MB of growth anyway once a
# big leak is seen; a clean app keeps short rounds until it is decided): the snapshots start at
# ~50 MB of heap instead of ~84 MB, and take 3 s each instead of 7–8 s. Without a per-request
# leak (the control, `lazy` alone) no snapshot follows: the default plan, whose 1 s rounds give
# a clean app its ±50 B/request interval (short rounds leave it a few hundred bytes off zero).
DEMO_WARMUP_REQUESTS = 100
DEMO_ROUND_SECONDS = 0.15
DEMO_MIN_ROUNDS = 5


def demo_dir() -> Path:
    """demo/ssr-app of this checkout (or $LEAKSLEUTH_DEMO_DIR)."""
    override = os.environ.get("LEAKSLEUTH_DEMO_DIR")
    here = Path(override) if override else Path(__file__).resolve().parents[3] / "demo" / "ssr-app"
    if not (here / "server.js").is_file():
        raise TargetError(f"the demo app is not at {here} (set LEAKSLEUTH_DEMO_DIR)")
    return here


def ensure_installed(folder: Path) -> None:
    """`npm ci` once, if node_modules is missing."""
    if (folder / "node_modules" / "vue").is_dir():
        return
    try:
        subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=folder, check=True)
    except (OSError, subprocess.CalledProcessError) as exc:
        raise TargetError(f"npm ci failed in {folder}: {exc}") from exc


def demo_launch(leaks: str = DEFAULT_LEAKS, egg: bool = False, port: int | None = None) -> Launch:
    """The demo app (installed first if needed) on a free port, with these leaks switched on."""
    folder = demo_dir()
    ensure_installed(folder)
    port = port or free_port()
    return Launch(
        ["node", "egg-server.js" if egg else "server.js"], cwd=folder,
        env={"PORT": str(port), "LEAKS": leaks}, ready_timeout=60.0,
    )


def demo_protocol(leaks: str = DEFAULT_LEAKS) -> ProtocolSpec:
    """How `leaksleuth demo` measures these leaks (see DEMO_WARMUP_REQUESTS)."""
    per_request = {name.strip() for name in leaks.split(",")} - {"", "none", "lazy"}
    if not per_request:
        return ProtocolSpec()
    return ProtocolSpec(warmup_requests=DEMO_WARMUP_REQUESTS, round_seconds=DEMO_ROUND_SECONDS, min_rounds=DEMO_MIN_ROUNDS)


def demo_hunt_spec(keep_dir: Path | None = None) -> HuntSpec:
    return HuntSpec(keep_dir=keep_dir)


def demo_url(launch: Launch) -> str:
    return f"http://127.0.0.1:{launch.env['PORT']}/"
