"""The `--json` documents: the model's facts plus the sentences of `report.advice`.

This is the JSON contract of the CLI; `leaksleuth.jsonio` writes the documents."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from leaksleuth.model import Culprit, HuntResult, Measurement, WatchPoint
from leaksleuth.report.advice import advice, evidence_text, skipped_text, watch_note


def measurement_doc(m: Measurement) -> dict[str, Any]:
    doc = m.to_json()
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
        "evidence": [evidence_text(e) for e in c.evidence],
        "owner": c.owner,
        "processes": c.processes,
    }


def hunt_doc(h: HuntResult) -> dict[str, Any]:
    data: dict[str, Any] = measurement_doc(h.measurement) if h.measurement else {"verdict": h.verdict}
    data["culprits"] = [culprit_doc(c) for c in h.culprits]
    data["snapshots"] = {
        "requests": h.snapshot_requests,
        "files": h.snapshot_files,
        "capture_seconds": h.snapshot_seconds,
        "analysis_seconds": h.analysis_seconds,
        "skipped_reason": skipped_text(h),
    }
    return data


def watch_doc(points: list[WatchPoint]) -> dict[str, Any]:
    return {"points": [{**asdict(p), "note": watch_note(p)} for p in points]}
