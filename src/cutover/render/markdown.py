"""A GitHub-flavoured Markdown table: provinces × steps (numbered as in the checklist), a totals
row, the key of step numbers and the legend, in the chosen language.

Text from outside goes through `text.markdown_cell`: one line, `|` and markup escaped, so every
row keeps its columns and nothing becomes a link, an image or HTML."""

from __future__ import annotations

from cutover.render.base import (
    ATTESTED,
    SYMBOL,
    RenderOptions,
    as_of_line,
    checklist_title,
    insecure_note,
    label,
    legend_items,
    long_time,
    no_evidence_note,
    province_name,
    silent_legend,
    silent_mark,
    silent_note,
    step_numbers,
    title,
    words_of,
)
from cutover.render.text import markdown_cell
from cutover.rollup import Cell, Matrix


def _cell(cell: Cell, options: RenderOptions) -> str:
    mark = "\\" + ATTESTED if cell.attested else ""
    if cell.fraction and cell.status != "done":
        return f"{SYMBOL[cell.status]} {cell.fraction}{mark}"
    if cell.status in ("overdue", "regressed"):
        return f"**{SYMBOL[cell.status]} {markdown_cell(label(cell.status, options.lang))}**{mark}"
    return SYMBOL[cell.status] + mark


def render(matrix: Matrix, options: RenderOptions) -> str:
    if options.communes:
        from cutover.render.communes import markdown_view

        return markdown_view(matrix, options)
    _ = words_of(options)
    numbers = step_numbers(matrix)
    lines = [f"# {markdown_cell(checklist_title(matrix, options.lang))}", ""]
    lines += [markdown_cell(as_of_line(matrix, options.lang)), ""]
    if note := no_evidence_note(matrix, options.lang):
        lines += [f"**{markdown_cell(note)}**", ""]
    head = markdown_cell(_("Province"))
    lines.append(f"| {head} | " + " | ".join(numbers[s.id] for s in matrix.steps) + " |")
    lines.append("|---|" + "|".join(":-:" for _ in matrix.steps) + "|")
    for p in matrix.provinces:
        cells = " | ".join(_cell(matrix.cell(p.code, s.id), options) for s in matrix.steps)
        name = markdown_cell(province_name(p, options.lang))
        lines.append(f"| {silent_mark(matrix, p.code)}{p.code} {name} | {cells} |")
    totals = matrix.totals
    lines.append(
        f"| **{markdown_cell(_('Done'))}** | "
        + " | ".join(f"**{totals[s.id].done}/{totals[s.id].total}**" for s in matrix.steps)
        + " |"
    )
    columns = (_("Column"), _("Step"), _("Due"))
    lines += ["", "| " + " | ".join(markdown_cell(c) for c in columns) + " |", "|---|---|---|"]
    zone = matrix.checklist.timezone
    for step in matrix.steps:
        step_title = markdown_cell(title(step, options.lang))
        lines.append(f"| {numbers[step.id]} | {step_title} | {long_time(step.due, zone)} |")
    if note := insecure_note(matrix, options.lang):
        lines += ["", f"**{markdown_cell(note)}**"]
    if note := silent_note(matrix, options.lang):
        lines += ["", f"**{markdown_cell(note)}**"]
    legend = ", ".join(
        f"{symbol} {markdown_cell(name)}" for _status, symbol, name in legend_items(options.lang)
    )
    extra = markdown_cell(_("n/m = communes done; {mark} = attested by a person", mark=ATTESTED))
    if matrix.silent_after is not None:
        extra += "; " + markdown_cell(silent_legend(matrix, options.lang))
    lines += ["", f"{markdown_cell(_('Legend'))}: {legend}; {extra}.", ""]
    return "\n".join(lines)
