"""Views of the store: `matrix` (every format, readiness gates) and `summary`."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from cutover.cli.app import app, collector_paused
from cutover.cli.common import (
    AsOfOpt,
    ChecklistOpt,
    DbOpt,
    FormatsOpt,
    LangOpt,
    Output,
    ProvinceListOpt,
    ProvincesOpt,
    StepListOpt,
    TagOpt,
    check_formats,
    env_of,
    language,
    open_store_for,
    option_errors,
    prepare,
    render_options,
)

if TYPE_CHECKING:
    from datetime import timedelta

    from cutover.env import Environment
    from cutover.rollup import Matrix
    from cutover.store.base import Store

HISTORY_FORMATS = {"html"}  # the formats that draw the done counts over time

SilentAfterOpt = Annotated[
    Optional[str],  # noqa: UP045
    typer.Option(
        "--silent-after",
        metavar="DURATION",
        help="Flag provinces with no run or attestation for longer than this, e.g. 2h "
        "(default: CUTOVER_SILENT_AFTER; unset: no heartbeat).",
    ),
]


def heartbeat(env: Environment, value: str | None) -> timedelta | None:
    """--silent-after, else CUTOVER_SILENT_AFTER, as a duration (None: no heartbeat)."""
    from cutover import service

    if value is not None:
        return service.parse_heartbeat(value)
    return service.parse_heartbeat(env.get("CUTOVER_SILENT_AFTER"), "CUTOVER_SILENT_AFTER")


def store_context(matrix: Matrix, store: Store, formats: list[str]) -> dict[str, Any]:
    """What history-aware renderers need, computed only when one of them is asked for."""
    from cutover import service

    names = {f.partition(":")[0] for f in formats}
    series = service.done_series(matrix, store) if names & HISTORY_FORMATS else ()
    # Only Prometheus says when the last run was (with a past --as-of, it looks back for it).
    wanted = "prometheus" in names
    last_run = service.last_run_times(store, matrix.as_of) if wanted else None
    return {"series": series, "last_run": last_run}


@app.command()
def matrix(
    ctx: typer.Context,
    province: ProvinceListOpt = None,
    step: StepListOpt = None,
    tag: TagOpt = None,
    as_of: AsOfOpt = None,
    lang: LangOpt = None,
    fmt: FormatsOpt = None,
    communes: Annotated[
        bool,
        typer.Option(
            "--communes",
            help="List each commune of the commune-level steps (code, name, type, status, "
            "reason, evidence time) instead of the provinces.",
        ),
    ] = False,
    require: Annotated[
        Optional[list[str]],  # noqa: UP045
        typer.Option(
            "--require",
            metavar="STEP>=N",
            help="Readiness gate such as 'portal-closure>=34' (repeatable): exit 1 unless met.",
        ),
    ] = None,
    checklist: ChecklistOpt = None,
    db: DbOpt = None,
    provinces_file: ProvincesOpt = None,
    silent_after: SilentAfterOpt = None,
) -> int:
    """Render the readiness matrix from the store, as of now or any past time."""
    from cutover import service
    from cutover.render import write_all

    env = env_of(ctx)
    io = Output(env)
    chosen_language = language(env, lang)
    with option_errors():
        gates = [service.Gate.parse(g) for g in require or []]  # a typo fails before any work
        moment = service.as_of_time(as_of, env.now())
    beat = heartbeat(env, silent_after)
    formats = fmt or ["table"]
    check_formats(formats, terminal=env.stdout.isatty())
    c = prepare(
        env, service.Selection(province, step, tag, checklist, None, provinces_file, probing=False)
    )
    if communes:
        c = service.commune_steps(c)
    with option_errors():
        service.check_gates(c, gates)
    store = open_store_for(env, db, create=False)
    with collector_paused():
        result = service.stored_matrix(c, store, moment, None, beat)
    for note in (service.forecast_line(moment, env.now()), service.no_evidence_line(result)):
        if note:
            io.err(f"note: {note}")
    context = store_context(result, store, formats)
    options = render_options(env, chosen_language, communes=communes, **context)
    write_all(result, formats, options, io.emit)
    if gates:
        failed = service.unmet_gates(result, gates)
        for line in failed:
            io.err(line)  # "cutover: gate not met: …"
        return 1 if failed else 0
    return service.exit_code(result)


@app.command()
def summary(
    ctx: typer.Context,
    province: ProvinceListOpt = None,
    step: StepListOpt = None,
    tag: TagOpt = None,
    as_of: AsOfOpt = None,
    lang: LangOpt = None,
    checklist: ChecklistOpt = None,
    db: DbOpt = None,
    provinces_file: ProvincesOpt = None,
    silent_after: SilentAfterOpt = None,
) -> int:
    """The short national report in the telegram's manner, from the store."""
    from cutover import service
    from cutover.render import get

    env = env_of(ctx)
    io = Output(env)
    chosen_language = language(env, lang)
    beat = heartbeat(env, silent_after)
    with option_errors():
        moment = service.as_of_time(as_of, env.now())
    c = prepare(
        env, service.Selection(province, step, tag, checklist, None, provinces_file, probing=False)
    )
    store = open_store_for(env, db, create=False)
    with collector_paused():
        result = service.stored_matrix(c, store, moment, None, beat)
    for note in (service.forecast_line(moment, env.now()), service.no_evidence_line(result)):
        if note:
            io.err(f"note: {note}")
    io.emit(get("summary")(result, render_options(env, chosen_language)))
    return 0
