"""`leaksleuth top`: GC'd memory of every Node process of a target, every few seconds."""

from __future__ import annotations

import click

from leaksleuth.cli import signals
from leaksleuth.cli.options import target_of
from leaksleuth.flows.measure import http_port
from leaksleuth.flows.snapshot import top_target
from leaksleuth.report.terminal import make_console, render_top_line


@click.command(context_settings={"ignore_unknown_options": True})
@click.option("--pid", type=int, default=None)
@click.option("--url", default=None, help="With a command: the URL whose port tells it is ready.")
@click.option("--interval", default=3.0, show_default=True, help="Seconds between readings.")
@click.option("--duration", type=float, default=None, help="Stop after this many seconds.")
@click.option("--ready-timeout", default=30.0, show_default=True)
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def top(pid: int | None, url: str | None, interval: float, duration: float | None, ready_timeout: float,
        command: tuple[str, ...]) -> int:
    """Live view: forced-GC memory readings of every process (Ctrl-C to stop)."""
    console = make_console()
    target = target_of(pid, command, ready_timeout=ready_timeout)
    port = http_port(target, url)
    try:
        signals.run(top_target(target, port, interval, duration, lambda rows: render_top_line(console, rows)))
    except KeyboardInterrupt:
        pass
    return 0


commands = [top]
