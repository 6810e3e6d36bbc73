"""The bundled leaky SSR app (demo/ssr-app): where it is, and how to start it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from leaksleuth.errors import TargetError
from leaksleuth.live.discover import free_port
from leaksleuth.options import Launch

DEFAULT_LEAKS = "bus,interval,stats,lazy"


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


def demo_url(launch: Launch) -> str:
    return f"http://127.0.0.1:{launch.env['PORT']}/"
