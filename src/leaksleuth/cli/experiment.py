"""`leaksleuth experiment`: attribute a leak to modules, plugins and components by switching them off."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from leaksleuth.cli import signals
from leaksleuth.errors import UsageError
from leaksleuth.flows.experiments.config import load_config
from leaksleuth.flows.experiments.runner import clear_stale_scratch, default_state_dir, run_experiment
from leaksleuth.jsonio import write_json
from leaksleuth.model.experiment import ExperimentEvent
from leaksleuth.report.advice import experiment_event_text
from leaksleuth.report.experiment import render_html, render_terminal, to_json
from leaksleuth.report.terminal import make_console


def default_jobs() -> int:
    """Parallel runs only where cores are spare: each run needs one for the target, one for us."""
    return max(1, min(4, (os.cpu_count() or 1) // 2 - 1)) if (os.cpu_count() or 1) >= 4 else 1


@click.command()
@click.argument("config_arg", required=False, type=click.Path(path_type=Path))
@click.option("--config", "config_opt", type=click.Path(path_type=Path), default=None, help="The experiment file (TOML).")
@click.option("-j", "--jobs", type=int, default=None, help="Configurations measured at once, on separate ports.")
@click.option("--state", type=click.Path(path_type=Path), default=None, help="Folder for the record of runs, logs and scratch copies (default: .leaksleuth/ beside the config).")
@click.option("--fresh", is_flag=True, help="Ignore the record of earlier runs (measure everything again).")
@click.option("--json", "json_file", type=click.Path(path_type=Path), default=None, help="Write the result as JSON.")
@click.option("--html", "html_file", type=click.Path(path_type=Path), default=None, help="Write the result as an HTML page.")
def experiment(config_arg: Path | None, config_opt: Path | None, jobs: int | None, state: Path | None,
               fresh: bool, json_file: Path | None, html_file: Path | None) -> int:
    """Switch suspects off one group at a time in scratch copies and attribute the leak to them.

    Exit code: 0 no leak with everything on, 1 leak, 3 usage or target error.
    """
    if config_arg and config_opt:
        raise UsageError("give the config file once (argument or --config)")
    path = config_arg or config_opt or Path("leaksleuth.toml")
    cfg = load_config(path)
    if jobs is not None and jobs < 1:
        raise UsageError("--jobs must be at least 1")
    state_dir = (state or default_state_dir(cfg)).resolve()
    clear_stale_scratch(state_dir)
    console = make_console()
    t0 = time.monotonic()
    console.print(
        f"Experiment: {len(cfg.toggles)} toggles on {cfg.project} (record: {state_dir})", highlight=False
    )

    def event(e: ExperimentEvent) -> None:
        console.print(f"[dim]{time.monotonic() - t0:6.0f} s[/]  {escape(experiment_event_text(e))}", highlight=False)

    result = signals.run(run_experiment(cfg, state_dir, jobs=jobs or default_jobs(), fresh=fresh, on_event=event))
    render_terminal(console, result)
    doc: dict[str, Any] = to_json(result)
    write_json(json_file, doc)
    if html_file is not None:
        try:
            html_file.write_text(render_html(result))
        except OSError as exc:
            raise UsageError(f"cannot write {html_file}: {exc.strerror}") from exc
    on = doc["all_on"]
    return 1 if on is not None and on["verdict"] == "leak" else 0


commands = [experiment]
