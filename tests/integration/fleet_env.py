"""Real parts for the fleet and metrics tests (and `bench/`): Node services exporting
prom-client metrics (tests/fixtures/fleet), a stand-in for cAdvisor/kube-state-metrics, steady
loopback traffic, and a real Prometheus server (Debian's package) scraping them all.

Everything listens on 127.0.0.1 and is stopped on the way out."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import ROOT, free_port

FIXTURE = ROOT / "tests" / "fixtures" / "fleet"
SERVICE = FIXTURE / "service.js"
TRAFFIC = FIXTURE / "traffic.js"
KUBE = FIXTURE / "kube.js"


def prometheus_binaries() -> tuple[str, str] | None:
    prom, tool = shutil.which("prometheus"), shutil.which("promtool")
    return (prom, tool) if prom and tool else None


def fixture_ready() -> bool:
    return (FIXTURE / "node_modules" / "prom-client").is_dir()


def http_get(url: str, timeout: float = 5.0) -> str:
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return str(r.read().decode())


def answers(url: str) -> bool:
    try:
        http_get(url, timeout=1.0)
    except OSError:
        return False
    return True


def wait_for(url: str, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not answers(url):
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer in {timeout:.0f} s")
        time.sleep(0.1)


@dataclass
class Pod:
    name: str
    version: str
    port: int
    proc: subprocess.Popen[bytes]
    leak_bytes: int

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    @property
    def metrics(self) -> str:
        return f"http://127.0.0.1:{self.port}/metrics"


@dataclass
class Procs:
    """Processes started here, each in its own process group, ended in reverse order."""

    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, args: list[str], env: dict[str, str] | None = None, cwd: Path | None = None,
              log: Path | None = None) -> subprocess.Popen[bytes]:
        out = open(log, "wb") if log else subprocess.DEVNULL  # noqa: SIM115 - closed by the child's exit
        p = subprocess.Popen(args, env={**os.environ, **(env or {})}, cwd=cwd, stdout=out, stderr=subprocess.STDOUT,
                             start_new_session=True)
        self.started.append(p)
        return p

    def stop_all(self) -> None:
        for p in reversed(self.started):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
        for p in reversed(self.started):
            try:
                p.wait(timeout=10)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(p.pid, signal.SIGKILL)
                p.wait(timeout=5)


def start_service(procs: Procs, port: int, env: dict[str, str], mark: str = "", log: Path | None = None,
                  node_args: tuple[str, ...] = ()) -> subprocess.Popen[bytes]:
    p = procs.start(["node", *node_args, str(SERVICE)],
                    env={"PORT": str(port), "LEAKSLEUTH_TEST_MARK": mark, **env}, cwd=FIXTURE, log=log)
    wait_for(f"http://127.0.0.1:{port}/metrics")
    return p


def start_traffic(procs: Procs, urls: list[str], rate: float, seconds: float, out: Path) -> subprocess.Popen[bytes]:
    """Steady traffic (open loop) for `seconds`; its summary JSON lands in `out`."""
    return procs.start(["node", str(TRAFFIC), "--rate", f"{rate:g}", "--seconds", f"{seconds:g}", *urls], log=out)


def traffic_summary(out: Path) -> dict[str, float]:
    line = [x for x in out.read_text().splitlines() if x.startswith("{")][-1]
    return json.loads(line)  # type: ignore[no-any-return]


def prometheus_config(folder: Path, pods: list[Pod], kube_port: int, rules: Path | None) -> Path:
    """A config scraping every pod each second, labelled as Kubernetes pods of their version."""
    lines = [
        "global:", "  scrape_interval: 1s", "  evaluation_interval: 1s",
        *(["rule_files:", f"  - {rules}"] if rules else []),
        "scrape_configs:",
        "  - job_name: ssr", "    static_configs:",
    ]
    for p in pods:
        lines += [
            f"      - targets: ['127.0.0.1:{p.port}']",
            "        labels: {namespace: shop, container: ssr, " + f"pod: {p.name}, version: {p.version}" + "}",
        ]
    lines += [
        "  - job_name: kube-state-metrics", "    honor_labels: true", "    static_configs:",
        f"      - targets: ['127.0.0.1:{kube_port}']",
    ]
    path = folder / "prometheus.yml"
    path.write_text("\n".join(lines) + "\n")
    return path


@dataclass
class Fleet:
    pods: list[Pod]
    prometheus: str
    procs: Procs
    folder: Path


@contextlib.contextmanager
def demo_fleet(folder: Path, *, versions: dict[str, tuple[int, int]], rules: Path | None = None,
               garbage_bytes: int = 20000, limit: int = 512 << 20) -> Iterator[Fleet]:
    """`versions`: name → (pods, leak bytes per request). Starts the pods, the kube stand-in and
    Prometheus (its data in `folder`); yields once Prometheus is ready."""
    found = prometheus_binaries()
    assert found, "Prometheus is installed by `make test` (Debian's prometheus package)"
    procs = Procs()
    try:
        pods: list[Pod] = []
        for version, (count, leak) in versions.items():
            for k in range(count):
                port = free_port()
                proc = start_service(procs, port, {"LEAK_BYTES": str(leak), "GARBAGE_BYTES": str(garbage_bytes)})
                pods.append(Pod(f"ssr-{version}-{k}", version, port, proc, leak))
        kube_port = free_port()
        kube_pods = [{"namespace": "shop", "pod": p.name, "container": "ssr", "pid": p.proc.pid, "limit": limit,
                      "restarts": 0, "oomKilled": False} for p in pods]
        procs.start(["node", str(KUBE)], env={"PORT": str(kube_port), "PODS": json.dumps(kube_pods)})
        wait_for(f"http://127.0.0.1:{kube_port}/")
        config = prometheus_config(folder, pods, kube_port, rules)
        prom_port = free_port()
        procs.start([found[0], f"--config.file={config}", f"--storage.tsdb.path={folder / 'data'}",
                     f"--web.listen-address=127.0.0.1:{prom_port}", "--log.level=warn"],
                    log=folder / "prometheus.log")
        url = f"http://127.0.0.1:{prom_port}"
        wait_for(f"{url}/-/ready", timeout=30)
        yield Fleet(pods, url, procs, folder)
    finally:
        procs.stop_all()


def prom_query(prometheus: str, expr: str) -> list[dict[str, object]]:
    from urllib.parse import urlencode

    doc = json.loads(http_get(f"{prometheus}/api/v1/query?{urlencode({'query': expr})}"))
    assert doc["status"] == "success", doc
    return doc["data"]["result"]  # type: ignore[no-any-return]
