"""Open a target: launch or attach, wait until ready, connect to every Node process; undo it all
on the way out (whatever happens)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from pathlib import Path

import psutil

from leaksleuth.errors import TargetError
from leaksleuth.live.attach import attach, close_inspectors
from leaksleuth.live.cdp import InspectorSession
from leaksleuth.live.discover import NodeProcess, assign_roles, port_owner
from leaksleuth.live.launch import LaunchedTarget
from leaksleuth.live.ready import wait_until_ready
from leaksleuth.live.rounds import Inspected
from leaksleuth.live.watchdog import Watchdog
from leaksleuth.options import Attach, Launch, Target

CAUSE_WAIT_SECONDS = 1.0


@dataclass
class OpenTarget:
    """Sessions to every Node process of a target, and the launched command if we started it."""

    inspected: list[Inspected]
    launched: LaunchedTarget | None = None
    watchdog: Watchdog | None = None  # an attached target's: removes our temp files if we are killed

    @property
    def log_file(self) -> str | None:
        return str(self.launched.log_file) if self.launched is not None else None

    def alive(self) -> str | None:
        """None while the target runs; else what happened: how the launched root ended, or
        which process was lost and, when its parent recorded it, how (killed by SIGKILL...)."""
        why = self.launched.exit_description() if self.launched is not None else None
        if why:
            return why
        lost = next(
            (i.process for i in self.inspected if not psutil.pid_exists(i.process.pid) or i.session.closed), None
        )
        if lost is None:
            return None
        # An inspector socket closes a moment before its process can be reaped, and a parent
        # records how its child ended a moment after: give the cause a second to be known.
        deadline = time.monotonic() + CAUSE_WAIT_SECONDS
        while self.launched is not None:
            why = self.launched.exit_description()
            if why:
                return why
            cause = self.launched.exit_of(lost.pid)
            if cause:
                return f"process {lost.pid} ({lost.role}) {cause}"
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        return f"process {lost.pid} ({lost.role}) ended"

    def guard_path(self, path: Path) -> None:
        """Have `path` (a temp folder of snapshots) removed even if we are killed outright."""
        if self.launched is not None:
            self.launched.guard_path(path)
        elif self.watchdog is not None:
            self.watchdog.start().guard_path(path)  # started only when there is something to guard


def check_port_free(port: int) -> None:
    owner = port_owner(port)
    if owner is not None:
        try:
            name = psutil.Process(owner).name() if owner > 0 else "?"
        except psutil.Error:
            name = "?"
        raise TargetError(f"port {port} is already in use (pid {owner}, {name}): stop it or use another port")


@contextlib.asynccontextmanager
async def connected(processes: list[NodeProcess]) -> AsyncIterator[list[Inspected]]:
    """Inspector sessions to every process, closed on the way out."""
    inspected: list[Inspected] = []
    try:
        for p in processes:
            inspected.append(Inspected(p, await InspectorSession.connect(p.inspector_url)))
        yield inspected
    finally:
        for i in inspected:
            await i.session.close()


@contextlib.asynccontextmanager
async def launched(launch: Launch, port: int) -> AsyncIterator[OpenTarget]:
    """Launch the command, wait until it is ready, connect to all its Node processes."""
    check_port_free(port)
    cwd = Path(launch.cwd) if launch.cwd is not None else None
    with LaunchedTarget(list(launch.command), cwd=cwd, env=dict(launch.env), log_file=launch.log_file) as target:
        processes = await wait_until_ready(target, port, launch.ready_timeout)
        async with connected(processes) as inspected:
            yield OpenTarget(inspected, target)


@contextlib.asynccontextmanager
async def attached(pid: int, port: int) -> AsyncIterator[OpenTarget]:
    """Attach to a running Node process and its Node children; undo what we opened after (the
    inspectors we opened also close themselves if we vanish: see `live/attach.py`)."""
    processes, opened = await attach(pid)
    watchdog = Watchdog()
    try:
        async with connected(assign_roles(processes, port)) as inspected:
            yield OpenTarget(inspected, watchdog=watchdog)
    finally:
        try:
            await to_the_end(close_inspectors(opened))
        finally:
            watchdog.release()


async def to_the_end(cleanup: Awaitable[None]) -> None:
    """Await a clean-up to its end even if we are cancelled meanwhile (a second Ctrl-C, SIGINT
    after SIGTERM); the cancellation is passed on after it."""
    task = asyncio.ensure_future(cleanup)
    cancelled = False
    while not task.done():
        try:
            await asyncio.shield(task)
        except asyncio.CancelledError:
            if task.cancelled():
                break
            cancelled = True
    if cancelled:
        raise asyncio.CancelledError
    task.result()


@contextlib.asynccontextmanager
async def open_target(target: Target, port: int) -> AsyncIterator[OpenTarget]:
    """Sessions to every Node process of a running (Attach) or launched (Launch) target; `port`
    is the HTTP port that tells which process serves (0 when unknown)."""
    if isinstance(target, Attach):
        async with attached(target.pid, port) as opened:
            yield opened
    else:
        async with launched(target, port) as opened:
            yield opened
