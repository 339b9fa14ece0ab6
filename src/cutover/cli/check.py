"""`cutover check`: probe, record, show, and say what changed."""

from __future__ import annotations

import signal
from collections.abc import Coroutine
from typing import Annotated, Any, Optional, TypeVar

import typer

from cutover.cli.app import ProbingCommand, app, collector_for_probing, collector_paused
from cutover.cli.common import (
    AsOfOpt,
    ChecklistOpt,
    DbOpt,
    EndpointsOpt,
    LangOpt,
    Output,
    ProvinceListOpt,
    ProvincesOpt,
    StepListOpt,
    TagOpt,
    env_of,
    language,
    limits,
    open_store_for,
    option_errors,
    prepare,
    progress_for,
    render_options,
)
from cutover.errors import EvaluationError, ExitCode, OptionError, UsageError

T = TypeVar("T")

# 128 + 15, what a shell reports for a process SIGTERM ended: `timeout`, systemd and cron
# wrappers see the same code as before, but now the run is closed and what finished is kept.
TERMINATED = 128 + signal.SIGTERM


class Terminated(Exception):
    """SIGTERM cancelled the probing (what `KeyboardInterrupt` is for SIGINT)."""


def run_probing(main: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(main)`, with SIGTERM handled the way asyncio.run handles SIGINT: the main
    task is cancelled, so the run is closed as interrupted and what finished stays recorded;
    then `Terminated` is raised.  The handler is installed here, in the command, and removed
    afterwards: `service.run_checks` stays usable inside a running loop (a web server)."""
    import asyncio

    async def terminable() -> T:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
        terminated = False

        def on_sigterm() -> None:
            nonlocal terminated
            if terminated or task is None:
                return  # one cancellation; the run is closing (`timeout -k` can still kill)
            terminated = True
            task.cancel()

        previous = signal.getsignal(signal.SIGTERM)
        installed = False
        if previous == signal.SIG_DFL:  # an ignored or a caller's own handler is left alone
            try:
                loop.add_signal_handler(signal.SIGTERM, on_sigterm)
                installed = True
            except (NotImplementedError, RuntimeError, ValueError):  # not the main thread
                pass
        try:
            return await main
        except asyncio.CancelledError:
            if terminated and task is not None:
                task.uncancel()
                raise Terminated() from None
            raise
        finally:
            if installed:
                loop.remove_signal_handler(signal.SIGTERM)
                signal.signal(signal.SIGTERM, previous)

    return asyncio.run(terminable())


def recorded_command(argv: tuple[str, ...]) -> str:
    """The command line as stored with a run: URLs lose their user-info and query values, and
    the --notify URL its path as well (where chat services keep their tokens)."""
    from cutover.changes import redact_url as webhook
    from cutover.secrets import redact_url

    shown = []
    for i, arg in enumerate(argv):
        if (i > 0 and argv[i - 1] == "--notify") or arg.startswith("--notify="):
            shown.append(webhook(arg))
        else:
            shown.append(redact_url(arg) if "://" in arg else arg)
    return " ".join(shown)


def json_line(data: dict[str, Any]) -> str:
    import json

    return json.dumps(data, ensure_ascii=False)


def _explicit_file(checklist: str | None) -> bool:
    """Commands run only from a checklist the user named by path on this command line, never
    from one found in the current directory or the package."""
    from pathlib import Path

    return checklist is not None and Path(checklist).is_file()


@app.command(cls=ProbingCommand)
def check(
    ctx: typer.Context,
    province: ProvinceListOpt = None,
    all_: Annotated[bool, typer.Option("--all", help="Every province.")] = False,
    step: StepListOpt = None,
    tag: TagOpt = None,
    checklist: ChecklistOpt = None,
    endpoints: EndpointsOpt = None,
    as_of: AsOfOpt = None,
    fmt: Annotated[
        str,
        typer.Option(
            "--format", metavar="table|json", help="Output format: table (for people) or json."
        ),
    ] = "table",
    all_cells: Annotated[
        bool,
        typer.Option("--all-cells", help="Show every cell, not only those not done."),
    ] = False,
    lang: LangOpt = None,
    jobs: Annotated[
        int, typer.Option("--jobs", metavar="N", help="Probes in flight at once.")
    ] = 64,
    per_host: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            "--per-host", metavar="N", help="Connections per host (default min(jobs, 16))."
        ),
    ] = None,
    timeout: Annotated[
        float, typer.Option("--timeout", metavar="SECONDS", help="Time allowed per probe.")
    ] = 10.0,
    db: DbOpt = None,
    no_store: Annotated[bool, typer.Option("--no-store", help="Do not record results.")] = False,
    quiet: Annotated[
        bool,
        typer.Option("--quiet", "-q", help="Print only what changed or could not be evaluated."),
    ] = False,
    notify: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--notify",
            metavar="URL",
            help="POST changes (newly done, regressed, overdue) as JSON to this URL.",
        ),
    ] = None,
    allow_commands: Annotated[
        bool,
        typer.Option(
            "--allow-commands",
            help="Run the `command` probes of a checklist file given by path with --checklist.",
        ),
    ] = False,
    provinces_file: ProvincesOpt = None,
) -> int:
    """Run the probes for one province or all of them, record and show what is not done."""
    from cutover import changes, service
    from cutover.render import get

    env = env_of(ctx)
    io = Output(env)
    chosen_language = language(env, lang)
    if fmt not in ("table", "json"):
        raise OptionError(f"--format must be table or json, got {fmt!r}")
    if not province and not all_:
        raise UsageError("name provinces with --province P (repeatable) or use --all")
    if province and all_:
        raise UsageError("give --province or --all, not both")
    lim = limits(jobs, timeout, per_host)  # before any work, as the other option values
    if notify is not None:
        changes.check_webhook(notify)
    with option_errors():
        moment = service.as_of_time(as_of, env.now())
    sel = service.Selection(
        None if all_ else province, step, tag, checklist, endpoints, provinces_file
    )
    c = prepare(env, sel)
    for note in service.fallback_notes(c):
        io.err(f"note: {note}")
    if forecast := service.forecast_line(moment, env.now()):
        io.err(f"note: {forecast}")
    store = None if no_store else open_store_for(env, db)
    before = None
    wants_changes = quiet or notify is not None  # only these look at what changed
    if wants_changes and store is not None:
        with collector_paused():
            before = service.matrix_before_run(c, store, moment if as_of else None)
    run = service.Run()
    terminated = False
    import aiohttp  # noqa: F401  (the engine's, imported here so that the freeze covers it)

    try:
        with collector_for_probing():
            run_probing(
                service.run_checks(
                    c,
                    lim,
                    env,
                    store=store,
                    command=recorded_command(env.argv),
                    run=run,
                    progress=progress_for(env, not quiet),
                    allow_commands=allow_commands and _explicit_file(checklist),
                )
            )
    except KeyboardInterrupt:
        run.interrupted = True
    except Terminated:
        run.interrupted = terminated = True
    with collector_paused():
        if store is not None:
            matrix = service.stored_matrix(c, store, moment, max(moment, env.now()))
        else:
            matrix = service.matrix_of(c, run.evidence(), moment)
    code = service.exit_code(matrix, run)
    found = changes.diff(before, matrix) if wants_changes else []
    if notify and (problem := changes.notify(notify, found, matrix)):
        io.err(f"warning: {problem}")
    if quiet:  # the changes only: a line each, or a JSON object each (JSON Lines)
        lines = [c.line() if fmt == "table" else json_line(c.as_json()) for c in found]
        if store is not None:
            io.receipt(lines, "the run is recorded (`cutover history` shows what changed)")
        else:
            for line in lines:
                io.out(line)
    else:
        options = render_options(env, chosen_language)
        if fmt == "json":
            io.emit(get("json")(matrix, options))
        else:
            from cutover.render import check_view  # rich, which only the table needs

            io.emit(check_view.render(matrix, options, all_cells=all_cells, communes=not all_))
    if run.interrupted:
        io.err(f"interrupted: kept {run.count} results that had finished")
    if terminated:
        return TERMINATED
    if code == ExitCode.UNAVAILABLE:
        # Whether or not this run changed anything in the store, and with or without
        # --quiet: the same one line, exit 3 (`cli.main`).
        raise EvaluationError("could not evaluate: every probe was unknown")
    return code
