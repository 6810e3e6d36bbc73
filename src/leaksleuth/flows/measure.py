"""Measure a target end to end: launch or attach, connect, run the protocol, clean up."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path

import psutil

from leaksleuth.errors import TargetError, TargetExited, UsageError
from leaksleuth.live.cdp import InspectorSession
from leaksleuth.live.load import check_local_url
from leaksleuth.live.rounds import Inspected, LoadSpec, ProgressCallback, ProtocolSpec, run_protocol
from leaksleuth.model import Measurement
from leaksleuth.live.attach import attach, close_inspectors
from leaksleuth.live.discover import NodeProcess, assign_roles, port_owner
from leaksleuth.live.launch import LaunchedTarget
from leaksleuth.live.ready import wait_until_ready


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
async def launched(
    command: list[str],
    port: int,
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    ready_timeout: float = 30.0,
    log_file: Path | None = None,
) -> AsyncIterator[tuple[LaunchedTarget, list[Inspected]]]:
    """Launch `command`, wait until it is ready, connect to all its Node processes."""
    check_port_free(port)
    with LaunchedTarget(command, cwd=cwd, env=env, log_file=log_file) as target:
        processes = await wait_until_ready(target, port, ready_timeout)
        async with connected(processes) as inspected:
            yield target, inspected


def alive_check(inspected: list[Inspected], target: LaunchedTarget | None = None) -> str | None:
    """None while the target runs; else what happened (how the launched root ended, or which
    process was lost)."""
    why = target.exit_description() if target is not None else None
    if why:
        return why
    for i in inspected:
        if not psutil.pid_exists(i.process.pid) or i.session.closed:
            return f"process {i.process.pid} ({i.process.role}) ended"
    return None


async def measure_command(
    command: list[str],
    load: LoadSpec,
    spec: ProtocolSpec = ProtocolSpec(),
    *,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    ready_timeout: float = 30.0,
    log_file: Path | None = None,
    on_progress: ProgressCallback | None = None,
) -> Measurement:
    """Launch `command` (every Node process of its tree inspected), measure, stop it, return."""
    port = check_local_url(load.urls[0])
    async with launched(command, port, cwd=cwd, env=env, ready_timeout=ready_timeout, log_file=log_file) as (
        target,
        inspected,
    ):
        try:
            m = await run_protocol(inspected, load, spec, lambda: alive_check(inspected, target), on_progress)
        except TargetExited as exc:
            if exc.partial is not None:
                exc.partial = _with_log(exc.partial, target)
            raise TargetExited(f"{exc} (log: {target.log_file})", exc.partial) from exc
        return _with_log(m, target)


def _with_log(m: Measurement, target: LaunchedTarget) -> Measurement:
    return replace(m, log_file=str(target.log_file))


@contextlib.asynccontextmanager
async def attached(pid: int, port: int) -> AsyncIterator[list[Inspected]]:
    """Attach to a running Node process and its Node children; undo what we opened after."""
    processes, opened = await attach(pid)
    try:
        async with connected(assign_roles(processes, port)) as inspected:
            yield inspected
    finally:
        await close_inspectors(opened)


async def measure_pid(
    pid: int,
    load: LoadSpec,
    spec: ProtocolSpec = ProtocolSpec(),
    *,
    on_progress: ProgressCallback | None = None,
) -> Measurement:
    """Measure a service that already runs: attach by SIGUSR1, measure, leave it as found."""
    port = check_local_url(load.urls[0])
    async with attached(pid, port) as inspected:
        return await run_protocol(inspected, load, spec, lambda: alive_check(inspected), on_progress)


def target_port(pid: int | None, command: tuple[str, ...] | list[str], url: str | None) -> int:
    """Check a command's `--pid` / `-- CMD` / `--url` choice; the URL's port (0 without a URL)."""
    if (pid is None) == (not command):
        raise UsageError("give either --pid or a command after --")
    if command and not url:
        raise UsageError("with a command, give --url so leaksleuth knows when it is ready")
    return check_local_url(url) if url else 0


@contextlib.asynccontextmanager
async def inspected_target(
    pid: int | None, command: tuple[str, ...] | list[str], port: int, ready_timeout: float = 30.0
) -> AsyncIterator[list[Inspected]]:
    """Sessions to every Node process of a running (`pid`) or launched (`command`) target."""
    if pid is not None:
        async with attached(pid, port) as inspected:
            yield inspected
    else:
        async with launched(list(command), port, ready_timeout=ready_timeout) as (_, inspected):
            yield inspected
