"""The HTML report in a real browser: headless Chromium runs the inline plotly.js offline.

Chromium is a Debian package (`apt-get install -y chromium`); the test fails, not skips,
without it, because CI installs it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from leaksleuth.model import (
    Culprit,
    HuntResult,
    Interval,
    LoadStats,
    Measurement,
    ProcessMeasurement,
    Reading,
    SourceLineEvidence,
    SourceLocation,
)
from leaksleuth.report.html import write_html

pytestmark = pytest.mark.integration

EVIL_STEP = "<script>document.title='pwned'</script><img src=x onerror=\"document.title='pwned'\">"
MARKER = "LeakyCacheEntry"


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        path = shutil.which(name)
        if path:
            return path
    pytest.fail("headless Chromium is required for this test: install it with `apt-get install -y chromium`")


def run_chromium(page: Path, profile: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    cmd = [
        chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--no-first-run", "--no-default-browser-check", "--disable-extensions",
        f"--user-data-dir={profile}", "--virtual-time-budget=5000", *extra, page.resolve().as_uri(),
    ]
    env = {**os.environ, "HOME": str(profile)}
    proc = subprocess.run(cmd, check=False, capture_output=True, text=True, timeout=120, env=env)
    assert proc.returncode == 0, f"chromium failed ({proc.returncode}): {proc.stderr[-2000:]}"
    return proc


def report() -> HuntResult:
    def readings(slope: float, pid_offset: int) -> list[Reading]:
        out = []
        for k, n in enumerate([0, 300, 1300, 2300, 3300, 4300]):
            heap = (30 << 20) + pid_offset + (3 << 20 if k else 0) + int(slope * n)
            out.append(Reading(n, heap, heap + (8 << 20), heap + (50 << 20), (1 << 20) + 20 * n, 1 << 20,
                               {"Timeout": 2 + n // 200}, 1_700_000_000.0 + k))
        return out

    procs = [
        ProcessMeasurement(pid, role, serving, "node server.js", slope, Interval(slope * 0.9, slope * 1.1), 3 << 20, 0.0,
                           slope, 20.0, {"Timeout": 0.005}, "leak" if slope else "no leak", readings(slope, off))
        for pid, role, serving, slope, off in ((5001, "worker", True, 8000.0, 0), (5002, "worker", True, 6000.0, 1 << 20),
                                               (5000, "primary", False, 0.0, -(20 << 20)))
    ]
    m = Measurement(
        verdict="leak", bytes_per_request=14_000.0,
        ci95=Interval(12_500.0, 15_500.0), warmup_bytes=6 << 20, code_bytes_per_request=0.0, rss_bytes_per_request=14_000.0,
        external_bytes_per_request=40.0, timers_per_request=0.01, handles_per_request={"Timeout": 0.01},
        requests=4300, errors=2, threshold=64.0, rounds=4, seconds=14.0,
        load=LoadStats(4300, 2, {"200": 4298, "500": 2}, 11.0, 1.4, 9.0), processes=procs,
    )
    c = Culprit(
        kind="collection", bytes_per_request=13_000.0, objects_per_request=1.0, constructor=MARKER,
        path=["(GC roots)", "cache", "::entries", ".<table>", EVIL_STEP, "[]"], location=SourceLocation("server.js", 17, 3),
        evidence=[SourceLineEvidence("grows", "cache", "cache.set(key, value)")], rank=1, processes=[5001, 5002],
    )
    return HuntResult(m, [c], snapshot_requests=[4300, 4700, 5100], project="/srv/app")


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("html") / "report.html"
    write_html(path, report(), title="chromium check")
    return path


def test_chromium_renders_culprits_and_plotly_charts(page: Path, tmp_path: Path) -> None:
    dom = run_chromium(page, tmp_path / "profile", "--dump-dom").stdout
    assert "chromium check" in dom
    assert MARKER in dom and "server.js:17:3" in dom and "grows at `cache.set(key, value)`" in dom
    # plotly ran: three charts (heap, rss/external, Timeout counts), each drawn as SVG
    assert len(re.findall(r'class="[^"]*\bjs-plotly-plot\b', dom)) == 3, "plotly did not draw the three charts"
    assert dom.count('class="main-svg"') >= 3
    assert "scatterlayer" in dom
    # the heap's text stayed text: no element was injected, no script ran
    assert "<title>chromium check</title>" in dom
    assert "pwned" not in dom.split("<body")[0]
    assert "<img src=\"x\"" not in dom and "&lt;script&gt;" in dom


def test_chromium_screenshot(page: Path, tmp_path: Path) -> None:
    shot = Path(os.environ.get("LEAKSLEUTH_SCREENSHOT", tmp_path / "report.png"))
    run_chromium(page, tmp_path / "profile", f"--screenshot={shot}", "--window-size=1200,2000", "--hide-scrollbars")
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
