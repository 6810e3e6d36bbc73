"""Leaks in built code, found to the line of the original source: the demo's webpack + vue-loader
bundle served by vue-server-renderer's bundle renderer (both `runInNewContext` settings), its
Vite-built ESM server, a leak inside a published npm package (node-cache used against its docs),
and production builds of Next.js 14 and Nuxt 3. The builds come from `make builds` (real
bundlers from npm, pinned by the lockfiles, built once and reused)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

import leaksleuth
from leaksleuth import HuntResult, Launch
from leaksleuth.options import HuntSpec, LoadSpec, ProtocolSpec
from leaksleuth.report.jsondoc import culprit_doc, hunt_doc
from tests.conftest import ROOT
from tests.integration.helpers import free_port, url

pytestmark = pytest.mark.integration

BUILDS = ROOT / "demo" / "builds"
FIXTURES = ROOT / "tests" / "fixtures" / "builds"
SPEC = ProtocolSpec(warmup_requests=200, min_rounds=5, max_rounds=10, time_budget=25)
BUILT = {
    "vue-bundle": BUILDS / "vue-bundle" / "dist" / "vue-ssr-server-bundle.json",
    "vite-ssr": BUILDS / "vite-ssr" / "dist" / "server" / "entry-server.js",
    "next14": FIXTURES / "next14" / ".next" / "BUILD_ID",
    "nuxt3": FIXTURES / "nuxt3" / ".output" / "server" / "index.mjs",
}


def hunt_built(name: str, command: list[str], env: dict[str, str]) -> HuntResult:
    """`hunt` on a built app, launched from its folder (the project its files are shown in)."""
    output = BUILT[name]
    assert output.exists(), f"run `make builds` first ({output} is missing)"
    app = next(p for p in output.parents if p.parent in (BUILDS, FIXTURES))
    port = free_port()
    argv = [part.replace("{port}", str(port)) for part in command]
    target = Launch(argv, cwd=app, env={"PORT": str(port), "HOST": "127.0.0.1", **env}, ready_timeout=90)
    return leaksleuth.hunt(target, LoadSpec((url(port),)), SPEC, HuntSpec(requests_between=150), project=app)


def line_of(file: Path, needle: str) -> int:
    return next(i for i, text in enumerate(file.read_text().splitlines(), 1) if needle in text)


def test_webpack_bundle_in_the_same_context_names_the_vue_file_and_the_bus_module():
    report = hunt_built("vue-bundle", ["node", "server.js"], {"LEAKS": "bus", "RUN_IN_NEW_CONTEXT": "false"})
    first = report.culprits[0]
    menu = BUILDS / "vue-bundle" / "src" / "components" / "AsideMenu.vue"
    assert first.kind == "listener" and "<AsideMenu>" in first.constructor
    assert first.location is not None
    assert (first.location.file, first.location.line) == (
        "src/components/AsideMenu.vue", line_of(menu, "this.$bus.$on('toggleAsideMenu'"))
    # the holder is the app's bus module, not Vue's prototype in node_modules
    assert first.path[0] == "(module src/bus.js)" and ".$bus" in first.path, first.path
    # V8 ran `main.js`, compiled through vm from the bundle JSON: the generated place is kept
    assert any(loc.generated and loc.generated.startswith("main.js:1:") for loc in first.locations)
    doc = culprit_doc(first)
    assert doc["location"].startswith("src/components/AsideMenu.vue:")
    assert {"file", "line", "column", "in", "package", "role", "generated", "via"} <= set(doc["locations"][0])
    assert report.measurement is not None
    # listeners on the app's bus (not `process`) are counted per request
    assert report.measurement.handles_per_request["emitter listeners"] == pytest.approx(1.0, abs=0.2)
    assert report.coverage is not None and report.coverage == pytest.approx(1.0, abs=0.3)


def test_library_leak_in_a_new_context_per_request_names_the_package_and_the_app_line():
    # Vue's default runInNewContext: true; node-cache made per render and never closed, which its
    # docs say to do: each cache keeps an unref'd `checkperiod` timer, invisible to Node's
    # getActiveResourcesInfo
    report = hunt_built("vue-bundle", ["node", "server.js"], {"LEAKS": "cache", "RUN_IN_NEW_CONTEXT": "true"})
    assert report.measurement is not None and report.measurement.verdict == "leak"
    assert report.measurement.unref_timers_per_request == pytest.approx(1.0, abs=0.2)
    assert report.measurement.timers_per_request == pytest.approx(1.0, abs=0.2)
    timer = next(c for c in report.culprits if c.kind == "timer")
    assert timer.objects_per_request == pytest.approx(1.0, abs=0.15)
    library = [loc for loc in timer.locations if loc.origin == "library" and loc.package == "node-cache@5.1.2"]
    assert library and all(loc.file == "node_modules/node-cache/lib/node_cache.js" for loc in library), timer.locations
    prices = BUILDS / "vue-bundle" / "src" / "services" / "prices.js"
    assert timer.location is not None and timer.location.origin == "app"
    assert (timer.location.file, timer.location.line) == ("src/services/prices.js", line_of(prices, "new NodeCache("))
    assert timer.location.role == "calls" and timer.location.via == "allocation stack"
    roles = {loc["role"] for loc in culprit_doc(timer)["locations"]}
    assert {"calls", "defines"} <= roles
    assert hunt_doc(report)["coverage"]["share"] == pytest.approx(1.0, abs=0.3)


def test_vite_esm_build_blames_the_composable_listener_not_vue_reactivity():
    report = hunt_built("vite-ssr", ["node", "server.mjs"], {"LEAKS": "emitter"})
    first = report.culprits[0]
    composable = BUILDS / "vite-ssr" / "src" / "composables" / "useNotifications.ts"
    assert first.kind == "listener", [(c.kind, c.path) for c in report.culprits]
    assert first.location is not None
    assert (first.location.file, first.location.line) == (
        "src/composables/useNotifications.ts", line_of(composable, "notifications.on('notify'"))
    assert first.path[:2] == ["(module src/composables/useNotifications.ts)", "::notifications"], first.path
    assert not any("reactiveMap" in step for c in report.culprits for step in c.path)
    assert report.measurement is not None
    assert first.bytes_per_request == pytest.approx(report.measurement.bytes_per_request, rel=0.3)


def test_nuxt_production_build_names_the_server_plugin_line():
    report = hunt_built("nuxt3", ["node", ".output/server/index.mjs"], {"LEAKS": "audit"})
    assert report.measurement is not None and [p for p in report.measurement.processes if p.serving]
    first = report.culprits[0]
    plugin = FIXTURES / "nuxt3" / "server" / "plugins" / "audit.ts"
    assert first.location is not None
    assert (first.location.file, first.location.line) == ("server/plugins/audit.ts", line_of(plugin, "trail.push("))
    assert "::trail" in first.path
    assert any(loc.generated and loc.generated.startswith(".output/server/chunks/") for loc in first.locations)


def test_next_production_build_names_the_module_and_line_behind_the_minified_chunk():
    report = hunt_built("next14", ["node", "node_modules/next/dist/bin/next", "start", "-H", "127.0.0.1", "-p", "{port}"],
                        {"LEAKS": "visits", "NEXT_TELEMETRY_DISABLED": "1"})
    assert report.measurement is not None and [p for p in report.measurement.processes if p.serving]
    first = report.culprits[0]
    visits = FIXTURES / "next14" / "lib" / "visits.js"
    assert first.location is not None
    assert (first.location.file, first.location.line) == ("lib/visits.js", line_of(visits, "visits.push("))
    # the minifier renamed the module-level array; the map gives its name back
    assert first.path[:2] == ["(module lib/visits.js)", "::visits"], first.path
    assert first.location.generated is not None and first.location.generated.startswith(".next/server/")


SERVERS = FIXTURES / "servers"


def hunt_server(script: str, leaks: str) -> HuntResult:
    assert (SERVERS / "node_modules" / ".installed").exists(), "run `make builds` first (npm ci of the servers fixture)"
    port = free_port()
    target = Launch(["node", script], cwd=SERVERS, env={"PORT": str(port), "LEAKS": leaks}, ready_timeout=60)
    return leaksleuth.hunt(target, LoadSpec((url(port),)), SPEC, HuntSpec(requests_between=150), project=SERVERS)


@pytest.mark.parametrize(("script", "leaks", "holder", "needle"), [
    ("koa-server.js", "sessions", "sessions (Map)", "sessions.set("),
    ("fastify-server.js", "log", "requestLog (Array)", "requestLog.push("),
])
def test_koa_and_fastify_servers_are_measured_and_their_leak_named(script: str, leaks: str, holder: str, needle: str):
    report = hunt_server(script, leaks)
    assert report.measurement is not None and report.measurement.verdict == "leak"
    served = [p for p in report.measurement.processes if p.serving]
    assert len(served) == 1 and served[0].role == "server" and script in served[0].title
    first = report.culprits[0]
    assert first.path[0] == holder and first.objects_per_request == pytest.approx(1.0, abs=0.15), first.path
    assert first.location is not None
    assert (first.location.file, first.location.line) == (script, line_of(SERVERS / script, needle))


READ_CHECK = """
const js = require('fs').readFileSync(process.argv[2], 'utf8').split('READ_MEMORY_JS = r\\"\\"\\"')[1].split('\\"\\"\\"')[0];
const EventEmitter = require('events');
const before = eval(js).resources;
globalThis.bus = new EventEmitter();
for (let i = 0; i < 5; i++) { bus.on('tick', () => {}); setInterval(() => {}, 1e6).unref(); }
setInterval(() => {}, 1e6);
const cleared = setTimeout(() => {}, 1e6); cleared.unref(); clearTimeout(cleared);
console.log(JSON.stringify({before, after: eval(js).resources}));
process.exit(0);
"""


def test_readings_count_unrefd_timers_and_listeners_beyond_process(node: str, tmp_path: Path):
    script = tmp_path / "check.js"
    script.write_text(READ_CHECK)
    source = ROOT / "src" / "leaksleuth" / "live" / "readings.py"
    out = subprocess.run([node, str(script), str(source)], capture_output=True, text=True, timeout=60, check=True)
    result = json.loads(out.stdout)
    assert result["before"]["Timeout (unref'd)"] == 0
    after = result["after"]
    assert after["Timeout"] == 1 and after["Timeout (unref'd)"] == 5  # the cleared one is not live
    assert after["emitter listeners"] - result["before"]["emitter listeners"] == 5
    assert out.stderr == ""  # nothing printed in the target's own output
