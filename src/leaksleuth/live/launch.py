"""Start the user's command with an inspector in every Node process, own its process tree.

The command runs in its own session/process group; `stop()` ends the group and any
descendant that left it, on normal exit, error, Ctrl-C, SIGTERM and SIGHUP alike (and at
interpreter exit). A watchdog process (`live/watchdog.py`) ends the tree if we are killed
outright (SIGKILL) and cannot clean up ourselves.
"""

from __future__ import annotations

import atexit
import json
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from types import TracebackType

import psutil

from leaksleuth.errors import TargetError
from leaksleuth.live.discover import NodeProcess, read_announcements
from leaksleuth.live.watchdog import Watchdog

ANNOUNCE_JS = Path(__file__).with_name("announce.js")


def describe_signal(name: str) -> str:
    """`was killed by SIGKILL (out of memory? ...)` for a signal name."""
    hint = " (out of memory? the OOM killer sends SIGKILL)" if name == "SIGKILL" else ""
    return f"was killed by {name}{hint}"


def describe_exit(returncode: int) -> str:
    """How a process ended, from its exit status (negative: the signal that killed it)."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:  # a real-time signal has no name
            name = f"signal {-returncode}"
        return describe_signal(name)
    return f"exited with code {returncode}"


def describe_announced_exit(record: dict[str, object]) -> str | None:
    """How a process ended, from the `<pid>.exit` record its parent's preload wrote."""
    sig, code = record.get("signal"), record.get("code")
    if isinstance(sig, str) and sig:
        return describe_signal(sig)
    if isinstance(code, int):
        return f"exited with code {code}"
    return None


class LaunchedTarget:
    """The user's command, started by us; a context manager that always cleans up."""

    def __init__(
        self,
        command: list[str],
        *,
        cwd: Path | None = None,
        env: dict[str, str] | None = None,
        log_file: Path | None = None,
    ) -> None:
        if not command:
            raise TargetError("no command given to launch")
        self.command = command
        self.cwd = cwd
        self.extra_env = env or {}
        self._announce_dir = Path(tempfile.mkdtemp(prefix="leaksleuth-announce-"))
        self.log_file = log_file or self._announce_dir / "target.log"
        self._proc: subprocess.Popen[bytes] | None = None
        self._known: dict[int, psutil.Process] = {}
        self._watchdog: Watchdog | None = None

    # -- lifecycle ---------------------------------------------------------------------------
    def start(self) -> LaunchedTarget:
        exe = self.command[0]
        cwd = str(self.cwd) if self.cwd else None
        if shutil.which(exe, path=self._env().get("PATH")) is None and not (
            os.sep in exe and os.path.exists(os.path.join(cwd or ".", exe))
        ):
            self._remove_announce_dir()
            raise TargetError(f"command not found: {exe}")
        try:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            log = open(self.log_file, "ab")  # noqa: SIM115 - handed to the child
        except OSError as exc:
            self._remove_announce_dir()
            raise TargetError(f"cannot write the target's log {self.log_file}: {exc.strerror}") from exc
        # the watchdog first: from the moment the target exists, it dies with us
        self._watchdog = Watchdog().start()
        self._watchdog.guard_announcements(self._announce_dir)
        try:
            self._proc = subprocess.Popen(
                self.command,
                cwd=cwd,
                env=self._env(),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            self._watchdog.release()
            self._remove_announce_dir()
            raise TargetError(f"cannot start {shlex.join(self.command)}: {exc.strerror}") from exc
        finally:
            log.close()
        self._watchdog.guard_group(self._proc.pid)  # start_new_session: the group id is its pid
        atexit.register(self.stop)
        self.tree()
        return self

    def __enter__(self) -> LaunchedTarget:
        return self.start()

    def __exit__(
        self, et: type[BaseException] | None, ev: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(self.extra_env)
        preload = f"--require {shlex.quote(str(ANNOUNCE_JS))}"
        env["NODE_OPTIONS"] = f"{env.get('NODE_OPTIONS', '')} {preload}".strip()
        env["LEAKSLEUTH_ANNOUNCE_DIR"] = str(self._announce_dir)
        return env

    # -- state -------------------------------------------------------------------------------
    @property
    def pid(self) -> int:
        assert self._proc is not None, "not started"
        return self._proc.pid

    def exit_description(self) -> str | None:
        """None while the root process runs, else how it ended."""
        if self._proc is None:
            return None
        code = self._proc.poll()
        return None if code is None else describe_exit(code)

    def tree(self) -> list[psutil.Process]:
        """The root and all its descendants that are still alive (remembered for clean-up)."""
        if self._proc is None:
            return []
        try:
            root = psutil.Process(self._proc.pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            procs = []
        for p in procs:
            if p.pid not in self._known:
                self._known[p.pid] = p
                if self._watchdog is not None:
                    try:
                        self._watchdog.guard_process(p.pid, p.create_time())
                    except psutil.Error:
                        pass
        return procs

    def guard_path(self, path: Path) -> None:
        """Have `path` removed should we be killed outright (our own clean-up removes it otherwise)."""
        if self._watchdog is not None:
            self._watchdog.guard_path(path)

    def exit_of(self, pid: int) -> str | None:
        """How a process of the tree ended, if its parent's preload recorded it (not the root:
        see `exit_description`)."""
        try:
            record = json.loads((self._announce_dir / f"{pid}.exit").read_text())
        except (OSError, ValueError):
            return None
        return describe_announced_exit(record) if isinstance(record, dict) else None

    def wait_exit(self, timeout: float) -> str | None:
        """How the root ended, waiting up to `timeout` s for it (None if it still runs)."""
        if self._proc is None:
            return None
        try:
            return describe_exit(self._proc.wait(timeout=timeout))
        except subprocess.TimeoutExpired:
            return None

    def node_processes(self) -> list[NodeProcess]:
        """Announced Node processes that belong to our tree and still run."""
        in_tree = {p.pid for p in self.tree()}
        return [p for p in read_announcements(self._announce_dir) if p.pid in in_tree]

    def tail_log(self, lines: int = 5) -> str:
        try:
            text = self.log_file.read_text(errors="replace").strip().splitlines()
        except OSError:
            return ""
        return " | ".join(line.strip() for line in text[-lines:] if line.strip())

    # -- clean-up ----------------------------------------------------------------------------
    def stop(self, timeout: float = 5.0) -> None:
        """End every process we started: SIGTERM the group, then SIGKILL what remains."""
        if self._proc is None:
            return
        procs = self.tree() + [p for p in self._known.values() if _alive(p)]
        pgid = self._proc.pid
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(pgid, sig)
            except (ProcessLookupError, PermissionError):
                pass
            for p in procs:
                try:
                    p.send_signal(sig)
                except psutil.Error:
                    pass
            deadline = time.monotonic() + (timeout if sig == signal.SIGTERM else 2.0)
            while time.monotonic() < deadline and any(_alive(p) for p in procs):
                time.sleep(0.05)
            if not any(_alive(p) for p in procs):
                break
        try:
            self._proc.wait(timeout=1)
        except subprocess.TimeoutExpired:
            pass
        self._remove_announce_dir()
        if self._watchdog is not None:  # our clean-up ran: the guard has nothing left to do
            self._watchdog.release()
            self._watchdog = None
        atexit.unregister(self.stop)

    def _remove_announce_dir(self) -> None:
        """The announcements go; the target's log stays when it lives there (we named it)."""
        if self.log_file.parent == self._announce_dir and self.log_file.exists():
            for pattern in ("*.json*", "*.exit*"):
                for f in self._announce_dir.glob(pattern):
                    f.unlink(missing_ok=True)
        else:
            shutil.rmtree(self._announce_dir, ignore_errors=True)


def _alive(p: psutil.Process) -> bool:
    try:
        return bool(p.is_running() and p.status() != psutil.STATUS_ZOMBIE)
    except psutil.Error:
        return False
