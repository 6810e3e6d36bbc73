"""Render reports on a terminal (rich). Every renderer takes a Console, so tests can capture it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from leaksleuth.live.rounds import Progress
from leaksleuth.model import Measurement
from leaksleuth.units import fmt_bytes

if TYPE_CHECKING:
    from leaksleuth.heap.culprits import Culprit

VERDICT_STYLE = {"leak": "bold red", "no leak": "bold green", "inconclusive": "bold yellow"}


def _ci(ci: tuple[float, float]) -> str:
    return f"[{fmt_bytes(ci[0])}, {fmt_bytes(ci[1])}]"


def render_progress(console: Console, p: Progress) -> None:
    """One line per step, like the seed's memory printer."""
    heaps = "  ".join(f"{pid}: {fmt_bytes(h)}" for pid, h in p.heap_used.items())
    if p.phase == "round":
        slope = f"  now {fmt_bytes(p.bytes_per_request or 0.0, signed=True)}/req" if p.bytes_per_request is not None else ""
        console.print(
            f"[dim]round {p.round:>2}[/]  {p.requests:>7} req  {p.requests_per_second:>6.0f} req/s  heap {heaps}{slope}",
            highlight=False,
        )
    else:
        console.print(f"[dim]{p.phase:>8}[/]  {p.requests:>7} req  heap {heaps}", highlight=False)


def render_measurement(console: Console, m: Measurement) -> None:
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
        "total", "serving processes", "", fmt_bytes(m.warmup_bytes),
        fmt_bytes(m.bytes_per_request, signed=True), _ci(m.ci95),
        fmt_bytes(m.code_bytes_per_request, signed=True), fmt_bytes(m.rss_bytes_per_request, signed=True),
        fmt_bytes(m.external_bytes_per_request, signed=True),
        f"[{VERDICT_STYLE[m.verdict]}]{m.verdict}[/]", style="bold",
    )
    console.print(table)
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
    console.print(f"Verdict: [{VERDICT_STYLE[m.verdict]}]{m.verdict}[/] — {escape(m.advice)}", highlight=False)
    if m.log_file:
        console.print(f"[dim]Target output: {escape(m.log_file)}[/]", highlight=False)


def make_console(stderr: bool = False) -> Console:
    """A console that stays wide enough for the tables when output goes to a file or pipe."""
    import sys

    stream = sys.stderr if stderr else sys.stdout
    return Console(stderr=stderr, width=None if stream.isatty() else 140)


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
        # heap text and source lines are data, never markup (`pages/[id].js`, `a[k] = v`)
        console.print("    " + escape(" → ".join(_join_steps(c.path))), highlight=False, soft_wrap=True)
        where = c.location or "location unknown"
        console.print(f"    at [cyan]{escape(where)}[/]", highlight=False)
        for e in c.evidence:
            console.print(f"    [dim]· {escape(e)}[/]", highlight=False)


def _join_steps(steps: list[str]) -> list[str]:
    """Glue property steps to their object: `$bus._events.toggleAsideMenu[]`, then `→ bound f()`."""
    parts: list[str] = []
    for s in steps:
        if parts and (s.startswith(".") or s.startswith("[") or s.startswith("::")):
            parts[-1] += s
        else:
            parts.append(s)
    return parts
