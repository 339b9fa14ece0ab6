"""What each page shows, built synchronously against one store (the app runs these in reader
threads, one store connection per thread).  Pages reuse the HTML report's view model
(`render.report.build`) and its template blocks."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from cutover import service
from cutover.errors import UsageError
from cutover.i18n import Lang, words
from cutover.render.base import RenderOptions, long_time, province_name
from cutover.render.report import Links, build, communes

if TYPE_CHECKING:
    from datetime import timedelta

    from cutover.rollup import Matrix
    from cutover.store.base import Store

HISTORY_LINES = 30  # per step on a province page, newest last (read with a LIMIT per unit)
PICKER_TIMES = 500  # recorded evaluations offered by the as-of picker


class NotFound(Exception):
    """An unknown province, step or commune-level step in a URL (404)."""


@dataclass(frozen=True)
class Workspace:
    """What every page is computed from: the files loaded once at start-up, and the options
    that hold for the whole server."""

    ctx: service.Context
    lang: Lang  # the default language; ?lang= chooses per request
    silent_after: timedelta | None
    live_every: float  # seconds between the server's checks for changes (shown on the page)


@dataclass(frozen=True)
class Query:
    """A page's parameters, validated: `?lang=vi|en` and `?as_of=TIME` (absent: now, live)."""

    lang: Lang
    as_of: datetime | None
    as_of_text: str = ""

    @classmethod
    def parse(cls, params: dict[str, str], default: Lang, now: datetime) -> Query:
        lang = params.get("lang") or default
        if lang not in ("vi", "en"):
            raise UsageError(f"lang must be vi or en, got {lang!r}")
        text = params.get("as_of", "").strip()
        # A "+07:00" typed into the address bar arrives as " 07:00" (a + is a space in a
        # query string): read it as the offset it was meant to be.
        if re.search(r"\d \d{2}:?\d{2}$", text):
            text = "+".join(text.rsplit(" ", 1))
        when = service.as_of_time(text, now, "as_of") if text else None
        return cls("vi" if lang == "vi" else "en", when, text)

    @property
    def live(self) -> bool:
        return self.as_of is None

    def suffix(self, default: Lang) -> str:
        """The query string links carry, so language and time survive navigation."""
        pairs: dict[str, str] = {}
        if self.lang != default:
            pairs["lang"] = self.lang
        if self.as_of_text:
            pairs["as_of"] = self.as_of_text
        return "?" + urlencode(pairs) if pairs else ""


def matrix_at(ws: Workspace, store: Store, query: Query, now: datetime) -> Matrix:
    return service.stored_matrix(ws.ctx, store, query.as_of or now, None, ws.silent_after)


# --- the pages' contexts --------------------------------------------------------------------


def national(ws: Workspace, store: Store, query: Query, now: datetime) -> dict[str, Any]:
    matrix = matrix_at(ws, store, query, now)
    links = Links(query.suffix(ws.lang), web=True)
    report = build(matrix, RenderOptions(lang=query.lang), links, chart=False)
    return {
        "report": report,
        "notes": _notes(matrix, query),
        "picker": _picker(store, query, now, matrix),
    }


def province(ws: Workspace, store: Store, query: Query, now: datetime, code: str) -> dict[str, Any]:
    """Every step of one province: the report's step and cell views (status, reason, who
    attested, the drill-down link), with the evidence time and the step's recent history."""
    from cutover.people import history_lines

    chosen = _province(ws, code)
    ctx = replace(ws.ctx, provinces=[chosen])
    matrix = service.stored_matrix(ctx, store, query.as_of or now, None, ws.silent_after)
    lang = query.lang
    zone = matrix.checklist.timezone
    links = Links(query.suffix(ws.lang), web=True)
    report = build(matrix, RenderOptions(lang=lang), links, chart=False)
    rows = []
    for step, view in zip(report.steps, report.rows[0].cells, strict=True):
        cell = matrix.cell(chosen.code, step.id)
        history = history_lines(
            store, chosen.code, step.id, zone, lang, limit=HISTORY_LINES, until=query.as_of,
            name_step=False,  # the lines sit under the step's number and title
        )  # fmt: skip
        earlier = f"{'> ' if history.more else ''}{history.earlier:,}" if history.earlier else ""
        rows.append(
            {
                "step": step,
                "cell": view,
                "evidence": long_time(cell.evidence_at, zone) if cell.evidence_at else "",
                "fraction": cell.fraction or "",
                "history": history.lines,
                "earlier": earlier,
            }
        )
    return {
        "province": f"{chosen.code} {province_name(chosen, lang)}",
        "code": chosen.code,
        "rows": rows,
        "notes": _notes(matrix, query),
        "as_of": _as_of(matrix, lang),
        "back": "/" + query.suffix(ws.lang),
        "picker": _picker(store, query, now, matrix),
    }


def drill_down(
    ws: Workspace, store: Store, query: Query, now: datetime, code: str, step_id: str
) -> dict[str, Any]:
    chosen = _province(ws, code)
    steps = [s for s in ws.ctx.steps if s.id == step_id and s.level == "commune"]
    if not steps:
        raise NotFound(f"no commune-level step {step_id!r}")
    ctx = replace(ws.ctx, provinces=[chosen], steps=steps)
    matrix = service.stored_matrix(ctx, store, query.as_of or now, None, ws.silent_after)
    report = build(matrix, RenderOptions(lang=query.lang), chart=False)
    sections = communes(matrix, query.lang, {s.id: s for s in report.steps}, every=True)
    return {
        "province": f"{chosen.code} {province_name(chosen, query.lang)}",
        "code": chosen.code,
        "step": report.steps[0],
        "sections": sections,
        "as_of": _as_of(matrix, query.lang),
        "notes": _notes(matrix, query),
        "back": f"/province/{chosen.code}{query.suffix(ws.lang)}",
        "picker": _picker(store, query, now, matrix),
    }


def matrix_json(ws: Workspace, store: Store, query: Query, now: datetime) -> str:
    from cutover.render.json import render

    return render(matrix_at(ws, store, query, now), RenderOptions(lang=query.lang))


def metrics(ws: Workspace, store: Store, now: datetime) -> str:
    from cutover.render.prometheus import render

    matrix = matrix_at(ws, store, Query(ws.lang, None), now)
    return render(matrix, RenderOptions(last_run=service.last_run_times(store)))


# --- helpers ----------------------------------------------------------------------------------


def _province(ws: Workspace, code: str) -> Any:
    for p in ws.ctx.provinces:
        if p.code == code:
            return p
    raise NotFound(f"no province {code!r}")


def _notes(matrix: Matrix, query: Query) -> list[str]:
    from cutover.render.base import insecure_note, no_evidence_note, silent_note

    found = (
        no_evidence_note(matrix, query.lang),
        insecure_note(matrix, query.lang),
        silent_note(matrix, query.lang),
    )
    return [n for n in found if n]


def _as_of(matrix: Matrix, lang: Lang) -> str:
    from cutover.render.base import as_of_line

    return as_of_line(matrix, lang)


def _labels(times: list[datetime], zone: str) -> list[tuple[datetime, str]]:
    """Each time's label in the picker: to the minute, as everywhere on the page, unless
    another time shares that minute (a run and a mark a few seconds apart); then to the
    second, or to the microsecond, so no two choices read the same."""
    tz = ZoneInfo(zone)
    labels = [long_time(t, zone) for t in times]
    for finer in ("%H:%M:%S %d/%m/%Y", "%H:%M:%S.%f %d/%m/%Y"):
        seen: dict[str, int] = {}
        for label in labels:
            seen[label] = seen.get(label, 0) + 1
        labels = [
            t.astimezone(tz).strftime(finer) if seen[label] > 1 else label
            for t, label in zip(times, labels, strict=True)
        ]
    return list(zip(times, labels, strict=True))


def _picker(store: Store, query: Query, now: datetime, matrix: Matrix) -> dict[str, Any]:
    """The recorded evaluations to choose a past table from, oldest first, and which one the
    page shows; "" stands for now (the live page).  The latest `PICKER_TIMES` evaluations up
    to now are offered; any other time can be typed into the time field."""
    zone = matrix.checklist.timezone
    times = {t.astimezone(UTC) for t in store.evaluation_times(now, PICKER_TIMES)}
    chosen = query.as_of.astimezone(UTC) if query.as_of is not None else None
    if chosen is not None:
        times.add(chosen)
    options = [(t.isoformat(), label) for t, label in _labels(sorted(times), zone)]
    _ = words(query.lang)
    options.append(("", _("now (live)")))
    local = query.as_of.astimezone(ZoneInfo(zone)) if query.as_of is not None else None
    return {
        "options": options,
        "chosen": chosen.isoformat() if chosen is not None else "",
        "lang": query.lang,
        "typed": local.strftime("%Y-%m-%dT%H:%M") if local is not None else "",
        "zone": zone,
    }
