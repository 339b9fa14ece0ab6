"""Versioned schema.  `PRAGMA user_version` holds the version; each step runs once, in order.

Results, attestations and waivers are append-only: nothing is updated in place, so the matrix
at any past time can be recomputed from the rows stamped at or before it.
"""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: runs and probe results
    """
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY,
        started_at TEXT NOT NULL,
        finished_at TEXT,
        checklist_id TEXT NOT NULL,
        checklist_digest TEXT NOT NULL,
        checklist_source TEXT NOT NULL,
        user TEXT NOT NULL,
        host TEXT NOT NULL,
        command TEXT NOT NULL,
        interrupted INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE results (
        id INTEGER PRIMARY KEY,
        run_id INTEGER NOT NULL REFERENCES runs(id),
        province TEXT NOT NULL,
        step TEXT NOT NULL,
        commune TEXT NOT NULL DEFAULT '',
        outcome TEXT NOT NULL CHECK (outcome IN ('pass', 'fail', 'unknown')),
        reason TEXT NOT NULL DEFAULT '',
        observed TEXT,
        duration_ms REAL,
        at TEXT NOT NULL,
        insecure INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX results_unit_time ON results (province, step, commune, at);
    """,
    # 2: people's input: attestations (cutover mark) and waivers (cutover waive)
    """
    CREATE TABLE attestations (
        id INTEGER PRIMARY KEY,
        province TEXT NOT NULL,
        step TEXT NOT NULL,
        commune TEXT NOT NULL DEFAULT '',
        outcome TEXT NOT NULL CHECK (outcome IN ('pass', 'fail')),
        by TEXT NOT NULL,
        evidence_url TEXT,
        evidence_sha256 TEXT,
        evidence_name TEXT,
        note TEXT,
        at TEXT NOT NULL
    );
    CREATE INDEX attestations_unit_time ON attestations (province, step, commune, at);
    CREATE TABLE waivers (
        id INTEGER PRIMARY KEY,
        province TEXT NOT NULL,
        step TEXT NOT NULL,
        reason TEXT NOT NULL,
        approver TEXT NOT NULL,
        until TEXT NOT NULL,
        at TEXT NOT NULL
    );
    CREATE INDEX waivers_cell_time ON waivers (province, step, at);
    """,
]

LATEST = len(MIGRATIONS)
