"""`analyze`, `diff` and `path`: the offline heap-snapshot commands (a thin layer over the API)."""

from __future__ import annotations

import math
from itertools import pairwise
from pathlib import Path

import click
from rich.markup import escape

from leaksleuth.errors import SnapshotError, UsageError
from leaksleuth.heap.culprits import find_culprits
from leaksleuth.heap.diff import HeapDiff, diff_snapshots
from leaksleuth.heap.graph import retained_sizes
from leaksleuth.heap.jsrules import node_label
from leaksleuth.heap.parse import load_snapshot
from leaksleuth.heap.paths import format_path, path_json, retainer_paths
from leaksleuth.heap.summary import HeapSummary, summarize
from leaksleuth.jsonio import write_json
from leaksleuth.report.jsondoc import culprit_doc
from leaksleuth.report.terminal import make_console, render_culprits, render_diff, render_summary
from leaksleuth.units import fmt_bytes


@click.command("analyze")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--top", type=click.IntRange(min=1), default=30, show_default=True, help="Rows to show.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Also write JSON here.")
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
    summary = summarize(load_snapshot(files[0]))
    write_json(json_path, summary.to_json())
    shown = HeapSummary(summary.nodes, summary.edges, summary.total_size, summary.constructors[:top])
    render_summary(make_console(), shown, title=str(files[0]))
    return 0


def request_counts_of(text: str | None, snapshots: int) -> list[float]:
    """`0,300,600`: finite, growing, one per snapshot (default: 0, 1, 2, …)."""
    if text is None:
        return [float(i) for i in range(snapshots)]
    try:
        counts = [float(x) for x in text.split(",")]
    except ValueError as exc:
        raise UsageError(f"--requests wants numbers separated by commas, not {text!r}") from exc
    if not all(math.isfinite(c) and c >= 0 for c in counts):
        raise UsageError(f"--requests wants finite counts ≥ 0, not {text!r}")
    if len(counts) != snapshots or any(b <= a for a, b in pairwise(counts)):
        raise UsageError("--requests needs one growing count per snapshot")
    return counts


def _analyze_series(files: tuple[Path, ...], request_counts: str | None, project: Path | None,
                    json_path: Path | None) -> int:
    counts = request_counts_of(request_counts, len(files))
    culprits = find_culprits(list(files), counts, project or Path.cwd())
    console = make_console()
    if request_counts is None:
        console.print("[dim]No --requests given: growth is per snapshot step, shown as 'per request'.[/]")
    render_culprits(console, culprits)
    write_json(json_path, {"culprits": [culprit_doc(c) for c in culprits]})
    return 1 if culprits else 0


@click.command("diff")
@click.argument("before", type=click.Path(dir_okay=False, path_type=Path))
@click.argument("after", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--top", type=click.IntRange(min=1), default=30, show_default=True, help="Rows to show.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Also write JSON here.")
def diff(before: Path, after: Path, top: int, json_path: Path | None) -> int:
    """Objects added and freed between two snapshots of one process, by constructor."""
    result = diff_snapshots(load_snapshot(before), load_snapshot(after))
    write_json(json_path, result.to_json())
    shown = HeapDiff(result.added, result.freed, result.added_size, result.freed_size, result.constructors[:top])
    render_diff(make_console(), shown, title=f"{before} → {after}")
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
@click.option("--json", "json_path", type=click.Path(dir_okay=False, path_type=Path), help="Also write JSON here.")
def path(file: Path, node_id: str, max_paths: int, json_path: Path | None) -> int:
    """Show what keeps one object alive: shortest retainer paths from the GC roots."""
    wanted = _parse_node_id(node_id)
    snap = load_snapshot(file)
    ordinal = snap.find_node(wanted)
    if ordinal < 0:
        raise SnapshotError(f"{file}: no node with id @{wanted}")
    found = retainer_paths(snap, ordinal, max_paths=max_paths)
    label = node_label(snap, ordinal)
    self_size = int(snap.node_self_size[ordinal])
    retained = int(retained_sizes(snap)[ordinal])
    write_json(json_path, {
        "id": wanted,
        "node": label,
        "self_size": self_size,
        "retained_size": retained,
        "paths": [path_json(snap, p) for p in found],
    })
    console = make_console()
    console.print(f"{escape(label)} @{wanted} — self {fmt_bytes(self_size)}, retained {fmt_bytes(retained)}", highlight=False)
    if not found:
        console.print("unreachable from the GC roots (garbage, or only weakly held)")
    for p in found:
        console.print(f"  {escape(format_path(snap, p))}", highlight=False, soft_wrap=True)
    return 0


commands: list[click.Command] = [analyze, diff, path]
