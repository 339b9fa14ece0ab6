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


def emit(data: str | bytes) -> None:
    """A rendered document to stdout, text or binary, ending with one newline."""
    if isinstance(data, bytes):
        sys.stdout.flush()
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
    else:
        out(data.rstrip("\n"))


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


def _color() -> bool:
    import os

    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def _progress(enabled: bool):  # type: ignore[no-untyped-def]
    """A progress bar on a terminal's stderr; nothing on a pipe."""
    if not enabled or not sys.stderr.isatty():
        return None

    def start(total: int):  # type: ignore[no-untyped-def]
        from rich.progress import Progress

        bar = Progress(transient=True)
        bar.start()
        task = bar.add_task("probing", total=total)

        def advance() -> None:
            bar.advance(task)
            if bar.tasks[0].finished:
                bar.stop()

        if total == 0:
            bar.stop()
        return advance

    return start


def _limits(jobs: int, timeout: float, per_host: int | None = None):  # type: ignore[no-untyped-def]
    from cutover.probes import Limits

    if jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {jobs}")
    if timeout <= 0:
        raise UsageError(f"--timeout must be positive, got {timeout:g}")
    return Limits(jobs=jobs, timeout=timeout, per_host=per_host or min(jobs, 16))


@app.command()
def check(
    province: Annotated[
        list[str] | None,
        typer.Option("--province", "-p", help="Province code, slug or name (repeatable)."),
    ] = None,
    all_: Annotated[bool, typer.Option("--all", help="Every province.")] = False,
    step: Annotated[list[str] | None, typer.Option("--step", help="Step id (repeatable).")] = None,
    tag: Annotated[Optional[str], typer.Option("--tag", help="Only steps with this tag.")] = None,  # noqa: UP045
    checklist: Annotated[
        str | None, typer.Option("--checklist", help="Checklist file or name.")
    ] = None,
    endpoints: Annotated[
        Path | None,
        typer.Option("--endpoints", envvar="CUTOVER_ENDPOINTS", help="Endpoint overlay file."),
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Clock for deadlines (ISO 8601).")
    ] = None,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    jobs: Annotated[int, typer.Option("--jobs", help="Probes in flight at once.")] = 64,
    per_host: Annotated[
        int | None,
        typer.Option("--per-host", help="Connections per host (default min(jobs, 16))."),
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds per probe.")] = 10.0,
    provinces_file: ProvincesOpt = None,
) -> int:
    """Run the probes for one province or all of them, and show each step's status."""
    from cutover import checking
    from cutover.render import check_view, get
    from cutover.render.base import RenderOptions

    if fmt not in ("table", "json"):
        raise UsageError(f"--format must be table or json, got {fmt!r}")
    if not province and not all_:
        raise UsageError("name provinces with --province P (repeatable) or use --all")
    if province and all_:
        raise UsageError("give --province or --all, not both")
    moment = checking.parse_time(as_of)
    sel = checking.Selection(
        None if all_ else province, step, tag, checklist, endpoints, provinces_file
    )
    ctx = checking.prepare(sel)
    run = checking.execute(ctx, _limits(jobs, timeout, per_host), progress=_progress(True))
    matrix = checking.matrix_of(ctx, run.evidence(), moment)
    options = RenderOptions(color=_color())
    emit(get("json")(matrix, options) if fmt == "json" else check_view.render(matrix, options))
    if run.interrupted:
        err(f"interrupted: kept {len(run.results)} results that had finished")
    return checking.exit_code(matrix, run)


@app.command()
def demo(
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    scenario: Annotated[
        str | None, typer.Option("--scenario", help="Scenario name or file.")
    ] = None,
    tag: Annotated[str, typer.Option("--tag", help="Steps to show.")] = "telegram-2025-06-28",
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Clock (default: the scenario's).")
    ] = None,
    lang: Annotated[str, typer.Option("--lang", help="vi or en.")] = "en",
) -> int:
    """Start the simulator, check every province against it, print the readiness matrix."""
    from cutover import demo as demo_lib
    from cutover.render import get
    from cutover.render.base import RenderOptions

    if fmt not in ("table", "json"):
        raise UsageError(f"--format must be table or json, got {fmt!r}")
    if lang not in ("vi", "en"):
        raise UsageError(f"--lang must be vi or en, got {lang!r}")
    matrix, run = demo_lib.run_demo(scenario, tag, as_of, progress=_progress(fmt == "table"))
    options = RenderOptions(lang=lang, color=_color())  # type: ignore[arg-type]
    emit(get(fmt)(matrix, options))
    return 130 if run.interrupted else 0


@sim_app.command("serve")
def sim_serve(
    scenario: Annotated[
        str | None, typer.Option("--scenario", help="Scenario name or file.")
    ] = None,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port")] = 8080,
    overlay: Annotated[
        Path | None, typer.Option("--write-overlay", help="Write the endpoint overlay here.")
    ] = None,
) -> int:
    """Serve the portal simulator until Ctrl-C."""
    from cutover.sim.cli import serve_forever

    serve_forever(scenario, host, port, overlay, out)
    return 0


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
