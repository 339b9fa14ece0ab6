"""`cutover check` output, grouped by province: each cell that is not done (every cell with
`--all-cells`) with its step's number and title, status, deadline, owner and reason, wrapped to
the terminal; then the provinces done in every step, the totals row, a one-line verdict and,
for commune-level steps of the provinces named, the communes still missing.

Text from outside goes through `text.terminal` and is printed as rich `Text`, never markup: no
escape sequence reaches the terminal and no newline in a reason forges a line."""

from __future__ import annotations

import io
from collections import Counter

from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

from cutover.i18n import Words
from cutover.render.base import (
    DEFAULT_WIDTH,
    STYLE,
    SYMBOL,
    RenderOptions,
    label,
    province_name,
    reason,
    short_time,
    step_numbers,
    title,
    words_of,
)
from cutover.render.base import console as make_console
from cutover.render.layout import Column, chunks, grid, grid_width, labelled, wrap
from cutover.render.text import terminal
from cutover.rollup import URGENCY, Cell, Matrix

QUIET = ("done", "n/a", "waived")  # not shown without --all-cells: nothing to do
INDENT = 6


def render(
    matrix: Matrix, options: RenderOptions, *, all_cells: bool = False, communes: bool = True
) -> str:
    width = options.width or DEFAULT_WIDTH
    buffer = io.StringIO()
    console = make_console(buffer, options, width, soft_wrap=True)
    lines = cells(console, matrix, options, width, all_cells)
    lines += totals(console, matrix, options, width)
    lines.append(Text(verdict(matrix, options, width), style="bold"))
    if communes:
        lines += missing_communes(console, matrix, options, width)
    for line in lines:
        console.print(line)
    return buffer.getvalue()


def cells(
    console: Console, matrix: Matrix, options: RenderOptions, width: int, all_cells: bool
) -> list[Text]:
    _ = words_of(options)
    lines: list[Text] = []
    complete = []
    for p in matrix.provinces:
        applicable = [matrix.cell(p.code, s.id) for s in matrix.steps]
        applicable = [c for c in applicable if c.status != "n/a"]
        behind = [c for c in applicable if c.status not in QUIET]
        shown = [c for c in applicable if all_cells or c.status not in QUIET]
        name = f"{p.code} {terminal(province_name(p, options.lang))}"
        if not behind and not all_cells:
            complete.append(name)
            continue
        head = _(
            "{province}: {behind} of {total} not done",
            province=name,
            behind=len(behind),
            total=len(applicable),
        )
        lines += wrap(console, Text(head, style="bold"), width, indent=3)
        for cell in shown:
            lines += _cell(console, matrix, cell, options, width)
        lines.append(Text(""))
    if complete:
        lead = _("Done in every step ({n}): ", n=len(complete))
        lines += labelled(console, Text(lead, style="bold"), Text(", ".join(complete)), width, 3)
        lines.append(Text(""))
    return lines


def _cell(
    console: Console, matrix: Matrix, cell: Cell, options: RenderOptions, width: int
) -> list[Text]:
    _ = words_of(options)
    step = next(s for s in matrix.steps if s.id == cell.step)
    number = step_numbers(matrix)[step.id]
    lead = Text(f"  {number:>2}  ")
    lines = labelled(console, lead, Text(terminal(title(step, options.lang))), width, INDENT)
    status = Text(f"{SYMBOL[cell.status]} {label(cell.status, options.lang)}")
    status.stylize(STYLE[cell.status])
    due = _("due {time}", time=short_time(step.due, matrix.checklist.timezone))
    detail = status + Text(f" · {due}")
    if cell.fraction and cell.status == "done":  # otherwise the reason says it
        detail.append(" · " + _("{fraction} communes done", fraction=cell.fraction))
    who = terminal(step.clear("owner", options.lang) or "") or "-"
    owner = Text(_("owner: {owner}", owner=who))
    if cell_len(detail.plain) + 3 + cell_len(owner.plain) <= width - INDENT:
        lines.append(Text(" " * INDENT) + detail + Text(" · ") + owner)
    else:  # the owner on a line of its own, wrapped under its name
        lines += wrap(console, Text(" " * INDENT) + detail, width, indent=INDENT)
        lines += wrap(console, Text(" " * INDENT) + owner, width, indent=INDENT + 2)
    notes = []
    if cell.status != "done" and (why := reason(cell, options.lang)):
        notes.append(Text(terminal(why)))
    if cell.attested:
        notes.append(Text(_("attested by {people}", people=terminal(cell.by or "?"))))
    if cell.insecure:
        notes.append(Text(_("TLS verification off"), style="yellow"))
    for note in notes:
        lines += wrap(console, Text(" " * INDENT) + note, width, indent=INDENT)
    return lines


def totals(console: Console, matrix: Matrix, options: RenderOptions, width: int) -> list[Text]:
    """The totals row under the step numbers (split into blocks when too wide)."""
    _ = words_of(options)
    numbers = step_numbers(matrix)
    done = Text(_("done"), style="bold")
    columns = [
        Column(numbers[s.id], [Text(f"{t.done}/{t.total}", style="bold")])
        for s in matrix.steps
        for t in [matrix.totals[s.id]]
    ]
    label_width = len(done.plain)
    if grid_width(label_width, columns) <= width:
        return grid(console, [done], columns, label_width)
    lines: list[Text] = []
    for group in chunks(columns, width - label_width):
        lines += grid(console, [done], group, label_width)
    return lines


def verdict(matrix: Matrix, options: RenderOptions, width: int = 10_000) -> str:
    """One line: ready or not, how many cells are behind and how (the breakdown by status is
    left out when the line would not fit the terminal)."""
    _ = words_of(options)
    counts: Counter[str] = Counter(c.status for c in matrix.cells.values() if c.status != "n/a")
    total = sum(counts.values())
    behind = total - counts["done"] - counts["waived"]
    waived = _(" ({n} waived)", n=counts["waived"]) if counts["waived"] else ""
    if behind == 0:
        return _("Ready: all {total} cells are done{waived}.", total=total, waived=waived)
    how = ", ".join(  # most urgent first
        f"{counts[s]} {label(s, options.lang)}" for s in URGENCY if s not in QUIET and counts[s]
    )
    provinces = len({c.province for c in matrix.cells.values() if c.status not in QUIET})
    line = _.ngettext(
        "Not ready: {behind} of {total} cells are not done ({how}) in {n} province.",
        "Not ready: {behind} of {total} cells are not done ({how}) in {n} provinces.",
        provinces,
        behind=behind,
        total=total,
        how=how,
    )
    if cell_len(line) <= width:
        return line
    return _.ngettext(
        "Not ready: {behind} of {total} cells are not done in {n} province.",
        "Not ready: {behind} of {total} cells are not done in {n} provinces.",
        provinces,
        behind=behind,
        total=total,
    )


def missing_communes(
    console: Console, matrix: Matrix, options: RenderOptions, width: int
) -> list[Text]:
    """For each commune-level cell not done, the communes still missing, by name."""
    _ = words_of(options)
    numbers = step_numbers(matrix)
    lines: list[Text] = []
    for p in matrix.provinces:
        for step in matrix.steps:
            cell = matrix.cell(p.code, step.id)
            if step.level != "commune" or not cell.missing:
                continue
            head = _missing_head(
                _,
                p.code,
                province_name(p, options.lang),
                numbers[step.id],
                len(cell.missing),
                cell.total_units or 0,
            )
            names = ", ".join(
                f"{terminal(u.commune.name)} ({u.commune.code})" for u in cell.missing
            )
            lines += [Text(""), *wrap(console, Text(head, style="bold"), width, indent=2)]
            lines += wrap(console, Text("  " + names), width, indent=2)
    return lines


def _missing_head(_: Words, code: str, name: str, number: str, missing: int, total: int) -> str:
    return _(
        "Communes not done in {code} {province}, step {number} ({missing} of {total}):",
        code=code,
        province=terminal(name),
        number=number,
        missing=missing,
        total=total,
    )
