"""The HTML report: self-contained, escaped, and showing what the terminal shows."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from leaksleuth.model import (
    Culprit,
    HuntResult,
    Interval,
    LoadStats,
    Measurement,
    OwnerGrowthEvidence,
    ProcessMeasurement,
    Reading,
    SourceLineEvidence,
    SourceLocation,
)
from leaksleuth.report.html import write_html

EVIL_STEP = "<script>alert('pwned')</script>"
T0 = 1_700_000_000.0


def readings(slope: float, base: int = 20 << 20, timers: bool = False) -> list[Reading]:
    counts = [0, 300, 1300, 2300, 3300, 4300]
    out = []
    for k, n in enumerate(counts):
        heap = base + (2 << 20 if k else 0) + int(slope * n)
        out.append(Reading(
            requests=n, heap_used=heap, heap_total=heap + (8 << 20), rss=heap + (40 << 20) + 50 * n,
            external=(1 << 20) + 10 * n, code_space=1 << 20,
            resources={"Timeout": 2 + (n // 100 if timers else 0), "TCPSocketWrap": 3}, time=T0 + 2 * k,
        ))
    return out


def process(pid: int, role: str, serving: bool, slope: float, timers: bool = False, title: str = "node") -> ProcessMeasurement:
    return ProcessMeasurement(
        pid=pid, role=role, serving=serving, title=title, bytes_per_request=slope, ci95=Interval(slope * 0.9, slope * 1.1),
        warmup_bytes=2 << 20, code_bytes_per_request=0.0, rss_bytes_per_request=slope + 50,
        external_bytes_per_request=10.0, handles_per_request={"Timeout": 0.01 if timers else 0.0},
        verdict="leak" if slope > 100 else "no leak", readings=readings(slope, timers=timers),
    )


def measurement(complete: bool = True, ci: tuple[float, float] = (9_000.0, 11_000.0)) -> Measurement:
    procs = [process(4242, "worker", True, 10_000.0, timers=True, title="<b>node</b> worker"), process(4241, "primary", False, 0.0)]
    return Measurement(
        verdict="leak",
        bytes_per_request=10_000.0, ci95=Interval(*ci), warmup_bytes=2 << 20, code_bytes_per_request=0.0,
        rss_bytes_per_request=10_050.0, external_bytes_per_request=10.0, timers_per_request=0.01,
        handles_per_request={"Timeout": 0.01}, requests=4300, errors=0, threshold=64.0, rounds=4, seconds=12.5,
        load=LoadStats(requests=4300, errors=0, status_counts={"200": 4300}, seconds=10.0, latency_ms_p50=1.2, latency_ms_p99=7.5),
        processes=procs, log_file="/tmp/target.log", complete=complete, warmup_readings=1,
    )


def culprit() -> Culprit:
    return Culprit(
        kind="listener", bytes_per_request=9_800.0, objects_per_request=1.0, constructor="SessionCache",
        path=["(GC roots)", "$bus", "._events", ".toggleAsideMenu", "[]", EVIL_STEP, "bound f()"],
        location=SourceLocation("src/plugins/bus.js", 42, 5),
        evidence=[OwnerGrowthEvidence("Object", 77, (0, 2900, 5800)), SourceLineEvidence("registers", "tick", "bus.$on(tick, f)")],
        rank=1, processes=[4242],
    )


def hunt(culprits: list[Culprit] | None = None, **kw: object) -> HuntResult:
    return HuntResult(
        measurement=measurement(), culprits=[culprit()] if culprits is None else culprits,
        snapshot_requests=[4300, 4600, 4900], project="/srv/app", **kw,  # type: ignore[arg-type]
    )


def plotly_js_count(text: str) -> int:
    # the plotly.js bundle announces its version once near its start
    return len(re.findall(r"plotly\.js v\d+\.\d+\.\d+", text))


def external_scripts(text: str) -> list[str]:
    return re.findall(r"<script[^>]*\bsrc\s*=", text, flags=re.IGNORECASE) + re.findall(
        r"<link[^>]*\bhref\s*=\s*[\"']?https?://", text, flags=re.IGNORECASE)


def test_hunt_report_has_verdict_culprit_and_is_self_contained(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    write_html(out, hunt())
    text = out.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    # verdict, numbers, advice
    assert 'class="verdict"' in text and ">leak</span>" in text
    assert "+9.8 KB" in text and "run `leaksleuth hunt` to find what grows" in text
    assert "4300 in 4 rounds" in text and "430 req/s" in text
    # the culprit: path glued as the terminal does, in monospace, with location and evidence
    assert "#1</span>" in text and "SessionCache" in text and "listener" in text
    assert "$bus._events.toggleAsideMenu[] → " in text
    assert "src/plugins/bus.js:42:5" in text and "listener registered by `bus.$on(tick, f)`" in text
    # heap text escaped, never live markup
    assert EVIL_STEP not in text
    assert html_escaped(EVIL_STEP) in text
    assert "<b>node</b>" not in text
    # self-contained: plotly inline, once; nothing fetched
    assert external_scripts(text) == []
    assert plotly_js_count(text) == 1
    assert text.count("<script") == text.count("</script>")
    assert 'id="chart-heap"' in text and 'id="chart-rss"' in text
    assert 'id="chart-resources"' in text  # Timeout counts change
    assert "partial result" not in text.lower()


def without_scripts(text: str) -> str:
    return re.sub(r"<script.*?</script>", "", text, flags=re.DOTALL)


def html_escaped(s: str) -> str:
    import html

    return html.escape(s, quote=True)


def test_no_culprit_and_skipped_reason(tmp_path: Path) -> None:
    out = tmp_path / "a.html"
    write_html(out, hunt(culprits=[]))
    assert "No culprit:" in out.read_text(encoding="utf-8")
    write_html(out, hunt(culprits=[], skipped="no leak"))
    assert "no leak measured: no snapshots taken" in out.read_text(encoding="utf-8")


def test_snapshot_files_warn_about_secrets(tmp_path: Path) -> None:
    out = tmp_path / "a.html"
    write_html(out, hunt())
    assert "contain secrets" not in out.read_text(encoding="utf-8")
    write_html(out, hunt(snapshot_files=["/keep/pid4242-s0-4300req.heapsnapshot"]))
    text = out.read_text(encoding="utf-8")
    assert "contain secrets" in text and "pid4242-s0-4300req.heapsnapshot" in text


@pytest.mark.parametrize("ci", [(-math.inf, math.inf), (math.nan, math.nan), (5.0, math.inf)])
def test_partial_measurement_with_open_interval(tmp_path: Path, ci: tuple[float, float]) -> None:
    out = tmp_path / "m.html"
    write_html(out, measurement(complete=False, ci=ci), title="ssr <app>")
    text = out.read_text(encoding="utf-8")
    assert "Partial result" in text
    shown = without_scripts(text)
    assert "∞" in shown and not re.search(r"\bnan\b", shown, flags=re.IGNORECASE)
    assert "<title>ssr &lt;app&gt;</title>" in text
    assert "Culprits" not in text  # a bare Measurement has no culprit section
    assert plotly_js_count(text) == 1


def test_snapshots_only_hunt_has_no_charts(tmp_path: Path) -> None:
    out = tmp_path / "s.html"
    write_html(out, HuntResult(measurement=None, culprits=[culprit()]))
    text = out.read_text(encoding="utf-8")
    assert "No measurement was run" in text and "SessionCache" in text and ">leak</span>" in text
    assert plotly_js_count(text) == 0 and external_scripts(text) == []
