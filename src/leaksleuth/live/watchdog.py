"""A guard process that ends what we started if leaksleuth dies without cleaning up (kill -9).

Our own clean-up (context managers, `finally`, the signal handlers of the CLI) covers errors,
Ctrl-C, SIGTERM and SIGHUP. Nothing of ours runs after a SIGKILL, so each launched target gets a
watchdog: a small Python process (this file, run by path: it imports only the standard library
and psutil) in its own session, so a signal to our process group does not reach it.

It reads messages from a pipe whose only writer is leaksleuth: the processes and the process
group it must end, and the paths it must remove, should we vanish. When the pipe reaches its end
without a `done` message (the kernel closes it when we die, whatever the cause), or when its
parent pid changes (we died and it was re-parented), it SIGTERMs the group and every remembered
process still alive (and their descendants), SIGKILLs what remains after a grace period, removes
the paths, and exits. On `done` (our normal clean-up ran) it exits at once and touches nothing.

It never signals a process it cannot prove is ours: each pid comes with its start time (checked
again before any signal, so a recycled pid is left alone), and the process group is signalled
only while one of those verified processes is still in it. It never outlives its job: it exits
after `done`, after acting, and if it cannot read the pipe.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

SCRIPT = Path(__file__)
GRACE_SECONDS = 3.0  # SIGTERM → SIGKILL
KILL_WAIT_SECONDS = 2.0
POLL_SECONDS = 1.0  # how often the parent pid is checked besides the pipe


class Watchdog:
    """leaksleuth's side: start the guard, tell it what to end, release it after a clean stop."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = None
        self._pipe: IO[str] | None = None
        self._released = False

    def start(self) -> Watchdog:
        """Start the guard (once; later calls return it as it is)."""
        if self._proc is not None or self._released:
            return self
        read_end, write_end = os.pipe()  # both close-on-exec: no other child inherits the write end
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-P", str(SCRIPT), str(os.getpid())],
                stdin=read_end,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
                close_fds=True,
            )
        except OSError:
            os.close(write_end)
            self._proc = None
            return self  # no guard: our own clean-up still runs on every exit but SIGKILL
        finally:
            os.close(read_end)
        self._pipe = os.fdopen(write_end, "w", buffering=1)
        return self

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def _send(self, *message: Any) -> None:
        if self._pipe is None:
            return
        try:
            self._pipe.write(json.dumps(message) + "\n")
        except (OSError, ValueError):  # the guard is gone (or was never started): nothing to tell
            self._pipe = None

    def guard_process(self, pid: int, create_time: float) -> None:
        """End this process (if it still is the one that started at `create_time`) should we die."""
        self._send("pid", pid, create_time)

    def guard_group(self, pgid: int) -> None:
        """End this process group should we die (while a guarded process is still in it)."""
        self._send("group", pgid)

    def guard_path(self, path: Path) -> None:
        """Remove this file or folder should we die."""
        self._send("path", str(path))

    def guard_announcements(self, folder: Path) -> None:
        """Remove the announce files in `folder` (and the folder, if nothing else is left)."""
        self._send("announce", str(folder))

    def release(self) -> None:
        """Our clean-up ran: the guard exits without touching anything."""
        self._released = True
        self._send("done")
        if self._pipe is not None:
            with contextlib.suppress(OSError):
                self._pipe.close()
            self._pipe = None
        if self._proc is not None:
            try:
                self._proc.wait(timeout=3)
            except subprocess.TimeoutExpired:  # never: it exits on `done`; do not leave it waiting
                self._proc.kill()
                self._proc.wait()
            self._proc = None


# -- the guard process --------------------------------------------------------------------------


def _ours(known: dict[int, Any]) -> list[Any]:
    """The remembered processes still alive and still the same (start time) — and their
    descendants, which a process of ours started."""
    import psutil

    found: dict[int, Any] = {}
    for p in known.values():
        try:
            if p.is_running() and p.status() != psutil.STATUS_ZOMBIE:
                found[p.pid] = p
                for c in p.children(recursive=True):
                    found.setdefault(c.pid, c)
        except psutil.Error:
            continue
    return list(found.values())


def _groups_in_use(groups: set[int], procs: list[Any]) -> set[int]:
    """The groups that still hold a verified process of ours (so their id cannot be recycled)."""
    live: set[int] = set()
    for p in procs:
        try:
            pgid = os.getpgid(p.pid)
        except OSError:
            continue
        if pgid in groups:
            live.add(pgid)
    return live


def _end(known: dict[int, Any], groups: set[int]) -> None:
    import psutil

    for sig, wait in ((signal.SIGTERM, GRACE_SECONDS), (signal.SIGKILL, KILL_WAIT_SECONDS)):
        procs = _ours(known)
        if not procs:
            return
        for p in procs:
            known.setdefault(p.pid, p)  # descendants found now are remembered for SIGKILL
        for g in _groups_in_use(groups, procs):
            with contextlib.suppress(OSError):
                os.killpg(g, sig)
        for p in procs:
            with contextlib.suppress(psutil.Error):
                p.send_signal(sig)  # psutil checks the start time again: a recycled pid is spared
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline and _ours(known):
            time.sleep(0.05)


def _remove(paths: list[Path], announce: list[Path]) -> None:
    for path in paths:
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):
                path.unlink()
    for folder in announce:
        for f in folder.glob("*.json*"):
            with contextlib.suppress(OSError):
                f.unlink()
        for f in folder.glob("*.exit*"):
            with contextlib.suppress(OSError):
                f.unlink()
        with contextlib.suppress(OSError):
            folder.rmdir()  # only if empty: a target log we named stays


class _Stop(Exception):
    pass


def main(argv: list[str]) -> int:
    import psutil

    parent = int(argv[1])
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_IGN)

    def on_term(signum: int, frame: Any) -> None:
        raise _Stop  # someone stops the guard itself: do the job now, then go

    signal.signal(signal.SIGTERM, on_term)
    known: dict[int, Any] = {}
    groups: set[int] = set()
    paths: list[Path] = []
    announce: list[Path] = []
    buffer = b""

    def take(data: bytes) -> bool:
        """Remember what the messages in `data` name; True on `done`."""
        nonlocal buffer
        buffer += data
        *lines, buffer = buffer.split(b"\n")
        for line in lines:
            try:
                kind, *args = json.loads(line)
            except (ValueError, TypeError):
                continue
            if kind == "done":
                return True
            if kind == "pid":
                with contextlib.suppress(psutil.Error, ValueError, TypeError, IndexError):
                    p = psutil.Process(int(args[0]))
                    if abs(p.create_time() - float(args[1])) < 0.01:
                        known[p.pid] = p
            elif kind == "group":
                with contextlib.suppress(ValueError, TypeError, IndexError):
                    groups.add(int(args[0]))
            elif kind == "path" and args:
                paths.append(Path(str(args[0])))
            elif kind == "announce" and args:
                announce.append(Path(str(args[0])))
        return False

    def read(timeout: float) -> bytes | None:
        """What the pipe holds (b"" at its end), None if nothing came within `timeout`."""
        try:
            ready, _, _ = select.select([0], [], [], timeout)
        except InterruptedError:
            return None
        if not ready:
            return None
        try:
            return os.read(0, 65536)
        except OSError:
            return b""

    try:
        while True:
            data = read(POLL_SECONDS)
            if data == b"":
                break  # the write end closed without `done`: leaksleuth died
            if data is not None:
                if take(data):
                    return 0
                continue
            if os.getppid() != parent:  # leaksleuth died (we were re-parented), the pipe notwithstanding
                while (data := read(0.2)):  # what it wrote before dying still counts
                    if take(data):
                        return 0
                break
    except _Stop:
        pass
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # finish the job once started
    _end(known, groups)
    _remove(paths, announce)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
