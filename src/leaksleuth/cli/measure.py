"""`leaksleuth measure`: bytes per request, with a confidence interval and a verdict."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import click
from rich.console import Console

from leaksleuth import api
from leaksleuth.cli import signals
from leaksleuth.cli.options import EXIT_BY_VERDICT, load_options, specs_from
from leaksleuth.errors import Interrupted, TargetExited
from leaksleuth.jsonio import write_json
from leaksleuth.model import Measurement
from leaksleuth.report.jsondoc import measurement_doc
from leaksleuth.report.terminal import make_console, render_measurement, render_progress


def show_partial(console: Console, exc: TargetExited | Interrupted, json_file: Path | None) -> None:
    """What was measured before the target died or a signal stopped us: written to --json, and
    printed (an interrupted measurement only to --json: the table would say the target ended)."""
    partial = exc.partial
    if not isinstance(partial, Measurement):
        return
    if partial.complete or isinstance(exc, TargetExited):
        with contextlib.suppress(OSError):  # SIGHUP: the terminal may be gone
            render_measurement(console, partial)
    write_json(json_file, measurement_doc(partial))


@click.command(context_settings={"ignore_unknown_options": True})
@load_options
def measure(**kw: Any) -> int:
    """Measure heap growth per request of a Node service (launch `-- CMD` or attach `--pid`).

    Exit code: 0 no leak, 1 leak, 2 inconclusive, 3 usage or target error.
    """
    console = make_console()
    target, load, spec = specs_from(kw)
    try:
        m = signals.run(api.measure_async(target, load, spec, on_progress=lambda p: render_progress(console, p)))
    except (TargetExited, Interrupted) as exc:
        show_partial(console, exc, kw["json_file"])
        raise
    render_measurement(console, m)
    write_json(kw["json_file"], measurement_doc(m))
    return EXIT_BY_VERDICT[m.verdict]


commands = [measure]
