"""Heap snapshots of a target on demand (`leaksleuth snapshot`), and the `top` live view."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from leaksleuth.live.capture import capture_snapshot
from leaksleuth.live.connect import open_target
from leaksleuth.live.load import LoadDriver
from leaksleuth.live.readings import read_memory
from leaksleuth.live.rounds import Inspected, ProgressCallback
from leaksleuth.model import Progress, Reading, Role, serving
from leaksleuth.options import LoadSpec, Target

TopRow = tuple[Role, int, Reading, int]  # role, pid, reading, heap change since the first


def snapshot_path(output: Path, pid: int, several: bool) -> Path:
    """`output`, or `name.<pid>.ext` when several processes are snapshotted."""
    return output.with_name(f"{output.stem}.{pid}{output.suffix}") if several else output


async def snapshot_inspected(
    inspected: list[Inspected], output: Path, *, force: bool = False, memory_limit: int | None = None,
    on_progress: ProgressCallback | None = None, guard: Callable[[Path], None] | None = None,
) -> list[Path]:
    """One snapshot of each serving process (of all, when none serves); `guard`: see capture_snapshot."""
    chosen = serving(inspected)
    paths = []
    for k, i in enumerate(chosen, 1):
        path = snapshot_path(output, i.process.pid, len(chosen) > 1)
        base = Progress("snapshot", snapshot=k, snapshots=len(chosen), pid=i.process.pid, role=i.process.role)

        def progress(done: int, total: int, base: Progress = base) -> None:
            if on_progress:
                on_progress(Progress(base.phase, snapshot=base.snapshot, snapshots=base.snapshots, pid=base.pid,
                                     role=base.role, done=done, total=total))

        if on_progress:
            on_progress(base)
        await capture_snapshot(i.session, i.process.pid, path, force=force, memory_limit=memory_limit, on_progress=progress,
                               guard=guard)
        paths.append(path)
    return paths


async def snapshot_target(
    target: Target, output: Path, *, port: int = 0, load: LoadSpec | None = None, requests: int = 0,
    force: bool = False, memory_limit: int | None = None, on_progress: ProgressCallback | None = None,
) -> list[Path]:
    """Open the target, send `requests` of `load` first if asked, snapshot its serving processes."""
    async with open_target(target, port) as opened:
        if requests and load is not None:
            async with LoadDriver(load) as driver:
                await driver.send(requests)
        return await snapshot_inspected(opened.inspected, output, force=force, memory_limit=memory_limit,
                                        on_progress=on_progress, guard=opened.guard_path)


async def top_target(
    target: Target, port: int, interval: float, duration: float | None, on_rows: Callable[[list[TopRow]], None]
) -> None:
    """GC'd readings of every process every `interval` seconds, until `duration` or cancelled."""
    loop = asyncio.get_running_loop()
    async with open_target(target, port) as opened:
        start = loop.time()
        first: dict[int, int] = {}
        while duration is None or loop.time() - start < duration:
            rows: list[TopRow] = []
            for i in opened.inspected:
                r = await read_memory(i.session, 0)
                first.setdefault(i.process.pid, r.heap_used)
                rows.append((i.process.role, i.process.pid, r, r.heap_used - first[i.process.pid]))
            on_rows(rows)
            await asyncio.sleep(interval)
