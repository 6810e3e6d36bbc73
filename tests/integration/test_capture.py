"""Heap snapshot capture over the inspector: headroom check, streamed file, secrets warning."""

from __future__ import annotations

import asyncio
import stat
import subprocess

import pytest

from leaksleuth.errors import HeadroomError
from leaksleuth.heap.growth import sidecar_script_urls
from leaksleuth.heap.parse import load_snapshot
from leaksleuth.heap.summary import summarize
from leaksleuth.live.capture import SNAPSHOT_COST_FACTOR, capture_snapshot, headroom
from leaksleuth.live.connect import launched
from leaksleuth.live.discover import listening_ports
from leaksleuth.options import Launch
from tests.integration.helpers import free_port, run_cli, url, wait_until

pytestmark = pytest.mark.integration

SERVER = """
const http = require('http');
class Marker { constructor(i) { this.i = i; } }
globalThis.markers = Array.from({length: 1234}, (_, i) => new Marker(i));
http.createServer((q, s) => s.end('ok')).listen(+process.env.PORT, '127.0.0.1');
"""


def _server(tmp_path):
    script = tmp_path / "server.js"
    script.write_text(SERVER)
    return script


def test_capture_streams_a_readable_private_snapshot(tmp_path):
    port = free_port()
    out = tmp_path / "s.heapsnapshot"

    async def run() -> None:
        async with launched(Launch(["node", str(_server(tmp_path))], env={"PORT": str(port)}), port) as opened:
            inspected = opened.inspected
            i = inspected[0]
            seen: list[tuple[int, int]] = []
            await capture_snapshot(i.session, i.process.pid, out, on_progress=lambda d, t: seen.append((d, t)))
            assert seen and seen[-1][0] == seen[-1][1]

    asyncio.run(run())
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    snap = load_snapshot(out, script_urls=sidecar_script_urls(out))
    markers = next(c for c in summarize(snap).constructors if c.name == "Marker")
    assert markers.count == 1234
    assert any(u.endswith("server.js") for u in snap.script_urls.values())
    assert not list(tmp_path.glob("*.part"))


def test_capture_refuses_without_headroom_and_leaves_no_file(tmp_path):
    port = free_port()
    out = tmp_path / "s.heapsnapshot"

    async def run() -> None:
        async with launched(Launch(["node", str(_server(tmp_path))], env={"PORT": str(port)}), port) as opened:
            inspected = opened.inspected
            i = inspected[0]
            room = headroom(i.process.pid, 10 << 20, memory_limit=1 << 30)
            assert room.needed == int(SNAPSHOT_COST_FACTOR * (10 << 20)) == 120 << 20 and room.enough
            with pytest.raises(HeadroomError, match="--force"):
                await capture_snapshot(i.session, i.process.pid, out, memory_limit=60 << 20)  # ~RSS + a little

    asyncio.run(run())
    assert not out.exists()


def test_snapshot_command_attaches_by_pid_and_warns_about_secrets(tmp_path):
    port = free_port()
    server = subprocess.Popen(["node", str(_server(tmp_path))], env={"PORT": str(port), "PATH": "/usr/bin:/bin:/usr/local/bin"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_until(lambda: port in listening_ports(server.pid), timeout=15)
        out = tmp_path / "cli.heapsnapshot"
        result = run_cli("snapshot", "--pid", str(server.pid), "--url", url(port), "-o", str(out))
        assert result.returncode == 0, result.stderr
        assert "secrets" in result.stdout or "tokens" in result.stdout
        assert load_snapshot(out).node_count > 10_000
        refused = run_cli("snapshot", "--pid", str(server.pid), "--url", url(port), "-o", str(tmp_path / "x.heapsnapshot"),
                          "--memory-limit", str(1 << 20))
        assert refused.returncode == 3 and "could be OOM-killed" in refused.stderr
        assert len(refused.stderr.strip().splitlines()) == 1
        assert server.poll() is None
    finally:
        server.kill()
        server.wait()
