"""SIGTERM, SIGHUP and SIGINT stop `measure` and `hunt` cleanly, at every phase; a kill -9 of
leaksleuth leaves no target process and no open inspector behind (real node processes, real
signals). Every run is tagged with LEAKSLEUTH_TEST_MARK and runs with TMPDIR in tmp_path."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

import leaksleuth
from leaksleuth import Attach
from leaksleuth.live.cdp import InspectorSession
from leaksleuth.live.discover import listening_ports, port_owner
from leaksleuth.options import ProtocolSpec
from tests.conftest import DEMO, node_processes_with
from tests.integration.helpers import demo_env, free_port, url, wait_until

pytestmark = pytest.mark.integration

# the CLI as installed, with SIGINT as in a terminal even if the test runner ignores it
LAUNCHER = (
    "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "from leaksleuth.cli import main; sys.exit(main(sys.argv[1:]))"
)
ENTRIES = {"express": ["node", "server.js"], "egg": ["node", "egg-server.js"]}
FAST = ["--warmup", "200", "--requests", "150", "--min-rounds", "40", "--rounds", "40"]


@dataclass
class Run:
    """One leaksleuth CLI process and what it started."""

    proc: subprocess.Popen[str]
    out: Path
    err: Path
    mark: str
    port: int
    tmp: Path
    seen: dict[int, set[int]] = field(default_factory=dict)  # node pid → its listening ports

    def stdout(self) -> str:
        return self.out.read_text(errors="replace")

    def nodes(self) -> list[psutil.Process]:
        return [p for p in node_processes_with(self.mark) if _name(p) == "node"]

    def remember(self) -> None:
        """The node processes of the run and their listening ports (the inspectors, the app)."""
        for p in self.nodes():
            self.seen.setdefault(p.pid, set()).update(listening_ports(p.pid))

    def connected_to(self, ports: set[int]) -> bool:
        try:
            conns = psutil.Process(self.proc.pid).net_connections(kind="tcp")
        except psutil.Error:
            return False
        return any(c.raddr and c.raddr.port in ports and c.status == psutil.CONN_ESTABLISHED for c in conns)


def _name(p: psutil.Process) -> str:
    try:
        return p.name()
    except psutil.Error:
        return ""


def start_cli(tmp: Path, mark: str, port: int, args: list[str], env: dict[str, str] | None = None) -> Run:
    tmp.mkdir(parents=True, exist_ok=True)
    out, err = tmp.parent / f"{tmp.name}.out", tmp.parent / f"{tmp.name}.err"
    full = {**os.environ, "TMPDIR": str(tmp), "COLUMNS": "200", **(env or {}), "LEAKSLEUTH_TEST_MARK": mark}
    with open(out, "w") as o, open(err, "w") as e:
        proc = subprocess.Popen([sys.executable, "-c", LAUNCHER, *args], cwd=DEMO, env=full, stdout=o, stderr=e,
                                stdin=subprocess.DEVNULL, text=True)
    return Run(proc, out, err, mark, port, tmp)


def wait_for(run: Run, condition: Callable[[], bool], what: str, timeout: float = 90) -> None:
    def check() -> bool:
        assert run.proc.poll() is None, f"leaksleuth ended before {what}: {run.err.read_text()} {run.stdout()[-500:]}"
        run.remember()
        return condition()

    assert wait_until(check, timeout=timeout, every=0.05), f"no {what} within {timeout} s: {run.stdout()[-500:]}"


def inspector_ports(run: Run) -> set[int]:
    return {p for pid, ports in run.seen.items() for p in ports} - {run.port}


PHASES: dict[str, Callable[[Run], bool]] = {
    # sessions to the inspectors are open, no request yet (the settle readings); should the
    # poll miss that short moment, the (long) warm-up
    "settle": lambda r: r.connected_to(inspector_ports(r)) and "warmup" not in r.stdout(),
    # requests flow, the warm-up has not ended
    "warmup": lambda r: r.connected_to({r.port}) and "warmup" not in r.stdout(),
    "rounds": lambda r: "round  2" in r.stdout(),
    "snapshots": lambda r: "snapshot 1/" in r.stdout(),
}


def leftovers(tmp: Path) -> list[Path]:
    """Snapshots (complete or .part) and hunt folders left in the run's temp folder."""
    return [p for p in tmp.rglob("*") if p.name.endswith((".heapsnapshot", ".part", ".scripts.json"))
            or p.name.startswith("leaksleuth-hunt-") or p.name.startswith("leaksleuth-url-")]


def assert_stopped_cleanly(run: Run, sig: int) -> None:
    code = run.proc.wait(timeout=60)
    err = run.err.read_text()
    lines = [x for x in err.splitlines() if x.strip()]
    assert code == 128 + sig, (code, err, run.stdout()[-800:])
    assert len(lines) == 1 and "interrupted" in lines[0] and "Traceback" not in err, err
    if sig != signal.SIGINT:
        assert signal.Signals(sig).name in lines[0]
    assert wait_until(lambda: node_processes_with(run.mark) == [], timeout=15), [
        p.cmdline() for p in node_processes_with(run.mark)]
    for pid, ports in run.seen.items():
        for port in ports:
            owner = port_owner(port)
            assert owner is None or owner not in run.seen, f"port {port} of pid {pid} still listens"
    assert leftovers(run.tmp) == []


@pytest.fixture
def runs(tmp_path: Path) -> Iterator[list[Run]]:
    started: list[Run] = []
    yield started
    for r in started:  # a failed test must not leave its run behind
        if r.proc.poll() is None:
            r.proc.kill()
            r.proc.wait()
        for p in node_processes_with(r.mark):
            try:
                p.kill()
            except psutil.Error:
                pass


CASES = [
    # command, app, phase, signal
    ("measure", "express", "settle", signal.SIGTERM),
    ("measure", "express", "warmup", signal.SIGHUP),
    ("measure", "express", "rounds", signal.SIGINT),
    ("measure", "egg", "rounds", signal.SIGTERM),
    ("measure", "egg", "warmup", signal.SIGHUP),
    ("hunt", "express", "snapshots", signal.SIGTERM),
    ("hunt", "egg", "snapshots", signal.SIGHUP),
    ("hunt", "express", "snapshots", signal.SIGINT),
]


@pytest.mark.parametrize(("command", "app", "phase", "sig"), CASES,
                         ids=[f"{c}-{a}-{p}-{signal.Signals(s).name}" for c, a, p, s in CASES])
def test_signal_stops_the_run_and_cleans_up(demo_dir, tmp_path, mark, runs, command, app, phase, sig):
    port = free_port()
    extra = ["--snapshots", "--between", "100"] if command == "hunt" else []
    warmup = ["--warmup", "3000"] if phase in ("settle", "warmup") else []  # long enough to land in
    json_file = tmp_path / "result.json"
    run = start_cli(tmp_path / "tmp", mark, port, [command, "--url", url(port), *FAST, *warmup, *extra,
                    "--json", str(json_file), "--", *ENTRIES[app]], env=demo_env("bus", port, mark))
    runs.append(run)
    wait_for(run, lambda: PHASES[phase](run), phase)
    run.remember()
    assert run.seen, "the target should be running"
    run.proc.send_signal(sig)
    assert_stopped_cleanly(run, sig)
    if phase == "rounds":  # what was measured so far is kept
        doc = json.loads(json_file.read_text())
        assert doc["complete"] is False and doc["rounds"] >= 2


def test_kept_snapshots_stay_complete_when_interrupted(demo_dir, tmp_path, mark, runs):
    port = free_port()
    keep = tmp_path / "kept"
    run = start_cli(tmp_path / "tmp", mark, port, ["hunt", "--url", url(port), "--snapshots", "--between", "100",
                    "--warmup", "100", "--keep", str(keep), "--", *ENTRIES["express"]], env=demo_env("bus", port, mark))
    runs.append(run)
    wait_for(run, lambda: "snapshot 2/" in run.stdout(), "a second snapshot")
    run.proc.send_signal(signal.SIGTERM)
    assert_stopped_cleanly(run, signal.SIGTERM)
    kept = sorted(p.name for p in keep.iterdir())
    assert any(n.endswith("-s0-100req.heapsnapshot") for n in kept), kept  # the first one, whole
    assert not any(n.endswith(".part") for n in kept), kept


def test_sigterm_leaves_an_attached_process_as_found(demo_dir, tmp_path, mark, runs):
    port = free_port()
    server = subprocess.Popen(["node", "server.js"], cwd=DEMO, env={**os.environ, **demo_env("bus", port, mark)},
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert server.stdout is not None and "listening" in server.stdout.readline()
        run = start_cli(tmp_path / "tmp", f"{mark}-cli", port, ["measure", "--pid", str(server.pid), "--url", url(port),
                        *FAST])
        runs.append(run)
        wait_for(run, lambda: "round  2" in run.stdout(), "round 2")
        run.proc.send_signal(signal.SIGTERM)
        assert run.proc.wait(timeout=60) == 143, run.err.read_text()
        assert len([x for x in run.err.read_text().splitlines() if x.strip()]) == 1
        assert server.poll() is None, "the target must survive"
        assert listening_ports(server.pid) == {port}, "our inspector must be closed again"
        assert_debug_port_restored(server.pid, port)
    finally:
        server.kill()
        server.wait()


def assert_debug_port_restored(pid: int, port: int) -> None:
    """SIGUSR1 opens the inspector on 9229 again (our random port is not remembered)."""
    if port_owner(9229) is not None:
        return  # someone else holds 9229 right now: nothing to learn
    os.kill(pid, signal.SIGUSR1)
    assert wait_until(lambda: 9229 in listening_ports(pid), timeout=5), listening_ports(pid)


KILL_CASES = [  # command line, when to kill
    (["hunt", *FAST], "express", "round  2"),
    (["hunt", "--snapshots", "--between", "100"], "express", "snapshot 1/"),
    (["measure", *FAST], "egg", "round  2"),
]


@pytest.mark.parametrize(("args", "app", "when"), KILL_CASES, ids=["hunt-express-rounds", "hunt-express-snapshots",
                                                                   "measure-egg-rounds"])
def test_kill_9_of_leaksleuth_ends_a_launched_target(demo_dir, tmp_path, mark, runs, args, app, when):
    port = free_port()
    run = start_cli(tmp_path / "tmp", mark, port, [args[0], "--url", url(port), *args[1:], "--", *ENTRIES[app]],
                    env=demo_env("bus", port, mark))
    runs.append(run)
    wait_for(run, lambda: when in run.stdout(), when)
    run.remember()
    run.proc.kill()
    run.proc.wait()
    # the watchdog: SIGTERM to the tree, SIGKILL after 3 s; the snapshot folder removed
    assert wait_until(lambda: node_processes_with(run.mark) == [], timeout=10), [
        p.cmdline() for p in node_processes_with(run.mark)]
    assert all(port_owner(p) not in run.seen for p in inspector_ports(run) | {port})
    assert list(run.tmp.glob("leaksleuth-announce-*/*.json")) == []
    assert leftovers(run.tmp) == []


@pytest.mark.parametrize(("args", "when"), [(["measure", *FAST], "round  2"),
                                            (["hunt", "--snapshots", "--between", "100"], "snapshot 1/")],
                         ids=["measure-rounds", "hunt-snapshots"])
def test_kill_9_of_leaksleuth_closes_the_inspector_it_opened(demo_dir, tmp_path, mark, runs, args, when):
    port = free_port()
    server = subprocess.Popen(["node", "server.js"], cwd=DEMO, env={**os.environ, **demo_env("bus", port, mark)},
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert server.stdout is not None and "listening" in server.stdout.readline()
        run = start_cli(tmp_path / "tmp", f"{mark}-cli", port, [args[0], "--pid", str(server.pid), "--url", url(port),
                        *args[1:]])
        runs.append(run)
        wait_for(run, lambda: when in run.stdout(), when)
        assert len(listening_ports(server.pid)) == 2, "the inspector we opened"
        run.proc.kill()
        run.proc.wait()
        # the guard in the target sees leaksleuth gone within a second (once a snapshot it was
        # writing is done: its event loop is blocked meanwhile)
        assert wait_until(lambda: listening_ports(server.pid) == {port}, timeout=10), listening_ports(server.pid)
        assert server.poll() is None
        assert_debug_port_restored(server.pid, port)
        assert wait_until(lambda: leftovers(run.tmp) == [], timeout=5), leftovers(run.tmp)  # its watchdog
    finally:
        server.kill()
        server.wait()


def test_an_inspector_the_user_opened_stays_open_and_working(demo_dir, mark):
    port = free_port()
    if port_owner(9229) is not None:
        pytest.skip("port 9229 is in use on this machine")
    server = subprocess.Popen(["node", "server.js"], cwd=DEMO, env={**os.environ, **demo_env("bus", port, mark)},
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert server.stdout is not None and "listening" in server.stdout.readline()
        os.kill(server.pid, signal.SIGUSR1)  # the user's own inspector, on 9229
        assert wait_until(lambda: 9229 in listening_ports(server.pid), timeout=5)
        m = leaksleuth.measure(Attach(server.pid), url(port),
                               ProtocolSpec(warmup_requests=50, requests_per_round=50, min_rounds=3, max_rounds=3))
        assert m.processes[0].pid == server.pid
        assert listening_ports(server.pid) == {port, 9229}, "used where it was, not moved, not closed"
        with urllib.request.urlopen("http://127.0.0.1:9229/json/list", timeout=5) as resp:
            ws = json.loads(resp.read())[0]["webSocketDebuggerUrl"]

        async def still_works() -> list[object]:
            session = await InspectorSession.connect(ws)
            try:
                value = await session.evaluate(
                    "[process.pid, globalThis[Symbol.for('leaksleuth.attach')] === undefined, "
                    "process.listenerCount('exit')]")
                return list(value)
            finally:
                await session.close()

        assert asyncio.run(still_works()) == [server.pid, True, 0]  # our guard and exit hook are gone
    finally:
        server.kill()
        server.wait()


# -- the watchdog on its own: it ends what it guards, nothing else, and never outlives its job -----

OWNER = """
import subprocess, sys, time, psutil
from pathlib import Path
from leaksleuth.live.watchdog import Watchdog
stranger, folder = int(sys.argv[1]), Path(sys.argv[2])
dog = Watchdog().start()
ours = subprocess.Popen(["sleep", "60"], start_new_session=True)
dog.guard_group(ours.pid)
dog.guard_process(ours.pid, psutil.Process(ours.pid).create_time())
# a pid that is not what we were told (another start time): must be left alone
dog.guard_process(stranger, psutil.Process(stranger).create_time() + 100)
dog.guard_path(folder)
dog_pid = dog.pid
if sys.argv[3] == "release":
    dog.release()
print(ours.pid, dog_pid, flush=True)
time.sleep(60)
"""


def _owner(tmp_path: Path, mode: str) -> tuple[subprocess.Popen[str], subprocess.Popen[bytes], int, int, Path]:
    stranger = subprocess.Popen(["sleep", "60"])
    folder = tmp_path / "secret-snapshots"
    folder.mkdir()
    (folder / "a.heapsnapshot").write_text("{}")
    owner = subprocess.Popen([sys.executable, "-c", OWNER, str(stranger.pid), str(folder), mode],
                             stdout=subprocess.PIPE, text=True)
    assert owner.stdout is not None
    try:
        ours, dog = (int(x) for x in owner.stdout.readline().split())
    except ValueError:
        _end(owner, stranger)
        raise
    return owner, stranger, ours, dog, folder


def _end(owner: subprocess.Popen[str], stranger: subprocess.Popen[bytes], *pids: int) -> None:
    for proc in (owner, stranger):
        proc.kill()
        proc.wait()
    for pid in pids:
        if _alive(pid):
            os.kill(pid, signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def test_watchdog_ends_what_it_guards_when_its_owner_is_killed(tmp_path):
    owner, stranger, ours, dog, folder = _owner(tmp_path, "guard")
    try:
        assert _alive(ours) and _alive(dog)
        owner.kill()
        owner.wait()
        assert wait_until(lambda: not _alive(ours), timeout=5), "the guarded process must end with its owner"
        assert wait_until(lambda: not _alive(dog), timeout=5), "the watchdog must not outlive its job"
        assert not folder.exists()
        assert stranger.poll() is None, "a pid whose start time does not match is not ours"
    finally:
        _end(owner, stranger, ours, dog)


def test_a_released_watchdog_exits_and_touches_nothing(tmp_path):
    owner, stranger, ours, dog, folder = _owner(tmp_path, "release")
    try:
        assert wait_until(lambda: not _alive(dog), timeout=5)
        owner.kill()
        owner.wait()
        assert _alive(ours) and folder.exists() and stranger.poll() is None
    finally:
        _end(owner, stranger, ours, dog)
