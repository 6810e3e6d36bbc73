"""Which route leaks, on the real demo app: per-route attribution against each route measured alone,
and a hunt whose snapshots follow the leaking routes and name them per culprit."""

from __future__ import annotations

import asyncio
import json

import pytest

import leaksleuth
from leaksleuth import Launch, LoadSpec
from leaksleuth.options import ProtocolSpec, route_name
from tests.conftest import DEMO
from tests.integration.helpers import demo_env, free_port, run_cli

pytestmark = pytest.mark.integration

SPEC = ProtocolSpec(warmup_requests=300, min_rounds=6, max_rounds=20, time_budget=40)
# LEAKS=routes: /api/health is clean, /search keeps ~1.3 KB per request, POST /api/cart ~6 KB
SCENARIO = """
[[request]]
path = "/api/health"

[[request]]
path = "/search?q=product"

[[request]]
method = "POST"
path = "/api/cart"
json = { item = "sku-{n}", qty = 1 }
"""
ROUTES = ["POST /api/cart", "GET /search", "GET /api/health"]  # worst first


def measure(load: LoadSpec, port: int, spec: ProtocolSpec = SPEC) -> leaksleuth.Measurement:
    launch = Launch(["node", "server.js"], cwd=DEMO, env=demo_env("routes", port), ready_timeout=60)
    return asyncio.run(leaksleuth.measure_async(launch, load, spec))


def test_per_route_matches_each_route_measured_alone(demo_dir, tmp_path):
    scenario = tmp_path / "routes.toml"
    scenario.write_text(SCENARIO)
    port = free_port()
    m = measure(leaksleuth.load_traffic(scenario=scenario, base=f"http://127.0.0.1:{port}", per_route=True), port)
    assert [r.route for r in m.routes] == ROUTES, m.routes
    rows = {r.route: r for r in m.routes}
    assert rows["GET /api/health"].verdict == "no leak", rows["GET /api/health"]
    assert rows["GET /search"].verdict == rows["POST /api/cart"].verdict == "leak"
    assert all(r.errors == 0 and r.status == "measured" for r in m.routes)
    assert m.verdict == "leak" and m.confirmation is not None and m.confirmation.route == "POST /api/cart"
    # the worst route alone keeps what its figure says
    assert m.confirmation.bytes_per_request == pytest.approx(rows["POST /api/cart"].bytes_per_request, rel=0.25)
    for route in ROUTES:
        port = free_port()
        everything = leaksleuth.load_traffic(scenario=scenario, base=f"http://127.0.0.1:{port}")
        alone = measure(LoadSpec(requests=tuple(r for r in everything.requests if route_name(r) == route)), port)
        if route == "GET /api/health":
            assert alone.verdict == "no leak"
        else:
            assert alone.verdict == "leak"
            assert rows[route].bytes_per_request == pytest.approx(alone.bytes_per_request, rel=0.2), (route, alone)


def test_hunt_snapshots_the_leaking_routes_and_names_each_culprits_routes(demo_dir, tmp_path):
    scenario = tmp_path / "routes.toml"
    scenario.write_text(SCENARIO)
    port, out = free_port(), tmp_path / "hunt.json"
    result = run_cli("hunt", "--scenario", str(scenario), "--base", f"http://127.0.0.1:{port}", "--json", str(out),
                     "--", "node", str(DEMO / "server.js"), env=demo_env("routes", port))
    assert result.returncode == 1, result.stderr
    doc = json.loads(out.read_text())
    assert [r["route"] for r in doc["routes"]] == ROUTES
    for row in doc["routes"]:
        assert {"route", "requests", "bytes_per_request", "ci95", "verdict", "errors"} <= set(row)
        assert len(row["ci95"]) == 2 and row["requests"] > 0 and row["errors"] == 0
    # two leaking routes: a snapshot, both together, then each alone
    assert len(doc["snapshots"]["requests"]) == 4
    by_routes = {tuple(c["routes"]): c for c in doc["culprits"]}
    cart, search = by_routes[("POST /api/cart",)], by_routes[("GET /search",)]
    assert "src/routes.js:" in cart["location"] and "src/routes.js:" in search["location"]
    assert cart["bytes_per_request"] > 3 * search["bytes_per_request"] > 0
    assert "grows with POST /api/cart" in result.stdout and "Memory per route" in result.stdout
