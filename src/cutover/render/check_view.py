"""`cutover check` output: per province, each step's status, deadline, owner and reason.

Text from outside goes through `text.terminal` and is printed as rich `Text`, never markup: one
line per cell, no escape sequence reaches the terminal."""

from __future__ import annotations

import io

from rich.text import Text

from cutover.render.base import STYLE, SYMBOL, RenderOptions, short_time
from cutover.render.base import console as make_console
from cutover.render.text import terminal
from cutover.rollup import Matrix


def render(matrix: Matrix, options: RenderOptions) -> str:
    buffer = io.StringIO()
    console = make_console(buffer, options, 160, soft_wrap=True)
    zone = matrix.checklist.timezone
    id_width = max(len(s.id) for s in matrix.steps)
    for p in matrix.provinces:
        console.print(Text(f"{p.code} {terminal(p.spec.name)}", style="bold"))
        for step in matrix.steps:
            cell = matrix.cell(p.code, step.id)
            if cell.status == "n/a":
                continue
            line = Text("  ")
            line.append(f"{SYMBOL[cell.status]} {cell.status:<9}", style=STYLE[cell.status])
            owner = terminal(step.owner or "") or "-"
            line.append(f" {step.id:<{id_width}}  due {short_time(step.due, zone)}  {owner}")
            if cell.fraction:
                line.append(f"  [{cell.fraction}]")
            if cell.insecure:
                line.append("  [TLS verification off]", style="yellow")
            if cell.status != "done" and cell.reason:
                line.append(f"  {terminal(cell.reason)}")
            console.print(line)
    return buffer.getvalue()
