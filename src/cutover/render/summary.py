"""The written national summary in the telegram's manner, in Vietnamese or English.

"As of 13:00 on 28 June 2025, 34/34 provinces and cities had declared …; 32/34 had closed …",
then who is behind on each step (and, for a commune-level step, how many communes are still
missing nationally), then the next deadlines of the checklist.  Names, titles and clauses go
through `text.terminal`: the summary is read in terminals and pasted into messages.
"""

from __future__ import annotations

from datetime import datetime

from cutover.checklist import Step
from cutover.i18n import N_, Lang, Words, number, words
from cutover.render.base import (
    RenderOptions,
    insecure_note,
    local,
    no_evidence_note,
    province_name,
    silent_note,
    title,
)
from cutover.render.text import terminal
from cutover.rollup import Matrix

MONTHS = [
    N_("January"),
    N_("February"),
    N_("March"),
    N_("April"),
    N_("May"),
    N_("June"),
    N_("July"),
    N_("August"),
    N_("September"),
    N_("October"),
    N_("November"),
    N_("December"),
]
NEXT_DEADLINES = 3
QUIET = ("done", "n/a", "waived")


def when(moment: datetime, zone: str, lang: Lang) -> str:
    """A time as the telegram writes it: "13 giờ 00 ngày 28/6/2025", "13:00 on 28 June 2025"."""
    _ = words(lang)
    t = local(moment, zone)
    return _(
        "{hour:02d}:{minute:02d} on {day} {month} {year}",
        hour=t.hour,
        minute=t.minute,
        day=t.day,
        month=_(MONTHS[t.month - 1]),
        month_number=t.month,
        year=t.year,
    )


def clause(step: Step, lang: Lang) -> str:
    if step.summary:
        return terminal(step.summary.text(lang))
    text = terminal(title(step, lang))
    return text[:1].lower() + text[1:]


def render(matrix: Matrix, options: RenderOptions) -> str:
    if options.communes:
        from cutover.render.communes import summary_view

        return summary_view(matrix, options)
    lang = options.lang
    lines = [note] if (note := no_evidence_note(matrix, lang)) else []
    lines.append(opening(matrix, lang))
    lines += _behind(matrix, lang)
    if note := insecure_note(matrix, lang):
        lines.append(terminal(note) + ".")
    if note := silent_note(matrix, lang):
        lines.append(terminal(note) + ".")
    lines += _next(matrix, lang)
    return "\n".join(lines) + "\n"


def opening(matrix: Matrix, lang: Lang) -> str:
    _ = words(lang)
    totals = matrix.totals
    parts = []
    for i, step in enumerate(matrix.steps):
        t = totals[step.id]
        values = {"done": t.done, "total": t.total, "clause": clause(step, lang)}
        if i == 0:
            part = _("{done}/{total} provinces and cities had {clause}", **values)
        else:
            part = _("{done}/{total} had {clause}", **values)
        if waived := t.counts.get("waived", 0):
            part += _(" ({n} waived)", n=waived)
        parts.append(part)
    if len(parts) > 1:
        parts[-1] = _("and {last}", last=parts[-1])
    moment = when(matrix.as_of, matrix.checklist.timezone, lang)
    return _("As of {time}, {parts}.", time=moment, parts="; ".join(parts))


def _behind(matrix: Matrix, lang: Lang) -> list[str]:
    _ = words(lang)
    lines = []
    for step in matrix.steps:
        names = []
        for p in matrix.provinces:
            cell = matrix.cell(p.code, step.id)
            if cell.status in QUIET:
                continue
            name = terminal(province_name(p, lang, short=True))  # as the English: "Hải Phòng"
            names.append(f"{name} ({cell.fraction})" if cell.fraction else name)
        if names:
            lines.append(_lead(step, lang, _, len(names)) + ", ".join(names) + ".")
        if step.level == "commune" and (missing := _communes(matrix, step, lang)):
            lines.append(missing)
    return lines


def _lead(step: Step, lang: Lang, _: Words, n: int) -> str:
    if step.summary:
        return _("Not yet {clause} ({n}): ", clause=clause(step, lang), n=n)
    return _("Behind on {title} ({n}): ", title=terminal(title(step, lang)), n=n)


def _communes(matrix: Matrix, step: Step, lang: Lang) -> str | None:
    """The national figure behind "8/34": communes, wards and special zones still missing."""
    cells = [matrix.cell(p.code, step.id) for p in matrix.provinces]
    units = sum(c.total_units or 0 for c in cells if c.status != "n/a")
    if not units:
        return None
    missing = sum(len(c.missing) for c in cells if c.status not in ("n/a", "waived"))
    _ = words(lang)
    return _(
        "Nationally, {missing} of {units} communes, wards and special zones are not done yet.",
        missing=number(missing, lang),
        units=number(units, lang),
    )


def _next(matrix: Matrix, lang: Lang) -> list[str]:
    _ = words(lang)
    zone = matrix.checklist.timezone
    upcoming = sorted(
        (s for s in matrix.checklist.steps if s.due > matrix.as_of), key=lambda s: s.due
    )
    if not upcoming:
        return [_("No further deadlines in this checklist.")]
    items = [
        f"{when(step.due, zone, lang)}: {terminal(title(step, lang))}"
        for step in upcoming[:NEXT_DEADLINES]
    ]
    return [_("Next deadlines: {items}.", items="; ".join(items))]
