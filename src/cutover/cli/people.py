"""People's records: `mark`, `waive`, and the `history` they leave."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Optional

import typer

from cutover.cli.app import app
from cutover.cli.common import (
    ChecklistOpt,
    DbOpt,
    LangOpt,
    Output,
    ProvincesOpt,
    env_of,
    language,
    open_store_for,
    prepare,
)

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

    c = prepare(
        env,
        service.Selection([province], [step], None, checklist, None, provinces_file, probing=False),
    )
    return c.provinces[0], c.steps[0]


@app.command()
def mark(
    ctx: typer.Context,
    province: Annotated[
        str, typer.Argument(metavar="PROVINCE", help="Province code, slug or name.")
    ],
    step: Annotated[
        str, typer.Argument(metavar="STEP", help="Step id, or its number as check shows it.")
    ],
    by: Annotated[str, typer.Option("--by", metavar="NAME", help="Who attests.")],
    commune: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--commune",
            metavar="COMMUNE",
            help="Commune code or name (commune-level steps only).",
        ),
    ] = None,
    evidence: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--evidence", metavar="URL", help="Evidence URL (http or https)."),
    ] = None,
    evidence_file: Annotated[
        Optional[Path],  # noqa: UP045
        typer.Option(
            "--evidence-file", metavar="FILE", help="Evidence file (only its SHA-256 is stored)."
        ),
    ] = None,
    note: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option("--note", metavar="TEXT", help="A note kept with the attestation."),
    ] = None,
    status: Annotated[
        str,
        typer.Option("--status", metavar="done|failed", help="What the person attests."),
    ] = "done",
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
    Output(env).receipt([line], "the attestation is recorded: do not mark it again")
    return 0


@app.command()
def waive(
    ctx: typer.Context,
    province: Annotated[
        str, typer.Argument(metavar="PROVINCE", help="Province code, slug or name.")
    ],
    step: Annotated[
        str, typer.Argument(metavar="STEP", help="Step id, or its number as check shows it.")
    ],
    reason: Annotated[
        str, typer.Option("--reason", metavar="TEXT", help="Why the exception is justified.")
    ],
    approver: Annotated[
        str, typer.Option("--approver", metavar="NAME", help="Who approved the exception.")
    ],
    until: Annotated[
        str,
        typer.Option("--until", metavar="TIME", help="When it expires (ISO 8601 time)."),
    ],
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
    Output(env).receipt([line], "the waiver is recorded: do not waive it again")
    return 0


@app.command()
def history(
    ctx: typer.Context,
    province: Annotated[
        Optional[str],  # noqa: UP045
        typer.Argument(metavar="PROVINCE", help="Province code, slug or name.", show_default=False),
    ] = None,
    step: Annotated[
        Optional[str],  # noqa: UP045
        typer.Argument(metavar="STEP", help="Step id from the checklist.", show_default=False),
    ] = None,
    limit: Annotated[
        Optional[int],  # noqa: UP045
        typer.Option(
            "--limit",
            "-n",
            metavar="N",
            help="Show the latest N lines (default 50); a line on stderr says how many earlier "
            "changes were left out.",
            show_default=False,
        ),
    ] = None,
    every: Annotated[
        bool, typer.Option("--all", help="Show every change since the store began.")
    ] = False,
    since: Annotated[
        Optional[str],  # noqa: UP045
        typer.Option(
            "--since",
            metavar="TIME",
            help="Only changes at or after this ISO 8601 time (no offset means +07:00).",
        ),
    ] = None,
    lang: LangOpt = None,
    checklist: ChecklistOpt = None,
    db: DbOpt = None,
    provinces_file: ProvincesOpt = None,
) -> int:
    """The timeline of status changes, with who or what caused each (the latest 50 unless
    --limit, --since or --all says otherwise)."""
    from cutover import people, service
    from cutover.errors import OptionError, UsageError

    env = env_of(ctx)
    io = Output(env)
    if every and limit is not None:
        raise UsageError("give --all or --limit N, not both")
    if limit is not None and not 1 <= limit <= people.LIMIT_CAP:
        got = str(limit) if len(str(limit)) <= 24 else f"a {len(str(abs(limit)))}-digit number"
        bound = (
            "at least 1" if limit < 1 else f"at most {people.LIMIT_CAP:,} (--all shows every one)"
        )
        raise OptionError(f"--limit must be {bound}, got {got}")
    shown = None if every else (limit or people.HISTORY_LIMIT)
    start = service.parse_time(since, env.now(), "--since") if since is not None else None
    chosen_language = language(env, lang)
    c = prepare(
        env,
        service.Selection(
            [province] if province else None,
            [step] if step else None,
            None,
            checklist,
            None,
            provinces_file,
            probing=False,
        ),
    )
    code = c.provinces[0].code if province else None
    store = open_store_for(env, db, create=False)
    page = people.history_lines(
        store,
        code,
        step,
        c.loaded.checklist.timezone,
        chosen_language,
        limit=shown,
        since=start,
    )
    for line in page.lines:
        io.out(line)
    if shown is not None and (note := page.note(shown)):
        io.err(f"note: {note}")
    return 0
