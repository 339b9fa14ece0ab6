"""A GitHub-flavoured Markdown table: provinces × steps, a totals row, a legend.

Text from outside goes through `text.markdown_cell`: one line, `|` and markup escaped, so every
row keeps its columns and nothing becomes a link, an image or HTML."""

from __future__ import annotations

from cutover.render.base import (
    SYMBOL,
    RenderOptions,
    abbreviations,
    insecure_note,
    local,
    silent_legend,
    silent_mark,
    silent_note,
    title,
)
from cutover.render.text import markdown_cell
from cutover.rollup import Cell, Matrix


def _cell(cell: Cell) -> str:
    if cell.fraction and cell.status != "done":
        return f"{SYMBOL[cell.status]} {cell.fraction}"
    if cell.status in ("overdue", "regressed"):
        return f"**{SYMBOL[cell.status]} {cell.status}**"
    return SYMBOL[cell.status]


def render(matrix: Matrix, options: RenderOptions) -> str:
    abbr = abbreviations(matrix.steps)
    as_of = local(matrix.as_of, matrix.checklist.timezone).strftime("%H:%M %d/%m/%Y")
    head = title_of(matrix, options)
    lines = [f"# {markdown_cell(head)}", "", f"As of {as_of} ({matrix.checklist.timezone})", ""]
    lines.append("| Province | " + " | ".join(abbr[s.id] for s in matrix.steps) + " |")
    lines.append("|---|" + "|".join(":-:" for _ in matrix.steps) + "|")
    for p in matrix.provinces:
        name = p.spec.name if options.lang == "vi" else p.spec.name_en
        cells = " | ".join(_cell(matrix.cell(p.code, s.id)) for s in matrix.steps)
        lines.append(f"| {silent_mark(matrix, p.code)}{p.code} {markdown_cell(name)} | {cells} |")
    totals = matrix.totals
    lines.append(
        "| **Done** | "
        + " | ".join(f"**{totals[s.id].done}/{totals[s.id].total}**" for s in matrix.steps)
        + " |"
    )
    lines += ["", "| Column | Step | Due |", "|---|---|---|"]
    for step in matrix.steps:
        due = local(step.due, matrix.checklist.timezone).strftime("%H:%M %d/%m/%Y")
        lines.append(
            f"| {abbr[step.id]} | `{step.id}`: {markdown_cell(title(step, options.lang))} | {due} |"
        )
    if note := insecure_note(matrix, options.lang):
        lines += ["", f"**{markdown_cell(note)}**"]
    if note := silent_note(matrix, options.lang):
        lines += ["", f"**{markdown_cell(note)}**"]
    silent = f"; {silent_legend(matrix, options.lang)}" if matrix.silent_after else ""
    lines += [
        "",
        "Legend: "
        + ", ".join(f"{SYMBOL[s]} {s}" for s in SYMBOL)
        + f"; n/m = communes done{silent}.",
        "",
    ]
    return "\n".join(lines)


def title_of(matrix: Matrix, options: RenderOptions) -> str:
    return matrix.checklist.title.vi if options.lang == "vi" else matrix.checklist.title.en
