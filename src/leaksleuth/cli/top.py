"""`leaksleuth top`: GC'd memory of every Node process of a target, every few seconds."""

from __future__ import annotations

import asyncio
import time

import click
from rich.console import Console

from leaksleuth.flows.measure import inspected_target, target_port
from leaksleuth.live.readings import read_memory
from leaksleuth.live.rounds import Inspected
from leaksleuth.report.terminal import make_console
from leaksleuth.units import fmt_bytes


async def live_view(inspected: list[Inspected], interval: float, duration: float | None, console: Console) -> None:
    start = time.monotonic()
    first: dict[int, int] = {}
    while duration is None or time.monotonic() - start < duration:
        parts = []
        for i in inspected:
            r = await read_memory(i.session, 0)
            first.setdefault(i.process.pid, r.heap_used)
            delta = r.heap_used - first[i.process.pid]
            timers = r.resources.get("Timeout", 0)
            parts.append(
                f"{i.process.role} {i.process.pid}: heap {fmt_bytes(r.heap_used)} ({fmt_bytes(delta, signed=True)}) "
                f"total {fmt_bytes(r.heap_total)} rss {fmt_bytes(r.rss)} timers {timers}"
            )
        console.print(f"[dim]{time.strftime('%H:%M:%S')}[/]  " + "  │  ".join(parts), highlight=False)
        await asyncio.sleep(interval)


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
    port = target_port(pid, command, url)

    async def run() -> None:
        async with inspected_target(pid, command, port, ready_timeout) as inspected:
            await live_view(inspected, interval, duration, console)

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        pass
    return 0


commands = [top]
