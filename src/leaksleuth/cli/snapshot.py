"""`leaksleuth snapshot`: a GC'd heap snapshot of a running or launched Node process."""

from __future__ import annotations

import asyncio
from pathlib import Path

import click
from rich.console import Console

from leaksleuth.live.capture import SECRETS_WARNING, capture_snapshot
from leaksleuth.errors import UsageError
from leaksleuth.flows.measure import inspected_target, target_port
from leaksleuth.live.rounds import Inspected, LoadSpec
from leaksleuth.report.terminal import make_console
from leaksleuth.units import fmt_bytes


async def _snap(inspected: list[Inspected], out: Path, force: bool, limit: int | None, console: Console) -> list[Path]:
    chosen = [i for i in inspected if i.process.serving] or inspected
    paths = []
    for i in chosen:
        path = out if len(chosen) == 1 else out.with_name(f"{out.stem}.{i.process.pid}{out.suffix}")
        console.print(f"snapshot of pid {i.process.pid} ({i.process.role}) → {path}", highlight=False)
        console.print("  the target is frozen while V8 writes it", highlight=False)
        shown = [-1]

        def progress(done: int, total: int) -> None:
            percent = 100 * done // max(total, 1)
            if percent >= shown[0] + 25:  # a line at 0, 25, 50, 75, 100 %
                shown[0] = percent
                console.print(f"  {percent:3d}% of {total:,} objects", highlight=False)

        await capture_snapshot(i.session, i.process.pid, path, force=force, memory_limit=limit, on_progress=progress)
        console.print(f"  {fmt_bytes(path.stat().st_size)} written", highlight=False)
        paths.append(path)
    return paths


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
    port = target_port(pid, command, urls[0] if urls else None)
    if requests and not urls:
        raise UsageError("--requests needs --url")

    async def run() -> list[Path]:
        async with inspected_target(pid, command, port, ready_timeout) as inspected:
            if requests:
                async with LoadSpec(urls=tuple(urls)).driver() as driver:
                    await driver.send(requests)
            return await _snap(inspected, output, force, memory_limit, console)

    asyncio.run(run())
    console.print(f"[yellow]Note:[/] {SECRETS_WARNING}.")
    return 0


commands = [snapshot]
