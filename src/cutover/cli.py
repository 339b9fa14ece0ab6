"""The command line: a thin Typer layer.  Each command parses options, calls the library,
prints, and returns an exit code; `main` is the one place that maps errors to exit codes.

Heavy or network modules are imported inside commands so `--help`, `validate` and
`provinces` stay fast and never import aiohttp.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from cutover.errors import CutoverError, ExitCode, UsageError

app = typer.Typer(
    name="cutover",
    help="Province-by-province readiness of an IT switchover, proved by probes and evidence.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
sim_app = typer.Typer(help="The portal simulator.", no_args_is_help=True)
app.add_typer(sim_app, name="sim")

ProvincesOpt = Annotated[Optional[Path], typer.Option("--provinces", help="provinces.yaml to use.")]  # noqa: UP045


def out(line: str = "") -> None:
    sys.stdout.write(line + "\n")


def err(line: str) -> None:
    sys.stderr.write(f"cutover: {line}\n")


@app.command()
def validate(
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

    report = validate_paths([(p, str(p)) for p in paths] if paths else default_paths())
    for line in report.ok:
        out(line)
    for problem in report.warnings:
        err(f"{'error' if strict else 'warning'}: {problem}")
    for problem in report.errors:
        err(f"error: {problem}")
    if report.errors or (strict and report.warnings):
        raise typer.Exit(ExitCode.INVALID_INPUT)


@app.command()
def provinces(
    province: Annotated[
        str | None, typer.Argument(help="Code, slug or name of one province.")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
    provinces_file: ProvincesOpt = None,
) -> None:
    """List the provinces, or show one with its communes."""
    from cutover import provinces_view as view
    from cutover.geo import load_geography

    if fmt not in ("text", "json"):
        raise UsageError(f"--format must be text or json, got {fmt!r}")
    geo = load_geography(provinces_file)
    chosen = geo.find(province) if province else None
    if fmt == "json":
        out(view.as_json(geo, chosen))
        return
    for line in view.detail(chosen) if chosen else view.table(geo):
        out(line)


@app.command()
def schema(
    which: Annotated[
        str | None, typer.Argument(help="checklist, provinces, overlay or matrix.")
    ] = None,
) -> None:
    """Print the JSON Schema of the file formats (for editors: yaml-language-server)."""
    from cutover.schemas import schema_json

    out(schema_json(which))


def main() -> None:
    try:
        # Without standalone mode the parser returns `typer.Exit` codes instead of exiting.
        code = app(standalone_mode=False)
        sys.exit(code if isinstance(code, int) else 0)
    except CutoverError as exc:
        for line in exc.lines():
            err(f"error: {line}")
        sys.exit(exc.exit_code)
    except KeyboardInterrupt:
        err("interrupted")
        sys.exit(ExitCode.INTERRUPTED)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err("interrupted")
        sys.exit(ExitCode.INTERRUPTED)
    except Exception as exc:  # usage errors from the option parser, and anything unexpected
        show = getattr(exc, "show", None)
        if callable(show) and hasattr(exc, "exit_code"):
            show()  # the parser's own "Usage: ... Error: ..." message
            sys.exit(ExitCode.INVALID_INPUT)
        sys.exit(_internal_error(exc))


def _internal_error(exc: BaseException) -> int:
    """A bug: keep the traceback in a log file and print one line saying where."""
    import tempfile
    import traceback

    log = Path(tempfile.gettempdir()) / "cutover-crash.log"
    try:
        log.write_text("".join(traceback.format_exception(exc)), encoding="utf-8")
        where = f" (traceback in {log})"
    except OSError:
        where = ""
    err(f"internal error: {type(exc).__name__}: {exc}{where}")
    return ExitCode.UNAVAILABLE
