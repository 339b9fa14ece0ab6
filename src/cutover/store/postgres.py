"""The PostgreSQL store: one shared database for every site, psycopg 3.

The contract, the statements, every read and signed bundles are the SQLite store's
(`cutover.store.sql`, `cutover.store.bundles_sql`); what differs is here.  The schema is
`cutover.store.schema` filled in with the `POSTGRES` dialect, plus row-level security
(`cutover.store.pg_admin`); only `cutover db init`, run as the database owner, creates or
migrates it, and opening a store checks its version.

Who may read and write what is the database's decision, not the tool's: every table forces
row-level security, and the policies look the session's role up in `cutover_roles`.  Every
psycopg failure becomes one StoreError line (exit code 3) that names the store without its
password.

The writer applies SQLite's change-only rule: a result identical to its unit's latest row is
not written, and a complete run confirms it.  Each batch is one transaction that first takes
a transaction-level advisory lock per province it touches, then reads its units' latest rows
(one LATERAL index seek each) and compares; two overlapping runs of one province therefore
write each change once, and runs of different provinces never wait for each other.
"""

from __future__ import annotations

import re
import time
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, suppress
from dataclasses import replace
from typing import Any
from urllib.parse import quote, unquote, urlsplit

import psycopg
from psycopg.conninfo import conninfo_to_dict

from cutover.errors import StoreError
from cutover.store.base import (
    AttestationRecord,
    ProbeResultLike,
    RunRecord,
    RunStart,
    StoreDescription,
    UnitKey,
    WaiverRecord,
    public_location,
)
from cutover.store.bundles_sql import BundleSql
from cutover.store.schema import LATEST
from cutover.store.sql import (
    BUNDLE_TABLES,
    CLOSE_RUN,
    COPY_REPEAT,
    INSERT_ATTESTATION,
    INSERT_RESULT,
    INSERT_RUN,
    INSERT_UNIT,
    INSERT_WAIVER,
    SELECT_RUN,
    TABLES,
    UNIT_ID,
    Latest,
    QueuedWriter,
    Row,
    attestation_values,
    in_list,
    plan_batch,
    run_record,
    run_values,
    to_pg,
    unit_key,
    waiver_values,
)

CONNECT_TIMEOUT_S = 10
LOCK_CLASS = (
    0x6375_7400  # "cut\0": advisory lock keys of this tool (schema, roles, results, bundles)
)
LOCK_SCHEMA, LOCK_ROLES, LOCK_RESULTS, LOCK_BUNDLES = 1, 2, 3, 4

Connection = psycopg.Connection[Row]
SECURED = (*TABLES, *BUNDLE_TABLES)  # every table row-level security must guard


def _secrets(url: str) -> tuple[str, ...]:
    """Strings that must never be printed: the password as written and decoded, whether in
    the user-info or a `password=` parameter."""
    found = set()
    with suppress(ValueError):
        found.add(urlsplit(url).password or "")
    with suppress(psycopg.Error):
        found.add(str(conninfo_to_dict(url).get("password") or ""))
    return tuple(sorted({s for raw in found for s in (raw, unquote(raw), quote(raw)) if s}))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0].strip() if text else type(exc).__name__


def _server_said(text: str) -> str:
    """libpq's 'connection to server at "h", port p failed: FATAL:  what' -> 'what'."""
    text = re.sub(r"^connection failed: ", "", text)
    text = re.sub(r"^connection to server (at|on) .*? failed: ", "", text)
    return re.sub(r"^(FATAL|ERROR):\s+", "", text)


class PostgresStore(BundleSql):
    backend = "postgresql"

    def __init__(
        self,
        url: str,
        *,
        environ: Mapping[str, str],
        check: bool = True,
        query_timeout: float | None = None,
        read_only: bool = False,
    ) -> None:
        self.url = url
        self.query_timeout = query_timeout
        self.read_only = read_only
        self.deadline: float | None = None  # see SqliteStore.deadline
        self.location = public_location(url)
        self._hidden = _secrets(url)
        self._timeout = (
            "connect_timeout" not in url and "PGCONNECT_TIMEOUT" not in environ
        )  # libpq's own default is to wait forever
        self._depth = 0
        self.conn = self.connect()
        # Commands leave their store to the end of the process; close it then, or whenever
        # the store is dropped, rather than leave psycopg to complain about an open one.
        self._closer = weakref.finalize(self, self.conn.close)
        if check:  # `cutover db init` opens it unchecked, to create or migrate the schema
            self.check_schema()

    # --- connection, errors, schema ---------------------------------------------------

    def connect(self) -> Connection:
        extra: dict[str, Any] = {"application_name": "cutover"}
        if self._timeout:
            extra["connect_timeout"] = CONNECT_TIMEOUT_S
        settings = []
        if self.query_timeout is not None:  # the server cancels a longer statement (57014)
            settings.append(f"-c statement_timeout={max(1, round(self.query_timeout * 1000))}")
        if self.read_only:  # the server refuses any write in this session's transactions
            settings.append("-c default_transaction_read_only=on")
        if settings:
            extra["options"] = " ".join(settings)
        try:
            return psycopg.connect(self.url, autocommit=True, **extra)
        except psycopg.Error as exc:
            raise self.explain(exc, connecting=True) from None

    def hide(self, text: str) -> str:
        for secret in self._hidden:
            text = text.replace(secret, "***")
        return text

    def explain(
        self,
        exc: psycopg.Error,
        what: str = "",
        conn: Connection | None = None,
        *,
        connecting: bool = False,
    ) -> StoreError:
        """One line for any psycopg failure, without the password: `what` names the write
        that failed, for a refusal; `connecting` says no connection was open yet."""
        said = _server_said(_first_line(exc))
        where = self.location
        state = exc.sqlstate or ""
        if state == "42501" and what:
            message = self._refused(said, what, conn or self.conn)
        elif connecting:
            if "password authentication failed" in said or re.search(r"role .* not exist", said):
                message = f"cannot log in to {where}: {said}"
            elif re.search(r"database .* does not exist", said):
                message = f"cannot open store {where}: {said}"
            else:
                message = f"cannot connect to {where}: {said}"
        elif state == "57014" and self.query_timeout is not None:
            message = (
                f"store {where}: a query took longer than {self.query_timeout:g} s and was stopped"
            )
        elif _lost(exc):
            message = f"lost the connection to {where} ({said}); what was committed stays"
        else:
            message = f"store {where}: {said}"
        return StoreError(self.hide(message))

    def _refused(self, said: str, what: str, conn: Connection) -> str:
        try:
            role, reach, province = role_reach(conn)
        except psycopg.Error:
            role, reach, province = "?", "reach unknown", None
        if what == "the run" and province not in (None, "*"):
            reach += f"; its runs need CUTOVER_SITE={province} and cover province {province} only"
        return (
            f"PostgreSQL refused to write {what} as role {role} ({reach}): {said}; "
            "nothing of it was written"
        )

    @contextmanager
    def translated(self, what: str = "") -> Iterator[None]:
        try:
            yield
        except psycopg.Error as exc:
            raise self.explain(exc, what) from None

    @contextmanager
    def _reading(self) -> Iterator[None]:
        """One consistent snapshot for the statements of one read."""
        with self.translated():
            if self._depth:
                yield
                return
            self._depth += 1
            try:
                with self.conn.transaction():
                    self.conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    yield
            finally:
                self._depth -= 1

    def readable_provinces(self) -> tuple[str, ...] | None:
        """What row-level security lets this role read: all (national roles, superusers), its
        one province, or nothing (a role without an entry in `cutover_roles`)."""
        with self.translated():
            _role, reach, province = role_reach(self.conn)
        if reach.startswith("superuser") or province == "*":
            return None
        return () if province is None else (province,)

    def latest_join(self, table: str, alias: str) -> str:
        return f"""CROSS JOIN LATERAL (SELECT * FROM {table} x
            WHERE x.unit_id = u.id AND x.at <= ? ORDER BY x.at DESC, x.id DESC LIMIT 1) {alias}"""

    def latest_rows_join(self, table: str, alias: str) -> str:
        return f"""CROSS JOIN LATERAL (SELECT * FROM {table} x
            WHERE x.unit_id = u.id AND x.at >= ? AND x.at <= ?
            ORDER BY x.at DESC, x.id DESC LIMIT ?) {alias}"""

    def _rows(self, sql: str, args: Sequence[object] = ()) -> list[Row]:
        if self.deadline is not None and time.monotonic() > self.deadline:
            raise StoreError(f"store {self.location}: this request's reads took too long; stopped")
        return self.conn.execute(to_pg(sql), args).fetchall()

    def schema_version(self) -> int | None:
        """The schema version, or None when `cutover db init` has not run here."""
        with self.translated():
            found = self.conn.execute("SELECT to_regclass('cutover_schema')").fetchone()
            if found is None or found[0] is None:
                return None
            try:
                row = self.conn.execute("SELECT MAX(version) FROM cutover_schema").fetchone()
            except psycopg.errors.InsufficientPrivilege:
                raise StoreError(
                    f"role {self._role()} may not use store {self.location}; the owner grants "
                    "it with `cutover db grant-province` or `cutover db grant-reader`"
                ) from None
        return int(row[0]) if row and row[0] is not None else None

    def _role(self) -> str:
        row = self.conn.execute("SELECT current_user").fetchone()
        return str(row[0]) if row else "?"

    def check_schema(self) -> None:
        version = self.schema_version()
        if version is None:
            raise StoreError(
                f"store {self.location} has no cutover schema; "
                "run `cutover db init` as the database owner"
            )
        if version > LATEST:
            raise StoreError(
                f"store {self.location} has schema version {version}, newer than this cutover "
                f"understands ({LATEST}); upgrade cutover"
            )
        if version < LATEST:
            raise StoreError(
                f"store {self.location} has schema version {version}, older than this cutover "
                f"({LATEST}); run `cutover db init` as the database owner to migrate it"
            )

    def close(self) -> None:
        self._closer()

    # --- writing ----------------------------------------------------------------------

    def start_run(self, start: RunStart) -> PostgresRunWriter:
        with self.translated("the run"):
            row = self.conn.execute(to_pg(INSERT_RUN) + " RETURNING id", run_values(start))
            run_id = int(row.fetchone()[0])  # type: ignore[index]
        return PostgresRunWriter(self, run_id, start)

    def add_attestation(self, record: AttestationRecord) -> AttestationRecord:
        what = f"an attestation for province {record.province}"
        with self.translated(what), self.conn.transaction():
            unit = unit_id(self.conn, (record.province, record.step, record.commune))
            cur = self.conn.execute(
                to_pg(INSERT_ATTESTATION) + " RETURNING id", attestation_values(record, unit)
            )
            new = int(cur.fetchone()[0])  # type: ignore[index]
        return replace(record, id=new)

    def add_waiver(self, record: WaiverRecord) -> WaiverRecord:
        with self.translated(f"a waiver for province {record.province}"):
            cur = self.conn.execute(to_pg(INSERT_WAIVER) + " RETURNING id", waiver_values(record))
            new = int(cur.fetchone()[0])  # type: ignore[index]
        return replace(record, id=new)

    # --- hooks of signed bundles (cutover.store.bundles_sql) ----------------------------

    def _snapshot(self) -> AbstractContextManager[None]:
        return self._reading()

    @contextmanager
    def _bundle_write(self, what: str) -> Iterator[None]:
        """One transaction; bundle writes take one advisory lock, so two imports (or two
        exports numbering the same province) never interleave."""
        with self.translated(what), self.conn.transaction():
            self.conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_CLASS, LOCK_BUNDLES))
            yield

    def _execute(self, sql: str, args: Sequence[object]) -> None:
        self.conn.execute(to_pg(sql), args)

    def _insert_id(self, sql: str, args: Sequence[object]) -> int:
        row = self.conn.execute(to_pg(sql) + " RETURNING id", args).fetchone()
        assert row is not None
        return int(row[0])

    def _unit(self, key: UnitKey) -> int:
        return unit_id(self.conn, key)

    # --- about the store --------------------------------------------------------------

    def describe(self) -> StoreDescription:
        with self._reading():
            counts = self.counts()
            size = self._rows("SELECT pg_database_size(current_database())")[0][0]
            role, reach, _ = role_reach(self.conn)
        return StoreDescription(
            self.location,
            self.backend,
            LATEST,
            counts,
            int(size),
            self.last_run(),
            (f"role: {role} ({reach})",),
        )

    def integrity(self) -> list[str]:
        """Row-level security must be on and forced on every table, with its policies."""
        with self._reading():
            rows = self._rows(
                f"""SELECT c.relname, c.relrowsecurity, c.relforcerowsecurity,
                          (SELECT COUNT(*) FROM pg_policy p WHERE p.polrelid = c.oid)
                   FROM pg_class c WHERE c.oid IN ({",".join("to_regclass(?)" for _ in SECURED)})
                   ORDER BY c.relname""",
                SECURED,
            )
            constraints = {
                name
                for (name,) in self._rows(
                    "SELECT conname FROM pg_constraint WHERE conname IN (?, ?)"
                    " AND connamespace = current_schema()::regnamespace",
                    PROVINCE_KEYS,
                )
            }
        problems = []
        for table, enabled, forced, policies in rows:
            if not enabled or not forced:
                problems.append(f"table {table} does not force row-level security")
            if policies < 2:
                problems.append(f"table {table} lacks its row-level security policies")
        for name in PROVINCE_KEYS:
            if name not in constraints:
                table = name.split("_", 1)[0]
                problems.append(
                    f"table {table} lacks {name}: a row's province may not be its unit's"
                )
        return problems


# The foreign keys that make a row's copied `province` its unit's (schema version 5).
PROVINCE_KEYS = ("results_unit_province", "attestations_unit_province")


def role_reach(conn: Connection) -> tuple[str, str, str | None]:
    """The session's role, what row-level security lets it do in words, and its province
    (`*` for national roles, None when it has no entry in `cutover_roles`)."""
    row = conn.execute(
        """SELECT current_user, (SELECT rolsuper FROM pg_roles WHERE rolname = current_user),
                  r.province, r.writes
           FROM (SELECT 1) AS one LEFT JOIN cutover_roles r ON r.role = current_user"""
    ).fetchone()
    assert row is not None
    role, superuser, province, writes = row
    if superuser:
        return role, "superuser: row-level security does not apply", province
    if province is None:
        return role, "not in cutover_roles: it may read and write nothing", None
    where = "national" if province == "*" else f"province {province} only"
    return role, where if writes else f"{where}, read-only", province


def _lost(exc: psycopg.Error) -> bool:
    """The server went away or cut this session off."""
    state = exc.sqlstate or ""
    if state.startswith(("08", "57P")):  # connection exception, operator intervention
        return True
    return isinstance(exc, psycopg.OperationalError) and not state


def unit_id(conn: Connection, key: UnitKey) -> int:
    row = conn.execute(to_pg(INSERT_UNIT) + " RETURNING id", key).fetchone()
    if row is None:  # it existed
        row = conn.execute(to_pg(UNIT_ID), key).fetchone()
    assert row is not None
    return int(row[0])


LATEST_ROWS = """SELECT u.id, r.id, r.at, r.outcome, r.reason, r.observed, r.insecure
    FROM unnest(%s::bigint[]) AS u (id)
    CROSS JOIN LATERAL (SELECT x.id, x.at, x.outcome, x.reason, x.observed, x.insecure
                        FROM results x WHERE x.unit_id = u.id
                        ORDER BY x.at DESC, x.id DESC LIMIT 1) AS r"""
MAKE_UNITS = """INSERT INTO units (province, step, commune)
    SELECT * FROM unnest(%s::text[], %s::text[], %s::text[]) ON CONFLICT DO NOTHING"""
FIND_UNITS = """SELECT u.id, u.province, u.step, u.commune FROM units u
    JOIN unnest(%s::text[], %s::text[], %s::text[]) AS k (p, s, c)
      ON u.province = k.p AND u.step = k.s AND u.commune = k.c"""


class PostgresRunWriter(QueuedWriter):
    """The writer thread (see `QueuedWriter`) on its own connection; see the module notes for
    how each batch applies the change-only rule."""

    def __init__(self, store: PostgresStore, run_id: int, start: RunStart) -> None:
        super().__init__(run_id, start)
        self.store = store
        self._conn = store.connect()  # opened here so errors surface in the caller
        self._units: dict[UnitKey, int] = {}
        scope = (*start.scope_provinces, *start.scope_steps)
        where = (
            in_list("province", start.scope_provinces)
            + " AND "
            + in_list("step", start.scope_steps)
        )
        try:
            with store.translated():
                for unit, p, st, c in self._conn.execute(
                    to_pg(f"SELECT id, province, step, commune FROM units WHERE {where}"), scope
                ):
                    self._units[(p, st, c)] = unit
        except BaseException:
            self._conn.close()
            raise
        self._start()

    def _commit(self, batch: list[ProbeResultLike]) -> None:
        conn = self._conn
        keys = [unit_key(r) for r in batch]
        provinces = sorted({k[0] for k in keys})
        what = "results for province " + ", ".join(provinces)
        try:
            with conn.transaction():
                for province in provinces:
                    conn.execute(
                        "SELECT pg_advisory_xact_lock(%s, hashtext(%s))",
                        (LOCK_CLASS + LOCK_RESULTS, province),
                    )
                made = self._make_units(conn, [k for k in keys if k not in self._units])
                units = [self._units.get(k) or made[k] for k in keys]
                latest: dict[int, Latest] = {
                    row[0]: row[1:]
                    for row in conn.execute(LATEST_ROWS, (sorted(set(units)),)).fetchall()
                }
                rows, repeats, _ = plan_batch(self.run_id, batch, units, latest)
                if rows:
                    with conn.cursor() as cur:
                        cur.executemany(to_pg(INSERT_RESULT), rows)
        except psycopg.Error as exc:
            self.error = self.store.explain(exc, what, conn)
            return
        self._units.update(made)
        self._accepted(batch, keys, len(rows), repeats)

    @staticmethod
    def _make_units(conn: Connection, keys: list[UnitKey]) -> dict[UnitKey, int]:
        if not keys:
            return {}
        columns = [list(c) for c in zip(*keys, strict=True)]
        conn.execute(MAKE_UNITS, columns)
        return {(p, s, c): unit for unit, p, s, c in conn.execute(FIND_UNITS, columns)}

    def _close_run(self, values: tuple[object, ...], *, write_repeats: bool) -> None:
        conn = self._conn
        try:
            with conn.transaction():
                if write_repeats and self.repeats:
                    with conn.cursor() as cur:
                        cur.executemany(to_pg(COPY_REPEAT), self._repeat_rows())
                conn.execute(to_pg(CLOSE_RUN), values)
        except psycopg.Error as exc:
            raise self.store.explain(exc, "the run's end", conn) from None

    def _read_run(self) -> RunRecord:
        with self.store.translated():
            return run_record(self.store._rows(SELECT_RUN, (self.run_id,))[0])

    def _disconnect(self) -> None:
        self._conn.close()
