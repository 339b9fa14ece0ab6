"""One row per cell, UTF-8 with a BOM so spreadsheet programs show Vietnamese correctly.

Every text cell goes through `text.csv_cell`: bounded, control characters removed, formula
starters neutralised, so the file opens as data in a spreadsheet and reads with the csv
module's default settings."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator

from cutover.render.base import RenderOptions, reason, title
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


def cell_rows(matrix: Matrix, options: RenderOptions) -> Iterator[list[str | int | None]]:
    """One row per cell in HEADER's order; communes are None for province-level steps; every
    string already a `csv_cell`.  Shared by the csv and xlsx formats."""
    for p in matrix.provinces:
        for step in matrix.steps:
            cell = matrix.cell(p.code, step.id)
            yield [
                csv_cell(p.code),
                csv_cell(p.spec.name),
                csv_cell(step.id),
                csv_cell(title(step, options.lang)),
                step.due.isoformat(),
                csv_cell(step.owner or ""),
                cell.status,
                csv_cell(reason(cell, options.lang)),
                cell.evidence_at.isoformat() if cell.evidence_at else "",
                cell.done_units,
                cell.total_units,
                "yes" if cell.insecure else "",
                cell.source or "",
                csv_cell(cell.by or ""),
            ]


def render(matrix: Matrix, options: RenderOptions) -> bytes:
    """One row per cell; with `--communes`, one row per commune of the commune-level cells."""
    if options.communes:
        from cutover.render.communes import COMMUNE_HEADER, commune_rows

        return table_bytes(COMMUNE_HEADER, commune_rows(matrix, options))
    return table_bytes(HEADER, cell_rows(matrix, options))


def table_bytes(header: list[str], rows: Iterable[list[str | int | None]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    writer.writerows(["" if v is None else v for v in row] for row in rows)
    return "\ufeff".encode() + buffer.getvalue().encode("utf-8")
