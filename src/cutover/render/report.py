"""What the HTML report shows, as plain data: the view model its Jinja templates render.

Kept apart from the templates so the later web page (`cutover serve`) can build the same
blocks (matrix table, key, escalation list, province page) from the same data.  Strings here
are raw text; the template environment passes every value through `text.html_text`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from cutover.forecast import Forecast, forecast
from cutover.i18n import Lang, Words, words
from cutover.render.base import (
    ATTESTED,
    MEANING,
    SYMBOL,
    RenderOptions,
    as_of_line,
    cell_mark,
    checklist_title,
    insecure_note,
    label,
    long_time,
    no_evidence_note,
    province_name,
    reason,
    short_time,
    silent_legend,
    silent_mark,
    silent_note,
    step_numbers,
    title,
)
from cutover.rollup import Cell, Matrix

# The escalation list: who is behind, most urgent first.
ESCALATE = ("regressed", "overdue", "at-risk", "failing", "unknown")


def css_class(status: str) -> str:
    return "s-" + status.replace("/", "")


def commune_anchor(province: str, step: str) -> str:
    return f"communes-{province}-{step}"


@dataclass(frozen=True)
class Links:
    """Where the report's links point.  The self-contained report links a commune-level cell to
    its section further down and a province to nothing; the web page (`cutover serve`) links
    both to pages of their own, carrying its query (language, as-of time)."""

    query: str = ""  # "?lang=en&as_of=…" or ""; appended to every web link
    web: bool = False

    def province(self, code: str) -> str:
        return f"/province/{code}{self.query}" if self.web else ""

    def communes(self, province: str, step: str) -> str:
        if self.web:
            return f"/province/{province}/communes/{step}{self.query}"
        return "#" + commune_anchor(province, step)


@dataclass(frozen=True)
class StepView:
    id: str
    number: str
    title: str
    due: str
    owner: str
    level: str
    done: int
    total: int
    waived: int

    @property
    def percent(self) -> float:
        return 100 * self.done / self.total if self.total else 0.0


@dataclass(frozen=True)
class CellView:
    status: str
    css: str
    symbol: str
    text: str  # the symbol or the commune fraction, with `*` when attested
    label: str
    reason: str
    attested: bool
    by: str
    link: str | None  # the section listing the communes of a commune-level cell
    source: str = ""  # probe | attestation | mixed


@dataclass(frozen=True)
class Row:
    code: str
    name: str
    cells: list[CellView]
    mark: str = ""  # the silent mark (or its width in blanks) with a heartbeat
    href: str = ""  # the province's own page (web only)


@dataclass(frozen=True)
class Escalation:
    province: str
    step: StepView
    cell: CellView


@dataclass(frozen=True)
class Attested:
    """A cell whose status a person's attestation decides (`cutover mark`)."""

    province: str
    step: StepView
    cell: CellView


@dataclass(frozen=True)
class Missing:
    """One step not complete: the provinces behind, each with its reason."""

    step: StepView
    behind: list[tuple[str, CellView]]


@dataclass(frozen=True)
class CommuneRow:
    code: str
    name: str
    type: str
    cell: CellView
    evidence: str


@dataclass(frozen=True)
class CommuneSection:
    anchor: str
    province: str
    step: StepView
    fraction: str
    communes: list[CommuneRow]


@dataclass(frozen=True)
class Panel:
    """One small multiple of the chart: a step's done counts over time."""

    step: StepView
    points: list[tuple[float, float]]  # in the panel's coordinates
    projection: tuple[float, float, float, float] | None
    deadline_x: float | None
    first: str
    last: str
    note: str
    late: bool


@dataclass
class Report:
    lang: Lang
    title: str
    as_of: str
    as_of_time: str
    checklist: str
    digest: str
    notes: list[str]
    steps: list[StepView]
    rows: list[Row]
    legend: list[tuple[str, str, str, str]]  # css class, symbol, label, meaning
    escalation: list[Escalation]
    missing: list[Missing]
    attested: list[Attested]
    communes: list[CommuneSection]
    panels: list[Panel] = field(default_factory=list)
    chart_note: str = ""
    attested_mark: str = ATTESTED
    silent: str = ""  # who is silent, with a heartbeat
    silent_legend: str = ""  # the legend's entry for the silent mark, with a heartbeat


def build(
    matrix: Matrix, options: RenderOptions, links: Links = Links(), *, chart: bool = True
) -> Report:
    """The view model; `chart=False` leaves the panels out (the web page draws them apart)."""
    lang = options.lang
    _ = words(lang)
    steps = _steps(matrix, lang)
    by_id = {s.id: s for s in steps}
    rows = [
        Row(
            p.code,
            province_name(p, lang),
            [_cell(matrix.cell(p.code, s.id), lang, s, links) for s in steps],
            silent_mark(matrix, p.code),
            links.province(p.code),
        )
        for p in matrix.provinces
    ]
    notes = [n for n in (no_evidence_note(matrix, lang), insecure_note(matrix, lang)) if n]
    report = Report(
        lang=lang,
        title=checklist_title(matrix, lang),
        as_of=as_of_line(matrix, lang),
        as_of_time=long_time(matrix.as_of, matrix.checklist.timezone),
        checklist=matrix.checklist.id,
        digest=matrix.digest[:12],
        notes=notes,
        steps=steps,
        rows=rows,
        legend=[(css_class(s), SYMBOL[s], label(s, lang), _(MEANING[s])) for s in SYMBOL],
        escalation=_escalation(matrix, rows, by_id),
        missing=_missing(rows, steps),
        attested=[
            Attested(f"{row.code} {row.name}", step, cell)
            for row in rows
            for step, cell in zip(steps, row.cells, strict=True)
            if cell.attested
        ],
        communes=[] if links.web else communes(matrix, lang, by_id),
        silent=silent_note(matrix, lang) or "",
        silent_legend=silent_legend(matrix, lang),
    )
    if chart:
        report.panels, report.chart_note = _chart(matrix, options, steps, _)
    return report


def _steps(matrix: Matrix, lang: Lang) -> list[StepView]:
    numbers = step_numbers(matrix)
    zone = matrix.checklist.timezone
    out = []
    for s in matrix.steps:
        t = matrix.totals[s.id]
        out.append(
            StepView(
                s.id,
                numbers[s.id],
                title(s, lang),
                long_time(s.due, zone),
                s.clear("owner", lang) or "",
                s.level,
                t.done,
                t.total,
                t.counts.get("waived", 0),
            )
        )
    return out


def _cell(cell: Cell, lang: Lang, step: StepView, links: Links = Links()) -> CellView:
    link = None
    if step.level == "commune" and (cell.missing or (links.web and cell.units)):
        link = links.communes(cell.province, cell.step)
    return CellView(
        cell.status,
        css_class(cell.status),
        SYMBOL[cell.status],
        cell_mark(cell),
        label(cell.status, lang),
        reason(cell, lang) if cell.status != "done" else "",
        cell.attested,
        cell.by or "",
        link,
        cell.source or "",
    )


def _escalation(matrix: Matrix, rows: list[Row], steps: dict[str, StepView]) -> list[Escalation]:
    found = []
    for p, row in zip(matrix.provinces, rows, strict=True):
        for s, cell in zip(matrix.steps, row.cells, strict=True):
            if cell.status in ESCALATE:
                urgency = (ESCALATE.index(cell.status), s.due, p.code)
                found.append((urgency, Escalation(f"{row.code} {row.name}", steps[s.id], cell)))
    return [e for _, e in sorted(found, key=lambda item: item[0])]


def _missing(rows: list[Row], steps: list[StepView]) -> list[Missing]:
    out = []
    for i, step in enumerate(steps):
        behind = [
            (f"{row.code} {row.name}", row.cells[i])
            for row in rows
            if row.cells[i].status not in ("done", "n/a", "waived")
        ]
        if behind:
            out.append(Missing(step, behind))
    return out


def communes(
    matrix: Matrix,
    lang: Lang,
    steps: dict[str, StepView],
    *,
    every: bool = False,
) -> list[CommuneSection]:
    """A section per commune-level cell with communes not done, listing those; `every` lists
    every commune of every commune-level cell, the ones not done first (the web drill-down)."""
    zone = matrix.checklist.timezone
    out = []
    for p in matrix.provinces:
        for s in matrix.steps:
            cell = matrix.cell(p.code, s.id)
            if s.level != "commune" or not (cell.units if every else cell.missing):
                continue
            listed = cell.missing
            if every:
                listed += tuple(u for u in cell.units if u not in cell.missing)
            communes = [
                CommuneRow(
                    u.commune.code,
                    u.commune.name,
                    u.commune.type,
                    CellView(
                        u.status,
                        css_class(u.status),
                        SYMBOL[u.status],
                        SYMBOL[u.status]
                        + (ATTESTED if u.source in ("attestation", "mixed") else ""),
                        label(u.status, lang),
                        reason(u, lang),
                        u.source == "attestation",
                        u.by or "",
                        None,
                    ),
                    long_time(u.evidence_at, zone) if u.evidence_at else "",
                )
                for u in listed
            ]
            out.append(
                CommuneSection(
                    commune_anchor(p.code, s.id),
                    f"{p.code} {province_name(p, lang)}",
                    steps[s.id],
                    cell.fraction or "",
                    communes,
                )
            )
    return out


# --- the chart: small multiples of done counts over time, with a forecast -------------------

PANEL_W, PANEL_H, PAD_L, PAD_R, PAD_T, PAD_B = 240, 120, 30, 10, 10, 20


def _chart(
    matrix: Matrix, options: RenderOptions, steps: list[StepView], _: Words
) -> tuple[list[Panel], str]:
    series = list(options.series) or [(matrix.as_of, {s.id: s.done for s in steps})]
    zone = matrix.checklist.timezone
    note = _("Only one evaluation recorded so far.") if len(series) < 2 else ""
    panels = []
    for view, step in zip(steps, matrix.steps, strict=True):
        points = [(t, done.get(step.id, 0)) for t, done in series]
        outlook = forecast(points, view.total, step.due, matrix.as_of)
        panels.append(_panel(view, points, outlook, step.due, zone, _))
    return panels, note


def _panel(
    view: StepView,
    points: list[tuple[datetime, int]],
    outlook: Forecast,
    due: datetime,
    zone: str,
    _: Words,
) -> Panel:
    start, end = points[0][0], points[-1][0]
    right = max(end, due)
    if outlook.at is not None and outlook.at <= right + (right - start):
        right = max(right, outlook.at)  # show the projection when it is on the page's scale
    span = (right - start).total_seconds() or 1.0
    top = max(view.total, 1)

    def x(moment: datetime) -> float:
        where = min(max((moment - start).total_seconds() / span, 0.0), 1.0)
        return round(PAD_L + (PANEL_W - PAD_L - PAD_R) * where, 1)

    def y(value: float) -> float:
        return round(PANEL_H - PAD_B - (PANEL_H - PAD_T - PAD_B) * value / top, 1)

    coords = [(x(t), y(done)) for t, done in points]
    projection = None
    if outlook.outlook == "projected" and outlook.at is not None:
        projection = (coords[-1][0], coords[-1][1], x(outlook.at), y(view.total))
    deadline = x(due) if start <= due <= right else None
    return Panel(
        view,
        coords,
        projection,
        deadline,
        short_time(start, zone),
        short_time(right, zone),
        _outlook_text(outlook, view, due, zone, _),
        outlook.late,
    )


def _outlook_text(outlook: Forecast, view: StepView, due: datetime, zone: str, _: Words) -> str:
    deadline = short_time(due, zone)
    if outlook.outlook == "complete":
        return _("Complete.")
    if outlook.outlook == "too-few":
        return _("Not enough evaluations to project a completion time.")
    if outlook.outlook == "no-progress":
        return _(
            "No progress in the recent evaluations: at this pace it will not be complete "
            "by the deadline ({deadline}).",
            deadline=deadline,
        )
    assert outlook.at is not None
    when = short_time(outlook.at, zone)
    if outlook.late:
        return _(
            "Projected complete at {time}, after the deadline ({deadline}).",
            time=when,
            deadline=deadline,
        )
    return _(
        "Projected complete at {time}, before the deadline ({deadline}).",
        time=when,
        deadline=deadline,
    )
