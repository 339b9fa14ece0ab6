"""Commands about files: `validate`, `provinces`, `schema`.  They never import aiohttp."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cutover.cli.app import app
from cutover.cli.common import LangOpt, Output, ProvincesOpt, env_of, language
from cutover.errors import ExitCode, OptionError


@app.command()
def validate(
    ctx: typer.Context,
    paths: Annotated[
        list[Path] | None,
        typer.Argument(
            metavar="FILE",
            help="Files to check (default: provinces.yaml, the checklists, the overlay of "
            "CUTOVER_ENDPOINTS).",
            show_default=False,
        ),
    ] = None,
    strict: Annotated[
        bool, typer.Option("--strict", help="Fail on steps missing any of the six clears.")
    ] = False,
) -> None:
    """Check checklists, provinces.yaml and endpoint overlays."""
    from cutover.validation import default_paths, validate_paths

    env = env_of(ctx)
    io = Output(env)
    named = [(env.anchored(p), str(p)) for p in paths] if paths else None
    report = validate_paths(named or default_paths(env.environ, env.cwd), env.cwd)
    # With --strict a warning is an error: its file is not `ok`, and it is said once, as one.
    failing = report.problems if strict else report.errors
    bad = {problem.file for problem in failing}
    for line in report.ok:
        if not any(line.startswith(f"ok {file} (") for file in bad):
            io.out(line)
    for problem in report.warnings:
        io.err(f"{'error' if strict else 'warning'}: {problem}")
    for problem in report.errors:
        io.err(f"error: {problem}")
    if failing:
        raise typer.Exit(ExitCode.INVALID_INPUT)


@app.command()
def provinces(
    ctx: typer.Context,
    province: Annotated[
        str | None,
        typer.Argument(
            metavar="PROVINCE",
            help="Code, slug or name of one province (e.g. 31, hai-phong, 'TP HCM').",
            show_default=False,
        ),
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", metavar="text|json", help="Output format: text or json.")
    ] = "text",
    lang: LangOpt = None,
    provinces_file: ProvincesOpt = None,
) -> None:
    """List the provinces, or show one with its communes."""
    from cutover import provinces_view as view
    from cutover.geo import load_geography

    env = env_of(ctx)
    io = Output(env)
    if fmt not in ("text", "json"):
        raise OptionError(f"--format must be text or json, got {fmt!r}")
    chosen_language = language(env, lang)
    geo = load_geography(provinces_file, cwd=env.cwd)
    chosen, note = geo.resolve(province) if province else (None, None)
    if note:
        io.err(f"note: {note}")
    if fmt == "json":
        io.out(view.as_json(geo, chosen))
        return
    lines = view.detail(chosen, chosen_language) if chosen else view.table(geo, chosen_language)
    for line in lines:
        io.out(line)


@app.command()
def schema(
    ctx: typer.Context,
    which: Annotated[
        str | None,
        typer.Argument(
            metavar="checklist|provinces|overlay|matrix",
            help="Which schema (default: all of them).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Print the JSON Schema of the file formats (for editors: yaml-language-server)."""
    from cutover.schemas import schema_json

    Output(env_of(ctx)).out(schema_json(which))
