"""One self-contained HTML page for a hunt or a measurement: verdict, charts, tables, culprits.

The page works offline: plotly.js is embedded once, inline, and nothing is fetched. Every
string that may come from the target (heap paths, constructor names, process titles, the
advice that quotes them) is escaped, since it was read from the target's memory.
"""

from __future__ import annotations

import datetime as _dt
import html
import math
import statistics
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import plotly.graph_objects as go
from plotly.offline import get_plotlyjs

from leaksleuth.model import Culprit, HuntResult, Measurement, ProcessMeasurement, Reading
from leaksleuth.report.advice import (
    advice,
    confirmation_text,
    coverage_text,
    culprit_routes_text,
    evidence_text,
    location_text,
    route_note,
    skipped_text,
    traffic_text,
)
from leaksleuth.units import fmt_bytes, join_steps

MB = float(1 << 20)
VERDICT_COLOUR = {"leak": "#c0392b", "no leak": "#1e8449", "inconclusive": "#b9770e"}
PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f"]
PLOT_CONFIG = {"displaylogo": False, "responsive": True}


def e(s: object) -> str:
    return html.escape(str(s), quote=True)


def _bytes(v: float, signed: bool = False, low: bool = False) -> str:
    """fmt_bytes that survives nan (an unknown interval end shows as ∓∞)."""
    if v is None or math.isnan(v):
        return "-∞" if low else "∞"
    return fmt_bytes(v, signed=signed)


def _ci(ci: Sequence[float]) -> str:
    lo, hi = ci
    return f"[{_bytes(lo, signed=True, low=True)}, {_bytes(hi, signed=True)}]"


def _verdict(v: str) -> str:
    colour = VERDICT_COLOUR.get(v, "#555")
    return f'<span class="verdict" style="background:{colour}">{e(v)}</span>'


# -- the series ----------------------------------------------------------------------------


def _heap(r: Reading) -> float:
    return float(r.heap_used - r.code_space)


def _total_series(m: Measurement) -> tuple[list[float], list[float]]:
    """Heap used minus code space summed over serving processes, reading by reading."""
    serving = m.serving_processes
    if not serving:
        return [], []
    n = min(len(p.readings) for p in serving)
    xs = [float(serving[0].readings[k].requests) for k in range(n)]
    ys = [sum(_heap(p.readings[k]) for p in serving) for k in range(n)]
    return xs, ys


def _fit_line(m: Measurement, xs: list[float], ys: list[float]) -> tuple[list[float], list[float]] | None:
    """The reported slope through the steady readings (Theil–Sen intercept: median y − slope·median x)."""
    start = m.warmup_readings
    sx, sy = xs[start:], ys[start:]
    slope = m.bytes_per_request
    if len(sx) < 2 or not math.isfinite(slope) or len(m.routes) > 1:  # per route: no one line fits the rounds
        return None
    intercept = statistics.median(sy) - slope * statistics.median(sx)
    ends = [sx[0], sx[-1]]
    return ends, [intercept + slope * x for x in ends]


def _label(p: ProcessMeasurement) -> str:
    # plotly decodes entities in trace names, so escaping shows the text as it was
    title = f" {p.title}" if p.title else ""
    return e(f"{p.role} {p.pid}{title}"[:60])


def _changing_resources(m: Measurement) -> list[str]:
    kinds = sorted({k for p in m.processes for r in p.readings for k in r.resources})
    changing = []
    for k in kinds:
        for p in m.processes:
            counts = [r.resources.get(k, 0) for r in p.readings]
            if counts and max(counts) != min(counts):
                changing.append(k)
                break
    return changing


# -- the charts ----------------------------------------------------------------------------


def _layout(title: str, ytitle: str) -> dict[str, Any]:
    return {
        "title": {"text": title, "x": 0.01, "xanchor": "left"},
        "xaxis": {"title": {"text": "requests sent"}, "rangemode": "tozero"},
        "yaxis": {"title": {"text": ytitle}},
        "template": "plotly_white",
        "height": 420,
        "margin": {"l": 70, "r": 20, "t": 50, "b": 50},
        "legend": {"orientation": "h", "yanchor": "top", "y": -0.15, "x": 0},
        "hovermode": "closest",
    }


def _hover(p_label: str, values: Sequence[float], what: str) -> list[str]:
    return [f"{p_label}<br>{what}: {e(fmt_bytes(v))}" for v in values]


def _heap_chart(m: Measurement) -> Any:
    fig = go.Figure()
    warm = m.warmup_readings > 0
    for k, p in enumerate(m.processes):
        colour = PALETTE[k % len(PALETTE)]
        px = [r.requests for r in p.readings]
        ys = [_heap(r) for r in p.readings]
        symbols = ["circle"] * len(ys)
        sizes = [7] * len(ys)
        if warm and len(ys) >= 2:
            symbols[0], symbols[1] = "square-open", "diamond"
            sizes[1] = 12
        fig.add_trace(go.Scatter(
            x=px, y=[y / MB for y in ys], mode="lines+markers", name=_label(p),
            line={"color": colour, "dash": "solid" if p.serving else "dot"},
            marker={"symbol": symbols, "size": sizes, "color": colour},
            hovertext=_hover(_label(p), ys, "heap used − code"), hoverinfo="x+text",
        ))
    xs, totals = _total_series(m)
    if len(m.serving_processes) > 1 and totals:
        fig.add_trace(go.Scatter(
            x=xs, y=[y / MB for y in totals], mode="markers", name="total (serving)",
            marker={"color": "#222", "size": 6, "symbol": "x"},
            hovertext=_hover("total (serving)", totals, "heap used − code"), hoverinfo="x+text",
        ))
    line = _fit_line(m, xs, totals)
    if line is not None:
        lx, ly = line
        fig.add_trace(go.Scatter(
            x=lx, y=[y / MB for y in ly], mode="lines",
            name=e(f"fit, total: {fmt_bytes(m.bytes_per_request, signed=True)}/request"),
            line={"color": "#222", "dash": "dash", "width": 2}, hoverinfo="name",
        ))
    if warm and m.processes and len(m.processes[0].readings) >= 2:
        x_warm = m.processes[0].readings[1].requests
        fig.add_vline(x=x_warm, line={"color": "#999", "dash": "dot", "width": 1})
        fig.add_annotation(x=x_warm, y=1, yref="paper", text="after warm-up", showarrow=False,
                           xanchor="left", yanchor="top", font={"size": 11, "color": "#666"})
    return fig.update_layout(**_layout("Heap used (code space excluded), after GC", "MB"))


def _rss_chart(m: Measurement) -> Any:
    fig = go.Figure()
    for k, p in enumerate(m.processes):
        colour = PALETTE[k % len(PALETTE)]
        xs = [r.requests for r in p.readings]
        for what, dash, values in (
            ("rss", "solid", [float(r.rss) for r in p.readings]),
            ("external", "dot", [float(r.external) for r in p.readings]),
        ):
            fig.add_trace(go.Scatter(
                x=xs, y=[v / MB for v in values], mode="lines+markers", name=f"{_label(p)} {what}",
                line={"color": colour, "dash": dash}, marker={"size": 5, "color": colour},
                hovertext=_hover(_label(p), values, what), hoverinfo="x+text",
            ))
    return fig.update_layout(**_layout("RSS (solid) and external memory (dotted)", "MB"))


def _resources_chart(m: Measurement, kinds: list[str]) -> Any:
    fig = go.Figure()
    dashes = ["solid", "dash", "dot", "dashdot", "longdash"]
    for k, p in enumerate(m.processes):
        colour = PALETTE[k % len(PALETTE)]
        xs = [r.requests for r in p.readings]
        for j, kind in enumerate(kinds):
            fig.add_trace(go.Scatter(
                x=xs, y=[r.resources.get(kind, 0) for r in p.readings], mode="lines+markers",
                name=f"{_label(p)} {e(kind)}", line={"color": colour, "dash": dashes[j % len(dashes)]},
                marker={"size": 5, "color": colour},
            ))
    return fig.update_layout(**_layout("Active resources (timers, sockets, …)", "count"))


def _figure_div(fig: Any, div_id: str) -> str:
    # include_plotlyjs=False: the library is embedded once, in <head>
    return str(fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, config=PLOT_CONFIG))


# -- the sections --------------------------------------------------------------------------


def _when(m: Measurement) -> str:
    times = [r.time for p in m.processes for r in p.readings if r.time > 0]
    if not times:
        return ""
    start = _dt.datetime.fromtimestamp(min(times)).astimezone()
    end = _dt.datetime.fromtimestamp(max(times)).astimezone()
    return f"{start:%Y-%m-%d %H:%M:%S %Z} – {end:%H:%M:%S}"


def _summary(m: Measurement) -> str:
    load = m.load
    facts = [
        ("heap / request", (f"<b>{e(_bytes(m.bytes_per_request, signed=True))}</b> "
                           f"<span class=dim>95% CI {e(_ci(m.ci95))}</span>")),
        ("warm-up cost", e(_bytes(m.warmup_bytes, signed=True))),
        ("code / request", e(_bytes(m.code_bytes_per_request, signed=True))),
        ("rss / request", e(_bytes(m.rss_bytes_per_request, signed=True))),
        ("external / request", e(_bytes(m.external_bytes_per_request, signed=True))),
        ("requests", f"{m.requests} in {m.rounds} rounds"),
        ("errors", f'<span class="{"bad" if m.errors else ""}">{m.errors}</span>'),
        ("throughput", f"{load.requests_per_second:.0f} req/s"),
        ("latency", f"p50 {load.latency_ms_p50:.1f} ms, p99 {load.latency_ms_p99:.1f} ms"),
        ("threshold", e(f"{_bytes(m.threshold)}/request")),
        ("duration", f"{m.seconds:.1f} s"),
    ]
    grown = {k: v for k, v in m.handles_per_request.items() if abs(v) >= 0.05}
    if grown:
        facts.append(("gained / request", e(", ".join(f"{v:+.2f} {k}" for k, v in sorted(grown.items())))))
    when = _when(m)
    if when:
        facts.append(("ran", e(when)))
    if m.log_file:
        facts.append(("target output", f"<code>{e(m.log_file)}</code>"))
    if load.status_counts:
        facts.append(("status codes", e(", ".join(f"{k}: {v}" for k, v in sorted(load.status_counts.items())))))
    rows = "".join(f"<tr><th>{k}</th><td>{v}</td></tr>" for k, v in facts)
    return f'<table class="facts">{rows}</table><p class="advice">{e(advice(m))}</p>'


def _process_table(m: Measurement) -> str:
    head = "".join(f"<th>{h}</th>" for h in (
        "pid", "role", "serving", "warm-up", "heap/req", "95% CI", "code/req", "rss/req", "external/req", "verdict"))
    rows = []
    for p in m.processes:
        rows.append(
            f"<tr><td>{p.pid}</td><td>{e(p.role)} <span class=dim>{e(p.title)}</span></td>"
            f"<td>{'yes' if p.serving else ''}</td><td>{e(_bytes(p.warmup_bytes, signed=True))}</td>"
            f"<td><b>{e(_bytes(p.bytes_per_request, signed=True))}</b></td><td>{e(_ci(p.ci95))}</td>"
            f"<td>{e(_bytes(p.code_bytes_per_request, signed=True))}</td>"
            f"<td>{e(_bytes(p.rss_bytes_per_request, signed=True))}</td>"
            f"<td>{e(_bytes(p.external_bytes_per_request, signed=True))}</td><td>{_verdict(p.verdict)}</td></tr>"
        )
    rows.append(
        f'<tr class="total"><td>total</td><td>serving processes</td><td></td>'
        f"<td>{e(_bytes(m.warmup_bytes, signed=True))}</td><td><b>{e(_bytes(m.bytes_per_request, signed=True))}</b></td>"
        f"<td>{e(_ci(m.ci95))}</td><td>{e(_bytes(m.code_bytes_per_request, signed=True))}</td>"
        f"<td>{e(_bytes(m.rss_bytes_per_request, signed=True))}</td>"
        f"<td>{e(_bytes(m.external_bytes_per_request, signed=True))}</td><td>{_verdict(m.verdict)}</td></tr>"
    )
    return f'<table class="grid"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _route_table(m: Measurement) -> str:
    """Per route, worst first; then the check of the worst route alone."""
    head = "".join(f"<th>{h}</th>" for h in ("route", "requests", "errors", "heap/req", "95% CI", "note", "verdict"))
    rows = []
    for r in m.routes:
        measured = not math.isnan(r.bytes_per_request)
        rows.append(
            f"<tr><td>{e(r.route)}</td><td>{r.requests}</td><td>{r.errors}</td>"
            f"<td><b>{e(_bytes(r.bytes_per_request, signed=True) if measured else '—')}</b></td>"
            f"<td>{e(_ci(r.ci95) if measured else '—')}</td><td class=dim>{e(route_note(r))}</td>"
            f"<td>{_verdict(r.verdict)}</td></tr>"
        )
    table = f'<table class="grid routes"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'
    check = f'<p class="dim">{e(confirmation_text(m.confirmation))}</p>' if m.confirmation is not None else ""
    return table + check


def _culprit_card(c: Culprit) -> str:
    path = join_steps(c.path) or "(no path)"
    where = f"<code>{e(str(c.location))}</code>" if c.location else '<span class="dim">location unknown</span>'
    evidence = "".join(f"<li>{e(location_text(loc))}</li>" for loc in c.locations if loc is not c.location)
    evidence += "".join(f"<li>{e(evidence_text(x))}</li>" for x in c.evidence)
    procs = f' <span class="dim">in pid {e(", ".join(str(p) for p in c.processes))}</span>' if c.processes else ""
    return (
        f'<div class="culprit"><div class="chead"><span class="rank">#{c.rank}</span> '
        f"<b>{e(_bytes(c.bytes_per_request, signed=True))}/request</b> "
        f"<span>({c.objects_per_request:.2f} <code>{e(c.constructor)}</code> per request)</span> "
        f'<span class="kind">{e(c.kind)}</span>{procs}</div>'
        f'<pre class="path">{e(path)}</pre>'
        + (f"<div>{e(culprit_routes_text(c))}</div>" if c.routes else "")
        + f"<div>at {where}</div>"
        + (f'<ul class="evidence">{evidence}</ul>' if evidence else "")
        + "</div>"
    )


def _culprits(r: HuntResult) -> str:
    parts = ["<h2>Culprits</h2>"]
    skipped = skipped_text(r)
    if skipped:
        parts.append(f'<p class="dim">Culprit search skipped: {e(skipped)}</p>')
    elif not r.culprits:
        parts.append('<p class="ok"><b>No culprit:</b> nothing in the heap grows in step with requests.</p>')
    else:
        parts.append("<p>What grows per request, the path that keeps it alive, and the code that made it.</p>")
        parts.extend(_culprit_card(c) for c in r.culprits)
        covered = coverage_text(r)
        if covered:
            parts.append(f"<p>{e(covered)}</p>")
    if r.snapshot_requests:
        parts.append(
            f'<p class="dim">Heap snapshots at {e(", ".join(str(n) for n in r.snapshot_requests))} requests; '
            f"capture {r.snapshot_seconds:.1f} s, analysis {r.analysis_seconds:.1f} s.</p>"
        )
    if r.snapshot_files:
        files = "".join(f"<li><code>{e(f)}</code></li>" for f in r.snapshot_files)
        parts.append(
            '<div class="warn"><b>Heap snapshots contain secrets.</b> They hold everything the process had in '
            "memory: tokens, passwords, keys, user data. Keep these files private and delete them when done."
            f"<ul>{files}</ul></div>"
        )
    return "".join(parts)


CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:1.5em auto;max-width:76em;padding:0 1em;color:#222}
h1{font-size:1.5em;margin-bottom:.2em}h2{font-size:1.2em;margin-top:1.6em;border-bottom:1px solid #ddd;padding-bottom:.2em}
.verdict{color:#fff;padding:.15em .6em;border-radius:.3em;font-weight:600}
h1 .verdict{font-size:.9em;vertical-align:middle}
.dim{color:#777}.bad{color:#c0392b;font-weight:600}.ok{color:#1e8449}
.facts th{text-align:left;font-weight:500;color:#555;padding:.15em 1.2em .15em 0}.facts td{padding:.15em 0}
.advice{background:#f4f6f8;border-left:4px solid #888;padding:.6em .9em}
.grid{border-collapse:collapse;font-size:.92em}.grid th,.grid td{padding:.3em .7em;border-bottom:1px solid #e4e4e4;text-align:right}
.grid th:nth-child(2),.grid td:nth-child(2),.grid td:last-child,.grid th:last-child{text-align:left}
.grid tr.total td{font-weight:600;border-top:2px solid #aaa}
.grid.routes td:first-child,.grid.routes th:first-child{text-align:left}
.banner{background:#fdebd0;border:1px solid #e59866;padding:.6em .9em;font-weight:600}
.warn{background:#fdedec;border:1px solid #e6b0aa;padding:.6em .9em;margin-top:1em}
.culprit{border:1px solid #ddd;border-left:4px solid #c0392b;padding:.6em .9em;margin:.8em 0;border-radius:.2em}
.chead{margin-bottom:.3em}.rank{color:#c0392b;font-weight:700}
.kind{background:#eee;border-radius:.3em;padding:.05em .5em;font-size:.85em}
pre.path{font-family:ui-monospace,Menlo,Consolas,monospace;background:#f7f7f7;padding:.5em;white-space:pre-wrap;word-break:break-all;margin:.3em 0}
code{font-family:ui-monospace,Menlo,Consolas,monospace}
.evidence{margin:.3em 0;color:#555;font-size:.92em}
footer{margin-top:2em;font-size:.85em;color:#888}
"""


def render_html(report: HuntResult | Measurement, title: str | None = None) -> str:
    """The whole page as a string."""
    hunt = None if isinstance(report, Measurement) else report
    m = report if isinstance(report, Measurement) else report.measurement
    verdict = m.verdict if m is not None else (hunt.verdict if hunt is not None else "inconclusive")
    project = hunt.project if hunt is not None else None
    title = title or ("leaksleuth: " + (project or "memory report"))

    body: list[str] = [f"<h1>{e(title)} {_verdict(verdict)}</h1>"]
    if m is not None and not m.complete:
        body.append('<p class="banner">Partial result: the target ended before the run finished; '
                    "the numbers use the rounds read before it did.</p>")
    charts = 0
    if m is not None:
        if m.traffic is not None:
            body.append(f'<p class="dim">{e(traffic_text(m.traffic))}</p>')
        body.append(_summary(m))
        if len(m.routes) > 1:
            body.append("<h2>Per route</h2>")
            body.append(_route_table(m))
        if m.processes:
            body.append("<h2>Memory against requests</h2>")
            body.append(_figure_div(_heap_chart(m), "chart-heap"))
            body.append(_figure_div(_rss_chart(m), "chart-rss"))
            charts = 2
            kinds = _changing_resources(m)
            if kinds:
                body.append(_figure_div(_resources_chart(m, kinds), "chart-resources"))
                charts += 1
            body.append("<h2>Per process</h2>")
            body.append(_process_table(m))
    else:
        body.append('<p class="dim">No measurement was run (snapshots only).</p>')
    if hunt is not None:
        body.append(_culprits(hunt))
    now = _dt.datetime.now().astimezone()
    body.append(f"<footer>Generated by leaksleuth on {now:%Y-%m-%d %H:%M:%S %Z}.</footer>")

    # plotly.js once, inline; '</script' cannot occur inside it but guard anyway
    plotly_js = get_plotlyjs().replace("</script", "<\\/script") if charts else ""
    script = f'<script type="text/javascript">{plotly_js}</script>' if charts else ""
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(title)}</title><style>{CSS}</style>{script}</head>\n"
        f"<body>\n{''.join(body)}\n</body></html>\n"
    )


def write_html(path: Path, report: HuntResult | Measurement, title: str | None = None) -> None:
    """Write the self-contained page (plotly.js inline, no network) to `path`."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_html(report, title), encoding="utf-8")
