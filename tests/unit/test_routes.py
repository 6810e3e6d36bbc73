"""Per-route attribution and real traffic without node: the robust regression, the design, the
scenario/HAR/access-log formats, the load driver's virtual users, the per-route loop against a fake
service, and what the reports say."""

from __future__ import annotations

import asyncio
import json
import math
from pathlib import Path

import numpy as np
import pytest
from rich.console import Console

from leaksleuth.errors import TargetError, UsageError
from leaksleuth.flows.route_hunt import attribute_routes, snapshot_plan
from leaksleuth.heap.culprits import find_culprits
from leaksleuth.jsonio import dumps
from leaksleuth.live.load import LoadDriver, fill, interleave
from leaksleuth.live.route_rounds import run_measurement, run_route_protocol
from leaksleuth.live.scenario import load_access_log, load_har, load_scenario, load_traffic, route_path
from leaksleuth.model import Culprit, Interval, Measurement, RouteConfirmation, RouteMeasurement
from leaksleuth.options import HuntSpec, LoadSpec, ProtocolSpec, RequestSpec, TrafficSource, route_name
from leaksleuth.report.advice import advice, confirmation_text, route_note, traffic_text
from leaksleuth.report.html import render_html
from leaksleuth.report.jsondoc import culprit_doc, measurement_doc
from leaksleuth.report.terminal import render_culprits, render_measurement
from leaksleuth.stats.routes import (
    RouteDesign,
    culprit_routes,
    feeding,
    fit_columns,
    group_bound,
    huber_regression,
    initial_groups,
)
from tests.unit.core.fake_routes import FakeRoutes, running
from tests.unit.heap.test_node_versions import unzip

# -- the regression ------------------------------------------------------------------------------


def test_huber_regression_recovers_the_slopes_and_shrugs_off_an_outlier():
    rng = np.random.default_rng(3)
    counts = np.cumsum(rng.integers(0, 1000, size=(30, 3)), axis=0).astype(float)
    truth = np.array([0.0, 1000.0, 12000.0])
    y = 5e6 + counts @ truth + rng.normal(0, 20_000, 30)
    y[12] += 3e6  # bytecode flushed at once, a late lazy load
    fit = fit_columns(counts, y, [(0,), (1,), (2,)])
    for j, b in enumerate(truth):
        ci = fit.interval(j + 1)
        assert ci.low <= b <= ci.high, (j, ci)
        assert fit.coef[j + 1] == pytest.approx(b, abs=60)


def test_an_exact_fit_has_a_point_interval_and_collinear_columns_are_unbounded():
    x = np.column_stack([np.ones(6), np.arange(6.0), 2 * np.arange(6.0)])
    fit = huber_regression(x, 100 + 7 * np.arange(6.0))
    assert not fit.identified[1] and fit.interval(1) == Interval(-math.inf, math.inf)
    exact = huber_regression(x[:, :2], 100 + 7 * np.arange(6.0))
    assert exact.interval(1).low == pytest.approx(7) and exact.interval(1).high == pytest.approx(7)


def test_a_group_bounds_each_member_by_its_size():
    assert group_bound(Interval(-10.0, 50.0), 4) == Interval(-10.0, 200.0)


# -- the design ----------------------------------------------------------------------------------


def test_few_routes_start_alone_many_in_groups_of_about_the_square_root():
    assert initial_groups(range(10)) == [(r,) for r in range(10)]
    groups = initial_groups(range(14))
    assert [len(g) for g in groups] == [4, 4, 3, 3] and sorted(r for g in groups for r in g) == list(range(14))
    assert max(len(g) for g in initial_groups(range(50))) == 7


def test_the_design_closes_clean_groups_splits_leaky_ones_and_waits_for_identification():
    d = RouteDesign(tuple(range(14)), threshold=256.0)
    clean, leaky = Interval(-20.0, 30.0), Interval(900.0, 1100.0)
    first = d.next_unit({}, dof=0)
    assert first is not None and first.routes == (0, 1, 2, 3)
    d.block_done(first)
    assert d.next_unit({}, dof=1).routes == (4, 5, 6, 7)  # too few degrees of freedom to judge yet
    d.block_done(d.units[1])
    estimates = {(0, 1, 2, 3): (1000.0, leaky), (4, 5, 6, 7): (5.0, clean)}
    nxt = d.next_unit(estimates, dof=6)
    assert d.units[1].state == "final" and d.units[0].state == "split"
    assert nxt is not None and nxt.routes == (8, 9, 10)
    assert [u.routes for u in d.units[4:]] == [(0,), (1,), (2,), (3,)]  # split into single routes
    # a closed group that the data since unsettled is split after all
    for u in d.units[2:]:
        u.state = "final"
    d.queue.clear()
    d.next_unit({(4, 5, 6, 7): (80.0, Interval(40.0, 120.0))}, dof=20)
    assert d.units[1].state == "split" and [u.routes for u in d.units[-4:]] == [(4,), (5,), (6,), (7,)]
    # a group of 6 (> 4) is halved first
    big = RouteDesign(tuple(range(40)), threshold=256.0)
    unit = big.next_unit({}, 0)
    big.block_done(unit)
    big.review({unit.routes: (900.0, leaky)}, dof=10)
    assert len(unit.routes) == 6 and [u.routes for u in big.units[-2:]] == [unit.routes[:3], unit.routes[3:]]


# -- which routes feed a culprit -----------------------------------------------------------------


def test_culprit_routes_by_non_negative_least_squares():
    plan = [{0: 400, 1: 400}, {0: 200}, {1: 200}]
    sent = np.array([[p.get(r, 0) for r in range(2)] for p in plan], dtype=float)
    a_only = [0, 400 * 6000, 400 * 6000 + 200 * 6000, 400 * 6000 + 200 * 6000]
    both = [0, 400 * 3000 * 2, 400 * 3000 * 2 + 200 * 3000, 400 * 3000 * 2 + 400 * 3000]
    assert feeding(culprit_routes(a_only, sent)) == [0]
    assert sorted(feeding(culprit_routes(both, sent))) == [0, 1]
    rates = culprit_routes(a_only, sent)
    assert rates[0] == pytest.approx(6000) and rates[1] == pytest.approx(0, abs=1)


def _row(route: str, bpr: float, verdict: str, status: str = "measured") -> RouteMeasurement:
    return RouteMeasurement(route, 1000, 0, bpr, Interval(bpr - 100, bpr + 100), verdict, status)  # type: ignore[arg-type]


def test_the_snapshot_plan_sends_the_leaking_routes_together_then_each_alone():
    driver = LoadDriver(LoadSpec(urls=("http://127.0.0.1:1/a", "http://127.0.0.1:1/b", "http://127.0.0.1:1/c")))

    class M:
        routes = [_row("GET /b", 6000, "leak"), _row("GET /c", 1300, "leak"), _row("GET /a", 0, "no leak")]

    plan = snapshot_plan(M(), driver, HuntSpec())  # type: ignore[arg-type]
    assert plan is not None and len(plan) == 3 and plan[0].keys() == {1, 2} and plan[1] == {1: plan[0][1] // 2}
    assert plan[2] == {2: plan[0][2] // 2}
    culprit = Culprit("collection", 1.0, 1.0, "Object", ["x"], None,
                      bytes_by_snapshot=[0, 2 * 300 * 6000, 3 * 300 * 6000, 3 * 300 * 6000])
    plan = [{1: 600, 2: 600}, {1: 300}, {2: 300}]
    [c] = attribute_routes([culprit], plan, driver.routes)
    assert c.routes == ["GET /b"] and c.bytes_per_request == pytest.approx(6000)
    assert snapshot_plan(None, driver, HuntSpec()) is None


# -- traffic files -------------------------------------------------------------------------------


def test_a_scenario_with_vars_setup_json_and_form(tmp_path: Path):
    f = tmp_path / "s.toml"
    f.write_text("""
base = "http://127.0.0.1:3000/"
seed = 7
headers = { "Accept-Language" = "en" }
[vars]
q = ["vue", "ssr"]
id = { from = 1, to = 3 }
[[setup]]
method = "post"
path = "/login"
form = { user = "vu{user}", note = "a b&c" }
[[request]]
path = "/search?q={q}"
weight = 3
[[request]]
route = "add to cart"
method = "POST"
path = "/api/cart"
json = { item = "sku-{id}", qty = 1 }
""")
    load = load_scenario(f, concurrency=2)
    assert load.urls == ("http://127.0.0.1:3000/search?q={q}", "http://127.0.0.1:3000/api/cart")
    assert load.routes() == ("GET /search", "add to cart")
    assert dict(load.variables)["id"] == ("1", "2", "3") and load.seed == 7 and load.concurrency == 2
    setup = load.setup[0]
    assert setup.method == "POST" and setup.body == "user=vu{user}&note=a+b%26c"
    assert dict(setup.headers)["Content-Type"] == "application/x-www-form-urlencoded"
    cart = load.requests[1]
    assert cart.body_kind == "json" and json.loads(cart.body or "") == {"item": "sku-{id}", "qty": 1}
    assert ("Accept-Language", "en") in load.headers and load.requests[0].weight == 3
    assert load.source == TrafficSource("scenario", str(f), 2, 2, base="http://127.0.0.1:3000")


@pytest.mark.parametrize(("text", "message"), [
    ('[[request]]\npath = "/"\nmethd = "GET"\n', "unknown key in request #1: methd"),
    ('bse = "x"\n[[request]]\npath = "/"\n', "unknown key in the scenario s.toml: bse"),
    ('[[request]]\npath = "/x/{nope}"\n', "unknown placeholder {nope}"),
    ('[[request]]\nurl = "http://93.184.216.34/"\n', "not on this machine"),
    ('[[request]]\npath = "/"\njson = {a = 1}\nform = {b = "2"}\n', "one of json, form and body"),
    ('[[request]]\npath = "/"\nweight = 0\n', "weight must be a positive number"),
    ('[vars]\nn = ["1"]\n[[request]]\npath = "/"\n', "not n or user"),
    ('[[request]]\nurl = "http://127.0.0.1:{n}/"\n', "no placeholders in the host"),
    ("[[request]\n", "not valid TOML"),
    ('seed = 1\n', "has no [[request]]"),
])
def test_scenario_mistakes_are_one_clear_line(tmp_path: Path, text: str, message: str):
    f = tmp_path / "s.toml"
    f.write_text(text)
    with pytest.raises(UsageError, match=message.replace("{", r"\{").replace("[", r"\[")):
        load_scenario(f, "http://127.0.0.1:3000")


def test_a_scenario_base_off_this_machine_is_refused(tmp_path: Path):
    f = tmp_path / "s.toml"
    f.write_text('base = "http://93.184.216.34"\n[[request]]\npath = "/"\n')
    with pytest.raises(UsageError, match="not on this machine"):
        load_scenario(f)
    assert load_scenario(f, "http://127.0.0.1:3000").urls == ("http://127.0.0.1:3000/",)  # --base wins


def _har(entries: list[dict]) -> dict:
    return {"log": {"version": "1.2", "entries": entries}}


def _entry(method: str, url: str, headers: dict[str, str] | None = None, body: str | None = None,
           kind: str = "fetch") -> dict:
    req = {"method": method, "url": url, "headers": [{"name": k, "value": v} for k, v in (headers or {}).items()]}
    if body is not None:
        req["postData"] = {"mimeType": "application/json", "text": body}
    return {"_resourceType": kind, "request": req, "response": {"status": 200, "content": {"mimeType": "text/html"}}}


def test_a_har_keeps_its_sites_requests_rewritten_to_the_base(tmp_path: Path):
    site = "https://shop.example.com"
    f = tmp_path / "s.har"
    f.write_text(json.dumps(_har([
        _entry("GET", site + "/", {"Cookie": "sid=recorded", ":authority": "x", "Accept": "text/html",
                                  "If-None-Match": "W/1"}, kind="document"),
        _entry("GET", "https://cdn.example.com/app.js"),
        _entry("GET", site + "/item/123?ref=a"),
        _entry("GET", site + "/item/456?ref=a"),
        _entry("GET", site + "/item/123?ref=a"),
        _entry("POST", site + "/api/cart", {"Origin": site, "Content-Type": "application/json"}, '{"item":"x"}'),
        _entry("GET", "data:image/png;base64,AAAA"),
    ])))
    load = load_har(f, "http://127.0.0.1:3000")
    assert load.source is not None and load.source.kept == 5 and load.source.unparsed == 1
    assert load.source.dropped_hosts == (("cdn.example.com", 1),) and load.source.origin == site
    assert load.routes() == ("GET /", "GET /item/:id", "POST /api/cart")
    by_url = {r.url: r for r in load.requests}
    assert by_url["http://127.0.0.1:3000/item/123?ref=a"].weight == 2
    home = by_url["http://127.0.0.1:3000/"]
    assert dict(home.headers) == {"Accept": "text/html"} and not home.template
    cart = by_url["http://127.0.0.1:3000/api/cart"]
    assert cart.body == '{"item":"x"}' and dict(cart.headers)["Origin"] == "http://127.0.0.1:3000"
    with pytest.raises(UsageError, match=r"recorded on https://shop\.example\.com, not on this machine: give --base"):
        load_har(f)  # the site is not on the loopback: a base is needed


@pytest.mark.parametrize(("content", "message"), [
    ("{ not json", "is not a HAR file"),
    ('{"log": {}}', "no log.entries"),
    (json.dumps(_har([_entry("GET", "data:,x")])), "holds no http"),
])
def test_har_mistakes_are_one_clear_line(tmp_path: Path, content: str, message: str):
    f = tmp_path / "x.har"
    f.write_text(content)
    with pytest.raises(UsageError, match=message):
        load_har(f, "http://127.0.0.1:3000")
    with pytest.raises(UsageError, match="cannot read the HAR"):
        load_har(tmp_path / "missing.har")


def test_an_access_log_in_common_and_combined_format(tmp_path: Path):
    f = tmp_path / "access.log"
    f.write_text(
        '1.2.3.4 - - [10/Oct/2024:13:55:36 +0000] "GET /a?x=1 HTTP/1.1" 200 2326\n'
        '1.2.3.4 - frank [10/Oct/2024:13:55:36 +0000] "GET /a?x=1 HTTP/1.1" 200 2326 "http://r/" "UA \\"q\\""\n'
        '1.2.3.4 - - [10/Oct/2024:13:55:36 +0000] "POST /users/42/cart HTTP/1.0" 201 -\n'
        '1.2.3.4 - - [10/Oct/2024:13:55:36 +0000] "GET http://127.0.0.1:3000/b HTTP/1.1" 200 1\n'
        '1.2.3.4 - - [10/Oct/2024:13:55:36 +0000] "GET http://evil.example/ HTTP/1.1" 200 1\n'
        '1.2.3.4 - - [10/Oct/2024:13:55:36 +0000] "\\x16\\x03\\x01" 400 0\n'
        "garbage\n\n"
    )
    load = load_access_log(f, "http://127.0.0.1:3000")
    src = load.source
    assert src is not None and (src.entries, src.kept, src.unparsed) == (7, 4, 2)
    assert src.dropped_hosts == (("evil.example", 1),)
    assert {(route_name(r), r.url, r.weight) for r in load.requests} == {
        ("GET /a", "http://127.0.0.1:3000/a?x=1", 2.0), ("POST /users/:id/cart", "http://127.0.0.1:3000/users/42/cart", 1.0),
        ("GET /b", "http://127.0.0.1:3000/b", 1.0)}
    with pytest.raises(UsageError, match="give --base"):
        load_access_log(f)
    empty = tmp_path / "empty.log"
    empty.write_text("nothing here\n")
    with pytest.raises(UsageError, match="no request line in common or combined log format"):
        load_access_log(empty, "http://127.0.0.1:3000")
    with pytest.raises(UsageError, match="give one of"):
        load_traffic(base="http://127.0.0.1:3000")


def test_route_names_and_placeholders():
    assert route_name(RequestSpec("http://127.0.0.1:3/search?q=x")) == "GET /search"
    assert route_name(RequestSpec("http://127.0.0.1:3", "post")) == "POST /"
    assert route_name(RequestSpec("http://127.0.0.1:3/x", route="checkout")) == "checkout"
    assert route_path("/item/123/x/0f8fad5b-d9cb-469f-a165-70867728950e") == "/item/:id/x/:id"
    assert fill('{"a": "{n}", "b": {}}', {"n": 'x"y'}, lambda v: json.dumps(v)[1:-1]) == '{"a": "x\\"y", "b": {}}'
    assert interleave({0: 2, 1: 4}) == [1, 0, 1, 1, 0, 1]


# -- the driver and the per-route loop against fake services --------------------------------------


def test_virtual_users_keep_their_own_session_and_setup_failures_are_one_line():
    async def go(setup_path: str):
        node = FakeRoutes({}, failing={"POST /nologin"})
        async with running(node) as (base, _):
            load = LoadSpec(requests=(RequestSpec(base + "/account?n={n}", weight=3), RequestSpec(base + "/x", "POST",
                                      body='{"u": "{user}"}', body_kind="json")),
                            setup=(RequestSpec(base + setup_path, "POST", (("Content-Type", "application/x-www-form-urlencoded"),),
                                               body="user=vu{user}", body_kind="form"),), concurrency=3)
            async with LoadDriver(load) as driver:
                await driver.send(40)
            async with driver:  # again: the same users, no second login
                await driver.send(20)
            return node, driver

    node, driver = asyncio.run(go("/login"))
    assert sorted(node.sessions.values()) == ["vu0", "vu1", "vu2"] and node.anonymous == 0
    assert sum(node.cookies_seen.values()) == 60 and driver.tally.setup_requests == 3
    assert driver.tally.routes["GET /account"].requests == 45 and driver.tally.routes["POST /x"].requests == 15
    assert {json.loads(b)["u"] for b in node.bodies if b.startswith(b"{")} == {"0", "1", "2"}
    with pytest.raises(TargetError, match="the setup step POST /nologin failed for virtual user"):
        asyncio.run(go("/nologin"))


def _fake_load(base: str, leaks: dict[str, float], per_route: bool = True) -> LoadSpec:
    reqs = tuple(RequestSpec(base + r.split(" ")[1], r.split(" ")[0]) for r in leaks)
    return LoadSpec(requests=reqs, concurrency=4, per_route=per_route)


FAST = ProtocolSpec(warmup_requests=60, requests_per_round=200, settle_timeout=2.0)


def test_the_per_route_loop_ranks_routes_reports_failures_and_confirms_the_worst():
    leaks = {"GET /a": 0.0, "GET /b": 1000.0, "POST /c": 12000.0, "GET /broken": 0.0}

    async def go():
        node = FakeRoutes(leaks, noise=30_000, failing={"GET /broken"})
        async with running(node) as (base, ins):
            return await run_route_protocol([ins], _fake_load(base, leaks), FAST, lambda: None)

    m = asyncio.run(go())
    assert [r.route for r in m.routes] == ["POST /c", "GET /b", "GET /a", "GET /broken"]
    rows = {r.route: r for r in m.routes}
    assert rows["POST /c"].bytes_per_request == pytest.approx(12000, rel=0.05)
    assert rows["GET /b"].bytes_per_request == pytest.approx(1000, rel=0.2)
    assert rows["GET /a"].verdict == "no leak" and rows["GET /b"].verdict == "leak"
    assert rows["GET /broken"].status == "failed" and math.isnan(rows["GET /broken"].bytes_per_request)
    assert m.verdict == "leak" and m.confirmation is not None and m.confirmation.route == "POST /c"
    assert m.confirmation.agrees and m.errors == rows["GET /broken"].requests
    # the total is the traffic as given over the routes measured: their mean (the broken one has no figure)
    assert m.bytes_per_request == pytest.approx(13000 / 3, rel=0.05)
    doc = measurement_doc(m)
    assert [r["route"] for r in doc["routes"]][:3] == ["POST /c", "GET /b", "GET /a"]
    again = Measurement.from_json(json.loads(dumps(doc)))  # as an experiment's record reads it back
    assert again.routes[:3] == m.routes[:3] and again.confirmation == m.confirmation
    assert math.isnan(again.routes[3].bytes_per_request)
    assert doc["routes"][3]["bytes_per_request"] != doc["routes"][3]["bytes_per_request"]  # NaN, null in the file
    assert doc["confirmation"]["text"].startswith("Confirmed: POST /c alone kept")


def test_every_route_failing_is_an_error_and_one_route_is_the_plain_protocol():
    async def go(leaks, failing):
        node = FakeRoutes(leaks, failing=failing)
        async with running(node) as (base, ins):
            return await run_measurement([ins], _fake_load(base, leaks), FAST, lambda: None)

    with pytest.raises(TargetError, match="every route mostly failed"):
        asyncio.run(go({"GET /a": 0.0, "GET /b": 0.0}, {"GET /a", "GET /b"}))
    m = asyncio.run(go({"GET /a": 500.0}, set()))
    assert [r.route for r in m.routes] == ["GET /a"] and m.routes[0].bytes_per_request == pytest.approx(500, rel=0.01)


def test_fifty_routes_take_one_run_of_far_fewer_rounds_than_fifty_runs():
    leaks = {f"GET /r{i}": (3000.0 if i in (5, 22, 41) else 0.0) for i in range(50)}

    async def go():
        node = FakeRoutes(leaks, noise=10_000)
        async with running(node) as (base, ins):
            spec = ProtocolSpec(warmup_requests=60, requests_per_round=100, settle_timeout=2.0)
            return await run_route_protocol([ins], _fake_load(base, leaks), spec, lambda: None)

    m = asyncio.run(go())
    assert sorted(r.route for r in m.routes[:3]) == ["GET /r22", "GET /r41", "GET /r5"]
    assert all(r.verdict == "leak" for r in m.routes[:3]) and all(r.verdict == "no leak" for r in m.routes[3:])
    # clean groups are closed in one block each: far fewer rounds than a block per route, let alone
    # fifty runs of six rounds
    assert sum(r.status == "group" for r in m.routes) >= 30 and m.rounds < 50 * 2


# -- what the reports say ------------------------------------------------------------------------


def test_route_sentences():
    group = RouteMeasurement("GET /b", 10, 0, 2.0, Interval(0, 90), "no leak", "group", {}, ("GET /a", "GET /b", "GET /c"))
    assert route_note(group) == "measured with GET /a, GET /c: together under the threshold, never split"
    failed = RouteMeasurement("GET /x", 10, 9, math.nan, Interval(-math.inf, math.inf), "inconclusive", "failed",
                              {"500": 9, "200": 1})
    assert route_note(failed) == "mostly fails (200: 1, 500: 9): not measured"
    c = RouteConfirmation("POST /c", 400, 11800.0, 12000.0, Interval(11000, 13000), False)
    assert confirmation_text(c).startswith("Not confirmed: POST /c alone kept 11.5 KB/request")
    t = TrafficSource("har", "/tmp/s.har", 20, 12, (("cdn.example.com", 7),), 1, "https://shop.example.com",
                      "http://127.0.0.1:3000")
    assert traffic_text(t) == ("Traffic: s.har: 12 of 20 entries replayed (to https://shop.example.com as "
                               "http://127.0.0.1:3000); 7 to other hosts dropped (cdn.example.com: 7); 1 not requests (skipped)")


def test_reports_render_routes_and_culprit_routes():
    async def go():
        leaks = {"GET /a": 0.0, "POST /c": 8000.0}
        node = FakeRoutes(leaks, noise=10_000)
        async with running(node) as (base, ins):
            return await run_route_protocol([ins], _fake_load(base, leaks), FAST, lambda: None)

    m = asyncio.run(go())
    assert advice(m).startswith("1 of 2 routes leak (POST /c keeps 7.8 KB per request)")
    console = Console(record=True, width=160)
    render_measurement(console, m)
    culprit = Culprit("collection", 8000.0, 1.0, "Object", ["cart[]"], None, routes=["POST /c"])
    render_culprits(console, [culprit])
    text = console.export_text()
    assert "Memory per route" in text and "POST /c" in text and "grows with POST /c" in text
    assert culprit_doc(culprit)["routes"] == ["POST /c"]
    page = render_html(m)
    assert "<h2>Per route</h2>" in page and "POST /c" in page and "Confirmed: POST /c alone" in page


def test_culprits_keep_their_growth_at_each_snapshot_for_the_route_attribution(tmp_path: Path):
    snaps = [unzip("node22", f"s{i}", tmp_path) for i in range(3)]
    culprits = find_culprits(snaps, [100, 400, 700])
    assert culprits and all(len(c.bytes_by_snapshot) == 3 and c.bytes_by_snapshot[0] == 0 for c in culprits)
    assert all(c.bytes_by_snapshot[2] > c.bytes_by_snapshot[1] > 0 for c in culprits)
