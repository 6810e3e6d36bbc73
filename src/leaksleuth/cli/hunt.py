"""`leaksleuth hunt`: measure, then snapshots at growing request counts, then culprits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.console import Console

from leaksleuth import api
from leaksleuth.cli import signals
from leaksleuth.cli.measure import show_partial
from leaksleuth.cli.options import EXIT_BY_VERDICT, load_options, specs_from
from leaksleuth.errors import Interrupted, TargetExited, UsageError
from leaksleuth.jsonio import write_json
from leaksleuth.model import HuntResult
from leaksleuth.options import HuntSpec
from leaksleuth.report.html import write_html
from leaksleuth.report.jsondoc import hunt_doc
from leaksleuth.report.terminal import make_console, render_hunt, render_progress


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


def hunt_spec(kw: dict[str, Any]) -> HuntSpec:
    return HuntSpec(
        requests_between=kw["requests_between"],
        always_snapshot=kw["always_snapshot"],
        skip_measure=kw["skip_measure"],
        keep_dir=kw["keep_dir"],
        force=kw["force"],
        memory_limit=kw["memory_limit"],
    )


def show_hunt(console: Console, result: HuntResult, json_file: Path | None, html_file: Path | None) -> int:
    """Print, write --json and --html; the exit code by verdict."""
    render_hunt(console, result)
    write_json(json_file, hunt_doc(result))
    if html_file is not None:
        try:
            write_html(html_file, result)
        except OSError as exc:
            raise UsageError(f"cannot write {html_file}: {exc.strerror}") from exc
        console.print(f"HTML report: {html_file}", highlight=False)
    if result.measurement is None:
        return 1 if result.culprits else 0
    return EXIT_BY_VERDICT[result.measurement.verdict]


@click.command(context_settings={"ignore_unknown_options": True})
@load_options
@hunt_options
def hunt(**kw: Any) -> int:
    """Find what leaks: measure, snapshot at growing request counts, explain the growth.

    Exit code: 0 no leak, 1 leak, 2 inconclusive, 3 usage or target error.
    """
    console = make_console()
    target, load, spec = specs_from(kw)
    try:
        result = signals.run(api.hunt_async(target, load, spec, hunt_spec(kw), project=kw["project"],
                                            on_progress=lambda p: render_progress(console, p)))
    except (TargetExited, Interrupted) as exc:
        show_partial(console, exc, kw["json_file"])
        raise
    return show_hunt(console, result, kw["json_file"], kw["html_file"])


commands = [hunt]
