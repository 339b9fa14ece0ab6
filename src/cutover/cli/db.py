"""`cutover db`: where the store is, what it holds, whether it is sound; `db init` and, for a
PostgreSQL store, the roles of the sites (`grant-province`, `grant-reader`)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from cutover.cli.app import collector_on, db_app
from cutover.cli.common import DbOpt, Output, ProvincesOpt, env_of, open_store_for
from cutover.errors import UsageError
from cutover.render.text import terminal


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
        ctx.meta["cutover.db"] = db  # `cutover db --db URL init` works as well as `db init --db`
        return 0
    collector_on()  # a group callback is not a `Command`: it does its own work here
    env = env_of(ctx)
    io = Output(env)
    store = open_store_for(env, db, create=False)
    about = store.describe()
    io.out(f"store: {about.location} ({about.backend})")
    io.out(f"schema version: {about.schema_version}")
    for line in about.details:
        io.out(line)
    for table, count in about.counts.items():
        io.out(f"{table}: {count}")
    if about.size_bytes is not None:
        io.out(f"size: {about.size_bytes / 1e6:.1f} MB")
    if about.last_run:
        last = about.last_run
        # The site may have come from another machine (an imported bundle): made inert.
        io.out(
            terminal(f"last run: {last.id} started {last.started_at.isoformat()} at {last.site}")
        )
    if integrity:
        problems = store.integrity()
        for problem in problems:
            io.out(terminal(f"integrity: {problem}"))
        if not problems:
            io.out("integrity: ok")
        raise typer.Exit(3 if problems else 0)
    raise typer.Exit(0)


def _db(ctx: typer.Context, db: str | None) -> str | None:
    return db if db is not None else ctx.meta.get("cutover.db")


@db_app.command("init")
def db_init(ctx: typer.Context, db: DbOpt = None) -> int:
    """Create the store's schema or migrate it (idempotent; safe when sites run it at once)."""
    from cutover.store import admin

    env = env_of(ctx)
    io = Output(env)
    for line in admin.init(_db(ctx, db), env.environ):
        io.out(line)
    return 0


PasswordFileOpt = Annotated[
    Optional[Path],  # noqa: UP045
    typer.Option(
        "--password-file",
        help="Set the role's password from the first line of this file ('-': standard input).",
    ),
]


def _password(path: Path | None) -> str | None:
    """The new password, never from the command line itself (it would show in `ps`)."""
    if path is None:
        return None
    try:
        if str(path) == "-":
            import sys

            text = sys.stdin.readline()
        else:
            text = path.read_text(encoding="utf-8").partition("\n")[0]
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise UsageError(f"--password-file {path}: {reason or exc}") from None
    password = text.rstrip("\r\n")
    if not password:
        raise UsageError(f"--password-file {path}: the first line is empty")
    return password


@db_app.command("grant-province")
def grant_province(
    ctx: typer.Context,
    role: Annotated[str, typer.Argument(help="Login role to create or update.")],
    province: Annotated[str, typer.Option("--province", "-p", help="Code, slug or name.")],
    password_file: PasswordFileOpt = None,
    db: DbOpt = None,
    provinces_file: ProvincesOpt = None,
) -> int:
    """Make ROLE a login role that reads and writes one province's rows only (PostgreSQL)."""
    from cutover.geo import load_geography
    from cutover.store import admin

    env = env_of(ctx)
    code = load_geography(provinces_file, cwd=env.cwd).find(province).code
    line = admin.grant(_db(ctx, db), env.environ, role, code, _password(password_file))
    Output(env).out(line)
    return 0


@db_app.command("grant-reader")
def grant_reader(
    ctx: typer.Context,
    role: Annotated[str, typer.Argument(help="Login role to create or update.")],
    password_file: PasswordFileOpt = None,
    db: DbOpt = None,
) -> int:
    """Make ROLE a national, read-only login role (PostgreSQL): it sees every province."""
    from cutover.store import admin

    env = env_of(ctx)
    line = admin.grant(_db(ctx, db), env.environ, role, None, _password(password_file))
    Output(env).out(line)
    return 0
