"""The measurement protocol on the real demo app (Vue SSR on Express and Egg), end to end."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess

import pytest

import leaksleuth
from leaksleuth import Attach, Launch
from leaksleuth.live.discover import listening_ports
from leaksleuth.options import LoadSpec, ProtocolSpec
from leaksleuth.report.advice import advice
from tests.conftest import DEMO, node_processes_with
from tests.integration.helpers import demo_env, free_port, ground_truth, run_cli, url, wait_until

pytestmark = pytest.mark.integration

SPEC = ProtocolSpec(warmup_requests=300, min_rounds=6, max_rounds=20, time_budget=40)


def measure_demo(leaks: str, spec: ProtocolSpec = SPEC, entry: str = "server.js", extra_env: dict[str, str] | None = None):
    port = free_port()
    env = demo_env(leaks, port) | (extra_env or {})
    return asyncio.run(
        leaksleuth.measure_async(Launch(["node", entry], cwd=DEMO, env=env, ready_timeout=60), LoadSpec((url(port),)), spec)
    )


def test_control_app_has_no_leak(demo_dir):
    m = measure_demo("")
    assert m.verdict == "no leak", advice(m)
    assert abs(m.bytes_per_request) < 2048
    assert m.errors == 0 and m.requests >= 300 + 6 * 50
    assert m.timers_per_request == pytest.approx(0, abs=0.05)


def test_bus_leak_matches_the_expose_gc_ground_truth(demo_dir):
    truth = ground_truth("bus")["bytes_per_request"]
    m = measure_demo("bus")
    assert m.verdict == "leak"
    assert m.bytes_per_request == pytest.approx(truth, rel=0.15), (m.bytes_per_request, truth)
    assert m.ci95[0] <= m.bytes_per_request <= m.ci95[1]


def test_interval_leak_gains_one_timer_per_request(demo_dir):
    m = measure_demo("interval")
    assert m.timers_per_request == pytest.approx(1.0, abs=0.1)
    assert m.handles_per_request["Timeout"] == pytest.approx(1.0, abs=0.1)
    assert m.verdict == "leak" and "Timeout" in advice(m)


def test_lazy_module_is_a_warmup_cost_not_a_leak(demo_dir):
    m = measure_demo("lazy")
    assert m.verdict == "no leak", advice(m)
    assert m.warmup_bytes > 15 * 1024 * 1024  # the ~19 MB table built by the first request
    assert abs(m.bytes_per_request) < 2048


def test_egg_cluster_measures_both_workers_and_reports_the_total(demo_dir):
    m = measure_demo("stats", entry="egg-server.js", extra_env={"WORKERS": "2"})
    roles = sorted(p.role for p in m.processes)
    assert roles.count("worker") == 2 and "agent" in roles and "primary" in roles, roles
    workers = [p for p in m.processes if p.role == "worker"]
    assert all(p.serving for p in workers) and not any(p.serving for p in m.processes if p.role != "worker")
    assert all(p.bytes_per_request > 100 for p in workers), [p.bytes_per_request for p in workers]
    assert m.bytes_per_request == pytest.approx(sum(p.bytes_per_request for p in workers), rel=0.25)
    assert m.verdict == "leak"


def test_egg_agent_leak_is_found_in_the_process_that_serves_no_http(demo_dir):
    m = measure_demo("agent", entry="egg-server.js", extra_env={"WORKERS": "2"})
    agent = next(p for p in m.processes if p.role == "agent")
    assert agent.verdict == "leak" and not agent.serving
    assert m.verdict == "leak" and "serves no HTTP" in advice(m)


def test_killing_the_target_mid_run_exits_3_with_partial_rounds_and_no_leftovers(demo_dir, tmp_path, mark):
    port = free_port()
    out = tmp_path / "m.json"
    proc = subprocess.Popen(
        [*run_cli_args(), "measure", "--url", url(port), "--rounds", "40", "--min-rounds", "40", "--requests", "200",
         "--json", str(out), "--", "node", str(DEMO / "server.js")],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env_with(demo_env("bus", port, mark)),
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip().startswith("round  3"):
            break
    victims = [p for p in node_processes_with(mark) if p.name() == "node"]
    assert victims, "the demo server should be running"
    for v in victims:
        v.send_signal(signal.SIGKILL)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 3, err
    assert "SIGKILL" in err and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    data = json.loads(out.read_text())
    assert data["complete"] is False and data["rounds"] >= 3
    assert len(data["processes"][0]["readings"]) >= 4
    assert wait_until(lambda: node_processes_with(mark) == [])


def test_attach_by_pid_measures_and_leaves_the_process_as_found(demo_dir):
    port = free_port()
    server = subprocess.Popen(["node", "server.js"], cwd=DEMO, env=env_with(demo_env("bus", port)),
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert server.stdout is not None and "listening" in server.stdout.readline()
        m = leaksleuth.measure(Attach(server.pid), url(port), SPEC)
        assert m.verdict == "leak" and m.bytes_per_request > 20_000
        assert m.processes[0].pid == server.pid and m.processes[0].serving
        assert wait_until(lambda: listening_ports(server.pid) == {port}), "our inspector must be closed again"
        assert server.poll() is None, "the target must survive being measured"
    finally:
        server.kill()
        server.wait()


# -- errors: one line, exit 3, no traceback ---------------------------------------------------

def _one_line_error(result: subprocess.CompletedProcess[str], needle: str) -> None:
    assert result.returncode == 3, (result.stdout, result.stderr)
    lines = [x for x in result.stderr.strip().splitlines() if x.strip()]
    assert len(lines) == 1 and needle in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_missing_command_is_a_clear_error():
    _one_line_error(run_cli("measure", "--url", "http://127.0.0.1:9/", "--", "no-such-command-xyz"), "command not found")


def test_port_in_use_is_a_clear_error(demo_dir):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        _one_line_error(run_cli("measure", "--url", url(port), "--", "node", str(DEMO / "server.js")), "already in use")


def test_url_never_ready_is_a_clear_error(tmp_path):
    idle = tmp_path / "idle.js"
    idle.write_text("setInterval(() => {}, 1000);\n")
    port = free_port()
    result = run_cli("measure", "--url", url(port), "--ready-timeout", "3", "--", "node", str(idle))
    _one_line_error(result, "listens on port")


def test_target_that_exits_at_start_is_a_clear_error(tmp_path):
    bad = tmp_path / "bad.js"
    bad.write_text("console.error('boom: config missing'); process.exit(4);\n")
    result = run_cli("measure", "--url", url(free_port()), "--", "node", str(bad))
    _one_line_error(result, "exited with code 4")
    assert "boom: config missing" in result.stderr


def test_pid_that_is_not_node_is_a_clear_error():
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        _one_line_error(run_cli("measure", "--url", "http://127.0.0.1:9/", "--pid", str(sleeper.pid)), "not a Node process")
    finally:
        sleeper.kill()


def test_no_node_process_is_a_clear_error(tmp_path):
    port = free_port()
    result = run_cli("measure", "--url", url(port), "--ready-timeout", "3", "--", "python3", "-m", "http.server", str(port), "--bind", "127.0.0.1")
    _one_line_error(result, "no Node process")


def run_cli_args() -> list[str]:
    import sys

    return [sys.executable, "-m", "leaksleuth.cli"]


def env_with(extra: dict[str, str]) -> dict[str, str]:
    import os

    env = dict(os.environ)
    env.update(extra)
    return env


def test_no_process_is_left_after_a_run(demo_dir, mark):
    port = free_port()
    leaksleuth.measure(Launch(["node", "egg-server.js"], cwd=DEMO, env=demo_env("", port, mark) | {"WORKERS": "2"},
                              ready_timeout=60), url(port),
                       ProtocolSpec(warmup_requests=50, min_rounds=3, max_rounds=3, requests_per_round=50))
    assert wait_until(lambda: node_processes_with(mark) == []), [p.cmdline() for p in node_processes_with(mark)]


def test_a_target_answering_errors_is_reported_as_such_not_measured(tmp_path):
    failing = tmp_path / "failing.js"
    failing.write_text(
        "require('http').createServer((q, s) => { s.statusCode = 500; s.end('boom'); })"
        ".listen(+process.env.PORT, '127.0.0.1');\n"
    )
    port = free_port()
    result = run_cli("measure", "--url", url(port), "--warmup", "50", "--", "node", str(failing), env={"PORT": str(port)})
    _one_line_error(result, "requests failed (500: 50)")
