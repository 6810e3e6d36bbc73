"""Command-line entry point: argument parsing and rendering only; the work is in the library."""

from __future__ import annotations

import importlib
import sys

import click
from rich.console import Console
from rich.markup import escape

from leaksleuth.errors import LeakSleuthError

EXIT_USAGE_OR_TARGET = 3


# one module per command, each exposing `commands: list[click.Command]`
COMMAND_MODULES = ("measure", "hunt", "demo", "top", "watch", "snapshot", "offline", "experiment")


def all_commands() -> list[click.Command]:
    found: list[click.Command] = []
    for name in COMMAND_MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        found.extend(module.commands)
    return found


def build_cli() -> click.Group:
    @click.group(context_settings={"help_option_names": ["-h", "--help"]})
    @click.version_option(package_name="leaksleuth")
    def cli() -> None:
        """Find, measure and pinpoint memory leaks in Node.js servers."""

    for command in all_commands():
        cli.add_command(command)
    return cli


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code (never raises for known errors)."""
    err = Console(stderr=True, soft_wrap=True)  # one error, one line, whatever the width
    try:
        result = build_cli().main(args=argv, prog_name="leaksleuth", standalone_mode=False)
    except LeakSleuthError as exc:
        err.print(f"[bold red]leaksleuth:[/] {escape(str(exc))}", highlight=False)
        return exc.exit_code
    except click.exceptions.Abort:
        err.print("[bold red]leaksleuth:[/] interrupted")
        return 130
    except click.ClickException as exc:
        err.print(f"[bold red]leaksleuth:[/] {escape(exc.format_message())}", highlight=False)
        return EXIT_USAGE_OR_TARGET
    except KeyboardInterrupt:
        err.print("[bold red]leaksleuth:[/] interrupted")
        return 130
    return int(result) if isinstance(result, int) else 0


def entry() -> None:
    sys.exit(main())


if __name__ == "__main__":
    entry()
