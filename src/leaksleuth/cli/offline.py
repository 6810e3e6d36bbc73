"""`analyze`, `diff` and `path`: the offline heap-snapshot commands (a thin layer over leaksleuth.heap)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from leaksleuth.cli.options import write_json
from leaksleuth.errors import SnapshotError, UsageError
from leaksleuth.heap.diff import HeapDiff, diff_snapshots
from leaksleuth.heap.graph import retained_sizes
from leaksleuth.heap.parse import load_snapshot
from leaksleuth.heap.paths import format_path, retainer_paths
from leaksleuth.heap.summary import HeapSummary, summarize
from leaksleuth.report.terminal import make_console
from leaksleuth.units import fmt_bytes


def render_summary(summary: HeapSummary, console: Console, title: str) -> None:
    table = Table(title=title, title_justify="left")
    table.add_column("Constructor")
    table.add_column("Count", justify="right")
    table.add_column("Self size", justify="right")
    table.add_column("Retained size", justify="right")
    for row in summary.constructors:
        table.add_row(row.name, f"{row.count:,}", fmt_bytes(row.self_size), fmt_bytes(row.retained_size))
    console.print(table)
    console.print(
        f"{summary.nodes:,} nodes, {summary.edges:,} edges, {fmt_bytes(summary.total_size)} in total"
    )


def render_diff(diff: HeapDiff, console: Console, title: str) -> None:
    table = Table(title=title, title_justify="left")
    table.add_column("Constructor")
    for heading in ("# New", "# Deleted", "# Delta", "Alloc. size", "Freed size", "Size delta"):
        table.add_column(heading, justify="right")
    for row in diff.constructors:
        table.add_row(
            row.name,
            f"{row.added:,}",
            f"{row.freed:,}",
            f"{row.count_delta:+,}",
            fmt_bytes(row.added_size),
            fmt_bytes(row.freed_size),
            fmt_bytes(row.size_delta, signed=True),
        )
    console.print(table)
    console.print(f"{diff.added:,} objects added, {diff.freed:,} freed")


@click.command("analyze")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--top", type=click.IntRange(min=1), default=30, show_default=True, help="Rows to show."
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write JSON here.",
)
@click.option("--requests", "request_counts", default=None,
              help="With 3+ snapshots: requests sent when each was taken, e.g. 0,300,600 (default: equal steps).")
@click.option("--project", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Project root, to show source files relative to it.")
def analyze(files: tuple[Path, ...], top: int, json_path: Path | None, request_counts: str | None,
            project: Path | None) -> int:
    """Summarise a heap snapshot by constructor (count, self and retained size).

    With three or more snapshots of one process taken in order, report what grows across
    them in step with requests, why it stays alive, and which line of code did it."""
    if len(files) == 2:
        raise UsageError("give one snapshot (summary) or three or more (growth); for two, use `leaksleuth diff`")
    if len(files) > 2:
        return _analyze_series(files, request_counts, project, json_path)
    snap = load_snapshot(files[0])
    summary = summarize(snap)
    if json_path is not None:
        write_json(json_path, summary.to_json())
    shown = HeapSummary(
        summary.nodes, summary.edges, summary.total_size, summary.constructors[:top]
    )
    render_summary(shown, make_console(), title=str(files[0]))
    return 0


def _analyze_series(files: tuple[Path, ...], request_counts: str | None, project: Path | None,
                    json_path: Path | None) -> int:
    from leaksleuth.flows.hunt import analyze_files
    from leaksleuth.report.terminal import make_console, render_culprits

    if request_counts is None:
        counts = [float(i) for i in range(len(files))]
    else:
        try:
            counts = [float(x) for x in request_counts.split(",")]
        except ValueError as exc:
            raise UsageError(f"--requests wants numbers separated by commas, not {request_counts!r}") from exc
        if len(counts) != len(files) or any(b <= a for a, b in zip(counts, counts[1:])):
            raise UsageError("--requests needs one growing count per snapshot")
    culprits = analyze_files({0: list(files)}, counts, project or Path.cwd())
    console = make_console()
    if request_counts is None:
        console.print("[dim]No --requests given: growth is per snapshot step, shown as 'per request'.[/]")
    render_culprits(console, culprits)
    if json_path is not None:
        write_json(json_path, {"culprits": [c.to_json() for c in culprits]})
    return 1 if culprits else 0


@click.command("diff")
@click.argument("before", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("after", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--top", type=click.IntRange(min=1), default=30, show_default=True, help="Rows to show."
)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write JSON here.",
)
def diff(before: Path, after: Path, top: int, json_path: Path | None) -> int:
    """Objects added and freed between two snapshots of one process, by constructor."""
    result = diff_snapshots(load_snapshot(before), load_snapshot(after))
    if json_path is not None:
        write_json(json_path, result.to_json())
    shown = HeapDiff(
        result.added, result.freed, result.added_size, result.freed_size, result.constructors[:top]
    )
    render_diff(shown, make_console(), title=f"{before} → {after}")
    return 0


def _parse_node_id(text: str) -> int:
    try:
        return int(text.removeprefix("@"))
    except ValueError as exc:
        raise UsageError(f"not a node id: {text!r} (expected @123456)") from exc


@click.command("path")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("node_id", metavar="@ID")
@click.option("--max-paths", type=click.IntRange(min=1), default=3, show_default=True)
@click.option(
    "--json",
    "json_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write JSON here.",
)
def path(file: Path, node_id: str, max_paths: int, json_path: Path | None) -> int:
    """Show what keeps one object alive: shortest retainer paths from the GC roots."""
    wanted = _parse_node_id(node_id)
    snap = load_snapshot(file)
    ordinal = snap.find_node(wanted)
    if ordinal < 0:
        raise SnapshotError(f"{file}: no node with id @{wanted}")
    found = retainer_paths(snap, ordinal, max_paths=max_paths)
    node = snap.node(ordinal)
    retained = int(retained_sizes(snap)[ordinal])
    if json_path is not None:
        write_json(
            json_path,
            {
                "id": wanted,
                "node": node.label(),
                "self_size": node.self_size,
                "retained_size": retained,
                "paths": [p.to_json(snap) for p in found],
            },
        )
    console = make_console()
    console.print(
        f"{node} — self {fmt_bytes(node.self_size)}, retained {fmt_bytes(retained)}", highlight=False
    )
    if not found:
        console.print("unreachable from the GC roots (garbage, or only weakly held)")
    for p in found:
        console.print(f"  {format_path(snap, p)}", highlight=False, soft_wrap=True)
    return 0


commands: list[click.Command] = [analyze, diff, path]
