"""A culprit's places (app and library, original and generated) and the coverage of the measured
leak, as the JSON contract and the sentences say them."""

from __future__ import annotations

from leaksleuth.model import Culprit, HuntResult, Interval, LoadStats, Measurement, SourceLocation
from leaksleuth.report.advice import coverage_text, location_text
from leaksleuth.report.jsondoc import culprit_doc, hunt_doc

LIBRARY = SourceLocation("node_modules/node-cache/lib/node_cache.js", 622, 17, origin="library",
                         package="node-cache@5.1.2", role="defines", via="heap")
APP = SourceLocation("src/services/prices.js", 12, 21, origin="app", role="calls", via="allocation stack",
                     generated="main.js:1:3456")


def _measurement(bytes_per_request: float) -> Measurement:
    return Measurement(
        verdict="leak", bytes_per_request=bytes_per_request, ci95=Interval(bytes_per_request - 10, bytes_per_request + 10),
        warmup_bytes=0.0, code_bytes_per_request=0.0, rss_bytes_per_request=0.0, external_bytes_per_request=0.0,
        timers_per_request=1.0, handles_per_request={"Timeout (unref'd)": 1.0}, requests=1000, errors=0,
        threshold=256.0, rounds=6, seconds=5.0, load=LoadStats(1000, 0, {"200": 1000}, 5.0, 1.0, 2.0), processes=[],
        unref_timers_per_request=1.0,
    )


def test_the_app_line_is_primary_and_the_library_line_stays_beside_it():
    c = Culprit("timer", 4000.0, 1.0, "Timeout", ["timerListMap (Object)", "[]"], None)
    c.add_location(LIBRARY)
    assert c.location == LIBRARY  # the only place known so far
    c.add_location(APP)
    c.add_location(APP)  # once
    assert c.location == APP and c.locations == [LIBRARY, APP]
    doc = culprit_doc(c)
    assert doc["location"] == "src/services/prices.js:12:21"
    assert doc["locations"] == [
        {"file": "node_modules/node-cache/lib/node_cache.js", "line": 622, "column": 17, "in": "library",
         "package": "node-cache@5.1.2", "role": "defines", "generated": None, "via": "heap"},
        {"file": "src/services/prices.js", "line": 12, "column": 21, "in": "app", "package": None,
         "role": "calls", "generated": "main.js:1:3456", "via": "allocation stack"},
    ]
    assert location_text(LIBRARY).startswith("node_modules/node-cache/lib/node_cache.js:622:17 (library node-cache@5.1.2")
    assert "generated main.js:1:3456" in location_text(APP)


def test_locations_compare_by_place_only():
    assert SourceLocation("a.js", 1, 2) == SourceLocation("a.js", 1, 2, origin="library", role="defines")


def test_coverage_says_how_much_is_explained_and_what_is_left():
    c = Culprit("timer", 3000.0, 1.0, "Timeout", ["x"], APP)
    h = HuntResult(_measurement(4000.0), [c])
    assert h.coverage == 0.75 and h.unexplained_bytes_per_request == 1000.0
    text = coverage_text(h)
    assert text is not None and text.startswith("culprits explain 75% of the measured 3.9 KB/request")
    assert "unexplained: 1000 B/request" in text
    doc = hunt_doc(h)["coverage"]
    assert doc["share"] == 0.75 and doc["unexplained_bytes_per_request"] == 1000.0
    assert HuntResult(_measurement(4000.0), []).coverage is None
