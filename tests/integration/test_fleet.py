"""`fleet` and `rules` against a real Prometheus (Debian's package) scraping real Node services
(prom-client), labelled as pods of two versions, one of which leaks."""

from __future__ import annotations

import json
import subprocess
import time

import pytest

from tests.integration.fleet_env import demo_fleet, fixture_ready, prom_query, prometheus_binaries, start_traffic
from tests.integration.helpers import run_cli, wait_until

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not prometheus_binaries() or not fixture_ready(),
                       reason="run `make test`: it installs Prometheus and the fixture's prom-client"),
]

WARMUP = 10  # seconds of traffic before the history `fleet` judges
HISTORY = 75  # enough post-GC troughs for each pod to be decided (at 50 s one leaking pod was sometimes still inconclusive)
ALERT_WAIT = 60  # the alert's range is 60 s, it needs 6 old-generation collections in it and holds 15 s


def test_fleet_names_the_leaking_version_and_the_alert_fires_on_its_pods_only(tmp_path):
    rules = tmp_path / "leak-alerts.yml"
    made = run_cli("rules", "--selector", 'job="ssr"', "--trough-window", "5s", "--range", "60s", "--for", "15s",
                   "--interval", "1s", "--oom-horizon", "30m", "-o", str(rules), timeout=60)
    assert made.returncode == 0, made.stderr
    tool = prometheus_binaries()[1]  # type: ignore[index]
    checked = subprocess.run([tool, "check", "rules", str(rules)], capture_output=True, text=True, timeout=60,
                             check=False)
    assert checked.returncode == 0 and "SUCCESS" in checked.stdout, checked.stdout + checked.stderr

    with demo_fleet(tmp_path, versions={"v1": (2, 0), "v2": (2, 2048)}, rules=rules, garbage_bytes=200000,
                    limit=256 << 20) as fleet:
        start_traffic(fleet.procs, [p.url for p in fleet.pods], 200, WARMUP + HISTORY + ALERT_WAIT + 5, tmp_path / "traffic.json")
        time.sleep(WARMUP + HISTORY)
        out = tmp_path / "fleet.json"
        page = tmp_path / "fleet.html"
        result = run_cli("fleet", "--prometheus", fleet.prometheus, "--selector", 'job="ssr"',
                         "--since", f"{HISTORY}s", "--json", str(out), "--html", str(page), timeout=120)
        firing: set[tuple[str, str]] = set()  # every alert seen firing, polled until the leak's fires

        def leak_alert_fired() -> bool:
            firing.update(
                (str(r["metric"]["alertname"]), str(r["metric"].get("pod")))  # type: ignore[index]
                for r in prom_query(fleet.prometheus, 'ALERTS{alertstate="firing"}')
            )
            return any(name == "NodeHeapLeak" for name, _ in firing)

        wait_until(leak_alert_fired, timeout=ALERT_WAIT, every=1.0)
        # bad input: one line each, exit 3
        unreachable = run_cli("fleet", "--prometheus", "http://127.0.0.1:1", "--since", "1m", timeout=60)
        not_prometheus = run_cli("fleet", "--prometheus", fleet.pods[0].url, "--since", "1m", timeout=60)
        nothing = run_cli("fleet", "--prometheus", fleet.prometheus, "--selector", 'job="nope"', "--since", "1m",
                          timeout=60)

    assert result.returncode == 1, result.stdout + result.stderr  # a leak
    doc = json.loads(out.read_text())
    leaking = {p["labels"]["pod"] for p in doc["pods"] if p["verdict"] == "leak"}
    assert leaking == {"ssr-v2-0", "ssr-v2-1"}, result.stdout
    assert doc["leaking_versions"] == ["v2"] and doc["series"] == 4
    groups = {g["labels"]["version"]: g for g in doc["groups"]}
    assert groups["v2"]["leaking_pods"] == 2 and groups["v1"]["leaking_pods"] == 0
    assert 1000 < groups["v2"]["bytes_per_request"] < 4000  # 2 KB/request (+ the entry's overhead)
    worst = doc["pods"][0]
    assert worst["version"] == "v2" and worst["seconds_to_oom"] is not None and worst["restarts"] == 0
    assert worst["forecast"]["limit_kind"] == "cgroup" and worst["forecast"]["limit_bytes"] == 256 << 20
    assert "version v2" in result.stdout and "<table>" in page.read_text()

    leak_alerts = {pod for name, pod in firing if name == "NodeHeapLeak"}
    assert leak_alerts and leak_alerts <= {"ssr-v2-0", "ssr-v2-1"}, firing

    for bad, words in ((unreachable, "cannot reach Prometheus"), (not_prometheus, "is not a Prometheus HTTP API"),
                       (nothing, "matches no nodejs_heap_size_used_bytes")):
        assert bad.returncode == 3 and words in bad.stderr, bad.stderr
        assert len(bad.stderr.strip().splitlines()) == 1 and "Traceback" not in bad.stderr
