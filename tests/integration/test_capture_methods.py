"""The two ways a snapshot reaches disk: the target writes it (v8.writeHeapSnapshot into a private
folder of ours), or the inspector streams it. Same file, same culprits; private while written;
nothing left behind after an error or a cancellation; the stream when the target cannot write."""

from __future__ import annotations

import asyncio
import os
import shutil
import stat
import subprocess
from pathlib import Path

import pytest

from leaksleuth.errors import UsageError
from leaksleuth.heap.culprits import find_culprits
from leaksleuth.heap.growth import sidecar_script_urls
from leaksleuth.heap.parse import load_snapshot
from leaksleuth.heap.summary import summarize
from leaksleuth.live import capture
from leaksleuth.live.capture import capture_method, capture_snapshot
from leaksleuth.live.connect import attached, launched
from leaksleuth.live.discover import listening_ports
from leaksleuth.live.load import LoadDriver
from leaksleuth.options import Launch, LoadSpec
from tests.conftest import DEMO
from tests.integration.helpers import demo_env, free_port, url, wait_until

pytestmark = pytest.mark.integration

SERVER = """
const http = require('http');
class Marker { constructor(i) { this.i = i; } }
globalThis.markers = Array.from({length: 1234}, (_, i) => new Marker(i));
if (process.env.NO_V8_WRITE) {  // a target where the target-side write is not possible
  require('v8').writeHeapSnapshot = undefined;
}
if (process.env.BIG) globalThis.big = Array.from({length: +process.env.BIG}, (_, i) => ({i, s: 'x' + i}));
http.createServer((q, s) => s.end('ok')).listen(+process.env.PORT, '127.0.0.1');
"""


def _server(tmp_path: Path) -> Path:
    script = tmp_path / "server.js"
    script.write_text(SERVER)
    return script


def _leftovers(folder: Path) -> list[Path]:
    """Anything of a capture but finished snapshots and their side files."""
    return [p for p in folder.iterdir() if not p.name.endswith((".heapsnapshot", ".scripts.json", ".js"))]


def _markers(path: Path) -> int:
    snap = load_snapshot(path, script_urls=sidecar_script_urls(path))
    return next(c for c in summarize(snap).constructors if c.name == "Marker").count


def test_target_write_gives_the_same_culprits_as_the_stream(demo_dir, tmp_path):
    """The demo app with the bus leak, three snapshots by each method interleaved on one process."""
    port = free_port()
    written: list[Path] = []
    streamed: list[Path] = []
    counts: list[float] = []

    async def run() -> None:
        launch = Launch(["node", "server.js"], cwd=DEMO, env=demo_env("bus", port), ready_timeout=60)
        async with launched(launch, port) as opened, LoadDriver(LoadSpec((url(port),))) as driver:
            i = opened.inspected[0]
            await driver.send(150)
            for k in range(3):
                if k:
                    await driver.send(100)
                counts.append(driver.tally.requests)
                for method, into in (("auto", written), ("cdp", streamed)):
                    path = tmp_path / f"{method}-{k}.heapsnapshot"
                    await capture_snapshot(i.session, i.process.pid, path, method=method)  # type: ignore[arg-type]
                    assert capture_method(i.session)[0] == ("target" if method == "auto" else "cdp")
                    into.append(path)

    asyncio.run(run())
    for path in written:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.with_name(path.name + ".scripts.json").is_file()
    assert not _leftovers(tmp_path)
    by_target = find_culprits(written, counts, DEMO)
    by_stream = find_culprits(streamed, counts, DEMO)
    assert by_target and by_stream
    first, other = by_target[0], by_stream[0]
    assert (first.kind, first.constructor) == (other.kind, other.constructor)
    # the bus is reachable both as `Vue.prototype.$bus` and as bus.js's exports: which one the
    # path starts from follows the heap of the moment (the second of two snapshots taken back to
    # back gives the other one, whichever method takes it), the chain that keeps the leak does not
    tail = first.path[first.path.index("._events"):]
    assert tail == other.path[other.path.index("._events"):]
    assert first.location is not None and other.location is not None
    assert (first.location.file, first.location.line) == (other.location.file, other.location.line)
    assert "._events" in first.path and ".toggleAsideMenu" in first.path
    assert first.bytes_per_request == pytest.approx(other.bytes_per_request, rel=0.1)
    assert first.objects_per_request == pytest.approx(other.objects_per_request, abs=0.1)


def test_the_target_writes_privately_then_the_file_moves_into_place(tmp_path):
    port = free_port()
    out = tmp_path / "s.heapsnapshot"
    seen: list[tuple[int, int]] = []
    modes: list[tuple[int, int]] = []

    def progress(done: int, total: int) -> None:
        seen.append((done, total))
        if done == 0:  # the target has begun its file: look at it while it is written
            (folder,) = tmp_path.glob(".s.heapsnapshot.*.d")
            modes.append((stat.S_IMODE(folder.stat().st_mode), stat.S_IMODE((folder / "snapshot.heapsnapshot").stat().st_mode)))

    async def run() -> None:
        launch = Launch(["node", str(_server(tmp_path))], env={"PORT": str(port), "BIG": "300000"})
        async with launched(launch, port) as opened:
            i = opened.inspected[0]
            await capture_snapshot(i.session, i.process.pid, out, on_progress=progress)
            assert capture_method(i.session) == ("target", None)

    old = os.umask(0o022)
    try:
        asyncio.run(run())
    finally:
        os.umask(old)
    assert modes == [(0o700, 0o600)]
    assert seen[0][0] == 0 and seen[-1][0] == seen[-1][1] > 300_000
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    assert _markers(out) == 1234
    assert not _leftovers(tmp_path)


def test_a_target_that_cannot_write_is_streamed_instead(tmp_path):
    port = free_port()
    out = tmp_path / "s.heapsnapshot"

    async def run() -> None:
        launch = Launch(["node", str(_server(tmp_path))], env={"PORT": str(port), "NO_V8_WRITE": "1"})
        async with launched(launch, port) as opened:
            i = opened.inspected[0]
            seen: list[tuple[int, int]] = []
            await capture_snapshot(i.session, i.process.pid, out, on_progress=lambda d, t: seen.append((d, t)))
            used, why = capture_method(i.session)
            assert used == "cdp" and why is not None and "writeHeapSnapshot" in why
            assert seen and seen[-1][0] == seen[-1][1]  # V8's own progress, over the inspector
            await capture_snapshot(i.session, i.process.pid, tmp_path / "again.heapsnapshot")  # not tried again
            with pytest.raises(Exception, match="cannot write its own heap snapshot"):
                await capture_snapshot(i.session, i.process.pid, tmp_path / "x.heapsnapshot", method="target")

    asyncio.run(run())
    assert stat.S_IMODE(out.stat().st_mode) == 0o600 and _markers(out) == 1234
    assert not _leftovers(tmp_path) and not (tmp_path / "x.heapsnapshot").exists()


def test_a_target_with_another_root_is_streamed_without_asking_it(tmp_path, monkeypatch):
    port = free_port()
    out = tmp_path / "s.heapsnapshot"
    real_stat = os.stat

    def other_root(p, *a, **kw):  # /proc/PID/root as a container's: another filesystem
        st = real_stat(p, *a, **kw)
        if str(p).startswith("/proc/") and str(p).endswith("/root"):
            return os.stat_result((st.st_mode, st.st_ino + 1, st.st_dev + 1, *tuple(st)[3:]))
        return st

    async def run() -> None:
        async with launched(Launch(["node", str(_server(tmp_path))], env={"PORT": str(port)}), port) as opened:
            i = opened.inspected[0]
            monkeypatch.setattr(capture.os, "stat", other_root)
            await capture_snapshot(i.session, i.process.pid, out)
            monkeypatch.undo()
            used, why = capture_method(i.session)
            assert used == "cdp" and why is not None and "another root" in why

    asyncio.run(run())
    assert _markers(out) == 1234 and not _leftovers(tmp_path)


def _root_with_unshare() -> bool:
    if os.geteuid() != 0 or shutil.which("unshare") is None:
        return False
    return subprocess.run(["unshare", "--mount", "true"], capture_output=True, check=False).returncode == 0


@pytest.mark.skipif(not _root_with_unshare(), reason="needs root and unshare (a private mount namespace)")
def test_a_target_in_another_mount_namespace_is_streamed(tmp_path):
    """Like a container that sees another filesystem at our path: its write cannot reach our folder."""
    port = free_port()
    folder = tmp_path / "out"
    folder.mkdir()
    out = folder / "s.heapsnapshot"
    script = _server(tmp_path)
    command = ["unshare", "--mount", "--propagation", "private", "sh", "-c",
               f"mount -t tmpfs tmpfs '{folder}' && exec node '{script}'"]

    async def run() -> None:
        async with launched(Launch(command, env={"PORT": str(port)}), port) as opened:
            i = next(i for i in opened.inspected if i.serving)
            await capture_snapshot(i.session, i.process.pid, out)
            used, why = capture_method(i.session)
            assert used == "cdp" and why is not None and "ENOENT" in why, why

    asyncio.run(run())
    assert _markers(out) == 1234 and not _leftovers(folder)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to mount a small tmpfs")
def test_a_full_disk_is_an_error_and_leaves_nothing(tmp_path):
    port = free_port()
    small = tmp_path / "small"
    small.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(small)], check=False).returncode:
        pytest.skip("cannot mount a tmpfs here")
    try:
        async def run() -> None:
            async with launched(Launch(["node", str(_server(tmp_path))], env={"PORT": str(port)}), port) as opened:
                i = opened.inspected[0]
                for method in ("auto", "cdp"):
                    with pytest.raises(UsageError, match="cannot write"):
                        await capture_snapshot(i.session, i.process.pid, small / "s.heapsnapshot", method=method)  # type: ignore[arg-type]
                    assert list(small.iterdir()) == [], method
                assert capture_method(i.session)[1] is None  # a full disk is no reason to stop writing in the target

        asyncio.run(run())
    finally:
        subprocess.run(["umount", str(small)], check=False)


@pytest.mark.parametrize("method", ["auto", "cdp"])
def test_a_cancelled_capture_leaves_no_file_even_when_the_target_finishes(tmp_path, method):
    port = free_port()
    out = tmp_path / "s.heapsnapshot"

    async def run() -> None:
        launch = Launch(["node", str(_server(tmp_path))], env={"PORT": str(port), "BIG": "300000"})
        async with launched(launch, port) as opened:
            i = opened.inspected[0]
            started = asyncio.Event()
            task = asyncio.create_task(capture_snapshot(i.session, i.process.pid, out, method=method,  # type: ignore[arg-type]
                                                        on_progress=lambda d, t: started.set()))
            await asyncio.wait_for(started.wait(), 60)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            # the target goes on with its snapshot; wait until it is done, then look again
            assert await i.session.evaluate("1 + 1") == 2

    asyncio.run(run())
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [tmp_path / "server.js"]


def test_an_attached_target_writes_its_own_snapshot(tmp_path):
    port = free_port()
    server = subprocess.Popen(["node", str(_server(tmp_path))], env={"PORT": str(port), "PATH": os.environ["PATH"]},
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out = tmp_path / "s.heapsnapshot"
    try:
        assert wait_until(lambda: port in listening_ports(server.pid), timeout=15)

        async def run() -> None:
            async with attached(server.pid, port) as opened:
                i = opened.inspected[0]
                await capture_snapshot(i.session, i.process.pid, out, guard=opened.guard_path)
                assert capture_method(i.session) == ("target", None)

        asyncio.run(run())
        assert _markers(out) == 1234 and not _leftovers(tmp_path)
        assert server.poll() is None
    finally:
        server.kill()
        server.wait()
