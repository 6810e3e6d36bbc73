"""The demo fleet: four pods of one service behind a real Prometheus, two versions, one leaking;
then `leaksleuth fleet` on it, as the README shows it.

    .venv/bin/python bench/fleet_demo.py            # ~2 min; needs `make test`'s set-up

Pods: tests/fixtures/fleet/service.js (node http + prom-client), labelled namespace=shop,
container=ssr, pod=ssr-<version>-<n>, version=v1 (clean) or v2 (keeps 2 KB per request); every
request keeps 200 KB for 2 s (an old-generation sawtooth). A stand-in for cAdvisor and
kube-state-metrics serves the pods' working sets (their real RSS) and a 256 MB memory limit.
Prometheus (Debian's package) scrapes all of it every second and loads the rule file written by
`leaksleuth rules`. After --warmup + --history seconds of steady traffic it prints `leaksleuth
fleet --since <history>` and the alerts that fire.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.integration.fleet_env import demo_fleet, prom_query, start_traffic  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--warmup", type=float, default=40)
    ap.add_argument("--history", type=float, default=90)
    ap.add_argument("--rate", type=float, default=200, help="requests/s over the four pods")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="leaksleuth-fleet-demo-") as tmp:
        folder = Path(tmp)
        rules = folder / "leak-alerts.yml"
        cli = [sys.executable, "-m", "leaksleuth.cli"]
        subprocess.run([*cli, "rules", "--selector", 'job="ssr"', "--trough-window", "5s", "--range", "60s",
                        "--for", "5s", "--interval", "1s", "--oom-horizon", "30m", "-o", str(rules)],
                       check=True, cwd=ROOT)
        with demo_fleet(folder, versions={"v1": (2, 0), "v2": (2, 2048)}, rules=rules, garbage_bytes=200000,
                        limit=256 << 20) as fleet:
            start_traffic(fleet.procs, [p.url for p in fleet.pods], args.rate, args.warmup + args.history + 5,
                          folder / "traffic.json")
            time.sleep(args.warmup + args.history)
            command = ["fleet", "--prometheus", fleet.prometheus, "--selector", 'job="ssr"',
                       "--since", f"{args.history:g}s"]
            print("$ leaksleuth " + " ".join(command[:2]) + " http://127.0.0.1:9090 " + " ".join(command[3:]))
            done = subprocess.run([*cli, *command], cwd=ROOT, capture_output=True, text=True, check=False)
            print(done.stdout + done.stderr + f"(exit {done.returncode})")
            firing = sorted({(str(r["metric"]["alertname"]), str(r["metric"].get("pod")))  # type: ignore[index]
                             for r in prom_query(fleet.prometheus, 'ALERTS{alertstate="firing"}')})
            print("firing alerts:", ", ".join(f"{a} {p}" for a, p in firing) or "none")


if __name__ == "__main__":
    main()
