"""Attach to a running Node process (and its Node children) that was started without --inspect.

SIGUSR1 makes Node open its inspector on 127.0.0.1:9229. We then move that inspector to a
random loopback port, so 9229 is free again (for the next child, or for the user), and close
what we opened when we are done.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

import aiohttp
import psutil

from leaksleuth.errors import InspectorError, TargetError
from leaksleuth.live.cdp import InspectorSession
from leaksleuth.live.discover import NodeProcess, is_node, listening_ports, port_owner

DEFAULT_PORT = 9229
INSPECT_PORT = re.compile(r"--inspect(?:-brk|-port)?=(?:[\w.\-\[\]:]*:)?(\d+)")


def node_tree(pid: int) -> list[psutil.Process]:
    """The process and its Node descendants; a clear error if it is not Node."""
    try:
        root = psutil.Process(pid)
        name = root.name()
    except psutil.NoSuchProcess as exc:
        raise TargetError(f"no process with pid {pid}") from exc
    except psutil.AccessDenied as exc:
        raise TargetError(f"not allowed to inspect pid {pid}") from exc
    if not is_node(root):
        raise TargetError(f"pid {pid} is not a Node process (it is {name!r})")
    return [root, *[c for c in root.children(recursive=True) if is_node(c)]]


async def _ws_url(port: int) -> str:
    """The websocket URL of the inspector on `port` (a port this process just opened for it)."""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
            async with http.get(f"http://127.0.0.1:{port}/json/list") as resp:
                targets = json.loads(await resp.text())
        return str(targets[0]["webSocketDebuggerUrl"])
    except (TimeoutError, aiohttp.ClientError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise TargetError(f"no inspector answered on 127.0.0.1:{port} ({type(exc).__name__})") from exc


async def _wait_new_port(pid: int, before: set[int], timeout: float = 5.0) -> int | None:
    """The port the process starts listening on after SIGUSR1: 9229 normally, or the port
    set by --inspect-port / process.debugPort. Only a port that appears just now counts."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        new = listening_ports(pid) - before
        if new:
            return DEFAULT_PORT if DEFAULT_PORT in new else min(new)
        await asyncio.sleep(0.05)
    return None


async def _move_to_random_port(url: str) -> str:
    """Reopen the inspector of the process behind `url` on a random loopback port."""
    fd, name = tempfile.mkstemp(prefix="leaksleuth-url-")
    os.close(fd)
    out = Path(name)
    session = await InspectorSession.connect(url)
    try:
        await session.evaluate(
            "(() => { const i = require('inspector'), fs = require('fs');"
            # an exiting Node waits for an attached debugger: close it on exit (undone on detach)
            " if (!globalThis.__leaksleuthOnExit) { globalThis.__leaksleuthOnExit = () => i.close();"
            " process.on('exit', globalThis.__leaksleuthOnExit); }"
            " setTimeout(() => { i.close(); i.open(0, '127.0.0.1', false);"
            f" fs.writeFileSync({json.dumps(str(out))}, i.url()); }}, 50); return true; }})()"
        )
    finally:
        await session.close()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        text = out.read_text().strip()
        if text:
            out.unlink(missing_ok=True)
            return text
        await asyncio.sleep(0.05)
    out.unlink(missing_ok=True)
    raise TargetError("the target did not reopen its inspector")


@dataclass(frozen=True)
class Opened:
    """An inspector we opened: where it is now, and the port SIGUSR1 opened it on (restored)."""

    url: str
    sigusr1_port: int


async def open_inspector(proc: psutil.Process) -> tuple[str, Opened | None]:
    """(websocket URL, what to undo, or None if it was already open) for one Node process."""
    try:
        cmd = " ".join(proc.cmdline())
    except psutil.Error as exc:
        raise TargetError(f"cannot read the command line of pid {proc.pid}: {exc}") from exc
    match = INSPECT_PORT.search(cmd)
    if match and int(match.group(1)) in listening_ports(proc.pid):
        return await _ws_url(int(match.group(1))), None
    owner = port_owner(DEFAULT_PORT)
    if owner is not None and owner != proc.pid:
        raise TargetError(
            f"port {DEFAULT_PORT} (Node's inspector port for SIGUSR1) is taken by pid {owner}; "
            "free it and try again"
        )
    port = DEFAULT_PORT
    if owner != proc.pid:
        before = listening_ports(proc.pid)
        try:
            os.kill(proc.pid, signal.SIGUSR1)
        except OSError as exc:
            raise TargetError(f"cannot signal pid {proc.pid}: {exc.strerror}") from exc
        opened = await _wait_new_port(proc.pid, before)
        if opened is None:
            raise TargetError(f"pid {proc.pid} did not open its inspector after SIGUSR1")
        port = opened
    url = await _ws_url(port)
    try:
        return await _move_to_random_port(url), Opened(url, port)
    except (TargetError, InspectorError):
        await close_inspectors([Opened(url, port)])  # do not leave it open on 9229
        raise


async def attach(pid: int) -> tuple[list[NodeProcess], list[Opened]]:
    """Inspector URLs of pid and its Node children; also what we opened (to close later).

    If any process fails, the inspectors already opened on the others are closed again."""
    found: list[NodeProcess] = []
    opened: list[Opened] = []
    try:
        for proc in node_tree(pid):
            url, ours = await open_inspector(proc)
            if ours is not None:
                opened.append(replace(ours, url=url))
            try:
                ppid, argv = proc.ppid(), tuple(proc.cmdline())
            except psutil.Error as exc:
                raise TargetError(f"pid {proc.pid} went away while attaching") from exc
            found.append(
                NodeProcess(
                    pid=proc.pid, ppid=ppid, inspector_url=url, argv=argv,
                    cluster_worker="NODE_UNIQUE_ID" in _environ(proc),
                )
            )
    except BaseException:
        await close_inspectors(opened)
        raise
    return found, opened


def _environ(proc: psutil.Process) -> dict[str, str]:
    try:
        return dict(proc.environ())
    except psutil.Error:
        return {}


async def close_inspectors(opened: list[Opened]) -> None:
    """Close inspectors we opened, so the process is left as we found it."""
    for o in opened:
        try:
            session = await InspectorSession.connect(o.url, timeout=3)
        except Exception:
            continue
        try:
            # `require` exists only while the evaluation runs: bind it before the timer fires
            # and restore the port a later SIGUSR1 opens (our move to a random port changed it)
            await session.evaluate(
                "(() => { const i = require('inspector');"
                " if (globalThis.__leaksleuthOnExit) { process.off('exit', globalThis.__leaksleuthOnExit);"
                " delete globalThis.__leaksleuthOnExit; }"
                f" setTimeout(() => {{ i.close(); process.debugPort = {o.sigusr1_port}; }}, 10); return true; }})()"
            )
        except Exception:
            pass
        await session.close()
