"""People's input: attestations (`cutover mark`) and waivers (`cutover waive`), and the
history timeline.  Attestations and waivers are new rows, never edits."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cutover.checklist import Step
from cutover.errors import UsageError
from cutover.geo import Province
from cutover.models import first_close
from cutover.store.sqlite import Store


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
        if not url.startswith(("http://", "https://")):
            raise UsageError(f"--evidence must be an http(s) URL, got {url!r}")
        return Evidence(url=url)
    assert file is not None
    try:
        digest = hashlib.sha256()
        with file.open("rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError as exc:
        raise UsageError(f"--evidence-file {file}: {exc.strerror or exc}") from None
    return Evidence(sha256=digest.hexdigest(), name=file.name)


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
    at: datetime | None = None,
) -> str:
    if not step.applies(province):
        raise UsageError(f"step {step.id} does not apply to {province.name}")
    if not by.strip():
        raise UsageError("--by must name the person attesting")
    code = commune_code(province, step, commune)
    outcome = {"done": "pass", "failed": "fail"}.get(status)
    if outcome is None:
        raise UsageError(f"--status must be done or failed, got {status!r}")
    number = store.attest(
        province.code,
        step.id,
        code,
        outcome,
        by,
        evidence.url,
        evidence.sha256,
        evidence.name,
        note,
        at or datetime.now(UTC),
    )
    unit = f"{province.code}{'/' + code if code else ''}"
    return f"attestation {number}: {unit} {step.id} {status} by {by} ({evidence.describe()})"


def waive(
    store: Store,
    province: Province,
    step: Step,
    reason: str,
    approver: str,
    until: datetime,
    now: datetime | None = None,
) -> str:
    now = now or datetime.now(UTC)
    if not reason.strip() or not approver.strip():
        raise UsageError("a waiver needs a --reason and an --approver")
    if until <= now:
        raise UsageError(f"--until {until.isoformat()} is not in the future")
    if not step.applies(province):
        raise UsageError(f"step {step.id} does not apply to {province.name}")
    number = store.waive(province.code, step.id, reason, approver, until, now)
    return (
        f"waiver {number}: {province.code} {step.id} waived until {until.isoformat()} "
        f"(approved by {approver})"
    )


def history_lines(store: Store, province: str | None, step: str | None, zone: str) -> list[str]:
    """Changes only: an event is shown when its unit's outcome differs from the previous one
    (attestations and waivers always show: a person acted)."""
    from zoneinfo import ZoneInfo

    last: dict[tuple[str, str, str], str] = {}
    lines = []
    for at, p, s, commune, outcome, reason, who, kind in store.timeline(province, step):
        key = (p, s, commune)
        previous = last.get(key)
        last[key] = outcome
        if kind == "probe" and previous == outcome:
            continue
        when = datetime.fromisoformat(at).astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")
        unit = f"{p}{'/' + commune if commune else ''}"
        arrow = f"{previous or 'new'} -> {outcome}" if kind != "waiver" else "waived"
        detail = f"  {reason.strip()}" if reason.strip() else ""
        lines.append(f"{when}  {unit} {s}  {arrow}{detail}  ({who})")
    return lines
