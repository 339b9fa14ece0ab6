"""The command line: a thin Typer layer.  Each command parses options, calls the library,
prints, and returns an exit code; `main` is the one place that maps errors to exit codes.

Heavy or network modules are imported inside commands so `--help`, `validate` and
`provinces` stay fast and never import aiohttp.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from cutover.errors import CutoverError, ExitCode, UsageError

if TYPE_CHECKING:
    from collections.abc import Callable

    from cutover.checklist import Step
    from cutover.geo import Province
    from cutover.probes import Limits
    from cutover.render.base import Lang
    from cutover.rollup import Matrix
    from cutover.store.sqlite import Store

    # Given the number of probes, returns the callback that advances the bar by one.
    ProgressStart = Callable[[int], Callable[[], None]]

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


def _progress(enabled: bool) -> ProgressStart | None:
    """A progress bar on a terminal's stderr; nothing on a pipe."""
    if not enabled or not sys.stderr.isatty():
        return None

    def start(total: int) -> Callable[[], None]:
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


def _limits(jobs: int, timeout: float, per_host: int | None = None) -> Limits:
    from cutover.probes import Limits

    if jobs < 1:
        raise UsageError(f"--jobs must be at least 1, got {jobs}")
    if timeout <= 0:
        raise UsageError(f"--timeout must be positive, got {timeout:g}")
    return Limits(jobs=jobs, timeout=timeout, per_host=per_host or min(jobs, 16))


DbOpt = Annotated[
    Path | None,
    typer.Option("--db", envvar="CUTOVER_DB", help="SQLite store (default: user data dir)."),
]
ChecklistOpt = Annotated[Optional[str], typer.Option("--checklist", help="Checklist file or name.")]  # noqa: UP045
EndpointsOpt = Annotated[
    Path | None,
    typer.Option("--endpoints", envvar="CUTOVER_ENDPOINTS", help="Endpoint overlay file."),
]
AsOfOpt = Annotated[
    str | None, typer.Option("--as-of", help="ISO 8601 time (default now; no offset = +07:00).")
]
ProvinceListOpt = Annotated[
    list[str] | None,
    typer.Option("--province", "-p", help="Province code, slug or name (repeatable)."),
]
StepListOpt = Annotated[Optional[list[str]], typer.Option("--step", help="Step id (repeatable).")]  # noqa: UP045
TagOpt = Annotated[Optional[str], typer.Option("--tag", help="Only steps with this tag.")]  # noqa: UP045


def _store(db: Path | None, *, create: bool = True) -> Store:
    from cutover.store.sqlite import Store

    return Store(db, create=create)


@app.command()
def check(
    province: ProvinceListOpt = None,
    all_: Annotated[bool, typer.Option("--all", help="Every province.")] = False,
    step: StepListOpt = None,
    tag: TagOpt = None,
    checklist: ChecklistOpt = None,
    endpoints: EndpointsOpt = None,
    as_of: AsOfOpt = None,
    fmt: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
    jobs: Annotated[int, typer.Option("--jobs", help="Probes in flight at once.")] = 64,
    per_host: Annotated[
        int | None,
        typer.Option("--per-host", help="Connections per host (default min(jobs, 16))."),
    ] = None,
    timeout: Annotated[float, typer.Option("--timeout", help="Seconds per probe.")] = 10.0,
    db: DbOpt = None,
    no_store: Annotated[bool, typer.Option("--no-store", help="Do not record results.")] = False,
    quiet: Annotated[
        bool,
        typer.Option("--quiet", "-q", help="Print only what changed or could not be evaluated."),
    ] = False,
    notify: Annotated[
        str | None, typer.Option("--notify", help="POST changes as JSON to this URL.")
    ] = None,
    provinces_file: ProvincesOpt = None,
) -> int:
    """Run the probes for one province or all of them, record and show each step's status."""
    from datetime import UTC, datetime

    from cutover import changes, checking
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
    limits = _limits(jobs, timeout, per_host)
    store = None if no_store else _store(db)
    before = None
    wants_changes = quiet or notify is not None  # only these look at what changed
    if wants_changes and store is not None and (last := store.last_run()) is not None:
        previous = last[2] or last[1]
        # With an explicit --as-of both sides use that clock; otherwise the previous run's.
        before = checking.stored_matrix(ctx, store, moment if as_of else previous, previous)
    run = checking.execute(
        ctx, limits, store=store, command=" ".join(sys.argv[1:]), progress=_progress(not quiet)
    )
    if store is not None:
        matrix = checking.stored_matrix(ctx, store, moment, max(moment, datetime.now(UTC)))
    else:
        matrix = checking.matrix_of(ctx, run.evidence(), moment)
    code = checking.exit_code(matrix, run)
    found = changes.diff(before, matrix) if wants_changes else []
    if notify and (problem := changes.notify(notify, found, matrix)):
        err(f"warning: {problem}")
    if quiet:
        for change in found:
            out(change.line())
        if code == 3 and not found:
            err("could not evaluate: every probe was unknown")
    else:
        options = RenderOptions(color=_color())
        emit(get("json")(matrix, options) if fmt == "json" else check_view.render(matrix, options))
    if run.interrupted:
        err(f"interrupted: kept {len(run.results)} results that had finished")
    return code


def _one_cell(
    province: str, step: str, checklist: str | None, provinces_file: Path | None
) -> tuple[Province, Step]:
    """The province and step a person's record is about, checked against the files."""
    from cutover import checking

    ctx = checking.prepare(
        checking.Selection([province], [step], None, checklist, None, provinces_file)
    )
    return ctx.provinces[0], ctx.steps[0]


@app.command()
def mark(
    province: Annotated[str, typer.Argument(help="Province code, slug or name.")],
    step: Annotated[str, typer.Argument(help="Step id.")],
    by: Annotated[str, typer.Option("--by", help="Who attests.")],
    commune: Annotated[
        str | None, typer.Option("--commune", help="Commune code or name (commune-level steps).")
    ] = None,
    evidence: Annotated[Optional[str], typer.Option("--evidence", help="Evidence URL.")] = None,  # noqa: UP045
    evidence_file: Annotated[
        Path | None,
        typer.Option("--evidence-file", help="Evidence file (its SHA-256 is stored)."),
    ] = None,
    note: Annotated[Optional[str], typer.Option("--note")] = None,  # noqa: UP045
    status: Annotated[str, typer.Option("--status", help="done or failed.")] = "done",
    checklist: ChecklistOpt = None,
    db: DbOpt = None,
    provinces_file: ProvincesOpt = None,
) -> int:
    """Record an attestation with evidence (a new record; earlier ones stay in history)."""
    from cutover import people

    where, what = _one_cell(province, step, checklist, provinces_file)
    proof = people.evidence_of(evidence, evidence_file)
    out(people.mark(_store(db), where, what, commune, by, proof, note, status))
    return 0


@app.command()
def waive(
    province: Annotated[str, typer.Argument(help="Province code, slug or name.")],
    step: Annotated[str, typer.Argument(help="Step id.")],
    reason: Annotated[str, typer.Option("--reason", help="Justification.")],
    approver: Annotated[str, typer.Option("--approver", help="Who approved the exception.")],
    until: Annotated[str, typer.Option("--until", help="Expiry (ISO 8601).")],
    checklist: ChecklistOpt = None,
    db: DbOpt = None,
    provinces_file: ProvincesOpt = None,
) -> int:
    """Record an approved exception; shown as waived until it expires."""
    from cutover import checking, people

    where, what = _one_cell(province, step, checklist, provinces_file)
    expiry = checking.parse_time(until, "--until")
    out(people.waive(_store(db), where, what, reason, approver, expiry))
    return 0


@app.command()
def history(
    province: Annotated[Optional[str], typer.Argument(help="Province code, slug or name.")] = None,  # noqa: UP045
    step: Annotated[Optional[str], typer.Argument(help="Step id.")] = None,  # noqa: UP045
    checklist: ChecklistOpt = None,
    db: DbOpt = None,
    provinces_file: ProvincesOpt = None,
) -> int:
    """The timeline of status changes, with who or what caused each."""
    from cutover import checking, people

    ctx = checking.prepare(
        checking.Selection(
            [province] if province else None,
            [step] if step else None,
            None,
            checklist,
            None,
            provinces_file,
        )
    )
    code = ctx.provinces[0].code if province else None
    lines = people.history_lines(
        _store(db, create=False), code, step, ctx.loaded.checklist.timezone
    )
    for line in lines:
        out(line)
    if not lines:
        out("no history recorded")
    return 0


def _language(lang: str) -> Lang:
    if lang == "vi":
        return "vi"
    if lang == "en":
        return "en"
    raise UsageError(f"--lang must be vi or en, got {lang!r}")


def _parse_gate(text: str) -> tuple[str, str, int]:
    import re

    match = re.fullmatch(r"\s*([a-z0-9-]+)\s*(>=|<=|==|>|<)\s*(\d+)\s*", text)
    if not match:
        raise UsageError(f"--require {text!r}: expected STEP>=N (or >, ==, <=, <)")
    return match[1], match[2], int(match[3])


def _gates(matrix: Matrix, gates: list[str]) -> list[str]:
    """The readiness gates that are not met, each described in one line."""
    import operator

    ops = {
        ">=": operator.ge,
        "<=": operator.le,
        "==": operator.eq,
        ">": operator.gt,
        "<": operator.lt,
    }
    totals = matrix.totals
    failed = []
    for text in gates:
        step_id, op, wanted = _parse_gate(text)
        if step_id not in totals:
            raise UsageError(f"--require {text!r}: step {step_id!r} is not in the matrix")
        total = totals[step_id]
        if not ops[op](total.done, wanted):
            failed.append(f"gate not met: {step_id}{op}{wanted} (done {total.done}/{total.total})")
    return failed


@app.command()
def matrix(
    province: ProvinceListOpt = None,
    step: StepListOpt = None,
    tag: TagOpt = None,
    as_of: AsOfOpt = None,
    lang: Annotated[str, typer.Option("--lang", help="vi or en.")] = "en",
    fmt: Annotated[
        list[str] | None, typer.Option("--format", help="FORMAT or FORMAT:PATH (repeatable).")
    ] = None,
    require: Annotated[
        list[str] | None,
        typer.Option("--require", help="Gate such as 'portal-closure>=34' (repeatable)."),
    ] = None,
    checklist: ChecklistOpt = None,
    db: DbOpt = None,
    provinces_file: ProvincesOpt = None,
) -> int:
    """Render the readiness matrix from the store, as of now or any past time."""
    from cutover import checking
    from cutover.render import write_all
    from cutover.render.base import RenderOptions

    language = _language(lang)
    gates = [_parse_gate(g) for g in require or []]
    del gates  # parsed early so a typo fails before any work
    ctx = checking.prepare(checking.Selection(province, step, tag, checklist, None, provinces_file))
    store = _store(db, create=False)
    result = checking.stored_matrix(ctx, store, checking.parse_time(as_of))
    options = RenderOptions(lang=language, color=_color(), **checking.store_context(result, store))
    write_all(result, fmt or ["table"], options, emit)
    if require:
        failed = _gates(result, require)
        for line in failed:
            err(line)  # "cutover: gate not met: …"
        return 1 if failed else 0
    return checking.exit_code(result)


@app.command()
def summary(
    province: ProvinceListOpt = None,
    step: StepListOpt = None,
    tag: TagOpt = None,
    as_of: AsOfOpt = None,
    lang: Annotated[str, typer.Option("--lang", help="vi or en.")] = "vi",
    checklist: ChecklistOpt = None,
    db: DbOpt = None,
    provinces_file: ProvincesOpt = None,
) -> int:
    """The short national report in the telegram's manner, from the store."""
    from cutover import checking
    from cutover.render import get
    from cutover.render.base import RenderOptions

    language = _language(lang)
    ctx = checking.prepare(checking.Selection(province, step, tag, checklist, None, provinces_file))
    result = checking.stored_matrix(ctx, _store(db, create=False), checking.parse_time(as_of))
    emit(get("summary")(result, RenderOptions(lang=language)))
    return 0


@app.command()
def demo(
    fmt: Annotated[
        list[str] | None, typer.Option("--format", help="FORMAT or FORMAT:PATH (repeatable).")
    ] = None,
    scenario: Annotated[
        str | None, typer.Option("--scenario", help="Scenario name or file.")
    ] = None,
    tag: Annotated[str, typer.Option("--tag", help="Steps to show.")] = "telegram-2025-06-28",
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Clock (default: the scenario's).")
    ] = None,
    lang: Annotated[str, typer.Option("--lang", help="vi or en.")] = "en",
    db: Annotated[
        Path | None,
        typer.Option("--db", help="Keep the demo's store here (default: a temporary file)."),
    ] = None,
) -> int:
    """Start the simulator, check every province against it, print the readiness matrix."""
    from cutover import demo as demo_lib
    from cutover.checking import store_context
    from cutover.render import write_all
    from cutover.render.base import RenderOptions

    language = _language(lang)
    formats = fmt or ["table"]
    show_progress = all(f.split(":", 1)[0] == "table" or ":" in f for f in formats)
    with demo_lib.demo_store(db) as store:
        result, run = demo_lib.run_demo(
            scenario, tag, as_of, store, progress=_progress(show_progress)
        )
        options = RenderOptions(lang=language, color=_color(), **store_context(result, store))
        write_all(result, formats, options, emit)
    return 130 if run.interrupted else 0


@app.command("db")
def db_info(
    db: DbOpt = None,
    integrity: Annotated[bool, typer.Option("--check", help="Run PRAGMA integrity_check.")] = False,
) -> int:
    """Show where the store is and what it holds."""
    store = _store(db, create=False)
    for line in store.describe():
        out(line)
    if integrity:
        verdict = store.integrity()
        out(f"integrity: {verdict}")
        return 0 if verdict == "ok" else 3
    return 0


@sim_app.command("serve")
def sim_serve(
    scenario: Annotated[
        str | None, typer.Option("--scenario", help="Scenario name or file.")
    ] = None,
    host: Annotated[str, typer.Option("--host")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535)] = 8080,
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
