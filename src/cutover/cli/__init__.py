"""The command line: a thin Typer layer.  Each command parses options, calls the library
(`cutover.service` and friends), prints, and returns an exit code; `app.main` is the one place
that maps errors to exit codes.

Heavy or network modules are imported inside commands so `--help`, `validate` and
`provinces` stay fast and never import aiohttp.
"""

from __future__ import annotations

import inspect

import typer
from typer.core import TyperCommand

from cutover.cli import check, db, demo, files, people, serve, sim, views
from cutover.cli.app import Command, app, main, run

# isort: off
from cutover.cli import bundles  # registered last, so --help lists it after the core commands

# isort: on

__all__ = [
    "app",
    "bundles",
    "check",
    "db",
    "demo",
    "files",
    "main",
    "people",
    "run",
    "serve",
    "sim",
    "views",
]


def _finish(group: typer.Typer) -> None:
    """Each command's first sentence in full in the list of commands: the parser would cut a
    long one with "..." at the terminal's width; an explicit short help is wrapped instead.
    Each command is a `Command` (the collector back on when it starts) unless it says
    otherwise (`check` and `demo` are `ProbingCommand`s)."""
    for info in group.registered_commands:
        if info.short_help is None and info.callback is not None and info.callback.__doc__:
            first = inspect.cleandoc(info.callback.__doc__).split("\n\n")[0]
            info.short_help = " ".join(first.split())
        if info.cls in (None, TyperCommand):  # typer's default
            info.cls = Command
    for sub in group.registered_groups:
        if sub.typer_instance is not None:
            _finish(sub.typer_instance)


_finish(app)
