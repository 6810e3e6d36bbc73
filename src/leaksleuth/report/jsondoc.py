"""The `--json` documents: the model's facts plus the sentences of `report.advice`.

This is the JSON contract of the CLI; `leaksleuth.jsonio` writes the documents."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from leaksleuth.model import Capture, Culprit, HuntResult, Interval, Measurement, OomForecast, Trend, WatchPoint
from leaksleuth.report.advice import (
    advice,
    capture_text,
    confirmation_text,
    coverage_text,
    evidence_text,
    forecast_text,
    location_doc,
    route_note,
    skipped_text,
    traffic_text,
    watch_note,
    watch_verdict_text,
)


def measurement_doc(m: Measurement) -> dict[str, Any]:
    doc = m.to_json()
    doc["routes"] = [{**asdict(r), "note": route_note(r) or None} for r in m.routes]  # ranked worst first
    if m.confirmation is not None:
        doc["confirmation"]["text"] = confirmation_text(m.confirmation)
    if m.traffic is not None:
        doc["traffic"]["text"] = traffic_text(m.traffic)
    return {"verdict": doc.pop("verdict"), "advice": advice(m), **doc}


def culprit_doc(c: Culprit) -> dict[str, Any]:
    return {
        "rank": c.rank,
        "kind": c.kind,
        "bytes_per_request": c.bytes_per_request,
        "objects_per_request": c.objects_per_request,
        "constructor": c.constructor,
        "path": c.path,
        "location": str(c.location) if c.location else None,
        "locations": [location_doc(loc) for loc in c.locations],
        "evidence": [evidence_text(e) for e in c.evidence],
        "owner": c.owner,
        "processes": c.processes,
        "routes": c.routes,
    }


def hunt_doc(h: HuntResult) -> dict[str, Any]:
    data: dict[str, Any] = measurement_doc(h.measurement) if h.measurement else {"verdict": h.verdict}
    data["culprits"] = [culprit_doc(c) for c in h.culprits]
    data["coverage"] = {
        "explained_bytes_per_request": h.explained_bytes_per_request if h.culprits else None,
        "unexplained_bytes_per_request": h.unexplained_bytes_per_request,
        "share": h.coverage,
        "text": coverage_text(h),
    }
    data["snapshots"] = {
        "requests": h.snapshot_requests,
        "files": h.snapshot_files,
        "capture_seconds": h.snapshot_seconds,
        "analysis_seconds": h.analysis_seconds,
        "skipped_reason": skipped_text(h),
    }
    return data


def _interval(ci: Interval | None) -> list[float] | None:
    return [ci.low, ci.high] if ci is not None else None


def trend_doc(t: Trend) -> dict[str, Any]:
    return {
        "verdict": t.verdict, "bytes_per_second": t.bytes_per_second, "ci95": _interval(t.ci95),
        "bytes_per_request": t.bytes_per_request, "ci95_per_request": _interval(t.ci95_per_request),
        "troughs": t.troughs, "seconds": t.seconds, "trough_window": t.trough_window,
        "mann_kendall_p": t.mann_kendall_p, "level": t.level, "counter_resets": t.counter_resets,
        "collections": t.collections,
    }


def forecast_doc(f: OomForecast | None) -> dict[str, Any] | None:
    if f is None:
        return None
    return {"limit_kind": f.limit_kind, "limit_bytes": f.limit_bytes, "used_bytes": f.used_bytes,
            "seconds": f.seconds, "earliest": f.earliest, "latest": f.latest, "text": forecast_text(f)}


def capture_doc(c: Capture) -> dict[str, Any]:
    return {
        "kind": c.kind, "pid": c.pid, "started": c.started, "seconds": c.seconds, "files": list(c.files),
        "refused": c.refused, "forced_gcs": c.forced_gcs,
        "sites": [{"function": s.function, "location": str(s.location), "grown_bytes": s.grown_bytes,
                   "live_bytes": s.live_bytes, "stack": list(s.stack)} for s in c.sites],
        "culprits": [culprit_doc(x) for x in c.culprits],
        "text": capture_text(c),
    }


def point_doc(p: WatchPoint) -> dict[str, Any]:
    t = p.trend
    return {
        "pid": p.pid, "role": p.role, "time": p.time, "source": p.source, "heap_used": p.heap_used, "rss": p.rss,
        "heap_limit": p.heap_limit, "bytes_per_second": p.bytes_per_second, "seconds_to_limit": p.seconds_to_limit,
        "verdict": t.verdict, "bytes_per_request": t.bytes_per_request, "ci95": _interval(t.ci95),
        "trend": trend_doc(t), "forecast": forecast_doc(p.forecast),
        "cgroup": asdict(p.cgroup) | {"working_set": p.cgroup.working_set} if p.cgroup is not None else None,
        "forced_gcs": p.forced_gcs, "oom_kills": p.oom_kills, "oom_killed": p.oom_killed, "lost": p.lost,
        "snapshot": p.snapshot, "snapshot_refused": p.snapshot_refused, "counter_reset": p.counter_reset,
        "capture": capture_doc(p.capture) if p.capture is not None else None,
        "note": watch_note(p),
    }


def process_doc(points: list[WatchPoint]) -> dict[str, Any]:
    """One process over the watch: its last trend and forecast, its escalations and culprits."""
    alive = [p for p in points if not p.lost]
    last = alive[-1] if alive else points[-1]
    t, f = last.trend, last.forecast
    captures = [p.capture for p in points if p.capture is not None]
    per_request = t.bytes_per_request is not None
    return {
        "pid": last.pid, "role": last.role, "source": last.source, "verdict": t.verdict,
        "bytes_per_second": t.bytes_per_second, "bytes_per_request": t.bytes_per_request,
        "ci95": _interval(t.ci95_per_request if per_request else t.ci95),
        "ci95_unit": "bytes/request" if per_request else "bytes/second",
        "seconds_to_oom": f.seconds if f is not None else None,
        "oom_band": [f.earliest, f.latest] if f is not None else None,
        "limit_bytes": f.limit_bytes if f is not None else (last.heap_limit or None),
        "limit_kind": f.limit_kind if f is not None else "heap",
        "forced_gcs": max(p.forced_gcs for p in points),
        "oom_kills": max(p.oom_kills for p in points),
        "lost": points[-1].lost, "oom_killed": any(p.oom_killed for p in points),
        "troughs": t.troughs, "mann_kendall_p": t.mann_kendall_p,
        "captures": [capture_doc(c) for c in captures],
        "culprits": [culprit_doc(c) for cap in captures for c in cap.culprits],
        "verdict_text": watch_verdict_text(last),
    }


def watch_doc(points: list[WatchPoint]) -> dict[str, Any]:
    by_pid: dict[int, list[WatchPoint]] = {}
    for p in points:
        by_pid.setdefault(p.pid, []).append(p)
    return {
        "points": [point_doc(p) for p in points],
        "processes": [process_doc(ps) for ps in by_pid.values()],
    }
