"""`leaksleuth watch`: memory of a running service over time, time to its heap limit, and a
heap snapshot before it runs out."""

from __future__ import annotations

from pathlib import Path

import click

from leaksleuth import api
from leaksleuth.cli.options import target_of
from leaksleuth.jsonio import write_json
from leaksleuth.model import WatchPoint
from leaksleuth.options import WatchSpec
from leaksleuth.report.jsondoc import watch_doc
from leaksleuth.report.terminal import make_console, render_watch_point


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
    target = target_of(pid, command, ready_timeout=ready_timeout)
    spec = WatchSpec(interval=interval, window=window, gc=not no_gc, snapshot_at=snapshot_at,
                     snapshot_dir=snapshot_dir, duration=duration, memory_limit=memory_limit)
    snapshot_dir.mkdir(parents=True, exist_ok=True)
    points: list[WatchPoint] = []

    def show(p: WatchPoint) -> None:
        points.append(p)
        render_watch_point(console, p)

    try:
        api.watch(target, spec, url=url, on_point=show)
    except KeyboardInterrupt:
        pass
    finally:  # the readings so far, also when the target died
        write_json(json_file, watch_doc(points))
    return 0


watch_command.name = "watch"
commands = [watch_command]
