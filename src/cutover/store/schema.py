"""Versioned schema, written once for every backend.

Each step is DDL with three dialect words filled in per backend: `{pk}` (an auto-numbered
integer key), `{big}` (a 64-bit integer) and `{real}`.  Times are `{big}` microseconds since
the Unix epoch, UTC: both SQLite and PostgreSQL order integers correctly, and they are half
the size of ISO text.  No column is named after a word that is reserved somewhere (`user`,
`by`, `until`).

Results, attestations and waivers are append-only.  Results are written only when a unit's
state changes; a complete run confirms the unchanged units of its scope (see
`cutover.store.base`).  Versions 1 and 2 were the SQLite-only layout of cutover 0.1; a 0.1
file is converted in place by `LEGACY_SQLITE_UPGRADE` (see `cutover.store.sqlite`).
Version 4 adds the ledgers of signed bundles exported and imported; version 5 ties
PostgreSQL's copied `province` columns to their units (row-level security rests on them).
"""

from __future__ import annotations

from dataclasses import dataclass

FIRST_PORTABLE = 3  # versions before this one exist only in SQLite files of cutover 0.1


@dataclass(frozen=True)
class Dialect:
    """The column types one backend's SQL spells differently."""

    pk: str
    big: str
    real: str

    def fill(self, sql: str) -> str:
        return sql.format(pk=self.pk, big=self.big, real=self.real)


SQLITE = Dialect(pk="INTEGER PRIMARY KEY", big="INTEGER", real="REAL")
POSTGRES = Dialect(
    pk="BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY", big="BIGINT", real="DOUBLE PRECISION"
)

# version -> statements that bring a store from version-1 to version
MIGRATIONS: dict[int, tuple[str, ...]] = {
    3: (
        """CREATE TABLE runs (
            id {pk},
            uid TEXT NOT NULL UNIQUE,
            site TEXT NOT NULL,
            run_by TEXT NOT NULL,
            host TEXT NOT NULL,
            command TEXT NOT NULL,
            checklist_id TEXT NOT NULL,
            checklist_digest TEXT NOT NULL,
            checklist_source TEXT NOT NULL,
            scope_provinces TEXT NOT NULL,
            scope_steps TEXT NOT NULL,
            expected_results INTEGER NOT NULL,
            started_at {big} NOT NULL,
            finished_at {big},
            confirmed_at {big},
            duration_ms {real},
            complete INTEGER NOT NULL DEFAULT 0,
            interrupted INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX runs_confirmed ON runs (confirmed_at)",
        """CREATE TABLE units (
            id {pk},
            province TEXT NOT NULL,
            step TEXT NOT NULL,
            commune TEXT NOT NULL,
            UNIQUE (province, step, commune)
        )""",
        """CREATE TABLE results (
            id {pk},
            run_id {big} NOT NULL REFERENCES runs (id),
            unit_id {big} NOT NULL REFERENCES units (id),
            province TEXT NOT NULL,
            outcome TEXT NOT NULL CHECK (outcome IN ('pass', 'fail', 'unknown')),
            reason TEXT NOT NULL,
            observed TEXT,
            duration_ms {real},
            at {big} NOT NULL,
            insecure INTEGER NOT NULL DEFAULT 0
        )""",
        "CREATE INDEX results_unit_at ON results (unit_id, at, id)",
        "CREATE INDEX results_unit_passed ON results (unit_id, at) WHERE outcome = 'pass'",
        """CREATE TABLE attestations (
            id {pk},
            uid TEXT NOT NULL UNIQUE,
            site TEXT NOT NULL,
            unit_id {big} NOT NULL REFERENCES units (id),
            province TEXT NOT NULL,
            outcome TEXT NOT NULL CHECK (outcome IN ('pass', 'fail')),
            attested_by TEXT NOT NULL,
            evidence_url TEXT,
            evidence_sha256 TEXT,
            evidence_name TEXT,
            note TEXT,
            at {big} NOT NULL
        )""",
        "CREATE INDEX attestations_unit_at ON attestations (unit_id, at)",
        "CREATE INDEX attestations_at ON attestations (at)",
        """CREATE TABLE waivers (
            id {pk},
            uid TEXT NOT NULL UNIQUE,
            site TEXT NOT NULL,
            province TEXT NOT NULL,
            step TEXT NOT NULL,
            reason TEXT NOT NULL,
            approver TEXT NOT NULL,
            until_at {big} NOT NULL,
            at {big} NOT NULL
        )""",
        "CREATE INDEX waivers_cell_at ON waivers (province, step, at)",
        "CREATE INDEX waivers_at ON waivers (at)",
    ),
    # Signed bundles (cutover.bundles): what this store exported, numbered per province, and
    # what it imported, per exporting site and province (replay protection, idempotence).
    4: (
        """CREATE TABLE bundle_exports (
            id {pk},
            site TEXT NOT NULL,
            province TEXT NOT NULL,
            seq {big} NOT NULL,
            exported_at {big} NOT NULL,
            UNIQUE (site, province, seq)
        )""",
        """CREATE TABLE bundle_imports (
            id {pk},
            site TEXT NOT NULL,
            province TEXT NOT NULL,
            seq {big} NOT NULL,
            exported_at {big} NOT NULL,
            payload_sha256 TEXT NOT NULL UNIQUE,
            signed_by TEXT NOT NULL,
            imported_at {big} NOT NULL,
            UNIQUE (site, province, seq)
        )""",
    ),
}

# Version 5 changes PostgreSQL only (see `cutover.store.pg_admin.SECURITY`): a row's province
# must be its unit's, and a province's results must belong to its own open runs.  Nothing
# changes in a SQLite file but its version number.
MIGRATIONS[5] = ()

LATEST = max(MIGRATIONS)

# SQLite expressions for cutover 0.1's ISO text times ('2025-06-28T06:00:00.123456+00:00',
# always UTC with microseconds) as integer microseconds, exactly.
_US = (
    "(CAST(strftime('%s', substr({0}, 1, 19)) AS INTEGER) * 1000000"
    " + CAST(substr({0}, 21, 6) AS INTEGER))"
)


def _us(column: str) -> str:
    return _US.format(column)


# Runs from 0.1 stored every result, so they confirm nothing implicitly (complete = 0).
LEGACY_SQLITE_UPGRADE: tuple[str, ...] = (
    "ALTER TABLE runs RENAME TO legacy_runs",
    "ALTER TABLE results RENAME TO legacy_results",
    "ALTER TABLE attestations RENAME TO legacy_attestations",
    "ALTER TABLE waivers RENAME TO legacy_waivers",
    "DROP INDEX IF EXISTS results_unit_time",
    "DROP INDEX IF EXISTS attestations_unit_time",
    "DROP INDEX IF EXISTS waivers_cell_time",
    *(SQLITE.fill(s) for s in MIGRATIONS[3]),
    f"""INSERT INTO runs (id, uid, site, run_by, host, command, checklist_id, checklist_digest,
            checklist_source, scope_provinces, scope_steps, expected_results, started_at,
            finished_at, confirmed_at, duration_ms, complete, interrupted)
        SELECT id, 'legacy-' || id, '', user, host, command, checklist_id, checklist_digest,
            checklist_source, '', '', 0, {_us("started_at")},
            CASE WHEN finished_at IS NULL THEN NULL ELSE {_us("finished_at")} END,
            (SELECT MAX({_us("at")}) FROM legacy_results r WHERE r.run_id = legacy_runs.id),
            NULL, 0, interrupted
        FROM legacy_runs""",
    """INSERT INTO units (province, step, commune)
        SELECT province, step, commune FROM legacy_results
        UNION SELECT province, step, commune FROM legacy_attestations""",
    f"""INSERT INTO results (id, run_id, unit_id, province, outcome, reason, observed,
            duration_ms, at, insecure)
        SELECT r.id, r.run_id, u.id, r.province, r.outcome, r.reason, r.observed,
            r.duration_ms, {_us("r.at")}, r.insecure
        FROM legacy_results r JOIN units u
          ON u.province = r.province AND u.step = r.step AND u.commune = r.commune""",
    f"""INSERT INTO attestations (id, uid, site, unit_id, province, outcome, attested_by,
            evidence_url, evidence_sha256, evidence_name, note, at)
        SELECT a.id, 'legacy-a' || a.id, '', u.id, a.province, a.outcome, a.by, a.evidence_url,
            a.evidence_sha256, a.evidence_name, a.note, {_us("a.at")}
        FROM legacy_attestations a JOIN units u
          ON u.province = a.province AND u.step = a.step AND u.commune = a.commune""",
    f"""INSERT INTO waivers (id, uid, site, province, step, reason, approver, until_at, at)
        SELECT id, 'legacy-w' || id, '', province, step, reason, approver, {_us("until")},
            {_us("at")}
        FROM legacy_waivers""",
    "DROP TABLE legacy_results",
    "DROP TABLE legacy_attestations",
    "DROP TABLE legacy_waivers",
    "DROP TABLE legacy_runs",
)

# The 0.1 layout, kept so the upgrade can be tested from a real 0.1 file.
LEGACY_SQLITE_V2: tuple[str, ...] = (
    """CREATE TABLE runs (id INTEGER PRIMARY KEY, started_at TEXT NOT NULL, finished_at TEXT,
        checklist_id TEXT NOT NULL, checklist_digest TEXT NOT NULL,
        checklist_source TEXT NOT NULL, user TEXT NOT NULL, host TEXT NOT NULL,
        command TEXT NOT NULL, interrupted INTEGER NOT NULL DEFAULT 0)""",
    """CREATE TABLE results (id INTEGER PRIMARY KEY, run_id INTEGER NOT NULL REFERENCES runs(id),
        province TEXT NOT NULL, step TEXT NOT NULL, commune TEXT NOT NULL DEFAULT '',
        outcome TEXT NOT NULL CHECK (outcome IN ('pass', 'fail', 'unknown')),
        reason TEXT NOT NULL DEFAULT '', observed TEXT, duration_ms REAL, at TEXT NOT NULL,
        insecure INTEGER NOT NULL DEFAULT 0)""",
    "CREATE INDEX results_unit_time ON results (province, step, commune, at)",
    """CREATE TABLE attestations (id INTEGER PRIMARY KEY, province TEXT NOT NULL,
        step TEXT NOT NULL, commune TEXT NOT NULL DEFAULT '',
        outcome TEXT NOT NULL CHECK (outcome IN ('pass', 'fail')), by TEXT NOT NULL,
        evidence_url TEXT, evidence_sha256 TEXT, evidence_name TEXT, note TEXT,
        at TEXT NOT NULL)""",
    "CREATE INDEX attestations_unit_time ON attestations (province, step, commune, at)",
    """CREATE TABLE waivers (id INTEGER PRIMARY KEY, province TEXT NOT NULL, step TEXT NOT NULL,
        reason TEXT NOT NULL, approver TEXT NOT NULL, until TEXT NOT NULL, at TEXT NOT NULL)""",
    "CREATE INDEX waivers_cell_time ON waivers (province, step, at)",
)
