"""Commands about files: `validate`, `provinces`, `schema`.  They never import aiohttp."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cutover.cli.app import app
from cutover.cli.common import Output, ProvincesOpt, env_of
from cutover.errors import ExitCode, UsageError


@app.command()
def validate(
    ctx: typer.Context,
    paths: Annotated[
        list[Path] | None,
        typer.Argument(help="Files to check (default: provinces.yaml, checklists, overlay)."),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Fail on steps missing any of the six clears.")
    ] = False,
) -> None:
    """Check checklists, provinces.yaml and endpoint overlays."""
    from cutover.validation import default_paths, validate_paths

    env = env_of(ctx)
    io = Output(env)
    report = validate_paths([(p, str(p)) for p in paths] if paths else default_paths(env.environ))
    for line in report.ok:
        io.out(line)
    for problem in report.warnings:
        io.err(f"{'error' if strict else 'warning'}: {problem}")
    for problem in report.errors:
        io.err(f"error: {problem}")
    if report.errors or (strict and report.warnings):
        raise typer.Exit(ExitCode.INVALID_INPUT)


@app.command()
def provinces(
    ctx: typer.Context,
    province: Annotated[
        str | None, typer.Argument(help="Code, slug or name of one province.")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
    provinces_file: ProvincesOpt = None,
) -> None:
    """List the provinces, or show one with its communes."""
    from cutover import provinces_view as view
    from cutover.geo import load_geography

    io = Output(env_of(ctx))
    if fmt not in ("text", "json"):
        raise UsageError(f"--format must be text or json, got {fmt!r}")
    geo = load_geography(provinces_file)
    chosen = geo.find(province) if province else None
    if fmt == "json":
        io.out(view.as_json(geo, chosen))
        return
    for line in view.detail(chosen) if chosen else view.table(geo):
        io.out(line)


@app.command()
def schema(
    ctx: typer.Context,
    which: Annotated[
        str | None, typer.Argument(help="checklist, provinces, overlay or matrix.")
    ] = None,
) -> None:
    """Print the JSON Schema of the file formats (for editors: yaml-language-server)."""
    from cutover.schemas import schema_json

    Output(env_of(ctx)).out(schema_json(which))
