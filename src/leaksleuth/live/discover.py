"""Which Node processes a target has, their inspector URLs, and which of them serve HTTP.

Inspector URLs come from the announce preload's files, never from probing ports: an HTTP
request to an unknown port crashed Egg's agent (see shared notes).
"""

from __future__ import annotations

import json
import os
import socket
from dataclasses import dataclass, replace
from pathlib import Path

import psutil

from leaksleuth.model import Role


@dataclass(frozen=True)
class NodeProcess:
    """A Node process of the target, as announced by the preload (or found by --pid)."""

    pid: int
    ppid: int
    inspector_url: str
    argv: tuple[str, ...] = ()
    cluster_worker: bool = False
    role: Role = "other"
    serving: bool = False

    @property
    def title(self) -> str:
        """A short human name: the script run, relative where possible."""
        script = self.argv[1] if len(self.argv) > 1 else (self.argv[0] if self.argv else "node")
        return os.path.basename(script) if script else "node"


def read_announcements(directory: Path) -> list[NodeProcess]:
    """Every process that announced itself in `directory` and is still running."""
    found: list[NodeProcess] = []
    for file in sorted(directory.glob("*.json")):
        try:
            info = json.loads(file.read_text())
        except (OSError, ValueError):
            continue  # being written; seen next time
        if not info.get("url") or not psutil.pid_exists(int(info["pid"])):
            continue
        found.append(
            NodeProcess(
                pid=int(info["pid"]),
                ppid=int(info["ppid"]),
                inspector_url=str(info["url"]),
                argv=tuple(info.get("argv") or ()),
                cluster_worker=bool(info.get("clusterWorker")),
            )
        )
    return found


def listening_ports(pid: int) -> set[int]:
    """TCP ports `pid` listens on (empty if it cannot be read)."""
    try:
        conns = psutil.Process(pid).net_connections(kind="tcp")
    except (psutil.Error, OSError):
        return set()
    return {c.laddr.port for c in conns if c.status == psutil.CONN_LISTEN and c.laddr}


def port_owner(port: int) -> int | None:
    """The pid listening on TCP `port` on this machine, if any can be seen."""
    try:
        conns = psutil.net_connections(kind="tcp")
    except (psutil.Error, OSError):
        return None
    for c in conns:
        if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port:
            return c.pid if c.pid is not None else -1
    return None


def is_node(proc: psutil.Process) -> bool:
    """True for a Node.js process (by its executable or argv[0])."""
    try:
        exe = os.path.basename(proc.exe() or "")
        first = os.path.basename((proc.cmdline() or [""])[0])
    except psutil.Error:
        return False
    return exe.startswith("node") or first.startswith("node")


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def assign_roles(processes: list[NodeProcess], http_port: int | None) -> list[NodeProcess]:
    """Label each process and mark the ones that serve HTTP.

    Cluster workers serve (their primary owns the listening socket but only hands out
    connections); otherwise the process listening on the URL's port serves.
    """
    pids = {p.pid for p in processes}
    primaries = {p.ppid for p in processes if p.cluster_worker and p.ppid in pids}
    listener = {p.pid for p in processes if http_port is not None and http_port in listening_ports(p.pid)}
    labelled: list[NodeProcess] = []
    for p in processes:
        role: Role
        if p.cluster_worker:
            role = "worker"
        elif p.pid in primaries:
            role = "primary"
        elif any("agent" in a for a in p.argv[1:2]) or any(a.endswith("agent_worker.js") for a in p.argv):
            role = "agent"
        elif p.pid in listener:
            role = "server"
        else:
            role = "other"
        labelled.append(replace(p, role=role))
    serving_pids = {p.pid for p in labelled if p.role == "worker" and p.ppid in listener}
    if not serving_pids:
        serving_pids = {p.pid for p in labelled if p.role == "worker"} or listener
    return [replace(p, serving=p.pid in serving_pids) for p in labelled]
