"""Text exposition for the node-exporter textfile collector (checked with promtool).

Every label value goes through `text.prom_label` (escaped as the exposition format defines)."""

from __future__ import annotations

from cutover.render.base import RenderOptions
from cutover.render.text import prom_label
from cutover.rollup import STATUSES, Matrix


def labels(**pairs: str) -> str:
    """`{name="value",…}` with every value escaped."""
    return "{" + ",".join(f'{name}="{prom_label(value)}"' for name, value in pairs.items()) + "}"


def render(matrix: Matrix, options: RenderOptions) -> str:
    out = communes(matrix) if options.communes else cells(matrix)
    out += [
        "# HELP cutover_no_evidence 1 when the store held no evidence for the selection at or "
        "before the as-of time.",
        "# TYPE cutover_no_evidence gauge",
        f"cutover_no_evidence {int(matrix.no_evidence)}",
    ]
    out += timing(matrix, options)
    return "\n".join(out) + "\n"


def cells(matrix: Matrix) -> list[str]:
    out = [
        "# HELP cutover_cell_status Status of a province x step cell: 1 for its current status.",
        "# TYPE cutover_cell_status gauge",
    ]
    for p in matrix.provinces:
        for step in matrix.steps:
            cell = matrix.cell(p.code, step.id)
            for status in STATUSES:
                where = labels(province=p.code, step=step.id, status=status)
                out.append(f"cutover_cell_status{where} {int(cell.status == status)}")
    insecure = [c for c in matrix.cells.values() if c.insecure]
    if insecure:
        out += [
            "# HELP cutover_cell_insecure Evidence gathered with TLS verification off.",
            "# TYPE cutover_cell_insecure gauge",
        ]
        out += [
            f"cutover_cell_insecure{labels(province=c.province, step=c.step)} 1" for c in insecure
        ]
    totals = matrix.totals
    out += [
        "# HELP cutover_step_done_total Provinces done on a step.",
        "# TYPE cutover_step_done_total counter",
    ]
    out += [f"cutover_step_done_total{labels(step=k)} {t.done}" for k, t in totals.items()]
    out += [
        "# HELP cutover_step_applicable Provinces a step applies to.",
        "# TYPE cutover_step_applicable gauge",
    ]
    out += [f"cutover_step_applicable{labels(step=k)} {t.total}" for k, t in totals.items()]
    if matrix.silent_after is not None:
        beat = int(matrix.silent_after.total_seconds())
        out += [
            f"# HELP cutover_province_silent 1 when a province sent no run or attestation for "
            f"over {beat} s (no news: neither done nor failing).",
            "# TYPE cutover_province_silent gauge",
        ]
        out += [
            f"cutover_province_silent{labels(province=p.code)} {int(p.code in matrix.silent)}"
            for p in matrix.provinces
        ]
    return out


def communes(matrix: Matrix) -> list[str]:
    """The drill-down: 1 per commune done, and how many are missing per province and step."""
    from cutover.render.communes import blocks

    done = [
        "# HELP cutover_commune_done 1 when a commune is done on a commune-level step.",
        "# TYPE cutover_commune_done gauge",
    ]
    missing = [
        "# HELP cutover_communes_missing Communes not done on a commune-level step.",
        "# TYPE cutover_communes_missing gauge",
    ]
    for b in blocks(matrix):
        where = {"province": b.province.code, "step": b.step.id}
        for u in b.cell.units:
            done.append(
                f"cutover_commune_done{labels(**where, commune=u.commune.code)} "
                f"{int(u.status == 'done')}"
            )
        missing.append(f"cutover_communes_missing{labels(**where)} {len(b.cell.missing)}")
    return done + missing


def timing(matrix: Matrix, options: RenderOptions) -> list[str]:
    out = [
        "# HELP cutover_as_of_timestamp_seconds The time the matrix was evaluated at.",
        "# TYPE cutover_as_of_timestamp_seconds gauge",
        f"cutover_as_of_timestamp_seconds {matrix.as_of.timestamp():.0f}",
    ]
    if options.last_run:
        started, finished = options.last_run
        out += [
            "# HELP cutover_last_run_timestamp_seconds When the last check run started.",
            "# TYPE cutover_last_run_timestamp_seconds gauge",
            f"cutover_last_run_timestamp_seconds {started.timestamp():.3f}",
        ]
        if finished:
            out += [
                "# HELP cutover_last_run_duration_seconds How long the last check run took.",
                "# TYPE cutover_last_run_duration_seconds gauge",
                f"cutover_last_run_duration_seconds {(finished - started).total_seconds():.3f}",
            ]
    return out
