"""An Excel workbook in the chosen language: the matrix sheet (status labels with colours and
symbols, frozen header, totals), a cells sheet (one row per cell, with where each status comes
from) and a key sheet (step numbers, titles, deadlines, totals; what each status means).  With
`--communes`, a communes sheet (one row per commune) takes the place of the matrix and cells.
Written with XlsxWriter; files are reproducible (fixed dates).

Text cells are `text.csv_cell` values written with `write_string`, and the workbook is opened
with XlsxWriter's conversions off, so no text from outside becomes a formula, a hyperlink or a
number, even after someone edits the cell or saves the sheet as CSV; bounded text never meets
Excel's 32,767-character limit."""

from __future__ import annotations

import io
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from cutover.i18n import N_, Words
from cutover.render.base import (
    ATTESTED,
    LABEL,
    MEANING,
    SYMBOL,
    RenderOptions,
    as_of_line,
    checklist_title,
    label,
    long_time,
    no_evidence_note,
    silent_note,
    step_numbers,
    title,
    words_of,
)
from cutover.render.csv import cell_rows, header
from cutover.render.palette import COLOURS, TEXT_ON
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
# Column headings of the cells and communes sheets, for people (the CSV keeps its field names).
HEADINGS = {
    "province_code": N_("Province code"),
    "province": N_("Province"),
    "step": N_("Step id"),
    "step_title": N_("Step"),
    "due": N_("Due"),
    "owner": N_("Owner"),
    "status": N_("Status"),
    "reason": N_("Reason"),
    "evidence_at": N_("Evidence time"),
    "communes_done": N_("Communes done"),
    "communes_total": N_("Communes"),
    "insecure": N_("TLS verification off"),
    "source": N_("Source"),
    "by": N_("Attested by"),
    "province_silent": N_("Province silent"),
    "province_last_heard": N_("Province last heard"),
    "commune_code": N_("Commune code"),
    "commune": N_("Commune"),
    "commune_type": N_("Type"),
}
SHEETS = {
    "matrix": N_("matrix"),
    "cells": N_("cells"),
    "key": N_("key"),
    "communes": N_("communes"),
}
SOURCES = {"probe": N_("probe"), "attestation": N_("attestation"), "mixed": N_("both")}


def render(matrix: Matrix, options: RenderOptions) -> bytes:
    import xlsxwriter

    _ = words_of(options)
    buffer = io.BytesIO()
    book = xlsxwriter.Workbook(buffer, OPTIONS)
    note = no_evidence_note(matrix, options.lang)
    book.set_properties(
        {
            "title": clean(checklist_title(matrix, options.lang)),
            "subject": as_of_line(matrix, options.lang),
            "comments": note or "",
            "created": FIXED,
        }
    )
    formats = _formats(book)
    if options.communes:
        from cutover.render.communes import COMMUNE_HEADER, commune_rows

        rows = commune_rows(matrix, options)
        _data_sheet(book, _(SHEETS["communes"]), COMMUNE_HEADER, rows, formats, _)
    else:
        _matrix_sheet(book, matrix, options, formats)
        _data_sheet(
            book, _(SHEETS["cells"]), header(matrix), cell_rows(matrix, options), formats, _
        )
    _key_sheet(book, matrix, options, formats, note)
    book.close()
    return buffer.getvalue()


def _formats(book: Any) -> dict[str, Any]:
    formats = {
        "bold": book.add_format({"bold": True}),
        "wrap": book.add_format({"text_wrap": True}),
    }
    for status, colour in COLOURS.items():
        formats[status] = book.add_format({"bg_color": colour, "font_color": TEXT_ON[status]})
    return formats


def _matrix_sheet(
    book: Any, matrix: Matrix, options: RenderOptions, formats: dict[str, Any]
) -> None:
    _ = words_of(options)
    sheet = book.add_worksheet(_(SHEETS["matrix"]))
    numbers = step_numbers(matrix)
    heads = [_("Code"), _("Province"), *(numbers[s.id] for s in matrix.steps)]
    sheet.write_row(0, 0, heads, formats["bold"])
    for i, step in enumerate(matrix.steps):
        sheet.write_comment(0, 2 + i, f"{numbers[step.id]}: {clean(title(step, options.lang))}")
    for r, p in enumerate(matrix.provinces, 1):
        sheet.write_string(r, 0, csv_cell(p.code))
        sheet.write_string(r, 1, csv_cell(p.spec.name))
        for c, step in enumerate(matrix.steps, 2):
            cell = matrix.cell(p.code, step.id)
            text = f"{SYMBOL[cell.status]} {label(cell.status, options.lang)}"
            if cell.fraction and cell.status != "done":
                text += f" {cell.fraction}"
            sheet.write_string(r, c, text + (ATTESTED if cell.attested else ""))
    last = len(matrix.provinces)
    totals = matrix.totals
    sheet.write_string(last + 1, 1, _("done"), formats["bold"])
    for c, step in enumerate(matrix.steps, 2):
        t = totals[step.id]
        sheet.write_string(last + 1, c, f"{t.done}/{t.total}", formats["bold"])
    for status, symbol, name in ((s, SYMBOL[s], label(s, options.lang)) for s in COLOURS):
        sheet.conditional_format(
            1,
            2,
            last,
            1 + len(matrix.steps),
            {"type": "text", "criteria": "begins with", "value": f"{symbol} {name}",
             "format": formats[status]},
        )  # fmt: skip
    if note := no_evidence_note(matrix, options.lang):
        sheet.write_string(last + 3, 1, note, formats["bold"])
    if note := silent_note(matrix, options.lang):  # the cells sheet has it per row too
        sheet.write_string(last + 4, 1, note, formats["bold"])
    sheet.freeze_panes(1, 2)
    sheet.set_column(1, 1, 24)
    sheet.set_column(2, 1 + len(matrix.steps), 18)


def _data_sheet(
    book: Any,
    name: str,
    header: list[str],
    rows: Iterable[list[str | int | None]],
    formats: dict[str, Any],
    _: Words,
) -> None:
    sheet = book.add_worksheet(name)
    sheet.write_row(0, 0, [_(HEADINGS[h]) for h in header], formats["bold"])
    status_at = header.index("status")
    source_at = header.index("source")
    row = 0
    for row, values in enumerate(rows, 1):
        for column, value in enumerate(values):
            if isinstance(value, int):
                sheet.write_number(row, column, value)
            elif column == status_at and isinstance(value, str):
                status = value
                shown = f"{SYMBOL[status]} {_(LABEL[status])}"
                sheet.write_string(row, column, shown, formats[status])
            elif column == source_at and value:
                sheet.write_string(row, column, _(SOURCES[str(value)]))
            elif value is not None:
                sheet.write_string(row, column, value)
    sheet.freeze_panes(1, 0)
    sheet.autofilter(0, 0, row, len(header) - 1)


def _key_sheet(
    book: Any, matrix: Matrix, options: RenderOptions, formats: dict[str, Any], note: str | None
) -> None:
    """What the numbers and statuses mean, the time, and the no-evidence note."""
    _ = words_of(options)
    sheet = book.add_worksheet(_(SHEETS["key"]))
    bold = formats["bold"]
    sheet.write_string(0, 0, csv_cell(checklist_title(matrix, options.lang)), bold)
    sheet.write_string(1, 0, as_of_line(matrix, options.lang))
    row = 2
    if note:
        sheet.write_string(row, 0, note, bold)
        row += 1
    row += 1
    sheet.write_row(row, 0, [_("Column"), _("Step"), _("Step id"), _("Due"), _("Done")], bold)
    numbers = step_numbers(matrix)
    zone = matrix.checklist.timezone
    for step in matrix.steps:
        row += 1
        t = matrix.totals[step.id]
        sheet.write_string(row, 0, numbers[step.id])
        sheet.write_string(row, 1, csv_cell(title(step, options.lang)), formats["wrap"])
        sheet.write_string(row, 2, step.id)
        sheet.write_string(row, 3, long_time(step.due, zone))
        sheet.write_string(row, 4, f"{t.done}/{t.total}")
    row += 2
    sheet.write_row(row, 0, [_("Status"), _("Meaning")], bold)
    for status in SYMBOL:
        row += 1
        sheet.write_string(
            row, 0, f"{SYMBOL[status]} {label(status, options.lang)}", formats[status]
        )
        sheet.write_string(row, 1, _(MEANING[status]))
    row += 1
    sheet.write_string(row, 0, ATTESTED)
    sheet.write_string(row, 1, _("attested by a person"))
    sheet.set_column(0, 0, 20)
    sheet.set_column(1, 1, 80)
    sheet.set_column(2, 4, 24)
