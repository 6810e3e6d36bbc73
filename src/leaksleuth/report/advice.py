"""The sentences users read, written from the model's facts: advice on a measurement, the
evidence behind a culprit, why snapshots were skipped, what a watch point or experiment step
says. Every renderer (terminal, JSON, HTML) takes its words from here."""

from __future__ import annotations

from leaksleuth.model import (
    AllocationEvidence,
    ClassCountEvidence,
    ClosureEvidence,
    Culprit,
    Evidence,
    HuntResult,
    Measurement,
    OwnerGrowthEvidence,
    RootPathEvidence,
    RouteConfirmation,
    RouteMeasurement,
    SourceLineEvidence,
    SourceLocation,
    WatchPoint,
    WeakMapRouteEvidence,
)
from leaksleuth.model.experiment import ExperimentEvent
from leaksleuth.model.fleet import FleetResult
from leaksleuth.model.watch import Capture, OomForecast, Trend
from leaksleuth.options import TrafficSource
from leaksleuth.units import fmt_bytes, fmt_duration


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
    if len(m.routes) > 1:
        return routes_advice(m)
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
    if isinstance(e, WeakMapRouteEvidence):
        return (
            f"heap: {fmt_bytes(e.bytes_per_request)}/request was reached first through {e.weakmap}, a WeakMap "
            "that keeps nothing alive by itself (a cache keyed by the objects); charged to the holder of its "
            "keys, found over strong references only"
        )
    raise AssertionError(f"unknown evidence {e!r}")


_ROLE_WORDS = {
    "registers": "registers it",
    "allocates": "allocates it",
    "defines": "defines the closure that keeps it",
    "calls": "calls into the library that keeps it",
}
_VIA_WORDS = {
    "source map": "the generated code, mapped back",
    "heap": "V8's recorded closure position",
    "script": "reading the source",
    "allocation stack": "the sampling profiler's allocation stack",
}


def location_text(loc: SourceLocation) -> str:
    """One place of a culprit in the user's words: `src/x.vue:12:5 (app, registers it; found by
    reading the source; generated main.js:1:3018)`."""
    whose = loc.package if loc.origin == "library" and loc.package else loc.origin
    parts = [whose if loc.origin != "library" or not loc.package else f"library {whose}"]
    if loc.role:
        parts[-1] += f", {_ROLE_WORDS[loc.role]}"
    if loc.via:
        parts.append(f"found by {_VIA_WORDS[loc.via]}")
    if loc.generated:
        parts.append(f"generated {loc.generated}")
    return f"{loc} ({'; '.join(parts)})"


def location_doc(loc: SourceLocation) -> dict[str, object]:
    """A place as the `locations` JSON of a culprit: original file:line:column, whose code, the
    package, what the code there does, the generated place, how it was found."""
    return {
        "file": loc.file,
        "line": loc.line,
        "column": loc.column,
        "in": loc.origin,
        "package": loc.package,
        "role": loc.role,
        "generated": loc.generated,
        "via": loc.via,
    }


def coverage_text(h: HuntResult) -> str | None:
    """How much of the measured leak the culprits explain, and what is left unexplained."""
    if h.coverage is None or h.measurement is None:
        return None
    explained = h.explained_bytes_per_request
    measured = h.measurement.bytes_per_request
    unexplained = h.unexplained_bytes_per_request or 0.0
    share = min(h.coverage, 9.99)
    text = f"culprits explain {share:.0%} of the measured {fmt_bytes(measured)}/request ({fmt_bytes(explained)}/request)"
    if unexplained > 0:
        text += (
            f"; unexplained: {fmt_bytes(unexplained)}/request (V8 metadata no culprit's objects hold, such as "
            "compiled code and shared shapes, and objects no single owner keeps growing in step)"
        )
    return text


def skipped_text(h: HuntResult) -> str | None:
    """Why a hunt took no snapshots, if it did not."""
    if h.skipped == "no leak":
        return "no leak measured: no snapshots taken"
    if h.skipped == "headroom":
        return f"no snapshots: {h.skipped_detail}"
    return None


def watch_note(p: WatchPoint) -> str | None:
    if p.lost:
        if p.oom_killed:
            return "process lost: OOM-killed (its cgroup's OOM-kill counter rose)"
        return "process lost: it exited or was killed"
    if p.snapshot_refused:
        return f"no snapshot: {p.snapshot_refused}"
    if p.counter_reset:
        return "the request counter went back: the service restarted or the counter was reset; counted from there"
    return None


def watch_verdict_text(p: WatchPoint) -> str:
    """The verdict of a watched process and what it rests on."""
    t = p.trend
    if t.troughs < 3:
        return "too few readings for a trend yet"
    if t.collections < 0:
        how = "post-GC readings"
    elif t.trough_window == 0:
        how = f"readings right after its {t.collections} collections (no forced GC)"
    else:
        how = f"troughs of {t.trough_window:.0f} s windows (no forced GC)"
    per = (f"{fmt_bytes(t.bytes_per_request, signed=True)}/request" if t.bytes_per_request is not None
           else f"{fmt_bytes(t.bytes_per_second, signed=True)}/s")
    if t.verdict == "leak":
        return (f"leak: the heap's {how} grow {per} (Mann–Kendall p = {t.mann_kendall_p:.2g}); "
                f"{forecast_text(p.forecast)}")
    if t.verdict == "no leak":
        return f"no leak: the {how} stay within the threshold ({per})"
    if t.troughs < 8:
        return f"inconclusive: {t.troughs} troughs so far, 8 needed"
    if 0 <= t.collections < 6 and t.ci95.low > 0:
        return (f"inconclusive: it grows {per}, but the old generation was collected {t.collections} time(s) "
                "while watched (6 needed): old garbage and a leak look alike until then; keep watching")
    return f"inconclusive: {per} on {t.troughs} {how}, the 95% interval straddles the threshold; keep watching"


def trend_text(t: Trend) -> str:
    """A trough trend in a few words: its rate, per request, and how many troughs."""
    if not t.troughs:
        return "no trend yet"
    per_request = f", {fmt_bytes(t.bytes_per_request, signed=True)}/request" if t.bytes_per_request is not None else ""
    return f"{fmt_bytes(t.bytes_per_second * 60, signed=True)}/min{per_request} over {t.troughs} troughs"


def forecast_text(f: OomForecast | None) -> str:
    """Which limit is hit first and when, with the band."""
    if f is None:
        return "no known limit"
    what = "V8 heap limit" if f.limit_kind == "heap" else "cgroup memory limit"
    if f.seconds is None:
        return f"{what} {fmt_bytes(f.limit_bytes)}: not growing"
    band = ""
    if f.earliest is not None or f.latest is not None:
        early = fmt_duration(f.earliest) if f.earliest is not None else "?"
        late = fmt_duration(f.latest) if f.latest is not None else "never"
        band = f" [{early} – {late}]"
    return f"{what} {fmt_bytes(f.limit_bytes)} in {fmt_duration(f.seconds)}{band}"


def capture_text(c: Capture) -> list[str]:
    """An escalation's outcome, one line each."""
    if c.refused:
        return [f"{c.kind} of pid {c.pid} not taken: {c.refused}"]
    lines = []
    if c.sites:
        lines.append(f"sampling heap profiler, {c.pid}: still-live memory grew most under")
        lines += [
            f"  {fmt_bytes(s.grown_bytes, signed=True)} at {s.location} ({s.function}; stack: {' → '.join(s.stack[-3:])})"
            for s in c.sites
        ]
    elif c.kind == "sampling":
        lines.append(f"sampling heap profiler, {c.pid}: no allocation site grew between the two profiles")
    if c.kind == "snapshots":
        lines.append(f"{len(c.files)} snapshots of pid {c.pid}: {len(c.culprits)} culprit(s), "
                     "figures per second of the watch (not per request)")
    return lines


def fleet_advice(r: FleetResult) -> str:
    """What the fleet shows, and the canary answer when versions differ."""
    leaking = [p for p in r.pods if p.verdict == "leak"]
    if r.leaking_versions:
        versions = ", ".join(r.leaking_versions)
        return (f"{len(leaking)} of {len(r.pods)} pods leak, all of {r.version_label} {versions} side by side with "
                "versions that do not: the leak came with that version; `leaksleuth watch --pid` or "
                "`leaksleuth hunt` on one of its pods shows where")
    if leaking:
        return (f"{len(leaking)} of {len(r.pods)} pods leak; `leaksleuth watch --pid` or `leaksleuth hunt` on one "
                "of them shows where")
    if r.verdict == "no leak":
        return "no pod's post-GC heap grows beyond the threshold"
    return ("no leak proven, none excluded: give more history (--since), or wait for more traffic; "
            "a pod needs at least 8 trough windows")


def fleet_missing_text(r: FleetResult) -> list[str]:
    """One line per missing input and per counter reset."""
    lines = [f"no {name} series matched: the figures that need it are left out" for name in r.missing]
    lines += [f"request counter reset (the process restarted): {pod}; fitted since the restart" for pod in r.reset_pods]
    return lines


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


# -- routes -------------------------------------------------------------------------------------


def _some(names: list[str], most: int = 3) -> str:
    return ", ".join(names[:most]) + (f" and {len(names) - most} more" if len(names) > most else "")


def routes_advice(m: Measurement) -> str:
    """What a per-route measurement says: which routes leak, which are undecided or failed."""
    rows = m.routes
    leaking = [r for r in rows if r.verdict == "leak"]
    failed = [r for r in rows if r.status == "failed"]
    unsure = [r for r in rows if r.verdict == "inconclusive" and r.status != "failed"]
    parts = []
    if leaking:
        named = _some([f"{r.route} keeps {fmt_bytes(r.bytes_per_request)}" for r in leaking])
        parts.append(
            f"{len(leaking)} of {len(rows)} routes leak ({named} per request); run `leaksleuth hunt` with the "
            "same traffic to find what grows and which line keeps it"
        )
    elif not unsure and not failed:
        parts.append(f"no route leaks: each stays under the {fmt_bytes(m.threshold)}/request threshold")
    if unsure:
        parts.append(
            f"{_some([r.route for r in unsure])}: inconclusive, the interval straddles the "
            f"{fmt_bytes(m.threshold)} threshold; give the run more time (--budget) or larger rounds (--requests)"
        )
    if failed:
        parts.append(f"{_some([r.route for r in failed])} mostly failed and {'was' if len(failed) == 1 else 'were'} "
                     "not measured: check the requests and the target's log")
    return "; ".join(parts)


def route_note(r: RouteMeasurement) -> str:
    """Why a route's row reads as it does."""
    if r.status == "failed":
        codes = ", ".join(f"{k}: {v}" for k, v in sorted(r.status_counts.items()))
        return f"mostly fails ({codes}): not measured"
    if r.status == "group":
        others = [g for g in r.group if g != r.route]
        return f"measured with {_some(others, 2)}: together under the threshold, never split"
    return ""


def confirmation_text(c: RouteConfirmation) -> str:
    """The check of the worst route alone."""
    seen = (f"{c.route} alone kept {fmt_bytes(c.bytes_per_request)}/request over {c.requests} requests "
            f"(its figure: {fmt_bytes(c.predicted)}, expected within [{fmt_bytes(c.ci95.low)}, {fmt_bytes(c.ci95.high)}])")
    if c.agrees:
        return f"Confirmed: {seen}"
    return (f"Not confirmed: {seen}: routes may interact (what one route keeps grows with another's "
            "requests) or one round was noisy; measure it alone to be sure")


def traffic_text(t: TrafficSource) -> str:
    """What was read from a scenario, HAR or access log, and what of it is replayed."""
    name = t.path.rsplit("/", 1)[-1]
    if t.kind == "scenario":
        return f"Traffic: scenario {name}, {t.kept} kinds of request" + (f" on {t.base}" if t.base else "")
    what = "entries" if t.kind == "har" else "lines"
    text = f"Traffic: {name}: {t.kept} of {t.entries} {what} replayed"
    text += f" (to {t.origin} as {t.base})" if t.kind == "har" and t.origin != t.base else f" on {t.base}"
    dropped = sum(n for _, n in t.dropped_hosts)
    if dropped:
        text += f"; {dropped} to other hosts dropped (" + ", ".join(f"{h}: {n}" for h, n in t.dropped_hosts[:4])
        text += ", …)" if len(t.dropped_hosts) > 4 else ")"
    if t.unparsed:
        text += f"; {t.unparsed} not requests (skipped)"
    return text


def culprit_routes_text(c: Culprit) -> str | None:
    return f"grows with {', '.join(c.routes)}" if c.routes else None
