"""Render results on a terminal (rich). Every renderer takes a Console, so tests can capture it.

Text from the heap, the source and the target is data, never markup: it is escaped
(`pages/[id].js`, `a[k] = v`).
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from leaksleuth.heap.diff import HeapDiff
from leaksleuth.heap.summary import HeapSummary
from leaksleuth.model import Culprit, HuntResult, Interval, Measurement, Progress, Reading, WatchPoint
from leaksleuth.report.advice import (
    advice,
    capture_text,
    confirmation_text,
    coverage_text,
    culprit_routes_text,
    evidence_text,
    forecast_text,
    location_text,
    route_note,
    skipped_text,
    traffic_text,
    watch_note,
    watch_verdict_text,
)
from leaksleuth.units import fmt_bytes, fmt_duration, join_steps

VERDICT_STYLE = {"leak": "bold red", "no leak": "bold green", "inconclusive": "bold yellow"}
SECRETS_WARNING = "heap snapshots contain everything in memory (tokens, cookies, passwords): keep them private"


def make_console(stderr: bool = False) -> Console:
    """A console that stays wide enough for the tables when output goes to a file or pipe."""
    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else 140)


def _ci(ci: Interval) -> str:
    return f"[{fmt_bytes(ci.low)}, {fmt_bytes(ci.high)}]"


def render_progress(console: Console, p: Progress) -> None:
    """One line per step, like the seed's memory printer."""
    heaps = "  ".join(f"{pid}: {fmt_bytes(h)}" for pid, h in p.heap_used.items())
    if p.phase == "round":
        slope = f"  now {fmt_bytes(p.bytes_per_request, signed=True)}/req" if p.bytes_per_request is not None else ""
        focus = f"  [dim]{escape(', '.join(p.routes))}[/]" if p.routes else ""
        console.print(
            f"[dim]round {p.round:>2}[/]  {p.requests:>7} req  {p.requests_per_second:>6.0f} req/s  heap {heaps}{slope}"
            f"{focus}",
            highlight=False,
        )
    elif p.phase == "confirm":
        seen = f"  {fmt_bytes(p.bytes_per_request, signed=True)}/req" if p.bytes_per_request is not None else ""
        console.print(f"[dim] confirm[/]  {p.requests:>7} req  {escape(', '.join(p.routes))} alone{seen}", highlight=False)
    elif p.phase == "snapshot":
        console.print(
            f"[dim]snapshot {p.snapshot}/{p.snapshots} of {p.role} {p.pid} at {p.requests} requests[/]", highlight=False
        )
    elif p.phase == "analysis":
        console.print("[dim]analysing snapshots[/]", highlight=False)
    else:
        console.print(f"[dim]{p.phase:>8}[/]  {p.requests:>7} req  heap {heaps}", highlight=False)


def _per_request(v: float) -> str:
    return "—" if math.isnan(v) else fmt_bytes(v, signed=True)


def render_routes(console: Console, m: Measurement) -> None:
    """The per-route table, worst first, and the check of the worst route alone."""
    table = Table(title="Memory per route (per request of that route, from the per-route fit)", title_justify="left")
    for col in ("route", "requests", "errors", "heap/req", "95% CI", "verdict", "note"):
        table.add_column(col, justify="left" if col in ("route", "verdict", "note") else "right")
    for r in m.routes:
        table.add_row(
            escape(r.route), str(r.requests), str(r.errors), _per_request(r.bytes_per_request),
            "—" if math.isnan(r.bytes_per_request) else _ci(r.ci95),
            f"[{VERDICT_STYLE[r.verdict]}]{r.verdict}[/]", escape(route_note(r)),
        )
    console.print(table)
    if m.confirmation is not None:
        console.print(escape(confirmation_text(m.confirmation)), highlight=False)


def render_measurement(console: Console, m: Measurement) -> None:
    if m.traffic is not None:
        console.print(escape(traffic_text(m.traffic)), highlight=False)
    table = Table(title="Memory per request (after GC, code space excluded)", title_justify="left")
    for col in ("pid", "role", "serves", "warm-up", "heap/req", "95% CI", "code/req", "rss/req", "external/req", "verdict"):
        table.add_column(col, justify="right" if col not in ("role", "verdict") else "left")
    for p in m.processes:
        table.add_row(
            str(p.pid),
            escape(f"{p.role} {p.title}"),
            "yes" if p.serving else "",
            fmt_bytes(p.warmup_bytes),
            fmt_bytes(p.bytes_per_request, signed=True),
            _ci(p.ci95),
            fmt_bytes(p.code_bytes_per_request, signed=True),
            fmt_bytes(p.rss_bytes_per_request, signed=True),
            fmt_bytes(p.external_bytes_per_request, signed=True),
            f"[{VERDICT_STYLE[p.verdict]}]{p.verdict}[/]",
        )
    table.add_row(
        "total", "serving processes" if len(m.routes) < 2 else "the traffic mix (per-route fit)", "",
        fmt_bytes(m.warmup_bytes),
        fmt_bytes(m.bytes_per_request, signed=True), _ci(m.ci95),
        fmt_bytes(m.code_bytes_per_request, signed=True), fmt_bytes(m.rss_bytes_per_request, signed=True),
        fmt_bytes(m.external_bytes_per_request, signed=True),
        f"[{VERDICT_STYLE[m.verdict]}]{m.verdict}[/]", style="bold",
    )
    console.print(table)
    if len(m.routes) > 1:
        render_routes(console, m)
    grown = {k: v for k, v in m.handles_per_request.items() if abs(v) >= 0.05}
    if grown:
        console.print("Gained per request: " + ", ".join(f"{v:+.2f} {k}" for k, v in sorted(grown.items())))
    load = m.load
    console.print(
        f"Requests: {m.requests} in {m.rounds} rounds, {m.errors} errors, "
        f"{load.requests_per_second:.0f} req/s, latency p50 {load.latency_ms_p50:.1f} ms p99 {load.latency_ms_p99:.1f} ms, "
        f"{m.seconds:.1f} s",
        highlight=False,
    )
    if not m.complete:
        console.print("[bold yellow]Partial result: the target ended before the run finished.[/]")
    console.print(f"Verdict: [{VERDICT_STYLE[m.verdict]}]{m.verdict}[/] — {escape(advice(m))}", highlight=False)
    if m.log_file:
        console.print(f"[dim]Target output: {escape(m.log_file)}[/]", highlight=False)


def render_culprits(
    console: Console, culprits: list[Culprit], skipped: str | None = None, roles: dict[int, str] | None = None
) -> None:
    """Ranked culprits: size per request, what, the clustered path, the line of code."""
    if skipped:
        console.print(f"[dim]Culprits: {escape(skipped)}[/]", highlight=False)
        return
    if not culprits:
        console.print("[bold green]No culprit:[/] nothing in the heap grows in step with requests.")
        return
    console.print("[bold]Culprits[/] (what grows per request, and what keeps it alive)")
    for c in culprits:
        where_pids = ""
        if roles and c.processes:
            where_pids = "  in " + ", ".join(f"{roles.get(pid, 'process')} {pid}" for pid in c.processes)
        console.print(
            f"[bold red]#{c.rank}[/]  {fmt_bytes(c.bytes_per_request, signed=True)}/request  "
            f"({c.objects_per_request:.2f} {escape(c.constructor)} per request)  [dim]{c.kind}{where_pids}[/]",
            highlight=False,
        )
        console.print("    " + escape(join_steps(c.path)), highlight=False, soft_wrap=True)
        routes = culprit_routes_text(c)
        if routes:
            console.print(f"    {escape(routes)}", highlight=False)
        where = str(c.location) if c.location else "location unknown"
        if c.location is not None and c.location.generated:
            where += f"  (generated {c.location.generated})"
        console.print(f"    at [cyan]{escape(where)}[/]", highlight=False)
        for loc in c.locations:
            if loc is not c.location:
                console.print(f"    [dim]· {escape(location_text(loc))}[/]", highlight=False)
        for e in c.evidence:
            console.print(f"    [dim]· {escape(evidence_text(e))}[/]", highlight=False)


def render_hunt(console: Console, h: HuntResult) -> None:
    if h.measurement is not None:
        render_measurement(console, h.measurement)
    roles: dict[int, str] | None = {p.pid: p.role for p in h.measurement.processes} if h.measurement else None
    render_culprits(console, h.culprits, skipped_text(h), roles)
    covered = coverage_text(h)
    if covered:
        console.print(f"Coverage: {escape(covered)}", highlight=False)
    if h.snapshot_files:
        console.print(f"[yellow]Note:[/] {SECRETS_WARNING}.", highlight=False)


def render_summary(console: Console, summary: HeapSummary, title: str) -> None:
    table = Table(title=title, title_justify="left")
    table.add_column("Constructor")
    table.add_column("Count", justify="right")
    table.add_column("Self size", justify="right")
    table.add_column("Retained size", justify="right")
    for row in summary.constructors:
        table.add_row(escape(row.name), f"{row.count:,}", fmt_bytes(row.self_size), fmt_bytes(row.retained_size))
    console.print(table)
    console.print(f"{summary.nodes:,} nodes, {summary.edges:,} edges, {fmt_bytes(summary.total_size)} in total")


def render_diff(console: Console, diff: HeapDiff, title: str) -> None:
    table = Table(title=title, title_justify="left")
    table.add_column("Constructor")
    for heading in ("# New", "# Deleted", "# Delta", "Alloc. size", "Freed size", "Size delta"):
        table.add_column(heading, justify="right")
    for row in diff.constructors:
        table.add_row(
            escape(row.name),
            f"{row.added:,}",
            f"{row.freed:,}",
            f"{row.count_delta:+,}",
            fmt_bytes(row.added_size),
            fmt_bytes(row.freed_size),
            fmt_bytes(row.size_delta, signed=True),
        )
    console.print(table)
    console.print(f"{diff.added:,} objects added, {diff.freed:,} freed")


def render_watch_point(console: Console, p: WatchPoint) -> None:
    note = watch_note(p)
    if p.lost:
        console.print(f"[dim]{p.time:7.0f}s[/]  [bold red]{p.role} {p.pid}: {note}[/]", highlight=False)
        return
    limit = f" of {fmt_bytes(p.heap_limit)}" if p.heap_limit else ""
    t = p.trend
    verdict = f"  [{VERDICT_STYLE[t.verdict]}]{t.verdict}[/]" if t.troughs >= 3 else ""
    per_request = f" ({fmt_bytes(t.bytes_per_request, signed=True)}/req)" if t.bytes_per_request is not None else ""
    line = f"[dim]{p.time:7.0f}s[/]  {p.role} {p.pid}: heap {fmt_bytes(p.heap_used)}{limit}  rss {fmt_bytes(p.rss)}"
    if p.source != "inspector" and t.verdict == "inconclusive" and t.collections < 6:
        # no forced GC: no trend worth a figure before enough collections were seen
        line += f"  trend: {max(t.collections, 0)} collection(s) seen, 6 needed"
    else:
        line += f"  trend {fmt_bytes(p.bytes_per_second * 60, signed=True)}/min{per_request}"
        if p.forecast is not None and p.forecast.limit_kind == "cgroup":
            line += f"  {escape(forecast_text(p.forecast))}"
        elif p.heap_limit:
            line += f"  heap limit {'in ' if p.seconds_to_limit is not None else ''}{fmt_duration(p.seconds_to_limit)}"
    console.print(line + verdict, highlight=False)
    if p.snapshot:
        console.print(f"  [yellow]heap past the threshold: snapshot written to {escape(p.snapshot)}[/] ({SECRETS_WARNING})", highlight=False)
    if p.oom_kills:
        console.print(f"  [bold red]{p.oom_kills} OOM kill(s) in its cgroup since the watch began[/]", highlight=False)
    if p.capture is not None:
        for text in capture_text(p.capture):
            console.print(f"  [yellow]{escape(text)}[/]", highlight=False)
        if p.capture.culprits:
            render_culprits(console, list(p.capture.culprits))
        if p.capture.files:
            console.print(f"  [yellow]Note:[/] {SECRETS_WARNING}.", highlight=False)
    if note:
        console.print(f"  [yellow]{escape(note)}[/]", highlight=False)


def render_watch_summary(console: Console, points: Sequence[WatchPoint]) -> None:
    """The last verdict of each process, once the watch ends."""
    last: dict[int, WatchPoint] = {}
    for p in points:
        if not p.lost or p.pid not in last:
            last[p.pid] = p
    for p in last.values():
        console.print(f"{p.role} {p.pid}: {escape(watch_verdict_text(p))}", highlight=False)


def render_top_line(console: Console, rows: Sequence[tuple[str, int, Reading, int]]) -> None:
    """One line of `top`: per process (role, pid, reading, heap change since the first)."""
    parts = [
        f"{role} {pid}: heap {fmt_bytes(r.heap_used)} ({fmt_bytes(delta, signed=True)}) "
        f"total {fmt_bytes(r.heap_total)} rss {fmt_bytes(r.rss)} timers {r.resources.get('Timeout', 0)}"
        for role, pid, r, delta in rows
    ]
    console.print(f"[dim]{time.strftime('%H:%M:%S')}[/]  " + "  │  ".join(parts), highlight=False)


def render_snapshot_progress(console: Console, output: Path) -> Callable[[Progress], None]:
    """A progress callback for `snapshot`: the process, then a line at 0, 25, 50, 75, 100 %."""
    shown = [-1]

    def show(p: Progress) -> None:
        if p.total == 0:
            shown[0] = -1
            path = output.with_name(f"{output.stem}.{p.pid}{output.suffix}") if p.snapshots > 1 else output
            console.print(f"snapshot of pid {p.pid} ({p.role}) → {escape(str(path))}", highlight=False)
            console.print("  the target is frozen while V8 writes it", highlight=False)
            return
        percent = 100 * p.done // p.total
        if percent >= shown[0] + 25:
            shown[0] = percent
            console.print(f"  {percent:3d}% of {p.total:,} objects", highlight=False)

    return show
