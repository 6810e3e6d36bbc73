"""`leaksleuth watch`: memory of a running service over time, time to its heap limit, and a
heap snapshot before it runs out."""

from __future__ import annotations

from pathlib import Path

import click

from leaksleuth import api
from leaksleuth.cli import signals
from leaksleuth.cli.options import target_of
from leaksleuth.errors import UsageError
from leaksleuth.jsonio import write_json
from leaksleuth.model import WatchPoint
from leaksleuth.options import Attach, Escalation, Target, WatchSpec
from leaksleuth.report.jsondoc import watch_doc
from leaksleuth.report.terminal import make_console, render_watch_point, render_watch_summary


@click.command(context_settings={"ignore_unknown_options": True})
@click.option("--pid", type=int, default=None, help="Running Node process (its Node children too).")
@click.option("--url", default=None, help="With a command: the URL whose port tells it is ready.")
@click.option("--interval", default=30.0, show_default=True, help="Seconds between readings.")
@click.option("--window", default=20, show_default=True, help="Troughs in the trend (with forced GCs: readings).")
@click.option("--no-gc", is_flag=True, help="Do not force a GC before each reading (noisier, no pauses).")
@click.option("--snapshot-at", type=float, default=None,
              help="Take one heap snapshot when the heap passes this fraction of its limit (e.g. 0.8).")
@click.option("--snapshot-dir", type=click.Path(file_okay=False, path_type=Path), default=Path("."), show_default=True)
@click.option("--memory-limit", type=int, default=None, help="Memory limit in bytes, if not detectable.")
@click.option("--duration", type=float, default=None, help="Stop after this many seconds (default: Ctrl-C).")
@click.option("--json", "json_file", type=click.Path(path_type=Path), default=None, help="Write every reading as JSON.")
@click.option("--ready-timeout", default=30.0, show_default=True)
@click.option("--metrics", "metrics_url", default=None,
              help="Read the service's own metrics endpoint (prom-client) instead: no inspector at all.")
@click.option("--passive", is_flag=True, help="Through the inspector, but never force a GC (troughs of the sawtooth).")
@click.option("--serve", default=None, help="Expose our figures for Prometheus on HOST:PORT (e.g. 127.0.0.1:9477).")
@click.option("--request-metric", default=None, help="Request counter in the metrics (default: http_requests_total).")
@click.option("--threshold", default=256.0, show_default=True, help="Bytes/request that count as a leak.")
@click.option("--rate-threshold", type=float, default=None,
              help="Bytes/second that count as a leak without a request counter (default: what reaches the "
                   "nearest limit within --horizon).")
@click.option("--horizon", default=172800.0, show_default=True,
              help="Seconds: without a request counter, growth that reaches the limit sooner is a leak.")
@click.option("--escalate", type=click.Choice(["off", "sampling", "snapshots"]), default="sampling", show_default=True,
              help="On a leak: the sampling heap profiler; `snapshots`: then three spaced snapshots (headroom allowing).")
@click.option("--cooldown", default=600.0, show_default=True, help="Seconds between two escalations of a process.")
@click.option("--max-escalations", default=2, show_default=True, help="Escalations per process at most.")
@click.option("--spacing", default=0.0, help="Seconds between two profiles or snapshots (default: 3 intervals, ≥ 5).")
@click.option("--heap-limit", type=int, default=None, help="V8's heap limit in bytes, when it cannot be read (--metrics).")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def watch_command(pid: int | None, url: str | None, interval: float, window: int, no_gc: bool,
                  snapshot_at: float | None, snapshot_dir: Path, memory_limit: int | None, duration: float | None,
                  json_file: Path | None, ready_timeout: float, metrics_url: str | None, passive: bool,
                  serve: str | None, request_metric: str | None, threshold: float, rate_threshold: float | None, horizon: float,
                  escalate: Escalation, cooldown: float, max_escalations: int, spacing: float,
                  heap_limit: int | None, command: tuple[str, ...]) -> int:
    """Watch memory over time: trough trend, time to OOM, escalation on a leak."""
    console = make_console()
    if metrics_url is not None:
        if command:
            raise UsageError("--metrics reads a running service: give no command (--pid is optional)")
        target: Target | None = Attach(pid) if pid is not None else None
    else:
        target = target_of(pid, command, ready_timeout=ready_timeout)
    spec = WatchSpec(interval=interval, window=window, gc=not no_gc, snapshot_at=snapshot_at,
                     snapshot_dir=snapshot_dir, duration=duration, memory_limit=memory_limit, passive=passive,
                     metrics_url=metrics_url, request_metric=request_metric, serve=serve, threshold=threshold,
                     rate_threshold=rate_threshold, horizon=horizon, escalate=escalate, cooldown=cooldown,
                     max_escalations=max_escalations, spacing=spacing, heap_limit=heap_limit)
    snapshot_dir.mkdir(parents=True, exist_ok=True)
    points: list[WatchPoint] = []

    def show(p: WatchPoint) -> None:
        points.append(p)
        render_watch_point(console, p)

    try:
        signals.run(api.watch_async(target, spec, url=url, on_point=show))
    except KeyboardInterrupt:
        pass
    finally:  # the readings so far, also when the target died
        write_json(json_file, watch_doc(points))
        render_watch_summary(console, points)
    return 0


watch_command.name = "watch"
commands = [watch_command]
