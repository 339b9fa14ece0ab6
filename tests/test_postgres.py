"""The PostgreSQL store against a real server: the schema and roles, row-level security as
the database enforces it, and every failure as one line without the password."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pg_server import Database, PgServer, need_psycopg, start_server
from store_helpers import record_run

from cutover.errors import StoreError
from cutover.store import admin
from cutover.store.base import AttestationRecord, Store, WaiverRecord, open_store
from cutover.store.schema import LATEST

need_psycopg()  # skips this module without psycopg (fails in CI)
import psycopg  # noqa: E402

T0 = datetime(2025, 6, 27, 8, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
PROBE = "portal-closure"
MANUAL = "commune-plans"


@dataclass
class Sites:
    """A database with its schema, two province roles (31, 01) and the national reader."""

    db: Database
    passwords: dict[str, str]

    def url(self, who: str) -> str:
        return (
            self.db.url if who == "owner" else self.db.role_url(self.role(who), self.passwords[who])
        )

    def role(self, who: str) -> str:
        return self.db.owner if who == "owner" else self.db.role(who)

    def open(self, who: str) -> Store:
        return open_store(self.url(who), environ={})


@pytest.fixture
def sites(pg_db: Database) -> Sites:
    admin.init(pg_db.url, {})
    passwords = {"p31": "pw-31-secret", "p01": "pw-01-secret", "reader": "pw-reader-secret"}
    admin.grant(pg_db.url, {}, pg_db.role("p31"), "31", passwords["p31"])
    admin.grant(pg_db.url, {}, pg_db.role("p01"), "01", passwords["p01"])
    admin.grant(pg_db.url, {}, pg_db.role("reader"), None, passwords["reader"])
    return Sites(pg_db, passwords)


def _counts(store: Store) -> dict[str, int]:
    return dict(store.describe().counts)


# --- schema and roles ----------------------------------------------------------------------


def test_init_is_idempotent_and_safe_when_sites_run_it_at_once(pg_db: Database, cli) -> None:  # type: ignore[no-untyped-def]
    lines: list[str] = []
    threads = [
        threading.Thread(target=lambda: lines.extend(admin.init(pg_db.url, {}))) for _ in range(4)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    where = f"postgresql://{pg_db.owner}@127.0.0.1:{pg_db.server.port}/{pg_db.name}"
    assert sorted(lines) == [
        f"store {where} (postgresql): schema version {LATEST}, created",
        *[f"store {where} (postgresql): schema version {LATEST}, up to date"] * 3,
    ]
    again = cli("db", "init", "--db", pg_db.url)
    assert (again.code, again.lines) == (
        0,
        [f"store {where} (postgresql): schema version {LATEST}, up to date"],
    )
    with pg_db.super_connect() as conn:
        assert conn.execute("SELECT version FROM cutover_schema").fetchall() == [(LATEST,)]
        forced = conn.execute(
            "SELECT relname FROM pg_class WHERE relforcerowsecurity ORDER BY relname"
        ).fetchall()
    assert [r[0] for r in forced] == [
        "attestations", "bundle_exports", "bundle_imports", "results", "runs", "units", "waivers"
    ]  # fmt: skip
    info = cli("db", "--db", pg_db.url, "--check")
    assert info.code == 0, info.err
    assert info.lines[:3] == [
        f"store: {where} (postgresql)",
        f"schema version: {LATEST}",
        f"role: {pg_db.owner} (national)",
    ]
    assert info.lines[-1] == "integrity: ok"
    assert pg_db.password not in info.out + info.err


def test_grant_commands(cli, pg_db: Database, tmp_path: Path, elsewhere: Path) -> None:  # type: ignore[no-untyped-def]
    assert cli("db", "init", "--db", pg_db.url).code == 0
    secret = tmp_path / "pw"
    secret.write_text("s3cret-31\nignored\n", encoding="utf-8")
    role = pg_db.role("hp")
    made = cli("db", "grant-province", role, "--province", "hai-phong", "--password-file",
               str(secret), "--db", pg_db.url)  # fmt: skip
    assert (made.code, made.lines) == (
        0,
        [f"role {role}: created; may read and write province 31's rows only (password set)"],
    )
    moved = cli("db", "--db", pg_db.url, "grant-province", role, "-p", "Hà Nội")
    assert moved.lines == [
        f"role {role}: updated; may read and write province 01's rows only (password unchanged)"
    ]
    as_role = pg_db.role_url(role, "s3cret-31")
    assert cli("db", "--db", as_role).lines[2] == f"role: {role} (province 01 only)"
    reader = cli("db", "grant-reader", pg_db.role("gov"), "--db", pg_db.url)
    assert reader.lines == [
        f"role {pg_db.role('gov')}: created; may read every province's rows and write none "
        "(no password set)"
    ]
    bad_name = cli("db", "grant-reader", "Robert'); DROP TABLE runs;--", "--db", pg_db.url)
    assert bad_name.code == 2 and bad_name.err_lines[0].startswith(
        'cutover: error: role name "Robert\'); DROP TABLE runs;--": use lower-case letters'
    )
    superuser = cli("db", "grant-province", "pgsuper", "-p", "31", "--db", pg_db.url)
    assert (superuser.code, superuser.err_lines) == (
        2,
        ["cutover: error: role pgsuper is a superuser: row-level security cannot restrict it"],
    )
    sqlite = cli("db", "grant-reader", "gov", "--db", str(tmp_path / "s.db"))
    assert (sqlite.code, sqlite.err_lines) == (
        2,
        [
            "cutover: error: roles and row-level security exist only in a PostgreSQL store; "
            "give --db postgresql://… (or CUTOVER_DB)"
        ],
    )
    by_province = cli("db", "grant-reader", pg_db.role("x"), "--db", as_role)
    assert by_province.code == 3
    assert by_province.err_lines == [
        f"cutover: error: only the tables' owner ({pg_db.owner}) can grant roles; "
        f"connected as {role}"
    ]
    empty = tmp_path / "empty"
    empty.write_text("\n", encoding="utf-8")
    no_pw = cli("db", "grant-reader", pg_db.role("y"), "--password-file", str(empty),
                "--db", pg_db.url)  # fmt: skip
    assert (no_pw.code, no_pw.err_lines) == (
        2,
        [f"cutover: error: --password-file {empty}: the first line is empty"],
    )
    sqlite_init = cli("db", "init", "--db", str(tmp_path / "new.db"))
    assert sqlite_init.lines == [f"store {tmp_path / 'new.db'} (sqlite): schema version {LATEST}"]


# --- row-level security --------------------------------------------------------------------


def test_a_province_reads_and_writes_only_its_own_rows(sites: Sites) -> None:
    owner = sites.open("owner")
    record_run(owner, T0, {("31", PROBE, ""): "pass", ("01", PROBE, ""): "fail"})
    owner.add_attestation(AttestationRecord("01", MANUAL, "", "pass", "A", T0))
    owner.add_waiver(WaiverRecord("01", PROBE, "bank", "VPCP", T0 + 9 * HOUR, T0))
    p31 = sites.open("p31")
    mine = record_run(p31, T0 + HOUR, {("31", PROBE, ""): "fail"}, site="31")
    p31.add_attestation(AttestationRecord("31", MANUAL, "", "pass", "B", T0 + HOUR, site="31"))
    p31.add_waiver(WaiverRecord("31", PROBE, "contract", "VPCP", T0 + 9 * HOUR, T0 + HOUR))
    before = _counts(owner)
    assert before == {"runs": 2, "units": 4, "results": 3, "attestations": 2, "waivers": 2}

    # Reading: the other province's rows are simply not there.
    raw = p31.raw_evidence(["31", "01"], [PROBE, MANUAL], T0, T0 + 2 * HOUR)
    assert set(raw.probes) | set(raw.attestations) == {("31", PROBE, ""), ("31", MANUAL, "")}
    assert set(raw.waivers) == {("31", PROBE)}
    assert [(r.outcome, r.at) for r in raw.probes[("31", PROBE, "")]] == [
        ("pass", T0),  # written by the national run, about province 31
        ("fail", T0 + HOUR),
    ]
    # Its own run and the national one that covered 31 (without which the national run's
    # rows about 31 would not join).
    assert _counts(p31) == {"runs": 2, "units": 2, "results": 2, "attestations": 1, "waivers": 1}
    assert {e.province for e in p31.timeline(None, None)} == {"31"}
    assert p31.runs()[0] == mine
    assert p31.last_heard(["31"], T0 + 2 * HOUR) == {"31": T0 + HOUR}

    # Writing another province's rows: refused by PostgreSQL, nothing of the batch written.
    units = (
        r"^PostgreSQL refused to write results for province 01, 31 as role \w+ \(province 31 "
        r"only\): new row violates row-level security policy for table \"units\"; nothing of "
        r"it was written$"
    )
    with pytest.raises(StoreError, match=units):
        record_run(p31, T0 + 2 * HOUR, {("31", MANUAL, "x"): "pass", ("01", PROBE, "y"): "pass"},
                   site="31", scope=("31",))  # fmt: skip
    # (the unit exists, but a province role cannot see it, so it is refused making it anew)
    with pytest.raises(StoreError, match=r"^PostgreSQL refused to write results for province 01 "):
        record_run(p31, T0 + 2 * HOUR, {("01", PROBE, ""): "pass"}, site="31", scope=("31",))
    with pytest.raises(StoreError, match="refused to write an attestation for province 01"):
        p31.add_attestation(AttestationRecord("01", MANUAL, "", "fail", "B", T0 + 2 * HOUR))
    with pytest.raises(StoreError, match="refused to write a waiver for province 01"):
        p31.add_waiver(WaiverRecord("01", PROBE, "r", "a", T0 + 9 * HOUR, T0 + 2 * HOUR))
    run = (
        r"refused to write the run as role \w+ \(province 31 only; its runs need "
        r"CUTOVER_SITE=31 and cover province 31 only\)"
    )
    with pytest.raises(StoreError, match=run):
        record_run(p31, T0 + 2 * HOUR, {("31", PROBE, ""): "pass"}, site="31", scope=("31", "01"))
    with pytest.raises(StoreError, match="refused to write the run"):
        record_run(p31, T0 + 2 * HOUR, {("31", PROBE, ""): "pass"}, site="hanoi")

    # The refused batches left one run row each that the database did accept (site 31, scope
    # 31; never finished) and nothing else.
    after = before | {"runs": 4}
    assert _counts(owner) == after
    # The national reader sees everything and writes nothing.
    reader = sites.open("reader")
    assert _counts(reader) == after
    with pytest.raises(StoreError, match=r"\(national, read-only\): permission denied for table"):
        reader.add_waiver(WaiverRecord("31", PROBE, "r", "a", T0 + 9 * HOUR, T0 + 2 * HOUR))
    assert _counts(owner) == after
    for store in (owner, p31, reader):
        store.close()


def test_a_row_whose_run_a_province_cannot_read_is_left_out(sites: Sites) -> None:
    """A national run whose scope leaves province 31 out but that holds a row about 31 (the
    row visible to 31, the run not): that row is left out of 31's evidence, as a join to its
    run would leave it, rather than failing the read."""
    owner = sites.open("owner")
    key = ("31", PROBE, "")
    record_run(owner, T0, {key: "pass"})
    record_run(owner, T0 + HOUR, {key: "fail"}, scope=("01",))
    p31 = sites.open("p31")
    raw = p31.raw_evidence(["31"], [PROBE], T0, T0 + 2 * HOUR)
    assert [(r.outcome, r.at, r.by) for r in raw.probes[key]] == [("pass", T0, "u@h")]
    national = owner.raw_evidence(["31"], [PROBE], T0, T0 + 2 * HOUR)
    assert [r.outcome for r in national.probes[key]] == ["pass", "fail"]
    for store in (owner, p31):
        store.close()


def test_the_database_refuses_whatever_the_client_does(sites: Sites) -> None:
    """Straight SQL as a province role, past the tool: other provinces' rows cannot be
    written, changed, deleted or seen, and a temporary table cannot stand in for the role
    map."""
    owner = sites.open("owner")
    record_run(owner, T0, {("01", PROBE, ""): "pass"})
    national = record_run(owner, T0, {("01", MANUAL, ""): "pass"}, scope=("01", "31"))
    p31 = sites.open("p31")
    record_run(p31, T0, {("31", PROBE, ""): "pass"}, site="31")
    p31.close()
    owner.close()
    with psycopg.connect(sites.url("owner"), autocommit=True) as conn:
        hanoi_unit = conn.execute(
            "SELECT id FROM units WHERE province = '01' AND step = %s", (PROBE,)
        ).fetchone()
    assert hanoi_unit is not None
    refused = (psycopg.errors.InsufficientPrivilege, psycopg.errors.CheckViolation)
    with psycopg.connect(sites.url("p31"), autocommit=True) as conn:

        def refuses(statement: str) -> str:
            with pytest.raises(refused) as caught:
                conn.execute(statement)  # type: ignore[call-overload]
            return str(caught.value)

        assert conn.execute("SELECT DISTINCT province FROM results").fetchall() == [("31",)]
        runs = conn.execute("SELECT id, site FROM runs ORDER BY id").fetchall()
        assert [site for _, site in runs] == ["site", "31"]  # the national one covered 31
        unit_31 = conn.execute("SELECT id FROM units").fetchone()[0]  # type: ignore[index]
        run_31 = runs[1][0]
        assert "row-level security" in refuses(
            "INSERT INTO results (run_id, unit_id, province, outcome, reason, at)"
            f" VALUES ({run_31}, {unit_31}, '01', 'pass', '', 1)"
        )
        assert "row-level security" in refuses(
            "INSERT INTO units (province, step, commune) VALUES ('01', 'x', '')"
        )
        assert "permission denied" in refuses(f"UPDATE runs SET site = '01' WHERE id = {run_31}")
        # Its finished run is no longer its to change, and the national run it can see never was.
        for run_id in (run_31, national.id):
            forged = conn.execute(  # type: ignore[call-overload]
                f"UPDATE runs SET confirmed_at = 9999999999999999 WHERE id = {run_id}"
            )
            assert forged.rowcount == 0
        # A run it opens itself, it may write rows into and end, once.
        (open_31,) = conn.execute(  # type: ignore[misc]
            "INSERT INTO runs (uid, site, run_by, host, command, checklist_id, checklist_digest,"
            " checklist_source, scope_provinces, scope_steps, expected_results, started_at)"
            " VALUES ('open31', '31', 'u', 'h', 'c', 'k', 'd', 's', '31', 'x', 1, 2) RETURNING id"
        ).fetchone()
        conn.execute(
            "INSERT INTO results (run_id, unit_id, province, outcome, reason, at)"  # type: ignore[call-overload]
            f" VALUES ({open_31}, {unit_31}, '31', 'pass', '', 3)"
        )
        # A row marked 31 but attached to province 01's unit (which 31 cannot even see): the
        # reads find rows by unit, so this would forge Hanoi's cell.  Refused by the database.
        (unit_01,) = hanoi_unit
        for statement in (
            "INSERT INTO results (run_id, unit_id, province, outcome, reason, at)"
            f" VALUES ({open_31}, {unit_01}, '31', 'fail', 'forged by p31', 9)",
            "INSERT INTO attestations (uid, site, unit_id, province, outcome, attested_by,"
            f" evidence_url, at) VALUES ('f1', '31', {unit_01}, '31', 'fail', 'p', 'https://x', 9)",
        ):
            with pytest.raises(psycopg.errors.ForeignKeyViolation):
                conn.execute(statement)  # type: ignore[call-overload]
        ended = conn.execute(  # type: ignore[call-overload]
            f"UPDATE runs SET finished_at = 4, complete = 1 WHERE id = {open_31}"
        )
        assert ended.rowcount == 1
        again = conn.execute(f"UPDATE runs SET confirmed_at = 5 WHERE id = {open_31}")  # type: ignore[call-overload]
        assert again.rowcount == 0
        # Its own unit, but another run: the national run it can read, or its finished one.
        for run_id in (national.id, run_31):
            assert "row-level security" in refuses(
                "INSERT INTO results (run_id, unit_id, province, outcome, reason, at)"
                f" VALUES ({run_id}, {unit_31}, '31', 'fail', 'borrowed run', 9)"
            )
        assert "permission denied" in refuses("UPDATE results SET province = '01'")
        assert "permission denied" in refuses("DELETE FROM results")
        assert "must be owner" in refuses("ALTER TABLE results DISABLE ROW LEVEL SECURITY")
        assert "permission denied" in refuses(f"SET ROLE {sites.role('owner')}")
        # A temporary table named like the role map changes nothing.
        conn.execute("CREATE TEMP TABLE cutover_roles (role text, province text, writes bool)")
        conn.execute("INSERT INTO cutover_roles VALUES (current_user, '*', true)")
        assert "row-level security" in refuses(
            "INSERT INTO waivers (uid, site, province, step, reason, approver, until_at, at)"
            " VALUES ('u', '31', '01', 's', 'r', 'a', 2, 1)"
        )
        assert conn.execute("SELECT DISTINCT province FROM results").fetchall() == [("31",)]


def test_forced_security_checks_the_owner_too(sites: Sites, cli) -> None:  # type: ignore[no-untyped-def]
    owner = sites.open("owner")
    record_run(owner, T0, {("31", PROBE, ""): "pass"})
    assert owner.integrity() == []
    with sites.db.super_connect() as su:
        su.execute("DELETE FROM cutover_roles WHERE role = %s", (sites.role("owner"),))
    # The tables' owner, without an entry, now reads nothing and writes nothing.
    assert _counts(owner)["results"] == 0
    with pytest.raises(StoreError, match="not in cutover_roles: it may read and write nothing"):
        owner.add_attestation(AttestationRecord("31", MANUAL, "", "pass", "A", T0))
    owner.close()
    with sites.db.super_connect() as su:
        su.execute("ALTER TABLE results NO FORCE ROW LEVEL SECURITY")
    checked = cli("db", "--db", sites.url("reader"), "--check")
    assert checked.code == 3
    assert checked.lines[-1] == "integrity: table results does not force row-level security"
    with sites.db.super_connect() as su:
        su.execute("ALTER TABLE results FORCE ROW LEVEL SECURITY")
        su.execute("ALTER TABLE attestations DROP CONSTRAINT attestations_unit_province")
    checked = cli("db", "--db", sites.url("reader"), "--check")
    assert checked.code == 3
    assert checked.lines[-1] == (
        "integrity: table attestations lacks attestations_unit_province: a row's province may "
        "not be its unit's"
    )


# --- failures: one line, exit 3, never the password ----------------------------------------


def test_connection_failures_are_one_line_without_the_password(
    cli, sites: Sites, pg_server: PgServer, elsewhere: Path
) -> None:  # type: ignore[no-untyped-def]
    port, name, role = pg_server.port, sites.db.name, sites.role("p31")
    password = sites.passwords["p31"]
    where = f"postgresql://{role}@127.0.0.1:{port}/{name}"
    cases = {
        sites.url("p31").replace(password, "wrong-" + password): (
            f'cannot log in to {where}: password authentication failed for user "{role}"'
        ),
        sites.url("p31").rsplit("/", 1)[0] + "/nodb": (
            f"cannot open store postgresql://{role}@127.0.0.1:{port}/nodb: "
            'database "nodb" does not exist'
        ),
        sites.url("p31").replace(f":{port}/", f":{_closed_port()}/"): "cannot connect to ",
    }
    for url, expected in cases.items():
        result = cli("matrix", "-p", "31", "--db", url)
        assert result.code == 3, result.err
        assert len(result.err_lines) == 1 and result.out == ""
        assert result.err_lines[0].startswith(f"cutover: error: {expected}")
        assert password not in result.err
    in_query = cli("matrix", "--db", f"postgresql://{role}@127.0.0.1:{port}/{name}"
                   f"?password=wrong-{password}&connect_timeout=5")  # fmt: skip
    assert in_query.code == 3 and len(in_query.err_lines) == 1
    assert in_query.err_lines[0].startswith(
        f"cutover: error: cannot log in to postgresql://{role}@127.0.0.1:{port}/{name}"
        "?password=***&connect_timeout=***: password authentication failed"
    )
    assert password not in in_query.err
    stranger = sites.db.role("stranger")
    with sites.db.super_connect() as su:
        su.execute(f"CREATE ROLE {stranger} LOGIN PASSWORD 'pw-stranger'")  # type: ignore[arg-type]
    ungranted = cli("matrix", "--db", sites.db.role_url(stranger, "pw-stranger"))
    assert (ungranted.code, ungranted.err_lines) == (
        3,
        [
            f"cutover: error: role {stranger} may not use store postgresql://{stranger}@"
            f"127.0.0.1:{port}/{name}; the owner grants it with `cutover db grant-province` or "
            "`cutover db grant-reader`"
        ],
    )
    refused = result.err_lines[0]
    assert re.fullmatch(r"cutover: error: cannot connect to postgresql://\w+@127\.0\.0\.1:\d+/\w+:"
                        r" Connection refused", refused), refused  # fmt: skip


def _closed_port() -> int:
    from pg_server import free_port

    return free_port()  # bound and released: nothing listens there


def test_schema_missing_or_newer_is_refused(cli, pg_db: Database, elsewhere: Path) -> None:  # type: ignore[no-untyped-def]
    where = f"postgresql://{pg_db.owner}@127.0.0.1:{pg_db.server.port}/{pg_db.name}"
    missing = cli("matrix", "--db", pg_db.url)
    assert (missing.code, missing.err_lines) == (
        3,
        [
            f"cutover: error: store {where} has no cutover schema; "
            "run `cutover db init` as the database owner"
        ],
    )
    admin.init(pg_db.url, {})
    with pg_db.super_connect() as su:
        su.execute("UPDATE cutover_schema SET version = 9")
    newer = cli("check", "-p", "31", "--db", pg_db.url)
    assert (newer.code, newer.err_lines) == (
        3,
        [
            f"cutover: error: store {where} has schema version 9, newer than this cutover "
            f"understands ({LATEST}); upgrade cutover"
        ],
    )
    assert cli("db", "init", "--db", pg_db.url).err_lines == newer.err_lines


def test_without_psycopg_a_usage_error(
    cli, monkeypatch: pytest.MonkeyPatch, elsewhere: Path
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setitem(sys.modules, "psycopg", None)  # import psycopg -> ImportError
    result = cli("matrix", "--db", "postgresql://u:secret@127.0.0.1:1/db")
    assert (result.code, result.err_lines) == (
        2,
        ["cutover: error: a postgresql:// store needs psycopg: pip install 'cutover[postgres]'"],
    )


def test_a_server_that_goes_away_mid_run_keeps_what_was_committed(
    make_sim, overlay_file, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    """A server of its own, stopped while a national check is writing (batches of 500): one
    line, exit 3; started again, it has every batch committed before it went."""
    server = start_server()  # a second server, for this test alone
    try:
        db = server.new_database()
        admin.init(db.url, {})
        sim = make_sim(faults=[{"path": "^/national/api/communes/", "kind": "latency", "ms": 20}])
        proc = subprocess.Popen(
            [sys.executable, "-m", "cutover", "check", "--all", "--tag", "telegram-2025-06-28",
             "--endpoints", str(overlay_file(sim.base_url)), "--jobs", "16", "--db", db.url],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=_env(),
        )  # fmt: skip
        committed = _wait_for_rows(db, lambda n: n >= 500)
        assert proc.poll() is None, "the run finished before the server could be stopped"
        server.stop()
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 3, err
        lines = err.strip().splitlines()
        assert len(lines) == 1, lines
        assert re.fullmatch(
            rf"cutover: error: lost the connection to postgresql://{db.owner}@127\.0\.0\.1:"
            rf"{server.port}/{db.name} \(.+\); what was committed stays",
            lines[0],
        ), lines[0]
        assert db.password not in err
        server.start()
        with db.super_connect() as su:
            kept = su.execute("SELECT COUNT(*) FROM results").fetchone()[0]  # type: ignore[index]
            finished = su.execute("SELECT finished_at, command FROM runs").fetchall()
        assert committed <= kept < 3559
        assert [row[0] for row in finished] == [None]
        assert "--db postgresql://127.0.0.1:" in finished[0][1]  # stored without user-info
        assert db.password not in finished[0][1]
    finally:
        server.remove()


def _env() -> dict[str, str]:
    import os

    return {**os.environ, "NO_COLOR": "1"}


def _wait_for_rows(db: Database, enough: Callable[[int], bool], timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    count = 0
    while time.monotonic() < deadline:
        with db.super_connect() as su:
            count = su.execute("SELECT COUNT(*) FROM results").fetchone()[0]  # type: ignore[index]
        if enough(count):
            return int(count)
        time.sleep(0.1)
    raise AssertionError(f"only {count} results were committed in {timeout} s")


def test_an_unavailable_server_fails_in_ci_and_skips_elsewhere(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from pg_server import unavailable

    monkeypatch.setenv("CUTOVER_REQUIRE_POSTGRES", "1")  # as scripts/check sets it
    with pytest.raises(pytest.fail.Exception, match=r"PostgreSQL is required .* but no initdb"):
        unavailable("no initdb")
    monkeypatch.delenv("CUTOVER_REQUIRE_POSTGRES")
    with pytest.raises(pytest.skip.Exception, match="PostgreSQL not available: no initdb"):
        unavailable("no initdb")
