"""Passive watching benchmark: detection time, false alarms, and the cost on the target.

    .venv/bin/python bench/watch_bench.py                  # ~17 min on 2 cores
    .venv/bin/python bench/watch_bench.py --clean-runs 20  # more control runs

Subjects: tests/fixtures/fleet/service.js (plain node http + prom-client's default metrics and
an http_requests_total counter), every request keeping GARBAGE_BYTES=200000 for 2 s (a heavy
old-generation sawtooth: a major GC every few seconds), steady open-loop traffic from
tests/fixtures/fleet/traffic.js at --rate requests/s (loopback). Needs `make test`'s set-up
(the fixture's node_modules).

1. Detection: LEAK_BYTES=2048 (2 KB/request). `leaksleuth watch --pid N --passive` (inspector,
   never a GC) and `leaksleuth watch --metrics URL` (no inspector) run side by side, reading
   every 0.5 s; the figure is the time from the watch's start to its first "leak" verdict.
2. False alarms: --clean-runs runs of the same service with LEAK_BYTES=0, each watched for
   --seconds in both modes; a run counts as a false alarm if *any* reading said "leak".
3. Cost on the target: latency p50/p99 of the steady traffic (as the traffic generator
   measures it) with nothing attached, with `watch --pid --passive`, with
   `watch --metrics --serve`, and, for comparison, with the default watch that forces a GC
   before each reading; each for --cost-seconds, reading every 0.5 s (60× the default rate).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conftest import free_port  # noqa: E402
from tests.integration.fleet_env import (  # noqa: E402
    Procs,
    fixture_ready,
    start_service,
    start_traffic,
    traffic_summary,
)

PY = sys.executable


def watch(folder: Path, name: str, seconds: float, *args: str) -> subprocess.Popen[str]:
    out = open(folder / f"{name}.out", "w")  # noqa: SIM115 - the child writes it
    return subprocess.Popen(
        [PY, "-m", "leaksleuth.cli", "watch", "--interval", "0.5", "--window", "400", "--duration", f"{seconds:g}",
         "--json", str(folder / f"{name}.json"), *args],
        cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, text=True,
    )


def started(folder: Path, name: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while "heap" not in (folder / f"{name}.out").read_text() and time.monotonic() < deadline:
        time.sleep(0.1)


def first_leak(folder: Path, name: str) -> float | None:
    doc = json.loads((folder / f"{name}.json").read_text())
    return next((p["time"] for p in doc["points"] if p["verdict"] == "leak"), None)


def one_run(folder: Path, leak: int, seconds: float, rate: float, serve: bool = False) -> dict[str, float | None]:
    """A service watched in both modes at once; first-leak times (None: never said leak)."""
    procs = Procs()
    try:
        port = free_port()
        service = start_service(procs, port, {"GARBAGE_BYTES": "200000", "LEAK_BYTES": str(leak)})
        start_traffic(procs, [f"http://127.0.0.1:{port}/"], rate, seconds + 25, folder / "traffic.json")
        time.sleep(5)  # warm, as a service in production is
        passive = watch(folder, "passive", seconds, "--pid", str(service.pid), "--passive", "--escalate", "off")
        started(folder, "passive")
        extra = ["--serve", f"127.0.0.1:{free_port()}"] if serve else []
        metrics = watch(folder, "metrics", seconds, "--metrics", f"http://127.0.0.1:{port}/metrics", *extra)
        passive.wait(timeout=seconds + 120)
        metrics.wait(timeout=seconds + 120)
        return {"passive": first_leak(folder, "passive"), "metrics": first_leak(folder, "metrics")}
    finally:
        procs.stop_all()


def cost(folder: Path, mode: str, seconds: float, rate: float) -> dict[str, float]:
    procs = Procs()
    try:
        port = free_port()
        service = start_service(procs, port, {"GARBAGE_BYTES": "200000"})
        warm = start_traffic(procs, [f"http://127.0.0.1:{port}/"], rate, 5, folder / "warm.json")
        warm.wait(timeout=60)
        runner = None
        if mode == "passive":
            runner = watch(folder, "cost", seconds + 10, "--pid", str(service.pid), "--passive", "--escalate", "off")
        elif mode == "metrics+serve":
            runner = watch(folder, "cost", seconds + 10, "--metrics", f"http://127.0.0.1:{port}/metrics",
                           "--serve", f"127.0.0.1:{free_port()}")
        elif mode == "forced GC":
            runner = watch(folder, "cost", seconds + 10, "--pid", str(service.pid), "--escalate", "off")
        if runner is not None:
            started(folder, "cost")
        load = start_traffic(procs, [f"http://127.0.0.1:{port}/"], rate, seconds, folder / "load.json")
        load.wait(timeout=seconds + 60)
        time.sleep(0.6)
        if runner is not None:
            runner.wait(timeout=seconds + 60)
        return traffic_summary(folder / "load.json")
    finally:
        procs.stop_all()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--leak-runs", type=int, default=3)
    ap.add_argument("--clean-runs", type=int, default=10)
    ap.add_argument("--seconds", type=float, default=60.0, help="watching per run")
    ap.add_argument("--leak-seconds", type=float, default=90.0)
    ap.add_argument("--rate", type=float, default=100.0, help="requests/s of steady traffic")
    ap.add_argument("--cost-seconds", type=float, default=30.0)
    ap.add_argument("--cost-repeats", type=int, default=3, help="rounds of the four cost runs (interleaved)")
    ap.add_argument("--only", choices=["detection", "false-alarms", "cost"], default=None)
    args = ap.parse_args()
    if not fixture_ready():
        sys.exit("run `make test` first: tests/fixtures/fleet needs its node_modules")
    print(f"load average {os.getloadavg()[0]:.1f}; {args.rate:g} requests/s; reading every 0.5 s", flush=True)
    with tempfile.TemporaryDirectory(prefix="leaksleuth-watch-bench-") as tmp:
        folder = Path(tmp)
        if args.only in (None, "detection"):
            detection(folder, args)
        if args.only in (None, "false-alarms"):
            false_alarms(folder, args)
        if args.only in (None, "cost"):
            costs(folder, args)
    print(f"\nload average {os.getloadavg()[0]:.1f}")


def detection(folder: Path, args: argparse.Namespace) -> None:
    print("\n1. detection of a 2 KB/request leak (seconds from the watch's start to 'leak')", flush=True)
    found: dict[str, list[float | None]] = {"passive": [], "metrics": []}
    for k in range(args.leak_runs):
        r = one_run(folder, 2048, args.leak_seconds, args.rate)
        for mode, t in r.items():
            found[mode].append(t)
        print(f"   run {k + 1}: passive {r['passive']}, metrics {r['metrics']}", flush=True)
    for mode, times in found.items():
        hit = sorted(t for t in times if t is not None)
        median = hit[len(hit) // 2] if hit else None
        print(f"   {mode:8s}: found in {len(hit)}/{len(times)} runs, median {median and round(median)} s, "
              f"all {[t and round(t) for t in times]}", flush=True)


def false_alarms(folder: Path, args: argparse.Namespace) -> None:
    print(f"\n2. false alarms on a clean sawtooth service ({args.clean_runs} runs × {args.seconds:g} s)", flush=True)
    alarms = {"passive": 0, "metrics": 0}
    for k in range(args.clean_runs):
        r = one_run(folder, 0, args.seconds, args.rate)
        for mode, t in r.items():
            alarms[mode] += t is not None
        said = {m: f"LEAK at {t:.0f} s" if t is not None else "quiet" for m, t in r.items()}
        print(f"   run {k + 1}: passive {said['passive']}, metrics {said['metrics']}", flush=True)
    for mode, n in alarms.items():
        print(f"   {mode:8s}: {n} false alarm(s) in {args.clean_runs} runs", flush=True)


def costs(folder: Path, args: argparse.Namespace) -> None:
    print(f"\n3. cost on the target: latency of {args.rate:g} requests/s for {args.cost_seconds:g} s, "
          f"{args.cost_repeats} interleaved rounds (median of the rounds)", flush=True)
    modes = ("nothing attached", "passive", "metrics+serve", "forced GC")
    seen: dict[str, list[dict[str, float]]] = {m: [] for m in modes}
    for k in range(args.cost_repeats):
        for mode in modes:
            s = cost(folder, mode, args.cost_seconds, args.rate)
            seen[mode].append(s)
            print(f"   round {k + 1} {mode:17s} p50 {s['p50_ms']:.2f} ms  p99 {s['p99_ms']:.2f} ms  "
                  f"({s['sent']:.0f} requests, {s['errors']:.0f} errors)", flush=True)
    for mode in modes:
        p50 = statistics.median(s["p50_ms"] for s in seen[mode])
        p99 = statistics.median(s["p99_ms"] for s in seen[mode])
        print(f"   {mode:17s} median p50 {p50:.2f} ms  median p99 {p99:.2f} ms", flush=True)

if __name__ == "__main__":
    main()
