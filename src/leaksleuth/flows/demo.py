"""The bundled leaky SSR app (demo/ssr-app): where it is, and how to start it."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from leaksleuth.errors import TargetError

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


def demo_command(egg: bool) -> list[str]:
    return ["node", "egg-server.js" if egg else "server.js"]
