"""The SQLite store: one file, WAL mode, a busy timeout, migrations, and one writer thread per
run that commits results in batches.  Every SQLite failure becomes a one-line StoreError
(exit code 3).  The statements and every read are shared with PostgreSQL (`cutover.store.sql`);
what is SQLite's own is here."""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import time
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from urllib.parse import quote

from cutover.errors import StoreError, UsageError
from cutover.store.base import (
    AttestationRecord,
    ProbeResultLike,
    RunRecord,
    RunStart,
    StoreDescription,
    UnitKey,
    WaiverRecord,
)
from cutover.store.bundles_sql import BundleSql
from cutover.store.schema import (
    FIRST_PORTABLE,
    LATEST,
    LEGACY_SQLITE_UPGRADE,
    LEGACY_SQLITE_V2,
    MIGRATIONS,
    SQLITE,
)
from cutover.store.sql import (
    CLOSE_RUN,
    COPY_REPEAT,
    INSERT_ATTESTATION,
    INSERT_RESULT,
    INSERT_RUN,
    INSERT_UNIT,
    INSERT_WAIVER,
    LATEST_ROW,
    SELECT_RUN,
    UNIT_ID,
    Latest,
    QueuedWriter,
    Row,
    attestation_values,
    in_list,
    plan_batch,
    run_record,
    run_values,
    unit_key,
    waiver_values,
)

BATCH = 500  # results per transaction (the store benchmark changes it)
# New units made and read back at once: within any SQLite's limit of 999 parameters.
REMEMBER_CHUNK = 400
CHANGED_UNITS = "SELECT DISTINCT unit_id FROM results WHERE id > ?"
DEFAULT_BUSY_MS = 60_000
MAX_BUSY_MS = 2**31 - 1  # PRAGMA busy_timeout takes a C int


def default_path(environ: Mapping[str, str]) -> Path:
    """`cutover.db` in cutover's directory under XDG_DATA_HOME of the command's environment
    (`cutover.env.user_dir`)."""
    from cutover.env import user_dir

    folder = user_dir(environ, "XDG_DATA_HOME")
    if folder is None:
        raise UsageError(
            "no directory for the default store: set HOME or XDG_DATA_HOME, or give --db "
            "(or CUTOVER_DB)"
        )
    return folder / "cutover.db"


def busy_timeout_ms(environ: Mapping[str, str]) -> int:
    """How long to wait for another process's write (cron runs that overlap).  A value that is
    not a whole number of milliseconds is refused, not silently replaced by the default: an
    operator who set it meant something."""
    text = environ.get("CUTOVER_BUSY_TIMEOUT_MS", "").strip()
    if not text:
        return DEFAULT_BUSY_MS
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise UsageError(
            f"CUTOVER_BUSY_TIMEOUT_MS must be a whole number of milliseconds, 0 or more; "
            f"got {text!r}"
        )
    if value > MAX_BUSY_MS:  # SQLite would take it as 0: no wait at all
        raise UsageError(
            f"CUTOVER_BUSY_TIMEOUT_MS must be at most {MAX_BUSY_MS} milliseconds (24 days); "
            f"got {text!r}"
        )
    return value


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


def _writable(path: Path) -> bool:
    """Whether this process can write the store: the file, and its directory (SQLite makes
    the write-ahead log and its index beside the file).  `os.access` also answers for a
    read-only mount and an immutable file, where even root cannot write."""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK | os.X_OK)


def _read_only_file_system(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except OSError:
        return False


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


class SqliteStore(BundleSql):
    backend = "sqlite"

    def __init__(
        self,
        path: Path,
        *,
        environ: Mapping[str, str],
        create: bool = True,
        default_dir: bool = False,
        query_timeout: float | None = None,
        read_only: bool = False,
    ) -> None:
        self.path = path
        self.location = str(path)
        self.busy_ms = busy_timeout_ms(environ)
        self.query_timeout = query_timeout
        self.read_only = read_only
        self._deadline: float | None = None
        # Set by a caller that bounds a whole request (`cutover serve`): a monotonic time
        # after which no statement starts and a running one is stopped.
        self.deadline: float | None = None
        if default_dir and create:
            try:  # the user data directory is ours to create; an explicit --db is not
                path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create the store's directory {path.parent}: {exc.strerror or exc}"
                ) from None
        self.conn = self._connect(create=create)
        # Commands leave their store to the end of the process: closed then (the last
        # connection's close is what folds the write-ahead log back into the file), or whenever
        # the store is dropped.  A finalizer runs at exit even when the console entry skips
        # the interpreter's teardown (see `cli.app.run`).
        self._closer = weakref.finalize(self, self.conn.close)
        if query_timeout is not None or read_only:
            # SQLite calls this every few thousand instructions; a non-zero answer stops the
            # statement ("interrupted"), which `explain` words as a time limit.
            # Through a weak reference: the connection (which the finalizer holds) must not
            # keep the store alive, or a store dropped without `close` would never be freed.
            store = weakref.ref(self)

            def over_time() -> int:
                alive = store()
                return alive._over_time() if alive is not None else 0

            self.conn.set_progress_handler(over_time, 10_000)

    def _check_current(self, conn: sqlite3.Connection) -> None:
        """A reader that must not write cannot migrate: say what to run instead."""
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        # A version whose later migrations change nothing in SQLite (PostgreSQL-only ones)
        # has the same tables: it is read as it is.
        same_tables = FIRST_PORTABLE <= version < LATEST and not any(
            MIGRATIONS[n] for n in range(version + 1, LATEST + 1)
        )
        if version != LATEST and not same_tables:
            raise StoreError(
                f"store {self.path} has schema version {version}, not {LATEST}, and is opened "
                "read-only; run `cutover db init` (which migrates it) where it can be written"
            )

    def _read_only_connection(self) -> sqlite3.Connection:
        """A store this process cannot write (a read-only mount, an archived copy, someone
        else's file), opened for a command that only reads.  SQLite opens the file read-only,
        but a write-ahead-log store also needs its `-shm` index beside it, which SQLite makes
        when it is missing.  Where it cannot (the directory is not writable), only a file on a
        read-only file system is read as it stands ("immutable": nothing can change it under
        us); anywhere else a writer may still be at work, and reading without the index could
        return a half-written state, so the answer is an error saying what to change."""
        path = self.path
        target = quote(str(path.absolute()))
        try:
            conn = self._open_uri(f"file:{target}?mode=ro")
        except sqlite3.OperationalError as exc:
            if "unable to open" not in str(exc):
                raise
            if not _read_only_file_system(path):
                raise StoreError(
                    f"cannot read store {path}: it is read-only here, and SQLite needs to make "
                    f"{path.name}-shm beside it in {path.parent}, which is not writable; let "
                    "this user write that directory, or read a copy"
                ) from None
            conn = self._open_uri(f"file:{target}?immutable=1")
        try:
            self._check_current(conn)
        except BaseException:
            conn.close()
            raise
        conn.execute("PRAGMA query_only = ON")
        return conn

    def _open_uri(self, uri: str) -> sqlite3.Connection:
        conn = sqlite3.connect(
            uri, uri=True, timeout=self.busy_ms / 1000, isolation_level=None,
            check_same_thread=False,
        )  # fmt: skip
        try:
            conn.execute(f"PRAGMA busy_timeout = {self.busy_ms}")
            conn.execute("SELECT COUNT(*) FROM sqlite_schema").fetchone()  # opens the file
        except BaseException:
            conn.close()
            raise
        return conn

    def _over_time(self) -> int:
        now = time.monotonic()
        return int(
            (self._deadline is not None and now > self._deadline)
            or (self.deadline is not None and now > self.deadline)
        )

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
            if not create and path.is_file() and path.stat().st_size == 0:
                # A reading command would otherwise make the schema in it without a word.
                raise StoreError(
                    f"store {path} is an empty file, not a cutover store yet "
                    "(run `cutover check` or `cutover db init` to make one)"
                )
            _refuse_shared(path)
            if path.exists() and not _writable(path):
                if not create or self.read_only:
                    # A command that only reads can read what it cannot write.
                    return self._read_only_connection()
                if not os.access(path, os.W_OK):
                    raise StoreError(f"store {path} is read-only")
            if not path.exists() and path.parent.is_dir():
                try:
                    _create_private(path)
                except OSError as exc:
                    raise explain(sqlite3.OperationalError("unable to open"), path, 0) from exc
            conn = sqlite3.connect(
                path, timeout=self.busy_ms / 1000, isolation_level=None, check_same_thread=False
            )
            conn.execute(f"PRAGMA busy_timeout = {self.busy_ms}")
            if self.read_only:
                self._check_current(conn)
                conn.execute("PRAGMA query_only = ON")  # SQLite itself refuses any write
                return conn
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
        self._closer()

    def _rows(self, sql: str, args: Sequence[object] = ()) -> list[Row]:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise StoreError(f"store {self.path}: this request's reads took too long; stopped")
        if self.query_timeout is not None:
            self._deadline = time.monotonic() + self.query_timeout
        try:
            return self.conn.execute(sql, args).fetchall()
        except sqlite3.OperationalError as exc:
            if "interrupted" in str(exc) and self.deadline is not None:
                raise StoreError(
                    f"store {self.path}: this request's reads took too long; stopped"
                ) from None
            if self.query_timeout is not None and "interrupted" in str(exc):
                raise StoreError(
                    f"store {self.path}: a query took longer than {self.query_timeout:g} s "
                    "and was stopped"
                ) from None
            raise
        finally:
            self._deadline = None

    # --- writing ----------------------------------------------------------------------

    def start_run(self, start: RunStart) -> SqliteRunWriter:
        with self.translated():
            cur = self.conn.execute(INSERT_RUN, run_values(start))
            run_id = int(cur.lastrowid or 0)
        return SqliteRunWriter(self, run_id, start)

    def _unit_id(self, conn: sqlite3.Connection, key: UnitKey) -> int:
        conn.execute(INSERT_UNIT, key)
        return int(conn.execute(UNIT_ID, key).fetchone()[0])

    def add_attestation(self, record: AttestationRecord) -> AttestationRecord:
        with self.translated():
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                unit = self._unit_id(self.conn, (record.province, record.step, record.commune))
                cur = self.conn.execute(INSERT_ATTESTATION, attestation_values(record, unit))
                self.conn.execute("COMMIT")
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
        return replace(record, id=int(cur.lastrowid or 0))

    def add_waiver(self, record: WaiverRecord) -> WaiverRecord:
        with self.translated():
            cur = self.conn.execute(INSERT_WAIVER, waiver_values(record))
        return replace(record, id=int(cur.lastrowid or 0))

    # --- hooks of signed bundles (cutover.store.bundles_sql) ----------------------------

    @contextmanager
    def _snapshot(self) -> Iterator[None]:
        with self.translated():
            self.conn.execute("BEGIN")
            try:
                yield
            finally:
                self.conn.execute("COMMIT")

    @contextmanager
    def _bundle_write(self, what: str) -> Iterator[None]:
        with self.translated():
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield
            except BaseException:
                self.conn.execute("ROLLBACK")
                raise
            self.conn.execute("COMMIT")

    def _execute(self, sql: str, args: Sequence[object]) -> None:
        self.conn.execute(sql, args)

    def _insert_id(self, sql: str, args: Sequence[object]) -> int:
        return int(self.conn.execute(sql, args).lastrowid or 0)

    def _unit(self, key: UnitKey) -> int:
        return self._unit_id(self.conn, key)

    def describe(self) -> StoreDescription:
        with self.translated():
            version = self.conn.execute("PRAGMA user_version").fetchone()[0]
            counts = self.counts()
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


class SqliteRunWriter(QueuedWriter):
    """The writer thread (see `QueuedWriter`) on its own connection.  A result identical to
    its unit's latest row is not written: the run's completion confirms it (see store.base).
    It compares with a cache of each unit's latest row, re-read only when another writer
    committed in between."""

    def __init__(self, store: SqliteStore, run_id: int, start: RunStart) -> None:
        super().__init__(run_id, start)
        self.store = store
        self._units: dict[UnitKey, int] = {}
        # Each unit's latest row (id, at, outcome, reason, observed, insecure), to compare with
        self._latest: dict[int, Latest] = {}
        self._known_top: int | None = None  # the highest result id when we last looked
        self._conn = store._connect(create=True)  # opened here so errors surface in the caller
        # The scope's latest rows are read here, before any probe runs, not by the thread:
        # SQLite hands the interpreter back and forth on every row it steps, and a thread
        # doing so while the event loop probes costs both of them (measured: ~0.3 s of CPU
        # at 6,642 units).  Another writer committing after this is seen by the first batch.
        try:
            with self.store.translated():
                self._conn.execute("BEGIN")  # one snapshot for the rows and the top id
                self._load_scope(self._conn)
                self._known_top = self._top(self._conn)
                self._conn.execute("COMMIT")
        except BaseException:
            # SQLite may have rolled back already (after an I/O error): the first error is
            # the one to report, and the connection is not left open.
            with contextlib.suppress(sqlite3.Error):
                if self._conn.in_transaction:
                    self._conn.execute("ROLLBACK")
            self._conn.close()
            raise
        self._start()

    @property
    def batch_size(self) -> int:  # type: ignore[override]
        return BATCH

    def _disconnect(self) -> None:
        self._conn.close()

    def _read_run(self) -> RunRecord:
        with self.store.translated():
            row = self.store.conn.execute(SELECT_RUN, (self.run_id,)).fetchone()
        return run_record(row)

    def _close_run(self, values: tuple[object, ...], *, write_repeats: bool) -> None:
        conn = self._conn
        with self.store.translated():
            conn.execute("BEGIN IMMEDIATE")
            try:
                if write_repeats and self.repeats:
                    conn.executemany(COPY_REPEAT, self._repeat_rows())
                conn.execute(CLOSE_RUN, values)
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

    def _commit(self, batch: list[ProbeResultLike]) -> None:
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            top = self._top(conn)
            if self._known_top is None:
                self._load_scope(conn)
            elif top != self._known_top:  # another writer was here: re-read what we compare
                self._catch_up(conn, self._known_top)
            known = self._units
            keys = list(map(unit_key, batch))
            missing = [k for k in dict.fromkeys(keys) if k not in known]
            for i in range(0, len(missing), REMEMBER_CHUNK):
                self._remember(missing[i : i + REMEMBER_CHUNK])
            units = [known[k] for k in keys]
            rows, repeats, fresh = plan_batch(self.run_id, batch, units, self._latest)
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
        self._accepted(batch, keys, len(rows), repeats)

    @staticmethod
    def _top(conn: sqlite3.Connection) -> int:
        return int(conn.execute("SELECT COALESCE(MAX(id), 0) FROM results").fetchone()[0])

    def _load_scope(self, conn: sqlite3.Connection) -> None:
        """The run's units and each one's latest row, read once."""
        self._read_units(
            conn,
            in_list("u.province", self.start.scope_provinces)
            + " AND "
            + in_list("u.step", self.start.scope_steps),
            (*self.start.scope_provinces, *self.start.scope_steps),
        )

    def _read_units(self, conn: sqlite3.Connection, where: str, args: Sequence[object]) -> None:
        """The units `u` that `where` selects, each with its latest row if it has one (an
        index seek per unit), into the unit ids and the comparison cache."""
        units, latest = self._units, self._latest
        for unit, p, st, c, rid, at, outcome, reason, observed, insecure in conn.execute(
            f"""SELECT u.id, u.province, u.step, u.commune,
                       r.id, r.at, r.outcome, r.reason, r.observed, r.insecure
                FROM units u LEFT JOIN results r ON r.id = (SELECT x.id FROM results x
                    WHERE x.unit_id = u.id ORDER BY x.at DESC, x.id DESC LIMIT 1)
                WHERE {where}""",
            args,
        ):
            units[(p, st, c)] = unit
            if rid is not None:  # a unit only people attested to has no probe row
                latest[unit] = (rid, at, outcome, reason, observed, insecure)

    def _catch_up(self, conn: sqlite3.Connection, since: int) -> None:
        """Re-reads the latest row of every unit of ours that other writers wrote since row
        `since` (our own rows are counted in it), whichever batch it is in."""
        ours = set(self._units.values())
        changed = {u for (u,) in conn.execute(CHANGED_UNITS, (since,)) if u in ours}
        self._reload(changed)

    def _reload(self, units: set[int]) -> None:
        for unit in units:
            row = self._conn.execute(LATEST_ROW, (unit,)).fetchone()
            if row is not None:
                self._latest[unit] = (*row,)

    def _remember(self, keys: list[UnitKey]) -> None:
        """Units not in the scope as first read: new ones (every unit of a first run), or ones
        another writer made since.  Made in one statement, then read back with their latest
        rows, one query per province and step."""
        conn = self._conn
        conn.executemany(INSERT_UNIT, keys)
        communes: dict[tuple[str, str], list[str]] = {}
        for province, step, commune in keys:
            communes.setdefault((province, step), []).append(commune)
        for (province, step), names in communes.items():
            self._read_units(
                conn,
                "u.province = ? AND u.step = ? AND " + in_list("u.commune", names),
                (province, step, *names),
            )
