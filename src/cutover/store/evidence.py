"""From stored rows to the evidence at a moment: the one rule every backend shares.

The latest word on a unit at T is its latest probe row or attestation at or before T, the
newer of the two (a probe wins a tie).  A probe row's time is when that state was first seen;
if the latest complete run covering the unit's cell by T started after the row, that run
found the same state again, so the evidence is as recent as the run's `confirmed_at`.  This is
what lets the store skip identical repeats and still answer "how fresh is it?" exactly.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TypeVar

from cutover.rollup import Evidence, History, Waiver
from cutover.store.base import (
    AttestationRecord,
    ProbeRow,
    RawEvidence,
    RunRecord,
    UnitKey,
    WaiverRecord,
)

Cell = tuple[str, str]
Timed = TypeVar("Timed", ProbeRow, AttestationRecord, WaiverRecord)


def latest(rows: Sequence[Timed] | None, moment: datetime) -> Timed | None:
    """The last of `rows` (oldest first) stamped at or before `moment`."""
    if not rows:
        return None
    if rows[-1].at <= moment:
        return rows[-1]
    index = bisect_right(rows, moment, key=lambda r: r.at)
    return rows[index - 1] if index else None


def covering_runs(
    runs: Sequence[RunRecord], cells: Iterable[Cell], moment: datetime
) -> dict[Cell, RunRecord]:
    """For each cell, the latest complete run by `moment` whose scope includes it."""
    wanted = set(cells)
    found: dict[Cell, RunRecord] = {}
    for run in runs:
        if run.confirmed_at is None or run.confirmed_at > moment:
            continue
        for cell in [c for c in wanted if run.covers(*c)]:
            found[cell] = run
            wanted.discard(cell)
        if not wanted:
            break
    return found


def probe_evidence(row: ProbeRow, run: RunRecord | None) -> Evidence:
    at = row.at
    if run is not None and run.confirmed_at is not None and run.started_at > row.at:
        at = max(at, run.confirmed_at)
    return Evidence(row.outcome, at, row.reason, row.observed, "probe", row.by, row.insecure)


def attestation_evidence(record: AttestationRecord) -> Evidence:
    return Evidence(
        record.outcome,
        record.at,
        record.note or "",
        record.evidence or None,
        "attestation",
        record.by,
    )


def evidence_at(raw: RawEvidence, moment: datetime) -> tuple[dict[UnitKey, Evidence], History]:
    """The evidence and history the rollup needs, as they stood at `moment`."""
    probes, attestations = raw.probes, raw.attestations
    cover = covering_runs(raw.runs, {(p, s) for p, s, _ in probes}, moment)
    evidence: dict[UnitKey, Evidence] = {}
    for key, rows in probes.items():
        row = latest(rows, moment)
        probe = probe_evidence(row, cover.get((key[0], key[1]))) if row else None
        said = attestations.get(key)
        record = latest(said, moment) if said else None
        person = attestation_evidence(record) if record else None
        if probe is not None and (person is None or probe.at >= person.at):
            evidence[key] = probe
        elif person is not None:
            evidence[key] = person
    for key in attestations.keys() - probes.keys():  # units only people spoke about
        record = latest(attestations[key], moment)
        if record is not None:
            evidence[key] = attestation_evidence(record)
    was_done = frozenset(k for k, first in raw.first_done.items() if first <= moment)
    waivers: dict[Cell, Waiver] = {}
    for cell, records in raw.waivers.items():
        w = latest(records, moment)
        if w is not None:
            waivers[cell] = Waiver(w.reason, w.approver, w.until, w.at)
    return evidence, History(was_done=was_done, waivers=waivers)
