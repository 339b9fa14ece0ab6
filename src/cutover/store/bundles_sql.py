"""Signed bundles in either store, written once: reading everything about one province for an
export, numbering exports, and importing a verified bundle in one transaction.

Identity across stores: a run is its `uid`; a result is (run uid, unit, time); attestations
and waivers are their `uid`.  Importing adds what is missing, checks that what is already
there says the same, and records the bundle in `bundle_imports`, so importing twice changes
nothing and an older bundle from the same site and province is refused as a replay.  A
bundle's uids are its province's: they are stored under that province's prefix
(`imported_uid`) and exported without it (`exported_uid`).

`BundleSql` adds this to `SqlReader` over a few more hooks a backend provides (the rest is
`cutover.store.sql`'s statements, with `?` placeholders):

- `_snapshot`: the reads of one export as one consistent snapshot;
- `_bundle_write`: one write transaction, committed when its block ends and rolled back when
  the block raises, with the driver's errors as one StoreError line naming `what`;
- `_execute` (a statement without rows), `_insert_id` (an INSERT, returning the new row's
  id: SQLite's `lastrowid`, PostgreSQL's `RETURNING id`) and `_unit` (a unit's id, made if
  new).

Row-level security applies to all of it on PostgreSQL: a province role reads and writes only
its own province's rows, so importing another province's bundle fails in the database and
the transaction writes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import replace
from datetime import datetime

from cutover.store.base import (
    AttestationRecord,
    BundleOrigin,
    ImportOutcome,
    ProvinceEvidence,
    ResultRecord,
    RunRecord,
    UnitKey,
    WaiverRecord,
    from_us,
    to_us,
)
from cutover.store.sql import (
    CLOSE_RUN,
    INSERT_ATTESTATION,
    INSERT_RESULT,
    INSERT_WAIVER,
    RUN_COLUMNS,
    Row,
    SqlReader,
    attestation_values,
    run_record,
    waiver_values,
)

# Statements of this module, `?` placeholders (see `cutover.store.sql.to_pg`).  A run's scope
# is matched with LIKE (`%,31,%`), which both dialects have; province codes are digits.
PROVINCE_RUNS = f"""SELECT {RUN_COLUMNS} FROM runs
    WHERE ',' || scope_provinces || ',' LIKE ?
       OR id IN (SELECT r.run_id FROM units u JOIN results r ON r.unit_id = u.id
                 WHERE u.province = ?)
    ORDER BY started_at, id"""
PROVINCE_RESULTS = """SELECT ru.uid, u.province, u.step, u.commune, r.outcome, r.reason,
           r.observed, r.at, r.insecure, r.duration_ms
    FROM units u JOIN results r ON r.unit_id = u.id JOIN runs ru ON ru.id = r.run_id
    WHERE u.province = ? ORDER BY r.at, r.id"""
PROVINCE_ATTESTATIONS = """SELECT u.province, u.step, u.commune, a.outcome, a.attested_by, a.at,
           a.evidence_url, a.evidence_sha256, a.evidence_name, a.note, a.site, a.uid, a.id
    FROM units u JOIN attestations a ON a.unit_id = u.id
    WHERE u.province = ? ORDER BY a.at, a.id"""
PROVINCE_WAIVERS = """SELECT province, step, reason, approver, until_at, at, site, uid, id
    FROM waivers WHERE province = ? ORDER BY at, id"""
NEXT_EXPORT = "SELECT COALESCE(MAX(seq), 0) + 1 FROM bundle_exports WHERE site = ? AND province = ?"
INSERT_EXPORT = "INSERT INTO bundle_exports (site, province, seq, exported_at) VALUES (?,?,?,?)"
IMPORTED = "SELECT site, province, seq FROM bundle_imports WHERE payload_sha256 = ?"
LAST_IMPORT = (
    "SELECT seq, exported_at FROM bundle_imports WHERE site = ? AND province = ?"
    " ORDER BY seq DESC LIMIT 1"
)
INSERT_IMPORT = (
    "INSERT INTO bundle_imports (site, province, seq, exported_at, payload_sha256,"
    " signed_by, imported_at) VALUES (?,?,?,?,?,?,?)"
)
RUN_BY_UID = f"SELECT {RUN_COLUMNS} FROM runs WHERE uid = ?"
INSERT_FULL_RUN = (
    "INSERT INTO runs (uid, site, run_by, host, command, checklist_id, checklist_digest,"
    " checklist_source, scope_provinces, scope_steps, expected_results, started_at,"
    " finished_at, confirmed_at, duration_ms, complete, interrupted)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,0,?,?,?,?,?,?)"
)
WIDEN_RUN = "UPDATE runs SET scope_provinces = ? WHERE id = ?"
RESULT_AT = (
    "SELECT outcome, reason, observed, insecure FROM results"
    " WHERE unit_id = ? AND at = ? AND run_id = ?"
)
ATTESTATION_BY_UID = """SELECT a.province, u.step, u.commune, a.outcome, a.attested_by, a.at,
           a.evidence_url, a.evidence_sha256, a.evidence_name, a.note, a.site
    FROM attestations a JOIN units u ON u.id = a.unit_id WHERE a.uid = ?"""
WAIVER_BY_UID = (
    "SELECT province, step, reason, approver, until_at, at, site FROM waivers WHERE uid = ?"
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


def imported_uid(province: str, uid: str) -> str:
    """The uid under which a row of a bundle for `province` is stored: `P:uid`.

    A bundle is trusted for its province only, but uids are chosen by whoever writes a row
    and bundles are not secret: in one namespace a province's key could reuse another
    province's uid and so block (conflict with), end or widen that province's rows.  Each
    province gets its own: P is always the code before the first colon (a hostile uid may
    hold more), and rows this store writes itself (uuid4 hex, `legacy-N`) have no colon."""
    return f"{province}:{uid}"


def exported_uid(province: str, uid: str) -> str:
    """The uid a stored row has in a bundle for `province`: the one it was imported with for
    that province, so a bundle exported again and imported elsewhere gets one prefix, not
    two; a row written here keeps its own."""
    return uid.removeprefix(f"{province}:")


class Conflict(Exception):
    """A row in the bundle has the identity of a stored row but says something else."""


class _Undo(Exception):
    """Leaves the import's transaction, rolling it back, with what to answer."""

    def __init__(self, outcome: ImportOutcome) -> None:
        super().__init__(outcome.status)
        self.outcome = outcome


class BundleSql(SqlReader):
    """The signed-bundle half of the store contract, for every backend."""

    # --- hooks --------------------------------------------------------------------------

    def _snapshot(self) -> AbstractContextManager[None]:
        raise NotImplementedError

    def _bundle_write(self, what: str) -> AbstractContextManager[None]:
        raise NotImplementedError

    def _execute(self, sql: str, args: Sequence[object]) -> None:
        raise NotImplementedError

    def _insert_id(self, sql: str, args: Sequence[object]) -> int:
        raise NotImplementedError

    def _unit(self, key: UnitKey) -> int:
        raise NotImplementedError

    def _one(self, sql: str, args: Sequence[object]) -> Row | None:
        rows = self._rows(sql, args)
        return tuple(rows[0]) if rows else None

    # --- export -------------------------------------------------------------------------

    def province_evidence(self, province: str) -> ProvinceEvidence:
        """Every row about `province`, read in one snapshot (a run may be writing meanwhile)."""
        with self._snapshot():
            runs = [
                _narrow(run_record(row), province)
                for row in self._rows(PROVINCE_RUNS, (f"%,{province},%", province))
            ]
            results = [
                ResultRecord(
                    exported_uid(province, uid), p, st, c, outcome, reason, observed,
                    from_us(at), bool(insecure), ms,
                )
                for uid, p, st, c, outcome, reason, observed, at, insecure, ms in self._rows(
                    PROVINCE_RESULTS, (province,)
                )
            ]  # fmt: skip
            attestations = [
                AttestationRecord(
                    p, st, c, outcome, by, from_us(at), url, sha, name, note, site,
                    exported_uid(province, uid), id_,
                )
                for p, st, c, outcome, by, at, url, sha, name, note, site, uid, id_ in self._rows(
                    PROVINCE_ATTESTATIONS, (province,)
                )
            ]  # fmt: skip
            waivers = [
                WaiverRecord(
                    p, st, reason, approver, from_us(until), from_us(at), site,
                    exported_uid(province, uid), id_,
                )
                for p, st, reason, approver, until, at, site, uid, id_ in self._rows(
                    PROVINCE_WAIVERS, (province,)
                )
            ]  # fmt: skip
        return ProvinceEvidence(
            province, tuple(runs), tuple(results), tuple(attestations), tuple(waivers)
        )

    def record_export(self, site: str, province: str, at: datetime) -> int:
        """Number the next bundle exported for (`site`, `province`), and keep the number."""
        with self._bundle_write(f"the export ledger for province {province}"):
            row = self._one(NEXT_EXPORT, (site, province))
            seq = int(row[0]) if row else 1
            self._execute(INSERT_EXPORT, (site, province, seq, to_us(at)))
        return seq

    # --- import -------------------------------------------------------------------------

    def import_evidence(
        self, origin: BundleOrigin, evidence: ProvinceEvidence, at: datetime
    ) -> ImportOutcome:
        """All of a bundle or none of it: one write transaction, rolled back unless imported.
        Texts in the answer (and in a StoreError naming the bundle) quote the bundle's sites,
        provinces, uids and steps as they are: whoever shows them makes them inert for their
        medium (the CLI does it for every stderr line)."""
        what = f"the bundle of province {origin.province} from site {origin.site}"
        try:
            with self._bundle_write(what):
                outcome = self._import(origin, evidence, at)
                if outcome.status != "imported":
                    raise _Undo(outcome)
        except _Undo as undo:
            return undo.outcome
        except Conflict as exc:
            return ImportOutcome("conflict", str(exc))
        return outcome

    def _import(
        self, origin: BundleOrigin, evidence: ProvinceEvidence, at: datetime
    ) -> ImportOutcome:
        seen = self._one(IMPORTED, (origin.payload_sha256,))
        if seen:
            return ImportOutcome(
                "already imported", f"province {seen[1]} from site {seen[0]}, sequence {seen[2]}"
            )
        last = self._one(LAST_IMPORT, (origin.site, origin.province))
        if last and origin.sequence <= int(last[0]):
            return ImportOutcome(
                "replay",
                f"sequence {origin.sequence} from site {origin.site} for province "
                f"{origin.province} is not newer than sequence {last[0]} already imported "
                f"(exported {from_us(last[1]).isoformat()})",
            )
        province = evidence.province
        run_ids, new_runs = self._runs(evidence.runs, province)
        outcome = ImportOutcome(
            "imported",
            runs=new_runs,
            results=self._results(evidence.results, run_ids),
            attestations=self._attestations(evidence.attestations, province),
            waivers=self._waivers(evidence.waivers, province),
        )
        self._execute(
            INSERT_IMPORT,
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

    def _runs(self, runs: Sequence[RunRecord], province: str) -> tuple[dict[str, int], int]:
        """Each run's local id by its uid in the bundle, inserting the new ones under the
        province's uids; returns how many were new."""
        ids: dict[str, int] = {}
        new = 0
        for run in runs:
            uid = imported_uid(province, run.uid)
            row = self._one(RUN_BY_UID, (uid,))
            if row is None:
                ids[run.uid] = self._insert_id(
                    INSERT_FULL_RUN,
                    (
                        uid,
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
                new += 1
            else:
                stored = run_record(row)
                self._merge_run(stored, run, province)
                ids[run.uid] = stored.id
        return ids, new

    def _merge_run(self, stored: RunRecord, run: RunRecord, province: str) -> None:
        """A run an earlier bundle of this province brought: it must be the same run.  Its
        end is recorded if we only saw it running, and its scope gains this province if the
        run covered it.  A run of a site that covered several provinces is one row per
        province (each under its province's uid, scoped to it), ended only by that
        province's bundles: another province's key can neither end nor widen it."""
        differs = [f for f in RUN_IDENTITY if getattr(stored, f) != getattr(run, f)]
        if differs:
            raise Conflict(
                f"run {run.uid} differs from the stored run with that uid ({differs[0]})"
            )
        if stored.finished_at is None and run.finished_at is not None:
            self._execute(CLOSE_RUN, (*_end_columns(run), stored.id))
        elif run.finished_at is not None and _end(stored) != _end(run):
            raise Conflict(f"run {run.uid} ends differently from the stored run with that uid")
        if province in run.scope_provinces and province not in stored.scope_provinces:
            scope = ",".join((*stored.scope_provinces, province))
            self._execute(WIDEN_RUN, (scope, stored.id))

    def _results(self, results: Sequence[ResultRecord], run_ids: dict[str, int]) -> int:
        new = 0
        for r in results:
            unit = self._unit((r.province, r.step, r.commune))
            run_id = run_ids.get(r.run_uid)
            if run_id is None:
                raise Conflict(
                    f"a result refers to run {r.run_uid}, which the bundle does not hold"
                )
            state = (r.outcome, r.reason, r.observed, int(r.insecure))
            row = self._one(RESULT_AT, (unit, to_us(r.at), run_id))
            if row is not None:
                if row != state:
                    raise Conflict(
                        f"the result of run {r.run_uid} for {r.province} {r.step} "
                        f"{r.commune} at {r.at.isoformat()} differs from the stored one"
                    )
                continue
            self._execute(
                INSERT_RESULT,
                (run_id, unit, r.province, *state[:3], r.duration_ms, to_us(r.at), state[3]),
            )
            new += 1
        return new

    def _attestations(self, records: Sequence[AttestationRecord], province: str) -> int:
        new = 0
        for a in records:
            fields: tuple[object, ...] = (a.province, a.step, a.commune, a.outcome, a.by)
            fields += (
                to_us(a.at),
                a.evidence_url,
                a.evidence_sha256,
                a.evidence_name,
                a.note,
                a.site,
            )
            uid = imported_uid(province, a.uid)
            row = self._one(ATTESTATION_BY_UID, (uid,))
            if row is not None:
                if row != fields:
                    raise Conflict(f"attestation {a.uid} differs from the stored one with that uid")
                continue
            unit = self._unit((a.province, a.step, a.commune))
            self._execute(INSERT_ATTESTATION, attestation_values(replace(a, uid=uid), unit))
            new += 1
        return new

    def _waivers(self, records: Sequence[WaiverRecord], province: str) -> int:
        new = 0
        for w in records:
            fields = (w.province, w.step, w.reason, w.approver, to_us(w.until), to_us(w.at), w.site)
            uid = imported_uid(province, w.uid)
            row = self._one(WAIVER_BY_UID, (uid,))
            if row is not None:
                if row != fields:
                    raise Conflict(f"waiver {w.uid} differs from the stored one with that uid")
                continue
            self._execute(INSERT_WAIVER, waiver_values(replace(w, uid=uid)))
            new += 1
        return new


def _narrow(run: RunRecord, province: str) -> RunRecord:
    """A run as one province's bundle describes it: its scope cut to that province, so it
    can never confirm another province's rows where it is imported, and its uid the one it
    has in that province's bundles."""
    scope = (province,) if province in run.scope_provinces else ()
    return replace(run, uid=exported_uid(province, run.uid), scope_provinces=scope)


def _end(run: RunRecord) -> tuple[object, ...]:
    return (run.finished_at, run.confirmed_at, run.complete, run.interrupted)


def _end_columns(run: RunRecord) -> tuple[int | float | None, ...]:
    return (
        to_us(run.finished_at) if run.finished_at else None,
        to_us(run.confirmed_at) if run.confirmed_at else None,
        None if run.duration_s is None else round(run.duration_s * 1000, 1),
        int(run.complete),
        int(run.interrupted),
    )
