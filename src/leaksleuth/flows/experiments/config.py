"""The experiment file (TOML): how the service starts, what to measure, which suspects to switch off.

    command = "node server.js"          # {port} is filled in; PORT is set too
    url = "http://127.0.0.1:{port}/"
    build = "npm run build"             # optional, run in the scratch copy after toggles
    env = { LEAKS = "bus,stats" }       # optional base environment of every run

    [[toggle]]
    name = "stats plugin"
    env = { STATS_PLUGIN = "off" }      # set variables
    env_remove = { LEAKS = "stats" }    # or drop items from a comma-separated variable
    patch = "exp/no-bus.patch"          # or a patch (-p1, relative to the project root)
    replace = { "src/a.js" = "exp/a.js" }  # or file replacements (project path = file)

Paths in the file are relative to the file's folder; `project` (default: that folder) is the
tree that is copied. A toggle, when applied, switches its suspect *off*.
"""

from __future__ import annotations

import shlex
import tomllib
from pathlib import Path
from typing import Any

from leaksleuth.errors import UsageError
from leaksleuth.live.load import check_local_url
from leaksleuth.model.experiment import ExperimentConfig, Toggle, fill
from leaksleuth.options import ProtocolSpec

TOP_KEYS = {
    "command", "url", "urls", "build", "env", "project", "exclude", "ready_timeout",
    "build_timeout", "measure", "toggle", "node_modules",
}
TOGGLE_KEYS = {"name", "env", "env_remove", "patch", "replace"}
MEASURE_KEYS = {
    "warmup", "requests", "min_rounds", "max_rounds", "threshold", "budget", "concurrency",
    "settle_timeout", "round_seconds", "vary_query",
}


def _str_table(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, dict):
        raise UsageError(f"{where} must be a table like {{ NAME = \"value\" }}")
    out = {}
    for k, v in value.items():
        if not isinstance(v, (str, int, float, bool)):
            raise UsageError(f"{where}.{k} must be a string")
        out[str(k)] = str(v).lower() if isinstance(v, bool) else str(v)
    return out


def _unknown(keys: set[str], allowed: set[str], where: str) -> None:
    extra = sorted(keys - allowed)
    if extra:
        raise UsageError(f"unknown key{'s' if len(extra) > 1 else ''} in {where}: {', '.join(extra)}")


def parse_toggle(raw: Any, base: Path, project: Path, index: int) -> Toggle:
    where = f"toggle #{index + 1}"
    if not isinstance(raw, dict):
        raise UsageError(f"{where} must be a table")
    _unknown(set(raw), TOGGLE_KEYS, where)
    name = raw.get("name")
    if not isinstance(name, str) or not name.strip():
        raise UsageError(f"{where} needs a name")
    where = f"toggle {name!r}"
    env = _str_table(raw.get("env", {}), f"{where} env")
    removes = {
        k: tuple(s.strip() for s in v.split(",") if s.strip())
        for k, v in _str_table(raw.get("env_remove", {}), f"{where} env_remove").items()
    }
    patch = None
    if "patch" in raw:
        if not isinstance(raw["patch"], str):
            raise UsageError(f"{where} patch must be a file name")
        patch = (base / raw["patch"]).resolve()
        if not patch.is_file():
            raise UsageError(f"{where}: patch file {patch} not found")
    replace = []
    for dest, src in _str_table(raw.get("replace", {}), f"{where} replace").items():
        target = (project / dest).resolve()
        if not target.is_relative_to(project):
            raise UsageError(f"{where}: {dest} is outside the project")
        source = (base / src).resolve()
        if not source.is_file():
            raise UsageError(f"{where}: replacement file {source} not found")
        replace.append((str(target.relative_to(project)), source))
    if not (env or removes or patch or replace):
        raise UsageError(f"{where} switches nothing off: give env, env_remove, patch or replace")
    return Toggle(name.strip(), tuple(sorted(env.items())), tuple(sorted(removes.items())), patch, tuple(replace))


def parse_protocol(raw: Any) -> tuple[ProtocolSpec, int, bool]:
    if not isinstance(raw, dict):
        raise UsageError("measure must be a table")
    _unknown(set(raw), MEASURE_KEYS, "the measure table")
    d = ProtocolSpec()
    try:
        spec = ProtocolSpec(
            warmup_requests=int(raw.get("warmup", d.warmup_requests)),
            requests_per_round=int(raw.get("requests", d.requests_per_round)),
            round_seconds=float(raw.get("round_seconds", d.round_seconds)),
            min_rounds=int(raw.get("min_rounds", d.min_rounds)),
            max_rounds=int(raw.get("max_rounds", d.max_rounds)),
            threshold=float(raw.get("threshold", d.threshold)),
            time_budget=float(raw.get("budget", d.time_budget)),
            settle_timeout=float(raw.get("settle_timeout", d.settle_timeout)),
        )
        concurrency = int(raw.get("concurrency", 8))
    except (TypeError, ValueError) as exc:
        raise UsageError(f"measure table: {exc}") from exc
    if spec.min_rounds < 3 or spec.max_rounds < spec.min_rounds:
        raise UsageError("the measure table needs min_rounds ≥ 3 and max_rounds ≥ min_rounds")
    if concurrency < 1:
        raise UsageError("the measure table needs concurrency ≥ 1")
    return spec, concurrency, bool(raw.get("vary_query", False))


def _seconds(raw: dict[str, Any], key: str, default: float, where: str) -> float:
    try:
        value = float(raw.get(key, default))
    except (TypeError, ValueError) as exc:
        raise UsageError(f"{where}: {key} must be a number of seconds") from exc
    if value <= 0:
        raise UsageError(f"{where}: {key} must be positive")
    return value


def load_config(path: Path) -> ExperimentConfig:
    """Read and check an experiment file; every mistake is a UsageError naming the key."""
    path = path.resolve()
    try:
        raw = tomllib.loads(path.read_text())
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise UsageError(f"{path} is not valid TOML: {exc}") from exc
    _unknown(set(raw), TOP_KEYS, path.name)
    base = path.parent
    project = (base / str(raw.get("project", "."))).resolve()
    if not project.is_dir():
        raise UsageError(f"project folder {project} not found")
    command = raw.get("command")
    try:
        words = shlex.split(command) if isinstance(command, str) else []
    except ValueError as exc:
        raise UsageError(f"{path.name}: command: {exc}") from exc
    if not words:
        raise UsageError(f'{path.name}: give the command that starts the service, e.g. command = "node server.js"')
    urls = raw.get("urls", [raw["url"]] if "url" in raw else [])
    if isinstance(urls, str):
        urls = [urls]
    if not urls or not all(isinstance(u, str) for u in urls):
        raise UsageError(f'{path.name}: give the url to load, e.g. url = "http://127.0.0.1:{{port}}/"')
    for u in urls:
        check_local_url(u.replace("{port}", "1"))  # refuse remote or malformed URLs before any run
    raw_toggles = raw.get("toggle", [])
    if not isinstance(raw_toggles, list) or not raw_toggles:
        raise UsageError(f"{path.name}: give at least one toggle table")
    toggles = tuple(parse_toggle(t, base, project, i) for i, t in enumerate(raw_toggles))
    names = [t.name for t in toggles]
    if len(set(names)) != len(names):
        raise UsageError(f"{path.name}: toggle names must be unique")
    build = raw.get("build")
    if build is not None and (not isinstance(build, str) or not build.strip()):
        raise UsageError(f"{path.name}: build must be a command line")
    node_modules = raw.get("node_modules", "link")
    if node_modules not in ("link", "copy"):
        raise UsageError(f'{path.name}: node_modules must be "link" or "copy"')
    exclude = raw.get("exclude", [".git", ".leaksleuth"])
    if not isinstance(exclude, list) or not all(isinstance(e, str) for e in exclude):
        raise UsageError(f"{path.name}: exclude must be a list of names")
    spec, concurrency, vary = parse_protocol(raw.get("measure", {}))
    return ExperimentConfig(
        path=path,
        project=project,
        command=str(command),
        urls=tuple(urls),
        toggles=toggles,
        build=build,
        env=tuple(sorted(_str_table(raw.get("env", {}), "env").items())),
        exclude=tuple(sorted(set(exclude) | {".leaksleuth"})),
        node_modules=node_modules,
        ready_timeout=_seconds(raw, "ready_timeout", 30.0, path.name),
        build_timeout=_seconds(raw, "build_timeout", 600.0, path.name),
        protocol=spec,
        concurrency=concurrency,
        vary_query=vary,
    )


def run_env(cfg: ExperimentConfig, applied: frozenset[int], port: int, inherited: dict[str, str]) -> dict[str, str]:
    """The variables a run sets on top of the inherited environment: base env, PORT, toggles.

    `env_remove` drops items from a comma-separated variable (the inherited or base value),
    so several toggles can each switch one item of the same list off.
    """
    env = {k: fill(v, port) for k, v in cfg.env}
    env["PORT"] = str(port)
    for i in sorted(applied):
        t = cfg.toggles[i]
        env.update({k: fill(v, port) for k, v in t.env})
        for var, items in t.env_remove:
            current = env.get(var, inherited.get(var, ""))
            kept = [s for s in (p.strip() for p in current.split(",")) if s and s not in items]
            env[var] = ",".join(kept)
    return env
