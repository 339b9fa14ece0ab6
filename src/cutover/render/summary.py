"""The written national summary in the telegram's manner, in Vietnamese or English.

"As of 13:00 on 28 June 2025, 34/34 provinces and cities had declared …; 32/34 had closed …",
then who is behind on each step, then the next deadlines of the checklist.  Names, titles and
clauses go through `text.terminal`: the summary is read in terminals and pasted into messages.
"""

from __future__ import annotations

from datetime import datetime

from cutover.checklist import Step
from cutover.render.base import RenderOptions, insecure_note, local, silent_note
from cutover.render.text import terminal
from cutover.rollup import Matrix

MONTHS = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
NEXT_DEADLINES = 3


def when(moment: datetime, zone: str, lang: str) -> str:
    t = local(moment, zone)
    if lang == "vi":
        return f"{t.hour} giờ {t.minute:02d} ngày {t.day}/{t.month}/{t.year}"
    return f"{t.hour:02d}:{t.minute:02d} on {t.day} {MONTHS[t.month - 1]} {t.year}"


def clause(step: Step, lang: str) -> str:
    if step.summary:
        return terminal(step.summary.vi if lang == "vi" else step.summary.en)
    text = terminal(step.title.vi if lang == "vi" else step.title.en)
    return text[:1].lower() + text[1:]


def render(matrix: Matrix, options: RenderOptions) -> str:
    lang = options.lang
    zone = matrix.checklist.timezone
    totals = matrix.totals
    parts = []
    for i, step in enumerate(matrix.steps):
        t = totals[step.id]
        waived = t.counts.get("waived", 0)
        extra = (
            (f" ({waived} được miễn trừ)" if lang == "vi" else f" ({waived} waived)")
            if waived
            else ""
        )
        if lang == "vi":
            who = "tỉnh, thành phố đã" if i == 0 else "đã"
            parts.append(f"{t.done}/{t.total} {who} {clause(step, lang)}{extra}")
        else:
            who = "provinces and cities had" if i == 0 else "had"
            parts.append(f"{t.done}/{t.total} {who} {clause(step, lang)}{extra}")
    opening = "Tính đến" if lang == "vi" else "As of"
    if lang == "en" and len(parts) > 1:
        parts[-1] = "and " + parts[-1]
    lines = [f"{opening} {when(matrix.as_of, zone, lang)}, " + "; ".join(parts) + "."]
    lines += _behind(matrix, lang)
    if note := insecure_note(matrix, options.lang):
        lines.append(terminal(note) + ".")
    if note := silent_note(matrix, options.lang):
        lines.append(terminal(note) + ".")
    lines += _next(matrix, lang)
    return "\n".join(lines) + "\n"


def _behind(matrix: Matrix, lang: str) -> list[str]:
    lines = []
    for step in matrix.steps:
        names = []
        for p in matrix.provinces:
            cell = matrix.cell(p.code, step.id)
            if cell.status in ("done", "n/a", "waived"):
                continue
            name = terminal(p.spec.name if lang == "vi" else p.spec.name_en)
            names.append(f"{name} ({cell.fraction})" if cell.fraction else name)
        if names:
            lead = "Chưa hoàn thành" if lang == "vi" else "Behind on"
            lines.append(f"{lead} {step.id} ({len(names)}): {', '.join(names)}.")
    return lines


def _next(matrix: Matrix, lang: str) -> list[str]:
    zone = matrix.checklist.timezone
    upcoming = sorted(
        (s for s in matrix.checklist.steps if s.due > matrix.as_of), key=lambda s: s.due
    )
    if not upcoming:
        return [
            "Không còn thời hạn nào sau thời điểm này."
            if lang == "vi"
            else "No further deadlines in this checklist."
        ]
    items = []
    for step in upcoming[:NEXT_DEADLINES]:
        title = terminal(step.title.vi if lang == "vi" else step.title.en)
        items.append(f"{when(step.due, zone, lang)}: {title}")
    lead = "Các thời hạn tiếp theo" if lang == "vi" else "Next deadlines"
    return [f"{lead}: " + "; ".join(items) + "."]
