"""The sentences users read, written from the model's facts: advice on a measurement, the
evidence behind a culprit, why snapshots were skipped, what a watch point or experiment step
says. Every renderer (terminal, JSON, HTML) takes its words from here."""

from __future__ import annotations

from leaksleuth.model import (
    AllocationEvidence,
    ClassCountEvidence,
    ClosureEvidence,
    Evidence,
    HuntResult,
    Measurement,
    OwnerGrowthEvidence,
    RootPathEvidence,
    SourceLineEvidence,
    WatchPoint,
)
from leaksleuth.model.experiment import ExperimentEvent
from leaksleuth.units import fmt_bytes


def advice(m: Measurement) -> str:
    """What the verdict means and what to do next."""
    slope, ci, threshold = m.bytes_per_request, m.ci95, m.threshold
    if m.leaking_handles:
        what = ", ".join(f"{v:.2f} {k}" for k, v in sorted(m.leaking_handles.items()))
        heap = (
            f"the heap keeps {fmt_bytes(slope)} per request and "
            if ci.above(threshold)
            else f"heap {fmt_bytes(slope, signed=True)}/request, but "
        )
        return f"{heap}each request leaves {what} behind; run `leaksleuth hunt` to see where"
    if m.growing_elsewhere:
        names = ", ".join(f"{p.role} {p.pid}" for p in m.growing_elsewhere)
        return f"a process that serves no HTTP grows: {names}; look there too (leaksleuth hunt)"
    if m.verdict == "leak":
        return (
            f"the heap keeps {fmt_bytes(slope)} per request; "
            "run `leaksleuth hunt` to find what grows and which line keeps it"
        )
    if m.verdict == "no leak":
        code = m.code_bytes_per_request
        note = f"; code space grew {fmt_bytes(code)}/request (V8 compiling, not counted)" if code > 0 else ""
        return f"growth stays under the {fmt_bytes(threshold)}/request threshold{note}"
    return (
        f"the 95% interval [{fmt_bytes(ci.low)}, {fmt_bytes(ci.high)}] per request straddles the "
        f"{fmt_bytes(threshold)} threshold after {m.rounds} rounds: run more rounds "
        "(--rounds, --budget) or larger ones (--requests)"
    )


def evidence_text(e: Evidence) -> str:
    """One claim behind a culprit, and what it rests on."""
    if isinstance(e, ClassCountEvidence):
        return (
            f"heap: live {e.class_name} objects created since the first snapshot: "
            f"{e.objects_per_request:.2f} per request, in step with requests (counted by class; "
            "what their callbacks keep alive is charged to the path shown)"
        )
    if isinstance(e, OwnerGrowthEvidence):
        return (
            f"heap: new objects charged to {e.owner_class or 'an owner'} @{e.owner_id} grew "
            + " → ".join(fmt_bytes(b) for b in e.bytes_by_snapshot)
            + " across the snapshots, in step with requests"
        )
    if isinstance(e, RootPathEvidence):
        return "path from the GC roots: " + " ".join(e.steps)
    if isinstance(e, SourceLineEvidence):
        if e.role == "registers":
            return f"source: listener registered by `{e.text}` (found by reading the handler's script)"
        return f"source: `{e.name}` grows at `{e.text}` (found by reading the script that holds it)"
    if isinstance(e, ClosureEvidence):
        return f"location: closure {e.closure} defined here (V8 heap snapshot)"
    if isinstance(e, AllocationEvidence):
        return (
            f"sampling profiler: {fmt_bytes(e.live_bytes)} still alive was allocated under "
            f"{e.function} at {e.location} (stack: {' → '.join(e.stack[-3:])})"
        )
    raise AssertionError(f"unknown evidence {e!r}")


def skipped_text(h: HuntResult) -> str | None:
    """Why a hunt took no snapshots, if it did not."""
    if h.skipped == "no leak":
        return "no leak measured: no snapshots taken"
    if h.skipped == "headroom":
        return f"no snapshots: {h.skipped_detail}"
    return None


def watch_note(p: WatchPoint) -> str | None:
    if p.lost:
        return "process lost: it exited or was killed"
    if p.snapshot_refused:
        return f"no snapshot: {p.snapshot_refused}"
    return None


def configuration_label(applied_count: int, toggles: int, switched_off: list[str] | tuple[str, ...]) -> str:
    """A configuration of an experiment in the user's words."""
    if not applied_count:
        return "all on"
    if applied_count == toggles:
        return "all off"
    return "without " + ", ".join(switched_off)


def experiment_event_text(e: ExperimentEvent) -> str:
    label = configuration_label(len(e.applied), e.toggles, e.switched_off)
    if e.step == "run":
        return f"run {e.run}: {label}"
    if e.step == "resumed":
        return f"{label}: from the record ({e.status})"
    if e.step == "building":
        return f"{label}: building"
    if e.step == "starting":
        return f"{label}: starting on port {e.port}"
    if e.step == "warmup":
        return f"{label}: warm-up done, {e.requests} requests"
    if e.step == "round":
        now = f", now {fmt_bytes(e.bytes_per_request, signed=True)}/req" if e.bytes_per_request is not None else ""
        return f"{label}: round {e.round}/{e.min_rounds}+, {e.requests} requests{now}"
    if e.step == "failed":
        return f"{label}: {e.status}: {e.error}"
    assert e.bytes_per_request is not None
    return f"{label}: {fmt_bytes(e.bytes_per_request, signed=True)}/request, {e.verdict} ({e.seconds:.0f} s)"
