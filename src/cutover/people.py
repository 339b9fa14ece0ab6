"""People's input: attestations (`cutover mark`) and waivers (`cutover waive`), and the
history timeline.  Attestations and waivers are new rows, never edits."""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cutover.checklist import Step
from cutover.errors import UsageError
from cutover.geo import Province
from cutover.i18n import N_, Lang, Words, words
from cutover.models import first_close
from cutover.render.text import bound, terminal
from cutover.safefiles import sha256_regular
from cutover.store.base import (
    AttestationRecord,
    PersonOutcome,
    Store,
    TimelineEvent,
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
        if not url.startswith(("http://", "https://")) or any(
            ch.isspace() or not ch.isprintable() for ch in url
        ):
            raise UsageError(f"--evidence must be an http(s) URL without spaces, got {url!r}")
        return Evidence(url=url)
    assert file is not None
    digest = sha256_regular(file, what=f"--evidence-file {file}")
    return Evidence(sha256=digest, name=file.name)


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


def history_lines(
    store: Store, province: str | None, step: str | None, zone: str, lang: Lang = "en"
) -> list[str]:
    """Changes only, in time order: an event is shown when its unit's outcome differs from the
    previous one (attestations and waivers always show: a person acted), and when a later run
    found a probe's state again.  Where a person's word and a probe disagree, the line says
    which one now decides the cell (the newer one), so both stay visible."""
    from functools import lru_cache
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(zone)
    _ = words(lang)

    @lru_cache(maxsize=1024)
    def minute(stamp: int) -> str:  # events of one run share their minute
        return datetime.fromtimestamp(stamp * 60, tz).strftime("%Y-%m-%d %H:%M")

    entries = []
    for event in store.timeline(province, step):
        entries.append(_Entry(event.at, event, False))
        if event.confirmed_at and event.confirmed_at > event.at:
            entries.append(_Entry(event.confirmed_at, event, True))
    entries.sort(key=lambda e: e.at)  # stable: the store's order within one moment
    last: dict[tuple[str, str, str], TimelineEvent] = {}
    lines = []
    for entry in entries:
        event = entry.event
        key = (event.province, event.step, event.commune)
        previous = last.get(key)
        if entry.confirmation:
            line = _confirmed(event, previous, _)
        elif event.kind == "probe" and previous is not None and previous.outcome == event.outcome:
            line = None
        else:
            line = _changed(event, previous, _)
        if event.kind != "waiver":
            last[key] = event
        if line is not None:
            when = minute(int(entry.at.timestamp()) // 60)
            unit = f"{event.province}{'/' + event.commune if event.commune else ''}"
            lines.append(f"{when}  {unit} {event.step}  {line}")
    return lines or [_("no history recorded")]


def _changed(event: TimelineEvent, previous: TimelineEvent | None, _: Words) -> str:
    before = _(OUTCOME[previous.outcome]) if previous else _("new")
    arrow = _("waived") if event.kind == "waiver" else f"{before} -> {_(OUTCOME[event.outcome])}"
    evidence = _("evidence {where}", where=event.evidence) if event.evidence else ""
    text = " ".join(t for t in (event.reason.strip(), evidence) if t)
    detail = f"  {_shown(text)}" if text else ""
    over = _overrides(event, previous, _)
    return f"{arrow}{detail}  ({_shown(_who(event, _))}){over}"


@functools.lru_cache(maxsize=1024)
def _shown(text: str) -> str:
    """`terminal(text)`, cached: runs repeat the same reasons and names."""
    return terminal(text)


def _confirmed(event: TimelineEvent, previous: TimelineEvent | None, _: Words) -> str:
    still = _("still {outcome}", outcome=_(OUTCOME[event.outcome]))
    return f"{still}  ({_('last confirmed')}){_overrides(event, previous, _)}"


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
    """Who or what caused an event, from the store's wording (`run 12 by ops@host`,
    `attested by …`, `approved by …`) put in the chosen language."""
    if event.kind == "probe" and (found := re.fullmatch(r"run (\d+) by (.*)", event.who, re.S)):
        return _("run {run} by {who}", run=found[1], who=found[2])
    for prefix, message in (
        ("attested by ", N_("attested by {people}")),
        ("approved by ", N_("approved by {people}")),
    ):
        if event.who.startswith(prefix):
            return _(message, people=event.who.removeprefix(prefix))
    return event.who
