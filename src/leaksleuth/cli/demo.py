"""`leaksleuth demo`: the whole hunt on the bundled leaky Vue SSR app."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import click

from leaksleuth.cli.hunt import render_hunt, run_hunt
from leaksleuth.flows.demo import DEFAULT_LEAKS, demo_command, demo_dir, ensure_installed
from leaksleuth.report.terminal import make_console
from leaksleuth.live.discover import free_port


@click.command()
@click.option("--leaks", default=DEFAULT_LEAKS, show_default=True,
              help="Leaks to switch on (bus, interval, stats, listener, lazy; 'none' for the control).")
@click.option("--egg", is_flag=True, help="Run the Egg.js entry (master, agent, 2 workers) instead of Express.")
@click.option("--json", "json_file", type=click.Path(path_type=Path), default=None)
@click.option("--html", "html_file", type=click.Path(path_type=Path), default=None)
@click.option("--keep", "keep_dir", type=click.Path(path_type=Path), default=None, help="Keep the snapshots here.")
def demo(leaks: str, egg: bool, json_file: Path | None, html_file: Path | None, keep_dir: Path | None) -> int:
    """Hunt the leaks of the bundled Vue 2 SSR app, end to end.

    Exit code 0 when the hunt ran (finding the leaks is the point); 3 on an error."""
    console = make_console()
    folder = demo_dir()
    ensure_installed(folder)
    port = free_port()
    console.print(f"[bold]leaksleuth demo[/]: Vue SSR app in {folder}, LEAKS={leaks}, port {port}", highlight=False)
    kw: dict[str, Any] = dict(
        urls=(f"http://127.0.0.1:{port}/",), pid=None, concurrency=8, requests_per_round=0, max_rounds=30,
        min_rounds=6, warmup_requests=300, threshold=256.0, time_budget=60.0, vary_query=False, headers=(),
        ready_timeout=60.0, log_file=None, json_file=json_file, html_file=html_file,
        command=tuple(demo_command(egg)), cwd=folder, env={"PORT": str(port), "LEAKS": leaks},
        requests_between=0, always_snapshot=False, skip_measure=False, keep_dir=keep_dir, force=False,
        memory_limit=None, project=folder,
    )
    started = time.monotonic()
    report = run_hunt(kw, console)
    render_hunt(console, report, kw)
    console.print(f"[dim]demo finished in {time.monotonic() - started:.0f} s[/]", highlight=False)
    return 0


commands = [demo]
