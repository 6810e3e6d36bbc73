"""The pure core: the verdict from readings, the advice written from it, watch's arithmetic,
the snapshot headroom check and the sampling profiler's evidence."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from leaksleuth.flows.hunt import add_sampling_evidence
from leaksleuth.live.capture import SNAPSHOT_COST_FACTOR, cgroup_available, headroom
from leaksleuth.live.sampling import allocation_sites
from leaksleuth.model import AllocationEvidence, Culprit, LoadStats, ProcessReadings, Reading, SourceLocation
from leaksleuth.report.advice import advice, evidence_text
from leaksleuth.stats.readings import summarise
from leaksleuth.stats.trend import YOUNG_GENERATION_RESERVE, seconds_to_limit, trend, usable_heap_limit

LOAD = LoadStats(requests=3000, errors=0, status_counts={"200": 3000}, seconds=3.0, latency_ms_p50=1.0, latency_ms_p99=2.0)
COUNTS = [0, 300, 800, 1300, 1800, 2300, 2800]


def series(pid: int, per_request: float, *, serving: bool = True, role: str = "server", warmup: int = 0,
           timers: float = 0.0, noise: list[int] | None = None) -> ProcessReadings:
    readings = []
    for k, n in enumerate(COUNTS):
        heap = (20 << 20) + (warmup if k else 0) + int(per_request * n) + (noise[k] if noise else 0)
        readings.append(Reading(requests=n, heap_used=heap, heap_total=heap + (4 << 20), rss=heap + (30 << 20),
                                external=1 << 20, code_space=1 << 20, resources={"Timeout": 1 + int(timers * n)}))
    return ProcessReadings(pid, role, serving, "server.js", readings)  # type: ignore[arg-type]


def test_a_steady_leak_is_a_leak_with_its_warmup_cost_apart():
    m = summarise([series(1, 4000.0, warmup=19 << 20)], 1, LOAD, 256.0, rounds=6, seconds=3.0)
    assert m.verdict == "leak" and m.bytes_per_request == pytest.approx(4000.0, rel=1e-3)
    assert m.warmup_bytes == pytest.approx(19 << 20, rel=0.01) and m.warmup_readings == 1
    assert "keeps 3.9 KB per request" in advice(m) and "leaksleuth hunt" in advice(m)


def test_noise_around_a_flat_heap_is_no_leak():
    noise = [0, 40_000, -30_000, 20_000, -10_000, 30_000, -20_000]
    m = summarise([series(1, 0.0, noise=noise)], 1, LOAD, 256.0, rounds=6, seconds=3.0)
    assert m.verdict == "no leak" and m.ci95.high < 256
    assert advice(m).startswith("growth stays under the 256 B/request threshold")


def test_an_interval_across_the_threshold_is_inconclusive_and_says_what_to_do():
    noise = [0, 600_000, -500_000, 400_000, -600_000, 500_000, -400_000]
    m = summarise([series(1, 300.0, noise=noise)], 1, LOAD, 256.0, rounds=6, seconds=3.0)
    assert m.verdict == "inconclusive" and m.ci95.low < 256 < m.ci95.high
    assert "straddles" in advice(m) and "--rounds" in advice(m)


def test_a_timer_per_request_is_a_leak_even_without_bytes():
    m = summarise([series(1, 0.0, timers=1.0)], 1, LOAD, 256.0, rounds=6, seconds=3.0)
    assert m.verdict == "leak" and m.leaking_handles == {"Timeout": pytest.approx(1.0)}
    assert "each request leaves 1.00 Timeout behind" in advice(m)


def test_a_growing_process_that_serves_no_http_makes_a_leak_and_is_named():
    workers = [series(11, 0.0, role="worker"), series(12, 0.0, role="worker")]
    agent = series(10, 1200.0, serving=False, role="agent")
    m = summarise([*workers, agent], 1, LOAD, 256.0, rounds=6, seconds=3.0)
    assert m.bytes_per_request == pytest.approx(0.0, abs=1.0)  # the total counts serving processes only
    assert m.verdict == "leak" and [p.pid for p in m.growing_elsewhere] == [10]
    assert "agent 10" in advice(m)


def test_the_total_is_the_sum_of_the_serving_processes():
    m = summarise([series(1, 1000.0, role="worker"), series(2, 3000.0, role="worker")], 1, LOAD, 256.0, 6, 3.0)
    assert m.bytes_per_request == pytest.approx(4000.0, rel=1e-3)
    assert [p.bytes_per_request for p in m.processes] == [pytest.approx(1000.0, rel=1e-3), pytest.approx(3000.0, rel=1e-3)]


def test_the_usable_heap_limit_leaves_out_the_young_generation():
    assert usable_heap_limit(4144 << 20) == (4144 << 20) - YOUNG_GENERATION_RESERVE
    assert usable_heap_limit(50 << 20) == 50 << 20  # too small to hold the reserve: as V8 says


def test_time_to_the_limit():
    assert seconds_to_limit(100, 1100, 10.0) == pytest.approx(100.0)
    assert seconds_to_limit(100, 1100, 0.0) is None and seconds_to_limit(100, 1100, -5.0) is None
    assert seconds_to_limit(1200, 1100, 10.0) == 0.0


def test_trend_needs_three_readings_and_ignores_one_outlier():
    assert trend([0.0, 1.0], [0.0, 100.0]) == 0.0
    assert trend([0, 1, 2, 3, 4, 5], [0, 10, 20, 900, 40, 50]) == pytest.approx(10.0)


def test_headroom_against_a_given_limit():
    room = headroom(os.getpid(), 10 << 20, memory_limit=1 << 40)
    assert room.needed == int(SNAPSHOT_COST_FACTOR * (10 << 20)) and room.enough
    assert not headroom(os.getpid(), 10 << 20, memory_limit=1 << 20).enough


@pytest.mark.parametrize("v2", [True, False])
def test_headroom_reads_cgroup_v1_and_v2(tmp_path: Path, v2: bool):
    proc, root = tmp_path / "proc", tmp_path / "cgroup"
    (proc / "42").mkdir(parents=True)
    if v2:
        (proc / "42" / "cgroup").write_text("0::/kubepods/pod1\n")
        group = root / "kubepods" / "pod1"
        group.mkdir(parents=True)
        (group / "memory.max").write_text(f"{512 << 20}\n")
        (group / "memory.current").write_text(f"{200 << 20}\n")
    else:
        (proc / "42" / "cgroup").write_text("5:cpu,cpuacct:/x\n4:memory:/docker/abc\n")
        group = root / "memory" / "docker" / "abc"
        group.mkdir(parents=True)
        (group / "memory.limit_in_bytes").write_text(f"{512 << 20}\n")
        (group / "memory.usage_in_bytes").write_text(f"{200 << 20}\n")
    left, source = cgroup_available(42, proc, root)  # type: ignore[misc]
    assert left == 312 << 20 and source == "cgroup limit 512.0 MB"


def test_no_cgroup_limit_is_none(tmp_path: Path):
    (tmp_path / "proc" / "7").mkdir(parents=True)
    (tmp_path / "proc" / "7" / "cgroup").write_text("0::/\n")
    (tmp_path / "cg").mkdir()
    (tmp_path / "cg" / "memory.max").write_text("max\n")
    (tmp_path / "cg" / "memory.current").write_text("1\n")
    assert cgroup_available(7, tmp_path / "proc", tmp_path / "cg") is None


def frame(fn: str, url: str, line: int) -> dict[str, object]:
    return {"functionName": fn, "url": url, "lineNumber": line - 1, "columnNumber": 4, "scriptId": "1"}


PROFILE = {"head": {"callFrame": frame("(root)", "", 1), "selfSize": 0, "children": [
    {"callFrame": frame("render", "file:///app/src/components/AsideMenu.js", 40), "selfSize": 0, "children": [
        {"callFrame": frame("$on", "file:///app/node_modules/vue/dist/vue.js", 900), "selfSize": 81920, "children": []},
    ]},
    {"callFrame": frame("record", "file:///app/src/middleware/stats.js", 24), "selfSize": 8192, "children": []},
    {"callFrame": frame("internal", "node:internal/timers", 3), "selfSize": 4096, "children": []},
]}}


def test_allocation_sites_are_the_deepest_user_frames():
    sites = allocation_sites(PROFILE)
    assert [(s.function, s.url.rsplit("/", 1)[-1], s.line, s.live_bytes) for s in sites] == [
        ("render", "AsideMenu.js", 40, 81920), ("record", "stats.js", 24, 8192)]
    assert sites[0].stack == ("render AsideMenu.js:40",)


def test_sampling_evidence_goes_to_the_culprit_whose_line_it_passes():
    bus = Culprit("listener", 42_000.0, 1.0, "VueComponent <AsideMenu>", ["$bus"], SourceLocation("src/components/AsideMenu.js", 40, 17))
    other = Culprit("collection", 3_000.0, 1.0, "Object", ["stats"], SourceLocation("src/lib/other.js", 1, 1))
    add_sampling_evidence([bus, other], allocation_sites(PROFILE), Path("/app"))
    assert other.evidence == []
    (e,) = bus.evidence
    assert isinstance(e, AllocationEvidence) and e.location == SourceLocation("src/components/AsideMenu.js", 40, 5)
    assert evidence_text(e).startswith("sampling profiler: 80.0 KB still alive was allocated under render at src/components/AsideMenu.js:40:5")
