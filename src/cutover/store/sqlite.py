"""The SQLite store: one file, WAL mode, a busy timeout, migrations, and one writer thread per
run that commits results in batches.  Every SQLite failure becomes a one-line StoreError
(exit code 3)."""

from __future__ import annotations

import os
import queue
import sqlite3
import stat
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from cutover.errors import StoreError
from cutover.store.base import (
    AttestationRecord,
    BundleOrigin,
    ImportOutcome,
    OutcomeChange,
    ProbeResultLike,
    ProbeRow,
    ProvinceEvidence,
    RawEvidence,
    RunRecord,
    RunStart,
    StoreDescription,
    TimelineEvent,
    UnitKey,
    WaiverRecord,
    from_us,
    to_us,
)
from cutover.store.evidence import covering_runs, select_runs
from cutover.store.schema import (
    FIRST_PORTABLE,
    LATEST,
    LEGACY_SQLITE_UPGRADE,
    LEGACY_SQLITE_V2,
    MIGRATIONS,
    SQLITE,
)

BATCH = 500
DEFAULT_BUSY_MS = 60_000
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)


def default_path() -> Path:
    from platformdirs import user_data_path

    return user_data_path("cutover", appauthor=False) / "cutover.db"


def busy_timeout_ms(environ: Mapping[str, str]) -> int:
    """How long to wait for another process's write (cron runs that overlap)."""
    try:
        return max(0, int(environ.get("CUTOVER_BUSY_TIMEOUT_MS", DEFAULT_BUSY_MS)))
    except ValueError:
        return DEFAULT_BUSY_MS


def explain(exc: sqlite3.Error, path: Path, busy_ms: int) -> StoreError:
    text = str(exc)
    if "locked" in text or "busy" in text:
        message = f"store {path} is locked by another process (waited {busy_ms / 1000:g} s)"
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


def _refuse_shared(path: Path) -> None:
    """Like ssh with a key file: a store others can write is a store others can forge."""
    for what, target in (("store", path), ("store directory", path.parent)):
        try:
            info = target.stat()
        except OSError:
            continue
        if info.st_mode & stat.S_IWOTH and not (what == "store directory" and _sticky_own(path)):
            raise StoreError(
                f"{what} {target} is writable by other users; "
                f"run `chmod o-w {target}` or choose another --db"
            )


def _sticky_own(path: Path) -> bool:
    """A world-writable sticky directory (/tmp) is safe for a file we own that others can't
    write: the sticky bit stops them renaming or deleting it."""
    parent = path.parent.stat()
    if not parent.st_mode & stat.S_ISVTX:
        return False
    try:
        mine = path.stat()
    except OSError:
        return True  # we are about to create it ourselves
    return mine.st_uid == os.getuid() and not mine.st_mode & stat.S_IWOTH


def _create_private(path: Path) -> None:
    """An empty file readable by its owner only (or its group, when the directory is setgid,
    which is how a shared group says "files here are ours").  SQLite gives the -wal and -shm
    files the same mode."""
    mode = 0o660 if path.parent.stat().st_mode & stat.S_ISGID else 0o600
    try:
        fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY | os.O_NOFOLLOW, mode)
    except FileExistsError:
        return
    os.fchmod(fd, mode)  # the umask must not widen or narrow what we chose
    os.close(fd)


class SqliteStore:
    backend = "sqlite"

    def __init__(
        self,
        path: Path,
        *,
        environ: Mapping[str, str],
        create: bool = True,
        default_dir: bool = False,
    ) -> None:
        self.path = path
        self.location = str(path)
        self.busy_ms = busy_timeout_ms(environ)
        if default_dir and create:
            try:  # the user data directory is ours to create; an explicit --db is not
                path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create the store's directory {path.parent}: {exc.strerror or exc}"
                ) from None
        self.conn = self._connect(create=create)

    # --- connection and schema --------------------------------------------------------

    @contextmanager
    def translated(self) -> Iterator[None]:
        try:
            yield
        except sqlite3.Error as exc:
            raise explain(exc, self.path, self.busy_ms) from None

    def _connect(self, *, create: bool) -> sqlite3.Connection:
        path = self.path
        with self.translated():
            if path.is_dir():
                raise StoreError(f"store {path} is a directory; give a file path")
            if not create and not path.exists():
                raise StoreError(f"no store at {path} (run `cutover check` first, or give --db)")
            if path.exists() and not os.access(path, os.W_OK):
                raise StoreError(f"store {path} is read-only")
            _refuse_shared(path)
            if not path.exists() and path.parent.is_dir():
                try:
                    _create_private(path)
                except OSError as exc:
                    raise explain(sqlite3.OperationalError("unable to open"), path, 0) from exc
            conn = sqlite3.connect(
                path, timeout=self.busy_ms / 1000, isolation_level=None, check_same_thread=False
            )
            conn.execute(f"PRAGMA busy_timeout = {self.busy_ms}")
            self._use_wal(conn)
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            self._migrate(conn)
            return conn

    def _use_wal(self, conn: sqlite3.Connection) -> None:
        """Switch a new file to WAL.  SQLite answers "locked" at once, without its busy
        handler, when another process holds the file during the switch: retry until the busy
        timeout."""
        deadline = time.monotonic() + self.busy_ms / 1000
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

    def _migrate(self, conn: sqlite3.Connection) -> None:
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > LATEST:
            raise StoreError(
                f"store {self.path} has schema version {version}, newer than this cutover "
                f"understands ({LATEST}); upgrade cutover"
            )
        if version == LATEST:
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated while we waited for the lock.
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if 0 < version < FIRST_PORTABLE:
                if version == 1:  # 0.1's second step: the people's tables
                    for statement in LEGACY_SQLITE_V2[3:]:
                        conn.execute(statement)
                for statement in LEGACY_SQLITE_UPGRADE:
                    conn.execute(statement)
                version = FIRST_PORTABLE
            elif version == 0:
                version = FIRST_PORTABLE - 1
            for number in range(version + 1, LATEST + 1):
                for statement in MIGRATIONS[number]:
                    conn.execute(SQLITE.fill(statement))
            conn.execute(f"PRAGMA user_version = {LATEST}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self.conn.close()

    # --- writing ----------------------------------------------------------------------

    def start_run(self, start: RunStart) -> SqliteRunWriter:
        with self.translated():
            cur = self.conn.execute(
                "INSERT INTO runs (uid, site, run_by, host, command, checklist_id,"
                " checklist_digest, checklist_source, scope_provinces, scope_steps,"
                " expected_results, started_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
                (
                    start.uid,
                    start.site,
                    start.user,
                    start.host,
                    start.command,
                    start.checklist_id,
                    start.checklist_digest,
                    start.checklist_source,
                    ",".join(start.scope_provinces),
                    ",".join(start.scope_steps),
                    start.expected_results,
                    to_us(start.started_at),
                ),
            )
            run_id = int(cur.lastrowid or 0)
        return SqliteRunWriter(self, run_id, start)

    def _unit_id(self, conn: sqlite3.Connection, key: UnitKey) -> int:
        conn.execute(
            "INSERT INTO units (province, step, commune) VALUES (?,?,?) ON CONFLICT DO NOTHING",
            key,
        )
        row = conn.execute(
            "SELECT id FROM units WHERE province = ? AND step = ? AND commune = ?", key
        ).fetchone()
        return int(row[0])

    def add_attestation(self, record: AttestationRecord) -> AttestationRecord:
        from dataclasses import replace

        with self.translated():
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                unit = self._unit_id(self.conn, (record.province, record.step, record.commune))
                cur = self.conn.execute(
                    "INSERT INTO attestations (uid, site, unit_id, province, outcome, attested_by,"
                    " evidence_url, evidence_sha256, evidence_name, note, at)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                    (
                        record.uid,
                        record.site,
                        unit,
                        record.province,
                        record.outcome,
                        record.by,
                        record.evidence_url,
                        record.evidence_sha256,
                        record.evidence_name,
                        record.note,
                        to_us(record.at),
                    ),
                )
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        return replace(record, id=int(cur.lastrowid or 0))

    def add_waiver(self, record: WaiverRecord) -> WaiverRecord:
        from dataclasses import replace

        with self.translated():
            cur = self.conn.execute(
                "INSERT INTO waivers (uid, site, province, step, reason, approver, until_at, at)"
                " VALUES (?,?,?,?,?,?,?,?)",
                (
                    record.uid,
                    record.site,
                    record.province,
                    record.step,
                    record.reason,
                    record.approver,
                    to_us(record.until),
                    to_us(record.at),
                ),
            )
        return replace(record, id=int(cur.lastrowid or 0))

    # --- signed bundles (cutover.store.sqlite_bundles) --------------------------------

    def record_export(self, site: str, province: str, at: datetime) -> int:
        from cutover.store import sqlite_bundles

        return sqlite_bundles.record_export(self, site, province, at)

    def import_evidence(
        self, origin: BundleOrigin, evidence: ProvinceEvidence, at: datetime
    ) -> ImportOutcome:
        from cutover.store import sqlite_bundles

        return sqlite_bundles.import_evidence(self, origin, evidence, at)

    def province_evidence(self, province: str) -> ProvinceEvidence:
        from cutover.store import sqlite_bundles

        return sqlite_bundles.province_evidence(self, province)

    # --- reading ----------------------------------------------------------------------

    def raw_evidence(
        self,
        provinces: Sequence[str],
        steps: Sequence[str],
        start: datetime,
        end: datetime,
        *,
        window_rows: bool = True,
    ) -> RawEvidence:
        """Per unit: the latest row at `start` (an index seek each) and, with `window_rows`,
        every row in (`start`, `end`] (an index range each).  Waivers, first passes and
        confirming runs always reach `end`.  Cost follows units, not history."""
        units = _in_list("u.province", provinces) + " AND " + _in_list("u.step", steps)
        args = (*provinces, *steps)
        s, e = to_us(start), to_us(end)
        with self.translated():
            w = e if window_rows else s
            probes = self._probe_rows(units, args, s, w)
            attestations = self._attestation_rows(units, args, s, w)
            first_done = {
                (p, st, c): from_us(first)
                for p, st, c, first in self.conn.execute(
                    f"""SELECT u.province, u.step, u.commune, MIN(
                          COALESCE((SELECT MIN(x.at) FROM results x WHERE x.unit_id = u.id
                                    AND x.outcome = 'pass'), {2**62}),
                          COALESCE((SELECT MIN(a.at) FROM attestations a WHERE a.unit_id = u.id
                                    AND a.outcome = 'pass'), {2**62}))
                        FROM units u WHERE {units}""",
                    args,
                )
                if first <= e
            }
            waivers: dict[tuple[str, str], list[WaiverRecord]] = {}
            for row in self.conn.execute(
                f"SELECT province, step, reason, approver, until_at, at, site, uid, id"
                f" FROM waivers u WHERE {units} AND at <= ? ORDER BY at, id",
                (*args, e),
            ):
                waivers.setdefault((row[0], row[1]), []).append(
                    WaiverRecord(
                        row[0], row[1], row[2], row[3], from_us(row[4]), from_us(row[5]),
                        row[6], row[7], row[8],
                    )
                )  # fmt: skip
            oldest = min((rows[0].at for rows in probes.values()), default=None)
            cells = {(p, st) for p, st, _ in probes}
            runs = select_runs(self._complete_runs(end), cells, start, oldest)
        return RawEvidence(probes, attestations, waivers, first_done, runs)

    def _probe_rows(
        self, units: str, args: tuple[str, ...], s: int, e: int
    ) -> dict[UnitKey, list[ProbeRow]]:
        select = """SELECT u.province, u.step, u.commune, r.outcome, r.reason, r.observed, r.at,
                           r.insecure, r.run_id, ru.run_by || '@' || ru.host"""
        at_start = f"""{select} FROM units u
            JOIN results r ON r.id = (SELECT x.id FROM results x WHERE x.unit_id = u.id
                                      AND x.at <= ? ORDER BY x.at DESC, x.id DESC LIMIT 1)
            JOIN runs ru ON ru.id = r.run_id
            WHERE {units}"""
        window = f"""{select} FROM units u JOIN results r ON r.unit_id = u.id
            JOIN runs ru ON ru.id = r.run_id
            WHERE {units} AND r.at > ? AND r.at <= ? ORDER BY r.at, r.id"""
        out: dict[UnitKey, list[ProbeRow]] = {}
        rows = self.conn.execute(at_start, (s, *args)).fetchall()
        if e > s:
            rows += self.conn.execute(window, (*args, s, e)).fetchall()
        for p, st, c, outcome, reason, observed, at, insecure, run_id, by in rows:
            out.setdefault((p, st, c), []).append(
                ProbeRow(
                    p, st, c, outcome, reason, observed, from_us(at), bool(insecure), run_id, by
                )
            )
        return out

    def _attestation_rows(
        self, units: str, args: tuple[str, ...], s: int, e: int
    ) -> dict[UnitKey, list[AttestationRecord]]:
        select = """SELECT u.province, u.step, u.commune, a.outcome, a.attested_by, a.at,
                           a.evidence_url, a.evidence_sha256, a.evidence_name, a.note, a.site,
                           a.uid, a.id"""
        at_start = f"""{select} FROM units u
            JOIN attestations a ON a.id = (SELECT x.id FROM attestations x
                WHERE x.unit_id = u.id AND x.at <= ? ORDER BY x.at DESC, x.id DESC LIMIT 1)
            WHERE {units}"""
        window = f"""{select} FROM units u JOIN attestations a ON a.unit_id = u.id
            WHERE {units} AND a.at > ? AND a.at <= ? ORDER BY a.at, a.id"""
        rows = self.conn.execute(at_start, (s, *args)).fetchall()
        if e > s:
            rows += self.conn.execute(window, (*args, s, e)).fetchall()
        out: dict[UnitKey, list[AttestationRecord]] = {}
        for p, st, c, outcome, by, at, url, sha, name, note, site, uid, id_ in rows:
            out.setdefault((p, st, c), []).append(
                AttestationRecord(
                    p, st, c, outcome, by, from_us(at), url, sha, name, note, site, uid, id_
                )
            )
        return out

    def changes(
        self, provinces: Sequence[str], steps: Sequence[str], start: datetime, end: datetime
    ) -> list[OutcomeChange]:
        """Every probe row and attestation in (`start`, `end`], oldest first."""
        units = _in_list("u.province", provinces) + " AND " + _in_list("u.step", steps)
        args = (*provinces, *steps)
        window = (to_us(start), to_us(end))
        with self.translated():
            rows = self.conn.execute(
                f"""SELECT r.at, 'probe', u.province, u.step, u.commune, r.outcome, r.id
                    FROM units u JOIN results r ON r.unit_id = u.id
                    WHERE {units} AND r.at > ? AND r.at <= ?
                    UNION ALL
                    SELECT a.at, 'attestation', u.province, u.step, u.commune, a.outcome, a.id
                    FROM units u JOIN attestations a ON a.unit_id = u.id
                    WHERE {units} AND a.at > ? AND a.at <= ?
                    ORDER BY 1, 2 DESC, 7""",
                (*args, *window, *args, *window),
            ).fetchall()
        return [OutcomeChange(*row[:6]) for row in rows]

    def _complete_runs(self, until: datetime) -> Iterator[RunRecord]:
        """Complete runs confirmed at or before `until`, newest first, read lazily."""
        cursor = self.conn.execute(
            f"SELECT {RUN_COLUMNS} FROM runs WHERE complete = 1 AND confirmed_at <= ?"
            " ORDER BY confirmed_at DESC, id DESC",
            (to_us(until),),
        )
        for row in cursor:
            yield _run(row)

    def evaluation_times(self, until: datetime, limit: int) -> list[datetime]:
        """When evidence changed hands: each run's last result, each attestation, each
        waiver; the latest `limit` at or before `until`, oldest first."""
        u = to_us(until)
        with self.translated():
            rows = self.conn.execute(
                """SELECT t FROM (
                     SELECT t FROM (SELECT confirmed_at AS t FROM runs WHERE confirmed_at <= ?
                                    ORDER BY confirmed_at DESC LIMIT ?)
                     UNION SELECT t FROM (SELECT at AS t FROM attestations WHERE at <= ?
                                    ORDER BY at DESC LIMIT ?)
                     UNION SELECT t FROM (SELECT at AS t FROM waivers WHERE at <= ?
                                    ORDER BY at DESC LIMIT ?)
                   ) ORDER BY t DESC LIMIT ?""",
                (u, limit, u, limit, u, limit, limit),
            ).fetchall()
        return [from_us(t) for (t,) in reversed(rows)]

    def last_run(self) -> RunRecord | None:
        runs = self.runs(1)
        return runs[0] if runs else None

    def runs(self, limit: int = 20) -> list[RunRecord]:
        with self.translated():
            rows = self.conn.execute(
                f"SELECT {RUN_COLUMNS} FROM runs ORDER BY id DESC LIMIT ?", (limit,)
            ).fetchall()
        return [_run(r) for r in rows]

    def last_change(self) -> datetime | None:
        """The newest time anything was written: a cheap "has the store changed?" check."""
        with self.translated():
            row = self.conn.execute(
                "SELECT MAX(t) FROM (SELECT MAX(COALESCE(finished_at, started_at)) AS t FROM runs"
                " UNION ALL SELECT MAX(at) FROM attestations UNION ALL SELECT MAX(at) FROM waivers)"
            ).fetchone()
        return from_us(row[0]) if row and row[0] is not None else None

    def timeline(self, province: str | None, step: str | None) -> Iterator[TimelineEvent]:
        """Every recorded event for the filter, oldest first; the last probe row of each unit
        says when a complete run last found the same again."""
        where, args = [], []
        if province:
            where.append("u.province = ?")
            args.append(province)
        if step:
            where.append("u.step = ?")
            args.append(step)
        cond = " AND ".join(where) or "1 = 1"
        sql = f"""
            SELECT r.at, u.province, u.step, u.commune, 'probe', r.outcome, r.reason,
                   'run ' || r.run_id || ' by ' || ru.run_by || '@' || ru.host, '', r.id
            FROM units u JOIN results r ON r.unit_id = u.id JOIN runs ru ON ru.id = r.run_id
            WHERE {cond}
            UNION ALL
            SELECT a.at, u.province, u.step, u.commune, 'attestation', a.outcome,
                   COALESCE(a.note, ''), 'attested by ' || a.attested_by,
                   COALESCE(a.evidence_url, 'sha256:' || a.evidence_sha256), a.id
            FROM units u JOIN attestations a ON a.unit_id = u.id WHERE {cond}
            UNION ALL
            SELECT u.at, u.province, u.step, '', 'waiver', 'waived', u.reason,
                   'approved by ' || u.approver, '', u.until_at
            FROM waivers u WHERE {cond}
            ORDER BY 1, 5, 10
        """
        with self.translated():
            rows = self.conn.execute(sql, (*args, *args, *args)).fetchall()
            last_probe: dict[UnitKey, int] = {}
            for i, row in enumerate(rows):
                if row[4] == "probe":
                    last_probe[(row[1], row[2], row[3])] = i
            cells = {(p, s) for p, s, _ in last_probe}
            oldest = min((from_us(rows[i][0]) for i in last_probe.values()), default=None)
            runs = select_runs(self._complete_runs(FAR_FUTURE), cells, FAR_FUTURE, oldest)
        cover = covering_runs(runs, cells, FAR_FUTURE)
        confirmed_rows = {}
        for key, i in last_probe.items():
            run = cover.get((key[0], key[1]))
            at = from_us(rows[i][0])
            if run is not None and run.confirmed_at is not None and run.started_at > at:
                confirmed_rows[i] = run.confirmed_at
        for i, (at, p, s, c, kind, outcome, reason, who, evidence, extra) in enumerate(rows):
            if kind == "waiver":
                reason = f"{reason} until {from_us(extra).isoformat()}"
            yield TimelineEvent(
                from_us(at), p, s, c, kind, outcome, reason, who, evidence, confirmed_rows.get(i)
            )

    def describe(self) -> StoreDescription:
        with self.translated():
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
            counts = {
                t: self.conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("runs", "units", "results", "attestations", "waivers")
            }
            pages = self.conn.execute("PRAGMA page_count").fetchone()[0]
            size = self.conn.execute("PRAGMA page_size").fetchone()[0]
        return StoreDescription(
            self.location, self.backend, version, counts, pages * size, self.last_run()
        )

    def integrity(self) -> list[str]:
        """Problems found by SQLite's own checks; empty when the file is sound."""
        with self.translated():
            found = [r[0] for r in self.conn.execute("PRAGMA integrity_check")]
            keys = self.conn.execute("PRAGMA foreign_key_check").fetchall()
        problems = [] if found == ["ok"] else found
        problems += [
            f"{t} row {rowid} points at a missing {parent}" for t, rowid, parent, _ in keys
        ]
        return problems


RUN_COLUMNS = (
    "id, uid, site, run_by, host, command, checklist_id, checklist_digest, checklist_source,"
    " started_at, finished_at, confirmed_at, duration_ms, complete, interrupted,"
    " scope_provinces, scope_steps"
)


def _run(row: Sequence[object]) -> RunRecord:
    (id_, uid, site, user, host, command, cid, digest, source, started, finished, confirmed,
     duration, complete, interrupted, provinces, steps) = row  # fmt: skip
    return RunRecord(
        id=int(id_),  # type: ignore[call-overload]
        uid=str(uid),
        site=str(site),
        user=str(user),
        host=str(host),
        command=str(command),
        checklist_id=str(cid),
        checklist_digest=str(digest),
        checklist_source=str(source),
        started_at=from_us(started),  # type: ignore[arg-type]
        finished_at=from_us(finished) if finished is not None else None,  # type: ignore[arg-type]
        confirmed_at=from_us(confirmed) if confirmed is not None else None,  # type: ignore[arg-type]
        duration_s=None if duration is None else float(duration) / 1000,  # type: ignore[arg-type]
        complete=bool(complete),
        interrupted=bool(interrupted),
        scope_provinces=tuple(str(provinces).split(",")) if provinces else (),
        scope_steps=tuple(str(steps).split(",")) if steps else (),
    )


def _in_list(column: str, values: Sequence[str]) -> str:
    return f"{column} IN ({','.join('?' * len(values))})" if values else "0 = 1"


INSERT_RESULT = (
    "INSERT INTO results (run_id, unit_id, province, outcome, reason, observed, duration_ms, at,"
    " insecure) VALUES (?,?,?,?,?,?,?,?,?)"
)
LATEST_ROW = (
    "SELECT id, at, outcome, reason, observed, insecure FROM results WHERE unit_id = ?"
    " ORDER BY at DESC, id DESC LIMIT 1"
)


# A unit's latest row as the writer compares with it: id, at, outcome, reason, observed, insecure
Latest = tuple[int, int, str, str, str | None, int]


class SqliteRunWriter:
    """One thread owns the inserts; the engine only puts results on a queue.  Each batch is
    one transaction, so a crash loses at most the batch in flight.  A result identical to its
    unit's latest row is not written: the run's completion confirms it (see store.base)."""

    def __init__(self, store: SqliteStore, run_id: int, start: RunStart) -> None:
        self.store = store
        self.run_id = run_id
        self.start = start
        self.queue: queue.Queue[ProbeResultLike | None] = queue.Queue()
        self.error: StoreError | None = None
        self.seen: set[UnitKey] = set()
        self.last_at: datetime | None = None
        # Repeats an incomplete run must write out, since it confirms nothing implicitly.
        self.repeats: list[tuple[int, float, int]] = []  # latest row id, duration, at
        self.written = 0
        self._units: dict[UnitKey, int] = {}
        # Each unit's latest row (id, at, outcome, reason, observed, insecure), to compare with
        self._latest: dict[int, Latest] = {}
        self._known_top: int | None = None  # the highest result id when we last looked
        self._conn = store._connect(create=True)  # opened here so errors surface in the caller
        self._thread = threading.Thread(target=self._loop, name="store-writer", daemon=True)
        self._thread.start()

    def put(self, result: ProbeResultLike) -> None:
        self.queue.put(result)

    def finish(self, *, interrupted: bool, finished_at: datetime, duration_s: float) -> RunRecord:
        """Commit what is queued, stop the thread, record the run's end; raise the first store
        error, if any (what was committed before it stays)."""
        self.queue.put(None)
        self._thread.join()
        complete = (
            not interrupted and not self.error and len(self.seen) == self.start.expected_results
        )
        try:
            if not self.error:
                with self.store.translated():
                    self._close_run(interrupted, complete, finished_at, duration_s)
        finally:
            self._conn.close()
        if self.error:
            raise self.error
        with self.store.translated():
            row = self.store.conn.execute(
                f"SELECT {RUN_COLUMNS} FROM runs WHERE id = ?", (self.run_id,)
            ).fetchone()
        return _run(row)

    def _close_run(
        self, interrupted: bool, complete: bool, finished_at: datetime, duration_s: float
    ) -> None:
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            if not complete and self.repeats:
                conn.executemany(
                    "INSERT INTO results (run_id, unit_id, province, outcome, reason, observed,"
                    " duration_ms, at, insecure) SELECT ?, unit_id, province, outcome, reason,"
                    " observed, ?, ?, insecure FROM results WHERE id = ?",
                    [(self.run_id, ms, at, rid) for rid, ms, at in self.repeats],
                )
            confirmed = self.last_at or finished_at
            conn.execute(
                "UPDATE runs SET finished_at = ?, confirmed_at = ?, duration_ms = ?,"
                " complete = ?, interrupted = ? WHERE id = ?",
                (
                    to_us(finished_at),
                    to_us(confirmed),
                    round(duration_s * 1000, 1),
                    int(complete),
                    int(interrupted),
                    self.run_id,
                ),
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _loop(self) -> None:
        finished = False
        while not finished:
            batch: list[ProbeResultLike] = []
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
                self._commit(batch)

    def _commit(self, batch: list[ProbeResultLike]) -> None:
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            top = conn.execute("SELECT COALESCE(MAX(id), 0) FROM results").fetchone()[0]
            if self._known_top is None:
                self._load_scope(conn)
            elif top != self._known_top:  # another writer was here: re-read what we compare
                self._reload({self._units.get((r.province, r.step, r.commune)) for r in batch})
            rows, repeats, fresh = [], [], []
            for r in batch:
                key = (r.province, r.step, r.commune)
                unit = self._units.get(key) or self._remember(key)
                o = r.outcome
                at = to_us(r.at)
                latest = self._latest.get(unit)
                state = (o.status, o.reason, o.observed, int(r.insecure))
                if latest is not None and latest[2:] == state:
                    repeats.append((latest[0], o.duration_ms, at))
                    continue
                rows.append(
                    (self.run_id, unit, r.province, *state[:3], o.duration_ms, at, state[3])
                )
                fresh.append((unit, at, state))
            conn.executemany(INSERT_RESULT, rows)
            conn.execute("COMMIT")
        except sqlite3.Error as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            self.error = explain(exc, self.store.path, self.store.busy_ms)
            self._known_top = None
            return
        # Holding the write lock, SQLite numbered our rows top+1, top+2, … in order.
        for number, (unit, at, state) in enumerate(fresh, top + 1):
            latest = self._latest.get(unit)
            if latest is None or at >= latest[1]:
                self._latest[unit] = (number, at, *state)
        self._known_top = top + len(rows)
        self.written += len(rows)
        self.repeats += repeats
        for r in batch:
            self.seen.add((r.province, r.step, r.commune))
            if self.last_at is None or r.at > self.last_at:
                self.last_at = r.at

    def _load_scope(self, conn: sqlite3.Connection) -> None:
        """The run's units and each one's latest row, read once (one seek per unit)."""
        scope = (*self.start.scope_provinces, *self.start.scope_steps)
        where = (
            _in_list("u.province", self.start.scope_provinces)
            + " AND "
            + _in_list("u.step", self.start.scope_steps)
        )
        for unit, p, st, c in conn.execute(
            f"SELECT u.id, u.province, u.step, u.commune FROM units u WHERE {where}", scope
        ):
            self._units[(p, st, c)] = unit
        for unit, *latest in conn.execute(
            f"""SELECT u.id, r.id, r.at, r.outcome, r.reason, r.observed, r.insecure
                FROM units u JOIN results r ON r.id = (SELECT x.id FROM results x
                    WHERE x.unit_id = u.id ORDER BY x.at DESC, x.id DESC LIMIT 1)
                WHERE {where}""",
            scope,
        ):
            self._latest[unit] = (*latest,)

    def _reload(self, units: set[int | None]) -> None:
        for unit in units:
            if unit is None:
                continue
            row = self._conn.execute(LATEST_ROW, (unit,)).fetchone()
            if row is not None:
                self._latest[unit] = (*row,)

    def _remember(self, key: UnitKey) -> int:
        """A unit not in the scope as first read: another writer may have made it since."""
        unit = self.store._unit_id(self._conn, key)
        self._units[key] = unit
        self._reload({unit})
        return unit
