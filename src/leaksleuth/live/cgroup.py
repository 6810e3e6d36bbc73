"""A process's memory as the kernel sees it: its cgroup (v1 or v2) and /proc/PID.

Read-only files, nothing sent to the process: the limit the OOM killer enforces, usage, the
working set (usage − inactive file cache, what cAdvisor reports and what the kernel cannot
reclaim), and the cgroup's OOM-kill counter (v2 `memory.events`, v1 `memory.oom_control`).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from leaksleuth.model import CgroupMemory
from leaksleuth.units import fmt_bytes

UNLIMITED = 1 << 60  # v1 writes "no limit" as a huge number (9223372036854771712)
PROC = Path("/proc")
CGROUP_ROOT = Path("/sys/fs/cgroup")


def _int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if text == "max":
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _keyed(path: Path) -> dict[str, int]:
    """A flat keyed file (`memory.stat`, `memory.events`, `memory.oom_control`)."""
    found: dict[str, int] = {}
    try:
        lines = path.read_text().splitlines()
    except OSError:
        return found
    for line in lines:
        key, _, value = line.partition(" ")
        try:
            found[key] = int(value.strip())
        except ValueError:
            continue
    return found


def memory_cgroup(pid: int, proc: Path = PROC, cgroup_root: Path = CGROUP_ROOT) -> Path | None:
    """The folder of `pid`'s memory cgroup (v1 memory controller, else v2), if it can be read."""
    try:
        lines = (proc / str(pid) / "cgroup").read_text().splitlines()
    except OSError:
        return None
    v2: Path | None = None
    for line in lines:
        _, controllers, rel = line.split(":", 2)
        if "memory" in controllers.split(","):
            base = cgroup_root / "memory" / rel.lstrip("/")
            if (base / "memory.usage_in_bytes").exists():
                return base
        elif controllers == "":
            candidate = cgroup_root / rel.lstrip("/")
            if (candidate / "memory.current").exists():
                v2 = candidate
    return v2


def read_cgroup(pid: int, proc: Path = PROC, cgroup_root: Path = CGROUP_ROOT) -> CgroupMemory | None:
    """The memory controller of `pid`'s cgroup now (None when it cannot be read)."""
    base = memory_cgroup(pid, proc, cgroup_root)
    if base is None:
        return None
    if (base / "memory.current").exists():  # v2
        usage = _int(base / "memory.current")
        if usage is None:
            return None
        limit = _int(base / "memory.max")
        stat = _keyed(base / "memory.stat")
        events = _keyed(base / "memory.events")
        return CgroupMemory(2, str(base), limit, usage, stat.get("inactive_file", 0), events.get("oom_kill"))
    usage = _int(base / "memory.usage_in_bytes")
    if usage is None:
        return None
    limit = _int(base / "memory.limit_in_bytes")
    if limit is not None and limit >= UNLIMITED:
        limit = None
    stat = _keyed(base / "memory.stat")
    oom = _keyed(base / "memory.oom_control")
    inactive = stat.get("total_inactive_file", stat.get("inactive_file", 0))
    return CgroupMemory(1, str(base), limit, usage, inactive, oom.get("oom_kill"))


def oom_kill_count(path: str) -> int | None:
    """The OOM-kill counter of a cgroup folder (read again after its process vanished)."""
    folder = Path(path)
    counters = _keyed(folder / "memory.events") or _keyed(folder / "memory.oom_control")
    return counters.get("oom_kill")


def cgroup_available(
    pid: int, proc: Path = PROC, cgroup_root: Path = CGROUP_ROOT
) -> tuple[int, str] | None:
    """Bytes left under the process's cgroup v2/v1 memory limit, if it has one."""
    group = read_cgroup(pid, proc, cgroup_root)
    if group is None or group.limit is None:
        return None
    return group.limit - group.usage, f"cgroup limit {fmt_bytes(group.limit)}"


OLD_SPACE_FLAG = re.compile(r"--max[-_]old[-_]space[-_]size[= ](\d+)")


def old_space_flag(pid: int, proc: Path = PROC) -> int | None:
    """`--max-old-space-size` (bytes) from the process's command line or NODE_OPTIONS, if set:
    what bounds its heap when nothing can ask V8 (metrics mode)."""
    found: int | None = None
    for name in ("environ", "cmdline"):  # the command line wins: it comes after NODE_OPTIONS
        try:
            raw = (proc / str(pid) / name).read_bytes()
        except OSError:
            continue
        text = raw.replace(b"\0", b" ").decode("utf-8", "replace")
        if name == "environ":
            text = " ".join(e for e in text.split(" NODE_OPTIONS=")[1:2])
        for match in OLD_SPACE_FLAG.finditer(text):
            found = int(match.group(1)) << 20
    return found


def process_rss(pid: int, proc: Path = PROC) -> int | None:
    """Resident memory from /proc/PID/statm (None when the process is gone)."""
    try:
        fields = (proc / str(pid) / "statm").read_text().split()
    except OSError:
        return None
    return int(fields[1]) * os.sysconf("SC_PAGE_SIZE")
