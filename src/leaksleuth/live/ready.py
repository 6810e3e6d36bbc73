"""Wait until a launched target listens on the URL's port and all its Node processes announced."""

from __future__ import annotations

import asyncio
import time

from leaksleuth.errors import TargetError, TargetExited
from leaksleuth.live.discover import NodeProcess, assign_roles, is_node, listening_ports
from leaksleuth.live.launch import LaunchedTarget


async def wait_until_ready(target: LaunchedTarget, port: int, timeout: float) -> list[NodeProcess]:
    """Ready = some process of the tree listens on `port` (no request is sent: the first one
    must land in the measured warm-up) and the announced Node processes stopped changing."""
    deadline = time.monotonic() + timeout
    stable_since = 0.0
    last: set[int] = set()
    while True:
        why = target.exit_description()
        if why:
            tail = target.tail_log()
            raise TargetExited(f"the target {why} before it was ready" + (f": {tail}" if tail else ""))
        tree = target.tree()
        listening = any(port in listening_ports(p.pid) for p in tree)
        announced = target.node_processes()
        pids = {p.pid for p in announced}
        node_pids = {p.pid for p in tree if is_node(p)}
        if pids != last:
            last, stable_since = pids, time.monotonic()
        settled = node_pids <= pids and time.monotonic() - stable_since > 1.0
        if listening and settled and announced:
            return assign_roles(announced, port)
        if time.monotonic() > deadline:
            if not node_pids:
                raise TargetError(f"no Node process found in the tree of {target.command[0]} (log: {target.log_file})")
            raise TargetError(
                f"nothing in the target's process tree listens on port {port} after {timeout:.0f} s "
                f"(--ready-timeout; log: {target.log_file})"
            )
        await asyncio.sleep(0.1)
