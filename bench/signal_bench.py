"""Signal benchmark: does anything outlive a leaksleuth run that is stopped from outside?

    .venv/bin/python bench/signal_bench.py                    # 20 SIGTERM runs + 6 kill -9 runs (~6 min)
    .venv/bin/python bench/signal_bench.py --runs 4 --kill-runs 2 --seed 7

SIGTERM runs: `leaksleuth measure` or `hunt` on the demo app (Express `server.js` or Egg
`egg-server.js`: master, agent, 2 workers; LEAKS=bus), alternating, each sent SIGTERM at a
random moment between 0.5 s and 22 s after the CLI started (start-up, settle, warm-up, rounds,
snapshots, analysis). Right after leaksleuth exits it counts, for that run:

  procs     processes of the run still alive (the node tree, the watchdog; tagged by env)
  listen    listening sockets of the run's node processes (the app port, the inspectors)
  snaps     .heapsnapshot / .part / hunt folders left in the run's TMPDIR
  exit      leaksleuth's exit code (143 expected; 0-3 when the run had finished first)
  stderr    non-empty stderr lines (1 expected), and whether a traceback was printed

kill -9 runs: the same, but leaksleuth is killed with SIGKILL (nothing of ours can clean up):
two in three launch the demo (the watchdog must end the tree and remove the snapshot folder),
one in three attaches with --pid to a server we started (the guard evaluated in the target must
close the inspector we opened), each killed at a random moment 3–20 s after the start. 5 s after
the kill it counts the inspectors still listening (and, if any, waits until they close: a target
frozen in a heap snapshot runs no JS, so its guard fires only once the snapshot is written), the
processes of a launched run still alive, and the snapshot files left.

Everything runs on 127.0.0.1, one run at a time (the machine has 2 cores).
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
DEMO = ROOT / "demo" / "ssr-app"
sys.path.insert(0, str(ROOT / "src"))

from leaksleuth.live.discover import free_port, listening_ports  # noqa: E402

LEAKSLEUTH = [sys.executable, "-m", "leaksleuth.cli"]
ENTRIES = {"express": ["node", "server.js"], "egg": ["node", "egg-server.js"]}


@dataclass
class Outcome:
    kind: str
    phase: str
    delay: float
    exit: int | None
    procs: int
    listen: int
    snaps: int
    stderr_lines: int
    traceback: bool
    closed_after: float | None = None  # kill -9: when the last inspector closed, if not within 5 s


def marked(mark: str) -> list[psutil.Process]:
    found = []
    for p in psutil.process_iter(["cmdline"]):
        try:
            if p.environ().get("LEAKSLEUTH_TEST_MARK") == mark and p.status() != psutil.STATUS_ZOMBIE:
                found.append(p)
        except psutil.Error:
            continue
    return found


def node_pids(mark: str) -> set[int]:
    out = set()
    for p in marked(mark):
        try:
            if p.name() == "node":
                out.add(p.pid)
        except psutil.Error:
            continue
    return out


def listening_of(pids: set[int]) -> set[tuple[int, int]]:
    return {(pid, port) for pid in pids for port in listening_ports(pid)}


def snapshot_files(tmp: Path) -> list[Path]:
    return [p for p in tmp.rglob("*") if p.name.endswith((".heapsnapshot", ".part"))
            or p.name.startswith("leaksleuth-hunt-")]


def pids_until(proc: subprocess.Popen[bytes], mark: str, seconds: float) -> set[int]:
    """The marked node processes seen while `proc` runs, for up to `seconds`."""
    seen: set[int] = set()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        seen |= node_pids(mark)
        time.sleep(0.1)
    return seen


def phase_of(out: Path) -> str:
    lines = [x.strip() for x in out.read_text(errors="replace").splitlines() if x.strip()]
    if not lines:
        return "start-up"
    last = lines[-1].split()[0]
    return {"settle": "settle", "warmup": "warm-up", "round": "rounds", "snapshot": "snapshots",
            "analysing": "analysis"}.get(last, "done" if "Verdict" in " ".join(lines[-3:]) else last[:10])


def start(args: list[str], env: dict[str, str], tmp: Path, out: Path, err: Path) -> subprocess.Popen[bytes]:
    full = {**os.environ, "TMPDIR": str(tmp), "COLUMNS": "200", "PYTHONPATH": str(ROOT / "src"), **env}
    with open(out, "wb") as o, open(err, "wb") as e:
        return subprocess.Popen([*LEAKSLEUTH, *args], cwd=DEMO, env=full, stdout=o, stderr=e,
                                stdin=subprocess.DEVNULL, start_new_session=True)


def sigterm_run(k: int, rng: random.Random, base: Path) -> Outcome:
    app = "express" if k % 2 == 0 else "egg"
    command = "measure" if (k // 2) % 2 == 0 else "hunt"
    mark = f"sigbench-{os.getpid()}-{k}"
    tmp = base / f"run{k}"
    tmp.mkdir()
    out, err = base / f"run{k}.out", base / f"run{k}.err"
    port = free_port()
    args = [command, "--url", f"http://127.0.0.1:{port}/", "--warmup", "300", "--min-rounds", "30", "--rounds", "30"]
    if command == "hunt":
        args = [command, "--url", f"http://127.0.0.1:{port}/", "--warmup", "300", "--min-rounds", "6",
                "--rounds", "10", "--between", "300"]
    env = {"PORT": str(port), "LEAKS": "bus", "LEAKSLEUTH_TEST_MARK": mark}
    delay = rng.uniform(0.5, 22.0)
    proc = start([*args, "--", *ENTRIES[app]], env, tmp, out, err)
    seen = pids_until(proc, mark, delay)
    phase = phase_of(out)
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
    try:
        code: int | None = proc.wait(timeout=60)
    except subprocess.TimeoutExpired:
        code = None
        proc.kill()
        proc.wait()
    procs = len(marked(mark))
    listen = len(listening_of(seen))
    snaps = len(snapshot_files(tmp))
    text = err.read_text(errors="replace")
    lines = len([x for x in text.splitlines() if x.strip()])
    for p in marked(mark):  # leave the machine clean for the next run, whatever happened
        try:
            p.kill()
        except psutil.Error:
            pass
    return Outcome(f"SIGTERM {command} {app}", phase, delay, code, procs, listen, snaps, lines, "Traceback" in text)


KILL_KINDS = [("express", False, "measure"), ("egg", False, "hunt"), ("express", True, "hunt"),
              ("express", False, "hunt"), ("egg", False, "measure"), ("express", True, "measure")]


def kill9_run(k: int, rng: random.Random, base: Path) -> Outcome:
    app, attach, command = KILL_KINDS[k % len(KILL_KINDS)]
    mark = f"sigbench-kill-{os.getpid()}-{k}"
    tmp = base / f"kill{k}"
    tmp.mkdir()
    out, err = base / f"kill{k}.out", base / f"kill{k}.err"
    port = free_port()
    env = {"PORT": str(port), "LEAKS": "bus", "LEAKSLEUTH_TEST_MARK": mark}
    server = None
    args = [command, "--url", f"http://127.0.0.1:{port}/", "--warmup", "300", "--min-rounds", "6", "--rounds", "30",
            *(["--between", "300"] if command == "hunt" else ["--min-rounds", "30"])]
    if attach:
        server = subprocess.Popen(ENTRIES[app], cwd=DEMO, env={**os.environ, **env}, stdout=subprocess.PIPE,
                                  stderr=subprocess.DEVNULL)
        assert server.stdout is not None
        while b"listening" not in server.stdout.readline():
            pass
        proc = start([*args, "--pid", str(server.pid)], {"LEAKSLEUTH_TEST_MARK": mark + "-cli"}, tmp, out, err)
    else:
        proc = start([*args, "--", *ENTRIES[app]], env, tmp, out, err)
    delay = rng.uniform(3.0, 20.0)
    seen = pids_until(proc, mark, delay)
    phase = phase_of(out)
    proc.kill()
    proc.wait()
    killed = time.monotonic()

    def inspectors() -> set[tuple[int, int]]:
        return {(pid, p) for pid, p in listening_of(seen) if p != port}

    time.sleep(5.0)  # the figure asked for: what still listens 5 s after a kill -9
    at_5s = inspectors()
    while inspectors() and time.monotonic() - killed < 60:  # and when the last one closed
        time.sleep(0.1)
    closed_after = time.monotonic() - killed if at_5s else None
    procs = 0 if attach else len(marked(mark))
    snaps = len(snapshot_files(tmp))
    if server is not None:
        alive = server.poll() is None
        server.kill()
        server.wait()
        procs = 0 if alive else 1  # here "procs" flags a target that did not survive
    for p in marked(mark) + marked(mark + "-cli"):
        try:
            p.kill()
        except psutil.Error:
            pass
    kind = f"kill -9 {command} {'--pid ' if attach else ''}{app}"
    return Outcome(kind, phase, delay, -9, procs, len(at_5s), snaps, 0, False, closed_after)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=20, help="SIGTERM runs")
    ap.add_argument("--kill-runs", type=int, default=6, help="kill -9 runs")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    print(f"load average at start: {os.getloadavg()[0]:.2f}", flush=True)
    results: list[Outcome] = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="signal-bench-") as base_name:
        base = Path(base_name)
        header = f"{'run':<34} {'signal at':>9} {'phase':<10} {'exit':>5} {'procs':>5} {'listen':>6} {'snaps':>5} {'stderr':>6}"
        print(header, flush=True)
        jobs = [("term", k) for k in range(args.runs)] + [("kill", k) for k in range(args.kill_runs)]
        for what, k in jobs:
            o = sigterm_run(k, rng, base) if what == "term" else kill9_run(k, rng, base)
            results.append(o)
            tb = " TB" if o.traceback else ""
            if o.closed_after is not None:
                tb += f"  (inspector closed {o.closed_after:.1f} s after the kill)"
            print(f"{o.kind:<34} {o.delay:>8.1f}s {o.phase:<10} {o.exit!s:>5} {o.procs:>5} {o.listen:>6} "
                  f"{o.snaps:>5} {o.stderr_lines:>6}{tb}", flush=True)
    term = [o for o in results if not o.kind.startswith("kill")]
    kill = [o for o in results if o.kind.startswith("kill")]
    print()
    print(f"SIGTERM runs: {len(term)} ({sum(o.exit == 143 for o in term)} exited 143, "
          f"{sum(o.exit in (0, 1, 2) for o in term)} had finished before the signal)")
    print(f"  leftover processes:        {sum(o.procs for o in term)}")
    print(f"  leftover listening sockets: {sum(o.listen for o in term)}")
    print(f"  leftover snapshot files:   {sum(o.snaps for o in term)}")
    print(f"  runs with stderr != 1 line: {sum(o.stderr_lines != 1 for o in term if o.exit == 143)}, "
          f"tracebacks: {sum(o.traceback for o in term)}")
    print(f"kill -9 runs: {len(kill)}")
    print(f"  inspectors still listening 5 s after: {sum(o.listen for o in kill)}")
    late = [o.closed_after for o in kill if o.closed_after is not None]
    if late:
        print(f"  ... closed at last after:             {', '.join(f'{t:.1f} s' for t in late)}"
              " (a target frozen in a heap snapshot runs no JS: its guard fires once the snapshot ends)")
    print(f"  processes of launched runs left:      {sum(o.procs for o in kill if '--pid' not in o.kind)}")
    print(f"  attached targets that did not survive: {sum(o.procs for o in kill if '--pid' in o.kind)}")
    print(f"  snapshot files left:                  {sum(o.snaps for o in kill)}")
    print(f"total {time.monotonic() - started:.0f} s; load average at end: {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
