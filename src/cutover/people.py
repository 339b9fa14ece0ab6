"""People's input: attestations (`cutover mark`) and waivers (`cutover waive`), and the
history timeline.  Attestations and waivers are new rows, never edits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cutover.checklist import Step
from cutover.errors import UsageError
from cutover.geo import Province
from cutover.models import first_close
from cutover.render.text import bound, terminal
from cutover.safefiles import sha256_regular
from cutover.store.base import AttestationRecord, PersonOutcome, Store, WaiverRecord


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


def history_lines(store: Store, province: str | None, step: str | None, zone: str) -> list[str]:
    """Changes only: an event is shown when its unit's outcome differs from the previous one
    (attestations and waivers always show: a person acted).  A unit whose state a later run
    found again says when it was last confirmed."""
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(zone)

    def when(moment: datetime) -> str:
        return moment.astimezone(tz).strftime("%Y-%m-%d %H:%M")

    last: dict[tuple[str, str, str], str] = {}
    lines = []
    for event in store.timeline(province, step):
        key = (event.province, event.step, event.commune)
        previous = last.get(key)
        last[key] = event.outcome
        unit = f"{event.province}{'/' + event.commune if event.commune else ''}"
        if not (event.kind == "probe" and previous == event.outcome):
            arrow = (
                f"{previous or 'new'} -> {event.outcome}" if event.kind != "waiver" else "waived"
            )
            text = " ".join(t for t in (event.reason.strip(), _evidence(event.evidence)) if t)
            detail = f"  {terminal(text)}" if text else ""
            who = terminal(event.who)
            lines.append(f"{when(event.at)}  {unit} {event.step}  {arrow}{detail}  ({who})")
        if event.confirmed_at and event.confirmed_at > event.at:
            lines.append(
                f"{when(event.confirmed_at)}  {unit} {event.step}  still {event.outcome}"
                "  (last confirmed)"
            )
    return lines


def _evidence(evidence: str) -> str:
    return f"evidence {evidence}" if evidence else ""
