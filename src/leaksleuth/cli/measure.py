"""`leaksleuth measure`: bytes per request, with a confidence interval and a verdict."""

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
from leaksleuth.errors import TargetExited
from leaksleuth.flows.measure import measure_command, measure_pid, target_port
from leaksleuth.model import Measurement
from leaksleuth.report.terminal import make_console, render_measurement, render_progress


def run_measure(kw: dict[str, Any], console: Console) -> Measurement:
    """Shared by `measure` and `demo`: run, render progress, return the measurement."""
    target_port(kw["pid"], kw["command"], kw["urls"][0])
    load, spec = specs_from(kw)
    progress = lambda p: render_progress(console, p)  # noqa: E731
    if kw["pid"] is not None:
        return asyncio.run(measure_pid(kw["pid"], load, spec, on_progress=progress))
    log_file: Path | None = kw["log_file"]
    return asyncio.run(
        measure_command(list(kw["command"]), load, spec, ready_timeout=kw["ready_timeout"],
                        log_file=log_file, on_progress=progress, env=kw.get("env"), cwd=kw.get("cwd"))
    )


def show_partial(console: Console, exc: TargetExited, json_file: Path | None) -> None:
    """What was measured before the target died: printed, and written to --json."""
    if isinstance(exc.partial, Measurement):
        render_measurement(console, exc.partial)
        write_json(json_file, exc.partial.to_json())


@click.command(context_settings={"ignore_unknown_options": True})
@load_options
def measure(**kw: Any) -> int:
    """Measure heap growth per request of a Node service (launch `-- CMD` or attach `--pid`).

    Exit code: 0 no leak, 1 leak, 2 inconclusive, 3 usage or target error.
    """
    console = make_console()
    try:
        m = run_measure(kw, console)
    except TargetExited as exc:
        show_partial(console, exc, kw["json_file"])
        raise
    render_measurement(console, m)
    write_json(kw["json_file"], m.to_json())
    return EXIT_BY_VERDICT[m.verdict]


commands = [measure]
