"""`leaksleuth watch`: memory of a running service over time, time to its heap limit, and a
heap snapshot before it runs out."""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from pathlib import Path

import click
from rich.console import Console

from leaksleuth.live.capture import SECRETS_WARNING
from leaksleuth.cli.options import write_json
from leaksleuth.errors import UsageError
from leaksleuth.flows.measure import inspected_target, target_port
from leaksleuth.report.terminal import make_console
from leaksleuth.units import fmt_bytes
from leaksleuth.flows.watch import WatchPoint, WatchSpec, watch


def fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "not growing"
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    if seconds < 172800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


def render_point(console: Console, p: WatchPoint) -> None:
    if p.lost:
        console.print(f"[dim]{p.time:7.0f}s[/]  [bold red]{p.role} {p.pid}: {p.note}[/]", highlight=False)
        return
    line = (
        f"[dim]{p.time:7.0f}s[/]  {p.role} {p.pid}: heap {fmt_bytes(p.heap_used)} of {fmt_bytes(p.heap_limit)}"
        f"  rss {fmt_bytes(p.rss)}  trend {fmt_bytes(p.bytes_per_second * 60, signed=True)}/min"
        f"  heap limit {'in ' if p.seconds_to_limit is not None else ''}{fmt_duration(p.seconds_to_limit)}"
    )
    console.print(line, highlight=False)
    if p.snapshot:
        console.print(f"  [yellow]heap past the threshold: snapshot written to {p.snapshot}[/] ({SECRETS_WARNING})", highlight=False)
    if p.note:
        console.print(f"  [yellow]{p.note}[/]", highlight=False)


@click.command(context_settings={"ignore_unknown_options": True})
@click.option("--pid", type=int, default=None, help="Running Node process (its Node children too).")
@click.option("--url", default=None, help="With a command: the URL whose port tells it is ready.")
@click.option("--interval", default=30.0, show_default=True, help="Seconds between readings.")
@click.option("--window", default=20, show_default=True, help="Readings in the trend.")
@click.option("--no-gc", is_flag=True, help="Do not force a GC before each reading (noisier, no pauses).")
@click.option("--snapshot-at", type=float, default=None,
              help="Take one heap snapshot when the heap passes this fraction of its limit (e.g. 0.8).")
@click.option("--snapshot-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True)
@click.option("--memory-limit", type=int, default=None, help="Memory limit in bytes, if not detectable.")
@click.option("--duration", type=float, default=None, help="Stop after this many seconds (default: Ctrl-C).")
@click.option("--json", "json_file", type=click.Path(path_type=Path), default=None, help="Write every reading as JSON.")
@click.option("--ready-timeout", default=30.0, show_default=True)
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def watch_command(pid: int | None, url: str | None, interval: float, window: int, no_gc: bool,
                  snapshot_at: float | None, snapshot_dir: Path, memory_limit: int | None, duration: float | None,
                  json_file: Path | None, ready_timeout: float, command: tuple[str, ...]) -> int:
    """Watch memory over time: trend, time to the heap limit, a snapshot before OOM."""
    console = make_console()
    port = target_port(pid, command, url)
    if snapshot_at is not None and not 0 < snapshot_at < 1:
        raise UsageError("--snapshot-at is a fraction of the heap limit, between 0 and 1")
    if interval <= 0 or window < 3:
        raise UsageError("need --interval > 0 and --window ≥ 3")
    snapshot_dir.mkdir(parents=True, exist_ok=True)
    spec = WatchSpec(interval=interval, window=window, gc=not no_gc, snapshot_at=snapshot_at,
                     snapshot_dir=snapshot_dir, duration=duration, memory_limit=memory_limit)
    points: list[WatchPoint] = []

    async def run() -> None:
        def show(p: WatchPoint) -> None:
            points.append(p)
            render_point(console, p)

        async with inspected_target(pid, command, port, ready_timeout) as inspected:
            await watch(inspected, spec, show)

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
    finally:  # the readings so far, also when the target died
        write_json(json_file, {"points": [asdict(p) for p in points]})
    return 0


watch_command.name = "watch"
commands = [watch_command]
