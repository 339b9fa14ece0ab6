"""Administering a PostgreSQL store: the schema (`cutover db init`) and the roles
(`cutover db grant-province`, `cutover db grant-reader`), run as the database owner.

Row-level security.  Every cutover table (runs, units, results, attestations, waivers, and
the ledgers of signed bundles, bundle_exports and bundle_imports) has row-level security
enabled *and forced*, so even the owner's own sessions go through the
policies.  A session's reach comes from `cutover_roles(role, province, writes)`, looked up by
`current_user`, which the client cannot choose for itself:

- a province role (`province = '31'`, `writes`) reads and inserts only rows whose `province`
  is 31; it reads the runs whose scope includes 31 (its own, and national runs that covered
  it, without which the rows they wrote about 31 would not join); the runs it writes must
  have `site = '31'` and `scope_provinces = '31'`, because a complete run confirms the
  unchanged units of its whole scope, and a run whose scope named another province would
  refresh that province's evidence; it ends each of its runs once;
- a row's `province` is its unit's (a foreign key on `(unit_id, province)`, checked past
  row-level security), and a province's results belong to one of its own open runs, so a
  row cannot be marked 31 and land in another province's cell or borrow another run's
  author;
- the national reader (`province = '*'`, not `writes`) reads every row and writes none (it is
  only granted SELECT as well);
- the owner gets a national entry when it creates the schema, so it can record waivers and
  run national checks; delete that entry and the owner sees nothing either.

Superusers bypass row-level security whatever the table says, so the owner should not be
one (`db init` says so), and no superuser can be made a province role.

`cutover_reach` is schema-qualified and has a fixed `search_path`, so a session cannot shadow
`cutover_roles` with a temporary table of its own.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from psycopg import sql

from cutover.errors import StoreError, UsageError
from cutover.store.postgres import (
    LOCK_CLASS,
    LOCK_ROLES,
    LOCK_SCHEMA,
    Connection,
    PostgresStore,
)
from cutover.store.schema import FIRST_PORTABLE, LATEST, MIGRATIONS, POSTGRES
from cutover.store.sql import BUNDLE_TABLES, TABLES

ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")
CELL_TABLES = ("units", "results", "attestations", "waivers")  # rows keyed by `province`
_READ = "(SELECT {s}.cutover_reach(false)) IN ('*', {column})"
_WRITE = "(SELECT {s}.cutover_reach(true)) IN ('*', province)"
_READ_RUN = (
    "(SELECT {s}.cutover_reach(false)) = '*'"
    " OR (SELECT {s}.cutover_reach(false)) = ANY (string_to_array(scope_provinces, ','))"
)
_WRITE_RUN = (
    "(SELECT {s}.cutover_reach(true)) = '*'"
    " OR (site = (SELECT {s}.cutover_reach(true)) AND scope_provinces = site)"
)
# A province's results must name one of its own runs that is still open: a run of another
# province (or a national one it can read) would lend the row its author, and a finished run
# has been judged complete or not already.
_WRITE_RESULT = (
    "(SELECT {s}.cutover_reach(true)) = '*'"
    " OR (province = (SELECT {s}.cutover_reach(true)) AND EXISTS (SELECT 1 FROM {s}.runs r"
    " WHERE r.id = run_id AND r.site = province AND r.scope_provinces = province"
    " AND r.finished_at IS NULL))"
)
# A province role ends its own runs once; a finished run is no longer its to change.
_FINISH_RUN = (
    "(SELECT {s}.cutover_reach(true)) = '*'"
    " OR (site = (SELECT {s}.cutover_reach(true)) AND scope_provinces = site"
    " AND finished_at IS NULL)"
)
RUN_END_COLUMNS = "finished_at, confirmed_at, duration_ms, complete, interrupted"

# version -> PostgreSQL-only statements applied after MIGRATIONS[version]; `{s}` is the
# quoted schema the tables live in.
SECURITY: dict[int, tuple[str, ...]] = {
    3: (
        """CREATE TABLE {s}.cutover_roles (
            role TEXT PRIMARY KEY,
            province TEXT NOT NULL,
            writes BOOLEAN NOT NULL
        )""",
        "ALTER TABLE {s}.cutover_roles ENABLE ROW LEVEL SECURITY",
        "CREATE POLICY own_entry ON {s}.cutover_roles FOR SELECT USING (role = current_user)",
        """CREATE FUNCTION {s}.cutover_reach(writing boolean) RETURNS text
            LANGUAGE sql STABLE SET search_path = {s}, pg_temp
            AS $$ SELECT province FROM {s}.cutover_roles
                  WHERE role = current_user AND (writes OR NOT writing) $$""",
        *(f"ALTER TABLE {{s}}.{t} ENABLE ROW LEVEL SECURITY" for t in TABLES),
        *(f"ALTER TABLE {{s}}.{t} FORCE ROW LEVEL SECURITY" for t in TABLES),
        *(
            f"CREATE POLICY cutover_read ON {{s}}.{t} FOR SELECT USING ({_READ})".replace(
                "{column}", "province"
            )
            for t in CELL_TABLES
        ),
        *(
            f"CREATE POLICY cutover_write ON {{s}}.{t} FOR INSERT WITH CHECK ({_WRITE})"
            for t in CELL_TABLES
        ),
        f"CREATE POLICY cutover_read ON {{s}}.runs FOR SELECT USING ({_READ_RUN})",
        f"CREATE POLICY cutover_write ON {{s}}.runs FOR INSERT WITH CHECK ({_WRITE_RUN})",
        f"CREATE POLICY cutover_finish ON {{s}}.runs FOR UPDATE USING ({_WRITE_RUN})"
        f" WITH CHECK ({_WRITE_RUN})",
    ),
    # The ledgers of signed bundles are keyed by `province` like the cells' tables: the
    # reader sees them all, a province role only its own province's and writes only those.
    4: (
        *(f"ALTER TABLE {{s}}.{t} ENABLE ROW LEVEL SECURITY" for t in BUNDLE_TABLES),
        *(f"ALTER TABLE {{s}}.{t} FORCE ROW LEVEL SECURITY" for t in BUNDLE_TABLES),
        *(
            f"CREATE POLICY cutover_read ON {{s}}.{t} FOR SELECT USING ({_READ})".replace(
                "{column}", "province"
            )
            for t in BUNDLE_TABLES
        ),
        *(
            f"CREATE POLICY cutover_write ON {{s}}.{t} FOR INSERT WITH CHECK ({_WRITE})"
            for t in BUNDLE_TABLES
        ),
    ),
    # The write policies check a row's copied `province`, and reads find rows through their
    # unit: without these a province role could write a row marked with its own province
    # but attached to another province's unit (or run), and forge that province's cell.
    # Foreign keys are checked past row-level security, so the unit's true province counts.
    5: (
        "ALTER TABLE {s}.units ADD CONSTRAINT units_id_province UNIQUE (id, province)",
        *(
            f"ALTER TABLE {{s}}.{t} ADD CONSTRAINT {t}_unit_province FOREIGN KEY"
            " (unit_id, province) REFERENCES {s}.units (id, province)"
            for t in ("results", "attestations")
        ),
        "DROP POLICY cutover_write ON {s}.results",
        f"CREATE POLICY cutover_write ON {{s}}.results FOR INSERT WITH CHECK ({_WRITE_RESULT})",
        "DROP POLICY cutover_finish ON {s}.runs",
        f"CREATE POLICY cutover_finish ON {{s}}.runs FOR UPDATE USING ({_FINISH_RUN})"
        f" WITH CHECK ({_WRITE_RUN})",
    ),
}


def _schema(conn: Connection) -> str:
    row = conn.execute("SELECT quote_ident(current_schema())").fetchone()
    if row is None or row[0] is None:
        raise StoreError("no schema to create the tables in (the search_path is empty)")
    return str(row[0])


def init(store: PostgresStore) -> list[str]:
    """Create or migrate the schema; idempotent, and safe when several sites run it at once
    (an advisory lock serialises them; the later ones find it up to date)."""
    conn = store.conn
    with store.translated("the schema"), conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_CLASS, LOCK_SCHEMA))
        version = store.schema_version() or 0
        if version > LATEST:
            raise StoreError(
                f"store {store.location} has schema version {version}, newer than this "
                f"cutover understands ({LATEST}); upgrade cutover"
            )
        if version == LATEST:
            state = "up to date"
        else:
            _migrate(conn, version)
            state = "created" if version == 0 else f"migrated from version {version}"
        role, superuser = conn.execute(
            "SELECT current_user, rolsuper FROM pg_roles WHERE rolname = current_user"
        ).fetchone() or ("?", False)
    lines = [f"store {store.location} (postgresql): schema version {LATEST}, {state}"]
    if superuser:
        lines.append(
            f"note: role {role} is a superuser, so row-level security does not apply to its "
            "own sessions; province and reader roles are restricted all the same"
        )
    return lines


def _migrate(conn: Connection, version: int) -> None:
    s = _schema(conn)
    if version == 0:
        conn.execute(f"CREATE TABLE {s}.cutover_schema (version INTEGER NOT NULL)")
    for number in range(max(version, FIRST_PORTABLE - 1) + 1, LATEST + 1):
        for statement in MIGRATIONS[number]:
            conn.execute(POSTGRES.fill(statement))
        for statement in SECURITY.get(number, ()):
            conn.execute(statement.replace("{s}", s))
    conn.execute(f"DELETE FROM {s}.cutover_schema")
    conn.execute(f"INSERT INTO {s}.cutover_schema (version) VALUES (%s)", (LATEST,))
    conn.execute(
        f"INSERT INTO {s}.cutover_roles (role, province, writes) VALUES (current_user, '*', true)"
        " ON CONFLICT (role) DO NOTHING"
    )


@dataclass(frozen=True)
class Grant:
    role: str
    province: str  # a province code, or "*" for national
    writes: bool
    password: str | None  # None: leave it as it is (or none, for a new role)

    def describe(self) -> str:
        if self.province == "*":
            return "may read every province's rows and write none"
        return f"may read and write province {self.province}'s rows only"


def grant(store: PostgresStore, wanted: Grant) -> str:
    """Create or update a login role and its reach, in one transaction."""
    if not ROLE_NAME.match(wanted.role):
        raise UsageError(
            f"role name {wanted.role!r}: use lower-case letters, digits and _ (at most 63), "
            "starting with a letter or _"
        )
    conn = store.conn
    with store.translated(f"role {wanted.role}"), conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (LOCK_CLASS, LOCK_ROLES))
        if store.schema_version() is None:
            raise StoreError(f"store {store.location} has no cutover schema; run `cutover db init`")
        _must_own_tables(conn)
        state = _login_role(conn, wanted)
        _privileges(conn, wanted)
    if wanted.password is not None:
        password = "password set"
    else:
        password = "password unchanged" if state == "updated" else "no password set"
    return f"role {wanted.role}: {state}; {wanted.describe()} ({password})"


def _must_own_tables(conn: Connection) -> None:
    row = conn.execute(
        """SELECT current_user, t.tableowner, pg_has_role(current_user, t.tableowner, 'USAGE')
           FROM pg_tables t WHERE t.schemaname = current_schema() AND t.tablename = 'runs'"""
    ).fetchone()
    if row is None:
        raise StoreError("the cutover tables are not in the current schema")
    me, owner, owns = row
    if not owns:
        raise StoreError(f"only the tables' owner ({owner}) can grant roles; connected as {me}")


def _login_role(conn: Connection, wanted: Grant) -> str:
    (me,) = conn.execute("SELECT current_user").fetchone() or ("",)
    if wanted.role == me:
        raise UsageError(f"role {wanted.role} is the one connected; grant another role")
    found = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = %s", (wanted.role,))
    row = found.fetchone()
    if row is not None and row[0]:
        raise UsageError(
            f"role {wanted.role} is a superuser: row-level security cannot restrict it"
        )
    statement = "ALTER ROLE {} LOGIN" if row is not None else "CREATE ROLE {} LOGIN"
    query = sql.SQL(statement).format(sql.Identifier(wanted.role))
    if wanted.password is not None:
        # Sent already hashed (SCRAM), so the clear text never reaches the server's logs.
        hashed = conn.pgconn.encrypt_password(
            wanted.password.encode(), wanted.role.encode(), b"scram-sha-256"
        )
        query = sql.SQL("{} PASSWORD {}").format(query, sql.Literal(hashed.decode()))
    conn.execute(query)
    return "updated" if row is not None else "created"


def _privileges(conn: Connection, wanted: Grant) -> None:
    role = sql.Identifier(wanted.role)
    tables = sql.SQL(", ").join(sql.Identifier(t) for t in (*TABLES, *BUNDLE_TABLES))
    meta = sql.SQL("cutover_roles, cutover_schema")
    conn.execute(sql.SQL("REVOKE ALL ON {}, {} FROM {}").format(tables, meta, role))
    conn.execute(
        sql.SQL("GRANT CONNECT ON DATABASE {} TO {}").format(sql.Identifier(_database(conn)), role)
    )
    conn.execute(sql.SQL("GRANT SELECT ON {}, {} TO {}").format(tables, meta, role))
    if wanted.writes:
        conn.execute(sql.SQL("GRANT INSERT ON {} TO {}").format(tables, role))
        conn.execute(
            sql.SQL("GRANT UPDATE ({}) ON runs TO {}").format(sql.SQL(RUN_END_COLUMNS), role)
        )
    conn.execute(
        """INSERT INTO cutover_roles (role, province, writes) VALUES (%s, %s, %s)
           ON CONFLICT (role) DO UPDATE SET province = EXCLUDED.province,
                                            writes = EXCLUDED.writes""",
        (wanted.role, wanted.province, wanted.writes),
    )


def _database(conn: Connection) -> str:
    row = conn.execute("SELECT current_database()").fetchone()
    assert row is not None
    return str(row[0])
