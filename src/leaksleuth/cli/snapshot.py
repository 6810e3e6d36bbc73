"""`leaksleuth snapshot`: a GC'd heap snapshot of a running or launched Node process."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape

from leaksleuth import api
from leaksleuth.cli import signals
from leaksleuth.cli.options import target_of
from leaksleuth.errors import UsageError
from leaksleuth.report.terminal import SECRETS_WARNING, make_console, render_snapshot_progress
from leaksleuth.units import fmt_bytes


@click.command(context_settings={"ignore_unknown_options": True})
@click.option("--pid", type=int, default=None, help="Running Node process to snapshot.")
@click.option("--url", "urls", multiple=True, help="With a command: URL to load before the snapshot.")
@click.option("--requests", default=0, show_default=True, help="Requests to send first (with --url).")
@click.option("-o", "--output", type=click.Path(path_type=Path), default=Path("leaksleuth.heapsnapshot"), show_default=True)
@click.option("--force", is_flag=True, help="Take it even if the target may run out of memory.")
@click.option("--memory-limit", type=int, default=None, help="Memory limit of the target in bytes, if not detectable.")
@click.option("--ready-timeout", default=30.0, show_default=True)
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def snapshot(pid: int | None, urls: tuple[str, ...], requests: int, output: Path, force: bool,
             memory_limit: int | None, ready_timeout: float, command: tuple[str, ...]) -> int:
    """Write a DevTools-compatible .heapsnapshot (the target freezes while V8 writes it)."""
    console = make_console()
    target = target_of(pid, command, ready_timeout=ready_timeout)
    if requests and not urls:
        raise UsageError("--requests needs --url")
    paths = signals.run(api.snapshot_async(
        target, output, url=urls[0] if urls else None, requests=requests, force=force,
        memory_limit=memory_limit, on_progress=render_snapshot_progress(console, output)))
    for path in paths:
        console.print(f"  {escape(str(path))}: {fmt_bytes(path.stat().st_size)} written", highlight=False)
    console.print(f"[yellow]Note:[/] {SECRETS_WARNING}.")
    return 0


commands = [snapshot]
