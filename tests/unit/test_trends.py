"""The pure parts of watch-without-GC and fleet: troughs, the trend test, counters, the OOM
forecast, cgroup files, metrics text, the Prometheus exposition and the rule file."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from leaksleuth.errors import MetricsError, UsageError
from leaksleuth.live.cgroup import old_space_flag, read_cgroup
from leaksleuth.live.metrics import parse_exposition
from leaksleuth.model import Interval, OomForecast, WatchPoint
from leaksleuth.options import FleetSpec, RulesSpec, WatchSpec
from leaksleuth.report.prometheus import WatchCollector
from leaksleuth.report.rules import rule_file, seconds
from leaksleuth.stats.trend import oom_forecast
from leaksleuth.stats.trough import cumulative, envelope, fit_troughs, local_minima, mann_kendall

MB = 1 << 20


def sawtooth(seconds_: float = 90, period: float = 5.0, leak_per_s: float = 0.0, seed: int = 1,
             dt: float = 0.5) -> tuple[np.ndarray, np.ndarray]:
    """Old generation read at random moments: climbs 12 MB of garbage, dropped by a major GC."""
    rng = np.random.default_rng(seed)
    t = np.arange(0, seconds_, dt)
    v = 19 * MB + (t % period) / period * 12 * MB + rng.normal(0, 50_000, len(t)) + leak_per_s * t
    return t, v


def test_local_minima_are_the_readings_right_after_a_drop():
    assert local_minima([5, 6, 7, 3, 4, 5, 2, 2, 6]).tolist() == [3, 6]


def test_envelope_keeps_the_lowest_reading_of_each_window():
    t = np.arange(10.0)
    v = np.array([5, 4, 6, 7, 1, 9, 9, 8, 3, 2], dtype=float)
    _, tv, idx = envelope(t, v, 5.0)
    assert tv.tolist() == [1, 2] and idx.tolist() == [4, 9]


def test_a_sawtooth_is_not_a_leak_and_a_slow_leak_under_it_is():
    t, v = sawtooth()
    served = t * 100  # 100 requests a second
    clean = fit_troughs(t, v, requests=served)
    assert clean.verdict != "leak" and clean.collections >= 6
    assert abs(clean.bytes_per_request or 0) < 100
    leaky = fit_troughs(t, v + 2048 * served, requests=served)  # 2 KB per request
    assert leaky.verdict == "leak" and leaky.bytes_per_request == pytest.approx(2048, rel=0.1)
    assert leaky.ci95_per_request is not None and leaky.ci95_per_request.low > 256
    assert leaky.mann_kendall_p < 0.01


def test_growth_before_enough_collections_is_never_called_a_leak():
    t, v = sawtooth(seconds_=12, period=30)  # garbage climbing, no major GC seen yet
    trend = fit_troughs(t, v, requests=t * 100)
    assert trend.verdict == "inconclusive" and trend.collections < 6


def test_a_traffic_peak_is_normalised_by_the_request_counter():
    t, v = sawtooth(seconds_=120)
    rate = np.where((t > 40) & (t < 80), 300.0, 100.0)  # triple the traffic for 40 s
    served = np.cumsum(rate) * 0.5
    # garbage grows with traffic, troughs move with it a little: still no per-request leak
    trend = fit_troughs(t, v + 0.02 * served * 1000, requests=served, request_threshold=256)
    assert trend.verdict != "leak" or (trend.bytes_per_request or 0) < 256


def test_mann_kendall_sees_a_monotonic_trend_and_not_noise():
    rng = np.random.default_rng(3)
    t = np.arange(30.0)
    tau, p = mann_kendall(t, t + rng.normal(0, 1, 30))
    assert tau > 0.7 and p < 1e-6
    _, p = mann_kendall(t, rng.normal(0, 1, 30))
    assert p > 0.01


def test_counter_resets_are_counted_and_bridged():
    served, resets = cumulative([10, 20, 30, 5, 15])
    assert resets == 1 and served.tolist() == [0, 10, 20, 25, 35]


def test_oom_forecast_names_the_limit_hit_first_with_a_band():
    heap = ("heap", 4000 * MB, 100 * MB, 1000.0, Interval(500.0, 1500.0))
    cgroup = ("cgroup", 512 * MB, 300 * MB, 100_000.0, Interval(50_000.0, 150_000.0))
    f = oom_forecast([heap, cgroup])
    assert isinstance(f, OomForecast) and f.limit_kind == "cgroup"
    assert f.seconds == pytest.approx(212 * MB / 100_000)
    assert f.earliest is not None and f.latest is not None and f.earliest < f.seconds < f.latest
    flat = oom_forecast([("heap", 4000 * MB, 100 * MB, -5.0, Interval(-10.0, 1.0))])
    assert flat is not None and flat.seconds is None and flat.latest is None
    assert oom_forecast([("heap", None, 0.0, 1.0, Interval(0.0, 2.0))]) is None


@pytest.mark.parametrize("v2", [False, True])
def test_cgroup_limit_working_set_and_oom_kills(tmp_path: Path, v2: bool):
    proc, root = tmp_path / "proc", tmp_path / "cg"
    (proc / "42").mkdir(parents=True)
    if v2:
        (proc / "42" / "cgroup").write_text("0::/kubepods/pod1\n")
        group = root / "kubepods" / "pod1"
        group.mkdir(parents=True)
        (group / "memory.max").write_text(f"{512 * MB}\n")
        (group / "memory.current").write_text(f"{300 * MB}\n")
        (group / "memory.stat").write_text(f"anon 1\ninactive_file {100 * MB}\n")
        (group / "memory.events").write_text("low 0\nhigh 0\nmax 3\noom 2\noom_kill 2\n")
    else:
        (proc / "42" / "cgroup").write_text("5:cpu,cpuacct:/x\n4:memory:/docker/abc\n")
        group = root / "memory" / "docker" / "abc"
        group.mkdir(parents=True)
        (group / "memory.limit_in_bytes").write_text(f"{512 * MB}\n")
        (group / "memory.usage_in_bytes").write_text(f"{300 * MB}\n")
        (group / "memory.stat").write_text(f"cache 5\ntotal_inactive_file {100 * MB}\n")
        (group / "memory.oom_control").write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    g = read_cgroup(42, proc, root)
    assert g is not None and g.version == (2 if v2 else 1)
    assert g.limit == 512 * MB and g.working_set == 200 * MB and g.oom_kills == 2


def test_old_space_flag_from_the_command_line_or_node_options(tmp_path: Path):
    (tmp_path / "7").mkdir()
    (tmp_path / "7" / "cmdline").write_bytes(b"node\0--max-old-space-size=256\0server.js\0")
    (tmp_path / "7" / "environ").write_bytes(b"HOME=/\0NODE_OPTIONS=--max-old-space-size=128\0")
    assert old_space_flag(7, tmp_path) == 256 * MB


EXPOSITION = """# HELP nodejs_heap_size_used_bytes Process heap size used from Node.js in bytes.
# TYPE nodejs_heap_size_used_bytes gauge
nodejs_heap_size_used_bytes 30000000
# TYPE nodejs_heap_space_size_used_bytes gauge
nodejs_heap_space_size_used_bytes{space="new"} 4000000
nodejs_heap_space_size_used_bytes{space="old"} 20000000
nodejs_heap_space_size_used_bytes{space="code"} 3000000
nodejs_heap_space_size_used_bytes{space="code_large_object"} 100000
# TYPE process_resident_memory_bytes gauge
process_resident_memory_bytes 90000000
# TYPE http_requests_total counter
http_requests_total{code="200"} 1000
http_requests_total{code="500"} 5
"""


def test_metrics_text_gives_heap_spaces_rss_and_requests():
    e = parse_exposition(EXPOSITION)
    assert e.heap_used == 30e6 and e.code_space == 3.1e6 and e.young_space == 4e6
    assert e.rss == 90e6 and e.requests == 1005 and e.request_metric == "http_requests_total"
    assert parse_exposition(EXPOSITION, "jobs_total").requests is None


@pytest.mark.parametrize("text, words", [
    ("<html><body>login</body></html>", "not Prometheus text"),
    ("up 1\n", "no nodejs_heap_size_used_bytes"),
])
def test_bad_metrics_answers_say_what_is_wrong(text: str, words: str):
    with pytest.raises(MetricsError, match=words):
        parse_exposition(text)


def test_serve_exposes_the_latest_point_of_each_process():
    t, v = sawtooth()
    trend = fit_troughs(t, v + 2048 * t * 100, requests=t * 100)
    forecast = OomForecast("cgroup", 512 * MB, 300 * MB, 3600.0, 1800.0, 7200.0)
    point = WatchPoint(pid=42, role="server", time=90, heap_used=40 * MB, rss=90 * MB, heap_limit=0,
                       bytes_per_second=trend.bytes_per_second, seconds_to_limit=None, source="metrics",
                       trend=trend, forecast=forecast)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(WatchCollector(lambda: [point]))
    text = generate_latest(registry).decode()
    labels = 'pid="42",role="server",source="metrics"'
    assert f'leaksleuth_leak_verdict{{{labels},verdict="leak"}} 1.0' in text
    assert f"leaksleuth_seconds_to_oom{{{labels}}} 3600.0" in text
    assert f'leaksleuth_memory_limit_bytes{{kind="cgroup",{labels}}} 5.36870912e+08' in text
    assert f"leaksleuth_forced_gcs_total{{{labels}}} 0.0" in text
    assert "leaksleuth_leak_bytes_per_request{" in text


def test_rule_file_uses_troughs_their_trend_and_the_memory_limit():
    text = rule_file(RulesSpec(selector='job="ssr"', trough_window="5m", trend_range="1h"))
    assert "min_over_time(leaksleuth:heap_old_bytes[5m])" in text and 'space=~"code.*|new.*"' in text
    assert "resets(leaksleuth:heap_old_bytes[1h]) >= 6" in text
    assert "deriv(leaksleuth:heap_trough_bytes[1h])" in text and "predict_linear(" in text
    assert "alert: NodeHeapLeak" in text and "alert: NodeMemoryOOMPredicted" in text
    assert "offset 40m" in text  # the median-of-thirds sign test
    with pytest.raises(UsageError):
        rule_file(RulesSpec(trough_window="30m", trend_range="1h"))
    assert seconds("90s") == 90 and seconds("2h") == 7200


def test_options_refuse_what_cannot_work():
    with pytest.raises(UsageError, match="snapshot is one"):
        WatchSpec(passive=True, escalate="snapshots")
    with pytest.raises(UsageError, match="host:port"):
        WatchSpec(serve="9477x")
    assert not WatchSpec(metrics_url="http://127.0.0.1:1/metrics").gc
    assert FleetSpec("http://p", "{job=\"a\"}", since=3600).selector == 'job="a"'
    with pytest.raises(UsageError, match="fewer than 8 steps"):
        FleetSpec("http://p", since=60, step=30)
    assert math.isfinite(FleetSpec("http://p").step)


def test_fleet_fits_a_pod_since_its_last_restart():
    from leaksleuth.flows.fleet import regex_of, since_last_reset

    times = np.arange(20.0)
    values = np.arange(20.0)
    counter = np.concatenate([np.arange(5.0) * 10, np.arange(15.0) * 10])  # reset at index 5
    t, _, c, resets = since_last_reset(times, values, counter, None)
    assert resets == 1 and t[0] == 5 and c is not None and c[0] == 0
    assert regex_of(["ssr-v2-0", "a.b"]) == "a\\\\.b|ssr\\\\-v2\\\\-0"


def test_no_oom_is_forecast_from_a_side_trend_that_is_only_noise():
    from leaksleuth.stats.trough import significant_slope

    rng = np.random.default_rng(5)
    t = np.arange(0, 60, 0.5)
    noise = fit_troughs(t, 100 * MB + rng.normal(0, 200_000, len(t)))
    assert significant_slope(noise)[0] == 0.0
    growing = fit_troughs(t, 100 * MB + 50_000 * t + rng.normal(0, 20_000, len(t)))
    assert significant_slope(growing)[0] == pytest.approx(50_000, rel=0.1)
