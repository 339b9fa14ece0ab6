"""The terminal matrix: provinces × steps, a symbol per cell, totals, a key and a legend, fitted
to the terminal's width (`COLUMNS`, 80 included) for any number of steps.

Steps are columns headed by their number in the checklist; the key under the table gives each
number's title, wrapped.  The totals row is the telegram's `32/34` when it fits, else two rows
(done, out of).  When even that is too wide, a few provinces are shown transposed (steps as
rows, with their titles) and many are split into blocks of steps.  Nothing is cut: names and
titles wrap.

Text from outside goes through `text.terminal` and is handed to rich as `Text`, never as a
string rich would parse as markup (`[link=…]`, or a stray `[/]` that raises)."""

from __future__ import annotations

import io

from rich.cells import cell_len
from rich.console import Console
from rich.text import Text

from cutover.render.base import (
    ATTESTED,
    DEFAULT_WIDTH,
    STYLE,
    RenderOptions,
    as_of_line,
    cell_mark,
    checklist_title,
    insecure_note,
    legend_items,
    no_evidence_note,
    province_name,
    short_time,
    silent_legend,
    silent_mark,
    silent_note,
    step_numbers,
    title,
    words_of,
)
from cutover.render.base import console as make_console
from cutover.render.layout import GAP, Column, chunks, grid, grid_width, labelled, wrap
from cutover.render.text import terminal
from cutover.rollup import Matrix

LABEL_INDENT = 3  # continuation lines of a province's name start under the name, not the code


def render(matrix: Matrix, options: RenderOptions) -> str:
    if options.communes:
        from cutover.render.communes import terminal_view

        return terminal_view(matrix, options)
    width = options.width or DEFAULT_WIDTH
    buffer = io.StringIO()
    console = make_console(buffer, options, width, soft_wrap=True)
    lines = heading(console, matrix, options, width)
    lines += [Text(""), *body(console, matrix, options, width), Text("")]
    lines += key(console, matrix, options, width)
    lines += legend(console, matrix, options, width)
    for line in lines:
        console.print(line)
    return buffer.getvalue()


def heading(console: Console, matrix: Matrix, options: RenderOptions, width: int) -> list[Text]:
    lang = options.lang
    lines = wrap(console, Text(terminal(checklist_title(matrix, lang)), style="bold"), width)
    lines += wrap(console, Text(as_of_line(matrix, lang)), width)
    if note := no_evidence_note(matrix, lang):
        lines += wrap(console, Text(note, style="bold yellow"), width)
    return lines


def body(console: Console, matrix: Matrix, options: RenderOptions, width: int) -> list[Text]:
    """The grid in the first layout that fits `width`."""
    _ = words_of(options)
    labels = [
        Text(
            f"{silent_mark(matrix, p.code)}{p.code} "
            f"{terminal(province_name(p, options.lang, short=True))}"
        )
        for p in matrix.provinces
    ]
    done, out_of = Text(_("done"), style="bold"), Text(_("out of"), style="bold")
    widest = max(cell_len(t.plain) for t in [*labels, done, out_of])
    rule = [len(labels)]
    for form, extra in (("fraction", [done]), ("counts", [done, out_of])):
        columns = step_columns(matrix, form)
        if grid_width(widest, columns) <= width:
            return grid(console, labels + extra, columns, widest, rules=rule, indent=LABEL_INDENT)
    if len(matrix.provinces) < len(matrix.steps) and (
        lines := transposed(console, matrix, options, width)
    ):
        return lines
    columns = step_columns(matrix, "counts")
    label_width = _label_width(widest, width, min(c.width for c in columns) + GAP)
    out: list[Text] = []
    for group in chunks(columns, width - label_width):
        if out:
            out.append(Text(""))
        rows = [*labels, done, out_of]
        out += grid(console, rows, group, label_width, rules=rule, indent=LABEL_INDENT)
    return out


def _label_width(widest: int, width: int, narrowest: int) -> int:
    """Room for the province names in a split table: whole names when a column still fits
    beside them; names longer than any real one (40 cells) get half the width and wrap."""
    room = max(width - narrowest, 6)
    if widest > 40:
        room = min(room, max(width // 2, 20))
    return min(widest, room)


def step_columns(matrix: Matrix, totals: str) -> list[Column]:
    """One column per step: a cell per province, then the totals (`32/34`, or `32` and `34`)."""
    numbers = step_numbers(matrix)
    columns = []
    for step in matrix.steps:
        cells = [_cell_text(matrix, p.code, step.id) for p in matrix.provinces]
        t = matrix.totals[step.id]
        if totals == "fraction":
            cells.append(Text(f"{t.done}/{t.total}", style="bold"))
        else:
            cells += [Text(str(t.done), style="bold"), Text(str(t.total), style="bold")]
        columns.append(Column(numbers[step.id], cells))
    return columns


def _cell_text(matrix: Matrix, province: str, step: str) -> Text:
    cell = matrix.cell(province, step)
    return Text(cell_mark(cell), style=STYLE[cell.status])


def transposed(
    console: Console, matrix: Matrix, options: RenderOptions, width: int
) -> list[Text] | None:
    """Steps as rows (number and title, wrapped), provinces as columns headed by their code,
    and a totals column; None when the provinces do not leave 20 cells for the titles."""
    _ = words_of(options)
    numbers = step_numbers(matrix)
    columns = [
        Column(p.code, [_cell_text(matrix, p.code, s.id) for s in matrix.steps])
        for p in matrix.provinces
    ]
    totals = matrix.totals
    columns.append(
        Column(
            _("done"),
            [Text(f"{totals[s.id].done}/{totals[s.id].total}", style="bold") for s in matrix.steps],
        )
    )
    room = width - grid_width(0, columns)
    if room < 20:
        return None
    labels = [Text(f"{numbers[s.id]:>2} {terminal(title(s, options.lang))}") for s in matrix.steps]
    lines = grid(console, labels, columns, room, indent=LABEL_INDENT)
    names = ", ".join(
        f"{silent_mark(matrix, p.code)}{p.code} {terminal(province_name(p, options.lang))}"
        for p in matrix.provinces
    )
    return [*lines, Text(""), *wrap(console, Text(names), width, indent=2)]


def key(console: Console, matrix: Matrix, options: RenderOptions, width: int) -> list[Text]:
    """Each column's number, the step's title and deadline, wrapped under the title."""
    _ = words_of(options)
    numbers = step_numbers(matrix)
    digits = max(len(n) for n in numbers.values())
    zone = matrix.checklist.timezone
    lines = []
    for step in matrix.steps:
        lead = Text.assemble((f"{numbers[step.id]:>{digits}}", "bold"), "  ")
        due = _("due {time}", time=short_time(step.due, zone))
        body = Text(f"{terminal(title(step, options.lang))} ({due})")
        lines += labelled(console, lead, body, width)
    return lines


def legend(console: Console, matrix: Matrix, options: RenderOptions, width: int) -> list[Text]:
    """The statuses with their symbols, what a fraction and `*` mean, and TLS notes."""
    _ = words_of(options)
    items = [
        Text.assemble((symbol, STYLE[status]), f" {name}")
        for status, symbol, name in legend_items(options.lang)
    ]
    items.append(Text(_("n/m communes done")))
    items.append(Text(_("{mark} attested by a person", mark=ATTESTED)))
    if matrix.silent_after is not None:
        items.append(Text(silent_legend(matrix, options.lang)))
    lines = [Text("")]
    for item in items:
        if lines[-1].plain and cell_len(lines[-1].plain) + 2 + cell_len(item.plain) > width:
            lines.append(Text(""))
        if lines[-1].plain:
            lines[-1].append("  ")
        lines[-1].append_text(item)
    if note := insecure_note(matrix, options.lang):
        lines += wrap(console, Text(terminal(note), style="bold yellow"), width)
    if note := silent_note(matrix, options.lang):
        lines += wrap(console, Text(terminal(note), style="bold magenta"), width)
    return lines
