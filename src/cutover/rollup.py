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
from typing import Literal

from cutover.checklist import Checklist, Step
from cutover.geo import Province

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


@dataclass(frozen=True)
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
    reason: str
    approver: str
    until: datetime
    at: datetime


@dataclass(frozen=True)
class Cell:
    province: str
    step: str
    status: Status
    reason: str = ""
    evidence_at: datetime | None = None
    done_units: int | None = None  # commune-level steps only
    total_units: int | None = None
    insecure: bool = False
    waiver: Waiver | None = None

    @property
    def fraction(self) -> str | None:
        return None if self.total_units is None else f"{self.done_units}/{self.total_units}"


@dataclass(frozen=True)
class StepTotal:
    done: int
    total: int
    counts: dict[str, int]


@dataclass
class Matrix:
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
    attestation past it has expired).  `unit_status` and the history series both use it."""
    return outcome == "pass" and not (step.freshness and age > step.freshness)


def unit_status(
    step: Step, evidence: Evidence | None, as_of: datetime, warning: timedelta, was_done: bool
) -> tuple[Status, str]:
    if evidence is not None and step.verify.manual and step.freshness:
        expires = evidence.at + step.freshness
        if as_of > expires:  # a lapsed attestation no longer says anything
            lapsed = f"attestation expired {_age(as_of - expires)} ago"
            return _by_deadline(step, None, as_of, warning, lapsed)
    if evidence is not None and evidence.outcome == "pass":
        if step.freshness and not unit_done(step, evidence.outcome, as_of - evidence.at):
            age = _age(as_of - evidence.at)
            return "stale", f"evidence is {age} old (fresh for {_age(step.freshness)})"
        return "done", ""
    if evidence is None:
        reason = "no attestation" if step.verify.manual else "not checked yet"
    else:
        reason = evidence.reason
    if evidence is not None and evidence.outcome == "fail" and was_done:
        return "regressed", reason
    if evidence is not None and evidence.outcome == "unknown":
        return "unknown", reason
    return _by_deadline(step, evidence, as_of, warning, reason)


def _by_deadline(
    step: Step, evidence: Evidence | None, as_of: datetime, warning: timedelta, reason: str
) -> tuple[Status, str]:
    """Not done: overdue past the deadline, at risk close to it, else failing or pending."""
    due = step.due
    if as_of > due:
        return "overdue", f"{reason}; due {_age(as_of - due)} ago"
    if due - as_of <= warning:
        when = f"due in {_age(due - as_of)}" if due > as_of else "due now"
        return "at-risk", f"{reason}; {when}"
    return ("failing" if evidence else "pending"), reason


def _age(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    if minutes < 120:
        return f"{minutes} min"
    if minutes < 48 * 60:
        return f"{minutes // 60} h"
    return f"{minutes // 1440} d"


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
    for province in provinces:
        for step in steps:
            matrix.cells[(province.code, step.id)] = _cell(
                checklist, province, step, evidence, as_of, history
            )
    return matrix


def _cell(
    checklist: Checklist,
    province: Province,
    step: Step,
    evidence: Mapping[tuple[str, str, str], Evidence],
    as_of: datetime,
    history: History,
) -> Cell:
    p = province.code
    if not step.applies(province):
        return Cell(p, step.id, "n/a")
    waiver = history.waivers.get((p, step.id))
    if waiver is not None and as_of < waiver.until:  # the store only hands over recorded ones
        return Cell(
            p, step.id, "waived", f"{waiver.reason} (approved by {waiver.approver})", waiver=waiver
        )
    units = [c.code for c in province.communes] if step.level == "commune" else [""]
    found = [(u, evidence.get((p, step.id, u))) for u in units]
    statuses = [
        (
            u,
            ev,
            *unit_status(
                step, ev, as_of, checklist.warning_window, (p, step.id, u) in history.was_done
            ),
        )
        for u, ev in found
    ]
    latest = max((ev.at for _, ev in found if ev), default=None)
    insecure = any(ev.insecure for _, ev in found if ev)
    if step.level == "province":
        _, _, status, reason = statuses[0]
        return Cell(p, step.id, status, reason, latest, insecure=insecure)
    done = sum(1 for s in statuses if s[2] == "done")
    worst = min(
        (s for s in statuses if s[2] != "done"), key=lambda s: URGENCY.index(s[2]), default=None
    )
    if worst is None:
        return Cell(p, step.id, "done", "", latest, done, len(units), insecure)
    names = {c.code: c.name for c in province.communes}
    reason = f"{done}/{len(units)} communes done; {names.get(worst[0], worst[0])}: {worst[3]}"
    return Cell(p, step.id, worst[2], reason, latest, done, len(units), insecure)
