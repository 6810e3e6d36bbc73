"""Shared pieces of the integration tests: run the demo app, run the CLI as a user would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from tests.conftest import DEMO, free_port

PY = sys.executable


def demo_env(leaks: str, port: int, mark: str = "") -> dict[str, str]:
    return {"PORT": str(port), "LEAKS": leaks, "LEAKSLEUTH_TEST_MARK": mark}


def ground_truth(leaks: str, requests: int = 400, rounds: int = 8) -> dict[str, float]:
    """bytes/request from the demo's own `node --expose-gc` harness (independent of us)."""
    out = subprocess.run(
        ["node", "--expose-gc", "harness/ground-truth.js", "--leaks", leaks, "--warmup", "100",
         "--requests", str(requests), "--rounds", str(rounds)],
        cwd=DEMO, capture_output=True, text=True, timeout=300, check=True,
    )
    line = [x for x in out.stdout.splitlines() if x.strip().startswith("{")][-1]
    return json.loads(line)  # type: ignore[no-any-return]


def run_cli(*args: str, timeout: float = 300, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = dict(os.environ)
    full_env.update(env or {})
    return subprocess.run(  # noqa: PLW1510 - the tests read the exit code
        [PY, "-m", "leaksleuth.cli", *args], capture_output=True, text=True, timeout=timeout, env=full_env,
        cwd=Path(__file__).resolve().parents[2],
    )


def url(port: int) -> str:
    return f"http://127.0.0.1:{port}/"


__all__ = ["DEMO", "demo_env", "free_port", "ground_truth", "run_cli", "url"]


def wait_until(condition: Callable[[], bool], timeout: float = 10.0, every: float = 0.05) -> bool:
    """Poll `condition` until it holds or `timeout` passes; its last value."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(every)
    return True
