"""Per-route benchmark: rank 10 routes in one `--per-route` run versus measuring each route alone.

    .venv/bin/python bench/routes_bench.py            # one per-route run + 10 single-route runs (~3-5 min)
    .venv/bin/python bench/routes_bench.py --repeat 3 # the per-route run 3 times (its spread)

Subject: the demo SSR app (demo/ssr-app/server.js) with LEAKS=routes: ten routes, eight clean
(seven Vue SSR pages and /api/health) and two that leak at different rates (GET /search keeps
~1.3 KB per request, POST /api/cart ~6 KB). Both sides use the default ProtocolSpec (threshold
256 B/request, warm-up 300, 6-30 rounds, 60 s budget; per-route scales the cap on rounds and the
budget with the routes, see live/route_rounds.py) and 8 concurrent virtual users on 127.0.0.1.

Printed per route: bytes/request with its 95% interval and verdict from the per-route run, the
same from that route measured alone, and their ratio; then rounds and wall seconds (launch,
readiness, settle, warm-up, rounds, stop) of the per-route run against the sum over the ten
single-route runs. Timings are wall clock on a shared machine: noisy.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from leaksleuth import Launch, LoadSpec, Measurement, ProtocolSpec, RequestSpec, measure_async
from leaksleuth.errors import LeakSleuthError
from leaksleuth.live.discover import free_port
from leaksleuth.units import fmt_bytes

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "demo" / "ssr-app"
PATHS = ["/", "/about", "/search?q=product", "/contact", "/products", "/api/health", "/blog", "POST /api/cart",
         "/faq", "/pricing"]


def requests_on(base: str) -> tuple[RequestSpec, ...]:
    out = []
    for p in PATHS:
        if p.startswith("POST "):
            out.append(RequestSpec(base + p[5:], "POST", (("Content-Type", "application/json"),),
                                   body='{"item": "sku-{n}", "qty": 1}', body_kind="json"))
        else:
            out.append(RequestSpec(base + p))
    return tuple(out)


@dataclass
class Run:
    measurement: Measurement | None
    wall: float
    error: str = ""


async def run(requests: tuple[RequestSpec, ...] | None, port: int, per_route: bool, logs: Path, tag: str) -> Run:
    base = f"http://127.0.0.1:{port}"
    load = LoadSpec(requests=requests or requests_on(base), per_route=per_route)
    launch = Launch(["node", "server.js"], cwd=DEMO, env={"PORT": str(port), "LEAKS": "routes"}, ready_timeout=60.0,
                    log_file=logs / f"{tag}.log")
    started = time.monotonic()
    try:
        m = await measure_async(launch, load, ProtocolSpec())
    except (LeakSleuthError, OSError) as exc:
        return Run(None, time.monotonic() - started, f"{type(exc).__name__}: {exc}")
    return Run(m, time.monotonic() - started)


def say(msg: str) -> None:
    print(f"[routes_bench] {msg}", file=sys.stderr, flush=True)


def fig(value: float, ci: tuple[float, float]) -> str:
    if math.isnan(value):
        return "—"
    return f"{fmt_bytes(value, signed=True):>9} [{fmt_bytes(ci[0])}, {fmt_bytes(ci[1])}]"


async def main_async(args: argparse.Namespace) -> None:
    load0 = os.getloadavg()
    logs = Path(tempfile.mkdtemp(prefix="routes_bench-"))
    print(f"leaksleuth per-route benchmark: demo/ssr-app LEAKS=routes, {len(PATHS)} routes, {os.cpu_count()} CPUs, "
          f"load average at start {load0[0]:.2f} {load0[1]:.2f} {load0[2]:.2f}")
    print("default ProtocolSpec, 8 virtual users; wall clock on a shared machine: noisy\n")
    per_route: list[Run] = []
    for k in range(args.repeat):
        say(f"per-route run {k + 1}/{args.repeat}")
        per_route.append(await run(None, free_port(), True, logs, f"per-route-{k}"))
    alone: dict[str, Run] = {}
    if not args.skip_alone:
        for i, path in enumerate(PATHS):
            port = free_port()
            say(f"alone {i + 1}/{len(PATHS)}: {path}")
            alone[path] = await run((requests_on(f"http://127.0.0.1:{port}")[i],), port, False, logs, f"alone-{i}")

    first = per_route[0]
    if first.measurement is None:
        print(f"per-route run failed: {first.error}")
        return
    names = {p: (p if p.startswith("POST ") else "GET " + p.split("?")[0]) for p in PATHS}
    rows = {r.route: r for r in first.measurement.routes}
    print(f"{'route':<16} {'per-route: heap/req [95% CI]':<34} {'verdict':<13} {'alone: heap/req [95% CI]':<34} "
          f"{'verdict':<13} ratio")
    for path in PATHS:
        r = rows.get(names[path])
        a = alone.get(path)
        am = a.measurement if a else None
        ratio = (f"{r.bytes_per_request / am.bytes_per_request:5.2f}"
                 if r and am and am.verdict == "leak" and am.bytes_per_request > 0 else "  -  ")
        print(f"{names[path]:<16} {fig(r.bytes_per_request, r.ci95) if r else 'missing':<34} "
              f"{r.verdict if r else '':<13} {fig(am.bytes_per_request, am.ci95) if am else (a.error if a else ''):<34} "
              f"{am.verdict if am else '':<13} {ratio}")
    print()
    for k, pr in enumerate(per_route):
        m = pr.measurement
        if m is None:
            print(f"per-route run {k + 1}: failed: {pr.error}")
            continue
        leaks = ", ".join(f"{r.route} {fmt_bytes(r.bytes_per_request)}" for r in m.routes if r.verdict == "leak")
        others = sum(r.verdict == "no leak" for r in m.routes)
        print(f"per-route run {k + 1}: {m.rounds} rounds, {m.requests} requests, {pr.wall:.1f} s wall "
              f"({m.seconds:.1f} s protocol); leaks: {leaks}; {others} routes no leak; "
              f"confirmation: {'agrees' if m.confirmation and m.confirmation.agrees else m.confirmation}")
    if alone:
        done = [a for a in alone.values() if a.measurement is not None]
        rounds = sum(a.measurement.rounds for a in done if a.measurement)
        reqs = sum(a.measurement.requests for a in done if a.measurement)
        wall = sum(a.wall for a in alone.values())
        proto = sum(a.measurement.seconds for a in done if a.measurement)
        print(f"each route alone: {len(done)}/{len(alone)} runs, {rounds} rounds, {reqs} requests, {wall:.1f} s wall "
              f"({proto:.1f} s protocol)")
    load1 = os.getloadavg()
    print(f"\nload average at end {load1[0]:.2f} {load1[1]:.2f} {load1[2]:.2f}; target logs in {logs}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=1, help="per-route runs (default 1)")
    parser.add_argument("--skip-alone", action="store_true", help="only the per-route run(s)")
    asyncio.run(main_async(parser.parse_args()))


if __name__ == "__main__":
    main()
