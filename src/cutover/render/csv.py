"""One row per cell, UTF-8 with a BOM so spreadsheet programs show Vietnamese correctly.

Every text cell goes through `text.csv_cell`: bounded, control characters removed, formula
starters neutralised, so the file opens as data in a spreadsheet and reads with the csv
module's default settings."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator
from datetime import datetime

from cutover.render.base import RenderOptions, local, reason, title
from cutover.render.text import csv_cell
from cutover.rollup import Matrix

HEADER = [
    "province_code",
    "province",
    "step",
    "step_title",
    "due",
    "owner",
    "status",
    "reason",
    "evidence_at",
    "communes_done",
    "communes_total",
    "insecure",
    "source",
    "by",
]
SILENT_HEADER = ["province_silent", "province_last_heard"]  # only with a heartbeat


def header(matrix: Matrix) -> list[str]:
    return HEADER + (SILENT_HEADER if matrix.silent_after is not None else [])


def stamp(moment: datetime | None, zone: str) -> str:
    """A time in ISO 8601 in the checklist's timezone (every time of a row alike), or ""."""
    return local(moment, zone).isoformat() if moment is not None else ""


def cell_rows(matrix: Matrix, options: RenderOptions) -> Iterator[list[str | int | None]]:
    """One row per cell in `header(matrix)`'s order; communes are None for province-level
    steps; every string already a `csv_cell`; every time in the checklist's timezone, as the
    deadlines are written.  Shared by the csv and xlsx formats."""
    zone = matrix.checklist.timezone
    for p in matrix.provinces:
        silent = _silent(matrix, p.code)
        for step in matrix.steps:
            cell = matrix.cell(p.code, step.id)
            yield [
                csv_cell(p.code),
                csv_cell(p.spec.name),
                csv_cell(step.id),
                csv_cell(title(step, options.lang)),
                stamp(step.due, zone),
                csv_cell(step.clear("owner", options.lang) or ""),
                cell.status,
                csv_cell(reason(cell, options.lang)),
                stamp(cell.evidence_at, zone),
                cell.done_units,
                cell.total_units,
                "yes" if cell.insecure else "",
                cell.source or "",
                csv_cell(cell.by or ""),
                *silent,
            ]


def _silent(matrix: Matrix, code: str) -> list[str | int | None]:
    """With a heartbeat: "yes" and when it was last heard ("" if never) for a silent
    province, two blanks for the others."""
    if matrix.silent_after is None:
        return []
    if code not in matrix.silent:
        return ["", ""]
    return ["yes", stamp(matrix.silent[code], matrix.checklist.timezone)]


def render(matrix: Matrix, options: RenderOptions) -> bytes:
    """One row per cell; with `--communes`, one row per commune of the commune-level cells."""
    if options.communes:
        from cutover.render.communes import COMMUNE_HEADER, commune_rows

        return table_bytes(COMMUNE_HEADER, commune_rows(matrix, options))
    return table_bytes(header(matrix), cell_rows(matrix, options))


def table_bytes(header: list[str], rows: Iterable[list[str | int | None]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(["" if v is None else v for v in row] for row in rows)
    return "\ufeff".encode() + buffer.getvalue().encode("utf-8")
