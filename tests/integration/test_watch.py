"""`watch` on a process whose heap grows on its own: trend, time to the limit, snapshot before OOM."""

from __future__ import annotations

import json

import pytest

from leaksleuth.heap.parse import load_snapshot
from tests.integration.helpers import free_port, run_cli, url

pytestmark = pytest.mark.integration

GROWING = """
const http = require('http');
const keep = [];
// about 5 MB a second of small objects, for ever (the 128 MB old space lasts well over 8 s)
setInterval(() => { for (let i = 0; i < 2000; i++) keep.push({ i, s: 'x'.repeat(40) + i }); }, 50);
http.createServer((q, s) => s.end('ok')).listen(+process.env.PORT, '127.0.0.1');
"""


def test_watch_reports_the_trend_and_snapshots_before_the_limit(tmp_path):
    script = tmp_path / "grow.js"
    script.write_text(GROWING)
    port = free_port()
    out = tmp_path / "watch.json"
    shots = tmp_path / "shots"
    result = run_cli(
        "watch", "--url", url(port), "--interval", "0.5", "--duration", "8", "--snapshot-at", "0.1",
        "--snapshot-dir", str(shots), "--json", str(out), "--",
        "node", "--max-old-space-size=128", str(script), env={"PORT": str(port)}, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    points = json.loads(out.read_text())["points"]
    assert len(points) >= 8
    last = points[-1]
    assert 1e6 < last["bytes_per_second"] < 2e7, last  # it grows ~3-6 MB/s
    assert last["seconds_to_limit"] is not None and 0 < last["seconds_to_limit"] < 120
    taken = [p["snapshot"] for p in points if p["snapshot"]]
    assert len(taken) == 1, "one snapshot, when the heap passed 10% of its limit"
    assert load_snapshot(taken[0]).node_count > 10_000
    assert "secrets" in result.stdout or "tokens" in result.stdout


def test_watch_says_when_the_process_dies_and_keeps_the_readings(tmp_path):
    script = tmp_path / "dies.js"
    script.write_text("require('http').createServer((q, s) => s.end()).listen(+process.env.PORT, '127.0.0.1');\n"
                      "setTimeout(() => process.exit(1), 2500);\n")
    port = free_port()
    out = tmp_path / "watch.json"
    result = run_cli("watch", "--url", url(port), "--interval", "0.5", "--json", str(out), "--", "node", str(script),
                     env={"PORT": str(port)}, timeout=60)
    assert result.returncode == 3 and "every watched process is gone" in result.stderr
    assert "process lost" in result.stdout
    points = json.loads(out.read_text())["points"]
    assert len(points) >= 3 and all(p["heap_used"] > 0 for p in points)
