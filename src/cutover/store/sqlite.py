"""The SQLite store: WAL mode, a busy timeout, migrations, and one writer thread that commits
results in batches.  Every SQLite failure becomes a one-line StoreError (exit code 3)."""

from __future__ import annotations

import getpass
import os
import queue
import socket
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from cutover.engine import Result
from cutover.errors import StoreError
from cutover.rollup import Evidence, History, Waiver
from cutover.store.migrations import LATEST, MIGRATIONS


def busy_timeout_ms() -> int:
    """How long to wait for another process's write (cron runs that overlap)."""
    try:
        return int(os.environ.get("CUTOVER_BUSY_TIMEOUT_MS", "60000"))
    except ValueError:
        return 60_000


BATCH = 500


def utc(moment: datetime) -> str:
    """Stored times are UTC ISO strings, so text order is time order."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


def default_path() -> Path:
    env = os.environ.get("CUTOVER_DB")
    if env:
        return Path(env)
    from platformdirs import user_data_path

    return user_data_path("cutover", appauthor=False) / "cutover.db"


def explain(exc: sqlite3.Error, path: Path) -> StoreError:
    text = str(exc)
    if "locked" in text or "busy" in text:
        waited = busy_timeout_ms() / 1000
        message = f"store {path} is locked by another process (waited {waited:g} s)"
    elif "full" in text:
        message = f"store {path}: disk is full; nothing after the last committed batch was saved"
    elif "not a database" in text or "malformed" in text:
        message = f"store {path} is corrupt or not a cutover database ({text})"
    elif "readonly" in text or "read-only" in text:
        message = f"store {path} is read-only"
    elif "unable to open" in text:
        where = path.parent
        if not where.exists():
            message = f"cannot open store {path}: directory {where} does not exist"
        elif not os.access(where, os.W_OK):
            message = f"cannot open store {path}: directory {where} is not writable"
        else:
            message = f"cannot open store {path}"
    else:
        message = f"store {path}: {text}"
    return StoreError(message)


@contextmanager
def translated(path: Path) -> Iterator[None]:
    try:
        yield
    except sqlite3.Error as exc:
        raise explain(exc, path) from None


def connect(path: Path, *, create: bool = True) -> sqlite3.Connection:
    with translated(path):
        if path.is_dir():
            raise StoreError(f"store {path} is a directory; give a file path")
        if not create and not path.exists():
            raise StoreError(f"no store at {path} (run `cutover check` first, or give --db)")
        if path.exists() and not os.access(path, os.W_OK):
            raise StoreError(f"store {path} is read-only")
        conn = sqlite3.connect(
            path, timeout=busy_timeout_ms() / 1000, isolation_level=None, check_same_thread=False
        )
        conn.execute(f"PRAGMA busy_timeout = {busy_timeout_ms()}")
        _use_wal(conn)
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
        migrate(conn, path)
        return conn


def _use_wal(conn: sqlite3.Connection) -> None:
    """Switch a new file to WAL.  SQLite answers "locked" at once, without its busy handler,
    when another process holds the file during the switch, so retry until the busy timeout."""
    import time

    deadline = time.monotonic() + busy_timeout_ms() / 1000
    while True:
        try:
            if conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
                return
            conn.execute("PRAGMA journal_mode = WAL").fetchall()
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def migrate(conn: sqlite3.Connection, path: Path) -> None:
    version = conn.execute("PRAGMA user_version").fetchone()[0]
    if version > LATEST:
        raise StoreError(
            f"store {path} has schema version {version}, newer than this cutover "
            f"understands ({LATEST}); upgrade cutover"
        )
    if version == LATEST:
        return
    conn.execute("BEGIN IMMEDIATE")
    try:
        # Another process may have migrated while we waited for the lock.
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        for number in range(version, LATEST):
            for statement in MIGRATIONS[number].split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {number + 1}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


@dataclass(frozen=True)
class RunInfo:
    checklist_id: str
    checklist_digest: str
    checklist_source: str
    command: str


class Store:
    def __init__(self, path: Path | None = None, *, create: bool = True) -> None:
        self.path = path or default_path()
        if path is None and not os.environ.get("CUTOVER_DB"):
            try:  # the user data directory is ours to create; an explicit --db is not
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create the store's directory {self.path.parent}: {exc.strerror or exc}"
                ) from None
        self.conn = connect(self.path, create=create)

    def close(self) -> None:
        self.conn.close()

    # --- writing ----------------------------------------------------------------------

    def start_run(self, info: RunInfo, started: datetime | None = None) -> int:
        with translated(self.path):
            cur = self.conn.execute(
                "INSERT INTO runs (started_at, checklist_id, checklist_digest, checklist_source,"
                " user, host, command) VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    utc(started or datetime.now(UTC)),
                    info.checklist_id,
                    info.checklist_digest,
                    info.checklist_source,
                    _user(),
                    socket.gethostname(),
                    info.command,
                ),
            )
            return int(cur.lastrowid or 0)

    def finish_run(self, run_id: int, interrupted: bool) -> None:
        with translated(self.path):
            self.conn.execute(
                "UPDATE runs SET finished_at = ?, interrupted = ? WHERE id = ?",
                (utc(datetime.now(UTC)), int(interrupted), run_id),
            )

    def writer(self, run_id: int) -> Writer:
        return Writer(self, run_id)

    def attest(
        self,
        province: str,
        step: str,
        commune: str,
        outcome: str,
        by: str,
        evidence_url: str | None,
        evidence_sha256: str | None,
        evidence_name: str | None,
        note: str | None,
        at: datetime,
    ) -> int:
        with translated(self.path):
            cur = self.conn.execute(
                "INSERT INTO attestations (province, step, commune, outcome, by, evidence_url,"
                " evidence_sha256, evidence_name, note, at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                (
                    province,
                    step,
                    commune,
                    outcome,
                    by,
                    evidence_url,
                    evidence_sha256,
                    evidence_name,
                    note,
                    utc(at),
                ),
            )
            return int(cur.lastrowid or 0)

    def waive(
        self, province: str, step: str, reason: str, approver: str, until: datetime, at: datetime
    ) -> int:
        with translated(self.path):
            cur = self.conn.execute(
                "INSERT INTO waivers (province, step, reason, approver, until, at)"
                " VALUES (?,?,?,?,?,?)",
                (province, step, reason, approver, utc(until), utc(at)),
            )
            return int(cur.lastrowid or 0)

    # --- reading ----------------------------------------------------------------------

    def evidence(self, steps: list[str], until: datetime) -> dict[tuple[str, str, str], Evidence]:
        """The latest probe result or attestation per unit at or before `until`."""
        marks = ",".join("?" * len(steps))
        sql = f"""
            SELECT province, step, commune, outcome, at, reason, observed, source, by, insecure
            FROM (
              SELECT *, ROW_NUMBER() OVER (
                  PARTITION BY province, step, commune ORDER BY at DESC, source DESC) AS rn
              FROM (
                SELECT r.province, r.step, r.commune, r.outcome, r.at, r.reason, r.observed,
                       'probe' AS source, u.user || '@' || u.host AS by, r.insecure
                FROM results r JOIN runs u ON u.id = r.run_id
                WHERE r.at <= ? AND r.step IN ({marks})
                UNION ALL
                SELECT province, step, commune, outcome, at, COALESCE(note, ''),
                       COALESCE(evidence_url, 'sha256:' || evidence_sha256),
                       'attestation', by, 0
                FROM attestations WHERE at <= ? AND step IN ({marks})
              )
            ) WHERE rn = 1
        """
        with translated(self.path):
            rows = self.conn.execute(sql, (utc(until), *steps, utc(until), *steps)).fetchall()
        return {
            (p, s, c): Evidence(o, parse(at), reason or "", observed, src, by, bool(insecure))
            for p, s, c, o, at, reason, observed, src, by, insecure in rows
        }

    def history(self, steps: list[str], until: datetime) -> History:
        marks = ",".join("?" * len(steps))
        with translated(self.path):
            done = self.conn.execute(
                f"SELECT DISTINCT province, step, commune FROM results WHERE outcome = 'pass'"
                f" AND at <= ? AND step IN ({marks}) UNION SELECT DISTINCT province, step,"
                f" commune FROM attestations WHERE outcome = 'pass' AND at <= ?"
                f" AND step IN ({marks})",
                (utc(until), *steps, utc(until), *steps),
            ).fetchall()
            waivers = self.conn.execute(
                f"SELECT province, step, reason, approver, until, at FROM waivers w"
                f" WHERE at <= ? AND step IN ({marks}) AND id = (SELECT MAX(id) FROM waivers"
                f" v WHERE v.province = w.province AND v.step = w.step AND v.at <= ?)",
                (utc(until), *steps, utc(until)),
            ).fetchall()
        return History(
            was_done=frozenset((p, s, c) for p, s, c in done),
            waivers={(p, s): Waiver(r, a, parse(u), parse(at)) for p, s, r, a, u, at in waivers},
        )

    def evaluation_times(self) -> list[datetime]:
        """When evidence changed hands: each run's last result, each attestation, each waiver."""
        with translated(self.path):
            rows = self.conn.execute(
                "SELECT MAX(at) FROM results GROUP BY run_id UNION SELECT at FROM attestations"
                " UNION SELECT at FROM waivers ORDER BY 1"
            ).fetchall()
        return [parse(r[0]) for r in rows if r[0]]

    def last_run(self) -> tuple[int, datetime, datetime | None] | None:
        with translated(self.path):
            row = self.conn.execute(
                "SELECT id, started_at, finished_at FROM runs ORDER BY id DESC LIMIT 1"
            ).fetchone()
        if row is None:
            return None
        return row[0], parse(row[1]), parse(row[2]) if row[2] else None

    def timeline(self, province: str | None, step: str | None) -> list[tuple[str, ...]]:
        """Every recorded event for the filter, oldest first (the history view dedups)."""
        where, args = [], []
        if province:
            where.append("province = ?")
            args.append(province)
        if step:
            where.append("step = ?")
            args.append(step)
        cond = f"WHERE {' AND '.join(where)}" if where else ""
        sql = f"""
            SELECT at, province, step, commune, outcome, reason, who, kind FROM (
              SELECT r.at, r.province, r.step, r.commune, r.outcome, r.reason,
                     'run ' || r.run_id || ' by ' || u.user || '@' || u.host AS who,
                     'probe' AS kind
              FROM results r JOIN runs u ON u.id = r.run_id
              UNION ALL
              SELECT at, province, step, commune, outcome,
                     COALESCE(note, '') || CASE WHEN evidence_url IS NOT NULL
                        THEN ' evidence ' || evidence_url
                        ELSE ' evidence sha256:' || evidence_sha256 END,
                     'attested by ' || by, 'attestation'
              FROM attestations
              UNION ALL
              SELECT at, province, step, '', 'waived', reason || ' until ' || until,
                     'approved by ' || approver, 'waiver'
              FROM waivers
            ) {cond} ORDER BY at, kind
        """
        with translated(self.path):
            return [tuple(str(v) for v in row) for row in self.conn.execute(sql, args)]

    def describe(self) -> list[str]:
        with translated(self.path):
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
            counts = {
                t: self.conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("runs", "results", "attestations", "waivers")
            }
        lines = [f"store: {self.path}", f"schema version: {version}"]
        lines += [f"{table}: {count}" for table, count in counts.items()]
        last = self.last_run()
        if last:
            lines.append(f"last run: {last[0]} started {last[1].isoformat()}")
        return lines

    def integrity(self) -> str:
        with translated(self.path):
            return str(self.conn.execute("PRAGMA integrity_check").fetchone()[0])


INSERT_RESULT = (
    "INSERT INTO results (run_id, province, step, commune, outcome, reason, observed,"
    " duration_ms, at, insecure) VALUES (?,?,?,?,?,?,?,?,?,?)"
)


def result_row(run_id: int, r: Result) -> tuple[object, ...]:
    """One probe result as the values of INSERT_RESULT."""
    o = r.outcome
    return (
        run_id,
        r.province,
        r.step,
        r.commune,
        o.status,
        o.reason,
        o.observed,
        o.duration_ms,
        utc(r.at),
        int(r.insecure),
    )


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return str(os.getuid()) if hasattr(os, "getuid") else "unknown"


class Writer:
    """One thread owns the inserts; the engine only puts results on a queue.  Each batch is
    one transaction, so a crash loses at most the batch in flight."""

    def __init__(self, store: Store, run_id: int) -> None:
        self.store = store
        self.run_id = run_id
        self.queue: queue.Queue[Result | None] = queue.Queue()
        self.error: StoreError | None = None
        self._conn = connect(store.path)  # opened here so an error surfaces in the caller
        self._thread = threading.Thread(target=self._loop, name="store-writer", daemon=True)
        self._thread.start()

    def put(self, result: Result) -> None:
        self.queue.put(result)

    def close(self) -> None:
        """Commit what is queued, stop the thread; raise the first store error, if any."""
        self.queue.put(None)
        self._thread.join()
        self._conn.close()
        if self.error:
            raise self.error

    def _loop(self) -> None:
        finished = False
        while not finished:
            batch: list[Result] = []
            item = self.queue.get()  # wait for the first result of a batch
            while True:
                if item is None:
                    finished = True
                    break
                batch.append(item)
                if len(batch) >= BATCH:
                    break
                try:
                    item = self.queue.get(timeout=0.2)
                except queue.Empty:
                    break
            if batch and not self.error:
                self._commit(self._conn, batch)

    def _commit(self, conn: sqlite3.Connection, batch: list[Result]) -> None:
        rows = [result_row(self.run_id, r) for r in batch]
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(INSERT_RESULT, rows)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self.error = explain(exc, self.store.path)
