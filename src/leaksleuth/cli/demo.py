"""`leaksleuth demo`: the whole hunt on the bundled leaky Vue SSR app."""

from __future__ import annotations

import time
from pathlib import Path

import click

from leaksleuth import api
from leaksleuth.cli import signals
from leaksleuth.cli.hunt import show_hunt
from leaksleuth.cli.measure import show_partial
from leaksleuth.errors import Interrupted, TargetExited
from leaksleuth.flows.demo import DEFAULT_LEAKS, demo_hunt_spec, demo_launch, demo_protocol, demo_url
from leaksleuth.report.terminal import make_console, render_progress


@click.command()
@click.option("--leaks", default=DEFAULT_LEAKS, show_default=True,
              help="Leaks to switch on (bus, interval, stats, listener, lazy; 'none' for the control).")
@click.option("--egg", is_flag=True, help="Run the Egg.js entry (master, agent, 2 workers) instead of Express.")
@click.option("--json", "json_file", type=click.Path(path_type=Path), default=None)
@click.option("--html", "html_file", type=click.Path(path_type=Path), default=None)
@click.option("--keep", "keep_dir", type=click.Path(path_type=Path), default=None, help="Keep the snapshots here.")
def demo(leaks: str, egg: bool, json_file: Path | None, html_file: Path | None, keep_dir: Path | None) -> int:
    """Hunt the leaks of the bundled Vue 2 SSR app, end to end.

    Exit code 0 when the hunt ran (finding the leaks is the point); 3 on an error."""
    console = make_console()
    launch = demo_launch(leaks, egg)
    console.print(f"[bold]leaksleuth demo[/]: Vue SSR app in {launch.cwd}, LEAKS={leaks}, port {launch.env['PORT']}",
                  highlight=False)
    started = time.monotonic()
    try:
        result = signals.run(api.hunt_async(launch, demo_url(launch), demo_protocol(leaks), demo_hunt_spec(keep_dir),
                                            project=launch.cwd, on_progress=lambda p: render_progress(console, p)))
    except (TargetExited, Interrupted) as exc:
        show_partial(console, exc, json_file)
        raise
    show_hunt(console, result, json_file, html_file)
    console.print(f"[dim]demo finished in {time.monotonic() - started:.0f} s[/]", highlight=False)
    return 0


commands = [demo]
