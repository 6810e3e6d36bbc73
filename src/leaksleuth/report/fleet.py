"""A fleet as a terminal table, a JSON document and a self-contained HTML page."""

from __future__ import annotations

import datetime as _dt
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from leaksleuth.model import FleetPod, FleetResult, Trend
from leaksleuth.report.advice import fleet_advice, fleet_missing_text, forecast_text
from leaksleuth.report.html import CSS, e
from leaksleuth.report.html import _verdict as verdict_badge
from leaksleuth.report.jsondoc import forecast_doc, trend_doc
from leaksleuth.units import fmt_bytes, fmt_duration

VERDICT_STYLE = {"leak": "bold red", "no leak": "bold green", "inconclusive": "bold yellow"}


def _per_request(t: Trend) -> str:
    return fmt_bytes(t.bytes_per_request, signed=True) if t.bytes_per_request is not None else "–"


def _ci(t: Trend) -> str:
    ci = t.ci95_per_request if t.ci95_per_request is not None else t.ci95
    unit = "" if t.ci95_per_request is not None else "/s"
    return f"[{fmt_bytes(ci.low, signed=True)}, {fmt_bytes(ci.high, signed=True)}]{unit}"


def _oom(p: FleetPod) -> str:
    f = p.forecast
    if f is None:
        return "no limit known"
    if f.seconds is None:
        return "not growing"
    late = fmt_duration(f.latest) if f.latest is not None else "never"
    early = fmt_duration(f.earliest) if f.earliest is not None else "?"
    return f"{fmt_duration(f.seconds)} [{early} – {late}]"


def _count(n: int | None) -> str:
    return "–" if n is None else str(n)


def pod_name(p: FleetPod, version_label: str) -> str:
    """The pod's name, else its other key labels (an instance)."""
    if p.labels.get("pod"):
        return p.labels["pod"]
    return " ".join(v for k, v in p.labels.items() if k != version_label) or "?"


def render_fleet(console: Console, r: FleetResult) -> None:
    table = Table(title=f"Pods, worst first ({len(r.pods)} shown of {r.series} series; post-GC troughs, "
                        f"{fmt_duration(r.since)} at {r.step:g} s)", title_justify="left")
    for col in ("pod", r.version_label, "post-GC heap", "trend/min", "per request", "95% CI", "time to OOM",
                "restarts", "OOMs", "verdict"):
        table.add_column(col, justify="left" if col in ("pod", r.version_label, "verdict") else "right")
    for p in r.pods:
        t = p.trend
        table.add_row(
            escape(pod_name(p, r.version_label)), escape(p.version or ""), fmt_bytes(p.heap_used),
            fmt_bytes(t.bytes_per_second * 60, signed=True), _per_request(t), _ci(t), _oom(p),
            _count(p.restarts), _count(p.oom_kills), f"[{VERDICT_STYLE[t.verdict]}]{t.verdict}[/]",
        )
    console.print(table)
    if r.groups:
        groups = Table(title=f"By {r.version_label}", title_justify="left")
        for col in (r.version_label, "pods", "leaking", "per request (median)", "trend/min (median)", "verdict"):
            groups.add_column(col, justify="left" if col in (r.version_label, "verdict") else "right")
        for g in r.groups:
            groups.add_row(
                escape(g.labels.get(r.version_label, "")), str(g.pods), str(g.leaking_pods),
                fmt_bytes(g.bytes_per_request, signed=True) if g.bytes_per_request is not None else "–",
                fmt_bytes(g.bytes_per_second * 60, signed=True), f"[{VERDICT_STYLE[g.verdict]}]{g.verdict}[/]",
            )
        console.print(groups)
    counter = r.request_metric or "none (bytes per second only)"
    console.print(f"Request counter: {escape(counter)}; {r.queries} PromQL queries", highlight=False)
    for line in fleet_missing_text(r):
        console.print(f"[yellow]{escape(line)}[/]", highlight=False)
    console.print(f"Verdict: [{VERDICT_STYLE[r.verdict]}]{r.verdict}[/] — {escape(fleet_advice(r))}", highlight=False)


def fleet_doc(r: FleetResult) -> dict[str, Any]:
    return {
        "verdict": r.verdict, "advice": fleet_advice(r), "prometheus": r.prometheus, "selector": r.selector,
        "since": r.since, "step": r.step, "series": r.series, "request_metric": r.request_metric,
        "version_label": r.version_label, "leaking_versions": list(r.leaking_versions), "missing": list(r.missing),
        "counter_resets": r.counter_resets, "queries": r.queries, "notes": fleet_missing_text(r),
        "pods": [
            {
                "labels": p.labels, "version": p.version, "verdict": p.verdict,
                "bytes_per_second": p.trend.bytes_per_second, "bytes_per_request": p.trend.bytes_per_request,
                "ci95": [c.low, c.high] if (c := p.trend.ci95_per_request or p.trend.ci95) else None,
                "seconds_to_oom": p.forecast.seconds if p.forecast is not None else None,
                "oom_band": [p.forecast.earliest, p.forecast.latest] if p.forecast is not None else None,
                "forecast": forecast_doc(p.forecast), "restarts": p.restarts, "oom_kills": p.oom_kills,
                "heap_used": p.heap_used, "samples": p.samples, "trend": trend_doc(p.trend),
                "rss_trend": trend_doc(p.rss_trend) if p.rss_trend is not None else None,
            }
            for p in r.pods
        ],
        "groups": [
            {"labels": g.labels, "pods": g.pods, "leaking_pods": g.leaking_pods, "verdict": g.verdict,
             "bytes_per_request": g.bytes_per_request, "bytes_per_second": g.bytes_per_second}
            for g in r.groups
        ],
    }


def fleet_html(r: FleetResult) -> str:
    """One page: the verdict, the pods and the versions (no script, nothing fetched)."""
    rows = "".join(
        f"<tr><td>{e(pod_name(p, r.version_label))}</td><td>{e(p.version or '')}</td>"
        f"<td class=num>{e(fmt_bytes(p.heap_used))}</td>"
        f"<td class=num>{e(fmt_bytes(p.trend.bytes_per_second * 60, signed=True))}</td>"
        f"<td class=num>{e(_per_request(p.trend))}</td><td class=num>{e(_ci(p.trend))}</td>"
        f"<td>{e(forecast_text(p.forecast))}</td><td class=num>{e(_count(p.restarts))}</td>"
        f"<td class=num>{e(_count(p.oom_kills))}</td><td>{verdict_badge(p.verdict)}</td></tr>"
        for p in r.pods
    )
    groups = "".join(
        f"<tr><td>{e(g.labels.get(r.version_label, ''))}</td><td class=num>{g.pods}</td>"
        f"<td class=num>{g.leaking_pods}</td>"
        f"<td class=num>{e(fmt_bytes(g.bytes_per_request, signed=True) if g.bytes_per_request is not None else '–')}</td>"
        f"<td>{verdict_badge(g.verdict)}</td></tr>"
        for g in r.groups
    )
    notes = "".join(f"<li>{e(line)}</li>" for line in fleet_missing_text(r))
    now = _dt.datetime.now().astimezone()
    title = f"leaksleuth fleet: {r.selector}"
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{e(title)}</title><style>{CSS}</style></head>\n<body>\n"
        f"<h1>{e(title)} {verdict_badge(r.verdict)}</h1><p>{e(fleet_advice(r))}</p>"
        f"<p class=dim>{e(r.prometheus)}, {e(fmt_duration(r.since))} of history at {r.step:g} s, "
        f"{r.series} series, request counter {e(r.request_metric or 'none')}</p>"
        "<h2>Pods, worst first</h2><table><tr><th>pod</th><th>" + e(r.version_label) + "</th><th>post-GC heap</th>"
        "<th>trend/min</th><th>per request</th><th>95% CI</th><th>time to OOM</th><th>restarts</th>"
        f"<th>OOM kills</th><th>verdict</th></tr>{rows}</table>"
        + (f"<h2>By {e(r.version_label)}</h2><table><tr><th>{e(r.version_label)}</th><th>pods</th><th>leaking</th>"
           f"<th>per request</th><th>verdict</th></tr>{groups}</table>" if r.groups else "")
        + (f"<ul>{notes}</ul>" if notes else "")
        + f"<footer>Generated by leaksleuth on {now:%Y-%m-%d %H:%M:%S %Z}.</footer>\n</body></html>\n"
    )


def write_fleet_html(path: Path, r: FleetResult) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(fleet_html(r), encoding="utf-8")
