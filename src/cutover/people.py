"""People's input: attestations (`cutover mark`) and waivers (`cutover waive`), and the
history timeline.  Attestations and waivers are new rows, never edits."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from cutover.checklist import Step
from cutover.errors import UsageError
from cutover.geo import Province
from cutover.i18n import N_, Lang, Words, words
from cutover.models import first_close
from cutover.render.text import bound, terminal
from cutover.safefiles import sha256_regular
from cutover.store.base import (
    FAR_FUTURE,
    AttestationRecord,
    PersonOutcome,
    Store,
    TimelineEvent,
    UnitKey,
    WaiverRecord,
)


@dataclass(frozen=True)
class Evidence:
    url: str | None = None
    sha256: str | None = None
    name: str | None = None

    def describe(self) -> str:
        return self.url if self.url else f"{self.name} sha256:{self.sha256}"


def evidence_of(url: str | None, file: Path | None) -> Evidence:
    if (url is None) == (file is None):
        raise UsageError("give exactly one of --evidence URL or --evidence-file PATH")
    if url is not None:
        return Evidence(url=evidence_url(url))
    assert file is not None
    digest = sha256_regular(file, what=f"--evidence-file {file}")
    return Evidence(sha256=digest, name=file.name)


_INSTEAD = (
    "give a link without credentials, or --evidence-file PATH for a document that needs a "
    "token (only its SHA-256 is stored)"
)


def evidence_url(url: str) -> str:
    """An `--evidence` URL fit to keep: it is printed, stored, shown by `history` and the live
    page and signed into bundles as it stands.  So it may not carry a credential: user-info,
    or a query or fragment parameter that holds one (`validation.secret_in_link`: named like
    a token, key, password or signature, or with a token-like value).  Ordinary parameters
    (`?id=7`) are kept: portals link documents that way.  A URL with a credential is
    refused, not cleaned: a signed link without its signature is evidence that no longer
    opens.  The messages show the URL as `secrets.redact_url` leaves it (every query value
    masked), never the refused value."""
    from cutover.geo import url_problem
    from cutover.secrets import redact_url

    shown = terminal(redact_url(url))
    if not url.startswith(("http://", "https://")) or any(
        ch.isspace() or not ch.isprintable() for ch in url
    ):
        raise UsageError(f"--evidence must be an http(s) URL without spaces, got {shown}")
    if (wrong := url_problem(url)) is not None:  # as every URL a probe requests
        raise UsageError(f"--evidence: {wrong}: {shown}")
    from cutover.validation import secret_in_link

    found = secret_in_link(url)  # user-info included
    if found is not None:
        raise UsageError(
            f"--evidence {shown}: the URL has {found}, and evidence is shown and stored as "
            f"given; {_INSTEAD}"
        )
    return url


def commune_code(province: Province, step: Step, commune: str | None) -> str:
    if step.level == "province":
        if commune:
            raise UsageError(f"step {step.id} is province-level; drop --commune")
        return ""
    if not commune:
        raise UsageError(f"step {step.id} is commune-level; name the commune with --commune")
    from cutover.geo import normalize

    for c in province.communes:
        if commune in (c.code, str(int(c.code))) or normalize(commune) == normalize(c.name):
            return c.code
    names = [c.name for c in province.communes]
    raise UsageError(f"no commune {commune!r} in {province.name}{first_close(commune, names)}")


def mark(
    store: Store,
    province: Province,
    step: Step,
    commune: str | None,
    by: str,
    evidence: Evidence,
    note: str | None,
    status: str,
    *,
    at: datetime,
    site: str = "",
) -> str:
    if not step.applies(province):
        raise UsageError(f"step {step.id} does not apply to {province.name}")
    if not by.strip():
        raise UsageError("--by must name the person attesting")
    code = commune_code(province, step, commune)
    outcome: PersonOutcome
    if status == "done":
        outcome = "pass"
    elif status == "failed":
        outcome = "fail"
    else:
        raise UsageError(f"--status must be done or failed, got {status!r}")
    record = store.add_attestation(
        AttestationRecord(
            province.code,
            step.id,
            code,
            outcome,
            bound(by),
            at,
            evidence.url,
            evidence.sha256,
            evidence.name,
            bound(note) if note is not None else None,
            site,
        )
    )
    unit = f"{province.code}{'/' + code if code else ''}"
    shown = f"{terminal(by)} ({terminal(evidence.describe())})"
    return f"attestation {record.id}: {unit} {step.id} {status} by {shown}"


def waive(
    store: Store,
    province: Province,
    step: Step,
    reason: str,
    approver: str,
    until: datetime,
    *,
    now: datetime,
    site: str = "",
) -> str:
    if not reason.strip() or not approver.strip():
        raise UsageError("a waiver needs a --reason and an --approver")
    if until <= now:
        raise UsageError(f"--until {until.isoformat()} is not in the future")
    if until >= FAR_FUTURE:
        # Later, the time overflows where it is shown in another zone (`history`, `matrix`).
        raise UsageError(f"--until {until.isoformat()} is too far ahead: give a time before 9999")
    if not step.applies(province):
        raise UsageError(f"step {step.id} does not apply to {province.name}")
    record = store.add_waiver(
        WaiverRecord(province.code, step.id, bound(reason), bound(approver), until, now, site)
    )
    return (
        f"waiver {record.id}: {province.code} {step.id} waived until {until.isoformat()} "
        f"(approved by {terminal(approver)})"
    )


OUTCOME = {
    "pass": N_("pass"),
    "fail": N_("fail"),
    "unknown": N_("unknown outcome"),
    "waived": N_("waived"),
}


@dataclass(frozen=True)
class _Entry:
    at: datetime
    event: TimelineEvent
    confirmation: bool  # a later complete run found the probe's state again
    context: bool = False  # read only as the state before the next event of its unit


HISTORY_LIMIT = 50  # lines `history` shows by default: the latest changes
LIMIT_CAP = 1_000_000  # the most `--limit` takes; `--all` shows every change
COUNT_CAP = 1_000_000  # earlier changes counted, at most, for the line that says how many


@dataclass(frozen=True)
class HistoryPage:
    """What `history` prints: its lines, oldest first, and how many earlier changes the limit
    left out (`more`: at least that many; counting stops at `COUNT_CAP` a kind)."""

    lines: list[str]
    earlier: int = 0
    more: bool = False

    def note(self, limit: int) -> str | None:
        """The line that says what was left out and how to see it (None: nothing was)."""
        if not self.earlier:
            return None
        count = f"{'more than ' if self.more else ''}{self.earlier:,}"
        plural = "" if self.earlier == 1 and not self.more else "s"
        latest = "the latest line is" if limit == 1 else f"the latest {limit:,} lines are"
        return (
            f"{count} earlier change{plural} not shown ({latest}); "
            "--limit N shows more, --since TIME those since a time, --all every one"
        )


def history_lines(
    store: Store,
    province: str | None,
    step: str | None,
    zone: str,
    lang: Lang = "en",
    *,
    limit: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    name_step: bool = True,
) -> HistoryPage:
    """Changes only, in time order: an event is shown when its unit's outcome differs from the
    previous one (attestations and waivers always show: a person acted), and when a later run
    found a probe's state again.  Where a person's word and a probe disagree, the line says
    which one now decides the cell (the newer one), so both stay visible.

    With `limit`, the latest `limit` lines, read with index seeks and a LIMIT per unit; the
    page says how many earlier changes there are.
    With `since`, only events stamped at or after it; with `until`, none after it (the
    history behind a past table: a confirmation after it is not shown either).
    Without `name_step` the lines leave out the step's id (a page that shows them under the
    step's number and title)."""
    from functools import lru_cache
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(zone)
    _ = words(lang)

    @lru_cache(maxsize=1024)
    def minute(stamp: int) -> str:  # events of one run share their minute
        return datetime.fromtimestamp(stamp * 60, tz).strftime("%Y-%m-%d %H:%M")

    # One event more per unit than lines: the first of a unit that may have older ones is only
    # the "before" of the next, never a line of its own.
    fetch = None if limit is None else limit + 1
    events = list(store.timeline(province, step, since=since, latest=fetch, until=until))
    context = _context_only(events, fetch, since)
    entries = []
    for i, event in enumerate(events):
        entries.append(_Entry(event.at, event, False, i in context))
        confirmed = event.confirmed_at
        if (
            confirmed
            and confirmed > event.at
            and (since is None or confirmed >= since)
            and (until is None or confirmed <= until)
        ):
            entries.append(_Entry(confirmed, event, True, False))
    entries.sort(key=lambda e: e.at)  # stable: the store's order within one moment
    last: dict[tuple[str, str, str], TimelineEvent] = {}
    changed: list[tuple[_Entry, TimelineEvent | None]] = []  # the entries that make a line
    for entry in entries:
        event = entry.event
        key = (event.province, event.step, event.commune)
        previous = last.get(key)
        if not entry.context and not (
            not entry.confirmation
            and event.kind == "probe"
            and previous is not None
            and previous.outcome == event.outcome
        ):
            changed.append((entry, previous))
        if event.kind != "waiver":
            last[key] = event

    def line(entry: _Entry, previous: TimelineEvent | None) -> tuple[datetime, str]:
        event = entry.event
        if entry.confirmation:
            text = _confirmed(event, previous, _)
        else:
            # A waiver's end, in the checklist's time zone like every time of the page.
            ends = minute(int(event.until.timestamp()) // 60) if event.until else ""
            text = _changed(event, previous, _, ends)
        when = minute(int(entry.at.timestamp()) // 60)
        unit = f"{event.province}{'/' + event.commune if event.commune else ''}"
        if name_step:
            unit += f" {event.step}"
        return entry.at, f"{when}  {unit}  {text}"

    if limit is None or (len(changed) <= limit and not context):
        return HistoryPage([line(*c)[1] for c in changed] or [_("no history recorded")])
    kept = [line(*c) for c in changed[-limit:]]
    if kept:
        cut = kept[0][0]
        # Lines of the first moment kept that fell before the limit, counted one by one.
        same = sum(1 for entry, _previous in changed[:-limit] if entry.at == cut)
    else:  # nothing to show: every change is earlier
        cut, same = max(e.at for e in events) + timedelta(microseconds=1), 0
    count = store.timeline_count(province, step, since=since, before=cut, cap=COUNT_CAP)
    earlier = count + same
    lines = [line for _at, line in kept] or [_("no history recorded")]
    return HistoryPage(lines, earlier, count >= COUNT_CAP)


def _context_only(
    events: list[TimelineEvent], fetch: int | None, since: datetime | None
) -> set[int]:
    """The events read only as the state before the next one of their unit: those before
    `since` (the store adds each unit's last one), and where a unit's probes or attestations
    reached the per-unit limit, its events up to the oldest one read of that kind (older
    ones may have gaps)."""
    count: dict[tuple[UnitKey, str], int] = {}
    oldest: dict[tuple[UnitKey, str], datetime] = {}
    k: tuple[UnitKey, str]
    for event in events:
        if event.kind == "waiver" or (since is not None and event.at < since):
            continue
        k = ((event.province, event.step, event.commune), event.kind)
        count[k] = count.get(k, 0) + 1
        oldest.setdefault(k, event.at)
    whole_from: dict[UnitKey, datetime] = {}
    for k, n in count.items():
        if fetch is not None and n >= fetch:
            whole_from[k[0]] = max(whole_from.get(k[0], oldest[k]), oldest[k])
    out = set()
    for i, e in enumerate(events):
        if e.kind == "waiver":
            continue
        edge = whole_from.get((e.province, e.step, e.commune))
        if (since is not None and e.at < since) or (edge is not None and e.at <= edge):
            out.add(i)
    return out


def _changed(
    event: TimelineEvent, previous: TimelineEvent | None, _: Words, until: str = ""
) -> str:
    before = _(OUTCOME[previous.outcome]) if previous else _("new")
    arrow = _("waived") if event.kind == "waiver" else f"{before} -> {_(OUTCOME[event.outcome])}"
    evidence = _("evidence {where}", where=event.evidence) if event.evidence else ""
    ends = _("until {time}", time=until) if until else ""
    text = " ".join(t for t in (event.reason.strip(), ends, evidence) if t)
    detail = f"  {_shown(text)}" if text else ""
    over = _overrides(event, previous, _)
    return f"{arrow}{detail}  ({_shown(_who(event, _))}){over}"


@functools.lru_cache(maxsize=1024)
def _shown(text: str) -> str:
    """`terminal(text)`, cached: runs repeat the same reasons and names."""
    return terminal(text)


def _confirmed(event: TimelineEvent, previous: TimelineEvent | None, _: Words) -> str:
    still = _("still {outcome}", outcome=_(OUTCOME[event.outcome]))
    confirmed = _("last confirmed")  # not inside the f-string: Babel would not extract it
    return f"{still}  ({confirmed}){_overrides(event, previous, _)}"


def _overrides(event: TimelineEvent, previous: TimelineEvent | None, _: Words) -> str:
    """When a person's word follows a probe's (or a probe's a person's) and they disagree."""
    if previous is None or event.kind == "waiver" or previous.kind == event.kind:
        return ""
    if previous.outcome == event.outcome:
        return ""
    if event.kind == "attestation":
        return "  " + _("overrides the probe's {outcome}", outcome=_(OUTCOME[previous.outcome]))
    return "  " + _("overrides the attestation's {outcome}", outcome=_(OUTCOME[previous.outcome]))


def _who(event: TimelineEvent, _: Words) -> str:
    """Who or what caused an event, in the chosen language: a run (`run 12 by ops@host`), the
    people who attested, or who approved a waiver."""
    if event.kind == "probe":
        return _("run {run} by {who}", run=event.run_id, who=event.by)
    if event.kind == "attestation":
        return _("attested by {people}", people=event.by)
    return _("approved by {people}", people=event.by)
