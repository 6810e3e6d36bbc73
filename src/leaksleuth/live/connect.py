"""Open a target: launch or attach, wait until ready, connect to every Node process; undo it all
on the way out (whatever happens)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
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
from leaksleuth.options import Attach, Launch, Target


@dataclass
class OpenTarget:
    """Sessions to every Node process of a target, and the launched command if we started it."""

    inspected: list[Inspected]
    launched: LaunchedTarget | None = None

    @property
    def log_file(self) -> str | None:
        return str(self.launched.log_file) if self.launched is not None else None

    def alive(self) -> str | None:
        """None while the target runs; else what happened (how the launched root ended, or which
        process was lost)."""
        why = self.launched.exit_description() if self.launched is not None else None
        if why:
            return why
        for i in self.inspected:
            if not psutil.pid_exists(i.process.pid) or i.session.closed:
                return f"process {i.process.pid} ({i.process.role}) ended"
        return None


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
    """Attach to a running Node process and its Node children; undo what we opened after."""
    processes, opened = await attach(pid)
    try:
        async with connected(assign_roles(processes, port)) as inspected:
            yield OpenTarget(inspected)
    finally:
        await close_inspectors(opened)


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
