"""An Excel workbook: the matrix sheet (status colours, frozen header, totals) and a cells
sheet (one row per cell).  Written with XlsxWriter; files are reproducible (fixed dates).

Text cells are `text.csv_cell` values written with `write_string`, and the workbook is opened
with XlsxWriter's conversions off, so no text from outside becomes a formula, a hyperlink or a
number, even after someone edits the cell or saves the sheet as CSV; bounded text never meets
Excel's 32,767-character limit."""

from __future__ import annotations

import io
from datetime import datetime

from cutover.render.base import RenderOptions, abbreviations, silent_note, title
from cutover.render.csv import cell_rows, header
from cutover.render.html import COLOURS
from cutover.render.text import clean, csv_cell
from cutover.rollup import Matrix

FIXED = datetime(2025, 1, 1)
# Only write_string/write_number are used, but no text is ever guessed into something else.
OPTIONS = {
    "in_memory": True,
    "strings_to_formulas": False,
    "strings_to_urls": False,
    "strings_to_numbers": False,
}


def render(matrix: Matrix, options: RenderOptions) -> bytes:
    import xlsxwriter

    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, OPTIONS)
    book.set_properties({"title": matrix.checklist.id, "created": FIXED})
    bold = book.add_format({"bold": True})
    sheet = book.add_worksheet("matrix")
    abbr = abbreviations(matrix.steps)
    sheet.write_row(0, 0, ["code", "province", *(abbr[s.id] for s in matrix.steps)], bold)
    for i, step in enumerate(matrix.steps):
        sheet.write_comment(0, 2 + i, f"{step.id}: {clean(title(step, options.lang))}")
    for r, p in enumerate(matrix.provinces, 1):
        sheet.write_string(r, 0, csv_cell(p.code))
        sheet.write_string(r, 1, csv_cell(p.spec.name))
        for c, step in enumerate(matrix.steps, 2):
            cell = matrix.cell(p.code, step.id)
            text = (
                cell.status
                if not cell.fraction or cell.status == "done"
                else f"{cell.status} {cell.fraction}"
            )
            sheet.write_string(r, c, text)
    last = len(matrix.provinces)
    totals = matrix.totals
    sheet.write_string(last + 1, 1, "done", bold)
    for c, step in enumerate(matrix.steps, 2):
        sheet.write_string(last + 1, c, f"{totals[step.id].done}/{totals[step.id].total}", bold)
    for status, colour in COLOURS.items():
        fmt = book.add_format(
            {
                "bg_color": colour,
                "font_color": "#ffffff" if status not in ("pending", "n/a") else "#57606a",
            }
        )
        sheet.conditional_format(
            1,
            2,
            last,
            1 + len(matrix.steps),
            {"type": "text", "criteria": "begins with", "value": status, "format": fmt},
        )
    if note := silent_note(matrix, options.lang):  # the cells sheet has it per row too
        sheet.write_string(last + 3, 1, note, bold)
    sheet.freeze_panes(1, 2)
    sheet.set_column(1, 1, 24)
    sheet.set_column(2, 1 + len(matrix.steps), 12)
    cells = book.add_worksheet("cells")
    columns = header(matrix)
    cells.write_row(0, 0, columns, bold)
    row = 0
    for row, values in enumerate(cell_rows(matrix, options), 1):
        for column, value in enumerate(values):
            if isinstance(value, int):
                cells.write_number(row, column, value)
            elif value is not None:
                cells.write_string(row, column, value)
    cells.freeze_panes(1, 0)
    cells.autofilter(0, 0, row, len(columns) - 1)
    book.close()
    return buffer.getvalue()
