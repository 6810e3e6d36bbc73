"""Heap snapshot capture: headroom check, then the target writes the file itself, else the
inspector streams it to us.

A snapshot freezes the target and costs it ~8–12× its JS heap in native memory while V8 builds
it (shared notes §6: 8–9× on big heaps; bench/capture_bench.py: 11.6× on the demo's 50 MB heap,
10× at 84 MB, whichever way the file is written), so we refuse when 12× could push it over its
limit.

Two ways to the same DevTools-compatible file (same V8 serializer, same JSON):
- **target**: `v8.writeHeapSnapshot(file)` evaluated in the target, `file` in a private folder
  (0700, ours) beside the output; the target creates it 0600, we check it is whole and ours,
  then rename it into place. No protocol traffic: V8 writes straight to disk. Same peak RSS;
  ~20 % less time on the demo's 90 MB heaps (bench/capture_bench.py). Most of a snapshot is V8
  building it (~3 µs an object), whichever way it then travels.
- **cdp**: `HeapProfiler.takeHeapSnapshot`, chunks streamed over the websocket into a private
  part file. Used when the target cannot write there: another mount namespace or root (a
  container), another user, no `v8` module (not Node), or when asked to.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import stat
import tempfile
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import psutil

from leaksleuth.errors import HeadroomError, InspectorError, UsageError
from leaksleuth.live.cdp import InspectorSession
from leaksleuth.live.cgroup import cgroup_available
from leaksleuth.live.readings import read_memory
from leaksleuth.units import fmt_bytes

_known_scripts: weakref.WeakKeyDictionary[InspectorSession, dict[str, str]] = weakref.WeakKeyDictionary()
SNAPSHOT_COST_FACTOR = 12.0  # peak extra RSS ≤ 12 × heap used (either method: bench/capture_bench.py)
CAPTURE_TIMEOUT = 1800.0  # seconds a snapshot may take (a multi-GB heap)

CaptureMethod = Literal["auto", "target", "cdp"]
# how the last snapshot of a session was taken; "cdp" also remembers that the target cannot write
_method_used: weakref.WeakKeyDictionary[InspectorSession, Literal["target", "cdp"]] = weakref.WeakKeyDictionary()
_cannot_write: weakref.WeakKeyDictionary[InspectorSession, str] = weakref.WeakKeyDictionary()

# Evaluated in the target (`require` comes with includeCommandLineAPI; ES-module-only apps and
# Node ≥ 20.16 also have process.getBuiltinModule). Returns the file name or throws.
WRITE_JS = """(() => {
  const v8 = globalThis.process?.getBuiltinModule?.('node:v8') ?? (typeof require === 'function' ? require('v8') : undefined);
  if (typeof v8?.writeHeapSnapshot !== 'function') throw new Error('no v8.writeHeapSnapshot in this target');
  return v8.writeHeapSnapshot(%s);
})()"""
DISK_FULL = re.compile(r"\b(ENOSPC|EDQUOT|EFBIG)\b")


class _TargetCannotWrite(Exception):
    """The target could not write the snapshot where we can read it: stream it over CDP instead."""


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
    method: CaptureMethod = "auto",
    guard: Callable[[Path], None] | None = None,
) -> Path:
    """Headroom check, then a DevTools-compatible .heapsnapshot at `path` (mode 0600): written by the target
    itself when it can write beside `path` (`method` "auto"; "target" insists, "cdp" never
    tries), else streamed over the inspector. `guard(folder)` is told of the private folder the
    target writes into before it is asked to (to have it removed should we be killed outright).
    `on_progress(done, total)`: objects serialized of the snapshot's total; the target's own write
    reports (0, n) once V8 has built the snapshot and begins the file, and (n, n) at the end.

    Also writes `<path>.scripts.json` (script id → URL) so locations can be named offline.
    """
    if not force:
        await check_headroom(session, pid, memory_limit)
    urls = _known_scripts.get(session)
    if urls is None:  # once per session: Debugger.enable replays every script each time
        urls = _known_scripts[session] = await script_urls(session)
    # no second GC here: V8 collects all garbage itself before it writes a snapshot
    written = False
    if method != "cdp":
        why = _cannot_write.get(session) if method == "auto" else None  # asked once per session
        why = why or target_write_blocker(pid)
        if why is None:
            try:
                await write_in_target(session, path, on_progress, guard)
                written = True
            except _TargetCannotWrite as exc:
                why = str(exc)
        if not written:
            if method == "target":
                raise InspectorError(f"pid {pid} cannot write its own heap snapshot: {why}")
            _cannot_write[session] = str(why)
    if not written:
        await stream_over_cdp(session, path, on_progress)
    _method_used[session] = "target" if written else "cdp"
    write_private(path.with_name(path.name + ".scripts.json"), json.dumps({"pid": pid, "time": time.time(), "scripts": urls}))
    return path


async def check_headroom(session: InspectorSession, pid: int, memory_limit: int | None = None) -> None:
    """Raise HeadroomError unless the target has room for a snapshot: 12 × its heap used after a
    GC. The heap used as it is comes first (Runtime.getHeapUsage: no GC, garbage included, so
    never less than after one): when even that fits, the GC'd figure fits too, and the answer is
    the same without two full GCs of the target (V8 collects all garbage before a snapshot
    anyway). Otherwise the GC'd reading decides, as it always did."""
    try:
        used = int((await session.send("Runtime.getHeapUsage"))["usedSize"])
    except (InspectorError, KeyError, TypeError, ValueError):
        used = None
    if used is not None and headroom(pid, used, memory_limit).enough:
        return
    reading = await read_memory(session, 0)
    room = headroom(pid, reading.heap_used, memory_limit)
    if not room.enough:
        raise HeadroomError(
            f"a heap snapshot of pid {pid} needs about {fmt_bytes(room.needed)} more memory "
            f"({SNAPSHOT_COST_FACTOR:g} × its {fmt_bytes(reading.heap_used)} heap) but only {fmt_bytes(room.available)} "
            f"is left ({room.limit_source}); it could be OOM-killed. Use --force to take it anyway"
        )


def capture_method(session: InspectorSession) -> tuple[Literal["target", "cdp"] | None, str | None]:
    """How the last snapshot of `session` was taken, and why the target could not write it (if so)."""
    return _method_used.get(session), _cannot_write.get(session)


def target_write_blocker(pid: int) -> str | None:
    """Why the target surely cannot write where we read (another root: a container, a chroot),
    or None. Unknown (no access to /proc/PID/root) is None: the write itself will tell."""
    try:
        theirs, ours = os.stat(f"/proc/{pid}/root"), os.stat("/")
    except OSError:
        return None
    if (theirs.st_dev, theirs.st_ino) != (ours.st_dev, ours.st_ino):
        return f"pid {pid} has another root directory (a container or chroot)"
    return None


async def write_in_target(
    session: InspectorSession,
    path: Path,
    on_progress: Callable[[int, int], None] | None = None,
    guard: Callable[[Path], None] | None = None,
) -> None:
    """Have the target write its snapshot with `v8.writeHeapSnapshot` into a fresh private folder
    beside `path`, then move it to `path`. Raises _TargetCannotWrite when it could not (the
    folder is not visible or writable to it, no v8 module): nothing is left behind then, nor on
    any other error or a cancellation."""
    folder = private_folder(path)
    if guard is not None:
        guard(folder)
    part = folder / "snapshot.heapsnapshot"
    watcher = asyncio.create_task(_report_file_progress(part, on_progress)) if on_progress else None
    try:
        try:
            reply = await session.send(
                "Runtime.evaluate",
                {"expression": WRITE_JS % json.dumps(str(part)), "includeCommandLineAPI": True,
                 "returnByValue": True, "silent": True},
                timeout=CAPTURE_TIMEOUT,
            )
        finally:
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
        if "exceptionDetails" in reply:
            details = reply["exceptionDetails"]
            text = str(details.get("exception", {}).get("description") or details.get("text") or "")
            text = text.splitlines()[0] if text else "an exception"
            if DISK_FULL.search(text):  # streaming would fill the same disk
                raise UsageError(f"cannot write {path}: {text}")
            raise _TargetCannotWrite(text)
        total = check_whole_and_ours(part)
        os.replace(part, path)
        if on_progress is not None:
            on_progress(total, total)
    finally:
        remove_private_folder(folder)


def private_folder(path: Path) -> Path:
    """A fresh folder beside `path` only we can enter (0700): a random name no one else (nor a
    container's view of this path) has, so the target's file can only appear here."""
    try:
        folder = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".d", dir=path.parent.resolve()))
    except OSError as exc:
        raise UsageError(f"cannot write in {path.parent}: {exc.strerror}") from exc
    os.chmod(folder, 0o700)
    return folder


def remove_private_folder(folder: Path) -> None:
    """Remove the folder and what the target wrote in it, also when we give up while the target
    still works (cancelled): Node opens the file before V8 builds the snapshot, so the file is
    unlinked while open (the target writes on into it; the space is freed when it closes it). The
    folder is renamed first, so a target that has not opened the file yet cannot create it."""
    gone = folder.with_name(folder.name + ".gone")
    try:
        os.rename(folder, gone)
    except OSError:
        gone = folder
    shutil.rmtree(gone, ignore_errors=True)


def check_whole_and_ours(part: Path) -> int:
    """The target's file: a regular file of ours (not followed if a link), ending as a whole
    snapshot does, made 0600; its node count. Raises _TargetCannotWrite otherwise (the write
    went elsewhere or stopped midway)."""
    try:
        fd = os.open(part, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise _TargetCannotWrite(f"its snapshot did not appear in {part.parent} ({exc.strerror})") from exc
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode) or st.st_uid != os.geteuid():
            raise _TargetCannotWrite(f"{part} is not a file of ours")
        os.fchmod(fd, 0o600)
        head = f.read(4096)
        f.seek(max(st.st_size - 16, 0))
        tail = f.read().rstrip()
    if not tail.endswith(b"]}"):
        raise _TargetCannotWrite(f"its snapshot in {part.parent} is incomplete")
    m = re.search(rb'"node_count"\s*:\s*(\d+)', head)
    return int(m.group(1)) if m else 0


def node_count(path: Path) -> int | None:
    """The node count a snapshot file's header gives, once it is written (else None)."""
    try:
        with open(path, "rb") as f:
            head = f.read(4096)
    except OSError:
        return None
    m = re.search(rb'"node_count"\s*:\s*(\d+)', head)
    return int(m.group(1)) if m else None


async def _report_file_progress(part: Path, on_progress: Callable[[int, int], None], every: float = 0.2) -> None:
    """(0, n) once the target starts the file: V8 has built the snapshot, n objects, and writes."""
    while True:
        await asyncio.sleep(every)
        n = node_count(part)
        if n is not None:
            on_progress(0, n)
            return


async def stream_over_cdp(
    session: InspectorSession, path: Path, on_progress: Callable[[int, int], None] | None = None
) -> None:
    """HeapProfiler.takeHeapSnapshot, its chunks streamed into a private part file renamed to `path`."""
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
            timeout=CAPTURE_TIMEOUT,
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
