"""An experiment's result as JSON (the `--json` contract), on the terminal, and as HTML."""

from __future__ import annotations

import html
import math
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from leaksleuth.model.experiment import EMPTY, Config, Effect, ExperimentResult
from leaksleuth.report.advice import configuration_label
from leaksleuth.report.jsondoc import measurement_doc
from leaksleuth.units import fmt_bytes


def describe(result: ExperimentResult, applied: Config) -> str:
    """A configuration in the user's words."""
    cfg = result.config
    return configuration_label(len(applied), len(cfg.toggles), cfg.switched_off(applied))


def _names(result: ExperimentResult, group: frozenset[int]) -> list[str]:
    return [result.config.toggles[i].name for i in sorted(group)]


def _ci(e: Effect | None) -> list[float] | None:
    return None if e is None else list(e.ci95)


def suggestions(result: ExperimentResult) -> list[str]:
    """Which change removes how much, largest first; then what is left with everything off."""
    a = result.attribution
    cfg = result.config
    threshold = cfg.protocol.threshold
    on = result.records.get(EMPTY)
    lines = []
    if on is None or on.measurement is None:
        return ["the app as it is could not be measured: see the all-on run's error and log"]
    leak_on = float(on.measurement["bytes_per_request"])
    if not a.culprits and a.total is not None and not a.total.above(threshold):
        lines.append(
            f"switching every suspect off changes the leak by {fmt_bytes(a.total.value, signed=True)}/request: "
            "the leak is elsewhere; add toggles for other modules"
        )
    for row in a.toggles:
        if len(row.group) == 1 and row.index in a.culprits and row.effect is not None:
            share = row.effect.value / leak_on if leak_on > 0 else math.nan
            lines.append(
                f"switch off {cfg.toggles[row.index].name}: removes {fmt_bytes(row.effect.value)}/request "
                f"(95% CI {fmt_bytes(row.effect.ci95.low)} to {fmt_bytes(row.effect.ci95.high)}; {share:.0%} of the leak)"
            )
    off = result.records.get(frozenset(range(len(cfg.toggles))))
    if off is not None and off.measurement is not None:
        low = off.measurement["ci95"][0]
        left = float(off.measurement["bytes_per_request"])
        if low is not None and low > threshold:
            lines.append(
                f"with everything off the app still leaks {fmt_bytes(left)}/request: part of the leak is in "
                "what no toggle covers (the server itself, like the seed's empty page)"
            )
    return lines


def to_json(result: ExperimentResult) -> dict[str, Any]:
    """The `--json` document (toggles ranked by contribution)."""
    a = result.attribution
    cfg = result.config
    full = frozenset(range(len(cfg.toggles)))

    def measurement(c: frozenset[int]) -> dict[str, Any] | None:
        rec = result.records.get(c)
        m = rec.measured() if rec else None
        return measurement_doc(m) if m else None

    toggles = [
        {
            "name": cfg.toggles[r.index].name,
            "bytes_per_request": r.effect.value if r.effect else None,
            "ci95": _ci(r.effect),
            "status": r.status,
            "error": r.error,
            "culprit": r.index in a.culprits,
            "measured_with": [n for n in _names(result, r.group) if n != cfg.toggles[r.index].name],
        }
        for r in a.toggles
    ]
    confirmation = None
    if a.culprits:
        rec = result.records.get(a.culprits)
        confirmation = {
            "switched_off": _names(result, a.culprits),
            "status": rec.status if rec else None,
            "removes_bytes_per_request": a.confirmation.value if a.confirmation else None,
            "ci95": _ci(a.confirmation),
            "share_of_total": (a.confirmation.value / a.total.value)
            if a.confirmation and a.total and a.total.value else None,
        }
    configurations = [
        {
            "configuration": describe(result, c),
            "switched_off": _names(result, c),
            "key": rec.key,
            "status": rec.status,
            "error": rec.error,
            "bytes_per_request": rec.measurement["bytes_per_request"] if rec.measurement else None,
            "ci95": rec.measurement["ci95"] if rec.measurement else None,
            "seconds": rec.seconds,
            "log_file": rec.log_file,
            "resumed": c in result.resumed,
        }
        for c in result.order
        if (rec := result.records.get(c)) is not None
    ]
    return {
        "config": str(cfg.path),
        "all_on": measurement(EMPTY),
        "all_off": measurement(full),
        "total": {"bytes_per_request": a.total.value, "ci95": _ci(a.total)} if a.total else None,
        "toggles": toggles,
        "interactions": [
            {
                "toggles": _names(result, x.group),
                "observed_bytes_per_request": x.observed.value,
                "observed_ci95": _ci(x.observed),
                "sum_of_parts": x.expected,
                "difference": x.difference.value,
                "difference_ci95": _ci(x.difference),
            }
            for x in a.interactions
        ],
        "confirmation": confirmation,
        "suggestions": suggestions(result),
        "configurations": configurations,
        "runs": len(result.records),
        "runs_resumed": len(result.resumed),
        "wall_seconds": result.wall_seconds,
        "design": {
            "threshold": cfg.protocol.threshold,
            "singles_at": result.singles_at,
            "one_run_per_toggle": len(cfg.toggles) + 1,
            "all_subsets": 2 ** len(cfg.toggles),
        },
    }


def _effect_cell(e: Effect | None) -> tuple[str, str]:
    if e is None:
        return "—", ""
    return fmt_bytes(e.value, signed=True), f"[{fmt_bytes(e.ci95.low)}, {fmt_bytes(e.ci95.high)}]"


def render_terminal(console: Console, result: ExperimentResult) -> None:
    doc = to_json(result)
    cfg = result.config
    table = Table(title="Configurations measured", title_justify="left")
    for col in ("configuration", "status", "heap/req", "95% CI", "seconds"):
        table.add_column(col, justify="left" if col in ("configuration", "status") else "right")
    for c in doc["configurations"]:
        bpr = fmt_bytes(c["bytes_per_request"], signed=True) if c["bytes_per_request"] is not None else "—"
        ci = c["ci95"]
        ci_s = f"[{fmt_bytes(ci[0] if ci[0] is not None else -math.inf)}, {fmt_bytes(ci[1] if ci[1] is not None else math.inf)}]" if ci else ""
        status = c["status"] + (" (recorded)" if c["resumed"] else "")
        table.add_row(escape(c["configuration"]), escape(status), bpr, escape(ci_s), f"{c['seconds']:.0f}")
    console.print(table)
    table = Table(title="Contribution of each toggle (leak removed by switching it off)", title_justify="left")
    for col in ("#", "toggle", "removes/req", "95% CI", "status", "note"):
        table.add_column(col, justify="right" if col in ("#", "removes/req", "95% CI") else "left")
    for rank, row in enumerate(result.attribution.toggles, 1):
        value, ci = _effect_cell(row.effect)
        note = "culprit" if row.index in result.attribution.culprits else ""
        if len(row.group) > 1:
            note = "measured together with " + ", ".join(n for n in _names(result, row.group) if n != cfg.toggles[row.index].name)
        if row.error:
            note = row.error if len(row.error) <= 90 else row.error[:89] + "…"
        table.add_row(str(rank), escape(cfg.toggles[row.index].name), value, escape(ci), row.status, escape(note))
    console.print(table)
    for x in doc["interactions"]:
        console.print(
            f"[bold yellow]Interaction:[/] switching off {escape(', '.join(x['toggles']))} together removes "
            f"{fmt_bytes(x['observed_bytes_per_request'])}/request, its parts add up to {fmt_bytes(x['sum_of_parts'])}",
            highlight=False,
        )
    for s in doc["suggestions"]:
        console.print(f"• {escape(s)}", highlight=False)
    console.print(
        f"{doc['runs']} runs ({doc['runs_resumed']} from the record) in {doc['wall_seconds']:.0f} s; "
        f"one run per toggle would be {doc['design']['one_run_per_toggle']}, all subsets {doc['design']['all_subsets']}",
        highlight=False,
    )


def render_html(result: ExperimentResult) -> str:
    """One self-contained page: the ranking as bars with their intervals, and every run."""
    doc = to_json(result)
    e = html.escape
    rows = [t for t in doc["toggles"] if t["bytes_per_request"] is not None]
    top = max([abs(v) for t in rows for v in (t["ci95"] or []) if v is not None and math.isfinite(v)] + [1.0])
    width, bar_h = 520.0, 22
    svg = [f'<svg width="{width + 260:.0f}" height="{bar_h * len(doc["toggles"]) + 10}" role="img">']
    for k, t in enumerate(doc["toggles"]):
        y = 5 + k * bar_h
        svg.append(f'<text x="0" y="{y + 15}" font-size="13">{e(t["name"])}</text>')
        if t["bytes_per_request"] is None:
            svg.append(f'<text x="200" y="{y + 15}" font-size="13" fill="#b00">{e(t["status"])}</text>')
            continue
        w = max(0.0, t["bytes_per_request"]) / top * width
        svg.append(f'<rect x="200" y="{y + 3}" width="{w:.1f}" height="{bar_h - 8}" fill="{"#c0392b" if t["culprit"] else "#95a5a6"}"/>')
        lo, hi = t["ci95"]
        lo_x = 200 + max(0.0, lo if lo is not None and math.isfinite(lo) else 0.0) / top * width
        hi_x = 200 + min(top, hi if hi is not None and math.isfinite(hi) else top) / top * width
        svg.append(f'<line x1="{lo_x:.1f}" x2="{hi_x:.1f}" y1="{y + 11}" y2="{y + 11}" stroke="#222"/>')
        svg.append(f'<text x="{210 + width}" y="{y + 15}" font-size="12">{e(fmt_bytes(t["bytes_per_request"]))}/req</text>')
    svg.append("</svg>")
    runs = "".join(
        f"<tr><td>{e(c['configuration'])}</td><td>{e(c['status'])}</td>"
        f"<td>{e(fmt_bytes(c['bytes_per_request'], signed=True)) if c['bytes_per_request'] is not None else '—'}</td>"
        f"<td>{c['seconds']:.0f} s</td><td>{e(c['error'] or '')}</td></tr>"
        for c in doc["configurations"]
    )
    sugg = "".join(f"<li>{e(s)}</li>" for s in doc["suggestions"])
    inter = "".join(
        f"<li>{e(', '.join(x['toggles']))}: removes {e(fmt_bytes(x['observed_bytes_per_request']))}/request together, "
        f"parts add up to {e(fmt_bytes(x['sum_of_parts']))}</li>"
        for x in doc["interactions"]
    ) or "<li>none: the contributions add up</li>"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>leaksleuth experiment</title>
<style>body{{font-family:system-ui,sans-serif;margin:2em;max-width:70em}}td,th{{padding:.2em .8em;text-align:left}}</style></head>
<body><h1>Controlled experiment</h1><p>{e(doc['config'])}</p>
<h2>Contribution of each toggle (bytes/request removed by switching it off, 95% CI)</h2>{''.join(svg)}
<h2>Suggestions</h2><ul>{sugg}</ul>
<h2>Interactions</h2><ul>{inter}</ul>
<h2>Runs</h2><p>{doc['runs']} runs in {doc['wall_seconds']:.0f} s (one run per toggle: {doc['design']['one_run_per_toggle']}, all subsets: {doc['design']['all_subsets']})</p>
<table><tr><th>configuration</th><th>status</th><th>heap/request</th><th>time</th><th>error</th></tr>{runs}</table>
</body></html>
"""
