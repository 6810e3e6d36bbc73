from __future__ import annotations

import os
import shutil
from pathlib import Path

import psutil
import pytest

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "demo" / "ssr-app"
SYNTHETIC = ROOT / "demo" / "synthetic" / "server.js"


@pytest.fixture(scope="session")
def node() -> str:
    path = shutil.which("node")
    assert path, "node is required for the integration tests"
    return path


@pytest.fixture(scope="session")
def demo_dir() -> Path:
    assert (DEMO / "node_modules" / "vue").is_dir(), "run `make test` (it runs npm ci in demo/ssr-app)"
    return DEMO


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def node_processes_with(marker: str) -> list[psutil.Process]:
    """Node processes whose environment or command line carries `marker` (leftover check)."""
    found = []
    for p in psutil.process_iter(["cmdline", "name"]):
        try:
            if marker in " ".join(p.info["cmdline"] or []) or marker in p.environ().get("LEAKSLEUTH_TEST_MARK", ""):
                found.append(p)
        except psutil.Error:
            continue
    return found


@pytest.fixture
def mark() -> str:
    """A unique marker put in the target's environment, to find leftovers after a test."""
    return f"ls-{os.getpid()}-{os.urandom(4).hex()}"
