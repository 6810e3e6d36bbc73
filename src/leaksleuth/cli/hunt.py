"""`leaksleuth hunt`: measure, then snapshots at growing request counts, then culprits."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from leaksleuth.cli.options import (
    EXIT_BY_VERDICT,
    load_options,
    specs_from,
    write_json,
)
from leaksleuth.cli.measure import show_partial
from leaksleuth.errors import TargetExited
from leaksleuth.flows.hunt import HuntReport, HuntSpec, hunt_command, hunt_pid
from leaksleuth.flows.measure import target_port
from leaksleuth.report.terminal import (
    make_console,
    render_culprits,
    render_measurement,
    render_progress,
)


def hunt_options(f: Any) -> Any:
    for decorator in reversed(
        [
            click.option("--snapshots", "skip_measure", is_flag=True, help="Skip the measurement: snapshots at once."),
            click.option("--always-snapshot", is_flag=True, help="Take snapshots even if no leak is measured."),
            click.option("--between", "requests_between", default=0, help="Requests between snapshots (0: from the growth)."),
            click.option("--keep", "keep_dir", type=click.Path(path_type=Path), default=None,
                         help="Keep the snapshots in this folder (they hold secrets)."),
            click.option("--force", is_flag=True, help="Snapshot even if the target may run out of memory."),
            click.option("--memory-limit", type=int, default=None, help="Target memory limit in bytes, if not detectable."),
            click.option("--html", "html_file", type=click.Path(path_type=Path), default=None, help="Write an HTML report."),
            click.option("--project", type=click.Path(path_type=Path), default=None, help="Project root for file paths."),
        ]
    ):
        f = decorator(f)
    return f


def run_hunt(kw: dict[str, Any], console: Console) -> HuntReport:
    target_port(kw["pid"], kw["command"], kw["urls"][0])
    load, spec = specs_from(kw)
    hunt = HuntSpec(
        requests_between=kw["requests_between"],
        always_snapshot=kw["always_snapshot"],
        skip_measure=kw["skip_measure"],
        keep_dir=kw["keep_dir"],
        force=kw["force"],
        memory_limit=kw["memory_limit"],
    )
    progress = lambda p: render_progress(console, p)  # noqa: E731
    say = lambda s: console.print(f"[dim]{s}[/]", highlight=False)  # noqa: E731
    if kw["pid"] is not None:
        project = (kw["project"] or Path.cwd()).resolve()
        return asyncio.run(hunt_pid(kw["pid"], load, spec, hunt, project=project, on_progress=progress, say=say))
    return asyncio.run(
        hunt_command(list(kw["command"]), load, spec, hunt, cwd=kw.get("cwd"), env=kw.get("env"),
                     ready_timeout=kw["ready_timeout"], log_file=kw["log_file"], project=kw["project"],
                     on_progress=progress, say=say)
    )


def render_hunt(console: Console, report: HuntReport, kw: dict[str, Any]) -> int:
    if report.measurement is not None:
        render_measurement(console, report.measurement)
    roles = {p.pid: p.role for p in report.measurement.processes} if report.measurement else None
    render_culprits(console, report.culprits, report.skipped_reason, roles)
    write_json(kw["json_file"], report.to_json())
    if kw.get("html_file"):
        from leaksleuth.report.html import write_html

        write_html(kw["html_file"], report)
        console.print(f"HTML report: {kw['html_file']}", highlight=False)
    if report.measurement is None:
        return 1 if report.culprits else 0
    return EXIT_BY_VERDICT[report.measurement.verdict]


@click.command(context_settings={"ignore_unknown_options": True})
@load_options
@hunt_options
def hunt(**kw: Any) -> int:
    """Find what leaks: measure, snapshot at growing request counts, explain the growth.

    Exit code: 0 no leak, 1 leak, 2 inconclusive, 3 usage or target error.
    """
    console = make_console()
    try:
        report = run_hunt(kw, console)
    except TargetExited as exc:
        show_partial(console, exc, kw["json_file"])
        raise
    return render_hunt(console, report, kw)


commands = [hunt]
