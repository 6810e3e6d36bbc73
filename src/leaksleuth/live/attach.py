"""Attach to a running Node process (and its Node children); leave each exactly as found.

- An inspector the process already has open (its user sent SIGUSR1, or it runs with --inspect,
  or it is a cluster worker with --inspect-port) is used where it is, never moved or closed.
- Otherwise SIGUSR1 makes Node open its inspector on 127.0.0.1:9229 (or its --inspect-port). We
  move that inspector to a random loopback port, so 9229 is free again (for the next child, or
  for the user), and close it when we are done, restoring the port a later SIGUSR1 opens.
- Each process gets a guard (JS evaluated in it, an unref'd one-second timer): once the
  leaksleuth process is gone — killed with SIGKILL, say, so that nothing of ours can clean up —
  the guard closes the inspector we opened and restores `process.debugPort`. A normal detach
  removes the guard. On a user's inspector the guard only removes what we added.
- Either way, when the last guard goes, what the readings wrapped to count unref'd timers and
  listeners (`live/readings.py`) is put back at once (RESTORE_JS), not a minute later.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import secrets
import signal
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import psutil

from leaksleuth.errors import TargetError
from leaksleuth.live.cdp import InspectorSession
from leaksleuth.live.discover import NodeProcess, is_node, listening_ports, port_owner
from leaksleuth.live.readings import RESTORE_JS

DEFAULT_PORT = 9229
INSPECT_FLAG = re.compile(r"^--inspect(?:-brk|-wait|-port)?(?:=(.*))?$")
SIGUSR1_WAIT_SECONDS = 5.0
CLOSE_TIMEOUT = 10.0  # a target frozen in a heap snapshot answers late; its guard closes it anyway

# The guard. {owner} is the leaksleuth pid, {token} this attach, {ours} whether we opened the
# inspector, {port} the SIGUSR1 port to restore. `require` exists only while the evaluation runs,
# so the timer's closure binds what it needs. Several guards may share a process (two leaksleuths
# on a user's inspector), hence a Map keyed by token, under a symbol the app does not see; the
# last guard to go puts back what our readings wrapped ({restore}: RESTORE_JS, which needs no
# `require`).
GUARD_JS = """(() => {{
  const i = require('inspector'), fs = require('fs');
  const KEY = Symbol.for('leaksleuth.attach');
  const guards = globalThis[KEY] || (globalThis[KEY] = new Map());
  const owner = {owner}, ours = {ours}, port = {port}, token = {token};
  const startOf = () => {{
    try {{
      const s = fs.readFileSync('/proc/' + owner + '/stat', 'latin1');
      return s.slice(s.lastIndexOf(')') + 2).split(' ')[19];
    }} catch (e) {{ return null; }}
  }};
  const started = startOf();
  const gone = () => {{
    try {{ process.kill(owner, 0); }} catch (e) {{ if (e.code === 'ESRCH') return true; }}
    return started !== null && startOf() !== started;  // the pid now names another process
  }};
  // an exiting Node waits for an attached debugger: close the inspector on exit
  const onExit = () => i.close();
  const guard = {{
    release() {{
      clearInterval(timer); process.removeListener('exit', onExit); guards.delete(token);
      if (!guards.size && globalThis[KEY] === guards) {{
        delete globalThis[KEY];
        try {{ {restore}; }} catch (e) {{}}
      }}
    }},
    close(later) {{
      guard.release();
      if (!ours) return;
      const shut = () => {{ i.close(); process.debugPort = port; }};
      if (later) setTimeout(shut, 10); else shut();
    }},
  }};
  const timer = setInterval(() => {{ if (gone()) guard.close(false); }}, 1000);
  timer.unref();
  process.on('exit', onExit);
  guards.set(token, guard);
  {then}
  return true;
}})()"""

# Reopen on a random loopback port; the new URL goes to a file (our session drops meanwhile).
MOVE_JS = (
    "setTimeout(() => {{ i.close(); i.open(0, '127.0.0.1', false); fs.writeFileSync({file}, i.url()); }}, 50);"
)

# A normal detach: remove the guard (the last one restores what the readings wrapped); close the
# inspector if we opened it (after the reply).
CLOSE_JS = """(() => {{
  const i = require('inspector');
  const guards = globalThis[Symbol.for('leaksleuth.attach')];
  const guard = guards && guards.get({token});
  if (guard) {{ guard.close(true); return true; }}
  if (!guards) {{ try {{ {restore}; }} catch (e) {{}} }}  // no guard at all: no other leaksleuth either
  if ({ours}) setTimeout(() => {{ i.close(); process.debugPort = {port}; }}, 10);  // opened, not yet guarded
  return false;
}})()"""


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


def inspect_ports(args: list[str]) -> list[int]:
    """Ports named by --inspect, --inspect-brk, --inspect-wait, --inspect-port in `args` (a bare
    flag or a host alone means 9229; port 0, a random port, cannot be told and is left out)."""
    ports: list[int] = []
    for k, arg in enumerate(args):
        m = INSPECT_FLAG.match(arg)
        if not m:
            continue
        value = m.group(1)
        if value is None and arg == "--inspect-port" and k + 1 < len(args):
            value = args[k + 1]
        if value is None:
            ports.append(DEFAULT_PORT)
            continue
        tail = value.rsplit(":", 1)[-1] if ":" in value else value
        if tail.isdigit():
            if int(tail):
                ports.append(int(tail))
        else:  # a host alone
            ports.append(DEFAULT_PORT)
    return ports


def _candidate_ports(proc: psutil.Process) -> list[int]:
    """Where an inspector the process already has would listen: its flags, then 9229."""
    try:
        args = proc.cmdline()
    except psutil.Error as exc:
        raise TargetError(f"cannot read the command line of pid {proc.pid}: {exc}") from exc
    try:
        node_options = proc.environ().get("NODE_OPTIONS", "").split()
    except psutil.Error:
        node_options = []
    found = [*inspect_ports(args), *inspect_ports(node_options), DEFAULT_PORT]
    return list(dict.fromkeys(found))


async def _ws_url(port: int) -> str:
    """The websocket URL of the inspector on `port` (a port known to be an inspector's)."""
    try:
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as http:
            async with http.get(f"http://127.0.0.1:{port}/json/list") as resp:
                targets = json.loads(await resp.text())
        return str(targets[0]["webSocketDebuggerUrl"])
    except (TimeoutError, aiohttp.ClientError, ValueError, KeyError, IndexError, TypeError) as exc:
        raise TargetError(f"no inspector answered on 127.0.0.1:{port} ({type(exc).__name__})") from exc


async def _sigusr1(pid: int, before: set[int], timeout: float = SIGUSR1_WAIT_SECONDS) -> int | None:
    """Send SIGUSR1 and return the port the process starts listening on: 9229 normally, or the
    port set by --inspect-port / process.debugPort. Only a port not in `before` counts.
    The signal is sent again each second: an inspector still open (the guard of a leaksleuth
    that was killed closes it within a second) ignores it."""
    deadline = time.monotonic() + timeout
    next_signal = 0.0
    while time.monotonic() < deadline:
        if time.monotonic() >= next_signal:
            try:
                os.kill(pid, signal.SIGUSR1)
            except OSError as exc:
                raise TargetError(f"cannot signal pid {pid}: {exc.strerror}") from exc
            next_signal = time.monotonic() + 1.0
        new = listening_ports(pid) - before
        if new:
            return DEFAULT_PORT if DEFAULT_PORT in new else min(new)
        await asyncio.sleep(0.05)
    return None


async def _undo_sigusr1(pid: int, before: set[int], token: str, sigusr1_port: int | None) -> None:
    """Attaching failed or was interrupted after SIGUSR1: close what it opened (wherever it is
    now: on 9229, or moved), so the process is left as found."""
    deadline = time.monotonic() + 1.0
    new = listening_ports(pid) - before
    while not new and time.monotonic() < deadline:  # a signal just sent opens a moment later
        await asyncio.sleep(0.05)
        new = listening_ports(pid) - before
    for port in sorted(new):
        try:
            url = await _ws_url(port)
        except TargetError:
            continue
        await close_inspectors([Opened(url, sigusr1_port or DEFAULT_PORT, token)])


def _guard_js(token: str, *, ours: bool, port: int | None, then: str = "") -> str:
    return GUARD_JS.format(
        owner=os.getpid(), ours="true" if ours else "false", port=port or DEFAULT_PORT,
        token=json.dumps(token), then=then, restore=RESTORE_JS,
    )


async def _guard(url: str, token: str) -> None:
    """Guard a user's inspector: only what we add is removed when we go."""
    session = await InspectorSession.connect(url)
    try:
        await session.evaluate(_guard_js(token, ours=False, port=None))
    finally:
        await session.close()


async def _guard_and_move(url: str, token: str, sigusr1_port: int) -> str:
    """Guard the inspector we opened and reopen it on a random loopback port; its new URL."""
    fd, name = tempfile.mkstemp(prefix="leaksleuth-url-")
    os.close(fd)
    out = Path(name)
    try:
        session = await InspectorSession.connect(url)
        try:
            await session.evaluate(
                _guard_js(token, ours=True, port=sigusr1_port, then=MOVE_JS.format(file=json.dumps(str(out))))
            )
        finally:
            await session.close()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            text = out.read_text().strip()
            if text:
                return text
            await asyncio.sleep(0.05)
    finally:
        out.unlink(missing_ok=True)
    raise TargetError("the target did not reopen its inspector")


@dataclass(frozen=True)
class Opened:
    """An inspector we use. `sigusr1_port` is set when we opened it (it is closed after, and the
    port a later SIGUSR1 opens restored); None for the user's own (left open where it was)."""

    url: str
    sigusr1_port: int | None
    token: str

    @property
    def ours(self) -> bool:
        return self.sigusr1_port is not None


async def open_inspector(proc: psutil.Process, token: str | None = None) -> Opened:
    """The inspector of one Node process: the one it has, or one we open (and guard)."""
    token = token or secrets.token_hex(8)
    ports = listening_ports(proc.pid)
    for port in _candidate_ports(proc):
        if port in ports:  # already open: use it where it is
            url = await _ws_url(port)
            await _guard(url, token)
            return Opened(url, None, token)
    owner = port_owner(DEFAULT_PORT)
    if owner is not None and owner != proc.pid:
        raise TargetError(
            f"port {DEFAULT_PORT} (Node's inspector port for SIGUSR1) is taken by pid {owner}; "
            "free it and try again"
        )
    opened: int | None = None
    try:
        opened = await _sigusr1(proc.pid, ports)
        if opened is None:
            raise TargetError(
                f"pid {proc.pid} did not open its inspector after SIGUSR1 (is a debugger, or another "
                "leaksleuth, attached to it? an inspector opened on a random port cannot be found)"
            )
        url = await _ws_url(opened)
        return Opened(await _guard_and_move(url, token, opened), opened, token)
    except BaseException:  # an error or an interruption half-way: do not leave it open (on 9229)
        await _undo_sigusr1(proc.pid, ports, token, opened)
        raise


async def attach(pid: int) -> tuple[list[NodeProcess], list[Opened]]:
    """Inspector URLs of pid and its Node children; also what to undo after (`close_inspectors`).

    If any process fails, what was done to the others is undone again."""
    found: list[NodeProcess] = []
    opened: list[Opened] = []
    token = secrets.token_hex(8)
    try:
        for proc in node_tree(pid):
            o = await open_inspector(proc, token)
            opened.append(o)
            try:
                ppid, argv = proc.ppid(), tuple(proc.cmdline())
            except psutil.Error as exc:
                raise TargetError(f"pid {proc.pid} went away while attaching") from exc
            found.append(
                NodeProcess(
                    pid=proc.pid, ppid=ppid, inspector_url=o.url, argv=argv,
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
    """Undo the attach: remove our guards, close the inspectors we opened (restoring the SIGUSR1
    port), leave the user's open. What cannot be reached now, its guard closes once we exit."""
    for o in opened:
        try:
            session = await InspectorSession.connect(o.url, timeout=3)
        except Exception:
            continue
        try:
            js = CLOSE_JS.format(token=json.dumps(o.token), ours="true" if o.ours else "false",
                                 port=o.sigusr1_port or DEFAULT_PORT, restore=RESTORE_JS)
            await asyncio.wait_for(session.evaluate(js), CLOSE_TIMEOUT)
        except Exception:
            pass
        finally:
            await session.close()
