"""What renderers share: options, symbols, labels in both languages, step numbers, times."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from cutover.checklist import Step
from cutover.i18n import N_, Lang, Words, words
from cutover.reasons import said

if TYPE_CHECKING:
    from rich.console import Console

    from cutover.geo import Province
    from cutover.rollup import Cell, Matrix, UnitCell

__all__ = ["Lang"]

# A symbol as well as a colour for every status: the table, the check view, Markdown and the
# HTML report stay readable without colour, in greyscale print and for colour-blind readers.
SYMBOL = {
    "done": "✓",
    "failing": "✗",
    "unknown": "?",
    "pending": "·",
    "at-risk": "!",
    "overdue": "‼",
    "regressed": "↓",
    "stale": "~",
    "waived": "W",
    "n/a": "–",
}
STYLE = {
    "done": "green",
    "failing": "red",
    "unknown": "magenta",
    "pending": "dim",
    "at-risk": "yellow",
    "overdue": "bold white on red",
    "regressed": "bold white on magenta",
    "stale": "cyan",
    "waived": "blue",
    "n/a": "dim",
}
LABEL = {
    "done": N_("done"),
    "failing": N_("failing"),
    "unknown": N_("unknown"),
    "pending": N_("pending"),
    "at-risk": N_("at risk"),
    "overdue": N_("overdue"),
    "regressed": N_("regressed"),
    "stale": N_("stale"),
    "waived": N_("waived"),
    "n/a": N_("n/a"),
}
# What each status means, for the keys of the table, the HTML report and the workbook.
MEANING = {
    "done": N_("verified done"),
    "failing": N_("verified not done, deadline not near"),
    "unknown": N_("could not be evaluated"),
    "pending": N_("not verified yet, not due yet"),
    "at-risk": N_("not done, due soon"),
    "overdue": N_("not done, past its deadline"),
    "regressed": N_("was done, now failing"),
    "stale": N_("evidence older than its freshness window"),
    "waived": N_("approved exception, counted apart"),
    "n/a": N_("does not apply"),
}
ATTESTED = "*"  # after a cell's symbol: its status comes from a person's attestation
DEFAULT_WIDTH = 80


@dataclass(frozen=True)
class RenderOptions:
    """How a matrix is rendered: language, width, colour, and which view."""

    lang: Lang = "vi"
    width: int | None = None  # terminal columns (table, check); None: DEFAULT_WIDTH
    color: bool | None = None  # None: decide from the terminal and NO_COLOR
    communes: bool = False  # the commune drill-down instead of the matrix
    # Computed by the caller from the store, so renderers never query anything themselves:
    series: tuple[tuple[datetime, dict[str, int]], ...] = ()  # done counts over time (html)
    last_run: tuple[datetime, datetime | None] | None = None  # started, finished (prometheus)


def title(step: Step, lang: Lang) -> str:
    return step.title.text(lang)


def checklist_title(matrix: Matrix, lang: Lang) -> str:
    return matrix.checklist.title.text(lang)


def province_name(province: Province, lang: Lang, *, short: bool = False) -> str:
    """The province's name; `short` drops the "Thành phố " of the six cities, for tables."""
    if lang == "en":
        return province.spec.name_en
    return province.spec.name.removeprefix("Thành phố ") if short else province.spec.name


def label(status: str, lang: Lang) -> str:
    return words(lang)(LABEL[status])


def reason(cell: Cell | UnitCell, lang: Lang) -> str:
    """Why a cell is not done, in `lang`.  The English `reason` is what was stored; the
    phrases say the same in another language (a reason edited without its phrases wins)."""
    if lang == "en" or not cell.why or said(cell.why, "en") != cell.reason:
        return cell.reason
    return said(cell.why, lang)


def step_numbers(matrix: Matrix) -> dict[str, str]:
    """Each step's number in its checklist (1, 2, …): the short column codes of every table.
    Numbers read the same in Vietnamese and English, and a step keeps its number whatever is
    selected, so "9" means the same step in every report."""
    position = {s.id: i for i, s in enumerate(matrix.checklist.steps, 1)}
    return {s.id: str(position.get(s.id, i)) for i, s in enumerate(matrix.steps, 1)}


def local(moment: datetime, zone: str) -> datetime:
    return moment.astimezone(ZoneInfo(zone))


def short_time(moment: datetime, zone: str) -> str:
    return local(moment, zone).strftime("%d/%m %H:%M")


def long_time(moment: datetime, zone: str) -> str:
    return local(moment, zone).strftime("%H:%M %d/%m/%Y")


def as_of_line(matrix: Matrix, lang: Lang) -> str:
    _ = words(lang)
    zone = matrix.checklist.timezone
    return _("As of {time} ({zone})", time=long_time(matrix.as_of, zone), zone=zone)


def no_evidence_note(matrix: Matrix, lang: Lang) -> str | None:
    """Said by every format when the store had nothing at or before the matrix's time."""
    if not matrix.no_evidence:
        return None
    _ = words(lang)
    when = long_time(matrix.as_of, matrix.checklist.timezone)
    return _(
        "No evidence was recorded at or before {time} for this selection: "
        "every cell shows what was known then, which is nothing.",
        time=when,
    )


def cell_mark(cell: Cell) -> str:
    """A cell in one short string: its symbol, or its commune fraction when not done, and `*`
    when a person's attestation decides it."""
    text = cell.fraction if cell.fraction and cell.status != "done" else SYMBOL[cell.status]
    return text + (ATTESTED if cell.attested else "")


def console(
    buffer: io.StringIO, options: RenderOptions, width: int, *, soft_wrap: bool = False
) -> Console:
    """A rich console writing into `buffer`: colour only when asked, no markup surprises."""
    from rich.console import Console

    return Console(
        file=buffer,
        width=options.width or width,
        force_terminal=bool(options.color),
        no_color=not options.color,
        highlight=False,
        emoji=False,
        soft_wrap=soft_wrap,
    )


def insecure_note(matrix: Matrix, lang: Lang = "en") -> str | None:
    """Cells whose evidence came with TLS verification off (`insecure: true`), for every report
    people read: each as its province and step number ("31 Hai Phong, step 8")."""
    _ = words(lang)
    numbers = step_numbers(matrix)
    names = {p.code: f"{p.code} {province_name(p, lang)}" for p in matrix.provinces}
    cells = [
        _("{province}, step {number}", province=names[c.province], number=numbers[c.step])
        for c in matrix.cells.values()
        if c.insecure
    ]
    if not cells:
        return None
    return _("TLS verification off (insecure: true): {cells}", cells="; ".join(cells))


def legend_items(lang: Lang) -> list[tuple[str, str, str]]:
    """(status, symbol, label) for every status, in the order of `SYMBOL`."""
    return [(s, SYMBOL[s], label(s, lang)) for s in SYMBOL]


def words_of(options: RenderOptions) -> Words:
    return words(options.lang)


SILENT_MARK = "∅"  # a province not heard from within the heartbeat: no news


def heartbeat_text(matrix: Matrix) -> str:
    from cutover.checklist import format_duration

    return format_duration(matrix.silent_after) if matrix.silent_after else ""


def silent_mark(matrix: Matrix, code: str) -> str:
    """A prefix for a province's row label: the mark when it is silent, the same width in
    blanks otherwise; nothing without a heartbeat, so nothing changes then."""
    if matrix.silent_after is None:
        return ""
    return f"{SILENT_MARK} " if code in matrix.silent else "  "


def silent_note(matrix: Matrix, lang: Lang = "en") -> str | None:
    """Who is silent and since when, for every report; None when no one is (or no heartbeat)."""
    if matrix.silent_after is None or not matrix.silent:
        return None
    _ = words(lang)
    zone = matrix.checklist.timezone
    names = {p.code: province_name(p, lang) for p in matrix.provinces}
    items = []
    for code, heard in matrix.silent.items():
        if heard is None:
            when = _("never heard from")
        else:
            when = _("last heard {time}", time=short_time(heard, zone))
        items.append(f"{code} {names.get(code, code)} ({when})")
    lead = _(
        "Silent for over {duration} (no run or attestation; neither done nor failing)",
        duration=heartbeat_text(matrix),
    )
    return f"{SILENT_MARK} {lead}: {', '.join(items)}"


def silent_legend(matrix: Matrix, lang: Lang = "en") -> str:
    """The legend's entry for the mark, when there is a heartbeat."""
    if matrix.silent_after is None:
        return ""
    _ = words(lang)
    return f"{SILENT_MARK} " + _("silent > {duration}", duration=heartbeat_text(matrix))
