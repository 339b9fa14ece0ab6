"""Signed bundles in the SQLite store: reading everything about one province for an export,
numbering exports, and importing a verified bundle in one transaction.

Identity across stores: a run is its `uid`; a result is (run uid, unit, time); attestations
and waivers are their `uid`.  Importing adds what is missing, checks that what is already
there says the same, and records the bundle in `bundle_imports`, so importing twice changes
nothing and an older bundle from the same site and province is refused as a replay.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from cutover.store.base import (
    AttestationRecord,
    BundleOrigin,
    ImportOutcome,
    ProvinceEvidence,
    ResultRecord,
    RunRecord,
    WaiverRecord,
    from_us,
    to_us,
)

if TYPE_CHECKING:
    from cutover.store.sqlite import SqliteStore


class Conflict(Exception):
    """A row in the bundle has the identity of a stored row but says something else."""


def province_evidence(store: SqliteStore, province: str) -> ProvinceEvidence:
    """Every row about `province`, read in one snapshot (a run may be writing meanwhile)."""
    from cutover.store.sql import RUN_COLUMNS
    from cutover.store.sql import run_record as _run

    conn = store.conn
    with store.translated():
        conn.execute("BEGIN")
        try:
            runs = [
                _narrow(_run(row), province)
                for row in conn.execute(
                    f"""SELECT {RUN_COLUMNS} FROM runs
                        WHERE instr(',' || scope_provinces || ',', ?) > 0
                           OR id IN (SELECT r.run_id FROM units u JOIN results r
                                     ON r.unit_id = u.id WHERE u.province = ?)
                        ORDER BY started_at, id""",
                    (f",{province},", province),
                )
            ]
            results = [
                ResultRecord(
                    uid, p, st, c, outcome, reason, observed, from_us(at), bool(insecure), ms
                )
                for uid, p, st, c, outcome, reason, observed, at, insecure, ms in conn.execute(
                    """SELECT ru.uid, u.province, u.step, u.commune, r.outcome, r.reason,
                              r.observed, r.at, r.insecure, r.duration_ms
                       FROM units u JOIN results r ON r.unit_id = u.id
                       JOIN runs ru ON ru.id = r.run_id
                       WHERE u.province = ? ORDER BY r.at, r.id""",
                    (province,),
                )
            ]
            attestations = [
                AttestationRecord(
                    p, st, c, outcome, by, from_us(at), url, sha, name, note, site, uid, id_
                )
                for p, st, c, outcome, by, at, url, sha, name, note, site, uid, id_ in conn.execute(
                    """SELECT u.province, u.step, u.commune, a.outcome, a.attested_by, a.at,
                              a.evidence_url, a.evidence_sha256, a.evidence_name, a.note,
                              a.site, a.uid, a.id
                       FROM units u JOIN attestations a ON a.unit_id = u.id
                       WHERE u.province = ? ORDER BY a.at, a.id""",
                    (province,),
                )
            ]
            waivers = [
                WaiverRecord(p, st, reason, approver, from_us(until), from_us(at), site, uid, id_)
                for p, st, reason, approver, until, at, site, uid, id_ in conn.execute(
                    """SELECT province, step, reason, approver, until_at, at, site, uid, id
                       FROM waivers WHERE province = ? ORDER BY at, id""",
                    (province,),
                )
            ]
        finally:
            conn.execute("COMMIT")
    return ProvinceEvidence(
        province, tuple(runs), tuple(results), tuple(attestations), tuple(waivers)
    )


def _narrow(run: RunRecord, province: str) -> RunRecord:
    """A run as one province's bundle describes it: its scope cut to that province, so it
    can never confirm another province's rows where it is imported."""
    return replace(run, scope_provinces=(province,) if province in run.scope_provinces else ())


def record_export(store: SqliteStore, site: str, province: str, at: datetime) -> int:
    conn = store.conn
    with store.translated():
        conn.execute("BEGIN IMMEDIATE")
        try:
            (seq,) = conn.execute(
                "SELECT COALESCE(MAX(seq), 0) + 1 FROM bundle_exports"
                " WHERE site = ? AND province = ?",
                (site, province),
            ).fetchone()
            conn.execute(
                "INSERT INTO bundle_exports (site, province, seq, exported_at) VALUES (?,?,?,?)",
                (site, province, seq, to_us(at)),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
    return int(seq)


def import_evidence(
    store: SqliteStore, origin: BundleOrigin, evidence: ProvinceEvidence, at: datetime
) -> ImportOutcome:
    """All of a bundle or none of it: one write transaction, rolled back unless imported."""
    conn = store.conn
    with store.translated():
        conn.execute("BEGIN IMMEDIATE")
        try:
            outcome = _import(store, conn, origin, evidence, at)
        except Conflict as exc:
            outcome = ImportOutcome("conflict", str(exc))
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT" if outcome.status == "imported" else "ROLLBACK")
    return outcome


def _import(
    store: SqliteStore,
    conn: sqlite3.Connection,
    origin: BundleOrigin,
    evidence: ProvinceEvidence,
    at: datetime,
) -> ImportOutcome:
    seen = conn.execute(
        "SELECT site, province, seq FROM bundle_imports WHERE payload_sha256 = ?",
        (origin.payload_sha256,),
    ).fetchone()
    if seen:
        return ImportOutcome(
            "already imported", f"province {seen[1]} from site {seen[0]}, sequence {seen[2]}"
        )
    last = conn.execute(
        "SELECT seq, exported_at FROM bundle_imports WHERE site = ? AND province = ?"
        " ORDER BY seq DESC LIMIT 1",
        (origin.site, origin.province),
    ).fetchone()
    if last and origin.sequence <= last[0]:
        return ImportOutcome(
            "replay",
            f"sequence {origin.sequence} from site {origin.site} for province "
            f"{origin.province} is not newer than sequence {last[0]} already imported "
            f"(exported {from_us(last[1]).isoformat()})",
        )
    run_ids, new_runs = _runs(conn, evidence.runs, evidence.province)
    outcome = ImportOutcome(
        "imported",
        runs=new_runs,
        results=_results(store, conn, evidence.results, run_ids),
        attestations=_attestations(store, conn, evidence.attestations),
        waivers=_waivers(conn, evidence.waivers),
    )
    conn.execute(
        "INSERT INTO bundle_imports (site, province, seq, exported_at, payload_sha256,"
        " signed_by, imported_at) VALUES (?,?,?,?,?,?,?)",
        (
            origin.site,
            origin.province,
            origin.sequence,
            to_us(origin.exported_at),
            origin.payload_sha256,
            ",".join(origin.signed_by),
            to_us(at),
        ),
    )
    return outcome


def _runs(
    conn: sqlite3.Connection, runs: Sequence[RunRecord], province: str
) -> tuple[dict[str, int], int]:
    """Each run's local id by uid, inserting the new ones; returns how many were new."""
    from cutover.store.sql import RUN_COLUMNS
    from cutover.store.sql import run_record as _run

    ids: dict[str, int] = {}
    new = 0
    for run in runs:
        row = conn.execute(f"SELECT {RUN_COLUMNS} FROM runs WHERE uid = ?", (run.uid,)).fetchone()
        if row is None:
            ids[run.uid] = _insert_run(conn, run)
            new += 1
        else:
            stored = _run(row)
            _merge_run(conn, stored, run, province)
            ids[run.uid] = stored.id
    return ids, new


def _end(run: RunRecord) -> tuple[object, ...]:
    return (run.finished_at, run.confirmed_at, run.complete, run.interrupted)


def _insert_run(conn: sqlite3.Connection, run: RunRecord) -> int:
    cur = conn.execute(
        "INSERT INTO runs (uid, site, run_by, host, command, checklist_id, checklist_digest,"
        " checklist_source, scope_provinces, scope_steps, expected_results, started_at,"
        " finished_at, confirmed_at, duration_ms, complete, interrupted)"
        " VALUES (?,?,?,?,?,?,?,?,?,?,0,?,?,?,?,?,?)",
        (
            run.uid,
            run.site,
            run.user,
            run.host,
            run.command,
            run.checklist_id,
            run.checklist_digest,
            run.checklist_source,
            ",".join(run.scope_provinces),
            ",".join(run.scope_steps),
            to_us(run.started_at),
            *_end_columns(run),
        ),
    )
    return int(cur.lastrowid or 0)


def _end_columns(run: RunRecord) -> tuple[int | float | None, ...]:
    return (
        to_us(run.finished_at) if run.finished_at else None,
        to_us(run.confirmed_at) if run.confirmed_at else None,
        None if run.duration_s is None else round(run.duration_s * 1000, 1),
        int(run.complete),
        int(run.interrupted),
    )


RUN_IDENTITY = (
    "site",
    "user",
    "host",
    "command",
    "checklist_id",
    "checklist_digest",
    "checklist_source",
    "started_at",
    "scope_steps",
)


def _merge_run(conn: sqlite3.Connection, stored: RunRecord, run: RunRecord, province: str) -> None:
    """A run already here (an earlier bundle, or another province's bundle from a site whose
    run covered both): it must be the same run.  Its end is recorded if we only saw it
    running, and its scope gains this province if the run covered it."""
    differs = [f for f in RUN_IDENTITY if getattr(stored, f) != getattr(run, f)]
    if differs:
        raise Conflict(f"run {run.uid} differs from the stored run with that uid ({differs[0]})")
    if stored.finished_at is None and run.finished_at is not None:
        conn.execute(
            "UPDATE runs SET finished_at = ?, confirmed_at = ?, duration_ms = ?, complete = ?,"
            " interrupted = ? WHERE id = ?",
            (*_end_columns(run), stored.id),
        )
    elif run.finished_at is not None and _end(stored) != _end(run):
        raise Conflict(f"run {run.uid} ends differently from the stored run with that uid")
    if province in run.scope_provinces and province not in stored.scope_provinces:
        conn.execute(
            "UPDATE runs SET scope_provinces = ? WHERE id = ?",
            (",".join((*stored.scope_provinces, province)), stored.id),
        )


def _results(
    store: SqliteStore,
    conn: sqlite3.Connection,
    results: Sequence[ResultRecord],
    run_ids: dict[str, int],
) -> int:
    new = 0
    for r in results:
        unit = store._unit_id(conn, (r.province, r.step, r.commune))
        run_id = run_ids.get(r.run_uid)
        if run_id is None:
            raise Conflict(f"a result refers to run {r.run_uid}, which the bundle does not hold")
        state = (r.outcome, r.reason, r.observed, int(r.insecure))
        row = conn.execute(
            "SELECT outcome, reason, observed, insecure FROM results"
            " WHERE unit_id = ? AND at = ? AND run_id = ?",
            (unit, to_us(r.at), run_id),
        ).fetchone()
        if row is not None:
            if tuple(row) != state:
                raise Conflict(
                    f"the result of run {r.run_uid} for {r.province} {r.step} "
                    f"{r.commune} at {r.at.isoformat()} differs from the stored one"
                )
            continue
        conn.execute(
            "INSERT INTO results (run_id, unit_id, province, outcome, reason, observed,"
            " duration_ms, at, insecure) VALUES (?,?,?,?,?,?,?,?,?)",
            (run_id, unit, r.province, *state[:3], r.duration_ms, to_us(r.at), state[3]),
        )
        new += 1
    return new


def _attestations(
    store: SqliteStore, conn: sqlite3.Connection, records: Sequence[AttestationRecord]
) -> int:
    new = 0
    for a in records:
        fields: tuple[object, ...] = (a.province, a.step, a.commune, a.outcome, a.by)
        fields += (to_us(a.at), a.evidence_url, a.evidence_sha256, a.evidence_name, a.note, a.site)
        row = conn.execute(
            """SELECT a.province, u.step, u.commune, a.outcome, a.attested_by, a.at,
                      a.evidence_url, a.evidence_sha256, a.evidence_name, a.note, a.site
               FROM attestations a JOIN units u ON u.id = a.unit_id WHERE a.uid = ?""",
            (a.uid,),
        ).fetchone()
        if row is not None:
            if tuple(row) != fields:
                raise Conflict(f"attestation {a.uid} differs from the stored one with that uid")
            continue
        unit = store._unit_id(conn, (a.province, a.step, a.commune))
        conn.execute(
            "INSERT INTO attestations (uid, site, unit_id, province, outcome, attested_by,"
            " evidence_url, evidence_sha256, evidence_name, note, at)"
            " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (a.uid, a.site, unit, a.province, a.outcome, a.by, *fields[6:10], to_us(a.at)),
        )
        new += 1
    return new


def _waivers(conn: sqlite3.Connection, records: Sequence[WaiverRecord]) -> int:
    new = 0
    for w in records:
        fields = (w.province, w.step, w.reason, w.approver, to_us(w.until), to_us(w.at), w.site)
        row = conn.execute(
            "SELECT province, step, reason, approver, until_at, at, site FROM waivers"
            " WHERE uid = ?",
            (w.uid,),
        ).fetchone()
        if row is not None:
            if tuple(row) != fields:
                raise Conflict(f"waiver {w.uid} differs from the stored one with that uid")
            continue
        conn.execute(
            "INSERT INTO waivers (uid, site, province, step, reason, approver, until_at, at)"
            " VALUES (?,?,?,?,?,?,?,?)",
            (w.uid, w.site, *fields[:6]),
        )
        new += 1
    return new
