"""Measurement benchmark: leaksleuth's `measure` on the synthetic leaking server.

    .venv/bin/python bench/measure_bench.py            # full run (~5-10 min on 2 cores)
    .venv/bin/python bench/measure_bench.py --runs 20  # 20 control runs for the false-positive count
    .venv/bin/python bench/measure_bench.py --quick    # smoke run: 2 sizes, 2 control runs, short protocol

Subject: demo/synthetic/server.js (plain node http), which retains about LEAK_BYTES of JS
heap per request. For LEAK_BYTES in 0 (control), 1 KB, 10 KB, 100 KB it runs
`leaksleuth.measure_async` with the default ProtocolSpec (threshold 256 B/request) on a free
127.0.0.1 port and prints, per size:

  seconds to verdict   wall time from launching the server to the Measurement (launch,
                       readiness, inspector connect, settle, warm-up, rounds, stop)
  requests used        every request leaksleuth sent, warm-up included; and rounds
  measured             bytes/request and its 95% interval, as leaksleuth reports them
  truth                an independent `node --expose-gc` in-process harness: the same
                       server module (createServer), requests from a keep-alive agent in
                       the same process, double forced GC, heapUsed minus code space,
                       least-squares slope. LEAK_BYTES (nominal) is shown next to it.
  rel. error           (measured - truth) / truth; for the control (truth ~ 0) the
                       absolute error in bytes is shown instead.

then N control runs (LEAK_BYTES=0; --runs, default 10) and counts their verdicts: a
"leak" is a false positive, "inconclusive" is counted separately. Peak RSS is that of this
Python process (resource.getrusage), which holds leaksleuth, the load driver and the fits.

Timings are wall clock on whatever machine runs this; with other jobs on the same cores
they are noisy (the load average is printed at start and end). Exit status is 0 even when
a run fails: failures are reported in the table.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from leaksleuth import Launch, LoadSpec, ProtocolSpec, measure_async  # noqa: E402
from leaksleuth.errors import LeakSleuthError  # noqa: E402

SYNTH = ROOT / "demo" / "synthetic"
SERVER = SYNTH / "server.js"
SIZES = (0, 1024, 10240, 102400)
QUICK_SIZES = (0, 10240)

# Independent ground truth: the synthetic server module measured in-process with forced GC.
# Prints one JSON line {"readings": [[requests, heapUsed - code space], ...]}.
GROUND_TRUTH_JS = r"""
'use strict';
const http = require('http');
const v8 = require('v8');
const [serverPath, leakArg, warmupArg, perRoundArg, roundsArg, concArg] = process.argv.slice(1);
const { createServer } = require(serverPath);
const leak = Number(leakArg), warmup = Number(warmupArg), perRound = Number(perRoundArg);
const rounds = Number(roundsArg), concurrency = Number(concArg);
const tick = () => new Promise((r) => setImmediate(r));
function heap() {
  global.gc(); global.gc();
  let code = 0;
  for (const s of v8.getHeapSpaceStatistics()) if (s.space_name.startsWith('code_')) code += s.space_used_size;
  return process.memoryUsage().heapUsed - code;
}
function get(agent, port) {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error('HTTP ' + res.statusCode))));
    });
    req.on('error', reject);
  });
}
async function send(agent, port, n) {
  let next = 0;
  const worker = async () => { while (next < n) { next++; await get(agent, port); } };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
}
(async () => {
  const server = createServer(leak);
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address();
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  await send(agent, port, warmup);
  await tick();
  const readings = [[0, heap()]];
  for (let i = 1; i <= rounds; i++) {
    await send(agent, port, perRound);
    await tick();
    readings.push([i * perRound, heap()]);
  }
  agent.destroy();
  server.closeAllConnections();
  server.close();
  process.stdout.write(JSON.stringify({ readings }) + '\n');
})().catch((e) => { console.error(e); process.exit(1); });
"""


@dataclass
class Row:
    leak: int
    seconds: float
    requests: int = 0
    rounds: int = 0
    verdict: str = "-"
    measured: float = float("nan")
    ci_low: float = float("nan")
    ci_high: float = float("nan")
    error: str | None = None
    peak_rss_mb: float = 0.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def kib(b: float) -> str:
    if math.isnan(b):
        return "-"
    return f"{b:,.0f}"


def ground_truth(leak: int, quick: bool) -> float:
    """Least-squares bytes/request of heap (code space excluded) from `node --expose-gc`."""
    per_round = int(min(1000, max(50, (3 << 20) / leak))) if leak else 1000
    rounds = 4 if quick else 8
    out = subprocess.run(
        ["node", "--expose-gc", "-e", GROUND_TRUTH_JS, str(SERVER), str(leak), "300", str(per_round), str(rounds), "8"],
        capture_output=True, text=True, timeout=300, check=True,
    )
    readings = json.loads(out.stdout.strip().splitlines()[-1])["readings"]
    xs = [float(r[0]) for r in readings]
    ys = [float(r[1]) for r in readings]
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sum((x - mx) ** 2 for x in xs)


async def one_run(leak: int, spec: ProtocolSpec, logs: Path, tag: str) -> Row:
    port = free_port()
    started = time.monotonic()
    try:
        launch = Launch(["node", str(SERVER)], cwd=SYNTH, env={"PORT": str(port), "LEAK_BYTES": str(leak)},
                        ready_timeout=30.0, log_file=logs / f"{tag}.log")
        m = await measure_async(launch, LoadSpec((f"http://127.0.0.1:{port}/",)), spec)
    except (LeakSleuthError, OSError) as exc:  # a failed run is a result, not the end of the benchmark
        return Row(leak, time.monotonic() - started, error=f"{type(exc).__name__}: {exc}", peak_rss_mb=peak_rss_mb())
    return Row(
        leak, time.monotonic() - started, m.requests, m.rounds, m.verdict,
        m.bytes_per_request, m.ci95[0], m.ci95[1], peak_rss_mb=peak_rss_mb(),
    )


def say(msg: str) -> None:
    print(f"[measure_bench] {msg}", file=sys.stderr, flush=True)


async def main_async(args: argparse.Namespace, node: str) -> None:
    spec = ProtocolSpec()
    if args.quick:  # a smoke run: shorter protocol, not representative figures
        spec = ProtocolSpec(warmup_requests=100, min_rounds=4, max_rounds=8, time_budget=10.0)
    sizes = QUICK_SIZES if args.quick else SIZES
    runs = args.runs if args.runs is not None else (2 if args.quick else 10)
    load0 = os.getloadavg()
    logs = Path(tempfile.mkdtemp(prefix="measure_bench-"))
    print(f"leaksleuth measure benchmark: subject {SERVER.relative_to(ROOT)}, node {node}, "
          f"{os.cpu_count()} CPUs, load average at start {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}")
    print(f"protocol: {'QUICK (not default) ' if args.quick else 'default '}ProtocolSpec "
          f"(threshold {spec.threshold:.0f} B/req, warm-up {spec.warmup_requests}, rounds {spec.min_rounds}-"
          f"{spec.max_rounds}, budget {spec.time_budget:.0f} s), load concurrency 8 on 127.0.0.1")
    print("timings are wall clock on a shared machine (other jobs may run on the same cores): noisy.")
    print()

    rows: list[tuple[Row, float | None]] = []
    for leak in sizes:
        say(f"LEAK_BYTES={leak}: ground truth (node --expose-gc)")
        try:
            truth: float | None = await asyncio.to_thread(ground_truth, leak, args.quick)
        except (subprocess.SubprocessError, OSError, ValueError, KeyError, IndexError, ZeroDivisionError) as exc:
            say(f"ground truth failed: {exc}")
            truth = None
        say(f"LEAK_BYTES={leak}: leaksleuth measure")
        rows.append((await one_run(leak, spec, logs, f"size-{leak}"), truth))

    hdr = (f"{'LEAK_BYTES':>10} {'verdict':>12} {'s to verdict':>12} {'requests':>8} {'rounds':>6} "
           f"{'measured B/req':>14} {'95% CI B/req':>21} {'truth B/req':>11} {'rel.err vs truth':>16} "
           f"{'rel.err vs nominal':>18} {'py peak RSS MB':>14}")
    print(hdr)
    print("-" * len(hdr))
    for r, truth in rows:
        if r.error:
            print(f"{r.leak:>10} {'FAILED':>12} {r.seconds:>12.1f}  {r.error}")
            continue
        ci = f"[{kib(r.ci_low)}, {kib(r.ci_high)}]"
        if truth is None:
            err_t = "-"
        elif r.leak == 0:
            err_t = f"{r.measured - truth:+,.0f} B abs"
        else:
            err_t = f"{(r.measured - truth) / truth:+.1%}"
        err_n = f"{(r.measured - r.leak) / r.leak:+.1%}" if r.leak else f"{r.measured:+,.0f} B abs"
        print(f"{r.leak:>10} {r.verdict:>12} {r.seconds:>12.1f} {r.requests:>8} {r.rounds:>6} "
              f"{kib(r.measured):>14} {ci:>21} {kib(truth) if truth is not None else '-':>11} {err_t:>16} "
              f"{err_n:>18} {r.peak_rss_mb:>14.1f}")
    print()

    controls: list[Row] = []
    for i in range(runs):
        say(f"control run {i + 1}/{runs}")
        controls.append(await one_run(0, spec, logs, f"control-{i + 1}"))
    counts = Counter("error" if r.error else r.verdict for r in controls)
    ok = [r for r in controls if not r.error]
    print(f"{'control run':>11} {'verdict':>12} {'s to verdict':>12} {'requests':>8} {'rounds':>6} "
          f"{'measured B/req':>14} {'95% CI B/req':>21}")
    for i, r in enumerate(controls, 1):
        if r.error:
            print(f"{i:>11} {'FAILED':>12} {r.seconds:>12.1f}  {r.error}")
        else:
            print(f"{i:>11} {r.verdict:>12} {r.seconds:>12.1f} {r.requests:>8} {r.rounds:>6} "
                  f"{kib(r.measured):>14} {f'[{kib(r.ci_low)}, {kib(r.ci_high)}]':>21}")
    print()
    load1 = os.getloadavg()
    med = statistics.median(r.seconds for r in ok) if ok else float("nan")
    print(f"load average at end {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}; peak RSS of this Python process "
          f"{peak_rss_mb():.1f} MB; server logs in {logs}")
    print(f"SUMMARY: false positives {counts['leak']}/{runs} control runs (verdict 'leak'); "
          f"inconclusive {counts['inconclusive']}, no leak {counts['no leak']}, failed {counts['error']}; "
          f"control median {med:.1f} s to verdict; "
          + ", ".join(
              f"{r.leak // 1024} KB: {r.verdict} in {r.seconds:.1f} s"
              + (f" ({(r.measured - t) / t:+.1%} vs truth)" if t else "")
              for r, t in rows if r.leak and not r.error
          ))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=None, help="control runs for the false-positive count (default 10)")
    ap.add_argument("--quick", action="store_true", help="smoke run: 2 sizes, 2 control runs, shorter protocol")
    args = ap.parse_args(argv)
    if shutil.which("node") is None:
        print("error: node is not on PATH", file=sys.stderr)
        return 0  # the benchmark reports, it does not fail a build
    node = subprocess.run(["node", "--version"], capture_output=True, text=True, check=False).stdout.strip()
    asyncio.run(main_async(args, node))
    return 0


if __name__ == "__main__":
    sys.exit(main())
