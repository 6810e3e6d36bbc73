"""Options shared by the commands that drive load into a target, turned into typed options."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from leaksleuth.api import load_traffic
from leaksleuth.errors import UsageError
from leaksleuth.options import Attach, Launch, LoadSpec, ProtocolSpec, Target

F = TypeVar("F", bound=Callable[..., Any])

EXIT_BY_VERDICT = {"no leak": 0, "leak": 1, "inconclusive": 2}


def load_options(f: F) -> F:
    for decorator in reversed(
        [
            click.option("--url", "urls", multiple=True, help="URL to request (repeat for round-robin; each is a route)."),
            click.option("--scenario", type=click.Path(path_type=Path), default=None,
                         help="Traffic from a scenario file (TOML: methods, bodies, weights, a login step)."),
            click.option("--har", type=click.Path(path_type=Path), default=None,
                         help="Replay a HAR recorded by a browser (requests to its site only)."),
            click.option("--access-log", type=click.Path(path_type=Path), default=None,
                         help="Replay the mix of a common/combined access log (needs --base)."),
            click.option("--base", default=None, help="Loopback base URL for --scenario/--har/--access-log paths."),
            click.option("--per-route", is_flag=True, help="Bytes per request of each route (automatic in hunt)."),
            click.option("--pid", type=int, default=None, help="Attach to a running Node process instead of launching."),
            click.option("-c", "--concurrency", default=8, show_default=True, help="Requests in flight."),
            click.option("--requests", "requests_per_round", default=0, help="Requests per round (0: about 1 s of load)."),
            click.option("--rounds", "max_rounds", default=30, show_default=True, help="Most rounds."),
            click.option("--min-rounds", default=6, show_default=True),
            click.option("--warmup", "warmup_requests", default=300, show_default=True, help="Warm-up requests (cost reported apart)."),
            click.option("--threshold", default=256.0, show_default=True, help="Bytes/request that count as a leak."),
            click.option("--budget", "time_budget", default=60.0, show_default=True, help="Seconds of rounds at most."),
            click.option("--vary-query", is_flag=True, help="Add ?leaksleuth=<n> so URL-keyed caches are exercised."),
            click.option("-H", "--header", "headers", multiple=True, help="Extra header 'Name: value'."),
            click.option("--ready-timeout", default=30.0, show_default=True, help="Seconds to wait for the URL's port."),
            click.option("--log", "log_file", type=click.Path(path_type=Path), default=None, help="Where the target's output goes."),
            click.option("--json", "json_file", type=click.Path(path_type=Path), default=None, help="Write the result as JSON."),
            click.argument("command", nargs=-1, type=click.UNPROCESSED),
        ]
    ):
        f = decorator(f)
    return f


def parse_headers(headers: tuple[str, ...]) -> tuple[tuple[str, str], ...]:
    parsed = []
    for h in headers:
        name, sep, value = h.partition(":")
        if not sep or not name.strip():
            raise UsageError(f"bad header {h!r}: use 'Name: value'")
        parsed.append((name.strip(), value.strip()))
    return tuple(parsed)


def target_of(pid: int | None, command: tuple[str, ...], *, ready_timeout: float = 30.0,
              log_file: Path | None = None) -> Target:
    """`--pid N` or `-- CMD ARGS`, exactly one of them."""
    if (pid is None) == (not command):
        raise UsageError("give either --pid or a command after --")
    if pid is not None:
        return Attach(pid)
    return Launch(list(command), ready_timeout=ready_timeout, log_file=log_file)


def specs_from(kw: dict[str, Any]) -> tuple[Target, LoadSpec, ProtocolSpec]:
    """The target, the load and the protocol of `load_options`."""
    target = target_of(kw["pid"], kw["command"], ready_timeout=kw["ready_timeout"], log_file=kw["log_file"])
    common = {"concurrency": kw["concurrency"], "vary_query": kw["vary_query"], "headers": parse_headers(kw["headers"]),
              "per_route": kw["per_route"]}
    files = {k: kw[k] for k in ("scenario", "har", "access_log") if kw[k] is not None}
    if files and kw["urls"]:
        raise UsageError("give --url or one of --scenario, --har and --access-log, not both")
    if kw["base"] and not files:
        raise UsageError("--base goes with --scenario, --har or --access-log (--url takes whole URLs)")
    if files:
        load = load_traffic(**files, base=kw["base"], **common)
    elif kw["urls"]:
        load = LoadSpec(urls=tuple(kw["urls"]), **common)
    else:
        raise UsageError("give --url (or --scenario, --har, --access-log)")
    spec = ProtocolSpec(
        warmup_requests=kw["warmup_requests"],
        requests_per_round=kw["requests_per_round"],
        min_rounds=kw["min_rounds"],
        max_rounds=kw["max_rounds"],
        threshold=kw["threshold"],
        time_budget=kw["time_budget"],
    )
    return target, load, spec
