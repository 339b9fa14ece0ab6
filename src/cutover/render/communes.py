"""The commune drill-down (`cutover matrix --province P --communes`): every commune of each
commune-level cell, with its code, name, type, status, reason and evidence time.

Each format's renderer hands over to the view here when `RenderOptions.communes` is set
(JSON adds `units` to each commune-level cell itself, and HTML uses its province sections);
text from outside goes through the same `text` helpers as the matrix."""

from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

from rich.text import Text

from cutover.checklist import Step
from cutover.geo import Province
from cutover.render.base import (
    ATTESTED,
    DEFAULT_WIDTH,
    STYLE,
    SYMBOL,
    RenderOptions,
    as_of_line,
    checklist_title,
    label,
    long_time,
    no_evidence_note,
    province_name,
    reason,
    step_numbers,
    title,
    words_of,
)
from cutover.render.base import console as make_console
from cutover.render.csv import stamp
from cutover.render.layout import labelled, wrap
from cutover.render.text import csv_cell, markdown_cell, terminal
from cutover.rollup import Cell, Matrix

COMMUNE_HEADER = [
    "province_code",
    "province",
    "step",
    "step_title",
    "commune_code",
    "commune",
    "commune_type",
    "status",
    "reason",
    "evidence_at",
    "source",
    "by",
]


@dataclass(frozen=True)
class Block:
    """One province's commune-level cell."""

    province: Province
    step: Step
    cell: Cell


def blocks(matrix: Matrix) -> Iterator[Block]:
    for p in matrix.provinces:
        for step in matrix.steps:
            cell = matrix.cell(p.code, step.id)
            if step.level == "commune" and cell.status != "n/a":
                yield Block(p, step, cell)


def commune_rows(matrix: Matrix, options: RenderOptions) -> Iterator[list[str | int | None]]:
    """Rows in COMMUNE_HEADER's order, every string a `csv_cell` (csv and xlsx)."""
    for b in blocks(matrix):
        for u in b.cell.units:
            yield [
                csv_cell(b.province.code),
                csv_cell(b.province.spec.name),
                csv_cell(b.step.id),
                csv_cell(title(b.step, options.lang)),
                csv_cell(u.commune.code),
                csv_cell(u.commune.name),
                csv_cell(u.commune.type),
                u.status,
                csv_cell(reason(u, options.lang)),
                stamp(u.evidence_at, matrix.checklist.timezone),  # as the cells' CSV does
                u.source or "",
                csv_cell(u.by or ""),
            ]


def heading(b: Block, matrix: Matrix, options: RenderOptions) -> str:
    """ "31 Hải Phòng — 9 Kiểm thử …: 87/114 done"."""
    _ = words_of(options)
    number = step_numbers(matrix)[b.step.id]
    return _(
        "{code} {province}, step {number} {title}: {fraction} communes done",
        code=b.province.code,
        province=province_name(b.province, options.lang),
        number=number,
        title=title(b.step, options.lang),
        fraction=b.cell.fraction or "",
    )


def terminal_view(matrix: Matrix, options: RenderOptions) -> str:
    width = options.width or DEFAULT_WIDTH
    buffer = io.StringIO()
    console = make_console(buffer, options, width, soft_wrap=True)
    lines = wrap(
        console, Text(terminal(checklist_title(matrix, options.lang)), style="bold"), width
    )
    lines += wrap(console, Text(as_of_line(matrix, options.lang)), width)
    if note := no_evidence_note(matrix, options.lang):
        lines += wrap(console, Text(note, style="bold yellow"), width)
    zone = matrix.checklist.timezone
    for b in blocks(matrix):
        lines += [
            Text(""),
            *wrap(
                console, Text(terminal(heading(b, matrix, options)), style="bold"), width, indent=3
            ),
        ]
        name_width = max((len(terminal(u.commune.name)) for u in b.cell.units), default=0)
        type_width = max((len(terminal(u.commune.type)) for u in b.cell.units), default=0)
        for u in b.cell.units:
            status = Text.assemble(
                (f"{SYMBOL[u.status]} {label(u.status, options.lang)}", STYLE[u.status])
            )
            if u.source in ("attestation", "mixed"):
                status.append(ATTESTED)
            lead = Text(
                f"{u.commune.code}  {terminal(u.commune.name):<{name_width}}  "
                f"{terminal(u.commune.type):<{type_width}}  "
            )
            body = status.copy()
            if u.evidence_at:
                body.append(f"  {long_time(u.evidence_at, zone)}")
            lines += labelled(console, lead, body, width, indent=7)
            if u.status != "done" and (why := reason(u, options.lang)):
                lines += wrap(console, Text("       " + terminal(why)), width, indent=7)
    for line in lines:
        console.print(line)
    return buffer.getvalue()


def markdown_view(matrix: Matrix, options: RenderOptions) -> str:
    _ = words_of(options)
    lines = [f"# {markdown_cell(checklist_title(matrix, options.lang))}", ""]
    lines += [markdown_cell(as_of_line(matrix, options.lang)), ""]
    if note := no_evidence_note(matrix, options.lang):
        lines += [f"**{markdown_cell(note)}**", ""]
    heads = (_("Code"), _("Commune"), _("Type"), _("Status"), _("Reason"), _("Evidence"))
    zone = matrix.checklist.timezone
    for b in blocks(matrix):
        lines += [f"## {markdown_cell(heading(b, matrix, options))}", ""]
        lines += [
            "| " + " | ".join(markdown_cell(h) for h in heads) + " |",
            "|---|---|---|---|---|---|",
        ]
        for u in b.cell.units:
            status = f"{SYMBOL[u.status]} {markdown_cell(label(u.status, options.lang))}"
            if u.source in ("attestation", "mixed"):
                status += "\\" + ATTESTED
            why = markdown_cell(reason(u, options.lang)) if u.status != "done" else ""
            when = long_time(u.evidence_at, zone) if u.evidence_at else ""
            lines.append(
                f"| {u.commune.code} | {markdown_cell(u.commune.name)} | "
                f"{markdown_cell(u.commune.type)} | {status} | {why} | {when} |"
            )
        lines.append("")
    return "\n".join(lines)


def summary_view(matrix: Matrix, options: RenderOptions) -> str:
    """Per province and commune-level step: how many communes are missing, and which."""
    _ = words_of(options)
    lines = [note] if (note := no_evidence_note(matrix, options.lang)) else []
    for b in blocks(matrix):
        missing = b.cell.missing
        name = terminal(province_name(b.province, options.lang))
        step_title = terminal(title(b.step, options.lang))
        if not missing:
            lines.append(
                _("{province}: every commune done: {title}.", province=name, title=step_title)
            )
            continue
        names = ", ".join(terminal(u.commune.name) for u in missing)
        lines.append(
            _(
                "{province}: {missing} of {total} communes not done ({title}): {names}.",
                province=name,
                missing=len(missing),
                total=b.cell.total_units or 0,
                title=step_title,
                names=names,
            )
        )
    return "\n".join(lines) + "\n"
