"""The command line: a thin Typer layer.  Each command parses options, calls the library
(`cutover.service` and friends), prints, and returns an exit code; `app.main` is the one place
that maps errors to exit codes.

Heavy or network modules are imported inside commands so `--help`, `validate` and
`provinces` stay fast and never import aiohttp.
"""

from __future__ import annotations

from cutover.cli import check, db, demo, files, people, sim, views
from cutover.cli.app import app, main

# isort: off
from cutover.cli import bundles  # registered last, so --help lists it after the core commands

# isort: on

__all__ = ["app", "bundles", "check", "db", "demo", "files", "main", "people", "sim", "views"]
