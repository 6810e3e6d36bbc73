"""Capture benchmark: how a heap snapshot of the demo app gets to disk, and what it costs the target.

    .venv/bin/python bench/capture_bench.py                 # the demo's hunt sizes, both methods, 2 trials
    .venv/bin/python bench/capture_bench.py --requests 2000 # a bigger heap (~110 MB)
    .venv/bin/python bench/capture_bench.py --demo          # also `leaksleuth demo`'s phases, end to end

Subject: demo/ssr-app (Vue 2 SSR on Express, LEAKS=bus,interval,stats,lazy: ~45 KB kept per
request). Each trial of each method gets a fresh target (a snapshot leaves the target's RSS
high, glibc keeps what V8 freed, so peaks of a second method on the same process would lie),
sends --requests (1262: where `leaksleuth demo` stood before this change when it took its
first snapshot) and takes --snapshots captures --between requests apart, as a hunt does.

Methods:
  before   capture_snapshot as it was: a GC'd reading (2 full GCs + the reading's JS) for the
           headroom check, then HeapProfiler.takeHeapSnapshot streamed over the websocket
  cdp      capture_snapshot(method="cdp"): the headroom check reads the heap as it is first
           (Runtime.getHeapUsage, no GC; the GC'd reading only when that does not fit), then
           the same stream
  target   capture_snapshot(method="target"): the same check, then v8.writeHeapSnapshot
           evaluated in the target into a private 0700 folder beside the output, checked and
           renamed into place

Per capture: wall seconds of the capture (headroom check included), of which the GCs of
the headroom reading ("gc") and the snapshot call itself ("snap"); the target's heap used
(garbage included: the bench forces no GC of its own) and RSS before; its peak RSS during the
capture, the larger of psutil polling every 5 ms and VmHWM after resetting it
(/proc/PID/clear_refs ← 5, when allowed); the file's size; CPU seconds of this Python process
(the websocket and JSON work of the stream).
Then per method the median capture and the median series (sum of the captures of a trial).
Timings are wall clock; other jobs on the same cores make them noisy (load average printed).
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

import psutil  # noqa: E402

from leaksleuth.errors import HeadroomError  # noqa: E402
from leaksleuth.flows.demo import DEFAULT_LEAKS, demo_launch, demo_url  # noqa: E402
from leaksleuth.heap.parse import load_snapshot  # noqa: E402
from leaksleuth.live.capture import (  # noqa: E402
    capture_method,
    capture_snapshot,
    headroom,
    script_urls,
    stream_over_cdp,
    write_private,
)
from leaksleuth.live.cdp import InspectorSession  # noqa: E402
from leaksleuth.live.connect import launched  # noqa: E402
from leaksleuth.live.load import LoadDriver  # noqa: E402
from leaksleuth.live.readings import read_memory  # noqa: E402
from leaksleuth.options import LoadSpec  # noqa: E402
from leaksleuth.units import fmt_bytes  # noqa: E402

MB = 1 << 20


@dataclass
class Capture:
    method: str
    trial: int
    k: int
    requests: int
    seconds: float
    gc_seconds: float
    snap_seconds: float
    heap_used: int
    heap_after: int  # right after: V8 collected all garbage before the snapshot, ~ the GC'd heap
    rss_before: int
    peak_rss: int
    size: int
    py_cpu: float
    used: str


class PeakRss:
    """The highest RSS of `pid` while it runs: psutil polled every 5 ms, and VmHWM (reset first)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.proc = psutil.Process(pid)
        self.peak = 0
        self.hwm_reset = False
        try:
            Path(f"/proc/{pid}/clear_refs").write_text("5")
            self.hwm_reset = True
        except OSError:
            pass
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self.proc.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(0.005)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join()
        if self.hwm_reset:
            for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    self.peak = max(self.peak, int(line.split()[1]) * 1024)
        return self.peak


def timed_sends(session: InspectorSession, spent: dict[str, float]) -> Callable[[], None]:
    """Add the seconds of each CDP method sent on `session` to `spent`; returns the undo."""
    original = session.send

    async def send(method: str, params: dict[str, Any] | None = None, timeout: float | None = 120.0) -> dict[str, Any]:
        t = time.monotonic()
        try:
            return await original(method, params, timeout)
        finally:
            spent[method] = spent.get(method, 0.0) + time.monotonic() - t

    session.send = send  # type: ignore[method-assign]
    return lambda: delattr(session, "send")


async def capture_as_before(session: InspectorSession, pid: int, path: Path) -> None:
    """capture_snapshot before target-side writes: GC'd reading, headroom, stream over CDP."""
    reading = await read_memory(session, 0)
    if not headroom(pid, reading.heap_used).enough:
        raise HeadroomError(f"no room for a snapshot of pid {pid}")
    urls = await script_urls(session)
    await stream_over_cdp(session, path)
    write_private(path.with_name(path.name + ".scripts.json"), json.dumps({"pid": pid, "scripts": urls}))


async def one_trial(method: str, trial: int, args: argparse.Namespace, out: Path) -> list[Capture]:
    launch = demo_launch(args.leaks)
    port = int(launch.env["PORT"])
    found: list[Capture] = []
    async with launched(launch, port) as opened:
        i = opened.inspected[0]
        pid = i.process.pid
        async with LoadDriver(LoadSpec((demo_url(launch),), concurrency=8)) as driver:
            await driver.send(args.requests)
            for k in range(args.snapshots):
                if k:
                    await driver.send(args.between)
                heap = int((await i.session.send("Runtime.getHeapUsage"))["usedSize"])  # no GC: it would help the capture
                rss = psutil.Process(pid).memory_info().rss
                path = out / f"{method}-t{trial}-s{k}.heapsnapshot"
                spent: dict[str, float] = {}
                undo = timed_sends(i.session, spent)
                peak = PeakRss(pid)
                cpu, t = time.process_time(), time.monotonic()
                try:
                    if method == "before":
                        await capture_as_before(i.session, pid, path)
                    else:
                        await capture_snapshot(i.session, pid, path, method=method)  # type: ignore[arg-type]
                finally:
                    seconds, cpu = time.monotonic() - t, time.process_time() - cpu
                    top = peak.stop()
                    undo()
                snap = spent.get("HeapProfiler.takeHeapSnapshot", 0.0) or spent.get("Runtime.evaluate", 0.0)
                after = int((await i.session.send("Runtime.getHeapUsage"))["usedSize"])
                found.append(Capture(
                    method, trial, k, driver.tally.requests, seconds, spent.get("HeapProfiler.collectGarbage", 0.0),
                    snap, heap, after, rss, top, path.stat().st_size, cpu,
                    "cdp" if method == "before" else capture_method(i.session)[0] or "?",
                ))
                c = found[-1]
                print(f"{method:6s} trial {trial} snapshot {k + 1}  {c.requests:5d} req  {c.seconds:6.2f} s "
                      f"(gc {c.gc_seconds:4.2f}, snap {c.snap_seconds:5.2f})  heap {c.heap_used / MB:5.1f} MB  "
                      f"rss {c.rss_before / MB:5.0f} → peak {c.peak_rss / MB:5.0f} MB  file {c.size / MB:5.1f} MB  "
                      f"py cpu {c.py_cpu:4.2f} s  [{c.used}]", flush=True)
                if args.check and k == 0:
                    snap_nodes = load_snapshot(path).node_count
                    print(f"         parsed by load_snapshot: {snap_nodes:,} nodes", flush=True)
                if not args.keep:
                    path.unlink()
                    path.with_name(path.name + ".scripts.json").unlink()
    return found


async def demo_phases(leaks: str) -> dict[str, float]:
    """`leaksleuth demo`'s hunt, timed by phase from its progress reports."""
    from leaksleuth import api
    from leaksleuth.flows.demo import demo_hunt_spec, demo_protocol
    from leaksleuth.model import Progress

    launch = demo_launch(leaks)
    t0 = time.monotonic()
    first: dict[str, float] = {}  # phase → when its first report came

    def progress(p: Progress) -> None:
        first.setdefault(p.phase, time.monotonic())

    result = await api.hunt_async(launch, demo_url(launch), demo_protocol(leaks), demo_hunt_spec(), project=launch.cwd,
                                  on_progress=progress)
    end = time.monotonic()
    edges = [("launch + ready + first reading", t0), ("settle + warm-up", first.get("settle", t0)),
             ("rounds", first.get("warmup", t0)), ("snapshots (+ requests between)", first.get("snapshot", end)),
             ("analysis + evidence", first.get("analysis", end)), ("", end)]
    marks = {name: later - at for (name, at), (_, later) in itertools.pairwise(edges)}
    marks["(capture alone)"] = result.snapshot_seconds
    marks["(analysis alone)"] = result.analysis_seconds
    marks["total"] = end - t0
    culprits = ", ".join(f"{c.kind} {fmt_bytes(c.bytes_per_request)}/req" for c in result.culprits)
    print(f"culprits: {culprits}")
    return marks


def median(xs: list[float]) -> float:
    return statistics.median(xs) if xs else float("nan")


async def main_async(args: argparse.Namespace) -> None:
    print(f"load average {os.getloadavg()[0]:.2f}, {os.cpu_count()} cores, node {args.node_version}")
    out = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="capture-bench-"))
    out.mkdir(parents=True, exist_ok=True)
    captures: list[Capture] = []
    try:
        for trial in range(args.trials):
            for method in args.methods.split(","):
                captures += await one_trial(method, trial, args, out)
    finally:
        if not args.keep:
            for p in out.iterdir():
                p.unlink()
            out.rmdir()
    if captures:
        summary(captures, args)
    if args.demo:
        print("\n`leaksleuth demo` by phase (seconds):")
        for phase, seconds in (await demo_phases(args.leaks)).items():
            print(f"  {phase:32s} {seconds:6.2f}")
    print(f"load average {os.getloadavg()[0]:.2f}")


def summary(captures: list[Capture], args: argparse.Namespace) -> None:
    """Per method: medians of a capture, of a series, of the snapshot call; the peak RSS of a
    fresh target's first capture above its RSS before (what the headroom check must cover:
    later captures find the first one's freed memory still in the process), and the highest."""
    print("\nmethod  median capture  median series          median snap  1st capture: peak − before  peak RSS (max)  file")
    base_series = None
    for method in args.methods.split(","):
        cs = [c for c in captures if c.method == method]
        series = [sum(c.seconds for c in cs if c.trial == t) for t in range(args.trials)]
        base_series = base_series or median(series)
        first_rise = median([c.peak_rss - c.rss_before for c in cs if c.k == 0])
        heap = median([c.heap_after for c in cs if c.k == 0])
        print(f"{method:6s}  {median([c.seconds for c in cs]):10.2f} s  {median(series):10.2f} s "
              f"({median(series) / base_series:4.0%})  {median([c.snap_seconds for c in cs]):8.2f} s  "
              f"{first_rise / MB:8.0f} MB ({first_rise / heap:4.1f} × GC'd heap)  "
              f"{max(c.peak_rss for c in cs) / MB:10.0f} MB"
              f"  {median([c.size for c in cs]) / MB:8.1f} MB")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--methods", default="before,cdp,target", help="comma-separated: before, cdp, target")
    ap.add_argument("--requests", type=int, default=1262, help="requests before the first snapshot")
    ap.add_argument("--between", type=int, default=100, help="requests between snapshots")
    ap.add_argument("--snapshots", type=int, default=3)
    ap.add_argument("--trials", type=int, default=2, help="0: no capture trials (with --demo)")
    ap.add_argument("--leaks", default=DEFAULT_LEAKS)
    ap.add_argument("--keep", default=None, help="keep the snapshot files in this folder")
    ap.add_argument("--check", action="store_true", help="parse each trial's first snapshot with load_snapshot")
    ap.add_argument("--demo", action="store_true", help="also time `leaksleuth demo`'s hunt by phase")
    args = ap.parse_args()
    args.node_version = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False).stdout.strip()
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
