"""What renderers share: options, symbols, labels and time formatting."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Literal
from zoneinfo import ZoneInfo

from cutover.checklist import Step

if TYPE_CHECKING:
    from rich.console import Console

    from cutover.rollup import Matrix

Lang = Literal["vi", "en"]

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
    "regressed": "bold white on red",
    "stale": "cyan",
    "waived": "blue",
    "n/a": "dim",
}


@dataclass(frozen=True)
class RenderOptions:
    lang: Lang = "en"
    width: int | None = None
    color: bool | None = None  # None: decide from the terminal and NO_COLOR
    # Computed by the caller from the store, so renderers never query anything themselves:
    series: tuple[tuple[datetime, dict[str, int]], ...] = ()  # done counts over time (html)
    last_run: tuple[datetime, datetime | None] | None = None  # started, finished (prometheus)


def title(step: Step, lang: Lang) -> str:
    return step.title.vi if lang == "vi" else step.title.en


def local(moment: datetime, zone: str) -> datetime:
    return moment.astimezone(ZoneInfo(zone))


def short_time(moment: datetime, zone: str) -> str:
    return local(moment, zone).strftime("%d/%m %H:%M")


def abbreviation(step_id: str) -> str:
    return "".join(word[0] for word in step_id.split("-")).upper()


def abbreviations(steps: list[Step]) -> dict[str, str]:
    """Short column headings (UD, PC, …); numbered instead if two steps would collide."""
    abbr = {s.id: abbreviation(s.id) for s in steps}
    if len(set(abbr.values())) < len(abbr):
        abbr = {s.id: f"S{i}" for i, s in enumerate(steps, 1)}
    return abbr


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
    """Cells whose evidence came with TLS verification off (`insecure: true`), for every report."""
    cells = [f"{c.province} {c.step}" for c in matrix.cells.values() if c.insecure]
    if not cells:
        return None
    lead = (
        "Tắt kiểm tra TLS (insecure: true)"
        if lang == "vi"
        else "TLS verification off (insecure: true)"
    )
    return f"{lead}: {', '.join(cells)}"


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
    zone = matrix.checklist.timezone
    names = {p.code: p.spec.name if lang == "vi" else p.spec.name_en for p in matrix.provinces}
    items = []
    for code, heard in matrix.silent.items():
        if heard is None:
            when = "chưa từng có tin" if lang == "vi" else "never heard from"
        else:
            when = ("lần cuối " if lang == "vi" else "last heard ") + short_time(heard, zone)
        items.append(f"{code} {names.get(code, code)} ({when})")
    beat = heartbeat_text(matrix)
    lead = (
        f"{SILENT_MARK} Không có tin quá {beat} (không kiểm tra, không xác nhận; "
        "không phải hoàn thành, cũng không phải lỗi)"
        if lang == "vi"
        else f"{SILENT_MARK} Silent for over {beat} (no run or attestation; "
        "neither done nor failing)"
    )
    return f"{lead}: {', '.join(items)}"


def silent_legend(matrix: Matrix, lang: Lang = "en") -> str:
    """The legend's entry for the mark, when there is a heartbeat."""
    if matrix.silent_after is None:
        return ""
    beat = heartbeat_text(matrix)
    return f"{SILENT_MARK} im lặng > {beat}" if lang == "vi" else f"{SILENT_MARK} silent > {beat}"
