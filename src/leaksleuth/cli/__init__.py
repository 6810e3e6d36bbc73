"""Command-line entry point: argument parsing and rendering only; the work is in the library."""

from __future__ import annotations

import atexit
import contextlib
import importlib
import io
import os
import signal
import sys
from typing import Any

import click
from rich.console import Console
from rich.markup import escape

from leaksleuth.cli import signals
from leaksleuth.errors import Interrupted, LeakSleuthError

EXIT_USAGE_OR_TARGET = 3


# the module of each command, each exposing `commands: list[click.Command]`; a command's module
# is imported only when that command runs (`analyze` need not load aiohttp, scipy or the fleet)
COMMAND_MODULES = {
    "analyze": "offline", "demo": "demo", "diff": "offline", "experiment": "experiment", "fleet": "fleet",
    "hunt": "hunt", "measure": "measure", "path": "offline", "rules": "rules", "snapshot": "snapshot",
    "top": "top", "watch": "watch",
}


def command_names() -> list[str]:
    return sorted(COMMAND_MODULES)


def command_named(name: str) -> click.Command | None:
    module_name = COMMAND_MODULES.get(name)
    if module_name is None:
        return None
    module = importlib.import_module(f"{__name__}.{module_name}")
    return next((c for c in module.commands if c.name == name), None)


class _Group(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return command_names()

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return command_named(cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        # a KeyboardInterrupt reaching click becomes Abort plus a blank line on stderr: the
        # CLI's stderr is one line, so an interruption passes click as an ordinary exception
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:
            raise _Stopped(exc.signum if isinstance(exc, Interrupted) else signal.SIGINT) from exc


class _Stopped(Exception):
    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum


def build_cli() -> click.Group:
    @click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
    @click.version_option(package_name="leaksleuth")
    def cli() -> None:
        """Find, measure and pinpoint memory leaks in Node.js servers."""

    return cli


def interrupted_line(signum: int) -> str:
    if signum == signal.SIGINT:
        return "interrupted"
    return f"interrupted by {signal.Signals(signum).name}"


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; return the exit code (never raises for known errors).

    SIGINT (Ctrl-C), SIGTERM and SIGHUP stop a run the same way: every clean-up runs (targets
    stopped, inspectors closed, temp files removed), one line on stderr, exit 128 + the signal
    number (130, 143, 129)."""
    # heap text may hold lone surrogates (V8 writes them): print them escaped, never crash on them
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(errors="backslashreplace")
    err = Console(stderr=True, soft_wrap=True)  # one error, one line, whatever the width

    def say(text: str) -> None:
        with contextlib.suppress(OSError):  # SIGHUP: the terminal may be gone
            err.print(f"[bold red]leaksleuth:[/] {escape(text)}", highlight=False)

    def stopped(signum: int) -> int:
        say(interrupted_line(signum))
        return 128 + signum

    with signals.handled():
        try:
            result = build_cli().main(args=argv, prog_name="leaksleuth", standalone_mode=False)
        except LeakSleuthError as exc:
            if signals.received() is not None:  # the clean-up a signal started went wrong
                return stopped(signals.received() or 0)
            say(str(exc))
            return exc.exit_code
        except _Stopped as exc:
            return stopped(exc.signum)
        except click.exceptions.Abort as exc:
            cause = exc.__cause__
            return stopped(cause.signum if isinstance(cause, Interrupted) else signals.received() or signal.SIGINT)
        except click.ClickException as exc:
            say(exc.format_message())
            return EXIT_USAGE_OR_TARGET
        except KeyboardInterrupt as exc:
            return stopped(exc.signum if isinstance(exc, Interrupted) else signals.received() or signal.SIGINT)
        if signals.received() is not None:  # `top` and `watch` end quietly on a signal: say it anyway
            return stopped(signals.received() or 0)
    return int(result) if isinstance(result, int) else 0


def entry() -> None:
    code = main()
    # leave without tearing the interpreter down: freeing a parsed heap's millions of objects
    # one by one took 0.3 s after `analyze` of a 450 MB snapshot. Everything we started is
    # stopped by then (and the atexit handlers, our last resort for that, still run here)
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)


if __name__ == "__main__":
    entry()
