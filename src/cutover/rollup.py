"""Evidence + deadlines (+ waivers and history) -> one status per cell, and totals, at time T.

A cell is one province × one step.  Commune-level steps are done for a province only when
every commune is done; the cell carries the fraction.  Totals count `done` over applicable
cells; waived cells are counted apart, never as done.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo

from cutover.checklist import Checklist, Step
from cutover.geo import Commune, Province
from cutover.i18n import N_
from cutover.reasons import Reason, phrase, quote
from cutover.records import quick_init

Status = Literal[
    "done",
    "failing",
    "unknown",
    "pending",
    "at-risk",
    "overdue",
    "regressed",
    "stale",
    "waived",
    "n/a",
]
STATUSES: tuple[Status, ...] = (
    "done",
    "failing",
    "unknown",
    "pending",
    "at-risk",
    "overdue",
    "regressed",
    "stale",
    "waived",
    "n/a",
)
# When communes disagree, the cell shows the most urgent of their statuses.
URGENCY: tuple[Status, ...] = (
    "regressed",
    "overdue",
    "at-risk",
    "failing",
    "unknown",
    "stale",
    "pending",
    "done",
)


@quick_init
@dataclass(frozen=True, slots=True)
class Evidence:
    """The latest word on one unit: a probe result or a person's attestation."""

    outcome: Literal["pass", "fail", "unknown"]
    at: datetime
    reason: str = ""
    observed: str | None = None
    source: str = "probe"  # probe | attestation
    by: str | None = None
    insecure: bool = False


@dataclass(frozen=True)
class Waiver:
    """An approved exemption of a cell, recorded with `cutover waive`, until a time."""

    reason: str
    approver: str
    until: datetime
    at: datetime


Source = Literal["probe", "attestation", "mixed"]


@quick_init
@dataclass(frozen=True, slots=True)
class UnitCell:
    """One commune of a commune-level cell (the drill-down)."""

    commune: Commune
    status: Status
    reason: str = ""
    why: Reason = ()
    evidence_at: datetime | None = None
    source: Source | None = None
    by: str | None = None


@dataclass(frozen=True)
class Cell:
    """One province's status on one step, with why, and its communes for commune-level steps."""

    province: str
    step: str
    status: Status
    reason: str = ""  # in English; `why` says it in any language (`reasons.said`)
    evidence_at: datetime | None = None
    done_units: int | None = None  # commune-level steps only
    total_units: int | None = None
    insecure: bool = False
    waiver: Waiver | None = None
    why: Reason = ()
    # Where the status comes from: a probe, a person's attestation (`cutover mark`), or, in a
    # commune-level cell, both; `by` names the people who attested.
    source: Source | None = None
    by: str | None = None
    units: tuple[UnitCell, ...] = ()  # commune-level steps: every commune, in the official order

    @property
    def fraction(self) -> str | None:
        return None if self.total_units is None else f"{self.done_units}/{self.total_units}"

    @property
    def attested(self) -> bool:
        return self.source in ("attestation", "mixed")

    @property
    def missing(self) -> tuple[UnitCell, ...]:
        """The communes not done (nor waived) in a commune-level cell."""
        return tuple(u for u in self.units if u.status not in ("done", "n/a", "waived"))


@dataclass(frozen=True)
class StepTotal:
    """One step across the provinces: how many are done, of how many it applies to."""

    done: int
    total: int
    counts: dict[str, int]


@dataclass
class Matrix:
    """The national table at `as_of`: a cell per province and step."""

    as_of: datetime
    checklist: Checklist
    digest: str
    steps: list[Step]
    provinces: list[Province]
    cells: dict[tuple[str, str], Cell] = field(default_factory=dict)
    # Who is silent: with a heartbeat (`silent_after`), each province not heard from (no run
    # covering it, no attestation about it) for longer than that, with when it was last heard
    # (None: never).  No news is neither done nor failing: cells keep their own status.
    silent_after: timedelta | None = None
    silent: dict[str, datetime | None] = field(default_factory=dict)
    # No evidence at all (no probe result, attestation or waiver) for the selection at or
    # before `as_of`: every report says so instead of a silent 0/34.
    no_evidence: bool = False

    def cell(self, province: str, step: str) -> Cell:
        return self.cells[(province, step)]

    @property
    def totals(self) -> dict[str, StepTotal]:
        out = {}
        for step in self.steps:
            counts = Counter(self.cells[(p.code, step.id)].status for p in self.provinces)
            applicable = sum(n for s, n in counts.items() if s != "n/a")
            out[step.id] = StepTotal(
                counts.get("done", 0), applicable, {s: counts.get(s, 0) for s in STATUSES}
            )
        return out

    def statuses(self) -> Counter[str]:
        return Counter(c.status for c in self.cells.values())


@dataclass(frozen=True)
class History:
    """What the store knows beyond the latest evidence (empty without a store)."""

    was_done: frozenset[tuple[str, str, str]] = frozenset()  # units done at some earlier time
    waivers: Mapping[tuple[str, str], Waiver] = field(default_factory=dict)


def unit_done(step: Step, outcome: str, age: timedelta) -> bool:
    """The one rule for "done": passing evidence no older than the step's freshness (a manual
    attestation past it has expired).  `unit_status`, the rollup's commune loop and the
    history series use it."""
    return outcome == "pass" and not (step.freshness and age > step.freshness)


def unit_status(
    step: Step,
    evidence: Evidence | None,
    as_of: datetime,
    warning: timedelta,
    was_done: bool,
    unseen: Reason | None = None,
) -> tuple[Status, Reason]:
    """The status of one unit and why; `unseen` is the reason given when there is no
    evidence (default: not checked yet, or no attestation)."""
    if evidence is not None and step.verify.manual and step.freshness:
        expires = evidence.at + step.freshness
        if as_of > expires:  # a lapsed attestation no longer says anything
            lapsed = (phrase(N_("attestation expired {age} ago"), age=as_of - expires),)
            return _by_deadline(step, None, as_of, warning, lapsed)
    if evidence is not None and evidence.outcome == "pass":
        if step.freshness and not unit_done(step, evidence.outcome, as_of - evidence.at):
            old = as_of - evidence.at
            stale = N_("evidence is {age} old (fresh for {fresh})")
            return "stale", (phrase(stale, age=old, fresh=step.freshness),)
        return "done", ()
    reason: Reason
    if evidence is None:
        never = N_("no attestation") if step.verify.manual else N_("not checked yet")
        reason = unseen if unseen is not None else (phrase(never),)
    else:
        reason = quote(evidence.reason)
    if evidence is not None and evidence.outcome == "fail" and was_done:
        return "regressed", reason
    if evidence is not None and evidence.outcome == "unknown":
        return "unknown", reason
    return _by_deadline(step, evidence, as_of, warning, reason)


def _by_deadline(
    step: Step, evidence: Evidence | None, as_of: datetime, warning: timedelta, reason: Reason
) -> tuple[Status, Reason]:
    """Not done: overdue past the deadline, at risk close to it, else failing or pending."""
    due = step.due
    if as_of > due:
        return "overdue", (*reason, phrase(N_("due {age} ago"), age=as_of - due))
    if due - as_of <= warning:
        when = phrase(N_("due in {age}"), age=due - as_of) if due > as_of else phrase(N_("due now"))
        return "at-risk", (*reason, when)
    return ("failing" if evidence else "pending"), reason


@lru_cache(maxsize=4096)
def english(reason: Reason) -> str:
    """The English text of a reason.  Cells share few distinct reasons (every unit of a step
    past its deadline says the same), so the text is made once per reason, not per unit."""
    from cutover.reasons import said

    return said(reason, "en")


def rollup(
    checklist: Checklist,
    digest: str,
    provinces: list[Province],
    steps: list[Step],
    evidence: Mapping[tuple[str, str, str], Evidence],
    as_of: datetime,
    history: History | None = None,
) -> Matrix:
    history = history or History()
    matrix = Matrix(as_of, checklist, digest, steps, provinces)
    matrix.no_evidence = not evidence and not history.waivers
    unseen = None
    if matrix.no_evidence:  # say so in every cell, not only "not checked yet"
        moment = as_of.astimezone(ZoneInfo(checklist.timezone)).strftime("%H:%M %d/%m/%Y")
        unseen = (phrase(N_("no evidence recorded at or before {time}"), time=moment),)
    for province in provinces:
        for step in steps:
            matrix.cells[(province.code, step.id)] = _cell(
                checklist, province, step, evidence, as_of, history, unseen
            )
    return matrix


def _cell(
    checklist: Checklist,
    province: Province,
    step: Step,
    evidence: Mapping[tuple[str, str, str], Evidence],
    as_of: datetime,
    history: History,
    unseen: Reason | None = None,
) -> Cell:
    p = province.code
    if not step.applies(province):
        return Cell(p, step.id, "n/a")
    waiver = history.waivers.get((p, step.id))
    if waiver is not None and as_of < waiver.until:  # the store only hands over recorded ones
        approved = N_("{reason} (approved by {approver})")
        said = (phrase(approved, reason=quote(waiver.reason), approver=waiver.approver),)
        return Cell(p, step.id, "waived", english(said), waiver=waiver, why=said)
    warning = checklist.warning_window
    if step.level == "province":
        ev = evidence.get((p, step.id, ""))
        done_before = (p, step.id, "") in history.was_done
        status, why = unit_status(step, ev, as_of, warning, done_before, unseen)
        source, by = _origin_of(ev)
        at = ev.at if ev else None
        insecure = bool(ev and ev.insecure)
        return Cell(
            p, step.id, status, english(why), at, None, None, insecure, None, why, source, by
        )
    units = []
    found = []
    sid, was_done = step.id, history.was_done
    for commune in province.communes:
        key = (p, sid, commune.code)
        ev = evidence.get(key)
        found.append(ev)
        # Evidence that makes a unit done (`unit_done`) is all `unit_status` would look at, so
        # the common unit of a commune-level cell (thousands in a national table) takes the
        # short way.  tests/test_service.py checks the two agree.
        if ev is not None and unit_done(step, ev.outcome, as_of - ev.at):
            units.append(UnitCell(commune, "done", "", (), ev.at, *_origin_of(ev)))
            continue
        # Only failing evidence can make a unit `regressed`: the lookup is needed for it only.
        done_before = ev is not None and ev.outcome == "fail" and key in was_done
        status, why = unit_status(step, ev, as_of, warning, done_before, unseen)
        source, by = _origin_of(ev)
        at = ev.at if ev else None
        units.append(UnitCell(commune, status, english(why), why, at, source, by))
    return _commune_cell(p, sid, tuple(units), found)


def _commune_cell(
    p: str, step: str, units: tuple[UnitCell, ...], found: list[Evidence | None]
) -> Cell:
    """The cell of a commune-level step from its communes' cells and evidence (in order)."""
    latest = max((ev.at for ev in found if ev), default=None)
    insecure = any(ev.insecure for ev in found if ev)
    source, by = _origin(found)
    done = sum(1 for u in units if u.status == "done")
    worst = min(
        (u for u in units if u.status != "done"),
        key=lambda u: URGENCY.index(u.status),
        default=None,
    )
    status: Status = "done"
    why: Reason = ()
    if worst is not None:
        status = worst.status
        why = (
            phrase(N_("{done}/{total} communes done"), done=done, total=len(units)),
            phrase(N_("{commune}: {reason}"), commune=worst.commune.name, reason=worst.why),
        )
    n = len(units)
    return Cell(
        p, step, status, english(why), latest, done, n, insecure, None, why, source, by, units
    )


def _origin_of(ev: Evidence | None) -> tuple[Source | None, str | None]:
    """`_origin([ev])` for one unit, without building sets (it runs once per unit)."""
    if ev is None:
        return None, None
    if ev.source == "probe":
        return "probe", None
    if ev.source == "attestation":
        return "attestation", ev.by or None
    return _origin([ev])


def _origin(found: list[Evidence | None]) -> tuple[Source | None, str | None]:
    """Where the evidence of a cell comes from, and who attested it."""
    sources = {ev.source for ev in found if ev}
    people = sorted({ev.by for ev in found if ev and ev.source == "attestation" and ev.by})
    by = ", ".join(people) if people else None
    if not sources:
        return None, None
    if sources == {"probe"}:
        return "probe", None
    return ("attestation" if sources == {"attestation"} else "mixed"), by
