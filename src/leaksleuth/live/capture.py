"""Heap snapshot capture over the inspector: headroom check, GC, chunks streamed to disk.

A snapshot freezes the target and costs it ~8–9× its JS heap in native memory while V8 builds
it (measured; see shared notes §6), so we refuse when that could push it over its limit.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil

from leaksleuth.errors import HeadroomError, UsageError
from leaksleuth.live.cdp import InspectorSession
from leaksleuth.live.cgroup import cgroup_available
from leaksleuth.live.readings import read_memory
from leaksleuth.units import fmt_bytes

_known_scripts: weakref.WeakKeyDictionary[InspectorSession, dict[str, str]] = weakref.WeakKeyDictionary()
SNAPSHOT_COST_FACTOR = 9.0  # peak extra RSS ≈ 9 × heap used


@dataclass(frozen=True)
class Headroom:
    needed: int
    available: int
    limit_source: str

    @property
    def enough(self) -> bool:
        return self.available >= self.needed


def headroom(pid: int, heap_used: int, memory_limit: int | None = None) -> Headroom:
    """What a snapshot needs against what the target can still use."""
    needed = int(SNAPSHOT_COST_FACTOR * heap_used)
    if memory_limit is not None:
        try:
            rss = psutil.Process(pid).memory_info().rss
        except psutil.Error:
            rss = 0
        return Headroom(needed, memory_limit - rss, f"given limit {fmt_bytes(memory_limit)}")
    free = psutil.virtual_memory().available
    group = cgroup_available(pid)
    if group is not None and group[0] < free:
        return Headroom(needed, group[0], group[1])
    return Headroom(needed, free, "free memory of this machine")


async def script_urls(session: InspectorSession) -> dict[str, str]:
    """scriptId → URL for every loaded script (Debugger.enable replays scriptParsed)."""
    urls: dict[str, str] = {}
    unsubscribe = session.subscribe(
        "Debugger.scriptParsed", lambda p: urls.__setitem__(str(p["scriptId"]), p.get("url", ""))
    )
    try:
        await session.send("Debugger.enable")
        await session.send("Debugger.disable")
    finally:
        unsubscribe()
    return {k: v for k, v in urls.items() if v}


async def capture_snapshot(
    session: InspectorSession,
    pid: int,
    path: Path,
    *,
    force: bool = False,
    memory_limit: int | None = None,
    on_progress: Callable[[int, int], None] | None = None,
) -> Path:
    """GC, then stream a DevTools-compatible .heapsnapshot to `path` (mode 0600).

    Also writes `<path>.scripts.json` (script id → URL) so locations can be named offline.
    """
    reading = await read_memory(session, 0)
    room = headroom(pid, reading.heap_used, memory_limit)
    if not room.enough and not force:
        raise HeadroomError(
            f"a heap snapshot of pid {pid} needs about {fmt_bytes(room.needed)} more memory "
            f"(9 × its {fmt_bytes(reading.heap_used)} heap) but only {fmt_bytes(room.available)} "
            f"is left ({room.limit_source}); it could be OOM-killed. Use --force to take it anyway"
        )
    urls = _known_scripts.get(session)
    if urls is None:  # once per session: Debugger.enable replays every script each time
        urls = _known_scripts[session] = await script_urls(session)
    # no second GC here: V8 collects all garbage itself before it writes a snapshot
    fd, tmp = private_part_file(path)
    out = os.fdopen(fd, "w", encoding="utf-8")
    write_error: list[OSError] = []

    def write_chunk(params: dict[str, Any]) -> None:
        if not write_error:
            try:
                out.write(params["chunk"])
            except OSError as exc:  # a full disk: keep the session alive, report it after
                write_error.append(exc)

    unsubscribe_chunk = session.subscribe("HeapProfiler.addHeapSnapshotChunk", write_chunk)
    unsubscribe_progress = session.subscribe(
        "HeapProfiler.reportHeapSnapshotProgress",
        lambda p: on_progress(int(p["done"]), int(p["total"])) if on_progress else None,
    )
    try:
        await session.send(
            "HeapProfiler.takeHeapSnapshot",
            {"reportProgress": on_progress is not None, "captureNumericValue": False},
            timeout=1800,
        )
        out.close()
        if write_error:
            raise UsageError(f"cannot write {tmp}: {write_error[0].strerror}")
        os.replace(tmp, path)
    except BaseException:
        # a half-written heap image holds secrets too: never leave it behind (error, Ctrl-C)
        out.close()
        tmp.unlink(missing_ok=True)
        raise
    finally:
        unsubscribe_chunk()
        unsubscribe_progress()
    write_private(path.with_name(path.name + ".scripts.json"), json.dumps({"pid": pid, "time": time.time(), "scripts": urls}))
    return path


def private_part_file(path: Path) -> tuple[int, Path]:
    """A new file beside `path` that only we can read: a fresh name (O_EXCL), never a file or
    a symlink someone left there, mode 0600 whatever the umask. Renamed into place when whole."""
    try:
        fd, name = tempfile.mkstemp(prefix=f"{path.name}.", suffix=".part", dir=path.parent)
    except OSError as exc:
        raise UsageError(f"cannot write in {path.parent}: {exc.strerror}") from exc
    os.fchmod(fd, 0o600)
    return fd, Path(name)


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` through a private part file (0600, O_EXCL), renamed into place."""
    fd, tmp = private_part_file(path)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise UsageError(f"cannot write {path}: {exc.strerror}") from exc
