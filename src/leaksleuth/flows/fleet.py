"""`fleet`: every pod of a service read from a Prometheus-compatible server, judged like `watch`.

Aggregation happens server-side in PromQL: the post-GC trough of each pod is
`min_over_time` over one step (heap used minus code space), summed per pod key; the pods are
ranked by `deriv` of those troughs on the server (`topk`), and only the `top` worst are fetched
as ranges, so thousands of series cost us the rows we show. On each fetched pod: the same
trough fit as `watch` (Theil–Sen, Mann–Kendall, per request against the request counter's
increase, counter resets handled), time to OOM against the container's memory limit
(kube-state-metrics) with cAdvisor's working set (or RSS), restarts (kube's counter, or
changes of process_start_time_seconds) and OOM kills (last terminated reason OOMKilled).
"""

from __future__ import annotations

import re
import statistics
from collections.abc import Sequence

import numpy as np

from leaksleuth.errors import PrometheusError
from leaksleuth.live.prometheus import PrometheusAPI, Series
from leaksleuth.model import FleetGroup, FleetPod, FleetResult, OomForecast, Trend, Verdict
from leaksleuth.options import FleetSpec
from leaksleuth.stats.trend import oom_forecast
from leaksleuth.stats.trough import MIN_TROUGHS, fit_troughs, significant_slope

HEAP = "nodejs_heap_size_used_bytes"
CODE = "nodejs_heap_space_size_used_bytes"
RSS = "process_resident_memory_bytes"
START = "process_start_time_seconds"
REQUEST_COUNTERS = ("http_requests_total", "http_request_duration_seconds_count")
WORKING_SET = "container_memory_working_set_bytes"
LIMITS = 'kube_pod_container_resource_limits{resource="memory"}'
RESTARTS = "kube_pod_container_status_restarts_total"
TERMINATED = 'kube_pod_container_status_last_terminated_reason{reason="OOMKilled"}'
FALLBACK_KEY = ("instance",)
VERDICT_RANK = {"leak": 0, "inconclusive": 1, "no leak": 2}


def matchers(*parts: str) -> str:
    """`{a, b}` from non-empty matcher lists."""
    return "{" + ", ".join(p for p in parts if p) + "}"


def regex_of(values: Sequence[str]) -> str:
    return "|".join(re.escape(v).replace("\\", "\\\\").replace('"', '\\"') for v in sorted(set(values)))


def trough_expr(sel: str, by: str, step: str) -> str:
    """Post-GC trough per pod and step: the lowest heap reading of the step minus code space and
    the young generation (as `watch` fits it: what survives)."""
    heap = f"sum by ({by}) (min_over_time({HEAP}{sel}[{step}]))"
    space_sel = sel[:-1] + (", " if sel != "{}" else "") + 'space=~"code.*|new.*"}'
    spaces = f"sum by ({by}) (avg_over_time({CODE}{space_sel}[{step}]))"
    return f"({heap} - ({spaces} or 0 * {heap}))"


def key_of(labels: dict[str, str], key: Sequence[str]) -> tuple[str, ...]:
    return tuple(labels.get(k, "") for k in key)


def label_text(labels: dict[str, str]) -> str:
    return ",".join(f'{k}="{v}"' for k, v in labels.items())


def _aligned(times: np.ndarray, series: Series | None) -> np.ndarray | None:
    """`series`' values at `times` (None when it misses any of them)."""
    if series is None:
        return None
    at = dict(zip(series.times.tolist(), series.values.tolist()))
    if not all(t in at for t in times.tolist()):
        return None
    return np.asarray([at[t] for t in times.tolist()], dtype=float)


def since_last_reset(times: np.ndarray, values: np.ndarray, counter: np.ndarray | None,
                     starts: Series | None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, int]:
    """The points after the last restart (a counter reset or a new process start time), when
    enough remain; and how many resets were seen."""
    cut = 0
    resets = 0
    if counter is not None:
        drops = np.flatnonzero(np.diff(counter) < 0)
        resets = len(drops)
        if resets:
            cut = int(drops[-1]) + 1
    if starts is not None and len(starts.values) > 1:
        changed = np.flatnonzero(np.diff(starts.values) > 0)
        if len(changed):
            when = starts.times[int(changed[-1]) + 1]
            cut = max(cut, int(np.searchsorted(times, when)))
    if cut and len(times) - cut >= MIN_TROUGHS:
        return times[cut:], values[cut:], counter[cut:] if counter is not None else None, resets
    return times, values, counter, resets


async def _first_counter(prom: PrometheusAPI, spec: FleetSpec, sel: str) -> str | None:
    names = (spec.request_metric,) if spec.request_metric else REQUEST_COUNTERS
    for name in names:
        if await prom.query(f"count({name}{sel})"):
            return name
    return None


async def fleet_report(spec: FleetSpec) -> FleetResult:
    sel = matchers(spec.selector)
    step = f"{spec.step:g}s"
    async with PrometheusAPI(spec.prometheus) as prom:
        end = await prom.server_time()
        start = end - spec.since
        present = await prom.query(f"count by ({', '.join((*spec.pod_labels, 'instance', spec.version_label))}) ({HEAP}{sel})")
        if not present:
            raise PrometheusError(f"the selector {sel} matches no {HEAP} series in {spec.prometheus} "
                                  "(is prom-client's collectDefaultMetrics() on, and the selector right?)")
        series = int(sum(v for _, v in present))
        key = tuple(k for k in spec.pod_labels if any(labels.get(k) for labels, _ in present)) or FALLBACK_KEY
        has_version = any(labels.get(spec.version_label) for labels, _ in present)
        by_labels = (*key, spec.version_label) if has_version else key
        by = ", ".join(by_labels)
        troughs = trough_expr(sel, by, step)
        # server-side: rank every pod by the trend of its troughs, fetch only the worst
        ranked = await prom.query(f"topk({spec.top}, deriv(({troughs})[{spec.since:g}s:{step}]))", at=end)
        if not ranked:  # too short a history for deriv: take whatever is there
            ranked = [(labels, 0.0) for labels, _ in present][: spec.top]
        chosen = {key_of(labels, key) for labels, _ in ranked}
        filt = ", ".join(
            f'{k}=~"{regex_of([c[i] for c in chosen])}"' for i, k in enumerate(key)
        )
        fsel = matchers(spec.selector, filt)
        troughs = trough_expr(fsel, by, step)
        heap_rows = await prom.query_range(troughs, start, end, spec.step)
        counter = await _first_counter(prom, spec, sel)
        missing: list[str] = []
        if counter is None:
            missing.append(spec.request_metric or REQUEST_COUNTERS[0])
        counters = {}
        if counter is not None:
            rows = await prom.query_range(f"sum by ({by}) (max_over_time({counter}{fsel}[{step}]))", start, end, spec.step)
            counters = {key_of(r.labels, key): r for r in rows}
        rss_rows = await prom.query_range(f"sum by ({by}) (min_over_time({RSS}{fsel}[{step}]))", start, end, spec.step)
        rss = {key_of(r.labels, key): r for r in rss_rows}
        start_rows = await prom.query_range(f"max by ({by}) ({START}{fsel})", start, end, spec.step)
        starts = {key_of(r.labels, key): r for r in start_rows}
        kube = "pod" in key
        ksel = matchers(filt) if kube else ""
        ws: dict[tuple[str, ...], Series] = {}
        limits: dict[tuple[str, ...], float] = {}
        restarts: dict[tuple[str, ...], float] = {}
        ooms: dict[tuple[str, ...], float] = {}
        kby = ", ".join(key)
        if kube:
            ws_sel = matchers(filt, 'container!=""')
            ws = {key_of(r.labels, key): r for r in await prom.query_range(
                f"sum by ({kby}) (min_over_time({WORKING_SET}{ws_sel}[{step}]))", start, end, spec.step)}
            limit_sel = LIMITS[:-1] + ", " + filt + "}"
            limits = {key_of(lab, key): v for lab, v in await prom.query(f"max by ({kby}) ({limit_sel})", at=end)}
            restarts = {key_of(lab, key): v for lab, v in await prom.query(
                f"max by ({kby}) (increase({RESTARTS}{ksel}[{spec.since:g}s]))", at=end)}
            term_sel = TERMINATED[:-1] + ", " + filt + "}"
            ooms = {key_of(lab, key): v for lab, v in await prom.query(
                f"max by ({kby}) (max_over_time({term_sel}[{spec.since:g}s]))", at=end)}
            for name, found in ((WORKING_SET, ws), ("kube_pod_container_resource_limits", limits),
                                (RESTARTS, restarts)):
                if not found:
                    missing.append(name)
        elif not starts:
            missing.append(START)
        queries = prom.queries

    pods: list[FleetPod] = []
    reset_pods: list[str] = []
    total_resets = 0
    for row in heap_rows:
        k = key_of(row.labels, key)
        if k not in chosen or len(row.times) < 3:
            continue
        counter_values = _aligned(row.times, counters.get(k))
        times, values, cvals, resets = since_last_reset(row.times, row.values, counter_values, starts.get(k))
        total_resets += resets
        labels = {lab: row.labels[lab] for lab in by_labels if row.labels.get(lab)}
        if resets:
            reset_pods.append(label_text(labels))
        trend = fit_troughs(times.tolist(), values.tolist(), requests=cvals.tolist() if cvals is not None else None,
                            rate_threshold=spec.rate_threshold, request_threshold=spec.threshold)
        rss_trend = _side_trend(ws.get(k) or rss.get(k), times, spec)
        forecast = _forecast(limits.get(k), rss_trend, trend)
        restart_count = restarts.get(k)
        if restart_count is None and k in starts and len(starts[k].values) > 1:
            restart_count = float(np.count_nonzero(np.diff(starts[k].values) > 0))
        oom = ooms.get(k)
        pods.append(FleetPod(
            labels=labels, version=row.labels.get(spec.version_label), trend=trend, rss_trend=rss_trend,
            forecast=forecast, restarts=round(restart_count) if restart_count is not None else None,
            oom_kills=(round(restart_count or 0) if oom and oom >= 1 else 0) if oom is not None else None,
            heap_used=trend.level if trend.troughs else float(row.values[-1]), samples=len(row.times),
        ))
    pods.sort(key=_badness)
    groups = _groups(pods, spec.version_label) if has_version else []
    leaking = tuple(g.labels[spec.version_label] for g in groups if g.leaking_pods)
    clean = [g for g in groups if not g.leaking_pods]
    return FleetResult(
        prometheus=spec.prometheus, selector=sel, since=spec.since, step=spec.step, series=series, pods=pods,
        groups=groups, request_metric=counter, version_label=spec.version_label, shown_limit=spec.top,
        leaking_versions=leaking if clean else (), missing=tuple(missing), counter_resets=total_resets,
        queries=queries, reset_pods=tuple(reset_pods),
    )


def _side_trend(row: Series | None, times: np.ndarray, spec: FleetSpec) -> Trend | None:
    """The RSS or working-set trend on the same points as the heap's (since the last restart)."""
    if row is None or len(row.times) < 3:
        return None
    keep = row.times >= times[0]
    return fit_troughs(row.times[keep].tolist(), row.values[keep].tolist(), rate_threshold=spec.rate_threshold)


def _forecast(limit: float | None, side: Trend | None, heap: Trend) -> OomForecast | None:
    """Against the container's limit: the working set (or RSS) grows at least as fast as a
    leaking heap, so the faster of its own significant trend and the heap's, when it leaks."""
    if side is None or not side.troughs or not limit:
        return None
    slope, ci = significant_slope(side)
    candidates = [("cgroup", int(limit), side.level, slope, ci)]
    if heap.verdict == "leak":
        candidates.append(("cgroup", int(limit), side.level, heap.bytes_per_second, heap.ci95))
    return oom_forecast(candidates)  # type: ignore[arg-type]


def _badness(p: FleetPod) -> tuple[int, float, float]:
    soon = p.forecast.seconds if p.forecast is not None and p.forecast.seconds is not None else float("inf")
    return VERDICT_RANK[p.verdict], soon, -p.trend.bytes_per_second


def _groups(pods: list[FleetPod], version_label: str) -> list[FleetGroup]:
    by_version: dict[str, list[FleetPod]] = {}
    for p in pods:
        by_version.setdefault(p.version or "", []).append(p)
    groups = []
    for version, members in by_version.items():
        leaking = sum(p.verdict == "leak" for p in members)
        verdicts = {p.verdict for p in members}
        verdict: Verdict = "leak" if leaking else ("no leak" if verdicts == {"no leak"} else "inconclusive")
        per_request = [p.trend.bytes_per_request for p in members if p.trend.bytes_per_request is not None]
        groups.append(FleetGroup(
            labels={version_label: version}, pods=len(members), leaking_pods=leaking, verdict=verdict,
            bytes_per_request=statistics.median(per_request) if per_request else None,
            bytes_per_second=statistics.median(p.trend.bytes_per_second for p in members),
        ))
    groups.sort(key=lambda g: (VERDICT_RANK[g.verdict], -g.leaking_pods, -(g.bytes_per_request or 0.0)))
    return groups
