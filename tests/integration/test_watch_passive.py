"""`watch --metrics` (no inspector) and `watch --pid --passive` (no forced GC) on real Node
services under steady traffic: a slow leak is found, a sawtooth-heavy clean service stays quiet;
`--serve` exposes the verdict for Prometheus; a process in a memory-limited cgroup is judged
against that limit, and its OOM kill is reported as such."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import ROOT, free_port
from tests.integration.fleet_env import Procs, fixture_ready, http_get, start_service, start_traffic
from tests.integration.helpers import wait_until

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not fixture_ready(), reason="run `make test`: it installs the fixture's prom-client"),
]

DURATION = 65  # seconds of watching: a 2 KB/request leak is called after ~50 s (6 major GCs)
LEAK_LINE = "service.js:26"  # function handle(): the allocating function, as the sampling profiler names it


def watch(folder: Path, name: str, *args: str) -> subprocess.Popen[str]:
    out = open(folder / f"{name}.out", "w")  # noqa: SIM115 - the child writes it
    return subprocess.Popen(
        [sys.executable, "-m", "leaksleuth.cli", "watch", "--interval", "0.5", "--window", "200",
         "--duration", str(DURATION), "--json", str(folder / f"{name}.json"), *args],
        cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, text=True,
    )


def printed(folder: Path, name: str) -> str:
    return (folder / f"{name}.out").read_text()


def test_metrics_and_passive_find_a_slow_leak_and_stay_quiet_on_a_sawtooth(tmp_path):
    procs = Procs()
    try:
        clean_port, leak_port, serve_port = free_port(), free_port(), free_port()
        # both saw-tooth hard: 200 KB per request kept 2 s (old-generation garbage, major GCs)
        clean = start_service(procs, clean_port, {"GARBAGE_BYTES": "200000"})
        leaky = start_service(procs, leak_port, {"GARBAGE_BYTES": "200000", "LEAK_BYTES": "2048"})
        start_traffic(procs, [f"http://127.0.0.1:{clean_port}/", f"http://127.0.0.1:{leak_port}/"], 200,
                      DURATION + 20, tmp_path / "traffic.json")
        time.sleep(5)  # warm
        runs = {}
        # one attach at a time: SIGUSR1 opens each inspector on 9229 before it is moved
        runs["leak-passive"] = watch(tmp_path, "leak-passive", "--pid", str(leaky.pid), "--passive", "--spacing", "3")
        assert wait_until(lambda: "heap" in printed(tmp_path, "leak-passive"), timeout=15)
        runs["clean-passive"] = watch(tmp_path, "clean-passive", "--pid", str(clean.pid), "--passive")
        assert wait_until(lambda: "heap" in printed(tmp_path, "clean-passive"), timeout=15)
        runs["leak-metrics"] = watch(tmp_path, "leak-metrics", "--metrics", f"http://127.0.0.1:{leak_port}/metrics",
                                     "--serve", f"127.0.0.1:{serve_port}")
        runs["clean-metrics"] = watch(tmp_path, "clean-metrics", "--metrics",
                                      f"http://127.0.0.1:{clean_port}/metrics")
        exposed: list[str] = []

        def served_leak() -> bool:
            with contextlib.suppress(OSError):
                exposed[:] = [http_get(f"http://127.0.0.1:{serve_port}/metrics")]
            return bool(exposed) and 'verdict="leak"} 1.0' in exposed[0]

        wait_until(served_leak, timeout=DURATION + 5, every=1.0)
        for r in runs.values():
            r.wait(timeout=DURATION + 60)
    finally:
        procs.stop_all()

    docs = {k: json.loads((tmp_path / f"{k}.json").read_text()) for k in runs}
    for name, doc in docs.items():
        assert runs[name].returncode == 0, printed(tmp_path, name)
        (proc,) = doc["processes"]
        assert proc["forced_gcs"] == 0, name  # neither mode ever forces a GC
        said = {p["verdict"] for p in doc["points"]}
        if name.startswith("clean"):
            assert "leak" not in said, f"false alarm in {name}: {printed(tmp_path, name)[-2000:]}"
        else:
            assert proc["verdict"] == "leak", f"{name}: {printed(tmp_path, name)[-2000:]}"

    metrics = docs["leak-metrics"]["processes"][0]
    assert metrics["source"] == "metrics" and 1000 < metrics["bytes_per_request"] < 4000  # 2 KB + overhead
    assert metrics["ci95_unit"] == "bytes/request"
    passive = docs["leak-passive"]["processes"][0]
    assert passive["source"] == "passive" and passive["bytes_per_request"] is None
    first = next(p["time"] for p in docs["leak-passive"]["points"] if p["verdict"] == "leak")
    if first < DURATION - 10:  # sampling needs two profiles 3 s apart: named where the leak allocates
        sites = [s for c in passive["captures"] for s in c["sites"]]
        assert any(LEAK_LINE in s["location"] for s in sites), passive["captures"]
    assert exposed and "leaksleuth_leak_bytes_per_request" in exposed[0], exposed
    assert 'leaksleuth_forced_gcs_total{pid=' in exposed[0]


def memory_cgroup_root() -> Path | None:
    """Our own v1 memory cgroup (where a child group can be made), if writable."""
    try:
        line = next(x for x in Path("/proc/self/cgroup").read_text().splitlines() if ":memory:" in x)
    except (OSError, StopIteration):
        return None
    base = Path("/sys/fs/cgroup/memory") / line.split(":", 2)[2].lstrip("/")
    return base if os.access(base, os.W_OK) else None


@pytest.mark.skipif(memory_cgroup_root() is None, reason="needs a writable cgroup v1 memory controller (root)")
def test_time_to_oom_is_against_the_cgroup_limit_and_an_oom_kill_is_reported(tmp_path):
    root = memory_cgroup_root()
    assert root is not None
    group = root / f"leaksleuth-test-{os.getpid()}-{os.urandom(3).hex()}"
    group.mkdir()
    limit = 160 << 20
    procs = Procs()
    try:
        (group / "memory.limit_in_bytes").write_text(str(limit))
        port = free_port()
        # Buffers kept per request: RSS climbs towards the cgroup's limit long before V8's heap limit
        service = start_service(procs, port, {"EXTERNAL_BYTES": "100000"})
        (group / "cgroup.procs").write_text(str(service.pid))
        start_traffic(procs, [f"http://127.0.0.1:{port}/"], 100, 40, tmp_path / "traffic.json")
        out = tmp_path / "oom.json"
        result = subprocess.run(
            [sys.executable, "-m", "leaksleuth.cli", "watch", "--metrics", f"http://127.0.0.1:{port}/metrics",
             "--interval", "0.5", "--duration", "40", "--json", str(out)],
            cwd=ROOT, capture_output=True, text=True, timeout=120, check=False,
        )
    finally:
        procs.stop_all()
        wait_until(lambda: not (group / "cgroup.procs").read_text().strip(), timeout=10)
        group.rmdir()
    doc = json.loads(out.read_text())
    alive = [p for p in doc["points"] if not p["lost"]]
    forecasts = [p["forecast"] for p in alive if p["forecast"] and p["forecast"]["seconds"] is not None]
    assert forecasts, result.stdout
    last = forecasts[-1]
    assert last["limit_kind"] == "cgroup" and last["limit_bytes"] == limit, last
    assert 0 < last["seconds"] < 60
    assert alive[-1]["cgroup"]["version"] == 1 and alive[-1]["cgroup"]["limit"] == limit
    (proc,) = doc["processes"]
    assert proc["lost"] and proc["oom_killed"] and proc["oom_kills"] >= 1, result.stdout
    assert "OOM-killed" in result.stdout
    assert result.returncode == 3 and "every watched process is gone" in result.stderr
