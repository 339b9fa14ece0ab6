"""The terminal matrix: provinces × steps, a symbol per cell, totals like 32/34, a legend.

Text from outside goes through `text.terminal` and is handed to rich as `Text`, never as a
string rich would parse as markup (`[link=…]`, or a stray `[/]` that raises)."""

from __future__ import annotations

import io

from rich.padding import Padding
from rich.table import Table
from rich.text import Text

from cutover.render.base import (
    STYLE,
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
from cutover.render.base import console as make_console
from cutover.render.text import terminal
from cutover.rollup import Cell, Matrix


def cell_text(cell: Cell) -> Text:
    if cell.fraction and cell.status != "done":
        return Text(cell.fraction, style=STYLE[cell.status])
    return Text(SYMBOL[cell.status], style=STYLE[cell.status])


def build(matrix: Matrix, options: RenderOptions) -> Table:
    abbr = abbreviations(matrix.steps)
    zone = matrix.checklist.timezone
    as_of = local(matrix.as_of, zone).strftime("%H:%M %d/%m/%Y")
    table = Table(
        title=Text(f"{matrix.checklist.id} as of {as_of}"),
        title_justify="left",
        show_edge=False,
        pad_edge=False,
        box=None,
        header_style="bold",
    )
    table.add_column("province", no_wrap=True, max_width=18)
    for step in matrix.steps:
        table.add_column(abbr[step.id], justify="center", no_wrap=True)
    for p in matrix.provinces:
        name = p.spec.name_en if options.lang == "en" else p.spec.name.removeprefix("Thành phố ")
        table.add_row(
            Text(f"{silent_mark(matrix, p.code)}{p.code} {terminal(name)}"),
            *(cell_text(matrix.cell(p.code, s.id)) for s in matrix.steps),
        )
    totals = matrix.totals
    table.add_section()
    table.add_row(
        "done",
        *(Text(f"{totals[s.id].done}/{totals[s.id].total}", style="bold") for s in matrix.steps),
    )
    return table


def render(matrix: Matrix, options: RenderOptions) -> str:
    buffer = io.StringIO()
    console = make_console(buffer, options, 100)
    console.print(build(matrix, options))
    abbr = abbreviations(matrix.steps)
    for step in matrix.steps:
        console.print(
            Text(f"{abbr[step.id]:>4} {step.id}: {terminal(title(step, options.lang))}"),
            overflow="ellipsis",
            no_wrap=True,
        )
    if note := insecure_note(matrix, options.lang):
        console.print(Text(terminal(note), style="bold yellow"))
    if note := silent_note(matrix, options.lang):
        console.print(Text(terminal(note), style="bold magenta"))
    legend = Text("  ".join(f"{SYMBOL[s]} {s}" for s in SYMBOL) + "  n/m communes done")
    if matrix.silent_after is not None:
        legend.append("  " + silent_legend(matrix, options.lang))
    console.print(Padding(legend, (0, 0, 0, 5)))  # wraps at the width, never truncated
    return buffer.getvalue()
