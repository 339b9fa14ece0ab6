"""One row per cell, UTF-8 with a BOM so spreadsheet programs show Vietnamese correctly."""

from __future__ import annotations

import csv
import io

from cutover.render.base import RenderOptions, title
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
]


def render(matrix: Matrix, options: RenderOptions) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(HEADER)
    for p in matrix.provinces:
        for step in matrix.steps:
            cell = matrix.cell(p.code, step.id)
            writer.writerow(
                [
                    p.code,
                    p.spec.name,
                    step.id,
                    title(step, options.lang),
                    step.due.isoformat(),
                    step.owner or "",
                    cell.status,
                    cell.reason,
                    cell.evidence_at.isoformat() if cell.evidence_at else "",
                    "" if cell.done_units is None else cell.done_units,
                    "" if cell.total_units is None else cell.total_units,
                    "yes" if cell.insecure else "",
                ]
            )
    return "\ufeff".encode() + buffer.getvalue().encode("utf-8")
