"""One module per subcommand. Each module exposes `commands: list[click.Command]`;
they are found by scanning this package, so adding a command touches no shared file."""

from __future__ import annotations

import importlib
import pkgutil

import click


def all_commands() -> list[click.Command]:
    found: list[click.Command] = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{__name__}.{info.name}")
        found.extend(getattr(module, "commands", []))
    return found
