"""People's records: `mark`, `waive`, and the `history` they leave."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from cutover.cli.app import app
from cutover.cli.common import ChecklistOpt, DbOpt, Output, ProvincesOpt, env_of, open_store_for

if TYPE_CHECKING:
    from cutover.checklist import Step
    from cutover.env import Environment
    from cutover.geo import Province


def _one_cell(
    env: Environment,
    province: str,
    step: str,
    checklist: str | None,
    provinces_file: Path | None,
) -> tuple[Province, Step]:
    """The province and step a person's record is about, checked against the files."""
    from cutover import service

    c = service.prepare(
        service.Selection([province], [step], None, checklist, None, provinces_file),
        environ=env.environ,
    )
    return c.provinces[0], c.steps[0]


@app.command()
def mark(
    ctx: typer.Context,
    province: Annotated[str, typer.Argument(help="Province code, slug or name.")],
    step: Annotated[str, typer.Argument(help="Step id.")],
    by: Annotated[str, typer.Option("--by", help="Who attests.")],
    commune: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--commune", help="Commune code or name (commune-level steps)."),
    ] = None,
    evidence: Annotated[Optional[str], typer.Option("--evidence", help="Evidence URL.")] = None,  # noqa: UP045
    evidence_file: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option("--evidence-file", help="Evidence file (its SHA-256 is stored)."),
    ] = None,
    note: Annotated[Optional[str], typer.Option("--note", help="A note kept with it.")] = None,  # noqa: UP045
    status: Annotated[str, typer.Option("--status", help="done or failed.")] = "done",
    checklist: ChecklistOpt = None,
    db: DbOpt = None,
    provinces_file: ProvincesOpt = None,
) -> int:
    """Record an attestation with evidence (a new record; earlier ones stay in history)."""
    from cutover import people

    env = env_of(ctx)
    where, what = _one_cell(env, province, step, checklist, provinces_file)
    proof = people.evidence_of(evidence, evidence_file)
    store = open_store_for(env, db)
    line = people.mark(
        store, where, what, commune, by, proof, note, status, at=env.now(), site=env.site
    )
    Output(env).out(line)
    return 0


@app.command()
def waive(
    ctx: typer.Context,
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
    from cutover import people, service

    env = env_of(ctx)
    where, what = _one_cell(env, province, step, checklist, provinces_file)
    expiry = service.parse_time(until, env.now(), "--until")
    store = open_store_for(env, db)
    line = people.waive(store, where, what, reason, approver, expiry, now=env.now(), site=env.site)
    Output(env).out(line)
    return 0


@app.command()
def history(
    ctx: typer.Context,
    province: Annotated[Optional[str], typer.Argument(help="Province code, slug or name.")] = None,  # noqa: UP045
    step: Annotated[Optional[str], typer.Argument(help="Step id.")] = None,  # noqa: UP045
    checklist: ChecklistOpt = None,
    db: DbOpt = None,
    provinces_file: ProvincesOpt = None,
) -> int:
    """The timeline of status changes, with who or what caused each."""
    from cutover import people, service

    env = env_of(ctx)
    io = Output(env)
    c = service.prepare(
        service.Selection(
            [province] if province else None,
            [step] if step else None,
            None,
            checklist,
            None,
            provinces_file,
        ),
        environ=env.environ,
    )
    code = c.provinces[0].code if province else None
    store = open_store_for(env, db, create=False)
    lines = people.history_lines(store, code, step, c.loaded.checklist.timezone)
    for line in lines:
        io.out(line)
    if not lines:
        io.out("no history recorded")
    return 0
