"""`cutover db`: where the store is, what it holds, whether it is sound."""

from __future__ import annotations

from typing import Annotated

import typer

from cutover.cli.app import db_app
from cutover.cli.common import DbOpt, Output, env_of, open_store_for


@db_app.callback()
def db_info(
    ctx: typer.Context,
    db: DbOpt = None,
    integrity: Annotated[
        bool, typer.Option("--check", help="Run the store's integrity checks (exit 3 if bad).")
    ] = False,
) -> int:
    """Show where the store is and what it holds."""
    if ctx.invoked_subcommand is not None:
        return 0
    env = env_of(ctx)
    io = Output(env)
    store = open_store_for(env, db, create=False)
    about = store.describe()
    io.out(f"store: {about.location} ({about.backend})")
    io.out(f"schema version: {about.schema_version}")
    for table, count in about.counts.items():
        io.out(f"{table}: {count}")
    if about.size_bytes is not None:
        io.out(f"size: {about.size_bytes / 1e6:.1f} MB")
    if about.last_run:
        last = about.last_run
        io.out(f"last run: {last.id} started {last.started_at.isoformat()} at {last.site}")
    if integrity:
        problems = store.integrity()
        for problem in problems:
            io.out(f"integrity: {problem}")
        if not problems:
            io.out("integrity: ok")
        raise typer.Exit(3 if problems else 0)
    raise typer.Exit(0)
