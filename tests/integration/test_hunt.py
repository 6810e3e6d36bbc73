"""Culprits on the real demo app: the right property, the right line, each leak its share."""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
from pathlib import Path

import pytest

import leaksleuth
from leaksleuth import Attach, HuntResult, Launch
from leaksleuth.options import HuntSpec, LoadSpec, ProtocolSpec
from tests.conftest import DEMO
from tests.integration.helpers import demo_env, free_port, run_cli, url

pytestmark = pytest.mark.integration

SPEC = ProtocolSpec(warmup_requests=200, min_rounds=5, max_rounds=12, time_budget=30)


def hunt_demo(leaks: str, always: bool = False) -> HuntResult:
    port = free_port()
    return leaksleuth.hunt(Launch(["node", "server.js"], cwd=DEMO, env=demo_env(leaks, port), ready_timeout=60),
                           LoadSpec((url(port),)), SPEC, HuntSpec(requests_between=150, always_snapshot=always))


def line_of(relative: str, needle: str) -> int:
    lines = (DEMO / relative).read_text().splitlines()
    return next(i for i, text in enumerate(lines, 1) if needle in text)


def test_bus_culprit_names_the_event_and_the_on_line(demo_dir):
    report = hunt_demo("bus")
    first = report.culprits[0]
    text = " ".join(first.path)
    assert "._events" in first.path and ".toggleAsideMenu" in first.path, text
    assert first.kind == "listener"
    assert "AsideMenu" in first.constructor and first.objects_per_request == pytest.approx(1.0, abs=0.15)
    on_line = line_of("src/components/AsideMenu.js", "this.$bus.$on('toggleAsideMenu'")
    assert first.location is not None and (first.location.file, first.location.line) == ("src/components/AsideMenu.js", on_line)
    assert report.measurement is not None
    assert first.bytes_per_request == pytest.approx(report.measurement.bytes_per_request, rel=0.25)


def test_interval_culprit_is_a_timer_at_the_set_interval_callback(demo_dir):
    report = hunt_demo("interval")
    timers = [c for c in report.culprits if c.kind == "timer"]
    assert timers, [c.to_json() for c in report.culprits]
    t = timers[0]
    assert t.objects_per_request == pytest.approx(1.0, abs=0.15)
    line = line_of("src/components/NotificationBell.js", "setInterval(")
    assert t.location is not None and (t.location.file, t.location.line) == ("src/components/NotificationBell.js", line)
    assert any("pollNotifications" in s for s in t.path)


def test_stats_culprit_is_the_growing_map_in_the_middleware(demo_dir):
    report = hunt_demo("stats")
    maps = [c for c in report.culprits if c.kind == "collection" and "requestStats" in " ".join(c.path)]
    assert maps, [c.to_json() for c in report.culprits]
    line = line_of("src/middleware/stats.js", "requestStats.set(")
    assert maps[0].location is not None and (maps[0].location.file, maps[0].location.line) == ("src/middleware/stats.js", line)
    assert maps[0].objects_per_request == pytest.approx(1.0, abs=0.15)


def test_several_leaks_at_once_are_each_found_with_their_own_share(demo_dir):
    report = hunt_demo("bus,interval,stats")
    kinds = {c.kind: c for c in report.culprits}
    assert {"listener", "timer", "collection"} <= set(kinds), [c.to_json() for c in report.culprits]
    bus, stats = kinds["listener"], kinds["collection"]
    assert bus.rank < stats.rank and bus.bytes_per_request > stats.bytes_per_request > 500
    total = sum(c.bytes_per_request for c in report.culprits)
    assert report.measurement is not None
    assert total == pytest.approx(report.measurement.bytes_per_request, rel=0.25)


def test_control_and_warmup_module_give_no_culprit(demo_dir):
    for leaks in ("", "lazy"):
        report = hunt_demo(leaks, always=True)
        assert report.measurement is not None and report.measurement.verdict == "no leak"
        assert report.culprits == [], (leaks, [c.to_json() for c in report.culprits])
        assert len(report.snapshot_requests) == 3


DRIVER = """
const v8 = require('v8');
const { render } = require(process.argv[2]);
(async () => {
  let n = 0;
  const run = async (k) => { for (let i = 0; i < k; i++, n++) await render('/?n=' + n); };
  await run(60);  v8.writeHeapSnapshot(process.argv[3] + '/s0.heapsnapshot');
  await run(120); v8.writeHeapSnapshot(process.argv[3] + '/s1.heapsnapshot');
  await run(120); v8.writeHeapSnapshot(process.argv[3] + '/s2.heapsnapshot');
  process.exit(0);
})();
"""


def test_analyze_finds_the_bus_culprit_in_snapshots_written_by_v8(demo_dir, tmp_path):
    driver = tmp_path / "driver.js"
    driver.write_text(DRIVER)
    subprocess.run(["node", str(driver), str(DEMO / "src" / "app.js"), str(tmp_path)], check=True,
                   env={"PATH": "/usr/bin:/bin:/usr/local/bin", "LEAKS": "bus"}, timeout=120)
    out = tmp_path / "culprits.json"
    files = [str(tmp_path / f"s{i}.heapsnapshot") for i in range(3)]
    result = run_cli("analyze", *files, "--requests", "60,180,300", "--project", str(DEMO), "--json", str(out))
    assert result.returncode == 1, result.stderr  # culprits found
    culprits = json.loads(out.read_text())["culprits"]
    first = culprits[0]
    assert "._events" in first["path"] and ".toggleAsideMenu" in first["path"]
    assert re.match(r"src/components/AsideMenu\.js:\d+:\d+", first["location"])
    assert first["objects_per_request"] == pytest.approx(1.0, abs=0.15)


def test_hunt_json_has_the_measurement_and_ranked_culprits(demo_dir, tmp_path):
    port = free_port()
    out = tmp_path / "hunt.json"
    result = run_cli("hunt", "--url", url(port), "--warmup", "200", "--between", "150", "--json", str(out),
                     "--project", str(DEMO), "--", "node", str(DEMO / "server.js"), env=demo_env("stats", port))
    assert result.returncode == 1, result.stderr
    data = json.loads(out.read_text())
    assert data["verdict"] == "leak" and data["requests"] > 0 and data["processes"]
    c = data["culprits"][0]
    assert set(c) >= {"rank", "kind", "bytes_per_request", "objects_per_request", "constructor", "path", "location", "evidence"}
    assert c["rank"] == 1 and isinstance(c["path"], list) and c["evidence"]
    assert Path(out).stat().st_size > 0


def test_egg_agent_leak_is_explained_in_the_agent_process(demo_dir):
    port = free_port()
    report = asyncio.run(
        leaksleuth.hunt_async(Launch(["node", "egg-server.js"], cwd=DEMO, env=demo_env("agent", port) | {"WORKERS": "2"},
                              ready_timeout=60), LoadSpec((url(port),)), SPEC, HuntSpec(requests_between=150))
    )
    assert report.measurement is not None
    agent = next(p for p in report.measurement.processes if p.role == "agent")
    found = [c for c in report.culprits if agent.pid in c.processes]
    assert found, [c.to_json() for c in report.culprits]
    line = line_of("egg/agent.js", "received.push(")
    assert found[0].location is not None and (found[0].location.file, found[0].location.line) == ("egg/agent.js", line)
    assert found[0].objects_per_request == pytest.approx(1.0, abs=0.15)


def test_hunt_attached_by_pid_finds_the_culprit_and_leaves_the_service_running(demo_dir):
    port = free_port()
    server = subprocess.Popen(["node", "server.js"], cwd=DEMO, env={"PATH": "/usr/bin:/bin:/usr/local/bin", **demo_env("bus", port)},
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert server.stdout is not None and "listening" in server.stdout.readline()
        report = leaksleuth.hunt(Attach(server.pid), url(port), SPEC, HuntSpec(requests_between=150), project=DEMO)
        first = report.culprits[0]
        assert ".toggleAsideMenu" in first.path and first.location and first.location.file == "src/components/AsideMenu.js"
        assert server.poll() is None
    finally:
        server.kill()
        server.wait()


def test_production_build_names_the_component_not_the_minified_class(demo_dir):
    port = free_port()
    report = asyncio.run(
        leaksleuth.hunt_async(Launch(["node", "server.js"], cwd=DEMO, env=demo_env("bus", port) | {"NODE_ENV": "production"},
                              ready_timeout=60), LoadSpec((url(port),)), SPEC, HuntSpec(requests_between=150))
    )
    first = report.culprits[0]
    assert "<AsideMenu>" in first.constructor and "VueComponent" not in first.constructor, first.constructor
    assert any("<AsideMenu>" in step for step in first.path)


def test_refused_snapshots_keep_the_measurement_and_say_why(demo_dir, tmp_path):
    port = free_port()
    out = tmp_path / "hunt.json"
    result = run_cli("hunt", "--url", url(port), "--warmup", "200", "--memory-limit", str(64 << 20), "--json", str(out),
                     "--", "node", str(DEMO / "server.js"), env=demo_env("bus", port))
    assert result.returncode == 1, result.stderr  # the leak verdict still stands
    data = json.loads(out.read_text())
    assert data["verdict"] == "leak" and data["culprits"] == []
    assert "no snapshots" in data["snapshots"]["skipped_reason"] and "--force" in data["snapshots"]["skipped_reason"]
    assert "no snapshots" in result.stdout
