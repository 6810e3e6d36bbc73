"""Real traffic on the real demo app: a HAR recorded by headless Chromium, a combined access log
with its mix, a login-then-browse scenario with one session per virtual user, bad input."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest

from tests.conftest import DEMO
from tests.integration.har_recorder import chromium, record_har
from tests.integration.helpers import demo_env, free_port, run_cli

pytestmark = pytest.mark.integration

QUICK = ("--warmup", "200", "--min-rounds", "3", "--rounds", "4")


def measure_cli(tmp_path, port: int, *args: str, leaks: str = "routes", concurrency: int = 8):
    out, log = tmp_path / "m.json", tmp_path / "target.log"
    result = run_cli("measure", *args, "-c", str(concurrency), "--json", str(out), "--log", str(log),
                     "--", "node", str(DEMO / "server.js"), env=demo_env(leaks, port))
    doc = json.loads(out.read_text()) if out.exists() else None
    return result, doc, log


@pytest.mark.skipif(chromium() is None, reason="headless Chromium is needed (make test installs it)")
def test_a_har_recorded_by_headless_chromium_replays(demo_dir, tmp_path):
    recorded = free_port()
    server = subprocess.Popen(["node", "server.js"], cwd=DEMO, env={**os.environ, **demo_env("routes", recorded)},
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert "listening" in (server.stdout.readline() if server.stdout else "")
        site = f"http://127.0.0.1:{recorded}"
        har = record_har([site + "/", site + "/search?q=product"], tmp_path / "session.har", scripts=[
            "fetch('/api/cart', {method: 'POST', headers: {'content-type': 'application/json'},"
            " body: JSON.stringify({item: 'sku-3', qty: 2})}).then(r => r.status)",
            f"fetch('http://localhost:{recorded}/api/health').then(r => r.status, () => 0)",  # another origin
        ])
    finally:
        server.terminate()
        server.wait(10)
    methods = {(e["request"]["method"], e["request"]["url"].split("?")[0]) for e in har["log"]["entries"]}
    assert ("POST", site + "/api/cart") in methods and ("GET", site + "/") in methods

    port = free_port()
    result, doc, _ = measure_cli(tmp_path, port, "--har", str(tmp_path / "session.har"), "--base",
                                 f"http://127.0.0.1:{port}", *QUICK)
    assert result.returncode in (0, 1, 2), result.stderr
    traffic = doc["traffic"]
    assert traffic["kind"] == "har" and traffic["origin"] == site and traffic["base"] == f"http://127.0.0.1:{port}"
    assert dict(map(tuple, traffic["dropped_hosts"])).get(f"localhost:{recorded}", 0) >= 1
    sent = doc["load"]["route_requests"]
    assert sent["GET /"] > 0 and sent["GET /search"] > 0 and sent["POST /api/cart"] > 0
    # the recorded JSON body replays: the cart answers 400 without an item
    assert doc["errors"] == 0 and doc["load"]["route_errors"]["POST /api/cart"] == 0
    assert "to other hosts dropped" in result.stdout


def test_a_combined_access_log_replays_with_its_mix(demo_dir, tmp_path):
    line = '127.0.0.1 - - [10/Oct/2024:13:55:36 +0000] "{req}" 200 2326 "-" "Mozilla/5.0 (X11; Linux x86_64)"\n'
    lines = [line.format(req="GET /about HTTP/1.1")] * 60 + [line.format(req=f"GET /search?q=p{i % 7} HTTP/1.1")
                                                            for i in range(30)]
    lines += [line.format(req="GET /api/health HTTP/1.1")] * 10
    lines += [line.format(req="GET http://cdn.example.com/logo.png HTTP/1.1")] * 3  # a proxy's absolute form
    lines += ["this is not a log line\n", '127.0.0.1 - - [10/Oct/2024:13:55:36 +0000] "-" 408 0 "-" "-"\n']
    log = tmp_path / "access.log"
    log.write_text("".join(lines[i] for i in sorted(range(len(lines)), key=lambda i: (i * 37) % len(lines))))
    port = free_port()
    result, doc, _ = measure_cli(tmp_path, port, "--access-log", str(log), "--base", f"http://127.0.0.1:{port}", *QUICK)
    assert result.returncode in (0, 1, 2), result.stderr
    t = doc["traffic"]
    assert (t["entries"], t["kept"], t["unparsed"]) == (105, 100, 2)
    assert [tuple(x) for x in t["dropped_hosts"]] == [("cdn.example.com", 3)]
    sent = doc["load"]["route_requests"]
    total = sum(sent.values())
    assert sent["GET /about"] / total == pytest.approx(0.6, abs=0.02)
    assert sent["GET /search"] / total == pytest.approx(0.3, abs=0.02)
    assert sent["GET /api/health"] / total == pytest.approx(0.1, abs=0.02)
    assert doc["errors"] == 0


def test_login_then_browse_keeps_one_session_per_virtual_user(demo_dir, tmp_path):
    scenario = tmp_path / "login.toml"
    scenario.write_text("""
[[setup]]
method = "POST"
path = "/login"
form = { user = "vu{user}", password = "secret" }

[[request]]
path = "/account"
weight = 3

[[request]]
path = "/api/health"
""")
    port = free_port()
    result, doc, log = measure_cli(tmp_path, port, "--scenario", str(scenario), "--base", f"http://127.0.0.1:{port}",
                                   *QUICK, concurrency=4)
    assert result.returncode in (0, 1, 2), result.stderr
    # the server saw one login per virtual user, and the session cookie on every /account request
    # (without it /account answers 401)
    assert sorted(re.findall(r"session created for (\S+)", log.read_text())) == ["vu0", "vu1", "vu2", "vu3"]
    assert doc["load"]["setup_requests"] == 4
    assert doc["load"]["route_requests"]["GET /account"] > 200 and doc["load"]["route_errors"]["GET /account"] == 0
    assert doc["errors"] == 0


def test_bad_traffic_input_is_one_clear_line(demo_dir, tmp_path):
    port = free_port()
    cmd = ("--", "node", str(DEMO / "server.js"))
    bad_toml = tmp_path / "bad.toml"
    bad_toml.write_text('[[request]]\npath = "/"\nbody_json = "x"\n')
    not_har = tmp_path / "x.har"
    not_har.write_text("{ not json")
    garbage = tmp_path / "garbage.log"
    garbage.write_text("hello\nworld\n")
    cases = [
        (("--scenario", str(bad_toml), "--base", f"http://127.0.0.1:{port}"), "unknown key in request #1: body_json"),
        (("--har", str(not_har)), "is not a HAR file"),
        (("--har", str(tmp_path / "missing.har")), "cannot read the HAR"),
        (("--access-log", str(garbage), "--base", f"http://127.0.0.1:{port}"), "no request line in common or combined"),
        (("--access-log", str(garbage), "--base", "http://93.184.216.34/"), "is not on this machine"),
        (("--access-log", str(garbage)), "give --base"),
    ]
    for args, message in cases:
        result = run_cli("measure", *args, *cmd, env=demo_env("", port))
        assert result.returncode == 3, (args, result.stdout, result.stderr)
        assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1, (args, result.stderr)
        assert "Traceback" not in result.stderr
